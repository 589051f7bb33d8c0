//! Tessera's test harness: starts a real etcd and the real binaries on free
//! loopback ports, with temporary data directories, and stops them afterwards;
//! waits for jobs and holds the bar a trained model must clear.

pub mod binaries;
pub mod cluster;
pub mod coordinator;
pub mod etcd;
pub mod fake_worker;
pub mod http;
pub mod local;
pub mod ports;
pub mod process;
pub mod ps;
pub mod synth_graph;
pub mod worker;

pub use binaries::command;
pub use etcd::Etcd;
pub use process::ChildProcess;
