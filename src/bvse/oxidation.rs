//! Oxidation states from bond-valence sums with charge balance, in the manner of pymatgen's
//! `BVAnalyzer` (a maximum a posteriori estimate), with the rules and fallbacks that make it
//! work on defect supercells:
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
//!    on the less electronegative end. Bonds to an element without parameters are left out.
//! 3. Each oxidation state of the element gets the posterior
//!    `exp(-(bvs - mean)^2 / (2 std^2)) / std * count` from the ICSD statistics; states below
//!    1 % of the most probable one are dropped. Two rules (on by default, off in
//!    [`OxidationOptions::bv_analyzer`]) narrow the candidates first:
//!    * **anions keep their common state**: a site of an anion former (N O F S Cl Se Br Te I)
//!      whose bond-valence sum is negative (it is the electronegative end of its bonds) can
//!      only take the element's common anion state (N-3, O-2, S-2, Se-2, Te-2, halogens -1),
//!      unless it is bonded to an atom of its own kind (a disulfide S2 pair, a polyselenide),
//!      which also allows -1 (O-1 stays forbidden);
//!    * **rare species are never assigned**: states with fewer than
//!      [`OxidationOptions::min_count`] ICSD occurrences (Al+2, two entries) are left out.
//!
//!    An element without bond-valence parameters (Pt, Tc, Pm) takes its common oxidation
//!    states, weighted by their ICSD occurrence where tabulated.
//! 4. A depth-first search over the classes (most electronegative first, states in order of
//!    decreasing probability, branches pruned when charge neutrality is out of reach, at most
//!    [`OxidationOptions::max_permutations`] nodes) keeps the charge-neutral assignment with
//!    the highest product of probabilities in which the states of one element differ by at
//!    most one. Scores within a relative 1e-9 count as equal and the first one found is kept
//!    (pymatgen compares exactly, so among charge orderings that differ only by rounding of
//!    the bond-valence sums of equivalent-looking sites its pick is arbitrary; hopdb's is
//!    deterministic).
//! 5. Fallbacks (when [`OxidationOptions::fallbacks`] is on and the search finds nothing):
//!    * **wide search**: the same search over every tabulated state of each class (no 1 %
//!      cut), for mixed valence that the bond-valence sums of a distorted cell understate;
//!    * **fractional average** ([`OxidationMethod::FractionalAverage`]): every other class at
//!      its most probable state and one cation element at the average state that makes the
//!      cell neutral (Co16 in Co16 O32 Mg1 at +3.875: a Co3+/Co4+ mixture over sites that
//!      cannot be told apart). Of the elements whose two bracketing states are both
//!      tabulated, the one with the highest interpolated probability is chosen;
//!    * **compensated anions** ([`OxidationMethod::CompensatedAnions`]): when no cation can
//!      take the charge (Li46 P16 O64, a cell with lithium vacancies and nothing to oxidise),
//!      the anions carry it as an average within 0.25 of their common state, as a DFT cell
//!      with a charged defect and a compensating background does. The softBV parameters of an
//!      anion are those of its common state.
//!
//! The defaults are those the `ions` package passes to BVAnalyzer (symmetry tolerance 1e-3 A,
//! 4 A neighbour radius, 10,000 permutations, O- forbidden, distances scaled by 1.05) plus the
//! rules and fallbacks above; [`OxidationOptions::bv_analyzer`] is BVAnalyzer's search alone.
//! [`analyze`] returns every step (classes, sums, candidates, the method that succeeded) for
//! `hopdb bvse explain`.

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

/// Largest distance (Angstrom per site) of a compensated anion's average from its common state.
pub const MAX_ANION_COMPENSATION: f64 = 0.25;

/// Two anions of one element closer than this factor times twice their covalent radius are
/// bonded to each other (an S2 or Se2 pair), which lets them take the state -1.
const HOMONUCLEAR_BOND_FACTOR: f64 = 1.25;

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
    /// Most search nodes visited (pruned branches count), per search.
    pub max_permutations: usize,
    /// Factor applied to every distance in the bond-valence sums.
    pub distance_scale: f64,
    /// Species never assigned, as (element, oxidation state).
    pub forbidden: Vec<(Element, i8)>,
    /// Anion sites keep their element's common anion state (see the module docs).
    pub anion_rule: bool,
    /// Species with fewer ICSD occurrences than this are never assigned (0 keeps all).
    pub min_count: f64,
    /// Wide search, fractional average and compensated anions after the search fails.
    pub fallbacks: bool,
}

impl Default for OxidationOptions {
    fn default() -> Self {
        OxidationOptions { anion_rule: true, min_count: 5.0, fallbacks: true, ..OxidationOptions::bv_analyzer() }
    }
}

impl OxidationOptions {
    /// pymatgen's `BVAnalyzer` search alone, with the settings the `ions` package passes to
    /// it: no anion rule, every tabulated species, no fallbacks.
    pub fn bv_analyzer() -> Self {
        OxidationOptions {
            symm_tol: 1e-3,
            max_radius: 4.0,
            fingerprint_radius: 6.0,
            max_permutations: 10_000,
            distance_scale: 1.05,
            forbidden: vec![(Element::from_z(8).expect("O"), -1)],
            anion_rule: false,
            min_count: 0.0,
            fallbacks: false,
        }
    }
}

/// Which step of the analysis gave the states.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OxidationMethod {
    /// Integer states from the search over the likely candidates (BVAnalyzer's).
    BondValence,
    /// Integer states from the search over every tabulated state.
    WideSearch,
    /// One cation element at a fractional average state.
    FractionalAverage,
    /// The anions carry the cell's remaining charge as an average near their common state.
    CompensatedAnions,
}

impl OxidationMethod {
    /// Name used in reports (`bond-valence`, `wide-search`, `fractional-average`,
    /// `compensated-anions`).
    pub fn as_str(self) -> &'static str {
        match self {
            OxidationMethod::BondValence => "bond-valence",
            OxidationMethod::WideSearch => "wide-search",
            OxidationMethod::FractionalAverage => "fractional-average",
            OxidationMethod::CompensatedAnions => "compensated-anions",
        }
    }

    /// True for the integer methods (every state a whole number).
    pub fn is_integral(self) -> bool {
        matches!(self, OxidationMethod::BondValence | OxidationMethod::WideSearch)
    }
}

/// One class of equivalent sites, as the analysis saw it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SiteClass {
    /// Its element.
    pub element: Element,
    /// Its sites (indices into the structure, ascending).
    pub sites: Vec<usize>,
    /// Bond-valence sum of its first site (`None`: the element has no bond-valence parameters).
    pub bv_sum: Option<f64>,
    /// Candidate states with their normalised probabilities, most likely first, after the
    /// rules (every tabulated one; the search uses those within 1 % of the first).
    pub candidates: Vec<(i8, f64)>,
    /// The rule that narrowed the candidates, if any.
    pub rule: Option<String>,
    /// The state the analysis gave it (`None` when it failed).
    pub state: Option<f64>,
}

/// An oxidation-state assignment.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Assignment {
    /// State of every site (whole numbers unless the method is fractional).
    pub states: Vec<f64>,
    /// The step that gave it.
    pub method: OxidationMethod,
    /// The element at a fractional state, for the fractional methods.
    pub fractional: Option<Element>,
}

/// Everything the analysis of one structure found: the site classes with their sums and
/// candidates, and the assignment or the reason there is none.
#[derive(Clone, Debug)]
pub struct OxidationAnalysis {
    /// Formula of the structure.
    pub formula: String,
    /// Classes of equivalent sites, most electronegative first (empty when the structure
    /// failed the first checks).
    pub classes: Vec<SiteClass>,
    /// Search nodes visited over all searches.
    pub nodes: usize,
    /// The assignment, or why there is none.
    pub outcome: Result<Assignment, BvseError>,
}

/// Oxidation state of every site with the default options (rules and fallbacks on).
pub fn assign_oxidation_states(s: &Structure) -> Result<Vec<f64>, BvseError> {
    assign_oxidation_states_with(s, &OxidationOptions::default())
}

/// Oxidation state of every site, charge balanced (see the module docs).
///
/// Errors: an empty structure, no anion-forming element (N O F S Cl Se Br Te I), a site whose
/// bond-valence sum fits no oxidation state, or no charge-balanced assignment.
pub fn assign_oxidation_states_with(s: &Structure, opts: &OxidationOptions) -> Result<Vec<f64>, BvseError> {
    analyze(s, opts).outcome.map(|a| a.states)
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

/// O'Keeffe-Brese bond-valence parameter R0 (Angstrom) of a bond between two elements, from
/// their element parameters r and c (`None` when either lacks them).
pub fn okeeffe_brese_r0(p: &Params, e1: Element, e2: Element) -> Option<f64> {
    let (d1, d2) = (p.element(e1), p.element(e2));
    let (r1, c1, r2, c2) = (d1.bv_r?, d1.bv_c?, d2.bv_r?, d2.bv_c?);
    let dc = c1.sqrt() - c2.sqrt();
    Some(r1 + r2 - r1 * r2 * dc * dc / (c1 * r1 + c2 * r2))
}

/// Bond-valence sum of site `i` (O'Keeffe-Brese parameters, b = 0.31 A); `None` when its
/// element has no parameters. Bonds to elements without parameters are left out.
fn bv_sum(s: &Structure, nl: &NeighborList, i: usize, scale: f64, p: &Params) -> Option<f64> {
    let e1 = s.species[i];
    let x1 = p.element(e1).electronegativity.unwrap_or(f64::NAN);
    let en1 = BV_ELECTRONEGATIVE.contains(&e1.z());
    okeeffe_brese_r0(p, e1, e1)?;
    let mut sum = 0.0;
    for nb in nl.of(i) {
        let e2 = s.species[nb.index];
        if e2 == e1 || !(en1 || BV_ELECTRONEGATIVE.contains(&e2.z())) {
            continue;
        }
        let Some(r) = okeeffe_brese_r0(p, e1, e2) else { continue };
        let x2 = p.element(e2).electronegativity.unwrap_or(f64::NAN);
        let v = ((r - nb.distance * scale) / 0.31).exp();
        sum += if x1 < x2 { v } else { -v };
    }
    Some(sum)
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

/// The analysis of `s` with `opts`: classes, sums, candidates, and the assignment from the
/// first step that finds one (see the module docs).
pub fn analyze(s: &Structure, opts: &OxidationOptions) -> OxidationAnalysis {
    let mut out = OxidationAnalysis { formula: s.formula(), classes: Vec::new(), nodes: 0, outcome: Err(BvseError::InvalidInput(String::new())) };
    if let Err(e) = check_assignable(s, opts) {
        out.outcome = Err(e);
        return out;
    }
    let p = Params::global();
    let mut classes = equivalence_classes(s, opts);
    // Most electronegative first; the sort is stable, so ties keep the class order.
    let chi = |c: &Vec<usize>| p.element(s.species[c[0]]).electronegativity.unwrap_or(f64::NAN);
    classes.sort_by(|a, b| chi(b).partial_cmp(&chi(a)).unwrap_or(std::cmp::Ordering::Equal));
    let nl = NeighborList::build(s, opts.max_radius);
    for c in &classes {
        let (bvs, candidates, rule) = class_candidates(s, &nl, c[0], opts, p);
        out.classes.push(SiteClass { element: s.species[c[0]], sites: c.clone(), bv_sum: bvs, candidates, rule, state: None });
    }
    if let Some(k) = out.classes.iter().position(|c| c.candidates.is_empty()) {
        let c = &out.classes[k];
        out.outcome = Err(BvseError::NoOxidationState { element: c.element, site: c.sites[0], bv_sum: c.bv_sum.unwrap_or(f64::NAN) });
        return out;
    }
    let sizes: Vec<i64> = out.classes.iter().map(|c| c.sites.len() as i64).collect();
    let class_element: Vec<Element> = out.classes.iter().map(|c| c.element).collect();
    // BVAnalyzer's search over the likely candidates, then (fallback) over all of them.
    let likely: Vec<Vec<(i8, f64)>> = out
        .classes
        .iter()
        .map(|c| {
            let top = c.candidates.first().map_or(0.0, |x| x.1);
            c.candidates.iter().copied().filter(|x| x.1 > 0.01 * top).collect()
        })
        .collect();
    let wide: Vec<Vec<(i8, f64)>> = out.classes.iter().map(|c| c.candidates.iter().copied().filter(|x| x.1 > 0.0).collect()).collect();
    let mut steps = vec![(OxidationMethod::BondValence, &likely)];
    if opts.fallbacks && wide != likely {
        steps.push((OxidationMethod::WideSearch, &wide));
    }
    for (method, candidates) in steps {
        let (best, nodes) = search(candidates, &sizes, &class_element, opts.max_permutations);
        out.nodes += nodes;
        if let Some(best) = best {
            let class_states: Vec<f64> = best.iter().map(|&v| v as f64).collect();
            out.outcome = Ok(finish(s, &mut out.classes, &class_states, method, None));
            return out;
        }
    }
    if opts.fallbacks {
        if let Some((states, method, e)) = fractional(&out.classes, opts) {
            out.outcome = Ok(finish(s, &mut out.classes, &states, method, Some(e)));
            return out;
        }
    }
    out.outcome = Err(BvseError::NoChargeBalance {
        formula: out.formula.clone(),
        candidates: candidate_states(&class_element, &likely),
        classes: out.classes.len(),
        nodes: out.nodes,
    });
    out
}

/// The charge-balance search over `candidates` (per class, most likely first): the best
/// assignment and the nodes visited.
fn search(candidates: &[Vec<(i8, f64)>], sizes: &[i64], class_element: &[Element], max_nodes: usize) -> (Option<Vec<i8>>, usize) {
    let vmin = candidates.iter().map(|c| c.iter().map(|x| x.0 as i64).min().unwrap_or(0)).collect();
    let vmax = candidates.iter().map(|c| c.iter().map(|x| x.0 as i64).max().unwrap_or(0)).collect();
    let mut search = Search { candidates, sizes, class_element, vmin, vmax, nodes: 0, max_nodes, best_score: 0.0, best: None };
    search.recurse(&mut Vec::with_capacity(candidates.len()));
    (search.best, search.nodes)
}

/// Spread the per-class states over the sites and record them on the classes.
fn finish(s: &Structure, classes: &mut [SiteClass], class_states: &[f64], method: OxidationMethod, fractional: Option<Element>) -> Assignment {
    let mut states = vec![0.0; s.len()];
    for (c, &ox) in classes.iter_mut().zip(class_states) {
        c.state = Some(ox);
        for &i in &c.sites {
            states[i] = ox;
        }
    }
    Assignment { states, method, fractional }
}

/// Interpolated log probability of the average state `a` from per-state probabilities:
/// `(1 - t) ln p(v) + t ln p(v + 1)` with `v = floor(a)`, `t = a - v`; `None` when a
/// bracketing state has no probability.
fn interpolated_log_p(cands: &[(i8, f64)], a: f64) -> Option<f64> {
    let p = |v: f64| cands.iter().find(|x| x.0 as f64 == v).map(|x| x.1).filter(|&p| p > 0.0);
    let v = a.floor();
    let t = a - v;
    if t < 1e-9 {
        return p(v).map(f64::ln);
    }
    if t > 1.0 - 1e-9 {
        return p(v + 1.0).map(f64::ln);
    }
    Some((1.0 - t) * p(v)?.ln() + t * p(v + 1.0)?.ln())
}

/// The fractional fallbacks (see the module docs): per-class states, the method and the
/// element at a fractional state.
fn fractional(classes: &[SiteClass], opts: &OxidationOptions) -> Option<(Vec<f64>, OxidationMethod, Element)> {
    // Every class at its most probable state.
    let map: Vec<f64> = classes.iter().map(|c| c.candidates[0].0 as f64).collect();
    let ln_map: Vec<f64> = classes.iter().map(|c| c.candidates[0].1.ln()).collect();
    let mut elements: Vec<Element> = classes.iter().map(|c| c.element).collect();
    elements.sort();
    elements.dedup();
    let total: f64 = classes.iter().zip(&map).map(|(c, v)| c.sites.len() as f64 * v).sum();
    // (score, element, its average state)
    let mut best: Option<(f64, Element, f64)> = None;
    for &e in &elements {
        let of_e: Vec<usize> = (0..classes.len()).filter(|&k| classes[k].element == e).collect();
        if of_e.iter().any(|&k| classes[k].rule.as_deref().is_some_and(|r| r.starts_with("anion"))) || map[of_e[0]] <= 0.0 {
            continue;
        }
        let n_e: f64 = of_e.iter().map(|&k| classes[k].sites.len() as f64).sum();
        let rest = total - of_e.iter().map(|&k| classes[k].sites.len() as f64 * map[k]).sum::<f64>();
        let a = -rest / n_e;
        if !(a > 0.0) || opts.forbidden.iter().any(|f| f.0 == e && f.1 as f64 == a) {
            continue;
        }
        // The element's sites pooled: size-weighted mean of its classes' probabilities.
        let mut pooled: Vec<(i8, f64)> = Vec::new();
        for &k in &of_e {
            let w = classes[k].sites.len() as f64 / n_e;
            for &(v, pr) in &classes[k].candidates {
                match pooled.iter_mut().find(|x| x.0 == v) {
                    Some(x) => x.1 += w * pr,
                    None => pooled.push((v, w * pr)),
                }
            }
        }
        let Some(lp) = interpolated_log_p(&pooled, a) else { continue };
        let score = lp * of_e.len() as f64 + (0..classes.len()).filter(|k| !of_e.contains(k)).map(|k| ln_map[k]).sum::<f64>();
        if best.is_none_or(|b| score > b.0) {
            best = Some((score, e, a));
        }
    }
    if let Some((_, e, a)) = best {
        let states = (0..classes.len()).map(|k| if classes[k].element == e { a } else { map[k] }).collect();
        return Some((states, OxidationMethod::FractionalAverage, e));
    }
    // Compensated anions: the ruled anion element with the most sites carries the charge.
    let anions: Vec<Element> = elements
        .iter()
        .copied()
        .filter(|&e| classes.iter().any(|c| c.element == e && c.rule.as_deref().is_some_and(|r| r.starts_with("anion"))))
        .collect();
    let count = |e: Element| classes.iter().filter(|c| c.element == e).map(|c| c.sites.len()).sum::<usize>();
    let e = anions.into_iter().max_by_key(|&e| (count(e), std::cmp::Reverse(e)))?;
    let of_e: Vec<usize> = (0..classes.len()).filter(|&k| classes[k].element == e).collect();
    let n_e = count(e) as f64;
    let common = map[of_e[0]];
    let rest = total - of_e.iter().map(|&k| classes[k].sites.len() as f64 * map[k]).sum::<f64>();
    let a = -rest / n_e;
    if of_e.iter().any(|&k| map[k] != common) || (a - common).abs() > MAX_ANION_COMPENSATION {
        return None;
    }
    let states = (0..classes.len()).map(|k| if of_e.contains(&k) { a } else { map[k] }).collect();
    Some((states, OxidationMethod::CompensatedAnions, e))
}

/// A structure can be assigned oxidation states: it has sites and an anion-forming element
/// (and, without fallbacks, as in BVAnalyzer, bond-valence parameters for every element).
fn check_assignable(s: &Structure, opts: &OxidationOptions) -> Result<(), BvseError> {
    if s.is_empty() {
        return Err(BvseError::InvalidInput("empty structure: no sites to assign oxidation states to".into()));
    }
    if !s.species.iter().any(|e| e.is_anion_former()) {
        return Err(BvseError::NoAnion { formula: s.formula() });
    }
    if !opts.fallbacks {
        let p = Params::global();
        if let Some(e) = s.elements().into_iter().find(|&e| okeeffe_brese_r0(p, e, e).is_none()) {
            return Err(BvseError::MissingElementData { element: e, what: "O'Keeffe-Brese bond-valence parameters (r, c)" });
        }
    }
    Ok(())
}

/// The common anion state of an anion former (its most negative common state).
pub(crate) fn common_anion_state(e: Element) -> Option<i8> {
    e.oxidation_states().iter().copied().filter(|&v| v < 0).min()
}

/// The candidate states of a class's representative `site` with their normalised
/// probabilities, most likely first (every tabulated state with a non-zero probability),
/// its bond-valence sum, and the rule that narrowed them.
fn class_candidates(s: &Structure, nl: &NeighborList, site: usize, opts: &OxidationOptions, p: &Params) -> (Option<f64>, Vec<(i8, f64)>, Option<String>) {
    let e = s.species[site];
    let bvs = bv_sum(s, nl, site, opts.distance_scale, p);
    let allowed = |ox: i8, count: f64| ox != 0 && count >= opts.min_count && !opts.forbidden.contains(&(e, ox));
    let mut rule = None;
    let mut prob: Vec<(i8, f64)> = match bvs {
        Some(bvs) => p
            .species_stats(e)
            .iter()
            .filter(|st| st.std > 0.0 && allowed(st.ox, st.count))
            .map(|st| {
                let z = bvs - st.mean;
                (st.ox, (-(z * z) / 2.0 / (st.std * st.std)).exp() / st.std * st.count)
            })
            .collect(),
        None => {
            // No bond-valence parameters: the element's common states, weighted by how often
            // they occur in the ICSD where tabulated.
            rule = Some(format!("no bond-valence parameters for {e}: its common states"));
            let stats = p.species_stats(e);
            e.oxidation_states()
                .iter()
                .filter(|&&v| v > 0 && !opts.forbidden.contains(&(e, v)))
                .map(|&v| (v, stats.iter().find(|st| st.ox == v).map_or(1.0, |st| st.count.max(1.0))))
                .collect()
        }
    };
    if opts.anion_rule && e.is_anion_former() && bvs.is_none_or(|b| b < 0.0) {
        if let Some(common) = common_anion_state(e) {
            let rc = p.covalent_radius(e);
            let paired = nl.of(site).iter().any(|nb| s.species[nb.index] == e && nb.distance < HOMONUCLEAR_BOND_FACTOR * 2.0 * rc);
            let keep = |v: i8| v == common || (paired && v == -1 && !opts.forbidden.contains(&(e, -1)));
            prob.retain(|x| keep(x.0));
            if prob.is_empty() {
                prob.push((common, 1.0));
            }
            rule = Some(if paired {
                format!("anion: {e}{common:+}, or -1 when bonded to {e} (it is)")
            } else {
                format!("anion: kept at its common state {e}{common:+}")
            });
        }
    }
    let total: f64 = prob.iter().map(|x| x.1).sum();
    for x in prob.iter_mut() {
        x.1 = if total != 0.0 { x.1 / total } else { 0.0 };
    }
    prob.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap_or(std::cmp::Ordering::Equal));
    if prob.first().is_none_or(|x| x.1 <= 0.0) {
        prob.clear();
    }
    (bvs, prob, rule)
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
