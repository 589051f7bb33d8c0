//! Partition quality: edge-cut, balance of both constraints, and (once the
//! halos are known) the replication factor.

use serde::{Deserialize, Serialize};

use crate::partition::merged::{MergedGraph, NCON};

/// How good an assignment of vertices to parts is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quality {
    /// Number of parts.
    pub parts: u32,
    /// Relation edges whose endpoints lie in different parts.
    pub edge_cut: u64,
    /// Relation edges in the graph (self loops excluded).
    pub num_edges: u64,
    /// Largest part's node count over the mean.
    pub node_balance: f64,
    /// Largest part's training-edge count over the mean.
    pub edge_balance: f64,
    /// Owned nodes per part.
    pub owned_nodes: Vec<u64>,
    /// Owned training edges per part.
    pub owned_train_edges: Vec<u64>,
    /// Halo nodes per part, when computed.
    pub halo_nodes: Vec<u64>,
}

impl Quality {
    /// Measures `assignment` (a part per vertex) on `merged`.
    pub fn measure(merged: &MergedGraph, assignment: &[u32], parts: u32) -> Self {
        let k = parts as usize;
        let mut weights = vec![[0u64; NCON]; k];
        let mut edge_cut = 0u64;
        let mut num_edges = 0u64;
        for (u, &pu) in assignment.iter().enumerate().take(merged.num_vertices()) {
            for (slot, &w) in weights[pu as usize].iter_mut().zip(&merged.vwgt[u * NCON..(u + 1) * NCON]) {
                *slot += w as u64;
            }
            let (nbrs, wgts) = merged.neighbors(u);
            for (&v, &w) in nbrs.iter().zip(wgts) {
                if (v as usize) > u {
                    num_edges += w as u64;
                    if assignment[v as usize] != pu {
                        edge_cut += w as u64;
                    }
                }
            }
        }
        let balance = |c: usize| {
            let total: u64 = weights.iter().map(|w| w[c]).sum();
            let max = weights.iter().map(|w| w[c]).max().unwrap_or(0);
            if total == 0 {
                1.0
            } else {
                max as f64 * k as f64 / total as f64
            }
        };
        Self {
            parts,
            edge_cut,
            num_edges,
            node_balance: balance(0),
            edge_balance: balance(1),
            owned_nodes: weights.iter().map(|w| w[0]).collect(),
            owned_train_edges: weights.iter().map(|w| w[1]).collect(),
            halo_nodes: Vec::new(),
        }
    }

    /// Fraction of edges cut.
    pub fn cut_fraction(&self) -> f64 {
        if self.num_edges == 0 {
            0.0
        } else {
            self.edge_cut as f64 / self.num_edges as f64
        }
    }

    /// Halo nodes over owned nodes, summed over parts (0 before halos are
    /// computed).
    pub fn replication(&self) -> f64 {
        let owned: u64 = self.owned_nodes.iter().sum();
        if owned == 0 {
            0.0
        } else {
            self.halo_nodes.iter().sum::<u64>() as f64 / owned as f64
        }
    }
}
