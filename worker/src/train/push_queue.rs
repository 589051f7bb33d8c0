//! The push queue: row gradients go to the PS in the background, with a
//! bound on how many pushes are in flight; the oldest is awaited first.

use std::collections::VecDeque;
use std::time::Instant;

use anyhow::Context as _;
use tessera_graph::schema::NodeType;
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

use crate::params::Params;

/// Gradients of one step: (type, global ids, values) per node type.
pub type RowGrads = Vec<(NodeType, Vec<u64>, Vec<f32>)>;

/// Background pushes, at most `in_flight` outstanding after each submit.
pub struct PushQueue<'a> {
    rt: &'a Handle,
    params: &'a Params,
    in_flight: usize,
    pushes: VecDeque<JoinHandle<anyhow::Result<f64>>>,
}

impl<'a> PushQueue<'a> {
    /// A queue that lets `in_flight` pushes run while training goes on
    /// (0 = each push is awaited before the next step).
    pub fn new(rt: &'a Handle, params: &'a Params, in_flight: usize) -> Self {
        Self { rt, params, in_flight, pushes: VecDeque::new() }
    }

    /// Starts pushing `grads` at `clock`; returns the seconds spent waiting
    /// for older pushes to make room.
    ///
    /// # Errors
    /// Fails when an awaited push failed.
    pub fn submit(&mut self, grads: RowGrads, clock: u64) -> anyhow::Result<f64> {
        let params = self.params.clone();
        self.pushes.push_back(self.rt.spawn(async move {
            let started = Instant::now();
            for (t, ids, g) in grads {
                params.push(t, &ids, &g, clock).await.with_context(|| format!("push {t} gradients"))?;
            }
            Ok(started.elapsed().as_secs_f64())
        }));
        let mut secs = 0.0;
        while self.pushes.len() > self.in_flight {
            secs += self.await_oldest()?;
        }
        Ok(secs)
    }

    fn await_oldest(&mut self) -> anyhow::Result<f64> {
        match self.pushes.pop_front() {
            Some(push) => self.rt.block_on(push).context("push task")?,
            None => Ok(0.0),
        }
    }

    /// Waits for every push; returns their seconds.
    ///
    /// # Errors
    /// Fails with the first push that failed (the others are still awaited).
    pub fn drain(&mut self) -> anyhow::Result<f64> {
        let mut secs = 0.0;
        let mut first_error = None;
        while !self.pushes.is_empty() {
            match self.await_oldest() {
                Ok(s) => secs += s,
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(secs), Err)
    }
}
