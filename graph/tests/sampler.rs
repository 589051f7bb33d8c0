//! Sampler invariants on generated graphs and their partitions: fan-outs
//! are respected, every sampled edge exists in the graph (so nothing comes
//! from outside a partition), the block's depth and hop orders hold, and a
//! seed gives the same block.

use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tessera_graph::sample::{MessageGraph, NeighborSampler, Weighting};
use tessera_graph::schema::NodeType;
use tessera_graph::synth::{build_graph, SynthConfig};
use tessera_graph::Graph;

fn check(graph: &Graph, fanouts: &[u32], per_relation: bool, weighting: Weighting, seed: u64) {
    let messages = MessageGraph::new(graph);
    let mut sampler = NeighborSampler::new(&messages, fanouts.to_vec(), weighting);
    sampler.per_relation = per_relation;
    let users = graph.num_nodes(NodeType::User) as u32;
    let items = graph.num_nodes(NodeType::Item) as u32;
    let mut seeds = vec![Vec::new(); NodeType::ALL.len()];
    seeds[NodeType::User.index()] = (0..users.min(20)).chain([0, 1]).collect();
    seeds[NodeType::Item.index()] = (0..items.min(30)).collect();
    let (block, positions) = sampler.sample(&seeds, &mut ChaCha8Rng::seed_from_u64(seed));
    let (again, _) = sampler.sample(&seeds, &mut ChaCha8Rng::seed_from_u64(seed));
    assert_eq!(block, again, "a seed gives the same block");
    // Seeds map to their own ids.
    for (t, ids) in seeds.iter().enumerate() {
        for (k, &id) in ids.iter().enumerate() {
            assert_eq!(block.nodes[t][positions[t][k] as usize], id);
        }
    }
    for t in NodeType::ALL {
        assert!(block.nodes_of(t).iter().all(|&v| (v as usize) < graph.num_nodes(t)), "{t} ids are local");
        let mut sorted = block.nodes_of(t).to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), block.nodes_of(t).len(), "no node is listed twice");
    }
    for (e, et) in messages.edge_types.iter().enumerate() {
        for k in 0..block.edge_src[e].len() {
            let src = block.nodes[et.src.index()][block.edge_src[e][k] as usize];
            let dst = block.nodes[et.dst.index()][block.edge_dst[e][k] as usize];
            assert!(et.adj.neighbors(dst).contains(&src), "sampled edge {src}->{dst} exists in the graph");
        }
    }
    // Fan-outs: per hop, per destination, at most the fan-out (over all edge
    // types, or per edge type).
    for (hop, &fanout) in fanouts.iter().enumerate() {
        let mut per_dst: std::collections::HashMap<(usize, usize, u32), u32> = Default::default();
        for (e, et) in messages.edge_types.iter().enumerate() {
            let lo = if hop == 0 { 0 } else { block.edges_up_to_hop(e, hop) };
            let hi = block.edges_up_to_hop(e, hop + 1);
            for k in lo..hi {
                let group = if per_relation { e } else { usize::MAX };
                *per_dst.entry((et.dst.index(), group, block.edge_dst[e][k])).or_default() += 1;
                // A hop-h edge ends at a node of depth h − 1.
                let depth_lo = if hop == 0 { 0 } else { block.depth_end[et.dst.index()][hop - 1] };
                let d = block.edge_dst[e][k] as usize;
                assert!(
                    d >= depth_lo && d < block.depth_end[et.dst.index()][hop],
                    "hop {hop} destination depth"
                );
            }
        }
        assert!(per_dst.values().all(|&n| n <= fanout), "fan-out {fanout} respected at hop {hop}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10, ..ProptestConfig::default() })]
    #[test]
    fn sampler_invariants_hold(
        seed in 0u64..1000,
        f1 in 1u32..8,
        f2 in 1u32..5,
        per_relation in any::<bool>(),
        decay in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let graph = build_graph(&SynthConfig::new(60, 40, 1_500, seed), dir.path(), 0.0).unwrap();
        let weighting = if decay { Weighting::Decay } else { Weighting::Uniform };
        check(&graph, &[f1, f2], per_relation, weighting, seed);
    }
}
