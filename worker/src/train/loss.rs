//! Losses: BPR, BCE and the sampled softmax (with its logQ correction) for
//! link prediction, in-batch hard-negative mining, category cross-entropy
//! and InfoNCE.

use tch::{Kind, Reduction, Tensor};

/// BPR: −log σ(s⁺ − s⁻), averaged; `pos` is (B), `neg` is (B × N).
pub fn bpr(pos: &Tensor, neg: &Tensor) -> Tensor {
    -(pos.unsqueeze(1) - neg).log_sigmoid().mean(Kind::Float)
}

/// Binary cross-entropy with positives labelled 1 and negatives 0.
pub fn bce(pos: &Tensor, neg: &Tensor) -> Tensor {
    let p = pos.binary_cross_entropy_with_logits::<Tensor>(&pos.ones_like(), None, None, Reduction::Mean);
    let n = neg.binary_cross_entropy_with_logits::<Tensor>(&neg.zeros_like(), None, None, Reduction::Mean);
    p + n
}

/// Sampled softmax: row r's positive is column `labels[r]` of `logits`
/// (R × P) over a shared pool; `log_q` (P), the log of how often each pool
/// column's item is drawn into the pool, is subtracted from every row (the
/// logQ correction, so popular items are not pushed down just for being
/// drawn often); entries where `false_negative` (R × P) is set, the row's
/// own item standing at another column, are left out.
pub fn sampled_softmax(logits: &Tensor, log_q: &Tensor, false_negative: &Tensor, labels: &Tensor) -> Tensor {
    let corrected = (logits - log_q.unsqueeze(0)).masked_fill(false_negative, -1e9);
    corrected.cross_entropy_for_logits(labels)
}

/// The log of how often each item is drawn into a step's pool: `in_batch`
/// items (the batch's positives) by their share of the training
/// interactions, `negatives` by the negative sampler's log chance
/// `log_negative(item)`.
pub fn pool_log_q(
    log_popularity: &[f32],
    log_negative: impl Fn(u32) -> f32,
    in_batch: &[u32],
    negatives: &[u32],
) -> Vec<f32> {
    let b = (in_batch.len().max(1) as f32).ln();
    let n = (negatives.len().max(1) as f32).ln();
    in_batch
        .iter()
        .map(|&i| b + log_popularity[i as usize])
        .chain(negatives.iter().map(|&i| n + log_negative(i)))
        .collect()
}

/// The highest score per user among `pool` items that are not the user's
/// positive (by id): the hardest in-batch negative. `scores` is (B × P),
/// `pool_ids` (P) and `pos_ids` (B) are item ids.
pub fn hardest_negative(scores: &Tensor, pool_ids: &Tensor, pos_ids: &Tensor) -> Tensor {
    let same = pos_ids.unsqueeze(1).eq_tensor(&pool_ids.unsqueeze(0));
    let masked = scores.masked_fill(&same, -1e9);
    masked.max_dim(1, false).0
}

/// InfoNCE between two views (B × d), matching rows as positives.
pub fn info_nce(a: &Tensor, b: &Tensor, temperature: f64) -> Tensor {
    let norm = |x: &Tensor| x / x.norm_scalaropt_dim(2, [-1], true).clamp_min(1e-12);
    let logits = norm(a).matmul(&norm(b).transpose(0, 1)) / temperature;
    let labels = Tensor::arange(a.size()[0], (Kind::Int64, a.device()));
    logits.cross_entropy_for_logits(&labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampled_softmax_is_cross_entropy_over_the_corrected_pool() {
        // Two rows over a pool of three; row 0's positive is column 0, row 1's column 1.
        let logits = Tensor::from_slice(&[2.0f32, 1.0, 0.0, 0.5, 1.5, 0.5]).view([2, 3]);
        let log_q = Tensor::from_slice(&[0.0f32, 1.0, 0.0]);
        let none = Tensor::zeros([2, 3], (Kind::Bool, tch::Device::Cpu));
        let labels = Tensor::from_slice(&[0i64, 1]);
        let got = sampled_softmax(&logits, &log_q, &none, &labels).double_value(&[]);
        let ce =
            |row: [f64; 3], pos: usize| -(row[pos].exp() / row.iter().map(|x| x.exp()).sum::<f64>()).ln();
        let want = (ce([2.0, 0.0, 0.0], 0) + ce([0.5, 0.5, 0.5], 1)) / 2.0;
        assert!((got - want).abs() < 1e-5, "{got} vs {want}");
        // Masking a false negative drops it from the denominator.
        let mask = Tensor::from_slice(&[false, false, true, false, false, false]).view([2, 3]);
        let masked = sampled_softmax(&logits, &log_q, &mask, &labels).double_value(&[]);
        let want = (-(2f64.exp() / (2f64.exp() + 1.0)).ln() + ce([0.5, 0.5, 0.5], 1)) / 2.0;
        assert!((masked - want).abs() < 1e-5, "{masked} vs {want}");
    }

    #[test]
    fn pool_log_q_counts_how_often_an_item_is_drawn() {
        let log_pop = [(0.5f32).ln(), (0.25f32).ln(), (0.25f32).ln()];
        let q = pool_log_q(&log_pop, |_| (1.0f32 / 3.0).ln(), &[0, 1], &[2, 2, 0, 1]);
        // In-batch: 2 positives × share; negatives: 4 draws × 1/3.
        let want = [1.0f32, 0.5, 4.0 / 3.0, 4.0 / 3.0, 4.0 / 3.0, 4.0 / 3.0];
        for (g, w) in q.iter().zip(want) {
            assert!((g - w.ln()).abs() < 1e-6, "{q:?}");
        }
    }
}
