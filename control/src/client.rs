//! Connecting to `coordinator serve` from the CLI and from workers, with a
//! connect timeout and one clear error naming the endpoint when it is down.

use std::time::Duration;

use tessera_proto::coordinator::v1::coordinator_client::CoordinatorClient;
use tessera_runtime::tls::Tls;
use tonic::transport::Channel;

/// Default coordinator endpoint.
pub const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:7000";

/// The coordinator (or etcd) could not be reached.
#[derive(Debug, thiserror::Error)]
#[error("cannot reach {what} at {endpoint}: {reason}")]
pub struct Unreachable {
    /// "the coordinator" or "etcd".
    pub what: &'static str,
    /// The endpoint tried.
    pub endpoint: String,
    /// Why.
    pub reason: String,
}

/// A coordinator to call: its endpoint and the security to reach it with.
#[derive(Debug, Clone)]
pub struct Target {
    /// `http://host:port` (made `https://` under TLS).
    pub endpoint: String,
    /// Transport security.
    pub tls: Tls,
}

impl Target {
    /// Connects; see [`connect`].
    ///
    /// # Errors
    /// As [`connect`].
    pub async fn connect(&self) -> Result<CoordinatorClient<Channel>, Unreachable> {
        connect(&self.endpoint, &self.tls).await
    }
}

/// Connects to the coordinator with `tls`'s security.
///
/// # Errors
/// Fails with [`Unreachable`] when the endpoint is invalid or does not answer
/// (a refused certificate included).
pub async fn connect(endpoint: &str, tls: &Tls) -> Result<CoordinatorClient<Channel>, Unreachable> {
    let unreachable =
        |reason: String| Unreachable { what: "the coordinator", endpoint: endpoint.into(), reason };
    let channel = tls
        .endpoint(endpoint)
        .map_err(|e| unreachable(format!("invalid endpoint: {e}")))?
        .connect_timeout(Duration::from_secs(3))
        .tcp_keepalive(Some(Duration::from_secs(30)))
        .http2_keep_alive_interval(Duration::from_secs(30))
        .connect()
        .await
        .map_err(|e| unreachable(error_chain(&e)))?;
    Ok(CoordinatorClient::new(channel))
}

/// The error and its sources on one line.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
