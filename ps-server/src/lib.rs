//! One shard of Tessera's parameter server: embedding tables and dense
//! parameters with server-side optimizers, served over gRPC.

pub mod codec;
pub mod error;
pub mod init;
pub mod optimizer;
pub mod routing;
pub mod server;
pub mod service;
pub mod shard;
pub mod table;

pub use error::{PsError, Result};
pub use server::{run, ServerConfig};
