//! The HTTP routes, their JSON bodies, and the middleware that counts and
//! times every request by route and status.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{MatchedPath, Path, RawQuery, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tessera_bundle::Bundle;
use tessera_runtime::auth::{Refusal, Token};

use crate::answer::{self, Recommendations, SimilarItems};
use crate::error::ApiError;
use crate::metrics::{RequestLabels, RouteLabels};
use crate::new_items::{NewItem, NewItemAnswer};
use crate::new_users::{NewUser, NewUserAnswer};
use crate::query;
use crate::state::AppState;

/// Largest request body accepted (a new user's body of up to 1,000
/// behaviours fits; the reload request is tiny).
pub const MAX_BODY: usize = 128 * 1024;

/// The service's routes over `state`; with `admin`, the admin calls need it
/// as a bearer token.
pub fn router(state: Arc<AppState>, admin: Option<Token>) -> Router {
    let admin = Arc::new(admin);
    Router::new()
        .route("/v1/users/{id}/recommendations", get(recommendations))
        .route("/v1/users", post(new_user))
        .route("/v1/items", post(new_item))
        .route("/v1/items/{id}/similar", get(similar))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .route(
            "/admin/reload",
            post(reload).route_layer(axum::middleware::from_fn_with_state(admin, require_admin)),
        )
        .layer(axum::middleware::from_fn_with_state(state.clone(), track))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

/// Lets an admin call through only with the admin token (when there is one).
async fn require_admin(
    State(admin): State<Arc<Option<Token>>>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if let Some(token) = admin.as_ref() {
        let header = request.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        token.check(header).map_err(|refusal| match refusal {
            Refusal::Missing => ApiError::Unauthorized(
                "admin calls need `Authorization: Bearer <token>` (the service's --admin-token-file)".into(),
            ),
            Refusal::Wrong => ApiError::Forbidden("the bearer token is not the admin token".into()),
        })?;
    }
    Ok(next.run(request).await)
}

/// Counts and times each request under its route template.
async fn track(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let started = Instant::now();
    let response = next.run(request).await;
    let m = &state.metrics;
    m.latency.get_or_create(&RouteLabels { route: route.clone() }).observe(started.elapsed().as_secs_f64());
    m.requests.get_or_create(&RequestLabels { route, status: response.status().as_u16() }).inc();
    response
}

async fn recommendations(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Recommendations>, ApiError> {
    let q = query::recommend(raw.as_deref())?;
    let user = query::id("user", &id)?;
    Ok(Json(state.recommend(user, &q).await?))
}

async fn new_user(State(state): State<Arc<AppState>>, body: Bytes) -> Result<Json<NewUserAnswer>, ApiError> {
    let request: NewUser = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("malformed new-user body: {e}")))?;
    Ok(Json(state.new_user(request).await?))
}

async fn new_item(State(state): State<Arc<AppState>>, body: Bytes) -> Result<Json<NewItemAnswer>, ApiError> {
    let request: NewItem = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("malformed new-item body: {e}")))?;
    Ok(Json(state.new_item(request).await?))
}

async fn similar(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<SimilarItems>, ApiError> {
    let q = query::similar(raw.as_deref())?;
    let item = query::id("item", &id)?;
    Ok(Json(answer::similar(&state.current(), item, &q)?))
}

/// What is served: the bundle's directory, job, version and size.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Served {
    /// The version directory.
    pub bundle: String,
    /// The job.
    pub job: String,
    /// The model.
    pub model: String,
    /// The version.
    pub version: u32,
    /// Items served (the bundle's and those added since).
    pub items: usize,
    /// Whether an HNSW index serves (else exact search).
    pub ann: bool,
}

fn served(bundle: &Bundle) -> Served {
    let m = bundle.manifest();
    Served {
        bundle: bundle.dir().display().to_string(),
        job: m.job.clone(),
        model: m.model.clone(),
        version: m.version,
        items: bundle.num_items(),
        ann: bundle.has_index(),
    }
}

async fn ready(State(state): State<Arc<AppState>>) -> Json<Served> {
    Json(served(&state.current()))
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, tessera_runtime::metrics_http::OPENMETRICS)],
        state.metrics.encode(),
    )
        .into_response()
}

/// Body of `POST /admin/reload` (optional).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReloadRequest {
    /// The bundle to serve from now on (a version or job directory).
    pub bundle: Option<std::path::PathBuf>,
}

async fn reload(State(state): State<Arc<AppState>>, body: Bytes) -> Result<Json<Served>, ApiError> {
    let request: Option<ReloadRequest> = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        Some(
            serde_json::from_slice(&body)
                .map_err(|e| ApiError::BadRequest(format!("malformed JSON body: {e}")))?,
        )
    };
    let bundle = state.reload(request.and_then(|r| r.bundle)).await?;
    Ok(Json(served(&bundle)))
}
