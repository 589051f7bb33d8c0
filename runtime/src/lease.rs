//! Membership under an etcd lease: a key (such as a shard's or a worker's
//! member key) put under a lease that a background task keeps alive. When the
//! process dies the lease expires and the key disappears; a clean stop
//! revokes it at once. When etcd goes away and comes back (a restart, a
//! partition), the task opens the keep-alive stream again, and if the lease
//! expired meanwhile it puts the key again under a new lease, so a live
//! member never stays unregistered.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use etcd_client::{Client, LeaseKeepAliveStream, LeaseKeeper, PutOptions};
use tokio_util::sync::CancellationToken;

/// How long a shutdown waits for etcd to revoke the lease.
pub const REVOKE_TIMEOUT: Duration = Duration::from_secs(3);

/// Default lease TTL.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(5);

/// A live registration.
pub struct Registration {
    client: Client,
    lease_id: Arc<AtomicI64>,
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
    etcd: &crate::etcd::EtcdAccess,
    key: &str,
    value: String,
    ttl: Duration,
    shutdown: CancellationToken,
) -> anyhow::Result<Registration> {
    let options = etcd_client::ConnectOptions::new().with_connect_timeout(Duration::from_secs(3));
    let mut client = etcd
        .connect(options)
        .await
        .with_context(|| format!("connect to etcd at {}", etcd.endpoints_text()))?;
    let (lease, stream) = put_under_lease(&mut client, key, &value, ttl).await?;
    let lease_id = Arc::new(AtomicI64::new(lease));
    let period = ttl / 3;
    let keepalive = tokio::spawn(keep_alive(
        client.clone(),
        key.to_owned(),
        value,
        ttl,
        lease_id.clone(),
        stream,
        period,
        shutdown,
    ));
    Ok(Registration { client, lease_id, keepalive })
}

/// Grants a lease of `ttl`, puts `key = value` under it and opens its
/// keep-alive stream.
async fn put_under_lease(
    client: &mut Client,
    key: &str,
    value: &str,
    ttl: Duration,
) -> anyhow::Result<(i64, (LeaseKeeper, LeaseKeepAliveStream))> {
    let lease = client.lease_grant(ttl.as_secs().max(1) as i64, None).await.context("grant etcd lease")?;
    let lease_id = lease.id();
    client.put(key, value, Some(PutOptions::new().with_lease(lease_id))).await.context("put member key")?;
    let stream = client.lease_keep_alive(lease_id).await.context("start lease keep-alive")?;
    Ok((lease_id, stream))
}

/// What one renewal found.
enum Renewal {
    Alive,
    Expired,
    Broken(String),
}

async fn renew(stream: &mut Option<(LeaseKeeper, LeaseKeepAliveStream)>) -> Renewal {
    let Some((keeper, responses)) = stream else { return Renewal::Broken("no keep-alive stream".into()) };
    if let Err(e) = keeper.keep_alive().await {
        return Renewal::Broken(e.to_string());
    }
    match responses.message().await {
        Ok(Some(r)) if r.ttl() > 0 => Renewal::Alive,
        Ok(Some(_)) => Renewal::Expired,
        Ok(None) => Renewal::Broken("the keep-alive stream ended".into()),
        Err(e) => Renewal::Broken(e.to_string()),
    }
}

/// Renews the lease every `period` until `shutdown`; reopens a broken
/// stream, and registers again under a new lease when the old one expired.
#[allow(clippy::too_many_arguments)]
async fn keep_alive(
    mut client: Client,
    key: String,
    value: String,
    ttl: Duration,
    lease_id: Arc<AtomicI64>,
    stream: (LeaseKeeper, LeaseKeepAliveStream),
    period: Duration,
    shutdown: CancellationToken,
) {
    let mut stream = Some(stream);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(period) => {}
        }
        let lease = lease_id.load(Ordering::Acquire);
        match renew(&mut stream).await {
            Renewal::Alive => {}
            Renewal::Broken(e) => {
                tracing::warn!(lease_id = lease, %key, "failed to renew the etcd lease, reconnecting: {e}");
                stream = client.lease_keep_alive(lease).await.ok();
            }
            Renewal::Expired => {
                tracing::warn!(lease_id = lease, %key, "the etcd lease expired; registering again");
                match put_under_lease(&mut client, &key, &value, ttl).await {
                    Ok((id, s)) => {
                        lease_id.store(id, Ordering::Release);
                        stream = Some(s);
                        tracing::info!(lease_id = id, %key, "registered again in etcd");
                    }
                    Err(e) => tracing::warn!(%key, "failed to register again: {e:#}"),
                }
            }
        }
    }
}

impl Registration {
    /// The etcd lease the key lives under.
    pub fn lease_id(&self) -> i64 {
        self.lease_id.load(Ordering::Acquire)
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
        let lease = self.lease_id.load(Ordering::Acquire);
        tokio::time::timeout(REVOKE_TIMEOUT, self.client.lease_revoke(lease))
            .await
            .context("revoke etcd lease: etcd did not answer in time")?
            .context("revoke etcd lease")?;
        Ok(())
    }
}
