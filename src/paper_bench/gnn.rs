//! Graph-network rows of the paper benchmark (`hopdb bench paper --gnn`, feature `gnn`).
//!
//! Protocol, the same as the tree rows where it can be:
//!
//! * settings: the ones chosen on validation hops carved from the 559 training hops in
//!   `docs/gnn-experiments.md` (hidden 32, 8 neighbours, `log1p` target, up to 60 epochs with
//!   early stopping on a host-grouped validation carve of the training hops), overridable;
//! * test rows: one model per variant, seed 1, trained on the 559 hops and evaluated once on
//!   the 60 test hops (bootstrap standard errors as for the trees);
//! * CV rows: grouped 5-fold CV over all 619 hops on exactly the folds of the tree rows (the
//!   same host groups and fold seeds 1..=cv_seeds), model seed = fold seed;
//! * learning curve: the band network on nested subsets of the training hops (100 / 200 / 400),
//!   evaluated on the 60 test hops;
//! * with a BVSE corpus store: pre-training on a seeded subsample of its `bvse` records, minus
//!   every record derived from a test structure, then the same rows fine-tuned from it; its CV
//!   row pre-trains each fold's network anew on the subsample less the records derived from that
//!   fold's test structures (per fold and seed), so no fold's network saw its test hosts;
//! * `--gnn-set fusion=hop-v1` (or any other key) changes every graph-network row, and the
//!   rows' labels say so.

use super::{row, BenchRow};
use crate::workflow::gnn::{self as workflow, PretrainSource, SeedCvPlan, SeedStart};
use crate::model::gnn::{self, experiment, Pretrain, Spec, TrainOptions, Validation, Variant};
use crate::model::ModelRecord;
use crate::record::HopRecord;
use crate::store::Store;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

/// What `hopdb bench paper --gnn` runs.
#[derive(Clone, Debug)]
pub struct GnnBenchOptions {
    /// Spec overrides on top of [`GnnBenchOptions::default_settings`].
    pub settings: BTreeMap<String, String>,
    /// Variants with a test row and a CV row (from scratch).
    pub variants: Vec<Variant>,
    /// Seeds of the grouped CV (folds and model), at least 1.
    pub cv_seeds: usize,
    /// Training-set sizes of the learning curve (band; empty = none).
    pub learning_curve: Vec<usize>,
    /// A store with a BVSE corpus to pre-train on (`None`: no pre-trained rows).
    pub pretrain_db: Option<PathBuf>,
    /// Corpus records used for pre-training (seeded subsample; 0 = all).
    pub pretrain_max: usize,
    /// Pre-training epochs.
    pub pretrain_epochs: usize,
}

impl GnnBenchOptions {
    /// The settings chosen in `docs/gnn-experiments.md` on validation hops only.
    pub fn default_settings() -> BTreeMap<String, String> {
        [("hidden", "32"), ("max_neighbors", "8"), ("target", "log1p"), ("epochs", "60")].into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// The spec of `variant` with these settings.
    pub fn spec(&self, variant: Variant, seed: u64) -> anyhow::Result<Spec> {
        let mut m = GnnBenchOptions::default_settings();
        m.extend(self.settings.clone());
        m.insert("variant".into(), variant.as_str().into());
        m.insert("seed".into(), seed.to_string());
        m.insert("pretrain_epochs".into(), self.pretrain_epochs.to_string());
        Ok(Spec::from_map(&m)?)
    }
}

impl Default for GnnBenchOptions {
    fn default() -> Self {
        GnnBenchOptions {
            settings: BTreeMap::new(),
            variants: vec![Variant::Band, Variant::Centroid, Variant::InitialFinal],
            cv_seeds: 1,
            learning_curve: vec![100, 200, 400],
            pretrain_db: None,
            pretrain_max: 20_000,
            pretrain_epochs: 5,
        }
    }
}

/// The records, host groups and partitions the rows are computed on.
pub struct GnnBenchData<'a> {
    /// The benchmark's store (the 619 DFT hops, split `paper`).
    pub store: &'a Store,
    /// All DFT hops, in the order of `groups`.
    pub all: &'a [HopRecord],
    /// Host group of each hop (the tree rows' CV groups).
    pub groups: &'a [String],
    /// The 559 training hops.
    pub train: Vec<HopRecord>,
    /// The 60 test hops.
    pub test: Vec<HopRecord>,
}

fn quiet() -> TrainOptions<'static> {
    TrainOptions { progress: false, ..Default::default() }
}

/// Train on `train` (optionally from `init`) and evaluate on the test hops: one row.
fn test_row(d: &GnnBenchData, label: &str, spec: &Spec, train: &[HopRecord], init: Option<&ModelRecord>, resamples: usize) -> anyhow::Result<(BenchRow, ModelRecord)> {
    let t = Instant::now();
    let pre = init.map_or(Pretrain::None, Pretrain::Model);
    let trained = gnn::train(d.store, train, Validation::Carve, pre, spec, quiet())?;
    let secs = t.elapsed().as_secs_f64();
    let rec = trained.to_record("bench-gnn", "")?;
    let p = gnn::predict_records(d.store, &rec, &d.test)?;
    let y: Vec<f64> = d.test.iter().map(|r| r.em).collect();
    let mut r = row(label, "hopdb", &format!("test ({})", d.test.len()), &y, &p, resamples)?;
    r.fit_seconds = Some(secs);
    r.params = params_text(spec);
    Ok((r, rec))
}

/// Grouped 5-fold CV over all hops on the tree rows' folds: (mean over seeds of the mean fold
/// MAE, its standard deviation over seeds, mean pooled R²).
fn cv(d: &GnnBenchData, spec: &Spec, start: SeedStart, seeds: usize, progress: &dyn Fn(&str), label: &str) -> anyhow::Result<(f64, f64, f64)> {
    let plan = SeedCvPlan { records: d.all, groups: d.groups, k: 5, seeds };
    let before = |s: u64, f: usize| progress(&format!("{label}: grouped CV seed {s}, fold {}/5", f + 1));
    let r = workflow::cv_over_seeds(d.store, plan, spec, start, &before)?;
    Ok((r.mae.mean, r.mae.sd, r.r2))
}

/// The row label's network: the variant, and the options that change the architecture.
fn net_label(spec: &Spec) -> String {
    let mut s = spec.variant.as_str().to_string();
    if spec.line_graph {
        s.push_str(", line graph");
    }
    if spec.fusion != gnn::Fusion::None {
        s.push_str(&format!(", fused {}", spec.fusion.as_str()));
    }
    s
}

fn params_text(spec: &Spec) -> String {
    let m = spec.to_map();
    let keys = ["variant", "hidden", "layers", "max_neighbors", "radius", "target", "pool", "epochs", "lr", "batch", "seed", "fusion", "line_graph", "line_neighbors", "pretrain_profile", "members"];
    keys.iter().filter_map(|k| m.get(*k).map(|v| format!("{k}={v}"))).collect::<Vec<_>>().join(", ")
}

/// The graph-network rows (see the module docs); remarks go to `notes`.
pub fn rows(d: &GnnBenchData, opts: &GnnBenchOptions, resamples: usize, progress: &dyn Fn(&str), notes: &mut Vec<String>) -> anyhow::Result<Vec<BenchRow>> {
    let mut out = Vec::new();
    let mut band_scratch: Option<ModelRecord> = None;
    for &v in &opts.variants {
        let spec = opts.spec(v, 1)?;
        let label = format!("hopdb gnn {} (scratch)", net_label(&spec));
        progress(&format!("{label}: training on the 559 training hops"));
        let (mut r, rec) = test_row(d, &label, &spec, &d.train, None, resamples)?;
        let (m, sd, r2) = cv(d, &spec, SeedStart::Scratch, opts.cv_seeds, progress, &label)?;
        (r.cv_mae, r.cv_mae_sd, r.cv_r2, r.cv_seeds) = (Some(m), Some(sd), Some(r2), Some(opts.cv_seeds.max(1)));
        if v == Variant::Band {
            band_scratch = Some(rec);
        }
        out.push(r);
    }
    if let Some(rec) = &band_scratch {
        let (frac, hosts) = experiment::distinct_paths(d.store, rec, &d.train)?;
        notes.push(format!("Paths distinct (paper Fig. 3a), band from scratch: {:.0} % of the {hosts} training host structures with several hops get predictions that differ by more than 0.01 eV.", 100.0 * frac));
    }
    let band = opts.spec(Variant::Band, 1)?;
    for &n in &opts.learning_curve {
        let label = format!("hopdb gnn {} (scratch), {n} train hops", net_label(&band));
        progress(&label);
        let sub = experiment::training_subset(&d.train, n);
        out.push(test_row(d, &label, &band, &sub, None, resamples)?.0);
    }
    let Some(corpus_path) = &opts.pretrain_db else {
        return Ok(out);
    };
    let corpus = Store::open(corpus_path).map_err(|e| anyhow::anyhow!("opening the pre-training corpus {}: {e}", corpus_path.display()))?;
    let spec = band;
    let source = PretrainSource::Corpus { store: &corpus, max: opts.pretrain_max, seed: spec.seed };
    let set = workflow::pretrain_set(d.store, source, &d.train, d.all, &d.test)?;
    let (pre, drawn, dropped) = (set.records, set.drawn, set.left_out);
    if pre.is_empty() {
        anyhow::bail!("the pre-training corpus {} has no usable bvse records", corpus_path.display());
    }
    progress(&format!("pre-training the band network on {} BVSE hops ({} epochs)", pre.len(), opts.pretrain_epochs));
    let t = Instant::now();
    let pretrained = workflow::pretrain(&corpus, &pre, &spec, quiet())?.to_record("bench-gnn-pre", "")?;
    notes.push(format!(
        "Pre-training: {} of {drawn} BVSE corpus records drawn (seeded subsample of {}) after leaving out {dropped} derived from the 60 test structures, {} epochs, {:.0} s.",
        pre.len(),
        corpus_path.display(),
        opts.pretrain_epochs,
        t.elapsed().as_secs_f64()
    ));
    let multi = if spec.pretrain_profile > 0 { format!(", + {}-point profile", spec.pretrain_profile) } else { String::new() };
    let label = format!("hopdb gnn {} (BVSE pre-trained{multi})", net_label(&spec));
    progress(&format!("{label}: fine-tuning on the 559 training hops"));
    let (mut r, rec) = test_row(d, &label, &spec, &d.train, Some(&pretrained), resamples)?;
    let per_fold = SeedStart::PerFold { corpus: &corpus, max: opts.pretrain_max, name: "bench-gnn-cv-pre" };
    let (m, sd, r2) = cv(d, &spec, per_fold, opts.cv_seeds, progress, &label)?;
    (r.cv_mae, r.cv_mae_sd, r.cv_r2, r.cv_seeds) = (Some(m), Some(sd), Some(r2), Some(opts.cv_seeds.max(1)));
    out.push(r);
    let (frac, hosts) = experiment::distinct_paths(d.store, &rec, &d.train)?;
    notes.push(format!("Paths distinct, band pre-trained: {:.0} % of the {hosts} multi-hop training host structures.", 100.0 * frac));
    notes.push("The pre-trained CV row pre-trains each fold's network anew (per seed) on the same draw of the corpus less the records derived from that fold's test structures, so no fold's network saw BVSE barriers of its test hosts.".into());
    for &n in &opts.learning_curve {
        let label = format!("hopdb gnn {} (BVSE pre-trained{multi}), {n} train hops", net_label(&spec));
        progress(&label);
        let sub = experiment::training_subset(&d.train, n);
        out.push(test_row(d, &label, &spec, &sub, Some(&pretrained), resamples)?.0);
    }
    Ok(out)
}
