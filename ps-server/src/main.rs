//! `ps-server` binary: parses flags, sets up tracing and runs one shard until
//! SIGINT or SIGTERM.

use std::net::SocketAddr;

use anyhow::Context as _;
use clap::Parser;
use tokio_util::sync::CancellationToken;

/// One shard of Tessera's parameter server.
#[derive(Debug, Parser)]
#[command(name = "ps-server", version)]
struct Cli {
    /// gRPC listen address; port 0 picks a free port (printed on stdout).
    #[arg(long, env = "TESSERA_PS_LISTEN", default_value = ps_server::server::DEFAULT_LISTEN)]
    listen: SocketAddr,
    /// This shard's index, from 0.
    #[arg(long, env = "TESSERA_PS_SHARD", default_value_t = 0)]
    shard: u32,
    /// Number of shards in the cluster.
    #[arg(long, env = "TESSERA_PS_NUM_SHARDS", default_value_t = 1)]
    num_shards: u32,
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
    tokio::spawn(cancel_on_signal(shutdown.clone()));
    let config = ps_server::ServerConfig { listen: cli.listen, shard: cli.shard, num_shards: cli.num_shards };
    ps_server::run(config, shutdown, |addr| println!("LISTENING {addr}")).await.context("run ps-server")
}

async fn cancel_on_signal(token: CancellationToken) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        tracing::error!("failed to install the SIGTERM handler");
        return;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutdown signal received");
    token.cancel();
}
