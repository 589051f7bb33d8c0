//! Full-graph inference: every node's input (all rows pulled from the PS,
//! plus features), then each layer over all nodes and all edges, under
//! `no_grad`. Returns the user and item embeddings, and on request every
//! layer's input for every node (the states a bundle caches).

use anyhow::Context as _;
use tch::{Device, Tensor};
use tessera_graph::sample::MessageGraph;
use tessera_graph::schema::NodeType;
use tessera_graph::store::Graph;
use tokio::runtime::Handle;

use crate::model::layer_input::full_graph_input;
use crate::model::{no_tensors, Model, TypedTensors};
use crate::params::Params;

/// Rows pulled per request during inference.
pub const PULL_CHUNK: usize = 65_536;

/// All rows of a type from the PS, as an (n × dim) tensor.
///
/// # Errors
/// Fails when the PS refuses or is unreachable.
pub fn all_rows(
    rt: &Handle,
    params: &Params,
    node_type: NodeType,
    n: usize,
    device: Device,
) -> anyhow::Result<Tensor> {
    let mut values = Vec::with_capacity(n * params.dim());
    for start in (0..n).step_by(PULL_CHUNK) {
        let ids: Vec<u64> = (start as u64..(start + PULL_CHUNK).min(n) as u64).collect();
        values.extend(
            rt.block_on(params.pull(node_type, &ids, 0))
                .with_context(|| format!("pull all {node_type} rows"))?,
        );
    }
    Ok(Tensor::from_slice(&values).view([n as i64, params.dim() as i64]).to_device(device))
}

/// 1 for items with a training interaction, 0 for the others.
fn trained_items(graph: &Graph) -> Vec<f32> {
    let mut trained = vec![0f32; graph.num_nodes(NodeType::Item)];
    for b in tessera_graph::schema::Behavior::ALL {
        if let Some((_, _, csc)) = graph.relation(b.as_str()) {
            for (i, slot) in trained.iter_mut().enumerate().take(csc.num_rows()) {
                if csc.degree(i as u32) > 0 {
                    *slot = 1.0;
                }
            }
        }
    }
    trained
}

/// What full-graph inference gives.
pub struct FullGraph {
    /// Every user's scoring vector.
    pub users: Tensor,
    /// Every item's scoring vector.
    pub items: Tensor,
    /// Each layer's input per node type, when asked for (else empty).
    pub states: Vec<TypedTensors>,
    /// With the states: every node's PS row per node type (what a resumed
    /// job starts from).
    pub rows: TypedTensors,
}

/// Full-graph inference; with `keep_states`, each layer's input is kept.
///
/// # Errors
/// Fails when the PS refuses or is unreachable.
#[allow(clippy::too_many_arguments)]
pub fn full_graph(
    rt: &Handle,
    graph: &Graph,
    messages: &MessageGraph<'_>,
    model: &Model,
    params: &Params,
    now: i64,
    device: Device,
    keep_states: bool,
) -> anyhow::Result<FullGraph> {
    let mut rows = no_tensors();
    let mut kept_rows = no_tensors();
    let mut features = no_tensors();
    for t in graph.node_types() {
        let n = graph.num_nodes(t);
        if n == 0 {
            continue;
        }
        let mut x = all_rows(rt, params, t, n, device)?;
        if keep_states {
            kept_rows[t.index()] = Some(x.copy());
        }
        if t == NodeType::Item && model.config.id_dropout > 0.0 {
            // Items with no training interaction have untrained rows.
            let trained = trained_items(graph);
            x *= Tensor::from_slice(&trained).view([n as i64, 1]).to_device(device);
        }
        rows[t.index()] = Some(x);
        if model.input.wants_features(t) {
            let (values, dim) = graph.features(t);
            features[t.index()] =
                Some(Tensor::from_slice(values).view([n as i64, dim as i64]).to_device(device));
        }
    }
    tch::no_grad(|| {
        let x = model.input.encode(&rows, &features);
        let input = full_graph_input(graph, messages, now, model.config.edge_importance, device);
        let inputs: Vec<_> = (0..model.config.num_layers()).map(|_| &input).collect();
        let (out, states) = if keep_states {
            model.forward_with_states(x, &inputs, false)
        } else {
            (model.forward_t(x, &inputs, false), Vec::new())
        };
        let take = |t: NodeType| {
            out[t.index()]
                .as_ref()
                .map(Tensor::shallow_clone)
                .with_context(|| format!("the graph has no {t} nodes"))
        };
        Ok(FullGraph {
            users: model.scoring_vectors(&take(NodeType::User)?),
            items: model.scoring_vectors(&take(NodeType::Item)?),
            states,
            rows: kept_rows,
        })
    })
}
