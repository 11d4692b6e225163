//! `EXPORT SPLIT ... FORMAT alignn | extxyz` on the real devi2025 store: a reader that follows
//! ALIGNN's own `id_prop.csv` ordering rule (`alignn/data.py`, `get_id_train_val_test` with
//! `keep_data_order`) gets back exactly the split's partitions; every POSCAR reads back; the
//! extended XYZ files hold one frame per hop with its `em`.

mod common;

use hopdb::query::exec::query;
use hopdb::structure::io::parse_poscar;
use hopdb::table::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// ALIGNN's split of the rows of `id_prop.csv` with `keep_data_order: true`: the first
/// `n_train` rows, the `n_val` rows before the last `n_test`, the last `n_test`.
fn alignn_rule(rows: &[String], n_train: usize, n_val: usize, n_test: usize) -> [Vec<String>; 3] {
    let n = rows.len();
    let train = rows[..n_train].to_vec();
    let val = if n_test > 0 { rows[n - n_val - n_test..n - n_test].to_vec() } else { rows[n - n_val..].to_vec() };
    let test = if n_test > 0 { rows[n - n_test..].to_vec() } else { vec![] };
    [train, val, test]
}

fn read_alignn(dir: &Path) -> ([Vec<String>; 3], Vec<(String, f64)>) {
    let cfg: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("config_hopdb.json")).unwrap()).unwrap();
    assert_eq!(cfg["keep_data_order"], serde_json::json!(true));
    let keys: Vec<&str> = cfg.as_object().unwrap().keys().map(|k| k.as_str()).collect();
    assert_eq!(keys, ["n_train", "n_val", "n_test", "keep_data_order"], "only keys of ALIGNN's TrainingConfig");
    let n = |k: &str| cfg[k].as_u64().unwrap() as usize;
    // id_prop.csv: `filename,target`, no header (ALIGNN parses every row as data).
    let text = std::fs::read_to_string(dir.join("id_prop.csv")).unwrap();
    let rows: Vec<(String, f64)> = text
        .lines()
        .map(|l| {
            let (f, t) = l.split_once(',').unwrap();
            (f.to_string(), t.parse::<f64>().unwrap_or_else(|_| panic!("target of {l} is a number")))
        })
        .collect();
    let names: Vec<String> = rows.iter().map(|(f, _)| f.clone()).collect();
    (alignn_rule(&names, n("n_train"), n("n_val"), n("n_test")), rows)
}

#[test]
fn alignn_layout_reproduces_the_split() {
    let (dir, store) = common::devi_store();
    query(&store, "CREATE SPLIT pv FROM PARTITION VALIDATION 10% SEED 3").unwrap();
    let split = hopdb::split::load(&store, "pv").unwrap();
    let out = dir.path().join("alignn");
    let t = query(&store, &format!("EXPORT SPLIT pv FORMAT alignn VIEW band TO '{}'", out.display())).unwrap();
    let counts: Vec<(String, i64)> = t.rows.iter().map(|r| match (&r[2], &r[3]) {
        (Value::Str(p), Value::Int(n)) => (p.clone(), *n),
        other => panic!("{other:?}"),
    }).collect();
    assert_eq!(counts.iter().map(|c| c.1).sum::<i64>(), 619);
    assert_eq!(counts[0].0, "train");
    let ([train, val, test], rows) = read_alignn(&out);
    // Map the files back to record ids.
    let map: BTreeMap<String, String> = std::fs::read_to_string(out.join("hopdb_ids.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| {
            let mut it = l.split(',');
            (it.next().unwrap().to_string(), it.next().unwrap().to_string())
        })
        .collect();
    let ids = |files: &[String]| files.iter().map(|f| map[f].clone()).collect::<Vec<_>>();
    assert_eq!(ids(&train), split.partition("train"));
    assert_eq!(ids(&val), split.partition("val"));
    assert_eq!(ids(&test), split.partition("test"));
    assert_eq!(test.len(), 60);
    assert!(!val.is_empty());
    // Targets are the barriers; every POSCAR is the band view (host + 5 ion positions).
    for (file, em) in rows.iter().step_by(37) {
        let r = store.record(&map[file]).unwrap();
        assert_eq!(*em, r.em);
        let s = parse_poscar(&std::fs::read_to_string(out.join(file)).unwrap()).unwrap();
        assert_eq!(s.len(), r.host_natoms as usize + 5, "{file}");
        assert_eq!(s.species.iter().filter(|e| **e == r.ion).count(), r.host_natoms as usize + 5 - store.structure(&r.host).unwrap().species.iter().filter(|e| **e != r.ion).count());
    }
}

#[test]
fn alignn_default_view_is_initial_and_a_split_without_validation_is_refused() {
    let (dir, store) = common::devi_store();
    query(&store, "CREATE SPLIT paper FROM PARTITION").unwrap();
    let out = dir.path().join("a");
    let e = query(&store, &format!("EXPORT SPLIT paper FORMAT alignn TO '{}'", out.display())).unwrap_err().to_string();
    assert!(e.contains("split 'paper' has no 'val' partition: ALIGNN's trainer evaluates a validation set every epoch (n_val >= 1)"), "{e}");
    assert!(e.contains("CREATE SPLIT paper_val FROM PARTITION VALIDATION 10%"), "{e}");
    assert!(!out.exists(), "nothing is written for a refused export");
    query(&store, "CREATE SPLIT paper_val FROM PARTITION VALIDATION 10%").unwrap();
    query(&store, &format!("EXPORT SPLIT paper_val FORMAT alignn TO '{}'", out.display())).unwrap();
    let s = parse_poscar(&std::fs::read_to_string(out.join("devi2025_LiCoO2_1.vasp")).unwrap()).unwrap();
    let r = store.record("devi2025:LiCoO2_1").unwrap();
    let want = r.initial_structure(&store.structure(&r.host).unwrap());
    assert_eq!(s.len(), want.len());
    // The ion's initial site is in the file (POSCAR groups species, so search for it).
    let ion_sites: Vec<_> = s.species.iter().zip(&s.frac).filter(|(e, _)| **e == r.ion).map(|(_, f)| *f).collect();
    assert!(ion_sites.iter().any(|f| (0..3).all(|k| (f[k] - r.initial[k].rem_euclid(1.0)).abs() < 1e-9 || (f[k] - r.initial[k]).abs() < 1e-9)));
    // VIEW is for alignn only; k-fold splits do not fit ALIGNN's three sets.
    let e = query(&store, "EXPORT SPLIT paper FORMAT extxyz VIEW band TO 'x'").unwrap_err().to_string();
    assert!(e.contains("VIEW applies to FORMAT alignn only"), "{e}");
    query(&store, "CREATE SPLIT k5 FROM (SELECT * FROM hops) GROUPED KFOLD 5").unwrap();
    let e = query(&store, &format!("EXPORT SPLIT k5 FORMAT alignn TO '{}'", dir.path().join("k").display())).unwrap_err().to_string();
    assert!(e.contains("ALIGNN's layout holds train, validation and test only"), "{e}");
}

#[test]
fn extxyz_writes_one_file_per_partition_with_em() {
    let (dir, store) = common::devi_store();
    query(&store, "CREATE SPLIT paper FROM PARTITION").unwrap();
    let out = dir.path().join("xyz");
    let t = query(&store, &format!("EXPORT SPLIT paper FORMAT extxyz TO '{}'", out.display())).unwrap();
    assert_eq!(t.rows.len(), 2);
    let split = hopdb::split::load(&store, "paper").unwrap();
    for part in ["train", "test"] {
        let text = std::fs::read_to_string(out.join(format!("{part}.extxyz"))).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let (mut i, mut frames) = (0, Vec::new());
        while i < lines.len() {
            let n: usize = lines[i].trim().parse().unwrap();
            let info = hopdb::import::litraj::parse_info_line(lines[i + 1]).unwrap();
            let get = |k: &str| info.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone()).unwrap();
            frames.push((get("id"), get("em").parse::<f64>().unwrap()));
            i += n + 2;
        }
        let ids: Vec<String> = frames.iter().map(|f| f.0.clone()).collect();
        assert_eq!(ids, split.partition(part));
        for (id, em) in frames.iter().step_by(11) {
            assert_eq!(*em, store.record(id).unwrap().em);
        }
    }
}
