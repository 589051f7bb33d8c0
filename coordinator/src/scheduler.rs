//! The scheduler: a loop that reads every live job from etcd and moves it
//! along. It prepares the partition plan (building the graph first when the
//! spec says how), waits for PS shards, assigns partitions to free workers,
//! reassigns a partition whose worker's lease has expired (bumping the
//! fencing token so the old worker is refused), and moves a job to final
//! evaluation once every partition is trained. It keeps no state of its own
//! beyond the plans in preparation, so a restarted coordinator continues.

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use tessera_graph::partition::PartitionPlan;
use tessera_proto::coordinator::v1::JobState;
use tokio_util::sync::CancellationToken;

use crate::partition::{partition, Method, PartitionOptions, DEFAULT_IMBALANCE};
use tessera_control::error::Result;
use tessera_control::store::{JobRecord, JobStatus, PlanRecord, Store};
use tessera_job::JobSpec;

/// Default period of the scheduling loop.
pub const DEFAULT_TICK: Duration = Duration::from_millis(250);

/// Moves jobs along; see the module docs.
#[derive(Debug, Clone)]
pub struct Scheduler {
    store: Store,
    preparing: Arc<Mutex<HashSet<String>>>,
}

/// Whether partition `p` of `record` has finished training.
fn finished(record: &JobRecord, p: u32) -> bool {
    record.progress.get(&p).is_some_and(|r| r.finished)
}

impl Scheduler {
    /// A scheduler over `store`.
    pub fn new(store: Store) -> Self {
        Self { store, preparing: Arc::default() }
    }

    /// Ticks every `period` until `shutdown`.
    pub async fn run(self, period: Duration, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(period) => {}
            }
            if let Err(e) = self.tick().await {
                tracing::warn!("scheduler tick failed: {e:#}");
            }
        }
    }

    /// One pass over all live jobs.
    ///
    /// # Errors
    /// Fails when etcd fails.
    pub async fn tick(&self) -> Result<()> {
        let live: HashSet<String> =
            self.store.live_workers().await?.into_iter().map(|w| w.worker_id).collect();
        let num_ps = self.store.live_ps_shards().await?.len() as u32;
        let mut jobs = Vec::new();
        for job_id in self.store.job_ids().await? {
            let record = self.store.load_job(&job_id).await?;
            if !record.status.is_terminal() {
                jobs.push(record);
            }
        }
        jobs.sort_by_key(|j| j.meta.created_ms);
        // A live worker is busy while it holds an unfinished partition, or
        // partition 0 of a job in final evaluation.
        let mut busy = HashSet::new();
        for job in &jobs {
            let evaluating = job.status.job_state() == JobState::Evaluating;
            for (&p, a) in &job.assignments {
                if live.contains(&a.worker) && (!finished(job, p) || (evaluating && p == 0)) {
                    busy.insert(a.worker.clone());
                }
            }
        }
        let mut free: Vec<String> = live.iter().filter(|w| !busy.contains(*w)).cloned().collect();
        free.sort();
        for job in jobs {
            if let Err(e) = self.step(job, &live, &mut free, num_ps).await {
                tracing::warn!("failed to schedule a job: {e:#}");
            }
        }
        Ok(())
    }

    async fn set_message(&self, job: &JobRecord, state: JobState, message: String) -> Result<()> {
        if job.status.job_state() != state || job.status.message != message {
            let status = JobStatus::new(state, message.clone());
            if self.store.set_status(&job.meta.job_id, &status).await? {
                tracing::info!(job = %job.meta.job_id, state = state.as_str_name(), %message, "job state");
            }
        }
        Ok(())
    }

    async fn fail(&self, job_id: &str, error: String) -> Result<()> {
        if self.store.set_status(job_id, &JobStatus::failed(&error)).await? {
            tracing::error!(job = %job_id, "job failed: {error}");
        }
        Ok(())
    }

    async fn step(
        &self,
        job: JobRecord,
        live: &HashSet<String>,
        free: &mut Vec<String>,
        num_ps: u32,
    ) -> Result<()> {
        let spec = match JobSpec::parse(&job.spec_toml, None) {
            Ok(spec) => spec,
            Err(e) => return self.fail(&job.meta.job_id, format!("stored spec no longer parses: {e}")).await,
        };
        let Some(plan) = job.plan.clone() else {
            self.start_preparing(&job, spec);
            return Ok(());
        };
        let state = job.status.job_state();
        let mut fencing = job.fencing;
        let partitions: Vec<u32> = match state {
            JobState::Evaluating => vec![0],
            _ => (0..plan.parts).filter(|&p| !finished(&job, p)).collect(),
        };
        if state == JobState::Pending && num_ps < spec.cluster.ps_shards {
            let message = format!("waiting for PS shards ({num_ps}/{})", spec.cluster.ps_shards);
            return self.set_message(&job, JobState::Pending, message).await;
        }
        let mut waiting = 0;
        for p in partitions {
            let current = job.assignments.get(&p);
            if current.is_some_and(|a| live.contains(&a.worker)) {
                continue;
            }
            let worker = free.pop();
            let stale = current.is_some_and(|a| !a.worker.is_empty());
            if worker.is_none() {
                waiting += 1;
                if !stale {
                    continue;
                }
            }
            let worker = worker.unwrap_or_default();
            match self.store.assign(&job.meta.job_id, p, &worker, fencing).await? {
                Some(next) => {
                    fencing = next;
                    tracing::info!(
                        job = %job.meta.job_id,
                        partition = p,
                        worker = %worker,
                        fencing,
                        previous = current.map_or("", |a| a.worker.as_str()),
                        "assigned partition"
                    );
                }
                None => return Ok(()), // the token moved: look again next tick
            }
        }
        let all_finished = (0..plan.parts).all(|p| finished(&job, p));
        match state {
            JobState::Pending | JobState::Running if all_finished => {
                self.set_message(&job, JobState::Evaluating, "final evaluation".into()).await
            }
            JobState::Pending if waiting == 0 => {
                self.set_message(&job, JobState::Running, "training".into()).await
            }
            JobState::Pending => {
                let message =
                    format!("waiting for workers ({waiting} of {} partitions unassigned)", plan.parts);
                self.set_message(&job, JobState::Pending, message).await
            }
            JobState::Running if waiting > 0 => {
                let message = format!("{waiting} partition(s) wait for a live worker");
                self.set_message(&job, JobState::Running, message).await
            }
            JobState::Running => self.set_message(&job, JobState::Running, "training".into()).await,
            _ => Ok(()),
        }
    }

    /// Builds the graph and partition plan on a blocking thread, once per job.
    fn start_preparing(&self, job: &JobRecord, spec: JobSpec) {
        let job_id = job.meta.job_id.clone();
        if !self.preparing.lock().expect("preparing set").insert(job_id.clone()) {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            let result = tokio::task::spawn_blocking(move || prepare(&spec)).await;
            let outcome = match result {
                Ok(Ok(plan)) => this.store.set_plan(&job_id, &plan).await,
                Ok(Err(e)) => this.fail(&job_id, format!("{e:#}")).await,
                Err(e) => this.fail(&job_id, format!("plan preparation panicked: {e}")).await,
            };
            if let Err(e) = outcome {
                tracing::error!(job = %job_id, "failed to record the plan: {e:#}");
            }
            this.preparing.lock().expect("preparing set").remove(&job_id);
        });
    }
}

/// Builds the graph if the spec says how and it is missing, then reuses a
/// matching partition plan or makes one.
///
/// # Errors
/// Fails when the graph is missing and cannot be built, or partitioning fails.
pub fn prepare(spec: &JobSpec) -> anyhow::Result<PlanRecord> {
    let graph = &spec.dataset.graph;
    if !graph.join(tessera_graph::store::MANIFEST).is_file() {
        let Some(build) = &spec.dataset.build else {
            anyhow::bail!("graph {} does not exist and the spec has no dataset.build", graph.display());
        };
        tracing::info!(graph = %graph.display(), build = %build.display(), "building the graph");
        let build_spec = tessera_graph::BuildSpec::from_file(build)
            .with_context(|| format!("read build spec {}", build.display()))?;
        let built = tessera_graph::build(&build_spec, false).context("build graph")?;
        tessera_graph::store::write(&built, graph)
            .with_context(|| format!("write graph {}", graph.display()))?;
    }
    let manifest = tessera_graph::store::read_manifest(graph)?;
    spec.check_validation(manifest.split.valid_pairs)
        .with_context(|| format!("graph {}", graph.display()))?;
    let dir = spec.partitions_dir();
    let parts = spec.cluster.workers;
    if plan_matches(&dir, graph, parts, spec.halo_hops()) {
        tracing::info!(plan = %dir.display(), parts, "reusing the partition plan");
        return Ok(PlanRecord { dir, parts });
    }
    let options = PartitionOptions {
        parts,
        method: Method::Metis,
        halo_hops: spec.halo_hops(),
        seed: spec.seed,
        imbalance: DEFAULT_IMBALANCE,
        export_metis: None,
    };
    let plan = partition(graph, &dir, &options)?;
    tracing::info!(
        plan = %dir.display(),
        parts,
        edge_cut = plan.quality.edge_cut,
        replication = plan.quality.replication(),
        "partitioned the graph"
    );
    Ok(PlanRecord { dir, parts })
}

fn plan_matches(dir: &Path, graph: &Path, parts: u32, halo_hops: u32) -> bool {
    let Ok(plan) = PartitionPlan::load(dir) else { return false };
    // A graph rebuilt after the plan was made needs a new plan.
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let fresh =
        match (modified(&dir.join("plan.json")), modified(&graph.join(tessera_graph::store::MANIFEST))) {
            (Some(plan_time), Some(graph_time)) => plan_time >= graph_time,
            _ => false,
        };
    let graph = std::fs::canonicalize(graph).unwrap_or_else(|_| graph.to_path_buf());
    fresh && plan.parts == parts && plan.halo_hops == halo_hops && plan.graph == graph
}
