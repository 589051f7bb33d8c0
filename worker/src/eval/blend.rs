//! The neighbourhood term of a model's final scores (`model.neighbourhood`,
//! after Koren's "Factorization meets the neighborhood", KDD 2008): the
//! model's embedding scores, standardised per user over the catalogue, plus
//! a weight times a classic model's scores (one hop over its item–item
//! weights from the user's history) divided by the user's largest. Weight 0
//! is the model's own ranking; as the weight grows the ranking becomes the
//! classic model's, with the embeddings breaking its ties and filling in
//! where the history says nothing. The weight is chosen on validation.

use crate::eval::metrics::{evaluate, EvalData};
use crate::eval::scores::{pairs_from_rows, Scores};

/// The weights tried on the validation targets, from the embeddings alone
/// to the classic model with the embeddings as tie-breaker.
pub const WEIGHT_GRID: [f32; 12] = [0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

/// A model's scores with the neighbourhood term added.
pub struct BlendScores<'a> {
    model: &'a dyn Scores,
    neighbours: &'a dyn Scores,
    weight: f32,
}

impl<'a> BlendScores<'a> {
    /// `model`'s standardised scores plus `weight` × `neighbours`' scaled scores.
    pub fn new(model: &'a dyn Scores, neighbours: &'a dyn Scores, weight: f32) -> Self {
        Self { model, neighbours, weight }
    }
}

pub use tessera_bundle::neighbours::blend_row;

impl Scores for BlendScores<'_> {
    fn num_items(&self) -> usize {
        self.model.num_items()
    }

    fn users_per_chunk(&self) -> usize {
        self.model.users_per_chunk().min(self.neighbours.users_per_chunk()).max(1)
    }

    fn rows(&self, users: &[u32]) -> Vec<f32> {
        let n = self.num_items();
        let mut out = self.model.rows(users);
        let near = self.neighbours.rows(users);
        for (row, near) in out.chunks_mut(n.max(1)).zip(near.chunks(n.max(1))) {
            blend_row(row, near, self.weight);
        }
        out
    }

    fn pairs(&self, pairs: &[(u32, u32)]) -> Vec<f32> {
        pairs_from_rows(self, pairs)
    }
}

/// The metric the weight is chosen by: NDCG at 10 when it is one of the
/// cut-offs, else at the largest.
pub fn selection_metric(ks: &[u32]) -> String {
    let k = if ks.contains(&10) { 10 } else { ks.iter().copied().max().unwrap_or(10) };
    format!("ndcg@{k}")
}

/// The weight of [`WEIGHT_GRID`] with the best [`selection_metric`] on
/// `valid` (the smaller weight wins a tie), and each weight's value.
pub fn choose_weight(
    model: &dyn Scores,
    neighbours: &dyn Scores,
    valid: &EvalData,
    ks: &[u32],
    seed: u64,
) -> (f32, Vec<(f32, f64)>) {
    let metric = selection_metric(ks);
    let curve: Vec<(f32, f64)> = WEIGHT_GRID
        .iter()
        .map(|&w| {
            let e = evaluate(&BlendScores::new(model, neighbours, w), valid, ks, 0, seed);
            (w, e.metrics.get(&metric).copied().unwrap_or(f64::NAN))
        })
        .collect();
    let best = curve.iter().copied().fold((0.0, f64::NEG_INFINITY), |b, c| if c.1 > b.1 { c } else { b });
    (best.0, curve)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fixed score rows per user.
    struct Table(Vec<Vec<f32>>);

    impl Scores for Table {
        fn num_items(&self) -> usize {
            self.0[0].len()
        }
        fn users_per_chunk(&self) -> usize {
            2
        }
        fn rows(&self, users: &[u32]) -> Vec<f32> {
            users.iter().flat_map(|&u| self.0[u as usize].clone()).collect()
        }
        fn pairs(&self, pairs: &[(u32, u32)]) -> Vec<f32> {
            pairs_from_rows(self, pairs)
        }
    }

    fn data(targets: Vec<(u32, u32)>, users: usize, items: usize) -> EvalData {
        EvalData {
            train_items: vec![Vec::new(); users],
            train_times: Vec::new(),
            targets,
            labeled: Vec::new(),
            tail: vec![true; items],
            bucket: vec![0; items],
            interaction_share: vec![0.1; crate::eval::metrics::BUCKETS],
            sample_users: Vec::new(),
        }
    }

    #[test]
    fn weight_zero_is_the_model_and_a_large_weight_the_neighbours() {
        let model = Table(vec![vec![3.0, 2.0, 1.0, 0.0]]);
        let near = Table(vec![vec![0.0, 0.0, 0.5, 1.0]]);
        let order = |w: f32| {
            let row = BlendScores::new(&model, &near, w).rows(&[0]);
            let mut ix: Vec<usize> = (0..4).collect();
            ix.sort_by(|&a, &b| row[b].total_cmp(&row[a]));
            ix
        };
        assert_eq!(order(0.0), vec![0, 1, 2, 3]);
        assert_eq!(order(256.0), vec![3, 2, 0, 1], "the neighbours rank, the model breaks ties");
        let row = BlendScores::new(&model, &near, 0.0).rows(&[0]);
        let mean: f32 = row.iter().sum::<f32>() / 4.0;
        assert!(mean.abs() < 1e-6, "standardised: {row:?}");
    }

    #[test]
    fn the_weight_is_chosen_by_the_validation_targets() {
        // The model ranks item 0 first for both users, the neighbours item 3;
        // the validation targets are item 3, so a large weight wins.
        let model = Table(vec![vec![3.0, 2.0, 1.0, 0.0]; 2]);
        let near = Table(vec![vec![0.0, 0.1, 0.2, 1.0]; 2]);
        let (w, curve) = choose_weight(&model, &near, &data(vec![(0, 3), (1, 3)], 2, 4), &[1], 1);
        assert!(w > 0.0 && curve[0].1 == 0.0, "{w} {curve:?}");
        assert_eq!(curve.iter().find(|c| c.0 == w).map(|c| c.1), Some(1.0));
        // With item 0 as the target the model alone is best, and 0 is chosen.
        let (w, _) = choose_weight(&model, &near, &data(vec![(0, 0), (1, 0)], 2, 4), &[1], 1);
        assert_eq!(w, 0.0);
    }
}
