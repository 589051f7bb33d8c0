//! Where a worker's training time goes: the split the training loop keeps
//! and reports in its progress, and the coordinator's report plots.

use serde::Serialize;
use tessera_proto::coordinator::v1::TimeBreakdown;

/// Where a worker's training time went, in seconds, cumulative over the
/// model's training. The worker's training loop keeps it, and reports it as
/// a `TimeBreakdown`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct TimeSplit {
    /// Sampling (on the sampler thread).
    pub sample: f64,
    /// Pulling rows and dense weights.
    pub pull: f64,
    /// Forward and backward.
    pub compute: f64,
    /// Pushing gradients.
    pub push: f64,
    /// Waiting for the next batch's rows.
    pub wait: f64,
}

impl From<TimeBreakdown> for TimeSplit {
    fn from(t: TimeBreakdown) -> Self {
        Self { sample: t.sample_s, pull: t.pull_s, compute: t.compute_s, push: t.push_s, wait: t.wait_s }
    }
}

impl From<TimeSplit> for TimeBreakdown {
    fn from(t: TimeSplit) -> Self {
        Self { sample_s: t.sample, pull_s: t.pull, compute_s: t.compute, push_s: t.push, wait_s: t.wait }
    }
}
