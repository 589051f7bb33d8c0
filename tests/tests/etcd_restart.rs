//! The harness's etcd keeps data across a crash: put, kill -9, restart, get.

use tessera_tests::Etcd;

#[tokio::test]
async fn key_survives_etcd_kill_and_restart() -> anyhow::Result<()> {
    let mut etcd = Etcd::start().await?;
    let mut client = etcd.client().await?;
    client.put("/tessera/test/key", "value-1", None).await?;
    drop(client);

    etcd.kill();
    etcd.restart().await?;

    let mut client = etcd.client().await?;
    let response = client.get("/tessera/test/key", None).await?;
    let kv = response.kvs().first().expect("key missing after restart");
    assert_eq!(kv.value_str()?, "value-1");
    Ok(())
}
