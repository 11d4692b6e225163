//! BVSE records in the store: a BVSE barrier for stored hops ([`compute`]), a corpus of
//! enumerated hops in the stored structures and their ion-substitution variants ([`corpus`]),
//! and the agreement of BVSE with the DFT barriers ([`compare`]).
//!
//! Every record written here has `fidelity = bvse`, provenance dataset [`DATASET`], a
//! `parent` (the record it derives from) and `method.converged` set from the NEB; a hop whose
//! NEB did not converge is stored with `converged = false` and the flag
//! [`NOT_CONVERGED_FLAG`], never as a converged number. Ids are built from content, so
//! re-running writes nothing twice. The rules (parent structures, substitution, work order,
//! ids) are documented in `docs/BVSE_CORPUS.md`.

use super::{enumerate_hops, prepare_hop, prepare_hop_with_oxidation_states, BvseError, HopCandidate, HopSearchOptions, NebResult, PreparedHop, Recipe};
use crate::element::Element;
use crate::import::finish_record;
use crate::record::{Fidelity, HopRecord, Material, Method, Provenance, StructureId};
use crate::store::{Keyspace, Store, StoreError, WriteSet};
use crate::structure::{wrap_frac, Structure, Vec3};
use crate::table::{ResultTable, Value};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rayon::prelude::*;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

/// Provenance dataset (and `source`) of every BVSE record hopdb writes.
pub const DATASET: &str = "hopdb-bvse";
/// Version of the corpus rules (parent structures, substitution, ids); part of provenance.
pub const CORPUS_RULES_VERSION: &str = "1";
/// Flag of a stored BVSE record whose NEB did not converge.
pub const NOT_CONVERGED_FLAG: &str = "bvse-not-converged";
/// Flag of a stored BVSE record whose (mobile ion, anion) softBV pair took fallback
/// parameters ([`crate::bvse::Params::softbv_fallback`]); `WHERE NOT 'softbv-fallback' IN
/// flags` leaves such barriers out.
pub const SOFTBV_FALLBACK_FLAG: &str = "softbv-fallback";
/// Flag of a stored BVSE record whose framework took fractional oxidation states (the
/// fractional-average or compensated-anion fallback of [`crate::bvse::oxidation`]).
pub const FRACTIONAL_OX_FLAG: &str = "bvse-fractional-ox";
/// Importer name of records written by [`compute`].
pub const COMPUTE_IMPORTER: &str = "bvse-compute";
/// Importer name of records written by [`corpus`].
pub const CORPUS_IMPORTER: &str = "bvse-corpus";
/// Mobile ions of the default substitution set.
pub const DEFAULT_IONS: [&str; 6] = ["Li", "Na", "K", "Mg", "Ca", "Zn"];
/// Isotropic lattice scales of the default variants: 0.90 to 1.10 in steps of 0.02 (11
/// lattices per substitution; enough variants for a 100k corpus from the 619-hop dataset).
pub const DEFAULT_STRAINS: [f64; 11] = [0.90, 0.92, 0.94, 0.96, 0.98, 1.0, 1.02, 1.04, 1.06, 1.08, 1.10];
/// Two sites closer than this (Angstrom) are the same site when a parent structure is
/// rebuilt from a hop (the ion is not added a second time).
pub const SAME_SITE_TOLERANCE: f64 = 0.5;

/// Why a BVSE barrier could not be computed: one class per kind of [`BvseError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum FailureReason {
    /// The structure has no anion.
    NoAnion,
    /// No softBV parameters for the (mobile ion, anion) pair.
    NoSoftBvPair,
    /// An element lacks data the engine needs.
    MissingElementData,
    /// A site's bond-valence sum fits none of its element's oxidation states.
    NoOxidationState,
    /// No charge-balanced oxidation-state assignment.
    NoChargeBalance,
    /// The hop's end points coincide.
    CoincidentEndpoints,
    /// The NEB gave a non-finite barrier.
    NonFiniteBarrier,
    /// Any other invalid input (e.g. the mobile ion assigned a negative state).
    InvalidInput,
}

impl FailureReason {
    /// Every reason, in report order.
    pub const ALL: [FailureReason; 8] = [
        FailureReason::NoAnion,
        FailureReason::NoSoftBvPair,
        FailureReason::MissingElementData,
        FailureReason::NoOxidationState,
        FailureReason::NoChargeBalance,
        FailureReason::CoincidentEndpoints,
        FailureReason::NonFiniteBarrier,
        FailureReason::InvalidInput,
    ];

    /// The class of an engine error.
    pub fn of(e: &BvseError) -> Self {
        match e {
            BvseError::NoAnion { .. } => FailureReason::NoAnion,
            BvseError::MissingPair { .. } => FailureReason::NoSoftBvPair,
            BvseError::MissingElementData { .. } => FailureReason::MissingElementData,
            BvseError::NoOxidationState { .. } => FailureReason::NoOxidationState,
            BvseError::NoChargeBalance { .. } => FailureReason::NoChargeBalance,
            BvseError::CoincidentEndpoints { .. } => FailureReason::CoincidentEndpoints,
            BvseError::InvalidInput(_) => FailureReason::InvalidInput,
        }
    }

    /// Short name used in reports and failure markers.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureReason::NoAnion => "no anion",
            FailureReason::NoSoftBvPair => "no softBV pair",
            FailureReason::MissingElementData => "missing element data",
            FailureReason::NoOxidationState => "no oxidation state",
            FailureReason::NoChargeBalance => "no charge balance",
            FailureReason::CoincidentEndpoints => "coincident endpoints",
            FailureReason::NonFiniteBarrier => "non-finite barrier",
            FailureReason::InvalidInput => "invalid input",
        }
    }

    /// Parse [`FailureReason::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        FailureReason::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl std::fmt::Display for FailureReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One hop whose barrier could not be computed.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Failure {
    /// The record the hop belongs to ([`compute`]) or the corpus record id it would have had
    /// ([`corpus`]).
    pub id: String,
    /// Its class.
    pub reason: FailureReason,
    /// The engine's message.
    pub message: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} ({})", self.id, self.reason, self.message)
    }
}

/// Counts of failures by reason.
pub fn counts_by_reason(failures: &[Failure]) -> BTreeMap<FailureReason, usize> {
    let mut m = BTreeMap::new();
    for f in failures {
        *m.entry(f.reason).or_insert(0) += 1;
    }
    m
}

/// Errors of the BVSE store operations. Nothing was written when one is returned, except for
/// the batches of a corpus run committed before it.
#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    /// Bad input (e.g. an unknown recipe or record).
    #[error("{0}")]
    Invalid(String),
    /// Some hops failed and failures were not to be skipped.
    #[error("{} of {} hop(s) failed; nothing was written (use --skip-failed to store the others):\n{}", .failures.len(), .selected, .failures.iter().map(|f| format!("  - {f}")).collect::<Vec<_>>().join("\n"))]
    Failed {
        /// Hops selected.
        selected: usize,
        /// The failures, by record id.
        failures: Vec<Failure>,
    },
    /// Store failure.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The `method.code` of a BVSE record computed with `recipe`: `hopdb-bvse/<recipe>`.
pub fn method_code(recipe: Recipe) -> String {
    format!("hopdb-bvse/{}", recipe.as_str())
}

/// The recipe of a stored BVSE record (from its `method.code`).
pub fn recipe_of(r: &HopRecord) -> Option<Recipe> {
    match r.method.code.as_deref()? {
        "hopdb-bvse/hopdb" => Some(Recipe::Hopdb),
        "hopdb-bvse/ions" => Some(Recipe::Ions),
        _ => None,
    }
}

/// Id of the BVSE record computed for stored record `parent` with `recipe`:
/// `hopdb-bvse:<parent id>` for the default recipe, `hopdb-bvse:<parent id>@ions` otherwise.
pub fn compute_id(parent: &str, recipe: Recipe) -> String {
    match recipe {
        Recipe::Hopdb => format!("{DATASET}:{parent}"),
        r => format!("{DATASET}:{parent}@{}", r.as_str()),
    }
}

fn frac_to_host(host: &Structure, cart: Vec3) -> Vec3 {
    host.lattice.to_frac(cart)
}

/// Build a BVSE record from a NEB result (derived fields filled from `host`).
#[allow(clippy::too_many_arguments)]
fn bvse_record(
    id: String,
    ion: Element,
    host: &Structure,
    initial: Vec3,
    final_site: Vec3,
    res: &NebResult,
    recipe: Recipe,
    material: Material,
    provenance: Provenance,
    parent: String,
    mut extra: BTreeMap<String, f64>,
    prepared: &PreparedHop,
) -> HopRecord {
    let opts = recipe.neb_options();
    let n = res.positions.len();
    let images: Vec<Vec3> = if n > 2 { res.positions[1..n - 1].iter().map(|p| frac_to_host(host, *p)).collect() } else { vec![] };
    extra.insert("bvse_barrier_max_minus_initial".into(), res.barrier);
    extra.insert("bvse_barrier_max_minus_min".into(), res.barrier_max_minus_min);
    extra.insert("bvse_fmax".into(), res.fmax);
    extra.insert("bvse_steps".into(), res.steps as f64);
    extra.insert("bvse_saddle_index".into(), res.saddle_index as f64);
    for (k, e) in res.energies.iter().enumerate() {
        extra.insert(format!("bvse_e{k:02}"), *e);
    }
    let mut r = HopRecord {
        images,
        method: Method {
            xc: None,
            code: Some(method_code(recipe)),
            n_images: Some(opts.n_images as u32),
            climbing_image: Some(opts.climb),
            converged: Some(res.converged),
        },
        material,
        provenance,
        flags: record_flags(res, prepared),
        parent: Some(parent),
        extra,
        ..HopRecord::new(id, ion, initial, final_site, res.em, Fidelity::Bvse)
    };
    finish_record(&mut r, host);
    r
}

/// The flags of a BVSE record: not converged, softBV fallback, fractional oxidation states.
fn record_flags(res: &NebResult, prepared: &PreparedHop) -> Vec<String> {
    let mut flags = Vec::new();
    if !res.converged {
        flags.push(NOT_CONVERGED_FLAG.to_string());
    }
    if !prepared.field.fallbacks().is_empty() {
        flags.push(SOFTBV_FALLBACK_FLAG.to_string());
    }
    if prepared.oxidation_states.iter().any(|q| *q != q.round()) {
        flags.push(FRACTIONAL_OX_FLAG.to_string());
    }
    flags
}

/// What a record's provenance notes say about fallbacks (empty when none were used).
fn fallback_notes(prepared: &PreparedHop) -> String {
    let mut out = String::new();
    for fb in prepared.field.fallbacks() {
        out.push_str(&format!("; softBV fallback {fb}"));
    }
    if let Some(m) = prepared.oxidation_method.filter(|m| !m.is_integral()) {
        out.push_str(&format!("; oxidation states by {}", m.as_str()));
    }
    out
}

// ---------------------------------------------------------------------------------------
// compute: a BVSE barrier for stored hops
// ---------------------------------------------------------------------------------------

/// Options of [`compute`].
#[derive(Clone, Debug, Default)]
pub struct ComputeOptions {
    /// The recipe.
    pub recipe: Recipe,
    /// Store the hops that worked and report the failures, instead of writing nothing when
    /// one fails.
    pub skip_failed: bool,
}

/// What [`compute`] did.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct ComputeReport {
    /// Records selected.
    pub selected: usize,
    /// Ids of the BVSE records written now.
    pub stored: Vec<String>,
    /// Of those, how many did not converge (stored with `converged = false`).
    pub not_converged: usize,
    /// Selected records whose BVSE record already existed (not recomputed).
    pub already_stored: usize,
    /// Selected records that are BVSE records themselves (skipped).
    pub skipped_bvse: usize,
    /// Hops that failed, by record id with the reason.
    pub failures: Vec<Failure>,
    /// Wall seconds of the whole operation.
    pub seconds: f64,
}

/// Compute and store a BVSE barrier for each record in `ids` (see the module docs): one
/// record `hopdb-bvse:<id>` per hop, linked to it by `parent`, on the same host. Records that
/// already have one are not recomputed; BVSE records are skipped. All-or-nothing unless
/// [`ComputeOptions::skip_failed`]: one write for everything.
pub fn compute(store: &Store, ids: &[String], opts: &ComputeOptions) -> Result<ComputeReport, CorpusError> {
    let t0 = Instant::now();
    let mut rep = ComputeReport { selected: ids.len(), ..Default::default() };
    let mut todo: Vec<(HopRecord, Structure)> = Vec::new();
    for id in ids {
        let r = store.record(id)?;
        if r.fidelity == Fidelity::Bvse {
            rep.skipped_bvse += 1;
            continue;
        }
        if store.contains(&compute_id(&r.id, opts.recipe))? {
            rep.already_stored += 1;
            continue;
        }
        let host = store.structure(&r.host)?;
        todo.push((r, host));
    }
    let task = crate::progress::start(&format!("bvse compute ({})", opts.recipe.as_str()), todo.len() as u64);
    let results: Vec<Result<HopRecord, Failure>> = todo
        .par_iter()
        .map(|(r, host)| {
            let out = compute_one(r, host, opts.recipe);
            task.inc(1);
            out
        })
        .collect();
    drop(task);
    let mut records = Vec::new();
    for (res, (_, host)) in results.into_iter().zip(&todo) {
        match res {
            Ok(rec) => records.push((rec, host)),
            Err(f) => rep.failures.push(f),
        }
    }
    if !rep.failures.is_empty() && !opts.skip_failed {
        return Err(CorpusError::Failed { selected: ids.len(), failures: rep.failures });
    }
    if !records.is_empty() {
        let mut ws = WriteSet::new(
            "bvse-compute",
            format!("BVSE barriers ({}) for {} stored hops; {} failed", opts.recipe.as_str(), records.len(), rep.failures.len()),
        );
        for (rec, host) in &records {
            ws.insert_record(rec, host);
            rep.not_converged += usize::from(rec.method.converged == Some(false));
            rep.stored.push(rec.id.clone());
        }
        store.commit(ws)?;
    }
    rep.seconds = t0.elapsed().as_secs_f64();
    Ok(rep)
}

/// The BVSE record of one stored hop (not written).
pub fn compute_one(r: &HopRecord, host: &Structure, recipe: Recipe) -> Result<HopRecord, Failure> {
    let fail = |reason: FailureReason, message: String| Failure { id: r.id.clone(), reason, message };
    let prepared = prepare_hop(host, r.ion, r.initial, r.final_site, recipe).map_err(|e| fail(FailureReason::of(&e), e.to_string()))?;
    let res = prepared.run().map_err(|e| fail(FailureReason::of(&e), e.to_string()))?;
    if !res.em.is_finite() {
        return Err(fail(FailureReason::NonFiniteBarrier, format!("NEB gave Em = {}", res.em)));
    }
    let material = Material {
        formula: String::new(),
        composition: r.material.composition.clone(),
        class_label: r.material.class_label.clone(),
        group: r.material.group.clone(),
        crystal_system: r.material.crystal_system.clone(),
        space_group: r.material.space_group.clone(),
        sys_name: r.material.sys_name.clone(),
        path_label: r.material.path_label.clone(),
        state: r.material.state,
    };
    let provenance = Provenance {
        dataset: DATASET.to_string(),
        dataset_version: CORPUS_RULES_VERSION.to_string(),
        source_file: format!("record {}", r.id),
        source_sha256: r.host.0.clone(),
        source_record_id: compute_id(&r.id, recipe)[DATASET.len() + 1..].to_string(),
        citation: None,
        doi: None,
        bibtex: None,
        importer: COMPUTE_IMPORTER.to_string(),
        hopdb_version: crate::HOPDB_VERSION.to_string(),
        imported_at: crate::record::now(),
        notes: Some(format!(
            "BVSE barrier (recipe {}) of the hop of parent record {} ({} Em = {} eV), same host and sites; converged = {}{}",
            recipe.as_str(),
            r.id,
            r.fidelity,
            r.em,
            res.converged,
            fallback_notes(&prepared)
        )),
    };
    Ok(bvse_record(compute_id(&r.id, recipe), r.ion, host, r.initial, r.final_site, &res, recipe, material, provenance, r.id.clone(), BTreeMap::new(), &prepared))
}

// ---------------------------------------------------------------------------------------
// corpus: enumerated hops in stored structures and substitution variants
// ---------------------------------------------------------------------------------------

/// A parent structure of the corpus: a stored hop's full crystal (host with the mobile ion on
/// both end sites), canonically ordered.
#[derive(Clone, Debug)]
pub struct Parent {
    /// The structure (sites sorted by element, then wrapped fractional coordinates).
    pub structure: Structure,
    /// Its content address.
    pub id: StructureId,
    /// Its mobile species (the ion of the stored hops it came from).
    pub mobile: Element,
    /// The smallest id of the stored non-BVSE records that give this structure.
    pub record_id: String,
    /// Class label of that record.
    pub class_label: Option<String>,
    /// Structural group of that record.
    pub group: Option<String>,
}

/// The full crystal of a hop: `host` plus `ion` on the initial and on the final site (each
/// only where no atom sits within [`SAME_SITE_TOLERANCE`]), coordinates wrapped into [0, 1),
/// sites sorted by atomic number and then coordinates.
pub fn parent_structure(host: &Structure, ion: Element, initial: Vec3, final_site: Vec3) -> Structure {
    let mut sites: Vec<(Element, Vec3)> = host.species.iter().copied().zip(host.frac.iter().map(|f| wrap_frac(*f))).collect();
    for f in [initial, final_site] {
        let f = wrap_frac(f);
        let occupied = sites.iter().any(|(_, g)| host.lattice.min_image_distance(*g, f) < SAME_SITE_TOLERANCE);
        if !occupied {
            sites.push((ion, f));
        }
    }
    sites.sort_by(|a, b| a.0.z().cmp(&b.0.z()).then(a.1[0].total_cmp(&b.1[0])).then(a.1[1].total_cmp(&b.1[1])).then(a.1[2].total_cmp(&b.1[2])));
    Structure { lattice: host.lattice.clone(), species: sites.iter().map(|s| s.0).collect(), frac: sites.iter().map(|s| s.1).collect() }
}

/// The distinct parent structures of the store's non-BVSE records, ordered by content
/// address.
pub fn parents(store: &Store) -> Result<Vec<Parent>, CorpusError> {
    let mut by_id: BTreeMap<StructureId, Parent> = BTreeMap::new();
    let mut hosts: HashMap<StructureId, Structure> = HashMap::new();
    for r in store.records() {
        let r = r?;
        if r.fidelity == Fidelity::Bvse {
            continue;
        }
        if !hosts.contains_key(&r.host) {
            hosts.insert(r.host.clone(), store.structure(&r.host)?);
        }
        let s = parent_structure(&hosts[&r.host], r.ion, r.initial, r.final_site);
        let sid = StructureId::of(&s);
        // Records stream in id order, so the first one seen has the smallest id.
        by_id.entry(sid.clone()).or_insert_with(|| Parent {
            structure: s,
            id: sid,
            mobile: r.ion,
            record_id: r.id.clone(),
            class_label: r.material.class_label.clone(),
            group: r.material.group.clone(),
        });
    }
    Ok(by_id.into_values().collect())
}

/// `parent` with every site of its mobile species replaced by `ion` (the lattice and all
/// positions kept; see `docs/BVSE_CORPUS.md`).
pub fn substitute(parent: &Structure, from: Element, ion: Element) -> Structure {
    Structure {
        lattice: parent.lattice.clone(),
        species: parent.species.iter().map(|&e| if e == from { ion } else { e }).collect(),
        frac: parent.frac.clone(),
    }
}

/// `s` with its lattice scaled isotropically by `factor` (fractional coordinates kept).
pub fn strained(s: &Structure, factor: f64) -> Structure {
    let m = s.lattice.matrix();
    let lattice = crate::structure::Lattice::new(std::array::from_fn(|k| crate::structure::scale(m[k], factor))).expect("a scaled lattice stays regular");
    Structure { lattice, species: s.species.clone(), frac: s.frac.clone() }
}

/// One hop of the corpus to compute.
#[derive(Clone, Debug)]
pub struct WorkItem {
    /// The record id it gets (from content).
    pub id: String,
    /// Index into the parents.
    pub parent: usize,
    /// The mobile ion of the variant.
    pub ion: Element,
    /// Index into [`CorpusOptions::strains`]: the variant's isotropic lattice scale.
    pub strain: usize,
    /// The jump (sites of the parent structure).
    pub hop: HopCandidate,
}

/// Content id of a corpus hop: `hopdb-bvse:c-<ion>-<16 hex>`, the hex from sha256 over the
/// parent structure's address, the ion, the lattice scale (4 decimals), the two sites (site
/// indices of the canonical parent and the image), the recipe and [`CORPUS_RULES_VERSION`].
pub fn corpus_id(parent: &StructureId, ion: Element, strain: f64, hop: &HopCandidate, recipe: Recipe) -> String {
    let text = format!("{}|{}|{strain:.4}|{}|{}|{:?}|{}|{}", parent.0, ion.symbol(), hop.from, hop.to, hop.image, recipe.as_str(), CORPUS_RULES_VERSION);
    let h = hex::encode(Sha256::digest(text.as_bytes()));
    format!("{DATASET}:c-{}-{}", ion.symbol(), &h[..16])
}

/// Options of [`corpus`].
#[derive(Clone, Debug)]
pub struct CorpusOptions {
    /// Stop once this many corpus records are in the store (counting earlier runs').
    pub target: usize,
    /// Seed of the work order.
    pub seed: u64,
    /// Hops per batch (one atomic write each).
    pub batch: usize,
    /// Mobile ions of the substitution variants.
    pub ions: Vec<Element>,
    /// Isotropic lattice scales of the variants (1.0: the parent's lattice).
    pub strains: Vec<f64>,
    /// The recipe.
    pub recipe: Recipe,
    /// Hop enumeration settings.
    pub search: HopSearchOptions,
}

impl Default for CorpusOptions {
    fn default() -> Self {
        CorpusOptions {
            target: 100_000,
            seed: 0,
            batch: 512,
            ions: DEFAULT_IONS.iter().map(|s| Element::from_symbol(s).expect("known element")).collect(),
            strains: DEFAULT_STRAINS.to_vec(),
            recipe: Recipe::Hopdb,
            search: HopSearchOptions::default(),
        }
    }
}

/// The ordered work list: every enumerated hop of every parent, for every ion, sorted by id
/// and then shuffled with ChaCha8 seeded by `seed`.
pub fn work_list(parents: &[Parent], opts: &CorpusOptions) -> Vec<WorkItem> {
    let hops: Vec<Vec<HopCandidate>> = parents.par_iter().map(|p| enumerate_hops(&p.structure, p.mobile, &opts.search)).collect();
    let mut items = Vec::new();
    for (k, (p, hs)) in parents.iter().zip(&hops).enumerate() {
        for &ion in &opts.ions {
            for (si, &st) in opts.strains.iter().enumerate() {
                for h in hs {
                    items.push(WorkItem { id: corpus_id(&p.id, ion, st, h, opts.recipe), parent: k, ion, strain: si, hop: h.clone() });
                }
            }
        }
    }
    items.sort_by(|a, b| a.id.cmp(&b.id));
    items.dedup_by(|a, b| a.id == b.id);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(opts.seed);
    items.shuffle(&mut rng);
    items
}

/// What [`corpus`] did.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct CorpusReport {
    /// The target.
    pub target: usize,
    /// Parent structures found.
    pub parents: usize,
    /// Hops available in the work list (all parents x ions x enumerated hops).
    pub available: usize,
    /// Work items read (in work order) until the target was reached or the list ran out.
    pub scanned: usize,
    /// Of those, corpus records already stored by earlier runs (not recomputed).
    pub already_stored: usize,
    /// Of those, failures remembered from earlier runs (not recomputed).
    pub already_failed: usize,
    /// Hops computed now.
    pub computed: usize,
    /// Records written now.
    pub stored: usize,
    /// Of those, stored with `converged = false`.
    pub not_converged: usize,
    /// Failures now, by reason.
    pub failed: BTreeMap<String, usize>,
    /// Batches committed now.
    pub batches: usize,
    /// Corpus records in the work list's scanned part after the run (already + stored).
    pub corpus_records: usize,
    /// True when the work list ran out before the target.
    pub exhausted: bool,
    /// Wall seconds (work list included).
    pub seconds: f64,
    /// Seconds spent computing and writing batches.
    pub compute_seconds: f64,
}

/// Failure markers of the corpus: named objects of the store's [`Keyspace::CorpusFailure`]
/// keyspace, keyed by the corpus record id, value `(reason, message)`. A work item that failed
/// is remembered, so a resumed run does not compute it again.
const FAILURES: Keyspace = Keyspace::CorpusFailure;

/// The failure remembered for a corpus work item, if any.
pub fn remembered_failure(store: &Store, id: &str) -> Result<Option<Failure>, StoreError> {
    Ok(store.load_object::<(String, String)>(FAILURES, &[id])?.map(|(reason, message)| Failure {
        id: id.to_string(),
        reason: FailureReason::parse(&reason).unwrap_or(FailureReason::InvalidInput),
        message,
    }))
}

/// Oxidation states of a variant structure (computed once per variant and shared by its hops).
type VariantStates = Result<Vec<f64>, BvseError>;

fn corpus_one(item: &WorkItem, parent: &Parent, variant: &Structure, ox: &VariantStates, strain: f64, recipe: Recipe) -> Result<HopRecord, Failure> {
    let fail = |e: &BvseError| Failure { id: item.id.clone(), reason: FailureReason::of(e), message: e.to_string() };
    let ox = ox.as_ref().map_err(fail)?;
    let h = &item.hop;
    let host = h.host(variant);
    let keep = (0..variant.len()).filter(|&k| k != h.from && k != h.to);
    let mut hop_ox: Vec<f64> = keep.map(|k| ox[k]).collect();
    hop_ox.push(ox[h.from]);
    if h.to != h.from {
        hop_ox.push(ox[h.to]);
    }
    let (initial, final_site) = (h.initial_frac(variant), h.final_frac(variant));
    let prepared = prepare_hop_with_oxidation_states(&host, item.ion, initial, final_site, recipe, &hop_ox).map_err(|e| fail(&e))?;
    let res = prepared.run().map_err(|e| fail(&e))?;
    if !res.em.is_finite() {
        return Err(Failure { id: item.id.clone(), reason: FailureReason::NonFiniteBarrier, message: format!("NEB gave Em = {}", res.em) });
    }
    let material = Material { class_label: parent.class_label.clone(), group: parent.group.clone(), ..Default::default() };
    let mut substitution = if item.ion == parent.mobile { "no substitution".to_string() } else { format!("{} -> {} on every {} site", parent.mobile, item.ion, parent.mobile) };
    if strain != 1.0 {
        substitution.push_str(&format!(", lattice scaled by {strain}"));
    }
    let provenance = Provenance {
        dataset: DATASET.to_string(),
        dataset_version: CORPUS_RULES_VERSION.to_string(),
        source_file: format!("parent structure of record {}", parent.record_id),
        source_sha256: parent.id.0.clone(),
        source_record_id: item.id[DATASET.len() + 1..].to_string(),
        citation: None,
        doi: None,
        bibtex: None,
        importer: CORPUS_IMPORTER.to_string(),
        hopdb_version: crate::HOPDB_VERSION.to_string(),
        imported_at: crate::record::now(),
        notes: Some(format!(
            "corpus hop (recipe {}): parent structure {} (full crystal of record {}), {substitution}; jump site {} -> site {} image {:?}, length {:.3} A, clearance {:.3} A, multiplicity {}; converged = {}{}",
            recipe.as_str(),
            parent.id,
            parent.record_id,
            h.from,
            h.to,
            h.image,
            h.length * strain,
            h.clearance * strain,
            h.multiplicity,
            res.converged,
            fallback_notes(&prepared)
        )),
    };
    let mut extra = BTreeMap::new();
    extra.insert("multiplicity".to_string(), h.multiplicity as f64);
    extra.insert("clearance".to_string(), h.clearance * strain);
    extra.insert("lattice_scale".to_string(), strain);
    Ok(bvse_record(item.id.clone(), item.ion, &host, initial, final_site, &res, recipe, material, provenance, parent.record_id.clone(), extra, &prepared))
}

/// Build (or extend) the BVSE corpus (see the module docs and `docs/BVSE_CORPUS.md`): walk
/// the seeded work list in order, skip hops already stored or remembered as failed, compute
/// the others in parallel batches of [`CorpusOptions::batch`], and commit each batch
/// (records, failure markers, audit entry) as one atomic write, until the work list's
/// corpus records reach [`CorpusOptions::target`]. The hops processed are the shortest
/// prefix of the work list holding `target` stored hops, whatever the batch size and however
/// often the run was interrupted.
pub fn corpus(store: &Store, opts: &CorpusOptions) -> Result<CorpusReport, CorpusError> {
    corpus_with_hook(store, opts, &mut |_| Ok(()))
}

/// [`corpus`] with a hook called before each batch commit with the batch's record ids; an
/// error from the hook stops the run before that batch is written (used to test atomicity).
pub fn corpus_with_hook(store: &Store, opts: &CorpusOptions, before_commit: &mut dyn FnMut(&[String]) -> Result<(), CorpusError>) -> Result<CorpusReport, CorpusError> {
    let t0 = Instant::now();
    if opts.batch == 0 {
        return Err(CorpusError::Invalid("--batch must be at least 1".into()));
    }
    if opts.ions.is_empty() {
        return Err(CorpusError::Invalid("no mobile ions given".into()));
    }
    let parents = parents(store)?;
    let items = work_list(&parents, opts);
    let mut rep = CorpusReport { target: opts.target, parents: parents.len(), available: items.len(), ..Default::default() };
    // Variant structures and their oxidation states, computed on first use.
    let mut states: HashMap<(usize, Element), VariantStates> = HashMap::new();
    let mut variants: HashMap<(usize, Element, usize), Structure> = HashMap::new();
    // Progress: stored records toward the target.
    let mut pre = 0usize;
    for it in &items {
        if pre >= opts.target {
            break;
        }
        pre += usize::from(store.contains(&it.id)?);
    }
    let task = crate::progress::start(&format!("bvse corpus ({})", opts.recipe.as_str()), opts.target.saturating_sub(pre) as u64);
    let tc = Instant::now();
    let mut have = 0usize;
    let mut i = 0usize;
    loop {
        let mut batch: Vec<&WorkItem> = Vec::new();
        while i < items.len() && have + batch.len() < opts.target && batch.len() < opts.batch {
            let it = &items[i];
            i += 1;
            if store.contains(&it.id)? {
                have += 1;
                rep.already_stored += 1;
            } else if store.has_object(FAILURES, &[&it.id])? {
                rep.already_failed += 1;
            } else {
                batch.push(it);
            }
        }
        rep.scanned = i;
        if batch.is_empty() {
            break;
        }
        let mut missing: Vec<(usize, Element)> = batch.iter().map(|it| (it.parent, it.ion)).filter(|k| !states.contains_key(k)).collect();
        missing.sort();
        missing.dedup();
        let fresh: Vec<((usize, Element), VariantStates)> = missing
            .par_iter()
            .map(|&(p, ion)| ((p, ion), super::assign_oxidation_states(&substitute(&parents[p].structure, parents[p].mobile, ion))))
            .collect();
        states.extend(fresh);
        for it in &batch {
            variants
                .entry((it.parent, it.ion, it.strain))
                .or_insert_with(|| strained(&substitute(&parents[it.parent].structure, parents[it.parent].mobile, it.ion), opts.strains[it.strain]));
        }
        let results: Vec<Result<HopRecord, Failure>> = batch
            .par_iter()
            .map(|it| {
                let s = &variants[&(it.parent, it.ion, it.strain)];
                let r = corpus_one(it, &parents[it.parent], s, &states[&(it.parent, it.ion)], opts.strains[it.strain], opts.recipe);
                if r.is_ok() {
                    task.inc(1);
                }
                r
            })
            .collect();
        rep.computed += batch.len();
        let stored = results.iter().filter(|r| r.is_ok()).count();
        let failed = results.len() - stored;
        let mut ws = WriteSet::new("bvse-corpus", format!("BVSE corpus batch ({}): {stored} records, {failed} failed hops remembered", opts.recipe.as_str()));
        let mut ids = Vec::new();
        let mut nc = 0usize;
        let mut failed_now: BTreeMap<String, usize> = BTreeMap::new();
        for (res, it) in results.iter().zip(&batch) {
            match res {
                Ok(rec) => {
                    let host = it.hop.host(&variants[&(it.parent, it.ion, it.strain)]);
                    ws.insert_record(rec, &host);
                    ids.push(rec.id.clone());
                    nc += usize::from(rec.method.converged == Some(false));
                }
                Err(f) => {
                    ws.put_object(FAILURES, &[&f.id], &(f.reason.as_str(), &f.message));
                    *failed_now.entry(f.reason.as_str().to_string()).or_insert(0) += 1;
                }
            }
        }
        before_commit(&ids)?;
        store.commit(ws)?;
        have += stored;
        rep.stored += stored;
        rep.not_converged += nc;
        for (k, v) in failed_now {
            *rep.failed.entry(k).or_insert(0) += v;
        }
        rep.batches += 1;
    }
    drop(task);
    rep.compute_seconds = tc.elapsed().as_secs_f64();
    rep.corpus_records = have;
    rep.exhausted = have < opts.target;
    rep.seconds = t0.elapsed().as_secs_f64();
    Ok(rep)
}

/// Counts of the corpus's remembered failures by reason (the whole store).
pub fn remembered_failures(store: &Store) -> Result<BTreeMap<String, usize>, StoreError> {
    let mut out = BTreeMap::new();
    for (_, stored) in store.list_objects::<(String, String)>(FAILURES, &[])? {
        let (reason, _) = stored?;
        *out.entry(reason).or_insert(0) += 1;
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// compare: BVSE against DFT
// ---------------------------------------------------------------------------------------

/// Agreement of BVSE barriers with their parents' barriers over one subset.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct CompareRow {
    /// The recipe.
    pub recipe: String,
    /// `all` or `converged`.
    pub subset: String,
    /// Pairs.
    pub n: usize,
    /// Pearson correlation of BVSE with the parent's Em.
    pub pearson: f64,
    /// Spearman rank correlation (average ranks for ties).
    pub spearman: f64,
    /// Mean absolute difference (eV).
    pub mae: f64,
    /// Median BVSE barrier (eV).
    pub median_bvse: f64,
    /// Median parent barrier (eV).
    pub median_parent: f64,
}

/// Pearson correlation (NaN when fewer than two points or a constant series).
pub fn pearson(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len().min(y.len());
    if n < 2 {
        return f64::NAN;
    }
    let mx = x[..n].iter().sum::<f64>() / n as f64;
    let my = y[..n].iter().sum::<f64>() / n as f64;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for k in 0..n {
        let (dx, dy) = (x[k] - mx, y[k] - my);
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    sxy / (sxx * syy).sqrt()
}

/// Ranks 1..n, ties given their average rank.
pub fn ranks(x: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..x.len()).collect();
    idx.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    let mut r = vec![0.0; x.len()];
    let mut k = 0;
    while k < idx.len() {
        let mut j = k;
        while j + 1 < idx.len() && x[idx[j + 1]] == x[idx[k]] {
            j += 1;
        }
        let avg = (k + j) as f64 / 2.0 + 1.0;
        for &t in &idx[k..=j] {
            r[t] = avg;
        }
        k = j + 1;
    }
    r
}

/// Spearman rank correlation: Pearson of the ranks.
pub fn spearman(x: &[f64], y: &[f64]) -> f64 {
    pearson(&ranks(x), &ranks(y))
}

/// Compare stored BVSE barriers with their parent records' barriers: every BVSE record in
/// `ids` (or in the store, when `None`) whose parent is a stored non-BVSE record; one row per
/// recipe for all pairs and one for converged BVSE records only.
pub fn compare(store: &Store, ids: Option<&[String]>) -> Result<Vec<CompareRow>, CorpusError> {
    let ids: Vec<String> = match ids {
        Some(v) => v.to_vec(),
        None => store.ids_where("fidelity", Fidelity::Bvse.as_str())?,
    };
    let mut pairs: BTreeMap<String, Vec<(f64, f64, bool)>> = BTreeMap::new();
    for id in &ids {
        let r = store.record(id)?;
        if r.fidelity != Fidelity::Bvse {
            continue;
        }
        let Some(pid) = &r.parent else { continue };
        let Some(p) = store.get(pid)? else { continue };
        if p.fidelity == Fidelity::Bvse {
            continue;
        }
        let recipe = recipe_of(&r).map_or("unknown", |x| x.as_str()).to_string();
        pairs.entry(recipe).or_default().push((r.em, p.em, r.method.converged == Some(true)));
    }
    let mut out = Vec::new();
    for (recipe, v) in pairs {
        for subset in ["all", "converged"] {
            let sel: Vec<&(f64, f64, bool)> = v.iter().filter(|t| subset == "all" || t.2).collect();
            let x: Vec<f64> = sel.iter().map(|t| t.0).collect();
            let y: Vec<f64> = sel.iter().map(|t| t.1).collect();
            let mae = if sel.is_empty() { f64::NAN } else { x.iter().zip(&y).map(|(a, b)| (a - b).abs()).sum::<f64>() / sel.len() as f64 };
            out.push(CompareRow {
                recipe: recipe.clone(),
                subset: subset.to_string(),
                n: sel.len(),
                pearson: pearson(&x, &y),
                spearman: spearman(&x, &y),
                mae,
                median_bvse: crate::metrics::median(&x),
                median_parent: crate::metrics::median(&y),
            });
        }
    }
    Ok(out)
}

/// How many stored hops of one structural group have a BVSE barrier of one recipe.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct CoverageRow {
    /// The recipe.
    pub recipe: String,
    /// Structural group of the hops (`all` for every group together, `(none)` without one).
    pub group: String,
    /// Stored hops (non-BVSE records).
    pub hops: usize,
    /// Of those, hops with a BVSE record of this recipe.
    pub with_bvse: usize,
    /// `with_bvse / hops` in percent.
    pub percent: f64,
    /// BVSE records without any flag (converged, tabulated softBV pairs, integer states).
    pub clean: usize,
    /// BVSE records flagged `softbv-fallback`.
    pub softbv_fallback: usize,
    /// BVSE records flagged `bvse-fractional-ox`.
    pub fractional_ox: usize,
}

/// Coverage of the stored hops (non-BVSE records) by BVSE records of `bvse compute`, per
/// recipe that has any and per structural group, plus an `all` row per recipe.
pub fn coverage(store: &Store) -> Result<Vec<CoverageRow>, CorpusError> {
    let recipes = [Recipe::Hopdb, Recipe::Ions];
    // (recipe, group) -> (hops, with, clean, fallback, fractional)
    let mut acc: BTreeMap<(usize, String), [usize; 5]> = BTreeMap::new();
    let mut any = [false; 2];
    for r in store.records() {
        let r = r?;
        if r.fidelity == Fidelity::Bvse {
            continue;
        }
        let group = r.material.group.clone().unwrap_or_else(|| "(none)".to_string());
        for (k, recipe) in recipes.iter().enumerate() {
            let b = store.get(&compute_id(&r.id, *recipe))?;
            any[k] |= b.is_some();
            for g in [group.clone(), "all".to_string()] {
                let e = acc.entry((k, g)).or_default();
                e[0] += 1;
                if let Some(b) = &b {
                    e[1] += 1;
                    e[2] += b.flags.is_empty() as usize;
                    e[3] += b.flags.iter().any(|f| f == SOFTBV_FALLBACK_FLAG) as usize;
                    e[4] += b.flags.iter().any(|f| f == FRACTIONAL_OX_FLAG) as usize;
                }
            }
        }
    }
    let mut out = Vec::new();
    for ((k, group), e) in acc {
        if !any[k] {
            continue;
        }
        out.push(CoverageRow {
            recipe: recipes[k].as_str().to_string(),
            group,
            hops: e[0],
            with_bvse: e[1],
            percent: if e[0] == 0 { 0.0 } else { 100.0 * e[1] as f64 / e[0] as f64 },
            clean: e[2],
            softbv_fallback: e[3],
            fractional_ox: e[4],
        });
    }
    // `all` first within each recipe.
    out.sort_by(|a, b| a.recipe.cmp(&b.recipe).then((a.group != "all").cmp(&(b.group != "all"))).then(a.group.cmp(&b.group)));
    Ok(out)
}

/// The coverage as a table.
pub fn coverage_table(rows: &[CoverageRow]) -> ResultTable {
    let mut t = ResultTable::new(&["recipe", "group", "hops", "with_bvse", "percent", "clean", "softbv_fallback", "fractional_ox"])
        .titled("Stored hops with a BVSE barrier (bvse compute), per recipe and structural group");
    for r in rows {
        t.push(vec![
            Value::Str(r.recipe.clone()),
            Value::Str(r.group.clone()),
            Value::Int(r.hops as i64),
            Value::Int(r.with_bvse as i64),
            Value::Num(r.percent),
            Value::Int(r.clean as i64),
            Value::Int(r.softbv_fallback as i64),
            Value::Int(r.fractional_ox as i64),
        ]);
    }
    t
}

/// The comparison as a table.
pub fn compare_table(rows: &[CompareRow]) -> ResultTable {
    let mut t = ResultTable::new(&["recipe", "subset", "n", "pearson", "spearman", "mae_ev", "median_bvse_ev", "median_dft_ev"]).titled("BVSE vs parent (DFT) barriers");
    for r in rows {
        t.push(vec![
            Value::Str(r.recipe.clone()),
            Value::Str(r.subset.clone()),
            Value::Int(r.n as i64),
            Value::Num(r.pearson),
            Value::Num(r.spearman),
            Value::Num(r.mae),
            Value::Num(r.median_bvse),
            Value::Num(r.median_parent),
        ]);
    }
    t
}
