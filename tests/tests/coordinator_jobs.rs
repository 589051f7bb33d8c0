//! The coordinator against real etcd, a real PS shard, the real
//! `coordinator serve` binary and fake workers that speak the real control
//! protocol: a job goes submit → running → succeeded; the coordinator is
//! killed and restarted mid-job and the job carries on; a worker's lease
//! expires and its partition moves to a live worker within 10 s with a bumped
//! fencing token; cancel stops the workers; a missing PS shard pauses them.

use std::path::Path;
use std::time::{Duration, Instant};

use tessera_graph::synth::{build_graph, SynthConfig};
use tessera_proto::coordinator::v1::coordinator_client::CoordinatorClient;
use tessera_proto::coordinator::v1::{
    GetJobRequest, Job, JobState, ProgressReport, SubmitJobRequest, WorkerDirective,
};
use tessera_tests::coordinator::{start_coordinator, CoordinatorProcess};
use tessera_tests::fake_worker::{FakeOptions, FakeWorker};
use tessera_tests::ps::{start_ps_server_with, PsServer};
use tessera_tests::Etcd;

const PREFIX: &str = "/tessera-test/";

struct Cluster {
    etcd: Etcd,
    coordinator: CoordinatorProcess,
    ps: PsServer,
    dir: tempfile::TempDir,
}

impl Cluster {
    async fn start() -> anyhow::Result<Self> {
        let etcd = Etcd::start().await?;
        let ps = start_ps(&etcd)?;
        let coordinator = start_coordinator(&etcd.endpoint(), PREFIX, "127.0.0.1:0")?;
        let dir = tempfile::tempdir()?;
        build_graph(&SynthConfig::new(200, 100, 3_000, 5), dir.path(), 0.1)?;
        Ok(Self { etcd, coordinator, ps, dir })
    }

    fn spec(&self, name: &str, epochs: u32) -> String {
        spec_toml(name, &self.dir.path().join("graph"), epochs)
    }

    /// Submits the test spec `name` as job `<name>-1`; returns its id.
    async fn submit(
        &self,
        client: &mut CoordinatorClient<tonic::transport::Channel>,
        name: &str,
        epochs: u32,
    ) -> anyhow::Result<String> {
        let request = SubmitJobRequest { spec_toml: self.spec(name, epochs), job_id: format!("{name}-1") };
        Ok(client.submit_job(request).await?.into_inner().job_id)
    }

    async fn worker(&self, id: &str) -> anyhow::Result<FakeWorker> {
        FakeWorker::start(
            id,
            &self.etcd.endpoint(),
            PREFIX,
            &self.coordinator.endpoint(),
            FakeOptions::default(),
        )
        .await
    }

    async fn client(&self) -> anyhow::Result<CoordinatorClient<tonic::transport::Channel>> {
        Ok(tessera_control::client::connect(
            &self.coordinator.endpoint(),
            &tessera_runtime::tls::Tls::insecure(),
        )
        .await?)
    }

    fn cli(&self, args: &[&str]) -> anyhow::Result<std::process::Output> {
        Ok(tessera_tests::command("coordinator")?
            .arg("--coordinator")
            .arg(self.coordinator.endpoint())
            .args(args)
            .output()?)
    }
}

fn start_ps(etcd: &Etcd) -> anyhow::Result<PsServer> {
    let flags: Vec<String> = vec![
        "--etcd".into(),
        etcd.endpoint(),
        "--etcd-prefix".into(),
        PREFIX.into(),
        "--lease-ttl".into(),
        "2s".into(),
    ];
    start_ps_server_with(0, 1, &flags)
}

fn spec_toml(name: &str, graph: &Path, epochs: u32) -> String {
    format!(
        r#"
name = "{name}"
[dataset]
graph = "{}"
[model]
kind = "hgt"
[train]
epochs = {epochs}
[cluster]
workers = 2
ps_shards = 1
"#,
        graph.display()
    )
}

async fn get(client: &mut CoordinatorClient<tonic::transport::Channel>, job_id: &str) -> anyhow::Result<Job> {
    Ok(client.get_job(GetJobRequest { job_id: job_id.into() }).await?.into_inner())
}

/// Polls the job until `done` holds or `timeout` passes.
async fn wait_for(
    client: &mut CoordinatorClient<tonic::transport::Channel>,
    job_id: &str,
    timeout: Duration,
    what: &str,
    done: impl Fn(&Job) -> bool,
) -> anyhow::Result<Job> {
    let started = Instant::now();
    loop {
        if let Ok(job) = get(client, job_id).await {
            if done(&job) {
                return Ok(job);
            }
            if started.elapsed() > timeout {
                anyhow::bail!("timed out waiting for {what}; job is {job:#?}");
            }
        } else if started.elapsed() > timeout {
            anyhow::bail!("timed out waiting for {what}; coordinator unreachable");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn state(job: &Job) -> JobState {
    JobState::try_from(job.state).unwrap_or(JobState::Unspecified)
}

fn steps_done(job: &Job) -> u64 {
    job.progress.iter().map(|p| u64::from(p.epoch) * p.steps_per_epoch + p.step).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn job_goes_from_submit_to_running_to_succeeded_through_the_cli() -> anyhow::Result<()> {
    let cluster = Cluster::start().await?;
    let spec_path = cluster.dir.path().join("job.toml");
    std::fs::write(&spec_path, cluster.spec("tiny", 2))?;
    let out = cluster.cli(&["submit", spec_path.to_str().unwrap(), "--job-id", "tiny-1"])?;
    assert!(out.status.success(), "submit: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "tiny-1");
    let mut client = cluster.client().await?;
    let job =
        wait_for(&mut client, "tiny-1", Duration::from_secs(20), "a plan", |j| j.num_partitions == 2).await?;
    assert_eq!(state(&job), JobState::Pending, "no workers yet: {}", job.message);
    let workers = [cluster.worker("w-a").await?, cluster.worker("w-b").await?];
    wait_for(&mut client, "tiny-1", Duration::from_secs(10), "running", |j| state(j) == JobState::Running)
        .await?;
    let watch = cluster.cli(&["watch", "tiny-1"])?;
    let stdout = String::from_utf8_lossy(&watch.stdout);
    assert_eq!(watch.status.code(), Some(0), "watch: {stdout} {}", String::from_utf8_lossy(&watch.stderr));
    assert!(stdout.contains("succeeded") && stdout.contains("ndcg@10"), "{stdout}");
    let job = get(&mut client, "tiny-1").await?;
    assert_eq!(state(&job), JobState::Succeeded);
    assert!(job.progress.iter().all(|p| p.finished), "{:?}", job.progress);
    assert_eq!(job.fencing_token, 2, "two assignments, no reassignment");
    let evaluations: u32 = workers.iter().map(|w| w.stats().evaluations).sum();
    assert_eq!(evaluations, 1);
    let list = cluster.cli(&["list"])?;
    assert!(String::from_utf8_lossy(&list.stdout).contains("tiny-1"));
    let status = cluster.cli(&["status", "tiny-1", "--json"])?;
    let json: serde_json::Value = serde_json::from_slice(&status.stdout)?;
    assert_eq!(json["state"], "succeeded");
    // A second submit with the same id is refused, naming it.
    let again = cluster.cli(&["submit", spec_path.to_str().unwrap(), "--job-id", "tiny-1"])?;
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    for w in workers {
        w.stop().await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn coordinator_killed_and_restarted_mid_job_carries_on() -> anyhow::Result<()> {
    let mut cluster = Cluster::start().await?;
    let mut client = cluster.client().await?;
    let job_id = cluster.submit(&mut client, "restart", 6).await?;
    let workers = [cluster.worker("w-a").await?, cluster.worker("w-b").await?];
    let before = wait_for(&mut client, &job_id, Duration::from_secs(20), "progress", |j| {
        state(j) == JobState::Running && steps_done(j) >= 20
    })
    .await?;
    let addr = cluster.coordinator.addr.clone();
    cluster.coordinator.process.kill();
    tokio::time::sleep(Duration::from_millis(500)).await;
    cluster.coordinator = start_coordinator(&cluster.etcd.endpoint(), PREFIX, &addr)?;
    let mut client = cluster.client().await?;
    let after = get(&mut client, &job_id).await?;
    assert_eq!(state(&after), JobState::Running, "the restarted coordinator reloads the job from etcd");
    assert!(steps_done(&after) >= steps_done(&before));
    let done = wait_for(&mut client, &job_id, Duration::from_secs(30), "success", |j| {
        state(j) == JobState::Succeeded
    })
    .await?;
    assert_eq!(done.fencing_token, before.fencing_token, "no partition was reassigned");
    for w in &workers {
        assert_eq!(w.stats().assignments.len(), 1, "each worker kept its partition");
    }
    for w in workers {
        w.stop().await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn expired_worker_lease_moves_its_partition_within_10s_and_fences_it() -> anyhow::Result<()> {
    let cluster = Cluster::start().await?;
    let mut client = cluster.client().await?;
    let job_id = cluster.submit(&mut client, "lease", 8).await?;
    let a = cluster.worker("w-a").await?;
    let b = cluster.worker("w-b").await?;
    let running =
        wait_for(&mut client, &job_id, Duration::from_secs(20), "running", |j| state(j) == JobState::Running)
            .await?;
    let spare = cluster.worker("w-spare").await?;
    let victim_partition = running.assignments.iter().find(|x| x.worker_id == "w-a").unwrap().partition;
    let victim_fencing = running.assignments.iter().find(|x| x.worker_id == "w-a").unwrap().fencing_token;
    let progressed = wait_for(&mut client, &job_id, Duration::from_secs(10), "progress on w-a", |j| {
        j.progress.iter().any(|p| p.partition == victim_partition && p.step + u64::from(p.epoch) > 3)
    })
    .await?;
    let victim_progress =
        progressed.progress.iter().find(|p| p.partition == victim_partition).unwrap().clone();
    let died = Instant::now();
    a.die().await;
    let moved = wait_for(&mut client, &job_id, Duration::from_secs(15), "reassignment", |j| {
        j.assignments.iter().any(|x| x.partition == victim_partition && x.worker_id == "w-spare")
    })
    .await?;
    let took = died.elapsed();
    eprintln!("partition {victim_partition} moved to w-spare {:.2}s after w-a died", took.as_secs_f64());
    assert!(took <= Duration::from_secs(10), "reassignment took {took:?}");
    assert!(moved.fencing_token > running.fencing_token, "the fencing token is bumped");
    // The replacement resumed from the dead worker's last reported progress.
    let started = Instant::now();
    while spare.stats().resumed_at.is_empty() {
        assert!(started.elapsed() < Duration::from_secs(5), "w-spare did not take its assignment");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let resumed = spare.stats().resumed_at[0];
    assert!(
        (resumed.0, resumed.1) >= (victim_progress.epoch, victim_progress.step),
        "resumed at {resumed:?}, w-a had reached {:?}",
        (victim_progress.epoch, victim_progress.step)
    );
    // A report from the dead worker's old assignment is fenced.
    let stale = ProgressReport {
        job_id: job_id.clone(),
        worker_id: "w-a".into(),
        partition: victim_partition,
        fencing_token: victim_fencing,
        ..ProgressReport::default()
    };
    let ack = client.report_progress(stale).await?.into_inner();
    assert_eq!(ack.directive, WorkerDirective::Fenced as i32);
    wait_for(&mut client, &job_id, Duration::from_secs(40), "success", |j| state(j) == JobState::Succeeded)
        .await?;
    b.stop().await;
    spare.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancel_stops_the_workers_and_watch_exits_4() -> anyhow::Result<()> {
    let cluster = Cluster::start().await?;
    let mut client = cluster.client().await?;
    let job_id = cluster.submit(&mut client, "cancel", 500).await?;
    let workers = [cluster.worker("w-a").await?, cluster.worker("w-b").await?];
    wait_for(&mut client, &job_id, Duration::from_secs(20), "both workers training", |j| {
        state(j) == JobState::Running && j.progress.len() == 2
    })
    .await?;
    let out = cluster.cli(&["cancel", &job_id])?;
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("cancelled"));
    let started = Instant::now();
    while !workers.iter().all(|w| w.stats().directives.contains(&WorkerDirective::Stop)) {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "workers were not told to stop: {:?}",
            workers.iter().map(|w| w.stats()).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let watch = cluster.cli(&["watch", &job_id])?;
    assert_eq!(watch.status.code(), Some(4));
    for w in workers {
        w.stop().await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_that_cannot_train_its_partition_fails_the_job_with_its_error() -> anyhow::Result<()> {
    let cluster = Cluster::start().await?;
    let mut client = cluster.client().await?;
    let job_id = cluster.submit(&mut client, "broken", 500).await?;
    let healthy = cluster.worker("w-ok").await?;
    let options = FakeOptions {
        fail_with: Some("init_dense refused: shape [400] differs".into()),
        ..FakeOptions::default()
    };
    let broken = FakeWorker::start(
        "w-bad",
        &cluster.etcd.endpoint(),
        PREFIX,
        &cluster.coordinator.endpoint(),
        options,
    )
    .await?;
    let job = wait_for(&mut client, &job_id, Duration::from_secs(20), "the job to fail", |j| {
        state(j) == JobState::Failed
    })
    .await?;
    assert!(job.error.contains("on w-bad") && job.error.contains("shape [400] differs"), "{}", job.error);
    let watch = cluster.cli(&["watch", &job_id])?;
    assert_eq!(watch.status.code(), Some(3), "watch exits 3 for a failed job");
    healthy.stop().await;
    broken.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn missing_ps_shard_pauses_workers_until_it_is_back() -> anyhow::Result<()> {
    let mut cluster = Cluster::start().await?;
    let mut client = cluster.client().await?;
    let job_id = cluster.submit(&mut client, "pause", 500).await?;
    let workers = [cluster.worker("w-a").await?, cluster.worker("w-b").await?];
    wait_for(&mut client, &job_id, Duration::from_secs(20), "running", |j| state(j) == JobState::Running)
        .await?;
    cluster.ps.process.kill();
    let started = Instant::now();
    while !workers.iter().all(|w| w.stats().directives.last() == Some(&WorkerDirective::Pause)) {
        assert!(started.elapsed() < Duration::from_secs(10), "workers were not paused");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let paused = steps_done(&get(&mut client, &job_id).await?);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(steps_done(&get(&mut client, &job_id).await?), paused, "no step while paused");
    cluster.ps = start_ps(&cluster.etcd)?;
    wait_for(&mut client, &job_id, Duration::from_secs(10), "resumed progress", |j| {
        steps_done(j) > paused + 4
    })
    .await?;
    client.cancel_job(tessera_proto::coordinator::v1::CancelJobRequest { job_id }).await?;
    for w in workers {
        w.stop().await;
    }
    Ok(())
}

#[test]
fn unreachable_coordinator_and_etcd_give_exit_5_naming_the_endpoint() -> anyhow::Result<()> {
    let out = tessera_tests::command("coordinator")?
        .args(["--coordinator", "http://127.0.0.1:9", "list"])
        .output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{stderr}");
    assert!(stderr.contains("http://127.0.0.1:9") && stderr.trim().lines().count() == 1, "{stderr}");
    let out = tessera_tests::command("coordinator")?
        .args(["serve", "--listen", "127.0.0.1:0", "--etcd", "http://127.0.0.1:9"])
        .output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{stderr}");
    assert!(stderr.lines().last().unwrap_or_default().contains("etcd at http://127.0.0.1:9"), "{stderr}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_and_cancel_need_the_token_when_the_coordinator_has_one() -> anyhow::Result<()> {
    let etcd = Etcd::start().await?;
    let dir = tempfile::tempdir()?;
    build_graph(&SynthConfig::new(200, 100, 3_000, 5), dir.path(), 0.1)?;
    let token = dir.path().join("token");
    std::fs::write(&token, "t0ken-of-the-coordinator\n")?;
    let wrong = dir.path().join("wrong");
    std::fs::write(&wrong, "not-the-token\n")?;
    let coordinator = tessera_tests::coordinator::start_coordinator_with(
        &etcd.endpoint(),
        "/tessera-token/",
        "127.0.0.1:0",
        &["--token-file", token.to_str().unwrap()],
    )?;
    let spec = dir.path().join("job.toml");
    std::fs::write(&spec, spec_toml("tok", &dir.path().join("graph"), 1))?;
    let cli = |args: &[&str]| {
        tessera_tests::command("coordinator")
            .unwrap()
            .arg("--coordinator")
            .arg(coordinator.endpoint())
            .args(args)
            .output()
            .unwrap()
    };
    let spec = spec.to_str().unwrap();
    let out = cli(&["submit", spec, "--job-id", "tok-1"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("submit needs a bearer token"), "{err}");
    let out = cli(&["--token-file", wrong.to_str().unwrap(), "submit", spec, "--job-id", "tok-1"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("not the coordinator's"), "{err}");
    assert!(!err.contains("not-the-token"), "the token is printed: {err}");
    let out = cli(&["--token-file", token.to_str().unwrap(), "submit", spec, "--job-id", "tok-1"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Reading needs no token, and shows none.
    let out = cli(&["status", "tok-1", "--json"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && !text.contains("t0ken"), "{text}");
    let out = cli(&["cancel", "tok-1"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("cancel needs a bearer token"), "{err}");
    let out = cli(&["--token-file", token.to_str().unwrap(), "cancel", "tok-1"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("tok-1 cancelled"), "{text}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn watch_streams_every_status_however_briefly_it_lasted() -> anyhow::Result<()> {
    let cluster = Cluster::start().await?;
    let mut client = cluster.client().await?;
    let job_id = cluster.submit(&mut client, "brief", 1).await?;
    let mut events = client
        .watch_job(tessera_proto::coordinator::v1::WatchJobRequest { job_id: job_id.clone() })
        .await?
        .into_inner();
    // Three statuses written back to back, each lasting a millisecond or
    // so, then the end: a poll would see one or two of them.
    let store = tessera_control::store::Store::connect(&cluster.etcd.access()?, PREFIX).await?;
    use tessera_control::store::JobStatus;
    for phase in ["brief phase a", "brief phase b", "brief phase c"] {
        store.set_status(&job_id, &JobStatus::new(JobState::Running, phase)).await?;
    }
    store.set_status(&job_id, &JobStatus::new(JobState::Cancelled, "brief phase end")).await?;
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while let Ok(Some(event)) =
        tokio::time::timeout_at(tokio::time::Instant::from_std(deadline), events.message()).await?
    {
        let Some(job) = event.job else { continue };
        let message = job.message.clone();
        if message.starts_with("brief phase") && seen.last() != Some(&message) {
            seen.push(message);
        }
        if job.state == JobState::Cancelled as i32 {
            break;
        }
    }
    assert_eq!(seen, ["brief phase a", "brief phase b", "brief phase c", "brief phase end"]);
    Ok(())
}
