//! `coordinator` binary: parses the CLI, runs the chosen verb and exits with
//! the documented code (see `coordinator --help`).

use std::process::ExitCode;

use clap::Parser;
use coordinator::cli::Exit;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match coordinator::cli::run(coordinator::cli::Cli::parse()) {
        Ok(exit) => ExitCode::from(exit as u8),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(Exit::for_error(&e) as u8)
        }
    }
}
