//! The coordinator gRPC service. `CoordinatorCore` holds the logic as plain
//! async methods (tests call them directly); `CoordinatorService` only
//! converts types and maps errors to status codes.

use std::pin::Pin;
use tessera_runtime::auth::{Refusal, Token};

use futures::Stream;
use tessera_proto::coordinator::v1::coordinator_server::Coordinator;
use tessera_proto::coordinator::v1::{
    CancelJobRequest, CancelJobResponse, GetJobRequest, Job, JobEvent, JobState, ListJobsRequest,
    ListJobsResponse, MetricsAck, MetricsReport, ProgressAck, ProgressReport, SubmitJobRequest,
    SubmitJobResponse, WatchJobRequest, WorkerDirective,
};
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use crate::error::{CoordinatorError, Result};
use crate::view::{to_proto, to_summary};
use tessera_control::store::{check_job_id, now_ms, JobMeta, JobStatus, Store};
use tessera_control::StoreError;
use tessera_job::JobSpec;

/// The coordinator's logic behind the service.
#[derive(Debug, Clone)]
pub struct CoordinatorCore {
    store: Store,
    shutdown: CancellationToken,
}

fn new_job_id(name: &str) -> String {
    use rand::Rng as _;
    let suffix: u32 = rand::rng().random_range(0..0x10000);
    let stem: String = name.chars().map(|c| if c == '_' { '-' } else { c }).take(40).collect();
    format!("{stem}-{}-{suffix:04x}", now_ms() / 1000)
}

impl CoordinatorCore {
    /// A core over `store`; watches end when `shutdown` is cancelled.
    pub fn new(store: Store, shutdown: CancellationToken) -> Self {
        Self { store, shutdown }
    }

    /// Validates the spec and creates the job.
    ///
    /// # Errors
    /// Fails on an invalid spec or id, an existing id, or etcd errors.
    pub async fn submit(&self, spec_toml: &str, job_id: &str) -> Result<String> {
        let spec = JobSpec::parse(spec_toml, None)?;
        let job_id = if job_id.is_empty() { new_job_id(&spec.name) } else { job_id.to_owned() };
        check_job_id(&job_id)?;
        let meta =
            JobMeta { job_id: job_id.clone(), model: spec.model.kind.as_str().into(), created_ms: now_ms() };
        self.store.create_job(&meta, spec_toml).await?;
        tracing::info!(job = %job_id, model = %meta.model, "job submitted");
        Ok(job_id)
    }

    /// One job.
    ///
    /// # Errors
    /// Fails when the job does not exist or etcd fails.
    pub async fn get(&self, job_id: &str) -> Result<Job> {
        Ok(to_proto(&self.store.load_job(job_id).await?))
    }

    /// All jobs, newest first.
    ///
    /// # Errors
    /// Fails when etcd fails.
    pub async fn list(&self) -> Result<ListJobsResponse> {
        let mut jobs = Vec::new();
        for job_id in self.store.job_ids().await? {
            let record = self.store.load_job(&job_id).await?;
            let epochs = JobSpec::parse(&record.spec_toml, None).map_or(1, |s| s.total_epochs());
            jobs.push(to_summary(&record, epochs));
        }
        jobs.sort_by_key(|j| std::cmp::Reverse(j.created_unix_ms));
        Ok(ListJobsResponse { jobs })
    }

    /// Cancels a job that has not ended; returns the state after the call.
    ///
    /// # Errors
    /// Fails when the job does not exist or etcd fails.
    pub async fn cancel(&self, job_id: &str) -> Result<JobState> {
        let record = self.store.load_job(job_id).await?;
        if record.status.is_terminal() {
            return Ok(record.status.job_state());
        }
        if !self.store.set_status(job_id, &JobStatus::new(JobState::Cancelled, "cancelled")).await? {
            // It ended meanwhile: report the state it ended in.
            return Ok(self.store.load_job(job_id).await?.status.job_state());
        }
        tracing::info!(job = %job_id, "job cancelled");
        Ok(JobState::Cancelled)
    }

    /// Records a worker's progress and tells it what to do next.
    ///
    /// # Errors
    /// Fails when the job does not exist or etcd fails.
    pub async fn report_progress(&self, report: ProgressReport) -> Result<ProgressAck> {
        let record = self.store.load_job(&report.job_id).await?;
        let ack = |directive: WorkerDirective| ProgressAck {
            directive: directive as i32,
            fencing_token: record.fencing,
        };
        if record.status.is_terminal() {
            return Ok(ack(WorkerDirective::Stop));
        }
        let holds = record
            .assignments
            .get(&report.partition)
            .is_some_and(|a| a.worker == report.worker_id && a.fencing == report.fencing_token);
        if !holds {
            tracing::warn!(
                job = %report.job_id,
                worker = %report.worker_id,
                partition = report.partition,
                fencing = report.fencing_token,
                "fenced a stale worker"
            );
            return Ok(ack(WorkerDirective::Fenced));
        }
        if !report.error.is_empty() {
            let error = format!("partition {} on {}: {}", report.partition, report.worker_id, report.error);
            if self.store.set_status(&report.job_id, &JobStatus::failed(&error)).await? {
                tracing::error!(job = %report.job_id, "job failed: {error}");
            }
            return Ok(ack(WorkerDirective::Stop));
        }
        let mut report = report;
        if report.unix_ms == 0 {
            report.unix_ms = now_ms();
        }
        match record.progress.get(&report.partition) {
            Some(previous) => crate::carry::carry_lost_counts(previous, &mut report),
            None => {
                // Only the coordinator sets the carried counts.
                report.carried_updates_lost = 0;
                report.carried_rows_lost = 0;
                report.carried_ps_restarts = 0;
            }
        }
        self.store.put_progress(&report.job_id, &report).await?;
        if record.status.job_state() == JobState::Evaluating && report.partition == 0 {
            return Ok(ack(WorkerDirective::Evaluate));
        }
        let wanted = JobSpec::parse(&record.spec_toml, None).map_or(0, |s| s.cluster.ps_shards) as usize;
        if self.store.live_ps_shards().await?.len() < wanted {
            return Ok(ack(WorkerDirective::Pause));
        }
        Ok(ack(WorkerDirective::Continue))
    }

    /// Stores evaluation metrics; test metrics during final evaluation end
    /// the job.
    ///
    /// # Errors
    /// Fails when the job does not exist, a value is not finite, or etcd fails.
    pub async fn report_metrics(&self, mut report: MetricsReport) -> Result<()> {
        let record = self.store.load_job(&report.job_id).await?;
        if let Some((name, value)) = report.metrics.iter().find(|(_, v)| !v.is_finite()) {
            return Err(CoordinatorError::InvalidArgument(format!(
                "metric {name} is {value}, not a finite number"
            )));
        }
        if report.unix_ms == 0 {
            report.unix_ms = now_ms();
        }
        self.store.add_metrics(&report.job_id, &report).await?;
        if report.phase == "test"
            && record.status.job_state() == JobState::Evaluating
            && self.store.set_status(&report.job_id, &JobStatus::new(JobState::Succeeded, "done")).await?
        {
            tracing::info!(job = %report.job_id, "job succeeded");
        }
        Ok(())
    }

    /// A snapshot of the job, then the job after each change of its state,
    /// plan, assignments or metrics, read at that change's etcd revision so
    /// that no phase is missed however briefly it lasted, and after the last
    /// of each batch of progress reports. It ends after the job reaches a
    /// terminal state; an etcd failure ends it with an error (the CLI
    /// reconnects).
    ///
    /// # Errors
    /// Fails when the job does not exist or etcd fails.
    pub async fn watch(&self, job_id: &str) -> Result<tokio::sync::mpsc::Receiver<Result<Job>>> {
        let (first, revision) = self.store.load_job_at(job_id, None).await?;
        let mut changes = self.store.watch_job(job_id, revision + 1).await?;
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let this = self.clone();
        let job_id = job_id.to_owned();
        tokio::spawn(async move {
            let mut last = to_proto(&first);
            if tx.send(Ok(last.clone())).await.is_err() {
                return;
            }
            while !is_terminal(&last) {
                let response = tokio::select! {
                    _ = this.shutdown.cancelled() => return,
                    _ = tx.closed() => return,
                    response = changes.message() => response,
                };
                let response = match response {
                    Ok(Some(response)) if !response.canceled() => response,
                    Ok(Some(response)) => {
                        let reason = format!("etcd cancelled the watch: {}", response.cancel_reason());
                        let _ = tx.send(Err(watch_error(reason))).await;
                        return;
                    }
                    Ok(None) => {
                        let _ = tx.send(Err(watch_error("etcd ended the watch".into()))).await;
                        return;
                    }
                    Err(e) => {
                        let _ = tx.send(Err(StoreError::from(e).into())).await;
                        return;
                    }
                };
                for revision in this.revisions_to_read(&job_id, response.events()) {
                    match this.store.load_job_at(&job_id, Some(revision)).await {
                        Ok((record, _)) => {
                            let job = to_proto(&record);
                            if job != last {
                                last = job.clone();
                                if tx.send(Ok(job)).await.is_err() {
                                    return;
                                }
                            }
                            if is_terminal(&last) {
                                return;
                            }
                        }
                        Err(e) => {
                            let _ = tx.send(Err(e.into())).await;
                            return;
                        }
                    }
                }
            }
        });
        Ok(rx)
    }

    /// The revisions at which a watch reads the job after one etcd watch
    /// response: every change other than a progress report, then the last
    /// change, in order and without repeats.
    fn revisions_to_read(&self, job_id: &str, events: &[etcd_client::Event]) -> Vec<i64> {
        let mut revisions: Vec<i64> = Vec::new();
        let changed = events.iter().filter_map(|e| e.kv()).collect::<Vec<_>>();
        for (i, kv) in changed.iter().enumerate() {
            let is_last = i + 1 == changed.len();
            if (is_last || !self.store.is_progress_key(job_id, kv.key()))
                && revisions.last() != Some(&kv.mod_revision())
            {
                revisions.push(kv.mod_revision());
            }
        }
        revisions
    }
}

fn watch_error(reason: String) -> CoordinatorError {
    StoreError::Etcd(etcd_client::Error::WatchError(reason)).into()
}

/// Whether a job has ended.
pub fn is_terminal(job: &Job) -> bool {
    matches!(
        JobState::try_from(job.state).unwrap_or(JobState::Unspecified),
        JobState::Succeeded | JobState::Failed | JobState::Cancelled
    )
}

/// The tonic adapter.
#[derive(Debug, Clone)]
pub struct CoordinatorService {
    core: CoordinatorCore,
    token: Option<Token>,
}

impl CoordinatorService {
    /// Wraps a core; with `token`, SubmitJob and CancelJob need it as a bearer token.
    pub fn new(core: CoordinatorCore, token: Option<Token>) -> Self {
        Self { core, token }
    }

    /// Refuses a job-changing call (`what`) without the configured token.
    fn authorize<T>(&self, request: &Request<T>, what: &str) -> Result<(), Status> {
        let Some(token) = &self.token else { return Ok(()) };
        let header = request.metadata().get("authorization").and_then(|v| v.to_str().ok());
        token.check(header).map_err(|refusal| match refusal {
            Refusal::Missing => Status::unauthenticated(format!(
                "{what} needs a bearer token: give the CLI --token-file (env TESSERA_TOKEN_FILE)"
            )),
            Refusal::Wrong => {
                Status::permission_denied(format!("{what}: the bearer token is not the coordinator's"))
            }
        })
    }
}

type JobEvents = Pin<Box<dyn Stream<Item = Result<JobEvent, Status>> + Send>>;

#[tonic::async_trait]
impl Coordinator for CoordinatorService {
    async fn submit_job(
        &self,
        request: Request<SubmitJobRequest>,
    ) -> Result<Response<SubmitJobResponse>, Status> {
        self.authorize(&request, "submit")?;
        let r = request.into_inner();
        let job_id = self.core.submit(&r.spec_toml, &r.job_id).await?;
        Ok(Response::new(SubmitJobResponse { job_id }))
    }

    async fn get_job(&self, request: Request<GetJobRequest>) -> Result<Response<Job>, Status> {
        Ok(Response::new(self.core.get(&request.into_inner().job_id).await?))
    }

    async fn list_jobs(
        &self,
        _request: Request<ListJobsRequest>,
    ) -> Result<Response<ListJobsResponse>, Status> {
        Ok(Response::new(self.core.list().await?))
    }

    async fn cancel_job(
        &self,
        request: Request<CancelJobRequest>,
    ) -> Result<Response<CancelJobResponse>, Status> {
        self.authorize(&request, "cancel")?;
        let state = self.core.cancel(&request.into_inner().job_id).await?;
        Ok(Response::new(CancelJobResponse { state: state as i32 }))
    }

    type WatchJobStream = JobEvents;

    async fn watch_job(&self, request: Request<WatchJobRequest>) -> Result<Response<JobEvents>, Status> {
        let rx = self.core.watch(&request.into_inner().job_id).await?;
        let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
        let stream = futures::StreamExt::map(stream, |item| {
            item.map(|job| JobEvent { job: Some(job) }).map_err(Status::from)
        });
        Ok(Response::new(Box::pin(stream)))
    }

    async fn report_progress(
        &self,
        request: Request<ProgressReport>,
    ) -> Result<Response<ProgressAck>, Status> {
        Ok(Response::new(self.core.report_progress(request.into_inner()).await?))
    }

    async fn report_metrics(&self, request: Request<MetricsReport>) -> Result<Response<MetricsAck>, Status> {
        self.core.report_metrics(request.into_inner()).await?;
        Ok(Response::new(MetricsAck {}))
    }
}
