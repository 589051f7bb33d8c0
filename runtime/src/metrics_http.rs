//! The Prometheus endpoint every Tessera server offers: an axum router
//! (`GET /metrics`) on a listener of its own, served until shutdown, and the
//! OpenMetrics content type its answers carry.

use std::net::SocketAddr;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The content type of an OpenMetrics text answer.
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Serves `app` on `listener` until `shutdown`; a failure is logged.
pub async fn serve_router(listener: TcpListener, app: axum::Router, shutdown: CancellationToken) {
    if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(shutdown.cancelled_owned()).await {
        tracing::error!("the metrics endpoint stopped: {e}");
    }
}

/// Binds `listen` and serves `app` on it in the background until
/// `shutdown`; returns the bound address.
///
/// # Errors
/// When the address cannot be bound.
pub async fn spawn_router(
    listen: SocketAddr,
    app: axum::Router,
    shutdown: CancellationToken,
) -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind(listen).await.with_context(|| format!("bind metrics {listen}"))?;
    let addr = listener.local_addr()?;
    tokio::spawn(serve_router(listener, app, shutdown));
    Ok(addr)
}
