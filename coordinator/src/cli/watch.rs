//! `coordinator watch JOB`: a live view of a job with indicatif — one bar for
//! the whole job (epoch, step, loss, edges/s, ETA) and a line per partition
//! and worker — ending with the final metrics. Without a terminal (a file, a
//! pipe, CI, `nohup`) it prints a plain line at each phase change and at most
//! one more per `--progress-every` (10 s by default) instead. It reconnects
//! when the coordinator restarts.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tessera_proto::coordinator::v1::{Job, JobState, WatchJobRequest};
use tessera_runtime::progress::Pacer;

use crate::cli::Exit;
use tessera_control::client::Target;

/// How a watched job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchOutcome {
    /// Succeeded.
    Succeeded,
    /// Failed.
    Failed,
    /// Cancelled.
    Cancelled,
}

pub use tessera_runtime::progress::DEFAULT_PROGRESS_EVERY;

/// How long `watch` keeps trying to reconnect to a restarting coordinator.
pub const RECONNECT_FOR: Duration = Duration::from_secs(60);

const SCALE: u64 = 10_000;

/// Runs `watch` and maps the outcome to an exit code.
///
/// # Errors
/// Fails when the job does not exist or the coordinator stays unreachable.
pub async fn watch(target: &Target, job_id: &str, progress_every: Duration) -> anyhow::Result<Exit> {
    Ok(match watch_job(target, job_id, progress_every).await? {
        WatchOutcome::Succeeded => Exit::Ok,
        WatchOutcome::Failed => Exit::JobFailed,
        WatchOutcome::Cancelled => Exit::JobCancelled,
    })
}

struct View {
    multi: MultiProgress,
    main: ProgressBar,
    parts: BTreeMap<u32, ProgressBar>,
    pacer: Pacer,
}

impl View {
    fn new(plain_every: Duration) -> Self {
        let pacer = Pacer::for_stderr(plain_every);
        let plain = pacer.is_plain();
        let multi = MultiProgress::with_draw_target(if plain {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        });
        let main = multi.add(ProgressBar::new(SCALE));
        main.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {percent:>3}% ETA {eta} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        main.enable_steady_tick(Duration::from_millis(200));
        Self { multi, main, parts: BTreeMap::new(), pacer }
    }

    fn update(&mut self, job: &Job) {
        let epochs = epochs_of(job);
        let parts = job.num_partitions.max(1);
        let mut fraction = 0.0;
        let mut edges_per_sec = 0.0;
        let mut losses = Vec::new();
        let (mut epoch, mut step, mut steps) = (0, 0, 0);
        for p in &job.progress {
            fraction += partition_fraction(p, epochs);
            edges_per_sec += if p.finished { 0.0 } else { p.edges_per_sec };
            if let Some(l) = p.losses.get("total") {
                losses.push(*l);
            }
            epoch = epoch.max(p.epoch);
            step = step.max(p.step);
            steps = steps.max(p.steps_per_epoch);
        }
        fraction /= f64::from(parts);
        let loss = (!losses.is_empty()).then(|| losses.iter().sum::<f64>() / losses.len() as f64);
        let loss = show_loss(loss);
        let state = crate::cli::jobs::render_state(job);
        let message = format!(
            "{state} | epoch {}/{epochs} step {step}/{steps} | loss {loss} | {edges_per_sec:.0} edges/s",
            (epoch + 1).min(epochs)
        );
        self.main.set_position((fraction * SCALE as f64) as u64);
        self.main.set_message(message.clone());
        for a in &job.assignments {
            let bar = self.parts.entry(a.partition).or_insert_with(|| {
                let bar = self.multi.add(ProgressBar::new(SCALE));
                bar.set_style(
                    ProgressStyle::with_template("  {prefix} {bar:20} {msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
                bar.set_prefix(format!("part {:<3}", a.partition));
                bar
            });
            let p = job.progress.iter().find(|p| p.partition == a.partition);
            bar.set_position(p.map_or(0, |p| (partition_fraction(p, epochs) * SCALE as f64) as u64));
            let worker = if a.worker_id.is_empty() { "(waiting for a worker)" } else { a.worker_id.as_str() };
            bar.set_message(match p {
                Some(p) => format!(
                    "{worker} epoch {} step {}/{} loss {} {:.0} edges/s{}",
                    p.epoch,
                    p.step,
                    p.steps_per_epoch,
                    show_loss(p.losses.get("total").copied()),
                    p.edges_per_sec,
                    if p.finished { " done" } else { "" }
                ),
                None => worker.to_owned(),
            });
        }
        if self.pacer.is_plain() && self.pacer.due(&state) {
            eprintln!("[{:>5.1}%] {message}", 100.0 * fraction);
        }
    }

    fn finish(&self) {
        for bar in self.parts.values() {
            bar.finish();
        }
        self.main.finish();
    }
}

fn epochs_of(job: &Job) -> u32 {
    tessera_job::JobSpec::parse(&job.spec_toml, None).map_or(1, |s| s.total_epochs())
}

fn partition_fraction(p: &tessera_proto::coordinator::v1::ProgressReport, epochs: u32) -> f64 {
    if p.finished {
        return 1.0;
    }
    if p.steps_per_epoch == 0 {
        return 0.0;
    }
    let total = f64::from(epochs.max(1)) * p.steps_per_epoch as f64;
    ((f64::from(p.epoch) * p.steps_per_epoch as f64 + p.step as f64) / total).min(1.0)
}

enum Attempt {
    Fatal(anyhow::Error),
    Retry(anyhow::Error),
}

/// One watch stream; `Ok(true)` when the job ended.
async fn watch_once(
    target: &Target,
    job_id: &str,
    view: &mut View,
    last: &mut Option<Job>,
    observe: &mut dyn FnMut(&Job),
) -> Result<bool, Attempt> {
    let mut client = target.connect().await.map_err(|e| Attempt::Retry(e.into()))?;
    let mut stream = match client.watch_job(WatchJobRequest { job_id: job_id.to_owned() }).await {
        Ok(response) => response.into_inner(),
        Err(s) if s.code() == tonic::Code::NotFound => {
            return Err(Attempt::Fatal(anyhow::anyhow!("watch {job_id}: {}", s.message())))
        }
        Err(s) => return Err(Attempt::Retry(anyhow::anyhow!("watch {job_id}: {}", s.message()))),
    };
    loop {
        match stream.message().await {
            Ok(Some(event)) => {
                if let Some(job) = event.job {
                    view.update(&job);
                    observe(&job);
                    let terminal = crate::service::is_terminal(&job);
                    *last = Some(job);
                    if terminal {
                        return Ok(true);
                    }
                }
            }
            Ok(None) => return Ok(false),
            Err(s) => return Err(Attempt::Retry(anyhow::anyhow!("watch stream: {}", s.message()))),
        }
    }
}

/// Watches a job until it ends, reconnecting for up to [`RECONNECT_FOR`]
/// when the coordinator goes away, and prints the final metrics. Off a
/// terminal, progress lines come at phase changes and at most one more per
/// `progress_every`.
///
/// # Errors
/// Fails when the job does not exist or the coordinator stays unreachable.
pub async fn watch_job(
    target: &Target,
    job_id: &str,
    progress_every: Duration,
) -> anyhow::Result<WatchOutcome> {
    watch_job_observed(target, job_id, progress_every, &mut |_| {}).await
}

/// [`watch_job`], handing every job snapshot to `observe` as it arrives.
///
/// # Errors
/// As [`watch_job`].
pub async fn watch_job_observed(
    target: &Target,
    job_id: &str,
    progress_every: Duration,
    observe: &mut dyn FnMut(&Job),
) -> anyhow::Result<WatchOutcome> {
    let mut view = View::new(progress_every);
    let mut down_since: Option<Instant> = None;
    let mut last: Option<Job> = None;
    loop {
        match watch_once(target, job_id, &mut view, &mut last, observe).await {
            Ok(true) => break,
            Ok(false) => down_since = None,
            Err(Attempt::Fatal(e)) => {
                view.finish();
                return Err(e);
            }
            Err(Attempt::Retry(e)) => {
                let since = *down_since.get_or_insert_with(Instant::now);
                if since.elapsed() > RECONNECT_FOR {
                    view.finish();
                    return Err(
                        e.context(format!("coordinator unreachable for {}s", RECONNECT_FOR.as_secs()))
                    );
                }
                view.main.set_message(format!("coordinator unreachable, retrying: {e:#}"));
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    view.finish();
    let job = last.expect("a terminal job was seen");
    println!("{}", crate::cli::jobs::render_state(&job));
    print!("{}", render_metrics(&job));
    Ok(match JobState::try_from(job.state).unwrap_or(JobState::Unspecified) {
        JobState::Succeeded => WatchOutcome::Succeeded,
        JobState::Cancelled => WatchOutcome::Cancelled,
        _ => WatchOutcome::Failed,
    })
}

/// The job's latest metrics as a two-column table (empty when none).
pub fn render_metrics(job: &Job) -> String {
    if job.metrics.is_empty() {
        return String::new();
    }
    let mut names: Vec<&String> = job.metrics.keys().collect();
    names.sort();
    let mut out = String::from("metrics:\n");
    for name in names {
        out.push_str(&format!("  {name:<28} {:>10.4}\n", job.metrics[name]));
    }
    out
}

/// A loss for the progress lines: four decimals, or "-" before the first
/// report of one (a partition in evaluation reports none).
fn show_loss(loss: Option<f64>) -> String {
    loss.filter(|l| l.is_finite()).map_or_else(|| "-".to_owned(), |l| format!("{l:.4}"))
}
