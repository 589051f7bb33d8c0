//! `[tasks]` and `[negatives]`: what the model is trained to predict, with
//! which loss, and against which negatives.

use serde::{Deserialize, Serialize};

use crate::error::{in_range, invalid, SpecError};

/// Default weight of the main task.
pub const DEFAULT_ALPHA: f64 = 1.0;
/// Default InfoNCE temperature.
pub const DEFAULT_TEMPERATURE: f64 = 0.2;
/// Default negatives per positive.
pub const DEFAULT_NUM_NEGATIVES: u32 = 1;

/// The behaviour the main task predicts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// Every behaviour.
    #[default]
    All,
    /// Clicks (page views).
    Click,
    /// Add-to-cart.
    Cart,
    /// Favourites.
    Fav,
    /// Purchases.
    Buy,
}

/// Link-prediction loss.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Loss {
    /// Bayesian personalised ranking.
    #[default]
    Bpr,
    /// Binary cross-entropy.
    Bce,
    /// Sampled softmax: each positive against the whole batch pool (every
    /// positive of the batch and every sampled negative), with the logQ
    /// correction for how often each pool item is drawn (in-batch items by
    /// popularity, negatives by their sampler), and same-item false
    /// negatives masked. The dot scorer only.
    Softmax,
}

/// Objectives: `alpha·main + beta·link + gamma·node + delta·contrastive`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TasksSpec {
    /// Weight of the main link-prediction task.
    pub alpha: f64,
    /// Weight of auxiliary link prediction on the other behaviours.
    pub beta: f64,
    /// Weight of item-category classification.
    pub gamma: f64,
    /// Weight of the contrastive (InfoNCE) task.
    pub delta: f64,
    /// Target behaviour of the main task: `buy`, `click`, `cart`, `fav` or `all`.
    pub target: Target,
    /// Main loss.
    pub loss: Loss,
    /// InfoNCE temperature.
    pub temperature: f64,
}

impl Default for TasksSpec {
    fn default() -> Self {
        Self {
            alpha: DEFAULT_ALPHA,
            beta: 0.0,
            gamma: 0.0,
            delta: 0.0,
            target: Target::default(),
            loss: Loss::default(),
            temperature: DEFAULT_TEMPERATURE,
        }
    }
}

impl TasksSpec {
    /// Checks the weights and the temperature.
    ///
    /// # Errors
    /// The first field out of range.
    pub fn validate(&self) -> Result<(), SpecError> {
        for (field, w) in [
            ("tasks.alpha", self.alpha),
            ("tasks.beta", self.beta),
            ("tasks.gamma", self.gamma),
            ("tasks.delta", self.delta),
        ] {
            if !w.is_finite() || w < 0.0 {
                return Err(invalid(field, format!("{w} must be a finite weight >= 0")));
            }
        }
        if self.alpha + self.beta + self.gamma + self.delta <= 0.0 {
            return Err(invalid("tasks.alpha", "at least one task needs a positive weight"));
        }
        if !(self.temperature > 0.0 && self.temperature.is_finite()) {
            return Err(invalid("tasks.temperature", "must be positive"));
        }
        Ok(())
    }
}

/// Easy-negative distribution.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NegativeKind {
    /// Uniform over items.
    #[default]
    Uniform,
    /// Proportional to popularity^0.75.
    Popularity,
}

/// Negative sampling.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NegativesSpec {
    /// Negatives per positive.
    pub num: u32,
    /// `uniform` or `popularity` (degree^0.75) for the easy part.
    pub kind: NegativeKind,
    /// Fraction mined as hard negatives from the model's top-scored items.
    pub hard_ratio: f64,
}

impl Default for NegativesSpec {
    fn default() -> Self {
        Self { num: DEFAULT_NUM_NEGATIVES, kind: NegativeKind::default(), hard_ratio: 0.0 }
    }
}

impl NegativesSpec {
    /// Checks the count and the hard fraction.
    ///
    /// # Errors
    /// The first field out of range.
    pub fn validate(&self) -> Result<(), SpecError> {
        in_range("negatives.num", self.num, 1..=1000)?;
        if !(0.0..=1.0).contains(&self.hard_ratio) {
            return Err(invalid("negatives.hard_ratio", "must be within [0, 1]"));
        }
        Ok(())
    }
}
