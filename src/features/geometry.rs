//! Path-geometry and electrostatic descriptors: the environment of 41 points along the
//! straight hop, from one sorted 7 A neighbour query per point (see [`crate::features`]).

use super::chem::{host_descriptors, ionic_radius, nominal_charge};
use super::{Row, DIST_CAP, ENV_RADIUS, PATH_SAMPLES};
use crate::element::Element;
use crate::structure::neighbors::{Neighbor, PointLocator};
use crate::structure::{add, scale, sub, Lattice, Structure, Vec3};

/// Coordination cutoff factor: an anion j is bonded within `CN_SCALE (r_ion + r_j)`.
const CN_SCALE: f64 = 1.2;
/// Width of the Fermi function of the smooth coordination number (A).
const FERMI_WIDTH: f64 = 0.1;
/// Bond-valence softness b (A).
const BV_B: f64 = 0.37;
/// Distances below this are clamped in 1/r and bond-valence terms (A).
const MIN_R: f64 = 0.5;
/// Cutoff of the point-charge sums (A).
const ES_CUTOFF: f64 = 6.0;
/// Damping parameter of the Wolf sum (1/A).
const WOLF_ALPHA: f64 = 0.25;
/// e^2 / (4 pi eps0) in eV A.
const COULOMB: f64 = 14.399_645;
/// Radius of the crowding counts around the path (A).
const CROWD_RADIUS: f64 = 2.5;
/// Smallest denominator of the ratio descriptors (A).
const MIN_DENOM: f64 = 0.1;
/// The four constants of the softBV-like energy landscape (`bvse_lite_*`, `rbvse_lite_*`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LiteConstants {
    /// Steepness of the Morse term (1/A).
    pub alpha: f64,
    /// Morse minimum as a fraction of `r_ion + r_anion`.
    pub rmin: f64,
    /// Bond-breaking energy per unit of the mobile ion's charge (eV).
    pub d0: f64,
    /// Screening length of the Coulomb term as a fraction of `rcov_ion + rcov_j`.
    pub screen: f64,
}

impl LiteConstants {
    /// `hop-v1`'s constants: chosen by their correlation with the barriers of all 619
    /// devi2025 hops, test hops included (kept so that hop-v1 models stay reproducible).
    pub const HOP_V1: LiteConstants = LiteConstants { alpha: 1.6, rmin: 0.92, d0: 1.0, screen: 0.74 };
    /// `hop-v2`'s constants, fixed from the literature before looking at any barrier:
    /// `alpha = 1/b` with Brown's universal bond-valence softness `b = 0.37 A`; the Morse
    /// minimum at the sum of the Shannon radii (the ideal bond length, fraction 1); one eV of
    /// bond energy per unit of the ion's charge (a unit convention, not fitted); the screening
    /// factor 0.74 of Adams and Rao's BVSE Coulomb term.
    pub const LITERATURE: LiteConstants = LiteConstants { alpha: 1.0 / 0.37, rmin: 1.0, d0: 1.0, screen: 0.74 };
}

/// Radii of the rings of the relaxation disc perpendicular to the hop (A).
const DISC_RINGS: [f64; 5] = [0.25, 0.5, 0.75, 1.0, 1.25];
/// Points per ring of the relaxation disc.
const DISC_SPOKES: usize = 8;
/// Interaction cutoff of the disc evaluations (A): every atom within it of a disc point is in
/// the 7 A environment of the disc centre.
const DISC_CUTOFF: f64 = ENV_RADIUS - DISC_RINGS[DISC_RINGS.len() - 1];
/// Number of intervals of the pair-energy tables, uniform in r^2 over [MIN_R^2, DISC_CUTOFF^2].
const TABLE_N: usize = 2048;
/// Squared distance of the first table entry (A^2).
const TABLE_R2_0: f64 = MIN_R * MIN_R;
/// Table spacing in r^2 (A^2).
const TABLE_STEP: f64 = (DISC_CUTOFF * DISC_CUTOFF - MIN_R * MIN_R) / TABLE_N as f64;

/// What a host atom is to the mobile ion.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Role {
    Anion,
    Cation,
    Same,
}

/// A host indexed for point queries, with per-atom roles, charges and radii for one mobile
/// ion, and the host-level descriptors (computed once per host and ion).
pub(crate) struct HostContext {
    lattice: Lattice,
    locator: PointLocator,
    role: Vec<Role>,
    charge: Vec<f64>,
    radius: Vec<f64>,
    /// Per atom: Morse minimum (anions) or Coulomb prefactor (positive ions), eV A.
    lite_a: Vec<f64>,
    /// Per atom: screening length of the Coulomb term (A).
    lite_s: Vec<f64>,
    /// Per atom: index of its pair-energy table in `tables`.
    table_of: Vec<usize>,
    /// softBV-like pair energy tabulated on a uniform grid of r^2 (see [`TABLE_N`]).
    tables: Vec<Vec<f64>>,
    /// Morse bond-breaking energy for this mobile ion (eV).
    d0: f64,
    /// Steepness of the Morse term (1/A).
    alpha: f64,
    has: [bool; 3],
    r_ion: f64,
    q_ion: f64,
    wolf_shift: f64,
    host_desc: Vec<(String, f64)>,
}

impl HostContext {
    /// Index `host` for the mobile ion `ion`, the softBV-like landscape with `lite`.
    pub(crate) fn with_constants(host: &Structure, ion: Element, lite: LiteConstants) -> Self {
        let role: Vec<Role> = host
            .species
            .iter()
            .map(|&e| if e == ion { Role::Same } else if e.is_anion() { Role::Anion } else { Role::Cation })
            .collect();
        let has = [Role::Anion, Role::Cation, Role::Same].map(|r| role.contains(&r));
        let (r_ion, q_ion) = (ionic_radius(ion), nominal_charge(ion));
        let (mut lite_a, mut lite_s) = (vec![0.0; host.len()], vec![1.0; host.len()]);
        for (j, &e) in host.species.iter().enumerate() {
            let q = nominal_charge(e);
            if role[j] == Role::Anion {
                lite_a[j] = lite.rmin * (r_ion + ionic_radius(e));
            } else if q > 0.0 {
                lite_a[j] = COULOMB * q_ion * q / (ion.period() as f64 * e.period() as f64).sqrt();
                lite_s[j] = lite.screen * (ion.covalent_radius() + e.covalent_radius());
            }
        }
        let mut ctx = HostContext {
            table_of: vec![0; host.len()],
            tables: vec![],
            d0: lite.d0 * q_ion.abs(),
            alpha: lite.alpha,
            lite_a,
            lite_s,
            lattice: host.lattice.clone(),
            locator: PointLocator::new(host, ENV_RADIUS),
            charge: host.species.iter().map(|&e| nominal_charge(e)).collect(),
            radius: host.species.iter().map(|&e| ionic_radius(e)).collect(),
            role,
            has,
            r_ion,
            q_ion,
            wolf_shift: erfc(WOLF_ALPHA * ES_CUTOFF) / ES_CUTOFF,
            host_desc: host_descriptors(host, ion),
        };
        // One table per distinct element (atoms of one element share a pair energy).
        let mut seen: Vec<(Element, usize)> = vec![];
        for (j, &e) in host.species.iter().enumerate() {
            let k = match seen.iter().find(|x| x.0 == e) {
                Some(&(_, k)) => k,
                None => {
                    let k = ctx.tables.len();
                    ctx.tables.push((0..=TABLE_N).map(|i| ctx.lite_pair(j, (TABLE_R2_0 + i as f64 * TABLE_STEP).sqrt())).collect());
                    seen.push((e, k));
                    k
                }
            };
            ctx.table_of[j] = k;
        }
        ctx
    }

    /// Tabulated pair energy (table `table`, see `table_of`) at squared distance `d2`
    /// (< DISC_CUTOFF^2), linearly interpolated in r^2; distances below MIN_R count as MIN_R.
    fn lite_pair_table(&self, table: usize, d2: f64) -> f64 {
        let x = ((d2 - TABLE_R2_0) * (1.0 / TABLE_STEP)).max(0.0);
        let i = (x as usize).min(TABLE_N - 1);
        let f = (x - i as f64).min(1.0);
        let t = &self.tables[table];
        t[i] + f * (t[i + 1] - t[i])
    }

    fn idx(r: Role) -> usize {
        match r {
            Role::Anion => 0,
            Role::Cation => 1,
            Role::Same => 2,
        }
    }

    /// Nearest distance to an atom of role `r` (capped), or the cap when the host has none.
    fn nearest_of(&self, p: Vec3, r: Role) -> (f64, Option<usize>) {
        if !self.has[Self::idx(r)] {
            return (DIST_CAP, None);
        }
        match self.locator.nearest_filtered(p, |j| self.role[j] == r) {
            Some(n) => (n.distance.min(DIST_CAP), Some(n.index)),
            None => (DIST_CAP, None),
        }
    }
}

impl HostContext {
    /// softBV-like pair energy (eV) of the mobile ion with host atom `j` at distance `rr`
    /// (already clamped): Morse attraction to anions, screened Coulomb repulsion from positive
    /// ions, nothing otherwise.
    fn lite_pair(&self, j: usize, rr: f64) -> f64 {
        if self.role[j] == Role::Anion {
            let m = (self.alpha * (self.lite_a[j] - rr)).exp();
            0.5 * self.d0 * (m * m - 2.0 * m)
        } else if self.charge[j] > 0.0 {
            self.lite_a[j] / rr * erfc(rr / self.lite_s[j])
        } else {
            0.0
        }
    }
}

/// Over the disc points `p + o` (`o` in `offsets`, the first being the centre), using the
/// environment `buf` of the centre: the largest nearest-framework distance (capped at
/// [`DISC_CUTOFF`]) and the lowest softBV-like energy (atoms within [`DISC_CUTOFF`]).
/// `scratch` is reused memory.
fn relax_disc(ctx: &HostContext, buf: &[Neighbor], offsets: &[Vec3], scratch: &mut Vec<(Vec3, usize, bool)>) -> (f64, f64) {
    const CUT2: f64 = DISC_CUTOFF * DISC_CUTOFF;
    scratch.clear();
    scratch.extend(buf.iter().map(|n| (n.vector, ctx.table_of[n.index], ctx.role[n.index] != Role::Same)));
    let (mut best_d, mut best_e) = (f64::NEG_INFINITY, f64::INFINITY);
    for o in offsets {
        let (mut d_min2, mut energy) = (CUT2, 0.0);
        for &(vec, table, fw) in scratch.iter() {
            let v = sub(vec, *o);
            let d2 = v[0] * v[0] + v[1] * v[1] + v[2] * v[2];
            if d2 > CUT2 {
                continue;
            }
            if fw && d2 < d_min2 {
                d_min2 = d2;
            }
            energy += ctx.lite_pair_table(table, d2);
        }
        best_d = best_d.max(d_min2.sqrt());
        best_e = best_e.min(energy);
    }
    (best_d, best_e)
}

/// Offsets of the relaxation disc perpendicular to `dir`: the centre, then the rings.
fn disc_offsets(dir: Vec3) -> Vec<Vec3> {
    let len = crate::structure::norm(dir);
    let d = if len > 1e-9 { scale(dir, 1.0 / len) } else { [1.0, 0.0, 0.0] };
    // A vector not parallel to d, then two unit vectors perpendicular to it and each other.
    let helper = if d[0].abs() < 0.9 { [1.0, 0.0, 0.0] } else { [0.0, 1.0, 0.0] };
    let u = crate::structure::cross(d, helper);
    let u = scale(u, 1.0 / crate::structure::norm(u));
    let v = crate::structure::cross(d, u);
    let mut out = vec![[0.0; 3]];
    for (k, r) in DISC_RINGS.iter().enumerate() {
        for s in 0..DISC_SPOKES {
            let phi = (s as f64 + 0.5 * (k % 2) as f64) * std::f64::consts::TAU / DISC_SPOKES as f64;
            out.push(add(scale(u, r * phi.cos()), scale(v, r * phi.sin())));
        }
    }
    out
}

/// Complementary error function (Abramowitz & Stegun 7.1.26, |error| < 1.5e-7), x >= 0.
fn erfc(x: f64) -> f64 {
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly = t * (0.254_829_592 + t * (-0.284_496_736 + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    poly * (-x * x).exp()
}

/// The environment of one point.
#[derive(Clone, Copy, Debug, Default)]
struct PointEnv {
    d_an: f64,
    d_cat: f64,
    d_same: f64,
    window: f64,
    cn: f64,
    scn: f64,
    bv: f64,
    morse: f64,
    v_fw: f64,
    v_all: f64,
    v_wolf: f64,
    v_cat: f64,
    lite: f64,
    relax_d_fw: f64,
    relax_lite: f64,
}

impl PointEnv {
    fn d_fw(&self) -> f64 {
        self.d_an.min(self.d_cat)
    }
}

/// Environment of the Cartesian point `p`; `buf` is scratch, `crowd` collects framework
/// (site, image, is_anion) within [`CROWD_RADIUS`].
fn env_at(ctx: &HostContext, p: Vec3, disc: &[Vec3], buf: &mut Vec<Neighbor>, scratch: &mut Vec<(Vec3, usize, bool)>, crowd: &mut Vec<(usize, [i32; 3], bool)>) -> PointEnv {
    ctx.locator.within_into(p, ENV_RADIUS, buf);
    let mut e = PointEnv { d_an: f64::INFINITY, d_cat: f64::INFINITY, d_same: f64::INFINITY, window: f64::INFINITY, ..Default::default() };
    for n in buf.iter() {
        let j = n.index;
        let d = n.distance;
        let rr = d.max(MIN_R);
        let q = ctx.charge[j];
        let role = ctx.role[j];
        match role {
            Role::Anion => {
                e.d_an = e.d_an.min(d);
                e.window = e.window.min(d - ctx.radius[j]);
                let rc = CN_SCALE * (ctx.r_ion + ctx.radius[j]);
                if d <= rc {
                    e.cn += 1.0;
                }
                e.scn += 1.0 / (1.0 + ((d - rc) / FERMI_WIDTH).exp());
                let b = ((ctx.r_ion + ctx.radius[j] - rr) / BV_B).exp();
                e.bv += b;
                e.morse += b * b - 2.0 * b;
            }
            Role::Cation => e.d_cat = e.d_cat.min(d),
            Role::Same => e.d_same = e.d_same.min(d),
        }
        if role != Role::Same && d <= CROWD_RADIUS {
            crowd.push((j, n.image, role == Role::Anion));
        }
        if d <= ES_CUTOFF {
            if role != Role::Same {
                e.v_fw += q / rr;
            }
            e.v_all += q / rr;
            let w = q * (erfc(WOLF_ALPHA * rr) / rr - ctx.wolf_shift);
            e.v_wolf += w;
            if q > 0.0 {
                e.v_cat += w;
            }
        }
        e.lite += ctx.lite_pair(j, rr);
    }
    // Nothing of a class within the environment: exact nearest search, capped.
    if !e.d_an.is_finite() {
        let (d, j) = ctx.nearest_of(p, Role::Anion);
        e.d_an = d;
        e.window = j.map_or(DIST_CAP, |j| (d - ctx.radius[j]).min(DIST_CAP));
    }
    if !e.d_cat.is_finite() {
        e.d_cat = ctx.nearest_of(p, Role::Cation).0;
    }
    if !e.d_same.is_finite() {
        e.d_same = ctx.nearest_of(p, Role::Same).0;
    }
    e.d_an = e.d_an.min(DIST_CAP);
    e.d_cat = e.d_cat.min(DIST_CAP);
    e.d_same = e.d_same.min(DIST_CAP);
    e.window = e.window.min(DIST_CAP);
    (e.relax_d_fw, e.relax_lite) = relax_disc(ctx, buf, disc, scratch);
    e
}

/// Distances of the `k` nearest atoms whose role passes `keep` to `p`, ascending (capped, and
/// padded with the cap).
fn k_nearest(ctx: &HostContext, p: Vec3, k: usize, start: f64, keep: impl Fn(Role) -> bool) -> Vec<f64> {
    let mut r = start.clamp(1.0, DIST_CAP);
    loop {
        let got: Vec<f64> = ctx.locator.within(p, r).iter().filter(|n| keep(ctx.role[n.index])).map(|n| n.distance.min(DIST_CAP)).take(k).collect();
        if got.len() >= k || r >= DIST_CAP {
            let mut got = got;
            got.resize(k, DIST_CAP);
            return got;
        }
        r = (2.0 * r).min(DIST_CAP);
    }
}

/// Relative tolerance within which two profile values count as tied in [`argmin`].
const TIE_TOLERANCE: f64 = 1e-9;

/// Index and value of the minimum of `f` over the profile: the first point whose value is
/// within [`TIE_TOLERANCE`] (relative) of the minimum. On a symmetric path the minimum is
/// reached at two mirror points whose values differ only by rounding; taking the first one
/// within the tolerance keeps the position (and the descriptors read there) the same when the
/// coordinates change by rounding (a structure passed through Cartesian coordinates, as
/// `ase.Atoms` keep them).
fn argmin(prof: &[PointEnv], f: impl Fn(&PointEnv) -> f64) -> (usize, f64) {
    let values: Vec<f64> = prof.iter().map(f).collect();
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    if !min.is_finite() {
        return (0, min);
    }
    let tol = TIE_TOLERANCE * (1.0 + min.abs());
    let i = values.iter().position(|&v| v <= min + tol).unwrap_or(0);
    (i, values[i])
}

fn max_of(prof: &[PointEnv], f: impl Fn(&PointEnv) -> f64) -> f64 {
    prof.iter().map(f).fold(f64::NEG_INFINITY, f64::max)
}

fn min_of(prof: &[PointEnv], f: impl Fn(&PointEnv) -> f64) -> f64 {
    prof.iter().map(f).fold(f64::INFINITY, f64::min)
}

fn ratio(num: f64, den: f64) -> f64 {
    num / den.max(MIN_DENOM)
}

/// Push every descriptor of the hop `initial -> final_site` (fractional, unwrapped) in `ctx`.
pub(crate) fn describe(ctx: &HostContext, initial: Vec3, final_site: Vec3, row: &mut Row) {
    let path = HopPath::sample(ctx, initial, final_site);
    let bn_fw = push_path_geometry(ctx, &path, row);
    push_coordination(&path, row);
    push_profile_stats(&path, row);
    push_bond_valence(&path, row);
    push_electrostatics(ctx, &path, bn_fw, row);
    // Host, ion, composition.
    for (name, v) in &ctx.host_desc {
        row.push(name, *v);
    }
}

/// The hop's straight path, sampled at [`PATH_SAMPLES`] points.
struct HopPath {
    /// Cartesian start of the hop.
    a: Vec3,
    /// Cartesian hop vector.
    hop: Vec3,
    /// Its length.
    hop_length: f64,
    /// The environment at each sample point, from start to end.
    prof: Vec<PointEnv>,
    /// The distinct framework atoms (index, image, anion) that crowd the path, sorted.
    crowd: Vec<(usize, [i32; 3], bool)>,
}

impl HopPath {
    /// Sample the environment along `initial -> final_site` (fractional, unwrapped).
    fn sample(ctx: &HostContext, initial: Vec3, final_site: Vec3) -> HopPath {
        let n = PATH_SAMPLES;
        let a = ctx.lattice.to_cart(initial);
        let hop = ctx.lattice.to_cart(sub(final_site, initial));
        let hop_length = crate::structure::norm(hop);
        let mut buf = Vec::with_capacity(256);
        let mut crowd = Vec::new();
        let disc = disc_offsets(hop);
        let mut scratch = Vec::with_capacity(256);
        let prof: Vec<PointEnv> = (0..n).map(|i| env_at(ctx, add(a, scale(hop, t_of(i))), &disc, &mut buf, &mut scratch, &mut crowd)).collect();
        crowd.sort_unstable();
        crowd.dedup();
        HopPath { a, hop, hop_length, prof, crowd }
    }

    /// The initial point, the midpoint and the final point.
    fn ends(&self) -> (&PointEnv, &PointEnv, &PointEnv) {
        let last = PATH_SAMPLES - 1;
        (&self.prof[0], &self.prof[last / 2], &self.prof[last])
    }
}

/// The path parameter (0 to 1) of sample point `i`.
fn t_of(i: usize) -> f64 {
    let last = PATH_SAMPLES - 1;
    i as f64 / last as f64
}

/// Push the path geometry: distances at the band points, the bottleneck (narrowest point)
/// and its neighbours, the window. Returns the framework bottleneck distance `bn_fw_min`.
fn push_path_geometry(ctx: &HostContext, path: &HopPath, row: &mut Row) -> f64 {
    let last = PATH_SAMPLES - 1;
    let (prof, a, hop) = (&path.prof, path.a, path.hop);
    let band: [usize; 5] = [0, last / 4, last / 2, 3 * last / 4, last];
    let (p0, _, p4) = path.ends();
    row.push("hop_length", path.hop_length);
    for (what, f) in [
        ("fw", (|e: &PointEnv| e.d_fw()) as fn(&PointEnv) -> f64),
        ("an", |e: &PointEnv| e.d_an),
        ("cat", |e: &PointEnv| e.d_cat),
        ("same", |e: &PointEnv| e.d_same),
    ] {
        for (k, &i) in band.iter().enumerate() {
            row.push(&format!("d_{what}_p{k}"), f(&prof[i]));
        }
    }
    let (i_fw, bn_fw) = argmin(prof, |e| e.d_fw());
    let (i_an, bn_an) = argmin(prof, |e| e.d_an);
    // A minimum that is the fill value everywhere has no position: 0.5.
    let pos = |i: usize, v: f64| if v >= DIST_CAP { 0.5 } else { t_of(i) };
    row.push("bn_fw_min", bn_fw);
    row.push("bn_fw_t", pos(i_fw, bn_fw));
    row.push("bn_an_min", bn_an);
    row.push("bn_an_t", pos(i_an, bn_an));
    row.push("bn_fw_ratio", ratio(bn_fw, 0.5 * (p0.d_fw() + p4.d_fw())));
    row.push("bn_an_ratio", ratio(bn_an, 0.5 * (p0.d_an + p4.d_an)));
    let k4 = k_nearest(ctx, add(a, scale(hop, t_of(i_fw))), 4, bn_fw + 1.5, |r| r != Role::Same);
    row.push("bn_k3_mean", k4[..3].iter().sum::<f64>() / 3.0);
    row.push("bn_k4_mean", k4.iter().sum::<f64>() / 4.0);
    row.push("bn_k3_dist", k4[2]);
    row.push("bn_k4_dist", k4[3]);
    let k4a = k_nearest(ctx, add(a, scale(hop, t_of(i_an))), 4, bn_an + 1.5, |r| r == Role::Anion);
    row.push("bn_an_k3_mean", k4a[..3].iter().sum::<f64>() / 3.0);
    row.push("bn_an_k4_mean", k4a.iter().sum::<f64>() / 4.0);
    let (i_w, bn_w) = argmin(prof, |e| e.window);
    row.push("bn_window", bn_w);
    row.push("bn_window_t", pos(i_w, bn_w));
    row.push("bn_squeeze", bn_w - ctx.r_ion);
    row.push("window_p0", p0.window);
    row.push("window_p4", p4.window);
    row.push("window_drop", 0.5 * (p0.window + p4.window) - bn_w);
    bn_fw
}

/// Push the coordination numbers at the ends and the midpoint, along the path, and their
/// changes and asymmetries.
fn push_coordination(path: &HopPath, row: &mut Row) {
    let prof = &path.prof;
    let (p0, mid, p4) = path.ends();
    row.push("cn_p0", p0.cn);
    row.push("cn_mid", mid.cn);
    row.push("cn_p4", p4.cn);
    row.push("scn_p0", p0.scn);
    row.push("scn_mid", mid.scn);
    row.push("scn_p4", p4.scn);
    row.push("cn_path_min", min_of(prof, |e| e.cn));
    row.push("scn_path_min", min_of(prof, |e| e.scn));
    row.push("cn_change", mid.cn - 0.5 * (p0.cn + p4.cn));
    row.push("scn_change", mid.scn - 0.5 * (p0.scn + p4.scn));
    row.push("cn_asym", (p4.cn - p0.cn).abs());
    row.push("scn_asym", (p4.scn - p0.scn).abs());
    row.push("d_an_asym", (p4.d_an - p0.d_an).abs());
    row.push("d_fw_asym", (p4.d_fw() - p0.d_fw()).abs());
}

/// Push the anion and framework distance profiles' statistics, the crowding of the path and
/// the hop length over the end anion distance.
fn push_profile_stats(path: &HopPath, row: &mut Row) {
    let n = PATH_SAMPLES;
    let prof = &path.prof;
    let (p0, _, p4) = path.ends();
    let an_mean = prof.iter().map(|e| e.d_an).sum::<f64>() / n as f64;
    let an_var = prof.iter().map(|e| (e.d_an - an_mean).powi(2)).sum::<f64>() / n as f64;
    row.push("an_profile_mean", an_mean);
    row.push("an_profile_std", an_var.sqrt());
    row.push("fw_profile_mean", prof.iter().map(|e| e.d_fw()).sum::<f64>() / n as f64);
    row.push("crowd_fw", path.crowd.len() as f64);
    row.push("crowd_an", path.crowd.iter().filter(|c| c.2).count() as f64);
    row.push("hop_over_d_an", ratio(path.hop_length, 0.5 * (p0.d_an + p4.d_an)));
}

/// Push the bond-valence sums along the path and the Morse barrier.
fn push_bond_valence(path: &HopPath, row: &mut Row) {
    let prof = &path.prof;
    let (p0, mid, p4) = path.ends();
    row.push("bv_p0", p0.bv);
    row.push("bv_mid", mid.bv);
    row.push("bv_p4", p4.bv);
    row.push("bv_path_min", min_of(prof, |e| e.bv));
    row.push("bv_path_max", max_of(prof, |e| e.bv));
    let bv_end = 0.5 * (p0.bv + p4.bv);
    row.push("bv_mid_ratio", if bv_end > 0.0 { mid.bv / bv_end } else { 1.0 });
    row.push("morse_barrier", max_of(prof, |e| e.morse) - p0.morse);
    row.push("morse_end_diff", p4.morse - p0.morse);
}

/// Push the electrostatic descriptors, the BVSE-lite barriers and the relaxed bottleneck
/// (its gain over the framework bottleneck `bn_fw`).
fn push_electrostatics(ctx: &HostContext, path: &HopPath, bn_fw: f64, row: &mut Row) {
    let prof = &path.prof;
    let (p0, mid, p4) = path.ends();
    row.push("d_cat_path_min", min_of(prof, |e| e.d_cat));
    row.push("d_same_path_min", min_of(prof, |e| e.d_same));
    row.push("es_fw_mid_minus_init", mid.v_fw - p0.v_fw);
    row.push("es_all_mid_minus_init", mid.v_all - p0.v_all);
    let k = COULOMB * ctx.q_ion;
    row.push("es_wolf_barrier", k * (max_of(prof, |e| e.v_wolf) - p0.v_wolf));
    row.push("es_wolf_end_diff", k * (p4.v_wolf - p0.v_wolf));
    row.push("es_cat_barrier", k * (max_of(prof, |e| e.v_cat) - p0.v_cat));
    let lite_max = max_of(prof, |e| e.lite);
    row.push("bvse_lite_barrier", lite_max - p0.lite);
    row.push("bvse_lite_span", lite_max - min_of(prof, |e| e.lite));
    row.push("bvse_lite_end_diff", p4.lite - p0.lite);
    let (_, rbn) = argmin(prof, |e| e.relax_d_fw);
    row.push("rbn_fw_min", rbn);
    row.push("rbn_fw_gain", rbn - bn_fw);
    let rlite_max = max_of(prof, |e| e.relax_lite);
    row.push("rbvse_lite_barrier", rlite_max - p0.relax_lite);
    row.push("rbvse_lite_span", rlite_max - min_of(prof, |e| e.relax_lite));
    row.push("rbvse_lite_end_diff", p4.relax_lite - p0.relax_lite);
}

#[cfg(test)]
mod tests {
    use super::erfc;

    #[test]
    fn erfc_matches_reference_values() {
        for (x, want) in [(0.0, 1.0), (0.5, 0.479_500_122), (1.0, 0.157_299_207), (1.5, 0.033_894_854), (2.5, 0.000_406_952)] {
            assert!((erfc(x) - want).abs() < 2e-7, "erfc({x}) = {} vs {want}", erfc(x));
        }
    }
}
