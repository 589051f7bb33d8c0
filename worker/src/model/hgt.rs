//! HGT (Hu et al., 2020): per node type K, Q, V and A linears; per edge type
//! the attention and message matrices W_ATT and W_MSG (per head) and a prior
//! μ per head; a softmax over all of a target's incoming edges, of every
//! type; target-specific aggregation with a gated residual. Optional relative
//! temporal encoding adds a learned vector per age bucket to the source.

use tch::nn::{self, Module};
use tch::{Kind, Tensor};
use tessera_graph::schema::NodeType;

use crate::model::input::head;
use crate::model::{glorot, Config, Layer, LayerInput, Schema, TypedTensors};

/// Age buckets of the temporal encoding: 0, then powers of two in days.
pub const AGE_BUCKETS: i64 = 16;

/// One HGT layer.
#[derive(Debug)]
pub struct HgtLayer {
    heads: i64,
    head_dim: i64,
    dropout: f64,
    k_lin: Vec<Option<nn::Linear>>,
    q_lin: Vec<Option<nn::Linear>>,
    v_lin: Vec<Option<nn::Linear>>,
    a_lin: Vec<Option<nn::Linear>>,
    skip: Vec<Option<Tensor>>,
    w_att: Vec<Tensor>,
    w_msg: Vec<Tensor>,
    mu: Vec<Tensor>,
    edge_ends: Vec<(usize, usize)>,
    rte: Option<Tensor>,
}

/// Softmax of `scores` (E × H) over the edges sharing a destination in
/// `dst` (E), for `n` destinations.
pub fn segment_softmax(scores: &Tensor, dst: &Tensor, n: i64) -> Tensor {
    let heads = scores.size()[1];
    let max = Tensor::zeros([n, heads], (Kind::Float, scores.device())).index_reduce(
        0,
        dst,
        &scores.detach(),
        "amax",
        false,
    );
    let ex = (scores - max.index_select(0, dst)).exp();
    let denom = Tensor::zeros([n, heads], (Kind::Float, scores.device())).index_add(0, dst, &ex);
    ex / (denom.index_select(0, dst) + 1e-16)
}

/// Overwrites a square matrix, or a stack of them (`… × n × n`), with the
/// identity.
fn set_identity(w: &Tensor) {
    let n = *w.size().last().expect("a matrix");
    let eye = Tensor::eye(n, (w.kind(), w.device())).expand(w.size(), false);
    w.shallow_clone().copy_(&eye);
}

/// Bucket of an edge age in days: 0 for under a day, else 1 + log2(days).
pub fn age_bucket(age_days: &Tensor) -> Tensor {
    (age_days.clamp_min(1.0).log2().floor() + 1.0)
        .clamp(0.0, (AGE_BUCKETS - 1) as f64)
        .where_self(&age_days.ge(1.0), &age_days.zeros_like())
        .to_kind(Kind::Int64)
}

/// A source type's projected keys and values (see [`HgtLayer::project`]).
struct Projected {
    k: Tensor,
    v: Tensor,
    k_age: Option<Tensor>,
    v_age: Option<Tensor>,
}

/// Each edge's key (or message) under a relation matrix `w` (H × hd × hd):
/// its source's projection in `nodes` plus, with `ages`, its age bucket's,
/// times `w`. The product runs on whichever is fewer, the edges or the
/// source nodes (then gathered per edge); both give the same values.
fn relation_product(nodes: &Tensor, ages: Option<(&Tensor, &Tensor)>, w: &Tensor, src: &Tensor) -> Tensor {
    let times = |x: &Tensor| Tensor::einsum("ehd,hdf->ehf", &[x, w], None::<&[i64]>);
    if src.size()[0] < nodes.size()[0] {
        let x = nodes.index_select(0, src);
        times(&match ages {
            Some((table, buckets)) => x + table.index_select(0, buckets),
            None => x,
        })
    } else {
        let x = times(nodes).index_select(0, src);
        match ages {
            Some((table, buckets)) => x + times(table).index_select(0, buckets),
            None => x,
        }
    }
}

impl HgtLayer {
    /// Weights under `vs`.
    pub fn new(vs: &nn::Path<'_>, config: &Config, schema: &Schema) -> Self {
        let d = config.dim;
        let heads = config.heads;
        let head_dim = d / heads;
        let per_type = |name: &str| -> Vec<Option<nn::Linear>> {
            NodeType::ALL
                .iter()
                .map(|&t| {
                    schema
                        .node_types
                        .contains(&t)
                        .then(|| nn::linear(vs / name / t.as_str(), d, d, Default::default()))
                })
                .collect()
        };
        let skip = NodeType::ALL
            .iter()
            .map(|&t| {
                schema
                    .node_types
                    .contains(&t)
                    .then(|| (vs / "skip").var(t.as_str(), &[1], nn::Init::Const(1.0)))
            })
            .collect();
        let mut w_att = Vec::new();
        let mut w_msg = Vec::new();
        let mut mu = Vec::new();
        let mut edge_ends = Vec::new();
        for (name, src, dst, _) in &schema.edge_types {
            w_att.push(glorot(&(vs / "w_att"), name, &[heads, head_dim, head_dim]));
            w_msg.push(glorot(&(vs / "w_msg"), name, &[heads, head_dim, head_dim]));
            mu.push((vs / "mu").var(name, &[heads], nn::Init::Const(1.0)));
            edge_ends.push((src.index(), dst.index()));
        }
        let (v_lin, a_lin) = (per_type("v_lin"), per_type("a_lin"));
        if config.identity_init {
            tch::no_grad(|| {
                for lin in v_lin.iter().chain(&a_lin).flatten() {
                    set_identity(&lin.ws);
                    if let Some(bias) = &lin.bs {
                        let _ = bias.shallow_clone().zero_();
                    }
                }
                for w in w_att.iter().chain(&w_msg) {
                    set_identity(w);
                }
            });
        }
        let rte = config.temporal.then(|| {
            (vs / "rte").var("table", &[AGE_BUCKETS, d], nn::Init::Randn { mean: 0.0, stdev: 0.02 })
        });
        Self {
            heads,
            head_dim,
            dropout: config.dropout,
            k_lin: per_type("k_lin"),
            q_lin: per_type("q_lin"),
            v_lin,
            a_lin,
            skip,
            w_att,
            w_msg,
            mu,
            edge_ends,
            rte,
        }
    }

    /// K and V of every node of type `t` in `h` (N × H × hd) and, with the
    /// temporal encoding, of every age bucket's vector (buckets × H × hd,
    /// without the bias): K(x + r) = K(x) + W_K r, so an edge's key and
    /// value are its source's plus its age's, and no linear runs per edge.
    fn project(&self, h: &TypedTensors, t: usize) -> Option<Projected> {
        let (x, kl, vl) = (h[t].as_ref()?, self.k_lin[t].as_ref()?, self.v_lin[t].as_ref()?);
        let split = |x: Tensor| x.view([-1, self.heads, self.head_dim]);
        let age = |lin: &nn::Linear| self.rte.as_ref().map(|rte| split(rte.matmul(&lin.ws.tr())));
        Some(Projected { k: split(kl.forward(x)), v: split(vl.forward(x)), k_age: age(kl), v_age: age(vl) })
    }

    /// The forward pass that also returns, per edge type, each edge's
    /// attention weights (E × H).
    pub fn forward_with_attention(
        &self,
        h: &TypedTensors,
        input: &LayerInput,
        train: bool,
    ) -> (TypedTensors, Vec<Option<Tensor>>) {
        let (heads, hd) = (self.heads, self.head_dim);
        let split = |x: Tensor| x.view([-1, heads, hd]);
        let q: Vec<Option<Tensor>> = (0..h.len())
            .map(|t| {
                let (x, lin) = (h[t].as_ref()?, self.q_lin[t].as_ref()?);
                Some(split(lin.forward(&head(x, input.n_dst[t]))))
            })
            .collect();
        let sources: Vec<bool> = (0..h.len())
            .map(|s| input.edges.iter().zip(&self.edge_ends).any(|(e, &(src, _))| e.is_some() && src == s))
            .collect();
        let projected: Vec<Option<Projected>> =
            (0..h.len()).map(|t| if sources[t] { self.project(h, t) } else { None }).collect();
        // Per destination type: scores, messages and destinations of all its edges.
        let mut scores: Vec<Vec<Tensor>> = (0..h.len()).map(|_| Vec::new()).collect();
        let mut messages: Vec<Vec<Tensor>> = (0..h.len()).map(|_| Vec::new()).collect();
        let mut dsts: Vec<Vec<Tensor>> = (0..h.len()).map(|_| Vec::new()).collect();
        let mut order: Vec<Vec<(usize, i64)>> = (0..h.len()).map(|_| Vec::new()).collect();
        for (e, edges) in input.edges.iter().enumerate() {
            let Some(edges) = edges else { continue };
            let (s, t) = self.edge_ends[e];
            let Some(qt) = q[t].as_ref() else { continue };
            let Some(p) = projected[s].as_ref() else { continue };
            let buckets = p.k_age.as_ref().map(|_| age_bucket(&edges.age_days));
            let ke =
                relation_product(&p.k, p.k_age.as_ref().zip(buckets.as_ref()), &self.w_att[e], &edges.src);
            let me =
                relation_product(&p.v, p.v_age.as_ref().zip(buckets.as_ref()), &self.w_msg[e], &edges.src);
            let qe = qt.index_select(0, &edges.dst);
            let mut score =
                (ke * qe).sum_dim_intlist(-1, false, Kind::Float) * &self.mu[e] / (hd as f64).sqrt();
            if let Some(w) = &edges.weight {
                // Importance weighting: the softmax becomes attention × weight, renormalised.
                score += w.clamp_min(1e-12).log().unsqueeze(-1);
            }
            order[t].push((e, score.size()[0]));
            scores[t].push(score);
            messages[t].push(me);
            dsts[t].push(edges.dst.shallow_clone());
        }
        let mut attention: Vec<Option<Tensor>> = (0..input.edges.len()).map(|_| None).collect();
        let out = (0..h.len())
            .map(|t| {
                let x = h[t].as_ref()?;
                let n = input.n_dst[t];
                let x_dst = head(x, n);
                if scores[t].is_empty() {
                    return Some(x_dst);
                }
                let score = Tensor::cat(&scores[t], 0);
                let dst = Tensor::cat(&dsts[t], 0);
                let alpha = segment_softmax(&score, &dst, n);
                let dropped = alpha.dropout(self.dropout, train);
                // Each edge type's messages are added in on their own, so no
                // E × d concatenation of them is made.
                let mut agg = Tensor::zeros([n, self.heads, self.head_dim], (Kind::Float, x.device()));
                let mut at = 0;
                for (&(e, len), (message, dst)) in order[t].iter().zip(messages[t].iter().zip(&dsts[t])) {
                    attention[e] = Some(alpha.narrow(0, at, len));
                    agg = agg.index_add(0, dst, &(message * dropped.narrow(0, at, len).unsqueeze(-1)));
                    at += len;
                }
                let agg = agg.view([n, self.heads * self.head_dim]);
                let out = self.a_lin[t].as_ref()?.forward(&agg.gelu("none")).dropout(self.dropout, train);
                let gate = self.skip[t].as_ref()?.sigmoid();
                Some(&gate * out + (1.0 - &gate) * x_dst)
            })
            .collect();
        (out, attention)
    }
}

impl Layer for HgtLayer {
    fn forward_t(&self, h: &TypedTensors, input: &LayerInput, train: bool) -> TypedTensors {
        self.forward_with_attention(h, input, train).0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn both_orders_of_the_relation_product_give_the_per_edge_formula() {
        tch::manual_seed(5);
        let (nodes, heads, hd, buckets) = (7, 4, 4, AGE_BUCKETS);
        let cpu = (Kind::Float, Device::Cpu);
        let vs = nn::VarStore::new(Device::Cpu);
        let lin = nn::linear(vs.root() / "k", heads * hd, heads * hd, Default::default());
        let x = Tensor::randn([nodes, heads * hd], cpu);
        let rte = Tensor::randn([buckets, heads * hd], cpu);
        let w = Tensor::randn([heads, hd, hd], cpu);
        let split = |t: Tensor| t.view([-1, heads, hd]);
        let per_node = split(lin.forward(&x));
        let per_bucket = split(rte.matmul(&lin.ws.tr()));
        // 30 edges over 7 sources (the product on the nodes), then 5 (on the edges).
        for edges in [30, 5] {
            let src = Tensor::randint(nodes, [edges], (Kind::Int64, Device::Cpu));
            let age = Tensor::randint(buckets, [edges], (Kind::Int64, Device::Cpu));
            let times = |t: Tensor| Tensor::einsum("ehd,hdf->ehf", &[&t, &w], None::<&[i64]>);
            // What the layer computed per edge before: K(x_src + r_age) W.
            let want = times(split(lin.forward(&(x.index_select(0, &src) + rte.index_select(0, &age)))));
            let got = relation_product(&per_node, Some((&per_bucket, &age)), &w, &src);
            assert!(got.allclose(&want, 1e-4, 1e-4, false), "{edges} edges, temporal");
            let want = times(split(lin.forward(&x.index_select(0, &src))));
            let got = relation_product(&per_node, None, &w, &src);
            assert!(got.allclose(&want, 1e-4, 1e-4, false), "{edges} edges");
        }
    }
}
