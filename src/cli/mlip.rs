//! `hopdb mlip`: universal-MLIP barriers (compute through the Python package, store outcome
//! files, compare with DFT).

use anyhow::{Context, Result};
use clap::Subcommand;
use hopdb::store::Store;
use hopdb::table::Format;
use std::path::{Path, PathBuf};

/// `hopdb mlip` subcommands.
#[derive(Subcommand, Debug)]
pub enum MlipCmd {
    /// Compute MLIP NEB barriers for stored hops with an ASE calculator (runs the Python
    /// package: `python -m hopdb.mlip compute`; the interpreter is $HOPDB_PYTHON, else
    /// python3). Resumable: hops with a record or failure for the model and protocol are skipped.
    #[command(after_help = "Example:\n  hopdb mlip compute --calculator chgnet --query \"SELECT id FROM hops WHERE fidelity = 'dft' AND partition = 'test'\"\n  hopdb mlip compute --calculator mace --protocol norelax-ci-v1 --limit 10\n  hopdb mlip compute --calculator mypkg.calc:make_calculator --model my-mlip\n\nProtocols: relax-ci-v1 (default), norelax-ci-v1, quick-v1 (docs/MLIP.md).")]
    Compute {
        /// chgnet, mace, sevenn, emt, or module:factory (factory(device=...) returns an ASE calculator).
        #[arg(long, default_value = "chgnet")]
        calculator: String,
        /// HopQL query whose `id` column selects the hops.
        #[arg(long, default_value = "SELECT id FROM hops WHERE fidelity = 'dft' ORDER BY id")]
        query: String,
        /// Named NEB protocol.
        #[arg(long, default_value = "relax-ci-v1")]
        protocol: String,
        /// Hops per atomic write.
        #[arg(long, default_value_t = 4)]
        batch: usize,
        /// cpu or cuda (default: cuda when torch sees a GPU).
        #[arg(long)]
        device: Option<String>,
        /// Model name recorded (default: the calculator's).
        #[arg(long)]
        model: Option<String>,
        /// Compute at most this many hops.
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Store a JSON-lines file of MLIP outcomes (one object per hop, as a cluster job of
    /// `hopdb.mlip` writes them) in one atomic write, every line checked first; already stored
    /// ones are skipped.
    #[command(after_help = "Example:\n  hopdb mlip import chgnet-outcomes.jsonl")]
    Import {
        /// The outcomes file.
        file: PathBuf,
        /// Output format.
        #[arg(long, value_parser = crate::cli::format_parser(), default_value = "table")]
        format: Format,
    },
    /// Each MLIP model and protocol against the parents' DFT barriers: Pearson, Spearman,
    /// MAE and bias, overall and by structural group, with the hops it failed on.
    #[command(after_help = "Example:\n  hopdb mlip compare\n  hopdb mlip compare --parents \"SELECT id FROM hops WHERE fidelity = 'dft' AND partition = 'test'\" --format json")]
    Compare {
        /// HopQL query selecting the parent hops to compare on (default: every DFT hop).
        #[arg(long)]
        parents: Option<String>,
        /// Only the `all` rows (no structural groups).
        #[arg(long)]
        overall: bool,
        /// Output format.
        #[arg(long, value_parser = crate::cli::format_parser(), default_value = "table")]
        format: Format,
    },
}

/// Run a `hopdb mlip` subcommand on store `db`.
pub fn run(db: &Path, cmd: MlipCmd) -> Result<()> {
    match cmd {
        MlipCmd::Compute { calculator, query, protocol, batch, device, model, limit } => {
            let python = std::env::var("HOPDB_PYTHON").unwrap_or_else(|_| "python3".into());
            let mut c = std::process::Command::new(&python);
            c.args(["-m", "hopdb.mlip", "compute", "--db"]).arg(db).args(["--calculator", &calculator, "--query", &query, "--protocol", &protocol, "--batch", &batch.to_string()]);
            if let Some(d) = device {
                c.args(["--device", &d]);
            }
            if let Some(m) = model {
                c.args(["--model", &m]);
            }
            if let Some(l) = limit {
                c.args(["--limit", &l.to_string()]);
            }
            let status = c.status().with_context(|| format!("cannot run {python} (set HOPDB_PYTHON to a Python with the hopdb package: pip install ./python)"))?;
            if !status.success() {
                anyhow::bail!("{python} -m hopdb.mlip compute failed ({status}); is the hopdb Python package installed in it (pip install ./python)?");
            }
            Ok(())
        }
        MlipCmd::Import { file, format } => {
            let store = Store::open(db)?;
            let text = std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let mut runs = Vec::new();
            for (k, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                let run: hopdb::mlip::MlipRun = serde_json::from_str(line).with_context(|| format!("{}, line {}: not an MLIP outcome", file.display(), k + 1))?;
                runs.push(run);
            }
            let name = file.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
            let total = hopdb::mlip::store_runs(&store, &runs, &format!("MLIP outcomes from {name}: {} hops", runs.len())).with_context(|| format!("{}", file.display()))?;
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&total)?),
                f => {
                    let mut t = hopdb::table::ResultTable::new(&["what", "value"]).titled(format!("MLIP outcomes from {}", file.display()));
                    use hopdb::table::Value;
                    t.push(vec![Value::Str("records stored".into()), Value::Int(total.stored as i64)]);
                    t.push(vec![Value::Str("already stored".into()), Value::Int(total.already as i64)]);
                    for (k, v) in &total.failed {
                        t.push(vec![Value::Str(format!("failed: {k}")), Value::Int(*v as i64)]);
                    }
                    println!("{}", t.render(f));
                }
            }
            if total.version.is_some() {
                super::records::note_version(&store)?;
            }
            Ok(())
        }
        MlipCmd::Compare { parents, overall, format } => {
            let store = Store::open(db)?;
            let ids = match &parents {
                Some(q) => Some(hopdb::query::select_ids(&store, q)?),
                None => None,
            };
            let mut rows = hopdb::mlip::compare(&store, ids.as_deref())?;
            if rows.is_empty() {
                anyhow::bail!("no MLIP records of the selected hops (import devi stores the published MACE-MP-0 values; `hopdb mlip compute` computes more)");
            }
            if overall {
                rows.retain(|r| r.group == "all");
            }
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&rows)?),
                f => println!("{}", hopdb::mlip::compare_table(&rows).render(f)),
            }
            Ok(())
        }
    }
}
