//! `coordinator partition`: METIS (or random) partitioning of a graph
//! directory into a plan directory, with a quality table next to the random
//! baseline.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use tessera_graph::partition::{PartitionPlan, Quality};

use crate::partition::{partition, Method, PartitionOptions, DEFAULT_IMBALANCE};

/// Flags of `partition`.
#[derive(Debug, Args)]
pub struct PartitionArgs {
    /// The graph directory to partition.
    #[arg(long, env = "TESSERA_PARTITION_GRAPH")]
    pub graph: PathBuf,
    /// Number of parts (one per worker).
    #[arg(long, env = "TESSERA_PARTITION_PARTS", default_value_t = 2)]
    pub parts: u32,
    /// Output plan directory (replaced atomically if it is a plan).
    #[arg(long, env = "TESSERA_PARTITION_OUT")]
    pub out: PathBuf,
    /// Assignment method.
    #[arg(long, env = "TESSERA_PARTITION_METHOD", value_enum, default_value_t = Method::Metis)]
    pub method: Method,
    /// Hops of halo (neighbours from other parts) stored with each part.
    #[arg(long, env = "TESSERA_PARTITION_HALO_HOPS", default_value_t = 1)]
    pub halo_hops: u32,
    /// Seed for METIS and the random baseline.
    #[arg(long, env = "TESSERA_PARTITION_SEED", default_value_t = 42)]
    pub seed: u64,
    /// Allowed imbalance per balance constraint (1.03 allows 3%).
    #[arg(long, env = "TESSERA_PARTITION_IMBALANCE", default_value_t = DEFAULT_IMBALANCE)]
    pub imbalance: f32,
    /// Also write the merged graph in METIS's file format (for `gpmetis`).
    #[arg(long, env = "TESSERA_PARTITION_EXPORT_METIS")]
    pub export_metis: Option<PathBuf>,
    /// Print the plan as JSON instead of the table.
    #[arg(long, default_value_t = false)]
    pub json: bool,
}

/// Runs `partition`.
///
/// # Errors
/// Fails when partitioning fails.
pub fn run(args: PartitionArgs) -> anyhow::Result<()> {
    let options = PartitionOptions {
        parts: args.parts,
        method: args.method,
        halo_hops: args.halo_hops,
        seed: args.seed,
        imbalance: args.imbalance,
        export_metis: args.export_metis.clone(),
    };
    let plan = partition(&args.graph, &args.out, &options)
        .with_context(|| format!("partition {} into {} parts", args.graph.display(), args.parts))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&plan)?);
    } else {
        print!("{}", render(&plan));
        println!("plan written to {}", args.out.display());
    }
    Ok(())
}

/// The quality table of a plan, with the random baseline when present.
pub fn render(plan: &PartitionPlan) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "{:<8} {:>5} {:>12} {:>8} {:>10} {:>9} {:>9} {:>11}\n",
        "method", "parts", "edge-cut", "cut %", "vs random", "node bal", "edge bal", "replication"
    ));
    let random_cut = plan.baseline.as_ref().map(|b| b.edge_cut);
    let mut row = |name: &str, q: &Quality| {
        let ratio = match random_cut {
            Some(r) if r > 0 => format!("{:.3}x", q.edge_cut as f64 / r as f64),
            _ => "-".into(),
        };
        out.push_str(&format!(
            "{:<8} {:>5} {:>12} {:>7.2}% {:>10} {:>9.3} {:>9.3} {:>11.3}\n",
            name,
            q.parts,
            q.edge_cut,
            100.0 * q.cut_fraction(),
            ratio,
            q.node_balance,
            q.edge_balance,
            q.replication()
        ));
    };
    row(&plan.method, &plan.quality);
    if let Some(baseline) = &plan.baseline {
        row("random", baseline);
    }
    let timings: Vec<String> = plan.timings.iter().map(|(k, v)| format!("{k} {v:.2}s")).collect();
    out.push_str(&format!(
        "{} relation edges, halo {} hop(s); {}\n",
        plan.quality.num_edges,
        plan.halo_hops,
        timings.join(", ")
    ));
    out
}
