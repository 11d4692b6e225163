//! Pieces of the graph-network experiment protocol shared by `hopdb gnn` and
//! `hopdb bench paper --gnn`: the pre-training set (a seeded subsample of a BVSE corpus, minus
//! everything derived from held-out structures), nested training subsets for learning
//! curves, and the paths-distinct figure (the paper's Fig. 3a).

use super::{predict_records, Result};
use crate::model::ModelRecord;
use crate::record::HopRecord;
use crate::store::Store;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use std::collections::{BTreeMap, HashSet};

/// Seed of the learning-curve subsets (fixed, so every variant sees the same hops).
pub const SUBSET_SEED: u64 = 4242;

/// The `bvse` records of `corpus` in id order, or a subsample of `max` of them (0 = all) drawn
/// with `seed`.
pub fn corpus_records(corpus: &Store, max: usize, seed: u64) -> Result<Vec<HopRecord>> {
    let mut ids = corpus.ids_where("fidelity", "bvse")?;
    ids.sort();
    if max > 0 && ids.len() > max {
        ids.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0x7072_6574));
        ids.truncate(max);
        ids.sort();
    }
    Ok(ids.iter().map(|id| corpus.record(id)).collect::<std::result::Result<_, _>>()?)
}

/// Pre-training records with everything derived from `held_out` structures left out: a record
/// goes when its `parent` is a held-out hop or a hop on a held-out host (looked up in `dft`),
/// or, without a known parent, when its own host is a held-out host. Returns the kept records
/// and how many were left out.
pub fn without_held_out(pre: Vec<HopRecord>, dft: &[HopRecord], held_out: &[HopRecord]) -> (Vec<HopRecord>, usize) {
    let ids: HashSet<&str> = held_out.iter().map(|r| r.id.as_str()).collect();
    let hosts: HashSet<&str> = held_out.iter().map(|r| r.host.0.as_str()).collect();
    let by_id: BTreeMap<&str, &HopRecord> = dft.iter().map(|r| (r.id.as_str(), r)).collect();
    let before = pre.len();
    let kept: Vec<HopRecord> = pre
        .into_iter()
        .filter(|r| match r.parent.as_deref().and_then(|p| by_id.get(p)) {
            Some(parent) => !ids.contains(parent.id.as_str()) && !hosts.contains(parent.host.0.as_str()),
            None => !hosts.contains(r.host.0.as_str()),
        })
        .collect();
    let dropped = before - kept.len();
    (kept, dropped)
}

/// The first `n` of `train` in a fixed shuffled order ([`SUBSET_SEED`]), back in id order:
/// subsets of growing `n` are nested.
pub fn training_subset(train: &[HopRecord], n: usize) -> Vec<HopRecord> {
    let mut v = train.to_vec();
    v.sort_by(|x, y| x.id.cmp(&y.id));
    v.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(SUBSET_SEED));
    v.truncate(n.min(v.len()));
    v.sort_by(|x, y| x.id.cmp(&y.id));
    v
}

/// The paper's Fig. 3a question: does the model tell the pathways of one structure apart?
/// Over the host structures with several hops among `records`, the fraction whose predictions
/// spread by more than 0.01 eV; returns (fraction, number of such hosts; NaN and 0 when none).
pub fn distinct_paths(store: &Store, model: &ModelRecord, records: &[HopRecord]) -> Result<(f64, usize)> {
    let mut by_host: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, r) in records.iter().enumerate() {
        by_host.entry(r.host.0.as_str()).or_default().push(i);
    }
    let multi: Vec<&Vec<usize>> = by_host.values().filter(|v| v.len() > 1).collect();
    if multi.is_empty() {
        return Ok((f64::NAN, 0));
    }
    let p = predict_records(store, model, records)?;
    let distinct = multi
        .iter()
        .filter(|ix| {
            let (lo, hi) = ix.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &i| (lo.min(p[i]), hi.max(p[i])));
            hi - lo > 0.01
        })
        .count();
    Ok((distinct as f64 / multi.len() as f64, multi.len()))
}

/// One fold of [`out_of_fold`]: the indices (into `all`) it held out, their predictions, the
/// number of training hops and the seconds the fold took.
pub struct FoldPredictions {
    /// Indices into `all` of the held-out hops.
    pub test_idx: Vec<usize>,
    /// Predicted Em (eV) of those hops, in the same order.
    pub pred: Vec<f64>,
    /// Hops trained on.
    pub train: usize,
    /// Wall seconds of training and prediction.
    pub seconds: f64,
}

/// Where each fold's training starts.
#[derive(Clone, Copy)]
pub enum FoldStart<'a> {
    /// Fresh weights.
    Scratch,
    /// The same stored (pre-trained) model for every fold.
    Model(&'a ModelRecord),
    /// A model made for each fold from its number and its test hops, e.g. one pre-trained on a
    /// corpus without the records derived from those hops (per-fold pre-training).
    PerFold(&'a dyn Fn(usize, &[HopRecord]) -> Result<ModelRecord>),
}

impl<'a> From<Option<&'a ModelRecord>> for FoldStart<'a> {
    fn from(m: Option<&'a ModelRecord>) -> Self {
        m.map_or(FoldStart::Scratch, FoldStart::Model)
    }
}

/// Grouped k-fold training: for each fold `f` in `0..k`, train `spec` (from `start`) on the
/// hops whose `folds[i] != f` and predict the others. `before(f)` runs before each fold
/// (progress messages); `progress` reports the training epochs through [`crate::progress`].
#[allow(clippy::too_many_arguments)]
pub fn out_of_fold(
    store: &Store,
    all: &[HopRecord],
    folds: &[usize],
    k: usize,
    spec: &super::Spec,
    start: FoldStart,
    progress: bool,
    before: &dyn Fn(usize),
) -> Result<Vec<FoldPredictions>> {
    use super::{train, Pretrain, TrainOptions, Validation};
    let mut out = Vec::with_capacity(k);
    for f in 0..k {
        before(f);
        let t = std::time::Instant::now();
        let tr: Vec<HopRecord> = all.iter().zip(folds).filter(|(_, &g)| g != f).map(|(r, _)| r.clone()).collect();
        let test_idx: Vec<usize> = (0..all.len()).filter(|&i| folds[i] == f).collect();
        let te: Vec<HopRecord> = test_idx.iter().map(|&i| all[i].clone()).collect();
        let fold_model = match start {
            FoldStart::PerFold(make) => Some(make(f, &te)?),
            _ => None,
        };
        let pre = match (start, &fold_model) {
            (FoldStart::Model(m), _) => Pretrain::Model(m),
            (_, Some(m)) => Pretrain::Model(m),
            _ => Pretrain::None,
        };
        let trained = train(store, &tr, Validation::Carve, pre, spec, TrainOptions { progress, ..Default::default() })?;
        let pred = predict_records(store, &trained.to_record("cv-fold", "")?, &te)?;
        out.push(FoldPredictions { test_idx, pred, train: tr.len(), seconds: t.elapsed().as_secs_f64() });
    }
    Ok(out)
}
