//! Fine-tuning on appended logs (`train.resume_from`, `coordinator submit
//! --resume-from`), with the real `worker train --standalone`:
//! - a base model's bundle keeps every node's embedding row; a job on the
//!   graph of base + new rows (built with `extends`) resumes from it: the
//!   rows it did not touch come back as they were, new nodes have rows too,
//!   the new bundle records its lineage, and after one step it ranks far
//!   better than the same step from scratch (what was learned is carried);
//! - `coordinator refresh` writes the base bundle's next version from the
//!   grown graph without training: the rows as they were, new nodes at zero,
//!   the lineage recorded, still ranking like a trained model;
//! - a resume from a bundle of another model or dimension is refused at
//!   submit, naming what differs.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use tessera_bundle::manifest::files;
use tessera_bundle::Bundle;
use tessera_graph::synth::SynthConfig;
use tessera_tests::synth_graph::build_time_cut;

/// Builds the base graph (the log's first 85%) and the graph of the whole
/// log extending it, under `dir`.
fn graphs(dir: &Path) -> (PathBuf, PathBuf) {
    let (mut log, mut items) = (Vec::new(), Vec::new());
    tessera_graph::synth::generate(&SynthConfig::new(800, 500, 30_000, 9), &mut log, &mut items).unwrap();
    let log = String::from_utf8(log).unwrap();
    let mut lines: Vec<&str> = log.lines().collect();
    lines.sort_by_key(|l| l.rsplit(',').next().unwrap().parse::<i64>().unwrap());
    let cut = lines.len() * 85 / 100;
    let write = |name: &str, text: String| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let items = write("items.csv", String::from_utf8(items).unwrap());
    let (base, all) = (dir.join("base_graph"), dir.join("all_graph"));
    let base_log = write("base.csv", lines[..cut].join("\n") + "\n");
    build_time_cut(base_log, items.clone(), None, &base).unwrap();
    let all_log = write("all.csv", lines.join("\n") + "\n");
    build_time_cut(all_log, items, Some(base.clone()), &all).unwrap();
    (base, all)
}

/// A job spec `name` on `graph` (HGT unless `model`), with `train` lines.
fn spec(dir: &Path, name: &str, graph: &Path, model: &str, dim: u32, train: &str) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!(
            "name = \"{name}\"\nseed = 7\n[dataset]\ngraph = \"{}\"\n[model]\nkind = \"{model}\"\ndim = {dim}\n\
             heads = 2\nlayers = 2\ninit = \"identity\"\ntemperature = 0.1\n[sampler]\nfanouts = [10, 5]\n\
             [train]\nbatch_size = 256\n{train}\n[tasks]\nloss = \"softmax\"\n[cluster]\nps_shards = 2\n",
            graph.display()
        ),
    )
    .unwrap();
    path
}

/// Trains `spec` standalone; returns its bundle and its main row's NDCG@10.
fn train(dir: &Path, spec: &Path, name: &str) -> (Bundle, f64) {
    let results = dir.join(format!("{name}.json"));
    let out = tessera_tests::command("worker")
        .unwrap()
        .args(["train", "--standalone", spec.to_str().unwrap(), "--device", "cpu", "--threads", "2"])
        .arg("--bundles")
        .arg(dir.join("bundles"))
        .arg("--results")
        .arg(&results)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rows: serde_json::Value = serde_json::from_slice(&std::fs::read(&results).unwrap()).unwrap();
    let ndcg = rows[0]["metrics"]["ndcg@10"].as_f64().unwrap();
    (Bundle::open(&dir.join("bundles").join(name)).unwrap(), ndcg)
}

fn rows(bundle: &Bundle, node_type: &str) -> Vec<f32> {
    let name = files::rows(node_type);
    tessera_bundle::npy::read::<f32>(&bundle.read_listed(&name).unwrap(), Path::new(&name)).unwrap().0
}

#[test]
fn a_resumed_job_starts_from_the_bundle_and_records_its_lineage() {
    let dir = tempfile::tempdir().unwrap();
    let (base_graph, all_graph) = graphs(dir.path());
    let (base, base_ndcg) =
        train(dir.path(), &spec(dir.path(), "base", &base_graph, "hgt", 16, "epochs = 4"), "base");
    let from = base.dir().display().to_string();
    let one_step = "epochs = 1\nmax_steps_per_epoch = 1";
    let resumed_spec =
        spec(dir.path(), "resumed", &all_graph, "hgt", 16, &format!("{one_step}\nresume_from = \"{from}\""));
    let (resumed, resumed_ndcg) = train(dir.path(), &resumed_spec, "resumed");
    let (fresh, fresh_ndcg) =
        train(dir.path(), &spec(dir.path(), "fresh", &all_graph, "hgt", 16, one_step), "fresh");
    eprintln!(
        "NDCG@10: base {base_ndcg:.4}, resumed one step {resumed_ndcg:.4}, fresh one step {fresh_ndcg:.4}"
    );
    assert!(
        resumed_ndcg > 1.5 * fresh_ndcg,
        "one resumed step should rank like the trained base, not like one fresh step: \
         base {base_ndcg}, resumed {resumed_ndcg}, fresh {fresh_ndcg}"
    );
    assert_eq!(resumed.manifest().source.as_ref().unwrap().resumed_from.as_deref(), Some(from.as_str()));
    assert!(fresh.manifest().source.as_ref().unwrap().resumed_from.is_none());
    // The users kept their ids (extends) and their rows, moved by one step:
    // the mean cosine with the base's rows is high after a resume, and about
    // 0 from scratch.
    let old = rows(&base, "user");
    let (new, scratch) = (rows(&resumed, "user"), rows(&fresh, "user"));
    assert!(new.len() > old.len(), "the appended log brought no new user");
    let mean_cosine = |other: &[f32]| {
        let dim = 16;
        let n = old.len() / dim;
        let cos = |u: usize| {
            let (a, b) = (&old[u * dim..(u + 1) * dim], &other[u * dim..(u + 1) * dim]);
            let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
            let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
            dot / norm(a) / norm(b)
        };
        (0..n).map(cos).sum::<f32>() / n as f32
    };
    let (carried, fresh_cos) = (mean_cosine(&new), mean_cosine(&scratch));
    eprintln!("mean cosine with the base's user rows: resumed {carried:.3}, from scratch {fresh_cos:.3}");
    assert!(carried > 0.9 && fresh_cos.abs() < 0.3, "resumed {carried}, from scratch {fresh_cos}");

    // `coordinator refresh`: the base bundle on the grown graph, no training.
    let out = tessera_tests::command("coordinator")
        .unwrap()
        .args(["refresh", "--device", "cpu", "--bundle"])
        .arg(dir.path().join("bundles/base"))
        .arg("--graph")
        .arg(&all_graph)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let refreshed = Bundle::open(&dir.path().join("bundles/base")).unwrap();
    assert_eq!(refreshed.manifest().version, 2, "the refresh is the job's next version, LATEST moved");
    let source = refreshed.manifest().source.clone().unwrap();
    assert_eq!((source.kind.as_str(), source.resumed_from.as_deref()), ("refresh", Some(from.as_str())));
    assert_eq!(refreshed.manifest().users, resumed.manifest().users, "the grown graph's users");
    // Nothing trained: the base rows come back as they were, new users' rows are zero.
    let again = rows(&refreshed, "user");
    let close = old.iter().zip(&again).all(|(a, b)| (a - b).abs() <= 2e-3 * a.abs().max(0.05));
    assert!(close, "a refresh changed trained rows");
    assert!(again[old.len()..].iter().all(|v| *v == 0.0), "new users' rows are not zero");
    let refreshed_ndcg = refreshed.manifest().metrics["ndcg@10"];
    assert!(refreshed_ndcg > 1.5 * fresh_ndcg, "refreshed {refreshed_ndcg}, one fresh step {fresh_ndcg}");
}

#[test]
fn a_resume_from_another_model_or_dimension_is_refused_at_submit() {
    let dir = tempfile::tempdir().unwrap();
    let (base_graph, _) = graphs(dir.path());
    let (base, _) =
        train(dir.path(), &spec(dir.path(), "base", &base_graph, "hgt", 16, "epochs = 1"), "base");
    for (model, dim, want) in
        [("mf", 16, "holds a hgt model and this job trains mf"), ("hgt", 32, "model.dim is 32")]
    {
        let job = spec(dir.path(), &format!("{model}{dim}"), &base_graph, model, dim, "epochs = 1");
        let out = tessera_tests::command("coordinator")
            .unwrap()
            .args(["--insecure", "--coordinator", "http://127.0.0.1:1", "submit"])
            .arg(&job)
            .arg("--resume-from")
            .arg(dir.path().join("bundles/base"))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains("submit refused") && err.contains(want), "{err}");
    }
    // The worker refuses the same spec, should it reach one.
    let job = spec(
        dir.path(),
        "mfw",
        &base_graph,
        "mf",
        16,
        &format!("epochs = 1\nresume_from = \"{}\"", base.dir().display()),
    );
    let out = tessera_tests::command("worker")
        .unwrap()
        .args(["train", "--standalone", job.to_str().unwrap(), "--device", "cpu"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("holds a hgt model"), "{err}");
}
