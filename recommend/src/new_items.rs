//! `POST /v1/items`: an item the served model never trained on, embedded
//! from its category, shop and brand and its features (price, content
//! vector) by folding it into the trained HGT (`tessera_bundle::foldin`),
//! then added to the items served and to the HNSW index online, so that the
//! next recommendation can return it. Every field is checked before
//! anything changes, and a refusal names the field; a refused item is
//! neither served nor kept (`crate::overlay` keeps the accepted ones).

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tessera_bundle::foldin::ItemAttributes;
use tessera_bundle::{Bundle, BundleError};

use crate::answer::{items, Item};
use crate::error::ApiError;
use crate::new_users::{refusal, Loaded};
use crate::query;

/// Body of `POST /v1/items`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NewItem {
    /// The item's raw id (not one the bundle serves).
    pub item: u64,
    /// Raw category id (one the bundle's graph has).
    #[serde(default)]
    pub category: Option<u64>,
    /// Raw shop id.
    #[serde(default)]
    pub shop: Option<u64>,
    /// Raw brand id.
    #[serde(default)]
    pub brand: Option<u64>,
    /// The model's item features, already encoded as the graph encodes
    /// them (instead of `price` and `content`).
    #[serde(default)]
    pub features: Option<Vec<f32>>,
    /// The raw price, encoded as the graph encoded its items' prices.
    #[serde(default)]
    pub price: Option<f32>,
    /// The raw content vector (text or image embedding), when the model's
    /// items have one.
    #[serde(default)]
    pub content: Option<Vec<f32>>,
    /// The time to embed at, Unix seconds (default: now).
    #[serde(default)]
    pub now: Option<i64>,
    /// Similar items returned (default 20).
    #[serde(default)]
    pub k: Option<usize>,
}

/// Answer of `POST /v1/items`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NewItemAnswer {
    /// The raw id.
    pub item: u64,
    /// The model of the bundle.
    pub model: String,
    /// The bundle's version.
    pub bundle_version: u32,
    /// The item's embedding (its dot product with a user's scoring vector
    /// is the score).
    pub embedding: Vec<f32>,
    /// Items served now (the bundle's and those added).
    pub items_served: usize,
    /// The items most like it, most similar first.
    pub similar: Vec<Item>,
}

/// Seconds since the epoch now.
pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// `request`'s embedding from `foldin`, every field checked; nothing
/// changes.
///
/// # Errors
/// [`ApiError::BadRequest`] naming the field (an id already served, an
/// unknown category, shop or brand, bad features);
/// [`ApiError::Unsupported`] when the bundle cannot fold items in.
pub fn embed(bundle: &Bundle, foldin: &Arc<Loaded>, request: &NewItem) -> Result<Vec<f32>, ApiError> {
    let foldin = foldin.as_ref().as_ref().map_err(|m| ApiError::Unsupported(m.clone()))?;
    query::Similar::new(request.k, false)?;
    if bundle.item(request.item).is_ok() {
        return Err(ApiError::BadRequest(format!(
            "item: {} is already served; GET /v1/items/{}/similar",
            request.item, request.item
        )));
    }
    let attributes = ItemAttributes {
        groups: [request.category, request.shop, request.brand],
        features: request.features.as_deref(),
        price: request.price,
        content: request.content.as_deref(),
        now: request.now.unwrap_or_else(unix_now),
    };
    foldin.embed_item(&attributes).map_err(refusal)
}

/// Adds `request`'s item with `embedding` to `bundle`'s items served (and
/// its index), and answers with the items most like it.
///
/// # Errors
/// [`ApiError::BadRequest`] when the id was added meanwhile; an index failure.
pub fn insert(bundle: &Bundle, request: &NewItem, embedding: Vec<f32>) -> Result<NewItemAnswer, ApiError> {
    let k = query::Similar::new(request.k, false)?.k;
    let row = bundle.add_item(request.item, request.category, &embedding).map_err(|e| match e {
        BundleError::Invalid(m) => ApiError::BadRequest(format!("item: {m}")),
        other => other.into(),
    })?;
    let found = bundle.similar(row, k, false)?;
    Ok(NewItemAnswer {
        item: request.item,
        model: bundle.manifest().model.clone(),
        bundle_version: bundle.manifest().version,
        embedding,
        items_served: bundle.num_items(),
        similar: items(bundle, found.into_iter().map(Into::into), k),
    })
}
