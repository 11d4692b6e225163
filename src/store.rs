//! The embedded store: one sled tree with key-prefixed keyspaces, values in bincode
//! (records, structures and audit entries compressed with zstd, see [`encode`]).
//!
//! Keyspaces (first byte of the key, then `\0`-separated parts):
//!
//! | prefix | key | value |
//! |---|---|---|
//! | `m` | meta name | schema version, creation time |
//! | `r` | record id | [`HopRecord`] |
//! | `s` | [`StructureId`] | [`Structure`] (content-addressed, shared by records) |
//! | `x` | field, value, record id | empty: secondary index |
//! | `n` | field, ordered f64, record id | empty: range index ([`RANGE_INDEXED_FIELDS`]) |
//! | `c` | field, value, `em`, ordered f64, record id | empty: composite index ([`COMPOSITE_FIELDS`]) |
//! | `d` | ion, host formula, record id | empty: duplicate-detection bucket |
//! | `g` | class label | normalised structural group |
//! | `a` | sequence number (big-endian u64) | [`AuditEntry`] |
//!
//! Invariant: every logical write (an import, an edit, a mapping change) is one
//! [`sled::Batch`] applied to the one tree, which sled recovers atomically after a crash, and it
//! carries its own audit entry. An import that fails validation writes nothing.
//!
//! One process uses a store at a time: [`Store::open`] takes an exclusive lock on
//! `PATH/hopdb.lock` and fails at once with [`StoreError::Locked`] when another process holds it.

use crate::record::{HopRecord, StructureId};
use crate::structure::Structure;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::{Path, PathBuf};

/// Version of the on-disk layout. A version-2 store is upgraded in place when opened (see
/// [`Store::open`]); any other version is an error.
///
/// * 1: values in plain bincode, sled's own (page-level) zstd compression.
/// * 2: records, structures and audit entries compressed per value by hopdb (zstd, a one-byte
///   tag in front), sled's compression off. sled's compression pins a zstd-sys that cannot
///   share a build with libtorch's (tch), so hopdb compresses values itself.
/// * 3: adds the composite `(field, em)` indexes under prefix `c`.
pub const SCHEMA_VERSION: u32 = 3;

/// zstd level of stored values (3: zstd's default; higher levels gained little on records).
pub const VALUE_ZSTD_LEVEL: i32 = 3;

/// Values shorter than this are stored uncompressed (tag 0).
const COMPRESS_MIN_LEN: usize = 128;

const SEP: u8 = 0;

/// Store errors.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another process holds the store's lock.
    #[error("store at {0} is in use by another hopdb process")]
    Locked(PathBuf),
    /// The store was written with a different schema version.
    #[error("store at {path} has schema version {found}, this hopdb (v{hopdb}) reads version {expected}; export it with the hopdb that wrote it and re-import")]
    SchemaMismatch {
        /// Store path.
        path: PathBuf,
        /// Version on disk.
        found: u32,
        /// Version this build reads.
        expected: u32,
        /// This hopdb's version.
        hopdb: &'static str,
    },
    /// The path holds no hopdb store.
    #[error("no hopdb store at {0} (create one with `hopdb init`)")]
    NotAStore(PathBuf),
    /// A store already exists at the path.
    #[error("a hopdb store already exists at {0}")]
    AlreadyExists(PathBuf),
    /// The path exists and is not a directory or not a hopdb store.
    #[error("{0} exists and is not a hopdb store")]
    NotEmpty(PathBuf),
    /// No record with that id.
    #[error("no record with id '{0}'")]
    NotFound(String),
    /// No record has this id or sys_name ([`Store::resolve_id`]).
    #[error("no record with id or sys_name '{0}'")]
    NoSuchRecord(String),
    /// A sys_name given for an id matches several records ([`Store::resolve_id`]).
    #[error("sys_name '{name}' matches {} records ({}); give the id", .ids.len(), .ids.join(", "))]
    AmbiguousName {
        /// The name.
        name: String,
        /// The ids it matches.
        ids: Vec<String>,
    },
    /// A value failed to decode: the store is damaged.
    #[error("corrupt value under key '{key}': {msg}")]
    Corrupt {
        /// The key, printable.
        key: String,
        /// Decoder message.
        msg: String,
    },
    /// A request that makes no sense (bad argument).
    #[error("{0}")]
    Invalid(String),
    /// The store's files are damaged (sled found corrupt data, or the store's own keys are
    /// missing). The path is `None` when the error arose below the layer that knows it; callers
    /// that know it fill it in with [`StoreError::at`].
    #[error("{}", damaged_message(path.as_deref(), detail))]
    Damaged {
        /// The store directory, when known.
        path: Option<PathBuf>,
        /// What was found.
        detail: String,
    },
    /// Underlying sled error (not a corruption: those are [`StoreError::Damaged`]). Not marked
    /// as the source, so that a chained rendering does not print sled's message twice.
    #[error("storage error: {0}")]
    Sled(sled::Error),
    /// Filesystem error.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// Path involved.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        match e {
            sled::Error::Corruption { at, .. } => StoreError::Damaged {
                path: None,
                detail: match at {
                    Some(ptr) => format!("sled read corrupted data at {ptr:?}"),
                    None => "sled read corrupted data".to_string(),
                },
            },
            e => StoreError::Sled(e),
        }
    }
}

impl StoreError {
    /// A damaged-store error with the same message (sled errors are not `Clone`).
    fn clone_message(&self) -> StoreError {
        match self {
            StoreError::Damaged { path, detail } => StoreError::Damaged { path: path.clone(), detail: detail.clone() },
            e => StoreError::Invalid(e.to_string()),
        }
    }

    /// The same error, naming the store at `path` where it is a damaged-store error that does
    /// not name one yet.
    pub fn at(self, store: &Path) -> StoreError {
        match self {
            StoreError::Damaged { path: None, detail } => StoreError::Damaged { path: Some(store.to_path_buf()), detail },
            e => e,
        }
    }
}

fn damaged_message(path: Option<&Path>, detail: &str) -> String {
    let at = path.map_or_else(|| "the store".to_string(), |p| format!("the store at {}", p.display()));
    let p = path.map_or_else(|| "STORE".to_string(), |p| p.display().to_string());
    format!(
        "{at} is damaged ({detail}); nothing was changed. To recover: restore the directory from a \
         backup; or copy it aside, then try `hopdb --db {p} log` (the audit log of the writes it \
         held) and `hopdb --db {p} export jsonl --out rescue.jsonl` (what is still readable), and \
         re-import that into a new store with `hopdb --db NEW import jsonl rescue.jsonl`. Do not \
         run `hopdb init` over it."
    )
}

/// Result alias for store operations.
pub type Result<T> = std::result::Result<T, StoreError>;

/// One entry of the append-only audit log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Sequence number (monotonic).
    pub seq: u64,
    /// RFC 3339 time.
    pub at: String,
    /// Operation (`import`, `edit`, `map-class`, ...).
    pub op: String,
    /// One-line summary.
    pub summary: String,
    /// Number of records touched.
    pub records: u64,
    /// The OS user, when known.
    pub user: Option<String>,
    /// hopdb version that wrote the entry.
    pub hopdb_version: String,
}

/// Build a key from a prefix byte and parts separated by `\0`.
pub fn key(prefix: u8, parts: &[&[u8]]) -> Vec<u8> {
    let mut k = Vec::with_capacity(2 + parts.iter().map(|p| p.len() + 1).sum::<usize>());
    k.push(prefix);
    for p in parts {
        k.push(SEP);
        k.extend_from_slice(p);
    }
    k
}

/// Index entries of a record: (field, value) pairs. Elements get one entry each.
pub fn index_entries(r: &HopRecord) -> Vec<(&'static str, String)> {
    let mut v = vec![
        ("fidelity", r.fidelity.as_str().to_string()),
        ("ion", r.ion.symbol().to_string()),
        ("source", r.provenance.dataset.clone()),
    ];
    if let Some(g) = &r.material.group {
        v.push(("group", g.clone()));
    }
    if let Some(c) = &r.material.class_label {
        v.push(("class", c.clone()));
    }
    if let Some(s) = &r.material.sys_name {
        v.push(("sys_name", s.clone()));
    }
    if let Some(p) = r.partition {
        v.push(("partition", p.as_str().to_string()));
    }
    for e in &r.elements {
        v.push(("elements", e.symbol().to_string()));
    }
    v
}

/// Numeric fields with a range index (prefix `n`): order-preserving keys, so `em < 0.3` or
/// `hop_length BETWEEN 2 AND 3` reads only the matching entries.
pub const RANGE_INDEXED_FIELDS: &[&str] = &["em", "hop_length"];

/// Range-index entries of a record: (field, value).
pub fn range_index_entries(r: &HopRecord) -> [(&'static str, f64); 2] {
    [("em", r.em), ("hop_length", r.hop_length)]
}

/// Order-preserving 8-byte encoding of a finite f64 (byte order = numeric order).
pub fn encode_ordered(x: f64) -> [u8; 8] {
    let bits = x.to_bits();
    let t = if bits >> 63 == 1 { !bits } else { bits ^ (1 << 63) };
    t.to_be_bytes()
}

fn range_key(field: &str, x: f64, id: &str) -> Vec<u8> {
    key(b'n', &[field.as_bytes(), &encode_ordered(x), id.as_bytes()])
}

/// Low-cardinality indexed fields that also have a composite index with [`COMPOSITE_RANGE_FIELD`]
/// (prefix `c`): `ion = 'Mg' AND em < 0.3` reads only the keys of the matching records, in `em`
/// order, instead of intersecting the `ion` and `em` indexes.
pub const COMPOSITE_FIELDS: &[&str] = &["fidelity", "ion", "source", "group", "partition"];

/// The numeric field of the composite indexes.
pub const COMPOSITE_RANGE_FIELD: &str = "em";

/// Composite-index entries of a record: (field, value), each paired with its `em`.
pub fn composite_index_entries(r: &HopRecord) -> Vec<(&'static str, String)> {
    index_entries(r).into_iter().filter(|(f, _)| COMPOSITE_FIELDS.contains(f)).collect()
}

fn composite_key(field: &str, value: &str, x: f64, id: &str) -> Vec<u8> {
    key(b'c', &[field.as_bytes(), value.as_bytes(), COMPOSITE_RANGE_FIELD.as_bytes(), &encode_ordered(x), id.as_bytes()])
}

/// Fields that have a secondary index.
pub const INDEXED_FIELDS: &[&str] = &["fidelity", "ion", "source", "group", "class", "sys_name", "partition", "elements"];

fn index_key(field: &str, value: &str, id: &str) -> Vec<u8> {
    key(b'x', &[field.as_bytes(), value.as_bytes(), id.as_bytes()])
}

/// Width (Angstrom) of the lattice-length bins of duplicate detection.
pub const DUP_BIN_WIDTH: f64 = 0.1;

/// Duplicate-detection bucket of a record: ion, host formula and the host's lattice lengths
/// binned by [`DUP_BIN_WIDTH`].
pub fn dup_bucket(r: &HopRecord, host: &Structure) -> Vec<u8> {
    dup_bucket_at(r, host, [0, 0, 0])
}

/// The buckets a duplicate of this record may sit in: its own and the 26 neighbouring bins
/// (lattice lengths within one bin width), so the binning never hides a duplicate.
pub fn dup_neighbour_buckets(r: &HopRecord, host: &Structure) -> Vec<Vec<u8>> {
    let mut out = Vec::with_capacity(27);
    for i in -1..=1 {
        for j in -1..=1 {
            for k in -1..=1 {
                out.push(dup_bucket_at(r, host, [i, j, k]));
            }
        }
    }
    out
}

fn dup_bucket_at(r: &HopRecord, host: &Structure, shift: [i64; 3]) -> Vec<u8> {
    let l = host.lattice.lengths();
    let bin = |x: f64, s: i64| ((x / DUP_BIN_WIDTH).floor() as i64 + s).to_string();
    let (a, b, c) = (bin(l[0], shift[0]), bin(l[1], shift[1]), bin(l[2], shift[2]));
    key(b'd', &[r.ion.symbol().as_bytes(), host.formula().as_bytes(), a.as_bytes(), b.as_bytes(), c.as_bytes()])
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn decode<T: serde::de::DeserializeOwned>(k: &[u8], v: &[u8]) -> Result<T> {
    let corrupt = |msg: String| StoreError::Corrupt { key: String::from_utf8_lossy(k).replace('\0', "/"), msg };
    match v.split_first() {
        Some((0, body)) => bincode::deserialize(body).map_err(|e| corrupt(e.to_string())),
        Some((1, body)) => {
            let raw = decompress(body).map_err(|e| corrupt(format!("zstd: {e}")))?;
            bincode::deserialize(&raw).map_err(|e| corrupt(e.to_string()))
        }
        Some((t, _)) => Err(corrupt(format!("unknown value encoding tag {t}"))),
        None => Err(corrupt("empty value".into())),
    }
}

/// Largest decompressed value accepted (a frame that claims more is corrupt).
const MAX_VALUE_LEN: u64 = 1 << 30;

thread_local! {
    /// One zstd decompression context per thread, reused: creating a context per value cost
    /// more than the decompression itself (about 20 us of 27 us per record fetch).
    static DECOMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> = const { std::cell::RefCell::new(None) };
}

/// Decompress one zstd frame written by [`encode`] (which records the content size).
fn decompress(body: &[u8]) -> std::io::Result<Vec<u8>> {
    let size = match zstd::zstd_safe::get_frame_content_size(body) {
        Ok(Some(n)) if n <= MAX_VALUE_LEN => n as usize,
        // No size in the frame (not written by this encoder): the streaming decoder copes.
        Ok(None) => return zstd::stream::decode_all(body),
        Ok(Some(n)) => return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, format!("frame claims {n} bytes"))),
        Err(_) => return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "not a zstd frame")),
    };
    DECOMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some(zstd::bulk::Decompressor::new()?);
        }
        match slot.as_mut() {
            Some(d) => d.decompress(body, size),
            None => zstd::stream::decode_all(body),
        }
    })
}

/// bincode, then zstd when the value is long enough to gain; one tag byte in front
/// (0: plain, 1: zstd).
fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    let raw = bincode::serialize(v).expect("in-memory values always encode");
    if raw.len() >= COMPRESS_MIN_LEN {
        if let Ok(z) = zstd::bulk::compress(&raw, VALUE_ZSTD_LEVEL) {
            if z.len() < raw.len() {
                let mut out = Vec::with_capacity(z.len() + 1);
                out.push(1);
                out.extend_from_slice(&z);
                return out;
            }
        }
    }
    let mut out = Vec::with_capacity(raw.len() + 1);
    out.push(0);
    out.extend_from_slice(&raw);
    out
}

/// An open hopdb store.
pub struct Store {
    path: PathBuf,
    db: sled::Db,
    _lock: File,
    /// What this process knows of the record count: `(n, exact)`, where `exact == false` means
    /// "at least n". Reset by every [`Store::commit`] (the only write path; the store's flock
    /// keeps other processes out), so it is never stale.
    count_hint: std::sync::Mutex<(usize, bool)>,
}

/// The ids under one index term, kept as the raw index keys sled returned (no copy per id).
#[derive(Clone, Debug, Default)]
pub struct IdKeys {
    keys: Vec<sled::IVec>,
    /// Bytes before the id in each key.
    skip: usize,
}

impl IdKeys {
    /// Number of ids.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The ids as bytes, in index order.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.keys.iter().map(move |k| &k[self.skip..])
    }
}

/// A set of writes applied atomically by [`Store::commit`], with its audit entry.
#[derive(Default)]
pub struct WriteSet {
    batch: sled::Batch,
    /// Records written (for the audit count).
    pub records: u64,
    op: String,
    summary: String,
}

impl WriteSet {
    /// A new write set for operation `op` with a one-line summary.
    pub fn new(op: &str, summary: impl Into<String>) -> Self {
        WriteSet { batch: sled::Batch::default(), records: 0, op: op.to_string(), summary: summary.into() }
    }

    /// Insert a new record (and its host structure, its index and duplicate-bucket entries).
    pub fn insert_record(&mut self, r: &HopRecord, host: &Structure) {
        self.batch.insert(key(b's', &[r.host.0.as_bytes()]), encode(host));
        self.put_record(r);
        let mut b = dup_bucket(r, host);
        b.push(SEP);
        b.extend_from_slice(r.id.as_bytes());
        self.batch.insert(b, &[] as &[u8]);
    }

    /// Replace a record's value and move its index entries from `old` to `new`.
    pub fn update_record(&mut self, old: &HopRecord, new: &HopRecord) {
        for (f, v) in index_entries(old) {
            self.batch.remove(index_key(f, &v, &old.id));
        }
        for (f, x) in range_index_entries(old) {
            self.batch.remove(range_key(f, x, &old.id));
        }
        for (f, v) in composite_index_entries(old) {
            self.batch.remove(composite_key(f, &v, old.em, &old.id));
        }
        self.put_record(new);
    }

    fn put_record(&mut self, r: &HopRecord) {
        self.batch.insert(key(b'r', &[r.id.as_bytes()]), encode(r));
        for (f, v) in index_entries(r) {
            self.batch.insert(index_key(f, &v, &r.id), &[] as &[u8]);
        }
        for (f, x) in range_index_entries(r) {
            self.batch.insert(range_key(f, x, &r.id), &[] as &[u8]);
        }
        for (f, v) in composite_index_entries(r) {
            self.batch.insert(composite_key(f, &v, r.em, &r.id), &[] as &[u8]);
        }
        self.records += 1;
    }

    /// Set a class-label -> group mapping entry.
    pub fn set_class_group(&mut self, label: &str, group: &str) {
        self.batch.insert(key(b'g', &[label.as_bytes()]), group.as_bytes());
    }

    /// Put a raw key/value (for modules that own a keyspace, e.g. splits and models).
    pub fn put_raw(&mut self, k: Vec<u8>, v: Vec<u8>) {
        self.batch.insert(k, v);
    }

    /// Remove a raw key.
    pub fn remove_raw(&mut self, k: Vec<u8>) {
        self.batch.remove(k);
    }
}

/// sled settings: space-efficient mode (large import batches make sled write many page
/// versions); values are compressed by [`encode`], not by sled.
/// The error for a store directory whose sled tree has no schema version: damaged when the tree
/// or its data file holds anything, else not a store (an interrupted `init`).
fn missing_schema_version(store: &Store) -> StoreError {
    if let Some(mark) = store.watermark() {
        return StoreError::Damaged {
            path: Some(store.path.clone()),
            detail: format!("its schema version is missing, though it recorded writes up to audit entry {} ({}, {})", mark.seq, mark.at, mark.op),
        };
    }
    let keys = store.db.len();
    let file_bytes = std::fs::metadata(store.path.join("data").join("db")).map(|m| m.len()).unwrap_or(0);
    if keys > 0 {
        StoreError::Damaged { path: Some(store.path.clone()), detail: format!("its schema version is missing but it holds {keys} keys") }
    } else if file_bytes > 0 {
        StoreError::Damaged {
            path: Some(store.path.clone()),
            detail: format!("sled recovered no keys from a data file of {file_bytes} bytes (a truncated file or a lost snapshot)"),
        }
    } else {
        StoreError::NotAStore(store.path.clone())
    }
}

/// The file beside sled's directory that records the store's last durable write.
pub const WATERMARK_FILE: &str = "hopdb.state";

fn sled_config(dir: &Path) -> sled::Config {
    sled::Config::new().path(dir.join("data")).mode(sled::Mode::LowSpace)
}

fn lock_file(dir: &Path) -> Result<File> {
    use fs2::FileExt;
    let lp = dir.join("hopdb.lock");
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lp)
        .map_err(|e| StoreError::Io { path: lp.clone(), source: e })?;
    f.try_lock_exclusive().map_err(|_| StoreError::Locked(dir.to_path_buf()))?;
    Ok(f)
}

impl Store {
    /// A sled error as a store error, naming this store when it is a corruption.
    fn sled_error(&self, e: sled::Error) -> StoreError {
        StoreError::from(e).at(&self.path)
    }

    /// Create a new, empty store at `path` (a directory that must not exist or be empty).
    pub fn create(path: impl AsRef<Path>) -> Result<Store> {
        let path = path.as_ref();
        if path.join("data").is_dir() {
            return Err(StoreError::AlreadyExists(path.to_path_buf()));
        }
        if path.exists() {
            let empty = path.is_dir() && std::fs::read_dir(path).map(|mut d| d.next().is_none()).unwrap_or(false);
            if !empty {
                return Err(StoreError::NotEmpty(path.to_path_buf()));
            }
        }
        std::fs::create_dir_all(path).map_err(|e| StoreError::Io { path: path.to_path_buf(), source: e })?;
        let lock = lock_file(path)?;
        let db = sled_config(path).open()?;
        let mut ws = WriteSet::new("init", format!("created store (schema {SCHEMA_VERSION})"));
        ws.put_raw(key(b'm', &[b"schema_version"]), SCHEMA_VERSION.to_be_bytes().to_vec());
        ws.put_raw(key(b'm', &[b"created_at"]), now().into_bytes());
        for (label, group) in crate::record::classes::DEFAULT_CLASS_GROUPS {
            ws.set_class_group(label, group);
        }
        let store = Store { path: path.to_path_buf(), db, _lock: lock, count_hint: std::sync::Mutex::new((0, false)) };
        store.commit(ws)?;
        Ok(store)
    }

    /// Open an existing store; fails if it is locked, missing, or of another schema version.
    pub fn open(path: impl AsRef<Path>) -> Result<Store> {
        let path = path.as_ref();
        if !path.join("data").is_dir() {
            return Err(StoreError::NotAStore(path.to_path_buf()));
        }
        let lock = lock_file(path)?;
        let db = match sled_config(path).open() {
            Ok(db) => db,
            // Schema 1 stores were written with sled's compression on, which sled refuses to
            // open with it off: report it as the schema mismatch it is.
            Err(e) if e.to_string().contains("use_compression") => {
                return Err(StoreError::SchemaMismatch { path: path.to_path_buf(), found: 1, expected: SCHEMA_VERSION, hopdb: crate::HOPDB_VERSION })
            }
            Err(e) => return Err(StoreError::from(e).at(path)),
        };
        let ver = db.get(key(b'm', &[b"schema_version"])).map_err(|e| StoreError::from(e).at(path))?;
        let store = Store { path: path.to_path_buf(), db, _lock: lock, count_hint: std::sync::Mutex::new((0, false)) };
        match ver {
            None => Err(missing_schema_version(&store)),
            Some(v) => {
                let found = u32::from_be_bytes(v.as_ref().try_into().map_err(|_| StoreError::Corrupt {
                    key: "m/schema_version".into(),
                    msg: format!("{} bytes", v.len()),
                })?);
                if found == 2 {
                    store.upgrade_from_v2()?;
                    Ok(store)
                } else if found != SCHEMA_VERSION {
                    Err(StoreError::SchemaMismatch { path: path.to_path_buf(), found, expected: SCHEMA_VERSION, hopdb: crate::HOPDB_VERSION })
                } else {
                    store.check_watermark()?;
                    Ok(store)
                }
            }
        }
    }

    /// Schema 2 -> 3: add the composite indexes. Records are read in chunks and their keys
    /// written in batches; the schema version moves to 3 in the last batch, with its audit
    /// entry. An interrupted upgrade leaves version 2 and some composite keys, which are
    /// derived from the records alone, so the next open simply writes them again.
    fn upgrade_from_v2(&self) -> Result<()> {
        const CHUNK: usize = 20_000;
        let mut batch = sled::Batch::default();
        let mut pending = 0usize;
        let mut n = 0u64;
        for rec in self.records() {
            let r = rec?;
            for (f, v) in composite_index_entries(&r) {
                batch.insert(composite_key(f, &v, r.em, &r.id), &[] as &[u8]);
            }
            n += 1;
            pending += 1;
            if pending == CHUNK {
                self.db.apply_batch(std::mem::take(&mut batch)).map_err(|e| self.sled_error(e))?;
                pending = 0;
            }
        }
        self.db.apply_batch(batch).map_err(|e| self.sled_error(e))?;
        let mut ws = WriteSet::new("upgrade", format!("schema 2 -> {SCHEMA_VERSION}: composite (field, em) indexes for {n} records"));
        ws.put_raw(key(b'm', &[b"schema_version"]), SCHEMA_VERSION.to_be_bytes().to_vec());
        self.commit(ws)
    }

    /// Open a store for salvage: like [`Store::open`], except that a store that lost writes
    /// (see [`StoreError::Damaged`]) is opened all the same, with that error returned beside it,
    /// so that what is still intact can be read (`hopdb log`, `hopdb export`).
    pub fn open_for_salvage(path: impl AsRef<Path>) -> Result<(Store, Option<StoreError>)> {
        let path = path.as_ref();
        match Store::open(path) {
            Ok(s) => Ok((s, None)),
            Err(e @ StoreError::Damaged { .. }) if path.join(WATERMARK_FILE).is_file() => {
                // The open failed only on the watermark when sled itself opened: retry without it.
                let lock = lock_file(path)?;
                let db = sled_config(path).open().map_err(|_| e.clone_message())?;
                let store = Store { path: path.to_path_buf(), db, _lock: lock, count_hint: std::sync::Mutex::new((0, false)) };
                Ok((store, Some(e)))
            }
            Err(e) => Err(e),
        }
    }

    /// Open the store at `path`, creating it first when the path does not exist.
    pub fn open_or_create(path: impl AsRef<Path>) -> Result<Store> {
        let p = path.as_ref();
        if p.join("data").is_dir() {
            Store::open(p)
        } else {
            Store::create(p)
        }
    }

    /// Where the store lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Apply a write set atomically, with its audit entry, and flush it to disk.
    pub fn commit(&self, ws: WriteSet) -> Result<()> {
        let WriteSet { mut batch, records, op, summary } = ws;
        let seq = self.db.generate_id().map_err(|e| self.sled_error(e))?;
        let entry = AuditEntry {
            seq,
            at: now(),
            op,
            summary,
            records,
            user: std::env::var("USER").ok(),
            hopdb_version: crate::HOPDB_VERSION.to_string(),
        };
        batch.insert(key(b'a', &[&seq.to_be_bytes()]), encode(&entry));
        // Whatever the outcome, forget what was known of the record count.
        *self.count_hint.lock().unwrap_or_else(|e| e.into_inner()) = (0, false);
        self.db.apply_batch(batch).map_err(|e| self.sled_error(e))?;
        self.db.flush().map_err(|e| self.sled_error(e))?;
        self.write_watermark(&entry);
        Ok(())
    }

    /// Record the audit entry of the last durable write beside sled's files, so that an open
    /// can tell a store that lost writes (a damaged or truncated data file, from which sled
    /// recovers silently to an earlier state) from a healthy one. Best effort: written after
    /// sled's flush (so sled is never behind it) through a rename (so it is never half
    /// written); a failure to write it only weakens that check.
    fn write_watermark(&self, entry: &AuditEntry) {
        let tmp = self.path.join(format!("{WATERMARK_FILE}.tmp"));
        if let Ok(text) = serde_json::to_vec(entry) {
            if std::fs::write(&tmp, text).is_ok() {
                let _ = std::fs::rename(&tmp, self.path.join(WATERMARK_FILE));
            }
        }
    }

    /// The last write recorded beside sled (see [`Store::write_watermark`]), if readable.
    fn watermark(&self) -> Option<AuditEntry> {
        let bytes = std::fs::read(self.path.join(WATERMARK_FILE)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Fail with [`StoreError::Damaged`] when the last write recorded beside sled is not in
    /// the audit log: sled recovered an earlier state and the writes after it are lost.
    fn check_watermark(&self) -> Result<()> {
        let Some(mark) = self.watermark() else { return Ok(()) };
        if self.db.contains_key(key(b'a', &[&mark.seq.to_be_bytes()])).map_err(|e| self.sled_error(e))? {
            return Ok(());
        }
        let last = self.db.scan_prefix(key(b'a', &[])).next_back().transpose().map_err(|e| self.sled_error(e))?;
        let kept = match last.and_then(|(k, v)| decode::<AuditEntry>(&k, &v).ok()) {
            Some(e) => format!("its audit log ends at entry {} ({}, {}: {})", e.seq, e.at, e.op, crate::input::quote(&e.summary)),
            None => "its audit log is empty".to_string(),
        };
        Err(StoreError::Damaged {
            path: Some(self.path.clone()),
            detail: format!(
                "its last write, audit entry {} ({}, {}: {}), is missing: {kept}, so sled recovered an earlier state and the writes after it are lost",
                mark.seq,
                mark.at,
                mark.op,
                crate::input::quote(&mark.summary)
            ),
        })
    }

    /// Number of records, counted only up to `limit` (the result is then `limit`): enough to
    /// decide "more than half the store" without reading a large store's index to its end.
    /// Counts keys of the `fidelity` index (one small key per record), and remembers what it
    /// learnt until the next commit, so repeated queries in one process do not count again.
    pub fn record_count_up_to(&self, limit: usize) -> Result<usize> {
        {
            let hint = self.count_hint.lock().unwrap_or_else(|e| e.into_inner());
            if hint.1 || hint.0 >= limit {
                return Ok(hint.0.min(limit));
            }
        }
        let mut prefix = key(b'x', &[b"fidelity"]);
        prefix.push(SEP);
        let mut n = 0;
        for k in self.db.scan_prefix(&prefix).keys() {
            if n >= limit {
                break;
            }
            k.map_err(|e| self.sled_error(e))?;
            n += 1;
        }
        let mut hint = self.count_hint.lock().unwrap_or_else(|e| e.into_inner());
        if n > hint.0 || n < limit {
            *hint = (n, n < limit);
        }
        Ok(n)
    }

    /// Ids of records whose indexed `field` equals `value` (in id order, as raw keys), reading
    /// at most `limit` index keys; the flag is false when the limit cut the read short.
    pub fn id_keys_where(&self, field: &str, value: &str, limit: usize) -> Result<(IdKeys, bool)> {
        let mut prefix = key(b'x', &[field.as_bytes(), value.as_bytes()]);
        prefix.push(SEP);
        let mut keys = Vec::new();
        for k in self.db.scan_prefix(&prefix).keys() {
            if keys.len() >= limit {
                return Ok((IdKeys { keys, skip: prefix.len() }, false));
            }
            keys.push(k.map_err(|e| self.sled_error(e))?);
        }
        Ok((IdKeys { keys, skip: prefix.len() }, true))
    }

    /// Ids of records whose range-indexed `field` lies within the bounds (in value order, as
    /// raw keys), reading at most `limit` index keys; the flag is false when the limit cut the
    /// read short.
    pub fn id_keys_in_range(&self, field: &str, lo: std::ops::Bound<f64>, hi: std::ops::Bound<f64>, limit: usize) -> Result<(IdKeys, bool)> {
        self.id_keys_between(self.range_bounds(field, lo, hi), limit)
    }

    /// The keys in `[start, end)` as ids after `skip` bytes, at most `limit` of them; the flag
    /// is false when the limit cut the read short.
    fn id_keys_between(&self, (start, end, skip): (Vec<u8>, Vec<u8>, usize), limit: usize) -> Result<(IdKeys, bool)> {
        let mut keys = Vec::new();
        if start >= end {
            return Ok((IdKeys { keys, skip }, true));
        }
        for k in self.db.range(start..end).keys() {
            if keys.len() >= limit {
                return Ok((IdKeys { keys, skip }, false));
            }
            keys.push(k.map_err(|e| self.sled_error(e))?);
        }
        Ok((IdKeys { keys, skip }, true))
    }

    /// A record by id given as bytes (as in [`IdKeys`]).
    pub fn get_by_id_bytes(&self, id: &[u8]) -> Result<Option<HopRecord>> {
        let k = key(b'r', &[id]);
        match self.db.get(&k).map_err(|e| self.sled_error(e))? {
            Some(v) => Ok(Some(decode(&k, &v)?)),
            None => Ok(None),
        }
    }

    /// A record by id.
    pub fn get(&self, id: &str) -> Result<Option<HopRecord>> {
        let k = key(b'r', &[id.as_bytes()]);
        match self.db.get(&k).map_err(|e| self.sled_error(e))? {
            Some(v) => Ok(Some(decode(&k, &v)?)),
            None => Ok(None),
        }
    }

    /// A record by id, or [`StoreError::NotFound`].
    pub fn record(&self, id: &str) -> Result<HopRecord> {
        self.get(id)?.ok_or_else(|| StoreError::NotFound(id.to_string()))
    }

    /// The id of the record named `id_or_name`: the id itself when a record has it, else the
    /// one record whose `sys_name` it is ([`StoreError::NoSuchRecord`] when none,
    /// [`StoreError::AmbiguousName`] when several).
    pub fn resolve_id(&self, id_or_name: &str) -> Result<String> {
        if self.contains(id_or_name)? {
            return Ok(id_or_name.to_string());
        }
        let mut ids = self.ids_where("sys_name", id_or_name)?;
        match ids.len() {
            1 => Ok(ids.remove(0)),
            0 => Err(StoreError::NoSuchRecord(id_or_name.to_string())),
            _ => Err(StoreError::AmbiguousName { name: id_or_name.to_string(), ids }),
        }
    }

    /// True when a record with this id exists.
    pub fn contains(&self, id: &str) -> Result<bool> {
        Ok(self.db.contains_key(key(b'r', &[id.as_bytes()])).map_err(|e| self.sled_error(e))?)
    }

    /// A host structure by content address.
    pub fn structure(&self, sid: &StructureId) -> Result<Structure> {
        let k = key(b's', &[sid.0.as_bytes()]);
        match self.db.get(&k).map_err(|e| self.sled_error(e))? {
            Some(v) => decode(&k, &v),
            None => Err(StoreError::Corrupt { key: format!("s/{sid}"), msg: "host structure missing".into() }),
        }
    }

    /// Number of records.
    pub fn count(&self) -> usize {
        self.db.scan_prefix(key(b'r', &[])).count()
    }

    /// Stream every record in id order without loading the store into memory.
    pub fn records(&self) -> impl Iterator<Item = Result<HopRecord>> + '_ {
        self.db.scan_prefix(key(b'r', &[])).map(|kv| {
            let (k, v) = kv.map_err(|e| self.sled_error(e))?;
            decode(&k, &v)
        })
    }

    /// Ids of records whose indexed `field` equals `value`, in id order.
    pub fn ids_where(&self, field: &str, value: &str) -> Result<Vec<String>> {
        let mut prefix = key(b'x', &[field.as_bytes(), value.as_bytes()]);
        prefix.push(SEP);
        let mut out = Vec::new();
        for kv in self.db.scan_prefix(&prefix) {
            let (k, _) = kv.map_err(|e| self.sled_error(e))?;
            out.push(String::from_utf8_lossy(&k[prefix.len()..]).into_owned());
        }
        Ok(out)
    }

    /// Ids (in value order) of records whose range-indexed numeric `field` lies within the
    /// bounds.
    pub fn ids_in_range(&self, field: &str, lo: std::ops::Bound<f64>, hi: std::ops::Bound<f64>) -> Result<Vec<String>> {
        self.scan_range(field, lo, hi, true).map(|(ids, _)| ids)
    }

    /// Number of records whose range-indexed `field` lies within the bounds (reads keys only).
    pub fn count_in_range(&self, field: &str, lo: std::ops::Bound<f64>, hi: std::ops::Bound<f64>) -> Result<usize> {
        self.scan_range(field, lo, hi, false).map(|(_, n)| n)
    }

    /// Ids of records whose composite-indexed `field` equals `value` and whose `em` lies within
    /// the bounds (in `em` order, as raw keys), reading at most `limit` index keys; the flag is
    /// false when the limit cut the read short.
    pub fn id_keys_where_in_range(&self, field: &str, value: &str, lo: std::ops::Bound<f64>, hi: std::ops::Bound<f64>, limit: usize) -> Result<(IdKeys, bool)> {
        let mut prefix = key(b'c', &[field.as_bytes(), value.as_bytes(), COMPOSITE_RANGE_FIELD.as_bytes()]);
        prefix.push(SEP);
        self.id_keys_between(ordered_bounds(prefix, lo, hi), limit)
    }

    /// Key range `[start, end)` of a range-index probe and the length of the key before the id.
    fn range_bounds(&self, field: &str, lo: std::ops::Bound<f64>, hi: std::ops::Bound<f64>) -> (Vec<u8>, Vec<u8>, usize) {
        let mut prefix = key(b'n', &[field.as_bytes()]);
        prefix.push(SEP);
        ordered_bounds(prefix, lo, hi)
    }
}

/// Key range `[start, end)` over keys `prefix + 8 ordered value bytes + SEP + id` with the
/// value within the bounds, and the length of the key before the id.
fn ordered_bounds(prefix: Vec<u8>, lo: std::ops::Bound<f64>, hi: std::ops::Bound<f64>) -> (Vec<u8>, Vec<u8>, usize) {
    use std::ops::Bound::*;
    let at = |x: f64| {
        let mut k = prefix.clone();
        k.extend_from_slice(&encode_ordered(x));
        k
    };
    // Keys are prefix + 8 value bytes + SEP + id; 0xff after the value sorts past every id.
    let start = match lo {
        Unbounded => prefix.clone(),
        Included(x) => at(x),
        Excluded(x) => {
            let mut k = at(x);
            k.push(0xff);
            k
        }
    };
    let end = match hi {
        Unbounded => {
            let mut k = prefix.clone();
            k.extend_from_slice(&[0xff; 10]);
            k
        }
        Included(x) => {
            let mut k = at(x);
            k.push(0xff);
            k
        }
        Excluded(x) => at(x),
    };
    (start, end, prefix.len() + 9)
}

impl Store {
    fn scan_range(&self, field: &str, lo: std::ops::Bound<f64>, hi: std::ops::Bound<f64>, collect: bool) -> Result<(Vec<String>, usize)> {
        let (start, end, skip) = self.range_bounds(field, lo, hi);
        let mut ids = Vec::new();
        let mut n = 0;
        if start >= end {
            return Ok((ids, 0));
        }
        for kv in self.db.range(start..end) {
            let (k, _) = kv.map_err(|e| self.sled_error(e))?;
            n += 1;
            if collect {
                ids.push(String::from_utf8_lossy(&k[skip..]).into_owned());
            }
        }
        Ok((ids, n))
    }

    /// Distinct values of an indexed field with their record counts.
    pub fn index_counts(&self, field: &str) -> Result<BTreeMap<String, usize>> {
        let mut prefix = key(b'x', &[field.as_bytes()]);
        prefix.push(SEP);
        let mut out = BTreeMap::new();
        for kv in self.db.scan_prefix(&prefix) {
            let (k, _) = kv.map_err(|e| self.sled_error(e))?;
            let rest = &k[prefix.len()..];
            let end = rest.iter().position(|&b| b == SEP).unwrap_or(rest.len());
            *out.entry(String::from_utf8_lossy(&rest[..end]).into_owned()).or_insert(0) += 1;
        }
        Ok(out)
    }

    /// Ids of records in the duplicate-detection bucket of (ion, host formula).
    pub fn ids_in_bucket(&self, bucket: &[u8]) -> Result<Vec<String>> {
        let mut prefix = bucket.to_vec();
        prefix.push(SEP);
        let mut out = Vec::new();
        for kv in self.db.scan_prefix(&prefix) {
            let (k, _) = kv.map_err(|e| self.sled_error(e))?;
            out.push(String::from_utf8_lossy(&k[prefix.len()..]).into_owned());
        }
        Ok(out)
    }

    /// The class-label -> structural-group mapping.
    pub fn class_groups(&self) -> Result<BTreeMap<String, String>> {
        let prefix = key(b'g', &[]);
        let mut out = BTreeMap::new();
        for kv in self.db.scan_prefix(&prefix) {
            let (k, v) = kv.map_err(|e| self.sled_error(e))?;
            out.insert(String::from_utf8_lossy(&k[prefix.len() + 1..]).into_owned(), String::from_utf8_lossy(&v).into_owned());
        }
        Ok(out)
    }

    /// Map a published class label to a structural group, re-deriving the group of every
    /// record that carries the label, atomically, with a reason in each record's history.
    pub fn set_class_group(&self, label: &str, group: &str, reason: &str) -> Result<usize> {
        let label = label.trim();
        let group = group.trim();
        if label.is_empty() || group.is_empty() {
            return Err(StoreError::Invalid("class label and group must not be empty".into()));
        }
        let ids = self.ids_where("class", label)?;
        let mut ws = WriteSet::new("map-class", format!("class '{label}' -> group '{group}': {reason}"));
        ws.set_class_group(label, group);
        let mut changed = 0;
        for id in &ids {
            let old = self.record(id)?;
            if old.material.group.as_deref() == Some(group) {
                continue;
            }
            let mut new = old.clone();
            new.revisions.push(crate::record::Revision {
                at: now(),
                field: "group".into(),
                old: old.material.group.clone().unwrap_or_default(),
                new: group.into(),
                reason: reason.into(),
            });
            new.material.group = Some(group.to_string());
            ws.update_record(&old, &new);
            changed += 1;
        }
        self.commit(ws)?;
        Ok(changed)
    }

    /// The audit log, oldest first.
    pub fn audit_log(&self) -> Result<Vec<AuditEntry>> {
        self.db
            .scan_prefix(key(b'a', &[]))
            .map(|kv| {
                let (k, v) = kv.map_err(|e| self.sled_error(e))?;
                decode(&k, &v)
            })
            .collect()
    }

    /// Size of the store's files on disk, in bytes.
    pub fn size_on_disk(&self) -> Result<u64> {
        Ok(self.db.size_on_disk().map_err(|e| self.sled_error(e))?)
    }

    /// Read a raw value (for modules that own a keyspace).
    pub fn get_raw(&self, k: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.db.get(k).map_err(|e| self.sled_error(e))?.map(|v| v.to_vec()))
    }

    /// Scan a raw key prefix (for modules that own a keyspace).
    pub fn scan_raw(&self, prefix: &[u8]) -> impl Iterator<Item = Result<(Vec<u8>, Vec<u8>)>> + '_ {
        self.db.scan_prefix(prefix).map(|kv| {
            let (k, v) = kv.map_err(|e| self.sled_error(e))?;
            Ok((k.to_vec(), v.to_vec()))
        })
    }

    /// Distinct host structure ids referenced by the store.
    pub fn structure_ids(&self) -> Result<BTreeSet<StructureId>> {
        let prefix = key(b's', &[]);
        self.db
            .scan_prefix(&prefix)
            .keys()
            .map(|k| Ok(StructureId(String::from_utf8_lossy(&k.map_err(|e| self.sled_error(e))?[prefix.len() + 1..]).into_owned())))
            .collect()
    }
}

impl Store {
    /// Apply curator edits to one record atomically; each appends a revision with the reason.
    pub fn edit(&self, id: &str, edits: &[crate::record::Edit], reason: &str) -> Result<HopRecord> {
        if edits.is_empty() {
            return Err(StoreError::Invalid("nothing to edit: give at least one change (e.g. --em 0.42)".into()));
        }
        let old = self.record(id)?;
        let mut new = old.clone();
        let at = now();
        for e in edits {
            new.apply_edit(e, reason, &at).map_err(StoreError::Invalid)?;
        }
        let mut ws = WriteSet::new("edit", format!("{id}: {reason}"));
        ws.update_record(&old, &new);
        self.commit(ws)?;
        Ok(new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_through_every_encoding() {
        let long: Vec<String> = (0..64).map(|i| format!("value number {i}")).collect();
        // Long enough to be compressed (tag 1, content size in the frame), and short (tag 0).
        let enc = encode(&long);
        assert_eq!(enc[0], 1);
        assert_eq!(decode::<Vec<String>>(b"k", &enc).unwrap(), long);
        let short = vec!["a".to_string()];
        assert_eq!(encode(&short)[0], 0);
        assert_eq!(decode::<Vec<String>>(b"k", &encode(&short)).unwrap(), short);
        // A frame without a content size (a streaming encoder) still decodes.
        let raw = bincode::serialize(&long).unwrap();
        let mut streamed = vec![1u8];
        let mut enc_stream = zstd::stream::Encoder::new(Vec::new(), 3).unwrap();
        std::io::Write::write_all(&mut enc_stream, &raw).unwrap();
        streamed.extend(enc_stream.finish().unwrap());
        assert_eq!(zstd::zstd_safe::get_frame_content_size(&streamed[1..]).ok().flatten(), None, "the streaming frame has no size");
        assert_eq!(decode::<Vec<String>>(b"k", &streamed).unwrap(), long);
        // Damaged values are errors that name the key, never panics.
        let mut bad = enc.clone();
        bad.truncate(bad.len() / 2);
        let e = decode::<Vec<String>>(b"r\0x", &bad).unwrap_err().to_string();
        assert!(e.contains("r/x") && e.contains("zstd"), "{e}");
        let e = decode::<Vec<String>>(b"k", &[1, 0, 1, 2, 3]).unwrap_err().to_string();
        assert!(e.contains("zstd"), "{e}");
        let e = decode::<Vec<String>>(b"k", &[7, 1]).unwrap_err().to_string();
        assert!(e.contains("unknown value encoding tag 7"), "{e}");
    }
}
