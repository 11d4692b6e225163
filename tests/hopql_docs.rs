//! The HopQL reference (`docs/QUERY_LANGUAGE.md`) is executable: every ```hopql block runs
//! against a store holding the real devi2025 dataset, and its output must equal the fenced
//! ```csv (results, `ResultTable::to_csv`) or ```text (errors, caret rendering) block that
//! follows it. The field table of the reference is checked against `FIELDS`.
//!
//! In an expected block, `{any}` matches any text within a line and a line `...` matches any
//! number of lines (for figures that depend on the machine, like the size on disk).
//!
//! `HOPQL_DOCS_BLESS=1 cargo test --test hopql_docs` rewrites the expected blocks that do not
//! match (and adds missing ones) from the actual output; review the diff before keeping it.

use hopdb::query::fields::FIELDS;
use hopdb::store::Store;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/devi2025");

fn doc_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/QUERY_LANGUAGE.md")
}

/// A store with the real dataset imported, shared by the tests of this binary.
fn store() -> &'static Store {
    static STORE: OnceLock<(tempfile::TempDir, Store)> = OnceLock::new();
    &STORE
        .get_or_init(|| {
            let dir = tempfile::tempdir().expect("temp dir");
            let store = Store::create(dir.path().join("db")).expect("create store");
            let groups = store.class_groups().expect("class groups");
            let (cands, errs) = hopdb::import::devi::read_dir_with(Path::new(DATA), &groups, false)
                .unwrap_or_else(|e| panic!("read the dataset at {DATA}: {e}"));
            let report = hopdb::import::commit(
                &store,
                cands,
                errs,
                &Default::default(),
                "devi2025 for hopql_docs",
            )
            .expect("import the dataset");
            assert_eq!(
                report.added.len(),
                619,
                "the reference documents the 619-hop dataset"
            );
            (dir, store)
        })
        .1
}

/// A fenced block of the document.
#[derive(Debug, Clone)]
struct Block {
    /// The info string (`hopql`, `csv`, `text`, ...).
    info: String,
    /// 0-based line of the opening fence.
    open: usize,
    /// 0-based line of the closing fence.
    close: usize,
    /// The content, one entry per line.
    body: Vec<String>,
}

fn blocks(lines: &[&str]) -> Vec<Block> {
    let mut out = Vec::new();
    let mut cur: Option<Block> = None;
    for (i, l) in lines.iter().enumerate() {
        let t = l.trim_start();
        if let Some(rest) = t.strip_prefix("```") {
            match cur.take() {
                None => {
                    cur = Some(Block {
                        info: rest.trim().to_string(),
                        open: i,
                        close: i,
                        body: Vec::new(),
                    })
                }
                Some(mut b) => {
                    b.close = i;
                    out.push(b);
                }
            }
        } else if let Some(b) = cur.as_mut() {
            b.body.push(l.to_string());
        }
    }
    assert!(
        cur.is_none(),
        "unclosed code fence in {}",
        doc_path().display()
    );
    out
}

/// What an example prints: each result table as CSV (separated by a blank line), or the
/// error of the first failing statement.
fn run_example(src: &str) -> (String, &'static str) {
    match hopdb::query::run_script(store(), src) {
        Ok(tables) => {
            let parts: Vec<String> = tables
                .iter()
                .map(|t| t.to_csv().trim_end().to_string())
                .collect();
            (parts.join("\n\n"), "csv")
        }
        // A single statement prints its error; a script also names the failing statement.
        Err(e) if hopdb::query::statement_spans(src).len() > 1 => (e.to_string(), "text"),
        Err(e) => (e.error.to_string(), "text"),
    }
}

/// Whether `text` matches the pattern line `pat` (`{any}` matches any run of characters).
fn line_matches(pat: &str, text: &str) -> bool {
    let parts: Vec<&str> = pat.split("{any}").collect();
    if parts.len() == 1 {
        return pat == text;
    }
    let mut rest = text;
    for (i, p) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(p) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(p);
        } else {
            match rest.find(p) {
                Some(k) => rest = &rest[k + p.len()..],
                None => return false,
            }
        }
    }
    true
}

/// Whether the lines of `actual` match the expected lines (`...` lines match any number of
/// lines).
fn lines_match(expected: &[&str], actual: &[&str]) -> bool {
    match expected.split_first() {
        None => actual.is_empty(),
        Some((&"...", rest)) => (0..=actual.len()).any(|k| lines_match(rest, &actual[k..])),
        Some((first, rest)) => {
            !actual.is_empty() && line_matches(first, actual[0]) && lines_match(rest, &actual[1..])
        }
    }
}

fn matches(expected: &str, actual: &str) -> bool {
    let e: Vec<&str> = expected.trim_end().lines().collect();
    let a: Vec<&str> = actual.trim_end().lines().collect();
    lines_match(&e, &a)
}

#[test]
fn doc_examples_match_their_outputs() {
    let path = doc_path();
    let text = std::fs::read_to_string(&path).expect("read docs/QUERY_LANGUAGE.md");
    let lines: Vec<&str> = text.lines().collect();
    let bs = blocks(&lines);
    let bless = std::env::var_os("HOPQL_DOCS_BLESS").is_some();
    let mut failures = Vec::new();
    // Edits for bless mode: (first line, last line (exclusive), replacement lines).
    let mut edits: Vec<(usize, usize, Vec<String>)> = Vec::new();
    let mut examples = 0;
    for (k, b) in bs.iter().enumerate() {
        if b.info != "hopql" {
            continue;
        }
        examples += 1;
        let src = b.body.join("\n");
        let (actual, kind) = run_example(&src);
        let next = bs.get(k + 1).filter(|n| {
            (n.info == "csv" || n.info == "text")
                && lines[b.close + 1..n.open]
                    .iter()
                    .all(|l| l.trim().is_empty())
        });
        let fresh = || {
            let mut v = vec![format!("```{kind}")];
            v.extend(actual.lines().map(str::to_string));
            v.push("```".to_string());
            v
        };
        match next {
            Some(n) if matches(&n.body.join("\n"), &actual) => {}
            Some(n) => {
                failures.push(format!(
                    "docs/QUERY_LANGUAGE.md line {}: output differs\n--- example\n{src}\n--- documented\n{}\n--- actual\n{actual}\n",
                    b.open + 1,
                    n.body.join("\n")
                ));
                edits.push((n.open, n.close + 1, fresh()));
            }
            None => {
                failures.push(format!(
                    "docs/QUERY_LANGUAGE.md line {}: the example has no ```csv or ```text block with its output right after it\n--- example\n{src}\n--- actual\n{actual}\n",
                    b.open + 1
                ));
                let mut ins = vec![String::new()];
                ins.extend(fresh());
                edits.push((b.close + 1, b.close + 1, ins));
            }
        }
    }
    assert!(
        examples >= 40,
        "expected the reference to have many examples, found {examples}"
    );
    if bless && !edits.is_empty() {
        let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        edits.sort_by_key(|e| std::cmp::Reverse(e.0));
        for (a, b, rep) in edits {
            out.splice(a..b, rep);
        }
        std::fs::write(&path, out.join("\n") + "\n").expect("write docs");
        eprintln!("blessed {} block(s) of {}", failures.len(), path.display());
        return;
    }
    assert!(
        failures.is_empty(),
        "{} of {examples} examples fail:\n\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The field table of the reference (between `<!-- fields:begin -->` and
/// `<!-- fields:end -->`) lists exactly the fields of `FIELDS`, in order, with their types,
/// index flags and docs.
#[test]
fn field_table_is_in_sync_with_fields() {
    let text = std::fs::read_to_string(doc_path()).expect("read docs/QUERY_LANGUAGE.md");
    let start = text
        .find("<!-- fields:begin -->")
        .expect("fields:begin marker");
    let end = text.find("<!-- fields:end -->").expect("fields:end marker");
    let rows: Vec<Vec<String>> = text[start..end]
        .lines()
        .filter(|l| l.starts_with('|'))
        .skip(2) // header and separator
        .map(|l| {
            l.trim()
                .trim_matches('|')
                .split('|')
                .map(|c| c.trim().trim_matches('`').to_string())
                .collect()
        })
        .collect();
    let expected: Vec<Vec<String>> = FIELDS
        .iter()
        .map(|d| {
            vec![
                d.name.to_string(),
                d.ty.name().to_string(),
                if d.indexed {
                    "yes".to_string()
                } else {
                    "no".to_string()
                },
                d.doc.to_string(),
            ]
        })
        .collect();
    if rows != expected {
        let table: Vec<String> = expected
            .iter()
            .map(|r| format!("| `{}` | {} | {} | {} |", r[0], r[1], r[2], r[3]))
            .collect();
        panic!(
            "the field table of docs/QUERY_LANGUAGE.md is out of date; it should read:\n\n| field | type | indexed | meaning |\n|---|---|---|---|\n{}\n",
            table.join("\n")
        );
    }
}

/// Every construct of the language appears in at least one executed example.
#[test]
fn every_construct_has_an_example() {
    let text = std::fs::read_to_string(doc_path()).expect("read docs/QUERY_LANGUAGE.md");
    let lines: Vec<&str> = text.lines().collect();
    let examples: String = blocks(&lines)
        .into_iter()
        .filter(|b| b.info == "hopql")
        .map(|b| b.body.join("\n").to_uppercase())
        .collect::<Vec<_>>()
        .join("\n");
    let constructs = [
        "SELECT *",
        " AS ",
        "WHERE",
        " AND ",
        " OR ",
        "NOT (",
        "NOT ",
        " = ",
        " != ",
        " <> ",
        " < ",
        " <= ",
        " > ",
        " >= ",
        " BETWEEN ",
        "NOT BETWEEN",
        " IN (",
        "NOT IN",
        " LIKE ",
        "NOT LIKE",
        "IS NULL",
        "IS NOT NULL",
        "HAS '",
        "HAS ALL",
        "HAS ANY",
        "HAS ONLY",
        "COUNT(*)",
        "AVG(",
        "MIN(",
        "MAX(",
        "SUM(",
        "STDDEV(",
        "MEDIAN(",
        "GROUP BY",
        "ORDER BY",
        " DESC",
        " ASC",
        "LIMIT",
        "OFFSET",
        "EXPLAIN",
        "DESCRIBE",
        "SHOW STATS",
        "AS OF",
        "TRUE",
        "FALSE",
        "--",
        "''",
    ];
    let missing: Vec<&str> = constructs
        .iter()
        .copied()
        .filter(|c| !examples.contains(c))
        .collect();
    assert!(
        missing.is_empty(),
        "constructs without an executed example: {missing:?}"
    );
    assert!(
        examples
            .match_indices("COUNT(")
            .any(|(i, _)| !examples[i + 6..].starts_with('*')),
        "COUNT(field) has no executed example"
    );
}

/// The REPL commands the shell implements are all documented.
#[test]
fn repl_commands_are_documented() {
    let text = std::fs::read_to_string(doc_path()).expect("read docs/QUERY_LANGUAGE.md");
    for cmd in [
        ".help",
        ".schema",
        ".timer on",
        ".format csv",
        ".quit",
        ".exit",
        "HOPDB_HISTORY",
        "Ctrl-C",
        "Ctrl-D",
    ] {
        assert!(
            text.contains(cmd),
            "docs/QUERY_LANGUAGE.md does not mention {cmd}"
        );
    }
}
