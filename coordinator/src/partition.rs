//! The partitioner: METIS k-way over the merged graph with two balance
//! constraints (nodes and training edges), or a uniform random assignment;
//! then halos and the plan directory, with quality figures for the chosen
//! method next to the random baseline.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use tessera_graph::partition::halo::HaloSearch;
use tessera_graph::partition::{self, merge, MergedGraph, PartitionPlan, Quality};
use tessera_graph::Graph;

/// Default load imbalance METIS is asked to respect, per constraint.
pub const DEFAULT_IMBALANCE: f32 = 1.03;

/// How vertices are assigned to parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// METIS multilevel k-way.
    Metis,
    /// Uniform random (the baseline).
    Random,
}

impl Method {
    /// The name used in plans.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Metis => "metis",
            Method::Random => "random",
        }
    }
}

/// What to partition and how.
#[derive(Debug, Clone)]
pub struct PartitionOptions {
    /// Number of parts.
    pub parts: u32,
    /// Assignment method.
    pub method: Method,
    /// Halo depth in hops.
    pub halo_hops: u32,
    /// Seed for METIS and the random baseline.
    pub seed: u64,
    /// Allowed imbalance per constraint (1.03 = 3%).
    pub imbalance: f32,
    /// Where to write the merged graph in METIS's file format, if anywhere.
    pub export_metis: Option<PathBuf>,
}

/// The assignment for `method`.
///
/// # Errors
/// Fails when METIS fails.
pub fn assign(merged: &MergedGraph, options: &PartitionOptions) -> anyhow::Result<Vec<u32>> {
    match options.method {
        Method::Metis => {
            Ok(partition::metis_assignment(merged, options.parts, options.seed, options.imbalance)?)
        }
        Method::Random => {
            Ok(partition::random_assignment(merged.num_vertices(), options.parts, options.seed))
        }
    }
}

/// Quality of an assignment including its halo sizes.
pub fn quality_with_halos(merged: &MergedGraph, assignment: &[u32], parts: u32, hops: u32) -> Quality {
    let mut quality = Quality::measure(merged, assignment, parts);
    let mut search = HaloSearch::new(merged.num_vertices());
    quality.halo_nodes = (0..parts).map(|p| search.halo(merged, assignment, p, hops).len() as u64).collect();
    quality
}

/// Partitions the graph at `graph_dir` into a plan directory at `out`.
///
/// # Errors
/// Fails when the graph cannot be opened, the options are invalid, METIS
/// fails, or the plan cannot be written.
pub fn partition(graph_dir: &Path, out: &Path, options: &PartitionOptions) -> anyhow::Result<PartitionPlan> {
    if options.parts == 0 {
        bail!("--parts must be at least 1");
    }
    if !(1.0..=2.0).contains(&options.imbalance) {
        bail!("--imbalance must be within 1.0..=2.0, got {}", options.imbalance);
    }
    let graph = Graph::open(graph_dir).with_context(|| format!("open graph {}", graph_dir.display()))?;
    let started = Instant::now();
    let merged = merge(&graph).context("merge relations for partitioning")?;
    let merge_secs = started.elapsed().as_secs_f64();
    if let Some(path) = &options.export_metis {
        partition::merged::write_metis_file(&merged, path)
            .with_context(|| format!("export the merged graph to {}", path.display()))?;
    }
    if merged.num_vertices() < options.parts as usize {
        bail!("--parts {} exceeds the graph's {} nodes", options.parts, merged.num_vertices());
    }
    let started = Instant::now();
    let assignment = assign(&merged, options).context("assign nodes to parts")?;
    let assign_secs = started.elapsed().as_secs_f64();
    let quality = Quality::measure(&merged, &assignment, options.parts);
    let baseline = (options.method != Method::Random).then(|| {
        let random = partition::random_assignment(merged.num_vertices(), options.parts, options.seed);
        quality_with_halos(&merged, &random, options.parts, options.halo_hops)
    });
    let graph_path: PathBuf = std::fs::canonicalize(graph_dir).unwrap_or_else(|_| graph_dir.to_path_buf());
    let mut plan = PartitionPlan::new(
        graph_path,
        options.method.as_str(),
        options.parts,
        options.halo_hops,
        options.seed,
        quality,
    );
    plan.baseline = baseline;
    plan.timings.insert("merge".into(), merge_secs);
    plan.timings.insert(options.method.as_str().into(), assign_secs);
    let started = Instant::now();
    let mut plan = partition::write_partitions(&graph, &merged, &assignment, plan, out)
        .with_context(|| format!("write partitions to {}", out.display()))?;
    plan.timings.insert("halo_and_write".into(), started.elapsed().as_secs_f64());
    Ok(plan)
}
