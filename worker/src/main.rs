//! `worker` binary: parses the CLI and runs the chosen mode.

use std::path::PathBuf;

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
    /// Transport security of `serve` (the `worker` certificate of
    /// `--tls-dir`); `train --standalone` and `export` make their own for
    /// their loopback shards.
    #[command(flatten)]
    tls: tessera_runtime::tls::TlsArgs,
    /// What to do.
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Evaluate a bundle on users held out of its training: each is folded in
    /// from their first 1, 2 and 3 behaviours and scored on their later
    /// purchases, beside item-kNN folded in and popularity.
    Coldstart(ColdstartArgs),
    /// Measure new items folded in (`POST /v1/items`) against category
    /// popularity, ranking among the new items only.
    ColdItems(ColdItemsArgs),
    /// A new version of a bundle from a newer graph, without training: its
    /// model's parameters through full-graph inference on the graph.
    Refresh(RefreshArgs),
    /// Join a cluster: register in etcd, train the partitions the
    /// coordinator assigns, evaluate when told.
    Serve(ServeArgs),
    /// Train a job spec.
    Train {
        /// Train everything in this process, against `ps-server` child processes
        /// on loopback (the binary beside this one).
        #[arg(long, default_value_t = false)]
        standalone: bool,
        /// The TOML job spec.
        spec: PathBuf,
        /// Write the main model's bundle under this directory
        /// (`<dir>/<job name>/v0001`, …).
        #[arg(long, env = "TESSERA_BUNDLES", default_value = "bundles")]
        bundles: PathBuf,
        /// Also write the results as JSON here.
        #[arg(long, env = "TESSERA_WORKER_RESULTS")]
        results: Option<PathBuf>,
        /// Only train (with `--standalone`): no final evaluation, classic
        /// baselines or bundle; the results carry the training figures and
        /// any validation passes (`eval.every_epochs`). For benchmarks.
        #[arg(long, env = "TESSERA_TRAIN_ONLY", default_value_t = false)]
        train_only: bool,
        /// Off a terminal, the longest gap between two progress lines (one
        /// is also printed when the next model starts); on a terminal every
        /// report is printed.
        #[arg(
            long,
            env = "TESSERA_PROGRESS_EVERY",
            default_value = tessera_runtime::progress::DEFAULT_PROGRESS_EVERY,
            value_parser = humantime::parse_duration
        )]
        progress_every: std::time::Duration,
    },
    /// Write a model bundle from a job's PS checkpoints (what `coordinator
    /// export` runs): the shards are restored on loopback from copies, and
    /// the model is evaluated and bundled as at the end of the job.
    Export(ExportArgs),
}

/// Flags of `export`.
#[derive(Debug, clap::Args)]
struct ExportArgs {
    /// The TOML job spec the parameters were trained with.
    spec: PathBuf,
    /// Each PS shard's checkpoint directory, in shard order, comma-separated
    /// (`coordinator local` keeps them in `runs/<job>/ps-<shard>`).
    #[arg(long, required = true, value_delimiter = ',')]
    checkpoints: Vec<PathBuf>,
    /// The model to export (default: the spec's main model).
    #[arg(long)]
    model: Option<String>,
    /// The job id whose parameters to export (default: the only job with
    /// that model's tables in the checkpoints).
    #[arg(long)]
    job: Option<String>,
    /// Write the bundle under this directory (`<dir>/<job name>/v0001`, …).
    #[arg(long, env = "TESSERA_BUNDLES", default_value = "bundles")]
    bundles: PathBuf,
}

/// Flags of `coldstart`.
#[derive(Debug, clap::Args)]
struct ColdstartArgs {
    /// The bundle (a version or job directory) of a model trained without the held-out users.
    #[arg(long, env = "TESSERA_BUNDLE")]
    bundle: PathBuf,
    /// The graph the model was trained on.
    #[arg(long)]
    graph: PathBuf,
    /// The held-out users' logs: a CSV with a header naming user, item, behavior and time.
    #[arg(long)]
    users: PathBuf,
    /// Also write the results as JSON here.
    #[arg(long)]
    results: Option<PathBuf>,
}

/// Flags of `cold-items`.
#[derive(Debug, clap::Args)]
struct ColdItemsArgs {
    /// The bundle (a version or job directory) of a model trained without the new items.
    #[arg(long, env = "TESSERA_BUNDLE")]
    bundle: PathBuf,
    /// The new items: a CSV with a header naming item and any of category, shop, brand, price.
    #[arg(long)]
    items: PathBuf,
    /// The (user, new item) pairs to find: a CSV with a header naming user and item.
    #[arg(long)]
    pairs: PathBuf,
    /// When the items are folded in, Unix seconds (their edges to groups carry time 0).
    #[arg(long, default_value_t = 1_560_000_000)]
    now: i64,
    /// Also write the results as JSON here.
    #[arg(long)]
    results: Option<PathBuf>,
}

/// Flags of `refresh`.
#[derive(Debug, clap::Args)]
struct RefreshArgs {
    /// The bundle to refresh (a version, or a job's bundle directory for its latest).
    #[arg(long, env = "TESSERA_BUNDLE")]
    bundle: PathBuf,
    /// The current graph (built from appended logs, ideally with `extends`).
    #[arg(long)]
    graph: PathBuf,
    /// Write the new version under this directory (default: the bundle's own job directory).
    #[arg(long)]
    bundles: Option<PathBuf>,
    /// Also write the metrics as JSON here.
    #[arg(long)]
    results: Option<PathBuf>,
}

/// Flags of `serve`.
#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// This worker's id, unique in the cluster (default: worker-<pid>).
    #[arg(long, env = "TESSERA_WORKER_ID")]
    worker_id: Option<String>,
    /// etcd endpoints, comma-separated.
    #[arg(long, env = "TESSERA_ETCD", value_delimiter = ',', default_value = "http://127.0.0.1:2379")]
    etcd: Vec<String>,
    /// etcd key prefix.
    #[arg(long, env = "TESSERA_ETCD_PREFIX", default_value = tessera_control::keys::DEFAULT_PREFIX)]
    etcd_prefix: String,
    /// Coordinator endpoint.
    #[arg(long, env = "TESSERA_COORDINATOR", default_value = tessera_control::client::DEFAULT_ENDPOINT)]
    coordinator: String,
    /// Lease TTL of the registration.
    #[arg(long, env = "TESSERA_WORKER_LEASE_TTL", default_value = "5s", value_parser = humantime::parse_duration)]
    lease_ttl: std::time::Duration,
    /// Where the evaluating worker writes the job's model bundle
    /// (`<dir>/<job name>/v0001`, …): a directory every worker can reach.
    #[arg(long, env = "TESSERA_BUNDLES", default_value = "bundles")]
    bundles: PathBuf,
    /// How long to wait for the PS shards to register.
    #[arg(long, env = "TESSERA_WORKER_PS_WAIT", default_value = "60s", value_parser = humantime::parse_duration)]
    ps_wait: std::time::Duration,
    /// Prometheus endpoint address (`GET /metrics`; port 0 picks one,
    /// printed on stdout as `METRICS <addr>`); unset disables it.
    #[arg(long, env = "TESSERA_WORKER_METRICS_LISTEN")]
    metrics_listen: Option<std::net::SocketAddr>,
    /// etcd user and password file.
    #[command(flatten)]
    etcd_auth: tessera_runtime::etcd::EtcdAuthArgs,
}

fn serve(args: ServeArgs, tls: tessera_runtime::tls::Tls, device: tch::Device) -> anyhow::Result<()> {
    let etcd = tessera_runtime::etcd::EtcdAccess::new(args.etcd, &tls, &args.etcd_auth)?;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let shutdown = tokio_util::sync::CancellationToken::new();
    rt.spawn(tessera_runtime::cancel_on_signal(shutdown.clone()));
    let worker_id = args.worker_id.unwrap_or_else(|| format!("worker-{}", std::process::id()));
    let metrics = worker::metrics::WorkerMetrics::default();
    if let Some(listen) = args.metrics_listen {
        let addr = rt.block_on(worker::metrics::spawn(listen, metrics.clone(), shutdown.clone()))?;
        println!("METRICS {addr}");
    }
    let config = worker::serve::ServeConfig {
        agent: tessera_control::agent::AgentConfig {
            worker_id,
            etcd,
            tls,
            etcd_prefix: args.etcd_prefix,
            coordinator: args.coordinator,
            lease_ttl: args.lease_ttl,
            device: format!("{device:?}"),
        },
        device,
        ps_wait: args.ps_wait,
        bundles: args.bundles,
        metrics,
    };
    worker::serve::run(config, shutdown, &rt)
}

/// Trains a spec standalone; with no `bundles` (`--train-only`), only trains.
fn train_standalone(
    spec: &std::path::Path,
    bundles: Option<&std::path::Path>,
    results: Option<PathBuf>,
    device: tch::Device,
    progress_every: std::time::Duration,
) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let out = match bundles {
        Some(bundles) => {
            worker::standalone::run_standalone_paced(spec, device, progress_every, Some(bundles))?
        }
        None => worker::standalone::train_only(spec, device, progress_every)?,
    };
    print!("{}", worker::standalone::render_table(&out));
    if let Some(path) = results {
        std::fs::write(&path, serde_json::to_vec_pretty(&out)?)
            .with_context(|| format!("write {}", path.display()))?;
    }
    Ok(())
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
        Some(Command::Train { standalone: true, spec, bundles, results, progress_every, train_only }) => {
            train_standalone(
                &spec,
                (!train_only).then_some(bundles.as_path()),
                results,
                device,
                progress_every,
            )
        }
        Some(Command::Train { standalone: false, .. }) => {
            anyhow::bail!(
                "cluster training is started by `worker serve` under a coordinator; use --standalone here"
            )
        }
        Some(Command::Serve(args)) => serve(args, cli.tls.load("worker")?, device),
        Some(Command::Coldstart(args)) => {
            let (model, rows) = worker::coldstart::evaluate(&args.bundle, &args.graph, &args.users)?;
            print!("{}", worker::coldstart::render(&model, &rows));
            if let Some(path) = args.results {
                std::fs::write(&path, serde_json::to_vec_pretty(&rows)?)
                    .map_err(|e| anyhow::anyhow!("write {}: {e}", path.display()))?;
            }
            Ok(())
        }
        Some(Command::Refresh(args)) => {
            let results =
                worker::standalone::refresh(&args.bundle, &args.graph, args.bundles.as_deref(), device)?;
            print!("{}", worker::standalone::render_table(&results));
            if let Some(path) = args.results {
                std::fs::write(&path, serde_json::to_vec_pretty(&results)?)
                    .map_err(|e| anyhow::anyhow!("write {}: {e}", path.display()))?;
            }
            Ok(())
        }
        Some(Command::ColdItems(args)) => {
            let results = worker::cold_items::evaluate(&args.bundle, &args.items, &args.pairs, args.now)?;
            let model =
                tessera_bundle::read::read_manifest(&tessera_bundle::read::resolve(&args.bundle)?)?.model;
            print!("{}", worker::cold_items::render(&model, &results));
            if let Some(path) = args.results {
                std::fs::write(&path, serde_json::to_vec_pretty(&results)?)
                    .map_err(|e| anyhow::anyhow!("write {}: {e}", path.display()))?;
            }
            Ok(())
        }
        Some(Command::Export(args)) => {
            let request = worker::from_checkpoint::ExportRequest {
                spec: args.spec,
                checkpoints: args.checkpoints,
                model: args.model,
                job: args.job,
                bundles: args.bundles,
            };
            let out = worker::from_checkpoint::export(&request, device)?;
            println!(
                "bundle: {} ({} from namespace {}, checkpoints {:?})",
                out.bundle.display(),
                out.model,
                out.namespace,
                out.checkpoints
            );
            Ok(())
        }
        None => anyhow::bail!(
            "give a command (serve, train, export, refresh, coldstart, cold-items) or --version"
        ),
    }
}
