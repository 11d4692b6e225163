//! The SELECT engine: runs a parsed [`Select`] against a [`Store`] and returns a
//! [`ResultTable`]. Split and model statements reach records through it ([`selected_ids`]).
//!
//! A `SELECT` is planned first ([`mod@super::plan`]): index-backed conditions choose which
//! records are fetched, the remaining ones are checked per record. Records stream through the
//! filter; nothing holds the whole store in memory. Sorting keeps only what it must: with
//! `LIMIT`, a bounded heap of `LIMIT + OFFSET` rows; grouping keeps one accumulator per group
//! (and `MEDIAN` the values of its group).
//!
//! Semantics (see `docs/QUERY_LANGUAGE.md` for the full reference):
//!
//! * NULL is "unknown": a comparison, `BETWEEN`, `IN` or `LIKE` on a NULL value is unknown,
//!   `NOT unknown` is unknown, `AND`/`OR` follow three-valued logic, and `WHERE` keeps only
//!   rows whose condition is true. `IS [NOT] NULL` is the way to find missing values.
//! * A list field (`elements`, `flags`) that is empty is NULL for `IS NULL`, `COUNT(field)`,
//!   grouping and output; `HAS` on an empty list is false (never unknown), so
//!   `NOT flags HAS 'x'` keeps records without flags. `HAS ONLY` needs a non-empty list.
//! * Strings compare case-sensitively (byte order); numbers compare numerically, integers
//!   and reals alike.
//! * Aggregates ignore NULLs; `COUNT(*)` counts rows. Over no values `COUNT` is 0 and the
//!   others are NULL; `STDDEV` is the sample standard deviation (NULL for fewer than two
//!   values); `MEDIAN` of an even number of values is the mean of the middle two.
//! * `ORDER BY`: NULLs sort after every value in ascending order and before them in
//!   descending order; ties are broken by record id (by group key in grouped queries), so
//!   output is deterministic. Without `ORDER BY`, rows come in record-id order and groups in
//!   group-key order.

use super::ast::{AggFunc, Aggregate, OrderBy, OrderKey, Select, SelectItem};
use super::error::ExecError;
use super::fields::{Field, FieldType, FIELDS};
use super::plan::{self, Access, Plan};
use super::predicate::{as_f64, field_value, passes, sort_cmp, Key};
use crate::record::HopRecord;
use crate::store::{Store, StoreError};
use crate::table::{ResultTable, Value};
use rayon::prelude::*;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap};

type RecordIter<'s> = Box<dyn Iterator<Item = Result<HopRecord, StoreError>> + 's>;

/// Fetched records in batches, in id order.
type RecordBatches<'s> = Box<dyn Iterator<Item = Result<Vec<HopRecord>, StoreError>> + 's>;

/// Records per batch: enough to spread the fetches (sled reads, decompression, decoding) over
/// the cores, few enough that a `LIMIT` without `ORDER BY` stops soon after it is met.
const FETCH_BATCH: usize = 1024;

/// The records an access path fetches, in id order, in batches. When the ids are known
/// before reading (index and primary-key access), each batch is fetched in parallel.
fn fetch<'s>(store: &'s Store, plan: &mut Plan) -> Result<RecordBatches<'s>, StoreError> {
    let ids = match (&plan.access, plan.ids.take()) {
        (Access::Index { .. }, Some(ids)) => ids,
        (Access::Index { probes }, None) => plan::probe_ids(store, probes)?.into_iter().collect(),
        (Access::PrimaryKey { ids }, _) => ids.clone(),
        (Access::FullScan, _) => {
            let mut records = store.records();
            return Ok(Box::new(std::iter::from_fn(move || {
                let batch: Result<Vec<HopRecord>, StoreError> = records.by_ref().take(FETCH_BATCH).collect();
                match batch {
                    Ok(b) if b.is_empty() => None,
                    other => Some(other),
                }
            })));
        }
    };
    let mut start = 0;
    Ok(Box::new(std::iter::from_fn(move || {
        if start >= ids.len() {
            return None;
        }
        let end = (start + FETCH_BATCH).min(ids.len());
        let chunk = &ids[start..end];
        start = end;
        Some(chunk.par_iter().filter_map(|id| store.get(id).transpose()).collect())
    })))
}

/// The fetched batches as of an earlier version: records changed since are left out and
/// their states at that version (`changes`, from [`Store::changes_after`]) merged in, in id
/// order. The old states did not go through the access path, so the caller checks the whole
/// `WHERE` clause on every record.
fn as_of_batches<'s>(batches: RecordBatches<'s>, changes: BTreeMap<String, Option<HopRecord>>) -> RecordBatches<'s> {
    let changed: std::collections::HashSet<String> = changes.keys().cloned().collect();
    let mut olds = changes.into_values().flatten().collect::<Vec<HopRecord>>().into_iter().peekable();
    let mut batches = batches.fuse();
    Box::new(std::iter::from_fn(move || loop {
        match batches.next() {
            Some(Ok(batch)) => {
                let last = batch.last().map(|r| r.id.clone());
                let current: Vec<HopRecord> = batch.into_iter().filter(|r| !changed.contains(&r.id)).collect();
                let mut old = Vec::new();
                while let (Some(o), Some(l)) = (olds.peek(), last.as_ref()) {
                    if o.id > *l {
                        break;
                    }
                    old.extend(olds.next());
                }
                if current.is_empty() && old.is_empty() {
                    continue;
                }
                let mut merged: Vec<HopRecord> = current.into_iter().chain(old).collect();
                merged.sort_by(|a, b| a.id.cmp(&b.id));
                return Some(Ok(merged));
            }
            Some(Err(e)) => return Some(Err(e)),
            None => {
                let rest: Vec<HopRecord> = olds.by_ref().collect();
                return if rest.is_empty() { None } else { Some(Ok(rest)) };
            }
        }
    }))
}

/// The batches as one record at a time.
fn one_by_one(batches: RecordBatches<'_>) -> RecordIter<'_> {
    Box::new(batches.flat_map(|b| match b {
        Ok(records) => records.into_iter().map(Ok).collect::<Vec<_>>(),
        Err(e) => vec![Err(e)],
    }))
}

/// The output columns: `*` expanded to every field.
pub(super) fn output_columns(sel: &Select) -> Vec<String> {
    let mut cols = Vec::new();
    for it in &sel.items {
        match it {
            SelectItem::Star => cols.extend(FIELDS.iter().map(|d| d.name.to_string())),
            other => cols.push(other.column_name()),
        }
    }
    cols
}

/// The type of each output column: a field's type; `COUNT` an integer, `SUM` of an integer
/// field an integer, `MIN`/`MAX` the field's type, other aggregates a number.
pub fn output_types(sel: &Select) -> Vec<FieldType> {
    let mut out = Vec::new();
    for it in &sel.items {
        match it {
            SelectItem::Star => out.extend(FIELDS.iter().map(|d| d.ty)),
            SelectItem::Field { field, .. } => out.push(field.ty()),
            SelectItem::Aggregate { agg, .. } => out.push(aggregate_type(agg)),
        }
    }
    out
}

/// The type of an aggregate's value (see [`output_types`]).
pub fn aggregate_type(agg: &Aggregate) -> FieldType {
    match (agg.func, agg.arg) {
        (AggFunc::Count, _) => FieldType::Int,
        (AggFunc::Sum, Some(f)) if f.ty() == FieldType::Int => FieldType::Int,
        (AggFunc::Min | AggFunc::Max, Some(f)) => f.ty(),
        _ => FieldType::Num,
    }
}

/// The fields a non-grouped query outputs, `*` expanded.
fn output_fields(sel: &Select) -> Vec<Field> {
    let mut out = Vec::new();
    for it in &sel.items {
        match it {
            SelectItem::Star => out.extend(Field::all()),
            SelectItem::Field { field, .. } => out.push(*field),
            // Unreachable for non-grouped queries (the parser groups any aggregate).
            SelectItem::Aggregate { .. } => {}
        }
    }
    out
}

/// One sorted row: its keys (with direction), a tie-breaker and the output values.
struct SortEntry<T: Ord> {
    keys: Vec<(Value, bool)>,
    tie: T,
    row: Vec<Value>,
}

impl<T: Ord> SortEntry<T> {
    fn order(&self, other: &Self) -> Ordering {
        for ((a, desc), (b, _)) in self.keys.iter().zip(&other.keys) {
            let o = sort_cmp(a, b);
            let o = if *desc { o.reverse() } else { o };
            if o != Ordering::Equal {
                return o;
            }
        }
        self.tie.cmp(&other.tie)
    }
}

impl<T: Ord> PartialEq for SortEntry<T> {
    fn eq(&self, other: &Self) -> bool {
        self.order(other) == Ordering::Equal
    }
}
impl<T: Ord> Eq for SortEntry<T> {}
impl<T: Ord> PartialOrd for SortEntry<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<T: Ord> Ord for SortEntry<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.order(other)
    }
}

/// Keeps the first `k` entries of a stream in sort order (all of them when `k` is `None`).
struct TopK<T: Ord> {
    k: Option<usize>,
    heap: BinaryHeap<SortEntry<T>>,
}

impl<T: Ord> TopK<T> {
    fn new(k: Option<usize>) -> Self {
        TopK {
            k,
            heap: BinaryHeap::new(),
        }
    }

    fn push(&mut self, e: SortEntry<T>) {
        match self.k {
            Some(0) => {}
            Some(k) if self.heap.len() >= k => {
                if let Some(top) = self.heap.peek() {
                    if e < *top {
                        self.heap.pop();
                        self.heap.push(e);
                    }
                }
            }
            _ => self.heap.push(e),
        }
    }

    fn into_sorted(self) -> Vec<SortEntry<T>> {
        self.heap.into_sorted_vec()
    }
}

/// `LIMIT + OFFSET` as a row budget (`None`: unbounded).
pub(super) fn row_budget(sel: &Select) -> Option<usize> {
    sel.limit
        .map(|l| usize::try_from(l.count.saturating_add(l.offset)).unwrap_or(usize::MAX))
}

fn apply_limit(rows: Vec<Vec<Value>>, sel: &Select) -> Vec<Vec<Value>> {
    match sel.limit {
        None => rows,
        Some(l) => rows
            .into_iter()
            .skip(usize::try_from(l.offset).unwrap_or(usize::MAX))
            .take(usize::try_from(l.count).unwrap_or(usize::MAX))
            .collect(),
    }
}

pub(crate) fn run_select(store: &Store, sel: &Select, force_scan: bool) -> Result<ResultTable, ExecError> {
    let changes = match &sel.as_of {
        Some(a) => store.changes_after(resolve_as_of(store, a)?)?,
        None => BTreeMap::new(),
    };
    let mut plan = if force_scan {
        full_scan_plan(sel)
    } else {
        plan::plan_with(store, sel, false)?
    };
    if !changes.is_empty() {
        // Records changed since AS OF are merged in their old state, which no index knows:
        // the whole WHERE clause is checked on every record.
        plan.residual = full_scan_plan(sel).residual;
    }
    let mut table = ResultTable {
        title: None,
        columns: output_columns(sel),
        rows: Vec::new(),
        types: output_types(sel),
    };
    if sel.limit.is_some_and(|l| l.count == 0) {
        return Ok(table);
    }
    if changes.is_empty() {
        if let Some(n) = count_without_records(store, sel, &mut plan)? {
            // One row; OFFSET skips it.
            if sel.limit.is_none_or(|l| l.offset == 0) {
                table.rows = vec![vec![Value::Int(n as i64); sel.items.len()]];
            }
            return Ok(table);
        }
    }
    let mut records = fetch(store, &mut plan)?;
    if !changes.is_empty() {
        records = as_of_batches(records, changes);
    }
    table.rows = if sel.is_aggregate() {
        select_grouped(sel, &plan, one_by_one(records))?
    } else {
        select_rows(sel, &plan, records)?
    };
    Ok(table)
}

/// `SELECT COUNT(*)[, COUNT(*)...] FROM hops [WHERE ...]` without GROUP BY, whose WHERE the
/// access path answers completely (no residual predicate): the number of rows, counted from
/// the index keys or the primary keys, without reading or decoding a record. `None` for any
/// other query.
fn count_without_records(store: &Store, sel: &Select, plan: &mut Plan) -> Result<Option<usize>, ExecError> {
    let only_count_star = !sel.items.is_empty()
        && sel.items.iter().all(|i| matches!(i, SelectItem::Aggregate { agg: Aggregate { func: AggFunc::Count, arg: None }, .. }));
    if !only_count_star || !sel.group_by.is_empty() || !plan.residual.is_empty() {
        return Ok(None);
    }
    Ok(Some(match (&plan.access, plan.ids.take()) {
        (Access::Index { .. }, Some(ids)) => ids.len(),
        (Access::Index { probes }, None) => plan::probe_ids(store, probes)?.len(),
        (Access::PrimaryKey { ids }, _) => {
            let mut n = 0;
            for id in ids {
                n += usize::from(store.contains(id)?);
            }
            n
        }
        (Access::FullScan, _) => store.count(),
    }))
}

/// The data version an `AS OF` names; what it cannot name is [`ExecError::AsOf`].
pub(crate) fn resolve_as_of(store: &Store, a: &crate::store::AsOf) -> Result<u64, ExecError> {
    match store.resolve_version(a) {
        Ok(v) => Ok(v.seq),
        Err(StoreError::Invalid(m)) => Err(ExecError::AsOf(m)),
        Err(e) => Err(e.into()),
    }
}

/// A plan that reads every record and checks the whole `WHERE` clause on each (the
/// reference the index paths are tested against).
fn full_scan_plan(sel: &Select) -> Plan {
    Plan {
        access: Access::FullScan,
        estimated_rows: 0,
        residual: sel
            .filter
            .as_ref()
            .map(|f| f.conjuncts().into_iter().cloned().collect())
            .unwrap_or_default(),
        skipped: Vec::new(),
        store_records: None,
        ids: None,
    }
}

/// A non-grouped query: filter, project, sort, limit. Each batch of fetched records is
/// filtered and projected in parallel; the rows keep the fetch order.
fn select_rows(
    sel: &Select,
    plan: &Plan,
    batches: RecordBatches<'_>,
) -> Result<Vec<Vec<Value>>, ExecError> {
    let fields = output_fields(sel);
    let project = |rec: &HopRecord| project_row(rec, &fields);
    if sel.order_by.is_empty() {
        // Streaming: stop after the batch in which LIMIT + OFFSET rows have matched.
        let budget = row_budget(sel);
        let mut rows = Vec::new();
        for batch in batches {
            if budget.is_some_and(|b| rows.len() >= b) {
                break;
            }
            let batch = batch?;
            let matched: Vec<Vec<Value>> = batch.par_iter().filter(|rec| passes(&plan.residual, rec)).map(project).collect();
            rows.extend(matched);
        }
        return Ok(apply_limit(rows, sel));
    }
    let mut top: TopK<String> = TopK::new(row_budget(sel));
    for batch in batches {
        let batch = batch?;
        let entries: Vec<SortEntry<String>> = batch
            .par_iter()
            .filter(|rec| passes(&plan.residual, rec))
            .map(|rec| {
                let row = project(rec);
                let keys = sel
                    .order_by
                    .iter()
                    .map(|o| (row_sort_key(sel, o, rec, &fields, &row), o.descending))
                    .collect();
                SortEntry { keys, tie: rec.id.clone(), row }
            })
            .collect();
        for e in entries {
            top.push(e);
        }
    }
    let rows = top.into_sorted().into_iter().map(|e| e.row).collect();
    Ok(apply_limit(rows, sel))
}

/// The output row of `rec`: the values of `fields`, empty lists as NULL (as [`field_value`]).
fn project_row(rec: &HopRecord, fields: &[Field]) -> Vec<Value> {
    rec.fields(fields.iter().map(|f| f.name()))
        .into_iter()
        .map(|v| match v {
            Some(Value::List(l)) if l.is_empty() => Value::Null,
            Some(Value::NumList(l)) if l.is_empty() => Value::Null,
            Some(v) => v,
            None => Value::Null,
        })
        .collect()
}

/// The sort key of a non-grouped row.
fn row_sort_key(
    sel: &Select,
    o: &OrderBy,
    rec: &HopRecord,
    fields: &[Field],
    row: &[Value],
) -> Value {
    match &o.key {
        OrderKey::Field(f) => field_value(rec, *f),
        OrderKey::Alias(a) => match sel.item_by_alias(a) {
            Some((_, SelectItem::Field { field, .. })) => field_value(rec, *field),
            _ => Value::Null,
        },
        OrderKey::Column(n) => row.get(n.saturating_sub(1)).cloned().unwrap_or(Value::Null),
        // Aggregates make the query grouped; never reached here.
        OrderKey::Aggregate(_) => {
            let _ = fields;
            Value::Null
        }
    }
}

/// Running state of one aggregate over one group.
#[derive(Debug, Clone)]
enum Acc {
    Count(i64),
    Avg {
        n: u64,
        sum: f64,
    },
    Sum {
        n: u64,
        real: f64,
        int: i128,
        is_int: bool,
    },
    Min(Option<Value>),
    Max(Option<Value>),
    Stddev {
        n: u64,
        mean: f64,
        m2: f64,
    },
    Median(Vec<f64>),
}

impl Acc {
    fn new(agg: &Aggregate) -> Acc {
        match agg.func {
            AggFunc::Count => Acc::Count(0),
            AggFunc::Avg => Acc::Avg { n: 0, sum: 0.0 },
            AggFunc::Sum => Acc::Sum {
                n: 0,
                real: 0.0,
                int: 0,
                is_int: agg.arg.is_some_and(|f| f.ty() == FieldType::Int),
            },
            AggFunc::Min => Acc::Min(None),
            AggFunc::Max => Acc::Max(None),
            AggFunc::Stddev => Acc::Stddev {
                n: 0,
                mean: 0.0,
                m2: 0.0,
            },
            AggFunc::Median => Acc::Median(Vec::new()),
        }
    }

    /// Add one row; `v` is the argument's value (`None` for `COUNT(*)`).
    fn update(&mut self, v: Option<Value>) {
        let v = match v {
            None => {
                if let Acc::Count(n) = self {
                    *n += 1;
                }
                return;
            }
            Some(Value::Null) => return,
            Some(v) => v,
        };
        match self {
            Acc::Count(n) => *n += 1,
            Acc::Avg { n, sum } => {
                if let Some(x) = as_f64(&v) {
                    *n += 1;
                    *sum += x;
                }
            }
            Acc::Sum { n, real, int, .. } => {
                if let Value::Int(i) = v {
                    *int += i as i128;
                }
                if let Some(x) = as_f64(&v) {
                    *n += 1;
                    *real += x;
                }
            }
            Acc::Min(best) => {
                if best
                    .as_ref()
                    .is_none_or(|b| sort_cmp(&v, b) == Ordering::Less)
                {
                    *best = Some(v);
                }
            }
            Acc::Max(best) => {
                if best
                    .as_ref()
                    .is_none_or(|b| sort_cmp(&v, b) == Ordering::Greater)
                {
                    *best = Some(v);
                }
            }
            Acc::Stddev { n, mean, m2 } => {
                if let Some(x) = as_f64(&v) {
                    // Welford's update: numerically stable.
                    *n += 1;
                    let d = x - *mean;
                    *mean += d / *n as f64;
                    *m2 += d * (x - *mean);
                }
            }
            Acc::Median(vals) => {
                if let Some(x) = as_f64(&v) {
                    vals.push(x);
                }
            }
        }
    }

    fn finish(&self) -> Value {
        match self {
            Acc::Count(n) => Value::Int(*n),
            Acc::Avg { n, sum } => {
                if *n == 0 {
                    Value::Null
                } else {
                    Value::Num(sum / *n as f64)
                }
            }
            Acc::Sum {
                n,
                real,
                int,
                is_int,
            } => match (*n, *is_int) {
                (0, _) => Value::Null,
                (_, true) => i64::try_from(*int).map_or(Value::Num(*real), Value::Int),
                (_, false) => Value::Num(*real),
            },
            Acc::Min(b) | Acc::Max(b) => b.clone().unwrap_or(Value::Null),
            Acc::Stddev { n, m2, .. } => {
                if *n < 2 {
                    Value::Null
                } else {
                    Value::Num((m2 / (*n - 1) as f64).sqrt())
                }
            }
            Acc::Median(vals) => {
                if vals.is_empty() {
                    return Value::Null;
                }
                let mut v = vals.clone();
                v.sort_by(|a, b| a.total_cmp(b));
                let m = v.len() / 2;
                Value::Num(if v.len() % 2 == 1 {
                    v[m]
                } else {
                    (v[m - 1] + v[m]) / 2.0
                })
            }
        }
    }
}

/// The distinct aggregates a grouped query computes (select list, then ORDER BY).
pub(super) fn query_aggregates(sel: &Select) -> Vec<Aggregate> {
    let mut out: Vec<Aggregate> = Vec::new();
    let from_items = sel.items.iter().filter_map(|i| match i {
        SelectItem::Aggregate { agg, .. } => Some(*agg),
        _ => None,
    });
    let from_order = sel.order_by.iter().filter_map(|o| match o.key {
        OrderKey::Aggregate(a) => Some(a),
        _ => None,
    });
    for a in from_items.chain(from_order) {
        if !out.contains(&a) {
            out.push(a);
        }
    }
    out
}

/// A grouped query: one accumulator set per group, then sort and limit the groups.
fn select_grouped(
    sel: &Select,
    plan: &Plan,
    records: RecordIter<'_>,
) -> Result<Vec<Vec<Value>>, ExecError> {
    let aggs = query_aggregates(sel);
    let mut groups: BTreeMap<Vec<Key>, Vec<Acc>> = BTreeMap::new();
    for rec in records {
        let rec = rec?;
        if !passes(&plan.residual, &rec) {
            continue;
        }
        let key: Vec<Key> = sel
            .group_by
            .iter()
            .map(|f| Key(field_value(&rec, *f)))
            .collect();
        let accs = groups
            .entry(key)
            .or_insert_with(|| aggs.iter().map(Acc::new).collect());
        for (acc, agg) in accs.iter_mut().zip(&aggs) {
            acc.update(agg.arg.map(|f| field_value(&rec, f)));
        }
    }
    if sel.group_by.is_empty() && groups.is_empty() {
        // Aggregates over no rows still give one row (COUNT 0, the others NULL).
        groups.insert(Vec::new(), aggs.iter().map(Acc::new).collect());
    }
    let group_value = |key: &[Key], f: Field| {
        sel.group_by
            .iter()
            .position(|g| *g == f)
            .map_or(Value::Null, |i| key[i].0.clone())
    };
    let agg_value = |vals: &[Value], a: &Aggregate| {
        aggs.iter()
            .position(|x| x == a)
            .map_or(Value::Null, |i| vals[i].clone())
    };
    let item_value = |item: &SelectItem, key: &[Key], vals: &[Value]| match item {
        SelectItem::Field { field, .. } => group_value(key, *field),
        SelectItem::Aggregate { agg, .. } => agg_value(vals, agg),
        SelectItem::Star => Value::Null,
    };
    let mut entries: Vec<SortEntry<usize>> = Vec::with_capacity(groups.len());
    for (gi, (key, accs)) in groups.iter().enumerate() {
        let vals: Vec<Value> = accs.iter().map(Acc::finish).collect();
        let row: Vec<Value> = sel
            .items
            .iter()
            .map(|it| item_value(it, key, &vals))
            .collect();
        let keys = sel
            .order_by
            .iter()
            .map(|o| {
                let v = match &o.key {
                    OrderKey::Field(f) => group_value(key, *f),
                    OrderKey::Aggregate(a) => agg_value(&vals, a),
                    OrderKey::Alias(name) => sel
                        .item_by_alias(name)
                        .map_or(Value::Null, |(_, it)| item_value(it, key, &vals)),
                    OrderKey::Column(n) => {
                        row.get(n.saturating_sub(1)).cloned().unwrap_or(Value::Null)
                    }
                };
                (v, o.descending)
            })
            .collect();
        entries.push(SortEntry { keys, tie: gi, row });
    }
    if !sel.order_by.is_empty() {
        entries.sort();
    }
    Ok(apply_limit(
        entries.into_iter().map(|e| e.row).collect(),
        sel,
    ))
}

/// The ids selected by the HopQL text `query`, which must be one `SELECT` (any projection;
/// only its `WHERE` and `LIMIT` matter), in id order: how a caller turns a user's query into
/// the ids that a library operation (a BVSE corpus run, an export) takes.
pub fn select_ids(store: &Store, query: &str) -> Result<Vec<String>, ExecError> {
    match super::parser::parse_statement(query)? {
        super::ast::Statement::Select(sel) => selected_ids(store, &sel),
        other => Err(ExecError::NotSelect(crate::input::quote(&other.to_string()))),
    }
}

/// The ids a query selects, in id order (the query of a split, or of `PREDICT ... FOR`).
pub(crate) fn selected_ids(store: &Store, sel: &Select) -> Result<Vec<String>, ExecError> {
    if sel.is_aggregate() {
        return Err(crate::split::SplitError::Invalid("the query of a split must select hops, not groups or aggregates".into()).into());
    }
    let id = Field::lookup("id").expect("id is a field");
    let q = Select { items: vec![SelectItem::Field { field: id, alias: None }], order_by: vec![], ..sel.clone() };
    let t = run_select(store, &q, false)?;
    let mut ids: Vec<String> = t.rows.into_iter().filter_map(|r| match r.into_iter().next() {
        Some(Value::Str(s)) => Some(s),
        _ => None,
    }).collect();
    ids.sort();
    ids.dedup();
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::*;
    use crate::query::predicate::eval;
    use crate::import::{commit, ImportOptions};
    use crate::query::parser::parse_statement;

    fn store(n: usize) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::create(dir.path().join("db")).unwrap();
        let cands = crate::synthetic::bvse_like_corpus(n, 7);
        commit(&s, cands, Vec::new(), &ImportOptions::default(), "test").unwrap();
        (dir, s)
    }

    fn sel(src: &str) -> Select {
        match parse_statement(src).unwrap_or_else(|e| panic!("{e}")) {
            Statement::Select(s) | Statement::Explain(s) => s,
            other => panic!("not a select: {other:?}"),
        }
    }

    fn run(s: &Store, src: &str) -> ResultTable {
        query(s, src).unwrap_or_else(|e| panic!("{src}: {e}"))
    }

    #[test]
    fn index_paths_agree_with_full_scans() {
        let (_d, s) = store(60);
        let queries = [
            "SELECT id, ion, em FROM hops WHERE ion = 'Li'",
            "SELECT id FROM hops WHERE ion IN ('Li', 'Na') AND em < 1",
            "SELECT id FROM hops WHERE elements HAS 'O'",
            "SELECT id FROM hops WHERE elements HAS ALL 'O', 'Mn'",
            "SELECT id FROM hops WHERE elements HAS ANY 'S', 'Se'",
            "SELECT id FROM hops WHERE elements HAS ONLY 'Li', 'O', 'Mn', 'Fe'",
            "SELECT id FROM hops WHERE ion = 'Li' OR elements HAS 'S'",
            "SELECT id FROM hops WHERE ion = 'Li' AND elements HAS 'Zz'",
            "SELECT id FROM hops WHERE fidelity = 'bvse' AND ion = 'Na' ORDER BY em DESC LIMIT 3",
            "SELECT ion, COUNT(*), AVG(em) FROM hops WHERE elements HAS 'F' GROUP BY ion",
            "SELECT id FROM hops WHERE fidelity = 'BVSE'",
            "SELECT id FROM hops WHERE em < 0.5",
            "SELECT id FROM hops WHERE em <= 0.5 AND ion = 'Mg'",
            "SELECT id FROM hops WHERE 0.5 < em AND em >= 0.2 AND hop_length > 2",
            "SELECT id FROM hops WHERE em BETWEEN 0.3 AND 0.9 ORDER BY em",
            "SELECT id FROM hops WHERE em = 0.5 OR ion = 'Li'",
            "SELECT id FROM hops WHERE em > 100",
            // Composite (field, em) probes: merged intervals, ties of bounds, empty
            // intervals, IN lists and ORs of one field, two composite fields at once.
            "SELECT id, em FROM hops WHERE ion = 'Mg' AND em < 0.6",
            "SELECT id FROM hops WHERE em >= 0.2 AND ion IN ('Li', 'Mg') AND em <= 0.9 ORDER BY em",
            "SELECT id FROM hops WHERE ion = 'Na' AND em > 0.4 AND em >= 0.4",
            "SELECT id FROM hops WHERE ion = 'Na' AND em < 0.4 AND em <= 0.4",
            "SELECT id FROM hops WHERE ion = 'Na' AND em > 0.7 AND em < 0.3",
            "SELECT id FROM hops WHERE (ion = 'Ca' OR ion = 'K') AND em BETWEEN 0.2 AND 0.8",
            "SELECT id FROM hops WHERE fidelity = 'bvse' AND ion = 'Zn' AND em < 0.8",
            "SELECT id FROM hops WHERE ion = 'Li' AND em = 0.5",
            "SELECT id FROM hops WHERE ion = 'Li' AND em < 0.9 AND hop_length < 3 AND elements HAS 'O'",
            "SELECT ion, COUNT(*), MIN(em) FROM hops WHERE source = 'synthetic' AND em > 0.3 GROUP BY ion",
            "SELECT id FROM hops WHERE ion = 'Li' AND NOT em < 0.5",
            // Counted from index or primary keys, without reading a record.
            "SELECT COUNT(*) FROM hops WHERE ion = 'Mg'",
            "SELECT COUNT(*), COUNT(*) FROM hops WHERE ion = 'Li' AND em < 0.5",
            "SELECT COUNT(*) FROM hops WHERE ion IN ('Ca', 'K') AND elements HAS 'O'",
            "SELECT COUNT(*) FROM hops",
            "SELECT COUNT(*) FROM hops LIMIT 1 OFFSET 1",
            "SELECT COUNT(*) FROM hops WHERE id IN ('synthetic:host000001_hop00', 'nope')",
            "SELECT COUNT(*) FROM hops WHERE ion = 'Xe'",
        ];
        for q in queries {
            let Ok(stmt) = parse_statement(q) else {
                continue;
            };
            let Statement::Select(sq) = stmt else {
                unreachable!()
            };
            let a = run_select(&s, &sq, false).unwrap();
            let b = run_select(&s, &sq, true).unwrap();
            assert_eq!(a, b, "{q}");
        }
        let ids = run(&s, "SELECT id FROM hops LIMIT 2");
        let Value::Str(first) = &ids.rows[0][0] else {
            panic!()
        };
        let t = run(
            &s,
            &format!("SELECT id FROM hops WHERE id = '{first}' AND id IN ('{first}', 'x')"),
        );
        assert_eq!(t.rows, vec![vec![Value::Str(first.clone())]]);
        let p = plan::plan(
            &s,
            &sel(&format!(
                "SELECT * FROM hops WHERE id = '{first}' AND em > 0"
            )),
        )
        .unwrap();
        assert!(matches!(p.access, Access::PrimaryKey { .. }));
        assert_eq!(p.residual.len(), 1);
    }

    #[test]
    fn composite_probes_answer_both_conditions_and_follow_edits() {
        let (_d, s) = store(120);
        let q = "SELECT id, em FROM hops WHERE ion = 'Mg' AND em < 0.6 AND em > 0.1";
        let p = plan::plan(&s, &sel(q)).unwrap();
        let Access::Index { probes } = &p.access else { panic!("{p:?}") };
        assert_eq!(probes.len(), 1, "{p:?}");
        assert!(matches!(probes[0].terms.as_slice(), [plan::Term::EqRange(..)]), "{p:?}");
        assert_eq!(probes[0].describe(), "ion = 'Mg' AND em > 0.1 AND em < 0.6");
        assert!(p.residual.is_empty(), "the composite probe answers all three conjuncts: {p:?}");
        let before = run(&s, q);
        assert!(!before.rows.is_empty(), "the synthetic store has Mg hops in (0.1, 0.6)");
        // Move one matching record out of the interval: its old composite key must go.
        let Value::Str(id) = &before.rows[0][0] else { panic!() };
        s.edit(id, &[crate::record::Edit::Em(5.0)], "test").unwrap();
        let after = run(&s, q);
        assert_eq!(after.rows.len(), before.rows.len() - 1);
        assert!(after.rows.iter().all(|r| r[0] != Value::Str(id.clone())));
        let Statement::Select(sq) = parse_statement(q).unwrap() else { unreachable!() };
        assert_eq!(run_select(&s, &sq, false).unwrap(), run_select(&s, &sq, true).unwrap());
        let moved = run(&s, "SELECT id FROM hops WHERE ion = 'Mg' AND em > 4");
        assert!(moved.rows.contains(&vec![Value::Str(id.clone())]), "{moved:?}");
    }

    #[test]
    fn planner_picks_the_most_selective_probe() {
        let (_d, s) = store(60);
        let p = plan::plan(
            &s,
            &sel("SELECT * FROM hops WHERE elements HAS ALL 'O', 'Mn' AND em < 1"),
        )
        .unwrap();
        let Access::Index { probes } = &p.access else {
            panic!("{p:?}")
        };
        assert!(probes.windows(2).all(|w| w[0].estimate <= w[1].estimate));
        // `em < 1` has a range index: a probe, or residual when it is not selective enough.
        assert!(p.residual.len() <= 1, "{p:?}");
        assert_eq!(probes.len() + p.residual.len(), 3, "{p:?}");
        // HAS ONLY keeps its residual check.
        let p = plan::plan(
            &s,
            &sel("SELECT * FROM hops WHERE elements HAS ONLY 'Zn', 'Ti', 'S'"),
        )
        .unwrap();
        assert_eq!(p.residual.len(), 1, "{p:?}");
        // fidelity = 'bvse' covers everything: full scan.
        let p = plan::plan(&s, &sel("SELECT * FROM hops WHERE fidelity = 'bvse'")).unwrap();
        assert_eq!(p.access, Access::FullScan);
        assert_eq!(p.estimated_rows, 60);
    }

    #[test]
    fn null_semantics() {
        let (_d, s) = store(20);
        // partition is NULL for every synthetic record.
        assert_eq!(
            run(&s, "SELECT COUNT(*) FROM hops WHERE partition = 'train'").rows[0][0],
            Value::Int(0)
        );
        assert_eq!(
            run(
                &s,
                "SELECT COUNT(*) FROM hops WHERE NOT (partition = 'train')"
            )
            .rows[0][0],
            Value::Int(0)
        );
        assert_eq!(
            run(&s, "SELECT COUNT(*) FROM hops WHERE partition IS NULL").rows[0][0],
            Value::Int(20)
        );
        assert_eq!(
            run(
                &s,
                "SELECT COUNT(*) FROM hops WHERE partition = 'x' OR em >= 0"
            )
            .rows[0][0],
            Value::Int(20)
        );
        assert_eq!(
            run(&s, "SELECT COUNT(partition), COUNT(*) FROM hops").rows[0],
            vec![Value::Int(0), Value::Int(20)]
        );
        // Aggregates over nothing.
        let t = run(
            &s,
            "SELECT COUNT(*), AVG(em), SUM(natoms), STDDEV(em), MEDIAN(em) FROM hops WHERE em < 0",
        );
        assert_eq!(
            t.rows,
            vec![vec![
                Value::Int(0),
                Value::Null,
                Value::Null,
                Value::Null,
                Value::Null
            ]]
        );
        assert!(run(
            &s,
            "SELECT ion, COUNT(*) FROM hops WHERE em < 0 GROUP BY ion"
        )
        .rows
        .is_empty());
        // NULL is a group of its own.
        let t = run(
            &s,
            "SELECT partition, COUNT(*) FROM hops GROUP BY partition",
        );
        assert_eq!(t.rows, vec![vec![Value::Null, Value::Int(20)]]);
    }

    #[test]
    fn aggregates_match_hand_computation() {
        let (_d, s) = store(30);
        let ems: Vec<f64> = s.records().map(|r| r.unwrap().em).collect();
        let n = ems.len() as f64;
        let mean = ems.iter().sum::<f64>() / n;
        let sd = (ems.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
        let mut sorted = ems.clone();
        sorted.sort_by(f64::total_cmp);
        let median = (sorted[14] + sorted[15]) / 2.0;
        let t = run(
            &s,
            "SELECT COUNT(em), AVG(em), MIN(em), MAX(em), STDDEV(em), MEDIAN(em) FROM hops",
        );
        let num = |v: &Value| as_f64(v).unwrap();
        assert_eq!(t.rows[0][0], Value::Int(30));
        assert!((num(&t.rows[0][1]) - mean).abs() < 1e-12);
        assert_eq!(num(&t.rows[0][2]), sorted[0]);
        assert_eq!(num(&t.rows[0][3]), sorted[29]);
        assert!((num(&t.rows[0][4]) - sd).abs() < 1e-12);
        assert_eq!(num(&t.rows[0][5]), median);
        let t = run(&s, "SELECT SUM(natoms), MIN(natoms) FROM hops");
        assert!(matches!(t.rows[0][0], Value::Int(_)));
        assert!(matches!(t.rows[0][1], Value::Int(_)));
    }

    #[test]
    fn order_limit_and_ties() {
        let (_d, s) = store(40);
        let all = run(&s, "SELECT id, em FROM hops ORDER BY em DESC, id");
        let top = run(
            &s,
            "SELECT id, em FROM hops ORDER BY em DESC LIMIT 5 OFFSET 3",
        );
        assert_eq!(top.rows, all.rows[3..8].to_vec());
        // Ties broken by id: sorting by a constant column gives id order.
        let by_fid = run(&s, "SELECT id FROM hops ORDER BY fidelity LIMIT 4");
        let by_id = run(&s, "SELECT id FROM hops LIMIT 4");
        assert_eq!(by_fid.rows, by_id.rows);
        let col = run(&s, "SELECT id, em AS e FROM hops ORDER BY 2 DESC LIMIT 5");
        let alias = run(&s, "SELECT id, em AS e FROM hops ORDER BY e DESC LIMIT 5");
        assert_eq!(col.rows, alias.rows);
        assert_eq!(col.rows, all.rows[..5].to_vec());
        assert!(run(&s, "SELECT id FROM hops LIMIT 0").rows.is_empty());
        let g = run(
            &s,
            "SELECT ion, COUNT(*) AS n FROM hops GROUP BY ion ORDER BY n DESC, ion LIMIT 2",
        );
        assert_eq!(g.rows.len(), 2);
        let g_all = run(&s, "SELECT ion, COUNT(*) FROM hops GROUP BY ion");
        let names: Vec<String> = g_all.rows.iter().map(|r| r[0].to_string()).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted, "groups come in key order");
    }

    #[test]
    fn three_valued_logic_and_has() {
        let (_d, s) = store(10);
        let r = s.records().next().unwrap().unwrap();
        let t = |e: &str| eval(&super::super::parse_expr(e).unwrap(), &r);
        assert_eq!(t("partition = 'train'"), None);
        assert_eq!(t("NOT partition = 'train'"), None);
        assert_eq!(t("partition = 'train' AND em < 0"), Some(false));
        assert_eq!(t("partition = 'train' OR em >= 0"), Some(true));
        assert_eq!(t("partition IN ('a', 'b')"), None);
        assert_eq!(t("partition LIKE '%'"), None);
        assert_eq!(t("partition IS NULL"), Some(true));
        assert_eq!(t("flags HAS 'x'"), Some(false));
        assert_eq!(t("NOT flags HAS 'x'"), Some(true));
        assert_eq!(t("flags HAS ONLY 'x'"), Some(false));
        assert_eq!(t("flags IS NULL"), Some(r.flags.is_empty()));
        assert_eq!(t("natoms = 97.0"), Some(r.host_natoms + 1 == 97));
        assert_eq!(t("em BETWEEN 0 AND 100"), Some(true));
        assert_eq!(t("em NOT BETWEEN 0 AND 100"), Some(false));
    }

    #[test]
    fn statement_boundaries() {
        let src = "SELECT 'a;b' FROM hops; -- c;\n\n  DESCRIBE hops ;;";
        let spans = statement_spans(src);
        assert_eq!(spans.len(), 2);
        assert_eq!(spans[0].text(src), "SELECT 'a;b' FROM hops");
        assert_eq!(spans[1].text(src), "DESCRIBE hops");
        assert!(is_complete(src));
        assert!(!is_complete("SELECT * FROM hops"));
        assert!(!is_complete("SELECT * FROM hops WHERE x = ';"));
        assert!(!is_complete("SELECT * FROM hops -- ;"));
        assert!(is_complete("SELECT * FROM hops; -- done"));
    }

    #[test]
    fn scripts_name_the_failing_statement() {
        let (_d, s) = store(5);
        let out = run_script(&s, "SELECT COUNT(*) FROM hops;\nDESCRIBE hops;").unwrap();
        assert_eq!(out.len(), 2);
        let src = "SELECT COUNT(*) FROM hops;\n-- second\nSELECT emm\nFROM hops;\nSELECT 1";
        let e = run_script(&s, src).unwrap_err();
        assert_eq!((e.statement, e.line), (2, 3));
        assert_eq!(e.text, "SELECT emm FROM hops");
        let msg = e.to_string();
        assert!(
            msg.starts_with(
                "statement 2 at line 3 failed: SELECT emm FROM hops\nerror: unknown field 'emm'"
            ),
            "{msg}"
        );
        assert!(msg.contains("\n3 | SELECT emm\n"), "{msg}");
        let e = run_script(&s, "SELECT * FROM hops;\nSELECT * FROM").unwrap_err();
        assert_eq!((e.statement, e.line), (2, 2));
    }

    #[test]
    fn explain_describe_stats() {
        let (_d, s) = store(20);
        let t = run(&s, "EXPLAIN SELECT ion, COUNT(*) FROM hops WHERE elements HAS 'O' AND em < 1 GROUP BY ion ORDER BY 2 DESC LIMIT 3");
        let ops: Vec<String> = t.rows.iter().map(|r| r[1].to_string()).collect();
        assert_eq!(ops.last().map(String::as_str), Some("project"));
        assert!(
            ops.contains(&"filter".to_string()) && ops.contains(&"aggregate".to_string()),
            "{ops:?}"
        );
        let d = run(&s, "DESCRIBE hops");
        assert_eq!(d.rows.len(), FIELDS.len());
        assert_eq!(d.rows[0][3], Value::Int(20));
        let st = run(&s, "SHOW STATS");
        assert!(st
            .rows
            .iter()
            .any(|r| r[1] == Value::Str("hops".into()) && r[2] == Value::Int(20)));
    }
}

