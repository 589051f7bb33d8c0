//! Logs without a time column: (user, item, behaviour) rows build a graph
//! with no times (edge weights are counts, no recency features, `graph
//! stats` says so); splits that need times are refused with an error that
//! names the missing column; the random split holds out whole pairs,
//! deterministically, and needs no times.

use std::io::Write as _;
use std::path::Path;

use tessera_graph::spec::SplitSpec;
use tessera_graph::{BuildSpec, Graph, GraphError, GraphStats, NodeType};

/// A pair-only spec over `log` (columns user,item,behavior with a header).
fn spec(dir: &Path, log: &str, split: &str) -> BuildSpec {
    let input = dir.join("pairs.csv");
    std::fs::File::create(&input).unwrap().write_all(log.as_bytes()).unwrap();
    let toml = format!(
        "[log]\npath = \"pairs.csv\"\n[log.format]\nheader = true\nuser = \"user\"\nitem = \"item\"\n\
         behavior = \"behavior\"\n{split}"
    );
    let path = dir.join("spec.toml");
    std::fs::write(&path, toml).unwrap();
    match BuildSpec::from_file(&path) {
        Ok(spec) => spec,
        Err(e) => panic!("{e}"),
    }
}

const LOG: &str = "user,item,behavior\n1,10,pv\n1,10,pv\n1,11,buy\n2,10,pv\n2,12,cart\n3,11,pv\n3,12,buy\n";

#[test]
fn a_pair_only_log_builds_an_untimed_graph_and_stats_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(dir.path(), LOG, "");
    let out = dir.path().join("graph");
    tessera_graph::store::write(&tessera_graph::build(&spec, true).unwrap(), &out).unwrap();
    let graph = Graph::open(&out).unwrap();
    let report = &graph.manifest().report;
    assert!(!report.timed);
    assert_eq!(report.time_range, (0, 0));
    // No decay: an edge's weight is its count (user 1 viewed item 10 twice).
    let (_, pv, _) = graph.relation("click").unwrap();
    assert_eq!(pv.count, pv.weight);
    assert!(pv.count.contains(&2.0));
    assert!(pv.ts.iter().all(|&t| t == 0));
    let names =
        &graph.manifest().node_types.iter().find(|t| t.node_type == NodeType::User).unwrap().feature_names;
    assert!(
        !names.iter().any(|n| n.contains("recency") || n.contains("active_days")),
        "time features on an untimed graph: {names:?}"
    );
    let stats = GraphStats::of(&graph).to_string();
    assert!(stats.contains("time: none") && stats.contains("no temporal encoding"), "{stats}");
}

#[test]
fn splits_that_need_times_are_refused_naming_the_time_column() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = spec(dir.path(), LOG, "");
    for (split, name) in [
        (
            SplitSpec::TimeCut {
                at: None,
                fraction: Some(0.8),
                test_behaviors: Vec::new(),
                valid_fraction: None,
            },
            "time_cut",
        ),
        (
            SplitSpec::LeaveLastOut { behavior: tessera_graph::Behavior::Buy, valid_last: None },
            "leave_last_out",
        ),
    ] {
        spec.split = split;
        match tessera_graph::build(&spec, true) {
            Err(GraphError::Config(message)) => {
                assert!(message.contains(name) && message.contains("no time column"), "{message}")
            }
            other => panic!("{name}: expected a config error, got {other:?}"),
        }
    }
}

#[test]
fn the_random_split_holds_out_whole_pairs_deterministically() {
    // 40 users × 5 items, one pv and one buy per pair.
    let mut log = String::from("user,item,behavior\n");
    for u in 0..40 {
        for i in 0..5 {
            log.push_str(&format!("{u},{},pv\n{u},{},buy\n", 100 + (u + i) % 17, 100 + (u + i) % 17));
        }
    }
    let split = "[split]\nkind = \"random\"\nfraction = 0.2\nvalid_fraction = 0.1\ntest_behaviors = [\"buy\"]\nseed = 7\n";
    let build = |sub: &str| {
        let dir = tempfile::tempdir().unwrap();
        let spec = spec(dir.path(), &log, split);
        let built = tessera_graph::build(&spec, true).unwrap();
        let out = dir.path().join(sub);
        tessera_graph::store::write(&built, &out).unwrap();
        (dir, Graph::open(&out).unwrap())
    };
    let ((_a, g1), (_b, g2)) = (build("one"), build("two"));
    let (test, valid) = (g1.test_pairs(), g1.valid_pairs());
    assert_eq!((test.clone(), valid.clone()), (g2.test_pairs(), g2.valid_pairs()), "same seed, same pairs");
    let pairs = 200.0;
    assert!((20.0..=60.0).contains(&(test.len() as f64)), "about 20% of {pairs} pairs: {}", test.len());
    assert!((5.0..=40.0).contains(&(valid.len() as f64)), "about 10%: {}", valid.len());
    // No held-out pair keeps any row (pv or buy) in training.
    for rel in ["click", "buy"] {
        let (_, csr, _) = g1.relation(rel).unwrap();
        for &(u, i) in test.iter().chain(&valid) {
            let range = csr.indptr[u as usize] as usize..csr.indptr[u as usize + 1] as usize;
            assert!(!csr.indices[range].contains(&i), "held-out pair ({u}, {i}) trains through {rel}");
        }
    }
}
