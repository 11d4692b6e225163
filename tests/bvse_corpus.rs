//! BVSE records in the store: `compute` for stored hops (linked records, idempotence,
//! all-or-nothing, bad input), the corpus (resumable, deterministic, atomic per batch), and
//! `compare` checked against an independent computation.

mod common;

use common::*;
use hopdb::bvse::corpus::{self, ComputeOptions, CorpusError, CorpusOptions, FailureReason};
use hopdb::bvse::Recipe;
use hopdb::element::Element;
use hopdb::record::Fidelity;
use hopdb::store::{Store, WriteSet};
use std::collections::BTreeMap;

/// A store with the devi2025 hops whose sys_name is in `names` (library import).
fn small_store(names: &[&str]) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::create(dir.path().join("s")).unwrap();
    let (c, e) = hopdb::import::devi::read_dir_with(&devi_dir(), &store.class_groups().unwrap(), false).unwrap();
    let c: Vec<_> = c.into_iter().filter(|c| names.contains(&c.record.material.sys_name.as_deref().unwrap_or(""))).collect();
    assert_eq!(c.len(), names.len(), "all named hops exist");
    hopdb::import::commit(&store, c, e, &Default::default(), "t").unwrap();
    (dir, store)
}

/// Hops that BVSE computes (oxides and fluorides of Li, Na, Mg, Ca, Zn).
const GOOD: [&str; 6] = ["Li2MnO3_4", "MgMnSiO4_pbnm_2", "a-MgV2O5", "Ca1.5Ti2F7_1", "KCrO2", "Cr2O4_Zn"];

fn bvse_ids(store: &Store) -> Vec<String> {
    store.ids_where("fidelity", "bvse").unwrap()
}

#[test]
fn compute_stores_linked_records_once() {
    let (_d, store) = small_store(&GOOD);
    let ids = hopdb::query::select_ids(&store, "SELECT id FROM hops WHERE fidelity = 'dft'").unwrap();
    assert_eq!(ids.len(), GOOD.len());
    let rep = corpus::compute(&store, &ids, &ComputeOptions::default()).unwrap();
    assert_eq!(rep.stored.len(), GOOD.len(), "{:?}", rep.failures);
    assert!(rep.failures.is_empty());
    for id in &ids {
        let parent = store.record(id).unwrap();
        let b = store.record(&corpus::compute_id(id, Recipe::Hopdb)).unwrap();
        assert_eq!(b.fidelity, Fidelity::Bvse);
        assert_eq!(b.parent.as_deref(), Some(id.as_str()));
        assert_eq!(b.host, parent.host, "same host structure");
        assert_eq!((b.initial, b.final_site, b.ion), (parent.initial, parent.final_site, parent.ion));
        assert_eq!(b.provenance.dataset, corpus::DATASET);
        assert_eq!(b.provenance.importer, corpus::COMPUTE_IMPORTER);
        assert!(b.provenance.notes.as_deref().unwrap().contains(id));
        assert_eq!(b.method.code.as_deref(), Some("hopdb-bvse/hopdb"));
        let conv = b.method.converged.expect("converged is always set");
        assert_eq!(b.flags.contains(&corpus::NOT_CONVERGED_FLAG.to_string()), !conv, "flag iff not converged");
        assert!(b.em.is_finite() && b.em >= 0.0);
        // Same number as the engine gives directly.
        let host = store.structure(&parent.host).unwrap();
        let direct = hopdb::bvse::barrier_for_hop(&parent, &host, Recipe::Hopdb).unwrap();
        assert_eq!(b.em, direct.em);
        assert_eq!(conv, direct.converged);
    }
    // Queryable through HopQL.
    let t = hopdb::query::query(&store, "SELECT COUNT(*) FROM hops WHERE fidelity = 'bvse' AND source = 'hopdb-bvse' AND parent IS NOT NULL").unwrap();
    assert_eq!(t.rows[0][0], hopdb::table::Value::Int(GOOD.len() as i64));
    // Idempotent: nothing recomputed, nothing duplicated.
    let n = store.count();
    let again = corpus::compute(&store, &ids, &ComputeOptions::default()).unwrap();
    assert_eq!(again.stored.len(), 0);
    assert_eq!(again.already_stored, GOOD.len());
    assert_eq!(store.count(), n);
    // BVSE records selected by the query are skipped; the other recipe is a separate record.
    let all: Vec<String> = store.records().map(|r| r.unwrap().id).collect();
    let ions = corpus::compute(&store, &all, &ComputeOptions { recipe: Recipe::Ions, skip_failed: false }).unwrap();
    assert_eq!(ions.skipped_bvse, GOOD.len());
    assert_eq!(ions.stored.len(), GOOD.len());
    assert!(store.contains(&corpus::compute_id(&ids[0], Recipe::Ions)).unwrap());
}

#[test]
fn bad_input_names_the_record_and_writes_nothing() {
    // Real hops of the dataset: MgP2Ru2 has no anion, KSc2S4 no charge balance (it would need
    // Sc+3.5), O-FePO4_K puts K on top of a framework atom (bond-valence sum 20). MgPm2S4 (Pm
    // has no bond-valence parameters) and MgTb2Se4 (no tabulated Mg-Se softBV pair) work,
    // through the documented fallbacks, and say so.
    let (_d, store) = small_store(&["Li2MnO3_4", "MgP2Ru2", "KSc2S4", "O-FePO4_K", "MgPm2S4", "MgTb2Se4"]);
    // A hop whose endpoints coincide (cannot be imported; written directly as a damaged record).
    let good = store.record("devi2025:Li2MnO3_4").unwrap();
    let host = store.structure(&good.host).unwrap();
    let mut bad = good.clone();
    bad.id = "test:coincident".into();
    bad.final_site = bad.initial;
    let mut ws = WriteSet::new("test", "damaged record");
    ws.insert_record(&bad, &host);
    store.commit(ws).unwrap();
    let n = store.count();
    let cases = [
        ("devi2025:MgP2Ru2", FailureReason::NoAnion, "no anion"),
        ("devi2025:KSc2S4", FailureReason::NoChargeBalance, "Sc{+1,+2,+3}"),
        ("devi2025:O-FePO4_K", FailureReason::NoOxidationState, "no plausible oxidation state for K"),
        ("test:coincident", FailureReason::CoincidentEndpoints, "coincide"),
    ];
    for (id, reason, word) in cases {
        let ids = vec!["devi2025:Li2MnO3_4".to_string(), id.to_string()];
        match corpus::compute(&store, &ids, &ComputeOptions::default()) {
            Err(CorpusError::Failed { failures, .. }) => {
                assert_eq!(failures.len(), 1);
                assert_eq!(failures[0].id, id);
                assert_eq!(failures[0].reason, reason);
                let msg = CorpusError::Failed { selected: 2, failures: failures.clone() }.to_string();
                assert!(msg.contains(id) && msg.contains(word), "{msg}");
            }
            other => panic!("{id}: expected a failure, got {other:?}"),
        }
        assert_eq!(store.count(), n, "nothing written for {id}");
    }
    // The CLI: non-zero exit, the record named, nothing written.
    drop(store);
    let db = _d.path().join("s");
    let db = db.to_string_lossy();
    let r = run_raw(&["--db", &db, "bvse", "compute", "--from", "SELECT * FROM hops WHERE sys_name = 'KSc2S4' OR sys_name = 'Li2MnO3_4'"]);
    let err = r.err();
    assert_contains_all(&err, &["devi2025:KSc2S4", "no charge balance", "nothing was written"], "bvse compute stderr");
    let r = run_raw(&["--db", &db, "bvse", "compute", "--from", "SELECT * FROM hops WHERE id = 'test:coincident'"]);
    assert_contains_all(&r.err(), &["test:coincident", "coincident endpoints"], "bvse compute stderr");
    // With --skip-failed the others are stored and the failures counted by reason.
    let r = run_raw(&["--db", &db, "bvse", "compute", "--skip-failed", "--from", "SELECT * FROM hops", "--format", "json"]);
    let v = r.json();
    assert_eq!(v["stored"].as_array().unwrap().len(), 3);
    assert_eq!(v["failures"].as_array().unwrap().len(), 4);
    let store = Store::open(_d.path().join("s")).unwrap();
    assert_eq!(store.count(), n + 3);
    // The fallbacks are flagged and described, so queries can leave them out.
    let tb = store.record(&corpus::compute_id("devi2025:MgTb2Se4", Recipe::Hopdb)).unwrap();
    assert!(tb.flags.contains(&corpus::SOFTBV_FALLBACK_FLAG.to_string()), "{:?}", tb.flags);
    assert!(tb.provenance.notes.as_deref().unwrap().contains("softBV fallback Mg+2-Se-2 from Mg+2-S-2"), "{:?}", tb.provenance.notes);
    let pm = store.record(&corpus::compute_id("devi2025:MgPm2S4", Recipe::Hopdb)).unwrap();
    assert!(!pm.flags.contains(&corpus::SOFTBV_FALLBACK_FLAG.to_string()), "{:?}", pm.flags);
    drop(store);
    let clean = run_raw(&["--db", &db, "query", "SELECT COUNT(*) AS n FROM hops WHERE fidelity = 'bvse' AND NOT flags HAS 'softbv-fallback'", "--format", "csv"]).ok();
    assert_eq!(clean.lines().nth(1), Some("2"), "{clean}");
}

fn opts(target: usize, batch: usize) -> CorpusOptions {
    CorpusOptions {
        target,
        batch,
        seed: 7,
        strains: vec![1.0, 0.96],
        ions: ["Li", "Na", "Mg"].iter().map(|s| Element::from_symbol(s).unwrap()).collect(),
        ..Default::default()
    }
}

/// Every corpus record's id with its barrier and converged flag.
fn corpus_records(store: &Store) -> BTreeMap<String, (f64, Option<bool>, String)> {
    bvse_ids(store)
        .into_iter()
        .map(|id| {
            let r = store.record(&id).unwrap();
            (id, (r.em, r.method.converged, r.provenance.imported_at.clone()))
        })
        .collect()
}

#[test]
fn corpus_is_resumable_deterministic_and_linked() {
    let names = ["Li2MnO3_4", "a-MgV2O5", "Ca1.5Ti2F7_1"];
    // One uninterrupted run.
    let (_d1, full) = small_store(&names);
    let one = corpus::corpus(&full, &opts(40, 16)).unwrap();
    assert_eq!(one.corpus_records, 40, "{one:?}");
    assert_eq!(one.stored, 40);
    let reference = corpus_records(&full);
    assert_eq!(reference.len(), 40);
    // Interrupted: a smaller target first (other batch sizes), then the larger one.
    let (_d2, store) = small_store(&names);
    let first = corpus::corpus(&store, &opts(15, 4)).unwrap();
    assert_eq!(first.stored, 15);
    let before = corpus_records(&store);
    let failed_first: usize = first.failed.values().sum();
    let second = corpus::corpus(&store, &opts(40, 9)).unwrap();
    assert_eq!(second.already_stored, 15, "finished hops are not recomputed");
    assert_eq!(second.already_failed, failed_first, "remembered failures are not recomputed");
    assert_eq!(second.stored, 25);
    assert_eq!(second.computed + first.computed, one.computed, "exactly the uninterrupted run's work");
    let after = corpus_records(&store);
    let ids: Vec<&String> = after.keys().collect();
    assert_eq!(ids, reference.keys().collect::<Vec<_>>(), "same ids as one uninterrupted run");
    for (id, (em, conv, _)) in &after {
        assert_eq!((em, conv), (&reference[id].0, &reference[id].1), "{id}");
    }
    for (id, v) in &before {
        assert_eq!(&after[id].2, &v.2, "{id} was not rewritten");
    }
    // A third run with the same target does nothing.
    let third = corpus::corpus(&store, &opts(40, 9)).unwrap();
    assert_eq!((third.computed, third.stored, third.corpus_records), (0, 0, 40));
    // Records are linked to their parent record and structure, and consistent.
    let parents = corpus::parents(&store).unwrap();
    for id in after.keys() {
        let r = store.record(id).unwrap();
        assert_eq!(r.fidelity, Fidelity::Bvse);
        assert_eq!(r.provenance.importer, corpus::CORPUS_IMPORTER);
        let p = store.record(r.parent.as_deref().unwrap()).unwrap();
        assert_eq!(p.fidelity, Fidelity::Dft);
        assert!(parents.iter().any(|q| q.id.0 == r.provenance.source_sha256 && q.record_id == p.id), "{id}: parent structure");
        assert!(r.method.converged.is_some());
        assert_eq!(r.flags.contains(&corpus::NOT_CONVERGED_FLAG.to_string()), r.method.converged == Some(false));
        assert!(id.starts_with(&format!("hopdb-bvse:c-{}-", r.ion.symbol())));
        // Indexes follow the records.
        assert!(store.ids_where("ion", r.ion.symbol()).unwrap().contains(id));
    }
    // A different seed orders the work differently.
    let (_d3, other) = small_store(&names);
    corpus::corpus(&other, &CorpusOptions { seed: 8, ..opts(40, 16) }).unwrap();
    assert_ne!(corpus_records(&other).keys().collect::<Vec<_>>(), ids);
}

#[test]
fn corpus_batches_are_atomic() {
    let names = ["Li2MnO3_4", "a-MgV2O5"];
    let (_d, store) = small_store(&names);
    let n0 = store.count();
    let mut calls = 0;
    let mut refused: Vec<String> = Vec::new();
    let res = corpus::corpus_with_hook(&store, &opts(30, 6), &mut |ids: &[String]| {
        calls += 1;
        if calls == 2 {
            refused = ids.to_vec();
            return Err(CorpusError::Invalid("interrupted".into()));
        }
        Ok(())
    });
    assert!(res.is_err());
    let stored = bvse_ids(&store);
    assert!(!stored.is_empty() && stored.len() <= 6, "only the first batch: {}", stored.len());
    assert_eq!(store.count(), n0 + stored.len());
    assert!(!refused.is_empty());
    for id in &refused {
        assert!(!store.contains(id).unwrap(), "{id} of the refused batch was written");
        assert!(corpus::remembered_failure(&store, id).unwrap().is_none());
    }
    // The audit log has one entry per committed batch.
    let batches = store.audit_log().unwrap().iter().filter(|e| e.op == "bvse-corpus").count();
    assert_eq!(batches, 1);
    // Resuming completes the same corpus as an uninterrupted run.
    corpus::corpus(&store, &opts(30, 6)).unwrap();
    let (_d2, full) = small_store(&names);
    corpus::corpus(&full, &opts(30, 30)).unwrap();
    assert_eq!(bvse_ids(&store), bvse_ids(&full));
}

fn pearson_naive(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len() as f64;
    let (sx, sy) = (x.iter().sum::<f64>(), y.iter().sum::<f64>());
    let sxy: f64 = x.iter().zip(y).map(|(a, b)| a * b).sum();
    let (sxx, syy) = (x.iter().map(|a| a * a).sum::<f64>(), y.iter().map(|b| b * b).sum::<f64>());
    (n * sxy - sx * sy) / ((n * sxx - sx * sx).sqrt() * (n * syy - sy * sy).sqrt())
}

/// Average ranks by counting (O(n^2)): rank = #smaller + (#equal + 1) / 2.
fn ranks_naive(x: &[f64]) -> Vec<f64> {
    x.iter()
        .map(|a| {
            let less = x.iter().filter(|b| *b < a).count() as f64;
            let eq = x.iter().filter(|b| *b == a).count() as f64;
            less + (eq + 1.0) / 2.0
        })
        .collect()
}

#[test]
fn compare_matches_an_independent_computation() {
    let (_d, store) = devi_store();
    let ids = hopdb::query::select_ids(&store, "SELECT * FROM hops WHERE ion = 'Li' OR ion = 'Na'").unwrap();
    let rep = corpus::compute(&store, &ids, &ComputeOptions { skip_failed: true, ..Default::default() }).unwrap();
    assert!(rep.stored.len() > 30, "{}", rep.stored.len());
    let rows = corpus::compare(&store, None).unwrap();
    assert_eq!(rows.len(), 2);
    let mut all = (vec![], vec![]);
    let mut conv = (vec![], vec![]);
    for r in store.records().map(|r| r.unwrap()).filter(|r| r.fidelity == Fidelity::Bvse) {
        let p = store.record(r.parent.as_ref().unwrap()).unwrap();
        // A derived record reads like its parent.
        assert!(p.material.sys_name.is_some());
        assert_eq!((&r.material.sys_name, &r.material.path_label, &r.material.group), (&p.material.sys_name, &p.material.path_label, &p.material.group));
        all.0.push(r.em);
        all.1.push(p.em);
        if r.method.converged == Some(true) {
            conv.0.push(r.em);
            conv.1.push(p.em);
        }
    }
    for (row, (x, y)) in rows.iter().zip([&all, &conv]) {
        assert_eq!(row.n, x.len());
        assert!((row.pearson - pearson_naive(x, y)).abs() < 1e-9, "{row:?}");
        assert!((row.spearman - pearson_naive(&ranks_naive(x), &ranks_naive(y))).abs() < 1e-9, "{row:?}");
        let mae = x.iter().zip(y.iter()).map(|(a, b)| (a - b).abs()).sum::<f64>() / x.len() as f64;
        assert!((row.mae - mae).abs() < 1e-12);
    }
    assert_eq!(rows[0].subset, "all");
    assert_eq!(rows[1].subset, "converged");
    assert_eq!(rows[0].n, rep.stored.len());
    assert_eq!(rows[0].n - rows[1].n, rep.not_converged);
    // The CLI gives the same numbers.
    drop(store);
    let db = _d.path().join("s");
    let v = run_raw(&["--db", &db.to_string_lossy(), "bvse", "compare", "--format", "json"]).json();
    assert_eq!(v["agreement"][0]["n"].as_u64().unwrap() as usize, rows[0].n);
    assert!((v["agreement"][0]["pearson"].as_f64().unwrap() - rows[0].pearson).abs() < 1e-12);
    // Coverage: the Li and Na hops that got a barrier, out of every stored hop.
    let all = v["coverage"].as_array().unwrap().iter().find(|r| r["recipe"] == "hopdb" && r["group"] == "all").unwrap().clone();
    assert_eq!(all["hops"].as_u64().unwrap(), 619);
    assert_eq!(all["with_bvse"].as_u64().unwrap() as usize, rep.stored.len());
    let groups: u64 = v["coverage"].as_array().unwrap().iter().filter(|r| r["recipe"] == "hopdb" && r["group"] != "all").map(|r| r["with_bvse"].as_u64().unwrap()).sum();
    assert_eq!(groups as usize, rep.stored.len(), "the groups add up");
}

#[test]
fn cli_help_has_examples_and_corpus_runs() {
    for sub in ["compute", "corpus", "compare", "explain"] {
        let out = run_raw(&["bvse", sub, "--help"]).ok();
        assert!(out.contains("Example:"), "bvse {sub} --help: {out}");
    }
    assert!(run_raw(&["bench", "bvse", "--help"]).ok().contains("Example:"));
    let (d, store) = small_store(&["Li2MnO3_4"]);
    drop(store);
    let db = d.path().join("s");
    let db = db.to_string_lossy();
    // explain: by sys_name, the classes with their sums and the assignment.
    let e = run_raw(&["--db", &db, "bvse", "explain", "Li2MnO3_4", "--format", "json"]).json();
    assert_eq!(e["record"], "devi2025:Li2MnO3_4");
    assert_eq!(e["assignment"]["method"], "bond-valence");
    let classes = e["classes"].as_array().unwrap();
    assert!(classes.iter().any(|c| c["element"] == "Mn" && c["state"] == 4.0), "{e}");
    assert!(classes.iter().all(|c| c["bv_sum"].is_number() && !c["candidates"].as_array().unwrap().is_empty()));
    let table = run_raw(&["--db", &db, "bvse", "explain", "Li2MnO3_4"]).ok();
    assert!(table.contains("bond-valence") && table.contains("anion: kept at its common state O-2"), "{table}");
    let missing = run_raw(&["--db", &db, "bvse", "explain", "NoSuchHop"]);
    assert!(!missing.output.status.success());
    let v = run_raw(&["--db", &db, "bvse", "corpus", "--target", "5", "--ions", "Li,Na", "--strains", "1.0", "--format", "json"]).json();
    assert_eq!(v["stored"], 5);
    let csv = run_raw(&["--db", &db, "bvse", "corpus", "--target", "5", "--ions", "Li,Na", "--strains", "1.0", "--format", "csv"]).ok();
    assert!(csv.contains("already stored,5"), "{csv}");
    let err = run_raw(&["--db", &db, "bvse", "corpus", "--target", "5", "--ions", "Li,Xx"]).err();
    assert!(err.contains("Xx"), "{err}");
}

/// Descriptor experiment (not part of the suite: `cargo test --release --test bvse_corpus --
/// --ignored --nocapture`): grouped 5-fold CV MAE of the boosted trees (the settings TUNE
/// picks on the paper split) with the hop-v1 descriptors alone and with the BVSE barrier and
/// energy profile added (for hops BVSE cannot do: an availability column of 0 and sentinel values, since the models refuse NaN), over
/// three split seeds.
#[test]
#[ignore = "experiment, not a check: prints the CV MAE with and without BVSE descriptors (minutes)"]
fn bvse_descriptor_experiment() {
    use hopdb::model::{self, Kind, Params};
    let (_d, store) = devi_store();
    let all = hopdb::query::select_ids(&store, "SELECT * FROM hops WHERE fidelity = 'dft'").unwrap();
    corpus::compute(&store, &all, &ComputeOptions { skip_failed: true, ..Default::default() }).unwrap();
    let kv = [("trees", "500"), ("max_depth", "4"), ("learning_rate", "0.03"), ("colsample", "0.4")];
    let params = Params::parse(Kind::BoostedTrees, &kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()).unwrap();
    let mut base_maes = vec![];
    let mut aug_maes = vec![];
    for seed in 0..3 {
        let name = format!("cv{seed}");
        hopdb::query::query(&store, &format!("CREATE SPLIT {name} FROM (SELECT * FROM hops WHERE fidelity = 'dft') GROUPED KFOLD 5 SEED {seed}")).unwrap();
        let s = hopdb::split::load(&store, &name).unwrap();
        let mut ids = vec![];
        let mut fold_of = vec![];
        for k in 0..5 {
            for id in s.partition(&format!("fold{k}")) {
                ids.push(id.clone());
                fold_of.push(k);
            }
        }
        let d = hopdb::workflow::dataset(&store, &ids, &hopdb::workflow::default_feature_set(), &name).unwrap();
        let extra: Vec<Vec<f64>> = d
            .ids
            .iter()
            .map(|id| match store.get(&corpus::compute_id(id, Recipe::Hopdb)).unwrap() {
                Some(b) => {
                    let mut v = vec![1.0, b.em, (1.0 + b.em.max(0.0)).ln(), f64::from(u8::from(b.method.converged == Some(true)))];
                    v.extend((0..9).map(|k| b.extra.get(&format!("bvse_e{k:02}")).copied().unwrap_or(0.0)));
                    v
                }
                None => {
                    let mut v = vec![0.0, -1.0, -1.0, 0.0];
                    v.extend([0.0; 9]);
                    v
                }
            })
            .collect();
        for (aug, maes) in [(false, &mut base_maes), (true, &mut aug_maes)] {
            let x: Vec<Vec<f64>> = d.x.iter().zip(&extra).map(|(r, e)| if aug { r.iter().chain(e).copied().collect() } else { r.clone() }).collect();
            let mut fold_mae = vec![];
            for k in 0..5 {
                let tr: Vec<usize> = (0..x.len()).filter(|&i| fold_of[i] != k).collect();
                let te: Vec<usize> = (0..x.len()).filter(|&i| fold_of[i] == k).collect();
                let xt: Vec<Vec<f64>> = tr.iter().map(|&i| x[i].clone()).collect();
                let yt: Vec<f64> = tr.iter().map(|&i| d.y[i]).collect();
                let m = model::fit(&xt, &yt, &params).unwrap();
                let p = model::predict(&m, &te.iter().map(|&i| x[i].clone()).collect::<Vec<_>>()).unwrap();
                fold_mae.push(te.iter().zip(&p).map(|(&i, q)| (d.y[i] - q).abs()).sum::<f64>() / te.len() as f64);
            }
            let mae = fold_mae.iter().sum::<f64>() / 5.0;
            eprintln!("seed {seed} {}: grouped 5-fold CV MAE {mae:.4} eV", if aug { "hop-v1 + BVSE" } else { "hop-v1" });
            maes.push(mae);
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    eprintln!("mean over seeds: hop-v1 {:.4} eV, hop-v1 + BVSE {:.4} eV", mean(&base_maes), mean(&aug_maes));
}

#[test]
fn framework_swaps_keep_the_charges_and_the_framework() {
    let (_d, store) = small_store(&["Li2MnO3_4"]);
    let parents = corpus::parents(&store).unwrap();
    assert_eq!(parents.len(), 1);
    let p = &parents[0];
    let none = corpus::variant_swaps(p, &[]);
    assert_eq!(none, [corpus::Swap::identity()]);
    let swaps = corpus::variant_swaps(p, &[corpus::SwapKind::Framework, corpus::SwapKind::Anion]);
    let labels: Vec<String> = swaps.iter().map(|s| s.label()).collect();
    // Mn+4 -> the other +4 metals; O -> S, Se; and every metal swap with every anion swap.
    for want in ["", "Mn->Ti", "Mn->Zr", "O->S", "O->Se", "O->S,Mn->Ti"] {
        assert!(labels.contains(&want.to_string()), "{want} in {labels:?}");
    }
    assert!(!labels.iter().any(|l| l.contains("Mn->Mn") || l.contains("Li->")), "{labels:?}");
    let metals = corpus::SWAP_METALS.iter().find(|m| m.0 == 4).unwrap().1.len() - 1;
    assert_eq!(swaps.len(), 1 + metals + 2 + metals * 2);
    let sulfide = swaps.iter().find(|s| s.label() == "O->S").unwrap();
    assert!(sulfide.scale > 1.1 && sulfide.scale < 1.5, "S-Mn bonds are longer than O-Mn: {}", sulfide.scale);
    let fp = corpus::framework_fingerprint(&p.structure);
    for s in &swaps {
        let v = s.apply(&p.structure);
        // Charge neutral by construction, and the analysis agrees: the swapped metal keeps +4.
        let a = hopdb::bvse::analyze(&v, &Default::default()).outcome.unwrap_or_else(|e| panic!("{}: {e}", s.label()));
        let total: f64 = a.states.iter().sum();
        assert!(total.abs() < 1e-9, "{}: {total}", s.label());
        for (e, q) in v.species.iter().zip(&a.states) {
            if e.is_transition_metal() {
                assert_eq!(*q, 4.0, "{}", s.label());
            }
        }
        // Element swaps and strain leave the framework fingerprint alone.
        assert_eq!(corpus::framework_fingerprint(&corpus::strained(&v, 1.03)), fp, "{}", s.label());
    }
    // Main-group framework cations swap within their own list, and two swaps combine.
    let (_o, olivine) = small_store(&["MgMnSiO4_pbnm_2"]);
    let ol = corpus::variant_swaps(&corpus::parents(&olivine).unwrap()[0], &[corpus::SwapKind::Framework, corpus::SwapKind::Anion]);
    let ol: Vec<String> = ol.iter().map(|s| s.label()).collect();
    for want in ["Si->Ge", "Si->Sn", "Mn->Fe", "O->S", "Si->Ge,Mn->Fe", "O->S,Si->Ge"] {
        assert!(ol.contains(&want.to_string()), "{want} in {ol:?}");
    }
    assert!(!ol.iter().any(|l| l.contains("Si->Ti") || l.contains("Mg->")), "no main-group -> metal swaps, the mobile Mg stays: {ol:?}");
    // A different framework gets a different fingerprint.
    let (_e, other) = small_store(&["KCrO2"]);
    assert_ne!(corpus::framework_fingerprint(&corpus::parents(&other).unwrap()[0].structure), fp);
}

#[test]
fn broad_corpus_and_its_breadth() {
    let (_d, store) = small_store(&["Li2MnO3_4", "KCrO2"]);
    let narrow = CorpusOptions { strains: vec![1.0], ions: vec![Element::from_symbol("Li").unwrap()], ..opts(40, 16) };
    let broad = CorpusOptions { swaps: vec![corpus::SwapKind::Framework, corpus::SwapKind::Anion], ..narrow.clone() };
    let rep = corpus::corpus(&store, &broad).unwrap();
    assert_eq!(rep.corpus_records, 40);
    let recs: Vec<_> = bvse_ids(&store).iter().map(|id| store.record(id).unwrap()).collect();
    let swapped = recs.iter().filter(|r| r.provenance.notes.as_deref().unwrap().contains("framework swap")).count();
    assert!(swapped > 20, "most variants are swapped: {swapped} of 40");
    // Breadth, checked against a direct count.
    let b = corpus::breadth(&store, None).unwrap();
    assert_eq!(b.records, 40);
    let mut systems: Vec<String> = recs.iter().map(|r| r.elements.iter().map(|e| e.symbol()).collect::<Vec<_>>().join("-")).collect();
    systems.sort();
    systems.dedup();
    assert_eq!(b.chemical_systems, systems.len());
    assert!(b.chemical_systems > 5, "{b:?}");
    assert!(b.parent_structures <= 2 && b.frameworks <= b.parent_structures && b.frameworks >= 1, "{b:?}");
    assert_eq!((b.em.n, b.dft_em.n), (40, 2));
    assert!(b.em.min <= b.em.median && b.em.median <= b.em.max);
    // The narrow corpus of the same store and seed has other ids: the swap is part of the id.
    let ids_broad: std::collections::BTreeSet<String> = bvse_ids(&store).into_iter().collect();
    let (_n, store2) = small_store(&["Li2MnO3_4", "KCrO2"]);
    corpus::corpus(&store2, &narrow).unwrap();
    let ids_narrow: std::collections::BTreeSet<String> = bvse_ids(&store2).into_iter().collect();
    assert!(ids_narrow.len() <= 40);
    let b2 = corpus::breadth(&store2, None).unwrap();
    assert!(b2.chemical_systems < b.chemical_systems, "{} vs {}", b2.chemical_systems, b.chemical_systems);
    assert!(ids_broad.intersection(&ids_narrow).count() < ids_narrow.len());
    // The CLI: --from restricts the parents; breadth as JSON.
    drop(store);
    let db = _d.path().join("s");
    let db = db.to_string_lossy();
    let v = run_raw(&["--db", &db, "bvse", "breadth", "--format", "json"]).json();
    assert_eq!(v["chemical_systems"].as_u64().unwrap() as usize, b.chemical_systems);
    let v = run_raw(&[
        "--db", &db, "bvse", "corpus", "--target", "50", "--ions", "Li", "--strains", "1.0", "--swaps", "framework", "--from",
        "SELECT * FROM hops WHERE sys_name = 'KCrO2'", "--format", "json",
    ])
    .json();
    assert_eq!(v["parents"], 1);
    let bad = run_raw(&["--db", &db, "bvse", "corpus", "--target", "5", "--from", "SELECT * FROM hops WHERE sys_name = 'nothing'"]);
    assert!(!bad.output.status.success());
    assert!(bad.err().contains("no parent structures"), "{}", bad.err());
}

#[test]
fn retry_failed_recomputes_remembered_failures() {
    let (_d, store) = small_store(&["Li2MnO3_4"]);
    let li = CorpusOptions { strains: vec![1.0], ions: vec![Element::from_symbol("Li").unwrap()], ..opts(5, 5) };
    corpus::corpus(&store, &li).unwrap();
    let first: Vec<String> = bvse_ids(&store);
    assert_eq!(first.len(), 5);
    // As if an older engine had failed on one of them.
    let victim = first[0].clone();
    store.remove(std::slice::from_ref(&victim), "test: pretend it failed").unwrap();
    let mut ws = WriteSet::new("test", "old failure marker");
    ws.put_object(hopdb::store::Keyspace::CorpusFailure, &[&victim], &("no charge balance", "an older engine gave up"));
    store.commit(ws).unwrap();
    // A plain re-run skips it and stores the next item instead.
    let rep = corpus::corpus(&store, &li).unwrap();
    assert_eq!((rep.already_failed, rep.stored), (1, 1));
    assert!(!store.contains(&victim).unwrap());
    // --retry-failed computes it again; the success replaces the marker.
    let rep = corpus::corpus(&store, &CorpusOptions { retry_failed: true, target: 6, ..li.clone() }).unwrap();
    assert_eq!((rep.already_failed, rep.stored), (0, 1));
    assert!(store.contains(&victim).unwrap());
    assert!(corpus::remembered_failure(&store, &victim).unwrap().is_none());
}

/// Shards of the work list, computed without a store and merged from their Parquet parts,
/// give the single-process corpus: the same ids and barriers, and the same failure markers;
/// merging again adds nothing; a shard that stopped short is named.
#[test]
fn sharded_corpus_merges_to_the_single_process_corpus() {
    use hopdb::bvse::shard;
    let names = ["Li2MnO3_4", "a-MgV2O5", "Ca1.5Ti2F7_1", "KCrO2"];
    let (_d1, single) = small_store(&names);
    let o = opts(60, 16);
    corpus::corpus(&single, &o).unwrap();
    let reference = corpus_records(&single);
    assert_eq!(reference.len(), 60);
    let ref_failures = corpus::remembered_failures(&single).unwrap();

    // The parents as a shard reads them: a JSON-lines export of the store.
    let (_d2, store) = small_store(&names);
    let work = tempfile::tempdir().unwrap();
    let parents_file = work.path().join("parents.jsonl");
    let ids: Vec<String> = store.records().map(|r| r.unwrap().id).collect();
    let mut f = std::fs::File::create(&parents_file).unwrap();
    hopdb::export::export_jsonl(&store, ids, &mut f).unwrap();
    drop(f);
    let parents = shard::parents_from_export(&parents_file).unwrap();
    assert_eq!(parents.len(), corpus::parents(&store).unwrap().len());
    let out = work.path().join("parts");
    for i in 0..4 {
        let rep = shard::corpus_shard(&parents, &o, i, 4, &out).unwrap();
        assert!(rep.state.stored <= shard::shard_quota(60, 4));
    }
    // Rerunning a finished shard computes nothing.
    assert_eq!(shard::corpus_shard(&parents, &o, 1, 4, &out).unwrap().computed, 0);
    let rep = shard::import_parts(&store, &out).unwrap();
    assert_eq!((rep.records, rep.added), (60, 60), "{rep:?}");
    let merged = corpus_records(&store);
    assert_eq!(merged.keys().collect::<Vec<_>>(), reference.keys().collect::<Vec<_>>(), "same ids");
    for (id, (em, conv, _)) in &merged {
        assert_eq!((em, conv), (&reference[id].0, &reference[id].1), "{id}");
    }
    assert_eq!(corpus::remembered_failures(&store).unwrap(), ref_failures, "same failure markers");
    // Idempotent: importing the parts again adds nothing and writes nothing.
    let v = store.version().unwrap().seq;
    let again = shard::import_parts(&store, &out).unwrap();
    assert_eq!((again.added, again.failures_added), (0, 0));
    assert_eq!(store.version().unwrap().seq, v);
    // A larger target than the shards covered: the merge names a shard to rerun.
    let out2 = work.path().join("parts2");
    let small = CorpusOptions { target: 8, ..o.clone() };
    for i in 0..4 {
        shard::corpus_shard(&parents, &small, i, 4, &out2).unwrap();
    }
    let mut st: serde_json::Value = serde_json::from_slice(&std::fs::read(out2.join("shard-0000-of-0004.json")).unwrap()).unwrap();
    st["settings"]["target"] = serde_json::json!(300);
    std::fs::write(out2.join("shard-0000-of-0004.json"), serde_json::to_vec(&st).unwrap()).unwrap();
    let (_d3, other) = small_store(&names);
    let err = shard::import_parts(&other, &out2).unwrap_err().to_string();
    assert!(err.contains("rerun it with a larger --target"), "{err}");
    assert!(bvse_ids(&other).is_empty(), "nothing merged");
}
