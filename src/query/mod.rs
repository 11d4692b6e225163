//! HopQL, the query language of hopdb: grammar, typed AST, parser and printer.
//!
//! ```text
//! SELECT ion, COUNT(*) AS n, AVG(em) FROM hops
//! WHERE elements HAS ALL 'Li', 'O' AND em BETWEEN 0.1 AND 1.5
//! GROUP BY ion ORDER BY n DESC LIMIT 10
//! ```
//!
//! * [`fields`] defines the queryable fields of the `hops` table (names, types, docs).
//! * [`ast`] is the validated syntax tree that the executor runs.
//! * [`parser`] turns text into that tree ([`parse_statement`], [`parse_script`],
//!   [`parse_expr`]) and reports problems as [`QueryError`]s that point at the token.
//! * [`mod@print`] implements `Display` for the tree, printing canonical HopQL that parses back
//!   to an equal tree.
//! * [`mod@plan`] chooses how a `SELECT` reads the store (primary key, secondary indexes, or a
//!   full scan) and which conditions are left to check per record.
//! * [`exec`] is the statement dispatcher ([`execute`], [`query`]): each statement goes to the
//!   layer that owns it, and nothing calls back up into it. Below it:
//!   [`select`] (the SELECT engine, streaming records through [`predicate`]s),
//!   [`catalog`] (`EXPLAIN`, `DESCRIBE`, `SHOW STATS`), [`splits`] and [`models`] (split and
//!   model statements, thin layers over [`crate::split`] and the model workflows, which reach
//!   records through [`select`]). [`script`] runs several statements ([`run_script`]);
//!   [`error`] holds what can go wrong. `docs/QUERY_LANGUAGE.md` is the language reference.
//!
//! The grammar lives in `grammar/hopql.pest`. Keywords are case-insensitive, `--` starts a
//! line comment, and a script is a sequence of statements separated by `;`.

pub mod ast;
pub mod catalog;
pub mod error;
pub mod exec;
pub mod fields;
pub mod models;
pub mod parser;
pub mod plan;
pub mod predicate;
pub mod print;
pub mod script;
pub mod select;
pub mod splits;

pub use ast::{
    like_match, AggFunc, Aggregate, CompareOp, Expr, HasMode, Limit, Literal, Operand, OrderBy,
    OrderKey, Select, SelectItem, Statement, Table,
};
pub use fields::{Field, FieldDef, FieldType, FIELDS};
pub use parser::{
    check_param_count, is_identifier, is_reserved, parse_expr, parse_script, parse_statement,
    parse_statement_with_params, placeholder_offsets, ErrorKind, QueryError, Span,
};
pub use catalog::{describe, explain, fields_table, show_stats};
pub use error::{ExecError, ScriptError};
pub use exec::{execute, query, query_with_params};
pub use script::{execute_with_params, is_complete, parse_statements, parse_statements_bound, run_script, statement_spans};
pub use plan::{plan, Access, IndexProbe, Plan};
pub use select::select_ids;
