//! `worker` binary: parses the CLI and runs the worker.

use clap::Parser;
use worker::build_info::BuildInfo;

/// Tessera worker: trains graph models on one partition with libtorch.
#[derive(Debug, Parser)]
#[command(name = "worker", disable_version_flag = true)]
struct Cli {
    /// Print the crate version, the libtorch version and whether CUDA is usable.
    #[arg(short = 'V', long)]
    version: bool,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if cli.version {
        println!("{}", BuildInfo::probe());
        return Ok(());
    }
    anyhow::bail!("the worker's training loop is not built yet (issue #6); only --version works")
}
