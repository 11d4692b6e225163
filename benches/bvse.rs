//! Criterion benchmarks of the BVSE engine: the time per hop (oxidation states, set-up and
//! NEB) on real hops of ~100-atom hosts from the devi2025 dataset, for both recipes, plus the
//! oxidation-state analysis alone.
//!
//! Before criterion runs, a summary prints the median per-hop time of each recipe over the
//! benchmark hops and where the time goes. For the ratio to the Python reference on the same
//! hops, either set `HOPDB_BVSE_PYTHON` to a Python with `ions`, ASE and pymatgen installed
//! (the bench then runs `scripts/bvse_reference.py` on these hops itself, so both are timed in
//! the same run), or set `HOPDB_BVSE_REFERENCE` to a saved output of that script.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use hopdb::bvse::{self, Recipe};
use hopdb::element::Element;
use hopdb::structure::{Structure, Vec3};
use serde_json::Value;
use std::hint::black_box;
use std::path::PathBuf;
use std::time::Instant;

/// jids of devi2025 training hops with 94-112 host atoms that both recipes handle.
const JIDS: [i64; 6] = [2, 6, 24, 45, 69, 74];

struct Hop {
    jid: i64,
    name: String,
    ion: Element,
    host: Structure,
    initial: Vec3,
    final_: Vec3,
}

fn hops() -> Vec<Hop> {
    let path = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/devi2025/band_train.json"));
    let Ok(text) = std::fs::read_to_string(&path) else {
        eprintln!("bvse bench: {} not found; nothing to measure", path.display());
        return Vec::new();
    };
    let v: Value = serde_json::from_str(&text).expect("band_train.json parses");
    v.as_array()
        .expect("a list of records")
        .iter()
        .filter(|r| JIDS.contains(&r["jid"].as_i64().unwrap_or(-1)))
        .map(|r| {
            let band = hopdb::import::devi::jarvis_structure(&r["atoms"], "atoms").expect("structure");
            let (ion, host, initial, final_) = hopdb::import::devi::split_band(&band).expect("band");
            Hop { jid: r["jid"].as_i64().unwrap(), name: r["sys_name"].as_str().unwrap_or("").to_string(), ion, host, initial, final_ }
        })
        .collect()
}

fn run(h: &Hop, recipe: Recipe) -> f64 {
    let p = bvse::prepare_hop(&h.host, h.ion, h.initial, h.final_, recipe).expect("prepare");
    p.run().expect("neb").em
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// Median over hops of each hop's median time (ms) over `reps` runs.
fn median_per_hop(hops: &[Hop], recipe: Recipe, reps: usize) -> (f64, Vec<f64>) {
    let mut per_hop = Vec::new();
    for h in hops {
        let mut t: Vec<f64> = (0..reps)
            .map(|_| {
                let t0 = Instant::now();
                black_box(run(h, recipe));
                t0.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        per_hop.push(median(&mut t));
    }
    (median(&mut per_hop.clone()), per_hop)
}

/// Python timings of the benchmark hops: a fresh run of the oracle when `HOPDB_BVSE_PYTHON`
/// is set, else a saved output named by `HOPDB_BVSE_REFERENCE`.
fn python_reference() -> Option<Vec<Value>> {
    let path = if let Ok(py) = std::env::var("HOPDB_BVSE_PYTHON") {
        let out = std::env::temp_dir().join(format!("hopdb_bvse_bench_{}.json", std::process::id()));
        let jids = JIDS.iter().map(|j| j.to_string()).collect::<Vec<_>>().join(",");
        let data = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/devi2025/band_train.json");
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/bvse_reference.py");
        let status = std::process::Command::new(py).args([script, "--data", data, "--jids", &jids, "--out"]).arg(&out).status().ok()?;
        if !status.success() {
            eprintln!("bvse bench: the Python reference failed ({status})");
            return None;
        }
        out
    } else {
        PathBuf::from(std::env::var("HOPDB_BVSE_REFERENCE").ok()?)
    };
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

fn summary(hops: &[Hop]) {
    let python: Vec<Value> = python_reference().unwrap_or_default();
    for recipe in [Recipe::Ions, Recipe::Hopdb] {
        let (med, per_hop) = median_per_hop(hops, recipe, 15);
        eprintln!("bvse {}: median {med:.2} ms per hop over {} hops (oxidation states + set-up + NEB)", recipe.as_str(), hops.len());
        for (h, t) in hops.iter().zip(&per_hop) {
            eprintln!("  jid {:3} {:20} {:4} host atoms  {t:7.2} ms", h.jid, h.name, h.host.len());
        }
        // Where the time goes: oxidation states, the rest of the set-up, the NEB.
        let (mut t_ox, mut t_setup, mut t_neb) = (Vec::new(), Vec::new(), Vec::new());
        for h in hops {
            for _ in 0..5 {
                let mut s = h.host.clone();
                s.species.extend([h.ion, h.ion]);
                s.frac.extend([h.initial, h.final_]);
                let t0 = Instant::now();
                black_box(bvse::assign_oxidation_states(&s).ok());
                let t1 = Instant::now();
                let p = bvse::prepare_hop(&h.host, h.ion, h.initial, h.final_, recipe).expect("prepare");
                let t2 = Instant::now();
                black_box(p.run().expect("neb"));
                let t3 = Instant::now();
                t_ox.push((t1 - t0).as_secs_f64() * 1e3);
                t_setup.push(((t2 - t1).as_secs_f64() - (t1 - t0).as_secs_f64()).max(0.0) * 1e3);
                t_neb.push((t3 - t2).as_secs_f64() * 1e3);
            }
        }
        eprintln!(
            "  medians: oxidation states {:.2} ms, other set-up {:.2} ms, NEB {:.2} ms",
            median(&mut t_ox),
            median(&mut t_setup),
            median(&mut t_neb)
        );
        if recipe == Recipe::Ions && !python.is_empty() {
            let mut py: Vec<f64> = hops
                .iter()
                .filter_map(|h| python.iter().find(|r| r["jid"].as_i64() == Some(h.jid)).and_then(|r| r["seconds"].as_f64()))
                .map(|s| s * 1e3)
                .collect();
            if py.len() == hops.len() {
                let pm = median(&mut py);
                eprintln!("  ions (Python) on the same hops: median {pm:.0} ms per hop; hopdb is {:.0}x faster", pm / med);
            }
        }
    }
}

fn bench_bvse(c: &mut Criterion) {
    let hops = hops();
    if hops.is_empty() {
        return;
    }
    summary(&hops);
    let mut g = c.benchmark_group("bvse_hop");
    g.sample_size(20);
    for recipe in [Recipe::Ions, Recipe::Hopdb] {
        for h in &hops {
            g.bench_with_input(BenchmarkId::new(recipe.as_str(), &h.name), h, |b, h| b.iter(|| black_box(run(h, recipe))));
        }
    }
    g.finish();
    let mut g = c.benchmark_group("bvse_oxidation_states");
    g.sample_size(20);
    for h in &hops {
        let mut s = h.host.clone();
        s.species.push(h.ion);
        s.frac.push(h.initial);
        g.bench_with_input(BenchmarkId::from_parameter(&h.name), &s, |b, s| b.iter(|| black_box(bvse::assign_oxidation_states(s).ok())));
    }
    g.finish();
}

criterion_group!(benches, bench_bvse);
criterion_main!(benches);
