//! `POST /v1/users`: a user the served model never trained on, embedded
//! from their first behaviours (and profile features) by folding them into
//! the trained HGT (`tessera_bundle::foldin`), then answered like any user.
//! Every field is checked before anything is computed, and a refusal names
//! the field; a refused request is never stored (`crate::overlay` keeps
//! the accepted ones that name a user).

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tessera_bundle::foldin::{Behaviour, FoldIn, FoldInError};
use tessera_bundle::Bundle;

use crate::answer::{items, Item};
use crate::error::ApiError;
use crate::query;

/// One behaviour of a new user.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NewBehaviour {
    /// Raw item id (an item the bundle holds).
    pub item: u64,
    /// `click`, `cart`, `fav` or `buy` (the model's behaviours).
    pub behaviour: String,
    /// When, Unix seconds.
    pub time: i64,
}

/// Body of `POST /v1/users`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// The user's raw id, when they have one (not one the bundle trained on).
    #[serde(default)]
    pub user: Option<u64>,
    /// Profile features, as many as the model reads for users.
    #[serde(default)]
    pub features: Option<Vec<f32>>,
    /// The first behaviours, oldest or newest first.
    pub behaviours: Vec<NewBehaviour>,
    /// The time to embed at, Unix seconds (default: the latest behaviour's).
    #[serde(default)]
    pub now: Option<i64>,
    /// Items returned (default 20).
    #[serde(default)]
    pub k: Option<usize>,
    /// Exact search instead of the index.
    #[serde(default)]
    pub exact: bool,
}

/// Answer of `POST /v1/users`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NewUserAnswer {
    /// The raw id given, if any.
    pub user: Option<u64>,
    /// The model of the bundle.
    pub model: String,
    /// The bundle's version.
    pub bundle_version: u32,
    /// What ordered the items: the model (`hgt`), or the model with the
    /// job's neighbourhood term (`hgt+timeknn`) over the same behaviours.
    pub ranked_by: String,
    /// The user's scoring vector (its dot product with an item's embedding
    /// is the score).
    pub embedding: Vec<f32>,
    /// Best first, without the items in `behaviours`.
    pub items: Vec<Item>,
}

/// The fold-in of one bundle, or why the bundle has none.
pub type Loaded = Result<FoldIn, String>;

/// Maps a fold-in refusal: a bad request names its field; a model that
/// cannot fold the node in is the bundle's limit.
pub(crate) fn refusal(e: FoldInError) -> ApiError {
    match e {
        FoldInError::Invalid(m) => ApiError::BadRequest(m),
        other => ApiError::Unsupported(format!("this bundle cannot embed it: {other}")),
    }
}

/// The answer for `request` from `bundle` through `foldin`.
///
/// # Errors
/// [`ApiError::BadRequest`] naming the field; [`ApiError::Unsupported`]
/// when the bundle's model has no fold-in (MF).
pub fn answer(bundle: &Bundle, foldin: &Arc<Loaded>, request: &NewUser) -> Result<NewUserAnswer, ApiError> {
    let foldin = foldin.as_ref().as_ref().map_err(|m| ApiError::Unsupported(m.clone()))?;
    let k = query::Similar::new(request.k, request.exact)?.k;
    if let Some(user) = request.user {
        if bundle.user(user).is_ok() {
            return Err(ApiError::BadRequest(format!(
                "user: {user} is a trained user of this bundle; GET /v1/users/{user}/recommendations"
            )));
        }
    }
    let mut history = Vec::with_capacity(request.behaviours.len());
    for (i, b) in request.behaviours.iter().enumerate() {
        let item = bundle
            .item(b.item)
            .map_err(|_| ApiError::BadRequest(format!("behaviours[{i}].item: unknown item {}", b.item)))?;
        let behaviour =
            foldin.behaviours().iter().position(|known| *known == b.behaviour).ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "behaviours[{i}].behaviour: {:?} is not one of this model's: {}",
                    b.behaviour,
                    foldin.behaviours().join(", ")
                ))
            })?;
        history.push(Behaviour { item, behaviour, time: b.time });
    }
    let start = foldin.start(request.features.as_deref()).map_err(refusal)?;
    let now = request.now.or_else(|| history.iter().map(|b| b.time).max()).unwrap_or(0);
    let embedding = foldin.embed(&start, &history, now).map_err(refusal)?;
    let given: Vec<u32> = history.iter().map(|b| b.item).collect();
    let times: Vec<i64> = history.iter().map(|b| b.time).collect();
    let mut excluded = given.clone();
    excluded.sort_unstable();
    excluded.dedup();
    // Ranked as the job ranks: with its neighbourhood term over the same behaviours, when it has one.
    let found = bundle.rank_vector(&embedding, &given, &times, &excluded, k, request.exact)?;
    let ranked_by = match bundle.neighbourhood() {
        Some(term) => format!("{}+{}", bundle.manifest().model, term.info.kind),
        None => bundle.manifest().model.clone(),
    };
    Ok(NewUserAnswer {
        user: request.user,
        model: bundle.manifest().model.clone(),
        bundle_version: bundle.manifest().version,
        ranked_by,
        embedding,
        items: items(bundle, found.into_iter(), k),
    })
}
