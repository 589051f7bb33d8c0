//! PageRank over a message graph (every relation in both directions, all
//! node types in one index space), for importance-weighted neighbour
//! sampling: a neighbour is drawn in proportion to its rank. Ranks are
//! scaled so their mean is 1.

use crate::sample::edge_types::MessageGraph;
use crate::schema::NodeType;

/// Power-iteration steps.
pub const ITERATIONS: usize = 20;
/// Damping factor: the chance of following an edge rather than jumping.
pub const DAMPING: f64 = 0.85;

/// Per node type (`NodeType::index`), the rank of each node, mean 1 over
/// all nodes. `counts` gives the number of nodes of each type.
pub fn pagerank(graph: &MessageGraph<'_>, counts: &[usize; NodeType::ALL.len()]) -> Vec<Vec<f32>> {
    let offsets: Vec<usize> = counts
        .iter()
        .scan(0, |acc, &n| {
            let start = *acc;
            *acc += n;
            Some(start)
        })
        .collect();
    let total: usize = counts.iter().sum();
    if total == 0 {
        return counts.iter().map(|_| Vec::new()).collect();
    }
    // Out-degree of a node = the number of messages it sends.
    let mut out_degree = vec![0u32; total];
    for et in &graph.edge_types {
        for &s in et.adj.indices {
            out_degree[offsets[et.src.index()] + s as usize] += 1;
        }
    }
    let mut rank = vec![1.0 / total as f64; total];
    let mut next = vec![0.0f64; total];
    for _ in 0..ITERATIONS {
        next.iter_mut().for_each(|v| *v = 0.0);
        for et in &graph.edge_types {
            let (src, dst) = (offsets[et.src.index()], offsets[et.dst.index()]);
            for d in 0..et.adj.num_rows() {
                let mut sum = 0.0;
                for &s in et.adj.neighbors(d as u32) {
                    let s = src + s as usize;
                    sum += rank[s] / f64::from(out_degree[s]);
                }
                next[dst + d] += sum;
            }
        }
        // Dangling nodes (no out-edges) spread their rank evenly.
        let dangling: f64 = rank.iter().zip(&out_degree).filter(|(_, &d)| d == 0).map(|(r, _)| r).sum();
        let base = (1.0 - DAMPING) / total as f64 + DAMPING * dangling / total as f64;
        for v in &mut next {
            *v = base + DAMPING * *v;
        }
        std::mem::swap(&mut rank, &mut next);
    }
    let scale = total as f64 / rank.iter().sum::<f64>();
    counts
        .iter()
        .zip(&offsets)
        .map(|(&n, &start)| rank[start..start + n].iter().map(|&r| (r * scale) as f32).collect())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::{build_graph, SynthConfig};

    #[test]
    fn ranks_have_mean_one_and_favour_popular_items() {
        let dir = tempfile::tempdir().unwrap();
        let graph = build_graph(&SynthConfig::new(200, 100, 3_000, 1), dir.path(), 0.0).unwrap();
        let messages = MessageGraph::new(&graph);
        let mut counts = [0usize; NodeType::ALL.len()];
        for t in NodeType::ALL {
            counts[t.index()] = graph.num_nodes(t);
        }
        let ranks = pagerank(&messages, &counts);
        let all: Vec<f32> = ranks.iter().flatten().copied().collect();
        assert_eq!(all.len(), counts.iter().sum::<usize>());
        let mean = all.iter().map(|&r| f64::from(r)).sum::<f64>() / all.len() as f64;
        assert!((mean - 1.0).abs() < 1e-4, "mean rank {mean}");
        assert!(all.iter().all(|r| r.is_finite() && *r > 0.0));
        // The item with the most interactions outranks the one with the fewest.
        let items = &ranks[NodeType::Item.index()];
        let degree = |i: u32| {
            messages
                .edge_types
                .iter()
                .filter(|e| e.dst == NodeType::Item)
                .map(|e| e.adj.degree(i))
                .sum::<usize>()
        };
        let by_degree = |better: bool| {
            (0..items.len() as u32)
                .max_by_key(|&i| if better { degree(i) as i64 } else { -(degree(i) as i64) })
                .unwrap() as usize
        };
        assert!(items[by_degree(true)] > items[by_degree(false)]);
        assert_eq!(ranks, pagerank(&messages, &counts), "deterministic");
    }
}
