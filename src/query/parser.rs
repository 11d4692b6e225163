//! HopQL parsing: text to a validated [`Statement`].
//!
//! Parsing has two stages. The pest grammar (`grammar/hopql.pest`) checks the syntax; the
//! builder below turns the parse tree into the AST, resolving field names against
//! [`super::fields::FIELDS`] (with "did you mean" suggestions) and checking types. Every
//! failure is a [`QueryError`] that points at the offending token.

use super::ast::*;
use super::fields::{self, FieldType, FIELDS};
use crate::table::Value;
use pest::Parser as _;

mod grammar {
    //! The pest-generated parser; kept private so `Rule` is not part of the public API.
    #[derive(pest_derive::Parser)]
    #[grammar = "../grammar/hopql.pest"]
    pub struct HopqlParser;
}

use grammar::{HopqlParser, Rule};

type Pair<'i> = pest::iterators::Pair<'i, Rule>;

/// Deepest parenthesis nesting accepted (protects the recursive-descent parser's stack).
pub const MAX_PAREN_DEPTH: usize = 64;

/// Deepest expression tree accepted (a chain of `n` ANDs is `n` deep).
pub const MAX_EXPR_DEPTH: usize = 256;

/// A byte range of the source text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Span {
    /// Byte offset of the first byte.
    pub start: usize,
    /// Byte offset one past the last byte.
    pub end: usize,
}

impl Span {
    /// The text of the span within `src`.
    pub fn text<'s>(&self, src: &'s str) -> &'s str {
        src.get(self.start..self.end).unwrap_or("")
    }

    /// 1-based line and column (in characters) of the span's start within `src`.
    pub fn line_col(&self, src: &str) -> (usize, usize) {
        line_col(src, self.start)
    }
}

impl From<pest::Span<'_>> for Span {
    fn from(s: pest::Span<'_>) -> Self {
        Span {
            start: s.start(),
            end: s.end(),
        }
    }
}

/// What went wrong, for callers that want to branch on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The text does not follow the grammar.
    Syntax,
    /// A field name that is not in the field table.
    UnknownField,
    /// A table name other than `hops`.
    UnknownTable,
    /// Operand or argument types that do not fit (e.g. `em = 'abc'`).
    Type,
    /// Well-typed but meaningless: bad grouping, duplicate alias, unknown element,
    /// out-of-range number, ...
    Invalid,
    /// Nested too deeply.
    TooComplex,
}

/// A parse or validation error, located at a token of the source.
///
/// `Display` renders it compiler-style with the offending line and a caret:
///
/// ```text
/// error: unknown field 'emm', did you mean 'em'?
///  --> line 1, column 39
///   |
/// 1 | SELECT * FROM hops WHERE em < 0.3 AND emm > 2
///   |                                       ^^^
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render_with(&self.line_text))]
pub struct QueryError {
    /// Category.
    pub kind: ErrorKind,
    /// One-line description, e.g. `expected a field name or literal, found ')'`.
    pub message: String,
    /// An optional extra hint, shown as `= help: ...`.
    pub help: Option<String>,
    /// The offending token (byte offsets into the parsed text).
    pub span: Span,
    /// 1-based line of the token.
    pub line: usize,
    /// 1-based column (in characters) of the token.
    pub column: usize,
    /// The text of the offending line (without its newline).
    pub line_text: String,
}

impl QueryError {
    /// An error of `kind` at `span` of `src`.
    pub fn new(src: &str, kind: ErrorKind, span: Span, message: impl Into<String>) -> QueryError {
        let start = floor_char_boundary(src, span.start.min(src.len()));
        let end = floor_char_boundary(src, span.end.clamp(start, src.len()));
        let (line, column) = line_col(src, start);
        QueryError {
            kind,
            message: message.into(),
            help: None,
            span: Span { start, end },
            line,
            column,
            line_text: line_text_at(src, start).to_string(),
        }
    }

    /// The same error with a help line added.
    pub fn with_help(mut self, help: impl Into<String>) -> QueryError {
        self.help = Some(help.into());
        self
    }

    /// The error rendered against `src` (the text that was parsed): identical to `Display`.
    pub fn render(&self, src: &str) -> String {
        let start = floor_char_boundary(src, self.span.start.min(src.len()));
        self.render_with(line_text_at(src, start))
    }

    fn render_with(&self, full_line: &str) -> String {
        // A long line is shown as a window around the token, the caret on the same character.
        let (line_text, column) = crate::input::window(full_line, self.column);
        let line_text = line_text.as_str();
        let num = self.line.to_string();
        let pad = " ".repeat(num.len());
        // Characters of the line before the token; keep tabs so the caret lines up.
        let prefix: String = line_text
            .chars()
            .take(column.saturating_sub(1))
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        let line_chars = line_text.chars().count();
        let token_chars = self.span.end.saturating_sub(self.span.start);
        let avail = line_chars.saturating_sub(column.saturating_sub(1));
        let width = count_chars_capped(line_text, column.saturating_sub(1), token_chars)
            .min(avail)
            .max(1);
        let mut out = format!(
            "error: {}\n{pad}--> line {}, column {}\n{pad} |\n{num} | {}\n{pad} | {prefix}{}",
            crate::input::cap_message(&self.message),
            self.line,
            self.column,
            line_text,
            "^".repeat(width)
        );
        if let Some(h) = &self.help {
            out.push_str(&format!("\n{pad} = help: {h}"));
        }
        out
    }
}

/// Number of chars in `line` starting at char `from` whose bytes fit in `max_bytes`.
fn count_chars_capped(line: &str, from: usize, max_bytes: usize) -> usize {
    let mut bytes = 0;
    let mut n = 0;
    for c in line.chars().skip(from) {
        bytes += c.len_utf8();
        if bytes > max_bytes {
            break;
        }
        n += 1;
    }
    n
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let offset = floor_char_boundary(src, offset.min(src.len()));
    let before = &src[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, src[line_start..offset].chars().count() + 1)
}

fn line_text_at(src: &str, offset: usize) -> &str {
    let line_start = src[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line_end = src[offset..].find('\n').map_or(src.len(), |i| offset + i);
    src[line_start..line_end].trim_end_matches('\r')
}

// ---------------------------------------------------------------------------------------
// Entry points
// ---------------------------------------------------------------------------------------

/// Parse exactly one statement (a trailing `;` is allowed). A statement with `?`
/// placeholders needs [`parse_statement_with_params`].
pub fn parse_statement(src: &str) -> Result<Statement, QueryError> {
    parse_statement_with_params(src, &[])
}

/// Parse exactly one statement and bind its `?` placeholders, in order of appearance, to
/// `params`. A bound value is a value, never text: a string parameter is one string literal
/// (or name, or path) whatever it contains. The value goes through the checks a written
/// literal would (types, element symbols, ranges); errors point at the `?` and name the
/// parameter, and a count other than the number of placeholders is an error.
pub fn parse_statement_with_params(src: &str, params: &[Value]) -> Result<Statement, QueryError> {
    parse_statement_at(src, params, 0)
}

/// [`parse_statement_with_params`] where `params` are parameters `first + 1 ..` of a longer
/// list (a statement of a script), for the parameter numbers in error messages.
pub(crate) fn parse_statement_at(src: &str, params: &[Value], first: usize) -> Result<Statement, QueryError> {
    check_nesting(src)?;
    let mut pairs = HopqlParser::parse(Rule::single, src).map_err(|e| syntax_error(src, e))?;
    let single = pairs.next().expect("the single rule produces one pair");
    let b = Builder::bound(src, params, first)?;
    let stmt = single
        .into_inner()
        .find(|p| p.as_rule() == Rule::statement)
        .expect("single contains a statement");
    b.statement(stmt).map_err(|e| b.name_parameter(e))
}

/// Byte offsets of the `?` placeholders of `src`, in order (question marks inside string
/// literals and `--` comments are text, not placeholders).
pub fn placeholder_offsets(src: &str) -> Vec<usize> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\'' => i = skip_string(b, i),
            b'-' if b.get(i + 1) == Some(&b'-') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'?' => out.push(i),
            _ => {}
        }
        i += 1;
    }
    out
}

/// Index of the closing quote of the string literal opening at `i` (or the end of `b`).
fn skip_string(b: &[u8], mut i: usize) -> usize {
    i += 1;
    while i < b.len() {
        if b[i] == b'\'' {
            if b.get(i + 1) == Some(&b'\'') {
                i += 1;
            } else {
                break;
            }
        }
        i += 1;
    }
    i
}

/// Check that `given` parameters fit the `?` placeholders of `src` (a statement or a
/// script): the error says how many are expected and points at the first placeholder without
/// a value, or at the last one when there are too many.
pub fn check_param_count(src: &str, given: usize) -> Result<(), QueryError> {
    match param_count_error(src, &placeholder_offsets(src), given, 0) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// The error for `given` parameters bound to a text whose placeholders are at `slots`
/// (parameters `first + 1 ..` of the caller's list), or `None` when the counts agree.
pub(crate) fn param_count_error(src: &str, slots: &[usize], given: usize, first: usize) -> Option<QueryError> {
    if slots.len() == given {
        return None;
    }
    let plural = |n: usize, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
    let msg = format!(
        "the statement has {} but {} {} given",
        plural(slots.len(), "'?' placeholder"),
        plural(given, "parameter"),
        if given == 1 { "was" } else { "were" }
    );
    let span = match slots.get(given) {
        // Too few: the first placeholder without a value.
        Some(&at) => Span { start: at, end: at + 1 },
        // Too many: the last placeholder, or the start of the statement.
        None => match slots.last() {
            Some(&at) => Span { start: at, end: at + 1 },
            None => {
                let start = src.len() - src.trim_start().len();
                Span { start, end: (start + 1).min(src.len()) }
            }
        },
    };
    let help = match slots.get(given) {
        Some(_) => format!("parameter {} is missing: pass one value per '?'", first + given + 1),
        None => "pass one value per '?' (a '?' inside quotes is text, not a placeholder)".to_string(),
    };
    Some(QueryError::new(src, ErrorKind::Invalid, span, msg).with_help(help))
}

/// Parse a script: statements separated by `;` (a trailing `;` and empty statements are
/// allowed, as are `--` comments). Each statement comes with its span in `src`, so a runner
/// can report which one failed; an error's line and column are relative to the whole script.
pub fn parse_script(src: &str) -> Result<Vec<(Span, Statement)>, QueryError> {
    check_nesting(src)?;
    let mut pairs = HopqlParser::parse(Rule::script, src).map_err(|e| syntax_error(src, e))?;
    let script = pairs.next().expect("the script rule produces one pair");
    let b = Builder::bound(src, &[], 0)?;
    script
        .into_inner()
        .filter(|p| p.as_rule() == Rule::statement)
        .map(|p| {
            // End at the statement's last token, not at whitespace or comments after it.
            let start = p.as_span().start();
            let end = p
                .clone()
                .into_inner()
                .flatten()
                .map(|q| q.as_span().end())
                .max();
            let span = Span {
                start,
                end: end.unwrap_or(p.as_span().end()),
            };
            b.statement(p).map(|s| (span, s))
        })
        .collect()
}

/// Parse a bare condition, as it would appear after `WHERE`.
pub fn parse_expr(src: &str) -> Result<Expr, QueryError> {
    check_nesting(src)?;
    let mut pairs = HopqlParser::parse(Rule::expr_only, src).map_err(|e| syntax_error(src, e))?;
    let top = pairs.next().expect("the expr_only rule produces one pair");
    let b = Builder::bound(src, &[], 0)?;
    let e = top
        .into_inner()
        .find(|p| p.as_rule() == Rule::expr)
        .expect("expr_only contains an expr");
    b.expr(e).map(|(e, _)| e)
}

/// True if `word` is a reserved keyword (it cannot be a field name or alias).
pub fn is_reserved(word: &str) -> bool {
    full_match(Rule::reserved, word)
}

/// True if `word` can be used as an alias: an identifier that is not reserved.
pub fn is_identifier(word: &str) -> bool {
    full_match(Rule::ident, word)
}

fn full_match(rule: Rule, word: &str) -> bool {
    match HopqlParser::parse(rule, word) {
        Ok(mut pairs) => pairs.next().is_some_and(|p| p.as_str().len() == word.len()),
        Err(_) => false,
    }
}

/// Reject parenthesis nesting deeper than [`MAX_PAREN_DEPTH`] before pest recurses into it.
/// Parentheses inside string literals and `--` comments do not count.
fn check_nesting(src: &str) -> Result<(), QueryError> {
    let b = src.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\'' => i = skip_string(b, i),
            b'-' if b.get(i + 1) == Some(&b'-') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'(' => {
                depth += 1;
                if depth > MAX_PAREN_DEPTH {
                    return Err(QueryError::new(
                        src,
                        ErrorKind::TooComplex,
                        Span {
                            start: i,
                            end: i + 1,
                        },
                        format!(
                            "parentheses nested too deeply (more than {MAX_PAREN_DEPTH} levels)"
                        ),
                    ));
                }
            }
            b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Syntax errors: pest's rule names in words
// ---------------------------------------------------------------------------------------

/// Human words for a grammar rule, as used in "expected ..." messages: each rule is
/// described by exactly one of the groups below (the unit tests check it).
fn describe_rule(rule: Rule) -> &'static str {
    statement_rule_words(rule)
        .or_else(|| split_rule_words(rule))
        .or_else(|| clause_rule_words(rule))
        .or_else(|| token_rule_words(rule))
        .unwrap_or("a token")
}

/// Words for the statement rules and those of the model statements (`TRAIN`, `TUNE`,
/// `EVALUATE`, ...).
fn statement_rule_words(rule: Rule) -> Option<&'static str> {
    use Rule::*;
    Some(match rule {
        single | script | statement => "a statement (SELECT, EXPLAIN, DESCRIBE, SHOW, CREATE SPLIT, DROP, EXPORT, SCENARIOS, TRAIN, TUNE, EVALUATE, PREDICT or CROSS VALIDATE)",
        kw_train | train_model => "TRAIN",
        kw_tune | tune_model => "TUNE",
        kw_evaluate | evaluate_model => "EVALUATE",
        kw_predict | predict_model => "PREDICT",
        kw_cross | cross_validate => "CROSS VALIDATE",
        kw_validate => "VALIDATE",
        kw_model | describe_model | drop_model => "MODEL",
        kw_models | show_models => "MODELS",
        kw_predictions | show_predictions | export_predictions => "PREDICTIONS",
        kw_on | on_split => "ON SPLIT",
        kw_with | with_clause => "WITH",
        kw_for => "FOR",
        kw_folds => "FOLDS",
        kw_threshold => "THRESHOLD",
        kw_force => "FORCE",
        kw_strict => "STRICT",
        kw_retrain | retrain_model => "RETRAIN",
        as_of | kw_as_of => "AS OF",
        kw_replace => "REPLACE",
        kw_pretrained | pretrained_on => "PRETRAINED ON",
        placeholder => "a '?' placeholder",
        split_ref => "a split name or '?'",
        model_ref => "a model name or '?'",
        path_value => "a 'string' or '?'",
        kw_format | export_format => "FORMAT",
        export_kind => "an export format (alignn, extxyz, json or csv)",
        kw_view => "VIEW",
        view_name => "a view (band, initial, final or centroid)",
        model_name => "a model name",
        kind_name | model_kind => "a model kind (random_forest, boosted_trees, mean or gnn(variant))",
        kind_variant => "a variant name",
        param | param_key => "a parameter (name = value)",
        param_value | param_atom | param_word => "a parameter value (number, 'string' or word)",
        param_list => "a parenthesised list of values",
        tune_option => "FOLDS or SEED",
        eval_dim => "group, scenario or hop",
        eval_option => "BY, THRESHOLD or FORCE",
        _ => return None,
    })
}

/// Words for the rules of the split statements (`CREATE SPLIT`, `SHOW SPLITS`, `DROP`,
/// `EXPORT`, ...).
fn split_rule_words(rule: Rule) -> Option<&'static str> {
    use Rule::*;
    Some(match rule {
        kw_create | create_split => "CREATE",
        kw_split => "SPLIT",
        kw_splits | show_splits => "SPLITS",
        show_split => "SHOW SPLIT",
        kw_drop | drop_split => "DROP",
        kw_export | export_split => "EXPORT",
        kw_to => "TO",
        kw_partition => "PARTITION",
        kw_stratified | stratified => "STRATIFIED",
        kw_random | random_method => "RANDOM",
        kw_grouped => "GROUPED",
        kw_kfold | kfold_method => "KFOLD",
        kw_leave | logo_method => "LEAVE ONE GROUP OUT",
        kw_one => "ONE",
        kw_out => "OUT",
        kw_test => "TEST",
        kw_seed => "SEED",
        kw_min_group => "MIN_GROUP",
        kw_one_hop => "ONE_HOP",
        kw_validation => "VALIDATION",
        kw_scenarios | scenarios => "SCENARIOS",
        kw_of => "OF",
        split_name => "a split name",
        kw_ids | ids_source => "IDS",
        id_list => "a parenthesised list of ids",
        kw_learning | curve_source => "LEARNING CURVE",
        kw_curve => "CURVE",
        curve_size => "a size or ALL",
        fraction => "a percentage (e.g. 10%) or a fraction (0.1)",
        seed_value => "a seed (a whole number)",
        split_source => "PARTITION or a parenthesised SELECT",
        stratify_key => "group or class",
        split_method => "a split method (STRATIFIED BY, RANDOM, KFOLD, GROUPED KFOLD, LEAVE ONE GROUP OUT)",
        split_option => "a split option (TEST, SEED, MIN_GROUP, ONE_HOP, VALIDATION)",
        _ => return None,
    })
}

/// Words for the rules of `SELECT`, its clauses and the conditions of `WHERE`.
fn clause_rule_words(rule: Rule) -> Option<&'static str> {
    use Rule::*;
    Some(match rule {
        expr_only | expr | and_expr | not_expr | predicate => "a condition",
        select | kw_select => "SELECT",
        explain | kw_explain => "EXPLAIN",
        describe | kw_describe => "DESCRIBE",
        show_stats | kw_show => "SHOW",
        kw_stats => "STATS",
        kw_from => "FROM",
        where_clause | kw_where => "WHERE",
        group_by => "GROUP BY",
        kw_group => "GROUP BY",
        order_by => "ORDER BY",
        kw_order => "ORDER BY",
        kw_by => "BY",
        order_dir => "ASC or DESC",
        kw_asc => "ASC",
        kw_desc => "DESC",
        limit_clause | kw_limit => "LIMIT",
        kw_offset => "OFFSET",
        alias | kw_as => "AS",
        kw_and => "AND",
        kw_or => "OR",
        kw_not => "NOT",
        between_tail | kw_between => "BETWEEN",
        in_tail | kw_in => "IN",
        like_tail | kw_like => "LIKE",
        null_tail | kw_is => "IS",
        kw_null => "NULL",
        kw_true => "TRUE",
        kw_false => "FALSE",
        has_tail | kw_has => "HAS",
        length_tail | kw_length => "LENGTH",
        has_mode => "ALL/ANY/ONLY",
        kw_all => "ALL",
        kw_any => "ANY",
        kw_only => "ONLY",
        _ => return None,
    })
}

/// Words for the lexical rules: names, literals, punctuation, end of input and whitespace.
fn token_rule_words(rule: Rule) -> Option<&'static str> {
    use Rule::*;
    Some(match rule {
        reserved => "a keyword",
        ident => "a name",
        alias_name => "an alias name",
        field => "a field name",
        table_name => "a table name",
        operand => "a field name or literal",
        literal => "a literal (number, 'string', TRUE, FALSE or NULL)",
        number => "a number",
        uint => "a whole number",
        string | string_inner => "a string literal",
        field_pred => "a comparison operator (=, !=, <, <=, >, >=, BETWEEN, IN, LIKE, IS, HAS or LENGTH)",
        compare_tail | cmp_op => "a comparison operator",
        paren_expr | lparen => "'('",
        rparen => "')'",
        comma => "','",
        semicolon => "';'",
        star => "'*'",
        select_list => "a select list ('*', fields or aggregates)",
        select_item => "'*', a field or an aggregate",
        aggregate => "an aggregate (COUNT, AVG, MIN, MAX, SUM, STDDEV or MEDIAN)",
        agg_func => "an aggregate function",
        order_item | order_key => "a sort key (field, aggregate, alias or column number)",
        ident_char => "a letter, digit or '_'",
        EOI => "end of input",
        WHITESPACE | COMMENT => "whitespace",
        _ => return None,
    })
}

/// The text of a `string` pair, quotes removed and `''` unescaped.
fn unquote(pair: Pair<'_>) -> String {
    pair.into_inner().next().map(|p| p.as_str().replace("''", "'")).unwrap_or_default()
}

/// A short description of what is at byte `pos` of `src`, for "found ..." and the caret.
fn token_at(src: &str, pos: usize) -> (String, usize) {
    let rest = &src[pos.min(src.len())..];
    let Some(c) = rest.chars().next() else {
        return ("end of input".to_string(), 0);
    };
    let len = if c.is_alphanumeric() || c == '_' {
        rest.find(|ch: char| !(ch.is_alphanumeric() || ch == '_' || ch == '.'))
            .unwrap_or(rest.len())
    } else if c == '\'' {
        // A string literal: up to its closing quote (or the end of the line).
        let mut end = rest.len();
        let mut it = rest.char_indices().skip(1).peekable();
        while let Some((i, ch)) = it.next() {
            if ch == '\n' {
                end = i;
                break;
            }
            if ch == '\'' {
                if it.peek().map(|&(_, n)| n) == Some('\'') {
                    it.next();
                } else {
                    end = i + 1;
                    break;
                }
            }
        }
        end
    } else if ["<=", ">=", "<>", "!=", "--"]
        .iter()
        .any(|op| rest.starts_with(op))
    {
        2
    } else {
        c.len_utf8()
    };
    let text = &rest[..len];
    let shown: String = if text.chars().count() > 40 {
        text.chars().take(37).chain("...".chars()).collect()
    } else {
        text.to_string()
    };
    let desc = if c == '\n' || c == '\r' {
        "end of line".to_string()
    } else if c.is_control() {
        format!("character {:?}", c)
    } else {
        format!("'{shown}'")
    };
    (desc, len)
}

fn join_words(words: &[&str]) -> String {
    match words {
        [] => String::new(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} or {}", init.join(", "), last),
    }
}

/// The syntax error for a pest failure at `src`: what was expected (or not allowed) and what
/// was found, with help for an unterminated string, a reserved word used as a name, or a
/// double-quoted string.
fn syntax_error(src: &str, e: pest::error::Error<Rule>) -> QueryError {
    use pest::error::{ErrorVariant, InputLocation};
    let pos = match e.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    };
    let (found, len) = token_at(src, pos);
    let span = Span {
        start: pos,
        end: pos + len,
    };
    let message = match &e.variant {
        ErrorVariant::ParsingError {
            positives,
            negatives,
        } => parsing_error_message(positives, negatives, &found),
        ErrorVariant::CustomError { message } => message.clone(),
    };
    let token = span.text(src);
    if token.starts_with('\'') && (token.len() == 1 || !token.ends_with('\'')) {
        return QueryError::new(src, ErrorKind::Syntax, span, "unterminated string literal")
            .with_help("a string ends with a single quote; write '' for a quote inside it");
    }
    let mut err = QueryError::new(src, ErrorKind::Syntax, span, message);
    // A keyword where a name was expected is a common stumble; say so.
    let wants_name = match &e.variant {
        ErrorVariant::ParsingError { positives, .. } => positives.iter().any(|r| {
            matches!(
                r,
                Rule::ident
                    | Rule::field
                    | Rule::alias_name
                    | Rule::table_name
                    | Rule::operand
                    | Rule::select_item
                    | Rule::select_list
                    | Rule::order_key
                    | Rule::order_item
            )
        }),
        ErrorVariant::CustomError { .. } => false,
    };
    if wants_name && !token.is_empty() && is_reserved(token) {
        err = err.with_help(format!("{} is a reserved word", crate::input::quote(&token)));
    } else if token.starts_with('"') {
        err = err.with_help("strings are written in single quotes: 'text'");
    }
    err
}

/// The message of a parsing failure: "expected A, B or C, found X" from the rules that
/// were expected (end of input last), else "unexpected X" with the rules not allowed.
fn parsing_error_message(positives: &[Rule], negatives: &[Rule], found: &str) -> String {
    let mut words: Vec<&str> = Vec::new();
    // "end of input" reads best last.
    let mut ordered: Vec<Rule> = positives
        .iter()
        .copied()
        .filter(|r| *r != Rule::EOI)
        .collect();
    if positives.contains(&Rule::EOI) {
        ordered.push(Rule::EOI);
    }
    for r in &ordered {
        let w = describe_rule(*r);
        if !words.contains(&w) {
            words.push(w);
        }
    }
    if !words.is_empty() {
        format!("expected {}, found {found}", join_words(&words))
    } else if !negatives.is_empty() {
        let mut neg: Vec<&str> = Vec::new();
        for r in negatives {
            let w = describe_rule(*r);
            if !neg.contains(&w) {
                neg.push(w);
            }
        }
        format!(
            "unexpected {found} (not allowed here: {})",
            join_words(&neg)
        )
    } else {
        format!("unexpected {found}")
    }
}

// ---------------------------------------------------------------------------------------
// Parse tree to AST
// ---------------------------------------------------------------------------------------

/// A select item with its span and its alias's span (for messages).
type SpannedItem<'i> = (SelectItem, pest::Span<'i>, Option<pest::Span<'i>>);

/// A literal as written, before NULL is rejected.
enum Lit {
    Value(Literal),
    Null,
}

struct Builder<'s> {
    src: &'s str,
    /// Values bound to the placeholders, in order.
    params: &'s [Value],
    /// Byte offsets of the placeholders in `src`, in order.
    slots: Vec<usize>,
    /// Number of parameters before `params` in the caller's list (for messages).
    first: usize,
}

/// `value` described for an error message: `the string 'x'`, `the number 3`, ...
fn describe_value(v: &Value) -> String {
    match v {
        Value::Null => "NULL".to_string(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Int(i) => format!("the integer {i}"),
        Value::Num(x) => format!("the number {x}"),
        Value::Str(s) => format!("the string {}", super::print::quote_string(s)),
        Value::List(l) => format!("a list of {} values", l.len()),
        Value::NumList(l) => format!("a list of {} numbers", l.len()),
    }
}

/// A built expression with its tree depth.
type Built = (Expr, usize);

fn describe_literal(l: &Literal) -> String {
    match l {
        Literal::Num(_) => format!("{l} is a number"),
        Literal::Str(_) => format!("{l} is a string"),
        Literal::Bool(_) => format!("{l} is a boolean"),
    }
}

fn compatible(a: FieldType, b: FieldType) -> bool {
    (a.is_numeric() && b.is_numeric()) || a == b
}

impl<'s> Builder<'s> {
    /// A builder for `src` whose placeholders take `params` (checked to match in number).
    fn bound(src: &'s str, params: &'s [Value], first: usize) -> Result<Builder<'s>, QueryError> {
        let slots = placeholder_offsets(src);
        match param_count_error(src, &slots, params.len(), first) {
            Some(e) => Err(e),
            None => Ok(Builder { src, params, slots, first }),
        }
    }

    /// An error located at a placeholder says which parameter it is about.
    fn name_parameter(&self, mut e: QueryError) -> QueryError {
        if let Ok(i) = self.slots.binary_search(&e.span.start) {
            let n = self.first + i + 1;
            if !e.message.starts_with(&format!("parameter {n}:")) {
                e.message = format!("parameter {n}: {}", e.message);
            }
        }
        e
    }

    /// The value bound to the placeholder `pair`.
    fn param(&self, pair: &Pair<'_>) -> &'s Value {
        let i = self
            .slots
            .binary_search(&pair.as_span().start())
            .expect("every placeholder the grammar accepts is found by the scanner");
        &self.params[i]
    }

    /// A type error at placeholder `pair`: it needed `want` for `what`.
    fn param_type_err(&self, pair: &Pair<'_>, want: &str, what: &str) -> QueryError {
        let got = describe_value(self.param(pair));
        self.err(ErrorKind::Type, pair.as_span(), format!("{what} needs {want}, but the value bound is {got}"))
    }

    /// A string bound to placeholder `pair` (a path or an id).
    fn param_str(&self, pair: &Pair<'_>, what: &str) -> Result<String, QueryError> {
        match self.param(pair) {
            Value::Str(s) => Ok(s.clone()),
            _ => Err(self.param_type_err(pair, "a string", what)),
        }
    }

    /// A whole number >= 0 bound to placeholder `pair`.
    fn param_uint(&self, pair: &Pair<'_>, what: &str) -> Result<u64, QueryError> {
        match self.param(pair) {
            Value::Int(i) if *i >= 0 => Ok(*i as u64),
            Value::Num(x) if x.fract() == 0.0 && *x >= 0.0 && *x < 1.8e19 => Ok(*x as u64),
            _ => Err(self.param_type_err(pair, "a whole number >= 0", what)),
        }
    }

    /// A finite number bound to placeholder `pair`.
    fn param_num(&self, pair: &Pair<'_>, what: &str) -> Result<f64, QueryError> {
        match self.param(pair) {
            Value::Int(i) => Ok(*i as f64),
            Value::Num(x) if x.is_finite() => Ok(*x),
            _ => Err(self.param_type_err(pair, "a finite number", what)),
        }
    }

    /// A split or model name: written (`split_ref` / `model_ref`) or bound to a placeholder.
    fn name_ref(&self, pair: Pair<'_>, what: &str) -> Result<String, QueryError> {
        let inner = pair.into_inner().next().expect("a name reference has one child");
        if inner.as_rule() != Rule::placeholder {
            return Ok(inner.as_str().to_string());
        }
        let name = self.param_str(&inner, what)?;
        let ok = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if !ok {
            return Err(self.err(ErrorKind::Invalid, inner.as_span(), format!("{what} {} is not a valid name", super::print::quote_string(&name)))
                .with_help("names are letters, digits, '_', '-' and '.'"));
        }
        Ok(name)
    }

    /// The first `split_ref` / `model_ref` child of `pair`, resolved.
    fn child_name(&self, pair: Pair<'_>, rule: Rule, what: &str) -> Result<String, QueryError> {
        let r = pair.into_inner().find(|p| p.as_rule() == rule).expect("the statement has a name");
        self.name_ref(r, what)
    }

    /// A quoted string or a bound string (`path_value`).
    fn path_value(&self, pair: Pair<'_>, what: &str) -> Result<String, QueryError> {
        let inner = pair.into_inner().next().expect("a path has one child");
        match inner.as_rule() {
            Rule::placeholder => self.param_str(&inner, what),
            _ => Ok(unquote(inner)),
        }
    }

    /// A whole number: written (`uint`) or bound.
    fn uint_or_param(&self, pair: Pair<'_>, what: &str) -> Result<u64, QueryError> {
        match pair.as_rule() {
            Rule::placeholder => self.param_uint(&pair, what),
            _ => self.uint(pair),
        }
    }

    fn err(&self, kind: ErrorKind, span: pest::Span<'_>, msg: impl Into<String>) -> QueryError {
        QueryError::new(self.src, kind, span.into(), msg)
    }

    fn statement(&self, pair: Pair<'_>) -> Result<Statement, QueryError> {
        let inner = pair.into_inner().next().expect("statement has one child");
        match inner.as_rule() {
            Rule::select => Ok(Statement::Select(self.select(inner)?)),
            Rule::explain => {
                let sel = inner
                    .into_inner()
                    .find(|p| p.as_rule() == Rule::select)
                    .expect("explain contains a select");
                Ok(Statement::Explain(self.select(sel)?))
            }
            Rule::describe => {
                let t = inner
                    .into_inner()
                    .find(|p| p.as_rule() == Rule::table_name)
                    .expect("describe names a table");
                Ok(Statement::Describe(self.table(t)?))
            }
            Rule::show_stats => Ok(Statement::ShowStats),
            Rule::show_splits => Ok(Statement::ShowSplits),
            Rule::show_split => Ok(Statement::ShowSplit(self.child_name(inner, Rule::split_ref, "the split name")?)),
            Rule::drop_split => Ok(Statement::DropSplit(self.child_name(inner, Rule::split_ref, "the split name")?)),
            Rule::scenarios => Ok(Statement::Scenarios(self.child_name(inner, Rule::split_ref, "the split name")?)),
            Rule::export_split => self.export_split(inner),
            Rule::create_split => self.create_split(inner),
            Rule::train_model | Rule::tune_model | Rule::evaluate_model | Rule::predict_model | Rule::cross_validate => self.model_statement(inner),
            Rule::show_models => Ok(Statement::ShowModels),
            Rule::describe_model => Ok(Statement::DescribeModel(self.child_name(inner, Rule::model_ref, "the model name")?)),
            Rule::drop_model => Ok(Statement::DropModel(self.child_name(inner, Rule::model_ref, "the model name")?)),
            Rule::retrain_model => Ok(Statement::Retrain(self.child_name(inner, Rule::model_ref, "the model name")?)),
            Rule::show_predictions => {
                let model = self.child_name(inner.clone(), Rule::model_ref, "the model name")?;
                let (mut filter, mut limit) = (None, None);
                for p in inner.into_inner() {
                    match p.as_rule() {
                        Rule::where_clause => {
                            let e = p.into_inner().find(|q| q.as_rule() == Rule::expr).expect("where has expr");
                            filter = Some(self.expr(e)?.0);
                        }
                        Rule::limit_clause => limit = Some(self.limit(p)?),
                        _ => {}
                    }
                }
                Ok(Statement::ShowPredictions { model, filter, limit })
            }
            Rule::export_predictions => {
                let model = self.child_name(inner.clone(), Rule::model_ref, "the model name")?;
                let s = inner.into_inner().find(|p| p.as_rule() == Rule::path_value).expect("export has a path");
                let path = self.path_value(s, "the file name")?;
                Ok(Statement::ExportPredictions { model, path })
            }
            r => unreachable!("unexpected statement rule {r:?}"),
        }
    }

    fn limit(&self, pair: Pair<'_>) -> Result<Limit, QueryError> {
        let mut nums = pair.into_inner().filter(|q| matches!(q.as_rule(), Rule::uint | Rule::placeholder));
        let count = self.uint_or_param(nums.next().expect("limit has a count"), "LIMIT")?;
        let offset = match nums.next() {
            Some(o) => self.uint_or_param(o, "OFFSET")?,
            None => 0,
        };
        Ok(Limit { count, offset })
    }

    fn model_kind(&self, pair: Pair<'_>) -> ModelKind {
        let mut k = ModelKind { name: String::new(), variant: None };
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::kind_name => k.name = p.as_str().to_ascii_lowercase(),
                Rule::kind_variant => k.variant = Some(p.as_str().to_ascii_lowercase()),
                _ => {}
            }
        }
        k
    }

    fn params(&self, pair: Pair<'_>) -> Result<Vec<ModelParam>, QueryError> {
        let mut out: Vec<ModelParam> = Vec::new();
        for p in pair.into_inner().filter(|q| q.as_rule() == Rule::param) {
            let mut it = p.into_inner();
            let key_pair = it.next().expect("param key");
            let key = key_pair.as_str().to_ascii_lowercase();
            if out.iter().any(|q| q.key == key) {
                return Err(self.err(ErrorKind::Invalid, key_pair.as_span(), format!("parameter {} is given twice", crate::input::quote(&key))));
            }
            let value = it.next().expect("param value").into_inner().next().expect("value");
            let list = value.as_rule() == Rule::param_list;
            let atoms: Vec<Pair<'_>> = if list { value.into_inner().filter(|q| q.as_rule() == Rule::param_atom).collect() } else { vec![value] };
            let mut values = Vec::new();
            for a in atoms {
                let v = a.into_inner().next().expect("atom");
                values.push(match v.as_rule() {
                    Rule::placeholder => self.param_atom(&v, &key)?,
                    Rule::number => ParamAtom::Num(v.as_str().to_string()),
                    Rule::string => ParamAtom::Str(v.into_inner().next().map(|x| x.as_str().replace("''", "'")).unwrap_or_default()),
                    _ => ParamAtom::Word(v.as_str().to_string()),
                });
            }
            out.push(ModelParam { key, values, list });
        }
        Ok(out)
    }

    /// A `WITH` value bound to a placeholder: a number, or a string (a word such as `log1p`
    /// is passed as a string).
    fn param_atom(&self, pair: &Pair<'_>, key: &str) -> Result<ParamAtom, QueryError> {
        match self.param(pair) {
            Value::Int(i) => Ok(ParamAtom::Num(i.to_string())),
            Value::Num(x) if x.is_finite() => Ok(ParamAtom::Num(format!("{x}"))),
            Value::Str(s) => Ok(ParamAtom::Str(s.clone())),
            _ => Err(self.param_type_err(pair, "a number or a string", &format!("parameter '{key}'"))),
        }
    }

    /// `EXPORT SPLIT name [FORMAT kind [VIEW view]] TO 'path'`.
    fn export_split(&self, pair: Pair<'_>) -> Result<Statement, QueryError> {
        let (mut name, mut path, mut format, mut view) = (String::new(), String::new(), None, None);
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::split_ref => name = self.name_ref(p, "the split name")?,
                Rule::path_value => path = self.path_value(p, "the output path")?,
                Rule::export_format => {
                    for q in p.into_inner() {
                        match q.as_rule() {
                            Rule::export_kind => format = SplitExportFormat::parse(q.as_str()),
                            Rule::view_name => {
                                view = Some(HopView::parse(q.as_str()).expect("the grammar admits known views"));
                                if format != Some(SplitExportFormat::Alignn) {
                                    return Err(self.err(ErrorKind::Invalid, q.as_span(), "VIEW applies to FORMAT alignn only")
                                        .with_help("extxyz frames are LiTraj's centroid layout; json and csv list ids"));
                                }
                            }
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(Statement::ExportSplit { name, path, format, view })
    }

    fn model_statement(&self, pair: Pair<'_>) -> Result<Statement, QueryError> {
        let rule = pair.as_rule();
        let (mut name, mut kind, mut split, mut params) = (String::new(), ModelKind { name: String::new(), variant: None }, String::new(), Vec::new());
        let (mut pretrained, mut query, mut replace, mut force, mut strict) = (None, None, false, false, false);
        let (mut folds, mut seed, mut by, mut threshold) = (None, None, None, None);
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::model_ref => name = self.name_ref(p, "the model name")?,
                Rule::model_kind => kind = self.model_kind(p),
                Rule::on_split => split = self.child_name(p, Rule::split_ref, "the split name")?,
                Rule::with_clause => params = self.params(p)?,
                Rule::kw_replace => replace = true,
                Rule::kw_strict => strict = true,
                Rule::pretrained_on => {
                    let sel = p.into_inner().find(|q| q.as_rule() == Rule::select).expect("select");
                    pretrained = Some(Box::new(self.select(sel)?));
                }
                Rule::select => query = Some(Box::new(self.select(p)?)),
                Rule::tune_option => {
                    let mut it = p.into_inner();
                    let kw = it.next().expect("keyword");
                    let v = it.next().expect("value");
                    let n = self.uint_or_param(v.clone(), if kw.as_rule() == Rule::kw_folds { "FOLDS" } else { "SEED" })?;
                    if kw.as_rule() == Rule::kw_folds {
                        if n < 2 {
                            return Err(self.err(ErrorKind::Invalid, v.as_span(), "FOLDS needs at least 2 folds"));
                        }
                        folds = Some(n);
                    } else {
                        seed = Some(n);
                    }
                }
                Rule::eval_option => {
                    let mut it = p.into_inner();
                    let kw = it.next().expect("keyword");
                    match kw.as_rule() {
                        Rule::kw_force => force = true,
                        Rule::kw_strict => strict = true,
                        Rule::kw_by => {
                            let d = it.next().expect("dimension");
                            by = Some(match d.as_str().to_ascii_lowercase().as_str() {
                                "group" => EvalBy::Group,
                                "scenario" => EvalBy::Scenario,
                                _ => EvalBy::Hop,
                            });
                        }
                        _ => {
                            let v = it.next().expect("threshold");
                            let x: f64 = match v.as_rule() {
                                Rule::placeholder => self.param_num(&v, "THRESHOLD")?,
                                _ => v.as_str().parse().map_err(|_| self.err(ErrorKind::Invalid, v.as_span(), "not a number"))?,
                            };
                            if !(x.is_finite() && x > 0.0) {
                                return Err(self.err(ErrorKind::Invalid, v.as_span(), "THRESHOLD must be a positive number of eV"));
                            }
                            threshold = Some(x);
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(match rule {
            Rule::train_model => Statement::Train(TrainModel { name, kind, split, pretrained_on: pretrained, params, replace }),
            Rule::tune_model => Statement::Tune(TuneModel { name, kind, split, params, folds, seed, replace }),
            Rule::evaluate_model => Statement::Evaluate(EvaluateModel { model: name, split, by, threshold, force, strict }),
            Rule::predict_model => Statement::Predict { model: name, query: query.expect("predict has a query"), strict },
            _ => Statement::CrossValidate { kind, split, params },
        })
    }

    fn create_split(&self, pair: Pair<'_>) -> Result<Statement, QueryError> {
        let mut c = CreateSplit {
            name: String::new(),
            source: SplitSource::Partition,
            method: None,
            test: None,
            seed: None,
            min_group: None,
            one_hop: None,
            validation: None,
        };
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::split_ref => c.name = self.name_ref(p, "the split name")?,
                Rule::split_source => {
                    if let Some(inner) = p.into_inner().find(|q| matches!(q.as_rule(), Rule::select | Rule::ids_source | Rule::curve_source)) {
                        c.source = self.split_source(inner)?;
                    }
                }
                Rule::split_method => c.method = Some(self.split_method(p)?),
                Rule::split_option => self.split_option(p, &mut c)?,
                _ => {}
            }
        }
        Ok(Statement::CreateSplit(c))
    }

    /// The source of `CREATE SPLIT`: a query, `IDS (...) (...)` or `LEARNING CURVE OF s`.
    fn split_source(&self, inner: Pair<'_>) -> Result<SplitSource, QueryError> {
        Ok(match inner.as_rule() {
            Rule::select => SplitSource::Query(Box::new(self.select(inner)?)),
            Rule::ids_source => {
                let lists: Vec<Vec<String>> = inner
                    .into_inner()
                    .filter(|q| q.as_rule() == Rule::id_list)
                    .map(|l| {
                        l.into_inner()
                            .filter(|s| s.as_rule() == Rule::path_value)
                            .map(|s| self.path_value(s, "an id"))
                            .collect::<Result<Vec<_>, _>>()
                    })
                    .collect::<Result<_, _>>()?;
                SplitSource::Ids { train: lists[0].clone(), test: lists[1].clone() }
            }
            _ => {
                let base = self.child_name(inner.clone(), Rule::split_ref, "the split name")?;
                let mut sizes = vec![];
                for cs in inner.into_inner().filter(|q| q.as_rule() == Rule::curve_size) {
                    let v = cs.into_inner().next().expect("size");
                    sizes.push(match v.as_rule() {
                        Rule::uint => Some(v.as_str().parse::<u64>().map_err(|_| self.err(ErrorKind::Invalid, v.as_span(), "size too large"))?),
                        Rule::placeholder => Some(self.param_uint(&v, "a learning-curve size")?),
                        _ => None,
                    });
                }
                SplitSource::LearningCurve { base, sizes }
            }
        })
    }

    /// The method of `CREATE SPLIT`: stratified, random, (grouped) k-fold or leave one group out.
    fn split_method(&self, p: Pair<'_>) -> Result<SplitMethod, QueryError> {
        let m = p.into_inner().next().expect("method");
        Ok(match m.as_rule() {
            Rule::stratified => {
                let key = m.into_inner().find(|q| q.as_rule() == Rule::stratify_key).expect("key");
                SplitMethod::Stratified { by_class: key.as_str().eq_ignore_ascii_case("class") }
            }
            Rule::random_method => SplitMethod::Random,
            Rule::kfold_method => {
                let grouped = m.clone().into_inner().any(|q| q.as_rule() == Rule::kw_grouped);
                let k = m.into_inner().find(|q| matches!(q.as_rule(), Rule::uint | Rule::placeholder)).expect("k");
                let kv: u64 = match k.as_rule() {
                    Rule::placeholder => self.param_uint(&k, "KFOLD")?,
                    _ => k.as_str().parse().map_err(|_| self.err(ErrorKind::Invalid, k.as_span(), "the number of folds is too large"))?,
                };
                if kv < 2 {
                    return Err(self.err(ErrorKind::Invalid, k.as_span(), "KFOLD needs at least 2 folds"));
                }
                SplitMethod::KFold { k: kv, grouped }
            }
            _ => SplitMethod::LeaveOneGroupOut,
        })
    }

    /// One option of `CREATE SPLIT` into `c`: `SEED n`, or a fraction (`TEST`, `MIN_GROUP`,
    /// `ONE_HOP`, `VALIDATION`) written as `10%` or `0.1`.
    fn split_option(&self, p: Pair<'_>, c: &mut CreateSplit) -> Result<(), QueryError> {
        let mut it = p.into_inner();
        let kw = it.next().expect("keyword");
        let v = it.next().expect("value");
        if kw.as_rule() == Rule::kw_seed && v.as_rule() == Rule::placeholder {
            c.seed = Some(self.param_uint(&v, "SEED")?);
            return Ok(());
        }
        if kw.as_rule() == Rule::kw_seed {
            let seed: u64 = v.as_str().parse().map_err(|_| {
                self.err(ErrorKind::Invalid, v.as_span(), format!("SEED must be a whole number between 0 and {}, not {}", u64::MAX, v.as_str()))
            })?;
            c.seed = Some(seed);
            return Ok(());
        }
        let bound;
        let text = match v.as_rule() {
            Rule::placeholder => {
                bound = self.param_fraction(&v, kw.as_str())?;
                bound.as_str()
            }
            _ => v.as_str(),
        };
        let (num, pct) = match text.strip_suffix('%') {
            Some(n) => (n, true),
            None => (text, false),
        };
        let x: f64 = num.parse().map_err(|_| self.err(ErrorKind::Invalid, v.as_span(), format!("not a number: {text}")))?;
        let x = if pct { x / 100.0 } else { x };
        let slot = match kw.as_rule() {
            Rule::kw_test => &mut c.test,
            Rule::kw_min_group => &mut c.min_group,
            Rule::kw_one_hop => &mut c.one_hop,
            _ => &mut c.validation,
        };
        if !(x > 0.0 && x < 1.0) && !(x == 0.0 && kw.as_rule() == Rule::kw_min_group) {
            return Err(self.err(ErrorKind::Invalid, v.as_span(), format!("{} must be a fraction between 0 and 1 (exclusive), e.g. 10% or 0.1; got {text}", kw.as_str().to_uppercase())));
        }
        *slot = Some(x);
        Ok(())
    }

    /// A fraction bound to a placeholder, as the text a written one would have: a number
    /// (`0.1`) or a string with a percent sign (`'10%'`).
    fn param_fraction(&self, pair: &Pair<'_>, kw: &str) -> Result<String, QueryError> {
        match self.param(pair) {
            Value::Int(i) => Ok(i.to_string()),
            Value::Num(x) if x.is_finite() => Ok(format!("{x}")),
            Value::Str(s) if s.strip_suffix('%').is_some_and(|n| n.trim().parse::<f64>().is_ok()) => Ok(s.trim().to_string()),
            _ => Err(self.param_type_err(pair, "a fraction (0.1) or a percentage ('10%')", &kw.to_uppercase())),
        }
    }

    fn table(&self, pair: Pair<'_>) -> Result<Table, QueryError> {
        let name = pair.as_str();
        Table::lookup(name).ok_or_else(|| {
            let names = Table::ALL.iter().map(|t| t.name());
            let msg = match fields::closest(name, names) {
                Some(s) => format!("unknown table {}, did you mean '{s}'?", crate::input::quote(&name)),
                None => format!("unknown table {}", crate::input::quote(&name)),
            };
            self.err(ErrorKind::UnknownTable, pair.as_span(), msg)
                .with_help("the only table is 'hops'")
        })
    }

    fn field(&self, pair: Pair<'_>) -> Result<Field, QueryError> {
        let name = pair.as_str();
        Field::lookup(name).ok_or_else(|| self.unknown_field(pair.as_span(), name))
    }

    fn unknown_field(&self, span: pest::Span<'_>, name: &str) -> QueryError {
        match fields::suggest(name) {
            Some(s) => self.err(
                ErrorKind::UnknownField,
                span,
                format!("unknown field {}, did you mean '{s}'?", crate::input::quote(&name)),
            ),
            None => self
                .err(
                    ErrorKind::UnknownField,
                    span,
                    format!("unknown field {}", crate::input::quote(&name)),
                )
                .with_help("DESCRIBE hops lists the fields"),
        }
    }

    fn uint(&self, pair: Pair<'_>) -> Result<u64, QueryError> {
        pair.as_str().parse::<u64>().map_err(|_| {
            self.err(
                ErrorKind::Invalid,
                pair.as_span(),
                format!("number {} is too large", pair.as_str()),
            )
        })
    }

    fn literal(&self, pair: Pair<'_>) -> Result<Lit, QueryError> {
        let inner = pair.into_inner().next().expect("literal has one child");
        Ok(match inner.as_rule() {
            Rule::number => {
                let text = inner.as_str();
                let x: f64 = text.parse().map_err(|_| {
                    self.err(
                        ErrorKind::Syntax,
                        inner.as_span(),
                        format!("malformed number {text}"),
                    )
                })?;
                if !x.is_finite() {
                    return Err(self.err(
                        ErrorKind::Invalid,
                        inner.as_span(),
                        format!("number {text} is out of range"),
                    ));
                }
                Lit::Value(Literal::Num(x))
            }
            Rule::string => {
                let body = inner.into_inner().next().map_or("", |p| p.as_str());
                Lit::Value(Literal::Str(body.replace("''", "'")))
            }
            Rule::kw_true => Lit::Value(Literal::Bool(true)),
            Rule::kw_false => Lit::Value(Literal::Bool(false)),
            Rule::kw_null => Lit::Null,
            Rule::placeholder => self.bound_literal(&inner)?,
            r => unreachable!("unexpected literal rule {r:?}"),
        })
    }

    /// The value bound to a placeholder in a literal position, as a literal.
    fn bound_literal(&self, pair: &Pair<'_>) -> Result<Lit, QueryError> {
        Ok(match self.param(pair) {
            Value::Null => Lit::Null,
            Value::Bool(b) => Lit::Value(Literal::Bool(*b)),
            Value::Int(i) => Lit::Value(Literal::Num(*i as f64)),
            Value::Num(x) if x.is_finite() => Lit::Value(Literal::Num(*x)),
            Value::Num(x) => return Err(self.err(ErrorKind::Invalid, pair.as_span(), format!("number {x} is out of range"))),
            Value::Str(s) => Lit::Value(Literal::Str(s.clone())),
            Value::List(_) | Value::NumList(_) => {
                return Err(self
                    .err(ErrorKind::Type, pair.as_span(), "a list cannot be bound to one value")
                    .with_help("write one '?' per value, e.g. ion IN (?, ?) or elements HAS ALL ?, ?"))
            }
        })
    }

    /// A literal that may not be NULL; `what` names the construct for the error message.
    fn value(&self, pair: Pair<'_>, what: &str) -> Result<Literal, QueryError> {
        let span = pair.as_span();
        match self.literal(pair)? {
            Lit::Value(v) => Ok(v),
            Lit::Null => Err(self
                .err(
                    ErrorKind::Type,
                    span,
                    format!("NULL is never matched by {what}"),
                )
                .with_help("test for missing values with 'IS NULL' or 'IS NOT NULL'")),
        }
    }

    // ---- select ----------------------------------------------------------------------

    fn select(&self, pair: Pair<'_>) -> Result<Select, QueryError> {
        let mut items: Vec<SpannedItem<'_>> = Vec::new();
        let mut from = Table::Hops;
        let mut filter = None;
        let mut group_by: Vec<(Field, pest::Span<'_>)> = Vec::new();
        let mut order_pairs = Vec::new();
        let mut limit = None;
        let mut as_of = None;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::as_of => as_of = Some(self.as_of(p)?),
                Rule::select_list => {
                    for item in p.into_inner().filter(|q| q.as_rule() == Rule::select_item) {
                        items.push(self.select_item(item)?);
                    }
                }
                Rule::table_name => from = self.table(p)?,
                Rule::where_clause => {
                    let e = p
                        .into_inner()
                        .find(|q| q.as_rule() == Rule::expr)
                        .expect("where has expr");
                    filter = Some(self.expr(e)?.0);
                }
                Rule::group_by => {
                    for f in p.into_inner().filter(|q| q.as_rule() == Rule::field) {
                        let span = f.as_span();
                        group_by.push((self.field(f)?, span));
                    }
                }
                Rule::order_by => {
                    order_pairs.extend(p.into_inner().filter(|q| q.as_rule() == Rule::order_item));
                }
                Rule::limit_clause => limit = Some(self.limit(p)?),
                _ => {}
            }
        }

        self.check_unique_aliases(&items)?;

        let mut order_by = Vec::new();
        let mut order_spans = Vec::new();
        for p in order_pairs {
            let span = p.as_span();
            order_by.push(self.order_item(p, &items)?);
            order_spans.push(span);
        }

        let group_fields: Vec<Field> = group_by.iter().map(|(f, _)| *f).collect();
        let sel = Select {
            items: items.iter().map(|(it, _, _)| it.clone()).collect(),
            from,
            filter,
            group_by: group_fields,
            order_by,
            limit,
            as_of,
        };

        if sel.is_aggregate() {
            self.check_grouped(&sel, &items, &order_spans)?;
        }
        Ok(sel)
    }

    /// `AS OF n | 'time' | ?`: a bound whole number is a version, a bound string a time.
    fn as_of(&self, pair: Pair<'_>) -> Result<crate::store::AsOf, QueryError> {
        use crate::store::AsOf;
        let v = pair.into_inner().find(|q| q.as_rule() != Rule::kw_as_of).expect("AS OF has a value");
        match v.as_rule() {
            Rule::uint => Ok(AsOf::Version(self.uint(v)?)),
            Rule::string => Ok(AsOf::Time(unquote(v))),
            _ => match self.param(&v) {
                Value::Str(t) => Ok(AsOf::Time(t.clone())),
                _ => self.param_uint(&v, "AS OF").map(AsOf::Version).map_err(|_| self.param_type_err(&v, "a data version (a whole number) or a time (a string)", "AS OF")),
            },
        }
    }

    /// Aliases are unique (case-insensitively): the first repeated alias is an error.
    fn check_unique_aliases(&self, items: &[SpannedItem<'_>]) -> Result<(), QueryError> {
        for (i, (item, _, alias_span)) in items.iter().enumerate() {
            if let (Some(a), Some(span)) = (item.alias(), alias_span) {
                let dup = items[..i]
                    .iter()
                    .any(|(prev, _, _)| prev.alias().is_some_and(|b| b.eq_ignore_ascii_case(a)));
                if dup {
                    return Err(self.err(
                        ErrorKind::Invalid,
                        *span,
                        format!("duplicate alias {}", crate::input::quote(&a)),
                    ));
                }
            }
        }
        Ok(())
    }

    /// In a grouped query, `*` cannot be selected, and selected fields and sort fields must
    /// appear in `GROUP BY`.
    fn check_grouped(&self, sel: &Select, items: &[SpannedItem<'_>], order_spans: &[pest::Span<'_>]) -> Result<(), QueryError> {
        for (item, span, _) in items {
            match item {
                SelectItem::Star => {
                    return Err(self
                        .err(
                            ErrorKind::Invalid,
                            *span,
                            "'*' cannot be selected in a grouped query",
                        )
                        .with_help("list the GROUP BY fields and aggregates instead"));
                }
                SelectItem::Field { field, .. } if !sel.group_by.contains(field) => {
                    return Err(self
                        .err(
                            ErrorKind::Invalid,
                            *span,
                            format!(
                                "field '{field}' must appear in GROUP BY or inside an aggregate"
                            ),
                        )
                        .with_help(format!(
                            "add 'GROUP BY {field}' or use e.g. MIN({field})"
                        )));
                }
                _ => {}
            }
        }
        for (o, span) in sel.order_by.iter().zip(order_spans) {
            if let OrderKey::Field(field) = &o.key {
                if !sel.group_by.contains(field) {
                    return Err(self.err(
                        ErrorKind::Invalid,
                        *span,
                        format!("cannot sort a grouped query by field '{field}', which is not in GROUP BY"),
                    ));
                }
            }
        }
        Ok(())
    }

    fn select_item<'i>(
        &self,
        pair: Pair<'i>,
    ) -> Result<(SelectItem, pest::Span<'i>, Option<pest::Span<'i>>), QueryError> {
        let span = pair.as_span();
        let mut inner = pair.into_inner();
        let head = inner.next().expect("select item has a head");
        let (alias, alias_span) = match inner.next() {
            Some(a) => {
                let name = a
                    .into_inner()
                    .find(|q| q.as_rule() == Rule::alias_name)
                    .expect("alias name");
                (Some(name.as_str().to_string()), Some(name.as_span()))
            }
            None => (None, None),
        };
        let item = match head.as_rule() {
            Rule::star => {
                if let Some(s) = alias_span {
                    return Err(self.err(ErrorKind::Invalid, s, "'*' cannot have an alias"));
                }
                SelectItem::Star
            }
            Rule::aggregate => SelectItem::Aggregate {
                agg: self.aggregate(head)?,
                alias,
            },
            Rule::field => SelectItem::Field {
                field: self.field(head)?,
                alias,
            },
            r => unreachable!("unexpected select item rule {r:?}"),
        };
        Ok((item, span, alias_span))
    }

    fn aggregate(&self, pair: Pair<'_>) -> Result<Aggregate, QueryError> {
        let mut inner = pair.into_inner();
        let fpair = inner.next().expect("aggregate has a function");
        let func = AggFunc::lookup(fpair.as_str()).expect("grammar only admits known functions");
        let arg_pair = inner
            .find(|p| matches!(p.as_rule(), Rule::star | Rule::field))
            .expect("aggregate has an argument");
        let arg = match arg_pair.as_rule() {
            Rule::star => {
                if func != AggFunc::Count {
                    return Err(self
                        .err(
                            ErrorKind::Invalid,
                            arg_pair.as_span(),
                            format!("{}(*) is not allowed", func.name()),
                        )
                        .with_help(format!(
                            "only COUNT takes '*'; {} needs a numeric field",
                            func.name()
                        )));
                }
                None
            }
            _ => {
                let span = arg_pair.as_span();
                let field = self.field(arg_pair)?;
                if func != AggFunc::Count && !field.ty().is_numeric() {
                    return Err(self.err(
                        ErrorKind::Type,
                        span,
                        format!(
                            "{} needs a numeric field, but '{field}' has type {}",
                            func.name(),
                            field.ty()
                        ),
                    ));
                }
                Some(field)
            }
        };
        Ok(Aggregate { func, arg })
    }

    fn order_item(
        &self,
        pair: Pair<'_>,
        items: &[(SelectItem, pest::Span<'_>, Option<pest::Span<'_>>)],
    ) -> Result<OrderBy, QueryError> {
        let mut inner = pair.into_inner();
        let key_pair = inner.next().expect("order item has a key");
        let descending = inner.next().is_some_and(|d| {
            d.into_inner()
                .next()
                .is_some_and(|k| k.as_rule() == Rule::kw_desc)
        });
        let key = key_pair
            .into_inner()
            .next()
            .expect("order key has one child");
        let span = key.as_span();
        let key = match key.as_rule() {
            Rule::aggregate => OrderKey::Aggregate(self.aggregate(key)?),
            Rule::uint => {
                let n = self.uint(key)?;
                let stars = items
                    .iter()
                    .filter(|(i, _, _)| *i == SelectItem::Star)
                    .count();
                let ncols = items.len() - stars + stars * FIELDS.len();
                if n == 0 || n > ncols as u64 {
                    return Err(self.err(
                        ErrorKind::Invalid,
                        span,
                        format!(
                            "ORDER BY column {n} is out of range (the query has {ncols} columns)"
                        ),
                    ));
                }
                OrderKey::Column(n as usize)
            }
            Rule::ident => {
                let name = key.as_str();
                if let Some(alias) = items
                    .iter()
                    .filter_map(|(i, _, _)| i.alias())
                    .find(|a| a.eq_ignore_ascii_case(name))
                {
                    OrderKey::Alias(alias.to_string())
                } else if let Some(f) = Field::lookup(name) {
                    OrderKey::Field(f)
                } else {
                    let aliases = items.iter().filter_map(|(i, _, _)| i.alias());
                    let cands: Vec<&str> = aliases.chain(FIELDS.iter().map(|d| d.name)).collect();
                    let msg = match fields::closest(name, cands) {
                        Some(s) => format!("unknown field or alias {}, did you mean '{s}'?", crate::input::quote(&name)),
                        None => format!("unknown field or alias {}", crate::input::quote(&name)),
                    };
                    return Err(self.err(ErrorKind::UnknownField, span, msg));
                }
            }
            r => unreachable!("unexpected order key rule {r:?}"),
        };
        Ok(OrderBy { key, descending })
    }

    // ---- expressions -----------------------------------------------------------------

    fn check_depth(&self, depth: usize, span: pest::Span<'_>) -> Result<usize, QueryError> {
        if depth > MAX_EXPR_DEPTH {
            Err(self
                .err(
                    ErrorKind::TooComplex,
                    span,
                    format!("condition nested too deeply (more than {MAX_EXPR_DEPTH} levels)"),
                )
                .with_help("long OR chains over one field can be written as IN (...)"))
        } else {
            Ok(depth)
        }
    }

    /// `expr`: `and_expr (OR and_expr)*`, folded to the left.
    fn expr(&self, pair: Pair<'_>) -> Result<Built, QueryError> {
        let mut acc: Option<Built> = None;
        for p in pair.into_inner() {
            if p.as_rule() == Rule::kw_or {
                continue;
            }
            let span = p.as_span();
            let (e, d) = self.and_expr(p)?;
            acc = Some(match acc {
                None => (e, d),
                Some((l, ld)) => {
                    let depth = self.check_depth(ld.max(d) + 1, span)?;
                    (Expr::or(l, e), depth)
                }
            });
        }
        Ok(acc.expect("expr has at least one operand"))
    }

    fn and_expr(&self, pair: Pair<'_>) -> Result<Built, QueryError> {
        let mut acc: Option<Built> = None;
        for p in pair.into_inner() {
            if p.as_rule() == Rule::kw_and {
                continue;
            }
            let span = p.as_span();
            let (e, d) = self.not_expr(p)?;
            acc = Some(match acc {
                None => (e, d),
                Some((l, ld)) => {
                    let depth = self.check_depth(ld.max(d) + 1, span)?;
                    (Expr::and(l, e), depth)
                }
            });
        }
        Ok(acc.expect("and_expr has at least one operand"))
    }

    fn not_expr(&self, pair: Pair<'_>) -> Result<Built, QueryError> {
        let mut nots = Vec::new();
        let mut body = None;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::kw_not => nots.push(p.as_span()),
                Rule::paren_expr => {
                    let e = p
                        .into_inner()
                        .find(|q| q.as_rule() == Rule::expr)
                        .expect("paren has expr");
                    body = Some(self.expr(e)?);
                }
                Rule::predicate => body = Some((self.predicate(p)?, 1)),
                r => unreachable!("unexpected not_expr rule {r:?}"),
            }
        }
        let (mut e, mut d) = body.expect("not_expr has a body");
        for span in nots.into_iter().rev() {
            d = self.check_depth(d + 1, span)?;
            e = Expr::not(e);
        }
        Ok((e, d))
    }

    fn predicate(&self, pair: Pair<'_>) -> Result<Expr, QueryError> {
        let mut inner = pair.into_inner();
        let head = inner.next().expect("predicate has a head");
        match head.as_rule() {
            Rule::field => {
                let fspan = head.as_span();
                let field = self.field(head)?;
                let tail = inner.next().expect("field predicate has a tail");
                let tail = tail.into_inner().next().expect("field_pred has one child");
                self.field_predicate(field, fspan, tail)
            }
            Rule::literal => {
                let lspan = head.as_span();
                let left = self.value(head, "a comparison")?;
                let op_pair = inner.next().expect("comparison operator");
                let op =
                    CompareOp::from_symbol(op_pair.as_str()).expect("grammar admits known ops");
                let right_pair = inner.next().expect("right operand");
                let (right, rspan) = self.operand(right_pair)?;
                self.compare(
                    Operand::Literal(left),
                    lspan,
                    op,
                    op_pair.as_span(),
                    right,
                    rspan,
                )
            }
            r => unreachable!("unexpected predicate rule {r:?}"),
        }
    }

    fn operand<'i>(&self, pair: Pair<'i>) -> Result<(Operand, pest::Span<'i>), QueryError> {
        let inner = pair.into_inner().next().expect("operand has one child");
        let span = inner.as_span();
        let op = match inner.as_rule() {
            Rule::field => Operand::Field(self.field(inner)?),
            Rule::literal => Operand::Literal(self.value(inner, "a comparison")?),
            r => unreachable!("unexpected operand rule {r:?}"),
        };
        Ok((op, span))
    }

    fn compare(
        &self,
        left: Operand,
        lspan: pest::Span<'_>,
        op: CompareOp,
        op_span: pest::Span<'_>,
        right: Operand,
        rspan: pest::Span<'_>,
    ) -> Result<Expr, QueryError> {
        for (o, span) in [(&left, lspan), (&right, rspan)] {
            if let Operand::Field(f) = o {
                if f.ty().is_list() {
                    let help = match f.ty() {
                        FieldType::StrList => format!("use HAS, e.g. {f} HAS 'Li', or LENGTH, e.g. {f} LENGTH 3"),
                        _ => format!("use LENGTH, e.g. {f} LENGTH 3"),
                    };
                    return Err(self
                        .err(
                            ErrorKind::Type,
                            span,
                            format!(
                                "field '{f}' is {} and cannot be compared with {}",
                                f.ty().describe(),
                                op.symbol()
                            ),
                        )
                        .with_help(help));
                }
            }
        }
        let ty = |o: &Operand| match o {
            Operand::Field(f) => f.ty(),
            Operand::Literal(l) => l.ty(),
        };
        let (lt, rt) = (ty(&left), ty(&right));
        if !compatible(lt, rt) {
            let msg = match (&left, &right) {
                (Operand::Field(f), Operand::Literal(l))
                | (Operand::Literal(l), Operand::Field(f)) => {
                    format!(
                        "type mismatch: field '{f}' has type {}, but {}",
                        f.ty(),
                        describe_literal(l)
                    )
                }
                (Operand::Field(a), Operand::Field(b)) => format!(
                    "type mismatch: field '{a}' has type {} but field '{b}' has type {}",
                    a.ty(),
                    b.ty()
                ),
                (Operand::Literal(a), Operand::Literal(b)) => {
                    format!(
                        "type mismatch: {} but {}",
                        describe_literal(a),
                        describe_literal(b)
                    )
                }
            };
            // Point at the literal if there is one, else at the right operand.
            let span = match (&left, &right) {
                (Operand::Literal(_), Operand::Field(_)) => lspan,
                _ => rspan,
            };
            return Err(self.err(ErrorKind::Type, span, msg));
        }
        if lt == FieldType::Bool && op.is_ordering() {
            return Err(self.err(
                ErrorKind::Type,
                op_span,
                format!(
                    "booleans can only be compared with = or !=, not {}",
                    op.symbol()
                ),
            ));
        }
        Ok(Expr::Compare { left, op, right })
    }

    /// The value of a literal checked against `field`'s type.
    fn typed_value(&self, field: Field, pair: Pair<'_>, what: &str) -> Result<Literal, QueryError> {
        let span = pair.as_span();
        let v = self.value(pair, what)?;
        if !compatible(field.ty(), v.ty()) {
            return Err(self.err(
                ErrorKind::Type,
                span,
                format!(
                    "type mismatch: field '{field}' has type {}, but {}",
                    field.ty(),
                    describe_literal(&v)
                ),
            ));
        }
        Ok(v)
    }

    fn field_predicate(
        &self,
        field: Field,
        fspan: pest::Span<'_>,
        tail: Pair<'_>,
    ) -> Result<Expr, QueryError> {
        let rule = tail.as_rule();
        let negated = tail
            .clone()
            .into_inner()
            .any(|p| p.as_rule() == Rule::kw_not);
        match rule {
            Rule::compare_tail => self.field_compare(field, fspan, tail),
            Rule::between_tail => self.between(field, fspan, negated, tail),
            Rule::in_tail => self.in_list(field, fspan, negated, tail),
            Rule::like_tail => self.like(field, fspan, negated, tail),
            Rule::null_tail => Ok(Expr::IsNull { field, negated }),
            Rule::length_tail => self.length(field, fspan, tail),
            Rule::has_tail => self.has(field, fspan, tail),
            r => unreachable!("unexpected predicate tail {r:?}"),
        }
    }

    /// The type error of a predicate `what` that does not apply to a list field, with help.
    fn list_error(&self, field: Field, fspan: pest::Span<'_>, what: &str, help: String) -> QueryError {
        self.err(
            ErrorKind::Type,
            fspan,
            format!("field '{field}' is {}; {what} does not apply to it", field.ty().describe()),
        )
        .with_help(help)
    }

    /// `field op operand`: a comparison with the field on the left.
    fn field_compare(&self, field: Field, fspan: pest::Span<'_>, tail: Pair<'_>) -> Result<Expr, QueryError> {
        let mut inner = tail.into_inner();
        let op_pair = inner.next().expect("compare op");
        let op =
            CompareOp::from_symbol(op_pair.as_str()).expect("grammar admits known ops");
        let (right, rspan) = self.operand(inner.next().expect("compare operand"))?;
        self.compare(
            Operand::Field(field),
            fspan,
            op,
            op_pair.as_span(),
            right,
            rspan,
        )
    }

    /// `field [NOT] BETWEEN low AND high` on a numeric or string field.
    fn between(&self, field: Field, fspan: pest::Span<'_>, negated: bool, tail: Pair<'_>) -> Result<Expr, QueryError> {
        match field.ty() {
            FieldType::StrList => {
                return Err(self.list_error(
                    field,
                    fspan,
                    "BETWEEN",
                    format!("use HAS, e.g. {field} HAS 'Li'"),
                ))
            }
            FieldType::NumList => return Err(self.list_error(field, fspan, "BETWEEN", format!("use LENGTH, e.g. {field} LENGTH >= 2"))),
            FieldType::Bool => {
                return Err(self.err(
                    ErrorKind::Type,
                    fspan,
                    format!(
                    "BETWEEN needs a numeric or string field, but '{field}' has type Bool"
                ),
                ))
            }
            _ => {}
        }
        let mut lits = tail.into_inner().filter(|p| p.as_rule() == Rule::literal);
        let low = self.typed_value(field, lits.next().expect("low bound"), "BETWEEN")?;
        let high = self.typed_value(field, lits.next().expect("high bound"), "BETWEEN")?;
        Ok(Expr::Between {
            field,
            negated,
            low,
            high,
        })
    }

    /// `field [NOT] IN (v, ...)` on a scalar field.
    fn in_list(&self, field: Field, fspan: pest::Span<'_>, negated: bool, tail: Pair<'_>) -> Result<Expr, QueryError> {
        if field.ty().is_list() {
            return Err(self.list_error(
                field,
                fspan,
                "IN",
                format!("use HAS ANY, e.g. {field} HAS ANY 'Li', 'Na'"),
            ));
        }
        let values = tail
            .into_inner()
            .filter(|p| p.as_rule() == Rule::literal)
            .map(|p| self.typed_value(field, p, "IN"))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Expr::In {
            field,
            negated,
            values,
        })
    }

    /// `field [NOT] LIKE 'pattern'` on a string field.
    fn like(&self, field: Field, fspan: pest::Span<'_>, negated: bool, tail: Pair<'_>) -> Result<Expr, QueryError> {
        if field.ty() != FieldType::Str {
            return Err(self.err(
                ErrorKind::Type,
                fspan,
                format!(
                    "LIKE needs a string field, but '{field}' has type {}",
                    field.ty()
                ),
            ));
        }
        let p = tail
            .into_inner()
            .find(|p| p.as_rule() == Rule::literal)
            .expect("pattern");
        let span = p.as_span();
        match self.value(p, "LIKE")? {
            Literal::Str(pattern) => Ok(Expr::Like {
                field,
                negated,
                pattern,
            }),
            other => Err(self.err(
                ErrorKind::Type,
                span,
                format!(
                    "LIKE needs a string pattern, but {}",
                    describe_literal(&other)
                ),
            )),
        }
    }

    fn has(&self, field: Field, fspan: pest::Span<'_>, tail: Pair<'_>) -> Result<Expr, QueryError> {
        if field.ty() != FieldType::StrList {
            let lists: Vec<&str> = FIELDS
                .iter()
                .filter(|d| d.ty == FieldType::StrList)
                .map(|d| d.name)
                .collect();
            let mut e = self.err(
                ErrorKind::Type,
                fspan,
                format!(
                    "HAS needs a list field ({}), but '{field}' has type {}",
                    lists.join(", "),
                    field.ty()
                ),
            );
            if field.ty() == FieldType::Str {
                e = e.with_help(format!("compare it instead, e.g. {field} = 'Li'"));
            }
            return Err(e);
        }
        let mut mode = HasMode::One;
        let mut values = Vec::new();
        for p in tail.into_inner() {
            match p.as_rule() {
                Rule::has_mode => {
                    mode = match p.into_inner().next().map(|k| k.as_rule()) {
                        Some(Rule::kw_all) => HasMode::All,
                        Some(Rule::kw_any) => HasMode::Any,
                        _ => HasMode::Only,
                    };
                }
                Rule::literal => {
                    let span = p.as_span();
                    if mode == HasMode::One && !values.is_empty() {
                        return Err(self
                            .err(
                                ErrorKind::Invalid,
                                span,
                                "HAS with several values needs ALL, ANY or ONLY",
                            )
                            .with_help(format!("e.g. {field} HAS ALL 'Li', 'O'")));
                    }
                    let v = match self.value(p, "HAS")? {
                        Literal::Str(s) => s,
                        other => {
                            return Err(self.err(
                                ErrorKind::Type,
                                span,
                                format!(
                                    "HAS needs string values, but {}",
                                    describe_literal(&other)
                                ),
                            ))
                        }
                    };
                    if field.name() == "elements" {
                        self.check_element(&v, span)?;
                    }
                    values.push(v);
                }
                _ => {}
            }
        }
        Ok(Expr::Has {
            field,
            mode,
            values,
        })
    }

    /// `field LENGTH [op] n` on a list field (OPTIMADE); `=` when no operator is written.
    fn length(&self, field: Field, fspan: pest::Span<'_>, tail: Pair<'_>) -> Result<Expr, QueryError> {
        if !field.ty().is_list() {
            let lists: Vec<&str> = FIELDS.iter().filter(|d| d.ty.is_list()).map(|d| d.name).collect();
            return Err(self.err(ErrorKind::Type, fspan, format!("LENGTH needs a list field ({}), but '{field}' has type {}", lists.join(", "), field.ty())));
        }
        let mut op = CompareOp::Eq;
        let mut length = 0;
        for p in tail.into_inner() {
            match p.as_rule() {
                Rule::cmp_op => op = CompareOp::from_symbol(p.as_str()).expect("grammar admits known ops"),
                Rule::uint | Rule::placeholder => length = self.uint_or_param(p, "LENGTH")?,
                _ => {}
            }
        }
        Ok(Expr::Length { field, op, length })
    }

    fn check_element(&self, sym: &str, span: pest::Span<'_>) -> Result<(), QueryError> {
        let symbols = &crate::element::SYMBOLS[1..];
        if symbols.contains(&sym) {
            return Ok(());
        }
        let mut e = self.err(ErrorKind::Invalid, span, format!("unknown element {}", crate::input::quote(&sym)));
        if let Some(s) = symbols.iter().find(|s| s.eq_ignore_ascii_case(sym.trim())) {
            e.message = format!("unknown element {}, did you mean '{s}'?", crate::input::quote(&sym));
        } else {
            e = e.with_help("element symbols are case-sensitive, e.g. 'Li', 'O'");
        }
        Err(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sel(src: &str) -> Select {
        match parse_statement(src).unwrap_or_else(|e| panic!("{e}")) {
            Statement::Select(s) => s,
            other => panic!("not a select: {other:?}"),
        }
    }

    #[test]
    fn minimal_select() {
        assert_eq!(sel("SELECT * FROM hops"), Select::star());
        assert_eq!(sel("select * from HOPS;"), Select::star());
    }

    #[test]
    fn reserved_words() {
        assert!(is_reserved("select"));
        assert!(is_reserved("AND"));
        assert!(!is_reserved("group"));
        assert!(!is_reserved("android"));
        assert!(is_identifier("total"));
        assert!(is_identifier("group"));
        assert!(!is_identifier("order"));
        assert!(!is_identifier("1abc"));
    }

    #[test]
    fn unknown_field_suggestion() {
        let src = "SELECT * FROM hops WHERE em < 0.3 AND emm > 2";
        let e = parse_statement(src).unwrap_err();
        assert_eq!(e.kind, ErrorKind::UnknownField);
        assert_eq!(e.message, "unknown field 'emm', did you mean 'em'?");
        assert_eq!((e.line, e.column), (1, 39));
        assert_eq!(e.render(src), e.to_string());
    }

    #[test]
    fn every_rule_has_words() {
        // Every rule is described by exactly one group of describe_rule, in words.
        for r in [Rule::EOI, Rule::field_pred, Rule::operand] {
            assert!(!describe_rule(r).is_empty());
        }
        for &r in Rule::all_rules() {
            let groups = [statement_rule_words(r), split_rule_words(r), clause_rule_words(r), token_rule_words(r)];
            let described: Vec<&str> = groups.into_iter().flatten().collect();
            assert_eq!(described.len(), 1, "{r:?} is described by {} groups", described.len());
            assert!(!described[0].is_empty());
        }
    }

    #[test]
    fn nesting_limit() {
        let ok = format!(
            "{}em > 1{}",
            "(".repeat(MAX_PAREN_DEPTH),
            ")".repeat(MAX_PAREN_DEPTH)
        );
        assert!(parse_expr(&ok).is_ok());
        let deep = format!(
            "{}em > 1{}",
            "(".repeat(MAX_PAREN_DEPTH + 1),
            ")".repeat(MAX_PAREN_DEPTH + 1)
        );
        assert_eq!(parse_expr(&deep).unwrap_err().kind, ErrorKind::TooComplex);
        let long = vec!["em > 1"; MAX_EXPR_DEPTH + 2].join(" AND ");
        assert_eq!(parse_expr(&long).unwrap_err().kind, ErrorKind::TooComplex);
    }
}
