//! Dense sync: the dense weights' gradients are summed over steps, pushed
//! every `every` steps, and the weights then refreshed from the PS.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::Context as _;
use tch::nn;
use tokio::runtime::Handle;

use crate::params::{named, shape, values, Params};
use crate::train::run::TimeSplit;

/// Summed dense gradients since the last sync.
pub struct DenseSync {
    every: u64,
    sums: BTreeMap<String, Vec<f32>>,
}

impl DenseSync {
    /// Syncs every `every` steps (at least 1).
    pub fn new(every: u32) -> Self {
        Self { every: u64::from(every.max(1)), sums: BTreeMap::new() }
    }

    /// Adds the gradients left in `vs` by a step, then zeroes them.
    pub fn accumulate(&mut self, vs: &nn::VarStore) {
        for (name, var) in named(vs) {
            let grad = var.grad();
            if grad.defined() {
                let g = values(&grad);
                let sum = self.sums.entry(name).or_insert_with(|| vec![0.0; g.len()]);
                for (s, v) in sum.iter_mut().zip(g) {
                    *s += v;
                }
            }
        }
        vs.trainable_variables().iter().for_each(|v| {
            let mut g = v.grad();
            if g.defined() {
                let _ = g.zero_();
            }
        });
    }

    /// After step number `steps` (from 1): when a sync is due and there is
    /// something to push, pushes the sums and refreshes `vs` from the PS.
    /// Push and pull times are added to `time`.
    ///
    /// # Errors
    /// Fails when the PS refuses the push or the refresh.
    pub fn after_step(
        &mut self,
        steps: u64,
        rt: &Handle,
        params: &Params,
        vs: &nn::VarStore,
        time: &mut TimeSplit,
    ) -> anyhow::Result<()> {
        if !steps.is_multiple_of(self.every) || self.sums.is_empty() {
            return Ok(());
        }
        let synced = Instant::now();
        let mut vars = named(vs);
        let grads = std::mem::take(&mut self.sums)
            .into_iter()
            .filter_map(|(name, g)| vars.remove(&name).map(|var| (name, shape(&var), g)))
            .collect();
        rt.block_on(params.push_dense(grads)).context("push dense gradients")?;
        time.push += synced.elapsed().as_secs_f64();
        let refreshed = Instant::now();
        rt.block_on(params.pull_dense(vs)).context("refresh dense weights")?;
        time.pull += refreshed.elapsed().as_secs_f64();
        Ok(())
    }
}
