//! The ranker's model in libtorch, for training: a bias, a weight and an
//! embedding per hashed id, the factorisation machine's pairwise term, and
//! an MLP over the normalised dense features and the id embeddings. It
//! exports to `tessera_bundle::rank::RankerWeights`, whose plain-Rust
//! `score` computes the same function at serving time.

use std::collections::BTreeMap;

use tch::{nn, nn::Module, Kind, Tensor};
use tessera_bundle::rank::{dense_width, FeatureConfig, Layer, RankerWeights, FIELDS, RANKER_FORMAT};

/// The model and its shapes.
pub struct DeepFm {
    bias: Tensor,
    first: Tensor,
    embeddings: Tensor,
    layers: Vec<nn::Linear>,
    factors: i64,
}

impl DeepFm {
    /// A fresh model under `vs` for embeddings of `dim`.
    pub fn new(vs: &nn::Path<'_>, dim: usize, buckets: u32, factors: u32, hidden: &[u32]) -> Self {
        let slots = (FIELDS.len() as i64) * i64::from(buckets);
        let factors = i64::from(factors);
        let bias = vs.zeros("bias", &[1]);
        let first = vs.zeros("first", &[slots]);
        let embeddings = vs.var("embeddings", &[slots, factors], nn::Init::Randn { mean: 0.0, stdev: 0.01 });
        let mut inputs = (dense_width(dim) + FIELDS.len() * factors as usize) as i64;
        let mut layers = Vec::new();
        for (k, &h) in hidden.iter().chain(&[1]).enumerate() {
            layers.push(nn::linear(vs / format!("layer{k}"), inputs, i64::from(h), Default::default()));
            inputs = i64::from(h);
        }
        Self { bias, first, embeddings, layers, factors }
    }

    /// Scores of `n` rows: `dense` is n × width (normalised), `sparse` n × fields (i64 buckets).
    pub fn forward(&self, dense: &Tensor, sparse: &Tensor) -> Tensor {
        let n = sparse.size()[0];
        let fields = FIELDS.len() as i64;
        let ids = sparse.flatten(0, -1);
        let linear =
            self.first.index_select(0, &ids).view([n, fields]).sum_dim_intlist(1, false, Kind::Float)
                + &self.bias;
        let e = self.embeddings.index_select(0, &ids).view([n, fields, self.factors]);
        let sum = e.sum_dim_intlist(1, false, Kind::Float);
        let squares = (&e * &e).sum_dim_intlist(1, false, Kind::Float);
        let pairwise = ((&sum * &sum) - squares).sum_dim_intlist(1, false, Kind::Float) * 0.5;
        let mut h = Tensor::cat(&[dense.shallow_clone(), e.view([n, fields * self.factors])], 1);
        let last = self.layers.len() - 1;
        for (k, layer) in self.layers.iter().enumerate() {
            h = layer.forward(&h);
            if k < last {
                h = h.relu();
            }
        }
        linear + pairwise + h.view([n])
    }

    /// The weights as `ranker.json` holds them.
    ///
    /// # Errors
    /// When a tensor cannot be read back.
    #[allow(clippy::too_many_arguments)]
    pub fn export(
        &self,
        dim: usize,
        candidates: usize,
        features: FeatureConfig,
        mean: &[f32],
        std: &[f32],
        training: BTreeMap<String, f64>,
    ) -> anyhow::Result<RankerWeights> {
        let floats = |t: &Tensor| -> anyhow::Result<Vec<f32>> {
            Ok(Vec::<f32>::try_from(&t.detach().to_kind(Kind::Float).contiguous().flatten(0, -1))?)
        };
        let layers = self
            .layers
            .iter()
            .map(|l| {
                let size = l.ws.size();
                let bias =
                    l.bs.as_ref().map(floats).transpose()?.unwrap_or_else(|| vec![0.0; size[0] as usize]);
                Ok(Layer {
                    inputs: size[1] as usize,
                    outputs: size[0] as usize,
                    weight: floats(&l.ws)?,
                    bias,
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(RankerWeights {
            format: RANKER_FORMAT.into(),
            dim,
            candidates,
            features,
            factors: self.factors as usize,
            mean: mean.to_vec(),
            std: std.to_vec(),
            bias: floats(&self.bias)?[0],
            first: floats(&self.first)?,
            embeddings: floats(&self.embeddings)?,
            layers,
            training,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_bundle::rank::Features;

    #[test]
    fn the_exported_weights_score_as_libtorch_does() {
        tch::manual_seed(7);
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let (dim, buckets) = (4, 8);
        let model = DeepFm::new(&vs.root(), dim, buckets, 3, &[5, 4]);
        // Move the zero-initialised weights off zero so every term counts.
        tch::no_grad(|| {
            for (_, mut v) in vs.variables() {
                let noise = v.randn_like() * 0.3;
                let _ = v.g_add_(&noise);
            }
        });
        let width = dense_width(dim);
        let n = 6;
        let dense: Vec<f32> = (0..n * width).map(|k| ((k * 37 % 11) as f32 - 5.0) / 3.0).collect();
        let sparse: Vec<u32> =
            (0..n * FIELDS.len()).map(|k| (k % FIELDS.len()) as u32 * buckets + (k * 5 % 8) as u32).collect();
        let t_dense = Tensor::from_slice(&dense).view([n as i64, width as i64]);
        let t_sparse = Tensor::from_slice(&sparse.iter().map(|&b| i64::from(b)).collect::<Vec<_>>())
            .view([n as i64, FIELDS.len() as i64]);
        let want = Vec::<f32>::try_from(&tch::no_grad(|| model.forward(&t_dense, &t_sparse))).unwrap();
        let cfg = FeatureConfig { recent: 1, recency: 1.0, buckets };
        let w = model.export(dim, 10, cfg, &vec![0.0; width], &vec![1.0; width], BTreeMap::new()).unwrap();
        w.validate(dim).unwrap();
        let got = w.score(&Features { dense, sparse });
        for (g, t) in got.iter().zip(&want) {
            assert!((g - t).abs() < 1e-4 * (1.0 + t.abs()), "{got:?} != {want:?}");
        }
    }
}
