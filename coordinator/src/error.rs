//! The coordinator service's errors, and their one mapping to gRPC status
//! codes.

use tessera_control::StoreError;
use tessera_job::SpecError;

/// What a coordinator call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum CoordinatorError {
    /// The job store (etcd) refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The job spec is invalid.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// Another argument is invalid.
    #[error("{0}")]
    InvalidArgument(String),
}

/// Result alias of the coordinator.
pub type Result<T, E = CoordinatorError> = std::result::Result<T, E>;

impl From<CoordinatorError> for tonic::Status {
    fn from(e: CoordinatorError) -> Self {
        let message = e.to_string();
        match e {
            CoordinatorError::Store(StoreError::JobNotFound(_)) => tonic::Status::not_found(message),
            CoordinatorError::Store(StoreError::JobExists(_)) => tonic::Status::already_exists(message),
            CoordinatorError::Spec(_)
            | CoordinatorError::InvalidArgument(_)
            | CoordinatorError::Store(StoreError::InvalidArgument(_)) => {
                tonic::Status::invalid_argument(message)
            }
            CoordinatorError::Store(StoreError::Etcd(_)) => tonic::Status::unavailable(message),
            CoordinatorError::Store(StoreError::Corrupt { .. }) => tonic::Status::internal(message),
        }
    }
}
