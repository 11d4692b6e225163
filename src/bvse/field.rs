//! The BVSE energy landscape of one mobile ion in a fixed periodic framework.
//!
//! Energy of the ion at a point, summed over every framework atom image within the cutoff:
//!
//! * counter-ions (framework atoms of opposite sign): the softBV Morse-type attraction
//!   `d0/2 ((exp(alpha (r_min - r)) - 1)^2 - 1)` (minimum `-d0/2` at `r = r_min`);
//! * like-charged ions (every framework cation, the mobile species included):
//!   screened Coulomb repulsion `14.4 q1 q2 / sqrt(n1 n2) / r * erfc(r / (f (rc1 + rc2)))`
//!   with `f = 0.74`, formal charges `q`, principal quantum numbers `n` and covalent radii `rc`.
//!
//! These are the conventions of the `ions` package's `BVSECalculator` (0.5.1): `q1` is the
//! mobile ion's oxidation state, `q2` the framework atom's, Coulomb terms of opposite-sign
//! pairs vanish, Morse terms of like-sign pairs vanish.

use super::params::{Params, SoftBvFallback};
use super::BvseError;
use crate::element::Element;
use crate::structure::neighbors::{Neighbor, PointLocator};
use crate::structure::{norm, sub, Structure, Vec3};

/// Coulomb constant e^2 / (4 pi eps0) in eV Angstrom, as used by softBV and `ions`.
pub const COULOMB_K: f64 = 14.4;
/// Screening factor f of the Coulomb term.
pub const SCREENING_F: f64 = 0.74;
/// The default interaction cutoff in Angstrom.
pub const DEFAULT_CUTOFF: f64 = 10.0;

/// How forces are derived from the pair energies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ForceConvention {
    /// The exact force, minus the gradient of the energy: each pair contributes
    /// `dE/dr * (x_j - x) / r`.
    #[default]
    Exact,
    /// The force of `ions`' `BVSECalculator` (0.5.1), which multiplies `dE/dr` by the full
    /// pair vector instead of the unit vector, so each pair's force is `r` times too large and
    /// the force is not the gradient of the energy. Only for reproducing that package's
    /// numbers ([`crate::bvse::Recipe::Ions`]); energies are unaffected.
    Ions,
}

/// The pair term between the mobile ion and one framework atom.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PairTerm {
    /// Morse-type bond-valence attraction to a counter-ion.
    Morse {
        /// Distance of the minimum (Angstrom).
        r_min: f64,
        /// Steepness (1/Angstrom).
        alpha: f64,
        /// Bond-breaking energy (eV).
        d0: f64,
    },
    /// Screened Coulomb repulsion from a like-charged ion: `a / r * erfc(r / s)`.
    Coulomb {
        /// Prefactor 14.4 q1 q2 / sqrt(n1 n2) in eV Angstrom.
        a: f64,
        /// Screening length f (rc1 + rc2) in Angstrom.
        s: f64,
    },
    /// No interaction (a neutral framework atom).
    None,
}

impl PairTerm {
    /// Energy (eV) and its derivative dE/dr (eV/Angstrom) at distance `r`.
    #[inline]
    pub fn energy_deriv(&self, r: f64) -> (f64, f64) {
        match *self {
            PairTerm::Morse { r_min, alpha, d0 } => {
                let x = (alpha * (r_min - r)).exp();
                let xm = x - 1.0;
                (0.5 * d0 * (xm * xm - 1.0), -alpha * d0 * x * xm)
            }
            PairTerm::Coulomb { a, s } => {
                let u = r / s;
                let ec = libm::erfc(u);
                let e = a / r * ec;
                let de = -e / r - a / r * std::f64::consts::FRAC_2_SQRT_PI * (-u * u).exp() / s;
                (e, de)
            }
            PairTerm::None => (0.0, 0.0),
        }
    }
}

/// The mobile ion's energy landscape in a fixed periodic framework (see the module docs).
#[derive(Clone, Debug)]
pub struct Field {
    lattice: crate::structure::Lattice,
    locator: PointLocator,
    /// Term index of every framework site.
    kind: Vec<u16>,
    terms: Vec<PairTerm>,
    cutoff: f64,
    ion: Element,
    ion_ox: i8,
    forces: ForceConvention,
    fallbacks: Vec<SoftBvFallback>,
}

/// Principal quantum number of `e` for the Coulomb screening: the tabulated one (that of
/// `ions`), else the element's period (the table agrees with the period for most elements).
fn principal_n(p: &Params, e: Element) -> u8 {
    p.principal_n(e).unwrap_or_else(|| e.period())
}

/// Framework atom images near a region of space, with their pair terms laid out for a fast
/// sum. Valid for points within `radius` of `center`; [`Region::energy_force`] falls back to a
/// fresh neighbour query elsewhere, so it is always exact.
#[derive(Clone, Debug)]
pub struct Region<'a> {
    field: &'a Field,
    center: Vec3,
    radius: f64,
    /// Morse partners: x, y, z, r_min, alpha, d0.
    morse: Vec<[f64; 6]>,
    /// Coulomb partners: x, y, z, a, s.
    coulomb: Vec<[f64; 5]>,
}

impl Field {
    /// The landscape of `ion` (oxidation state `ion_ox`, a cation) in the framework `host`
    /// whose sites have oxidation states `ox`, with pair interactions summed within `cutoff`
    /// Angstrom over all periodic images of the framework.
    ///
    /// States may be fractional (an element at an average state): the Coulomb term uses the
    /// value, the softBV parameters of an anion those of its nearest whole state. A pair the
    /// softBV table lacks takes [`Params::softbv_fallback`] parameters, listed by
    /// [`Field::fallbacks`]. An element without a principal quantum number takes its period.
    ///
    /// Errors: `ox` of the wrong length or not finite, a mobile ion that is not a cation, no
    /// anion in the framework, or a (cation, anion) pair with neither tabulated nor fallback
    /// parameters.
    pub fn new(host: &Structure, ion: Element, ion_ox: i8, ox: &[f64], cutoff: f64) -> Result<Field, BvseError> {
        if ox.len() != host.len() {
            return Err(BvseError::InvalidInput(format!("{} oxidation states for {} framework sites", ox.len(), host.len())));
        }
        if ion_ox <= 0 {
            return Err(BvseError::InvalidInput(format!("mobile ion {ion}{ion_ox:+}: only cations are supported")));
        }
        if !cutoff.is_finite() || cutoff <= 0.0 {
            return Err(BvseError::InvalidInput(format!("cutoff {cutoff} A: must be positive")));
        }
        if let Some(q) = ox.iter().find(|q| !q.is_finite()) {
            return Err(BvseError::InvalidInput(format!("oxidation state {q} is not a number")));
        }
        if !ox.iter().any(|&q| q < 0.0) {
            return Err(BvseError::NoAnion { formula: host.formula() });
        }
        let p = Params::global();
        let n1 = principal_n(p, ion);
        let rc1 = p.covalent_radius(ion);
        let mut keys: Vec<(Element, u64)> = Vec::new();
        let mut terms = Vec::new();
        let mut fallbacks: Vec<SoftBvFallback> = Vec::new();
        let mut kind = Vec::with_capacity(host.len());
        for (&e, &q) in host.species.iter().zip(ox) {
            let k = match keys.iter().position(|x| *x == (e, q.to_bits())) {
                Some(k) => k,
                None => {
                    let term = if q < 0.0 {
                        let qa = q.round() as i8;
                        let bv = match p.softbv(ion, ion_ox, e, qa) {
                            Some(bv) => bv,
                            None => {
                                let (bv, fb) = p
                                    .softbv_fallback(ion, ion_ox, e, qa)
                                    .ok_or(BvseError::MissingPair { cation: ion, cation_ox: ion_ox, anion: e, anion_ox: qa })?;
                                if !fallbacks.contains(&fb) {
                                    fallbacks.push(fb);
                                }
                                bv
                            }
                        };
                        PairTerm::Morse { r_min: bv.r_min, alpha: bv.alpha, d0: bv.d0 }
                    } else if q > 0.0 {
                        let n2 = principal_n(p, e);
                        PairTerm::Coulomb {
                            a: COULOMB_K * ion_ox as f64 * q / (n1 as f64 * n2 as f64).sqrt(),
                            s: SCREENING_F * (rc1 + p.covalent_radius(e)),
                        }
                    } else {
                        PairTerm::None
                    };
                    keys.push((e, q.to_bits()));
                    terms.push(term);
                    keys.len() - 1
                }
            };
            kind.push(k as u16);
        }
        Ok(Field {
            lattice: host.lattice.clone(),
            locator: PointLocator::new(host, cutoff),
            kind,
            terms,
            cutoff,
            ion,
            ion_ox,
            forces: ForceConvention::Exact,
            fallbacks,
        })
    }

    /// The softBV pairs that took fallback parameters (empty when every pair is tabulated).
    pub fn fallbacks(&self) -> &[SoftBvFallback] {
        &self.fallbacks
    }

    /// The same field with another force convention.
    pub fn with_force_convention(mut self, c: ForceConvention) -> Field {
        self.forces = c;
        self
    }

    /// The force convention in use.
    pub fn force_convention(&self) -> ForceConvention {
        self.forces
    }

    /// The mobile element.
    pub fn ion(&self) -> Element {
        self.ion
    }

    /// The mobile ion's oxidation state.
    pub fn ion_ox(&self) -> i8 {
        self.ion_ox
    }

    /// The interaction cutoff in Angstrom.
    pub fn cutoff(&self) -> f64 {
        self.cutoff
    }

    /// The framework's lattice.
    pub fn lattice(&self) -> &crate::structure::Lattice {
        &self.lattice
    }

    /// Pair term of framework site `i`.
    pub fn term(&self, i: usize) -> PairTerm {
        self.terms[self.kind[i] as usize]
    }

    /// Energy (eV) of the ion at Cartesian point `cart`.
    pub fn energy(&self, cart: Vec3) -> f64 {
        self.energy_force(cart).0
    }

    /// Energy (eV) and force (eV/Angstrom, minus the gradient) on the ion at `cart`.
    pub fn energy_force(&self, cart: Vec3) -> (f64, Vec3) {
        let mut buf = Vec::new();
        self.energy_force_with(cart, &mut buf)
    }

    fn energy_force_with(&self, cart: Vec3, buf: &mut Vec<Neighbor>) -> (f64, Vec3) {
        self.locator.within_into(cart, self.cutoff, buf);
        let exact = self.forces == ForceConvention::Exact;
        let mut e = 0.0;
        let mut f = [0.0; 3];
        for nb in buf.iter() {
            let r = nb.distance;
            if r <= 0.0 {
                continue;
            }
            let (de, dd) = self.term(nb.index).energy_deriv(r);
            e += de;
            let g = if exact { dd / r } else { dd };
            for (fa, va) in f.iter_mut().zip(nb.vector) {
                *fa += g * va;
            }
        }
        (e, f)
    }

    /// Precollect the framework images that can interact with points within `radius` of
    /// `center`, for fast repeated evaluations there (see [`Region`]).
    pub fn region(&self, center: Vec3, radius: f64) -> Region<'_> {
        let radius = radius.max(0.0);
        let mut morse = Vec::new();
        let mut coulomb = Vec::new();
        for nb in self.locator.within(center, radius + self.cutoff) {
            let pos = [center[0] + nb.vector[0], center[1] + nb.vector[1], center[2] + nb.vector[2]];
            match self.term(nb.index) {
                PairTerm::Morse { r_min, alpha, d0 } => morse.push([pos[0], pos[1], pos[2], r_min, alpha, d0]),
                PairTerm::Coulomb { a, s } => coulomb.push([pos[0], pos[1], pos[2], a, s]),
                PairTerm::None => {}
            }
        }
        Region { field: self, center, radius, morse, coulomb }
    }
}

impl Region<'_> {
    /// Number of framework images collected (Morse partners, Coulomb partners).
    pub fn len(&self) -> (usize, usize) {
        (self.morse.len(), self.coulomb.len())
    }

    /// True when no framework image was collected.
    pub fn is_empty(&self) -> bool {
        self.morse.is_empty() && self.coulomb.is_empty()
    }

    /// Whether `cart` lies where this region's atom list is complete.
    pub fn covers(&self, cart: Vec3) -> bool {
        norm(sub(cart, self.center)) <= self.radius
    }

    /// Energy (eV) of the ion at `cart`.
    pub fn energy(&self, cart: Vec3) -> f64 {
        self.energy_force(cart).0
    }

    /// Energy (eV) and force (eV/Angstrom) on the ion at `cart`; identical to
    /// [`Field::energy_force`] up to summation order.
    pub fn energy_force(&self, cart: Vec3) -> (f64, Vec3) {
        if !self.covers(cart) {
            return self.field.energy_force(cart);
        }
        let c2 = self.field.cutoff * self.field.cutoff;
        let exact = self.field.forces == ForceConvention::Exact;
        let mut e = 0.0;
        let (mut fx, mut fy, mut fz) = (0.0, 0.0, 0.0);
        for m in &self.morse {
            let (dx, dy, dz) = (m[0] - cart[0], m[1] - cart[1], m[2] - cart[2]);
            let r2 = dx * dx + dy * dy + dz * dz;
            if r2 > c2 || r2 == 0.0 {
                continue;
            }
            let r = r2.sqrt();
            let x = (m[4] * (m[3] - r)).exp();
            let xm = x - 1.0;
            e += 0.5 * m[5] * (xm * xm - 1.0);
            let dd = -m[4] * m[5] * x * xm;
            let g = if exact { dd / r } else { dd };
            fx += g * dx;
            fy += g * dy;
            fz += g * dz;
        }
        for c in &self.coulomb {
            let (dx, dy, dz) = (c[0] - cart[0], c[1] - cart[1], c[2] - cart[2]);
            let r2 = dx * dx + dy * dy + dz * dz;
            if r2 > c2 || r2 == 0.0 {
                continue;
            }
            let r = r2.sqrt();
            let (de, dd) = PairTerm::Coulomb { a: c[3], s: c[4] }.energy_deriv(r);
            e += de;
            let g = if exact { dd / r } else { dd };
            fx += g * dx;
            fy += g * dy;
            fz += g * dz;
        }
        (e, [fx, fy, fz])
    }
}
