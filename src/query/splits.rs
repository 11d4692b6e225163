//! Execution of the split statements (`CREATE SPLIT`, `SHOW SPLITS`, `SHOW SPLIT`,
//! `DROP SPLIT`, `EXPORT SPLIT`, `SCENARIOS OF SPLIT`): a thin layer over [`crate::split`]
//! and [`crate::scenario`].

use super::ast::{CreateSplit, SplitExportFormat, SplitMethod, SplitSource, Statement};
use super::error::ExecError;
use super::select::selected_ids;
use crate::record::HopRecord;
use crate::split::{self, SplitError, Stratum, StratifiedOptions};
use crate::store::Store;
use crate::table::{ResultTable, Value};

/// Default seed when `SEED` is not given (stated in the split's parameters).
pub const DEFAULT_SEED: u64 = 0;

/// Run a split statement.
pub fn execute(store: &Store, stmt: &Statement) -> Result<ResultTable, ExecError> {
    match stmt {
        Statement::CreateSplit(c) => create(store, c),
        Statement::ShowSplits => Ok(split::list_table(store)?),
        Statement::ShowSplit(name) => show_split(store, name),
        Statement::DropSplit(name) => {
            split::drop_split(store, name)?;
            let mut t = ResultTable::new(&["dropped"]);
            t.push(vec![Value::Str(name.clone())]);
            Ok(t)
        }
        Statement::ExportSplit { name, path, format: Some(f @ (SplitExportFormat::Alignn | SplitExportFormat::Extxyz)), view } => {
            let s = split::load(store, name)?;
            let summary = crate::export::split::export(store, &s, *f, view.unwrap_or_default(), std::path::Path::new(path))?;
            Ok(summary.table())
        }
        Statement::ExportSplit { name, path, format, .. } => {
            let s = split::load(store, name)?;
            let csv = match format {
                Some(f) => *f == SplitExportFormat::Csv,
                None => path.to_ascii_lowercase().ends_with(".csv"),
            };
            let text = if csv { split::export_csv(&s) } else { split::export_json(&s) };
            std::fs::write(path, text).map_err(|e| ExecError::Io { path: path.clone(), source: e })?;
            let mut t = ResultTable::new(&["split", "file", "ids", "fingerprint"]);
            t.push(vec![Value::Str(name.clone()), Value::Str(path.clone()), Value::Int(s.all_ids().len() as i64), Value::Str(s.fingerprint.clone())]);
            Ok(t)
        }
        Statement::Scenarios(name) => scenarios(store, name),
        other => unreachable!("not a split statement: {other}"),
    }
}

fn create(store: &Store, c: &CreateSplit) -> Result<ResultTable, ExecError> {
    split::validate_name(&c.name)?;
    if split::exists(store, &c.name)? {
        return Err(SplitError::Exists(c.name.clone()).into());
    }
    let seed = c.seed.unwrap_or(DEFAULT_SEED);
    if let SplitSource::Ids { train, test } = &c.source {
        let s = split::from_ids(train, test)?.named(&c.name).from_query(c.source_text());
        let unknown = split::unknown_ids(store, &s)?;
        if !unknown.is_empty() {
            return Err(SplitError::Invalid(format!("{} id(s) are not in the store: {}", unknown.len(), unknown.join(", "))).into());
        }
        split::save(store, &s, false)?;
        return Ok(split::summary_table(&s, store)?);
    }
    if let SplitSource::LearningCurve { base, sizes } = &c.source {
        let b = split::load(store, base)?;
        let sizes: Vec<usize> = sizes.iter().map(|x| x.map_or(split::ALL, |n| usize::try_from(n).unwrap_or(usize::MAX - 1))).collect();
        let mut s = split::learning_curve(b.train(), &sizes, seed)?;
        // Keep the base split's test partition, so every subset is evaluated on the same hops.
        s.partitions.insert("test".to_string(), b.test().to_vec());
        let s = split::Split::new(s.algorithm, s.params.clone(), s.seed, s.partitions.clone())
            .with_param("base_fingerprint", b.fingerprint.clone())
            .named(&c.name)
            .from_query(c.source_text());
        split::save(store, &s, false)?;
        return Ok(split::summary_table(&s, store)?);
    }
    let (records, query_text): (Vec<HopRecord>, String) = match &c.source {
        SplitSource::Partition => (store.records().collect::<Result<_, _>>()?, "PARTITION".to_string()),
        SplitSource::Ids { .. } | SplitSource::LearningCurve { .. } => unreachable!("handled above"),
        SplitSource::Query(q) => {
            let ids = selected_ids(store, q)?;
            // A query AS OF an earlier version splits the records as they were then.
            let mut then = match &q.as_of {
                Some(a) => store.changes_after(super::select::resolve_as_of(store, a)?)?,
                None => Default::default(),
            };
            let recs = ids
                .iter()
                .map(|id| match then.remove(id) {
                    Some(Some(old)) => Ok(old),
                    _ => store.record(id),
                })
                .collect::<Result<_, _>>()?;
            (recs, q.to_string())
        }
    };
    let selected_at = match &c.source {
        SplitSource::Query(q) if q.as_of.is_some() => super::select::resolve_as_of(store, q.as_of.as_ref().expect("checked"))?,
        _ => store.version()?.seq,
    };
    if records.is_empty() {
        return Err(SplitError::Invalid(format!("the query selects no hops: {query_text}")).into());
    }
    let by_class = matches!(c.method, Some(SplitMethod::Stratified { by_class: true }));
    let stratum = if by_class { Stratum::Class } else { Stratum::Group };
    let items = split::items_from_records(&records, stratum);
    let mut s = match (&c.source, c.method) {
        (SplitSource::Partition, None) => split::from_partition(&records)?,
        (_, None) | (_, Some(SplitMethod::Stratified { .. })) => {
            let d = StratifiedOptions::default();
            let opts = StratifiedOptions {
                test_fraction: c.test.unwrap_or(d.test_fraction),
                one_hop_band: (c.min_group.unwrap_or(d.one_hop_band.0), c.one_hop.unwrap_or(d.one_hop_band.1)),
                exclude_below: c.min_group.unwrap_or(d.exclude_below),
                seed,
            };
            split::stratified(&items, &opts)?.with_param("stratify_by", stratum.as_str())
        }
        (_, Some(SplitMethod::Random)) => split::random(&items, c.test.unwrap_or(0.1), seed)?,
        (_, Some(SplitMethod::KFold { k, grouped })) => {
            let k = usize::try_from(k).map_err(|_| SplitError::Invalid("too many folds".into()))?;
            if grouped {
                split::grouped_kfold(&items, k, seed)?
            } else {
                split::kfold(&items, k, seed)?
            }
        }
        (_, Some(SplitMethod::LeaveOneGroupOut)) => split::leave_one_group_out(&items)?.with_param("stratify_by", stratum.as_str()),
    };
    if let Some(v) = c.validation {
        if s.partition("train").is_empty() {
            return Err(SplitError::Invalid("VALIDATION needs a split with a train partition".into()).into());
        }
        s = split::add_validation(&s, &items, v, seed, true)?;
    }
    let s = s.named(&c.name).from_query(query_text).at_version(selected_at);
    split::save(store, &s, false)?;
    Ok(split::summary_table(&s, store)?)
}

/// How a split's query answers today compared with its members ([`split_drift`]).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct SplitDrift {
    /// The data version the split was made at (None: not recorded).
    pub made_at: Option<u64>,
    /// The store's data version now.
    pub now: u64,
    /// Ids the split's query selects today that the split does not hold (None: the split was
    /// not made from a re-runnable query).
    pub added: Option<Vec<String>>,
    /// Member ids the query no longer selects (removed, or edited out of its condition).
    pub dropped: Option<Vec<String>>,
    /// Member ids whose records changed since the split was made.
    pub changed: Vec<String>,
}

impl SplitDrift {
    /// One line for `SHOW SPLIT`.
    pub fn summary(&self) -> String {
        let made = self.made_at.map_or_else(|| "at an unrecorded data version".to_string(), |v| format!("at data version {v}"));
        let query = match (&self.added, &self.dropped) {
            (Some(a), Some(d)) if a.is_empty() && d.is_empty() => "its query selects the same hops today".to_string(),
            (Some(a), Some(d)) => format!("its query now selects {} more and {} fewer hops (the split is unchanged)", a.len(), d.len()),
            _ => "its source is not a re-runnable query".to_string(),
        };
        let changed = if self.changed.is_empty() { String::new() } else { format!("; {} member hop(s) changed since", self.changed.len()) };
        format!("made {made} (now {}); {query}{changed}", self.now)
    }
}

/// Whether the split's query would select different ids today, and which members changed
/// since it was made; the split itself is not touched.
pub fn split_drift(store: &Store, s: &split::Split) -> Result<SplitDrift, ExecError> {
    let now = store.version()?.seq;
    let members: std::collections::BTreeSet<String> = s.all_ids().into_iter().map(|x| x.to_string()).collect();
    let (mut added, mut dropped) = (None, None);
    if let Ok(super::ast::Statement::Select(mut sel)) = super::parser::parse_statement(&s.query) {
        // Today's answer of the query, even when it was pinned with AS OF.
        sel.as_of = None;
        let today: std::collections::BTreeSet<String> = selected_ids(store, &sel)?.into_iter().collect();
        added = Some(today.difference(&members).cloned().collect());
        dropped = Some(members.difference(&today).cloned().collect());
    }
    let changed = match s.data_version {
        Some(v) if v >= store.history_from()? => store.changes_after(v)?.into_keys().filter(|id| members.contains(id)).collect(),
        _ => Vec::new(),
    };
    Ok(SplitDrift { made_at: s.data_version, now, added, dropped, changed })
}

/// `SHOW SPLIT`: the per-group counts, titled with the split and how its query answers today.
fn show_split(store: &Store, name: &str) -> Result<ResultTable, ExecError> {
    let s = split::load(store, name)?;
    let drift = split_drift(store, &s)?;
    let t = split::summary_table(&s, store)?;
    let title = t.title.clone().unwrap_or_default();
    Ok(t.titled(format!("{title}; {}", drift.summary())))
}

fn scenarios(store: &Store, name: &str) -> Result<ResultTable, ExecError> {
    let s = split::load(store, name)?;
    let (train, test) = (s.partition("train").to_vec(), s.partition("test").to_vec());
    if test.is_empty() {
        return Err(SplitError::Invalid(format!("split '{name}' has no test partition")).into());
    }
    let tags = crate::scenario::classify(store, &train, &test)?;
    let mut t = ResultTable::new(&["id", "scenario", "evidence"]).titled(format!("Scenarios of split {name} (rules: docs/SCENARIOS.md)"));
    for tag in tags {
        let ev: Vec<String> = tag.evidence.iter().take(5).cloned().collect();
        let more = tag.evidence.len().saturating_sub(5);
        let mut e = ev.join(", ");
        if more > 0 {
            e.push_str(&format!(" (+{more} more)"));
        }
        t.push(vec![Value::Str(tag.id), Value::Str(tag.scenario.as_str().into()), Value::Str(e)]);
    }
    Ok(t)
}
