//! Criterion benchmarks of hop descriptors: the full `hop-v1` vectors of the 619 devi2025 hops
//! (`compute_many`, parallel), and the same read back from the store cache.

use criterion::{criterion_group, criterion_main, Criterion};
use hopdb::features::{cached_matrix, compute_many, FeatureSet};
use hopdb::store::Store;
use std::path::Path;

fn bench_features(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::create(dir.path().join("s")).expect("store");
    let data = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/devi2025"));
    let (cands, rej) = hopdb::import::devi::read_dir(data, &store.class_groups().expect("classes")).expect("read devi2025");
    hopdb::import::commit(&store, cands, rej, &Default::default(), "bench").expect("import");
    let ids: Vec<String> = store.records().map(|r| r.expect("record").id).collect();
    assert_eq!(ids.len(), 619);

    let mut g = c.benchmark_group("features");
    g.sample_size(10);
    g.bench_function("compute_many_619", |b| {
        b.iter(|| {
            let m = compute_many(&store, &ids).expect("descriptors");
            assert_eq!(m.rows.len(), 619);
        })
    });
    let set = FeatureSet::hop_v1();
    cached_matrix(&store, &ids, &set).expect("fill cache");
    g.bench_function("cached_matrix_619_warm", |b| {
        b.iter(|| {
            let m = cached_matrix(&store, &ids, &set).expect("cached");
            assert_eq!(m.rows.len(), 619);
        })
    });
    g.finish();
}

criterion_group!(benches, bench_features);
criterion_main!(benches);
