//! Hostile input through the binary (issue: hostile input): huge counts in headers, megabytes
//! of input where a token belongs, damaged stores, foreign CSV delimiters, bad numeric cells,
//! byte-order marks, and the CLI's own messages. Every failure exits 1 with a message under
//! 2 KB that names the file, the line or record, and the field, and leaves the store unchanged.

mod common;

use common::*;
use std::path::{Path, PathBuf};

/// Longest acceptable error message.
const MAX_MESSAGE: usize = 2048;

fn hostile(name: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/hostile").join(name);
    assert!(p.is_file(), "missing fixture {}", p.display());
    p
}

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// A store holding the three valid fixture hops, and its `stats` + audit log for comparisons.
fn seeded() -> (TempStore, (serde_json::Value, usize)) {
    let st = TempStore::init();
    st.import_valid_fixture();
    let state = (st.stats(), st.log().len());
    (st, state)
}

/// The run failed with exit code 1 and a short message containing every needle.
fn short_failure(run: &Run, needles: &[&str], what: &str) -> String {
    let err = run.err();
    assert_eq!(run.output.status.code(), Some(1), "{what}: exit code\n{err}");
    assert!(err.len() < MAX_MESSAGE, "{what}: a {}-byte message:\n{}", err.len(), &err[..err.len().min(3000)]);
    assert_contains_all(&err, needles, what);
    err
}

#[test]
fn huge_atom_counts_are_errors_not_allocations() {
    let (st, before) = seeded();
    let xyz = hostile("huge_count.xyz");
    let r = st.run(&["import", "xyz", &s(&xyz)]);
    short_failure(&r, &["huge_count.xyz", "line 1", "declares 1000000000000 atoms", "file ends after 1 atom lines"], "xyz count");

    let manifest = hostile("manifest_huge_counts.csv");
    let r = st.run(&["import", "manifest", &s(&manifest)]);
    short_failure(&r, &["manifest_huge_counts.csv", "POSCAR_huge_counts", "line 11", "of 7000000000008 sites"], "manifest count");

    for (file, needle) in [
        ("POSCAR_overflow_counts", "file ends after 2 of 18446744073709551614 sites"),
        ("POSCAR_wrapping_counts", "line 7: the atom counts add up to more than"),
        ("POSCAR_huge_counts", "file ends after 2 of 7000000000008 sites"),
    ] {
        let p = s(&hostile(file));
        let r = st.run(&["add", "--initial", &p, "--final", &p, "--ion", "Li", "--em", "0.5"]);
        let err = short_failure(&r, &[file, needle], file);
        assert!(!err.contains("--skip-invalid"), "`add` has no --skip-invalid:\n{err}");
    }
    assert_eq!((st.stats(), st.log().len()), before, "a rejected input changed the store");
    // A failed `add` into a store that did not exist leaves no store behind.
    let fresh = TempStore::new();
    let p = s(&hostile("POSCAR_wrapping_counts"));
    fresh.run(&["add", "--initial", &p, "--final", &p, "--ion", "Li", "--em", "0.5"]).err();
    assert!(!fresh.path.exists(), "an empty store was left behind");
}

#[test]
fn megabytes_of_input_are_quoted_as_a_short_window() {
    let (st, before) = seeded();
    let dir = tempfile::tempdir().unwrap();
    // A 10 MB first line where the atom count belongs.
    let garbage = dir.path().join("garbage.xyz");
    std::fs::write(&garbage, format!("{}\nLattice=\"1 0 0 0 1 0 0 0 1\"\nLi 0 0 0\n", "g".repeat(10 << 20))).unwrap();
    let r = st.run(&["import", "xyz", &s(&garbage)]);
    short_failure(&r, &["garbage.xyz", "line 1", "expected the atom count of frame 1", "(10485760 bytes)"], "10 MB count line");

    // A 5 MB element name in an atom line.
    let element = dir.path().join("element.xyz");
    let name = "Q".repeat(5 << 20);
    std::fs::write(
        &element,
        format!("2\nLattice=\"8 0 0 0 8 0 0 0 8\" Properties=species:S:1:pos:R:3 em=0.5 edge_id=1\nLi 0 0 0\n{name} 1 1 1\n"),
    )
    .unwrap();
    let r = st.run(&["import", "xyz", &s(&element)]);
    short_failure(&r, &["element.xyz", "unknown element", "line 4", "(5242880 bytes)"], "5 MB element");

    // A 100k-character query: a window around the error with line and column.
    let q = format!("SELECT id FROM hops WHERE {} = 1", "x".repeat(100_000));
    let r = st.run(&["query", &q]);
    short_failure(&r, &["unknown field", "(100000 bytes)", "line 1, column 27", "^"], "100k query");
    let q = format!("SELECT id FROM hops WHERE sys_name = '{}' AND em <<< 1", "a".repeat(100_000));
    let r = st.run(&["query", &q]);
    let err = short_failure(&r, &["line 1, column 1000", "..."], "error far into a long line");
    // The caret stands under the offending token of the window shown.
    let lines: Vec<&str> = err.lines().collect();
    let (src, caret) = (lines.iter().find(|l| l.starts_with("1 | ")).unwrap(), lines.iter().find(|l| l.contains('^')).unwrap());
    let at = caret.find('^').unwrap();
    assert_eq!(&src[at..at + 1], "<", "caret under the token:\n{err}");
    assert_eq!((st.stats(), st.log().len()), before);
}

#[test]
fn a_damaged_store_is_named_as_damaged_with_a_way_out() {
    let st = TempStore::init();
    st.run(&["import", "devi", &s(&devi_dir()), "--no-mlip"]).ok();
    let data = st.path.join("data");
    let db = data.join("db");
    let len = std::fs::metadata(&db).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&db).unwrap();
    f.set_len(len / 2).unwrap();
    drop(f);
    let check = |what: &str| {
        for args in [vec!["stats"], vec!["query", "SELECT COUNT(*) FROM hops"], vec!["show", "devi2025:LiCoO2_1"]] {
            let r = st.run(&args);
            let err = short_failure(&r, &[&st.db(), "is damaged", "backup", "export jsonl", "log"], what);
            assert!(!err.contains("create one with"), "{what}: suggests init over a damaged store:\n{err}");
            assert_eq!(err.matches("is damaged").count(), 1, "{what}: said twice:\n{err}");
        }
    };
    check("data file cut in half");
    // What is intact can still be read: the log and an export, with a warning.
    let r = st.run(&["log", "--format", "json"]);
    let log = r.json();
    assert!(r.stderr().contains("is damaged"), "{}", r.stderr());
    assert_eq!(log.as_array().unwrap()[0]["op"], "init", "{log}");
    let out = st.dir.path().join("rescue.jsonl");
    st.run(&["export", "jsonl", "--out", &s(&out)]).ok();
    assert!(out.is_file());
    // With sled's snapshot files gone as well.
    for e in std::fs::read_dir(&data).unwrap() {
        let p = e.unwrap().path();
        if p.file_name().unwrap().to_string_lossy().starts_with("snap.") {
            std::fs::remove_file(p).unwrap();
        }
    }
    check("data file cut in half, snapshot removed");
}

#[test]
fn tabulation_delimiters_and_bad_cells() {
    let comma = TempStore::init();
    comma.import_valid_fixture();
    // A semicolon-delimited tabulation enriches exactly like the comma one.
    let semi = TempStore::init();
    let r = semi.import_band(&fixture("band_valid.json"), &["--tabulation", &s(&hostile("tabulation_semicolon.csv")), "--partition", "train"]);
    r.ok();
    for id in VALID_IDS {
        let (a, b) = (comma.show(id), semi.show(id));
        assert_eq!(a["record"]["method"], b["record"]["method"], "{id}");
        assert_eq!(a["record"]["material"], b["record"]["material"], "{id}");
        assert_eq!(a["record"]["flags"], b["record"]["flags"], "{id}");
    }
    // A delimiter it cannot recognise: the header as parsed is shown.
    let st = TempStore::init();
    let r = st.import_band(&fixture("band_valid.json"), &["--tabulation", &s(&hostile("tabulation_pipe.csv"))]);
    short_failure(&r, &["tabulation_pipe.csv", "line 1: missing column 'CLASS'", "1 column(s)", "'CLASS|COMPOSITION|XC"], "pipe");
    // A barrier cell that is not a number is a bad cell, not a flag.
    let r = st.import_band(&fixture("band_valid.json"), &["--tabulation", &s(&hostile("tabulation_bad_barrier.csv"))]);
    short_failure(&r, &["tabulation_bad_barrier.csv", "line 2, column 'MIGRATION BARRIER(eV)'", "'abc' is not a number"], "bad cell");
    assert!(!st.path.join("data").exists() || st.count() == 0);
}

#[test]
fn byte_order_marks_are_accepted_by_every_reader() {
    let dir = tempfile::tempdir().unwrap();
    let bom = |src: &Path, name: &str| -> String {
        let mut b = b"\xef\xbb\xbf".to_vec();
        b.extend(std::fs::read(src).unwrap());
        let p = dir.path().join(name);
        std::fs::write(&p, b).unwrap();
        s(&p)
    };
    let st = TempStore::init();
    // devi band JSON (a stored fixture) with a BOM tabulation.
    let tab = bom(&fixture("tabulation.csv"), "tabulation.csv");
    let rep = st.import_band(&hostile("band_valid_bom.json"), &["--tabulation", &tab, "--format", "json"]).json();
    assert_eq!(rep["added"].as_array().unwrap().len(), 3, "{rep}");
    assert_eq!(st.show(VALID_IDS[0])["record"]["method"]["xc"], "GGA", "the BOM tabulation enriched the record");
    // Extended XYZ.
    let xyz = bom(&Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/litraj/nebBVSE_2records.xyz"), "f.xyz");
    let rep = st.run(&["import", "xyz", &xyz, "--format", "json"]).json();
    assert_eq!(rep["added"].as_array().unwrap().len(), 2, "{rep}");
    // Manifest CSV whose structures (CIF, POSCAR) carry BOMs too.
    let generic = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/generic");
    for f in ["LiF_vac_initial.cif", "LiF_vac_final.cif", "POSCAR_NaCl_initial", "NaCl_final.vasp"] {
        bom(&generic.join(f), f);
    }
    let manifest = bom(&generic.join("manifest.csv"), "manifest.csv");
    let rep = st.run(&["import", "manifest", &manifest, "--format", "json"]).json();
    assert_eq!(rep["added"].as_array().unwrap().len(), 2, "{rep}");
    // JSON lines: an export re-imported into a new store.
    let out = dir.path().join("all.jsonl");
    st.run(&["export", "jsonl", "--out", &s(&out)]).ok();
    let jsonl = bom(&out, "all_bom.jsonl");
    let other = TempStore::init();
    let rep = other.run(&["import", "jsonl", &jsonl, "--format", "json"]).json();
    assert_eq!(rep["added"].as_array().unwrap().len() as u64, st.count(), "{rep}");
}

#[test]
fn cli_messages_say_what_the_command_offers() {
    let st = TempStore::init();
    // `import` suggests --skip-invalid; `add` (which has no such flag) does not.
    let r = st.import_band(&fixture("mixed_2_valid_1_invalid.json"), &[]);
    short_failure(&r, &["--skip-invalid", "record 1 (LiF_mix_bad)"], "import");
    let g = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/generic");
    let r = st.run(&["add", "--initial", &s(&g.join("LiF_vac_initial.cif")), "--final", &s(&g.join("LiF_vac_final.cif")), "--ion", "Li", "--em", "-1"]);
    let err = short_failure(&r, &["field em", "negative"], "add");
    assert!(!err.contains("skip-invalid"), "{err}");
    // `query` runs several statements, `--single` refuses more than one.
    let help = run_raw(&["query", "--help"]).ok();
    assert_contains_all(&help, &["separated by ';'", "--single"], "query --help");
    let top = run_raw(&["--help"]).ok();
    assert!(top.contains("several separated by ';'"), "{top}");
    st.run(&["query", "SELECT COUNT(*) FROM hops; SHOW STATS"]).ok();
    let r = st.run(&["query", "--single", "SELECT COUNT(*) FROM hops;\n SHOW STATS"]);
    short_failure(&r, &["--single", "2 statements", "line 2, column 2"], "--single");
    st.run(&["query", "--single", "SELECT COUNT(*) FROM hops;"]).ok();
}
