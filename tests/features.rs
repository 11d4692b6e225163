//! Hop descriptors (`hopdb::features`) against brute-force geometry on hand-made rock-salt and
//! spinel fixtures, parallel and cached computation, and the real 619 devi2025 hops.

use hopdb::element::Element;
use hopdb::features::{self, cached_matrix, cached_matrix_report, compute, compute_many, descriptor_names, FeatureSet};
use hopdb::import::{finish_record, Candidate};
use hopdb::record::{Fidelity, HopRecord, Material, Provenance};
use hopdb::store::{Store, WriteSet};
use hopdb::structure::{Lattice, Structure, Vec3};
use std::path::Path;

fn el(s: &str) -> Element {
    Element::from_symbol(s).unwrap()
}

fn record(id: &str, ion: Element, host: &Structure, initial: Vec3, final_site: Vec3) -> HopRecord {
    let mut r = HopRecord {
        material: Material { sys_name: Some(id.to_string()), ..Default::default() },
        provenance: Provenance { dataset: "test".into(), source_record_id: id.into(), importer: "test".into(), ..Default::default() },
        ..HopRecord::new(format!("test:{id}"), ion, initial, final_site, 0.5, Fidelity::Dft)
    };
    finish_record(&mut r, host);
    r
}

const A_RS: f64 = 4.0;

/// LiF-like rock salt, a = 4.0 A, 2x2x2 supercell of the 8-atom cell (cell 8 A): Li on the
/// 2 A grid points with even index sum, F on the odd ones; the Li sites listed in `vacant`
/// (fractional of the supercell) are removed.
fn rocksalt_host(vacant: &[Vec3]) -> Structure {
    let lat = Lattice::new([[2.0 * A_RS, 0.0, 0.0], [0.0, 2.0 * A_RS, 0.0], [0.0, 0.0, 2.0 * A_RS]]).unwrap();
    let (mut species, mut frac) = (vec![], vec![]);
    for i in 0..4 {
        for j in 0..4 {
            for k in 0..4 {
                let f = [i as f64 / 4.0, j as f64 / 4.0, k as f64 / 4.0];
                let li = (i + j + k) % 2 == 0;
                if li && vacant.iter().any(|v| (0..3).all(|a| (v[a] - f[a]).abs() < 1e-9)) {
                    continue;
                }
                species.push(if li { el("Li") } else { el("F") });
                frac.push(f);
            }
        }
    }
    Structure::new(lat, species, frac).unwrap()
}

/// The rock-salt Li-vacancy hop between two edge-sharing octahedral sites (0,0,0) -> (2,2,0) A.
fn rocksalt_hop() -> (HopRecord, Structure) {
    let (i, f) = ([0.0, 0.0, 0.0], [0.25, 0.25, 0.0]);
    let host = rocksalt_host(&[i, f]);
    (record("rocksalt", el("Li"), &host, i, f), host)
}

const A_SP: f64 = 8.24;

/// Ideal LiMn2O4 spinel (Fd-3m, origin choice 2, anion parameter x = 1/4, a = 8.24 A): O on
/// the a/4 grid points with odd index sum (a ccp anion lattice), Li on 8a
/// ((1/8,1/8,1/8), (7/8,3/8,3/8) + F-centring), Mn on the 16 octahedral (even-sum) points that
/// do not share a face with an 8a tetrahedron (16d); the 16c octahedra are empty.
fn spinel_full() -> (Structure, Vec<Vec3>) {
    let fc = [[0.0, 0.0, 0.0], [0.0, 0.5, 0.5], [0.5, 0.0, 0.5], [0.5, 0.5, 0.0]];
    let wrap = |x: f64| x - x.floor();
    let mut li = vec![];
    for base in [[0.125, 0.125, 0.125], [0.875, 0.375, 0.375]] {
        for t in fc {
            li.push([wrap(base[0] + t[0]), wrap(base[1] + t[1]), wrap(base[2] + t[2])]);
        }
    }
    let lat = Lattice::new([[A_SP, 0.0, 0.0], [0.0, A_SP, 0.0], [0.0, 0.0, A_SP]]).unwrap();
    let (mut species, mut frac) = (vec![], vec![]);
    let mut n_mn = 0;
    for i in 0..4 {
        for j in 0..4 {
            for k in 0..4 {
                let f = [i as f64 / 4.0, j as f64 / 4.0, k as f64 / 4.0];
                if (i + j + k) % 2 == 1 {
                    species.push(el("O"));
                    frac.push(f);
                    continue;
                }
                // Octahedral site: 16c when it is a face-sharing neighbour of an 8a site.
                let near_8a = li.iter().any(|l| lat.min_image_distance(*l, f) < A_SP * 3f64.sqrt() / 8.0 + 1e-6);
                if !near_8a {
                    species.push(el("Mn"));
                    frac.push(f);
                    n_mn += 1;
                }
            }
        }
    }
    assert_eq!(n_mn, 16);
    assert_eq!(species.len(), 48);
    assert_eq!(species.iter().filter(|e| **e == el("O")).count(), 32);
    (Structure::new(lat, species, frac).unwrap(), li)
}

/// Li hop 8a (1/8,1/8,1/8) -> 16c (0,0,0) -> 8a (-1/8,-1/8,-1/8); both 8a sites vacant.
fn spinel_hop() -> (HopRecord, Structure) {
    let (mut s, li) = spinel_full();
    let (i, f) = ([0.125, 0.125, 0.125], [-0.125, -0.125, -0.125]);
    for l in li {
        if s.lattice.min_image_distance(l, i) > 1e-6 && s.lattice.min_image_distance(l, f) > 1e-6 {
            s.species.push(el("Li"));
            s.frac.push(l);
        }
    }
    assert_eq!(s.len(), 54);
    (record("spinel", el("Li"), &s, i, f), s)
}

// ---------------------------------------------------------------- brute force

/// Minimum-image distances from the Cartesian point `p` to every host atom passing `keep`.
fn dists(host: &Structure, p: Vec3, keep: impl Fn(Element) -> bool) -> Vec<(Element, f64)> {
    let fp = host.lattice.to_frac(p);
    let mut v: Vec<(Element, f64)> = host
        .species
        .iter()
        .zip(&host.frac)
        .filter(|(e, _)| keep(**e))
        .map(|(e, f)| (*e, host.lattice.min_image_distance(fp, *f)))
        .collect();
    v.sort_by(|a, b| a.1.total_cmp(&b.1));
    v
}

/// Distances from `p` to every periodic image (translations up to +-2 cells) of every host
/// atom passing `keep` within `radius`.
fn images_within(host: &Structure, p: Vec3, radius: f64, keep: impl Fn(Element) -> bool) -> Vec<(Element, f64)> {
    let mut v = vec![];
    for (e, f) in host.species.iter().zip(&host.frac).filter(|(e, _)| keep(**e)) {
        for i in -2..=2 {
            for j in -2..=2 {
                for k in -2..=2 {
                    let c = host.lattice.to_cart([f[0] + i as f64, f[1] + j as f64, f[2] + k as f64]);
                    let x = hopdb::structure::norm(hopdb::structure::sub(c, p));
                    if x <= radius {
                        v.push((*e, x));
                    }
                }
            }
        }
    }
    v
}

fn nearest(host: &Structure, p: Vec3, keep: impl Fn(Element) -> bool) -> f64 {
    dists(host, p, keep).first().map_or(features::DIST_CAP, |x| x.1.min(features::DIST_CAP))
}

fn point(r: &HopRecord, host: &Structure, t: f64) -> Vec3 {
    host.lattice.to_cart(hopdb::structure::lerp(r.initial, r.final_site, t))
}

struct Desc(Vec<f64>);

impl Desc {
    fn get(&self, name: &str) -> f64 {
        let i = descriptor_names().iter().position(|n| n == name).unwrap_or_else(|| panic!("no descriptor {name}"));
        self.0[i]
    }
}

fn close(got: f64, want: f64, tol: f64, what: &str) {
    assert!((got - want).abs() <= tol, "{what}: got {got}, want {want}");
}

/// Compare band-point, bottleneck and coordination descriptors against brute force.
fn check_against_brute_force(r: &HopRecord, host: &Structure) -> Desc {
    let d = Desc(compute(r, host).unwrap());
    let ion = r.ion;
    let is_an = |e: Element| e != ion && e.is_anion();
    let is_cat = |e: Element| e != ion && !e.is_anion();
    let is_fw = |e: Element| e != ion;
    let is_same = |e: Element| e == ion;
    for k in 0..5 {
        let p = point(r, host, k as f64 / 4.0);
        close(d.get(&format!("d_fw_p{k}")), nearest(host, p, is_fw), 1e-9, &format!("d_fw_p{k}"));
        close(d.get(&format!("d_an_p{k}")), nearest(host, p, is_an), 1e-9, &format!("d_an_p{k}"));
        close(d.get(&format!("d_cat_p{k}")), nearest(host, p, is_cat), 1e-9, &format!("d_cat_p{k}"));
        close(d.get(&format!("d_same_p{k}")), nearest(host, p, is_same), 1e-9, &format!("d_same_p{k}"));
    }
    // Bottleneck over the 41 samples.
    let samples: Vec<Vec3> = (0..41).map(|i| point(r, host, i as f64 / 40.0)).collect();
    let prof = |keep: &dyn Fn(Element) -> bool| samples.iter().map(|p| nearest(host, *p, keep)).collect::<Vec<f64>>();
    let fw = prof(&is_fw);
    let an = prof(&is_an);
    let min = |v: &[f64]| v.iter().cloned().fold(f64::INFINITY, f64::min);
    close(d.get("bn_fw_min"), min(&fw), 1e-9, "bn_fw_min");
    close(d.get("bn_an_min"), min(&an), 1e-9, "bn_an_min");
    close(d.get("an_profile_mean"), an.iter().sum::<f64>() / 41.0, 1e-9, "an_profile_mean");
    close(d.get("d_cat_path_min"), min(&prof(&is_cat)), 1e-9, "d_cat_path_min");
    close(d.get("d_same_path_min"), min(&prof(&is_same)), 1e-9, "d_same_path_min");
    let i_fw = fw.iter().position(|x| *x == min(&fw)).unwrap();
    close(d.get("bn_fw_t"), i_fw as f64 / 40.0, 1e-12, "bn_fw_t");
    // k nearest framework atoms at the bottleneck point.
    let kd: Vec<f64> = dists(host, samples[i_fw], is_fw).iter().map(|x| x.1).take(4).collect();
    close(d.get("bn_k3_mean"), kd[..3].iter().sum::<f64>() / 3.0, 1e-9, "bn_k3_mean");
    close(d.get("bn_k4_mean"), kd.iter().sum::<f64>() / 4.0, 1e-9, "bn_k4_mean");
    close(d.get("bn_k4_dist"), kd[3], 1e-9, "bn_k4_dist");
    // Window: distance to the anion surface.
    let r_ion = ion.ionic_radius().unwrap();
    let window = |p: Vec3| images_within(host, p, 6.0, is_an).iter().map(|(e, x)| x - e.ionic_radius().unwrap()).fold(f64::INFINITY, f64::min);
    let w_min = samples.iter().map(|p| window(*p)).fold(f64::INFINITY, f64::min);
    close(d.get("bn_window"), w_min, 1e-9, "bn_window");
    close(d.get("bn_squeeze"), w_min - r_ion, 1e-9, "bn_squeeze");
    close(d.get("window_p0"), window(samples[0]), 1e-9, "window_p0");
    // Coordination (hard and Fermi-smoothed) at the endpoints and the midpoint.
    let cn = |p: Vec3| {
        let (mut hard, mut soft) = (0.0, 0.0);
        for (e, x) in images_within(host, p, 6.0, is_an) {
            let rc = 1.2 * (r_ion + e.ionic_radius().unwrap());
            hard += (x <= rc) as u8 as f64;
            soft += 1.0 / (1.0 + ((x - rc) / 0.1).exp());
        }
        (hard, soft)
    };
    for (name, i) in [("p0", 0), ("mid", 20), ("p4", 40)] {
        let (h, s) = cn(samples[i]);
        close(d.get(&format!("cn_{name}")), h, 0.0, &format!("cn_{name}"));
        close(d.get(&format!("scn_{name}")), s, 1e-9, &format!("scn_{name}"));
    }
    close(d.get("hop_length"), r.hop_length, 1e-9, "hop_length");
    assert!(d.0.iter().all(|x| x.is_finite()));
    d
}

// ---------------------------------------------------------------- fixtures

#[test]
fn descriptor_names_are_unique_and_about_130() {
    let names = descriptor_names();
    let set: std::collections::HashSet<&String> = names.iter().collect();
    assert_eq!(set.len(), names.len(), "duplicate descriptor names");
    assert!((100..=150).contains(&names.len()), "{} descriptors", names.len());
    let fs = FeatureSet::hop_v1();
    assert_eq!((fs.name.as_str(), fs.version), ("hop-v1", features::HOP_V1_VERSION));
    assert_eq!(features::HOP_V1_VERSION, 2);
    assert_eq!(fs.names.len(), names.len());
    assert_eq!(FeatureSet::default(), fs);
    assert!(FeatureSet::new("x", 1, vec!["hop_length".into(), "nope".into()]).is_err());
    assert!(FeatureSet::new("x", 1, vec!["hop_length".into(), "hop_length".into()]).is_err());
    assert!(FeatureSet::new("x\0y", 1, vec!["hop_length".into()]).is_err());
}

#[test]
fn rocksalt_octahedral_hop_matches_geometry() {
    let (r, host) = rocksalt_hop();
    assert_eq!(host.len(), 62);
    let d = check_against_brute_force(&r, &host);
    let s2 = 2f64.sqrt();
    close(d.get("hop_length"), 2.0 * s2, 1e-9, "hop length 2 sqrt 2");
    // Octahedral endpoints: 6 F at a/2 = 2 A.
    close(d.get("d_an_p0"), 2.0, 1e-9, "d_an_p0");
    close(d.get("d_an_p4"), 2.0, 1e-9, "d_an_p4");
    close(d.get("cn_p0"), 6.0, 0.0, "octahedral cn");
    close(d.get("cn_p4"), 6.0, 0.0, "octahedral cn");
    // Midpoint of the shared octahedral edge: two F at sqrt 2 A; that is the bottleneck.
    close(d.get("d_an_p2"), s2, 1e-9, "d_an_p2");
    close(d.get("bn_an_min"), s2, 1e-9, "bn_an_min");
    close(d.get("bn_an_t"), 0.5, 1e-12, "bn_an_t");
    close(d.get("d_an_p1"), (1.5f64 * 1.5 + 0.25).sqrt(), 1e-9, "d_an_p1");
    // Framework = F only (the other Li are the same species).
    close(d.get("bn_fw_min"), s2, 1e-9, "bn_fw_min");
    close(d.get("bn_k3_mean"), (2.0 * s2 + 6f64.sqrt()) / 3.0, 1e-9, "k3 mean");
    close(d.get("bn_k4_dist"), 6f64.sqrt(), 1e-9, "4th nearest");
    close(d.get("bn_window"), s2 - 1.33, 1e-9, "window");
    close(d.get("bn_squeeze"), s2 - 1.33 - 0.76, 1e-9, "squeeze");
    // Same-species Li nearest to the midpoint at sqrt 6 A; no other cation: fill value.
    close(d.get("d_same_p2"), 6f64.sqrt(), 1e-9, "d_same_p2");
    for k in 0..5 {
        close(d.get(&format!("d_cat_p{k}")), features::DIST_CAP, 0.0, "no cation: fill");
    }
    close(d.get("d_cat_path_min"), features::DIST_CAP, 0.0, "no cation: fill");
    // Host descriptors.
    close(d.get("n_atoms"), 62.0, 0.0, "n_atoms");
    close(d.get("vol_per_atom"), 512.0 / 63.0, 1e-9, "vol_per_atom");
    close(d.get("vol_per_anion"), 512.0 / 32.0, 1e-9, "vol_per_anion");
    close(d.get("ion_fraction"), 31.0 / 63.0, 1e-9, "ion fraction");
    close(d.get("anion_is_F"), 1.0, 0.0, "anion F");
    close(d.get("anion_is_other"), 0.0, 0.0, "anion other");
    close(d.get("ion_is_Li"), 1.0, 0.0, "ion Li");
    close(d.get("n_elements"), 2.0, 0.0, "n_elements");
    let mass = 31.0 * el("Li").mass() + 32.0 * el("F").mass();
    close(d.get("density"), mass / 512.0 * 1.66053906660, 1e-9, "density");
    close(d.get("comp_en_mean"), (31.0 * 0.98 + 32.0 * 3.98) / 63.0, 1e-9, "mean electronegativity");
    close(d.get("comp_ox_range"), 2.0, 1e-9, "ox range");
    check_lite_energy(&r, &host, &d);
    // The straight path crosses the shared octahedral edge; bending towards the empty
    // tetrahedral site opens it (sqrt(2 + z^2) from the edge F atoms at a z offset).
    assert!(d.get("rbn_fw_min") > s2 + 0.1, "relaxed bottleneck {}", d.get("rbn_fw_min"));
}

#[test]
fn spinel_tetrahedral_hop_matches_geometry() {
    let (r, host) = spinel_hop();
    let d = check_against_brute_force(&r, &host);
    let a = A_SP;
    close(d.get("hop_length"), a * 3f64.sqrt() / 4.0, 1e-9, "8a-8a distance");
    // 8a tetrahedral endpoints: 4 O at a sqrt3 / 8.
    close(d.get("d_an_p0"), a * 3f64.sqrt() / 8.0, 1e-9, "tetrahedral O distance");
    close(d.get("d_an_p4"), a * 3f64.sqrt() / 8.0, 1e-9, "tetrahedral O distance");
    close(d.get("cn_p0"), 4.0, 0.0, "tetrahedral cn");
    close(d.get("cn_p4"), 4.0, 0.0, "tetrahedral cn");
    // 16c octahedral midpoint: 6 O at a / 4.
    close(d.get("d_an_p2"), a / 4.0, 1e-9, "octahedral O distance");
    close(d.get("cn_mid"), 6.0, 0.0, "octahedral cn");
    close(d.get("cn_change"), 2.0, 0.0, "cn change");
    // The bottleneck is the shared O3 triangle, a sqrt6 / 12 from its centre at t = 1/6 (and 5/6);
    // the 41 samples get within 1e-3 A of it.
    close(d.get("bn_an_min"), a * 6f64.sqrt() / 12.0, 1e-3, "triangle window");
    assert!(d.get("bn_an_min") >= a * 6f64.sqrt() / 12.0 - 1e-9);
    let t = d.get("bn_an_t");
    assert!((t - 1.0 / 6.0).abs() < 0.03 || (t - 5.0 / 6.0).abs() < 0.03, "bottleneck at t = {t}");
    // Nearest Mn to the 16c site: a sqrt2 / 4 (16d); nearest other Li (8a) to 16c: a sqrt19 / 8.
    close(d.get("d_cat_p2"), a * 2f64.sqrt() / 4.0, 1e-9, "16c-16d");
    close(d.get("d_same_p2"), a * 19f64.sqrt() / 8.0, 1e-9, "16c-8a");
    close(d.get("anion_is_O"), 1.0, 0.0, "anion O");
    close(d.get("n_elements"), 3.0, 0.0, "elements");
    check_lite_energy(&r, &host, &d);
}

/// erfc by Simpson integration of exp(-t^2) (independent of the library's approximation).
fn erfc_ref(x: f64) -> f64 {
    let n = 4000;
    let h = x / n as f64;
    let f = |t: f64| (-t * t).exp();
    let mut s = f(0.0) + f(x);
    for i in 1..n {
        s += f(i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 };
    }
    1.0 - 2.0 / std::f64::consts::PI.sqrt() * s * h / 3.0
}

/// The documented softBV-like energy at `p`, summed over all images within 7 A.
fn lite_energy(host: &Structure, ion: Element, p: Vec3) -> f64 {
    let r_ion = ion.ionic_radius().unwrap();
    let q_ion = features::nominal_charge(ion);
    let mut e = 0.0;
    for (x, d) in images_within(host, p, 7.0, |x| x.is_anion()) {
        let m = (1.6 * (0.92 * (r_ion + x.ionic_radius().unwrap()) - d.max(0.5))).exp();
        e += 0.5 * q_ion * ((m - 1.0).powi(2) - 1.0);
    }
    for (x, d) in images_within(host, p, 7.0, |x| features::nominal_charge(x) > 0.0) {
        let d = d.max(0.5);
        let s = 0.74 * (ion.covalent_radius() + x.covalent_radius());
        e += 14.399645 * q_ion * features::nominal_charge(x) / ((ion.period() * x.period()) as f64).sqrt() * erfc_ref(d / s) / d;
    }
    e
}

fn check_lite_energy(r: &HopRecord, host: &Structure, d: &Desc) {
    let prof: Vec<f64> = (0..41).map(|i| lite_energy(host, r.ion, point(r, host, i as f64 / 40.0))).collect();
    let max = prof.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let min = prof.iter().cloned().fold(f64::INFINITY, f64::min);
    close(d.get("bvse_lite_barrier"), max - prof[0], 1e-5, "bvse_lite_barrier");
    close(d.get("bvse_lite_span"), max - min, 1e-5, "bvse_lite_span");
    close(d.get("bvse_lite_end_diff"), prof[40] - prof[0], 1e-5, "bvse_lite_end_diff");
    // Letting the path bend perpendicular to the hop can only open the bottleneck.
    assert!(d.get("rbn_fw_min") >= d.get("bn_fw_min") - 1e-12);
    assert!(d.get("rbvse_lite_barrier").is_finite());
}

#[test]
fn a_set_selects_columns_and_errors_name_the_record() {
    let (r, host) = rocksalt_hop();
    let full = compute(&r, &host).unwrap();
    let set = FeatureSet::new("geo", 3, vec!["bn_an_min".into(), "hop_length".into()]).unwrap();
    let v = features::compute_set(&r, &host, &set).unwrap();
    let idx = |n: &str| descriptor_names().iter().position(|x| x == n).unwrap();
    assert_eq!(v, vec![full[idx("bn_an_min")], full[idx("hop_length")]]);
    let mut bad = r.clone();
    bad.final_site = [f64::NAN, 0.0, 0.0];
    let e = compute(&bad, &host).unwrap_err().to_string();
    assert!(e.contains("test:rocksalt"), "{e}");
}

#[test]
fn hosts_without_framework_or_anions_use_fill_values() {
    // bcc Li metal with a vacancy hop: no framework atom at all.
    let lat = Lattice::new([[3.5, 0.0, 0.0], [0.0, 3.5, 0.0], [0.0, 0.0, 3.5]]).unwrap();
    let host = Structure::new(lat, vec![el("Li")], vec![[0.5, 0.5, 0.5]]).unwrap();
    let r = record("li_metal", el("Li"), &host, [0.0, 0.0, 0.0], [1.0, 0.0, 0.0]);
    let d = Desc(compute(&r, &host).unwrap());
    for name in ["d_fw_p2", "d_an_p0", "d_cat_p4", "bn_fw_min", "bn_window", "bn_k4_dist"] {
        close(d.get(name), features::DIST_CAP, 0.0, name);
    }
    close(d.get("bn_fw_t"), 0.5, 0.0, "no bottleneck position");
    close(d.get("cn_mid"), 0.0, 0.0, "no anions");
    close(d.get("anion_is_other"), 1.0, 0.0, "no anion: other");
    close(d.get("anion_en"), 0.0, 0.0, "no anion: en 0");
    close(d.get("vol_per_anion"), 3.5f64.powi(3), 1e-9, "no anion: cell volume");
    close(d.get("d_same_p0"), 3.5 * 3f64.sqrt() / 2.0, 1e-9, "bcc neighbour");
    // An empty host is an error that names the record.
    let empty = Structure::new(host.lattice.clone(), vec![], vec![]).unwrap();
    assert!(compute(&r, &empty).unwrap_err().to_string().contains("test:li_metal"));
}

// ---------------------------------------------------------------- store

fn fixture_store(dir: &Path) -> (Store, Vec<String>) {
    let store = Store::create(dir.join("s")).unwrap();
    let mut cands = vec![];
    for (r, host) in [rocksalt_hop(), spinel_hop()] {
        cands.push(Candidate { record: r, host, origin: "fixture".into() });
    }
    // Two hops sharing one host (three vacancies), and a Na hop in the same host.
    let vac = [[0.0, 0.0, 0.0], [0.25, 0.25, 0.0], [0.25, 0.0, 0.25]];
    let host = rocksalt_host(&vac);
    for (id, ion, f) in [("shared_a", "Li", vac[1]), ("shared_b", "Li", vac[2]), ("shared_na", "Na", vac[1])] {
        let r = record(id, el(ion), &host, vac[0], f);
        cands.push(Candidate { record: r, host: host.clone(), origin: "fixture".into() });
    }
    let rep = hopdb::import::commit(&store, cands, vec![], &Default::default(), "fixtures").unwrap();
    assert!(rep.rejected.is_empty());
    let ids: Vec<String> = store.records().map(|r| r.unwrap().id).collect();
    assert_eq!(ids.len(), 5);
    (store, ids)
}

#[test]
fn compute_many_equals_compute_per_record() {
    let dir = tempfile::tempdir().unwrap();
    let (store, ids) = fixture_store(dir.path());
    let m = compute_many(&store, &ids).unwrap();
    assert_eq!(m.ids, ids);
    assert_eq!(m.names, descriptor_names());
    for (id, row) in ids.iter().zip(&m.rows) {
        let r = store.record(id).unwrap();
        let host = store.structure(&r.host).unwrap();
        assert_eq!(row, &compute(&r, &host).unwrap(), "{id}");
    }
    assert_eq!(m.column("hop_length").unwrap().len(), 5);
    assert!(compute_many(&store, &["test:missing".to_string()]).unwrap_err().to_string().contains("test:missing"));
}

#[test]
fn cache_reuses_vectors_and_recomputes_on_version_or_hop_change() {
    let dir = tempfile::tempdir().unwrap();
    let (store, ids) = fixture_store(dir.path());
    let set = FeatureSet::hop_v1();
    let audits = |s: &Store| s.audit_log().unwrap().iter().filter(|a| a.op == "features").count();
    let (m1, rep1) = cached_matrix_report(&store, &ids, &set).unwrap();
    assert_eq!((rep1.hits, rep1.computed), (0, 5));
    assert_eq!(audits(&store), 1);
    assert_eq!(m1, compute_many(&store, &ids).unwrap());
    let (m2, rep2) = cached_matrix_report(&store, &ids, &set).unwrap();
    assert_eq!((rep2.hits, rep2.computed), (5, 0));
    assert_eq!(audits(&store), 1, "nothing new, nothing written");
    for (a, b) in m1.rows.iter().zip(&m2.rows) {
        assert!(a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits()));
    }
    assert!(features::is_cached(&store, &set, &ids[0]).unwrap());
    // A version bump recomputes everything under new keys.
    let v2 = FeatureSet { version: set.version + 1, ..set.clone() };
    let (m3, rep3) = cached_matrix_report(&store, &ids, &v2).unwrap();
    assert_eq!((rep3.hits, rep3.computed), (0, 5));
    assert_eq!(m3.rows, m1.rows);
    assert_eq!(audits(&store), 2);
    // Changing a record's hop invalidates its vector only; changing Em does not.
    let old = store.record(&ids[0]).unwrap();
    let mut new = old.clone();
    new.final_site[0] += 0.01;
    new.em = 1.5;
    let mut ws = WriteSet::new("edit", "move final site");
    ws.update_record(&old, &new);
    store.commit(ws).unwrap();
    let (m4, rep4) = cached_matrix_report(&store, &ids, &set).unwrap();
    assert_eq!((rep4.hits, rep4.computed), (4, 1));
    assert_ne!(m4.rows[0], m1.rows[0]);
    assert_eq!(m4.rows[1..], m1.rows[1..]);
    store.edit(&ids[1], &[hopdb::record::Edit::Em(2.0)], "new barrier").unwrap();
    let (_, rep5) = cached_matrix_report(&store, &ids, &set).unwrap();
    assert_eq!((rep5.hits, rep5.computed), (5, 0));
    // A sub-set is cached separately and matches the full vectors' columns.
    let sub = FeatureSet::new("geo", 1, vec!["bn_an_min".into(), "cn_mid".into()]).unwrap();
    let ms = cached_matrix(&store, &ids, &sub).unwrap();
    assert_eq!(ms.column("cn_mid").unwrap(), m4.column("cn_mid").unwrap());
}

// ---------------------------------------------------------------- real data

#[test]
fn all_619_devi_hops_give_finite_descriptors() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::create(dir.path().join("s")).unwrap();
    let data = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/devi2025"));
    let (c, r) = hopdb::import::devi::read_dir_with(data, &store.class_groups().unwrap(), false).unwrap();
    hopdb::import::commit(&store, c, r, &Default::default(), "t").unwrap();
    let records: Vec<HopRecord> = store.records().map(|r| r.unwrap()).collect();
    assert_eq!(records.len(), 619);
    let ids: Vec<String> = records.iter().map(|r| r.id.clone()).collect();
    let m = compute_many(&store, &ids).unwrap();
    assert_eq!(m.rows.len(), 619);
    for (id, row) in m.ids.iter().zip(&m.rows) {
        assert_eq!(row.len(), m.names.len());
        for (n, x) in m.names.iter().zip(row) {
            assert!(x.is_finite(), "{id}: {n} = {x}");
        }
    }
    // Spot-check against the single-record path.
    for r in records.iter().step_by(97) {
        let host = store.structure(&r.host).unwrap();
        assert_eq!(m.row(&r.id).unwrap(), compute(r, &host).unwrap().as_slice());
    }
    // Descriptors that must vary over a real data set do.
    for name in ["hop_length", "bn_an_min", "cn_p0", "es_wolf_barrier", "comp_en_mean", "morse_barrier"] {
        let col = m.column(name).unwrap();
        let (lo, hi) = col.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| (a.min(*x), b.max(*x)));
        assert!(hi > lo, "{name} is constant");
    }
    // Spearman correlation of each descriptor with Em (informative, printed with --nocapture).
    let em: Vec<f64> = records.iter().map(|r| r.em).collect();
    let mut corr: Vec<(f64, &String)> = m.names.iter().map(|n| (spearman(&m.column(n).unwrap(), &em), n)).collect();
    corr.sort_by(|a, b| b.0.abs().total_cmp(&a.0.abs()));
    for (c, n) in corr.iter().take(25) {
        eprintln!("spearman(Em, {n}) = {c:+.3}");
    }
}

fn ranks(x: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..x.len()).collect();
    idx.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    let mut r = vec![0.0; x.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && x[idx[j + 1]] == x[idx[i]] {
            j += 1;
        }
        for k in i..=j {
            r[idx[k]] = (i + j) as f64 / 2.0;
        }
        i = j + 1;
    }
    r
}

fn spearman(x: &[f64], y: &[f64]) -> f64 {
    let (rx, ry) = (ranks(x), ranks(y));
    let n = x.len() as f64;
    let (mx, my) = (rx.iter().sum::<f64>() / n, ry.iter().sum::<f64>() / n);
    let cov: f64 = rx.iter().zip(&ry).map(|(a, b)| (a - mx) * (b - my)).sum();
    let vx: f64 = rx.iter().map(|a| (a - mx).powi(2)).sum();
    let vy: f64 = ry.iter().map(|b| (b - my).powi(2)).sum();
    if vx == 0.0 || vy == 0.0 {
        0.0
    } else {
        cov / (vx * vy).sqrt()
    }
}

/// Writes the 619-hop descriptor matrix with ids, groups and Em to the CSV file named by
/// `HOPDB_FEATURES_CSV`, for model experiments outside Rust (`cargo test --test features --
/// --ignored dump`).
#[test]
#[ignore = "tool, not a test: dumps the descriptor matrix to HOPDB_FEATURES_CSV for experiments outside Rust"]
fn dump_devi_descriptors_csv() {
    let Ok(out) = std::env::var("HOPDB_FEATURES_CSV") else { return };
    let dir = tempfile::tempdir().unwrap();
    let store = Store::create(dir.path().join("s")).unwrap();
    let data = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/devi2025"));
    let (c, r) = hopdb::import::devi::read_dir_with(data, &store.class_groups().unwrap(), false).unwrap();
    hopdb::import::commit(&store, c, r, &Default::default(), "t").unwrap();
    let records: Vec<HopRecord> = store.records().map(|r| r.unwrap()).collect();
    let ids: Vec<String> = records.iter().map(|r| r.id.clone()).collect();
    let m = compute_many(&store, &ids).unwrap();
    let mut w = csv::Writer::from_path(out).unwrap();
    let mut header = vec!["id".to_string(), "sys_name".into(), "composition".into(), "group".into(), "partition".into(), "em".into()];
    header.extend(m.names.iter().cloned());
    w.write_record(&header).unwrap();
    for (r, row) in records.iter().zip(&m.rows) {
        let mut line = vec![
            r.id.clone(),
            r.material.sys_name.clone().unwrap_or_default(),
            r.material.composition.clone().unwrap_or_default(),
            r.group_or_class().unwrap_or_default().to_string(),
            r.partition.map(|p| p.as_str().to_string()).unwrap_or_default(),
            r.em.to_string(),
        ];
        line.extend(row.iter().map(|x| x.to_string()));
        w.write_record(&line).unwrap();
    }
    w.flush().unwrap();
}

/// hop-v2: the hop's own linked barriers, read afresh (never cached, never another hop's),
/// missing ones marked; the descriptors with the literature constants differ from hop-v1's
/// only in the softBV-like columns.
#[test]
fn hop_v2_reads_each_hops_own_linked_barriers() {
    let (r, host) = rocksalt_hop();
    let r2 = HopRecord { id: "t:other".into(), final_site: [0.25, -0.25, 0.0], ..r.clone() };
    let dir = tempfile::tempdir().unwrap();
    let store = Store::create(dir.path().join("s")).unwrap();
    let mut ws = WriteSet::new("test", "two hops");
    let (mut a, mut b) = (r.clone(), r2.clone());
    finish_record(&mut a, &host);
    finish_record(&mut b, &host);
    ws.insert_record(&a, &host);
    ws.insert_record(&b, &host);
    store.commit(ws).unwrap();
    let set = FeatureSet::named("hop-v2", Some("m/p")).unwrap();
    assert_eq!(set.label(), "hop-v2@1[mlip=m/p]");
    assert_eq!(FeatureSet::from_label(&set.label()).unwrap(), set);
    let ids = vec![a.id.clone(), b.id.clone()];
    let col = |fm: &features::FeatureMatrix, n: &str| fm.column(n).unwrap();
    let fm = cached_matrix(&store, &ids, &set).unwrap();
    assert_eq!(col(&fm, "mlip_em"), vec![-1.0, -1.0]);
    assert_eq!(col(&fm, "mlip_missing"), vec![1.0, 1.0]);
    assert_eq!(col(&fm, "bvse_missing"), vec![1.0, 1.0]);
    // An MLIP record of the first hop: only its row changes, even though its descriptors are cached.
    let m = hopdb::mlip::derived_record(&a, 0.42, "m", "p", Default::default(), Default::default(), Default::default());
    let mut ws = WriteSet::new("test", "mlip");
    ws.insert_record(&m, &host);
    store.commit(ws).unwrap();
    let (fm2, rep) = cached_matrix_report(&store, &ids, &set).unwrap();
    assert_eq!(rep.computed, 0, "descriptors came from the cache");
    assert_eq!(col(&fm2, "mlip_em"), vec![0.42, -1.0]);
    assert_eq!(col(&fm2, "mlip_missing"), vec![0.0, 1.0]);
    // Another label does not see it.
    let other = FeatureSet::named("hop-v2", Some("m/q")).unwrap();
    assert_eq!(col(&cached_matrix(&store, &ids, &other).unwrap(), "mlip_em"), vec![-1.0, -1.0]);
    // Literature constants move the softBV-like descriptors only.
    let v1 = cached_matrix(&store, &ids, &FeatureSet::hop_v1()).unwrap();
    for (k, n) in descriptor_names().iter().enumerate() {
        if !n.contains("bvse_lite") {
            assert_eq!(v1.rows[0][k], fm2.rows[0][k], "{n}");
        }
    }
    let barrier = |fm: &features::FeatureMatrix| fm.column("bvse_lite_barrier").unwrap()[0];
    assert_ne!(barrier(&v1), barrier(&fm2), "the softBV-like barrier moves with its constants");
    // Bad settings are clear errors.
    assert!(FeatureSet::named("hop-v2", Some("no-slash")).is_err());
    assert!(FeatureSet::named("hop-v1", Some("m/p")).is_err());
    assert!(FeatureSet::named("hop-v9", None).is_err());
}
