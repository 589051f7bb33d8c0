//! `[model]`: the model family and its shape.

use serde::{Deserialize, Serialize};

use crate::error::{in_range, invalid, unit_open, SpecError};
use crate::ClassicKind;

/// Default embedding and hidden dimension.
pub const DEFAULT_DIM: u32 = 64;
/// Default message-passing layers.
pub const DEFAULT_LAYERS: u32 = 2;
/// Default attention heads (HGT).
pub const DEFAULT_HEADS: u32 = 4;
/// Default temperature of the message-passing models' cosine scores.
pub const DEFAULT_TEMPERATURE: f64 = 0.2;

/// Model families.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    /// Heterogeneous graph transformer.
    #[default]
    Hgt,
    /// Relational GCN.
    Rgcn,
    /// GraphSAGE on the graph treated as homogeneous.
    Sage,
    /// LightGCN on the user–item graph.
    Lightgcn,
    /// Matrix factorisation.
    Mf,
}

impl ModelKind {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            ModelKind::Hgt => "hgt",
            ModelKind::Rgcn => "rgcn",
            ModelKind::Sage => "sage",
            ModelKind::Lightgcn => "lightgcn",
            ModelKind::Mf => "mf",
        }
    }
}

/// How HGT's transforms start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LayerInit {
    /// Random (Glorot), as in the paper's code.
    #[default]
    Glorot,
    /// Identity: an untrained layer is the residual plus an attention-weighted
    /// mean of the neighbours, so training starts from neighbourhood smoothing
    /// instead of random projections of the id embeddings.
    Identity,
}

/// How a (user, item) pair is scored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scorer {
    /// Dot product of the embeddings.
    #[default]
    Dot,
    /// The dot product plus a small MLP over the concatenation (one hidden
    /// layer of 64; its output layer starts at zero).
    Mlp,
}

/// Model shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelSpec {
    /// Model family (default `hgt`).
    pub kind: ModelKind,
    /// Embedding and hidden dimension.
    pub dim: u32,
    /// Message-passing layers (ignored by MF).
    pub layers: u32,
    /// Attention heads (HGT); must divide `dim`.
    pub heads: u32,
    /// Dropout during training.
    pub dropout: f64,
    /// Relative temporal encoding from edge timestamps (HGT).
    pub temporal: bool,
    /// Use node features (a type-specific projection added to the id embedding).
    pub features: bool,
    /// Probability of zeroing an item's id embedding in training, so the
    /// model learns to score items from features and neighbours; at
    /// inference, items with no training interaction get a zero id embedding
    /// (their row was never trained). Only for models that use features.
    pub id_dropout: f64,
    /// Bases for RGCN's basis decomposition (0 = a full weight per relation).
    pub num_bases: u32,
    /// Scorer for user–item pairs.
    pub scorer: Scorer,
    /// The message-passing models score cosine / temperature (MF scores the
    /// raw dot product). It does not change a ranking; it sets how sharp
    /// the training losses see the scores.
    pub temperature: f64,
    /// Output the mean of the input and of every layer's output instead of
    /// the last layer's (jumping knowledge, as LightGCN always does).
    /// Message-passing models only.
    pub layer_mean: bool,
    /// Initialisation of HGT's V and A linears and its per-relation W_ATT
    /// and W_MSG.
    pub init: LayerInit,
    /// An item–item neighbourhood term in the main model's final scores
    /// ("factorization meets the neighborhood", Koren 2008): the user's
    /// per-item standardised embedding score plus `neighbourhood_weight` ×
    /// the classic model's score (one hop over its item–item weights from
    /// the user's history), scaled by the user's largest such score. The
    /// classic model uses its `[classic]` settings. The report shows the
    /// combined model as `<model>+<classic>` beside the embedding-only row.
    pub neighbourhood: Option<ClassicKind>,
    /// The neighbourhood term's weight; when unset it is chosen on the
    /// validation split (NDCG@10 over a grid), which the graph must have.
    pub neighbourhood_weight: Option<f64>,
}

impl Default for ModelSpec {
    fn default() -> Self {
        Self {
            kind: ModelKind::default(),
            dim: DEFAULT_DIM,
            layers: DEFAULT_LAYERS,
            heads: DEFAULT_HEADS,
            dropout: 0.0,
            temporal: false,
            features: true,
            id_dropout: 0.0,
            num_bases: 0,
            scorer: Scorer::default(),
            temperature: DEFAULT_TEMPERATURE,
            layer_mean: false,
            init: LayerInit::default(),
            neighbourhood: None,
            neighbourhood_weight: None,
        }
    }
}

impl ModelSpec {
    /// Checks the section's ranges.
    ///
    /// # Errors
    /// The first field out of range.
    pub fn validate(&self) -> Result<(), SpecError> {
        in_range("model.dim", self.dim, 4..=1024)?;
        if self.kind != ModelKind::Mf {
            in_range("model.layers", self.layers, 1..=4)?;
        }
        if self.heads == 0 || !self.dim.is_multiple_of(self.heads) {
            return Err(invalid(
                "model.heads",
                format!("{} heads do not divide dim {}", self.heads, self.dim),
            ));
        }
        if !(self.temperature > 0.0 && self.temperature <= 10.0) {
            return Err(invalid("model.temperature", format!("{} is outside (0, 10]", self.temperature)));
        }
        if let Some(w) = self.neighbourhood_weight {
            if !(w.is_finite() && w >= 0.0) {
                return Err(invalid(
                    "model.neighbourhood_weight",
                    format!("{w} is not a finite weight >= 0"),
                ));
            }
            if self.neighbourhood.is_none() {
                return Err(invalid("model.neighbourhood_weight", "set model.neighbourhood too"));
            }
        }
        unit_open("model.id_dropout", self.id_dropout)?;
        unit_open("model.dropout", self.dropout)
    }
}
