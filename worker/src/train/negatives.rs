//! Easy negatives: uniform over items, or proportional to popularity^0.75
//! (word2vec's smoothing), through a cumulative table. Hard negatives are
//! mined in the loss from the batch's own scores (see `loss`).

use rand::Rng;

/// Draws negative items.
#[derive(Debug, Clone)]
pub struct NegativeSampler {
    num_items: u32,
    cumulative: Option<Vec<f64>>,
}

impl NegativeSampler {
    /// Uniform over `0..num_items`.
    pub fn uniform(num_items: u32) -> Self {
        Self { num_items, cumulative: None }
    }

    /// Proportional to `popularity^0.75` (items never seen get a small floor).
    pub fn popularity(popularity: &[f32]) -> Self {
        let mut total = 0.0;
        let cumulative = popularity
            .iter()
            .map(|&p| {
                total += f64::from(p.max(0.0)).powf(0.75).max(1e-3);
                total
            })
            .collect();
        Self { num_items: popularity.len() as u32, cumulative: Some(cumulative) }
    }

    /// One negative.
    pub fn draw(&self, rng: &mut impl Rng) -> u32 {
        match &self.cumulative {
            None => rng.random_range(0..self.num_items.max(1)),
            Some(c) => {
                let total = c.last().copied().unwrap_or(0.0);
                let x = rng.random::<f64>() * total;
                (c.partition_point(|&v| v <= x) as u32).min(self.num_items.saturating_sub(1))
            }
        }
    }
}
