//! The HNSW index over the item embeddings: its settings, a parallel build,
//! and its recall against exact search.
//!
//! Scores are dot products, and the inner product is not a distance (an
//! item is not its own nearest neighbour), so a graph built on it navigates
//! badly: on 1M clustered vectors of dimension 64, usearch's inner-product
//! index found 40% of the exact top 10. The index therefore holds each item
//! as `[x; sqrt(M² − |x|²)]`, with M the largest item norm, under the
//! squared L2 distance, and a query `q` as `[q; 0]`: then
//! `|q' − x'|² = |q|² + M² − 2 q·x`, so the nearest items are exactly the
//! highest-scoring ones (Bachrach et al., 2014). Found items are scored
//! again from their stored vectors.

use std::time::Instant;

use rand::seq::index::sample;
use rand::SeedableRng;
use usearch::{Index, IndexOptions, MetricKind, ScalarKind};

use crate::error::{BundleError, Result};
use crate::manifest::AnnInfo;
use crate::retrieve::{self, recall};

/// Queries the recall of an index is measured on.
pub const RECALL_QUERIES: usize = 1_000;

/// HNSW settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnnOptions {
    /// Catalogues smaller than this are served by exact search, no index.
    pub min_items: usize,
    /// Edges per node (HNSW `M`).
    pub connectivity: usize,
    /// Candidate list while building (`ef_construction`).
    pub expansion_add: usize,
    /// Candidate list while searching (`ef`).
    pub expansion_search: usize,
    /// Threads that build the index.
    pub threads: usize,
}

impl Default for AnnOptions {
    fn default() -> Self {
        Self {
            min_items: 20_000,
            connectivity: 16,
            expansion_add: 128,
            expansion_search: 256,
            threads: std::thread::available_parallelism().map_or(2, usize::from),
        }
    }
}

fn ann(e: impl std::fmt::Display) -> BundleError {
    BundleError::Ann(e.to_string())
}

/// An empty index for `dim`-wide vectors under `options` (items are
/// indexed one dimension wider; see the module header).
///
/// # Errors
/// When usearch refuses the options.
pub fn empty(dim: usize, options: &AnnOptions) -> Result<Index> {
    let index = Index::new(&IndexOptions {
        dimensions: dim + 1,
        metric: MetricKind::L2sq,
        quantization: ScalarKind::F32,
        connectivity: options.connectivity,
        expansion_add: options.expansion_add,
        expansion_search: options.expansion_search,
        multi: false,
    })
    .map_err(ann)?;
    Ok(index)
}

fn norm2(v: &[f32]) -> f32 {
    v.iter().map(|x| x * x).sum()
}

/// The largest squared norm of `items` (row-major, `dim` wide): the `M²`
/// the index's items are widened with.
pub fn max_norm2(items: &[f32], dim: usize) -> f32 {
    items.chunks_exact(dim.max(1)).map(norm2).fold(0f32, f32::max)
}

/// `x` as the index holds it, `[x; sqrt(M² − |x|²)]`, into `wide`. An item
/// longer than `M` (added after the build; HGT's items all have one length)
/// is held shortened to `M`, `[x·M/|x|; 0]`: it is found when its direction
/// suits the query, a little less often than its score deserves, and
/// always scored exactly from its own vector.
fn widen(x: &[f32], max2: f32, wide: &mut [f32]) {
    let dim = x.len();
    let n2 = norm2(x);
    if n2 > max2 && max2 > 0.0 {
        let scale = (max2 / n2).sqrt();
        for (w, v) in wide[..dim].iter_mut().zip(x) {
            *w = v * scale;
        }
        wide[dim] = 0.0;
    } else {
        wide[..dim].copy_from_slice(x);
        wide[dim] = (max2 - n2).max(0.0).sqrt();
    }
}

/// Adds `vector` under `key` to `index` (built with the largest squared
/// norm `max2`), growing its capacity when full. The caller keeps searches
/// out while it runs (usearch does not search and grow at once).
///
/// # Errors
/// When usearch fails.
pub fn insert(index: &Index, key: u64, vector: &[f32], max2: f32) -> Result<()> {
    if index.size() + 1 > index.capacity() {
        index.reserve((index.capacity() * 2).max(index.size() + 1024)).map_err(ann)?;
    }
    let mut wide = vec![0f32; vector.len() + 1];
    widen(vector, max2, &mut wide);
    index.add(key, &wide).map_err(ann)
}

/// An index of `items` (row-major, `dim` wide), keyed by row, built by
/// `options.threads` threads.
///
/// # Errors
/// When usearch fails.
pub fn build(items: &[f32], dim: usize, options: &AnnOptions) -> Result<Index> {
    let index = empty(dim, options)?;
    let n = items.len() / dim;
    let threads = options.threads.max(1);
    index.reserve_capacity_and_threads(n, threads).map_err(ann)?;
    let max2 = max_norm2(items, dim);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let index = &index;
                s.spawn(move || -> Result<()> {
                    let mut wide = vec![0f32; dim + 1];
                    for i in (t..n).step_by(threads) {
                        widen(&items[i * dim..(i + 1) * dim], max2, &mut wide);
                        index.add(i as u64, &wide).map_err(ann)?;
                    }
                    Ok(())
                })
            })
            .collect();
        handles.into_iter().try_for_each(|h| h.join().map_err(|_| ann("a build thread panicked"))?)
    })?;
    Ok(index)
}

/// Recall@10 of `index` against exact search over `items`, on up to
/// [`RECALL_QUERIES`] of the `queries` (row-major, `dim` wide) drawn with
/// `seed`; returns (recall, queries used).
///
/// # Errors
/// When the index fails.
pub fn measure_recall(
    index: &Index,
    items: &[f32],
    queries: &[f32],
    dim: usize,
    seed: u64,
) -> Result<(f64, usize)> {
    let n = queries.len() / dim;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let picked = sample(&mut rng, n, n.min(RECALL_QUERIES));
    let mut total = 0.0;
    for q in picked.iter() {
        let query = &queries[q * dim..(q + 1) * dim];
        let truth = retrieve::exact(query, items, dim, 10, |_| false);
        let found = retrieve::hnsw(index, items, dim, query, 10, |_| false)?;
        total += recall(&found, &truth);
    }
    Ok((total / picked.len().max(1) as f64, picked.len()))
}

/// Builds the index of `items` and measures it against `queries`.
///
/// # Errors
/// When usearch fails.
pub fn build_measured(
    items: &[f32],
    queries: &[f32],
    dim: usize,
    options: &AnnOptions,
    seed: u64,
) -> Result<(Index, AnnInfo)> {
    let started = Instant::now();
    let index = build(items, dim, options)?;
    let build_secs = started.elapsed().as_secs_f64();
    let (recall_at_10, recall_queries) = measure_recall(&index, items, queries, dim, seed)?;
    let info = AnnInfo {
        kind: "hnsw".into(),
        metric: crate::manifest::MIPS_L2.into(),
        connectivity: options.connectivity,
        expansion_add: options.expansion_add,
        expansion_search: options.expansion_search,
        recall_at_10,
        recall_queries,
        build_secs,
    };
    Ok((index, info))
}

#[cfg(test)]
mod tests {
    use rand::Rng;

    use super::*;

    #[test]
    fn hnsw_finds_nearly_what_exact_search_finds_and_honours_the_filter() {
        let (n, dim) = (5_000, 16);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let items: Vec<f32> = (0..n * dim).map(|_| rng.random_range(-1f32..1.)).collect();
        let queries: Vec<f32> = (0..200 * dim).map(|_| rng.random_range(-1f32..1.)).collect();
        let options = AnnOptions { threads: 2, ..AnnOptions::default() };
        let (index, info) = build_measured(&items, &queries, dim, &options, 1).unwrap();
        assert_eq!(index.size(), n);
        assert!(info.recall_at_10 >= 0.95, "recall {}", info.recall_at_10);
        assert_eq!(info.recall_queries, 200);
        // Scores are dot products, and excluded items never come back.
        let q = &queries[..dim];
        let found = retrieve::hnsw(&index, &items, dim, q, 20, |i| i % 2 == 0).unwrap();
        assert_eq!(found.len(), 20);
        for s in &found {
            assert!(s.item % 2 == 1);
            let want = retrieve::dot(q, &items[s.item as usize * dim..(s.item as usize + 1) * dim]);
            assert!((s.score - want).abs() < 1e-4, "{} vs {want}", s.score);
        }
    }
}
