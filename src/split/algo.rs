//! The split algorithms: pure functions of their input set and seed.

use super::{invalid, Algorithm, Result, Split, SplitError, SplitItem};
use crate::record::{HopRecord, SourcePartition};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet};

/// Options of [`stratified`]; `Default` gives the paper's values and seed 0.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StratifiedOptions {
    /// Fraction of all items wanted in the test set, in (0, 1).
    pub test_fraction: f64,
    /// Groups whose share of the data is in `[one_hop_band.0, one_hop_band.1)` get exactly one
    /// test hop.
    pub one_hop_band: (f64, f64),
    /// Groups whose share is below this get no test hop.
    pub exclude_below: f64,
    /// Seed of the random generator.
    pub seed: u64,
}

impl Default for StratifiedOptions {
    fn default() -> Self {
        StratifiedOptions { test_fraction: 0.10, one_hop_band: (0.01, 0.02), exclude_below: 0.01, seed: 0 }
    }
}

/// How [`stratified`] treats a group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupRule {
    /// Share below `exclude_below`: no test hop.
    Excluded,
    /// Share within the one-hop band: exactly one test hop.
    OneHop,
    /// Test hops in proportion to the group's size (quasi-weighted).
    Proportional,
}

impl GroupRule {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupRule::Excluded => "excluded",
            GroupRule::OneHop => "one-hop",
            GroupRule::Proportional => "proportional",
        }
    }
}

/// The test allocation of one group in a stratified split.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupPlan {
    /// The group (stratum).
    pub group: String,
    /// Number of items in the group.
    pub n: usize,
    /// Share of all items, `n / N`.
    pub share: f64,
    /// Which rule applies.
    pub rule: GroupRule,
    /// Proportional quota `test_fraction * n`.
    pub quota: f64,
    /// Test hops allocated.
    pub test: usize,
}

/// A value written into split parameters: Rust's shortest round-trip text of a float.
fn num(x: f64) -> String {
    format!("{x}")
}

fn check_fraction(f: f64, what: &str) -> Result<()> {
    if !(f.is_finite() && f > 0.0 && f < 1.0) {
        return invalid(format!("{what} must be between 0 and 1 (exclusive), got {f}"));
    }
    Ok(())
}

/// Items sorted by id, checked: not empty, no empty or repeated id.
fn sorted_items(items: &[SplitItem]) -> Result<Vec<&SplitItem>> {
    if items.is_empty() {
        return invalid("nothing to split: no items");
    }
    let mut v: Vec<&SplitItem> = items.iter().collect();
    v.sort_by(|a, b| a.id.cmp(&b.id));
    for w in v.windows(2) {
        if w[0].id == w[1].id {
            return invalid(format!("id '{}' appears twice in the input", w[0].id));
        }
    }
    if v[0].id.is_empty() {
        return invalid("an item has an empty id");
    }
    Ok(v)
}

/// Ids sorted, checked like [`sorted_items`].
fn sorted_ids(ids: &[String], what: &str) -> Result<Vec<String>> {
    if ids.is_empty() {
        return invalid(format!("nothing to split: no {what} ids"));
    }
    let mut v = ids.to_vec();
    v.sort();
    for w in v.windows(2) {
        if w[0] == w[1] {
            return invalid(format!("id '{}' appears twice in the {what} ids", w[0]));
        }
    }
    if v[0].is_empty() {
        return invalid(format!("an empty id in the {what} ids"));
    }
    Ok(v)
}

/// `round(f * n)` clamped to `[1, n - 1]` (n >= 2).
fn holdout_count(f: f64, n: usize) -> usize {
    ((f * n as f64).round() as usize).clamp(1, n - 1)
}

fn params(kv: &[(&str, String)]) -> BTreeMap<String, String> {
    kv.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}

/// The per-group test allocation of [`stratified`] (rules in the module doc), groups in
/// ascending name order. Errors on empty input, repeated ids, a test fraction outside (0, 1)
/// or inconsistent thresholds (`0 <= exclude_below <= one_hop_band.0 <= one_hop_band.1 <= 1`
/// must hold).
pub fn stratified_plan(items: &[SplitItem], opts: &StratifiedOptions) -> Result<Vec<GroupPlan>> {
    check_fraction(opts.test_fraction, "test fraction")?;
    let (e, (b0, b1)) = (opts.exclude_below, opts.one_hop_band);
    let finite = [e, b0, b1].iter().all(|x| x.is_finite());
    if !(finite && 0.0 <= e && e <= b0 && b0 <= b1 && b1 <= 1.0) {
        return invalid(format!(
            "inconsistent stratification thresholds: need 0 <= exclude_below ({e}) <= one-hop band start ({b0}) <= one-hop band end ({b1}) <= 1"
        ));
    }
    let items = sorted_items(items)?;
    let total = items.len();
    let f = opts.test_fraction;
    let mut sizes: BTreeMap<&str, usize> = BTreeMap::new();
    for it in &items {
        *sizes.entry(it.group.as_str()).or_insert(0) += 1;
    }
    let mut plans: Vec<GroupPlan> = sizes
        .into_iter()
        .map(|(g, n)| {
            let share = n as f64 / total as f64;
            let rule = if share < e {
                GroupRule::Excluded
            } else if share >= b0 && share < b1 {
                GroupRule::OneHop
            } else {
                GroupRule::Proportional
            };
            let quota = f * n as f64;
            let cap = n - 1;
            let test = match rule {
                GroupRule::Excluded => 0,
                GroupRule::OneHop => 1.min(cap),
                GroupRule::Proportional => (quota.round() as usize).min(cap),
            };
            GroupPlan { group: g.to_string(), n, share, rule, quota, test }
        })
        .collect();
    let want = (f * total as f64).round() as i64;
    let have: i64 = plans.iter().map(|p| p.test as i64).sum();
    let diff = want - have;
    if diff > 0 {
        let mut cand: Vec<usize> = (0..plans.len())
            .filter(|&i| {
                let p = &plans[i];
                p.rule == GroupRule::Proportional && p.test as f64 <= p.quota && p.test + 1 < p.n
            })
            .collect();
        cand.sort_by(|&a, &b| {
            let (pa, pb) = (&plans[a], &plans[b]);
            let (ra, rb) = (pa.quota - pa.test as f64, pb.quota - pb.test as f64);
            rb.total_cmp(&ra).then(pb.n.cmp(&pa.n)).then(pa.group.cmp(&pb.group))
        });
        for &i in cand.iter().take(diff as usize) {
            plans[i].test += 1;
        }
    } else if diff < 0 {
        let mut cand: Vec<usize> = (0..plans.len())
            .filter(|&i| {
                let p = &plans[i];
                p.rule == GroupRule::Proportional && p.test as f64 >= p.quota && p.test >= 1
            })
            .collect();
        cand.sort_by(|&a, &b| {
            let (pa, pb) = (&plans[a], &plans[b]);
            let (xa, xb) = (pa.test as f64 - pa.quota, pb.test as f64 - pb.quota);
            xb.total_cmp(&xa).then(pa.n.cmp(&pb.n)).then(pa.group.cmp(&pb.group))
        });
        for &i in cand.iter().take((-diff) as usize) {
            plans[i].test -= 1;
        }
    }
    Ok(plans)
}

/// The paper's group-stratified train/test split (rules in the module doc): partitions
/// `train` and `test`, parameters `test_fraction`, `exclude_below`, `one_hop_min`,
/// `one_hop_max`. Errors as [`stratified_plan`].
pub fn stratified(items: &[SplitItem], opts: &StratifiedOptions) -> Result<Split> {
    let plans = stratified_plan(items, opts)?;
    let sorted = sorted_items(items)?;
    let mut by_group: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for it in &sorted {
        by_group.entry(it.group.as_str()).or_default().push(it.id.as_str());
    }
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let mut test: BTreeSet<&str> = BTreeSet::new();
    for p in &plans {
        if p.test == 0 {
            continue;
        }
        let mut ids = by_group[p.group.as_str()].clone();
        ids.shuffle(&mut rng);
        test.extend(&ids[..p.test]);
    }
    let train: Vec<String> = sorted.iter().filter(|it| !test.contains(it.id.as_str())).map(|it| it.id.clone()).collect();
    let test: Vec<String> = test.into_iter().map(String::from).collect();
    let parts = BTreeMap::from([("train".to_string(), train), ("test".to_string(), test)]);
    let p = params(&[
        ("test_fraction", num(opts.test_fraction)),
        ("exclude_below", num(opts.exclude_below)),
        ("one_hop_min", num(opts.one_hop_band.0)),
        ("one_hop_max", num(opts.one_hop_band.1)),
    ]);
    Ok(Split::new(Algorithm::Stratified, p, Some(opts.seed), parts))
}

/// A uniform random train/test split: the id-sorted items are shuffled and the first
/// `round(test_fraction * N)` (at least 1, at most N - 1) are the test set. Needs two items.
pub fn random(items: &[SplitItem], test_fraction: f64, seed: u64) -> Result<Split> {
    check_fraction(test_fraction, "test fraction")?;
    let sorted = sorted_items(items)?;
    if sorted.len() < 2 {
        return invalid("a train/test split needs at least two items");
    }
    let mut ids: Vec<String> = sorted.iter().map(|it| it.id.clone()).collect();
    ids.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    let t = holdout_count(test_fraction, ids.len());
    let train = ids.split_off(t);
    let parts = BTreeMap::from([("train".to_string(), train), ("test".to_string(), ids)]);
    Ok(Split::new(Algorithm::Random, params(&[("test_fraction", num(test_fraction))]), Some(seed), parts))
}

fn check_k(k: usize, units: usize, what: &str) -> Result<()> {
    if k < 2 {
        return invalid(format!("k-fold needs k >= 2, got {k}"));
    }
    if k > units {
        return invalid(format!("cannot make {k} folds from {units} {what}"));
    }
    Ok(())
}

/// k folds (`fold0` .. `fold<k-1>`): the id-sorted items are shuffled and cut into k
/// contiguous runs, the first `N mod k` of them one item longer. Needs `2 <= k <= N`.
pub fn kfold(items: &[SplitItem], k: usize, seed: u64) -> Result<Split> {
    let sorted = sorted_items(items)?;
    check_k(k, sorted.len(), "items")?;
    let mut ids: Vec<String> = sorted.iter().map(|it| it.id.clone()).collect();
    ids.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    let (base, extra) = (ids.len() / k, ids.len() % k);
    let mut parts = BTreeMap::new();
    let mut rest = ids.into_iter();
    for i in 0..k {
        let len = base + usize::from(i < extra);
        parts.insert(format!("fold{i}"), rest.by_ref().take(len).collect());
    }
    Ok(Split::new(Algorithm::KFold, params(&[("k", k.to_string())]), Some(seed), parts))
}

/// Host groups of items: host key → ids, in key order.
fn host_groups<'a>(items: &[&'a SplitItem]) -> Vec<(&'a str, Vec<String>)> {
    let mut m: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for it in items {
        m.entry(it.host_key.as_str()).or_default().push(it.id.clone());
    }
    m.into_iter().collect()
}

/// k folds in which all items with the same `host_key` share a fold. The host groups, in
/// ascending key order, are shuffled, then stably sorted by size (largest first, so equal
/// sizes stay in shuffled order), and each is given to the fold with the fewest items so far
/// (ties: the lowest fold number). Needs `2 <= k <=` number of host groups.
pub fn grouped_kfold(items: &[SplitItem], k: usize, seed: u64) -> Result<Split> {
    let sorted = sorted_items(items)?;
    let mut groups = host_groups(&sorted);
    check_k(k, groups.len(), "host groups")?;
    groups.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    groups.sort_by_key(|g| std::cmp::Reverse(g.1.len()));
    let mut folds: Vec<Vec<String>> = vec![Vec::new(); k];
    for (_, ids) in groups {
        let i = (0..k).min_by_key(|&i| (folds[i].len(), i)).expect("k >= 2");
        folds[i].extend(ids);
    }
    let parts = folds.into_iter().enumerate().map(|(i, v)| (format!("fold{i}"), v)).collect();
    Ok(Split::new(Algorithm::GroupedKFold, params(&[("k", k.to_string())]), Some(seed), parts))
}

/// One train/test pair per group: `test_<group>` holds the group, `train_<group>` everything
/// else. Needs at least two groups; no randomness.
pub fn leave_one_group_out(items: &[SplitItem]) -> Result<Split> {
    let sorted = sorted_items(items)?;
    let groups: BTreeSet<&str> = sorted.iter().map(|it| it.group.as_str()).collect();
    if groups.len() < 2 {
        return invalid(format!("leave-one-group-out needs at least two groups, got {}", groups.len()));
    }
    let mut parts = BTreeMap::new();
    for g in groups {
        let (test, train): (Vec<&&SplitItem>, Vec<&&SplitItem>) = sorted.iter().partition(|it| it.group == g);
        parts.insert(format!("test_{g}"), test.into_iter().map(|it| it.id.clone()).collect());
        parts.insert(format!("train_{g}"), train.into_iter().map(|it| it.id.clone()).collect());
    }
    Ok(Split::new(Algorithm::LeaveOneGroupOut, BTreeMap::new(), None, parts))
}

/// A learning-curve size meaning "every available id".
pub const ALL: usize = usize::MAX;

/// Nested training subsets for a learning curve: the sorted ids are shuffled once and the
/// subset of size `s` is the first `s` of that order, so each subset lies inside every larger
/// one. Partitions are `train_<s>`; [`ALL`] stands for the number of ids. Sizes must be
/// positive and at most the number of ids (other than [`ALL`]); repeated sizes count once.
/// Parameter `sizes` lists the resolved sizes, ascending, comma-separated.
pub fn learning_curve(ids: &[String], sizes: &[usize], seed: u64) -> Result<Split> {
    let mut ids = sorted_ids(ids, "training")?;
    if sizes.is_empty() {
        return invalid("a learning curve needs at least one size");
    }
    let n = ids.len();
    let mut resolved = BTreeSet::new();
    for &s in sizes {
        let s = if s == ALL { n } else { s };
        if s == 0 {
            return invalid("learning-curve sizes must be positive");
        }
        if s > n {
            return invalid(format!("learning-curve size {s} is larger than the {n} ids available (use ALL for every id)"));
        }
        resolved.insert(s);
    }
    ids.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    let parts = resolved.iter().map(|&s| (format!("train_{s}"), ids[..s].to_vec())).collect();
    let list = resolved.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(",");
    Ok(Split::new(Algorithm::LearningCurve, params(&[("sizes", list)]), Some(seed), parts))
}

/// Choose validation ids among training items (see [`carve_validation`]).
fn carve(items: &[&SplitItem], fraction: f64, rng: &mut ChaCha8Rng, grouped: bool) -> Result<BTreeSet<String>> {
    let n = items.len();
    if n < 2 {
        return invalid("carving a validation set needs at least two training items");
    }
    let want = holdout_count(fraction, n);
    if !grouped {
        let mut ids: Vec<&str> = items.iter().map(|it| it.id.as_str()).collect();
        ids.shuffle(rng);
        return Ok(ids[..want].iter().map(|s| s.to_string()).collect());
    }
    let mut groups = host_groups(items);
    if groups.len() < 2 {
        return invalid("a grouped validation set needs at least two host groups");
    }
    groups.shuffle(rng);
    let mut val = BTreeSet::new();
    for (_, ids) in &groups {
        if val.len() + ids.len() <= want {
            val.extend(ids.iter().cloned());
        }
        if val.len() == want {
            break;
        }
    }
    if val.is_empty() {
        let smallest = groups.iter().min_by_key(|(_, ids)| ids.len()).expect("two groups");
        val.extend(smallest.1.iter().cloned());
    }
    Ok(val)
}

/// A train/val split of training items: `val` gets `round(fraction * N)` items (at least 1,
/// at most N - 1) of the id-sorted, shuffled items. With `grouped`, whole host groups move:
/// the groups in key order are shuffled and taken first-fit (a group joins `val` when it still
/// fits within the target) until the target is met; when no group fits, the smallest group (the
/// first of that size in shuffled order) is the validation set. Parameters `val_fraction`,
/// `grouped`.
pub fn carve_validation(train: &[SplitItem], fraction: f64, seed: u64, grouped: bool) -> Result<Split> {
    check_fraction(fraction, "validation fraction")?;
    let sorted = sorted_items(train)?;
    let val = carve(&sorted, fraction, &mut ChaCha8Rng::seed_from_u64(seed), grouped)?;
    let rest: Vec<String> = sorted.iter().filter(|it| !val.contains(&it.id)).map(|it| it.id.clone()).collect();
    let parts = BTreeMap::from([("train".to_string(), rest), ("val".to_string(), val.into_iter().collect())]);
    let p = params(&[("val_fraction", num(fraction)), ("grouped", grouped.to_string())]);
    Ok(Split::new(Algorithm::Validation, p, Some(seed), parts))
}

/// A copy of `split` with a validation set carved out of its `train` partition as
/// [`carve_validation`] does; other partitions are kept. `items` supplies the host keys of the
/// training ids (needed when `grouped`; without grouping, ids missing from `items` are fine).
/// Adds parameters `val_fraction`, `val_grouped`, `val_seed`. Errors when the split has no
/// `train` partition or already has `val`.
pub fn add_validation(split: &Split, items: &[SplitItem], fraction: f64, seed: u64, grouped: bool) -> Result<Split> {
    check_fraction(fraction, "validation fraction")?;
    if !split.partitions.contains_key("train") {
        return invalid("the split has no 'train' partition to carve a validation set from");
    }
    if split.partitions.contains_key("val") {
        return invalid("the split already has a 'val' partition");
    }
    let by_id: BTreeMap<&str, &SplitItem> = items.iter().map(|it| (it.id.as_str(), it)).collect();
    let mut train_items = Vec::with_capacity(split.train().len());
    for id in split.train() {
        match by_id.get(id.as_str()) {
            Some(it) => train_items.push((*it).clone()),
            None if !grouped => train_items.push(SplitItem::new(id.clone(), "", id.clone())),
            None => return invalid(format!("no host key given for training id '{id}'")),
        }
    }
    let refs: Vec<&SplitItem> = train_items.iter().collect();
    let val = carve(&refs, fraction, &mut ChaCha8Rng::seed_from_u64(seed), grouped)?;
    let mut parts = split.partitions.clone();
    parts.insert("train".into(), split.train().iter().filter(|id| !val.contains(*id)).cloned().collect());
    parts.insert("val".into(), val.into_iter().collect());
    let mut p = split.params.clone();
    p.insert("val_fraction".into(), num(fraction));
    p.insert("val_grouped".into(), grouped.to_string());
    p.insert("val_seed".into(), seed.to_string());
    let mut out = Split::new(split.algorithm, p, split.seed, parts);
    out.name = split.name.clone();
    out.query = split.query.clone();
    Ok(out)
}

/// The train/test partition the source dataset recorded at import ([`HopRecord::partition`]).
/// Records without one are left out. Errors when no record has a partition or an id repeats.
pub fn from_partition(records: &[HopRecord]) -> Result<Split> {
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for r in records {
        match r.partition {
            Some(SourcePartition::Train) => train.push(r.id.clone()),
            Some(SourcePartition::Test) => test.push(r.id.clone()),
            None => {}
        }
    }
    if train.is_empty() && test.is_empty() {
        return invalid("none of the records has a source partition");
    }
    let mut all: Vec<&String> = train.iter().chain(&test).collect();
    all.sort();
    if let Some(w) = all.windows(2).find(|w| w[0] == w[1]) {
        return invalid(format!("id '{}' appears twice in the input", w[0]));
    }
    let parts = BTreeMap::from([("train".to_string(), train), ("test".to_string(), test)]);
    Ok(Split::new(Algorithm::SourcePartition, BTreeMap::new(), None, parts))
}

/// A train/test split from explicit id lists. Both must be non-empty without repeats, and no
/// id may be in both (the error names up to five). Whether the ids exist is the caller's
/// check (see [`unknown_ids`](super::unknown_ids)).
pub fn from_ids(train_ids: &[String], test_ids: &[String]) -> Result<Split> {
    let train = sorted_ids(train_ids, "train")?;
    let test = sorted_ids(test_ids, "test")?;
    let test_set: BTreeSet<&String> = test.iter().collect();
    let both: Vec<&str> = train.iter().filter(|id| test_set.contains(id)).map(|s| s.as_str()).collect();
    if !both.is_empty() {
        let more = if both.len() > 5 { format!(" and {} more", both.len() - 5) } else { String::new() };
        return Err(SplitError::Invalid(format!(
            "{} id(s) in both train and test: {}{more}",
            both.len(),
            both[..both.len().min(5)].join(", ")
        )));
    }
    let parts = BTreeMap::from([("train".to_string(), train), ("test".to_string(), test)]);
    Ok(Split::new(Algorithm::Ids, BTreeMap::new(), None, parts))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 100 items: group A 60, B 25, C 10, D 2 (2 %), E 1 (1 %), F ... all by share.
    fn items(spec: &[(&str, usize)]) -> Vec<SplitItem> {
        let mut v = Vec::new();
        for (g, n) in spec {
            for i in 0..*n {
                v.push(SplitItem::new(format!("{g}{i:03}"), *g, format!("{g}-host{}", i / 3)));
            }
        }
        v
    }

    fn plan_of<'a>(plans: &'a [GroupPlan], g: &str) -> &'a GroupPlan {
        plans.iter().find(|p| p.group == g).unwrap()
    }

    #[test]
    fn plan_follows_the_rules() {
        // N = 200: A 120 (60 %), B 45, C 25, D 3 (1.5 %), E 2 (1 %), F 4 (2 %), G 1 (0.5 %).
        let it = items(&[("A", 120), ("B", 45), ("C", 25), ("D", 3), ("E", 2), ("F", 4), ("G", 1)]);
        let plans = stratified_plan(&it, &StratifiedOptions::default()).unwrap();
        assert_eq!(plan_of(&plans, "G").rule, GroupRule::Excluded);
        assert_eq!(plan_of(&plans, "E").rule, GroupRule::OneHop);
        assert_eq!(plan_of(&plans, "D").rule, GroupRule::OneHop);
        assert_eq!(plan_of(&plans, "F").rule, GroupRule::Proportional);
        assert_eq!(plan_of(&plans, "G").test, 0);
        assert_eq!(plan_of(&plans, "E").test, 1);
        assert_eq!(plan_of(&plans, "D").test, 1);
        // Start: A 12, B round(4.5)=5, C round(2.5)=3, F round(0.4)=0, D 1, E 1 = 22; T = 20.
        // Give back from the most rounded-up: B (0.5, n 45) vs C (0.5, n 25): C first (smaller n), then B.
        assert_eq!(plan_of(&plans, "C").test, 2);
        assert_eq!(plan_of(&plans, "B").test, 4);
        assert_eq!(plan_of(&plans, "A").test, 12);
        assert_eq!(plans.iter().map(|p| p.test).sum::<usize>(), 20);
        for p in plans.iter().filter(|p| p.rule == GroupRule::Proportional) {
            assert!((p.test as f64 - p.quota).abs() <= 1.0, "{p:?}");
        }
    }

    #[test]
    fn plan_adds_by_largest_remainder() {
        // N = 100, f = 0.1: A 34 (3.4), B 33 (3.3), C 33 (3.3): start 3+3+3 = 9, T = 10: A gets one.
        let it = items(&[("A", 34), ("B", 33), ("C", 33)]);
        let plans = stratified_plan(&it, &StratifiedOptions::default()).unwrap();
        assert_eq!(plans.iter().map(|p| p.test).collect::<Vec<_>>(), [4, 3, 3]);
    }

    #[test]
    fn one_hop_groups_keep_a_training_hop() {
        // N = 60: a group of one is 1.67 %, in the one-hop band, but keeps its only hop in train.
        let it = items(&[("A", 59), ("B", 1)]);
        let plans = stratified_plan(&it, &StratifiedOptions::default()).unwrap();
        assert_eq!(plan_of(&plans, "B").test, 0);
        assert_eq!(plan_of(&plans, "A").test, 6);
    }

    #[test]
    fn stratified_is_order_independent_and_seeded() {
        let it = items(&[("A", 120), ("B", 45), ("C", 25), ("D", 3)]);
        let o = StratifiedOptions { seed: 9, ..Default::default() };
        let a = stratified(&it, &o).unwrap();
        let mut rev = it.clone();
        rev.reverse();
        let b = stratified(&rev, &o).unwrap();
        assert_eq!(a.fingerprint, b.fingerprint);
        assert_eq!(a.partitions, b.partitions);
        let c = stratified(&it, &StratifiedOptions { seed: 10, ..o }).unwrap();
        assert_ne!(a.test(), c.test());
        assert_eq!(a.train().len() + a.test().len(), it.len());
    }

    #[test]
    fn bad_thresholds_and_fractions() {
        let it = items(&[("A", 10)]);
        for f in [0.0, 1.0, 1.5, -0.1, f64::NAN] {
            assert!(stratified(&it, &StratifiedOptions { test_fraction: f, ..Default::default() }).is_err(), "{f}");
            assert!(random(&it, f, 1).is_err());
        }
        let bad = StratifiedOptions { exclude_below: 0.02, one_hop_band: (0.01, 0.02), ..Default::default() };
        assert!(stratified(&it, &bad).unwrap_err().to_string().contains("inconsistent"));
        let bad = StratifiedOptions { one_hop_band: (0.03, 0.02), ..Default::default() };
        assert!(stratified(&it, &bad).is_err());
        assert!(stratified(&[], &StratifiedOptions::default()).is_err());
        let dup = vec![SplitItem::new("a", "g", "h"), SplitItem::new("a", "g", "h")];
        assert!(random(&dup, 0.5, 1).unwrap_err().to_string().contains("twice"));
    }

    #[test]
    fn random_and_kfold() {
        let it = items(&[("A", 23)]);
        let r = random(&it, 0.2, 3).unwrap();
        assert_eq!(r.test().len(), 5);
        assert_eq!(r.train().len(), 18);
        let k = kfold(&it, 5, 3).unwrap();
        let lens: Vec<usize> = (0..5).map(|i| k.partition(&format!("fold{i}")).len()).collect();
        assert_eq!(lens, [5, 5, 5, 4, 4]);
        assert_eq!(k.all_ids().len(), 23);
        assert!(kfold(&it, 1, 3).is_err());
        assert!(kfold(&it, 24, 3).is_err());
        assert!(random(&items(&[("A", 1)]), 0.5, 1).is_err());
    }

    #[test]
    fn grouped_kfold_keeps_hosts_together() {
        let it = items(&[("A", 40), ("B", 17)]);
        let s = grouped_kfold(&it, 4, 11).unwrap();
        let mut fold_of: BTreeMap<&str, &str> = BTreeMap::new();
        for (name, ids) in &s.partitions {
            for id in ids {
                let host = &it.iter().find(|x| &x.id == id).unwrap().host_key;
                if let Some(prev) = fold_of.insert(host.as_str(), name.as_str()) {
                    assert_eq!(prev, name, "host {host} in two folds");
                }
            }
        }
        let total: usize = s.partitions.values().map(|v| v.len()).sum();
        assert_eq!(total, 57);
        let lens: Vec<usize> = s.partitions.values().map(|v| v.len()).collect();
        assert!(lens.iter().max().unwrap() - lens.iter().min().unwrap() <= 3, "{lens:?}");
        assert!(grouped_kfold(&items(&[("A", 3)]), 2, 1).is_err(), "one host group");
    }

    #[test]
    fn logo_and_learning_curve() {
        let it = items(&[("A", 4), ("B", 3)]);
        let s = leave_one_group_out(&it).unwrap();
        assert_eq!(s.partition("test_A").len(), 4);
        assert_eq!(s.partition("train_A").len(), 3);
        assert!(leave_one_group_out(&items(&[("A", 4)])).is_err());
        let ids: Vec<String> = (0..20).map(|i| format!("id{i:02}")).collect();
        let lc = learning_curve(&ids, &[5, ALL, 10, 5], 1).unwrap();
        assert_eq!(lc.partition_names(), ["train_5", "train_10", "train_20"]);
        assert_eq!(lc.params["sizes"], "5,10,20");
        assert!(lc.partition("train_5").iter().all(|x| lc.partition("train_10").contains(x)));
        assert!(learning_curve(&ids, &[21], 1).is_err());
        assert!(learning_curve(&ids, &[0], 1).is_err());
        assert!(learning_curve(&ids, &[], 1).is_err());
        assert!(learning_curve(&[], &[1], 1).is_err());
    }

    #[test]
    fn validation_carving() {
        let it = items(&[("A", 30)]);
        let v = carve_validation(&it, 0.2, 5, false).unwrap();
        assert_eq!(v.partition("val").len(), 6);
        let g = carve_validation(&it, 0.2, 5, true).unwrap();
        assert_eq!(g.partition("val").len(), 6, "hosts of 3 fit exactly");
        let val_hosts: BTreeSet<&str> = g.partition("val").iter().map(|id| it.iter().find(|x| &x.id == id).unwrap().host_key.as_str()).collect();
        for id in g.train() {
            let h = &it.iter().find(|x| &x.id == id).unwrap().host_key;
            assert!(!val_hosts.contains(h.as_str()));
        }
        let base = random(&it, 0.1, 1).unwrap();
        let with = add_validation(&base, &it, 0.25, 2, true).unwrap();
        assert_eq!(with.test(), base.test());
        assert_eq!(with.train().len() + with.partition("val").len(), base.train().len());
        assert!(with.verify());
        assert!(add_validation(&with, &it, 0.25, 2, true).is_err(), "already has val");
    }

    #[test]
    fn explicit_ids() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let sp = from_ids(&s(&["b", "a"]), &s(&["c"])).unwrap();
        assert_eq!(sp.train(), ["a", "b"]);
        let err = from_ids(&s(&["a", "b"]), &s(&["b"])).unwrap_err().to_string();
        assert!(err.contains("both train and test: b"), "{err}");
        assert!(from_ids(&s(&["a", "a"]), &s(&["b"])).is_err());
        assert!(from_ids(&s(&[]), &s(&["b"])).is_err());
    }
}
