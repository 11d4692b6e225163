//! Parameter tables of the BVSE engine, shipped in the crate as data (`src/bvse/data/`) and
//! parsed once on first use:
//!
//! * `softbv.tsv`: the softBV bond-valence parameters of H. Chen and S. Adams, IUCrJ 4, 614
//!   (2017) and H. Chen, L. L. Wong and S. Adams, Acta Cryst. B75, 18 (2019): `r0`, `r_min`,
//!   `alpha` (= 1/b) and `d0` per (cation, oxidation state, anion, oxidation state), as
//!   tabulated in the machine-readable copy of the `ions` package (0.5.1).
//! * `elements.tsv`: per element, the principal quantum number and covalent radius that
//!   screen the Coulomb term (the conventions of `ions`: its quantum-number table and ASE's
//!   Cordero et al. 2008 covalent radii), the O'Keeffe-Brese element bond-valence parameters
//!   `r`, `c` (JACS 113, 3226 (1991)) and the Pauling electronegativity used by the
//!   oxidation-state analysis (as tabulated in pymatgen).
//! * `icsd_bv.tsv`: ICSD bond-valence-sum statistics (mean, standard deviation, occurrence
//!   count) per species, the likelihood and prior of pymatgen's BVAnalyzer.

use crate::element::Element;
use std::collections::HashMap;
use std::sync::OnceLock;

const SOFTBV_TSV: &str = include_str!("data/softbv.tsv");
const ELEMENTS_TSV: &str = include_str!("data/elements.tsv");
const ICSD_TSV: &str = include_str!("data/icsd_bv.tsv");

/// softBV parameters of one (cation, anion) pair at given oxidation states.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SoftBv {
    /// Bond-valence parameter R0 in Angstrom (not used by the energy, kept for reference).
    pub r0: f64,
    /// Distance of the Morse minimum in Angstrom.
    pub r_min: f64,
    /// Morse steepness alpha = 1/b in 1/Angstrom.
    pub alpha: f64,
    /// Bond-breaking energy D0 in eV (the Morse well is d0/2 deep).
    pub d0: f64,
}

/// softBV parameters for a (cation, anion) pair missing from the Chen-Adams table, derived
/// from the nearest tabulated pair of the same cation (see [`Params::softbv_fallback`]).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct SoftBvFallback {
    /// The mobile cation.
    pub cation: Element,
    /// Its oxidation state.
    pub cation_ox: i8,
    /// The anion without tabulated parameters.
    pub anion: Element,
    /// Its oxidation state.
    pub anion_ox: i8,
    /// The anion whose parameters were used.
    pub donor: Element,
    /// The donor's oxidation state.
    pub donor_ox: i8,
    /// Added to the donor's `r0` and `r_min` (Angstrom): the difference of the O'Keeffe-Brese
    /// bond-valence parameters R0(cation, anion) - R0(cation, donor).
    pub shift: f64,
}

impl std::fmt::Display for SoftBvFallback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}{:+}-{}{:+} from {}{:+}-{}{:+} (r shifted by {:+.3} A)",
            self.cation, self.cation_ox, self.anion, self.anion_ox, self.cation, self.cation_ox, self.donor, self.donor_ox, self.shift
        )
    }
}

/// Per-element data of the BVSE engine.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ElementData {
    /// Principal quantum number used in the Coulomb screening (`None` where `ions` has none).
    pub principal_n: Option<u8>,
    /// Covalent radius in Angstrom (Cordero et al. 2008, as in ASE).
    pub covalent_radius: f64,
    /// O'Keeffe-Brese bond-valence parameter r (Angstrom), if tabulated.
    pub bv_r: Option<f64>,
    /// O'Keeffe-Brese bond-valence parameter c, if tabulated.
    pub bv_c: Option<f64>,
    /// Pauling electronegativity (`None` for He, Ne, Ar).
    pub electronegativity: Option<f64>,
}

/// ICSD bond-valence-sum statistics of one species (element in one oxidation state).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SpeciesStats {
    /// Oxidation state.
    pub ox: i8,
    /// Mean bond-valence sum of sites holding this species.
    pub mean: f64,
    /// Standard deviation of that bond-valence sum.
    pub std: f64,
    /// How often the species occurs (the prior weight).
    pub count: f64,
}

/// The parameter tables (see the module docs for sources). Get the shared copy with
/// [`Params::global`].
#[derive(Debug)]
pub struct Params {
    softbv: HashMap<(u8, i8, u8, i8), SoftBv>,
    elements: Vec<ElementData>,
    species: Vec<Vec<SpeciesStats>>,
}

fn data_lines(text: &'static str) -> impl Iterator<Item = (usize, Vec<&'static str>)> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#'))
        .skip(1) // header row
        .map(|(n, l)| (n + 1, l.split('\t').collect()))
}

fn num(s: &str, file: &str, line: usize) -> f64 {
    s.trim().parse().unwrap_or_else(|_| panic!("bvse data {file} line {line}: bad number '{s}'"))
}

fn opt_num(s: &str, file: &str, line: usize) -> Option<f64> {
    if s.trim() == "-" {
        None
    } else {
        Some(num(s, file, line))
    }
}

fn elem(s: &str, file: &str, line: usize) -> Element {
    Element::from_symbol(s).unwrap_or_else(|_| panic!("bvse data {file} line {line}: unknown element '{s}'"))
}

impl Params {
    /// The shared tables, parsed on first use.
    pub fn global() -> &'static Params {
        static P: OnceLock<Params> = OnceLock::new();
        P.get_or_init(Params::parse)
    }

    fn parse() -> Params {
        let mut softbv = HashMap::new();
        for (line, f) in data_lines(SOFTBV_TSV) {
            assert_eq!(f.len(), 8, "bvse data softbv.tsv line {line}: expected 8 fields");
            let file = "softbv.tsv";
            let c = elem(f[0], file, line);
            let a = elem(f[2], file, line);
            let cox = num(f[1], file, line) as i8;
            let aox = num(f[3], file, line) as i8;
            let p = SoftBv { r0: num(f[4], file, line), r_min: num(f[5], file, line), alpha: num(f[6], file, line), d0: num(f[7], file, line) };
            softbv.insert((c.z(), cox, a.z(), aox), p);
        }
        let mut elements = vec![ElementData::default(); crate::element::SYMBOLS.len() - 1];
        for (line, f) in data_lines(ELEMENTS_TSV) {
            let file = "elements.tsv";
            assert_eq!(f.len(), 7, "bvse data {file} line {line}: expected 7 fields");
            let e = elem(f[0], file, line);
            elements[e.z() as usize - 1] = ElementData {
                principal_n: opt_num(f[2], file, line).map(|x| x as u8),
                covalent_radius: num(f[3], file, line),
                bv_r: opt_num(f[4], file, line),
                bv_c: opt_num(f[5], file, line),
                electronegativity: opt_num(f[6], file, line),
            };
        }
        let mut species = vec![Vec::new(); crate::element::SYMBOLS.len() - 1];
        for (line, f) in data_lines(ICSD_TSV) {
            let file = "icsd_bv.tsv";
            assert_eq!(f.len(), 5, "bvse data {file} line {line}: expected 5 fields");
            let e = elem(f[0], file, line);
            species[e.z() as usize - 1].push(SpeciesStats {
                ox: num(f[1], file, line) as i8,
                mean: num(f[2], file, line),
                std: num(f[3], file, line),
                count: num(f[4], file, line),
            });
        }
        Params { softbv, elements, species }
    }

    /// softBV parameters of the pair (cation in state `cation_ox`, anion in state `anion_ox`).
    pub fn softbv(&self, cation: Element, cation_ox: i8, anion: Element, anion_ox: i8) -> Option<SoftBv> {
        self.softbv.get(&(cation.z(), cation_ox, anion.z(), anion_ox)).copied()
    }

    /// Parameters for a pair the table lacks: those of the same cation (same state) with the
    /// nearest tabulated anion (same oxidation state first, then the same group of the
    /// periodic table, then the nearest period, then the lowest atomic number), with `r0` and
    /// `r_min` shifted by the difference of the O'Keeffe-Brese bond-valence parameters
    /// R0(cation, anion) - R0(cation, donor); `alpha` and `d0` are the donor's. `None` when
    /// the cation has no tabulated pair in that state or an element lacks O'Keeffe-Brese
    /// parameters. Records computed with such parameters carry the flag `softbv-fallback`.
    pub fn softbv_fallback(&self, cation: Element, cation_ox: i8, anion: Element, anion_ox: i8) -> Option<(SoftBv, SoftBvFallback)> {
        let r_pair = super::oxidation::okeeffe_brese_r0(self, cation, anion)?;
        let rank = |a: Element, aox: i8| {
            (aox != anion_ox, a.group() != anion.group(), (a.period() as i32 - anion.period() as i32).abs(), a.z(), std::cmp::Reverse(aox))
        };
        let (&(_, _, az, aox), bv) = self
            .softbv
            .iter()
            .filter(|(k, _)| k.0 == cation.z() && k.1 == cation_ox && k.3 < 0 && k.2 != anion.z())
            .filter_map(|(k, v)| Element::from_z(k.2).ok().map(|a| ((k, v), a)))
            .min_by_key(|((k, _), a)| rank(*a, k.3))
            .map(|(kv, _)| kv)?;
        let donor = Element::from_z(az).ok()?;
        let shift = r_pair - super::oxidation::okeeffe_brese_r0(self, cation, donor)?;
        let params = SoftBv { r0: bv.r0 + shift, r_min: bv.r_min + shift, alpha: bv.alpha, d0: bv.d0 };
        Some((params, SoftBvFallback { cation, cation_ox, anion, anion_ox, donor, donor_ox: aox, shift }))
    }

    /// Number of (cation, state, anion, state) entries in the softBV table.
    pub fn softbv_len(&self) -> usize {
        self.softbv.len()
    }

    /// Per-element data.
    pub fn element(&self, e: Element) -> &ElementData {
        &self.elements[e.z() as usize - 1]
    }

    /// Principal quantum number used in the Coulomb screening, if tabulated.
    pub fn principal_n(&self, e: Element) -> Option<u8> {
        self.element(e).principal_n
    }

    /// Covalent radius (Angstrom) used in the Coulomb screening length.
    pub fn covalent_radius(&self, e: Element) -> f64 {
        self.element(e).covalent_radius
    }

    /// ICSD bond-valence-sum statistics of every tabulated species of `e` (table order).
    pub fn species_stats(&self, e: Element) -> &[SpeciesStats] {
        &self.species[e.z() as usize - 1]
    }
}
