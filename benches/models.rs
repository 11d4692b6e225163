//! Model fitting benchmarks: random forest and gradient boosting with their default
//! hyperparameters on 559 rows (the size of the paper's training partition).
//!
//! Uses the real `hop-v1` descriptors of the devi2025 training partition when
//! `../shared/data/devi2025` exists (set `HOPDB_BENCH_SYNTHETIC=1` to force synthetic data),
//! else 559 x 150 synthetic features. Run with `cargo bench --bench models`.

use criterion::{criterion_group, criterion_main, Criterion};
use hopdb::model::{self, Kind, Params};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

const DEVI_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/devi2025");

/// 559 x 150 synthetic rows: a smooth function of 5 features plus noise features.
fn synthetic() -> (Vec<Vec<f64>>, Vec<f64>, String) {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let x: Vec<Vec<f64>> = (0..559).map(|_| (0..150).map(|_| rng.gen_range(0.0..3.0)).collect()).collect();
    let y = x.iter().map(|r| 0.2 + r[0].sin().abs() + 0.3 * r[1] * r[2] / (1.0 + r[3]) + 0.1 * r[4]).collect();
    (x, y, "synthetic 559 x 150".to_string())
}

/// The devi2025 training partition's descriptors and barriers.
fn real() -> Option<(Vec<Vec<f64>>, Vec<f64>, String)> {
    if std::env::var_os("HOPDB_BENCH_SYNTHETIC").is_some() || !Path::new(DEVI_DIR).join("band_train.json").is_file() {
        return None;
    }
    let dir = tempfile::tempdir().ok()?;
    let store = hopdb::store::Store::create(dir.path().join("db")).ok()?;
    let (c, r) = hopdb::import::devi::read_dir(Path::new(DEVI_DIR), &store.class_groups().ok()?).ok()?;
    hopdb::import::commit(&store, c, r, &Default::default(), "bench").ok()?;
    let ids = store.ids_where("partition", "train").ok()?;
    let fm = hopdb::features::compute_many(&store, &ids).ok()?;
    let y = ids.iter().map(|id| store.record(id).map(|r| r.em)).collect::<Result<Vec<_>, _>>().ok()?;
    let label = format!("devi2025 train {} x {}", fm.rows.len(), fm.names.len());
    Some((fm.rows, y, label))
}

fn bench_models(c: &mut Criterion) {
    let (x, y, label) = real().unwrap_or_else(synthetic);
    eprintln!("data: {label}");
    let mut g = c.benchmark_group("models");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    for kind in [Kind::RandomForest, Kind::BoostedTrees] {
        let p = Params::default_for(kind);
        eprintln!("{p}");
        g.bench_function(format!("fit_{kind}"), |b| b.iter(|| model::fit(&x, &y, &p).unwrap()));
    }
    let m = model::fit(&x, &y, &Params::default_for(Kind::RandomForest)).unwrap();
    g.bench_function("predict_random_forest_559", |b| b.iter(|| model::predict(&m, &x).unwrap()));
    let grid_point: BTreeMap<String, String> = [("trees", "300")].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let p = Params::parse(Kind::RandomForest, &grid_point).unwrap();
    g.bench_function("fit_random_forest_300_trees", |b| b.iter(|| model::fit(&x, &y, &p).unwrap()));
    g.finish();
}

criterion_group!(benches, bench_models);
criterion_main!(benches);
