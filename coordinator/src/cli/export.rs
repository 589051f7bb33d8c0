//! `coordinator export`: a model bundle from a job's PS checkpoints. The
//! coordinator does not link libtorch, so it runs the `worker` binary beside
//! it (`worker export`), which restores the shards on loopback from copies
//! of the checkpoints and evaluates and bundles the model as a job's end does.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

/// Flags of `export`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("from").required(true).args(["checkpoints", "run_dir"])))]
pub struct ExportArgs {
    /// The TOML job spec the parameters were trained with.
    pub spec: PathBuf,
    /// Each PS shard's checkpoint directory, in shard order, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub checkpoints: Vec<PathBuf>,
    /// A `coordinator local` run directory: its `ps-0`, `ps-1`, … checkpoints.
    #[arg(long)]
    pub run_dir: Option<PathBuf>,
    /// The model to export (default: the spec's main model).
    #[arg(long)]
    pub model: Option<String>,
    /// The job id whose parameters to export (default: the only job with
    /// that model's tables in the checkpoints).
    #[arg(long)]
    pub job: Option<String>,
    /// Write the bundle under this directory (`<dir>/<job name>/v0001`, …).
    #[arg(long, env = "TESSERA_BUNDLES", default_value = "bundles")]
    pub bundles: PathBuf,
    /// The worker's device: auto, cpu or cuda:N.
    #[arg(long, env = "TESSERA_WORKER_DEVICE", default_value = "auto")]
    pub device: String,
}

/// The shard checkpoint directories of a `coordinator local` run, in shard
/// order (`ps-0`, `ps-1`, … until one is missing).
///
/// # Errors
/// When the run directory has no `ps-0`.
pub fn run_dir_checkpoints(run_dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let dirs: Vec<PathBuf> =
        (0..).map(|s| run_dir.join(format!("ps-{s}"))).take_while(|d| d.is_dir()).collect();
    anyhow::ensure!(
        !dirs.is_empty(),
        "{} has no ps-0 checkpoint directory (is it a `coordinator local` run directory?)",
        run_dir.display()
    );
    Ok(dirs)
}

/// Runs `worker export` with `args`.
///
/// # Errors
/// The worker binary is missing, or the export fails (its message is on stderr).
pub fn run(args: &ExportArgs) -> anyhow::Result<()> {
    let checkpoints = match &args.run_dir {
        Some(dir) => run_dir_checkpoints(dir)?,
        None => args.checkpoints.clone(),
    };
    let worker = tessera_runtime::children::sibling_binary("worker")?;
    let mut list = Vec::new();
    for dir in &checkpoints {
        let s = dir.to_str().with_context(|| format!("{} is not UTF-8", dir.display()))?;
        anyhow::ensure!(!s.contains(','), "checkpoint directory {s:?} holds a comma");
        list.push(s);
    }
    let mut command = std::process::Command::new(&worker);
    command.arg("--device").arg(&args.device).arg("export").arg(&args.spec);
    command.arg("--checkpoints").arg(list.join(","));
    command.arg("--bundles").arg(&args.bundles);
    if let Some(model) = &args.model {
        command.arg("--model").arg(model);
    }
    if let Some(job) = &args.job {
        command.arg("--job").arg(job);
    }
    let status = command.status().with_context(|| format!("run {}", worker.display()))?;
    anyhow::ensure!(status.success(), "worker export failed ({status})");
    Ok(())
}
