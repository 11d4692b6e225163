//! Oxidation states from bond-valence sums with charge balance, in the manner of pymatgen's
//! `BVAnalyzer` (a maximum a posteriori estimate):
//!
//! 1. Sites are grouped into classes of equivalent sites. pymatgen uses the space group
//!    (spglib); hopdb groups sites of the same element whose neighbour shells (element and
//!    distance of every neighbour within [`OxidationOptions::fingerprint_radius`]) agree within
//!    twice [`OxidationOptions::symm_tol`]. Symmetry-equivalent sites always agree, so the
//!    classes are the same as pymatgen's except where two inequivalent sites have identical
//!    shells to that radius.
//! 2. The bond-valence sum of one site per class is computed with the element parameters of
//!    O'Keeffe and Brese (distances scaled by [`OxidationOptions::distance_scale`]); bonds count
//!    where either end is electronegative (H B C Si N P As Sb O S Se Te F Cl Br I), positive
//!    on the less electronegative end.
//! 3. Each oxidation state of the element gets the posterior
//!    `exp(-(bvs - mean)^2 / (2 std^2)) / std * count` from the ICSD statistics; states below
//!    1 % of the most probable one are dropped.
//! 4. A depth-first search over the classes (most electronegative first, states in order of
//!    decreasing probability, branches pruned when charge neutrality is out of reach, at most
//!    [`OxidationOptions::max_permutations`] nodes) keeps the charge-neutral assignment with
//!    the highest product of probabilities in which the states of one element differ by at
//!    most one. Scores within a relative 1e-9 count as equal and the first one found is kept
//!    (pymatgen compares exactly, so among charge orderings that differ only by rounding of
//!    the bond-valence sums of equivalent-looking sites its pick is arbitrary; hopdb's is
//!    deterministic).
//!
//! The defaults are those the `ions` package passes to BVAnalyzer (symmetry tolerance 1e-3 A,
//! 4 A neighbour radius, 10,000 permutations, O- forbidden, distances scaled by 1.05).

use super::params::Params;
use super::BvseError;
use crate::element::Element;
use crate::structure::neighbors::NeighborList;
use crate::structure::Structure;

/// Elements whose bonds count in the bond-valence sum (O'Keeffe and Brese's electronegative
/// elements, as in pymatgen): H B C Si N P As Sb O S Se Te F Cl Br I.
pub const BV_ELECTRONEGATIVE: [u8; 16] = [1, 5, 6, 14, 7, 15, 33, 51, 8, 16, 34, 52, 9, 17, 35, 53];

/// Relative difference below which two assignment scores count as equal.
const SCORE_TIE: f64 = 1e-9;

/// Settings of the oxidation-state analysis.
#[derive(Clone, Debug, PartialEq)]
pub struct OxidationOptions {
    /// Position tolerance (Angstrom) of site equivalence; neighbour distances may differ by
    /// twice this. Zero turns grouping off (every site its own class).
    pub symm_tol: f64,
    /// Neighbour radius (Angstrom) of the bond-valence sums.
    pub max_radius: f64,
    /// Radius (Angstrom) of the neighbour shells compared to group equivalent sites.
    pub fingerprint_radius: f64,
    /// Most search nodes visited (pruned branches count).
    pub max_permutations: usize,
    /// Factor applied to every distance in the bond-valence sums.
    pub distance_scale: f64,
    /// Species never assigned, as (element, oxidation state).
    pub forbidden: Vec<(Element, i8)>,
}

impl Default for OxidationOptions {
    fn default() -> Self {
        OxidationOptions {
            symm_tol: 1e-3,
            max_radius: 4.0,
            fingerprint_radius: 6.0,
            max_permutations: 10_000,
            distance_scale: 1.05,
            forbidden: vec![(Element::from_z(8).expect("O"), -1)],
        }
    }
}

/// Oxidation state of every site with the default options (those of the `ions` package).
pub fn assign_oxidation_states(s: &Structure) -> Result<Vec<i8>, BvseError> {
    assign_oxidation_states_with(s, &OxidationOptions::default())
}

/// Classes of equivalent sites, each sorted by site index, ordered by their first site.
///
/// Two sites are equivalent when they hold the same element, their neighbour shells within
/// the fingerprint radius agree, and the minimum-image distances from each to every other
/// site agree (as multisets per element), all within twice the tolerance. The second test
/// (computed only for sites whose shells agree) tells apart sites that look alike locally
/// but not with respect to a distant defect, as a space-group analysis of the whole cell does.
fn equivalence_classes(s: &Structure, opts: &OxidationOptions) -> Vec<Vec<usize>> {
    let n = s.len();
    if opts.symm_tol <= 0.0 {
        return (0..n).map(|i| vec![i]).collect();
    }
    let sorted = |mut v: Vec<(u8, f64)>| {
        v.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
        v
    };
    let nl = NeighborList::build(s, opts.fingerprint_radius);
    let shells: Vec<Vec<(u8, f64)>> = nl.iter().map(|list| sorted(list.iter().map(|nb| (s.species[nb.index].z(), nb.distance)).collect())).collect();
    let mut global: Vec<Option<Vec<(u8, f64)>>> = vec![None; n];
    let global_of = |i: usize| -> Vec<(u8, f64)> {
        sorted((0..n).filter(|&j| j != i).map(|j| (s.species[j].z(), s.lattice.min_image_distance(s.frac[i], s.frac[j]))).collect())
    };
    let tol = 2.0 * opts.symm_tol + 1e-9;
    let same = |a: &[(u8, f64)], b: &[(u8, f64)]| a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.0 == y.0 && (x.1 - y.1).abs() <= tol);
    let mut classes: Vec<Vec<usize>> = Vec::new();
    for i in 0..n {
        let mut found = None;
        for (k, c) in classes.iter().enumerate() {
            let r = c[0];
            if s.species[r] != s.species[i] || !same(&shells[r], &shells[i]) {
                continue;
            }
            for x in [r, i] {
                if global[x].is_none() {
                    global[x] = Some(global_of(x));
                }
            }
            if same(global[r].as_deref().unwrap_or_default(), global[i].as_deref().unwrap_or_default()) {
                found = Some(k);
                break;
            }
        }
        match found {
            Some(k) => classes[k].push(i),
            None => classes.push(vec![i]),
        }
    }
    classes
}

/// Bond-valence sum of site `i` (O'Keeffe-Brese parameters, b = 0.31 A).
fn bv_sum(s: &Structure, nl: &NeighborList, i: usize, scale: f64, p: &Params) -> f64 {
    let e1 = s.species[i];
    let d1 = p.element(e1);
    let (r1, c1) = (d1.bv_r.unwrap_or(f64::NAN), d1.bv_c.unwrap_or(f64::NAN));
    let x1 = d1.electronegativity.unwrap_or(f64::NAN);
    let en1 = BV_ELECTRONEGATIVE.contains(&e1.z());
    let mut sum = 0.0;
    for nb in nl.of(i) {
        let e2 = s.species[nb.index];
        if e2 == e1 || !(en1 || BV_ELECTRONEGATIVE.contains(&e2.z())) {
            continue;
        }
        let d2 = p.element(e2);
        let (r2, c2) = (d2.bv_r.unwrap_or(f64::NAN), d2.bv_c.unwrap_or(f64::NAN));
        let x2 = d2.electronegativity.unwrap_or(f64::NAN);
        let dc = c1.sqrt() - c2.sqrt();
        let r = r1 + r2 - r1 * r2 * dc * dc / (c1 * r1 + c2 * r2);
        let v = ((r - nb.distance * scale) / 0.31).exp();
        sum += if x1 < x2 { v } else { -v };
    }
    sum
}

/// Depth-first search state of the charge-balance search.
struct Search<'a> {
    candidates: &'a [Vec<(i8, f64)>],
    sizes: &'a [i64],
    class_element: &'a [Element],
    vmin: Vec<i64>,
    vmax: Vec<i64>,
    nodes: usize,
    max_nodes: usize,
    best_score: f64,
    best: Option<Vec<i8>>,
}

impl Search<'_> {
    fn recurse(&mut self, assigned: &mut Vec<i8>) {
        if self.nodes > self.max_nodes {
            return;
        }
        let k = assigned.len();
        let mut hi = 0i64;
        let mut lo = 0i64;
        for (c, &size) in self.sizes.iter().enumerate() {
            let (h, l) = match assigned.get(c) {
                Some(&v) => (v as i64, v as i64),
                None => (self.vmax[c], self.vmin[c]),
            };
            hi += h * size;
            lo += l * size;
        }
        if hi < 0 || lo > 0 {
            self.nodes += 1;
            return;
        }
        if k == self.candidates.len() {
            self.evaluate(assigned);
            self.nodes += 1;
            return;
        }
        for ci in 0..self.candidates[k].len() {
            assigned.push(self.candidates[k][ci].0);
            self.recurse(assigned);
            assigned.pop();
        }
    }

    fn evaluate(&mut self, v: &[i8]) {
        // States of one element may differ by at most one between classes.
        let mut range: Vec<(Element, i8, i8)> = Vec::new();
        for (c, &ox) in v.iter().enumerate() {
            let e = self.class_element[c];
            match range.iter_mut().find(|r| r.0 == e) {
                Some(r) => {
                    r.1 = r.1.min(ox);
                    r.2 = r.2.max(ox);
                }
                None => range.push((e, ox, ox)),
            }
        }
        if range.iter().any(|r| (r.2 as i32 - r.1 as i32) > 1) {
            return;
        }
        let mut score = 1.0;
        for (c, &ox) in v.iter().enumerate() {
            score *= self.candidates[c].iter().find(|x| x.0 == ox).map_or(0.0, |x| x.1);
        }
        // Scores within a relative 1e-9 are ties (symmetry-equivalent sites whose
        // bond-valence sums differ only by rounding); the first one found is kept.
        if score > self.best_score * (1.0 + SCORE_TIE) {
            self.best_score = score;
            self.best = Some(v.to_vec());
        }
    }
}

/// Oxidation state of every site, charge balanced (see the module docs).
///
/// Errors: an empty structure, no anion-forming element (N O F S Cl Se Br Te I), an element
/// without bond-valence data, a site whose bond-valence sum fits no oxidation state, or no
/// charge-balanced assignment within the search budget.
pub fn assign_oxidation_states_with(s: &Structure, opts: &OxidationOptions) -> Result<Vec<i8>, BvseError> {
    check_assignable(s)?;
    let p = Params::global();
    let mut classes = equivalence_classes(s, opts);
    // Most electronegative first; the sort is stable, so ties keep the class order.
    let chi = |c: &Vec<usize>| p.element(s.species[c[0]]).electronegativity.unwrap_or(f64::NAN);
    classes.sort_by(|a, b| chi(b).partial_cmp(&chi(a)).unwrap_or(std::cmp::Ordering::Equal));
    let nl = NeighborList::build(s, opts.max_radius);
    let mut candidates: Vec<Vec<(i8, f64)>> = Vec::with_capacity(classes.len());
    for c in &classes {
        candidates.push(class_candidates(s, &nl, c[0], opts, p)?);
    }
    let sizes: Vec<i64> = classes.iter().map(|c| c.len() as i64).collect();
    let class_element: Vec<Element> = classes.iter().map(|c| s.species[c[0]]).collect();
    let vmin = candidates.iter().map(|c| c.iter().map(|x| x.0 as i64).min().unwrap_or(0)).collect();
    let vmax = candidates.iter().map(|c| c.iter().map(|x| x.0 as i64).max().unwrap_or(0)).collect();
    let mut search = Search {
        candidates: &candidates,
        sizes: &sizes,
        class_element: &class_element,
        vmin,
        vmax,
        nodes: 0,
        max_nodes: opts.max_permutations,
        best_score: 0.0,
        best: None,
    };
    search.recurse(&mut Vec::with_capacity(classes.len()));
    let Some(best) = search.best else {
        let states = candidate_states(&class_element, &candidates);
        return Err(BvseError::NoChargeBalance { formula: s.formula(), candidates: states, classes: classes.len(), nodes: search.nodes });
    };
    let mut out = vec![0i8; s.len()];
    for (c, ox) in classes.iter().zip(best) {
        for &i in c {
            out[i] = ox;
        }
    }
    Ok(out)
}

/// A structure can be assigned oxidation states: it has sites, an anion-forming element, and
/// bond-valence parameters for every element.
fn check_assignable(s: &Structure) -> Result<(), BvseError> {
    if s.is_empty() {
        return Err(BvseError::InvalidInput("empty structure: no sites to assign oxidation states to".into()));
    }
    if !s.species.iter().any(|e| e.is_anion_former()) {
        return Err(BvseError::NoAnion { formula: s.formula() });
    }
    let p = Params::global();
    for e in s.elements() {
        let d = p.element(e);
        if d.bv_r.is_none() || d.bv_c.is_none() {
            return Err(BvseError::MissingElementData { element: e, what: "O'Keeffe-Brese bond-valence parameters (r, c)" });
        }
    }
    Ok(())
}

/// The plausible oxidation states of a class's representative `site`, with their
/// probabilities given its bond-valence sum (normalised, most likely first, those below 1%
/// of the most likely dropped). An error when none is left.
fn class_candidates(s: &Structure, nl: &NeighborList, site: usize, opts: &OxidationOptions, p: &Params) -> Result<Vec<(i8, f64)>, BvseError> {
    let e = s.species[site];
    let bvs = bv_sum(s, nl, site, opts.distance_scale, p);
    let mut prob: Vec<(i8, f64)> = p
        .species_stats(e)
        .iter()
        .filter(|st| st.ox != 0 && st.std > 0.0 && !opts.forbidden.contains(&(e, st.ox)))
        .map(|st| {
            let z = bvs - st.mean;
            (st.ox, (-(z * z) / 2.0 / (st.std * st.std)).exp() / st.std * st.count)
        })
        .collect();
    let total: f64 = prob.iter().map(|x| x.1).sum();
    for x in prob.iter_mut() {
        x.1 = if total != 0.0 { x.1 / total } else { 0.0 };
    }
    prob.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap_or(std::cmp::Ordering::Equal));
    let top = prob.first().map_or(0.0, |x| x.1);
    prob.retain(|x| x.1 > 0.01 * top);
    if prob.is_empty() {
        return Err(BvseError::NoOxidationState { element: e, site, bv_sum: bvs });
    }
    Ok(prob)
}

/// The candidate oxidation states per element, for the no-charge-balance error: `O{-2}
/// Li{+1} Mn{+2,+3}` (elements in order, states ascending).
fn candidate_states(class_element: &[Element], candidates: &[Vec<(i8, f64)>]) -> String {
    let mut per_element: Vec<(Element, Vec<i8>)> = Vec::new();
    for (c, cand) in class_element.iter().zip(candidates) {
        let entry = match per_element.iter_mut().position(|x| x.0 == *c) {
            Some(k) => &mut per_element[k].1,
            None => {
                per_element.push((*c, Vec::new()));
                &mut per_element.last_mut().expect("just pushed").1
            }
        };
        for (ox, _) in cand {
            if !entry.contains(ox) {
                entry.push(*ox);
            }
        }
    }
    per_element.sort_by_key(|x| x.0);
    per_element
        .iter()
        .map(|(e, v)| {
            let mut v = v.clone();
            v.sort();
            format!("{e}{{{}}}", v.iter().map(|x| format!("{x:+}")).collect::<Vec<_>>().join(","))
        })
        .collect::<Vec<_>>()
        .join(" ")
}
