//! Aggregations shared by the layers: the (optionally weighted) mean of
//! per-edge values per destination, and the mean over every incoming edge of
//! a destination type,
//! whatever its edge type (the homogeneous view of GraphSAGE and LightGCN).

use tch::{Kind, Tensor};

use crate::model::{LayerInput, TypedTensors};

/// Mean of `values` (E × D) per destination in `dst`, for `n` destinations,
/// weighted by `weight` (E, positive) when given.
pub fn segment_mean(values: &Tensor, dst: &Tensor, n: i64, weight: Option<&Tensor>) -> Tensor {
    let d = values.size()[1];
    let ones;
    let (values, weight) = match weight {
        Some(w) => (values * w.unsqueeze(-1), w),
        None => {
            ones = Tensor::ones([dst.size()[0]], (Kind::Float, values.device()));
            (values.shallow_clone(), &ones)
        }
    };
    let sum = Tensor::zeros([n, d], (Kind::Float, values.device())).index_add(0, dst, &values);
    let total = Tensor::zeros([n], (Kind::Float, values.device())).index_add(0, dst, weight);
    // A destination with no edge has sum 0 and total 0: its mean is 0.
    sum / total.clamp_min(1e-12).unsqueeze(-1)
}

/// Per destination type, the mean of the source rows over all its incoming
/// edges of every edge type (`edge_ends[e]` = (source, destination) type
/// indices); `None` for a type with no incoming edge.
pub fn mean_incoming(h: &TypedTensors, input: &LayerInput, edge_ends: &[(usize, usize)]) -> TypedTensors {
    let mut gathered: Vec<(Vec<Tensor>, Vec<Tensor>, Vec<Tensor>)> =
        (0..h.len()).map(|_| (Vec::new(), Vec::new(), Vec::new())).collect();
    for (e, edges) in input.edges.iter().enumerate() {
        let Some(edges) = edges else { continue };
        let (s, t) = edge_ends[e];
        let Some(xs) = h[s].as_ref() else { continue };
        gathered[t].0.push(xs.index_select(0, &edges.src));
        gathered[t].1.push(edges.dst.shallow_clone());
        if let Some(w) = &edges.weight {
            gathered[t].2.push(w.shallow_clone());
        }
    }
    gathered
        .iter()
        .enumerate()
        .map(|(t, (values, dsts, weights))| {
            (!values.is_empty()).then(|| {
                // Weights come with every edge type of a layer or with none.
                let weight = (weights.len() == values.len()).then(|| Tensor::cat(weights, 0));
                segment_mean(&Tensor::cat(values, 0), &Tensor::cat(dsts, 0), input.n_dst[t], weight.as_ref())
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_mean_is_the_plain_or_weighted_mean_per_destination() {
        let values = Tensor::from_slice(&[1f32, 3.0, 10.0]).view([3, 1]);
        let dst = Tensor::from_slice(&[0i64, 0, 1]);
        let plain = segment_mean(&values, &dst, 3, None);
        assert_eq!(Vec::<f32>::try_from(plain.view([-1])).unwrap(), vec![2.0, 10.0, 0.0]);
        let w = Tensor::from_slice(&[1f32, 3.0, 2.0]);
        let weighted = segment_mean(&values, &dst, 3, Some(&w));
        assert_eq!(Vec::<f32>::try_from(weighted.view([-1])).unwrap(), vec![2.5, 10.0, 0.0]);
    }
}
