//! A dead worker must not hang the job, with real processes: etcd, two
//! `ps-server` shards, `coordinator serve` and two real `worker serve`
//! processes train the small job; the worker holding partition 1 is killed
//! with SIGKILL mid-training. Its partition moves to the surviving worker,
//! which trains it from the partition's last progress and the PS state
//! after finishing its own (the hang this test guards against: a worker that
//! had finished never picked up the reassigned partition), and the job
//! succeeds with models that beat random ranking.

use std::time::{Duration, Instant};

use tessera_graph::synth::{build_graph, SynthConfig};
use tessera_proto::coordinator::v1::{GetJobRequest, JobState, SubmitJobRequest};
use tessera_tests::cluster::RealCluster;
use tessera_tests::worker::{check_beats_random, tiny_job_spec, wait_for_end};

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
