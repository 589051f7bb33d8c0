//! Tessera's model bundle: the versioned directory a job leaves behind for
//! serving. It holds the main model's final user and item embeddings (as
//! `.npy`, and as Parquet with the raw ids), each user's history (the items
//! excluded from their recommendations), the items' categories, the dense
//! weights, the job spec and the graph it was trained on, an HNSW index over
//! the items when the catalogue is large, and a manifest that lists every
//! file with its size and CRC32.
//!
//! [`write`] builds a bundle in a temporary directory, fsyncs it and renames
//! it into place as the job's next version; [`Bundle::open`] checks every
//! checksum and shape before anything is served; [`Bundle::recommend`] and
//! [`Bundle::similar`] answer from exact search or the HNSW index.

pub mod ann;
pub mod error;
pub mod foldin;
mod item_table;
pub mod manifest;
pub mod neighbours;
pub mod npy;
mod parquet_out;
pub mod rank;
pub mod read;
pub mod retrieve;
pub mod synth;
pub mod write;

pub use ann::AnnOptions;
pub use error::{BundleError, Result};
pub use manifest::{AnnInfo, FileInfo, GraphRef, Manifest, FORMAT, FORMAT_VERSION};
pub use rank::{RankerWeights, RANKER_FORMAT};
pub use read::Bundle;
pub use retrieve::Scored;
pub use write::{write, Content};
