//! Candidate lists: each user's top items by the embeddings' dot product,
//! their history left out, best first with ties to the lower item id (as
//! `tessera_bundle::retrieve` orders them), and what the ranker's features
//! read of the catalogue.

use tessera_bundle::rank::{Catalogue, ItemStats, Query};
use tessera_bundle::Scored;

use crate::eval::metrics::EvalData;
use crate::eval::scores::Scores;

/// The `c` best items of a score row, `seen` (sorted) left out.
pub fn top(row: &[f32], seen: &[u32], c: usize) -> Vec<Scored> {
    let all: Vec<Scored> = row
        .iter()
        .enumerate()
        .filter(|(i, _)| seen.binary_search(&(*i as u32)).is_err())
        .map(|(i, &score)| Scored { item: i as u32, score })
        .collect();
    tessera_bundle::retrieve::best(all, c)
}

/// Each of `users`' candidate lists under `scores`, in order.
pub fn candidates(scores: &dyn Scores, data: &EvalData, users: &[u32], c: usize) -> Vec<Vec<Scored>> {
    let n = scores.num_items();
    let mut out = Vec::with_capacity(users.len());
    for chunk in users.chunks(scores.users_per_chunk().max(1)) {
        let rows = scores.rows(chunk);
        for (k, &u) in chunk.iter().enumerate() {
            let seen = data.train_items.get(u as usize).map(Vec::as_slice).unwrap_or(&[]);
            out.push(top(&rows[k * n..(k + 1) * n], seen, c));
        }
    }
    out
}

/// The embeddings and item facts the features of one history read.
pub struct Context {
    /// User embeddings, row-major.
    pub users: Vec<f32>,
    /// Item embeddings, row-major.
    pub items: Vec<f32>,
    /// Embedding dimension.
    pub dim: usize,
    /// Each item's raw category (`NO_CATEGORY` for none).
    pub categories: Vec<u64>,
    /// Popularity and last times on the history.
    pub stats: ItemStats,
}

impl Context {
    /// From the embeddings (copied off the device) and `data`'s history.
    ///
    /// # Errors
    /// When the embeddings cannot be copied.
    pub fn new(
        users: &tch::Tensor,
        items: &tch::Tensor,
        data: &EvalData,
        categories: Vec<u64>,
    ) -> anyhow::Result<Self> {
        let dim = users.size().last().copied().unwrap_or(0) as usize;
        use crate::export::floats;
        let empty: &[i64] = &[];
        let histories = data
            .train_items
            .iter()
            .enumerate()
            .map(|(u, items)| (items.as_slice(), data.train_times.get(u).map_or(empty, Vec::as_slice)));
        let stats = ItemStats::of(data.num_items(), histories);
        Ok(Self { users: floats(users)?, items: floats(items)?, dim, categories, stats })
    }

    /// The catalogue view of the features.
    pub fn catalogue(&self) -> Catalogue<'_> {
        Catalogue { vectors: &self.items, dim: self.dim, categories: &self.categories, stats: &self.stats }
    }

    /// User `u`'s query over `candidates` with `data`'s history.
    pub fn query<'a>(&'a self, data: &'a EvalData, u: u32, candidates: &'a [Scored]) -> Query<'a> {
        let d = self.dim;
        Query {
            user: u,
            vector: &self.users[u as usize * d..(u as usize + 1) * d],
            history: data.train_items.get(u as usize).map(Vec::as_slice).unwrap_or(&[]),
            times: data.train_times.get(u as usize).map(Vec::as_slice).unwrap_or(&[]),
            candidates,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_leaves_the_history_out_and_breaks_ties_by_id() {
        let row = [0.5, 0.9, 0.5, 0.1, 0.9];
        let got: Vec<u32> = top(&row, &[4], 3).iter().map(|s| s.item).collect();
        assert_eq!(got, vec![1, 0, 2]);
        assert_eq!(top(&row, &[], 10).len(), 5);
    }
}
