//! Tests of the BVSE engine: parameter tables, analytic pair energies, forces against
//! numerical gradients, NEB on symmetric landscapes, oxidation states, hop enumeration,
//! error messages, and agreement with the `ions` Python package on real hops.

use hopdb::bvse::{self, BvseError, Field, NebOptions, Params, Recipe};
use hopdb::element::Element;
use hopdb::structure::{Lattice, Structure, Vec3};
use rand::{Rng, SeedableRng};
use serde_json::Value;
use std::path::PathBuf;

fn el(s: &str) -> Element {
    Element::from_symbol(s).unwrap()
}

fn devi_train() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/devi2025/band_train.json"))
}

/// (jid, sys_name, ion, host, initial, final) of every record of the devi2025 training file.
fn devi_hops() -> Vec<(i64, String, Element, Structure, Vec3, Vec3)> {
    let text = std::fs::read_to_string(devi_train()).expect("devi2025 band_train.json");
    let v: Value = serde_json::from_str(&text).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let band = hopdb::import::devi::jarvis_structure(&r["atoms"], "atoms").unwrap();
            let (ion, host, ini, fin) = hopdb::import::devi::split_band(&band).unwrap();
            (r["jid"].as_i64().unwrap(), r["sys_name"].as_str().unwrap().to_string(), ion, host, ini, fin)
        })
        .collect()
}

fn cubic(a: f64) -> Lattice {
    Lattice::new([[a, 0.0, 0.0], [0.0, a, 0.0], [0.0, 0.0, a]]).unwrap()
}

fn structure(l: Lattice, atoms: &[(&str, Vec3)]) -> Structure {
    Structure::new(l, atoms.iter().map(|a| el(a.0)).collect(), atoms.iter().map(|a| a.1).collect()).unwrap()
}

#[test]
fn bvse_crosscheck_against_ions() {
    let Ok(path) = std::env::var("HOPDB_BVSE_REFERENCE") else {
        eprintln!("HOPDB_BVSE_REFERENCE not set: skipping the table regeneration");
        return;
    };
    let refs: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let hops = devi_hops();
    let mut rows = Vec::new();
    for r in &refs {
        let jid = r["jid"].as_i64().unwrap();
        let (_, name, ion, host, ini, fin) = hops.iter().find(|h| h.0 == jid).unwrap();
        let t0 = std::time::Instant::now();
        let rust = bvse::prepare_hop(host, *ion, *ini, *fin, Recipe::Ions).and_then(|p| Ok((p.run()?, p)));
        let ms = t0.elapsed().as_secs_f64() * 1e3;
        rows.push((jid, name.clone(), r.clone(), rust, ms));
    }
    for (jid, name, r, rust, ms) in &rows {
        let py = r["barrier"].as_f64();
        match rust {
            Ok((res, p)) => {
                let pyox: Vec<i64> = r["oxidation_states"].as_array().map(|a| a.iter().map(|x| x.as_i64().unwrap()).collect()).unwrap_or_default();
                let same_ox = pyox.iter().zip(&p.oxidation_states).all(|(a, b)| *a == *b as i64) && pyox.len() == p.oxidation_states.len();
                println!(
                    "{jid:4} {name:24} py {:>8} rust {:8.4} diff {:>8} conv {} steps {:3} (py {} {}) ox {} sc {:?} {:.1} ms",
                    py.map_or("-".into(), |x| format!("{x:.4}")),
                    res.barrier_max_minus_min,
                    py.map_or("-".into(), |x| format!("{:+.4}", res.barrier_max_minus_min - x)),
                    res.band_converged,
                    res.steps,
                    r["converged"],
                    r["steps"],
                    if same_ox { "same" } else { "DIFF" },
                    p.supercell,
                    ms
                );
            }
            Err(e) => println!("{jid:4} {name:24} py {:?} rust error: {e}", r.get("error").or(r.get("barrier"))),
        }
        if let (Ok((_, p)), Some(pyox)) = (rust, r["oxidation_states"].as_array()) {
            let (_, _, ion, host, _, _) = hops.iter().find(|h| h.0 == *jid).unwrap();
            let mut diffs = Vec::new();
            for (i, (a, b)) in pyox.iter().zip(&p.oxidation_states).enumerate() {
                if a.as_i64().unwrap() != *b as i64 {
                    let e = if i < host.len() { host.species[i] } else { *ion };
                    diffs.push(format!("{i}:{e} py {a} rust {b}"));
                }
            }
            if !diffs.is_empty() {
                println!("      ox diffs ({:?} vs py {}): {}", p.basis, r["ox_mode"], diffs.join(", "));
            }
        }
    }
}
