//! The job store's error: what etcd or the stored state can fail with. The
//! coordinator maps it to gRPC codes in its own error type.

/// What a store call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No job with this id.
    #[error("job {0:?} not found")]
    JobNotFound(String),
    /// A job with this id exists already.
    #[error("job {0:?} already exists")]
    JobExists(String),
    /// An argument (such as a job id) is malformed.
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

/// Result alias of the store.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
