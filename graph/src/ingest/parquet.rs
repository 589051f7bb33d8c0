//! Streams a behaviour log stored as Parquet, batch by batch. The columns the
//! mapping names are cast to text and go through the same row parser as CSV,
//! so both formats accept and refuse exactly the same values. Column indices
//! count the Parquet schema's top-level fields; "line" in messages is the
//! 1-based row number.

use std::fs::File;
use std::path::Path;

use arrow_array::{Array, ArrayRef, StringArray};
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::format::LogFormat;
use super::log::{finish, handle_row, parse_row, ColumnResolver, Fields, Indices, RawEvent};
use super::skips::SkipReport;
use crate::error::{GraphError, Result};

/// Rows per decoded batch.
pub const BATCH_ROWS: usize = 64 * 1024;

struct Row<'a> {
    columns: &'a [Option<StringArray>],
    row: usize,
}

impl Fields for Row<'_> {
    fn len(&self) -> usize {
        self.columns.len()
    }
    fn get(&self, index: usize) -> &[u8] {
        match self.columns.get(index) {
            Some(Some(col)) if !col.is_null(self.row) => col.value(self.row).as_bytes(),
            _ => b"",
        }
    }
}

/// Streams the Parquet log at `path`; see [`super::read_log`].
///
/// # Errors
/// As [`super::read_log`], plus a file that is not valid Parquet.
pub fn read_log_parquet(
    path: &Path,
    format: &LogFormat,
    strict: bool,
    mut sink: impl FnMut(RawEvent),
) -> Result<SkipReport> {
    format.validate()?;
    let bad = |reason: String| GraphError::BadRow { file: path.to_path_buf(), line: 0, reason };
    let file = File::open(path).map_err(GraphError::io("open", path))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| bad(format!("not a Parquet file: {e}")))?;
    let header: Vec<String> = builder.schema().fields().iter().map(|f| f.name().clone()).collect();
    let num_columns = header.len();
    // Parquet always has column names; index columns work too.
    let resolver = ColumnResolver { file: path, header: Some(header) };
    let ix = Indices::resolve(format, &resolver)?;
    if ix.needed > num_columns {
        return Err(GraphError::Config(format!(
            "{}: the mapping needs {} columns but the file has {num_columns}",
            path.display(),
            ix.needed
        )));
    }
    let reader =
        builder.with_batch_size(BATCH_ROWS).build().map_err(|e| bad(format!("read Parquet: {e}")))?;
    let nulls: Vec<&[u8]> = format.null_values.iter().map(|s| s.as_bytes()).collect();
    let used: Vec<usize> = ix.all().into_iter().flatten().collect();
    let mut report = SkipReport::default();
    let mut row_number = 0u64;
    for batch in reader {
        let batch = batch.map_err(|e| bad(format!("decode Parquet batch after row {row_number}: {e}")))?;
        let mut columns: Vec<Option<StringArray>> = vec![None; num_columns];
        for &c in &used {
            let column: &ArrayRef = batch.column(c);
            let text = arrow_cast::cast(column, &DataType::Utf8).map_err(|e| {
                bad(format!("column {} cannot be read as text: {e}", resolver_name(&resolver, c)))
            })?;
            columns[c] = text.as_any().downcast_ref::<StringArray>().cloned();
        }
        for row in 0..batch.num_rows() {
            row_number += 1;
            report.rows_read += 1;
            let parsed = parse_row(&Row { columns: &columns, row }, &ix, format, &nulls);
            handle_row(parsed, path, row_number, strict, &mut report, &mut sink)?;
        }
    }
    finish(report, path)
}

fn resolver_name(resolver: &ColumnResolver<'_>, index: usize) -> String {
    resolver.header.as_ref().and_then(|h| h.get(index).cloned()).unwrap_or_else(|| index.to_string())
}
