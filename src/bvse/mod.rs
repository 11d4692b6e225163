//! BVSE (bond-valence site energy) migration barriers.
//!
//! The mobile ion moves in the fixed framework of its host; its energy is the softBV
//! bond-valence force field (Morse-type attraction to counter-ions, screened Coulomb repulsion
//! from like-charged ions; [`field`]), the framework's oxidation states come from bond-valence
//! sums with charge balance ([`oxidation`]), and the barrier of a hop is found by a nudged
//! elastic band along the straight segment between its sites ([`mod@neb`]). [`hops`] enumerates
//! the distinct jumps of a structure for corpus generation.
//!
//! Two recipes ([`Recipe`]):
//!
//! * [`Recipe::Hopdb`] (default): the framework is the host structure, periodic; the ion
//!   interacts with every framework atom image within 10 A (other atoms of the mobile species
//!   in the host are part of the framework; the ion's own periodic copies are not present).
//!   9 images, end points relaxed, climbing image, FIRE to 0.05 eV/A within 500 steps,
//!   barrier = highest image minus initial image.
//! * [`Recipe::Ions`]: the recipe of the `ions` Python package (0.5.1) so results can be
//!   compared with it: the host cell is repeated until its widths reach 8 A (like
//!   `Edge.superedge(8.0)`; the repeated copies of the hop's two sites stay occupied by the
//!   mobile species, except the arrival site itself), 5 images, both end points relaxed by
//!   FIRE (fmax 0.1, 100 steps), NEB with k = 2.0, improved tangent, no climbing image, FIRE
//!   to fmax 0.1 in at most 100 steps, barrier = max - min over the band.
//!
//! Both recipes assign oxidation states ([`oxidation`], rules and fallbacks on) to host + ion
//! at the initial site + ion at the final site (the two ends of the edge, as `ions` does); if
//! no charge-balanced integer assignment exists for that, host + ion at the initial site is
//! tried, and the final site takes the same state; only when neither has an integer
//! assignment does the fractional fallback of the first basis apply.
//! Self-interaction of the mobile ion with its own periodic images, which `ions` includes, is
//! a constant along the path and is left out.

pub mod corpus;
pub mod field;
pub mod hops;
pub mod neb;
pub mod oxidation;
pub mod params;
pub mod shard;

pub use field::{Field, ForceConvention, PairTerm, Region, COULOMB_K, DEFAULT_CUTOFF, SCREENING_F};
pub use hops::{enumerate_hops, HopCandidate, HopSearchOptions};
pub use neb::{neb, BarrierDefinition, Fire, FireParams, NebOptions, NebResult};
pub use oxidation::{analyze, assign_oxidation_states, assign_oxidation_states_with, Assignment, OxidationAnalysis, OxidationMethod, OxidationOptions, SiteClass};
pub use params::{ElementData, Params, SoftBv, SoftBvFallback, SpeciesStats};

use crate::element::Element;
use crate::record::HopRecord;
use crate::structure::{norm, sub, Lattice, Structure, Vec3};

/// Everything that can stop a BVSE calculation; each message names the problem.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BvseError {
    /// No anion-forming element (N O F S Cl Se Br Te I) or no negative oxidation state.
    #[error("no anion in {formula}: BVSE needs counter-ions (N, O, F, S, Cl, Se, Br, Te or I with a negative oxidation state)")]
    NoAnion {
        /// Formula of the structure.
        formula: String,
    },
    /// The softBV table has no parameters for a (mobile cation, anion) pair.
    #[error("no softBV parameters for {cation}{cation_ox:+} with {anion}{anion_ox:+} (pair missing from the Chen-Adams table)")]
    MissingPair {
        /// Mobile cation.
        cation: Element,
        /// Its oxidation state.
        cation_ox: i8,
        /// Framework anion.
        anion: Element,
        /// Its oxidation state.
        anion_ox: i8,
    },
    /// An element lacks data the engine needs.
    #[error("no {what} for {element}")]
    MissingElementData {
        /// The element.
        element: Element,
        /// Which datum is missing.
        what: &'static str,
    },
    /// A site's bond-valence sum fits none of its element's oxidation states.
    #[error("no plausible oxidation state for {element} at site {site} (bond-valence sum {bv_sum:.3})")]
    NoOxidationState {
        /// The element.
        element: Element,
        /// Site index.
        site: usize,
        /// Its bond-valence sum.
        bv_sum: f64,
    },
    /// No assignment of the candidate oxidation states is charge neutral.
    #[error("no charge-balanced oxidation states for {formula}: candidates {candidates} over {classes} site classes ({nodes} combinations tried)")]
    NoChargeBalance {
        /// Formula of the structure.
        formula: String,
        /// Candidate states per element, e.g. `Li{+1} Mn{+3,+4} O{-2}`.
        candidates: String,
        /// Number of classes of equivalent sites.
        classes: usize,
        /// Search nodes visited.
        nodes: usize,
    },
    /// The hop's end points coincide.
    #[error("hop end points coincide ({distance:.4} A apart)")]
    CoincidentEndpoints {
        /// Their distance.
        distance: f64,
    },
    /// Any other invalid input.
    #[error("{0}")]
    InvalidInput(String),
}

/// How a barrier is computed (see the module docs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Recipe {
    /// hopdb's own: host framework, climbing-image NEB, barrier = max - initial.
    #[default]
    Hopdb,
    /// The `ions` package's recipe, for comparison with it.
    Ions,
}

impl Recipe {
    /// NEB settings of the recipe.
    pub fn neb_options(self) -> NebOptions {
        match self {
            Recipe::Hopdb => NebOptions::default(),
            Recipe::Ions => NebOptions::ions(),
        }
    }

    /// Pair-interaction cutoff (Angstrom).
    pub fn cutoff(self) -> f64 {
        DEFAULT_CUTOFF
    }

    /// Smallest cell width (Angstrom) of the repeated cell, for recipes that build one.
    pub fn supercell_width(self) -> Option<f64> {
        match self {
            Recipe::Hopdb => None,
            Recipe::Ions => Some(8.0),
        }
    }

    /// Force convention of the recipe ([`ForceConvention::Ions`] reproduces `ions`' forces).
    pub fn force_convention(self) -> ForceConvention {
        match self {
            Recipe::Hopdb => ForceConvention::Exact,
            Recipe::Ions => ForceConvention::Ions,
        }
    }

    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Recipe::Hopdb => "hopdb",
            Recipe::Ions => "ions",
        }
    }
}

/// Which structure the oxidation states were assigned on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OxidationBasis {
    /// Host + ion at the initial site + ion at the final site.
    HostWithBothSites,
    /// Host + ion at the initial site (the first basis had no charge-balanced assignment).
    HostWithInitialSite,
}

/// A hop ready for NEB: the field, the end points, and how it was set up.
#[derive(Clone, Debug)]
pub struct PreparedHop {
    /// The ion's energy landscape.
    pub field: Field,
    /// Cartesian initial site.
    pub initial: Vec3,
    /// Cartesian final site (unwrapped).
    pub final_: Vec3,
    /// The mobile element.
    pub ion: Element,
    /// Its oxidation state.
    pub ion_ox: i8,
    /// Oxidation states of host + ion(s) in the order host sites, initial, final
    /// (the final site's state is a copy of the initial one when the basis is
    /// [`OxidationBasis::HostWithInitialSite`]).
    pub oxidation_states: Vec<f64>,
    /// How they were found (`None` when the caller gave them).
    pub oxidation_method: Option<OxidationMethod>,
    /// Which structure they were assigned on.
    pub basis: OxidationBasis,
    /// Repetitions of the host cell along a, b, c.
    pub supercell: [usize; 3],
    /// The recipe.
    pub recipe: Recipe,
}

impl PreparedHop {
    /// Run the recipe's NEB.
    pub fn run(&self) -> Result<NebResult, BvseError> {
        neb(&self.field, self.initial, self.final_, &self.recipe.neb_options())
    }

    /// Run NEB with other settings.
    pub fn run_with(&self, opts: &NebOptions) -> Result<NebResult, BvseError> {
        neb(&self.field, self.initial, self.final_, opts)
    }
}

fn with_ions(host: &Structure, ion: Element, sites: &[Vec3]) -> Structure {
    let mut species = host.species.clone();
    let mut frac = host.frac.clone();
    for f in sites {
        species.push(ion);
        frac.push(*f);
    }
    Structure { lattice: host.lattice.clone(), species, frac }
}

/// Set up the hop of `ion` from fractional `initial` to fractional `final_site` (unwrapped)
/// in `host` for `recipe`: oxidation states, the framework (repeated for [`Recipe::Ions`])
/// and the field.
pub fn prepare_hop(host: &Structure, ion: Element, initial: Vec3, final_site: Vec3, recipe: Recipe) -> Result<PreparedHop, BvseError> {
    let lat = &host.lattice;
    let d = norm(sub(lat.to_cart(final_site), lat.to_cart(initial)));
    if d < 0.01 || !d.is_finite() {
        return Err(BvseError::CoincidentEndpoints { distance: d });
    }
    let hop = hop_oxidation_states(host, ion, initial, final_site);
    let a = hop.outcome?;
    finish_prepare(host, ion, initial, final_site, recipe, a.states, Some(a.method), hop.basis)
}

/// The oxidation-state analysis of a hop as [`prepare_hop`] does it, for explaining.
#[derive(Clone, Debug)]
pub struct HopOxidation {
    /// The structure analysed.
    pub basis: OxidationBasis,
    /// Its analysis (the last one tried).
    pub analysis: OxidationAnalysis,
    /// States in the order host sites, initial, final; or why there are none.
    pub outcome: Result<Assignment, BvseError>,
}

/// Oxidation states for the hop of `ion` from `initial` to `final_site` in `host`, basis by
/// basis as `ions` does (host + both sites, then host + the initial site with the final site
/// copying it), step by step: BVAnalyzer's search on either basis first, then the wide search
/// on either, then the fractional fallbacks on host + both sites.
pub fn hop_oxidation_states(host: &Structure, ion: Element, initial: Vec3, final_site: Vec3) -> HopOxidation {
    let n = host.len();
    let opts = OxidationOptions::default();
    let both = analyze(&with_ions(host, ion, &[initial, final_site]), &opts);
    let done = |basis: OxidationBasis, analysis: &OxidationAnalysis| {
        let mut outcome = analysis.outcome.clone();
        if basis == OxidationBasis::HostWithInitialSite {
            if let Ok(a) = &mut outcome {
                a.states.push(a.states[n]);
            }
        }
        HopOxidation { basis, analysis: analysis.clone(), outcome }
    };
    let method = |a: &OxidationAnalysis| a.outcome.as_ref().ok().map(|x| x.method);
    match &both.outcome {
        Ok(a) if a.method == OxidationMethod::BondValence => return done(OxidationBasis::HostWithBothSites, &both),
        Err(e) if !matches!(e, BvseError::NoChargeBalance { .. }) => return done(OxidationBasis::HostWithBothSites, &both),
        _ => {}
    }
    let one = analyze(&with_ions(host, ion, &[initial]), &opts);
    for m in [OxidationMethod::BondValence, OxidationMethod::WideSearch] {
        if m == OxidationMethod::WideSearch && method(&both) == Some(m) {
            return done(OxidationBasis::HostWithBothSites, &both);
        }
        if method(&one) == Some(m) {
            return done(OxidationBasis::HostWithInitialSite, &one);
        }
    }
    done(OxidationBasis::HostWithBothSites, &both)
}

/// Like [`prepare_hop`] but with oxidation states given by the caller, in the order host
/// sites, ion at the initial site, and optionally ion at the final site (which otherwise
/// takes the initial site's state).
pub fn prepare_hop_with_oxidation_states(
    host: &Structure,
    ion: Element,
    initial: Vec3,
    final_site: Vec3,
    recipe: Recipe,
    ox: &[f64],
) -> Result<PreparedHop, BvseError> {
    let n = host.len();
    let (ci, cf) = (host.lattice.to_cart(initial), host.lattice.to_cart(final_site));
    let d = norm(sub(cf, ci));
    if d < 0.01 || !d.is_finite() {
        return Err(BvseError::CoincidentEndpoints { distance: d });
    }
    let mut ox = ox.to_vec();
    let basis = match ox.len() {
        l if l == n + 2 => OxidationBasis::HostWithBothSites,
        l if l == n + 1 => {
            ox.push(ox[n]);
            OxidationBasis::HostWithInitialSite
        }
        l => return Err(BvseError::InvalidInput(format!("{l} oxidation states for a host of {n} sites (expected {} or {})", n + 1, n + 2))),
    };
    finish_prepare(host, ion, initial, final_site, recipe, ox, None, basis)
}

#[allow(clippy::too_many_arguments)]
fn finish_prepare(
    host: &Structure,
    ion: Element,
    initial: Vec3,
    final_site: Vec3,
    recipe: Recipe,
    ox: Vec<f64>,
    oxidation_method: Option<OxidationMethod>,
    basis: OxidationBasis,
) -> Result<PreparedHop, BvseError> {
    let n = host.len();
    let lat = &host.lattice;
    let (ci, cf) = (lat.to_cart(initial), lat.to_cart(final_site));
    if ox[n] != ox[n].round() {
        return Err(BvseError::InvalidInput(format!("mobile ion {ion} was assigned the fractional oxidation state {:+.3}; it must be a whole number", ox[n])));
    }
    let ion_ox = ox[n] as i8;
    if ion_ox <= 0 {
        return Err(BvseError::InvalidInput(format!("mobile ion {ion} was assigned oxidation state {ion_ox:+}; only cations can migrate in BVSE")));
    }
    let (framework, fox, supercell) = match recipe.supercell_width() {
        None => (host.clone(), ox[..n].to_vec(), [1, 1, 1]),
        Some(w) => repeated_framework(host, ion, &ox, initial, final_site, w),
    };
    let field = Field::new(&framework, ion, ion_ox, &fox, recipe.cutoff())?.with_force_convention(recipe.force_convention());
    Ok(PreparedHop { field, initial: ci, final_: cf, ion, ion_ox, oxidation_states: ox, oxidation_method, basis, supercell, recipe })
}

/// The host repeated until every width reaches `width`, with the copies of the hop's two
/// sites occupied by the mobile species except the moving ion's own site and the arrival site
/// (the layout of `ions`' `Edge.superedge(...).interpolate(...)`).
fn repeated_framework(host: &Structure, ion: Element, ox: &[f64], initial: Vec3, final_site: Vec3, width: f64) -> (Structure, Vec<f64>, [usize; 3]) {
    let n = host.len();
    let w = host.lattice.perpendicular_widths();
    let s: [usize; 3] = std::array::from_fn(|k| ((width / w[k]).ceil() as usize).max(1));
    let m = host.lattice.matrix();
    let lattice = Lattice::new(std::array::from_fn(|k| crate::structure::scale(m[k], s[k] as f64))).expect("a repeated lattice stays regular");
    let offset: [f64; 3] = std::array::from_fn(|k| final_site[k].floor());
    let target: Vec3 = std::array::from_fn(|k| final_site[k] - offset[k]);
    let arrival: [usize; 3] = std::array::from_fn(|k| (offset[k] as i64).rem_euclid(s[k] as i64) as usize);
    let mut species = Vec::new();
    let mut frac = Vec::new();
    let mut fox = Vec::new();
    let final_ox = ox.get(n + 1).copied().unwrap_or(ox[n]);
    for i in 0..s[0] {
        for j in 0..s[1] {
            for k in 0..s[2] {
                let cell = [i as f64, j as f64, k as f64];
                let put = |f: Vec3| -> Vec3 { std::array::from_fn(|a| (f[a] + cell[a]) / s[a] as f64) };
                for (idx, f) in host.frac.iter().enumerate() {
                    species.push(host.species[idx]);
                    frac.push(put(*f));
                    fox.push(ox[idx]);
                }
                if [i, j, k] != [0, 0, 0] {
                    species.push(ion);
                    frac.push(put(initial));
                    fox.push(ox[n]);
                }
                if [i, j, k] != arrival {
                    species.push(ion);
                    frac.push(put(target));
                    fox.push(final_ox);
                }
            }
        }
    }
    (Structure { lattice, species, frac }, fox, s)
}

/// BVSE barrier of a stored hop with `recipe` (`host` is the record's host structure, e.g.
/// from `store.structure(&record.host)`).
pub fn barrier_for_hop(record: &HopRecord, host: &Structure, recipe: Recipe) -> Result<NebResult, BvseError> {
    prepare_hop(host, record.ion, record.initial, record.final_site, recipe)?.run()
}
