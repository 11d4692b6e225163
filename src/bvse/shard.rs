//! The BVSE corpus beyond one process: deterministic shards of the work list, computed without
//! a store and written as Parquet parts, and the merge of the parts into a store.
//!
//! A shard (`hopdb bvse corpus --shard I/N --parents FILE --out DIR`) reads its parent
//! structures from a JSON-lines export of a store (sled admits one process per store), builds
//! the same seeded work list as [`super::corpus::corpus`], and computes, in work order, the
//! items whose content id falls in its shard ([`shard_of`]: the first eight bytes of the id's
//! sha256, modulo N), so shards never overlap and together cover the list. It stops once it
//! has stored its quota ([`shard_quota`]: its share of the target with a margin) and writes
//! each batch as a Parquet part (renamed into place when complete) and then its state file
//! (`shard-I-of-N.json`: the settings, the next work index it has not processed, the records
//! and failures so far); a rerun resumes after the last part.
//!
//! The merge ([`import_parts`], `hopdb import parquet DIR`) reads every part, orders the rows
//! by work index, and takes the shortest prefix of the work list that holds `target` records,
//! which is what the single-process corpus computes; it checks that every shard has processed
//! every item of that prefix (else it names the shard to rerun with a larger target), and
//! writes the prefix's records and failure markers as one all-or-nothing write. Records
//! already in the store are skipped, so importing a part twice adds nothing.
//!
//! Part schema (`PART_SCHEMA_VERSION` 1; one row per computed work item):
//!
//! | column | type | |
//! |---|---|---|
//! | `id` | utf8 | corpus record id (also of a failed item) |
//! | `work_index` | uint64 | position in the seeded work list |
//! | `shard` | uint32 | the shard that computed it |
//! | `status` | utf8 | `stored` or `failed` |
//! | `ion` | utf8 | mobile ion |
//! | `em` | float64, null when failed | BVSE barrier (eV) |
//! | `parent` | utf8 | id of the parent structure's record |
//! | `failure_reason`, `failure_message` | utf8, null when stored | why the item failed |
//! | `record` | utf8 (JSON), null when failed | the whole record, as `hopdb export jsonl` writes it |
//! | `host` | utf8 (JSON), null when failed | its host structure (lattice, species, fractional coordinates) |
//!
//! The file's key-value metadata holds the settings (`hopdb.corpus.*`: seed, target, recipe,
//! ions, strains, swaps, shards, work list length, corpus rules version), which every part of
//! a merge must share.

use super::corpus::{self, BatchComputer, CorpusError, CorpusOptions, Failure, FailureReason, Parent, Swap, WorkItem};
use crate::record::HopRecord;
use crate::store::{Keyspace, Store, WriteSet};
use crate::structure::Structure;
use arrow_array::builder::{Float64Builder, StringBuilder, UInt32Builder, UInt64Builder};
use arrow_array::{Array, ArrayRef, Float64Array, RecordBatch, StringArray, UInt32Array, UInt64Array};
use arrow_schema::{DataType, Field, Schema};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Version of the part schema (the module doc's table).
pub const PART_SCHEMA_VERSION: u32 = 1;

/// The shard (0-based) of a work item's content id among `shards`.
pub fn shard_of(id: &str, shards: usize) -> usize {
    use sha2::{Digest, Sha256};
    let h = Sha256::digest(id.as_bytes());
    (u64::from_be_bytes(h[..8].try_into().expect("8 bytes")) % shards.max(1) as u64) as usize
}

/// Records a shard stores before it stops: its share of the target, 25 % more and 16 more,
/// so that the shards together almost always cover the prefix the merge needs (the merge
/// checks it, and a shard that fell short resumes with a larger target).
pub fn shard_quota(target: usize, shards: usize) -> usize {
    let share = target.div_ceil(shards.max(1));
    share + share / 4 + 16
}

/// The settings every part of one corpus shares (the parts' metadata and the state files).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShardSettings {
    /// Part schema version.
    pub schema: u32,
    /// The corpus rules version (`docs/BVSE_CORPUS.md`).
    pub rules: String,
    /// Seed of the work order.
    pub seed: u64,
    /// Corpus records wanted.
    pub target: usize,
    /// Recipe.
    pub recipe: String,
    /// Mobile ions.
    pub ions: Vec<String>,
    /// Lattice scales.
    pub strains: Vec<f64>,
    /// Framework substitutions.
    pub swaps: Vec<String>,
    /// Number of shards.
    pub shards: usize,
    /// Length of the work list.
    pub work_items: usize,
    /// Parent structures.
    pub parents: usize,
}

impl ShardSettings {
    fn of(opts: &CorpusOptions, shards: usize, work_items: usize, parents: usize) -> Self {
        ShardSettings {
            schema: PART_SCHEMA_VERSION,
            rules: corpus::CORPUS_RULES_VERSION.to_string(),
            seed: opts.seed,
            target: opts.target,
            recipe: opts.recipe.as_str().to_string(),
            ions: opts.ions.iter().map(|e| e.to_string()).collect(),
            strains: opts.strains.clone(),
            swaps: opts.swaps.iter().map(|k| format!("{k:?}")).collect(),
            shards,
            work_items,
            parents,
        }
    }

    /// The same corpus, whatever the target (a shard may be resumed with a larger one).
    fn same_corpus(&self, other: &ShardSettings) -> bool {
        ShardSettings { target: 0, ..self.clone() } == ShardSettings { target: 0, ..other.clone() }
    }
}

/// A shard's state file (`shard-I-of-N.json` in the output directory).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ShardState {
    /// The corpus.
    pub settings: ShardSettings,
    /// This shard.
    pub shard: usize,
    /// Parts written so far.
    pub parts: usize,
    /// Work index of the first of this shard's items not yet processed (`None`: all processed).
    pub next_index: Option<usize>,
    /// Records stored so far.
    pub stored: usize,
    /// Failures so far.
    pub failed: usize,
}

/// What [`corpus_shard`] did.
#[derive(Clone, Debug, Serialize)]
pub struct ShardReport {
    /// This shard and the number of shards.
    pub shard: usize,
    /// Number of shards.
    pub shards: usize,
    /// Parent structures.
    pub parents: usize,
    /// Items of the whole work list, and of this shard.
    pub work_items: usize,
    /// Items of this shard.
    pub shard_items: usize,
    /// Records this shard stops at.
    pub quota: usize,
    /// Items computed now, records stored now, failures now.
    pub computed: usize,
    /// Records stored now.
    pub stored: usize,
    /// Failures now.
    pub failed: usize,
    /// Parts written now.
    pub parts_written: usize,
    /// The state after the run.
    pub state: ShardState,
    /// Wall seconds.
    pub seconds: f64,
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> CorpusError {
    CorpusError::Invalid(format!("{}: {e}", path.display()))
}

/// The parent structures of a JSON-lines export of a store (`hopdb export jsonl`), as a shard
/// reads them: every record of the file must be valid (it was written by hopdb).
pub fn parents_from_export(file: &Path) -> Result<Vec<Parent>, CorpusError> {
    let mut recs = Vec::new();
    for item in crate::import::jsonl::stream_jsonl(file).map_err(|e| io_err(file, e))? {
        match item.map_err(|e| CorpusError::Invalid(e.to_string()))? {
            Ok(c) => recs.push((c.record, c.host)),
            Err(r) => return Err(CorpusError::Invalid(format!("{r}"))),
        }
    }
    Ok(corpus::parents_from_records(recs))
}

fn state_path(out: &Path, shard: usize, shards: usize) -> PathBuf {
    out.join(format!("shard-{shard:04}-of-{shards:04}.json"))
}

fn part_path(out: &Path, shard: usize, shards: usize, part: usize) -> PathBuf {
    out.join(format!("part-{shard:04}-of-{shards:04}-{part:06}.parquet"))
}

/// Write `bytes` to `path` through a temporary file and a rename (never half written).
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), CorpusError> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).map_err(|e| io_err(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| io_err(path, e))
}

/// Compute shard `shard` of `shards` of the corpus of `parents` (see the module doc), writing
/// parts and the state file into `out`; resumes from the state file when there is one.
pub fn corpus_shard(parents: &[Parent], opts: &CorpusOptions, shard: usize, shards: usize, out: &Path) -> Result<ShardReport, CorpusError> {
    let t0 = std::time::Instant::now();
    if shards == 0 || shard >= shards {
        return Err(CorpusError::Invalid(format!("shard {} of {shards} does not exist: give --shard I/N with 1 <= I <= N", shard + 1)));
    }
    if opts.batch == 0 {
        return Err(CorpusError::Invalid("--batch must be at least 1".into()));
    }
    if parents.is_empty() {
        return Err(CorpusError::Invalid("no parent structures in the parents file".into()));
    }
    std::fs::create_dir_all(out).map_err(|e| io_err(out, e))?;
    let swaps: Vec<Vec<Swap>> = parents.par_iter().map(|p| corpus::variant_swaps(p, &opts.swaps)).collect();
    let items = corpus::work_list(parents, &swaps, opts);
    let settings = ShardSettings::of(opts, shards, items.len(), parents.len());
    let mine: Vec<(usize, &WorkItem)> = items.iter().enumerate().filter(|(_, it)| shard_of(&it.id, shards) == shard).collect();
    let sp = state_path(out, shard, shards);
    let mut state = match std::fs::read(&sp) {
        Ok(bytes) => {
            let st: ShardState = serde_json::from_slice(&bytes).map_err(|e| io_err(&sp, format!("unreadable state file: {e}")))?;
            if !st.settings.same_corpus(&settings) {
                return Err(CorpusError::Invalid(format!(
                    "{} was written for another corpus (settings {:?}); use another --out directory",
                    sp.display(),
                    st.settings
                )));
            }
            ShardState { settings: settings.clone(), ..st }
        }
        Err(_) => ShardState { settings: settings.clone(), shard, parts: 0, next_index: mine.first().map(|(k, _)| *k), stored: 0, failed: 0 },
    };
    let quota = shard_quota(opts.target, shards);
    let mut rep = ShardReport {
        shard,
        shards,
        parents: parents.len(),
        work_items: items.len(),
        shard_items: mine.len(),
        quota,
        computed: 0,
        stored: 0,
        failed: 0,
        parts_written: 0,
        state: state.clone(),
        seconds: 0.0,
    };
    let mut computer = BatchComputer::new(parents, &swaps, opts);
    let task = crate::progress::start(&format!("bvse corpus shard {}/{shards}", shard + 1), quota.saturating_sub(state.stored) as u64);
    let mut pos = match state.next_index {
        None => mine.len(),
        Some(next) => mine.partition_point(|(k, _)| *k < next),
    };
    while pos < mine.len() && state.stored < quota {
        let take = opts.batch.min(quota - state.stored).max(1);
        let batch: Vec<(usize, &WorkItem)> = mine[pos..(pos + take).min(mine.len())].to_vec();
        pos += batch.len();
        let refs: Vec<&WorkItem> = batch.iter().map(|(_, it)| *it).collect();
        let results = computer.compute(&refs, &task);
        let rows: Vec<PartRow> = batch
            .iter()
            .zip(results)
            .map(|((k, it), res)| match res {
                Ok(rec) => PartRow { work_index: *k, shard, outcome: Ok((rec, computer.host(it))) },
                Err(f) => PartRow { work_index: *k, shard, outcome: Err(f) },
            })
            .collect();
        let stored = rows.iter().filter(|r| r.outcome.is_ok()).count();
        let path = part_path(out, shard, shards, state.parts);
        write_part(&path, &rows, &settings)?;
        state.parts += 1;
        state.stored += stored;
        state.failed += rows.len() - stored;
        state.next_index = mine.get(pos).map(|(k, _)| *k);
        write_atomic(&sp, &serde_json::to_vec_pretty(&state).expect("state encodes"))?;
        rep.computed += rows.len();
        rep.stored += stored;
        rep.failed += rows.len() - stored;
        rep.parts_written += 1;
    }
    if pos >= mine.len() && state.next_index.is_some() {
        state.next_index = None;
    }
    // Written also when nothing was computed, so that a shard with no items has a state file.
    write_atomic(&sp, &serde_json::to_vec_pretty(&state).expect("state encodes"))?;
    drop(task);
    rep.state = state;
    rep.seconds = t0.elapsed().as_secs_f64();
    Ok(rep)
}

/// One row of a part: a computed work item.
struct PartRow {
    work_index: usize,
    shard: usize,
    outcome: Result<(HopRecord, Structure), Failure>,
}

fn part_schema() -> Schema {
    Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("work_index", DataType::UInt64, false),
        Field::new("shard", DataType::UInt32, false),
        Field::new("status", DataType::Utf8, false),
        Field::new("ion", DataType::Utf8, true),
        Field::new("em", DataType::Float64, true),
        Field::new("parent", DataType::Utf8, true),
        Field::new("failure_reason", DataType::Utf8, true),
        Field::new("failure_message", DataType::Utf8, true),
        Field::new("record", DataType::Utf8, true),
        Field::new("host", DataType::Utf8, true),
    ])
}

/// Write one part (through a temporary file and a rename).
fn write_part(path: &Path, rows: &[PartRow], settings: &ShardSettings) -> Result<(), CorpusError> {
    use parquet::arrow::ArrowWriter;
    use parquet::file::metadata::KeyValue;
    use parquet::file::properties::WriterProperties;
    let mut id = StringBuilder::new();
    let mut wi = UInt64Builder::new();
    let mut sh = UInt32Builder::new();
    let mut status = StringBuilder::new();
    let mut ion = StringBuilder::new();
    let mut em = Float64Builder::new();
    let mut parent = StringBuilder::new();
    let mut reason = StringBuilder::new();
    let mut message = StringBuilder::new();
    let mut record = StringBuilder::new();
    let mut host = StringBuilder::new();
    for r in rows {
        wi.append_value(r.work_index as u64);
        sh.append_value(r.shard as u32);
        match &r.outcome {
            Ok((rec, h)) => {
                id.append_value(&rec.id);
                status.append_value("stored");
                ion.append_value(rec.ion.to_string());
                em.append_value(rec.em);
                parent.append_option(rec.parent.as_deref());
                reason.append_null();
                message.append_null();
                record.append_value(serde_json::to_string(rec).map_err(|e| CorpusError::Invalid(e.to_string()))?);
                host.append_value(serde_json::to_string(h).map_err(|e| CorpusError::Invalid(e.to_string()))?);
            }
            Err(f) => {
                id.append_value(&f.id);
                status.append_value("failed");
                ion.append_null();
                em.append_null();
                parent.append_null();
                reason.append_value(f.reason.as_str());
                message.append_value(&f.message);
                record.append_null();
                host.append_null();
            }
        }
    }
    let cols: Vec<ArrayRef> = vec![
        Arc::new(id.finish()),
        Arc::new(wi.finish()),
        Arc::new(sh.finish()),
        Arc::new(status.finish()),
        Arc::new(ion.finish()),
        Arc::new(em.finish()),
        Arc::new(parent.finish()),
        Arc::new(reason.finish()),
        Arc::new(message.finish()),
        Arc::new(record.finish()),
        Arc::new(host.finish()),
    ];
    let batch = RecordBatch::try_new(Arc::new(part_schema()), cols).map_err(|e| io_err(path, e))?;
    let meta = vec![KeyValue::new("hopdb.corpus.settings".to_string(), serde_json::to_string(settings).expect("settings encode"))];
    let props = WriterProperties::builder().set_compression(parquet::basic::Compression::SNAPPY).set_key_value_metadata(Some(meta)).build();
    let tmp = path.with_extension("parquet.tmp");
    let file = std::fs::File::create(&tmp).map_err(|e| io_err(&tmp, e))?;
    let mut w = ArrowWriter::try_new(file, batch.schema(), Some(props)).map_err(|e| io_err(&tmp, e))?;
    w.write(&batch).map_err(|e| io_err(&tmp, e))?;
    w.close().map_err(|e| io_err(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| io_err(path, e))
}

/// A row read back from a part.
struct ReadRow {
    id: String,
    work_index: usize,
    outcome: Result<(String, String), (String, String)>,
}

fn column<'b, T: 'static>(batch: &'b RecordBatch, name: &str, path: &Path) -> Result<&'b T, CorpusError> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<T>())
        .ok_or_else(|| io_err(path, format!("column '{name}' is missing or of another type (part schema {PART_SCHEMA_VERSION})")))
}

/// Read one part: its settings and rows.
fn read_part(path: &Path) -> Result<(ShardSettings, Vec<ReadRow>), CorpusError> {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let file = std::fs::File::open(path).map_err(|e| io_err(path, e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| io_err(path, format!("not a Parquet file: {e}")))?;
    let settings = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .and_then(|kv| kv.iter().find(|k| k.key == "hopdb.corpus.settings").and_then(|k| k.value.clone()))
        .ok_or_else(|| io_err(path, "no hopdb.corpus.settings metadata: not a corpus part"))?;
    let settings: ShardSettings = serde_json::from_str(&settings).map_err(|e| io_err(path, format!("corpus settings: {e}")))?;
    if settings.schema != PART_SCHEMA_VERSION {
        return Err(io_err(path, format!("part schema {} (this hopdb reads {PART_SCHEMA_VERSION})", settings.schema)));
    }
    let mut rows = Vec::new();
    for batch in builder.build().map_err(|e| io_err(path, e))? {
        let batch = batch.map_err(|e| io_err(path, e))?;
        let id = column::<StringArray>(&batch, "id", path)?;
        let wi = column::<UInt64Array>(&batch, "work_index", path)?;
        let _shard = column::<UInt32Array>(&batch, "shard", path)?;
        let status = column::<StringArray>(&batch, "status", path)?;
        let _em = column::<Float64Array>(&batch, "em", path)?;
        let reason = column::<StringArray>(&batch, "failure_reason", path)?;
        let message = column::<StringArray>(&batch, "failure_message", path)?;
        let record = column::<StringArray>(&batch, "record", path)?;
        let host = column::<StringArray>(&batch, "host", path)?;
        for k in 0..batch.num_rows() {
            let outcome = match status.value(k) {
                "stored" if !record.is_null(k) && !host.is_null(k) => Ok((record.value(k).to_string(), host.value(k).to_string())),
                "failed" => Err((reason.value(k).to_string(), message.value(k).to_string())),
                other => return Err(io_err(path, format!("row {}: status '{other}' with record {}", k + 1, if record.is_null(k) { "missing" } else { "present" }))),
            };
            rows.push(ReadRow { id: id.value(k).to_string(), work_index: wi.value(k) as usize, outcome });
        }
    }
    Ok((settings, rows))
}

/// What [`import_parts`] did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct MergeReport {
    /// Parts read.
    pub parts: usize,
    /// Rows read (computed work items of every shard).
    pub rows: usize,
    /// The corpus target.
    pub target: usize,
    /// Length of the work-list prefix merged (the single-process corpus's scan).
    pub prefix: usize,
    /// Records of the prefix.
    pub records: usize,
    /// Of those, added now.
    pub added: usize,
    /// Failure markers of the prefix written now.
    pub failures_added: usize,
    /// True when the shards ran out of work before the target.
    pub exhausted: bool,
}

/// Merge the corpus parts in `dir` into `store` (see the module doc): the shortest work-list
/// prefix holding the target's records, all-or-nothing; records already stored are skipped.
pub fn import_parts(store: &Store, dir: &Path) -> Result<MergeReport, CorpusError> {
    let mut parts: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| io_err(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
        .collect();
    parts.sort();
    if parts.is_empty() {
        return Err(io_err(dir, "no corpus parts (*.parquet)"));
    }
    let mut settings: Option<ShardSettings> = None;
    let mut rows: Vec<ReadRow> = Vec::new();
    for p in &parts {
        let (s, r) = read_part(p)?;
        match &settings {
            None => settings = Some(s),
            Some(first) if !first.same_corpus(&s) => {
                return Err(io_err(p, format!("belongs to another corpus than {} (settings differ)", parts[0].display())));
            }
            Some(_) => {}
        }
        rows.extend(r);
    }
    let settings = settings.expect("at least one part");
    // The target: the largest any shard was run with (a shard resumed with a larger target).
    let mut states = Vec::new();
    for shard in 0..settings.shards {
        let sp = state_path(dir, shard, settings.shards);
        let bytes = std::fs::read(&sp).map_err(|_| io_err(&sp, format!("missing: shard {}/{} has not run (or its state file was not copied)", shard + 1, settings.shards)))?;
        let st: ShardState = serde_json::from_slice(&bytes).map_err(|e| io_err(&sp, e))?;
        states.push(st);
    }
    let target = states.iter().map(|s| s.settings.target).max().unwrap_or(settings.target);
    rows.sort_by_key(|r| r.work_index);
    rows.dedup_by_key(|r| r.work_index);
    // The shortest prefix of the work list holding `target` records.
    let mut have = 0usize;
    let mut prefix = settings.work_items;
    for r in &rows {
        if have >= target {
            break;
        }
        if r.outcome.is_ok() {
            have += 1;
            if have == target {
                prefix = r.work_index + 1;
            }
        }
    }
    for st in &states {
        if let Some(next) = st.next_index {
            if next < prefix {
                return Err(CorpusError::Invalid(format!(
                    "shard {}/{} stopped at work item {next}, before the end of the corpus prefix ({prefix} items): rerun it with a larger --target (e.g. {}), then merge again",
                    st.shard + 1,
                    settings.shards,
                    target + target / 2
                )));
            }
        }
    }
    let mut rep = MergeReport { parts: parts.len(), rows: rows.len(), target, prefix, exhausted: have < target, ..Default::default() };
    let mut staged = store.begin_staged("bvse-corpus", format!("BVSE corpus merged from {} parts in {}", parts.len(), dir.display()))?;
    let mut ws = WriteSet::default();
    let mut n_in_ws = 0usize;
    let mut seen: HashSet<&str> = HashSet::new();
    for r in rows.iter().take_while(|r| r.work_index < prefix) {
        if !seen.insert(&r.id) {
            continue;
        }
        match &r.outcome {
            Ok((rec, host)) => {
                rep.records += 1;
                if store.contains(&r.id)? {
                    continue;
                }
                let rec: HopRecord = serde_json::from_str(rec).map_err(|e| CorpusError::Invalid(format!("record {}: {e}", r.id)))?;
                let host: Structure = serde_json::from_str(host).map_err(|e| CorpusError::Invalid(format!("host of {}: {e}", r.id)))?;
                let host = Structure::new(crate::structure::Lattice::new(*host.lattice.matrix()).map_err(|e| CorpusError::Invalid(format!("host of {}: {e}", r.id)))?, host.species, host.frac)
                    .map_err(|e| CorpusError::Invalid(format!("host of {}: {e}", r.id)))?;
                if crate::record::StructureId::of(&host) != rec.host {
                    return Err(CorpusError::Invalid(format!("record {}: its host does not match its content address", r.id)));
                }
                ws.insert_record(&rec, &host);
                rep.added += 1;
            }
            Err((reason, message)) => {
                if store.contains(&r.id)? || store.has_object(Keyspace::CorpusFailure, &[&r.id])? {
                    continue;
                }
                let reason = FailureReason::parse(reason).unwrap_or(FailureReason::InvalidInput);
                ws.put_object(Keyspace::CorpusFailure, &[&r.id], &(reason.as_str(), message));
                rep.failures_added += 1;
            }
        }
        n_in_ws += 1;
        if n_in_ws >= 2_000 {
            staged.apply(std::mem::take(&mut ws))?;
            n_in_ws = 0;
        }
    }
    staged.apply(ws)?;
    if rep.added + rep.failures_added == 0 {
        staged.abort()?;
    } else {
        staged.publish()?;
    }
    Ok(rep)
}
