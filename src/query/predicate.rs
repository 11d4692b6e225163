//! Values and predicates of the SELECT engine: a record's field values, comparisons and the
//! sort order of values, and the three-valued evaluation of `WHERE` conditions (see the
//! semantics in [`super::select`]).

use super::ast::{Expr, HasMode, Literal, Operand};
use super::fields::Field;
use crate::record::HopRecord;
use crate::table::Value;
use std::cmp::Ordering;

/// The value of `field` in `rec`, with empty lists as NULL.
pub(super) fn field_value(rec: &HopRecord, field: Field) -> Value {
    match rec.field(field.name()) {
        Some(Value::List(l)) if l.is_empty() => Value::Null,
        Some(Value::NumList(l)) if l.is_empty() => Value::Null,
        Some(v) => v,
        None => Value::Null,
    }
}

pub(super) fn literal_value(l: &Literal) -> Value {
    match l {
        Literal::Num(x) => Value::Num(*x),
        Literal::Str(s) => Value::Str(s.clone()),
        Literal::Bool(b) => Value::Bool(*b),
    }
}

pub(super) fn as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::Num(x) => Some(*x),
        _ => None,
    }
}

/// SQL comparison: `None` (unknown) when either side is NULL or the values do not compare.
pub(super) fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Null, _) | (_, Value::Null) => None,
        (Value::Int(x), Value::Int(y)) => Some(x.cmp(y)),
        (Value::Str(x), Value::Str(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        (Value::List(x), Value::List(y)) => Some(x.cmp(y)),
        (Value::NumList(x), Value::NumList(y)) => x.partial_cmp(y),
        _ => match (as_f64(a), as_f64(b)) {
            (Some(x), Some(y)) => x.partial_cmp(&y),
            _ => None,
        },
    }
}

fn type_rank(v: &Value) -> u8 {
    match v {
        Value::Bool(_) => 0,
        Value::Int(_) | Value::Num(_) => 1,
        Value::Str(_) => 2,
        Value::List(_) => 3,
        Value::NumList(_) => 4,
        Value::Null => 5,
    }
}

/// Total order for sorting and grouping: NULL after every value; numbers numerically.
pub(super) fn sort_cmp(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Greater,
        (_, Value::Null) => Ordering::Less,
        (Value::Int(x), Value::Int(y)) => x.cmp(y),
        _ => match (as_f64(a), as_f64(b)) {
            (Some(x), Some(y)) => {
                // -0.0 and 0.0 are equal; NaN (never stored) sorts last among numbers.
                let norm = |z: f64| if z == 0.0 { 0.0 } else { z };
                norm(x).total_cmp(&norm(y))
            }
            _ => compare(a, b).unwrap_or_else(|| type_rank(a).cmp(&type_rank(b))),
        },
    }
}

/// A [`Value`] ordered by [`sort_cmp`], for group keys.
#[derive(Debug, Clone)]
pub(super) struct Key(pub(super) Value);

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        sort_cmp(&self.0, &other.0) == Ordering::Equal
    }
}
impl Eq for Key {}
impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Key {
    fn cmp(&self, other: &Self) -> Ordering {
        sort_cmp(&self.0, &other.0)
    }
}

// ---------------------------------------------------------------------------------------
// Predicates (three-valued)
// ---------------------------------------------------------------------------------------

fn operand_value(o: &Operand, rec: &HopRecord) -> Value {
    match o {
        Operand::Field(f) => field_value(rec, *f),
        Operand::Literal(l) => literal_value(l),
    }
}

/// Evaluate a condition: `Some(true)`, `Some(false)` or `None` (unknown).
pub(crate) fn eval(e: &Expr, rec: &HopRecord) -> Option<bool> {
    match e {
        Expr::Compare { left, op, right } => {
            let (a, b) = (operand_value(left, rec), operand_value(right, rec));
            compare(&a, &b).map(|o| op.holds(o))
        }
        Expr::Between {
            field,
            negated,
            low,
            high,
        } => {
            let v = field_value(rec, *field);
            let lo = compare(&v, &literal_value(low))?;
            let hi = compare(&v, &literal_value(high))?;
            Some((lo != Ordering::Less && hi != Ordering::Greater) != *negated)
        }
        Expr::In {
            field,
            negated,
            values,
        } => eval_in(rec, *field, *negated, values),
        Expr::Like {
            field,
            negated,
            pattern,
        } => match field_value(rec, *field) {
            Value::Str(s) => Some(super::ast::like_match(pattern, &s) != *negated),
            _ => None,
        },
        Expr::IsNull { field, negated } => {
            Some((field_value(rec, *field) == Value::Null) != *negated)
        }
        Expr::Has {
            field,
            mode,
            values,
        } => Some(eval_has(rec, *field, mode, values)),
        Expr::Length { field, op, length } => {
            let n = match rec.field(field.name()) {
                Some(Value::List(l)) => l.len(),
                Some(Value::NumList(l)) => l.len(),
                _ => 0,
            };
            Some(op.holds((n as u64).cmp(length)))
        }
        Expr::And(a, b) => match eval(a, rec) {
            Some(false) => Some(false),
            ra => match (ra, eval(b, rec)) {
                (_, Some(false)) => Some(false),
                (Some(true), Some(true)) => Some(true),
                _ => None,
            },
        },
        Expr::Or(a, b) => match eval(a, rec) {
            Some(true) => Some(true),
            ra => match (ra, eval(b, rec)) {
                (_, Some(true)) => Some(true),
                (Some(false), Some(false)) => Some(false),
                _ => None,
            },
        },
        Expr::Not(a) => eval(a, rec).map(|b| !b),
    }
}

/// `field [NOT] IN (...)`: unknown for a missing value, or when no value matched and some
/// comparison was unknown.
fn eval_in(rec: &HopRecord, field: Field, negated: bool, values: &[Literal]) -> Option<bool> {
    let v = field_value(rec, field);
    if v == Value::Null {
        return None;
    }
    let mut unknown = false;
    for l in values {
        match compare(&v, &literal_value(l)) {
            Some(Ordering::Equal) => return Some(!negated),
            Some(_) => {}
            None => unknown = true,
        }
    }
    if unknown {
        None
    } else {
        Some(negated)
    }
}

/// `field HAS [ALL|ANY|ONLY] ...` on a list field (a missing list is empty).
fn eval_has(rec: &HopRecord, field: Field, mode: &HasMode, values: &[String]) -> bool {
    let list = match field_value(rec, field) {
        Value::List(l) => l,
        _ => Vec::new(),
    };
    let has = |v: &String| list.iter().any(|x| x == v);
    match mode {
        HasMode::One | HasMode::All => values.iter().all(has),
        HasMode::Any => values.iter().any(has),
        HasMode::Only => !list.is_empty() && list.iter().all(|x| values.contains(x)),
    }
}

pub(super) fn passes(residual: &[Expr], rec: &HopRecord) -> bool {
    residual.iter().all(|e| eval(e, rec) == Some(true))
}
