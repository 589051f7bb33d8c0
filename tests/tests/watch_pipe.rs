//! `coordinator watch` with its output to a pipe (as in CI, a log collector
//! or `nohup`): over a real job of 15–60 s (etcd, 2 PS shards, `coordinator
//! serve`, a real worker), it prints a progress line at each phase change and
//! at most one more every 10 s — not one a second — and then the metrics.

use std::process::Stdio;
use std::time::Duration;

use tessera_graph::synth::{build_graph, SynthConfig};
use tessera_proto::coordinator::v1::SubmitJobRequest;
use tessera_tests::cluster::RealCluster;
use tessera_tests::worker::tiny_job_spec;

const PREFIX: &str = "/tessera-watch/";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_into_a_pipe_prints_a_line_per_phase_and_at_most_one_more_per_10s() -> anyhow::Result<()> {
    let cluster = RealCluster::start(PREFIX).await?;
    let dir = tempfile::tempdir()?;
    build_graph(&SynthConfig::new(300, 150, 12_000, 3), dir.path(), 0.1)?;
    let _worker = cluster.worker("w0")?;
    // HGT then MF, 24 epochs each: about 18 s on 2 idle cores (12 s at 16
    // epochs on 2026-12-05), 40–60 s beside the other tests.
    let spec =
        tiny_job_spec("watched", &dir.path().join("graph"), &["mf"], 1).replace("epochs = 6", "epochs = 24");
    let mut client = cluster.client().await?;
    let request = SubmitJobRequest { spec_toml: spec, job_id: "watched-1".into() };
    let job_id = client.submit_job(request).await?.into_inner().job_id;
    let started = std::time::Instant::now();
    let watch = tokio::task::spawn_blocking({
        let endpoint = cluster.coordinator.endpoint();
        move || {
            tessera_tests::command("coordinator")?
                .args(["--coordinator", &endpoint, "watch", &job_id])
                .stdin(Stdio::null())
                .output()
                .map_err(anyhow::Error::from)
        }
    });
    let out = tokio::time::timeout(Duration::from_secs(300), watch).await???;
    let elapsed = started.elapsed().as_secs_f64();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("succeeded") && stdout.contains("hgt/ndcg@10"), "{stdout}");
    let progress: Vec<&str> = stderr.lines().filter(|l| l.starts_with('[') && l.contains("%]")).collect();
    eprintln!("{} progress lines over {elapsed:.0} s:\n{}", progress.len(), progress.join("\n"));
    // Long enough that a line a second (what a terminal gets) would break the bound below.
    assert!(elapsed >= 12.0, "the job should run 15 s or more to test the pacing, ran {elapsed:.0} s");
    // One line per phase change (at most 5: waiting for a plan, waiting for
    // workers, training, final evaluation, done) and at most one more per
    // 10 s: 7 for a 15 s job, where a line a second would print 15. The
    // bound follows the job's real length, which a loaded machine stretches.
    let bound = 5 + (elapsed / 10.0).ceil() as usize;
    assert!(
        progress.len() <= bound,
        "{} progress lines (at most {bound}) over {elapsed:.0} s:\n{stderr}",
        progress.len()
    );
    // The first line and the phase changes are there: training, then the final evaluation.
    assert!(progress.iter().any(|l| l.contains("training")), "{stderr}");
    assert!(progress.iter().any(|l| l.contains("final evaluation")), "{stderr}");
    Ok(())
}
