//! `worker train --standalone` stopped with SIGTERM mid-training stops the
//! `ps-server` processes it started and exits with 130: no shard is left
//! running.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tessera_graph::synth::{build_graph, SynthConfig};

/// Pids of the running `ps-server` processes whose parent is `parent`.
fn shards_of(parent: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let status = std::fs::read_to_string(e.path().join("status")).ok()?;
            let field =
                |name: &str| status.lines().find_map(|l| l.strip_prefix(name)).map(|v| v.trim().to_owned());
            let ours = field("Name:")? == "ps-server" && field("PPid:")? == parent.to_string();
            ours.then_some(pid)
        })
        .collect()
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .is_ok_and(|s| !s.lines().any(|l| l.starts_with("State:") && l.contains("zombie")))
}

#[test]
fn sigterm_stops_the_shards_a_standalone_run_started() {
    let dir = tempfile::tempdir().unwrap();
    build_graph(&SynthConfig::new(300, 150, 12_000, 3), dir.path(), 0.1).unwrap();
    let spec = dir.path().join("job.toml");
    let graph = dir.path().join("graph");
    std::fs::write(
        &spec,
        format!(
            "name = \"signal\"\n[dataset]\ngraph = \"{}\"\n[model]\nkind = \"hgt\"\ndim = 16\nheads = 2\n\
             [sampler]\nfanouts = [5, 3]\n[train]\nepochs = 500\nbatch_size = 128\n[cluster]\nps_shards = 2\n",
            graph.display()
        ),
    )
    .unwrap();
    let mut worker = tessera_tests::command("worker")
        .unwrap()
        .args(["train", "--standalone", spec.to_str().unwrap(), "--device", "cpu", "--threads", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let shards = loop {
        let shards = shards_of(worker.id());
        if shards.len() == 2 {
            break shards;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "the shards never started");
        std::thread::sleep(Duration::from_millis(100));
    };
    std::thread::sleep(Duration::from_secs(2)); // training under way
    Command::new("kill").args(["-TERM", &worker.id().to_string()]).status().unwrap();
    let status = worker.wait().unwrap();
    assert_eq!(status.code(), Some(130), "exit code after SIGTERM");
    let stopped = Instant::now();
    while shards.iter().any(|&p| alive(p)) && stopped.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let left: Vec<u32> = shards.into_iter().filter(|&p| alive(p)).collect();
    assert!(left.is_empty(), "ps-server processes left running: {left:?}");
}
