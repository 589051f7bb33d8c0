//! Partitioning: every node is owned by exactly one part, halos hold only
//! nodes owned elsewhere, parts hold exactly the edges between their nodes,
//! and on the shared datasets METIS beats the random baseline with both
//! balance constraints met.

use std::collections::HashSet;
use std::path::Path;

use coordinator::partition::{partition, Method, PartitionOptions, DEFAULT_IMBALANCE};
use proptest::prelude::*;
use tessera_graph::partition::{Part, PartitionPlan};
use tessera_graph::synth::{build_graph, SynthConfig};
use tessera_graph::{BuildSpec, Graph};

fn options(parts: u32, method: Method, halo_hops: u32) -> PartitionOptions {
    PartitionOptions { parts, method, halo_hops, seed: 7, imbalance: DEFAULT_IMBALANCE, export_metis: None }
}

/// Checks the plan at `out` against the graph it was made from.
fn check_plan(graph: &Graph, out: &Path) {
    let plan = PartitionPlan::load(out).unwrap();
    let assignment = plan.load_assignment(out).unwrap();
    assert_eq!(assignment.len(), plan.space.len());
    let mut owners = vec![0u32; plan.space.len()];
    for info in &plan.part_infos {
        let part = Part::open(&out.join(&info.dir)).unwrap();
        for &(t, offset, _) in &plan.space.types {
            let globals = part.global_ids(t);
            let owned = part.info.num_owned(t);
            for (local, &g) in globals.iter().enumerate() {
                let vertex = (offset + g) as usize;
                if local < owned {
                    owners[vertex] += 1;
                    assert_eq!(assignment[vertex], info.part, "owned node is assigned to the part");
                } else {
                    assert_ne!(assignment[vertex], info.part, "halo node is owned elsewhere");
                }
            }
        }
        // Every relation keeps exactly the source edges between local nodes.
        for rel in &graph.manifest().relations {
            let (spec, csr, _) = graph.relation(&rel.spec.name).unwrap();
            let (_, local_csr, _) = part.graph.relation(&spec.name).unwrap();
            let src_globals = part.global_ids(spec.src);
            let dst_globals = part.global_ids(spec.dst);
            let dst_set: HashSet<u64> = dst_globals.iter().copied().collect();
            let mut expected = 0;
            for (ls, &gs) in src_globals.iter().enumerate() {
                let want: HashSet<u64> = csr
                    .neighbors(gs as u32)
                    .iter()
                    .map(|&d| u64::from(d))
                    .filter(|d| dst_set.contains(d))
                    .collect();
                let got: HashSet<u64> =
                    local_csr.neighbors(ls as u32).iter().map(|&ld| dst_globals[ld as usize]).collect();
                assert_eq!(got, want, "relation {} row of global node {gs}", spec.name);
                expected += want.len();
            }
            assert_eq!(local_csr.indices.len(), expected);
        }
    }
    assert!(owners.iter().all(|&n| n == 1), "every node is owned by exactly one part");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]
    #[test]
    fn every_node_is_owned_by_exactly_one_part(
        users in 1usize..120,
        items in 1usize..120,
        events in 50u64..2_000,
        seed in 0u64..1_000,
        parts in 1u32..6,
        halo_hops in 0u32..3,
        metis in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let graph = build_graph(&SynthConfig::new(users, items, events, seed), dir.path(), 0.0).unwrap();
        let method = if metis { Method::Metis } else { Method::Random };
        let out = dir.path().join("parts");
        partition(graph.dir(), &out, &options(parts, method, halo_hops)).unwrap();
        check_plan(&graph, &out);
    }
}

#[test]
fn too_many_parts_and_bad_imbalance_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let graph = build_graph(&SynthConfig::new(5, 5, 20, 1), dir.path(), 0.0).unwrap();
    let out = dir.path().join("parts");
    let err = partition(graph.dir(), &out, &options(100_000, Method::Metis, 1)).unwrap_err();
    assert!(format!("{err:#}").contains("exceeds the graph's"), "{err:#}");
    let mut bad = options(2, Method::Metis, 1);
    bad.imbalance = 0.5;
    let err = partition(graph.dir(), &out, &bad).unwrap_err();
    assert!(format!("{err:#}").contains("--imbalance"), "{err:#}");
    assert!(!out.exists(), "a refused run writes nothing");
}

fn build_example(name: &str, dir: &Path) -> Graph {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let data = root.join("../shared/datasets").join(name);
    assert!(
        data.is_dir(),
        "dataset {} not found: the shared datasets must sit beside the checkout",
        data.display()
    );
    let spec = BuildSpec::from_file(&root.join(format!("examples/graphs/{name}.toml"))).unwrap();
    let out = dir.join(name);
    tessera_graph::store::write(&tessera_graph::build(&spec, true).unwrap(), &out).unwrap();
    Graph::open(&out).unwrap()
}

/// Partitions a shared dataset at K = 2 and 4 and returns (K, METIS cut /
/// random cut) after checking balance and ownership.
fn dataset_cuts(name: &str) -> Vec<(u32, f64)> {
    let dir = tempfile::tempdir().unwrap();
    let graph = build_example(name, dir.path());
    let mut ratios = Vec::new();
    for parts in [2, 4] {
        let out = dir.path().join(format!("{name}.p{parts}"));
        let plan = partition(graph.dir(), &out, &options(parts, Method::Metis, 1)).unwrap();
        let random = plan.baseline.as_ref().unwrap();
        let q = &plan.quality;
        eprintln!(
            "{name} K={parts}: metis cut {} ({:.4}), random cut {} ({:.4}), ratio {:.3}, balance nodes {:.3} edges {:.3}",
            q.edge_cut,
            q.cut_fraction(),
            random.edge_cut,
            random.cut_fraction(),
            q.edge_cut as f64 / random.edge_cut as f64,
            q.node_balance,
            q.edge_balance
        );
        assert!(q.node_balance <= 1.05, "{name} K={parts}: node balance {}", q.node_balance);
        assert!(q.edge_balance <= 1.05, "{name} K={parts}: edge balance {}", q.edge_balance);
        check_plan(&graph, &out);
        // The parts of a real dataset take hundreds of MB: free them before
        // the next K so the test fits on a small CI disk.
        std::fs::remove_dir_all(&out).unwrap();
        ratios.push((parts, q.edge_cut as f64 / random.edge_cut as f64));
    }
    ratios
}

#[test]
fn ecomm_metis_cut_is_at_most_035_of_random_with_balance() {
    for (parts, ratio) in dataset_cuts("ecomm") {
        assert!(ratio <= 0.35, "ecomm K={parts}: METIS/random edge-cut {ratio:.3}");
    }
}

/// tmall_mb's item-item co-occurrence edges make it hard to cut: METIS
/// (ours and `gpmetis` alike) reaches about 0.5× the random cut at K=2, not
/// the 0.35× target. This test pins what holds: balance, ownership, and a
/// cut well below random.
#[test]
fn tmall_mb_metis_cut_beats_random_with_balance() {
    for (parts, ratio) in dataset_cuts("tmall_mb") {
        assert!(ratio <= 0.65, "tmall_mb K={parts}: METIS/random edge-cut {ratio:.3}");
    }
}
