//! New items folded into a trained HGT without retraining
//! (`tessera_bundle::foldin`, `POST /v1/items`), on a bundle the real
//! `worker train --standalone` wrote from a synthetic log with a tenth of
//! its items taken out of the log: half of those stay in the item table (in
//! the graph, with no interaction), the other half are new to the model.
//! - an item with no interaction, folded in from its category, shop, brand
//!   and price, gives back the embedding full-graph inference gave it;
//! - `worker cold-items` ranks the new items for the users who took them
//!   better than category popularity does;
//! - the real `recommend` binary adds a new item to the items served and
//!   answers it at once (similar items, a user's recommendations), keeps it
//!   across a restart through the overlay, and refuses bad bodies with a
//!   400 naming the field, changing nothing.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use tessera_bundle::foldin::{FoldIn, ItemAttributes};
use tessera_bundle::Bundle;
use tessera_graph::store::Graph;
use tessera_graph::synth::SynthConfig;
use tessera_tests::http::{get, request};
use tessera_tests::ChildProcess;

/// One item of the synthetic item table: category, shop, brand, price.
type Attributes = ([u64; 3], f32);

/// The data of the test under `dir`.
struct Data {
    graph: PathBuf,
    /// Raw ids of the items in the graph with no interaction.
    idle: Vec<u64>,
    /// The new items' CSV and the (user, new item) pairs' CSV.
    new_items: PathBuf,
    pairs: PathBuf,
    attributes: HashMap<u64, Attributes>,
}

/// A synthetic log without the items whose raw id ends in 7: those ending
/// in 07, 27, … stay in the item table, those ending in 17, 37, … are new.
fn data(dir: &Path) -> Data {
    let (mut log, mut items) = (Vec::new(), Vec::new());
    tessera_graph::synth::generate(&SynthConfig::new(1_500, 1_000, 50_000, 5), &mut log, &mut items).unwrap();
    let (mut train, mut pairs) = (String::new(), BTreeSet::new());
    for line in String::from_utf8(log).unwrap().lines() {
        let fields: Vec<&str> = line.split(',').collect();
        let item: u64 = fields[1].parse().unwrap();
        if item % 10 == 7 {
            if item % 20 == 17 {
                pairs.insert((fields[0].to_owned(), item));
            }
        } else {
            train.push_str(line);
            train.push('\n');
        }
    }
    let items = String::from_utf8(items).unwrap();
    let mut lines = items.lines();
    let header = lines.next().unwrap();
    let (mut kept, mut new_items) = (format!("{header}\n"), String::from("item,category,shop,brand,price\n"));
    let (mut attributes, mut idle) = (HashMap::new(), Vec::new());
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        let id: u64 = f[0].parse().unwrap();
        let groups = [f[1].parse().unwrap(), f[2].parse().unwrap(), f[3].parse().unwrap()];
        attributes.insert(id, (groups, f[4].parse().unwrap()));
        if id % 20 == 17 {
            new_items.push_str(&format!("{line}\n"));
        } else {
            kept.push_str(&format!("{line}\n"));
            if id % 20 == 7 {
                idle.push(id);
            }
        }
    }
    let (log_path, items_path) = (dir.join("train.csv"), dir.join("items.csv"));
    std::fs::write(&log_path, train).unwrap();
    std::fs::write(&items_path, kept).unwrap();
    let new_path = dir.join("new_items.csv");
    std::fs::write(&new_path, new_items).unwrap();
    let pairs_path = dir.join("pairs.csv");
    let pairs: String = pairs.iter().map(|(u, i)| format!("{u},{i}\n")).collect();
    std::fs::write(&pairs_path, format!("user,item\n{pairs}")).unwrap();
    let graph = dir.join("graph");
    tessera_tests::synth_graph::build_time_cut(log_path, items_path, None, &graph).unwrap();
    Data { graph, idle, new_items: new_path, pairs: pairs_path, attributes }
}

/// Trains `model` standalone on `graph` (its bundle under `dir/bundles`).
fn train(dir: &Path, graph: &Path, model: &str) -> PathBuf {
    let spec = dir.join(format!("{model}.toml"));
    std::fs::write(
        &spec,
        format!(
            "name = \"{model}_items\"\nseed = 7\n[dataset]\ngraph = \"{}\"\n[model]\nkind = \"{model}\"\ndim = 32\n\
             heads = 2\nlayers = 2\ntemporal = true\nid_dropout = 0.5\ninit = \"identity\"\ntemperature = 0.1\n\
             [sampler]\nfanouts = [10, 5]\n[train]\nepochs = 3\nbatch_size = 256\n[tasks]\nloss = \"softmax\"\n\
             [cluster]\nps_shards = 2\n",
            graph.display()
        ),
    )
    .unwrap();
    let bundles = dir.join("bundles");
    let out = tessera_tests::command("worker")
        .unwrap()
        .args(["train", "--standalone", spec.to_str().unwrap(), "--device", "cpu", "--threads", "2"])
        .arg("--bundles")
        .arg(&bundles)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    bundles.join(format!("{model}_items"))
}

fn attributes(a: &Attributes, now: i64) -> ItemAttributes<'static> {
    ItemAttributes { groups: a.0.map(Some), price: Some(a.1), now, ..ItemAttributes::default() }
}

#[test]
fn new_items_are_folded_in_measured_and_served_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = data(dir.path());
    let bundle_dir = train(dir.path(), &data.graph, "hgt");
    let bundle = Bundle::open(&bundle_dir).unwrap();
    let foldin = FoldIn::load(&bundle).unwrap();
    let graph = Graph::open(&data.graph).unwrap();
    let graph = graph.open_history().unwrap().unwrap_or(graph);
    let now = graph.manifest().report.time_range.1;

    // Items in the graph with no interaction: the fold-in is full-graph inference.
    let mut worst = 0f32;
    for &id in &data.idle {
        let ours = foldin.embed_item(&attributes(&data.attributes[&id], now)).unwrap();
        let theirs = bundle.item_vector(bundle.item(id).unwrap()).unwrap();
        let scale = theirs.iter().fold(0f32, |m, v| m.max(v.abs()));
        worst = worst.max(ours.iter().zip(&theirs).fold(0f32, |m, (a, b)| m.max((a - b).abs())) / scale);
    }
    assert!(data.idle.len() >= 40, "only {} idle items", data.idle.len());
    assert!(worst < 1e-3, "the item fold-in differs from full-graph inference by up to {worst} (relative)");
    eprintln!("{} idle items folded in; largest relative difference {worst:.2e}", data.idle.len());

    // New items, ranked among themselves for the users who took them.
    let results = dir.path().join("cold_items.json");
    let out = tessera_tests::command("worker")
        .unwrap()
        .args(["cold-items", "--bundle"])
        .arg(&bundle_dir)
        .arg("--items")
        .arg(&data.new_items)
        .arg("--pairs")
        .arg(&data.pairs)
        .arg("--results")
        .arg(&results)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let table = String::from_utf8_lossy(&out.stdout).into_owned();
    eprintln!("{table}");
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&results).unwrap()).unwrap();
    let recall = |m: &str| r[m]["recall_at_20"].as_f64().unwrap();
    assert!(r["users"].as_u64().unwrap() >= 200, "{table}");
    assert_eq!(r["with_group"], r["items"], "{table}");
    assert!(
        recall("model") > 1.2 * recall("category_popularity"),
        "the folded-in items do not beat category popularity:\n{table}"
    );

    service_adds_new_items(&bundle, &data, now, dir.path());
}

/// `recommend` on `bundle` with `overlay`, on a free loopback port.
fn start(bundle: &Path, overlay: &Path) -> (ChildProcess, String) {
    let mut command = tessera_tests::command("recommend").unwrap();
    command
        .arg("--bundle")
        .arg(bundle)
        .args(["--listen", "127.0.0.1:0", "--watch", "0s", "--overlay"])
        .arg(overlay);
    command.env("RUST_LOG", "warn");
    let (process, values) =
        ChildProcess::spawn_reporting("recommend", &mut command, &["LISTENING "]).unwrap();
    (process, values[0].clone())
}

fn post(addr: &str, body: &serde_json::Value) -> (u16, serde_json::Value) {
    let r = request(addr, "POST", "/v1/items", body.to_string().as_bytes()).unwrap();
    (r.status, r.json().unwrap_or(serde_json::Value::Null))
}

fn served(addr: &str) -> u64 {
    get(addr, "/readyz").unwrap().json().unwrap()["items"].as_u64().unwrap()
}

fn service_adds_new_items(bundle: &Bundle, data: &Data, now: i64, dir: &Path) {
    let overlay = dir.join("overlay.jsonl");
    let (mut service, addr) = start(bundle.dir(), &overlay);
    let before = served(&addr);
    assert_eq!(before, bundle.manifest().items as u64);
    // A new item with an idle item's attributes gets that item's embedding.
    let twin = data.idle[0];
    let ([category, shop, brand], price) = data.attributes[&twin];
    let new_id = 900_000_001u64;
    let body = serde_json::json!({"item": new_id, "category": category, "shop": shop, "brand": brand,
        "price": price, "now": now, "k": 5});
    let (status, answer) = post(&addr, &body);
    assert_eq!(status, 200, "{answer}");
    let embedding: Vec<f32> =
        answer["embedding"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
    let want = bundle.item_vector(bundle.item(twin).unwrap()).unwrap();
    let diff = embedding.iter().zip(&want).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(diff < 1e-4, "the service's embedding differs from the twin's by {diff}");
    assert_eq!(answer["items_served"].as_u64(), Some(before + 1), "{answer}");
    let top = answer["similar"][0]["score"].as_f64().unwrap();
    assert!(
        answer["similar"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["item"] == twin && i["score"].as_f64() == Some(top)),
        "the twin is not among the most similar: {answer}"
    );
    // Served at once: its similar items, and a user's recommendations.
    assert_eq!(get(&addr, &format!("/v1/items/{new_id}/similar?k=3")).unwrap().status, 200);
    let (user, better) = (0..bundle.manifest().users as u32)
        .map(|u| {
            let scores = bundle.item_scores(bundle.user_vector(u)).unwrap();
            let t = scores[bundle.item(twin).unwrap() as usize];
            (u, scores.iter().filter(|&&s| s > t).count())
        })
        .min_by_key(|&(_, better)| better)
        .unwrap();
    // Just long enough to reach the twin (and the new item, which scores the same).
    let k = better + 2;
    assert!(k <= 500, "no user ranks the twin in their first 500 items");
    let path = format!(
        "/v1/users/{}/recommendations?k={k}&rank=false&exact=true&exclude_seen=false",
        bundle.user_id(user)
    );
    let got = get(&addr, &path).unwrap().json().unwrap();
    let ids: Vec<u64> =
        got["items"].as_array().unwrap().iter().map(|i| i["item"].as_u64().unwrap()).collect();
    assert!(ids.contains(&twin) && ids.contains(&new_id), "{got}");
    // Refusals name the field and change nothing.
    let refusals = [
        (serde_json::json!({"item": new_id, "category": category}), "item"),
        (serde_json::json!({"item": bundle.item_id(0), "category": category}), "item"),
        (serde_json::json!({"item": 900_000_002u64, "category": 123_456_789}), "category"),
        (serde_json::json!({"item": 900_000_002u64, "brand": 987_654_321u64}), "brand"),
        (serde_json::json!({"item": 900_000_002u64, "category": category, "price": -3.0}), "price"),
        (
            serde_json::json!({"item": 900_000_002u64, "category": category, "features": [1.0, 2.0]}),
            "features",
        ),
        (serde_json::json!({"item": 900_000_002u64, "category": category, "content": [1.0]}), "content"),
        (serde_json::json!({"item": 900_000_002u64}), "category"),
        (serde_json::json!({"item": 900_000_002u64, "category": category, "colour": "red"}), "colour"),
        (serde_json::json!({"category": category}), "item"),
    ];
    for (body, field) in &refusals {
        let (status, answer) = post(&addr, body);
        assert_eq!(status, 400, "{body} → {answer}");
        assert!(answer["error"].as_str().unwrap().contains(field), "{body} → {answer}");
    }
    assert_eq!(served(&addr), before + 1);
    let kept = std::fs::read_to_string(&overlay).unwrap();
    assert_eq!(kept.lines().count(), 1, "{kept}");
    // The overlay brings it back after a restart.
    service.kill();
    let (_service, addr) = start(bundle.dir(), &overlay);
    assert_eq!(served(&addr), before + 1);
    let again = get(&addr, &format!("/v1/items/{new_id}/similar?k=5")).unwrap().json().unwrap();
    assert!(again["items"].as_array().unwrap().iter().any(|i| i["item"] == twin), "{again}");
}

/// An MF bundle cannot fold in an item (no layers): a 422 says so.
#[test]
fn an_mf_bundle_refuses_new_items_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let data = data(dir.path());
    let bundle = train(dir.path(), &data.graph, "mf");
    let overlay = dir.path().join("overlay.jsonl");
    let (_service, addr) = start(&bundle, &overlay);
    let (status, answer) = post(&addr, &serde_json::json!({"item": 900_000_001u64, "category": 1}));
    assert_eq!(status, 422, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("MF"), "{answer}");
    assert_eq!(std::fs::read_to_string(&overlay).unwrap_or_default(), "");
}
