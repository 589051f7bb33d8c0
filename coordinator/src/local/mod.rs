//! `coordinator local job.toml`: a whole cluster on loopback as child
//! processes — etcd (unless one is given), `coordinator serve`, the job's PS
//! shards and workers, all on mutual TLS with a certificate authority made
//! for the run unless `--insecure` — then submit, watch, print the metric table, write
//! the run directory and shut everything down in order. Every child is
//! killed when this process stops, on Ctrl-C or on error, so nothing is left
//! running or listening.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use tessera_proto::coordinator::v1::{GetJobRequest, Job, SubmitJobRequest};

use tessera_control::table::{metric_cells, metric_header};

use crate::cli::watch::{watch_job_observed, WatchOutcome};
use crate::report::{self, history::History};
use tessera_control::client::Target;
use tessera_job::JobSpec;
use tessera_runtime::certs::write_run_certs;
use tessera_runtime::children::{free_port, Children};
use tessera_runtime::etcd::{EtcdAccess, EtcdAuthArgs};
use tessera_runtime::tls::{secure_child, Tls, TlsFiles};

pub mod devices;

/// What `coordinator local` needs.
#[derive(Debug, Clone)]
pub struct LocalOptions {
    /// The job spec file.
    pub spec: PathBuf,
    /// An etcd to use instead of starting one.
    pub etcd: Option<String>,
    /// Run directory (default `runs/<job name>`).
    pub run_dir: Option<PathBuf>,
    /// Folder with the `ps-server` and `worker` binaries (default: this
    /// binary's folder).
    pub bin_dir: Option<PathBuf>,
    /// Worker device flag (`auto` spreads the workers over `gpus` GPUs).
    pub device: String,
    /// GPUs on this machine.
    pub gpus: u32,
    /// Off a terminal, the longest gap between two progress lines.
    pub progress_every: Duration,
    /// How the cluster's connections are secured.
    pub security: Security,
    /// etcd user and password file, passed on to the children.
    pub etcd_auth: EtcdAuthArgs,
}

/// How the local cluster's connections are secured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Security {
    /// Plaintext (`--insecure`).
    Insecure,
    /// Mutual TLS with the certificates in this folder (`--tls-dir`).
    Certs(PathBuf),
    /// Mutual TLS with a new development CA and certificates written to
    /// `<run dir>/certs` (the default).
    Fresh,
}

/// A child command with the cluster's security flags and etcd user after
/// its own arguments.
fn secured(
    mut command: std::process::Command,
    tls_dir: Option<&Path>,
    etcd: &[String],
) -> std::process::Command {
    secure_child(&mut command, tls_dir);
    command.args(etcd);
    command
}

/// How the local run ended.
#[derive(Debug)]
pub struct LocalOutcome {
    /// How the job ended.
    pub outcome: WatchOutcome,
    /// The run directory.
    pub run_dir: PathBuf,
    /// The final job.
    pub job: Job,
}

async fn wait_for_etcd(etcd: &EtcdAccess, deadline: Duration) -> anyhow::Result<()> {
    let endpoint = etcd.endpoints_text();
    let started = std::time::Instant::now();
    loop {
        if let Ok(store) = tessera_control::store::Store::connect(etcd, "/probe/").await {
            if store.job_ids().await.is_ok() {
                return Ok(());
            }
        }
        anyhow::ensure!(
            started.elapsed() < deadline,
            "etcd at {endpoint} did not come up within {deadline:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs the whole job locally; see the module docs.
///
/// # Errors
/// Fails when a process cannot start, the spec is invalid, or the job cannot
/// be submitted or watched.
pub async fn run_local(options: LocalOptions, children: &Children) -> anyhow::Result<LocalOutcome> {
    let spec = JobSpec::from_file(&options.spec)
        .with_context(|| format!("read job spec {}", options.spec.display()))?;
    let run_dir = options.run_dir.clone().unwrap_or_else(|| PathBuf::from("runs").join(&spec.name));
    let logs = run_dir.join("logs");
    std::fs::create_dir_all(&logs).with_context(|| format!("create {}", logs.display()))?;
    let bin_dir = match &options.bin_dir {
        Some(d) => d.clone(),
        None => tessera_runtime::children::binary_dir()?,
    };
    let me = std::env::current_exe().context("locate the coordinator binary")?;
    let prefix = format!("/tessera-local/{}/", spec.name);
    let tls_dir = match &options.security {
        Security::Insecure => None,
        Security::Certs(dir) => Some(dir.clone()),
        Security::Fresh => {
            let dir = std::path::absolute(run_dir.join("certs"))?;
            write_run_certs(&dir)?;
            Some(dir)
        }
    };
    let tls = match &tls_dir {
        Some(dir) => Tls::from_files(&TlsFiles::in_dir(dir, "client"))?,
        None => Tls::insecure(),
    };
    let security = tls_dir.as_deref();
    let etcd = match &options.etcd {
        Some(e) => e.clone(),
        None => {
            let (client, peer) = (free_port()?, free_port()?);
            let client_url = tls.url(&format!("127.0.0.1:{client}"));
            let peer_url = format!("http://127.0.0.1:{peer}");
            let data = run_dir.join("etcd");
            let _ = std::fs::remove_dir_all(&data);
            let mut command = std::process::Command::new("etcd");
            command.args([
                "--name=local".to_owned(),
                format!("--data-dir={}", data.display()),
                format!("--listen-client-urls={client_url}"),
                format!("--advertise-client-urls={client_url}"),
                format!("--listen-peer-urls={peer_url}"),
                format!("--initial-advertise-peer-urls={peer_url}"),
                format!("--initial-cluster=local={peer_url}"),
            ]);
            if let Some(dir) = &tls_dir {
                command.args(TlsFiles::in_dir(dir, "etcd").etcd_server_args());
            }
            children.spawn("etcd", &mut command, &logs)?;
            client_url
        }
    };
    let etcd_access = EtcdAccess::new(vec![etcd.clone()], &tls, &options.etcd_auth)?;
    wait_for_etcd(&etcd_access, Duration::from_secs(20)).await?;
    let etcd_args = etcd_access.child_args();
    eprintln!("etcd        {etcd}");
    let coordinator = children.spawn_listening(
        "coordinator",
        &mut secured(
            {
                let mut command = std::process::Command::new(&me);
                command.args(["serve", "--listen", "127.0.0.1:0", "--etcd", &etcd, "--etcd-prefix", &prefix]);
                command
            },
            security,
            &etcd_args,
        ),
        &logs,
    )?;
    let endpoint = tls.url(&coordinator.to_string());
    let target = Target { endpoint: endpoint.clone(), tls: tls.clone() };
    eprintln!(
        "coordinator {endpoint} ({})",
        tls_dir.as_ref().map_or("plaintext: --insecure".to_owned(), |d| format!(
            "mutual TLS, certificates in {}",
            d.display()
        ))
    );
    for shard in 0..spec.cluster.ps_shards {
        // A new job starts from fresh parameters, not a previous run's checkpoints.
        let checkpoints = run_dir.join(format!("ps-{shard}"));
        let _ = std::fs::remove_dir_all(&checkpoints);
        let mut command = std::process::Command::new(bin_dir.join("ps-server"));
        command.args([
            "--listen".to_owned(),
            "127.0.0.1:0".into(),
            "--shard".into(),
            shard.to_string(),
            "--num-shards".into(),
            spec.cluster.ps_shards.to_string(),
            "--etcd".into(),
            etcd.clone(),
            "--etcd-prefix".into(),
            prefix.clone(),
            "--checkpoint-dir".into(),
            checkpoints.display().to_string(),
            "--checkpoint-interval".into(),
            humantime::format_duration(spec.cluster.checkpoint_interval).to_string(),
            "--staleness".into(),
            spec.cluster.staleness.to_string(),
        ]);
        let addr = children.spawn_listening(
            &format!("ps-{shard}"),
            &mut secured(command, security, &etcd_args),
            &logs,
        )?;
        eprintln!("ps-{shard}        {addr}");
    }
    // Share the cores between the workers instead of oversubscribing them.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as u32;
    let threads = (cores / spec.cluster.workers.max(1)).max(1).to_string();
    let bundles = std::path::absolute(run_dir.join("bundles"))?.display().to_string();
    let mut devices = Vec::new();
    for w in 0..spec.cluster.workers {
        let id = format!("worker-{w}");
        let device = devices::worker_device(&options.device, w, options.gpus);
        let mut command = std::process::Command::new(bin_dir.join("worker"));
        command.args([
            "serve",
            "--worker-id",
            &id,
            "--etcd",
            &etcd,
            "--etcd-prefix",
            &prefix,
            "--coordinator",
            &endpoint,
            "--device",
            &device,
            "--threads",
            &threads,
            "--bundles",
            &bundles,
        ]);
        children.spawn(&id, &mut secured(command, security, &etcd_args), &logs)?;
        devices.push(device);
    }
    eprintln!(
        "workers     {} (logs in {}; devices {})",
        spec.cluster.workers,
        logs.display(),
        devices.join(" ")
    );
    let spec_toml = toml::to_string(&spec).context("encode job spec")?;
    let mut client = target.connect().await?;
    let job_id = format!("{}-{}", spec.name.replace('_', "-"), tessera_control::store::now_ms() / 1000);
    client
        .submit_job(SubmitJobRequest { spec_toml, job_id: job_id.clone() })
        .await
        .map_err(|s| anyhow::anyhow!("submit refused: {}", s.message()))?;
    eprintln!("job         {job_id}");
    let mut history = History::default();
    let outcome =
        watch_job_observed(&target, &job_id, options.progress_every, &mut |job| history.observe(job)).await?;
    let job = client.get_job(GetJobRequest { job_id }).await?.into_inner();
    history.observe(&job);
    write_metrics(&run_dir, &job)?;
    print!("{}", render_model_table(&job));
    let main = spec.main_name().unwrap_or_else(|| spec.model.kind.as_str().to_owned());
    let samples = report::markdown::samples_of(&job, &main);
    if !samples.is_empty() {
        println!("\nsample recommendations ({main}):");
        print!("{}", report::markdown::render_samples_text(&samples));
    }
    if let Ok(graph) = tessera_graph::Graph::open(&spec.dataset.graph) {
        if !graph.manifest().report.timed {
            eprintln!("note: {}", graph.manifest().report.time_line());
        }
    }
    let written = report::write(&run_dir, &report::gather(&job, &spec, &history))?;
    for note in &written.notes {
        eprintln!("note: {note}");
    }
    if let Some(bundle) = job.metric_reports.iter().rev().find(|r| r.phase == "test" && !r.bundle.is_empty())
    {
        println!("\nbundle: {}", bundle.bundle);
    }
    println!("\nreport: {} ({} plots)", written.report.display(), written.plots.len());
    println!("run directory: {}", run_dir.display());
    Ok(LocalOutcome { outcome, run_dir, job })
}

/// The metrics, per-partition progress and every metrics report as JSON.
fn write_metrics(run_dir: &Path, job: &Job) -> anyhow::Result<()> {
    let json = crate::cli::jobs::job_json(job);
    let path = run_dir.join("metrics.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&json)?)
        .with_context(|| format!("write {}", path.display()))
}

/// One row per model from `model/metric` keys.
pub fn render_model_table(job: &Job) -> String {
    let mut models: BTreeMap<&str, BTreeMap<&str, f64>> = BTreeMap::new();
    for (key, value) in &job.metrics {
        if let Some((model, metric)) = key.split_once('/') {
            models.entry(model).or_default().insert(metric, *value);
        }
    }
    if models.is_empty() {
        return String::new();
    }
    let columns = report::markdown::COLUMNS;
    let mut out = format!("{:<14}{}\n", "model", metric_header(columns, 13));
    for (model, metrics) in models {
        let cells = metric_cells(columns, 13, |c| metrics.get(c).copied());
        out.push_str(&format!("{model:<14}{cells}\n"));
    }
    out
}
