//! The worker's Prometheus metrics (prometheus-client behind axum on
//! `worker serve --metrics-listen`): training steps, positive edges per
//! second, the time split into sample, pull, compute, push and wait, and the
//! PS calls retried, by job and model; partitions taken and fenced.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tessera_runtime::metrics_http::{spawn_router, OPENMETRICS};
use tokio_util::sync::CancellationToken;

use crate::train::run::Progress;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModelLabels {
    job: String,
    model: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabels {
    job: String,
    model: String,
    phase: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    job: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;

/// The worker's metrics; clones share them.
#[derive(Clone)]
pub struct WorkerMetrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    steps: Family<ModelLabels, Counter>,
    edges_per_sec: Family<ModelLabels, FloatGauge>,
    seconds: Family<PhaseLabels, FloatGauge>,
    retries: Family<JobLabels, Gauge>,
    partitions: Counter,
    fenced: Counter,
    /// The last global step seen per (job, model), for the step counter.
    last_step: Mutex<HashMap<ModelLabels, u64>>,
}

impl std::fmt::Debug for WorkerMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerMetrics").finish_non_exhaustive()
    }
}

impl Default for WorkerMetrics {
    fn default() -> Self {
        let steps = Family::<ModelLabels, Counter>::default();
        let edges_per_sec = Family::<ModelLabels, FloatGauge>::default();
        let seconds = Family::<PhaseLabels, FloatGauge>::default();
        let retries = Family::<JobLabels, Gauge>::default();
        let (partitions, fenced) = (Counter::default(), Counter::default());
        let mut registry = Registry::with_prefix("tessera_worker");
        registry.register("steps", "Training steps done", steps.clone());
        registry.register(
            "edges_per_second",
            "Positive edges per second over the last progress interval",
            edges_per_sec.clone(),
        );
        registry.register(
            "phase_seconds",
            "Seconds spent per phase of the training step (sample, pull, compute, push, wait) since the model started",
            seconds.clone(),
        );
        registry.register(
            "ps_retries",
            "PS calls retried after a transient failure, per job",
            retries.clone(),
        );
        registry.register("partitions", "Partitions taken (own and reassigned)", partitions.clone());
        registry.register(
            "fenced",
            "Partitions given up because a newer holder fenced this worker",
            fenced.clone(),
        );
        Self {
            inner: Arc::new(Inner {
                registry,
                steps,
                edges_per_sec,
                seconds,
                retries,
                partitions,
                fenced,
                last_step: Mutex::default(),
            }),
        }
    }
}

impl WorkerMetrics {
    /// Records a progress snapshot of `model` in `job`, and the job's PS
    /// client's retries so far.
    pub fn progress(&self, job: &str, model: &str, p: &Progress, ps_retries: u64) {
        let labels = ModelLabels { job: job.to_owned(), model: model.to_owned() };
        let step = u64::from(p.epoch) * p.steps_per_epoch + p.step;
        let done = {
            let mut last = self.inner.last_step.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let before = last.insert(labels.clone(), step).unwrap_or(0);
            step.saturating_sub(before)
        };
        self.inner.steps.get_or_create(&labels).inc_by(done);
        self.inner.edges_per_sec.get_or_create(&labels).set(p.edges_per_sec);
        let t = p.time;
        for (phase, secs) in [
            ("sample", t.sample),
            ("pull", t.pull),
            ("compute", t.compute),
            ("push", t.push),
            ("wait", t.wait),
        ] {
            let labels = PhaseLabels { job: job.to_owned(), model: model.to_owned(), phase };
            self.inner.seconds.get_or_create(&labels).set(secs);
        }
        self.inner.retries.get_or_create(&JobLabels { job: job.to_owned() }).set(ps_retries as i64);
    }

    /// Counts a partition taken.
    pub fn partition_taken(&self) {
        self.inner.partitions.inc();
    }

    /// Counts a partition given up to a newer holder.
    pub fn fenced(&self) {
        self.inner.fenced.inc();
    }

    /// Every metric in the OpenMetrics text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.inner.registry);
        out
    }
}

async fn metrics(State(m): State<WorkerMetrics>) -> axum::response::Response {
    ([(header::CONTENT_TYPE, OPENMETRICS)], m.render()).into_response()
}

/// Binds `listen` and serves `GET /metrics` until `shutdown`; returns the
/// bound address.
///
/// # Errors
/// When the address cannot be bound.
pub async fn spawn(
    listen: SocketAddr,
    metrics: WorkerMetrics,
    shutdown: CancellationToken,
) -> anyhow::Result<SocketAddr> {
    let app = axum::Router::new().route("/metrics", axum::routing::get(self::metrics)).with_state(metrics);
    spawn_router(listen, app, shutdown).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::run::TimeSplit;

    fn progress(epoch: u32, step: u64) -> Progress {
        Progress {
            epoch,
            step,
            steps_per_epoch: 10,
            losses: Default::default(),
            edges_per_sec: 1234.5,
            time: TimeSplit { sample: 1.0, pull: 2.0, compute: 3.0, push: 0.5, wait: 0.25 },
            finished: false,
            completed_epoch: None,
        }
    }

    #[test]
    fn steps_count_across_epochs_and_the_split_is_labelled() {
        let m = WorkerMetrics::default();
        m.partition_taken();
        m.progress("demo-1", "hgt", &progress(0, 4), 0);
        m.progress("demo-1", "hgt", &progress(1, 3), 2);
        m.progress("demo-1", "mf", &progress(0, 5), 2);
        let text = m.render();
        assert!(text.contains(r#"tessera_worker_steps_total{job="demo-1",model="hgt"} 13"#), "{text}");
        assert!(text.contains(r#"tessera_worker_steps_total{job="demo-1",model="mf"} 5"#), "{text}");
        assert!(
            text.contains(r#"tessera_worker_phase_seconds{job="demo-1",model="hgt",phase="compute"} 3.0"#),
            "{text}"
        );
        assert!(
            text.contains(r#"tessera_worker_edges_per_second{job="demo-1",model="hgt"} 1234.5"#),
            "{text}"
        );
        assert!(text.contains(r#"tessera_worker_ps_retries{job="demo-1"} 2"#), "{text}");
        assert!(text.contains("tessera_worker_partitions_total 1"), "{text}");
    }
}
