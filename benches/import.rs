//! Criterion benchmarks of imports: the 619-hop devi2025 dataset and a synthetic
//! BVSE-like corpus (120k records, the LiTraj nebBVSE122k size; set HOPDB_BENCH_N to change).

use criterion::{criterion_group, criterion_main, Criterion};
use std::path::PathBuf;

fn dataset() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/devi2025"))
}

fn bench_devi(c: &mut Criterion) {
    let mut g = c.benchmark_group("import");
    g.sample_size(10);
    g.bench_function("devi2025_619", |b| {
        b.iter_with_setup(
            || tempfile::tempdir().expect("tempdir"),
            |dir| {
                let run = hopdb::bench::import_devi(&dataset(), &dir.path().join("s")).expect("import");
                assert_eq!(run.records, 619);
            },
        )
    });
    g.finish();
}

fn bench_synthetic(c: &mut Criterion) {
    let n: usize = std::env::var("HOPDB_BENCH_N").ok().and_then(|s| s.parse().ok()).unwrap_or(120_000);
    let mut g = c.benchmark_group("import");
    g.sample_size(10);
    g.measurement_time(std::time::Duration::from_secs(30));
    g.bench_function(format!("synthetic_{n}"), |b| {
        b.iter_custom(|iters| {
            let mut total = std::time::Duration::ZERO;
            for i in 0..iters {
                let dir = tempfile::tempdir().expect("tempdir");
                let run = hopdb::bench::import_synthetic(n, i, &dir.path().join("s")).expect("import");
                eprintln!("synthetic {n}: {:.1} s, {:.0} records/s, {:.1} MiB on disk", run.seconds, run.rate(), run.bytes_on_disk as f64 / 1048576.0);
                total += std::time::Duration::from_secs_f64(run.seconds);
            }
            total
        })
    });
    g.finish();
}

criterion_group!(benches, bench_devi, bench_synthetic);
criterion_main!(benches);
