//! Graph partitioning support shared by the coordinator, which partitions,
//! and the worker, which loads one part: the merged undirected graph that the
//! partitioner cuts, the METIS adapter, quality figures, halo expansion and
//! the on-disk format of a partitioned graph.

pub mod halo;
pub mod kway;
pub mod merged;
pub mod plan;
pub mod quality;
pub mod space;

pub use kway::metis_assignment;
pub use merged::{merge, MergedGraph, NCON};
pub use plan::{write_partitions, Part, PartInfo, PartitionPlan, PLAN_FILE};
pub use quality::Quality;
pub use space::NodeSpace;

/// Assigns every vertex to one of `parts` parts uniformly at random,
/// deterministically for `seed`: the baseline METIS is compared with.
pub fn random_assignment(num_vertices: usize, parts: u32, seed: u64) -> Vec<u32> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    (0..num_vertices).map(|_| rng.random_range(0..parts.max(1))).collect()
}
