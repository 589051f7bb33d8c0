//! Staleness control. In `async` mode (the default) nothing waits. In
//! `ssp:S` (stale synchronous parallel) a pull from a worker whose clock is
//! more than S ticks ahead of the slowest live worker waits until the slowest
//! catches up. A worker that has not pushed for `worker_timeout` no longer
//! counts as live, so a dead worker cannot block the others forever.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Default time after which a silent worker stops holding others back.
pub const DEFAULT_WORKER_TIMEOUT: Duration = Duration::from_secs(30);

/// The staleness mode: the job spec's `cluster.staleness`, one type for
/// both sides (`async` or `ssp:S`).
pub use tessera_job::Staleness as StalenessMode;

/// Worker clocks and the waiting logic.
#[derive(Debug)]
pub struct Staleness {
    mode: StalenessMode,
    worker_timeout: Duration,
    clocks: Mutex<HashMap<String, (u64, Instant)>>,
    changed: tokio::sync::Notify,
}

impl Staleness {
    /// A tracker for `mode`.
    pub fn new(mode: StalenessMode, worker_timeout: Duration) -> Self {
        Self { mode, worker_timeout, clocks: Mutex::new(HashMap::new()), changed: tokio::sync::Notify::new() }
    }

    /// Records a worker's clock after a push.
    pub fn observe(&self, worker: &str, clock: u64) {
        if worker.is_empty() {
            return;
        }
        let mut clocks = self.clocks.lock().unwrap_or_else(|p| p.into_inner());
        let entry = clocks.entry(worker.to_owned()).or_insert((clock, Instant::now()));
        *entry = (entry.0.max(clock), Instant::now());
        drop(clocks);
        self.changed.notify_waiters();
    }

    /// (slowest, fastest) clock among live workers.
    pub fn range(&self) -> Option<(u64, u64)> {
        let clocks = self.clocks.lock().unwrap_or_else(|p| p.into_inner());
        let live = clocks.values().filter(|(_, seen)| seen.elapsed() < self.worker_timeout).map(|c| c.0);
        live.fold(None, |acc, c| Some(acc.map_or((c, c), |(lo, hi): (u64, u64)| (lo.min(c), hi.max(c)))))
    }

    /// Waits, in `ssp:S` mode, until `clock` is within S of the slowest live
    /// worker. Returns how long it waited.
    pub async fn wait(&self, clock: u64) -> Duration {
        let StalenessMode::Ssp(bound) = self.mode else { return Duration::ZERO };
        let start = Instant::now();
        loop {
            let notified = self.changed.notified();
            match self.range() {
                Some((slowest, _)) if clock > slowest.saturating_add(bound) => {}
                _ => return start.elapsed(),
            }
            // Re-check periodically too: a worker can fall out by timeout.
            let _ = tokio::time::timeout(Duration::from_millis(200), notified).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse() {
        assert_eq!("async".parse(), Ok(StalenessMode::Async));
        assert_eq!("ssp:3".parse(), Ok(StalenessMode::Ssp(3)));
        assert!("ssp:x".parse::<StalenessMode>().is_err());
    }

    #[tokio::test]
    async fn fast_worker_waits_for_the_slow_one() {
        let s = std::sync::Arc::new(Staleness::new(StalenessMode::Ssp(2), DEFAULT_WORKER_TIMEOUT));
        s.observe("slow", 0);
        s.observe("fast", 5);
        assert!(s.wait(2).await < Duration::from_millis(5), "a worker within the bound waited");
        let waiter = {
            let s = s.clone();
            tokio::spawn(async move { s.wait(5).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiter.is_finished(), "a worker 5 ahead with bound 2 did not wait");
        s.observe("slow", 3);
        let waited = tokio::time::timeout(Duration::from_secs(2), waiter).await.unwrap().unwrap();
        assert!(waited >= Duration::from_millis(40));
    }
}
