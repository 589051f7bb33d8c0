//! The service's error, and its one mapping to an HTTP status and a JSON
//! body `{"error": "..."}` that names the problem, or to a gRPC status.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tessera_bundle::BundleError;

/// What a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A malformed request: a bad parameter, id or body.
    #[error("{0}")]
    BadRequest(String),
    /// An unknown user or item.
    #[error("{0}")]
    NotFound(String),
    /// An admin call without a bearer token.
    #[error("{0}")]
    Unauthorized(String),
    /// An admin call with another token.
    #[error("{0}")]
    Forbidden(String),
    /// A reload whose bundle failed its checks; the old one still serves.
    #[error("{0}")]
    BadBundle(String),
    /// The served bundle cannot do what was asked (fold a new user into MF).
    #[error("{0}")]
    Unsupported(String),
    /// Anything else (an index failure).
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::BadBundle(_) | Self::Unsupported(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<BundleError> for ApiError {
    fn from(e: BundleError) -> Self {
        match e {
            BundleError::Unknown { .. } => Self::NotFound(e.to_string()),
            BundleError::Ann(_) => Self::Internal(e.to_string()),
            _ => Self::BadBundle(e.to_string()),
        }
    }
}

impl From<ApiError> for tonic::Status {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::BadRequest(m) => Self::invalid_argument(m),
            ApiError::NotFound(m) => Self::not_found(m),
            ApiError::Unauthorized(m) => Self::unauthenticated(m),
            ApiError::Forbidden(m) => Self::permission_denied(m),
            ApiError::BadBundle(m) | ApiError::Unsupported(m) => Self::failed_precondition(m),
            ApiError::Internal(m) => Self::internal(m),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.to_string() });
        (self.status(), axum::Json(body)).into_response()
    }
}
