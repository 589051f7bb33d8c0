//! `[train]`: the budget (epochs, batch size) and the optimizers of the
//! embedding tables and the dense weights.

use serde::{Deserialize, Serialize};

use crate::error::{in_range, invalid, SpecError};

/// Default passes over each partition's training edges.
pub const DEFAULT_EPOCHS: u32 = 5;
/// Default positive edges per step.
pub const DEFAULT_BATCH_SIZE: u32 = 1024;
/// Default optimizer of the embedding tables.
pub const DEFAULT_EMBEDDING_OPTIMIZER: OptimizerSpec =
    OptimizerSpec { kind: OptimizerKind::Adagrad, lr: 0.05, weight_decay: 0.0 };
/// Default optimizer of the dense weights.
pub const DEFAULT_DENSE_OPTIMIZER: OptimizerSpec =
    OptimizerSpec { kind: OptimizerKind::Adam, lr: 0.001, weight_decay: 0.0 };
/// Default steps between dense pushes and refreshes.
pub const DEFAULT_DENSE_SYNC_EVERY: u32 = 1;

/// Optimizer families (run on the parameter server).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerKind {
    /// Plain SGD.
    Sgd,
    /// Adagrad.
    Adagrad,
    /// Adam.
    Adam,
}

/// An optimizer for one table or the dense weights.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptimizerSpec {
    /// `sgd`, `adagrad` or `adam`.
    pub kind: OptimizerKind,
    /// Learning rate.
    pub lr: f64,
    /// L2 weight decay.
    #[serde(default)]
    pub weight_decay: f64,
}

impl OptimizerSpec {
    fn validate(&self, field: &'static str) -> Result<(), SpecError> {
        let ok =
            self.lr > 0.0 && self.lr.is_finite() && self.weight_decay >= 0.0 && self.weight_decay.is_finite();
        if ok {
            Ok(())
        } else {
            Err(invalid(field, "lr must be positive and weight_decay >= 0"))
        }
    }
}

/// Training budget and optimizers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainSpec {
    /// Passes over each partition's training edges.
    pub epochs: u32,
    /// Positive edges per step (the `cluster` sampler ignores it: a step
    /// takes every positive edge inside its group of sub-parts).
    pub batch_size: u32,
    /// Cap on steps per epoch per worker (0 = no cap).
    pub max_steps_per_epoch: u64,
    /// Optimizer of the embedding tables.
    pub embeddings: OptimizerSpec,
    /// Optimizer of the dense weights.
    pub dense: OptimizerSpec,
    /// Push dense gradients and refresh the dense weights every this many steps.
    pub dense_sync_every: u32,
    /// Wait for each step's pushes before pulling the next step's rows, so a
    /// one-worker run is reproducible for a seed (slower: no overlap).
    pub deterministic: bool,
    /// Start from an earlier bundle's parameters (a version or job bundle
    /// directory of the same model and dimension) instead of fresh ones:
    /// its nodes keep their trained rows (matched by raw id; a graph built
    /// with `extends` keeps their dense ids too), new nodes get fresh rows,
    /// and the new bundle records the lineage. `coordinator submit
    /// --resume-from` sets it.
    pub resume_from: Option<std::path::PathBuf>,
}

impl Default for TrainSpec {
    fn default() -> Self {
        Self {
            epochs: DEFAULT_EPOCHS,
            batch_size: DEFAULT_BATCH_SIZE,
            max_steps_per_epoch: 0,
            embeddings: DEFAULT_EMBEDDING_OPTIMIZER,
            dense: DEFAULT_DENSE_OPTIMIZER,
            dense_sync_every: DEFAULT_DENSE_SYNC_EVERY,
            deterministic: false,
            resume_from: None,
        }
    }
}

impl TrainSpec {
    /// Checks the budget and the optimizers.
    ///
    /// # Errors
    /// The first field out of range.
    pub fn validate(&self) -> Result<(), SpecError> {
        if self.epochs == 0 {
            return Err(invalid("train.epochs", "must be at least 1"));
        }
        in_range("train.batch_size", self.batch_size, 1..=1 << 20)?;
        self.embeddings.validate("train.embeddings")?;
        self.dense.validate("train.dense")?;
        if self.dense_sync_every == 0 {
            return Err(invalid("train.dense_sync_every", "must be at least 1"));
        }
        Ok(())
    }
}
