//! A bundle written and read back: the same vectors, ids, histories and
//! answers; versions and LATEST; corrupt, truncated and inconsistent
//! bundles refused with the file named; the Parquet copy readable.

use std::collections::BTreeMap;
use std::path::Path;

use rand::{Rng, SeedableRng};
use tessera_bundle::{write, AnnOptions, Bundle, Content, GraphRef};

struct Data {
    user_ids: Vec<u64>,
    users: Vec<f32>,
    item_ids: Vec<u64>,
    items: Vec<f32>,
    categories: Vec<Option<u64>>,
    seen: Vec<Vec<u32>>,
}

const DIM: usize = 8;

fn data(users: usize, items: usize) -> Data {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    Data {
        user_ids: (0..users as u64).map(|u| 1_000 + 3 * u).collect(),
        users: (0..users * DIM).map(|_| rng.random_range(-1f32..1.)).collect(),
        item_ids: (0..items as u64).map(|i| 50_000 + 7 * i).collect(),
        items: (0..items * DIM).map(|_| rng.random_range(-1f32..1.)).collect(),
        categories: (0..items).map(|i| (i % 3 != 0).then_some(i as u64 % 5)).collect(),
        seen: (0..users).map(|u| vec![(u % items) as u32, ((u * 7 + 1) % items) as u32]).collect(),
    }
}

fn content<'a>(d: &'a Data, metrics: &'a BTreeMap<String, f64>, graph: &'a GraphRef) -> Content<'a> {
    Content {
        job: "toy",
        model: "hgt",
        spec_toml: "name = \"toy\"\n",
        metrics,
        graph,
        dim: DIM,
        user_ids: &d.user_ids,
        user_vectors: &d.users,
        item_ids: &d.item_ids,
        item_categories: &d.categories,
        item_vectors: &d.items,
        seen: &d.seen,
        extra: &[],
        states: &[],
        source: None,
        seed: 1,
    }
}

fn graph() -> GraphRef {
    GraphRef { path: "data/toy".into(), fingerprint: 42 }
}

#[test]
fn written_then_read_gives_the_same_answers_as_exact_search() {
    let root = tempfile::tempdir().unwrap();
    let d = data(50, 300);
    let metrics = BTreeMap::from([("ndcg@10".to_owned(), 0.25)]);
    let g = graph();
    let extra = [("dense.safetensors".to_owned(), vec![1u8, 2, 3])];
    let c = Content { extra: &extra, ..content(&d, &metrics, &g) };
    let (dir, manifest) = write(root.path(), &c, &AnnOptions::default()).unwrap();
    assert_eq!(dir, root.path().join("toy/v0001"));
    assert_eq!((manifest.users, manifest.items, manifest.dim, manifest.version), (50, 300, DIM, 1));
    assert!(manifest.ann.is_none(), "300 items are served by exact search");
    assert!(manifest.files.contains_key("dense.safetensors"));
    // The job directory opens its LATEST version.
    let b = Bundle::open(&root.path().join("toy")).unwrap();
    assert_eq!(b.dir(), dir);
    assert_eq!(b.manifest().metrics["ndcg@10"], 0.25);
    let u = b.user(1_000 + 3 * 17).unwrap();
    assert_eq!(u, 17);
    assert_eq!(b.seen(u), &[17, 120]);
    assert!(b.user(1).is_err());
    assert_eq!(b.item_category(0), None);
    assert_eq!(b.item_category(1), Some(1));
    // Recommendations: the exact top-k of the dot product without seen items.
    let top = b.recommend(u, 10, true, false).unwrap();
    let q = &d.users[17 * DIM..18 * DIM];
    let mut all: Vec<(u32, f32)> = (0..300u32)
        .filter(|i| ![17, 120].contains(i))
        .map(|i| (i, q.iter().zip(&d.items[i as usize * DIM..][..DIM]).map(|(a, b)| a * b).sum()))
        .collect();
    all.sort_by(|a, b| b.1.total_cmp(&a.1));
    let want: Vec<u32> = all.iter().take(10).map(|x| x.0).collect();
    assert_eq!(top.iter().map(|s| s.item).collect::<Vec<_>>(), want);
    // Similar items leave the item itself out.
    let similar = b.similar(4, 5, false).unwrap();
    assert_eq!(similar.len(), 5);
    assert!(similar.iter().all(|s| s.item != 4));
    // A second write is version 2, and LATEST moves to it.
    let (dir2, m2) = write(root.path(), &content(&d, &metrics, &g), &AnnOptions::default()).unwrap();
    assert_eq!((dir2.file_name().unwrap().to_str().unwrap(), m2.version), ("v0002", 2));
    assert_eq!(Bundle::open(&root.path().join("toy")).unwrap().manifest().version, 2);
    assert_eq!(std::fs::read_to_string(root.path().join("toy/LATEST")).unwrap().trim(), "v0002");
    // No temporary directory is left behind.
    let names: Vec<String> = std::fs::read_dir(root.path().join("toy"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.starts_with('.')), "{names:?}");
}

#[test]
fn a_large_catalogue_gets_an_hnsw_index_with_its_recall_recorded() {
    let root = tempfile::tempdir().unwrap();
    let d = data(400, 3_000);
    let (metrics, g) = (BTreeMap::new(), graph());
    let options = AnnOptions { min_items: 1_000, threads: 2, ..AnnOptions::default() };
    let (_, manifest) = write(root.path(), &content(&d, &metrics, &g), &options).unwrap();
    let ann = manifest.ann.expect("an index for 3,000 items");
    assert!(ann.recall_at_10 >= 0.95, "recall {}", ann.recall_at_10);
    assert_eq!(ann.recall_queries, 400);
    let b = Bundle::open(&root.path().join("toy")).unwrap();
    assert!(b.has_index());
    let mut agree = 0;
    for u in 0..100 {
        let ann = b.recommend(u, 10, true, false).unwrap();
        let exact = b.recommend(u, 10, true, true).unwrap();
        assert!(ann.iter().all(|s| b.seen(u).binary_search(&s.item).is_err()));
        agree += ann.iter().filter(|a| exact.iter().any(|e| e.item == a.item)).count();
    }
    assert!(agree >= 950, "{agree} of 1000");
}

fn corrupt_one(dir: &Path, name: &str, f: impl FnOnce(&mut Vec<u8>)) {
    let path = dir.join(name);
    let mut bytes = std::fs::read(&path).unwrap();
    f(&mut bytes);
    std::fs::write(&path, bytes).unwrap();
}

#[test]
fn damaged_bundles_are_refused_naming_the_file() {
    let root = tempfile::tempdir().unwrap();
    let d = data(20, 50);
    let (metrics, g) = (BTreeMap::new(), graph());
    let (dir, _) = write(root.path(), &content(&d, &metrics, &g), &AnnOptions::default()).unwrap();
    let err = Bundle::open(&root.path().join("nothing")).unwrap_err().to_string();
    assert!(err.contains("neither manifest.json nor LATEST"), "{err}");
    corrupt_one(&dir, "item_embeddings.npy", |b| {
        let n = b.len();
        b[n - 1] ^= 0xff;
    });
    let err = Bundle::open(&dir).unwrap_err().to_string();
    assert!(err.contains("item_embeddings.npy") && err.contains("CRC32"), "{err}");
    corrupt_one(&dir, "item_embeddings.npy", |b| {
        let n = b.len();
        b[n - 1] ^= 0xff;
    });
    Bundle::open(&dir).unwrap();
    corrupt_one(&dir, "seen_items.npy", |b| b.truncate(b.len() - 4));
    let err = Bundle::open(&dir).unwrap_err().to_string();
    assert!(err.contains("seen_items.npy"), "{err}");
    corrupt_one(&dir, "manifest.json", |b| b.truncate(10));
    let err = Bundle::open(&dir).unwrap_err().to_string();
    assert!(err.contains("manifest.json") && err.contains("bad manifest"), "{err}");
}

#[test]
fn inconsistent_content_is_refused_and_leaves_nothing() {
    let root = tempfile::tempdir().unwrap();
    let mut d = data(5, 10);
    let (metrics, g) = (BTreeMap::new(), graph());
    d.items[13] = f32::NAN;
    let err = write(root.path(), &content(&d, &metrics, &g), &AnnOptions::default()).unwrap_err().to_string();
    assert!(err.contains("item 50007") && err.contains("non-finite"), "{err}");
    d.items[13] = 0.0;
    d.users.pop();
    let err = write(root.path(), &content(&d, &metrics, &g), &AnnOptions::default()).unwrap_err().to_string();
    assert!(err.contains("5 user ids but 39 values for dimension 8"), "{err}");
    d.users.push(0.0);
    d.seen[2].push(10);
    let err = write(root.path(), &content(&d, &metrics, &g), &AnnOptions::default()).unwrap_err().to_string();
    assert!(err.contains("user 1006 has seen item 10"), "{err}");
    assert!(!root.path().join("toy").join("LATEST").exists());
}

#[test]
fn layer_states_are_kept_checked_and_read_on_demand() {
    use tessera_bundle::manifest::Source;
    use tessera_bundle::write::LayerState;
    let root = tempfile::tempdir().unwrap();
    let d = data(6, 10);
    let (metrics, g) = (BTreeMap::new(), graph());
    let brands: Vec<f32> = (0..3 * DIM).map(|v| v as f32).collect();
    let states = [
        LayerState { layer: 0, node_type: "user", values: &d.users },
        LayerState { layer: 1, node_type: "item", values: &d.items },
        LayerState { layer: 1, node_type: "brand", values: &brands },
    ];
    let source = Source {
        kind: "checkpoint".into(),
        job_id: Some("toy-1".into()),
        checkpoints: vec![4, 5],
        resumed_from: None,
    };
    let c = Content { states: &states, source: Some(&source), ..content(&d, &metrics, &g) };
    let (dir, manifest) = write(root.path(), &c, &AnnOptions::default()).unwrap();
    assert_eq!(manifest.states.len(), 3);
    assert_eq!(manifest.source.as_ref(), Some(&source));
    let b = Bundle::open(&dir).unwrap();
    assert_eq!(b.manifest().source.as_ref(), Some(&source));
    assert_eq!(b.state(1, "brand").unwrap(), brands);
    assert_eq!(b.state(0, "user").unwrap(), d.users);
    let err = b.state(0, "shop").unwrap_err().to_string();
    assert!(err.contains("no layer 0 state of shop"), "{err}");
    // A damaged state does not stop serving, but is refused when read.
    corrupt_one(&dir, "state_l1_brand.npy", |b| {
        let n = b.len();
        b[n - 1] ^= 0xff;
    });
    let b = Bundle::open(&dir).unwrap();
    let err = b.state(1, "brand").unwrap_err().to_string();
    assert!(err.contains("state_l1_brand.npy") && err.contains("CRC32"), "{err}");
    // A truncated one is refused at open.
    corrupt_one(&dir, "state_l1_brand.npy", |b| b.truncate(b.len() - 4));
    let err = Bundle::open(&dir).unwrap_err().to_string();
    assert!(err.contains("state_l1_brand.npy"), "{err}");
    // Content whose user state has the wrong number of rows is refused.
    let short = [LayerState { layer: 0, node_type: "user", values: &d.users[DIM..] }];
    let c = Content { states: &short, ..content(&d, &metrics, &g) };
    let err = write(root.path(), &c, &AnnOptions::default()).unwrap_err().to_string();
    assert!(err.contains("layer 0 state of user has 5 rows for 6 nodes"), "{err}");
}

#[test]
fn the_parquet_copy_holds_the_ids_and_embeddings() {
    use arrow_array::{Array, FixedSizeListArray, Float32Array, UInt64Array};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let root = tempfile::tempdir().unwrap();
    let d = data(5, 10);
    let (metrics, g) = (BTreeMap::new(), graph());
    let (dir, _) = write(root.path(), &content(&d, &metrics, &g), &AnnOptions::default()).unwrap();
    let file = std::fs::File::open(dir.join("items.parquet")).unwrap();
    let mut reader = ParquetRecordBatchReaderBuilder::try_new(file).unwrap().build().unwrap();
    let batch = reader.next().unwrap().unwrap();
    let ids = batch.column(0).as_any().downcast_ref::<UInt64Array>().unwrap();
    assert_eq!(ids.values().to_vec(), d.item_ids);
    let cats = batch.column(1).as_any().downcast_ref::<UInt64Array>().unwrap();
    assert!(cats.is_null(0) && cats.value(1) == 1);
    let emb = batch.column(2).as_any().downcast_ref::<FixedSizeListArray>().unwrap();
    let row3 = emb.value(3);
    let row3 = row3.as_any().downcast_ref::<Float32Array>().unwrap();
    assert_eq!(row3.values().to_vec(), d.items[3 * DIM..4 * DIM].to_vec());
}

/// Items added to a served bundle (`POST /v1/items`) go into its HNSW
/// index at once: each is found by the index for a query that points at it,
/// with its exact score, beyond the index's first capacity, and refused when
/// its id is served already or its vector is malformed.
#[test]
fn items_added_online_are_found_by_the_index_at_once() {
    let root = tempfile::tempdir().unwrap();
    let d = data(50, 3_000);
    let (metrics, g) = (BTreeMap::new(), graph());
    let options = AnnOptions { min_items: 1_000, threads: 2, ..AnnOptions::default() };
    write(root.path(), &content(&d, &metrics, &g), &options).unwrap();
    let b = Bundle::open(&root.path().join("toy")).unwrap();
    assert!(b.has_index());
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
    let mut found_first = 0;
    let added = 1_500;
    for k in 0..added {
        let v: Vec<f32> = (0..DIM).map(|_| rng.random_range(-1f32..1.)).collect();
        let id = 9_000_000 + k as u64;
        let row = b.add_item(id, Some(4), &v).unwrap();
        assert_eq!((row as usize, b.item(id).unwrap()), (3_000 + k, row));
        assert_eq!((b.item_id(row), b.item_category(row)), (id, Some(4)));
        // Through the index, not exact search: the best items for `v` itself.
        let top = b.similar(row, 5, false).unwrap();
        let exact = b.similar(row, 5, true).unwrap();
        assert_eq!(top.len(), 5);
        found_first += usize::from(top[0].item == exact[0].item);
        let want = tessera_bundle::retrieve::dot(&v, &b.item_vector(top[0].item).unwrap());
        assert!((top[0].score - want).abs() < 1e-4);
        let hit = b.recommend(0, 3_000 + added, false, true).unwrap();
        assert!(hit.iter().any(|s| s.item == row), "exact search skips added item {row}");
    }
    assert!(found_first * 100 >= added * 95, "the index found the exact best for {found_first} of {added}");
    // A query pointing at an added item finds it through the index first,
    // also when it is longer than every item the index was built with.
    let user_like: Vec<f32> = (0..DIM).map(|d| if d == 0 { 1.0 } else { 0.0 }).collect();
    for (id, length) in [(7, 1.9f32), (8, 50.0)] {
        let v: Vec<f32> = user_like.iter().map(|x| x * length).collect();
        let row = b.add_item(id, None, &v).unwrap();
        let ranked = b.rank_vector(&user_like, &[], &[], &[], 3, false).unwrap();
        assert_eq!((ranked[0].item, ranked[0].score), (row, length), "{ranked:?}");
    }
    let v = user_like.clone();
    assert_eq!(b.num_items(), 3_000 + added + 2);
    // Refusals change nothing.
    let err = b.add_item(7, None, &v).unwrap_err().to_string();
    assert!(err.contains("already served"), "{err}");
    let err = b.add_item(9, None, &v[..3]).unwrap_err().to_string();
    assert!(err.contains("3 values"), "{err}");
    let mut bad = v.clone();
    bad[2] = f32::NAN;
    let err = b.add_item(9, None, &bad).unwrap_err().to_string();
    assert!(err.contains("embedding[2]"), "{err}");
    assert_eq!(b.num_items(), 3_000 + added + 2);
    assert!(b.item(9).is_err());
}
