//! A real training cluster on loopback, for the tests that train with real
//! processes: a test etcd, two `ps-server` shards and `coordinator serve`
//! under one etcd prefix, with `worker serve` processes started on demand.

use tessera_proto::coordinator::v1::coordinator_client::CoordinatorClient;
use tonic::transport::Channel;

use crate::coordinator::{start_coordinator, CoordinatorProcess};
use crate::process::ChildProcess;
use crate::ps::{start_ps_server_with, PsServer};
use crate::worker::start_worker;
use crate::Etcd;

/// etcd, two PS shards and the coordinator; stopped when dropped.
pub struct RealCluster {
    /// The etcd prefix every process uses.
    pub prefix: String,
    /// The coordinator.
    pub coordinator: CoordinatorProcess,
    /// The test etcd (to stop and start in fault tests).
    pub etcd: Etcd,
    _ps: [PsServer; 2],
}

impl RealCluster {
    /// Starts etcd, two shards and the coordinator under `prefix`.
    ///
    /// # Errors
    /// Fails when a process does not start.
    pub async fn start(prefix: &str) -> anyhow::Result<Self> {
        let etcd = Etcd::start().await?;
        let flags = vec!["--etcd".to_owned(), etcd.endpoint(), "--etcd-prefix".into(), prefix.into()];
        let ps = [start_ps_server_with(0, 2, &flags)?, start_ps_server_with(1, 2, &flags)?];
        let coordinator = start_coordinator(&etcd.endpoint(), prefix, "127.0.0.1:0")?;
        Ok(Self { prefix: prefix.to_owned(), coordinator, _ps: ps, etcd })
    }

    /// The etcd endpoint.
    pub fn etcd(&self) -> String {
        self.etcd.endpoint()
    }

    /// Kills the coordinator (SIGKILL) and starts it again on its address.
    ///
    /// # Errors
    /// Fails when it does not come back.
    pub fn restart_coordinator(&mut self, down_for: std::time::Duration) -> anyhow::Result<()> {
        let addr = self.coordinator.addr.clone();
        self.coordinator.process.kill();
        std::thread::sleep(down_for);
        self.coordinator = start_coordinator(&self.etcd.endpoint(), &self.prefix, &addr)?;
        Ok(())
    }

    /// Starts a real `worker serve` with id `id` (CPU, one thread).
    ///
    /// # Errors
    /// Fails when the binary is missing or does not start.
    pub fn worker(&self, id: &str) -> anyhow::Result<ChildProcess> {
        start_worker(id, &self.etcd.endpoint(), &self.prefix, &self.coordinator.endpoint())
    }

    /// [`RealCluster::worker`] with its Prometheus endpoint; returns its address too.
    ///
    /// # Errors
    /// Fails when the binary is missing or does not start.
    pub fn worker_with_metrics(&self, id: &str) -> anyhow::Result<(ChildProcess, String)> {
        crate::worker::start_worker_with_metrics(
            id,
            &self.etcd.endpoint(),
            &self.prefix,
            &self.coordinator.endpoint(),
        )
    }

    /// A coordinator client.
    ///
    /// # Errors
    /// Fails when the coordinator cannot be reached.
    pub async fn client(&self) -> anyhow::Result<CoordinatorClient<Channel>> {
        Ok(tessera_control::client::connect(
            &self.coordinator.endpoint(),
            &tessera_runtime::tls::Tls::insecure(),
        )
        .await?)
    }
}
