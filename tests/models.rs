//! Barrier models and metrics: hand-computed metrics, seeded bootstrap, forest and boosting on
//! a smooth synthetic function, serialisation round trips, determinism, input errors, grouped
//! folds, tuning, the model registry, and an end-to-end run on the real devi2025 dataset.

use hopdb::metrics::{self, EvalError, DEFAULT_THRESHOLD};
use hopdb::model::{self, registry, Grid, Kind, Labels, ModelError, ModelRecord, Params};
use hopdb::store::Store;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Instant;

const DEVI_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/devi2025");

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn params(kind: Kind, pairs: &[(&str, &str)]) -> Params {
    Params::parse(kind, &map(pairs)).unwrap()
}

/// `n` rows of `p` features uniform in [-2, 2]; y = sin(x0) + x1^2 (the rest is noise).
fn smooth(n: usize, p: usize, seed: u64) -> (Vec<Vec<f64>>, Vec<f64>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let x: Vec<Vec<f64>> = (0..n).map(|_| (0..p).map(|_| rng.gen_range(-2.0..2.0)).collect()).collect();
    let y = x.iter().map(|r| r[0].sin() + r[1] * r[1]).collect();
    (x, y)
}

#[test]
fn metrics_match_hand_computed_values() {
    // errors -0.1, +0.2, -0.4, +0.3; mean of y_true = 0.95
    let t = [0.5, 0.6, 1.2, 1.5];
    let p = [0.4, 0.8, 0.8, 1.8];
    let m = metrics::metrics(&t, &p).unwrap();
    assert_eq!(m.n, 4);
    assert!((m.mae - 0.25).abs() < 1e-12);
    assert!((m.rmse - (0.30f64 / 4.0).sqrt()).abs() < 1e-12);
    // SS_res = 0.01 + 0.04 + 0.16 + 0.09 = 0.30; SS_tot = 0.2025 + 0.1225 + 0.0625 + 0.3025 = 0.69
    assert!((m.r2 - (1.0 - 0.30 / 0.69)).abs() < 1e-12);
    assert!((m.max_error - 0.4).abs() < 1e-12);

    // Good conductor = Em < 0.65. true: G G B B; pred: G B G B.
    let c = metrics::classify(&t, &p, DEFAULT_THRESHOLD).unwrap();
    assert_eq!(c.confusion, [[1, 1], [0, 2]]);
    assert_eq!(c.accuracy, 0.75);
    assert_eq!((c.precision_good, c.recall_good), (1.0, 0.5));
    assert!((c.precision_bad - 2.0 / 3.0).abs() < 1e-12);
    assert_eq!(c.recall_bad, 1.0);

    let by = metrics::errors_by(&["Li", "Na", "Li", "Na"], &t, &p).unwrap();
    assert_eq!(by.len(), 2);
    assert_eq!((by[0].0.as_str(), by[0].1), ("Li", 2));
    assert!((by[0].2 - 0.25).abs() < 1e-12 && (by[1].2 - 0.25).abs() < 1e-12);

    assert!(matches!(metrics::metrics(&[1.0, 2.0], &[1.0]), Err(EvalError::LengthMismatch { .. })));
    assert!(matches!(metrics::metrics(&[], &[]), Err(EvalError::Empty)));
}

#[test]
fn bootstrap_is_seeded() {
    let (x, y) = smooth(80, 2, 1);
    let pred: Vec<f64> = x.iter().zip(&y).map(|(r, t)| t + 0.3 * r[0].cos()).collect();
    let a = metrics::bootstrap(&y, &pred, 1000, 11).unwrap();
    let b = metrics::bootstrap(&y, &pred, 1000, 11).unwrap();
    let c = metrics::bootstrap(&y, &pred, 1000, 12).unwrap();
    assert_eq!(a, b);
    assert_ne!(a.mae, c.mae);
    assert_eq!(a.n_resamples, 1000);
    // Standard error of a mean of 80 absolute errors of spread ~0.1: a few hundredths.
    assert!(a.mae > 0.001 && a.mae < 0.05, "{a:?}");
    assert!(a.accuracy >= 0.0 && a.r2 > 0.0);
}

fn fit_and_score(kind: Kind, extra: &[(&str, &str)]) -> f64 {
    let (x, y) = smooth(300, 4, 2);
    let (xt, yt) = smooth(200, 4, 3);
    let mut kv = vec![("target", "identity")];
    kv.extend_from_slice(extra);
    let m = model::fit(&x, &y, &params(kind, &kv)).unwrap();
    let pred = model::predict(&m, &xt).unwrap();
    let met = metrics::metrics(&yt, &pred).unwrap();
    eprintln!("{kind}: synthetic test MAE {:.4}, R^2 {:.4}", met.mae, met.r2);
    met.mae
}

#[test]
fn forest_fits_a_smooth_function() {
    // Target spread: std of sin(x0) + x1^2 is about 1.3; the mean baseline is ~1.1 MAE.
    let mae = fit_and_score(Kind::RandomForest, &[("trees", "200"), ("mtry", "all")]);
    assert!(mae < 0.25, "random forest MAE {mae}");
    assert!(fit_and_score(Kind::Mean, &[]) > 0.8);
}

#[test]
fn boosting_fits_a_smooth_function() {
    let mae = fit_and_score(Kind::BoostedTrees, &[("trees", "400"), ("learning_rate", "0.05"), ("max_depth", "3"), ("colsample", "1.0")]);
    assert!(mae < 0.2, "boosted trees MAE {mae}");
}

#[test]
fn importances_find_the_informative_features() {
    let (x, y) = smooth(300, 4, 4);
    let names: Vec<String> = ["a", "b", "noise1", "noise2"].iter().map(|s| s.to_string()).collect();
    for kind in [Kind::RandomForest, Kind::BoostedTrees] {
        let m = model::fit_labeled(&x, &y, Labels { ids: None, names: Some(&names) }, &params(kind, &[("trees", "100"), ("target", "identity")])).unwrap();
        let imp = model::importances(&m);
        let top: BTreeSet<&str> = imp[..2].iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(top, BTreeSet::from(["a", "b"]), "{kind}: {imp:?}");
        assert!((imp.iter().map(|(_, v)| v).sum::<f64>() - 1.0).abs() < 1e-4, "{kind}: {imp:?}");
        let perm = model::permutation_importance(&m, &x, &y, 3, 5).unwrap();
        let top: BTreeSet<&str> = perm[..2].iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(top, BTreeSet::from(["a", "b"]), "{kind}: {perm:?}");
        assert_eq!(perm, model::permutation_importance(&m, &x, &y, 3, 5).unwrap());
    }
}

#[test]
fn save_load_round_trip_predicts_identically() {
    let (x, y) = smooth(150, 5, 5);
    let y: Vec<f64> = y.iter().map(|v| v + 1.5).collect();
    for kind in Kind::ALL {
        let m = model::fit(&x, &y, &params(kind, &[("trees", "60")].iter().filter(|_| kind != Kind::Mean).copied().collect::<Vec<_>>())).unwrap();
        let bytes = m.to_bytes().unwrap();
        let back = model::Model::from_bytes(&bytes).unwrap();
        assert_eq!(back.params(), m.params());
        assert_eq!(back.feature_names(), m.feature_names());
        let a = model::predict(&m, &x).unwrap();
        let b = model::predict(&back, &x).unwrap();
        assert_eq!(a.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), b.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), "{kind}");
        assert_eq!(model::importances(&m), model::importances(&back));
        assert!(model::Model::from_bytes(&bytes[..bytes.len() / 2]).is_err());
    }
}

#[test]
fn same_seed_same_predictions() {
    let (x, y) = smooth(200, 6, 6);
    let (xt, _) = smooth(50, 6, 7);
    for kind in [Kind::RandomForest, Kind::BoostedTrees] {
        let p7 = params(kind, &[("trees", "80"), ("seed", "7"), ("target", "identity")]);
        let a = model::predict(&model::fit(&x, &y, &p7).unwrap(), &xt).unwrap();
        let b = model::predict(&model::fit(&x, &y, &p7).unwrap(), &xt).unwrap();
        assert_eq!(a, b, "{kind}");
        let p8 = params(kind, &[("trees", "80"), ("seed", "8"), ("target", "identity")]);
        let c = model::predict(&model::fit(&x, &y, &p8).unwrap(), &xt).unwrap();
        assert_ne!(a, c, "{kind}: another seed should give another model");
    }
    // Thread count does not matter: a fit inside a one-thread pool gives the same model.
    let p = params(Kind::RandomForest, &[("trees", "80"), ("seed", "7"), ("target", "identity")]);
    let a = model::predict(&model::fit(&x, &y, &p).unwrap(), &xt).unwrap();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    let b = pool.install(|| model::predict(&model::fit(&x, &y, &p).unwrap(), &xt).unwrap());
    assert_eq!(a, b);
}

#[test]
fn bad_training_data_is_a_clear_error() {
    let p = Params::default_for(Kind::RandomForest);
    assert!(matches!(model::fit(&[], &[], &p), Err(ModelError::EmptyTrainingSet)));
    let x = vec![vec![1.0, 2.0], vec![3.0, f64::NAN], vec![5.0, 6.0]];
    let y = vec![0.1, 0.2, 0.3];
    let ids: Vec<String> = vec!["h1".into(), "h2".into(), "h3".into()];
    let names: Vec<String> = vec!["hop_length".into(), "bn_an_min".into()];
    let e = model::fit_labeled(&x, &y, Labels::new(&ids, &names), &p).unwrap_err();
    assert!(matches!(e, ModelError::NonFiniteFeature { .. }));
    let msg = e.to_string();
    assert!(msg.contains("h2") && msg.contains("bn_an_min") && msg.contains("NaN"), "{msg}");
    let msg = model::fit(&x, &y, &p).unwrap_err().to_string();
    assert!(msg.contains("row 1") && msg.contains("x1"), "{msg}");

    let good = vec![vec![1.0, 2.0], vec![3.0, 4.0], vec![5.0, 6.0]];
    let e = model::fit_labeled(&good, &[0.1, f64::INFINITY, 0.3], Labels::new(&ids, &names), &p).unwrap_err().to_string();
    assert!(e.contains("h2") && e.contains("inf"), "{e}");
    assert!(matches!(model::fit(&good, &[0.1, 0.2], &p), Err(ModelError::LengthMismatch { .. })));
    assert!(matches!(model::fit(&good, &[0.1, -1.5, 0.3], &p), Err(ModelError::BadTarget { .. })));
    assert!(matches!(model::fit(&[vec![1.0], vec![1.0, 2.0]], &[0.1, 0.2], &p), Err(ModelError::RowLength { .. })));
    assert!(matches!(model::fit(&[vec![], vec![]], &[0.1, 0.2], &p), Err(ModelError::NoFeatures)));

    let m = model::fit(&good, &y, &params(Kind::RandomForest, &[("trees", "5")])).unwrap();
    assert!(matches!(model::predict(&m, &[vec![1.0]]), Err(ModelError::RowLength { .. })));
    let e = model::predict(&m, &[vec![1.0, f64::NAN]]).unwrap_err().to_string();
    assert!(e.contains("x1"), "{e}");
    assert!(model::predict(&m, &[]).unwrap().is_empty());
    // A one-row training set works.
    let one = model::fit(&[vec![1.0, 2.0]], &[0.5], &params(Kind::RandomForest, &[("trees", "3")])).unwrap();
    assert!((model::predict(&one, &[vec![0.0, 0.0]]).unwrap()[0] - 0.5).abs() < 1e-12);
    let gb = model::fit(&[vec![1.0, 2.0]], &[0.5], &params(Kind::BoostedTrees, &[("trees", "3")])).unwrap();
    assert!(model::predict(&gb, &[vec![0.0, 0.0]]).unwrap()[0].is_finite());
}

#[test]
fn hyperparameter_errors_are_clear() {
    let e = Params::parse(Kind::RandomForest, &map(&[("tres", "500")])).unwrap_err().to_string();
    assert!(e.contains("tres") && e.contains("trees"), "{e}");
    let e = Params::parse(Kind::BoostedTrees, &map(&[("learning_rate", "-1")])).unwrap_err().to_string();
    assert!(e.contains("learning_rate") && e.contains("-1"), "{e}");
    let e = Params::parse(Kind::RandomForest, &map(&[("target", "'sqrt'")])).unwrap_err().to_string();
    assert!(e.contains("target") && e.contains("log1p"), "{e}");
    assert_eq!("gbt".parse::<Kind>().unwrap(), Kind::BoostedTrees);
    assert!("svm".parse::<Kind>().is_err());
    let p = params(Kind::RandomForest, &[("trees", "500"), ("max_depth", "12"), ("min_samples_leaf", "2"), ("mtry", "0.33"), ("target", "'log1p'"), ("seed", "7")]);
    assert_eq!(p.to_string(), "random_forest(max_depth=12, min_samples_leaf=2, min_samples_split=2, mtry=0.33, seed=7, target=log1p, trees=500)");
}

#[test]
fn grouped_folds_never_split_a_group() {
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    let groups: Vec<String> = (0..400).map(|_| format!("host{}", rng.gen_range(0..60))).collect();
    for seed in 0..5 {
        let folds = model::group_folds(&groups, 5, seed).unwrap();
        let mut of: BTreeMap<&str, usize> = BTreeMap::new();
        for (g, &f) in groups.iter().zip(&folds) {
            assert_eq!(*of.entry(g.as_str()).or_insert(f), f, "group {g} split across folds");
        }
        assert_eq!(folds.iter().copied().collect::<BTreeSet<_>>().len(), 5);
    }
    // Row order does not change a group's fold.
    let rev: Vec<String> = groups.iter().rev().cloned().collect();
    let a = model::group_folds(&groups, 5, 3).unwrap();
    let b = model::group_folds(&rev, 5, 3).unwrap();
    assert_eq!(a, b.into_iter().rev().collect::<Vec<_>>());
}

#[test]
fn cross_validation_and_tuning() {
    let (x, y) = smooth(240, 4, 9);
    let groups: Vec<String> = (0..240).map(|i| format!("g{}", i / 6)).collect();
    let p = params(Kind::RandomForest, &[("trees", "50"), ("mtry", "all"), ("target", "identity")]);
    let cv = model::cross_validate(&p, &x, &y, Some(&groups), 5, 1).unwrap();
    assert_eq!((cv.fold_maes.len(), cv.predictions.len()), (5, 240));
    assert!(cv.mean_mae < 0.4, "{cv:?}");
    assert_eq!(cv, model::cross_validate(&p, &x, &y, Some(&groups), 5, 1).unwrap());
    for i in 0..240 {
        assert_eq!(cv.folds[i], cv.folds[(i / 6) * 6]);
    }
    // Out-of-fold predictions are those of a plain fit on the other folds.
    for kind in [Kind::RandomForest, Kind::BoostedTrees] {
        let p = params(kind, &[("trees", "40"), ("target", "identity")]);
        let cv = model::cross_validate(&p, &x, &y, Some(&groups), 5, 1).unwrap();
        let (train, test): (Vec<usize>, Vec<usize>) = (0..240).partition(|&i| cv.folds[i] != 2);
        let rows = |ix: &[usize]| ix.iter().map(|&i| x[i].clone()).collect::<Vec<_>>();
        let m = model::fit(&rows(&train), &train.iter().map(|&i| y[i]).collect::<Vec<_>>(), &p).unwrap();
        let direct = model::predict(&m, &rows(&test)).unwrap();
        assert_eq!(direct, test.iter().map(|&i| cv.predictions[i]).collect::<Vec<_>>(), "{kind}");
    }

    let grid = Grid::new().fixed("trees", "40").fixed("target", "identity").axis("mtry", &["1", "4"]).axis("min_samples_leaf", &["1", "20"]);
    let t = model::tune(Kind::RandomForest, &x, &y, Some(&groups), &grid, 4, 2).unwrap();
    assert_eq!(t.table.len(), 4);
    assert!(t.table.windows(2).all(|w| w[0].mean_mae <= w[1].mean_mae));
    assert_eq!(t.best, t.table[0].params);
    // All features per split and small leaves win on this noiseless function.
    assert_eq!(t.table[0].point["mtry"], "4");
    assert_eq!(t.table[0].point["min_samples_leaf"], "1");
    let bad = Grid::new().axis("mtry", &["0.5", "two"]);
    assert!(matches!(model::tune(Kind::RandomForest, &x, &y, Some(&groups), &bad, 4, 2), Err(ModelError::BadParam { .. })));
    assert!(matches!(model::cross_validate(&p, &x, &y, Some(&groups[..10]), 5, 1), Err(ModelError::LengthMismatch { .. })));
}

#[test]
fn registry_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::create(dir.path().join("db")).unwrap();
    let (x, y) = smooth(100, 3, 10);
    let y: Vec<f64> = y.iter().map(|v| v + 1.5).collect();
    let m = model::fit(&x, &y, &params(Kind::BoostedTrees, &[("trees", "30")])).unwrap();
    let ids: Vec<String> = (0..100).map(|i| format!("r{i}")).collect();
    let mut rec = ModelRecord::from_model("gbt-1", &m, "hop-v1@1", "abc", ids).unwrap();
    rec.metrics.insert("test_mae".into(), 0.2);
    rec.training_log.push("fit 100 rows".into());
    registry::save(&store, &rec, false).unwrap();
    assert!(matches!(registry::save(&store, &rec, false), Err(ModelError::Exists(_))));
    registry::save(&store, &rec, true).unwrap();
    let back = registry::load(&store, "gbt-1").unwrap();
    assert_eq!(back, rec);
    assert_eq!(model::predict(&back.model().unwrap(), &x).unwrap(), model::predict(&m, &x).unwrap());
    let mean = model::fit(&x, &y, &Params::default_for(Kind::Mean)).unwrap();
    registry::save(&store, &ModelRecord::from_model("base", &mean, "hop-v1@1", "", vec![]).unwrap(), false).unwrap();
    assert_eq!(registry::names(&store).unwrap(), vec!["base", "gbt-1"]);
    assert_eq!(registry::list(&store).unwrap().len(), 2);
    registry::drop(&store, "gbt-1").unwrap();
    assert!(matches!(registry::load(&store, "gbt-1"), Err(ModelError::NotFound(_))));
    assert!(matches!(registry::drop(&store, "gbt-1"), Err(ModelError::NotFound(_))));
    assert!(matches!(registry::save(&store, &ModelRecord { name: "bad name".into(), ..rec }, false), Err(ModelError::InvalidName(_))));
    assert!(store.audit_log().unwrap().iter().any(|a| a.op == "model"));
}

/// The real dataset: import the 619 hops, compute `hop-v1` descriptors, train on the paper's
/// training partition (559), evaluate on its test partition (60), and run a grouped 5-fold CV
/// over all 619. Prints the numbers; asserts only loose bounds.
#[test]
fn end_to_end_on_devi2025() {
    if !Path::new(DEVI_DIR).join("band_train.json").is_file() {
        eprintln!("skipping: {DEVI_DIR} not found");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = Store::create(dir.path().join("db")).unwrap();
    let (c, r) = hopdb::import::devi::read_dir_with(Path::new(DEVI_DIR), &store.class_groups().unwrap(), false).unwrap();
    hopdb::import::commit(&store, c, r, &Default::default(), "t").unwrap();
    let records: Vec<_> = store.records().collect::<Result<_, _>>().unwrap();
    assert_eq!(records.len(), 619);
    let hosts = hopdb::split::host_components(&records);
    let t0 = Instant::now();
    let all_ids: Vec<String> = records.iter().map(|r| r.id.clone()).collect();
    let fm = hopdb::features::compute_many(&store, &all_ids).unwrap();
    eprintln!("descriptors: {} x {} in {:.1} s", fm.rows.len(), fm.names.len(), t0.elapsed().as_secs_f64());
    let em: BTreeMap<&str, f64> = records.iter().map(|r| (r.id.as_str(), r.em)).collect();
    let row_of: BTreeMap<&str, usize> = fm.ids.iter().enumerate().map(|(i, id)| (id.as_str(), i)).collect();
    let take = |ids: &[String]| -> (Vec<Vec<f64>>, Vec<f64>) { (ids.iter().map(|id| fm.rows[row_of[id.as_str()]].clone()).collect(), ids.iter().map(|id| em[id.as_str()]).collect()) };
    let train_ids = store.ids_where("partition", "train").unwrap();
    let test_ids = store.ids_where("partition", "test").unwrap();
    assert_eq!((train_ids.len(), test_ids.len()), (559, 60));
    let (xtr, ytr) = take(&train_ids);
    let (xte, yte) = take(&test_ids);

    for kind in Kind::ALL {
        let t = Instant::now();
        let p = Params::default_for(kind);
        let m = model::fit_labeled(&xtr, &ytr, Labels::new(&train_ids, &fm.names), &p).unwrap();
        let fit_s = t.elapsed().as_secs_f64();
        let blob = m.to_bytes().unwrap().len();
        let pred = model::predict(&m, &xte).unwrap();
        let met = metrics::metrics(&yte, &pred).unwrap();
        let cls = metrics::classify(&yte, &pred, DEFAULT_THRESHOLD).unwrap();
        let se = metrics::bootstrap(&yte, &pred, 1000, 1).unwrap();
        eprintln!(
            "{kind:>14}: paper-split test MAE {:.3} ± {:.3} eV, RMSE {:.3}, R^2 {:.3} ± {:.3}, accuracy@0.65 {:.3} (fit {fit_s:.1} s, {:.1} MB)",
            met.mae, se.mae, met.rmse, met.r2, se.r2, cls.accuracy, blob as f64 / 1e6
        );
        match kind {
            Kind::Mean => assert!(met.mae > 0.4),
            _ => {
                assert!(met.mae < 0.45, "{kind} test MAE {}", met.mae);
                assert!(met.r2 > 0.2, "{kind} test R^2 {}", met.r2);
                let imp = model::importances(&m);
                eprintln!("{kind:>14}: top features {:?}", &imp[..5].iter().map(|(n, v)| format!("{n} {v:.3}")).collect::<Vec<_>>());
            }
        }
    }

    // Grouped 5-fold CV over all 619 hops (group = host structure).
    let groups: Vec<String> = fm.ids.iter().map(|id| hosts[id].clone()).collect();
    let yall: Vec<f64> = fm.ids.iter().map(|id| em[id.as_str()]).collect();
    for kind in [Kind::RandomForest, Kind::BoostedTrees] {
        let t = Instant::now();
        let cv = model::cross_validate(&Params::default_for(kind), &fm.rows, &yall, Some(&groups), 5, 42).unwrap();
        eprintln!(
            "{kind:>14}: grouped 5-fold CV (619) MAE {:.3} ± {:.3} eV, pooled R^2 {:.3} ({:.1} s)",
            cv.mean_mae,
            cv.std_mae,
            cv.pooled.r2,
            t.elapsed().as_secs_f64()
        );
        assert!(cv.mean_mae < 0.5);
    }
}

/// Grid search on the paper's training partition with the default grids (slow: run with
/// `cargo test --release --test models -- --ignored --nocapture`). Prints the tables, the
/// tuned test scores and the time of each search.
#[test]
#[ignore = "slow grid search (minutes); run by hand to re-derive the default hyperparameters"]
fn tune_on_devi2025() {
    if !Path::new(DEVI_DIR).join("band_train.json").is_file() {
        eprintln!("skipping: {DEVI_DIR} not found");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = Store::create(dir.path().join("db")).unwrap();
    let (c, r) = hopdb::import::devi::read_dir_with(Path::new(DEVI_DIR), &store.class_groups().unwrap(), false).unwrap();
    hopdb::import::commit(&store, c, r, &Default::default(), "t").unwrap();
    let records: Vec<_> = store.records().collect::<Result<_, _>>().unwrap();
    let hosts = hopdb::split::host_components(&records);
    let em: BTreeMap<&str, f64> = records.iter().map(|r| (r.id.as_str(), r.em)).collect();
    let train_ids = store.ids_where("partition", "train").unwrap();
    let test_ids = store.ids_where("partition", "test").unwrap();
    let ftr = hopdb::features::compute_many(&store, &train_ids).unwrap();
    let fte = hopdb::features::compute_many(&store, &test_ids).unwrap();
    let ytr: Vec<f64> = train_ids.iter().map(|id| em[id.as_str()]).collect();
    let yte: Vec<f64> = test_ids.iter().map(|id| em[id.as_str()]).collect();
    let groups: Vec<String> = train_ids.iter().map(|id| hosts[id].clone()).collect();
    // HOPDB_TUNE_KINDS=rf,gbt picks the kinds, HOPDB_TUNE_GRID='key=v1,v2;key2=v' the grid.
    let grid_env = std::env::var("HOPDB_TUNE_GRID").ok();
    let kinds: Vec<Kind> = std::env::var("HOPDB_TUNE_KINDS").map(|s| s.split(',').map(|k| k.parse().unwrap()).collect()).unwrap_or(vec![Kind::RandomForest, Kind::BoostedTrees]);
    for kind in kinds {
        let grid = match &grid_env {
            Some(spec) => Grid::from_map(&spec.split(';').filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.trim().to_string(), v.trim().to_string())).collect()),
            None => Grid::default_for(kind),
        };
        let t = Instant::now();
        let res = model::tune(kind, &ftr.rows, &ytr, Some(&groups), &grid, 5, 42).unwrap();
        eprintln!("{kind}: {} points x 5 folds in {:.1} s", res.table.len(), t.elapsed().as_secs_f64());
        for row in &res.table {
            let pt: Vec<String> = grid.axes.iter().map(|(k, _)| format!("{k}={}", row.point[k])).collect();
            eprintln!("  {:<50} CV MAE {:.4} ± {:.4}", pt.join(" "), row.mean_mae, row.std_mae);
        }
        let m = model::fit(&ftr.rows, &ytr, &res.best).unwrap();
        let met = metrics::metrics(&yte, &model::predict(&m, &fte.rows).unwrap()).unwrap();
        eprintln!("{kind}: best {} -> test MAE {:.3}, R^2 {:.3}", res.best, met.mae, met.r2);
    }
}
