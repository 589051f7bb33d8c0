//! The real `recommend` binary on 127.0.0.1:0 over a real bundle: answers
//! equal exact search over the bundle, bad requests get a 4xx naming the
//! problem, /metrics counts them, a corrupt bundle is refused at start and
//! on reload (the old one serves on), and reloads under load fail no
//! request. The gRPC calls give the HTTP answers, and a watched job directory
//! serves its new LATEST version.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use rand::{Rng, SeedableRng};
use tessera_bundle::{write, AnnOptions, Bundle, Content, GraphRef};
use tessera_tests::http::{get, request};
use tessera_tests::ChildProcess;

const DIM: usize = 16;

/// Writes a bundle of `users` × `items` random vectors under `root/toy`.
fn bundle(root: &Path, users: usize, items: usize, seed: u64) -> PathBuf {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let user_ids: Vec<u64> = (0..users as u64).map(|u| 10 + u).collect();
    let item_ids: Vec<u64> = (0..items as u64).map(|i| 100_000 + i).collect();
    let users_v: Vec<f32> = (0..users * DIM).map(|_| rng.random_range(-1f32..1.)).collect();
    let items_v: Vec<f32> = (0..items * DIM).map(|_| rng.random_range(-1f32..1.)).collect();
    let categories: Vec<Option<u64>> = (0..items as u64).map(|i| Some(i % 9)).collect();
    let seen: Vec<Vec<u32>> =
        (0..users).map(|u| vec![(u % items) as u32, ((u * 13 + 5) % items) as u32]).collect();
    let metrics = BTreeMap::new();
    let graph = GraphRef { path: "synthetic".into(), fingerprint: 0 };
    let content = Content {
        job: "toy",
        model: "hgt",
        spec_toml: "",
        metrics: &metrics,
        graph: &graph,
        dim: DIM,
        user_ids: &user_ids,
        user_vectors: &users_v,
        item_ids: &item_ids,
        item_categories: &categories,
        item_vectors: &items_v,
        seen: &seen,
        extra: &[],
        states: &[],
        source: None,
        seed,
    };
    write(root, &content, &AnnOptions { min_items: 5_000, threads: 2, ..AnnOptions::default() }).unwrap().0
}

/// The service on `bundle`: the process, its HTTP and its gRPC address.
fn start_both(bundle: &Path) -> (ChildProcess, String, String) {
    let mut command = tessera_tests::command("recommend").unwrap();
    command
        .arg("--bundle")
        .arg(bundle)
        .args(["--listen", "127.0.0.1:0", "--grpc-listen", "127.0.0.1:0", "--watch", "0s"])
        .env("RUST_LOG", "warn");
    let (child, values) =
        ChildProcess::spawn_reporting("recommend", &mut command, &["LISTENING ", "GRPC "]).unwrap();
    (child, values[0].clone(), values[1].clone())
}

fn start(bundle: &Path) -> (ChildProcess, String) {
    let (child, http, _) = start_both(bundle);
    (child, http)
}

/// The gRPC calls give the HTTP answers, and the same errors as codes.
fn grpc_agrees(addr: &str, http: &str) {
    use tessera_proto::recommend::v1::recommender_client::RecommenderClient;
    use tessera_proto::recommend::v1::{RecommendRequest, SimilarRequest};
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut client = RecommenderClient::connect(format!("http://{addr}")).await.unwrap();
        let r = client.recommend(RecommendRequest { user: 57, k: 10, ..Default::default() }).await.unwrap();
        let got: Vec<u64> = r.into_inner().items.iter().map(|i| i.item).collect();
        let want = items_of(&get(http, "/v1/users/57/recommendations?k=10").unwrap().json().unwrap());
        assert_eq!(got, want);
        let r = client.similar(SimilarRequest { item: 100_007, k: 5, exact: false }).await.unwrap();
        let got: Vec<u64> = r.into_inner().items.iter().map(|i| i.item).collect();
        assert_eq!(got, items_of(&get(http, "/v1/items/100007/similar?k=5").unwrap().json().unwrap()));
        let e = client.recommend(RecommendRequest { user: 5, ..Default::default() }).await.unwrap_err();
        assert_eq!((e.code(), e.message()), (tonic::Code::NotFound, "unknown user 5"));
        let e =
            client.recommend(RecommendRequest { user: 10, k: 1001, ..Default::default() }).await.unwrap_err();
        assert_eq!(e.code(), tonic::Code::InvalidArgument);
        assert!(e.message().contains("k = 1001 is out of range"), "{}", e.message());
    });
}

fn items_of(v: &serde_json::Value) -> Vec<u64> {
    v["items"].as_array().unwrap().iter().map(|i| i["item"].as_u64().unwrap()).collect()
}

#[test]
fn answers_match_exact_search_and_bad_requests_get_4xx() {
    let root = tempfile::tempdir().unwrap();
    let dir = bundle(root.path(), 200, 2_000, 1);
    let (_service, addr, grpc) = start_both(&root.path().join("toy"));
    let local = Bundle::open(&dir).unwrap();
    for user in [10u64, 57, 209] {
        let r = get(&addr, &format!("/v1/users/{user}/recommendations?k=10")).unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
        let v = r.json().unwrap();
        let want: Vec<u64> = local
            .recommend(local.user(user).unwrap(), 10, true, true)
            .unwrap()
            .iter()
            .map(|s| local.item_id(s.item))
            .collect();
        assert_eq!(items_of(&v), want, "user {user}");
        let first = &v["items"][0];
        assert_eq!(first["rank"], 1);
        assert_eq!(first["category"].as_u64().unwrap(), (first["item"].as_u64().unwrap() - 100_000) % 9);
        assert!(first["score"].as_f64().unwrap() >= v["items"][9]["score"].as_f64().unwrap());
        // Seen items come back only when asked to.
        let seen: Vec<u64> =
            local.seen(local.user(user).unwrap()).iter().map(|&i| local.item_id(i)).collect();
        let all = get(&addr, &format!("/v1/users/{user}/recommendations?k=1000&candidates=2000")).unwrap();
        assert!(items_of(&all.json().unwrap()).iter().all(|i| !seen.contains(i)));
        let with =
            get(&addr, &format!("/v1/users/{user}/recommendations?k=1000&exclude_seen=false")).unwrap();
        assert_eq!(items_of(&with.json().unwrap()).len(), 1000);
    }
    let similar = get(&addr, "/v1/items/100007/similar?k=5").unwrap();
    assert_eq!(similar.status, 200);
    let similar = items_of(&similar.json().unwrap());
    assert_eq!(similar.len(), 5);
    assert!(!similar.contains(&100_007));
    for (path, status, needle) in [
        ("/v1/users/5/recommendations", 404, "unknown user 5"),
        ("/v1/items/3/similar", 404, "unknown item 3"),
        ("/v1/users/10/recommendations?k=0", 400, "k = 0 is out of range"),
        ("/v1/users/10/recommendations?k=1001", 400, "k = 1001 is out of range"),
        ("/v1/users/abc/recommendations", 400, "user id \"abc\" is not an unsigned integer"),
        ("/v1/users/10/recommendations?topk=3", 400, "unknown query parameter \"topk\""),
        ("/v1/users/10/recommendations?k=50&candidates=20", 400, "candidates = 20 is fewer than k = 50"),
    ] {
        let r = get(&addr, path).unwrap();
        assert_eq!(r.status, status, "{path}: {}", r.body);
        let error = r.json().unwrap()["error"].as_str().unwrap().to_owned();
        assert!(error.contains(needle), "{path}: {error}");
    }
    let r = request(&addr, "POST", "/admin/reload", b"{not json").unwrap();
    assert_eq!(r.status, 400);
    assert!(r.body.contains("malformed JSON body"), "{}", r.body);
    let r = request(&addr, "POST", "/admin/reload", &vec![b' '; 200_000]).unwrap();
    assert_eq!(r.status, 413, "an oversized body");
    assert_eq!(get(&addr, "/healthz").unwrap().status, 200);
    let ready = get(&addr, "/readyz").unwrap().json().unwrap();
    assert_eq!(
        (ready["version"].as_u64(), ready["items"].as_u64(), ready["ann"].as_bool()),
        (Some(1), Some(2000), Some(false))
    );
    grpc_agrees(&grpc, &addr);
    let metrics = get(&addr, "/metrics").unwrap().body;
    for needle in [
        "tessera_recommend_requests_total{route=\"/v1/users/{id}/recommendations\",status=\"200\"} 10",
        "tessera_recommend_requests_total{route=\"/v1/users/{id}/recommendations\",status=\"404\"} 1",
        "tessera_recommend_request_seconds_bucket",
        "tessera_recommend_index_items 2000",
        "tessera_recommend_bundle_version 1",
        "tessera_recommend_requests_total{route=\"grpc Recommend\",status=\"5\"} 1",
    ] {
        assert!(metrics.contains(needle), "/metrics lacks {needle}:\n{metrics}");
    }
}

#[test]
fn a_corrupt_bundle_is_refused_at_start_and_on_reload() {
    let root = tempfile::tempdir().unwrap();
    let good = bundle(root.path(), 50, 300, 2);
    let (_service, addr) = start(&good);
    let bad = bundle(root.path(), 50, 300, 3);
    let path = bad.join("user_embeddings.npy");
    let mut bytes = std::fs::read(&path).unwrap();
    let n = bytes.len();
    bytes[n - 3] ^= 0x55;
    std::fs::write(&path, bytes).unwrap();
    // At start: the process exits with the reason.
    let out = tessera_tests::command("recommend")
        .unwrap()
        .arg("--bundle")
        .arg(&bad)
        .args(["--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("refusing to start")
            && stderr.contains("user_embeddings.npy")
            && stderr.contains("CRC32"),
        "{stderr}"
    );
    let out = tessera_tests::command("recommend")
        .unwrap()
        .args(["--bundle", "/nonexistent", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("neither manifest.json nor LATEST"));
    // On reload: 422, and version 1 serves on.
    let body = serde_json::json!({ "bundle": bad }).to_string();
    let r = request(&addr, "POST", "/admin/reload", body.as_bytes()).unwrap();
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("old bundle serves on") && r.body.contains("user_embeddings.npy"), "{}", r.body);
    assert_eq!(get(&addr, "/readyz").unwrap().json().unwrap()["version"], 1);
    assert_eq!(get(&addr, "/v1/users/10/recommendations").unwrap().status, 200);
    // A good new version is taken.
    let third = bundle(root.path(), 50, 300, 4);
    let body = serde_json::json!({ "bundle": third }).to_string();
    let r = request(&addr, "POST", "/admin/reload", body.as_bytes()).unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json().unwrap()["version"], 3);
}

#[test]
fn admin_calls_need_the_admin_token_when_the_service_has_one() {
    use tessera_tests::http::request_with;
    let root = tempfile::tempdir().unwrap();
    bundle(root.path(), 50, 300, 1);
    let token = root.path().join("admin-token");
    std::fs::write(&token, "adm1n-secret\n").unwrap();
    let mut command = tessera_tests::command("recommend").unwrap();
    command
        .arg("--bundle")
        .arg(root.path().join("toy"))
        .args(["--listen", "127.0.0.1:0", "--watch", "0s", "--admin-token-file"])
        .arg(&token)
        .env("RUST_LOG", "warn");
    let (_service, values) =
        ChildProcess::spawn_reporting("recommend", &mut command, &["LISTENING "]).unwrap();
    let addr = &values[0];
    let r = request(addr, "POST", "/admin/reload", b"").unwrap();
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(r.body.contains("Authorization: Bearer"), "{}", r.body);
    let r = request_with(addr, "POST", "/admin/reload", b"", &[("Authorization", "Bearer nope")]).unwrap();
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(!r.body.contains("adm1n"), "{}", r.body);
    let r = request_with(addr, "POST", "/admin/reload", b"", &[("Authorization", "Bearer adm1n-secret")])
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    // Serving needs no token.
    assert_eq!(get(addr, "/v1/users/10/recommendations?k=5").unwrap().status, 200);
    // A token file that cannot be read stops the start, naming it.
    let out = tessera_tests::command("recommend")
        .unwrap()
        .arg("--bundle")
        .arg(root.path().join("toy"))
        .args(["--listen", "127.0.0.1:0", "--admin-token-file", "/nonexistent/token"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("read token file /nonexistent/token"), "{err}");
}

#[test]
fn ten_reloads_under_load_fail_no_request() {
    let root = tempfile::tempdir().unwrap();
    bundle(root.path(), 500, 8_000, 5);
    let (_service, addr) = start(&root.path().join("toy"));
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let clients: Vec<_> = (0..4)
        .map(|t| {
            let (addr, stop, ok, failed) = (addr.clone(), stop.clone(), ok.clone(), failed.clone());
            std::thread::spawn(move || {
                let mut u = t;
                while !stop.load(Ordering::Relaxed) {
                    u = (u + 7) % 500;
                    match get(&addr, &format!("/v1/users/{}/recommendations?k=20", 10 + u)) {
                        Ok(r) if r.status == 200 && items_of(&r.json().unwrap()).len() == 20 => {
                            ok.fetch_add(1, Ordering::Relaxed)
                        }
                        _ => failed.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();
    for round in 0..10 {
        // Alternate between a new version (via LATEST) and the same one.
        if round % 2 == 0 {
            bundle(root.path(), 500, 8_000, 10 + round);
        }
        let r = request(&addr, "POST", "/admin/reload", b"").unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
    }
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    assert_eq!(get(&addr, "/readyz").unwrap().json().unwrap()["version"], 6);
    assert!(ok.load(Ordering::Relaxed) > 50, "{} requests", ok.load(Ordering::Relaxed));
    assert_eq!(failed.load(Ordering::Relaxed), 0, "failed requests during reloads");
}

#[test]
fn a_watched_job_directory_serves_its_new_latest_version() {
    let root = tempfile::tempdir().unwrap();
    bundle(root.path(), 30, 100, 6);
    let mut command = tessera_tests::command("recommend").unwrap();
    command
        .arg("--bundle")
        .arg(root.path().join("toy"))
        .args(["--listen", "127.0.0.1:0", "--watch", "200ms"])
        .env("RUST_LOG", "warn");
    let (_service, values) =
        ChildProcess::spawn_reporting("recommend", &mut command, &["LISTENING "]).unwrap();
    let addr = &values[0];
    assert_eq!(get(addr, "/readyz").unwrap().json().unwrap()["version"], 1);
    bundle(root.path(), 30, 100, 7);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while get(addr, "/readyz").unwrap().json().unwrap()["version"] != 2 {
        assert!(std::time::Instant::now() < deadline, "version 2 was not picked up");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let metrics = get(addr, "/metrics").unwrap().body;
    assert!(metrics.contains("tessera_recommend_reloads_total{outcome=\"ok\"} 1"), "{metrics}");
}

/// The gRPC listener on mutual TLS: a client with a certificate of the
/// service's CA is answered; one from another CA, or plaintext, is refused;
/// and `--grpc-listen` without certificates or `--insecure` does not start.
#[test]
fn the_grpc_listener_serves_only_peers_with_a_certificate_of_its_ca() {
    use tessera_proto::recommend::v1::recommender_client::RecommenderClient;
    use tessera_proto::recommend::v1::RecommendRequest;
    use tessera_runtime::tls::{Tls, TlsFiles};
    let root = tempfile::tempdir().unwrap();
    bundle(root.path(), 50, 300, 3);
    let (ours, theirs) = (root.path().join("ours"), root.path().join("theirs"));
    tessera_runtime::certs::write_dev_certs(&ours, &[], "test").unwrap();
    tessera_runtime::certs::write_dev_certs(&theirs, &[], "test").unwrap();
    let recommend = |security: &[&std::ffi::OsStr]| {
        let mut command = tessera_tests::command("recommend").unwrap();
        command
            .env_remove("TESSERA_INSECURE")
            .arg("--bundle")
            .arg(root.path().join("toy"))
            .args(["--listen", "127.0.0.1:0", "--grpc-listen", "127.0.0.1:0", "--watch", "0s"])
            .args(security)
            .env("RUST_LOG", "warn");
        command
    };
    let bare = recommend(&[]).output().unwrap();
    let text = String::from_utf8_lossy(&bare.stderr);
    assert!(!bare.status.success() && text.contains("no TLS certificates"), "{text}");
    let (_service, values) = ChildProcess::spawn_reporting(
        "recommend",
        &mut recommend(&["--tls-dir".as_ref(), ours.as_os_str()]),
        &["LISTENING ", "GRPC "],
    )
    .unwrap();
    let grpc = values[1].clone();
    let ask = |tls: Tls| {
        let grpc = grpc.clone();
        async move {
            let channel = tls.endpoint(&grpc)?.connect().await?;
            let request = RecommendRequest { user: 12, k: 5, ..Default::default() };
            let items = RecommenderClient::new(channel).recommend(request).await?.into_inner().items;
            anyhow::Ok(items.len())
        }
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = Tls::from_files(&TlsFiles::in_dir(&ours, "client")).unwrap();
        assert_eq!(ask(client).await.unwrap(), 5);
        let stranger = Tls::from_files(&TlsFiles::in_dir(&theirs, "client")).unwrap();
        assert!(ask(stranger).await.is_err(), "a certificate of another CA was served");
        assert!(ask(Tls::insecure()).await.is_err(), "a plaintext client was served");
    });
}
