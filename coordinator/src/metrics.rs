//! The coordinator's Prometheus metrics (prometheus-client behind axum on
//! `--metrics-listen`), read from etcd at each scrape, so any coordinator
//! replica reports the same figures: jobs by state, each unfinished job's
//! fencing token (bumped on every reassignment), and the live workers and
//! PS shards.

use std::net::SocketAddr;

use anyhow::Context as _;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tessera_control::store::Store;
use tessera_proto::coordinator::v1::JobState;
use tessera_runtime::metrics_http::{spawn_router, OPENMETRICS};
use tokio_util::sync::CancellationToken;

use crate::cli::jobs::state_name;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    job: String,
}

/// Every metric in the OpenMetrics text format.
///
/// # Errors
/// When etcd cannot be read.
pub async fn render(store: &Store) -> anyhow::Result<String> {
    let jobs = Family::<StateLabels, Gauge>::default();
    for state in [
        JobState::Pending,
        JobState::Running,
        JobState::Evaluating,
        JobState::Succeeded,
        JobState::Failed,
        JobState::Cancelled,
    ] {
        jobs.get_or_create(&StateLabels { state: state_name(state as i32).to_owned() }).set(0);
    }
    let fencing = Family::<JobLabels, Gauge>::default();
    for id in store.job_ids().await.context("list jobs")? {
        let Ok(job) = store.load_job(&id).await else { continue }; // deleted meanwhile
        let state = state_name(job.status.job_state() as i32).to_owned();
        jobs.get_or_create(&StateLabels { state }).inc();
        if !job.status.is_terminal() {
            fencing.get_or_create(&JobLabels { job: id }).set(job.fencing as i64);
        }
    }
    let workers = Gauge::<i64>::default();
    workers.set(store.live_workers().await.context("list workers")?.len() as i64);
    let shards = Gauge::<i64>::default();
    shards.set(store.live_ps_shards().await.context("list PS shards")?.len() as i64);
    let mut registry = Registry::with_prefix("tessera_coordinator");
    registry.register("jobs", "Jobs by state", jobs);
    registry.register(
        "job_fencing_token",
        "Fencing token of each unfinished job (one bump per reassignment)",
        fencing,
    );
    registry.register("live_workers", "Workers holding a lease", workers);
    registry.register("live_ps_shards", "PS shards holding a lease", shards);
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
    Ok(out)
}

async fn metrics(State(store): State<Store>) -> axum::response::Response {
    match render(&store).await {
        Ok(text) => ([(header::CONTENT_TYPE, OPENMETRICS)], text).into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("{e:#}\n")).into_response(),
    }
}

/// Binds `listen` and serves `GET /metrics` until `shutdown`; returns the
/// bound address.
///
/// # Errors
/// When the address cannot be bound.
pub async fn spawn(
    listen: SocketAddr,
    store: Store,
    shutdown: CancellationToken,
) -> anyhow::Result<SocketAddr> {
    let app = axum::Router::new().route("/metrics", axum::routing::get(metrics)).with_state(store);
    spawn_router(listen, app, shutdown).await
}
