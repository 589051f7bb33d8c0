//! The input of every model: a node's id embedding (pulled from the
//! parameter server) plus, for the heterogeneous models, a type-specific
//! linear projection of its features.

use tch::nn::{self, Module};
use tch::Tensor;
use tessera_graph::schema::NodeType;

use crate::model::{Config, Schema, TypedTensors};

/// Feature projections start small, so training starts from the id
/// embeddings and brings the features in as far as they help.
fn small_init() -> nn::LinearConfig {
    nn::LinearConfig {
        ws_init: nn::Init::Uniform { lo: -FEATURE_INIT, up: FEATURE_INIT },
        bs_init: Some(nn::Init::Const(0.0)),
        bias: true,
    }
}

/// Bound of the initial feature-projection weights.
pub const FEATURE_INIT: f64 = 0.01;

/// Feature projections per node type.
#[derive(Debug)]
pub struct InputEncoder {
    projections: Vec<Option<nn::Linear>>,
}

impl InputEncoder {
    /// One projection per node type with features, when the model uses them.
    pub fn new(vs: &nn::Path<'_>, config: &Config, schema: &Schema) -> Self {
        let projections = NodeType::ALL
            .iter()
            .map(|&t| {
                let dim = schema.feature_dims[t.index()];
                (config.uses_features() && dim > 0 && schema.node_types.contains(&t))
                    .then(|| nn::linear(vs / "features" / t.as_str(), dim, config.dim, small_init()))
            })
            .collect();
        Self { projections }
    }

    /// `rows[t] + projection_t(features[t])` per type.
    pub fn encode(&self, rows: &TypedTensors, features: &TypedTensors) -> TypedTensors {
        rows.iter()
            .zip(features)
            .zip(&self.projections)
            .map(|((row, feat), projection)| {
                let row = row.as_ref()?;
                Some(match (feat, projection) {
                    (Some(f), Some(p)) => row + p.forward(f),
                    _ => row.shallow_clone(),
                })
            })
            .collect()
    }

    /// Whether a type's features are read.
    pub fn wants_features(&self, node_type: NodeType) -> bool {
        self.projections[node_type.index()].is_some()
    }
}

/// Helper used by layers: the first `n` rows of `h`.
pub fn head(h: &Tensor, n: i64) -> Tensor {
    h.narrow(0, 0, n)
}
