//! `hopdb import`: the real devi2025 dataset, the fixtures under `fixtures/devi/`, and the
//! all-or-nothing, --skip-invalid, --dry-run and --strict behaviours, driven through the binary.

mod common;

use common::*;
use serde_json::Value;

fn ids(report: &Value, key: &str) -> Vec<String> {
    report[key]
        .as_array()
        .unwrap_or_else(|| panic!("report.{key} is a list: {report}"))
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

fn len(report: &Value, key: &str) -> usize {
    report[key].as_array().unwrap_or_else(|| panic!("report.{key} is a list: {report}")).len()
}

#[test]
fn real_dataset_imports_619_hops_and_a_second_import_adds_nothing() {
    let s = TempStore::new();
    let dir = devi_dir();
    let rep = s.run(&["import", "devi", &dir.to_string_lossy(), "--no-mlip", "--format", "json"]).json();
    assert_eq!(len(&rep, "added") as u64, DEVI_RECORDS, "added");
    assert_eq!(len(&rep, "duplicates"), 0, "duplicates: {}", rep["duplicates"]);
    assert_eq!(len(&rep, "rejected"), 0, "rejected: {}", rep["rejected"]);
    let added = ids(&rep, "added");
    assert!(added.contains(&"devi2025:Li4P2S7".to_string()));
    // The known quirk: Na4MnAlP3O12_1 has two host atoms 0.014 A apart, kept and flagged.
    let flagged = rep["flagged"].as_array().unwrap();
    let na = flagged.iter().find(|f| f[0] == "devi2025:Na4MnAlP3O12_1").expect("Na4MnAlP3O12_1 is flagged");
    assert!(na[1].as_array().unwrap().iter().any(|f| f == "duplicated-host-site"), "{na}");

    let st = s.stats();
    assert_eq!(st["records"], DEVI_RECORDS);
    assert_eq!(st["partition"]["train"], DEVI_TRAIN);
    assert_eq!(st["partition"]["test"], DEVI_TEST);
    let ions: Vec<&str> = st["ion"].as_object().unwrap().keys().map(|k| k.as_str()).collect();
    let mut want = vec!["Al", "Ca", "K", "Li", "Mg", "Na", "Rb", "Sr", "Zn"];
    want.sort();
    let mut got = ions.clone();
    got.sort();
    assert_eq!(got, want, "the nine intercalants");
    assert_eq!(st["class"].as_object().unwrap().len(), 36, "36 class labels as published: {}", st["class"]);
    for dim in ["ion", "class", "fidelity", "partition", "group", "xc"] {
        assert_eq!(sum_counts(&st[dim]), DEVI_RECORDS, "counts by {dim} add up to the record count: {}", st[dim]);
    }
    assert_eq!(st["fidelity"]["dft"], DEVI_RECORDS);
    assert_eq!(st["flags"]["duplicated-host-site"], 3, "Na4MnAlP3O12_1, _2, _3: {}", st["flags"]);
    assert_eq!(st["xc"]["GGA"], 545, "XC from tabulation.csv: {}", st["xc"]);

    // The same dataset again: every hop is a duplicate, nothing is added or rejected.
    let again = s.run(&["import", "devi", &dir.to_string_lossy(), "--no-mlip", "--format", "json"]).json();
    assert_eq!(len(&again, "added"), 0, "second import added: {}", again["added"]);
    assert_eq!(len(&again, "duplicates") as u64, DEVI_RECORDS);
    assert_eq!(len(&again, "rejected"), 0);
    assert_eq!(len(&again, "flagged"), 0);
    let dup = &again["duplicates"][0];
    assert!(dup[0].as_str().unwrap().contains("band_train.json, record 0 (Li4P2S7)"), "{dup}");
    assert_eq!(dup[1], "devi2025:Li4P2S7");
    assert_eq!(s.count(), DEVI_RECORDS);
    assert_eq!(s.log_ops().iter().filter(|o| *o == "import").count(), 1, "only the first import wrote");
}

#[test]
fn real_dataset_links_the_published_mace_barriers_as_mlip_records() {
    let s = TempStore::new();
    let dir = devi_dir();
    let rep = s.run(&["import", "devi", &dir.to_string_lossy(), "--format", "json"]).json();
    assert_eq!(len(&rep, "added") as u64, DEVI_RECORDS + DEVI_MLIP, "added");
    assert_eq!(len(&rep, "rejected"), 0, "rejected: {}", rep["rejected"]);
    let st = s.stats();
    assert_eq!(st["fidelity"]["dft"], DEVI_RECORDS);
    assert_eq!(st["fidelity"]["mlip"], DEVI_MLIP);
    assert_eq!(st["partition"]["train"], DEVI_TRAIN, "mlip records have no source partition");
    assert_eq!(st["partition"]["test"], DEVI_TEST);
    let by_code = s.run(&["query", "SELECT code, COUNT(*) AS n FROM hops WHERE fidelity = 'mlip' GROUP BY code ORDER BY code", "--format", "json"]).json();
    assert_eq!(by_code, serde_json::json!([{"code": "mace-mp-0/devi2025-norelax", "n": 603}, {"code": "mace-mp-0/devi2025-relax", "n": 616}]), "{by_code}");
    // Linked to its DFT hop, sharing its host; provenance names the tabulation.
    let m = s.show("mlip:devi2025:K2MnP2O7@mace-mp-0/devi2025-relax");
    let p = s.show("devi2025:K2MnP2O7");
    let (m, p) = (&m["record"], &p["record"]);
    assert_eq!(m["em"], 0.759);
    assert_eq!(m["parent"], "devi2025:K2MnP2O7");
    assert_eq!(m["host"], p["host"]);
    assert_eq!(m["partition"], Value::Null);
    assert_eq!(m["provenance"]["source_file"], "tabulation.csv");
    assert_eq!(m["provenance"]["source_record_id"], "K2MnP2O7:MACE-RELAX");
    assert_eq!(m["provenance"]["importer"], "devi-tabulation");
    // A hop without a MACE-RELAX value gets no record; a DFT hop is not a duplicate of its
    // MLIP record (different fidelity), so nothing is flagged as a conflict between them.
    let conflicts = "SELECT COUNT(*) AS n FROM hops WHERE fidelity = 'dft' AND flags HAS 'same-hop-other-em'";
    let before = s.run(&["query", conflicts, "--format", "json"]).json();
    let plain = TempStore::new();
    plain.run(&["import", "devi", &dir.to_string_lossy(), "--no-mlip"]).ok();
    assert_eq!(before, plain.run(&["query", conflicts, "--format", "json"]).json(), "MLIP records add no conflict flags to the DFT hops");
    // Re-import adds nothing; --no-mlip on the same store adds nothing either.
    let again = s.run(&["import", "devi", &dir.to_string_lossy(), "--format", "json"]).json();
    assert_eq!(len(&again, "added"), 0);
    assert_eq!(len(&again, "duplicates") as u64, DEVI_RECORDS + DEVI_MLIP);
    let cmp = s.run(&["mlip", "compare", "--overall", "--format", "json"]).json();
    let relax = cmp.as_array().unwrap().iter().find(|r| r["label"] == "mace-mp-0/devi2025-relax").unwrap();
    assert_eq!((relax["hops"].as_u64(), relax["n"].as_u64()), (Some(619), Some(616)));
}

#[test]
fn real_dataset_in_strict_mode_is_rejected_and_nothing_is_written() {
    let s = TempStore::init();
    let r = s.run(&["import", "devi", &devi_dir().to_string_lossy(), "--strict"]);
    let err = r.err();
    assert_contains_all(
        &err,
        &["strict mode", "Na4MnAlP3O12_1", "duplicated-host-site", "band_train.json", "nothing was imported"],
        "strict import of devi2025",
    );
    assert_eq!(s.count(), 0);
    assert_eq!(s.log_ops(), vec!["init"]);
}

#[test]
fn valid_fixture_imports_three_hops_with_tabulation_metadata() {
    let s = TempStore::init();
    let rep = s.import_valid_fixture();
    assert_eq!(ids(&rep, "added"), VALID_IDS.to_vec());
    assert_eq!(len(&rep, "flagged"), 0, "a clean fixture carries no flags: {}", rep["flagged"]);
    let st = s.stats();
    assert_eq!(st["records"], 3);
    assert_eq!(st["structures"], 3, "each hop has its own vacancy, so its own host");
    assert_eq!(st["partition"]["train"], 3);
    assert_eq!(st["class"]["ROCKSALT"], 3);

    let shown = s.show("devi2025:LiF_vac_1");
    let r = &shown["record"];
    assert_eq!(r["em"], 0.3);
    // The element is serialised as its atomic number today; accept the symbol too.
    assert!(r["ion"] == 3 || r["ion"] == "Li", "ion is Li: {}", r["ion"]);
    assert_eq!(r["host_natoms"], 62, "Li30 F32: the 2x2x2 supercell without the mobile ion and the vacancy");
    assert_eq!(r["method"]["xc"], "GGA");
    assert_eq!(r["material"]["space_group"], "Fm-3m");
    assert_eq!(r["extra"]["mace_relax_em"], 0.28);
    let hop = r["hop_length"].as_f64().unwrap();
    assert!((hop - 4.03 / 2f64.sqrt()).abs() < 1e-3, "nearest-neighbour Li-Li hop, got {hop}");
    assert_eq!(r["flags"].as_array().unwrap().len(), 0);
    assert_eq!(r["provenance"]["source_file"], "band_valid.json");
    // The same record by its sys_name.
    assert_eq!(s.show("LiF_vac_2")["record"]["id"], "devi2025:LiF_vac_2");
}

/// (fixture, import kind, words the error must contain besides the file name).
const BAD: &[(&str, &str, &[&str])] = &[
    ("bad_em_nan.json", "band", &["record 0 (LiF_bad_nan)", "field em", "not a number"]),
    ("bad_em_negative.json", "band", &["record 0 (LiF_bad_negative)", "field em", "negative barrier"]),
    ("bad_em_absurd.json", "band", &["record 0 (LiF_bad_absurd)", "field em", "55", "implausible"]),
    ("bad_singular_lattice.json", "band", &["record 0 (LiF_bad_lattice)", "lattice_mat", "singular lattice"]),
    ("bad_overlapping_atoms.json", "band", &["record 0 (LiF_bad_overlap)", "overlapping atoms", "(Li)", "(F)", "0.300 A"]),
    ("bad_unknown_element.json", "band", &["record 0 (LiF_bad_element)", "field atoms.elements", "unknown element 'Xx'"]),
    ("bad_band_not_linear.json", "band", &["record 0 (LiF_bad_band)", "band not linear", "image 2"]),
    ("bad_ion_missing.json", "band", &["record 0 (LiF_bad_ion)", "mobile ion missing", "atom 2 is F"]),
    ("bad_endpoints_coincide.json", "band", &["record 0 (LiF_bad_coincide)", "initial and final sites coincide"]),
    ("bad_endpoints_no_move.json", "endpoints", &["record 0 (LiF_bad_nomove)", "mobile ion missing", "no atom moves"]),
    ("bad_malformed.json", "band", &["malformed JSON", "line"]),
];

#[test]
fn each_bad_fixture_is_rejected_with_file_record_and_reason_and_writes_nothing() {
    let s = TempStore::init();
    for (file, kind, words) in BAD {
        let path = fixture(file);
        let r = s.run(&["import", kind, &path.to_string_lossy()]);
        let err = r.err();
        assert!(err.contains(file), "{file}: the error names the file:\n{err}");
        assert_contains_all(&err, words, file);
        if *file != "bad_malformed.json" {
            assert!(err.contains("nothing was imported"), "{file}: {err}");
        }
        assert_eq!(s.count(), 0, "{file}: nothing half-written");
    }
    assert_eq!(s.log_ops(), vec!["init"], "no failed import left an audit entry");
    // The store is still healthy: the valid fixture imports afterwards.
    s.import_valid_fixture();
    assert_eq!(s.count(), 3);
}

#[test]
fn bad_fixture_into_a_populated_store_leaves_it_unchanged() {
    let s = TempStore::init();
    s.import_valid_fixture();
    let before = s.stats();
    for (file, kind, _) in BAD {
        s.run(&["import", kind, &fixture(file).to_string_lossy()]).err();
    }
    let after = s.stats();
    for k in ["records", "structures", "ion", "class", "partition", "flags"] {
        assert_eq!(before[k], after[k], "{k} unchanged");
    }
}

#[test]
fn mixed_file_fails_whole_unless_skip_invalid_then_imports_the_valid_ones() {
    let s = TempStore::init();
    let mixed = fixture("mixed_2_valid_1_invalid.json");
    let mixed_s = mixed.to_string_lossy().into_owned();

    // Default: all-or-nothing.
    let err = s.run(&["import", "band", &mixed_s]).err();
    assert_contains_all(
        &err,
        &["mixed_2_valid_1_invalid.json", "record 1 (LiF_mix_bad)", "field em", "negative", "--skip-invalid"],
        "mixed",
    );
    assert!(!err.contains("LiF_mix_1"), "only the bad record is named:\n{err}");
    assert_eq!(s.count(), 0);

    // --skip-invalid --dry-run: the human report lists the rejection, nothing is written.
    let out = s.run(&["import", "band", &mixed_s, "--skip-invalid", "--dry-run"]).ok();
    assert_contains_all(&out, &["dry run", "rejected: ", "LiF_mix_bad", "negative barrier"], "dry-run table report");
    assert_eq!(s.count(), 0);

    // --skip-invalid: the two valid records are imported, the invalid one is reported.
    let rep = s.run(&["import", "band", &mixed_s, "--skip-invalid", "--format", "json"]).json();
    assert_eq!(ids(&rep, "added"), vec!["devi2025:LiF_mix_1", "devi2025:LiF_mix_2"]);
    let rej = rep["rejected"].as_array().unwrap();
    assert_eq!(rej.len(), 1, "{rep}");
    let origin = rej[0]["origin"].as_str().unwrap();
    let reason = rej[0]["reason"].as_str().unwrap();
    assert!(origin.contains("mixed_2_valid_1_invalid.json") && origin.contains("record 1 (LiF_mix_bad)"), "{origin}");
    assert!(reason.contains("field em") && reason.contains("negative"), "{reason}");
    assert_eq!(s.count(), 2);
    let err = s.run(&["show", "devi2025:LiF_mix_bad"]).err();
    assert!(err.contains("no record"), "{err}");
}

#[test]
fn dry_run_reports_but_writes_nothing() {
    let s = TempStore::init();
    let tab = fixture("tabulation.csv");
    let r = s.import_band(&fixture("band_valid.json"), &["--tabulation", &tab.to_string_lossy(), "--dry-run", "--format", "json"]);
    let rep = r.json();
    assert_eq!(ids(&rep, "added"), VALID_IDS.to_vec(), "the report says what would be added");
    assert_eq!(s.count(), 0);
    assert_eq!(s.log_ops(), vec!["init"]);
    let err = s.run(&["show", VALID_IDS[0]]).err();
    assert!(err.contains("no record"), "{err}");
    // Nothing of the dry run lingers: the real import adds all three (no duplicates).
    let rep = s.import_valid_fixture();
    assert_eq!(len(&rep, "duplicates"), 0);
    assert_eq!(s.count(), 3);
    // A dry run of the same file now reports duplicates and still writes nothing.
    let rep = s.import_band(&fixture("band_valid.json"), &["--dry-run", "--format", "json"]).json();
    assert_eq!(len(&rep, "added"), 0);
    assert_eq!(len(&rep, "duplicates"), 3);
    assert_eq!(s.log_ops(), vec!["init", "import"]);
}

#[test]
fn dry_run_of_the_real_dataset_writes_nothing() {
    let s = TempStore::init();
    let rep = s.run(&["import", "devi", &devi_dir().to_string_lossy(), "--dry-run", "--format", "json"]).json();
    assert_eq!(len(&rep, "added") as u64, DEVI_RECORDS + DEVI_MLIP);
    assert_eq!(s.count(), 0);
    assert_eq!(s.log_ops(), vec!["init"]);
}

#[test]
fn dry_run_on_a_missing_store_creates_nothing() {
    let s = TempStore::new();
    s.import_band(&fixture("band_valid.json"), &["--dry-run", "--format", "json"]).json();
    assert!(!s.path.exists(), "--dry-run wrote a store at {}", s.path.display());
}

#[test]
fn strict_mode_rejects_a_duplicated_site_that_is_otherwise_only_flagged() {
    let dup = fixture("flagged_duplicated_site.json");

    // Default: imported and flagged.
    let s = TempStore::init();
    let rep = s.import_band(&dup, &["--format", "json"]).json();
    assert_eq!(ids(&rep, "added"), vec!["devi2025:LiF_dupsite"]);
    assert_eq!(rep["flagged"][0][0], "devi2025:LiF_dupsite");
    assert_eq!(rep["flagged"][0][1], serde_json::json!(["duplicated-host-site"]));
    assert_eq!(s.stats()["flags"]["duplicated-host-site"], 1);

    // --strict: rejected with the reason, nothing written.
    let t = TempStore::init();
    let err = t.import_band(&dup, &["--strict"]).err();
    assert_contains_all(&err, &["flagged_duplicated_site.json", "record 0 (LiF_dupsite)", "strict mode", "duplicated-host-site"], "strict");
    assert_eq!(t.count(), 0);

    // --strict --skip-invalid: reported as rejected, nothing added.
    let rep = t.import_band(&dup, &["--strict", "--skip-invalid", "--format", "json"]).json();
    assert_eq!(len(&rep, "added"), 0);
    assert!(rep["rejected"][0]["reason"].as_str().unwrap().contains("strict mode"), "{rep}");
    assert_eq!(t.count(), 0);

    // --strict does not reject clean records.
    t.import_band(&fixture("band_valid.json"), &["--strict", "--format", "json"]).json();
    assert_eq!(t.count(), 3);
}

#[test]
fn endpoint_file_of_a_stored_band_hop_is_a_duplicate() {
    let ep = fixture("endpoints_valid.json");
    let ep_s = ep.to_string_lossy().into_owned();

    // On its own, the endpoint file gives the same hop as the band file.
    let a = TempStore::init();
    let rep = a.run(&["import", "endpoints", &ep_s, "--format", "json"]).json();
    assert_eq!(ids(&rep, "added"), vec![VALID_IDS[0]]);
    let from_ep = a.show(VALID_IDS[0])["record"].clone();

    let b = TempStore::init();
    b.import_valid_fixture();
    let from_band = b.show(VALID_IDS[0])["record"].clone();
    assert_eq!(from_ep["host"], from_band["host"], "same host structure (content address)");
    assert_eq!(from_ep["hop_length"], from_band["hop_length"]);
    assert_eq!(from_ep["provenance"]["importer"], "devi-endpoints-json");

    // After the band import, the endpoint file is a duplicate.
    let rep = b.run(&["import", "endpoints", &ep_s, "--format", "json"]).json();
    assert_eq!(len(&rep, "added"), 0);
    assert_eq!(rep["duplicates"][0][1], VALID_IDS[0]);
    assert_eq!(b.count(), 3);
}

#[test]
fn import_of_a_missing_file_or_directory_fails_and_names_it() {
    let s = TempStore::init();
    let missing = s.dir.path().join("no_such_band.json");
    let err = s.import_band(&missing, &[]).err();
    assert!(err.contains("no_such_band.json"), "{err}");
    let err = s.run(&["import", "devi", &s.dir.path().join("no_such_dir").to_string_lossy()]).err();
    assert!(err.contains("no_such_dir") && err.contains("missing"), "{err}");
    assert_eq!(s.count(), 0);
}

#[test]
fn mlip_outcome_files_are_checked_whole_then_written_once() {
    let s = TempStore::new();
    s.run(&["import", "devi", &devi_dir().to_string_lossy(), "--no-mlip"]).ok();
    let good = r#"{"parent":"devi2025:Li4P2S7","model":"x","version":"1","device":"cpu","protocol":"p","outcome":{"em":0.5}}"#;
    let failed = r#"{"parent":"devi2025:LiCoO2_1","model":"x","version":"1","device":"cpu","protocol":"p","outcome":{"em":null,"failure":"not converged","message":"fmax 0.3"}}"#;
    let file = s.dir.path().join("out.jsonl");
    let bad = good.replace("Li4P2S7", "nope");
    std::fs::write(&file, format!("{good}\n{failed}\n{bad}\n")).unwrap();
    let err = s.run(&["mlip", "import", &file.to_string_lossy()]).err();
    assert_contains_all(&err, &["out.jsonl", "outcome 3", "devi2025:nope", "no such record"], "a bad outcome");
    assert_eq!(s.log_ops().iter().filter(|o| *o == "mlip").count(), 0, "nothing written");
    std::fs::write(&file, format!("{good}\n{failed}\n")).unwrap();
    let rep = s.run(&["mlip", "import", &file.to_string_lossy(), "--format", "json"]).json();
    assert_eq!((rep["stored"].as_u64(), rep["failed"]["not converged"].as_u64()), (Some(1), Some(1)), "{rep}");
    let again = s.run(&["mlip", "import", &file.to_string_lossy(), "--format", "json"]).json();
    assert_eq!((again["stored"].as_u64(), again["already"].as_u64()), (Some(0), Some(2)), "{again}");
    let m = s.show("mlip:devi2025:Li4P2S7@x/p");
    assert_eq!(m["record"]["method"]["code"], "x/p");
    let cmp = s.run(&["mlip", "compare", "--overall", "--format", "json"]).json();
    assert_eq!((cmp[0]["n"].as_u64(), cmp[0]["failed"].as_u64()), (Some(1), Some(1)), "{cmp}");
}
