//! Lineage on the real data: data versions, stale models and RETRAIN, AS OF time travel,
//! `diff`, and split drift (issue: "every model and split knows the data it was made from").

mod common;

use hopdb::import::source::{import, Source};
use hopdb::model::{lineage, registry};
use hopdb::query::exec::query;
use hopdb::record::{Edit, Fidelity};
use hopdb::store::{AsOf, Change, Store};
use hopdb::table::{ResultTable, Value};

const EDITED: &str = "devi2025:LiCoO2_1";

fn col<'a>(t: &'a ResultTable, name: &str) -> usize {
    t.columns.iter().position(|c| c == name).unwrap_or_else(|| panic!("no column {name} in {:?}", t.columns))
}

fn row_of<'a>(t: &'a ResultTable, name: &str) -> &'a [Value] {
    t.rows.iter().find(|r| r[0] == Value::Str(name.into())).unwrap_or_else(|| panic!("no row {name}"))
}

fn count(store: &Store, q: &str) -> i64 {
    match &query(store, q).unwrap().rows[0][0] {
        Value::Int(n) => *n,
        other => panic!("{other:?}"),
    }
}

fn import_two_bvse_hops(store: &Store) -> Vec<String> {
    let src = Source::Xyz { file: concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/litraj/nebBVSE_2records.xyz").into(), fidelity: Fidelity::Bvse, dataset: Some("litraj".into()), trajectory: false };
    let rep = import(store, &src, &Default::default()).unwrap();
    assert_eq!(rep.added.len(), 2);
    rep.added.clone()
}

#[test]
fn an_edit_makes_a_model_stale_retrain_versions_it_and_as_of_sees_the_old_store() {
    let (_dir, store) = common::devi_store();
    query(&store, "CREATE SPLIT paper FROM PARTITION").unwrap();
    // A split cut from a query before the later import.
    query(&store, "CREATE SPLIT dft FROM (SELECT * FROM hops WHERE fidelity IN ('dft', 'bvse')) RANDOM TEST 0.1 SEED 3").unwrap();
    let dft_fp = hopdb::split::load(&store, "dft").unwrap().fingerprint;
    query(&store, "TRAIN rf AS random_forest ON SPLIT paper WITH trees = 40").unwrap();
    query(&store, "TRAIN g2 AS boosted_trees ON SPLIT paper WITH trees = 20, features = 'hop-v2', mlip = 'none'").unwrap();
    let eval1 = query(&store, "EVALUATE rf ON SPLIT paper").unwrap();
    let mae1 = match row_of(&eval1, "mae")[1] {
        Value::Num(x) => x,
        ref v => panic!("{v:?}"),
    };
    assert_eq!(row_of(&eval1, "stale")[1], Value::Bool(false));
    let rf = registry::load(&store, "rf").unwrap();
    assert!(rf.train_ids.iter().any(|id| id == EDITED), "the edited hop is a training hop of the paper split");
    let lin = rf.lineage.clone().expect("a model trained now records its lineage");
    assert_eq!(lin.split, "paper");
    assert_eq!(lin.content_hash.len(), 64);

    // The edit of a training hop.
    let before_edit = store.version().unwrap();
    assert_eq!(store.record(EDITED).unwrap().em, 0.672);
    store.edit(EDITED, &[Edit::Em(4.5)], "test").unwrap();
    let after_edit = store.version().unwrap();
    assert!(after_edit.seq > before_edit.seq);

    // SHOW MODELS names the stale model and the hop; EVALUATE says so, STRICT refuses.
    let models = query(&store, "SHOW MODELS").unwrap();
    let r = &models.rows[0];
    assert_eq!(r[col(&models, "stale")], Value::Bool(true));
    let why = r[col(&models, "why")].to_string();
    assert!(why.contains(EDITED) && why.contains("em 0.672 -> 4.5"), "{why}");
    let st = lineage::staleness(&store, &registry::load(&store, "rf").unwrap()).unwrap().unwrap();
    assert_eq!(st.changed.len(), 1);
    assert_eq!(st.changed[0].id, EDITED);
    let eval2 = query(&store, "EVALUATE rf ON SPLIT paper").unwrap();
    assert_eq!(row_of(&eval2, "stale")[1], Value::Bool(true));
    assert!(eval2.title.as_deref().unwrap_or("").contains("stale"), "{:?}", eval2.title);
    let e = query(&store, "EVALUATE rf ON SPLIT paper STRICT").unwrap_err().to_string();
    assert!(e.contains("STRICT refuses a stale model") && e.contains(EDITED), "{e}");
    let e = query(&store, "PREDICT rf FOR (SELECT * FROM hops WHERE ion = 'Mg') STRICT").unwrap_err().to_string();
    assert!(e.contains("stale"), "{e}");
    let p = query(&store, "PREDICT rf FOR (SELECT * FROM hops WHERE ion = 'Mg')").unwrap();
    assert!(p.title.as_deref().unwrap_or("").contains("stale"));
    // Evaluating the stale model again records its metrics on the edited label: keep rf@1's
    // metrics as they were evaluated before the edit for the check below.
    query(&store, "EVALUATE rf ON SPLIT paper").unwrap();
    let mae_stale = registry::load(&store, "rf").unwrap().metrics["test_mae"];

    // RETRAIN keeps a model's feature set.
    query(&store, "RETRAIN g2").unwrap();
    assert_eq!(registry::load(&store, "g2").unwrap().feature_set, "hop-v2@1[mlip=none]");
    assert_eq!(registry::load(&store, "g2@1").unwrap().feature_set, "hop-v2@1[mlip=none]");
    // RETRAIN: rf@2 on the new label; rf@1 keeps its metrics and predictions.
    let t = query(&store, "RETRAIN rf").unwrap();
    assert!(t.title.as_deref().unwrap().contains("version 2"), "{:?}", t.title);
    let v2 = registry::load(&store, "rf@2").unwrap();
    let v1 = registry::load(&store, "rf@1").unwrap();
    assert_eq!((v2.name.as_str(), v2.version, v1.name.as_str(), v1.version), ("rf", 2, "rf@1", 1));
    assert_eq!(v1.metrics["test_mae"], mae_stale);
    assert_eq!(v1.lineage.as_ref().unwrap().content_hash, lin.content_hash);
    let lin2 = v2.lineage.clone().unwrap();
    assert_ne!(lin2.content_hash, lin.content_hash, "rf@2 learned the new label");
    assert!(lin2.data_version >= after_edit.seq);
    assert!(!lineage::staleness(&store, &v2).unwrap().unwrap().is_stale());
    assert!(lineage::staleness(&store, &v1).unwrap().unwrap().is_stale());
    assert!(!hopdb::workflow::load_predictions(&store, "rf@1").unwrap().is_empty(), "rf@1 keeps its predictions");
    assert!(hopdb::workflow::load_predictions(&store, "rf").unwrap().is_empty(), "rf@2 has none yet");
    let models = query(&store, "SHOW MODELS").unwrap();
    let names: Vec<String> = models.rows.iter().map(|r| r[0].to_string()).collect();
    assert_eq!(names, ["g2", "g2@1", "rf", "rf@1"]);
    assert!(mae1 > 0.0);
    let e = query(&store, "RETRAIN rf@1").unwrap_err().to_string();
    assert!(e.contains("latest version"), "{e}");

    // AS OF the version before the edit: the old label, from every SELECT form.
    let q = format!("SELECT em FROM hops AS OF {} WHERE id = '{EDITED}'", before_edit.seq);
    assert_eq!(query(&store, &q).unwrap().rows, vec![vec![Value::Num(0.672)]]);
    let q = format!("SELECT em FROM hops WHERE id = '{EDITED}'");
    assert_eq!(query(&store, &q).unwrap().rows, vec![vec![Value::Num(4.5)]]);
    let q = format!("SELECT COUNT(*) FROM hops AS OF {} WHERE em > 4", before_edit.seq);
    assert_eq!(count(&store, &q), count(&store, "SELECT COUNT(*) FROM hops WHERE em > 4") - 1);
    let q = format!("SELECT em FROM hops AS OF '{}' WHERE id = '{EDITED}'", before_edit.at);
    // The time of the version before the edit may be shared with the edit (seconds): compare
    // with the version it resolves to.
    let v_at = store.resolve_version(&AsOf::Time(before_edit.at.clone())).unwrap();
    let expect_old = v_at.seq < after_edit.seq;
    let em = query(&store, &q).unwrap().rows[0][0].clone();
    assert_eq!(em, Value::Num(if expect_old { 0.672 } else { 4.5 }));

    // A later import: AS OF before it counts the hops it held then.
    let n_before_import = count(&store, "SELECT COUNT(*) FROM hops");
    let before_import = store.version().unwrap();
    let imported = import_two_bvse_hops(&store);
    assert_eq!(count(&store, "SELECT COUNT(*) FROM hops"), n_before_import + 2);
    assert_eq!(count(&store, &format!("SELECT COUNT(*) FROM hops AS OF {}", before_import.seq)), n_before_import);
    let q = format!("SELECT id FROM hops AS OF {} WHERE fidelity = 'bvse' AND source = 'litraj'", before_import.seq);
    assert!(query(&store, &q).unwrap().rows.is_empty());
    // A split from a query AS OF before the import holds the hops of then.
    query(&store, &format!("CREATE SPLIT old FROM (SELECT * FROM hops AS OF {} WHERE ion = 'Li') RANDOM SEED 1", before_import.seq)).unwrap();
    let old = hopdb::split::load(&store, "old").unwrap();
    assert_eq!(old.all_ids().len() as i64, count(&store, &format!("SELECT COUNT(*) FROM hops AS OF {} WHERE ion = 'Li'", before_import.seq)));
    assert!(imported.iter().all(|id| !old.all_ids().contains(&id.as_str())));
    assert_eq!(old.data_version, Some(before_import.seq));

    // diff lists exactly the edited and the imported records.
    let d = store.diff(before_edit.seq, store.version().unwrap().seq).unwrap();
    let mut ids: Vec<&str> = d.iter().map(|(id, _)| id.as_str()).collect();
    ids.sort();
    let mut expect: Vec<&str> = imported.iter().map(String::as_str).chain([EDITED]).collect();
    expect.sort();
    assert_eq!(ids, expect);
    for (id, c) in &d {
        match c {
            Change::Changed(f) => {
                assert_eq!(id, EDITED);
                assert_eq!(f.len(), 1, "{f:?}");
                assert_eq!((f[0].field.as_str(), f[0].old.as_str(), f[0].new.as_str(), f[0].reason.as_deref()), ("em", "0.672", "4.5", Some("test")));
            }
            Change::Added => assert!(imported.contains(id)),
            Change::Removed => panic!("nothing was removed"),
        }
    }

    // The split made before the import: its query now selects 2 more hops; it is unchanged.
    let s = hopdb::split::load(&store, "dft").unwrap();
    assert_eq!(s.fingerprint, dft_fp);
    assert!(s.data_version.is_some_and(|v| v < before_edit.seq));
    let drift = hopdb::query::splits::split_drift(&store, &s).unwrap();
    assert_eq!(drift.added.as_ref().unwrap().len(), 2, "{drift:?}");
    assert!(drift.dropped.as_ref().unwrap().is_empty());
    assert_eq!(drift.changed, [EDITED.to_string()]);
    let t = query(&store, "SHOW SPLIT dft").unwrap();
    let title = t.title.unwrap();
    assert!(title.contains("now selects 2 more and 0 fewer hops") && title.contains("1 member hop(s) changed"), "{title}");
    assert_eq!(hopdb::split::load(&store, "dft").unwrap().fingerprint, dft_fp);
}

#[test]
fn as_of_answers_every_select_form_like_the_store_did_then() {
    let (_dir, store) = common::devi_store();
    let v0 = store.version().unwrap().seq;
    let forms = [
        "SELECT * FROM hops",
        "SELECT id, em FROM hops WHERE ion = 'Li' AND em < 0.5 ORDER BY em DESC LIMIT 7",
        "SELECT ion, COUNT(*), AVG(em) FROM hops GROUP BY ion",
        "SELECT id FROM hops WHERE flags HAS 'suspect'",
        "SELECT id FROM hops WHERE em BETWEEN 0.6 AND 0.7 LIMIT 5 OFFSET 2",
        "SELECT group, MEDIAN(em) FROM hops WHERE elements HAS ALL 'Li', 'O' GROUP BY group ORDER BY group",
    ];
    let then: Vec<ResultTable> = forms.iter().map(|q| query(&store, q).unwrap()).collect();
    // Unchanged: AS OF the current version is the query itself.
    for (q, t) in forms.iter().zip(&then) {
        let with = q.replacen(" FROM hops", &format!(" FROM hops AS OF {v0}"), 1);
        assert_eq!(query(&store, &with).unwrap().rows, t.rows, "{with}");
    }
    // Edits, a removal and an import later, AS OF v0 still answers as before.
    let ids: Vec<String> = query(&store, "SELECT id FROM hops WHERE ion = 'Li' ORDER BY id LIMIT 4").unwrap().rows.into_iter().map(|r| r[0].to_string()).collect();
    store.edit(&ids[0], &[Edit::Em(0.01), Edit::AddFlag("suspect".into())], "check").unwrap();
    store.edit(&ids[1], &[Edit::Em(0.65)], "check").unwrap();
    store.remove(&[ids[2].clone()], "retracted").unwrap();
    hopdb::store::Store::set_class_group(&store, "Olivine", "olivine-renamed", "rename").ok();
    import_two_bvse_hops(&store);
    for (q, t) in forms.iter().zip(&then) {
        let with = q.replacen(" FROM hops", &format!(" FROM hops AS OF {v0}"), 1);
        assert_eq!(query(&store, &with).unwrap().rows, t.rows, "{with}");
        // EXPLAIN and the printed form keep AS OF.
        let parsed = hopdb::query::parse_statement(&with).unwrap();
        assert_eq!(hopdb::query::parse_statement(&parsed.to_string()).unwrap(), parsed);
    }
    assert_ne!(query(&store, forms[0]).unwrap().rows, then[0].rows, "the store did change");
    let e = query(&store, "SELECT id FROM hops AS OF 999999999").unwrap_err().to_string();
    assert!(e.contains("no later version"), "{e}");
    let e = query(&store, "SELECT id FROM hops AS OF 'last tuesday'").unwrap_err().to_string();
    assert!(e.contains("not a time"), "{e}");
}
