//! Minimal reader and writer of NumPy `.npy` files (version 1.0, C order,
//! little-endian), for content vectors and exported embeddings.

use std::io::Write;
use std::path::Path;

use crate::error::{GraphError, Result};

const MAGIC: &[u8] = b"\x93NUMPY";

fn corrupt(path: &Path, reason: impl Into<String>) -> GraphError {
    GraphError::Config(format!("{}: not a supported .npy file: {}", path.display(), reason.into()))
}

/// Parses the header; returns (dtype descr, shape, data offset).
fn header(bytes: &[u8], path: &Path) -> Result<(String, Vec<usize>, usize)> {
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(corrupt(path, "bad magic"));
    }
    let (len, start) = match bytes[6] {
        1 => (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10),
        2 | 3 if bytes.len() >= 12 => {
            (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12)
        }
        v => return Err(corrupt(path, format!("version {v}"))),
    };
    let text = bytes.get(start..start + len).ok_or_else(|| corrupt(path, "truncated header"))?;
    let text = std::str::from_utf8(text).map_err(|_| corrupt(path, "header is not UTF-8"))?;
    let grab = |key: &str| -> Option<&str> {
        let at = text.find(key)? + key.len();
        let rest = text[at..].trim_start().strip_prefix(':')?.trim_start();
        Some(rest)
    };
    let descr = grab("'descr'").and_then(|r| r.strip_prefix('\'')).and_then(|r| r.split('\'').next());
    let descr = descr.ok_or_else(|| corrupt(path, "no descr"))?.to_owned();
    if grab("'fortran_order'").is_some_and(|r| r.starts_with("True")) {
        return Err(corrupt(path, "fortran order"));
    }
    let shape = grab("'shape'").and_then(|r| r.strip_prefix('(')).and_then(|r| r.split(')').next());
    let shape = shape.ok_or_else(|| corrupt(path, "no shape"))?;
    let shape = shape
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>().map_err(|_| corrupt(path, format!("bad shape {s:?}"))))
        .collect::<Result<Vec<_>>>()?;
    Ok((descr, shape, start + len))
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(GraphError::io("read", path))
}

/// Reads a 2-D `<f4` array; returns the values and (rows, cols).
///
/// # Errors
/// Fails on another dtype, rank or a truncated file.
pub fn read_f32_matrix(path: &Path) -> Result<(Vec<f32>, (usize, usize))> {
    let bytes = read(path)?;
    let (descr, shape, offset) = header(&bytes, path)?;
    if descr != "<f4" {
        return Err(corrupt(path, format!("dtype {descr}, expected <f4")));
    }
    let [rows, cols] = shape[..] else { return Err(corrupt(path, format!("shape {shape:?} is not 2-D"))) };
    let data = &bytes[offset..];
    if data.len() != rows * cols * 4 {
        return Err(corrupt(path, format!("{} data bytes for shape {shape:?}", data.len())));
    }
    let values =
        data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect::<Vec<_>>();
    if values.iter().any(|v| !v.is_finite()) {
        return Err(corrupt(path, "non-finite values"));
    }
    Ok((values, (rows, cols)))
}

/// Reads a 1-D array of non-negative integers (`<i8`, `<u8`, `<i4`, `<u4`).
///
/// # Errors
/// Fails on another dtype, a negative id or a truncated file.
pub fn read_ids(path: &Path) -> Result<Vec<u64>> {
    let bytes = read(path)?;
    let (descr, shape, offset) = header(&bytes, path)?;
    let [n] = shape[..] else { return Err(corrupt(path, format!("shape {shape:?} is not 1-D"))) };
    let data = &bytes[offset..];
    let width = match descr.as_str() {
        "<i8" | "<u8" => 8,
        "<i4" | "<u4" => 4,
        other => return Err(corrupt(path, format!("dtype {other}, expected an integer type"))),
    };
    if data.len() != n * width {
        return Err(corrupt(path, format!("{} data bytes for {n} ids", data.len())));
    }
    data.chunks_exact(width)
        .map(|c| {
            let v = if width == 8 {
                if descr == "<u8" {
                    i128::from(u64::from_le_bytes(c.try_into().unwrap_or_default()))
                } else {
                    i128::from(i64::from_le_bytes(c.try_into().unwrap_or_default()))
                }
            } else if descr == "<u4" {
                i128::from(u32::from_le_bytes(c.try_into().unwrap_or_default()))
            } else {
                i128::from(i32::from_le_bytes(c.try_into().unwrap_or_default()))
            };
            u64::try_from(v).map_err(|_| corrupt(path, format!("negative id {v}")))
        })
        .collect()
}

/// Writes a C-order array of `descr` (`<f4`, `<u8`, …) with `shape`.
///
/// # Errors
/// Fails on I/O errors.
pub fn write(out: &mut impl Write, descr: &str, shape: &[usize], data: &[u8]) -> std::io::Result<()> {
    let shape_text = match shape {
        [n] => format!("({n},)"),
        dims => format!("({})", dims.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")),
    };
    let mut head = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_text}, }}");
    let unpadded = 10 + head.len() + 1;
    head.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    head.push('\n');
    out.write_all(MAGIC)?;
    out.write_all(&[1, 0])?;
    out.write_all(&(head.len() as u16).to_le_bytes())?;
    out.write_all(head.as_bytes())?;
    out.write_all(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.npy");
        let values: Vec<f32> = vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let mut file = std::fs::File::create(&path).unwrap();
        write(&mut file, "<f4", &[2, 3], &bytes).unwrap();
        drop(file);
        let (read_back, shape) = read_f32_matrix(&path).unwrap();
        assert_eq!(shape, (2, 3));
        assert_eq!(read_back, values);

        let ids_path = dir.path().join("ids.npy");
        let ids: Vec<u8> = [7i64, 9].iter().flat_map(|v| v.to_le_bytes()).collect();
        write(&mut std::fs::File::create(&ids_path).unwrap(), "<i8", &[2], &ids).unwrap();
        assert_eq!(read_ids(&ids_path).unwrap(), vec![7, 9]);
    }

    #[test]
    fn garbage_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.npy");
        std::fs::write(&path, b"not numpy at all").unwrap();
        assert!(read_f32_matrix(&path).unwrap_err().to_string().contains("bad magic"));
    }
}
