//! The service's flags (each also an environment variable).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Tessera's recommend service.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "recommend", version)]
pub struct Config {
    /// The bundle to serve: a version directory (`bundles/<job>/v0003`) or
    /// a job's bundle directory, whose `LATEST` version is served.
    #[arg(long, env = "TESSERA_BUNDLE")]
    pub bundle: PathBuf,
    /// HTTP listen address; port 0 picks a free port (printed on stdout as
    /// `LISTENING <addr>`).
    #[arg(long, env = "TESSERA_RECOMMEND_LISTEN", default_value = "0.0.0.0:8080")]
    pub listen: SocketAddr,
    /// gRPC listen address for the same calls
    /// (`tessera.recommend.v1.Recommender`); off unless given. Port 0 picks a
    /// free port (printed on stdout as `GRPC <addr>`, after `LISTENING`).
    #[arg(long, env = "TESSERA_RECOMMEND_GRPC_LISTEN")]
    pub grpc_listen: Option<SocketAddr>,
    /// How often to check whether `--bundle` now names a newer version
    /// (its `LATEST` moved) and reload it; `0s` turns watching off.
    #[arg(long, env = "TESSERA_RECOMMEND_WATCH", default_value = "10s", value_parser = humantime::parse_duration)]
    pub watch: Duration,
    /// A file holding the bearer token `POST /admin/reload` requires
    /// (`Authorization: Bearer <token>`); without it admin calls are open.
    #[arg(long, env = "TESSERA_RECOMMEND_ADMIN_TOKEN_FILE")]
    pub admin_token_file: Option<PathBuf>,
    /// Keep the new users `POST /v1/users` names (with a `user` id) and the
    /// new items of `POST /v1/items` in this JSON-lines file, synced before
    /// each answer and read at start: the users are served on the GET route,
    /// and the items are folded into every bundle that serves. Without it
    /// they are answered (and the items served) and not kept.
    #[arg(long, env = "TESSERA_RECOMMEND_OVERLAY")]
    pub overlay: Option<PathBuf>,
    /// Transport security of the gRPC listener (the `recommend` certificate
    /// of `--tls-dir`): required, or `--insecure`, with `--grpc-listen`. The
    /// HTTP listener is plain HTTP, for a TLS-terminating ingress or proxy.
    #[command(flatten)]
    pub tls: tessera_runtime::tls::TlsArgs,
}
