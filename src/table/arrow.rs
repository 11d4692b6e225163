//! A [`ResultTable`] as an Arrow [`RecordBatch`], for Parquet files and for handing query
//! results to Python (pyarrow) through the Arrow C data interface without a copy per cell.
//!
//! Column types follow HopQL's field types ([`ResultTable::column_types`]): `Str` is `Utf8`,
//! `Num` is `Float64`, `Int` is `Int64`, `Bool` is `Boolean`, `StrList` is `List<Utf8>` and
//! `NumList` is `List<Float64>` (item field `item`); every column is nullable and NULL is an Arrow null, so a column of
//! NULLs keeps its field's type. The Arrow crates are re-exported ([`arrow_array`],
//! [`arrow_schema`]) so that callers build against the same versions.

use super::{ColumnType, ResultTable, Value};
pub use arrow_array;
pub use arrow_schema;
use arrow_array::builder::{BooleanBuilder, Float64Builder, Int64Builder, ListBuilder, StringBuilder};
use arrow_array::{ArrayRef, RecordBatch, RecordBatchOptions};
use arrow_schema::{ArrowError, DataType, Field, Schema};
use std::sync::Arc;

/// The Arrow type of a HopQL column type.
pub fn data_type(ty: ColumnType) -> DataType {
    match ty {
        ColumnType::Str => DataType::Utf8,
        ColumnType::Num => DataType::Float64,
        ColumnType::Int => DataType::Int64,
        ColumnType::Bool => DataType::Boolean,
        ColumnType::StrList => DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
        ColumnType::NumList => DataType::List(Arc::new(Field::new("item", DataType::Float64, true))),
    }
}

/// The Arrow schema of `table`: one nullable field per column, named as the column.
pub fn schema(table: &ResultTable) -> Schema {
    let fields: Vec<Field> = table.columns.iter().zip(table.column_types()).map(|(name, ty)| Field::new(name, data_type(ty), true)).collect();
    Schema::new(fields)
}

/// `table` as one record batch with the types of [`schema`]. A value that does not fit its
/// column's declared type (a string in a number column, a fractional number in an integer
/// column) is an error naming the column and the row; integers in a `Num` column widen to
/// floats, and anything in a `Str` column is written as its text.
pub fn to_record_batch(table: &ResultTable) -> Result<RecordBatch, ArrowError> {
    let types = table.column_types();
    let columns = types.iter().enumerate().map(|(c, ty)| column(table, c, *ty)).collect::<Result<Vec<_>, _>>()?;
    let options = RecordBatchOptions::new().with_row_count(Some(table.rows.len()));
    RecordBatch::try_new_with_options(Arc::new(schema(table)), columns, &options)
}

fn mismatch(table: &ResultTable, c: usize, row: usize, ty: ColumnType, v: &Value) -> ArrowError {
    ArrowError::InvalidArgumentError(format!("column '{}' has type {ty}, but row {} holds {v:?}", table.columns[c], row + 1))
}

/// Column `c` of `table` as an Arrow array of `ty`'s type.
fn column(table: &ResultTable, c: usize, ty: ColumnType) -> Result<ArrayRef, ArrowError> {
    match ty {
        ColumnType::Str => Ok(str_column(table, c)),
        ColumnType::Num => num_column(table, c),
        ColumnType::Int => int_column(table, c),
        ColumnType::Bool => bool_column(table, c),
        ColumnType::StrList => str_list_column(table, c),
        ColumnType::NumList => num_list_column(table, c),
    }
}

/// The cells of column `c`, with their row numbers.
fn cells(table: &ResultTable, c: usize) -> impl Iterator<Item = (usize, &Value)> {
    table.rows.iter().map(move |r| &r[c]).enumerate()
}

/// A `Str` column: strings as they are, anything else as its text.
fn str_column(table: &ResultTable, c: usize) -> ArrayRef {
    let n = table.rows.len();
    let mut b = StringBuilder::with_capacity(n, n * 8);
    for (_, v) in cells(table, c) {
        match v {
            Value::Null => b.append_null(),
            Value::Str(s) => b.append_value(s),
            other => b.append_value(other.to_string()),
        }
    }
    Arc::new(b.finish())
}

/// A `Num` column: integers widen to floats.
fn num_column(table: &ResultTable, c: usize) -> Result<ArrayRef, ArrowError> {
    let mut b = Float64Builder::with_capacity(table.rows.len());
    for (i, v) in cells(table, c) {
        match v {
            Value::Null => b.append_null(),
            Value::Num(x) => b.append_value(*x),
            Value::Int(k) => b.append_value(*k as f64),
            other => return Err(mismatch(table, c, i, ColumnType::Num, other)),
        }
    }
    Ok(Arc::new(b.finish()))
}

/// An `Int` column: whole numbers that fit narrow to integers.
fn int_column(table: &ResultTable, c: usize) -> Result<ArrayRef, ArrowError> {
    let mut b = Int64Builder::with_capacity(table.rows.len());
    for (i, v) in cells(table, c) {
        match v {
            Value::Null => b.append_null(),
            Value::Int(k) => b.append_value(*k),
            Value::Num(x) if x.fract() == 0.0 && x.abs() < 9.2e18 => b.append_value(*x as i64),
            other => return Err(mismatch(table, c, i, ColumnType::Int, other)),
        }
    }
    Ok(Arc::new(b.finish()))
}

/// A `Bool` column.
fn bool_column(table: &ResultTable, c: usize) -> Result<ArrayRef, ArrowError> {
    let mut b = BooleanBuilder::with_capacity(table.rows.len());
    for (i, v) in cells(table, c) {
        match v {
            Value::Null => b.append_null(),
            Value::Bool(x) => b.append_value(*x),
            other => return Err(mismatch(table, c, i, ColumnType::Bool, other)),
        }
    }
    Ok(Arc::new(b.finish()))
}

/// A `StrList` column, as `List<Utf8>`.
fn str_list_column(table: &ResultTable, c: usize) -> Result<ArrayRef, ArrowError> {
    let mut b = ListBuilder::new(StringBuilder::new());
    for (i, v) in cells(table, c) {
        match v {
            Value::Null => b.append_null(),
            Value::List(items) => {
                for s in items {
                    b.values().append_value(s);
                }
                b.append(true);
            }
            other => return Err(mismatch(table, c, i, ColumnType::StrList, other)),
        }
    }
    Ok(Arc::new(b.finish()))
}

/// A `NumList` column, as `List<Float64>`.
fn num_list_column(table: &ResultTable, c: usize) -> Result<ArrayRef, ArrowError> {
    let mut b = ListBuilder::new(Float64Builder::new());
    for (i, v) in cells(table, c) {
        match v {
            Value::Null => b.append_null(),
            Value::NumList(items) => {
                b.values().append_slice(items);
                b.append(true);
            }
            other => return Err(mismatch(table, c, i, ColumnType::NumList, other)),
        }
    }
    Ok(Arc::new(b.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Array, Float64Array, Int64Array, ListArray, StringArray};

    #[test]
    fn declared_types_survive_null_columns_and_inference_widens() {
        let mut t = ResultTable::new(&["s", "x", "n", "l"]).typed(vec![ColumnType::Str, ColumnType::Num, ColumnType::Int, ColumnType::StrList]);
        t.push(vec![Value::Null, Value::Int(2), Value::Null, Value::List(vec!["Li".into(), "O".into()])]);
        t.push(vec![Value::Str("a".into()), Value::Num(0.5), Value::Null, Value::Null]);
        let b = to_record_batch(&t).unwrap();
        assert_eq!(b.schema().field(2).data_type(), &DataType::Int64);
        assert_eq!(b.column(2).null_count(), 2);
        let x = b.column(1).as_any().downcast_ref::<Float64Array>().unwrap();
        assert_eq!((x.value(0), x.value(1)), (2.0, 0.5));
        let s = b.column(0).as_any().downcast_ref::<StringArray>().unwrap();
        assert!(s.is_null(0) && s.value(1) == "a");
        let l = b.column(3).as_any().downcast_ref::<ListArray>().unwrap();
        assert_eq!(l.value(0).as_any().downcast_ref::<StringArray>().unwrap().value(1), "O");
        assert!(l.is_null(1));
        // Undeclared: inferred from the values.
        let mut u = ResultTable::new(&["k", "v"]);
        u.push(vec![Value::Int(1), Value::Str("x".into())]);
        u.push(vec![Value::Num(1.5), Value::Int(3)]);
        assert_eq!(u.column_types(), vec![ColumnType::Num, ColumnType::Str]);
        let b = to_record_batch(&u).unwrap();
        assert_eq!(b.column(1).as_any().downcast_ref::<StringArray>().unwrap().value(1), "3");
        // A value of the wrong type in a declared column is an error naming it.
        let mut w = ResultTable::new(&["n"]).typed(vec![ColumnType::Int]);
        w.push(vec![Value::Num(1.5)]);
        let e = to_record_batch(&w).unwrap_err().to_string();
        assert!(e.contains("column 'n' has type Int, but row 1 holds Num(1.5)"), "{e}");
        let mut ok = ResultTable::new(&["n"]).typed(vec![ColumnType::Int]);
        ok.push(vec![Value::Num(3.0)]);
        assert_eq!(to_record_batch(&ok).unwrap().column(0).as_any().downcast_ref::<Int64Array>().unwrap().value(0), 3);
    }
}
