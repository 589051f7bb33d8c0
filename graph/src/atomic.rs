//! Atomic directory writes: build a directory beside its final place, then
//! rename it over the old one, so readers see the old or the new content and
//! never a half-written one.

use std::path::Path;

use crate::error::{GraphError, Result};

/// Writes a directory at `out` through `fill`, which gets a temporary
/// directory next to `out`. An existing `out` is replaced only when it holds
/// `marker` (proof that it is one of ours); any other existing path is refused.
///
/// # Errors
/// Fails when `fill` fails (the temporary directory is removed), on I/O
/// errors, or when `out` exists without `marker`.
pub fn write_dir<T>(out: &Path, marker: &str, fill: impl FnOnce(&Path) -> Result<T>) -> Result<T> {
    if out.exists() && !out.join(marker).is_file() {
        return Err(GraphError::Config(format!(
            "{} exists and has no {marker}; refusing to replace it",
            out.display()
        )));
    }
    let name = out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "out".into());
    let tmp = out.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(GraphError::io("remove", &tmp))?;
    }
    std::fs::create_dir_all(&tmp).map_err(GraphError::io("create", &tmp))?;
    let result = fill(&tmp).and_then(|value| {
        if out.exists() {
            std::fs::remove_dir_all(out).map_err(GraphError::io("remove old", out))?;
        }
        std::fs::rename(&tmp, out).map_err(GraphError::io("rename into", out))?;
        Ok(value)
    });
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result
}

/// Writes `bytes` to `path` and fsyncs it.
///
/// # Errors
/// Fails on I/O errors.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut file = std::fs::File::create(path).map_err(GraphError::io("create", path))?;
    file.write_all(bytes).map_err(GraphError::io("write", path))?;
    file.sync_all().map_err(GraphError::io("fsync", path))
}
