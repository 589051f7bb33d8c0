//! Stored job records as the protocol's `Job` and `JobSummary`, and the
//! overall progress figure.

use tessera_proto::coordinator::v1::{Assignment, Job, JobSummary};

use tessera_control::store::JobRecord;

/// Overall progress in [0, 1]: the mean over partitions of the steps done
/// out of `epochs × steps_per_epoch`.
pub fn progress_fraction(record: &JobRecord, epochs: u32) -> f64 {
    let parts = record.plan.as_ref().map_or(0, |p| p.parts);
    if parts == 0 {
        return 0.0;
    }
    let done: f64 = (0..parts)
        .map(|p| match record.progress.get(&p) {
            Some(r) if r.finished => 1.0,
            Some(r) if r.steps_per_epoch > 0 => {
                let total = f64::from(epochs.max(1)) * r.steps_per_epoch as f64;
                ((f64::from(r.epoch) * r.steps_per_epoch as f64 + r.step as f64) / total).min(1.0)
            }
            _ => 0.0,
        })
        .sum();
    done / f64::from(parts)
}

/// The full protocol view of a job.
pub fn to_proto(record: &JobRecord) -> Job {
    let metrics = record
        .metrics
        .iter()
        .rev()
        .find(|m| m.phase == "test")
        .or_else(|| record.metrics.last())
        .map(|m| m.metrics.clone())
        .unwrap_or_default();
    Job {
        job_id: record.meta.job_id.clone(),
        state: record.status.job_state() as i32,
        spec_toml: record.spec_toml.clone(),
        fencing_token: record.fencing,
        assignments: record
            .assignments
            .iter()
            .map(|(&partition, a)| Assignment {
                partition,
                worker_id: a.worker.clone(),
                fencing_token: a.fencing,
            })
            .collect(),
        progress: record.progress.values().cloned().collect(),
        metrics,
        error: record.status.error.clone(),
        created_unix_ms: record.meta.created_ms,
        updated_unix_ms: record.status.updated_ms,
        metric_reports: record.metrics.clone(),
        message: record.status.message.clone(),
        num_partitions: record.plan.as_ref().map_or(0, |p| p.parts),
    }
}

/// The one-line view of a job.
pub fn to_summary(record: &JobRecord, epochs: u32) -> JobSummary {
    JobSummary {
        job_id: record.meta.job_id.clone(),
        state: record.status.job_state() as i32,
        model: record.meta.model.clone(),
        created_unix_ms: record.meta.created_ms,
        progress: progress_fraction(record, epochs),
    }
}
