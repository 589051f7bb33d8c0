//! New users folded into a trained HGT without retraining
//! (`tessera_bundle::foldin`, `POST /v1/users`), on a bundle the real
//! `worker train --standalone` wrote:
//! - a trained user's own neighbourhood, folded in from their own layer-0
//!   input, gives back the embedding full-graph inference gave them (the
//!   Rust layers compute what the libtorch ones do);
//! - the real `recommend` binary answers a new user with that embedding's
//!   best items, and refuses bad bodies with a 400 that names the field;
//! - an MF bundle refuses new users with a message saying why.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use tessera_bundle::foldin::{Behaviour, FoldIn};
use tessera_bundle::Bundle;
use tessera_graph::schema::NodeType;
use tessera_graph::store::Graph;
use tessera_graph::synth::{build_graph, SynthConfig};
use tessera_tests::http::request;
use tessera_tests::ChildProcess;

/// Trains `model` standalone on a small synthetic graph under `dir`;
/// returns the graph's directory and the bundle's.
fn train(dir: &Path, model: &str) -> (PathBuf, PathBuf) {
    build_graph(&SynthConfig::new(300, 150, 12_000, 3), dir, 0.1).unwrap();
    let graph = dir.join("graph");
    let spec = dir.join("job.toml");
    std::fs::write(
        &spec,
        format!(
            "name = \"cold\"\nseed = 7\n[dataset]\ngraph = \"{}\"\n[model]\nkind = \"{model}\"\ndim = 16\nheads = 2\n\
             layers = 2\ntemporal = true\ninit = \"identity\"\n[sampler]\nfanouts = [5, 3]\n[train]\nepochs = 2\n\
             batch_size = 128\n[cluster]\nps_shards = 2\n",
            graph.display()
        ),
    )
    .unwrap();
    let bundles = dir.join("bundles");
    train_spec(&spec, &bundles, 1);
    (graph, bundles.join("cold"))
}

/// `worker train --standalone spec` on `threads` CPU threads, its bundle
/// under `bundles`.
fn train_spec(spec: &Path, bundles: &Path, threads: u32) {
    let out = tessera_tests::command("worker")
        .unwrap()
        .args(["train", "--standalone", spec.to_str().unwrap(), "--device", "cpu"])
        .args(["--threads", &threads.to_string()])
        .arg("--bundles")
        .arg(bundles)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Dense user `user`'s whole history on `graph` as fold-in behaviours
/// (dense ids of `bundle`).
fn history(graph: &Graph, bundle: &Bundle, foldin: &FoldIn, user: u32) -> Vec<Behaviour> {
    let raw_items = graph.raw_ids(NodeType::Item);
    let mut out = Vec::new();
    for (b, name) in foldin.behaviours().iter().enumerate() {
        let Some((_, by_user, _)) = graph.relation(name) else { continue };
        for k in by_user.range(user) {
            let item = bundle.item(raw_items[by_user.indices[k] as usize]).unwrap();
            out.push(Behaviour { item, behaviour: b, time: by_user.ts[k] });
        }
    }
    out
}

fn npy(dir: &Path, name: &str) -> Vec<f32> {
    let path = dir.join(name);
    tessera_bundle::npy::read::<f32>(&std::fs::read(&path).unwrap(), &path).unwrap().0
}

#[test]
fn folded_in_users_match_full_graph_inference_and_the_service_answers_new_users() {
    let dir = tempfile::tempdir().unwrap();
    let (graph_dir, bundle_dir) = train(dir.path(), "hgt");
    let bundle = Bundle::open(&bundle_dir).unwrap();
    let foldin = FoldIn::load(&bundle).unwrap();
    let graph = Graph::open(&graph_dir).unwrap();
    let graph = graph.open_history().unwrap().unwrap_or(graph);
    let now = graph.manifest().report.time_range.1;
    let dim = bundle.manifest().dim;
    let starts = bundle.state(0, "user").unwrap();
    let embeddings = npy(bundle.dir(), tessera_bundle::manifest::files::USER_EMBEDDINGS);
    let raw_users = graph.raw_ids(NodeType::User);
    let mut checked = 0;
    let mut worst = 0f32;
    for u in 0..graph.num_nodes(NodeType::User) as u32 {
        let row = bundle.user(raw_users[u as usize]).unwrap() as usize;
        let behaviours = history(&graph, &bundle, &foldin, u);
        if behaviours.is_empty() {
            continue;
        }
        let start = &starts[row * dim..(row + 1) * dim];
        let ours = foldin.embed(start, &behaviours, now).unwrap();
        let theirs = &embeddings[row * dim..(row + 1) * dim];
        let scale = theirs.iter().fold(0f32, |m, v| m.max(v.abs()));
        let diff = ours.iter().zip(theirs).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        worst = worst.max(diff / scale);
        checked += 1;
    }
    assert!(checked > 250, "only {checked} users with a history");
    assert!(worst < 1e-3, "the fold-in differs from full-graph inference by up to {worst} (relative)");
    eprintln!("{checked} users folded in; largest relative difference {worst:.2e}");
    service_answers_new_users(&bundle, &foldin, &graph);
}

fn start(bundle: &Path) -> (ChildProcess, String) {
    start_with(bundle, &[])
}

/// `recommend` on `bundle` and a free loopback port, not watching, with `extra` flags.
fn recommend_command(bundle: &Path, extra: &[&std::ffi::OsStr]) -> std::process::Command {
    let mut command = tessera_tests::command("recommend").unwrap();
    command.arg("--bundle").arg(bundle).args(["--listen", "127.0.0.1:0", "--watch", "0s"]).args(extra);
    command.env("RUST_LOG", "warn");
    command
}

fn start_with(bundle: &Path, extra: &[&std::ffi::OsStr]) -> (ChildProcess, String) {
    let mut command = recommend_command(bundle, extra);
    let (child, values) = ChildProcess::spawn_reporting("recommend", &mut command, &["LISTENING "]).unwrap();
    (child, values[0].clone())
}

fn post(addr: &str, body: &serde_json::Value) -> (u16, serde_json::Value) {
    let r = request(addr, "POST", "/v1/users", body.to_string().as_bytes()).unwrap();
    let json = r.json().unwrap_or(serde_json::Value::Null);
    (r.status, json)
}

/// The real service: a new user made of a trained user's first three
/// behaviours gets the fold-in's embedding and its exact best items, those
/// three left out; bad bodies get a 400 naming the field and change nothing.
fn service_answers_new_users(bundle: &Bundle, foldin: &FoldIn, graph: &Graph) {
    let (_service, addr) = start(bundle.dir());
    let raw_users = graph.raw_ids(NodeType::User);
    let u = (0..raw_users.len() as u32).find(|&u| history(graph, bundle, foldin, u).len() >= 3).unwrap();
    let first: Vec<Behaviour> = history(graph, bundle, foldin, u).into_iter().take(3).collect();
    let body = serde_json::json!({
        "behaviours": first.iter().map(|b| serde_json::json!({
            "item": bundle.item_id(b.item),
            "behaviour": foldin.behaviours()[b.behaviour],
            "time": b.time,
        })).collect::<Vec<_>>(),
        "k": 10,
        "exact": true,
    });
    let (status, answer) = post(&addr, &body);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["ranked_by"].as_str(), Some("hgt"), "no neighbourhood term in this job: {answer}");
    let now = first.iter().map(|b| b.time).max().unwrap();
    let want = foldin.embed(&foldin.start(None).unwrap(), &first, now).unwrap();
    let got: Vec<f32> =
        answer["embedding"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
    assert!(got.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-5), "{got:?} vs {want:?}");
    let mut excluded: Vec<u32> = first.iter().map(|b| b.item).collect();
    excluded.sort_unstable();
    excluded.dedup();
    let best: Vec<u64> = bundle
        .rank_vector(&want, &[], &[], &excluded, 10, true)
        .unwrap()
        .iter()
        .map(|s| bundle.item_id(s.item))
        .collect();
    let items: Vec<u64> =
        answer["items"].as_array().unwrap().iter().map(|i| i["item"].as_u64().unwrap()).collect();
    assert_eq!(items, best);
    assert!(
        items.iter().all(|i| first.iter().all(|b| bundle.item_id(b.item) != *i)),
        "a behaviour's item came back"
    );

    let with = |field: &str, value: serde_json::Value| {
        let mut b = body.clone();
        b[field] = value;
        b
    };
    let known_item = bundle.item_id(first[0].item);
    let features_needle = if foldin.feature_width() == 0 {
        "features: this model reads no user features"
    } else {
        "features: 1 values"
    };
    for (bad, needle) in [
        (with("behaviours", serde_json::json!([])), "behaviours: empty"),
        (
            with(
                "behaviours",
                serde_json::json!([{"item": known_item, "behaviour": "buy", "time": 1}, {"item": 987_654_321u64, "behaviour": "buy", "time": 1}]),
            ),
            "behaviours[1].item: unknown item 987654321",
        ),
        (
            with("behaviours", serde_json::json!([{"item": known_item, "behaviour": "like", "time": 1}])),
            "behaviours[0].behaviour: \"like\" is not one of this model's",
        ),
        (with("features", serde_json::json!([1.0])), features_needle),
        (with("user", serde_json::json!(raw_users[0])), "is a trained user of this bundle"),
        (with("k", serde_json::json!(0)), "k = 0 is out of range"),
        (with("colour", serde_json::json!("red")), "unknown field `colour`"),
        (
            with(
                "behaviours",
                serde_json::Value::Array(vec![
                    serde_json::json!({"item": known_item, "behaviour": "buy", "time": 1});
                    1_001
                ]),
            ),
            "behaviours: 1001 given, at most 1000",
        ),
    ] {
        let (status, answer) = post(&addr, &bad);
        assert_eq!(status, 400, "{bad}: {answer}");
        let error = answer["error"].as_str().unwrap_or_default();
        assert!(error.contains(needle), "{needle:?} not in {error:?}");
    }
    // Extreme times are an age, not an overflow.
    let mut extreme = with(
        "behaviours",
        serde_json::json!([{"item": known_item, "behaviour": foldin.behaviours()[0], "time": i64::MIN}]),
    );
    extreme["now"] = serde_json::json!(i64::MAX);
    let (status, answer_extreme) = post(&addr, &extreme);
    assert_eq!(status, 200, "{answer_extreme}");
    // Nothing was stored: the same body gives the same answer.
    assert_eq!(post(&addr, &body), (200, answer.clone()));
    drop(_service);
    overlay_keeps_named_users(bundle, &body, &answer);
}

/// With `--overlay`, a new user with an id is kept: the GET route serves
/// them (the POST's items), and so does a restarted service; a corrupt
/// overlay stops the service at start, naming the line.
fn overlay_keeps_named_users(bundle: &Bundle, body: &serde_json::Value, posted: &serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("overlay.jsonl");
    let flag = [std::ffi::OsStr::new("--overlay"), file.as_os_str()];
    let mut named = body.clone();
    named["user"] = serde_json::json!(987_000_001u64);
    let items_of = |v: &serde_json::Value| -> Vec<u64> {
        v["items"].as_array().unwrap().iter().map(|i| i["item"].as_u64().unwrap()).collect()
    };
    let want = items_of(posted);
    {
        let (_service, addr) = start_with(bundle.dir(), &flag);
        let path = "/v1/users/987000001/recommendations?k=10&exact=true";
        assert_eq!(tessera_tests::http::get(&addr, path).unwrap().status, 404, "not kept yet");
        let (status, answer) = post(&addr, &named);
        assert_eq!((status, items_of(&answer)), (200, want.clone()), "{answer}");
        let r = tessera_tests::http::get(&addr, path).unwrap();
        assert_eq!((r.status, items_of(&r.json().unwrap())), (200, want.clone()), "{}", r.body);
    }
    let (_service, addr) = start_with(bundle.dir(), &flag);
    let r = tessera_tests::http::get(&addr, "/v1/users/987000001/recommendations?k=10&exact=true").unwrap();
    assert_eq!((r.status, items_of(&r.json().unwrap())), (200, want), "after a restart: {}", r.body);
    drop(_service);
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str("{not json\n");
    std::fs::write(&file, text).unwrap();
    let out = recommend_command(bundle.dir(), &flag).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("overlay.jsonl:2: neither a new user nor a new item"),
        "{stderr}"
    );
}

#[test]
fn an_mf_bundle_refuses_new_users_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let (_, bundle_dir) = train(dir.path(), "mf");
    let bundle = Bundle::open(&bundle_dir).unwrap();
    let err = FoldIn::load(&bundle).unwrap_err().to_string();
    assert!(err.contains("MF"), "{err}");
    let (_service, addr) = start(bundle.dir());
    let item = bundle.item_id(0);
    let (status, answer) =
        post(&addr, &serde_json::json!({"behaviours": [{"item": item, "behaviour": "buy", "time": 1}]}));
    assert_eq!(status, 422, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("MF, which embeds only the users it trained on"),
        "{answer}"
    );
}

/// Writes a synthetic Taobao-format log under `dir`, holds every tenth user
/// out of it (their events go to `cold_users.csv` as `user,item,behavior,
/// time`), and builds the graph of the rest with a time-cut test split.
fn graph_without_cold_users(dir: &Path) -> (PathBuf, PathBuf) {
    let (mut log, mut items) = (Vec::new(), Vec::new());
    tessera_graph::synth::generate(&SynthConfig::new(2_500, 1_500, 60_000, 11), &mut log, &mut items)
        .unwrap();
    let (mut train, mut cold) = (String::new(), String::from("user,item,behavior,time\n"));
    for line in String::from_utf8(log).unwrap().lines() {
        let fields: Vec<&str> = line.split(',').collect();
        let user: u64 = fields[0].parse().unwrap();
        if user % 10 == 3 {
            cold.push_str(&format!("{},{},{},{}\n", fields[0], fields[1], fields[3], fields[4]));
        } else {
            train.push_str(line);
            train.push('\n');
        }
    }
    let (log_path, items_path, cold_path) =
        (dir.join("train.csv"), dir.join("items.csv"), dir.join("cold_users.csv"));
    std::fs::write(&log_path, train).unwrap();
    std::fs::write(&items_path, items).unwrap();
    std::fs::write(&cold_path, cold).unwrap();
    let graph = dir.join("graph");
    tessera_tests::synth_graph::build_time_cut(log_path, items_path, None, &graph).unwrap();
    (graph, cold_path)
}

/// A small version of the cold-start measurement (`scripts/coldstart-eval.sh`
/// runs it on tmall_mb): users never seen in training, folded in from their
/// first behaviours, are ranked better than popularity ranks them; the
/// bundle carries the job's neighbourhood term, and the service ranks a new
/// user with it.
#[test]
fn held_out_users_folded_in_beat_popularity() {
    let dir = tempfile::tempdir().unwrap();
    let (graph, cold) = graph_without_cold_users(dir.path());
    let spec = dir.path().join("job.toml");
    std::fs::write(
        &spec,
        format!(
            "name = \"held\"\nseed = 7\n[dataset]\ngraph = \"{}\"\n[model]\nkind = \"hgt\"\ndim = 32\nheads = 2\n\
             layers = 2\ninit = \"identity\"\ntemperature = 0.1\nneighbourhood = \"itemknn\"\nneighbourhood_weight = 2.0\n[sampler]\nfanouts = [10, 5]\n[train]\nepochs = 3\n\
             batch_size = 256\n[tasks]\nloss = \"softmax\"\n[cluster]\nps_shards = 2\n",
            graph.display()
        ),
    )
    .unwrap();
    let bundles = dir.path().join("bundles");
    train_spec(&spec, &bundles, 2);
    let results = dir.path().join("coldstart.json");
    let out = tessera_tests::command("worker")
        .unwrap()
        .args(["coldstart", "--bundle"])
        .arg(bundles.join("held"))
        .arg("--graph")
        .arg(&graph)
        .arg("--users")
        .arg(&cold)
        .arg("--results")
        .arg(&results)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let table = String::from_utf8_lossy(&out.stdout);
    eprintln!("{table}");
    let rows: serde_json::Value = serde_json::from_slice(&std::fs::read(&results).unwrap()).unwrap();
    for row in rows.as_array().unwrap() {
        let users = row["users"].as_u64().unwrap();
        let model = row["model"]["recall_at_20"].as_f64().unwrap();
        let blend = row["blend"][1]["recall_at_20"].as_f64().unwrap();
        let popular = row["popularity"]["recall_at_20"].as_f64().unwrap();
        assert_eq!(row["blend"][0].as_str(), Some("hgt+itemknn"), "{row}");
        assert!(users >= 40, "only {users} held-out users evaluated:\n{table}");
        assert!(model >= 1.5 * popular, "the folded-in model does not beat 1.5× popularity:\n{table}");
        assert!(blend >= 1.5 * popular, "the folded-in blend does not beat 1.5× popularity:\n{table}");
    }
    // The service ranks a new user with the bundle's neighbourhood term.
    let bundle = Bundle::open(&bundles.join("held")).unwrap();
    let (_service, addr) = start(bundle.dir());
    let (item, other) = (bundle.item_id(0), bundle.item_id(1));
    let body = serde_json::json!({"behaviours": [
        {"item": item, "behaviour": "click", "time": 1_512_000_000},
        {"item": other, "behaviour": "buy", "time": 1_512_000_100},
    ], "k": 10});
    let (status, answer) = post(&addr, &body);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["ranked_by"].as_str(), Some("hgt+itemknn"), "{answer}");
    let items: Vec<u64> =
        answer["items"].as_array().unwrap().iter().map(|i| i["item"].as_u64().unwrap()).collect();
    assert_eq!(items.len(), 10);
    assert!(!items.contains(&item) && !items.contains(&other), "{items:?}");
    // A trained user is ranked as the job's main row ranks them: the
    // embedding's scores blended with the term over their history.
    let dim = bundle.manifest().dim;
    let vectors = npy(bundle.dir(), tessera_bundle::manifest::files::USER_EMBEDDINGS);
    let path = bundle.dir().join(tessera_bundle::manifest::files::SEEN_TIMES);
    let times = tessera_bundle::npy::read::<i64>(&std::fs::read(&path).unwrap(), &path).unwrap().0;
    let path = bundle.dir().join(tessera_bundle::manifest::files::SEEN_OFFSETS);
    let offsets = tessera_bundle::npy::read::<u64>(&std::fs::read(&path).unwrap(), &path).unwrap().0;
    let user = (0..bundle.manifest().users as u32).find(|&u| bundle.seen(u).len() >= 3).unwrap();
    let retrieval = bundle.item_scores(&vectors[user as usize * dim..(user as usize + 1) * dim]).unwrap();
    let mut blended = retrieval.clone();
    let range = offsets[user as usize] as usize..offsets[user as usize + 1] as usize;
    bundle.neighbourhood().unwrap().blend(&mut blended, bundle.seen(user), &times[range]);
    let want: Vec<u64> = Bundle::best_of(&blended, &retrieval, bundle.seen(user), 10)
        .iter()
        .map(|r| bundle.item_id(r.item))
        .collect();
    let r =
        tessera_tests::http::get(&addr, &format!("/v1/users/{}/recommendations?k=10", bundle.user_id(user)))
            .unwrap();
    let got = r.json().unwrap();
    let got_items: Vec<u64> =
        got["items"].as_array().unwrap().iter().map(|i| i["item"].as_u64().unwrap()).collect();
    assert_eq!((got_items, got["ranked"].as_bool()), (want, Some(true)), "{}", r.body);
}
