//! Parameter-server benchmark, all in one run on loopback: two shards, dim
//! 64, Adagrad, batches of 4,096 ids. It measures pull and push rows/s with
//! f32, f16 and f16+zstd through the sharded client, next to a plain tonic
//! echo service (two servers, the same two parallel requests per batch)
//! moving the f32 payload of the same rows, and reports the ratios. The modes
//! run interleaved, in rounds, and each ratio is the median over rounds of
//! the mode's rate against the echo's in the same round, so a machine that
//! slows down mid-run moves both sides of a ratio together. It also
//! measures the bytes f16 and f16+zstd send for gradients with a realistic
//! distribution, against f32.
//!
//! Run with `cargo bench -p ps-server --bench ps` (or `make bench`). Extra
//! arguments name the encodings to measure (`f32`, `f16`, `f16+zstd`);
//! with none, all three run.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use ps_client::codec::encode_values;
use ps_client::{ClientOptions, Fence, ShardedClient};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tessera_proto::bench::v1::echo_client::EchoClient;
use tessera_proto::bench::v1::echo_server::{Echo, EchoServer};
use tessera_proto::bench::v1::{EchoRequest, EchoResponse};
use tessera_proto::common::v1::{Compression, ValueEncoding};
use tessera_proto::ps::v1 as pb;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_stream::StreamExt as _;
use tokio_util::sync::CancellationToken;

const DIM: usize = 64;
const BATCH: usize = 4096;
const NUM_IDS: u64 = 1_000_000;
const CONCURRENCY: usize = 2;
/// Measuring rounds; each runs every mode once for WINDOW.
const ROUNDS: usize = 7;
const WINDOW: Duration = Duration::from_millis(700);

#[derive(Debug, Default)]
struct EchoService;

#[tonic::async_trait]
impl Echo for EchoService {
    async fn echo(
        &self,
        request: tonic::Request<EchoRequest>,
    ) -> Result<tonic::Response<EchoResponse>, tonic::Status> {
        let n = request.into_inner().reply_bytes as usize;
        Ok(tonic::Response::new(EchoResponse { payload: vec![7u8; n].into() }))
    }
}

async fn start_echo(shutdown: CancellationToken) -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    // The same transport settings as the shards: TCP_NODELAY and large HTTP/2 windows.
    let incoming = TcpListenerStream::new(listener).map(|s| s.inspect(|s| drop(s.set_nodelay(true))));
    tokio::spawn(
        tonic::transport::Server::builder()
            .initial_stream_window_size(Some(ps_client::wire::H2_STREAM_WINDOW))
            .initial_connection_window_size(Some(ps_client::wire::H2_CONNECTION_WINDOW))
            .add_service(
                EchoServer::new(EchoService)
                    .max_decoding_message_size(64 << 20)
                    .max_encoding_message_size(64 << 20),
            )
            .serve_with_incoming_shutdown(incoming, shutdown.cancelled_owned()),
    );
    Ok(addr)
}

async fn start_shard(shard: u32, shutdown: CancellationToken) -> anyhow::Result<SocketAddr> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let config = ps_server::ServerConfig::new("127.0.0.1:0".parse()?, shard, 2);
    tokio::spawn(async move {
        if let Err(e) = ps_server::run(config, shutdown, |b| {
            let _ = tx.send(b.grpc);
        })
        .await
        {
            eprintln!("shard {shard} failed: {e:#}");
        }
    });
    Ok(rx.await?)
}

fn batch(rng: &mut ChaCha8Rng) -> Vec<u64> {
    (0..BATCH).map(|_| rng.random_range(0..NUM_IDS)).collect()
}

/// Gradients shaped like BPR embedding gradients: per-row scale log-normal
/// (most rows get tiny updates), values normal within a row.
fn realistic_grads(rng: &mut ChaCha8Rng, rows: usize) -> Vec<f32> {
    let mut normal = || {
        let (u1, u2): (f64, f64) = (rng.random::<f64>().max(1e-12), rng.random());
        ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
    };
    let mut out = Vec::with_capacity(rows * DIM);
    for _ in 0..rows {
        let scale = (-6.0 + 1.5 * normal()).exp();
        for _ in 0..DIM {
            out.push(scale * 0.01 * normal());
        }
    }
    out
}

/// One measured operation: `step(i)` moves batch number `i`.
type Step = Arc<dyn Fn(u64) -> BoxFuture<'static, anyhow::Result<()>> + Send + Sync>;

/// Runs `step` from CONCURRENCY tasks for `window`; returns batches per second.
async fn rate(step: &Step, window: Duration) -> anyhow::Result<f64> {
    let start = Instant::now();
    let tasks: Vec<_> = (0..CONCURRENCY as u64)
        .map(|t| {
            let step = step.clone();
            tokio::spawn(async move {
                let mut n = 0u64;
                while start.elapsed() < window {
                    step(t * 1_000_000 + n).await?;
                    n += 1;
                }
                anyhow::Ok(n)
            })
        })
        .collect();
    let mut total = 0;
    for t in tasks {
        total += t.await??;
    }
    Ok(total as f64 / start.elapsed().as_secs_f64())
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let shutdown = CancellationToken::new();
    let shards = [start_shard(0, shutdown.clone()).await?, start_shard(1, shutdown.clone()).await?];
    let endpoints: Vec<String> = shards.iter().map(|a| format!("http://{a}")).collect();
    let echo_addrs = [start_echo(shutdown.clone()).await?, start_echo(shutdown.clone()).await?];
    let mut echoes = Vec::new();
    for a in echo_addrs {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{a}"))?
            .tcp_nodelay(true)
            .initial_stream_window_size(ps_client::wire::H2_STREAM_WINDOW)
            .initial_connection_window_size(ps_client::wire::H2_CONNECTION_WINDOW)
            .connect()
            .await?;
        echoes.push(
            EchoClient::new(channel).max_decoding_message_size(64 << 20).max_encoding_message_size(64 << 20),
        );
    }
    let spec = pb::TableSpec {
        name: "item".into(),
        dim: DIM as u32,
        optimizer: Some(pb::OptimizerSpec {
            kind: Some(pb::optimizer_spec::Kind::Adagrad(pb::Adagrad {
                lr: 0.05,
                initial_accumulator: 0.1,
                eps: 1e-8,
            })),
            weight_decay: 0.0,
        }),
        init: Some(pb::InitSpec { kind: Some(pb::init_spec::Kind::UniformBound(0.01)), seed: 1 }),
        num_ids: NUM_IDS,
        non_finite: 0,
        clip_value: 0.0,
    };
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let batches: Arc<Vec<Vec<u64>>> = Arc::new((0..64).map(|_| batch(&mut rng)).collect());
    let grads = Arc::new(realistic_grads(&mut rng, BATCH));
    // Pre-touch the rows so pulls read materialised rows.
    let warm = ShardedClient::new(&endpoints, ClientOptions::default())?;
    warm.create_table(&spec).await?;
    for ids in batches.iter() {
        warm.push("item", ids, &grads, DIM, Fence::NONE, 0).await?;
    }

    // Echo: the f32 payload of a batch, split over the two servers like the shards.
    let half = (BATCH * DIM * 4 / 2) as u64;
    let echo = |request_bytes: u64, reply_bytes: u64| -> Step {
        let echoes = echoes.clone();
        Arc::new(move |_| {
            let echoes = echoes.clone();
            Box::pin(async move {
                futures::future::try_join_all(echoes.into_iter().map(|mut e| async move {
                    let payload = vec![1u8; request_bytes as usize].into();
                    e.echo(EchoRequest { payload, reply_bytes }).await
                }))
                .await?;
                Ok(())
            })
        })
    };
    // (label, direction: 0 = server→client, 1 = client→server, step)
    let mut modes: Vec<(String, usize, Step)> = vec![
        ("echo, server→client".into(), 0, echo(0, half)),
        ("echo, client→server".into(), 1, echo(half, 0)),
    ];
    let only: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    for (label, encoding, compression) in [
        ("f32", ValueEncoding::F32, Compression::None),
        ("f16", ValueEncoding::F16, Compression::None),
        ("f16+zstd", ValueEncoding::F16, Compression::Zstd),
    ]
    .into_iter()
    .filter(|(label, ..)| only.is_empty() || only.iter().any(|o| o == label))
    {
        let client = ShardedClient::new(
            &endpoints,
            ClientOptions { encoding, compression, ..ClientOptions::default() },
        )?;
        let pull: Step = {
            let (client, batches) = (client.clone(), batches.clone());
            Arc::new(move |i| {
                let (client, batches) = (client.clone(), batches.clone());
                Box::pin(async move {
                    client.pull("item", &batches[i as usize % batches.len()], 0).await?;
                    Ok(())
                })
            })
        };
        let push: Step = {
            let (client, batches, grads) = (client, batches.clone(), grads.clone());
            Arc::new(move |i| {
                let (client, batches, grads) = (client.clone(), batches.clone(), grads.clone());
                Box::pin(async move {
                    Ok(client
                        .push("item", &batches[i as usize % batches.len()], &grads, DIM, Fence::NONE, 0)
                        .await?)
                })
            })
        };
        modes.push((format!("pull {label}"), 0, pull));
        modes.push((format!("push {label} (Adagrad)"), 1, push));
    }

    // Rounds: every mode runs once per round, back to back, so each ratio
    // compares windows a few seconds apart rather than a whole run apart.
    for (_, _, step) in &modes {
        for i in 0..4 {
            step(i).await?; // warm up connections and code paths
        }
    }
    let mut rates = vec![Vec::new(); modes.len()];
    for _ in 0..ROUNDS {
        for ((_, _, step), rates) in modes.iter().zip(&mut rates) {
            rates.push(rate(step, WINDOW).await?);
        }
    }
    let rows = |batches_per_sec: f64| batches_per_sec * BATCH as f64;
    let mb = |r: f64| r * (DIM * 4) as f64 / 1e6;
    println!(
        "ps-server benchmark: 2 shards, dim {DIM}, batches of {BATCH} ids, Adagrad, {CONCURRENCY} concurrent \
         clients, loopback; {ROUNDS} rounds of {WINDOW:?} per mode, interleaved"
    );
    println!(
        "{:<26} {:>12} {:>14} {:>10} {:>16}",
        "", "rows/s", "MB/s (f32 eq)", "vs echo", "range of rounds"
    );
    for ((label, direction, _), r) in modes.iter().zip(&rates) {
        let ratios: Vec<f64> = r.iter().zip(&rates[*direction]).map(|(a, e)| a / e).collect();
        let (lo, hi) = ratios.iter().fold((f64::MAX, 0f64), |(lo, hi), &x| (lo.min(x), hi.max(x)));
        println!(
            "{label:<26} {:>12.0} {:>14.0} {:>10.2} {:>16}",
            rows(median(r.clone())),
            mb(rows(median(r.clone()))),
            median(ratios),
            format!("{lo:.2}–{hi:.2}")
        );
    }
    let f32_bytes = encode_values(&grads, ValueEncoding::F32, Compression::None)?.data.len() as f64;
    let f16_bytes = encode_values(&grads, ValueEncoding::F16, Compression::None)?.data.len() as f64;
    let zstd_bytes = encode_values(&grads, ValueEncoding::F16, Compression::Zstd)?.data.len() as f64;
    println!(
        "gradient bytes per batch (log-normal row scales): f32 {f32_bytes:.0}, f16 {f16_bytes:.0} ({:.3}×), f16+zstd {zstd_bytes:.0} ({:.3}×)",
        f16_bytes / f32_bytes,
        zstd_bytes / f32_bytes
    );
    shutdown.cancel();
    Ok(())
}
