//! Transport limits the parameter server and its clients agree on.

/// Largest gRPC message either side accepts.
pub const MAX_MESSAGE_BYTES: usize = 256 << 20;

/// HTTP/2 stream window: a whole 4,096 × 64 f32 batch fits in one window.
pub const H2_STREAM_WINDOW: u32 = 4 << 20;

/// HTTP/2 connection window.
pub const H2_CONNECTION_WINDOW: u32 = 16 << 20;
