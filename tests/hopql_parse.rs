//! HopQL parser tests: constructs, error messages, and property tests (print/re-parse
//! round trips over random ASTs; arbitrary input never panics).

use hopdb::query::*;
use proptest::prelude::*;

fn f(name: &str) -> Field {
    Field::lookup(name).unwrap_or_else(|| panic!("no field {name}"))
}

fn stmt(src: &str) -> Statement {
    parse_statement(src).unwrap_or_else(|e| panic!("failed to parse {src:?}:\n{e}"))
}

fn sel(src: &str) -> Select {
    match stmt(src) {
        Statement::Select(s) => s,
        other => panic!("not a select: {other:?}"),
    }
}

fn filter(cond: &str) -> Expr {
    sel(&format!("SELECT * FROM hops WHERE {cond}"))
        .filter
        .expect("has WHERE")
}

fn err(src: &str) -> QueryError {
    match parse_statement(src) {
        Ok(s) => panic!("expected an error for {src:?}, got {s:?}"),
        Err(e) => e,
    }
}

fn num(x: f64) -> Literal {
    Literal::Num(x)
}

fn s(x: &str) -> Literal {
    Literal::Str(x.to_string())
}

/// Printing and re-parsing gives the same statement.
fn assert_roundtrip(st: &Statement) {
    let printed = st.to_string();
    let again = parse_statement(&printed)
        .unwrap_or_else(|e| panic!("printed form does not parse:\n{printed}\n{e}"));
    assert_eq!(&again, st, "printed as: {printed}");
}

// ---------------------------------------------------------------------------------------
// Statements and clauses
// ---------------------------------------------------------------------------------------

#[test]
fn select_star() {
    assert_eq!(sel("SELECT * FROM hops"), Select::star());
    assert_eq!(sel("  select *\nfrom Hops ;  "), Select::star());
}

#[test]
fn keywords_are_case_insensitive() {
    let a = stmt("SELECT ion, AVG(em) AS m FROM hops WHERE em BETWEEN 0 AND 1 GROUP BY ion ORDER BY m DESC LIMIT 3 OFFSET 1");
    let b = stmt("select ION, avg(EM) as m from HOPS where Em between 0 and 1 group by Ion order by M desc limit 3 offset 1");
    assert_eq!(a, b);
}

#[test]
fn full_select() {
    let q = sel(
        "SELECT ion, COUNT(*) AS n, AVG(em), MIN(em) AS lo, MAX(hop_length), SUM(natoms), \
         STDDEV(em), MEDIAN(volume), COUNT(doi) FROM hops \
         WHERE em < 2 AND source = 'litraj' GROUP BY ion, fidelity ORDER BY n DESC, 1, AVG(em) ASC \
         LIMIT 10 OFFSET 20",
    );
    assert_eq!(q.items.len(), 9);
    assert_eq!(
        q.items[0],
        SelectItem::Field {
            field: f("ion"),
            alias: None
        }
    );
    assert_eq!(
        q.items[1],
        SelectItem::Aggregate {
            agg: Aggregate {
                func: AggFunc::Count,
                arg: None
            },
            alias: Some("n".into())
        }
    );
    assert_eq!(
        q.items[2],
        SelectItem::Aggregate {
            agg: Aggregate {
                func: AggFunc::Avg,
                arg: Some(f("em"))
            },
            alias: None
        }
    );
    assert_eq!(
        q.items[8],
        SelectItem::Aggregate {
            agg: Aggregate {
                func: AggFunc::Count,
                arg: Some(f("doi"))
            },
            alias: None
        }
    );
    assert_eq!(q.group_by, vec![f("ion"), f("fidelity")]);
    assert_eq!(
        q.order_by,
        vec![
            OrderBy {
                key: OrderKey::Alias("n".into()),
                descending: true
            },
            OrderBy {
                key: OrderKey::Column(1),
                descending: false
            },
            OrderBy {
                key: OrderKey::Aggregate(Aggregate {
                    func: AggFunc::Avg,
                    arg: Some(f("em"))
                }),
                descending: false
            },
        ]
    );
    assert_eq!(
        q.limit,
        Some(Limit {
            count: 10,
            offset: 20
        })
    );
    assert!(q.is_aggregate());
    assert_eq!(q.items[1].column_name(), "n");
    assert_eq!(q.items[2].column_name(), "AVG(em)");
    assert_eq!(q.item_by_alias("LO").map(|(i, _)| i), Some(3));
    assert_roundtrip(&Statement::Select(q));
}

#[test]
fn order_by_field_alias_and_column() {
    let q = sel("SELECT em AS barrier, ion FROM hops ORDER BY barrier, ion DESC, 2, natoms");
    assert_eq!(
        q.order_by,
        vec![
            OrderBy {
                key: OrderKey::Alias("barrier".into()),
                descending: false
            },
            OrderBy {
                key: OrderKey::Field(f("ion")),
                descending: true
            },
            OrderBy {
                key: OrderKey::Column(2),
                descending: false
            },
            OrderBy {
                key: OrderKey::Field(f("natoms")),
                descending: false
            },
        ]
    );
    // Alias matching is case-insensitive and resolves to the alias as declared.
    let q = sel("SELECT em AS Barrier FROM hops ORDER BY BARRIER");
    assert_eq!(q.order_by[0].key, OrderKey::Alias("Barrier".into()));
    // Aliases may reuse aggregate names.
    let q = sel("SELECT COUNT(*) AS count FROM hops ORDER BY count");
    assert_eq!(q.order_by[0].key, OrderKey::Alias("count".into()));
}

#[test]
fn group_is_a_field_and_a_keyword() {
    let q = sel(
        "SELECT group, COUNT(*) FROM hops WHERE group = 'olivine' GROUP BY group ORDER BY group",
    );
    assert_eq!(q.group_by, vec![f("group")]);
    assert_eq!(
        q.filter,
        Some(Expr::compare(f("group"), CompareOp::Eq, s("olivine")))
    );
    assert_eq!(q.order_by[0].key, OrderKey::Field(f("group")));
}

#[test]
fn limit_without_offset() {
    assert_eq!(
        sel("SELECT * FROM hops LIMIT 5").limit,
        Some(Limit {
            count: 5,
            offset: 0
        })
    );
    assert_eq!(
        sel("SELECT * FROM hops LIMIT 0").limit,
        Some(Limit {
            count: 0,
            offset: 0
        })
    );
}

#[test]
fn other_statements() {
    assert_eq!(stmt("DESCRIBE hops"), Statement::Describe(Table::Hops));
    assert_eq!(stmt("describe HOPS;"), Statement::Describe(Table::Hops));
    assert_eq!(stmt("SHOW STATS"), Statement::ShowStats);
    assert_eq!(stmt("show   stats ;"), Statement::ShowStats);
    match stmt("EXPLAIN SELECT ion FROM hops WHERE em > 1") {
        Statement::Explain(q) => assert_eq!(q.items.len(), 1),
        other => panic!("{other:?}"),
    }
    for st in [
        "DESCRIBE hops",
        "SHOW STATS",
        "EXPLAIN SELECT * FROM hops WHERE em > 1 LIMIT 3",
    ] {
        assert_eq!(stmt(st).to_string(), st);
    }
}

#[test]
fn comments_and_whitespace() {
    let q =
        sel("-- leading comment\nSELECT * -- the lot\nFROM hops\n\t WHERE em < 1 -- cheap hops\n");
    assert_eq!(
        q.filter,
        Some(Expr::compare(f("em"), CompareOp::Lt, num(1.0)))
    );
    // `--` inside a string is not a comment.
    assert_eq!(
        filter("path = 'a--b'"),
        Expr::compare(f("path"), CompareOp::Eq, s("a--b"))
    );
}

// ---------------------------------------------------------------------------------------
// Expressions
// ---------------------------------------------------------------------------------------

#[test]
fn comparison_operators() {
    let cases = [
        ("=", CompareOp::Eq),
        ("!=", CompareOp::Ne),
        ("<>", CompareOp::Ne),
        ("<", CompareOp::Lt),
        ("<=", CompareOp::Le),
        (">", CompareOp::Gt),
        (">=", CompareOp::Ge),
    ];
    for (sym, op) in cases {
        assert_eq!(
            filter(&format!("em {sym} 0.5")),
            Expr::compare(f("em"), op, num(0.5))
        );
        assert_eq!(
            filter(&format!("em{sym}0.5")),
            Expr::compare(f("em"), op, num(0.5))
        );
    }
}

#[test]
fn literal_left_and_field_field() {
    assert_eq!(
        filter("0.3 > em"),
        Expr::Compare {
            left: Operand::Literal(num(0.3)),
            op: CompareOp::Gt,
            right: Operand::Field(f("em"))
        }
    );
    assert_eq!(
        filter("hop_length < volume"),
        Expr::Compare {
            left: Operand::Field(f("hop_length")),
            op: CompareOp::Lt,
            right: Operand::Field(f("volume"))
        }
    );
    // Int and Num fields compare with each other.
    assert!(parse_expr("natoms > em").is_ok());
}

#[test]
fn number_literals() {
    let cases = [
        ("3", 3.0),
        ("-3", -3.0),
        ("0.25", 0.25),
        ("-0.25", -0.25),
        (".5", 0.5),
        ("2.", 2.0),
        ("1e3", 1000.0),
        ("1E-3", 0.001),
        ("-2.5e+2", -250.0),
    ];
    for (text, x) in cases {
        assert_eq!(
            filter(&format!("em = {text}")),
            Expr::compare(f("em"), CompareOp::Eq, num(x)),
            "{text}"
        );
    }
    assert_eq!(
        filter("natoms = 12"),
        Expr::compare(f("natoms"), CompareOp::Eq, num(12.0))
    );
}

#[test]
fn string_literals() {
    assert_eq!(
        filter("formula = 'LiCoO2'"),
        Expr::compare(f("formula"), CompareOp::Eq, s("LiCoO2"))
    );
    assert_eq!(
        filter("citation = 'O''Keeffe'"),
        Expr::compare(f("citation"), CompareOp::Eq, s("O'Keeffe"))
    );
    assert_eq!(
        filter("doi = ''"),
        Expr::compare(f("doi"), CompareOp::Eq, s(""))
    );
    assert_eq!(
        filter("path = ''''"),
        Expr::compare(f("path"), CompareOp::Eq, s("'"))
    );
    assert_eq!(
        filter("path = 'a\nb'"),
        Expr::compare(f("path"), CompareOp::Eq, s("a\nb"))
    );
    assert_eq!(
        filter("path = 'Å→β'"),
        Expr::compare(f("path"), CompareOp::Eq, s("Å→β"))
    );
}

#[test]
fn booleans() {
    assert_eq!(
        filter("converged = TRUE"),
        Expr::compare(f("converged"), CompareOp::Eq, Literal::Bool(true))
    );
    assert_eq!(
        filter("converged != false"),
        Expr::compare(f("converged"), CompareOp::Ne, Literal::Bool(false))
    );
}

#[test]
fn between_in_like_null() {
    assert_eq!(
        filter("em BETWEEN 0.1 AND 0.5"),
        Expr::Between {
            field: f("em"),
            negated: false,
            low: num(0.1),
            high: num(0.5)
        }
    );
    assert_eq!(
        filter("em NOT BETWEEN -1 AND 1e1"),
        Expr::Between {
            field: f("em"),
            negated: true,
            low: num(-1.0),
            high: num(10.0)
        }
    );
    assert_eq!(
        filter("imported_at BETWEEN '2024-01-01' AND '2025-01-01'"),
        Expr::Between {
            field: f("imported_at"),
            negated: false,
            low: s("2024-01-01"),
            high: s("2025-01-01")
        }
    );
    assert_eq!(
        filter("ion IN ('Li', 'Na')"),
        Expr::In {
            field: f("ion"),
            negated: false,
            values: vec![s("Li"), s("Na")]
        }
    );
    assert_eq!(
        filter("natoms NOT IN (1,2,3)"),
        Expr::In {
            field: f("natoms"),
            negated: true,
            values: vec![num(1.0), num(2.0), num(3.0)]
        }
    );
    assert_eq!(
        filter("formula LIKE 'Li%O_'"),
        Expr::Like {
            field: f("formula"),
            negated: false,
            pattern: "Li%O_".into()
        }
    );
    assert_eq!(
        filter("formula NOT LIKE '%Co%'"),
        Expr::Like {
            field: f("formula"),
            negated: true,
            pattern: "%Co%".into()
        }
    );
    assert_eq!(
        filter("doi IS NULL"),
        Expr::IsNull {
            field: f("doi"),
            negated: false
        }
    );
    assert_eq!(
        filter("em is not null"),
        Expr::IsNull {
            field: f("em"),
            negated: true
        }
    );
    assert_eq!(
        filter("elements IS NULL"),
        Expr::IsNull {
            field: f("elements"),
            negated: false
        }
    );
}

#[test]
fn has_predicates() {
    let has = |mode, vals: &[&str]| Expr::Has {
        field: f("elements"),
        mode,
        values: vals.iter().map(|v| v.to_string()).collect(),
    };
    assert_eq!(filter("elements HAS 'Li'"), has(HasMode::One, &["Li"]));
    assert_eq!(
        filter("elements HAS ALL 'Li','O'"),
        has(HasMode::All, &["Li", "O"])
    );
    assert_eq!(
        filter("elements has any 'Mg', 'Ca'"),
        has(HasMode::Any, &["Mg", "Ca"])
    );
    assert_eq!(
        filter("elements HAS ONLY 'Li','Co','O'"),
        has(HasMode::Only, &["Li", "Co", "O"])
    );
    assert_eq!(filter("ELEMENTS HAS ALL 'Li'"), has(HasMode::All, &["Li"]));
    // Other list fields take any strings.
    assert_eq!(
        filter("flags HAS 'suspicious'"),
        Expr::Has {
            field: f("flags"),
            mode: HasMode::One,
            values: vec!["suspicious".into()]
        }
    );
    // nelements is an ordinary integer field.
    assert_eq!(
        filter("nelements = 3"),
        Expr::compare(f("nelements"), CompareOp::Eq, num(3.0))
    );
}

#[test]
fn precedence_and_parentheses() {
    let a = Expr::compare(f("em"), CompareOp::Lt, num(1.0));
    let b = Expr::compare(f("ion"), CompareOp::Eq, s("Li"));
    let c = Expr::compare(f("natoms"), CompareOp::Gt, num(10.0));
    // AND binds tighter than OR.
    assert_eq!(
        filter("em < 1 OR ion = 'Li' AND natoms > 10"),
        Expr::or(a.clone(), Expr::and(b.clone(), c.clone()))
    );
    assert_eq!(
        filter("(em < 1 OR ion = 'Li') AND natoms > 10"),
        Expr::and(Expr::or(a.clone(), b.clone()), c.clone())
    );
    // Left associativity.
    assert_eq!(
        filter("em < 1 AND ion = 'Li' AND natoms > 10"),
        Expr::and(Expr::and(a.clone(), b.clone()), c.clone())
    );
    assert_eq!(
        filter("em < 1 AND (ion = 'Li' AND natoms > 10)"),
        Expr::and(a.clone(), Expr::and(b.clone(), c.clone()))
    );
    // NOT binds tighter than AND.
    assert_eq!(
        filter("NOT em < 1 AND ion = 'Li'"),
        Expr::and(Expr::not(a.clone()), b.clone())
    );
    assert_eq!(
        filter("NOT (em < 1 AND ion = 'Li')"),
        Expr::not(Expr::and(a.clone(), b.clone()))
    );
    assert_eq!(filter("NOT NOT em < 1"), Expr::not(Expr::not(a.clone())));
    // Redundant parentheses vanish.
    assert_eq!(filter("((em < 1))"), a);
    // BETWEEN's AND is not a logical AND.
    assert_eq!(
        filter("em BETWEEN 0 AND 1 AND ion = 'Li'"),
        Expr::and(
            Expr::Between {
                field: f("em"),
                negated: false,
                low: num(0.0),
                high: num(1.0)
            },
            b
        )
    );
}

#[test]
fn canonical_printing() {
    let cases = [
        (
            "select * from hops where EM<1 and not (ion='Li' or ion = 'Na')",
            "SELECT * FROM hops WHERE em < 1 AND NOT (ion = 'Li' OR ion = 'Na')",
        ),
        (
            "select ion,count(*) as n from hops group by ion order by n desc limit 5 offset 0",
            "SELECT ion, COUNT(*) AS n FROM hops GROUP BY ion ORDER BY n DESC LIMIT 5",
        ),
        (
            "select * from hops where em <> 1 and elements has all 'Li','O' and citation = 'O''K'",
            "SELECT * FROM hops WHERE em != 1 AND elements HAS ALL 'Li', 'O' AND citation = 'O''K'",
        ),
    ];
    for (src, want) in cases {
        let st = stmt(src);
        assert_eq!(st.to_string(), want);
        assert_roundtrip(&st);
    }
    assert_eq!(
        filter("em < 1 AND (ion = 'Li' AND natoms > 10)").to_string(),
        "em < 1 AND (ion = 'Li' AND natoms > 10)"
    );
    assert_eq!(filter("em < 1e-7").to_string(), "em < 1e-7");
}

// ---------------------------------------------------------------------------------------
// Scripts
// ---------------------------------------------------------------------------------------

#[test]
fn scripts() {
    let src = "SELECT * FROM hops;\n-- a comment; with a semicolon\nDESCRIBE hops;;\nSHOW STATS";
    let stmts = parse_script(src).unwrap();
    assert_eq!(stmts.len(), 3);
    assert_eq!(stmts[0].1, Statement::Select(Select::star()));
    assert_eq!(stmts[1].1, Statement::Describe(Table::Hops));
    assert_eq!(stmts[2].1, Statement::ShowStats);
    assert_eq!(stmts[0].0.text(src), "SELECT * FROM hops");
    assert_eq!(stmts[1].0.text(src), "DESCRIBE hops");
    assert_eq!(stmts[1].0.line_col(src), (3, 1));
    assert_eq!(stmts[2].0.text(src), "SHOW STATS");

    assert_eq!(parse_script("").unwrap(), vec![]);
    assert_eq!(parse_script(" ;; -- nothing\n").unwrap(), vec![]);
    assert_eq!(parse_script("SHOW STATS;").unwrap().len(), 1);
}

#[test]
fn script_error_location() {
    let src =
        "SELECT * FROM hops;\nSELECT * FROM hops WHERE em > 1;\nSELECT * FROM hops WHERE emm > 1;";
    let e = parse_script(src).unwrap_err();
    assert_eq!((e.line, e.column), (3, 26));
    assert_eq!(e.kind, ErrorKind::UnknownField);
    let e = parse_script("SHOW STATS;\nSHOW STATS\nDESCRIBE hops").unwrap_err();
    assert_eq!(e.kind, ErrorKind::Syntax);
    assert_eq!((e.line, e.column), (3, 1));
    assert!(e.message.contains("';'"), "{}", e.message);
}

#[test]
fn parse_statement_rejects_two_statements() {
    let e = err("SHOW STATS; SHOW STATS");
    assert_eq!(e.kind, ErrorKind::Syntax);
    assert_eq!(e.column, 13);
}

// ---------------------------------------------------------------------------------------
// Error messages
// ---------------------------------------------------------------------------------------

#[test]
fn unknown_field_with_caret() {
    let src = "SELECT * FROM hops WHERE em < 0.3 AND emm > 2";
    let e = err(src);
    assert_eq!(e.kind, ErrorKind::UnknownField);
    assert_eq!(e.message, "unknown field 'emm', did you mean 'em'?");
    assert_eq!((e.line, e.column), (1, 39));
    let want = "\
error: unknown field 'emm', did you mean 'em'?
 --> line 1, column 39
  |
1 | SELECT * FROM hops WHERE em < 0.3 AND emm > 2
  |                                       ^^^";
    assert_eq!(e.to_string(), want);
    assert_eq!(e.render(src), want);
}

#[test]
fn unknown_field_everywhere() {
    for (src, name, sugg) in [
        ("SELECT formla FROM hops", "formla", Some("formula")),
        (
            "SELECT AVG(hop_lenght) FROM hops",
            "hop_lenght",
            Some("hop_length"),
        ),
        ("SELECT * FROM hops GROUP BY ionn", "ionn", Some("ion")),
        (
            "SELECT * FROM hops WHERE elemnts HAS 'Li'",
            "elemnts",
            Some("elements"),
        ),
        (
            "SELECT * FROM hops WHERE xyzzy_plugh = 1",
            "xyzzy_plugh",
            None,
        ),
        ("SELECT * FROM hops ORDER BY natom", "natom", Some("natoms")),
    ] {
        let e = err(src);
        assert_eq!(e.kind, ErrorKind::UnknownField, "{src}");
        assert!(e.message.contains(&format!("'{name}'")), "{}", e.message);
        match sugg {
            Some(s) => assert!(
                e.message.ends_with(&format!("did you mean '{s}'?")),
                "{}",
                e.message
            ),
            None => assert!(!e.message.contains("did you mean"), "{}", e.message),
        }
        assert_eq!(e.span.text(src), name);
    }
}

#[test]
fn unknown_alias_suggests_alias() {
    let e = err("SELECT em AS barrier FROM hops ORDER BY barier");
    assert_eq!(
        e.message,
        "unknown field or alias 'barier', did you mean 'barrier'?"
    );
}

#[test]
fn syntax_error_expected_comparison() {
    let src = "SELECT * FROM hops WHERE em 0.3";
    let e = err(src);
    assert_eq!(e.kind, ErrorKind::Syntax);
    assert!(
        e.message.starts_with("expected a comparison operator"),
        "{}",
        e.message
    );
    assert!(e.message.ends_with("found '0.3'"), "{}", e.message);
    assert_eq!((e.line, e.column), (1, 29));
    assert!(
        e.to_string()
            .ends_with("\n  |                             ^^^"),
        "{e}"
    );
}

#[test]
fn syntax_error_words() {
    let cases = [
        (
            "SELECT * FROM hops WHERE em < ",
            "expected a field name or literal, found end of input",
        ),
        ("SELECT * FROM hops WHERE ion IN ()", "expected a literal"),
        (
            "SELECT FROM hops",
            "expected '*', a field or an aggregate, found 'FROM'",
        ),
        ("", "expected a statement"),
        ("SELEC * FROM hops", "found 'SELEC'"),
        (
            "SELECT * FROM hops WHERE (em < 1",
            "expected AND, OR or ')', found end of input",
        ),
        (
            "SELECT * FROM hops WHERE em NOT 3",
            "expected BETWEEN, IN or LIKE, found '3'",
        ),
        ("SELECT * FROM hops ORDER", "expected BY"),
        (
            "SELECT AVG( FROM hops",
            "expected '*' or a field name, found 'FROM'",
        ),
        (
            "SELECT * FROM hops WHERE elements HAS",
            "ALL/ANY/ONLY, found end of input",
        ),
        (
            "SELECT * FROM hops xyz",
            "expected WHERE, GROUP BY, ORDER BY, LIMIT, ';', AS OF or end of input, found 'xyz'",
        ),
    ];
    for (src, want) in cases {
        let e = err(src);
        assert_eq!(e.kind, ErrorKind::Syntax, "{src}");
        assert!(
            e.message.contains(want),
            "{src:?}: got {:?}, want {want:?}",
            e.message
        );
        assert!(!e.message.contains('_'), "rule name leaked: {}", e.message);
    }
}

#[test]
fn reserved_word_help() {
    let e = err("SELECT em AS select FROM hops");
    assert_eq!(e.help.as_deref(), Some("'select' is a reserved word"));
}

#[test]
fn unterminated_string() {
    let e = err("SELECT * FROM hops WHERE ion = 'Li");
    assert_eq!(e.message, "unterminated string literal");
    assert_eq!(e.column, 32);
}

#[test]
fn double_quotes_hint() {
    let e = err("SELECT * FROM hops WHERE ion = \"Li\"");
    assert!(e.help.unwrap().contains("single quotes"));
}

#[test]
fn multiline_caret_and_tabs() {
    let src = "SELECT *\nFROM hops\nWHERE\n\tem < 1 AND\n\tion = 3";
    let e = err(src);
    assert_eq!(e.kind, ErrorKind::Type);
    assert_eq!((e.line, e.column), (5, 8));
    let text = e.to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[1], " --> line 5, column 8");
    assert_eq!(lines[3], "5 | \tion = 3");
    assert_eq!(lines[4], "  | \t      ^");
}

#[test]
fn wide_line_numbers() {
    let src = format!("{}SELECT * FROM hops WHERE em = 'x'", "\n".repeat(11));
    let e = err(&src);
    assert_eq!(e.line, 12);
    let text = e.to_string();
    assert!(
        text.contains("\n  --> line 12, column 31\n   |\n12 | SELECT"),
        "{text}"
    );
}

#[test]
fn type_errors() {
    let cases = [
        (
            "em = 'abc'",
            "type mismatch: field 'em' has type Num, but 'abc' is a string",
            "'abc'",
        ),
        (
            "'abc' < em",
            "type mismatch: field 'em' has type Num, but 'abc' is a string",
            "'abc'",
        ),
        (
            "ion = 3",
            "type mismatch: field 'ion' has type Str, but 3 is a number",
            "3",
        ),
        (
            "natoms = TRUE",
            "type mismatch: field 'natoms' has type Int, but TRUE is a boolean",
            "TRUE",
        ),
        (
            "converged = 1",
            "type mismatch: field 'converged' has type Bool, but 1 is a number",
            "1",
        ),
        (
            "em = ion",
            "type mismatch: field 'em' has type Num but field 'ion' has type Str",
            "ion",
        ),
        (
            "converged < TRUE",
            "booleans can only be compared with = or !=, not <",
            "<",
        ),
        (
            "elements = 'Li'",
            "field 'elements' is a list of strings and cannot be compared with =",
            "elements",
        ),
        (
            "em LIKE 'x%'",
            "LIKE needs a string field, but 'em' has type Num",
            "em",
        ),
        (
            "flags LIKE 'x%'",
            "LIKE needs a string field, but 'flags' has type StrList",
            "flags",
        ),
        (
            "formula LIKE 3",
            "LIKE needs a string pattern, but 3 is a number",
            "3",
        ),
        (
            "ion HAS 'Li'",
            "HAS needs a list field (elements, flags), but 'ion' has type Str",
            "ion",
        ),
        (
            "elements HAS 3",
            "HAS needs string values, but 3 is a number",
            "3",
        ),
        (
            "em BETWEEN 'a' AND 'b'",
            "type mismatch: field 'em' has type Num, but 'a' is a string",
            "'a'",
        ),
        (
            "converged BETWEEN TRUE AND FALSE",
            "BETWEEN needs a numeric or string field",
            "converged",
        ),
        (
            "ion IN ('Li', 2)",
            "type mismatch: field 'ion' has type Str, but 2 is a number",
            "2",
        ),
        (
            "elements IN ('Li')",
            "field 'elements' is a list of strings; IN does not apply to it",
            "elements",
        ),
        ("em = NULL", "NULL is never matched by a comparison", "NULL"),
        ("ion IN ('Li', NULL)", "NULL is never matched by IN", "NULL"),
    ];
    for (cond, want, token) in cases {
        let src = format!("SELECT * FROM hops WHERE {cond}");
        let e = err(&src);
        assert_eq!(e.kind, ErrorKind::Type, "{cond}: {e}");
        assert!(e.message.starts_with(want), "{cond}: got {:?}", e.message);
        assert_eq!(e.span.text(&src), token, "{cond}");
    }
    assert!(err("SELECT * FROM hops WHERE em = NULL")
        .help
        .unwrap()
        .contains("IS NULL"));
}

#[test]
fn aggregate_errors() {
    let e = err("SELECT AVG(ion) FROM hops");
    assert_eq!(e.kind, ErrorKind::Type);
    assert_eq!(
        e.message,
        "AVG needs a numeric field, but 'ion' has type Str"
    );
    for func in ["MIN", "MAX", "SUM", "STDDEV", "MEDIAN"] {
        assert_eq!(
            err(&format!("SELECT {func}(converged) FROM hops")).kind,
            ErrorKind::Type
        );
        assert_eq!(
            err(&format!("SELECT {func}(*) FROM hops")).kind,
            ErrorKind::Invalid
        );
    }
    // COUNT takes anything; numeric aggregates take Int fields too.
    assert!(parse_statement("SELECT COUNT(elements), COUNT(ion), SUM(natoms) FROM hops").is_ok());
}

#[test]
fn grouping_errors() {
    let e = err("SELECT ion, COUNT(*) FROM hops");
    assert_eq!(
        e.message,
        "field 'ion' must appear in GROUP BY or inside an aggregate"
    );
    assert_eq!(e.kind, ErrorKind::Invalid);
    assert_eq!(err("SELECT *, COUNT(*) FROM hops").kind, ErrorKind::Invalid);
    assert_eq!(
        err("SELECT * FROM hops GROUP BY ion").kind,
        ErrorKind::Invalid
    );
    assert_eq!(
        err("SELECT em FROM hops ORDER BY COUNT(*)").kind,
        ErrorKind::Invalid
    );
    assert_eq!(
        err("SELECT ion, COUNT(*) FROM hops GROUP BY ion ORDER BY em").kind,
        ErrorKind::Invalid
    );
    // Grouped queries may omit the group fields from the select list.
    assert!(parse_statement("SELECT COUNT(*) FROM hops GROUP BY ion").is_ok());
    assert!(parse_statement("SELECT ion FROM hops GROUP BY ion").is_ok());
}

#[test]
fn other_invalid_queries() {
    let e = err("SELECT em AS x, ion AS X FROM hops");
    assert_eq!(e.message, "duplicate alias 'X'");
    assert_eq!(err("SELECT * AS x FROM hops").kind, ErrorKind::Invalid);
    let e = err("SELECT em, ion FROM hops ORDER BY 3");
    assert_eq!(
        e.message,
        "ORDER BY column 3 is out of range (the query has 2 columns)"
    );
    assert_eq!(
        err("SELECT em FROM hops ORDER BY 0").kind,
        ErrorKind::Invalid
    );
    assert!(parse_statement(&format!("SELECT * FROM hops ORDER BY {}", FIELDS.len())).is_ok());
    assert_eq!(
        err("SELECT * FROM hops LIMIT 99999999999999999999999").kind,
        ErrorKind::Invalid
    );
    assert_eq!(
        err("SELECT * FROM hops WHERE em < 1e999").message,
        "number 1e999 is out of range"
    );
    let e = err("SELECT * FROM hops WHERE elements HAS 'Li', 'O'");
    assert_eq!(e.message, "HAS with several values needs ALL, ANY or ONLY");
    let e = err("SELECT * FROM hops WHERE elements HAS ALL 'Li', 'li'");
    assert_eq!(e.message, "unknown element 'li', did you mean 'Li'?");
    assert_eq!(
        err("SELECT * FROM hops WHERE elements HAS 'Xq'").message,
        "unknown element 'Xq'"
    );
}

#[test]
fn unknown_table() {
    let e = err("SELECT * FROM hop");
    assert_eq!(e.kind, ErrorKind::UnknownTable);
    assert_eq!(e.message, "unknown table 'hop', did you mean 'hops'?");
    assert_eq!(err("DESCRIBE records").kind, ErrorKind::UnknownTable);
}

#[test]
fn nesting_limits() {
    let deep = format!("{}em > 1{}", "(".repeat(10_000), ")".repeat(10_000));
    assert_eq!(parse_expr(&deep).unwrap_err().kind, ErrorKind::TooComplex);
    let nots = format!("{}em > 1", "NOT ".repeat(10_000));
    assert_eq!(parse_expr(&nots).unwrap_err().kind, ErrorKind::TooComplex);
    let chain = vec!["em > 1"; 5_000].join(" OR ");
    assert_eq!(parse_expr(&chain).unwrap_err().kind, ErrorKind::TooComplex);
    // Parentheses inside strings do not count.
    let s = format!("path = '{}'", "(".repeat(1000));
    assert!(parse_expr(&s).is_ok());
}

#[test]
fn reserved_and_identifiers() {
    for w in [
        "select", "FROM", "and", "Or", "not", "between", "in", "like", "is", "null", "true", "has",
    ] {
        assert!(is_reserved(w), "{w}");
        assert!(!is_identifier(w), "{w}");
    }
    for w in [
        "group", "count", "all", "stats", "n", "_x1", "orders", "android",
    ] {
        assert!(!is_reserved(w), "{w}");
        assert!(is_identifier(w), "{w}");
    }
}

#[test]
fn fields_table() {
    // 31 fields plus the OPTIMADE four (chemical_formula_reduced, chemical_formula_anonymous, nsites, elements_ratios).
    assert_eq!(FIELDS.len(), 35);
    let em = hopdb::query::fields::lookup("EM").unwrap();
    assert_eq!((em.name, em.ty, em.indexed), ("em", FieldType::Num, true));
    assert!(hopdb::query::fields::lookup("elements").unwrap().indexed);
    // `indexed` agrees with the store's secondary and range indexes (and the primary key).
    for f in FIELDS {
        let stored = f.name == "id" || hopdb::store::INDEXED_FIELDS.contains(&f.name) || hopdb::store::RANGE_INDEXED_FIELDS.contains(&f.name);
        assert_eq!(f.indexed, stored, "{}", f.name);
    }
    assert_eq!(hopdb::query::fields::suggest("emm"), Some("em"));
    assert_eq!(
        hopdb::query::fields::suggest("sourc_file"),
        Some("source_file")
    );
    for d in FIELDS {
        assert!(!d.doc.is_empty());
        assert!(
            is_identifier(d.name),
            "field {} must be a valid identifier",
            d.name
        );
    }
}

// ---------------------------------------------------------------------------------------
// Property tests
// ---------------------------------------------------------------------------------------

fn fields_where(pred: impl Fn(FieldType) -> bool) -> Vec<Field> {
    Field::all().filter(|f| pred(f.ty())).collect()
}

fn pick(v: Vec<Field>) -> impl Strategy<Value = Field> {
    proptest::sample::select(v)
}

fn arb_num() -> impl Strategy<Value = f64> {
    prop_oneof![
        (-1000i64..1000).prop_map(|i| i as f64),
        (-1e4f64..1e4),
        any::<f64>().prop_filter("finite", |x| x.is_finite()),
    ]
}

fn arb_string() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z0-9 %_'-]{0,10}",
        proptest::collection::vec(any::<char>(), 0..8).prop_map(String::from_iter),
    ]
}

/// A literal that fits a field of type `ty`.
fn arb_literal_for(ty: FieldType) -> BoxedStrategy<Literal> {
    match ty {
        FieldType::Num | FieldType::Int | FieldType::NumList => arb_num().prop_map(Literal::Num).boxed(),
        FieldType::Str | FieldType::StrList => arb_string().prop_map(Literal::Str).boxed(),
        FieldType::Bool => any::<bool>().prop_map(Literal::Bool).boxed(),
    }
}

fn scalar_field() -> impl Strategy<Value = Field> {
    pick(fields_where(|t| !t.is_list()))
}

fn arb_compare() -> impl Strategy<Value = Expr> {
    (
        scalar_field(),
        0..3u8,
        proptest::sample::select(CompareOp::ALL.to_vec()),
    )
        .prop_flat_map(|(field, shape, op)| {
            let op = if field.ty() == FieldType::Bool && op.is_ordering() {
                CompareOp::Eq
            } else {
                op
            };
            let ty = field.ty();
            let other_field = pick(fields_where(move |t| {
                t != FieldType::StrList && (t == ty || (t.is_numeric() && ty.is_numeric()))
            }));
            (arb_literal_for(ty), other_field).prop_map(move |(lit, g)| match shape {
                0 => Expr::Compare {
                    left: Operand::Field(field),
                    op,
                    right: Operand::Literal(lit),
                },
                1 => Expr::Compare {
                    left: Operand::Literal(lit),
                    op,
                    right: Operand::Field(field),
                },
                _ => Expr::Compare {
                    left: Operand::Field(field),
                    op,
                    right: Operand::Field(g),
                },
            })
        })
}

fn arb_between() -> impl Strategy<Value = Expr> {
    (
        pick(fields_where(|t| t.is_numeric() || t == FieldType::Str)),
        any::<bool>(),
    )
        .prop_flat_map(|(field, negated)| {
            (arb_literal_for(field.ty()), arb_literal_for(field.ty())).prop_map(
                move |(low, high)| Expr::Between {
                    field,
                    negated,
                    low,
                    high,
                },
            )
        })
}

fn arb_in() -> impl Strategy<Value = Expr> {
    (scalar_field(), any::<bool>()).prop_flat_map(|(field, negated)| {
        proptest::collection::vec(arb_literal_for(field.ty()), 1..4).prop_map(move |values| {
            Expr::In {
                field,
                negated,
                values,
            }
        })
    })
}

fn arb_like() -> impl Strategy<Value = Expr> {
    (
        pick(fields_where(|t| t == FieldType::Str)),
        any::<bool>(),
        arb_string(),
    )
        .prop_map(|(field, negated, pattern)| Expr::Like {
            field,
            negated,
            pattern,
        })
}

fn arb_is_null() -> impl Strategy<Value = Expr> {
    (pick(Field::all().collect()), any::<bool>())
        .prop_map(|(field, negated)| Expr::IsNull { field, negated })
}

fn arb_has() -> impl Strategy<Value = Expr> {
    let symbols: Vec<String> = hopdb::element::SYMBOLS[1..]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let modes = vec![HasMode::One, HasMode::All, HasMode::Any, HasMode::Only];
    (any::<bool>(), proptest::sample::select(modes)).prop_flat_map(move |(elements, mode)| {
        let n = if mode == HasMode::One { 1..2 } else { 1..4 };
        let field = if elements { f("elements") } else { f("flags") };
        let value: BoxedStrategy<String> = if elements {
            proptest::sample::select(symbols.clone()).boxed()
        } else {
            arb_string().boxed()
        };
        proptest::collection::vec(value, n).prop_map(move |values| Expr::Has {
            field,
            mode,
            values,
        })
    })
}

fn arb_leaf() -> impl Strategy<Value = Expr> {
    prop_oneof![
        3 => arb_compare(),
        1 => arb_between(),
        1 => arb_in(),
        1 => arb_like(),
        1 => arb_is_null(),
        1 => arb_has(),
    ]
}

fn arb_expr() -> impl Strategy<Value = Expr> {
    arb_leaf().prop_recursive(5, 32, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Expr::and(a, b)),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Expr::or(a, b)),
            inner.prop_map(Expr::not),
        ]
    })
}

fn arb_aggregate() -> impl Strategy<Value = Aggregate> {
    let numeric = fields_where(|t| t.is_numeric());
    (
        proptest::sample::select(AggFunc::ALL.to_vec()),
        0..4usize,
        pick(numeric),
        pick(Field::all().collect()),
    )
        .prop_map(|(func, k, num, any_field)| match func {
            AggFunc::Count if k == 0 => Aggregate { func, arg: None },
            AggFunc::Count => Aggregate {
                func,
                arg: Some(any_field),
            },
            _ => Aggregate {
                func,
                arg: Some(num),
            },
        })
}

const ALIASES: &[&str] = &[
    "n", "total", "mean_em", "lo", "Hi", "x1", "count", "median", "spread", "_k",
];

/// Raw material for a select; `build_select` turns it into a valid query.
#[derive(Debug, Clone)]
struct RawSelect {
    aggregated: bool,
    star: bool,
    fields: Vec<(Field, Option<usize>)>,
    aggs: Vec<(Aggregate, Option<usize>)>,
    group_by: Vec<Field>,
    filter: Option<Expr>,
    order: Vec<(u8, usize, Aggregate, Field, bool)>,
    limit: Option<(u64, u64)>,
}

fn build_select(r: RawSelect) -> Select {
    let mut used: Vec<&str> = Vec::new();
    let mut alias = |i: Option<usize>| -> Option<String> {
        let a = ALIASES[i? % ALIASES.len()];
        if used.iter().any(|u| u.eq_ignore_ascii_case(a)) {
            None
        } else {
            used.push(a);
            Some(a.to_string())
        }
    };
    let group_by = if r.aggregated {
        r.group_by.clone()
    } else {
        Vec::new()
    };
    let mut items = Vec::new();
    if r.aggregated {
        for (k, (_, a)) in r.fields.iter().enumerate() {
            if !group_by.is_empty() {
                items.push(SelectItem::Field {
                    field: group_by[k % group_by.len()],
                    alias: alias(*a),
                });
            }
        }
        for (agg, a) in &r.aggs {
            items.push(SelectItem::Aggregate {
                agg: *agg,
                alias: alias(*a),
            });
        }
    } else if r.star {
        items.push(SelectItem::Star);
    } else {
        for (field, a) in &r.fields {
            items.push(SelectItem::Field {
                field: *field,
                alias: alias(*a),
            });
        }
    }
    let aliases: Vec<String> = items
        .iter()
        .filter_map(|i| i.alias().map(String::from))
        .collect();
    let ncols = if items == [SelectItem::Star] {
        FIELDS.len()
    } else {
        items.len()
    };
    let mut order_by = Vec::new();
    for (kind, idx, agg, field, descending) in &r.order {
        let key = match kind % 4 {
            0 if r.aggregated => {
                if group_by.is_empty() {
                    continue;
                }
                OrderKey::Field(group_by[idx % group_by.len()])
            }
            0 => OrderKey::Field(*field),
            1 if r.aggregated => OrderKey::Aggregate(*agg),
            1 => continue,
            2 => {
                if aliases.is_empty() {
                    continue;
                }
                OrderKey::Alias(aliases[idx % aliases.len()].clone())
            }
            _ => OrderKey::Column(1 + idx % ncols),
        };
        order_by.push(OrderBy {
            key,
            descending: *descending,
        });
    }
    // AS OF in a third of the cases, as a version or a time (with a quote to escape).
    let as_of = match (items.len() + order_by.len()) % 3 {
        0 => Some(hopdb::store::AsOf::Version(items.len() as u64 * 7)),
        1 => Some(hopdb::store::AsOf::Time("2026-12-06 15:00:00 o'clock".into())),
        _ => None,
    };
    Select {
        items,
        from: Table::Hops,
        filter: r.filter,
        group_by,
        order_by,
        limit: r.limit.map(|(count, offset)| Limit { count, offset }),
        as_of,
    }
}

fn arb_select() -> impl Strategy<Value = Select> {
    let all: Vec<Field> = Field::all().collect();
    let alias = proptest::option::of(0..ALIASES.len());
    (
        (any::<bool>(), any::<bool>()),
        proptest::collection::vec((pick(all.clone()), alias.clone()), 1..4),
        proptest::collection::vec((arb_aggregate(), alias), 1..3),
        proptest::collection::vec(pick(all.clone()), 0..3),
        proptest::option::of(arb_expr()),
        proptest::collection::vec(
            (
                any::<u8>(),
                0..64usize,
                arb_aggregate(),
                pick(all),
                any::<bool>(),
            ),
            0..3,
        ),
        proptest::option::of((any::<u64>(), prop_oneof![Just(0u64), any::<u64>()])),
    )
        .prop_map(
            |((aggregated, star), fields, aggs, group_by, filter, order, limit)| {
                build_select(RawSelect {
                    aggregated,
                    star,
                    fields,
                    aggs,
                    group_by,
                    filter,
                    order,
                    limit,
                })
            },
        )
}

fn arb_statement() -> impl Strategy<Value = Statement> {
    prop_oneof![
        6 => arb_select().prop_map(Statement::Select),
        2 => arb_select().prop_map(Statement::Explain),
        1 => Just(Statement::Describe(Table::Hops)),
        1 => Just(Statement::ShowStats),
    ]
}

/// Words that drive the parser deep into the grammar when shuffled together.
const TOKENS: &[&str] = &[
    "SELECT",
    "*",
    "FROM",
    "hops",
    "WHERE",
    "em",
    "ion",
    "elements",
    "natoms",
    "converged",
    "<",
    "<=",
    "=",
    "!=",
    "<>",
    ">",
    "0.3",
    "-1e3",
    "2",
    "'Li'",
    "'O'",
    "'x''y'",
    "'",
    "AND",
    "OR",
    "NOT",
    "(",
    ")",
    ",",
    ";",
    "HAS",
    "ALL",
    "ANY",
    "ONLY",
    "IN",
    "LIKE",
    "'Li%'",
    "IS",
    "NULL",
    "TRUE",
    "BETWEEN",
    "GROUP",
    "BY",
    "ORDER",
    "DESC",
    "ASC",
    "LIMIT",
    "OFFSET",
    "COUNT",
    "AVG",
    "AS",
    "n",
    "--",
    "\n",
    "EXPLAIN",
    "DESCRIBE",
    "SHOW",
    "STATS",
    "group",
    "emm",
    "1",
];

/// Whatever the parser makes of `src`, it must not panic; errors must render; anything it
/// accepts must print to text that parses back to the same thing.
fn check_no_panic(src: &str) {
    match parse_statement(src) {
        Ok(st) => assert_roundtrip(&st),
        Err(e) => {
            let text = e.to_string();
            assert!(text.starts_with("error: "));
            assert_eq!(e.render(src), text);
            assert!(e.line >= 1 && e.column >= 1);
            assert!(e.span.start <= e.span.end && e.span.end <= src.len());
        }
    }
    if let Ok(stmts) = parse_script(src) {
        for (span, st) in &stmts {
            assert!(span.end <= src.len());
            assert_roundtrip(st);
        }
    }
    let _ = parse_expr(src).map(|e| e.to_string());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    #[test]
    fn expr_roundtrip(e in arb_expr()) {
        let printed = e.to_string();
        let again = parse_expr(&printed);
        prop_assert!(again.is_ok(), "does not parse: {}\n{}", printed, again.unwrap_err());
        prop_assert_eq!(again.unwrap(), e, "printed as: {}", printed);
    }

    #[test]
    fn statement_roundtrip(st in arb_statement()) {
        let printed = st.to_string();
        let again = parse_statement(&printed);
        prop_assert!(again.is_ok(), "does not parse: {}\n{}", printed, again.unwrap_err());
        prop_assert_eq!(again.unwrap(), st.clone(), "printed as: {}", printed);
        // Printing is a fixed point.
        prop_assert_eq!(parse_statement(&printed).unwrap().to_string(), printed);
    }

    #[test]
    fn script_roundtrip(sts in proptest::collection::vec(arb_statement(), 0..4), trailing in any::<bool>()) {
        let mut src = sts.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(";\n-- next\n");
        if trailing {
            src.push(';');
        }
        let parsed = parse_script(&src);
        prop_assert!(parsed.is_ok(), "{}", parsed.unwrap_err());
        let parsed = parsed.unwrap();
        prop_assert_eq!(parsed.len(), sts.len());
        for ((span, st), want) in parsed.iter().zip(&sts) {
            prop_assert_eq!(st, want);
            prop_assert_eq!(span.text(&src), want.to_string());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_strings_never_panic(src in any::<String>()) {
        check_no_panic(&src);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        check_no_panic(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn token_soup_never_panics(words in proptest::collection::vec(proptest::sample::select(TOKENS.to_vec()), 0..24)) {
        check_no_panic(&words.join(" "));
    }

    #[test]
    fn mutated_queries_never_panic(st in arb_statement(), cut in any::<proptest::sample::Index>(), junk in "[ -~]{0,3}") {
        let mut src = st.to_string();
        let mut at = cut.index(src.len() + 1);
        while !src.is_char_boundary(at) {
            at -= 1;
        }
        src.insert_str(at, &junk);
        check_no_panic(&src);
        check_no_panic(&src[..at]);
    }
}
