//! Jobs: the TOML spec, the state kept in etcd, and the scheduler that
//! assigns partitions to workers.

pub mod spec;
pub mod view;

pub use spec::{JobSpec, SpecError};
