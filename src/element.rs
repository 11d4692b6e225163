//! The periodic table: element symbols, atomic numbers and the elemental properties that
//! descriptors and the BVSE engine need, shipped in the crate as data.
//!
//! Sources of the property table ([`ElementProps`], one entry per Z = 1..=103):
//!
//! * Electronegativity: Pauling scale, as tabulated in the CRC Handbook / WebElements
//!   (L. Pauling, *The Nature of the Chemical Bond*, 3rd ed., 1960; A. L. Allred,
//!   J. Inorg. Nucl. Chem. 17, 215 (1961)). He, Ne and Ar have none; the tabulated values for
//!   Kr (3.00), Xe (2.60) and Rn (2.2) are kept. Pb uses the commonly tabulated 2.33 (Pb(IV)).
//!   Values from Am on are the usual 1.3 estimates.
//! * Covalent radius: B. Cordero et al., "Covalent radii revisited", Dalton Trans. 2832 (2008),
//!   in Angstrom; C is sp3 (0.76), Mn/Fe/Co are the low-spin values (1.39/1.32/1.26; high-spin
//!   1.61/1.52/1.50). Cordero stops at Cm; Bk..Lr use the single-bond radii of P. Pyykko and
//!   M. Atsumi, Chem. Eur. J. 15, 186 (2009).
//! * Ionic radius: R. D. Shannon, "Revised effective ionic radii", Acta Cryst. A32, 751 (1976),
//!   effective ionic radii (not crystal radii) in Angstrom, for the oxidation state recorded in
//!   [`ElementProps::ionic_radius_charge`] (the first of the common oxidation states) and
//!   six-fold coordination unless [`ElementProps::ionic_radius_cn`] says otherwise (N3- is
//!   four-coordinate, Ra2+ eight-coordinate). Mn2+, Fe2+ and Co2+ are high-spin.
//! * Atomic mass: IUPAC standard atomic weights (conventional values); for elements without
//!   stable isotopes, the mass number of the longest-lived (or customarily quoted) isotope.
//! * Period and group are derived from Z; lanthanides and actinides (La..Lu, Ac..Lr) are put
//!   in group 3.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Element symbols indexed by atomic number (index 0 is unused).
pub const SYMBOLS: [&str; 104] = [
    "", "H", "He", "Li", "Be", "B", "C", "N", "O", "F", "Ne", "Na", "Mg", "Al", "Si", "P", "S", "Cl", "Ar", "K", "Ca",
    "Sc", "Ti", "V", "Cr", "Mn", "Fe", "Co", "Ni", "Cu", "Zn", "Ga", "Ge", "As", "Se", "Br", "Kr", "Rb", "Sr", "Y",
    "Zr", "Nb", "Mo", "Tc", "Ru", "Rh", "Pd", "Ag", "Cd", "In", "Sn", "Sb", "Te", "I", "Xe", "Cs", "Ba", "La", "Ce",
    "Pr", "Nd", "Pm", "Sm", "Eu", "Gd", "Tb", "Dy", "Ho", "Er", "Tm", "Yb", "Lu", "Hf", "Ta", "W", "Re", "Os", "Ir",
    "Pt", "Au", "Hg", "Tl", "Pb", "Bi", "Po", "At", "Rn", "Fr", "Ra", "Ac", "Th", "Pa", "U", "Np", "Pu", "Am", "Cm",
    "Bk", "Cf", "Es", "Fm", "Md", "No", "Lr",
];

/// Elemental properties of one element (see the module docs for the sources).
#[derive(Debug, Clone, PartialEq)]
pub struct ElementProps {
    /// Atomic number (kept for self-checks of the table).
    pub z: u8,
    /// Pauling electronegativity; `None` where none is defined (He, Ne, Ar).
    pub electronegativity: Option<f64>,
    /// Covalent radius in Angstrom (Cordero et al. 2008; Pyykko & Atsumi 2009 beyond Cm).
    pub covalent_radius: f64,
    /// Shannon (1976) effective ionic radius in Angstrom for the most common oxidation state.
    pub ionic_radius: Option<f64>,
    /// Oxidation state that [`ElementProps::ionic_radius`] refers to.
    pub ionic_radius_charge: Option<i8>,
    /// Coordination number that [`ElementProps::ionic_radius`] refers to (6 where available).
    pub ionic_radius_cn: Option<u8>,
    /// Common oxidation states, most common first (empty for He, Ne, Ar).
    pub oxidation_states: &'static [i8],
    /// Period (row) of the periodic table, 1..=7.
    pub period: u8,
    /// Group 1..=18; lanthanides and actinides are given group 3.
    pub group: u8,
    /// Atomic mass in g/mol (u).
    pub mass: f64,
}

/// Period of the element with atomic number `z` (1..=103).
const fn period_of(z: u8) -> u8 {
    if z <= 2 {
        1
    } else if z <= 10 {
        2
    } else if z <= 18 {
        3
    } else if z <= 36 {
        4
    } else if z <= 54 {
        5
    } else if z <= 86 {
        6
    } else {
        7
    }
}

/// Group (1..=18) of the element with atomic number `z`; f-block elements get 3.
const fn group_of(z: u8) -> u8 {
    match period_of(z) {
        1 => {
            if z == 1 {
                1
            } else {
                18
            }
        }
        2 | 3 => {
            let o = z - if z <= 10 { 3 } else { 11 };
            if o < 2 {
                o + 1
            } else {
                o + 11
            }
        }
        4 | 5 => (z - if z <= 36 { 19 } else { 37 }) + 1,
        _ => {
            let o = z - if z <= 86 { 55 } else { 87 };
            if o < 2 {
                o + 1
            } else if o <= 16 {
                3
            } else {
                o - 13
            }
        }
    }
}

/// Build one table row: (z, electronegativity, covalent radius, (ionic radius, charge, CN),
/// oxidation states, mass).
const fn ep(
    z: u8,
    electronegativity: Option<f64>,
    covalent_radius: f64,
    ionic: Option<(f64, i8, u8)>,
    oxidation_states: &'static [i8],
    mass: f64,
) -> ElementProps {
    let (ionic_radius, ionic_radius_charge, ionic_radius_cn) = match ionic {
        Some((r, q, cn)) => (Some(r), Some(q), Some(cn)),
        None => (None, None, None),
    };
    ElementProps {
        z,
        electronegativity,
        covalent_radius,
        ionic_radius,
        ionic_radius_charge,
        ionic_radius_cn,
        oxidation_states,
        period: period_of(z),
        group: group_of(z),
        mass,
    }
}

/// Property table indexed by Z - 1.
#[rustfmt::skip]
static PROPS: [ElementProps; 103] = [
    ep(1,   Some(2.20), 0.31, None,                    &[1, -1],           1.008),        // H
    ep(2,   None,       0.28, None,                    &[],                4.002602),     // He
    ep(3,   Some(0.98), 1.28, Some((0.76, 1, 6)),      &[1],               6.94),         // Li
    ep(4,   Some(1.57), 0.96, Some((0.45, 2, 6)),      &[2],               9.0121831),    // Be
    ep(5,   Some(2.04), 0.84, Some((0.27, 3, 6)),      &[3],               10.81),        // B
    ep(6,   Some(2.55), 0.76, Some((0.16, 4, 6)),      &[4, -4],           12.011),       // C
    ep(7,   Some(3.04), 0.71, Some((1.46, -3, 4)),     &[-3, 3, 5],        14.007),       // N
    ep(8,   Some(3.44), 0.66, Some((1.40, -2, 6)),     &[-2],              15.999),       // O
    ep(9,   Some(3.98), 0.57, Some((1.33, -1, 6)),     &[-1],              18.998403163), // F
    ep(10,  None,       0.58, None,                    &[],                20.1797),      // Ne
    ep(11,  Some(0.93), 1.66, Some((1.02, 1, 6)),      &[1],               22.98976928),  // Na
    ep(12,  Some(1.31), 1.41, Some((0.72, 2, 6)),      &[2],               24.305),       // Mg
    ep(13,  Some(1.61), 1.21, Some((0.535, 3, 6)),     &[3],               26.9815385),   // Al
    ep(14,  Some(1.90), 1.11, Some((0.40, 4, 6)),      &[4, -4],           28.085),       // Si
    ep(15,  Some(2.19), 1.07, Some((0.38, 5, 6)),      &[5, 3, -3],        30.973761998), // P
    ep(16,  Some(2.58), 1.05, Some((1.84, -2, 6)),     &[-2, 2, 4, 6],     32.06),        // S
    ep(17,  Some(3.16), 1.02, Some((1.81, -1, 6)),     &[-1, 1, 3, 5, 7],  35.45),        // Cl
    ep(18,  None,       1.06, None,                    &[],                39.948),       // Ar
    ep(19,  Some(0.82), 2.03, Some((1.38, 1, 6)),      &[1],               39.0983),      // K
    ep(20,  Some(1.00), 1.76, Some((1.00, 2, 6)),      &[2],               40.078),       // Ca
    ep(21,  Some(1.36), 1.70, Some((0.745, 3, 6)),     &[3],               44.955908),    // Sc
    ep(22,  Some(1.54), 1.60, Some((0.605, 4, 6)),     &[4, 3, 2],         47.867),       // Ti
    ep(23,  Some(1.63), 1.53, Some((0.54, 5, 6)),      &[5, 4, 3, 2],      50.9415),      // V
    ep(24,  Some(1.66), 1.39, Some((0.615, 3, 6)),     &[3, 6, 2],         51.9961),      // Cr
    ep(25,  Some(1.55), 1.39, Some((0.83, 2, 6)),      &[2, 3, 4, 7],      54.938044),    // Mn
    ep(26,  Some(1.83), 1.32, Some((0.78, 2, 6)),      &[2, 3],            55.845),       // Fe
    ep(27,  Some(1.88), 1.26, Some((0.745, 2, 6)),     &[2, 3],            58.933194),    // Co
    ep(28,  Some(1.91), 1.24, Some((0.69, 2, 6)),      &[2, 3],            58.6934),      // Ni
    ep(29,  Some(1.90), 1.32, Some((0.73, 2, 6)),      &[2, 1],            63.546),       // Cu
    ep(30,  Some(1.65), 1.22, Some((0.74, 2, 6)),      &[2],               65.38),        // Zn
    ep(31,  Some(1.81), 1.22, Some((0.62, 3, 6)),      &[3],               69.723),       // Ga
    ep(32,  Some(2.01), 1.20, Some((0.53, 4, 6)),      &[4, 2],            72.630),       // Ge
    ep(33,  Some(2.18), 1.19, Some((0.46, 5, 6)),      &[5, 3, -3],        74.921595),    // As
    ep(34,  Some(2.55), 1.20, Some((1.98, -2, 6)),     &[-2, 4, 6],        78.971),       // Se
    ep(35,  Some(2.96), 1.20, Some((1.96, -1, 6)),     &[-1, 1, 5],        79.904),       // Br
    ep(36,  Some(3.00), 1.16, None,                    &[2],               83.798),       // Kr
    ep(37,  Some(0.82), 2.20, Some((1.52, 1, 6)),      &[1],               85.4678),      // Rb
    ep(38,  Some(0.95), 1.95, Some((1.18, 2, 6)),      &[2],               87.62),        // Sr
    ep(39,  Some(1.22), 1.90, Some((0.90, 3, 6)),      &[3],               88.90584),     // Y
    ep(40,  Some(1.33), 1.75, Some((0.72, 4, 6)),      &[4],               91.224),       // Zr
    ep(41,  Some(1.6),  1.64, Some((0.64, 5, 6)),      &[5, 3],            92.90637),     // Nb
    ep(42,  Some(2.16), 1.54, Some((0.59, 6, 6)),      &[6, 4],            95.95),        // Mo
    ep(43,  Some(1.9),  1.47, Some((0.645, 4, 6)),     &[4, 7],            98.0),         // Tc
    ep(44,  Some(2.2),  1.46, Some((0.62, 4, 6)),      &[4, 3],            101.07),       // Ru
    ep(45,  Some(2.28), 1.42, Some((0.665, 3, 6)),     &[3],               102.90550),    // Rh
    ep(46,  Some(2.20), 1.39, Some((0.86, 2, 6)),      &[2, 4],            106.42),       // Pd
    ep(47,  Some(1.93), 1.45, Some((1.15, 1, 6)),      &[1],               107.8682),     // Ag
    ep(48,  Some(1.69), 1.44, Some((0.95, 2, 6)),      &[2],               112.414),      // Cd
    ep(49,  Some(1.78), 1.42, Some((0.80, 3, 6)),      &[3],               114.818),      // In
    ep(50,  Some(1.96), 1.39, Some((0.69, 4, 6)),      &[4, 2],            118.710),      // Sn
    ep(51,  Some(2.05), 1.39, Some((0.76, 3, 6)),      &[3, 5, -3],        121.760),      // Sb
    ep(52,  Some(2.1),  1.38, Some((2.21, -2, 6)),     &[-2, 4, 6],        127.60),       // Te
    ep(53,  Some(2.66), 1.39, Some((2.20, -1, 6)),     &[-1, 1, 5, 7],     126.90447),    // I
    ep(54,  Some(2.60), 1.40, None,                    &[2, 4, 6],         131.293),      // Xe
    ep(55,  Some(0.79), 2.44, Some((1.67, 1, 6)),      &[1],               132.90545196), // Cs
    ep(56,  Some(0.89), 2.15, Some((1.35, 2, 6)),      &[2],               137.327),      // Ba
    ep(57,  Some(1.10), 2.07, Some((1.032, 3, 6)),     &[3],               138.90547),    // La
    ep(58,  Some(1.12), 2.04, Some((1.01, 3, 6)),      &[3, 4],            140.116),      // Ce
    ep(59,  Some(1.13), 2.03, Some((0.99, 3, 6)),      &[3],               140.90766),    // Pr
    ep(60,  Some(1.14), 2.01, Some((0.983, 3, 6)),     &[3],               144.242),      // Nd
    ep(61,  Some(1.13), 1.99, Some((0.97, 3, 6)),      &[3],               145.0),        // Pm
    ep(62,  Some(1.17), 1.98, Some((0.958, 3, 6)),     &[3, 2],            150.36),       // Sm
    ep(63,  Some(1.2),  1.98, Some((0.947, 3, 6)),     &[3, 2],            151.964),      // Eu
    ep(64,  Some(1.2),  1.96, Some((0.938, 3, 6)),     &[3],               157.25),       // Gd
    ep(65,  Some(1.1),  1.94, Some((0.923, 3, 6)),     &[3, 4],            158.92535),    // Tb
    ep(66,  Some(1.22), 1.92, Some((0.912, 3, 6)),     &[3],               162.500),      // Dy
    ep(67,  Some(1.23), 1.92, Some((0.901, 3, 6)),     &[3],               164.93033),    // Ho
    ep(68,  Some(1.24), 1.89, Some((0.89, 3, 6)),      &[3],               167.259),      // Er
    ep(69,  Some(1.25), 1.90, Some((0.88, 3, 6)),      &[3],               168.93422),    // Tm
    ep(70,  Some(1.1),  1.87, Some((0.868, 3, 6)),     &[3, 2],            173.045),      // Yb
    ep(71,  Some(1.27), 1.87, Some((0.861, 3, 6)),     &[3],               174.9668),     // Lu
    ep(72,  Some(1.3),  1.75, Some((0.71, 4, 6)),      &[4],               178.49),       // Hf
    ep(73,  Some(1.5),  1.70, Some((0.64, 5, 6)),      &[5],               180.94788),    // Ta
    ep(74,  Some(2.36), 1.62, Some((0.60, 6, 6)),      &[6, 4],            183.84),       // W
    ep(75,  Some(1.9),  1.51, Some((0.63, 4, 6)),      &[4, 7],            186.207),      // Re
    ep(76,  Some(2.2),  1.44, Some((0.63, 4, 6)),      &[4, 8],            190.23),       // Os
    ep(77,  Some(2.20), 1.41, Some((0.625, 4, 6)),     &[4, 3],            192.217),      // Ir
    ep(78,  Some(2.28), 1.36, Some((0.80, 2, 6)),      &[2, 4],            195.084),      // Pt
    ep(79,  Some(2.54), 1.36, Some((0.85, 3, 6)),      &[3, 1],            196.966569),   // Au
    ep(80,  Some(2.00), 1.32, Some((1.02, 2, 6)),      &[2, 1],            200.592),      // Hg
    ep(81,  Some(1.62), 1.45, Some((1.50, 1, 6)),      &[1, 3],            204.38),       // Tl
    ep(82,  Some(2.33), 1.46, Some((1.19, 2, 6)),      &[2, 4],            207.2),        // Pb
    ep(83,  Some(2.02), 1.48, Some((1.03, 3, 6)),      &[3, 5],            208.98040),    // Bi
    ep(84,  Some(2.0),  1.40, Some((0.94, 4, 6)),      &[4, 2],            209.0),        // Po
    ep(85,  Some(2.2),  1.50, None,                    &[-1, 1],           210.0),        // At
    ep(86,  Some(2.2),  1.50, None,                    &[2],               222.0),        // Rn
    ep(87,  Some(0.7),  2.60, Some((1.80, 1, 6)),      &[1],               223.0),        // Fr
    ep(88,  Some(0.9),  2.21, Some((1.48, 2, 8)),      &[2],               226.0),        // Ra
    ep(89,  Some(1.1),  2.15, Some((1.12, 3, 6)),      &[3],               227.0),        // Ac
    ep(90,  Some(1.3),  2.06, Some((0.94, 4, 6)),      &[4],               232.0377),     // Th
    ep(91,  Some(1.5),  2.00, Some((0.78, 5, 6)),      &[5, 4],            231.03588),    // Pa
    ep(92,  Some(1.38), 1.96, Some((0.73, 6, 6)),      &[6, 4],            238.02891),    // U
    ep(93,  Some(1.36), 1.90, Some((0.75, 5, 6)),      &[5, 4, 3],         237.0),        // Np
    ep(94,  Some(1.28), 1.87, Some((0.86, 4, 6)),      &[4, 3],            244.0),        // Pu
    ep(95,  Some(1.3),  1.80, Some((0.975, 3, 6)),     &[3],               243.0),        // Am
    ep(96,  Some(1.28), 1.69, Some((0.97, 3, 6)),      &[3],               247.0),        // Cm
    ep(97,  Some(1.3),  1.68, Some((0.96, 3, 6)),      &[3, 4],            247.0),        // Bk
    ep(98,  Some(1.3),  1.68, Some((0.95, 3, 6)),      &[3],               251.0),        // Cf
    ep(99,  Some(1.3),  1.65, None,                    &[3],               252.0),        // Es
    ep(100, Some(1.3),  1.67, None,                    &[3],               257.0),        // Fm
    ep(101, Some(1.3),  1.73, None,                    &[3, 2],            258.0),        // Md
    ep(102, Some(1.3),  1.76, Some((1.1, 2, 6)),       &[2, 3],            259.0),        // No
    ep(103, Some(1.3),  1.61, None,                    &[3],               266.0),        // Lr
];

/// Elements treated as anion formers: the typical anions of battery and ionic-conductor
/// materials, N, O, F, S, Cl, Se, Br, Te, I. P, As, Sb, C, Si and H also form anions in
/// some compounds (phosphides, carbides, hydrides) but are overwhelmingly cationic or
/// polyanion centres (PO4, SiO4, ...) in the materials this crate targets, so they are not
/// included.
pub const ANION_FORMERS: [u8; 9] = [7, 8, 9, 16, 17, 34, 35, 52, 53];

/// A chemical element, stored as its atomic number (1..=103).
///
/// Serialises as its symbol in human-readable formats (JSON) and as Z in binary ones (bincode).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Element(u8);

impl Serialize for Element {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(self.symbol())
        } else {
            s.serialize_u8(self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Element {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        if d.is_human_readable() {
            #[derive(Deserialize)]
            #[serde(untagged)]
            enum SymOrZ {
                Sym(String),
                Z(u8),
            }
            match SymOrZ::deserialize(d)? {
                SymOrZ::Sym(s) => Element::from_symbol(&s).map_err(D::Error::custom),
                SymOrZ::Z(z) => Element::from_z(z).map_err(D::Error::custom),
            }
        } else {
            Element::from_z(u8::deserialize(d)?).map_err(D::Error::custom)
        }
    }
}

/// Error for a symbol or atomic number that names no element.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("unknown element {}", crate::input::quote(.0))]
pub struct UnknownElement(pub String);

impl Element {
    /// The element with atomic number `z`, if 1 <= z <= 103.
    pub fn from_z(z: u8) -> Result<Self, UnknownElement> {
        if (1..SYMBOLS.len() as u8).contains(&z) {
            Ok(Element(z))
        } else {
            Err(UnknownElement(format!("Z={z}")))
        }
    }

    /// Parse a symbol such as `"Li"`; case-sensitive on the first letter, tolerant of
    /// surrounding whitespace and of an oxidation-state suffix (`"Fe2+"`, `"O2-"`).
    pub fn from_symbol(sym: &str) -> Result<Self, UnknownElement> {
        let s = sym.trim();
        let letters: String = s.chars().take_while(|c| c.is_ascii_alphabetic()).collect();
        let rest = &s[letters.len()..];
        let suffix_ok = rest.is_empty()
            || rest
                .chars()
                .all(|c| c.is_ascii_digit() || c == '+' || c == '-' || c == '.');
        if !letters.is_empty() && suffix_ok {
            if let Some(z) = SYMBOLS.iter().position(|&x| x == letters) {
                if z > 0 {
                    return Ok(Element(z as u8));
                }
            }
        }
        Err(UnknownElement(sym.to_string()))
    }

    /// Atomic number.
    pub fn z(self) -> u8 {
        self.0
    }

    /// Chemical symbol.
    pub fn symbol(self) -> &'static str {
        SYMBOLS[self.0 as usize]
    }

    /// The elemental property table entry.
    pub fn props(self) -> &'static ElementProps {
        &PROPS[self.0 as usize - 1]
    }

    /// Pauling electronegativity (`None` for He, Ne, Ar).
    pub fn electronegativity(self) -> Option<f64> {
        self.props().electronegativity
    }

    /// Covalent radius in Angstrom (Cordero et al. 2008).
    pub fn covalent_radius(self) -> f64 {
        self.props().covalent_radius
    }

    /// Shannon ionic radius in Angstrom for the most common oxidation state, if tabulated.
    pub fn ionic_radius(self) -> Option<f64> {
        self.props().ionic_radius
    }

    /// Common oxidation states, most common first.
    pub fn oxidation_states(self) -> &'static [i8] {
        self.props().oxidation_states
    }

    /// Period (row) of the periodic table.
    pub fn period(self) -> u8 {
        self.props().period
    }

    /// Group 1..=18 (lanthanides and actinides: 3).
    pub fn group(self) -> u8 {
        self.props().group
    }

    /// Atomic mass in g/mol.
    pub fn mass(self) -> f64 {
        self.props().mass
    }

    /// True for the anion formers listed in [`ANION_FORMERS`] (N, O, F, S, Cl, Se, Br, Te, I).
    pub fn is_anion_former(self) -> bool {
        ANION_FORMERS.contains(&self.0)
    }

    /// Same as [`Element::is_anion_former`].
    pub fn is_anion(self) -> bool {
        self.is_anion_former()
    }

    /// Alkali metal: Li, Na, K, Rb, Cs, Fr (group 1 without H).
    pub fn is_alkali(self) -> bool {
        matches!(self.0, 3 | 11 | 19 | 37 | 55 | 87)
    }

    /// Alkaline-earth metal: Be, Mg, Ca, Sr, Ba, Ra (group 2).
    pub fn is_alkaline_earth(self) -> bool {
        matches!(self.0, 4 | 12 | 20 | 38 | 56 | 88)
    }

    /// d-block transition metal of groups 3-12: Sc-Zn, Y-Cd, Hf-Hg (La and Ac count as
    /// lanthanide / actinide, Lu and Lr as lanthanide / actinide too).
    pub fn is_transition_metal(self) -> bool {
        matches!(self.0, 21..=30 | 39..=48 | 72..=80)
    }

    /// Lanthanide, La..Lu (57..=71).
    pub fn is_lanthanide(self) -> bool {
        (57..=71).contains(&self.0)
    }

    /// Actinide, Ac..Lr (89..=103).
    pub fn is_actinide(self) -> bool {
        (89..=103).contains(&self.0)
    }

    /// Noble gas: He, Ne, Ar, Kr, Xe, Rn.
    pub fn is_noble_gas(self) -> bool {
        matches!(self.0, 2 | 10 | 18 | 36 | 54 | 86)
    }
}

impl fmt::Debug for Element {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.symbol())
    }
}

impl fmt::Display for Element {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.symbol())
    }
}

impl std::str::FromStr for Element {
    type Err = UnknownElement;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Element::from_symbol(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbols_round_trip() {
        for z in 1..=103u8 {
            let e = Element::from_z(z).unwrap();
            assert_eq!(Element::from_symbol(e.symbol()).unwrap(), e);
        }
        assert_eq!(Element::from_symbol("Fe2+").unwrap().z(), 26);
        assert!(Element::from_symbol("Xx").is_err());
        assert!(Element::from_symbol("X").is_err());
        assert!(Element::from_z(0).is_err());
    }

    fn el(sym: &str) -> Element {
        Element::from_symbol(sym).unwrap()
    }

    #[test]
    fn property_table_is_aligned_and_complete() {
        for z in 1..=103u8 {
            let e = Element::from_z(z).unwrap();
            let p = e.props();
            assert_eq!(p.z, z, "row for {e} is misplaced");
            assert!(p.covalent_radius > 0.2 && p.covalent_radius < 2.7, "{e}");
            assert!(p.mass > 0.0);
            if let Some(x) = p.electronegativity {
                assert!((0.6..=4.0).contains(&x), "{e}");
            }
            assert_eq!(p.ionic_radius.is_some(), p.ionic_radius_charge.is_some());
            assert_eq!(p.ionic_radius.is_some(), p.ionic_radius_cn.is_some());
            if let (Some(r), Some(q)) = (p.ionic_radius, p.ionic_radius_charge) {
                assert!(r > 0.1 && r < 2.3, "{e}");
                assert!(p.oxidation_states.contains(&q), "{e}: radius charge {q} not common");
                assert_eq!(p.oxidation_states[0], q, "{e}: radius is not for the first state");
            }
            assert!(p.oxidation_states.iter().all(|q| (-4..=8).contains(q) && *q != 0));
            if z > 1 {
                assert!(p.mass > Element::from_z(z - 1).unwrap().mass() - 1.5, "{e} mass");
            }
        }
    }

    #[test]
    fn known_property_values() {
        let en = |s: &str| el(s).electronegativity();
        assert_eq!(en("Li"), Some(0.98));
        assert_eq!(en("O"), Some(3.44));
        assert_eq!(en("F"), Some(3.98));
        assert_eq!(en("Mn"), Some(1.55));
        assert_eq!(en("Fe"), Some(1.83));
        assert_eq!(en("Na"), Some(0.93));
        assert_eq!(en("S"), Some(2.58));
        assert_eq!(en("Cs"), Some(0.79));
        assert_eq!(en("He"), None);
        assert_eq!(en("Ar"), None);
        assert_eq!(el("Li").covalent_radius(), 1.28);
        assert_eq!(el("O").covalent_radius(), 0.66);
        assert_eq!(el("C").covalent_radius(), 0.76);
        assert_eq!(el("Cs").covalent_radius(), 2.44);
        assert_eq!(el("Li").ionic_radius(), Some(0.76));
        assert_eq!(el("Na").ionic_radius(), Some(1.02));
        assert_eq!(el("Mg").ionic_radius(), Some(0.72));
        assert_eq!(el("O").ionic_radius(), Some(1.40));
        assert_eq!(el("La").ionic_radius(), Some(1.032));
        assert_eq!(el("Ne").ionic_radius(), None);
        assert_eq!(el("O").oxidation_states(), &[-2]);
        assert_eq!(el("Li").oxidation_states(), &[1]);
        assert!(el("Fe").oxidation_states().contains(&3));
        assert!(el("Ar").oxidation_states().is_empty());
        assert!((el("Li").mass() - 6.94).abs() < 1e-9);
        assert!((el("O").mass() - 15.999).abs() < 1e-9);
        assert!((el("Fe").mass() - 55.845).abs() < 1e-9);
        assert!((el("U").mass() - 238.02891).abs() < 1e-9);
    }

    #[test]
    fn periods_and_groups() {
        let pg = |s: &str| (el(s).period(), el(s).group());
        assert_eq!(pg("H"), (1, 1));
        assert_eq!(pg("He"), (1, 18));
        assert_eq!(pg("Li"), (2, 1));
        assert_eq!(pg("B"), (2, 13));
        assert_eq!(pg("O"), (2, 16));
        assert_eq!(pg("Ne"), (2, 18));
        assert_eq!(pg("Mg"), (3, 2));
        assert_eq!(pg("Cl"), (3, 17));
        assert_eq!(pg("K"), (4, 1));
        assert_eq!(pg("Fe"), (4, 8));
        assert_eq!(pg("Zn"), (4, 12));
        assert_eq!(pg("Kr"), (4, 18));
        assert_eq!(pg("Ag"), (5, 11));
        assert_eq!(pg("Xe"), (5, 18));
        assert_eq!(pg("Cs"), (6, 1));
        assert_eq!(pg("La"), (6, 3));
        assert_eq!(pg("Gd"), (6, 3));
        assert_eq!(pg("Lu"), (6, 3));
        assert_eq!(pg("Hf"), (6, 4));
        assert_eq!(pg("Pt"), (6, 10));
        assert_eq!(pg("Pb"), (6, 14));
        assert_eq!(pg("Rn"), (6, 18));
        assert_eq!(pg("Fr"), (7, 1));
        assert_eq!(pg("Ra"), (7, 2));
        assert_eq!(pg("U"), (7, 3));
        assert_eq!(pg("Lr"), (7, 3));
    }

    #[test]
    fn element_families() {
        let anions: Vec<&str> = (1..=103u8)
            .map(|z| Element::from_z(z).unwrap())
            .filter(|e| e.is_anion_former())
            .map(|e| e.symbol())
            .collect();
        assert_eq!(anions, ["N", "O", "F", "S", "Cl", "Se", "Br", "Te", "I"]);
        assert!(el("O").is_anion() && !el("P").is_anion() && !el("Li").is_anion());
        for z in 1..=103u8 {
            let e = Element::from_z(z).unwrap();
            assert_eq!(e.is_alkali(), e.group() == 1 && z != 1, "{e}");
            assert_eq!(e.is_alkaline_earth(), e.group() == 2, "{e}");
            assert_eq!(e.is_noble_gas(), e.group() == 18, "{e}");
            let f_block = e.is_lanthanide() || e.is_actinide();
            assert_eq!(
                e.is_transition_metal(),
                (3..=12).contains(&e.group()) && !f_block && z < 104,
                "{e}"
            );
        }
        assert!(el("Mn").is_transition_metal() && el("Zn").is_transition_metal());
        assert!(!el("La").is_transition_metal() && el("La").is_lanthanide());
        assert!(!el("Al").is_transition_metal());
    }
}
