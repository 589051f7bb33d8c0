//! One shard's state and its request logic: table creation, pull and push
//! with every check done before any state changes, the fencing tokens (one
//! per scope, so jobs sharing a shard never fence each other), and counters. The gRPC service only converts types and calls these methods.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use tessera_proto::common::v1::{Compression, TransferStats, ValueEncoding};
use tessera_proto::ps::v1 as pb;

use crate::dense::DenseStore;
use crate::error::{PsError, Result};
use crate::init::Init;
use crate::optimizer::Optimizer;
use crate::table::{NonFinite, Table, TableConfig};
use ps_client::codec::{decode_ids, encode_values_owned, DecodedPayload};
use ps_client::routing::Router;

/// Largest number of ids in one request.
pub const DEFAULT_MAX_IDS: usize = 1 << 20;
/// Largest row dimension.
pub const MAX_DIM: u32 = 4096;
/// Most fencing scopes (jobs) one shard tracks.
pub const MAX_FENCING_SCOPES: usize = 4096;

/// Counters reported by `Stats`.
#[derive(Debug, Default)]
pub struct Counters {
    /// Payload bytes received, on the wire.
    pub bytes_in_wire: AtomicU64,
    /// Payload bytes received, decoded.
    pub bytes_in_raw: AtomicU64,
    /// Payload bytes sent, on the wire.
    pub bytes_out_wire: AtomicU64,
    /// Payload bytes sent, before compression.
    pub bytes_out_raw: AtomicU64,
    /// Pushes applied.
    pub num_updates: AtomicU64,
}

/// One shard.
#[derive(Debug)]
pub struct Shard {
    shard: u32,
    num_shards: u32,
    max_ids: usize,
    tables: RwLock<HashMap<String, Arc<Table>>>,
    dense: DenseStore,
    /// Latest fencing token per scope (a job's namespace; `""` is the
    /// shard-wide scope of callers that name none).
    fencing: Mutex<BTreeMap<String, u64>>,
    /// Pushes hold it shared; a checkpoint holds it exclusively, so it sees
    /// every push completely or not at all.
    gate: RwLock<()>,
    persist: persist::Persistence,
    /// Counters.
    pub counters: Counters,
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Validates a table spec into its configuration, naming the bad field.
///
/// # Errors
/// `InvalidArgument` for a bad name, dimension, optimizer, init or policy.
pub(crate) fn table_config(spec: &pb::TableSpec) -> Result<TableConfig> {
    if !valid_name(&spec.name) {
        return Err(PsError::InvalidArgument(format!(
            "table name {:?} must be 1–64 chars of [a-z0-9_]",
            spec.name
        )));
    }
    if spec.dim == 0 || spec.dim > MAX_DIM {
        return Err(PsError::InvalidArgument(format!(
            "table {}: dim {} is not in 1..={MAX_DIM}",
            spec.name, spec.dim
        )));
    }
    let optimizer = spec
        .optimizer
        .as_ref()
        .ok_or_else(|| PsError::InvalidArgument(format!("table {}: optimizer is missing", spec.name)))
        .and_then(Optimizer::from_proto)?;
    let non_finite = match pb::NonFinitePolicy::try_from(spec.non_finite) {
        Ok(pb::NonFinitePolicy::Reject) => NonFinite::Reject,
        Ok(pb::NonFinitePolicy::Clip) if spec.clip_value.is_finite() && spec.clip_value > 0.0 => {
            NonFinite::Clip(spec.clip_value)
        }
        _ => {
            return Err(PsError::InvalidArgument(format!(
                "table {}: bad non_finite policy or clip_value",
                spec.name
            )))
        }
    };
    let config = TableConfig {
        name: spec.name.clone(),
        dim: spec.dim as usize,
        optimizer,
        init: Init::from_proto(spec.init.as_ref())?,
        num_ids: spec.num_ids,
        non_finite,
    };
    Ok(config)
}

impl Shard {
    /// An empty shard `shard` of `num_shards`.
    pub fn new(shard: u32, num_shards: u32) -> Self {
        let persist = persist::Persistence::default();
        persist.begin_incarnation(0);
        Self {
            shard,
            num_shards,
            max_ids: DEFAULT_MAX_IDS,
            tables: RwLock::new(HashMap::new()),
            dense: DenseStore::default(),
            fencing: Mutex::new(BTreeMap::new()),
            gate: RwLock::new(()),
            persist,
            counters: Counters::default(),
        }
    }

    /// This shard's index and the cluster size.
    pub fn identity(&self) -> (u32, u32) {
        (self.shard, self.num_shards)
    }

    /// The dimension of table `name`, if it exists.
    pub fn dim_of(&self, name: &str) -> Option<u64> {
        let tables = self.tables.read().unwrap_or_else(|p| p.into_inner());
        tables.get(name).map(|t| t.config().dim as u64)
    }

    /// Whether a checkpoint or restore holds the push gate right now.
    pub fn checkpoint_running(&self) -> bool {
        matches!(self.gate.try_read(), Err(std::sync::TryLockError::WouldBlock))
    }

    fn table(&self, name: &str) -> Result<Arc<Table>> {
        let tables = self.tables.read().unwrap_or_else(|p| p.into_inner());
        tables.get(name).cloned().ok_or_else(|| PsError::NotFound(format!("table {name:?} does not exist")))
    }

    /// Creates a table or checks that the existing one matches.
    ///
    /// # Errors
    /// `InvalidArgument` for a bad spec or one that differs from the existing table.
    pub fn create_table(&self, spec: &pb::TableSpec) -> Result<bool> {
        let config = table_config(spec)?;
        let mut tables = self.tables.write().unwrap_or_else(|p| p.into_inner());
        if let Some(existing) = tables.get(&spec.name) {
            if existing.config() != &config {
                return Err(PsError::InvalidArgument(format!(
                    "table {} exists with a different spec",
                    spec.name
                )));
            }
            return Ok(false);
        }
        tables.insert(spec.name.clone(), Arc::new(Table::new(config, spec.clone())));
        Ok(true)
    }

    fn check_ids(&self, table: &TableConfig, ids: &[u64]) -> Result<()> {
        let router = Router::new(&table.name, self.num_shards);
        for &id in ids {
            if table.num_ids > 0 && id >= table.num_ids {
                return Err(PsError::InvalidArgument(format!(
                    "table {}: id {id} is not below num_ids {}",
                    table.name, table.num_ids
                )));
            }
            let owner = router.shard_of(id);
            if owner != self.shard {
                return Err(PsError::InvalidArgument(format!(
                    "table {}: id {id} belongs to shard {owner}, not shard {}",
                    table.name, self.shard
                )));
            }
        }
        Ok(())
    }

    /// Reads rows.
    ///
    /// # Errors
    /// `NotFound` for an unknown table, `InvalidArgument` for bad ids or encodings.
    pub fn pull(&self, request: &pb::PullRequest) -> Result<pb::PullResponse> {
        let table = self.table(&request.table)?;
        let ids = decode_ids(
            request.ids.as_ref().ok_or_else(|| PsError::InvalidArgument("pull: ids missing".into()))?,
            self.max_ids,
        )?;
        self.check_ids(table.config(), &ids)?;
        let encoding = ValueEncoding::try_from(request.encoding).unwrap_or(ValueEncoding::Unspecified);
        let compression = Compression::try_from(request.compression).map_err(|_| {
            PsError::InvalidArgument(format!("pull: unknown compression {}", request.compression))
        })?;
        let mut values = Vec::new();
        table.pull(&ids, &mut values);
        let rows = encode_values_owned(values, encoding, compression)?;
        let stats = TransferStats { raw_bytes: rows.raw_len, wire_bytes: rows.data.len() as u64 };
        self.counters.bytes_out_raw.fetch_add(stats.raw_bytes, Ordering::Relaxed);
        self.counters.bytes_out_wire.fetch_add(stats.wire_bytes, Ordering::Relaxed);
        Ok(pb::PullResponse { dim: table.config().dim as u32, rows: Some(rows), stats: Some(stats) })
    }

    /// Applies sparse gradients (or, with `assign`, sets the rows), all or nothing.
    ///
    /// # Errors
    /// `NotFound` for an unknown table; `InvalidArgument` for bad ids, sizes,
    /// frames or non-finite values; `Fenced` for a stale fencing token.
    pub fn push(&self, request: &pb::PushRequest) -> Result<pb::PushResponse> {
        let table = self.table(&request.table)?;
        let config = table.config();
        let ids = decode_ids(
            request.ids.as_ref().ok_or_else(|| PsError::InvalidArgument("push: ids missing".into()))?,
            self.max_ids,
        )?;
        // Delta-varint lists are strictly increasing by construction.
        let id_list = request.ids.as_ref().map_or(0, |l| l.encoding);
        if id_list != tessera_proto::common::v1::IdEncoding::DeltaVarint as i32 {
            let mut sorted = ids.clone();
            sorted.sort_unstable();
            if sorted.windows(2).any(|w| w[0] == w[1]) {
                return Err(PsError::InvalidArgument(format!(
                    "push to {}: duplicate ids; sum their gradients first",
                    config.name
                )));
            }
        }
        self.check_ids(config, &ids)?;
        let payload =
            request.grads.as_ref().ok_or_else(|| PsError::InvalidArgument("push: grads missing".into()))?;
        let decoded = DecodedPayload::new(payload, ids.len() * config.dim).map_err(|e| {
            PsError::InvalidArgument(format!(
                "push to {} ({} ids × dim {}): {e}",
                config.name,
                ids.len(),
                config.dim
            ))
        })?;
        // Uncompressed f32 gradients are read in place when aligned.
        let mut grads = match decoded.as_f32() {
            Some(g) => std::borrow::Cow::Borrowed(g),
            None => std::borrow::Cow::Owned(decoded.to_vec()),
        };
        if let Some(bad) = grads.iter().position(|g| !g.is_finite()) {
            match config.non_finite {
                NonFinite::Reject => {
                    return Err(PsError::InvalidArgument(format!(
                        "push to {}: non-finite gradient {} for id {}",
                        config.name,
                        grads[bad],
                        ids[bad / config.dim]
                    )))
                }
                NonFinite::Clip(bound) => grads
                    .to_mut()
                    .iter_mut()
                    .for_each(|g| *g = if g.is_nan() { 0.0 } else { g.clamp(-bound, bound) }),
            }
        }
        self.check_fencing(&request.fencing_scope, request.fencing_token, [request.table.as_str()])?;
        let _gate = self.gate.read().unwrap_or_else(|p| p.into_inner());
        if request.assign {
            table.assign(&ids, &grads);
        } else {
            table.push(&ids, &grads);
        }
        let seq = self.counters.num_updates.fetch_add(1, Ordering::Relaxed) + 1;
        self.counters.bytes_in_raw.fetch_add(payload.raw_len, Ordering::Relaxed);
        self.counters.bytes_in_wire.fetch_add(payload.data.len() as u64, Ordering::Relaxed);
        Ok(pb::PushResponse {
            rows_applied: ids.len() as u32,
            stats: Some(TransferStats { raw_bytes: payload.raw_len, wire_bytes: payload.data.len() as u64 }),
            durability: Some(self.persist.durability(seq)),
        })
    }

    /// Checks `token` against the latest token of `scope` and raises it.
    /// A non-empty scope must prefix every name the request touches, so a
    /// stale worker cannot dodge its job's token by naming another scope.
    pub(crate) fn check_fencing<'a>(
        &self,
        scope: &str,
        token: u64,
        names: impl IntoIterator<Item = &'a str>,
    ) -> Result<()> {
        if !scope.is_empty() {
            if !valid_name(scope) {
                return Err(PsError::InvalidArgument(format!(
                    "fencing scope {scope:?} must be 1-64 characters of [a-z0-9_]"
                )));
            }
            if let Some(name) = names.into_iter().find(|n| !n.starts_with(scope)) {
                return Err(PsError::InvalidArgument(format!(
                    "{name:?} is outside its fencing scope {scope:?}"
                )));
            }
        }
        let mut fencing = self.fencing.lock().unwrap_or_else(|p| p.into_inner());
        // A known scope is looked up without allocating: this runs on every push.
        if !fencing.contains_key(scope) {
            if fencing.len() >= MAX_FENCING_SCOPES {
                return Err(PsError::InvalidArgument(format!(
                    "fencing scope {scope:?}: the shard already tracks {MAX_FENCING_SCOPES} scopes"
                )));
            }
            fencing.insert(scope.to_owned(), 0);
        }
        let current = fencing.get_mut(scope).expect("scope present");
        if token < *current {
            return Err(PsError::Fenced(format!(
                "fencing token {token} is older than {current}, the latest of scope {scope:?}"
            )));
        }
        *current = token;
        Ok(())
    }

    /// The latest fencing token of every scope.
    pub fn fencing_tokens(&self) -> BTreeMap<String, u64> {
        self.fencing.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Figures for `Stats`.
    pub fn stats(&self) -> pb::StatsResponse {
        let tables = self.tables.read().unwrap_or_else(|p| p.into_inner());
        let mut list: Vec<_> = tables
            .values()
            .map(|t| {
                let (rows_pulled, rows_pushed) = t.traffic();
                pb::TableStats {
                    name: t.config().name.clone(),
                    dim: t.config().dim as u32,
                    num_rows: t.num_rows() as u64,
                    rows_pulled,
                    rows_pushed,
                }
            })
            .collect();
        list.sort_by(|a, b| a.name.cmp(&b.name));
        let c = &self.counters;
        pb::StatsResponse {
            shard: self.shard,
            num_shards: self.num_shards,
            tables: list,
            num_dense: self.dense.len() as u32,
            bytes_in_wire: c.bytes_in_wire.load(Ordering::Relaxed),
            bytes_in_raw: c.bytes_in_raw.load(Ordering::Relaxed),
            bytes_out_wire: c.bytes_out_wire.load(Ordering::Relaxed),
            bytes_out_raw: c.bytes_out_raw.load(Ordering::Relaxed),
            num_updates: c.num_updates.load(Ordering::Relaxed),
            last_checkpoint_id: self.persist.last_id(),
        }
    }

    /// Every materialised row of a table (tests and checkpoints).
    ///
    /// # Errors
    /// `NotFound` for an unknown table.
    pub fn snapshot(&self, table: &str) -> Result<HashMap<u64, crate::table::Row>> {
        Ok(self.table(table)?.snapshot())
    }
}

mod dense_rpc;
mod export;
mod persist;
#[cfg(test)]
mod tests;

pub use persist::RestoreOutcome;
