//! The coordinator's command line: one subcommand per verb, each verb in its
//! own module under `cli/`.

pub mod graph;
pub mod partition;

use clap::{Parser, Subcommand};

/// Tessera coordinator: graph build, partitioning, job control.
#[derive(Debug, Parser)]
#[command(name = "coordinator", version)]
pub struct Cli {
    /// The verb to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Coordinator verbs.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build, inspect or synthesise interaction graphs.
    #[command(subcommand)]
    Graph(graph::GraphCommand),
    /// Partition a graph directory with METIS (or randomly) into a plan
    /// directory with one part per worker.
    Partition(partition::PartitionArgs),
}

/// Runs the parsed command.
///
/// # Errors
/// Whatever the verb fails with, with context.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Graph(command) => graph::run(command),
        Command::Partition(args) => partition::run(args),
    }
}
