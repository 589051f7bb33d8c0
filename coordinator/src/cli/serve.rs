//! `coordinator serve`: the long-running coordinator process.

use std::net::SocketAddr;
use std::time::Duration;
use tessera_runtime::auth::Token;
use tessera_runtime::etcd::EtcdAccess;
use tessera_runtime::tls::Tls;

use anyhow::Context as _;
use clap::Args;
use tokio_util::sync::CancellationToken;

use tessera_runtime::cancel_on_signal;

use crate::server::{run, ServeConfig, DEFAULT_LISTEN};

/// Flags of `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// gRPC listen address; port 0 picks a free port (printed on stdout as
    /// `LISTENING <addr>`).
    #[arg(long, env = "TESSERA_COORDINATOR_LISTEN", default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,
    /// etcd endpoints, comma-separated.
    #[arg(long, env = "TESSERA_ETCD", value_delimiter = ',', default_value = "http://127.0.0.1:2379")]
    pub etcd: Vec<String>,
    /// etcd key prefix.
    #[arg(long, env = "TESSERA_ETCD_PREFIX", default_value = "/tessera/")]
    pub etcd_prefix: String,
    /// Period of the scheduling loop.
    #[arg(long, env = "TESSERA_COORDINATOR_TICK", default_value = "250ms", value_parser = humantime::parse_duration)]
    pub tick: Duration,
    /// Prometheus endpoint address (`GET /metrics`: jobs by state, fencing
    /// tokens, live workers and shards); port 0 picks a free port (printed
    /// as `METRICS <addr>` after `LISTENING`). Off unless given.
    #[arg(long, env = "TESSERA_COORDINATOR_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// A file holding the bearer token that SubmitJob and CancelJob require
    /// (the CLI sends it with `--token-file`); without it they are open.
    #[arg(long, env = "TESSERA_COORDINATOR_TOKEN_FILE")]
    pub token_file: Option<std::path::PathBuf>,
    /// etcd user and password file.
    #[command(flatten)]
    pub etcd_auth: tessera_runtime::etcd::EtcdAuthArgs,
}

/// Runs `serve` with `tls` until SIGINT or SIGTERM.
///
/// # Errors
/// Fails when etcd is unreachable or the server fails.
pub fn run_serve(args: ServeArgs, tls: Tls) -> anyhow::Result<()> {
    let token = args.token_file.as_deref().map(Token::from_file).transpose()?;
    let etcd = EtcdAccess::new(args.etcd, &tls, &args.etcd_auth)?;
    let runtime = tokio::runtime::Runtime::new().context("start the tokio runtime")?;
    runtime.block_on(async move {
        let shutdown = CancellationToken::new();
        tokio::spawn(cancel_on_signal(shutdown.clone()));
        let config = ServeConfig {
            listen: args.listen,
            etcd,
            tls,
            etcd_prefix: args.etcd_prefix,
            tick: args.tick,
            metrics_listen: args.metrics_listen,
            token,
        };
        run(config, shutdown, |addr, metrics| {
            println!("LISTENING {addr}");
            if let Some(metrics) = metrics {
                println!("METRICS {metrics}");
            }
        })
        .await
    })
}
