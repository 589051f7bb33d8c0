//! The worker's side of the control plane: register in etcd under a lease,
//! wait for a partition assignment, report progress and metrics to the
//! coordinator and act on its directives. The real worker and the tests'
//! fake workers both use it, so the protocol has one implementation.

use std::time::Duration;

use anyhow::Context as _;
use tessera_job::JobSpec;
use tessera_proto::coordinator::v1::coordinator_client::CoordinatorClient;
use tessera_proto::coordinator::v1::{JobState, MetricsReport, ProgressReport, WorkerDirective};
use tessera_runtime::{register_key, Registration};
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

use crate::client::connect;
use crate::keys::WorkerMember;
use crate::store::{JobRecord, PlanRecord, Store};

/// How often an idle worker looks for an assignment.
pub const POLL_PERIOD: Duration = Duration::from_millis(200);

/// What an agent needs.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// This worker's id (unique in the cluster).
    pub worker_id: String,
    /// How to reach etcd.
    pub etcd: tessera_runtime::etcd::EtcdAccess,
    /// Transport security of the coordinator connection.
    pub tls: tessera_runtime::tls::Tls,
    /// etcd key prefix.
    pub etcd_prefix: String,
    /// Coordinator endpoint.
    pub coordinator: String,
    /// Lease TTL of the registration.
    pub lease_ttl: Duration,
    /// Device description published in etcd.
    pub device: String,
}

/// One partition to train.
#[derive(Debug, Clone)]
pub struct Work {
    /// Job id.
    pub job_id: String,
    /// Partition index.
    pub partition: u32,
    /// Fencing token of the assignment; sent with every report.
    pub fencing: u64,
    /// The job's fencing token when the work was picked up (sent with PS
    /// pushes; later tokens arrive with progress acks).
    pub job_fencing: u64,
    /// The job spec.
    pub spec: JobSpec,
    /// The partition plan.
    pub plan: PlanRecord,
    /// The partition's last progress, from this or an earlier worker.
    pub resume: Option<ProgressReport>,
    /// Whether the job is in final evaluation (this worker evaluates).
    pub evaluate: bool,
}

/// A registered worker.
pub struct Agent {
    config: AgentConfig,
    store: Store,
    client: Option<CoordinatorClient<Channel>>,
    registration: Registration,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent").field("worker_id", &self.config.worker_id).finish_non_exhaustive()
    }
}

fn holds(record: &JobRecord, worker: &str) -> Option<(u32, u64, bool)> {
    let evaluating = record.status.job_state() == JobState::Evaluating;
    record.assignments.iter().find_map(|(&p, a)| {
        let finished = record.progress.get(&p).is_some_and(|r| r.finished);
        let active = !finished || (evaluating && p == 0);
        (a.worker == worker && active).then_some((p, a.fencing, evaluating && p == 0))
    })
}

impl Agent {
    /// Registers the worker.
    ///
    /// # Errors
    /// Fails when etcd cannot be reached.
    pub async fn start(config: AgentConfig, shutdown: CancellationToken) -> anyhow::Result<Self> {
        let store = Store::connect(&config.etcd, &config.etcd_prefix)
            .await
            .with_context(|| format!("connect to etcd at {}", config.etcd.endpoints_text()))?;
        let member = WorkerMember {
            worker_id: config.worker_id.clone(),
            host: std::env::var("HOSTNAME").unwrap_or_default(),
            pid: std::process::id(),
            device: config.device.clone(),
        };
        let value = serde_json::to_string(&member).context("encode worker member")?;
        let registration = register_key(
            &config.etcd,
            &store.worker_key(&config.worker_id),
            value,
            config.lease_ttl,
            shutdown,
        )
        .await
        .context("register the worker in etcd")?;
        tracing::info!(worker = %config.worker_id, "worker registered");
        Ok(Self { config, store, client: None, registration })
    }

    /// This worker's id.
    pub fn worker_id(&self) -> &str {
        &self.config.worker_id
    }

    /// Waits for a partition of a live job assigned to this worker; `None`
    /// when `shutdown` fires first.
    ///
    /// # Errors
    /// Fails when the assigned job's spec no longer parses.
    pub async fn next_assignment(&self, shutdown: &CancellationToken) -> anyhow::Result<Option<Work>> {
        loop {
            match self.find_assignment().await {
                Ok(Some(work)) => return Ok(Some(work)),
                Ok(None) => {}
                Err(e) => tracing::warn!("failed to look for an assignment: {e:#}"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(None),
                _ = tokio::time::sleep(POLL_PERIOD) => {}
            }
        }
    }

    async fn find_assignment(&self) -> anyhow::Result<Option<Work>> {
        for job_id in self.store.job_ids().await? {
            let record = self.store.load_job(&job_id).await?;
            if record.status.is_terminal() {
                continue;
            }
            let (Some((partition, fencing, evaluate)), Some(plan)) =
                (holds(&record, &self.config.worker_id), record.plan.clone())
            else {
                continue;
            };
            let spec = JobSpec::parse(&record.spec_toml, None)
                .with_context(|| format!("parse the spec of {job_id}"))?;
            let resume = record.progress.get(&partition).cloned();
            return Ok(Some(Work {
                job_id,
                partition,
                fencing,
                job_fencing: record.fencing,
                spec,
                plan,
                resume,
                evaluate,
            }));
        }
        Ok(None)
    }

    async fn client(&mut self) -> anyhow::Result<&mut CoordinatorClient<Channel>> {
        if self.client.is_none() {
            self.client = Some(connect(&self.config.coordinator, &self.config.tls).await?);
        }
        Ok(self.client.as_mut().expect("client just set"))
    }

    /// Sends progress; returns the coordinator's directive and the job's
    /// current fencing token (to send with PS pushes). Connection errors drop
    /// the channel so the next call reconnects.
    ///
    /// # Errors
    /// Fails when the coordinator is unreachable or refuses the report.
    pub async fn report(
        &mut self,
        work: &Work,
        mut report: ProgressReport,
    ) -> anyhow::Result<(WorkerDirective, u64)> {
        report.job_id = work.job_id.clone();
        report.worker_id = self.config.worker_id.clone();
        report.partition = work.partition;
        report.fencing_token = work.fencing;
        let result = self.client().await?.report_progress(report).await;
        match result {
            Ok(ack) => {
                let ack = ack.into_inner();
                Ok((
                    WorkerDirective::try_from(ack.directive).unwrap_or(WorkerDirective::Continue),
                    ack.fencing_token,
                ))
            }
            Err(status) => {
                self.client = None;
                Err(anyhow::anyhow!("report progress: {}", status.message()))
            }
        }
    }

    /// Sends evaluation metrics.
    ///
    /// # Errors
    /// Fails when the coordinator is unreachable or refuses the report.
    pub async fn report_metrics(&mut self, work: &Work, mut report: MetricsReport) -> anyhow::Result<()> {
        report.job_id = work.job_id.clone();
        report.worker_id = self.config.worker_id.clone();
        let result = self.client().await?.report_metrics(report).await;
        if let Err(status) = result {
            self.client = None;
            anyhow::bail!("report metrics: {}", status.message());
        }
        Ok(())
    }

    /// Leaves the cluster cleanly: revokes the lease.
    ///
    /// # Errors
    /// Fails when etcd refuses the revoke.
    pub async fn leave(self) -> anyhow::Result<()> {
        self.registration.revoke().await
    }

    /// Stops renewing the lease without revoking it, as if the process died:
    /// the registration expires after its TTL.
    pub fn abandon(self) {
        self.registration.abandon();
    }
}
