//! Training: batches, negatives, losses and the step loop with prefetching.

pub mod batch;
pub mod loss;
pub mod negatives;
pub mod run;
pub mod step;
