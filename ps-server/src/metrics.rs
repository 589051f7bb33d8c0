//! Prometheus metrics of a shard: rows pulled and pushed per table, payload
//! bytes in and out (raw and on the wire, hence the compression ratio),
//! request latency histograms, SSP wait time and worker clock spread,
//! encoded by prometheus-client and served on `GET /metrics` by axum. Every
//! series carries the shard's `shard` label.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::shard::Shard;
use crate::staleness::Staleness;

/// Latency bucket bounds in seconds.
pub const BUCKETS: [f64; 12] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RpcLabels {
    rpc: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TableLabels {
    table: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DirectionLabels {
    direction: &'static str,
}

fn buckets() -> histogram::Histogram {
    histogram::Histogram::new(BUCKETS)
}

type RequestFamily = Family<RpcLabels, histogram::Histogram, fn() -> histogram::Histogram>;

/// One latency histogram: a series of `tessera_ps_request_seconds` (by
/// RPC), or the SSP wait.
#[derive(Debug, Clone)]
pub struct Histogram {
    series: histogram::Histogram,
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&self, elapsed: Duration) {
        self.series.observe(elapsed.as_secs_f64());
    }
}

/// Latency histograms per RPC.
#[derive(Debug)]
pub struct Latencies {
    requests: RequestFamily,
    /// Pull.
    pub pull: Histogram,
    /// Push.
    pub push: Histogram,
    /// Dense pull and push.
    pub dense: Histogram,
    /// Time pulls waited for SSP.
    pub ssp_wait: Histogram,
}

impl Default for Latencies {
    fn default() -> Self {
        let requests = RequestFamily::new_with_constructor(buckets);
        let series = |rpc| Histogram { series: requests.get_or_create(&RpcLabels { rpc }).clone() };
        let (pull, push, dense) = (series("pull"), series("push"), series("dense"));
        Self { pull, push, dense, ssp_wait: Histogram { series: buckets() }, requests }
    }
}

/// Every metric in the OpenMetrics text format.
pub fn render(shard: &Shard, latencies: &Latencies, staleness: &Staleness) -> String {
    let stats = shard.stats();
    let (id, _) = shard.identity();
    let mut root = Registry::default();
    let registry = root.sub_registry_with_label(("shard".into(), id.to_string().into()));
    for (name, help, value) in [
        ("tessera_ps_bytes_in_wire", "Gradient payload bytes received as sent", stats.bytes_in_wire),
        (
            "tessera_ps_bytes_in_raw",
            "Gradient payload bytes received after decompression",
            stats.bytes_in_raw,
        ),
        ("tessera_ps_bytes_out_wire", "Row payload bytes sent after compression", stats.bytes_out_wire),
        ("tessera_ps_bytes_out_raw", "Row payload bytes sent before compression", stats.bytes_out_raw),
        ("tessera_ps_updates", "Pushes applied", stats.num_updates),
    ] {
        let counter = Counter::<u64>::default();
        counter.inc_by(value);
        registry.register(name, help, counter);
    }
    let (pulled, pushed) =
        (Family::<TableLabels, Counter>::default(), Family::<TableLabels, Counter>::default());
    let rows = Family::<TableLabels, Gauge>::default();
    for t in &stats.tables {
        let l = TableLabels { table: t.name.clone() };
        pulled.get_or_create(&l).inc_by(t.rows_pulled);
        pushed.get_or_create(&l).inc_by(t.rows_pushed);
        rows.get_or_create(&l).set(t.num_rows as i64);
    }
    registry.register("tessera_ps_rows_pulled", "Rows pulled per table", pulled);
    registry.register("tessera_ps_rows_pushed", "Rows pushed per table", pushed);
    registry.register("tessera_ps_rows", "Rows held per table", rows);
    let ratio = |wire: u64, raw: u64| if raw == 0 { 1.0 } else { wire as f64 / raw as f64 };
    let compression = Family::<DirectionLabels, Gauge<f64, AtomicU64>>::default();
    compression
        .get_or_create(&DirectionLabels { direction: "in" })
        .set(ratio(stats.bytes_in_wire, stats.bytes_in_raw));
    compression
        .get_or_create(&DirectionLabels { direction: "out" })
        .set(ratio(stats.bytes_out_wire, stats.bytes_out_raw));
    registry.register("tessera_ps_compression_ratio", "Wire bytes over raw bytes by direction", compression);
    let spread = Gauge::<i64>::default();
    spread.set(staleness.range().map_or(0, |(lo, hi)| (hi - lo) as i64));
    registry.register(
        "tessera_ps_clock_spread",
        "Clock ticks between the fastest and slowest worker",
        spread,
    );
    registry.register("tessera_ps_request_seconds", "Request latency by RPC", latencies.requests.clone());
    registry.register(
        "tessera_ps_ssp_wait_seconds",
        "Time pulls waited for SSP",
        latencies.ssp_wait.series.clone(),
    );
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, &root);
    out
}

/// What the metrics route needs.
#[derive(Clone)]
struct Sources {
    shard: Arc<Shard>,
    latencies: Arc<Latencies>,
    staleness: Arc<Staleness>,
}

async fn metrics(State(s): State<Sources>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, tessera_runtime::metrics_http::OPENMETRICS)],
        render(&s.shard, &s.latencies, &s.staleness),
    )
}

/// Serves `GET /metrics` on `listener` until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    shard: Arc<Shard>,
    latencies: Arc<Latencies>,
    staleness: Arc<Staleness>,
    shutdown: CancellationToken,
) {
    let app = axum::Router::new().route("/metrics", axum::routing::get(metrics)).with_state(Sources {
        shard,
        latencies,
        staleness,
    });
    tessera_runtime::metrics_http::serve_router(listener, app, shutdown).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_land_in_their_series_under_the_shard_label() {
        let latencies = Latencies::default();
        latencies.push.observe(Duration::from_micros(700));
        latencies.push.observe(Duration::from_millis(30));
        latencies.pull.observe(Duration::from_millis(3));
        let mut root = Registry::default();
        root.sub_registry_with_label(("shard".into(), "4".into())).register(
            "tessera_ps_request_seconds",
            "Request latency by RPC",
            latencies.requests.clone(),
        );
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &root).unwrap();
        for needle in [
            "tessera_ps_request_seconds_count{shard=\"4\",rpc=\"push\"} 2",
            "tessera_ps_request_seconds_bucket{shard=\"4\",le=\"0.001\",rpc=\"push\"} 1",
            "tessera_ps_request_seconds_count{shard=\"4\",rpc=\"pull\"} 1",
            "tessera_ps_request_seconds_count{shard=\"4\",rpc=\"dense\"} 0",
        ] {
            assert!(text.contains(needle), "{needle} not in\n{text}");
        }
    }
}
