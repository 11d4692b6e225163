//! Tables describing splits, for `SHOW SPLIT` and `SHOW SPLITS`.

use super::{list, Result, Split, NO_GROUP};
use crate::store::Store;
use crate::table::{ResultTable, Value};
use std::collections::BTreeMap;

/// Group shown for split members that are no longer records of the store.
pub const MISSING_RECORD: &str = "(missing record)";

/// One-line description of a split: name, algorithm, seed, size, fingerprint.
pub fn describe(split: &Split) -> String {
    let seed = split.seed.map_or_else(|| "no seed".to_string(), |s| format!("seed {s}"));
    let name = if split.name.is_empty() { "(unnamed)" } else { split.name.as_str() };
    format!("split '{name}': {}, {seed}, {} ids, fingerprint {}", split.algorithm, split.all_ids().len(), split.fingerprint)
}

/// Per-group member counts of a split: one row per normalised group of the member records
/// (`(none)` without a group, `(missing record)` for ids not in the store), one column per
/// partition in the order of [`Split::partition_names`], then the number of distinct ids; a
/// final `TOTAL` row. The title carries the fingerprint (see [`describe`]).
pub fn summary_table(split: &Split, store: &Store) -> Result<ResultTable> {
    let mut group_of: BTreeMap<&str, String> = BTreeMap::new();
    for id in split.all_ids() {
        let g = match store.get(id)? {
            Some(r) => r.material.group.clone().unwrap_or_else(|| NO_GROUP.to_string()),
            None => MISSING_RECORD.to_string(),
        };
        group_of.insert(id, g);
    }
    let parts = split.partition_names();
    // group -> (count per partition, distinct ids)
    let mut counts: BTreeMap<&str, (Vec<i64>, i64)> = BTreeMap::new();
    for g in group_of.values() {
        counts.entry(g.as_str()).or_insert_with(|| (vec![0; parts.len()], 0)).1 += 1;
    }
    for (k, p) in parts.iter().enumerate() {
        for id in split.partition(p) {
            counts.get_mut(group_of[id.as_str()].as_str()).expect("every id has a group").0[k] += 1;
        }
    }
    let mut cols: Vec<&str> = vec!["group"];
    cols.extend(parts.iter().copied());
    cols.push("total");
    let mut t = ResultTable::new(&cols).titled(describe(split));
    let mut totals = vec![0i64; parts.len()];
    for (g, (c, n)) in &counts {
        let mut row = vec![Value::Str(g.to_string())];
        for (k, x) in c.iter().enumerate() {
            totals[k] += x;
            row.push(Value::Int(*x));
        }
        row.push(Value::Int(*n));
        t.push(row);
    }
    let mut row = vec![Value::Str("TOTAL".into())];
    row.extend(totals.into_iter().map(Value::Int));
    row.push(Value::Int(group_of.len() as i64));
    t.push(row);
    Ok(t)
}

/// The stored splits: name, algorithm, seed, partition sizes, distinct ids, fingerprint,
/// creation time and query.
pub fn list_table(store: &Store) -> Result<ResultTable> {
    let mut t = ResultTable::new(&["name", "algorithm", "seed", "partitions", "ids", "fingerprint", "created_at", "data_version", "query"]);
    for s in list(store)? {
        let sizes = s.partition_names().iter().map(|p| format!("{p} {}", s.partition(p).len())).collect::<Vec<_>>().join(", ");
        t.push(vec![
            Value::Str(s.name.clone()),
            Value::Str(s.algorithm.as_str().into()),
            s.seed.map_or(Value::Null, |x| i64::try_from(x).map_or_else(|_| Value::Str(x.to_string()), Value::Int)),
            Value::Str(sizes),
            Value::Int(s.all_ids().len() as i64),
            Value::Str(s.fingerprint.clone()),
            Value::Str(s.created_at.clone()),
            s.data_version.map_or(Value::Null, |v| Value::Int(v as i64)),
            if s.query.is_empty() { Value::Null } else { Value::Str(s.query.clone()) },
        ]);
    }
    Ok(t)
}
