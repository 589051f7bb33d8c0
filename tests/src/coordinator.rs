//! Starts a real `coordinator serve` process against a test etcd.

use crate::process::ChildProcess;

/// A running coordinator.
#[derive(Debug)]
pub struct CoordinatorProcess {
    /// The process (killed on drop).
    pub process: ChildProcess,
    /// gRPC address, `127.0.0.1:PORT`.
    pub addr: String,
}

impl CoordinatorProcess {
    /// `http://<addr>`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// Starts `coordinator serve` on `listen` (such as `127.0.0.1:0`) with etcd
/// at `etcd` under `prefix`, and waits for its `LISTENING` line.
///
/// # Errors
/// Fails when the binary is missing or does not come up.
pub fn start_coordinator(etcd: &str, prefix: &str, listen: &str) -> anyhow::Result<CoordinatorProcess> {
    start_coordinator_with(etcd, prefix, listen, &[])
}

/// [`start_coordinator`] with `extra` flags for `serve`.
///
/// # Errors
/// As [`start_coordinator`].
pub fn start_coordinator_with(
    etcd: &str,
    prefix: &str,
    listen: &str,
    extra: &[&str],
) -> anyhow::Result<CoordinatorProcess> {
    let mut command = crate::binaries::command("coordinator")?;
    command.args(["serve", "--listen", listen, "--etcd", etcd, "--etcd-prefix", prefix, "--tick", "100ms"]);
    command.args(extra);
    let (process, mut values) = ChildProcess::spawn_reporting("coordinator", &mut command, &["LISTENING "])?;
    let addr = values.pop().ok_or_else(|| anyhow::anyhow!("no address"))?;
    Ok(CoordinatorProcess { process, addr })
}
