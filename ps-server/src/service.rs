//! The gRPC face of a shard: converts wire types and delegates to [`Shard`],
//! running the CPU-bound work off the async threads.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use crate::error::PsError;
use crate::shard::Shard;
use tessera_proto::ps::v1 as pb;
use tessera_proto::ps::v1::parameter_server_server::ParameterServer;

/// The parameter-server service of one shard.
#[derive(Debug, Clone)]
pub struct PsService {
    shard: Arc<Shard>,
}

impl PsService {
    /// A service over `shard`.
    pub fn new(shard: Arc<Shard>) -> Self {
        Self { shard }
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Shard) -> Result<T, PsError> + Send + 'static,
    ) -> Result<Response<T>, Status> {
        let shard = self.shard.clone();
        let result = tokio::task::spawn_blocking(move || f(&shard))
            .await
            .map_err(|e| Status::internal(format!("request task failed: {e}")))?;
        Ok(Response::new(result?))
    }
}

fn not_yet(what: &str) -> Status {
    PsError::Unimplemented(format!("{what} is not built yet (issue #4)")).into()
}

#[tonic::async_trait]
impl ParameterServer for PsService {
    async fn create_table(
        &self,
        request: Request<pb::CreateTableRequest>,
    ) -> Result<Response<pb::CreateTableResponse>, Status> {
        let spec = request
            .into_inner()
            .spec
            .ok_or_else(|| Status::invalid_argument("create_table: spec missing"))?;
        self.blocking(move |s| s.create_table(&spec).map(|created| pb::CreateTableResponse { created })).await
    }
    async fn pull(&self, request: Request<pb::PullRequest>) -> Result<Response<pb::PullResponse>, Status> {
        let request = request.into_inner();
        self.blocking(move |s| s.pull(&request)).await
    }
    async fn push(&self, request: Request<pb::PushRequest>) -> Result<Response<pb::PushResponse>, Status> {
        let request = request.into_inner();
        self.blocking(move |s| s.push(&request)).await
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
        Ok(Response::new(self.shard.stats()))
    }
    async fn health(
        &self,
        _request: Request<pb::HealthRequest>,
    ) -> Result<Response<pb::HealthResponse>, Status> {
        let (shard, num_shards) = self.shard.identity();
        Ok(Response::new(pb::HealthResponse {
            shard,
            num_shards,
            version: env!("CARGO_PKG_VERSION").to_owned(),
            ready: true,
        }))
    }
}
