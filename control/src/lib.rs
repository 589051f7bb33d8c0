//! Tessera's control plane as a library, shared by the coordinator and the
//! workers (and the tests' fake workers): the etcd key layout and member
//! records, the typed job store over etcd, the coordinator client, the
//! worker agent, and the shapes both sides report and print (time split,
//! metric tables). It links no server.

pub mod agent;
pub mod client;
pub mod error;
pub mod keys;
pub mod store;
pub mod table;
pub mod timing;

pub use error::StoreError;
