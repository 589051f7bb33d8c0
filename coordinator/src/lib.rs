//! The Tessera coordinator: builds and partitions the graph, keeps job state
//! in etcd, assigns partitions to workers and serves the CLI.

pub mod cli;
pub mod job;
pub mod partition;
