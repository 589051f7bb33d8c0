//! `coordinator serve`: connects to etcd, runs the scheduler and serves the
//! coordinator gRPC service (with reflection) until shutdown.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use tessera_proto::coordinator::v1::coordinator_server::CoordinatorServer;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;

use crate::scheduler::Scheduler;
use crate::service::{CoordinatorCore, CoordinatorService};
use tessera_control::store::Store;

/// Default gRPC listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7000";

/// What the coordinator needs to start.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Address to listen on; port 0 picks a free one.
    pub listen: SocketAddr,
    /// How to reach etcd.
    pub etcd: tessera_runtime::etcd::EtcdAccess,
    /// Transport security of the gRPC service.
    pub tls: tessera_runtime::tls::Tls,
    /// etcd key prefix, ending in `/`.
    pub etcd_prefix: String,
    /// Period of the scheduling loop.
    pub tick: Duration,
    /// Prometheus endpoint address (`GET /metrics`); None disables it.
    pub metrics_listen: Option<SocketAddr>,
    /// The bearer token SubmitJob and CancelJob require; None leaves them open.
    pub token: Option<tessera_runtime::auth::Token>,
}

/// Serves until `shutdown` is cancelled; `on_bound` receives the bound
/// address, and the metrics address when there is one.
///
/// # Errors
/// Fails when etcd cannot be reached, the listener cannot be bound, or the
/// server stops on an error.
pub async fn run(
    config: ServeConfig,
    shutdown: CancellationToken,
    on_bound: impl FnOnce(SocketAddr, Option<SocketAddr>),
) -> anyhow::Result<()> {
    let unreachable = |e: tessera_control::StoreError| tessera_control::client::Unreachable {
        what: "etcd",
        endpoint: config.etcd.endpoints_text(),
        reason: e.to_string(),
    };
    let store = Store::connect(&config.etcd, &config.etcd_prefix).await.map_err(unreachable)?;
    // Fail fast with a clear message when etcd is down.
    store.job_ids().await.map_err(unreachable)?;
    let listener =
        TcpListener::bind(config.listen).await.with_context(|| format!("bind {}", config.listen))?;
    let addr = listener.local_addr().context("read bound address")?;
    let background = shutdown.child_token();
    let scheduler = tokio::spawn(Scheduler::new(store.clone()).run(config.tick, background.clone()));
    let metrics = match config.metrics_listen {
        Some(listen) => Some(crate::metrics::spawn(listen, store.clone(), background.clone()).await?),
        None => None,
    };
    on_bound(addr, metrics);
    tracing::info!(%addr, etcd = %config.etcd.endpoints_text(), tls = config.tls.is_secure(), prefix = %config.etcd_prefix, "coordinator listening");
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(tessera_proto::FILE_DESCRIPTOR_SET)
        .build_v1()
        .context("build reflection service")?;
    if config.token.is_none() {
        tracing::warn!("no --token-file: anyone who reaches the coordinator can submit and cancel jobs");
    }
    let service = CoordinatorService::new(CoordinatorCore::new(store, background.clone()), config.token);
    let serve = config
        .tls
        .server()
        .context("configure TLS")?
        .add_service(reflection)
        .add_service(CoordinatorServer::new(service))
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown.cancelled());
    let served = tessera_runtime::serve_with_grace(serve, &shutdown, tessera_runtime::SHUTDOWN_GRACE)
        .await
        .unwrap_or(Ok(()))
        .context("serve coordinator gRPC");
    background.cancel();
    if let Err(e) = scheduler.await {
        tracing::error!("scheduler task failed: {e}");
    }
    tracing::info!("coordinator stopped");
    served
}
