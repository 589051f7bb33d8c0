//! The embeddings as Parquet with the raw ids, for tools outside Tessera
//! (pandas, Spark, DuckDB): `id` (UInt64), for items `category` (UInt64,
//! null when none), and `embedding` (FixedSizeList of Float32).

use std::io::Write;
use std::sync::Arc;

use arrow_array::{ArrayRef, FixedSizeListArray, Float32Array, RecordBatch, UInt64Array};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

/// Writes rows of (`ids`, optional `categories`, `vectors` `dim` wide) to `out`.
pub fn write(
    out: impl Write + Send,
    ids: &[u64],
    categories: Option<&[Option<u64>]>,
    vectors: &[f32],
    dim: usize,
) -> Result<(), String> {
    let item = Arc::new(Field::new("item", DataType::Float32, false));
    let embedding = FixedSizeListArray::try_new(
        item.clone(),
        dim as i32,
        Arc::new(Float32Array::from(vectors.to_vec())),
        None,
    )
    .map_err(|e| e.to_string())?;
    let mut fields = vec![Field::new("id", DataType::UInt64, false)];
    let mut columns: Vec<ArrayRef> = vec![Arc::new(UInt64Array::from(ids.to_vec()))];
    if let Some(c) = categories {
        fields.push(Field::new("category", DataType::UInt64, true));
        columns.push(Arc::new(UInt64Array::from(c.to_vec())));
    }
    fields.push(Field::new("embedding", DataType::FixedSizeList(item, dim as i32), false));
    columns.push(Arc::new(embedding));
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(schema.clone(), columns).map_err(|e| e.to_string())?;
    let props = WriterProperties::builder().set_compression(Compression::ZSTD(ZstdLevel::default())).build();
    let mut writer = ArrowWriter::try_new(out, schema, Some(props)).map_err(|e| e.to_string())?;
    writer.write(&batch).map_err(|e| e.to_string())?;
    writer.close().map_err(|e| e.to_string())?;
    Ok(())
}
