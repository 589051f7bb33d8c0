//! Two jobs at once on one `coordinator serve`, sharing two real `ps-server`
//! shards, with one real `worker serve` each. Each job's pushes carry its own
//! fencing token, and tokens come from one cluster-wide counter, so before
//! fencing was scoped per job on the shards, the job assigned first was
//! fenced out by the other's newer token and failed. Both must succeed, and
//! both must have learned (beat random ranking).

use std::time::Duration;

use tessera_graph::synth::{build_graph, SynthConfig};
use tessera_proto::coordinator::v1::{GetJobRequest, JobState, SubmitJobRequest};
use tessera_tests::cluster::RealCluster;
use tessera_tests::worker::{check_beats_random, tiny_job_spec, wait_for_end};

const PREFIX: &str = "/tessera-two-jobs/";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_jobs_share_the_ps_shards_and_both_succeed() -> anyhow::Result<()> {
    let cluster = RealCluster::start(PREFIX).await?;
    let dirs = [tempfile::tempdir()?, tempfile::tempdir()?];
    for (dir, seed) in dirs.iter().zip([3, 4]) {
        build_graph(&SynthConfig::new(300, 150, 12_000, seed), dir.path(), 0.1)?;
    }
    let _workers = [cluster.worker("w0")?, cluster.worker("w1")?];
    let mut client = cluster.client().await?;
    let mut ids = Vec::new();
    for (name, dir) in ["job-a", "job-b"].into_iter().zip(&dirs) {
        let request = SubmitJobRequest {
            spec_toml: tiny_job_spec(name, &dir.path().join("graph"), &[], 1),
            job_id: name.into(),
        };
        ids.push(client.submit_job(request).await?.into_inner().job_id);
    }
    // Poll both: at some moment both must be training at once.
    let started = std::time::Instant::now();
    let mut both_running = false;
    loop {
        let mut states = Vec::new();
        for id in &ids {
            let job = client.get_job(GetJobRequest { job_id: id.clone() }).await?.into_inner();
            states.push(JobState::try_from(job.state).unwrap_or(JobState::Unspecified));
        }
        both_running |= states.iter().all(|&s| s == JobState::Running);
        if states.iter().all(|s| matches!(s, JobState::Succeeded | JobState::Failed | JobState::Cancelled)) {
            break;
        }
        anyhow::ensure!(started.elapsed() < Duration::from_secs(300), "jobs still running: {states:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut workers = std::collections::HashSet::new();
    for id in &ids {
        let job = wait_for_end(&mut client, id, Duration::from_secs(1)).await?;
        assert_eq!(job.state, JobState::Succeeded as i32, "{id} did not succeed: {job:#?}");
        eprintln!("{id}: {:?}", job.metrics);
        check_beats_random(&job, "hgt")?;
        workers.extend(job.assignments.iter().map(|a| a.worker_id.clone()));
    }
    assert!(both_running, "the two jobs never trained at the same time");
    assert_eq!(workers.len(), 2, "each job had its own worker: {workers:?}");
    Ok(())
}
