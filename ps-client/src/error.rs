//! The sharded client's error: what went wrong, typed, so that callers (and
//! the client's own retry loop) can tell a stale worker from a shard that is
//! away or a request that no retry will fix.

/// Why a call to the parameter-server shards failed.
#[derive(Debug, thiserror::Error)]
pub enum PsClientError {
    /// The shard refused the caller's fencing token: a newer worker holds
    /// the partition (or a newer job run holds the namespace). Never retried.
    #[error("{what} on ps shard {shard} was fenced: {message}")]
    Fenced {
        /// The call.
        what: &'static str,
        /// The shard.
        shard: u32,
        /// The shard's message.
        message: String,
    },
    /// The shard stayed unreachable (or timed out) for every attempt.
    #[error("ps shard {shard} unavailable for {what} after {attempts} attempts: {message}")]
    Unavailable {
        /// The call.
        what: &'static str,
        /// The shard.
        shard: u32,
        /// Attempts made.
        attempts: u32,
        /// The last transport or status message.
        message: String,
    },
    /// The shard refused the request as malformed or naming something that
    /// does not exist (wrong dimension, unknown table, bad payload).
    #[error("ps shard {shard} refused {what}: {message}")]
    InvalidRequest {
        /// The call.
        what: &'static str,
        /// The shard.
        shard: u32,
        /// The shard's message.
        message: String,
    },
    /// The shard failed on its side (I/O, an internal error).
    #[error("ps shard {shard} failed {what}: {code:?}: {message}")]
    Server {
        /// The call.
        what: &'static str,
        /// The shard.
        shard: u32,
        /// The gRPC code.
        code: tonic::Code,
        /// The shard's message.
        message: String,
    },
    /// The request was wrong before it was sent (lengths, shapes), or a
    /// reply did not decode.
    #[error("{0}")]
    Local(String),
    /// A payload could not be encoded or decoded.
    #[error("ps codec: {0}")]
    Codec(#[from] crate::codec::CodecError),
    /// The shards could not be found: a malformed endpoint, or etcd
    /// unreachable or missing shards at the deadline.
    #[error("ps discovery: {0}")]
    Discovery(String),
}

impl PsClientError {
    /// Classifies a shard's gRPC status.
    pub fn from_status(what: &'static str, shard: u32, attempts: u32, status: &tonic::Status) -> Self {
        let message = status.message().to_owned();
        match status.code() {
            tonic::Code::FailedPrecondition => Self::Fenced { what, shard, message },
            c if is_transient(c) => Self::Unavailable { what, shard, attempts, message },
            tonic::Code::InvalidArgument
            | tonic::Code::NotFound
            | tonic::Code::OutOfRange
            | tonic::Code::ResourceExhausted
            | tonic::Code::AlreadyExists => Self::InvalidRequest { what, shard, message },
            code => Self::Server { what, shard, code, message },
        }
    }

    /// Whether this is a stale-token refusal.
    pub fn is_fenced(&self) -> bool {
        matches!(self, Self::Fenced { .. })
    }
}

/// The codes a retry can fix: the shard is away (restarting, a dropped
/// connection reported as `Unknown` by the transport) or slow.
pub fn is_transient(code: tonic::Code) -> bool {
    matches!(code, tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::DeadlineExceeded)
}

/// Result alias of the client.
pub type Result<T, E = PsClientError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_kinds() {
        let kind = |code| PsClientError::from_status("push", 1, 3, &tonic::Status::new(code, "m"));
        assert!(kind(tonic::Code::FailedPrecondition).is_fenced());
        assert!(matches!(kind(tonic::Code::Unavailable), PsClientError::Unavailable { attempts: 3, .. }));
        assert!(matches!(kind(tonic::Code::InvalidArgument), PsClientError::InvalidRequest { .. }));
        assert!(matches!(kind(tonic::Code::Internal), PsClientError::Server { .. }));
        assert!(!is_transient(tonic::Code::FailedPrecondition));
        assert!(!is_transient(tonic::Code::InvalidArgument));
    }
}
