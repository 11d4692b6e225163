//! Enumeration of the distinct elementary jumps of a mobile species in a structure, for
//! generating BVSE corpora.
//!
//! A jump goes from a site of the mobile species to another site (or a periodic image of
//! itself) of the same species within a length window. It is kept when its straight path
//! stays at least [`HopSearchOptions::min_clearance`] away from every other atom (framework
//! and other mobile sites alike, so jumps through an occupied site are left out). Jumps are
//! merged into classes when their lengths agree and the atom shells around both end sites
//! and around the midpoint agree (element by element, distances within a tolerance); each
//! class is reported once, with its multiplicity.

use crate::element::Element;
use crate::structure::neighbors::{NeighborList, PointLocator};
use crate::structure::{add, dot, lerp, norm, scale, sub, Structure, Vec3};

/// Settings of [`enumerate_hops`].
#[derive(Clone, Debug, PartialEq)]
pub struct HopSearchOptions {
    /// Shortest jump considered (Angstrom).
    pub min_length: f64,
    /// Longest jump considered (Angstrom).
    pub max_length: f64,
    /// Smallest allowed distance between the straight path and any other atom (Angstrom).
    pub min_clearance: f64,
    /// Radius of the atom shells compared to merge equivalent jumps (Angstrom).
    pub env_radius: f64,
    /// Two jumps are the same class only if their lengths differ by at most this (Angstrom).
    pub length_tol: f64,
    /// ... and their shells' distances by at most this (Angstrom).
    pub env_tol: f64,
}

impl Default for HopSearchOptions {
    fn default() -> Self {
        HopSearchOptions { min_length: 1.0, max_length: 5.0, min_clearance: 1.0, env_radius: 3.0, length_tol: 0.01, env_tol: 0.02 }
    }
}

/// One class of equivalent jumps, represented by one of them.
#[derive(Clone, Debug, PartialEq)]
pub struct HopCandidate {
    /// Site the ion leaves.
    pub from: usize,
    /// Site the ion arrives at (its image `image`).
    pub to: usize,
    /// Lattice translation of the arrival site: it sits at `frac[to] + image`.
    pub image: [i32; 3],
    /// Jump length (Angstrom).
    pub length: f64,
    /// Smallest distance from the straight path to any other atom (Angstrom).
    pub clearance: f64,
    /// How many jumps (each counted once, not per direction) the class holds.
    pub multiplicity: usize,
}

impl HopCandidate {
    /// Fractional initial site (as stored in the structure).
    pub fn initial_frac(&self, s: &Structure) -> Vec3 {
        s.frac[self.from]
    }

    /// Fractional final site, unwrapped so that the jump is the straight segment.
    pub fn final_frac(&self, s: &Structure) -> Vec3 {
        add(s.frac[self.to], [self.image[0] as f64, self.image[1] as f64, self.image[2] as f64])
    }

    /// The structure without the jump's end sites: the host of the jump (the ion leaves
    /// `from` and fills the vacancy at `to`; every other site stays occupied).
    pub fn host(&self, s: &Structure) -> Structure {
        let keep: Vec<usize> = (0..s.len()).filter(|&k| k != self.from && k != self.to).collect();
        Structure {
            lattice: s.lattice.clone(),
            species: keep.iter().map(|&k| s.species[k]).collect(),
            frac: keep.iter().map(|&k| s.frac[k]).collect(),
        }
    }

    /// The image shift as a fractional vector.
    pub fn shift(&self) -> Vec3 {
        [self.image[0] as f64, self.image[1] as f64, self.image[2] as f64]
    }
}

type Shell = Vec<(u8, f64)>;

fn sorted_shell(mut v: Shell) -> Shell {
    v.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
    v
}

fn same_shell(a: &Shell, b: &Shell, tol: f64) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.0 == y.0 && (x.1 - y.1).abs() <= tol)
}

/// Distance from `p` to the segment `a`-`b`.
fn point_segment_distance(p: Vec3, a: Vec3, b: Vec3) -> f64 {
    let ab = sub(b, a);
    let l2 = dot(ab, ab);
    let t = if l2 > 0.0 { (dot(sub(p, a), ab) / l2).clamp(0.0, 1.0) } else { 0.0 };
    norm(sub(p, add(a, scale(ab, t))))
}

struct Candidate {
    hop: HopCandidate,
    mid_shell: Shell,
    ends: (usize, usize),
}

/// All distinct jumps of `ion` between its sites in `s` (see the module docs), shortest first.
pub fn enumerate_hops(s: &Structure, ion: Element, opts: &HopSearchOptions) -> Vec<HopCandidate> {
    if !s.species.contains(&ion) || opts.max_length.is_nan() || opts.max_length <= 0.0 {
        return Vec::new();
    }
    let nl = NeighborList::build(s, opts.max_length.max(opts.env_radius));
    let locator = PointLocator::new(s, opts.env_radius.max(opts.max_length / 2.0 + opts.min_clearance));
    let shells: Vec<Option<Shell>> = (0..s.len())
        .map(|i| {
            (s.species[i] == ion).then(|| {
                sorted_shell(nl.of(i).iter().filter(|n| n.distance <= opts.env_radius).map(|n| (s.species[n.index].z(), n.distance)).collect())
            })
        })
        .collect();
    let mut found: Vec<Candidate> = Vec::new();
    for i in (0..s.len()).filter(|&i| s.species[i] == ion) {
        let a = s.lattice.to_cart(s.frac[i]);
        for nb in nl.of(i) {
            let j = nb.index;
            if s.species[j] != ion || nb.distance < opts.min_length || nb.distance > opts.max_length {
                continue;
            }
            // Each jump once: i < j, or a jump to an own image with a positive translation.
            if j < i || (j == i && nb.image <= [0, 0, 0]) {
                continue;
            }
            let b = add(a, nb.vector);
            let mid = lerp(a, b, 0.5);
            let is_end = |k: usize, img: [i32; 3]| (k == i && img == [0, 0, 0]) || (k == j && img == nb.image);
            let reach = 0.5 * nb.distance + opts.min_clearance;
            let mut clearance = f64::INFINITY;
            let mut mid_shell = Vec::new();
            for m in locator.within(mid, reach.max(opts.env_radius)) {
                if is_end(m.index, m.image) {
                    continue;
                }
                if m.distance <= opts.env_radius {
                    mid_shell.push((s.species[m.index].z(), m.distance));
                }
                if m.distance <= reach {
                    clearance = clearance.min(point_segment_distance(add(mid, m.vector), a, b));
                }
            }
            if clearance < opts.min_clearance {
                continue;
            }
            found.push(Candidate {
                hop: HopCandidate { from: i, to: j, image: nb.image, length: nb.distance, clearance, multiplicity: 1 },
                mid_shell: sorted_shell(mid_shell),
                ends: (i, j),
            });
        }
    }
    found.sort_by(|x, y| x.hop.length.total_cmp(&y.hop.length));
    let shell = |k: usize| shells[k].as_ref().expect("mobile site shell");
    let same_ends = |x: (usize, usize), y: (usize, usize)| {
        let t = opts.env_tol;
        (same_shell(shell(x.0), shell(y.0), t) && same_shell(shell(x.1), shell(y.1), t))
            || (same_shell(shell(x.0), shell(y.1), t) && same_shell(shell(x.1), shell(y.0), t))
    };
    let mut classes: Vec<Candidate> = Vec::new();
    for c in found {
        let hit = classes
            .iter_mut()
            .rev()
            .take_while(|r| c.hop.length - r.hop.length <= opts.length_tol)
            .find(|r| same_shell(&r.mid_shell, &c.mid_shell, opts.env_tol) && same_ends(r.ends, c.ends));
        match hit {
            Some(r) => r.hop.multiplicity += 1,
            None => classes.push(c),
        }
    }
    classes.into_iter().map(|c| c.hop).collect()
}
