//! The client side of Tessera's parameter server: the sharded client that
//! workers use (routing, deduplication, retries, a typed error), and the
//! wire codec, routing hash and limits that client and shards share. It
//! never links the server.

pub mod client;
pub mod codec;
pub mod dense;
pub mod error;
pub mod ledger;
pub mod routing;
pub mod wire;

pub use client::{ClientOptions, Fence, ShardedClient};
pub use error::PsClientError;
pub use ledger::Lost;
