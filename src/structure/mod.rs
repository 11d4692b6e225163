//! Crystal structures: the lattice, species and fractional coordinates, conversions,
//! periodic minimum-image geometry and (in [`neighbors`]) a cell-list neighbour search.

pub mod neighbors;
pub mod io;
pub mod extxyz;

use crate::element::Element;
use serde::{Deserialize, Serialize};

/// A 3-vector in Angstrom or fractional units.
pub type Vec3 = [f64; 3];

/// Problems with a lattice or a structure.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StructureError {
    /// The three lattice vectors are (nearly) linearly dependent.
    #[error("singular lattice: volume {volume:.3e} A^3 (the three lattice vectors are linearly dependent)")]
    SingularLattice {
        /// The signed cell volume that was found.
        volume: f64,
    },
    /// A lattice entry or coordinate is not finite.
    #[error("non-finite value in {what}")]
    NonFinite {
        /// Which quantity held the NaN or infinity.
        what: String,
    },
    /// A lattice entry or coordinate beyond the range hopdb accepts ([`MAX_COORDINATE`]).
    #[error("{what} out of range: {value:e} (at most {max:e} in magnitude)")]
    OutOfRange {
        /// Which quantity.
        what: String,
        /// The value found.
        value: f64,
        /// The largest magnitude accepted.
        max: f64,
    },
    /// Species and coordinate arrays differ in length.
    #[error("{species} species but {coords} coordinates")]
    LengthMismatch {
        /// Number of species given.
        species: usize,
        /// Number of coordinates given.
        coords: usize,
    },
    /// Two atoms closer than the allowed minimum.
    #[error("overlapping atoms: sites {i} ({ei}) and {j} ({ej}) are {distance:.3} A apart (minimum {min:.2} A)")]
    OverlappingAtoms {
        /// First site index.
        i: usize,
        /// Second site index.
        j: usize,
        /// Element of the first site.
        ei: Element,
        /// Element of the second site.
        ej: Element,
        /// Their minimum-image distance.
        distance: f64,
        /// The threshold that was violated.
        min: f64,
    },
}

/// Periodic lattice: three row vectors in Angstrom, with the inverse cached.
///
/// Serialises as its 3x3 matrix; deserialising validates it through [`Lattice::new`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "[Vec3; 3]", into = "[Vec3; 3]")]
pub struct Lattice {
    matrix: [Vec3; 3],
    inverse: Option<[Vec3; 3]>,
}

impl TryFrom<[Vec3; 3]> for Lattice {
    type Error = StructureError;
    fn try_from(m: [Vec3; 3]) -> Result<Self, StructureError> {
        Lattice::new(m)
    }
}

impl From<Lattice> for [Vec3; 3] {
    fn from(l: Lattice) -> Self {
        l.matrix
    }
}

fn det3(m: &[Vec3; 3]) -> f64 {
    m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
        + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
}

fn inv3(m: &[Vec3; 3]) -> [Vec3; 3] {
    let d = det3(m);
    let mut r = [[0.0; 3]; 3];
    for i in 0..3 {
        for j in 0..3 {
            let (a, b) = ((j + 1) % 3, (j + 2) % 3);
            let (c, e) = ((i + 1) % 3, (i + 2) % 3);
            r[i][j] = (m[a][c] * m[b][e] - m[a][e] * m[b][c]) / d;
        }
    }
    r
}

/// Dot product.
pub fn dot(a: Vec3, b: Vec3) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

/// Cross product.
pub fn cross(a: Vec3, b: Vec3) -> Vec3 {
    [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]
}

/// Euclidean norm.
pub fn norm(a: Vec3) -> f64 {
    dot(a, a).sqrt()
}

/// a - b.
pub fn sub(a: Vec3, b: Vec3) -> Vec3 {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

/// a + b.
pub fn add(a: Vec3, b: Vec3) -> Vec3 {
    [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
}

/// s * a.
pub fn scale(a: Vec3, s: f64) -> Vec3 {
    [a[0] * s, a[1] * s, a[2] * s]
}

/// Linear interpolation a + t (b - a).
pub fn lerp(a: Vec3, b: Vec3, t: f64) -> Vec3 {
    [a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1]), a[2] + t * (b[2] - a[2])]
}

/// Wrap a fractional coordinate into [0, 1).
pub fn wrap_frac(f: Vec3) -> Vec3 {
    let w = |x: f64| {
        let y = x - x.floor();
        if y >= 1.0 {
            0.0
        } else {
            y
        }
    };
    [w(f[0]), w(f[1]), w(f[2])]
}

/// Smallest volume (A^3) accepted for a cell; anything below is treated as singular.
pub const MIN_CELL_VOLUME: f64 = 1e-3;

/// Largest magnitude of a fractional coordinate (in cells): a site a million cells away is a
/// broken file, and periodic-image arithmetic stays exact below it.
pub const MAX_COORDINATE: f64 = 1e6;

/// Largest magnitude of a lattice-vector component, in Angstrom.
pub const MAX_LATTICE_ENTRY: f64 = 1e6;

impl Lattice {
    /// Build a lattice from row vectors; rejects non-finite entries and singular cells.
    pub fn new(matrix: [Vec3; 3]) -> Result<Self, StructureError> {
        if matrix.iter().flatten().any(|x| !x.is_finite()) {
            return Err(StructureError::NonFinite { what: "lattice".into() });
        }
        if let Some(&x) = matrix.iter().flatten().find(|x| x.abs() > MAX_LATTICE_ENTRY) {
            return Err(StructureError::OutOfRange { what: "lattice entry (Angstrom)".into(), value: x, max: MAX_LATTICE_ENTRY });
        }
        let volume = det3(&matrix);
        let scale = matrix.iter().map(|v| norm(*v)).product::<f64>();
        if volume.abs() < MIN_CELL_VOLUME || volume.abs() < 1e-8 * scale {
            return Err(StructureError::SingularLattice { volume });
        }
        Ok(Lattice { matrix, inverse: Some(inv3(&matrix)) })
    }

    /// Lattice vectors as rows.
    pub fn matrix(&self) -> &[Vec3; 3] {
        &self.matrix
    }

    /// Inverse matrix (columns map Cartesian to fractional): frac = cart * inverse.
    pub fn inverse(&self) -> [Vec3; 3] {
        self.inverse.unwrap_or_else(|| inv3(&self.matrix))
    }

    /// Cell volume in A^3 (positive).
    pub fn volume(&self) -> f64 {
        det3(&self.matrix).abs()
    }

    /// Lengths a, b, c in Angstrom.
    pub fn lengths(&self) -> Vec3 {
        [norm(self.matrix[0]), norm(self.matrix[1]), norm(self.matrix[2])]
    }

    /// Angles alpha, beta, gamma in degrees.
    pub fn angles(&self) -> Vec3 {
        let m = &self.matrix;
        let ang = |u: Vec3, v: Vec3| (dot(u, v) / (norm(u) * norm(v))).clamp(-1.0, 1.0).acos().to_degrees();
        [ang(m[1], m[2]), ang(m[0], m[2]), ang(m[0], m[1])]
    }

    /// Distances between opposite faces of the cell (the widths that bound a sphere inside it).
    pub fn perpendicular_widths(&self) -> Vec3 {
        let m = &self.matrix;
        let v = self.volume();
        [v / norm(cross(m[1], m[2])), v / norm(cross(m[2], m[0])), v / norm(cross(m[0], m[1]))]
    }

    /// Fractional to Cartesian.
    pub fn to_cart(&self, f: Vec3) -> Vec3 {
        let m = &self.matrix;
        [
            f[0] * m[0][0] + f[1] * m[1][0] + f[2] * m[2][0],
            f[0] * m[0][1] + f[1] * m[1][1] + f[2] * m[2][1],
            f[0] * m[0][2] + f[1] * m[1][2] + f[2] * m[2][2],
        ]
    }

    /// Cartesian to fractional.
    pub fn to_frac(&self, c: Vec3) -> Vec3 {
        let inv = self.inverse();
        [
            c[0] * inv[0][0] + c[1] * inv[1][0] + c[2] * inv[2][0],
            c[0] * inv[0][1] + c[1] * inv[1][1] + c[2] * inv[2][1],
            c[0] * inv[0][2] + c[1] * inv[1][2] + c[2] * inv[2][2],
        ]
    }

    /// Minimum-image Cartesian vector from fractional point `a` to fractional point `b`.
    ///
    /// Exact for any cell shape: starting from the rounded fractional difference, every
    /// image that could be shorter is checked; the shortest vector is no longer than the
    /// starting one, which bounds the shifts along each axis by its length over the
    /// perpendicular width of the cell.
    pub fn min_image_vector(&self, a: Vec3, b: Vec3) -> Vec3 {
        let mut d = sub(b, a);
        for x in d.iter_mut() {
            *x -= x.round();
        }
        let base = self.to_cart(d);
        let len = norm(base);
        let w = self.perpendicular_widths();
        let n = |k: usize| (len / w[k]).ceil() as i32;
        let (na, nb, nc) = (n(0), n(1), n(2));
        let m = &self.matrix;
        let mut best = base;
        let mut best_d2 = dot(base, base);
        for i in -na..=na {
            for j in -nb..=nb {
                for k in -nc..=nc {
                    if i == 0 && j == 0 && k == 0 {
                        continue;
                    }
                    let shift = add(add(scale(m[0], i as f64), scale(m[1], j as f64)), scale(m[2], k as f64));
                    let v = add(base, shift);
                    let d2 = dot(v, v);
                    if d2 < best_d2 {
                        best_d2 = d2;
                        best = v;
                    }
                }
            }
        }
        best
    }

    /// Minimum-image distance between two fractional points (Angstrom).
    pub fn min_image_distance(&self, a: Vec3, b: Vec3) -> f64 {
        norm(self.min_image_vector(a, b))
    }
}

/// A periodic crystal structure: lattice, species and fractional coordinates.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Structure {
    /// The periodic cell.
    pub lattice: Lattice,
    /// One element per site.
    pub species: Vec<Element>,
    /// Fractional coordinates, one per site (not necessarily wrapped into [0,1)).
    pub frac: Vec<Vec3>,
}

impl Structure {
    /// Build a structure; checks lengths and finiteness (not overlaps: see [`Structure::check_overlaps`]).
    pub fn new(lattice: Lattice, species: Vec<Element>, frac: Vec<Vec3>) -> Result<Self, StructureError> {
        if species.len() != frac.len() {
            return Err(StructureError::LengthMismatch { species: species.len(), coords: frac.len() });
        }
        if frac.iter().flatten().any(|x| !x.is_finite()) {
            return Err(StructureError::NonFinite { what: "coordinates".into() });
        }
        if let Some(&x) = frac.iter().flatten().find(|x| x.abs() > MAX_COORDINATE) {
            return Err(StructureError::OutOfRange { what: "fractional coordinate".into(), value: x, max: MAX_COORDINATE });
        }
        Ok(Structure { lattice, species, frac })
    }

    /// Build from Cartesian coordinates.
    pub fn from_cartesian(lattice: Lattice, species: Vec<Element>, cart: &[Vec3]) -> Result<Self, StructureError> {
        let frac = cart.iter().map(|c| lattice.to_frac(*c)).collect();
        Structure::new(lattice, species, frac)
    }

    /// Number of sites.
    pub fn len(&self) -> usize {
        self.species.len()
    }

    /// True when there are no sites.
    pub fn is_empty(&self) -> bool {
        self.species.is_empty()
    }

    /// Cartesian coordinates of every site.
    pub fn cart_coords(&self) -> Vec<Vec3> {
        self.frac.iter().map(|f| self.lattice.to_cart(*f)).collect()
    }

    /// Distinct elements, sorted by atomic number.
    pub fn elements(&self) -> Vec<Element> {
        let mut e = self.species.clone();
        e.sort();
        e.dedup();
        e
    }

    /// Reduced-free formula in Hill-like order of first appearance by Z, e.g. `"Li2 Mn4 O8"`.
    pub fn formula(&self) -> String {
        let mut counts: std::collections::BTreeMap<Element, usize> = Default::default();
        for e in &self.species {
            *counts.entry(*e).or_default() += 1;
        }
        counts.iter().map(|(e, n)| format!("{e}{n}")).collect::<Vec<_>>().join(" ")
    }

    /// The closest pair of sites (distinct sites, or a site and its own periodic image) closer
    /// than `cutoff` Angstrom, as (i, j, distance) with i <= j.
    pub fn closest_pair_within(&self, cutoff: f64) -> Option<(usize, usize, f64)> {
        let nl = neighbors::NeighborList::build(self, cutoff);
        let mut best: Option<(usize, usize, f64)> = None;
        for (i, list) in nl.iter().enumerate() {
            for n in list.iter().filter(|n| n.index >= i) {
                if best.map_or(true, |b| n.distance < b.2) {
                    best = Some((i, n.index, n.distance));
                }
            }
        }
        best
    }

    /// Error if any two sites are closer than `min` Angstrom.
    pub fn check_overlaps(&self, min: f64) -> Result<(), StructureError> {
        if let Some((i, j, d)) = self.closest_pair_within(min) {
            {
                return Err(StructureError::OverlappingAtoms {
                    i,
                    j,
                    ei: self.species[i],
                    ej: self.species[j],
                    distance: d,
                    min,
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn min_image_matches_brute_force_on_skewed_cells() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for _ in 0..200 {
            let mut m = [[0.0; 3]; 3];
            for row in m.iter_mut() {
                for x in row.iter_mut() {
                    *x = rng.gen_range(-6.0..6.0);
                }
            }
            // Add a strong shear to make the cell very skewed.
            m[1] = add(m[1], scale(m[0], rng.gen_range(-3.0..3.0)));
            let Ok(l) = Lattice::new(m) else { continue };
            if l.volume() < 5.0 {
                continue;
            }
            let a = [rng.gen(), rng.gen(), rng.gen()];
            let b = [rng.gen(), rng.gen(), rng.gen()];
            let mut brute = f64::INFINITY;
            for i in -8..=8 {
                for j in -8..=8 {
                    for k in -8..=8 {
                        let f = add(sub(b, a), [i as f64, j as f64, k as f64]);
                        brute = brute.min(norm(l.to_cart(f)));
                    }
                }
            }
            assert!((l.min_image_distance(a, b) - brute).abs() < 1e-9);
        }
    }

    #[test]
    fn singular_and_non_finite_lattices_are_rejected() {
        assert!(matches!(Lattice::new([[1.0, 0.0, 0.0], [2.0, 0.0, 0.0], [0.0, 0.0, 1.0]]), Err(StructureError::SingularLattice { .. })));
        assert!(matches!(Lattice::new([[f64::NAN, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]), Err(StructureError::NonFinite { .. })));
    }

    #[test]
    fn frac_cart_round_trip_and_lattice_serde() {
        let l = Lattice::new([[4.0, 0.1, 0.0], [0.3, 5.0, 0.0], [0.2, 0.1, 6.0]]).unwrap();
        let f = [0.1, 0.7, 0.35];
        let back = l.to_frac(l.to_cart(f));
        assert!(norm(sub(f, back)) < 1e-12);
        let bytes = bincode::serialize(&l).unwrap();
        let l2: Lattice = bincode::deserialize(&bytes).unwrap();
        assert_eq!(l2.inverse(), l.inverse());
        let bad = bincode::serialize(&[[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]).unwrap();
        assert!(bincode::deserialize::<Lattice>(&bad).is_err());
    }
}
