//! Scenario A/B/C tagging: hand-made fixtures for each scenario and "none", and the tags of
//! the paper's 559/60 partition.

use hopdb::element::Element;
use hopdb::import::{finish_record, Candidate};
use hopdb::record::{Fidelity, HopRecord, Provenance};
use hopdb::scenario::{classify, Scenario};
use hopdb::store::Store;
use hopdb::structure::{Lattice, Structure, Vec3};
use std::collections::BTreeMap;
use std::path::Path;

fn el(s: &str) -> Element {
    Element::from_symbol(s).unwrap()
}

/// A 2x2x2 rock-salt supercell (a = `a0` per conventional cell) with cation `m` and the ion
/// on the given cation sites, anion `x`.
fn rocksalt(a0: f64, ion: &str, m: &str, x: &str, ion_sites: &[usize]) -> Structure {
    let l = Lattice::new([[2.0 * a0, 0.0, 0.0], [0.0, 2.0 * a0, 0.0], [0.0, 0.0, 2.0 * a0]]).unwrap();
    let base: [Vec3; 4] = [[0.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.5, 0.0, 0.5], [0.0, 0.5, 0.5]];
    let (mut sp, mut fr) = (vec![], vec![]);
    let mut cation = 0;
    for i in 0..2 {
        for j in 0..2 {
            for k in 0..2 {
                for b in base {
                    let f = [(b[0] + i as f64) / 2.0, (b[1] + j as f64) / 2.0, (b[2] + k as f64) / 2.0];
                    sp.push(if ion_sites.contains(&cation) { el(ion) } else { el(m) });
                    fr.push(f);
                    cation += 1;
                    sp.push(el(x));
                    fr.push([f[0] + 0.25, f[1], f[2]]);
                }
            }
        }
    }
    Structure::new(l, sp, fr).unwrap()
}

/// A hop of the ion from cation site `from` to the (vacant) cation site `to`.
fn hop(id: &str, full: &Structure, from: usize, to: usize) -> Candidate {
    let from_idx = 2 * from;
    let to_idx = 2 * to;
    let keep: Vec<usize> = (0..full.len()).filter(|&k| k != from_idx && k != to_idx).collect();
    let host = Structure { lattice: full.lattice.clone(), species: keep.iter().map(|&k| full.species[k]).collect(), frac: keep.iter().map(|&k| full.frac[k]).collect() };
    let initial = full.frac[from_idx];
    let final_site = hopdb::import::nearest_image(&full.lattice, initial, full.frac[to_idx]);
    let mut r = HopRecord {
        provenance: Provenance { dataset: "fx".into(), source_record_id: id.into(), ..Default::default() },
        ..HopRecord::new(format!("fx:{id}"), full.species[from_idx], initial, final_site, 0.5, Fidelity::Dft)
    };
    finish_record(&mut r, &host);
    Candidate { record: r, host, origin: id.into() }
}

#[test]
fn fixtures_cover_each_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::create(dir.path().join("s")).unwrap();
    // Li on cation sites 0..16 of 32 (the rest Co), O anions. Site 31 is the vacancy target;
    // sites 0..16 hold Li; hops from sites 1 and 2 into site 16 (a Co site turned vacant).
    let li_sites: Vec<usize> = (0..16).collect();
    let full = rocksalt(4.1, "Li", "Co", "O", &li_sites);
    // Replace cation 16 by Li so it can be the hop target (it is removed from the host).
    let mut full16 = full.clone();
    full16.species[32] = el("Li");
    let train_a = hop("train_path1", &full16, 1, 16);
    let test_a = hop("test_path2", &full16, 4, 16);
    // B: same framework with fewer Li (sites 8..16 lose their Li: they become vacancies).
    let mut fewer = full16.clone();
    let drop: Vec<usize> = (10..14).map(|c| 2 * c).collect();
    let keep: Vec<usize> = (0..fewer.len()).filter(|k| !drop.contains(k)).collect();
    fewer = Structure { lattice: fewer.lattice.clone(), species: keep.iter().map(|&k| fewer.species[k]).collect(), frac: keep.iter().map(|&k| fewer.frac[k]).collect() };
    // Indices shift: cation c < 10 keeps index 2c; cation 16 moves to 2*16 - 4.
    let mut test_b = hop("test_B", &fewer, 4, 16);
    {
        // Rebuild with the shifted target index explicitly.
        let from_idx = 8;
        let to_idx = 32 - 4;
        assert_eq!(fewer.species[to_idx], el("Li"));
        let keep: Vec<usize> = (0..fewer.len()).filter(|&k| k != from_idx && k != to_idx).collect();
        test_b.host = Structure { lattice: fewer.lattice.clone(), species: keep.iter().map(|&k| fewer.species[k]).collect(), frac: keep.iter().map(|&k| fewer.frac[k]).collect() };
        test_b.record.initial = fewer.frac[from_idx];
        test_b.record.final_site = hopdb::import::nearest_image(&fewer.lattice, fewer.frac[from_idx], fewer.frac[to_idx]);
        finish_record(&mut test_b.record, &test_b.host.clone());
    }
    // C: Na instead of Li, Ni instead of Co, lattice 5 % larger.
    let mut na = rocksalt(4.3, "Na", "Ni", "O", &li_sites);
    na.species[32] = el("Na");
    let test_c = hop("test_C", &na, 4, 16);
    // none: a different structure (CsCl-like cell).
    let l = Lattice::new([[4.0, 0.0, 0.0], [0.0, 4.0, 0.0], [0.0, 0.0, 8.0]]).unwrap();
    let other = Structure::new(l, vec![el("Li"), el("Li"), el("Cl"), el("Cl"), el("Mn")], vec![[0.0, 0.0, 0.0], [0.0, 0.0, 0.5], [0.5, 0.5, 0.25], [0.5, 0.5, 0.75], [0.5, 0.0, 0.25]]).unwrap();
    let keep = vec![2, 3, 4];
    let host = Structure { lattice: other.lattice.clone(), species: keep.iter().map(|&k| other.species[k]).collect(), frac: keep.iter().map(|&k| other.frac[k]).collect() };
    let mut test_none = hop("test_none", &full16, 2, 16);
    test_none.host = host.clone();
    test_none.record.initial = other.frac[0];
    test_none.record.final_site = other.frac[1];
    finish_record(&mut test_none.record, &host);

    let cands = vec![train_a, test_a, test_b, test_c, test_none];
    let rep = hopdb::import::commit(&store, cands, vec![], &Default::default(), "fixtures").unwrap();
    assert_eq!(rep.added.len(), 5, "{rep:?}");
    let train = vec!["fx:train_path1".to_string()];
    let test: Vec<String> = ["fx:test_path2", "fx:test_B", "fx:test_C", "fx:test_none"].iter().map(|s| s.to_string()).collect();
    let tags = classify(&store, &train, &test).unwrap();
    let got: Vec<Scenario> = tags.iter().map(|t| t.scenario).collect();
    assert_eq!(got, vec![Scenario::A, Scenario::B, Scenario::C, Scenario::None], "{tags:?}");
    assert_eq!(tags[0].evidence, train);
    assert!(tags[3].evidence.is_empty());
}

#[test]
fn paper_split_scenarios() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::create(dir.path().join("s")).unwrap();
    let data = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/devi2025"));
    let (c, e) = hopdb::import::devi::read_dir_with(data, &store.class_groups().unwrap(), false).unwrap();
    hopdb::import::commit(&store, c, e, &Default::default(), "t").unwrap();
    let train = store.ids_where("partition", "train").unwrap();
    let test = store.ids_where("partition", "test").unwrap();
    let tags = classify(&store, &train, &test).unwrap();
    assert_eq!(tags.len(), 60);
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for t in &tags {
        *counts.entry(t.scenario.as_str()).or_default() += 1;
        if t.scenario != Scenario::None {
            assert!(!t.evidence.is_empty());
        }
    }
    eprintln!("paper split scenarios: {counts:?}");
    for t in &tags {
        eprintln!("{} {} {:?}", t.id, t.scenario.as_str(), t.evidence.iter().take(3).collect::<Vec<_>>());
    }
    let tag = |id: &str| tags.iter().find(|t| t.id == id).unwrap();
    // Hand-checked cases: paths of one structure, charged/discharged pairs, substitutions.
    assert_eq!(tag("devi2025:LiAlPO4F_1").scenario, Scenario::A);
    assert_eq!(tag("devi2025:Li3OBr_1").evidence, vec!["devi2025:Li3OBr_2".to_string()]);
    assert_eq!(tag("devi2025:Co2O4_Li").scenario, Scenario::B);
    assert_eq!(tag("devi2025:Co2O4_Li").evidence, vec!["devi2025:LiCo2O4".to_string()]);
    assert_eq!(tag("devi2025:LiMn2O4").evidence, vec!["devi2025:Mn2O4_Li".to_string()]);
    assert_eq!(tag("devi2025:LiGe2P3O12").scenario, Scenario::C);
    assert_eq!(tag("devi2025:Na3OCl").scenario, Scenario::C);
    // Regression pin of the counts (docs/SCENARIOS.md quotes them).
    let pinned: BTreeMap<&str, usize> = [("A", 19), ("B", 11), ("C", 21), ("none", 9)].into_iter().collect();
    assert_eq!(counts, pinned);
}
