//! An embedding table: rows keyed by id in striped slabs, so concurrent
//! pushes to different stripes never contend and no global lock exists. A
//! push locks the stripes it touches in ascending order (no deadlock) and
//! holds them while it applies, so it is seen completely or not at all.
//!
//! Each stripe keeps its rows in one contiguous slab (values then optimizer
//! state, row after row) with a small id → slot index beside it. Requests
//! first resolve every slot of a stripe, then walk the rows while
//! prefetching the ones a few places ahead, so the memory latency of random
//! rows overlaps instead of adding up.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;

use rustc_hash::FxHashMap;

use crate::error::{PsError, Result};
use crate::init::Init;
use crate::optimizer::Optimizer;
use ps_client::routing::mix64;

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

/// One row copied out of or into a table (checkpoints, exports, tests): its
/// values followed by its optimizer state.
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
}

/// How many rows ahead of the one being applied are prefetched.
const PREFETCH_AHEAD: usize = 4;

/// One stripe's rows: `width` floats per slot (values, then state).
#[derive(Debug, Default)]
struct Stripe {
    index: FxHashMap<u64, u32>,
    ids: Vec<u64>,
    steps: Vec<u64>,
    data: Vec<f32>,
}

impl Stripe {
    fn row(&self, slot: u32, width: usize) -> &[f32] {
        let at = slot as usize * width;
        &self.data[at..at + width]
    }

    fn insert(&mut self, id: u64, row: &Row) -> u32 {
        let slot = self.ids.len() as u32;
        self.index.insert(id, slot);
        self.ids.push(id);
        self.steps.push(row.step);
        self.data.extend_from_slice(&row.data);
        slot
    }
}

/// Asks the CPU to bring `row` into cache ahead of its use.
#[inline]
fn prefetch(row: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    for line in row.chunks(16) {
        // SAFETY: SSE is part of the x86_64 baseline, and a prefetch never
        // faults or changes memory; the pointer is in bounds anyway.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(line.as_ptr().cast())
        };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = row;
}

/// Request positions grouped by stripe (a counting sort): `order` lists the
/// positions of stripe s at `order[starts[s]..starts[s + 1]]`, in request order.
struct ByStripe {
    /// The stripe of each request position.
    stripes: Vec<u8>,
    order: Vec<u32>,
    starts: [u32; NUM_STRIPES + 1],
}

impl ByStripe {
    fn new(ids: &[u64]) -> Self {
        let stripes: Vec<u8> = ids.iter().map(|&id| stripe_of(id) as u8).collect();
        let mut starts = [0u32; NUM_STRIPES + 1];
        for &s in &stripes {
            starts[s as usize + 1] += 1;
        }
        for s in 0..NUM_STRIPES {
            starts[s + 1] += starts[s];
        }
        let mut next = starts;
        let mut order = vec![0u32; ids.len()];
        for (k, &s) in stripes.iter().enumerate() {
            order[next[s as usize] as usize] = k as u32;
            next[s as usize] += 1;
        }
        Self { stripes, order, starts }
    }

    /// The non-empty stripes, ascending, with their positions.
    fn groups(&self) -> impl Iterator<Item = (usize, &[u32])> {
        (0..NUM_STRIPES)
            .map(|s| (s, &self.order[self.starts[s] as usize..self.starts[s + 1] as usize]))
            .filter(|(_, ks)| !ks.is_empty())
    }
}

/// An embedding table.
#[derive(Debug)]
pub struct Table {
    config: TableConfig,
    spec: tessera_proto::ps::v1::TableSpec,
    width: usize,
    stripes: Vec<RwLock<Stripe>>,
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
            width: config.dim + config.optimizer.state_len(config.dim),
            config,
            spec,
            stripes: (0..NUM_STRIPES).map(|_| RwLock::new(Stripe::default())).collect(),
            rows_pulled: AtomicU64::new(0),
            rows_pushed: AtomicU64::new(0),
        }
    }

    /// The spec it was created from (kept for checkpoints).
    pub fn spec(&self) -> &tessera_proto::ps::v1::TableSpec {
        &self.spec
    }

    /// Replaces every row (restore). The table is unchanged when a row
    /// has the wrong number of values or of optimizer state values.
    ///
    /// # Errors
    /// `InvalidArgument` naming the first row of the wrong shape.
    pub fn replace_rows(&self, rows: impl IntoIterator<Item = (u64, Row)>) -> Result<()> {
        let mut fresh: Vec<Stripe> = (0..NUM_STRIPES).map(|_| Stripe::default()).collect();
        for (id, row) in rows {
            if row.dim != self.config.dim || row.data.len() != self.width {
                return Err(PsError::InvalidArgument(format!(
                    "row {id} of {}: {} values and {} state values, the table needs {} and {}",
                    self.config.name,
                    row.dim,
                    row.data.len() - row.dim,
                    self.config.dim,
                    self.width - self.config.dim
                )));
            }
            fresh[stripe_of(id)].insert(id, &row);
        }
        for (stripe, rows) in self.stripes.iter().zip(fresh) {
            *stripe.write().unwrap_or_else(|p| p.into_inner()) = rows;
        }
        Ok(())
    }

    /// Its configuration.
    pub fn config(&self) -> &TableConfig {
        &self.config
    }

    /// Writes the initial values of row `id` (never pushed) into `out`.
    fn fill_initial(&self, id: u64, out: &mut [f32]) {
        self.config.init.0.fill(self.config.init.1, &self.config.name, id, out);
    }

    fn initial_row(&self, id: u64) -> Row {
        let dim = self.config.dim;
        let mut values = vec![0.0; dim];
        self.fill_initial(id, &mut values);
        Row::new(&values, &self.config.optimizer.init_state(dim), 0)
    }

    /// Appends the rows of `ids` (materialised or initial values) to `out`,
    /// `dim` values per id, in request order. Every stripe involved is
    /// read-locked for the whole call, so the rows form one consistent view.
    pub fn pull(&self, ids: &[u64], out: &mut Vec<f32>) {
        let (dim, width) = (self.config.dim, self.width);
        self.rows_pulled.fetch_add(ids.len() as u64, Ordering::Relaxed);
        let groups = ByStripe::new(ids);
        // Ascending order, as pushes lock: no deadlock.
        let mut guards: Vec<Option<_>> = (0..NUM_STRIPES).map(|_| None).collect();
        for (s, _) in groups.groups() {
            guards[s] = Some(self.stripes[s].read().unwrap_or_else(|p| p.into_inner()));
        }
        let rows: Vec<Option<&[f32]>> = ids
            .iter()
            .zip(&groups.stripes)
            .map(|(id, &s)| {
                let stripe = guards[s as usize].as_deref()?;
                stripe.index.get(id).map(|&slot| &stripe.row(slot, width)[..dim])
            })
            .collect();
        out.reserve(ids.len() * dim);
        for (k, row) in rows.iter().enumerate() {
            if let Some(Some(ahead)) = rows.get(k + PREFETCH_AHEAD) {
                prefetch(ahead);
            }
            match row {
                Some(row) => out.extend_from_slice(row),
                None => {
                    let at = out.len();
                    out.resize(at + dim, 0.0);
                    self.fill_initial(ids[k], &mut out[at..]);
                }
            }
        }
    }

    /// Applies one validated push: `grads` holds `dim` values per id, ids unique.
    pub fn push(&self, ids: &[u64], grads: &[f32]) {
        let (dim, width) = (self.config.dim, self.width);
        let groups = ByStripe::new(ids);
        // Lock every touched stripe, in ascending order, before changing any.
        let mut guards: Vec<_> = groups
            .groups()
            .map(|(s, ks)| (ks, self.stripes[s].write().unwrap_or_else(|p| p.into_inner())))
            .collect();
        let mut slots: Vec<u32> = Vec::new();
        for (ks, stripe) in &mut guards {
            slots.clear();
            for &k in ks.iter() {
                let id = ids[k as usize];
                let slot = match stripe.index.get(&id) {
                    Some(&slot) => slot,
                    None => stripe.insert(id, &self.initial_row(id)),
                };
                slots.push(slot);
            }
            for (j, (&k, &slot)) in ks.iter().zip(&slots).enumerate() {
                if let Some(&ahead) = slots.get(j + PREFETCH_AHEAD) {
                    prefetch(stripe.row(ahead, width));
                }
                let (k, at) = (k as usize, slot as usize * width);
                let Stripe { data, steps, .. } = &mut **stripe;
                let (values, state) = data[at..at + width].split_at_mut(dim);
                let step = &mut steps[slot as usize];
                self.config.optimizer.apply(values, state, step, &grads[k * dim..(k + 1) * dim]);
            }
        }
        self.rows_pushed.fetch_add(ids.len() as u64, Ordering::Relaxed);
    }

    /// Sets the rows of `ids` (unique) to `values` (`dim` each), their
    /// optimizer state afresh: a resumed job's start.
    pub fn assign(&self, ids: &[u64], values: &[f32]) {
        let (dim, width) = (self.config.dim, self.width);
        let state = self.config.optimizer.init_state(dim);
        let groups = ByStripe::new(ids);
        let mut guards: Vec<_> = groups
            .groups()
            .map(|(s, ks)| (ks, self.stripes[s].write().unwrap_or_else(|p| p.into_inner())))
            .collect();
        for (ks, stripe) in &mut guards {
            for &k in ks.iter() {
                let (k, id) = (k as usize, ids[k as usize]);
                let row = Row::new(&values[k * dim..(k + 1) * dim], &state, 0);
                match stripe.index.get(&id) {
                    Some(&slot) => {
                        let at = slot as usize * width;
                        stripe.data[at..at + width].copy_from_slice(&row.data);
                        stripe.steps[slot as usize] = 0;
                    }
                    None => {
                        stripe.insert(id, &row);
                    }
                }
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
        self.stripes.iter().map(|s| s.read().unwrap_or_else(|p| p.into_inner()).ids.len()).sum()
    }

    /// A copy of every materialised row (for checkpoints and tests).
    pub fn snapshot(&self) -> HashMap<u64, Row> {
        let (dim, width) = (self.config.dim, self.width);
        let mut all = HashMap::new();
        for stripe in &self.stripes {
            let stripe = stripe.read().unwrap_or_else(|p| p.into_inner());
            for (slot, (&id, &step)) in stripe.ids.iter().zip(&stripe.steps).enumerate() {
                let row = stripe.row(slot as u32, width);
                all.insert(id, Row::new(&row[..dim], &row[dim..], step));
            }
        }
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sgd_table(dim: usize) -> Table {
        let config = TableConfig {
            name: "t".into(),
            dim,
            optimizer: Optimizer::Sgd { lr: 1.0, weight_decay: 0.0 },
            init: (Init::Uniform(0.5), 7),
            num_ids: 0,
            non_finite: NonFinite::Reject,
        };
        Table::new(config, tessera_proto::ps::v1::TableSpec::default())
    }

    proptest! {
        /// Pushes of unique ids in any order, new or not, then pulls with
        /// repeats, match a plain map of rows.
        #[test]
        fn slabs_match_a_map_of_rows(pushes in proptest::collection::vec(proptest::collection::btree_set(0u64..300, 0..40), 1..12), pulls in proptest::collection::vec(0u64..400, 0..100)) {
            let dim = 3;
            let table = sgd_table(dim);
            let mut model: HashMap<u64, Vec<f32>> = HashMap::new();
            let initial = |id: u64| {
                let mut v = vec![0.0; dim];
                Init::Uniform(0.5).fill(7, "t", id, &mut v);
                v
            };
            for (step, ids) in pushes.iter().enumerate() {
                // Reverse order within a push: the table must not rely on sorted ids.
                let ids: Vec<u64> = ids.iter().rev().copied().collect();
                let grads: Vec<f32> = (0..ids.len() * dim).map(|i| (i + step) as f32 * 0.125).collect();
                table.push(&ids, &grads);
                for (k, id) in ids.iter().enumerate() {
                    let row = model.entry(*id).or_insert_with(|| initial(*id));
                    row.iter_mut().zip(&grads[k * dim..(k + 1) * dim]).for_each(|(w, g)| *w -= g);
                }
            }
            let mut out = vec![9.0; 2];
            table.pull(&pulls, &mut out);
            prop_assert_eq!(out.len(), 2 + pulls.len() * dim);
            for (k, id) in pulls.iter().enumerate() {
                let want = model.get(id).cloned().unwrap_or_else(|| initial(*id));
                prop_assert_eq!(&out[2 + k * dim..2 + (k + 1) * dim], &want[..], "id {}", id);
            }
            prop_assert_eq!(table.num_rows(), model.len());
            let snapshot = table.snapshot();
            for (id, row) in &snapshot {
                prop_assert_eq!(row.values(), &model[id][..]);
            }
        }
    }

    #[test]
    fn restore_refuses_rows_of_the_wrong_shape_and_keeps_the_table() {
        let table = sgd_table(2);
        table.push(&[4, 5], &[1.0, 1.0, 2.0, 2.0]);
        let before = table.snapshot();
        let rows = vec![(1, Row::new(&[0.5, 0.5], &[], 3)), (2, Row::new(&[0.5, 0.5], &[0.1, 0.1], 1))];
        let err = table.replace_rows(rows).unwrap_err().to_string();
        assert!(err.contains("row 2 of t"), "{err}");
        assert_eq!(table.snapshot(), before);
        table.replace_rows(before.clone()).unwrap();
        assert_eq!(table.snapshot(), before);
    }
}
