//! Prometheus metrics of a shard: rows pulled and pushed per table, payload
//! bytes in and out (raw and on the wire, hence the compression ratio),
//! request latency histograms, SSP wait time and worker clock spread, served
//! as text on `GET /metrics`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::shard::Shard;
use crate::staleness::Staleness;

/// Latency bucket bounds in seconds.
pub const BUCKETS: [f64; 12] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];

/// A fixed-bucket latency histogram.
#[derive(Debug, Default)]
pub struct Histogram {
    counts: [AtomicU64; BUCKETS.len() + 1],
    sum_micros: AtomicU64,
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        let at = BUCKETS.iter().position(|&b| secs <= b).unwrap_or(BUCKETS.len());
        self.counts[at].fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        for (i, bound) in BUCKETS.iter().map(|b| b.to_string()).chain(["+Inf".to_owned()]).enumerate() {
            cumulative += self.counts[i].load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{bound}\"}} {cumulative}");
        }
        let _ =
            writeln!(out, "{name}_sum{{{labels}}} {}", self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6);
        let _ = writeln!(out, "{name}_count{{{labels}}} {cumulative}");
    }
}

/// Latency histograms per RPC.
#[derive(Debug, Default)]
pub struct Latencies {
    /// Pull.
    pub pull: Histogram,
    /// Push.
    pub push: Histogram,
    /// Dense pull and push.
    pub dense: Histogram,
    /// Time pulls waited for SSP.
    pub ssp_wait: Histogram,
}

/// Renders every metric in Prometheus text format.
pub fn render(shard: &Shard, latencies: &Latencies, staleness: &Staleness) -> String {
    let stats = shard.stats();
    let (id, _) = shard.identity();
    let mut out = String::new();
    let l = format!("shard=\"{id}\"");
    for (name, help, value) in [
        ("tessera_ps_bytes_in_wire_total", "gradient payload bytes received as sent", stats.bytes_in_wire),
        (
            "tessera_ps_bytes_in_raw_total",
            "gradient payload bytes received after decompression",
            stats.bytes_in_raw,
        ),
        ("tessera_ps_bytes_out_wire_total", "row payload bytes sent after compression", stats.bytes_out_wire),
        ("tessera_ps_bytes_out_raw_total", "row payload bytes sent before compression", stats.bytes_out_raw),
        ("tessera_ps_updates_total", "pushes applied", stats.num_updates),
    ] {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name}{{{l}}} {value}");
    }
    let _ = writeln!(out, "# TYPE tessera_ps_rows_pulled_total counter\n# TYPE tessera_ps_rows_pushed_total counter\n# TYPE tessera_ps_rows gauge");
    for t in &stats.tables {
        let tl = format!("{l},table=\"{}\"", t.name);
        let _ = writeln!(out, "tessera_ps_rows_pulled_total{{{tl}}} {}", t.rows_pulled);
        let _ = writeln!(out, "tessera_ps_rows_pushed_total{{{tl}}} {}", t.rows_pushed);
        let _ = writeln!(out, "tessera_ps_rows{{{tl}}} {}", t.num_rows);
    }
    let ratio = |wire: u64, raw: u64| if raw == 0 { 1.0 } else { wire as f64 / raw as f64 };
    let _ = writeln!(
        out,
        "# TYPE tessera_ps_compression_ratio gauge\ntessera_ps_compression_ratio{{{l},direction=\"in\"}} {}\ntessera_ps_compression_ratio{{{l},direction=\"out\"}} {}",
        ratio(stats.bytes_in_wire, stats.bytes_in_raw),
        ratio(stats.bytes_out_wire, stats.bytes_out_raw)
    );
    let spread = staleness.range().map_or(0, |(lo, hi)| hi - lo);
    let _ = writeln!(out, "# TYPE tessera_ps_clock_spread gauge\ntessera_ps_clock_spread{{{l}}} {spread}");
    let _ = writeln!(out, "# TYPE tessera_ps_request_seconds histogram");
    for (rpc, h) in [("pull", &latencies.pull), ("push", &latencies.push), ("dense", &latencies.dense)] {
        h.render(&mut out, "tessera_ps_request_seconds", &format!("{l},rpc=\"{rpc}\""));
    }
    let _ = writeln!(out, "# TYPE tessera_ps_ssp_wait_seconds histogram");
    latencies.ssp_wait.render(&mut out, "tessera_ps_ssp_wait_seconds", &l);
    out
}

/// Serves `GET /metrics` on `listener` until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    shard: Arc<Shard>,
    latencies: Arc<Latencies>,
    staleness: Arc<Staleness>,
    shutdown: CancellationToken,
) {
    loop {
        let (mut stream, _) = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::error!("failed to accept a metrics connection: {e}");
                    continue;
                }
            },
        };
        let body = render(&shard, &latencies, &staleness);
        tokio::spawn(async move {
            let mut request = [0u8; 1024];
            let _ = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut request)).await;
            let ok = request.starts_with(b"GET /metrics");
            let (status, body) =
                if ok { ("200 OK", body) } else { ("404 Not Found", "try GET /metrics\n".to_owned()) };
            let response = format!(
                "HTTP/1.1 {status}\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
        });
    }
}
