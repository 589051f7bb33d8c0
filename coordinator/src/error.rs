//! The coordinator service's errors, and their one mapping to gRPC status
//! codes.

use crate::job::SpecError;

/// What a coordinator call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum CoordinatorError {
    /// No job with this id.
    #[error("job {0:?} not found")]
    JobNotFound(String),
    /// A job with this id exists already.
    #[error("job {0:?} already exists")]
    JobExists(String),
    /// The job spec is invalid.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// Another argument is invalid.
    #[error("{0}")]
    InvalidArgument(String),
    /// etcd failed or is unreachable.
    #[error("etcd: {0}")]
    Etcd(#[from] etcd_client::Error),
    /// A stored value does not decode.
    #[error("corrupt value at {key}: {reason}")]
    Corrupt {
        /// The etcd key.
        key: String,
        /// What is wrong.
        reason: String,
    },
}

/// Result alias of the coordinator.
pub type Result<T, E = CoordinatorError> = std::result::Result<T, E>;

impl From<CoordinatorError> for tonic::Status {
    fn from(e: CoordinatorError) -> Self {
        let message = e.to_string();
        match e {
            CoordinatorError::JobNotFound(_) => tonic::Status::not_found(message),
            CoordinatorError::JobExists(_) => tonic::Status::already_exists(message),
            CoordinatorError::Spec(_) | CoordinatorError::InvalidArgument(_) => {
                tonic::Status::invalid_argument(message)
            }
            CoordinatorError::Etcd(_) => tonic::Status::unavailable(message),
            CoordinatorError::Corrupt { .. } => tonic::Status::internal(message),
        }
    }
}
