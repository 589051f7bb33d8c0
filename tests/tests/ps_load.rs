//! Load on two real `ps-server` shards: 16 concurrent clients, each with its
//! own connections, mix pulls and pushes of random rows (f16 + zstd on the
//! wire, as the workers send them) for `TESSERA_PS_LOAD_SECS` seconds (20 by
//! default; 60 for the figures in the README). No request may fail, and no
//! update may be lost: with plain SGD at lr 1 from zero rows and gradients
//! that f16 carries exactly, every row must end as minus the sum of the
//! gradients pushed to it, to the bit. The p50/p99 latencies and the request
//! rate are printed.

use std::time::{Duration, Instant};

use ps_client::{ClientOptions, Fence, ShardedClient};
use tessera_proto::common::v1::{Compression, ValueEncoding};
use tessera_proto::ps::v1 as pb;
use tessera_tests::ps::start_ps_server;

const CLIENTS: usize = 16;
const DIM: usize = 16;
const NUM_IDS: u64 = 50_000;
const BATCH: usize = 256;

/// SplitMix64: a seeded stream without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// What one client did: the gradient sums it pushed per value, and its
/// latencies in seconds for pulls and pushes.
struct Load {
    sums: Vec<f64>,
    pulls: Vec<f64>,
    pushes: Vec<f64>,
}

async fn client_load(endpoints: Vec<String>, seed: u64, until: Instant) -> anyhow::Result<Load> {
    let client = ShardedClient::new(&endpoints, ClientOptions::default())?;
    let mut rng = Rng(seed);
    let mut load = Load { sums: vec![0.0; NUM_IDS as usize * DIM], pulls: Vec::new(), pushes: Vec::new() };
    // Binary fractions that f16 and f32 carry exactly, summed exactly too.
    const STEPS: [f32; 6] = [-2.0, -1.0, -0.5, 0.5, 1.0, 2.0];
    let mut clock = 0;
    while Instant::now() < until {
        let ids: Vec<u64> = (0..BATCH).map(|_| rng.next() % NUM_IDS).collect();
        let started = Instant::now();
        if rng.next().is_multiple_of(2) {
            client.pull("load", &ids, clock).await?;
            load.pulls.push(started.elapsed().as_secs_f64());
        } else {
            let grads: Vec<f32> = (0..BATCH * DIM).map(|_| STEPS[(rng.next() % 6) as usize]).collect();
            client.push("load", &ids, &grads, DIM, Fence::NONE, clock).await?;
            load.pushes.push(started.elapsed().as_secs_f64());
            for (k, &id) in ids.iter().enumerate() {
                for d in 0..DIM {
                    load.sums[id as usize * DIM + d] += f64::from(grads[k * DIM + d]);
                }
            }
        }
        clock += 1;
    }
    Ok(load)
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    sorted.get(((sorted.len().max(1) - 1) as f64 * q).round() as usize).copied().unwrap_or(f64::NAN)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_clients_mix_pulls_and_pushes_with_no_error_and_no_lost_update() -> anyhow::Result<()> {
    let secs: u64 = std::env::var("TESSERA_PS_LOAD_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(20);
    let shards = [start_ps_server(0, 2)?, start_ps_server(1, 2)?];
    let endpoints: Vec<String> = shards.iter().map(|(_, addr)| format!("http://{addr}")).collect();
    let setup = ShardedClient::new(&endpoints, ClientOptions::default())?;
    setup
        .create_table(&pb::TableSpec {
            name: "load".into(),
            dim: DIM as u32,
            optimizer: Some(pb::OptimizerSpec {
                kind: Some(pb::optimizer_spec::Kind::Sgd(pb::Sgd { lr: 1.0 })),
                weight_decay: 0.0,
            }),
            init: Some(pb::InitSpec { kind: Some(pb::init_spec::Kind::Zeros(true)), seed: 0 }),
            num_ids: NUM_IDS,
            non_finite: 0,
            clip_value: 0.0,
        })
        .await?;
    let started = Instant::now();
    let until = started + Duration::from_secs(secs);
    let tasks: Vec<_> =
        (0..CLIENTS).map(|c| tokio::spawn(client_load(endpoints.clone(), 1000 + c as u64, until))).collect();
    let mut loads = Vec::new();
    for task in tasks {
        loads.push(task.await??); // any failed request fails the test here
    }
    let elapsed = started.elapsed().as_secs_f64();
    // No lost update: every value is minus the sum of what was pushed to it.
    let exact = ClientOptions {
        encoding: ValueEncoding::F32,
        compression: Compression::None,
        ..ClientOptions::default()
    };
    let check = ShardedClient::new(&endpoints, exact)?;
    let mut expected = vec![0f64; NUM_IDS as usize * DIM];
    for load in &loads {
        for (e, s) in expected.iter_mut().zip(&load.sums) {
            *e -= s;
        }
    }
    let mut wrong = 0;
    for start in (0..NUM_IDS).step_by(5_000) {
        let ids: Vec<u64> = (start..(start + 5_000).min(NUM_IDS)).collect();
        let (values, dim) = check.pull("load", &ids, 0).await?;
        assert_eq!(dim, DIM);
        for (k, &v) in values.iter().enumerate() {
            if f64::from(v) != expected[start as usize * DIM + k] {
                wrong += 1;
            }
        }
    }
    let mut pulls: Vec<f64> = loads.iter().flat_map(|l| l.pulls.iter().copied()).collect();
    let mut pushes: Vec<f64> = loads.iter().flat_map(|l| l.pushes.iter().copied()).collect();
    pulls.sort_by(f64::total_cmp);
    pushes.sort_by(f64::total_cmp);
    let ms = |x: f64| x * 1e3;
    eprintln!(
        "{CLIENTS} clients, {elapsed:.1} s: {} pulls, {} pushes of {BATCH} rows × {DIM} ({:.0} requests/s); \
         pull p50 {:.2} ms p99 {:.2} ms; push p50 {:.2} ms p99 {:.2} ms; {wrong} values off",
        pulls.len(),
        pushes.len(),
        (pulls.len() + pushes.len()) as f64 / elapsed,
        ms(quantile(&pulls, 0.5)),
        ms(quantile(&pulls, 0.99)),
        ms(quantile(&pushes, 0.5)),
        ms(quantile(&pushes, 0.99)),
    );
    assert!(!pushes.is_empty() && !pulls.is_empty());
    assert!(
        expected.iter().filter(|&&e| e != 0.0).count() > NUM_IDS as usize,
        "the check compared real sums"
    );
    assert_eq!(wrong, 0, "lost or corrupted updates");
    Ok(())
}
