//! Bound parameters in HopQL: `?` placeholders bound to values in every literal position, on
//! the real devi2025 store; counts and types checked with line and column; a string that
//! looks like SQL stays one string value; `hopdb query --param`.

mod common;

use hopdb::query::{self, check_param_count, exec::query, execute_with_params, parse_statement_with_params, query_with_params, ErrorKind, ExecError};
use hopdb::table::{ResultTable, Value};

fn s(x: &str) -> Value {
    Value::Str(x.to_string())
}

fn run(store: &hopdb::store::Store, src: &str, params: &[Value]) -> ResultTable {
    query_with_params(store, src, params).unwrap_or_else(|e| panic!("{src}: {e}"))
}

fn query_error(e: ExecError) -> query::QueryError {
    match e {
        ExecError::Query(q) => q,
        other => panic!("not a query error: {other}"),
    }
}

#[test]
fn every_literal_position_binds_like_the_written_literal() {
    let (_d, store) = common::devi_store();
    let pairs: Vec<(&str, &str, Vec<Value>)> = vec![
        (
            "SELECT sys_name, em FROM hops WHERE ion = 'Mg' AND em < 0.3 ORDER BY em",
            "SELECT sys_name, em FROM hops WHERE ion = ? AND em < ? ORDER BY em",
            vec![s("Mg"), Value::Num(0.3)],
        ),
        (
            "SELECT sys_name FROM hops WHERE 0.05 > em ORDER BY em",
            "SELECT sys_name FROM hops WHERE ? > em ORDER BY em",
            vec![Value::Num(0.05)],
        ),
        (
            "SELECT ion, COUNT(*) FROM hops WHERE ion IN ('Mg', 'Ca', 'Zn') GROUP BY ion",
            "SELECT ion, COUNT(*) FROM hops WHERE ion IN (?, ?, ?) GROUP BY ion",
            vec![s("Mg"), s("Ca"), s("Zn")],
        ),
        (
            "SELECT sys_name FROM hops WHERE sys_name LIKE 'LiCoO2%' ORDER BY sys_name",
            "SELECT sys_name FROM hops WHERE sys_name LIKE ? ORDER BY sys_name",
            vec![s("LiCoO2%")],
        ),
        (
            "SELECT sys_name, em FROM hops WHERE em BETWEEN 0.1 AND 0.11 ORDER BY em",
            "SELECT sys_name, em FROM hops WHERE em BETWEEN ? AND ? ORDER BY em",
            vec![Value::Num(0.1), Value::Num(0.11)],
        ),
        (
            "SELECT sys_name, natoms FROM hops WHERE natoms > 200 ORDER BY natoms DESC LIMIT 3 OFFSET 2",
            "SELECT sys_name, natoms FROM hops WHERE natoms > ? ORDER BY natoms DESC LIMIT ? OFFSET ?",
            vec![Value::Int(200), Value::Int(3), Value::Int(2)],
        ),
        (
            "SELECT sys_name FROM hops WHERE elements HAS ALL 'Li', 'Co', 'O' ORDER BY sys_name",
            "SELECT sys_name FROM hops WHERE elements HAS ALL ?, ?, ? ORDER BY sys_name",
            vec![s("Li"), s("Co"), s("O")],
        ),
        (
            "SELECT COUNT(*) FROM hops WHERE converged = TRUE OR doi IS NULL",
            "SELECT COUNT(*) FROM hops WHERE converged = ? OR doi IS NULL",
            vec![Value::Bool(true)],
        ),
    ];
    for (written, bound, params) in pairs {
        let want = query(&store, written).unwrap();
        assert!(!want.rows.is_empty(), "{written} selects something");
        let got = run(&store, bound, &params);
        assert_eq!(got.rows, want.rows, "{bound} with {params:?}");
        assert_eq!(got.columns, want.columns);
    }
}

#[test]
fn a_string_parameter_is_one_value_whatever_it_contains() {
    let (_d, store) = common::devi_store();
    query(&store, "CREATE SPLIT paper FROM PARTITION").unwrap();
    for evil in ["Mg'; DROP SPLIT paper; --", "Mg' OR '1' = '1", "?", "' OR ion = ?"] {
        let t = run(&store, "SELECT COUNT(*) FROM hops WHERE ion = ? OR sys_name = ?", &[s(evil), s(evil)]);
        assert_eq!(t.rows, vec![vec![Value::Int(0)]], "{evil}");
    }
    // The split is still there, and EXPLAIN shows the value quoted as one literal.
    assert_eq!(hopdb::split::load(&store, "paper").unwrap().test().len(), 60);
    let plan = run(&store, "EXPLAIN SELECT * FROM hops WHERE sys_name = ?", &[s("x'; DROP SPLIT paper; --")]);
    let text = format!("{:?}", plan.rows);
    assert!(text.contains("sys_name = 'x''; DROP SPLIT paper; --'"), "{text}");
    // A question mark inside quotes is text, not a placeholder.
    assert_eq!(run(&store, "SELECT COUNT(*) FROM hops WHERE sys_name = 'a?b' -- why?", &[]).rows, vec![vec![Value::Int(0)]]);
    // A parameter named like a real system finds it.
    let t = run(&store, "SELECT id FROM hops WHERE sys_name = ?", &[s("LiCoO2_1")]);
    assert_eq!(t.rows, vec![vec![s("devi2025:LiCoO2_1")]]);
}

#[test]
fn names_paths_and_options_bind_in_split_and_model_statements() {
    let (dir, store) = common::devi_store();
    run(&store, "CREATE SPLIT ? FROM PARTITION VALIDATION ? SEED ?", &[s("pv"), s("10%"), Value::Int(7)]);
    let pv = hopdb::split::load(&store, "pv").unwrap();
    assert_eq!(pv.test().len(), 60);
    assert!(!pv.partition("val").is_empty());
    let shown = run(&store, "SHOW SPLIT ?", &[s("pv")]);
    assert!(!shown.rows.is_empty());
    let out = dir.path().join("pv.csv");
    run(&store, "EXPORT SPLIT ? TO ?", &[s("pv"), s(out.to_str().unwrap())]);
    assert!(std::fs::read_to_string(&out).unwrap().contains("devi2025:"));
    run(&store, "CREATE SPLIT ? FROM (SELECT * FROM hops WHERE ion = ?) RANDOM TEST ? SEED 1", &[s("mg"), s("Mg"), Value::Num(0.2)]);
    assert_eq!(hopdb::split::load(&store, "mg").unwrap().all_ids().len(), 106);
    run(&store, "CREATE SPLIT ? FROM IDS (?, ?) TEST (?)", &[s("ids"), s("devi2025:LiCoO2_1"), s("devi2025:LiCoO2_2"), s("devi2025:MgTi2S4")]);
    assert_eq!(hopdb::split::load(&store, "ids").unwrap().train().len(), 2);
    run(&store, "TRAIN ? AS mean ON SPLIT ?", &[s("m0"), s("pv")]);
    let described = run(&store, "DESCRIBE MODEL ?", &[s("m0")]);
    assert!(!described.rows.is_empty());
    run(&store, "TRAIN ? AS random_forest ON SPLIT ? WITH trees = ?, max_depth = ?", &[s("rf"), s("pv"), Value::Int(10), Value::Int(3)]);
    let rf = hopdb::model::registry::load(&store, "rf").unwrap();
    assert_eq!((rf.params["trees"].as_str(), rf.params["max_depth"].as_str()), ("10", "3"));
    let e = query_error(query_with_params(&store, "TRAIN x AS random_forest ON SPLIT pv WITH trees = ?", &[Value::Bool(true)]).unwrap_err());
    assert_eq!(e.message, "parameter 1: parameter 'trees' needs a number or a string, but the value bound is the boolean true");
    run(&store, "DROP SPLIT ?", &[s("ids")]);
    assert!(!hopdb::split::exists(&store, "ids").unwrap());
    // A bound name must be a name.
    let e = query_error(query_with_params(&store, "SHOW SPLIT ?", &[s("pv; DROP SPLIT pv")]).unwrap_err());
    assert!(e.message.starts_with("parameter 1: the split name 'pv; DROP SPLIT pv' is not a valid name"), "{}", e.message);
    assert_eq!((e.line, e.column), (1, 12));
    assert!(hopdb::split::exists(&store, "pv").unwrap());
}

#[test]
fn counts_and_types_are_checked_with_line_and_column() {
    // Too few.
    let src = "SELECT * FROM hops\nWHERE ion = ? AND em < ?";
    let e = parse_statement_with_params(src, &[s("Li")]).unwrap_err();
    assert_eq!(e.message, "the statement has 2 '?' placeholders but 1 parameter was given");
    assert_eq!((e.line, e.column), (2, 24));
    assert_eq!(e.help.as_deref(), Some("parameter 2 is missing: pass one value per '?'"));
    // None given to a statement with a placeholder.
    let e = parse_statement_with_params("SELECT * FROM hops WHERE ion = ?", &[]).unwrap_err();
    assert_eq!(e.message, "the statement has 1 '?' placeholder but 0 parameters were given");
    assert_eq!((e.line, e.column), (1, 32));
    // Too many.
    let e = parse_statement_with_params("SELECT * FROM hops WHERE ion = ?", &[s("Li"), s("Na")]).unwrap_err();
    assert_eq!(e.message, "the statement has 1 '?' placeholder but 2 parameters were given");
    assert!(check_param_count("SELECT 1", 1).is_err());
    assert!(check_param_count("SELECT * FROM hops WHERE ion = ? -- ?", 1).is_ok());
    // A number for a string field.
    let src = "SELECT * FROM hops WHERE em < ? AND ion = ?";
    let e = parse_statement_with_params(src, &[Value::Num(1.0), Value::Num(3.0)]).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Type);
    assert_eq!(e.message, "parameter 2: type mismatch: field 'ion' has type Str, but 3 is a number");
    assert_eq!((e.line, e.column), (1, 43));
    // A string for a number field, an unknown element, NULL, a list, a bad LIMIT.
    let cases: Vec<(&str, Vec<Value>, &str)> = vec![
        ("SELECT * FROM hops WHERE em > ?", vec![s("high")], "parameter 1: type mismatch: field 'em' has type Num, but 'high' is a string"),
        ("SELECT * FROM hops WHERE elements HAS ?", vec![s("li")], "parameter 1: unknown element 'li', did you mean 'Li'?"),
        ("SELECT * FROM hops WHERE em = ?", vec![Value::Null], "parameter 1: NULL is never matched by a comparison"),
        ("SELECT * FROM hops WHERE ion IN (?)", vec![Value::List(vec!["Li".into()])], "parameter 1: a list cannot be bound to one value"),
        ("SELECT * FROM hops LIMIT ?", vec![Value::Num(2.5)], "parameter 1: LIMIT needs a whole number >= 0, but the value bound is the number 2.5"),
        ("SELECT * FROM hops WHERE sys_name LIKE ?", vec![Value::Int(3)], "parameter 1: LIKE needs a string pattern, but 3 is a number"),
        ("EXPORT SPLIT paper TO ?", vec![Value::Int(1)], "parameter 1: the output path needs a string, but the value bound is the integer 1"),
    ];
    for (src, params, want) in cases {
        let e = parse_statement_with_params(src, &params).unwrap_err();
        assert_eq!(e.message, want, "{src}");
        assert_eq!(e.span.text(src), "?", "{src}");
    }
    // The rendered error carries the caret under the '?'.
    let e = parse_statement_with_params("SELECT * FROM hops WHERE ion = ?", &[Value::Int(1)]).unwrap_err();
    assert!(e.to_string().contains(" --> line 1, column 32"), "{e}");
}

#[test]
fn scripts_number_parameters_across_statements() {
    let (_d, store) = common::devi_store();
    let src = "SELECT COUNT(*) FROM hops WHERE ion = ?;\nSELECT COUNT(*) FROM hops WHERE ion = ? AND em < ?;";
    let t = execute_with_params(&store, src, &[s("Sr"), s("Mg"), Value::Num(0.3)]).unwrap();
    assert_eq!(t.len(), 2);
    assert_eq!(t[0].rows, vec![vec![Value::Int(2)]]);
    assert_eq!(t[1].rows, vec![vec![Value::Int(9)]]);
    // A type error in the second statement names parameter 3 at its place in the script.
    let e = execute_with_params(&store, src, &[s("Sr"), s("Mg"), s("low")]).unwrap_err();
    assert_eq!(e.statement, 2);
    let q = query_error(e.error);
    assert_eq!(q.message, "parameter 3: type mismatch: field 'em' has type Num, but 'low' is a string");
    assert_eq!((q.line, q.column), (2, 50));
    // Too few for the script: nothing runs, the error is at statement 2.
    let e = execute_with_params(&store, src, &[s("Sr")]).unwrap_err();
    assert_eq!(e.statement, 2);
    assert!(e.completed.is_empty());
    assert_eq!(query_error(e.error).message, "the statement has 3 '?' placeholders but 1 parameter was given");
}

#[test]
fn cli_query_takes_params() {
    let st = common::TempStore::init();
    st.run(&["import", "devi", common::devi_dir().to_str().unwrap(), "--no-mlip"]).ok();
    let out = st
        .run(&["query", "SELECT sys_name, em FROM hops WHERE ion = ? AND em < ? ORDER BY em", "--param", "Mg", "--param", "0.2", "--format", "csv"])
        .ok();
    assert_eq!(out, "sys_name,em\nTi2O4_Mg_PS,0.179\nMo6Se8_Mg,0.18\n");
    // A quoted value is a string even when it looks like a number; it then matches nothing.
    let out = st.run(&["query", "SELECT COUNT(*) AS n FROM hops WHERE sys_name = ?", "--param", "'0.2'", "--format", "csv"]).ok();
    assert_eq!(out, "n\n0\n");
    let err = st.run(&["query", "SELECT * FROM hops WHERE ion = ? AND em < ?", "--param", "Mg"]).err();
    assert!(err.contains("the statement has 2 '?' placeholders but 1 parameter was given"), "{err}");
    assert!(err.contains("line 1, column 43"), "{err}");
    let err = st.run(&["query", "SELECT * FROM hops WHERE ion = ?", "--param", "7"]).err();
    assert!(err.contains("parameter 1: type mismatch: field 'ion' has type Str, but 7 is a number"), "{err}");
}
