//! HopQL commands: `query` (one statement), `run` (a script file) and `repl` (an interactive
//! shell with history, completion and dot commands).

use anyhow::{bail, Result};
use clap::Args;
use hopdb::query::{self, exec, ExecError, Statement, FIELDS};
use hopdb::store::Store;
use hopdb::table::{Format, ResultTable, Value};
use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{CompletionType, Config, Editor, Helper};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Arguments of `hopdb query`.
#[derive(Args, Debug)]
pub struct QueryArgs {
    /// The HopQL statement (SELECT, EXPLAIN, DESCRIBE, SHOW, splits, models); several may be
    /// separated by ';' and run in order.
    pub statement: String,
    /// A value for the next '?' placeholder (repeat in order). A whole number is an integer,
    /// another number a number, true/false a boolean, null NULL, anything else a string;
    /// wrap a value in single quotes to force a string ('42').
    #[arg(long = "param", value_name = "VALUE", allow_hyphen_values = true)]
    pub params: Vec<String>,
    /// Output format.
    #[arg(long, value_parser = crate::cli::format_parser(), default_value = "table")]
    pub format: Format,
    /// Refuse text that holds more than one statement (for scripts that pass a query through).
    #[arg(long)]
    pub single: bool,
    /// Refuse to EVALUATE or PREDICT with a stale model (as the statements' STRICT option).
    #[arg(long)]
    pub strict: bool,
}

/// A `--param` value as a typed value (see [`QueryArgs::params`]).
pub fn param_value(text: &str) -> Value {
    if let Some(inner) = text.strip_prefix('\'').and_then(|t| t.strip_suffix('\'')).filter(|_| text.len() >= 2) {
        return Value::Str(inner.to_string());
    }
    let t = text.trim();
    if let Ok(i) = t.parse::<i64>() {
        return Value::Int(i);
    }
    match t.parse::<f64>() {
        Ok(x) if x.is_finite() && !t.eq_ignore_ascii_case("inf") && !t.eq_ignore_ascii_case("nan") => return Value::Num(x),
        _ => {}
    }
    match t.to_ascii_lowercase().as_str() {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        "null" => Value::Null,
        _ => Value::Str(text.to_string()),
    }
}

/// Arguments of `hopdb run`.
#[derive(Args, Debug)]
pub struct RunArgs {
    /// The script: HopQL statements separated by ';', `--` comments allowed.
    pub file: PathBuf,
    /// Output format.
    #[arg(long, value_parser = crate::cli::format_parser(), default_value = "table")]
    pub format: Format,
}

/// Arguments of `hopdb repl`.
#[derive(Args, Debug)]
pub struct ReplArgs {
    /// Initial output format (change it with `.format`).
    #[arg(long, value_parser = crate::cli::format_parser(), default_value = "table")]
    pub format: Format,
}

fn open(db: &Path) -> Result<Store> {
    Ok(Store::open(db)?)
}

fn print_tables(tables: &[ResultTable], format: Format) {
    for (i, t) in tables.iter().enumerate() {
        if i > 0 {
            println!();
        }
        let out = t.render(format);
        if out.ends_with('\n') {
            print!("{out}");
        } else {
            println!("{out}");
        }
    }
}

/// A query error's caret rendering without its leading `error: ` (the caller adds one).
fn strip_error_prefix(rendered: &str) -> &str {
    rendered.strip_prefix("error: ").unwrap_or(rendered)
}

/// `hopdb query "STATEMENT"`.
pub fn query(db: &Path, a: QueryArgs) -> Result<()> {
    let params: Vec<Value> = a.params.iter().map(|p| param_value(p)).collect();
    if let Err(e) = query::check_param_count(&a.statement, params.len()) {
        bail!("{}", strip_error_prefix(&e.to_string()));
    }
    let parsed = query::parse_statements_bound(&a.statement, &params);
    if parsed.is_empty() {
        bail!("no statement given (e.g. hopdb query \"SELECT COUNT(*) FROM hops\")");
    }
    if a.single && parsed.len() > 1 {
        let (span, _) = &parsed[1];
        let (line, column) = span.line_col(&a.statement);
        bail!("--single: the text holds {} statements; the second starts at line {line}, column {column}", parsed.len());
    }
    let mut stmts: Vec<Statement> = Vec::new();
    for (_, p) in parsed {
        match p {
            Ok(mut s) => {
                if a.strict {
                    s.set_strict();
                }
                stmts.push(s)
            }
            Err(e) => bail!("{}", strip_error_prefix(&e.to_string())),
        }
    }
    let store = open(db)?;
    let before = store.version()?.seq;
    let mut tables = Vec::new();
    for s in &stmts {
        match exec::execute(&store, s) {
            Ok(t) => tables.push(t),
            Err(e) => {
                print_tables(&tables, a.format);
                bail!("{}", strip_error_prefix(&e.to_string()));
            }
        }
    }
    print_tables(&tables, a.format);
    if store.version()?.seq != before {
        super::records::note_version(&store)?;
    }
    Ok(())
}

/// `hopdb run FILE`: run a script; on failure print the results so far, then name the
/// statement that failed.
pub fn run_file(db: &Path, a: RunArgs) -> Result<()> {
    let src = hopdb::input::read_text(&a.file).map_err(|e| anyhow::anyhow!("script {}: {e}", a.file.display()))?;
    let store = open(db)?;
    match hopdb::query::run_script(&store, &src) {
        Ok(tables) => {
            print_tables(&tables, a.format);
            Ok(())
        }
        Err(e) => {
            print_tables(&e.completed, a.format);
            let detail = match &e.error {
                ExecError::Query(q) => strip_error_prefix(&q.to_string()).to_string(),
                other => other.to_string(),
            };
            bail!(
                "statement {} at line {} of {} failed: {}\n  statement: {}",
                e.statement,
                e.line,
                a.file.display(),
                detail,
                e.text
            )
        }
    }
}

// ---------------------------------------------------------------------------------------
// REPL
// ---------------------------------------------------------------------------------------

const PROMPT: &str = "hopdb> ";
const CONTINUATION: &str = "   ...> ";

/// Words the completer offers besides field names.
const KEYWORDS: &[&str] = &[
    "SELECT", "FROM", "WHERE", "GROUP", "BY", "ORDER", "ASC", "DESC", "LIMIT", "OFFSET", "AS",
    "AND", "OR", "NOT", "BETWEEN", "IN", "LIKE", "IS", "NULL", "TRUE", "FALSE", "HAS", "ALL",
    "ANY", "ONLY", "EXPLAIN", "DESCRIBE", "SHOW", "STATS", "COUNT", "AVG", "MIN", "MAX", "SUM",
    "STDDEV", "MEDIAN", "hops", "CREATE", "SPLIT", "SPLITS", "DROP", "EXPORT", "TO", "PARTITION",
    "STRATIFIED", "RANDOM", "GROUPED", "KFOLD", "TEST", "SEED", "SCENARIOS", "OF", "TRAIN", "TUNE",
    "EVALUATE", "PREDICT", "CROSS", "VALIDATE", "MODEL", "MODELS", "PREDICTIONS", "ON", "WITH",
    "FOR", "FOLDS", "THRESHOLD", "FORCE", "REPLACE", "PRETRAINED", "random_forest", "boosted_trees",
    "mean", "gnn", "LENGTH", "FORMAT", "VIEW", "alignn", "extxyz", "VALIDATION", "RETRAIN", "STRICT",
];

const DOT_COMMANDS: &[&str] = &[".help", ".schema", ".timer", ".format", ".quit", ".exit"];

const HELP: &str = "\
Statements end with ';' and may span several lines:
  SELECT ion, COUNT(*) FROM hops
     GROUP BY ion ORDER BY ion;
  EXPLAIN SELECT * FROM hops WHERE elements HAS 'O';
  DESCRIBE hops;   SHOW STATS;
  CREATE SPLIT paper FROM PARTITION;   SHOW SPLITS;
  TRAIN gbt AS boosted_trees ON SPLIT paper;   EVALUATE gbt ON SPLIT paper;
  SHOW MODELS;   SHOW PREDICTIONS OF gbt WHERE partition = 'test';
Commands:
  .help                     this text
  .schema                   the fields of the hops table
  .timer on|off             print the time each statement takes
  .format table|csv|json    output format
  .quit / .exit             leave (Ctrl-D too)
Ctrl-C cancels the statement being typed. Tab completes keywords and field names.
The language reference is docs/QUERY_LANGUAGE.md.";

/// Completions for the word ending at `pos` of `line`: where the word starts and the
/// candidates (dot commands at the start of a line; keywords, field names and `hops`
/// elsewhere; nothing inside a string literal). Keywords follow the case of what was typed.
pub fn complete_word(line: &str, pos: usize) -> (usize, Vec<String>) {
    let pos = pos.min(line.len());
    let before = &line[..pos];
    if before.chars().filter(|&c| c == '\'').count() % 2 == 1 {
        return (pos, Vec::new());
    }
    let start = before
        .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
        .map_or(0, |i| i + 1);
    let word = &before[start..];
    if word.starts_with('.') {
        if before[..start].trim().is_empty() {
            let c = DOT_COMMANDS
                .iter()
                .filter(|d| d.starts_with(word))
                .map(|d| d.to_string())
                .collect();
            return (start, c);
        }
        return (pos, Vec::new());
    }
    if word.is_empty() {
        return (pos, Vec::new());
    }
    let lower = word.to_ascii_lowercase();
    let lower_case = word.chars().next().is_some_and(|c| c.is_ascii_lowercase());
    let mut out: Vec<String> = Vec::new();
    let mut add = |s: String| {
        if !out.contains(&s) {
            out.push(s);
        }
    };
    for d in FIELDS {
        if d.name.starts_with(&lower) {
            add(d.name.to_string());
        }
    }
    for k in KEYWORDS {
        if k.to_ascii_lowercase().starts_with(&lower) {
            add(if lower_case {
                k.to_ascii_lowercase()
            } else {
                k.to_string()
            });
        }
    }
    out.sort();
    (start, out)
}

/// The REPL's rustyline helper: completion of keywords, field names and dot commands.
struct HopHelper;

impl Completer for HopHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &rustyline::Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let (start, words) = complete_word(line, pos);
        Ok((
            start,
            words
                .into_iter()
                .map(|w| Pair {
                    display: w.clone(),
                    replacement: w,
                })
                .collect(),
        ))
    }
}

impl Hinter for HopHelper {
    type Hint = String;
}

impl Highlighter for HopHelper {}

impl Validator for HopHelper {}

impl Helper for HopHelper {}

/// Where the REPL keeps its history: `$HOPDB_HISTORY`, else `~/.hopdb_history`.
fn history_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("HOPDB_HISTORY").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".hopdb_history"))
}

/// Settings changed by dot commands.
struct Session {
    format: Format,
    timer: bool,
}

/// What a dot command asks of the loop.
enum Next {
    Continue,
    Quit,
}

fn dot_command(cmd: &str, s: &mut Session) -> Next {
    let mut words = cmd.split_whitespace();
    let name = words.next().unwrap_or("");
    let arg = words.next();
    match (name, arg) {
        (".quit" | ".exit", _) => return Next::Quit,
        (".help", _) => println!("{HELP}"),
        (".schema", _) => print_tables(&[hopdb::query::fields_table()], s.format),
        (".timer", Some("on")) => s.timer = true,
        (".timer", Some("off")) => s.timer = false,
        (".timer", None) => println!("timer is {}", if s.timer { "on" } else { "off" }),
        (".timer", Some(other)) => eprintln!("error: .timer takes on or off, not '{other}'"),
        (".format", None) => println!("format is {:?}", s.format),
        (".format", Some(f)) => match f.parse::<Format>() {
            Ok(f) => s.format = f,
            Err(e) => eprintln!("error: {e}"),
        },
        _ => eprintln!("error: unknown command '{name}' (.help lists the commands)"),
    }
    Next::Continue
}

/// Run the statements of `buf`, printing each result (and its time with `.timer on`);
/// stop at the first error, which is printed with its caret.
fn run_buffer(store: &Store, buf: &str, s: &Session) {
    for (_, parsed) in query::parse_statements(buf) {
        let stmt = match parsed {
            Ok(stmt) => stmt,
            Err(e) => {
                eprintln!("{e}");
                return;
            }
        };
        let t0 = Instant::now();
        let res = exec::execute(store, &stmt);
        let ms = t0.elapsed().as_secs_f64() * 1e3;
        match res {
            Ok(t) => print_tables(&[t], s.format),
            Err(e) => {
                match e {
                    ExecError::Query(q) => eprintln!("{q}"),
                    other => eprintln!("error: {other}"),
                }
                return;
            }
        }
        if s.timer {
            println!("Time: {ms:.3} ms");
        }
    }
}

/// `hopdb repl`: an interactive HopQL shell.
pub fn repl(db: &Path, a: ReplArgs) -> Result<()> {
    let store = open(db)?;
    let config = Config::builder()
        .auto_add_history(false)
        .history_ignore_dups(true)?
        .completion_type(CompletionType::List)
        .build();
    let mut rl: Editor<HopHelper, DefaultHistory> = Editor::with_config(config)?;
    rl.set_helper(Some(HopHelper));
    let hist = history_path();
    if let Some(p) = &hist {
        if p.exists() {
            if let Err(e) = rl.load_history(p) {
                eprintln!("warning: could not read history {}: {e}", p.display());
            }
        }
    }
    let records = hopdb::query::plan::record_count(&store)?;
    println!(
        "hopdb {} HopQL shell on {} ({records} hops). End statements with ';'; .help for help, .quit to leave.",
        hopdb::HOPDB_VERSION,
        db.display()
    );
    let mut session = Session {
        format: a.format,
        timer: false,
    };
    let mut buf = String::new();
    let save = |rl: &mut Editor<HopHelper, DefaultHistory>| {
        if let Some(p) = &hist {
            if let Err(e) = rl.save_history(p) {
                eprintln!("warning: could not save history to {}: {e}", p.display());
            }
        }
    };
    loop {
        let prompt = if buf.is_empty() { PROMPT } else { CONTINUATION };
        match rl.readline(prompt) {
            Ok(line) => {
                if buf.is_empty() {
                    let t = line.trim();
                    if t.is_empty() {
                        continue;
                    }
                    if t.starts_with('.') {
                        let _ = rl.add_history_entry(t);
                        let next = dot_command(t, &mut session);
                        save(&mut rl);
                        match next {
                            Next::Quit => break,
                            Next::Continue => continue,
                        }
                    }
                }
                if !buf.is_empty() {
                    buf.push('\n');
                }
                buf.push_str(&line);
                if hopdb::query::is_complete(&buf) {
                    let _ = rl.add_history_entry(buf.as_str());
                    save(&mut rl);
                    run_buffer(&store, &buf, &session);
                    buf.clear();
                }
            }
            // Ctrl-C: drop the statement being typed, keep the shell.
            Err(ReadlineError::Interrupted) => buf.clear(),
            // Ctrl-D: leave.
            Err(ReadlineError::Eof) => break,
            Err(e) => {
                save(&mut rl);
                return Err(e.into());
            }
        }
    }
    save(&mut rl);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completes_keywords_fields_and_commands() {
        let (start, c) = complete_word("SELECT io", 9);
        assert_eq!(start, 7);
        assert_eq!(c, vec!["ion".to_string()]);
        let (_, c) = complete_word("sel", 3);
        assert_eq!(c, vec!["select".to_string()]);
        let (_, c) = complete_word("SEL", 3);
        assert_eq!(c, vec!["SELECT".to_string()]);
        let (_, c) = complete_word("SELECT * FROM hops WHERE gr", 27);
        assert_eq!(c, vec!["group".to_string(), "grouped".to_string()]);
        let (_, c) = complete_word("SELECT * FROM hops WHERE GR", 27);
        assert_eq!(c, vec!["GROUP".to_string(), "GROUPED".to_string(), "group".to_string()]);
        let (_, c) = complete_word("TUNE m AS boo", 13);
        assert_eq!(c, vec!["boosted_trees".to_string()]);
        let (start, c) = complete_word(".ti", 3);
        assert_eq!((start, c), (0, vec![".timer".to_string()]));
        let (_, c) = complete_word("SELECT * FROM hops WHERE ion = 'L", 33);
        assert!(c.is_empty());
    }
}
