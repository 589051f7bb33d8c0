//! Starts a real `ps-server` binary on a free loopback port.

use crate::process::ChildProcess;

/// A running ps-server.
#[derive(Debug)]
pub struct PsServer {
    /// The process (killed on drop).
    pub process: ChildProcess,
    /// gRPC address, `127.0.0.1:PORT`.
    pub addr: String,
    /// Metrics address, when `--metrics-listen` was given.
    pub metrics: Option<String>,
}

/// Starts shard `shard` of `num_shards` on 127.0.0.1:0 and reads the
/// `LISTENING <addr>` line (and `METRICS <addr>` when `extra` enables
/// metrics) that the server prints once bound.
///
/// # Errors
/// Fails when the binary is missing or prints something unexpected.
pub fn start_ps_server_with(shard: u32, num_shards: u32, extra: &[String]) -> anyhow::Result<PsServer> {
    start_ps_server_on("127.0.0.1:0", shard, num_shards, extra)
}

/// [`start_ps_server_with`] on `listen` (a restarted shard on its old address).
///
/// # Errors
/// As [`start_ps_server_with`].
pub fn start_ps_server_on(
    listen: &str,
    shard: u32,
    num_shards: u32,
    extra: &[String],
) -> anyhow::Result<PsServer> {
    let mut command = crate::binaries::command("ps-server")?;
    command
        .args(["--listen", listen, "--shard", &shard.to_string(), "--num-shards", &num_shards.to_string()])
        .args(extra);
    let with_metrics = extra.iter().any(|a| a == "--metrics-listen");
    let prefixes: &[&str] = if with_metrics { &["LISTENING ", "METRICS "] } else { &["LISTENING "] };
    let (process, mut values) = ChildProcess::spawn_reporting("ps-server", &mut command, prefixes)?;
    let metrics = if with_metrics { values.pop() } else { None };
    let addr = values.pop().ok_or_else(|| anyhow::anyhow!("no address"))?;
    Ok(PsServer { process, addr, metrics })
}

/// [`start_ps_server_with`] without extra flags; returns the process and address.
///
/// # Errors
/// As [`start_ps_server_with`].
pub fn start_ps_server(shard: u32, num_shards: u32) -> anyhow::Result<(ChildProcess, String)> {
    let server = start_ps_server_with(shard, num_shards, &[])?;
    Ok((server.process, server.addr))
}
