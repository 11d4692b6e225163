//! Shared helpers of the CLI integration tests: the hopdb binary, temporary stores, running a
//! command and capturing its output, fixture paths, and a generator of large synthetic band
//! files.
#![allow(dead_code)]

use assert_cmd::Command;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

/// The real Devi et al. (2025) dataset, read in place (never copied into the repository).
pub const DEVI_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/devi2025");

/// Number of hops in the real dataset, and per partition.
pub const DEVI_RECORDS: u64 = 619;
/// MLIP records `import devi` links to them (published MACE-MP-0: 616 relaxed, 603 unrelaxed).
#[allow(dead_code)]
pub const DEVI_MLIP: u64 = 1219;
pub const DEVI_TRAIN: u64 = 559;
pub const DEVI_TEST: u64 = 60;

/// Path of the real dataset directory, checked to exist.
pub fn devi_dir() -> PathBuf {
    let p = PathBuf::from(DEVI_DIR);
    assert!(p.join("band_train.json").is_file(), "the devi2025 dataset is expected at {}", p.display());
    p
}

/// Path of a fixture under `fixtures/devi/`, checked to exist.
pub fn fixture(name: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/devi").join(name);
    assert!(p.is_file(), "missing fixture {}", p.display());
    p
}

/// Path of the hopdb binary built for these tests.
pub fn bin_path() -> PathBuf {
    assert_cmd::cargo::cargo_bin("hopdb")
}

/// A `hopdb` command with a clean environment (no `HOPDB_DB` leaking in from the caller).
pub fn hopdb_cmd() -> Command {
    let mut c = Command::cargo_bin("hopdb").expect("the hopdb binary is built");
    c.env_remove("HOPDB_DB");
    c
}

/// The captured result of one command.
pub struct Run {
    pub args: Vec<String>,
    pub output: Output,
    pub elapsed: Duration,
}

impl Run {
    pub fn success(&self) -> bool {
        self.output.status.success()
    }
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }
    fn describe(&self) -> String {
        format!(
            "hopdb {}\n  exit: {:?}\n  stdout:\n{}\n  stderr:\n{}",
            self.args.join(" "),
            self.output.status.code(),
            self.stdout(),
            self.stderr()
        )
    }
    /// Panic unless the command succeeded; returns stdout.
    pub fn ok(&self) -> String {
        assert!(self.success(), "expected success:\n{}", self.describe());
        self.stdout()
    }
    /// Panic unless the command failed with a non-zero exit code; returns stderr.
    pub fn err(&self) -> String {
        assert!(!self.success(), "expected failure:\n{}", self.describe());
        assert_ne!(self.output.status.code(), Some(0));
        assert!(!self.stderr().trim().is_empty(), "failure without a message:\n{}", self.describe());
        self.stderr()
    }
    /// stdout parsed as JSON (the command must have succeeded).
    pub fn json(&self) -> Value {
        let out = self.ok();
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.describe()))
    }
}

/// Run hopdb with these arguments (no `--db` added).
pub fn run_raw<S: AsRef<str>>(args: &[S]) -> Run {
    let args: Vec<String> = args.iter().map(|s| s.as_ref().to_string()).collect();
    let start = Instant::now();
    let output = hopdb_cmd().args(&args).timeout(Duration::from_secs(120)).output().expect("hopdb runs");
    Run { args, output, elapsed: start.elapsed() }
}

/// Panic unless `text` contains every one of `needles` (case-sensitive).
pub fn assert_contains_all(text: &str, needles: &[&str], what: &str) {
    for n in needles {
        assert!(text.contains(n), "{what}: expected to find {n:?} in:\n{text}");
    }
}

/// Sum of the counts of a JSON object of counts (`{"Li": 3, ...}`).
pub fn sum_counts(v: &Value) -> u64 {
    v.as_object().map(|m| m.values().map(|x| x.as_u64().expect("a count")).sum()).unwrap_or(0)
}

/// A store path inside a fresh temporary directory (the store itself is not created).
pub struct TempStore {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
}

impl TempStore {
    /// A path where no store exists yet.
    pub fn new() -> TempStore {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("store.hopdb");
        TempStore { dir, path }
    }

    /// A freshly initialised, empty store.
    pub fn init() -> TempStore {
        let s = TempStore::new();
        s.run(&["init"]).ok();
        s
    }

    pub fn db(&self) -> String {
        self.path.to_string_lossy().into_owned()
    }

    /// Run `hopdb --db PATH args...`.
    pub fn run<S: AsRef<str>>(&self, args: &[S]) -> Run {
        let mut all = vec!["--db".to_string(), self.db()];
        all.extend(args.iter().map(|s| s.as_ref().to_string()));
        run_raw(&all)
    }

    /// `stats --format json`, which must succeed.
    pub fn stats(&self) -> Value {
        self.run(&["stats", "--format", "json"]).json()
    }

    /// Number of records according to `stats`.
    pub fn count(&self) -> u64 {
        self.stats()["records"].as_u64().expect("stats.records is a number")
    }

    /// `show ID --format json` (record and host), which must succeed.
    pub fn show(&self, id: &str) -> Value {
        self.run(&["show", id, "--format", "json"]).json()
    }

    /// The audit log as JSON rows.
    pub fn log(&self) -> Vec<Value> {
        self.run(&["log", "--format", "json"]).json().as_array().expect("log is a JSON array").clone()
    }

    /// The `op` of every audit-log entry, oldest first.
    pub fn log_ops(&self) -> Vec<String> {
        self.log().iter().map(|e| e["op"].as_str().expect("op").to_string()).collect()
    }

    /// Import a band JSON file (with extra arguments); returns the run.
    pub fn import_band(&self, file: &Path, extra: &[&str]) -> Run {
        let mut a = vec!["import".to_string(), "band".to_string(), file.to_string_lossy().into_owned()];
        a.extend(extra.iter().map(|s| s.to_string()));
        self.run(&a)
    }

    /// Import the three-hop valid fixture with its tabulation, as the train partition.
    pub fn import_valid_fixture(&self) -> Value {
        let tab = fixture("tabulation.csv");
        let r = self.import_band(
            &fixture("band_valid.json"),
            &["--tabulation", &tab.to_string_lossy(), "--partition", "train", "--format", "json"],
        );
        let rep = r.json();
        assert_eq!(rep["added"].as_array().unwrap().len(), 3, "{rep}");
        rep
    }
}

/// Ids of the three hops of `fixtures/devi/band_valid.json`.
pub const VALID_IDS: [&str; 3] = ["devi2025:LiF_vac_1", "devi2025:LiF_vac_2", "devi2025:LiF_vac_3"];

/// A band JSON list of `n` distinct synthetic hops: a Li hop between two tetrahedral sites of
/// an fcc O4 host, in orthorhombic cells whose lattice lengths (6.0 to 12.3 A, 0.3 A steps)
/// differ for every hop, so no two hops are duplicates and every host is distinct.
pub fn synthetic_band_json(n: usize) -> String {
    const K: usize = 22;
    assert!(n <= K * K * K);
    let o_sites = [[0.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.5, 0.0, 0.5], [0.0, 0.5, 0.5]];
    let (ini, fin) = ([0.25, 0.25, 0.25], [0.75, 0.25, 0.25]);
    let recs: Vec<Value> = (0..n)
        .map(|i| {
            let len = |k: usize| 6.0 + 0.3 * k as f64;
            let (a, b, c) = (len(i % K), len((i / K) % K), len(i / (K * K)));
            let mut coords: Vec<[f64; 3]> = (0..5)
                .map(|k| {
                    let t = k as f64 / 4.0;
                    [ini[0] + t * (fin[0] - ini[0]), ini[1], ini[2]]
                })
                .collect();
            coords.extend(o_sites);
            let mut elements = vec!["Li"; 5];
            elements.extend(["O"; 4]);
            json!({
                "class": "SYNTHETIC",
                "sys_name": format!("synth_{i:05}"),
                "target": 0.1 + (i % 100) as f64 * 0.01,
                "formula": "Li5 O4",
                "jid": i,
                "atoms": {
                    "lattice_mat": [[a, 0.0, 0.0], [0.0, b, 0.0], [0.0, 0.0, c]],
                    "coords": coords,
                    "elements": elements,
                    "cartesian": false
                }
            })
        })
        .collect();
    serde_json::to_string(&recs).expect("encodes")
}

/// A fresh store in a temporary directory with the 619 devi2025 hops imported through the
/// library (keep the directory alive as long as the store).
pub fn devi_store() -> (tempfile::TempDir, hopdb::store::Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = hopdb::store::Store::create(dir.path().join("s")).unwrap();
    let (c, e) = hopdb::import::devi::read_dir_with(&devi_dir(), &store.class_groups().unwrap(), false).unwrap();
    hopdb::import::commit(&store, c, e, &Default::default(), "t").unwrap();
    (dir, store)
}
