//! Job and membership state in etcd, typed. Everything the coordinator knows
//! lives here, so a restarted coordinator carries on where the last one
//! stopped; workers read their assignments through the same store.
//!
//! The key layout is in [`crate::keys`].

use std::collections::BTreeMap;
use std::path::PathBuf;

use etcd_client::{Client, Compare, CompareOp, GetOptions, Txn, TxnOp, WatchOptions};
use prost::Message as _;
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use tessera_proto::coordinator::v1::{JobState, MetricsReport, ProgressReport};

use crate::error::{Result, StoreError};
use crate::keys::{Keys, ShardMember, WorkerMember};

/// Job identity, written once at submission.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobMeta {
    /// Job id.
    pub job_id: String,
    /// Model kind.
    pub model: String,
    /// Submission time, Unix milliseconds.
    pub created_ms: i64,
}

/// Where a job is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobStatus {
    /// `JobState` name, such as `JOB_STATE_RUNNING`.
    pub state: String,
    /// What the job waits for or does now.
    #[serde(default)]
    pub message: String,
    /// The error, when failed.
    #[serde(default)]
    pub error: String,
    /// Last change, Unix milliseconds.
    pub updated_ms: i64,
}

impl JobStatus {
    /// A status in `state` now.
    pub fn new(state: JobState, message: impl Into<String>) -> Self {
        Self {
            state: state.as_str_name().into(),
            message: message.into(),
            error: String::new(),
            updated_ms: now_ms(),
        }
    }

    /// A failed status carrying `error`.
    pub fn failed(error: impl Into<String>) -> Self {
        Self { error: error.into(), ..Self::new(JobState::Failed, "failed") }
    }

    /// The state as the protocol enum (unspecified when unknown).
    pub fn job_state(&self) -> JobState {
        JobState::from_str_name(&self.state).unwrap_or(JobState::Unspecified)
    }

    /// Whether the job has ended.
    pub fn is_terminal(&self) -> bool {
        matches!(self.job_state(), JobState::Succeeded | JobState::Failed | JobState::Cancelled)
    }
}

/// The partition plan of a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanRecord {
    /// Plan directory.
    pub dir: PathBuf,
    /// Number of partitions.
    pub parts: u32,
}

/// Who trains a partition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssignmentRecord {
    /// Worker id; empty while unassigned.
    pub worker: String,
    /// Fencing token at which it was made.
    pub fencing: u64,
}

/// Everything stored about one job.
#[derive(Debug, Clone)]
pub struct JobRecord {
    /// Identity.
    pub meta: JobMeta,
    /// Spec TOML.
    pub spec_toml: String,
    /// State.
    pub status: JobStatus,
    /// Fencing token.
    pub fencing: u64,
    /// Plan, once made.
    pub plan: Option<PlanRecord>,
    /// Assignments by partition.
    pub assignments: BTreeMap<u32, AssignmentRecord>,
    /// Latest progress by partition.
    pub progress: BTreeMap<u32, ProgressReport>,
    /// Metrics reports, oldest first.
    pub metrics: Vec<MetricsReport>,
}

/// Unix milliseconds now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// A handle on the etcd state. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    client: Client,
    keys: Keys,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("prefix", &self.keys.prefix()).finish_non_exhaustive()
    }
}

fn decode_json<T: DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt { key: key.into(), reason: e.to_string() })
}

fn encode_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("plain data encodes as JSON")
}

/// Checks a job id: 1–64 characters of `[a-z0-9-]`.
///
/// # Errors
/// Fails with a message naming the id.
pub fn check_job_id(job_id: &str) -> Result<()> {
    let ok = !job_id.is_empty()
        && job_id.len() <= 64
        && job_id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(StoreError::InvalidArgument(format!("job id {job_id:?} must be 1-64 characters of [a-z0-9-]")))
    }
}

impl Store {
    /// Connects to etcd.
    ///
    /// # Errors
    /// Fails when etcd cannot be reached.
    pub async fn connect(etcd: &tessera_runtime::etcd::EtcdAccess, prefix: &str) -> Result<Self> {
        let client = etcd.connect_default().await?;
        Ok(Self { client, keys: Keys::new(prefix) })
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        self.keys.prefix()
    }

    fn job_key(&self, job_id: &str, leaf: &str) -> String {
        self.keys.job(job_id, leaf)
    }

    /// The key a worker registers under.
    pub fn worker_key(&self, worker_id: &str) -> String {
        self.keys.worker(worker_id)
    }

    /// Creates a job; refuses an existing id.
    ///
    /// # Errors
    /// Fails when the id exists or etcd fails.
    pub async fn create_job(&self, meta: &JobMeta, spec_toml: &str) -> Result<()> {
        let meta_key = self.job_key(&meta.job_id, "meta");
        let status = JobStatus::new(JobState::Pending, "waiting for a partition plan");
        let txn = Txn::new().when([Compare::version(meta_key.clone(), CompareOp::Equal, 0)]).and_then([
            TxnOp::put(self.job_key(&meta.job_id, "spec"), spec_toml, None),
            TxnOp::put(self.job_key(&meta.job_id, "state"), encode_json(&status), None),
            TxnOp::put(self.job_key(&meta.job_id, "fencing"), "0", None),
            TxnOp::put(meta_key, encode_json(meta), None),
        ]);
        let response = self.client.clone().txn(txn).await?;
        if !response.succeeded() {
            return Err(StoreError::JobExists(meta.job_id.clone()));
        }
        Ok(())
    }

    /// Ids of all jobs.
    ///
    /// # Errors
    /// Fails when etcd fails.
    pub async fn job_ids(&self) -> Result<Vec<String>> {
        let prefix = self.keys.jobs();
        let response = self
            .client
            .clone()
            .get(prefix.clone(), Some(GetOptions::new().with_prefix().with_keys_only()))
            .await?;
        let mut ids: Vec<String> = response
            .kvs()
            .iter()
            .filter_map(|kv| {
                kv.key_str().ok()?.strip_prefix(&prefix)?.strip_suffix("/meta").map(str::to_owned)
            })
            .collect();
        ids.sort();
        Ok(ids)
    }

    /// Reads a whole job with one range read.
    ///
    /// # Errors
    /// Fails when the job does not exist, a value is corrupt, or etcd fails.
    pub async fn load_job(&self, job_id: &str) -> Result<JobRecord> {
        Ok(self.load_job_at(job_id, None).await?.0)
    }

    /// Reads a whole job as it was at etcd `revision` (the latest when
    /// `None`), with the revision read.
    ///
    /// # Errors
    /// As [`Store::load_job`]; also when the revision has been compacted.
    pub async fn load_job_at(&self, job_id: &str, revision: Option<i64>) -> Result<(JobRecord, i64)> {
        check_job_id(job_id)?;
        let prefix = self.job_key(job_id, "");
        let mut options = GetOptions::new().with_prefix();
        if let Some(revision) = revision {
            options = options.with_revision(revision);
        }
        let response = self.client.clone().get(prefix.clone(), Some(options)).await?;
        let read_at = revision.or_else(|| response.header().map(|h| h.revision())).unwrap_or(0);
        let mut meta = None;
        let mut spec_toml = String::new();
        let mut status = None;
        let mut fencing = 0;
        let mut plan = None;
        let mut assignments = BTreeMap::new();
        let mut progress = BTreeMap::new();
        let mut metrics = Vec::new();
        for kv in response.kvs() {
            let key = kv.key_str().unwrap_or_default().to_owned();
            let Some(leaf) = key.strip_prefix(&prefix) else { continue };
            let corrupt = |reason: String| StoreError::Corrupt { key: key.clone(), reason };
            let partition = |rest: &str| rest.parse::<u32>().map_err(|e| corrupt(format!("partition: {e}")));
            match leaf.split_once('/') {
                None => match leaf {
                    "meta" => meta = Some(decode_json::<JobMeta>(&key, kv.value())?),
                    "spec" => spec_toml = String::from_utf8_lossy(kv.value()).into_owned(),
                    "state" => status = Some(decode_json::<JobStatus>(&key, kv.value())?),
                    "fencing" => {
                        fencing = kv
                            .value_str()
                            .ok()
                            .and_then(|v| v.parse().ok())
                            .ok_or_else(|| corrupt("not an integer".into()))?;
                    }
                    "plan" => plan = Some(decode_json::<PlanRecord>(&key, kv.value())?),
                    _ => {}
                },
                Some(("assignment", rest)) => {
                    assignments.insert(partition(rest)?, decode_json::<AssignmentRecord>(&key, kv.value())?);
                }
                Some(("progress", rest)) => {
                    let report = ProgressReport::decode(kv.value()).map_err(|e| corrupt(e.to_string()))?;
                    progress.insert(partition(rest)?, report);
                }
                Some(("metrics", _)) => {
                    metrics.push(MetricsReport::decode(kv.value()).map_err(|e| corrupt(e.to_string()))?);
                }
                Some(_) => {}
            }
        }
        let meta = meta.ok_or_else(|| StoreError::JobNotFound(job_id.into()))?;
        let status = status.ok_or_else(|| StoreError::Corrupt {
            key: self.job_key(job_id, "state"),
            reason: "missing".into(),
        })?;
        metrics.sort_by_key(|m| m.unix_ms);
        Ok((JobRecord { meta, spec_toml, status, fencing, plan, assignments, progress, metrics }, read_at))
    }

    /// Watches every key of a job from `from_revision` on. Each response
    /// lists the changed keys by revision, so a caller can read the job at
    /// each of them ([`Store::load_job_at`]) and miss no state, however
    /// short it lasted.
    ///
    /// # Errors
    /// Fails when the job id is malformed or etcd fails.
    pub async fn watch_job(&self, job_id: &str, from_revision: i64) -> Result<etcd_client::WatchStream> {
        check_job_id(job_id)?;
        let options = WatchOptions::new().with_prefix().with_start_revision(from_revision);
        Ok(self.client.clone().watch(self.job_key(job_id, ""), Some(options)).await?)
    }

    /// Whether a changed job key (from [`Store::watch_job`]) is a progress
    /// report, the one kind of change frequent enough to coalesce.
    pub fn is_progress_key(&self, job_id: &str, key: &[u8]) -> bool {
        key.starts_with(self.job_key(job_id, "progress/").as_bytes())
    }

    /// Replaces a job's status unless the job already ended: a terminal
    /// state (succeeded, failed, cancelled) is never overwritten, so a
    /// scheduler tick working from an older read cannot undo a failure or a
    /// cancel reported meanwhile. The check and the write are one etcd
    /// transaction on the key's revision. Returns whether it wrote.
    ///
    /// # Errors
    /// Fails when etcd fails or the stored status is not valid JSON.
    pub async fn set_status(&self, job_id: &str, status: &JobStatus) -> Result<bool> {
        let key = self.job_key(job_id, "state");
        loop {
            let response = self.client.clone().get(key.clone(), None).await?;
            let revision = match response.kvs().first() {
                Some(kv) => {
                    if decode_json::<JobStatus>(&key, kv.value())?.is_terminal() {
                        return Ok(false);
                    }
                    kv.mod_revision()
                }
                None => 0,
            };
            let txn = Txn::new()
                .when([Compare::mod_revision(key.clone(), CompareOp::Equal, revision)])
                .and_then([TxnOp::put(key.clone(), encode_json(status), None)]);
            if self.client.clone().txn(txn).await?.succeeded() {
                return Ok(true);
            }
        }
    }

    /// Records the partition plan.
    ///
    /// # Errors
    /// Fails when etcd fails.
    pub async fn set_plan(&self, job_id: &str, plan: &PlanRecord) -> Result<()> {
        self.client.clone().put(self.job_key(job_id, "plan"), encode_json(plan), None).await?;
        Ok(())
    }

    /// Assigns `partition` to `worker` (empty for nobody), bumping the
    /// fencing token atomically. The PS shards compare tokens per job
    /// namespace only, so jobs never fence each other; tokens still come from
    /// one counter for the whole cluster (`<prefix>fencing`) so that a job id
    /// submitted again after its old run (same namespace on the shards)
    /// starts above every token that run used. `expected_job_fencing` is the job's token the caller
    /// saw; returns the new token, or `None` when the job's token moved
    /// meanwhile (look again).
    ///
    /// # Errors
    /// Fails when etcd fails.
    pub async fn assign(
        &self,
        job_id: &str,
        partition: u32,
        worker: &str,
        expected_job_fencing: u64,
    ) -> Result<Option<u64>> {
        let global_key = self.keys.fencing();
        let response = self.client.clone().get(global_key.clone(), None).await?;
        let (global, global_version) = match response.kvs().first() {
            Some(kv) => (
                kv.value_str().ok().and_then(|v| v.parse::<u64>().ok()).ok_or_else(|| {
                    StoreError::Corrupt { key: global_key.clone(), reason: "not an integer".into() }
                })?,
                kv.version(),
            ),
            None => (0, 0),
        };
        let job_key = self.job_key(job_id, "fencing");
        let next = global.max(expected_job_fencing) + 1;
        let record = AssignmentRecord { worker: worker.into(), fencing: next };
        let txn = Txn::new()
            .when([
                Compare::version(global_key.clone(), CompareOp::Equal, global_version),
                Compare::value(job_key.clone(), CompareOp::Equal, expected_job_fencing.to_string()),
            ])
            .and_then([
                TxnOp::put(global_key, next.to_string(), None),
                TxnOp::put(job_key, next.to_string(), None),
                TxnOp::put(
                    self.job_key(job_id, &format!("assignment/{partition}")),
                    encode_json(&record),
                    None,
                ),
            ]);
        let response = self.client.clone().txn(txn).await?;
        Ok(response.succeeded().then_some(next))
    }

    /// Stores a partition's latest progress.
    ///
    /// # Errors
    /// Fails when etcd fails.
    pub async fn put_progress(&self, job_id: &str, report: &ProgressReport) -> Result<()> {
        let key = self.job_key(job_id, &format!("progress/{}", report.partition));
        self.client.clone().put(key, report.encode_to_vec(), None).await?;
        Ok(())
    }

    /// Appends a metrics report.
    ///
    /// # Errors
    /// Fails when etcd fails.
    pub async fn add_metrics(&self, job_id: &str, report: &MetricsReport) -> Result<()> {
        let key = self.job_key(job_id, &format!("metrics/{:016}-{}", report.unix_ms, report.worker_id));
        self.client.clone().put(key, report.encode_to_vec(), None).await?;
        Ok(())
    }

    /// Registered workers.
    ///
    /// # Errors
    /// Fails when etcd fails or a value is corrupt.
    pub async fn live_workers(&self) -> Result<Vec<WorkerMember>> {
        let prefix = self.keys.workers();
        let response = self.client.clone().get(prefix, Some(GetOptions::new().with_prefix())).await?;
        response.kvs().iter().map(|kv| decode_json(kv.key_str().unwrap_or_default(), kv.value())).collect()
    }

    /// Registered PS shards.
    ///
    /// # Errors
    /// Fails when etcd fails or a value is corrupt.
    pub async fn live_ps_shards(&self) -> Result<Vec<ShardMember>> {
        let prefix = self.keys.ps_members();
        let response = self.client.clone().get(prefix, Some(GetOptions::new().with_prefix())).await?;
        response.kvs().iter().map(|kv| decode_json(kv.key_str().unwrap_or_default(), kv.value())).collect()
    }
}
