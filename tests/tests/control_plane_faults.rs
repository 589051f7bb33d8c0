//! The control plane fails under a real job (etcd, two `ps-server` shards,
//! `coordinator serve` and two real `worker serve` processes on loopback):
//! - the coordinator is killed with SIGKILL mid-training and started again on
//!   its address 2 s later: it reloads the job from etcd, no partition moves,
//!   and the job succeeds;
//! - etcd is killed mid-training and started again 20 s later (same data
//!   dir): the workers train on through it, and the job succeeds.
//!
//! Each time both models must still beat random ranking.

use std::time::{Duration, Instant};

use tessera_graph::synth::{build_graph, SynthConfig};
use tessera_proto::coordinator::v1::{GetJobRequest, Job, JobState, SubmitJobRequest};
use tessera_tests::cluster::RealCluster;
use tessera_tests::worker::{check_beats_random, tiny_job_spec, wait_for_end};

/// Starts the cluster and 2 workers, submits a job of `epochs` epochs per
/// model and waits until it has trained `steps` steps over its partitions.
async fn under_way(
    prefix: &str,
    epochs: u32,
    steps: u64,
) -> anyhow::Result<(RealCluster, [tessera_tests::ChildProcess; 2], tempfile::TempDir, Job)> {
    let cluster = RealCluster::start(prefix).await?;
    let dir = tempfile::tempdir()?;
    build_graph(&SynthConfig::new(300, 150, 12_000, 3), dir.path(), 0.1)?;
    let workers = [cluster.worker("w0")?, cluster.worker("w1")?];
    let spec = tiny_job_spec("faulty", &dir.path().join("graph"), &["mf"], 2)
        .replace("epochs = 6", &format!("epochs = {epochs}"));
    let mut client = cluster.client().await?;
    let request = SubmitJobRequest { spec_toml: spec, job_id: "faulty-1".into() };
    client.submit_job(request).await?;
    let started = Instant::now();
    loop {
        let job = client.get_job(GetJobRequest { job_id: "faulty-1".into() }).await?.into_inner();
        let done: u64 = job.progress.iter().map(|p| u64::from(p.epoch) * p.steps_per_epoch + p.step).sum();
        if job.state == JobState::Running as i32 && done >= steps {
            return Ok((cluster, workers, dir, job));
        }
        anyhow::ensure!(started.elapsed() < Duration::from_secs(120), "the job never got going: {job:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_coordinator_killed_and_restarted_mid_job_loses_nothing() -> anyhow::Result<()> {
    let (mut cluster, _workers, _dir, before) = under_way("/tessera-fault-coordinator/", 12, 40).await?;
    cluster.restart_coordinator(Duration::from_secs(2))?;
    let mut client = cluster.client().await?;
    let job = wait_for_end(&mut client, "faulty-1", Duration::from_secs(300)).await?;
    assert_eq!(job.state, JobState::Succeeded as i32, "{job:#?}");
    assert_eq!(job.fencing_token, before.fencing_token, "no partition was reassigned");
    check_beats_random(&job, "hgt")?;
    check_beats_random(&job, "mf")?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_stopped_for_20s_mid_job_and_started_again() -> anyhow::Result<()> {
    let (mut cluster, _workers, _dir, _) = under_way("/tessera-fault-etcd/", 40, 40).await?;
    cluster.etcd.kill();
    let down = Instant::now();
    tokio::time::sleep(Duration::from_secs(20)).await;
    cluster.etcd.restart().await?;
    eprintln!("etcd was down {:.1} s", down.elapsed().as_secs_f64());
    let mut client = cluster.client().await?;
    let job = wait_for_end(&mut client, "faulty-1", Duration::from_secs(300)).await?;
    eprintln!("the job ended {:.1} s after etcd came back", down.elapsed().as_secs_f64() - 20.0);
    assert_eq!(job.state, JobState::Succeeded as i32, "{job:#?}");
    check_beats_random(&job, "hgt")?;
    check_beats_random(&job, "mf")?;
    Ok(())
}
