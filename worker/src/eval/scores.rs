//! Where the evaluation's scores come from: a model's embeddings under its
//! pair scorer, or a classic model's item–item similarities. The metrics
//! code sees only [`Scores`], so every model is scored by the same code.

use tch::Tensor;

use crate::model::scorer::Scorer;

/// Scores of (user, item) pairs for the evaluation protocol.
pub trait Scores {
    /// Items in the catalogue.
    fn num_items(&self) -> usize;
    /// Users scored at once over all items (bounds the memory of `rows`).
    fn users_per_chunk(&self) -> usize;
    /// Every item's score for each of `users`, row-major (users × items).
    fn rows(&self, users: &[u32]) -> Vec<f32>;
    /// Scores of aligned (user, item) pairs.
    fn pairs(&self, pairs: &[(u32, u32)]) -> Vec<f32>;
}

/// A trained model's scores: user embeddings (U × d) against item
/// embeddings (I × d) under the model's scorer.
pub struct EmbeddingScores<'a> {
    users: &'a Tensor,
    items: &'a Tensor,
    scorer: &'a Scorer,
}

impl<'a> EmbeddingScores<'a> {
    /// Scores of `users` against `items` by `scorer`.
    pub fn new(users: &'a Tensor, items: &'a Tensor, scorer: &'a Scorer) -> Self {
        Self { users, items, scorer }
    }

    fn index(&self, ids: impl Iterator<Item = u32>) -> Tensor {
        Tensor::from_slice(&ids.map(i64::from).collect::<Vec<_>>()).to_device(self.users.device())
    }
}

impl Scores for EmbeddingScores<'_> {
    fn num_items(&self) -> usize {
        self.items.size()[0] as usize
    }

    fn users_per_chunk(&self) -> usize {
        self.scorer.users_per_chunk(self.num_items())
    }

    fn rows(&self, users: &[u32]) -> Vec<f32> {
        let idx = self.index(users.iter().copied());
        let scores = tch::no_grad(|| self.scorer.all(&self.users.index_select(0, &idx), self.items))
            .to_device(tch::Device::Cpu);
        Vec::<f32>::try_from(scores.flatten(0, -1)).unwrap_or_default()
    }

    fn pairs(&self, pairs: &[(u32, u32)]) -> Vec<f32> {
        let (u, i) = (self.index(pairs.iter().map(|p| p.0)), self.index(pairs.iter().map(|p| p.1)));
        let s = tch::no_grad(|| {
            self.scorer.pairs(&self.users.index_select(0, &u), &self.items.index_select(0, &i))
        })
        .to_device(tch::Device::Cpu);
        Vec::<f32>::try_from(s).unwrap_or_default()
    }
}

/// Scores of aligned (user, item) pairs from [`Scores::rows`]: one row per
/// distinct user, in the order the pairs name them, for models whose scores
/// come by the row.
pub fn pairs_from_rows(scores: &dyn Scores, pairs: &[(u32, u32)]) -> Vec<f32> {
    let mut out = vec![0f32; pairs.len()];
    let mut order: Vec<usize> = (0..pairs.len()).collect();
    order.sort_by_key(|&k| pairs[k].0);
    let mut current: Option<(u32, Vec<f32>)> = None;
    for k in order {
        let (u, i) = pairs[k];
        if current.as_ref().is_none_or(|c| c.0 != u) {
            current = Some((u, scores.rows(&[u])));
        }
        if let Some((_, row)) = &current {
            out[k] = row.get(i as usize).copied().unwrap_or(0.0);
        }
    }
    out
}
