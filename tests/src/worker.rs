//! Starts real `worker serve` processes against a test etcd and coordinator,
//! and waits for a job to end.

use std::process::Command;
use std::time::{Duration, Instant};

use tessera_proto::coordinator::v1::coordinator_client::CoordinatorClient;
use tessera_proto::coordinator::v1::{GetJobRequest, Job, JobState};
use tonic::transport::Channel;

use crate::process::ChildProcess;

/// Sampled HR@10 a trained model must beat: random ranking of one test item
/// among 99 sampled negatives gives 0.10. The same bar as the model tests in
/// `worker/tests/models.rs`.
pub const BEATS_RANDOM_SAMPLED_HR10: f64 = 0.15;
/// AUC a trained model must beat: random scoring gives 0.5.
pub const BEATS_RANDOM_AUC: f64 = 0.55;

/// The spec of a small HGT job on `graph`, shaped like the model tests'
/// (dim 16, 2 heads, fan-outs [5, 3], 6 epochs of batches of 128, seed 7),
/// with `baselines` and `workers` partitions over 2 PS shards.
pub fn tiny_job_spec(name: &str, graph: &std::path::Path, baselines: &[&str], workers: u32) -> String {
    let baselines: Vec<String> = baselines.iter().map(|b| format!("{b:?}")).collect();
    format!(
        r#"
name = "{name}"
seed = 7
baselines = [{}]
[dataset]
graph = "{}"
[model]
kind = "hgt"
dim = 16
heads = 2
[sampler]
fanouts = [5, 3]
[train]
epochs = 6
batch_size = 128
[cluster]
workers = {workers}
ps_shards = 2
report_interval = "200ms"
"#,
        baselines.join(", "),
        graph.display()
    )
}

/// Starts `worker serve --worker-id <id>` on the CPU with one libtorch thread.
///
/// # Errors
/// Fails when the binary is missing or does not start.
pub fn start_worker(id: &str, etcd: &str, prefix: &str, coordinator: &str) -> anyhow::Result<ChildProcess> {
    ChildProcess::spawn(id, &mut worker_command(id, etcd, prefix, coordinator)?)
}

/// [`start_worker`] with its Prometheus endpoint on a free port; returns
/// the endpoint's address too.
///
/// # Errors
/// Fails when the binary is missing, does not start or prints no address.
pub fn start_worker_with_metrics(
    id: &str,
    etcd: &str,
    prefix: &str,
    coordinator: &str,
) -> anyhow::Result<(ChildProcess, String)> {
    let mut command = worker_command(id, etcd, prefix, coordinator)?;
    command.args(["--metrics-listen", "127.0.0.1:0"]);
    let (process, mut addrs) = ChildProcess::spawn_reporting(id, &mut command, &["METRICS "])?;
    Ok((process, addrs.remove(0)))
}

fn worker_command(id: &str, etcd: &str, prefix: &str, coordinator: &str) -> anyhow::Result<Command> {
    let mut command = crate::binaries::command("worker")?;
    command.args([
        "serve",
        "--worker-id",
        id,
        "--etcd",
        etcd,
        "--etcd-prefix",
        prefix,
        "--coordinator",
        coordinator,
        "--device",
        "cpu",
        "--threads",
        "1",
    ]);
    // The evaluating worker's bundle goes to a scratch folder, not the source tree.
    command.env(
        "TESSERA_BUNDLES",
        std::env::temp_dir().join(format!("tessera-test-bundles-{}", std::process::id())),
    );
    Ok(command)
}

/// Polls job `job_id` until it ends, or fails after `timeout`.
///
/// # Errors
/// Fails when the coordinator refuses the call or the job is still running
/// at the deadline.
pub async fn wait_for_end(
    client: &mut CoordinatorClient<Channel>,
    job_id: &str,
    timeout: Duration,
) -> anyhow::Result<Job> {
    let started = Instant::now();
    loop {
        let job = client.get_job(GetJobRequest { job_id: job_id.to_owned() }).await?.into_inner();
        let state = JobState::try_from(job.state).unwrap_or(JobState::Unspecified);
        if matches!(state, JobState::Succeeded | JobState::Failed | JobState::Cancelled) {
            return Ok(job);
        }
        anyhow::ensure!(started.elapsed() < timeout, "job {job_id} did not finish in {timeout:?}: {job:#?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Checks that `model`'s final metrics in `job` beat random ranking.
///
/// # Errors
/// Names the metric that does not.
pub fn check_beats_random(job: &Job, model: &str) -> anyhow::Result<()> {
    let get = |name: &str| job.metrics.get(&format!("{model}/{name}")).copied().unwrap_or(f64::NAN);
    let (hr, auc) = (get("sampled_hr@10"), get("auc"));
    anyhow::ensure!(
        hr > BEATS_RANDOM_SAMPLED_HR10,
        "{model}: sampled HR@10 {hr} is not above {BEATS_RANDOM_SAMPLED_HR10} (random: 0.10); {:?}",
        job.metrics
    );
    anyhow::ensure!(
        auc > BEATS_RANDOM_AUC,
        "{model}: AUC {auc} is not above {BEATS_RANDOM_AUC}; {:?}",
        job.metrics
    );
    Ok(())
}
