//! Criterion benchmarks of HopQL on a synthetic store of 120k BVSE-like records (the LiTraj
//! nebBVSE122k scale; HOPDB_BENCH_N changes it): parse time, a selective index-backed query,
//! a full-scan GROUP BY aggregate, and the peak heap growth of the full scan at two store sizes
//! (it must not grow with the store).

use criterion::{criterion_group, criterion_main, Criterion};
use hopdb::store::Store;
use std::alloc::{GlobalAlloc, Layout, System};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Counts live and peak heap bytes.
struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = System.alloc(l);
        if !p.is_null() {
            let now = LIVE.fetch_add(l.size(), Ordering::Relaxed) + l.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        System.dealloc(p, l);
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const SELECTIVE: &str = "SELECT id, em FROM hops WHERE ion = 'Mg' AND em < 0.3";
/// The same selection with every field projected (each matching record decoded in full).
const SELECTIVE_STAR: &str = "SELECT * FROM hops WHERE ion = 'Mg' AND em < 0.3";
const SCAN: &str = "SELECT group, COUNT(*), AVG(em) FROM hops GROUP BY group";

/// A synthetic store of `n` records, built once and kept under target/ for later runs.
fn synthetic_store(n: usize) -> Store {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/target/bench-stores")).join(format!("synthetic-{n}"));
    if !dir.join("data").is_dir() {
        let _ = std::fs::remove_dir_all(&dir);
        let store = Store::create(&dir).expect("create");
        let cands = hopdb::synthetic::bvse_like_corpus(n, 42);
        hopdb::import::commit(&store, cands, vec![], &Default::default(), "bench").expect("import");
        drop(store);
    }
    Store::open(&dir).expect("open")
}

/// Peak heap growth (bytes) while running `src`: the highest live heap during the query minus
/// the live heap just before it, the median of three runs after three warm-up runs. The
/// warm-up fills sled's page cache (bounded by its capacity setting whatever the store size),
/// so what is left is the executor's working memory. On the 120k store the cache is still
/// filling during the second and third runs (growth 57.7, 2.6, 0.24 MiB on runs 1-3, then
/// 0.01-0.04 MiB, the same as plainly iterating the records).
fn peak_growth(store: &Store, src: &str) -> usize {
    for _ in 0..3 {
        drop(hopdb::query::exec::query(store, src).expect("query"));
    }
    let mut runs: Vec<usize> = (0..3)
        .map(|_| {
            let base = LIVE.load(Ordering::Relaxed);
            PEAK.store(base, Ordering::Relaxed);
            let t = hopdb::query::exec::query(store, src).expect("query");
            let peak = PEAK.load(Ordering::Relaxed);
            drop(t);
            peak.saturating_sub(base)
        })
        .collect();
    runs.sort_unstable();
    runs[1]
}

fn bench(c: &mut Criterion) {
    let n: usize = std::env::var("HOPDB_BENCH_N").ok().and_then(|s| s.parse().ok()).unwrap_or(120_000);
    let mut g = c.benchmark_group("hopql");
    g.bench_function("parse", |b| b.iter(|| hopdb::query::parse_statement(std::hint::black_box(SCAN)).expect("parses")));
    let store = synthetic_store(n);
    g.sample_size(20);
    g.bench_function(format!("selective_indexed_{n}"), |b| b.iter(|| hopdb::query::exec::query(&store, SELECTIVE).expect("query")));
    g.bench_function(format!("selective_indexed_star_{n}"), |b| b.iter(|| hopdb::query::exec::query(&store, SELECTIVE_STAR).expect("query")));
    g.sample_size(10);
    g.bench_function(format!("full_scan_group_by_{n}"), |b| b.iter(|| hopdb::query::exec::query(&store, SCAN).expect("query")));
    g.finish();
    // Memory: the full scan's peak heap growth on a store a quarter the size and on the full one.
    // Each store is measured with only itself open, so one store's cache cannot evict or
    // crowd the other's.
    drop(store);
    let m_small = peak_growth(&synthetic_store(n / 4), SCAN);
    let m_big = peak_growth(&synthetic_store(n), SCAN);
    eprintln!(
        "full-scan peak heap growth: {:.2} MiB at {} records, {:.2} MiB at {} records (ratio {:.2})",
        m_small as f64 / 1048576.0,
        n / 4,
        m_big as f64 / 1048576.0,
        n,
        m_big as f64 / m_small.max(1) as f64
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
