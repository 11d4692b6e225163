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
        Statement::ShowSplit(name) => Ok(split::summary_table(&split::load(store, name)?, store)?),
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
            let recs = ids.iter().map(|id| store.record(id)).collect::<Result<_, _>>()?;
            (recs, q.to_string())
        }
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
    let s = s.named(&c.name).from_query(query_text);
    split::save(store, &s, false)?;
    Ok(split::summary_table(&s, store)?)
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
