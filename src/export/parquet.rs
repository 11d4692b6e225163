//! Query results as Apache Parquet files (`hopdb export parquet`), readable by pyarrow,
//! pandas, polars, DuckDB and Spark. The columns and their types are those of the result
//! table's Arrow form ([`crate::table::arrow`]); pages are Snappy-compressed.

use super::ExportError;
use crate::table::arrow::to_record_batch;
use crate::table::ResultTable;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use std::path::Path;

/// Write `table` as a Parquet file at `path` (replaced if it exists). Returns the number of
/// rows written.
pub fn write_parquet(table: &ResultTable, path: &Path) -> Result<usize, ExportError> {
    let batch = to_record_batch(table).map_err(|e| ExportError::Encode(e.to_string()))?;
    let file = std::fs::File::create(path).map_err(|e| ExportError::File { path: path.to_path_buf(), source: e })?;
    let props = WriterProperties::builder().set_compression(Compression::SNAPPY).build();
    let mut w = ArrowWriter::try_new(file, batch.schema(), Some(props)).map_err(|e| ExportError::Encode(format!("{}: {e}", path.display())))?;
    w.write(&batch).map_err(|e| ExportError::Encode(format!("{}: {e}", path.display())))?;
    w.close().map_err(|e| ExportError::Encode(format!("{}: {e}", path.display())))?;
    Ok(table.rows.len())
}
