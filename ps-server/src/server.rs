//! Starts one shard: binds the listener, serves the parameter-server service
//! with gRPC reflection, and stops when the shutdown token fires.

use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;
use tonic::transport::Server;

use crate::service::PsService;
use tessera_proto::ps::v1::parameter_server_server::ParameterServerServer;

/// Default gRPC listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7070";

/// Largest gRPC message accepted or sent.
pub const MAX_MESSAGE_BYTES: usize = 256 << 20;

/// What a shard needs to start.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on; port 0 picks a free one.
    pub listen: SocketAddr,
    /// This shard's index, `< num_shards`.
    pub shard: u32,
    /// Number of shards in the cluster.
    pub num_shards: u32,
}

/// Serves the shard until `shutdown` is cancelled. `on_bound` receives the
/// bound address (useful with port 0).
///
/// # Errors
/// Fails when the address cannot be bound or the server stops on an error.
pub async fn run(
    config: ServerConfig,
    shutdown: CancellationToken,
    on_bound: impl FnOnce(SocketAddr),
) -> anyhow::Result<()> {
    use anyhow::Context as _;
    anyhow::ensure!(
        config.num_shards > 0 && config.shard < config.num_shards,
        "shard {} is not below num_shards {}",
        config.shard,
        config.num_shards
    );
    let listener =
        TcpListener::bind(config.listen).await.with_context(|| format!("bind {}", config.listen))?;
    let addr = listener.local_addr().context("read bound address")?;
    on_bound(addr);
    tracing::info!(%addr, shard = config.shard, num_shards = config.num_shards, "ps-server listening");
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(tessera_proto::FILE_DESCRIPTOR_SET)
        .build_v1()
        .context("build reflection service")?;
    let shard = std::sync::Arc::new(crate::shard::Shard::new(config.shard, config.num_shards));
    let service = PsService::new(shard);
    Server::builder()
        .add_service(reflection)
        .add_service(
            ParameterServerServer::new(service)
                .max_decoding_message_size(MAX_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES),
        )
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown.cancelled())
        .await
        .context("serve parameter-server gRPC")?;
    tracing::info!("ps-server stopped");
    Ok(())
}
