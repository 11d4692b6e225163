//! Dataset splits on the real devi2025 dataset: the paper's partition, the paper's stratified
//! rules with a pinned fingerprint, order and import independence, grouped k-fold, learning
//! curves, validation carve-outs, storage and the error cases.

use hopdb::record::HopRecord;
use hopdb::split::{self, SplitError, SplitItem, StratifiedOptions, Stratum};
use hopdb::store::Store;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use tempfile::TempDir;

const DEVI_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/devi2025");

/// Fingerprint of `stratified` over the 619 hops by normalised group, paper thresholds, seed 42.
const STRATIFIED_42: &str = "69443a049bb30c703826a615e6e616b9943d71e3ed4fe16154d35dbbb200bf6a";

/// A fresh store in a temporary directory holding the real dataset.
fn devi_store() -> (TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::create(dir.path().join("db")).unwrap();
    let (cands, rejections) = hopdb::import::devi::read_dir_with(Path::new(DEVI_DIR), &store.class_groups().unwrap(), false).unwrap();
    hopdb::import::commit(&store, cands, rejections, &Default::default(), "test").unwrap();
    assert_eq!(store.count(), 619);
    (dir, store)
}

fn records(store: &Store) -> Vec<HopRecord> {
    store.records().collect::<Result<Vec<_>, _>>().unwrap()
}

fn opts42() -> StratifiedOptions {
    StratifiedOptions { test_fraction: 0.10, one_hop_band: (0.01, 0.02), exclude_below: 0.01, seed: 42 }
}

/// Check the paper's rules on a train/test split of `items`: groups < 1 % get no test hop,
/// 1–2 % exactly one, larger groups within one hop of 10 % of the group and of their share of
/// the test set; the total is round(0.1 N).
fn assert_paper_rules(items: &[SplitItem], s: &split::Split) {
    let n_total = items.len();
    let test: BTreeSet<&str> = s.test().iter().map(|x| x.as_str()).collect();
    assert_eq!(s.train().len() + s.test().len(), n_total);
    assert!(s.train().iter().all(|id| !test.contains(id.as_str())));
    let t_total = test.len();
    assert_eq!(t_total, (0.1 * n_total as f64).round() as usize);
    let mut per: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for it in items {
        let e = per.entry(it.group.as_str()).or_default();
        e.0 += 1;
        e.1 += usize::from(test.contains(it.id.as_str()));
    }
    for (g, (n, t)) in per {
        let share = n as f64 / n_total as f64;
        if share < 0.01 {
            assert_eq!(t, 0, "{g}: {n} hops ({:.2} %) is under 1 %: no test hop", share * 100.0);
        } else if share < 0.02 {
            assert_eq!(t, 1, "{g}: {n} hops ({:.2} %) is 1-2 %: exactly one test hop", share * 100.0);
        } else {
            assert!((t as f64 - 0.1 * n as f64).abs() <= 1.0, "{g}: {t} test of {n}");
            let expected_in_test = t_total as f64 * share;
            assert!((t as f64 - expected_in_test).abs() <= 1.0, "{g}: {t} test hops vs {expected_in_test:.2} by share of the whole");
        }
    }
}

#[test]
fn paper_partition_is_559_60_with_the_published_class_counts() {
    let (_dir, store) = devi_store();
    let recs = records(&store);
    let s = split::from_partition(&recs).unwrap().named("paper");
    assert_eq!(s.train().len(), 559);
    assert_eq!(s.test().len(), 60);
    assert_eq!(s.algorithm, split::Algorithm::SourcePartition);
    assert_eq!(s.seed, None);

    // Class counts of the test partition, straight from the published file.
    let text = std::fs::read_to_string(Path::new(DEVI_DIR).join("band_test.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut want: BTreeMap<String, usize> = BTreeMap::new();
    for r in json.as_array().unwrap() {
        *want.entry(r["class"].as_str().unwrap().trim().to_string()).or_default() += 1;
    }
    assert_eq!(want.len(), 25);
    assert_eq!(want.values().sum::<usize>(), 60);
    let by_id: BTreeMap<&str, &HopRecord> = recs.iter().map(|r| (r.id.as_str(), r)).collect();
    let mut got: BTreeMap<String, usize> = BTreeMap::new();
    for id in s.test() {
        *got.entry(by_id[id.as_str()].material.class_label.clone().unwrap()).or_default() += 1;
    }
    assert_eq!(got, want);

    // The summary table counts by normalised group and carries the fingerprint.
    let t = split::summary_table(&s, &store).unwrap();
    assert!(t.title.as_deref().unwrap().contains(&s.fingerprint));
    assert_eq!(t.columns, ["group", "train", "test", "total"]);
    let total = t.rows.last().unwrap();
    assert_eq!(total[0].to_string(), "TOTAL");
    assert_eq!((total[1].to_string(), total[2].to_string(), total[3].to_string()), ("559".into(), "60".into(), "619".into()));
    let layered = t.rows.iter().find(|r| r[0].to_string() == "LAYERED").unwrap();
    assert_eq!(layered[2].to_string(), "9");
}

#[test]
fn stratified_seed_42_follows_the_paper_rules_and_is_pinned() {
    let (_dir, store) = devi_store();
    let recs = records(&store);
    let items = split::items_from_records(&recs, Stratum::Group);
    let s = split::stratified(&items, &opts42()).unwrap();
    assert_paper_rules(&items, &s);
    assert_eq!((s.train().len(), s.test().len()), (557, 62));
    assert_eq!(s.fingerprint, STRATIFIED_42);
    assert_eq!(s.seed, Some(42));
    assert_eq!(s.params["test_fraction"], "0.1");
    assert_eq!(s.params["one_hop_max"], "0.02");

    // The plan the split was drawn from, for the record: excluded, one-hop and proportional groups.
    let plan = split::stratified_plan(&items, &opts42()).unwrap();
    let test_of = |g: &str| plan.iter().find(|p| p.group == g).unwrap().test;
    assert_eq!(test_of("LAYERED"), 10);
    assert_eq!(test_of("SPINEL CHALCOGENIDE"), 7);
    assert_eq!(test_of("RUTILE"), 1);
    assert_eq!(test_of("SILICATE"), 1);
    assert_eq!(test_of("PEROVSKITE"), 0);
    assert_eq!(plan.iter().filter(|p| p.rule == split::GroupRule::OneHop).count(), 4);

    // Item order never matters: reversed items, reversed records.
    let mut rev = items.clone();
    rev.reverse();
    assert_eq!(split::stratified(&rev, &opts42()).unwrap().fingerprint, STRATIFIED_42);
    let mut rrecs = recs.clone();
    rrecs.reverse();
    assert_eq!(split::stratified(&split::items_from_records(&rrecs, Stratum::Group), &opts42()).unwrap().fingerprint, STRATIFIED_42);

    // Another seed: same counts, other members.
    let other = split::stratified(&items, &StratifiedOptions { seed: 43, ..opts42() }).unwrap();
    assert_ne!(other.fingerprint, STRATIFIED_42);
    assert_paper_rules(&items, &other);

    // Stratified by the class labels as published: the same rules hold.
    let by_class = split::items_from_records(&recs, Stratum::Class);
    let c = split::stratified(&by_class, &opts42()).unwrap().with_param("stratify_by", "class");
    assert_paper_rules(&by_class, &c);
    assert!(c.verify());
}

#[test]
fn a_fresh_import_gives_the_same_fingerprint() {
    let (_d1, a) = devi_store();
    let (_d2, b) = devi_store();
    let sa = split::stratified(&split::items_from_records(&records(&a), Stratum::Group), &opts42()).unwrap();
    let sb = split::stratified(&split::items_from_records(&records(&b), Stratum::Group), &opts42()).unwrap();
    assert_eq!(sa.fingerprint, STRATIFIED_42);
    assert_eq!(sb.fingerprint, STRATIFIED_42);
    assert_eq!(sa.partitions, sb.partitions);
    let pa = split::from_partition(&records(&a)).unwrap();
    let pb = split::from_partition(&records(&b)).unwrap();
    assert_eq!(pa.fingerprint, pb.fingerprint);
}

#[test]
fn grouped_kfold_keeps_every_host_in_one_fold() {
    let (_dir, store) = devi_store();
    let recs = records(&store);
    let items = split::items_from_records(&recs, Stratum::Group);
    let s = split::grouped_kfold(&items, 5, 42).unwrap();
    assert_eq!(s.partitions.len(), 5);
    let by_id: BTreeMap<&str, &HopRecord> = recs.iter().map(|r| (r.id.as_str(), r)).collect();
    let item_of: BTreeMap<&str, &SplitItem> = items.iter().map(|it| (it.id.as_str(), it)).collect();
    let mut fold_of_id: BTreeMap<&str, &str> = BTreeMap::new();
    let mut fold_of_key: BTreeMap<String, &str> = BTreeMap::new();
    let mut fold_of_sid: BTreeMap<&str, &str> = BTreeMap::new();
    for (fold, ids) in &s.partitions {
        for id in ids {
            assert!(fold_of_id.insert(id.as_str(), fold.as_str()).is_none(), "{id} in two folds");
            let r = by_id[id.as_str()];
            for key in [item_of[id.as_str()].host_key.clone(), split::host_key(r)] {
                if let Some(prev) = fold_of_key.insert(key.clone(), fold.as_str()) {
                    assert_eq!(prev, fold.as_str(), "host {key} in {prev} and {fold}");
                }
            }
            if let Some(prev) = fold_of_sid.insert(r.host.0.as_str(), fold.as_str()) {
                assert_eq!(prev, fold.as_str(), "host structure {} in two folds", r.host);
            }
        }
    }
    assert_eq!(fold_of_id.len(), 619, "every id in exactly one fold");
    let sizes: Vec<usize> = s.partitions.values().map(|v| v.len()).collect();
    assert!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 2, "balanced folds: {sizes:?}");
    // Path siblings share a key: LiCoO2-like names with a _<n> suffix.
    let li2mno3: BTreeSet<String> = recs.iter().filter(|r| r.material.sys_name.as_deref().is_some_and(|n| n.starts_with("Li2MnO3_"))).map(split::host_key).collect();
    assert_eq!(li2mno3.into_iter().collect::<Vec<_>>(), ["Li|Li2MnO3"]);

    // Plain k-fold: every id exactly once too.
    let k = split::kfold(&items, 5, 42).unwrap();
    let all: Vec<&String> = k.partitions.values().flatten().collect();
    assert_eq!(all.len(), 619);
    assert_eq!(k.all_ids().len(), 619);
}

#[test]
fn learning_curve_subsets_are_nested_and_validation_respects_hosts() {
    let (_dir, store) = devi_store();
    let recs = records(&store);
    let paper = split::from_partition(&recs).unwrap();
    let train = paper.train().to_vec();
    let lc = split::learning_curve(&train, &[50, 100, 200, 400, split::ALL], 42).unwrap();
    assert_eq!(lc.partition_names(), ["train_50", "train_100", "train_200", "train_400", "train_559"]);
    let names = lc.partition_names();
    for w in names.windows(2) {
        let big: BTreeSet<&String> = lc.partition(w[1]).iter().collect();
        assert!(lc.partition(w[0]).iter().all(|id| big.contains(id)), "{} inside {}", w[0], w[1]);
    }
    assert_eq!(lc.partition("train_559"), train.as_slice());
    let mut shuffled = train.clone();
    shuffled.reverse();
    assert_eq!(split::learning_curve(&shuffled, &[50, 100, 200, 400, split::ALL], 42).unwrap().fingerprint, lc.fingerprint);
    assert!(matches!(split::learning_curve(&train, &[600], 42), Err(SplitError::Invalid(_))));
    assert!(split::learning_curve(&train, &[559], 42).is_ok(), "exactly all is fine");

    // A grouped validation set carved out of the paper's training set.
    let items = split::items_from_records(&recs, Stratum::Group);
    let v = split::add_validation(&paper, &items, 0.1, 7, true).unwrap();
    assert_eq!(v.test(), paper.test());
    assert_eq!(v.train().len() + v.partition("val").len(), 559);
    assert!(!v.partition("val").is_empty() && v.partition("val").len() <= 56);
    let key: BTreeMap<&str, &str> = items.iter().map(|it| (it.id.as_str(), it.host_key.as_str())).collect();
    let val_hosts: BTreeSet<&str> = v.partition("val").iter().map(|id| key[id.as_str()]).collect();
    assert!(v.train().iter().all(|id| !val_hosts.contains(key[id.as_str()])));
    assert_ne!(v.fingerprint, paper.fingerprint);

    // Leave one group out: one pair per normalised group.
    let logo = split::leave_one_group_out(&items).unwrap();
    let groups: BTreeSet<&str> = items.iter().map(|it| it.group.as_str()).collect();
    assert_eq!(logo.partitions.len(), 2 * groups.len());
    for g in groups {
        assert_eq!(logo.partition(&format!("test_{g}")).len() + logo.partition(&format!("train_{g}")).len(), 619);
    }
}

#[test]
fn splits_are_stored_listed_exported_and_dropped() {
    let (_dir, store) = devi_store();
    let recs = records(&store);
    let items = split::items_from_records(&recs, Stratum::Group);
    let s = split::stratified(&items, &opts42()).unwrap().named("s1").from_query("SELECT * FROM hops WHERE fidelity = 'dft'");
    split::save(&store, &s, false).unwrap();
    let back = split::load(&store, "s1").unwrap();
    assert_eq!(back, s);
    assert_eq!(back.fingerprint, STRATIFIED_42);
    assert!(split::unknown_ids(&store, &back).unwrap().is_empty());

    assert!(matches!(split::save(&store, &s, false), Err(SplitError::Exists(n)) if n == "s1"));
    let paper = split::from_partition(&recs).unwrap().named("paper");
    split::save(&store, &paper, false).unwrap();
    split::save(&store, &paper, true).unwrap();
    let t = split::list_table(&store).unwrap();
    assert_eq!(t.rows.len(), 2);
    assert_eq!(t.rows[0][0].to_string(), "paper");
    assert_eq!(t.rows[1][5].to_string(), STRATIFIED_42);
    assert_eq!(t.rows[1][3].to_string(), "train 557, test 62");

    let csv = split::export_csv(&s);
    assert_eq!(csv.lines().count(), 620);
    assert_eq!(csv.lines().next(), Some("id,partition"));
    assert_eq!(csv.lines().filter(|l| l.ends_with(",test")).count(), 62);
    let json = split::export_json(&s);
    assert_eq!(split::import_json(&json).unwrap(), s);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["fingerprint"], STRATIFIED_42);
    assert_eq!(v["algorithm"], "stratified");
    assert_eq!(v["partitions"]["test"].as_array().unwrap().len(), 62);

    split::drop_split(&store, "paper").unwrap();
    assert!(matches!(split::load(&store, "paper"), Err(SplitError::NotFound(_))));
    assert_eq!(split::list(&store).unwrap().len(), 1);
    let ops: Vec<String> = store.audit_log().unwrap().into_iter().map(|e| e.op).collect();
    assert_eq!(ops.iter().filter(|o| *o == "split").count(), 4, "{ops:?}");
}

#[test]
fn bad_input_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::create(dir.path().join("db")).unwrap();
    let items: Vec<SplitItem> = (0..50).map(|i| SplitItem::new(format!("x:{i}"), if i < 40 { "A" } else { "B" }, format!("h{i}"))).collect();
    for f in [0.0, 1.5] {
        let e = split::stratified(&items, &StratifiedOptions { test_fraction: f, ..opts42() }).unwrap_err();
        assert!(matches!(e, SplitError::Invalid(_)), "{e}");
        assert!(e.to_string().contains("test fraction"), "{e}");
        assert!(split::random(&items, f, 1).is_err());
        assert!(split::carve_validation(&items, f, 1, false).is_err());
    }
    assert!(matches!(split::stratified(&[], &opts42()), Err(SplitError::Invalid(_))));
    assert!(matches!(split::random(&[], 0.1, 1), Err(SplitError::Invalid(_))));
    assert!(matches!(split::kfold(&[], 5, 1), Err(SplitError::Invalid(_))));
    assert!(matches!(split::grouped_kfold(&[], 5, 1), Err(SplitError::Invalid(_))));
    assert!(matches!(split::leave_one_group_out(&[]), Err(SplitError::Invalid(_))));
    assert!(matches!(split::from_partition(&[]), Err(SplitError::Invalid(_))));
    let inconsistent = StratifiedOptions { exclude_below: 0.05, ..opts42() };
    assert!(matches!(split::stratified(&items, &inconsistent), Err(SplitError::Invalid(_))));

    let e = split::load(&store, "nope").unwrap_err();
    assert!(matches!(e, SplitError::NotFound(_)));
    assert_eq!(e.to_string(), "no split named 'nope'");
    assert!(matches!(split::drop_split(&store, "nope"), Err(SplitError::NotFound(_))));

    let s = split::random(&items, 0.2, 1).unwrap().named("dup");
    split::save(&store, &s, false).unwrap();
    let e = split::save(&store, &s, false).unwrap_err();
    assert!(matches!(e, SplitError::Exists(_)), "{e}");

    let ids = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let e = split::from_ids(&ids(&["a", "b", "c"]), &ids(&["c", "a"])).unwrap_err();
    assert!(e.to_string().contains("2 id(s) in both train and test: a, c"), "{e}");
    let manual = split::from_ids(&ids(&["a", "b"]), &ids(&["c"])).unwrap();
    assert_eq!(split::unknown_ids(&store, &manual).unwrap(), ["a", "b", "c"]);
}
