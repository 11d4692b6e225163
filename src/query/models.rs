//! Execution of the model statements (`TRAIN`, `TUNE`, `EVALUATE`, `PREDICT`,
//! `CROSS VALIDATE`, `SHOW MODELS`, `DESCRIBE MODEL`, `DROP MODEL`, `SHOW PREDICTIONS`,
//! `EXPORT PREDICTIONS`): a thin layer over [`crate::workflow`].

use super::ast::{param_map, EvalBy, EvaluateModel, Expr, Limit, ModelKind, ModelParam, Select, Statement, TrainModel, TuneModel};
use super::error::ExecError;
use super::predicate::eval;
use super::select::selected_ids;
use crate::model::{self, lineage, registry, Grid, Kind, ModelError};
use crate::workflow::{self, EvalOptions, WorkflowError, TrainRequest};
use crate::store::Store;
use crate::table::{ResultTable, Value};

/// Number of feature importances `DESCRIBE MODEL` lists.
pub const DESCRIBE_TOP_FEATURES: usize = 20;

/// Run a model statement.
pub fn execute(store: &Store, stmt: &Statement) -> Result<ResultTable, ExecError> {
    match stmt {
        Statement::Train(t) => train(store, t),
        Statement::Tune(t) => tune(store, t),
        Statement::Evaluate(e) => evaluate(store, e),
        Statement::Predict { model, query, strict } => predict(store, model, query, *strict),
        Statement::Retrain(name) => retrain(store, name),
        Statement::CrossValidate { kind, split, params } => cross_validate(store, kind, split, params),
        Statement::ShowModels => show_models(store),
        Statement::DescribeModel(name) => describe_model(store, name),
        Statement::DropModel(name) => {
            let n = workflow::drop_model(store, name)?;
            let mut t = ResultTable::new(&["dropped", "predictions"]);
            t.push(vec![Value::Str(name.clone()), Value::Int(n as i64)]);
            Ok(t)
        }
        Statement::ShowPredictions { model, filter, limit } => show_predictions(store, model, filter.as_ref(), limit.as_ref()),
        Statement::ExportPredictions { model, path } => export_predictions(store, model, path),
        other => unreachable!("not a model statement: {other}"),
    }
}

/// `TRAIN`: a graph network (optionally pretrained on a query's hops) or a tree model.
fn train(store: &Store, t: &TrainModel) -> Result<ResultTable, ExecError> {
    let mut params = param_map(&t.params);
    if t.kind.name == workflow::GNN_KIND {
        let pre = match &t.pretrained_on {
            Some(q) => Some((q.to_string(), selected_ids(store, q)?)),
            None => None,
        };
        if let Some(v) = &t.kind.variant {
            params.insert("variant".into(), v.clone());
        }
        let pre = pre.as_ref().map(|(q, ids)| (q.as_str(), ids.as_slice()));
        let rec = workflow::train_gnn(store, &t.name, &t.split, &params, pre, t.replace, false)?;
        return Ok(trained_table(&rec, &t.split));
    }
    if t.pretrained_on.is_some() {
        return Err(invalid(format!("PRETRAINED ON applies to graph networks (gnn), not to {}", t.kind.name)));
    }
    let kind = tree_kind(&t.kind)?;
    let rec = workflow::train(store, &TrainRequest { name: t.name.clone(), kind, params, split: t.split.clone(), replace: t.replace, next_version: false })?;
    Ok(trained_table(&rec, &t.split))
}

/// `TUNE`: a grouped cross-validated grid search; one row per setting, best first.
fn tune(store: &Store, t: &TuneModel) -> Result<ResultTable, ExecError> {
    let kind = tree_kind(&t.kind)?;
    // `features` and `mlip` choose the feature set; every other setting is a grid axis.
    let (set_params, grid_params): (Vec<_>, Vec<_>) = t.params.iter().cloned().partition(|p| workflow::FEATURE_SETTINGS.contains(&p.key.as_str()));
    let req = TrainRequest { name: t.name.clone(), kind, params: param_map(&set_params), split: t.split.clone(), replace: t.replace, next_version: false };
    let grid = if grid_params.is_empty() { None } else { Some(grid_of(&grid_params)) };
    let folds = t.folds.map_or(workflow::DEFAULT_TUNE_FOLDS, |k| k as usize);
    let out = workflow::tune(store, &req, grid.as_ref(), folds, t.seed.unwrap_or(model::DEFAULT_SEED))?;
    let mut table = ResultTable::new(&["rank", "cv_mae", "cv_std", "setting"]);
    for (i, row) in out.search.table.iter().enumerate() {
        let point: Vec<String> = row.point.iter().map(|(k, v)| format!("{k}={v}")).collect();
        table.push(vec![Value::Int(i as i64 + 1), Value::Num(row.mean_mae), Value::Num(row.std_mae), Value::Str(point.join(", "))]);
    }
    Ok(table.titled(format!(
        "model '{}' saved: {} with {} (grouped {folds}-fold CV MAE {:.4} eV inside the train partition of '{}')",
        t.name,
        kind,
        out.search.best,
        out.search.best_mae,
        t.split
    )))
}

/// `EVALUATE`: the summary, or a breakdown by group, scenario or hop.
fn evaluate(store: &Store, e: &EvaluateModel) -> Result<ResultTable, ExecError> {
    let opts = EvalOptions { threshold: e.threshold.unwrap_or(workflow::DEFAULT_THRESHOLD), force: e.force, strict: e.strict, ..EvalOptions::default() };
    let ev = workflow::evaluate(store, &e.model, &e.split, &opts)?;
    let table = evaluation_table(&ev, e.by);
    Ok(match &ev.stale {
        Some(why) => {
            let title = table.title.clone().map_or(String::new(), |t| format!("; {t}"));
            table.titled(format!("warning: model '{}' is {why}{title}", ev.model))
        }
        None => table,
    })
}

/// The table `EVALUATE` shows: the summary, or a breakdown.
fn evaluation_table(ev: &workflow::Evaluation, by: Option<EvalBy>) -> ResultTable {
    match by {
        None => summary_table(ev),
        Some(EvalBy::Group) => breakdown("group", &ev.by_group),
        Some(EvalBy::Scenario) => breakdown("scenario", &ev.by_scenario),
        Some(EvalBy::Hop) => {
            let mut t = ResultTable::new(&["id", "group", "scenario", "em", "predicted", "error"]);
            for p in ev.partition("test") {
                t.push(vec![
                    Value::Str(p.id.clone()),
                    Value::Str(ev.groups.get(&p.id).cloned().unwrap_or_default()),
                    Value::Str(ev.scenarios.get(&p.id).cloned().unwrap_or_else(|| "none".into())),
                    Value::Num(p.em),
                    Value::Num(p.predicted),
                    Value::Num(p.predicted - p.em),
                ]);
            }
            t
        }
    }
}

/// `PREDICT`: the model's predictions for the hops a query selects; a stale model is named
/// in the title (or refused with `STRICT`).
fn predict(store: &Store, model: &str, query: &Select, strict: bool) -> Result<ResultTable, ExecError> {
    let ids = selected_ids(store, query)?;
    let (preds, stale) = workflow::predict_checked(store, model, &ids, true, strict)?;
    let mut t = ResultTable::new(&["id", "em", "predicted", "error"]);
    for p in preds {
        t.push(vec![Value::Str(p.id), Value::Num(p.em), Value::Num(p.predicted), Value::Num(p.predicted - p.em)]);
    }
    Ok(match stale {
        Some(why) => t.titled(format!("warning: model '{model}' is {why}")),
        None => t,
    })
}

/// `RETRAIN m`: m's kind and settings fitted on the current data as m's next version.
fn retrain(store: &Store, name: &str) -> Result<ResultTable, ExecError> {
    let plan = workflow::retrain_plan(store, name)?;
    let before = plan.current.version;
    let rec = if plan.current.kind == workflow::GNN_KIND {
        let pre = match &plan.pretrain_query {
            Some(q) => {
                let sel = match super::parser::parse_statement(q)? {
                    Statement::Select(sel) => sel,
                    other => return Err(invalid(format!("the recorded pre-training query is not a SELECT: {other}"))),
                };
                Some((q.clone(), selected_ids(store, &sel)?))
            }
            None => None,
        };
        let pre = pre.as_ref().map(|(q, ids)| (q.as_str(), ids.as_slice()));
        workflow::train_gnn(store, &plan.current.name, &plan.split, &plan.current.params, pre, false, true)?
    } else {
        workflow::retrain_trees(store, &plan)?
    };
    let base = rec.name.clone();
    Ok(trained_table(&rec, &plan.split).titled(format!(
        "model '{base}' retrained as version {} ('{base}@{}'); version {before} kept as '{base}@{before}'",
        rec.version, rec.version
    )))
}

/// `CROSS VALIDATE`: one row per fold, then the mean of folds and the pooled metrics.
fn cross_validate(store: &Store, kind: &ModelKind, split: &str, params: &[ModelParam]) -> Result<ResultTable, ExecError> {
    let k = tree_kind(kind)?;
    let cv = workflow::cross_validate_split(store, k, &param_map(params), split, workflow::DEFAULT_THRESHOLD)?;
    let mut t = ResultTable::new(&["fold", "hops", "mae", "rmse", "r2", "accuracy"]);
    for (i, f) in cv.folds.iter().enumerate() {
        let n = cv.predictions.iter().filter(|p| &p.partition == f).count();
        t.push(vec![Value::Str(f.clone()), Value::Int(n as i64), Value::Num(cv.fold_maes[i]), Value::Null, Value::Null, Value::Null]);
    }
    t.push(vec![Value::Str("mean of folds".into()), Value::Int(cv.pooled.n as i64), Value::Num(cv.mean_mae), Value::Null, Value::Null, Value::Null]);
    t.push(vec![
        Value::Str("pooled".into()),
        Value::Int(cv.pooled.n as i64),
        Value::Num(cv.pooled.mae),
        Value::Num(cv.pooled.rmse),
        Value::Num(cv.pooled.r2),
        Value::Num(cv.classification.accuracy),
    ]);
    Ok(t)
}

/// `SHOW MODELS`: one row per saved model (every version), with whether its training hops
/// changed since it was trained (`stale`, and why).
fn show_models(store: &Store) -> Result<ResultTable, ExecError> {
    let mut t = ResultTable::new(&[
        "name", "version", "kind", "split", "train_hops", "features", "test_mae", "cv_mae", "data_version", "stale", "why", "created_at",
    ]);
    for r in registry::list(store).map_err(WorkflowError::from)? {
        let metric = |k: &str| r.metrics.get(k).map_or(Value::Null, |x| Value::Num(*x));
        let st = lineage::staleness(store, &r).map_err(WorkflowError::from)?;
        let (stale, why) = match &st {
            Some(s) if s.is_stale() => (Value::Bool(true), Value::Str(s.summary(3))),
            Some(_) => (Value::Bool(false), Value::Null),
            None => (Value::Null, Value::Str("no lineage (trained before hopdb recorded it, or on records outside this store)".into())),
        };
        let split = match &r.lineage {
            Some(l) if !l.split.is_empty() => l.split.clone(),
            _ => r.split_fingerprint.chars().take(12).collect(),
        };
        t.push(vec![
            Value::Str(r.name.clone()),
            Value::Int(r.version as i64),
            Value::Str(kind_label(&r)),
            Value::Str(split),
            Value::Int(r.train_ids.len() as i64),
            Value::Int(r.feature_names.len() as i64),
            metric("test_mae"),
            metric("cv_mae"),
            r.lineage.as_ref().map_or(Value::Null, |l| Value::Int(l.data_version as i64)),
            stale,
            why,
            Value::Str(r.created_at.clone()),
        ]);
    }
    Ok(t)
}

/// `SHOW PREDICTIONS`: the stored predictions (filtered), with `LIMIT`/`OFFSET` applied.
fn show_predictions(store: &Store, model: &str, filter: Option<&Expr>, limit: Option<&Limit>) -> Result<ResultTable, ExecError> {
    let t = predictions_table(store, model, filter)?;
    Ok(match limit {
        Some(l) => {
            let mut out = ResultTable::new(&t.columns.iter().map(String::as_str).collect::<Vec<_>>());
            for row in t.rows.into_iter().skip(l.offset as usize).take(l.count as usize) {
                out.push(row);
            }
            out
        }
        None => t,
    })
}

/// `EXPORT PREDICTIONS`: write the stored predictions as CSV (or JSON) and report the file.
fn export_predictions(store: &Store, model: &str, path: &str) -> Result<ResultTable, ExecError> {
    let t = predictions_table(store, model, None)?;
    let text = if path.to_ascii_lowercase().ends_with(".json") { t.to_json() } else { t.to_csv() };
    std::fs::write(path, text).map_err(|e| ExecError::Io { path: path.to_string(), source: e })?;
    let mut out = ResultTable::new(&["model", "file", "predictions"]);
    out.push(vec![Value::Str(model.to_string()), Value::Str(path.to_string()), Value::Int(t.rows.len() as i64)]);
    Ok(out)
}

fn invalid(msg: String) -> ExecError {
    WorkflowError::Invalid(msg).into()
}

fn tree_kind(k: &ModelKind) -> Result<Kind, ExecError> {
    let kind = Kind::parse(&k.name).ok_or_else(|| {
        invalid(format!("unknown model kind '{}': use random_forest (rf), boosted_trees (gbt), mean, or gnn(<variant>)", k.name))
    })?;
    if let Some(v) = &k.variant {
        return Err(invalid(format!("{} takes no variant, got ({v})", kind)));
    }
    Ok(kind)
}

/// A `TUNE` grid: lists are axes, single values fixed settings.
fn grid_of(params: &[ModelParam]) -> Grid {
    let mut g = Grid::new();
    for p in params {
        let vals: Vec<&str> = p.values.iter().map(|a| a.text()).collect();
        if p.list && vals.len() > 1 {
            g = g.axis(&p.key, &vals);
        } else {
            g = g.fixed(&p.key, &vals.join(","));
        }
    }
    g
}

fn kind_label(r: &model::ModelRecord) -> String {
    match r.params.get("variant") {
        Some(v) if r.kind == workflow::GNN_KIND => format!("gnn({v})"),
        _ => r.kind.clone(),
    }
}

fn trained_table(rec: &model::ModelRecord, split: &str) -> ResultTable {
    let mut t = ResultTable::new(&["model", "kind", "split", "train_hops", "features", "train_mae", "fit_seconds"]);
    let metric = |k: &str| rec.metrics.get(k).map_or(Value::Null, |x| Value::Num(*x));
    t.push(vec![
        Value::Str(rec.name.clone()),
        Value::Str(kind_label(rec)),
        Value::Str(split.to_string()),
        Value::Int(rec.train_ids.len() as i64),
        Value::Int(rec.feature_names.len() as i64),
        metric("train_mae"),
        metric("fit_seconds"),
    ]);
    t
}

fn summary_table(ev: &workflow::Evaluation) -> ResultTable {
    let mut t = ResultTable::new(&["metric", "value", "bootstrap_se"]);
    let b = ev.bootstrap.as_ref();
    let se = |f: fn(&crate::metrics::BootstrapErrors) -> f64| b.map_or(Value::Null, |b| Value::Num(f(b)));
    let c = &ev.classification;
    let rows: Vec<(&str, Value, Value)> = vec![
        ("test_hops", Value::Int(ev.test.n as i64), Value::Null),
        ("mae", Value::Num(ev.test.mae), se(|b| b.mae)),
        ("rmse", Value::Num(ev.test.rmse), se(|b| b.rmse)),
        ("r2", Value::Num(ev.test.r2), se(|b| b.r2)),
        ("max_error", Value::Num(ev.test.max_error), Value::Null),
        ("threshold", Value::Num(c.threshold), Value::Null),
        ("accuracy", Value::Num(c.accuracy), se(|b| b.accuracy)),
        ("precision_good", Value::Num(c.precision_good), Value::Null),
        ("recall_good", Value::Num(c.recall_good), Value::Null),
        ("precision_bad", Value::Num(c.precision_bad), Value::Null),
        ("recall_bad", Value::Num(c.recall_bad), Value::Null),
        ("true_good_pred_good", Value::Int(c.confusion[0][0] as i64), Value::Null),
        ("true_good_pred_bad", Value::Int(c.confusion[0][1] as i64), Value::Null),
        ("true_bad_pred_good", Value::Int(c.confusion[1][0] as i64), Value::Null),
        ("true_bad_pred_bad", Value::Int(c.confusion[1][1] as i64), Value::Null),
        ("train_mae", Value::Num(ev.train.mae), Value::Null),
        ("stale", Value::Bool(ev.stale.is_some()), Value::Null),
    ];
    for (k, v, s) in rows {
        t.push(vec![Value::Str(k.into()), v, s]);
    }
    t.titled(format!("model '{}' on the test partition of split '{}'", ev.model, ev.split))
}

fn breakdown(what: &str, rows: &[(String, usize, f64)]) -> ResultTable {
    let mut t = ResultTable::new(&[what, "hops", "mae"]);
    for (k, n, mae) in rows {
        t.push(vec![Value::Str(k.clone()), Value::Int(*n as i64), Value::Num(*mae)]);
    }
    t
}

fn describe_model(store: &Store, name: &str) -> Result<ResultTable, ExecError> {
    let r = registry::load(store, name).map_err(WorkflowError::from)?;
    let mut t = ResultTable::new(&["section", "key", "value"]);
    let mut put = |s: &str, k: &str, v: Value| t.push(vec![Value::Str(s.into()), Value::Str(k.into()), v]);
    put("model", "name", Value::Str(r.name.clone()));
    put("model", "kind", Value::Str(kind_label(&r)));
    put("model", "feature_set", Value::Str(r.feature_set.clone()));
    put("model", "features", Value::Int(r.feature_names.len() as i64));
    put("model", "split_fingerprint", Value::Str(r.split_fingerprint.clone()));
    put("model", "train_hops", Value::Int(r.train_ids.len() as i64));
    put("model", "created_at", Value::Str(r.created_at.clone()));
    put("model", "version", Value::Int(r.version as i64));
    if let Some(l) = &r.lineage {
        put("lineage", "split", Value::Str(l.split.clone()));
        put("lineage", "data_version", Value::Str(format!("{} ({})", l.data_version, l.data_version_at)));
        put("lineage", "content_hash", Value::Str(l.content_hash.clone()));
        if let Some(q) = &l.pretrain_query {
            put("lineage", "pretrained_on", Value::Str(q.clone()));
        }
        if let Some(s) = lineage::staleness(store, &r).map_err(WorkflowError::from)? {
            put("lineage", "status", Value::Str(s.summary(20)));
        }
    }
    for (k, v) in &r.params {
        put("param", k, Value::Str(v.clone()));
    }
    for (k, v) in &r.metrics {
        put("metric", k, Value::Num(*v));
    }
    for (i, line) in r.training_log.iter().enumerate() {
        put("log", &format!("{:03}", i + 1), Value::Str(line.clone()));
    }
    if r.kind != workflow::GNN_KIND {
        let m = r.model().map_err(WorkflowError::from)?;
        let imp = model::importances(&m);
        if imp.is_empty() {
            put("importance", "(none)", Value::Str(format!("{} has no feature importances", r.kind)));
        }
        for (f, v) in imp.into_iter().take(DESCRIBE_TOP_FEATURES) {
            put("importance", &f, Value::Num(v));
        }
    }
    Ok(t.titled(format!("model '{name}'")))
}

/// Stored predictions of a model joined with their hops, filtered by `filter`.
fn predictions_table(store: &Store, model: &str, filter: Option<&super::ast::Expr>) -> Result<ResultTable, ExecError> {
    if !registry::exists(store, model).map_err(WorkflowError::from)? {
        return Err(WorkflowError::from(ModelError::NotFound(model.to_string())).into());
    }
    let key = registry::load(store, model).map_err(WorkflowError::from)?.name;
    let preds = workflow::load_predictions(store, &key)?;
    let mut t = ResultTable::new(&["id", "partition", "split", "group", "ion", "em", "predicted", "error"]);
    for p in preds {
        let Some(rec) = store.get(&p.id)? else { continue };
        if let Some(e) = filter {
            if eval(e, &rec) != Some(true) {
                continue;
            }
        }
        t.push(vec![
            Value::Str(p.id.clone()),
            Value::Str(p.partition.clone()),
            Value::Str(p.split.clone()),
            rec.material.group.clone().map_or(Value::Null, Value::Str),
            Value::Str(rec.ion.symbol().to_string()),
            Value::Num(p.em),
            Value::Num(p.predicted),
            Value::Num(p.predicted - p.em),
        ]);
    }
    Ok(t)
}
