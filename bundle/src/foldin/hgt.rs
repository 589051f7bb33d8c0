//! One HGT layer (as the worker's `model::hgt` computes it in inference)
//! for one destination node over its neighbours (a new user over the items
//! they acted on, a new item over its category, shop and brand): per-type
//! K, Q, V and A linears, per edge type the attention and message matrices
//! and the prior μ per head, one softmax over all the node's edges, and the
//! gated residual; with the relative temporal encoding, a learned vector per
//! age bucket is added to each source's state before K and V.

use crate::foldin::weights::{Linear, Weights};
use crate::foldin::FoldInError;

/// Age buckets of the temporal encoding: 0, then powers of two in days
/// (the worker's `AGE_BUCKETS`).
pub const AGE_BUCKETS: usize = 16;

/// The bucket of an edge `age_days` old: 0 under a day, else 1 + ⌊log2 days⌋,
/// at most [`AGE_BUCKETS`] − 1.
pub fn age_bucket(age_days: f32) -> usize {
    if age_days < 1.0 {
        return 0;
    }
    ((age_days.log2().floor() + 1.0) as usize).min(AGE_BUCKETS - 1)
}

/// GELU, the exact (erf) form torch's `gelu("none")` computes.
pub fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + libm::erff(x / std::f32::consts::SQRT_2))
}

/// One relation into the destination type: its source type's K and V
/// linears, its attention and message matrices (heads × head_dim ×
/// head_dim) and its prior per head.
#[derive(Debug, Clone)]
struct Relation {
    k_src: Linear,
    v_src: Linear,
    w_att: Vec<f32>,
    w_msg: Vec<f32>,
    mu: Vec<f32>,
}

/// The weights of one HGT layer that one destination type's update reads.
#[derive(Debug, Clone)]
pub struct NodeLayer {
    heads: usize,
    head_dim: usize,
    q_dst: Linear,
    a_dst: Linear,
    gate: f32,
    relations: Vec<Relation>,
    rte: Option<Vec<f32>>,
}

/// One relation into a destination type, as [`NodeLayer::read`] takes it.
#[derive(Debug, Clone, Copy)]
pub struct RelationName<'a> {
    /// The edge type's name (`rev_buy`, `rev_item_category`, `walk_brand_item`).
    pub name: &'a str,
    /// Its source node type (`item`, `category`, …).
    pub src: &'a str,
}

/// One edge into the node: the source's state at this layer, the relation
/// (an index into the relations given to [`NodeLayer::read`]) and its age.
#[derive(Debug, Clone, Copy)]
pub struct Edge<'a> {
    /// The source's input state at this layer (dim).
    pub source_state: &'a [f32],
    /// Index of the relation.
    pub relation: usize,
    /// Age in days at the time the user is embedded.
    pub age_days: f32,
}

impl NodeLayer {
    /// Layer `layer`'s weights from `weights` (named as the worker's
    /// `VarStore` names them, `hgt.<layer>.…`) for destinations of type
    /// `dst` over `relations`.
    ///
    /// # Errors
    /// A missing tensor or one of another shape, named.
    pub fn read(
        weights: &Weights,
        layer: usize,
        dim: usize,
        heads: usize,
        dst: &str,
        relations: &[RelationName<'_>],
        temporal: bool,
    ) -> Result<Self, FoldInError> {
        let head_dim = dim / heads;
        let p = |name: &str| format!("hgt.{layer}.{name}");
        let cube = [heads, head_dim, head_dim];
        let relations = relations
            .iter()
            .map(|r| {
                let name = r.name;
                Ok(Relation {
                    k_src: Linear::read(weights, &p(&format!("k_lin.{}", r.src)), dim, dim)?,
                    v_src: Linear::read(weights, &p(&format!("v_lin.{}", r.src)), dim, dim)?,
                    w_att: weights.get(&p(&format!("w_att.{name}")), &cube)?.values.clone(),
                    w_msg: weights.get(&p(&format!("w_msg.{name}")), &cube)?.values.clone(),
                    mu: weights.get(&p(&format!("mu.{name}")), &[heads])?.values.clone(),
                })
            })
            .collect::<Result<Vec<_>, FoldInError>>()?;
        let rte = if temporal {
            Some(weights.get(&p("rte.table"), &[AGE_BUCKETS, dim])?.values.clone())
        } else {
            None
        };
        Ok(Self {
            heads,
            head_dim,
            q_dst: Linear::read(weights, &p(&format!("q_lin.{dst}")), dim, dim)?,
            a_dst: Linear::read(weights, &p(&format!("a_lin.{dst}")), dim, dim)?,
            gate: 1.0 / (1.0 + (-weights.get(&p(&format!("skip.{dst}")), &[1])?.values[0]).exp()),
            relations,
            rte,
        })
    }

    /// `x` (heads × head_dim) times each head's matrix in `w` (heads ×
    /// head_dim × head_dim): `out[h][f] = Σ_d x[h][d] · w[h][d][f]`.
    fn per_head(&self, x: &[f32], w: &[f32]) -> Vec<f32> {
        let hd = self.head_dim;
        let mut out = vec![0f32; self.heads * hd];
        for h in 0..self.heads {
            for d in 0..hd {
                let xd = x[h * hd + d];
                let row = &w[(h * hd + d) * hd..(h * hd + d + 1) * hd];
                for (o, wf) in out[h * hd..(h + 1) * hd].iter_mut().zip(row) {
                    *o += xd * wf;
                }
            }
        }
        out
    }

    /// The node's output of this layer from its input `x` over `edges`
    /// (its input again when there are none).
    pub fn forward(&self, x: &[f32], edges: &[Edge<'_>]) -> Vec<f32> {
        let (heads, hd) = (self.heads, self.head_dim);
        if edges.is_empty() {
            return x.to_vec();
        }
        let q = self.q_dst.apply(x);
        let scale = 1.0 / (hd as f32).sqrt();
        let mut scores = Vec::with_capacity(edges.len() * heads);
        let mut messages = Vec::with_capacity(edges.len());
        for edge in edges {
            let source: Vec<f32> = match &self.rte {
                Some(table) => {
                    let b = age_bucket(edge.age_days) * x.len();
                    edge.source_state.iter().zip(&table[b..b + x.len()]).map(|(s, r)| s + r).collect()
                }
                None => edge.source_state.to_vec(),
            };
            let relation = &self.relations[edge.relation];
            let k = self.per_head(&relation.k_src.apply(&source), &relation.w_att);
            messages.push(self.per_head(&relation.v_src.apply(&source), &relation.w_msg));
            for h in 0..heads {
                let dot: f32 =
                    k[h * hd..(h + 1) * hd].iter().zip(&q[h * hd..(h + 1) * hd]).map(|(a, b)| a * b).sum();
                scores.push(dot * relation.mu[h] * scale);
            }
        }
        // Softmax over the edges, per head, then the weighted sum of the messages.
        let mut aggregated = vec![0f32; heads * hd];
        for h in 0..heads {
            let max = (0..edges.len()).map(|e| scores[e * heads + h]).fold(f32::NEG_INFINITY, f32::max);
            let weights: Vec<f32> = (0..edges.len()).map(|e| (scores[e * heads + h] - max).exp()).collect();
            let total: f32 = weights.iter().sum::<f32>() + 1e-16;
            for (e, w) in weights.iter().enumerate() {
                for (a, m) in
                    aggregated[h * hd..(h + 1) * hd].iter_mut().zip(&messages[e][h * hd..(h + 1) * hd])
                {
                    *a += w / total * m;
                }
            }
        }
        let activated: Vec<f32> = aggregated.into_iter().map(gelu).collect();
        let out = self.a_dst.apply(&activated);
        out.iter().zip(x).map(|(o, x)| self.gate * o + (1.0 - self.gate) * x).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn age_buckets_follow_powers_of_two_in_days() {
        assert_eq!(age_bucket(0.0), 0);
        assert_eq!(age_bucket(0.99), 0);
        assert_eq!(age_bucket(1.0), 1);
        assert_eq!(age_bucket(1.9), 1);
        assert_eq!(age_bucket(2.0), 2);
        assert_eq!(age_bucket(7.5), 3);
        assert_eq!(age_bucket(1e9), AGE_BUCKETS - 1);
    }

    #[test]
    fn gelu_matches_known_values() {
        assert!(gelu(0.0).abs() < 1e-7);
        assert!((gelu(1.0) - 0.841_344_7).abs() < 1e-5);
        assert!((gelu(-1.0) + 0.158_655_3).abs() < 1e-5);
    }
}
