//! The training loop. A sampler thread builds batches ahead; each batch's
//! rows are pulled on the async runtime while earlier steps compute; pushes
//! of row gradients run in the background (at most two in flight); dense
//! gradients are pushed and the dense weights refreshed every
//! `dense_sync_every` steps. The caller sees progress through a callback that
//! can pause or stop training. Time is split into sample, pull, compute,
//! push and wait.

use std::collections::{BTreeMap, VecDeque};
use std::sync::mpsc::sync_channel;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tch::{nn, Device};
use tessera_graph::sample::WalkParams;
use tessera_graph::schema::NodeType;
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

use crate::model::Model;
use crate::params::{named, shape, values, Params};
use crate::train::batch::{Batch, Batcher};
use crate::train::negatives::NegativeSampler;
use crate::train::step::{train_step, Rows, StepTasks};
use crate::view::TrainView;

/// Where the step time went, in seconds (the type the coordinator's report uses too).
pub use coordinator::report::history::TimeSplit;

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

struct Pulled {
    batch: Batch,
    rows: JoinHandle<anyhow::Result<(Rows, f64)>>,
}

fn spawn_pull(rt: &Handle, view: &TrainView<'_>, params: &Params, batch: Batch) -> Pulled {
    let ids: Vec<(NodeType, Vec<u64>)> =
        NodeType::ALL.iter().map(|&t| (t, view.to_global(t, &batch.block.nodes[t.index()]))).collect();
    let params = params.clone();
    let clock = batch.step;
    let rows = rt.spawn(async move {
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
    Pulled { batch, rows }
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
    let num_negatives = options.tasks.negatives;
    let negatives = if options.popularity_negatives {
        NegativeSampler::popularity(&view.item_popularity)
    } else {
        NegativeSampler::uniform(view.item_popularity.len() as u32)
    };
    let started = Instant::now();
    let mut time = TimeSplit::default();
    let mut summary_losses: BTreeMap<String, (f64, u64)> = BTreeMap::new();
    let mut window_losses: BTreeMap<String, (f64, u64)> = BTreeMap::new();
    let mut window_edges = 0u64;
    let mut window_start = Instant::now();
    let mut total_steps = 0u64;
    let mut total_edges = 0u64;
    let mut stopped = false;
    let mut dense_acc: BTreeMap<String, Vec<f32>> = BTreeMap::new();
    let mut pushes: VecDeque<JoinHandle<anyhow::Result<f64>>> = VecDeque::new();
    let (start_epoch, start_step) = options.start;
    let stop_sampling = std::sync::atomic::AtomicBool::new(false);
    let stop_ref = &stop_sampling;
    let result = std::thread::scope(|scope| -> anyhow::Result<()> {
        let (batch_tx, batch_rx) = sync_channel::<(u32, Batch)>(3);
        scope.spawn(move || {
            for epoch in start_epoch..options.epochs {
                let plan = batcher.plan(view, options.seed, epoch);
                let first = if epoch == start_epoch { start_step } else { 0 };
                for step in first..steps {
                    if stop_ref.load(std::sync::atomic::Ordering::Relaxed) {
                        return;
                    }
                    let global_step = u64::from(epoch) * steps + step;
                    let mut rng = ChaCha8Rng::seed_from_u64(
                        options.seed ^ global_step.wrapping_mul(0x9e37_79b9_7f4a_7c15),
                    );
                    let batch = batcher.batch(
                        &plan,
                        step,
                        global_step,
                        options.batch_size,
                        num_negatives,
                        &negatives,
                        &mut rng,
                    );
                    if batch_tx.send((epoch, batch)).is_err() {
                        return;
                    }
                }
            }
        });
        let mut pending: VecDeque<(u32, Pulled)> = VecDeque::new();
        let mut exhausted = false;
        loop {
            let depth = if options.deterministic { 1 } else { 2 };
            while pending.len() < depth && !exhausted {
                match batch_rx.recv() {
                    Ok((epoch, batch)) => {
                        time.sample += batch.sample_secs;
                        pending.push_back((epoch, spawn_pull(rt, view, params, batch)));
                    }
                    Err(_) => exhausted = true,
                }
            }
            let Some((epoch, pulled)) = pending.pop_front() else { break };
            let waited = Instant::now();
            let (rows, pull_secs) = rt.block_on(pulled.rows).context("pull task")??;
            time.wait += waited.elapsed().as_secs_f64();
            time.pull += pull_secs;
            let batch = pulled.batch;
            let computed = Instant::now();
            // A cluster batch can hold no positive edge: nothing to train.
            if !batch.users.is_empty() {
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
                // Dense gradients, accumulated until the next sync.
                for (name, var) in named(vs) {
                    let grad = var.grad();
                    if grad.defined() {
                        let g = values(&grad);
                        let acc = dense_acc.entry(name).or_insert_with(|| vec![0.0; g.len()]);
                        for (a, v) in acc.iter_mut().zip(g) {
                            *a += v;
                        }
                    }
                }
                vs.trainable_variables().iter().for_each(|v| {
                    let mut g = v.grad();
                    if g.defined() {
                        let _ = g.zero_();
                    }
                });
                time.compute += computed.elapsed().as_secs_f64();
                for (name, value) in &output.losses {
                    for map in [&mut window_losses, &mut summary_losses] {
                        let e = map.entry(name.clone()).or_insert((0.0, 0));
                        e.0 += value;
                        e.1 += 1;
                    }
                }
                // Row gradients go out in the background.
                let grads: Vec<(NodeType, Vec<u64>, Vec<f32>)> = output
                    .row_grads
                    .into_iter()
                    .map(|(t, local, g)| (t, view.to_global(t, &local), g))
                    .collect();
                let p = params.clone();
                let clock = batch.step;
                pushes.push_back(rt.spawn(async move {
                    let started = Instant::now();
                    for (t, ids, g) in grads {
                        p.push(t, &ids, &g, clock).await.with_context(|| format!("push {t} gradients"))?;
                    }
                    Ok(started.elapsed().as_secs_f64())
                }));
                let in_flight = if options.deterministic { 0 } else { 2 };
                while pushes.len() > in_flight {
                    let oldest = pushes.pop_front().expect("non-empty");
                    time.push += rt.block_on(oldest).context("push task")??;
                }
            }
            total_steps += 1;
            let edges = batch.users.len() as u64;
            total_edges += edges;
            window_edges += edges;
            if total_steps.is_multiple_of(u64::from(options.dense_sync_every.max(1))) && !dense_acc.is_empty()
            {
                let synced = Instant::now();
                let grads = std::mem::take(&mut dense_acc)
                    .into_iter()
                    .map(|(name, g)| {
                        let var = named(vs).remove(&name).expect("variable exists");
                        (name, shape(&var), g)
                    })
                    .collect();
                rt.block_on(params.push_dense(grads)).context("push dense gradients")?;
                time.push += synced.elapsed().as_secs_f64();
                let refreshed = Instant::now();
                rt.block_on(params.pull_dense(vs)).context("refresh dense weights")?;
                time.pull += refreshed.elapsed().as_secs_f64();
            }
            let step_in_epoch = batch.step - u64::from(epoch) * steps + 1;
            let epoch_done = step_in_epoch == steps;
            if epoch_done && epoch + 1 < options.epochs {
                summary_losses.clear();
            }
            let last = epoch_done && epoch + 1 == options.epochs;
            // Every epoch's end is reported, so the caller can validate.
            if window_start.elapsed() >= options.report_every || epoch_done {
                let secs = window_start.elapsed().as_secs_f64().max(1e-9);
                let progress = Progress {
                    epoch: if epoch_done && !last { epoch + 1 } else { epoch },
                    step: if epoch_done && !last { 0 } else { step_in_epoch },
                    steps_per_epoch: steps,
                    losses: window_losses.iter().map(|(k, (s, n))| (k.clone(), s / *n as f64)).collect(),
                    edges_per_sec: window_edges as f64 / secs,
                    time,
                    finished: last,
                    completed_epoch: epoch_done.then_some(epoch),
                };
                window_losses.clear();
                window_edges = 0;
                window_start = Instant::now();
                let mut control = on_progress(&progress);
                while control == Control::Pause {
                    std::thread::sleep(Duration::from_millis(500));
                    control = on_progress(&progress);
                }
                if control == Control::Stop {
                    stopped = true;
                    break;
                }
            }
        }
        stop_ref.store(true, std::sync::atomic::Ordering::Relaxed);
        drop(batch_rx);
        Ok(())
    });
    for push in pushes {
        time.push += rt.block_on(push).context("push task")??;
    }
    result?;
    Ok(RunSummary {
        steps: total_steps,
        edges: total_edges,
        time,
        wall_secs: started.elapsed().as_secs_f64(),
        stopped,
        last_losses: summary_losses.into_iter().map(|(k, (s, n))| (k, s / n as f64)).collect(),
    })
}
