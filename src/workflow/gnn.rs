//! The graph-network experiment workflows behind `hopdb gnn train | pretrain | cv | bench`
//! (feature `gnn`), callable from any front end: [`train`] (several seeds on the paper split,
//! optional pre-training on a BVSE corpus or on BVSE twins of the training hops, fine-tuning
//! from a stored model, ensembles with a stored tree model, checkpoints and resuming),
//! [`cross_validate`] and [`cv`] (out-of-fold training on grouped folds or a stored k-fold
//! split, optionally beside a tree model on the same folds), [`cv_over_seeds`] (the paper
//! benchmark's grouped CV over fold seeds) and [`bench`] (timings). The network itself and
//! the protocol's pieces are in [`crate::model::gnn`] and its `experiment` module.
//!
//! The functions take the store and plain option structs and return result structs; nothing
//! is printed. Training epochs are reported through [`crate::progress`] when a request asks for
//! progress, and what the CLI used to print along the way (BVSE twins computed, pre-training
//! records left out, graph sizes) is sent as a [`crate::progress::notice`] as well as returned.

use super::WorkflowError;
use crate::metrics::{self, BootstrapErrors, EvalError, Metrics};
use crate::model::gnn::experiment::FoldStart;
use crate::model::gnn::{self, experiment, load_hosts, predict_records, GnnBlob, GnnError, Pretrain, Spec, TrainOptions, TrainedGnn, Validation, Variant, KIND};
use crate::model::lineage::Lineage;
use crate::model::{registry, Kind, ModelError, ModelRecord};
use crate::record::{Fidelity, HopRecord};
use crate::split::SplitError;
use crate::store::{Store, StoreError};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::time::Instant;

/// Seed of the bootstrap standard errors of `hopdb gnn train`'s test rows.
pub const BOOTSTRAP_SEED: u64 = 7;

/// Errors of the workflows.
#[derive(Debug, thiserror::Error)]
pub enum GnnWorkflowError {
    /// Training or prediction failed.
    #[error(transparent)]
    Gnn(#[from] GnnError),
    /// The model registry or fold assignment failed.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// A tree-model workflow (ensemble partner) failed.
    #[error(transparent)]
    Workflow(#[from] WorkflowError),
    /// Metrics could not be computed.
    #[error(transparent)]
    Eval(#[from] EvalError),
    /// A stored split is missing or malformed.
    #[error(transparent)]
    Split(#[from] SplitError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Saving a model failed.
    #[error("saving model '{name}': {cause}")]
    Save {
        /// The model.
        name: String,
        /// Why.
        cause: ModelError,
    },
    /// The request cannot be carried out (the message says why).
    #[error("{0}")]
    Invalid(String),
}

/// Result of the workflows.
pub type Result<T> = std::result::Result<T, GnnWorkflowError>;

fn invalid<T>(msg: impl Into<String>) -> Result<T> {
    Err(GnnWorkflowError::Invalid(msg.into()))
}

/// All DFT hops of the store, in id order.
pub fn dft_records(store: &Store) -> Result<Vec<HopRecord>> {
    let mut v: Vec<HopRecord> = store.ids_where("fidelity", "dft")?.iter().map(|id| store.record(id)).collect::<std::result::Result<_, _>>()?;
    v.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(v)
}

/// The records of source partition `name` (`train`, `test`), in the order of `records`.
pub fn partition(records: &[HopRecord], name: &str) -> Vec<HopRecord> {
    records.iter().filter(|r| r.partition.map(|p| p.as_str()) == Some(name)).cloned().collect()
}

/// Mean and sample standard deviation of a figure over seeds.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct SeedStats {
    /// Mean (NaN without values).
    pub mean: f64,
    /// Sample standard deviation (n - 1 in the denominator; 0 with fewer than two values).
    pub sd: f64,
    /// Number of values.
    pub n: usize,
}

impl SeedStats {
    /// The statistics of `values`.
    pub fn of(values: &[f64]) -> SeedStats {
        let (mean, sd) = metrics::mean_std(values);
        SeedStats { mean, sd, n: values.len() }
    }
}

/// Test-set figures of one model: metrics, accuracy at [`metrics::DEFAULT_THRESHOLD`] and
/// bootstrap standard errors ([`metrics::DEFAULT_RESAMPLES`] resamples, [`BOOTSTRAP_SEED`]).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct TestScores {
    /// Regression metrics.
    pub metrics: Metrics,
    /// Good/bad-conductor accuracy.
    pub accuracy: f64,
    /// Bootstrap standard errors.
    pub bootstrap: BootstrapErrors,
}

/// The [`TestScores`] of predictions `p` for barriers `y`.
pub fn test_scores(y: &[f64], p: &[f64]) -> Result<TestScores> {
    Ok(TestScores {
        metrics: metrics::metrics(y, p)?,
        accuracy: metrics::classify(y, p, metrics::DEFAULT_THRESHOLD)?.accuracy,
        bootstrap: metrics::bootstrap(y, p, metrics::DEFAULT_RESAMPLES, BOOTSTRAP_SEED)?,
    })
}

/// BVSE twins of DFT hops (see [`bvse_twins`]) and how they were computed.
#[derive(Clone, Debug)]
pub struct BvseTwins {
    /// The twins: same hosts and sites, `fidelity = 'bvse'`, id `bvse-twin:<id>`.
    pub records: Vec<HopRecord>,
    /// Hops asked for (some may have no usable BVSE barrier).
    pub hops: usize,
    /// Wall seconds.
    pub seconds: f64,
}

impl BvseTwins {
    /// One line: how many hops, how many usable, how long.
    pub fn summary(&self) -> String {
        format!("BVSE barriers of {} hops ({} usable) in {:.1} s", self.hops, self.records.len(), self.seconds)
    }
}

/// BVSE barriers (hopdb recipe) of `records`, as `bvse` twins with the same hosts; hops whose
/// BVSE barrier fails or is not finite or above 20 eV are skipped. Sends the summary as a notice.
pub fn bvse_twins(store: &Store, records: &[HopRecord]) -> Result<BvseTwins> {
    let hosts = load_hosts(store, records)?;
    let t0 = Instant::now();
    let out: Vec<HopRecord> = records
        .par_iter()
        .filter_map(|r| {
            let host = &hosts[&r.host.0];
            let res = crate::bvse::barrier_for_hop(r, host, crate::bvse::Recipe::Hopdb).ok()?;
            if !res.em.is_finite() || res.em > 20.0 {
                return None;
            }
            let mut t = r.clone();
            t.id = format!("bvse-twin:{}", r.id);
            t.em = res.em;
            t.fidelity = Fidelity::Bvse;
            Some(t)
        })
        .collect();
    let twins = BvseTwins { records: out, hops: records.len(), seconds: t0.elapsed().as_secs_f64() };
    crate::progress::notice(&twins.summary());
    Ok(twins)
}

/// Where pre-training records come from.
#[derive(Clone, Copy)]
pub enum PretrainSource<'a> {
    /// No pre-training records.
    None,
    /// The `bvse` records of a corpus store: a subsample of `max` (0 = all) drawn with `seed`.
    Corpus {
        /// The corpus store.
        store: &'a Store,
        /// Records to draw (0 = all).
        max: usize,
        /// Subsample seed.
        seed: u64,
    },
    /// BVSE twins of the training hops ([`bvse_twins`]).
    BvseSelf,
}

/// A pre-training set: the records kept, and what was drawn and left out.
#[derive(Clone, Debug, Default)]
pub struct PretrainSet {
    /// The records to pre-train on.
    pub records: Vec<HopRecord>,
    /// Records drawn from the source, before leaving any out.
    pub drawn: usize,
    /// Records left out because they derive from a held-out structure.
    pub left_out: usize,
    /// The BVSE twins' computation, for [`PretrainSource::BvseSelf`].
    pub twins: Option<(usize, f64)>,
}

impl PretrainSet {
    /// The notice about left-out records, when any were.
    pub fn left_out_notice(&self) -> Option<String> {
        (self.left_out > 0).then(|| format!("pre-training: left out {} of {} records derived from test structures", self.left_out, self.drawn))
    }
}

/// The pre-training records of `source` minus every record derived from a `held_out`
/// structure ([`experiment::without_held_out`], parents looked up in `dft`); `train` is what
/// [`PretrainSource::BvseSelf`] computes twins of.
pub fn pretrain_set(store: &Store, source: PretrainSource, train: &[HopRecord], dft: &[HopRecord], held_out: &[HopRecord]) -> Result<PretrainSet> {
    let (drawn, twins) = match source {
        PretrainSource::None => (Vec::new(), None),
        PretrainSource::Corpus { store: corpus, max, seed } => (experiment::corpus_records(corpus, max, seed)?, None),
        PretrainSource::BvseSelf => {
            let t = bvse_twins(store, train)?;
            let info = (t.hops, t.seconds);
            (t.records, Some(info))
        }
    };
    let n = drawn.len();
    let (records, left_out) = experiment::without_held_out(drawn, dft, held_out);
    Ok(PretrainSet { records, drawn: n, left_out, twins })
}

/// The spec of a pre-training run: `spec` with its pre-training epochs, learning rate and
/// target as the training ones.
pub fn pretrain_spec(spec: &Spec) -> Spec {
    let mut ps = spec.clone();
    ps.epochs = spec.pretrain_epochs;
    ps.lr = spec.pretrain_lr;
    ps.target = spec.pretrain_target;
    ps.members = 1;
    ps
}

/// Pre-training alone: training on `records` (hosts in `store`) with [`pretrain_spec`], a
/// validation part carved from them, multi-task when `spec.pretrain_profile > 0`.
pub fn pretrain(store: &Store, records: &[HopRecord], spec: &Spec, opts: TrainOptions) -> Result<TrainedGnn> {
    Ok(gnn::pretrain_only(store, records, &pretrain_spec(spec), opts)?)
}

/// Save `rec` to the registry (replacing a model of the same name).
fn save(store: &Store, rec: &ModelRecord) -> Result<()> {
    registry::save(store, rec, true).map_err(|cause| GnnWorkflowError::Save { name: rec.name.clone(), cause })
}

/// What [`train`] runs.
pub struct TrainRequest<'a> {
    /// Model name; with several seeds each model is `NAME-sSEED`.
    pub name: String,
    /// Hyperparameters (`spec.pretrain_max` also bounds the corpus subsample).
    pub spec: Spec,
    /// Seeds to run (empty: `spec.seed`).
    pub seeds: Vec<u64>,
    /// Start from the weights of this stored gnn model.
    pub init_from: Option<String>,
    /// Pre-train on the `bvse` records of this corpus store.
    pub corpus: Option<&'a Store>,
    /// Pre-train on BVSE twins of the training hops (when there is no corpus).
    pub bvse_self: bool,
    /// Only pre-train: fit the pre-training records with the pre-training settings.
    pub pretrain_only: bool,
    /// Use only this many training hops ([`experiment::training_subset`]).
    pub train_size: Option<usize>,
    /// Save a checkpoint every N epochs (0: none; none either without `save`).
    pub checkpoint_every: usize,
    /// Resume each seed's run from the checkpoint stored under its name.
    pub resume: bool,
    /// Also score the average of each model's and this stored tree model's test predictions.
    pub ensemble_with: Option<String>,
    /// Save the models (replacing models of the same names).
    pub save: bool,
    /// Report training progress through [`crate::progress`].
    pub progress: bool,
}

/// One seed's model from [`train`].
#[derive(Clone, Debug)]
pub struct SeedRun {
    /// Model name.
    pub name: String,
    /// Seed.
    pub seed: u64,
    /// Best validation MAE (eV; NaN without validation hops).
    pub valid_mae: f64,
    /// Scores on the test hops (none when pre-training only or without test hops).
    pub test: Option<TestScores>,
    /// Scores of the average with the tree model (`ensemble_with`).
    pub ensemble: Option<TestScores>,
    /// Paths distinct over the training hosts with several hops: (fraction, hosts); none
    /// when pre-training only.
    pub paths_distinct: Option<(f64, usize)>,
    /// Epochs run.
    pub epochs_run: usize,
    /// Wall seconds of training.
    pub seconds: f64,
    /// The model record (saved when the request asked to save).
    pub model: ModelRecord,
}

/// What [`train`] did.
#[derive(Clone, Debug)]
pub struct TrainReport {
    /// The variant of the request's spec.
    pub variant: Variant,
    /// Training hops (after `train_size`).
    pub train_hops: usize,
    /// Test hops.
    pub test_hops: usize,
    /// The pre-training set (records, what was drawn and left out).
    pub pretrain: PretrainSet,
    /// One run per seed, in the request's order.
    pub runs: Vec<SeedRun>,
    /// Test MAE over the seeds with test scores.
    pub test_mae: SeedStats,
    /// Ensemble test MAE over the seeds.
    pub ensemble_mae: SeedStats,
}

/// What every seed of [`train`] shares.
struct TrainContext<'a> {
    store: &'a Store,
    req: &'a TrainRequest<'a>,
    train: Vec<HopRecord>,
    test: Vec<HopRecord>,
    pre: PretrainSet,
    init: Option<ModelRecord>,
    tree_test: Option<Vec<f64>>,
    several: bool,
}

/// Train on the paper split (source partition `train` of the DFT hops, optionally a subset),
/// evaluate on `test`, once per seed; or only pre-train. Pre-training records derived from
/// test structures are left out. Saves each model when asked.
pub fn train(store: &Store, req: &TrainRequest) -> Result<TrainReport> {
    let all = dft_records(store)?;
    let mut train = partition(&all, "train");
    let test = partition(&all, "test");
    if train.is_empty() {
        return invalid(format!("no DFT hops with partition 'train' in {}", store.path().display()));
    }
    if let Some(n) = req.train_size {
        train = experiment::training_subset(&train, n);
    }
    let source = match req.corpus {
        Some(c) => PretrainSource::Corpus { store: c, max: req.spec.pretrain_max, seed: req.spec.seed },
        None if req.bvse_self => PretrainSource::BvseSelf,
        None => PretrainSource::None,
    };
    let pre = pretrain_set(store, source, &train, &all, &test)?;
    if let Some(n) = pre.left_out_notice() {
        crate::progress::notice(&n);
    }
    let init = req.init_from.as_deref().map(|n| registry::load(store, n)).transpose()?;
    let seeds = if req.seeds.is_empty() { vec![req.spec.seed] } else { req.seeds.clone() };
    let tree_test = ensemble_partner(store, req.ensemble_with.as_deref(), &test)?;
    if req.pretrain_only && pre.records.is_empty() {
        return invalid("the pre-training set is empty: pre-training needs a BVSE corpus store or BVSE twins of the training hops");
    }
    let cx = TrainContext { store, req, train, test, pre, init, tree_test, several: seeds.len() > 1 };
    let runs = seeds.iter().map(|&s| train_seed(&cx, s)).collect::<Result<Vec<_>>>()?;
    let maes: Vec<f64> = runs.iter().filter_map(|r| r.test.as_ref().map(|t| t.metrics.mae)).collect();
    let ens: Vec<f64> = runs.iter().filter_map(|r| r.ensemble.as_ref().map(|t| t.metrics.mae)).collect();
    Ok(TrainReport {
        variant: req.spec.variant,
        train_hops: cx.train.len(),
        test_hops: cx.test.len(),
        test_mae: SeedStats::of(&maes),
        ensemble_mae: SeedStats::of(&ens),
        pretrain: cx.pre,
        runs,
    })
}

/// The test predictions of the stored tree model `name` (refusing a graph network).
fn ensemble_partner(store: &Store, name: Option<&str>, test: &[HopRecord]) -> Result<Option<Vec<f64>>> {
    let Some(m) = name else { return Ok(None) };
    let rec = registry::load(store, m)?;
    if rec.kind == KIND {
        return invalid(format!("--ensemble-with {m}: expected a tree model (rf or gbt), this one is a graph network"));
    }
    Ok(Some(super::predict_records(store, &rec, test)?))
}

/// The model name and spec of one seed, and the unfinished blob to resume from.
fn seed_setup(cx: &TrainContext, seed: u64) -> Result<(String, Spec, Option<GnnBlob>)> {
    let name = if cx.several { format!("{}-s{seed}", cx.req.name) } else { cx.req.name.clone() };
    let mut s = cx.req.spec.clone();
    s.seed = seed;
    if !cx.req.resume {
        return Ok((name, s, None));
    }
    let rec = registry::load(cx.store, &name)?;
    let blob = GnnBlob::from_bytes(&rec.blob)?;
    if blob.checkpoint.is_none() {
        return invalid(format!("model '{name}' is finished: nothing to resume"));
    }
    Ok((name, blob.spec.clone(), Some(blob)))
}

/// Train, score and (when asked) save one seed's model.
fn train_seed(cx: &TrainContext, seed: u64) -> Result<SeedRun> {
    let (req, store) = (cx.req, cx.store);
    let (name, s, resume) = seed_setup(cx, seed)?;
    let pre = match (&cx.init, req.corpus) {
        (Some(m), _) => Pretrain::Model(m),
        (None, Some(es)) => Pretrain::External(es, &cx.pre.records),
        (None, None) if !cx.pre.records.is_empty() => Pretrain::Records(&cx.pre.records),
        _ => Pretrain::None,
    };
    let t0 = Instant::now();
    let mut cb = |b: &GnnBlob| -> gnn::Result<()> {
        let tg = TrainedGnn { blob: b.clone(), train_ids: vec![], valid_ids: vec![], metrics: BTreeMap::new(), log: vec!["checkpoint".into()] };
        let rec = tg.to_record(&name, "")?;
        registry::save(store, &rec, true).map_err(|e| GnnError::Data(format!("checkpoint: {e}")))?;
        Ok(())
    };
    let checkpoint_every = if req.save { req.checkpoint_every } else { 0 };
    let (resume, resume_members, resume_start, resume_best) = match resume {
        Some(b) => (b.checkpoint, b.members, b.start, Some(b.values)),
        None => (None, Vec::new(), None, None),
    };
    let opts = TrainOptions { progress: req.progress, resume, resume_members, resume_start, resume_best, on_checkpoint: Some(&mut cb), checkpoint_every };
    let trained = if req.pretrain_only {
        pretrain(req.corpus.unwrap_or(store), &cx.pre.records, &s, opts)?
    } else {
        gnn::train(store, &cx.train, Validation::Carve, pre, &s, opts)?
    };
    let seconds = t0.elapsed().as_secs_f64();
    let mut rec = trained.to_record(&name, "")?;
    rec.lineage = seed_lineage(cx, &rec)?;
    let (test, ensemble) = if req.pretrain_only { (None, None) } else { score_on_test(cx, &mut rec)? };
    let paths_distinct = if req.pretrain_only {
        None
    } else {
        let (distinct, hosts) = experiment::distinct_paths(store, &rec, &cx.train)?;
        if hosts > 0 {
            rec.metrics.insert("multi_path_distinct".into(), distinct);
        }
        Some((distinct, hosts))
    };
    if req.save {
        save(store, &rec)?;
    }
    let valid_mae = trained.metrics.get("valid_mae").copied().unwrap_or(f64::NAN);
    let epochs_run = trained.metrics.get("epochs_run").copied().unwrap_or(0.0) as usize;
    Ok(SeedRun { name, seed, valid_mae, test, ensemble, paths_distinct, epochs_run, seconds, model: rec })
}

/// The lineage of one seed's model ([`crate::model::lineage`]): its fine-tuning hops (the
/// `train` partition, no split), or its pre-training records when it was only pre-trained on
/// a corpus inside this store; `None` for a model pre-trained on records this store does not
/// hold (another store's corpus, BVSE twins computed on the fly), whose staleness it cannot
/// check.
fn seed_lineage(cx: &TrainContext, rec: &ModelRecord) -> Result<Option<Lineage>> {
    let store = cx.store;
    if !cx.req.pretrain_only {
        return Ok(Some(Lineage::now(store, &cx.train, &rec.feature_set, "", &rec.split_fingerprint)?));
    }
    match cx.req.corpus {
        Some(c) if is_same_store(store, c) => {
            Ok(Some(Lineage::now(store, &cx.pre.records, &rec.feature_set, "", &rec.split_fingerprint)?))
        }
        _ => Ok(None),
    }
}

/// Scores of `rec` on the test hops, and of its average with the tree model; both are also
/// written into the record's metrics.
fn score_on_test(cx: &TrainContext, rec: &mut ModelRecord) -> Result<(Option<TestScores>, Option<TestScores>)> {
    if cx.test.is_empty() {
        return Ok((None, None));
    }
    let p = predict_records(cx.store, rec, &cx.test)?;
    let y: Vec<f64> = cx.test.iter().map(|r| r.em).collect();
    let e = test_scores(&y, &p)?;
    rec.metrics.insert("test_mae".into(), e.metrics.mae);
    rec.metrics.insert("test_r2".into(), e.metrics.r2);
    rec.metrics.insert("test_accuracy".into(), e.accuracy);
    let Some(tp) = &cx.tree_test else { return Ok((Some(e), None)) };
    let avg: Vec<f64> = p.iter().zip(tp).map(|(a, b)| 0.5 * (a + b)).collect();
    let en = test_scores(&y, &avg)?;
    rec.metrics.insert("ensemble_test_mae".into(), en.metrics.mae);
    Ok((Some(e), Some(en)))
}

/// Hops and their fold numbers for [`cross_validate`].
#[derive(Clone, Copy)]
pub struct Folds<'a> {
    /// The hops.
    pub records: &'a [HopRecord],
    /// Fold of each hop, in `0..k`.
    pub assignment: &'a [usize],
    /// Number of folds.
    pub k: usize,
}

/// One fold of a cross-validation.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct CvFold {
    /// Hops trained on.
    pub train: usize,
    /// Hops held out.
    pub test: usize,
    /// Metrics on the held-out hops.
    pub metrics: Metrics,
    /// Wall seconds of training and prediction.
    pub seconds: f64,
}

/// Out-of-fold predictions and their metrics.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct OutOfFold {
    /// The folds in order.
    pub folds: Vec<CvFold>,
    /// Out-of-fold prediction of every hop, in the order of the records.
    pub predictions: Vec<f64>,
    /// Metrics of all out-of-fold predictions together.
    pub pooled: Metrics,
    /// Mean of the fold MAEs.
    pub mean_fold_mae: f64,
}

/// Grouped k-fold training ([`experiment::out_of_fold`]) and its metrics; `before(f)` runs
/// before fold `f`, `progress` reports training epochs.
pub fn cross_validate(store: &Store, folds: Folds, spec: &Spec, start: FoldStart, progress: bool, before: &dyn Fn(usize)) -> Result<OutOfFold> {
    let all = folds.records;
    let mut pred = vec![f64::NAN; all.len()];
    let mut out = Vec::with_capacity(folds.k);
    for fold in experiment::out_of_fold(store, all, folds.assignment, folds.k, spec, start, progress, before)? {
        for (k, &i) in fold.test_idx.iter().enumerate() {
            pred[i] = fold.pred[k];
        }
        let y: Vec<f64> = fold.test_idx.iter().map(|&i| all[i].em).collect();
        let metrics = metrics::metrics(&y, &fold.pred)?;
        out.push(CvFold { train: fold.train, test: fold.test_idx.len(), metrics, seconds: fold.seconds });
    }
    let y: Vec<f64> = all.iter().map(|r| r.em).collect();
    let pooled = metrics::metrics(&y, &pred)?;
    let mean_fold_mae = out.iter().map(|f| f.metrics.mae).sum::<f64>() / out.len() as f64;
    Ok(OutOfFold { folds: out, predictions: pred, pooled, mean_fold_mae })
}

/// A tree model cross-validated on the same folds as the graph network.
#[derive(Clone, Debug)]
pub struct TreeEnsemble {
    /// The tree kind (rf or gbt).
    pub kind: Kind,
    /// Its hyperparameters (empty: defaults).
    pub params: BTreeMap<String, String>,
}

/// What [`cv`] runs.
#[derive(Clone, Debug)]
pub struct CvRequest {
    /// Hyperparameters.
    pub spec: Spec,
    /// Folds (without `split`).
    pub folds: usize,
    /// Fold assignment seed (without `split`).
    pub seed: u64,
    /// Start every fold from this stored (pre-trained) gnn model.
    pub init_from: Option<String>,
    /// Pre-train each fold's network on a corpus without that fold's test structures.
    pub pretrain: Option<CvPretrain>,
    /// Use the folds `fold0..foldK` of this stored k-fold split.
    pub split: Option<String>,
    /// Also cross-validate this tree model on the split's folds (needs `split`).
    pub ensemble: Option<TreeEnsemble>,
    /// Report training progress through [`crate::progress`].
    pub progress: bool,
}

/// Per-fold pre-training for [`cv`]: fold `f` starts from a network pre-trained on the BVSE
/// records of `corpus` less every record derived from fold `f`'s test structures
/// ([`experiment::without_held_out`]), so no fold's test host is seen, even through BVSE.
#[derive(Clone, Debug)]
pub struct CvPretrain {
    /// The corpus store (its `fidelity = 'bvse'` records and their hosts).
    pub corpus: std::path::PathBuf,
    /// Records drawn from the corpus at most (seeded by the spec's seed; 0 = all).
    pub max: usize,
    /// The pre-trained models are saved as `NAME-foldF`; a finished one whose pre-training
    /// set and settings match is reused, an unfinished one resumed from its checkpoint.
    pub name: String,
    /// Epochs between checkpoints of a pre-training run (0 = none).
    pub checkpoint_every: usize,
}

/// Whether `path` names the directory `store` was opened from (so it must not be opened again).
pub fn is_store_at(store: &Store, path: &std::path::Path) -> bool {
    match (std::fs::canonicalize(store.path()), std::fs::canonicalize(path)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Whether `other` is `store` (the same handle, or a handle on the same directory).
fn is_same_store(store: &Store, other: &Store) -> bool {
    std::ptr::eq(store, other) || is_store_at(store, other.path())
}

/// The store at `path`, opened, or `None` when it is `store` itself (which must not be opened
/// twice): callers use `opened.as_ref().unwrap_or(store)`.
pub fn open_unless_same(store: &Store, path: &std::path::Path) -> crate::store::Result<Option<Store>> {
    if is_store_at(store, path) {
        Ok(None)
    } else {
        Store::open(path).map(Some)
    }
}

/// A short fingerprint of a pre-training set (its record ids) and the settings it was fitted
/// with: what makes a saved per-fold pre-trained model reusable.
fn pretrain_fingerprint(records: &[HopRecord], spec: &Spec) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for r in records {
        h.update(r.id.as_bytes());
        h.update([0u8]);
    }
    let ps = pretrain_spec(spec);
    for (k, v) in ps.to_map() {
        if !matches!(k.as_str(), "threads" | "pretrain_max" | "members") {
            h.update(format!("{k}={v};").as_bytes());
        }
    }
    let d = h.finalize();
    format!("pretrain:{}", d.iter().take(8).map(|b| format!("{b:02x}")).collect::<String>())
}

/// The per-fold pre-trained model of fold `fold` (test hops `test`): reused when saved and
/// finished with the same fingerprint, resumed when saved unfinished, else trained; saved
/// under `NAME-foldF` either way.
#[allow(clippy::too_many_arguments)]
fn fold_pretrained(store: &Store, corpus: &Store, cp: &CvPretrain, spec: &Spec, dft: &[HopRecord], fold: usize, test: &[HopRecord], progress: bool) -> Result<ModelRecord> {
    let source = PretrainSource::Corpus { store: corpus, max: cp.max, seed: spec.seed };
    let set = pretrain_set(corpus, source, &[], dft, test)?;
    if set.records.is_empty() {
        return invalid(format!("fold {fold}: no pre-training records left after leaving out the fold's test structures"));
    }
    let name = format!("{}-fold{fold}", cp.name);
    let fp = pretrain_fingerprint(&set.records, spec);
    let (mut resume, mut resume_best) = (None, None);
    if let Ok(rec) = registry::load(store, &name) {
        let blob = GnnBlob::from_bytes(&rec.blob)?;
        if rec.split_fingerprint == fp && blob.net == spec.net_config() && blob.graph == spec.graph_config() {
            match blob.checkpoint {
                None => {
                    crate::progress::notice(&format!("fold {fold}: reusing the pre-trained model '{name}' ({} records)", set.records.len()));
                    return Ok(rec);
                }
                Some(ck) => {
                    crate::progress::notice(&format!("fold {fold}: resuming the pre-training '{name}' at epoch {}", ck.epoch));
                    resume = Some(ck);
                    resume_best = Some(blob.values);
                }
            }
        } else {
            crate::progress::notice(&format!("fold {fold}: the saved model '{name}' was pre-trained on other records or settings; pre-training again"));
        }
    }
    crate::progress::notice(&format!("fold {fold}: pre-training '{name}' on {} corpus records ({} derived from the fold's test structures left out)", set.records.len(), set.left_out));
    let mut cb = |b: &GnnBlob| -> gnn::Result<()> {
        let tg = TrainedGnn { blob: b.clone(), train_ids: vec![], valid_ids: vec![], metrics: BTreeMap::new(), log: vec!["checkpoint".into()] };
        registry::save(store, &tg.to_record(&name, &fp)?, true).map_err(|e| GnnError::Data(format!("checkpoint: {e}")))?;
        Ok(())
    };
    let opts = TrainOptions { progress, resume, resume_best, on_checkpoint: Some(&mut cb), checkpoint_every: cp.checkpoint_every, ..Default::default() };
    let mut trained = pretrain(corpus, &set.records, spec, opts)?;
    trained.metrics.insert("pretrain_left_out".into(), set.left_out as f64);
    let mut rec = trained.to_record(&name, &fp)?;
    if is_same_store(store, corpus) {
        rec.lineage = Some(Lineage::now(store, &set.records, &rec.feature_set, "", &fp)?);
    }
    save(store, &rec)?;
    Ok(rec)
}

/// The tree model's out-of-fold metrics, alone and averaged with the graph network.
#[derive(Clone, Debug)]
pub struct CvEnsemble {
    /// The tree kind.
    pub kind: Kind,
    /// The tree model alone.
    pub tree: Metrics,
    /// The average of both.
    pub average: Metrics,
}

/// What [`cv`] did.
#[derive(Clone, Debug)]
pub struct CvReport {
    /// The variant.
    pub variant: Variant,
    /// The hops, in fold order with a split, else in id order.
    pub records: Vec<HopRecord>,
    /// Folds, out-of-fold predictions (aligned with `records`) and metrics.
    pub out_of_fold: OutOfFold,
    /// The tree ensemble, when asked for.
    pub ensemble: Option<CvEnsemble>,
}

/// The hops and folds of a stored k-fold split (partitions `fold0`, `fold1`, ...).
fn split_folds(store: &Store, all: &[HopRecord], name: &str) -> Result<(Vec<HopRecord>, Vec<usize>, usize)> {
    let s = crate::split::load(store, name)?;
    let mut fold_names: Vec<String> = s.partition_names().into_iter().filter(|n| n.starts_with("fold")).map(str::to_string).collect();
    fold_names.sort_by_key(|n| n[4..].parse::<usize>().unwrap_or(usize::MAX));
    if fold_names.len() < 2 {
        return invalid(format!("split '{name}' has no fold partitions (fold0, fold1, ...): create it with GROUPED KFOLD"));
    }
    let by_id: BTreeMap<&str, &HopRecord> = all.iter().map(|r| (r.id.as_str(), r)).collect();
    let (mut recs, mut fo) = (vec![], vec![]);
    for (k, f) in fold_names.iter().enumerate() {
        for id in s.partition(f) {
            let Some(r) = by_id.get(id.as_str()) else {
                return invalid(format!("split '{name}': hop {id} is not a DFT hop of this store"));
            };
            recs.push((*r).clone());
            fo.push(k);
        }
    }
    Ok((recs, fo, fold_names.len()))
}

/// Grouped k-fold cross-validation over all DFT hops (hops of one host never split), on
/// seeded folds or a stored split's folds, optionally beside a tree model on the same folds.
pub fn cv(store: &Store, req: &CvRequest) -> Result<CvReport> {
    if req.ensemble.is_some() && req.split.is_none() {
        return invalid("a tree ensemble needs a stored split (the tree model must see the same folds)");
    }
    let all = dft_records(store)?;
    let (records, assignment, k) = match &req.split {
        Some(name) => split_folds(store, &all, name)?,
        None => {
            let groups: Vec<&str> = all.iter().map(|r| r.host.0.as_str()).collect();
            let f = crate::model::group_folds(&groups, req.folds, req.seed)?;
            (all, f, req.folds)
        }
    };
    let init = req.init_from.as_deref().map(|n| registry::load(store, n)).transpose()?;
    let folds = Folds { records: &records, assignment: &assignment, k };
    let oof = match &req.pretrain {
        Some(cp) => {
            if init.is_some() {
                return invalid("per-fold pre-training and a stored starting model exclude each other");
            }
            // The corpus may live in the store itself (a store opens once per process).
            let opened = open_unless_same(store, &cp.corpus)?;
            let corpus = opened.as_ref().unwrap_or(store);
            let dft = dft_records(store)?;
            let make = |f: usize, test: &[HopRecord]| -> gnn::Result<ModelRecord> {
                fold_pretrained(store, corpus, cp, &req.spec, &dft, f, test, req.progress).map_err(|e| GnnError::Data(e.to_string()))
            };
            cross_validate(store, folds, &req.spec, FoldStart::PerFold(&make), req.progress, &|_| {})?
        }
        None => cross_validate(store, folds, &req.spec, init.as_ref().into(), req.progress, &|_| {})?,
    };
    let ensemble = match (&req.ensemble, &req.split) {
        (Some(t), Some(split)) => Some(tree_ensemble(store, t, split, &records, &oof.predictions)?),
        _ => None,
    };
    Ok(CvReport { variant: req.spec.variant, records, out_of_fold: oof, ensemble })
}

/// Cross-validate the tree model on `split`'s folds and average it with `pred`.
fn tree_ensemble(store: &Store, t: &TreeEnsemble, split: &str, records: &[HopRecord], pred: &[f64]) -> Result<CvEnsemble> {
    let cv = super::cross_validate_split(store, t.kind, &t.params, split, metrics::DEFAULT_THRESHOLD)?;
    let tree: BTreeMap<&str, f64> = cv.predictions.iter().map(|p| (p.id.as_str(), p.predicted)).collect();
    let mut tp = Vec::with_capacity(records.len());
    for r in records {
        match tree.get(r.id.as_str()) {
            Some(&p) => tp.push(p),
            None => return invalid(format!("no tree prediction for {}", r.id)),
        }
    }
    let y: Vec<f64> = records.iter().map(|r| r.em).collect();
    let avg: Vec<f64> = pred.iter().zip(&tp).map(|(a, b)| 0.5 * (a + b)).collect();
    Ok(CvEnsemble { kind: t.kind, tree: metrics::metrics(&y, &tp)?, average: metrics::metrics(&y, &avg)? })
}

/// What [`stack`] runs: a graph network and a tree model combined by a weight fitted inside
/// each outer training part only.
#[derive(Clone, Debug)]
pub struct StackRequest {
    /// Graph-network hyperparameters.
    pub spec: Spec,
    /// The tree model (kind and hyperparameters; `features` / `mlip` choose its descriptors).
    pub tree: TreeEnsemble,
    /// A stored k-fold split (`fold0..foldK`): the outer folds.
    pub split: String,
    /// Inner grouped folds within each outer training part (at least 2).
    pub inner_folds: usize,
    /// Report training progress.
    pub progress: bool,
}

/// One outer fold of [`stack`].
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct StackFold {
    /// Weight of the tree model (the graph network gets `1 - tree_weight`), fitted on the inner
    /// out-of-fold predictions of this fold's training part.
    pub tree_weight: f64,
    /// Inner out-of-fold MAE of the combination at that weight (eV).
    pub inner_mae: f64,
    /// Held-out MAEs: graph network, tree model, stack (eV).
    pub gnn_mae: f64,
    /// Tree model's held-out MAE.
    pub tree_mae: f64,
    /// The stack's held-out MAE.
    pub stack_mae: f64,
    /// Wall seconds of the fold.
    pub seconds: f64,
}

/// What [`stack`] did: per-fold weights and scores, and out-of-fold predictions of the parts
/// and the stack (aligned with `records`).
#[derive(Clone, Debug)]
pub struct StackReport {
    /// The hops, in fold order.
    pub records: Vec<HopRecord>,
    /// The outer folds.
    pub folds: Vec<StackFold>,
    /// Out-of-fold predictions: graph network.
    pub gnn: Vec<f64>,
    /// Tree model.
    pub tree: Vec<f64>,
    /// Stack.
    pub stack: Vec<f64>,
    /// Pooled metrics of the three.
    pub pooled: [Metrics; 3],
}

/// The weight `w` in `[0, 1]` (steps of 0.01) minimising the MAE of `w * tree + (1 - w) * gnn`
/// against `y`, and that MAE. Ties go to the smaller weight.
pub fn fit_stack_weight(y: &[f64], gnn: &[f64], tree: &[f64]) -> (f64, f64) {
    let mut best = (0.0, f64::INFINITY);
    for k in 0..=100 {
        let w = k as f64 / 100.0;
        let mae = y.iter().zip(gnn.iter().zip(tree)).map(|(y, (g, t))| (w * t + (1.0 - w) * g - y).abs()).sum::<f64>() / y.len().max(1) as f64;
        if mae < best.1 - 1e-12 {
            best = (w, mae);
        }
    }
    best
}

/// Stacked graph network + tree model under nested, host-grouped cross-validation: for each
/// outer fold of `split`, both models are cross-validated on inner grouped folds of the
/// outer training part, the weight is fitted on those inner out-of-fold predictions
/// ([`fit_stack_weight`]), then both are trained on the whole outer training part and the
/// held-out fold is predicted. The held-out hops are never seen by the weight, and the
/// parts' rows are exactly what plain cross-validation on the same folds gives.
pub fn stack(store: &Store, req: &StackRequest) -> Result<StackReport> {
    if req.inner_folds < 2 {
        return invalid(format!("inner folds: {} (at least 2)", req.inner_folds));
    }
    let all = dft_records(store)?;
    let (records, assignment, k) = split_folds(store, &all, &req.split)?;
    let (set, model_params) = super::feature_set_from_settings(&req.tree.params)?;
    let params = crate::model::Params::parse(req.tree.kind, &model_params)?;
    let ids: Vec<String> = records.iter().map(|r| r.id.clone()).collect();
    let data = super::dataset(store, &ids, &set, &req.split)?;
    let tree_fit = |tr: &[usize], te: &[usize]| -> Result<Vec<f64>> {
        let (a, b) = (data.subset(tr), data.subset(te));
        let m = crate::model::fit_labeled(&a.x, &a.y, crate::model::Labels::new(&a.ids, &a.names), &params)?;
        Ok(crate::model::predict(&m, &b.x)?)
    };
    let n = records.len();
    let (mut gnn_p, mut tree_p, mut stack_p) = (vec![f64::NAN; n], vec![f64::NAN; n], vec![f64::NAN; n]);
    let mut folds = Vec::with_capacity(k);
    for f in 0..k {
        let t0 = Instant::now();
        let outer_tr: Vec<usize> = (0..n).filter(|&i| assignment[i] != f).collect();
        let outer_te: Vec<usize> = (0..n).filter(|&i| assignment[i] == f).collect();
        crate::progress::notice(&format!("stack: outer fold {}/{k}: inner {}-fold CV on {} hops", f + 1, req.inner_folds, outer_tr.len()));
        // Inner folds: by host group within the outer training part.
        let groups: Vec<&str> = outer_tr.iter().map(|&i| data.groups[i].as_str()).collect();
        let inner = crate::model::group_folds(&groups, req.inner_folds, req.spec.seed ^ (f as u64 + 1))?;
        let tr_recs: Vec<HopRecord> = outer_tr.iter().map(|&i| records[i].clone()).collect();
        let mut inner_gnn = vec![f64::NAN; outer_tr.len()];
        for fp in experiment::out_of_fold(store, &tr_recs, &inner, req.inner_folds, &req.spec, FoldStart::Scratch, req.progress, &|_| {})? {
            for (j, &i) in fp.test_idx.iter().enumerate() {
                inner_gnn[i] = fp.pred[j];
            }
        }
        let mut inner_tree = vec![f64::NAN; outer_tr.len()];
        for g in 0..req.inner_folds {
            let itr: Vec<usize> = (0..outer_tr.len()).filter(|&j| inner[j] != g).map(|j| outer_tr[j]).collect();
            let ite_local: Vec<usize> = (0..outer_tr.len()).filter(|&j| inner[j] == g).collect();
            let ite: Vec<usize> = ite_local.iter().map(|&j| outer_tr[j]).collect();
            for (j, p) in ite_local.into_iter().zip(tree_fit(&itr, &ite)?) {
                inner_tree[j] = p;
            }
        }
        let y_tr: Vec<f64> = outer_tr.iter().map(|&i| records[i].em).collect();
        let (w, inner_mae) = fit_stack_weight(&y_tr, &inner_gnn, &inner_tree);
        // Outer fits on the whole training part.
        let trained = gnn::train(store, &tr_recs, Validation::Carve, Pretrain::None, &req.spec, TrainOptions { progress: req.progress, ..Default::default() })?;
        let te_recs: Vec<HopRecord> = outer_te.iter().map(|&i| records[i].clone()).collect();
        let g = predict_records(store, &trained.to_record("stack-fold", "")?, &te_recs)?;
        let t = tree_fit(&outer_tr, &outer_te)?;
        let y_te: Vec<f64> = te_recs.iter().map(|r| r.em).collect();
        let s: Vec<f64> = g.iter().zip(&t).map(|(g, t)| w * t + (1.0 - w) * g).collect();
        for (j, &i) in outer_te.iter().enumerate() {
            gnn_p[i] = g[j];
            tree_p[i] = t[j];
            stack_p[i] = s[j];
        }
        let mae = |p: &[f64]| p.iter().zip(&y_te).map(|(p, y)| (p - y).abs()).sum::<f64>() / y_te.len().max(1) as f64;
        folds.push(StackFold { tree_weight: w, inner_mae, gnn_mae: mae(&g), tree_mae: mae(&t), stack_mae: mae(&s), seconds: t0.elapsed().as_secs_f64() });
    }
    let y: Vec<f64> = records.iter().map(|r| r.em).collect();
    let pooled = [metrics::metrics(&y, &gnn_p)?, metrics::metrics(&y, &tree_p)?, metrics::metrics(&y, &stack_p)?];
    Ok(StackReport { records, folds, gnn: gnn_p, tree: tree_p, stack: stack_p, pooled })
}

/// Where each fold's network of [`cv_over_seeds`] starts.
#[derive(Clone, Copy)]
pub enum SeedStart<'a> {
    /// From scratch.
    Scratch,
    /// From one stored (pre-trained) model.
    Model(&'a ModelRecord),
    /// Pre-trained per fold and seed on `corpus`'s BVSE records (a seeded draw of at most
    /// `max`, 0 = all) less those derived from the fold's test structures, saved in the store
    /// as `NAME-seedS-foldF` (reused when a rerun finds them finished).
    PerFold {
        /// The corpus store.
        corpus: &'a Store,
        /// Records drawn at most (0 = all).
        max: usize,
        /// Name prefix of the saved per-fold models.
        name: &'a str,
    },
}

/// The hops, host groups, fold count and seeds of [`cv_over_seeds`].
#[derive(Clone, Copy)]
pub struct SeedCvPlan<'a> {
    /// The hops.
    pub records: &'a [HopRecord],
    /// Host group of each hop.
    pub groups: &'a [String],
    /// Folds.
    pub k: usize,
    /// Seeds 1..=seeds (at least 1): fold assignment and model seed.
    pub seeds: usize,
}

/// Grouped CV over seeds: mean fold MAE per seed and its statistics, mean pooled R².
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct SeedCv {
    /// The mean fold MAE over seeds.
    pub mae: SeedStats,
    /// Mean over seeds of the pooled R².
    pub r2: f64,
}

/// For each seed s = 1..=seeds: grouped k folds seeded by s, the model seeded by s, trained
/// out of fold ([`cross_validate`], no progress); `before(s, f)` runs before each fold.
pub fn cv_over_seeds(store: &Store, plan: SeedCvPlan, spec: &Spec, start: SeedStart, before: &dyn Fn(u64, usize)) -> Result<SeedCv> {
    let (mut maes, mut r2s) = (Vec::new(), Vec::new());
    for s in 1..=plan.seeds.max(1) as u64 {
        let assignment = crate::model::group_folds(plan.groups, plan.k, s)?;
        let mut sp = spec.clone();
        sp.seed = s;
        let folds = Folds { records: plan.records, assignment: &assignment, k: plan.k };
        let oof = match start {
            SeedStart::Scratch => cross_validate(store, folds, &sp, FoldStart::Scratch, false, &|f| before(s, f))?,
            SeedStart::Model(m) => cross_validate(store, folds, &sp, FoldStart::Model(m), false, &|f| before(s, f))?,
            SeedStart::PerFold { corpus, max, name } => {
                let cp = CvPretrain { corpus: corpus.path().to_path_buf(), max, name: format!("{name}-seed{s}"), checkpoint_every: 0 };
                let make = |f: usize, test: &[HopRecord]| -> gnn::Result<ModelRecord> {
                    fold_pretrained(store, corpus, &cp, &sp, plan.records, f, test, false).map_err(|e| GnnError::Data(e.to_string()))
                };
                cross_validate(store, folds, &sp, FoldStart::PerFold(&make), false, &|f| before(s, f))?
            }
        };
        maes.push(oof.mean_fold_mae);
        r2s.push(oof.pooled.r2);
    }
    Ok(SeedCv { mae: SeedStats::of(&maes), r2: metrics::mean(&r2s) })
}

/// What [`bench`] runs.
#[derive(Clone, Debug)]
pub struct BenchRequest {
    /// Hyperparameters.
    pub spec: Spec,
    /// Inference repetitions over all hops (at least 1).
    pub runs: usize,
    /// Report training progress through [`crate::progress`].
    pub progress: bool,
}

/// Timings of [`bench`].
#[derive(Clone, Debug, serde::Serialize)]
pub struct BenchReport {
    /// The variant.
    pub variant: Variant,
    /// libtorch intra-op threads.
    pub threads: usize,
    /// The device.
    pub device: String,
    /// DFT hops (graphs built, inference).
    pub hops: usize,
    /// Seconds to build all graphs (cold cache, rayon).
    pub graph_seconds: f64,
    /// Mean graph nodes per hop.
    pub nodes_per_hop: f64,
    /// Mean graph edges per hop.
    pub edges_per_hop: f64,
    /// Training hops.
    pub train_hops: usize,
    /// Epochs run (early stopping).
    pub epochs_run: f64,
    /// Epochs asked for.
    pub epochs: usize,
    /// Seconds of training.
    pub train_seconds: f64,
    /// Median seconds of inference over all hops (graphs cached).
    pub inference_seconds: f64,
}

/// Timings: graph building, training on the `train` partition, inference over all DFT hops.
/// Sends the graph sizes as a notice.
pub fn bench(store: &Store, req: &BenchRequest) -> Result<BenchReport> {
    let spec = &req.spec;
    let all = dft_records(store)?;
    let train = partition(&all, "train");
    let hosts = load_hosts(store, &all)?;
    if spec.threads > 0 {
        gnn::tensor::set_num_threads(spec.threads).map_err(GnnError::from)?;
    }
    let threads = gnn::tensor::num_threads();
    let device = gnn::tensor::device_name(gnn::tensor::device().map_err(GnnError::from)?);
    let t0 = Instant::now();
    let g = gnn::build_many(&all, &hosts, &spec.graph_config()).map_err(GnnError::Data)?;
    let graph_seconds = t0.elapsed().as_secs_f64();
    let (n_nodes, n_edges) = g.iter().flat_map(|h| h.iter()).fold((0, 0), |(n, e), x| (n + x.nodes(), e + x.edges()));
    let (nodes_per_hop, edges_per_hop) = (n_nodes as f64 / all.len() as f64, n_edges as f64 / all.len() as f64);
    crate::progress::notice(&format!("graphs: {nodes_per_hop:.1} nodes and {edges_per_hop:.1} edges per hop"));
    let t0 = Instant::now();
    let trained = gnn::train(store, &train, Validation::Carve, Pretrain::None, spec, TrainOptions { progress: req.progress, ..Default::default() })?;
    let train_seconds = t0.elapsed().as_secs_f64();
    let rec = trained.to_record("bench", "")?;
    let mut secs = vec![];
    for _ in 0..req.runs.max(1) {
        let t0 = Instant::now();
        let p = predict_records(store, &rec, &all)?;
        if p.len() != all.len() {
            return invalid(format!("inference returned {} predictions for {} hops", p.len(), all.len()));
        }
        secs.push(t0.elapsed().as_secs_f64());
    }
    Ok(BenchReport {
        variant: spec.variant,
        threads,
        device,
        hops: all.len(),
        graph_seconds,
        nodes_per_hop,
        edges_per_hop,
        train_hops: train.len(),
        epochs_run: trained.metrics.get("epochs_run").copied().unwrap_or(f64::NAN),
        epochs: spec.epochs,
        train_seconds,
        inference_seconds: metrics::median(&secs),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::SourcePartition;
    use std::sync::{Arc, Mutex};

    /// A store of `n` synthetic DFT hops, every fourth in partition `test`.
    fn paper_store(n: usize) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::create(dir.path().join("s")).expect("create");
        let mut cands = crate::synthetic::bvse_like_corpus(n, 11);
        for (i, c) in cands.iter_mut().enumerate() {
            c.record.fidelity = Fidelity::Dft;
            c.record.partition = Some(if i % 4 == 0 { SourcePartition::Test } else { SourcePartition::Train });
        }
        crate::import::commit(&store, cands, vec![], &Default::default(), "test").expect("import");
        (dir, store)
    }

    /// A BVSE record `twin:ID` for every DFT hop of `store` (same host, `parent` = the hop).
    fn add_bvse_twins(store: &Store) {
        let dft = dft_records(store).expect("dft");
        let mut cands = crate::synthetic::bvse_like_corpus(dft.len(), 11);
        for (c, parent) in cands.iter_mut().zip(&dft) {
            c.record.id = format!("twin:{}", parent.id);
            c.record.fidelity = Fidelity::Bvse;
            c.record.parent = Some(parent.id.clone());
        }
        crate::import::commit(store, cands, vec![], &Default::default(), "test").expect("import");
    }

    fn tiny(epochs: usize) -> Spec {
        let kv = [("hidden", "8"), ("layers", "1"), ("rbf", "8"), ("cutoff", "4"), ("radius", "4"), ("max_neighbors", "6"), ("batch", "4"), ("threads", "1"), ("epochs", &epochs.to_string())];
        Spec::from_map(&kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()).expect("spec")
    }

    fn request(name: &str, seeds: Vec<u64>) -> TrainRequest<'static> {
        TrainRequest {
            name: name.into(),
            spec: tiny(2),
            seeds,
            init_from: None,
            corpus: None,
            bvse_self: false,
            pretrain_only: false,
            train_size: None,
            checkpoint_every: 0,
            resume: false,
            ensemble_with: None,
            save: true,
            progress: false,
        }
    }

    #[test]
    fn seed_stats_use_the_sample_deviation() {
        let s = SeedStats::of(&[1.0, 2.0, 3.0]);
        assert_eq!((s.mean, s.sd, s.n), (2.0, 1.0, 3));
        assert_eq!(SeedStats::of(&[4.0]).sd, 0.0);
        assert!(SeedStats::of(&[]).mean.is_nan());
    }

    #[test]
    fn train_over_seeds_scores_saves_and_repeats() {
        let (_d, store) = paper_store(16);
        let r = train(&store, &request("g", vec![1, 2])).expect("train");
        assert_eq!((r.train_hops, r.test_hops), (12, 4));
        assert_eq!(r.runs.iter().map(|x| x.name.as_str()).collect::<Vec<_>>(), ["g-s1", "g-s2"]);
        let maes: Vec<f64> = r.runs.iter().map(|x| x.test.as_ref().expect("test scores").metrics.mae).collect();
        assert_eq!(r.test_mae, SeedStats::of(&maes));
        for run in &r.runs {
            assert_eq!(registry::load(&store, &run.name).expect("saved").metrics["test_mae"], run.model.metrics["test_mae"]);
        }
        let again = train(&store, &request("g", vec![1, 2])).expect("train again");
        assert_eq!(again.test_mae, r.test_mae, "same seeds, same numbers");
        let e = train(&store, &TrainRequest { pretrain_only: true, ..request("p", vec![]) }).expect_err("nothing to pre-train on");
        assert!(e.to_string().contains("pre-training set is empty"), "{e}");
    }

    #[test]
    fn trained_and_self_pretrained_networks_record_lineage_and_go_stale() {
        let (_d, store) = paper_store(16);
        let r = train(&store, &request("lin", vec![])).expect("train");
        let rec = registry::load(&store, "lin").expect("saved");
        let lin = rec.lineage.clone().expect("a fine-tuned network records its lineage");
        assert_eq!((lin.split.as_str(), lin.pretrain_query.as_deref()), ("", None));
        assert!(!rec.train_ids.is_empty() && rec.train_ids.len() <= r.train_hops);
        let st = crate::model::lineage::staleness(&store, &rec).expect("staleness").expect("lineage");
        assert!(!st.is_stale(), "{}", st.summary(3));
        let hop = rec.train_ids[0].clone();
        store.edit(&hop, &[crate::record::Edit::Em(4.5)], "test").expect("edit");
        let st = crate::model::lineage::staleness(&store, &rec).expect("staleness").expect("lineage");
        assert_eq!(st.changed.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), [hop.as_str()], "{}", st.summary(3));
        let e = crate::workflow::retrain_plan(&store, "lin").expect_err("no split to retrain on");
        assert!(e.to_string().contains("records no split"), "{e}");

        // Pre-trained only: lineage when the corpus is this store, none from another store.
        let (_c, corpus) = paper_store(24);
        add_bvse_twins(&corpus);
        add_bvse_twins(&store);
        let other = TrainRequest { pretrain_only: true, corpus: Some(&corpus), ..request("pre-other", vec![]) };
        train(&store, &other).expect("pre-train on another store");
        assert!(registry::load(&store, "pre-other").expect("saved").lineage.is_none());
        let own = TrainRequest { pretrain_only: true, corpus: Some(&store), ..request("pre-own", vec![]) };
        train(&store, &own).expect("pre-train on this store");
        let m = registry::load(&store, "pre-own").expect("saved");
        let st = crate::model::lineage::staleness(&store, &m).expect("staleness").expect("lineage of a corpus in this store");
        assert!(!st.is_stale(), "{}", st.summary(3));
    }

    #[derive(Default)]
    struct Epochs(Mutex<Vec<String>>);

    impl crate::progress::Sink for Epochs {
        fn start(&self, _: &str, _: u64) {}
        fn inc(&self, _: u64) {}
        fn finish(&self) {}
        fn epoch(&self, e: &crate::progress::Epoch) {
            self.0.lock().expect("lock").push(e.to_string());
        }
    }

    #[test]
    fn training_reports_epochs_as_progress_events_and_cv_pools_folds() {
        let (_d, store) = paper_store(16);
        let sink = Arc::new(Epochs::default());
        crate::progress::install(sink.clone());
        let r = train(&store, &TrainRequest { progress: true, save: false, ..request("ev", vec![]) }).expect("train");
        crate::progress::uninstall();
        let logged: Vec<&String> = r.runs[0].model.training_log.iter().filter(|l| l.starts_with("train epoch")).collect();
        let seen = sink.0.lock().expect("lock").clone();
        assert_eq!(logged.len(), 2);
        assert!(logged.iter().all(|l| seen.contains(l)), "{seen:?}");
        assert!(registry::load(&store, "ev").is_err(), "not saved");
        let req = CvRequest { spec: tiny(1), folds: 3, seed: 1, init_from: None, pretrain: None, split: None, ensemble: None, progress: false };
        let cv = cv(&store, &req).expect("cv");
        assert_eq!(cv.out_of_fold.folds.iter().map(|f| f.test).sum::<usize>(), 16);
        let y: Vec<f64> = cv.records.iter().map(|r| r.em).collect();
        assert_eq!(cv.out_of_fold.pooled, metrics::metrics(&y, &cv.out_of_fold.predictions).expect("metrics"));
    }

    #[test]
    fn per_fold_pretraining_leaves_out_each_folds_test_structures_and_is_reused() {
        let (d, store) = paper_store(18);
        let dft = dft_records(&store).expect("dft");
        // The corpus: BVSE twins of the DFT hops (same hosts), each naming its DFT parent.
        let corpus_path = d.path().join("corpus");
        let corpus = Store::create(&corpus_path).expect("corpus");
        let mut cands = crate::synthetic::bvse_like_corpus(18, 11);
        let mut parent_of = BTreeMap::new();
        for (c, parent) in cands.iter_mut().zip(&dft) {
            c.record.fidelity = Fidelity::Bvse;
            c.record.parent = Some(parent.id.clone());
        }
        crate::import::commit(&corpus, cands, vec![], &Default::default(), "test").expect("import");
        for r in experiment::corpus_records(&corpus, 0, 1).expect("corpus records") {
            parent_of.insert(r.id.clone(), r.parent.clone().expect("parent"));
        }
        drop(corpus);
        let mut spec = tiny(1);
        spec.pretrain_epochs = 1;
        let cp = CvPretrain { corpus: corpus_path.clone(), max: 0, name: "cvp".into(), checkpoint_every: 1 };
        let req = CvRequest { spec, folds: 3, seed: 1, init_from: None, pretrain: Some(cp), split: None, ensemble: None, progress: false };
        let first = cv(&store, &req).expect("cv");
        let groups: Vec<&str> = dft.iter().map(|r| r.host.0.as_str()).collect();
        let folds = crate::model::group_folds(&groups, 3, 1).expect("folds");
        let mut stamps = vec![];
        for f in 0..3 {
            let m = registry::load(&store, &format!("cvp-fold{f}")).expect("per-fold model saved");
            let test_hosts: std::collections::HashSet<&str> = dft.iter().zip(&folds).filter(|(_, &g)| g == f).map(|(r, _)| r.host.0.as_str()).collect();
            let derived: Vec<&String> = parent_of.iter().filter(|(_, p)| dft.iter().any(|r| &r.id == *p && test_hosts.contains(r.host.0.as_str()))).map(|(id, _)| id).collect();
            assert!(!derived.is_empty());
            assert!(m.train_ids.iter().all(|id| !derived.contains(&id)), "fold {f} pre-trained on its own test structures");
            assert_eq!(m.metrics["pretrain_left_out"], derived.len() as f64);
            assert!(GnnBlob::from_bytes(&m.blob).expect("blob").checkpoint.is_none(), "finished");
            stamps.push(m.created_at.clone());
        }
        // A rerun reuses finished pre-trained models and resumes unfinished ones: fold 1's model
        // is replaced by altered weights (same fingerprint), fold 2's by a checkpoint at its last
        // epoch holding altered weights.
        let altered = |name: &str, checkpoint: bool| -> gnn::ParamValues {
            let mut m = registry::load(&store, name).expect("model");
            let mut blob = GnnBlob::from_bytes(&m.blob).expect("blob");
            for (_, _, v) in blob.values.iter_mut() {
                v.iter_mut().for_each(|x| *x *= 0.5);
            }
            if checkpoint {
                blob.checkpoint = Some(gnn::Checkpoint { stage: 1, epoch: 1, values: blob.values.clone(), best_val: f64::INFINITY, bad_epochs: 0, y_mean: blob.y_mean, y_std: blob.y_std, log: vec![] });
            }
            m.blob = blob.to_bytes().expect("bytes");
            registry::save(&store, &m, true).expect("save");
            blob.values
        };
        let (v1, v2) = (altered("cvp-fold1", false), altered("cvp-fold2", true));
        let fp0 = registry::load(&store, "cvp-fold0").expect("model").split_fingerprint;
        let again = cv(&store, &req).expect("cv again");
        let stored = |name: &str| GnnBlob::from_bytes(&registry::load(&store, name).expect("model").blob).expect("blob");
        assert_eq!(stored("cvp-fold1").values, v1, "fold 1 was pre-trained again instead of reused");
        let f2 = stored("cvp-fold2");
        assert!(f2.checkpoint.is_none(), "fold 2's pre-training was finished");
        assert_eq!(f2.values, v2, "fold 2 resumed from its checkpoint");
        // Fold 0 untouched: its out-of-fold predictions are the first run's.
        let fold0: Vec<usize> = (0..dft.len()).filter(|&i| folds[i] == 0).collect();
        let by_id = |r: &CvReport| -> BTreeMap<String, f64> { r.records.iter().zip(&r.out_of_fold.predictions).map(|(x, p)| (x.id.clone(), *p)).collect() };
        let (a, b) = (by_id(&first), by_id(&again));
        assert!(fold0.iter().all(|&i| a[&dft[i].id] == b[&dft[i].id]));
        assert!(!fold0.is_empty());
        // Other pre-training settings: a new fingerprint, so pre-trained again.
        let mut other = req.clone();
        other.spec.pretrain_lr = 1e-3;
        cv(&store, &other).expect("cv other");
        assert_ne!(registry::load(&store, "cvp-fold0").expect("model").split_fingerprint, fp0);
    }

    #[test]
    fn per_fold_pretraining_reads_a_corpus_inside_the_store_itself() {
        let (d, store) = paper_store(18);
        add_bvse_twins(&store);
        let here = d.path().join("s");
        assert!(is_store_at(&store, &here) && is_store_at(&store, &d.path().join(".").join("s")));
        assert!(!is_store_at(&store, d.path()) && !is_store_at(&store, &d.path().join("missing")));
        let mut spec = tiny(1);
        spec.pretrain_epochs = 1;
        let cp = CvPretrain { corpus: here, max: 0, name: "self".into(), checkpoint_every: 0 };
        let req = CvRequest { spec, folds: 3, seed: 1, init_from: None, pretrain: Some(cp), split: None, ensemble: None, progress: false };
        let r = cv(&store, &req).expect("cv with the corpus in the same store");
        assert_eq!(r.records.len(), 18, "the DFT hops only");
        for f in 0..3 {
            let m = registry::load(&store, &format!("self-fold{f}")).expect("per-fold model");
            assert!(m.metrics["pretrain_left_out"] > 0.0);
            assert!(m.train_ids.iter().all(|id| id.starts_with("twin:")));
            let st = crate::model::lineage::staleness(&store, &m).expect("staleness").expect("lineage of a corpus in this store");
            assert!(!st.is_stale(), "{}", st.summary(3));
        }
    }

    #[test]
    fn stack_weights_come_from_inner_folds_and_the_parts_match_plain_cv() {
        // The weight search: exact on a case with a known answer.
        let y = [1.0, 2.0, 3.0];
        assert_eq!(fit_stack_weight(&y, &[0.0, 0.0, 0.0], &y), (1.0, 0.0));
        assert_eq!(fit_stack_weight(&y, &y, &[9.0, 9.0, 9.0]).0, 0.0);
        let (_d, store) = paper_store(24);
        crate::query::exec::query(&store, "CREATE SPLIT k3 FROM (SELECT * FROM hops) GROUPED KFOLD 3 SEED 1").expect("split");
        let tree = TreeEnsemble { kind: Kind::RandomForest, params: [("trees".to_string(), "20".to_string())].into_iter().collect() };
        let mut spec = tiny(2);
        spec.valid_fraction = 0.0;
        let req = StackRequest { spec: spec.clone(), tree: tree.clone(), split: "k3".into(), inner_folds: 2, progress: false };
        let r = stack(&store, &req).expect("stack");
        assert_eq!(r.folds.len(), 3);
        assert_eq!(r.records.len(), 24);
        for f in &r.folds {
            assert!((0.0..=1.0).contains(&f.tree_weight));
            assert!(f.inner_mae.is_finite() && f.stack_mae.is_finite());
        }
        for i in 0..24 {
            let lo = r.gnn[i].min(r.tree[i]) - 1e-12;
            let hi = r.gnn[i].max(r.tree[i]) + 1e-12;
            assert!(r.stack[i] >= lo && r.stack[i] <= hi, "a convex combination of the parts");
        }
        // The parts are what plain CV on the same folds gives.
        let cvr = cv(&store, &CvRequest { spec, folds: 3, seed: 1, init_from: None, pretrain: None, split: Some("k3".into()), ensemble: Some(tree), progress: false }).expect("cv");
        assert_eq!(cvr.records.iter().map(|x| &x.id).collect::<Vec<_>>(), r.records.iter().map(|x| &x.id).collect::<Vec<_>>());
        assert_eq!(cvr.out_of_fold.predictions, r.gnn);
        assert_eq!(cvr.ensemble.expect("tree").tree.mae, r.pooled[1].mae);
    }
}
