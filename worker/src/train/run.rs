//! The training loop, put together from small parts: a sampler thread
//! builds batches ahead ([`sample_batches`]); [`Prefetch`] pulls each
//! batch's rows on the async runtime while earlier steps compute;
//! [`PushQueue`] pushes row gradients in the background (at most two in
//! flight); [`DenseSync`] pushes dense gradients and refreshes the dense
//! weights every `dense_sync_every` steps; [`ProgressWindow`] feeds a
//! callback that can pause or stop training. Time is split into sample,
//! pull, compute, push and wait.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tch::{nn, Device};
use tessera_graph::sample::WalkParams;
use tokio::runtime::Handle;

use crate::model::Model;
use crate::params::Params;
use crate::train::batch::{Batch, Batcher};
use crate::train::dense_sync::DenseSync;
use crate::train::negatives::NegativeSampler;
use crate::train::prefetch::Prefetch;
use crate::train::push_queue::PushQueue;
use crate::train::step::{train_step, StepTasks};
use crate::train::window::{Position, ProgressWindow};
use crate::view::TrainView;

/// Where the step time went, in seconds (the type the coordinator's report uses too).
pub use tessera_control::timing::TimeSplit;

/// A progress snapshot.
#[derive(Debug, Clone)]
pub struct Progress {
    /// Epoch, from 0.
    pub epoch: u32,
    /// Steps done in the epoch.
    pub step: u64,
    /// Steps per epoch.
    pub steps_per_epoch: u64,
    /// Mean losses since the last snapshot.
    pub losses: BTreeMap<String, f64>,
    /// Positive edges per second since the last snapshot.
    pub edges_per_sec: f64,
    /// Time split since training started.
    pub time: TimeSplit,
    /// Training is done.
    pub finished: bool,
    /// The epoch that has just ended, on the first snapshot after it.
    pub completed_epoch: Option<u32>,
}

/// What the caller wants after a progress snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Keep going.
    Continue,
    /// Hold until told otherwise (a PS shard is away).
    Pause,
    /// Stop now.
    Stop,
}

/// How to train.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Epochs.
    pub epochs: u32,
    /// Positive edges per step.
    pub batch_size: usize,
    /// Cap on steps per epoch (0 = none).
    pub max_steps_per_epoch: u64,
    /// Which sampler.
    pub sampler: SamplerChoice,
    /// Neighbour fan-outs per hop.
    pub fanouts: Vec<u32>,
    /// Sampling weighting.
    pub weighting: tessera_graph::sample::Weighting,
    /// Fan-out per edge type instead of per node.
    pub per_relation: bool,
    /// Tasks.
    pub tasks: StepTasks,
    /// Popularity-smoothed (true) or uniform easy negatives.
    pub popularity_negatives: bool,
    /// Dense sync period in steps.
    pub dense_sync_every: u32,
    /// No overlap of pulls with earlier pushes (reproducible runs).
    pub deterministic: bool,
    /// Seed; the order of edges and samples is a function of it.
    pub seed: u64,
    /// Progress callback period.
    pub report_every: Duration,
    /// Start here (resume).
    pub start: (u32, u64),
    /// Reference time for edge ages (the graph's latest training time).
    pub now: i64,
    /// Device.
    pub device: Device,
}

/// The sampler a model trains with.
#[derive(Debug, Clone, PartialEq)]
pub enum SamplerChoice {
    /// Per-hop fan-outs over the stored relations.
    Neighbor,
    /// Cluster-GCN: unions of `parts_per_batch` of `sub_parts` METIS sub-parts.
    Cluster {
        /// Sub-parts of the training graph.
        sub_parts: u32,
        /// Sub-parts per batch.
        parts_per_batch: u32,
    },
    /// PinSAGE random-walk neighbourhoods.
    RandomWalk(WalkParams),
}

/// What training returns.
#[derive(Debug, Clone)]
pub struct RunSummary {
    /// Steps taken.
    pub steps: u64,
    /// Positive edges seen.
    pub edges: u64,
    /// Time split.
    pub time: TimeSplit,
    /// Wall seconds.
    pub wall_secs: f64,
    /// Whether training was stopped early.
    pub stopped: bool,
    /// Mean losses of the last epoch.
    pub last_losses: BTreeMap<String, f64>,
}

/// Steps per epoch of `batcher` over `positives` edges.
pub fn steps_per_epoch(batcher: &Batcher<'_>, positives: usize, options: &RunOptions) -> u64 {
    let steps = batcher.batches_per_epoch(positives, options.batch_size);
    if options.max_steps_per_epoch > 0 {
        steps.min(options.max_steps_per_epoch)
    } else {
        steps
    }
}

/// Builds the batches of epochs `start..` in order on the sampler thread and
/// sends them to `tx`, until done, stopped, or the receiver is gone.
fn sample_batches(
    view: &TrainView<'_>,
    batcher: &Batcher<'_>,
    options: &RunOptions,
    steps: u64,
    negatives: &NegativeSampler,
    stop: &AtomicBool,
    tx: SyncSender<(u32, Batch)>,
) {
    let (start_epoch, start_step) = options.start;
    for epoch in start_epoch..options.epochs {
        let plan = batcher.plan(view, options.seed, epoch);
        let first = if epoch == start_epoch { start_step } else { 0 };
        for step in first..steps {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            let global_step = u64::from(epoch) * steps + step;
            let mut rng =
                ChaCha8Rng::seed_from_u64(options.seed ^ global_step.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            let batch = batcher.batch(
                &plan,
                step,
                global_step,
                options.batch_size,
                options.tasks.negatives,
                negatives,
                &mut rng,
            );
            if tx.send((epoch, batch)).is_err() {
                return;
            }
        }
    }
}

/// Asks `on_progress` what to do, holding while it says pause.
fn obey(on_progress: &mut dyn FnMut(&Progress) -> Control, progress: &Progress) -> Control {
    let mut control = on_progress(progress);
    while control == Control::Pause {
        std::thread::sleep(Duration::from_millis(500));
        control = on_progress(progress);
    }
    control
}

/// Trains `model` on `view`; see the module docs.
///
/// # Errors
/// Fails when the PS refuses a request or stays unreachable.
#[allow(clippy::too_many_arguments)]
pub fn run(
    rt: &Handle,
    view: &TrainView<'_>,
    batcher: &Batcher<'_>,
    model: &Model,
    vs: &nn::VarStore,
    category_head: Option<&nn::Linear>,
    params: &Params,
    options: &RunOptions,
    on_progress: &mut dyn FnMut(&Progress) -> Control,
) -> anyhow::Result<RunSummary> {
    let steps = steps_per_epoch(batcher, view.positives.len(), options);
    let negatives = if options.popularity_negatives {
        NegativeSampler::popularity(&view.item_popularity)
    } else {
        NegativeSampler::uniform(view.item_popularity.len() as u32)
    };
    let started = Instant::now();
    let mut time = TimeSplit::default();
    let mut window = ProgressWindow::new(options.report_every);
    let mut dense = DenseSync::new(options.dense_sync_every);
    let mut pushes = PushQueue::new(rt, params, if options.deterministic { 0 } else { 2 });
    let (mut total_steps, mut total_edges, mut stopped) = (0u64, 0u64, false);
    let stop_sampling = AtomicBool::new(false);
    let result = std::thread::scope(|scope| -> anyhow::Result<()> {
        let (tx, rx) = sync_channel::<(u32, Batch)>(3);
        let (negatives, stop) = (&negatives, &stop_sampling);
        scope.spawn(move || sample_batches(view, batcher, options, steps, negatives, stop, tx));
        let mut prefetch = Prefetch::new(rt, view, params, rx, if options.deterministic { 1 } else { 2 });
        let trained = (|| -> anyhow::Result<()> {
            while let Some((epoch, batch, rows)) = prefetch.next(&mut time)? {
                // A cluster batch can hold no positive edge: nothing to train.
                if !batch.users.is_empty() {
                    let computed = Instant::now();
                    let output = train_step(
                        model,
                        category_head,
                        view,
                        &batch,
                        &rows,
                        &options.tasks,
                        options.now,
                        options.device,
                    );
                    dense.accumulate(vs);
                    time.compute += computed.elapsed().as_secs_f64();
                    window.record_losses(&output.losses);
                    let grads = output
                        .row_grads
                        .into_iter()
                        .map(|(t, local, g)| (t, view.to_global(t, &local), g))
                        .collect();
                    time.push += pushes.submit(grads, batch.step)?;
                }
                total_steps += 1;
                total_edges += batch.users.len() as u64;
                window.record_edges(batch.users.len() as u64);
                dense.after_step(total_steps, rt, params, vs, &mut time)?;
                let position =
                    Position::after(epoch, batch.step - u64::from(epoch) * steps + 1, steps, options.epochs);
                if position.completed_epoch.is_some() && !position.finished {
                    window.new_epoch();
                }
                if window.due(position.completed_epoch.is_some()) {
                    let progress = window.snapshot(position, time);
                    if obey(on_progress, &progress) == Control::Stop {
                        stopped = true;
                        return Ok(());
                    }
                }
            }
            Ok(())
        })();
        stop_sampling.store(true, Ordering::Relaxed);
        drop(prefetch);
        trained
    });
    let drained = pushes.drain();
    result?;
    time.push += drained?;
    Ok(RunSummary {
        steps: total_steps,
        edges: total_edges,
        time,
        wall_secs: started.elapsed().as_secs_f64(),
        stopped,
        last_losses: window.epoch_losses(),
    })
}
