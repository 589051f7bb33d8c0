//! Counts of skipped input rows by reason, with the first few examples.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How many examples of bad rows are kept.
pub const MAX_EXAMPLES: usize = 5;

/// Rows read and skipped from one input.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SkipReport {
    /// Data rows read (header excluded).
    pub rows_read: u64,
    /// Rows skipped, by reason.
    pub skipped: BTreeMap<String, u64>,
    /// The first few bad rows as `file:line: reason`.
    pub examples: Vec<String>,
}

impl SkipReport {
    /// Records one bad row.
    pub fn skip(&mut self, reason: &str, location: impl FnOnce() -> String) {
        *self.skipped.entry(reason.to_owned()).or_default() += 1;
        if self.examples.len() < MAX_EXAMPLES {
            self.examples.push(location());
        }
    }

    /// Total rows skipped.
    pub fn num_skipped(&self) -> u64 {
        self.skipped.values().sum()
    }

    /// Adds another report's counts.
    pub fn merge(&mut self, other: &SkipReport) {
        self.rows_read += other.rows_read;
        for (reason, count) in &other.skipped {
            *self.skipped.entry(reason.clone()).or_default() += count;
        }
        for example in &other.examples {
            if self.examples.len() < MAX_EXAMPLES {
                self.examples.push(example.clone());
            }
        }
    }
}
