//! Model workflows over the store: train and tune on a stored split's training partition,
//! evaluate on its test partition, cross-validate over the folds of a k-fold split, predict
//! for any set of hops, and keep the predictions.
//!
//! This is the layer the HopQL statements `TRAIN`, `TUNE`, `EVALUATE`, `PREDICT`,
//! `CROSS VALIDATE` and `SHOW PREDICTIONS` run on, and what `hopdb bench paper` and
//! `hopdb report` use. It joins four lower modules: [`crate::split`] (which hops),
//! [`crate::features`] (descriptor rows, cached in the store), [`crate::model`] (fit, predict,
//! registry) and [`crate::metrics`] (metrics, classification, bootstrap). With the `gnn` feature,
//! `gnn` holds the graph-network experiment workflows behind `hopdb gnn` and
//! `hopdb bench paper --gnn` (train over seeds, pre-train, cross-validate, benchmark).
//!
//! # Invariants
//!
//! * A model is fitted on its split's `train` partition only; tuning searches by grouped
//!   k-fold CV inside that partition (hops of one host in one fold), never the test set.
//! * A model records the fingerprint of its split and its training ids. [`evaluate`] refuses
//!   a split whose training ids differ from the model's unless `force` is set, because the
//!   test partition of another split may contain the model's own training hops.
//! * Predictions (keyspace `P`, key `(model, id)`) are written in one atomic batch per
//!   statement; dropping a model drops its predictions in the same batch.

use crate::metrics::{self, BootstrapErrors, Classification, EvalError, Metrics};
use crate::features::{self, FeatureError, FeatureSet};
use crate::model::lineage::{self, Lineage, Staleness};
use crate::model::{self, registry, Grid, Kind, Labels, ModelError, ModelRecord, Params, TuneResult};
use crate::record::HopRecord;
use crate::scenario;
use crate::split::{self, Split, SplitError};
use crate::store::{Keyspace, Store, StoreError, WriteSet};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

/// Default good/bad conductor threshold (eV), as in the paper (defined in [`crate::metrics`]).
pub use crate::metrics::DEFAULT_THRESHOLD;
/// Default number of bootstrap resamples, as in the paper (defined in [`crate::metrics`]).
pub use crate::metrics::DEFAULT_RESAMPLES;
/// Default seed of the bootstrap resampling.
pub const DEFAULT_BOOTSTRAP_SEED: u64 = 0;
/// Default number of folds of `TUNE`.
pub const DEFAULT_TUNE_FOLDS: usize = 5;
pub mod screen;
/// The graph-network experiment workflows (`hopdb gnn`, `hopdb bench paper --gnn`).
#[cfg(feature = "gnn")]
pub mod gnn;
pub use screen::{linked_needs, predict_new, predict_new_with, LinkedNeeds, NewHop};

/// Model kind name of graph networks (trained by `model::gnn` when built with `gnn`).
pub use crate::model::registry::GNN_KIND;

/// Errors of the model workflows.
#[derive(Debug, thiserror::Error)]
pub enum WorkflowError {
    /// Fitting, predicting or the registry failed.
    #[error("{0}")]
    Model(#[from] ModelError),
    /// The split is missing or malformed.
    #[error("{0}")]
    Split(#[from] SplitError),
    /// Descriptors could not be computed.
    #[error("{0}")]
    Features(#[from] FeatureError),
    /// Metrics could not be computed.
    #[error("{0}")]
    Eval(#[from] EvalError),
    /// The store failed.
    #[error("store error: {0}")]
    Store(#[from] StoreError),
    /// A split's partition that the operation needs is missing or empty.
    #[error("split '{split}' has no '{partition}' partition (it has: {have}); {hint}")]
    MissingPartition {
        /// Split name.
        split: String,
        /// The partition needed.
        partition: String,
        /// The partitions it has.
        have: String,
        /// What to do instead.
        hint: String,
    },
    /// A split names hops that are not in the store.
    #[error("split '{split}' names {count} hop(s) that are not in the store (first: {first})")]
    MissingRecords {
        /// Split name.
        split: String,
        /// How many are missing.
        count: usize,
        /// The first missing id.
        first: String,
    },
    /// The model was trained on other hops than the split's training partition.
    #[error(
        "model '{model}' was trained on {model_train} hops (split fingerprint {model_fp}), but split '{split}' \
         has a different training partition ({split_train} hops, {overlap} of its test hops were in the model's training set); \
         evaluate on the split it was trained on, or add FORCE to evaluate anyway"
    )]
    TrainingSetDiffers {
        /// Model name.
        model: String,
        /// Split name.
        split: String,
        /// Size of the model's training set.
        model_train: usize,
        /// Size of the split's training partition.
        split_train: usize,
        /// Test hops of the split that the model was trained on.
        overlap: usize,
        /// The model's split fingerprint (shortened).
        model_fp: String,
    },
    /// Anything else the caller asked for that cannot be done.
    #[error("{0}")]
    Invalid(String),
    /// STRICT was asked for and the model's training data changed since it was trained.
    #[error("model '{model}' is {detail} (STRICT refuses a stale model)")]
    Stale {
        /// Model name.
        model: String,
        /// The staleness summary.
        detail: String,
    },
}

/// Result alias of this module.
pub type Result<T> = std::result::Result<T, WorkflowError>;

/// One stored prediction (keyspace `P`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// Hop id.
    pub id: String,
    /// Where the prediction came from: the split partition (`train`, `test`, `fold3`, ...)
    /// or `predict` for `PREDICT`.
    pub partition: String,
    /// Split the prediction belongs to ("" for `PREDICT`).
    pub split: String,
    /// The stored barrier (eV).
    pub em: f64,
    /// The predicted barrier (eV).
    pub predicted: f64,
}

/// The rows a model needs: records, descriptor rows, targets and host groups, all in one order.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// The hops.
    pub records: Vec<HopRecord>,
    /// Their ids (same order).
    pub ids: Vec<String>,
    /// Descriptor names (columns).
    pub names: Vec<String>,
    /// Descriptor rows.
    pub x: Vec<Vec<f64>>,
    /// Barriers (eV).
    pub y: Vec<f64>,
    /// Host group of each hop (hops of one host structure share it).
    pub groups: Vec<String>,
}

impl Dataset {
    /// The rows at `idx`, in that order.
    pub fn subset(&self, idx: &[usize]) -> Dataset {
        Dataset {
            records: idx.iter().map(|&i| self.records[i].clone()).collect(),
            ids: idx.iter().map(|&i| self.ids[i].clone()).collect(),
            names: self.names.clone(),
            x: idx.iter().map(|&i| self.x[i].clone()).collect(),
            y: idx.iter().map(|&i| self.y[i]).collect(),
            groups: idx.iter().map(|&i| self.groups[i].clone()).collect(),
        }
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// Load the records of `ids` (in the given order); errors name the first missing id.
pub fn load_records(store: &Store, ids: &[String], what: &str) -> Result<Vec<HopRecord>> {
    let mut out = Vec::with_capacity(ids.len());
    let mut missing = Vec::new();
    for id in ids {
        match store.get(id)? {
            Some(r) => out.push(r),
            None => missing.push(id.clone()),
        }
    }
    if let Some(first) = missing.first() {
        return Err(WorkflowError::MissingRecords { split: what.to_string(), count: missing.len(), first: first.clone() });
    }
    Ok(out)
}

/// Records, descriptors (feature set `set`, cached in the store), targets and host groups
/// of `ids`. Host groups are the connected components of [`split::host_components`] over
/// these records.
pub fn dataset(store: &Store, ids: &[String], set: &FeatureSet, what: &str) -> Result<Dataset> {
    let records = load_records(store, ids, what)?;
    let fm = features::cached_matrix(store, ids, set)?;
    let comp = split::host_components(&records);
    let groups = records.iter().map(|r| comp.get(&r.id).cloned().unwrap_or_else(|| split::host_key(r))).collect();
    let y = records.iter().map(|r| r.em).collect();
    Ok(Dataset { ids: fm.ids, names: fm.names, x: fm.rows, y, groups, records })
}

fn partition_of<'a>(s: &'a Split, name: &str, partition: &str, hint: &str) -> Result<&'a [String]> {
    let ids = s.partition(partition);
    if ids.is_empty() {
        return Err(WorkflowError::MissingPartition {
            split: name.to_string(),
            partition: partition.to_string(),
            have: s.partition_names().join(", "),
            hint: hint.to_string(),
        });
    }
    Ok(ids)
}

/// The feature set models are trained on unless a request names another.
pub fn default_feature_set() -> FeatureSet {
    FeatureSet::hop_v1()
}

/// The settings of a model request that choose its feature set rather than the model.
pub const FEATURE_SETTINGS: [&str; 2] = ["features", "mlip"];

/// The feature set a request's settings choose (`features = 'hop-v2'`, `mlip =
/// '<model>/<protocol>'`; default [`default_feature_set`]) and the remaining model settings.
pub fn feature_set_from_settings(params: &BTreeMap<String, String>) -> Result<(FeatureSet, BTreeMap<String, String>)> {
    let mut rest = params.clone();
    let name = rest.remove("features");
    let mlip = rest.remove("mlip");
    let set = match (name.as_deref(), mlip.as_deref()) {
        (None, None) => default_feature_set(),
        (None, Some(_)) => return Err(WorkflowError::Invalid("mlip = '...' chooses the MLIP column of features = 'hop-v2'; add features = 'hop-v2'".into())),
        (Some(n), m) => FeatureSet::named(n, m)?,
    };
    Ok((set, rest))
}

fn feature_set_label(set: &FeatureSet) -> String {
    set.label()
}

/// What [`train`] and [`tune`] need besides the split.
#[derive(Clone, Debug)]
pub struct TrainRequest {
    /// Name to save the model under.
    pub name: String,
    /// Model kind.
    pub kind: Kind,
    /// Hyperparameters as given (`trees = 500`, ...); the kind's defaults fill the rest.
    pub params: BTreeMap<String, String>,
    /// Stored split whose `train` partition is fitted.
    pub split: String,
    /// Replace a model of the same name.
    pub replace: bool,
    /// Save as the next version of the model of that name (`RETRAIN`), keeping the current one
    /// as `name@k` with its predictions.
    pub next_version: bool,
}

/// Save a freshly trained model: as the next version of its name (`next_version`), or under
/// its name (replacing one when `replace`). Returns the record as saved.
fn save_trained(store: &Store, rec: ModelRecord, replace: bool, next_version: bool) -> Result<ModelRecord> {
    if !next_version {
        registry::save(store, &rec, replace)?;
        return Ok(rec);
    }
    let base = rec.name.clone();
    let (mut ws, saved, old_key) = registry::next_version(store, rec)?;
    for id in store.object_names(Keyspace::Prediction, &[&base])? {
        if let Some(p) = store.load_object::<(u32, Prediction)>(Keyspace::Prediction, &[&base, &id])? {
            ws.put_object(Keyspace::Prediction, &[&old_key, &id], &p);
            ws.remove_object(Keyspace::Prediction, &[&base, &id]);
        }
    }
    store.commit(ws)?;
    Ok(saved)
}

/// Fit `req.kind` on the `train` partition of split `req.split` and save it in the registry.
/// The record carries the split fingerprint, the training ids, the training MAE and timings.
pub fn train(store: &Store, req: &TrainRequest) -> Result<ModelRecord> {
    registry::validate_name(&req.name)?;
    if !req.replace && !req.next_version && registry::exists(store, &req.name)? {
        return Err(ModelError::Exists(req.name.clone()).into());
    }
    let (set, model_params) = feature_set_from_settings(&req.params)?;
    let params = Params::parse(req.kind, &model_params)?;
    let s = split::load(store, &req.split)?;
    let ids = partition_of(&s, &req.split, "train", "train on a train/test split (e.g. CREATE SPLIT paper FROM PARTITION), or use CROSS VALIDATE on a k-fold split")?.to_vec();
    let t0 = Instant::now();
    let d = dataset(store, &ids, &set, &req.split)?;
    let t_features = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let m = model::fit_labeled(&d.x, &d.y, Labels::new(&d.ids, &d.names), &params)?;
    let t_fit = t1.elapsed().as_secs_f64();
    let pred = model::predict(&m, &d.x)?;
    let fit = metrics::metrics(&d.y, &pred)?;
    let mut rec = ModelRecord::from_model(&req.name, &m, &feature_set_label(&set), &s.fingerprint, d.ids.clone())?;
    rec.lineage = Some(Lineage::now(store, &d.records, &rec.feature_set, &req.split, &s.fingerprint)?);
    rec.metrics.insert("train_mae".into(), fit.mae);
    rec.metrics.insert("train_r2".into(), fit.r2);
    rec.metrics.insert("fit_seconds".into(), t_fit);
    rec.training_log.push(format!("split '{}' ({}), train partition: {} hops, {} features", req.split, short_fp(&s.fingerprint), d.len(), d.names.len()));
    rec.training_log.push(format!("params: {}", params));
    rec.training_log.push(format!("descriptors {t_features:.2} s, fit {t_fit:.2} s, training MAE {:.4} eV", fit.mae));
    save_trained(store, rec, req.replace, req.next_version)
}

/// Outcome of [`tune`]: the search table and the model refitted with the best setting.
#[derive(Clone, Debug)]
pub struct TuneOutcome {
    /// The grid search.
    pub search: TuneResult,
    /// The saved model (best setting, fitted on the whole training partition).
    pub model: ModelRecord,
}

/// Grid search (grouped `folds`-fold CV inside the `train` partition of `req.split`, fold
/// assignment seeded by `seed`), then fit the best setting on the whole training partition
/// and save it as `req.name`. `grid` empty: the kind's default grid.
pub fn tune(store: &Store, req: &TrainRequest, grid: Option<&Grid>, folds: usize, seed: u64) -> Result<TuneOutcome> {
    registry::validate_name(&req.name)?;
    if !req.replace && !req.next_version && registry::exists(store, &req.name)? {
        return Err(ModelError::Exists(req.name.clone()).into());
    }
    let grid = match grid {
        Some(g) => g.clone(),
        None => Grid::default_for(req.kind),
    };
    let s = split::load(store, &req.split)?;
    let ids = partition_of(&s, &req.split, "train", "tune on a train/test split")?.to_vec();
    let (set, _) = feature_set_from_settings(&req.params)?;
    let d = dataset(store, &ids, &set, &req.split)?;
    let t0 = Instant::now();
    let search = model::tune(req.kind, &d.x, &d.y, Some(&d.groups), &grid, folds, seed)?;
    let t_search = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let m = model::fit_labeled(&d.x, &d.y, Labels::new(&d.ids, &d.names), &search.best)?;
    let t_fit = t1.elapsed().as_secs_f64();
    let mut rec = ModelRecord::from_model(&req.name, &m, &feature_set_label(&set), &s.fingerprint, d.ids.clone())?;
    rec.lineage = Some(Lineage::now(store, &d.records, &rec.feature_set, &req.split, &s.fingerprint)?);
    rec.metrics.insert("cv_mae".into(), search.best_mae);
    rec.metrics.insert("tune_seconds".into(), t_search);
    rec.metrics.insert("fit_seconds".into(), t_fit);
    rec.training_log.push(format!(
        "TUNE: grouped {folds}-fold CV (seed {seed}) inside the train partition of '{}' ({} hops, {} host groups), {} grid points, {t_search:.1} s",
        req.split,
        d.len(),
        d.groups.iter().collect::<BTreeSet<_>>().len(),
        search.table.len()
    ));
    for row in &search.table {
        let point: Vec<String> = row.point.iter().map(|(k, v)| format!("{k}={v}")).collect();
        rec.training_log.push(format!("  cv_mae {:.4} +- {:.4}  {}", row.mean_mae, row.std_mae, point.join(", ")));
    }
    rec.training_log.push(format!("best: {} (cv_mae {:.4} eV); refit on all {} hops in {t_fit:.2} s", search.best, search.best_mae, d.len()));
    let rec = save_trained(store, rec, req.replace, req.next_version)?;
    Ok(TuneOutcome { search, model: rec })
}

/// Train a graph network (`TRAIN name AS gnn(variant) ON SPLIT s [PRETRAINED ON (...)]`):
/// only in builds with the `gnn` feature (libtorch).
#[cfg(not(feature = "gnn"))]
pub fn train_gnn(
    _store: &Store,
    name: &str,
    _split: &str,
    _params: &BTreeMap<String, String>,
    _pretrain: Option<(&str, &[String])>,
    _replace: bool,
    _next_version: bool,
) -> Result<ModelRecord> {
    Err(WorkflowError::Invalid(format!(
        "cannot train '{name}': graph networks need libtorch, and this hopdb was built without the `gnn` feature (build with `make build`)"
    )))
}

/// Train a graph network (`TRAIN name AS gnn(variant) ON SPLIT s [PRETRAINED ON (...)]`):
/// optional pre-training on the records `pretrain` names (e.g. `fidelity = 'bvse'`), then
/// fine-tuning of all weights on the split's `train` partition, with early stopping on a
/// validation part carved from that partition by host group (never the test partition).
/// `params` is the `model::gnn::Spec` map (`variant`, `epochs`, `lr`, `seed`, ...);
/// `pretrain` the pre-training query (HopQL, kept in the lineage) and the ids it selected.
#[cfg(feature = "gnn")]
pub fn train_gnn(
    store: &Store,
    name: &str,
    split_name: &str,
    params: &BTreeMap<String, String>,
    pretrain: Option<(&str, &[String])>,
    replace: bool,
    next_version: bool,
) -> Result<ModelRecord> {
    use crate::model::gnn;
    let inv = |e: gnn::GnnError| WorkflowError::Invalid(e.to_string());
    registry::validate_name(name)?;
    if !replace && !next_version && registry::exists(store, name)? {
        return Err(ModelError::Exists(name.to_string()).into());
    }
    let spec = gnn::Spec::from_map(params).map_err(inv)?;
    let s = split::load(store, split_name)?;
    let ids = partition_of(&s, split_name, "train", "train on a train/test split (e.g. CREATE SPLIT paper FROM PARTITION)")?.to_vec();
    let train = load_records(store, &ids, split_name)?;
    let pre_records = match pretrain {
        Some((_, p)) => load_records(store, p, "the PRETRAINED ON query")?,
        None => Vec::new(),
    };
    let test: BTreeSet<&str> = s.test().iter().map(String::as_str).collect();
    let leaked = pre_records.iter().filter(|r| test.contains(r.id.as_str())).count();
    if leaked > 0 {
        return Err(WorkflowError::Invalid(format!(
            "PRETRAINED ON selects {leaked} test hop(s) of split '{split_name}'; pre-train on hops outside its test partition (e.g. WHERE fidelity = 'bvse')"
        )));
    }
    if pretrain.is_some() && pre_records.is_empty() {
        return Err(WorkflowError::Invalid("the PRETRAINED ON query selects no hops".into()));
    }
    let pre = if pre_records.is_empty() { gnn::Pretrain::None } else { gnn::Pretrain::Records(&pre_records) };
    let opts = gnn::TrainOptions { progress: true, ..Default::default() };
    let trained = gnn::train(store, &train, gnn::Validation::Carve, pre, &spec, opts).map_err(inv)?;
    let mut rec = trained.to_record(name, &s.fingerprint).map_err(inv)?;
    let mut lineage = Lineage::now(store, &train, &rec.feature_set, split_name, &s.fingerprint)?;
    lineage.pretrain_query = pretrain.map(|(q, _)| q.to_string());
    rec.lineage = Some(lineage);
    if !pre_records.is_empty() {
        let from_test = pre_records.iter().filter(|r| r.parent.as_deref().is_some_and(|p| test.contains(p))).count();
        rec.training_log.insert(0, format!("pre-training set: {} hops ({from_test} of them BVSE labels of test-partition structures, no DFT labels)", pre_records.len()));
    }
    rec.training_log.insert(0, format!("split '{split_name}' ({}), train partition: {} hops", short_fp(&s.fingerprint), train.len()));
    save_trained(store, rec, replace, next_version)
}

/// Predict barriers for `records` with a stored model (tree models through their feature
/// set; graph networks through `model::gnn` when hopdb is built with the `gnn` feature).
pub fn predict_records(store: &Store, rec: &ModelRecord, records: &[HopRecord]) -> Result<Vec<f64>> {
    if records.is_empty() {
        return Ok(Vec::new());
    }
    if rec.kind == GNN_KIND {
        return predict_gnn(store, rec, records);
    }
    let set = feature_set_of(rec)?;
    let ids: Vec<String> = records.iter().map(|r| r.id.clone()).collect();
    let fm = features::cached_matrix(store, &ids, &set)?;
    let m = rec.model()?;
    Ok(model::predict_labeled(&m, &fm.rows, Some(&fm.ids))?)
}

#[cfg(feature = "gnn")]
fn predict_gnn(store: &Store, rec: &ModelRecord, records: &[HopRecord]) -> Result<Vec<f64>> {
    crate::model::gnn::predict_records(store, rec, records).map_err(|e| WorkflowError::Invalid(e.to_string()))
}

#[cfg(not(feature = "gnn"))]
fn predict_gnn(_store: &Store, rec: &ModelRecord, _records: &[HopRecord]) -> Result<Vec<f64>> {
    Err(WorkflowError::Invalid(format!("model '{}' is a graph network; this hopdb was built without the `gnn` feature (build with `make build`)", rec.name)))
}

/// The feature set a tree model was trained on, checked against its column names.
fn feature_set_of(rec: &ModelRecord) -> Result<FeatureSet> {
    let set = FeatureSet::from_label(&rec.feature_set).unwrap_or_else(|_| default_feature_set());
    if rec.feature_set != feature_set_label(&set) || rec.feature_names != set.names {
        return Err(WorkflowError::Invalid(format!(
            "model '{}' was trained on feature set {} ({} columns); this hopdb computes {} ({} columns): retrain it",
            rec.name,
            rec.feature_set,
            rec.feature_names.len(),
            feature_set_label(&set),
            set.names.len()
        )));
    }
    Ok(set)
}

/// Options of [`evaluate`].
#[derive(Clone, Copy, Debug)]
pub struct EvalOptions {
    /// Good/bad conductor threshold (eV).
    pub threshold: f64,
    /// Bootstrap resamples (0: no standard errors).
    pub resamples: usize,
    /// Bootstrap seed.
    pub seed: u64,
    /// Evaluate even when the split's training partition differs from the model's.
    pub force: bool,
    /// Save the predictions (train and test partitions) in the store.
    pub save: bool,
    /// Refuse a stale model ([`WorkflowError::Stale`]) instead of noting it.
    pub strict: bool,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions { threshold: DEFAULT_THRESHOLD, resamples: DEFAULT_RESAMPLES, seed: DEFAULT_BOOTSTRAP_SEED, force: false, save: true, strict: false }
    }
}

/// Everything [`evaluate`] measures on a split.
#[derive(Clone, Debug, Serialize)]
pub struct Evaluation {
    /// Model name.
    pub model: String,
    /// Model kind.
    pub kind: String,
    /// Split name.
    pub split: String,
    /// Test-set regression metrics.
    pub test: Metrics,
    /// Training-set regression metrics (the model's fit).
    pub train: Metrics,
    /// Test-set classification at the threshold.
    pub classification: Classification,
    /// Bootstrap standard errors of the test statistics (None when `resamples` is 0).
    pub bootstrap: Option<BootstrapErrors>,
    /// `(group, n, MAE)` over the test hops, by structural group.
    pub by_group: Vec<(String, usize, f64)>,
    /// `(scenario, n, MAE)` over the test hops, by scenario A/B/C/none.
    pub by_scenario: Vec<(String, usize, f64)>,
    /// Per-hop predictions of the train and test partitions.
    pub predictions: Vec<Prediction>,
    /// Scenario of each test hop (id -> A/B/C/none).
    pub scenarios: BTreeMap<String, String>,
    /// Structural group of each hop of the split.
    pub groups: BTreeMap<String, String>,
    /// When the model is stale, why (its training hops changed since it was trained).
    pub stale: Option<String>,
}

impl Evaluation {
    /// Predictions of one partition.
    pub fn partition(&self, name: &str) -> impl Iterator<Item = &Prediction> + '_ {
        let name = name.to_string();
        self.predictions.iter().filter(move |p| p.partition == name)
    }
}

fn short_fp(fp: &str) -> String {
    fp.chars().take(12).collect()
}

/// Check that `rec` was trained on the training partition of `s`: the same fingerprint, or
/// the same training ids.
fn check_training_set(rec: &ModelRecord, s: &Split, split_name: &str) -> Result<()> {
    if !rec.split_fingerprint.is_empty() && rec.split_fingerprint == s.fingerprint {
        return Ok(());
    }
    let mine: BTreeSet<&str> = rec.train_ids.iter().map(String::as_str).collect();
    let theirs: BTreeSet<&str> = s.train().iter().map(String::as_str).collect();
    if mine == theirs {
        return Ok(());
    }
    let overlap = s.test().iter().filter(|id| mine.contains(id.as_str())).count();
    Err(WorkflowError::TrainingSetDiffers {
        model: rec.name.clone(),
        split: split_name.to_string(),
        model_train: mine.len(),
        split_train: theirs.len(),
        overlap,
        model_fp: short_fp(&rec.split_fingerprint),
    })
}

/// Evaluate a stored model on the test partition of a stored split: regression metrics,
/// classification at the threshold, bootstrap standard errors, errors by structural group
/// and by scenario A/B/C; predictions of train and test saved when `opts.save`.
pub fn evaluate(store: &Store, model_name: &str, split_name: &str, opts: &EvalOptions) -> Result<Evaluation> {
    if !(opts.threshold.is_finite() && opts.threshold > 0.0) {
        return Err(WorkflowError::Invalid(format!("threshold must be a positive number of eV, got {}", opts.threshold)));
    }
    let rec = registry::load(store, model_name)?;
    let stale = freshness(store, &rec, opts.strict)?;
    let s = split::load(store, split_name)?;
    let test_ids = partition_of(&s, split_name, "test", "evaluate on a train/test split")?.to_vec();
    if !opts.force {
        check_training_set(&rec, &s, split_name)?;
    }
    let train_ids = s.train().to_vec();
    let test = load_records(store, &test_ids, split_name)?;
    let train = load_records(store, &train_ids, split_name)?;
    let p_test = predict_records(store, &rec, &test)?;
    let p_train = predict_records(store, &rec, &train)?;
    let y_test: Vec<f64> = test.iter().map(|r| r.em).collect();
    let y_train: Vec<f64> = train.iter().map(|r| r.em).collect();
    let test_m = metrics::metrics(&y_test, &p_test)?;
    let train_m = if train.is_empty() { Metrics { n: 0, mae: f64::NAN, rmse: f64::NAN, r2: f64::NAN, max_error: f64::NAN } } else { metrics::metrics(&y_train, &p_train)? };
    let classification = metrics::classify(&y_test, &p_test, opts.threshold)?;
    let bootstrap = if opts.resamples > 0 { Some(metrics::bootstrap_at(&y_test, &p_test, opts.resamples, opts.seed, opts.threshold)?) } else { None };
    let group_of = |r: &HopRecord| r.material.group.clone().unwrap_or_else(|| split::NO_GROUP.to_string());
    let test_groups: Vec<String> = test.iter().map(group_of).collect();
    let by_group = metrics::errors_by(&test_groups, &y_test, &p_test)?;
    let tags = scenario::classify(store, &train_ids, &test_ids)?;
    let scen: BTreeMap<String, String> = tags.iter().map(|t| (t.id.clone(), t.scenario.as_str().to_string())).collect();
    let scen_keys: Vec<String> = test.iter().map(|r| scen.get(&r.id).cloned().unwrap_or_else(|| "none".into())).collect();
    let by_scenario = metrics::errors_by(&scen_keys, &y_test, &p_test)?;
    let mut predictions = Vec::with_capacity(train.len() + test.len());
    for (part, recs, preds) in [("train", &train, &p_train), ("test", &test, &p_test)] {
        for (r, p) in recs.iter().zip(preds.iter()) {
            predictions.push(Prediction { id: r.id.clone(), partition: part.to_string(), split: split_name.to_string(), em: r.em, predicted: *p });
        }
    }
    let groups = train.iter().chain(test.iter()).map(|r| (r.id.clone(), group_of(r))).collect();
    let e = Evaluation {
        model: rec.name.clone(),
        kind: rec.kind.clone(),
        split: split_name.to_string(),
        test: test_m,
        train: train_m,
        classification,
        bootstrap,
        by_group,
        by_scenario,
        predictions,
        scenarios: scen,
        groups,
        stale,
    };
    if opts.save {
        save_predictions(store, &rec.name, &e.predictions, &format!("evaluate model '{}' on split '{}'", rec.name, split_name))?;
        let mut rec = rec;
        rec.metrics.insert("test_mae".into(), e.test.mae);
        rec.metrics.insert("test_rmse".into(), e.test.rmse);
        rec.metrics.insert("test_r2".into(), e.test.r2);
        rec.metrics.insert("test_accuracy".into(), e.classification.accuracy);
        if let Some(b) = &e.bootstrap {
            rec.metrics.insert("test_mae_se".into(), b.mae);
        }
        registry::save(store, &rec, true)?;
    }
    Ok(e)
}

/// `None` when `rec` is fresh (or has no lineage); the staleness summary when its training
/// hops changed since it was trained, or [`WorkflowError::Stale`] when `strict`.
fn freshness(store: &Store, rec: &ModelRecord, strict: bool) -> Result<Option<String>> {
    match lineage::staleness(store, rec)? {
        Some(s) if s.is_stale() => {
            let detail = s.summary(5);
            if strict {
                Err(WorkflowError::Stale { model: rec.name.clone(), detail })
            } else {
                Ok(Some(detail))
            }
        }
        _ => Ok(None),
    }
}

/// Whether the stored model `model_name` is stale ([`lineage::staleness`]): `None` for a model
/// without lineage.
pub fn staleness(store: &Store, model_name: &str) -> Result<Option<Staleness>> {
    let rec = registry::load(store, model_name)?;
    Ok(lineage::staleness(store, &rec)?)
}

/// [`predict`], first checking the model's freshness: the staleness summary beside the
/// predictions when it is stale, or [`WorkflowError::Stale`] when `strict`.
pub fn predict_checked(store: &Store, model_name: &str, ids: &[String], save: bool, strict: bool) -> Result<(Vec<Prediction>, Option<String>)> {
    let rec = registry::load(store, model_name)?;
    let stale = freshness(store, &rec, strict)?;
    Ok((predict(store, model_name, ids, save)?, stale))
}

/// What `RETRAIN` fits: the latest version of a model, its kind and settings as recorded.
#[derive(Clone, Debug)]
pub struct RetrainPlan {
    /// The model's latest version as stored.
    pub current: ModelRecord,
    /// The split whose training partition it was fitted on.
    pub split: String,
    /// For graph networks pre-trained on a query: the query.
    pub pretrain_query: Option<String>,
}

/// The plan of `RETRAIN name`: `name` must be a model's base name (or its latest version) and
/// carry lineage (the split it was trained on).
pub fn retrain_plan(store: &Store, name: &str) -> Result<RetrainPlan> {
    let (base, version) = registry::parse_ref(name);
    let current = registry::load(store, base)?;
    if let Some(v) = version {
        if v != current.version {
            return Err(WorkflowError::Invalid(format!(
                "RETRAIN works on a model's latest version: '{base}' is at version {}; '{name}' is kept as it was",
                current.version
            )));
        }
    }
    let Some(lin) = current.lineage.clone() else {
        return Err(WorkflowError::Invalid(format!(
            "model '{base}' was trained before hopdb recorded lineage (the split it learned from); train it again with TRAIN ... REPLACE"
        )));
    };
    if lin.split.is_empty() {
        return Err(WorkflowError::Invalid(format!("model '{base}' records no split to retrain on")));
    }
    Ok(RetrainPlan { current, split: lin.split, pretrain_query: lin.pretrain_query })
}

/// `RETRAIN` a tree model: fit its kind and hyperparameters (a tuned model's chosen ones) on
/// the training partition of its split as the store holds it now, saved as the next version
/// (the current one kept as `name@k` with its predictions and metrics).
pub fn retrain_trees(store: &Store, plan: &RetrainPlan) -> Result<ModelRecord> {
    let kind = Kind::parse(&plan.current.kind).ok_or_else(|| WorkflowError::Invalid(format!("model '{}' has kind '{}', which RETRAIN cannot fit", plan.current.name, plan.current.kind)))?;
    // The same feature set as the current version (its label names it).
    let mut params = plan.current.params.clone();
    let set = FeatureSet::from_label(&plan.current.feature_set).unwrap_or_else(|_| default_feature_set());
    if set != default_feature_set() {
        params.insert("features".into(), set.name.clone());
        if let Some(l) = &set.mlip_label {
            params.insert("mlip".into(), l.clone());
        }
    }
    let req = TrainRequest { name: plan.current.name.clone(), kind, params, split: plan.split.clone(), replace: false, next_version: true };
    train(store, &req)
}

/// Predict with a stored model for `ids` (e.g. the result of a query) and save the
/// predictions under partition `predict`.
pub fn predict(store: &Store, model_name: &str, ids: &[String], save: bool) -> Result<Vec<Prediction>> {
    let rec = registry::load(store, model_name)?;
    let records = load_records(store, ids, "query")?;
    let p = predict_records(store, &rec, &records)?;
    let out: Vec<Prediction> = records
        .iter()
        .zip(p)
        .map(|(r, predicted)| Prediction { id: r.id.clone(), partition: "predict".into(), split: String::new(), em: r.em, predicted })
        .collect();
    if save && !out.is_empty() {
        save_predictions(store, &rec.name, &out, &format!("predict with model '{model_name}' for {} hop(s)", out.len()))?;
    }
    Ok(out)
}

/// Outcome of [`cross_validate_split`].
#[derive(Clone, Debug)]
pub struct CrossValidation {
    /// Fold partition names, in order.
    pub folds: Vec<String>,
    /// Held-out MAE of each fold.
    pub fold_maes: Vec<f64>,
    /// Mean of the fold MAEs.
    pub mean_mae: f64,
    /// Metrics of all held-out predictions pooled.
    pub pooled: Metrics,
    /// Classification of the pooled held-out predictions.
    pub classification: Classification,
    /// Held-out prediction of every hop (partition = its fold).
    pub predictions: Vec<Prediction>,
}

/// Cross-validate `kind` with `params` over the folds of a stored k-fold split (partitions
/// `fold0`, `fold1`, ...): each fold is predicted by a model fitted on all other folds.
pub fn cross_validate_split(store: &Store, kind: Kind, params: &BTreeMap<String, String>, split_name: &str, threshold: f64) -> Result<CrossValidation> {
    let (set, model_params) = feature_set_from_settings(params)?;
    let params = Params::parse(kind, &model_params)?;
    let s = split::load(store, split_name)?;
    let folds: Vec<String> = s.partition_names().into_iter().filter(|n| n.starts_with("fold")).map(str::to_string).collect();
    if folds.len() < 2 {
        return Err(WorkflowError::MissingPartition {
            split: split_name.to_string(),
            partition: "fold0, fold1, ...".into(),
            have: s.partition_names().join(", "),
            hint: "cross-validate on a k-fold split (e.g. CREATE SPLIT cv FROM (SELECT * FROM hops WHERE fidelity = 'dft') GROUPED KFOLD 5)".into(),
        });
    }
    let mut all_ids = Vec::new();
    let mut fold_of = Vec::new();
    for (k, f) in folds.iter().enumerate() {
        for id in s.partition(f) {
            all_ids.push(id.clone());
            fold_of.push(k);
        }
    }
    let d = dataset(store, &all_ids, &set, split_name)?;
    let results: Vec<Result<(usize, Vec<usize>, Vec<f64>)>> = (0..folds.len())
        .map(|k| {
            let tr: Vec<usize> = (0..d.len()).filter(|&i| fold_of[i] != k).collect();
            let te: Vec<usize> = (0..d.len()).filter(|&i| fold_of[i] == k).collect();
            let (a, b) = (d.subset(&tr), d.subset(&te));
            let m = model::fit_labeled(&a.x, &a.y, Labels::new(&a.ids, &a.names), &params)?;
            Ok((k, te, model::predict(&m, &b.x)?))
        })
        .collect();
    let mut pred = vec![f64::NAN; d.len()];
    let mut fold_maes = vec![0.0; folds.len()];
    for r in results {
        let (k, te, p) = r?;
        let yt: Vec<f64> = te.iter().map(|&i| d.y[i]).collect();
        fold_maes[k] = metrics::metrics(&yt, &p)?.mae;
        for (i, v) in te.into_iter().zip(p) {
            pred[i] = v;
        }
    }
    let pooled = metrics::metrics(&d.y, &pred)?;
    let classification = metrics::classify(&d.y, &pred, threshold)?;
    let mean_mae = fold_maes.iter().sum::<f64>() / fold_maes.len() as f64;
    let predictions = (0..d.len())
        .map(|i| Prediction { id: d.ids[i].clone(), partition: folds[fold_of[i]].clone(), split: split_name.to_string(), em: d.y[i], predicted: pred[i] })
        .collect();
    Ok(CrossValidation { folds, fold_maes, mean_mae, pooled, classification, predictions })
}

// ---------------------------------------------------------------------------------------
// Stored predictions (keyspace `P`)
// ---------------------------------------------------------------------------------------

/// Version of the stored encoding of a [`Prediction`].
pub const PREDICTION_FORMAT_VERSION: u32 = 1;

/// Save predictions of `model` in one atomic write (op `predict`), replacing earlier
/// predictions of the same hops: named objects (model, record id) of the store's
/// [`Keyspace::Prediction`] keyspace, value `(PREDICTION_FORMAT_VERSION, Prediction)`.
pub fn save_predictions(store: &Store, model: &str, rows: &[Prediction], summary: &str) -> Result<()> {
    let mut ws = WriteSet::new("predict", summary.to_string());
    for p in rows {
        ws.put_object(Keyspace::Prediction, &[model, &p.id], &(PREDICTION_FORMAT_VERSION, p));
    }
    store.commit(ws)?;
    Ok(())
}

/// The stored predictions of `model`, in id order.
pub fn load_predictions(store: &Store, model: &str) -> Result<Vec<Prediction>> {
    let mut out = Vec::new();
    for (_, stored) in store.list_objects::<(u32, Prediction)>(Keyspace::Prediction, &[model])? {
        let (ver, p) = match stored {
            Ok(v) => v,
            Err(StoreError::Corrupt { key, msg }) => return Err(WorkflowError::Invalid(format!("stored prediction {key} is unreadable: {msg}"))),
            Err(e) => return Err(e.into()),
        };
        if ver != PREDICTION_FORMAT_VERSION {
            return Err(WorkflowError::Invalid(format!("stored prediction has format version {ver}, this hopdb reads {PREDICTION_FORMAT_VERSION}")));
        }
        out.push(p);
    }
    Ok(out)
}

/// Drop a model and its stored predictions in one atomic write: `rf` drops every version of
/// it (`rf`, `rf@1`, ...), `rf@1` that version alone. Returns the number of predictions dropped.
pub fn drop_model(store: &Store, name: &str) -> Result<usize> {
    if !registry::exists(store, name)? {
        return Err(ModelError::NotFound(name.to_string()).into());
    }
    let keys: Vec<String> = match registry::parse_ref(name) {
        (base, None) => store
            .object_names(Keyspace::Model, &[])?
            .into_iter()
            .filter(|k| {
                let (b, v) = registry::parse_ref(k);
                b == base && (v.is_some() || k == base)
            })
            .collect(),
        (base, Some(v)) => {
            let rec = registry::load(store, name)?;
            if rec.name == base && rec.version == v {
                return Err(WorkflowError::Invalid(format!("'{name}' is the latest version of '{base}': drop it as DROP MODEL {base} (which drops every version)")));
            }
            vec![name.to_string()]
        }
    };
    let mut ws = WriteSet::new("model", format!("drop model {} and its predictions", keys.iter().map(|k| format!("'{k}'")).collect::<Vec<_>>().join(", ")));
    let mut n = 0;
    for key in &keys {
        ws.remove_object(Keyspace::Model, &[key]);
        let ids = store.object_names(Keyspace::Prediction, &[key])?;
        for id in &ids {
            ws.remove_object(Keyspace::Prediction, &[key, id]);
        }
        n += ids.len();
    }
    store.commit(ws)?;
    Ok(n)
}
