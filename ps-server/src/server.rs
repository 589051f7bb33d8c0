//! Starts one shard: restores the newest checkpoint, binds the listeners,
//! registers in etcd, checkpoints periodically, serves the parameter-server
//! service with gRPC reflection and metrics, and on shutdown stops accepting,
//! lets in-flight requests finish, takes a final checkpoint and revokes the
//! lease, in that order.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_stream::StreamExt as _;
use tokio_util::sync::CancellationToken;

use ps_client::wire::{H2_CONNECTION_WINDOW, H2_STREAM_WINDOW, MAX_MESSAGE_BYTES};
use tessera_control::keys::{Keys, ShardMember};
use tessera_proto::ps::v1::parameter_server_server::ParameterServerServer;
use tessera_runtime::{register_key, serve_with_grace, SHUTDOWN_GRACE};

use crate::metrics::Latencies;
use crate::service::PsService;
use crate::shard::Shard;
use crate::staleness::{Staleness, StalenessMode};

/// Default gRPC listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7070";

/// What a shard needs to start.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on; port 0 picks a free one.
    pub listen: SocketAddr,
    /// Endpoint published in etcd; defaults to `http://<bound address>`.
    pub advertise: Option<String>,
    /// This shard's index, `< num_shards`.
    pub shard: u32,
    /// Number of shards in the cluster.
    pub num_shards: u32,
    /// Checkpoint directory; restores from it on start.
    pub checkpoint_dir: Option<PathBuf>,
    /// Period of automatic checkpoints (needs `checkpoint_dir`).
    pub checkpoint_interval: Option<Duration>,
    /// How to reach etcd; `None` means no registration.
    pub etcd: Option<tessera_runtime::etcd::EtcdAccess>,
    /// Transport security of the gRPC service.
    pub tls: tessera_runtime::tls::Tls,
    /// etcd key prefix, ending in `/`.
    pub etcd_prefix: String,
    /// Lease TTL of the registration.
    pub lease_ttl: Duration,
    /// Address of the Prometheus endpoint, if any.
    pub metrics_listen: Option<SocketAddr>,
    /// Staleness mode.
    pub staleness: StalenessMode,
    /// Time after which a silent worker no longer holds SSP back.
    pub worker_timeout: Duration,
}

impl ServerConfig {
    /// A config for shard `shard` of `num_shards` on `listen`, with defaults
    /// for everything else (no persistence, no etcd, no metrics, async).
    pub fn new(listen: SocketAddr, shard: u32, num_shards: u32) -> Self {
        Self {
            listen,
            advertise: None,
            shard,
            num_shards,
            checkpoint_dir: None,
            checkpoint_interval: None,
            etcd: None,
            tls: tessera_runtime::tls::Tls::insecure(),
            etcd_prefix: tessera_control::keys::DEFAULT_PREFIX.into(),
            lease_ttl: tessera_runtime::DEFAULT_LEASE_TTL,
            metrics_listen: None,
            staleness: StalenessMode::Async,
            worker_timeout: crate::staleness::DEFAULT_WORKER_TIMEOUT,
        }
    }
}

/// The addresses a started shard listens on.
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    /// gRPC.
    pub grpc: SocketAddr,
    /// Prometheus metrics, when enabled.
    pub metrics: Option<SocketAddr>,
}

/// Serves the shard until `shutdown` is cancelled. `on_bound` receives the
/// bound addresses (useful with port 0).
///
/// # Errors
/// Fails when a listener cannot be bound, the checkpoint cannot be restored,
/// etcd cannot be reached, or the server stops on an error.
pub async fn run(
    config: ServerConfig,
    shutdown: CancellationToken,
    on_bound: impl FnOnce(Bound),
) -> anyhow::Result<()> {
    anyhow::ensure!(
        config.num_shards > 0 && config.shard < config.num_shards,
        "shard {} is not below num_shards {}",
        config.shard,
        config.num_shards
    );
    let shard = Arc::new(Shard::new(config.shard, config.num_shards));
    if let Some(dir) = &config.checkpoint_dir {
        shard.set_checkpoint_dir(dir.clone());
        if !crate::checkpoint::list(dir).context("list checkpoints")?.is_empty() {
            let outcome = shard.restore(0).with_context(|| format!("restore from {}", dir.display()))?;
            tracing::info!(
                checkpoint_id = outcome.checkpoint_id,
                num_rows = outcome.num_rows,
                "restored on start; updates after that checkpoint are lost"
            );
        }
    }
    let listener =
        TcpListener::bind(config.listen).await.with_context(|| format!("bind {}", config.listen))?;
    let addr = listener.local_addr().context("read bound address")?;
    let latencies = Arc::new(Latencies::default());
    let staleness = Arc::new(Staleness::new(config.staleness, config.worker_timeout));
    let mut tasks = tokio::task::JoinSet::new();
    let background = shutdown.child_token();
    let metrics = match config.metrics_listen {
        Some(listen) => {
            let l = TcpListener::bind(listen).await.with_context(|| format!("bind metrics {listen}"))?;
            let bound = l.local_addr().context("read metrics address")?;
            tasks.spawn(crate::metrics::serve(
                l,
                shard.clone(),
                latencies.clone(),
                staleness.clone(),
                background.clone(),
            ));
            Some(bound)
        }
        None => None,
    };
    if let (Some(period), Some(_)) = (config.checkpoint_interval, &config.checkpoint_dir) {
        let (shard, token) = (shard.clone(), background.clone());
        tasks.spawn(async move {
            loop {
                tokio::select! {
                    _ = token.cancelled() => return,
                    _ = tokio::time::sleep(period) => {}
                }
                let shard = shard.clone();
                match tokio::task::spawn_blocking(move || shard.checkpoint()).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => tracing::error!("failed to write a periodic checkpoint: {e}"),
                    Err(e) => tracing::error!("failed to run a periodic checkpoint: {e}"),
                }
            }
        });
    }
    let registration = if let Some(etcd) = &config.etcd {
        let member = ShardMember {
            shard: config.shard,
            num_shards: config.num_shards,
            endpoint: config.advertise.clone().unwrap_or_else(|| config.tls.url(&addr.to_string())),
        };
        let key = Keys::new(&config.etcd_prefix).ps_member(member.shard);
        let value = serde_json::to_string(&member).context("encode ps member")?;
        let registration = register_key(etcd, &key, value, config.lease_ttl, background.clone()).await?;
        tracing::info!(shard = member.shard, endpoint = %member.endpoint, lease_id = registration.lease_id(), "registered in etcd");
        Some(registration)
    } else {
        None
    };
    on_bound(Bound { grpc: addr, metrics });
    tracing::info!(%addr, shard = config.shard, num_shards = config.num_shards, tls = config.tls.is_secure(), "ps-server listening");
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(tessera_proto::FILE_DESCRIPTOR_SET)
        .build_v1()
        .context("build reflection service")?;
    let service = PsService::new(shard.clone(), latencies, staleness);
    // Accepted sockets get TCP_NODELAY: a small reply written in pieces must
    // not wait for the peer's delayed ACK.
    let incoming = TcpListenerStream::new(listener).map(|stream| {
        stream.inspect(|s| {
            if let Err(e) = s.set_nodelay(true) {
                tracing::warn!("failed to set TCP_NODELAY: {e}");
            }
        })
    });
    let serve = config
        .tls
        .server()
        .context("configure TLS")?
        .initial_stream_window_size(Some(H2_STREAM_WINDOW))
        .initial_connection_window_size(Some(H2_CONNECTION_WINDOW))
        .add_service(reflection)
        .add_service(
            ParameterServerServer::new(service)
                .max_decoding_message_size(MAX_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES),
        )
        .serve_with_incoming_shutdown(incoming, shutdown.cancelled());
    let served = serve_with_grace(serve, &shutdown, SHUTDOWN_GRACE)
        .await
        .unwrap_or(Ok(()))
        .context("serve parameter-server gRPC");
    // In-flight requests are done; flush, then leave the cluster.
    background.cancel();
    while tasks.join_next().await.is_some() {}
    if config.checkpoint_dir.is_some() {
        let shard = shard.clone();
        match tokio::task::spawn_blocking(move || shard.checkpoint()).await {
            Ok(Ok(c)) => tracing::info!(checkpoint_id = c.checkpoint_id, "final checkpoint written"),
            Ok(Err(e)) => tracing::error!("failed to write the final checkpoint: {e}"),
            Err(e) => tracing::error!("failed to run the final checkpoint: {e}"),
        }
    }
    if let Some(registration) = registration {
        if let Err(e) = registration.revoke().await {
            tracing::error!("failed to {e:#}");
        }
    }
    let stats = shard.stats();
    tracing::info!(
        num_updates = stats.num_updates,
        grad_bytes_raw = stats.bytes_in_raw,
        grad_bytes_wire = stats.bytes_in_wire,
        row_bytes_raw = stats.bytes_out_raw,
        row_bytes_wire = stats.bytes_out_wire,
        "ps-server stopped"
    );
    served
}
