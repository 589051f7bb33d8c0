//! `[sampler]`: which neighbourhood sampler and its parameters.

use serde::{Deserialize, Serialize};

use crate::error::{in_range, invalid, unit_open, SpecError};

/// Default fan-out per layer, from the seeds outwards (neighbor).
pub const DEFAULT_FANOUTS: [u32; 2] = [10, 5];
/// Default METIS sub-parts of a partition (cluster).
pub const DEFAULT_SUB_PARTS: u32 = 32;
/// Default sub-parts per batch (cluster).
pub const DEFAULT_PARTS_PER_BATCH: u32 = 2;
/// Default walks per seed (random_walk).
pub const DEFAULT_WALKS: u32 = 20;
/// Default steps per walk (random_walk).
pub const DEFAULT_WALK_LENGTH: u32 = 3;
/// Default restart probability (random_walk).
pub const DEFAULT_RESTART: f64 = 0.5;
/// Default most-visited nodes kept as neighbours (random_walk).
pub const DEFAULT_TOP_T: u32 = 10;

/// Sampler families.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SamplerKind {
    /// Per-layer fan-out.
    #[default]
    Neighbor,
    /// Cluster-GCN.
    Cluster,
    /// PinSAGE random walks.
    RandomWalk,
}

/// Neighbour weighting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Weighting {
    /// Uniform.
    #[default]
    Uniform,
    /// By the time-decayed edge weight.
    Decay,
    /// By the neighbour's PageRank.
    Pagerank,
}

/// Sampler choice and parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SamplerSpec {
    /// `neighbor`, `cluster` or `random_walk`.
    pub kind: SamplerKind,
    /// Fan-out per layer, from the seeds outwards (neighbor).
    pub fanouts: Vec<u32>,
    /// Edge weighting for neighbor sampling.
    pub weighting: Weighting,
    /// Apply the fan-out per edge type instead of per node over all its
    /// edge types together.
    pub per_relation: bool,
    /// METIS sub-parts of a partition (cluster).
    pub sub_parts: u32,
    /// Sub-parts per batch (cluster).
    pub parts_per_batch: u32,
    /// Walks per seed (random_walk).
    pub walks: u32,
    /// Steps per walk (random_walk).
    pub walk_length: u32,
    /// Restart probability (random_walk).
    pub restart: f64,
    /// Most-visited nodes kept as neighbours (random_walk).
    pub top_t: u32,
}

impl Default for SamplerSpec {
    fn default() -> Self {
        Self {
            kind: SamplerKind::default(),
            fanouts: DEFAULT_FANOUTS.to_vec(),
            weighting: Weighting::default(),
            per_relation: false,
            sub_parts: DEFAULT_SUB_PARTS,
            parts_per_batch: DEFAULT_PARTS_PER_BATCH,
            walks: DEFAULT_WALKS,
            walk_length: DEFAULT_WALK_LENGTH,
            restart: DEFAULT_RESTART,
            top_t: DEFAULT_TOP_T,
        }
    }
}

impl SamplerSpec {
    /// Checks the section's ranges; `layers` is the model's depth, which a
    /// neighbor sampler needs one fan-out for each of (`None` for MF).
    ///
    /// # Errors
    /// The first field out of range.
    pub fn validate(&self, layers: Option<u32>) -> Result<(), SpecError> {
        if self.kind == SamplerKind::Neighbor {
            if let Some(layers) = layers.filter(|&l| self.fanouts.len() != l as usize) {
                return Err(invalid(
                    "sampler.fanouts",
                    format!("{} fan-outs for {layers} layers", self.fanouts.len()),
                ));
            }
            if self.fanouts.iter().any(|&f| f == 0 || f > 1000) {
                return Err(invalid("sampler.fanouts", "each fan-out must be within 1..=1000"));
            }
        }
        in_range("sampler.sub_parts", self.sub_parts, 1..=65_536)?;
        if self.parts_per_batch == 0 || self.parts_per_batch > self.sub_parts {
            return Err(invalid(
                "sampler.parts_per_batch",
                format!("{} is outside 1..=sampler.sub_parts ({})", self.parts_per_batch, self.sub_parts),
            ));
        }
        unit_open("sampler.restart", self.restart)?;
        in_range("sampler.walks", self.walks, 1..=10_000)?;
        in_range("sampler.walk_length", self.walk_length, 1..=100)?;
        in_range("sampler.top_t", self.top_t, 1..=1_000)
    }
}
