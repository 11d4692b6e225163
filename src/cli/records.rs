//! Record commands: init, import, add, stats, show, edit, export, classes, log.

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use hopdb::import::source::{Added, HopStructures, NewRecord, Source};
use hopdb::import::{self, ImportOptions, ImportReport};
use hopdb::record::{Edit, Fidelity, IntercalationState, SourcePartition};
use hopdb::store::Store;
use hopdb::table::{Format, ResultTable, Value};
use std::path::{Path, PathBuf};

/// Options shared by every import.
#[derive(Args, Debug, Clone)]
pub struct CommonImport {
    /// Import the valid records and report every rejected one, instead of importing nothing.
    #[arg(long)]
    pub skip_invalid: bool,
    /// Also reject records with data-quality flags (duplicated sites, band near a host atom).
    #[arg(long)]
    pub strict: bool,
    /// Validate and report, write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Records per write batch (memory is bounded by one batch; an import of several batches
    /// is still all-or-nothing: it is published by one final write).
    #[arg(long, value_name = "N", default_value_t = hopdb::import::DEFAULT_BATCH_RECORDS, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub batch_records: usize,
    /// Do not compact the store after a large import (by default an import that writes at
    /// least 10,000 records and at least doubles the store ends with `hopdb compact`).
    #[arg(long)]
    pub no_compact: bool,
    /// Output format of the report.
    #[arg(long, value_parser = crate::cli::format_parser(), default_value = "table")]
    pub format: Format,
}

/// Partition names on the command line.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum PartitionArg {
    /// Training partition.
    Train,
    /// Test partition.
    Test,
}

/// What to import.
#[derive(Subcommand, Debug)]
pub enum ImportCmd {
    /// The Devi et al. (2025) dataset directory (band_train.json, band_test.json, endpoints_test.json, tabulation.csv).
    #[command(after_help = "Example:\n  hopdb import devi ../shared/data/devi2025\n  hopdb import devi ../shared/data/devi2025 --no-mlip   # the 619 DFT hops only")]
    Devi {
        /// Dataset directory.
        dir: PathBuf,
        /// Leave out the tabulated MACE-MP-0 barriers (stored by default as `mlip` records linked to their DFT hops).
        #[arg(long)]
        no_mlip: bool,
        #[command(flatten)]
        common: CommonImport,
    },
    /// One band JSON file (first five atoms: the ion at initial, 3 images, final).
    #[command(after_help = "Example:\n  hopdb import band my_band.json --dataset mylab --partition train")]
    Band {
        /// The JSON file.
        file: PathBuf,
        /// Dataset name for ids and provenance.
        #[arg(long, default_value = "devi2025")]
        dataset: String,
        /// Source partition to record.
        #[arg(long, value_enum)]
        partition: Option<PartitionArg>,
        /// tabulation.csv to enrich from.
        #[arg(long)]
        tabulation: Option<PathBuf>,
        #[command(flatten)]
        common: CommonImport,
    },
    /// One endpoint JSON file (atoms_ini / atoms_fin per record).
    #[command(after_help = "Example:\n  hopdb import endpoints endpoints_test.json --dataset devi2025 --partition test")]
    Endpoints {
        /// The JSON file.
        file: PathBuf,
        /// Dataset name for ids and provenance.
        #[arg(long, default_value = "devi2025")]
        dataset: String,
        /// Source partition to record.
        #[arg(long, value_enum)]
        partition: Option<PartitionArg>,
        /// tabulation.csv to enrich from.
        #[arg(long)]
        tabulation: Option<PathBuf>,
        #[command(flatten)]
        common: CommonImport,
    },
    /// LiTraj extended XYZ (nebBVSE122k / nebDFT2k style: supercell + centroid atom X, em, edge_id, material_id).
    #[command(after_help = "Example:\n  hopdb import xyz nebBVSE122k.xyz --fidelity bvse\n  hopdb import xyz nebDFT2k_trajectories.xyz --fidelity dft --trajectory")]
    Xyz {
        /// The .xyz file.
        file: PathBuf,
        /// Fidelity of the barriers (bvse for nebBVSE122k, dft for nebDFT2k).
        #[arg(long, default_value = "bvse")]
        fidelity: String,
        /// Dataset name (default: litraj-nebBVSE122k or litraj-nebDFT2k by fidelity).
        #[arg(long)]
        dataset: Option<String>,
        /// Read consecutive frames with the same edge_id as one NEB trajectory.
        #[arg(long)]
        trajectory: bool,
        #[command(flatten)]
        common: CommonImport,
    },
    /// A curator manifest (CSV or JSON lines) pointing at CIF/POSCAR files (see docs/IMPORT_FORMATS.md).
    #[command(after_help = "Example:\n  hopdb import manifest hops.csv --dataset mylab")]
    Manifest {
        /// The manifest (.csv or .jsonl).
        file: PathBuf,
        /// Dataset name for ids and provenance.
        #[arg(long, default_value = "curated")]
        dataset: String,
        #[command(flatten)]
        common: CommonImport,
    },
    /// hopdb's own JSON lines export (records with their hosts), e.g. from another store.
    #[command(after_help = "Example:\n  hopdb import jsonl all.jsonl")]
    Jsonl {
        /// The .jsonl file.
        file: PathBuf,
        #[command(flatten)]
        common: CommonImport,
    },
    /// The Parquet parts of a sharded BVSE corpus (`hopdb bvse corpus --shard I/N --out DIR`):
    /// the shortest work-list prefix holding the target's records, as the single-process
    /// corpus would store it; all-or-nothing, and idempotent (docs/SCALING.md).
    #[command(after_help = "Example:\n  hopdb import parquet parts/\n\nEvery shard's state file (shard-I-of-N.json) must be in DIR beside its parts.")]
    Parquet {
        /// The directory of parts and state files.
        dir: PathBuf,
        /// Output format of the report.
        #[arg(long, value_parser = crate::cli::format_parser(), default_value = "table")]
        format: Format,
    },
}

/// Arguments of `hopdb add`.
#[derive(Args, Debug)]
pub struct AddArgs {
    /// Initial structure (CIF or POSCAR), with the mobile ion at its initial site.
    #[arg(long)]
    pub initial: PathBuf,
    /// Final structure (CIF or POSCAR), same cell, the ion at its final site.
    #[arg(long = "final")]
    pub final_: PathBuf,
    /// Mobile ion element.
    #[arg(long)]
    pub ion: String,
    /// Migration barrier in eV.
    #[arg(long, allow_negative_numbers = true)]
    pub em: f64,
    /// XC functional.
    #[arg(long)]
    pub xc: Option<String>,
    /// DOI of the publication.
    #[arg(long)]
    pub doi: Option<String>,
    /// Notes (e.g. table or figure of the paper).
    #[arg(long)]
    pub notes: Option<String>,
    /// Record id within the dataset (default: derived from the structure files).
    #[arg(long)]
    pub id: Option<String>,
    /// Dataset name.
    #[arg(long, default_value = "curated")]
    pub dataset: String,
}

/// Arguments of `hopdb edit`.
#[derive(Args, Debug)]
pub struct EditArgs {
    /// Record id.
    pub id: String,
    /// New barrier in eV.
    #[arg(long, allow_negative_numbers = true)]
    pub em: Option<f64>,
    /// New XC functional.
    #[arg(long)]
    pub xc: Option<String>,
    /// New intercalation state (charged, discharged, intermediate).
    #[arg(long)]
    pub state: Option<String>,
    /// New DOI.
    #[arg(long)]
    pub doi: Option<String>,
    /// New notes.
    #[arg(long)]
    pub notes: Option<String>,
    /// Add a data-quality flag.
    #[arg(long)]
    pub add_flag: Vec<String>,
    /// Remove a data-quality flag.
    #[arg(long)]
    pub remove_flag: Vec<String>,
    /// Why (recorded in the revision history).
    #[arg(long)]
    pub reason: String,
}

/// Export formats.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ExportFormat {
    /// One JSON object per line: the full record and its host (re-importable).
    Jsonl,
    /// Metadata only, one row per record.
    Csv,
    /// Extended XYZ, LiTraj style (host + ion endpoints + X centroid).
    Xyz,
    /// Apache Parquet: the columns of a query result (default SELECT * FROM hops), typed.
    Parquet,
}

/// Arguments of `hopdb export`.
#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Format.
    #[arg(value_enum)]
    pub format: ExportFormat,
    /// Output file (default: standard output; parquet needs a file).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// parquet: the HopQL statement whose result is written (default SELECT * FROM hops);
    /// jsonl, csv, xyz: the records whose ids it returns (default every record).
    #[arg(long)]
    pub query: Option<String>,
    /// A value for the next '?' of --query (as for hopdb query --param).
    #[arg(long = "param", value_name = "VALUE", allow_hyphen_values = true)]
    pub params: Vec<String>,
}

/// Class-mapping commands.
#[derive(Subcommand, Debug)]
pub enum ClassesCmd {
    /// List every class label with its group and record count.
    #[command(after_help = "Example:\n  hopdb classes list")]
    List {
        /// Output format.
        #[arg(long, value_parser = crate::cli::format_parser(), default_value = "table")]
        format: Format,
    },
    /// Map a class label to a structural group (re-derives the group of its records).
    #[command(after_help = "Example:\n  hopdb classes set 'SPINEL CHALCOGENIDES' SPINEL --reason 'merge as in the paper'")]
    Set {
        /// Class label as published.
        label: String,
        /// Structural group.
        group: String,
        /// Why.
        #[arg(long)]
        reason: String,
    },
}

fn open(db: &Path) -> Result<Store> {
    Ok(Store::open(db)?)
}

pub fn init(db: &Path) -> Result<()> {
    Store::create(db)?;
    println!("created an empty hopdb store at {}", db.display());
    Ok(())
}

fn opts(c: &CommonImport) -> ImportOptions {
    ImportOptions { skip_invalid: c.skip_invalid, strict: c.strict, dry_run: c.dry_run, batch_records: c.batch_records }
}

fn print_report(r: &ImportReport, format: Format, dry_run: bool) {
    if format == Format::Json {
        println!("{}", serde_json::to_string_pretty(r).expect("report encodes"));
        return;
    }
    let mut t = ResultTable::new(&["outcome", "records"]).titled(if dry_run { "Import (dry run: nothing written)" } else { "Import" });
    t.push(vec![Value::Str("added".into()), Value::Int(r.added.len() as i64)]);
    t.push(vec![Value::Str("duplicates (skipped)".into()), Value::Int(r.duplicates.len() as i64)]);
    t.push(vec![Value::Str("rejected".into()), Value::Int(r.rejected.len() as i64)]);
    t.push(vec![Value::Str("added with data-quality flags".into()), Value::Int(r.flagged.len() as i64)]);
    println!("{}", t.render(format));
    if format == Format::Table {
        for (origin, id) in r.duplicates.iter().take(5) {
            println!("duplicate: {origin} is already stored as {id}");
        }
        if r.duplicates.len() > 5 {
            println!("... and {} more duplicates", r.duplicates.len() - 5);
        }
        for rj in &r.rejected {
            println!("rejected: {rj}");
        }
        for (id, flags) in &r.flagged {
            println!("flagged: {id}: {}", flags.join(", "));
        }
    }
}

pub fn import(db: &Path, cmd: ImportCmd) -> Result<()> {
    // A store created for this import is removed again when the import writes nothing
    // (dry run or failure), so a failed first import leaves no empty store behind.
    let created = !db.join("data").is_dir();
    let store = Store::open_or_create(db)?;
    let result = import_into(&store, cmd);
    let wrote = matches!(&result, Ok((n, _)) if *n > 0);
    if let Ok((n, may_compact)) = result {
        if n > 0 && may_compact && import::worth_compacting(&store, n)? {
            let (store, r) = store.compact()?;
            let mib = |b: u64| b as f64 / 1048576.0;
            eprintln!(
                "compacted the store: {:.1} MiB -> {:.1} MiB of files in {:.1} s (--no-compact skips this)",
                mib(r.bytes_on_disk_before),
                mib(r.bytes_on_disk_after),
                r.seconds
            );
            return note_version(&store);
        }
    }
    if wrote {
        note_version(&store)?;
    }
    if created && !wrote {
        drop(store);
        let _ = std::fs::remove_dir_all(db);
    }
    result.map(|_| ())
}

/// Say the store's data version after a write (on stderr, so that outputs stay clean).
pub(crate) fn note_version(store: &Store) -> Result<()> {
    eprintln!("data version {}", store.version()?);
    Ok(())
}

/// Arguments of `hopdb remove`.
#[derive(Args, Debug)]
pub struct RemoveArgs {
    /// Record ids (or sys_names, when unique).
    #[arg(required = true)]
    pub ids: Vec<String>,
    /// Why (recorded in the audit log; `hopdb diff` shows it).
    #[arg(long)]
    pub reason: String,
}

pub fn remove(db: &Path, a: RemoveArgs) -> Result<()> {
    let store = open(db)?;
    let ids = a.ids.iter().map(|id| resolve_id(&store, id)).collect::<Result<Vec<_>>>()?;
    let v = store.remove(&ids, &a.reason)?;
    println!("removed {} record(s): {}", ids.len(), ids.join(", "));
    eprintln!("data version {v}");
    Ok(())
}

/// Arguments of `hopdb diff`.
#[derive(Args, Debug)]
pub struct DiffArgs {
    /// The earlier state: a data version (`hopdb log`, `hopdb stats`) or a time ('2026-12-06T15:00:00Z', '2026-12-06').
    pub from: String,
    /// The later state (default: the store now).
    pub to: Option<String>,
    /// Output format.
    #[arg(long, value_parser = crate::cli::format_parser(), default_value = "table")]
    pub format: Format,
}

fn as_of(text: &str) -> hopdb::store::AsOf {
    match text.trim().parse::<u64>() {
        Ok(v) => hopdb::store::AsOf::Version(v),
        Err(_) => hopdb::store::AsOf::Time(text.to_string()),
    }
}

pub fn diff(db: &Path, a: DiffArgs) -> Result<()> {
    use hopdb::store::Change;
    let store = open(db)?;
    let from = store.resolve_version(&as_of(&a.from))?;
    let to = match &a.to {
        Some(t) => store.resolve_version(&as_of(t))?,
        None => store.version()?,
    };
    if from.seq > to.seq {
        bail!("diff {} {}: the first version must not be later than the second", from.seq, to.seq);
    }
    let changes = store.diff(from.seq, to.seq)?;
    let mut t = ResultTable::new(&["id", "change", "field", "old", "new", "reason"])
        .titled(format!("Changes from data version {from} to {to}: {} record(s)", changes.len()));
    let removal_reasons: std::collections::BTreeMap<String, String> = store
        .audit_log()?
        .into_iter()
        .filter(|e| e.op == "remove" && e.seq > from.seq && e.seq <= to.seq)
        .flat_map(|e| {
            let (ids, reason) = e.summary.split_once(": ").map(|(i, r)| (i.to_string(), r.to_string())).unwrap_or_default();
            ids.split(", ").map(|id| (id.to_string(), reason.clone())).collect::<Vec<_>>()
        })
        .collect();
    for (id, c) in changes {
        match c {
            Change::Added => t.push(vec![Value::Str(id), Value::Str("added".into()), Value::Null, Value::Null, Value::Null, Value::Null]),
            Change::Removed => {
                let reason = removal_reasons.get(&id).cloned().map_or(Value::Null, Value::Str);
                t.push(vec![Value::Str(id), Value::Str("removed".into()), Value::Null, Value::Null, Value::Null, reason])
            }
            Change::Changed(fields) => {
                for f in fields {
                    t.push(vec![
                        Value::Str(id.clone()),
                        Value::Str("changed".into()),
                        Value::Str(f.field),
                        Value::Str(f.old),
                        Value::Str(f.new),
                        f.reason.map_or(Value::Null, Value::Str),
                    ]);
                }
            }
        }
    }
    println!("{}", t.render(a.format));
    Ok(())
}

/// Run an import into an open store; returns the number of records added.
/// Run an import; the records written, and whether a compaction may follow.
fn import_into(store: &Store, cmd: ImportCmd) -> Result<(usize, bool)> {
    let part = |p: &Option<PartitionArg>| {
        p.map(|p| match p {
            PartitionArg::Train => SourcePartition::Train,
            PartitionArg::Test => SourcePartition::Test,
        })
    };
    let (source, common) = match cmd {
        ImportCmd::Devi { dir, no_mlip, common } => (Source::Devi { dir, mlip: !no_mlip }, common),
        ImportCmd::Band { file, dataset, partition, tabulation, common } => {
            (Source::Band { file, dataset, partition: part(&partition), tabulation }, common)
        }
        ImportCmd::Endpoints { file, dataset, partition, tabulation, common } => {
            (Source::Endpoints { file, dataset, partition: part(&partition), tabulation }, common)
        }
        ImportCmd::Xyz { file, fidelity, dataset, trajectory, common } => {
            let fidelity = Fidelity::parse(&fidelity).with_context(|| format!("unknown fidelity '{fidelity}' (dft, bvse, mlip, experiment)"))?;
            (Source::Xyz { file, fidelity, dataset, trajectory }, common)
        }
        ImportCmd::Manifest { file, dataset, common } => (Source::Manifest { file, dataset }, common),
        ImportCmd::Jsonl { file, common } => (Source::Jsonl { file }, common),
        ImportCmd::Parquet { dir, format } => return import_parquet(store, &dir, format).map(|n| (n, true)),
    };
    let report = import::source::import(store, &source, &opts(&common)).map_err(|e| match e {
        import::ImportError::Invalid(_) => anyhow::anyhow!("{e}\n(use --skip-invalid to import the valid records and report the rest)"),
        e => e.into(),
    })?;
    print_report(&report, common.format, common.dry_run);
    Ok((if common.dry_run { 0 } else { report.added.len() }, !common.no_compact))
}

/// `import parquet DIR`: merge the parts of a sharded BVSE corpus.
fn import_parquet(store: &Store, dir: &Path, format: Format) -> Result<usize> {
    let rep = hopdb::bvse::shard::import_parts(store, dir)?;
    if format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&rep)?);
    } else {
        let mut t = ResultTable::new(&["what", "count"]).titled("Import of corpus parts");
        for (what, n) in [
            ("parts", rep.parts),
            ("rows (computed work items)", rep.rows),
            ("target", rep.target),
            ("work-list prefix merged", rep.prefix),
            ("records of the prefix", rep.records),
            ("records added", rep.added),
            ("failure markers added", rep.failures_added),
        ] {
            t.push(vec![Value::Str(what.into()), Value::Int(n as i64)]);
        }
        println!("{}", t.render(format));
        if rep.exhausted {
            eprintln!("note: the shards ran out of work items at {} records, below the target {}", rep.records, rep.target);
        }
    }
    Ok(rep.added)
}

pub fn add(db: &Path, a: AddArgs) -> Result<()> {
    // As for `import`: a store created for this hop is removed again when nothing was added.
    let created = !db.join("data").is_dir();
    let store = Store::open_or_create(db)?;
    let result = add_into(&store, a);
    if created && !matches!(result, Ok(true)) {
        drop(store);
        let _ = std::fs::remove_dir_all(db);
    }
    result.map(|_| ())
}

/// Add one hop to an open store; true when a record was added.
fn add_into(store: &Store, a: AddArgs) -> Result<bool> {
    let ion = hopdb::element::Element::from_symbol(&a.ion).map_err(|e| anyhow::anyhow!("--ion: {e}"))?;
    let meta = import::generic::GenericMeta { id: a.id.clone().unwrap_or_default(), xc: a.xc.clone(), doi: a.doi.clone(), notes: a.notes.clone(), ..Default::default() };
    let new = NewRecord { structures: HopStructures::Files { initial: a.initial.clone(), final_: a.final_.clone() }, ion, em: a.em, meta, dataset: a.dataset.clone() };
    match import::source::add(store, new)? {
        Added::Added { id, flags } => {
            println!("added {id}");
            if !flags.is_empty() {
                println!("flagged: {}", flags.join(", "));
            }
            note_version(store)?;
            Ok(true)
        }
        Added::Duplicate(existing) => {
            println!("not added: the same hop with the same barrier is already stored as {existing}");
            Ok(false)
        }
    }
}

pub fn stats(db: &Path, format: Format, storage: bool) -> Result<()> {
    let store = open(db)?;
    let st = hopdb::stats::compute(&store)?;
    let usage = if storage { Some(store.keyspace_usage()?) } else { None };
    if format == Format::Json {
        let mut v = serde_json::to_value(&st)?;
        if let Some(u) = &usage {
            v["storage"] = serde_json::to_value(u)?;
        }
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    if let Some(u) = &usage {
        let total: u64 = u.iter().map(|x| x.key_bytes + x.value_bytes).sum();
        let mut t = ResultTable::new(&["keyspace", "prefix", "keys", "key MiB", "value MiB", "share"])
            .titled(format!("Storage: {:.1} MiB of keys and values in {:.1} MiB of files", total as f64 / 1048576.0, st.bytes_on_disk as f64 / 1048576.0));
        for x in u {
            let (name, prefix) = x.keyspace.map_or(("(unknown)".to_string(), "?".to_string()), |k| (k.name().to_string(), (k.byte() as char).to_string()));
            t.push(vec![
                Value::Str(name),
                Value::Str(prefix),
                Value::Int(x.keys as i64),
                Value::Num(x.key_bytes as f64 / 1048576.0),
                Value::Num(x.value_bytes as f64 / 1048576.0),
                Value::Num(if total > 0 { (x.key_bytes + x.value_bytes) as f64 / total as f64 } else { 0.0 }),
            ]);
        }
        println!("{}\n", t.render(format));
    }
    for t in st.tables() {
        println!("{}\n", t.render(format));
    }
    if format == Format::Table {
        println!("data version {} ({}): the last write; `hopdb log` lists them, `AS OF` queries earlier ones", st.data_version, st.data_version_at);
    }
    Ok(())
}

fn resolve_id(store: &Store, id: &str) -> Result<String> {
    Ok(store.resolve_id(id)?)
}

pub fn show(db: &Path, id: &str, format: Format) -> Result<()> {
    let store = open(db)?;
    let id = resolve_id(&store, id)?;
    let r = store.record(&id)?;
    if format == Format::Json {
        let host = store.structure(&r.host)?;
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({"record": r, "host": host}))?);
        return Ok(());
    }
    let mut t = ResultTable::new(&["field", "value"]).titled(format!("Record {id}"));
    for f in [
        "sys_name", "ion", "em", "fidelity", "formula", "composition", "class", "group", "crystal_system", "space_group", "path", "state", "xc",
        "code", "partition", "natoms", "hop_length", "volume", "flags", "parent",
    ] {
        t.push(vec![Value::Str(f.into()), r.field(f).unwrap_or(Value::Null)]);
    }
    for (k, v) in &r.extra {
        t.push(vec![Value::Str(format!("extra.{k}")), Value::Num(*v)]);
    }
    println!("{}\n", t.render(format));
    let p = &r.provenance;
    let mut pt = ResultTable::new(&["provenance", "value"]);
    let opt = |o: &Option<String>| o.clone().map_or(Value::Null, Value::Str);
    for (k, v) in [
        ("dataset", Value::Str(format!("{} ({})", p.dataset, p.dataset_version))),
        ("source file", Value::Str(p.source_file.clone())),
        ("source sha256", Value::Str(p.source_sha256.clone())),
        ("source record", Value::Str(p.source_record_id.clone())),
        ("citation", opt(&p.citation)),
        ("doi", opt(&p.doi)),
        ("notes", opt(&p.notes)),
        ("importer", Value::Str(format!("{} (hopdb {})", p.importer, p.hopdb_version))),
        ("imported at", Value::Str(p.imported_at.clone())),
        ("host structure", Value::Str(r.host.0.clone())),
    ] {
        pt.push(vec![Value::Str(k.into()), v]);
    }
    println!("{}\n", pt.render(format));
    let mut ht = ResultTable::new(&["at", "field", "old", "new", "reason"]).titled("Revision history");
    for rv in &r.revisions {
        ht.push(vec![Value::Str(rv.at.clone()), Value::Str(rv.field.clone()), Value::Str(rv.old.clone()), Value::Str(rv.new.clone()), Value::Str(rv.reason.clone())]);
    }
    println!("{}", ht.render(format));
    Ok(())
}

pub fn edit(db: &Path, a: EditArgs) -> Result<()> {
    let store = open(db)?;
    let id = resolve_id(&store, &a.id)?;
    let mut edits = Vec::new();
    if let Some(x) = a.em {
        edits.push(Edit::Em(x));
    }
    if let Some(x) = a.xc {
        edits.push(Edit::Xc(x));
    }
    if let Some(x) = a.state {
        let s = IntercalationState::parse(&x).with_context(|| format!("unknown state '{x}' (charged, discharged or intermediate)"))?;
        edits.push(Edit::State(s));
    }
    if let Some(x) = a.doi {
        edits.push(Edit::Doi(x));
    }
    if let Some(x) = a.notes {
        edits.push(Edit::Notes(x));
    }
    edits.extend(a.add_flag.into_iter().map(Edit::AddFlag));
    edits.extend(a.remove_flag.into_iter().map(Edit::RemoveFlag));
    let r = store.edit(&id, &edits, &a.reason)?;
    println!("{id}: {} revision(s) recorded, now em = {} eV", edits.len(), r.em);
    note_version(&store)?;
    Ok(())
}

/// Open a store for reading what is intact: a store that lost writes is opened with a warning.
fn open_for_salvage(db: &Path) -> Result<Store> {
    let (store, damage) = Store::open_for_salvage(db)?;
    if let Some(e) = damage {
        eprintln!("warning: {e}\nwarning: reading what is intact");
    }
    Ok(store)
}

/// `hopdb export parquet --out FILE [--query "..."] [--param V]...`.
fn export_parquet(db: &Path, a: &ExportArgs) -> Result<()> {
    let Some(out) = &a.out else {
        bail!("parquet needs a file: --out FILE (e.g. hopdb export parquet --out hops.parquet)");
    };
    let src = a.query.as_deref().unwrap_or("SELECT * FROM hops");
    let params: Vec<Value> = a.params.iter().map(|p| super::query::param_value(p)).collect();
    let store = open_for_salvage(db)?;
    let table = hopdb::query::query_with_params(&store, src, &params).map_err(|e| anyhow::anyhow!("--query: {}", e.to_string().trim_start_matches("error: ")))?;
    let n = hopdb::export::parquet::write_parquet(&table, out)?;
    eprintln!("exported {n} rows ({} columns) to {}", table.columns.len(), out.display());
    Ok(())
}

pub fn export(db: &Path, a: ExportArgs) -> Result<()> {
    if matches!(a.format, ExportFormat::Parquet) {
        return export_parquet(db, &a);
    }
    let store = open_for_salvage(db)?;
    let ids: Vec<String> = match &a.query {
        None if !a.params.is_empty() => bail!("--param needs --query"),
        None => store.records().map(|r| r.map(|r| r.id)).collect::<Result<_, _>>()?,
        Some(q) => {
            // The records whose ids the statement returns (its `id` column).
            let params: Vec<Value> = a.params.iter().map(|p| super::query::param_value(p)).collect();
            let table = hopdb::query::query_with_params(&store, q, &params).map_err(|e| anyhow::anyhow!("--query: {}", e.to_string().trim_start_matches("error: ")))?;
            let Some(col) = table.columns.iter().position(|c| c == "id") else {
                bail!("--query: the statement returns no 'id' column (it returns: {}); select the records with SELECT id FROM hops WHERE ...", table.columns.join(", "));
            };
            table
                .rows
                .into_iter()
                .map(|r| match &r[col] {
                    Value::Str(id) => Ok(id.clone()),
                    other => Err(anyhow::anyhow!("--query: the 'id' column holds {other}, not a record id")),
                })
                .collect::<Result<_>>()?
        }
    };
    let mut out: Box<dyn std::io::Write> = match &a.out {
        Some(p) => Box::new(std::io::BufWriter::new(std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))?)),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let n = match a.format {
        ExportFormat::Jsonl => hopdb::export::export_jsonl(&store, ids, &mut out)?,
        ExportFormat::Csv => hopdb::export::export_csv(&store, ids, &mut out)?,
        ExportFormat::Xyz => hopdb::export::export_xyz(&store, ids, &mut out)?,
        ExportFormat::Parquet => unreachable!("handled above"),
    };
    out.flush()?;
    if let Some(p) = &a.out {
        eprintln!("exported {n} records to {}", p.display());
    }
    Ok(())
}

pub fn classes(db: &Path, c: ClassesCmd) -> Result<()> {
    let store = open(db)?;
    match c {
        ClassesCmd::List { format } => {
            let map = store.class_groups()?;
            let counts = store.index_counts("class")?;
            let mut t = ResultTable::new(&["class label", "group", "hops"]).titled("Class label -> structural group");
            let mut labels: Vec<&String> = map.keys().chain(counts.keys()).collect();
            labels.sort();
            labels.dedup();
            for l in labels {
                t.push(vec![
                    Value::Str(l.clone()),
                    Value::Str(hopdb::record::classes::group_for(&map, l)),
                    Value::Int(*counts.get(l).unwrap_or(&0) as i64),
                ]);
            }
            println!("{}", t.render(format));
        }
        ClassesCmd::Set { label, group, reason } => {
            let n = store.set_class_group(&label, &group, &reason)?;
            println!("'{label}' -> '{group}': {n} record(s) regrouped");
            note_version(&store)?;
        }
    }
    Ok(())
}

pub fn compact(db: &Path, format: Format) -> Result<()> {
    let store = open(db)?;
    let (store, r) = store.compact()?;
    if format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        let mib = |b: u64| Value::Num(b as f64 / 1048576.0);
        let mut t = ResultTable::new(&["quantity", "value"]).titled("Compaction");
        t.push(vec![Value::Str("keys".into()), Value::Int(r.keys as i64)]);
        t.push(vec![Value::Str("MiB of keys and values".into()), mib(r.bytes)]);
        t.push(vec![Value::Str("MiB on disk before".into()), mib(r.bytes_on_disk_before)]);
        t.push(vec![Value::Str("MiB on disk after".into()), mib(r.bytes_on_disk_after)]);
        t.push(vec![Value::Str("seconds".into()), Value::Num(r.seconds)]);
        println!("{}", t.render(format));
    }
    note_version(&store)?;
    Ok(())
}

pub fn log(db: &Path, limit: Option<usize>, format: Format) -> Result<()> {
    let store = open_for_salvage(db)?;
    let log = store.audit_log()?;
    let skip = limit.map_or(0, |l| log.len().saturating_sub(l));
    let mut t = ResultTable::new(&["seq", "at", "op", "records", "user", "hopdb", "summary"]).titled("Audit log");
    for e in log.into_iter().skip(skip) {
        t.push(vec![
            Value::Int(e.seq as i64),
            Value::Str(e.at),
            Value::Str(e.op),
            Value::Int(e.records as i64),
            e.user.map_or(Value::Null, Value::Str),
            Value::Str(e.hopdb_version),
            Value::Str(e.summary),
        ]);
    }
    println!("{}", t.render(format));
    Ok(())
}
