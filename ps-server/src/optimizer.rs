//! Server-side optimizers, applied per row when a push arrives: SGD, Adagrad
//! and row-wise lazy Adam (moments and step count advance only for rows that
//! receive a gradient), each with optional weight decay.

use tessera_proto::ps::v1 as pb;

use crate::error::{PsError, Result};

/// A validated optimizer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Optimizer {
    /// w -= lr · g
    Sgd {
        /// Learning rate.
        lr: f32,
        /// L2 weight decay.
        weight_decay: f32,
    },
    /// s += g²; w -= lr · g / (√s + eps)
    Adagrad {
        /// Learning rate.
        lr: f32,
        /// Initial accumulator.
        initial_accumulator: f32,
        /// Denominator epsilon.
        eps: f32,
        /// L2 weight decay.
        weight_decay: f32,
    },
    /// Row-wise lazy Adam with bias correction.
    Adam {
        /// Learning rate.
        lr: f32,
        /// First-moment decay.
        beta1: f32,
        /// Second-moment decay.
        beta2: f32,
        /// Denominator epsilon.
        eps: f32,
        /// L2 weight decay.
        weight_decay: f32,
    },
}

fn positive(value: f32, field: &str) -> Result<f32> {
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(PsError::InvalidArgument(format!("{field} must be a finite number > 0, got {value}")))
    }
}

impl Optimizer {
    /// Validates a wire spec, naming the bad field.
    ///
    /// # Errors
    /// `InvalidArgument` for a missing kind or an out-of-range value.
    pub fn from_proto(spec: &pb::OptimizerSpec) -> Result<Self> {
        let weight_decay = spec.weight_decay;
        if !(weight_decay.is_finite() && weight_decay >= 0.0) {
            return Err(PsError::InvalidArgument(format!(
                "optimizer.weight_decay must be ≥ 0, got {weight_decay}"
            )));
        }
        match &spec.kind {
            Some(pb::optimizer_spec::Kind::Sgd(s)) => {
                Ok(Optimizer::Sgd { lr: positive(s.lr, "optimizer.sgd.lr")?, weight_decay })
            }
            Some(pb::optimizer_spec::Kind::Adagrad(a)) => {
                if !(a.initial_accumulator.is_finite() && a.initial_accumulator >= 0.0) {
                    return Err(PsError::InvalidArgument(
                        "optimizer.adagrad.initial_accumulator must be ≥ 0".into(),
                    ));
                }
                Ok(Optimizer::Adagrad {
                    lr: positive(a.lr, "optimizer.adagrad.lr")?,
                    initial_accumulator: a.initial_accumulator,
                    eps: positive(a.eps, "optimizer.adagrad.eps")?,
                    weight_decay,
                })
            }
            Some(pb::optimizer_spec::Kind::Adam(a)) => {
                for (beta, field) in [(a.beta1, "optimizer.adam.beta1"), (a.beta2, "optimizer.adam.beta2")] {
                    if !(0.0..1.0).contains(&beta) {
                        return Err(PsError::InvalidArgument(format!(
                            "{field} must be in [0, 1), got {beta}"
                        )));
                    }
                }
                Ok(Optimizer::Adam {
                    lr: positive(a.lr, "optimizer.adam.lr")?,
                    beta1: a.beta1,
                    beta2: a.beta2,
                    eps: positive(a.eps, "optimizer.adam.eps")?,
                    weight_decay,
                })
            }
            None => Err(PsError::InvalidArgument("optimizer: no kind (sgd, adagrad or adam) given".into())),
        }
    }

    /// The wire spec of this optimizer (round-trips through `from_proto`).
    pub fn to_proto(&self) -> pb::OptimizerSpec {
        use pb::optimizer_spec::Kind;
        let (kind, weight_decay) = match *self {
            Optimizer::Sgd { lr, weight_decay } => (Kind::Sgd(pb::Sgd { lr }), weight_decay),
            Optimizer::Adagrad { lr, initial_accumulator, eps, weight_decay } => {
                (Kind::Adagrad(pb::Adagrad { lr, initial_accumulator, eps }), weight_decay)
            }
            Optimizer::Adam { lr, beta1, beta2, eps, weight_decay } => {
                (Kind::Adam(pb::Adam { lr, beta1, beta2, eps }), weight_decay)
            }
        };
        pb::OptimizerSpec { kind: Some(kind), weight_decay }
    }

    /// Optimizer state values per parameter row of `dim` values.
    pub fn state_len(&self, dim: usize) -> usize {
        match self {
            Optimizer::Sgd { .. } => 0,
            Optimizer::Adagrad { .. } => dim,
            Optimizer::Adam { .. } => 2 * dim,
        }
    }

    /// Fresh state for a row.
    pub fn init_state(&self, dim: usize) -> Vec<f32> {
        match self {
            Optimizer::Adagrad { initial_accumulator, .. } => vec![*initial_accumulator; dim],
            _ => vec![0.0; self.state_len(dim)],
        }
    }

    /// Applies gradient `grad` to `weights` with `state` and the row's
    /// `step` count (advanced here).
    pub fn apply(&self, weights: &mut [f32], state: &mut [f32], step: &mut u64, grad: &[f32]) {
        *step += 1;
        match *self {
            Optimizer::Sgd { lr, weight_decay } => {
                for (w, g) in weights.iter_mut().zip(grad) {
                    *w -= lr * (g + weight_decay * *w);
                }
            }
            Optimizer::Adagrad { lr, eps, weight_decay, .. } => {
                for ((w, s), g) in weights.iter_mut().zip(state.iter_mut()).zip(grad) {
                    let g = g + weight_decay * *w;
                    *s += g * g;
                    *w -= lr * g / (s.sqrt() + eps);
                }
            }
            Optimizer::Adam { lr, beta1, beta2, eps, weight_decay } => {
                let t = *step as i32;
                let (c1, c2) = (1.0 - beta1.powi(t), 1.0 - beta2.powi(t));
                let (m, v) = state.split_at_mut(weights.len());
                for (((w, m), v), g) in weights.iter_mut().zip(m).zip(v).zip(grad) {
                    let g = g + weight_decay * *w;
                    *m = beta1 * *m + (1.0 - beta1) * g;
                    *v = beta2 * *v + (1.0 - beta2) * g * g;
                    *w -= lr * (*m / c1) / ((*v / c2).sqrt() + eps);
                }
            }
        }
    }
}
