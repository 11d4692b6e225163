//! Tabular results: the one value type that queries, statistics and reports produce, and its
//! renderings as a comfy-table table, CSV or JSON; [`arrow`] turns a table into an Arrow
//! record batch with exact column types.

pub mod arrow;
mod column;

pub use column::ColumnType;

use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, ContentArrangement, Table};
use serde::Serialize;
use std::fmt;

/// A value in a result table.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Value {
    /// Missing.
    Null,
    /// Boolean.
    Bool(bool),
    /// Integer.
    Int(i64),
    /// Real number.
    Num(f64),
    /// Text.
    Str(String),
    /// List of texts (e.g. elements).
    List(Vec<String>),
    /// List of numbers (e.g. element ratios).
    NumList(Vec<f64>),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("NULL"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Num(x) => {
                if x.is_finite() && x.fract() == 0.0 && x.abs() < 1e15 {
                    write!(f, "{x:.1}")
                } else if x.is_finite() && (x.abs() >= 1e-3 || *x == 0.0) && x.abs() < 1e6 {
                    let s = format!("{x:.4}");
                    let s = s.trim_end_matches('0');
                    f.write_str(s)
                } else {
                    write!(f, "{x:.4e}")
                }
            }
            Value::Str(s) => f.write_str(s),
            Value::List(v) => f.write_str(&v.join(",")),
            Value::NumList(v) => f.write_str(&v.iter().map(|x| format!("{x}")).collect::<Vec<_>>().join(",")),
        }
    }
}

/// Output format for results.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Format {
    /// A human-readable table.
    #[default]
    Table,
    /// Comma-separated values with a header row.
    Csv,
    /// A JSON array of objects.
    Json,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "table" => Ok(Format::Table),
            "csv" => Ok(Format::Csv),
            "json" => Ok(Format::Json),
            other => Err(format!("unknown format '{other}' (table, csv or json)")),
        }
    }
}

/// The type of a column holding `values` (see [`ResultTable::column_types`]).
fn infer_type<'a>(values: impl Iterator<Item = &'a Value>) -> ColumnType {
    let mut ty: Option<ColumnType> = None;
    for v in values {
        let t = match v {
            Value::Null => continue,
            Value::Bool(_) => ColumnType::Bool,
            Value::Int(_) => ColumnType::Int,
            Value::Num(_) => ColumnType::Num,
            Value::Str(_) => ColumnType::Str,
            Value::List(_) => ColumnType::StrList,
            Value::NumList(_) => ColumnType::NumList,
        };
        ty = Some(match ty {
            None => t,
            Some(prev) if prev == t => t,
            Some(prev) if prev.is_numeric() && t.is_numeric() => ColumnType::Num,
            Some(_) => return ColumnType::Str,
        });
    }
    ty.unwrap_or(ColumnType::Str)
}

/// A result table: named columns and rows of values.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ResultTable {
    /// Optional title shown above the table.
    pub title: Option<String>,
    /// Column names.
    pub columns: Vec<String>,
    /// Rows, each as long as `columns`.
    pub rows: Vec<Vec<Value>>,
    /// The declared type of each column (HopQL field types), or empty when the producer did
    /// not declare them; then [`ResultTable::column_types`] infers them from the values.
    #[serde(skip)]
    pub types: Vec<ColumnType>,
}

impl ResultTable {
    /// A table with the given columns and no rows.
    pub fn new(columns: &[&str]) -> Self {
        ResultTable { title: None, columns: columns.iter().map(|s| s.to_string()).collect(), rows: vec![], types: vec![] }
    }

    /// Declare the column types (one per column).
    pub fn typed(mut self, types: Vec<ColumnType>) -> Self {
        debug_assert_eq!(types.len(), self.columns.len());
        self.types = types;
        self
    }

    /// The type of every column: the declared types when there are as many as columns, else
    /// inferred from the values (integers and numbers in one column make `Num`, anything
    /// mixed with strings `Str`, a column of NULLs `Str`).
    pub fn column_types(&self) -> Vec<ColumnType> {
        if self.types.len() == self.columns.len() {
            return self.types.clone();
        }
        (0..self.columns.len()).map(|c| infer_type(self.rows.iter().map(|r| &r[c]))).collect()
    }

    /// Set the title.
    pub fn titled(mut self, t: impl Into<String>) -> Self {
        self.title = Some(t.into());
        self
    }

    /// Append a row.
    pub fn push(&mut self, row: Vec<Value>) {
        debug_assert_eq!(row.len(), self.columns.len());
        self.rows.push(row);
    }

    /// Render in the given format.
    pub fn render(&self, format: Format) -> String {
        match format {
            Format::Table => self.to_table(),
            Format::Csv => self.to_csv(),
            Format::Json => self.to_json(),
        }
    }

    /// A comfy-table rendering, numbers right-aligned.
    pub fn to_table(&self) -> String {
        let mut t = Table::new();
        t.load_preset(UTF8_FULL_CONDENSED).set_content_arrangement(ContentArrangement::Dynamic);
        if t.width().is_none() {
            // Not a terminal: wrap long cells at a readable width anyway.
            t.set_width(120);
        }
        t.set_header(self.columns.iter().map(Cell::new));
        for row in &self.rows {
            t.add_row(row.iter().map(|v| {
                let c = Cell::new(v.to_string());
                match v {
                    Value::Int(_) | Value::Num(_) => c.set_alignment(CellAlignment::Right),
                    _ => c,
                }
            }));
        }
        let mut s = String::new();
        if let Some(title) = &self.title {
            s.push_str(title);
            s.push('\n');
        }
        s.push_str(&t.to_string());
        s.push_str(&format!("\n({} row{})", self.rows.len(), if self.rows.len() == 1 { "" } else { "s" }));
        s
    }

    /// CSV with a header row; NULL is an empty field; numbers at full precision.
    pub fn to_csv(&self) -> String {
        let mut w = csv::Writer::from_writer(vec![]);
        w.write_record(&self.columns).expect("in-memory write");
        for row in &self.rows {
            w.write_record(row.iter().map(|v| match v {
                Value::Null => String::new(),
                Value::Num(x) => format!("{x}"),
                other => other.to_string(),
            }))
            .expect("in-memory write");
        }
        String::from_utf8(w.into_inner().expect("in-memory flush")).expect("csv is utf-8")
    }

    /// A JSON array of objects keyed by column name.
    pub fn to_json(&self) -> String {
        let arr: Vec<serde_json::Map<String, serde_json::Value>> = self
            .rows
            .iter()
            .map(|row| {
                self.columns
                    .iter()
                    .zip(row)
                    .map(|(c, v)| {
                        let j = match v {
                            Value::Num(x) if !x.is_finite() => serde_json::Value::Null,
                            other => serde_json::to_value(other).expect("values encode"),
                        };
                        (c.clone(), j)
                    })
                    .collect()
            })
            .collect();
        serde_json::to_string_pretty(&arr).expect("values encode")
    }
}
