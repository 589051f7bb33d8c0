//! The coordinator's `/metrics` (prometheus-client behind axum), read from
//! etcd at each scrape: jobs by state and the live workers, with a real
//! etcd, the real coordinator binary and a registered worker.

use std::time::{Duration, Instant};

use tessera_tests::fake_worker::{FakeOptions, FakeWorker};
use tessera_tests::http::get;
use tessera_tests::{ChildProcess, Etcd};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_jobs_by_state_and_live_workers() -> anyhow::Result<()> {
    let etcd = Etcd::start().await?;
    let prefix = "/metrics-test/";
    let mut command = tessera_tests::command("coordinator")?;
    command.args(["serve", "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"]);
    command.args(["--etcd", &etcd.endpoint(), "--etcd-prefix", prefix]);
    let (_coordinator, values) =
        ChildProcess::spawn_reporting("coordinator", &mut command, &["LISTENING ", "METRICS "])?;
    let (endpoint, metrics) = (format!("http://{}", values[0]), values[1].clone());
    let scrape = |m: String| tokio::task::spawn_blocking(move || get(&m, "/metrics"));
    let first = scrape(metrics.clone()).await??;
    assert_eq!(first.status, 200, "{}", first.body);
    for needle in [
        "tessera_coordinator_jobs{state=\"pending\"} 0",
        "tessera_coordinator_jobs{state=\"succeeded\"} 0",
        "tessera_coordinator_live_workers 0",
        "tessera_coordinator_live_ps_shards 0",
    ] {
        assert!(first.body.contains(needle), "{needle} not in\n{}", first.body);
    }
    let worker =
        FakeWorker::start("w-metrics", &etcd.endpoint(), prefix, &endpoint, FakeOptions::default()).await?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = scrape(metrics.clone()).await??.body;
        if text.contains("tessera_coordinator_live_workers 1") {
            break;
        }
        assert!(Instant::now() < deadline, "the registered worker is not counted:\n{text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    worker.stop().await;
    Ok(())
}
