//! Importers: turn source files into validated [`Candidate`]s, detect duplicates, and commit
//! them to the store all-or-nothing.
//!
//! Every format-specific reader ([`devi`], [`litraj`], [`generic`]) produces candidates (or
//! per-record rejections naming file, record and field); [`commit_stream`] validates,
//! deduplicates and writes them all-or-nothing in bounded memory (one atomic batch for a small
//! import, a staged write of many batches published at once for a large one). By default one invalid record rejects the whole import;
//! with `skip_invalid` the valid ones are imported and every rejected one is reported.

pub mod devi;
pub mod generic;
pub mod jsonl;
pub mod litraj;
pub mod source;

use crate::element::Element;
use crate::record::{HopRecord, StructureId};
use crate::store::{self, Store, StoreError, WriteSet};
use crate::structure::{self, Structure, Vec3};
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Largest barrier accepted as plausible, in eV.
pub const MAX_PLAUSIBLE_EM: f64 = 20.0;
/// Two atoms closer than this (Angstrom) overlap.
pub const OVERLAP_DISTANCE: f64 = 0.5;
/// Host sites of one element closer than this are a duplicated site (flagged, not rejected).
pub const DUPLICATE_SITE_DISTANCE: f64 = 0.05;
/// Tolerance (Angstrom) for two hops to count as the same hop.
pub const SAME_HOP_TOLERANCE: f64 = 0.05;
/// Two records of the same hop whose barriers differ by no more than this (eV) are duplicates.
pub const DUPLICATE_EM_TOLERANCE: f64 = 1e-6;
/// Flag on a record whose hop is already stored with another barrier.
pub const CONFLICTING_DUPLICATE_FLAG: &str = "same-hop-other-em";
/// Tolerance (Angstrom) for band images to lie on the straight line between the endpoints.
pub const BAND_LINEARITY_TOLERANCE: f64 = 0.05;

/// A record read from a source, not yet validated against the store.
#[derive(Clone, Debug)]
pub struct Candidate {
    /// The record (its `host` id already set from `host`).
    pub record: HopRecord,
    /// Its host structure.
    pub host: Structure,
    /// Where it came from, for messages: `file, record N (name)`.
    pub origin: String,
}

/// A record that could not be imported, and why.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Rejection {
    /// Where it came from (file, record number, name).
    pub origin: String,
    /// Why, naming the field.
    pub reason: String,
}

/// The parts of a [`Rejection`], for callers that want them separately (the Python package's
/// `ImportRejected.rejections`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RejectionParts {
    /// The source file (empty when the origin names none, e.g. structures handed over in memory).
    pub file: String,
    /// The record within the file: `record 3 (LiCoO2_1)`, `line 4 (id)`, `frame 2 (line 7)`,
    /// or the whole origin when it has no file part.
    pub record: String,
    /// The field the reason names (`field em: ...` gives `em`), empty when it names none.
    pub field: String,
    /// The reason, without the `field NAME: ` prefix.
    pub message: String,
}

impl Rejection {
    /// Split the origin and reason into file, record, field and message. Every reader writes
    /// its origin as `FILE, RECORD` (`FILE, record N (name)`, `FILE, line N (id)`,
    /// `FILE, frame N (...)`) and names the field as a `field NAME: ` prefix of the reason; an
    /// origin without `, ` (e.g. `a.cif -> b.cif`) is all record.
    pub fn parts(&self) -> RejectionParts {
        let starts = ["record ", "line ", "frame ", "frames "];
        let at = self.origin.match_indices(", ").map(|(i, _)| i).find(|&i| starts.iter().any(|s| self.origin[i + 2..].starts_with(s)));
        let (file, record) = match at {
            Some(at) => (self.origin[..at].to_string(), self.origin[at + 2..].to_string()),
            None => (String::new(), self.origin.clone()),
        };
        let (field, message) = match self.reason.strip_prefix("field ").and_then(|r| r.split_once(": ")) {
            Some((f, m)) if !f.is_empty() && !f.contains(' ') => (f.to_string(), m.to_string()),
            _ => (String::new(), self.reason.clone()),
        };
        RejectionParts { file, record, field, message }
    }
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let line = format!("{}: {}", self.origin, self.reason);
        f.write_str(&crate::input::cap_message(&line))
    }
}

/// Rejections listed in an [`ImportError::Invalid`] message; the rest are counted.
pub const MAX_LISTED_REJECTIONS: usize = 20;

fn list_rejections(rej: &[Rejection]) -> String {
    let mut out: Vec<String> = rej.iter().take(MAX_LISTED_REJECTIONS).map(|r| format!("  - {r}")).collect();
    if rej.len() > MAX_LISTED_REJECTIONS {
        out.push(format!("  ... and {} more", rej.len() - MAX_LISTED_REJECTIONS));
    }
    out.join("\n")
}

/// Import options.
#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    /// Import the valid records and report the invalid ones, instead of rejecting all.
    pub skip_invalid: bool,
    /// Reject records with data-quality flags (duplicated sites, endpoints or band near host atoms).
    pub strict: bool,
    /// Validate and report without writing.
    pub dry_run: bool,
    /// Records per write batch of a large import (0: [`DEFAULT_BATCH_RECORDS`]); bounds the
    /// import's memory, see [`commit_stream`].
    pub batch_records: usize,
}

/// What an import did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ImportReport {
    /// Ids of the records added.
    pub added: Vec<String>,
    /// (origin, id of the existing record it duplicates).
    pub duplicates: Vec<(String, String)>,
    /// Records rejected (only non-empty with `skip_invalid`).
    pub rejected: Vec<Rejection>,
    /// (id, flags) of added records that carry data-quality flags.
    pub flagged: Vec<(String, Vec<String>)>,
}

/// Import failures. Nothing was written when one of these is returned.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// One or more records are invalid (and `skip_invalid` was not given).
    #[error("{} invalid record(s); nothing was imported:\n{}", .0.len(), list_rejections(.0))]
    Invalid(Vec<Rejection>),
    /// A source file could not be read or parsed at all.
    #[error("{}: {}", file.display(), crate::input::cap_message(msg))]
    Malformed {
        /// The file.
        file: PathBuf,
        /// What is wrong and where.
        msg: String,
    },
    /// Store failure.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// sha256 of a file's bytes, hex, plus the bytes.
pub fn read_with_sha(path: &Path) -> Result<(Vec<u8>, String), ImportError> {
    use sha2::{Digest, Sha256};
    let bytes = std::fs::read(path).map_err(|e| ImportError::Malformed { file: path.to_path_buf(), msg: format!("cannot read: {e}") })?;
    let sha = hex::encode(Sha256::digest(&bytes));
    Ok((bytes, sha))
}


/// Fill in the derived fields of a record from its host: host id, atom count, elements, volume.
pub fn finish_record(r: &mut HopRecord, host: &Structure) {
    r.host = StructureId::of(host);
    r.host_natoms = host.len() as u32;
    let mut el: Vec<Element> = host.elements();
    el.push(r.ion);
    el.sort();
    el.dedup();
    r.elements = el;
    r.volume = host.lattice.volume();
    r.hop_length = r.compute_hop_length(host);
    r.material.formula = r.initial_structure(host).formula();
}

/// How far (Angstrom) the mobile ion must move between two endpoint structures, and how
/// close every other atom must stay ([`hop_from_endpoints`]); the value `hopdb add` uses.
pub const ENDPOINT_TOLERANCE: f64 = 0.1;

/// A record and its host for a hop given by its two endpoint structures, built as an import
/// builds them: the hop from [`hop_from_endpoints`] (the ion inferred when `ion` is `None`),
/// the derived fields from [`finish_record`]. The record has id `id`, no barrier (`em` 0, dft
/// fidelity) and no metadata: a transient record for screening, never committed as is.
pub fn record_from_endpoints(id: &str, initial: &Structure, final_: &Structure, ion: Option<Element>) -> Result<(HopRecord, Structure), String> {
    let hop = hop_from_endpoints(initial, final_, ion, ENDPOINT_TOLERANCE)?;
    let mut r = HopRecord::new(id, hop.ion, hop.initial, hop.final_site, 0.0, crate::record::Fidelity::Dft);
    finish_record(&mut r, &hop.host);
    Ok((r, hop.host))
}

/// The final site of a hop given by two positions read from files: the shortest periodic
/// image ([`nearest_image`]), except when the displacement as written is just as short but
/// points elsewhere (a hop of half a lattice vector has two shortest images, two different
/// paths): then the files say which path is meant and the written final site is kept.
pub fn hop_image(lattice: &structure::Lattice, initial: Vec3, final_site: Vec3) -> Vec3 {
    let near = nearest_image(lattice, initial, final_site);
    let len = |f: Vec3| structure::norm(lattice.to_cart(structure::sub(f, initial)));
    let other_point = structure::norm(lattice.to_cart(structure::sub(final_site, near))) > 1e-6;
    if other_point && len(final_site) <= len(near) + 1e-6 {
        final_site
    } else {
        near
    }
}

/// Unwrap `final_site` so the hop initial -> final is the shortest periodic image.
pub fn nearest_image(lattice: &structure::Lattice, initial: Vec3, final_site: Vec3) -> Vec3 {
    let v = lattice.min_image_vector(initial, final_site);
    structure::add(initial, lattice.to_frac(v))
}

/// Validate one candidate: hard errors are returned as `Err(reason)`; data-quality issues are
/// returned as flags (rejected only in strict mode).
pub fn validate(c: &Candidate, strict: bool) -> Result<Vec<String>, String> {
    let r = &c.record;
    if !r.em.is_finite() {
        return Err(format!("field em: barrier is {} (not a number)", r.em));
    }
    if r.em < 0.0 {
        return Err(format!("field em: negative barrier {} eV", r.em));
    }
    if r.em > MAX_PLAUSIBLE_EM {
        return Err(format!("field em: barrier {} eV is implausible (> {MAX_PLAUSIBLE_EM} eV)", r.em));
    }
    if c.host.is_empty() {
        return Err("host structure has no atoms besides the mobile ion".into());
    }
    let images = r.images.iter().map(|&p| ("image", p));
    for (what, site) in [("initial", r.initial), ("final", r.final_site)].into_iter().chain(images) {
        if let Some(x) = site.iter().find(|x| !x.is_finite() || x.abs() > structure::MAX_COORDINATE) {
            return Err(format!("field {what} site: fractional coordinate {x} is not a finite number of at most {:e} cells", structure::MAX_COORDINATE));
        }
    }
    let lat = &c.host.lattice;
    let hop = r.compute_hop_length(&c.host);
    if hop < OVERLAP_DISTANCE {
        return Err(format!("initial and final sites coincide (hop length {hop:.3} A)"));
    }
    let mut flags = Vec::new();
    // Host overlaps.
    if let Some((i, j, d)) = c.host.closest_pair_within(OVERLAP_DISTANCE) {
        let same = c.host.species[i] == c.host.species[j];
        if same && d < DUPLICATE_SITE_DISTANCE && i != j {
            flags.push("duplicated-host-site".to_string());
        } else {
            return Err(format!(
                "overlapping atoms: host sites {i} ({}) and {j} ({}) are {d:.3} A apart (< {OVERLAP_DISTANCE} A)",
                c.host.species[i], c.host.species[j]
            ));
        }
    }
    // Endpoints and the straight band against the host.
    let loc = structure::neighbors::PointLocator::new(&c.host, 3.0);
    let near = |f: Vec3| loc.nearest(lat.to_cart(f)).map(|n| n.distance).unwrap_or(f64::INFINITY);
    if near(r.initial).min(near(r.final_site)) < OVERLAP_DISTANCE {
        flags.push("endpoint-near-host-atom".to_string());
    }
    let mut min_band = f64::INFINITY;
    for k in 1..20 {
        min_band = min_band.min(near(structure::lerp(r.initial, r.final_site, k as f64 / 20.0)));
    }
    if min_band < OVERLAP_DISTANCE {
        flags.push("band-near-host-atom".to_string());
    }
    if strict && !flags.is_empty() {
        return Err(format!("strict mode: data-quality flags {}", flags.join(", ")));
    }
    Ok(flags)
}

/// True when two hops are the same: same ion, same host (species, lattice and sites within
/// `tol`, whatever the atom order or periodic image) and the same endpoints (either direction).
pub fn same_hop(a: &HopRecord, ha: &Structure, b: &HopRecord, hb: &Structure, tol: f64) -> bool {
    if a.ion != b.ion || ha.len() != hb.len() {
        return false;
    }
    let (la, lb) = (ha.lattice.matrix(), hb.lattice.matrix());
    for i in 0..3 {
        if structure::norm(structure::sub(la[i], lb[i])) > tol {
            return false;
        }
    }
    let lat = &ha.lattice;
    let d = |x: Vec3, y: Vec3| lat.min_image_distance(x, y);
    let hop_a = lat.to_cart(structure::sub(a.final_site, a.initial));
    let hop_b = lat.to_cart(structure::sub(b.final_site, b.initial));
    let forward = d(a.initial, b.initial) < tol && structure::norm(structure::sub(hop_a, hop_b)) < tol;
    let backward = d(a.initial, b.final_site) < tol && structure::norm(structure::add(hop_a, hop_b)) < tol;
    if !(forward || backward) {
        return false;
    }
    if a.host == b.host {
        return true;
    }
    same_sites(ha, hb, tol)
}

/// True when every site of `a` has a site of the same element in `b` within `tol` (minimum
/// image, `a`'s lattice) and the counts agree.
pub fn same_sites(a: &Structure, b: &Structure, tol: f64) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut ca = a.species.clone();
    let mut cb = b.species.clone();
    ca.sort();
    cb.sort();
    if ca != cb {
        return false;
    }
    let shifted = Structure { lattice: a.lattice.clone(), species: b.species.clone(), frac: b.frac.clone() };
    let loc = structure::neighbors::PointLocator::new(&shifted, tol.max(0.5));
    a.frac.iter().zip(&a.species).all(|(f, e)| {
        loc.within(a.lattice.to_cart(*f), tol).iter().any(|n| shifted.species[n.index] == *e)
    })
}

/// Validate, deduplicate and write candidates all-or-nothing ([`commit_stream`] over the
/// reader's errors, then the candidates).
///
/// `read_errors` are records the reader could not turn into candidates at all; they count as
/// invalid records. Returns the report; on error nothing was written.
pub fn commit(
    store: &Store,
    candidates: Vec<Candidate>,
    read_errors: Vec<Rejection>,
    opts: &ImportOptions,
    summary: &str,
) -> Result<ImportReport, ImportError> {
    let items = read_errors.into_iter().map(|r| Ok(Err(r))).chain(candidates.into_iter().map(|c| Ok(Ok(c))));
    commit_stream(store, items, opts, summary)
}

/// One item a streaming reader yields: a candidate, or a record it could not turn into one.
pub type ReadItem = Result<Candidate, Rejection>;

/// Records per write batch of an import unless [`ImportOptions::batch_records`] says otherwise.
pub const DEFAULT_BATCH_RECORDS: usize = 2_000;

/// Fewest records an import must write before [`worth_compacting`] says yes.
pub const COMPACT_AFTER_RECORDS: usize = 10_000;

/// Whether a store is worth compacting ([`Store::compact`]) after an import that wrote
/// `written` records: when they are at least [`COMPACT_AFTER_RECORDS`] and at least half of the
/// store's records (the import at least doubled it). sled's files after such an import are
/// about twice what a compaction leaves (docs/benchmarks.md), and the compaction costs about a
/// fifth of the import's time.
pub fn worth_compacting(store: &Store, written: usize) -> Result<bool, ImportError> {
    if written < COMPACT_AFTER_RECORDS {
        return Ok(false);
    }
    Ok(store.record_count_up_to(2 * written + 1)? <= 2 * written)
}

/// Validate, deduplicate and write a stream of candidates, all-or-nothing, in bounded memory.
///
/// Candidates are validated as they arrive and written in batches of
/// [`ImportOptions::batch_records`]. An import that fits one batch is one atomic write, as
/// every write is. A larger one is a staged write ([`Store::begin_staged`]): its batches land
/// one by one, invisible as a write until the last one is published by a single atomic write,
/// and rolled back (now on an error, by the next open after a crash) otherwise. Memory is the
/// current batch and the ids seen so far, whatever the size of the source.
///
/// A duplicate is the same hop ([`same_hop`]) with the same barrier, already in the store or
/// earlier in the import (earlier batches are in the store by then, so the check is exact
/// across batches): it is reported and skipped. The same hop with another barrier is a
/// second published value: it is imported, flagged [`CONFLICTING_DUPLICATE_FLAG`] and noted.
///
/// Without `skip_invalid`, the first invalid record stops the writing; the rest of the stream
/// is still read so that the error lists every invalid record, and nothing is kept. A reader
/// error (`Err` item: a file that cannot be delimited) stops the import, keeping nothing. A
/// dry run of a multi-batch import writes its batches and rolls them back, so that its report
/// is the report of the real import.
pub fn commit_stream(
    store: &Store,
    items: impl IntoIterator<Item = Result<ReadItem, ImportError>>,
    opts: &ImportOptions,
    summary: &str,
) -> Result<ImportReport, ImportError> {
    let per_batch = if opts.batch_records == 0 { DEFAULT_BATCH_RECORDS } else { opts.batch_records };
    let mut report = ImportReport::default();
    let mut rejected: Vec<Rejection> = Vec::new();
    let mut seen_ids: HashMap<String, String> = HashMap::new();
    let mut pending: Vec<(Candidate, Vec<String>)> = Vec::new();
    let mut staged: Option<store::StagedWrite<'_>> = None;
    // Progress: a spinner with the records read and written (the total is unknown while the
    // source streams).
    let task = crate::progress::start("import", 0);
    let (mut read, mut written) = (0u64, 0u64);
    for item in items {
        read += 1;
        if read % 1000 == 0 {
            task.message(&format!("{read} records read, {written} written"));
        }
        // An error drops `staged`, which rolls the batches back.
        match item? {
            Err(r) => rejected.push(r),
            Ok(c) => {
                if let Some(prev) = seen_ids.get(&c.record.id) {
                    rejected.push(Rejection { origin: c.origin.clone(), reason: format!("record id {} appears twice in this import (also at {prev})", crate::input::quote(&c.record.id)) });
                    continue;
                }
                seen_ids.insert(c.record.id.clone(), c.origin.clone());
                match validate(&c, opts.strict) {
                    Ok(flags) => pending.push((c, flags)),
                    Err(reason) => rejected.push(Rejection { origin: c.origin.clone(), reason }),
                }
            }
        }
        if !rejected.is_empty() && !opts.skip_invalid {
            // Keep reading to report every invalid record; write nothing more.
            pending.clear();
            continue;
        }
        if pending.len() >= per_batch {
            let ws = deduplicate(store, std::mem::take(&mut pending), opts, summary, &mut report)?;
            let st = match staged.as_mut() {
                Some(st) => st,
                None => staged.insert(store.begin_staged("import", summary)?),
            };
            written += ws.records;
            st.apply(ws)?;
            task.message(&format!("{read} records read, {written} written"));
        }
    }
    if !rejected.is_empty() && !opts.skip_invalid {
        if let Some(st) = staged {
            st.abort()?;
        }
        return Err(ImportError::Invalid(rejected));
    }
    report.rejected = rejected;
    let ws = deduplicate(store, pending, opts, summary, &mut report)?;
    match staged {
        None => {
            if !opts.dry_run && ws.records > 0 {
                store.commit(ws)?;
            }
        }
        Some(mut st) => {
            st.apply(ws)?;
            if opts.dry_run || st.records() == 0 {
                st.abort()?;
            } else {
                st.publish()?;
            }
        }
    }
    Ok(report)
}

/// Deduplicate one batch of valid candidates against the store (which holds the import's
/// earlier batches) and against each other: the write set of the batch, the report updated.
fn deduplicate(store: &Store, valid: Vec<(Candidate, Vec<String>)>, opts: &ImportOptions, summary: &str, report: &mut ImportReport) -> Result<WriteSet, ImportError> {
    let mut batch = Batch {
        store,
        host_cache: HashMap::new(),
        probes: HashMap::new(),
        batch_buckets: HashMap::new(),
        accepted: Vec::new(),
        accepted_index: HashMap::new(),
        touched: HashMap::new(),
    };
    for (mut c, flags) in valid {
        if batch.known_id(&c, opts, report)? {
            continue;
        }
        // Same hop already stored or earlier in this import: the same barrier is a duplicate
        // (skipped); another barrier for the same hop is kept and flagged for curation.
        let bucket = store::dup_bucket(&c.record, &c.host);
        if let Some((id, em)) = batch.find_same_hop(&c)? {
            if (em - c.record.em).abs() <= DUPLICATE_EM_TOLERANCE {
                report.duplicates.push((c.origin.clone(), id));
                continue;
            }
            batch.flag_conflict(&mut c, &id, em)?;
        }
        batch.accept(c, flags, bucket);
    }
    batch.write_set(summary, report)
}

/// What a duplicate probe depends on: ion, host formula and the bits of the cell's vectors.
type ProbeKey = (Element, String, [u64; 9]);

/// One duplicate probe of the store (see [`Batch::probes`]).
struct Probe {
    /// The buckets a duplicate may sit in ([`store::dup_probe_buckets`]).
    buckets: Vec<Vec<u8>>,
    /// Stored records in them whose cell may match.
    stored: Vec<String>,
}

/// The state of one import while its valid candidates are deduplicated against the store
/// and against each other.
struct Batch<'s> {
    store: &'s Store,
    /// Hosts of stored records read so far.
    host_cache: HashMap<StructureId, Structure>,
    /// Duplicate probes made so far, by ion, host formula and cell (what a probe depends on):
    /// the buckets probed and the stored records in them whose cell may match. The store does
    /// not change while a batch is deduplicated, so the hops in one cell (most of a corpus: a
    /// structure has many hops, each host being the structure less the hop's sites) share one
    /// probe of the store.
    probes: HashMap<ProbeKey, Probe>,
    /// Hops accepted in this batch, by duplicate bucket, to catch duplicates within the import.
    batch_buckets: HashMap<Vec<u8>, Vec<usize>>,
    /// Candidates accepted so far, with their validation flags.
    accepted: Vec<(Candidate, Vec<String>)>,
    /// Index into `accepted` by record id.
    accepted_index: HashMap<String, usize>,
    /// Stored records updated by this import (conflict flags): id -> (old, new).
    touched: HashMap<String, (HopRecord, HopRecord)>,
}

impl Batch<'_> {
    /// Whether the candidate's id is already in the store, and so handled: the same hop is a
    /// duplicate (reported); another hop under that id is rejected, or fails the import
    /// unless invalid records are skipped.
    fn known_id(&mut self, c: &Candidate, opts: &ImportOptions, report: &mut ImportReport) -> Result<bool, ImportError> {
        let Some(existing) = self.store.get(&c.record.id)? else {
            return Ok(false);
        };
        let host = cached_host(self.store, &mut self.host_cache, &existing.host)?;
        if same_hop(&c.record, &c.host, &existing, &host, SAME_HOP_TOLERANCE) {
            report.duplicates.push((c.origin.clone(), existing.id.clone()));
            return Ok(true);
        }
        let reason = format!("record id {} already exists in the store with a different hop; edit it with `hopdb edit` instead", crate::input::quote(&c.record.id));
        if opts.skip_invalid {
            report.rejected.push(Rejection { origin: c.origin.clone(), reason });
            return Ok(true);
        }
        Err(ImportError::Invalid(vec![Rejection { origin: c.origin.clone(), reason }]))
    }

    /// The id and barrier of a record with the same hop as the candidate: first in the
    /// store, then among the hops accepted earlier in this import (`None` if neither has one).
    fn find_same_hop(&mut self, c: &Candidate) -> Result<Option<(String, f64)>, ImportError> {
        let lattice = c.host.lattice.matrix();
        let probe_key = (c.record.ion, c.host.formula(), std::array::from_fn(|k| lattice[k / 3][k % 3].to_bits()));
        let probe = match self.probes.remove(&probe_key) {
            Some(p) => p,
            None => {
                let buckets = store::dup_probe_buckets(&c.record, &c.host, SAME_HOP_TOLERANCE);
                let mut stored = Vec::new();
                for b in &buckets {
                    // Only the entries whose cell may match: the lattice test of `same_hop`,
                    // without reading the record or its host.
                    stored.extend(self.store.ids_in_bucket_near(b, Some((&c.host.lattice, SAME_HOP_TOLERANCE)))?);
                }
                Probe { buckets, stored }
            }
        };
        let found = self.same_hop_in(c, &probe);
        self.probes.insert(probe_key, probe);
        found
    }

    /// The first record of the same hop as `c` among the stored records of its probe, then
    /// among the hops accepted in this batch under the probe's buckets.
    fn same_hop_in(&mut self, c: &Candidate, probe: &Probe) -> Result<Option<(String, f64)>, ImportError> {
        for id in &probe.stored {
            let other = self.store.record(id)?;
            if !comparable_barriers(&c.record, &other) {
                continue;
            }
            let host = cached_host(self.store, &mut self.host_cache, &other.host)?;
            if same_hop(&c.record, &c.host, &other, &host, SAME_HOP_TOLERANCE) {
                return Ok(Some((id.clone(), other.em)));
            }
        }
        for &k in probe.buckets.iter().flat_map(|b| self.batch_buckets.get(b).map(|v| v.as_slice()).unwrap_or(&[])) {
            let (o, _) = &self.accepted[k];
            if comparable_barriers(&c.record, &o.record) && same_hop(&c.record, &c.host, &o.record, &o.host, SAME_HOP_TOLERANCE) {
                return Ok(Some((o.record.id.clone(), o.record.em)));
            }
        }
        Ok(None)
    }

    /// Flag both records of a conflicting pair, the candidate and record `id` (barrier `em`,
    /// accepted earlier or stored): idempotent, so re-imports change nothing. A stored
    /// record's change is kept in `touched`, with a revision.
    fn flag_conflict(&mut self, c: &mut Candidate, id: &str, em: f64) -> Result<(), ImportError> {
        mark_conflict(&mut c.record, id, em);
        let (cid, cem) = (c.record.id.clone(), c.record.em);
        if let Some(&k) = self.accepted_index.get(id) {
            mark_conflict(&mut self.accepted[k].0.record, &cid, cem);
            return Ok(());
        }
        let entry = match self.touched.remove(id) {
            Some(e) => e,
            None => {
                let old = self.store.record(id)?;
                (old.clone(), old)
            }
        };
        let (old, mut new) = entry;
        if mark_conflict(&mut new, &cid, cem) {
            new.revisions.push(crate::record::Revision {
                at: crate::record::now(),
                field: "flags".into(),
                old: old.flags.join(","),
                new: new.flags.join(","),
                reason: format!("import found the same hop as {cid} with Em {cem} eV"),
            });
        }
        self.touched.insert(id.to_string(), (old, new));
        Ok(())
    }

    /// Accept the candidate (its validation flags added to the record) under its duplicate
    /// bucket.
    fn accept(&mut self, mut c: Candidate, flags: Vec<String>, bucket: Vec<u8>) {
        for f in &flags {
            if !c.record.flags.contains(f) {
                c.record.flags.push(f.clone());
            }
        }
        self.batch_buckets.entry(bucket).or_default().push(self.accepted.len());
        self.accepted_index.insert(c.record.id.clone(), self.accepted.len());
        self.accepted.push((c, flags));
    }

    /// The write set of the import: the changed stored records and the accepted ones, which
    /// the report lists as added (and flagged).
    fn write_set(&self, summary: &str, report: &mut ImportReport) -> Result<WriteSet, ImportError> {
        let mut ws = WriteSet::new("import", summary.to_string());
        for (old, new) in self.touched.values() {
            if old != new {
                ws.update_record(old, new);
            }
        }
        let mut stored_hosts: HashMap<&StructureId, bool> = HashMap::new();
        for (c, _) in &self.accepted {
            let stored = match stored_hosts.get(&c.record.host) {
                Some(&b) => b,
                None => {
                    let b = self.store.has_structure(&c.record.host)?;
                    stored_hosts.insert(&c.record.host, b);
                    b
                }
            };
            if stored {
                ws.insert_record_on_stored_host(&c.record, &c.host);
            } else {
                ws.insert_record_on_new_host(&c.record, &c.host);
            }
            report.added.push(c.record.id.clone());
            if !c.record.flags.is_empty() {
                report.flagged.push((c.record.id.clone(), c.record.flags.clone()));
            }
        }
        Ok(ws)
    }
}

/// Whether two records of the same hop hold barriers that must agree (a duplicate when they
/// do, a conflict when not): the same fidelity, and for computed fidelities (BVSE, MLIP) the
/// same method (`code`: recipe, or model and protocol). A DFT barrier and the MLIP barrier of
/// the same hop, or two MLIP models, are different measurements, not duplicates.
pub fn comparable_barriers(a: &HopRecord, b: &HopRecord) -> bool {
    use crate::record::Fidelity;
    a.fidelity == b.fidelity && (matches!(a.fidelity, Fidelity::Dft | Fidelity::Experiment) || a.method.code == b.method.code)
}

/// Mark `r` as having the same hop as `other_id` (barrier `other_em`): flag and note, both
/// added only once. Returns whether anything changed.
fn mark_conflict(r: &mut HopRecord, other_id: &str, other_em: f64) -> bool {
    let mut changed = false;
    if !r.flags.iter().any(|f| f == CONFLICTING_DUPLICATE_FLAG) {
        r.flags.push(CONFLICTING_DUPLICATE_FLAG.to_string());
        changed = true;
    }
    let marker = format!("same hop as {other_id} ");
    let has_note = r.provenance.notes.as_deref().is_some_and(|n| n.contains(&marker));
    if !has_note {
        let note = format!("{marker}(Em {other_em} eV)");
        r.provenance.notes = Some(match r.provenance.notes.take() {
            Some(n) => format!("{n}; {note}"),
            None => note,
        });
        changed = true;
    }
    changed
}

fn cached_host(store: &Store, cache: &mut HashMap<StructureId, Structure>, sid: &StructureId) -> Result<Structure, StoreError> {
    if let Some(s) = cache.get(sid) {
        return Ok(s.clone());
    }
    let s = store.structure(sid)?;
    cache.insert(sid.clone(), s.clone());
    Ok(s)
}

/// A hop derived from two endpoint structures.
#[derive(Clone, Debug)]
pub struct EndpointHop {
    /// The migrating ion.
    pub ion: Element,
    /// Host: every site present in both structures (positions from the initial structure).
    pub host: Structure,
    /// Initial site (fractional).
    pub initial: Vec3,
    /// Final site (fractional, nearest periodic image of the initial site).
    pub final_site: Vec3,
}

/// Derive a hop from an initial and a final structure (possibly relaxed separately).
///
/// When both list the same species in the same order, atoms correspond by index and the
/// mobile ion is the atom that moves farthest, which must move more than `tol` Angstrom and
/// at least twice as far as any other atom (relaxation moves the host a little). Otherwise
/// atoms are matched by position whatever their order: exactly one site must lack a
/// counterpart within `tol`. `ion` restricts which element may move. Lattices may differ by
/// relaxation (each vector within 10 %).
pub fn hop_from_endpoints(ini: &Structure, fin: &Structure, ion: Option<Element>, tol: f64) -> Result<EndpointHop, String> {
    if ini.len() != fin.len() {
        return Err(format!("initial structure has {} atoms, final has {}", ini.len(), fin.len()));
    }
    if ini.len() < 2 {
        return Err(format!("the endpoints have {} atom(s): a hop needs the mobile ion and a host", ini.len()));
    }
    for i in 0..3 {
        let (a, b) = (ini.lattice.matrix()[i], fin.lattice.matrix()[i]);
        if structure::norm(structure::sub(a, b)) > 0.1 * structure::norm(a) {
            return Err(format!("initial and final structures have different lattices (vector {} differs by more than 10 %)", i + 1));
        }
    }
    let (i, j) = if ini.species == fin.species {
        let disp: Vec<f64> = (0..ini.len()).map(|k| ini.lattice.min_image_distance(ini.frac[k], fin.frac[k])).collect();
        let mut order: Vec<usize> = (0..disp.len()).collect();
        order.sort_by(|&a, &b| disp[b].total_cmp(&disp[a]));
        let (first, second) = (order[0], order.get(1).copied());
        if disp[first] <= tol {
            return Err(format!("mobile ion missing from the endpoints: no atom moves by more than {tol} A between the initial and final structures"));
        }
        if let Some(s) = second {
            if disp[s] * 2.0 > disp[first] {
                return Err(format!(
                    "no single moving ion: atoms {first} ({}) and {s} ({}) move {:.2} and {:.2} A",
                    ini.species[first], ini.species[s], disp[first], disp[s]
                ));
            }
        }
        (first, first)
    } else {
        let unmatched = |a: &Structure, b: &Structure| -> Vec<usize> {
            let on_a = Structure { lattice: a.lattice.clone(), species: b.species.clone(), frac: b.frac.clone() };
            let loc = structure::neighbors::PointLocator::new(&on_a, tol.max(0.5));
            (0..a.len())
                .filter(|&i| !loc.within(a.lattice.to_cart(a.frac[i]), tol).iter().any(|n| on_a.species[n.index] == a.species[i]))
                .collect()
        };
        let gone = unmatched(ini, fin);
        let came = unmatched(fin, ini);
        if gone.is_empty() {
            return Err(format!("mobile ion missing from the endpoints: no atom moves by more than {tol} A between the initial and final structures"));
        }
        if gone.len() != 1 || came.len() != 1 {
            return Err(format!("{} atoms of the initial structure and {} of the final one have no counterpart; expected exactly one moving ion", gone.len(), came.len()));
        }
        (gone[0], came[0])
    };
    if ini.species[i] != fin.species[j] {
        return Err(format!("the moving atom is {} in the initial structure but {} in the final one", ini.species[i], fin.species[j]));
    }
    if let Some(e) = ion {
        if ini.species[i] != e {
            return Err(format!("mobile ion missing from the endpoints: the moving atom is {}, not {e}", ini.species[i]));
        }
    }
    let host_idx: Vec<usize> = (0..ini.len()).filter(|&k| k != i).collect();
    let host = Structure {
        lattice: ini.lattice.clone(),
        species: host_idx.iter().map(|&k| ini.species[k]).collect(),
        frac: host_idx.iter().map(|&k| ini.frac[k]).collect(),
    };
    let initial = ini.frac[i];
    let final_site = hop_image(&ini.lattice, initial, fin.frac[j]);
    Ok(EndpointHop { ion: ini.species[i], host, initial, final_site })
}

/// Parse JSON that may contain the bare tokens `NaN`, `Infinity` and `-Infinity` (as Python's
/// json module writes them): they become the strings "NaN", "Infinity", "-Infinity", so a
/// reader can report the field instead of failing on the whole file.
pub fn parse_json_lenient(text: &str) -> Result<serde_json::Value, serde_json::Error> {
    match serde_json::from_str(text) {
        Ok(v) => Ok(v),
        Err(first) => {
            let mut out = String::with_capacity(text.len() + 64);
            let mut in_str = false;
            let mut esc = false;
            let mut rest = text;
            while let Some(c) = rest.chars().next() {
                if in_str {
                    out.push(c);
                    if esc {
                        esc = false;
                    } else if c == '\\' {
                        esc = true;
                    } else if c == '"' {
                        in_str = false;
                    }
                    rest = &rest[c.len_utf8()..];
                    continue;
                }
                if c == '"' {
                    in_str = true;
                } else {
                    let mut replaced = false;
                    for tok in ["-Infinity", "Infinity", "NaN"] {
                        if rest.starts_with(tok) {
                            out.push('"');
                            out.push_str(tok);
                            out.push('"');
                            rest = &rest[tok.len()..];
                            replaced = true;
                            break;
                        }
                    }
                    if replaced {
                        continue;
                    }
                }
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
            serde_json::from_str(&out).map_err(|_| first)
        }
    }
}

/// Read a number from a JSON value that may be a number or a string ("NaN", "1.2").
pub fn json_number(v: &serde_json::Value) -> Option<f64> {
    match v {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
}
