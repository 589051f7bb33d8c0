//! One shard of Tessera's parameter server: embedding tables and dense
//! parameters with server-side optimizers, served over gRPC.

pub mod error;
pub mod server;
pub mod service;

pub use error::{PsError, Result};
pub use server::{run, ServerConfig};
