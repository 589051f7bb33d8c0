//! `worker train --standalone job.toml`: the whole loop in one worker
//! process against `ps-server` child processes on loopback (the binary beside
//! this one), for development and GPU checks. Trains the spec's model and its baselines on the whole graph and
//! prints the metric table.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use ps_client::{ClientOptions, ShardedClient};
use tch::Device;
use tessera_graph::schema::NodeType;
use tessera_graph::store::Graph;
use tessera_runtime::children::{sibling_binary, Children};
use tessera_runtime::tls::{secure_child, Tls, TlsFiles};

use crate::eval::final_eval::FinalEval;
use crate::finish::{finish, BundleTarget, EvalGraphs};
use crate::session::ModelSession;
use crate::train::run::{Control, Progress, RunSummary};
use crate::view::TrainView;
use ps_client::routing::job_namespace;
use tessera_bundle::manifest::Source;
use tessera_control::table::{metric_cells, metric_header};
use tessera_job::JobSpec;

/// One model's outcome.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ModelResult {
    /// Model name.
    pub model: String,
    /// Steps, edges and time split of training.
    pub steps: u64,
    /// Positive edges trained on.
    pub edges: u64,
    /// Training wall seconds.
    pub train_secs: f64,
    /// Seconds per phase.
    pub time: BTreeMap<String, f64>,
    /// Mean losses of the last epoch.
    pub losses: BTreeMap<String, f64>,
    /// Total loss of the first progress report.
    pub first_loss: Option<f64>,
    /// Test (or validation) metrics.
    pub metrics: BTreeMap<String, f64>,
    /// Parameter-server traffic of the training (validation passes left
    /// out), summed over the shards.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ps_traffic: Option<PsTraffic>,
    /// The validation passes of `eval.every_epochs` (empty when unset).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub validation: Vec<ValidationPoint>,
}

/// Payload bytes and updates the parameter servers counted (their `Stats`),
/// summed over the shards.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct PsTraffic {
    /// Bytes received (gradients pushed), as sent on the wire.
    pub bytes_in_wire: u64,
    /// Bytes received, decompressed.
    pub bytes_in_raw: u64,
    /// Bytes sent (rows pulled), as sent on the wire.
    pub bytes_out_wire: u64,
    /// Bytes sent, before compression.
    pub bytes_out_raw: u64,
    /// Pushes applied.
    pub updates: u64,
    /// Embedding rows served by pulls.
    pub rows_pulled: u64,
    /// Embedding rows updated by pushes.
    pub rows_pushed: u64,
}

impl PsTraffic {
    /// The shards' counters now.
    fn now(rt: &tokio::runtime::Handle, client: &ShardedClient) -> anyhow::Result<Self> {
        let stats = rt.block_on(client.stats()).context("parameter-server stats")?;
        Ok(stats.iter().fold(Self::default(), |t, s| Self {
            bytes_in_wire: t.bytes_in_wire + s.bytes_in_wire,
            bytes_in_raw: t.bytes_in_raw + s.bytes_in_raw,
            bytes_out_wire: t.bytes_out_wire + s.bytes_out_wire,
            bytes_out_raw: t.bytes_out_raw + s.bytes_out_raw,
            updates: t.updates + s.num_updates,
            rows_pulled: t.rows_pulled + s.tables.iter().map(|x| x.rows_pulled).sum::<u64>(),
            rows_pushed: t.rows_pushed + s.tables.iter().map(|x| x.rows_pushed).sum::<u64>(),
        }))
    }

    /// `self` plus what the counters went up by from `from` to `to`.
    fn plus_delta(self, from: Self, to: Self) -> Self {
        Self {
            bytes_in_wire: self.bytes_in_wire + to.bytes_in_wire.saturating_sub(from.bytes_in_wire),
            bytes_in_raw: self.bytes_in_raw + to.bytes_in_raw.saturating_sub(from.bytes_in_raw),
            bytes_out_wire: self.bytes_out_wire + to.bytes_out_wire.saturating_sub(from.bytes_out_wire),
            bytes_out_raw: self.bytes_out_raw + to.bytes_out_raw.saturating_sub(from.bytes_out_raw),
            updates: self.updates + to.updates.saturating_sub(from.updates),
            rows_pulled: self.rows_pulled + to.rows_pulled.saturating_sub(from.rows_pulled),
            rows_pushed: self.rows_pushed + to.rows_pushed.saturating_sub(from.rows_pushed),
        }
    }
}

/// One validation pass during training (`eval.every_epochs`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct ValidationPoint {
    /// Epochs completed.
    pub epochs: u32,
    /// Training steps so far.
    pub steps: u64,
    /// Training seconds so far, the validation passes left out.
    pub train_secs: f64,
    /// The validation metrics (NDCG@K, Recall@K, …).
    pub metrics: BTreeMap<String, f64>,
}

/// Builds the spec's graph when it is missing and the spec says how.
///
/// # Errors
/// Fails when the graph is missing and cannot be built.
pub fn ensure_graph(spec: &JobSpec) -> anyhow::Result<Graph> {
    let dir = &spec.dataset.graph;
    if !dir.join(tessera_graph::store::MANIFEST).is_file() {
        let build = spec.dataset.build.as_ref().with_context(|| {
            format!("graph {} does not exist and the spec has no dataset.build", dir.display())
        })?;
        let build_spec = tessera_graph::BuildSpec::from_file(build)?;
        tessera_graph::store::write(&tessera_graph::build(&build_spec, false)?, dir)?;
    }
    Graph::open(dir).with_context(|| format!("open graph {}", dir.display()))
}

/// Starts `n` shards of the `ps-server` binary at `binary` on free loopback
/// ports, logging to `logs/ps-<i>.log`, on mutual TLS with certificates made
/// for the run in `logs/certs`; returns their endpoints and the security to
/// reach them with. Shard `i` restores from `checkpoints[i]` when given (no
/// periodic checkpoints either way). They stop when `children` is dropped.
///
/// # Errors
/// Fails when a shard cannot start or exits before listening.
pub fn start_local_ps(
    children: &Children,
    binary: &Path,
    n: u32,
    logs: &Path,
    checkpoints: &[PathBuf],
) -> anyhow::Result<(Vec<String>, Tls)> {
    let certs = std::path::absolute(logs.join("certs"))?;
    tessera_runtime::certs::write_run_certs(&certs)?;
    let tls = Tls::from_files(&TlsFiles::in_dir(&certs, "worker"))?;
    let endpoints = (0..n)
        .map(|shard| {
            let mut command = std::process::Command::new(binary);
            command.args(["--listen", "127.0.0.1:0", "--checkpoint-interval", "0s"]);
            command.args(["--shard", &shard.to_string(), "--num-shards", &n.to_string()]);
            if let Some(dir) = checkpoints.get(shard as usize) {
                command.arg("--checkpoint-dir").arg(dir);
            }
            secure_child(&mut command, Some(&certs));
            let addr = children.spawn_listening(&format!("ps-{shard}"), &mut command, logs)?;
            Ok(tls.url(&addr))
        })
        .collect::<anyhow::Result<_>>()?;
    Ok((endpoints, tls))
}

/// On SIGINT or SIGTERM, stops the shards this run started and exits with
/// 130, so that a stopped run leaves no `ps-server` behind. The handlers are
/// registered before this returns, so a signal that comes at once is caught.
///
/// # Errors
/// When a signal handler cannot be registered.
fn stop_children_on_signal(rt: &tokio::runtime::Runtime, children: Arc<Children>) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let (mut term, mut int) = rt
        .block_on(async {
            Ok::<_, std::io::Error>((signal(SignalKind::terminate())?, signal(SignalKind::interrupt())?))
        })
        .context("register the SIGTERM and SIGINT handlers")?;
    rt.spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        eprintln!("interrupted: stopping the parameter servers");
        let _ = tokio::task::spawn_blocking(move || children.stop_all()).await;
        // `_exit`, not `exit`: the training thread may still be inside
        // libtorch, whose C++ static destructors `exit` would run under it.
        // SAFETY: `_exit` takes no pointers and does not return.
        unsafe { libc::_exit(130) }
    });
    Ok(())
}

fn time_map(summary: &RunSummary) -> BTreeMap<String, f64> {
    let t = summary.time;
    [("sample", t.sample), ("pull", t.pull), ("compute", t.compute), ("push", t.push), ("wait", t.wait)]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
}

/// Trains and evaluates every model of the spec in this process.
///
/// # Errors
/// Fails when the graph cannot be opened or training fails.
pub fn run_standalone(spec_path: &Path, device: Device) -> anyhow::Result<Vec<ModelResult>> {
    let every = humantime::parse_duration(tessera_runtime::progress::DEFAULT_PROGRESS_EVERY)
        .expect("the default interval parses");
    run_standalone_paced(spec_path, device, every, None)
}

/// [`run_standalone`], with progress lines off a terminal at each model
/// change and at most one more per `progress_every` (on a terminal, one per
/// report), and the main model's bundle written under `bundles` when given.
///
/// # Errors
/// As [`run_standalone`], and a failure writing the bundle.
pub fn run_standalone_paced(
    spec_path: &Path,
    device: Device,
    progress_every: std::time::Duration,
    bundles: Option<&Path>,
) -> anyhow::Result<Vec<ModelResult>> {
    let spec =
        JobSpec::from_file(spec_path).with_context(|| format!("read job spec {}", spec_path.display()))?;
    run_spec(&spec, device, progress_every, bundles, None, true)
}

/// Only the training of every model of the spec (and its validation passes,
/// `eval.every_epochs`): no final evaluation, classic baselines or bundle.
/// The throughput benchmarks run it.
///
/// # Errors
/// As [`run_standalone`].
pub fn train_only(
    spec_path: &Path,
    device: Device,
    progress_every: std::time::Duration,
) -> anyhow::Result<Vec<ModelResult>> {
    let spec =
        JobSpec::from_file(spec_path).with_context(|| format!("read job spec {}", spec_path.display()))?;
    run_spec(&spec, device, progress_every, None, None, false)
}

/// A new version of the bundle at `bundle` (a version or job bundle
/// directory) from the graph at `graph`, without training: its model's
/// parameters (rows matched by raw id; nodes new in the graph start from
/// zero rows, what an untrained row is on average) through full-graph
/// inference on the graph, evaluated and bundled as a job's end does, under
/// `bundles` (default: the job directory the bundle is in, so its `LATEST`
/// moves). Returns the model's result rows.
///
/// # Errors
/// An unreadable bundle or graph, a bundle without what a resume reads, or
/// a failure writing the bundle.
pub fn refresh(
    bundle: &Path,
    graph: &Path,
    bundles: Option<&Path>,
    device: Device,
) -> anyhow::Result<Vec<ModelResult>> {
    let dir = tessera_bundle::read::resolve(bundle)?;
    let spec_path = dir.join(tessera_bundle::manifest::files::JOB);
    let text =
        std::fs::read_to_string(&spec_path).with_context(|| format!("read {}", spec_path.display()))?;
    let mut spec = JobSpec::parse(&text, None).with_context(|| format!("{}", spec_path.display()))?;
    spec.dataset.graph = graph.to_owned();
    spec.dataset.build = None;
    spec.dataset.partitions = None;
    spec.baselines.clear();
    spec.train.resume_from = Some(dir.clone());
    let root = match bundles {
        Some(root) => root.to_owned(),
        None => dir
            .parent()
            .and_then(Path::parent)
            .map(Path::to_owned)
            .context("the bundle has no job directory")?,
    };
    let source = Source {
        kind: "refresh".into(),
        job_id: None,
        checkpoints: Vec::new(),
        resumed_from: Some(dir.display().to_string()),
    };
    let every = humantime::parse_duration(tessera_runtime::progress::DEFAULT_PROGRESS_EVERY)
        .expect("the default interval parses");
    run_spec(&spec, device, every, Some(&root), Some(&source), true)
}

/// Whether `eval.every_epochs` asks for a validation pass after `epoch` (from 0).
fn validates_after(spec: &JobSpec, epoch: u32) -> bool {
    spec.eval.every_epochs > 0 && (epoch + 1).is_multiple_of(spec.eval.every_epochs)
}

/// Trains (or with `refresh`, only evaluates and bundles with that source)
/// every model of `spec` against local PS children; without
/// `final_evaluation`, only trains.
fn run_spec(
    spec: &JobSpec,
    device: Device,
    progress_every: std::time::Duration,
    bundles: Option<&Path>,
    refresh: Option<&Source>,
    final_evaluation: bool,
) -> anyhow::Result<Vec<ModelResult>> {
    let mut pacer = tessera_runtime::progress::Pacer::for_stderr(progress_every);
    let spec = spec.clone();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let graph = ensure_graph(&spec)?;
    let history = graph.open_history().context("open the graph at test time")?;
    let graphs = EvalGraphs { graph: &graph, history: history.as_ref() };
    let mut final_eval = FinalEval::new(&graph, history.as_ref(), &spec)?;
    let ps_server = sibling_binary("ps-server")?;
    // Kept when the run fails, so the shards' logs named in an error stay.
    // One directory per run, so two runs in one process (tests) do not share
    // the certificates made in it.
    static RUNS: AtomicU64 = AtomicU64::new(0);
    let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let logs = std::env::temp_dir().join(format!("tessera-standalone-{}-{run}", std::process::id()));
    std::fs::create_dir_all(&logs).with_context(|| format!("create {}", logs.display()))?;
    let children = Arc::new(Children::default());
    stop_children_on_signal(&rt, children.clone())?;
    let (endpoints, tls) = start_local_ps(&children, &ps_server, spec.cluster.ps_shards, &logs, &[])?;
    let _entered = rt.enter();
    let client = Arc::new(ShardedClient::new(&endpoints, ClientOptions { tls, ..ClientOptions::default() })?);
    let view = TrainView::whole(&graph);
    let counts: Vec<(NodeType, u64)> =
        graph.node_types().into_iter().map(|t| (t, graph.num_nodes(t) as u64)).collect();
    let mut results = Vec::new();
    for kind in spec.models() {
        let fencing = Arc::new(AtomicU64::new(0));
        let resume = crate::resume::resume_for(&spec, kind)?.map(|r| r.new_rows_zero(refresh.is_some()));
        let session = ModelSession::new(
            rt.handle(),
            &graph,
            &job_namespace(&spec.name),
            &spec,
            kind,
            client.clone(),
            fencing,
            &counts,
            view.num_categories,
            device,
            resume.as_ref(),
        )?;
        let options = session.run_options(&spec, &graph, (0, 0), device);
        let started = Instant::now();
        let mut first_loss = None;
        let mut validation = Vec::new();
        let mut validating = std::time::Duration::ZERO;
        // Traffic of training only: each validation pass's pulls are left out.
        let mut traffic = PsTraffic::default();
        let mut counted_from = PsTraffic::now(rt.handle(), &client).ok();
        let mut report = |p: &Progress| {
            if first_loss.is_none() {
                first_loss = p.losses.get("total").copied();
            }
            if let Some(epoch) = p.completed_epoch.filter(|e| validates_after(&spec, *e)) {
                if let (Some(from), Ok(to)) = (counted_from, PsTraffic::now(rt.handle(), &client)) {
                    traffic = traffic.plus_delta(from, to);
                }
                let at = Instant::now();
                let train_secs = (at - started - validating).as_secs_f64();
                let max_users = spec.eval.validation_users as usize;
                match session.evaluate(rt.handle(), &graph, &spec, true, max_users, device) {
                    Ok(e) => {
                        eprintln!(
                            "[{}] validation after epoch {}: ndcg@10 {:.4} ({train_secs:.1} s of training)",
                            kind.as_str(),
                            epoch + 1,
                            e.metrics.get("ndcg@10").copied().unwrap_or(f64::NAN)
                        );
                        validation.push(ValidationPoint {
                            epochs: epoch + 1,
                            steps: u64::from(epoch + 1) * p.steps_per_epoch,
                            train_secs,
                            metrics: e.metrics,
                        });
                    }
                    Err(e) => tracing::warn!("validation failed, training on: {e:#}"),
                }
                validating += at.elapsed();
                counted_from = PsTraffic::now(rt.handle(), &client).ok();
            }
            if !pacer.due(kind.as_str()) {
                return Control::Continue;
            }
            eprintln!(
                "[{}] epoch {}/{} step {}/{} loss {:.4} {:.0} edges/s",
                kind.as_str(),
                p.epoch + 1,
                spec.train.epochs,
                p.step,
                p.steps_per_epoch,
                p.losses.get("total").copied().unwrap_or(f64::NAN),
                p.edges_per_sec
            );
            Control::Continue
        };
        let summary = match refresh {
            Some(_) => None,
            None => Some(session.train(rt.handle(), &view, &options, &mut report)?),
        };
        let train_secs = (started.elapsed() - validating).as_secs_f64();
        let ps_traffic = match (summary.is_some(), counted_from) {
            (true, Some(from)) => {
                PsTraffic::now(rt.handle(), &client).ok().map(|to| traffic.plus_delta(from, to))
            }
            _ => None,
        };
        if let Some(summary) = &summary {
            tracing::info!(model = kind.as_str(), steps = summary.steps, edges = summary.edges, train_secs, time = ?summary.time, "trained");
        }
        let main = results.is_empty();
        let source = match refresh {
            Some(source) => source.clone(),
            None => Source::training(None).resumed_from(resume.as_ref().map(|r| r.dir())),
        };
        let target = bundles.map(|root| BundleTarget { root, source: &source });
        let rows: Vec<(String, BTreeMap<String, f64>)> = if final_evaluation {
            let finished =
                finish(rt.handle(), &session, graphs, &mut final_eval, &spec, device, main, target)?;
            if let Some(dir) = &finished.bundle {
                eprintln!("bundle: {}", dir.display());
            }
            finished.rows.into_iter().map(|row| (row.model, row.evaluation.metrics)).collect()
        } else {
            vec![(kind.as_str().to_owned(), BTreeMap::new())]
        };
        for (r, (model, metrics)) in rows.into_iter().enumerate() {
            let main_row = r == 0;
            results.push(ModelResult {
                model,
                steps: summary.as_ref().map_or(0, |s| s.steps),
                edges: summary.as_ref().map_or(0, |s| s.edges),
                train_secs,
                time: summary.as_ref().map(time_map).unwrap_or_default(),
                losses: summary.as_ref().map(|s| s.last_losses.clone()).unwrap_or_default(),
                first_loss,
                metrics,
                ps_traffic: ps_traffic.filter(|_| main_row),
                validation: if main_row { std::mem::take(&mut validation) } else { Vec::new() },
            });
        }
    }
    // Classic baselines after the trained models.
    for kind in spec.classic_models().into_iter().filter(|_| final_evaluation) {
        let started = Instant::now();
        let row = final_eval.classic(kind);
        results.push(ModelResult {
            model: row.model,
            steps: 0,
            edges: 0,
            train_secs: started.elapsed().as_secs_f64(),
            time: BTreeMap::new(),
            losses: BTreeMap::new(),
            first_loss: None,
            metrics: row.evaluation.metrics,
            ps_traffic: None,
            validation: Vec::new(),
        });
    }
    children.stop_all();
    let _ = std::fs::remove_dir_all(&logs);
    Ok(results)
}

/// The metric table of several models.
pub fn render_table(results: &[ModelResult]) -> String {
    let columns = [
        "recall@20",
        "ndcg@10",
        "ndcg@20",
        "hr@10",
        "mrr",
        "sampled_hr@10",
        "sampled_ndcg@10",
        "auc",
        "coverage@20",
        "long_tail@20",
        "val_recall@20",
        "val_ndcg@10",
    ];
    let mut out =
        format!("{:<14}{} {:>10} {:>12}\n", "model", metric_header(&columns, 15), "train s", "edges/s");
    for r in results {
        let cells = metric_cells(&columns, 15, |c| r.metrics.get(c).copied());
        let rate = r.edges as f64 / r.train_secs.max(1e-9);
        out.push_str(&format!("{:<14}{cells} {:>10.1} {rate:>12.0}\n", r.model, r.train_secs));
    }
    out
}
