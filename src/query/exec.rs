//! The statement dispatcher: runs one parsed [`Statement`] against a [`Store`] by handing it
//! to the layer that owns it (the SELECT engine in [`super::select`], catalog statements in
//! [`super::catalog`], split statements in [`super::splits`], model statements in
//! [`super::models`]). Nothing below calls back into this file: split and model statements
//! reach records through [`super::select`], never through the dispatcher.
//!
//! Scripts (several statements, bound parameters across them) are in [`super::script`].

use super::ast::Statement;
use super::catalog::{describe, explain, show_stats};
use super::parser::parse_statement_with_params;
use super::select::run_select;
use crate::store::Store;
use crate::table::{ResultTable, Value};

pub use super::error::{ExecError, ScriptError};

/// Run one statement.
pub fn execute(store: &Store, stmt: &Statement) -> Result<ResultTable, ExecError> {
    match stmt {
        Statement::Select(sel) => run_select(store, sel, false),
        Statement::Explain(sel) => explain(store, sel),
        Statement::Describe(t) => describe(store, *t),
        Statement::ShowStats => show_stats(store),
        Statement::Train(_)
        | Statement::Tune(_)
        | Statement::Evaluate(_)
        | Statement::Predict { .. }
        | Statement::CrossValidate { .. }
        | Statement::ShowModels
        | Statement::DescribeModel(_)
        | Statement::DropModel(_)
        | Statement::ShowPredictions { .. }
        | Statement::ExportPredictions { .. }
        | Statement::Retrain(_) => super::models::execute(store, stmt),
        other => super::splits::execute(store, other),
    }
}

/// Parse and run one statement.
pub fn query(store: &Store, src: &str) -> Result<ResultTable, ExecError> {
    query_with_params(store, src, &[])
}

/// Parse one statement, bind its `?` placeholders to `params` (as values, never as text: see
/// [`super::parser::parse_statement_with_params`]) and run it.
pub fn query_with_params(store: &Store, src: &str, params: &[Value]) -> Result<ResultTable, ExecError> {
    let stmt = parse_statement_with_params(src, params)?;
    execute(store, &stmt)
}
