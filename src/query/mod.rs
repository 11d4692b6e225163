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
//! * [`exec`] runs statements against a store ([`execute`], [`run_script`]) and returns
//!   [`crate::table::ResultTable`]s. `docs/QUERY_LANGUAGE.md` is the language reference.
//!
//! The grammar lives in `grammar/hopql.pest`. Keywords are case-insensitive, `--` starts a
//! line comment, and a script is a sequence of statements separated by `;`.

pub mod ast;
pub mod exec;
pub mod fields;
pub mod parser;
pub mod plan;
pub mod print;
pub mod splits;
pub mod models;

pub use ast::{
    like_match, AggFunc, Aggregate, CompareOp, Expr, HasMode, Limit, Literal, Operand, OrderBy,
    OrderKey, Select, SelectItem, Statement, Table,
};
pub use fields::{Field, FieldDef, FieldType, FIELDS};
pub use parser::{
    check_param_count, is_identifier, is_reserved, parse_expr, parse_script, parse_statement,
    parse_statement_with_params, placeholder_offsets, ErrorKind, QueryError, Span,
};
pub use exec::{
    describe, execute, execute_with_params, explain, fields_table, is_complete, parse_statements,
    parse_statements_bound, query, query_with_params, run_script, show_stats, statement_spans,
    ExecError, ScriptError,
};
pub use plan::{plan, Access, IndexProbe, Plan};
