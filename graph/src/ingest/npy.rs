//! NumPy `.npy` files through `npyz`: the content vectors and item ids a
//! build reads (2-D `<f4`, 1-D integer ids) and the arrays the PS exports.
//! Every refusal names the file and what is wrong with it.

use std::io::Write;
use std::path::Path;

use npyz::WriterBuilder;

use crate::error::{GraphError, Result};

fn corrupt(path: &Path, reason: impl Into<String>) -> GraphError {
    GraphError::Config(format!("{}: not a supported .npy file: {}", path.display(), reason.into()))
}

/// Opens `path` and returns its array (C order only).
fn open(path: &Path) -> Result<npyz::NpyFile<std::io::BufReader<std::fs::File>>> {
    let file = std::fs::File::open(path).map_err(GraphError::io("read", path))?;
    let npy = npyz::NpyFile::new(std::io::BufReader::new(file)).map_err(|e| corrupt(path, e.to_string()))?;
    if npy.order() != npyz::Order::C {
        return Err(corrupt(path, "fortran order"));
    }
    Ok(npy)
}

fn values<T: npyz::Deserialize, R: std::io::Read>(npy: npyz::NpyFile<R>, path: &Path) -> Result<Vec<T>> {
    let descr = npy.dtype().descr();
    let data = npy.data::<T>().map_err(|e| corrupt(path, format!("dtype {descr}: {e}")))?;
    data.collect::<std::io::Result<Vec<T>>>().map_err(|e| corrupt(path, format!("truncated data: {e}")))
}

/// Reads a 2-D `<f4` array; returns the values and (rows, cols).
///
/// # Errors
/// Fails on another dtype, rank, non-finite values or a truncated file.
pub fn read_f32_matrix(path: &Path) -> Result<(Vec<f32>, (usize, usize))> {
    let npy = open(path)?;
    let descr = npy.dtype().descr();
    if descr != "'<f4'" && descr != "<f4" {
        return Err(corrupt(path, format!("dtype {descr}, expected <f4")));
    }
    let shape = npy.shape().to_vec();
    let [rows, cols] = shape[..] else { return Err(corrupt(path, format!("shape {shape:?} is not 2-D"))) };
    let values: Vec<f32> = values(npy, path)?;
    if values.iter().any(|v| !v.is_finite()) {
        return Err(corrupt(path, "non-finite values"));
    }
    Ok((values, (rows as usize, cols as usize)))
}

/// Reads a 1-D array of non-negative integers (`<i8`, `<u8`, `<i4`, `<u4`).
///
/// # Errors
/// Fails on another dtype, a negative id or a truncated file.
pub fn read_ids(path: &Path) -> Result<Vec<u64>> {
    let npy = open(path)?;
    let shape = npy.shape().to_vec();
    if shape.len() != 1 {
        return Err(corrupt(path, format!("shape {shape:?} is not 1-D")));
    }
    let descr = npy.dtype().descr();
    let signed = |v: Vec<i64>| -> Result<Vec<u64>> {
        v.into_iter()
            .map(|x| u64::try_from(x).map_err(|_| corrupt(path, format!("negative id {x}"))))
            .collect()
    };
    match descr.trim_matches('\'') {
        "<u8" => values::<u64, _>(npy, path),
        "<i8" => signed(values::<i64, _>(npy, path)?),
        "<u4" => Ok(values::<u32, _>(npy, path)?.into_iter().map(u64::from).collect()),
        "<i4" => signed(values::<i32, _>(npy, path)?.into_iter().map(i64::from).collect()),
        other => Err(corrupt(path, format!("dtype {other}, expected an integer type"))),
    }
}

/// Writes `values` as a little-endian C-order array of `shape`.
///
/// # Errors
/// Fails on I/O errors, or when `shape` does not hold `values.len()` values.
pub fn write<T: npyz::AutoSerialize>(out: impl Write, shape: &[u64], values: &[T]) -> std::io::Result<()> {
    let expected: u64 = shape.iter().product();
    if expected != values.len() as u64 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("shape {shape:?} holds {expected} values, got {}", values.len()),
        ));
    }
    let mut writer = npyz::WriteOptions::new().default_dtype().shape(shape).writer(out).begin_nd()?;
    writer.extend(values.iter())?;
    writer.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.npy");
        let values: Vec<f32> = vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        write(std::fs::File::create(&path).unwrap(), &[2, 3], &values).unwrap();
        let (read_back, shape) = read_f32_matrix(&path).unwrap();
        assert_eq!(shape, (2, 3));
        assert_eq!(read_back, values);

        let ids_path = dir.path().join("ids.npy");
        write(std::fs::File::create(&ids_path).unwrap(), &[2], &[7i64, 9]).unwrap();
        assert_eq!(read_ids(&ids_path).unwrap(), vec![7, 9]);
        write(std::fs::File::create(&ids_path).unwrap(), &[2], &[7u32, 9]).unwrap();
        assert_eq!(read_ids(&ids_path).unwrap(), vec![7, 9]);
        write(std::fs::File::create(&ids_path).unwrap(), &[2], &[7i32, -9]).unwrap();
        assert!(read_ids(&ids_path).unwrap_err().to_string().contains("negative id -9"));
        // Ids are not a matrix, and floats are not ids.
        assert!(read_f32_matrix(&ids_path).unwrap_err().to_string().contains("expected <f4"));
        assert!(read_ids(&path).unwrap_err().to_string().contains("is not 1-D"));
        write(std::fs::File::create(&path).unwrap(), &[2], &[1f32, 2.]).unwrap();
        assert!(read_ids(&path).unwrap_err().to_string().contains("expected an integer type"));
    }

    #[test]
    fn garbage_and_truncation_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.npy");
        std::fs::write(&path, b"not numpy at all").unwrap();
        let err = read_f32_matrix(&path).unwrap_err().to_string();
        assert!(err.contains("bad.npy") && err.contains("not a supported .npy file"), "{err}");
        let mut image = Vec::new();
        write(&mut image, &[2, 3], &[1f32; 6]).unwrap();
        std::fs::write(&path, &image[..image.len() - 3]).unwrap();
        assert!(read_f32_matrix(&path).unwrap_err().to_string().contains("truncated"));
        assert!(write(Vec::new(), &[3], &[1u8]).is_err());
    }
}
