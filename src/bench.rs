//! Built-in benchmarks behind `hopdb bench`: whole-operation timings on real and synthetic
//! data, reported as medians over several runs (criterion benches in `benches/` cover the
//! same operations with statistics).

use crate::import::{self, ImportOptions};
use crate::store::Store;
use std::path::Path;
use std::time::Instant;

/// One measured import.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ImportRun {
    /// Records written.
    pub records: usize,
    /// Wall seconds for reading + validating + committing.
    pub seconds: f64,
    /// Store size on disk afterwards, bytes.
    pub bytes_on_disk: u64,
}

impl ImportRun {
    /// Records per second.
    pub fn rate(&self) -> f64 {
        self.records as f64 / self.seconds
    }
}

/// Median of a list of numbers (NaN when empty).
pub fn median(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    let mut v = xs.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

fn dir_size(p: &Path) -> u64 {
    let mut total = 0;
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            let m = match e.metadata() {
                Ok(m) => m,
                Err(_) => continue,
            };
            total += if m.is_dir() { dir_size(&e.path()) } else { m.len() };
        }
    }
    total
}

/// Import the devi2025 directory into a fresh store under `scratch`.
pub fn import_devi(dataset: &Path, scratch: &Path) -> anyhow::Result<ImportRun> {
    let t = Instant::now();
    let store = Store::create(scratch)?;
    let groups = store.class_groups()?;
    let (c, e) = import::devi::read_dir(dataset, &groups)?;
    let rep = import::commit(&store, c, e, &ImportOptions::default(), "bench")?;
    let seconds = t.elapsed().as_secs_f64();
    drop(store);
    Ok(ImportRun { records: rep.added.len(), seconds, bytes_on_disk: dir_size(scratch) })
}

/// Generate `n` synthetic BVSE-like hops and import them into a fresh store under `scratch`
/// (generation is not timed).
pub fn import_synthetic(n: usize, seed: u64, scratch: &Path) -> anyhow::Result<ImportRun> {
    let cands = crate::synthetic::bvse_like_corpus(n, seed);
    let t = Instant::now();
    let store = Store::create(scratch)?;
    let rep = import::commit(&store, cands, vec![], &ImportOptions::default(), "bench")?;
    let seconds = t.elapsed().as_secs_f64();
    drop(store);
    Ok(ImportRun { records: rep.added.len(), seconds, bytes_on_disk: dir_size(scratch) })
}
