//! The neighbour sampler: from the seeds outwards, for each hop, up to a
//! fan-out of a node's neighbours (over all its edge types together, or per
//! edge type), drawn uniformly or weighted
//! by the time-decayed edge weight or a per-node importance (such as
//! PageRank), without replacement. Deterministic for an RNG seed.

use rand::Rng;
use rustc_hash::FxHashMap;

use crate::sample::block::Block;
use crate::sample::edge_types::MessageGraph;
use crate::schema::NodeType;

/// How neighbours are weighted.
#[derive(Debug, Clone, Default)]
pub enum Weighting {
    /// Every neighbour equally likely.
    #[default]
    Uniform,
    /// By the edge's time-decayed weight.
    Decay,
    /// By a per-node importance, indexed by `NodeType::index` then node id.
    Importance(Vec<Vec<f32>>),
}

/// Samples blocks over a message graph.
#[derive(Debug, Clone)]
pub struct NeighborSampler<'a> {
    graph: &'a MessageGraph<'a>,
    /// Fan-out per hop, from the seeds outwards.
    pub fanouts: Vec<u32>,
    /// Neighbour weighting.
    pub weighting: Weighting,
    /// Fan-out per edge type (true) or per node over all its edge types
    /// together (false, the default).
    pub per_relation: bool,
}

/// Picks up to `k` of `0..n` without replacement, uniformly (partial
/// Fisher–Yates over a scratch index), into `out`.
fn pick_uniform(n: usize, k: usize, rng: &mut impl Rng, scratch: &mut Vec<u32>, out: &mut Vec<usize>) {
    out.clear();
    if n <= k {
        out.extend(0..n);
        return;
    }
    if k * 4 < n {
        // Floyd's algorithm: k draws, no scratch of size n.
        for j in (n - k)..n {
            let t = rng.random_range(0..=j);
            if out.contains(&t) {
                out.push(j);
            } else {
                out.push(t);
            }
        }
        return;
    }
    scratch.clear();
    scratch.extend(0..n as u32);
    for i in 0..k {
        let j = rng.random_range(i..n);
        scratch.swap(i, j);
        out.push(scratch[i] as usize);
    }
}

/// Picks up to `k` of `0..weights.len()` without replacement with
/// probability proportional to weight (Efraimidis–Spirakis keys).
fn pick_weighted(weights: impl Iterator<Item = f32>, k: usize, rng: &mut impl Rng, out: &mut Vec<usize>) {
    let mut keyed: Vec<(f32, usize)> = weights
        .enumerate()
        .map(|(i, w)| {
            let w = if w.is_finite() && w > 0.0 { w } else { 1e-6 };
            let u: f32 = rng.random_range(f32::EPSILON..1.0);
            (u.ln() / w, i)
        })
        .collect();
    out.clear();
    if keyed.len() > k {
        keyed.select_nth_unstable_by(k, |a, b| b.0.total_cmp(&a.0));
        keyed.truncate(k);
    }
    out.extend(keyed.into_iter().map(|(_, i)| i));
    out.sort_unstable();
}

impl<'a> NeighborSampler<'a> {
    /// A sampler with `fanouts` (one per hop).
    pub fn new(graph: &'a MessageGraph<'a>, fanouts: Vec<u32>, weighting: Weighting) -> Self {
        Self { graph, fanouts, weighting, per_relation: false }
    }

    /// Samples a block for `seeds` (per node type index, possibly with
    /// repeats). Returns the block and, per type, each seed's position in
    /// `block.nodes`.
    pub fn sample(&self, seeds: &[Vec<u32>], rng: &mut impl Rng) -> (Block, Vec<Vec<u32>>) {
        let num_types = NodeType::ALL.len();
        let hops = self.fanouts.len();
        let num_edge_types = self.graph.edge_types.len();
        let mut block = Block {
            hops,
            nodes: vec![Vec::new(); num_types],
            depth_end: vec![Vec::with_capacity(hops + 1); num_types],
            edge_src: vec![Vec::new(); num_edge_types],
            edge_dst: vec![Vec::new(); num_edge_types],
            edge_weight: vec![Vec::new(); num_edge_types],
            edge_ts: vec![Vec::new(); num_edge_types],
            hop_end: vec![Vec::with_capacity(hops); num_edge_types],
        };
        let mut position: Vec<FxHashMap<u32, u32>> = vec![FxHashMap::default(); num_types];
        let mut seed_positions = vec![Vec::new(); num_types];
        for (t, ids) in seeds.iter().enumerate().take(num_types) {
            for &id in ids {
                let next = block.nodes[t].len() as u32;
                let pos = *position[t].entry(id).or_insert_with(|| {
                    block.nodes[t].push(id);
                    next
                });
                seed_positions[t].push(pos);
            }
        }
        for t in 0..num_types {
            block.depth_end[t].push(block.nodes[t].len());
        }
        let mut frontier_start = vec![0usize; num_types];
        let mut picked = Vec::new();
        let mut scratch = Vec::new();
        // Edge types grouped by destination type.
        let into = self.graph.incoming();
        let mut degrees: Vec<(usize, std::ops::Range<usize>)> = Vec::new();
        let mut weights: Vec<f32> = Vec::new();
        for &fanout in &self.fanouts {
            let frontier_end: Vec<usize> = block.nodes.iter().map(Vec::len).collect();
            for d in 0..num_types {
                for dst_pos in frontier_start[d]..frontier_end[d] {
                    let dst = block.nodes[d][dst_pos];
                    // The node's incoming edges of every type, as one list.
                    degrees.clear();
                    let mut total = 0;
                    for &e in &into[d] {
                        let adj = &self.graph.edge_types[e].adj;
                        if (dst as usize) < adj.num_rows() {
                            let range = adj.range(dst);
                            total += range.len();
                            degrees.push((e, range));
                        }
                    }
                    let groups: Vec<(usize, std::ops::Range<usize>)> = if self.per_relation {
                        degrees.iter().map(|(e, r)| (*e, r.clone())).collect()
                    } else {
                        vec![(usize::MAX, 0..total)]
                    };
                    for (group, span) in groups {
                        let n = span.len();
                        let members: &[(usize, std::ops::Range<usize>)] = if group == usize::MAX {
                            &degrees
                        } else {
                            std::slice::from_ref(
                                degrees.iter().find(|(e, _)| *e == group).expect("group exists"),
                            )
                        };
                        let locate = |mut k: usize| -> (usize, usize) {
                            for (e, r) in members {
                                if k < r.len() {
                                    return (*e, r.start + k);
                                }
                                k -= r.len();
                            }
                            unreachable!("index within the total degree")
                        };
                        match &self.weighting {
                            Weighting::Uniform => {
                                pick_uniform(n, fanout as usize, rng, &mut scratch, &mut picked)
                            }
                            Weighting::Decay | Weighting::Importance(_) => {
                                weights.clear();
                                for (e, r) in members {
                                    let et = &self.graph.edge_types[*e];
                                    match &self.weighting {
                                        Weighting::Importance(importance) => {
                                            weights.extend(et.adj.indices[r.clone()].iter().map(|&v| {
                                                importance[et.src.index()]
                                                    .get(v as usize)
                                                    .copied()
                                                    .unwrap_or(1.0)
                                            }))
                                        }
                                        _ => weights.extend_from_slice(&et.adj.weight[r.clone()]),
                                    }
                                }
                                pick_weighted(weights.iter().copied(), fanout as usize, rng, &mut picked);
                            }
                        }
                        for &k in &picked {
                            let (e, at) = locate(k);
                            let et = &self.graph.edge_types[e];
                            let s = et.src.index();
                            let src = et.adj.indices[at];
                            let next = block.nodes[s].len() as u32;
                            let src_pos = *position[s].entry(src).or_insert_with(|| {
                                block.nodes[s].push(src);
                                next
                            });
                            block.edge_src[e].push(src_pos);
                            block.edge_dst[e].push(dst_pos as u32);
                            block.edge_weight[e].push(et.adj.weight[at]);
                            block.edge_ts[e].push(et.adj.ts[at]);
                        }
                    }
                }
            }
            for e in 0..num_edge_types {
                block.hop_end[e].push(block.edge_src[e].len());
            }
            frontier_start = frontier_end;
            for t in 0..num_types {
                block.depth_end[t].push(block.nodes[t].len());
            }
        }
        (block, seed_positions)
    }
}
