use hopdb::split::*;
use hopdb::store::Store;
use std::path::Path;

#[test]
fn explore() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::create(dir.path().join("db")).unwrap();
    let t = std::time::Instant::now();
    let (c, r) = hopdb::import::devi::read_dir(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/devi2025")), &store.class_groups().unwrap()).unwrap();
    hopdb::import::commit(&store, c, r, &Default::default(), "test").unwrap();
    eprintln!("import {:?}", t.elapsed());
    let recs: Vec<_> = store.records().collect::<std::result::Result<_, _>>().unwrap();
    let items = items_from_records(&recs, Stratum::Group);
    let keys: std::collections::BTreeSet<_> = recs.iter().map(host_key).collect();
    let comps: std::collections::BTreeSet<_> = items.iter().map(|i| i.host_key.clone()).collect();
    eprintln!("host keys {} components {}", keys.len(), comps.len());
    let hc = host_components(&recs);
    for r in &recs { if hc[&r.id] != host_key(r) { eprintln!("merged {} {} -> {}", r.id, host_key(r), hc[&r.id]); } }
    let sids: std::collections::BTreeSet<_> = recs.iter().map(|r| r.host.0.clone()).collect();
    eprintln!("sids {}", sids.len());
    let o = StratifiedOptions { seed: 42, ..Default::default() };
    for p in stratified_plan(&items, &o).unwrap() { eprintln!("{:28} n={:3} share={:.4} {:12} q={:.2} test={}", p.group, p.n, p.share, p.rule.as_str(), p.quota, p.test); }
    let s = stratified(&items, &o).unwrap();
    eprintln!("{} {} {}", s.train().len(), s.test().len(), s.fingerprint);
    eprintln!("{}", summary_table(&s, &store).unwrap().to_table());
    let ci = items_from_records(&recs, Stratum::Class);
    for p in stratified_plan(&ci, &o).unwrap() { eprintln!("{:28} n={:3} share={:.4} {:12} q={:.2} test={}", p.group, p.n, p.share, p.rule.as_str(), p.quota, p.test); }
    let g = grouped_kfold(&items, 5, 42).unwrap();
    for (k, v) in &g.partitions { eprintln!("{k} {}", v.len()); }
}
