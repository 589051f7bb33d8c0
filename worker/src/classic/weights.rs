//! The co-occurrence pass the classic models are built on, and the scores
//! their sparse item → item weights (`tessera_bundle::neighbours`, which a
//! bundle carries for serving) give.

use crate::eval::scores::{pairs_from_rows, Scores};

pub use tessera_bundle::neighbours::ItemWeights;

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
