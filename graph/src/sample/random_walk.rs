//! PinSAGE neighbourhoods (Ying et al., 2018). From every node, `walks`
//! random walks with restart run over the message graph: a step moves from a
//! node to one of its message sources, uniformly over all its incoming edges
//! of every type; after each step the walk ends (and the next one restarts
//! from the node) with probability `restart`, and no walk is longer than
//! `walk_length` steps. The `top_t` most-visited other nodes become the
//! node's neighbours, weighted by their share of those visits.
//!
//! The neighbourhoods are an owned graph with one edge type per (source
//! type, destination type) pair, named `walk_<src>_<dst>`. The neighbour
//! sampler reads it like stored relations (with a fan-out of `top_t` it takes
//! every neighbour), and so does full-graph inference, so training and
//! evaluation see the same kind of neighbourhood.

use rand::Rng;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rustc_hash::FxHashMap;

use crate::sample::edge_types::{EdgeType, MessageGraph};
use crate::schema::{NodeType, RelationKind};
use crate::store::AdjView;

/// Walk settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WalkParams {
    /// Walks per node.
    pub walks: u32,
    /// Most steps per walk.
    pub walk_length: u32,
    /// Probability that a walk ends after each step.
    pub restart: f64,
    /// Most-visited nodes kept as neighbours.
    pub top_t: u32,
}

/// One (source type, destination type) pair's neighbourhoods, as CSR by
/// destination.
#[derive(Debug, Clone, Default)]
struct OwnedAdj {
    indptr: Vec<u64>,
    indices: Vec<u32>,
    /// Visit counts.
    count: Vec<f32>,
    /// Share of the destination's kept visits (sums to 1 per destination).
    weight: Vec<f32>,
    /// Latest timestamp of an edge a walk took into the neighbour.
    ts: Vec<i64>,
}

/// Random-walk neighbourhoods of every node; see the module docs.
#[derive(Debug, Clone)]
pub struct WalkGraph {
    pairs: Vec<(NodeType, NodeType)>,
    adjs: Vec<OwnedAdj>,
}

/// A node of a message graph: (type index, id).
type Node = (usize, u32);

/// One uniform step from `node` over all its incoming edges, or None when
/// it has none. Returns the source and the edge's timestamp.
fn step(
    messages: &MessageGraph<'_>,
    into: &[Vec<usize>],
    node: Node,
    rng: &mut impl Rng,
) -> Option<(Node, i64)> {
    let degree = |e: usize| {
        let adj = &messages.edge_types[e].adj;
        if (node.1 as usize) < adj.num_rows() {
            adj.degree(node.1)
        } else {
            0
        }
    };
    let total: usize = into[node.0].iter().map(|&e| degree(e)).sum();
    if total == 0 {
        return None;
    }
    let mut k = rng.random_range(0..total);
    for &e in &into[node.0] {
        let d = degree(e);
        if k < d {
            let et = &messages.edge_types[e];
            let at = et.adj.range(node.1).start + k;
            return Some(((et.src.index(), et.adj.indices[at]), et.adj.ts[at]));
        }
        k -= d;
    }
    unreachable!("k is below the total degree")
}

/// The `top_t` most-visited nodes from `start`, with their counts and
/// latest timestamps, most visited first (ties by type, then id).
pub fn visit(
    messages: &MessageGraph<'_>,
    start: (NodeType, u32),
    params: &WalkParams,
    rng: &mut impl Rng,
) -> Vec<((NodeType, u32), u32, i64)> {
    top_visits(messages, &messages.incoming(), (start.0.index(), start.1), params, rng)
        .into_iter()
        .map(|((t, id), c, ts)| ((NodeType::ALL[t], id), c, ts))
        .collect()
}

fn top_visits(
    messages: &MessageGraph<'_>,
    into: &[Vec<usize>],
    start: Node,
    params: &WalkParams,
    rng: &mut impl Rng,
) -> Vec<(Node, u32, i64)> {
    let mut visits: FxHashMap<Node, (u32, i64)> = FxHashMap::default();
    for _ in 0..params.walks {
        let mut at = start;
        for _ in 0..params.walk_length {
            let Some((next, ts)) = step(messages, into, at, rng) else { break };
            if next != start {
                let v = visits.entry(next).or_insert((0, i64::MIN));
                v.0 += 1;
                v.1 = v.1.max(ts);
            }
            at = next;
            if rng.random_bool(params.restart) {
                break;
            }
        }
    }
    let mut ranked: Vec<(Node, u32, i64)> = visits.into_iter().map(|(n, (c, ts))| (n, c, ts)).collect();
    ranked.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    ranked.truncate(params.top_t as usize);
    ranked
}

impl WalkGraph {
    /// Walks from every node of every type that `messages` reaches;
    /// `num_nodes` is indexed by `NodeType::index`. Deterministic for `seed`.
    ///
    /// # Panics
    /// When `params.restart` is outside [0, 1].
    pub fn build(messages: &MessageGraph<'_>, num_nodes: &[usize], params: &WalkParams, seed: u64) -> Self {
        let into = messages.incoming();
        let types = Self::node_types(messages);
        let pairs: Vec<(NodeType, NodeType)> =
            types.iter().flat_map(|&d| types.iter().map(move |&s| (s, d))).collect();
        let pair_index = |s: usize, d: usize| pairs.iter().position(|p| p.0.index() == s && p.1.index() == d);
        let mut adjs = vec![OwnedAdj::default(); pairs.len()];
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x9a1f_5a6e);
        for &d in &types {
            let rows = pairs.iter().enumerate().filter(|(_, p)| p.1 == d).map(|(i, _)| i).collect::<Vec<_>>();
            for &i in &rows {
                adjs[i].indptr.push(0);
            }
            for id in 0..num_nodes[d.index()] as u32 {
                let mut top = top_visits(messages, &into, (d.index(), id), params, &mut rng);
                let total: u32 = top.iter().map(|v| v.1).sum();
                // Within a row, neighbours by id, like stored relations.
                top.sort_unstable_by_key(|v| v.0);
                for ((s, src), count, ts) in top {
                    let adj = &mut adjs[pair_index(s, d.index()).expect("walks stay within the types")];
                    adj.indices.push(src);
                    adj.count.push(count as f32);
                    adj.weight.push(count as f32 / total as f32);
                    adj.ts.push(ts);
                }
                for &i in &rows {
                    let end = adjs[i].indices.len() as u64;
                    adjs[i].indptr.push(end);
                }
            }
        }
        Self { pairs, adjs }
    }

    /// The node types the walks can start from or reach: those of
    /// `messages`' edge types, in `NodeType::ALL` order.
    pub fn node_types(messages: &MessageGraph<'_>) -> Vec<NodeType> {
        NodeType::ALL
            .into_iter()
            .filter(|t| messages.edge_types.iter().any(|e| e.src == *t || e.dst == *t))
            .collect()
    }

    /// The neighbourhoods as edge types (every pair, even an empty one, so
    /// the set is the same for any graph of the same schema).
    pub fn messages(&self) -> MessageGraph<'_> {
        let mut edge_types = Vec::new();
        let mut names = Vec::new();
        for (i, (&(src, dst), adj)) in self.pairs.iter().zip(&self.adjs).enumerate() {
            edge_types.push(EdgeType {
                relation: i,
                reverse: false,
                kind: RelationKind::Walk,
                src,
                dst,
                adj: AdjView {
                    indptr: &adj.indptr,
                    indices: &adj.indices,
                    count: &adj.count,
                    weight: &adj.weight,
                    ts: &adj.ts,
                },
            });
            names.push(format!("walk_{src}_{dst}"));
        }
        MessageGraph::from_parts(edge_types, names)
    }

    /// Total neighbour edges.
    pub fn num_edges(&self) -> usize {
        self.adjs.iter().map(|a| a.indices.len()).sum()
    }
}
