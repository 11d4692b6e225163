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

pub use crate::metrics::median;

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

/// Write the synthetic corpus of [`import_synthetic`] (`n` hops from `seed`) as LiTraj-style
/// extended XYZ, one centroid frame per hop, generated and written one host at a time (a
/// 1.2M-frame file takes no more memory than a small one). The frames leave out the import
/// time, so the bytes depend on `n` and `seed` alone. Returns the frames written.
pub fn write_synthetic_xyz(n: usize, seed: u64, out: &mut dyn std::io::Write) -> std::io::Result<usize> {
    let mut frames = 0;
    for mut c in crate::synthetic::bvse_like_stream(n, seed) {
        c.record.provenance.imported_at.clear();
        out.write_all(crate::export::xyz_frame(&c.record, &c.host).as_bytes())?;
        frames += 1;
    }
    out.flush()?;
    Ok(frames)
}

/// Timings of the model pipeline on the devi2025 hops, `runs` times each (medians are taken
/// by the caller): descriptors of all hops (computed, not read from the cache), a fit of the
/// random forest and of the boosted trees with the settings `TUNE` picks on the paper's
/// training partition, and one full default `TUNE` of each (5-fold grouped CV, 12 points).
#[derive(Clone, Debug, serde::Serialize)]
pub struct ModelTimings {
    /// `(what, seconds of each run)`.
    pub rows: Vec<(String, Vec<f64>)>,
}

/// Measure [`ModelTimings`]: `runs` runs of the descriptor and fit timings, `tune_runs` runs
/// of each TUNE (0 skips them).
pub fn model_timings(dataset: &Path, runs: usize, tune_runs: usize) -> anyhow::Result<ModelTimings> {
    use crate::model::{self, Grid, Kind, Params};
    let dir = tempfile::tempdir()?;
    let store = Store::create(dir.path().join("store"))?;
    let (c, e) = import::devi::read_dir(dataset, &store.class_groups()?)?;
    import::commit(&store, c, e, &ImportOptions::default(), "bench")?;
    let mut ids: Vec<String> = store.records().map(|r| r.map(|r| r.id)).collect::<Result<_, _>>()?;
    ids.sort();
    let mut rows = Vec::new();
    let mut secs = Vec::new();
    let mut fm = None;
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        fm = Some(crate::features::compute_many(&store, &ids)?);
        secs.push(t.elapsed().as_secs_f64());
    }
    let fm = fm.expect("at least one run");
    rows.push((format!("descriptors of {} hops (hop-v1, {} columns)", ids.len(), fm.names.len()), secs));
    let train: Vec<usize> = ids.iter().enumerate().filter(|(_, id)| store.get(id).ok().flatten().is_some_and(|r| r.partition == Some(crate::record::SourcePartition::Train))).map(|(i, _)| i).collect();
    let x: Vec<Vec<f64>> = train.iter().map(|&i| fm.rows[i].clone()).collect();
    let y: Vec<f64> = train.iter().map(|&i| store.get(&ids[i]).ok().flatten().map_or(f64::NAN, |r| r.em)).collect();
    let groups: Vec<String> = {
        let recs: Vec<_> = train.iter().map(|&i| store.record(&ids[i])).collect::<Result<_, _>>()?;
        let comp = crate::split::host_components(&recs);
        recs.iter().map(|r| comp.get(&r.id).cloned().unwrap_or_default()).collect()
    };
    let settings: [(Kind, &[(&str, &str)]); 2] = [
        (Kind::RandomForest, &[("trees", "300"), ("mtry", "0.25"), ("min_samples_leaf", "2")]),
        (Kind::BoostedTrees, &[("trees", "500"), ("max_depth", "4"), ("learning_rate", "0.03"), ("colsample", "0.4")]),
    ];
    for (kind, kv) in settings {
        let map = kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let p = Params::parse(kind, &map)?;
        let mut secs = Vec::new();
        for _ in 0..runs.max(1) {
            let t = Instant::now();
            model::fit(&x, &y, &p)?;
            secs.push(t.elapsed().as_secs_f64());
        }
        rows.push((format!("fit {p} on {} hops", x.len()), secs));
    }
    for kind in [Kind::RandomForest, Kind::BoostedTrees] {
        let grid = Grid::default_for(kind);
        let mut secs = Vec::new();
        for _ in 0..tune_runs {
            let t = Instant::now();
            model::tune(kind, &x, &y, Some(&groups), &grid, 5, model::DEFAULT_SEED)?;
            secs.push(t.elapsed().as_secs_f64());
        }
        if tune_runs > 0 {
            rows.push((format!("TUNE {kind}: default grid ({} points) x 5 grouped folds", grid.points().len()), secs));
        }
    }
    Ok(ModelTimings { rows })
}

/// One hop timed by [`bvse_timings`].
#[derive(Clone, Debug, serde::Serialize)]
pub struct BvseHopTiming {
    /// jid in `band_train.json`.
    pub jid: i64,
    /// System name.
    pub sys_name: String,
    /// Host atoms.
    pub host_atoms: usize,
    /// Median ms per hop (oxidation states + set-up + NEB), recipe `hopdb`.
    pub hopdb_ms: f64,
    /// Same, recipe `ions`.
    pub ions_ms: f64,
    /// Barrier with recipe `ions` (eV).
    pub ions_em: f64,
    /// Seconds of the Python reference (`ions`) on this hop, when it was run.
    pub python_s: Option<f64>,
    /// The Python reference's barrier (eV), when it was run.
    pub python_em: Option<f64>,
}

/// Result of [`bvse_timings`].
#[derive(Clone, Debug, serde::Serialize)]
pub struct BvseTimings {
    /// Per hop.
    pub hops: Vec<BvseHopTiming>,
    /// Median over hops of the per-hop medians, recipe `hopdb` (ms).
    pub hopdb_median_ms: f64,
    /// Same, recipe `ions` (ms).
    pub ions_median_ms: f64,
    /// Median Python seconds per hop over the hops it computed, when it was run.
    pub python_median_s: Option<f64>,
    /// Python median / hopdb `ions` median over the hops both computed.
    pub speedup_vs_python: Option<f64>,
}

/// Time the BVSE engine per hop on the devi2025 training hops whose host has
/// `min_atoms..=max_atoms` atoms (first `max_hops` by jid that both recipes can compute),
/// `reps` runs each, one thread; oxidation states are assigned in every run. With `python`
/// (an interpreter with `ions`, ASE and pymatgen), `scripts/bvse_reference.py` is run on the
/// same hops in the same invocation for the ratio (a test oracle, never a dependency).
pub fn bvse_timings(dataset: &Path, min_atoms: usize, max_atoms: usize, max_hops: usize, reps: usize, python: Option<&Path>) -> anyhow::Result<BvseTimings> {
    use crate::bvse::{self, Recipe};
    let file = dataset.join("band_train.json");
    let text = std::fs::read_to_string(&file).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
    let v: serde_json::Value = serde_json::from_str(&text)?;
    let mut recs: Vec<&serde_json::Value> = v.as_array().ok_or_else(|| anyhow::anyhow!("{}: not a list", file.display()))?.iter().collect();
    recs.sort_by_key(|r| r["jid"].as_i64().unwrap_or(i64::MAX));
    let time_hop = |host: &crate::structure::Structure, ion, ini, fin, recipe: Recipe| -> Option<(f64, f64)> {
        let mut t = Vec::new();
        let mut em = f64::NAN;
        for _ in 0..reps.max(1) {
            let t0 = Instant::now();
            let r = bvse::prepare_hop(host, ion, ini, fin, recipe).and_then(|p| p.run()).ok()?;
            t.push(t0.elapsed().as_secs_f64() * 1e3);
            em = r.em;
        }
        Some((median(&t), em))
    };
    let mut hops = Vec::new();
    for r in recs {
        if hops.len() >= max_hops {
            break;
        }
        let Ok(band) = crate::import::devi::jarvis_structure(&r["atoms"], "atoms") else { continue };
        let Ok((ion, host, ini, fin)) = crate::import::devi::split_band(&band) else { continue };
        if host.len() < min_atoms || host.len() > max_atoms {
            continue;
        }
        let Some((ions_ms, ions_em)) = time_hop(&host, ion, ini, fin, Recipe::Ions) else { continue };
        let Some((hopdb_ms, _)) = time_hop(&host, ion, ini, fin, Recipe::Hopdb) else { continue };
        hops.push(BvseHopTiming {
            jid: r["jid"].as_i64().unwrap_or(-1),
            sys_name: r["sys_name"].as_str().unwrap_or("").to_string(),
            host_atoms: host.len(),
            hopdb_ms,
            ions_ms,
            ions_em,
            python_s: None,
            python_em: None,
        });
    }
    if let Some(py) = python {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/bvse_reference.py");
        let out = tempfile::NamedTempFile::new()?;
        let jids = hops.iter().map(|h| h.jid.to_string()).collect::<Vec<_>>().join(",");
        let status = std::process::Command::new(py).arg(&script).arg("--data").arg(&file).arg("--jids").arg(&jids).arg("--out").arg(out.path()).status()?;
        if !status.success() {
            anyhow::bail!("the Python reference failed ({status})");
        }
        let res: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.path())?)?;
        for h in &mut hops {
            if let Some(p) = res.as_array().and_then(|a| a.iter().find(|x| x["jid"].as_i64() == Some(h.jid))) {
                if p["barrier"].is_number() {
                    h.python_s = p["seconds"].as_f64();
                    h.python_em = p["barrier"].as_f64();
                }
            }
        }
    }
    let hopdb_median_ms = median(&hops.iter().map(|h| h.hopdb_ms).collect::<Vec<_>>());
    let ions_median_ms = median(&hops.iter().map(|h| h.ions_ms).collect::<Vec<_>>());
    let both: Vec<&BvseHopTiming> = hops.iter().filter(|h| h.python_s.is_some()).collect();
    let python_median_s = (!both.is_empty()).then(|| median(&both.iter().map(|h| h.python_s.unwrap_or(f64::NAN)).collect::<Vec<_>>()));
    let speedup_vs_python = python_median_s.map(|p| p * 1e3 / median(&both.iter().map(|h| h.ions_ms).collect::<Vec<_>>()));
    Ok(BvseTimings { hops, hopdb_median_ms, ions_median_ms, python_median_s, speedup_vs_python })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::litraj::{read_xyz_file, LitrajOptions};
    use crate::record::Fidelity;

    #[test]
    fn the_synthetic_xyz_file_is_deterministic_and_reads_back_as_the_corpus() {
        let dir = tempfile::tempdir().unwrap();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        assert_eq!(write_synthetic_xyz(25, 9, &mut a).unwrap(), 25);
        write_synthetic_xyz(25, 9, &mut b).unwrap();
        assert_eq!(a, b, "same n and seed, same bytes");
        let file = dir.path().join("s.xyz");
        std::fs::write(&file, &a).unwrap();
        let opts = LitrajOptions { dataset: "synthetic".into(), fidelity: Fidelity::Bvse, trajectory: false, dataset_version: "seed 9".into() };
        let (cands, rejected) = read_xyz_file(&file, &opts).unwrap();
        assert!(rejected.is_empty(), "{rejected:?}");
        let corpus = crate::synthetic::bvse_like_corpus(25, 9);
        assert_eq!(cands.len(), 25);
        for (c, want) in cands.iter().zip(&corpus) {
            assert!((c.record.em - want.record.em).abs() < 1e-12);
            assert_eq!(c.host.len(), want.host.len());
            assert_eq!(c.record.ion, want.record.ion);
        }
    }
}
