//! A fake worker: the real control-plane agent (registration under a lease,
//! assignment polling, progress reports, directives) around a training loop
//! that only counts steps. It lets the coordinator's scheduling and failure
//! handling be tested in seconds, without libtorch.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tessera_control::agent::{Agent, AgentConfig, Work};
use tessera_proto::coordinator::v1::{MetricsReport, ProgressReport, WorkerDirective};
use tokio_util::sync::CancellationToken;

/// Pace of a fake worker.
#[derive(Debug, Clone)]
pub struct FakeOptions {
    /// Steps per epoch on every partition.
    pub steps_per_epoch: u64,
    /// Time per step.
    pub step_time: Duration,
    /// Time between progress reports.
    pub report_every: Duration,
    /// Report this error for every assignment instead of training it.
    pub fail_with: Option<String>,
}

impl Default for FakeOptions {
    fn default() -> Self {
        Self {
            steps_per_epoch: 20,
            step_time: Duration::from_millis(10),
            report_every: Duration::from_millis(100),
            fail_with: None,
        }
    }
}

/// What a fake worker saw.
#[derive(Debug, Clone, Default)]
pub struct FakeStats {
    /// (job, partition, fencing) of each assignment taken.
    pub assignments: Vec<(String, u32, u64)>,
    /// Where each assignment resumed from (epoch, step).
    pub resumed_at: Vec<(u32, u64)>,
    /// Directives received, in order.
    pub directives: Vec<WorkerDirective>,
    /// Final evaluations reported.
    pub evaluations: u32,
}

/// A running fake worker.
#[derive(Debug)]
pub struct FakeWorker {
    /// Its id.
    pub worker_id: String,
    /// What it saw so far.
    pub stats: Arc<Mutex<FakeStats>>,
    stop: CancellationToken,
    die: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl FakeWorker {
    /// Registers and starts the loop.
    ///
    /// # Errors
    /// Fails when etcd cannot be reached.
    pub async fn start(
        worker_id: &str,
        etcd: &str,
        prefix: &str,
        coordinator: &str,
        options: FakeOptions,
    ) -> anyhow::Result<Self> {
        let config = AgentConfig {
            worker_id: worker_id.into(),
            etcd: tessera_runtime::etcd::EtcdAccess::plain([etcd]),
            tls: tessera_runtime::tls::Tls::insecure(),
            etcd_prefix: prefix.into(),
            coordinator: coordinator.into(),
            lease_ttl: Duration::from_secs(5),
            device: "fake".into(),
        };
        let stop = CancellationToken::new();
        let die = CancellationToken::new();
        let agent = Agent::start(config, stop.child_token()).await?;
        let stats = Arc::new(Mutex::new(FakeStats::default()));
        let task = tokio::spawn(run(agent, options, stats.clone(), stop.clone(), die.clone()));
        Ok(Self { worker_id: worker_id.into(), stats, stop, die, task })
    }

    /// Dies without leaving: the loop stops and the lease is no longer
    /// renewed, so the registration expires after its TTL.
    pub async fn die(self) {
        self.die.cancel();
        let _ = self.task.await;
    }

    /// Stops cleanly, revoking the lease.
    pub async fn stop(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }

    /// A copy of the stats.
    pub fn stats(&self) -> FakeStats {
        self.stats.lock().expect("stats").clone()
    }
}

async fn run(
    mut agent: Agent,
    options: FakeOptions,
    stats: Arc<Mutex<FakeStats>>,
    stop: CancellationToken,
    die: CancellationToken,
) {
    let either = CancellationToken::new();
    {
        let (either, stop, die) = (either.clone(), stop.clone(), die.clone());
        tokio::spawn(async move {
            tokio::select! { _ = stop.cancelled() => {}, _ = die.cancelled() => {} }
            either.cancel();
        });
    }
    loop {
        let work = match agent.next_assignment(&either).await {
            Ok(Some(work)) => work,
            Ok(None) => break,
            Err(e) => {
                tracing::warn!("fake worker: {e:#}");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        if !train(&mut agent, &work, &options, &stats, &either).await {
            break;
        }
    }
    if die.is_cancelled() {
        agent.abandon();
    } else if let Err(e) = agent.leave().await {
        tracing::warn!("fake worker failed to {e:#}");
    }
}

/// Trains one assignment; false when the worker is told to stop existing.
async fn train(
    agent: &mut Agent,
    work: &Work,
    options: &FakeOptions,
    stats: &Mutex<FakeStats>,
    either: &CancellationToken,
) -> bool {
    let steps = options.steps_per_epoch;
    let epochs = work.spec.train.epochs;
    let (mut epoch, mut step, mut finished) =
        work.resume.as_ref().map_or((0, 0, false), |r| (r.epoch, r.step, r.finished));
    {
        let mut s = stats.lock().expect("stats");
        s.assignments.push((work.job_id.clone(), work.partition, work.fencing));
        s.resumed_at.push((epoch, step));
    }
    if let Some(error) = &options.fail_with {
        let report = ProgressReport { error: error.clone(), ..ProgressReport::default() };
        if let Ok((directive, _)) = agent.report(work, report).await {
            stats.lock().expect("stats").directives.push(directive);
        }
        tokio::select! {
            _ = either.cancelled() => return false,
            _ = tokio::time::sleep(options.report_every) => return true,
        }
    }
    let mut paused = false;
    let mut since_report = Duration::ZERO;
    loop {
        tokio::select! {
            _ = either.cancelled() => return false,
            _ = tokio::time::sleep(options.step_time) => {}
        }
        since_report += options.step_time;
        if !finished && !paused {
            step += 1;
            if step == steps {
                if epoch + 1 == epochs {
                    finished = true;
                } else {
                    epoch += 1;
                    step = 0;
                }
            }
        }
        if since_report < options.report_every {
            continue;
        }
        since_report = Duration::ZERO;
        let done = f64::from(epoch) * steps as f64 + step as f64;
        let report = ProgressReport {
            epoch,
            step,
            steps_per_epoch: steps,
            losses: [("total".to_owned(), 1.0 / (1.0 + done))].into_iter().collect(),
            edges_per_sec: 1000.0,
            finished,
            ..ProgressReport::default()
        };
        let directive = match agent.report(work, report).await {
            Ok((directive, _)) => directive,
            Err(e) => {
                tracing::debug!("fake worker: {e:#}");
                continue;
            }
        };
        stats.lock().expect("stats").directives.push(directive);
        match directive {
            WorkerDirective::Continue | WorkerDirective::Unspecified => paused = false,
            WorkerDirective::Pause => paused = true,
            WorkerDirective::Fenced | WorkerDirective::Stop => return true,
            WorkerDirective::Evaluate => {
                let metrics = MetricsReport {
                    phase: "test".into(),
                    epoch,
                    metrics: [("ndcg@10".to_owned(), 0.25), ("recall@20".to_owned(), 0.5)]
                        .into_iter()
                        .collect(),
                    ..MetricsReport::default()
                };
                match agent.report_metrics(work, metrics).await {
                    Ok(()) => stats.lock().expect("stats").evaluations += 1,
                    Err(e) => tracing::warn!("fake worker failed to {e:#}"),
                }
            }
        }
    }
}
