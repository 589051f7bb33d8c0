//! The gRPC form of the recommend calls (`tessera.recommend.v1.Recommender`),
//! answered by the same code as the HTTP routes and counted in the same
//! metrics under the routes `grpc Recommend` and `grpc Similar`.

use std::sync::Arc;
use std::time::Instant;

use tessera_proto::recommend::v1 as pb;
use tessera_proto::recommend::v1::recommender_server::{Recommender, RecommenderServer};
use tonic::{Request, Response, Status};

use crate::answer::{self, Item};
use crate::metrics::{RequestLabels, RouteLabels};
use crate::query;
use crate::state::AppState;

/// The gRPC service over the shared state.
#[derive(Debug, Clone)]
pub struct Grpc {
    state: Arc<AppState>,
}

impl Grpc {
    /// The tonic service over `state`.
    pub fn server(state: Arc<AppState>) -> RecommenderServer<Self> {
        RecommenderServer::new(Self { state })
    }

    /// Counts and times one call of `route` that ended with `result`.
    fn track<T>(&self, route: &str, started: Instant, result: &Result<T, Status>) {
        let m = &self.state.metrics;
        let status = result.as_ref().map_or_else(|s| s.code() as u16, |_| 0);
        m.latency
            .get_or_create(&RouteLabels { route: route.into() })
            .observe(started.elapsed().as_secs_f64());
        m.requests.get_or_create(&RequestLabels { route: route.into(), status }).inc();
    }
}

fn some(n: u32) -> Option<usize> {
    (n != 0).then_some(n as usize)
}

fn ranked(items: Vec<Item>) -> Vec<pb::RankedItem> {
    items
        .into_iter()
        .map(|i| pb::RankedItem {
            item: i.item,
            category: i.category,
            score: i.score,
            retrieval_score: i.retrieval_score,
            rank: i.rank as u32,
        })
        .collect()
}

#[tonic::async_trait]
impl Recommender for Grpc {
    async fn recommend(
        &self,
        request: Request<pb::RecommendRequest>,
    ) -> Result<Response<pb::RecommendResponse>, Status> {
        let started = Instant::now();
        let r = request.into_inner();
        let query =
            query::Recommend::new(some(r.k), !r.include_seen, some(r.candidates), r.exact, !r.skip_ranker);
        let answer = match query {
            Ok(q) => self.state.recommend(r.user, &q).await,
            Err(e) => Err(e),
        };
        let result = answer
            .map(|a| {
                Response::new(pb::RecommendResponse {
                    user: a.user,
                    model: a.model,
                    bundle_version: a.bundle_version,
                    items: ranked(a.items),
                })
            })
            .map_err(Status::from);
        self.track("grpc Recommend", started, &result);
        result
    }

    async fn similar(
        &self,
        request: Request<pb::SimilarRequest>,
    ) -> Result<Response<pb::SimilarResponse>, Status> {
        let started = Instant::now();
        let r = request.into_inner();
        let result = query::Similar::new(some(r.k), r.exact)
            .and_then(|q| answer::similar(&self.state.current(), r.item, &q))
            .map(|a| {
                Response::new(pb::SimilarResponse {
                    item: a.item,
                    model: a.model,
                    bundle_version: a.bundle_version,
                    items: ranked(a.items),
                })
            })
            .map_err(Status::from);
        self.track("grpc Similar", started, &result);
        result
    }
}
