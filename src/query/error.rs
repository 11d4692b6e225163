//! What can go wrong running HopQL: [`ExecError`] for one statement, [`ScriptError`] for a
//! script (which statement failed, where, and what completed before it).

use super::parser::QueryError;
use crate::store::StoreError;
use crate::table::ResultTable;
use std::fmt;

/// Why a statement could not be run.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The text did not parse or validate (rendered with a caret under the offending token).
    #[error("{0}")]
    Query(#[from] QueryError),
    /// `AS OF` names no state the store can rebuild (a later version, a time before the store,
    /// text that is not a time, a version older than the history).
    #[error("{0}")]
    AsOf(String),
    /// A statement other than the `SELECT` of hops that was asked for.
    #[error("expected a SELECT over hops, not: {0}")]
    NotSelect(String),
    /// The store failed while the statement ran.
    #[error("store error while running the statement: {0}")]
    Store(#[from] StoreError),
    /// A split statement failed (bad parameters, unknown split, a query that selects nothing).
    /// Messages that quote the statement are cut to [`crate::input::MAX_MESSAGE_BYTES`].
    #[error("{}", crate::input::cap_message(&.0.to_string()))]
    Split(#[from] crate::split::SplitError),
    /// A model statement failed (unknown model, bad hyperparameters, training set mismatch).
    #[error("{}", crate::input::cap_message(&.0.to_string()))]
    Workflow(#[from] crate::workflow::WorkflowError),
    /// A split or result export failed.
    #[error("{}", crate::input::cap_message(&.0.to_string()))]
    Export(#[from] crate::export::ExportError),
    /// Writing an exported file failed.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
}

/// A script stopped at a failing statement.
#[derive(Debug)]
pub struct ScriptError {
    /// 1-based number of the failing statement within the script.
    pub statement: usize,
    /// 1-based line of the script on which the failing statement starts.
    pub line: usize,
    /// The failing statement's text, on one line (whitespace collapsed, long text shortened).
    pub text: String,
    /// What went wrong.
    pub error: ExecError,
    /// Results of the statements before the failing one (empty when the script did not
    /// parse: a script is parsed completely before anything runs).
    pub completed: Vec<ResultTable>,
}

impl fmt::Display for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "statement {} at line {} failed: {}\n{}",
            self.statement, self.line, self.text, self.error
        )
    }
}

impl std::error::Error for ScriptError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}
