//! Two real ps-server shards on loopback: concurrent SGD pushes over gRPC
//! from many clients lose no update, and a bad push over the wire is refused
//! with INVALID_ARGUMENT while the rows stay as they were.

use ps_client::codec::{decode_values, encode_ids, encode_values};
use ps_client::routing::shard_of;
use tessera_proto::common::v1::{Compression, IdEncoding, ValueEncoding};
use tessera_proto::ps::v1 as pb;
use tessera_proto::ps::v1::parameter_server_client::ParameterServerClient;
use tessera_tests::ps::start_ps_server;
use tonic::transport::Channel;

const NUM_SHARDS: u32 = 2;
const DIM: usize = 8;

fn table_spec() -> pb::TableSpec {
    pb::TableSpec {
        name: "item".into(),
        dim: DIM as u32,
        optimizer: Some(pb::OptimizerSpec {
            kind: Some(pb::optimizer_spec::Kind::Sgd(pb::Sgd { lr: 1.0 })),
            weight_decay: 0.0,
        }),
        init: Some(pb::InitSpec { kind: Some(pb::init_spec::Kind::Zeros(true)), seed: 1 }),
        num_ids: 1000,
        non_finite: 0,
        clip_value: 0.0,
    }
}

async fn pull(client: &mut ParameterServerClient<Channel>, ids: &[u64]) -> anyhow::Result<Vec<f32>> {
    let response = client
        .pull(pb::PullRequest {
            table: "item".into(),
            ids: Some(encode_ids(ids, IdEncoding::DeltaVarint)?),
            encoding: ValueEncoding::F32 as i32,
            compression: Compression::Zstd as i32,
            worker_id: String::new(),
            clock: 0,
        })
        .await?
        .into_inner();
    Ok(decode_values(&response.rows.unwrap_or_default(), ids.len() * DIM)?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_sgd_over_grpc_equals_the_sum_of_pushes() -> anyhow::Result<()> {
    let shards: Vec<_> =
        (0..NUM_SHARDS).map(|s| start_ps_server(s, NUM_SHARDS)).collect::<anyhow::Result<_>>()?;
    let mut clients = Vec::new();
    for (_, endpoint) in &shards {
        let mut client = ParameterServerClient::connect(format!("http://{endpoint}")).await?;
        client.create_table(pb::CreateTableRequest { spec: Some(table_spec()) }).await?;
        clients.push(client);
    }
    // 8 clients × 50 steps, each pushing gradient (1, 2, …) for 64 ids split by shard.
    let mut tasks = Vec::new();
    for worker in 0..8u64 {
        let mut clients = clients.clone();
        tasks.push(tokio::spawn(async move {
            for step in 0..50u64 {
                for shard in 0..NUM_SHARDS {
                    let ids: Vec<u64> = (0..64u64)
                        .map(|k| (k * 13 + step * 7 + worker) % 1000)
                        .filter(|&id| shard_of("item", id, NUM_SHARDS) == shard)
                        .collect::<std::collections::BTreeSet<_>>()
                        .into_iter()
                        .collect();
                    let grads: Vec<f32> = ids.iter().flat_map(|_| (1..=DIM).map(|d| d as f32)).collect();
                    clients[shard as usize]
                        .push(pb::PushRequest {
                            assign: false,
                            table: "item".into(),
                            ids: Some(encode_ids(&ids, IdEncoding::DeltaVarint)?),
                            grads: Some(encode_values(&grads, ValueEncoding::F16, Compression::Zstd)?),
                            worker_id: format!("w{worker}"),
                            fencing_token: 0,
                            clock: step,
                            fencing_scope: String::new(),
                        })
                        .await?;
                }
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    let mut times = vec![0f32; 1000];
    for worker in 0..8u64 {
        for step in 0..50u64 {
            let ids: std::collections::BTreeSet<u64> =
                (0..64u64).map(|k| (k * 13 + step * 7 + worker) % 1000).collect();
            ids.iter().for_each(|&id| times[id as usize] += 1.0);
        }
    }
    for shard in 0..NUM_SHARDS {
        let ids: Vec<u64> = (0..1000).filter(|&id| shard_of("item", id, NUM_SHARDS) == shard).collect();
        let rows = pull(&mut clients[shard as usize], &ids).await?;
        for (k, id) in ids.iter().enumerate() {
            let n = times[*id as usize];
            let expected: Vec<f32> = (1..=DIM).map(|d| -n * d as f32).collect();
            assert_eq!(&rows[k * DIM..(k + 1) * DIM], &expected[..], "id {id} on shard {shard}");
        }
    }

    // A push with the wrong dimension is refused over the wire; rows unchanged.
    let ids: Vec<u64> = (0..1000).filter(|&id| shard_of("item", id, NUM_SHARDS) == 0).take(4).collect();
    let before = pull(&mut clients[0], &ids).await?;
    let status = clients[0]
        .push(pb::PushRequest {
            assign: false,
            table: "item".into(),
            ids: Some(encode_ids(&ids, IdEncoding::U64Le)?),
            grads: Some(encode_values(
                &vec![1.0; ids.len() * (DIM - 1)],
                ValueEncoding::F32,
                Compression::None,
            )?),
            worker_id: "bad".into(),
            fencing_token: 0,
            clock: 0,
            fencing_scope: String::new(),
        })
        .await
        .expect_err("wrong dimension accepted");
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("dim 8"), "{status:?}");
    assert_eq!(pull(&mut clients[0], &ids).await?, before);
    let stats = clients[0].stats(pb::StatsRequest {}).await?.into_inner();
    assert!(stats.bytes_in_wire < stats.bytes_in_raw, "zstd+f16 did not shrink the pushes: {stats:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adam_over_grpc_matches_a_reference() -> anyhow::Result<()> {
    use ps_client::{ClientOptions, Fence, ShardedClient};

    let shards: Vec<_> =
        (0..NUM_SHARDS).map(|s| start_ps_server(s, NUM_SHARDS)).collect::<anyhow::Result<_>>()?;
    let endpoints: Vec<String> = shards.iter().map(|(_, a)| format!("http://{a}")).collect();
    let options = ClientOptions {
        encoding: ValueEncoding::F32,
        compression: Compression::None,
        ..ClientOptions::default()
    };
    let client = ShardedClient::new(&endpoints, options)?;
    let (lr, b1, b2, eps, wd) = (0.01f64, 0.9f64, 0.99f64, 1e-6f64, 0.01f64);
    let mut spec = table_spec();
    spec.name = "adam".into();
    spec.init = Some(pb::InitSpec { kind: Some(pb::init_spec::Kind::UniformBound(0.1)), seed: 9 });
    spec.optimizer = Some(pb::OptimizerSpec {
        kind: Some(pb::optimizer_spec::Kind::Adam(pb::Adam {
            lr: lr as f32,
            beta1: b1 as f32,
            beta2: b2 as f32,
            eps: eps as f32,
        })),
        weight_decay: wd as f32,
    });
    client.create_table(&spec).await?;
    let ids: Vec<u64> = (0..40).collect();
    let (initial, _) = client.pull("adam", &ids, 0).await?;
    let mut w: Vec<f64> = initial.iter().map(|&x| f64::from(x)).collect();
    let (mut m, mut v) = (vec![0f64; w.len()], vec![0f64; w.len()]);
    let mut steps = vec![0i32; ids.len()];
    for t in 0..12u64 {
        // Each step touches a different subset, so lazy per-row steps differ.
        let touched: Vec<u64> = ids.iter().copied().filter(|id| (id + t) % 3 != 0).collect();
        let grads: Vec<f32> = touched
            .iter()
            .flat_map(|&id| (0..DIM).map(move |d| ((id * 7 + d as u64 + t) % 11) as f32 / 10.0 - 0.5))
            .collect();
        client.push("adam", &touched, &grads, DIM, Fence::NONE, t).await?;
        for (k, &id) in touched.iter().enumerate() {
            let r = id as usize;
            steps[r] += 1;
            let (c1, c2) = (1.0 - b1.powi(steps[r]), 1.0 - b2.powi(steps[r]));
            for d in 0..DIM {
                let i = r * DIM + d;
                let g = f64::from(grads[k * DIM + d]) + wd * w[i];
                m[i] = b1 * m[i] + (1.0 - b1) * g;
                v[i] = b2 * v[i] + (1.0 - b2) * g * g;
                w[i] -= lr * (m[i] / c1) / ((v[i] / c2).sqrt() + eps);
            }
        }
    }
    let (rows, _) = client.pull("adam", &ids, 0).await?;
    for (i, (&got, &want)) in rows.iter().zip(&w).enumerate() {
        assert!((f64::from(got) - want).abs() < 1e-4, "value {i}: {got} vs {want}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dense_parameters_round_trip_through_the_sharded_client() -> anyhow::Result<()> {
    use ps_client::dense::dense_shard_of;
    use ps_client::{ClientOptions, Fence, ShardedClient};

    let shards: Vec<_> =
        (0..NUM_SHARDS).map(|s| start_ps_server(s, NUM_SHARDS)).collect::<anyhow::Result<_>>()?;
    let endpoints: Vec<String> = shards.iter().map(|(_, a)| format!("http://{a}")).collect();
    let options = ClientOptions {
        encoding: ValueEncoding::F32,
        compression: Compression::None,
        ..ClientOptions::default()
    };
    let client = ShardedClient::new(&endpoints, options)?;
    // Names that land on different shards.
    let names: Vec<String> =
        ["hgt/0/k_lin/user/weight", "hgt/0/q_lin/item/weight", "hgt/1/a_lin/user/bias", "mlp/out"]
            .iter()
            .map(|s| s.to_string())
            .collect();
    assert!(names.iter().any(|n| dense_shard_of(n, NUM_SHARDS) == 0));
    assert!(names.iter().any(|n| dense_shard_of(n, NUM_SHARDS) == 1));
    let tensors: Vec<_> = names.iter().map(|n| (n.clone(), vec![2, 3], vec![1.0f32; 6])).collect();
    let sgd = pb::OptimizerSpec {
        kind: Some(pb::optimizer_spec::Kind::Sgd(pb::Sgd { lr: 0.5 })),
        weight_decay: 0.0,
    };
    client.init_dense(&tensors, &sgd).await?;
    let grads: Vec<_> = names.iter().map(|n| (n.clone(), vec![2, 3], vec![2.0f32; 6])).collect();
    client.push_dense(&grads, Fence::NONE).await?;
    let pulled = client.pull_dense(&names).await?;
    for ((name, shape, values), expected) in pulled.iter().zip(&names) {
        assert_eq!(name, expected);
        assert_eq!(shape, &vec![2, 3]);
        assert_eq!(values, &vec![0.0f32; 6], "{name}");
    }
    let err =
        client.push_dense(&[(names[0].clone(), vec![3, 2], vec![1.0; 6])], Fence::NONE).await.unwrap_err();
    assert!(format!("{err:#}").contains("differs"), "{err:#}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sharded_client_reassembles_repeats_in_request_order() -> anyhow::Result<()> {
    use ps_client::{ClientOptions, Fence, ShardedClient};

    let shards: Vec<_> = (0..3).map(|s| start_ps_server(s, 3)).collect::<anyhow::Result<_>>()?;
    let endpoints: Vec<String> = shards.iter().map(|(_, a)| format!("http://{a}")).collect();
    let mut spec = table_spec();
    spec.init = Some(pb::InitSpec { kind: Some(pb::init_spec::Kind::UniformBound(0.5)), seed: 3 });
    // Unsorted, with repeats, spread over the three shards.
    let ids: Vec<u64> = (0..300u64).map(|k| (k * 7919 + k * k) % 97).collect();
    for (encoding, compression, tolerance) in [
        (ValueEncoding::F32, Compression::None, 0.0),
        (ValueEncoding::F32, Compression::Zstd, 0.0),
        (ValueEncoding::F16, Compression::None, 1e-3),
        (ValueEncoding::F16, Compression::Zstd, 1e-3),
    ] {
        spec.name = format!("t{}{}", encoding as i32, compression as i32);
        let client = ShardedClient::new(
            &endpoints,
            ClientOptions { encoding, compression, ..ClientOptions::default() },
        )?;
        client.create_table(&spec).await?;
        let (before, dim) = client.pull(&spec.name, &ids, 0).await?;
        assert_eq!(dim, DIM);
        // Row k equals the row of its id pulled alone.
        for (k, id) in ids.iter().enumerate() {
            let (alone, _) = client.pull(&spec.name, &[*id], 0).await?;
            assert_eq!(&before[k * DIM..(k + 1) * DIM], &alone[..], "{} row {k} (id {id})", spec.name);
        }
        // SGD with lr 1: each id moves by minus the sum of its repeats' gradients.
        let grads: Vec<f32> = (0..ids.len() * DIM).map(|i| (i % 5) as f32 * 0.25).collect();
        client.push(&spec.name, &ids, &grads, DIM, Fence::NONE, 0).await?;
        let mut sums = std::collections::HashMap::<u64, Vec<f32>>::new();
        for (k, id) in ids.iter().enumerate() {
            let sum = sums.entry(*id).or_insert_with(|| vec![0.0; DIM]);
            sum.iter_mut().zip(&grads[k * DIM..(k + 1) * DIM]).for_each(|(s, g)| *s += g);
        }
        let (after, _) = client.pull(&spec.name, &ids, 0).await?;
        for (k, id) in ids.iter().enumerate() {
            for d in 0..DIM {
                let want = before[k * DIM + d] - sums[id][d];
                let got = after[k * DIM + d];
                assert!(
                    (got - want).abs() <= tolerance * want.abs().max(1.0),
                    "{} id {id} [{d}]: {got} vs {want}",
                    spec.name
                );
            }
        }
    }
    Ok(())
}
