//! `.npy` files through `npyz`: 1-D and 2-D arrays of the few dtypes a
//! bundle holds, written little-endian in C order, and read back from their
//! bytes (already checksummed) with their dtype and order checked.

use std::path::Path;

use crate::error::{BundleError, Result};

/// Writes `values` with `shape` as an `.npy` file image into `out` (the
/// graph crate's writer, which the PS export also uses).
pub use tessera_graph::ingest::npy::write;

/// Reads an `.npy` image (`bytes`, from file `path`) holding `T`, and
/// returns its values and shape.
///
/// # Errors
/// A bad header, another dtype, Fortran order or a truncated file.
pub fn read<T: npyz::Deserialize>(bytes: &[u8], path: &Path) -> Result<(Vec<T>, Vec<u64>)> {
    let corrupt = |e: std::io::Error| BundleError::corrupt(path, format!("not a readable .npy file: {e}"));
    let file = npyz::NpyFile::new(bytes).map_err(corrupt)?;
    if file.order() != npyz::Order::C {
        return Err(BundleError::corrupt(path, "Fortran order; expected C order"));
    }
    let shape = file.shape().to_vec();
    let dtype = file.dtype();
    let data =
        file.data::<T>().map_err(|e| BundleError::corrupt(path, format!("dtype {}: {e}", dtype.descr())))?;
    let values = data.collect::<std::io::Result<Vec<T>>>().map_err(corrupt)?;
    Ok((values, shape))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let mut image = Vec::new();
        write(&mut image, &[2, 3], &[1f32, 2., 3., 4., 5., 6.]).unwrap();
        let (values, shape) = read::<f32>(&image, Path::new("x.npy")).unwrap();
        assert_eq!((values, shape), (vec![1., 2., 3., 4., 5., 6.], vec![2, 3]));
        // Another dtype is refused with the file's name and the dtype.
        let err = read::<u64>(&image, Path::new("x.npy")).unwrap_err().to_string();
        assert!(err.contains("x.npy") && err.contains("<f4"), "{err}");
        // Truncated data.
        let err = read::<f32>(&image[..image.len() - 2], Path::new("x.npy")).unwrap_err();
        assert!(err.to_string().contains("not a readable"), "{err}");
        // A shape that does not match the values.
        assert!(write(Vec::new(), &[4], &[1u32, 2]).is_err());
    }
}
