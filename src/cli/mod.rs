//! Command-line parsing (clap) and dispatch. Every command is a thin wrapper over the library.

mod bench;
mod bvse;
mod mlip;
mod progress;
mod report;
#[cfg(feature = "gnn")]
mod gnn;
mod predict;
mod query;
mod records;

use clap::{Parser, Subcommand};
use hopdb::table::Format;
use std::path::PathBuf;
use std::process::ExitCode;

/// hopdb: a database of ionic migration barriers (Em) in solids, with provenance, a query
/// language, reproducible splits and models trained in place.
#[derive(Parser, Debug)]
#[command(name = "hopdb", version, about, long_about = None, after_help = "Example:\n  hopdb --db my.db init\n  hopdb --db my.db import devi ../shared/data/devi2025\n  hopdb --db my.db stats")]
pub struct Cli {
    /// Store location (a directory). Defaults to $HOPDB_DB, else ./hopdb.db.
    #[arg(long, global = true, env = "HOPDB_DB", default_value = "hopdb.db")]
    pub db: PathBuf,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a new, empty store.
    #[command(after_help = "Example:\n  hopdb --db barriers.db init")]
    Init,
    /// Import records from a dataset or file (all-or-nothing unless --skip-invalid).
    #[command(subcommand)]
    Import(records::ImportCmd),
    /// Enter one new literature hop from initial and final structure files.
    #[command(after_help = "Example:\n  hopdb add --initial ini.cif --final fin.cif --ion Li --em 0.42 --xc GGA --doi 10.1000/xyz --notes 'Table 2'")]
    Add(records::AddArgs),
    /// Counts by fidelity, mobile ion, structural group, class and XC functional.
    #[command(after_help = "Example:\n  hopdb stats --format json\n  hopdb stats --storage      # where the bytes go, by keyspace")]
    Stats {
        /// Output format.
        #[arg(long, value_parser = crate::cli::format_parser(), default_value = "table")]
        format: Format,
        /// Also show what each keyspace holds (keys, key and value bytes): a full pass over the store.
        #[arg(long)]
        storage: bool,
    },
    /// Show one record with its provenance and revision history.
    #[command(after_help = "Example:\n  hopdb show devi2025:LiCoO2_1")]
    Show {
        /// Record id (or a sys_name, when unique).
        id: String,
        /// Output format (json gives the full record).
        #[arg(long, value_parser = crate::cli::format_parser(), default_value = "table")]
        format: Format,
    },
    /// Edit a record; every change appends a revision with the reason.
    #[command(after_help = "Example:\n  hopdb edit devi2025:LiCoO2_1 --em 0.45 --reason 'corrected in erratum'")]
    Edit(records::EditArgs),
    /// Remove records (a retraction): they leave every query, their earlier states stay in the history.
    #[command(after_help = "Example:\n  hopdb remove devi2025:LiCoO2_1 --reason 'retracted: wrong supercell'\n  hopdb query \"SELECT id, em FROM hops AS OF 12 WHERE id = 'devi2025:LiCoO2_1'\"")]
    Remove(records::RemoveArgs),
    /// List the records added, removed and changed between two data versions (or times).
    #[command(after_help = "Example:\n  hopdb stats                # shows the data version\n  hopdb diff 12              # from version 12 to now\n  hopdb diff 12 15 --format csv\n  hopdb diff 2026-12-01 '2026-12-06 12:00:00'")]
    Diff(records::DiffArgs),
    /// Export records as JSON lines, CSV (metadata) or extended XYZ, or a query result as Parquet.
    #[command(after_help = "Example:\n  hopdb export jsonl --out all.jsonl\n  hopdb export jsonl --out parents.jsonl --query \"SELECT id FROM hops WHERE fidelity = 'dft'\"\n  hopdb export csv --out meta.csv\n  hopdb export parquet --out hops.parquet\n  hopdb export parquet --out mg.parquet --query \"SELECT sys_name, em, elements FROM hops WHERE ion = ?\" --param Mg")]
    Export(records::ExportArgs),
    /// Show or change the mapping from published class labels to structural groups.
    #[command(subcommand)]
    Classes(records::ClassesCmd),
    /// Built-in benchmarks (medians over several runs).
    #[command(subcommand)]
    Bench(bench::BenchCmd),
    /// Run HopQL statements, several separated by ';' (SELECT, EXPLAIN, splits, TRAIN / TUNE / EVALUATE / PREDICT, ...).
    #[command(after_help = "Example:\n  hopdb query \"SELECT ion, COUNT(*) AS n, AVG(em) FROM hops GROUP BY ion ORDER BY n DESC\"\n  hopdb query \"SELECT sys_name, em FROM hops WHERE elements HAS ALL 'Li', 'O' ORDER BY em LIMIT 5\" --format csv\n  hopdb query \"SELECT sys_name, em FROM hops WHERE ion = ? AND em < ? ORDER BY em\" --param Mg --param 0.3\n  hopdb query --single \"$QUERY\"   # refuse more than one statement\n\nThe language reference is docs/QUERY_LANGUAGE.md.")]
    Query(query::QueryArgs),
    /// Run a HopQL script file (statements end with ';'); stops at the first failing statement.
    #[command(after_help = "Example:\n  hopdb run report.hql --format csv\n\nreport.hql:\n  -- barriers of Mg conductors\n  SELECT sys_name, em FROM hops WHERE ion = 'Mg' ORDER BY em LIMIT 10;\n  SELECT group, COUNT(*) FROM hops GROUP BY group;")]
    Run(query::RunArgs),
    /// Interactive HopQL shell with history, tab completion and dot commands (.help).
    #[command(after_help = "Example:\n  hopdb --db barriers.db repl\n  hopdb> SELECT ion, COUNT(*)\n     ...> FROM hops GROUP BY ion;\n  hopdb> .format csv\n  hopdb> .quit\n\nHistory is kept in $HOPDB_HISTORY, else ~/.hopdb_history.")]
    Repl(query::ReplArgs),
    /// Predict barriers with a stored model for hops given as structure files (not in the store).
    #[command(after_help = "Example:\n  hopdb query \"TRAIN gbt AS boosted_trees ON SPLIT paper\"\n  hopdb predict gbt --initial ini.cif --final fin.cif --ion Li\n  hopdb predict gbt --initial a/POSCAR_ini --final a/POSCAR_fin --initial b_ini.extxyz --final b_fin.extxyz --format json\n  hopdb predict g2 --initial ini.cif --final fin.cif --mlip-em 0.42   (a hop-v2 model: the hop's MLIP barrier)\n\nThe ion is inferred as the one atom that moves when --ion is not given. A hop-v2 model reads the\nhop's BVSE barrier (computed here) and its MLIP barrier of the model's label: give it with --mlip-em,\nor compute it in Python (db.predict(model, pairs, calculator=\"chgnet\")).")]
    Predict(predict::PredictArgs),
    /// Write a Markdown report with SVG plots (parity, errors, groups, confusion) for a model.
    #[command(after_help = "Example:\n  hopdb query \"TRAIN gbt AS boosted_trees ON SPLIT paper\"\n  hopdb report gbt --out reports/gbt\n  hopdb report gbt --split paper --out reports/gbt")]
    Report(report::ReportArgs),
    /// Graph neural networks (libtorch): train, pre-train, cross-validate, benchmark.
    #[cfg(feature = "gnn")]
    #[command(subcommand)]
    Gnn(gnn::GnnCmd),
    /// BVSE barriers: for stored hops, a substitution corpus, and BVSE vs DFT.
    #[command(subcommand)]
    Bvse(bvse::BvseCmd),
    /// Universal-MLIP barriers: compute through an ASE calculator, store outcome files, compare with DFT.
    #[command(subcommand)]
    Mlip(mlip::MlipCmd),
    /// Rewrite the store into fresh files, reclaiming the space sled's log keeps (crash-safe: the old files stay until the copy is complete).
    #[command(after_help = "Example:\n  hopdb stats --storage    # keys and values vs. files on disk\n  hopdb compact")]
    Compact {
        /// Output format.
        #[arg(long, value_parser = crate::cli::format_parser(), default_value = "table")]
        format: Format,
    },
    /// Show the append-only audit log of writes.
    #[command(after_help = "Example:\n  hopdb log --limit 20")]
    Log {
        /// Show only the last N entries.
        #[arg(long)]
        limit: Option<usize>,
        /// Output format.
        #[arg(long, value_parser = crate::cli::format_parser(), default_value = "table")]
        format: Format,
    },
}

/// The parser of `--format`: the library's [`Format`] by name, with the values and help a
/// derived `ValueEnum` would show (the library does not depend on clap).
pub(crate) fn format_parser() -> impl clap::builder::TypedValueParser<Value = Format> {
    use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
    PossibleValuesParser::new([
        PossibleValue::new("table").help("A human-readable table"),
        PossibleValue::new("csv").help("Comma-separated values with a header row"),
        PossibleValue::new("json").help("A JSON array of objects"),
    ])
    .map(|s| s.parse::<Format>().expect("a listed format name"))
}

/// Parse arguments, run the command, print errors, and return the exit code.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    hopdb::progress::install(std::sync::Arc::new(progress::BarSink::default()));
    match dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Init => records::init(&cli.db),
        Command::Import(cmd) => records::import(&cli.db, cmd),
        Command::Add(a) => records::add(&cli.db, a),
        Command::Stats { format, storage } => records::stats(&cli.db, format, storage),
        Command::Show { id, format } => records::show(&cli.db, &id, format),
        Command::Edit(a) => records::edit(&cli.db, a),
        Command::Remove(a) => records::remove(&cli.db, a),
        Command::Diff(a) => records::diff(&cli.db, a),
        Command::Export(a) => records::export(&cli.db, a),
        Command::Classes(c) => records::classes(&cli.db, c),
        Command::Log { limit, format } => records::log(&cli.db, limit, format),
        Command::Compact { format } => records::compact(&cli.db, format),
        Command::Bench(c) => bench::run(c),
        Command::Bvse(c) => bvse::run(&cli.db, c),
        Command::Mlip(c) => mlip::run(&cli.db, c),
        Command::Query(a) => query::query(&cli.db, a),
        Command::Run(a) => query::run_file(&cli.db, a),
        Command::Repl(a) => query::repl(&cli.db, a),
        Command::Predict(a) => predict::predict(&cli.db, a),
        Command::Report(a) => report::report(&cli.db, a),
        #[cfg(feature = "gnn")]
        Command::Gnn(c) => gnn::run(&cli.db, c),
    }
}
