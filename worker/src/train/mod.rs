//! Training: batches, negatives, losses and the step loop with prefetching.

pub mod batch;
pub mod negatives;
pub mod loss;
pub mod step;
