//! Mutual TLS for every gRPC connection between Tessera's components
//! (coordinator, parameter servers, workers, the recommend service, the CLI)
//! and for etcd. Each process reads a CA certificate, its own certificate and
//! its key from PEM files: it presents its certificate, and accepts only peers
//! whose certificate that CA signed, as a server and as a client. Plaintext
//! needs an explicit `--insecure`; with neither, a binary refuses to start.
//!
//! Endpoints keep their `http://` spelling in flags and in etcd; a secure
//! [`Tls`] turns them into `https://` when it connects, since tonic falls back
//! to plaintext for an `http://` URI even with a TLS configuration.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity, ServerTlsConfig};

/// The CA certificate's file name in a certificate folder (`make certs`).
pub const CA_FILE: &str = "ca.pem";

/// How long a server waits for a client to finish the TLS handshake before
/// it drops the connection (a slow or silent client holds nothing longer).
pub const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// HTTP/2 pings on an idle connection, and how long a ping may go
/// unanswered before the connection is closed: a dead or stalled peer
/// frees its connection.
const KEEPALIVE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(30);
const KEEPALIVE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// Concurrent calls one connection may have open.
const MAX_STREAMS_PER_CONNECTION: u32 = 256;

/// Largest header block a client may send (the bearer token included).
const MAX_HEADER_BYTES: u32 = 64 << 10;

/// The environment variables behind [`TlsArgs`]: a launcher that gives a
/// child explicit security flags removes them, so an inherited one cannot
/// contradict the flags.
pub const ENV_VARS: [&str; 5] =
    ["TESSERA_INSECURE", "TESSERA_TLS_DIR", "TESSERA_TLS_CA", "TESSERA_TLS_CERT", "TESSERA_TLS_KEY"];

/// Appends `--tls-dir dir` (or `--insecure` when `dir` is `None`) to a child
/// process's command, and clears [`ENV_VARS`] from its environment.
pub fn secure_child(command: &mut std::process::Command, dir: Option<&Path>) {
    for var in ENV_VARS {
        command.env_remove(var);
    }
    match dir {
        Some(dir) => command.arg("--tls-dir").arg(dir),
        None => command.arg("--insecure"),
    };
}

/// TLS flags shared by every binary: a certificate folder, or the three
/// files, or `--insecure`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TlsArgs {
    /// Folder written by `coordinator certs` (`make certs`): uses `ca.pem`,
    /// `<component>.pem` and `<component>.key` from it. The single-file flags
    /// below override it.
    #[arg(long, global = true, env = "TESSERA_TLS_DIR", value_name = "DIR")]
    pub tls_dir: Option<PathBuf>,
    /// PEM certificate of the CA that signs every component's certificate;
    /// peers without a certificate it signed are refused.
    #[arg(long, global = true, env = "TESSERA_TLS_CA", value_name = "PEM")]
    pub tls_ca: Option<PathBuf>,
    /// PEM certificate this process presents, as a server and as a client.
    #[arg(long, global = true, env = "TESSERA_TLS_CERT", value_name = "PEM")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `--tls-cert`.
    #[arg(long, global = true, env = "TESSERA_TLS_KEY", value_name = "PEM")]
    pub tls_key: Option<PathBuf>,
    /// Plaintext gRPC without certificates, for a trusted network only.
    /// Without it, TLS certificates are required.
    #[arg(long, global = true, env = "TESSERA_INSECURE", value_parser = clap::builder::BoolishValueParser::new())]
    pub insecure: bool,
}

impl TlsArgs {
    /// The transport security these flags ask for; `component` names the
    /// certificate and key in `--tls-dir` (`coordinator`, `ps`, `worker`,
    /// `recommend`, `client`).
    ///
    /// # Errors
    /// Neither certificates nor `--insecure`, both, a file missing from the
    /// set, or a file that does not hold what it should.
    pub fn load(&self, component: &str) -> anyhow::Result<Tls> {
        let from_dir = |name: String| self.tls_dir.as_ref().map(|d| d.join(name));
        let ca = self.tls_ca.clone().or_else(|| from_dir(CA_FILE.into()));
        let cert = self.tls_cert.clone().or_else(|| from_dir(format!("{component}.pem")));
        let key = self.tls_key.clone().or_else(|| from_dir(format!("{component}.key")));
        let any = ca.is_some() || cert.is_some() || key.is_some();
        match (self.insecure, any) {
            (true, true) => anyhow::bail!(
                "--insecure and TLS certificates were both given (flags or TESSERA_INSECURE/TESSERA_TLS_*): pick one"
            ),
            (true, false) => Ok(Tls::insecure()),
            (false, false) => anyhow::bail!(
                "no TLS certificates: pass --tls-dir (made by `make certs`) or --tls-ca, --tls-cert and \
                 --tls-key, or --insecure for plaintext on a trusted network"
            ),
            (false, true) => {
                let missing = |what: &str| {
                    anyhow::anyhow!("TLS needs --tls-ca, --tls-cert and --tls-key (or --tls-dir); {what} is missing")
                };
                let files = TlsFiles {
                    ca: ca.ok_or_else(|| missing("--tls-ca"))?,
                    cert: cert.ok_or_else(|| missing("--tls-cert"))?,
                    key: key.ok_or_else(|| missing("--tls-key"))?,
                };
                Tls::from_files(&files)
            }
        }
    }
}

/// Where a process's TLS material lies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The CA certificate (PEM).
    pub ca: PathBuf,
    /// This process's certificate (PEM).
    pub cert: PathBuf,
    /// Its private key (PEM).
    pub key: PathBuf,
}

impl TlsFiles {
    /// `ca.pem`, `<component>.pem` and `<component>.key` in `dir`.
    pub fn in_dir(dir: &Path, component: &str) -> Self {
        Self {
            ca: dir.join(CA_FILE),
            cert: dir.join(format!("{component}.pem")),
            key: dir.join(format!("{component}.key")),
        }
    }

    /// The flags that make an etcd server present these files and require
    /// client certificates signed by the CA (`--client-cert-auth`).
    pub fn etcd_server_args(&self) -> [String; 4] {
        [
            "--client-cert-auth".to_owned(),
            format!("--trusted-ca-file={}", self.ca.display()),
            format!("--cert-file={}", self.cert.display()),
            format!("--key-file={}", self.key.display()),
        ]
    }
}

/// PEM bytes read and checked at start, so a bad file fails there and not at
/// the first connection.
struct Material {
    files: TlsFiles,
    ca: Vec<u8>,
    cert: Vec<u8>,
    key: Vec<u8>,
}

/// A process's transport security: mutual TLS, or plaintext by choice.
/// Cheap to clone. `Debug` names the files, never the key.
#[derive(Clone)]
pub struct Tls(Option<Arc<Material>>);

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            None => f.write_str("Tls(insecure)"),
            Some(m) => write!(f, "Tls(ca={}, cert={})", m.files.ca.display(), m.files.cert.display()),
        }
    }
}

impl Tls {
    /// Plaintext, as `--insecure` asks.
    pub fn insecure() -> Self {
        Self(None)
    }

    /// Mutual TLS with the material in `files`.
    ///
    /// # Errors
    /// An unreadable file, a CA or certificate file without a PEM
    /// certificate, or a key file without a PEM private key.
    pub fn from_files(files: &TlsFiles) -> anyhow::Result<Self> {
        let read = |path: &Path, what: &str| {
            std::fs::read(path).with_context(|| format!("read the TLS {what} {}", path.display()))
        };
        let (ca, cert, key) =
            (read(&files.ca, "CA certificate")?, read(&files.cert, "certificate")?, read(&files.key, "key")?);
        for (bytes, path) in [(&ca, &files.ca), (&cert, &files.cert)] {
            let first = CertificateDer::pem_slice_iter(bytes).next();
            anyhow::ensure!(matches!(first, Some(Ok(_))), "{} holds no PEM certificate", path.display());
        }
        PrivateKeyDer::from_pem_slice(&key)
            .map_err(|e| anyhow::anyhow!("{} holds no PEM private key: {e}", files.key.display()))?;
        Ok(Self(Some(Arc::new(Material { files: files.clone(), ca, cert, key }))))
    }

    /// Whether connections use TLS.
    pub fn is_secure(&self) -> bool {
        self.0.is_some()
    }

    /// A server configuration that presents this certificate and requires a
    /// client certificate signed by the CA; `None` when insecure.
    pub fn server_config(&self) -> Option<ServerTlsConfig> {
        self.0.as_deref().map(|m| {
            ServerTlsConfig::new()
                .identity(Identity::from_pem(&m.cert, &m.key))
                .client_ca_root(Certificate::from_pem(&m.ca))
                .timeout(HANDSHAKE_TIMEOUT)
        })
    }

    /// A client configuration that trusts only the CA and presents this
    /// certificate; `None` when insecure.
    pub fn client_config(&self) -> Option<ClientTlsConfig> {
        self.0.as_deref().map(|m| {
            ClientTlsConfig::new()
                .ca_certificate(Certificate::from_pem(&m.ca))
                .identity(Identity::from_pem(&m.cert, &m.key))
        })
    }

    /// `url` with the scheme this security uses: `https://` when secure,
    /// `http://` when not. A bare `host:port` gets one too.
    pub fn url(&self, url: &str) -> String {
        let rest = url.strip_prefix("http://").or_else(|| url.strip_prefix("https://")).unwrap_or(url);
        if self.is_secure() {
            format!("https://{rest}")
        } else {
            format!("http://{rest}")
        }
    }

    /// A tonic endpoint for `url` with this security.
    ///
    /// # Errors
    /// A malformed URL.
    pub fn endpoint(&self, url: &str) -> Result<Endpoint, tonic::transport::Error> {
        let endpoint = Endpoint::from_shared(self.url(url))?;
        match self.client_config() {
            Some(config) => endpoint.tls_config(config),
            None => Ok(endpoint),
        }
    }

    /// A tonic server builder with this security and the limits every
    /// Tessera server keeps: the TLS handshake timeout, HTTP/2 keep-alive
    /// pings that close a dead peer's connection, TCP keep-alive, at most
    /// 256 concurrent calls per connection and 64 KiB of headers. (Message
    /// sizes are each service's own.)
    ///
    /// # Errors
    /// Certificates tonic cannot use.
    pub fn server(&self) -> Result<tonic::transport::Server, tonic::transport::Error> {
        let server = tonic::transport::Server::builder()
            .http2_keepalive_interval(Some(KEEPALIVE_INTERVAL))
            .http2_keepalive_timeout(Some(KEEPALIVE_TIMEOUT))
            .tcp_keepalive(Some(KEEPALIVE_INTERVAL))
            .max_concurrent_streams(MAX_STREAMS_PER_CONNECTION)
            .http2_max_header_list_size(MAX_HEADER_BYTES);
        match self.server_config() {
            Some(config) => server.tls_config(config),
            None => Ok(server),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_pick_exactly_one_mode() {
        let none = TlsArgs::default();
        assert!(none.load("ps").unwrap_err().to_string().contains("no TLS certificates"));
        let insecure = TlsArgs { insecure: true, ..TlsArgs::default() };
        assert!(!insecure.load("ps").unwrap().is_secure());
        let both = TlsArgs { insecure: true, tls_dir: Some("/nowhere".into()), ..TlsArgs::default() };
        assert!(both.load("ps").unwrap_err().to_string().contains("both"));
        let partial = TlsArgs { tls_ca: Some("/nowhere/ca.pem".into()), ..TlsArgs::default() };
        assert!(partial.load("ps").unwrap_err().to_string().contains("--tls-cert is missing"));
    }

    #[test]
    fn a_file_without_pem_is_refused_at_load() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["ca.pem", "ps.pem", "ps.key"] {
            std::fs::write(dir.path().join(name), "not a certificate").unwrap();
        }
        let args = TlsArgs { tls_dir: Some(dir.path().into()), ..TlsArgs::default() };
        let err = args.load("ps").unwrap_err().to_string();
        assert!(err.contains("ca.pem holds no PEM certificate"), "{err}");
    }

    #[test]
    fn urls_get_the_scheme_of_the_mode() {
        let plain = Tls::insecure();
        assert_eq!(plain.url("127.0.0.1:1"), "http://127.0.0.1:1");
        assert_eq!(plain.url("https://a:1"), "http://a:1");
        assert_eq!(format!("{plain:?}"), "Tls(insecure)");
        let mut child = std::process::Command::new("true");
        secure_child(&mut child, None);
        assert_eq!(child.get_args().collect::<Vec<_>>(), ["--insecure"]);
    }
}
