//! Retrieval plus ranker as evaluation scores: each user's candidates from
//! the embeddings, re-ranked by the ranker, come first in its order; every
//! other item follows in retrieval order. The full-ranking metrics then
//! measure what the recommend service returns with the ranker on.

use tessera_bundle::rank::{features, RankerWeights};

use crate::eval::metrics::EvalData;
use crate::eval::scores::{pairs_from_rows, EmbeddingScores, Scores};
use crate::rank::lists::{top, Context};

/// Ranker scores are clamped to ±this, and the rest sit below −2 × this.
const SPAN: f32 = 1_000.0;

/// The scores of retrieval by `retrieval` and re-ranking by `ranker`.
pub struct RankedScores<'a> {
    retrieval: &'a EmbeddingScores<'a>,
    ranker: &'a RankerWeights,
    ctx: &'a Context,
    data: &'a EvalData,
}

impl<'a> RankedScores<'a> {
    /// Candidates of `retrieval` for `data`'s users re-ranked by `ranker`.
    pub fn new(
        retrieval: &'a EmbeddingScores<'a>,
        ranker: &'a RankerWeights,
        ctx: &'a Context,
        data: &'a EvalData,
    ) -> Self {
        Self { retrieval, ranker, ctx, data }
    }
}

impl Scores for RankedScores<'_> {
    fn num_items(&self) -> usize {
        self.retrieval.num_items()
    }

    fn users_per_chunk(&self) -> usize {
        self.retrieval.users_per_chunk()
    }

    fn rows(&self, users: &[u32]) -> Vec<f32> {
        let n = self.num_items();
        let mut rows = self.retrieval.rows(users);
        let catalogue = self.ctx.catalogue();
        for (row, &u) in rows.chunks_mut(n.max(1)).zip(users) {
            let seen = self.data.train_items.get(u as usize).map(Vec::as_slice).unwrap_or(&[]);
            let cands = top(row, seen, self.ranker.candidates);
            let f = features(&self.ranker.features, &catalogue, &self.ctx.query(self.data, u, &cands));
            let ranked = self.ranker.score(&f);
            let top_score = row.iter().copied().filter(|x| x.is_finite()).fold(f32::NEG_INFINITY, f32::max);
            for x in row.iter_mut() {
                // Retrieval order below every candidate.
                *x = (*x - top_score).max(-SPAN) - 3.0 * SPAN;
            }
            for (c, s) in cands.iter().zip(ranked) {
                row[c.item as usize] = if s.is_finite() { s.clamp(-SPAN, SPAN) } else { -SPAN };
            }
        }
        rows
    }

    fn pairs(&self, pairs: &[(u32, u32)]) -> Vec<f32> {
        pairs_from_rows(self, pairs)
    }
}
