//! Evaluation: full-graph layer-wise inference (no sampling) for every user
//! and item, or a classic model's similarities, then the metrics of the
//! evaluation protocol over either.

pub mod blend;
pub mod final_eval;
pub mod inference;
pub mod metrics;
pub mod samples;
pub mod scores;
