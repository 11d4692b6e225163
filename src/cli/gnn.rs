//! `hopdb gnn ...`: graph-network experiments (train on the paper split with several seeds,
//! optional BVSE pre-training, grouped cross-validation, benchmarks). Built with `--features gnn`.

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Subcommand};
use hopdb::workflow::gnn::{self as workflow, BenchRequest, CvPretrain, CvRequest, SeedStats, StackRequest, TestScores, TrainRequest, TreeEnsemble};
use hopdb::model::gnn::Spec;
use hopdb::store::Store;
use hopdb::table::{Format, ResultTable, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Graph-network commands.
#[derive(Subcommand, Debug)]
pub enum GnnCmd {
    /// Train on the paper split (partition 'train' of the DFT hops), evaluate on 'test', save.
    #[command(after_help = "Examples:\n  hopdb gnn train g1 --set variant=band --set epochs=60 --seeds 1,2,3\n  hopdb gnn train g1p --init-from bvse-pre --seeds 1,2,3\n  hopdb gnn train g1p --pretrain-db corpus.db --pretrain-max 20000 --set pretrain_epochs=5\n  hopdb gnn train g1e --init-from bvse-pre --set members=5   # five fine-tunings, mean prediction\n  hopdb gnn train g1 --resume   # continue an interrupted run from its checkpoint")]
    Train(TrainArgs),
    /// Pre-train only, on BVSE records (another store, or BVSE barriers of the training hops).
    #[command(after_help = "Examples:\n  hopdb gnn pretrain bvse-pre --pretrain-db corpus.db --pretrain-max 20000 --set pretrain_epochs=5\n  hopdb gnn pretrain bvse-self --bvse-self --set pretrain_epochs=30")]
    Pretrain(TrainArgs),
    /// Grouped k-fold cross-validation over all DFT hops (hops of one host never split).
    #[command(after_help = "Examples:\n  hopdb gnn cv --set variant=band --folds 5 --seed 1\n  hopdb gnn cv --split cv5 --pretrain-db corpus.db --pretrain-max 20000 --set pretrain_epochs=5   # per-fold pre-training\n  hopdb gnn cv --split cv5 --pretrain-db corpus.db --pretrain-name pre --set members=5   # reuses the saved per-fold pre-training")]
    Cv(CvArgs),
    /// Timings: graph building, fine-tuning on the training partition, inference hops/s.
    #[command(after_help = "Example:\n  hopdb gnn bench --set epochs=60")]
    Bench(BenchArgs),
    /// Stacked graph network + tree model under nested grouped CV: on each outer fold of a
    /// k-fold split, the tree weight is fitted on inner grouped folds of the training part only.
    #[command(after_help = "Example:\n  hopdb gnn stack --split cv5 --tree gbt --tree-set trees=500 --tree-set learning_rate=0.03 --inner-folds 5 --set hidden=32 --set max_neighbors=8 --set target=log1p")]
    Stack(StackArgs),
}

/// Options of `stack`.
#[derive(Args, Debug)]
pub struct StackArgs {
    /// Graph-network hyperparameters (key=value), repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// The outer folds: a stored k-fold split (CREATE SPLIT cv5 FROM (...) GROUPED KFOLD 5).
    #[arg(long)]
    pub split: String,
    /// The tree kind: rf or gbt.
    #[arg(long, default_value = "gbt")]
    pub tree: String,
    /// Tree hyperparameters (key=value), repeatable.
    #[arg(long = "tree-set", value_name = "KEY=VALUE")]
    pub tree_set: Vec<String>,
    /// Inner grouped folds within each outer training part.
    #[arg(long, default_value_t = 5)]
    pub inner_folds: usize,
    /// Write out-of-fold predictions (id,em,gnn,tree,stack) to this CSV.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_parser = crate::cli::format_parser(), default_value = "table")]
    pub format: Format,
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
    /// Pre-train on the `fidelity = 'bvse'` records of this store (it may be `--db` itself; a
    /// store opens in one process at a time, so parallel runs each need their own copy).
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
    #[arg(long, value_parser = crate::cli::format_parser(), default_value = "table")]
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
    /// Per-fold pre-training: pre-train each fold's network on the `fidelity = 'bvse'` records
    /// of this store (it may be `--db` itself) less those derived from the fold's test structures.
    #[arg(long, conflicts_with = "init_from")]
    pub pretrain_db: Option<PathBuf>,
    /// With --pretrain-db: draw at most this many corpus records (seeded; 0 = all).
    #[arg(long, default_value_t = 0)]
    pub pretrain_max: usize,
    /// With --pretrain-db: save the per-fold pre-trained models as NAME-foldF (a rerun reuses
    /// finished ones and resumes unfinished ones).
    #[arg(long, default_value = "cv-pretrained")]
    pub pretrain_name: String,
    /// With --pretrain-db: epochs between pre-training checkpoints.
    #[arg(long, default_value_t = 1)]
    pub checkpoint_every: usize,
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
    #[arg(long, value_parser = crate::cli::format_parser(), default_value = "table")]
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
    #[arg(long, value_parser = crate::cli::format_parser(), default_value = "table")]
    pub format: Format,
}

fn key_values(flag: &str, set: &[String]) -> Result<BTreeMap<String, String>> {
    let mut m = BTreeMap::new();
    for kv in set {
        let (k, v) = kv.split_once('=').ok_or_else(|| anyhow!("{flag} {kv}: expected KEY=VALUE"))?;
        m.insert(k.trim().to_string(), v.trim().to_string());
    }
    Ok(m)
}

fn spec_of(set: &[String]) -> Result<Spec> {
    Ok(Spec::from_map(&key_values("--set", set)?)?)
}

/// Run a `hopdb gnn` command against the store at `db`.
pub fn run(db: &Path, cmd: GnnCmd) -> Result<()> {
    match cmd {
        GnnCmd::Train(a) => train_cmd(db, a, false),
        GnnCmd::Pretrain(a) => train_cmd(db, a, true),
        GnnCmd::Cv(a) => cv_cmd(db, a),
        GnnCmd::Stack(a) => stack_cmd(db, a),
        GnnCmd::Bench(a) => bench_cmd(db, a),
    }
}

fn train_cmd(db: &Path, a: TrainArgs, pretrain_only: bool) -> Result<()> {
    let store = Store::open(db)?;
    let mut spec = spec_of(&a.set)?;
    if let Some(n) = a.pretrain_max {
        spec.pretrain_max = n;
    }
    if pretrain_only && a.pretrain_db.is_none() && !a.bvse_self {
        bail!("pretrain needs --pretrain-db or --bvse-self");
    }
    // The corpus may be the store itself (a store opens once per process).
    let opened = match &a.pretrain_db {
        Some(p) => workflow::open_unless_same(&store, p).with_context(|| format!("opening the pre-training store {}", p.display()))?,
        None => None,
    };
    let corpus = a.pretrain_db.as_ref().map(|_| opened.as_ref().unwrap_or(&store));
    let req = TrainRequest {
        name: a.name.clone(),
        spec,
        seeds: a.seeds.clone(),
        init_from: a.init_from.clone(),
        corpus,
        bvse_self: a.bvse_self,
        pretrain_only,
        train_size: a.train_size,
        checkpoint_every: a.checkpoint_every,
        resume: a.resume,
        ensemble_with: a.ensemble_with.clone(),
        save: !a.no_save,
        progress: true,
    };
    let r = workflow::train(&store, &req)?;
    println!("{}", train_table(&r, a.ensemble_with.as_deref().unwrap_or("")).render(a.format));
    Ok(())
}

/// Test columns of a row: score, its bootstrap error, for MAE, R² and accuracy.
fn score_cells(e: &TestScores) -> [Value; 6] {
    [Value::Num(e.metrics.mae), Value::Num(e.bootstrap.mae), Value::Num(e.metrics.r2), Value::Num(e.bootstrap.r2), Value::Num(e.accuracy), Value::Num(e.bootstrap.accuracy)]
}

fn mean_row(label: &str, s: &SeedStats) -> Vec<Value> {
    let mut row = vec![Value::Str(label.into()), Value::Null, Value::Null, Value::Num(s.mean), Value::Num(s.sd)];
    row.extend((0..7).map(|_| Value::Null));
    row
}

fn train_table(r: &workflow::TrainReport, partner: &str) -> ResultTable {
    let acc = format!("acc@{}", hopdb::metrics::DEFAULT_THRESHOLD);
    let mut t = ResultTable::new(&["model", "seed", "valid MAE", "test MAE", "+-", "test R2", "+-", acc.as_str(), "+-", "paths distinct", "epochs", "seconds"])
        .titled(format!("gnn {} on the paper split ({} train, {} test)", r.variant.as_str(), r.train_hops, r.test_hops));
    let mut ensemble_rows = vec![];
    for run in &r.runs {
        let mut row = vec![Value::Str(run.name.clone()), Value::Int(run.seed as i64), Value::Num(run.valid_mae)];
        match &run.test {
            Some(e) => row.extend(score_cells(e)),
            None => row.extend((0..6).map(|_| Value::Null)),
        }
        row.push(match run.paths_distinct {
            None => Value::Null,
            Some((_, 0)) => Value::Str("no multi-hop hosts".to_string()),
            Some((distinct, hosts)) => Value::Str(format!("{:.0}% of {hosts}", 100.0 * distinct)),
        });
        row.push(Value::Int(run.epochs_run as i64));
        row.push(Value::Num(run.seconds));
        t.push(row);
        if let Some(en) = &run.ensemble {
            let mut row = vec![Value::Str(format!("{} + {partner}", run.name)), Value::Int(run.seed as i64), Value::Null];
            row.extend(score_cells(en));
            row.extend([Value::Null, Value::Null, Value::Null]);
            ensemble_rows.push(row);
        }
    }
    if r.test_mae.n > 1 {
        t.push(mean_row("mean over seeds", &r.test_mae));
    }
    for row in ensemble_rows {
        t.push(row);
    }
    if r.ensemble_mae.n > 1 {
        t.push(mean_row("ensemble mean over seeds", &r.ensemble_mae));
    }
    t
}

fn cv_cmd(db: &Path, a: CvArgs) -> Result<()> {
    let store = Store::open(db)?;
    let spec = spec_of(&a.set)?;
    let ensemble = match &a.ensemble {
        Some(kind) => {
            if a.split.is_none() {
                bail!("--ensemble needs --split (the tree model must see the same folds)");
            }
            let kind = hopdb::model::Kind::parse(kind).ok_or_else(|| anyhow!("--ensemble {kind}: expected rf or gbt"))?;
            Some(TreeEnsemble { kind, params: key_values("--ensemble-set", &a.ensemble_set)? })
        }
        None => None,
    };
    let pretrain = match &a.pretrain_db {
        Some(p) => {
            if !p.exists() {
                bail!("--pretrain-db {}: no hopdb store there", p.display());
            }
            Some(CvPretrain { corpus: p.clone(), max: a.pretrain_max, name: a.pretrain_name.clone(), checkpoint_every: a.checkpoint_every })
        }
        None => None,
    };
    let req = CvRequest { spec, folds: a.folds, seed: a.seed, init_from: a.init_from.clone(), pretrain, split: a.split.clone(), ensemble, progress: true };
    let r = workflow::cv(&store, &req)?;
    let (n, oof) = (r.records.len(), &r.out_of_fold);
    let mut t = ResultTable::new(&["fold", "train", "test", "MAE", "R2", "seconds"]).titled(format!("gnn {} grouped {}-fold CV over {} DFT hops", r.variant.as_str(), oof.folds.len(), n));
    for (f, fold) in oof.folds.iter().enumerate() {
        t.push(vec![Value::Int(f as i64), Value::Int(fold.train as i64), Value::Int(fold.test as i64), Value::Num(fold.metrics.mae), Value::Num(fold.metrics.r2), Value::Num(fold.seconds)]);
    }
    let all_row = |label: String, m: &hopdb::metrics::Metrics| vec![Value::Str(label), Value::Int(n as i64), Value::Int(n as i64), Value::Num(m.mae), Value::Num(m.r2), Value::Null];
    t.push(all_row("all (out of fold)".into(), &oof.pooled));
    if let Some(e) = &r.ensemble {
        t.push(all_row(format!("{} alone (out of fold)", e.kind.as_str()), &e.tree));
        t.push(all_row(format!("average gnn + {} (out of fold)", e.kind.as_str()), &e.average));
    }
    if let Some(out) = &a.out {
        let mut w = csv::Writer::from_path(out)?;
        w.write_record(["id", "em", "pred"])?;
        for (rec, p) in r.records.iter().zip(&oof.predictions) {
            w.write_record([rec.id.clone(), rec.em.to_string(), p.to_string()])?;
        }
        w.flush()?;
    }
    println!("{}", t.render(a.format));
    Ok(())
}

fn stack_cmd(db: &Path, a: StackArgs) -> Result<()> {
    let store = Store::open(db)?;
    let spec = spec_of(&a.set)?;
    let kind = hopdb::model::Kind::parse(&a.tree).ok_or_else(|| anyhow!("--tree {}: expected rf or gbt", a.tree))?;
    let req = StackRequest { spec, tree: TreeEnsemble { kind, params: key_values("--tree-set", &a.tree_set)? }, split: a.split.clone(), inner_folds: a.inner_folds, progress: true };
    let r = workflow::stack(&store, &req)?;
    let n = r.records.len();
    let title = format!("stacked gnn {} + {} on split {} ({} outer folds, {} inner; weights fitted inside each training part)", req.spec.variant.as_str(), kind.as_str(), a.split, r.folds.len(), a.inner_folds);
    let mut t = ResultTable::new(&["fold", "tree weight", "inner MAE", "gnn MAE", "tree MAE", "stack MAE", "seconds"]).titled(title);
    for (f, x) in r.folds.iter().enumerate() {
        t.push(vec![Value::Int(f as i64), Value::Num(x.tree_weight), Value::Num(x.inner_mae), Value::Num(x.gnn_mae), Value::Num(x.tree_mae), Value::Num(x.stack_mae), Value::Num(x.seconds)]);
    }
    let [g, tr, st] = &r.pooled;
    t.push(vec![Value::Str(format!("all {n} (out of fold)")), Value::Null, Value::Null, Value::Num(g.mae), Value::Num(tr.mae), Value::Num(st.mae), Value::Null]);
    if let Some(out) = &a.out {
        let mut w = csv::Writer::from_path(out)?;
        w.write_record(["id", "em", "gnn", "tree", "stack"])?;
        for (i, rec) in r.records.iter().enumerate() {
            w.write_record([rec.id.clone(), rec.em.to_string(), r.gnn[i].to_string(), r.tree[i].to_string(), r.stack[i].to_string()])?;
        }
        w.flush()?;
    }
    println!("{}", t.render(a.format));
    Ok(())
}

fn bench_cmd(db: &Path, a: BenchArgs) -> Result<()> {
    let store = Store::open(db)?;
    let spec = spec_of(&a.set)?;
    let b = workflow::bench(&store, &BenchRequest { spec, runs: a.runs, progress: true })?;
    let mut t = ResultTable::new(&["measurement", "hops", "seconds", "hops/s"]).titled(format!("gnn {} benchmark ({} libtorch threads, device {})", b.variant.as_str(), b.threads, b.device));
    t.push(vec![Value::Str("graph building (cold, rayon)".into()), Value::Int(b.hops as i64), Value::Num(b.graph_seconds), Value::Num(b.hops as f64 / b.graph_seconds)]);
    t.push(vec![Value::Str(format!("training, {} epochs run (of {})", b.epochs_run, b.epochs)), Value::Int(b.train_hops as i64), Value::Num(b.train_seconds), Value::Null]);
    let m = b.inference_seconds;
    t.push(vec![Value::Str("inference (graphs cached, median)".into()), Value::Int(b.hops as i64), Value::Num(m), Value::Num(b.hops as f64 / m)]);
    println!("{}", t.render(a.format));
    Ok(())
}
