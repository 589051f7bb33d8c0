//! `ps-server` binary: parses flags, sets up tracing and runs one shard until
//! SIGINT or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use ps_server::staleness::StalenessMode;
use tokio_util::sync::CancellationToken;

/// One shard of Tessera's parameter server.
#[derive(Debug, Parser)]
#[command(name = "ps-server", version)]
struct Cli {
    /// gRPC listen address; port 0 picks a free port (printed on stdout as
    /// `LISTENING <addr>`).
    #[arg(long, env = "TESSERA_PS_LISTEN", default_value = ps_server::server::DEFAULT_LISTEN)]
    listen: SocketAddr,
    /// Endpoint to publish in etcd (default: http://<bound address>).
    #[arg(long, env = "TESSERA_PS_ADVERTISE")]
    advertise: Option<String>,
    /// This shard's index, from 0.
    #[arg(long, env = "TESSERA_PS_SHARD", default_value_t = 0)]
    shard: u32,
    /// Number of shards in the cluster.
    #[arg(long, env = "TESSERA_PS_NUM_SHARDS", default_value_t = 1)]
    num_shards: u32,
    /// Checkpoint directory; the newest complete checkpoint is restored on start.
    #[arg(long, env = "TESSERA_PS_CHECKPOINT_DIR")]
    checkpoint_dir: Option<PathBuf>,
    /// Period of automatic checkpoints, e.g. `60s`; `0s` disables them.
    #[arg(long, env = "TESSERA_PS_CHECKPOINT_INTERVAL", default_value = "60s", value_parser = humantime::parse_duration)]
    checkpoint_interval: Duration,
    /// etcd endpoints, comma-separated; empty means no registration.
    #[arg(long, env = "TESSERA_ETCD", value_delimiter = ',', default_value = "")]
    etcd: Vec<String>,
    /// etcd key prefix.
    #[arg(long, env = "TESSERA_ETCD_PREFIX", default_value = "/tessera/")]
    etcd_prefix: String,
    /// Lease TTL of the etcd registration.
    #[arg(long, env = "TESSERA_PS_LEASE_TTL", default_value = "5s", value_parser = humantime::parse_duration)]
    lease_ttl: Duration,
    /// Prometheus endpoint address (`GET /metrics`); empty disables it.
    #[arg(long, env = "TESSERA_PS_METRICS_LISTEN")]
    metrics_listen: Option<SocketAddr>,
    /// Staleness mode: `async`, or `ssp:S` to hold back workers more than S
    /// clock ticks ahead of the slowest.
    #[arg(long, env = "TESSERA_PS_STALENESS", default_value = "async")]
    staleness: StalenessMode,
    /// After this long without a push a worker no longer holds SSP back.
    #[arg(long, env = "TESSERA_PS_WORKER_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    worker_timeout: Duration,
    /// Transport security (the `ps` certificate of `--tls-dir`).
    #[command(flatten)]
    tls: tessera_runtime::tls::TlsArgs,
    /// etcd user and password file.
    #[command(flatten)]
    etcd_auth: tessera_runtime::etcd::EtcdAuthArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let shutdown = CancellationToken::new();
    tokio::spawn(tessera_runtime::cancel_on_signal(shutdown.clone()));
    let mut config = ps_server::ServerConfig::new(cli.listen, cli.shard, cli.num_shards);
    config.advertise = cli.advertise;
    config.checkpoint_dir = cli.checkpoint_dir;
    config.checkpoint_interval = Some(cli.checkpoint_interval).filter(|d| !d.is_zero());
    config.tls = cli.tls.load("ps")?;
    let etcd: Vec<String> = cli.etcd.into_iter().filter(|e| !e.is_empty()).collect();
    if !etcd.is_empty() {
        config.etcd = Some(tessera_runtime::etcd::EtcdAccess::new(etcd, &config.tls, &cli.etcd_auth)?);
    }
    config.etcd_prefix = cli.etcd_prefix;
    config.lease_ttl = cli.lease_ttl;
    config.metrics_listen = cli.metrics_listen;
    config.staleness = cli.staleness;
    config.worker_timeout = cli.worker_timeout;
    ps_server::run(config, shutdown, |bound| {
        println!("LISTENING {}", bound.grpc);
        if let Some(metrics) = bound.metrics {
            println!("METRICS {metrics}");
        }
    })
    .await
    .context("run ps-server")
}
