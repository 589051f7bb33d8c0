//! The coordinator's command line: one subcommand per verb, each verb in its
//! own module under `cli/`.

pub mod certs;
pub mod export;
pub mod graph;
pub mod jobs;
pub mod local;
pub mod partition;
pub mod recommend;
pub mod refresh;
pub mod serve;
pub mod watch;

use clap::{Parser, Subcommand};

/// Tessera coordinator: graph build, partitioning, job control.
///
/// Exit codes: 0 success (for `--wait` and `watch`: the job succeeded);
/// 1 error; 2 bad flags; 3 the job failed; 4 the job was cancelled;
/// 5 the coordinator or etcd could not be reached; 130 interrupted (`local`).
#[derive(Debug, Parser)]
#[command(name = "coordinator", version)]
pub struct Cli {
    /// Coordinator endpoint for the job verbs.
    #[arg(long, global = true, env = "TESSERA_COORDINATOR", default_value = tessera_control::client::DEFAULT_ENDPOINT)]
    pub coordinator: String,
    /// Off a terminal (a file, a pipe, CI), the longest gap between two
    /// progress lines of `watch`, `submit --wait` and `local`; a line is also
    /// printed at each phase change. On a terminal the live bar is kept.
    #[arg(
        long,
        global = true,
        env = "TESSERA_PROGRESS_EVERY",
        default_value = watch::DEFAULT_PROGRESS_EVERY,
        value_parser = humantime::parse_duration
    )]
    pub progress_every: std::time::Duration,
    /// A file holding the coordinator's bearer token, sent with `submit` and
    /// `cancel` (see `serve --token-file`).
    #[arg(long, global = true, env = "TESSERA_TOKEN_FILE")]
    pub token_file: Option<std::path::PathBuf>,
    /// Transport security: `serve` uses the `coordinator` certificate of
    /// `--tls-dir`, the job verbs the `client` one; `local` makes its own
    /// unless `--insecure`.
    #[command(flatten)]
    pub tls: tessera_runtime::tls::TlsArgs,
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
    /// Run the coordinator service (job state in etcd, scheduling).
    Serve(serve::ServeArgs),
    /// Submit a TOML job spec; prints the job id.
    Submit(jobs::SubmitArgs),
    /// List jobs, newest first.
    List,
    /// Show one job.
    Status(jobs::StatusArgs),
    /// Cancel a job; its workers stop cleanly.
    Cancel(jobs::JobArg),
    /// Follow a job live until it ends, then print its metrics.
    Watch(jobs::JobArg),
    /// Run a job on a whole cluster on this machine (etcd, coordinator, PS
    /// shards, workers as child processes), then stop it.
    Local(local::LocalArgs),
    /// Print a user's recommendations (or an item's similar items) from a
    /// model bundle.
    Recommend(recommend::RecommendArgs),
    /// Write a model bundle from a job's PS checkpoints (runs `worker export`).
    Export(export::ExportArgs),
    /// A new version of a bundle from the current graph, without training
    /// (runs `worker refresh`); a service watching its job directory reloads.
    Refresh(refresh::RefreshArgs),
    /// Write a development CA and a certificate per component (for `--tls-dir`).
    Certs(certs::CertsArgs),
}

/// Process exit codes (documented on `Cli`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Success.
    Ok = 0,
    /// An error.
    Error = 1,
    /// The job failed.
    JobFailed = 3,
    /// The job was cancelled.
    JobCancelled = 4,
    /// The coordinator or etcd could not be reached.
    Unreachable = 5,
    /// Interrupted by SIGINT or SIGTERM (`local`).
    Interrupted = 130,
}

impl Exit {
    /// The exit code for an error: `Unreachable` when the cause is one.
    pub fn for_error(e: &anyhow::Error) -> Self {
        if e.chain().any(|c| c.downcast_ref::<tessera_control::client::Unreachable>().is_some()) {
            Exit::Unreachable
        } else {
            Exit::Error
        }
    }
}

fn block_on(future: impl std::future::Future<Output = anyhow::Result<Exit>>) -> anyhow::Result<Exit> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("start the tokio runtime: {e}"))?
        .block_on(future)
}

/// Runs the parsed command.
///
/// # Errors
/// Whatever the verb fails with, with context.
pub fn run(cli: Cli) -> anyhow::Result<Exit> {
    let every = cli.progress_every;
    let token_file = cli.token_file;
    let token = || token_file.as_deref().map(tessera_runtime::auth::Token::from_file).transpose();
    let (endpoint, tls) = (cli.coordinator, cli.tls);
    let target = || -> anyhow::Result<tessera_control::client::Target> {
        Ok(tessera_control::client::Target { endpoint: endpoint.clone(), tls: tls.load("client")? })
    };
    match cli.command {
        Command::Graph(command) => graph::run(command).map(|()| Exit::Ok),
        Command::Partition(args) => partition::run(args).map(|()| Exit::Ok),
        Command::Serve(args) => serve::run_serve(args, tls.load("coordinator")?).map(|()| Exit::Ok),
        Command::Submit(args) => block_on(jobs::submit(&target()?, args, every, token()?.as_ref())),
        Command::List => block_on(jobs::list(&target()?)),
        Command::Status(args) => block_on(jobs::status(&target()?, args)),
        Command::Cancel(args) => block_on(jobs::cancel(&target()?, args, token()?.as_ref())),
        Command::Watch(args) => block_on(watch::watch(&target()?, &args.job, every)),
        Command::Local(args) => block_on(local::local(args, &tls, every)),
        Command::Recommend(args) => recommend::run(&args).map(|()| Exit::Ok),
        Command::Export(args) => export::run(&args).map(|()| Exit::Ok),
        Command::Refresh(args) => refresh::run(&args).map(|()| Exit::Ok),
        Command::Certs(args) => certs::run(&args).map(|()| Exit::Ok),
    }
}
