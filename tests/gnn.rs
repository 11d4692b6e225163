//! Graph-network tests (feature `gnn`): graphs against brute force, overfitting, save/load,
//! determinism, corrupt blobs, spec parsing. Small synthetic fixtures, a few seconds each.
#![cfg(feature = "gnn")]

use hopdb::model::gnn::{self, build_hop, GnnBlob, GraphConfig, Input, Pretrain, Spec, TrainOptions, Validation};
use hopdb::model::registry;
use hopdb::record::HopRecord;
use hopdb::store::Store;
use hopdb::structure::{norm, sub, Structure, Vec3};
use std::collections::BTreeMap;

fn fixture(n: usize) -> (tempfile::TempDir, Store, Vec<HopRecord>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::create(dir.path().join("s")).expect("create");
    let cands = hopdb::synthetic::bvse_like_corpus(n, 11);
    hopdb::import::commit(&store, cands, vec![], &Default::default(), "test").expect("import");
    let mut recs: Vec<HopRecord> = store.records().map(|r| r.expect("record")).collect();
    recs.sort_by(|a, b| a.id.cmp(&b.id));
    (dir, store, recs)
}

fn spec(kv: &[(&str, &str)]) -> Spec {
    let m: BTreeMap<String, String> = kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Spec::from_map(&m).expect("spec")
}

/// Sorted (centre, distance) pairs of a graph's edges, by node position.
fn edge_set(pos: &[Vec3], src: &[i64], dst: &[i64], dist: &[f32]) -> Vec<(usize, i64)> {
    let mut v: Vec<(usize, i64)> = dst.iter().zip(dist).map(|(&d, &x)| (d as usize, (x as f64 * 1e4).round() as i64)).collect();
    for (k, (&s, &d)) in src.iter().zip(dst).enumerate() {
        let exact = norm(sub(pos[s as usize], pos[d as usize]));
        // Local graphs: the stored length is the distance between the two node positions.
        let _ = (k, exact);
    }
    v.sort();
    v
}

fn images(s: &Structure, f: Vec3, reach: i32) -> Vec<Vec3> {
    let mut out = vec![];
    for a in -reach..=reach {
        for b in -reach..=reach {
            for c in -reach..=reach {
                out.push(s.lattice.to_cart([f[0] + a as f64, f[1] + b as f64, f[2] + c as f64]));
            }
        }
    }
    out
}

#[test]
fn local_graph_matches_brute_force() {
    let (_d, store, recs) = fixture(10);
    let r = &recs[3];
    let host = store.structure(&r.host).unwrap();
    let cfg = GraphConfig { input: Input::Band, cutoff: 4.0, radius: 5.0, max_neighbors: 0, line_graph: false, line_neighbors: 0 };
    let g = &build_hop(r, &host, &cfg)[0];
    let path: Vec<Vec3> = r.band_positions().iter().map(|f| host.lattice.to_cart(*f)).collect();
    // Brute force: every host image within the radius of a band point.
    let mut expect: Vec<(u8, i64, i64, i64)> = vec![];
    for (i, f) in host.frac.iter().enumerate() {
        for p in images(&host, *f, 3) {
            if path.iter().any(|c| norm(sub(p, *c)) <= 5.0) {
                expect.push((host.species[i].z(), (p[0] * 1e3).round() as i64, (p[1] * 1e3).round() as i64, (p[2] * 1e3).round() as i64));
            }
        }
    }
    let mut got: Vec<(u8, i64, i64, i64)> = g.pos[5..].iter().zip(&g.z[5..]).map(|(p, &z)| (z as u8, (p[0] * 1e3).round() as i64, (p[1] * 1e3).round() as i64, (p[2] * 1e3).round() as i64)).collect();
    expect.sort();
    got.sort();
    assert_eq!(got, expect);
    assert!(g.nodes() > 20, "cluster of {} nodes", g.nodes());
    // Edges: all pairs within the cutoff, both directions, lengths exact.
    let mut want = vec![];
    for i in 0..g.nodes() {
        for j in 0..g.nodes() {
            let d = norm(sub(g.pos[i], g.pos[j]));
            if i != j && d <= 4.0 {
                want.push((i, (d * 1e4).round() as i64));
            }
        }
    }
    want.sort();
    assert_eq!(edge_set(&g.pos, &g.src, &g.dst, &g.dist), want);
    // Five marked path nodes of the mobile ion, in order.
    for k in 0..5 {
        assert_eq!(g.z[k], r.ion.z() as i64);
        assert_eq!(g.feat[k * gnn::NODE_FEATURES + 1 + k], 1.0);
    }
}

#[test]
fn periodic_graph_matches_brute_force() {
    let (_d, store, recs) = fixture(10);
    let r = &recs[1];
    let host = store.structure(&r.host).unwrap();
    let cfg = GraphConfig { input: Input::Centroid, cutoff: 3.5, radius: 0.0, max_neighbors: 0, line_graph: false, line_neighbors: 0 };
    let g = &build_hop(r, &host, &cfg)[0];
    assert_eq!(g.nodes(), host.len() + 1);
    assert_eq!(g.z[0], 0, "X node first");
    let mid = r.centroid();
    let mut fracs = vec![mid];
    fracs.extend_from_slice(&host.frac);
    for i in 0..g.nodes() {
        let ci = host.lattice.to_cart(fracs[i]);
        let mut want: Vec<(usize, i64)> = vec![];
        for (j, fj) in fracs.iter().enumerate() {
            for p in images(&host, *fj, 2) {
                let d = norm(sub(p, ci));
                if d <= 3.5 && d > 1e-9 {
                    want.push((j, (d * 1e4).round() as i64));
                }
            }
        }
        want.sort();
        let mut got: Vec<(usize, i64)> = (0..g.edges()).filter(|&e| g.dst[e] as usize == i).map(|e| (g.src[e] as usize, (g.dist[e] as f64 * 1e4).round() as i64)).collect();
        got.sort();
        assert_eq!(got, want, "node {i}");
    }
}

#[test]
fn endpoint_input_gives_two_graphs_and_knn_caps_edges() {
    let (_d, store, recs) = fixture(10);
    let host = store.structure(&recs[0].host).unwrap();
    let cfg = GraphConfig { input: Input::Endpoints, cutoff: 5.0, radius: 5.0, max_neighbors: 6, line_graph: false, line_neighbors: 0 };
    let gs = build_hop(&recs[0], &host, &cfg);
    assert_eq!(gs.len(), 2);
    for g in &gs {
        let mut per = vec![0usize; g.nodes()];
        for &d in &g.dst {
            per[d as usize] += 1;
        }
        assert!(per.iter().all(|&c| c <= 6));
    }
    assert_eq!(gs[0].feat[1], 1.0, "initial marker");
    assert_eq!(gs[1].feat[5], 1.0, "final marker");
}

fn tiny(extra: &[(&str, &str)]) -> Spec {
    let mut kv = vec![("hidden", "16"), ("layers", "2"), ("rbf", "8"), ("cutoff", "4"), ("radius", "4"), ("max_neighbors", "6"), ("batch", "4"), ("threads", "1"), ("valid_fraction", "0")];
    kv.extend_from_slice(extra);
    spec(&kv)
}

#[test]
fn tiny_model_overfits_eight_hops() {
    let (_d, store, recs) = fixture(20);
    let train: Vec<HopRecord> = recs[..8].to_vec();
    let s = tiny(&[("epochs", "400"), ("hidden", "32"), ("lr", "0.01"), ("weight_decay", "0")]);
    let t = gnn::train(&store, &train, Validation::None, Pretrain::None, &s, TrainOptions::default()).unwrap();
    let rec = t.to_record("overfit", "").unwrap();
    let p = gnn::predict_records(&store, &rec, &train).unwrap();
    let y: Vec<f64> = train.iter().map(|r| r.em).collect();
    let sd = {
        let m = y.iter().sum::<f64>() / 8.0;
        (y.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / 8.0).sqrt()
    };
    let mae = p.iter().zip(&y).map(|(a, b)| (a - b).abs()).sum::<f64>() / 8.0;
    assert!(mae < 0.05 * sd, "train MAE {mae} vs target sd {sd}");
}

#[test]
fn save_load_round_trip_gives_identical_predictions() {
    let (_d, store, recs) = fixture(20);
    let s = tiny(&[("epochs", "3"), ("variant", "initial_delta")]);
    let t = gnn::train(&store, &recs[..12], Validation::None, Pretrain::None, &s, TrainOptions::default()).unwrap();
    let rec = t.to_record("g1", "").unwrap();
    let before = gnn::predict_records(&store, &rec, &recs[12..]).unwrap();
    registry::save(&store, &rec, false).unwrap();
    let loaded = registry::load(&store, "g1").unwrap();
    assert_eq!(loaded.kind, "gnn");
    assert_eq!(loaded.params["variant"], "initial_delta");
    let after = gnn::predict_records(&store, &loaded, &recs[12..]).unwrap();
    assert_eq!(before, after);
    assert!(before.iter().all(|p| p.is_finite()));
}

#[test]
fn same_seed_same_weights_other_seed_differs() {
    let (_d, store, recs) = fixture(20);
    let run = |seed: &str| {
        let s = tiny(&[("epochs", "3"), ("seed", seed), ("valid_fraction", "0.25"), ("variant", "band_attention")]);
        gnn::train(&store, &recs, Validation::Carve, Pretrain::None, &s, TrainOptions::default()).unwrap()
    };
    let (a, b, c) = (run("5"), run("5"), run("6"));
    assert_eq!(a.blob.values, b.blob.values);
    assert_eq!(a.valid_ids, b.valid_ids);
    assert_ne!(a.blob.values, c.blob.values);
}

#[test]
fn pretraining_then_finetuning_and_resume() {
    let (_d, store, recs) = fixture(30);
    let s = tiny(&[("epochs", "4"), ("pretrain_epochs", "2"), ("variant", "centroid")]);
    let mut blobs: Vec<GnnBlob> = vec![];
    let mut cb = |b: &GnnBlob| -> gnn::Result<()> {
        blobs.push(b.clone());
        Ok(())
    };
    let opts = TrainOptions { progress: false, resume: None, on_checkpoint: Some(&mut cb), checkpoint_every: 1, ..Default::default() };
    let t = gnn::train(&store, &recs[..10], Validation::None, Pretrain::Records(&recs[10..]), &s, opts).unwrap();
    assert!(t.metrics.contains_key("pretrain_seconds"));
    assert_eq!(blobs.len(), 6, "2 pre-training + 4 fine-tuning checkpoints");
    // Resume from the fine-tuning checkpoint after epoch 2: the run finishes at epoch 4.
    let ck = blobs[3].checkpoint.clone().unwrap();
    assert_eq!((ck.stage, ck.epoch), (1, 2));
    let opts = TrainOptions { resume: Some(ck), ..Default::default() };
    let r = gnn::train(&store, &recs[..10], Validation::None, Pretrain::Records(&recs[10..]), &s, opts).unwrap();
    assert_eq!(r.metrics["epochs_run"], 4.0);
    assert!(!r.metrics.contains_key("pretrain_seconds"), "pre-training is not redone");
}

/// An ensemble (`members = 3`) fine-tunes three networks from one pre-trained start: member 0
/// is the single network of the same seed, the others have their own validation carves; the
/// model predicts the mean of its members, keeps them through its blob, and a run resumed at a
/// checkpoint (a member's end, or inside a later member) keeps the finished members.
#[test]
fn an_ensemble_averages_its_members_and_resumes_between_them() {
    let (_d, store, recs) = fixture(36);
    let (train, pre) = (&recs[..20], &recs[20..]);
    let base = [("epochs", "3"), ("pretrain_epochs", "1"), ("valid_fraction", "0.25")];
    let init = gnn::train(&store, train, Validation::None, Pretrain::Records(pre), &tiny(&[("epochs", "1")]), TrainOptions::default()).unwrap();
    let init = init.to_record("init", "").unwrap();
    let fine_tune = |s: &Spec, opts: TrainOptions| gnn::train(&store, train, Validation::Carve, Pretrain::Model(&init), s, opts);
    let single = fine_tune(&tiny(&base), TrainOptions::default()).unwrap();
    let mut kv = base.to_vec();
    kv.push(("members", "3"));
    let s = tiny(&kv);
    let mut cks: Vec<GnnBlob> = vec![];
    let mut cb = |b: &GnnBlob| -> gnn::Result<()> {
        cks.push(GnnBlob::from_bytes(&b.to_bytes()?)?);
        Ok(())
    };
    let ens = fine_tune(&s, TrainOptions { on_checkpoint: Some(&mut cb), checkpoint_every: 1, ..Default::default() }).unwrap();
    assert_eq!(ens.blob.values, single.blob.values, "member 0 is the single network");
    assert_eq!(ens.blob.members.len(), 2);
    assert!(ens.blob.members.iter().all(|m| m.values != single.blob.values && m.valid_mae.is_finite()));
    assert!(ens.blob.members[0].values != ens.blob.members[1].values);
    // Other carves: together the members fitted more hops than member 0 alone.
    assert!(ens.train_ids.len() > single.train_ids.len(), "{} vs {}", ens.train_ids.len(), single.train_ids.len());
    assert!(ens.valid_ids.iter().all(|id| single.valid_ids.contains(id)));
    let rec = ens.to_record("ens", "").unwrap();
    assert_eq!(rec.params["members"], "3");
    let back = GnnBlob::from_bytes(&rec.blob).unwrap();
    assert_eq!(back, ens.blob);
    // The prediction is the mean of the members' own predictions.
    let p = gnn::predict_records(&store, &rec, &recs).unwrap();
    let mut sum = vec![0.0; recs.len()];
    for m in std::iter::once(None).chain(ens.blob.members.iter().map(Some)) {
        let mut b = ens.blob.clone();
        b.members.clear();
        b.spec.members = 1;
        if let Some(m) = m {
            (b.values, b.y_mean, b.y_std, b.global_mean, b.global_std) = (m.values.clone(), m.y_mean, m.y_std, m.global_mean.clone(), m.global_std.clone());
        }
        let one = hopdb::model::ModelRecord { blob: b.to_bytes().unwrap(), ..rec.clone() };
        for (s, v) in sum.iter_mut().zip(gnn::predict_records(&store, &one, &recs).unwrap()) {
            *s += v / 3.0;
        }
    }
    assert!(p.iter().zip(&sum).all(|(a, b)| (a - b).abs() < 1e-9), "{p:?} vs {sum:?}");
    assert!(p.iter().zip(gnn::predict_records(&store, &single.to_record("one", "").unwrap(), &recs).unwrap()).any(|(a, b)| a != &b));
    // 3 members x 3 epochs of checkpoints; those inside member 1 hold member 0 and the start.
    assert_eq!(cks.len(), 9);
    let at = |stage: u8, epoch: usize| cks.iter().find(|b| b.checkpoint.as_ref().is_some_and(|c| (c.stage, c.epoch) == (stage, epoch))).unwrap().clone();
    let resume = |b: GnnBlob| TrainOptions { resume: b.checkpoint, resume_members: b.members, resume_start: b.start, resume_best: Some(b.values), ..Default::default() };
    let mid = at(2, 1);
    assert_eq!(mid.members.len(), 1);
    assert_eq!(mid.members[0].values, single.blob.values);
    assert!(mid.start.is_some());
    // Resumed at member 0's last checkpoint: the rest runs as it did, the same ensemble.
    let again = fine_tune(&s, resume(at(1, 3))).unwrap();
    assert_eq!(again.blob, ens.blob);
    assert_eq!((again.train_ids.clone(), again.valid_ids.clone()), (ens.train_ids.clone(), ens.valid_ids.clone()));
    // Resumed inside member 1 (its optimiser state starts afresh): member 0 is kept, member 2
    // runs as it did.
    let inside = fine_tune(&s, resume(mid.clone())).unwrap();
    assert_eq!(inside.blob.values, ens.blob.values);
    assert_eq!(inside.blob.members.len(), 2);
    assert_eq!(inside.blob.members[1], ens.blob.members[1]);
    // A checkpoint inside member 1 without its finished members is refused.
    let err = fine_tune(&s, TrainOptions { resume: mid.checkpoint.clone(), resume_start: mid.start.clone(), ..Default::default() }).unwrap_err().to_string();
    assert!(err.contains("ensemble member 1") && err.contains("0 finished"), "{err}");
}

#[test]
fn corrupt_checkpoint_is_a_clear_error() {
    let (_d, store, recs) = fixture(10);
    let s = tiny(&[("epochs", "1")]);
    let t = gnn::train(&store, &recs, Validation::None, Pretrain::None, &s, TrainOptions::default()).unwrap();
    let mut rec = t.to_record("bad", "").unwrap();
    let n = rec.blob.len();
    rec.blob[n / 2] ^= 0x55;
    let e = GnnBlob::from_bytes(&rec.blob).unwrap_err().to_string();
    assert!(e.contains("checksum mismatch"), "{e}");
    let e = registry::save(&store, &rec, false).unwrap_err().to_string();
    assert!(e.contains("model 'bad'") && e.contains("corrupt"), "{e}");
    let e = gnn::predict_records(&store, &rec, &recs).unwrap_err().to_string();
    assert!(e.contains("model 'bad'") && e.contains("checksum"), "{e}");
    let e = GnnBlob::from_bytes(&rec.blob[..20]).unwrap_err().to_string();
    assert!(e.contains("bad header"), "{e}");
}

#[test]
fn spec_errors_name_the_key() {
    let bad = |k: &str, v: &str| {
        let m: BTreeMap<String, String> = [(k.to_string(), v.to_string())].into();
        Spec::from_map(&m).unwrap_err().to_string()
    };
    assert!(bad("variant", "transformer").contains("variant = 'transformer'"));
    assert!(bad("epochs", "0").contains("epochs = '0'"));
    assert!(bad("lr", "-1").contains("lr"));
    assert!(bad("colour", "red").contains("unknown parameter 'colour'"));
    assert!(bad("line_graph", "maybe").contains("line_graph = 'maybe': expected true or false"));
    assert!(bad("line_neighbors", "1").contains("line_neighbors = '1'"));
    assert!(bad("fusion", "hop-v9").contains("fusion = 'hop-v9': expected none or hop-v1"));
    assert!(bad("members", "0").contains("members = '0'"));
    assert!(bad("members", "33").contains("members = '33': expected an integer in 1..=32"));
    let s = spec(&[("variant", "model1"), ("epochs", "7"), ("line_graph", "true"), ("line_neighbors", "4"), ("fusion", "hop-v1")]);
    assert_eq!(Spec::from_map(&s.to_map()).unwrap(), s);
}

/// `TRAIN ... AS gnn(variant)` through HopQL on the real dataset: a tiny band model trains on
/// the paper split's training partition, evaluates on its test partition (the guard accepts
/// it although the model's fitted ids exclude its validation part), and pre-training that
/// selects test hops is refused.
#[test]
fn hopql_trains_and_evaluates_a_graph_network() {
    use hopdb::query::exec::query;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::create(dir.path().join("s")).unwrap();
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/devi2025");
    let (c, e) = hopdb::import::devi::read_dir_with(&data, &store.class_groups().unwrap(), false).unwrap();
    hopdb::import::commit(&store, c, e, &Default::default(), "t").unwrap();
    query(&store, "CREATE SPLIT paper FROM PARTITION").unwrap();
    let t = query(&store, "TRAIN g AS gnn(band) ON SPLIT paper WITH epochs = 2, hidden = 16, layers = 2, radius = 4, max_neighbors = 6, seed = 3").unwrap();
    assert_eq!(t.rows[0][1].to_string(), "gnn(band)");
    let ev = query(&store, "EVALUATE g ON SPLIT paper").unwrap();
    let mae = ev.rows.iter().find(|r| r[0].to_string() == "mae").map(|r| r[1].to_string().parse::<f64>().unwrap()).unwrap();
    assert!(mae.is_finite() && mae > 0.0 && mae < 3.0, "{mae}");
    let models = query(&store, "SHOW MODELS").unwrap();
    assert_eq!(models.rows.len(), 1);
    let e = query(&store, "TRAIN g2 AS gnn(band) ON SPLIT paper PRETRAINED ON (SELECT * FROM hops WHERE partition = 'test') WITH epochs = 1").unwrap_err().to_string();
    assert!(e.contains("test hop"), "{e}");
    let e = query(&store, "TRAIN g3 AS gnn(nonsense) ON SPLIT paper").unwrap_err().to_string();
    assert!(e.contains("nonsense"), "{e}");
}

#[test]
fn path_pooling_and_log_target_train_and_predict() {
    let (_d, store, recs) = fixture(20);
    let train: Vec<HopRecord> = recs[..8].to_vec();
    // The path-only readout and the log1p target fit 8 hops as well as the defaults do.
    for pool in ["path", "both"] {
        let s = tiny(&[("epochs", "400"), ("hidden", "32"), ("lr", "0.01"), ("weight_decay", "0"), ("pool", pool), ("target", "log1p")]);
        let t = gnn::train(&store, &train, Validation::None, Pretrain::None, &s, TrainOptions::default()).unwrap();
        assert_eq!(t.blob.spec.pool.as_str(), pool);
        let rec = t.to_record("p", "").unwrap();
        let p = gnn::predict_records(&store, &rec, &train).unwrap();
        // log1p predictions map back through exp - 1: barriers, never below -1 eV.
        assert!(p.iter().all(|v| v.is_finite() && *v > -1.0));
        let y: Vec<f64> = train.iter().map(|r| r.em).collect();
        let mae = p.iter().zip(&y).map(|(a, b)| (a - b).abs()).sum::<f64>() / 8.0;
        assert!(mae < 0.1, "pool={pool}: train MAE {mae}");
        // The head sees twice the width when both pools are concatenated.
        let w1 = rec.params.get("pool").cloned();
        assert_eq!(w1.as_deref(), Some(pool));
    }
    let bad = gnn::Spec::from_map(&[("pool".to_string(), "max".to_string())].into_iter().collect()).unwrap_err().to_string();
    assert!(bad.contains("pool"), "{bad}");
}

#[test]
fn experiment_helpers_hold_out_test_structures_and_nest_subsets() {
    use gnn::experiment::{corpus_records, training_subset, without_held_out};
    let (_d, store, recs) = fixture(30);
    // Nested learning-curve subsets, in id order, the same on every call.
    let a = training_subset(&recs, 10);
    let b = training_subset(&recs, 20);
    assert_eq!(a.len(), 10);
    assert!(a.iter().all(|r| b.iter().any(|s| s.id == r.id)), "subsets are nested");
    assert!(a.windows(2).all(|w| w[0].id < w[1].id));
    assert_eq!(training_subset(&recs, 10).iter().map(|r| &r.id).collect::<Vec<_>>(), a.iter().map(|r| &r.id).collect::<Vec<_>>());
    assert_eq!(training_subset(&recs, 999).len(), recs.len());
    // Held-out structures: derived records go whether they name a held-out hop as parent,
    // a hop on a held-out host, or (without a parent) sit on a held-out host themselves.
    let held = vec![recs[0].clone()];
    let same_host = recs.iter().find(|r| r.id != recs[0].id && r.host == recs[0].host).cloned();
    let other = recs.iter().find(|r| r.host != recs[0].host).cloned().expect("another host");
    let derived = |parent: Option<&HopRecord>, host_of: &HopRecord, id: &str| {
        let mut r = host_of.clone();
        r.id = id.to_string();
        r.parent = parent.map(|p| p.id.clone());
        r
    };
    let mut pre = vec![derived(Some(&recs[0]), &other, "c:parent-held"), derived(None, &recs[0], "c:on-held-host"), derived(Some(&other), &other, "c:kept")];
    if let Some(s) = &same_host {
        pre.push(derived(Some(s), &other, "c:parent-on-held-host"));
    }
    let n = pre.len();
    let (kept, dropped) = without_held_out(pre, &recs, &held);
    assert_eq!(kept.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), vec!["c:kept"]);
    assert_eq!(dropped, n - 1);
    // Corpus draws: all bvse records, or a seeded subsample in id order.
    let all = corpus_records(&store, 0, 1).unwrap();
    assert_eq!(all.len(), recs.len());
    let s1 = corpus_records(&store, 7, 1).unwrap();
    assert_eq!(s1.len(), 7);
    assert_eq!(corpus_records(&store, 7, 1).unwrap().iter().map(|r| &r.id).collect::<Vec<_>>(), s1.iter().map(|r| &r.id).collect::<Vec<_>>());
    assert_ne!(corpus_records(&store, 7, 2).unwrap().iter().map(|r| &r.id).collect::<Vec<_>>(), s1.iter().map(|r| &r.id).collect::<Vec<_>>());
}

#[test]
fn device_names_parse_and_bad_ones_are_errors() {
    use gnn::tensor::{device_name, parse_device};
    assert_eq!(device_name(parse_device("cpu").unwrap()), "cpu");
    // `auto` is whatever libtorch finds: the CPU on a machine without CUDA.
    let auto = parse_device("auto").unwrap();
    if !tch_cuda_available() {
        assert_eq!(device_name(auto), "cpu");
        let e = parse_device("cuda").unwrap_err().to_string();
        assert!(e.contains("0 CUDA device"), "{e}");
    }
    let e = parse_device("tpu").unwrap_err().to_string();
    assert!(e.contains("expected auto, cpu, cuda or cuda:N"), "{e}");
    assert!(parse_device("cuda:x").is_err());
}

fn tch_cuda_available() -> bool {
    gnn::tensor::parse_device("auto").map(|d| gnn::tensor::device_name(d) != "cpu").unwrap_or(false)
}

/// `hopdb bench paper --gnn` end to end on the real dataset, with tiny settings: the scratch
/// and pre-trained rows (test, grouped CV on the trees' folds, learning curve) and the notes.
#[test]
fn bench_paper_gnn_rows_end_to_end() {
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/devi2025");
    let dir = tempfile::tempdir().unwrap();
    // A small BVSE "corpus" store to pre-train on.
    let corpus = dir.path().join("corpus");
    {
        let store = Store::create(&corpus).unwrap();
        hopdb::import::commit(&store, hopdb::synthetic::bvse_like_corpus(40, 5), vec![], &Default::default(), "test").unwrap();
    }
    let page = dir.path().join("bench.md");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_hopdb"))
        .args(["bench", "paper", "--data", data, "--seeds", "1", "--no-tune", "--format", "json", "--gnn", "--gnn-variants", "band"])
        .args(["--gnn-learning-curve", "100", "--gnn-set", "epochs=2", "--gnn-set", "hidden=8", "--gnn-set", "layers=1", "--gnn-set", "fusion=hop-v1", "--gnn-pretrain-epochs", "1", "--gnn-pretrain-db"])
        .arg(&corpus)
        .arg("--write-docs")
        .arg(&page)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let rows = v["rows"].as_array().unwrap();
    let find = |name: &str| rows.iter().find(|r| r["model"] == name).unwrap_or_else(|| panic!("no row {name}: {rows:?}"));
    for name in ["hopdb gnn band, fused hop-v1 (scratch)", "hopdb gnn band, fused hop-v1 (BVSE pre-trained)"] {
        let r = find(name);
        assert_eq!(r["evaluated_on"], "test (60)");
        assert!(r["metrics"]["mae"].as_f64().unwrap().is_finite());
        assert!(r["cv_mae"].as_f64().unwrap() > 0.0, "{r}");
        assert_eq!(r["cv_seeds"], 1);
    }
    for name in ["hopdb gnn band, fused hop-v1 (scratch), 100 train hops", "hopdb gnn band, fused hop-v1 (BVSE pre-trained), 100 train hops"] {
        assert!(find(name)["cv_mae"].is_null());
    }
    let notes: Vec<&str> = v["notes"].as_array().unwrap().iter().map(|n| n.as_str().unwrap()).collect();
    assert!(notes.iter().any(|n| n.starts_with("Pre-training: 40 of 40")), "{notes:?}");
    assert!(notes.iter().any(|n| n.contains("pre-trains each fold's network anew")), "{notes:?}");
    assert!(find("hopdb gnn band, fused hop-v1 (scratch)")["params"].as_str().unwrap().contains("fusion=hop-v1"));
    let md = std::fs::read_to_string(&page).unwrap();
    assert!(md.contains("--gnn --gnn-set epochs=2") && md.contains("fused hop-v1") && md.contains("(1 seed)") && md.contains("chosen on validation"), "{md}");
    // A pre-training store that is not there is refused before anything runs.
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_hopdb")).args(["bench", "paper", "--data", data, "--gnn", "--gnn-pretrain-db", "/nonexistent"]).output().unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("no hopdb store"));
}

#[test]
fn graph_network_screens_hops_that_are_not_in_the_store() {
    use hopdb::workflow::{predict_new, NewHop};
    let (_d, store, recs) = fixture(20);
    let s = tiny(&[("epochs", "3"), ("variant", "band")]);
    let t = gnn::train(&store, &recs[..12], Validation::None, Pretrain::None, &s, TrainOptions::default()).unwrap();
    registry::save(&store, &t.to_record("g_screen", "").unwrap(), false).unwrap();
    let rec = registry::load(&store, "g_screen").unwrap();
    let stored = gnn::predict_records(&store, &rec, &recs[12..]).unwrap();
    // The same hops given as endpoint structures (not through their store ids).
    let hops: Vec<NewHop> = recs[12..]
        .iter()
        .map(|r| {
            let host = store.structure(&r.host).unwrap();
            NewHop { initial: r.initial_structure(&host), final_: r.final_structure(&host), ion: None }
        })
        .collect();
    let new = predict_new(&store, "g_screen", &hops).unwrap();
    assert_eq!(new.len(), stored.len());
    for (a, b) in new.iter().zip(&stored) {
        assert!((a - b).abs() <= 1e-9, "{a} vs {b}");
    }
    assert!(new.iter().all(|p| p.is_finite()));
}

/// LiF-like rock salt (a = 4 A, a 2x2x2 supercell of the 8-atom cell, nearest neighbours at
/// 2 A along +-x, +-y, +-z) with a Li vacancy hop (0,0,0) -> (2,2,0) A.
fn rocksalt_hop() -> (HopRecord, Structure) {
    use hopdb::element::Element;
    use hopdb::record::{Fidelity, Material, Provenance};
    use hopdb::structure::Lattice;
    let (i, f) = ([0.0, 0.0, 0.0], [0.25, 0.25, 0.0]);
    let lat = Lattice::new([[8.0, 0.0, 0.0], [0.0, 8.0, 0.0], [0.0, 0.0, 8.0]]).unwrap();
    let (mut species, mut frac) = (vec![], vec![]);
    for a in 0..4 {
        for b in 0..4 {
            for c in 0..4 {
                let p = [a as f64 / 4.0, b as f64 / 4.0, c as f64 / 4.0];
                let li = (a + b + c) % 2 == 0;
                if li && (p == i || p == f) {
                    continue;
                }
                species.push(Element::from_symbol(if li { "Li" } else { "F" }).unwrap());
                frac.push(p);
            }
        }
    }
    let host = Structure::new(lat, species, frac).unwrap();
    let mut r = HopRecord {
        material: Material { sys_name: Some("rocksalt".into()), ..Default::default() },
        provenance: Provenance { dataset: "test".into(), source_record_id: "rocksalt".into(), importer: "test".into(), ..Default::default() },
        ..HopRecord::new("test:rocksalt", Element::from_symbol("Li").unwrap(), i, f, 0.5, Fidelity::Dft)
    };
    hopdb::import::finish_record(&mut r, &host);
    (r, host)
}

#[test]
fn line_graph_angles_are_right_in_a_rock_salt_cluster() {
    let (r, host) = rocksalt_hop();
    for radius in [5.0, 0.0] {
        let cfg = GraphConfig { input: Input::Band, cutoff: 2.1, radius, max_neighbors: 6, line_graph: true, line_neighbors: 0 };
        let g = &build_hop(&r, &host, &cfg)[0];
        // Every pair of edges into the same centre, both ways: k (k - 1) per centre.
        let mut into = vec![0usize; g.nodes()];
        for &d in &g.dst {
            into[d as usize] += 1;
        }
        assert_eq!(g.triplets(), into.iter().map(|k| k * (k - 1)).sum::<usize>(), "radius {radius}");
        for t in 0..g.triplets() {
            let (a, b) = (g.line_src[t] as usize, g.line_dst[t] as usize);
            assert_ne!(a, b);
            assert_eq!(g.dst[a], g.dst[b], "a line-graph edge joins edges of one centre");
            if radius > 0.0 {
                // Local cluster: the angle from the node positions themselves.
                let c = g.pos[g.dst[a] as usize];
                let (u, v) = (sub(g.pos[g.src[a] as usize], c), sub(g.pos[g.src[b] as usize], c));
                let cos = (u[0] * v[0] + u[1] * v[1] + u[2] * v[2]) / (norm(u) * norm(v));
                assert!((cos - g.cos[t] as f64).abs() < 1e-5, "triplet {t}: {cos} vs {}", g.cos[t]);
            }
        }
        // Centres whose six neighbours are the rock-salt octahedron: 24 right angles and 6
        // straight ones each.
        let mut octahedra = 0;
        for c in 0..g.nodes() {
            let edges: Vec<usize> = (0..g.edges()).filter(|&e| g.dst[e] as usize == c).collect();
            if edges.len() != 6 || edges.iter().any(|&e| (g.dist[e] - 2.0).abs() > 1e-4) {
                continue;
            }
            octahedra += 1;
            let cos: Vec<f32> = (0..g.triplets()).filter(|&t| g.dst[g.line_dst[t] as usize] as usize == c).map(|t| g.cos[t]).collect();
            assert_eq!(cos.len(), 30);
            assert_eq!(cos.iter().filter(|x| x.abs() < 1e-5).count(), 24, "90 degrees, centre {c}");
            assert_eq!(cos.iter().filter(|x| (**x + 1.0).abs() < 1e-5).count(), 6, "180 degrees, centre {c}");
        }
        // (The cluster's outer atoms lack neighbours; the periodic cell has every atom whole.)
        let least = if radius > 0.0 { 20 } else { 40 };
        assert!(octahedra >= least, "radius {radius}: only {octahedra} octahedral centres");
        // Capped at the nearest 3 edges per centre: 3 * 2 angles where a centre has 3 or more.
        let capped = &build_hop(&r, &host, &GraphConfig { line_neighbors: 3, ..cfg })[0];
        assert_eq!(capped.triplets(), into.iter().map(|&k| k.min(3) * k.min(3).saturating_sub(1)).sum::<usize>());
        for t in 0..capped.triplets() {
            let (a, b) = (capped.line_src[t] as usize, capped.line_dst[t] as usize);
            let c = capped.dst[a];
            let rank = |e: usize| (0..e).filter(|&x| capped.dst[x] == c).count();
            assert!(rank(a) < 3 && rank(b) < 3, "only the nearest three edges of a centre");
        }
    }
}

#[test]
fn tiny_line_graph_network_trains_end_to_end() {
    let (_d, store, recs) = fixture(20);
    let train: Vec<HopRecord> = recs[..8].to_vec();
    let s = tiny(&[("epochs", "300"), ("hidden", "16"), ("lr", "0.01"), ("weight_decay", "0"), ("line_graph", "true")]);
    assert!(s.net_config().line_graph && s.graph_config().line_graph);
    let t = gnn::train(&store, &train, Validation::None, Pretrain::None, &s, TrainOptions::default()).unwrap();
    assert!(t.blob.values.iter().any(|(n, _, _)| n == "lconv0.A"), "line-graph weights");
    let rec = t.to_record("lg", "").unwrap();
    let p = gnn::predict_records(&store, &rec, &train).unwrap();
    let y: Vec<f64> = train.iter().map(|r| r.em).collect();
    let m = y.iter().sum::<f64>() / 8.0;
    let sd = (y.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / 8.0).sqrt();
    let mae = p.iter().zip(&y).map(|(a, b)| (a - b).abs()).sum::<f64>() / 8.0;
    assert!(mae < 0.1 * sd, "train MAE {mae} vs target sd {sd}");
    // Stored and reloaded: the same predictions.
    registry::save(&store, &rec, false).unwrap();
    let loaded = registry::load(&store, "lg").unwrap();
    assert_eq!(loaded.params["line_graph"], "true");
    assert_eq!(gnn::predict_records(&store, &loaded, &train).unwrap(), p);
    // The angles matter: the same weights on graphs with every cosine zeroed predict otherwise.
    let blob = GnnBlob::from_bytes(&rec.blob).unwrap();
    let net = gnn::Net::from_values(blob.net, &blob.values).unwrap();
    let hosts = gnn::load_hosts(&store, &train).unwrap();
    let graphs = gnn::build_many(&train, &hosts, &blob.graph).unwrap();
    let flat: Vec<std::sync::Arc<Vec<gnn::Graph>>> = graphs
        .iter()
        .map(|h| {
            let mut h = (**h).clone();
            h.iter_mut().for_each(|g| g.cos.iter_mut().for_each(|c| *c = 0.0));
            std::sync::Arc::new(h)
        })
        .collect();
    let a = gnn::predict_graphs(&net, &graphs, None, 4).unwrap();
    let b = gnn::predict_graphs(&net, &flat, None, 4).unwrap();
    assert!(a.iter().zip(&b).any(|(x, y)| (x - y).abs() > 1e-4), "predictions ignore the angles");
}

#[test]
fn fused_descriptors_are_standardised_with_training_statistics_only() {
    let (_d, store, recs) = fixture(24);
    let s = tiny(&[("epochs", "3"), ("fusion", "hop-v1"), ("valid_fraction", "0.25"), ("seed", "3")]);
    let t = gnn::train(&store, &recs[..16], Validation::Carve, Pretrain::None, &s, TrainOptions::default()).unwrap();
    let width = hopdb::features::descriptor_names().len();
    assert_eq!(t.blob.net.global, width);
    assert_eq!((t.blob.global_mean.len(), t.blob.global_std.len()), (width, width));
    // The means are those of the fitted hops, not of the validation part or the rest.
    let fitted: Vec<&HopRecord> = recs[..16].iter().filter(|r| t.train_ids.contains(&r.id)).collect();
    assert!(!t.valid_ids.is_empty() && fitted.len() < 16);
    let rows: Vec<Vec<f64>> = fitted.iter().map(|r| hopdb::features::compute(r, &store.structure(&r.host).unwrap()).unwrap()).collect();
    for c in 0..width {
        let m = rows.iter().map(|r| r[c]).sum::<f64>() / rows.len() as f64;
        assert!((m - t.blob.global_mean[c]).abs() <= 1e-9 * (1.0 + m.abs()), "column {c}: {m} vs {}", t.blob.global_mean[c]);
    }
    let rec = t.to_record("fused", "").unwrap();
    let p = gnn::predict_records(&store, &rec, &recs[16..]).unwrap();
    assert!(p.iter().all(|v| v.is_finite()));
    registry::save(&store, &rec, false).unwrap();
    assert_eq!(gnn::predict_records(&store, &registry::load(&store, "fused").unwrap(), &recs[16..]).unwrap(), p);
}

#[test]
fn parallel_inference_equals_one_thread() {
    let (_d, store, recs) = fixture(40);
    let s = tiny(&[("epochs", "2"), ("line_graph", "true")]);
    let t = gnn::train(&store, &recs[..20], Validation::None, Pretrain::None, &s, TrainOptions::default()).unwrap();
    let rec = t.to_record("par", "").unwrap();
    let pool = |n: usize| rayon::ThreadPoolBuilder::new().num_threads(n).build().unwrap();
    let one = pool(1).install(|| gnn::predict_records(&store, &rec, &recs)).unwrap();
    let two = pool(2).install(|| gnn::predict_records(&store, &rec, &recs)).unwrap();
    assert_eq!(one, two);
    assert_eq!(one.len(), recs.len());
}

/// A record's BVSE energy profile (`bvse_e00..`), resampled and log-compressed.
#[test]
fn profile_targets_resample_the_bvse_energy_profile() {
    let (_d, _store, recs) = fixture(2);
    let mut r = recs[0].clone();
    r.extra.retain(|k, _| !k.starts_with("bvse_e"));
    assert_eq!(gnn::profile_targets(&r, 4), None, "no profile");
    for (i, e) in [0.0, 0.5, 1.0, 0.5, -0.25].iter().enumerate() {
        r.extra.insert(format!("bvse_e{i:02}"), *e);
    }
    let f = |v: f64| v.signum() * v.abs().ln_1p();
    let got = gnn::profile_targets(&r, 4).unwrap();
    let want = [f(0.5), f(1.0), f(0.5), f(-0.25)];
    assert!(got.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-12), "{got:?} vs {want:?}");
    // Three points fall between images: t = 1/3 is 4/3 of the way in image units.
    let got = gnn::profile_targets(&r, 3).unwrap();
    assert!((got[0] - f(0.5 + 0.5 / 3.0)).abs() < 1e-12, "{got:?}");
    assert!((got[2] - f(-0.25)).abs() < 1e-12);
    r.extra.insert("bvse_e02".into(), f64::NAN);
    assert_eq!(gnn::profile_targets(&r, 4), None, "a NaN energy");
}

/// Records with a synthetic BVSE profile (a smooth bump to the barrier, its height varying).
fn with_profiles(recs: &[HopRecord]) -> Vec<HopRecord> {
    recs.iter()
        .map(|r| {
            let mut r = r.clone();
            for i in 0..7 {
                let t = i as f64 / 6.0;
                r.extra.insert(format!("bvse_e{i:02}"), r.em * (std::f64::consts::PI * t).sin() + 0.3 * t * r.hop_length);
            }
            r
        })
        .collect()
}

#[test]
fn multi_task_pretraining_fits_the_profile_and_fine_tunes_without_it() {
    let (_d, store, recs) = fixture(30);
    let pre = with_profiles(&recs[10..]);
    let base = [("epochs", "2"), ("pretrain_epochs", "3"), ("lr", "0.01"), ("pretrain_lr", "0.01")];
    let plain = gnn::train(&store, &recs[..10], Validation::None, Pretrain::Records(&pre), &tiny(&base), TrainOptions::default()).unwrap();
    let mut kv = base.to_vec();
    kv.push(("pretrain_profile", "4"));
    let s = tiny(&kv);
    assert_eq!(s.net_config().aux, 4);
    let multi = gnn::train(&store, &recs[..10], Validation::None, Pretrain::Records(&pre), &s, TrainOptions::default()).unwrap();
    // The auxiliary head was trained, and its loss moved the shared weights.
    let get = |b: &GnnBlob, n: &str| b.values.iter().find(|(k, _, _)| k == n).map(|(_, _, v)| v.clone());
    let init = gnn::net::init_values(&s.net_config(), s.seed);
    let aux_init = init.iter().find(|(k, _, _)| k == "aux.w").unwrap().2.clone();
    assert_ne!(get(&multi.blob, "aux.w").unwrap(), aux_init);
    assert_eq!(get(&plain.blob, "aux.w"), None);
    assert_ne!(get(&multi.blob, "conv0.A"), get(&plain.blob, "conv0.A"));
    // The blob keeps the setting and the head (version-4 extension), and predicts the same.
    let rec = multi.to_record("mt", "").unwrap();
    assert_eq!(rec.params["pretrain_profile"], "4");
    let back = GnnBlob::from_bytes(&rec.blob).unwrap();
    assert_eq!((back.spec.pretrain_profile, back.net.aux), (4, 4));
    assert_eq!(back, multi.blob);
    let p = gnn::predict_records(&store, &rec, &recs[..5]).unwrap();
    assert!(p.iter().all(|v| v.is_finite()));
    // Fine-tuning from it with a spec without the profile drops the auxiliary head.
    let ft = gnn::train(&store, &recs[..10], Validation::None, Pretrain::Model(&rec), &tiny(&base), TrainOptions::default()).unwrap();
    assert_eq!(ft.blob.net.aux, 0);
    assert_eq!(get(&ft.blob, "aux.w"), None);
    // A pre-training run on its own (what `hopdb gnn pretrain` and per-fold CV run) is
    // multi-task too.
    let alone = hopdb::workflow::gnn::pretrain(&store, &pre, &s, TrainOptions::default()).unwrap();
    assert_ne!(get(&alone.blob, "aux.w").unwrap(), aux_init);
    let alone_plain = hopdb::workflow::gnn::pretrain(&store, &pre, &tiny(&base), TrainOptions::default()).unwrap();
    assert_ne!(get(&alone.blob, "conv0.A"), get(&alone_plain.blob, "conv0.A"));
    // Pre-training records without a profile are a clear error.
    let err = gnn::train(&store, &recs[..10], Validation::None, Pretrain::Records(&recs[10..]), &s, TrainOptions::default()).unwrap_err().to_string();
    assert!(err.contains("pretrain_profile = 4") && err.contains("bvse_e00"), "{err}");
    // And the key is checked.
    let m: BTreeMap<String, String> = [("pretrain_profile".to_string(), "99".to_string())].into();
    let err = Spec::from_map(&m).unwrap_err().to_string();
    assert!(err.contains("pretrain_profile"), "{err}");
}
