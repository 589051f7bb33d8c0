//! `[ranker]`: the second stage after retrieval, a DeepFM-style model
//! trained after the main model on its retrieval candidates for the
//! validation targets, and scored on the test targets beside retrieval
//! alone. Off unless `enabled`.

use serde::{Deserialize, Serialize};

use crate::error::{in_range, invalid, SpecError};

/// Default candidates retrieved per user and re-ranked.
pub const DEFAULT_RANKER_CANDIDATES: u32 = 200;
/// Default passes over the training lists.
pub const DEFAULT_RANKER_EPOCHS: u32 = 20;
/// Default Adam learning rate.
pub const DEFAULT_RANKER_LR: f64 = 3e-3;
/// Default L2 on the ranker's weights.
pub const DEFAULT_RANKER_WEIGHT_DECAY: f64 = 1e-5;
/// Default factors of each sparse field's embedding (the FM's k).
pub const DEFAULT_RANKER_FACTORS: u32 = 8;
/// Default hash buckets per sparse field.
pub const DEFAULT_RANKER_BUCKETS: u32 = 1 << 14;
/// Default widths of the MLP's hidden layers.
pub const DEFAULT_RANKER_HIDDEN: [u32; 2] = [64, 32];
/// Default latest items of a user's history the similarity features read.
pub const DEFAULT_RANKER_RECENT: u32 = 10;
/// Default weight per step back in those items.
pub const DEFAULT_RANKER_RECENCY: f64 = 0.8;
/// Default share of the training lists held out to pick the epoch.
pub const DEFAULT_RANKER_HOLDOUT: f64 = 0.2;

/// `[ranker]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RankerSpec {
    /// Train the ranker and report `<model>+ranker` beside the model.
    pub enabled: bool,
    /// Candidates retrieved per user and re-ranked (training and serving).
    pub candidates: u32,
    /// Passes over the training lists; the best on the held-out lists is kept.
    pub epochs: u32,
    /// Adam learning rate.
    pub lr: f64,
    /// L2 on every weight.
    pub weight_decay: f64,
    /// Factors of each sparse field's embedding.
    pub factors: u32,
    /// Hash buckets per sparse field (user, item, category).
    pub buckets: u32,
    /// Widths of the MLP's hidden layers.
    pub hidden: Vec<u32>,
    /// Latest items of the user's history the similarity features read.
    pub recent: u32,
    /// Weight per step back in those items.
    pub recency: f64,
    /// Share of the training lists held out to pick the epoch.
    pub holdout: f64,
}

impl Default for RankerSpec {
    fn default() -> Self {
        Self {
            enabled: false,
            candidates: DEFAULT_RANKER_CANDIDATES,
            epochs: DEFAULT_RANKER_EPOCHS,
            lr: DEFAULT_RANKER_LR,
            weight_decay: DEFAULT_RANKER_WEIGHT_DECAY,
            factors: DEFAULT_RANKER_FACTORS,
            buckets: DEFAULT_RANKER_BUCKETS,
            hidden: DEFAULT_RANKER_HIDDEN.to_vec(),
            recent: DEFAULT_RANKER_RECENT,
            recency: DEFAULT_RANKER_RECENCY,
            holdout: DEFAULT_RANKER_HOLDOUT,
        }
    }
}

impl RankerSpec {
    /// Checks the section's ranges.
    ///
    /// # Errors
    /// The first field out of range.
    pub fn validate(&self) -> Result<(), SpecError> {
        in_range("ranker.candidates", self.candidates, 2..=10_000)?;
        in_range("ranker.epochs", self.epochs, 1..=1_000)?;
        in_range("ranker.factors", self.factors, 1..=256)?;
        in_range("ranker.buckets", self.buckets, 1..=1 << 24)?;
        in_range("ranker.recent", self.recent, 1..=1_000)?;
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return Err(invalid("ranker.lr", "must be a finite number > 0"));
        }
        if !(self.weight_decay >= 0.0 && self.weight_decay.is_finite()) {
            return Err(invalid("ranker.weight_decay", "must be a finite number >= 0"));
        }
        if self.hidden.is_empty() || self.hidden.len() > 4 || self.hidden.iter().any(|&h| h == 0 || h > 4096)
        {
            return Err(invalid("ranker.hidden", "1–4 layers of 1–4096 units"));
        }
        if !(self.recency > 0.0 && self.recency <= 1.0) {
            return Err(invalid("ranker.recency", format!("{} is outside (0, 1]", self.recency)));
        }
        if !(self.holdout > 0.0 && self.holdout < 1.0) {
            return Err(invalid("ranker.holdout", format!("{} is outside (0, 1)", self.holdout)));
        }
        Ok(())
    }
}
