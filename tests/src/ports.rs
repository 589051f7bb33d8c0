//! Free loopback ports for servers that cannot bind port 0 themselves.

use std::net::TcpListener;

/// A port on 127.0.0.1 that was free a moment ago.
///
/// # Errors
/// Fails when no port can be bound.
pub fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}
