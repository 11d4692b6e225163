//! Graph neural networks for migration barriers on libtorch (feature `gnn`).
//!
//! * [`graph`]: hop graphs (band / centroid / endpoint inputs, local cluster or periodic cell),
//!   built in parallel and cached;
//! * [`net`]: the edge-gated graph convolution network and its readouts (MODEL-1..4, centroid);
//! * [`tensor`]: a small safe wrapper over `tch` (libtorch);
//! * this module: the [`Spec`] parsed from a string map, [`train`] (optional pre-training on
//!   another record set, then fine-tuning of all weights), [`predict_records`], the stored
//!   blob (weights + configuration + checkpoint state, checksummed) and its registry record;
//! * [`experiment`]: pieces of the experiment protocol (pre-training corpora without held-out
//!   structures, nested subsets, out-of-fold training, paths distinct).
//!
//! The experiment workflows built from these (train over seeds, pre-train, cross-validate,
//! benchmark) are `crate::workflow::gnn`, in the workflow layer.
//!
//! Training: targets standardised by the training mean and deviation, L1 loss, AdamW, a linear
//! warm-up then cosine decay of the learning rate per epoch, gradient clipping, early stopping
//! on a validation part carved from the training records by host group (never the test set),
//! the best epoch's weights kept. All randomness (initial weights, validation carving, batch
//! order) comes from ChaCha8 generators seeded by `seed`; libtorch is seeded too. With one
//! intra-op thread (`threads=1`) a run is bit-for-bit repeatable; with more, sums may be
//! reordered by libtorch's thread pool.
//!

pub mod graph;
pub mod net;
pub mod experiment;
pub mod tensor;
mod train;

pub use graph::{build_hop, build_many, Graph, GraphConfig, Input, NODE_FEATURES};
pub use net::{Batch, Net, NetConfig, ParamValues, Pool, Readout};
pub use train::{member_spec, predict_graphs, pretrain_only, train, Checkpoint, Pretrain, TrainOptions, TrainedGnn, Validation};

use crate::record::HopRecord;
use crate::store::Store;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};

/// Hops per batch at inference: 16 hops' edge tensors fit one core's cache (1,430 hops/s on one
/// core against 780 with 64 hops per batch, hidden 32, 8 neighbours).
pub const INFERENCE_BATCH: usize = 16;

/// Registry kind of graph-network models.
pub const KIND: &str = "gnn";

/// Version of the blob encoding (5: fine-tuned ensembles, [`BlobExtension`]; 4: multi-task
/// pre-training; 3: line graph, fused descriptors; versions 2 to 4 are read too).
pub const BLOB_VERSION: u32 = 5;

/// Most networks in a fine-tuned ensemble ([`Spec::members`]).
pub const MAX_MEMBERS: usize = 32;

/// Most BVSE profile points multi-task pre-training fits ([`Spec::pretrain_profile`]).
pub const MAX_PROFILE_POINTS: usize = 16;

/// The BVSE energy profile of a record (`bvse_e00`, `bvse_e01`, ... in `extra`: each image's
/// energy relative to the initial image, eV, as `bvse corpus` stores them) at `k` evenly spaced
/// points of the path, `t = 1/k, 2/k, ..., 1` (linear between images, which the NEB keeps
/// evenly spaced), each as `sign(e) ln(1 + |e|)` (BVSE profiles reach tens of eV).
/// `None` when the record has fewer than two profile energies or one is not finite.
pub fn profile_targets(r: &HopRecord, k: usize) -> Option<Vec<f64>> {
    let e: Vec<f64> = (0..).map_while(|i| r.extra.get(&format!("bvse_e{i:02}")).copied()).collect();
    if e.len() < 2 || e.iter().any(|x| !x.is_finite()) {
        return None;
    }
    let last = (e.len() - 1) as f64;
    Some(
        (1..=k)
            .map(|j| {
                let x = last * j as f64 / k as f64;
                let i = (x.floor() as usize).min(e.len() - 2);
                let f = x - i as f64;
                let v = e[i] + (e[i + 1] - e[i]) * f;
                v.signum() * v.abs().ln_1p()
            })
            .collect(),
    )
}

/// Gaussian basis functions of the bond-angle cosine (line-graph networks).
pub const ANGLE_RBF: usize = 16;

const MAGIC: &[u8; 8] = b"HOPGNN1\0";

/// Graph-network errors.
#[derive(Debug, thiserror::Error)]
pub enum GnnError {
    /// A bad hyperparameter or option.
    #[error("gnn: {0}")]
    Spec(String),
    /// A stored model or checkpoint that cannot be read.
    #[error("gnn model blob: {0}")]
    Blob(String),
    /// Bad or missing input data.
    #[error("gnn: {0}")]
    Data(String),
    /// libtorch failed.
    #[error(transparent)]
    Torch(#[from] tensor::TorchError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// Result of graph-network operations.
pub type Result<T> = std::result::Result<T, GnnError>;

/// The variants (ablations) under one code path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Variant {
    /// MODEL-3: band input, mean pooling.
    Band,
    /// MODEL-4: band input, attention pooling.
    BandAttention,
    /// MODEL-1: initial and final graphs, pooled vectors concatenated.
    InitialFinal,
    /// MODEL-2: initial graph and the difference final - initial.
    InitialDelta,
    /// Centroid input: host + `X` at the midpoint, mean pooling.
    Centroid,
}

impl Variant {
    /// All variants.
    pub const ALL: [Variant; 5] = [Variant::Band, Variant::BandAttention, Variant::InitialFinal, Variant::InitialDelta, Variant::Centroid];

    /// The name used in parameter maps.
    pub fn as_str(self) -> &'static str {
        match self {
            Variant::Band => "band",
            Variant::BandAttention => "band_attention",
            Variant::InitialFinal => "initial_final",
            Variant::InitialDelta => "initial_delta",
            Variant::Centroid => "centroid",
        }
    }

    /// Parse a name (also `model1`..`model4`).
    pub fn parse(s: &str) -> Option<Variant> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "band" | "model3" => Variant::Band,
            "band_attention" | "attention" | "model4" => Variant::BandAttention,
            "initial_final" | "endpoints" | "model1" => Variant::InitialFinal,
            "initial_delta" | "delta" | "model2" => Variant::InitialDelta,
            "centroid" => Variant::Centroid,
            _ => return None,
        })
    }

    fn input(self) -> Input {
        match self {
            Variant::Band | Variant::BandAttention => Input::Band,
            Variant::InitialFinal | Variant::InitialDelta => Input::Endpoints,
            Variant::Centroid => Input::Centroid,
        }
    }

    fn readout(self) -> Readout {
        match self {
            Variant::Band | Variant::Centroid => Readout::Mean,
            Variant::BandAttention => Readout::Attention,
            Variant::InitialFinal => Readout::Concat,
            Variant::InitialDelta => Readout::Delta,
        }
    }
}

/// What a training stage fits: the barrier itself or its logarithm (standardised either way).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Target {
    /// The barrier (eV).
    Em,
    /// `ln(1 + Em)`: tames the long tail of barriers (predictions are mapped back with `exp - 1`).
    Log1p,
}

impl Target {
    /// The fitted value for a barrier `em` (eV).
    pub fn forward(self, em: f64) -> f64 {
        match self {
            Target::Em => em,
            Target::Log1p => em.max(0.0).ln_1p(),
        }
    }

    /// The barrier (eV) for a fitted value.
    pub fn inverse(self, y: f64) -> f64 {
        match self {
            Target::Em => y,
            Target::Log1p => y.exp_m1(),
        }
    }

    /// Name as in [`Spec::KEYS`] values.
    pub fn as_str(self) -> &'static str {
        match self {
            Target::Em => "em",
            Target::Log1p => "log1p",
        }
    }

    fn parse(s: &str) -> Option<Target> {
        match s.trim() {
            "em" => Some(Target::Em),
            "log1p" | "log" => Some(Target::Log1p),
            _ => None,
        }
    }
}

/// Hop descriptors fed to the head as global inputs (a fused network).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Fusion {
    /// The graph alone.
    None,
    /// The `hop-v1` descriptors (`crate::features::compute`), standardised with the training
    /// statistics of the stage being trained.
    HopV1,
}

impl Fusion {
    /// Name as accepted by the `fusion` key.
    pub fn as_str(self) -> &'static str {
        match self {
            Fusion::None => "none",
            Fusion::HopV1 => "hop-v1",
        }
    }

    fn parse(s: &str) -> Option<Fusion> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" | "off" | "false" => Some(Fusion::None),
            "hop-v1" | "hop_v1" | "on" | "true" => Some(Fusion::HopV1),
            _ => None,
        }
    }

    /// Global features per hop.
    pub fn width(self) -> usize {
        match self {
            Fusion::None => 0,
            Fusion::HopV1 => crate::features::descriptor_names().len(),
        }
    }
}

/// The descriptors of `fusion` for `records` (rows in record order; empty rows for
/// [`Fusion::None`]), computed in parallel against the records' hosts.
pub fn global_features(records: &[HopRecord], hosts: &HashMap<String, crate::structure::Structure>, fusion: Fusion) -> Result<Vec<Vec<f64>>> {
    use rayon::prelude::*;
    if fusion == Fusion::None {
        return Ok(vec![Vec::new(); records.len()]);
    }
    records
        .par_iter()
        .map(|r| {
            let host = hosts.get(&r.host.0).ok_or_else(|| GnnError::Data(format!("record {}: host {} not loaded", r.id, r.host.0)))?;
            crate::features::compute(r, host).map_err(|e| GnnError::Data(format!("record {}: descriptors for fusion: {e}", r.id)))
        })
        .collect()
}

/// Column means and deviations of `rows` (a constant column gets deviation 1).
pub fn column_stats(rows: &[&[f64]]) -> (Vec<f64>, Vec<f64>) {
    let w = rows.first().map_or(0, |r| r.len());
    let n = rows.len().max(1) as f64;
    let mean: Vec<f64> = (0..w).map(|c| rows.iter().map(|r| r[c]).sum::<f64>() / n).collect();
    let std = (0..w)
        .map(|c| {
            let v = rows.iter().map(|r| (r[c] - mean[c]).powi(2)).sum::<f64>() / n;
            if v.sqrt() > 1e-12 {
                v.sqrt()
            } else {
                1.0
            }
        })
        .collect();
    (mean, std)
}

/// `rows` standardised by `mean` and `std`, as the network's `f32` inputs.
pub fn standardise(rows: &[Vec<f64>], mean: &[f64], std: &[f64]) -> Vec<Vec<f32>> {
    rows.iter().map(|r| r.iter().zip(mean.iter().zip(std)).map(|(x, (m, s))| ((x - m) / s) as f32).collect()).collect()
}

/// The pre-training target (the same choice as the fine-tuning [`Target`]).
pub type PretrainTarget = Target;

/// Graph-network hyperparameters, parsed from a string map (see [`Spec::KEYS`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Spec {
    /// Variant.
    pub variant: Variant,
    /// Fine-tuning (or scratch) epochs.
    pub epochs: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// AdamW weight decay.
    pub weight_decay: f64,
    /// Hops per batch.
    pub batch: usize,
    /// Seed of everything random.
    pub seed: u64,
    /// Hidden width.
    pub hidden: usize,
    /// Convolution layers.
    pub layers: usize,
    /// Radial basis functions.
    pub rbf: usize,
    /// Edge cutoff (A).
    pub cutoff: f64,
    /// Cluster radius around the path (A); 0 = whole periodic cell.
    pub radius: f64,
    /// Nearest neighbours per node (0 = all within the cutoff).
    pub max_neighbors: usize,
    /// Early-stopping patience (epochs without a better validation MAE).
    pub patience: usize,
    /// Fraction of training hosts carved out for validation (0 = none, train to the end).
    pub valid_fraction: f64,
    /// Gradient-norm clip.
    pub clip: f64,
    /// Nodes the mean readouts average over: `all` (MODEL-3), `path` or `both`.
    pub pool: Pool,
    /// What fine-tuning fits: `em` or `log1p` (standardised either way; L1 loss on that scale).
    pub target: Target,
    /// libtorch intra-op threads (0 = libtorch's default, all cores). The default is 1: one
    /// thread is bit-for-bit repeatable, and on a loaded 2-core machine libgomp's spinning
    /// worker threads made training about 20 times slower than one thread.
    pub threads: usize,
    /// Pre-training epochs.
    pub pretrain_epochs: usize,
    /// Pre-training peak learning rate.
    pub pretrain_lr: f64,
    /// Pre-training target.
    pub pretrain_target: Target,
    /// Pre-training records used at most (seeded subsample; 0 = all).
    pub pretrain_max: usize,
    /// ALIGNN: add the bond-angle line graph and a line-graph convolution to every layer.
    pub line_graph: bool,
    /// Angles only among each centre's nearest `line_neighbors` edges (0 = all).
    pub line_neighbors: usize,
    /// Hop descriptors fed to the head (`none` or `hop-v1`).
    pub fusion: Fusion,
    /// Multi-task pre-training: besides the barrier, fit this many points of each pre-training
    /// record's BVSE energy profile (0 = the barrier alone). Serialised in the blob's
    /// version-4 extension, not in this struct's body (see [`GnnBlob::to_bytes`]).
    #[serde(skip)]
    pub pretrain_profile: usize,
    /// Networks fine-tuned from the same start (the pre-trained weights, or each its own
    /// initialisation from scratch), each with its own seed, validation carve and batch order;
    /// the model predicts their mean (eV). 1 = a single network. Serialised in the blob's
    /// extension, like `pretrain_profile`.
    #[serde(skip)]
    pub members: usize,
}

impl Default for Spec {
    fn default() -> Self {
        Spec {
            variant: Variant::Band,
            epochs: 60,
            lr: 2e-3,
            weight_decay: 1e-4,
            batch: 32,
            seed: 1,
            hidden: 64,
            layers: 3,
            rbf: 24,
            cutoff: 5.0,
            radius: 6.0,
            max_neighbors: 12,
            patience: 20,
            valid_fraction: 0.1,
            clip: 5.0,
            target: Target::Em,
            pool: Pool::All,
            threads: 1,
            pretrain_epochs: 10,
            pretrain_lr: 2e-3,
            pretrain_target: PretrainTarget::Em,
            pretrain_max: 0,
            line_graph: false,
            line_neighbors: 0,
            fusion: Fusion::None,
            pretrain_profile: 0,
            members: 1,
        }
    }
}

impl Spec {
    /// Accepted keys.
    pub const KEYS: [&'static str; 27] = [
        "variant",
        "epochs",
        "lr",
        "weight_decay",
        "batch",
        "seed",
        "hidden",
        "layers",
        "rbf",
        "cutoff",
        "radius",
        "max_neighbors",
        "patience",
        "valid_fraction",
        "clip",
        "target",
        "pool",
        "threads",
        "pretrain_epochs",
        "pretrain_lr",
        "pretrain_target",
        "pretrain_max",
        "line_graph",
        "line_neighbors",
        "fusion",
        "pretrain_profile",
        "members",
    ];

    /// Defaults overridden by `map`; unknown keys and bad values are errors naming the key.
    pub fn from_map(map: &BTreeMap<String, String>) -> Result<Spec> {
        let mut s = Spec::default();
        for (k, v) in map {
            let key = k.trim().to_ascii_lowercase();
            let bad = |what: &str| GnnError::Spec(format!("{key} = '{v}': expected {what}"));
            let pos_usize = |v: &str| v.trim().parse::<usize>().ok().filter(|x| *x > 0);
            let any_usize = |v: &str| v.trim().parse::<usize>().ok();
            let pos_f64 = |v: &str| v.trim().parse::<f64>().ok().filter(|x| x.is_finite() && *x > 0.0);
            let nonneg_f64 = |v: &str| v.trim().parse::<f64>().ok().filter(|x| x.is_finite() && *x >= 0.0);
            match key.as_str() {
                "variant" => s.variant = Variant::parse(v).ok_or_else(|| bad("band, band_attention, initial_final, initial_delta or centroid"))?,
                "epochs" => s.epochs = pos_usize(v).ok_or_else(|| bad("a positive integer"))?,
                "lr" => s.lr = pos_f64(v).ok_or_else(|| bad("a positive number"))?,
                "weight_decay" => s.weight_decay = nonneg_f64(v).ok_or_else(|| bad("a number >= 0"))?,
                "batch" => s.batch = pos_usize(v).ok_or_else(|| bad("a positive integer"))?,
                "seed" => s.seed = v.trim().parse().map_err(|_| bad("an unsigned integer"))?,
                "hidden" => s.hidden = pos_usize(v).ok_or_else(|| bad("a positive integer"))?,
                "layers" => s.layers = any_usize(v).ok_or_else(|| bad("an integer >= 0"))?,
                "rbf" => s.rbf = pos_usize(v).filter(|x| *x >= 2).ok_or_else(|| bad("an integer >= 2"))?,
                "cutoff" => s.cutoff = pos_f64(v).ok_or_else(|| bad("a positive distance (A)"))?,
                "radius" => s.radius = nonneg_f64(v).ok_or_else(|| bad("a distance >= 0 (A; 0 = periodic cell)"))?,
                "max_neighbors" => s.max_neighbors = any_usize(v).ok_or_else(|| bad("an integer >= 0"))?,
                "patience" => s.patience = pos_usize(v).ok_or_else(|| bad("a positive integer"))?,
                "valid_fraction" => s.valid_fraction = nonneg_f64(v).filter(|x| *x < 0.9).ok_or_else(|| bad("a fraction in [0, 0.9)"))?,
                "clip" => s.clip = pos_f64(v).ok_or_else(|| bad("a positive number"))?,
                "threads" => s.threads = any_usize(v).ok_or_else(|| bad("an integer >= 0"))?,
                "pretrain_epochs" => s.pretrain_epochs = pos_usize(v).ok_or_else(|| bad("a positive integer"))?,
                "pretrain_lr" => s.pretrain_lr = pos_f64(v).ok_or_else(|| bad("a positive number"))?,
                "target" => s.target = Target::parse(v).ok_or_else(|| bad("em or log1p"))?,
                "pool" => s.pool = Pool::parse(v).ok_or_else(|| bad("all, path or both"))?,
                "pretrain_target" => {
                    s.pretrain_target = match Target::parse(v) {
                        Some(t) => t,
                        None => return Err(bad("em or log1p")),
                    }
                }
                "pretrain_max" => s.pretrain_max = any_usize(v).ok_or_else(|| bad("an integer >= 0"))?,
                "line_graph" => {
                    s.line_graph = match v.trim().to_ascii_lowercase().as_str() {
                        "true" | "on" | "yes" | "1" => true,
                        "false" | "off" | "no" | "0" => false,
                        _ => return Err(bad("true or false")),
                    }
                }
                "line_neighbors" => s.line_neighbors = any_usize(v).filter(|n| *n != 1).ok_or_else(|| bad("0 (every edge of a centre) or at least 2 (one edge has no angle)"))?,
                "fusion" => s.fusion = Fusion::parse(v).ok_or_else(|| bad("none or hop-v1"))?,
                "pretrain_profile" => s.pretrain_profile = any_usize(v).filter(|n| *n <= MAX_PROFILE_POINTS).ok_or_else(|| bad(&format!("an integer in 0..={MAX_PROFILE_POINTS} (profile points fitted besides the barrier)")))?,
                "members" => s.members = pos_usize(v).filter(|n| *n <= MAX_MEMBERS).ok_or_else(|| bad(&format!("an integer in 1..={MAX_MEMBERS} (networks fine-tuned and averaged)")))?,
                _ => return Err(GnnError::Spec(format!("unknown parameter '{k}' (known: {})", Spec::KEYS.join(", ")))),
            }
        }
        if s.radius > 0.0 && s.radius < 2.0 {
            return Err(GnnError::Spec(format!("radius = {}: use at least 2 A (or 0 for the periodic cell)", s.radius)));
        }
        Ok(s)
    }

    /// Canonical map of every key (stored with the model).
    pub fn to_map(&self) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        let mut put = |k: &str, v: String| {
            m.insert(k.to_string(), v);
        };
        put("variant", self.variant.as_str().into());
        put("epochs", self.epochs.to_string());
        put("lr", self.lr.to_string());
        put("weight_decay", self.weight_decay.to_string());
        put("batch", self.batch.to_string());
        put("seed", self.seed.to_string());
        put("hidden", self.hidden.to_string());
        put("layers", self.layers.to_string());
        put("rbf", self.rbf.to_string());
        put("cutoff", self.cutoff.to_string());
        put("radius", self.radius.to_string());
        put("max_neighbors", self.max_neighbors.to_string());
        put("patience", self.patience.to_string());
        put("valid_fraction", self.valid_fraction.to_string());
        put("clip", self.clip.to_string());
        put("threads", self.threads.to_string());
        put("pretrain_epochs", self.pretrain_epochs.to_string());
        put("pretrain_lr", self.pretrain_lr.to_string());
        put("target", self.target.as_str().into());
        put("pool", self.pool.as_str().into());
        put("pretrain_target", self.pretrain_target.as_str().into());
        put("pretrain_max", self.pretrain_max.to_string());
        put("line_graph", self.line_graph.to_string());
        put("line_neighbors", self.line_neighbors.to_string());
        put("fusion", self.fusion.as_str().into());
        put("pretrain_profile", self.pretrain_profile.to_string());
        put("members", self.members.to_string());
        m
    }

    /// Graph construction settings of this spec.
    pub fn graph_config(&self) -> GraphConfig {
        GraphConfig { input: self.variant.input(), cutoff: self.cutoff, radius: self.radius, max_neighbors: self.max_neighbors, line_graph: self.line_graph, line_neighbors: self.line_neighbors }
    }

    /// Network shape of this spec.
    pub fn net_config(&self) -> NetConfig {
        NetConfig {
            hidden: self.hidden,
            layers: self.layers,
            rbf: self.rbf,
            cutoff: self.cutoff,
            readout: self.variant.readout(),
            pool: self.pool,
            line_graph: self.line_graph,
            angle_rbf: ANGLE_RBF,
            global: self.fusion.width(),
            aux: self.pretrain_profile,
        }
    }
}

/// Everything a stored graph-network model holds: weights, configuration, target scaling and,
/// for an unfinished run, the checkpoint to resume from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GnnBlob {
    /// Hyperparameters.
    pub spec: Spec,
    /// Graph settings.
    pub graph: GraphConfig,
    /// Network shape.
    pub net: NetConfig,
    /// Target mean (eV) used to standardise.
    pub y_mean: f64,
    /// Target standard deviation (eV).
    pub y_std: f64,
    /// The weights to predict with (the best epoch so far).
    pub values: ParamValues,
    /// Present while training is unfinished: where to resume.
    pub checkpoint: Option<Checkpoint>,
    /// Means of the fused descriptors over the training hops (empty without fusion).
    pub global_mean: Vec<f64>,
    /// Deviations of the fused descriptors over the training hops.
    pub global_std: Vec<f64>,
    /// The other members of a fine-tuned ensemble ([`Spec::members`]). In a finished model the
    /// weights above are member 0 and these are members 1, 2, ...; in an unfinished one
    /// (`checkpoint` set, fine-tuning member `k = checkpoint.stage - 1`) the weights above are
    /// member `k`'s best so far and these are the finished members `0..k`. Serialised in the
    /// extension.
    #[serde(skip)]
    pub members: Vec<Member>,
    /// While an ensemble is being fine-tuned: the weights every member starts from.
    #[serde(skip)]
    pub start: Option<ParamValues>,
}

/// A fine-tuned member of an ensemble besides the blob's own weights: its weights and the
/// statistics of its own training part.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Member {
    /// Weights (the member's best epoch).
    pub values: ParamValues,
    /// Target mean of its training part.
    pub y_mean: f64,
    /// Target deviation of its training part.
    pub y_std: f64,
    /// Means of the fused descriptors over its training part.
    pub global_mean: Vec<f64>,
    /// Deviations of the fused descriptors over its training part.
    pub global_std: Vec<f64>,
    /// Its best validation MAE (eV; NaN without validation).
    pub valid_mae: f64,
}

impl GnnBlob {
    /// Encode: magic, sha256 of the payload, bincode payload. The payload is the version, the
    /// version-3 body (this struct less the fields marked `serde(skip)`) and the version-4
    /// extension ([`BlobExtension`]) that carries those fields, so version-3 blobs decode as
    /// the same body with the extension's defaults.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let ext = BlobExtension { pretrain_profile: self.spec.pretrain_profile, aux: self.net.aux, members: self.spec.members, extra: self.members.clone(), start: self.start.clone() };
        let payload = bincode::serialize(&(BLOB_VERSION, self, ext)).map_err(|e| GnnError::Blob(format!("cannot encode: {e}")))?;
        let mut out = Vec::with_capacity(payload.len() + 40);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&Sha256::digest(&payload));
        out.extend_from_slice(&payload);
        Ok(out)
    }

    /// Decode bytes from [`GnnBlob::to_bytes`]; a truncated or altered blob is a clear error.
    pub fn from_bytes(bytes: &[u8]) -> Result<GnnBlob> {
        if bytes.len() < 40 || &bytes[..8] != MAGIC {
            return Err(GnnError::Blob(format!("not a hopdb graph-network blob ({} bytes, bad header)", bytes.len())));
        }
        let payload = &bytes[40..];
        if Sha256::digest(payload).as_slice() != &bytes[8..40] {
            return Err(GnnError::Blob(format!("checksum mismatch: the stored weights are corrupt ({} bytes)", bytes.len())));
        }
        let ver: u32 = bincode::deserialize(payload).map_err(|e| GnnError::Blob(format!("cannot decode: {e}")))?;
        let blob = match ver {
            BLOB_VERSION => {
                let (_, mut b, ext) = bincode::deserialize::<(u32, GnnBlob, BlobExtension)>(payload).map_err(|e| GnnError::Blob(format!("cannot decode: {e}")))?;
                b.spec.pretrain_profile = ext.pretrain_profile;
                b.net.aux = ext.aux;
                b.spec.members = ext.members;
                b.members = ext.extra;
                b.start = ext.start;
                b
            }
            4 => {
                let (_, mut b, ext) = bincode::deserialize::<(u32, GnnBlob, legacy::BlobExtensionV4)>(payload).map_err(|e| GnnError::Blob(format!("cannot decode a version 4 blob: {e}")))?;
                b.spec.pretrain_profile = ext.pretrain_profile;
                b.net.aux = ext.aux;
                b.spec.members = 1;
                b
            }
            3 => {
                let mut b = bincode::deserialize::<(u32, GnnBlob)>(payload).map_err(|e| GnnError::Blob(format!("cannot decode a version 3 blob: {e}")))?.1;
                b.spec.members = 1;
                b
            }
            2 => bincode::deserialize::<(u32, legacy::GnnBlobV2)>(payload).map_err(|e| GnnError::Blob(format!("cannot decode a version 2 blob: {e}")))?.1.into(),
            _ => return Err(GnnError::Blob(format!("format version {ver}, this hopdb reads 2 to {BLOB_VERSION}"))),
        };
        Net::from_values(blob.net, &blob.values).map_err(|e| GnnError::Blob(format!("weights do not fit the network: {e}")))?;
        for (i, m) in blob.members.iter().enumerate() {
            Net::from_values(blob.net, &m.values).map_err(|e| GnnError::Blob(format!("the weights of ensemble member {} do not fit the network: {e}", i + 1)))?;
        }
        let finished = if blob.checkpoint.is_some() { blob.members.len() <= blob.spec.members } else { blob.members.len() + 1 == blob.spec.members };
        if blob.spec.members == 0 || !finished {
            return Err(GnnError::Blob(format!("{} stored ensemble members for members = {}", blob.members.len() + 1, blob.spec.members)));
        }
        Ok(blob)
    }
}

/// Fields added after blob version 3 (4: multi-task pre-training; 5: fine-tuned ensembles),
/// serialised after the version-3 body.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BlobExtension {
    /// [`Spec::pretrain_profile`].
    pub pretrain_profile: usize,
    /// [`NetConfig::aux`].
    pub aux: usize,
    /// [`Spec::members`].
    pub members: usize,
    /// [`GnnBlob::members`].
    pub extra: Vec<Member>,
    /// [`GnnBlob::start`].
    pub start: Option<ParamValues>,
}

impl GnnBlob {
    /// Every member of the model, the blob's own weights first: (weights, target mean, target
    /// deviation, descriptor means, descriptor deviations).
    pub fn ensemble(&self) -> Vec<(&ParamValues, f64, f64, &[f64], &[f64])> {
        let mut out = vec![(&self.values, self.y_mean, self.y_std, self.global_mean.as_slice(), self.global_std.as_slice())];
        out.extend(self.members.iter().map(|m| (&m.values, m.y_mean, m.y_std, m.global_mean.as_slice(), m.global_std.as_slice())));
        out
    }
}

/// Version 2 blobs (before the line graph and fusion): the same fields less the new ones.
pub(crate) mod legacy {
    use super::*;

    /// The version 4 extension (before ensembles).
    #[derive(Serialize, Deserialize)]
    pub struct BlobExtensionV4 {
        pub pretrain_profile: usize,
        pub aux: usize,
    }

    #[derive(Serialize, Deserialize)]
    pub struct SpecV2 {
        pub variant: Variant,
        pub epochs: usize,
        pub lr: f64,
        pub weight_decay: f64,
        pub batch: usize,
        pub seed: u64,
        pub hidden: usize,
        pub layers: usize,
        pub rbf: usize,
        pub cutoff: f64,
        pub radius: f64,
        pub max_neighbors: usize,
        pub patience: usize,
        pub valid_fraction: f64,
        pub clip: f64,
        pub pool: Pool,
        pub target: Target,
        pub threads: usize,
        pub pretrain_epochs: usize,
        pub pretrain_lr: f64,
        pub pretrain_target: Target,
        pub pretrain_max: usize,
    }

    #[derive(Serialize, Deserialize)]
    pub struct GraphConfigV2 {
        pub input: Input,
        pub cutoff: f64,
        pub radius: f64,
        pub max_neighbors: usize,
    }

    #[derive(Serialize, Deserialize)]
    pub struct NetConfigV2 {
        pub hidden: usize,
        pub layers: usize,
        pub rbf: usize,
        pub cutoff: f64,
        pub readout: Readout,
        pub pool: Pool,
    }

    #[derive(Serialize, Deserialize)]
    pub struct GnnBlobV2 {
        pub spec: SpecV2,
        pub graph: GraphConfigV2,
        pub net: NetConfigV2,
        pub y_mean: f64,
        pub y_std: f64,
        pub values: ParamValues,
        pub checkpoint: Option<Checkpoint>,
    }

    impl From<GnnBlobV2> for GnnBlob {
        fn from(b: GnnBlobV2) -> GnnBlob {
            let s = b.spec;
            let spec = Spec {
                variant: s.variant,
                epochs: s.epochs,
                lr: s.lr,
                weight_decay: s.weight_decay,
                batch: s.batch,
                seed: s.seed,
                hidden: s.hidden,
                layers: s.layers,
                rbf: s.rbf,
                cutoff: s.cutoff,
                radius: s.radius,
                max_neighbors: s.max_neighbors,
                patience: s.patience,
                valid_fraction: s.valid_fraction,
                clip: s.clip,
                pool: s.pool,
                target: s.target,
                threads: s.threads,
                pretrain_epochs: s.pretrain_epochs,
                pretrain_lr: s.pretrain_lr,
                pretrain_target: s.pretrain_target,
                pretrain_max: s.pretrain_max,
                line_graph: false,
                line_neighbors: 0,
                fusion: Fusion::None,
                pretrain_profile: 0,
                members: 1,
            };
            let g = b.graph;
            let n = b.net;
            GnnBlob {
                spec,
                graph: GraphConfig { input: g.input, cutoff: g.cutoff, radius: g.radius, max_neighbors: g.max_neighbors, line_graph: false, line_neighbors: 0 },
                net: NetConfig { hidden: n.hidden, layers: n.layers, rbf: n.rbf, cutoff: n.cutoff, readout: n.readout, pool: n.pool, line_graph: false, angle_rbf: ANGLE_RBF, global: 0, aux: 0 },
                y_mean: b.y_mean,
                y_std: b.y_std,
                values: b.values,
                checkpoint: b.checkpoint,
                global_mean: Vec::new(),
                global_std: Vec::new(),
                members: Vec::new(),
                start: None,
            }
        }
    }
}

/// Load the host structures of `records` from the store.
pub fn load_hosts(store: &Store, records: &[HopRecord]) -> Result<HashMap<String, crate::structure::Structure>> {
    let mut hosts = HashMap::new();
    for r in records {
        if !hosts.contains_key(&r.host.0) {
            hosts.insert(r.host.0.clone(), store.structure(&r.host)?);
        }
    }
    Ok(hosts)
}

/// Predict Em (eV) for `records` with a stored graph-network model (kind `gnn`).
pub fn predict_records(store: &Store, model: &crate::model::ModelRecord, records: &[HopRecord]) -> Result<Vec<f64>> {
    if model.kind != KIND {
        return Err(GnnError::Data(format!("model '{}' is a {} model, not {KIND}", model.name, model.kind)));
    }
    let blob = GnnBlob::from_bytes(&model.blob).map_err(|e| GnnError::Blob(format!("model '{}': {e}", model.name)))?;
    if blob.spec.threads > 0 {
        tensor::set_num_threads(blob.spec.threads)?;
    }
    let hosts = load_hosts(store, records)?;
    predict_loaded(blob, records, &hosts)
}

/// Predict Em (eV) for `records` whose hosts are given (keyed by the records' host ids), e.g.
/// transient records of hops that are not in the store.
pub fn predict_with_hosts(model: &crate::model::ModelRecord, records: &[HopRecord], hosts: &HashMap<String, crate::structure::Structure>) -> Result<Vec<f64>> {
    if model.kind != KIND {
        return Err(GnnError::Data(format!("model '{}' is a {} model, not {KIND}", model.name, model.kind)));
    }
    let blob = GnnBlob::from_bytes(&model.blob).map_err(|e| GnnError::Blob(format!("model '{}': {e}", model.name)))?;
    if blob.spec.threads > 0 {
        tensor::set_num_threads(blob.spec.threads)?;
    }
    predict_loaded(blob, records, hosts)
}

/// The mean prediction (eV) of every member of `blob` (one network unless it is an ensemble).
fn predict_loaded(blob: GnnBlob, records: &[HopRecord], hosts: &HashMap<String, crate::structure::Structure>) -> Result<Vec<f64>> {
    let graphs = build_many(records, hosts, &blob.graph).map_err(GnnError::Data)?;
    let rows = if blob.net.global > 0 { Some(global_features(records, hosts, blob.spec.fusion)?) } else { None };
    let members = blob.ensemble();
    let mut sum = vec![0.0; records.len()];
    for (values, y_mean, y_std, g_mean, g_std) in &members {
        let net = Net::from_values(blob.net, values)?;
        let global = rows.as_ref().map(|r| standardise(r, g_mean, g_std));
        let z = predict_graphs(&net, &graphs, global.as_deref(), INFERENCE_BATCH)?;
        for (s, v) in sum.iter_mut().zip(z) {
            *s += blob.spec.target.inverse(v * y_std + y_mean);
        }
    }
    let n = members.len() as f64;
    Ok(sum.into_iter().map(|s| s / n).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A version 2 blob (written before the line graph and fusion) still loads, as a network
    /// without either.
    #[test]
    fn a_version_2_blob_still_loads() {
        let spec = Spec { hidden: 8, layers: 1, rbf: 4, ..Spec::default() };
        let net = spec.net_config();
        let values = net::init_values(&net, 7);
        let g = spec.graph_config();
        let old = legacy::GnnBlobV2 {
            spec: legacy::SpecV2 {
                variant: spec.variant,
                epochs: spec.epochs,
                lr: spec.lr,
                weight_decay: spec.weight_decay,
                batch: spec.batch,
                seed: spec.seed,
                hidden: spec.hidden,
                layers: spec.layers,
                rbf: spec.rbf,
                cutoff: spec.cutoff,
                radius: spec.radius,
                max_neighbors: spec.max_neighbors,
                patience: spec.patience,
                valid_fraction: spec.valid_fraction,
                clip: spec.clip,
                pool: spec.pool,
                target: spec.target,
                threads: spec.threads,
                pretrain_epochs: spec.pretrain_epochs,
                pretrain_lr: spec.pretrain_lr,
                pretrain_target: spec.pretrain_target,
                pretrain_max: spec.pretrain_max,
            },
            graph: legacy::GraphConfigV2 { input: g.input, cutoff: g.cutoff, radius: g.radius, max_neighbors: g.max_neighbors },
            net: legacy::NetConfigV2 { hidden: net.hidden, layers: net.layers, rbf: net.rbf, cutoff: net.cutoff, readout: net.readout, pool: net.pool },
            y_mean: 0.5,
            y_std: 0.2,
            values: values.clone(),
            checkpoint: None,
        };
        let payload = bincode::serialize(&(2u32, &old)).unwrap();
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&Sha256::digest(&payload));
        bytes.extend_from_slice(&payload);
        let blob = GnnBlob::from_bytes(&bytes).unwrap();
        assert_eq!(blob.spec, spec);
        assert_eq!((blob.net, blob.graph), (net, g));
        assert_eq!(blob.values, values);
        assert!(!blob.spec.line_graph && blob.spec.fusion == Fusion::None && blob.global_mean.is_empty());
        // Written back, it is a current-version blob with the same content.
        assert_eq!(GnnBlob::from_bytes(&blob.to_bytes().unwrap()).unwrap(), blob);
        // A version this hopdb does not know is refused by name.
        let payload = bincode::serialize(&(9u32, &old)).unwrap();
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&Sha256::digest(&payload));
        bytes.extend_from_slice(&payload);
        let err = GnnBlob::from_bytes(&bytes).unwrap_err().to_string();
        assert!(err.contains("format version 9"), "{err}");
    }

    /// A version 3 blob (before multi-task pre-training: no extension) loads without an
    /// auxiliary head; a version 4 blob keeps its head through a round trip.
    #[test]
    fn a_version_3_blob_still_loads_and_version_4_keeps_the_profile_head() {
        let spec = Spec { hidden: 8, layers: 1, rbf: 4, fusion: Fusion::None, ..Spec::default() };
        let net = spec.net_config();
        let blob = GnnBlob { spec: spec.clone(), graph: spec.graph_config(), net, y_mean: 0.5, y_std: 0.2, values: net::init_values(&net, 3), checkpoint: None, global_mean: vec![], global_std: vec![], members: vec![], start: None };
        let payload = bincode::serialize(&(3u32, &blob)).unwrap();
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&Sha256::digest(&payload));
        bytes.extend_from_slice(&payload);
        let old = GnnBlob::from_bytes(&bytes).unwrap();
        assert_eq!(old, blob);
        assert_eq!((old.spec.pretrain_profile, old.net.aux), (0, 0));
        let spec = Spec { pretrain_profile: 5, ..spec };
        let net = spec.net_config();
        let blob = GnnBlob { spec: spec.clone(), net, values: net::init_values(&net, 3), ..blob };
        assert!(blob.values.iter().any(|(n, s, _)| n == "aux.w" && s == &vec![8, 5]));
        let back = GnnBlob::from_bytes(&blob.to_bytes().unwrap()).unwrap();
        assert_eq!(back, blob);
        assert_eq!((back.spec.pretrain_profile, back.net.aux), (5, 5));
        // Written by version 4 (before ensembles): the same single network.
        let payload = bincode::serialize(&(4u32, &blob, legacy::BlobExtensionV4 { pretrain_profile: 5, aux: 5 })).unwrap();
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&Sha256::digest(&payload));
        bytes.extend_from_slice(&payload);
        let v4 = GnnBlob::from_bytes(&bytes).unwrap();
        assert_eq!(v4, blob);
        assert_eq!((v4.spec.members, v4.members.len()), (1, 0));
        // An ensemble whose member count disagrees with its spec is refused.
        let m = Member { values: blob.values.clone(), y_mean: 0.1, y_std: 1.0, global_mean: vec![], global_std: vec![], valid_mae: 0.2 };
        let ens = GnnBlob { spec: Spec { members: 2, ..blob.spec.clone() }, members: vec![m.clone()], ..blob.clone() };
        assert_eq!(GnnBlob::from_bytes(&ens.to_bytes().unwrap()).unwrap(), ens);
        let bad = GnnBlob { members: vec![m.clone(), m], ..ens };
        let err = GnnBlob::from_bytes(&bad.to_bytes().unwrap()).unwrap_err().to_string();
        assert!(err.contains("3 stored ensemble members for members = 2"), "{err}");
    }
}
