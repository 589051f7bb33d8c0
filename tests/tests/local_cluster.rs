//! `coordinator local`: a small version of the demo path runs to success
//! and writes its run directory, and SIGINT halfway through leaves no child
//! process and no listening port behind.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tessera_graph::synth::{build_graph, SynthConfig};
use tessera_tests::binaries::{binary, target_dir};

fn write_spec(dir: &Path, name: &str, epochs: u32) -> std::path::PathBuf {
    let text = format!(
        r#"
name = "{name}"
baselines = ["mf"]
[dataset]
graph = "graph"
[model]
kind = "hgt"
dim = 16
heads = 2
[sampler]
fanouts = [5, 3]
[train]
epochs = {epochs}
batch_size = 128
[cluster]
workers = 2
ps_shards = 2
report_interval = "200ms"
"#
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

fn local(dir: &Path, spec: &Path) -> Command {
    let mut command = Command::new(binary("coordinator").unwrap());
    command
        .args(["local", spec.to_str().unwrap(), "--device", "cpu", "--run-dir"])
        .arg(dir.join("run"))
        .arg("--bin-dir")
        .arg(target_dir())
        .env("RUST_LOG", "warn");
    command
}

/// Processes whose command line mentions `needle`.
fn processes_mentioning(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if text.contains(needle) && !text.contains("local_cluster") {
                found.push(text);
            }
        }
    }
    found
}

#[test]
fn small_demo_runs_to_success_and_writes_its_run_directory() {
    let dir = tempfile::tempdir().unwrap();
    build_graph(&SynthConfig::new(300, 200, 6_000, 5), dir.path(), 0.1).unwrap();
    let spec = write_spec(dir.path(), "small-demo", 1);
    let out = local(dir.path(), &spec).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("hgt") && stdout.contains("mf") && stdout.contains("ndcg@10"), "{stdout}");
    let metrics: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("run/metrics.json")).unwrap()).unwrap();
    assert_eq!(metrics["state"], "succeeded");
    for log in ["etcd", "coordinator", "ps-0", "ps-1", "worker-0", "worker-1"] {
        assert!(dir.path().join(format!("run/logs/{log}.log")).is_file(), "{log}.log");
    }
    assert!(processes_mentioning(&dir.path().display().to_string()).is_empty(), "children left running");
    assert!(processes_mentioning("/tessera-local/small-demo/").is_empty(), "children left running");
}

#[test]
fn sigint_halfway_leaves_no_child_and_no_listening_port() {
    let dir = tempfile::tempdir().unwrap();
    build_graph(&SynthConfig::new(300, 200, 6_000, 6), dir.path(), 0.1).unwrap();
    let spec = write_spec(dir.path(), "interrupted", 500);
    let mut child = local(dir.path(), &spec).stderr(Stdio::piped()).stdout(Stdio::null()).spawn().unwrap();
    // Read the addresses it prints, and wait until the job is under way.
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let mut ports = Vec::new();
    let started = Instant::now();
    let mut lines = stderr.lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        for word in line.split_whitespace() {
            if let Some(port) =
                word.strip_prefix("http://127.0.0.1:").or_else(|| word.strip_prefix("127.0.0.1:"))
            {
                if let Ok(port) = port.parse::<u16>() {
                    ports.push(port);
                }
            }
        }
        if line.starts_with("job ") {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "cluster did not start");
    }
    // Keep reading so the child never writes to a closed pipe.
    std::thread::spawn(move || for _ in lines {});
    assert!(ports.len() >= 4, "etcd, coordinator and two shards print addresses: {ports:?}");
    let workers_up = Instant::now();
    while !dir.path().join("run/logs/worker-1.log").is_file()
        && workers_up.elapsed() < Duration::from_secs(10)
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(3));
    let pid = child.id().to_string();
    Command::new("kill").args(["-INT", &pid]).status().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "exit code after SIGINT");
    let mut leftovers = processes_mentioning(&dir.path().display().to_string());
    leftovers.extend(processes_mentioning("/tessera-local/interrupted/"));
    assert!(leftovers.is_empty(), "children left running: {leftovers:?}");
    for port in ports {
        assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err(), "port {port} still listening");
    }
}
