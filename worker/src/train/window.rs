//! The progress window: mean losses and throughput since the last progress
//! snapshot, and the mean losses of the current epoch for the summary.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::train::run::{Progress, TimeSplit};

/// Running sums of (loss, count) per task.
type Sums = BTreeMap<String, (f64, u64)>;

fn means(sums: &Sums) -> BTreeMap<String, f64> {
    sums.iter().map(|(k, (s, n))| (k.clone(), s / *n as f64)).collect()
}

/// Losses and edges since the last snapshot, and over the current epoch.
pub struct ProgressWindow {
    every: Duration,
    window: Sums,
    epoch: Sums,
    edges: u64,
    started: Instant,
}

impl ProgressWindow {
    /// A window reported every `every`.
    pub fn new(every: Duration) -> Self {
        Self { every, window: Sums::new(), epoch: Sums::new(), edges: 0, started: Instant::now() }
    }

    /// Records a step's losses.
    pub fn record_losses(&mut self, losses: &BTreeMap<String, f64>) {
        for (name, value) in losses {
            for sums in [&mut self.window, &mut self.epoch] {
                let e = sums.entry(name.clone()).or_insert((0.0, 0));
                e.0 += value;
                e.1 += 1;
            }
        }
    }

    /// Records a step's positive edges.
    pub fn record_edges(&mut self, edges: u64) {
        self.edges += edges;
    }

    /// Starts a new epoch's loss means.
    pub fn new_epoch(&mut self) {
        self.epoch.clear();
    }

    /// Whether a snapshot is due (`epoch_done` forces one, so the caller can
    /// validate after every epoch).
    pub fn due(&self, epoch_done: bool) -> bool {
        epoch_done || self.started.elapsed() >= self.every
    }

    /// The snapshot at (`epoch`, `step`); starts a new window.
    pub fn snapshot(&mut self, position: Position, time: TimeSplit) -> Progress {
        let secs = self.started.elapsed().as_secs_f64().max(1e-9);
        let progress = Progress {
            epoch: position.epoch,
            step: position.step,
            steps_per_epoch: position.steps_per_epoch,
            losses: means(&self.window),
            edges_per_sec: self.edges as f64 / secs,
            time,
            finished: position.finished,
            completed_epoch: position.completed_epoch,
        };
        self.window.clear();
        self.edges = 0;
        self.started = Instant::now();
        progress
    }

    /// Mean losses of the current epoch.
    pub fn epoch_losses(&self) -> BTreeMap<String, f64> {
        means(&self.epoch)
    }
}

/// Where training stands at a snapshot.
#[derive(Debug, Clone, Copy)]
pub struct Position {
    /// Epoch shown (the next one once an epoch has ended).
    pub epoch: u32,
    /// Steps done in it.
    pub step: u64,
    /// Steps per epoch.
    pub steps_per_epoch: u64,
    /// Training is done.
    pub finished: bool,
    /// The epoch that has just ended, if any.
    pub completed_epoch: Option<u32>,
}

impl Position {
    /// The position after the step that ends at `step_in_epoch` (from 1) of
    /// `epoch`, with `epochs` in all.
    pub fn after(epoch: u32, step_in_epoch: u64, steps_per_epoch: u64, epochs: u32) -> Self {
        let epoch_done = step_in_epoch == steps_per_epoch;
        let finished = epoch_done && epoch + 1 == epochs;
        let rolled = epoch_done && !finished;
        Self {
            epoch: if rolled { epoch + 1 } else { epoch },
            step: if rolled { 0 } else { step_in_epoch },
            steps_per_epoch,
            finished,
            completed_epoch: epoch_done.then_some(epoch),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_roll_over_at_epoch_ends() {
        let mid = Position::after(0, 3, 10, 2);
        assert_eq!((mid.epoch, mid.step, mid.finished, mid.completed_epoch), (0, 3, false, None));
        let end0 = Position::after(0, 10, 10, 2);
        assert_eq!((end0.epoch, end0.step, end0.finished, end0.completed_epoch), (1, 0, false, Some(0)));
        let end1 = Position::after(1, 10, 10, 2);
        assert_eq!((end1.epoch, end1.step, end1.finished, end1.completed_epoch), (1, 10, true, Some(1)));
    }

    #[test]
    fn the_window_averages_and_resets() {
        let mut w = ProgressWindow::new(Duration::from_secs(3600));
        w.record_losses(&[("total".to_owned(), 1.0)].into());
        w.record_losses(&[("total".to_owned(), 3.0)].into());
        w.record_edges(10);
        assert!(!w.due(false) && w.due(true));
        let p = w.snapshot(Position::after(0, 2, 4, 1), TimeSplit::default());
        assert_eq!(p.losses["total"], 2.0);
        assert!(p.edges_per_sec > 0.0);
        assert!(w.snapshot(Position::after(0, 3, 4, 1), TimeSplit::default()).losses.is_empty());
        assert_eq!(w.epoch_losses()["total"], 2.0, "the epoch keeps its means across windows");
        w.new_epoch();
        assert!(w.epoch_losses().is_empty());
    }
}
