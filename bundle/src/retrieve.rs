//! Top-k retrieval by the dot product: exact search over every item (the
//! reference, and what small catalogues use), or the HNSW index. Both skip
//! the excluded items and break score ties by the lower item id.

use std::cmp::Ordering;

use usearch::Index;

use crate::error::{BundleError, Result};

/// An item and its score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    /// Dense item id.
    pub item: u32,
    /// Dot product of the query and the item's embedding.
    pub score: f32,
}

/// Best first: higher score, then lower item id.
fn better(a: &Scored, b: &Scored) -> Ordering {
    b.score.partial_cmp(&a.score).unwrap_or(Ordering::Equal).then(a.item.cmp(&b.item))
}

/// Dot product of two equal-length vectors.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The `k` best items for `query` among `items` (row-major, `dim` wide),
/// skipping those `excluded` says, best first.
pub fn exact(
    query: &[f32],
    items: &[f32],
    dim: usize,
    k: usize,
    excluded: impl Fn(u32) -> bool,
) -> Vec<Scored> {
    let all: Vec<Scored> = items
        .chunks_exact(dim)
        .enumerate()
        .filter(|&(i, _)| !excluded(i as u32))
        .map(|(i, v)| Scored { item: i as u32, score: dot(query, v) })
        .collect();
    best(all, k)
}

/// The `k` best of `all`, best first (higher score, then lower item id).
pub fn best(mut all: Vec<Scored>, k: usize) -> Vec<Scored> {
    if k < all.len() {
        all.select_nth_unstable_by(k, better);
        all.truncate(k);
    }
    all.sort_by(better);
    all
}

/// The `k` best items for `query` from the HNSW `index` over `items`
/// (keys are rows; built by [`crate::ann::build`]), skipping those
/// `excluded` says, best first, scored from their vectors.
///
/// # Errors
/// When the index fails.
pub fn hnsw(
    index: &Index,
    items: &[f32],
    dim: usize,
    query: &[f32],
    k: usize,
    excluded: impl Fn(u32) -> bool,
) -> Result<Vec<Scored>> {
    let mut wide = Vec::with_capacity(dim + 1);
    wide.extend_from_slice(query);
    wide.push(0.0);
    let found = index
        .filtered_search(&wide, k, |key| !excluded(key as u32))
        .map_err(|e| BundleError::Ann(e.to_string()))?;
    let mut out: Vec<Scored> = found
        .keys
        .iter()
        .filter_map(|&key| {
            let v = items.get(key as usize * dim..(key as usize + 1) * dim)?;
            Some(Scored { item: key as u32, score: dot(query, v) })
        })
        .collect();
    out.sort_by(better);
    Ok(out)
}

/// Recall@k of `found` against `truth` (shared items / |truth|).
pub fn recall(found: &[Scored], truth: &[Scored]) -> f64 {
    if truth.is_empty() {
        return 1.0;
    }
    let hits = truth.iter().filter(|t| found.iter().any(|f| f.item == t.item)).count();
    hits as f64 / truth.len() as f64
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn exact_ranks_by_dot_and_skips_the_excluded() {
        // Items: (1,0), (0,1), (2,0), (1,1).
        let items = [1f32, 0., 0., 1., 2., 0., 1., 1.];
        let top = exact(&[1., 0.5], &items, 2, 3, |i| i == 2);
        let got: Vec<(u32, f32)> = top.iter().map(|s| (s.item, s.score)).collect();
        assert_eq!(got, vec![(3, 1.5), (0, 1.0), (1, 0.5)]);
        // Ties go to the lower id.
        let top = exact(&[1., 1.], &[1., 0., 0., 1.], 2, 1, |_| false);
        assert_eq!(top[0].item, 0);
    }

    proptest! {
        #[test]
        fn exact_top_k_is_the_sorted_prefix_of_all_scores(
            raw in proptest::collection::vec(-1f32..1., 4 * 40),
            query in proptest::collection::vec(-1f32..1., 4),
            k in 0usize..50,
            skip in 0u32..40,
        ) {
            let top = exact(&query, &raw, 4, k, |i| i % 7 == skip % 7);
            let mut all = exact(&query, &raw, 4, usize::MAX, |i| i % 7 == skip % 7);
            all.truncate(k);
            prop_assert_eq!(top, all);
        }
    }
}
