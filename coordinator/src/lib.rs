//! The Tessera coordinator: builds and partitions the graph, keeps job state
//! in etcd, assigns partitions to workers and serves the CLI.

pub mod carry;
pub mod cli;
pub mod error;
pub mod local;
pub mod metrics;
pub mod partition;
pub mod report;
pub mod scheduler;
pub mod server;
pub mod service;
pub mod view;
