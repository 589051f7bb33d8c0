//! The Tessera worker: it samples neighbourhoods from its partition and
//! trains graph models with libtorch against the parameter servers. It is the
//! only crate that links libtorch.

pub mod build_info;
pub mod classic;
pub mod cold_items;
pub mod coldstart;
pub mod device;
pub mod eval;
pub mod export;
pub mod finish;
pub mod from_checkpoint;
pub mod metrics;
pub mod model;
pub mod params;
pub mod rank;
pub mod resume;
pub mod serve;
pub mod session;
pub mod standalone;
pub mod train;
pub mod view;
