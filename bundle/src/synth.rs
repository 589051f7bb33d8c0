//! Synthetic embeddings for benchmarks and load tests: vectors around a
//! number of cluster centres (as learned item embeddings group by category
//! and taste), with per-vector noise, seeded.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// `n` vectors of `dim` around `clusters` random centres (each coordinate of
/// a centre uniform in ±1, each vector its centre plus uniform noise of
/// ±`noise`), row-major.
pub fn clustered(n: usize, dim: usize, clusters: usize, noise: f32, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let centres: Vec<f32> = (0..clusters.max(1) * dim).map(|_| rng.random_range(-1f32..1.)).collect();
    let mut out = Vec::with_capacity(n * dim);
    for _ in 0..n {
        let c = rng.random_range(0..clusters.max(1));
        out.extend(centres[c * dim..(c + 1) * dim].iter().map(|&x| x + rng.random_range(-noise..noise)));
    }
    out
}
