//! `coordinator local job.toml`: the whole cluster on loopback (see
//! `crate::local`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use crate::cli::watch::WatchOutcome;
use crate::cli::Exit;
use crate::local::{run_local, LocalOptions, Security};
use tessera_runtime::children::Children;
use tessera_runtime::tls::TlsArgs;

/// Flags of `local`.
#[derive(Debug, Args)]
pub struct LocalArgs {
    /// The TOML job spec.
    pub spec: PathBuf,
    /// Use this etcd instead of starting one.
    #[arg(long, env = "TESSERA_ETCD")]
    pub etcd: Option<String>,
    /// Run directory for logs, checkpoints and results (default runs/<job name>).
    #[arg(long, env = "TESSERA_RUN_DIR")]
    pub run_dir: Option<PathBuf>,
    /// Folder with the ps-server and worker binaries (default: next to this one).
    #[arg(long, env = "TESSERA_BIN_DIR")]
    pub bin_dir: Option<PathBuf>,
    /// Device for the workers: auto, cpu or cuda:N. With auto and n GPUs,
    /// worker i gets cuda:(i mod n).
    #[arg(long, env = "TESSERA_WORKER_DEVICE", default_value = "auto")]
    pub device: String,
    /// GPUs that `--device auto` spreads the workers over (default: the
    /// entries of CUDA_VISIBLE_DEVICES, else the GPUs the NVIDIA driver lists).
    #[arg(long, env = "TESSERA_GPUS")]
    pub gpus: Option<u32>,
    /// etcd user and password file (with `--etcd`).
    #[command(flatten)]
    pub etcd_auth: tessera_runtime::etcd::EtcdAuthArgs,
}

/// How many times `local` restarts one child (a worker, a PS shard, the
/// coordinator) that died before it gives the job up.
pub const MAX_RESTARTS: u32 = 3;

/// Runs `local`. A worker, PS shard or the coordinator that dies is started
/// again (a server on its old address; the job carries on from etcd and the
/// PS checkpoints, a dead worker's partition goes to a live worker), up to
/// [`MAX_RESTARTS`] times each. Ctrl-C, SIGTERM, etcd's death or a child
/// that keeps dying stops every child.
///
/// # Errors
/// Fails when the cluster cannot start or the job cannot be followed.
pub async fn local(args: LocalArgs, tls: &TlsArgs, progress_every: Duration) -> anyhow::Result<Exit> {
    let security = match tls {
        TlsArgs { insecure: true, tls_dir: None, tls_ca: None, tls_cert: None, tls_key: None } => Security::Insecure,
        TlsArgs { insecure: false, tls_dir: Some(dir), tls_ca: None, tls_cert: None, tls_key: None } => {
            Security::Certs(dir.clone())
        }
        TlsArgs { insecure: false, tls_dir: None, tls_ca: None, tls_cert: None, tls_key: None } => Security::Fresh,
        _ => anyhow::bail!("local takes --tls-dir (certificates for every component, from `make certs`) or --insecure, not single certificate files"),
    };
    let children = Arc::new(Children::default());
    let options = LocalOptions {
        spec: args.spec,
        etcd: args.etcd,
        run_dir: args.run_dir,
        bin_dir: args.bin_dir,
        device: args.device,
        gpus: args.gpus.unwrap_or_else(crate::local::devices::visible_gpus),
        progress_every,
        security,
        etcd_auth: args.etcd_auth,
    };
    let crashed = {
        let children = children.clone();
        async move {
            loop {
                tokio::time::sleep(Duration::from_millis(500)).await;
                let Some((name, status)) = children.exited() else { continue };
                if name == "etcd" {
                    return format!("etcd exited unexpectedly ({status})");
                }
                let again = children.clone();
                let retry = name.clone();
                match tokio::task::spawn_blocking(move || again.restart(&retry, MAX_RESTARTS)).await {
                    Ok(Ok(Some(n))) => {
                        eprintln!(
                            "{name} exited unexpectedly ({status}); restarted it ({n} of {MAX_RESTARTS})"
                        )
                    }
                    Ok(Ok(None)) => {
                        return format!("{name} exited unexpectedly ({status}) after {MAX_RESTARTS} restarts")
                    }
                    Ok(Err(e)) => {
                        return format!("{name} exited unexpectedly ({status}); restart failed: {e:#}")
                    }
                    Err(e) => return format!("{name} exited unexpectedly ({status}); restart failed: {e}"),
                }
            }
        }
    };
    let shutdown = tokio_util::sync::CancellationToken::new();
    tokio::spawn(tessera_runtime::cancel_on_signal(shutdown.clone()));
    let result = tokio::select! {
        r = run_local(options, &children) => r.map(|o| match o.outcome {
            WatchOutcome::Succeeded => Exit::Ok,
            WatchOutcome::Failed => Exit::JobFailed,
            WatchOutcome::Cancelled => Exit::JobCancelled,
        }),
        why = crashed => Err(anyhow::anyhow!("{why}; see its log in the run directory")),
        _ = shutdown.cancelled() => {
            eprintln!("interrupted: stopping the local cluster");
            Ok(Exit::Interrupted)
        }
    };
    let stopper = children.clone();
    tokio::task::spawn_blocking(move || stopper.stop_all()).await?;
    result
}
