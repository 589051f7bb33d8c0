//! An embedding table: rows keyed by id in striped hash maps, so concurrent
//! pushes to different stripes never contend and no global lock exists. A
//! push locks the stripes it touches in ascending order (no deadlock) and
//! holds them while it applies, so it is seen completely or not at all.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;

use rustc_hash::FxHashMap;

use crate::init::Init;
use crate::optimizer::Optimizer;
use crate::routing::mix64;

/// Number of lock stripes per table.
pub const NUM_STRIPES: usize = 64;

/// What happens to a NaN or infinite gradient.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum NonFinite {
    /// Refuse the push.
    Reject,
    /// Replace NaN by 0 and clip to ±bound.
    Clip(f32),
}

/// A table's validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct TableConfig {
    /// Name.
    pub name: String,
    /// Values per row.
    pub dim: usize,
    /// Optimizer.
    pub optimizer: Optimizer,
    /// Initialiser and its seed.
    pub init: (Init, u64),
    /// Exclusive id bound; 0 = none.
    pub num_ids: u64,
    /// Non-finite gradient policy.
    pub non_finite: NonFinite,
}

/// One materialised row: its values followed by its optimizer state, in
/// one allocation so an update touches one place in memory.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    data: Box<[f32]>,
    dim: usize,
    /// Updates applied to this row.
    pub step: u64,
}

impl Row {
    /// A row from its values and optimizer state.
    pub fn new(values: &[f32], state: &[f32], step: u64) -> Self {
        Self { data: [values, state].concat().into(), dim: values.len(), step }
    }

    /// Parameter values.
    pub fn values(&self) -> &[f32] {
        &self.data[..self.dim]
    }

    /// Optimizer state.
    pub fn state(&self) -> &[f32] {
        &self.data[self.dim..]
    }

    /// Values and state, mutable.
    pub fn split_mut(&mut self) -> (&mut [f32], &mut [f32], &mut u64) {
        let (values, state) = self.data.split_at_mut(self.dim);
        (values, state, &mut self.step)
    }
}

/// An embedding table.
#[derive(Debug)]
pub struct Table {
    config: TableConfig,
    spec: tessera_proto::ps::v1::TableSpec,
    stripes: Vec<RwLock<FxHashMap<u64, Row>>>,
    rows_pulled: AtomicU64,
    rows_pushed: AtomicU64,
}

fn stripe_of(id: u64) -> usize {
    (mix64(id) % NUM_STRIPES as u64) as usize
}

impl Table {
    /// An empty table built from `spec`, already validated into `config`.
    pub fn new(config: TableConfig, spec: tessera_proto::ps::v1::TableSpec) -> Self {
        Self {
            config,
            spec,
            stripes: (0..NUM_STRIPES).map(|_| RwLock::new(FxHashMap::default())).collect(),
            rows_pulled: AtomicU64::new(0),
            rows_pushed: AtomicU64::new(0),
        }
    }

    /// The spec it was created from (kept for checkpoints).
    pub fn spec(&self) -> &tessera_proto::ps::v1::TableSpec {
        &self.spec
    }

    /// Replaces every row (restore). Rows must have the table's dim.
    pub fn replace_rows(&self, rows: impl IntoIterator<Item = (u64, Row)>) {
        let mut fresh: Vec<FxHashMap<u64, Row>> = (0..NUM_STRIPES).map(|_| FxHashMap::default()).collect();
        for (id, row) in rows {
            fresh[stripe_of(id)].insert(id, row);
        }
        for (stripe, rows) in self.stripes.iter().zip(fresh) {
            *stripe.write().unwrap_or_else(|p| p.into_inner()) = rows;
        }
    }

    /// Its configuration.
    pub fn config(&self) -> &TableConfig {
        &self.config
    }

    /// Reads rows (materialised or initial values) into `out`, `dim` values per id.
    pub fn pull(&self, ids: &[u64], out: &mut Vec<f32>) {
        let dim = self.config.dim;
        self.rows_pulled.fetch_add(ids.len() as u64, Ordering::Relaxed);
        out.clear();
        out.resize(ids.len() * dim, 0.0);
        // Visit ids stripe by stripe so each stripe is locked once.
        let mut by_stripe: Vec<Vec<usize>> = vec![Vec::new(); NUM_STRIPES];
        for (k, id) in ids.iter().enumerate() {
            by_stripe[stripe_of(*id)].push(k);
        }
        for (s, ks) in by_stripe.iter().enumerate().filter(|(_, ks)| !ks.is_empty()) {
            let stripe = self.stripes[s].read().unwrap_or_else(|p| p.into_inner());
            for &k in ks {
                let slot = &mut out[k * dim..(k + 1) * dim];
                match stripe.get(&ids[k]) {
                    Some(row) => slot.copy_from_slice(row.values()),
                    None => self.config.init.0.fill(self.config.init.1, &self.config.name, ids[k], slot),
                }
            }
        }
    }

    /// Applies one validated push: `grads` holds `dim` values per id, ids unique.
    pub fn push(&self, ids: &[u64], grads: &[f32]) {
        let dim = self.config.dim;
        let mut by_stripe: Vec<Vec<usize>> = vec![Vec::new(); NUM_STRIPES];
        for (k, id) in ids.iter().enumerate() {
            by_stripe[stripe_of(*id)].push(k);
        }
        // Lock every touched stripe, in ascending order, before changing any.
        let mut guards: Vec<_> = by_stripe
            .iter()
            .enumerate()
            .filter(|(_, ks)| !ks.is_empty())
            .map(|(s, ks)| (ks, self.stripes[s].write().unwrap_or_else(|p| p.into_inner())))
            .collect();
        for (ks, stripe) in &mut guards {
            for &k in ks.iter() {
                let id = ids[k];
                let row = stripe.entry(id).or_insert_with(|| {
                    let mut values = vec![0.0; dim];
                    self.config.init.0.fill(self.config.init.1, &self.config.name, id, &mut values);
                    Row::new(&values, &self.config.optimizer.init_state(dim), 0)
                });
                let (values, state, step) = row.split_mut();
                self.config.optimizer.apply(values, state, step, &grads[k * dim..(k + 1) * dim]);
            }
        }
        self.rows_pushed.fetch_add(ids.len() as u64, Ordering::Relaxed);
    }

    /// Rows served by pulls and rows updated by pushes since start.
    pub fn traffic(&self) -> (u64, u64) {
        (self.rows_pulled.load(Ordering::Relaxed), self.rows_pushed.load(Ordering::Relaxed))
    }

    /// Number of materialised rows.
    pub fn num_rows(&self) -> usize {
        self.stripes.iter().map(|s| s.read().unwrap_or_else(|p| p.into_inner()).len()).sum()
    }

    /// A copy of every materialised row (for checkpoints and tests).
    pub fn snapshot(&self) -> HashMap<u64, Row> {
        let mut all = HashMap::new();
        for stripe in &self.stripes {
            let stripe = stripe.read().unwrap_or_else(|p| p.into_inner());
            all.extend(stripe.iter().map(|(k, v)| (*k, v.clone())));
        }
        all
    }
}
