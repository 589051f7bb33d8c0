//! `worker serve`: the worker in a cluster. It registers in etcd, waits for
//! a partition, trains the job's models on it against the PS shards found in
//! etcd, reports progress (and obeys pause, stop and fencing), and when told
//! to evaluate, runs full-graph inference and reports the test metrics.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use ps_client::{ClientOptions, ShardedClient};
use tch::Device;
use tessera_control::agent::{Agent, AgentConfig, Work};
use tessera_graph::partition::{Part, PartitionPlan};
use tessera_graph::schema::NodeType;
use tessera_graph::store::Graph;
use tessera_proto::coordinator::v1::{MetricsReport, PopularityProfile, ProgressReport, WorkerDirective};
use tokio::runtime::Runtime;
use tokio_util::sync::CancellationToken;

use crate::eval::final_eval::FinalEval;
use crate::eval::metrics::{Evaluation, TAIL_K};
use crate::eval::samples::describe;
use crate::finish::{finish, BundleTarget, EvalGraphs};
use crate::metrics::WorkerMetrics;
use crate::session::ModelSession;
use crate::train::run::{Control, Progress};
use crate::view::TrainView;
use ps_client::routing::job_namespace;
use tessera_bundle::manifest::Source;

/// What `worker serve` needs.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Control-plane settings.
    pub agent: AgentConfig,
    /// Device to train on.
    pub device: Device,
    /// How long to wait for the PS shards to register.
    pub ps_wait: Duration,
    /// Where the evaluating worker writes the job's model bundle.
    pub bundles: PathBuf,
    /// The worker's Prometheus metrics.
    pub metrics: WorkerMetrics,
}

/// Attempts at a partition before its error fails the job.
pub const MAX_ATTEMPTS: u32 = 3;

/// Runs the worker until `shutdown`.
///
/// # Errors
/// Fails when etcd is unreachable at start.
pub fn run(config: ServeConfig, shutdown: CancellationToken, rt: &Runtime) -> anyhow::Result<()> {
    let mut agent = rt.block_on(Agent::start(config.agent.clone(), shutdown.child_token()))?;
    // Failures per (job, partition, fencing token): after MAX_ATTEMPTS the
    // error goes to the coordinator, which fails the job, instead of the
    // worker retrying a partition it cannot train forever.
    let mut failures: HashMap<(String, u32, u64), u32> = HashMap::new();
    while let Some(work) = rt.block_on(agent.next_assignment(&shutdown))? {
        tracing::info!(job = %work.job_id, partition = work.partition, fencing = work.fencing, "took a partition");
        config.metrics.partition_taken();
        if let Err(e) = handle(rt, &config, &mut agent, &work, &shutdown) {
            if fenced(&e) {
                config.metrics.fenced();
                // A newer worker holds the partition (this one was paused or
                // cut off past its lease): its pushes are refused, and it
                // goes back to waiting for work.
                tracing::info!(job = %work.job_id, partition = work.partition, "fenced: {e:#}");
                continue;
            }
            tracing::error!(job = %work.job_id, partition = work.partition, "failed to train: {e:#}");
            let attempts = failures.entry((work.job_id.clone(), work.partition, work.fencing)).or_default();
            *attempts += 1;
            if *attempts >= MAX_ATTEMPTS {
                let report = ProgressReport { error: format!("{e:#}"), ..ProgressReport::default() };
                if let Err(e) = rt.block_on(agent.report(&work, report)) {
                    tracing::warn!("failed to report the error: {e:#}");
                }
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    }
    rt.block_on(agent.leave())
}

/// Whether `e` is a parameter server's refusal of a stale fencing token.
fn fenced(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.downcast_ref::<ps_client::PsClientError>().is_some_and(|p| p.is_fenced()))
}

/// `report` with the acknowledged updates `client` has seen lost.
fn with_losses(mut report: ProgressReport, client: &ShardedClient) -> ProgressReport {
    let lost = client.lost_updates();
    report.updates_lost = lost.updates;
    report.rows_lost = lost.rows;
    report.ps_restarts = lost.restarts;
    report
}

fn progress_report(p: &Progress, epoch_offset: u32) -> ProgressReport {
    ProgressReport {
        epoch: epoch_offset + p.epoch,
        step: p.step,
        steps_per_epoch: p.steps_per_epoch,
        losses: p.losses.iter().map(|(k, v)| (k.clone(), *v)).collect(),
        edges_per_sec: p.edges_per_sec,
        time: Some(p.time.into()),
        finished: false,
        ..ProgressReport::default()
    }
}

fn handle(
    rt: &Runtime,
    config: &ServeConfig,
    agent: &mut Agent,
    work: &Work,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let spec = &work.spec;
    let device = config.device;
    let plan = PartitionPlan::load(&work.plan.dir).context("load the partition plan")?;
    let info = plan.part_infos.get(work.partition as usize).context("partition missing from the plan")?;
    let part = Part::open(&work.plan.dir.join(&info.dir))
        .with_context(|| format!("load partition {}", work.partition))?;
    let options = ClientOptions {
        worker_id: agent.worker_id().to_owned(),
        tls: config.agent.tls.clone(),
        ..ClientOptions::default()
    };
    let client = {
        let _entered = rt.enter();
        Arc::new(rt.block_on(ShardedClient::from_etcd(
            &config.agent.etcd,
            &config.agent.etcd_prefix,
            spec.cluster.ps_shards,
            config.ps_wait,
            options,
        ))?)
    };
    let fencing = Arc::new(AtomicU64::new(work.job_fencing.max(work.fencing)));
    let counts: Vec<(NodeType, u64)> = plan.space.types.iter().map(|&(t, _, n)| (t, n)).collect();
    let view = TrainView::part(&part);
    // The category head must have the same shape in every partition: size it
    // by the whole graph's categories, not by the ones this part holds.
    let num_categories =
        counts.iter().find(|(t, _)| *t == NodeType::Category).map_or(view.num_categories, |c| c.1 as i64);
    let models = spec.models();
    let epochs = spec.train.epochs;
    let (resume_epoch, resume_step, finished) =
        work.resume.as_ref().map_or((0, 0, false), |r| (r.epoch, r.step, r.finished));
    // A worker that only evaluates keeps the partition's figures in its reports.
    let mut steps_per_epoch = work.resume.as_ref().map_or(0, |r| r.steps_per_epoch);
    // Partition 0 scores the validation targets on the whole graph.
    let validates = work.partition == 0 && spec.eval.every_epochs > 0;
    let whole = if validates && !finished && !work.evaluate {
        let graph =
            Graph::open(&plan.graph).with_context(|| format!("open graph {}", plan.graph.display()))?;
        anyhow::ensure!(
            !graph.valid_pairs().is_empty(),
            "eval.every_epochs is set but the graph's split has no validation pairs"
        );
        Some(graph)
    } else {
        None
    };
    if !finished && !work.evaluate {
        for (m, &kind) in models.iter().enumerate() {
            let first_epoch = m as u32 * epochs;
            if resume_epoch >= first_epoch + epochs {
                continue;
            }
            let start =
                if resume_epoch >= first_epoch { (resume_epoch - first_epoch, resume_step) } else { (0, 0) };
            let resume = crate::resume::resume_for(spec, kind)?;
            let session = ModelSession::new(
                rt.handle(),
                &part.graph,
                &job_namespace(&work.job_id),
                spec,
                kind,
                client.clone(),
                fencing.clone(),
                &counts,
                num_categories,
                device,
                resume.as_ref(),
            )?;
            let options = session.run_options(spec, &part.graph, start, device);
            let mut outcome = Control::Continue;
            let mut on_progress = |p: &Progress| -> Control {
                if shutdown.is_cancelled() {
                    outcome = Control::Stop;
                    return Control::Stop;
                }
                if let Some(epoch) = p.completed_epoch.filter(|_| validates) {
                    if (epoch + 1).is_multiple_of(spec.eval.every_epochs) {
                        if let Err(e) =
                            validate(rt, agent, work, &session, whole.as_ref(), first_epoch + epoch)
                        {
                            tracing::warn!("validation failed, training on: {e:#}");
                        }
                    }
                }
                config.metrics.progress(&work.job_id, kind.as_str(), p, client.retries());
                let mut report = with_losses(progress_report(p, first_epoch), &client);
                if p.finished {
                    // Between models, the next model's epoch 0 follows.
                    report.epoch = first_epoch + p.epoch;
                }
                let control = match rt.block_on(agent.report(work, report)) {
                    Ok((WorkerDirective::Pause, _)) => Control::Pause,
                    Ok((WorkerDirective::Stop | WorkerDirective::Fenced, _)) => Control::Stop,
                    Ok((_, job_fencing)) => {
                        fencing.fetch_max(job_fencing, Ordering::AcqRel);
                        Control::Continue
                    }
                    Err(e) => {
                        tracing::warn!("failed to report progress, training on: {e:#}");
                        Control::Continue
                    }
                };
                if control == Control::Stop {
                    outcome = Control::Stop;
                }
                control
            };
            let summary = session.train(rt.handle(), &view, &options, &mut on_progress)?;
            steps_per_epoch = summary.steps.max(steps_per_epoch);
            tracing::info!(model = kind.as_str(), steps = summary.steps, time = ?summary.time, "trained");
            if outcome == Control::Stop || summary.stopped {
                tracing::info!(job = %work.job_id, "stopped by the coordinator");
                return Ok(());
            }
        }
    }
    // Trained: report `finished` until the coordinator has it, then go back
    // to waiting for work, so that a partition reassigned to this worker
    // after it finished its own (a dead worker's) is trained too. The holder
    // of partition 0 is told to evaluate, either in answer to this report or
    // when the job reaches its final evaluation (`Work::evaluate`), and then
    // reports until the job ends, so it evaluates once.
    let last_epoch = models.len() as u32 * epochs - 1;
    let mut evaluated = false;
    loop {
        if shutdown.is_cancelled() {
            return Ok(());
        }
        let report = ProgressReport {
            epoch: last_epoch,
            step: steps_per_epoch,
            steps_per_epoch,
            finished: true,
            ..with_losses(ProgressReport::default(), &client)
        };
        match rt.block_on(agent.report(work, report)) {
            Ok((WorkerDirective::Evaluate, _)) if !evaluated => {
                let report = evaluate_all(
                    rt,
                    &plan,
                    &work.job_id,
                    spec,
                    client.clone(),
                    fencing.clone(),
                    &counts,
                    device,
                    &config.bundles,
                )?;
                let report = MetricsReport { phase: "test".into(), epoch: last_epoch, ..report };
                rt.block_on(agent.report_metrics(work, report))?;
                evaluated = true;
            }
            Ok((WorkerDirective::Stop | WorkerDirective::Fenced, _)) => return Ok(()),
            Ok(_) if !evaluated => return Ok(()),
            Ok(_) => {}
            Err(e) => tracing::warn!("failed to report progress: {e:#}"),
        }
        std::thread::sleep(spec.cluster.report_interval);
    }
}

/// Scores the validation targets of a sample of users on the whole graph
/// and reports them as `model/metric` for `epoch`.
fn validate(
    rt: &Runtime,
    agent: &mut Agent,
    work: &Work,
    session: &ModelSession,
    graph: Option<&Graph>,
    epoch: u32,
) -> anyhow::Result<()> {
    let graph = graph.context("the whole graph is not open")?;
    let spec = &work.spec;
    let evaluation = session.evaluate(
        rt.handle(),
        graph,
        spec,
        true,
        spec.eval.validation_users as usize,
        session.device(),
    )?;
    let report = MetricsReport {
        phase: "validation".into(),
        epoch,
        metrics: evaluation.metrics.iter().map(|(k, v)| (format!("{}/{k}", session.name()), *v)).collect(),
        ..MetricsReport::default()
    };
    tracing::info!(model = session.name(), epoch, ndcg10 = evaluation.metrics.get("ndcg@10"), "validated");
    rt.block_on(agent.report_metrics(work, report))
}

/// Adds `model`'s metrics (as `model/metric`, and unprefixed for the main
/// model), popularity profile and example users to `report`.
fn add_evaluation(
    report: &mut MetricsReport,
    graph: &Graph,
    model: &str,
    main: bool,
    evaluation: Evaluation,
) {
    for (k, v) in evaluation.metrics {
        if main {
            report.metrics.insert(k.clone(), v);
        }
        report.metrics.insert(format!("{model}/{k}"), v);
    }
    report.popularity.push(PopularityProfile {
        model: model.into(),
        k: TAIL_K as u32,
        recommended_share: evaluation.recommended_share,
        interaction_share: evaluation.interaction_share,
    });
    report.samples.extend(evaluation.samples.iter().map(|(user, top)| describe(graph, model, *user, top)));
}

/// Full-graph evaluation of every model of the job (the classic baselines
/// fitted after the trained ones); the main model's
/// metrics are unprefixed, every model's also appear as `model/metric`. The
/// report also carries each model's popularity profile and example users,
/// and the main model's bundle, written under `bundles`.
#[allow(clippy::too_many_arguments)]
fn evaluate_all(
    rt: &Runtime,
    plan: &PartitionPlan,
    job: &str,
    spec: &tessera_job::JobSpec,
    client: Arc<ShardedClient>,
    fencing: Arc<AtomicU64>,
    counts: &[(NodeType, u64)],
    device: Device,
    bundles: &Path,
) -> anyhow::Result<MetricsReport> {
    let graph = Graph::open(&plan.graph).with_context(|| format!("open graph {}", plan.graph.display()))?;
    let view = TrainView::whole(&graph);
    let mut report = MetricsReport::default();
    let history = graph.open_history().context("open the graph at test time")?;
    let graphs = EvalGraphs { graph: &graph, history: history.as_ref() };
    let resumed = spec.train.resume_from.as_deref().and_then(|p| tessera_bundle::read::resolve(p).ok());
    let source = Source::training(Some(job)).resumed_from(resumed.as_deref());
    let mut final_eval = FinalEval::new(&graph, history.as_ref(), spec)?;
    for (m, kind) in spec.models().into_iter().enumerate() {
        let session = ModelSession::new(
            rt.handle(),
            &graph,
            &job_namespace(job),
            spec,
            kind,
            client.clone(),
            fencing.clone(),
            counts,
            view.num_categories,
            device,
            None,
        )?;
        let target = BundleTarget { root: bundles, source: &source };
        let finished =
            finish(rt.handle(), &session, graphs, &mut final_eval, spec, device, m == 0, Some(target))?;
        if let Some(dir) = &finished.bundle {
            report.bundle = dir.display().to_string();
        }
        for row in finished.rows {
            add_evaluation(&mut report, &graph, &row.model, row.main, row.evaluation);
        }
    }
    // Classic baselines after the trained models.
    for kind in spec.classic_models() {
        let row = final_eval.classic(kind);
        add_evaluation(&mut report, &graph, &row.model, row.main, row.evaluation);
    }
    Ok(report)
}
