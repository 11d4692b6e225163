//! Canonical HopQL printing: `Display` for the AST.
//!
//! The output uses upper-case keywords, canonical field names, `!=` for inequality, the
//! fewest parentheses that preserve the tree's shape, and numbers in a form that parses back
//! to the identical `f64`. Parsing the printed text yields an AST equal to the original.

use super::ast::*;
use std::fmt::{self, Display, Formatter, Write};

/// Format a finite number so that it parses back to exactly the same `f64`; plain decimal
/// for ordinary magnitudes, exponent notation for very large or very small ones.
pub fn format_number(x: f64) -> String {
    let a = x.abs();
    if a != 0.0 && !(1e-5..1e16).contains(&a) {
        format!("{x:e}")
    } else {
        format!("{x}")
    }
}

/// Quote a string as a HopQL literal: `it's` becomes `'it''s'`.
pub fn quote_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\'' {
            out.push('\'');
        }
        out.push(c);
    }
    out.push('\'');
    out
}

impl Display for Statement {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Statement::Select(s) => s.fmt(f),
            Statement::Explain(s) => write!(f, "EXPLAIN {s}"),
            Statement::Describe(t) => write!(f, "DESCRIBE {t}"),
            Statement::ShowStats => f.write_str("SHOW STATS"),
            Statement::ShowSplits => f.write_str("SHOW SPLITS"),
            Statement::ShowSplit(n) => write!(f, "SHOW SPLIT {n}"),
            Statement::DropSplit(n) => write!(f, "DROP SPLIT {n}"),
            Statement::ExportSplit { name, path, format, view } => {
                write!(f, "EXPORT SPLIT {name}")?;
                if let Some(k) = format {
                    write!(f, " FORMAT {}", k.as_str())?;
                }
                if let Some(v) = view {
                    write!(f, " VIEW {}", v.as_str())?;
                }
                write!(f, " TO {}", quote_string(path))
            }
            Statement::Scenarios(n) => write!(f, "SCENARIOS OF SPLIT {n}"),
            Statement::CreateSplit(c) => write_create_split(f, c),
            Statement::Train(t) => write_train(f, t),
            Statement::Tune(t) => write_tune(f, t),
            Statement::Evaluate(e) => write_evaluate(f, e),
            Statement::Predict { model, query, strict } => {
                write!(f, "PREDICT {model} FOR ({query})")?;
                if *strict {
                    f.write_str(" STRICT")?;
                }
                Ok(())
            }
            Statement::Retrain(m) => write!(f, "RETRAIN {m}"),
            Statement::CrossValidate { kind, split, params } => {
                write!(f, "CROSS VALIDATE {kind} ON SPLIT {split}")?;
                write_params(f, params)
            }
            Statement::ShowModels => f.write_str("SHOW MODELS"),
            Statement::DescribeModel(m) => write!(f, "DESCRIBE MODEL {m}"),
            Statement::DropModel(m) => write!(f, "DROP MODEL {m}"),
            Statement::ShowPredictions { model, filter, limit } => {
                write!(f, "SHOW PREDICTIONS OF {model}")?;
                if let Some(e) = filter {
                    write!(f, " WHERE {e}")?;
                }
                if let Some(l) = limit {
                    write!(f, " LIMIT {}", l.count)?;
                    if l.offset > 0 {
                        write!(f, " OFFSET {}", l.offset)?;
                    }
                }
                Ok(())
            }
            Statement::ExportPredictions { model, path } => write!(f, "EXPORT PREDICTIONS OF {model} TO {}", quote_string(path)),
        }
    }
}

/// `CREATE SPLIT name FROM source [method] [options]`.
fn write_create_split(f: &mut Formatter<'_>, c: &CreateSplit) -> fmt::Result {
    write!(f, "CREATE SPLIT {} FROM ", c.name)?;
    match &c.source {
        SplitSource::Partition => f.write_str("PARTITION")?,
        SplitSource::Query(q) => write!(f, "({q})")?,
        SplitSource::Ids { train, test } => {
            let list = |v: &[String]| v.iter().map(|s| quote_string(s)).collect::<Vec<_>>().join(", ");
            write!(f, "IDS ({}) TEST ({})", list(train), list(test))?
        }
        SplitSource::LearningCurve { base, sizes } => {
            let s: Vec<String> = sizes.iter().map(|x| x.map_or("ALL".to_string(), |n| n.to_string())).collect();
            write!(f, "SPLIT {base} LEARNING CURVE {}", s.join(", "))?
        }
    }
    match c.method {
        None => {}
        Some(SplitMethod::Stratified { by_class }) => write!(f, " STRATIFIED BY {}", if by_class { "class" } else { "group" })?,
        Some(SplitMethod::Random) => f.write_str(" RANDOM")?,
        Some(SplitMethod::KFold { k, grouped }) => write!(f, " {}KFOLD {k}", if grouped { "GROUPED " } else { "" })?,
        Some(SplitMethod::LeaveOneGroupOut) => f.write_str(" LEAVE ONE GROUP OUT")?,
    }
    let pct = |x: f64| format!("{}%", format_number(x * 100.0));
    if let Some(x) = c.test {
        write!(f, " TEST {}", pct(x))?;
    }
    if let Some(s) = c.seed {
        write!(f, " SEED {s}")?;
    }
    if let Some(x) = c.min_group {
        write!(f, " MIN_GROUP {}", pct(x))?;
    }
    if let Some(x) = c.one_hop {
        write!(f, " ONE_HOP {}", pct(x))?;
    }
    if let Some(x) = c.validation {
        write!(f, " VALIDATION {}", pct(x))?;
    }
    Ok(())
}

/// `TRAIN name AS kind ON SPLIT s [PRETRAINED ON (q)] [WITH ...] [REPLACE]`.
fn write_train(f: &mut Formatter<'_>, t: &TrainModel) -> fmt::Result {
    write!(f, "TRAIN {} AS {} ON SPLIT {}", t.name, t.kind, t.split)?;
    if let Some(q) = &t.pretrained_on {
        write!(f, " PRETRAINED ON ({q})")?;
    }
    write_params(f, &t.params)?;
    if t.replace {
        f.write_str(" REPLACE")?;
    }
    Ok(())
}

/// `TUNE name AS kind ON SPLIT s [WITH ...] [FOLDS k] [SEED n] [REPLACE]`.
fn write_tune(f: &mut Formatter<'_>, t: &TuneModel) -> fmt::Result {
    write!(f, "TUNE {} AS {} ON SPLIT {}", t.name, t.kind, t.split)?;
    write_params(f, &t.params)?;
    if let Some(k) = t.folds {
        write!(f, " FOLDS {k}")?;
    }
    if let Some(s) = t.seed {
        write!(f, " SEED {s}")?;
    }
    if t.replace {
        f.write_str(" REPLACE")?;
    }
    Ok(())
}

/// `EVALUATE m ON SPLIT s [BY dim] [THRESHOLD x] [FORCE]`.
fn write_evaluate(f: &mut Formatter<'_>, e: &EvaluateModel) -> fmt::Result {
    write!(f, "EVALUATE {} ON SPLIT {}", e.model, e.split)?;
    match e.by {
        None => {}
        Some(EvalBy::Group) => f.write_str(" BY group")?,
        Some(EvalBy::Scenario) => f.write_str(" BY scenario")?,
        Some(EvalBy::Hop) => f.write_str(" BY hop")?,
    }
    if let Some(x) = e.threshold {
        write!(f, " THRESHOLD {}", format_number(x))?;
    }
    if e.force {
        f.write_str(" FORCE")?;
    }
    if e.strict {
        f.write_str(" STRICT")?;
    }
    Ok(())
}

fn write_params(f: &mut Formatter<'_>, params: &[ModelParam]) -> fmt::Result {
    if params.is_empty() {
        return Ok(());
    }
    f.write_str(" WITH ")?;
    for (i, p) in params.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{} = ", p.key)?;
        let atoms: Vec<String> = p.values.iter().map(|a| match a {
            ParamAtom::Num(s) | ParamAtom::Word(s) => s.clone(),
            ParamAtom::Str(s) => quote_string(s),
        }).collect();
        if p.list {
            write!(f, "({})", atoms.join(", "))?;
        } else {
            f.write_str(&atoms.join(", "))?;
        }
    }
    Ok(())
}

impl Display for ModelKind {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some(v) = &self.variant {
            write!(f, "({v})")?;
        }
        Ok(())
    }
}

impl Display for Table {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

fn write_list<T: Display>(f: &mut Formatter<'_>, items: &[T]) -> fmt::Result {
    for (i, it) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        it.fmt(f)?;
    }
    Ok(())
}

impl Display for Select {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str("SELECT ")?;
        write_list(f, &self.items)?;
        write!(f, " FROM {}", self.from)?;
        if let Some(v) = &self.as_of {
            write!(f, " AS OF {v}")?;
        }
        if let Some(e) = &self.filter {
            write!(f, " WHERE {e}")?;
        }
        if !self.group_by.is_empty() {
            f.write_str(" GROUP BY ")?;
            write_list(f, &self.group_by)?;
        }
        if !self.order_by.is_empty() {
            f.write_str(" ORDER BY ")?;
            write_list(f, &self.order_by)?;
        }
        if let Some(l) = &self.limit {
            write!(f, " {l}")?;
        }
        Ok(())
    }
}

impl Display for SelectItem {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            SelectItem::Star => f.write_char('*'),
            SelectItem::Field { field, alias } => {
                field.fmt(f)?;
                write_alias(f, alias)
            }
            SelectItem::Aggregate { agg, alias } => {
                agg.fmt(f)?;
                write_alias(f, alias)
            }
        }
    }
}

fn write_alias(f: &mut Formatter<'_>, alias: &Option<String>) -> fmt::Result {
    match alias {
        Some(a) => write!(f, " AS {a}"),
        None => Ok(()),
    }
}

impl Display for Aggregate {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self.arg {
            Some(field) => write!(f, "{}({})", self.func.name(), field),
            None => write!(f, "{}(*)", self.func.name()),
        }
    }
}

impl Display for AggFunc {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Display for OrderBy {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        self.key.fmt(f)?;
        if self.descending {
            f.write_str(" DESC")?;
        }
        Ok(())
    }
}

impl Display for OrderKey {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            OrderKey::Field(field) => field.fmt(f),
            OrderKey::Aggregate(a) => a.fmt(f),
            OrderKey::Alias(a) => f.write_str(a),
            OrderKey::Column(n) => write!(f, "{n}"),
        }
    }
}

impl Display for Limit {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "LIMIT {}", self.count)?;
        if self.offset != 0 {
            write!(f, " OFFSET {}", self.offset)?;
        }
        Ok(())
    }
}

impl Display for Literal {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Num(x) => f.write_str(&format_number(*x)),
            Literal::Str(s) => f.write_str(&quote_string(s)),
            Literal::Bool(true) => f.write_str("TRUE"),
            Literal::Bool(false) => f.write_str("FALSE"),
        }
    }
}

impl Display for Operand {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Operand::Field(field) => field.fmt(f),
            Operand::Literal(l) => l.fmt(f),
        }
    }
}

impl Display for CompareOp {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(self.symbol())
    }
}

impl Display for HasMode {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HasMode::One => "",
            HasMode::All => "ALL",
            HasMode::Any => "ANY",
            HasMode::Only => "ONLY",
        })
    }
}

/// Writes `e`, wrapped in parentheses when `paren` is set.
fn write_sub(f: &mut Formatter<'_>, e: &Expr, paren: bool) -> fmt::Result {
    if paren {
        write!(f, "({e})")
    } else {
        e.fmt(f)
    }
}

fn not_word(negated: bool) -> &'static str {
    if negated {
        "NOT "
    } else {
        ""
    }
}

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Compare { left, op, right } => write!(f, "{left} {op} {right}"),
            Expr::Between {
                field,
                negated,
                low,
                high,
            } => {
                write!(f, "{field} {}BETWEEN {low} AND {high}", not_word(*negated))
            }
            Expr::In {
                field,
                negated,
                values,
            } => {
                write!(f, "{field} {}IN (", not_word(*negated))?;
                write_list(f, values)?;
                f.write_char(')')
            }
            Expr::Like {
                field,
                negated,
                pattern,
            } => {
                write!(
                    f,
                    "{field} {}LIKE {}",
                    not_word(*negated),
                    quote_string(pattern)
                )
            }
            Expr::IsNull { field, negated } => {
                write!(f, "{field} IS {}NULL", not_word(*negated))
            }
            Expr::Has {
                field,
                mode,
                values,
            } => {
                write!(f, "{field} HAS ")?;
                if *mode != HasMode::One {
                    write!(f, "{mode} ")?;
                }
                for (i, v) in values.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    f.write_str(&quote_string(v))?;
                }
                Ok(())
            }
            Expr::Length { field, op: CompareOp::Eq, length } => write!(f, "{field} LENGTH {length}"),
            Expr::Length { field, op, length } => write!(f, "{field} LENGTH {} {length}", op.symbol()),
            // AND and OR are left-associative: a right operand of the same operator needs
            // parentheses to keep its shape, and OR under AND always does.
            Expr::And(a, b) => {
                write_sub(f, a, matches!(**a, Expr::Or(..)))?;
                f.write_str(" AND ")?;
                write_sub(f, b, matches!(**b, Expr::Or(..) | Expr::And(..)))
            }
            Expr::Or(a, b) => {
                write_sub(f, a, false)?;
                f.write_str(" OR ")?;
                write_sub(f, b, matches!(**b, Expr::Or(..)))
            }
            Expr::Not(a) => {
                f.write_str("NOT ")?;
                write_sub(f, a, matches!(**a, Expr::Or(..) | Expr::And(..)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_roundtrip() {
        for x in [
            0.0,
            -0.0,
            1.0,
            -2.5,
            0.3,
            1e300,
            -1e-300,
            5e-324,
            123456789.125,
            1e16,
            1e-5,
        ] {
            let s = format_number(x);
            assert_eq!(s.parse::<f64>().unwrap().to_bits(), x.to_bits(), "{s}");
        }
        assert_eq!(format_number(2.0), "2");
        assert_eq!(format_number(0.3), "0.3");
        assert_eq!(format_number(1e300), "1e300");
    }

    #[test]
    fn quoting() {
        assert_eq!(quote_string("it's"), "'it''s'");
        assert_eq!(quote_string(""), "''");
    }
}
