//! Checkpoint and restore of a shard. A checkpoint holds the push gate
//! exclusively while it copies the state, so it contains every push whole or
//! not at all; the file is written after the gate is released.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tessera_proto::ps::v1 as pb;

use super::{table_config, Shard};
use crate::checkpoint::{self, ShardImage};
use crate::error::{PsError, Result};
use crate::table::Table;

/// Where and how far a shard has persisted.
#[derive(Debug, Default)]
pub struct Persistence {
    dir: Mutex<Option<PathBuf>>,
    last_id: AtomicU64,
    /// Serialises checkpoint writers.
    writing: Mutex<()>,
    /// Random id of the state since start or the last restore.
    incarnation: AtomicU64,
    /// Updates up to this sequence number are in the newest checkpoint.
    durable_seq: AtomicU64,
    /// The sequence number this incarnation was restored to.
    restored_seq: AtomicU64,
}

impl Persistence {
    /// Id of the newest checkpoint written or restored (0 = none).
    pub fn last_id(&self) -> u64 {
        self.last_id.load(Ordering::Relaxed)
    }

    /// Starts a new incarnation restored to update `seq` (0: empty).
    pub fn begin_incarnation(&self, seq: u64) {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let previous = self.incarnation.load(Ordering::Relaxed);
        let id = ps_client::routing::mix64(nanos ^ (u64::from(std::process::id()) << 32) ^ previous).max(1);
        self.incarnation.store(id, Ordering::Relaxed);
        self.durable_seq.store(seq, Ordering::Relaxed);
        self.restored_seq.store(seq, Ordering::Relaxed);
    }

    /// The durability of update `seq` as of now.
    pub fn durability(&self, seq: u64) -> pb::Durability {
        pb::Durability {
            incarnation: self.incarnation.load(Ordering::Relaxed),
            update_seq: seq,
            durable_seq: self.durable_seq.load(Ordering::Relaxed),
            restored_seq: self.restored_seq.load(Ordering::Relaxed),
        }
    }
}

/// What a restore did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestoreOutcome {
    /// Checkpoint restored.
    pub checkpoint_id: u64,
    /// Rows restored.
    pub num_rows: u64,
    /// Updates applied in this process since that checkpoint, now discarded.
    pub updates_lost: u64,
}

impl Shard {
    /// Sets the checkpoint directory (enables Checkpoint and Restore).
    pub fn set_checkpoint_dir(&self, dir: PathBuf) {
        *self.persist.dir.lock().unwrap_or_else(|p| p.into_inner()) = Some(dir);
    }

    fn checkpoint_dir(&self) -> Result<PathBuf> {
        self.persist
            .dir
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| PsError::InvalidArgument("this shard runs without --checkpoint-dir".into()))
    }

    /// Writes a checkpoint now.
    ///
    /// # Errors
    /// `InvalidArgument` without a checkpoint dir; `Io` on write errors.
    pub fn checkpoint(&self) -> Result<pb::CheckpointResponse> {
        let dir = self.checkpoint_dir()?;
        let _writing = self.persist.writing.lock().unwrap_or_else(|p| p.into_inner());
        let id = self.persist.last_id().max(checkpoint::list(&dir)?.last().map_or(0, |c| c.0)) + 1;
        let image = {
            let _gate = self.gate.write().unwrap_or_else(|p| p.into_inner());
            let tables = self.tables.read().unwrap_or_else(|p| p.into_inner());
            let mut list: Vec<_> = tables
                .values()
                .map(|t| {
                    let mut rows: Vec<_> = t.snapshot().into_iter().collect();
                    rows.sort_unstable_by_key(|r| r.0);
                    (t.spec().clone(), rows)
                })
                .collect();
            list.sort_by(|a, b| a.0.name.cmp(&b.0.name));
            ShardImage {
                shard: self.shard,
                num_shards: self.num_shards,
                id,
                num_updates: self.counters.num_updates.load(Ordering::Relaxed),
                fencing: self.fencing_tokens(),
                tables: list,
                dense: self.dense.snapshot(),
            }
        };
        let num_rows = image.tables.iter().map(|t| t.1.len() as u64).sum();
        let (path, bytes) = checkpoint::write(&dir, &image)?;
        self.persist.last_id.store(id, Ordering::Relaxed);
        self.persist.durable_seq.fetch_max(image.num_updates, Ordering::Relaxed);
        tracing::info!(checkpoint_id = id, num_rows, bytes, path = %path.display(), "checkpoint written");
        Ok(pb::CheckpointResponse { checkpoint_id: id, path: path.display().to_string(), num_rows, bytes })
    }

    /// Replaces the state with checkpoint `id` (0 = newest readable).
    ///
    /// # Errors
    /// `NotFound` when there is no such checkpoint; `InvalidArgument` when it
    /// is corrupt or belongs to another shard. The state is unchanged then.
    pub fn restore(&self, id: u64) -> Result<RestoreOutcome> {
        let dir = self.checkpoint_dir()?;
        let found = checkpoint::list(&dir)?;
        let image = if id == 0 {
            let mut newest = None;
            for (cid, path) in found.iter().rev() {
                match checkpoint::read(path) {
                    Ok(image) => {
                        newest = Some(image);
                        break;
                    }
                    Err(e) => tracing::error!(
                        checkpoint_id = cid,
                        "failed to read checkpoint, trying an older one: {e}"
                    ),
                }
            }
            newest.ok_or_else(|| PsError::NotFound(format!("no readable checkpoint in {}", dir.display())))?
        } else {
            let path = found.iter().find(|c| c.0 == id).map(|c| c.1.clone()).ok_or_else(|| {
                PsError::NotFound(format!("checkpoint {id} not found in {}", dir.display()))
            })?;
            checkpoint::read(&path)?
        };
        if (image.shard, image.num_shards) != (self.shard, self.num_shards) {
            return Err(PsError::InvalidArgument(format!(
                "checkpoint {} is of shard {}/{}, this is shard {}/{}",
                image.id, image.shard, image.num_shards, self.shard, self.num_shards
            )));
        }
        let mut fresh = HashMap::new();
        let mut num_rows = 0;
        for (spec, rows) in image.tables {
            let table = Table::new(table_config(&spec)?, spec.clone());
            num_rows += rows.len() as u64;
            table.replace_rows(rows)?;
            fresh.insert(spec.name.clone(), Arc::new(table));
        }
        let _gate = self.gate.write().unwrap_or_else(|p| p.into_inner());
        *self.tables.write().unwrap_or_else(|p| p.into_inner()) = fresh;
        self.dense.replace(image.dense);
        *self.fencing.lock().unwrap_or_else(|p| p.into_inner()) = image.fencing;
        let now = self.counters.num_updates.swap(image.num_updates, Ordering::Relaxed);
        self.persist.last_id.store(image.id, Ordering::Relaxed);
        self.persist.begin_incarnation(image.num_updates);
        let updates_lost = now.saturating_sub(image.num_updates);
        tracing::info!(checkpoint_id = image.id, num_rows, updates_lost, "restored checkpoint");
        Ok(RestoreOutcome { checkpoint_id: image.id, num_rows, updates_lost })
    }
}
