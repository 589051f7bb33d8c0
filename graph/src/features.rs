//! Node features from training rows only: behaviour counts, activity,
//! conversion, recency, price bucket, profile columns and content vectors,
//! log-scaled and standardised per column.

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
}

impl FeatureMatrix {
    /// An empty matrix with `rows` rows.
    pub fn new(rows: usize) -> Self {
        Self { rows, names: Vec::new(), values: Vec::new() }
    }

    /// Number of columns.
    pub fn dim(&self) -> usize {
        self.names.len()
    }

    /// Appends columns (`cols[c][r]`), replacing NaN by the column mean and
    /// standardising each to mean 0 and variance 1 (constant columns become 0).
    pub fn push_columns(&mut self, names: Vec<String>, mut cols: Vec<Vec<f32>>) {
        for col in &mut cols {
            standardise(col);
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

fn standardise(col: &mut [f32]) {
    let finite: Vec<f64> = col.iter().filter(|v| v.is_finite()).map(|&v| f64::from(v)).collect();
    let n = finite.len().max(1) as f64;
    let mean = finite.iter().sum::<f64>() / n;
    let var = finite.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
    let std = var.sqrt();
    for v in col.iter_mut() {
        let x = if v.is_finite() { f64::from(*v) } else { mean };
        *v = if std > 1e-12 { ((x - mean) / std) as f32 } else { 0.0 };
    }
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
    if let Some(prices) = prices {
        names.push("price_decile".into());
        let mut known: Vec<f32> = prices.iter().copied().filter(|p| p.is_finite()).collect();
        known.sort_by(f32::total_cmp);
        cols.push(
            prices
                .iter()
                .map(|p| {
                    if !p.is_finite() || known.is_empty() {
                        return f32::NAN;
                    }
                    let rank = known.partition_point(|k| k < p);
                    (rank * 10 / known.len()).min(9) as f32
                })
                .collect(),
        );
    }
    let mut m = FeatureMatrix::new(num_items);
    m.push_columns(names, cols);
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
    fn columns_are_standardised_and_nan_filled() {
        let mut m = FeatureMatrix::new(3);
        m.push_columns(vec!["a".into()], vec![vec![1.0, f32::NAN, 3.0]]);
        assert_eq!(m.dim(), 1);
        assert!((m.values[0] + 1.0).abs() < 1e-5);
        assert!(m.values[1].abs() < 1e-6);
        assert!((m.values[2] - 1.0).abs() < 1e-5);
    }
}
