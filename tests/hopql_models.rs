//! Model statements through HopQL on the 619 imported hops: TRAIN / EVALUATE / PREDICT /
//! CROSS VALIDATE / SHOW / DESCRIBE / DROP, stored predictions, the training-set guard,
//! reports, and bad input. Metric values are checked against an independent computation
//! from the stored predictions.

use hopdb::query::exec::query;
use hopdb::query::parse_statement;
mod common;

use hopdb::store::Store;
use hopdb::table::{ResultTable, Value};
use std::collections::BTreeMap;
use std::path::Path;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/devi2025");

fn fresh_store() -> (tempfile::TempDir, Store) {
    let (dir, store) = common::devi_store();
    query(&store, "CREATE SPLIT paper FROM PARTITION").unwrap();
    (dir, store)
}

fn num(v: &Value) -> f64 {
    match v {
        Value::Num(x) => *x,
        Value::Int(i) => *i as f64,
        other => panic!("not a number: {other:?}"),
    }
}

fn metric(t: &ResultTable, name: &str) -> f64 {
    let row = t.rows.iter().find(|r| r[0] == Value::Str(name.into())).unwrap_or_else(|| panic!("no metric {name}"));
    num(&row[1])
}

fn err_of(store: &Store, q: &str) -> String {
    match query(store, q) {
        Ok(t) => panic!("expected an error from {q}, got {} rows", t.rows.len()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn train_evaluate_predict_and_stored_predictions() {
    let (_d, store) = fresh_store();
    let t = query(&store, "TRAIN gbt AS boosted_trees ON SPLIT paper WITH trees = 200, max_depth = 4, seed = 7").unwrap();
    assert_eq!(t.rows[0][3], Value::Int(559));
    let ev = query(&store, "EVALUATE gbt ON SPLIT paper").unwrap();
    assert_eq!(metric(&ev, "test_hops"), 60.0);
    let mae = metric(&ev, "mae");
    assert!(mae > 0.05 && mae < 0.4, "test MAE {mae}");

    // The summary agrees with an independent computation from the stored test predictions.
    let preds = query(&store, "SHOW PREDICTIONS OF gbt WHERE partition = 'test'").unwrap();
    assert_eq!(preds.rows.len(), 60);
    let col = |name: &str| preds.columns.iter().position(|c| c == name).unwrap();
    let (ce, cp) = (col("em"), col("predicted"));
    let pairs: Vec<(f64, f64)> = preds.rows.iter().map(|r| (num(&r[ce]), num(&r[cp]))).collect();
    let my_mae = pairs.iter().map(|(a, b)| (a - b).abs()).sum::<f64>() / 60.0;
    assert!((my_mae - mae).abs() < 1e-9, "{my_mae} vs {mae}");
    let good = pairs.iter().filter(|(a, b)| (*a < 0.65) == (*b < 0.65)).count() as f64 / 60.0;
    assert!((good - metric(&ev, "accuracy")).abs() < 1e-12);
    // The em column equals the record's em.
    for r in &preds.rows {
        let Value::Str(id) = &r[0] else { panic!() };
        assert_eq!(num(&r[ce]), store.record(id).unwrap().em);
    }
    // Train predictions are stored too.
    let all = query(&store, "SHOW PREDICTIONS OF gbt").unwrap();
    assert_eq!(all.rows.len(), 619);
    let limited = query(&store, "SHOW PREDICTIONS OF gbt WHERE ion = 'Mg' LIMIT 3 OFFSET 1").unwrap();
    assert_eq!(limited.rows.len(), 3);

    // Breakdowns: group counts add up to 60; the scenarios are A/B/C/none of the paper split.
    let by_group = query(&store, "EVALUATE gbt ON SPLIT paper BY group").unwrap();
    assert_eq!(by_group.rows.iter().map(|r| num(&r[1])).sum::<f64>(), 60.0);
    let by_scen = query(&store, "EVALUATE gbt ON SPLIT paper BY scenario").unwrap();
    let counts: BTreeMap<String, f64> = by_scen.rows.iter().map(|r| (r[0].to_string(), num(&r[1]))).collect();
    assert_eq!(counts, BTreeMap::from([("A".into(), 19.0), ("B".into(), 11.0), ("C".into(), 21.0), ("none".into(), 9.0)]));
    let by_hop = query(&store, "EVALUATE gbt ON SPLIT paper BY hop THRESHOLD 1.0").unwrap();
    assert_eq!(by_hop.rows.len(), 60);

    // PREDICT for a query: predictions match the stored ones of the same model.
    let p = query(&store, "PREDICT gbt FOR (SELECT * FROM hops WHERE ion = 'Zn')").unwrap();
    assert!(!p.rows.is_empty());
    let zn = query(&store, "SELECT COUNT(*) FROM hops WHERE ion = 'Zn'").unwrap();
    assert_eq!(p.rows.len() as f64, num(&zn.rows[0][0]));
    let stored = query(&store, "SHOW PREDICTIONS OF gbt WHERE ion = 'Zn'").unwrap();
    assert!(stored.rows.iter().all(|r| r[1] == Value::Str("predict".into())));

    // Export, then drop removes the model and its predictions in one write.
    let dir = tempfile::tempdir().unwrap();
    let csv_path = dir.path().join("p.csv");
    query(&store, &format!("EXPORT PREDICTIONS OF gbt TO '{}'", csv_path.display())).unwrap();
    let text = std::fs::read_to_string(&csv_path).unwrap();
    assert_eq!(text.lines().count(), 620, "header + 619 rows");
    assert!(text.starts_with("id,partition,split,group,ion,em,predicted,error"));
    let d = query(&store, "DROP MODEL gbt").unwrap();
    assert_eq!(d.rows[0][1], Value::Int(619));
    assert!(hopdb::workflow::load_predictions(&store, "gbt").unwrap().is_empty());
    assert!(err_of(&store, "SHOW PREDICTIONS OF gbt").contains("gbt"));
}

#[test]
fn evaluation_on_a_split_with_another_training_set_is_refused_unless_forced() {
    let (_d, store) = fresh_store();
    query(&store, "TRAIN m AS random_forest ON SPLIT paper WITH trees = 50").unwrap();
    query(&store, "CREATE SPLIT other FROM (SELECT * FROM hops) RANDOM TEST 20% SEED 3").unwrap();
    let e = err_of(&store, "EVALUATE m ON SPLIT other");
    assert!(e.contains("different training partition") && e.contains("FORCE"), "{e}");
    let forced = query(&store, "EVALUATE m ON SPLIT other FORCE").unwrap();
    let other = hopdb::split::load(&store, "other").unwrap();
    assert_eq!(metric(&forced, "test_hops"), other.test().len() as f64);
    // A split with the same training ids under another name is accepted.
    let s = hopdb::split::load(&store, "paper").unwrap();
    let list = |v: &[String]| v.iter().map(|x| format!("'{x}'")).collect::<Vec<_>>().join(", ");
    query(&store, &format!("CREATE SPLIT same FROM IDS ({}) TEST ({})", list(s.train()), list(s.test()))).unwrap();
    query(&store, "EVALUATE m ON SPLIT same").unwrap();
}

#[test]
fn show_describe_tune_and_cross_validate() {
    let (_d, store) = fresh_store();
    query(&store, "TRAIN base AS mean ON SPLIT paper").unwrap();
    let t = query(&store, "TUNE rf AS random_forest ON SPLIT paper WITH trees = 40, mtry = (0.2, 0.4), min_samples_leaf = 2 FOLDS 3 SEED 5").unwrap();
    assert_eq!(t.rows.len(), 2, "two grid points");
    let best = num(&t.rows[0][1]);
    assert!(best <= num(&t.rows[1][1]));
    let models = query(&store, "SHOW MODELS").unwrap();
    let names: Vec<String> = models.rows.iter().map(|r| r[0].to_string()).collect();
    assert_eq!(names, ["base", "rf"]);
    let d = query(&store, "DESCRIBE MODEL rf").unwrap();
    let section = |s: &str| d.rows.iter().filter(|r| r[0] == Value::Str(s.into())).count();
    assert_eq!(section("importance"), hopdb::query::models::DESCRIBE_TOP_FEATURES);
    assert!(d.rows.iter().any(|r| r[1] == Value::Str("cv_mae".into()) && (num(&r[2]) - best).abs() < 1e-12));
    assert!(d.rows.iter().any(|r| r[0] == Value::Str("log".into()) && r[2].to_string().contains("grouped 3-fold")));

    query(&store, "CREATE SPLIT cv FROM (SELECT * FROM hops) GROUPED KFOLD 5 SEED 1").unwrap();
    let cv = query(&store, "CROSS VALIDATE boosted_trees ON SPLIT cv WITH trees = 100").unwrap();
    assert_eq!(cv.rows.len(), 7);
    let folds: f64 = cv.rows[..5].iter().map(|r| num(&r[1])).sum();
    assert_eq!(folds, 619.0);
    let mean = cv.rows[..5].iter().map(|r| num(&r[2])).sum::<f64>() / 5.0;
    assert!((mean - num(&cv.rows[5][2])).abs() < 1e-12);
    assert!(num(&cv.rows[6][2]) < 0.45, "pooled CV MAE");
}

#[test]
fn bad_model_statements_are_clear_errors_and_write_nothing() {
    let (_d, store) = fresh_store();
    let before = store.audit_log().unwrap().len();
    let e = err_of(&store, "TRAIN x AS deep_forest ON SPLIT paper");
    assert!(e.contains("unknown model kind 'deep_forest'"), "{e}");
    let e = err_of(&store, "TRAIN x AS random_forest ON SPLIT nope");
    assert!(e.contains("nope"), "{e}");
    let e = err_of(&store, "TRAIN x AS random_forest ON SPLIT paper WITH trees = -3");
    assert!(e.contains("trees"), "{e}");
    let e = err_of(&store, "TRAIN x AS random_forest ON SPLIT paper WITH colour = 'blue'");
    assert!(e.contains("colour"), "{e}");
    let e = err_of(&store, "TRAIN x AS random_forest(big) ON SPLIT paper");
    assert!(e.contains("takes no variant"), "{e}");
    query(&store, "CREATE SPLIT cv FROM (SELECT * FROM hops) GROUPED KFOLD 5").unwrap();
    let e = err_of(&store, "TRAIN x AS random_forest ON SPLIT cv");
    assert!(e.contains("no 'train' partition") && e.contains("CROSS VALIDATE"), "{e}");
    let e = err_of(&store, "CROSS VALIDATE random_forest ON SPLIT paper");
    assert!(e.contains("k-fold"), "{e}");
    let e = err_of(&store, "EVALUATE ghost ON SPLIT paper");
    assert!(e.contains("ghost"), "{e}");
    let e = err_of(&store, "TRAIN x AS mean ON SPLIT paper PRETRAINED ON (SELECT * FROM hops)");
    assert!(e.contains("PRETRAINED ON"), "{e}");
    let after = store.audit_log().unwrap().len();
    assert_eq!(after, before + 1, "only CREATE SPLIT wrote");
    query(&store, "TRAIN x AS mean ON SPLIT paper").unwrap();
    let e = err_of(&store, "TRAIN x AS mean ON SPLIT paper");
    assert!(e.contains("exists"), "{e}");
    query(&store, "TRAIN x AS mean ON SPLIT paper REPLACE").unwrap();
    // Parse errors point at the token.
    let e = err_of(&store, "EVALUATE x ON paper");
    assert!(e.contains("SPLIT"), "{e}");
    let e = err_of(&store, "TUNE x AS rf ON SPLIT paper FOLDS 1");
    assert!(e.contains("at least 2"), "{e}");
    #[cfg(not(feature = "gnn"))]
    {
        let e = err_of(&store, "TRAIN g AS gnn(band) ON SPLIT paper");
        assert!(e.contains("gnn"), "{e}");
    }
}

#[test]
fn model_statements_print_and_reparse() {
    for q in [
        "TRAIN m AS random_forest ON SPLIT paper",
        "TRAIN m AS boosted_trees ON SPLIT paper WITH trees = 500, target = 'log1p', mtry = sqrt REPLACE",
        "TRAIN g AS gnn(band) ON SPLIT paper PRETRAINED ON (SELECT * FROM hops WHERE fidelity = 'bvse') WITH epochs = 30, lr = 0.001",
        "TUNE m AS rf ON SPLIT paper WITH mtry = (0.1, 0.2), trees = 300 FOLDS 3 SEED 9",
        "EVALUATE m ON SPLIT paper BY scenario THRESHOLD 0.5 FORCE",
        "PREDICT m FOR (SELECT * FROM hops WHERE ion = 'Li')",
        "CROSS VALIDATE gbt ON SPLIT cv WITH trees = 100",
        "SHOW MODELS",
        "DESCRIBE MODEL m",
        "DROP MODEL m",
        "SHOW PREDICTIONS OF m WHERE em > 1 LIMIT 5 OFFSET 2",
        "EXPORT PREDICTIONS OF m TO 'it''s.csv'",
    ] {
        let a = parse_statement(q).unwrap_or_else(|e| panic!("{q}: {e}"));
        let printed = a.to_string();
        let b = parse_statement(&printed).unwrap_or_else(|e| panic!("{printed}: {e}"));
        assert_eq!(a, b, "{q} -> {printed}");
    }
    // Keywords are case-insensitive.
    assert_eq!(parse_statement("show models").unwrap(), parse_statement("SHOW MODELS").unwrap());
    // DESCRIBE hops still works.
    assert!(parse_statement("DESCRIBE hops").is_ok());
}

#[test]
fn report_writes_markdown_and_svg_plots() {
    let (_d, store) = fresh_store();
    query(&store, "TRAIN gbt AS boosted_trees ON SPLIT paper WITH trees = 100").unwrap();
    let out = tempfile::tempdir().unwrap();
    let before = store.audit_log().unwrap().len();
    let f = hopdb::report::write_report(&store, "gbt", None, out.path()).unwrap();
    let writes: Vec<String> = store.audit_log().unwrap()[before..].iter().map(|a| a.op.clone()).collect();
    assert!(writes.iter().all(|op| op == "features"), "a report writes nothing but the descriptor cache: {writes:?}");
    let md = std::fs::read_to_string(&f.markdown).unwrap();
    for needle in ["# Model `gbt`", "parity.svg", "confusion.svg", "group_errors.svg", "abs_error_hist.svg", "## Errors by scenario", "| A | 19 |"] {
        assert!(md.contains(needle), "report lacks {needle}");
    }
    assert_eq!(f.plots.len(), 4);
    for p in &f.plots {
        let svg = std::fs::read_to_string(p).unwrap();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"), "{}", p.display());
    }
    // The parity plot has one marker per hop (559 train + 60 test) plus 2 legend markers.
    let parity = std::fs::read_to_string(out.path().join("parity.svg")).unwrap();
    assert_eq!(parity.matches("<circle").count(), 619 + 2);
    // No split with the model's fingerprint: a clear error.
    query(&store, "DROP SPLIT paper").unwrap();
    let e = hopdb::report::write_report(&store, "gbt", None, out.path()).unwrap_err().to_string();
    assert!(e.contains("--split"), "{e}");
}

#[test]
fn published_rows_reproduce_the_papers_figures() {
    let mut notes = vec![];
    let rows = hopdb::paper_bench::published_rows(Path::new(DATA), 1000, &mut notes).unwrap();
    let m3 = rows.iter().find(|r| r.model.starts_with("MODEL-3") && r.evaluated_on == "test (60)").unwrap();
    // The paper: MODEL-3 test MAE 0.261 eV, R^2 0.703, 80 % accuracy at 0.65 eV.
    assert!((m3.metrics.mae - 0.261).abs() < 0.0005, "{}", m3.metrics.mae);
    assert!((m3.metrics.r2 - 0.703).abs() < 0.0005, "{}", m3.metrics.r2);
    assert!((m3.classification.accuracy - 0.80).abs() < 1e-12);
    // MACE-MP-0 NEB with relaxation: 0.340 eV in the paper.
    let mace = rows.iter().find(|r| r.model.starts_with("MACE-RELAX")).unwrap();
    assert!((mace.metrics.mae - 0.340).abs() < 0.0005, "{}", mace.metrics.mae);
    // Three test hops have no MACE-NO-RELAX value; the note names them.
    let norelax = rows.iter().find(|r| r.model.starts_with("MACE-NO-RELAX")).unwrap();
    assert_eq!(norelax.metrics.n, 57);
    assert!(notes.iter().any(|n| n.contains("MgTi2O4")), "{notes:?}");
    assert_eq!(rows.iter().filter(|r| r.evaluated_on == "train (559)").count(), 4);
}

#[test]
fn bench_paper_cli_runs_and_writes_the_page() {
    let out = tempfile::tempdir().unwrap();
    let page = out.path().join("benchmarks.md");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_hopdb"))
        .args(["bench", "paper", "--data", DATA, "--seeds", "1", "--no-tune", "--format", "json", "--write-docs"])
        .arg(&page)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 13, "3 hop-v1 tree rows, 3 hop-v2 rows, 7 published");
    let gbt = rows.iter().find(|r| r["model"] == "hopdb boosted trees").unwrap();
    let v2 = rows.iter().find(|r| r["model"] == "hopdb boosted trees [hop-v2@1[mlip=mace-mp-0/devi2025-relax]]").expect("a hop-v2 row");
    assert!(v2["cv_mae"].as_f64().unwrap() < 0.35);
    assert!(v["notes"].as_array().unwrap().iter().any(|n| n.as_str().unwrap().contains("a barrier for 616 of 619 hops")), "{}", v["notes"]);
    assert!(gbt["metrics"]["mae"].as_f64().unwrap() < 0.3);
    assert!(gbt["cv_mae"].as_f64().unwrap() < 0.35);
    let md = std::fs::read_to_string(&page).unwrap();
    assert!(md.contains("| hopdb boosted trees | test (60) |"), "{md}");
    // A missing dataset is a clear error.
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_hopdb")).args(["bench", "paper", "--data", "/nonexistent"]).output().unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("band_train.json"));
}
