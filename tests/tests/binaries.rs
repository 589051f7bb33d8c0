//! The built binaries start on a machine set up by `make`: the ps-server
//! answers gRPC reflection (what `grpcurl list` uses), and the worker finds
//! libtorch with no `LD_LIBRARY_PATH`.

use tessera_tests::ps::start_ps_server;
use tokio_stream::StreamExt as _;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
use tonic_reflection::pb::v1::ServerReflectionRequest;

#[tokio::test]
async fn ps_server_lists_its_service_through_reflection() -> anyhow::Result<()> {
    let (_ps, addr) = start_ps_server(0, 1)?;
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))?.connect().await?;
    let mut client = ServerReflectionClient::new(channel);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = client.server_reflection_info(tokio_stream::once(request)).await?.into_inner();
    let response = responses.next().await.expect("one reflection response")?;
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        anyhow::bail!("unexpected reflection response {response:?}");
    };
    let names: Vec<_> = list.service.iter().map(|s| s.name.as_str()).collect();
    assert!(names.contains(&"tessera.ps.v1.ParameterServer"), "services: {names:?}");
    Ok(())
}

#[test]
fn worker_version_runs_without_ld_library_path() -> anyhow::Result<()> {
    let output = tessera_tests::command("worker")?.arg("--version").env_remove("LD_LIBRARY_PATH").output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "worker --version failed: {}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains(concat!("worker ", env!("CARGO_PKG_VERSION"))), "{stdout}");
    assert!(stdout.contains("libtorch 2.11.0"), "{stdout}");
    assert!(stdout.contains("cuda: "), "{stdout}");
    Ok(())
}
