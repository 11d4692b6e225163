//! Path-geometry and electrostatic descriptors: the environment of 41 points along the
//! straight hop, from one sorted 6 A neighbour query per point (see [`crate::features`]).

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
/// Damping parameter of the Wolf sum (1/A).
const WOLF_ALPHA: f64 = 0.25;
/// e^2 / (4 pi eps0) in eV A.
const COULOMB: f64 = 14.399_645;
/// Radius of the crowding counts around the path (A).
const CROWD_RADIUS: f64 = 2.5;
/// Smallest denominator of the ratio descriptors (A).
const MIN_DENOM: f64 = 0.1;

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
    has: [bool; 3],
    r_ion: f64,
    q_ion: f64,
    wolf_shift: f64,
    host_desc: Vec<(String, f64)>,
}

impl HostContext {
    /// Index `host` for the mobile ion `ion`.
    pub(crate) fn new(host: &Structure, ion: Element) -> Self {
        let role: Vec<Role> = host
            .species
            .iter()
            .map(|&e| if e == ion { Role::Same } else if e.is_anion() { Role::Anion } else { Role::Cation })
            .collect();
        let has = [Role::Anion, Role::Cation, Role::Same].map(|r| role.contains(&r));
        HostContext {
            lattice: host.lattice.clone(),
            locator: PointLocator::new(host, ENV_RADIUS),
            charge: host.species.iter().map(|&e| nominal_charge(e)).collect(),
            radius: host.species.iter().map(|&e| ionic_radius(e)).collect(),
            role,
            has,
            r_ion: ionic_radius(ion),
            q_ion: nominal_charge(ion),
            wolf_shift: erfc(WOLF_ALPHA * ENV_RADIUS) / ENV_RADIUS,
            host_desc: host_descriptors(host, ion),
        }
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
}

impl PointEnv {
    fn d_fw(&self) -> f64 {
        self.d_an.min(self.d_cat)
    }
}

/// Environment of the Cartesian point `p`; `buf` is scratch, `crowd` collects framework
/// (site, image, is_anion) within [`CROWD_RADIUS`].
fn env_at(ctx: &HostContext, p: Vec3, buf: &mut Vec<Neighbor>, crowd: &mut Vec<(usize, [i32; 3], bool)>) -> PointEnv {
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
        if role != Role::Same {
            e.v_fw += q / rr;
            if d <= CROWD_RADIUS {
                crowd.push((j, n.image, role == Role::Anion));
            }
        }
        e.v_all += q / rr;
        let w = q * (erfc(WOLF_ALPHA * rr) / rr - ctx.wolf_shift);
        e.v_wolf += w;
        if q > 0.0 {
            e.v_cat += w;
        }
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
    e
}

/// Distances of the `k` nearest framework atoms to `p`, ascending (padded with the cap).
fn k_nearest_framework(ctx: &HostContext, p: Vec3, k: usize, start: f64) -> Vec<f64> {
    let mut r = start.max(1.0);
    loop {
        let got: Vec<f64> = ctx.locator.within(p, r).iter().filter(|n| ctx.role[n.index] != Role::Same).map(|n| n.distance.min(DIST_CAP)).take(k).collect();
        if got.len() >= k || r >= DIST_CAP {
            let mut got = got;
            got.resize(k, DIST_CAP);
            return got;
        }
        r = (2.0 * r).min(DIST_CAP);
    }
}

/// Index and value of the minimum of `f` over the profile (first on ties).
fn argmin(prof: &[PointEnv], f: impl Fn(&PointEnv) -> f64) -> (usize, f64) {
    prof.iter().enumerate().map(|(i, e)| (i, f(e))).fold((0, f64::INFINITY), |b, x| if x.1 < b.1 { x } else { b })
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
    let n = PATH_SAMPLES;
    let last = n - 1;
    let a = ctx.lattice.to_cart(initial);
    let hop = ctx.lattice.to_cart(sub(final_site, initial));
    let hop_length = crate::structure::norm(hop);
    let t_of = |i: usize| i as f64 / last as f64;
    let mut buf = Vec::with_capacity(256);
    let mut crowd = Vec::new();
    let prof: Vec<PointEnv> = (0..n).map(|i| env_at(ctx, add(a, scale(hop, t_of(i))), &mut buf, &mut crowd)).collect();
    let band: [usize; 5] = [0, last / 4, last / 2, 3 * last / 4, last];
    let (p0, mid, p4) = (&prof[0], &prof[last / 2], &prof[last]);

    // Path geometry.
    row.push("hop_length", hop_length);
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
    let (i_fw, bn_fw) = argmin(&prof, |e| e.d_fw());
    let (i_an, bn_an) = argmin(&prof, |e| e.d_an);
    // A minimum that is the fill value everywhere has no position: 0.5.
    let pos = |i: usize, v: f64| if v >= DIST_CAP { 0.5 } else { t_of(i) };
    row.push("bn_fw_min", bn_fw);
    row.push("bn_fw_t", pos(i_fw, bn_fw));
    row.push("bn_an_min", bn_an);
    row.push("bn_an_t", pos(i_an, bn_an));
    row.push("bn_fw_ratio", ratio(bn_fw, 0.5 * (p0.d_fw() + p4.d_fw())));
    row.push("bn_an_ratio", ratio(bn_an, 0.5 * (p0.d_an + p4.d_an)));
    let k4 = k_nearest_framework(ctx, add(a, scale(hop, t_of(i_fw))), 4, bn_fw + 1.5);
    row.push("bn_k3_mean", k4[..3].iter().sum::<f64>() / 3.0);
    row.push("bn_k4_mean", k4.iter().sum::<f64>() / 4.0);
    row.push("bn_k3_dist", k4[2]);
    row.push("bn_k4_dist", k4[3]);
    let (i_w, bn_w) = argmin(&prof, |e| e.window);
    row.push("bn_window", bn_w);
    row.push("bn_window_t", pos(i_w, bn_w));
    row.push("bn_squeeze", bn_w - ctx.r_ion);
    row.push("window_p0", p0.window);
    row.push("window_p4", p4.window);
    row.push("window_drop", 0.5 * (p0.window + p4.window) - bn_w);

    row.push("cn_p0", p0.cn);
    row.push("cn_mid", mid.cn);
    row.push("cn_p4", p4.cn);
    row.push("scn_p0", p0.scn);
    row.push("scn_mid", mid.scn);
    row.push("scn_p4", p4.scn);
    row.push("cn_path_min", min_of(&prof, |e| e.cn));
    row.push("scn_path_min", min_of(&prof, |e| e.scn));
    row.push("cn_change", mid.cn - 0.5 * (p0.cn + p4.cn));
    row.push("scn_change", mid.scn - 0.5 * (p0.scn + p4.scn));
    row.push("cn_asym", (p4.cn - p0.cn).abs());
    row.push("scn_asym", (p4.scn - p0.scn).abs());
    row.push("d_an_asym", (p4.d_an - p0.d_an).abs());
    row.push("d_fw_asym", (p4.d_fw() - p0.d_fw()).abs());

    let an_mean = prof.iter().map(|e| e.d_an).sum::<f64>() / n as f64;
    let an_var = prof.iter().map(|e| (e.d_an - an_mean).powi(2)).sum::<f64>() / n as f64;
    row.push("an_profile_mean", an_mean);
    row.push("an_profile_std", an_var.sqrt());
    row.push("fw_profile_mean", prof.iter().map(|e| e.d_fw()).sum::<f64>() / n as f64);
    crowd.sort_unstable();
    crowd.dedup();
    row.push("crowd_fw", crowd.len() as f64);
    row.push("crowd_an", crowd.iter().filter(|c| c.2).count() as f64);
    row.push("hop_over_d_an", ratio(hop_length, 0.5 * (p0.d_an + p4.d_an)));

    row.push("bv_p0", p0.bv);
    row.push("bv_mid", mid.bv);
    row.push("bv_p4", p4.bv);
    row.push("bv_path_min", min_of(&prof, |e| e.bv));
    row.push("bv_path_max", max_of(&prof, |e| e.bv));
    let bv_end = 0.5 * (p0.bv + p4.bv);
    row.push("bv_mid_ratio", if bv_end > 0.0 { mid.bv / bv_end } else { 1.0 });
    row.push("morse_barrier", max_of(&prof, |e| e.morse) - p0.morse);
    row.push("morse_end_diff", p4.morse - p0.morse);

    // Electrostatics.
    row.push("d_cat_path_min", min_of(&prof, |e| e.d_cat));
    row.push("d_same_path_min", min_of(&prof, |e| e.d_same));
    row.push("es_fw_mid_minus_init", mid.v_fw - p0.v_fw);
    row.push("es_all_mid_minus_init", mid.v_all - p0.v_all);
    let k = COULOMB * ctx.q_ion;
    row.push("es_wolf_barrier", k * (max_of(&prof, |e| e.v_wolf) - p0.v_wolf));
    row.push("es_wolf_end_diff", k * (p4.v_wolf - p0.v_wolf));
    row.push("es_cat_barrier", k * (max_of(&prof, |e| e.v_cat) - p0.v_cat));

    // Host, ion, composition.
    for (name, v) in &ctx.host_desc {
        row.push(name, *v);
    }
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
