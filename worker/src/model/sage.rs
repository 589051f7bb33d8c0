//! GraphSAGE on the graph treated as homogeneous: every edge type is the
//! same relation and every node type shares the weights, h' = W_self·h +
//! W_neigh·mean(neighbours). This is the baseline the heterogeneous models
//! must beat.

use tch::nn::{self, Module};
use tch::{Kind, Tensor};

use crate::model::input::head;
use crate::model::rgcn::segment_mean;
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
        // Gather every incoming edge of each destination type, whatever its type.
        let mut gathered: Vec<(Vec<Tensor>, Vec<Tensor>)> =
            (0..h.len()).map(|_| (Vec::new(), Vec::new())).collect();
        for (e, edges) in input.edges.iter().enumerate() {
            let Some(edges) = edges else { continue };
            let (s, t) = self.edge_ends[e];
            let Some(xs) = h[s].as_ref() else { continue };
            gathered[t].0.push(xs.index_select(0, &edges.src));
            gathered[t].1.push(edges.dst.shallow_clone());
        }
        (0..h.len())
            .map(|t| {
                let x = head(h[t].as_ref()?, input.n_dst[t]);
                let (values, dsts) = &gathered[t];
                let neigh = if values.is_empty() {
                    Tensor::zeros_like(&x)
                } else {
                    segment_mean(&Tensor::cat(values, 0), &Tensor::cat(dsts, 0), input.n_dst[t])
                };
                let out = self.self_lin.forward(&x) + self.neigh_lin.forward(&neigh);
                let out = if self.activate { out.relu() } else { out };
                Some(out.dropout(self.dropout, train).to_kind(Kind::Float))
            })
            .collect()
    }
}
