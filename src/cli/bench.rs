//! `hopdb bench ...`: built-in benchmarks that print medians over several runs.

use anyhow::Result;
use clap::Subcommand;
use hopdb::bench::{self, median};
use hopdb::table::{Format, ResultTable, Value};
use std::path::PathBuf;

/// Benchmarks.
#[derive(Subcommand, Debug)]
pub enum BenchCmd {
    /// Import throughput: the devi2025 dataset and a synthetic BVSE-like corpus.
    #[command(after_help = "Example:\n  hopdb bench import --devi ../shared/data/devi2025 --synthetic 120000 --runs 3")]
    Import {
        /// The devi2025 dataset directory (skipped when not given).
        #[arg(long)]
        devi: Option<PathBuf>,
        /// Size of the synthetic corpus (0 to skip).
        #[arg(long, default_value_t = 120_000)]
        synthetic: usize,
        /// Runs per measurement (the median is reported).
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Output format.
        #[arg(long, value_parser = crate::cli::format_parser(), default_value = "table")]
        format: Format,
    },
    /// Model pipeline timings: descriptors of all hops, fits of the tuned forest and boosted
    /// trees, and full default TUNE searches (medians over runs).
    #[command(after_help = "Example:\n  hopdb bench models --data ../shared/data/devi2025 --runs 5 --tune-runs 1")]
    Models {
        /// The devi2025 dataset directory.
        #[arg(long, default_value = "../shared/data/devi2025")]
        data: PathBuf,
        /// Runs of the descriptor and fit timings.
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// Runs of each TUNE (0 skips them).
        #[arg(long, default_value_t = 1)]
        tune_runs: usize,
        /// Output format.
        #[arg(long, value_parser = crate::cli::format_parser(), default_value = "table")]
        format: Format,
    },
    /// BVSE engine speed: median ms per hop (oxidation states + set-up + NEB, one thread) on
    /// ~100-atom devi2025 hosts for both recipes; with --python, the `ions` reference on the
    /// same hops in the same run for the ratio.
    #[command(after_help = "Example:\n  hopdb bench bvse --data ../shared/data/devi2025 --hops 12 --reps 5\n  hopdb bench bvse --python /tmp/ionsvenv/bin/python --format json")]
    Bvse {
        /// The devi2025 dataset directory.
        #[arg(long, default_value = "../shared/data/devi2025")]
        data: PathBuf,
        /// Fewest host atoms of a benchmark hop.
        #[arg(long, default_value_t = 90)]
        min_atoms: usize,
        /// Most host atoms of a benchmark hop.
        #[arg(long, default_value_t = 115)]
        max_atoms: usize,
        /// Hops to time (first by jid that both recipes compute).
        #[arg(long, default_value_t = 12)]
        hops: usize,
        /// Runs per hop (the median is reported).
        #[arg(long, default_value_t = 5)]
        reps: usize,
        /// A Python with `ions`, ASE and pymatgen: also run scripts/bvse_reference.py on the
        /// same hops (test oracle only).
        #[arg(long)]
        python: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_parser = crate::cli::format_parser(), default_value = "table")]
        format: Format,
    },
    /// The paper benchmark: mean, random forest and boosted trees on the paper's 559/60
    /// split and in grouped 5-fold CV over all 619 hops, beside the published rows.
    /// With `--gnn` (builds with the `gnn` feature) also graph-network rows: band, centroid and
    /// initial+final from scratch, a learning curve, and with `--gnn-pretrain-db` the band
    /// network pre-trained on a BVSE corpus (about 15 min of one core from scratch, 20 more
    /// with pre-training).
    #[command(after_help = "Example:\n  hopdb bench paper --data ../shared/data/devi2025 --seeds 5 --write-docs docs/benchmarks.md\n  hopdb bench paper --seeds 1 --no-tune --format json\n  hopdb bench paper --gnn --gnn-pretrain-db corpus.db --write-docs docs/benchmarks.md")]
    Paper {
        /// The devi2025 dataset directory.
        #[arg(long, default_value = "../shared/data/devi2025")]
        data: PathBuf,
        /// Seeds of the grouped 5-fold cross-validation (the CV MAE is their mean).
        #[arg(long, default_value_t = 5)]
        seeds: usize,
        /// Use the default hyperparameters instead of tuning (faster).
        #[arg(long)]
        no_tune: bool,
        /// Also write the Markdown page (e.g. docs/benchmarks.md).
        #[arg(long)]
        write_docs: Option<PathBuf>,
        /// Keep the benchmark's store here (must not exist) instead of a temporary directory.
        #[arg(long)]
        keep_store: Option<PathBuf>,
        /// MLIP label (<model>/<protocol>) of the hop-v2 rows.
        #[arg(long, default_value = hopdb::features::DEFAULT_MLIP_LABEL)]
        mlip: String,
        /// JSON-lines MLIP outcomes (hopdb mlip import format) to store before the hop-v2 rows.
        #[arg(long)]
        mlip_outcomes: Option<PathBuf>,
        /// Graph-network rows too (see above).
        #[cfg(feature = "gnn")]
        #[arg(long)]
        gnn: bool,
        /// Graph-network variants from scratch (comma-separated).
        #[cfg(feature = "gnn")]
        #[arg(long, value_delimiter = ',', default_value = "band,centroid,initial_final")]
        gnn_variants: Vec<String>,
        /// Seeds of the graph networks' grouped CV.
        #[cfg(feature = "gnn")]
        #[arg(long, default_value_t = 1)]
        gnn_cv_seeds: usize,
        /// Learning-curve training sizes (comma-separated; 0 for none).
        #[cfg(feature = "gnn")]
        #[arg(long, value_delimiter = ',', default_value = "100,200,400")]
        gnn_learning_curve: Vec<usize>,
        /// Graph-network settings on top of the chosen ones (KEY=VALUE, repeatable).
        #[cfg(feature = "gnn")]
        #[arg(long = "gnn-set")]
        gnn_set: Vec<String>,
        /// A store holding a BVSE corpus (`hopdb bvse corpus`): adds the pre-trained rows.
        #[cfg(feature = "gnn")]
        #[arg(long)]
        gnn_pretrain_db: Option<PathBuf>,
        /// Corpus records drawn for pre-training (0 = all).
        #[cfg(feature = "gnn")]
        #[arg(long, default_value_t = 20_000)]
        gnn_pretrain_max: usize,
        /// Pre-training epochs.
        #[cfg(feature = "gnn")]
        #[arg(long, default_value_t = 5)]
        gnn_pretrain_epochs: usize,
        /// Output format.
        #[arg(long, value_parser = crate::cli::format_parser(), default_value = "table")]
        format: Format,
    },
}

/// The graph-network options of `bench paper`, or `None` without `--gnn`.
#[cfg(feature = "gnn")]
fn gnn_bench_options(cmd: &BenchCmd) -> Result<Option<hopdb::paper_bench::gnn::GnnBenchOptions>> {
    let BenchCmd::Paper { gnn, gnn_variants, gnn_cv_seeds, gnn_learning_curve, gnn_set, gnn_pretrain_db, gnn_pretrain_max, gnn_pretrain_epochs, .. } = cmd else {
        return Ok(None);
    };
    if !*gnn {
        if gnn_pretrain_db.is_some() {
            anyhow::bail!("--gnn-pretrain-db needs --gnn");
        }
        return Ok(None);
    }
    let variants = gnn_variants
        .iter()
        .filter(|v| !v.trim().is_empty())
        .map(|v| hopdb::model::gnn::Variant::parse(v).ok_or_else(|| anyhow::anyhow!("--gnn-variants {v}: expected band, band_attention, initial_final, initial_delta or centroid")))
        .collect::<Result<Vec<_>>>()?;
    let mut settings = std::collections::BTreeMap::new();
    for kv in gnn_set {
        let (k, v) = kv.split_once('=').ok_or_else(|| anyhow::anyhow!("--gnn-set {kv}: expected KEY=VALUE"))?;
        settings.insert(k.trim().to_string(), v.trim().to_string());
    }
    let opts = hopdb::paper_bench::gnn::GnnBenchOptions {
        settings,
        variants,
        cv_seeds: (*gnn_cv_seeds).max(1),
        learning_curve: gnn_learning_curve.iter().copied().filter(|&n| n > 0).collect(),
        pretrain_db: gnn_pretrain_db.clone(),
        pretrain_max: *gnn_pretrain_max,
        pretrain_epochs: (*gnn_pretrain_epochs).max(1),
    };
    // Bad settings fail now, not after the trees.
    opts.spec(hopdb::model::gnn::Variant::Band, 1)?;
    if let Some(p) = &opts.pretrain_db {
        if !p.join("data").is_dir() {
            anyhow::bail!("--gnn-pretrain-db {}: no hopdb store there", p.display());
        }
    }
    Ok(Some(opts))
}

pub fn run(cmd: BenchCmd) -> Result<()> {
    match cmd {
        BenchCmd::Bvse { data, min_atoms, max_atoms, hops, reps, python, format } => {
            let b = bench::bvse_timings(&data, min_atoms, max_atoms, hops, reps, python.as_deref())?;
            if format == Format::Json {
                println!("{}", serde_json::to_string_pretty(&b)?);
                return Ok(());
            }
            let mut t = ResultTable::new(&["jid", "sys_name", "host atoms", "hopdb ms", "ions ms", "ions Em", "python s", "python Em"]).titled("BVSE per-hop time (median of runs, one thread, oxidation states included)");
            let opt = |x: Option<f64>| x.map_or(Value::Null, Value::Num);
            for h in &b.hops {
                t.push(vec![Value::Int(h.jid), Value::Str(h.sys_name.clone()), Value::Int(h.host_atoms as i64), Value::Num(h.hopdb_ms), Value::Num(h.ions_ms), Value::Num(h.ions_em), opt(h.python_s), opt(h.python_em)]);
            }
            println!("{}", t.render(format));
            let mut s = ResultTable::new(&["what", "value"]).titled("Summary");
            s.push(vec![Value::Str("hops".into()), Value::Int(b.hops.len() as i64)]);
            s.push(vec![Value::Str("median ms per hop (hopdb recipe)".into()), Value::Num(b.hopdb_median_ms)]);
            s.push(vec![Value::Str("median ms per hop (ions recipe)".into()), Value::Num(b.ions_median_ms)]);
            s.push(vec![Value::Str("median s per hop (Python ions)".into()), opt(b.python_median_s)]);
            s.push(vec![Value::Str("speed-up vs Python (ions recipe)".into()), opt(b.speedup_vs_python)]);
            println!("{}", s.render(format));
            Ok(())
        }
        BenchCmd::Models { data, runs, tune_runs, format } => {
            if !data.join("band_train.json").is_file() {
                anyhow::bail!("dataset not found: {} has no band_train.json (pass --data DIR)", data.display());
            }
            let m = bench::model_timings(&data, runs, tune_runs)?;
            let mut t = ResultTable::new(&["operation", "runs", "median s", "min s", "max s"]).titled("Model pipeline timings");
            for (what, secs) in &m.rows {
                let min = secs.iter().copied().fold(f64::INFINITY, f64::min);
                let max = secs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                t.push(vec![Value::Str(what.clone()), Value::Int(secs.len() as i64), Value::Num(median(secs)), Value::Num(min), Value::Num(max)]);
            }
            println!("{}", t.render(format));
            Ok(())
        }
        cmd @ BenchCmd::Paper { .. } => {
            #[cfg(feature = "gnn")]
            let gnn_opts = gnn_bench_options(&cmd)?;
            let BenchCmd::Paper { data, seeds, no_tune, write_docs, keep_store, format, mlip, mlip_outcomes, .. } = cmd else { unreachable!() };
            if !data.join("band_train.json").is_file() {
                anyhow::bail!("dataset not found: {} has no band_train.json (pass --data DIR)", data.display());
            }
            // How the graph-network rows were asked for, for the command line in the docs.
            #[cfg(feature = "gnn")]
            let gnn_flags = match &gnn_opts {
                Some(g) => {
                    let mut f = String::from(" --gnn");
                    if g.cv_seeds != 1 {
                        f += &format!(" --gnn-cv-seeds {}", g.cv_seeds);
                    }
                    for (k, v) in &g.settings {
                        f += &format!(" --gnn-set {k}={v}");
                    }
                    if let Some(p) = &g.pretrain_db {
                        f += &format!(" --gnn-pretrain-db {} --gnn-pretrain-max {} --gnn-pretrain-epochs {}", p.display(), g.pretrain_max, g.pretrain_epochs);
                    }
                    f
                }
                None => String::new(),
            };
            #[cfg(not(feature = "gnn"))]
            let gnn_flags = String::new();
            let opts = hopdb::paper_bench::PaperBenchOptions {
                data_dir: data,
                seeds,
                tune: !no_tune,
                mlip_label: mlip,
                mlip_outcomes,
                #[cfg(feature = "gnn")]
                gnn: gnn_opts,
                ..Default::default()
            };
            let tmp = tempfile::tempdir()?;
            let store_dir = match &keep_store {
                Some(p) if p.exists() => anyhow::bail!("--keep-store {} already exists", p.display()),
                Some(p) => p.clone(),
                None => tmp.path().join("store"),
            };
            let bar = indicatif::ProgressBar::new_spinner();
            bar.set_style(indicatif::ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}").expect("valid template"));
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            let b = hopdb::paper_bench::run(&opts, &store_dir, &|m: &str| bar.set_message(m.to_string()))?;
            bar.finish_and_clear();
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&b)?),
                f => println!("{}", hopdb::paper_bench::table(&b).titled("Paper benchmark (test: the paper's 60 hops; CV: grouped 5-fold over all 619)").render(f)),
            }
            if let Some(path) = write_docs {
                let cmd = format!("hopdb bench paper --seeds {seeds}{}{} --write-docs {}", if no_tune { " --no-tune" } else { "" }, gnn_flags, path.display());
                // Sections after the marker (graph-network experiments, maintained from
                // `hopdb gnn` runs) are kept when the generated part is rewritten.
                let kept = std::fs::read_to_string(&path).ok().and_then(|old| old.find(hopdb::paper_bench::KEEP_MARKER).map(|i| old[i..].to_string())).unwrap_or_default();
                let mut text = hopdb::paper_bench::markdown(&b, &cmd);
                if !kept.is_empty() {
                    text = format!("{}\n{kept}", text.trim_end());
                }
                std::fs::write(&path, text).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
                eprintln!("wrote {}", path.display());
            }
            Ok(())
        }
        BenchCmd::Import { devi, synthetic, runs, format } => {
            let runs = runs.max(1);
            let mut t = ResultTable::new(&["corpus", "records", "runs", "median s", "records/s", "MiB on disk"]).titled("Import benchmark (medians)");
            let mut measure = |name: String, f: &dyn Fn(&std::path::Path, u64) -> Result<bench::ImportRun>| -> Result<()> {
                let mut secs = vec![];
                let mut last = None;
                for i in 0..runs {
                    let dir = tempfile::tempdir()?;
                    let r = f(&dir.path().join("store"), i as u64)?;
                    eprintln!("{name} run {}: {:.3} s", i + 1, r.seconds);
                    secs.push(r.seconds);
                    last = Some(r);
                }
                let r = last.expect("at least one run");
                let m = median(&secs);
                t.push(vec![
                    Value::Str(name),
                    Value::Int(r.records as i64),
                    Value::Int(runs as i64),
                    Value::Num(m),
                    Value::Num(r.records as f64 / m),
                    Value::Num(r.bytes_on_disk as f64 / 1048576.0),
                ]);
                Ok(())
            };
            if let Some(d) = devi {
                measure("devi2025".into(), &|p, _| bench::import_devi(&d, p))?;
            }
            if synthetic > 0 {
                measure(format!("synthetic BVSE-like ({synthetic})"), &|p, seed| bench::import_synthetic(synthetic, seed, p))?;
            }
            println!("{}", t.render(format));
            Ok(())
        }
    }
}
