//! Export of one table's rows on this shard, with the id column: NumPy
//! (`<path>` holds `[rows, dim]` f32 and `<path>.ids.npy` the u64 ids) or
//! Parquet (columns `id` and `embedding`). Rows never pushed are exported
//! with their deterministic initial values only if they were materialised,
//! so an export lists exactly the rows this shard has trained.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::builder::{Float32Builder, ListBuilder};
use arrow_array::{ArrayRef, RecordBatch, UInt64Array};
use tessera_proto::ps::v1 as pb;

use super::Shard;
use crate::error::{PsError, Result};

fn io(context: &str, path: &Path) -> impl FnOnce(std::io::Error) -> PsError {
    let context = format!("{context} {}", path.display());
    move |source| PsError::Io { context, source }
}

impl Shard {
    /// Writes a table's rows (sorted by id) to `path`.
    ///
    /// # Errors
    /// `NotFound` for an unknown table, `InvalidArgument` for a bad format,
    /// `Io` on write errors.
    pub fn export(&self, request: &pb::ExportRequest) -> Result<pb::ExportResponse> {
        let table = self.table(&request.table)?;
        if request.path.is_empty() {
            return Err(PsError::InvalidArgument("export: path is empty".into()));
        }
        let path = PathBuf::from(&request.path);
        let mut rows: Vec<_> = table.snapshot().into_iter().collect();
        rows.sort_unstable_by_key(|r| r.0);
        let dim = table.config().dim;
        let ids: Vec<u64> = rows.iter().map(|r| r.0).collect();
        let paths = match pb::ExportFormat::try_from(request.format) {
            Ok(pb::ExportFormat::Npy) => {
                let values: Vec<f32> = rows.iter().flat_map(|r| r.1.values().iter().copied()).collect();
                let ids_path = PathBuf::from(format!("{}.ids.npy", request.path));
                write_npy(&path, &[ids.len() as u64, dim as u64], &values)?;
                write_npy(&ids_path, &[ids.len() as u64], &ids)?;
                vec![path.display().to_string(), ids_path.display().to_string()]
            }
            Ok(pb::ExportFormat::Parquet) => {
                let mut lists = ListBuilder::new(Float32Builder::with_capacity(ids.len() * dim));
                for (_, row) in &rows {
                    lists.values().append_slice(row.values());
                    lists.append(true);
                }
                let batch = RecordBatch::try_from_iter([
                    ("id", Arc::new(UInt64Array::from(ids.clone())) as ArrayRef),
                    ("embedding", Arc::new(lists.finish()) as ArrayRef),
                ])
                .map_err(|e| PsError::InvalidArgument(format!("export: build batch: {e}")))?;
                let file = File::create(&path).map_err(io("create", &path))?;
                let mut writer = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None)
                    .map_err(|e| PsError::InvalidArgument(format!("export: parquet writer: {e}")))?;
                writer
                    .write(&batch)
                    .map_err(|e| PsError::InvalidArgument(format!("export: parquet write: {e}")))?;
                writer
                    .close()
                    .map_err(|e| PsError::InvalidArgument(format!("export: parquet close: {e}")))?;
                vec![path.display().to_string()]
            }
            _ => return Err(PsError::InvalidArgument(format!("export: unknown format {}", request.format))),
        };
        Ok(pb::ExportResponse { num_rows: ids.len() as u64, paths })
    }
}

fn write_npy<T: npyz::AutoSerialize>(path: &Path, shape: &[u64], values: &[T]) -> Result<()> {
    let file = File::create(path).map_err(io("create", path))?;
    let mut out = BufWriter::new(file);
    tessera_graph::ingest::npy::write(&mut out, shape, values).map_err(io("write", path))?;
    out.into_inner().map_err(|e| io("flush", path)(e.into_error()))?.sync_all().map_err(io("fsync", path))
}
