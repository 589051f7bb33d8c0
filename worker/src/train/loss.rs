//! Losses: BPR and BCE for link prediction, in-batch hard-negative mining,
//! category cross-entropy and InfoNCE.

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
