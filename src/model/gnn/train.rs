//! Training loop: pre-training, fine-tuning, early stopping, checkpoints, batched inference.

use super::graph::{build_many, HopGraphs};
use super::net::{Batch, Net, ParamValues};
use super::tensor::{self, AdamW, NoGrad, Tensor};
use super::{column_stats, global_features, load_hosts, standardise, GnnBlob, GnnError, Member, Result, Spec, Target, INFERENCE_BATCH, KIND};
use crate::model::ModelRecord;
use crate::progress::{self, Epoch, Task};
use crate::record::HopRecord;
use crate::store::Store;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

/// Where the validation hops come from.
#[derive(Clone, Debug, PartialEq)]
pub enum Validation {
    /// Carve `spec.valid_fraction` of the training hosts (by host structure, seeded).
    Carve,
    /// These training ids are the validation part.
    Ids(Vec<String>),
    /// No validation: train for all epochs, keep the last weights.
    None,
}

/// Initial weights for fine-tuning.
#[derive(Clone, Copy)]
pub enum Pretrain<'a> {
    /// From scratch.
    None,
    /// Pre-train on these records (e.g. `fidelity = 'bvse'`) first, then fine-tune all weights.
    Records(&'a [HopRecord]),
    /// Pre-train on records of another store (their hosts are read from that store).
    External(&'a Store, &'a [HopRecord]),
    /// Start from the weights of a stored graph-network model (same architecture).
    Model(&'a ModelRecord),
}

/// Resumable training state (stored inside the blob of an unfinished model).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// 0 = pre-training, 1 = fine-tuning.
    pub stage: u8,
    /// Next epoch to run.
    pub epoch: usize,
    /// Current weights.
    pub values: ParamValues,
    /// Best validation MAE so far (eV).
    pub best_val: f64,
    /// Epochs since the best.
    pub bad_epochs: usize,
    /// Target mean and deviation of this stage.
    pub y_mean: f64,
    /// Target deviation of this stage.
    pub y_std: f64,
    /// Log lines so far.
    pub log: Vec<String>,
}

/// Training options beyond the hyperparameters.
#[derive(Default)]
pub struct TrainOptions<'a> {
    /// Report progress (one step per epoch, the running loss, an [`Epoch`] event per epoch)
    /// through [`crate::progress`].
    pub progress: bool,
    /// Resume from this checkpoint.
    pub resume: Option<Checkpoint>,
    /// With `resume` in the fine-tuning of an ensemble: the members already finished and the
    /// weights every member starts from (the checkpoint blob's `members` and `start`).
    pub resume_members: Vec<Member>,
    /// See `resume_members`.
    pub resume_start: Option<ParamValues>,
    /// With `resume`: the checkpoint blob's own weights, the best epoch so far of the stage
    /// being resumed (without it, the checkpoint's current weights stand in for the best).
    pub resume_best: Option<ParamValues>,
    /// Called every `checkpoint_every` epochs with a blob holding a checkpoint.
    pub on_checkpoint: Option<&'a mut dyn FnMut(&GnnBlob) -> Result<()>>,
    /// Epochs between checkpoints (0 = none).
    pub checkpoint_every: usize,
}

/// A trained model ready for the registry.
#[derive(Clone, Debug)]
pub struct TrainedGnn {
    /// Weights and configuration.
    pub blob: GnnBlob,
    /// Ids of the hops it was fitted on (training minus validation).
    pub train_ids: Vec<String>,
    /// Ids of the validation hops.
    pub valid_ids: Vec<String>,
    /// Named figures: `valid_mae`, `train_seconds`, `pretrain_seconds`, `best_epoch`, ...
    pub metrics: BTreeMap<String, f64>,
    /// Per-epoch log lines.
    pub log: Vec<String>,
}

impl TrainedGnn {
    /// A registry record (kind `gnn`, params = the spec, blob = weights + configuration).
    pub fn to_record(&self, name: &str, split_fingerprint: &str) -> Result<ModelRecord> {
        Ok(ModelRecord {
            name: name.to_string(),
            kind: KIND.to_string(),
            params: self.blob.spec.to_map(),
            feature_set: format!("graph:{:?}", self.blob.graph),
            feature_names: Vec::new(),
            split_fingerprint: split_fingerprint.to_string(),
            train_ids: self.train_ids.clone(),
            blob: self.blob.to_bytes()?,
            metrics: self.metrics.clone(),
            training_log: self.log.clone(),
            created_at: crate::record::now(),
            version: 1,
            lineage: None,
        })
    }
}

fn mean_std(y: &[f64]) -> (f64, f64) {
    let n = y.len().max(1) as f64;
    let m = y.iter().sum::<f64>() / n;
    let v = y.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / n;
    (m, v.sqrt().max(1e-6))
}

/// Standardised predictions for hop graphs (with each hop's standardised global features when
/// the network reads them), in batches of `batch` hops, without gradients.
///
/// On the CPU with one libtorch thread, the batches run in parallel on rayon's threads, each
/// with its own copy of the weights: every batch is computed exactly as it would be alone, so
/// the predictions do not depend on the number of threads. Small batches (16 hops) keep a
/// batch's edge tensors inside one core's cache.
pub fn predict_graphs(net: &Net, graphs: &[Arc<HopGraphs>], global: Option<&[Vec<f32>]>, batch: usize) -> Result<Vec<f64>> {
    use rayon::prelude::*;
    let batch = batch.max(1);
    let run = |net: &Net, c: usize, chunk: &[Arc<HopGraphs>]| -> Result<Vec<f64>> {
        let _ng = NoGrad::new();
        let refs: Vec<&[super::Graph]> = chunk.iter().map(|g| g.as_slice()).collect();
        let rows: Option<Vec<&[f32]>> = global.map(|g| g[c * batch..c * batch + chunk.len()].iter().map(|r| r.as_slice()).collect());
        let b = Batch::new(&refs, rows.as_deref(), &net.cfg)?;
        Ok(net.forward(&b)?.to_vec()?.into_iter().map(|v| v as f64).collect())
    };
    let chunks: Vec<(usize, &[Arc<HopGraphs>])> = graphs.chunks(batch).enumerate().collect();
    let parallel = chunks.len() > 1 && rayon::current_num_threads() > 1 && tensor::num_threads() == 1 && tensor::device()? == tch::Device::Cpu;
    let parts: Vec<Vec<f64>> = if parallel {
        let (values, cfg) = (net.values()?, net.cfg);
        chunks
            .par_iter()
            .map_init(|| Net::from_values(cfg, &values), |local, &(c, chunk)| match local {
                Ok(n) => run(n, c, chunk),
                Err(e) => Err(e.clone().into()),
            })
            .collect::<Result<_>>()?
    } else {
        chunks.iter().map(|&(c, chunk)| run(net, c, chunk)).collect::<Result<_>>()?
    };
    Ok(parts.into_iter().flatten().collect())
}

/// Global inputs of a stage: the standardised rows of the training and validation hops and the
/// statistics (of the training hops only) they were standardised with.
struct Globals {
    train: Option<Vec<Vec<f32>>>,
    valid: Option<Vec<Vec<f32>>>,
    mean: Vec<f64>,
    std: Vec<f64>,
}

fn stage_globals(spec: &Spec, records: &[HopRecord], hosts: &std::collections::HashMap<String, crate::structure::Structure>, tr: &[usize], va: &[usize]) -> Result<Globals> {
    if spec.fusion == super::Fusion::None {
        return Ok(Globals { train: None, valid: None, mean: Vec::new(), std: Vec::new() });
    }
    let rows = global_features(records, hosts, spec.fusion)?;
    let train_rows: Vec<&[f64]> = tr.iter().map(|&i| rows[i].as_slice()).collect();
    let (mean, std) = column_stats(&train_rows);
    let pick = |idx: &[usize]| -> Vec<Vec<f64>> { idx.iter().map(|&i| rows[i].clone()).collect() };
    Ok(Globals { train: Some(standardise(&pick(tr), &mean, &std)), valid: Some(standardise(&pick(va), &mean, &std)), mean, std })
}

fn split_valid(records: &[HopRecord], valid: &Validation, spec: &Spec) -> Result<(Vec<usize>, Vec<usize>)> {
    let n = records.len();
    let is_valid: Vec<bool> = match valid {
        Validation::None => vec![false; n],
        Validation::Ids(ids) => {
            let set: std::collections::HashSet<&str> = ids.iter().map(|s| s.as_str()).collect();
            records.iter().map(|r| set.contains(r.id.as_str())).collect()
        }
        Validation::Carve => {
            if spec.valid_fraction <= 0.0 {
                vec![false; n]
            } else {
                let groups: Vec<&str> = records.iter().map(|r| r.host.0.as_str()).collect();
                let k = ((1.0 / spec.valid_fraction).round() as usize).max(2);
                let folds = crate::model::group_folds(&groups, k, spec.seed ^ 0x7661_6c69_64)
                    .map_err(|e| GnnError::Data(format!("cannot carve a validation part: {e}")))?;
                folds.iter().map(|f| *f == 0).collect()
            }
        }
    };
    let tr: Vec<usize> = (0..n).filter(|&i| !is_valid[i]).collect();
    let va: Vec<usize> = (0..n).filter(|&i| is_valid[i]).collect();
    if tr.is_empty() {
        return Err(GnnError::Data("no training hops left after carving the validation part".into()));
    }
    Ok((tr, va))
}

struct Stage<'a> {
    stage: u8,
    epochs: usize,
    lr: f64,
    train: Vec<Arc<HopGraphs>>,
    y_train: Vec<f64>,
    valid: Vec<Arc<HopGraphs>>,
    globals: Globals,
    /// Validation barriers in eV (the validation MAE is in eV whatever the target).
    y_valid: Vec<f64>,
    y_mean: f64,
    y_std: f64,
    target: Target,
    /// Auxiliary targets of the training hops (multi-task pre-training), row-aligned with `train`.
    aux: Option<AuxTargets>,
    spec: &'a Spec,
}

/// Standardised auxiliary targets, `k` per hop, with a 0/1 mask for the values a hop lacks.
struct AuxTargets {
    k: usize,
    values: Vec<f32>,
    mask: Vec<f32>,
}

impl AuxTargets {
    /// The BVSE profile targets ([`super::profile_targets`]) of `rows` of `records`, each column
    /// standardised by its mean and deviation over the hops that have a profile.
    fn profile(records: &[HopRecord], rows: &[usize], k: usize) -> Result<AuxTargets> {
        let raw: Vec<Option<Vec<f64>>> = rows.iter().map(|&i| super::profile_targets(&records[i], k)).collect();
        let present: Vec<Vec<f64>> = raw.iter().flatten().cloned().collect();
        if present.is_empty() {
            return Err(GnnError::Data(format!(
                "pretrain_profile = {k}: none of the {} pre-training hops carries a BVSE energy profile (bvse_e00, bvse_e01, ...; records made by `hopdb bvse corpus` do)",
                rows.len()
            )));
        }
        let (mean, std) = column_stats(&present.iter().map(|r| r.as_slice()).collect::<Vec<_>>());
        let (mut values, mut mask) = (Vec::with_capacity(rows.len() * k), Vec::with_capacity(rows.len() * k));
        for r in &raw {
            match r {
                Some(v) => {
                    values.extend(v.iter().zip(mean.iter().zip(&std)).map(|(x, (m, s))| ((x - m) / s) as f32));
                    mask.extend(std::iter::repeat(1f32).take(k));
                }
                None => {
                    values.extend(std::iter::repeat(0f32).take(k));
                    mask.extend(std::iter::repeat(0f32).take(k));
                }
            }
        }
        Ok(AuxTargets { k, values, mask })
    }

    /// Mean absolute error of `pred` (`[hops, k]`) on the present targets of hops `chunk`
    /// (`None` when none of them has a profile).
    fn loss(&self, pred: &Tensor, chunk: &[usize]) -> Result<Option<Tensor>> {
        let k = self.k;
        let (mut v, mut m) = (Vec::with_capacity(chunk.len() * k), Vec::with_capacity(chunk.len() * k));
        for &i in chunk {
            v.extend_from_slice(&self.values[i * k..(i + 1) * k]);
            m.extend_from_slice(&self.mask[i * k..(i + 1) * k]);
        }
        let n: f32 = m.iter().sum();
        if n == 0.0 {
            return Ok(None);
        }
        let shape = [chunk.len() as i64, k as i64];
        let (vt, mt) = (Tensor::from_f32(&v, &shape, false)?, Tensor::from_f32(&m, &shape, false)?);
        Ok(Some(pred.sub(&vt)?.abs()?.mul(&mt)?.sum()?.mul_scalar(1.0 / n as f64)?))
    }
}

struct StageResult {
    best: ParamValues,
    best_val: f64,
    best_epoch: usize,
    epochs_run: usize,
    log: Vec<String>,
}

fn lr_at(epoch: usize, epochs: usize, peak: f64) -> f64 {
    let warm = (epochs / 20).max(1);
    if epoch < warm {
        return peak * (epoch + 1) as f64 / warm as f64;
    }
    let t = (epoch - warm) as f64 / (epochs - warm).max(1) as f64;
    let floor = 0.02 * peak;
    floor + (peak - floor) * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())
}

fn run_stage(st: &Stage, start: Net, resume: Option<&Checkpoint>, opts: &mut TrainOptions, blob_of: &dyn Fn(&ParamValues, Option<Checkpoint>) -> GnnBlob) -> Result<StageResult> {
    let spec = st.spec;
    let net = start;
    let mut opt = AdamW::new(net.params(), st.lr, spec.weight_decay)?;
    let (mut best_val, mut bad, mut first, mut log) = (f64::INFINITY, 0usize, 0usize, Vec::new());
    let mut best = net.values()?;
    let mut best_epoch = 0;
    if let Some(c) = resume {
        best_val = c.best_val;
        bad = c.bad_epochs;
        first = c.epoch;
        log = c.log.clone();
        if let Some(b) = opts.resume_best.take() {
            best = b;
        }
    }
    let name = if st.stage == 0 { "pretrain" } else { "train" };
    let task = if opts.progress { progress::start(&format!("{name} epochs"), st.epochs as u64) } else { Task::hidden() };
    task.inc(first as u64);
    let y_t: Vec<f32> = st.y_train.iter().map(|y| ((y - st.y_mean) / st.y_std) as f32).collect();
    let mut epochs_run = first;
    for epoch in first..st.epochs {
        let lr = lr_at(epoch, st.epochs, st.lr);
        opt.set_lr(lr)?;
        let mut order: Vec<usize> = (0..st.train.len()).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(spec.seed.wrapping_mul(1_000_003).wrapping_add((st.stage as u64) << 32 | epoch as u64)));
        let (mut sum, mut count) = (0.0, 0usize);
        for chunk in order.chunks(spec.batch) {
            let refs: Vec<&[super::Graph]> = chunk.iter().map(|&i| st.train[i].as_slice()).collect();
            let rows: Option<Vec<&[f32]>> = st.globals.train.as_ref().map(|g| chunk.iter().map(|&i| g[i].as_slice()).collect());
            let b = Batch::new(&refs, rows.as_deref(), &net.cfg)?;
            let y: Vec<f32> = chunk.iter().map(|&i| y_t[i]).collect();
            let yt = Tensor::from_f32(&y, &[y.len() as i64, 1], false)?;
            opt.zero_grad()?;
            let loss = match &st.aux {
                // Multi-task: the barrier's loss plus the mean loss over the profile points.
                Some(aux) => {
                    let (pred, pa) = net.forward_aux(&b)?;
                    let main = pred.sub(&yt)?.abs()?.mean()?;
                    match pa.as_ref().map(|pa| aux.loss(pa, chunk)).transpose()?.flatten() {
                        Some(l) => main.add(&l)?,
                        None => main,
                    }
                }
                None => net.forward(&b)?.sub(&yt)?.abs()?.mean()?,
            };
            loss.backward()?;
            tensor::clip_grad_norm(net.params(), spec.clip)?;
            opt.step()?;
            let l = loss.item()?;
            if !l.is_finite() {
                return Err(GnnError::Data(format!("{name} epoch {epoch}: the loss is not finite (lower lr?)")));
            }
            sum += l * chunk.len() as f64;
            count += chunk.len();
            task.message(&format!("loss {:.4}", sum / count as f64));
        }
        let train_loss = sum / count.max(1) as f64;
        epochs_run = epoch + 1;
        let val = if st.valid.is_empty() {
            f64::NAN
        } else {
            let p = predict_graphs(&net, &st.valid, st.globals.valid.as_deref(), INFERENCE_BATCH)?;
            p.iter().zip(&st.y_valid).map(|(p, y)| (st.target.inverse(p * st.y_std + st.y_mean) - y).abs()).sum::<f64>() / p.len() as f64
        };
        let done = Epoch { stage: name, epoch, epochs: st.epochs, lr, loss: train_loss, valid_mae: val };
        log.push(done.to_string());
        task.epoch(&done);
        task.inc(1);
        if st.valid.is_empty() || val < best_val {
            if !st.valid.is_empty() {
                best_val = val;
            }
            best = net.values()?;
            best_epoch = epoch;
            bad = 0;
        } else {
            bad += 1;
        }
        if opts.checkpoint_every > 0 && (epoch + 1) % opts.checkpoint_every == 0 {
            if let Some(cb) = opts.on_checkpoint.as_mut() {
                let ck = Checkpoint {
                    stage: st.stage,
                    epoch: epoch + 1,
                    values: net.values()?,
                    best_val,
                    bad_epochs: bad,
                    y_mean: st.y_mean,
                    y_std: st.y_std,
                    log: log.clone(),
                };
                cb(&blob_of(&best, Some(ck)))?;
            }
        }
        if !st.valid.is_empty() && bad >= spec.patience {
            log.push(format!("{name}: early stop at epoch {epoch} (best {best_epoch}, valid_mae {best_val:.4})"));
            break;
        }
    }
    task.finish();
    Ok(StageResult { best, best_val, best_epoch, epochs_run, log })
}

/// Train a graph network on `train_records` (their `em`), optionally after pre-training.
///
/// The validation part comes from `train_records` only ([`Validation`]); the test set is never
/// seen. With [`Pretrain::Records`], a first stage fits the pre-training records' barriers
/// (`spec.pretrain_target`, standardised by their own statistics, validation carved from them
/// the same way), then all weights are fine-tuned on the training records with a fresh
/// optimiser. Checkpoints go to `opts.on_checkpoint`; `opts.resume` continues a run.
pub fn train(store: &Store, train_records: &[HopRecord], valid: Validation, pretrain: Pretrain, spec: &Spec, opts: TrainOptions) -> Result<TrainedGnn> {
    train_inner(store, train_records, valid, pretrain, spec, opts, false)
}

/// A pre-training run on its own: `spec` (already the pre-training settings: its `epochs`,
/// `lr` and `target` are the pre-training ones) fitted to the BVSE `records`, with a validation
/// part carved from them; with `spec.pretrain_profile > 0` the energy profile is fitted too
/// (multi-task), as in the first stage of [`train`].
pub fn pretrain_only(store: &Store, records: &[HopRecord], spec: &Spec, opts: TrainOptions) -> Result<TrainedGnn> {
    train_inner(store, records, Validation::Carve, Pretrain::None, spec, opts, true)
}

fn train_inner(store: &Store, train_records: &[HopRecord], valid: Validation, pretrain: Pretrain, spec: &Spec, mut opts: TrainOptions, fit_profile: bool) -> Result<TrainedGnn> {
    if train_records.is_empty() {
        return Err(GnnError::Data("the training set is empty".into()));
    }
    if let Some(r) = train_records.iter().find(|r| !r.em.is_finite()) {
        return Err(GnnError::Data(format!("record {}: Em is not finite", r.id)));
    }
    if spec.threads > 0 {
        tensor::set_num_threads(spec.threads)?;
    }
    tensor::manual_seed(spec.seed)?;
    let gcfg = spec.graph_config();
    let ncfg = spec.net_config();
    let mut metrics = BTreeMap::new();
    let mut log = vec![format!("gnn {} on {} hops; libtorch threads {}, device {}", spec.variant.as_str(), train_records.len(), tensor::num_threads(), tensor::device_name(tensor::device()?))];
    let resume = opts.resume.take();
    let blob_base = |values: &ParamValues, y_mean: f64, y_std: f64, g: &Globals, ck: Option<Checkpoint>| GnnBlob {
        spec: spec.clone(),
        graph: gcfg,
        net: ncfg,
        y_mean,
        y_std,
        values: values.clone(),
        checkpoint: ck,
        global_mean: g.mean.clone(),
        global_std: g.std.clone(),
        members: Vec::new(),
        start: None,
    };

    // Stage 0: pre-training (skipped when resuming in stage 1).
    let mut start = Net::new(ncfg, spec.seed)?;
    let pretrain = match pretrain {
        Pretrain::Records(r) => Pretrain::External(store, r),
        p => p,
    };
    match pretrain {
        Pretrain::None => {}
        Pretrain::Model(m) => {
            let b = GnnBlob::from_bytes(&m.blob).map_err(|e| GnnError::Blob(format!("pre-trained model '{}': {e}", m.name)))?;
            // A multi-task pre-trained network fine-tunes without its auxiliary head when the
            // fine-tuning spec has none (the head's other weights are kept).
            let drop_aux = b.net.aux > 0 && ncfg.aux == 0;
            let body = super::NetConfig { aux: ncfg.aux, ..b.net };
            if body != ncfg || b.graph != gcfg {
                return Err(GnnError::Spec(format!("pre-trained model '{}' has another architecture or graph ({:?}, {:?})", m.name, b.net, b.graph)));
            }
            let mut values: ParamValues = if drop_aux { b.values.iter().filter(|(n, _, _)| !n.starts_with("aux.")).cloned().collect() } else { b.values.clone() };
            if b.net.aux == 0 && ncfg.aux > 0 {
                // Unused while fine-tuning, but part of the shape the spec asks for.
                values.extend(super::net::init_values(&ncfg, spec.seed).into_iter().filter(|(n, _, _)| n.starts_with("aux.")));
            }
            start = Net::from_values(ncfg, &values)?;
            log.push(format!("initialised from model '{}'", m.name));
        }
        Pretrain::External(pstore, pre) if resume.as_ref().map_or(true, |c| c.stage == 0) => {
            let t0 = Instant::now();
            let mut pre: Vec<HopRecord> = pre.iter().filter(|r| r.em.is_finite()).cloned().collect();
            pre.sort_by(|a, b| a.id.cmp(&b.id));
            if spec.pretrain_max > 0 && pre.len() > spec.pretrain_max {
                pre.shuffle(&mut ChaCha8Rng::seed_from_u64(spec.seed ^ 0x7072_6574));
                pre.truncate(spec.pretrain_max);
                pre.sort_by(|a, b| a.id.cmp(&b.id));
            }
            if pre.is_empty() {
                return Err(GnnError::Data("the pre-training set is empty".into()));
            }
            let target = |r: &HopRecord| spec.pretrain_target.forward(r.em);
            let hosts = load_hosts(pstore, &pre)?;
            let graphs = build_many(&pre, &hosts, &gcfg).map_err(GnnError::Data)?;
            let (tr, va) = split_valid(&pre, &Validation::Carve, spec)?;
            let globals = stage_globals(spec, &pre, &hosts, &tr, &va)?;
            let y_tr: Vec<f64> = tr.iter().map(|&i| target(&pre[i])).collect();
            let (m, s) = match &resume {
                Some(c) => (c.y_mean, c.y_std),
                None => mean_std(&y_tr),
            };
            let st = Stage {
                stage: 0,
                epochs: spec.pretrain_epochs,
                lr: spec.pretrain_lr,
                train: tr.iter().map(|&i| graphs[i].clone()).collect(),
                y_train: y_tr,
                valid: va.iter().map(|&i| graphs[i].clone()).collect(),
                y_valid: va.iter().map(|&i| pre[i].em).collect(),
                globals,
                y_mean: m,
                y_std: s,
                target: spec.pretrain_target,
                aux: if spec.pretrain_profile > 0 { Some(AuxTargets::profile(&pre, &tr, spec.pretrain_profile)?) } else { None },
                spec,
            };
            if let Some(c) = &resume {
                start = Net::from_values(ncfg, &c.values)?;
            }
            let res = run_stage(&st, start, resume.as_ref(), &mut opts, &|v, ck| blob_base(v, m, s, &st.globals, ck))?;
            log.push(format!("pre-trained on {} hops ({} validation), {} epochs, best epoch {} valid_mae {:.4}", st.train.len(), st.valid.len(), res.epochs_run, res.best_epoch, res.best_val));
            log.extend(res.log);
            metrics.insert("pretrain_hops".into(), st.train.len() as f64);
            metrics.insert("pretrain_valid_mae".into(), res.best_val);
            metrics.insert("pretrain_seconds".into(), t0.elapsed().as_secs_f64());
            start = Net::from_values(ncfg, &res.best)?;
        }
        Pretrain::External(..) | Pretrain::Records(_) => {}
    }

    // Stage 1: fine-tuning (or training from scratch), once per ensemble member; member `k`
    // runs as stage `1 + k` with the seed of [`member_spec`], member 0 exactly as a single
    // network would.
    let t0 = Instant::now();
    let hosts = load_hosts(store, train_records)?;
    let graphs = build_many(train_records, &hosts, &gcfg).map_err(GnnError::Data)?;
    metrics.insert("graph_seconds".into(), t0.elapsed().as_secs_f64());
    let count = spec.members.max(1);
    let first = match &resume {
        Some(c) if c.stage >= 1 => (c.stage - 1) as usize,
        _ => 0,
    };
    if first >= count {
        return Err(GnnError::Data(format!("the checkpoint is at ensemble member {first}, but members = {count}")));
    }
    let mut done: Vec<Member> = if first > 0 { std::mem::take(&mut opts.resume_members) } else { Vec::new() };
    if done.len() != first {
        return Err(GnnError::Data(format!("the checkpoint is at ensemble member {first} but holds {} finished members", done.len())));
    }
    let scratch = matches!(pretrain, Pretrain::None);
    let init: ParamValues = match opts.resume_start.take() {
        Some(v) => v,
        None if count > 1 && resume.as_ref().is_some_and(|c| c.stage >= 1) && !scratch => {
            return Err(GnnError::Data("the ensemble checkpoint lacks the weights its members start from".into()));
        }
        None => start.values()?,
    };
    // Every member's carve (seeded, so a resumed run knows the earlier members' too) and every
    // hop some member fits.
    let carves = (0..count).map(|k| split_valid(train_records, &valid, &member_spec(spec, k))).collect::<Result<Vec<_>>>()?;
    let mut fitted = vec![false; train_records.len()];
    for &i in carves.iter().flat_map(|(tr, _)| tr) {
        fitted[i] = true;
    }
    for k in first..count {
        let mspec = member_spec(spec, k);
        if k > 0 {
            tensor::manual_seed(mspec.seed)?;
        }
        let (tr, va) = &carves[k];
        let globals = stage_globals(&mspec, train_records, &hosts, tr, va)?;
        let y_tr: Vec<f64> = tr.iter().map(|&i| mspec.target.forward(train_records[i].em)).collect();
        let this_resume = resume.as_ref().filter(|c| c.stage >= 1 && k == first);
        let (m, s) = match this_resume {
            Some(c) => (c.y_mean, c.y_std),
            None => mean_std(&y_tr),
        };
        let net = match this_resume {
            Some(c) => Net::from_values(ncfg, &c.values)?,
            None if k > 0 && scratch => Net::new(ncfg, mspec.seed)?,
            None => Net::from_values(ncfg, &init)?,
        };
        let st = Stage {
            stage: (1 + k) as u8,
            epochs: mspec.epochs,
            lr: mspec.lr,
            train: tr.iter().map(|&i| graphs[i].clone()).collect(),
            y_train: y_tr,
            valid: va.iter().map(|&i| graphs[i].clone()).collect(),
            y_valid: va.iter().map(|&i| train_records[i].em).collect(),
            globals,
            y_mean: m,
            y_std: s,
            target: mspec.target,
            aux: if fit_profile && mspec.pretrain_profile > 0 { Some(AuxTargets::profile(train_records, tr, mspec.pretrain_profile)?) } else { None },
            spec: &mspec,
        };
        let blob_of = |v: &ParamValues, ck: Option<Checkpoint>| {
            let mut b = blob_base(v, m, s, &st.globals, ck);
            if count > 1 {
                b.members = done.clone();
                b.start = Some(init.clone());
            }
            b
        };
        let res = run_stage(&st, net, this_resume, &mut opts, &blob_of)?;
        let who = if count > 1 { format!("member {k}: ") } else { String::new() };
        log.push(format!("{who}trained on {} hops ({} validation), {} epochs, best epoch {} valid_mae {:.4}", st.train.len(), st.valid.len(), res.epochs_run, res.best_epoch, res.best_val));
        log.extend(res.log);
        if k == 0 {
            metrics.insert("best_epoch".into(), res.best_epoch as f64);
            metrics.insert("epochs_run".into(), res.epochs_run as f64);
        }
        done.push(Member { values: res.best, y_mean: m, y_std: s, global_mean: st.globals.mean.clone(), global_std: st.globals.std.clone(), valid_mae: res.best_val });
    }
    metrics.insert("train_seconds".into(), t0.elapsed().as_secs_f64());
    let vals: Vec<f64> = done.iter().map(|m| m.valid_mae).filter(|v| v.is_finite()).collect();
    if !vals.is_empty() {
        metrics.insert("valid_mae".into(), vals.iter().sum::<f64>() / vals.len() as f64);
    }
    if count > 1 {
        metrics.insert("members".into(), count as f64);
    }
    let rest = done.split_off(1);
    let m0 = done.pop().expect("member 0 was trained");
    let mut blob = blob_base(&m0.values, m0.y_mean, m0.y_std, &Globals { train: None, valid: None, mean: m0.global_mean, std: m0.global_std }, None);
    blob.members = rest;
    Ok(TrainedGnn {
        blob,
        train_ids: (0..train_records.len()).filter(|&i| fitted[i]).map(|i| train_records[i].id.clone()).collect(),
        valid_ids: (0..train_records.len()).filter(|&i| !fitted[i]).map(|i| train_records[i].id.clone()).collect(),
        metrics,
        log,
    })
}

/// The settings of ensemble member `k` ([`Spec::members`]): member 0 is `spec` itself, member
/// `k > 0` the same with its own seed (validation carve, batch order, and initial weights when
/// training from scratch).
pub fn member_spec(spec: &Spec, k: usize) -> Spec {
    let mut s = spec.clone();
    if k > 0 {
        s.seed = spec.seed ^ (k as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    s
}
