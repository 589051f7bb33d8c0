//! Invariants of the Cluster-GCN and PinSAGE samplers on generated graphs:
//! a cluster batch holds exactly the nodes of its sub-parts and every edge
//! between them, an epoch visits every sub-part once; a node's walk
//! neighbours are at most `top_t` other nodes within `walk_length` steps,
//! their weights sum to 1, and a seed gives the same result.

use std::collections::HashSet;

use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tessera_graph::sample::{
    ClusterSampler, MessageGraph, NeighborSampler, WalkGraph, WalkParams, Weighting,
};
use tessera_graph::schema::NodeType;
use tessera_graph::synth::{build_graph, SynthConfig};
use tessera_graph::Graph;

fn counts(graph: &Graph) -> Vec<usize> {
    NodeType::ALL.iter().map(|&t| graph.num_nodes(t)).collect()
}

fn check_cluster(graph: &Graph, sub_parts: u32, per_batch: usize, seed: u64) {
    let messages = MessageGraph::new(graph);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let part_of: Vec<Vec<u32>> =
        counts(graph).iter().map(|&n| (0..n).map(|_| rng.random_range(0..sub_parts)).collect()).collect();
    let sampler = ClusterSampler::new(&messages, part_of.clone(), per_batch, 2);
    let groups = sampler.epoch_groups(seed);
    assert_eq!(groups, sampler.epoch_groups(seed), "a seed gives the same groups");
    assert_eq!(groups.len(), sampler.batches_per_epoch());
    let mut seen: Vec<u32> = groups.iter().flatten().copied().collect();
    seen.sort_unstable();
    assert_eq!(seen, (0..sampler.sub_parts() as u32).collect::<Vec<_>>(), "every sub-part once per epoch");
    for group in &groups {
        assert!(group.len() <= per_batch);
        let sample = sampler.sample(group);
        assert_eq!(sample.block, sampler.sample(group).block, "sampling is deterministic");
        let block = &sample.block;
        let wanted: HashSet<u32> = group.iter().copied().collect();
        for t in NodeType::ALL {
            let mut expected: Vec<u32> = (0..graph.num_nodes(t) as u32)
                .filter(|&id| wanted.contains(&part_of[t.index()][id as usize]))
                .collect();
            let mut got = block.nodes_of(t).to_vec();
            expected.sort_unstable();
            got.sort_unstable();
            assert_eq!(got, expected, "{t} nodes are exactly those of the group");
            assert!(block.depth_end[t.index()].iter().all(|&n| n == got.len()), "all nodes at depth 0");
        }
        for (e, et) in messages.edge_types.iter().enumerate() {
            let mut inside = 0;
            for &dst in block.nodes_of(et.dst) {
                if (dst as usize) < et.adj.num_rows() {
                    inside += et
                        .adj
                        .neighbors(dst)
                        .iter()
                        .filter(|&&s| wanted.contains(&part_of[et.src.index()][s as usize]))
                        .count();
                }
            }
            assert_eq!(block.edge_src[e].len(), inside, "every edge between the group's nodes");
            assert!(block.hop_end[e].iter().all(|&m| m == inside), "all edges at hop 1");
            for k in 0..inside {
                let src = block.nodes[et.src.index()][block.edge_src[e][k] as usize];
                let dst = block.nodes[et.dst.index()][block.edge_dst[e][k] as usize];
                assert!(et.adj.neighbors(dst).contains(&src), "edge {src}->{dst} exists");
            }
        }
    }
}

/// Nodes within `steps` message steps of `start`.
fn reachable(messages: &MessageGraph<'_>, start: (NodeType, u32), steps: u32) -> HashSet<(NodeType, u32)> {
    let mut seen = HashSet::from([start]);
    let mut frontier = vec![start];
    for _ in 0..steps {
        let mut next = Vec::new();
        for (t, id) in frontier {
            for et in messages.edge_types.iter().filter(|e| e.dst == t) {
                if (id as usize) < et.adj.num_rows() {
                    for &s in et.adj.neighbors(id) {
                        if seen.insert((et.src, s)) {
                            next.push((et.src, s));
                        }
                    }
                }
            }
        }
        frontier = next;
    }
    seen
}

fn check_walks(graph: &Graph, params: WalkParams, seed: u64) {
    let messages = MessageGraph::new(graph);
    let walks = WalkGraph::build(&messages, &counts(graph), &params, seed);
    let again = WalkGraph::build(&messages, &counts(graph), &params, seed);
    let (m, m2) = (walks.messages(), again.messages());
    assert_eq!(m.names(), m2.names());
    let types = WalkGraph::node_types(&messages);
    assert_eq!(m.edge_types.len(), types.len() * types.len(), "one edge type per pair of node types");
    for (a, b) in m.edge_types.iter().zip(&m2.edge_types) {
        assert_eq!((a.adj.indptr, a.adj.indices, a.adj.weight), (b.adj.indptr, b.adj.indices, b.adj.weight));
    }
    for &d in &types {
        for id in 0..graph.num_nodes(d) as u32 {
            let near = reachable(&messages, (d, id), params.walk_length);
            let mut total = 0.0f32;
            let mut neighbours = 0;
            for et in m.edge_types.iter().filter(|e| e.dst == d) {
                let range = et.adj.range(id);
                neighbours += range.len();
                for at in range {
                    let src = et.adj.indices[at];
                    assert!((et.src, src) != (d, id), "a node is not its own walk neighbour");
                    assert!(
                        near.contains(&(et.src, src)),
                        "{}:{src} is within {} steps",
                        et.src,
                        params.walk_length
                    );
                    assert!(et.adj.count[at] >= 1.0 && et.adj.weight[at] > 0.0);
                    total += et.adj.weight[at];
                }
            }
            assert!(neighbours <= params.top_t as usize, "top_t respected");
            assert!(neighbours == 0 || (total - 1.0).abs() < 1e-4, "weights of {d}:{id} sum to {total}");
        }
    }
    // The neighbour sampler with a fan-out of top_t takes every neighbour.
    let sampler = NeighborSampler::new(&m, vec![params.top_t], Weighting::Uniform);
    let mut seeds = vec![Vec::new(); NodeType::ALL.len()];
    seeds[NodeType::User.index()] = vec![0];
    let (block, _) = sampler.sample(&seeds, &mut ChaCha8Rng::seed_from_u64(seed));
    let expected: usize =
        m.edge_types.iter().filter(|e| e.dst == NodeType::User).map(|e| e.adj.degree(0)).sum();
    assert_eq!(block.num_edges(), expected);
}

#[test]
fn walk_visits_come_most_visited_first() {
    // Visits come back most visited first, and no walk takes more than
    // walk_length steps.
    let dir = tempfile::tempdir().unwrap();
    let graph = build_graph(&SynthConfig::new(30, 20, 300, 7), dir.path(), 0.0).unwrap();
    let messages = MessageGraph::new(&graph);
    let params = WalkParams { walks: 50, walk_length: 2, restart: 0.0, top_t: 5 };
    let top = tessera_graph::sample::random_walk::visit(
        &messages,
        (NodeType::Item, 0),
        &params,
        &mut ChaCha8Rng::seed_from_u64(1),
    );
    assert!(!top.is_empty());
    let counts: Vec<u32> = top.iter().map(|v| v.1).collect();
    assert!(counts.windows(2).all(|w| w[0] >= w[1]), "most visited first: {counts:?}");
    assert!(counts.iter().sum::<u32>() <= 100);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, ..ProptestConfig::default() })]
    #[test]
    fn cluster_batches_are_sub_part_unions_with_all_their_edges(
        seed in 0u64..1000,
        sub_parts in 1u32..9,
        per_batch in 1usize..4,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let graph = build_graph(&SynthConfig::new(60, 40, 1_500, seed), dir.path(), 0.0).unwrap();
        check_cluster(&graph, sub_parts, per_batch, seed);
    }

    #[test]
    fn walk_neighbourhoods_hold_their_invariants(
        seed in 0u64..1000,
        walks in 1u32..30,
        walk_length in 1u32..4,
        restart in 0.0f64..0.9,
        top_t in 1u32..12,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let graph = build_graph(&SynthConfig::new(40, 30, 800, seed), dir.path(), 0.0).unwrap();
        check_walks(&graph, WalkParams { walks, walk_length, restart, top_t }, seed);
    }
}
