//! The etcd key layout, in one place, and the member records kept under a
//! lease. Under a prefix such as `/tessera/`:
//! - `members/ps/<shard>`: a [`ShardMember`] (JSON), under the shard's lease;
//! - `members/workers/<id>`: a [`WorkerMember`] (JSON), under the worker's lease;
//! - `jobs/<job>/spec`: the TOML as submitted;
//! - `jobs/<job>/meta`: JSON id, model, creation time;
//! - `jobs/<job>/state`: JSON state, message, error, update time;
//! - `fencing`: the cluster's fencing counter; `jobs/<job>/fencing`: the
//!   job's latest token (both decimal integers);
//! - `jobs/<job>/plan`: JSON partition directory and count;
//! - `jobs/<job>/assignment/<partition>`: JSON worker and fencing token;
//! - `jobs/<job>/progress/<partition>`: the latest `ProgressReport` (protobuf);
//! - `jobs/<job>/metrics/<time>-<worker>`: one `MetricsReport` each (protobuf).

use serde::{Deserialize, Serialize};

/// Default key prefix.
pub const DEFAULT_PREFIX: &str = "/tessera/";

/// What a parameter-server shard publishes about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardMember {
    /// Shard index.
    pub shard: u32,
    /// Number of shards.
    pub num_shards: u32,
    /// gRPC endpoint, `http://host:port`.
    pub endpoint: String,
}

/// What a worker publishes about itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerMember {
    /// Worker id.
    pub worker_id: String,
    /// Host name.
    #[serde(default)]
    pub host: String,
    /// Process id.
    #[serde(default)]
    pub pid: u32,
    /// Device the worker trains on.
    #[serde(default)]
    pub device: String,
}

/// The keys under one prefix (which ends in `/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    /// The layout under `prefix`.
    pub fn new(prefix: &str) -> Self {
        Self { prefix: prefix.to_owned() }
    }

    /// The prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Prefix of every shard's member key.
    pub fn ps_members(&self) -> String {
        format!("{}members/ps/", self.prefix)
    }

    /// Member key of shard `shard`.
    pub fn ps_member(&self, shard: u32) -> String {
        format!("{}{shard}", self.ps_members())
    }

    /// Prefix of every worker's member key.
    pub fn workers(&self) -> String {
        format!("{}members/workers/", self.prefix)
    }

    /// Member key of worker `worker_id`.
    pub fn worker(&self, worker_id: &str) -> String {
        format!("{}{worker_id}", self.workers())
    }

    /// Prefix of every job's keys.
    pub fn jobs(&self) -> String {
        format!("{}jobs/", self.prefix)
    }

    /// Key `leaf` (such as `spec` or `assignment/0`) of job `job_id`.
    pub fn job(&self, job_id: &str, leaf: &str) -> String {
        format!("{}{job_id}/{leaf}", self.jobs())
    }

    /// The cluster's fencing counter.
    pub fn fencing(&self) -> String {
        format!("{}fencing", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_nest_under_the_prefix() {
        let k = Keys::new("/t/");
        assert_eq!(k.ps_member(3), "/t/members/ps/3");
        assert!(k.ps_member(3).starts_with(&k.ps_members()));
        assert_eq!(k.worker("w-1"), "/t/members/workers/w-1");
        assert_eq!(k.job("j", "assignment/0"), "/t/jobs/j/assignment/0");
        assert_eq!(k.fencing(), "/t/fencing");
    }
}
