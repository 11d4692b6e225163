//! Barrier regressors: fit, predict, serialise, cross-validate and tune models that predict
//! the migration barrier Em (eV) of a hop from its descriptor vector.
//!
//! The API takes plain rows (`&[Vec<f64>]`, one row per hop, every row the same length),
//! targets (`&[f64]`, eV) and, for cross-validation, optional group keys (one per row; the
//! host structure, so that all hops of one host land in the same fold). Row ids and feature
//! names are optional ([`Labels`]) and only make error messages and importances readable.
//!
//! # Kinds
//!
//! * [`Kind::RandomForest`] (`random_forest`, `rf`): smartcore 0.7's `RandomForestRegressor`
//!   (bootstrap, best split on `mtry` random features, MSE criterion). smartcore seeds each
//!   forest from `RandomForestRegressorParameters::seed` (bootstrap draws from a
//!   `SmallRng::seed_from_u64(seed)`, tree `i` picks its features from `seed + i`), and fits
//!   serially, so a fit is a deterministic function of data and seed. hopdb fits the forest as
//!   sub-forests of [`FOREST_CHUNK_TREES`] trees in parallel (rayon), each seeded from
//!   `(seed, chunk index)`, and averages them tree-weighted: the result does not depend on the
//!   number of threads. (`SmallRng` is not portable across rand versions or platforms, so a
//!   refit after a smartcore/rand upgrade may differ slightly; stored models are unaffected,
//!   they keep their trees.)
//! * [`Kind::BoostedTrees`] (`boosted_trees`, `gbt`): forust-ml 0.8's `GradientBooster`
//!   with squared loss. forust-ml was chosen over perpetual 3.0-rc: it implements the
//!   XGBoost algorithm with its usual knobs (learning rate, depth, rounds, row and column
//!   subsampling, L2, gamma, min child weight), which the grouped-CV tuner can search and
//!   which match the reference gradient-boosting pipeline; all its randomness comes from one
//!   `StdRng::seed_from_u64(seed)`, and its parallel split search breaks ties by feature
//!   order, so fits are deterministic; its dependencies (rand 0.8, rayon, serde, serde_json,
//!   thiserror 1, log) are already in hopdb's tree. perpetual is a release candidate whose
//!   only knob is a "budget", whose stopping can depend on wall-clock `timeout` and
//!   `memory_limit` (through sysinfo), and which adds rand 0.10, thiserror 2 and sysinfo.
//! * [`Kind::Mean`] (`mean`): predicts the training mean (of the transformed target).
//!
//! # Target transform
//!
//! [`Target::Log1p`] (the default of the tree models) fits `ln(1 + Em)` and returns
//! `exp(p) - 1`; [`Target::Identity`] fits Em as is. [`predict`] always returns eV.
//!
//! # Errors
//!
//! Empty training sets, rows of the wrong length, NaN or infinite features or targets (the
//! error names the row, by id when [`Labels`] gives one, and the feature), targets <= -1 with
//! `log1p`, unknown or bad hyperparameters: every one is a [`ModelError`], never a panic.

mod boost;
pub mod cv;
mod forest;
#[cfg(feature = "gnn")]
pub mod gnn;
pub mod params;
pub mod lineage;
pub mod registry;

pub use cv::{cross_validate, group_folds, tune, CvResult, Grid, TuneResult, TuneRow};
pub use params::{Algo, BoostParams, ForestParams, Mtry, Params, Target, DEFAULT_SEED};
pub use registry::ModelRecord;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Trees per independently seeded sub-forest of a random forest (fixed, so that results do
/// not depend on the thread count).
pub const FOREST_CHUNK_TREES: usize = 25;

/// Version of the byte encoding of a [`Model`] ([`Model::to_bytes`]).
pub const MODEL_FORMAT_VERSION: u32 = 1;

/// Model errors.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// No training rows.
    #[error("the training set is empty")]
    EmptyTrainingSet,
    /// Rows have no features.
    #[error("the rows have no features")]
    NoFeatures,
    /// Two inputs that must match in length do not.
    #[error("length mismatch: {what} has {got} entries, expected {expected}")]
    LengthMismatch {
        /// Which input.
        what: String,
        /// Its length.
        got: usize,
        /// Expected length.
        expected: usize,
    },
    /// A row has the wrong number of features.
    #[error("{row} has {got} features, expected {expected}")]
    RowLength {
        /// The row (`row 3 (id 'x')`).
        row: String,
        /// Its length.
        got: usize,
        /// Expected length.
        expected: usize,
    },
    /// A feature value is NaN or infinite.
    #[error("{row}: feature '{feature}' is not finite ({value})")]
    NonFiniteFeature {
        /// The row.
        row: String,
        /// The feature's name (or `x<column>`).
        feature: String,
        /// The value.
        value: f64,
    },
    /// A target is NaN, infinite or outside the transform's domain.
    #[error("{row}: target {value} {msg}")]
    BadTarget {
        /// The row.
        row: String,
        /// The value.
        value: f64,
        /// What is wrong.
        msg: String,
    },
    /// An unknown model kind.
    #[error("unknown model kind '{0}' (expected random_forest, boosted_trees or mean)")]
    UnknownKind(String),
    /// An unknown hyperparameter.
    #[error("unknown parameter '{key}' for {kind} (known: {known})")]
    UnknownParam {
        /// The model kind.
        kind: Kind,
        /// The key as given.
        key: String,
        /// The accepted keys.
        known: String,
    },
    /// A hyperparameter with a bad value.
    #[error("bad value '{value}' for parameter '{key}': {msg}")]
    BadParam {
        /// The key.
        key: String,
        /// The value as given.
        value: String,
        /// What is wrong.
        msg: String,
    },
    /// Cross-validation cannot be set up (too few groups, k < 2, ...).
    #[error("cross-validation: {0}")]
    Folds(String),
    /// The learning library failed.
    #[error("{backend} failed: {msg}")]
    Backend {
        /// Library.
        backend: &'static str,
        /// Its message.
        msg: String,
    },
    /// Model bytes that do not decode.
    #[error("cannot decode model: {0}")]
    Decode(String),
    /// A model name that is not valid.
    #[error("{0}")]
    InvalidName(String),
    /// No stored model of that name.
    #[error("no model named '{0}'")]
    NotFound(String),
    /// A stored model of that name exists (save without replace).
    #[error("a model named '{0}' already exists (drop it first or save with replace)")]
    Exists(String),
    /// Metric computation failed.
    #[error(transparent)]
    Eval(#[from] crate::metrics::EvalError),
    /// Store error.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// Result alias for model operations.
pub type Result<T> = std::result::Result<T, ModelError>;

/// Model kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Kind {
    /// Random forest (smartcore).
    RandomForest,
    /// Gradient-boosted trees (forust-ml).
    BoostedTrees,
    /// Training-mean baseline.
    Mean,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 3] = [Kind::RandomForest, Kind::BoostedTrees, Kind::Mean];

    /// Canonical name: `random_forest`, `boosted_trees`, `mean`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::RandomForest => "random_forest",
            Kind::BoostedTrees => "boosted_trees",
            Kind::Mean => "mean",
        }
    }

    /// Parse a kind name or alias (`rf`, `forest`, `gbt`, `gbm`, `boost`, `xgboost`,
    /// `baseline`), case-insensitively, `-` and `_` alike.
    pub fn parse(s: &str) -> Option<Kind> {
        match s.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "random_forest" | "rf" | "forest" | "randomforest" => Some(Kind::RandomForest),
            "boosted_trees" | "gbt" | "gbm" | "boost" | "gradient_boosting" | "xgboost" | "boosting" => Some(Kind::BoostedTrees),
            "mean" | "baseline" | "mean_baseline" => Some(Kind::Mean),
            _ => None,
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Kind {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Kind> {
        Kind::parse(s).ok_or_else(|| ModelError::UnknownKind(s.to_string()))
    }
}

/// Optional row ids and feature names, for error messages and importances.
#[derive(Clone, Copy, Debug, Default)]
pub struct Labels<'a> {
    /// One id per row.
    pub ids: Option<&'a [String]>,
    /// One name per feature column.
    pub names: Option<&'a [String]>,
}

impl<'a> Labels<'a> {
    /// Labels with both ids and feature names.
    pub fn new(ids: &'a [String], names: &'a [String]) -> Self {
        Labels { ids: Some(ids), names: Some(names) }
    }

    fn row(&self, i: usize) -> String {
        match self.ids.and_then(|ids| ids.get(i)) {
            Some(id) => format!("row {i} (id '{id}')"),
            None => format!("row {i}"),
        }
    }

    fn feature(&self, j: usize) -> String {
        match self.names.and_then(|n| n.get(j)) {
            Some(n) => n.clone(),
            None => default_feature_name(j),
        }
    }
}

/// Name of an unnamed feature column: `x<column>`.
pub fn default_feature_name(j: usize) -> String {
    format!("x{j}")
}

/// Check feature rows: non-empty, equal lengths (`expected` columns when given), finite.
/// Returns the number of columns.
fn check_rows(x: &[Vec<f64>], labels: Labels, expected: Option<usize>) -> Result<usize> {
    let p = match (expected, x.first()) {
        (Some(p), _) => p,
        (None, Some(r)) => r.len(),
        (None, None) => return Err(ModelError::EmptyTrainingSet),
    };
    if p == 0 {
        return Err(ModelError::NoFeatures);
    }
    for (i, row) in x.iter().enumerate() {
        if row.len() != p {
            return Err(ModelError::RowLength { row: labels.row(i), got: row.len(), expected: p });
        }
        if let Some((j, &v)) = row.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(ModelError::NonFiniteFeature { row: labels.row(i), feature: labels.feature(j), value: v });
        }
    }
    if let Some(ids) = labels.ids {
        if ids.len() != x.len() {
            return Err(ModelError::LengthMismatch { what: "ids".into(), got: ids.len(), expected: x.len() });
        }
    }
    if let Some(names) = labels.names {
        if names.len() != p {
            return Err(ModelError::LengthMismatch { what: "feature names".into(), got: names.len(), expected: p });
        }
    }
    Ok(p)
}

/// Validate a training set without fitting: non-empty, `y` as long as `x`, rows of equal
/// length, all values finite, targets in the domain of `target`. Returns the number of
/// features. Errors name the row (by id when `labels` has ids) and the feature.
pub fn validate(x: &[Vec<f64>], y: &[f64], labels: Labels, target: Target) -> Result<usize> {
    if x.is_empty() {
        return Err(ModelError::EmptyTrainingSet);
    }
    if y.len() != x.len() {
        return Err(ModelError::LengthMismatch { what: "targets".into(), got: y.len(), expected: x.len() });
    }
    let p = check_rows(x, labels, None)?;
    for (i, &v) in y.iter().enumerate() {
        if !v.is_finite() {
            return Err(ModelError::BadTarget { row: labels.row(i), value: v, msg: "is not finite".into() });
        }
        if target == Target::Log1p && v <= -1.0 {
            return Err(ModelError::BadTarget { row: labels.row(i), value: v, msg: "is <= -1, outside the domain of log1p".into() });
        }
    }
    Ok(p)
}

/// Column-major copy of the rows `rows` of `x` (all of them when `None`).
pub(crate) fn column_major(x: &[Vec<f64>], rows: Option<&[usize]>, p: usize) -> Vec<f64> {
    let n = rows.map_or(x.len(), |r| r.len());
    let mut out = Vec::with_capacity(n * p);
    for j in 0..p {
        match rows {
            Some(r) => out.extend(r.iter().map(|&i| x[i][j])),
            None => out.extend(x.iter().map(|row| row[j])),
        }
    }
    out
}

/// A fitted backend.
enum Fitted {
    Forest(forest::Forest),
    Boost(Box<boost::Booster>),
    Mean(f64),
}

/// A fitted barrier model: hyperparameters, feature names and the fitted trees (or mean).
///
/// Serialise with [`Model::to_bytes`] and read back with [`Model::from_bytes`]; the copy
/// predicts bit-identically.
pub struct Model {
    params: Params,
    feature_names: Vec<String>,
    n_train: usize,
    fitted: Fitted,
}

impl fmt::Debug for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Model").field("params", &self.params).field("n_features", &self.feature_names.len()).field("n_train", &self.n_train).finish()
    }
}

/// Serialised form of a model.
#[derive(Serialize, Deserialize)]
struct ModelRepr {
    params: Params,
    feature_names: Vec<String>,
    n_train: usize,
    payload: Payload,
}

#[derive(Serialize, Deserialize)]
enum Payload {
    /// bincode of the sub-forests.
    Forest(Vec<u8>),
    /// forust-ml's JSON dump.
    Boost(String),
    /// The mean on the fitting scale.
    Mean(f64),
}

impl Model {
    /// The hyperparameters the model was fitted with.
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// The model kind.
    pub fn kind(&self) -> Kind {
        self.params.kind()
    }

    /// Feature names, one per column (given at fit time, or `x0`, `x1`, ...).
    pub fn feature_names(&self) -> &[String] {
        &self.feature_names
    }

    /// Number of feature columns.
    pub fn n_features(&self) -> usize {
        self.feature_names.len()
    }

    /// Number of training rows.
    pub fn n_train(&self) -> usize {
        self.n_train
    }

    /// Encode the model as bytes (bincode, versioned by [`MODEL_FORMAT_VERSION`]).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let payload = match &self.fitted {
            Fitted::Forest(f) => Payload::Forest(f.to_bytes()?),
            Fitted::Boost(b) => Payload::Boost(b.to_json()?),
            Fitted::Mean(m) => Payload::Mean(*m),
        };
        let repr = ModelRepr { params: self.params.clone(), feature_names: self.feature_names.clone(), n_train: self.n_train, payload };
        bincode::serialize(&(MODEL_FORMAT_VERSION, repr)).map_err(|e| ModelError::Decode(format!("cannot encode: {e}")))
    }

    /// Decode bytes written by [`Model::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Model> {
        let (ver, repr): (u32, ModelRepr) = bincode::deserialize(bytes).map_err(|e| ModelError::Decode(e.to_string()))?;
        if ver != MODEL_FORMAT_VERSION {
            return Err(ModelError::Decode(format!("format version {ver}, this hopdb reads {MODEL_FORMAT_VERSION}")));
        }
        let fitted = match (&repr.params.algo, repr.payload) {
            (Algo::RandomForest(_), Payload::Forest(b)) => Fitted::Forest(forest::Forest::from_bytes(&b)?),
            (Algo::BoostedTrees(_), Payload::Boost(s)) => Fitted::Boost(Box::new(boost::Booster::from_json(&s)?)),
            (Algo::Mean, Payload::Mean(m)) => Fitted::Mean(m),
            _ => return Err(ModelError::Decode("payload does not match the model kind".into())),
        };
        if repr.feature_names.is_empty() {
            return Err(ModelError::Decode("model has no features".into()));
        }
        Ok(Model { params: repr.params, feature_names: repr.feature_names, n_train: repr.n_train, fitted })
    }

    /// Predictions on the fitting scale for column-major data of `n` rows.
    fn predict_raw(&self, cm: &[f64], n: usize) -> Result<Vec<f64>> {
        match &self.fitted {
            Fitted::Forest(f) => f.predict(cm, n, self.n_features()),
            Fitted::Boost(b) => Ok(b.predict(cm, n, self.n_features())),
            Fitted::Mean(m) => Ok(vec![*m; n]),
        }
    }
}

/// The common interface of the model kinds: fit on rows and targets, predict rows.
pub trait Regressor: Sized {
    /// Fit on `x` (rows) and `y` (eV) with `params`.
    fn fit(x: &[Vec<f64>], y: &[f64], params: &Params) -> Result<Self>;
    /// Predict Em (eV) for each row of `x`.
    fn predict(&self, x: &[Vec<f64>]) -> Result<Vec<f64>>;
}

impl Regressor for Model {
    fn fit(x: &[Vec<f64>], y: &[f64], params: &Params) -> Result<Model> {
        fit(x, y, params)
    }
    fn predict(&self, x: &[Vec<f64>]) -> Result<Vec<f64>> {
        predict(self, x)
    }
}

/// Fit a model of `params.kind()` on rows `x` and barriers `y` (eV).
pub fn fit(x: &[Vec<f64>], y: &[f64], params: &Params) -> Result<Model> {
    fit_labeled(x, y, Labels::default(), params)
}

/// [`fit`] with row ids and feature names (used in error messages and kept as the model's
/// feature names).
pub fn fit_labeled(x: &[Vec<f64>], y: &[f64], labels: Labels, params: &Params) -> Result<Model> {
    let p = validate(x, y, labels, params.target)?;
    let names: Vec<String> = (0..p).map(|j| labels.feature(j)).collect();
    fit_rows(x, y, None, p, names, params, true)
}

/// Fit on the rows `rows` of already validated data (all rows when `None`).
pub(crate) fn fit_rows(x: &[Vec<f64>], y: &[f64], rows: Option<&[usize]>, p: usize, names: Vec<String>, params: &Params, parallel: bool) -> Result<Model> {
    let n = rows.map_or(x.len(), |r| r.len());
    if n == 0 {
        return Err(ModelError::EmptyTrainingSet);
    }
    let yt: Vec<f64> = match rows {
        Some(r) => r.iter().map(|&i| params.target.forward(y[i])).collect(),
        None => y.iter().map(|&v| params.target.forward(v)).collect(),
    };
    let fitted = match &params.algo {
        Algo::Mean => Fitted::Mean(yt.iter().sum::<f64>() / n as f64),
        Algo::RandomForest(fp) => {
            let cm = column_major(x, rows, p);
            Fitted::Forest(forest::Forest::fit(&cm, n, p, &yt, fp, params.seed, parallel)?)
        }
        Algo::BoostedTrees(bp) => {
            let cm = column_major(x, rows, p);
            Fitted::Boost(Box::new(boost::Booster::fit(&cm, n, p, &yt, bp, params.seed, parallel)?))
        }
    };
    Ok(Model { params: params.clone(), feature_names: names, n_train: n, fitted })
}

/// Predict Em (eV) for each row of `x` (the inverse target transform is applied).
pub fn predict(model: &Model, x: &[Vec<f64>]) -> Result<Vec<f64>> {
    predict_labeled(model, x, None)
}

/// [`predict`] with row ids for error messages.
pub fn predict_labeled(model: &Model, x: &[Vec<f64>], ids: Option<&[String]>) -> Result<Vec<f64>> {
    if x.is_empty() {
        return Ok(Vec::new());
    }
    let labels = Labels { ids, names: Some(&model.feature_names) };
    let p = check_rows(x, labels, Some(model.n_features()))?;
    predict_rows(model, x, None, p)
}

/// Predictions (eV) for the rows `rows` of already checked data.
pub(crate) fn predict_rows(model: &Model, x: &[Vec<f64>], rows: Option<&[usize]>, p: usize) -> Result<Vec<f64>> {
    let n = rows.map_or(x.len(), |r| r.len());
    if n == 0 {
        return Ok(Vec::new());
    }
    let cm = column_major(x, rows, p);
    let raw = model.predict_raw(&cm, n)?;
    Ok(raw.into_iter().map(|v| model.params.target.inverse(v)).collect())
}

/// Sort `(name, value)` pairs by value, largest first (ties keep column order).
fn ranked(names: &[String], values: Vec<f64>) -> Vec<(String, f64)> {
    let mut v: Vec<(String, f64)> = names.iter().cloned().zip(values.into_iter().map(|x| if x.is_finite() { x } else { 0.0 })).collect();
    v.sort_by(|a, b| b.1.total_cmp(&a.1));
    v
}

/// The model's own feature importances, largest first: impurity (MSE) decrease for the
/// random forest (smartcore, averaged over trees) and total split gain for boosted trees
/// (forust-ml); both normalised to sum to 1 (all 0 when the model made no split). The mean
/// baseline gives 0 for every feature. See [`permutation_importance`] for a
/// model-agnostic measure on held-out data.
pub fn importances(model: &Model) -> Vec<(String, f64)> {
    let p = model.n_features();
    let values = match &model.fitted {
        Fitted::Forest(f) => f.importances(p),
        Fitted::Boost(b) => b.importances(p),
        Fitted::Mean(_) => vec![0.0; p],
    };
    ranked(&model.feature_names, values)
}

/// Permutation importance, largest first: for each feature, the mean increase of the MAE
/// (eV) on `x`, `y` when that feature's column is shuffled, over `repeats` shuffles drawn by
/// a ChaCha8 generator seeded from `seed` and the column (deterministic). Parallel over
/// features.
pub fn permutation_importance(model: &Model, x: &[Vec<f64>], y: &[f64], repeats: usize, seed: u64) -> Result<Vec<(String, f64)>> {
    if x.is_empty() {
        return Err(ModelError::EmptyTrainingSet);
    }
    if y.len() != x.len() {
        return Err(ModelError::LengthMismatch { what: "targets".into(), got: y.len(), expected: x.len() });
    }
    if let Some((i, &v)) = y.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(ModelError::BadTarget { row: format!("row {i}"), value: v, msg: "is not finite".into() });
    }
    let p = check_rows(x, Labels { ids: None, names: Some(&model.feature_names) }, Some(model.n_features()))?;
    let repeats = repeats.max(1);
    let n = x.len();
    let base_cm = column_major(x, None, p);
    let mae = |pred: &[f64]| pred.iter().zip(y).map(|(a, b)| (model.params.target.inverse(*a) - b).abs()).sum::<f64>() / n as f64;
    let base = mae(&model.predict_raw(&base_cm, n)?);
    let values: Vec<f64> = (0..p)
        .into_par_iter()
        .map(|j| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed ^ (j as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let mut cm = base_cm.clone();
            let mut total = 0.0;
            for _ in 0..repeats {
                cm[j * n..(j + 1) * n].shuffle(&mut rng);
                total += mae(&model.predict_raw(&cm, n)?) - base;
            }
            Ok(total / repeats as f64)
        })
        .collect::<Result<_>>()?;
    Ok(ranked(&model.feature_names, values))
}

/// Run a library call, turning a panic inside it into [`ModelError::Backend`].
pub(crate) fn guard<T>(backend: &'static str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(e) => {
            let msg = e.downcast_ref::<String>().cloned().or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_else(|| "panicked".into());
            Err(ModelError::Backend { backend, msg })
        }
    }
}
