//! LightGCN (He et al., 2020): no weights and no non-linearity, each layer
//! the mean of a node's neighbours; the model output is the mean of all
//! layers (see `Model::forward_t`). The caller gives it only the user–item
//! behaviour edge types.

use tch::Tensor;

use crate::model::input::head;
use crate::model::rgcn::segment_mean;
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
                Some(if values.is_empty() {
                    x
                } else {
                    segment_mean(&Tensor::cat(values, 0), &Tensor::cat(dsts, 0), input.n_dst[t])
                })
            })
            .collect()
    }
}
