//! Synthetic embeddings for benchmarks and load tests, seeded:
//! - [`low_rank`]: clusters in a low-dimensional latent space, mapped into
//!   the embedding space by a random linear map, plus a little noise. Learned
//!   embeddings look like this: they group by category and taste, and their
//!   effective rank is well below their dimension.
//! - [`isotropic`]: clusters with uniform noise in every dimension, so the
//!   points fill all dimensions at once. A worst case for graph indexes,
//!   which no trained model produces.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// `n` vectors of `dim`: each a random one of `clusters` centres in a
/// `rank`-dimensional latent space (coordinates uniform in ±1) plus latent
/// noise uniform in ±0.5, times a fixed random `rank × dim` map, plus noise
/// uniform in ±0.02 per dimension. Row-major.
pub fn low_rank(n: usize, dim: usize, rank: usize, clusters: usize, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    // The map and the centres depend on `rank` and `dim` only, so queries
    // drawn with another seed live in the same space.
    let mut shared = ChaCha8Rng::seed_from_u64(0x5eed);
    let scale = 1.0 / (rank as f32).sqrt();
    let map: Vec<f32> = (0..rank * dim).map(|_| shared.random_range(-scale..scale)).collect();
    let centres: Vec<f32> = (0..clusters.max(1) * rank).map(|_| shared.random_range(-1f32..1.)).collect();
    let mut out = Vec::with_capacity(n * dim);
    let mut z = vec![0f32; rank];
    for _ in 0..n {
        let c = rng.random_range(0..clusters.max(1));
        for (r, zr) in z.iter_mut().enumerate() {
            *zr = centres[c * rank + r] + rng.random_range(-0.5f32..0.5);
        }
        for d in 0..dim {
            let x: f32 = (0..rank).map(|r| z[r] * map[r * dim + d]).sum();
            out.push(x + rng.random_range(-0.02f32..0.02));
        }
    }
    out
}

/// `n` vectors of `dim` around `clusters` random centres (coordinates
/// uniform in ±1), each its centre plus uniform noise of ±`noise` in every
/// dimension. Row-major.
pub fn isotropic(n: usize, dim: usize, clusters: usize, noise: f32, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut shared = ChaCha8Rng::seed_from_u64(0x5eed);
    let centres: Vec<f32> = (0..clusters.max(1) * dim).map(|_| shared.random_range(-1f32..1.)).collect();
    let mut out = Vec::with_capacity(n * dim);
    for _ in 0..n {
        let c = rng.random_range(0..clusters.max(1));
        out.extend(centres[c * dim..(c + 1) * dim].iter().map(|&x| x + rng.random_range(-noise..noise)));
    }
    out
}

/// A ranker of the default shape (16,384 buckets per field, 8 factors, an
/// MLP of 64 and 32 units) for embeddings of `dim`, with random weights:
/// for load tests of the service with the ranker on, where the cost and
/// not the order matters.
pub fn ranker(dim: usize, seed: u64) -> crate::rank::RankerWeights {
    use crate::rank::{dense_width, FeatureConfig, Layer, RankerWeights, FIELDS, RANKER_FORMAT};
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (buckets, factors) = (1u32 << 14, 8usize);
    let slots = FIELDS.len() * buckets as usize;
    let mut random =
        |n: usize, scale: f32| -> Vec<f32> { (0..n).map(|_| rng.random_range(-scale..scale)).collect() };
    let mut layers = Vec::new();
    let mut inputs = dense_width(dim) + FIELDS.len() * factors;
    for outputs in [64, 32, 1] {
        let scale = 1.0 / (inputs as f32).sqrt();
        layers.push(Layer {
            inputs,
            outputs,
            weight: random(inputs * outputs, scale),
            bias: random(outputs, scale),
        });
        inputs = outputs;
    }
    RankerWeights {
        format: RANKER_FORMAT.into(),
        dim,
        candidates: 200,
        features: FeatureConfig { recent: 10, recency: 0.8, buckets },
        factors,
        mean: vec![0.0; dense_width(dim)],
        std: vec![1.0; dense_width(dim)],
        bias: 0.0,
        first: random(slots, 0.01),
        embeddings: random(slots * factors, 0.01),
        layers,
        training: Default::default(),
    }
}
