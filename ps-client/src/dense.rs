//! Dense parameters on the wire: a named tensor, the size check every reader
//! applies to a shape, and the shard that holds each name.

use crate::codec::CodecError;
use crate::routing::{mix64, table_hash};

/// A named tensor: (name, shape, row-major values).
pub type NamedTensor = (String, Vec<u64>, Vec<f32>);

/// Largest number of values in one dense parameter.
pub const MAX_DENSE_VALUES: usize = 64 << 20;

/// Number of values a shape holds, refusing overflow and oversize.
///
/// # Errors
/// A [`CodecError`] naming the parameter.
pub fn num_values(name: &str, shape: &[u64]) -> Result<usize, CodecError> {
    let n = shape.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d));
    match n {
        Some(n) if !shape.is_empty() && n > 0 && n as usize <= MAX_DENSE_VALUES => Ok(n as usize),
        _ => Err(CodecError(format!("dense {name}: shape {shape:?} is empty or too large"))),
    }
}

/// The shard of dense parameter `name`.
pub fn dense_shard_of(name: &str, num_shards: u32) -> u32 {
    (mix64(table_hash(name)) % u64::from(num_shards.max(1))) as u32
}
