//! `worker train --standalone job.toml`: the whole loop in one process, with
//! in-process parameter-server shards on loopback, for development and GPU
//! checks. Trains the spec's model and its baselines on the whole graph and
//! prints the metric table.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use ps_client::{ClientOptions, ShardedClient};
use tch::Device;
use tessera_graph::schema::NodeType;
use tessera_graph::store::Graph;
use tokio_util::sync::CancellationToken;

use crate::session::ModelSession;
use crate::train::run::{Control, Progress, RunSummary};
use crate::view::TrainView;
use tessera_control::table::{metric_cells, metric_header};
use tessera_job::{EvalSplit, JobSpec};

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

/// Starts `n` in-process PS shards on loopback; returns their endpoints.
///
/// # Errors
/// Fails when a shard cannot bind.
pub fn start_local_ps(
    rt: &tokio::runtime::Runtime,
    n: u32,
    token: &CancellationToken,
) -> anyhow::Result<Vec<String>> {
    let mut endpoints = Vec::new();
    for shard in 0..n {
        let (tx, rx) = std::sync::mpsc::channel();
        let config = ps_server::ServerConfig::new("127.0.0.1:0".parse().expect("literal address"), shard, n);
        let token = token.clone();
        rt.spawn(async move {
            if let Err(e) = ps_server::run(config, token, move |bound| {
                let _ = tx.send(bound.grpc);
            })
            .await
            {
                tracing::error!("in-process ps shard failed: {e:#}");
            }
        });
        let addr = rx.recv().context("in-process ps shard did not start")?;
        endpoints.push(format!("http://{addr}"));
    }
    Ok(endpoints)
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
    let spec =
        JobSpec::from_file(spec_path).with_context(|| format!("read job spec {}", spec_path.display()))?;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let graph = ensure_graph(&spec)?;
    let token = CancellationToken::new();
    let endpoints = start_local_ps(&rt, spec.cluster.ps_shards, &token)?;
    let _entered = rt.enter();
    let client = Arc::new(ShardedClient::new(&endpoints, ClientOptions::default())?);
    let view = TrainView::whole(&graph);
    let counts: Vec<(NodeType, u64)> =
        graph.node_types().into_iter().map(|t| (t, graph.num_nodes(t) as u64)).collect();
    let mut results = Vec::new();
    for kind in spec.models() {
        let fencing = Arc::new(AtomicU64::new(0));
        let session = ModelSession::new(
            rt.handle(),
            &graph,
            &spec.name,
            &spec,
            kind,
            client.clone(),
            fencing,
            &counts,
            view.num_categories,
            device,
        )?;
        let options = session.run_options(&spec, &graph, (0, 0), device);
        let started = Instant::now();
        let mut first_loss = None;
        let mut report = |p: &Progress| {
            if first_loss.is_none() {
                first_loss = p.losses.get("total").copied();
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
        let summary = session.train(rt.handle(), &view, &options, &mut report)?;
        let train_secs = started.elapsed().as_secs_f64();
        tracing::info!(model = kind.as_str(), steps = summary.steps, edges = summary.edges, train_secs, time = ?summary.time, "trained");
        let metrics = session
            .evaluate(rt.handle(), &graph, &spec, spec.dataset.eval_split == EvalSplit::Valid, 0, device)?
            .metrics;
        results.push(ModelResult {
            model: kind.as_str().into(),
            steps: summary.steps,
            edges: summary.edges,
            train_secs,
            time: time_map(&summary),
            losses: summary.last_losses.clone(),
            first_loss,
            metrics,
        });
    }
    for kind in spec.classic_models() {
        let started = Instant::now();
        let evaluation =
            crate::classic::evaluate(&graph, &spec, kind, spec.dataset.eval_split == EvalSplit::Valid);
        results.push(ModelResult {
            model: kind.as_str().into(),
            steps: 0,
            edges: 0,
            train_secs: started.elapsed().as_secs_f64(),
            time: BTreeMap::new(),
            losses: BTreeMap::new(),
            first_loss: None,
            metrics: evaluation.metrics,
        });
    }
    token.cancel();
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
    ];
    let mut out =
        format!("{:<10}{} {:>10} {:>12}\n", "model", metric_header(&columns, 15), "train s", "edges/s");
    for r in results {
        let cells = metric_cells(&columns, 15, |c| r.metrics.get(c).copied());
        let rate = r.edges as f64 / r.train_secs.max(1e-9);
        out.push_str(&format!("{:<10}{cells} {:>10.1} {rate:>12.0}\n", r.model, r.train_secs));
    }
    out
}
