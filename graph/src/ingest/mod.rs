//! Ingestion of behaviour logs and side tables: column mappings, presets,
//! streaming readers and the count of rows skipped and why.

pub mod format;
pub mod log;
pub mod npy;
pub mod parquet;
pub mod side;
pub mod skips;

pub use format::{Column, LogFormat, Preset};
pub use log::{read_log, RawEvent};
pub use side::{ContentSpec, ItemTableSpec, UserTableSpec};
pub use skips::SkipReport;

/// Parses a decimal unsigned id without allocating.
pub(crate) fn parse_u64(field: &[u8]) -> Option<u64> {
    let field = field.trim_ascii();
    if field.is_empty() || field.len() > 20 {
        return None;
    }
    let mut value: u64 = 0;
    for &b in field {
        if !b.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::parse_u64;

    #[test]
    fn ids_parse_or_refuse() {
        assert_eq!(parse_u64(b"123"), Some(123));
        assert_eq!(parse_u64(b" 7 "), Some(7));
        assert_eq!(parse_u64(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_u64(b"18446744073709551616"), None);
        assert_eq!(parse_u64(b"-1"), None);
        assert_eq!(parse_u64(b""), None);
        assert_eq!(parse_u64(b"12a"), None);
    }
}
