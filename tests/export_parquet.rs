//! Query results as Parquet on the real devi2025 store: the file read back with the parquet
//! crate equals the query result cell by cell, with HopQL's types (string, float64, int64,
//! bool, list<string>) even for columns of NULLs and aggregates; `hopdb export parquet`.

mod common;

use hopdb::query::{exec::query, query_with_params};
use hopdb::table::arrow::arrow_array::{self, Array, ArrayRef, RecordBatch};
use hopdb::table::arrow::arrow_schema::DataType;
use hopdb::table::{ResultTable, Value};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::path::Path;

fn read_back(path: &Path) -> Vec<RecordBatch> {
    let f = std::fs::File::open(path).unwrap();
    let reader = ParquetRecordBatchReaderBuilder::try_new(f).unwrap().build().unwrap();
    reader.collect::<Result<Vec<_>, _>>().unwrap()
}

/// Cell `i` of an Arrow column as a hopdb value.
fn cell(col: &ArrayRef, i: usize) -> Value {
    use arrow_array::{BooleanArray, Float64Array, Int64Array, ListArray, StringArray};
    if col.is_null(i) {
        return Value::Null;
    }
    let any = col.as_any();
    match col.data_type() {
        DataType::Utf8 => Value::Str(any.downcast_ref::<StringArray>().unwrap().value(i).to_string()),
        DataType::Float64 => Value::Num(any.downcast_ref::<Float64Array>().unwrap().value(i)),
        DataType::Int64 => Value::Int(any.downcast_ref::<Int64Array>().unwrap().value(i)),
        DataType::Boolean => Value::Bool(any.downcast_ref::<BooleanArray>().unwrap().value(i)),
        DataType::List(item) if item.data_type() == &DataType::Float64 => {
            let l = any.downcast_ref::<ListArray>().unwrap().value(i);
            Value::NumList(l.as_any().downcast_ref::<Float64Array>().unwrap().values().to_vec())
        }
        DataType::List(_) => {
            let l = any.downcast_ref::<ListArray>().unwrap().value(i);
            let s = l.as_any().downcast_ref::<StringArray>().unwrap();
            Value::List((0..s.len()).map(|k| s.value(k).to_string()).collect())
        }
        other => panic!("unexpected type {other}"),
    }
}

/// The batches equal the table: names, types, row count, every cell.
fn assert_equal(batches: &[RecordBatch], t: &ResultTable, types: &[DataType]) {
    let schema = batches[0].schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names, t.columns.iter().map(|c| c.as_str()).collect::<Vec<_>>());
    let got_types: Vec<DataType> = schema.fields().iter().map(|f| f.data_type().clone()).collect();
    assert_eq!(got_types, types);
    let mut rows = Vec::new();
    for b in batches {
        for i in 0..b.num_rows() {
            rows.push(b.columns().iter().map(|c| cell(c, i)).collect::<Vec<_>>());
        }
    }
    assert_eq!(rows.len(), t.rows.len());
    assert_eq!(rows, t.rows);
}

fn list_type() -> DataType {
    hopdb::table::arrow::data_type(hopdb::table::ColumnType::StrList)
}

#[test]
fn select_star_round_trips_with_field_types() {
    let (dir, store) = common::devi_store();
    let t = query(&store, "SELECT * FROM hops").unwrap();
    let path = dir.path().join("all.parquet");
    assert_eq!(hopdb::export::parquet::write_parquet(&t, &path).unwrap(), 619);
    let types: Vec<DataType> = hopdb::query::FIELDS.iter().map(|d| hopdb::table::arrow::data_type(d.ty)).collect();
    assert!(types.contains(&DataType::Boolean) && types.contains(&list_type()));
    assert!(types.contains(&hopdb::table::arrow::data_type(hopdb::table::ColumnType::NumList)));
    assert_equal(&read_back(&path), &t, &types);
}

#[test]
fn null_columns_and_aggregates_keep_their_types() {
    let (dir, store) = common::devi_store();
    // doi, code and converged are NULL on every devi2025 hop; flags mostly.
    let t = query(&store, "SELECT sys_name, doi, converged, flags, natoms FROM hops WHERE ion = 'Rb' ORDER BY sys_name").unwrap();
    assert!(t.rows.iter().all(|r| r[1] == Value::Null && r[2] == Value::Null));
    let path = dir.path().join("rb.parquet");
    hopdb::export::parquet::write_parquet(&t, &path).unwrap();
    assert_equal(&read_back(&path), &t, &[DataType::Utf8, DataType::Utf8, DataType::Boolean, list_type(), DataType::Int64]);
    let t = query(&store, "SELECT ion, COUNT(*) AS n, AVG(em), SUM(natoms), MIN(natoms), MAX(em), STDDEV(em) FROM hops GROUP BY ion").unwrap();
    let path = dir.path().join("agg.parquet");
    hopdb::export::parquet::write_parquet(&t, &path).unwrap();
    let f = DataType::Float64;
    assert_equal(&read_back(&path), &t, &[DataType::Utf8, DataType::Int64, f.clone(), DataType::Int64, DataType::Int64, f.clone(), f]);
    // An empty result still has its schema.
    let t = query_with_params(&store, "SELECT em, elements FROM hops WHERE ion = ?", &[Value::Str("Xe".into())]).unwrap();
    let path = dir.path().join("empty.parquet");
    hopdb::export::parquet::write_parquet(&t, &path).unwrap();
    let f = std::fs::File::open(&path).unwrap();
    let b = ParquetRecordBatchReaderBuilder::try_new(f).unwrap();
    let s = b.schema();
    assert_eq!((s.field(0).data_type(), s.field(1).data_type()), (&DataType::Float64, &list_type()));
}

#[test]
fn cli_export_parquet_with_a_query() {
    let st = common::TempStore::init();
    st.run(&["import", "devi", common::devi_dir().to_str().unwrap(), "--no-mlip"]).ok();
    let out = st.dir.path().join("mg.parquet");
    let run = st.run(&["export", "parquet", "--out", out.to_str().unwrap(), "--query", "SELECT sys_name, em, elements FROM hops WHERE ion = ? ORDER BY em", "--param", "Mg"]);
    run.ok();
    assert!(run.stderr().contains("exported 106 rows (3 columns)"), "{}", run.stderr());
    let batches = read_back(&out);
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 106);
    assert_eq!(cell(batches[0].column(0), 0), Value::Str("Ti2O4_Mg_PS".into()));
    let all = st.dir.path().join("all.parquet");
    st.run(&["export", "parquet", "--out", all.to_str().unwrap()]).ok();
    assert_eq!(read_back(&all)[0].num_columns(), hopdb::query::FIELDS.len());
    let err = st.run(&["export", "parquet"]).err();
    assert!(err.contains("parquet needs a file: --out FILE"), "{err}");
    let err = st.run(&["export", "parquet", "--out", out.to_str().unwrap(), "--query", "SELECT emm FROM hops"]).err();
    assert!(err.contains("--query: unknown field 'emm', did you mean 'em'?"), "{err}");
    // The record formats take --query as a selection of records (its id column).
    let sel = st.run(&["export", "csv", "--query", "SELECT id FROM hops WHERE ion = ?", "--param", "Mg"]).ok();
    let mg = st.run(&["query", "SELECT COUNT(*) FROM hops WHERE ion = 'Mg'", "--format", "csv"]).ok();
    assert_eq!((sel.lines().count() - 1).to_string(), mg.lines().nth(1).unwrap().trim(), "one csv row per selected record");
    let err = st.run(&["export", "csv", "--query", "SELECT ion FROM hops"]).err();
    assert!(err.contains("--query: the statement returns no 'id' column"), "{err}");
    let err = st.run(&["export", "jsonl", "--param", "Mg"]).err();
    assert!(err.contains("--param needs --query"), "{err}");
}
