//! The three shared datasets build with the counts their README gives, ids
//! round-trip, edge counts match a direct count of the input, and no test
//! pair leaks into training.

mod common;

use std::collections::{HashMap, HashSet};

use common::{build_example, dataset};
use tessera_graph::{Behavior, NodeType};

fn behavior_edges(graph: &tessera_graph::Graph) -> HashSet<(u32, u32)> {
    let mut pairs = HashSet::new();
    for b in Behavior::ALL {
        if let Some((_, csr, _)) = graph.relation(b.as_str()) {
            for u in 0..csr.num_rows() as u32 {
                pairs.extend(csr.neighbors(u).iter().map(|&i| (u, i)));
            }
        }
    }
    pairs
}

#[test]
fn ecomm_builds_with_readme_counts() {
    let (_dir, graph) = build_example("ecomm");
    let r = &graph.manifest().report;
    assert_eq!(r.log.rows_read, 85_213);
    assert_eq!(r.log.num_skipped(), 0);
    assert_eq!(r.log_users, 1_476);
    assert_eq!(r.log_items, 34_505);
    // Item nodes come from items.csv (36,224), categories and brands too.
    assert_eq!(graph.num_nodes(NodeType::Item), 36_224);
    assert_eq!(graph.num_nodes(NodeType::Category), 401);
    assert_eq!(graph.num_nodes(NodeType::Brand), 67);
    let events: HashMap<Behavior, u64> = r.log_events_per_behavior.iter().copied().collect();
    assert_eq!(events[&Behavior::Click], 57_917);
    assert_eq!(events[&Behavior::Buy], 6_701);
    // Day-11 pairs: split 2 has 2,334 positives and 2,334 negatives.
    let labeled = graph.labeled_pairs();
    assert_eq!(labeled.len(), 4_668);
    assert_eq!(labeled.iter().filter(|p| p.2 == 1).count(), 2_334);
    let s = &graph.manifest().split;
    // Every unique positive test pair is either a target or dropped as seen.
    let unique_pos: HashSet<_> = labeled.iter().filter(|p| p.2 == 1).map(|p| (p.0, p.1)).collect();
    let valid_unique = graph.valid_pairs().len() as u64;
    assert!(s.test_pairs + s.dropped_seen_in_train >= unique_pos.len() as u64);
    assert!(valid_unique > 0 && valid_unique <= 762);
    let train = behavior_edges(&graph);
    assert!(graph.test_pairs().iter().all(|p| !train.contains(p)), "a test target is a training edge");
}

#[test]
fn tmall_mb_builds_round_trips_and_does_not_leak() {
    let (_dir, graph) = build_example("tmall_mb");
    let r = &graph.manifest().report;
    assert_eq!(r.log.rows_read, 357_412);
    assert_eq!(r.log_users, 31_882);
    // The README's 31,232 is the size of the id space; 30,985 distinct items occur.
    assert_eq!(r.log_items, 30_985);
    assert_eq!(graph.test_pairs().len() as u64 + graph.manifest().split.dropped_seen_in_train, 10_000);

    // The example holds out a validation purchase per test user; the graph at
    // test time has every row back, so the round trip runs on it.
    let split = &graph.manifest().split;
    assert_eq!((split.valid_pairs, split.train_rows + split.heldout_rows), (10_000, 357_412));
    let train = behavior_edges(&graph);
    assert!(graph.valid_pairs().iter().all(|p| !train.contains(p)), "a validation target is a training edge");
    let history = graph.open_history().unwrap().expect("the graph at test time");
    assert_eq!(history.manifest().split.train_rows, 357_412);
    let known = behavior_edges(&history);
    assert!(
        graph.valid_pairs().iter().all(|p| known.contains(p)),
        "a validation pair is missing at test time"
    );
    let graph = history;

    // Round trip: raw → dense → raw, and the edges of each behaviour equal a
    // direct count of distinct (user, item) pairs in the CSV.
    let users = graph.raw_ids(NodeType::User);
    let items = graph.raw_ids(NodeType::Item);
    let mut direct: HashMap<String, HashSet<(u64, u64)>> = HashMap::new();
    let text = std::fs::read_to_string(dataset("tmall_mb").join("train_interactions.csv")).unwrap();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        direct.entry(f[2].to_owned()).or_default().insert((f[0].parse().unwrap(), f[1].parse().unwrap()));
    }
    for (behavior, pairs) in &direct {
        let (_, csr, csc) = graph.relation(behavior).unwrap();
        assert_eq!(csr.indices.len(), pairs.len(), "{behavior} edge count");
        assert_eq!(csc.indices.len(), pairs.len(), "{behavior} csc edge count");
        let mut stored = HashSet::new();
        for u in 0..csr.num_rows() as u32 {
            stored.extend(csr.neighbors(u).iter().map(|&i| (users[u as usize], items[i as usize])));
        }
        assert_eq!(&stored, pairs, "{behavior} edges differ from the input");
    }
    let index = tessera_graph::idmap::RawIndex::new(users);
    assert!(users.iter().enumerate().all(|(d, &raw)| index.dense(raw) == Some(d as u32)));

    let train = behavior_edges(&graph);
    assert!(graph.test_pairs().iter().all(|p| !train.contains(p)), "a test target is a training edge");
}

#[test]
fn taobao_slice_builds_with_readme_counts() {
    let (_dir, graph) = build_example("taobao_slice");
    let r = &graph.manifest().report;
    assert_eq!(r.log.rows_read, 110_300);
    assert_eq!(r.log_users, 66_454);
    assert_eq!(r.log_items, 84_793);
    assert_eq!(graph.num_nodes(NodeType::Category), 3_913);
    let s = &graph.manifest().split;
    assert_eq!(s.kind, "time_cut");
    assert_eq!(s.train_rows + s.heldout_rows, 110_300);
    let train = behavior_edges(&graph);
    assert!(graph.test_pairs().iter().all(|p| !train.contains(p)));
    // Every training edge is before the cut.
    let cut = s.cut.unwrap();
    for b in Behavior::ALL {
        if let Some((_, csr, _)) = graph.relation(b.as_str()) {
            assert!(csr.ts.iter().all(|&t| t < cut), "{b} edge after the cut");
        }
    }
}
