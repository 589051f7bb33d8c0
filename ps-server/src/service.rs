//! The gRPC face of a shard: converts wire types and delegates.

use tonic::{Request, Response, Status};

use crate::error::PsError;
use tessera_proto::ps::v1 as pb;
use tessera_proto::ps::v1::parameter_server_server::ParameterServer;

/// The parameter-server service of one shard.
#[derive(Debug)]
pub struct PsService {
    shard: u32,
    num_shards: u32,
}

impl PsService {
    /// A service for shard `shard` of `num_shards`.
    pub fn new(shard: u32, num_shards: u32) -> Self {
        Self { shard, num_shards }
    }
}

fn not_yet(what: &str) -> Status {
    PsError::Unimplemented(format!("{what} is not built yet (issue #4)")).into()
}

#[tonic::async_trait]
impl ParameterServer for PsService {
    async fn create_table(
        &self,
        _request: Request<pb::CreateTableRequest>,
    ) -> Result<Response<pb::CreateTableResponse>, Status> {
        Err(not_yet("create_table"))
    }
    async fn pull(&self, _request: Request<pb::PullRequest>) -> Result<Response<pb::PullResponse>, Status> {
        Err(not_yet("pull"))
    }
    async fn push(&self, _request: Request<pb::PushRequest>) -> Result<Response<pb::PushResponse>, Status> {
        Err(not_yet("push"))
    }
    async fn init_dense(
        &self,
        _request: Request<pb::InitDenseRequest>,
    ) -> Result<Response<pb::InitDenseResponse>, Status> {
        Err(not_yet("init_dense"))
    }
    async fn pull_dense(
        &self,
        _request: Request<pb::PullDenseRequest>,
    ) -> Result<Response<pb::PullDenseResponse>, Status> {
        Err(not_yet("pull_dense"))
    }
    async fn push_dense(
        &self,
        _request: Request<pb::PushDenseRequest>,
    ) -> Result<Response<pb::PushDenseResponse>, Status> {
        Err(not_yet("push_dense"))
    }
    async fn checkpoint(
        &self,
        _request: Request<pb::CheckpointRequest>,
    ) -> Result<Response<pb::CheckpointResponse>, Status> {
        Err(not_yet("checkpoint"))
    }
    async fn restore(
        &self,
        _request: Request<pb::RestoreRequest>,
    ) -> Result<Response<pb::RestoreResponse>, Status> {
        Err(not_yet("restore"))
    }
    async fn export(
        &self,
        _request: Request<pb::ExportRequest>,
    ) -> Result<Response<pb::ExportResponse>, Status> {
        Err(not_yet("export"))
    }
    async fn stats(
        &self,
        _request: Request<pb::StatsRequest>,
    ) -> Result<Response<pb::StatsResponse>, Status> {
        Err(not_yet("stats"))
    }
    async fn health(
        &self,
        _request: Request<pb::HealthRequest>,
    ) -> Result<Response<pb::HealthResponse>, Status> {
        Ok(Response::new(pb::HealthResponse {
            shard: self.shard,
            num_shards: self.num_shards,
            version: env!("CARGO_PKG_VERSION").to_owned(),
            ready: true,
        }))
    }
}
