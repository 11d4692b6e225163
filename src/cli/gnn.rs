//! `hopdb gnn ...`: graph-network experiments (train on the paper split with several seeds,
//! optional BVSE pre-training, grouped cross-validation, benchmarks). Built with `--features gnn`.

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Subcommand};
use hopdb::eval;
use hopdb::model::gnn::{self, GnnBlob, Pretrain, Spec, TrainOptions, Validation};
use hopdb::model::{registry, ModelRecord};
use hopdb::record::{Fidelity, HopRecord};
use hopdb::store::Store;
use hopdb::table::{Format, ResultTable, Value};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Graph-network commands.
#[derive(Subcommand, Debug)]
pub enum GnnCmd {
    /// Train on the paper split (partition 'train' of the DFT hops), evaluate on 'test', save.
    #[command(after_help = "Examples:\n  hopdb gnn train g1 --set variant=band --set epochs=60 --seeds 1,2,3\n  hopdb gnn train g1p --init-from bvse-pre --seeds 1,2,3\n  hopdb gnn train g1p --pretrain-db corpus.db --pretrain-max 20000 --set pretrain_epochs=5\n  hopdb gnn train g1 --resume   # continue an interrupted run from its checkpoint")]
    Train(TrainArgs),
    /// Pre-train only, on BVSE records (another store, or BVSE barriers of the training hops).
    #[command(after_help = "Examples:\n  hopdb gnn pretrain bvse-pre --pretrain-db corpus.db --pretrain-max 20000 --set pretrain_epochs=5\n  hopdb gnn pretrain bvse-self --bvse-self --set pretrain_epochs=30")]
    Pretrain(TrainArgs),
    /// Grouped k-fold cross-validation over all DFT hops (hops of one host never split).
    #[command(after_help = "Example:\n  hopdb gnn cv --set variant=band --folds 5 --seed 1")]
    Cv(CvArgs),
    /// Timings: graph building, fine-tuning on the training partition, inference hops/s.
    #[command(after_help = "Example:\n  hopdb gnn bench --set epochs=60")]
    Bench(BenchArgs),
}

/// Options shared by `train` and `pretrain`.
#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Model name (with several seeds, NAME-sSEED).
    pub name: String,
    /// Hyperparameter, repeatable: key=value (keys: variant, epochs, lr, seed, hidden, layers,
    /// cutoff, radius, max_neighbors, batch, patience, valid_fraction, pretrain_epochs, ...).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Seeds to run (comma-separated); overrides `seed`.
    #[arg(long, value_delimiter = ',')]
    pub seeds: Vec<u64>,
    /// Start from the weights of this stored gnn model (pre-trained).
    #[arg(long)]
    pub init_from: Option<String>,
    /// Pre-train on the `fidelity = 'bvse'` records of this store (opened read-only after copying is advised).
    #[arg(long)]
    pub pretrain_db: Option<PathBuf>,
    /// Pre-train on BVSE barriers computed now for the training hops themselves (no test hops).
    #[arg(long)]
    pub bvse_self: bool,
    /// Use at most this many pre-training records (seeded subsample).
    #[arg(long)]
    pub pretrain_max: Option<usize>,
    /// Use only the first N training hops (sorted by a seeded shuffle): learning curves.
    #[arg(long)]
    pub train_size: Option<usize>,
    /// Save a checkpoint every N epochs (resumable with --resume).
    #[arg(long, default_value_t = 5)]
    pub checkpoint_every: usize,
    /// Resume the run stored under NAME.
    #[arg(long)]
    pub resume: bool,
    /// Replace models of the same name.
    #[arg(long)]
    pub replace: bool,
    /// Also report the average of the graph network's and this stored tree model's test
    /// predictions (a tree model trained on the same split, e.g. by `TUNE gbt ... ON SPLIT paper`).
    #[arg(long, value_name = "MODEL")]
    pub ensemble_with: Option<String>,
    /// Do not save the models.
    #[arg(long)]
    pub no_save: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// Options of `cv`.
#[derive(Args, Debug)]
pub struct CvArgs {
    /// Hyperparameters (key=value), repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Folds.
    #[arg(long, default_value_t = 5)]
    pub folds: usize,
    /// Fold assignment seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Start every fold from this stored (pre-trained) gnn model.
    #[arg(long)]
    pub init_from: Option<String>,
    /// Use the folds `fold0..foldK` of this stored k-fold split (CREATE SPLIT cv FROM (...)
    /// GROUPED KFOLD 5 SEED 1) instead of `--folds/--seed`, so the folds match CROSS VALIDATE's.
    #[arg(long)]
    pub split: Option<String>,
    /// With --split: also cross-validate this tree kind (rf or gbt, default parameters or
    /// `--ensemble-set`) on the same folds and report it and the average of both.
    #[arg(long, value_name = "KIND")]
    pub ensemble: Option<String>,
    /// Tree hyperparameters for --ensemble (key=value), repeatable.
    #[arg(long = "ensemble-set", value_name = "KEY=VALUE")]
    pub ensemble_set: Vec<String>,
    /// Write out-of-fold predictions (id,em,pred) to this CSV.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// Options of `bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Hyperparameters (key=value), repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Inference repetitions over all hops.
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

fn spec_of(set: &[String]) -> Result<Spec> {
    let mut m = BTreeMap::new();
    for kv in set {
        let (k, v) = kv.split_once('=').ok_or_else(|| anyhow!("--set {kv}: expected KEY=VALUE"))?;
        m.insert(k.trim().to_string(), v.trim().to_string());
    }
    Ok(Spec::from_map(&m)?)
}

fn dft_records(store: &Store) -> Result<Vec<HopRecord>> {
    let mut v: Vec<HopRecord> = store.ids_where("fidelity", "dft")?.iter().map(|id| store.record(id)).collect::<std::result::Result<_, _>>()?;
    v.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(v)
}

fn partition<'a>(recs: &'a [HopRecord], name: &str) -> Vec<HopRecord> {
    recs.iter().filter(|r| r.partition.map(|p| p.as_str()) == Some(name)).cloned().collect()
}

/// BVSE barriers (hopdb recipe) of `records`, as `bvse` twins with the same hosts.
fn bvse_twins(store: &Store, records: &[HopRecord]) -> Result<Vec<HopRecord>> {
    let hosts = gnn::load_hosts(store, records)?;
    let t0 = Instant::now();
    let out: Vec<HopRecord> = records
        .par_iter()
        .filter_map(|r| {
            let host = &hosts[&r.host.0];
            let res = hopdb::bvse::barrier_for_hop(r, host, hopdb::bvse::Recipe::Hopdb).ok()?;
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
    eprintln!("BVSE barriers of {} hops ({} usable) in {:.1} s", records.len(), out.len(), t0.elapsed().as_secs_f64());
    Ok(out)
}

struct Eval {
    m: eval::Metrics,
    acc: f64,
    se: eval::BootstrapErrors,
}

fn evaluate(y: &[f64], p: &[f64]) -> Result<Eval> {
    Ok(Eval { m: eval::metrics(y, p)?, acc: eval::classify(y, p, eval::DEFAULT_THRESHOLD)?.accuracy, se: eval::bootstrap(y, p, eval::DEFAULT_RESAMPLES, 7)? })
}

fn save_model(store: &Store, rec: &ModelRecord, replace: bool) -> Result<()> {
    registry::save(store, rec, replace).with_context(|| format!("saving model '{}'", rec.name))
}

pub fn run(db: &Path, cmd: GnnCmd) -> Result<()> {
    match cmd {
        GnnCmd::Train(a) => train_cmd(db, a, false),
        GnnCmd::Pretrain(a) => train_cmd(db, a, true),
        GnnCmd::Cv(a) => cv_cmd(db, a),
        GnnCmd::Bench(a) => bench_cmd(db, a),
    }
}

fn train_cmd(db: &Path, a: TrainArgs, pretrain_only: bool) -> Result<()> {
    let store = Store::open(db)?;
    let mut spec = spec_of(&a.set)?;
    if let Some(n) = a.pretrain_max {
        spec.pretrain_max = n;
    }
    let all = dft_records(&store)?;
    let mut train = partition(&all, "train");
    let test = partition(&all, "test");
    if train.is_empty() {
        bail!("no DFT hops with partition 'train' in {}", db.display());
    }
    if let Some(n) = a.train_size {
        train = gnn::experiment::training_subset(&train, n);
    }
    // Pre-training records.
    let ext_store = match &a.pretrain_db {
        Some(p) => Some(Store::open(p).with_context(|| format!("opening the pre-training store {}", p.display()))?),
        None => None,
    };
    let ext_records: Vec<HopRecord> = match &ext_store {
        Some(s) => gnn::experiment::corpus_records(s, spec.pretrain_max, spec.seed)?,
        None if a.bvse_self => bvse_twins(&store, &train)?,
        None => Vec::new(),
    };
    // Pre-training records derived from a test hop's structure (their `parent` is a test hop
    // or a hop on a test host) are left out: the test structures stay unseen.
    let ext_records = {
        let before = ext_records.len();
        let (kept, dropped) = gnn::experiment::without_held_out(ext_records, &all, &test);
        if dropped > 0 {
            eprintln!("pre-training: left out {dropped} of {before} records derived from test structures");
        }
        kept
    };
    let init = match &a.init_from {
        Some(n) => Some(registry::load(&store, n)?),
        None => None,
    };
    let seeds = if a.seeds.is_empty() { vec![spec.seed] } else { a.seeds.clone() };
    let tree_test = match &a.ensemble_with {
        Some(m) => {
            let rec = registry::load(&store, m)?;
            if rec.kind == gnn::KIND {
                bail!("--ensemble-with {m}: expected a tree model (rf or gbt), this one is a graph network");
            }
            Some(hopdb::modeling::predict_records(&store, &rec, &test)?)
        }
        None => None,
    };
    let mut ens_maes = vec![];
    let mut t = ResultTable::new(&["model", "seed", "valid MAE", "test MAE", "+-", "test R2", "+-", "acc@0.65", "+-", "paths distinct", "epochs", "seconds"]).titled(format!(
        "gnn {} on the paper split ({} train, {} test)",
        spec.variant.as_str(),
        train.len(),
        test.len()
    ));
    let mut maes = vec![];
    let mut ensemble_rows: Vec<Vec<Value>> = vec![];
    for &seed in &seeds {
        let mut s = spec.clone();
        s.seed = seed;
        let name = if seeds.len() == 1 { a.name.clone() } else { format!("{}-s{seed}", a.name) };
        let resume = if a.resume {
            let rec = registry::load(&store, &name)?;
            let blob = GnnBlob::from_bytes(&rec.blob)?;
            s = blob.spec.clone();
            Some(blob.checkpoint.ok_or_else(|| anyhow!("model '{name}' is finished: nothing to resume"))?)
        } else {
            None
        };
        let pre = match (&init, &ext_store) {
            (Some(m), _) => Pretrain::Model(m),
            (None, Some(es)) => Pretrain::External(es, &ext_records),
            (None, None) if !ext_records.is_empty() => Pretrain::Records(&ext_records),
            _ => Pretrain::None,
        };
        let t0 = Instant::now();
        let save_every = if a.no_save { 0 } else { a.checkpoint_every };
        let mut cb = |b: &GnnBlob| -> gnn::Result<()> {
            let tg = gnn::TrainedGnn { blob: b.clone(), train_ids: vec![], valid_ids: vec![], metrics: BTreeMap::new(), log: vec!["checkpoint".into()] };
            let rec = tg.to_record(&name, "")?;
            registry::save(&store, &rec, true).map_err(|e| gnn::GnnError::Data(format!("checkpoint: {e}")))?;
            Ok(())
        };
        let opts = TrainOptions { progress: true, resume, on_checkpoint: Some(&mut cb), checkpoint_every: save_every };
        let trained = if pretrain_only {
            let pre_recs: &[HopRecord] = &ext_records;
            if pre_recs.is_empty() {
                bail!("pretrain needs --pretrain-db or --bvse-self");
            }
            // Pre-training alone is training on the BVSE records with the pre-training settings.
            let mut ps = s.clone();
            ps.epochs = s.pretrain_epochs;
            ps.lr = s.pretrain_lr;
            ps.target = s.pretrain_target;
            let st = ext_store.as_ref().unwrap_or(&store);
            gnn::train(st, pre_recs, Validation::Carve, Pretrain::None, &ps, opts)?
        } else {
            gnn::train(&store, &train, Validation::Carve, pre, &s, opts)?
        };
        let secs = t0.elapsed().as_secs_f64();
        let mut rec = trained.to_record(&name, "")?;
        let mut row = vec![Value::Str(name.clone()), Value::Int(seed as i64), Value::Num(trained.metrics.get("valid_mae").copied().unwrap_or(f64::NAN))];
        if !pretrain_only && !test.is_empty() {
            let p = gnn::predict_records(&store, &rec, &test)?;
            let y: Vec<f64> = test.iter().map(|r| r.em).collect();
            let e = evaluate(&y, &p)?;
            maes.push(e.m.mae);
            rec.metrics.insert("test_mae".into(), e.m.mae);
            rec.metrics.insert("test_r2".into(), e.m.r2);
            rec.metrics.insert("test_accuracy".into(), e.acc);
            row.extend([Value::Num(e.m.mae), Value::Num(e.se.mae), Value::Num(e.m.r2), Value::Num(e.se.r2), Value::Num(e.acc), Value::Num(e.se.accuracy)]);
            if let Some(tp) = &tree_test {
                let avg: Vec<f64> = p.iter().zip(tp).map(|(a, b)| 0.5 * (a + b)).collect();
                let en = evaluate(&y, &avg)?;
                ens_maes.push(en.m.mae);
                rec.metrics.insert("ensemble_test_mae".into(), en.m.mae);
                ensemble_rows.push(vec![
                    Value::Str(format!("{name} + {}", a.ensemble_with.as_deref().unwrap_or(""))),
                    Value::Int(seed as i64),
                    Value::Null,
                    Value::Num(en.m.mae),
                    Value::Num(en.se.mae),
                    Value::Num(en.m.r2),
                    Value::Num(en.se.r2),
                    Value::Num(en.acc),
                    Value::Num(en.se.accuracy),
                    Value::Null,
                    Value::Null,
                    Value::Null,
                ]);
            }
        } else {
            row.extend((0..6).map(|_| Value::Null));
        }
        if pretrain_only {
            row.push(Value::Null);
        } else {
            let (distinct, hosts) = gnn::experiment::distinct_paths(&store, &rec, &train)?;
            if hosts > 0 {
                rec.metrics.insert("multi_path_distinct".into(), distinct);
            }
            row.push(Value::Str(if hosts == 0 { "no multi-hop hosts".to_string() } else { format!("{:.0}% of {hosts}", 100.0 * distinct) }));
        }
        row.push(Value::Int(trained.metrics.get("epochs_run").copied().unwrap_or(0.0) as i64));
        row.push(Value::Num(secs));
        t.push(row);
        if !a.no_save {
            save_model(&store, &rec, true)?;
        }
    }
    let mean_row = |label: &str, v: &[f64]| {
        let m = v.iter().sum::<f64>() / v.len() as f64;
        let sd = (v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (v.len() - 1) as f64).sqrt();
        vec![Value::Str(label.into()), Value::Null, Value::Null, Value::Num(m), Value::Num(sd), Value::Null, Value::Null, Value::Null, Value::Null, Value::Null, Value::Null, Value::Null]
    };
    if maes.len() > 1 {
        t.push(mean_row("mean over seeds", &maes));
    }
    for r in ensemble_rows {
        t.push(r);
    }
    if ens_maes.len() > 1 {
        t.push(mean_row("ensemble mean over seeds", &ens_maes));
    }
    println!("{}", t.render(a.format));
    Ok(())
}

fn cv_cmd(db: &Path, a: CvArgs) -> Result<()> {
    let store = Store::open(db)?;
    let spec = spec_of(&a.set)?;
    let all = dft_records(&store)?;
    let (all, folds, nfolds) = match &a.split {
        Some(name) => {
            let s = hopdb::split::load(&store, name)?;
            let mut fold_names: Vec<String> = s.partition_names().into_iter().filter(|n| n.starts_with("fold")).map(str::to_string).collect();
            fold_names.sort_by_key(|n| n[4..].parse::<usize>().unwrap_or(usize::MAX));
            if fold_names.len() < 2 {
                bail!("split '{name}' has no fold partitions (fold0, fold1, ...): create it with GROUPED KFOLD");
            }
            let by_id: BTreeMap<&str, &HopRecord> = all.iter().map(|r| (r.id.as_str(), r)).collect();
            let (mut recs, mut fo) = (vec![], vec![]);
            for (k, f) in fold_names.iter().enumerate() {
                for id in s.partition(f) {
                    let r = by_id.get(id.as_str()).ok_or_else(|| anyhow!("split '{name}': hop {id} is not a DFT hop of this store"))?;
                    recs.push((*r).clone());
                    fo.push(k);
                }
            }
            (recs, fo, fold_names.len())
        }
        None => {
            let groups: Vec<&str> = all.iter().map(|r| r.host.0.as_str()).collect();
            let f = hopdb::model::group_folds(&groups, a.folds, a.seed)?;
            (all, f, a.folds)
        }
    };
    let init = match &a.init_from {
        Some(n) => Some(registry::load(&store, n)?),
        None => None,
    };
    let mut pred = vec![f64::NAN; all.len()];
    let mut t = ResultTable::new(&["fold", "train", "test", "MAE", "R2", "seconds"]).titled(format!("gnn {} grouped {}-fold CV over {} DFT hops", spec.variant.as_str(), nfolds, all.len()));
    for (f, fold) in gnn::experiment::out_of_fold(&store, &all, &folds, nfolds, &spec, init.as_ref(), true, &|_| {})?.into_iter().enumerate() {
        for (k, &i) in fold.test_idx.iter().enumerate() {
            pred[i] = fold.pred[k];
        }
        let y: Vec<f64> = fold.test_idx.iter().map(|&i| all[i].em).collect();
        let m = eval::metrics(&y, &fold.pred)?;
        t.push(vec![Value::Int(f as i64), Value::Int(fold.train as i64), Value::Int(fold.test_idx.len() as i64), Value::Num(m.mae), Value::Num(m.r2), Value::Num(fold.seconds)]);
    }
    let y: Vec<f64> = all.iter().map(|r| r.em).collect();
    let m = eval::metrics(&y, &pred)?;
    t.push(vec![Value::Str("all (out of fold)".into()), Value::Int(all.len() as i64), Value::Int(all.len() as i64), Value::Num(m.mae), Value::Num(m.r2), Value::Null]);
    if let Some(kind) = &a.ensemble {
        let split = a.split.as_deref().ok_or_else(|| anyhow!("--ensemble needs --split (the tree model must see the same folds)"))?;
        let kind = hopdb::model::Kind::parse(kind).ok_or_else(|| anyhow!("--ensemble {kind}: expected rf or gbt"))?;
        let mut params = BTreeMap::new();
        for kv in &a.ensemble_set {
            let (k, v) = kv.split_once('=').ok_or_else(|| anyhow!("--ensemble-set {kv}: expected KEY=VALUE"))?;
            params.insert(k.trim().to_string(), v.trim().to_string());
        }
        let cv = hopdb::modeling::cross_validate_split(&store, kind, &params, split, 0.65)?;
        let tree: BTreeMap<&str, f64> = cv.predictions.iter().map(|p| (p.id.as_str(), p.predicted)).collect();
        let tp: Vec<f64> = all.iter().map(|r| tree.get(r.id.as_str()).copied().ok_or_else(|| anyhow!("no tree prediction for {}", r.id))).collect::<Result<_>>()?;
        let tm = eval::metrics(&y, &tp)?;
        t.push(vec![Value::Str(format!("{} alone (out of fold)", kind.as_str())), Value::Int(all.len() as i64), Value::Int(all.len() as i64), Value::Num(tm.mae), Value::Num(tm.r2), Value::Null]);
        let avg: Vec<f64> = pred.iter().zip(&tp).map(|(a, b)| 0.5 * (a + b)).collect();
        let em = eval::metrics(&y, &avg)?;
        t.push(vec![Value::Str(format!("average gnn + {} (out of fold)", kind.as_str())), Value::Int(all.len() as i64), Value::Int(all.len() as i64), Value::Num(em.mae), Value::Num(em.r2), Value::Null]);
    }
    if let Some(out) = &a.out {
        let mut w = csv::Writer::from_path(out)?;
        w.write_record(["id", "em", "pred"])?;
        for (r, p) in all.iter().zip(&pred) {
            w.write_record([r.id.clone(), r.em.to_string(), p.to_string()])?;
        }
        w.flush()?;
    }
    println!("{}", t.render(a.format));
    Ok(())
}

fn bench_cmd(db: &Path, a: BenchArgs) -> Result<()> {
    let store = Store::open(db)?;
    let spec = spec_of(&a.set)?;
    let all = dft_records(&store)?;
    let train = partition(&all, "train");
    let hosts = gnn::load_hosts(&store, &all)?;
    if spec.threads > 0 {
        gnn::tensor::set_num_threads(spec.threads)?;
    }
    let mut t = ResultTable::new(&["measurement", "hops", "seconds", "hops/s"]).titled(format!("gnn {} benchmark ({} libtorch threads, device {})", spec.variant.as_str(), gnn::tensor::num_threads(), gnn::tensor::device_name(gnn::tensor::device()?)));
    let t0 = Instant::now();
    let g = hopdb::model::gnn::graph::build_many(&all, &hosts, &spec.graph_config()).map_err(|e| anyhow!(e))?;
    let gs = t0.elapsed().as_secs_f64();
    let (n_nodes, n_edges) = g.iter().flat_map(|h| h.iter()).fold((0, 0), |(n, e), x| (n + x.nodes(), e + x.edges()));
    eprintln!("graphs: {:.1} nodes and {:.1} edges per hop", n_nodes as f64 / all.len() as f64, n_edges as f64 / all.len() as f64);
    t.push(vec![Value::Str("graph building (cold, rayon)".into()), Value::Int(all.len() as i64), Value::Num(gs), Value::Num(all.len() as f64 / gs)]);
    let t0 = Instant::now();
    let trained = gnn::train(&store, &train, Validation::Carve, Pretrain::None, &spec, TrainOptions { progress: true, ..Default::default() })?;
    let ts = t0.elapsed().as_secs_f64();
    t.push(vec![
        Value::Str(format!("training, {} epochs run (of {})", trained.metrics["epochs_run"], spec.epochs)),
        Value::Int(train.len() as i64),
        Value::Num(ts),
        Value::Null,
    ]);
    let rec = trained.to_record("bench", "")?;
    let mut secs = vec![];
    for _ in 0..a.runs.max(1) {
        let t0 = Instant::now();
        let p = gnn::predict_records(&store, &rec, &all)?;
        assert_eq!(p.len(), all.len());
        secs.push(t0.elapsed().as_secs_f64());
    }
    let m = hopdb::bench::median(&secs);
    t.push(vec![Value::Str("inference (graphs cached, median)".into()), Value::Int(all.len() as i64), Value::Num(m), Value::Num(all.len() as f64 / m)]);
    println!("{}", t.render(a.format));
    Ok(())
}
