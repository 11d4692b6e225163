//! Split statements through HopQL: the paper partition, a pinned stratified split that
//! reproduces on a freshly imported store, grouped k-fold without leakage, scenarios, export,
//! and bad input.

use hopdb::query::exec::query;
mod common;

use hopdb::store::Store;
use hopdb::table::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/devi2025");

fn fresh_store() -> (tempfile::TempDir, Store) {
    let (dir, store) = common::devi_store();
    (dir, store)
}

/// The stratified split of the 619 hops by normalised group, seed 42, as a HopQL statement.
const S1: &str = "CREATE SPLIT s1 FROM (SELECT * FROM hops WHERE fidelity = 'dft') STRATIFIED BY group TEST 10% SEED 42";
/// Its fingerprint: a change of the algorithm, of the record ids or of their ordering shows here.
const S1_FINGERPRINT: &str = "74217231189054820ab037fed27f6c91e19d3514b52d950767b0500251ac37c7";

#[test]
fn paper_partition_is_reproduced_exactly() {
    let (_d, store) = fresh_store();
    query(&store, "CREATE SPLIT paper FROM PARTITION").unwrap();
    let s = hopdb::split::load(&store, "paper").unwrap();
    assert_eq!((s.train().len(), s.test().len()), (559, 60));
    // The test ids are exactly the sys_names of band_test.json.
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(Path::new(DATA).join("band_test.json")).unwrap()).unwrap();
    let want: BTreeSet<String> = v.as_array().unwrap().iter().map(|r| format!("devi2025:{}", r["sys_name"].as_str().unwrap())).collect();
    let got: BTreeSet<String> = s.test().iter().cloned().collect();
    assert_eq!(got, want);
    // Per-class test counts match band_test.json (25 labels).
    let mut by_class: BTreeMap<String, usize> = BTreeMap::new();
    for r in v.as_array().unwrap() {
        *by_class.entry(r["class"].as_str().unwrap().trim().to_string()).or_default() += 1;
    }
    assert_eq!(by_class.len(), 25);
    let mut got_class: BTreeMap<String, usize> = BTreeMap::new();
    for id in s.test() {
        *got_class.entry(store.record(id).unwrap().material.class_label.unwrap()).or_default() += 1;
    }
    assert_eq!(got_class, by_class);
}

#[test]
fn stratified_split_fingerprint_is_pinned_and_reproducible() {
    let (_d1, a) = fresh_store();
    let (_d2, b) = fresh_store();
    query(&a, S1).unwrap();
    query(&b, S1).unwrap();
    let (sa, sb) = (hopdb::split::load(&a, "s1").unwrap(), hopdb::split::load(&b, "s1").unwrap());
    assert_eq!(sa.fingerprint, S1_FINGERPRINT);
    assert_eq!(sb.fingerprint, S1_FINGERPRINT);
    assert_eq!(sa.partitions, sb.partitions);
    // The same statement with another seed gives another split.
    query(&a, &S1.replace("s1", "s2").replace("SEED 42", "SEED 43")).unwrap();
    assert_ne!(hopdb::split::load(&a, "s2").unwrap().fingerprint, S1_FINGERPRINT);
    // SHOW SPLIT names the fingerprint; SHOW SPLITS lists both.
    let t = query(&a, "SHOW SPLIT s1").unwrap();
    assert!(t.title.unwrap().contains(S1_FINGERPRINT));
    assert_eq!(query(&a, "SHOW SPLITS").unwrap().rows.len(), 2);
}

#[test]
fn grouped_kfold_keeps_hosts_together_and_export_round_trips() {
    let (dir, store) = fresh_store();
    query(&store, "CREATE SPLIT cv FROM (SELECT * FROM hops) GROUPED KFOLD 5 SEED 1").unwrap();
    let s = hopdb::split::load(&store, "cv").unwrap();
    let records: Vec<_> = store.records().map(|r| r.unwrap()).collect();
    let keys = hopdb::split::host_components(&records);
    let mut fold_of_key: BTreeMap<&String, &str> = BTreeMap::new();
    let mut seen = BTreeSet::new();
    for (name, ids) in &s.partitions {
        for id in ids {
            assert!(seen.insert(id.clone()), "{id} in two folds");
            let k = &keys[id];
            if let Some(prev) = fold_of_key.insert(k, name) {
                assert_eq!(prev, name, "host {k} in folds {prev} and {name}");
            }
        }
    }
    assert_eq!(seen.len(), 619);
    let path = dir.path().join("cv.json");
    query(&store, &format!("EXPORT SPLIT cv TO '{}'", path.display())).unwrap();
    let back = hopdb::split::import_json(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(back.fingerprint, s.fingerprint);
    query(&store, "DROP SPLIT cv").unwrap();
    assert!(query(&store, "SHOW SPLIT cv").is_err());
}

#[test]
fn scenarios_of_the_paper_split() {
    let (_d, store) = fresh_store();
    query(&store, "CREATE SPLIT paper FROM PARTITION").unwrap();
    let t = query(&store, "SCENARIOS OF SPLIT paper").unwrap();
    assert_eq!(t.rows.len(), 60);
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for r in &t.rows {
        if let Value::Str(s) = &r[1] {
            *counts.entry(s.clone()).or_default() += 1;
        }
    }
    assert_eq!(counts.values().sum::<usize>(), 60);
    assert_eq!(counts["A"], 19);
}

#[test]
fn bad_input_is_a_clear_error() {
    let (_d, store) = fresh_store();
    let err = |q: &str| query(&store, q).err().unwrap_or_else(|| panic!("{q} should fail")).to_string();
    assert!(err("SHOW SPLIT nope").contains("no split named 'nope'"));
    assert!(err("SCENARIOS OF SPLIT nope").contains("no split named"));
    assert!(err("CREATE SPLIT x FROM (SELECT * FROM hops) TEST 0%").contains("between 0 and 1"));
    assert!(err("CREATE SPLIT x FROM (SELECT * FROM hops) TEST 1.5").contains("between 0 and 1"));
    assert!(err("CREATE SPLIT x FROM (SELECT * FROM hops WHERE em > 100)").contains("selects no hops"));
    assert!(err("CREATE SPLIT x FROM (SELECT * FROM hops) SEED 4.2").contains("whole number"));
    assert!(err("CREATE SPLIT x FROM (SELECT * FROM hops) SEED abc").contains("seed"));
    assert!(err("CREATE SPLIT x FROM (SELECT * FROM hops) KFOLD 1").contains("at least 2"));
    query(&store, "CREATE SPLIT x FROM PARTITION").unwrap();
    assert!(err("CREATE SPLIT x FROM PARTITION").contains("already exists"));
    // Nothing half-written: the failed statements stored no split.
    assert_eq!(hopdb::split::list(&store).unwrap().len(), 1);
}

#[test]
fn learning_curves_and_id_lists() {
    let (_d, store) = fresh_store();
    query(&store, "CREATE SPLIT paper FROM PARTITION").unwrap();
    query(&store, "CREATE SPLIT lc FROM SPLIT paper LEARNING CURVE 100, 200, 400, ALL SEED 1").unwrap();
    let s = hopdb::split::load(&store, "lc").unwrap();
    let sizes: Vec<usize> = ["train_100", "train_200", "train_400", "train_559"].iter().map(|p| s.partition(p).len()).collect();
    assert_eq!(sizes, vec![100, 200, 400, 559]);
    for w in ["train_100", "train_200", "train_400", "train_559"].windows(2) {
        let small: BTreeSet<&String> = s.partition(w[0]).iter().collect();
        let big: BTreeSet<&String> = s.partition(w[1]).iter().collect();
        assert!(small.is_subset(&big), "{} not inside {}", w[0], w[1]);
    }
    assert_eq!(s.test().len(), 60);
    assert!(query(&store, "CREATE SPLIT lc2 FROM SPLIT paper LEARNING CURVE 600").unwrap_err().to_string().contains("larger than"));
    query(&store, "CREATE SPLIT mine FROM IDS ('devi2025:LiCoO2_1', 'devi2025:LiCoO2_2') TEST ('devi2025:Li4P2S7')").unwrap();
    let m = hopdb::split::load(&store, "mine").unwrap();
    assert_eq!((m.train().len(), m.test().len()), (2, 1));
    let e = query(&store, "CREATE SPLIT bad FROM IDS ('devi2025:nope') TEST ('devi2025:Li4P2S7')").unwrap_err().to_string();
    assert!(e.contains("not in the store") && e.contains("devi2025:nope"), "{e}");
}

#[test]
fn split_statements_print_and_reparse() {
    for q in [
        S1,
        "CREATE SPLIT paper FROM PARTITION",
        "CREATE SPLIT cv FROM (SELECT * FROM hops WHERE ion = 'Li') GROUPED KFOLD 5 SEED 3",
        "CREATE SPLIT r FROM (SELECT * FROM hops) RANDOM TEST 20% SEED 1 VALIDATION 10%",
        "CREATE SPLIT l FROM (SELECT * FROM hops) LEAVE ONE GROUP OUT",
        "CREATE SPLIT c FROM (SELECT * FROM hops) STRATIFIED BY class TEST 10% SEED 1 MIN_GROUP 1% ONE_HOP 2%",
        "SHOW SPLITS",
        "SHOW SPLIT s1",
        "DROP SPLIT s1",
        "EXPORT SPLIT s1 TO 'it''s.json'",
        "SCENARIOS OF SPLIT s1",
        "CREATE SPLIT lc FROM SPLIT paper LEARNING CURVE 100, 200, ALL SEED 2",
        "CREATE SPLIT m FROM IDS ('a', 'b') TEST ('c')",
    ] {
        let a = hopdb::query::parse_statement(q).unwrap();
        let b = hopdb::query::parse_statement(&a.to_string()).unwrap_or_else(|e| panic!("{a}: {e}"));
        assert_eq!(a, b, "{q}");
    }
}
