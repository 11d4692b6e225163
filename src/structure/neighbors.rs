//! Periodic neighbour search with cell lists.
//!
//! Sites are wrapped into the unit cell and sorted into a grid of `n_a x n_b x n_c` bins that
//! are equal slices of the cell in fractional coordinates. A point whose Cartesian distance from
//! a centre is at most `r` differs from it along fractional axis `a` by at most `r / w_a`, where
//! `w_a` is the perpendicular width of the cell across the faces spanned by the other two lattice
//! vectors (`|a*| = 1 / w_a`). A query therefore scans, per axis, the contiguous range of bins
//! `floor((f_a - r / w_a) n_a) ..= floor((f_a + r / w_a) n_a)`; indices outside `0..n_a` are
//! folded back into the cell together with the lattice translation they imply. This is exact for
//! any cell shape (however skewed) and any radius, including radii many times a cell edge, in
//! which case the same bin is visited several times with different translations.
//!
//! Along the last axis the bins of one row that share a translation are contiguous in memory,
//! so a query costs one slice per (row, translation) plus the distance tests.

use super::{add, dot, scale, sub, Lattice, Structure, Vec3};

/// One neighbour of a centre: a periodic image of site `index`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Neighbor {
    /// Index of the neighbouring site in the structure.
    pub index: usize,
    /// Distance from the centre to this image, in Angstrom.
    pub distance: f64,
    /// Lattice translation of the image: it sits at fractional position `frac[index] + image`,
    /// with `frac` the structure's coordinates as stored (not wrapped). For a site-centred list
    /// the centre is `frac[i]` as stored; for a point query it is the point itself.
    pub image: [i32; 3],
    /// Cartesian vector from the centre to the neighbour image, in Angstrom.
    pub vector: Vec3,
}

/// A site as stored in the grid: wrapped Cartesian position, site index, and the integer
/// translation removed by wrapping (`frac = wrapped + offset`).
#[derive(Clone, Copy, Debug)]
struct Item {
    cart: Vec3,
    index: u32,
    offset: [i32; 3],
}

/// Cell-list grid over the wrapped sites of a structure.
#[derive(Clone, Debug)]
struct Grid {
    matrix: [Vec3; 3],
    inverse: [Vec3; 3],
    widths: Vec3,
    n: [usize; 3],
    /// Bin `b` holds `items[starts[b]..starts[b + 1]]`; bins are ordered a-major, c-minor.
    starts: Vec<usize>,
    items: Vec<Item>,
}

/// Wrap a fractional point into [0, 1) and return the integer translation removed.
fn wrap_with_offset(f: Vec3) -> (Vec3, [i32; 3]) {
    let mut w = [0.0; 3];
    let mut o = [0i32; 3];
    for a in 0..3 {
        let fl = f[a].floor();
        let mut x = f[a] - fl;
        let mut off = fl;
        if x >= 1.0 {
            // Only for tiny negative inputs where f - floor(f) rounds up to 1.
            x = 0.0;
            off += 1.0;
        }
        w[a] = x;
        o[a] = off as i32;
    }
    (w, o)
}

/// Row-vector times matrix (the convention of [`Lattice::to_cart`] / [`Lattice::to_frac`]).
#[inline]
fn row_times(v: Vec3, m: &[Vec3; 3]) -> Vec3 {
    [
        v[0] * m[0][0] + v[1] * m[1][0] + v[2] * m[2][0],
        v[0] * m[0][1] + v[1] * m[1][1] + v[2] * m[2][1],
        v[0] * m[0][2] + v[1] * m[1][2] + v[2] * m[2][2],
    ]
}

/// Largest number of bins for `n` sites: keeps the grid O(N) in memory even for tiny radii.
fn max_bins(n: usize) -> usize {
    (4 * n).max(64)
}

impl Grid {
    /// Bin the sites of `frac` with bins at least `bin_size` wide (perpendicular), using at most
    /// `max_bins` bins in total (bins are enlarged when needed).
    fn new(lattice: &Lattice, frac: &[Vec3], bin_size: f64, max_bins: usize) -> Self {
        let matrix = *lattice.matrix();
        let inverse = lattice.inverse();
        let widths = lattice.perpendicular_widths();
        let cap = max_bins.max(1);
        let mut b = if bin_size.is_finite() && bin_size > 0.0 {
            bin_size
        } else {
            f64::INFINITY
        };
        let mut n = [1usize; 3];
        loop {
            for a in 0..3 {
                let k = (widths[a] / b).floor();
                n[a] = if k.is_finite() && k >= 1.0 {
                    (k.min(cap as f64)) as usize
                } else {
                    1
                };
            }
            if n[0].saturating_mul(n[1]).saturating_mul(n[2]) <= cap {
                break;
            }
            b *= 1.25;
        }
        let nbins = n[0] * n[1] * n[2];
        let mut bin_of = Vec::with_capacity(frac.len());
        let mut raw = Vec::with_capacity(frac.len());
        let mut counts = vec![0usize; nbins + 1];
        for (i, f) in frac.iter().enumerate() {
            let (w, offset) = wrap_with_offset(*f);
            let mut idx = [0usize; 3];
            for a in 0..3 {
                idx[a] = ((w[a] * n[a] as f64) as usize).min(n[a] - 1);
            }
            let bin = (idx[0] * n[1] + idx[1]) * n[2] + idx[2];
            counts[bin + 1] += 1;
            bin_of.push(bin);
            raw.push(Item {
                cart: row_times(w, &matrix),
                index: i as u32,
                offset,
            });
        }
        for b in 0..nbins {
            counts[b + 1] += counts[b];
        }
        let starts = counts;
        let mut fill = starts.clone();
        let mut items = vec![
            Item {
                cart: [0.0; 3],
                index: 0,
                offset: [0; 3]
            };
            raw.len()
        ];
        for (item, bin) in raw.into_iter().zip(bin_of) {
            items[fill[bin]] = item;
            fill[bin] += 1;
        }
        Grid {
            matrix,
            inverse,
            widths,
            n,
            starts,
            items,
        }
    }

    /// Wrapped fractional position, translation removed, and the Cartesian position of the
    /// wrapped point (computed as `cart - offset`, so it stays exact relative to `cart`).
    #[inline]
    fn locate(&self, cart: Vec3) -> (Vec3, [i32; 3], Vec3) {
        let (w, off) = wrap_with_offset(row_times(cart, &self.inverse));
        let shift = row_times([off[0] as f64, off[1] as f64, off[2] as f64], &self.matrix);
        (w, off, sub(cart, shift))
    }

    /// Call `f(item, translation, vector, d2)` for every site image within `radius` of the
    /// Cartesian point `p` whose fractional coordinates are `frac` (ideally wrapped).
    /// `vector` goes from `p` to the image at `item.cart + translation . matrix`.
    #[inline]
    fn visit<F: FnMut(&Item, [i32; 3], Vec3, f64)>(&self, frac: Vec3, p: Vec3, radius: f64, mut f: F) {
        if !radius.is_finite() || radius < 0.0 || self.items.is_empty() {
            return;
        }
        let r2 = radius * radius;
        // A slightly larger radius for choosing bins, so rounding never drops a boundary bin.
        let rr = radius * (1.0 + 1e-9) + 1e-9;
        let mut lo = [0i64; 3];
        let mut hi = [0i64; 3];
        for a in 0..3 {
            let na = self.n[a] as f64;
            let d = rr / self.widths[a];
            lo[a] = ((frac[a] - d) * na).floor() as i64;
            hi[a] = ((frac[a] + d) * na).floor() as i64;
        }
        let (n0, n1, n2) = (self.n[0] as i64, self.n[1] as i64, self.n[2] as i64);
        let m = &self.matrix;
        for ga in lo[0]..=hi[0] {
            let (sa, ca) = (ga.div_euclid(n0), ga.rem_euclid(n0));
            let sh_a = scale(m[0], sa as f64);
            for gb in lo[1]..=hi[1] {
                let (sb, cb) = (gb.div_euclid(n1), gb.rem_euclid(n1));
                let sh_ab = add(sh_a, scale(m[1], sb as f64));
                let row = ((ca * n1 + cb) * n2) as usize;
                let mut gc = lo[2];
                while gc <= hi[2] {
                    let (sc, cc) = (gc.div_euclid(n2), gc.rem_euclid(n2));
                    let end = hi[2].min((sc + 1) * n2 - 1);
                    let cc_end = cc + (end - gc);
                    let start = self.starts[row + cc as usize];
                    let stop = self.starts[row + cc_end as usize + 1];
                    if start < stop {
                        let shift = add(sh_ab, scale(m[2], sc as f64));
                        // vector = item.cart + shift - p = item.cart - q
                        let q = sub(p, shift);
                        let t = [sa as i32, sb as i32, sc as i32];
                        for item in &self.items[start..stop] {
                            let v = sub(item.cart, q);
                            let d2 = dot(v, v);
                            if d2 <= r2 {
                                f(item, t, v, d2);
                            }
                        }
                    }
                    gc = end + 1;
                }
            }
        }
    }
}

/// Order neighbours by distance, then index, then image (a total, deterministic order).
fn by_distance(a: &Neighbor, b: &Neighbor) -> std::cmp::Ordering {
    // Distances are never negative (or -0.0), so their bit patterns order like the values.
    a.distance
        .to_bits()
        .cmp(&b.distance.to_bits())
        .then_with(|| a.index.cmp(&b.index))
        .then_with(|| a.image.cmp(&b.image))
}

/// Per-site neighbour lists within a cutoff, for every site of a structure.
///
/// Stored compactly (one flat array plus offsets); `of(i)` is sorted by distance.
#[derive(Clone, Debug, Default)]
pub struct NeighborList {
    cutoff: f64,
    offsets: Vec<usize>,
    neighbors: Vec<Neighbor>,
}

impl NeighborList {
    /// All neighbours of every site within `cutoff` Angstrom (inclusive), over all periodic
    /// images. A site's own periodic images (`index == i`, non-zero `image`) are included; the
    /// site itself at zero translation is not. A distinct site at the very same position is kept
    /// (distance 0), so overlap checks see coincident atoms. A non-positive or non-finite
    /// cutoff gives empty lists. Each list is sorted by distance, then index, then image.
    pub fn build(s: &Structure, cutoff: f64) -> Self {
        let n = s.len();
        let mut offsets = Vec::with_capacity(n + 1);
        offsets.push(0);
        let mut neighbors = Vec::new();
        if n == 0 || !cutoff.is_finite() || cutoff <= 0.0 {
            offsets.resize(n + 1, 0);
            return NeighborList {
                cutoff,
                offsets,
                neighbors,
            };
        }
        let grid = Grid::new(&s.lattice, &s.frac, cutoff, max_bins(n));
        for (i, f) in s.frac.iter().enumerate() {
            let (w, off_i) = wrap_with_offset(*f);
            let p = row_times(w, &grid.matrix);
            let begin = neighbors.len();
            grid.visit(w, p, cutoff, |item, t, v, d2| {
                let image = [
                    t[0] - item.offset[0] + off_i[0],
                    t[1] - item.offset[1] + off_i[1],
                    t[2] - item.offset[2] + off_i[2],
                ];
                let j = item.index as usize;
                if j == i && image == [0, 0, 0] {
                    return;
                }
                neighbors.push(Neighbor {
                    index: j,
                    distance: d2.sqrt(),
                    image,
                    vector: v,
                });
            });
            neighbors[begin..].sort_unstable_by(by_distance);
            offsets.push(neighbors.len());
        }
        NeighborList {
            cutoff,
            offsets,
            neighbors,
        }
    }

    /// The cutoff the list was built with (Angstrom).
    pub fn cutoff(&self) -> f64 {
        self.cutoff
    }

    /// Neighbours of site `i`, sorted by distance. Panics if `i >= self.len()`.
    pub fn of(&self, i: usize) -> &[Neighbor] {
        &self.neighbors[self.offsets[i]..self.offsets[i + 1]]
    }

    /// The per-site lists in site order.
    pub fn iter(&self) -> impl Iterator<Item = &[Neighbor]> + '_ {
        self.offsets.windows(2).map(move |w| &self.neighbors[w[0]..w[1]])
    }

    /// Number of sites (lists), not of neighbour pairs.
    pub fn len(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    /// True when the structure had no sites.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Total number of (centre, neighbour image) entries over all sites.
    pub fn total(&self) -> usize {
        self.neighbors.len()
    }
}

/// Spatial index over the sites of a structure for queries at arbitrary points (not sites).
///
/// Built once per structure; queries allocate nothing beyond their result (and
/// [`PointLocator::within_into`] and the `nearest` family allocate nothing at all).
#[derive(Clone, Debug)]
pub struct PointLocator {
    grid: Grid,
    max_radius: f64,
    /// First search radius of `nearest`: a little over the mean spacing between sites.
    start: f64,
    /// Every site has an image within this distance of any point: |a| + |b| + |c|.
    cover: f64,
}

impl PointLocator {
    /// Index the sites of `s`, with bins tuned for queries of radius up to `max_radius`
    /// Angstrom. Larger radii still give exact results, only more slowly. A non-positive or
    /// non-finite `max_radius` picks a bin size from the mean volume per site.
    pub fn new(s: &Structure, max_radius: f64) -> Self {
        let n = s.len();
        let per_site = (s.lattice.volume() / n.max(1) as f64).cbrt();
        let max_radius = if max_radius.is_finite() && max_radius > 0.0 {
            max_radius
        } else {
            2.0 * per_site
        };
        let grid = Grid::new(&s.lattice, &s.frac, max_radius, max_bins(n));
        let l = s.lattice.lengths();
        let cover = (l[0] + l[1] + l[2]) * (1.0 + 1e-9) + 1e-9;
        // A sphere of radius 1.2 x (volume per site)^(1/3) holds ~7 sites on average, so the
        // first pass of `nearest` almost always succeeds.
        let start = (1.2 * per_site).min(max_radius);
        PointLocator {
            grid,
            max_radius,
            start,
            cover,
        }
    }

    /// The radius the bins were tuned for (Angstrom).
    pub fn max_radius(&self) -> f64 {
        self.max_radius
    }

    /// Number of indexed sites.
    pub fn len(&self) -> usize {
        self.grid.items.len()
    }

    /// True when no sites are indexed.
    pub fn is_empty(&self) -> bool {
        self.grid.items.is_empty()
    }

    /// All site images within `radius` (inclusive) of the Cartesian point `cart`, sorted by
    /// distance (then index, then image); a site exactly at `cart` is included with distance 0.
    /// Exact for any radius; radii above `max_radius` are just slower.
    pub fn within(&self, cart: Vec3, radius: f64) -> Vec<Neighbor> {
        let mut out = Vec::new();
        self.within_into(cart, radius, &mut out);
        out
    }

    /// Like [`PointLocator::within`] but writes into `out` (cleared first), reusing its memory.
    pub fn within_into(&self, cart: Vec3, radius: f64, out: &mut Vec<Neighbor>) {
        out.clear();
        if !cart.iter().all(|x| x.is_finite()) {
            return;
        }
        let (w, off, p) = self.grid.locate(cart);
        self.grid.visit(w, p, radius, |item, t, v, d2| {
            out.push(Neighbor {
                index: item.index as usize,
                distance: d2.sqrt(),
                image: [
                    t[0] - item.offset[0] + off[0],
                    t[1] - item.offset[1] + off[1],
                    t[2] - item.offset[2] + off[2],
                ],
                vector: v,
            });
        });
        out.sort_unstable_by(by_distance);
    }

    /// The nearest site image to `cart` (exact: the search widens until something is found).
    /// `None` only for an empty structure or a non-finite point.
    pub fn nearest(&self, cart: Vec3) -> Option<Neighbor> {
        self.nearest_filtered(cart, |_| true)
    }

    /// The nearest image of a site whose index passes `keep` (exact). `None` when no site
    /// passes, the structure is empty, or the point is not finite.
    pub fn nearest_filtered(&self, cart: Vec3, keep: impl Fn(usize) -> bool) -> Option<Neighbor> {
        if self.is_empty() || !cart.iter().all(|x| x.is_finite()) {
            return None;
        }
        let (w, off, p) = self.grid.locate(cart);
        let mut r = self.start.min(self.cover);
        loop {
            // (d2, grid item, translation, vector) of the best candidate so far.
            let mut best: Option<(f64, Item, [i32; 3], Vec3)> = None;
            self.grid.visit(w, p, r, |item, t, v, d2| {
                if best.is_none_or(|b| d2 < b.0) && keep(item.index as usize) {
                    best = Some((d2, *item, t, v));
                }
            });
            if let Some((d2, Item { index, offset: o, .. }, t, v)) = best {
                return Some(Neighbor {
                    index: index as usize,
                    distance: d2.sqrt(),
                    image: [t[0] - o[0] + off[0], t[1] - o[1] + off[1], t[2] - o[2] + off[2]],
                    vector: v,
                });
            }
            if r >= self.cover {
                // Every site has an image within `cover`; none passed the filter.
                return None;
            }
            r = (2.0 * r).min(self.cover);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{norm, Lattice, Structure};
    use super::*;
    use crate::element::Element;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// A random, strongly skewed triclinic cell: one short edge (1-2 A), two longer ones,
    /// angles 40-140 degrees, edges in random order, sometimes further sheared by an integer
    /// unimodular change of basis.
    fn random_lattice(rng: &mut ChaCha8Rng) -> Lattice {
        loop {
            let short = rng.gen_range(1.0..2.0);
            let mut len = [short, rng.gen_range(3.0..8.0), rng.gen_range(3.0..8.0)];
            let k = rng.gen_range(0..3);
            len.swap(0, k);
            let ang: Vec<f64> = (0..3).map(|_| rng.gen_range(40.0f64..140.0).to_radians()).collect();
            let (ca, cb, cg) = (ang[0].cos(), ang[1].cos(), ang[2].cos());
            let sg = ang[2].sin();
            let cx = len[2] * cb;
            let cy = len[2] * (ca - cb * cg) / sg;
            let cz2 = len[2] * len[2] - cx * cx - cy * cy;
            if cz2 < 0.02 * len[2] * len[2] {
                continue;
            }
            let mut m = [
                [len[0], 0.0, 0.0],
                [len[1] * cg, len[1] * sg, 0.0],
                [cx, cy, cz2.sqrt()],
            ];
            if rng.gen_bool(0.3) {
                // b' = b + k a, c' = c + l b'
                let k = rng.gen_range(-2..=2) as f64;
                let l = rng.gen_range(-2..=2) as f64;
                m[1] = add(m[1], scale(m[0], k));
                m[2] = add(m[2], scale(m[1], l));
            }
            if let Ok(lat) = Lattice::new(m) {
                return lat;
            }
        }
    }

    fn random_structure(rng: &mut ChaCha8Rng, max_sites: usize) -> Structure {
        let lat = random_lattice(rng);
        let n = rng.gen_range(1..=max_sites);
        let species = vec![Element::from_z(3).unwrap(); n];
        // Unwrapped coordinates, to exercise the image bookkeeping.
        let frac = (0..n)
            .map(|_| {
                [
                    rng.gen_range(-1.5..2.5),
                    rng.gen_range(-1.5..2.5),
                    rng.gen_range(-1.5..2.5),
                ]
            })
            .collect();
        Structure::new(lat, species, frac).unwrap()
    }

    fn shortest_edge(l: &Lattice) -> f64 {
        l.lengths().iter().cloned().fold(f64::INFINITY, f64::min)
    }

    /// All images of every site within `radius` of the fractional point `fc`, by looping over a
    /// generous box of translations around the nearest image. Returns (index, image, distance).
    fn brute_within(s: &Structure, fc: Vec3, radius: f64) -> Vec<(usize, [i32; 3], f64)> {
        let w = s.lattice.perpendicular_widths();
        let k: Vec<i32> = (0..3).map(|a| 2 * (radius / w[a]).ceil() as i32 + 3).collect();
        let mut out = Vec::new();
        for (j, fj) in s.frac.iter().enumerate() {
            let base: Vec<i32> = (0..3).map(|a| (fc[a] - fj[a]).round() as i32).collect();
            for x in -k[0]..=k[0] {
                for y in -k[1]..=k[1] {
                    for z in -k[2]..=k[2] {
                        let img = [base[0] + x, base[1] + y, base[2] + z];
                        let d = sub(
                            [fj[0] + img[0] as f64, fj[1] + img[1] as f64, fj[2] + img[2] as f64],
                            fc,
                        );
                        let dist = norm(s.lattice.to_cart(d));
                        if dist <= radius {
                            out.push((j, img, dist));
                        }
                    }
                }
            }
        }
        out.sort_by_key(|a| (a.0, a.1));
        out
    }

    /// Compare a result list against brute force, tolerating disagreement only for images
    /// within 1e-9 A of the boundary.
    fn assert_same(got: &[Neighbor], want: &[(usize, [i32; 3], f64)], radius: f64, what: &str) {
        let mut g: Vec<(usize, [i32; 3], f64)> = got.iter().map(|n| (n.index, n.image, n.distance)).collect();
        g.sort_by_key(|a| (a.0, a.1));
        let key = |x: &(usize, [i32; 3], f64)| (x.0, x.1);
        let (mut i, mut j) = (0, 0);
        while i < g.len() || j < want.len() {
            if i < g.len() && j < want.len() && key(&g[i]) == key(&want[j]) {
                assert!(
                    (g[i].2 - want[j].2).abs() < 1e-9,
                    "{what}: distance {} vs {}",
                    g[i].2,
                    want[j].2
                );
                i += 1;
                j += 1;
            } else if j >= want.len() || (i < g.len() && key(&g[i]) < key(&want[j])) {
                assert!((g[i].2 - radius).abs() < 1e-9, "{what}: extra neighbour {:?}", g[i]);
                i += 1;
            } else {
                assert!(
                    (want[j].2 - radius).abs() < 1e-9,
                    "{what}: missing neighbour {:?}",
                    want[j]
                );
                j += 1;
            }
        }
    }

    fn check_list_invariants(s: &Structure, nl: &NeighborList, cutoff: f64) {
        assert_eq!(nl.len(), s.len());
        for (i, list) in nl.iter().enumerate() {
            for pair in list.windows(2) {
                assert!(pair[0].distance <= pair[1].distance, "list {i} not sorted");
            }
            for n in list {
                assert!(n.distance <= cutoff);
                assert!(!(n.index == i && n.image == [0, 0, 0]));
                let fj = s.frac[n.index];
                let d = sub(
                    [
                        fj[0] + n.image[0] as f64,
                        fj[1] + n.image[1] as f64,
                        fj[2] + n.image[2] as f64,
                    ],
                    s.frac[i],
                );
                let v = s.lattice.to_cart(d);
                assert!(norm(sub(v, n.vector)) < 1e-9, "vector does not match image");
                assert!((norm(n.vector) - n.distance).abs() < 1e-9);
            }
        }
    }

    #[test]
    fn neighbor_list_matches_brute_force_on_skewed_cells() {
        let mut rng = ChaCha8Rng::seed_from_u64(0x5eed_0001);
        for case in 0..60 {
            let s = random_structure(&mut rng, 10);
            let cutoff = rng.gen_range(0.3..3.0) * shortest_edge(&s.lattice);
            let nl = NeighborList::build(&s, cutoff);
            check_list_invariants(&s, &nl, cutoff);
            for i in 0..s.len() {
                let mut want = brute_within(&s, s.frac[i], cutoff);
                want.retain(|x| !(x.0 == i && x.1 == [0, 0, 0]));
                assert_same(nl.of(i), &want, cutoff, &format!("case {case} site {i}"));
            }
        }
    }

    #[test]
    fn neighbor_list_handles_cutoff_much_longer_than_cell() {
        let mut rng = ChaCha8Rng::seed_from_u64(0x5eed_0002);
        for case in 0..10 {
            let s = random_structure(&mut rng, 3);
            let max_len = s.lattice.lengths().iter().cloned().fold(0.0, f64::max);
            let cutoff = rng.gen_range(1.0..1.6) * max_len;
            let nl = NeighborList::build(&s, cutoff);
            check_list_invariants(&s, &nl, cutoff);
            for i in 0..s.len() {
                let mut want = brute_within(&s, s.frac[i], cutoff);
                want.retain(|x| !(x.0 == i && x.1 == [0, 0, 0]));
                assert_same(nl.of(i), &want, cutoff, &format!("long case {case} site {i}"));
            }
        }
    }

    #[test]
    fn neighbor_distances_invariant_under_change_of_basis() {
        let mut rng = ChaCha8Rng::seed_from_u64(0x5eed_0003);
        for _ in 0..20 {
            let s = random_structure(&mut rng, 8);
            let m = *s.lattice.matrix();
            let (k, l) = (rng.gen_range(1..=3) as f64, rng.gen_range(-3..=-1) as f64);
            let b2 = add(m[1], scale(m[0], k));
            let m2 = [m[0], b2, add(m[2], scale(b2, l))];
            let lat2 = Lattice::new(m2).unwrap();
            let s2 = Structure::from_cartesian(lat2, s.species.clone(), &s.cart_coords()).unwrap();
            let cutoff = 2.0 * shortest_edge(&s.lattice);
            let (a, b) = (NeighborList::build(&s, cutoff), NeighborList::build(&s2, cutoff));
            for i in 0..s.len() {
                let da: Vec<f64> = a.of(i).iter().map(|n| n.distance).collect();
                let db: Vec<f64> = b.of(i).iter().map(|n| n.distance).collect();
                let near_edge = |d: &f64| (d - cutoff).abs() < 1e-9;
                if da.iter().chain(&db).any(near_edge) {
                    continue;
                }
                assert_eq!(da.len(), db.len());
                for (x, y) in da.iter().zip(&db) {
                    assert!((x - y).abs() < 1e-9);
                }
            }
        }
    }

    #[test]
    fn neighbor_list_edge_cases() {
        let lat = Lattice::new([[3.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 3.0]]).unwrap();
        let li = Element::from_z(3).unwrap();
        // Simple cubic, one atom: 6 self-images at 3 A, 12 at 3 sqrt(2).
        let s = Structure::new(lat.clone(), vec![li], vec![[0.0, 0.0, 0.0]]).unwrap();
        let nl = NeighborList::build(&s, 3.0);
        assert_eq!(nl.of(0).len(), 6);
        assert!(nl
            .of(0)
            .iter()
            .all(|n| n.index == 0 && (n.distance - 3.0).abs() < 1e-12));
        assert_eq!(NeighborList::build(&s, 4.3).of(0).len(), 18);
        assert_eq!(NeighborList::build(&s, 2.9).total(), 0);
        // Non-positive, NaN or infinite cutoffs give empty lists.
        for c in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let nl = NeighborList::build(&s, c);
            assert_eq!(nl.len(), 1);
            assert_eq!(nl.total(), 0);
        }
        // Coincident distinct atoms are reported at distance 0 (both directions).
        let s2 = Structure::new(lat.clone(), vec![li, li], vec![[0.5, 0.5, 0.5], [1.5, 0.5, -0.5]]).unwrap();
        let nl = NeighborList::build(&s2, 1.0);
        assert_eq!(nl.of(0).len(), 1);
        assert_eq!(nl.of(0)[0].index, 1);
        assert_eq!(nl.of(0)[0].distance, 0.0);
        assert_eq!(nl.of(0)[0].image, [-1, 0, 1]);
        assert_eq!(s2.closest_pair_within(1.0).map(|p| (p.0, p.1)), Some((0, 1)));
        // Empty structure.
        let e = Structure::new(lat, vec![], vec![]).unwrap();
        let nl = NeighborList::build(&e, 5.0);
        assert!(nl.is_empty());
        assert_eq!(nl.iter().count(), 0);
    }

    #[test]
    fn point_locator_within_matches_brute_force() {
        let mut rng = ChaCha8Rng::seed_from_u64(0x5eed_0004);
        let mut buf = Vec::new();
        for case in 0..40 {
            let s = random_structure(&mut rng, 10);
            let short = shortest_edge(&s.lattice);
            let loc = PointLocator::new(&s, rng.gen_range(0.5..2.0) * short);
            for q in 0..10 {
                let f = [
                    rng.gen_range(-3.0..4.0),
                    rng.gen_range(-3.0..4.0),
                    rng.gen_range(-3.0..4.0),
                ];
                let cart = s.lattice.to_cart(f);
                let radius = rng.gen_range(0.2..3.0) * short;
                let got = loc.within(cart, radius);
                for pair in got.windows(2) {
                    assert!(pair[0].distance <= pair[1].distance);
                }
                for n in &got {
                    let fj = s.frac[n.index];
                    let pos = s.lattice.to_cart([
                        fj[0] + n.image[0] as f64,
                        fj[1] + n.image[1] as f64,
                        fj[2] + n.image[2] as f64,
                    ]);
                    assert!(norm(sub(sub(pos, cart), n.vector)) < 1e-9);
                }
                let want = brute_within(&s, s.lattice.to_frac(cart), radius);
                assert_same(&got, &want, radius, &format!("case {case} query {q}"));
                loc.within_into(cart, radius, &mut buf);
                assert_eq!(buf, got);
            }
            // A query exactly on a site includes it at distance 0.
            let hit = loc.within(s.lattice.to_cart(s.frac[0]), 0.1);
            assert!(hit
                .iter()
                .any(|n| n.index == 0 && n.image == [0, 0, 0] && n.distance < 1e-12));
        }
    }

    /// Brute-force nearest distance of an image of a site passing `keep`.
    fn brute_nearest(s: &Structure, cart: Vec3, keep: impl Fn(usize) -> bool) -> Option<f64> {
        let fc = s.lattice.to_frac(cart);
        // Upper bound from the images closest in fractional terms, then an exhaustive search.
        let mut bound = f64::INFINITY;
        for (_, fj) in s.frac.iter().enumerate().filter(|(j, _)| keep(*j)) {
            let d: Vec3 = [0, 1, 2].map(|a| fj[a] - fc[a] - (fj[a] - fc[a]).round());
            bound = bound.min(norm(s.lattice.to_cart(d)));
        }
        if !bound.is_finite() {
            return None;
        }
        brute_within(s, fc, bound * (1.0 + 1e-12))
            .iter()
            .filter(|x| keep(x.0))
            .map(|x| x.2)
            .reduce(f64::min)
    }

    #[test]
    fn point_locator_nearest_matches_brute_force() {
        let mut rng = ChaCha8Rng::seed_from_u64(0x5eed_0005);
        for case in 0..40 {
            let s = random_structure(&mut rng, 12);
            // Deliberately small max_radius so that the search must widen.
            let loc = PointLocator::new(&s, rng.gen_range(0.05..1.5));
            for _ in 0..15 {
                let f = [
                    rng.gen_range(-5.0..6.0),
                    rng.gen_range(-5.0..6.0),
                    rng.gen_range(-5.0..6.0),
                ];
                let cart = s.lattice.to_cart(f);
                let got = loc.nearest(cart).unwrap();
                let want = brute_nearest(&s, cart, |_| true).unwrap();
                assert!(
                    (got.distance - want).abs() < 1e-9,
                    "case {case}: {} vs {want}",
                    got.distance
                );
                let fj = s.frac[got.index];
                let pos = s.lattice.to_cart([
                    fj[0] + got.image[0] as f64,
                    fj[1] + got.image[1] as f64,
                    fj[2] + got.image[2] as f64,
                ]);
                assert!(norm(sub(sub(pos, cart), got.vector)) < 1e-9);

                let keep = |j: usize| j % 3 == 1;
                let got = loc.nearest_filtered(cart, keep);
                let want = brute_nearest(&s, cart, keep);
                match (got, want) {
                    (Some(g), Some(w)) => {
                        assert!(keep(g.index));
                        assert!(
                            (g.distance - w).abs() < 1e-9,
                            "filtered case {case}: {} vs {w}",
                            g.distance
                        );
                    }
                    (None, None) => {}
                    (g, w) => panic!("filtered case {case}: {g:?} vs {w:?}"),
                }
                assert!(loc.nearest_filtered(cart, |_| false).is_none());
            }
        }
    }

    #[test]
    fn point_locator_empty_and_bad_input() {
        let lat = Lattice::new([[3.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 3.0]]).unwrap();
        let e = Structure::new(lat.clone(), vec![], vec![]).unwrap();
        let loc = PointLocator::new(&e, 3.0);
        assert!(loc.is_empty());
        assert!(loc.nearest([0.0; 3]).is_none());
        assert!(loc.within([0.0; 3], 10.0).is_empty());
        let li = Element::from_z(3).unwrap();
        let s = Structure::new(lat, vec![li], vec![[0.25, 0.25, 0.25]]).unwrap();
        let loc = PointLocator::new(&s, 0.0);
        assert!(loc.nearest([f64::NAN, 0.0, 0.0]).is_none());
        assert!(loc.within([0.0; 3], f64::NAN).is_empty());
        let n = loc.nearest([100.0, -100.0, 50.0]).unwrap();
        // Point at fractional (1/3, 2/3, 2/3) mod 1; site at 1/4: offsets 0.25, 1.25, 1.25 A.
        assert!((n.distance - (0.25f64 * 0.25 + 2.0 * 1.25 * 1.25).sqrt()).abs() < 1e-9);
    }
}
