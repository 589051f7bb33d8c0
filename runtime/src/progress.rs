//! Pacing of plain progress lines, for output that is not a terminal (a
//! file, a pipe, CI, `nohup`): a line at each phase change and at most one
//! more per interval, instead of one per report. `coordinator watch` and
//! `worker train --standalone` share it.

use std::io::IsTerminal as _;
use std::time::{Duration, Instant};

/// The default longest gap between two plain progress lines.
pub const DEFAULT_PROGRESS_EVERY: &str = "10s";

/// Decides which progress lines to print.
#[derive(Debug, Clone)]
pub struct Pacer {
    every: Duration,
    every_line: bool,
    last: Option<(Instant, String)>,
}

impl Pacer {
    /// Lines at phase changes and at most one per `every`; every line when
    /// `every_line` (a terminal that a person watches).
    pub fn new(every: Duration, every_line: bool) -> Self {
        Self { every, every_line, last: None }
    }

    /// Paces stderr: every line on a terminal, else per `every`.
    pub fn for_stderr(every: Duration) -> Self {
        Self::new(every, std::io::stderr().is_terminal())
    }

    /// Whether lines are paced (output off a terminal): a live view is
    /// drawn only when not.
    pub fn is_plain(&self) -> bool {
        !self.every_line
    }

    /// Whether a line for `phase` is due now: the first one, a new phase,
    /// or `every` since the last line. Records the line as printed.
    pub fn due(&mut self, phase: &str) -> bool {
        let due = self.every_line
            || self.last.as_ref().is_none_or(|(at, last)| last != phase || at.elapsed() >= self.every);
        if due {
            self.last = Some((Instant::now(), phase.to_owned()));
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_come_at_phase_changes_and_at_most_once_per_interval() {
        let mut pacer = Pacer::new(Duration::from_millis(200), false);
        assert!(pacer.due("training"), "the first line");
        assert!(!pacer.due("training"), "nothing new, too soon");
        assert!(pacer.due("evaluating"), "a phase change");
        assert!(!pacer.due("evaluating"));
        std::thread::sleep(Duration::from_millis(220));
        assert!(pacer.due("evaluating"), "the interval passed");
        let mut tty = Pacer::new(Duration::from_secs(60), true);
        assert!(tty.due("x") && tty.due("x"), "a terminal gets every line");
    }
}
