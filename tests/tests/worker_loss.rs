//! A lost worker must not hang the job, with real processes: etcd, two
//! `ps-server` shards, `coordinator serve` and two real `worker serve`
//! processes train the small job.
//! - The worker holding partition 1 is killed with SIGKILL mid-training. Its
//!   partition moves to the surviving worker, which trains it from the
//!   partition's last progress and the PS state after finishing its own (the
//!   hang this guards against: a worker that had finished never picked up
//!   the reassigned partition), and the job succeeds with models that beat
//!   random ranking.
//! - The worker holding partition 1 is paused with SIGSTOP past its lease,
//!   and continued once the partition has moved: it is fenced (no report of
//!   it is recorded again), and the job succeeds.

use std::time::{Duration, Instant};

use tessera_graph::synth::{build_graph, SynthConfig};
use tessera_proto::coordinator::v1::coordinator_client::CoordinatorClient;
use tessera_proto::coordinator::v1::{GetJobRequest, Job, JobState, SubmitJobRequest};
use tessera_tests::cluster::RealCluster;
use tessera_tests::worker::{check_beats_random, tiny_job_spec, wait_for_end};
use tonic::transport::Channel;

const PREFIX: &str = "/tessera-worker-loss/";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_training_hands_its_partition_to_a_worker_that_finished() -> anyhow::Result<()> {
    let cluster = RealCluster::start(PREFIX).await?;
    let dir = tempfile::tempdir()?;
    build_graph(&SynthConfig::new(300, 150, 12_000, 3), dir.path(), 0.1)?;
    let mut workers = [Some(cluster.worker("w0")?), Some(cluster.worker("w1")?)];
    let spec = tiny_job_spec("lossy", &dir.path().join("graph"), &["mf"], 2);
    let mut client = cluster.client().await?;
    let request = SubmitJobRequest { spec_toml: spec, job_id: "lossy-1".into() };
    let job_id = client.submit_job(request).await?.into_inner().job_id;
    // Wait until partition 1 is under way (past its first epoch), then kill its worker.
    let started = Instant::now();
    let (victim, token) = loop {
        let job = client.get_job(GetJobRequest { job_id: job_id.clone() }).await?.into_inner();
        let p1 = job.progress.iter().find(|p| p.partition == 1);
        if let (Some(p), Some(a)) = (p1, job.assignments.iter().find(|a| a.partition == 1)) {
            if p.epoch >= 1 && !p.finished {
                break (a.worker_id.clone(), a.fencing_token);
            }
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(120),
            "partition 1 never got going: {job:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let index = if victim == "w0" { 0 } else { 1 };
    let mut dead = workers[index].take().expect("the victim is running");
    dead.signal_and_wait(9)?;
    let killed_at = Instant::now();
    let job = wait_for_end(&mut client, &job_id, Duration::from_secs(300)).await?;
    assert_eq!(job.state, JobState::Succeeded as i32, "{job:#?}");
    let survivor = if index == 0 { "w1" } else { "w0" };
    let p1 = job.assignments.iter().find(|a| a.partition == 1).expect("partition 1 is assigned");
    assert_eq!(p1.worker_id, survivor, "partition 1 moved to the live worker");
    assert!(p1.fencing_token > token, "the move bumped the fencing token");
    assert!(job.progress.iter().all(|p| p.finished), "{:?}", job.progress);
    eprintln!(
        "job ended {:.1} s after the kill; metrics: {:?}",
        killed_at.elapsed().as_secs_f64(),
        job.metrics
    );
    check_beats_random(&job, "hgt")?;
    check_beats_random(&job, "mf")?;
    Ok(())
}

async fn get(client: &mut CoordinatorClient<Channel>, job_id: &str) -> anyhow::Result<Job> {
    Ok(client.get_job(GetJobRequest { job_id: job_id.to_owned() }).await?.into_inner())
}

/// Waits until partition 1 is past its first epoch; returns its worker and
/// the assignment's fencing token.
async fn partition_1_under_way(
    client: &mut CoordinatorClient<Channel>,
    job_id: &str,
) -> anyhow::Result<(String, u64)> {
    let started = Instant::now();
    loop {
        let job = get(client, job_id).await?;
        let p1 = job.progress.iter().find(|p| p.partition == 1);
        if let (Some(p), Some(a)) = (p1, job.assignments.iter().find(|a| a.partition == 1)) {
            if p.epoch >= 1 && !p.finished {
                return Ok((a.worker_id.clone(), a.fencing_token));
            }
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(120),
            "partition 1 never got going: {job:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_paused_past_its_lease_is_fenced_when_it_continues() -> anyhow::Result<()> {
    let cluster = RealCluster::start("/tessera-worker-pause/").await?;
    let dir = tempfile::tempdir()?;
    build_graph(&SynthConfig::new(300, 150, 12_000, 3), dir.path(), 0.1)?;
    let workers = [cluster.worker("w0")?, cluster.worker("w1")?];
    // Long enough that partition 1 is still training when its worker wakes.
    let spec =
        tiny_job_spec("paused", &dir.path().join("graph"), &["mf"], 2).replace("epochs = 6", "epochs = 16");
    let mut client = cluster.client().await?;
    let request = SubmitJobRequest { spec_toml: spec, job_id: "paused-1".into() };
    let job_id = client.submit_job(request).await?.into_inner().job_id;
    let (victim, token) = partition_1_under_way(&mut client, &job_id).await?;
    let pid = workers[usize::from(victim == "w1")].id().expect("the victim runs").to_string();
    std::process::Command::new("kill").args(["-STOP", &pid]).status()?;
    // Past the 5 s lease the partition moves to the other worker.
    let paused = Instant::now();
    let moved_to = loop {
        let job = get(&mut client, &job_id).await?;
        let a = job.assignments.iter().find(|a| a.partition == 1).expect("partition 1 is assigned");
        if a.fencing_token > token && !a.worker_id.is_empty() {
            break a.worker_id.clone();
        }
        anyhow::ensure!(paused.elapsed() < Duration::from_secs(180), "partition 1 never moved: {job:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_ne!(moved_to, victim, "the paused worker is not live");
    eprintln!("partition 1 moved to {moved_to} {:.1} s after the pause", paused.elapsed().as_secs_f64());
    std::process::Command::new("kill").args(["-CONT", &pid]).status()?;
    // Once the new worker has reported on partition 1, no report of the
    // woken one is recorded over it.
    let ended = Instant::now();
    let mut taken_over = false;
    let job = loop {
        let job = get(&mut client, &job_id).await?;
        let p1 = job.progress.iter().find(|p| p.partition == 1).expect("partition 1 has progress");
        taken_over |= p1.worker_id == moved_to;
        assert!(
            !(taken_over && p1.worker_id == victim),
            "the fenced worker's report was recorded after the move: {p1:?}"
        );
        if JobState::try_from(job.state).is_ok_and(|s| matches!(s, JobState::Succeeded | JobState::Failed)) {
            break job;
        }
        anyhow::ensure!(ended.elapsed() < Duration::from_secs(300), "the job did not end: {job:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(job.state, JobState::Succeeded as i32, "{job:#?}");
    assert!(taken_over, "the new worker never reported on partition 1");
    let p1 = job.assignments.iter().find(|a| a.partition == 1).expect("partition 1 is assigned");
    assert_eq!(p1.worker_id, moved_to);
    check_beats_random(&job, "hgt")?;
    Ok(())
}
