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

use super::oxidation::okeeffe_brese_r0;
use super::{enumerate_hops, prepare_hop, prepare_hop_with_oxidation_states, BvseError, HopCandidate, HopSearchOptions, NebResult, Params, PreparedHop, Recipe};
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

/// Whether a record is derived from another (a BVSE or MLIP barrier of a stored hop), and so
/// never a parent of corpus or BVSE work.
pub fn is_derived(r: &HopRecord) -> bool {
    matches!(r.fidelity, Fidelity::Bvse | Fidelity::Mlip)
}

/// Id of the BVSE record computed for stored record `parent` with `recipe`:
/// `hopdb-bvse:<parent id>` for the default recipe, `hopdb-bvse:<parent id>@ions` otherwise.
pub fn compute_id(parent: &str, recipe: Recipe) -> String {
    match recipe {
        Recipe::Hopdb => crate::record::bvse_record_id(parent),
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
    /// Selected records that are derived (BVSE or MLIP) records themselves (skipped).
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
        if is_derived(&r) {
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
    parents_of(store, None)
}

/// [`parents`] of the records in `only` (all non-BVSE records when `None`; BVSE records
/// among them are left out).
pub fn parents_of(store: &Store, only: Option<&[String]>) -> Result<Vec<Parent>, CorpusError> {
    let only: Option<std::collections::HashSet<&str>> = only.map(|v| v.iter().map(String::as_str).collect());
    let mut by_id: BTreeMap<StructureId, Parent> = BTreeMap::new();
    let mut hosts: HashMap<StructureId, Structure> = HashMap::new();
    for r in store.records() {
        let r = r?;
        if is_derived(&r) || only.as_ref().is_some_and(|o| !o.contains(r.id.as_str())) {
            continue;
        }
        if !hosts.contains_key(&r.host) {
            hosts.insert(r.host.clone(), store.structure(&r.host)?);
        }
        add_parent(&mut by_id, &r, &hosts[&r.host]);
    }
    Ok(by_id.into_values().collect())
}

/// The parents of records given with their hosts (e.g. a JSON-lines export of a store, read
/// by a corpus shard): the same as [`parents_of`] on a store holding them. BVSE records are
/// left out.
pub fn parents_from_records(records: impl IntoIterator<Item = (HopRecord, Structure)>) -> Vec<Parent> {
    let mut by_id: BTreeMap<StructureId, Parent> = BTreeMap::new();
    for (r, host) in records {
        if !is_derived(&r) {
            add_parent(&mut by_id, &r, &host);
        }
    }
    by_id.into_values().collect()
}

/// Add the parent of record `r` (host `host`): a structure already there keeps the record with
/// the smallest id.
fn add_parent(by_id: &mut BTreeMap<StructureId, Parent>, r: &HopRecord, host: &Structure) {
    let s = parent_structure(host, r.ion, r.initial, r.final_site);
    let sid = StructureId::of(&s);
    let p = Parent { structure: s, id: sid.clone(), mobile: r.ion, record_id: r.id.clone(), class_label: r.material.class_label.clone(), group: r.material.group.clone() };
    match by_id.get_mut(&sid) {
        Some(old) if old.record_id <= p.record_id => {}
        Some(old) => *old = p,
        None => {
            by_id.insert(sid, p);
        }
    }
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
    /// Index into the parent's [`variant_swaps`] (0: no framework substitution).
    pub swap: usize,
    /// The jump (sites of the parent structure).
    pub hop: HopCandidate,
}

/// Kinds of framework substitution of the broad corpus (`--swaps`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SwapKind {
    /// A transition metal replaced by another one in the same oxidation state.
    Framework,
    /// The anions replaced within O/S/Se or F/Cl/Br.
    Anion,
}

/// Transition metals a framework swap may put on a site of the given oxidation state.
pub const SWAP_METALS: [(i8, &[&str]); 5] = [
    (2, &["Mn", "Fe", "Co", "Ni", "Cu", "Zn"]),
    (3, &["Sc", "Ti", "V", "Cr", "Mn", "Fe", "Co", "Ni"]),
    (4, &["Ti", "V", "Cr", "Mn", "Zr", "Mo"]),
    (5, &["V", "Nb", "Ta"]),
    (6, &["Cr", "Mo", "W"]),
];

/// Main-group framework cations a framework swap may put on a site of the given oxidation
/// state (a main-group cation is only replaced by another of this list).
pub const SWAP_MAIN_GROUP: [(i8, &[&str]); 5] =
    [(2, &["Mg", "Zn", "Cd"]), (3, &["Al", "Ga", "In"]), (4, &["Si", "Ge", "Sn"]), (5, &["P", "As", "Sb"]), (6, &["S", "Se"])];

/// Anion families of the anion swaps: every member may replace another of its family.
pub const SWAP_ANIONS: [&[&str]; 2] = [&["O", "S", "Se"], &["F", "Cl", "Br"]];

/// A framework substitution: every site of each `from` element becomes its `to` element, and
/// the lattice is scaled by `scale` (the mean ratio of O'Keeffe-Brese bond-valence parameters
/// R0 of the new and the old cation-anion bonds, so bond lengths follow the new chemistry).
#[derive(Clone, Debug, PartialEq)]
pub struct Swap {
    /// (from, to) pairs, by atomic number of `from`; empty for no substitution.
    pub pairs: Vec<(Element, Element)>,
    /// Isotropic lattice scale that goes with it.
    pub scale: f64,
}

impl Swap {
    /// No substitution.
    pub fn identity() -> Swap {
        Swap { pairs: Vec::new(), scale: 1.0 }
    }

    /// `O->S,Co->Ni` (empty for none); part of the corpus id.
    pub fn label(&self) -> String {
        self.pairs.iter().map(|(a, b)| format!("{a}->{b}")).collect::<Vec<_>>().join(",")
    }

    fn map(&self, e: Element) -> Element {
        self.pairs.iter().find(|p| p.0 == e).map_or(e, |p| p.1)
    }

    /// `s` with the substitution applied (positions kept, lattice scaled by [`Swap::scale`]).
    pub fn apply(&self, s: &Structure) -> Structure {
        if self.pairs.is_empty() {
            return s.clone();
        }
        let t = Structure { lattice: s.lattice.clone(), species: s.species.iter().map(|&e| self.map(e)).collect(), frac: s.frac.clone() };
        if self.scale == 1.0 {
            t
        } else {
            strained(&t, self.scale)
        }
    }
}

/// The framework substitutions of `parent` for the requested kinds: the identity first, then
/// every single cation swap (a framework cation whose sites all hold one integer state, to
/// each other element of its list for that state: [`SWAP_METALS`] for a transition metal,
/// [`SWAP_MAIN_GROUP`] for a main-group cation such as P+5 or Al+3), every single anion swap
/// (an anion family member at its common state to each other member of [`SWAP_ANIONS`]), and
/// every pair of two single swaps of different elements. Never an element already in the
/// structure, never the mobile species. Oxidation states come from the parent's own
/// analysis; a parent without an integer assignment gets the identity only.
pub fn variant_swaps(parent: &Parent, kinds: &[SwapKind]) -> Vec<Swap> {
    let mut out = vec![Swap::identity()];
    if kinds.is_empty() {
        return out;
    }
    let s = &parent.structure;
    let Ok(a) = super::analyze(s, &super::OxidationOptions::default()).outcome else { return out };
    if !a.method.is_integral() {
        return out;
    }
    let el = |x: &str| Element::from_symbol(x).expect("known element");
    let mut states: BTreeMap<Element, Vec<i8>> = BTreeMap::new();
    for (e, q) in s.species.iter().zip(&a.states) {
        let v = states.entry(*e).or_default();
        if !v.contains(&(*q as i8)) {
            v.push(*q as i8);
        }
    }
    let present: Vec<Element> = states.keys().copied().collect();
    let mut metal_swaps: Vec<(Element, Element)> = Vec::new();
    let mut anion_swaps: Vec<(Element, Element)> = Vec::new();
    for (&e, v) in &states {
        if e == parent.mobile || v.len() != 1 {
            continue;
        }
        if kinds.contains(&SwapKind::Framework) && v[0] > 0 {
            let table = if e.is_transition_metal() { &SWAP_METALS } else { &SWAP_MAIN_GROUP };
            if let Some((_, metals)) = table.iter().find(|m| m.0 == v[0] && (e.is_transition_metal() || m.1.contains(&e.symbol()))) {
                for m in metals.iter().map(|x| el(x)) {
                    if m != e && !present.contains(&m) {
                        metal_swaps.push((e, m));
                    }
                }
            }
        }
        if kinds.contains(&SwapKind::Anion) && v[0] < 0 {
            if let Some(family) = SWAP_ANIONS.iter().find(|f| f.contains(&e.symbol())) {
                for x in family.iter().map(|x| el(x)) {
                    if x != e && !present.contains(&x) && v[0] == super::oxidation::common_anion_state(x).unwrap_or(0) {
                        anion_swaps.push((e, x));
                    }
                }
            }
        }
    }
    let singles: Vec<(Element, Element)> = metal_swaps.into_iter().chain(anion_swaps).collect();
    let mut pairs: Vec<Vec<(Element, Element)>> = singles.iter().map(|p| vec![*p]).collect();
    for (i, a) in singles.iter().enumerate() {
        for b in &singles[i + 1..] {
            if a.0 != b.0 && a.1 != b.1 {
                pairs.push(vec![*a, *b]);
            }
        }
    }
    let nl = crate::structure::neighbors::NeighborList::build(s, 3.5);
    let p = Params::global();
    for mut pr in pairs {
        pr.sort_by_key(|x| x.0.z());
        let swap = Swap { pairs: pr, scale: 1.0 };
        // Mean R0 ratio over the cation-anion bonds (neighbours within 1.3 R0).
        let (mut sum, mut n) = (0.0, 0usize);
        for (i, e) in s.species.iter().enumerate() {
            if a.states[i] <= 0.0 || *e == parent.mobile {
                continue;
            }
            for nb in nl.of(i) {
                let f = s.species[nb.index];
                if a.states[nb.index] >= 0.0 {
                    continue;
                }
                let (Some(r_old), Some(r_new)) = (okeeffe_brese_r0(p, *e, f), okeeffe_brese_r0(p, swap.map(*e), swap.map(f))) else { continue };
                if nb.distance < 1.3 * r_old {
                    sum += r_new / r_old;
                    n += 1;
                }
            }
        }
        let scale = if n == 0 { 1.0 } else { ((sum / n as f64) * 1e4).round() / 1e4 };
        out.push(Swap { scale, ..swap });
    }
    out
}

/// Content id of a corpus hop: `hopdb-bvse:c-<ion>-<16 hex>`, the hex from sha256 over the
/// parent structure's address, the ion, the lattice scale (4 decimals), the two sites (site
/// indices of the canonical parent and the image), the recipe and [`CORPUS_RULES_VERSION`].
pub fn corpus_id(parent: &StructureId, ion: Element, strain: f64, hop: &HopCandidate, recipe: Recipe, swap: &Swap) -> String {
    let mut text = format!("{}|{}|{strain:.4}|{}|{}|{:?}|{}|{}", parent.0, ion.symbol(), hop.from, hop.to, hop.image, recipe.as_str(), CORPUS_RULES_VERSION);
    if !swap.pairs.is_empty() {
        text.push_str(&format!("|swap:{}", swap.label()));
    }
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
    /// Framework substitutions of the broad corpus (none: the mobile-ion variants only).
    pub swaps: Vec<SwapKind>,
    /// Records whose structures are the parents (`None`: every non-BVSE record).
    pub parent_records: Option<Vec<String>>,
    /// Compute work items remembered as failed again (e.g. after an engine upgrade that
    /// added fallbacks); a success replaces the failure marker in the same batch.
    pub retry_failed: bool,
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
            swaps: Vec::new(),
            parent_records: None,
            retry_failed: false,
        }
    }
}

/// The ordered work list: every enumerated hop of every parent, for every ion, scale and
/// framework substitution (`swaps[parent]`, from [`variant_swaps`]), sorted by id and then
/// shuffled with ChaCha8 seeded by `seed`.
pub fn work_list(parents: &[Parent], swaps: &[Vec<Swap>], opts: &CorpusOptions) -> Vec<WorkItem> {
    let hops: Vec<Vec<HopCandidate>> = parents.par_iter().map(|p| enumerate_hops(&p.structure, p.mobile, &opts.search)).collect();
    let mut items: Vec<WorkItem> = parents
        .par_iter()
        .zip(&hops)
        .enumerate()
        .flat_map_iter(|(k, (p, hs))| {
            let mut v = Vec::new();
            for (w, swap) in swaps[k].iter().enumerate() {
                for &ion in &opts.ions {
                    for (si, &st) in opts.strains.iter().enumerate() {
                        for h in hs {
                            v.push(WorkItem { id: corpus_id(&p.id, ion, st, h, opts.recipe, swap), parent: k, ion, strain: si, swap: w, hop: h.clone() });
                        }
                    }
                }
            }
            v
        })
        .collect();
    items.par_sort_unstable_by(|a, b| a.id.cmp(&b.id));
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

/// Oxidation states of a variant; a framework-substituted one must have an integer
/// assignment (the swap keeps the charges, and the check says it did).
fn variant_states(s: &Structure, swapped: bool) -> VariantStates {
    let a = super::analyze(s, &super::OxidationOptions::default());
    match a.outcome {
        Ok(x) if swapped && !x.method.is_integral() => Err(BvseError::NoChargeBalance {
            formula: a.formula,
            candidates: format!("only a {} assignment (framework swaps must stay integer)", x.method.as_str()),
            classes: a.classes.len(),
            nodes: a.nodes,
        }),
        Ok(x) => Ok(x.states),
        Err(e) => Err(e),
    }
}

#[allow(clippy::too_many_arguments)]
fn corpus_one(item: &WorkItem, parent: &Parent, swap: &Swap, variant: &Structure, ox: &VariantStates, strain: f64, recipe: Recipe) -> Result<HopRecord, Failure> {
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
    if !swap.pairs.is_empty() {
        substitution.push_str(&format!(", framework swap {} (lattice scaled by {})", swap.label(), swap.scale));
    }
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
            h.length * strain * swap.scale,
            h.clearance * strain * swap.scale,
            h.multiplicity,
            res.converged,
            fallback_notes(&prepared)
        )),
    };
    let mut extra = BTreeMap::new();
    extra.insert("multiplicity".to_string(), h.multiplicity as f64);
    // An open path (no framework atom within the search radius) has no finite clearance: the
    // record leaves it out rather than store an infinity that no JSON or Parquet export keeps.
    let clearance = h.clearance * strain * swap.scale;
    if clearance.is_finite() {
        extra.insert("clearance".to_string(), clearance);
    }
    extra.insert("lattice_scale".to_string(), strain * swap.scale);
    Ok(bvse_record(item.id.clone(), item.ion, &host, initial, final_site, &res, recipe, material, provenance, parent.record_id.clone(), extra, &prepared))
}

/// Computes batches of work items: the variant structures (substituted, swapped, scaled) and
/// their oxidation states, computed on first use and shared by the items of one variant (the
/// caches are emptied when they grow large: the shuffled work order rarely returns to a
/// variant).
pub(crate) struct BatchComputer<'a> {
    parents: &'a [Parent],
    swaps: &'a [Vec<Swap>],
    opts: &'a CorpusOptions,
    states: HashMap<(usize, Element, usize), VariantStates>,
    variants: HashMap<(usize, Element, usize, usize), Structure>,
}

impl<'a> BatchComputer<'a> {
    pub(crate) fn new(parents: &'a [Parent], swaps: &'a [Vec<Swap>], opts: &'a CorpusOptions) -> Self {
        BatchComputer { parents, swaps, opts, states: HashMap::new(), variants: HashMap::new() }
    }

    fn base(&self, p: usize, ion: Element, w: usize) -> Structure {
        self.swaps[p][w].apply(&substitute(&self.parents[p].structure, self.parents[p].mobile, ion))
    }

    /// The record (or failure) of each item, in parallel; `task` counts the records.
    pub(crate) fn compute(&mut self, batch: &[&WorkItem], task: &crate::progress::Task) -> Vec<Result<HopRecord, Failure>> {
        if self.states.len() > 50_000 {
            self.states.clear();
        }
        if self.variants.len() > 50_000 {
            self.variants.clear();
        }
        let mut missing: Vec<(usize, Element, usize)> = batch.iter().map(|it| (it.parent, it.ion, it.swap)).filter(|k| !self.states.contains_key(k)).collect();
        missing.sort();
        missing.dedup();
        let this = &*self;
        let fresh: Vec<((usize, Element, usize), VariantStates)> =
            missing.par_iter().map(|&(p, ion, w)| ((p, ion, w), variant_states(&this.base(p, ion, w), w > 0))).collect();
        self.states.extend(fresh);
        for it in batch {
            if !self.variants.contains_key(&(it.parent, it.ion, it.swap, it.strain)) {
                let v = strained(&self.base(it.parent, it.ion, it.swap), self.opts.strains[it.strain]);
                self.variants.insert((it.parent, it.ion, it.swap, it.strain), v);
            }
        }
        let this = &*self;
        batch
            .par_iter()
            .map(|it| {
                let s = &this.variants[&(it.parent, it.ion, it.swap, it.strain)];
                let r = corpus_one(
                    it,
                    &this.parents[it.parent],
                    &this.swaps[it.parent][it.swap],
                    s,
                    &this.states[&(it.parent, it.ion, it.swap)],
                    this.opts.strains[it.strain],
                    this.opts.recipe,
                );
                if r.is_ok() {
                    task.inc(1);
                }
                r
            })
            .collect()
    }

    /// The host structure of a computed item (its variant without the hop's end sites).
    pub(crate) fn host(&self, it: &WorkItem) -> Structure {
        it.hop.host(&self.variants[&(it.parent, it.ion, it.swap, it.strain)])
    }
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
    let parents = parents_of(store, opts.parent_records.as_deref())?;
    if parents.is_empty() {
        return Err(CorpusError::Invalid("no parent structures: the store (or the --from query) has no non-BVSE records".into()));
    }
    let swaps: Vec<Vec<Swap>> = parents.par_iter().map(|p| variant_swaps(p, &opts.swaps)).collect();
    let items = work_list(&parents, &swaps, opts);
    let mut rep = CorpusReport { target: opts.target, parents: parents.len(), available: items.len(), ..Default::default() };
    let mut computer = BatchComputer::new(&parents, &swaps, opts);
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
            } else if !opts.retry_failed && store.has_object(FAILURES, &[&it.id])? {
                rep.already_failed += 1;
            } else {
                batch.push(it);
            }
        }
        rep.scanned = i;
        if batch.is_empty() {
            break;
        }
        let results = computer.compute(&batch, &task);
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
                    let host = computer.host(it);
                    ws.insert_record(rec, &host);
                    if opts.retry_failed {
                        ws.remove_object(FAILURES, &[&rec.id]);
                    }
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

pub use crate::metrics::{pearson, ranks, spearman};

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
        if is_derived(&r) {
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

// ---------------------------------------------------------------------------------------
// breadth: how varied a set of BVSE records is
// ---------------------------------------------------------------------------------------

/// Order statistics of a set of barriers (eV).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Quantiles {
    /// How many.
    pub n: usize,
    /// Smallest.
    pub min: f64,
    /// 10th percentile.
    pub p10: f64,
    /// 25th percentile.
    pub p25: f64,
    /// Median.
    pub median: f64,
    /// 75th percentile.
    pub p75: f64,
    /// 90th percentile.
    pub p90: f64,
    /// Largest.
    pub max: f64,
}

impl Quantiles {
    /// The quantiles of `v` (linear interpolation between order statistics; NaN when empty).
    pub fn of(mut v: Vec<f64>) -> Quantiles {
        v.retain(|x| x.is_finite());
        v.sort_by(f64::total_cmp);
        let q = |p: f64| {
            if v.is_empty() {
                return f64::NAN;
            }
            let x = p * (v.len() - 1) as f64;
            let (lo, hi) = (x.floor() as usize, x.ceil() as usize);
            v[lo] + (v[hi] - v[lo]) * (x - lo as f64)
        };
        Quantiles { n: v.len(), min: q(0.0), p10: q(0.1), p25: q(0.25), median: q(0.5), p75: q(0.75), p90: q(0.9), max: q(1.0) }
    }
}

/// How broad a set of BVSE records is (`hopdb bvse breadth`).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Breadth {
    /// Records counted.
    pub records: usize,
    /// Of those, converged.
    pub converged: usize,
    /// Distinct chemical systems (element sets of host and ion).
    pub chemical_systems: usize,
    /// Distinct elements.
    pub elements: usize,
    /// Distinct mobile ions.
    pub ions: usize,
    /// Distinct parent structures (full crystals of the parent records).
    pub parent_structures: usize,
    /// Distinct frameworks: parent structures told apart by [`framework_fingerprint`], which
    /// ignores which elements sit where.
    pub frameworks: usize,
    /// Distinct space groups of the parent records (as their metadata gives them).
    pub space_groups: usize,
    /// Barriers of the records.
    pub em: Quantiles,
    /// Barriers of the store's DFT records, for comparison.
    pub dft_em: Quantiles,
}

/// A composition-independent fingerprint of a structure's framework: the anonymous formula
/// (reduced counts, largest first) and the sorted coordination numbers of its sites (the
/// neighbours within 1.25 times the site's nearest-neighbour distance, a rule that does not
/// look at which elements sit where), hashed. Element substitutions and isotropic strain keep
/// it; a different topology or stoichiometry changes it.
pub fn framework_fingerprint(s: &Structure) -> String {
    let nl = crate::structure::neighbors::NeighborList::build(s, 6.0);
    let mut cn: Vec<usize> = (0..s.len())
        .map(|i| {
            let d0 = nl.of(i).iter().map(|nb| nb.distance).fold(f64::INFINITY, f64::min);
            nl.of(i).iter().filter(|nb| nb.distance < 1.25 * d0).count()
        })
        .collect();
    cn.sort_unstable();
    let counts: Vec<(String, u64)> = s.elements().iter().map(|e| (e.symbol().to_string(), s.species.iter().filter(|x| *x == e).count() as u64)).collect();
    let text = format!("{}|{:?}", crate::optimade::formula_anonymous(&counts), cn);
    hex::encode(&Sha256::digest(text.as_bytes())[..8])
}

/// The breadth of the BVSE records `ids` (all BVSE records when `None`).
pub fn breadth(store: &Store, ids: Option<&[String]>) -> Result<Breadth, CorpusError> {
    let ids: Vec<String> = match ids {
        Some(v) => v.to_vec(),
        None => store.ids_where("fidelity", Fidelity::Bvse.as_str())?,
    };
    let mut systems = std::collections::HashSet::new();
    let mut elements = std::collections::HashSet::new();
    let mut ions = std::collections::HashSet::new();
    let mut parent_ids = std::collections::BTreeSet::new();
    let mut em = Vec::new();
    let mut out = Breadth::default();
    for id in &ids {
        let r = store.record(id)?;
        if r.fidelity != Fidelity::Bvse {
            continue;
        }
        out.records += 1;
        out.converged += usize::from(r.method.converged == Some(true));
        systems.insert(r.elements.iter().map(|e| e.symbol()).collect::<Vec<_>>().join("-"));
        elements.extend(r.elements.iter().copied());
        ions.insert(r.ion);
        if let Some(p) = &r.parent {
            parent_ids.insert(p.clone());
        }
        em.push(r.em);
    }
    let mut structures = std::collections::HashSet::new();
    let mut frameworks = std::collections::HashSet::new();
    let mut groups = std::collections::HashSet::new();
    for pid in &parent_ids {
        let Some(p) = store.get(pid)? else { continue };
        let host = store.structure(&p.host)?;
        let s = parent_structure(&host, p.ion, p.initial, p.final_site);
        if structures.insert(StructureId::of(&s)) {
            frameworks.insert(framework_fingerprint(&s));
        }
        if let Some(g) = &p.material.space_group {
            groups.insert(g.clone());
        }
    }
    let mut dft = Vec::new();
    for id in store.ids_where("fidelity", Fidelity::Dft.as_str())? {
        dft.push(store.record(&id)?.em);
    }
    out.chemical_systems = systems.len();
    out.elements = elements.len();
    out.ions = ions.len();
    out.parent_structures = structures.len();
    out.frameworks = frameworks.len();
    out.space_groups = groups.len();
    out.em = Quantiles::of(em);
    out.dft_em = Quantiles::of(dft);
    Ok(out)
}
