//! How a process reaches etcd: the endpoints, TLS (for `https://`
//! endpoints, with the process's own CA and certificate, which etcd checks
//! under `--client-cert-auth`) and etcd's user/password authentication. Every
//! etcd client in Tessera connects through [`EtcdAccess::connect`].

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;

use crate::tls::Tls;

/// etcd authentication flags shared by the binaries that use etcd.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct EtcdAuthArgs {
    /// etcd user, when etcd has authentication enabled.
    #[arg(long, env = "TESSERA_ETCD_USER", requires = "etcd_password_file")]
    pub etcd_user: Option<String>,
    /// File holding the etcd user's password (never passed on the command line).
    #[arg(long, env = "TESSERA_ETCD_PASSWORD_FILE", value_name = "FILE", requires = "etcd_user")]
    pub etcd_password_file: Option<PathBuf>,
}

/// A user and password for etcd; `Debug` hides the password.
#[derive(Clone)]
struct Credentials {
    user: String,
    password: String,
}

/// Everything needed to connect to etcd. Cheap to clone; `Debug` shows the
/// endpoints and the user, never the password.
#[derive(Clone)]
pub struct EtcdAccess {
    endpoints: Vec<String>,
    tls: Tls,
    credentials: Option<Credentials>,
    auth: EtcdAuthArgs,
}

impl std::fmt::Debug for EtcdAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdAccess")
            .field("endpoints", &self.endpoints)
            .field("tls", &self.tls.is_secure())
            .field("user", &self.credentials.as_ref().map(|c| c.user.as_str()))
            .finish()
    }
}

impl EtcdAccess {
    /// Plaintext access without authentication: for tests and tools on
    /// loopback.
    pub fn plain(endpoints: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self {
            endpoints: endpoints.into_iter().map(Into::into).collect(),
            tls: Tls::insecure(),
            credentials: None,
            auth: EtcdAuthArgs::default(),
        }
    }

    /// Access to `endpoints` with the process's TLS and the auth flags.
    ///
    /// # Errors
    /// An `http://` endpoint for a process that uses TLS (plaintext needs
    /// `--insecure`), an `https://` one without certificates, or an
    /// unreadable password file.
    pub fn new(endpoints: Vec<String>, tls: &Tls, auth: &EtcdAuthArgs) -> anyhow::Result<Self> {
        for e in &endpoints {
            let secure = e.starts_with("https://");
            anyhow::ensure!(
                secure || !tls.is_secure(),
                "etcd endpoint {e} is plaintext while this process uses TLS: use https:// (etcd with \
                 --cert-file, --key-file, --trusted-ca-file and --client-cert-auth), or --insecure"
            );
            anyhow::ensure!(
                !secure || tls.is_secure(),
                "etcd endpoint {e} uses TLS but this process has no certificates (--tls-dir or --tls-ca/--tls-cert/--tls-key)"
            );
        }
        let credentials = match (&auth.etcd_user, &auth.etcd_password_file) {
            (Some(user), Some(file)) => {
                let text = std::fs::read_to_string(file)
                    .with_context(|| format!("read the etcd password file {}", file.display()))?;
                let password = text.trim_end_matches(['\n', '\r']).to_owned();
                anyhow::ensure!(!password.is_empty(), "the etcd password file {} is empty", file.display());
                Some(Credentials { user: user.clone(), password })
            }
            (None, None) => None,
            _ => anyhow::bail!("--etcd-user and --etcd-password-file go together"),
        };
        Ok(Self { endpoints, tls: tls.clone(), credentials, auth: auth.clone() })
    }

    /// The endpoints joined with commas, for logs and errors.
    pub fn endpoints_text(&self) -> String {
        self.endpoints.join(",")
    }

    /// The flags that give a child process the same etcd user (the password
    /// file, never the password).
    pub fn child_args(&self) -> Vec<String> {
        match (&self.auth.etcd_user, &self.auth.etcd_password_file) {
            (Some(user), Some(file)) => {
                vec![
                    "--etcd-user".into(),
                    user.clone(),
                    "--etcd-password-file".into(),
                    file.display().to_string(),
                ]
            }
            _ => Vec::new(),
        }
    }

    /// Connects with `options` plus this access's TLS and user.
    ///
    /// # Errors
    /// etcd unreachable, the TLS handshake refused, or the user refused.
    pub async fn connect(
        &self,
        options: etcd_client::ConnectOptions,
    ) -> Result<etcd_client::Client, etcd_client::Error> {
        let mut options = options;
        if let Some(config) = self.tls.client_config() {
            options = options.with_tls(config);
        }
        if let Some(c) = &self.credentials {
            options = options.with_user(c.user.clone(), c.password.clone());
        }
        etcd_client::Client::connect(&self.endpoints, Some(options)).await
    }

    /// Connects with a 3 s connect timeout and a 5 s request timeout.
    ///
    /// # Errors
    /// As [`EtcdAccess::connect`].
    pub async fn connect_default(&self) -> Result<etcd_client::Client, etcd_client::Error> {
        self.connect(
            etcd_client::ConnectOptions::new()
                .with_connect_timeout(Duration::from_secs(3))
                .with_timeout(Duration::from_secs(5)),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plaintext_etcd_needs_an_insecure_process() {
        let dir = tempfile::tempdir().unwrap();
        crate::certs::write_dev_certs(dir.path(), &[], "t").unwrap();
        let tls = Tls::from_files(&crate::tls::TlsFiles::in_dir(dir.path(), "ps")).unwrap();
        let none = EtcdAuthArgs::default();
        let err = EtcdAccess::new(vec!["http://127.0.0.1:2379".into()], &tls, &none).unwrap_err();
        assert!(err.to_string().contains("is plaintext"), "{err}");
        assert!(EtcdAccess::new(vec!["https://127.0.0.1:2379".into()], &tls, &none).is_ok());
        let err =
            EtcdAccess::new(vec!["https://127.0.0.1:2379".into()], &Tls::insecure(), &none).unwrap_err();
        assert!(err.to_string().contains("no certificates"), "{err}");
    }

    #[test]
    fn the_password_is_never_shown() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        std::fs::write(&file, "s3cret\n").unwrap();
        let auth = EtcdAuthArgs { etcd_user: Some("tessera".into()), etcd_password_file: Some(file) };
        let access = EtcdAccess::new(vec!["http://e:1".into()], &Tls::insecure(), &auth).unwrap();
        let shown = format!("{access:?}");
        assert!(shown.contains("tessera") && !shown.contains("s3cret"), "{shown}");
    }
}
