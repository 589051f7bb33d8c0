//! `[dataset]` and `[eval]`: what the job trains on, and how it is scored.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::{invalid, SpecError};

/// Default cut-offs for Recall@K, NDCG@K and HR@K.
pub const DEFAULT_KS: [u32; 2] = [10, 20];
/// Default sampled negatives per test item.
pub const DEFAULT_SAMPLED_NEGATIVES: u32 = 99;
/// Default users scored per validation pass.
pub const DEFAULT_VALIDATION_USERS: u32 = 2000;

/// The dataset: a built graph directory, or a build spec to build it from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetSpec {
    /// The graph directory.
    pub graph: PathBuf,
    /// A graph build spec (`examples/graphs/*.toml`); when set, the graph is
    /// built from it if `graph` does not exist yet.
    #[serde(default)]
    pub build: Option<PathBuf>,
    /// The partition plan directory; default `<graph>.parts<K>`.
    #[serde(default)]
    pub partitions: Option<PathBuf>,
    /// Halo depth of the partitions; default the number of model layers.
    #[serde(default)]
    pub halo_hops: Option<u32>,
    /// Which held-out pairs the final metrics use.
    #[serde(default)]
    pub eval_split: EvalSplit,
}

/// Held-out pairs used for the final metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EvalSplit {
    /// The test pairs.
    #[default]
    Test,
    /// The validation pairs.
    Valid,
}

/// Evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvalSpec {
    /// Cut-offs for Recall@K, NDCG@K and HR@K.
    pub ks: Vec<u32>,
    /// Sampled negatives per test item for sampled HR/NDCG.
    pub sampled_negatives: u32,
    /// Score the validation targets every this many epochs during training
    /// (0 = never). Needs a graph whose split has validation pairs; the
    /// worker of partition 0 does it, on the whole graph.
    pub every_epochs: u32,
    /// Users scored per validation pass, sampled once by the seed (0 = all).
    pub validation_users: u32,
}

impl Default for EvalSpec {
    fn default() -> Self {
        Self {
            ks: DEFAULT_KS.to_vec(),
            sampled_negatives: DEFAULT_SAMPLED_NEGATIVES,
            every_epochs: 0,
            validation_users: DEFAULT_VALIDATION_USERS,
        }
    }
}

impl EvalSpec {
    /// Checks the cut-offs.
    ///
    /// # Errors
    /// `eval.ks` when empty or out of range.
    pub fn validate(&self) -> Result<(), SpecError> {
        if self.ks.is_empty() || self.ks.iter().any(|&k| k == 0 || k > 1000) {
            return Err(invalid("eval.ks", "give cut-offs within 1..=1000"));
        }
        Ok(())
    }
}
