//! `coordinator local`: a small version of the demo path runs to success
//! and writes its run directory (metrics, logs, the report and its PNG
//! plots, validation after every epoch, sample recommendations); a worker,
//! a PS shard and the coordinator killed with SIGKILL mid-job are restarted
//! and the job succeeds; SIGINT halfway through leaves no child process
//! and no listening port behind; and `--device auto` spreads the workers
//! over a (fake) count of GPUs.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tessera_graph::spec::SplitSpec;
use tessera_graph::synth::{build_graph, build_graph_with_split, SynthConfig};
use tessera_tests::binaries::target_dir;
use tessera_tests::worker::BEATS_RANDOM_SAMPLED_HR10;

fn write_spec(dir: &Path, name: &str, epochs: u32, validate: bool) -> std::path::PathBuf {
    write_spec_with(dir, name, epochs, validate, "")
}

/// [`write_spec`] with more `[cluster]` lines.
fn write_spec_with(dir: &Path, name: &str, epochs: u32, validate: bool, cluster: &str) -> std::path::PathBuf {
    // Validation, and the category task: its head must have one shape in every partition.
    let eval = if validate { "[eval]\nevery_epochs = 1\n[tasks]\ngamma = 0.5" } else { "" };
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
{cluster}
{eval}
"#
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

/// `coordinator local` with its default security: mutual TLS everywhere
/// (etcd included) with a CA made for the run.
fn local(dir: &Path, spec: &Path) -> Command {
    let mut command = tessera_tests::command("coordinator").unwrap();
    command
        .env_remove("TESSERA_INSECURE")
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

/// The pid of the process whose command line holds every one of `needles`.
fn pid_of(needles: &[&str]) -> Option<u32> {
    tessera_tests::process::pid_of(needles, "local_cluster")
}

/// Width and height of a PNG file, from its IHDR chunk.
fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap();
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n") && &bytes[12..16] == b"IHDR",
        "{} is not a PNG",
        path.display()
    );
    let be = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    (be(16), be(20))
}

/// The job's bundle, served by the real `recommend` binary, gives each
/// example user of the test report the evaluation's top 10 (the same items
/// in the same order).
fn serves_what_the_evaluation_ranked(run: &Path, test: &serde_json::Value, stdout: &str) {
    let bundle = run.join("bundles/small-demo/v0001");
    assert!(stdout.contains(&format!("bundle: {}", bundle.display())), "{stdout}");
    assert_eq!(test["bundle"].as_str(), Some(bundle.to_str().unwrap()));
    let mut command = tessera_tests::command("recommend").unwrap();
    command.arg("--bundle").arg(run.join("bundles/small-demo")).args(["--listen", "127.0.0.1:0"]);
    let (_service, addr) =
        tessera_tests::ChildProcess::spawn_reporting("recommend", &mut command, &["LISTENING "]).unwrap();
    let addr = &addr[0];
    let mut compared = 0;
    for sample in test["samples"].as_array().unwrap().iter().filter(|s| s["model"] == "hgt") {
        let user = sample["user"].as_u64().unwrap();
        let want: Vec<u64> =
            sample["top"].as_array().unwrap().iter().map(|t| t["item"].as_u64().unwrap()).collect();
        let path = format!("/v1/users/{user}/recommendations?k={}&exact=true", want.len());
        let r = tessera_tests::http::get(addr, &path).unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
        let got: Vec<u64> = r.json().unwrap()["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["item"].as_u64().unwrap())
            .collect();
        assert_eq!(got, want, "user {user}: served top-k differs from the evaluation's");
        // The CLI reads the same bundle and prints the same first item.
        let out = tessera_tests::command("coordinator")
            .unwrap()
            .args(["recommend", "--bundle"])
            .arg(run.join("bundles/small-demo"))
            .args(["--user", &user.to_string(), "-k", "3"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
        assert!(text.contains(&format!(" 1. item {:<10}", want[0])), "{text}");
        compared += 1;
    }
    assert!(compared > 0, "no hgt example users to compare");
}

/// The f32 values of `name` in bundle `dir`.
fn floats(dir: &Path, name: &str) -> Vec<f32> {
    let path = dir.join(name);
    tessera_bundle::npy::read::<f32>(&std::fs::read(&path).unwrap(), &path).unwrap().0
}

/// `coordinator export` from the run's PS checkpoints writes a bundle with
/// the job's embeddings and metrics, and the cached layer states; bad
/// requests are refused with a message.
fn exports_the_jobs_bundle_from_its_checkpoints(dir: &Path, spec: &Path, run: &Path) {
    let export = |extra: &[&str]| {
        tessera_tests::command("coordinator")
            .unwrap()
            .arg("export")
            .arg(spec)
            .arg("--bundles")
            .arg(dir.join("exported"))
            .args(["--device", "cpu"])
            .args(extra)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap()
    };
    let run_dir = run.to_str().unwrap();
    let out = export(&["--run-dir", run_dir]);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{text}");
    let exported = dir.join("exported/small-demo/v0001");
    assert!(text.contains(&format!("bundle: {}", exported.display())), "{text}");
    let job = tessera_bundle::Bundle::open(&run.join("bundles/small-demo")).unwrap();
    let ours = tessera_bundle::Bundle::open(&exported).unwrap();
    for name in ["user_embeddings.npy", "item_embeddings.npy"] {
        let (a, b) = (floats(job.dir(), name), floats(ours.dir(), name));
        assert_eq!(a.len(), b.len(), "{name}");
        let worst = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
        assert!(worst < 1e-4, "{name}: the exported embeddings differ from the job's by {worst}");
    }
    let (jm, om) = (job.manifest(), ours.manifest());
    assert!(
        (jm.metrics["ndcg@10"] - om.metrics["ndcg@10"]).abs() < 1e-4,
        "{:?} {:?}",
        jm.metrics,
        om.metrics
    );
    let source = om.source.as_ref().unwrap();
    assert_eq!((source.kind.as_str(), source.checkpoints.len()), ("checkpoint", 2), "{source:?}");
    assert!(source.checkpoints.iter().all(|&c| c > 0), "{source:?}");
    assert_eq!(jm.source.as_ref().unwrap().kind, "training");
    // Both layers' inputs of every node type, users' and items' with a row per node.
    for bundle in [&job, &ours] {
        let m = bundle.manifest();
        for (layer, node_type, rows) in [(0, "user", m.users), (1, "item", m.items), (1, "category", 0)] {
            let values = bundle.state(layer, node_type).unwrap();
            assert!(values.iter().all(|v| v.is_finite()));
            if rows > 0 {
                assert_eq!(values.len(), rows * m.dim, "layer {layer} {node_type}");
            }
        }
    }
    let out = export(&["--run-dir", run_dir, "--model", "rgcn"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("model \"rgcn\" is not trained by this spec"), "{err}");
    let out = export(&["--run-dir", dir.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("has no ps-0 checkpoint directory"), "{err}");
    let out = export(&["--run-dir", run_dir, "--job", "another-job"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("no hgt tables of job \"another-job\""), "{err}");
}

#[test]
fn small_demo_runs_to_success_and_writes_its_run_directory() {
    let dir = tempfile::tempdir().unwrap();
    let split = SplitSpec::TimeCut {
        at: None,
        fraction: Some(0.9),
        test_behaviors: Vec::new(),
        valid_fraction: Some(0.8),
    };
    build_graph_with_split(&SynthConfig::new(300, 200, 6_000, 5), dir.path(), split).unwrap();
    let spec = write_spec(dir.path(), "small-demo", 2, true);
    let out = local(dir.path(), &spec).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("hgt") && stdout.contains("mf") && stdout.contains("ndcg@10"), "{stdout}");
    // The whole job ran on mutual TLS: etcd on https, every child given the run's certificates.
    assert!(
        stderr.contains("mutual TLS, certificates in") && stderr.contains("etcd        https://"),
        "{stderr}"
    );
    for file in ["ca.pem", "ps.pem", "ps.key", "worker.pem", "etcd.pem", "private/ca.key"] {
        assert!(dir.path().join("run/certs").join(file).is_file(), "run/certs/{file} is missing");
    }
    assert!(stdout.contains("sample recommendations (hgt)") && stdout.contains("top 10"), "{stdout}");
    let run = dir.path().join("run");
    let metrics: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("metrics.json")).unwrap()).unwrap();
    assert_eq!(metrics["state"], "succeeded");
    // Validation after each of the 2 epochs of each of the 2 models.
    let reports = metrics["metric_reports"].as_array().unwrap();
    let validations: Vec<u64> =
        reports.iter().filter(|r| r["phase"] == "validation").map(|r| r["epoch"].as_u64().unwrap()).collect();
    assert_eq!(validations, vec![0, 1, 2, 3]);
    let test = reports.iter().find(|r| r["phase"] == "test").unwrap();
    assert_eq!(test["popularity"].as_array().unwrap().len(), 2, "a popularity profile per model");
    assert!(!test["samples"].as_array().unwrap().is_empty(), "sample recommendations");
    for log in ["etcd", "coordinator", "ps-0", "ps-1", "worker-0", "worker-1"] {
        assert!(run.join(format!("logs/{log}.log")).is_file(), "{log}.log");
    }
    // The report links every plot, and every plot is a PNG that opens.
    let report = std::fs::read_to_string(run.join("report.md")).unwrap();
    for plot in ["loss", "throughput", "validation", "long_tail"] {
        let link = format!("(plots/{plot}.png)");
        assert!(report.contains(&link), "report.md does not link {link}");
        assert_eq!(png_size(&run.join(format!("plots/{plot}.png"))), (960, 540));
    }
    for section in [
        "## Results",
        "## Example recommendations",
        "### Time split",
        "## Dataset",
        "## Partitions",
        "## Job spec",
    ] {
        assert!(report.contains(section), "report.md lacks {section}");
    }
    assert!(std::fs::read_to_string(run.join("progress.jsonl")).unwrap().lines().count() > 2);
    serves_what_the_evaluation_ranked(&run, test, &stdout);
    exports_the_jobs_bundle_from_its_checkpoints(dir.path(), &spec, &run);
    assert!(processes_mentioning(&dir.path().display().to_string()).is_empty(), "children left running");
    assert!(processes_mentioning("/tessera-local/small-demo/").is_empty(), "children left running");
}

#[test]
fn a_worker_a_ps_shard_and_the_coordinator_killed_mid_job_are_restarted_and_the_job_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    build_graph(&SynthConfig::new(300, 150, 12_000, 3), dir.path(), 0.1).unwrap();
    // A checkpoint every second, so the restarted shard has one to restore.
    let spec = write_spec_with(dir.path(), "restarts", 40, false, "checkpoint_interval = \"1s\"");
    let mut child = local(dir.path(), &spec).stderr(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    let mut stderr = tessera_tests::local::lines(child.stderr.take().unwrap());
    let mut seen = Vec::new();
    let job = tessera_tests::local::LocalJob::read(&mut stderr, &mut seen).unwrap();
    let lines = std::thread::spawn(move || {
        seen.extend(stderr.map_while(Result::ok));
        seen
    });
    let run = dir.path().join("run");
    let prefix = "/tessera-local/restarts/";
    // Once the shards have checkpointed and both workers are 2 epochs in, kill shard 1 (while both workers
    // push steadily, so acknowledged updates after its checkpoint are lost
    // and counted), then worker-1, then the coordinator. Killing worker-1
    // first can move a partition just before the shard dies, and a worker
    // that has just started one has nothing unsaved to lose.
    let started = Instant::now();
    while !std::fs::read_dir(run.join("ps-1")).is_ok_and(|mut d| d.next().is_some())
        || job.min_epochs(&run).is_none_or(|e| e < 2.0)
    {
        assert!(started.elapsed() < Duration::from_secs(120), "no checkpoint from ps-1, or no training");
        std::thread::sleep(Duration::from_millis(200));
    }
    let shard = pid_of(&["ps-server", "--shard 1", prefix]).expect("ps-1 runs");
    Command::new("kill").args(["-KILL", &shard.to_string()]).status().unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let worker = pid_of(&["--worker-id worker-1", prefix]).expect("worker-1 runs");
    Command::new("kill").args(["-KILL", &worker.to_string()]).status().unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let coordinator = pid_of(&["coordinator", "serve", prefix]).expect("the coordinator runs");
    Command::new("kill").args(["-KILL", &coordinator.to_string()]).status().unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = lines.join().unwrap().join("\n");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    eprintln!("{}", stderr.lines().filter(|l| l.contains("restarted")).collect::<Vec<_>>().join("\n"));
    for name in ["worker-1", "ps-1", "coordinator"] {
        assert!(
            stderr.contains(&format!("{name} exited unexpectedly"))
                && stderr.contains("restarted it (1 of 3)"),
            "{name}: {stderr}"
        );
    }
    let metrics: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("metrics.json")).unwrap()).unwrap();
    assert_eq!(metrics["state"], "succeeded");
    for model in ["hgt", "mf"] {
        let hr = metrics["metrics"][format!("{model}/sampled_hr@10")].as_f64().unwrap_or(f64::NAN);
        assert!(hr > BEATS_RANDOM_SAMPLED_HR10, "{model}: sampled HR@10 {hr}: {}", metrics["metrics"]);
    }
    // worker-0 trained through ps-1's restart: it counted the acknowledged
    // pushes after the checkpoint ps-1 came back from, and the report says so.
    let progress = metrics["progress"].as_array().unwrap();
    let sum = |k: &str| progress.iter().map(|p| p[k].as_u64().unwrap_or(0)).sum::<u64>();
    let (restarts, lost, rows) = (sum("ps_restarts"), sum("updates_lost"), sum("rows_lost"));
    eprintln!("PS restarts seen {restarts}, acknowledged updates lost {lost} ({rows} rows)");
    assert!(restarts >= 1 && lost >= 1 && rows >= lost, "{progress:?}");
    let report = std::fs::read_to_string(run.join("report.md")).unwrap();
    assert!(report.contains(&format!("{lost} acknowledged push(es) ({rows} rows)")), "{report}");
    assert!(processes_mentioning(prefix).is_empty(), "children left running");
}

#[test]
fn sigint_halfway_leaves_no_child_and_no_listening_port() {
    let dir = tempfile::tempdir().unwrap();
    build_graph(&SynthConfig::new(300, 200, 6_000, 6), dir.path(), 0.1).unwrap();
    let spec = write_spec(dir.path(), "interrupted", 500, false);
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
                word.strip_prefix("https://127.0.0.1:").or_else(|| word.strip_prefix("127.0.0.1:"))
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

#[test]
fn device_auto_spreads_the_workers_over_a_fake_gpu_count() {
    // TESSERA_GPUS stands in for a machine with 2 GPUs: with `--device auto`
    // the 3 workers get cuda:0, cuda:1, cuda:0. (This machine has no GPU, so
    // they cannot start; the run is interrupted once they are launched.)
    let dir = tempfile::tempdir().unwrap();
    build_graph(&SynthConfig::new(300, 200, 6_000, 6), dir.path(), 0.1).unwrap();
    let spec = write_spec(dir.path(), "gpus", 1, false);
    let spec_path = dir.path().join("gpus3.toml");
    std::fs::write(&spec_path, std::fs::read_to_string(&spec).unwrap().replace("workers = 2", "workers = 3"))
        .unwrap();
    let mut child = tessera_tests::command("coordinator")
        .unwrap()
        .args(["local", spec_path.to_str().unwrap(), "--device", "auto", "--run-dir"])
        .arg(dir.path().join("run"))
        .arg("--bin-dir")
        .arg(target_dir())
        .env("RUST_LOG", "warn")
        .env("TESSERA_GPUS", "2")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let mut devices = None;
    let mut lines = stderr.lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if line.starts_with("workers ") {
            devices = line.split("devices ").nth(1).map(|d| d.trim_end_matches(')').to_owned());
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    child.wait().unwrap();
    assert_eq!(devices.as_deref(), Some("cuda:0 cuda:1 cuda:0"));
}
