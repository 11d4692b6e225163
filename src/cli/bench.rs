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
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

pub fn run(cmd: BenchCmd) -> Result<()> {
    match cmd {
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
