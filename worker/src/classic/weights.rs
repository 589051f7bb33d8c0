//! Sparse item → item weights, the co-occurrence pass both classic models
//! are built on, and the scores they give.

use crate::eval::scores::{pairs_from_rows, Scores};

/// For each item i, the items j it votes for, with weights: a user's score
/// for j is the sum over the user's training items i of w(i → j).
#[derive(Debug, Clone, PartialEq)]
pub struct ItemWeights {
    /// `out[i]`: (j, w(i → j)), sorted by j.
    pub out: Vec<Vec<(u32, f32)>>,
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
        Self { out }
    }

    /// The number of weights kept.
    pub fn len(&self) -> usize {
        self.out.iter().map(Vec::len).sum()
    }

    /// Whether no weight is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds the votes of `history` into `scores` (one slot per item).
    pub fn score_into(&self, history: &[u32], scores: &mut [f32]) {
        for &i in history {
            if let Some(list) = self.out.get(i as usize) {
                for &(j, w) in list {
                    scores[j as usize] += w;
                }
            }
        }
    }
}

/// The item → users index of per-user item lists.
pub fn item_users(train_items: &[Vec<u32>], num_items: usize) -> Vec<Vec<u32>> {
    let mut users = vec![Vec::new(); num_items];
    for (u, items) in train_items.iter().enumerate() {
        for &i in items {
            if let Some(list) = users.get_mut(i as usize) {
                list.push(u as u32);
            }
        }
    }
    users
}

/// For each item a, sums `weight(u)` over the users u of a, into every item
/// b that u touched (b ≠ a), and hands (a, sums over the touched b) to
/// `keep`, which returns a's list. One dense accumulator is reused, so the
/// cost is Σ over users of |items of u|².
pub fn co_occurrence(
    train_items: &[Vec<u32>],
    item_users: &[Vec<u32>],
    weight: impl Fn(u32, u32) -> f32,
    mut keep: impl FnMut(u32, &mut Vec<(u32, f32)>) -> Vec<(u32, f32)>,
) -> Vec<Vec<(u32, f32)>> {
    let num_items = item_users.len();
    let mut acc = vec![0f32; num_items];
    let mut touched: Vec<u32> = Vec::new();
    let mut lists = Vec::with_capacity(num_items);
    for (a, users) in item_users.iter().enumerate() {
        for &u in users {
            let w = weight(a as u32, u);
            for &b in &train_items[u as usize] {
                if b as usize == a {
                    continue;
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
}

impl<'a> WeightScores<'a> {
    /// Scores from `weights` over the users' `train_items`.
    pub fn new(weights: &'a ItemWeights, train_items: &'a [Vec<u32>]) -> Self {
        Self { weights, train_items }
    }

    fn row(&self, user: u32) -> Vec<f32> {
        let mut scores = vec![0f32; self.num_items()];
        if let Some(history) = self.train_items.get(user as usize) {
            self.weights.score_into(history, &mut scores);
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
