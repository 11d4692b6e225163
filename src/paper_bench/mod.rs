//! The paper benchmark (`hopdb bench paper`): hopdb's models on the paper's 559/60 partition
//! and in grouped 5-fold cross-validation over all 619 DFT hops, side by side with the rows
//! published with the dataset (`paper_predictions_*.csv`, `tabulation.csv`).
//!
//! Protocol (also printed into `docs/benchmarks.md`):
//!
//! * a fresh store with the devi2025 hops; split `paper` = the source partition (559/60);
//! * the mean predictor is trained as is; the random forest and the boosted trees are tuned
//!   by grouped 5-fold CV inside the 559 training hops ([`Grid::default_for`]), refitted on
//!   all 559, and evaluated once on the 60 test hops (bootstrap standard errors: 1000
//!   resamples, seed 0, as in the paper);
//! * cross-validation: for each of `seeds` seeds s = 1, 2, ..., a grouped 5-fold split of all
//!   619 hops (hops of one host structure in one fold, fold assignment seeded by s) and the
//!   tuned settings with model seed s; the figure is the mean over seeds of the mean fold
//!   MAE, with the standard deviation over seeds. The settings were tuned on the 559 training
//!   hops, which make up 90 % of the 619: the CV figure shares that mild optimism with the
//!   reference Python pipeline, which tuned the same way;
//! * published rows are recomputed from the per-hop predictions shipped with the dataset
//!   with the same metric code (MODEL-3 on the test partition, MACE-MP-0 NEB with and without
//!   end-point relaxation on the test partition, MODEL-1..4 on the training partition).

use crate::features;
use crate::metrics::{self, BootstrapErrors, Classification, Metrics};
use crate::import::{self, ImportOptions};
use crate::model::{self, Grid, Kind, Params};
use crate::workflow::{self, EvalOptions, TrainRequest};
use crate::split;
use crate::store::Store;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[cfg(feature = "gnn")]
pub mod gnn;

/// `hopdb bench paper --write-docs FILE` keeps everything from this line on in the file it
/// rewrites (hand-maintained sections such as the graph-network experiments).
pub const KEEP_MARKER: &str = "<!-- kept by hopdb bench paper: the sections below are not generated -->";

/// One row of the benchmark table.
#[derive(Clone, Debug, serde::Serialize)]
pub struct BenchRow {
    /// Model name as shown.
    pub model: String,
    /// `hopdb` or `published`.
    pub source: String,
    /// What it was evaluated on (`test (60)`, `train (559)`).
    pub evaluated_on: String,
    /// Regression metrics.
    pub metrics: Metrics,
    /// Classification at 0.65 eV.
    pub classification: Classification,
    /// Bootstrap standard errors.
    pub bootstrap: BootstrapErrors,
    /// Grouped 5-fold CV MAE over all 619 hops, mean over seeds (hopdb rows).
    pub cv_mae: Option<f64>,
    /// Standard deviation of the CV MAE over seeds.
    pub cv_mae_sd: Option<f64>,
    /// Pooled CV R² (mean over seeds).
    pub cv_r2: Option<f64>,
    /// Number of CV seeds behind `cv_mae` (the trees: `seeds`; graph networks: their own).
    pub cv_seeds: Option<usize>,
    /// Seconds to fit the final model on the training partition (hopdb rows).
    pub fit_seconds: Option<f64>,
    /// Seconds of hyperparameter search (hopdb rows that were tuned).
    pub tune_seconds: Option<f64>,
    /// Settings used (hopdb rows).
    pub params: String,
}

/// The whole benchmark.
#[derive(Clone, Debug, serde::Serialize)]
pub struct PaperBench {
    /// Rows, hopdb first.
    pub rows: Vec<BenchRow>,
    /// Number of CV seeds.
    pub seeds: usize,
    /// Fingerprint of the paper split.
    pub split_fingerprint: String,
    /// Seconds to compute descriptors of all 619 hops.
    pub descriptor_seconds: f64,
    /// Total wall seconds.
    pub total_seconds: f64,
    /// Remarks (missing published values and the like).
    pub notes: Vec<String>,
}

/// Options of [`run`].
#[derive(Clone, Debug)]
pub struct PaperBenchOptions {
    /// The devi2025 dataset directory.
    pub data_dir: PathBuf,
    /// Seeds of the grouped CV (at least 1).
    pub seeds: usize,
    /// Tune the tree models (else their defaults).
    pub tune: bool,
    /// Bootstrap resamples.
    pub resamples: usize,
    /// The MLIP label of the hop-v2 rows (default: devi2025's published MACE-RELAX).
    pub mlip_label: String,
    /// A JSON-lines file of MLIP outcomes (`hopdb mlip import`) to store before the hop-v2
    /// rows, e.g. CHGNet barriers computed by `hopdb.mlip`.
    pub mlip_outcomes: Option<PathBuf>,
    /// Graph-network rows too (`None`: trees only).
    #[cfg(feature = "gnn")]
    pub gnn: Option<gnn::GnnBenchOptions>,
}

impl Default for PaperBenchOptions {
    fn default() -> Self {
        PaperBenchOptions {
            data_dir: PathBuf::from("../shared/data/devi2025"),
            seeds: 5,
            tune: true,
            resamples: workflow::DEFAULT_RESAMPLES,
            mlip_label: features::DEFAULT_MLIP_LABEL.to_string(),
            mlip_outcomes: None,
            #[cfg(feature = "gnn")]
            gnn: None,
        }
    }
}

fn row(model: &str, source: &str, on: &str, y: &[f64], p: &[f64], resamples: usize) -> anyhow::Result<BenchRow> {
    Ok(BenchRow {
        model: model.to_string(),
        source: source.to_string(),
        evaluated_on: on.to_string(),
        metrics: metrics::metrics(y, p)?,
        classification: metrics::classify(y, p, workflow::DEFAULT_THRESHOLD)?,
        bootstrap: metrics::bootstrap_at(y, p, resamples, workflow::DEFAULT_BOOTSTRAP_SEED, workflow::DEFAULT_THRESHOLD)?,
        cv_mae: None,
        cv_mae_sd: None,
        cv_r2: None,
        cv_seeds: None,
        fit_seconds: None,
        tune_seconds: None,
        params: String::new(),
    })
}

fn read_csv(path: &Path) -> anyhow::Result<(Vec<String>, Vec<Vec<String>>)> {
    let mut r = csv::Reader::from_path(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    let header = r.headers()?.iter().map(str::to_string).collect();
    let mut rows = Vec::new();
    for (i, rec) in r.records().enumerate() {
        let rec = rec.map_err(|e| anyhow::anyhow!("{}: record {}: {e}", path.display(), i + 1))?;
        rows.push(rec.iter().map(str::to_string).collect());
    }
    Ok((header, rows))
}

fn col(header: &[String], name: &str, path: &Path) -> anyhow::Result<usize> {
    header.iter().position(|h| h == name).ok_or_else(|| anyhow::anyhow!("{}: no column '{name}'", path.display()))
}

fn num(s: &str) -> Option<f64> {
    s.trim().parse::<f64>().ok().filter(|x| x.is_finite())
}

/// The published rows, recomputed from the dataset's per-hop prediction files.
pub fn published_rows(data_dir: &Path, resamples: usize, notes: &mut Vec<String>) -> anyhow::Result<Vec<BenchRow>> {
    let mut out = Vec::new();
    let test_path = data_dir.join("paper_predictions_test.csv");
    let (h, rows) = read_csv(&test_path)?;
    let (ct, cp, cs) = (col(&h, "TARGET", &test_path)?, col(&h, "PREDICTION", &test_path)?, col(&h, "SYS_NAME", &test_path)?);
    let (mut y, mut p) = (Vec::new(), Vec::new());
    for r in &rows {
        if let (Some(a), Some(b)) = (num(&r[ct]), num(&r[cp])) {
            y.push(a);
            p.push(b);
        }
    }
    out.push(row("MODEL-3 (ALIGNN, band)", "published", &format!("test ({})", y.len()), &y, &p, resamples)?);
    let test_names: Vec<String> = rows.iter().map(|r| r[cs].clone()).collect();

    let tab_path = data_dir.join("tabulation.csv");
    let (h, tab) = read_csv(&tab_path)?;
    let (cn, ce) = (col(&h, "sys_name", &tab_path)?, col(&h, "MIGRATION BARRIER(eV)", &tab_path)?);
    let by_name: BTreeMap<&str, &Vec<String>> = tab.iter().map(|r| (r[cn].as_str(), r)).collect();
    for mace in ["MACE-RELAX", "MACE-NO-RELAX"] {
        let cm = col(&h, mace, &tab_path)?;
        let (mut y, mut p, mut missing) = (Vec::new(), Vec::new(), Vec::new());
        for n in &test_names {
            match by_name.get(n.as_str()).and_then(|r| Some((num(&r[ce])?, num(&r[cm])))) {
                Some((a, Some(b))) => {
                    y.push(a);
                    p.push(b);
                }
                _ => missing.push(n.clone()),
            }
        }
        if !missing.is_empty() {
            notes.push(format!("{mace}: no value for {} of the 60 test hops ({}); its row covers the other {}", missing.len(), missing.join(", "), y.len()));
        }
        out.push(row(&format!("{mace} (MACE-MP-0)"), "published", &format!("test ({})", y.len()), &y, &p, resamples)?);
    }

    let train_path = data_dir.join("paper_predictions_train.csv");
    let (h, rows) = read_csv(&train_path)?;
    let ct = col(&h, "TARGET", &train_path)?;
    for m in ["MODEL-1", "MODEL-2", "MODEL-3", "MODEL-4"] {
        let cm = col(&h, m, &train_path)?;
        let (mut y, mut p) = (Vec::new(), Vec::new());
        for r in &rows {
            if let (Some(a), Some(b)) = (num(&r[ct]), num(&r[cm])) {
                y.push(a);
                p.push(b);
            }
        }
        out.push(row(m, "published", &format!("train ({})", y.len()), &y, &p, resamples)?);
    }
    Ok(out)
}

/// Run the benchmark in a fresh store at `store_dir` (which must not exist yet).
/// `progress` receives one line per step.
pub fn run(opts: &PaperBenchOptions, store_dir: &Path, progress: &dyn Fn(&str)) -> anyhow::Result<PaperBench> {
    let t_all = Instant::now();
    let seeds = opts.seeds.max(1);
    let mut notes = Vec::new();
    progress("importing the devi2025 hops");
    let store = Store::create(store_dir)?;
    let (cands, errors) = import::devi::read_dir(&opts.data_dir, &store.class_groups()?)?;
    import::commit(&store, cands, errors, &ImportOptions::default(), "bench paper")?;
    let q = crate::query::query(&store, "CREATE SPLIT paper FROM PARTITION")?;
    drop(q);
    let paper = split::load(&store, "paper")?;
    progress("computing descriptors of all hops");
    let all_ids: Vec<String> = {
        let mut v: Vec<String> = paper.all_ids().into_iter().map(str::to_string).collect();
        v.sort();
        v
    };
    let t = Instant::now();
    let data = workflow::dataset(&store, &all_ids, &workflow::default_feature_set(), "all hops")?;
    let descriptor_seconds = t.elapsed().as_secs_f64();

    let mut rows = Vec::new();
    let kinds = [(Kind::Mean, "mean predictor"), (Kind::RandomForest, "random forest"), (Kind::BoostedTrees, "boosted trees")];
    for (kind, label) in kinds {
        rows.push(tree_row(&store, opts, &data, kind, label, None, progress)?);
    }
    // The multi-fidelity set: the same models on hop-v2 (literature constants, the hop's own
    // MLIP barrier of one label and its BVSE barrier where stored).
    if let Some(outcomes) = &opts.mlip_outcomes {
        progress(&format!("storing the MLIP outcomes of {}", outcomes.display()));
        let text = std::fs::read_to_string(outcomes).map_err(|e| anyhow::anyhow!("{}: {e}", outcomes.display()))?;
        let runs = text.lines().filter(|l| !l.trim().is_empty()).enumerate().map(|(k, l)| serde_json::from_str::<crate::mlip::MlipRun>(l).map_err(|e| anyhow::anyhow!("{}, line {}: {e}", outcomes.display(), k + 1))).collect::<anyhow::Result<Vec<_>>>()?;
        let rep = crate::mlip::store_runs(&store, &runs, "bench paper: MLIP outcomes")?;
        notes.push(format!("MLIP outcomes {}: {} records, {} failures stored", outcomes.display(), rep.stored, rep.failed.values().sum::<usize>()));
    }
    // hop-v2 without the MLIP column first: what the literature constants alone change.
    let clean = features::FeatureSet::named(features::HOP_V2, Some(features::NO_MLIP))?;
    let data_clean = workflow::dataset(&store, &all_ids, &clean, "all hops")?;
    rows.push(tree_row(&store, opts, &data_clean, Kind::BoostedTrees, "boosted trees", Some(&clean), progress)?);
    let v2 = features::FeatureSet::named(features::HOP_V2, Some(&opts.mlip_label))?;
    let linked = v2.names.iter().position(|n| n == "mlip_missing").expect("hop-v2 has mlip_missing");
    let data_v2 = workflow::dataset(&store, &all_ids, &v2, "all hops")?;
    let with_mlip = data_v2.x.iter().filter(|r| r[linked] == 0.0).count();
    notes.push(format!("hop-v2 rows: MLIP label {}, a barrier for {with_mlip} of {} hops (the others are marked missing)", opts.mlip_label, data_v2.len()));
    for (kind, label) in [(Kind::RandomForest, "random forest"), (Kind::BoostedTrees, "boosted trees")] {
        rows.push(tree_row(&store, opts, &data_v2, kind, label, Some(&v2), progress)?);
    }
    #[cfg(feature = "gnn")]
    if let Some(g) = &opts.gnn {
        let pick = |part: &[String]| -> anyhow::Result<Vec<crate::record::HopRecord>> { Ok(workflow::load_records(&store, part, "split paper")?) };
        let d = gnn::GnnBenchData { store: &store, all: &data.records, groups: &data.groups, train: pick(paper.train())?, test: pick(paper.test())? };
        rows.extend(gnn::rows(&d, g, opts.resamples, progress, &mut notes)?);
    }
    progress("recomputing the published rows");
    rows.extend(published_rows(&opts.data_dir, opts.resamples, &mut notes)?);
    Ok(PaperBench { rows, seeds, split_fingerprint: paper.fingerprint.clone(), descriptor_seconds, total_seconds: t_all.elapsed().as_secs_f64(), notes })
}

/// One tree-model row: train (or tune) on the paper split's 559 hops, evaluate on its 60,
/// then grouped 5-fold CV over all hops for each seed; `set` `None` is hop-v1.
fn tree_row(
    store: &Store,
    opts: &PaperBenchOptions,
    data: &workflow::Dataset,
    kind: Kind,
    label: &str,
    set: Option<&features::FeatureSet>,
    progress: &dyn Fn(&str),
) -> anyhow::Result<BenchRow> {
    let seeds = opts.seeds.max(1);
    let mut name = kind.as_str().to_string();
    let mut settings = BTreeMap::new();
    let mut label = label.to_string();
    if let Some(set) = set {
        name.push_str("_v2");
        settings.insert("features".to_string(), set.name.clone());
        if let Some(l) = &set.mlip_label {
            settings.insert("mlip".to_string(), l.clone());
        }
        label = format!("{label} [{}]", set.label());
    }
    let label = label.as_str();
    let req = TrainRequest { name: name.clone(), kind, params: settings, split: "paper".into(), replace: true, next_version: false };
    let (rec, tune_seconds) = if opts.tune && kind != Kind::Mean {
        progress(&format!("tuning the {label} (grouped 5-fold CV inside the 559 training hops)"));
        let out = workflow::tune(&store, &req, None, workflow::DEFAULT_TUNE_FOLDS, model::DEFAULT_SEED)?;
        let secs = out.model.metrics.get("tune_seconds").copied();
        (out.model, secs)
    } else {
        progress(&format!("training the {label}"));
        (workflow::train(&store, &req)?, None)
    };
    progress(&format!("evaluating the {label} on the 60 test hops"));
    let ev = workflow::evaluate(&store, &name, "paper", &EvalOptions { resamples: opts.resamples, ..EvalOptions::default() })?;
    let params = Params::parse(kind, &workflow::feature_set_from_settings(&rec.params)?.1)?;
    progress(&format!("grouped 5-fold CV of the {label} over all 619 hops, {seeds} seed(s)"));
    let (mut maes, mut r2s) = (Vec::new(), Vec::new());
    for s in 1..=seeds as u64 {
        let mut map = params.to_map();
        if map.contains_key("seed") {
            map.insert("seed".into(), s.to_string());
        }
        let p = Params::parse(kind, &map)?;
        let cv = model::cross_validate(&p, &data.x, &data.y, Some(&data.groups), 5, s)?;
        maes.push(cv.mean_mae);
        r2s.push(cv.pooled.r2);
    }
    let (mean, sd) = metrics::mean_std(&maes);
    let mut r = BenchRow {
        model: format!("hopdb {label}"),
        source: "hopdb".into(),
        evaluated_on: format!("test ({})", ev.test.n),
        metrics: ev.test,
        classification: ev.classification,
        bootstrap: ev.bootstrap.expect("resamples > 0"),
        cv_mae: Some(mean),
        cv_mae_sd: Some(sd),
        cv_r2: Some(metrics::mean(&r2s)),
        cv_seeds: Some(seeds),
        fit_seconds: rec.metrics.get("fit_seconds").copied(),
        tune_seconds,
        params: String::new(),
    };
    r.params = params.to_string();
    Ok(r)
}

/// The CV MAE with its spread over seeds, or with the seed count when there is one seed.
fn cv_text(r: &BenchRow) -> String {
    match (r.cv_mae, r.cv_mae_sd, r.cv_seeds) {
        (Some(m), _, Some(1)) => format!("{m:.3} (1 seed)"),
        (Some(m), Some(sd), _) => format!("{m:.3} ± {sd:.3}"),
        (Some(m), None, _) => format!("{m:.3}"),
        _ => String::new(),
    }
}

/// True for the graph-network rows.
fn is_gnn(r: &BenchRow) -> bool {
    r.model.starts_with("hopdb gnn")
}

fn opt(x: Option<f64>, digits: usize) -> String {
    x.map_or(String::new(), |v| format!("{v:.digits$}"))
}

/// The benchmark as a result table (one row per model; `±` columns are bootstrap standard
/// errors, and the standard deviation over seeds for the CV).
pub fn table(b: &PaperBench) -> crate::table::ResultTable {
    use crate::table::{ResultTable, Value};
    let mut t = ResultTable::new(&["model", "on", "MAE", "R2", "accuracy", "CV MAE (619)", "fit s"]);
    let pm = |x: f64, se: f64| Value::Str(format!("{x:.3} ± {se:.3}"));
    for r in &b.rows {
        let name = if r.source == "hopdb" { r.model.clone() } else { format!("{} [published]", r.model) };
        t.push(vec![
            Value::Str(name),
            Value::Str(r.evaluated_on.clone()),
            pm(r.metrics.mae, r.bootstrap.mae),
            pm(r.metrics.r2, r.bootstrap.r2),
            pm(r.classification.accuracy, r.bootstrap.accuracy),
            r.cv_mae.map_or(Value::Null, |_| Value::Str(cv_text(r))),
            r.fit_seconds.map_or(Value::Null, |x| Value::Str(format!("{x:.2}"))),
        ]);
    }
    t
}

/// `docs/benchmarks.md`: protocol, table, settings and notes.
pub fn markdown(b: &PaperBench, command: &str) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(s, "# Benchmarks: the paper split and grouped cross-validation\n");
    let _ = writeln!(s, "Written by `{command}` (hopdb {}). Regenerate it with that command; the numbers below are its output, not edited by hand.\n", crate::HOPDB_VERSION);
    let _ = writeln!(
        s,
        "* **Paper split**: the dataset's own 559/60 partition (split fingerprint `{}`). Test metrics with bootstrap standard errors (1000 resamples of the 60 test hops, seed 0). Accuracy: good/bad conductor at 0.65 eV.",
        &b.split_fingerprint[..16.min(b.split_fingerprint.len())]
    );
    let _ = writeln!(
        s,
        "* **CV MAE (619)**: grouped 5-fold cross-validation over all 619 DFT hops (hops of one host structure never in two folds), mean fold MAE averaged over {} seeds (fold assignment and model seed); ± is the standard deviation over seeds. This is the figure that counts: the 60-hop test set is small and easier than the whole.",
        b.seeds
    );
    let _ = writeln!(s, "* Tree models: hyperparameters tuned by grouped 5-fold CV inside the 559 training hops only (never the test hops), then refitted on all 559. The CV over 619 reuses those settings.");
    if b.rows.iter().any(is_gnn) {
        let _ = writeln!(s, "* Graph networks (`--gnn`, [gnn-experiments.md](gnn-experiments.md)): settings chosen on validation hops carved from the 559 training hops (never the test hops); test rows: one model, seed 1; CV rows: the trees' folds and host groups, model seed = fold seed; learning-curve rows: the band settings on nested subsets of the training hops; pre-trained rows: fine-tuned from one network pre-trained on a BVSE corpus subsample without the records derived from the 60 test structures.");
    }
    let _ = writeln!(s, "* Published rows are recomputed here from the per-hop predictions shipped with the dataset (`paper_predictions_*.csv`, `tabulation.csv`), with the same metric code. MODEL-1..4 rows are on the *training* partition (fit, not generalisation).\n");
    let _ = writeln!(s, "| model | evaluated on | test MAE (eV) | R² | accuracy | CV MAE over 619 (eV) | fit (s) |\n|---|---|---:|---:|---:|---:|---:|");
    for r in &b.rows {
        let cv = cv_text(r);
        let _ = writeln!(
            s,
            "| {} | {} | {:.3} ± {:.3} | {:.3} ± {:.3} | {:.3} ± {:.3} | {} | {} |",
            r.model,
            r.evaluated_on,
            r.metrics.mae,
            r.bootstrap.mae,
            r.metrics.r2,
            r.bootstrap.r2,
            r.classification.accuracy,
            r.bootstrap.accuracy,
            cv,
            opt(r.fit_seconds, 2)
        );
    }
    let _ = writeln!(s, "\n## Settings\n");
    for r in b.rows.iter().filter(|r| r.source == "hopdb" && !r.model.ends_with("train hops")) {
        let tuned = match r.tune_seconds {
            Some(t) => format!("tuned in {t:.1} s"),
            None if is_gnn(r) => "chosen on validation".to_string(),
            None => "defaults".to_string(),
        };
        let _ = writeln!(s, "* {} ({tuned}): `{}`", r.model, r.params);
    }
    if b.rows.iter().any(|r| is_gnn(r) && r.model.ends_with("train hops")) {
        let _ = writeln!(s, "* learning-curve rows: the band settings above (scratch or pre-trained) on nested subsets of the training hops.");
    }
    let _ = writeln!(s, "* descriptors (feature set hop-v1) of all 619 hops: {:.2} s; whole benchmark {:.0} s.", b.descriptor_seconds, b.total_seconds);
    if !b.notes.is_empty() {
        let _ = writeln!(s, "\n## Notes\n");
        for n in &b.notes {
            let _ = writeln!(s, "* {n}");
        }
    }
    s
}

/// Default grid of a kind (re-exported for the docs).
pub fn default_grid(kind: Kind) -> Grid {
    Grid::default_for(kind)
}
