//! What a layer reads: the graph's schema (node types, feature sizes, edge
//! types) and, per layer, how many destination nodes of each type it outputs
//! and the edges it aggregates.

use tch::{Device, Kind, Tensor};
use tessera_graph::sample::{Block, MessageGraph};
use tessera_graph::schema::{NodeType, RelationKind};
use tessera_graph::store::Graph;

/// Node types, feature sizes and edge types of a graph.
#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    /// Node types present.
    pub node_types: Vec<NodeType>,
    /// Feature columns per node type index.
    pub feature_dims: Vec<i64>,
    /// Edge types as (name, source type, destination type, kind).
    pub edge_types: Vec<(String, NodeType, NodeType, RelationKind)>,
}

impl Schema {
    /// The schema of `graph` with the edge types of `messages`.
    pub fn of(graph: &Graph, messages: &MessageGraph<'_>) -> Self {
        let node_types = graph.node_types();
        let feature_dims = NodeType::ALL
            .iter()
            .map(|&t| if node_types.contains(&t) { graph.features(t).1 as i64 } else { 0 })
            .collect();
        let names = messages.names();
        let edge_types =
            messages.edge_types.iter().zip(names).map(|(e, n)| (n, e.src, e.dst, e.kind)).collect();
        Self { node_types, feature_dims, edge_types }
    }
}

/// One edge type's edges for a layer.
#[derive(Debug)]
pub struct LayerEdges {
    /// Source rows (i64).
    pub src: Tensor,
    /// Destination rows (i64), below the layer's `n_dst` of the type.
    pub dst: Tensor,
    /// Age of the edge in days (f32), for temporal encoding.
    pub age_days: Tensor,
    /// Importance of each edge (f32, positive), when the aggregation is
    /// weighted (random-walk neighbourhoods, weighted by visit share).
    pub weight: Option<Tensor>,
}

/// A layer's destinations and edges.
#[derive(Debug)]
pub struct LayerInput {
    /// Outputs per node type index.
    pub n_dst: Vec<i64>,
    /// Per edge type, its edges (None when it has none).
    pub edges: Vec<Option<LayerEdges>>,
}

fn to_i64(values: &[u32], device: Device) -> Tensor {
    let v: Vec<i64> = values.iter().map(|&x| i64::from(x)).collect();
    Tensor::from_slice(&v).to_device(device)
}

fn ages(ts: &[i64], now: i64, device: Device) -> Tensor {
    let v: Vec<f32> = ts.iter().map(|&t| ((now - t).max(0) as f32) / 86_400.0).collect();
    Tensor::from_slice(&v).to_kind(Kind::Float).to_device(device)
}

fn weights(values: &[f32], importance: bool, device: Device) -> Option<Tensor> {
    importance.then(|| Tensor::from_slice(values).to_kind(Kind::Float).to_device(device))
}

/// The `LayerInput`s of a sampled block for `layers` layers: layer `l`
/// outputs the nodes of depth ≤ layers−1−l and uses the edges of hop ≤
/// layers−l. `now` dates the edges. With `importance`, the edges' weights
/// weight the aggregation.
pub fn block_inputs(
    block: &Block,
    layers: usize,
    now: i64,
    importance: bool,
    device: Device,
) -> Vec<LayerInput> {
    (0..layers)
        .map(|l| {
            let depth = layers - 1 - l;
            let hop = layers - l;
            let n_dst = NodeType::ALL.iter().map(|&t| block.num_up_to_depth(t, depth) as i64).collect();
            let edges = (0..block.edge_src.len())
                .map(|e| {
                    let n = block.edges_up_to_hop(e, hop);
                    (n > 0).then(|| LayerEdges {
                        src: to_i64(&block.edge_src[e][..n], device),
                        dst: to_i64(&block.edge_dst[e][..n], device),
                        age_days: ages(&block.edge_ts[e][..n], now, device),
                        weight: weights(&block.edge_weight[e][..n], importance, device),
                    })
                })
                .collect();
            LayerInput { n_dst, edges }
        })
        .collect()
}

/// A full-graph `LayerInput` (every node is a destination and every edge is
/// used), for layer-wise inference without sampling. With `importance`, the
/// edges' weights weight the aggregation.
pub fn full_graph_input(
    graph: &Graph,
    messages: &MessageGraph<'_>,
    now: i64,
    importance: bool,
    device: Device,
) -> LayerInput {
    let n_dst = NodeType::ALL.iter().map(|&t| graph.num_nodes(t) as i64).collect();
    let edges = messages
        .edge_types
        .iter()
        .map(|et| {
            let m = et.adj.indices.len();
            (m > 0).then(|| {
                let mut dst = Vec::with_capacity(m);
                for d in 0..et.adj.num_rows() {
                    dst.extend(std::iter::repeat_n(d as i64, et.adj.degree(d as u32)));
                }
                LayerEdges {
                    src: to_i64(et.adj.indices, device),
                    dst: Tensor::from_slice(&dst).to_device(device),
                    age_days: ages(et.adj.ts, now, device),
                    weight: weights(et.adj.weight, importance, device),
                }
            })
        })
        .collect();
    LayerInput { n_dst, edges }
}
