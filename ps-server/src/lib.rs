//! One shard of Tessera's parameter server: embedding tables and dense
//! parameters with server-side optimizers, served over gRPC.

pub mod checkpoint;
pub mod dense;
pub mod error;
pub mod init;
pub mod metrics;
pub mod optimizer;
pub mod server;
pub mod service;
pub mod shard;
pub mod staleness;
pub mod table;

pub use error::{PsError, Result};
pub use server::{run, ServerConfig};
