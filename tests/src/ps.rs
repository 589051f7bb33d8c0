//! Starts a real `ps-server` binary on a free loopback port.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};

use crate::binaries::binary;
use crate::process::ChildProcess;

/// Starts shard `shard` of `num_shards` on 127.0.0.1:0 and returns the
/// process with its address (`127.0.0.1:PORT`), read from the
/// `LISTENING <addr>` line the server prints once bound.
///
/// # Errors
/// Fails when the binary is missing or prints something unexpected.
pub fn start_ps_server(shard: u32, num_shards: u32) -> anyhow::Result<(ChildProcess, String)> {
    let mut command = Command::new(binary("ps-server")?);
    command
        .args([
            "--listen",
            "127.0.0.1:0",
            "--shard",
            &shard.to_string(),
            "--num-shards",
            &num_shards.to_string(),
        ])
        .stdout(Stdio::piped());
    let mut process = ChildProcess::spawn("ps-server", &mut command)?;
    let stdout =
        process.child_mut().and_then(|c| c.stdout.take()).ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let addr =
        line.trim().strip_prefix("LISTENING ").ok_or_else(|| anyhow::anyhow!("unexpected line {line:?}"))?;
    Ok((process, addr.to_owned()))
}
