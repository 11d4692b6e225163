//! HopQL scripts: statements separated by `;`, parsed completely before any runs, with `?`
//! parameters bound across the whole script, and the statement boundaries the REPL uses to
//! know when an input is complete.

use super::ast::Statement;
use super::error::{ExecError, ScriptError};
use super::exec::execute;
use super::parser::{param_count_error, parse_statement_at, placeholder_offsets, QueryError, Span};
use crate::store::Store;
use crate::table::{ResultTable, Value};

/// Run a script (one statement or several, as [`run_script`]) whose `?` placeholders are bound
/// to `params` in order of appearance across the whole script. A count of parameters other
/// than the number of placeholders is an error before anything runs.
// A script fails at most once, so the size of the error does not matter.
#[allow(clippy::result_large_err)]
pub fn execute_with_params(store: &Store, src: &str, params: &[Value]) -> Result<Vec<ResultTable>, ScriptError> {
    let slots = placeholder_offsets(src);
    if let Some(e) = param_count_error(src, &slots, params.len(), 0) {
        let spans = statement_spans(src);
        let at = spans.iter().position(|s| s.end >= e.span.start).unwrap_or(spans.len().saturating_sub(1));
        let span = spans.get(at).copied().unwrap_or(Span { start: 0, end: src.len() });
        return Err(ScriptError {
            statement: at + 1,
            line: span.line_col(src).0,
            text: one_line(span.text(src)),
            error: ExecError::Query(e),
            completed: Vec::new(),
        });
    }
    run_parsed(store, src, parse_statements_bound(src, params))
}

/// Run a script: statements separated by `;` (`--` comments and empty statements allowed).
/// Every statement is parsed first, in order (a syntax error anywhere means nothing runs);
/// then the statements run in order, stopping at the first failure. The error names the
/// statement (1-based number, line, text); its caret position is relative to the script.
// A script fails at most once, so the size of the error does not matter.
#[allow(clippy::result_large_err)]
pub fn run_script(store: &Store, src: &str) -> Result<Vec<ResultTable>, ScriptError> {
    run_parsed(store, src, parse_statements(src))
}

/// Run statements parsed from `src`, or report the first that did not parse.
#[allow(clippy::result_large_err)]
fn run_parsed(store: &Store, src: &str, parsed: Vec<(Span, Result<Statement, QueryError>)>) -> Result<Vec<ResultTable>, ScriptError> {
    let mut stmts = Vec::new();
    for (i, (span, parsed)) in parsed.into_iter().enumerate() {
        match parsed {
            Ok(stmt) => stmts.push((span, stmt)),
            Err(e) => {
                return Err(ScriptError {
                    statement: i + 1,
                    line: span.line_col(src).0,
                    text: one_line(span.text(src)),
                    error: ExecError::Query(e),
                    completed: Vec::new(),
                })
            }
        }
    }
    let mut out = Vec::with_capacity(stmts.len());
    for (i, (span, stmt)) in stmts.iter().enumerate() {
        match execute(store, stmt) {
            Ok(t) => out.push(t),
            Err(error) => {
                return Err(ScriptError {
                    statement: i + 1,
                    line: span.line_col(src).0,
                    text: one_line(span.text(src)),
                    error,
                    completed: out,
                })
            }
        }
    }
    Ok(out)
}

/// Split a script into statements ([`statement_spans`]) and parse each one on its own, so
/// that the first statement in the text that fails is the one reported. Errors are located
/// in the whole script (line, column and caret line refer to `src`).
pub fn parse_statements(src: &str) -> Vec<(Span, Result<Statement, QueryError>)> {
    parse_statements_bound(src, &[])
}

/// [`parse_statements`] binding the placeholders of the whole script to `params` in order
/// (each statement gets the parameters of its own placeholders).
pub fn parse_statements_bound(src: &str, params: &[Value]) -> Vec<(Span, Result<Statement, QueryError>)> {
    let slots = placeholder_offsets(src);
    statement_spans(src)
        .into_iter()
        .map(|span| {
            let first = slots.iter().take_while(|&&o| o < span.start).count();
            let mine = slots[first..].iter().take_while(|&&o| o < span.end).count();
            let bound = params.get(first..first + mine).unwrap_or(&[]);
            let parsed = parse_statement_at(span.text(src), bound, first).map_err(|e| {
                let shifted = Span {
                    start: e.span.start + span.start,
                    end: e.span.end + span.start,
                };
                let mut moved = QueryError::new(src, e.kind, shifted, e.message);
                moved.help = e.help;
                moved
            });
            (span, parsed)
        })
        .collect()
}

/// Collapse whitespace to single spaces and shorten to at most 80 characters.
fn one_line(s: &str) -> String {
    let joined = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if joined.chars().count() > 80 {
        let mut t: String = joined.chars().take(77).collect();
        t.push_str("...");
        t
    } else {
        joined
    }
}

// ---------------------------------------------------------------------------------------
// Statement boundaries (for scripts and the REPL)
// ---------------------------------------------------------------------------------------

/// Lexical scan of HopQL text: the spans of its statements (from the first to the last
/// significant character, `;` excluded; blank and comment-only pieces skipped) and whether
/// the text ends inside a string literal.
fn scan_statements(src: &str) -> (Vec<Span>, bool, Option<u8>) {
    let b = src.as_bytes();
    let mut spans = Vec::new();
    let mut first: Option<usize> = None;
    let mut last_end = 0usize;
    let mut last_sig: Option<u8> = None;
    let mut i = 0;
    let mut open_string = false;
    while i < b.len() {
        match b[i] {
            b'\'' => {
                let start = i;
                i += 1;
                open_string = true;
                while i < b.len() {
                    if b[i] == b'\'' {
                        if b.get(i + 1) == Some(&b'\'') {
                            i += 2;
                            continue;
                        }
                        open_string = false;
                        break;
                    }
                    i += 1;
                }
                first.get_or_insert(start);
                last_end = (i + 1).min(b.len());
                last_sig = Some(b'\'');
                i += 1;
                continue;
            }
            b'-' if b.get(i + 1) == Some(&b'-') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b';' => {
                if let Some(s) = first.take() {
                    spans.push(Span {
                        start: s,
                        end: last_end,
                    });
                }
                last_sig = Some(b';');
            }
            c if c.is_ascii_whitespace() => {}
            c => {
                first.get_or_insert(i);
                last_end = i + 1;
                last_sig = Some(c);
            }
        }
        i += 1;
    }
    if let Some(s) = first {
        // Extend to a char boundary (multi-byte characters end after their last byte).
        let mut end = last_end;
        while end < src.len() && !src.is_char_boundary(end) {
            end += 1;
        }
        spans.push(Span { start: s, end });
    }
    (spans, open_string, last_sig)
}

/// The spans of the statements of a script, in order: from each statement's first to its
/// last significant character (`;`, surrounding blanks and `--` comments excluded). Empty
/// statements are skipped. Semicolons inside string literals and comments do not split.
pub fn statement_spans(src: &str) -> Vec<Span> {
    scan_statements(src).0
}

/// True when `src` ends a statement: its last character outside string literals and `--`
/// comments is `;`. The REPL reads lines until this holds.
pub fn is_complete(src: &str) -> bool {
    let (_, open, last) = scan_statements(src);
    !open && last == Some(b';')
}
