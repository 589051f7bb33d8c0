//! Sparse item → item weights, the co-occurrence pass both classic models
//! are built on, and the scores they give.

use crate::eval::scores::{pairs_from_rows, Scores};

/// For each item i, the items j it votes for, with weights: a user's score
/// for j is the sum over the user's training items i of w(i → j), each
/// vote times `recency`^r, r the rank of i's last interaction counted back
/// from the user's latest (dense: items of the same time share a rank).
#[derive(Debug, Clone, PartialEq)]
pub struct ItemWeights {
    /// `out[i]`: (j, w(i → j)), sorted by j.
    pub out: Vec<Vec<(u32, f32)>>,
    /// The decay per step back in the history; 1 weighs all items alike.
    pub recency: f32,
}

impl ItemWeights {
    /// Weights from per-target lists: `incoming[j]` holds (i, w(i → j)).
    pub fn from_incoming(incoming: Vec<Vec<(u32, f32)>>) -> Self {
        let mut out = vec![Vec::new(); incoming.len()];
        for (j, list) in incoming.into_iter().enumerate() {
            for (i, w) in list {
                out[i as usize].push((j as u32, w));
            }
        }
        Self::from_outgoing(out)
    }

    /// Weights from per-source lists: `out[i]` holds (j, w(i → j)).
    pub fn from_outgoing(mut out: Vec<Vec<(u32, f32)>>) -> Self {
        for list in &mut out {
            list.sort_unstable_by_key(|e| e.0);
        }
        Self { out, recency: 1.0 }
    }

    /// The same weights with the history decayed by `recency` per step back.
    pub fn with_recency(self, recency: f32) -> Self {
        Self { recency, ..self }
    }

    /// The number of weights kept.
    pub fn len(&self) -> usize {
        self.out.iter().map(Vec::len).sum()
    }

    /// Whether no weight is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds the votes of `history` into `scores` (one slot per item);
    /// `times` holds the time of each history item (empty: unknown, all
    /// weigh alike).
    pub fn score_into(&self, history: &[u32], times: &[i64], scores: &mut [f32]) {
        let decay = self.history_weights(times, history.len());
        for (k, &i) in history.iter().enumerate() {
            let v = decay.as_ref().map_or(1.0, |d| d[k]);
            if let Some(list) = self.out.get(i as usize) {
                for &(j, w) in list {
                    scores[j as usize] += v * w;
                }
            }
        }
    }

    /// `recency`^rank for each history item, or None when all weigh 1.
    fn history_weights(&self, times: &[i64], len: usize) -> Option<Vec<f32>> {
        if self.recency >= 1.0 || times.len() != len {
            return None;
        }
        let mut distinct: Vec<i64> = times.to_vec();
        distinct.sort_unstable_by(|a, b| b.cmp(a));
        distinct.dedup();
        let weights = times
            .iter()
            .map(|t| {
                let rank = distinct.binary_search_by(|d| t.cmp(d)).unwrap_or(0);
                self.recency.powi(rank as i32)
            })
            .collect();
        Some(weights)
    }
}

/// The item → users index of per-user item lists: for each item, its users
/// with the item's position in the user's list.
pub fn item_users(train_items: &[Vec<u32>], num_items: usize) -> Vec<Vec<(u32, u32)>> {
    let mut users = vec![Vec::new(); num_items];
    for (u, items) in train_items.iter().enumerate() {
        for (pos, &i) in items.iter().enumerate() {
            if let Some(list) = users.get_mut(i as usize) {
                list.push((u as u32, pos as u32));
            }
        }
    }
    users
}

/// One co-occurrence: user `user` touched item `a` at position `a_pos` and
/// item b at position `b_pos` of their list.
#[derive(Debug, Clone, Copy)]
pub struct Visit {
    /// The item whose list is being built.
    pub a: u32,
    /// The user.
    pub user: u32,
    /// Position of a in the user's list.
    pub a_pos: usize,
    /// Position of b in the user's list.
    pub b_pos: usize,
}

/// For each item a, sums `weight(visit)` over the users u of a, into every
/// item b that u touched (b ≠ a), and hands (a, sums over the touched b) to
/// `keep`, which returns a's list. One dense accumulator is reused, so the
/// cost is Σ over users of |items of u|².
pub fn co_occurrence(
    train_items: &[Vec<u32>],
    item_users: &[Vec<(u32, u32)>],
    weight: impl Fn(Visit) -> f32,
    mut keep: impl FnMut(u32, &mut Vec<(u32, f32)>) -> Vec<(u32, f32)>,
) -> Vec<Vec<(u32, f32)>> {
    let num_items = item_users.len();
    let mut acc = vec![0f32; num_items];
    let mut touched: Vec<u32> = Vec::new();
    let mut lists = Vec::with_capacity(num_items);
    for (a, users) in item_users.iter().enumerate() {
        for &(u, a_pos) in users {
            for (b_pos, &b) in train_items[u as usize].iter().enumerate() {
                if b as usize == a {
                    continue;
                }
                let w = weight(Visit { a: a as u32, user: u, a_pos: a_pos as usize, b_pos });
                if w <= 0.0 {
                    continue; // keeps `touched` free of repeats
                }
                if acc[b as usize] == 0.0 {
                    touched.push(b);
                }
                acc[b as usize] += w;
            }
        }
        let mut pairs: Vec<(u32, f32)> =
            touched.drain(..).map(|b| (b, std::mem::take(&mut acc[b as usize]))).collect();
        lists.push(keep(a as u32, &mut pairs));
    }
    lists
}

/// The `k` entries of largest weight (ties to the smaller id), in any order.
pub fn top_k(pairs: &mut Vec<(u32, f32)>, k: usize) -> Vec<(u32, f32)> {
    let order = |x: &(u32, f32), y: &(u32, f32)| y.1.total_cmp(&x.1).then(x.0.cmp(&y.0));
    if pairs.len() > k {
        pairs.select_nth_unstable_by(k, order);
        pairs.truncate(k);
    }
    std::mem::take(pairs)
}

/// A classic model's scores for the evaluation.
pub struct WeightScores<'a> {
    weights: &'a ItemWeights,
    train_items: &'a [Vec<u32>],
    train_times: &'a [Vec<i64>],
}

impl<'a> WeightScores<'a> {
    /// Scores from `weights` over the users' `train_items`, whose times are
    /// `train_times` (empty when unknown).
    pub fn new(weights: &'a ItemWeights, train_items: &'a [Vec<u32>], train_times: &'a [Vec<i64>]) -> Self {
        Self { weights, train_items, train_times }
    }

    fn row(&self, user: u32) -> Vec<f32> {
        let mut scores = vec![0f32; self.num_items()];
        if let Some(history) = self.train_items.get(user as usize) {
            let times = self.train_times.get(user as usize).map_or(&[][..], Vec::as_slice);
            self.weights.score_into(history, times, &mut scores);
        }
        scores
    }
}

impl Scores for WeightScores<'_> {
    fn num_items(&self) -> usize {
        self.weights.out.len()
    }

    fn users_per_chunk(&self) -> usize {
        64
    }

    fn rows(&self, users: &[u32]) -> Vec<f32> {
        users.iter().flat_map(|&u| self.row(u)).collect()
    }

    fn pairs(&self, pairs: &[(u32, u32)]) -> Vec<f32> {
        pairs_from_rows(self, pairs)
    }
}
