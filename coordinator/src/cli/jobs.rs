//! `coordinator submit | list | status | cancel`: job control against
//! `coordinator serve`.

use std::path::PathBuf;
use tessera_runtime::auth::Token;

use anyhow::Context as _;
use clap::Args;
use tessera_proto::coordinator::v1::{
    CancelJobRequest, GetJobRequest, Job, JobState, ListJobsRequest, SubmitJobRequest,
};

use crate::cli::watch::{watch_job, WatchOutcome};
use crate::cli::Exit;
use tessera_control::client::Target;
use tessera_job::JobSpec;

/// Flags of `submit`.
#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// The TOML job spec; relative paths in it are taken from its folder.
    pub spec: PathBuf,
    /// Job id (1–64 characters of [a-z0-9-]); generated from the name when absent.
    #[arg(long, env = "TESSERA_JOB_ID")]
    pub job_id: Option<String>,
    /// Watch the job until it ends and exit with its outcome.
    #[arg(long, default_value_t = false)]
    pub wait: bool,
    /// Fine-tune from an earlier job's bundle (a version directory, or a
    /// job's bundle directory for its latest version) instead of fresh
    /// parameters: sets the spec's `train.resume_from`. The bundle must hold
    /// the spec's main model at its dimension, else the job is refused here.
    #[arg(long, env = "TESSERA_RESUME_FROM")]
    pub resume_from: Option<PathBuf>,
}

/// Flags of `status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The job id.
    pub job: String,
    /// Print the full job as JSON.
    #[arg(long, default_value_t = false)]
    pub json: bool,
}

/// Flags of `cancel` and `watch`.
#[derive(Debug, Args)]
pub struct JobArg {
    /// The job id.
    pub job: String,
}

/// The lower-case name of a job state (`running`), as the CLI and the
/// metrics show it.
pub fn state_name(state: i32) -> &'static str {
    match JobState::try_from(state).unwrap_or(JobState::Unspecified) {
        JobState::Unspecified => "unknown",
        JobState::Pending => "pending",
        JobState::Running => "running",
        JobState::Evaluating => "evaluating",
        JobState::Succeeded => "succeeded",
        JobState::Failed => "failed",
        JobState::Cancelled => "cancelled",
    }
}

/// `message` as a request carrying `token` as its bearer token, when there is one.
///
/// # Errors
/// A token that cannot be a header value (refused when it was read).
pub fn with_token<T>(message: T, token: Option<&Token>) -> anyhow::Result<tonic::Request<T>> {
    let mut request = tonic::Request::new(message);
    if let Some(token) = token {
        let value = token.header_value().parse().context("the token is not a valid header value")?;
        request.metadata_mut().insert("authorization", value);
    }
    Ok(request)
}

/// Submits a spec; with `--wait`, watches the job to its end.
///
/// # Errors
/// Fails on an invalid spec, an unreachable coordinator, or a refused job.
pub async fn submit(
    target: &Target,
    args: SubmitArgs,
    progress_every: std::time::Duration,
    token: Option<&Token>,
) -> anyhow::Result<Exit> {
    let mut spec =
        JobSpec::from_file(&args.spec).with_context(|| format!("read job spec {}", args.spec.display()))?;
    if let Some(from) = &args.resume_from {
        spec.train.resume_from =
            Some(std::path::absolute(from).with_context(|| format!("{}", from.display()))?);
    }
    if let Some(from) = &spec.train.resume_from {
        let model = spec.models().first().map(|m| m.as_str()).unwrap_or_default();
        let (dir, _) = tessera_bundle::read::resumable(from, model, spec.model.dim as usize)
            .map_err(|e| anyhow::anyhow!("submit refused: {e}"))?;
        spec.train.resume_from = Some(dir);
    }
    // Send the spec with its paths made absolute, so the coordinator and
    // workers do not depend on this process's working directory.
    let spec_toml = toml::to_string(&spec).context("encode job spec")?;
    let mut client = target.connect().await?;
    let job_id = client
        .submit_job(with_token(
            SubmitJobRequest { spec_toml, job_id: args.job_id.unwrap_or_default() },
            token,
        )?)
        .await
        .map_err(|s| anyhow::anyhow!("submit refused: {}", s.message()))?
        .into_inner()
        .job_id;
    println!("{job_id}");
    if !args.wait {
        return Ok(Exit::Ok);
    }
    Ok(match watch_job(target, &job_id, progress_every).await? {
        WatchOutcome::Succeeded => Exit::Ok,
        WatchOutcome::Failed => Exit::JobFailed,
        WatchOutcome::Cancelled => Exit::JobCancelled,
    })
}

/// Prints one line per job.
///
/// # Errors
/// Fails when the coordinator is unreachable.
pub async fn list(target: &Target) -> anyhow::Result<Exit> {
    let mut client = target.connect().await?;
    let jobs = client
        .list_jobs(ListJobsRequest {})
        .await
        .map_err(|s| anyhow::anyhow!("list jobs: {}", s.message()))?;
    println!("{:<40} {:<11} {:<9} {:>8}", "job", "state", "model", "progress");
    for job in jobs.into_inner().jobs {
        println!(
            "{:<40} {:<11} {:<9} {:>7.1}%",
            job.job_id,
            state_name(job.state),
            job.model,
            100.0 * job.progress
        );
    }
    Ok(Exit::Ok)
}

/// Prints one job.
///
/// # Errors
/// Fails when the job does not exist or the coordinator is unreachable.
pub async fn status(target: &Target, args: StatusArgs) -> anyhow::Result<Exit> {
    let mut client = target.connect().await?;
    let job = client
        .get_job(GetJobRequest { job_id: args.job.clone() })
        .await
        .map_err(|s| anyhow::anyhow!("job {}: {}", args.job, s.message()))?
        .into_inner();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&job_json(&job))?);
    } else {
        print!("{}", render_status(&job));
    }
    Ok(Exit::Ok)
}

/// Cancels a job.
///
/// # Errors
/// Fails when the job does not exist or the coordinator is unreachable.
pub async fn cancel(target: &Target, args: JobArg, token: Option<&Token>) -> anyhow::Result<Exit> {
    let mut client = target.connect().await?;
    let state = client
        .cancel_job(with_token(CancelJobRequest { job_id: args.job.clone() }, token)?)
        .await
        .map_err(|s| anyhow::anyhow!("cancel {}: {}", args.job, s.message()))?
        .into_inner()
        .state;
    println!("{} {}", args.job, state_name(state));
    Ok(Exit::Ok)
}

/// The state with its message or error, such as `failed: graph missing`.
pub fn render_state(job: &Job) -> String {
    let state = state_name(job.state);
    if !job.error.is_empty() {
        format!("{state}: {}", job.error)
    } else if !job.message.is_empty() {
        format!("{state} ({})", job.message)
    } else {
        state.to_owned()
    }
}

/// A job as plain JSON (for `status --json`).
pub fn job_json(job: &Job) -> serde_json::Value {
    serde_json::json!({
        "job_id": job.job_id,
        "state": state_name(job.state),
        "message": job.message,
        "error": job.error,
        "fencing_token": job.fencing_token,
        "num_partitions": job.num_partitions,
        "created_unix_ms": job.created_unix_ms,
        "updated_unix_ms": job.updated_unix_ms,
        "assignments": job.assignments.iter().map(|a| serde_json::json!({
            "partition": a.partition, "worker_id": a.worker_id, "fencing_token": a.fencing_token,
        })).collect::<Vec<_>>(),
        "progress": job.progress.iter().map(|p| serde_json::json!({
            "partition": p.partition, "worker_id": p.worker_id, "epoch": p.epoch, "step": p.step,
            "steps_per_epoch": p.steps_per_epoch, "losses": p.losses, "edges_per_sec": p.edges_per_sec,
            "finished": p.finished, "updates_lost": p.updates_lost, "rows_lost": p.rows_lost,
            "ps_restarts": p.ps_restarts,
        })).collect::<Vec<_>>(),
        "metrics": job.metrics,
        "metric_reports": job.metric_reports.iter().map(|m| serde_json::json!({
            "worker_id": m.worker_id, "phase": m.phase, "epoch": m.epoch, "metrics": m.metrics, "unix_ms": m.unix_ms,
            "bundle": (!m.bundle.is_empty()).then_some(&m.bundle),
            "popularity": m.popularity.iter().map(|p| serde_json::json!({
                "model": p.model, "k": p.k, "recommended_share": p.recommended_share,
                "interaction_share": p.interaction_share,
            })).collect::<Vec<_>>(),
            "samples": m.samples.iter().map(|s| serde_json::json!({
                "model": s.model, "user": s.user,
                "recent": s.recent.iter().map(|r| serde_json::json!({
                    "item": r.item, "category": r.category, "behavior": r.behavior, "ts": r.ts,
                })).collect::<Vec<_>>(),
                "top": s.top.iter().map(|t| serde_json::json!({
                    "item": t.item, "category": t.category, "score": t.score, "hit": t.hit,
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "spec_toml": job.spec_toml,
    })
}

/// A job as text.
pub fn render_status(job: &Job) -> String {
    let mut out = format!("job        {}\nstate      {}", job.job_id, state_name(job.state));
    if !job.message.is_empty() {
        out.push_str(&format!(" ({})", job.message));
    }
    out.push('\n');
    if !job.error.is_empty() {
        out.push_str(&format!("error      {}\n", job.error));
    }
    out.push_str(&format!("fencing    {}\npartitions {}\n", job.fencing_token, job.num_partitions));
    for a in &job.assignments {
        let progress = job.progress.iter().find(|p| p.partition == a.partition);
        let line = progress.map_or_else(
            || "no progress yet".to_owned(),
            |p| {
                format!(
                    "epoch {} step {}/{} loss {:.4} {:.0} edges/s{}",
                    p.epoch,
                    p.step,
                    p.steps_per_epoch,
                    p.losses.get("total").copied().unwrap_or(f64::NAN),
                    p.edges_per_sec,
                    if p.finished { " finished" } else { "" }
                )
            },
        );
        let worker = if a.worker_id.is_empty() { "(unassigned)" } else { a.worker_id.as_str() };
        out.push_str(&format!("  part {:<3} {:<24} {line}\n", a.partition, worker));
    }
    out.push_str(&crate::cli::watch::render_metrics(job));
    out
}
