//! Synthetic BVSE-like hop corpora for benchmarks and tests: rock-salt-derived host
//! supercells (about 100 atoms) with random strain and chemistry, several distinct hops per
//! host, log-normal barriers. Deterministic for a seed.

use crate::element::Element;
use crate::import::{finish_record, Candidate};
use crate::record::{record_id, Fidelity, HopRecord, Material, Method, Provenance};
use crate::structure::{Lattice, Structure, Vec3};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Hops generated per synthetic host.
pub const HOPS_PER_HOST: usize = 10;

fn el(s: &str) -> Element {
    Element::from_symbol(s).expect("known element")
}

/// Generate `n` synthetic candidates (fidelity `bvse`, dataset `synthetic`) from `seed`.
pub fn bvse_like_corpus(n: usize, seed: u64) -> Vec<Candidate> {
    bvse_like_stream(n, seed).collect()
}

/// The candidates of [`bvse_like_corpus`], the same ones in the same order, generated one host
/// at a time: memory stays one host's hops whatever `n` (the 1.2M-frame benchmark file).
pub fn bvse_like_stream(n: usize, seed: u64) -> impl Iterator<Item = Candidate> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut made, mut host_no) = (0usize, 0usize);
    let mut pending: std::vec::IntoIter<Candidate> = Vec::new().into_iter();
    std::iter::from_fn(move || loop {
        if let Some(c) = pending.next() {
            made += 1;
            return Some(c);
        }
        if made >= n {
            return None;
        }
        host_no += 1;
        let host = SyntheticHost::draw(&mut rng);
        let mut hops = Vec::with_capacity(HOPS_PER_HOST);
        host.push_hops(&mut rng, HOPS_PER_HOST.min(n - made), host_no, seed, &mut hops);
        pending = hops.into_iter();
    })
}

/// One synthetic host: a strained, jittered rock-salt supercell with layered ion and
/// transition-metal planes.
struct SyntheticHost {
    ion: Element,
    tm: Element,
    an: Element,
    /// The full cell, ions included.
    full: Structure,
    /// Indices of the ion sites in `full`.
    ion_sites: Vec<usize>,
}

impl SyntheticHost {
    /// Draw a host's chemistry, cell and site jitter from `rng`.
    fn draw(rng: &mut ChaCha8Rng) -> SyntheticHost {
        let ions = ["Li", "Na", "Mg", "Ca", "K", "Zn"];
        let tms = ["Mn", "Fe", "Co", "Ni", "Ti", "V", "Cr"];
        let anions = ["O", "S", "F", "Se"];
        let ion = el(ions[rng.gen_range(0..ions.len())]);
        let tm = el(tms[rng.gen_range(0..tms.len())]);
        let an = el(anions[rng.gen_range(0..anions.len())]);
        let a0 = rng.gen_range(4.0..4.8);
        // 2 x 2 x 3 supercell of the 8-atom rock-salt cell: 96 sites.
        let (na, nb, nc) = (2usize, 2usize, 3usize);
        let strain = |r: &mut ChaCha8Rng| 1.0 + r.gen_range(-0.03..0.03);
        let lattice = Lattice::new([
            [a0 * na as f64 * strain(rng), 0.0, 0.0],
            [rng.gen_range(-0.2..0.2), a0 * nb as f64 * strain(rng), 0.0],
            [rng.gen_range(-0.2..0.2), rng.gen_range(-0.2..0.2), a0 * nc as f64 * strain(rng)],
        ])
        .expect("synthetic lattice is regular");
        let (species, mut frac, ion_sites) = layered_rocksalt(ion, tm, an, (na, nb, nc));
        let jitter = 0.02 / (a0 * 2.0);
        for f in frac.iter_mut() {
            for x in f.iter_mut() {
                *x += rng.gen_range(-jitter..jitter);
            }
        }
        let full = Structure::new(lattice, species, frac).expect("consistent");
        SyntheticHost { ion, tm, an, full, ion_sites }
    }

    /// Push up to `hop_count` hops into a vacancy drawn among the ion sites, from the ion
    /// sites nearest to it, each with a log-normal barrier drawn from `rng`.
    fn push_hops(&self, rng: &mut ChaCha8Rng, hop_count: usize, host_no: usize, seed: u64, out: &mut Vec<Candidate>) {
        let full = &self.full;
        // 28 structural groups: transition metal x anion.
        let group = format!("{}-{} ROCKSALT-LIKE", self.tm, self.an);
        let vac = self.ion_sites[rng.gen_range(0..self.ion_sites.len())];
        // Nearest ion sites to the vacancy, as hop starts.
        let mut starts: Vec<(f64, usize)> = self
            .ion_sites
            .iter()
            .filter(|&&s| s != vac)
            .map(|&s| (full.lattice.min_image_distance(full.frac[s], full.frac[vac]), s))
            .collect();
        starts.sort_by(|a, b| a.0.total_cmp(&b.0));
        for (h, &(_, s)) in starts.iter().take(hop_count).enumerate() {
            let keep: Vec<usize> = (0..full.len()).filter(|&k| k != s && k != vac).collect();
            let host = Structure {
                lattice: full.lattice.clone(),
                species: keep.iter().map(|&k| full.species[k]).collect(),
                frac: keep.iter().map(|&k| full.frac[k]).collect(),
            };
            let initial = full.frac[s];
            let final_site = crate::import::nearest_image(&full.lattice, initial, full.frac[vac]);
            let em = (rng.gen_range(-1.5f64..1.0) + rng.gen_range(-0.5f64..0.5)).exp();
            let sid = format!("host{host_no:06}_hop{h:02}");
            let mut r = synthetic_record(&sid, &group, seed, self.ion, initial, final_site, em);
            finish_record(&mut r, &host);
            out.push(Candidate { record: r, host, origin: format!("synthetic host {host_no} hop {h}") });
        }
    }
}

/// The sites of an `na x nb x nc` supercell of the rock-salt cell: species, fractional
/// coordinates, and the indices of the ion sites (ions on even cation planes, the transition
/// metal on odd ones).
fn layered_rocksalt(ion: Element, tm: Element, an: Element, (na, nb, nc): (usize, usize, usize)) -> (Vec<Element>, Vec<Vec3>, Vec<usize>) {
    let cat: [Vec3; 4] = [[0.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.5, 0.0, 0.5], [0.0, 0.5, 0.5]];
    let mut species = Vec::new();
    let mut frac = Vec::new();
    let mut ion_sites = Vec::new();
    for i in 0..na {
        for j in 0..nb {
            for k in 0..nc {
                for (m, c) in cat.iter().enumerate() {
                    let f = [(c[0] + i as f64) / na as f64, (c[1] + j as f64) / nb as f64, (c[2] + k as f64) / nc as f64];
                    let g = [(c[0] + 0.5 + i as f64) / na as f64, (c[1] + j as f64) / nb as f64, (c[2] + k as f64) / nc as f64];
                    // Layered ordering: ions on even cation planes, TM on odd ones.
                    let is_ion = (m + k) % 2 == 0;
                    if is_ion {
                        ion_sites.push(species.len());
                    }
                    species.push(if is_ion { ion } else { tm });
                    frac.push(f);
                    species.push(an);
                    frac.push(g);
                }
            }
        }
    }
    (species, frac, ion_sites)
}

/// The record of synthetic hop `sid` (before [`finish_record`]).
fn synthetic_record(sid: &str, group: &str, seed: u64, ion: Element, initial: Vec3, final_site: Vec3, em: f64) -> HopRecord {
    HopRecord {
        method: Method { code: Some("synthetic".into()), converged: Some(true), ..Default::default() },
        material: Material { sys_name: Some(sid.to_string()), class_label: Some(group.to_string()), group: Some(group.to_string()), ..Default::default() },
        provenance: Provenance {
            dataset: "synthetic".into(),
            dataset_version: format!("seed {seed}"),
            source_file: "(generated)".into(),
            source_record_id: sid.to_string(),
            importer: "synthetic".into(),
            hopdb_version: crate::HOPDB_VERSION.into(),
            imported_at: crate::record::now(),
            ..Default::default()
        },
        ..HopRecord::new(record_id("synthetic", sid), ion, initial, final_site, em, Fidelity::Bvse)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stream_yields_the_corpus_in_order() {
        let corpus = bvse_like_corpus(23, 5);
        let streamed: Vec<Candidate> = bvse_like_stream(23, 5).collect();
        assert_eq!(corpus.len(), 23);
        assert_eq!(streamed.len(), 23);
        for (a, b) in corpus.iter().zip(&streamed) {
            assert_eq!(a.record.id, b.record.id);
            assert_eq!(a.record.em, b.record.em);
            assert_eq!(a.host, b.host);
        }
        assert_eq!(bvse_like_stream(0, 5).count(), 0);
    }
}
