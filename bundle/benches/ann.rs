//! Retrieval benchmark (`make bench`): the HNSW index (usearch) against
//! exact search on the same vectors in one run: build time, recall@10, and
//! single-thread queries/s and latency percentiles of both.
//!
//! - `cargo bench -p tessera-bundle --bench ann` measures 1M synthetic item
//!   vectors of dimension 64 (override with `--items N`): low-rank clusters
//!   (rank 16, like learned embeddings) and isotropic clusters (a worst
//!   case), each with its own queries; `--connectivity M` and `--ef EF`
//!   change the index settings.
//! - `-- --bundle DIR` measures a trained bundle's own index, with its user
//!   embeddings as queries.
//! - `-- --write-bundle DIR --items N` writes a synthetic bundle (N users and
//!   N items) for the endpoint benchmark, and measures nothing.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use tessera_bundle::{ann, retrieve, synth, AnnOptions, Content, GraphRef};

const DIM: usize = 64;
const QUERIES: usize = 1_000;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

/// Times `f` over each query: (queries/s, p50 ms, p99 ms).
fn timed(queries: usize, mut f: impl FnMut(usize)) -> (f64, f64, f64) {
    let mut lat = Vec::with_capacity(queries);
    let started = Instant::now();
    for q in 0..queries {
        let t = Instant::now();
        f(q);
        lat.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let qps = queries as f64 / started.elapsed().as_secs_f64();
    lat.sort_by(f64::total_cmp);
    (qps, percentile(&lat, 0.5), percentile(&lat, 0.99))
}

fn report(name: &str, items: &[f32], queries: &[f32], dim: usize, index: &usearch::Index, build_secs: f64) {
    let n = items.len() / dim;
    let nq = (queries.len() / dim).min(QUERIES);
    let q = |i: usize| &queries[i * dim..(i + 1) * dim];
    let exact_q = nq.min(200);
    let mut truth = Vec::new();
    let (exact_qps, exact_p50, exact_p99) =
        timed(exact_q, |i| truth.push(retrieve::exact(q(i), items, dim, 10, |_| false)));
    let mut recall = 0.0;
    let (ann_qps, ann_p50, ann_p99) = timed(nq, |i| {
        let found = retrieve::hnsw(index, items, dim, q(i), 10, |_| false).expect("search");
        if i < exact_q {
            recall += retrieve::recall(&found, &truth[i]);
        }
    });
    println!(
        "{name:<28} {n:>9} {build_secs:>8.1} {:>10.4} {ann_qps:>10.0} {ann_p50:>8.3} {ann_p99:>8.3} {exact_qps:>10.1} {exact_p50:>8.2} {exact_p99:>8.2} {:>8.0}x",
        recall / exact_q as f64,
        ann_qps / exact_qps
    );
}

fn header() {
    println!(
        "{:<28} {:>9} {:>8} {:>10} {:>10} {:>8} {:>8} {:>10} {:>8} {:>8} {:>9}",
        "vectors",
        "items",
        "build_s",
        "recall@10",
        "hnsw_qps",
        "p50_ms",
        "p99_ms",
        "exact_qps",
        "p50_ms",
        "p99_ms",
        "speedup"
    );
}

fn write_synthetic(out: PathBuf, n: usize) {
    let items = synth::low_rank(n, DIM, 16, 1_000, 1);
    let users = synth::low_rank(n, DIM, 16, 1_000, 2);
    let ids: Vec<u64> = (0..n as u64).collect();
    let categories: Vec<Option<u64>> = (0..n as u64).map(|i| Some(i % 1_000)).collect();
    let seen: Vec<Vec<u32>> = (0..n)
        .map(|u| {
            let mut s: Vec<u32> = (0..5).map(|j| ((u * 31 + j * 977) % n) as u32).collect();
            s.sort_unstable();
            s.dedup();
            s
        })
        .collect();
    // With `--ranker`: a random ranker of the default shape, and a time
    // for every history entry, so the service re-ranks every request.
    let mut extra = Vec::new();
    if std::env::args().any(|a| a == "--ranker") {
        let times: Vec<i64> =
            seen.iter().flat_map(|s| (0..s.len() as i64).map(|k| 1_700_000_000 + 3_600 * k)).collect();
        let mut npy = Vec::new();
        tessera_bundle::npy::write(&mut npy, &[times.len() as u64], &times).expect("encode the times");
        let ranker = serde_json::to_vec(&synth::ranker(DIM, 3)).expect("encode the ranker");
        extra.push(("ranker.json".to_owned(), ranker));
        extra.push(("seen_times.npy".to_owned(), npy));
    }
    let metrics = BTreeMap::new();
    let graph = GraphRef { path: "synthetic".into(), fingerprint: 0 };
    let content = Content {
        job: "synthetic",
        model: "synthetic",
        spec_toml: "",
        metrics: &metrics,
        graph: &graph,
        dim: DIM,
        user_ids: &ids,
        user_vectors: &users,
        item_ids: &ids,
        item_categories: &categories,
        item_vectors: &items,
        seen: &seen,
        extra: &extra,
        states: &[],
        source: None,
        seed: 1,
    };
    let (dir, m) = tessera_bundle::write(&out, &content, &AnnOptions::default()).expect("write the bundle");
    println!("wrote {} ({} items, recall@10 {:?})", dir.display(), m.items, m.ann.map(|a| a.recall_at_10));
}

/// The index settings, with `--connectivity` and `--ef` (search) overrides.
fn options() -> AnnOptions {
    let mut o = AnnOptions::default();
    if let Some(m) = arg("--connectivity").and_then(|s| s.parse().ok()) {
        o.connectivity = m;
    }
    if let Some(ef) = arg("--ef").and_then(|s| s.parse().ok()) {
        o.expansion_search = ef;
    }
    o
}

fn main() {
    let items: usize = arg("--items").and_then(|s| s.parse().ok()).unwrap_or(1_000_000);
    if let Some(out) = arg("--write-bundle") {
        write_synthetic(PathBuf::from(out), items);
        return;
    }
    header();
    if let Some(dir) = arg("--bundle") {
        let resolved = tessera_bundle::read::resolve(std::path::Path::new(&dir)).expect("resolve");
        let manifest = tessera_bundle::read::read_manifest(&resolved).expect("read the manifest");
        let (u, i, dim) = bundle_vectors(&dir);
        let started = Instant::now();
        let index = ann::build(&i, dim, &options()).expect("build");
        let name = format!("{} bundle v{}", manifest.job, manifest.version);
        report(&name, &i, &u, dim, &index, started.elapsed().as_secs_f64());
        return;
    }
    type Gen = fn(usize, u64) -> Vec<f32>;
    let sets: [(&str, Gen); 2] = [
        ("low-rank clusters (rank 16)", |n, seed| synth::low_rank(n, DIM, 16, 1_000, seed)),
        ("isotropic clusters", |n, seed| synth::isotropic(n, DIM, 1_000, 0.5, seed)),
    ];
    for (name, generate) in sets {
        let vectors = generate(items, 1);
        let queries = generate(QUERIES, 2);
        let started = Instant::now();
        let index = ann::build(&vectors, DIM, &options()).expect("build");
        report(name, &vectors, &queries, DIM, &index, started.elapsed().as_secs_f64());
    }
}

/// The user and item embeddings of the bundle at `dir`, and their dimension.
fn bundle_vectors(dir: &str) -> (Vec<f32>, Vec<f32>, usize) {
    let dir = tessera_bundle::read::resolve(std::path::Path::new(dir)).expect("resolve");
    let load = |name: &str| {
        let path = dir.join(name);
        let bytes = std::fs::read(&path).expect("read");
        tessera_bundle::npy::read::<f32>(&bytes, &path).expect("npy")
    };
    let (users, shape) = load("user_embeddings.npy");
    let (items, _) = load("item_embeddings.npy");
    (users, items, shape[1] as usize)
}
