//! The real thing on loopback: etcd, two `ps-server` shards, `coordinator
//! serve` and two `worker serve` processes train HGT and an MF baseline on a
//! small synthetic graph, partitioned by METIS, and fit the item-kNN
//! baseline at the final evaluation; the job ends with test metrics for all
//! three, and each beats random ranking by the margins the model tests use.
//! A worker's `/metrics` counts its steps, partitions and time split.

use std::time::Duration;

use tessera_graph::synth::{build_graph, SynthConfig};
use tessera_proto::coordinator::v1::{JobState, SubmitJobRequest};
use tessera_tests::cluster::RealCluster;
use tessera_tests::worker::{check_beats_random, tiny_job_spec, wait_for_end};

const PREFIX: &str = "/tessera-train/";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_and_two_shards_train_hgt_and_mf_to_success() -> anyhow::Result<()> {
    let cluster = RealCluster::start(PREFIX).await?;
    let dir = tempfile::tempdir()?;
    // The graph of worker/tests/models.rs, so the same bars apply.
    build_graph(&SynthConfig::new(300, 150, 12_000, 3), dir.path(), 0.1)?;
    let (w0, metrics) = cluster.worker_with_metrics("w0")?;
    let _workers = [w0, cluster.worker("w1")?];
    let spec = tiny_job_spec("tiny-train", &dir.path().join("graph"), &["mf", "itemknn"], 2);
    let mut client = cluster.client().await?;
    let job_id = client
        .submit_job(SubmitJobRequest { spec_toml: spec, job_id: "train-1".into() })
        .await?
        .into_inner()
        .job_id;
    let job = wait_for_end(&mut client, &job_id, Duration::from_secs(300)).await?;
    assert_eq!(job.state, JobState::Succeeded as i32, "{job:#?}");
    assert_eq!(job.num_partitions, 2);
    assert!(job.progress.iter().all(|p| p.finished));
    for name in ["ndcg@10", "recall@20", "auc", "hgt/ndcg@10", "mf/ndcg@10", "sampled_hr@10", "coverage@20"] {
        let value = job.metrics.get(name).copied().unwrap_or(f64::NAN);
        assert!(value.is_finite() && (0.0..=1.0).contains(&value), "{name} = {value}: {:?}", job.metrics);
    }
    eprintln!("metrics: {:?}", job.metrics);
    check_beats_random(&job, "hgt")?;
    check_beats_random(&job, "mf")?;
    check_beats_random(&job, "itemknn")?;
    let scrape = tessera_tests::http::get(&metrics, "/metrics")?;
    assert_eq!(scrape.status, 200);
    let value = |name: &str| -> f64 {
        let line = scrape.body.lines().find(|l| l.starts_with(name)).unwrap_or_default();
        line.rsplit(' ').next().and_then(|v| v.parse().ok()).unwrap_or(f64::NAN)
    };
    for model in ["hgt", "mf"] {
        let steps = value(&format!("tessera_worker_steps_total{{job=\"train-1\",model=\"{model}\"}}"));
        assert!(steps > 0.0, "{model} steps {steps}: {}", scrape.body);
    }
    let compute = value("tessera_worker_phase_seconds{job=\"train-1\",model=\"hgt\",phase=\"compute\"}");
    assert!(compute > 0.0, "compute seconds {compute}: {}", scrape.body);
    assert!(value("tessera_worker_partitions_total") >= 1.0, "{}", scrape.body);
    assert!(value("tessera_worker_ps_retries{job=\"train-1\"}").is_finite(), "{}", scrape.body);
    Ok(())
}
