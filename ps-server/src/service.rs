//! The gRPC face of a shard: converts wire types and delegates to [`Shard`].
//! Pulls and pushes of ordinary size run on the async thread that received
//! them; large ones and the slow operations (checkpoint, restore, export)
//! run on the blocking pool.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use std::time::Instant;

use crate::error::PsError;
use crate::metrics::{Histogram, Latencies};
use crate::shard::Shard;
use crate::staleness::Staleness;
use tessera_proto::ps::v1 as pb;
use tessera_proto::ps::v1::parameter_server_server::ParameterServer;

/// The largest pull or push (ids × dim values) run on the async thread that
/// received it. Handing a request to the blocking pool and back costs two
/// thread wake-ups, which on a busy machine weighs more than the work of a
/// few thousand rows: the PS bench (4,096-row batches on 2 cores) moves
/// 20–40% more rows per second in place. A request under this bound holds
/// its thread for about a millisecond at most.
pub const INLINE_MAX_VALUES: u64 = 1 << 20;

/// The parameter-server service of one shard.
#[derive(Debug, Clone)]
pub struct PsService {
    shard: Arc<Shard>,
    latencies: Arc<Latencies>,
    staleness: Arc<Staleness>,
}

impl PsService {
    /// A service over `shard`, recording into `latencies` and `staleness`.
    pub fn new(shard: Arc<Shard>, latencies: Arc<Latencies>, staleness: Arc<Staleness>) -> Self {
        Self { shard, latencies, staleness }
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

    async fn timed<T: Send + 'static>(
        &self,
        histogram: &Histogram,
        f: impl FnOnce(&Shard) -> Result<T, PsError> + Send + 'static,
    ) -> Result<Response<T>, Status> {
        let start = Instant::now();
        let response = self.blocking(f).await;
        histogram.observe(start.elapsed());
        response
    }

    /// The values a pull or push of `ids` rows of `table` moves.
    fn values_of(&self, table: &str, ids: Option<&tessera_proto::common::v1::IdList>) -> u64 {
        ids.map_or(0, |l| u64::from(l.count)) * self.shard.dim_of(table).unwrap_or(1)
    }

    /// Runs a pull or push that moves `values` values in place when that is
    /// at most [`INLINE_MAX_VALUES`] and, for a push (`gated`), no checkpoint
    /// holds the push gate; else on the blocking pool.
    async fn sized<T: Send + 'static>(
        &self,
        histogram: &Histogram,
        (values, gated): (u64, bool),
        f: impl FnOnce(&Shard) -> Result<T, PsError> + Send + 'static,
    ) -> Result<Response<T>, Status> {
        if values > INLINE_MAX_VALUES || (gated && self.shard.checkpoint_running()) {
            return self.timed(histogram, f).await;
        }
        let start = Instant::now();
        let response = f(&self.shard);
        histogram.observe(start.elapsed());
        Ok(Response::new(response?))
    }
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
        if !request.worker_id.is_empty() {
            let waited = self.staleness.wait(request.clock).await;
            self.latencies.ssp_wait.observe(waited);
        }
        let values = self.values_of(&request.table, request.ids.as_ref());
        self.sized(&self.latencies.pull, (values, false), move |s| s.pull(&request)).await
    }
    async fn push(&self, request: Request<pb::PushRequest>) -> Result<Response<pb::PushResponse>, Status> {
        let request = request.into_inner();
        let (worker, clock) = (request.worker_id.clone(), request.clock);
        let values = self.values_of(&request.table, request.ids.as_ref());
        let response = self.sized(&self.latencies.push, (values, true), move |s| s.push(&request)).await?;
        self.staleness.observe(&worker, clock);
        Ok(response)
    }
    async fn init_dense(
        &self,
        request: Request<pb::InitDenseRequest>,
    ) -> Result<Response<pb::InitDenseResponse>, Status> {
        let request = request.into_inner();
        self.blocking(move |s| s.init_dense(&request)).await
    }
    async fn pull_dense(
        &self,
        request: Request<pb::PullDenseRequest>,
    ) -> Result<Response<pb::PullDenseResponse>, Status> {
        let request = request.into_inner();
        self.timed(&self.latencies.dense, move |s| s.pull_dense(&request)).await
    }
    async fn push_dense(
        &self,
        request: Request<pb::PushDenseRequest>,
    ) -> Result<Response<pb::PushDenseResponse>, Status> {
        let request = request.into_inner();
        self.timed(&self.latencies.dense, move |s| s.push_dense(&request)).await
    }
    async fn checkpoint(
        &self,
        _request: Request<pb::CheckpointRequest>,
    ) -> Result<Response<pb::CheckpointResponse>, Status> {
        self.blocking(|s| s.checkpoint()).await
    }
    async fn restore(
        &self,
        request: Request<pb::RestoreRequest>,
    ) -> Result<Response<pb::RestoreResponse>, Status> {
        let id = request.into_inner().checkpoint_id;
        self.blocking(move |s| {
            s.restore(id).map(|o| pb::RestoreResponse {
                checkpoint_id: o.checkpoint_id,
                num_rows: o.num_rows,
                updates_lost: o.updates_lost,
            })
        })
        .await
    }
    async fn export(
        &self,
        request: Request<pb::ExportRequest>,
    ) -> Result<Response<pb::ExportResponse>, Status> {
        let request = request.into_inner();
        self.blocking(move |s| s.export(&request)).await
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
