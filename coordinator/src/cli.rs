//! The coordinator's command line: one subcommand per verb.

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
    /// Print the protocol services this build speaks.
    Services,
}
