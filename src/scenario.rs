//! Scenarios A/B/C: how a test hop relates to the training set of its split, as defined in
//! Devi et al. (npj Comput. Mater. 2025), decided from the structures themselves.
//!
//! The *framework* of a hop is its host without any atom of the mobile species. Two frameworks
//! *match* when, after a rigid translation in fractional coordinates, every site of one has a
//! site of the other of the same kind within [`SITE_TOLERANCE`] Angstrom (minimum image, in the
//! first structure's lattice), the atom counts agree, and the lattice lengths and angles agree
//! within a tolerance. "Same kind" is the element for an exact match, and the role (anion or
//! cation, see [`crate::element::Element::is_anion`]) for a match up to substitution.
//!
//! For each test hop, in order of precedence:
//! - **A** (another pathway of the same structure): a training hop of the same mobile ion whose
//!   framework matches exactly, lattice within 2 % / 2 degrees, with the same number of
//!   mobile-species atoms in the host.
//! - **B** (same framework, other intercalant content): a training hop of the same mobile ion
//!   whose framework matches exactly, lattice within 10 % / 5 degrees, with a different number
//!   of mobile-species atoms in the host (charged versus discharged).
//! - **C** (same structure type, other chemistry): a training hop whose framework matches up to
//!   substitution (roles, not elements), lattice within 15 % / 8 degrees, with a different
//!   mobile ion or a different framework composition.
//! - **none** otherwise.
//!
//! Each tag lists the training hops that justify it. Structures from different sources in
//! different cell settings are not recognised as the same (no lattice reduction is attempted);
//! this errs towards "none".

use crate::element::Element;
use crate::record::{HopRecord, StructureId};
use crate::store::{Result, Store};
use crate::structure::{neighbors::PointLocator, Structure};
use std::collections::HashMap;

/// Site tolerance (Angstrom) for framework matching.
pub const SITE_TOLERANCE: f64 = 0.5;

/// A test hop's scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub enum Scenario {
    /// Another pathway of the same structure is in train.
    A,
    /// The same framework at another intercalant content is in train.
    B,
    /// The same structure type with other chemistry is in train.
    C,
    /// None of the above.
    None,
}

impl Scenario {
    /// Name as shown in tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Scenario::A => "A",
            Scenario::B => "B",
            Scenario::C => "C",
            Scenario::None => "none",
        }
    }
}

/// The scenario of one test hop and the training hops that justify it.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ScenarioTag {
    /// Test hop id.
    pub id: String,
    /// Its scenario.
    pub scenario: Scenario,
    /// Training hop ids that justify the scenario (empty for none).
    pub evidence: Vec<String>,
}

/// A hop's framework and the facts needed to compare it.
#[derive(Clone, Debug)]
pub struct Framework {
    ion: Element,
    mobile_count: usize,
    structure: Structure,
    /// Sorted element counts of the framework.
    composition: Vec<(Element, usize)>,
    /// Sorted role counts (anions, cations).
    roles: (usize, usize),
}

impl Framework {
    /// The framework of a hop: its host without atoms of the mobile species.
    pub fn of(r: &HopRecord, host: &Structure) -> Framework {
        let keep: Vec<usize> = (0..host.len()).filter(|&i| host.species[i] != r.ion).collect();
        let structure = Structure {
            lattice: host.lattice.clone(),
            species: keep.iter().map(|&i| host.species[i]).collect(),
            frac: keep.iter().map(|&i| host.frac[i]).collect(),
        };
        let mut counts: HashMap<Element, usize> = HashMap::new();
        for e in &structure.species {
            *counts.entry(*e).or_default() += 1;
        }
        let mut composition: Vec<(Element, usize)> = counts.into_iter().collect();
        composition.sort();
        let anions = structure.species.iter().filter(|e| e.is_anion()).count();
        Framework {
            ion: r.ion,
            mobile_count: host.len() - keep.len(),
            roles: (anions, structure.len() - anions),
            composition,
            structure,
        }
    }
}

fn lattice_close(a: &Structure, b: &Structure, rel: f64, deg: f64) -> bool {
    let (la, lb) = (a.lattice.lengths(), b.lattice.lengths());
    let (aa, ab) = (a.lattice.angles(), b.lattice.angles());
    (0..3).all(|i| (la[i] - lb[i]).abs() <= rel * la[i] && (aa[i] - ab[i]).abs() <= deg)
}

/// True when the two frameworks match after a translation; `kind` maps an element to the
/// category that must agree (the element itself, or its role).
fn frameworks_match(a: &Structure, b: &Structure, kind: impl Fn(Element) -> u8) -> bool {
    if a.len() != b.len() || a.is_empty() {
        return a.len() == b.len();
    }
    // Compare b's fractional sites in a's lattice.
    let b_in_a = Structure { lattice: a.lattice.clone(), species: b.species.clone(), frac: b.frac.clone() };
    let loc = PointLocator::new(&b_in_a, SITE_TOLERANCE);
    // Anchor: a site of the rarest kind in a.
    let mut counts: HashMap<u8, usize> = HashMap::new();
    for e in &a.species {
        *counts.entry(kind(*e)).or_default() += 1;
    }
    let anchor = (0..a.len()).min_by_key(|&i| counts[&kind(a.species[i])]).expect("non-empty");
    let ka = kind(a.species[anchor]);
    for j in (0..b.len()).filter(|&j| kind(b.species[j]) == ka) {
        let t = crate::structure::sub(b.frac[j], a.frac[anchor]);
        let ok = (0..a.len()).all(|i| {
            let f = crate::structure::add(a.frac[i], t);
            loc.within(a.lattice.to_cart(f), SITE_TOLERANCE).iter().any(|n| kind(b_in_a.species[n.index]) == kind(a.species[i]))
        });
        if ok {
            return true;
        }
    }
    false
}

fn element_kind(e: Element) -> u8 {
    e.z()
}

fn role_kind(e: Element) -> u8 {
    u8::from(e.is_anion())
}

/// Classify one test framework against training frameworks (id, framework).
pub fn classify_one(test: &Framework, train: &[(String, &Framework)]) -> (Scenario, Vec<String>) {
    let mut best = (Scenario::None, Vec::new());
    for (id, tr) in train {
        let exact_candidate = tr.ion == test.ion && tr.composition == test.composition;
        let s = if exact_candidate
            && tr.mobile_count == test.mobile_count
            && lattice_close(&test.structure, &tr.structure, 0.02, 2.0)
            && frameworks_match(&test.structure, &tr.structure, element_kind)
        {
            Scenario::A
        } else if exact_candidate
            && tr.mobile_count != test.mobile_count
            && lattice_close(&test.structure, &tr.structure, 0.10, 5.0)
            && frameworks_match(&test.structure, &tr.structure, element_kind)
        {
            Scenario::B
        } else if (tr.ion != test.ion || tr.composition != test.composition)
            && tr.roles == test.roles
            && lattice_close(&test.structure, &tr.structure, 0.15, 8.0)
            && frameworks_match(&test.structure, &tr.structure, role_kind)
        {
            Scenario::C
        } else {
            continue;
        };
        if s < best.0 {
            best = (s, vec![id.clone()]);
        } else if s == best.0 {
            best.1.push(id.clone());
        }
    }
    best
}

/// Tag every test hop of a split with its scenario relative to the training hops.
pub fn classify(store: &Store, train_ids: &[String], test_ids: &[String]) -> Result<Vec<ScenarioTag>> {
    let mut hosts: HashMap<StructureId, Structure> = HashMap::new();
    let mut framework = |id: &String| -> Result<Framework> {
        let r = store.record(id)?;
        if !hosts.contains_key(&r.host) {
            hosts.insert(r.host.clone(), store.structure(&r.host)?);
        }
        Ok(Framework::of(&r, &hosts[&r.host]))
    };
    let train: Vec<(String, Framework)> = train_ids.iter().map(|id| Ok((id.clone(), framework(id)?))).collect::<Result<_>>()?;
    let train_refs: Vec<(String, &Framework)> = train.iter().map(|(id, f)| (id.clone(), f)).collect();
    test_ids
        .iter()
        .map(|id| {
            let f = framework(id)?;
            let (scenario, mut evidence) = classify_one(&f, &train_refs);
            evidence.sort();
            Ok(ScenarioTag { id: id.clone(), scenario, evidence })
        })
        .collect()
}
