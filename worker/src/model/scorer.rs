//! How a (user, item) pair is scored from its two scoring vectors: the dot
//! product, or the dot product plus a small MLP over the concatenation
//! [u; i] with one hidden layer. The MLP's first layer splits into a user
//! part and an item part, so full ranking computes the item part once for
//! all items and each user costs O(items × hidden), not a forward pass per
//! pair. Its output layer starts at zero, so training starts from the dot
//! product.

use tch::{nn, Kind, Tensor};

use super::glorot;

/// Hidden units of the MLP scorer.
pub const HIDDEN: i64 = 64;
/// Scores held in memory at once during full ranking (users × items × hidden
/// for the MLP scorer).
const SCORE_BUDGET: usize = 1 << 24;

/// The MLP part: `w2ᵀ relu(Wu u + Wi i + b1)`.
#[derive(Debug)]
pub struct MlpScorer {
    wu: Tensor,
    wi: Tensor,
    b1: Tensor,
    w2: Tensor,
}

impl MlpScorer {
    /// Weights under `path` for vectors of size `dim`.
    pub fn new(path: &nn::Path<'_>, dim: i64) -> Self {
        Self {
            wu: glorot(path, "wu", &[dim, HIDDEN]),
            wi: glorot(path, "wi", &[dim, HIDDEN]),
            b1: path.zeros("b1", &[HIDDEN]),
            w2: path.zeros("w2", &[HIDDEN, 1]),
        }
    }

    fn hidden(&self, user_part: &Tensor, item_part: &Tensor) -> Tensor {
        (user_part + item_part).relu().matmul(&self.w2).squeeze_dim(-1)
    }
}

/// The pair scorer of a model.
#[derive(Debug)]
pub enum Scorer {
    /// Dot product.
    Dot,
    /// Dot product plus an MLP over the concatenation.
    Mlp(MlpScorer),
}

impl Scorer {
    /// Scores of aligned pairs: `users` and `items` are (n × d); returns (n).
    pub fn pairs(&self, users: &Tensor, items: &Tensor) -> Tensor {
        let dot = (users * items).sum_dim_intlist(-1, false, Kind::Float);
        match self {
            Self::Dot => dot,
            Self::Mlp(m) => dot + m.hidden(&users.matmul(&m.wu), &(items.matmul(&m.wi) + &m.b1)),
        }
    }

    /// Each user against its own items: `users` (b × d), `items` (b × n × d); returns (b × n).
    pub fn per_user(&self, users: &Tensor, items: &Tensor) -> Tensor {
        let dot = (users.unsqueeze(1) * items).sum_dim_intlist(-1, false, Kind::Float);
        match self {
            Self::Dot => dot,
            Self::Mlp(m) => dot + m.hidden(&users.matmul(&m.wu).unsqueeze(1), &(items.matmul(&m.wi) + &m.b1)),
        }
    }

    /// Every user against every item: (U × d) and (I × d); returns (U × I).
    pub fn all(&self, users: &Tensor, items: &Tensor) -> Tensor {
        let dot = users.matmul(&items.transpose(0, 1));
        match self {
            Self::Dot => dot,
            Self::Mlp(m) => {
                dot + m.hidden(&users.matmul(&m.wu).unsqueeze(1), &(items.matmul(&m.wi) + &m.b1).unsqueeze(0))
            }
        }
    }

    /// Users to score per call of [`Scorer::all`] over `num_items` items.
    pub fn users_per_chunk(&self, num_items: usize) -> usize {
        match self {
            Self::Dot => 512,
            Self::Mlp(_) => (SCORE_BUDGET / (num_items.max(1) * HIDDEN as usize)).clamp(1, 512),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_shapes_agree_and_the_mlp_starts_at_the_dot_product() {
        tch::manual_seed(3);
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let mlp = Scorer::Mlp(MlpScorer::new(&(vs.root() / "scorer"), 8));
        let (users, items) =
            (Tensor::randn([3, 8], tch::kind::FLOAT_CPU), Tensor::randn([5, 8], tch::kind::FLOAT_CPU));
        let dot = Scorer::Dot.all(&users, &items);
        assert!(mlp.all(&users, &items).allclose(&dot, 1e-6, 1e-6, false), "w2 starts at zero");
        // With a non-zero output layer, all/per_user/pairs give the same scores.
        tch::no_grad(|| {
            for mut v in vs.trainable_variables() {
                v.copy_(&Tensor::randn(v.size(), tch::kind::FLOAT_CPU));
            }
        });
        let all = mlp.all(&users, &items);
        let per_user = mlp.per_user(&users, &items.unsqueeze(0).expand([3, 5, 8], false));
        assert!(all.allclose(&per_user, 1e-4, 1e-4, false));
        let pairs = mlp.pairs(&users.narrow(0, 1, 1), &items.narrow(0, 2, 1));
        assert!((pairs.double_value(&[0]) - all.double_value(&[1, 2])).abs() < 1e-4);
        assert!(!all.allclose(&dot, 1e-3, 1e-3, false), "the MLP changes the scores");
    }
}
