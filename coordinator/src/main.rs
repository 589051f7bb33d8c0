//! `coordinator` binary: parses the CLI and runs the chosen verb.

use clap::Parser;
use coordinator::cli::{Cli, Command};

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Services => {
            println!("tessera.coordinator.v1.Coordinator");
            println!("tessera.ps.v1.ParameterServer");
        }
    }
    Ok(())
}
