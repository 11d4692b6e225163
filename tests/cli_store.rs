//! The store through the CLI: init, opening non-stores, the process lock, schema versions,
//! edits with revisions, class regrouping, the audit log, and all-or-nothing imports under
//! `kill -9`.

mod common;

use common::*;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

#[test]
fn init_creates_an_empty_store_with_an_audit_entry() {
    let s = TempStore::new();
    let out = s.run(&["init"]).ok();
    assert!(out.contains("created") && out.contains(&s.db()), "{out}");
    assert!(s.path.join("data").is_dir() && s.path.join("hopdb.lock").is_file());
    let st = s.stats();
    assert_eq!(st["records"], 0);
    assert_eq!(s.log_ops(), vec!["init"]);
}

#[test]
fn init_twice_fails_and_keeps_the_existing_store() {
    let s = TempStore::init();
    s.import_valid_fixture();
    let err = s.run(&["init"]).err();
    assert!(err.contains(&s.db()), "the error names the path:\n{err}");
    assert_eq!(s.count(), 3, "the existing store is untouched");
    assert_eq!(s.log_ops(), vec!["init", "import"]);
}

#[test]
fn init_twice_says_the_store_already_exists() {
    let s = TempStore::init();
    let err = s.run(&["init"]).err();
    assert!(!err.contains("is not a hopdb store"), "misleading message for an existing store:\n{err}");
    assert!(err.contains("already"), "expected to be told a store already exists:\n{err}");
}

#[test]
fn init_into_a_non_empty_directory_fails_and_touches_nothing() {
    let s = TempStore::new();
    std::fs::create_dir_all(&s.path).unwrap();
    std::fs::write(s.path.join("notes.txt"), "keep me").unwrap();
    let err = s.run(&["init"]).err();
    assert_contains_all(&err, &[&s.db(), "not a hopdb store"], "init into a used directory");
    assert_eq!(std::fs::read_to_string(s.path.join("notes.txt")).unwrap(), "keep me");
    assert!(!s.path.join("data").exists());
}

#[test]
fn opening_a_path_that_is_not_a_store_fails_with_no_hopdb_store() {
    let s = TempStore::new();
    // A path that does not exist: every reading command fails, and none creates a store.
    for args in [
        vec!["stats"],
        vec!["show", "devi2025:x"],
        vec!["edit", "devi2025:x", "--em", "0.4", "--reason", "r"],
        vec!["log"],
        vec!["classes", "list"],
        vec!["classes", "set", "SPINELS", "SPINEL", "--reason", "r"],
    ] {
        let err = s.run(&args).err();
        assert_contains_all(&err, &["no hopdb store", &s.db(), "hopdb init"], &args.join(" "));
        assert!(!s.path.exists(), "`{}` created {}", args.join(" "), s.path.display());
    }
    // An empty directory, a directory with other files, and a regular file.
    let empty = s.dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let other = s.dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("readme.txt"), "not a store").unwrap();
    let file = s.dir.path().join("plain.txt");
    std::fs::write(&file, "not a store").unwrap();
    for p in [&empty, &other, &file] {
        let err = run_raw(&["--db", &p.to_string_lossy(), "stats"]).err();
        assert!(err.contains("no hopdb store"), "{}: {err}", p.display());
    }
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "not a store");
}

/// A process (not hopdb) that holds the store's lock: `sh` opens PATH/hopdb.lock on fd 9,
/// `flock -n 9` locks that open file, and the shell replaces itself with `sleep`, which keeps
/// fd 9 and so the lock, until it is killed.
struct LockHolder(Child);

impl LockHolder {
    fn take(store: &std::path::Path) -> LockHolder {
        let lock = store.join("hopdb.lock");
        let script = format!("exec 9>>'{}' && flock -n 9 && echo locked && exec sleep 60", lock.display());
        let mut child =
            StdCommand::new("sh").arg("-c").arg(script).stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().expect("sh runs");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).expect("read from lock holder");
        assert_eq!(line.trim(), "locked", "the test process could not take the lock (util-linux flock installed?)");
        LockHolder(child)
    }
}

impl Drop for LockHolder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_locked_store_fails_fast_with_in_use_and_works_once_released() {
    let s = TempStore::init();
    s.import_valid_fixture();
    let holder = LockHolder::take(&s.path);
    let band = fixture("band_valid.json");
    let band_s = band.to_string_lossy().into_owned();
    for args in [
        vec!["stats"],
        vec!["show", VALID_IDS[0]],
        vec!["import", "band", band_s.as_str()],
        vec!["edit", VALID_IDS[0], "--em", "0.4", "--reason", "r"],
        vec!["log"],
        vec!["init"],
    ] {
        let r = s.run(&args);
        let err = r.err();
        if args[0] != "init" {
            assert_contains_all(&err, &["in use by another hopdb process", &s.db()], &args.join(" "));
        }
        assert!(r.elapsed < Duration::from_secs(5), "`{}` took {:?} instead of failing fast", args.join(" "), r.elapsed);
    }
    drop(holder);
    // The lock dies with its holder: the store opens again, unchanged.
    let st = s.stats();
    assert_eq!(st["records"], 3);
    assert_eq!(s.show(VALID_IDS[0])["record"]["em"], 0.3, "the edit under lock did not happen");
    assert_eq!(s.log_ops(), vec!["init", "import"]);
}

/// Open the store's sled database (PATH/data) from the test, bypassing hopdb.
fn open_sled_directly(store: &std::path::Path) -> sled::Db {
    sled::Config::new()
        .path(store.join("data"))
        .open()
        .unwrap_or_else(|e| panic!("cannot open {}/data with sled: {e}", store.display()))
}

/// True when process `pid` holds a flock on `file`, according to /proc/locks
/// (`N: FLOCK ADVISORY WRITE PID MAJ:MIN:INODE START END`).
fn flock_held_by(file: &std::path::Path, pid: u32) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::metadata(file) else { return false };
    let suffix = format!(":{}", meta.ino());
    let locks = std::fs::read_to_string("/proc/locks").expect("/proc/locks is readable");
    locks.lines().any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f.len() >= 6 && f[1] == "FLOCK" && f[4] == pid.to_string() && f[5].ends_with(&suffix)
    })
}

#[test]
fn a_running_hopdb_import_holds_the_lock_against_other_hopdb_commands() {
    let s = TempStore::init();
    let work = tempfile::tempdir().unwrap();
    let big = work.path().join("big_band.json");
    std::fs::write(&big, synthetic_band_json(2000)).unwrap();
    let mut import = spawn_import(&s, &big);
    // Wait until the import holds the lock, watching /proc/locks (probing with `flock -n`
    // would take the lock for a moment and could make the import itself fail).
    let start = Instant::now();
    while !flock_held_by(&s.path.join("hopdb.lock"), import.id()) {
        assert!(import.try_wait().unwrap().is_none(), "the import ended before it was seen holding the lock");
        assert!(start.elapsed() < Duration::from_secs(20), "the import never took the lock");
        std::thread::sleep(Duration::from_millis(2));
    }
    let r = s.run(&["stats"]);
    if r.success() {
        // `stats` opened the store only after the import released the lock (on a loaded
        // machine the import can finish its 2,000 hops first; its process may still be
        // exiting): then it must see the whole import, never part of it.
        let out = r.stdout();
        assert!(out.lines().any(|l| l.contains("│ hops") && l.contains("2000")), "stats saw a partial import:\n{out}");
    } else {
        let err = r.err();
        assert!(err.contains("in use by another hopdb process"), "{err}");
        assert!(r.elapsed < Duration::from_secs(5), "took {:?}", r.elapsed);
    }
    assert!(import.wait().unwrap().success());
    assert_eq!(s.count(), 2000, "the import that held the lock completed");
}

#[test]
fn a_store_of_another_schema_version_is_refused() {
    let s = TempStore::init();
    s.import_valid_fixture();
    let key: &[u8] = b"m\0schema_version";
    let set_version = |v: u32| {
        let db = open_sled_directly(&s.path);
        let old = db.insert(key, v.to_be_bytes().to_vec()).unwrap();
        assert!(old.is_some(), "the store records its schema version under m\\0schema_version");
        db.flush().unwrap();
    };
    {
        let db = open_sled_directly(&s.path);
        assert_eq!(db.get(key).unwrap().unwrap().as_ref(), &hopdb::store::SCHEMA_VERSION.to_be_bytes(), "the schema version, big-endian u32");
    }
    set_version(99);
    for args in
        [vec!["stats"], vec!["show", VALID_IDS[0]], vec!["import", "band", &fixture("mixed_2_valid_1_invalid.json").to_string_lossy()]]
    {
        let err = s.run(&args).err();
        assert_contains_all(&err, &["schema version", "99", &s.db()], &args.join(" "));
    }
    // Nothing was written under the wrong version: back at the right version the store is as it was.
    set_version(hopdb::store::SCHEMA_VERSION);
    assert_eq!(s.count(), 3);
    assert_eq!(s.log_ops(), vec!["init", "import"]);
}

#[test]
fn a_schema_2_store_is_upgraded_in_place_when_opened() {
    let s = TempStore::init();
    s.import_valid_fixture();
    let q = ["query", "SELECT id, em FROM hops WHERE ion IN ('Li', 'Na', 'Mg') AND em < 10 ORDER BY id", "--format", "csv"];
    let expected = s.run(&q).ok();
    assert!(expected.lines().count() > 1, "{expected}");
    // Make it a schema-2 store: one key per index entry (`x`, `n`), no composite index, no
    // posting chunks (`X`, `N`, `C`), version 2.
    {
        let db = open_sled_directly(&s.path);
        let composite: Vec<_> = db.scan_prefix(b"C\0").keys().map(|k| k.unwrap()).collect();
        assert!(!composite.is_empty(), "a schema-6 store has composite posting chunks");
        for prefix in [&b"X\0"[..], b"N\0", b"C\0"] {
            for k in db.scan_prefix(prefix).keys() {
                db.remove(k.unwrap()).unwrap();
            }
        }
        for id in VALID_IDS {
            db.insert([&b"x\0source\0"[..], b"old\0", id.as_bytes()].concat(), &[] as &[u8]).unwrap();
            db.insert([&b"n\0em\0"[..], &[0x80; 8], b"\0", id.as_bytes()].concat(), &[] as &[u8]).unwrap();
        }
        db.insert(b"m\0schema_version", 2u32.to_be_bytes().to_vec()).unwrap();
        db.flush().unwrap();
    }
    // The next open upgrades it: the same answer, through the rebuilt composite index.
    assert_eq!(s.run(&q).ok(), expected);
    let explain = s.run(&["query", "EXPLAIN SELECT id FROM hops WHERE ion = 'Li' AND em < 10"]).ok();
    assert!(explain.contains("ion = 'Li' AND em < 10"), "{explain}");
    assert_eq!(s.log_ops(), vec!["init", "import", "upgrade"]);
    let db = open_sled_directly(&s.path);
    assert_eq!(db.get(b"m\0schema_version").unwrap().unwrap().as_ref(), &hopdb::store::SCHEMA_VERSION.to_be_bytes());
    for retired in [&b"x\0"[..], b"n\0", b"c\0"] {
        assert_eq!(db.scan_prefix(retired).count(), 0, "the one-key-per-entry indexes are removed");
    }
    // A chunk per composite term: fidelity, ion and source at least, one entry per record each.
    let terms: Vec<Vec<u8>> = db.scan_prefix(b"C\0").keys().map(|k| k.unwrap().to_vec()).collect();
    assert!(terms.len() >= 3, "{} composite chunks", terms.len());
    let fidelity_entries: u64 = db.scan_prefix(b"C\0fidelity\0").values().map(|v| v.unwrap()[0] as u64).sum();
    assert_eq!(fidelity_entries, VALID_IDS.len() as u64, "one fidelity entry per record");
}

#[test]
fn edit_appends_a_revision_and_show_reports_it() {
    let s = TempStore::init();
    s.import_valid_fixture();
    let id = VALID_IDS[0];
    let out = s.run(&["edit", id, "--em", "0.35", "--reason", "erratum, Table 2"]).ok();
    assert!(out.contains("1 revision(s)") && out.contains("0.35"), "{out}");
    let r = s.show(id)["record"].clone();
    assert_eq!(r["em"], 0.35);
    let revs = r["revisions"].as_array().unwrap();
    assert_eq!(revs.len(), 1);
    assert_eq!(revs[0]["field"], "em");
    assert_eq!(revs[0]["old"], "0.3");
    assert_eq!(revs[0]["new"], "0.35");
    assert_eq!(revs[0]["reason"], "erratum, Table 2");
    assert!(!revs[0]["at"].as_str().unwrap().is_empty());

    // A second edit, by sys_name, appends (two changes, two revisions); the first stays.
    s.run(&["edit", "LiF_vac_1", "--xc", "SCAN", "--add-flag", "checked", "--reason", "recomputed"]).ok();
    let r = s.show(id)["record"].clone();
    let revs = r["revisions"].as_array().unwrap();
    assert_eq!(revs.iter().map(|v| v["field"].as_str().unwrap()).collect::<Vec<_>>(), vec!["em", "xc", "flags"]);
    assert_eq!(r["method"]["xc"], "SCAN");
    assert_eq!(r["flags"], serde_json::json!(["checked"]));
    // The table view shows the history too.
    let table = s.run(&["show", id]).ok();
    assert_contains_all(&table, &["Revision history", "erratum, Table 2", "recomputed"], "show table");

    // Indexes follow the edit: stats count the new flag and XC; other records are untouched.
    let st = s.stats();
    assert_eq!(st["xc"]["SCAN"], 1);
    assert_eq!(st["xc"]["GGA"], 2);
    assert_eq!(st["flags"]["checked"], 1);
    assert_eq!(s.show(VALID_IDS[1])["record"]["revisions"].as_array().unwrap().len(), 0);
    assert_eq!(s.log_ops(), vec!["init", "import", "edit", "edit"]);
}

#[test]
fn invalid_edits_fail_and_change_nothing() {
    let s = TempStore::init();
    s.import_valid_fixture();
    let id = VALID_IDS[1];
    let before = s.show(id);
    let cases: &[(&[&str], &[&str])] = &[
        (&["--em", "-1", "--reason", "typo"], &["em", "non-negative", "-1"]),
        (&["--em", "NaN", "--reason", "typo"], &["em", "NaN"]),
        (&["--reason", "nothing"], &["nothing to edit"]),
        (&["--em", "0.45", "--reason", "same value"], &["em is already", "0.45"]),
        (&["--em", "0.5", "--reason", "  "], &["reason"]),
        (&["--remove-flag", "not-there", "--reason", "r"], &["no flag 'not-there'"]),
        (&["--state", "melted", "--reason", "r"], &["unknown state 'melted'"]),
        // One bad change spoils the whole edit: the valid --xc is not applied either.
        (&["--xc", "SCAN", "--em", "-2", "--reason", "r"], &["non-negative"]),
    ];
    for (extra, words) in cases {
        let mut args = vec!["edit", id];
        args.extend_from_slice(extra);
        let err = s.run(&args).err();
        assert_contains_all(&err, words, &args.join(" "));
        assert_eq!(s.show(id), before, "`{}` changed the record", args.join(" "));
    }
    let err = s.run(&["edit", "devi2025:nope", "--em", "0.4", "--reason", "r"]).err();
    assert!(err.contains("no record with id or sys_name 'devi2025:nope'"), "{err}");
    assert_eq!(s.log_ops(), vec!["init", "import"], "failed edits leave no audit entry");
}

#[test]
fn show_of_an_unknown_id_fails() {
    let s = TempStore::init();
    s.import_valid_fixture();
    for id in ["devi2025:nope", "nope", "LiF_vac_9"] {
        let err = s.run(&["show", id]).err();
        assert!(err.contains(&format!("no record with id or sys_name '{id}'")), "{err}");
        let err = s.run(&["show", id, "--format", "json"]).err();
        assert!(err.contains("no record"), "{err}");
    }
}

#[test]
fn classes_set_regroups_the_real_spinels_and_the_log_shows_every_write() {
    let s = TempStore::new();
    s.run(&["import", "devi", &devi_dir().to_string_lossy(), "--format", "json", "--no-mlip"]).json();
    s.run(&["edit", "devi2025:NaMn2O4", "--em", "0.5", "--reason", "check"]).ok();
    let before = s.stats();
    assert_eq!(before["class"]["SPINELS"], 4);
    let spinel_before = before["group"]["SPINEL"].as_u64().unwrap();

    let out = s.run(&["classes", "set", "SPINELS", "SPINEL-X", "--reason", "r"]).ok();
    assert!(out.contains("4 record(s) regrouped"), "{out}");
    let after = s.stats();
    assert_eq!(after["group"]["SPINEL-X"], 4);
    assert_eq!(after["group"]["SPINEL"].as_u64().unwrap(), spinel_before - 4, "the four left SPINEL");
    assert_eq!(after["class"]["SPINELS"], 4, "class labels as published do not change");
    assert_eq!(after["records"], DEVI_RECORDS);
    assert_eq!(sum_counts(&after["group"]), DEVI_RECORDS);

    // Each of the four (sys_names from tabulation.csv) carries a group revision.
    for sys in ["Mg0.148Ti2S4", "NaMn2O4", "KMn2O4", "Mn2O4_K"] {
        let r = s.show(&format!("devi2025:{sys}"))["record"].clone();
        assert_eq!(r["material"]["group"], "SPINEL-X", "{sys}");
        let last = r["revisions"].as_array().unwrap().last().cloned().unwrap();
        assert_eq!(
            (last["field"].as_str(), last["old"].as_str(), last["new"].as_str(), last["reason"].as_str()),
            (Some("group"), Some("SPINEL"), Some("SPINEL-X"), Some("r")),
            "{sys}"
        );
    }
    let list = s.run(&["classes", "list", "--format", "json"]).json();
    let row = list.as_array().unwrap().iter().find(|r| r["class label"] == "SPINELS").cloned().expect("SPINELS listed");
    assert_eq!(row["group"], "SPINEL-X");
    assert_eq!(row["hops"], 4);

    // Setting the same mapping again regroups nothing.
    let out = s.run(&["classes", "set", "SPINELS", "SPINEL-X", "--reason", "again"]).ok();
    assert!(out.contains("0 record(s) regrouped"), "{out}");

    let log = s.log();
    let ops: Vec<&str> = log.iter().map(|e| e["op"].as_str().unwrap()).collect();
    assert_eq!(ops, vec!["init", "import", "edit", "map-class", "map-class"]);
    assert_eq!(log[1]["records"], DEVI_RECORDS);
    assert_eq!(log[2]["records"], 1);
    assert_eq!(log[3]["records"], 4);
    assert!(log[3]["summary"].as_str().unwrap().contains("SPINELS"), "{}", log[3]);
    let seqs: Vec<u64> = log.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "audit sequence numbers increase: {seqs:?}");
    let table = s.run(&["log", "--limit", "2"]).ok();
    assert!(table.contains("map-class") && !table.contains("import"), "--limit 2 shows the last two:\n{table}");
}

/// Counts of a store that must agree with each other whatever happened to the last import.
fn consistent_count(s: &TempStore, pre: u64, big: u64) -> u64 {
    let st = s.stats();
    let n = st["records"].as_u64().unwrap();
    assert!(n == pre || n == pre + big, "record count {n} is neither {pre} (before) nor {} (after)", pre + big);
    for dim in ["fidelity", "ion", "class", "group", "xc"] {
        assert_eq!(sum_counts(&st[dim]), n, "index counts by {dim} disagree with the record count: {}", st[dim]);
    }
    assert_eq!(st["partition"]["train"], pre);
    let test = st["partition"]["test"].as_u64().unwrap_or(0);
    assert_eq!(test, n - pre, "partition index");
    assert_eq!(st["class"]["SYNTHETIC"].as_u64().unwrap_or(0), n - pre, "class index");
    assert_eq!(st["structures"], n, "one host per record");
    let imports = s.log_ops().iter().filter(|o| *o == "import").count() as u64;
    assert_eq!(imports, if n == pre { 1 } else { 2 }, "the audit entry is written with its batch");
    n
}

/// A store holding the 3 valid fixture hops, before a big import is killed.
fn store_with_fixture() -> TempStore {
    let s = TempStore::init();
    s.import_valid_fixture();
    s
}

/// A synthetic band file of `n` hops in a temporary directory (kept alive by the first value).
fn big_band_file(n: usize) -> (tempfile::TempDir, std::path::PathBuf) {
    let work = tempfile::tempdir().unwrap();
    let big = work.path().join("big_band.json");
    std::fs::write(&big, synthetic_band_json(n)).unwrap();
    (work, big)
}

fn spawn_import(s: &TempStore, file: &std::path::Path) -> Child {
    spawn_import_with(s, file, &[])
}

fn spawn_import_with(s: &TempStore, file: &std::path::Path, extra: &[&str]) -> Child {
    StdCommand::new(bin_path())
        .env_remove("HOPDB_DB")
        .args(["--db", &s.db(), "import", "band", &file.to_string_lossy(), "--partition", "test", "--format", "json"])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("hopdb starts")
}

#[test]
fn an_import_killed_with_sigkill_is_all_or_nothing() {
    const BIG: u64 = 4000;
    let (_work, big) = big_band_file(BIG as usize);

    // Calibration: the whole import, uninterrupted, adds every hop.
    let s = store_with_fixture();
    let t0 = Instant::now();
    let status = spawn_import(&s, &big).wait().unwrap();
    let full = t0.elapsed();
    assert!(status.success(), "the synthetic import succeeds when left alone");
    assert_eq!(consistent_count(&s, 3, BIG), 3 + BIG);
    drop(s);

    // Kill at fixed moments (reading and validating), and across the second half of the run,
    // where sled applies the batch and writes it out (under strace, its log writes span about
    // 55 % to 98 % of the run).
    let mut delays: Vec<Duration> = [50u64, 150, 400, 900].iter().map(|&ms| Duration::from_millis(ms)).collect();
    delays.extend([0.6, 0.7, 0.8, 0.9, 0.95].iter().map(|f| full.mul_f64(*f)));
    let mut outcomes = Vec::new();
    for d in delays {
        let s = store_with_fixture();
        let mut child = spawn_import(&s, &big);
        std::thread::sleep(d);
        let killed = child.try_wait().unwrap().is_none();
        let _ = child.kill(); // SIGKILL
        let status = child.wait().unwrap();
        let n = consistent_count(&s, 3, BIG);
        if !killed {
            assert!(status.success(), "the import finished before the kill at {d:?} but failed: {status}");
            assert_eq!(n, 3 + BIG);
        }
        // The store stays usable after the kill: a write goes through.
        s.run(&["edit", VALID_IDS[0], "--em", "0.31", "--reason", "after kill"]).ok();
        outcomes.push((d, killed, n));
    }
    eprintln!("full import {full:?}; (delay, killed while running, records): {outcomes:?}");
    assert!(outcomes.iter().any(|(_, killed, _)| *killed), "no kill landed while the import ran");
}

/// Keys of one keyspace (by its name in `hopdb stats --storage --format json`).
fn keyspace_keys(s: &TempStore, keyspace: &str) -> u64 {
    let st = s.run(&["stats", "--storage", "--format", "json"]).json();
    st["storage"].as_array().unwrap().iter().find(|u| u["keyspace"] == keyspace).map_or(0, |u| u["keys"].as_u64().unwrap())
}

/// A streamed import of many batches (a staged write) killed at any moment leaves exactly the
/// records that were there before, or all of them; the next open leaves no staging behind.
#[test]
fn a_staged_import_killed_with_sigkill_is_all_or_nothing() {
    const BIG: u64 = 3000;
    const BATCH: &str = "100";
    let (_work, big) = big_band_file(BIG as usize);
    let s = store_with_fixture();
    let t0 = Instant::now();
    let status = spawn_import_with(&s, &big, &["--batch-records", BATCH]).wait().unwrap();
    let full = t0.elapsed();
    assert!(status.success(), "the staged import succeeds when left alone");
    assert_eq!(consistent_count(&s, 3, BIG), 3 + BIG);
    assert_eq!(keyspace_keys(&s, "Staging"), 0, "a published import leaves no staging entries");
    assert_eq!(keyspace_keys(&s, "History"), 3 + BIG, "one history entry per inserted record");
    drop(s);

    let mut outcomes = Vec::new();
    for f in [0.2, 0.35, 0.5, 0.65, 0.8, 0.9, 0.97] {
        let s = store_with_fixture();
        let mut child = spawn_import_with(&s, &big, &["--batch-records", BATCH]);
        std::thread::sleep(full.mul_f64(f));
        let killed = child.try_wait().unwrap().is_none();
        let _ = child.kill(); // SIGKILL
        let status = child.wait().unwrap();
        let n = consistent_count(&s, 3, BIG);
        if !killed {
            assert!(status.success(), "the import finished before the kill at {f} but failed: {status}");
        }
        assert_eq!(keyspace_keys(&s, "Staging"), 0, "the open after the kill at {f} leaves no staging entries");
        assert_eq!(keyspace_keys(&s, "History"), n, "no history of an unpublished import is left (kill at {f})");
        let log = s.log();
        assert_eq!(log.iter().filter(|e| e["op"] == "import").count() as u64, if n == 3 { 1 } else { 2 }, "kill at {f}");
        // The store takes the same import again after a kill.
        if n == 3 {
            let st = spawn_import_with(&s, &big, &["--batch-records", BATCH]).wait().unwrap();
            assert!(st.success());
            assert_eq!(consistent_count(&s, 3, BIG), 3 + BIG, "a rerun after the kill at {f} imports everything");
        }
        outcomes.push((f, killed, n));
    }
    eprintln!("full import {full:?}; (fraction, killed while running, records): {outcomes:?}");
    assert!(outcomes.iter().any(|(_, killed, n)| *killed && *n == 3), "no kill landed while the batches were written");
}

/// An import that writes at least 10,000 records and at least doubles the store ends with a
/// compaction (its own audit entry, the store unchanged otherwise); `--no-compact` skips it.
#[test]
fn a_large_import_ends_with_a_compaction_unless_told_not_to() {
    let n = hopdb::import::COMPACT_AFTER_RECORDS as u64;
    let (_work, big) = big_band_file(n as usize);
    for (extra, ops) in [(vec![], vec!["init", "import", "import", "compact"]), (vec!["--no-compact"], vec!["init", "import", "import"])] {
        let s = store_with_fixture();
        let mut args = vec!["import", "band", big.to_str().unwrap(), "--partition", "test", "--format", "json"];
        args.extend(extra.iter().copied());
        let out = s.run(&args);
        out.ok();
        let err = out.stderr();
        assert_eq!(err.contains("compacted the store"), extra.is_empty(), "{err}");
        assert_eq!(s.log_ops(), ops);
        assert_eq!(consistent_count(&s, 3, n), 3 + n);
    }
}
