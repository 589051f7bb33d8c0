//! The service's Prometheus metrics (prometheus-client): requests by route
//! and status, request latency by route, the served index's size and bundle
//! version, and reloads by outcome.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use tessera_bundle::Bundle;

/// Labels of a request.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The route's path template (`/v1/users/{id}/recommendations`).
    pub route: String,
    /// HTTP status code.
    pub status: u16,
}

/// Labels of a latency observation.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// The route's path template.
    pub route: String,
}

/// Labels of a reload.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReloadLabels {
    /// "ok" or "refused".
    pub outcome: String,
}

type LatencyFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 50 µs to about 1.6 s.
    Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
}

/// Every metric of the service, and the registry that encodes them.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Requests served.
    pub requests: Family<RequestLabels, Counter>,
    /// Request latency in seconds.
    pub latency: LatencyFamily,
    /// Items in the served bundle.
    pub index_items: Gauge,
    /// Version of the served bundle.
    pub bundle_version: Gauge,
    /// Reloads.
    pub reloads: Family<ReloadLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("tessera_recommend");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register("requests", "HTTP requests by route and status", requests.clone());
        let latency = LatencyFamily::new_with_constructor(latency_histogram);
        registry.register("request_seconds", "HTTP request latency by route", latency.clone());
        let index_items = Gauge::default();
        registry.register("index_items", "Items in the served bundle", index_items.clone());
        let bundle_version = Gauge::default();
        registry.register(
            "bundle_version",
            "Version of the served bundle in its job directory",
            bundle_version.clone(),
        );
        let reloads = Family::<ReloadLabels, Counter>::default();
        registry.register("reloads", "Bundle reloads by outcome", reloads.clone());
        Self { registry, requests, latency, index_items, bundle_version, reloads }
    }
}

impl Metrics {
    /// Records the bundle now served.
    pub fn serving(&self, bundle: &Bundle) {
        self.index_items.set(bundle.manifest().items as i64);
        self.bundle_version.set(i64::from(bundle.manifest().version));
    }

    /// The metrics in Prometheus' text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
