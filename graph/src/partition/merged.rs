//! The merged graph METIS cuts: every relation of the typed graph folded into
//! one undirected, weighted graph over the global vertex space, in METIS's
//! 32-bit CSR. An edge's weight is the number of relation edges between its
//! two vertices. Each vertex carries [`NCON`] weights: 1 (for node balance)
//! and its number of training edges (for work balance). Memory is linear in
//! the edges: two passes over the relations, then an in-place dedup per row.

use crate::error::{GraphError, Result};
use crate::partition::space::NodeSpace;
use crate::schema::{NodeType, RelationKind};
use crate::store::Graph;

/// Balance constraints per vertex: nodes and training edges.
pub const NCON: usize = 2;

/// An undirected weighted graph in METIS CSR form.
#[derive(Debug, Clone)]
pub struct MergedGraph {
    /// The global vertex space.
    pub space: NodeSpace,
    /// Row offsets, `len() + 1` entries.
    pub xadj: Vec<i32>,
    /// Neighbours, sorted and unique per row; no self loops.
    pub adjncy: Vec<i32>,
    /// Edge weights, parallel to `adjncy`.
    pub adjwgt: Vec<i32>,
    /// `NCON` weights per vertex: `[1, training edges]`.
    pub vwgt: Vec<i32>,
    /// Relation edges folded in (self loops excluded).
    pub num_relation_edges: u64,
}

impl MergedGraph {
    /// Number of vertices.
    pub fn num_vertices(&self) -> usize {
        self.xadj.len() - 1
    }

    /// Neighbours and edge weights of a vertex.
    pub fn neighbors(&self, v: usize) -> (&[i32], &[i32]) {
        let range = self.xadj[v] as usize..self.xadj[v + 1] as usize;
        (&self.adjncy[range.clone()], &self.adjwgt[range])
    }

    /// Training edges owned by a vertex (its second weight).
    pub fn train_edges(&self, v: usize) -> i32 {
        self.vwgt[v * NCON + 1]
    }
}

/// Visits every relation edge as a pair of global vertices.
fn for_each_edge(graph: &Graph, space: &NodeSpace, mut visit: impl FnMut(usize, usize)) {
    for rel in &graph.manifest().relations {
        let Some((spec, csr, _)) = graph.relation(&rel.spec.name) else { continue };
        let (Some(src_offset), Some(dst_offset)) = (space.offset(spec.src), space.offset(spec.dst)) else {
            continue;
        };
        for s in 0..csr.num_rows() {
            let u = src_offset as usize + s;
            for &d in csr.neighbors(s as u32) {
                let v = dst_offset as usize + d as usize;
                if u != v {
                    visit(u, v);
                }
            }
        }
    }
}

/// Folds all relations of `graph` into one undirected weighted graph.
///
/// # Errors
/// Fails when the graph is too large for METIS's 32-bit indices.
pub fn merge(graph: &Graph) -> Result<MergedGraph> {
    let space = NodeSpace::of(graph);
    let n = space.len();
    let too_large =
        |what: &str| GraphError::Config(format!("graph too large for 32-bit METIS indices: {what}"));
    if n >= i32::MAX as usize {
        return Err(too_large(&format!("{n} vertices")));
    }
    let mut degree = vec![0u64; n + 1];
    let mut num_relation_edges = 0u64;
    for_each_edge(graph, &space, |u, v| {
        degree[u + 1] += 1;
        degree[v + 1] += 1;
        num_relation_edges += 1;
    });
    for i in 1..degree.len() {
        degree[i] += degree[i - 1];
    }
    let total = degree[n];
    if total > i32::MAX as u64 {
        return Err(too_large(&format!("{total} adjacency entries")));
    }
    let mut cursor: Vec<i32> = degree.iter().map(|&d| d as i32).collect();
    drop(degree);
    let mut adjncy = vec![0i32; total as usize];
    for_each_edge(graph, &space, |u, v| {
        adjncy[cursor[u] as usize] = v as i32;
        cursor[u] += 1;
        adjncy[cursor[v] as usize] = u as i32;
        cursor[v] += 1;
    });
    // `cursor[u]` is now the end of row u, the start of row u + 1.
    let mut xadj = vec![0i32; n + 1];
    xadj[1..].copy_from_slice(&cursor[..n]);
    drop(cursor);

    // Sort each row and merge duplicates into weights, compacting in place.
    let mut adjwgt = vec![0i32; adjncy.len()];
    let mut write = 0usize;
    let mut start = 0usize;
    for v in 0..n {
        let end = xadj[v + 1] as usize;
        adjncy[start..end].sort_unstable();
        let row_start = write;
        for at in start..end {
            let w = adjncy[at];
            if write > row_start && adjncy[write - 1] == w {
                adjwgt[write - 1] += 1;
            } else {
                adjncy[write] = w;
                adjwgt[write] = 1;
                write += 1;
            }
        }
        start = end;
        xadj[v + 1] = write as i32;
    }
    adjncy.truncate(write);
    adjncy.shrink_to_fit();
    adjwgt.truncate(write);
    adjwgt.shrink_to_fit();

    let mut vwgt = vec![0i32; n * NCON];
    for w in vwgt.chunks_exact_mut(NCON) {
        w[0] = 1;
    }
    if let Some(user_offset) = space.offset(NodeType::User) {
        for rel in &graph.manifest().relations {
            if !matches!(rel.spec.kind, RelationKind::Behavior(_)) {
                continue;
            }
            let Some((_, csr, _)) = graph.relation(&rel.spec.name) else { continue };
            for u in 0..csr.num_rows() {
                let slot = &mut vwgt[(user_offset as usize + u) * NCON + 1];
                *slot = slot.saturating_add(csr.degree(u as u32) as i32);
            }
        }
    }
    Ok(MergedGraph { space, xadj, adjncy, adjwgt, vwgt, num_relation_edges })
}

/// Writes `merged` in the METIS graph file format that `gpmetis` reads
/// (header `n m 011 NCON`: vertex weights and edge weights), for comparisons
/// with the reference tool.
///
/// # Errors
/// Fails on I/O errors.
pub fn write_metis_file(merged: &MergedGraph, path: &std::path::Path) -> Result<()> {
    use std::io::Write;
    let file = std::fs::File::create(path).map_err(GraphError::io("create", path))?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    let io = GraphError::io("write", path);
    let mut write = || -> std::io::Result<()> {
        writeln!(out, "{} {} 011 {NCON}", merged.num_vertices(), merged.adjncy.len() / 2)?;
        let mut line = String::new();
        for v in 0..merged.num_vertices() {
            use std::fmt::Write as _;
            line.clear();
            for c in 0..NCON {
                let _ = write!(line, "{} ", merged.vwgt[v * NCON + c]);
            }
            let (nbrs, wgts) = merged.neighbors(v);
            for (&u, &w) in nbrs.iter().zip(wgts) {
                let _ = write!(line, "{} {} ", u + 1, w);
            }
            line.pop();
            line.push('\n');
            out.write_all(line.as_bytes())?;
        }
        out.flush()
    };
    write().map_err(io)
}
