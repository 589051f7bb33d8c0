//! `coordinator refresh`: a new version of a bundle from the current graph
//! (built from appended logs), without training. The coordinator does not
//! link libtorch, so it runs the `worker` binary beside it (`worker
//! refresh`), which starts the model from the bundle's parameters (rows
//! matched by raw id, new nodes from zero rows) on loopback parameter
//! servers and evaluates and bundles it as a job's end does. The new version
//! goes into the bundle's job directory, so a service watching it reloads.

use std::path::PathBuf;

use anyhow::Context as _;

/// Flags of `refresh`.
#[derive(Debug, clap::Args)]
pub struct RefreshArgs {
    /// The bundle to refresh: a version, or a job's bundle directory (its latest).
    #[arg(long, env = "TESSERA_BUNDLE")]
    pub bundle: PathBuf,
    /// The current graph directory (ideally built with `extends` = the bundle's graph).
    #[arg(long, env = "TESSERA_GRAPH")]
    pub graph: PathBuf,
    /// Write the new version under this directory (default: the bundle's own job directory).
    #[arg(long)]
    pub bundles: Option<PathBuf>,
    /// The worker's device: auto, cpu or cuda:N.
    #[arg(long, env = "TESSERA_WORKER_DEVICE", default_value = "auto")]
    pub device: String,
}

/// Runs `worker refresh` with `args`.
///
/// # Errors
/// The worker binary is missing, or the refresh fails (its message is on stderr).
pub fn run(args: &RefreshArgs) -> anyhow::Result<()> {
    let worker = tessera_runtime::children::sibling_binary("worker")?;
    let mut command = std::process::Command::new(&worker);
    command.arg("--device").arg(&args.device).arg("refresh");
    command.arg("--bundle").arg(&args.bundle).arg("--graph").arg(&args.graph);
    if let Some(root) = &args.bundles {
        command.arg("--bundles").arg(root);
    }
    let status = command.status().with_context(|| format!("run {}", worker.display()))?;
    anyhow::ensure!(status.success(), "worker refresh failed ({status})");
    Ok(())
}
