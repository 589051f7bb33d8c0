//! Graceful shutdown: a cancellation token cancelled by SIGINT or SIGTERM,
//! and a serve future given a bounded grace once the token fires.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// How long a stopping server waits for open connections (such as workers
/// still holding a channel) before it stops anyway.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Drives `serve` to its end; once `shutdown` is cancelled, gives it at most
/// `grace` more. Returns `None` when the grace ran out first.
pub async fn serve_with_grace<F, E>(
    serve: F,
    shutdown: &CancellationToken,
    grace: Duration,
) -> Option<Result<(), E>>
where
    F: std::future::Future<Output = Result<(), E>>,
{
    tokio::pin!(serve);
    tokio::select! {
        result = &mut serve => Some(result),
        _ = async {
            shutdown.cancelled().await;
            tokio::time::sleep(grace).await;
        } => {
            tracing::warn!(grace = ?grace, "connections still open after the shutdown grace; stopping anyway");
            None
        }
    }
}

/// Cancels `token` on SIGINT or SIGTERM. Every Tessera server uses it.
pub async fn cancel_on_signal(token: CancellationToken) {
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
