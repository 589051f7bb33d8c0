//! Prefetch: the rows of the next batches are pulled on the async runtime
//! while the current step computes. Holds at most `depth` batches whose
//! pulls are in flight, in step order.

use std::collections::VecDeque;
use std::sync::mpsc::Receiver;
use std::time::Instant;

use anyhow::Context as _;
use tessera_graph::schema::NodeType;
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

use crate::params::Params;
use crate::train::batch::Batch;
use crate::train::run::TimeSplit;
use crate::train::step::Rows;
use crate::view::TrainView;

/// A batch whose rows are on their way.
struct Pulled {
    epoch: u32,
    batch: Batch,
    rows: JoinHandle<anyhow::Result<(Rows, f64)>>,
}

/// Batches from the sampler with their pulls started ahead.
pub struct Prefetch<'a> {
    rt: &'a Handle,
    view: &'a TrainView<'a>,
    params: &'a Params,
    batches: Receiver<(u32, Batch)>,
    depth: usize,
    pending: VecDeque<Pulled>,
    exhausted: bool,
}

impl<'a> Prefetch<'a> {
    /// Prefetches `depth` batches ahead from `batches` (1 = no overlap).
    pub fn new(
        rt: &'a Handle,
        view: &'a TrainView<'a>,
        params: &'a Params,
        batches: Receiver<(u32, Batch)>,
        depth: usize,
    ) -> Self {
        Self { rt, view, params, batches, depth: depth.max(1), pending: VecDeque::new(), exhausted: false }
    }

    fn spawn_pull(&self, epoch: u32, batch: Batch) -> Pulled {
        let ids: Vec<(NodeType, Vec<u64>)> = NodeType::ALL
            .iter()
            .map(|&t| (t, self.view.to_global(t, &batch.block.nodes[t.index()])))
            .collect();
        let params = self.params.clone();
        let clock = batch.step;
        let rows = self.rt.spawn(async move {
            let started = Instant::now();
            let mut rows: Rows = (0..NodeType::ALL.len()).map(|_| None).collect();
            for (t, ids) in ids {
                if !ids.is_empty() {
                    rows[t.index()] =
                        Some(params.pull(t, &ids, clock).await.with_context(|| format!("pull {t} rows"))?);
                }
            }
            Ok((rows, started.elapsed().as_secs_f64()))
        });
        Pulled { epoch, batch, rows }
    }

    /// The next batch with its rows, or `None` when the sampler is done.
    /// Sampling, pull and wait times are added to `time`.
    ///
    /// # Errors
    /// Fails when a pull fails.
    pub fn next(&mut self, time: &mut TimeSplit) -> anyhow::Result<Option<(u32, Batch, Rows)>> {
        while self.pending.len() < self.depth && !self.exhausted {
            match self.batches.recv() {
                Ok((epoch, batch)) => {
                    time.sample += batch.sample_secs;
                    let pulled = self.spawn_pull(epoch, batch);
                    self.pending.push_back(pulled);
                }
                Err(_) => self.exhausted = true,
            }
        }
        let Some(pulled) = self.pending.pop_front() else { return Ok(None) };
        let waited = Instant::now();
        let (rows, pull_secs) = self.rt.block_on(pulled.rows).context("pull task")??;
        time.wait += waited.elapsed().as_secs_f64();
        time.pull += pull_secs;
        Ok(Some((pulled.epoch, pulled.batch, rows)))
    }
}
