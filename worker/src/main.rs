//! `worker` binary: parses the CLI and runs the chosen mode.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use worker::build_info::BuildInfo;

/// Tessera worker: trains graph models on one partition with libtorch.
#[derive(Debug, Parser)]
#[command(name = "worker", disable_version_flag = true)]
struct Cli {
    /// Print the crate version, the libtorch version and whether CUDA is usable.
    #[arg(short = 'V', long)]
    version: bool,
    /// Device: auto (CUDA when libtorch sees a GPU), cpu, or cuda:N.
    #[arg(long, global = true, env = "TESSERA_WORKER_DEVICE", default_value = "auto")]
    device: String,
    /// libtorch intra-op threads (0 = libtorch's default).
    #[arg(long, global = true, env = "TESSERA_WORKER_THREADS", default_value_t = 0)]
    threads: usize,
    /// What to do.
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Train a job spec.
    Train {
        /// Train everything in this process with in-process PS shards.
        #[arg(long, default_value_t = false)]
        standalone: bool,
        /// The TOML job spec.
        spec: PathBuf,
        /// Also write the results as JSON here.
        #[arg(long, env = "TESSERA_WORKER_RESULTS")]
        results: Option<PathBuf>,
    },
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    if cli.version {
        println!("{}", BuildInfo::probe());
        return Ok(());
    }
    worker::device::set_threads(cli.threads);
    let device = worker::device::parse_device(&cli.device)?;
    match cli.command {
        Some(Command::Train { standalone: true, spec, results }) => {
            let out = worker::standalone::run_standalone(&spec, device)?;
            print!("{}", worker::standalone::render_table(&out));
            if let Some(path) = results {
                std::fs::write(&path, serde_json::to_vec_pretty(&out)?)
                    .with_context(|| format!("write {}", path.display()))?;
            }
            Ok(())
        }
        Some(Command::Train { standalone: false, .. }) => {
            anyhow::bail!(
                "cluster training is started by `worker serve` under a coordinator; use --standalone here"
            )
        }
        None => anyhow::bail!("give a command (train) or --version"),
    }
}
