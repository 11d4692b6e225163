//! Query planning: how a `SELECT` reads the store.
//!
//! The `WHERE` clause is split into its top-level conjuncts. Conjuncts that an index can
//! answer become *access paths*; everything else is a *residual* predicate, evaluated on each
//! fetched record:
//!
//! * `id = 'x'` / `id IN (...)` read records by primary key ([`Access::PrimaryKey`]).
//! * `field = 'v'`, `field IN (...)` on a field with a secondary index
//!   ([`crate::store::INDEXED_FIELDS`]), `elements HAS 'X'`, `HAS ALL` (one probe per
//!   element), `HAS ANY` and `HAS ONLY` become index probes ([`IndexProbe`]). An `OR` of such
//!   single-probe conditions is one probe too (the union of their id sets).
//! * Each probe's size is estimated by reading its index keys (keys only, no records), and
//!   the keys are kept: the id sets are intersected from them without a second index read,
//!   most selective probe first (a hash set of its ids, narrowed by one pass over each other
//!   probe's keys). When planning for execution, a probe read after a smaller one is cut off
//!   once it passes [`INTERSECT_FACTOR`] times that size. A probe more than
//!   [`INTERSECT_FACTOR`] times larger than the most selective one is not used: its condition
//!   is checked per record instead. When even the best probe covers more than half of the
//!   store, a full scan is cheaper than fetching by id, and every condition is residual (the
//!   store is counted only up to twice the best probe, and the store remembers what it
//!   counted until its next write).
//! * Only the records whose ids survive the intersection are fetched and decoded.
//! * `em` and `hop_length` have range indexes ([`crate::store::RANGE_INDEXED_FIELDS`]):
//!   `<`, `<=`, `>`, `>=`, `=` against a number and `BETWEEN` become range probes.
//! * A conjunct `field = 'v'` / `field IN (...)` on a field with a composite index
//!   ([`crate::store::COMPOSITE_FIELDS`]) together with range conditions on `em` becomes one
//!   composite probe ([`Term::EqRange`]): the `em` conditions are merged into one interval and
//!   the probe reads only the keys of records that satisfy both, so `ion = 'Mg' AND em < 0.3`
//!   neither reads all Mg keys nor all `em < 0.3` keys.
//! * `HAS ONLY` and probes that were not read keep their conjunct in the residual filter;
//!   probes that answer their conjunct exactly drop it.

use super::ast::{CompareOp, Expr, HasMode, Literal, Operand, Select};
use super::fields::{Field, FieldType};
use crate::store::{IdKeys, Result as StoreResult, Store, COMPOSITE_FIELDS, COMPOSITE_RANGE_FIELD, INDEXED_FIELDS, RANGE_INDEXED_FIELDS};
use std::collections::{BTreeSet, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::ops::Bound;

/// One index lookup term.
#[derive(Debug, Clone, PartialEq)]
pub enum Term {
    /// The `(field, value)` entries of the secondary index.
    Eq(Field, String),
    /// The entries of a range-indexed numeric field within bounds.
    Range(Field, Bound<f64>, Bound<f64>),
    /// The entries of the composite index of `(field, value)` whose `em` lies within bounds.
    EqRange(Field, String, Bound<f64>, Bound<f64>),
}

impl Term {
    /// The term as HopQL.
    pub fn describe(&self) -> String {
        use super::print::quote_string;
        match self {
            Term::Eq(f, v) if f.ty() == FieldType::StrList => format!("{f} HAS {}", quote_string(v)),
            Term::Eq(f, v) => format!("{f} = {}", quote_string(v)),
            Term::EqRange(f, v, lo, hi) => format!("{f} = {} AND {}", quote_string(v), range_text(COMPOSITE_RANGE_FIELD, *lo, *hi)),
            Term::Range(f, lo, hi) => range_text(f.name(), *lo, *hi),
        }
    }

    /// Number of index entries under the term (reads keys only).
    pub fn count(&self, store: &Store) -> StoreResult<usize> {
        match self {
            Term::Eq(f, v) => store.index_count(f.name(), v),
            Term::Range(f, lo, hi) => store.count_in_range(f.name(), *lo, *hi),
            Term::EqRange(f, v, lo, hi) => Ok(store.id_keys_where_in_range(f.name(), v, *lo, *hi, usize::MAX)?.0.len()),
        }
    }

    /// The term's ids as raw index keys, reading at most `limit` keys (the flag is false when
    /// the limit cut the read short).
    pub fn id_keys(&self, store: &Store, limit: usize) -> StoreResult<(IdKeys, bool)> {
        match self {
            Term::Eq(f, v) => store.id_keys_where(f.name(), v, limit),
            Term::Range(f, lo, hi) => store.id_keys_in_range(f.name(), *lo, *hi, limit),
            Term::EqRange(f, v, lo, hi) => store.id_keys_where_in_range(f.name(), v, *lo, *hi, limit),
        }
    }

    /// Ids of the records under the term.
    pub fn ids(&self, store: &Store) -> StoreResult<Vec<String>> {
        match self {
            Term::Eq(f, v) => store.ids_where(f.name(), v),
            Term::Range(f, lo, hi) => store.ids_in_range(f.name(), *lo, *hi),
            Term::EqRange(..) => {
                let (keys, _) = self.id_keys(store, usize::MAX)?;
                Ok(keys.iter().map(|id| String::from_utf8_lossy(id).into_owned()).collect())
            }
        }
    }
}

/// A range condition as HopQL: `em < 0.3`, `em > 0.1 AND em <= 0.5`, `em BETWEEN 0.1 AND 0.3`.
fn range_text(f: &str, lo: Bound<f64>, hi: Bound<f64>) -> String {
    use super::print::format_number;
    match (lo, hi) {
        (Bound::Included(a), Bound::Included(b)) => format!("{f} BETWEEN {} AND {}", format_number(a), format_number(b)),
        _ => {
            let mut parts = vec![];
            match lo {
                Bound::Included(a) => parts.push(format!("{f} >= {}", format_number(a))),
                Bound::Excluded(a) => parts.push(format!("{f} > {}", format_number(a))),
                Bound::Unbounded => {}
            }
            match hi {
                Bound::Included(b) => parts.push(format!("{f} <= {}", format_number(b))),
                Bound::Excluded(b) => parts.push(format!("{f} < {}", format_number(b))),
                Bound::Unbounded => {}
            }
            if parts.is_empty() {
                format!("{f} IS NOT NULL")
            } else {
                parts.join(" AND ")
            }
        }
    }
}

/// The intersection of two intervals given by bounds: the larger lower bound and the smaller
/// upper bound (an excluded bound is the tighter of two at the same value).
fn intersect_bounds(a: (Bound<f64>, Bound<f64>), b: (Bound<f64>, Bound<f64>)) -> (Bound<f64>, Bound<f64>) {
    use Bound::*;
    let value = |x: &Bound<f64>| match x {
        Included(v) | Excluded(v) => Some(*v),
        Unbounded => None,
    };
    let lo = match (value(&a.0), value(&b.0)) {
        (None, _) => b.0,
        (_, None) => a.0,
        (Some(x), Some(y)) if x > y => a.0,
        (Some(x), Some(y)) if y > x => b.0,
        _ => if matches!(a.0, Excluded(_)) { a.0 } else { b.0 },
    };
    let hi = match (value(&a.1), value(&b.1)) {
        (None, _) => b.1,
        (_, None) => a.1,
        (Some(x), Some(y)) if x < y => a.1,
        (Some(x), Some(y)) if y < x => b.1,
        _ => if matches!(a.1, Excluded(_)) { a.1 } else { b.1 },
    };
    (lo, hi)
}

/// One probe before it is read: the conjuncts it answers and its terms (united).
struct Pending {
    conjuncts: Vec<usize>,
    terms: Vec<Term>,
}

/// Rewrite probes to use the composite indexes: when some conjuncts are range conditions on
/// `em` and another is `field = 'v'` / `field IN (...)` on a composite field, the `em`
/// ranges are merged into one interval and each such equality probe becomes a composite
/// probe that answers its conjunct and all the `em` conjuncts; the separate `em` probes go.
fn use_composite_indexes(pending: Vec<Pending>, exact: &[bool]) -> Vec<Pending> {
    let is_em_range = |p: &Pending| {
        matches!(p.terms.as_slice(), [Term::Range(f, ..)] if f.name() == COMPOSITE_RANGE_FIELD) && p.conjuncts.iter().all(|&i| exact[i])
    };
    let composite_field = |p: &Pending| -> Option<Field> {
        let Some(Term::Eq(f0, _)) = p.terms.first() else { return None };
        let same = p.terms.iter().all(|t| matches!(t, Term::Eq(f, _) if f == f0));
        (same && COMPOSITE_FIELDS.contains(&f0.name()) && p.conjuncts.iter().all(|&i| exact[i])).then_some(*f0)
    };
    let mut range: Option<(Bound<f64>, Bound<f64>)> = None;
    let mut range_conjuncts = Vec::new();
    for p in pending.iter().filter(|p| is_em_range(p)) {
        if let [Term::Range(_, lo, hi)] = p.terms.as_slice() {
            range = Some(match range {
                None => (*lo, *hi),
                Some(r) => intersect_bounds(r, (*lo, *hi)),
            });
            range_conjuncts.extend(p.conjuncts.iter().copied());
        }
    }
    let Some((lo, hi)) = range else { return pending };
    if !pending.iter().any(|p| composite_field(p).is_some()) {
        return pending;
    }
    let mut out = Vec::with_capacity(pending.len());
    for p in pending {
        if is_em_range(&p) {
            continue;
        }
        match composite_field(&p) {
            Some(f) => {
                let mut conjuncts = p.conjuncts;
                conjuncts.extend(range_conjuncts.iter().copied());
                let terms = p
                    .terms
                    .into_iter()
                    .filter_map(|t| match t {
                        Term::Eq(_, v) => Some(Term::EqRange(f, v, lo, hi)),
                        _ => None,
                    })
                    .collect();
                out.push(Pending { conjuncts, terms });
            }
            None => out.push(p),
        }
    }
    // Composite probes first: each is no larger than the probes it replaced, and the first
    // probe read bounds how far the later ones are read.
    out.sort_by_key(|p| !matches!(p.terms.first(), Some(Term::EqRange(..))));
    out
}

/// Whether `field` has a range index.
pub fn has_range_index(field: Field) -> bool {
    RANGE_INDEXED_FIELDS.contains(&field.name())
}

/// A probe more than this many times larger (by estimate) than the most selective probe is
/// not read; its condition is evaluated per record instead.
pub const INTERSECT_FACTOR: usize = 16;

/// One read of the secondary index: the ids of records for which any of `terms`
/// (`(field, value)` pairs) holds, i.e. the union of their index entries.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexProbe {
    /// The index terms whose id sets are united.
    pub terms: Vec<Term>,
    /// Number of index entries under those terms (an upper bound of the ids returned).
    pub estimate: usize,
    /// The condition the probe came from, as HopQL (for `EXPLAIN`).
    pub condition: String,
}

impl IndexProbe {
    /// The index lookup as HopQL, e.g. `ion IN ('Li', 'Na')`, `elements HAS 'O'` or
    /// `ion = 'Li' OR group = 'OLIVINE'`.
    pub fn describe(&self) -> String {
        use super::print::quote_string;
        // Composite probes over several values of one field with one `em` interval:
        // `ion IN ('Li', 'Mg') AND em < 0.3`.
        if let [Term::EqRange(f0, _, lo, hi), ..] = self.terms.as_slice() {
            let vals: Option<Vec<String>> = self
                .terms
                .iter()
                .map(|t| match t {
                    Term::EqRange(f, v, l, h) if f == f0 && l == lo && h == hi => Some(quote_string(v)),
                    _ => None,
                })
                .collect();
            if let Some(vals) = vals.filter(|v| v.len() > 1) {
                return format!("{f0} IN ({}) AND {}", vals.join(", "), range_text(COMPOSITE_RANGE_FIELD, *lo, *hi));
            }
        }
        let eq: Option<Vec<(Field, &String)>> = self
            .terms
            .iter()
            .map(|t| match t {
                Term::Eq(f, v) => Some((*f, v)),
                Term::Range(..) | Term::EqRange(..) => None,
            })
            .collect();
        let one_field = self.terms.windows(2).all(|w| match (&w[0], &w[1]) {
            (Term::Eq(a, _), Term::Eq(b, _)) => a == b,
            _ => false,
        });
        match (eq, one_field) {
            (Some(eq), true) if !eq.is_empty() => {
                let f = eq[0].0;
                let vals: Vec<String> = eq.iter().map(|(_, v)| quote_string(v)).collect();
                let list = f.ty() == FieldType::StrList;
                match (vals.len(), list) {
                    (1, false) => format!("{f} = {}", vals[0]),
                    (1, true) => format!("{f} HAS {}", vals[0]),
                    (_, false) => format!("{f} IN ({})", vals.join(", ")),
                    (_, true) => format!("{f} HAS ANY {}", vals.join(", ")),
                }
            }
            _ if self.terms.is_empty() => "nothing".to_string(),
            _ => self.terms.iter().map(Term::describe).collect::<Vec<_>>().join(" OR "),
        }
    }
}

/// How the rows of a query are fetched.
#[derive(Debug, Clone, PartialEq)]
pub enum Access {
    /// Stream every record in id order.
    FullScan,
    /// Fetch the listed ids (sorted, distinct) by primary key.
    PrimaryKey {
        /// The ids.
        ids: Vec<String>,
    },
    /// Intersect the id sets of the probes (most selective first), then fetch by id.
    Index {
        /// The probes, in the order they are read.
        probes: Vec<IndexProbe>,
    },
}

/// The plan of a `SELECT`: its access path and the predicates left to check per record.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// How records are fetched.
    pub access: Access,
    /// Estimated number of records fetched (index counts, number of ids, or the store size).
    pub estimated_rows: usize,
    /// Conjuncts of `WHERE` checked on each fetched record (all must be true).
    pub residual: Vec<Expr>,
    /// Index probes that were considered but not read, with why (for `EXPLAIN`).
    pub skipped: Vec<(IndexProbe, String)>,
    /// Number of records in the store, when the planner counted them all (else `None`).
    pub store_records: Option<usize>,
    /// For an index access planned for execution: the selected ids, in id order, from the
    /// index keys the planner already read to estimate the probes (`None` otherwise).
    pub ids: Option<Vec<String>>,
}

/// Whether `field` has a secondary index in the store (`id` is the primary key instead).
pub fn has_secondary_index(field: Field) -> bool {
    INDEXED_FIELDS.contains(&field.name())
}

/// What one conjunct contributes to the access path.
enum Access1 {
    /// `id = ...` / `id IN (...)`: exactly these ids.
    Ids(BTreeSet<String>),
    /// Index probes to intersect; `exact` when they answer the conjunct completely.
    Probes {
        probes: Vec<Vec<Term>>,
        exact: bool,
    },
}

fn str_lit(l: &Literal) -> Option<&str> {
    match l {
        Literal::Str(s) => Some(s),
        _ => None,
    }
}

/// The field and string value of `field = 'v'` (either side), if the conjunct has that form.
fn field_eq(e: &Expr) -> Option<(Field, &str)> {
    match e {
        Expr::Compare {
            left: Operand::Field(f),
            op: CompareOp::Eq,
            right: Operand::Literal(l),
        }
        | Expr::Compare {
            left: Operand::Literal(l),
            op: CompareOp::Eq,
            right: Operand::Field(f),
        } => str_lit(l).map(|s| (*f, s)),
        _ => None,
    }
}

/// The operator seen from the other side: `3 < em` is `em > 3`.
fn flip(op: CompareOp) -> CompareOp {
    match op {
        CompareOp::Lt => CompareOp::Gt,
        CompareOp::Le => CompareOp::Ge,
        CompareOp::Gt => CompareOp::Lt,
        CompareOp::Ge => CompareOp::Le,
        other => other,
    }
}

fn access_of(e: &Expr) -> Option<Access1> {
    if let Some((f, v)) = field_eq(e) {
        return access_of_eq(f, v);
    }
    match e {
        Expr::In {
            field,
            negated: false,
            values,
        } => access_of_in(*field, values),
        Expr::Has {
            field,
            mode,
            values,
        } if has_secondary_index(*field) => Some(access_of_has(*field, mode, values)),
        Expr::Compare { left, op, right } => access_of_compare(left, *op, right),
        Expr::Between { field, negated: false, low: Literal::Num(a), high: Literal::Num(b) } if has_range_index(*field) => {
            Some(Access1::Probes { probes: vec![vec![Term::Range(*field, Bound::Included(*a), Bound::Included(*b))]], exact: true })
        }
        Expr::Or(a, b) => access_of_or(a, b),
        _ => None,
    }
}

/// The access path of `field = 'v'`: the primary key for `id`, else a probe of the field's
/// secondary index (string fields only).
fn access_of_eq(f: Field, v: &str) -> Option<Access1> {
    if f.name() == "id" {
        return Some(Access1::Ids(BTreeSet::from([v.to_string()])));
    }
    if has_secondary_index(f) && f.ty() == FieldType::Str {
        return Some(Access1::Probes {
            probes: vec![vec![Term::Eq(f, v.to_string())]],
            exact: true,
        });
    }
    None
}

/// The access path of `field IN ('a', 'b', ...)` (string values only): the primary key for
/// `id`, else one probe uniting the values' index entries.
fn access_of_in(field: Field, values: &[Literal]) -> Option<Access1> {
    let vals: Option<Vec<&str>> = values.iter().map(str_lit).collect();
    let vals = vals?;
    if field.name() == "id" {
        return Some(Access1::Ids(vals.iter().map(|s| s.to_string()).collect()));
    }
    if has_secondary_index(field) && field.ty() == FieldType::Str {
        return Some(Access1::Probes {
            probes: vec![vals.iter().map(|v| Term::Eq(field, v.to_string())).collect()],
            exact: true,
        });
    }
    None
}

/// The probes of `field HAS [ONE|ALL|ANY|ONLY] ...` on an indexed list field.
fn access_of_has(field: Field, mode: &HasMode, values: &[String]) -> Access1 {
    let terms = |vs: &[String]| vs.iter().map(|v| Term::Eq(field, v.clone())).collect::<Vec<_>>();
    match mode {
        HasMode::One | HasMode::All => Access1::Probes {
            probes: values.iter().map(|v| vec![Term::Eq(field, v.clone())]).collect(),
            exact: true,
        },
        HasMode::Any => Access1::Probes {
            probes: vec![terms(values)],
            exact: true,
        },
        // Records whose list has any of the values: a superset, checked per record.
        HasMode::Only => Access1::Probes {
            probes: vec![terms(values)],
            exact: false,
        },
    }
}

/// The range probe of a comparison between a range-indexed field and a finite number
/// (either side; `!=` has none).
fn access_of_compare(left: &Operand, op: CompareOp, right: &Operand) -> Option<Access1> {
    let (f, x, op) = match (left, right) {
        (Operand::Field(f), Operand::Literal(Literal::Num(x))) => (*f, *x, op),
        (Operand::Literal(Literal::Num(x)), Operand::Field(f)) => (*f, *x, flip(op)),
        _ => return None,
    };
    if !has_range_index(f) || !x.is_finite() {
        return None;
    }
    let (lo, hi) = match op {
        CompareOp::Eq => (Bound::Included(x), Bound::Included(x)),
        CompareOp::Lt => (Bound::Unbounded, Bound::Excluded(x)),
        CompareOp::Le => (Bound::Unbounded, Bound::Included(x)),
        CompareOp::Gt => (Bound::Excluded(x), Bound::Unbounded),
        CompareOp::Ge => (Bound::Included(x), Bound::Unbounded),
        CompareOp::Ne => return None,
    };
    Some(Access1::Probes { probes: vec![vec![Term::Range(f, lo, hi)]], exact: true })
}

/// The access path of `a OR b`: a union of two single-probe conditions is one probe.
fn access_of_or(a: &Expr, b: &Expr) -> Option<Access1> {
    let (
        Some(Access1::Probes {
            probes: pa,
            exact: ea,
        }),
        Some(Access1::Probes {
            probes: pb,
            exact: eb,
        }),
    ) = (access_of(a), access_of(b))
    else {
        return None;
    };
    if pa.len() != 1 || pb.len() != 1 {
        return None;
    }
    let mut terms = pa.into_iter().next().unwrap_or_default();
    for t in pb.into_iter().next().unwrap_or_default() {
        if !terms.contains(&t) {
            terms.push(t);
        }
    }
    Some(Access1::Probes {
        probes: vec![terms],
        exact: ea && eb,
    })
}

/// Number of records, counted from the `fidelity` index (one small key per record) rather
/// than by reading the records themselves.
pub fn record_count(store: &Store) -> StoreResult<usize> {
    record_count_up_to(store, usize::MAX)
}

/// [`record_count`], but stop counting at `limit` (the result is then `limit`): enough to
/// decide "more than half the store" without scanning a large store's index to its end.
pub fn record_count_up_to(store: &Store, limit: usize) -> StoreResult<usize> {
    store.record_count_up_to(limit)
}

/// Plan a `SELECT`: pick its access path from the `WHERE` conjuncts (see the module docs).
pub fn plan(store: &Store, sel: &Select) -> StoreResult<Plan> {
    plan_with(store, sel, true)
}

/// [`plan`], optionally without counting the store for a full scan's estimate (execution does
/// not need it; `EXPLAIN` does). Without it a full scan's `estimated_rows` is 0.
pub fn plan_with(store: &Store, sel: &Select, estimate_scan: bool) -> StoreResult<Plan> {
    let conjuncts: Vec<&Expr> = sel
        .filter
        .as_ref()
        .map(|f| f.conjuncts())
        .unwrap_or_default();
    if let Some(plan) = primary_key_plan(&conjuncts) {
        return Ok(plan);
    }
    let (cands, exact) = read_candidates(store, &conjuncts, estimate_scan)?;
    if cands.is_empty() {
        return Ok(Plan {
            access: Access::FullScan,
            estimated_rows: if estimate_scan {
                record_count(store)?
            } else {
                0
            },
            residual: conjuncts.iter().map(|c| (*c).clone()).collect(),
            skipped: Vec::new(),
            store_records: None,
            ids: None,
        });
    }
    index_plan(store, &conjuncts, cands, &exact, estimate_scan)
}

/// The primary-key plan when some conjunct is an id condition: the intersection of every id
/// condition, with everything else residual (`None` without id conditions).
fn primary_key_plan(conjuncts: &[&Expr]) -> Option<Plan> {
    let mut ids: Option<BTreeSet<String>> = None;
    let mut pk_exact = vec![false; conjuncts.len()];
    for (i, c) in conjuncts.iter().enumerate() {
        if let Some(Access1::Ids(set)) = access_of(c) {
            ids = Some(match ids {
                None => set,
                Some(prev) => prev.intersection(&set).cloned().collect(),
            });
            pk_exact[i] = true;
        }
    }
    let ids = ids?;
    let residual = conjuncts
        .iter()
        .zip(&pk_exact)
        .filter(|(_, done)| !**done)
        .map(|(c, _)| (*c).clone())
        .collect();
    Some(Plan {
        estimated_rows: ids.len(),
        access: Access::PrimaryKey {
            ids: ids.into_iter().collect(),
        },
        residual,
        skipped: Vec::new(),
        store_records: None,
        ids: None,
    })
}

/// A secondary-index probe that was read (perhaps cut short), remembering its conjuncts and
/// the index keys it read.
struct Cand {
    probe: IndexProbe,
    conjuncts: Vec<usize>,
    keys: Vec<IdKeys>,
}

/// The secondary-index probes of the conjuncts, each read to estimate it, and for each
/// conjunct whether its probes answer it exactly.
///
/// Each probe is estimated by reading its index keys, which are kept: the ids are
/// intersected from them without a second read. For execution (`!estimate_scan`) a probe is
/// read only as far as the decision needs: once one probe is known to have `b` ids, a later
/// one is cut off after `b * INTERSECT_FACTOR + 1` keys (it is then skipped anyway, and its
/// estimate is that lower bound). `EXPLAIN` reads every probe to the end, so its estimates
/// are exact.
fn read_candidates(store: &Store, conjuncts: &[&Expr], estimate_scan: bool) -> StoreResult<(Vec<Cand>, Vec<bool>)> {
    let mut cands: Vec<Cand> = Vec::new();
    let mut exact = vec![false; conjuncts.len()];
    let mut best_read: Option<usize> = None;
    let mut pending = Vec::new();
    for (i, c) in conjuncts.iter().enumerate() {
        if let Some(Access1::Probes { probes, exact: ex }) = access_of(c) {
            exact[i] = ex;
            pending.extend(probes.into_iter().map(|terms| Pending { conjuncts: vec![i], terms }));
        }
    }
    for Pending { conjuncts: covered, terms } in use_composite_indexes(pending, &exact) {
        let limit = match best_read {
            Some(b) if !estimate_scan => b.saturating_mul(INTERSECT_FACTOR).max(1).saturating_add(1),
            _ => usize::MAX,
        };
        let mut estimate = 0;
        let mut complete = true;
        let mut keys = Vec::with_capacity(terms.len());
        for t in &terms {
            let (k, done) = t.id_keys(store, limit.saturating_sub(estimate))?;
            estimate += k.len();
            keys.push(k);
            if !done {
                complete = false;
                break;
            }
        }
        if complete {
            best_read = Some(best_read.map_or(estimate, |b| b.min(estimate)));
        }
        let condition = covered.iter().map(|&i| conjuncts[i].to_string()).collect::<Vec<_>>().join(" AND ");
        cands.push(Cand {
            probe: IndexProbe {
                terms,
                estimate,
                condition,
            },
            conjuncts: covered,
            keys,
        });
    }
    Ok((cands, exact))
}

/// The plan from read probes (at least one): a full scan when even the most selective probe
/// covers more than half of the store, else an index access over the probes within
/// [`INTERSECT_FACTOR`] of the best, the others checked per record.
fn index_plan(store: &Store, conjuncts: &[&Expr], mut cands: Vec<Cand>, exact: &[bool], estimate_scan: bool) -> StoreResult<Plan> {
    // Most selective first; stable, so ties keep the order of the WHERE clause.
    cands.sort_by_key(|c| c.probe.estimate);
    let best = cands[0].probe.estimate;
    // Count the store only as far as the decision needs: past 2 * best, the index wins.
    let cap = best.saturating_mul(2).saturating_add(1);
    let counted = record_count_up_to(store, cap)?;
    let total = if counted < cap { Some(counted) } else { None };
    if let Some(total) = total.filter(|&t| best.saturating_mul(2) > t) {
        return Ok(half_store_plan(conjuncts, cands, total));
    }
    let mut residual_mask = vec![true; conjuncts.len()];
    let mut used: Vec<IndexProbe> = Vec::new();
    let mut skipped: Vec<(IndexProbe, String)> = Vec::new();
    // A conjunct leaves the residual filter only when all of its probes are read.
    let mut all_read = vec![true; conjuncts.len()];
    let mut used_keys: Vec<Vec<IdKeys>> = Vec::new();
    for c in cands {
        if c.probe.estimate > best.saturating_mul(INTERSECT_FACTOR).max(1) {
            for &i in &c.conjuncts {
                all_read[i] = false;
            }
            let why = format!(
                "more than {INTERSECT_FACTOR} times the most selective probe: checked per record"
            );
            skipped.push((c.probe, why));
        } else {
            used.push(c.probe);
            used_keys.push(c.keys);
        }
    }
    let ids = if estimate_scan { None } else { Some(intersect_keys(&used_keys)) };
    for i in 0..conjuncts.len() {
        // `exact` is only set for conjuncts that produced probes.
        if exact[i] && all_read[i] {
            residual_mask[i] = false;
        }
    }
    let residual = conjuncts
        .iter()
        .zip(&residual_mask)
        .filter(|(_, r)| **r)
        .map(|(c, _)| (*c).clone())
        .collect();
    Ok(Plan {
        estimated_rows: best,
        access: Access::Index { probes: used },
        residual,
        skipped,
        store_records: total,
        ids,
    })
}

/// The full-scan plan when the best probe covers more than half of the `total` records:
/// every probe is skipped and every conjunct is residual.
fn half_store_plan(conjuncts: &[&Expr], cands: Vec<Cand>, total: usize) -> Plan {
    let mut skipped: Vec<(IndexProbe, String)> = Vec::new();
    for c in cands {
        skipped.push((
            c.probe,
            format!("covers more than half of the {total} records: a full scan is cheaper"),
        ));
    }
    Plan {
        access: Access::FullScan,
        estimated_rows: total,
        residual: conjuncts.iter().map(|c| (*c).clone()).collect(),
        skipped,
        store_records: Some(total),
        ids: None,
    }
}

/// A set of ids (as bytes) with a fast non-cryptographic hash: the ids come from the store's
/// own index keys, and SipHash was a measurable share of an index intersection.
type IdSet<'a> = HashSet<&'a [u8], BuildHasherDefault<IdHasher>>;

/// Multiply-rotate hash over 8-byte words (the FxHash scheme).
#[derive(Default)]
struct IdHasher(u64);

impl IdHasher {
    #[inline]
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for IdHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().unwrap_or([0; 8])));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// The intersection of the probes' id sets (each the union of its terms' keys), most
/// selective probe first: a hash set of the first probe's ids, narrowed by one pass over each
/// further probe's keys. Returned in id order.
fn intersect_keys(probes: &[Vec<IdKeys>]) -> Vec<String> {
    let mut iter = probes.iter();
    let Some(first) = iter.next() else {
        return Vec::new();
    };
    let mut acc: IdSet = first.iter().flat_map(IdKeys::iter).collect();
    for p in iter {
        if acc.is_empty() {
            break;
        }
        let mut next = IdSet::with_capacity_and_hasher(acc.len(), Default::default());
        for id in p.iter().flat_map(IdKeys::iter) {
            if acc.contains(id) {
                next.insert(id);
            }
        }
        acc = next;
    }
    let mut ids: Vec<&[u8]> = acc.into_iter().collect();
    ids.sort_unstable();
    ids.into_iter().map(|id| String::from_utf8_lossy(id).into_owned()).collect()
}

/// The ids selected by an index access path, in id order: the union of each probe's terms,
/// intersected across probes in the given order.
pub fn probe_ids(store: &Store, probes: &[IndexProbe]) -> StoreResult<BTreeSet<String>> {
    let mut keys = Vec::with_capacity(probes.len());
    for p in probes {
        let mut terms = Vec::with_capacity(p.terms.len());
        for t in &p.terms {
            terms.push(t.id_keys(store, usize::MAX)?.0);
        }
        keys.push(terms);
    }
    Ok(intersect_keys(&keys).into_iter().collect())
}
