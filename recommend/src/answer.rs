//! The answers themselves, shared by the HTTP routes and the gRPC service:
//! a user's recommendations and an item's similar items from one bundle.

use serde::{Deserialize, Serialize};
use tessera_bundle::rank::Ranked;
use tessera_bundle::Bundle;

use crate::error::ApiError;
use crate::query;

/// A recommended item.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Item {
    /// Raw item id.
    pub item: u64,
    /// Raw category id, when the item has one.
    pub category: Option<u64>,
    /// The final score: the ranker's when the bundle has one (and the
    /// request did not turn it off), else the retrieval score.
    pub score: f32,
    /// The retrieval score: the dot product of the two embeddings.
    pub retrieval_score: f32,
    /// 1-based rank.
    pub rank: usize,
}

/// Body of a recommendation.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Recommendations {
    /// Raw user id.
    pub user: u64,
    /// The model of the bundle.
    pub model: String,
    /// The bundle's version.
    pub bundle_version: u32,
    /// Whether the ranker, or the job's neighbourhood term blended with the
    /// embeddings, ordered the items (else retrieval order).
    pub ranked: bool,
    /// Best first.
    pub items: Vec<Item>,
}

/// Body of a similar-items answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SimilarItems {
    /// Raw item id asked about.
    pub item: u64,
    /// The model of the bundle.
    pub model: String,
    /// The bundle's version.
    pub bundle_version: u32,
    /// Most similar first.
    pub items: Vec<Item>,
}

/// The answer's items, best first: each found item with its final and
/// retrieval scores.
pub fn items(bundle: &Bundle, found: impl Iterator<Item = Ranked>, k: usize) -> Vec<Item> {
    found
        .take(k)
        .enumerate()
        .map(|(r, s)| Item {
            item: bundle.item_id(s.item),
            category: bundle.item_category(s.item),
            score: s.score,
            retrieval_score: s.retrieval,
            rank: r + 1,
        })
        .collect()
}

/// `user`'s recommendations from `bundle` under `q`.
///
/// # Errors
/// An unknown user, or an index failure.
pub fn recommend(bundle: &Bundle, user: u64, q: &query::Recommend) -> Result<Recommendations, ApiError> {
    let found =
        bundle.recommend_ranked(bundle.user(user)?, q.k, q.candidates, q.exclude_seen, q.exact, q.rank)?;
    Ok(Recommendations {
        user,
        model: bundle.manifest().model.clone(),
        bundle_version: bundle.manifest().version,
        ranked: q.rank && (bundle.ranker().is_some() || bundle.neighbourhood().is_some()),
        items: items(bundle, found.into_iter(), q.k),
    })
}

/// The items of `bundle` most similar to `item` under `q`.
///
/// # Errors
/// An unknown item, or an index failure.
pub fn similar(bundle: &Bundle, item: u64, q: &query::Similar) -> Result<SimilarItems, ApiError> {
    let found = bundle.similar(bundle.item(item)?, q.k, q.exact)?;
    Ok(SimilarItems {
        item,
        model: bundle.manifest().model.clone(),
        bundle_version: bundle.manifest().version,
        items: items(bundle, found.into_iter().map(Ranked::from), q.k),
    })
}
