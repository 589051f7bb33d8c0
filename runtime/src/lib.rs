//! Runtime plumbing shared by every Tessera server (coordinator, parameter
//! server, worker, and later the recommend service): shutdown on a signal,
//! serving with a grace period, and keys kept alive under an etcd lease.
//! It knows no key layout and no service: callers pass their keys in.

pub mod lease;
pub mod shutdown;

pub use lease::{register_key, Registration, DEFAULT_LEASE_TTL};
pub use shutdown::{cancel_on_signal, serve_with_grace, SHUTDOWN_GRACE};
