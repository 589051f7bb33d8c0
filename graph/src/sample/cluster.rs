//! The Cluster-GCN sampler (Chiang et al., 2019). The graph's nodes are
//! split once into sub-parts (METIS, by the caller); each epoch shuffles the
//! sub-parts and groups them, and a batch is the union of one group's
//! sub-parts with every edge between its nodes. Every layer runs over the
//! whole subgraph, so the block has all its nodes at depth 0 and all its
//! edges at hop 1 (the layers share them).

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rustc_hash::FxHashMap;

use crate::sample::block::Block;
use crate::sample::edge_types::MessageGraph;
use crate::schema::NodeType;

/// Samples Cluster-GCN blocks over a message graph.
#[derive(Debug, Clone)]
pub struct ClusterSampler<'a> {
    graph: &'a MessageGraph<'a>,
    /// Per node type index, the sub-part of each node.
    part_of: Vec<Vec<u32>>,
    /// Per sub-part, per node type index: its nodes, ascending.
    members: Vec<Vec<Vec<u32>>>,
    /// Sub-parts per batch.
    parts_per_batch: usize,
    /// Layers of the model (the block's hops).
    layers: usize,
}

/// One batch's subgraph.
#[derive(Debug, Clone)]
pub struct ClusterBlock {
    /// The block: every node at depth 0, every edge at hop 1.
    pub block: Block,
    /// Per node type index: a node's position in `block.nodes`.
    pub position: Vec<FxHashMap<u32, u32>>,
}

impl<'a> ClusterSampler<'a> {
    /// A sampler over `graph` whose nodes are in the sub-parts `part_of`
    /// (per node type index, one entry per node; a type with fewer entries
    /// than nodes has its other nodes in no sub-part). `parts_per_batch` is
    /// at least 1.
    pub fn new(
        graph: &'a MessageGraph<'a>,
        part_of: Vec<Vec<u32>>,
        parts_per_batch: usize,
        layers: usize,
    ) -> Self {
        let sub_parts = part_of.iter().flatten().map(|&p| p as usize + 1).max().unwrap_or(0);
        let mut members = vec![vec![Vec::new(); NodeType::ALL.len()]; sub_parts];
        for (t, parts) in part_of.iter().enumerate() {
            for (id, &p) in parts.iter().enumerate() {
                members[p as usize][t].push(id as u32);
            }
        }
        Self { graph, part_of, members, parts_per_batch: parts_per_batch.max(1), layers }
    }

    /// Number of sub-parts.
    pub fn sub_parts(&self) -> usize {
        self.members.len()
    }

    /// The sub-part of a node, if any.
    pub fn part_of(&self, node_type: NodeType, id: u32) -> Option<u32> {
        self.part_of.get(node_type.index()).and_then(|p| p.get(id as usize)).copied()
    }

    /// Batches per epoch.
    pub fn batches_per_epoch(&self) -> usize {
        self.sub_parts().div_ceil(self.parts_per_batch)
    }

    /// The groups of sub-parts of an epoch: a shuffle seeded by `seed`, cut
    /// into groups of `parts_per_batch` (the last may be smaller).
    pub fn epoch_groups(&self, seed: u64) -> Vec<Vec<u32>> {
        let mut order: Vec<u32> = (0..self.sub_parts() as u32).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        order.chunks(self.parts_per_batch).map(<[u32]>::to_vec).collect()
    }

    /// The subgraph of the sub-parts in `group`: their nodes (by sub-part in
    /// group order, then id) and every edge of every edge type between them.
    pub fn sample(&self, group: &[u32]) -> ClusterBlock {
        let num_types = NodeType::ALL.len();
        let num_edge_types = self.graph.edge_types.len();
        let mut nodes = vec![Vec::new(); num_types];
        let mut position: Vec<FxHashMap<u32, u32>> = vec![FxHashMap::default(); num_types];
        for &p in group {
            let Some(parts) = self.members.get(p as usize) else { continue };
            for (t, ids) in parts.iter().enumerate() {
                for &id in ids {
                    position[t].insert(id, nodes[t].len() as u32);
                    nodes[t].push(id);
                }
            }
        }
        let mut block = Block {
            hops: self.layers,
            depth_end: nodes.iter().map(|n| vec![n.len(); self.layers + 1]).collect(),
            nodes,
            edge_src: vec![Vec::new(); num_edge_types],
            edge_dst: vec![Vec::new(); num_edge_types],
            edge_weight: vec![Vec::new(); num_edge_types],
            edge_ts: vec![Vec::new(); num_edge_types],
            hop_end: Vec::with_capacity(num_edge_types),
        };
        for (e, et) in self.graph.edge_types.iter().enumerate() {
            let (s, d) = (et.src.index(), et.dst.index());
            for (dst_pos, &dst) in block.nodes[d].iter().enumerate() {
                if dst as usize >= et.adj.num_rows() {
                    continue;
                }
                for at in et.adj.range(dst) {
                    let src = et.adj.indices[at];
                    let Some(&src_pos) = position[s].get(&src) else { continue };
                    block.edge_src[e].push(src_pos);
                    block.edge_dst[e].push(dst_pos as u32);
                    block.edge_weight[e].push(et.adj.weight[at]);
                    block.edge_ts[e].push(et.adj.ts[at]);
                }
            }
            block.hop_end.push(vec![block.edge_src[e].len(); self.layers]);
        }
        ClusterBlock { block, position }
    }
}
