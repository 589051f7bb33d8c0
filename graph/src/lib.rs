//! Tessera's heterogeneous graph library: the data model shared by the
//! coordinator and the worker. Ingest behaviour logs, build the typed graph
//! with features and splits, store it as a checksummed memory-mapped
//! directory, sample neighbourhoods, partition with METIS, and generate
//! realistic synthetic logs. No networking and no libtorch.

pub mod atomic;
pub mod builder;
pub mod cooc;
pub mod csr;
pub mod error;
pub mod features;
pub mod idmap;
pub mod ingest;
pub mod partition;
pub mod sample;
pub mod schema;
pub mod spec;
pub mod split;
pub mod stats;
pub mod store;
pub mod synth;
pub mod timefmt;

pub use builder::{build, BuildReport, BuiltGraph};
pub use error::{GraphError, Result};
pub use schema::{Behavior, NodeType, RelationKind, RelationSpec};
pub use spec::BuildSpec;
pub use stats::GraphStats;
pub use store::Graph;
