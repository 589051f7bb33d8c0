//! LightGCN (He et al., 2020): no weights and no non-linearity, each layer
//! the mean of a node's neighbours; the model output is the mean of all
//! layers (see `Model::forward_t`). The caller gives it only the user–item
//! behaviour edge types.

use tch::Tensor;

use crate::model::aggregate::mean_incoming;
use crate::model::input::head;
use crate::model::{Layer, LayerInput, Schema, TypedTensors};

/// One propagation step.
#[derive(Debug)]
pub struct LightGcnLayer {
    edge_ends: Vec<(usize, usize)>,
}

impl LightGcnLayer {
    /// A layer over the schema's edge types.
    pub fn new(schema: &Schema) -> Self {
        Self { edge_ends: schema.edge_types.iter().map(|(_, s, t, _)| (s.index(), t.index())).collect() }
    }
}

impl Layer for LightGcnLayer {
    fn forward_t(&self, h: &TypedTensors, input: &LayerInput, _train: bool) -> TypedTensors {
        let means = mean_incoming(h, input, &self.edge_ends);
        (0..h.len())
            .map(|t| {
                let x = head(h[t].as_ref()?, input.n_dst[t]);
                Some(means[t].as_ref().map_or(x, Tensor::shallow_clone))
            })
            .collect()
    }
}
