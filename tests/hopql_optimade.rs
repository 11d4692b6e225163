//! OPTIMADE's vocabulary in HopQL on the real devi2025 store: `chemical_formula_reduced`,
//! `chemical_formula_anonymous`, `nsites`, `nelements`, `elements_ratios` and the list
//! operator `LENGTH`, checked against the cell composition of every hop.

mod common;

use hopdb::query::{exec::query, parse_statement, query_with_params};
use hopdb::table::Value;

fn count(store: &hopdb::store::Store, cond: &str) -> i64 {
    match query(store, &format!("SELECT COUNT(*) FROM hops WHERE {cond}")).unwrap().rows[0][0] {
        Value::Int(n) => n,
        ref other => panic!("{other:?}"),
    }
}

#[test]
fn formulas_sites_and_ratios_of_licoo2() {
    let (_d, store) = common::devi_store();
    let t = query(&store, "SELECT formula, chemical_formula_reduced, chemical_formula_anonymous, nsites, natoms, nelements, elements, elements_ratios FROM hops WHERE sys_name = 'LiCoO2_1'").unwrap();
    let r = &t.rows[0];
    assert_eq!(r[0], Value::Str("Li17 O36 Co18".into()));
    assert_eq!(r[1], Value::Str("Co18Li17O36".into()));
    assert_eq!(r[2], Value::Str("A36B18C17".into()));
    assert_eq!((&r[3], &r[4], &r[5]), (&Value::Int(71), &Value::Int(71), &Value::Int(3)));
    assert_eq!(r[6], Value::List(vec!["Li".into(), "O".into(), "Co".into()]));
    assert_eq!(r[7], Value::NumList(vec![17.0 / 71.0, 36.0 / 71.0, 18.0 / 71.0]));
}

#[test]
fn every_hop_agrees_with_its_composition() {
    let (_d, store) = common::devi_store();
    let t = query(&store, "SELECT id, formula, chemical_formula_reduced, chemical_formula_anonymous, nsites, elements, elements_ratios FROM hops").unwrap();
    assert_eq!(t.rows.len(), 619);
    for row in &t.rows {
        let [_, Value::Str(formula), Value::Str(reduced), Value::Str(anon), Value::Int(nsites), Value::List(els), Value::NumList(ratios)] = row.as_slice() else {
            panic!("{row:?}")
        };
        let counts: Vec<(String, u64)> = formula
            .split_whitespace()
            .map(|t| {
                let k = t.find(|c: char| c.is_ascii_digit()).unwrap();
                (t[..k].to_string(), t[k..].parse().unwrap())
            })
            .collect();
        assert_eq!(counts.iter().map(|c| c.1).sum::<u64>() as i64, *nsites);
        let g = counts.iter().fold(0u64, |g, c| { let (mut a, mut b) = (g, c.1); while b != 0 { (a, b) = (b, a % b); } a });
        let mut alpha = counts.clone();
        alpha.sort();
        let want: String = alpha.iter().map(|(s, n)| if n / g == 1 { s.clone() } else { format!("{s}{}", n / g) }).collect();
        assert_eq!(reduced, &want, "{formula}");
        let mut desc: Vec<u64> = counts.iter().map(|c| c.1 / g).collect();
        desc.sort_by(|a, b| b.cmp(a));
        let letters = ["A", "B", "C", "D", "E", "F", "G", "H"];
        let want_anon: String = desc.iter().enumerate().map(|(i, n)| if *n == 1 { letters[i].to_string() } else { format!("{}{n}", letters[i]) }).collect();
        assert_eq!(anon, &want_anon, "{formula}");
        assert_eq!(els.len(), ratios.len());
        assert!((ratios.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        for (e, r) in els.iter().zip(ratios) {
            let n = counts.iter().find(|c| &c.0 == e).unwrap().1;
            assert_eq!(*r, n as f64 / *nsites as f64);
        }
    }
}

#[test]
fn length_matches_nelements_and_flags() {
    let (_d, store) = common::devi_store();
    let mut total = 0;
    for n in 1..=7 {
        let by_length = count(&store, &format!("elements LENGTH {n}"));
        assert_eq!(by_length, count(&store, &format!("nelements = {n}")), "{n}");
        assert_eq!(by_length, count(&store, &format!("elements_ratios LENGTH = {n}")));
        total += by_length;
    }
    assert_eq!(total, 619);
    assert!(count(&store, "elements LENGTH 3") > 0 && count(&store, "elements LENGTH 4") > 0);
    assert_eq!(count(&store, "elements LENGTH >= 4"), count(&store, "nelements >= 4"));
    assert_eq!(count(&store, "elements LENGTH < 4 AND elements HAS 'O'"), count(&store, "nelements < 4 AND elements HAS 'O'"));
    // An empty list has length 0 (never unknown), like HAS.
    assert_eq!(count(&store, "flags LENGTH 0"), count(&store, "flags IS NULL"));
    assert_eq!(count(&store, "NOT flags LENGTH 0"), 19);
    let t = query_with_params(&store, "SELECT COUNT(*) FROM hops WHERE elements LENGTH > ?", &[Value::Int(3)]).unwrap();
    assert_eq!(t.rows[0][0], Value::Int(count(&store, "nelements > 3")));
    // Canonical printing parses back to the same statement.
    for src in ["SELECT * FROM hops WHERE elements LENGTH 3", "SELECT * FROM hops WHERE flags LENGTH >= 2"] {
        let s = parse_statement(src).unwrap();
        assert_eq!(s.to_string(), src);
        assert_eq!(parse_statement(&s.to_string()).unwrap(), s);
    }
    // Grouping by the anonymous formula.
    let t = query(&store, "SELECT chemical_formula_anonymous AS f, COUNT(*) AS n FROM hops GROUP BY chemical_formula_anonymous ORDER BY n DESC LIMIT 1").unwrap();
    assert!(matches!(t.rows[0][1], Value::Int(n) if n > 1));
}

#[test]
fn list_operators_need_list_fields() {
    let e = parse_statement("SELECT * FROM hops WHERE em LENGTH 3").unwrap_err();
    assert_eq!(e.message, "LENGTH needs a list field (elements, flags, elements_ratios), but 'em' has type Num");
    assert_eq!(e.column, 26);
    let e = parse_statement("SELECT * FROM hops WHERE elements_ratios > 0.5").unwrap_err();
    assert_eq!(e.message, "field 'elements_ratios' is a list of numbers and cannot be compared with >");
    assert_eq!(e.help.as_deref(), Some("use LENGTH, e.g. elements_ratios LENGTH 3"));
    let e = parse_statement("SELECT * FROM hops WHERE elements_ratios HAS 'x'").unwrap_err();
    assert!(e.message.starts_with("HAS needs a list field (elements, flags), but 'elements_ratios' has type NumList"), "{}", e.message);
    let e = parse_statement("SELECT * FROM hops WHERE elements LENGTH 'three'").unwrap_err();
    assert!(e.message.starts_with("expected"), "{}", e.message);
}
