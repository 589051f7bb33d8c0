//! Training: batches, negatives, losses, the step, and the loop with its
//! parts (prefetch, push queue, dense sync, progress window).

pub mod batch;
pub mod dense_sync;
pub mod loss;
pub mod negatives;
pub mod prefetch;
pub mod push_queue;
pub mod run;
pub mod step;
pub mod window;
