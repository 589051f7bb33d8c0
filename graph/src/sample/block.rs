//! A sampled multi-layer heterogeneous block. Per node type, the nodes are
//! listed by depth (seeds first, then the nodes first reached at hop 1, and
//! so on), so the nodes a layer outputs are always a prefix of the nodes it
//! reads. Per edge type, the sampled edges are listed by hop, so the edges a
//! layer uses are a prefix too.

use crate::schema::NodeType;

/// A sampled block; see the module docs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Block {
    /// Number of hops sampled.
    pub hops: usize,
    /// Per node type (`NodeType::index`): graph ids, ordered by depth.
    pub nodes: Vec<Vec<u32>>,
    /// Per node type: `depth_end[t][d]` = number of nodes of depth ≤ d.
    pub depth_end: Vec<Vec<usize>>,
    /// Per edge type: source positions (into `nodes[src]`).
    pub edge_src: Vec<Vec<u32>>,
    /// Per edge type: destination positions (into `nodes[dst]`).
    pub edge_dst: Vec<Vec<u32>>,
    /// Per edge type: the edge's time-decayed weight.
    pub edge_weight: Vec<Vec<f32>>,
    /// Per edge type: the edge's last timestamp.
    pub edge_ts: Vec<Vec<i64>>,
    /// Per edge type: `hop_end[e][h - 1]` = number of edges of hop ≤ h.
    pub hop_end: Vec<Vec<usize>>,
}

impl Block {
    /// Nodes of a type.
    pub fn nodes_of(&self, node_type: NodeType) -> &[u32] {
        &self.nodes[node_type.index()]
    }

    /// Number of nodes of `node_type` that a layer producing depth ≤ `depth`
    /// outputs.
    pub fn num_up_to_depth(&self, node_type: NodeType, depth: usize) -> usize {
        self.depth_end[node_type.index()][depth.min(self.hops)]
    }

    /// Number of edges of edge type `e` of hop ≤ `hop` (0 gives 0).
    pub fn edges_up_to_hop(&self, e: usize, hop: usize) -> usize {
        if hop == 0 {
            0
        } else {
            self.hop_end[e][(hop - 1).min(self.hops - 1)]
        }
    }

    /// Total nodes over all types.
    pub fn num_nodes(&self) -> usize {
        self.nodes.iter().map(Vec::len).sum()
    }

    /// Total sampled edges over all edge types.
    pub fn num_edges(&self) -> usize {
        self.edge_src.iter().map(Vec::len).sum()
    }
}
