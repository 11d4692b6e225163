//! The value types of result columns (and of HopQL's fields).

use serde::Serialize;
use std::fmt;

/// The value type of a result column, and of each queryable HopQL field
/// (`crate::query::FieldType` is this type).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum ColumnType {
    /// A string.
    Str,
    /// A floating-point number.
    Num,
    /// An integer.
    Int,
    /// A boolean.
    Bool,
    /// A list of strings (queried with `HAS` and `LENGTH`).
    StrList,
    /// A list of numbers (queried with `LENGTH`).
    NumList,
}

impl ColumnType {
    /// The short type name used in `DESCRIBE` output and error messages (`"Num"`, ...).
    pub fn name(self) -> &'static str {
        match self {
            ColumnType::Str => "Str",
            ColumnType::Num => "Num",
            ColumnType::Int => "Int",
            ColumnType::Bool => "Bool",
            ColumnType::StrList => "StrList",
            ColumnType::NumList => "NumList",
        }
    }

    /// A phrase for error messages, e.g. `"a number"`.
    pub fn describe(self) -> &'static str {
        match self {
            ColumnType::Str => "a string",
            ColumnType::Num => "a number",
            ColumnType::Int => "an integer",
            ColumnType::Bool => "a boolean",
            ColumnType::StrList => "a list of strings",
            ColumnType::NumList => "a list of numbers",
        }
    }

    /// True for `Num` and `Int`.
    pub fn is_numeric(self) -> bool {
        matches!(self, ColumnType::Num | ColumnType::Int)
    }

    /// True for the list types `StrList` and `NumList`.
    pub fn is_list(self) -> bool {
        matches!(self, ColumnType::StrList | ColumnType::NumList)
    }
}

impl fmt::Display for ColumnType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

