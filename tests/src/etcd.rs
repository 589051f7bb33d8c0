//! A real single-node etcd on free loopback ports with a temporary data dir.
//! It can be killed and restarted on the same ports and data.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::ports::free_port;
use crate::process::ChildProcess;

/// How long `start` waits for etcd to answer.
pub const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(20);

/// A running (or stopped) etcd owned by a test.
#[derive(Debug)]
pub struct Etcd {
    data_dir: tempfile::TempDir,
    client_port: u16,
    peer_port: u16,
    process: Option<ChildProcess>,
    /// A `coordinator certs` folder when etcd serves mutual TLS.
    tls: Option<PathBuf>,
}

impl Etcd {
    /// Starts etcd on free ports with a fresh data dir and waits until it
    /// answers.
    ///
    /// # Errors
    /// Fails when the `etcd` binary is missing or does not become ready.
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with(None).await
    }

    /// Starts etcd serving mutual TLS (`--client-cert-auth`) with the
    /// `etcd` certificate of `certs`, a `coordinator certs` folder.
    ///
    /// # Errors
    /// As [`Etcd::start`].
    pub async fn start_tls(certs: &std::path::Path) -> anyhow::Result<Self> {
        Self::start_with(Some(certs.to_path_buf())).await
    }

    async fn start_with(tls: Option<PathBuf>) -> anyhow::Result<Self> {
        let mut etcd = Self {
            data_dir: tempfile::tempdir().context("create etcd data dir")?,
            client_port: free_port()?,
            peer_port: free_port()?,
            process: None,
            tls,
        };
        etcd.launch().await?;
        Ok(etcd)
    }

    /// The client endpoint, `http://127.0.0.1:PORT` (`https://` under TLS).
    pub fn endpoint(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.client_port)
    }

    /// How the test reaches it: plaintext, or TLS with the `client` certificate.
    ///
    /// # Errors
    /// Unreadable certificates.
    pub fn access(&self) -> anyhow::Result<tessera_runtime::etcd::EtcdAccess> {
        Ok(match &self.tls {
            None => tessera_runtime::etcd::EtcdAccess::plain([self.endpoint()]),
            Some(dir) => {
                let tls = tessera_runtime::tls::Tls::from_files(&tessera_runtime::tls::TlsFiles::in_dir(
                    dir, "client",
                ))?;
                tessera_runtime::etcd::EtcdAccess::new(vec![self.endpoint()], &tls, &Default::default())?
            }
        })
    }

    /// The data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir.path().to_path_buf()
    }

    /// A connected client.
    ///
    /// # Errors
    /// Fails when etcd cannot be reached.
    pub async fn client(&self) -> anyhow::Result<etcd_client::Client> {
        let options = etcd_client::ConnectOptions::new()
            .with_connect_timeout(Duration::from_secs(2))
            .with_timeout(Duration::from_secs(5));
        self.access()?
            .connect(options)
            .await
            .with_context(|| format!("connect to etcd at {}", self.endpoint()))
    }

    /// SIGKILLs etcd (a crash, not a clean stop).
    pub fn kill(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.kill();
        }
    }

    /// Starts etcd again on the same ports and data dir.
    ///
    /// # Errors
    /// Fails when it does not become ready.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.kill();
        self.launch().await
    }

    async fn launch(&mut self) -> anyhow::Result<()> {
        let client_url = self.endpoint();
        let peer_url = format!("http://127.0.0.1:{}", self.peer_port);
        let log = std::fs::File::create(self.data_dir.path().join("etcd.log")).context("create etcd log")?;
        let mut command = Command::new("etcd");
        command
            .arg("--name=test")
            .arg(format!("--data-dir={}", self.data_dir.path().join("data").display()))
            .arg(format!("--listen-client-urls={client_url}"))
            .arg(format!("--advertise-client-urls={client_url}"))
            .arg(format!("--listen-peer-urls={peer_url}"))
            .arg(format!("--initial-advertise-peer-urls={peer_url}"))
            .arg(format!("--initial-cluster=test={peer_url}"));
        if let Some(dir) = &self.tls {
            command.args(tessera_runtime::tls::TlsFiles::in_dir(dir, "etcd").etcd_server_args());
        }
        command.stdout(Stdio::null()).stderr(Stdio::from(log));
        self.process = Some(ChildProcess::spawn("etcd (is Debian's etcd-server installed?)", &mut command)?);
        self.wait_ready(DEFAULT_START_TIMEOUT).await
    }

    async fn wait_ready(&self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let attempt = async {
                let mut client = self.client().await?;
                client.status().await.context("etcd status")
            };
            match attempt.await {
                Ok(_) => return Ok(()),
                Err(e) if Instant::now() >= deadline => {
                    let log =
                        std::fs::read_to_string(self.data_dir.path().join("etcd.log")).unwrap_or_default();
                    let tail: String = log.lines().rev().take(10).collect::<Vec<_>>().join("\n");
                    anyhow::bail!("etcd at {} not ready after {timeout:?}: {e:#}\n{tail}", self.endpoint());
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }
}
