//! `coordinator` binary: parses the CLI and runs the chosen verb.

use clap::Parser;

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    coordinator::cli::run(coordinator::cli::Cli::parse())
}
