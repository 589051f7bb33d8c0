//! The parameter server's error type and its one mapping to `tonic::Status`.

/// Everything a shard can refuse or fail at.
#[derive(Debug, thiserror::Error)]
pub enum PsError {
    /// A request field is malformed or inconsistent.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A named table or parameter does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The caller's fencing token is stale (a replaced worker).
    #[error("fenced: {0}")]
    Fenced(String),
    /// Local I/O failed (checkpoint, export).
    #[error("io error while {context}: {source}")]
    Io {
        /// What the shard was doing.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl From<ps_client::codec::CodecError> for PsError {
    fn from(err: ps_client::codec::CodecError) -> Self {
        PsError::InvalidArgument(err.0)
    }
}

/// Result alias for the parameter server.
pub type Result<T, E = PsError> = std::result::Result<T, E>;

impl From<PsError> for tonic::Status {
    fn from(err: PsError) -> Self {
        let message = err.to_string();
        match err {
            PsError::InvalidArgument(_) => tonic::Status::invalid_argument(message),
            PsError::NotFound(_) => tonic::Status::not_found(message),
            PsError::Fenced(_) => tonic::Status::failed_precondition(message),
            PsError::Io { .. } => tonic::Status::internal(message),
        }
    }
}
