//! The real thing on loopback: etcd, two `ps-server` shards, `coordinator
//! serve` and two `worker serve` processes train HGT and an MF baseline on a
//! small synthetic graph, partitioned by METIS, and the job ends with test
//! metrics for both models.

use std::process::Command;
use std::time::{Duration, Instant};

use tessera_graph::synth::{build_graph, SynthConfig};
use tessera_proto::coordinator::v1::{GetJobRequest, JobState, SubmitJobRequest};
use tessera_tests::binaries::binary;
use tessera_tests::coordinator::start_coordinator;
use tessera_tests::ps::start_ps_server_with;
use tessera_tests::{ChildProcess, Etcd};

const PREFIX: &str = "/tessera-train/";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_and_two_shards_train_hgt_and_mf_to_success() -> anyhow::Result<()> {
    let etcd = Etcd::start().await?;
    let ps_flags = vec!["--etcd".to_owned(), etcd.endpoint(), "--etcd-prefix".into(), PREFIX.into()];
    let _ps = [start_ps_server_with(0, 2, &ps_flags)?, start_ps_server_with(1, 2, &ps_flags)?];
    let coordinator = start_coordinator(&etcd.endpoint(), PREFIX, "127.0.0.1:0")?;
    let dir = tempfile::tempdir()?;
    build_graph(&SynthConfig::new(300, 200, 6_000, 11), dir.path(), 0.1)?;
    let mut workers = Vec::new();
    for id in ["w0", "w1"] {
        let mut command = Command::new(binary("worker")?);
        command.args([
            "serve",
            "--worker-id",
            id,
            "--etcd",
            &etcd.endpoint(),
            "--etcd-prefix",
            PREFIX,
            "--coordinator",
            &coordinator.endpoint(),
            "--device",
            "cpu",
            "--threads",
            "1",
        ]);
        workers.push(ChildProcess::spawn(id, &mut command)?);
    }
    let spec = format!(
        r#"
name = "tiny-train"
baselines = ["mf"]
[dataset]
graph = "{}"
[model]
kind = "hgt"
dim = 16
heads = 2
[sampler]
fanouts = [5, 3]
[train]
epochs = 2
batch_size = 128
[cluster]
workers = 2
ps_shards = 2
report_interval = "200ms"
"#,
        dir.path().join("graph").display()
    );
    let mut client = coordinator::client::connect(&coordinator.endpoint()).await?;
    let job_id = client
        .submit_job(SubmitJobRequest { spec_toml: spec, job_id: "train-1".into() })
        .await?
        .into_inner()
        .job_id;
    let started = Instant::now();
    let job = loop {
        let job = client.get_job(GetJobRequest { job_id: job_id.clone() }).await?.into_inner();
        let state = JobState::try_from(job.state).unwrap_or(JobState::Unspecified);
        if matches!(state, JobState::Succeeded | JobState::Failed | JobState::Cancelled) {
            break job;
        }
        assert!(started.elapsed() < Duration::from_secs(240), "job did not finish: {job:#?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(job.state, JobState::Succeeded as i32, "{job:#?}");
    assert_eq!(job.num_partitions, 2);
    assert!(job.progress.iter().all(|p| p.finished));
    for name in ["ndcg@10", "recall@20", "auc", "hgt/ndcg@10", "mf/ndcg@10", "sampled_hr@10", "coverage@20"] {
        let value = job.metrics.get(name).copied().unwrap_or(f64::NAN);
        assert!(value.is_finite() && (0.0..=1.0).contains(&value), "{name} = {value}: {:?}", job.metrics);
    }
    eprintln!("metrics: {:?}", job.metrics);
    Ok(())
}
