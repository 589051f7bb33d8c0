//! RGCN (Schlichtkrull et al., 2018): a weight per edge type with 1/c
//! normalisation (the mean over a target's edges of that type), a self-loop
//! weight per node type, and optional basis decomposition.

use tch::nn::{self, Module};
use tch::Tensor;
use tessera_graph::schema::NodeType;

use crate::model::aggregate::segment_mean;
use crate::model::input::head;
use crate::model::{glorot, Config, Layer, LayerInput, Schema, TypedTensors};

/// One RGCN layer.
#[derive(Debug)]
pub struct RgcnLayer {
    self_lin: Vec<Option<nn::Linear>>,
    weights: Vec<Tensor>,
    bases: Option<(Tensor, Tensor)>,
    edge_ends: Vec<(usize, usize)>,
    activate: bool,
    dropout: f64,
}

impl RgcnLayer {
    /// Weights under `vs`; `activate` applies ReLU (all but the last layer).
    pub fn new(vs: &nn::Path<'_>, config: &Config, schema: &Schema, activate: bool) -> Self {
        let d = config.dim;
        let self_lin = NodeType::ALL
            .iter()
            .map(|&t| {
                schema
                    .node_types
                    .contains(&t)
                    .then(|| nn::linear(vs / "self" / t.as_str(), d, d, Default::default()))
            })
            .collect();
        let num_edge_types = schema.edge_types.len() as i64;
        let (weights, bases) = if config.num_bases > 0 {
            let b = config.num_bases as i64;
            let v = glorot(&(vs / "bases"), "v", &[b, d, d]);
            let a = glorot(&(vs / "bases"), "a", &[num_edge_types, b]);
            (Vec::new(), Some((v, a)))
        } else {
            (schema.edge_types.iter().map(|(name, ..)| glorot(&(vs / "w"), name, &[d, d])).collect(), None)
        };
        let edge_ends = schema.edge_types.iter().map(|(_, s, t, _)| (s.index(), t.index())).collect();
        Self { self_lin, weights, bases, edge_ends, activate, dropout: config.dropout }
    }

    fn weight(&self, e: usize) -> Tensor {
        match &self.bases {
            Some((v, a)) => Tensor::einsum("b,bij->ij", &[&a.get(e as i64), v], None::<&[i64]>),
            None => self.weights[e].shallow_clone(),
        }
    }
}

impl Layer for RgcnLayer {
    fn forward_t(&self, h: &TypedTensors, input: &LayerInput, train: bool) -> TypedTensors {
        let mut out: TypedTensors = (0..h.len())
            .map(|t| Some(self.self_lin[t].as_ref()?.forward(&head(h[t].as_ref()?, input.n_dst[t]))))
            .collect();
        for (e, edges) in input.edges.iter().enumerate() {
            let Some(edges) = edges else { continue };
            let (s, t) = self.edge_ends[e];
            let (Some(xs), Some(acc)) = (h[s].as_ref(), out[t].as_mut()) else { continue };
            let messages = xs.index_select(0, &edges.src).matmul(&self.weight(e));
            *acc = &*acc + segment_mean(&messages, &edges.dst, input.n_dst[t], edges.weight.as_ref());
        }
        out.into_iter()
            .map(|x| {
                let x = x?;
                let x = if self.activate { x.relu() } else { x };
                Some(x.dropout(self.dropout, train))
            })
            .collect()
    }
}
