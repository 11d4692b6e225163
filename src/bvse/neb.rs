//! Nudged elastic band for one mobile ion in a fixed framework.
//!
//! The band is a chain of images of the ion between two sites, linearly interpolated.
//! Each interior image feels the potential force perpendicular to the path tangent plus a
//! spring force along it; the tangent is the improved tangent of Henkelman and Jonsson
//! (J. Chem. Phys. 113, 9978 (2000)): the bond to the higher neighbour, energy-weighted at
//! extrema. With a climbing image (Henkelman, Uberuaga and Jonsson, J. Chem. Phys. 113, 9901
//! (2000)) the highest interior image feels no spring and the inverted tangential force, so it
//! converges to the saddle point. All interior images are relaxed together by FIRE (Bitzek et
//! al., Phys. Rev. Lett. 97, 170201 (2006)) on one vector of coordinates, the way ASE's `FIRE`
//! drives its `NEB` object, until the largest per-image force is below `fmax`.

use super::field::{Field, Region};
use super::BvseError;
use crate::structure::{add, dot, lerp, norm, scale, sub, Vec3};

/// Parameters of the FIRE optimizer (defaults: ASE's).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FireParams {
    /// Initial time step.
    pub dt: f64,
    /// Largest time step.
    pub dt_max: f64,
    /// Largest step length of the whole coordinate vector per iteration (Angstrom).
    pub max_step: f64,
    /// Steps with downhill motion before the time step may grow.
    pub n_min: usize,
    /// Time-step growth factor.
    pub f_inc: f64,
    /// Time-step shrink factor after uphill motion.
    pub f_dec: f64,
    /// Initial (and reset) velocity-mixing coefficient.
    pub a_start: f64,
    /// Decay factor of the mixing coefficient.
    pub f_a: f64,
}

impl Default for FireParams {
    fn default() -> Self {
        FireParams { dt: 0.1, dt_max: 1.0, max_step: 0.2, n_min: 5, f_inc: 1.1, f_dec: 0.5, a_start: 0.1, f_a: 0.99 }
    }
}

/// FIRE state over a flat coordinate vector.
#[derive(Clone, Debug)]
pub struct Fire {
    p: FireParams,
    dt: f64,
    a: f64,
    n_pos: usize,
    v: Option<Vec<f64>>,
}

impl Fire {
    /// A fresh optimizer.
    pub fn new(p: FireParams) -> Self {
        Fire { p, dt: p.dt, a: p.a_start, n_pos: 0, v: None }
    }

    /// One FIRE step: move `x` given the forces `f` at `x`.
    pub fn step(&mut self, x: &mut [f64], f: &[f64]) {
        let p = self.p;
        match &mut self.v {
            None => self.v = Some(vec![0.0; x.len()]),
            Some(v) => {
                let vf: f64 = v.iter().zip(f).map(|(a, b)| a * b).sum();
                if vf > 0.0 {
                    let ff: f64 = f.iter().map(|a| a * a).sum::<f64>().sqrt();
                    let vv: f64 = v.iter().map(|a| a * a).sum::<f64>().sqrt();
                    for (vi, fi) in v.iter_mut().zip(f) {
                        *vi = (1.0 - self.a) * *vi + self.a * fi / ff * vv;
                    }
                    if self.n_pos > p.n_min {
                        self.dt = (self.dt * p.f_inc).min(p.dt_max);
                        self.a *= p.f_a;
                    }
                    self.n_pos += 1;
                } else {
                    v.iter_mut().for_each(|vi| *vi = 0.0);
                    self.a = p.a_start;
                    self.dt *= p.f_dec;
                    self.n_pos = 0;
                }
            }
        }
        let v = self.v.as_mut().expect("velocity set above");
        for (vi, fi) in v.iter_mut().zip(f) {
            *vi += self.dt * fi;
        }
        let mut dr: Vec<f64> = v.iter().map(|vi| self.dt * vi).collect();
        let len = dr.iter().map(|d| d * d).sum::<f64>().sqrt();
        if len > p.max_step {
            dr.iter_mut().for_each(|d| *d *= p.max_step / len);
        }
        for (xi, di) in x.iter_mut().zip(&dr) {
            *xi += di;
        }
    }
}

/// Which energy difference is the headline barrier [`NebResult::em`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BarrierDefinition {
    /// Highest image energy minus the initial image's energy.
    MaxMinusInitial,
    /// Highest minus lowest image energy along the band (the `ions` convention).
    MaxMinusMin,
}

/// Settings of a NEB run.
#[derive(Clone, Debug, PartialEq)]
pub struct NebOptions {
    /// Number of images including both end points (at least 3).
    pub n_images: usize,
    /// Spring constant in eV/Angstrom^2.
    pub spring_k: f64,
    /// Use a climbing image.
    pub climb: bool,
    /// The climbing image switches on once the largest band force falls below this
    /// (eV/Angstrom) or after half of `max_steps`, whichever comes first; 0 climbs from the start.
    pub climb_after_fmax: f64,
    /// Convergence threshold on the largest per-image force (eV/Angstrom).
    pub fmax: f64,
    /// Most optimizer steps of the band.
    pub max_steps: usize,
    /// Relax the two end points (each alone) before the band.
    pub relax_endpoints: bool,
    /// Convergence threshold of the end-point relaxations.
    pub endpoint_fmax: f64,
    /// Most steps of each end-point relaxation.
    pub endpoint_max_steps: usize,
    /// FIRE parameters.
    pub fire: FireParams,
    /// Headline barrier definition.
    pub barrier: BarrierDefinition,
}

impl Default for NebOptions {
    /// hopdb's recipe: 9 images, climbing image, fmax 0.05 eV/A within 500 steps, relaxed end
    /// points, barrier = max - initial.
    fn default() -> Self {
        NebOptions {
            n_images: 9,
            spring_k: 2.0,
            climb: true,
            climb_after_fmax: 0.5,
            fmax: 0.05,
            max_steps: 500,
            relax_endpoints: true,
            endpoint_fmax: 0.05,
            endpoint_max_steps: 200,
            fire: FireParams::default(),
            barrier: BarrierDefinition::MaxMinusInitial,
        }
    }
}

impl NebOptions {
    /// The `ions` recipe: 5 images, k = 2.0, no climbing image, improved tangent, FIRE to
    /// fmax 0.1 in at most 100 steps after relaxing each end point the same way, barrier =
    /// max - min.
    pub fn ions() -> Self {
        NebOptions {
            n_images: 5,
            spring_k: 2.0,
            climb: false,
            climb_after_fmax: 0.0,
            fmax: 0.1,
            max_steps: 100,
            relax_endpoints: true,
            endpoint_fmax: 0.1,
            endpoint_max_steps: 100,
            fire: FireParams::default(),
            barrier: BarrierDefinition::MaxMinusMin,
        }
    }
}

/// Outcome of a NEB run. Energies are relative to the (relaxed) initial image.
#[derive(Clone, Debug, PartialEq)]
pub struct NebResult {
    /// The headline barrier by [`NebOptions::barrier`] (eV).
    pub em: f64,
    /// Highest image energy minus the initial image's energy (eV).
    pub barrier: f64,
    /// Highest minus lowest image energy (eV).
    pub barrier_max_minus_min: f64,
    /// Energy of every image, initial first, relative to the initial image (eV).
    pub energies: Vec<f64>,
    /// Final Cartesian position of every image.
    pub positions: Vec<Vec3>,
    /// Index of the highest-energy image.
    pub saddle_index: usize,
    /// True only when the band and both end-point relaxations converged.
    pub converged: bool,
    /// Whether the band converged to `fmax`.
    pub band_converged: bool,
    /// Whether both end-point relaxations converged (true when they were not relaxed).
    pub endpoints_converged: bool,
    /// Optimizer steps taken by the band.
    pub steps: usize,
    /// Largest per-image NEB force at the end (eV/Angstrom).
    pub fmax: f64,
    /// Absolute energy of the initial image (eV), for reference.
    pub initial_energy: f64,
}

/// Relax one point with FIRE: (position, energy, converged, steps).
fn relax_point(region: &Region<'_>, start: Vec3, fmax: f64, max_steps: usize, fire: FireParams) -> (Vec3, f64, bool, usize) {
    let mut x = start.to_vec();
    let mut opt = Fire::new(fire);
    let (mut e, mut f) = region.energy_force(start);
    let mut converged = norm(f) < fmax;
    let mut steps = 0;
    while !converged && steps < max_steps {
        opt.step(&mut x, &f);
        steps += 1;
        let r = region.energy_force([x[0], x[1], x[2]]);
        e = r.0;
        f = r.1;
        converged = norm(f) < fmax;
    }
    ([x[0], x[1], x[2]], e, converged, steps)
}

/// Improved tangent at interior image `i`.
fn tangent(e: &[f64], t1: Vec3, t2: Vec3, i: usize) -> Vec3 {
    let t = if e[i + 1] > e[i] && e[i] > e[i - 1] {
        t2
    } else if e[i + 1] < e[i] && e[i] < e[i - 1] {
        t1
    } else {
        let a = (e[i + 1] - e[i]).abs();
        let b = (e[i - 1] - e[i]).abs();
        let (vmax, vmin) = (a.max(b), a.min(b));
        if e[i + 1] > e[i - 1] {
            add(scale(t2, vmax), scale(t1, vmin))
        } else {
            add(scale(t2, vmin), scale(t1, vmax))
        }
    };
    let n = norm(t);
    if n > 0.0 {
        scale(t, 1.0 / n)
    } else {
        t
    }
}

/// Index of the highest interior image (the last one among equals).
fn highest_interior(e: &[f64]) -> usize {
    let mut best = 1;
    for i in 1..e.len() - 1 {
        if e[i] >= e[best] {
            best = i;
        }
    }
    best
}

/// NEB forces of the interior images (flat, 3 per image) and the largest per-image force.
fn band_forces(pos: &[Vec3], e: &[f64], f: &[Vec3], k: f64, climb: bool, out: &mut [f64]) -> f64 {
    let n = pos.len();
    let imax = highest_interior(e);
    let mut fmax: f64 = 0.0;
    let mut t1 = sub(pos[1], pos[0]);
    for i in 1..n - 1 {
        let t2 = sub(pos[i + 1], pos[i]);
        let tau = tangent(e, t1, t2, i);
        let ft = dot(f[i], tau);
        let g = if climb && i == imax {
            sub(f[i], scale(tau, 2.0 * ft))
        } else {
            let perp = sub(f[i], scale(tau, ft));
            add(perp, scale(tau, k * norm(t2) - k * norm(t1)))
        };
        out[3 * (i - 1)..3 * i].copy_from_slice(&g);
        fmax = fmax.max(norm(g));
        t1 = t2;
    }
    fmax
}

/// Run NEB for the ion in `field` from `initial` to `final_` (Cartesian, Angstrom; `final_`
/// is the unwrapped end, so the hop is the straight segment between them).
///
/// Errors: end points closer than 0.01 A, or fewer than 3 images.
pub fn neb(field: &Field, initial: Vec3, final_: Vec3, opts: &NebOptions) -> Result<NebResult, BvseError> {
    let length = norm(sub(final_, initial));
    if length < 0.01 || !length.is_finite() {
        return Err(BvseError::CoincidentEndpoints { distance: length });
    }
    if opts.n_images < 3 {
        return Err(BvseError::InvalidInput(format!("NEB needs at least 3 images, got {}", opts.n_images)));
    }
    let n = opts.n_images;
    let mid = lerp(initial, final_, 0.5);
    // Images stay near the segment: allow them to wander a few Angstrom off it.
    let region = field.region(mid, 0.5 * length + 3.0);
    let mut pos: Vec<Vec3> = (0..n).map(|i| lerp(initial, final_, i as f64 / (n - 1) as f64)).collect();
    let mut e = vec![0.0; n];
    let endpoints_converged = settle_endpoints(&region, &mut pos, &mut e, opts);
    let band = relax_band(&region, &mut pos, &mut e, opts);
    let band_converged = band.fmax < opts.fmax && (band.climbing || !opts.climb);
    let e0 = e[0];
    let rel: Vec<f64> = e.iter().map(|x| x - e0).collect();
    let (mut imax, mut emax, mut emin) = (0, f64::NEG_INFINITY, f64::INFINITY);
    for (i, &v) in rel.iter().enumerate() {
        if v > emax {
            emax = v;
            imax = i;
        }
        emin = emin.min(v);
    }
    let barrier = emax;
    let mm = emax - emin;
    Ok(NebResult {
        em: match opts.barrier {
            BarrierDefinition::MaxMinusInitial => barrier,
            BarrierDefinition::MaxMinusMin => mm,
        },
        barrier,
        barrier_max_minus_min: mm,
        energies: rel,
        positions: pos,
        saddle_index: imax,
        converged: band_converged && endpoints_converged,
        band_converged,
        endpoints_converged,
        steps: band.steps,
        fmax: band.fmax,
        initial_energy: e0,
    })
}

/// Relax the band's two end points (when asked) and set their energies in `e`. Returns
/// whether both relaxations converged (true when they are not relaxed).
fn settle_endpoints(region: &Region<'_>, pos: &mut [Vec3], e: &mut [f64], opts: &NebOptions) -> bool {
    let n = pos.len();
    let mut endpoints_converged = true;
    for &end in &[0, n - 1] {
        if opts.relax_endpoints {
            let (x, en, conv, _) = relax_point(region, pos[end], opts.endpoint_fmax, opts.endpoint_max_steps, opts.fire);
            pos[end] = x;
            e[end] = en;
            endpoints_converged &= conv;
        } else {
            e[end] = region.energy(pos[end]);
        }
    }
    endpoints_converged
}

/// Where the band's optimisation stopped.
struct BandRelaxation {
    /// FIRE steps taken.
    steps: usize,
    /// The largest per-image NEB force at the end.
    fmax: f64,
    /// Whether the climbing image was on at the end.
    climbing: bool,
}

/// Optimise the interior images with FIRE until the NEB forces are below `fmax` (with the
/// climbing image on, when asked: from the start, or once the forces fall below
/// `climb_after_fmax` or half the steps are spent) or the steps run out. Updates `pos` and
/// the interior energies in `e`.
fn relax_band(region: &Region<'_>, pos: &mut [Vec3], e: &mut [f64], opts: &NebOptions) -> BandRelaxation {
    let n = pos.len();
    let mut f = vec![[0.0; 3]; n];
    let eval = |pos: &[Vec3], e: &mut [f64], f: &mut [Vec3]| {
        for i in 1..pos.len() - 1 {
            let (en, fo) = region.energy_force(pos[i]);
            e[i] = en;
            f[i] = fo;
        }
    };
    let dof = 3 * (n - 2);
    let mut x: Vec<f64> = pos[1..n - 1].iter().flatten().copied().collect();
    let mut g = vec![0.0; dof];
    let mut climbing = opts.climb && opts.climb_after_fmax <= 0.0;
    let mut opt = Fire::new(opts.fire);
    eval(pos, e, &mut f);
    let mut fmax = band_forces(pos, e, &f, opts.spring_k, climbing, &mut g);
    let mut steps = 0;
    loop {
        if opts.climb && !climbing && (fmax < opts.climb_after_fmax || steps >= opts.max_steps / 2) {
            climbing = true;
            opt = Fire::new(opts.fire);
            fmax = band_forces(pos, e, &f, opts.spring_k, climbing, &mut g);
        }
        let done = fmax < opts.fmax && (climbing || !opts.climb);
        if done || steps >= opts.max_steps {
            break;
        }
        opt.step(&mut x, &g);
        steps += 1;
        for i in 1..n - 1 {
            pos[i] = [x[3 * (i - 1)], x[3 * (i - 1) + 1], x[3 * (i - 1) + 2]];
        }
        eval(pos, e, &mut f);
        fmax = band_forces(pos, e, &f, opts.spring_k, climbing, &mut g);
    }
    BandRelaxation { steps, fmax, climbing }
}
