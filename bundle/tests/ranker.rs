//! A bundle with a ranker: written with `ranker.json` and the history's
//! times, read back, and its recommendations re-ranked by the same code the
//! worker evaluated with; a ranker that does not fit the bundle is refused
//! with the file named.

use std::collections::BTreeMap;

use tessera_bundle::rank::{dense_width, FeatureConfig, Layer, RankerWeights, FIELDS, RANKER_FORMAT};
use tessera_bundle::{write, AnnOptions, Bundle, Content, GraphRef};

const DIM: usize = 4;

/// A ranker whose MLP scores by the retrieval rank's logarithm: it turns
/// the candidates' order around.
fn reverser(dim: usize) -> RankerWeights {
    let buckets = 4;
    let width = dense_width(dim) + FIELDS.len();
    let mut weight = vec![0.0; width];
    weight[1] = 1.0; // log_rank
    RankerWeights {
        format: RANKER_FORMAT.into(),
        dim,
        candidates: 20,
        features: FeatureConfig { recent: 3, recency: 0.8, buckets },
        factors: 1,
        mean: vec![0.0; dense_width(dim)],
        std: vec![1.0; dense_width(dim)],
        bias: 0.0,
        first: vec![0.0; FIELDS.len() * buckets as usize],
        embeddings: vec![0.0; FIELDS.len() * buckets as usize],
        layers: vec![Layer { inputs: width, outputs: 1, weight, bias: vec![0.0] }],
        training: BTreeMap::new(),
    }
}

fn npy_i64(values: &[i64]) -> Vec<u8> {
    let mut out = Vec::new();
    tessera_bundle::npy::write(&mut out, &[values.len() as u64], values).unwrap();
    out
}

struct Toy {
    user_ids: Vec<u64>,
    users: Vec<f32>,
    item_ids: Vec<u64>,
    items: Vec<f32>,
    categories: Vec<Option<u64>>,
    seen: Vec<Vec<u32>>,
}

fn toy() -> Toy {
    let (users, items) = (10usize, 60usize);
    let f = |k: usize| ((k * 7919 % 101) as f32 / 50.0) - 1.0;
    Toy {
        user_ids: (0..users as u64).collect(),
        users: (0..users * DIM).map(f).collect(),
        item_ids: (0..items as u64).map(|i| 100 + i).collect(),
        items: (0..items * DIM).map(|k| f(k + 13)).collect(),
        categories: (0..items).map(|i| Some(i as u64 % 4)).collect(),
        seen: (0..users).map(|u| vec![u as u32, 30 + u as u32]).collect(),
    }
}

fn write_with(
    root: &std::path::Path,
    extra: &[(String, Vec<u8>)],
) -> tessera_bundle::Result<std::path::PathBuf> {
    let t = toy();
    let metrics = BTreeMap::new();
    let graph = GraphRef { path: "data/toy".into(), fingerprint: 1 };
    let c = Content {
        job: "toy",
        model: "hgt",
        spec_toml: "",
        metrics: &metrics,
        graph: &graph,
        dim: DIM,
        user_ids: &t.user_ids,
        user_vectors: &t.users,
        item_ids: &t.item_ids,
        item_categories: &t.categories,
        item_vectors: &t.items,
        seen: &t.seen,
        extra,
        states: &[],
        source: None,
        seed: 1,
    };
    write(root, &c, &AnnOptions::default()).map(|(dir, _)| dir)
}

fn times() -> Vec<u8> {
    npy_i64(&(0..20).map(|k| 1_000 * k).collect::<Vec<_>>())
}

#[test]
fn the_ranker_orders_the_candidates_and_can_be_turned_off() {
    let root = tempfile::tempdir().unwrap();
    let extra = [
        ("ranker.json".to_owned(), serde_json::to_vec(&reverser(DIM)).unwrap()),
        ("seen_times.npy".to_owned(), times()),
    ];
    let dir = write_with(root.path(), &extra).unwrap();
    let b = Bundle::open(&dir).unwrap();
    assert!(b.ranker().is_some());
    let retrieval = b.recommend(3, 20, true, true).unwrap();
    let plain = b.recommend_ranked(3, 5, 20, true, true, false).unwrap();
    assert_eq!(
        plain.iter().map(|r| r.item).collect::<Vec<_>>(),
        retrieval[..5].iter().map(|s| s.item).collect::<Vec<_>>()
    );
    let ranked = b.recommend_ranked(3, 5, 20, true, true, true).unwrap();
    let reversed: Vec<u32> = retrieval.iter().rev().take(5).map(|s| s.item).collect();
    assert_eq!(ranked.iter().map(|r| r.item).collect::<Vec<_>>(), reversed);
    // Each keeps its retrieval score; the score is the ranker's: ln(1 + rank).
    assert_eq!(ranked[0].retrieval, retrieval[19].score);
    assert!((ranked[0].score - 20f32.ln()).abs() < 1e-5, "{}", ranked[0].score);
}

#[test]
fn a_ranker_that_does_not_fit_is_refused_by_name() {
    let root = tempfile::tempdir().unwrap();
    let wrong_dim = [
        ("ranker.json".to_owned(), serde_json::to_vec(&reverser(DIM + 1)).unwrap()),
        ("seen_times.npy".to_owned(), times()),
    ];
    let dir = write_with(root.path(), &wrong_dim).unwrap();
    let err = Bundle::open(&dir).unwrap_err().to_string();
    assert!(err.contains("ranker.json") && err.contains("dimension 5"), "{err}");
    let no_times = [("ranker.json".to_owned(), serde_json::to_vec(&reverser(DIM)).unwrap())];
    let dir = write_with(root.path(), &no_times).unwrap();
    let err = Bundle::open(&dir).unwrap_err().to_string();
    assert!(err.contains("seen_times.npy"), "{err}");
    let short_times = [
        ("ranker.json".to_owned(), serde_json::to_vec(&reverser(DIM)).unwrap()),
        ("seen_times.npy".to_owned(), npy_i64(&[1, 2, 3])),
    ];
    let dir = write_with(root.path(), &short_times).unwrap();
    let err = Bundle::open(&dir).unwrap_err().to_string();
    assert!(err.contains("seen_times.npy") && err.contains("shape"), "{err}");
    let garbage = [("ranker.json".to_owned(), b"{".to_vec()), ("seen_times.npy".to_owned(), times())];
    let dir = write_with(root.path(), &garbage).unwrap();
    assert!(Bundle::open(&dir).unwrap_err().to_string().contains("bad ranker"));
}
