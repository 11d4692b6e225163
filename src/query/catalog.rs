//! Statements about the store and the query rather than its records: `EXPLAIN` (the plan a
//! SELECT would use), `DESCRIBE` (the fields of a table), `SHOW STATS`.

use super::ast::{Select, Table};
use super::error::ExecError;
use super::fields::{Field, FIELDS};
use super::predicate::field_value;
use super::select::{output_columns, query_aggregates, row_budget};
use super::plan::{self, Access};
use crate::store::Store;
use crate::table::{ResultTable, Value};

fn quote_list(ids: &[String]) -> String {
    ids.iter()
        .map(|s| super::print::quote_string(s))
        .collect::<Vec<_>>()
        .join(", ")
}

fn order_text(sel: &Select) -> String {
    sel.order_by
        .iter()
        .map(|o| o.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The plan of a `SELECT` as a table with columns `step`, `operation`, `detail`, `rows`
/// (estimated rows where known): access path, residual filters, aggregation, sort, limit and
/// projection, in the order they run.
pub fn explain(store: &Store, sel: &Select) -> Result<ResultTable, ExecError> {
    let plan = plan::plan(store, sel)?;
    let mut steps = Steps {
        t: ResultTable::new(&["step", "operation", "detail", "rows"]),
        step: 0,
    };
    access_steps(&mut steps, &plan);
    if let Some(a) = &sel.as_of {
        let v = super::select::resolve_as_of(store, a)?;
        let changed = store.changes_after(v)?.len();
        let detail = if changed == 0 {
            format!("data version {v}: no record changed since, the query runs on the store as it is")
        } else {
            format!("data version {v}: {changed} record(s) written since are read in their state then, from the history; every condition is checked on every record")
        };
        steps.add("as of", detail, Some(changed));
    }
    for (p, why) in &plan.skipped {
        steps.add(
            "index not used",
            format!("{}: {why}", p.describe()),
            Some(p.estimate),
        );
    }
    for r in &plan.residual {
        steps.add("filter", r.to_string(), None);
    }
    if sel.is_aggregate() {
        aggregate_steps(&mut steps, sel);
    } else if !sel.order_by.is_empty() {
        match row_budget(sel) {
            Some(k) => steps.add(
                "top-n sort",
                format!(
                    "keep the first {k} rows by {}, then id (bounded heap)",
                    order_text(sel)
                ),
                None,
            ),
            None => steps.add(
                "sort",
                format!("{}, then id", order_text(sel)),
                None,
            ),
        }
    }
    if let Some(l) = sel.limit {
        let detail = if sel.order_by.is_empty() && !sel.is_aggregate() {
            format!(
                "{} rows after skipping {} (stops reading early)",
                l.count, l.offset
            )
        } else {
            format!("{} rows after skipping {}", l.count, l.offset)
        };
        steps.add("limit", detail, None);
    }
    steps.add("project", output_columns(sel).join(", "), None);
    Ok(steps.t)
}

/// The `EXPLAIN` table being built, with the number of its last step.
struct Steps {
    t: ResultTable,
    step: i64,
}

impl Steps {
    /// Append the next step: its operation, detail and estimated rows (if known).
    fn add(&mut self, op: &str, detail: String, rows: Option<usize>) {
        self.step += 1;
        self.t.push(vec![
            Value::Int(self.step),
            Value::Str(op.to_string()),
            Value::Str(detail),
            rows.map_or(Value::Null, |n| Value::Int(n as i64)),
        ]);
    }
}

/// The steps of the plan's access path: a full scan, a primary-key read, or index probes
/// followed by the fetch by id.
fn access_steps(steps: &mut Steps, plan: &plan::Plan) {
    match &plan.access {
        Access::FullScan => steps.add(
            "full scan",
            "every record, in id order".to_string(),
            Some(plan.estimated_rows),
        ),
        Access::PrimaryKey { ids } => steps.add(
            "primary key",
            if ids.len() == 1 {
                format!("id = {}", quote_list(ids))
            } else {
                format!("id IN ({})", quote_list(ids))
            },
            Some(ids.len()),
        ),
        Access::Index { probes } => {
            for (i, p) in probes.iter().enumerate() {
                let op = if i == 0 {
                    "index probe"
                } else {
                    "index intersect"
                };
                steps.add(op, p.describe(), Some(p.estimate));
            }
            steps.add(
                "fetch",
                "records by id, in id order".to_string(),
                Some(plan.estimated_rows),
            );
        }
    }
}

/// The aggregation step of a grouped query, and the sort of its groups when ordered.
fn aggregate_steps(steps: &mut Steps, sel: &Select) {
    let aggs: Vec<String> = query_aggregates(sel)
        .iter()
        .map(|a| a.to_string())
        .collect();
    let detail = if sel.group_by.is_empty() {
        format!("one group: {}", aggs.join(", "))
    } else {
        let g: Vec<&str> = sel.group_by.iter().map(|f| f.name()).collect();
        format!("GROUP BY {}: {}", g.join(", "), aggs.join(", "))
    };
    steps.add("aggregate", detail, None);
    if !sel.order_by.is_empty() {
        steps.add(
            "sort",
            format!("groups by {}, then group key", order_text(sel)),
            None,
        );
    }
}

/// The fields of the `hops` table (`field`, `type`, `indexed`, `doc`), without reading the
/// store: what the REPL's `.schema` prints.
pub fn fields_table() -> ResultTable {
    let mut t = ResultTable::new(&["field", "type", "indexed", "doc"]);
    for d in FIELDS {
        t.push(vec![
            Value::Str(d.name.to_string()),
            Value::Str(d.ty.name().to_string()),
            Value::Bool(d.indexed),
            Value::Str(d.doc.to_string()),
        ]);
    }
    t
}

/// `DESCRIBE hops`: every field with its type, whether it is indexed, how many records have
/// a value (one scan of the store), and its documentation.
pub fn describe(store: &Store, table: Table) -> Result<ResultTable, ExecError> {
    let Table::Hops = table;
    let fields: Vec<Field> = Field::all().collect();
    let mut non_null = vec![0i64; fields.len()];
    for rec in store.records() {
        let rec = rec?;
        for (n, f) in non_null.iter_mut().zip(&fields) {
            if field_value(&rec, *f) != Value::Null {
                *n += 1;
            }
        }
    }
    let mut t = ResultTable::new(&["field", "type", "indexed", "non_null", "doc"]);
    for (f, n) in fields.iter().zip(non_null) {
        let d = f.def();
        t.push(vec![
            Value::Str(d.name.to_string()),
            Value::Str(d.ty.name().to_string()),
            Value::Bool(d.indexed),
            Value::Int(n),
            Value::Str(d.doc.to_string()),
        ]);
    }
    Ok(t)
}

/// `SHOW STATS`: the figures of `hopdb stats` ([`crate::stats::compute`]) as one table with
/// columns `section`, `key`, `value`: one row per line of each statistics table.
pub fn show_stats(store: &Store) -> Result<ResultTable, ExecError> {
    let st = crate::stats::compute(store)?;
    let mut t = ResultTable::new(&["section", "key", "value"]);
    for part in st.tables() {
        let section = part.title.clone().unwrap_or_default();
        for row in part.rows {
            let mut it = row.into_iter();
            let k = it.next().unwrap_or(Value::Null);
            let v = it.next().unwrap_or(Value::Null);
            t.push(vec![Value::Str(section.clone()), k, v]);
        }
    }
    Ok(t)
}
