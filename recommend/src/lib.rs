//! Tessera's recommend service: it loads a model bundle (`tessera_bundle`)
//! and answers, over HTTP/JSON,
//! - `GET /v1/users/{id}/recommendations?k=20&exclude_seen=true&candidates=200`,
//! - `GET /v1/items/{id}/similar?k=20`,
//! - `POST /v1/users` with a new user's first behaviours (and features),
//!   which folds them into the trained HGT and answers their embedding and
//!   recommendations (kept, with `--overlay`, and then served like a trained
//!   user),
//! - `POST /v1/items` with a new item's category, shop, brand and features,
//!   which folds it into the trained HGT and adds it to the items served
//!   and to the HNSW index at once (kept, with `--overlay`, and folded into
//!   every bundle that comes to serve),
//! - `GET /healthz`, `GET /readyz`, `GET /metrics` (Prometheus),
//! - the same two calls over gRPC (`tessera.recommend.v1.Recommender`) with
//!   `--grpc-listen`, on mutual TLS (or `--insecure`),
//! - `POST /admin/reload` (optionally `{"bundle": "<dir>"}`), which swaps a
//!   new bundle in atomically; requests in flight finish on the old one, and
//!   a bundle that fails its checks is refused while the old one serves on.
//!
//! With `--watch` it also reloads when the job directory's `LATEST` moves.

pub mod answer;
pub mod config;
pub mod error;
pub mod grpc;
pub mod metrics;
pub mod new_items;
pub mod new_users;
pub mod overlay;
pub mod query;
pub mod routes;
pub mod state;

use std::sync::Arc;
use tessera_runtime::auth::Token;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

pub use config::Config;
pub use state::AppState;

/// Loads the bundle, listens, prints `LISTENING <addr>` on stdout and serves
/// until `shutdown`.
///
/// # Errors
/// A missing or corrupt bundle (refused at start-up, with the reason), an
/// unreadable admin token file, or an address that cannot be bound.
pub async fn run(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let admin = config.admin_token_file.as_deref().map(Token::from_file).transpose()?;
    let tls = match config.grpc_listen {
        Some(_) => Some(config.tls.load("recommend").context("--grpc-listen")?),
        None => None,
    };
    if admin.is_none() {
        tracing::warn!("no --admin-token-file: anyone who reaches the service can reload its bundle");
    }
    let overlay = config.overlay.as_deref().map(overlay::Overlay::open).transpose()?;
    if let Some(o) = &overlay {
        tracing::info!(users = o.len(), items = o.items().len(), "new users and items kept in the overlay");
    }
    let state = Arc::new(
        AppState::load(config.bundle.clone())
            .await
            .with_context(|| format!("refusing to start without a bundle: {}", config.bundle.display()))?
            .with_overlay(overlay),
    );
    state.restore_items(&state.current()).await;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("bind {}", config.listen))?;
    let addr = listener.local_addr()?;
    {
        let bundle = state.current();
        let m = bundle.manifest();
        tracing::info!(%addr, bundle = %bundle.dir().display(), job = %m.job, version = m.version, items = m.items, ann = bundle.has_index(), "recommend listening");
    }
    println!("LISTENING {addr}");
    let grpc = match (config.grpc_listen, tls) {
        (Some(at), Some(tls)) => {
            let listener = tokio::net::TcpListener::bind(at).await.with_context(|| format!("bind {at}"))?;
            println!("GRPC {}", listener.local_addr()?);
            let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
            let server = tls
                .server()
                .context("configure TLS")?
                .add_service(grpc::Grpc::server(state.clone()))
                .serve_with_incoming_shutdown(incoming, shutdown.clone().cancelled_owned());
            Some(tokio::spawn(server))
        }
        _ => None,
    };
    if !config.watch.is_zero() {
        tokio::spawn(state::watch(state.clone(), config.watch, shutdown.clone()));
    }
    let app = routes::router(state, admin);
    let serve = axum::serve(listener, app).with_graceful_shutdown(shutdown.clone().cancelled_owned());
    let serve = async { serve.await };
    let grace = tessera_runtime::shutdown::SHUTDOWN_GRACE;
    let served = match tessera_runtime::shutdown::serve_with_grace(serve, &shutdown, grace).await {
        Some(result) => result.context("serve HTTP"),
        None => Ok(()),
    };
    if let Some(grpc) = grpc {
        shutdown.cancel();
        grpc.await.context("the gRPC server stopped")?.context("serve gRPC")?;
    }
    served
}
