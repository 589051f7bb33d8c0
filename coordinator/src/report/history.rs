//! The progress history of a watched job: a point each time a partition's
//! progress report changes, kept for the report's loss and throughput plots
//! and written as `progress.jsonl`.

use std::collections::{BTreeMap, HashSet};
use std::io::Write as _;
use std::path::Path;

use anyhow::Context as _;
use serde::Serialize;
use tessera_control::timing::TimeSplit;
use tessera_proto::coordinator::v1::Job;

/// One progress report of one partition.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Point {
    /// Report time, Unix milliseconds.
    pub unix_ms: i64,
    /// Partition.
    pub partition: u32,
    /// Worker that trained it.
    pub worker: String,
    /// Job-wide epoch (models train one after the other).
    pub epoch: u32,
    /// Step within the epoch.
    pub step: u64,
    /// Steps per epoch of this partition (0 before the first report).
    pub steps_per_epoch: u64,
    /// Recent mean loss per task.
    pub losses: BTreeMap<String, f64>,
    /// Recent positive edges per second.
    pub edges_per_sec: f64,
    /// Time split so far.
    pub time: TimeSplit,
}

/// Every distinct progress report seen, in arrival order.
#[derive(Debug, Clone, Default)]
pub struct History {
    /// The points.
    pub points: Vec<Point>,
    seen: HashSet<(u32, i64)>,
}

impl History {
    /// Records the job's training progress reports not seen before.
    pub fn observe(&mut self, job: &Job) {
        for p in job.progress.iter().filter(|p| !p.finished && p.unix_ms > 0) {
            if !self.seen.insert((p.partition, p.unix_ms)) {
                continue;
            }
            let time = p.time.map(TimeSplit::from).unwrap_or_default();
            self.points.push(Point {
                unix_ms: p.unix_ms,
                partition: p.partition,
                worker: p.worker_id.clone(),
                epoch: p.epoch,
                step: p.step,
                steps_per_epoch: p.steps_per_epoch,
                losses: p.losses.iter().map(|(k, v)| (k.clone(), *v)).collect(),
                edges_per_sec: p.edges_per_sec,
                time,
            });
        }
    }

    /// Writes one JSON object per line.
    ///
    /// # Errors
    /// Fails on I/O errors.
    pub fn write_jsonl(&self, path: &Path) -> anyhow::Result<()> {
        let mut out = std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("create {}", path.display()))?,
        );
        for point in &self.points {
            serde_json::to_writer(&mut out, point)?;
            out.write_all(b"\n")?;
        }
        out.flush().with_context(|| format!("write {}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_proto::coordinator::v1::ProgressReport;

    #[test]
    fn repeated_and_finished_reports_are_recorded_once_or_not_at_all() {
        let report = |partition, unix_ms, finished| ProgressReport {
            partition,
            unix_ms,
            finished,
            losses: [("total".to_owned(), 0.5)].into(),
            ..ProgressReport::default()
        };
        let mut history = History::default();
        let job = Job { progress: vec![report(0, 10, false), report(1, 10, false)], ..Job::default() };
        history.observe(&job);
        history.observe(&job);
        history.observe(&Job { progress: vec![report(0, 20, false), report(1, 30, true)], ..Job::default() });
        let seen: Vec<_> = history.points.iter().map(|p| (p.partition, p.unix_ms)).collect();
        assert_eq!(seen, vec![(0, 10), (1, 10), (0, 20)]);
    }
}
