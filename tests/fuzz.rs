//! Mutation fuzzing of every reader and of HopQL (issue: hostile input). Real inputs (the
//! devi2025 files in `../shared`, the fixtures, exported JSON lines) are mutated in
//! structure-aware ways (truncation, byte flips, swapped / repeated / deleted lines, numbers
//! replaced by NaN / inf / -0 / 1e308 / huge integers, deleted JSON fields, giant tokens, stray
//! bytes and byte-order marks) and fed to the readers; mutated queries go to the parser and,
//! when they parse, to the executor. Every case must
//!
//! * return an error or a valid result, never panic (an abort would end the test binary);
//! * allocate at most [`ALLOC_FACTOR`] times the input's size plus [`ALLOC_SLACK`] bytes on
//!   top of what was live before it (a counting global allocator measures the peak);
//! * produce error messages of at most [`MAX_MESSAGE`] bytes (per rejected record);
//! * leave the store unchanged when an import or a statement fails.
//!
//! `fuzz_short` runs in `make test` (a few thousand cases); `fuzz_long` is the long run
//! (`cargo test --test fuzz -- --ignored fuzz_long --nocapture`, in the test profile so that
//! integer overflow panics instead of wrapping; case counts from
//! `HOPDB_FUZZ_READER_CASES` / `HOPDB_FUZZ_QUERY_CASES`, default 1,000,000 and 100,000), whose
//! figures are in docs/FUZZING.md.

mod common;

use hopdb::import::{self, devi, generic, litraj, ImportError, ImportOptions};
use hopdb::query;
use hopdb::store::Store;
use hopdb::structure::io;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

// ---------------------------------------------------------------------------------------------
// A counting allocator: live bytes and the peak since the last reset.

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            if new_size >= layout.size() {
                let now = LIVE.fetch_add(new_size - layout.size(), Ordering::Relaxed) + new_size - layout.size();
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Peak extra allocation allowed per case: this many times the input's size...
const ALLOC_FACTOR: usize = 32;
/// ... plus this much (tables, the zstd context, a sled batch).
const ALLOC_SLACK: usize = 8 << 20;
/// Longest error message (per rejected record) a case may produce.
const MAX_MESSAGE: usize = 2048;

/// Run `f`, returning its result and the peak bytes it allocated above what was live before.
/// The location and message of the last panic (the hook keeps it; the run goes on).
static LAST_PANIC: std::sync::Mutex<String> = std::sync::Mutex::new(String::new());

/// Record panics instead of printing them, so a run reports every failing case at the end.
fn quiet_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !IN_CASE.load(Ordering::Relaxed) {
            // A failed check of the harness itself: report it as usual.
            return default(info);
        }
        let loc = info.location().map(|l| format!("{}:{}", l.file(), l.line())).unwrap_or_default();
        let msg = info.payload().downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| info.payload().downcast_ref::<String>().cloned()).unwrap_or_default();
        *LAST_PANIC.lock().unwrap_or_else(|e| e.into_inner()) = format!("{msg} at {loc}");
    }));
}

/// True while a case runs under `catch_unwind` (its panics are recorded, not printed).
static IN_CASE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// `catch_unwind` with the panic recorded quietly (see [`quiet_panics`]).
fn guarded<T>(f: impl FnOnce() -> T) -> std::thread::Result<T> {
    IN_CASE.store(true, Ordering::Relaxed);
    let out = catch_unwind(AssertUnwindSafe(f));
    IN_CASE.store(false, Ordering::Relaxed);
    out
}

fn last_panic() -> String {
    LAST_PANIC.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

fn measured<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let out = f();
    (out, PEAK.load(Ordering::Relaxed).saturating_sub(base))
}

/// Record a failed check of a case (the run goes on and reports every failure at the end).
macro_rules! check {
    ($failures:expr, $cond:expr, $($fmt:tt)+) => {
        if !$cond {
            let f = format!($($fmt)+);
            eprintln!("FAILURE: {f}");
            $failures.push(f);
        }
    };
}

// ---------------------------------------------------------------------------------------------
// Mutations.

const NUMBER_SWAPS: &[&str] = &[
    "NaN", "nan", "inf", "-inf", "Infinity", "-Infinity", "-0", "-0.0", "1e308", "-1e308", "1e-320", "0", "-1",
    "18446744073709551615", "18446744073709551616", "9223372036854775807", "-9223372036854775808", "1000000000000",
    "7000000000000", "99999999999999999999999999999", "1e999", "0x10", "1,5", "",
];
const WORD_SWAPS: &[&str] = &["X", "Xx", "Qq", "Li+", "li", "", "null", "true", "[]", "{}", "\"", "'", "\\", "\u{feff}", "é", "\0", ";", ",", "\t"];

/// One structure-aware mutation of `input`.
fn mutate_once(rng: &mut ChaCha8Rng, input: &[u8], json: bool) -> Vec<u8> {
    let mut out = input.to_vec();
    if out.is_empty() {
        return b"\xef\xbb\xbf".to_vec();
    }
    match rng.gen_range(0..12) {
        // Truncate.
        0 => out.truncate(rng.gen_range(0..out.len())),
        // Flip 1-8 bytes.
        1 => {
            for _ in 0..rng.gen_range(1..=8) {
                let i = rng.gen_range(0..out.len());
                out[i] ^= 1 << rng.gen_range(0..8);
            }
        }
        // Swap two lines, repeat a line, delete a line.
        2..=4 => {
            let mut lines: Vec<Vec<u8>> = out.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
            let n = lines.len();
            let (i, j) = (rng.gen_range(0..n), rng.gen_range(0..n));
            match rng.gen_range(0..3) {
                0 => lines.swap(i, j),
                1 => {
                    let l = lines[i].clone();
                    for _ in 0..rng.gen_range(1..=3) {
                        lines.insert(i, l.clone());
                    }
                }
                _ => {
                    lines.remove(i);
                }
            }
            out = lines.join(&b'\n');
        }
        // Replace a number by a hostile one.
        5 | 6 => {
            let spans = number_spans(&out);
            if let Some(&(s, e)) = spans.choose(rng) {
                let rep = NUMBER_SWAPS.choose(rng).unwrap_or(&"NaN");
                out.splice(s..e, rep.bytes());
            }
        }
        // Replace a word by a hostile one.
        7 => {
            let spans = word_spans(&out);
            if let Some(&(s, e)) = spans.choose(rng) {
                let rep = WORD_SWAPS.choose(rng).unwrap_or(&"X");
                out.splice(s..e, rep.bytes());
            }
        }
        // A giant token (letters, digits or a giant integer) at a token boundary.
        8 => {
            let len = *[1_000usize, 100_000, 1_000_000].choose(rng).unwrap_or(&1000);
            let c = *[b'A', b'9', b'x', b' '].choose(rng).unwrap_or(&b'A');
            let at = token_boundary(rng, &out);
            out.splice(at..at, std::iter::repeat_n(c, len));
        }
        // Stray bytes: NUL, invalid UTF-8, a BOM, CR.
        9 => {
            let stray: &[&[u8]] = &[b"\0", b"\xff", b"\xc3", b"\xef\xbb\xbf", b"\r", b"\r\n\r\n", b"\x1b[2J"];
            let at = rng.gen_range(0..=out.len());
            out.splice(at..at, stray.choose(rng).unwrap_or(&&b"\0"[..]).iter().copied());
        }
        // Delete a JSON field (structure-aware), else a token.
        10 if json => {
            if let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(&out) {
                delete_random_field(rng, &mut v);
                out = serde_json::to_vec(&v).unwrap_or(out);
            }
        }
        // Delete a token.
        _ => {
            let spans = word_spans(&out);
            if let Some(&(s, e)) = spans.choose(rng) {
                out.drain(s..e);
            }
        }
    }
    out
}

/// 1-3 mutations of `input`.
fn mutate(rng: &mut ChaCha8Rng, input: &[u8], json: bool) -> Vec<u8> {
    let mut out = mutate_once(rng, input, json);
    for _ in 0..rng.gen_range(0..=2) {
        out = mutate_once(rng, &out, json);
    }
    out
}

fn is_num_byte(b: u8) -> bool {
    b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E')
}

/// Byte spans of number-like tokens (a digit run with its sign, point and exponent).
fn number_spans(s: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        if s[i].is_ascii_digit() || (s[i] == b'-' && s.get(i + 1).is_some_and(u8::is_ascii_digit)) {
            let start = i;
            while i < s.len() && is_num_byte(s[i]) {
                i += 1;
            }
            out.push((start, i));
        } else {
            i += 1;
        }
    }
    out
}

/// Byte spans of alphanumeric words.
fn word_spans(s: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        if s[i].is_ascii_alphanumeric() || s[i] == b'_' {
            let start = i;
            while i < s.len() && (s[i].is_ascii_alphanumeric() || s[i] == b'_') {
                i += 1;
            }
            out.push((start, i));
        } else {
            i += 1;
        }
    }
    out
}

fn token_boundary(rng: &mut ChaCha8Rng, s: &[u8]) -> usize {
    let spans = word_spans(s);
    match spans.choose(rng) {
        Some(&(a, b)) => {
            if rng.gen_bool(0.5) {
                a
            } else {
                b
            }
        }
        None => rng.gen_range(0..=s.len()),
    }
}

fn delete_random_field(rng: &mut ChaCha8Rng, v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) if !m.is_empty() => {
            let keys: Vec<String> = m.keys().cloned().collect();
            let k = &keys[rng.gen_range(0..keys.len())];
            if rng.gen_bool(0.5) {
                m.remove(k);
            } else if let Some(child) = m.get_mut(k) {
                delete_random_field(rng, child);
            }
        }
        serde_json::Value::Array(a) if !a.is_empty() => {
            let i = rng.gen_range(0..a.len());
            if rng.gen_bool(0.2) {
                a.remove(i);
            } else {
                delete_random_field(rng, &mut a[i]);
            }
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------
// Readers under test.

/// The readers fuzzed, each fed one file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Reader {
    DeviBand,
    DeviEndpoints,
    Tabulation,
    Xyz,
    Cif,
    Poscar,
    ManifestCsv,
    ManifestJsonl,
    Jsonl,
}

impl Reader {
    const ALL: [Reader; 9] = [
        Reader::DeviBand,
        Reader::DeviEndpoints,
        Reader::Tabulation,
        Reader::Xyz,
        Reader::Cif,
        Reader::Poscar,
        Reader::ManifestCsv,
        Reader::ManifestJsonl,
        Reader::Jsonl,
    ];

    fn file_name(self) -> &'static str {
        match self {
            Reader::DeviBand => "band.json",
            Reader::DeviEndpoints => "endpoints.json",
            Reader::Tabulation => "tabulation.csv",
            Reader::Xyz => "frames.xyz",
            Reader::Cif => "s.cif",
            Reader::Poscar => "POSCAR",
            Reader::ManifestCsv => "manifest.csv",
            Reader::ManifestJsonl => "manifest.jsonl",
            Reader::Jsonl => "export.jsonl",
        }
    }

    fn json(self) -> bool {
        matches!(self, Reader::DeviBand | Reader::DeviEndpoints | Reader::ManifestJsonl | Reader::Jsonl)
    }
}

/// What a reader returned: candidates and rejections, or an error message.
type ReadOutcome = Result<(Vec<import::Candidate>, Vec<import::Rejection>), String>;

fn read(reader: Reader, file: &Path, groups: &BTreeMap<String, String>) -> ReadOutcome {
    let tab = Default::default();
    let ctx = devi::DeviContext { tabulation: &tab, class_groups: groups, dataset: "fuzz", imported_at: "2026-01-01T00:00:00Z".into() };
    let err = |e: ImportError| e.to_string();
    match reader {
        Reader::DeviBand => devi::read_band_file(&ctx, file, None).map_err(err),
        Reader::DeviEndpoints => devi::read_endpoints_file(&ctx, file, None).map_err(err),
        Reader::Tabulation => devi::read_tabulation(file).map(|_| (Vec::new(), Vec::new())).map_err(err),
        Reader::Xyz => litraj::read_xyz_file(file, &litraj::LitrajOptions::default()).map_err(err),
        Reader::Cif | Reader::Poscar => io::read_structure(file).map(|_| (Vec::new(), Vec::new())),
        Reader::ManifestCsv | Reader::ManifestJsonl => {
            let o = generic::GenericOptions { class_groups: groups.clone(), ..Default::default() };
            generic::read_manifest(file, &o).map_err(err)
        }
        Reader::Jsonl => hopdb::import::jsonl::read_jsonl(file).map_err(err),
    }
}

/// Seed inputs per reader: small real inputs (one or two records of the real dataset, the
/// fixtures, exported JSON lines of real records).
fn seeds(store: &Store) -> BTreeMap<Reader, Vec<Vec<u8>>> {
    let devi = common::devi_dir();
    let slices = |file: &str, picks: &[&[usize]]| -> Vec<Vec<u8>> {
        let all: Vec<serde_json::Value> = serde_json::from_slice(&std::fs::read(devi.join(file)).unwrap()).unwrap();
        picks.iter().map(|p| serde_json::to_vec_pretty(&p.iter().map(|&i| all[i].clone()).collect::<Vec<_>>()).unwrap()).collect()
    };
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let read = |p: PathBuf| std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let tab_text = std::fs::read_to_string(devi.join("tabulation.csv")).unwrap();
    let tab_head: String = tab_text.lines().take(6).collect::<Vec<_>>().join("\n");
    let ids: Vec<String> = store.records().take(3).map(|r| r.unwrap().id).collect();
    assert_eq!(ids.len(), 3, "the devi store holds records");
    let jsonl = |ids: &[String]| -> Vec<u8> {
        let mut out = Vec::new();
        hopdb::export::export_jsonl(store, ids.iter().cloned(), &mut out).unwrap();
        out
    };
    let mut m = BTreeMap::new();
    m.insert(Reader::DeviBand, slices("band_train.json", &[&[0], &[5, 6], &[100]]));
    m.insert(Reader::DeviEndpoints, slices("endpoints_test.json", &[&[0], &[1, 2]]));
    m.insert(Reader::Tabulation, vec![tab_head.into_bytes(), read(fixtures.join("devi/tabulation.csv"))]);
    m.insert(Reader::Xyz, vec![read(fixtures.join("litraj/nebBVSE_2records.xyz")), read(fixtures.join("litraj/nebDFT_trajectory.xyz"))]);
    m.insert(Reader::Cif, vec![read(fixtures.join("generic/LiF_vac_initial.cif")), read(fixtures.join("generic/LiF_Fm-3m_symmetry.cif"))]);
    m.insert(Reader::Poscar, vec![read(fixtures.join("generic/POSCAR_NaCl_initial")), read(fixtures.join("generic/NaCl_final.vasp"))]);
    m.insert(Reader::ManifestCsv, vec![read(fixtures.join("generic/manifest.csv"))]);
    m.insert(Reader::ManifestJsonl, vec![read(fixtures.join("generic/manifest.jsonl"))]);
    m.insert(Reader::Jsonl, vec![jsonl(&ids[..1]), jsonl(&ids)]);
    m
}

/// What the store holds, cheaply: records, hosts, audit entries.
fn store_state(store: &Store) -> (usize, usize, usize) {
    (store.count(), store.structure_ids().unwrap().len(), store.audit_log().unwrap().len())
}

/// Per-reader tallies.
#[derive(Default, Debug)]
struct Tally {
    cases: usize,
    errors: usize,
    accepted: usize,
    commits: usize,
    /// Largest peak allocation over the input's size, for inputs of 4 KB or more.
    peak_ratio: f64,
    /// Largest peak allocation of any case.
    peak_bytes: usize,
}

/// Fuzz the readers with `cases` mutated inputs; every `commit_every`-th case whose reader
/// returned something is also committed to `store` (which must be unchanged when that fails).
fn fuzz_readers(cases: usize, seed: u64, commit_every: usize, store: &Store, failures: &mut Vec<String>) -> BTreeMap<Reader, Tally> {
    let seeds = seeds(store);
    let groups = store.class_groups().unwrap();
    let work = tempfile::tempdir_in(shm_or_tmp()).unwrap();
    // Structure files the manifests refer to, beside them.
    for f in ["LiF_vac_initial.cif", "LiF_vac_final.cif", "POSCAR_NaCl_initial", "NaCl_final.vasp"] {
        std::fs::copy(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/generic").join(f), work.path().join(f)).unwrap();
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut tallies: BTreeMap<Reader, Tally> = BTreeMap::new();
    let mut state = store_state(store);
    let opts = ImportOptions::default();
    for case in 0..cases {
        if case > 0 && case % 100_000 == 0 {
            eprintln!("fuzz: {case} reader cases, {} failures so far", failures.len());
        }
        let reader = Reader::ALL[case % Reader::ALL.len()];
        let base = seeds[&reader].choose(&mut rng).unwrap();
        let input = mutate(&mut rng, base, reader.json());
        let file = work.path().join(reader.file_name());
        std::fs::write(&file, &input).unwrap();
        let (outcome, peak) = measured(|| guarded(|| read(reader, &file, &groups)));
        let describe = || format!("case {case} ({reader:?}, seed {seed}), input of {} bytes starting {:?}", input.len(), String::from_utf8_lossy(&input[..input.len().min(200)]));
        let Ok(outcome) = outcome else {
            check!(failures, false, "the reader panicked ({}) on {}", last_panic(), describe());
            continue;
        };
        let bound = ALLOC_FACTOR * input.len() + ALLOC_SLACK;
        check!(failures, peak <= bound, "the reader allocated {peak} bytes (bound {bound}) on {}", describe());
        let t = tallies.entry(reader).or_default();
        t.cases += 1;
        if input.len() >= 4096 {
            t.peak_ratio = t.peak_ratio.max(peak as f64 / input.len() as f64);
        }
        t.peak_bytes = t.peak_bytes.max(peak);
        match outcome {
            Err(msg) => {
                t.errors += 1;
                check!(failures, msg.len() <= MAX_MESSAGE, "a {}-byte error message on {}: {}...", msg.len(), describe(), msg.chars().take(300).collect::<String>());
            }
            Ok((cands, rejections)) => {
                t.accepted += 1;
                for r in &rejections {
                    let line = r.to_string();
                    check!(failures, line.len() <= MAX_MESSAGE, "a {}-byte rejection on {}", line.len(), describe());
                }
                if (cands.len() + rejections.len()) > 0 && rng.gen_ratio(1, commit_every as u32) {
                    t.commits += 1;
                    let Ok(res) = guarded(|| import::commit(store, cands, rejections, &opts, "fuzz")) else {
                        check!(failures, false, "commit panicked ({}) on {}", last_panic(), describe());
                        continue;
                    };
                    let now = store_state(store);
                    match res {
                        Ok(_) => state = now,
                        Err(e) => {
                            check!(failures, now == state, "a failed import changed the store on {}: {e}", describe());
                            let bound = (import::MAX_LISTED_REJECTIONS + 2) * (MAX_MESSAGE + 8);
                            check!(failures, e.to_string().len() <= bound, "a {}-byte import error on {}", e.to_string().len(), describe());
                        }
                    }
                }
            }
        }
    }
    tallies
}

fn shm_or_tmp() -> PathBuf {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    }
}

// ---------------------------------------------------------------------------------------------
// HopQL.

/// Seed statements covering the grammar.
const QUERY_SEEDS: &[&str] = &[
    "SELECT sys_name, ion, em FROM hops WHERE fidelity = 'dft' AND ion IN ('Mg','Ca') AND em < 0.65 ORDER BY em LIMIT 10",
    "SELECT group, COUNT(*) AS n, AVG(em), MIN(em), MAX(em) FROM hops WHERE elements HAS ALL 'Li','O' GROUP BY group ORDER BY n DESC",
    "SELECT * FROM hops WHERE sys_name LIKE 'LiCo%' OR (em BETWEEN 0.1 AND 0.5 AND NOT ion = 'Li')",
    "SELECT id, em FROM hops WHERE elements HAS ANY 'S', 'Se' AND nelements >= 3 ORDER BY em DESC, id LIMIT 5 OFFSET 2",
    "SELECT ion, COUNT(*) FROM hops WHERE partition = 'test' AND hop_length > 2.5 GROUP BY ion",
    "EXPLAIN SELECT id FROM hops WHERE ion = 'Mg' AND em < 0.3",
    "DESCRIBE hops",
    "SHOW STATS",
    "SELECT id FROM hops WHERE xc IS NULL AND flags HAS 'not-in-tabulation'",
    "CREATE SPLIT f1 FROM (SELECT * FROM hops WHERE fidelity = 'dft') STRATIFIED BY group TEST 10% SEED 42",
    "CREATE SPLIT f2 FROM (SELECT * FROM hops) GROUPED KFOLD 5 SEED 1",
    "CREATE SPLIT f3 FROM PARTITION",
    "SHOW SPLITS",
    "SHOW SPLIT f1",
    "SCENARIOS OF SPLIT f3",
    "DROP SPLIT f2",
    "SHOW MODELS",
    "SELECT sys_name, em FROM hops WHERE em > 1e308 OR em < -0.0 LIMIT 0",
    "SELECT id, em FROM hops WHERE ion = ? AND em < ? ORDER BY em LIMIT ?",
    "SELECT COUNT(*) FROM hops WHERE sys_name LIKE ? OR elements HAS ALL ?, ?",
];

/// Tokens that mutated queries draw from.
const QUERY_VOCAB: &[&str] = &[
    "SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "LIKE", "BETWEEN", "HAS", "ALL", "ANY", "GROUP", "BY", "ORDER", "LIMIT",
    "OFFSET", "DESC", "ASC", "COUNT(*)", "AVG(em)", "SUM(em)", "(", ")", ",", ";", "*", "=", "!=", "<", "<=", ">", ">=", "'Li'",
    "''", "'", "\"", "NULL", "IS", "hops", "em", "ion", "group", "elements", "id", "NaN", "inf", "1e308", "-0",
    "18446744073709551615", "99999999999999999999999", "0.65", "--", "/*", "é", "\u{feff}", "SPLIT", "KFOLD", "SEED", "TEST",
    "100%", "1000000%", "EXPLAIN", "CREATE", "DROP", "TRAIN", "AS", "WITH", "trees", "=", "?",
];

/// Statements worth executing: bounded cost and nothing written outside the store.
fn executable(stmt: &query::Statement) -> bool {
    use query::Statement as S;
    matches!(
        stmt,
        S::Select(_)
            | S::Explain(_)
            | S::Describe(_)
            | S::ShowStats
            | S::CreateSplit(_)
            | S::ShowSplits
            | S::ShowSplit(_)
            | S::DropSplit(_)
            | S::Scenarios(_)
            | S::ShowModels
            | S::DescribeModel(_)
    )
}

/// Hostile literals that keep a statement parseable: numbers and strings.
const NUMBER_LITERALS: &[&str] = &["0", "-0", "1e308", "-1e308", "1e-320", "18446744073709551615", "9223372036854775807", "99999999999999999999999", "0.0000001", "1e999"];
const STRING_LITERALS: &[&str] = &["''", "'Li'", "'Xx'", "'%'", "'_%_'", "'é漢'", "'''; DROP SPLIT f1 --'", "'\u{feff}Li'", "'a''b'"];

/// Replace one literal by a hostile literal of the same kind (the statement usually still parses).
fn swap_literal(rng: &mut ChaCha8Rng, q: &str) -> String {
    let bytes = q.as_bytes();
    let nums = number_spans(bytes);
    let mut strings = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\'' {
            let start = i;
            i += 1;
            while i < bytes.len() && bytes[i] != b'\'' {
                i += 1;
            }
            strings.push((start, (i + 1).min(bytes.len())));
        }
        i += 1;
    }
    let pick_string = !strings.is_empty() && (nums.is_empty() || rng.gen_bool(0.5));
    let (spans, pool): (&[(usize, usize)], &[&str]) = if pick_string { (&strings, STRING_LITERALS) } else { (&nums, NUMBER_LITERALS) };
    let Some(&(a, b)) = spans.choose(rng) else { return q.to_string() };
    let rep = if pick_string && rng.gen_bool(0.1) { format!("'{}'", "s".repeat(100_000)) } else { pool.choose(rng).unwrap_or(&"0").to_string() };
    format!("{}{}{}", &q[..a], rep, &q[b..])
}

fn mutate_query(rng: &mut ChaCha8Rng, q: &str) -> String {
    if rng.gen_bool(0.4) {
        return swap_literal(rng, q);
    }
    let mut toks: Vec<String> = q.split_inclusive([' ', '(', ')', ',']).map(str::to_string).collect();
    for _ in 0..rng.gen_range(1..=2) {
        let n = toks.len().max(1);
        let i = rng.gen_range(0..n);
        match rng.gen_range(0..7) {
            0 if !toks.is_empty() => {
                toks.remove(i);
            }
            1 if !toks.is_empty() => {
                let t = toks[i].clone();
                toks.insert(i, t);
            }
            2 if toks.len() > 1 => {
                let j = (i + 1) % toks.len();
                toks.swap(i, j)
            }
            3 => toks.insert(i.min(toks.len()), format!("{} ", QUERY_VOCAB.choose(rng).unwrap_or(&"("))),
            4 if !toks.is_empty() => toks[i] = format!("{} ", QUERY_VOCAB.choose(rng).unwrap_or(&")")),
            5 => {
                let len = *[100usize, 10_000, 100_000].choose(rng).unwrap_or(&100);
                let giant = match rng.gen_range(0..3) {
                    0 => format!("'{}' ", "a".repeat(len)),
                    1 => format!("{} ", "9".repeat(len)),
                    _ => format!("{} ", "x".repeat(len)),
                };
                toks.insert(i.min(toks.len()), giant);
            }
            _ => {
                let s: String = toks.concat();
                let cut = rng.gen_range(0..=s.len());
                let cut = (0..=cut).rev().find(|&c| s.is_char_boundary(c)).unwrap_or(0);
                toks = vec![s[..cut].to_string()];
            }
        }
    }
    toks.concat()
}

/// A hostile value for a bound parameter.
fn random_param(rng: &mut ChaCha8Rng) -> hopdb::table::Value {
    use hopdb::table::Value;
    match rng.gen_range(0..7) {
        0 => Value::Null,
        1 => Value::Bool(rng.gen_bool(0.5)),
        2 => Value::Int(*[0i64, -1, i64::MAX, i64::MIN, 1_000_000_000_000].choose(rng).unwrap_or(&0)),
        3 => Value::Num(*[0.0, -0.0, 1e308, f64::NAN, f64::INFINITY, 0.65, -1e-320].choose(rng).unwrap_or(&0.0)),
        4 => Value::Str(STRING_LITERALS.choose(rng).unwrap_or(&"''").to_string()),
        5 => Value::Str("x".repeat(100_000)),
        _ => Value::List(vec!["Li".into(), "O".into(), "'; DROP SPLIT f1 --".into()]),
    }
}

/// Fuzz the parser and executor with `cases` mutated statements against `store`.
fn fuzz_queries(cases: usize, seed: u64, store: &Store, failures: &mut Vec<String>) -> (usize, usize, usize) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut parsed, mut executed) = (0, 0);
    let mut slowest = (0.0f64, String::new());
    for case in 0..cases {
        if case > 0 && case % 10_000 == 0 {
            eprintln!("fuzz: {case} statements, {} failures so far", failures.len());
        }
        let seed_query = QUERY_SEEDS[rng.gen_range(0..QUERY_SEEDS.len())];
        let q = mutate_query(&mut rng, seed_query);
        let describe = || format!("query case {case} (seed {seed}): {:?}", q.chars().take(300).collect::<String>());
        // A third of the cases bind random values to the statement's placeholders ('?' appears
        // in the vocabulary and in some seeds).
        let params: Vec<hopdb::table::Value> = if rng.gen_ratio(1, 3) { (0..rng.gen_range(0..4)).map(|_| random_param(&mut rng)).collect() } else { Vec::new() };
        let started = Instant::now();
        let (res, peak) = measured(|| guarded(|| if params.is_empty() { query::parse_statements(&q) } else { query::parse_statements_bound(&q, &params) }));
        let Ok(stmts) = res else {
            check!(failures, false, "the parser panicked ({}) on {}", last_panic(), describe());
            continue;
        };
        check!(failures, peak <= ALLOC_FACTOR * q.len() + ALLOC_SLACK, "the parser allocated {peak} bytes on {}", describe());
        for (_, s) in stmts {
            match s {
                Err(e) => {
                    let msg = e.to_string();
                    check!(failures, msg.len() <= MAX_MESSAGE, "a {}-byte query error on {}", msg.len(), describe());
                    check!(failures, e.line >= 1 && e.column >= 1, "no line and column on {}", describe());
                }
                Ok(stmt) => {
                    parsed += 1;
                    if !executable(&stmt) {
                        continue;
                    }
                    let before = (store_state(store), split_names(store));
                    let Ok(out) = guarded(|| query::execute(store, &stmt)) else {
                        check!(failures, false, "the executor panicked ({}) on {}", last_panic(), describe());
                        continue;
                    };
                    executed += 1;
                    if let Err(e) = out {
                        let msg = e.to_string();
                        check!(failures, msg.len() <= MAX_MESSAGE, "a {}-byte execution error on {}", msg.len(), describe());
                        check!(failures, (store_state(store), split_names(store)) == before, "a failed statement changed the store on {}", describe());
                    }
                }
            }
        }
        let took = started.elapsed().as_secs_f64();
        if took > slowest.0 {
            slowest = (took, describe());
        }
        if took > 5.0 {
            eprintln!("fuzz: slow statement ({took:.1} s): {}", describe());
        }
    }
    eprintln!("fuzz: slowest statement {:.2} s: {}", slowest.0, slowest.1);
    (cases, parsed, executed)
}

/// Split names in the store (a failed statement must leave them as they were).
fn split_names(store: &Store) -> Vec<String> {
    hopdb::split::list(store).unwrap().into_iter().map(|s| s.name).collect()
}

fn report(tallies: &BTreeMap<Reader, Tally>, queries: (usize, usize, usize), secs: f64) -> String {
    let mut out = String::new();
    let total: usize = tallies.values().map(|t| t.cases).sum();
    for (r, t) in tallies {
        out.push_str(&format!(
            "{r:?}: {} cases, {} errors, {} read, {} committed; peak allocation at most {:.1}x the input (inputs >= 4 KB), {:.1} MB\n",
            t.cases, t.errors, t.accepted, t.commits, t.peak_ratio, t.peak_bytes as f64 / 1e6
        ));
    }
    out.push_str(&format!("readers: {total} cases; HopQL: {} statements, {} parsed, {} executed; {secs:.0} s\n", queries.0, queries.1, queries.2));
    out
}

#[test]
fn fuzz_short() {
    let (_dir, store) = common::devi_store();
    let t0 = Instant::now();
    quiet_panics();
    let mut failures = Vec::new();
    let tallies = fuzz_readers(2_700, 7, 9, &store, &mut failures);
    let q = fuzz_queries(1_500, 7, &store, &mut failures);
    eprintln!("{}", report(&tallies, q, t0.elapsed().as_secs_f64()));
    assert!(failures.is_empty(), "{} failing cases:\n{}", failures.len(), failures.join("\n"));
    for r in Reader::ALL {
        let t = &tallies[&r];
        assert!(t.errors > 0 && t.accepted + t.errors == t.cases, "{r:?}: {t:?}");
    }
    assert!(q.1 > 400 && q.2 > 300, "too few mutated queries parsed or ran: {q:?}");
}

#[test]
#[ignore = "the long fuzz run, about an hour on one core: cargo test --test fuzz -- --ignored fuzz_long --nocapture"]
fn fuzz_long() {
    let env = |k: &str, d: usize| std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d);
    let (readers, queries, seed) = (env("HOPDB_FUZZ_READER_CASES", 1_000_000), env("HOPDB_FUZZ_QUERY_CASES", 100_000), env("HOPDB_FUZZ_SEED", 1) as u64);
    let (_dir, store) = common::devi_store();
    let t0 = Instant::now();
    quiet_panics();
    let mut failures = Vec::new();
    let tallies = fuzz_readers(readers, seed, 97, &store, &mut failures);
    let q = fuzz_queries(queries, seed, &store, &mut failures);
    println!("{}", report(&tallies, q, t0.elapsed().as_secs_f64()));
    assert!(failures.is_empty(), "{} failing cases (the first 30):\n{}", failures.len(), failures.iter().take(30).cloned().collect::<Vec<_>>().join("\n"));
}
