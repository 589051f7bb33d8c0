//! Evaluation: full-graph layer-wise inference (no sampling) for every user
//! and item, then the metrics of the evaluation protocol.

pub mod inference;
pub mod metrics;
pub mod samples;
