//! Reports people read: a model's evaluation as Markdown with SVG plots
//! (`hopdb report MODEL --out DIR`), and Markdown rendering of result tables.
//!
//! A report evaluates the model on the split it was trained on (found by the fingerprint the
//! model records, or named by the caller), without writing to the store, and writes into
//! `DIR`: `report.md`, `parity.svg`, `abs_error_hist.svg`, `group_errors.svg`,
//! `confusion.svg`. Files are written to a temporary name and renamed, so a failed report
//! leaves no half-written file behind.

pub mod plots;

use crate::model::registry;
use crate::workflow::{self, EvalOptions, Evaluation, WorkflowError};
use crate::split;
use crate::store::Store;
use crate::table::{ResultTable, Value};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Report errors.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Evaluating the model failed.
    #[error("{0}")]
    Modeling(#[from] WorkflowError),
    /// A plot failed.
    #[error("{0}")]
    Plot(#[from] plots::PlotError),
    /// The split could not be found.
    #[error("{0}")]
    Split(#[from] split::SplitError),
    /// Writing a file failed.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The model's split is not stored any more (or was never named).
    #[error("{0}")]
    NoSplit(String),
}

/// Result alias of reports.
pub type Result<T> = std::result::Result<T, ReportError>;

/// The name of the stored split whose fingerprint is `fingerprint`.
pub fn split_with_fingerprint(store: &Store, fingerprint: &str) -> Result<Option<String>> {
    Ok(split::list(store)?.into_iter().find(|s| s.fingerprint == fingerprint).map(|s| s.name))
}

/// Write `text` to `dir/name` atomically (temporary file, then rename).
pub fn write_file(dir: &Path, name: &str, text: &str) -> Result<PathBuf> {
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, text).map_err(|e| ReportError::Io { path: tmp.clone(), source: e })?;
    std::fs::rename(&tmp, &path).map_err(|e| ReportError::Io { path: path.clone(), source: e })?;
    Ok(path)
}

/// A result table as a GitHub-flavoured Markdown table (numbers as the table prints them).
pub fn markdown_table(t: &ResultTable) -> String {
    let mut s = String::new();
    let esc = |x: &str| x.replace('|', "\\|");
    let _ = writeln!(s, "| {} |", t.columns.iter().map(|c| esc(c)).collect::<Vec<_>>().join(" | "));
    let align: Vec<&str> = (0..t.columns.len())
        .map(|j| if t.rows.iter().any(|r| matches!(r.get(j), Some(Value::Int(_) | Value::Num(_)))) { "---:" } else { "---" })
        .collect();
    let _ = writeln!(s, "|{}|", align.join("|"));
    for r in &t.rows {
        let cells: Vec<String> = r.iter().map(|v| esc(&v.to_string())).collect();
        let _ = writeln!(s, "| {} |", cells.join(" | "));
    }
    s
}

/// The files a report wrote.
#[derive(Clone, Debug)]
pub struct ReportFiles {
    /// The Markdown report.
    pub markdown: PathBuf,
    /// The SVG plots.
    pub plots: Vec<PathBuf>,
    /// The evaluation it shows.
    pub evaluation: Evaluation,
}

/// Evaluate model `model_name` on `split_name` (default: the stored split it was trained on)
/// and write the Markdown report with its plots into `out_dir` (created if missing).
pub fn write_report(store: &Store, model_name: &str, split_name: Option<&str>, out_dir: &Path) -> Result<ReportFiles> {
    let rec = registry::load(store, model_name).map_err(WorkflowError::from)?;
    let split_name = match split_name {
        Some(s) => s.to_string(),
        None => split_with_fingerprint(store, &rec.split_fingerprint)?.ok_or_else(|| {
            ReportError::NoSplit(format!(
                "model '{model_name}' was trained on a split (fingerprint {}) that is no longer stored; name a split with --split",
                rec.split_fingerprint.chars().take(12).collect::<String>()
            ))
        })?,
    };
    let ev = workflow::evaluate(store, model_name, &split_name, &EvalOptions { save: false, ..EvalOptions::default() })?;
    std::fs::create_dir_all(out_dir).map_err(|e| ReportError::Io { path: out_dir.to_path_buf(), source: e })?;

    let pairs = |part: &str| ev.partition(part).map(|p| (p.em, p.predicted)).collect::<Vec<_>>();
    let (train, test) = (pairs("train"), pairs("test"));
    let abs: Vec<f64> = test.iter().map(|(a, b)| (a - b).abs()).collect();
    let mut by_group = ev.by_group.clone();
    by_group.sort_by(|a, b| b.2.total_cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
    let mut plot_files = vec![
        write_file(out_dir, "parity.svg", &plots::parity(&train, &test, &format!("{model_name} on split {split_name}"))?)?,
        write_file(out_dir, "abs_error_hist.svg", &plots::error_histogram(&abs, "absolute error of the test hops")?)?,
        write_file(out_dir, "group_errors.svg", &plots::group_errors(&by_group, "test MAE by structural group")?)?,
    ];
    plot_files.push(write_file(
        out_dir,
        "confusion.svg",
        &plots::confusion(ev.classification.confusion, ev.classification.threshold, "good / bad conductor")?,
    )?);

    let md = markdown(&rec, &ev);
    let markdown = write_file(out_dir, "report.md", &md)?;
    Ok(ReportFiles { markdown, plots: plot_files, evaluation: ev })
}

fn markdown(rec: &crate::model::ModelRecord, ev: &Evaluation) -> String {
    let mut s = String::new();
    let b = ev.bootstrap.as_ref();
    let se = |x: Option<f64>| x.map_or(String::new(), |v| format!(" ± {v:.3}"));
    let _ = writeln!(s, "# Model `{}`\n", rec.name);
    let _ = writeln!(
        s,
        "{} trained on {} hops of split `{}` (fingerprint `{}`), feature set `{}` ({} features), created {}.\n",
        rec.kind,
        rec.train_ids.len(),
        ev.split,
        rec.split_fingerprint.chars().take(16).collect::<String>(),
        rec.feature_set,
        rec.feature_names.len(),
        rec.created_at
    );
    let params: Vec<String> = rec.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let _ = writeln!(s, "Hyperparameters: `{}`\n", params.join(", "));
    let _ = writeln!(s, "## Test set ({} hops)\n", ev.test.n);
    let _ = writeln!(s, "Standard errors from {} bootstrap resamples of the test set.\n", b.map_or(0, |b| b.n_resamples));
    let _ = writeln!(s, "| metric | test | train |\n|---|---:|---:|");
    let _ = writeln!(s, "| MAE (eV) | {:.3}{} | {:.3} |", ev.test.mae, se(b.map(|b| b.mae)), ev.train.mae);
    let _ = writeln!(s, "| RMSE (eV) | {:.3}{} | {:.3} |", ev.test.rmse, se(b.map(|b| b.rmse)), ev.train.rmse);
    let _ = writeln!(s, "| R² | {:.3}{} | {:.3} |", ev.test.r2, se(b.map(|b| b.r2)), ev.train.r2);
    let _ = writeln!(s, "| max error (eV) | {:.3} | {:.3} |", ev.test.max_error, ev.train.max_error);
    let c = &ev.classification;
    let _ = writeln!(s, "| accuracy at {} eV | {:.3}{} | |", c.threshold, c.accuracy, se(b.map(|b| b.accuracy)));
    let _ = writeln!(s, "| precision / recall, good | {:.3} / {:.3} | |", c.precision_good, c.recall_good);
    let _ = writeln!(s, "| precision / recall, bad | {:.3} / {:.3} | |\n", c.precision_bad, c.recall_bad);
    let _ = writeln!(s, "![parity plot](parity.svg)\n\n![absolute errors](abs_error_hist.svg)\n");
    let _ = writeln!(s, "## Confusion matrix (good conductor: Em < {} eV)\n", c.threshold);
    let m = c.confusion;
    let _ = writeln!(s, "| | predicted good | predicted bad |\n|---|---:|---:|\n| true good | {} | {} |\n| true bad | {} | {} |\n", m[0][0], m[0][1], m[1][0], m[1][1]);
    let _ = writeln!(s, "![confusion matrix](confusion.svg)\n");
    let _ = writeln!(s, "## Errors by scenario\n\nA: the same framework with the same ion is in training; B: the same framework with another ion; C: a related framework; none: nothing similar.\n");
    let _ = writeln!(s, "| scenario | hops | MAE (eV) |\n|---|---:|---:|");
    for (k, n, mae) in &ev.by_scenario {
        let _ = writeln!(s, "| {k} | {n} | {mae:.3} |");
    }
    let _ = writeln!(s, "\n## Errors by structural group\n\n![group errors](group_errors.svg)\n");
    let _ = writeln!(s, "| group | hops | MAE (eV) |\n|---|---:|---:|");
    for (k, n, mae) in &ev.by_group {
        let _ = writeln!(s, "| {k} | {n} | {mae:.3} |");
    }
    let mut worst: Vec<&workflow::Prediction> = ev.partition("test").collect();
    worst.sort_by(|a, b| (b.predicted - b.em).abs().total_cmp(&(a.predicted - a.em).abs()));
    let _ = writeln!(s, "\n## Largest test errors\n\n| hop | group | scenario | DFT Em | predicted |\n|---|---|---|---:|---:|");
    for p in worst.iter().take(10) {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.3} | {:.3} |",
            p.id,
            ev.groups.get(&p.id).map_or("", String::as_str),
            ev.scenarios.get(&p.id).map_or("none", String::as_str),
            p.em,
            p.predicted
        );
    }
    if rec.kind != workflow::GNN_KIND {
        if let Ok(m) = rec.model() {
            let imp = crate::model::importances(&m);
            if !imp.is_empty() {
                let _ = writeln!(s, "\n## Feature importances (top 15)\n\n| feature | importance |\n|---|---:|");
                for (f, v) in imp.iter().take(15) {
                    let _ = writeln!(s, "| {f} | {v:.4} |");
                }
            }
        }
    }
    if !rec.training_log.is_empty() {
        let _ = writeln!(s, "\n## Training log\n\n```text\n{}\n```", rec.training_log.join("\n"));
    }
    s
}
