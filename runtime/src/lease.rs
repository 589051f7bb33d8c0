//! Membership under an etcd lease: a key (such as a shard's or a worker's
//! member key) put under a lease that a background task keeps alive. When the
//! process dies the lease expires and the key disappears; a clean stop
//! revokes it at once.

use std::time::Duration;

use anyhow::Context as _;
use etcd_client::{Client, PutOptions};
use tokio_util::sync::CancellationToken;

/// How long a shutdown waits for etcd to revoke the lease.
pub const REVOKE_TIMEOUT: Duration = Duration::from_secs(3);

/// Default lease TTL.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(5);

/// A live registration.
pub struct Registration {
    client: Client,
    lease_id: i64,
    keepalive: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration").field("lease_id", &self.lease_id).finish_non_exhaustive()
    }
}

/// Puts `key = value` under a new lease of `ttl` and keeps the lease alive
/// until `shutdown` is cancelled or the registration is revoked.
///
/// # Errors
/// Fails when etcd cannot be reached or refuses the lease.
pub async fn register_key(
    endpoints: &[String],
    key: &str,
    value: String,
    ttl: Duration,
    shutdown: CancellationToken,
) -> anyhow::Result<Registration> {
    let options = etcd_client::ConnectOptions::new().with_connect_timeout(Duration::from_secs(3));
    let mut client = Client::connect(endpoints, Some(options))
        .await
        .with_context(|| format!("connect to etcd at {}", endpoints.join(",")))?;
    let lease = client.lease_grant(ttl.as_secs().max(1) as i64, None).await.context("grant etcd lease")?;
    let lease_id = lease.id();
    client.put(key, value, Some(PutOptions::new().with_lease(lease_id))).await.context("put member key")?;
    let (mut keeper, mut responses) =
        client.lease_keep_alive(lease_id).await.context("start lease keep-alive")?;
    let period = ttl / 3;
    let keepalive = tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(period) => {}
            }
            if let Err(e) = keeper.keep_alive().await {
                tracing::error!(lease_id, "failed to renew the etcd lease: {e}");
                continue;
            }
            match responses.message().await {
                Ok(Some(r)) if r.ttl() > 0 => {}
                Ok(_) => tracing::error!(lease_id, "etcd lease expired; the member is no longer registered"),
                Err(e) => tracing::error!(lease_id, "failed to read the lease renewal: {e}"),
            }
        }
    });
    Ok(Registration { client, lease_id, keepalive })
}

impl Registration {
    /// The etcd lease the key lives under.
    pub fn lease_id(&self) -> i64 {
        self.lease_id
    }

    /// Stops renewing the lease without revoking it, so the key expires
    /// after its TTL, as if the process had died.
    pub fn abandon(self) {
        self.keepalive.abort();
    }

    /// Stops the keep-alive and revokes the lease, removing the key.
    ///
    /// # Errors
    /// Fails when etcd refuses the revoke.
    pub async fn revoke(mut self) -> anyhow::Result<()> {
        self.keepalive.abort();
        // etcd may be gone at shutdown; the lease then expires on its own.
        tokio::time::timeout(REVOKE_TIMEOUT, self.client.lease_revoke(self.lease_id))
            .await
            .context("revoke etcd lease: etcd did not answer in time")?
            .context("revoke etcd lease")?;
        Ok(())
    }
}
