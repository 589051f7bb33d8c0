//! The sharded client that workers use. It deduplicates ids, splits them by
//! shard with the same hash as the servers, sends to all shards in parallel
//! (ids sorted and delta+varint encoded), reassembles rows in request order,
//! sums the gradients of repeated ids before pushing, and retries with
//! exponential backoff while a shard is unreachable; any other refusal
//! (fenced, invalid) comes back at once as a typed [`PsClientError`]. Pushes
//! carry a [`Fence`]: the job's scope and token. Shard endpoints come from a
//! list or from the shards' etcd registrations.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::future::try_join_all;
use tessera_proto::common::v1::{Compression, IdEncoding, ValueEncoding};
use tessera_proto::ps::v1 as pb;
use tessera_proto::ps::v1::parameter_server_client::ParameterServerClient;
use tessera_runtime::etcd::EtcdAccess;
use tessera_runtime::tls::Tls;
use tonic::transport::Channel;

use tessera_control::keys::{Keys, ShardMember};

use crate::codec::{decode_values, encode_ids, encode_values, encode_values_owned, DecodedPayload};
use crate::dense::{dense_shard_of, num_values, NamedTensor};
use crate::error::{is_transient, PsClientError, Result};
use crate::ledger::{Ledger, Lost};
use crate::routing::Router;
use crate::wire::{H2_CONNECTION_WINDOW, H2_STREAM_WINDOW, MAX_MESSAGE_BYTES};

/// Client settings.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Value encoding for pulls and pushes.
    pub encoding: ValueEncoding,
    /// Compression for pulls and pushes.
    pub compression: Compression,
    /// Connect timeout per attempt.
    pub connect_timeout: Duration,
    /// Per-request timeout.
    pub request_timeout: Duration,
    /// Attempts per request while a shard is unavailable.
    pub max_attempts: u32,
    /// First backoff; doubles per attempt up to `max_backoff`.
    pub initial_backoff: Duration,
    /// Largest backoff.
    pub max_backoff: Duration,
    /// This worker's id (staleness accounting).
    pub worker_id: String,
    /// Transport security of the shard connections.
    pub tls: Tls,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            encoding: ValueEncoding::F16,
            compression: Compression::Zstd,
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(30),
            max_attempts: 10,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(2),
            worker_id: String::new(),
            tls: Tls::insecure(),
        }
    }
}

/// The fencing token a push carries, and its scope: the job's namespace
/// (the prefix of its table and parameter names). A shard compares tokens
/// only within one scope, so jobs sharing shards never fence each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fence<'a> {
    /// The scope, such as `j0123456789ab`; empty for the shard-wide scope.
    pub scope: &'a str,
    /// The token; a push below the scope's current token is refused.
    pub token: u64,
}

impl Fence<'static> {
    /// Token 0 in the shard-wide scope: for tools and tests outside a job.
    pub const NONE: Fence<'static> = Fence { scope: "", token: 0 };
}

/// A client for all shards.
#[derive(Debug, Clone)]
pub struct ShardedClient {
    shards: Vec<ParameterServerClient<Channel>>,
    options: ClientOptions,
    /// Calls retried after a transient failure, shared by the clones.
    retries: Arc<AtomicU64>,
    /// Acknowledged updates per shard since its newest checkpoint.
    ledger: Arc<Ledger>,
}

impl ShardedClient {
    /// A client for `endpoints[i]` = shard i. Connections are made lazily,
    /// so a shard that is down now is retried when used.
    ///
    /// # Errors
    /// Fails on a malformed endpoint.
    pub fn new(endpoints: &[String], options: ClientOptions) -> Result<Self> {
        if endpoints.is_empty() {
            return Err(PsClientError::Discovery("no parameter-server endpoints".into()));
        }
        let shards: Vec<ParameterServerClient<Channel>> = endpoints
            .iter()
            .map(|e| {
                let channel = options
                    .tls
                    .endpoint(e)
                    .map_err(|err| PsClientError::Discovery(format!("endpoint {e:?}: {err}")))?
                    .connect_timeout(options.connect_timeout)
                    .timeout(options.request_timeout)
                    .tcp_keepalive(Some(Duration::from_secs(30)))
                    .http2_keep_alive_interval(Duration::from_secs(30))
                    .keep_alive_while_idle(true)
                    .tcp_nodelay(true)
                    .initial_stream_window_size(H2_STREAM_WINDOW)
                    .initial_connection_window_size(H2_CONNECTION_WINDOW)
                    .connect_lazy();
                Ok(ParameterServerClient::new(channel)
                    .max_decoding_message_size(MAX_MESSAGE_BYTES)
                    .max_encoding_message_size(MAX_MESSAGE_BYTES))
            })
            .collect::<Result<_>>()?;
        let ledger = Arc::new(Ledger::new(shards.len()));
        Ok(Self { shards, options, retries: Arc::default(), ledger })
    }

    /// Acknowledged updates lost to shard restarts, as this client (and its
    /// clones) counted them.
    pub fn lost_updates(&self) -> Lost {
        self.ledger.lost()
    }

    /// Calls retried after a transient failure (an unreachable or
    /// restarting shard, a timeout) since this client was made.
    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }

    /// Waits up to `timeout` until all `num_shards` shards are registered in
    /// etcd under `prefix`, then connects to them.
    ///
    /// # Errors
    /// Fails when etcd is unreachable or shards are missing at the deadline.
    pub async fn from_etcd(
        etcd: &EtcdAccess,
        prefix: &str,
        num_shards: u32,
        timeout: Duration,
        options: ClientOptions,
    ) -> Result<Self> {
        let discovery = |what: String| PsClientError::Discovery(what);
        let mut client = etcd
            .connect(etcd_client::ConnectOptions::new())
            .await
            .map_err(|e| discovery(format!("connect to etcd at {}: {e}", etcd.endpoints_text())))?;
        let deadline = tokio::time::Instant::now() + timeout;
        let key = Keys::new(prefix).ps_members();
        loop {
            let response = client
                .get(key.clone(), Some(etcd_client::GetOptions::new().with_prefix()))
                .await
                .map_err(|e| discovery(format!("list ps members under {key}: {e}")))?;
            let mut members: HashMap<u32, String> = HashMap::new();
            for kv in response.kvs() {
                let member: ShardMember = serde_json::from_slice(kv.value()).map_err(|e| {
                    discovery(format!("ps member {} is not JSON: {e}", String::from_utf8_lossy(kv.key())))
                })?;
                if member.num_shards == num_shards {
                    members.insert(member.shard, member.endpoint);
                }
            }
            if members.len() == num_shards as usize {
                let endpoints: Vec<String> = (0..num_shards).filter_map(|s| members.remove(&s)).collect();
                return Self::new(&endpoints, options);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(discovery(format!(
                    "only {} of {num_shards} ps shards registered under {key} after {timeout:?}",
                    members.len()
                )));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Number of shards.
    pub fn num_shards(&self) -> u32 {
        self.shards.len() as u32
    }

    /// Calls shard `shard`, retrying with backoff while the failure is
    /// transient; any other refusal comes back at once, typed.
    async fn call<T, F, Fut>(&self, shard: u32, what: &'static str, f: F) -> Result<T>
    where
        F: Fn(ParameterServerClient<Channel>) -> Fut,
        Fut: std::future::Future<Output = std::result::Result<tonic::Response<T>, tonic::Status>>,
    {
        let mut backoff = self.options.initial_backoff;
        let mut attempt = 1;
        loop {
            match f(self.shards[shard as usize].clone()).await {
                Ok(response) => return Ok(response.into_inner()),
                Err(status) if is_transient(status.code()) && attempt < self.options.max_attempts => {
                    self.retries.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        shard,
                        attempt,
                        "{what} failed, retrying in {backoff:?}: {}",
                        status.message()
                    );
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(self.options.max_backoff);
                    attempt += 1;
                }
                Err(status) => return Err(PsClientError::from_status(what, shard, attempt, &status)),
            }
        }
    }

    /// Creates `spec` on every shard (idempotent).
    ///
    /// # Errors
    /// Fails when a shard refuses it or stays unreachable.
    pub async fn create_table(&self, spec: &pb::TableSpec) -> Result<Vec<bool>> {
        let created = try_join_all((0..self.num_shards()).map(|s| {
            self.call(s, "create_table", move |mut c| {
                let spec = spec.clone();
                async move { c.create_table(pb::CreateTableRequest { spec: Some(spec) }).await }
            })
        }))
        .await?;
        Ok(created.into_iter().map(|r| r.created).collect())
    }

    /// Every shard's statistics (its tables, updates, newest checkpoint), in
    /// shard order.
    ///
    /// # Errors
    /// Fails when a shard refuses or stays unreachable.
    pub async fn stats(&self) -> Result<Vec<pb::StatsResponse>> {
        try_join_all(
            (0..self.num_shards())
                .map(|s| self.call(s, "stats", |mut c| async move { c.stats(pb::StatsRequest {}).await })),
        )
        .await
    }

    /// Unique sorted ids per shard, and for each request position its
    /// (shard, index within that shard's list).
    fn split(&self, table: &str, ids: &[u64]) -> (Vec<Vec<u64>>, Vec<(u32, usize)>) {
        // One hash per id; then per shard, sorting (id, position) by id
        // groups repeats and orders the list.
        let router = Router::new(table, self.num_shards());
        let mut tagged: Vec<Vec<(u64, u32)>> = vec![Vec::new(); self.shards.len()];
        for (k, &id) in ids.iter().enumerate() {
            tagged[router.shard_of(id) as usize].push((id, k as u32));
        }
        let mut per_shard: Vec<Vec<u64>> = Vec::with_capacity(tagged.len());
        let mut places = vec![(0u32, 0usize); ids.len()];
        for (s, mut tagged) in tagged.into_iter().enumerate() {
            tagged.sort_unstable_by_key(|t| t.0);
            let mut list: Vec<u64> = Vec::with_capacity(tagged.len());
            for (id, k) in tagged {
                if list.last() != Some(&id) {
                    list.push(id);
                }
                places[k as usize] = (s as u32, list.len() - 1);
            }
            per_shard.push(list);
        }
        (per_shard, places)
    }

    /// Pulls the rows of `ids` (duplicates allowed) in request order; returns
    /// the values and the dimension.
    ///
    /// # Errors
    /// Fails when a shard refuses the request or stays unreachable.
    pub async fn pull(&self, table: &str, ids: &[u64], clock: u64) -> Result<(Vec<f32>, usize)> {
        let (per_shard, places) = self.split(table, ids);
        let results = try_join_all(per_shard.iter().enumerate().filter(|(_, l)| !l.is_empty()).map(
            |(s, list)| async move {
                let ids = encode_ids(list, IdEncoding::DeltaVarint)?;
                let response = self
                    .call(s as u32, "pull", |mut c| {
                        let request = pb::PullRequest {
                            table: table.to_owned(),
                            ids: Some(ids.clone()),
                            encoding: self.options.encoding as i32,
                            compression: self.options.compression as i32,
                            worker_id: self.options.worker_id.clone(),
                            clock,
                        };
                        async move { c.pull(request).await }
                    })
                    .await?;
                let dim = response.dim as usize;
                let rows = DecodedPayload::new(&response.rows.unwrap_or_default(), list.len() * dim)
                    .map_err(|e| {
                        PsClientError::Local(format!("decode rows of {table} from ps shard {s}: {e}"))
                    })?;
                Ok::<_, PsClientError>((s, dim, rows))
            },
        ))
        .await?;
        let dim = results.first().map_or(0, |r| r.1);
        let mut by_shard: Vec<Option<DecodedPayload>> = vec![None; self.shards.len()];
        for (s, d, rows) in results {
            if d != dim {
                return Err(PsClientError::Local(format!(
                    "ps shards disagree on the dim of {table}: {d} vs {dim}"
                )));
            }
            by_shard[s] = Some(rows);
        }
        // Copy each row from its shard's payload straight to its place.
        let mut out = Vec::with_capacity(ids.len() * dim);
        for (s, at) in places {
            let rows = by_shard[s as usize]
                .as_ref()
                .ok_or_else(|| PsClientError::Local(format!("ps shard {s} sent no rows of {table}")))?;
            let end = out.len();
            out.resize(end + dim, 0.0);
            rows.copy_into(at * dim, &mut out[end..]);
        }
        Ok((out, dim))
    }

    /// Pushes gradients `grads` (`dim` values per id, request order) under
    /// `fence`; the gradients of a repeated id are summed first.
    ///
    /// # Errors
    /// Fails on a length mismatch, a refusal (fenced, invalid) or a shard
    /// that stays unreachable.
    pub async fn push(
        &self,
        table: &str,
        ids: &[u64],
        grads: &[f32],
        dim: usize,
        fence: Fence<'_>,
        clock: u64,
    ) -> Result<()> {
        self.send_rows(table, ids, grads, dim, fence, clock, None).await
    }

    /// Sets the rows of `ids` (unique) to `values` (`dim` each), their
    /// optimizer state afresh, under `fence`, on the shards `shards` marks
    /// (those whose table this caller created, so that one caller sets each
    /// row once): a resumed job's start.
    ///
    /// # Errors
    /// As [`ShardedClient::push`].
    pub async fn assign(
        &self,
        table: &str,
        ids: &[u64],
        values: &[f32],
        dim: usize,
        fence: Fence<'_>,
        shards: &[bool],
    ) -> Result<()> {
        self.send_rows(table, ids, values, dim, fence, 0, Some(shards)).await
    }

    /// Sends rows to their shards: gradients, or values to assign on the
    /// shards `assign` marks.
    #[allow(clippy::too_many_arguments)]
    async fn send_rows(
        &self,
        table: &str,
        ids: &[u64],
        grads: &[f32],
        dim: usize,
        fence: Fence<'_>,
        clock: u64,
        assign: Option<&[bool]>,
    ) -> Result<()> {
        let on = |s: usize| assign.is_none_or(|shards| shards.get(s).copied().unwrap_or(false));
        if grads.len() != ids.len() * dim {
            return Err(PsClientError::Local(format!(
                "push to {table}: {} values for {} ids × dim {dim}",
                grads.len(),
                ids.len()
            )));
        }
        let (per_shard, places) = self.split(table, ids);
        let mut sums: Vec<Vec<f32>> = per_shard.iter().map(|l| vec![0.0; l.len() * dim]).collect();
        for (k, (s, at)) in places.into_iter().enumerate() {
            let dst = &mut sums[s as usize][at * dim..(at + 1) * dim];
            for (d, g) in dst.iter_mut().zip(&grads[k * dim..(k + 1) * dim]) {
                *d += g;
            }
        }
        try_join_all(
            per_shard.iter().zip(sums).enumerate().filter(|(s, (l, _))| !l.is_empty() && on(*s)).map(
                |(s, (list, sum))| async move {
                    let ids = encode_ids(list, IdEncoding::DeltaVarint)?;
                    let grads = encode_values_owned(sum, self.options.encoding, self.options.compression)?;
                    let response = self
                        .call(s as u32, "push", |mut c| {
                            let request = pb::PushRequest {
                                table: table.to_owned(),
                                ids: Some(ids.clone()),
                                grads: Some(grads.clone()),
                                worker_id: self.options.worker_id.clone(),
                                fencing_token: fence.token,
                                clock,
                                fencing_scope: fence.scope.to_owned(),
                                assign: assign.is_some(),
                            };
                            async move { c.push(request).await }
                        })
                        .await?;
                    self.ledger.acknowledged(s, response.durability.as_ref(), list.len() as u64);
                    Ok::<_, PsClientError>(())
                },
            ),
        )
        .await?;
        Ok(())
    }

    /// Encodes tensors and groups them by the shard that holds each name.
    fn dense_by_shard(
        &self,
        tensors: &[NamedTensor],
        encoding: ValueEncoding,
        compression: Compression,
    ) -> Result<Vec<Vec<pb::DenseTensor>>> {
        let mut per_shard: Vec<Vec<pb::DenseTensor>> = vec![Vec::new(); self.shards.len()];
        for (name, shape, values) in tensors {
            per_shard[dense_shard_of(name, self.num_shards()) as usize].push(pb::DenseTensor {
                name: name.clone(),
                shape: shape.clone(),
                values: Some(encode_values(values, encoding, compression)?),
            });
        }
        Ok(per_shard)
    }

    /// Registers dense parameters on their shards (existing ones are kept).
    ///
    /// # Errors
    /// Fails on a refusal or an unreachable shard.
    pub async fn init_dense(&self, tensors: &[NamedTensor], optimizer: &pb::OptimizerSpec) -> Result<()> {
        let per_shard = self.dense_by_shard(tensors, ValueEncoding::F32, Compression::None)?;
        try_join_all(per_shard.into_iter().enumerate().filter(|(_, t)| !t.is_empty()).map(|(s, tensors)| {
            self.call(s as u32, "init_dense", move |mut c| {
                let request = pb::InitDenseRequest { tensors: tensors.clone(), optimizer: Some(*optimizer) };
                async move { c.init_dense(request).await }
            })
        }))
        .await?;
        Ok(())
    }

    /// Reads the named dense parameters (f32), as (name, shape, values).
    ///
    /// # Errors
    /// Fails on an unknown name or an unreachable shard.
    pub async fn pull_dense(&self, names: &[String]) -> Result<Vec<NamedTensor>> {
        let mut per_shard: Vec<Vec<String>> = vec![Vec::new(); self.shards.len()];
        for name in names {
            per_shard[dense_shard_of(name, self.num_shards()) as usize].push(name.clone());
        }
        let responses = try_join_all(per_shard.into_iter().enumerate().filter(|(_, n)| !n.is_empty()).map(
            |(s, names)| {
                self.call(s as u32, "pull_dense", move |mut c| {
                    let request = pb::PullDenseRequest {
                        names: names.clone(),
                        encoding: ValueEncoding::F32 as i32,
                        compression: Compression::None as i32,
                    };
                    async move { c.pull_dense(request).await }
                })
            },
        ))
        .await?;
        let mut found: HashMap<String, (Vec<u64>, Vec<f32>)> = HashMap::new();
        for tensor in responses.into_iter().flat_map(|r| r.tensors) {
            let n = num_values(&tensor.name, &tensor.shape)?;
            let values = decode_values(&tensor.values.unwrap_or_default(), n)?;
            found.insert(tensor.name, (tensor.shape, values));
        }
        names
            .iter()
            .map(|n| {
                found
                    .remove(n)
                    .map(|(shape, values)| (n.clone(), shape, values))
                    .ok_or_else(|| PsClientError::Local(format!("dense {n} missing from the reply")))
            })
            .collect()
    }

    /// Pushes dense gradients to their shards under `fence`.
    ///
    /// # Errors
    /// Fails on a refusal (fenced, invalid) or an unreachable shard.
    pub async fn push_dense(&self, grads: &[NamedTensor], fence: Fence<'_>) -> Result<()> {
        let per_shard = self.dense_by_shard(grads, self.options.encoding, self.options.compression)?;
        try_join_all(per_shard.into_iter().enumerate().filter(|(_, t)| !t.is_empty()).map(
            |(s, tensors)| async move {
                let count = tensors.len() as u64;
                let response = self
                    .call(s as u32, "push_dense", move |mut c| {
                        let request = pb::PushDenseRequest {
                            grads: tensors.clone(),
                            worker_id: self.options.worker_id.clone(),
                            fencing_token: fence.token,
                            fencing_scope: fence.scope.to_owned(),
                        };
                        async move { c.push_dense(request).await }
                    })
                    .await?;
                self.ledger.acknowledged(s, response.durability.as_ref(), count);
                Ok::<_, PsClientError>(())
            },
        ))
        .await?;
        Ok(())
    }
}
