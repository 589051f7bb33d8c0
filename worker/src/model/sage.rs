//! GraphSAGE on the graph treated as homogeneous: every edge type is the
//! same relation and every node type shares the weights, h' = W_self·h +
//! W_neigh·mean(neighbours). This is the baseline the heterogeneous models
//! must beat.

use tch::nn::{self, Module};
use tch::{Kind, Tensor};

use crate::model::aggregate::mean_incoming;
use crate::model::input::head;
use crate::model::{Config, Layer, LayerInput, Schema, TypedTensors};

/// One GraphSAGE (mean) layer.
#[derive(Debug)]
pub struct SageLayer {
    self_lin: nn::Linear,
    neigh_lin: nn::Linear,
    edge_ends: Vec<(usize, usize)>,
    activate: bool,
    dropout: f64,
}

impl SageLayer {
    /// Weights under `vs`; `activate` applies ReLU (all but the last layer).
    pub fn new(vs: &nn::Path<'_>, config: &Config, schema: &Schema, activate: bool) -> Self {
        let d = config.dim;
        Self {
            self_lin: nn::linear(vs / "self", d, d, Default::default()),
            neigh_lin: nn::linear(vs / "neigh", d, d, nn::LinearConfig { bias: false, ..Default::default() }),
            edge_ends: schema.edge_types.iter().map(|(_, s, t, _)| (s.index(), t.index())).collect(),
            activate,
            dropout: config.dropout,
        }
    }
}

impl Layer for SageLayer {
    fn forward_t(&self, h: &TypedTensors, input: &LayerInput, train: bool) -> TypedTensors {
        let means = mean_incoming(h, input, &self.edge_ends);
        (0..h.len())
            .map(|t| {
                let x = head(h[t].as_ref()?, input.n_dst[t]);
                let neigh = means[t].as_ref().map_or_else(|| Tensor::zeros_like(&x), Tensor::shallow_clone);
                let out = self.self_lin.forward(&x) + self.neigh_lin.forward(&neigh);
                let out = if self.activate { out.relu() } else { out };
                Some(out.dropout(self.dropout, train).to_kind(Kind::Float))
            })
            .collect()
    }
}
