//! A parameter-server cluster with real etcd: shards register under a lease,
//! the sharded client finds them there, a kill -9'd shard comes back with
//! every row equal to its last checkpoint and the client counts exactly the
//! acknowledged push it lost, SIGTERM writes a final checkpoint
//! and removes the registration, and the metrics endpoint reports traffic.

use std::time::Duration;

use ps_client::routing::shard_of;
use ps_client::{ClientOptions, Fence, ShardedClient};
use tessera_proto::common::v1::{Compression, ValueEncoding};
use tessera_proto::ps::v1 as pb;
use tessera_proto::ps::v1::parameter_server_client::ParameterServerClient;
use tessera_tests::ps::{start_ps_server_on, start_ps_server_with};
use tessera_tests::Etcd;

const DIM: usize = 16;
const NUM_IDS: u64 = 2000;

fn spec() -> pb::TableSpec {
    pb::TableSpec {
        name: "user".into(),
        dim: DIM as u32,
        optimizer: Some(pb::OptimizerSpec {
            kind: Some(pb::optimizer_spec::Kind::Adagrad(pb::Adagrad {
                lr: 0.1,
                initial_accumulator: 0.1,
                eps: 1e-8,
            })),
            weight_decay: 0.0,
        }),
        init: Some(pb::InitSpec { kind: Some(pb::init_spec::Kind::UniformBound(0.05)), seed: 3 }),
        num_ids: NUM_IDS,
        non_finite: 0,
        clip_value: 0.0,
    }
}

async fn push_round(client: &ShardedClient, round: u64) -> anyhow::Result<()> {
    let ids: Vec<u64> = (0..NUM_IDS).filter(|id| (id + round).is_multiple_of(3)).collect();
    let grads: Vec<f32> = ids
        .iter()
        .flat_map(|&id| (0..DIM).map(move |d| ((id + d as u64 + round) % 7) as f32 - 3.0))
        .collect();
    Ok(client.push("user", &ids, &grads, DIM, Fence::NONE, round).await?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_shard_restores_its_checkpoint_and_sigterm_deregisters() -> anyhow::Result<()> {
    let etcd = Etcd::start().await?;
    let dirs = [tempfile::tempdir()?, tempfile::tempdir()?];
    let flags = |shard: usize| -> Vec<String> {
        vec![
            "--etcd".into(),
            etcd.endpoint(),
            "--checkpoint-dir".into(),
            dirs[shard].path().display().to_string(),
            "--checkpoint-interval".into(),
            "0s".into(),
            "--lease-ttl".into(),
            "2s".into(),
            "--metrics-listen".into(),
            "127.0.0.1:0".into(),
        ]
    };
    let mut shard0 = start_ps_server_with(0, 2, &flags(0))?;
    let mut shard1 = start_ps_server_with(1, 2, &flags(1))?;
    // f32 without compression, so restored rows can be compared exactly.
    let options = ClientOptions {
        worker_id: "w0".into(),
        encoding: ValueEncoding::F32,
        compression: Compression::None,
        ..ClientOptions::default()
    };
    let client = ShardedClient::from_etcd(
        &tessera_runtime::etcd::EtcdAccess::plain([etcd.endpoint()]),
        "/tessera/",
        2,
        Duration::from_secs(10),
        options,
    )
    .await?;
    client.create_table(&spec()).await?;
    for round in 0..5 {
        push_round(&client, round).await?;
    }
    let all: Vec<u64> = (0..NUM_IDS).collect();
    for addr in [&shard0.addr, &shard1.addr] {
        let mut direct = ParameterServerClient::connect(format!("http://{addr}")).await?;
        let c = direct.checkpoint(pb::CheckpointRequest {}).await?.into_inner();
        assert!(c.num_rows > 0 && c.bytes > 0, "{c:?}");
    }
    let (at_checkpoint, dim) = client.pull("user", &all, 0).await?;
    assert_eq!(dim, DIM);
    // Updates after the checkpoint: lost for the shard that crashes.
    push_round(&client, 5).await?;
    let (after, _) = client.pull("user", &all, 0).await?;
    assert_ne!(after, at_checkpoint);

    shard0.process.kill();
    // Back on its address, so the client that pushed finds it again.
    let restarted = start_ps_server_on(&shard0.addr, 0, 2, &flags(0))?;
    let (restored, _) = client.pull("user", &all, 0).await?;
    for &id in &all {
        let row = |v: &[f32]| v[id as usize * DIM..(id as usize + 1) * DIM].to_vec();
        let expected = if shard_of("user", id, 2) == 0 { row(&at_checkpoint) } else { row(&after) };
        assert_eq!(row(&restored), expected, "id {id}");
    }
    // The next push tells the client that shard 0 came back from the
    // checkpoint: round 5's push to it was acknowledged and is lost, exactly.
    assert_eq!(client.lost_updates(), ps_client::Lost::default());
    push_round(&client, 6).await?;
    let round5_on_0 = (0..NUM_IDS).filter(|id| (id + 5).is_multiple_of(3) && shard_of("user", *id, 2) == 0);
    assert_eq!(
        client.lost_updates(),
        ps_client::Lost { updates: 1, rows: round5_on_0.count() as u64, restarts: 1 }
    );

    // Metrics of the surviving shard report its traffic.
    let metrics_addr = shard1.metrics.clone().ok_or_else(|| anyhow::anyhow!("no METRICS line"))?;
    let response = tessera_tests::http::get(&metrics_addr, "/metrics")?;
    assert_eq!(response.status, 200, "{}", response.body);
    let text = response.body;
    assert!(text.contains("tessera_ps_rows_pushed_total{shard=\"1\",table=\"user\"}"), "{text}");
    assert!(text.contains("tessera_ps_request_seconds_count{shard=\"1\",rpc=\"push\"} 7"), "{text}");

    // SIGTERM: final checkpoint written, registration removed at once.
    let before = std::fs::read_dir(dirs[1].path())?.count();
    let status = shard1.process.signal_and_wait(15)?;
    assert!(status.success(), "ps-server exited with {status}");
    assert!(std::fs::read_dir(dirs[1].path())?.count() > before || before == ps_server::checkpoint::KEEP);
    let newest = ps_server::checkpoint::list(dirs[1].path())?.last().cloned().expect("a checkpoint");
    assert_eq!(newest.0, 2, "the final checkpoint is the second one");
    let mut etcd_client = etcd.client().await?;
    assert!(
        etcd_client.get("/tessera/members/ps/1", None).await?.kvs().is_empty(),
        "shard 1 still registered"
    );
    drop(restarted);
    Ok(())
}
