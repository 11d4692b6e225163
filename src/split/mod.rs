//! Reproducible dataset splits: train/test partitions, k folds, leave-one-group-out, nested
//! learning-curve subsets and validation carve-outs, each with a fingerprint that anyone can
//! recompute from the member ids, and stored in the store's `p` keyspace.
//!
//! The algorithms ([`stratified`], [`random`], [`kfold`], [`grouped_kfold`],
//! [`leave_one_group_out`], [`learning_curve`], [`carve_validation`], [`add_validation`],
//! [`from_partition`], [`from_ids`]) work on [`SplitItem`]s (id, stratum, host key) or ids and
//! never look at the store, so they are pure functions of their input *set* and seed: inputs are
//! sorted by id before anything random happens, so the order in which records arrive never
//! matters. Randomness is `rand_chacha::ChaCha8Rng::seed_from_u64(seed)` (rand_chacha 0.3), one
//! generator per call, and every shuffle is rand 0.8's `SliceRandom::shuffle` of an id-sorted
//! (or key-sorted) list.
//!
//! # Stratified split (the paper's test-set rules)
//!
//! Devi et al. (npj Comput. Mater. 2025, Methods, "Data processing") built their 60-hop test set
//! with: a quasi-weighted distribution (the test set's group distribution follows the data's);
//! groups making up 1–2 % of the whole data set get exactly one test hop; groups under 1 % get
//! none; hops are sampled at random inside each group. [`stratified`] implements that as
//! follows, with `N` items, `n_g` items in group `g`, share `s_g = n_g / N` (f64 division),
//! `f = test_fraction`, `e = exclude_below`, `(b0, b1) = one_hop_band` (defaults 0.10, 0.01,
//! (0.01, 0.02)):
//!
//! 1. Classify each group: `s_g < e` → *excluded* (0 test hops); `b0 <= s_g < b1` → *one-hop*
//!    (exactly 1); every other group (`s_g >= b1`, or `e <= s_g < b0` when `e < b0`) →
//!    *proportional*.
//! 2. Proportional groups start at `c_g = round(f * n_g)` (f64, `f64::round`: halves away from
//!    zero); one-hop groups at `c_g = 1`.
//! 3. Quasi-weighting: the wanted total is `T = round(f * N)`. With `D = T - sum(c_g)`:
//!    * `D > 0`: the proportional groups with `c_g <= f * n_g` (rounded down or exact) are
//!      ordered by remainder `f * n_g - c_g` descending, then `n_g` descending, then name
//!      ascending, and the first `min(D, count)` of them get one more hop;
//!    * `D < 0`: the proportional groups with `c_g >= f * n_g` and `c_g >= 1` (rounded up or
//!      exact) are ordered by excess `c_g - f * n_g` descending, then `n_g` ascending, then name
//!      ascending, and the first `min(-D, count)` of them give one hop back.
//!
//!    A group is adjusted at most once, so every proportional group ends within one hop of
//!    `f * n_g`, and the total is `T` whenever that bound allows it.
//! 4. No group gives all its hops to the test set: every `c_g` is capped at `n_g - 1` (applied
//!    to the start values and respected by the adjustment).
//! 5. Sampling: for each group in ascending name order with `c_g > 0`, its ids sorted
//!    ascending are shuffled with the one generator, and the first `c_g` are test hops. All other
//!    items are training hops.
//!
//! The parameters are recorded as `test_fraction`, `exclude_below`, `one_hop_min`,
//! `one_hop_max`. Which stratum to use (the class label as published or the normalised group)
//! is the caller's choice: see [`items_from_records`] and [`Stratum`].
//!
//! # Fingerprint
//!
//! `fingerprint` is the lower-case hex sha256 of this UTF-8 text (each line ends with `\n`):
//!
//! ```text
//! hopdb-split-v1
//! algorithm=<algorithm name, e.g. stratified>
//! param <key>=<value>            one line per parameter, keys in ascending byte order
//! seed=<decimal seed, or none>
//! partition <name> <member count>   one block per partition, names in ascending byte order,
//! <id>                              followed by its ids, one a line, ascending byte order
//! ```
//!
//! The split's name, the query it was cut from and its creation time are not part of the
//! fingerprint: two splits with the same fingerprint have the same members made the same way.
//! For example, in Python:
//!
//! ```text
//! h = hashlib.sha256()
//! h.update(b"hopdb-split-v1\nalgorithm=stratified\n")
//! for k in sorted(params): h.update(f"param {k}={params[k]}\n".encode())
//! h.update(f"seed={seed}\n".encode())
//! for p in sorted(parts):
//!     h.update(f"partition {p} {len(parts[p])}\n".encode())
//!     for i in sorted(parts[p]): h.update(f"{i}\n".encode())
//! ```
//!
//! Floating-point parameters are written with Rust's shortest round-trip formatting (`0.1`,
//! `0.01`).
//!
//! # Host structures
//!
//! A grouped split keeps all hops of one host structure on the same side. [`host_key`] names the
//! host of a record as `<ion>|<sys_name stem>` (the sys_name without a trailing `_<digits>` path
//! suffix: `LiCoO2_1` and `LiCoO2_2` with Li → `Li|LiCoO2`), or the host's [`StructureId`] when
//! the record has no sys_name. Path siblings have different content ids (the vacancy differs),
//! so the stem is what links them. [`host_components`] goes further and also joins records whose
//! hosts have the same [`StructureId`] (the same framework under two names or two ions); that is
//! what [`items_from_records`] uses.
//!
//! # Storage
//!
//! A split is a named object of the store's [`Keyspace::Split`] keyspace (key: its name;
//! value: `(SPLIT_FORMAT_VERSION, Split)` through the store's codec); every save or drop is one
//! atomic write set with op `split`.
//!
//! [`StructureId`]: crate::record::StructureId
//! [`Keyspace::Split`]: crate::store::Keyspace::Split

mod algo;
mod report;
mod storage;

pub use algo::*;
pub use report::*;
pub use storage::*;

use crate::record::HopRecord;
use crate::store::StoreError;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

/// Errors of split construction and storage.
#[derive(Debug, thiserror::Error)]
pub enum SplitError {
    /// Bad input or parameters.
    #[error("{0}")]
    Invalid(String),
    /// No split with that name.
    #[error("no split named '{0}'")]
    NotFound(String),
    /// A split with that name already exists (save without replace).
    #[error("a split named '{0}' already exists (drop it first or save with replace)")]
    Exists(String),
    /// A stored split failed to decode or its fingerprint does not match its members.
    #[error("stored split '{name}' is damaged: {msg}")]
    Corrupt {
        /// Split name.
        name: String,
        /// What is wrong.
        msg: String,
    },
    /// Store error.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Result alias for split operations.
pub type Result<T> = std::result::Result<T, SplitError>;

fn invalid<T>(msg: impl Into<String>) -> Result<T> {
    Err(SplitError::Invalid(msg.into()))
}

/// One item to split: a record id, its stratum and the key of its host structure.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SplitItem {
    /// Record id.
    pub id: String,
    /// Stratum: the class label or the normalised group, as the caller chooses.
    pub group: String,
    /// Groups the hops of one host structure (see [`host_key`]).
    pub host_key: String,
}

impl SplitItem {
    /// An item from its parts.
    pub fn new(id: impl Into<String>, group: impl Into<String>, host_key: impl Into<String>) -> Self {
        SplitItem { id: id.into(), group: group.into(), host_key: host_key.into() }
    }
}

/// Which record field is the stratum of an item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Stratum {
    /// The normalised structural group (`material.group`, else the class label).
    #[default]
    Group,
    /// The structural class exactly as published (`material.class_label`).
    Class,
}

impl Stratum {
    /// Lower-case name (`group`, `class`).
    pub fn as_str(self) -> &'static str {
        match self {
            Stratum::Group => "group",
            Stratum::Class => "class",
        }
    }

    /// The stratum of a record; `(none)` when the record has no value.
    pub fn of(self, r: &HopRecord) -> String {
        let v = match self {
            Stratum::Group => r.group_or_class(),
            Stratum::Class => r.material.class_label.as_deref(),
        };
        v.unwrap_or(NO_GROUP).to_string()
    }
}

/// Stratum of records without a group or class.
pub const NO_GROUP: &str = "(none)";

/// The algorithm that made a split.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Algorithm {
    /// The paper's group-stratified train/test split ([`stratified`]).
    #[serde(rename = "stratified")]
    Stratified,
    /// Uniform random train/test split ([`random`]).
    #[serde(rename = "random")]
    Random,
    /// k folds of shuffled items ([`kfold`]).
    #[serde(rename = "kfold")]
    KFold,
    /// k folds keeping each host structure in one fold ([`grouped_kfold`]).
    #[serde(rename = "grouped_kfold")]
    GroupedKFold,
    /// One train/test pair per group ([`leave_one_group_out`]).
    #[serde(rename = "leave_one_group_out")]
    LeaveOneGroupOut,
    /// Nested training subsets of growing size ([`learning_curve`]).
    #[serde(rename = "learning_curve")]
    LearningCurve,
    /// A train/val split of training ids ([`carve_validation`]).
    #[serde(rename = "validation")]
    Validation,
    /// The partition recorded by the source dataset ([`from_partition`]).
    #[serde(rename = "source_partition")]
    SourcePartition,
    /// Explicit id lists ([`from_ids`]).
    #[serde(rename = "ids")]
    Ids,
}

impl Algorithm {
    /// Every algorithm.
    pub const ALL: [Algorithm; 9] = [
        Algorithm::Stratified,
        Algorithm::Random,
        Algorithm::KFold,
        Algorithm::GroupedKFold,
        Algorithm::LeaveOneGroupOut,
        Algorithm::LearningCurve,
        Algorithm::Validation,
        Algorithm::SourcePartition,
        Algorithm::Ids,
    ];

    /// Name used in the fingerprint, tables and files.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Stratified => "stratified",
            Algorithm::Random => "random",
            Algorithm::KFold => "kfold",
            Algorithm::GroupedKFold => "grouped_kfold",
            Algorithm::LeaveOneGroupOut => "leave_one_group_out",
            Algorithm::LearningCurve => "learning_curve",
            Algorithm::Validation => "validation",
            Algorithm::SourcePartition => "source_partition",
            Algorithm::Ids => "ids",
        }
    }

    /// Parse a name (case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        Algorithm::ALL.into_iter().find(|a| a.as_str().eq_ignore_ascii_case(s.trim()))
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A named, reproducible partition of record ids.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Split {
    /// Name (empty until given with [`Split::named`]).
    pub name: String,
    /// The query the items came from (empty when unknown).
    pub query: String,
    /// How it was made.
    pub algorithm: Algorithm,
    /// Algorithm parameters, as canonical text.
    pub params: BTreeMap<String, String>,
    /// Seed of the random generator, for randomised algorithms.
    pub seed: Option<u64>,
    /// Partition name (`train`, `test`, `val`, `fold0`, ...) → sorted member ids.
    pub partitions: BTreeMap<String, Vec<String>>,
    /// sha256 over algorithm, parameters, seed and members (see the module doc).
    pub fingerprint: String,
    /// RFC 3339 time of creation.
    pub created_at: String,
    /// The store's data version the members were selected at (None: not recorded). Not part
    /// of the fingerprint.
    pub data_version: Option<u64>,
}

/// A split as stored with format version 1 (before `data_version`): the fields of [`Split`]
/// up to `created_at`, in order (bincode writes a struct as the tuple of its fields).
pub type SplitV1 = (String, String, Algorithm, BTreeMap<String, String>, Option<u64>, BTreeMap<String, Vec<String>>, String, String);

impl Split {
    /// A split read in format version 1 (no data version).
    pub fn from_v1(v: SplitV1) -> Split {
        let (name, query, algorithm, params, seed, partitions, fingerprint, created_at) = v;
        Split { name, query, algorithm, params, seed, partitions, fingerprint, created_at, data_version: None }
    }
}

impl Split {
    /// A split from its parts: ids are sorted (and deduplicated) in each partition, the
    /// fingerprint computed, `created_at` set to now; name and query are empty.
    pub fn new(algorithm: Algorithm, params: BTreeMap<String, String>, seed: Option<u64>, partitions: BTreeMap<String, Vec<String>>) -> Split {
        let partitions = partitions
            .into_iter()
            .map(|(k, mut v)| {
                v.sort();
                v.dedup();
                (k, v)
            })
            .collect();
        let mut s = Split {
            name: String::new(),
            query: String::new(),
            algorithm,
            params,
            seed,
            partitions,
            fingerprint: String::new(),
            created_at: crate::record::now(),
            data_version: None,
        };
        s.fingerprint = s.compute_fingerprint();
        s
    }

    /// Set the name.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Set the query text the items were selected with.
    pub fn from_query(mut self, query: impl Into<String>) -> Self {
        self.query = query.into();
        self
    }

    /// Set the data version the items were selected at.
    pub fn at_version(mut self, version: u64) -> Self {
        self.data_version = Some(version);
        self
    }

    /// Add or replace a parameter (e.g. `stratify_by=class`), updating the fingerprint.
    pub fn with_param(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.params.insert(key.into(), value.into());
        self.fingerprint = self.compute_fingerprint();
        self
    }

    /// The fingerprint of the current contents (see the module doc for the exact text hashed).
    pub fn compute_fingerprint(&self) -> String {
        fingerprint(self.algorithm, &self.params, self.seed, &self.partitions)
    }

    /// True when the stored fingerprint matches the contents.
    pub fn verify(&self) -> bool {
        self.fingerprint == self.compute_fingerprint()
    }

    /// Member ids of a partition (empty when there is no such partition).
    pub fn partition(&self, name: &str) -> &[String] {
        self.partitions.get(name).map(|v| v.as_slice()).unwrap_or(&[])
    }

    /// Training ids (`train`).
    pub fn train(&self) -> &[String] {
        self.partition("train")
    }

    /// Test ids (`test`).
    pub fn test(&self) -> &[String] {
        self.partition("test")
    }

    /// Distinct ids over all partitions, sorted.
    pub fn all_ids(&self) -> BTreeSet<&str> {
        self.partitions.values().flatten().map(|s| s.as_str()).collect()
    }

    /// Partition names for display: `train`, `val`, `test` first, then the rest in natural
    /// order (`fold2` before `fold10`, `train_50` before `train_100`).
    pub fn partition_names(&self) -> Vec<&str> {
        let rank = |p: &str| ["train", "val", "test"].iter().position(|x| *x == p).unwrap_or(3);
        let mut v: Vec<&str> = self.partitions.keys().map(|s| s.as_str()).collect();
        v.sort_by(|a, b| rank(a).cmp(&rank(b)).then_with(|| natural_key(a).cmp(&natural_key(b))));
        v
    }
}

/// Sort key for natural order: text before the trailing digits, then their value.
fn natural_key(s: &str) -> (&str, u128, &str) {
    let digits = s.len() - s.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let (head, tail) = s.split_at(s.len() - digits);
    (head, tail.parse().unwrap_or(0), s)
}

/// Compute a split fingerprint: lower-case hex sha256 of the canonical text given in the
/// module doc. Ids within each partition are sorted here, so the order given does not matter.
pub fn fingerprint(algorithm: Algorithm, params: &BTreeMap<String, String>, seed: Option<u64>, partitions: &BTreeMap<String, Vec<String>>) -> String {
    let mut h = Sha256::new();
    h.update(b"hopdb-split-v1\n");
    h.update(format!("algorithm={}\n", algorithm.as_str()).as_bytes());
    for (k, v) in params {
        h.update(format!("param {k}={v}\n").as_bytes());
    }
    match seed {
        Some(s) => h.update(format!("seed={s}\n").as_bytes()),
        None => h.update(b"seed=none\n"),
    }
    for (name, ids) in partitions {
        let mut ids: Vec<&String> = ids.iter().collect();
        ids.sort();
        h.update(format!("partition {name} {}\n", ids.len()).as_bytes());
        for id in ids {
            h.update(id.as_bytes());
            h.update(b"\n");
        }
    }
    hex::encode(h.finalize())
}

/// The sys_name without a trailing `_<digits>` path suffix (`LiCoO2_12` → `LiCoO2`; a name
/// that is only such a suffix, or has none, is returned unchanged).
pub fn sys_name_stem(sys_name: &str) -> &str {
    let s = sys_name.trim();
    let no_digits = s.trim_end_matches(|c: char| c.is_ascii_digit());
    if no_digits.len() < s.len() {
        if let Some(stem) = no_digits.strip_suffix('_') {
            if !stem.is_empty() {
                return stem;
            }
        }
    }
    s
}

/// The host-structure key of a record: `<ion>|<sys_name stem>` (e.g. `LiCoO2_1`, `LiCoO2_2`
/// with Li → `Li|LiCoO2`), or, for a record without a sys_name, `host:<StructureId>`.
pub fn host_key(record: &HopRecord) -> String {
    match record.material.sys_name.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(sys) => format!("{}|{}", record.ion.symbol(), sys_name_stem(sys)),
        None => format!("host:{}", record.host.0),
    }
}

/// Host groups over a set of records: record id → group key. Records are in one group when
/// they share a [`host_key`] or a host [`StructureId`](crate::record::StructureId), directly
/// or through other records (connected components); a group's key is the smallest
/// [`host_key`] of its members.
pub fn host_components(records: &[HopRecord]) -> BTreeMap<String, String> {
    // Union-find over records, joined by equal host_key and by equal StructureId.
    let n = records.len();
    let mut parent: Vec<usize> = (0..n).collect();
    fn find(p: &mut [usize], mut i: usize) -> usize {
        while p[i] != i {
            p[i] = p[p[i]];
            i = p[i];
        }
        i
    }
    let keys: Vec<String> = records.iter().map(host_key).collect();
    let mut by_key: HashMap<&str, usize> = HashMap::new();
    let mut by_sid: HashMap<&str, usize> = HashMap::new();
    for (i, r) in records.iter().enumerate() {
        for first in [by_key.get(keys[i].as_str()).copied(), by_sid.get(r.host.0.as_str()).copied()].into_iter().flatten() {
            let (a, b) = (find(&mut parent, i), find(&mut parent, first));
            if a != b {
                parent[a.max(b)] = a.min(b);
            }
        }
        by_key.entry(keys[i].as_str()).or_insert(i);
        if !r.host.0.is_empty() {
            by_sid.entry(r.host.0.as_str()).or_insert(i);
        }
    }
    let mut best: HashMap<usize, &str> = HashMap::new();
    for (i, k) in keys.iter().enumerate() {
        let root = find(&mut parent, i);
        let e = best.entry(root).or_insert(k.as_str());
        if k.as_str() < *e {
            *e = k.as_str();
        }
    }
    let mut out = BTreeMap::new();
    for (i, r) in records.iter().enumerate() {
        let root = find(&mut parent, i);
        out.insert(r.id.clone(), best[&root].to_string());
    }
    out
}

/// Split items for records: id, stratum as chosen, and host key from [`host_components`]
/// (so hops of one host stay together in grouped algorithms). Sorted by id.
pub fn items_from_records(records: &[HopRecord], stratum: Stratum) -> Vec<SplitItem> {
    let hosts = host_components(records);
    let mut v: Vec<SplitItem> = records.iter().map(|r| SplitItem::new(r.id.clone(), stratum.of(r), hosts[&r.id].clone())).collect();
    v.sort();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(p: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        p.iter().map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect())).collect()
    }

    #[test]
    fn stems() {
        assert_eq!(sys_name_stem("LiCoO2_1"), "LiCoO2");
        assert_eq!(sys_name_stem("LiCoO2_12"), "LiCoO2");
        assert_eq!(sys_name_stem("Na2MnSiO4_pc_3"), "Na2MnSiO4_pc");
        assert_eq!(sys_name_stem("Li3PO4"), "Li3PO4");
        assert_eq!(sys_name_stem("V2O4_Ca_P21m"), "V2O4_Ca_P21m");
        assert_eq!(sys_name_stem("_1"), "_1");
        assert_eq!(sys_name_stem("LiCoO2_"), "LiCoO2_");
    }

    #[test]
    fn fingerprint_matches_the_documented_text() {
        let mut params = BTreeMap::new();
        params.insert("test_fraction".to_string(), "0.1".to_string());
        let p = parts(&[("train", &["b", "a"]), ("test", &["c"])]);
        let text = "hopdb-split-v1\nalgorithm=random\nparam test_fraction=0.1\nseed=7\npartition test 1\nc\npartition train 2\na\nb\n";
        let want = hex::encode(Sha256::digest(text.as_bytes()));
        assert_eq!(fingerprint(Algorithm::Random, &params, Some(7), &p), want);
        let s = Split::new(Algorithm::Random, params, Some(7), p);
        assert_eq!(s.fingerprint, want);
        assert!(s.verify());
        assert_eq!(s.train(), ["a", "b"]);
        let none = "hopdb-split-v1\nalgorithm=ids\nseed=none\npartition test 1\nc\n";
        assert_eq!(fingerprint(Algorithm::Ids, &BTreeMap::new(), None, &parts(&[("test", &["c"])])), hex::encode(Sha256::digest(none.as_bytes())));
    }

    #[test]
    fn fingerprint_ignores_name_query_and_time_but_not_params() {
        let a = Split::new(Algorithm::Ids, BTreeMap::new(), None, parts(&[("train", &["a"]), ("test", &["b"])]));
        let b = a.clone().named("x").from_query("SELECT * FROM hops");
        assert_eq!(a.fingerprint, b.fingerprint);
        let c = a.clone().with_param("stratify_by", "class");
        assert_ne!(a.fingerprint, c.fingerprint);
        assert!(c.verify());
    }

    #[test]
    fn natural_partition_order() {
        let s = Split::new(Algorithm::KFold, BTreeMap::new(), Some(1), parts(&[("fold10", &["a"]), ("fold2", &["b"]), ("fold1", &["c"])]));
        assert_eq!(s.partition_names(), ["fold1", "fold2", "fold10"]);
        let s = Split::new(Algorithm::Ids, BTreeMap::new(), None, parts(&[("test", &["a"]), ("val", &["b"]), ("train", &["c"])]));
        assert_eq!(s.partition_names(), ["train", "val", "test"]);
    }

    #[test]
    fn algorithm_names_round_trip() {
        for a in Algorithm::ALL {
            assert_eq!(Algorithm::parse(a.as_str()), Some(a));
        }
        assert_eq!(Algorithm::parse("nope"), None);
    }
}
