//! Runtime plumbing shared by every Tessera server (coordinator, parameter
//! server, worker, recommend service): shutdown on a signal, serving with a
//! grace period, keys kept alive under an etcd lease, child server
//! processes started and stopped by a launcher, the pacing of progress
//! lines off a terminal, the Prometheus endpoint's listener, the bearer
//! tokens of the calls that change things, mutual TLS with its development
//! certificates, and access to etcd (TLS and user).
//! It knows no key layout and no service: callers pass their keys in.

pub mod auth;
pub mod certs;
pub mod children;
pub mod etcd;
pub mod lease;
pub mod metrics_http;
pub mod progress;
pub mod shutdown;
pub mod tls;

pub use lease::{register_key, Registration, DEFAULT_LEASE_TTL};
pub use shutdown::{cancel_on_signal, serve_with_grace, SHUTDOWN_GRACE};
