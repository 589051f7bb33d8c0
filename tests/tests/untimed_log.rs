//! A log without times, end to end: a pair-only CSV (user, item, behaviour;
//! no time column) builds a graph through a job spec, and `coordinator
//! local` trains the small job on it (HGT asked for temporal encoding, MF)
//! on real processes. The job succeeds, both models beat random ranking, the
//! run says that the graph has no times, and no date is shown for its rows.

use std::path::Path;

use tessera_graph::synth::{generate, SynthConfig};
use tessera_tests::binaries::target_dir;
use tessera_tests::worker::{BEATS_RANDOM_AUC, BEATS_RANDOM_SAMPLED_HR10};

/// The synthetic log of the model tests, rewritten as `user,item,behavior`
/// rows with a header: the time column is gone.
fn write_pair_log(path: &Path) {
    let (mut log, mut items) = (Vec::new(), Vec::new());
    generate(&SynthConfig::new(300, 150, 12_000, 3), &mut log, &mut items).unwrap();
    let mut out = String::from("user,item,behavior\n");
    for line in String::from_utf8(log).unwrap().lines() {
        let f: Vec<&str> = line.split(',').collect();
        out.push_str(&format!("{},{},{}\n", f[0], f[1], f[3]));
    }
    std::fs::write(path, out).unwrap();
}

#[test]
fn a_pair_only_log_trains_the_small_job_in_a_local_cluster() {
    let dir = tempfile::tempdir().unwrap();
    write_pair_log(&dir.path().join("pairs.csv"));
    std::fs::write(
        dir.path().join("graph.toml"),
        "[log]\npath = \"pairs.csv\"\n[log.format]\nheader = true\nuser = \"user\"\nitem = \"item\"\n\
         behavior = \"behavior\"\n[split]\nkind = \"random\"\nfraction = 0.1\nseed = 1\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("job.toml"),
        "name = \"pairs\"\nseed = 7\nbaselines = [\"mf\"]\n[dataset]\ngraph = \"graph\"\nbuild = \"graph.toml\"\n\
         [model]\nkind = \"hgt\"\ndim = 16\nheads = 2\ntemporal = true\n[sampler]\nfanouts = [5, 3]\n\
         [train]\nepochs = 6\nbatch_size = 128\n[cluster]\nworkers = 2\nps_shards = 2\nreport_interval = \"200ms\"\n",
    )
    .unwrap();
    let out = tessera_tests::command("coordinator")
        .unwrap()
        .args(["local", dir.path().join("job.toml").to_str().unwrap(), "--device", "cpu", "--run-dir"])
        .arg(dir.path().join("run"))
        .arg("--bin-dir")
        .arg(target_dir())
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    // The run says the graph has no times, and shows no dates.
    assert!(stderr.contains("note: time: none"), "{stderr}");
    assert!(stdout.contains("behaviour (the log has no times)"), "{stdout}");
    assert!(!stdout.contains("1970-01-01"), "{stdout}");
    let run = dir.path().join("run");
    let report = std::fs::read_to_string(run.join("report.md")).unwrap();
    assert!(report.contains("time: none") && !report.contains("1970-01-01"), "{report}");
    let worker_logs = ["worker-0", "worker-1"]
        .map(|w| std::fs::read_to_string(run.join(format!("logs/{w}.log"))).unwrap_or_default())
        .join("\n");
    assert!(worker_logs.contains("temporal encoding is off"), "{worker_logs}");
    // Both models learned.
    let metrics: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("metrics.json")).unwrap()).unwrap();
    assert_eq!(metrics["state"], "succeeded");
    for model in ["hgt", "mf"] {
        let get = |m: &str| metrics["metrics"][format!("{model}/{m}")].as_f64().unwrap_or(f64::NAN);
        let (hr, auc) = (get("sampled_hr@10"), get("auc"));
        assert!(hr > BEATS_RANDOM_SAMPLED_HR10, "{model}: sampled HR@10 {hr}: {}", metrics["metrics"]);
        assert!(auc > BEATS_RANDOM_AUC, "{model}: AUC {auc}: {}", metrics["metrics"]);
    }
}
