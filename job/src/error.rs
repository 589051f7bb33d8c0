//! The one error of the job spec: a parse failure or a field out of range,
//! always naming the field.

/// A bad job spec, naming the field.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The TOML does not parse or has an unknown or mistyped field.
    #[error("job spec: {0}")]
    Parse(String),
    /// A field has a value out of range.
    #[error("job spec field `{field}`: {reason}")]
    Invalid {
        /// Dotted path of the field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

/// A [`SpecError::Invalid`] for `field`.
pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> SpecError {
    SpecError::Invalid { field, reason: reason.into() }
}

/// Checks that `value` lies in `range`, naming `field` otherwise.
pub(crate) fn in_range<T>(
    field: &'static str,
    value: T,
    range: std::ops::RangeInclusive<T>,
) -> Result<(), SpecError>
where
    T: PartialOrd + std::fmt::Display,
{
    if range.contains(&value) {
        Ok(())
    } else {
        Err(invalid(field, format!("{value} is outside {}..={}", range.start(), range.end())))
    }
}

/// Checks that a probability-like `value` lies in `[0, 1)`.
pub(crate) fn unit_open(field: &'static str, value: f64) -> Result<(), SpecError> {
    if (0.0..1.0).contains(&value) {
        Ok(())
    } else {
        Err(invalid(field, format!("{value} is outside [0, 1)")))
    }
}
