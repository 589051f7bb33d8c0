//! Node features from training rows only: behaviour counts, activity,
//! conversion, recency, price bucket, profile columns and content vectors,
//! log-scaled and standardised per column.

use serde::{Deserialize, Serialize};

use crate::schema::Behavior;
use crate::split::Event;

/// A row-major feature matrix with column names.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FeatureMatrix {
    /// Rows (nodes).
    pub rows: usize,
    /// Column names.
    pub names: Vec<String>,
    /// `rows × names.len()` values.
    pub values: Vec<f32>,
    /// How each column was standardised (what a new node's raw values go through).
    pub scales: Vec<ColumnScale>,
    /// With prices: the thresholds of the price deciles (see [`price_decile`]).
    pub price_thresholds: Vec<f32>,
}

/// The mean and standard deviation a column was standardised with; a
/// missing value becomes the mean (0 after standardising), and a constant
/// column (std ≈ 0) is 0.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ColumnScale {
    /// Mean of the column's finite raw values.
    pub mean: f64,
    /// Their standard deviation.
    pub std: f64,
}

impl ColumnScale {
    /// `raw` standardised as the column was.
    pub fn apply(&self, raw: f32) -> f32 {
        let x = if raw.is_finite() { f64::from(raw) } else { self.mean };
        if self.std > 1e-12 {
            ((x - self.mean) / self.std) as f32
        } else {
            0.0
        }
    }
}

impl FeatureMatrix {
    /// An empty matrix with `rows` rows.
    pub fn new(rows: usize) -> Self {
        Self { rows, ..Self::default() }
    }

    /// Number of columns.
    pub fn dim(&self) -> usize {
        self.names.len()
    }

    /// Appends columns (`cols[c][r]`), replacing NaN by the column mean and
    /// standardising each to mean 0 and variance 1 (constant columns become 0).
    pub fn push_columns(&mut self, names: Vec<String>, mut cols: Vec<Vec<f32>>) {
        for col in &mut cols {
            self.scales.push(standardise(col));
        }
        let old = self.dim();
        let new = old + names.len();
        let mut values = Vec::with_capacity(self.rows * new);
        for r in 0..self.rows {
            values.extend_from_slice(&self.values[r * old..(r + 1) * old]);
            values.extend(cols.iter().map(|c| c[r]));
        }
        self.values = values;
        self.names.extend(names);
    }
}

fn standardise(col: &mut [f32]) -> ColumnScale {
    let finite: Vec<f64> = col.iter().filter(|v| v.is_finite()).map(|&v| f64::from(v)).collect();
    let n = finite.len().max(1) as f64;
    let mean = finite.iter().sum::<f64>() / n;
    let var = finite.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
    let scale = ColumnScale { mean, std: var.sqrt() };
    for v in col.iter_mut() {
        *v = scale.apply(*v);
    }
    scale
}

/// The price decile (0–9) of `price` under `thresholds` (the nine returned
/// by [`item_features`] with the features): the number of thresholds below
/// it; NaN for an unknown price.
pub fn price_decile(price: f32, thresholds: &[f32]) -> f32 {
    if !price.is_finite() || thresholds.is_empty() {
        return f32::NAN;
    }
    thresholds.iter().filter(|t| **t < price).count() as f32
}

/// The raw value of feature column `name` for an item that has no
/// training interaction: 0 for the popularity and conversion columns, the
/// price decile of `price`, and `content[c]` for `content_<c>`; NaN (the
/// column's mean) for what is not given.
fn new_item_raw(name: &str, price: Option<f32>, thresholds: &[f32], content: Option<&[f32]>) -> f32 {
    if let Some(c) = name.strip_prefix("content_").and_then(|c| c.parse::<usize>().ok()) {
        return content.and_then(|v| v.get(c).copied()).unwrap_or(f32::NAN);
    }
    match name {
        "price_decile" => price.map_or(f32::NAN, |p| price_decile(p, thresholds)),
        _ => 0.0,
    }
}

/// The encoded feature row of an item with no training interactions, from
/// its price and content vector, as the graph built its items' rows
/// (`names`, `scales` and `thresholds` from the graph's manifest).
pub fn encode_new_item(
    names: &[String],
    scales: &[ColumnScale],
    thresholds: &[f32],
    price: Option<f32>,
    content: Option<&[f32]>,
) -> Vec<f32> {
    names
        .iter()
        .zip(scales)
        .map(|(name, scale)| scale.apply(new_item_raw(name, price, thresholds, content)))
        .collect()
}

fn log1p(x: f32) -> f32 {
    x.max(0.0).ln_1p()
}

/// Per-node counts of training events by behaviour, with activity figures.
struct Activity {
    counts: Vec<[f32; 4]>,
    days: Vec<u32>,
    last_ts: Vec<i64>,
}

fn activity(events: impl Iterator<Item = (usize, Behavior, i64)>, n: usize) -> Activity {
    let mut act = Activity { counts: vec![[0.0; 4]; n], days: vec![0; n], last_ts: vec![i64::MIN; n] };
    // Active days: distinct (node, day) pairs, found by sorting.
    let mut day_pairs: Vec<(usize, i64)> = Vec::new();
    for (node, behavior, ts) in events {
        act.counts[node][behavior.index()] += 1.0;
        act.last_ts[node] = act.last_ts[node].max(ts);
        day_pairs.push((node, ts.div_euclid(86_400)));
    }
    day_pairs.sort_unstable();
    day_pairs.dedup();
    for (node, _) in day_pairs {
        act.days[node] += 1;
    }
    act
}

/// User features from training events: log counts per behaviour, the
/// buy/click ratio and, for a log with times (`now` = last training time),
/// log active days and log recency in days.
pub fn user_features(train: &[Event], num_users: usize, now: Option<i64>) -> FeatureMatrix {
    let act = activity(train.iter().map(|e| (e.user as usize, e.behavior, e.ts)), num_users);
    let mut cols: Vec<Vec<f32>> = (0..7).map(|_| Vec::with_capacity(num_users)).collect();
    for u in 0..num_users {
        let c = act.counts[u];
        for b in 0..4 {
            cols[b].push(log1p(c[b]));
        }
        cols[4].push(log1p(act.days[u] as f32));
        cols[5].push(c[Behavior::Buy.index()] / (c[Behavior::Click.index()] + 1.0));
        let recency = match now {
            Some(now) if act.last_ts[u] != i64::MIN => log1p((now - act.last_ts[u]) as f32 / 86_400.0),
            _ => f32::NAN,
        };
        cols[6].push(recency);
    }
    let mut names =
        vec!["n_click", "n_cart", "n_fav", "n_buy", "active_days", "buy_click_ratio", "recency_days"];
    if now.is_none() {
        // Without times every user has one "day" and no recency.
        for drop in [6, 4] {
            cols.remove(drop);
            names.remove(drop);
        }
    }
    let mut m = FeatureMatrix::new(num_users);
    m.push_columns(names.iter().map(|s| format!("log_{s}")).collect(), cols);
    m
}

/// Item features from training events: log popularity per behaviour,
/// conversion rate (buys per click), and the price decile when prices exist.
pub fn item_features(train: &[Event], num_items: usize, prices: Option<&[f32]>) -> FeatureMatrix {
    let act = activity(train.iter().map(|e| (e.item as usize, e.behavior, e.ts)), num_items);
    let mut cols: Vec<Vec<f32>> = (0..5).map(|_| Vec::with_capacity(num_items)).collect();
    for i in 0..num_items {
        let c = act.counts[i];
        for b in 0..4 {
            cols[b].push(log1p(c[b]));
        }
        cols[4].push(
            (c[Behavior::Buy.index()] + c[Behavior::Cart.index()] * 0.5) / (c[Behavior::Click.index()] + 1.0),
        );
    }
    let mut names: Vec<String> =
        ["pop_click", "pop_cart", "pop_fav", "pop_buy"].iter().map(|s| format!("log_{s}")).collect();
    names.push("conversion".into());
    let mut thresholds = Vec::new();
    if let Some(prices) = prices {
        names.push("price_decile".into());
        let mut known: Vec<f32> = prices.iter().copied().filter(|p| p.is_finite()).collect();
        known.sort_by(f32::total_cmp);
        // A price's decile is ⌊10 · #(known < price) / n⌋, at most 9: it
        // reaches k exactly when the known price of rank ⌈k·n/10⌉ − 1 is below it.
        let n = known.len();
        if n > 0 {
            thresholds = (1..10).map(|k| known[(k * n).div_ceil(10).max(1) - 1]).collect();
        }
        cols.push(prices.iter().map(|&p| price_decile(p, &thresholds)).collect());
    }
    let mut m = FeatureMatrix::new(num_items);
    m.push_columns(names, cols);
    m.price_thresholds = thresholds;
    m
}

/// Features of a grouping node (category, shop, brand): log number of member
/// items and log training interactions on them.
pub fn group_features(members: &[(u32, u32)], item_pop: &[f32], num_groups: usize) -> FeatureMatrix {
    let mut items = vec![0f32; num_groups];
    let mut pop = vec![0f32; num_groups];
    for &(item, group) in members {
        items[group as usize] += 1.0;
        pop[group as usize] += item_pop.get(item as usize).copied().unwrap_or(0.0);
    }
    let mut m = FeatureMatrix::new(num_groups);
    m.push_columns(
        vec!["log_num_items".into(), "log_interactions".into()],
        vec![items.into_iter().map(log1p).collect(), pop.into_iter().map(log1p).collect()],
    );
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn price_thresholds_give_the_deciles_the_graph_gave_and_a_new_item_encodes_alike() {
        let prices: Vec<f32> = (0..97).map(|i| ((i * 37) % 101) as f32 * 1.5).chain([f32::NAN]).collect();
        let m = item_features(&[], prices.len(), Some(&prices));
        let col = m.names.iter().position(|n| n == "price_decile").unwrap();
        let mut known: Vec<f32> = prices.iter().copied().filter(|p| p.is_finite()).collect();
        known.sort_by(f32::total_cmp);
        for (row, &p) in prices.iter().enumerate() {
            if p.is_finite() {
                let rank = known.partition_point(|k| *k < p);
                assert_eq!(price_decile(p, &m.price_thresholds), (rank * 10 / known.len()).min(9) as f32);
            }
            // Every item here has no interaction, so encoding its price again gives its row.
            let again = encode_new_item(&m.names, &m.scales, &m.price_thresholds, Some(p), None);
            assert_eq!(again.len(), m.dim());
            let stored = &m.values[row * m.dim()..(row + 1) * m.dim()];
            for (a, b) in again.iter().zip(stored) {
                assert!((a - b).abs() < 1e-5, "row {row}: {again:?} vs {stored:?}");
            }
            assert!(again[col].is_finite());
        }
    }

    #[test]
    fn columns_are_standardised_and_nan_filled() {
        let mut m = FeatureMatrix::new(3);
        m.push_columns(vec!["a".into()], vec![vec![1.0, f32::NAN, 3.0]]);
        assert_eq!(m.dim(), 1);
        assert!((m.values[0] + 1.0).abs() < 1e-5);
        assert!(m.values[1].abs() < 1e-6);
        assert!((m.values[2] - 1.0).abs() < 1e-5);
    }
}
