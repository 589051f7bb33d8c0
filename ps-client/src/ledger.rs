//! Lost-update accounting. Every push a shard acknowledges carries its
//! durability: the shard's incarnation (new at every start and restore), the
//! update's sequence number, the last sequence number its newest checkpoint
//! holds, and the one this incarnation was restored to. The ledger keeps,
//! per shard, the acknowledged updates not yet in a checkpoint; when a shard
//! comes back as a new incarnation, those above the sequence number it was
//! restored to are counted as lost. The count is what this client was told:
//! a client that dies takes its own acknowledgements with it.

use std::collections::BTreeMap;
use std::sync::Mutex;

use tessera_proto::ps::v1 as pb;

/// Acknowledged updates lost to shard restarts, as this client counts them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lost {
    /// Acknowledged pushes (sparse and dense) that no longer hold.
    pub updates: u64,
    /// Rows (sparse) or tensors (dense) those pushes updated.
    pub rows: u64,
    /// Shard restarts (or restores) seen.
    pub restarts: u64,
}

#[derive(Debug, Default)]
struct ShardLedger {
    incarnation: u64,
    /// Acknowledged updates above the newest checkpoint: seq → rows.
    pending: BTreeMap<u64, u64>,
    lost: Lost,
}

/// Per-shard acknowledgements since each shard's newest checkpoint.
#[derive(Debug)]
pub struct Ledger {
    shards: Mutex<Vec<ShardLedger>>,
}

impl Ledger {
    /// A ledger for `num_shards` shards.
    pub fn new(num_shards: usize) -> Self {
        Self { shards: Mutex::new((0..num_shards).map(|_| ShardLedger::default()).collect()) }
    }

    /// Records that `shard` acknowledged an update of `rows` rows with
    /// `durability` (absent from servers that do not report it).
    pub fn acknowledged(&self, shard: usize, durability: Option<&pb::Durability>, rows: u64) {
        let Some(d) = durability.filter(|d| d.incarnation != 0) else { return };
        let mut shards = self.shards.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(l) = shards.get_mut(shard) else { return };
        if l.incarnation != 0 && l.incarnation != d.incarnation {
            let gone = l.pending.split_off(&(d.restored_seq + 1));
            let gone_rows: u64 = gone.values().sum();
            l.lost.updates += gone.len() as u64;
            l.lost.rows += gone_rows;
            l.lost.restarts += 1;
            l.pending.clear();
            tracing::warn!(
                shard,
                lost_updates = gone.len(),
                lost_rows = gone_rows,
                restored_to = d.restored_seq,
                "a PS shard came back from its checkpoint: acknowledged updates after it are lost"
            );
        }
        l.incarnation = d.incarnation;
        l.pending = l.pending.split_off(&(d.durable_seq + 1));
        if d.update_seq > d.durable_seq {
            *l.pending.entry(d.update_seq).or_default() += rows;
        }
    }

    /// Lost updates over all shards so far.
    pub fn lost(&self) -> Lost {
        let shards = self.shards.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        shards.iter().fold(Lost::default(), |a, l| Lost {
            updates: a.updates + l.lost.updates,
            rows: a.rows + l.lost.rows,
            restarts: a.restarts + l.lost.restarts,
        })
    }

    /// Acknowledged updates not yet in a checkpoint, over all shards.
    pub fn at_risk(&self) -> u64 {
        let shards = self.shards.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        shards.iter().map(|l| l.pending.len() as u64).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(incarnation: u64, update_seq: u64, durable_seq: u64, restored_seq: u64) -> pb::Durability {
        pb::Durability { incarnation, update_seq, durable_seq, restored_seq }
    }

    #[test]
    fn updates_after_the_restored_checkpoint_are_lost_the_others_are_not() {
        let ledger = Ledger::new(2);
        for seq in 1..=10 {
            ledger.acknowledged(0, Some(&d(7, seq, 0, 0)), 100);
        }
        // A checkpoint at 6 makes 1..=6 durable.
        ledger.acknowledged(0, Some(&d(7, 11, 6, 0)), 100);
        assert_eq!(ledger.at_risk(), 5);
        // Shard 1 is independent.
        ledger.acknowledged(1, Some(&d(9, 1, 0, 0)), 3);
        // Shard 0 restarts from the checkpoint at 6: 7..=11 are lost.
        ledger.acknowledged(0, Some(&d(8, 7, 6, 6)), 50);
        assert_eq!(ledger.lost(), Lost { updates: 5, rows: 500, restarts: 1 });
        assert_eq!(ledger.at_risk(), 2, "the new update and shard 1's");
        // Later acknowledgements of the new incarnation lose nothing more.
        ledger.acknowledged(0, Some(&d(8, 8, 6, 6)), 50);
        assert_eq!(ledger.lost().updates, 5);
    }

    #[test]
    fn a_restart_from_a_newer_checkpoint_than_known_loses_only_what_it_lacks() {
        let ledger = Ledger::new(1);
        for seq in 1..=10 {
            ledger.acknowledged(0, Some(&d(1, seq, 0, 0)), 1);
        }
        // The shard checkpointed at 8 without this client hearing of it, then restarted.
        ledger.acknowledged(0, Some(&d(2, 9, 8, 8)), 1);
        assert_eq!(ledger.lost(), Lost { updates: 2, rows: 2, restarts: 1 });
        // A shard that started empty (no checkpoint) loses everything acknowledged.
        ledger.acknowledged(0, Some(&d(3, 1, 0, 0)), 1);
        assert_eq!(ledger.lost(), Lost { updates: 3, rows: 3, restarts: 2 });
    }

    #[test]
    fn servers_without_durability_and_unknown_shards_are_ignored() {
        let ledger = Ledger::new(1);
        ledger.acknowledged(0, None, 5);
        ledger.acknowledged(0, Some(&d(0, 3, 0, 0)), 5);
        ledger.acknowledged(4, Some(&d(1, 3, 0, 0)), 5);
        assert_eq!((ledger.lost(), ledger.at_risk()), (Lost::default(), 0));
    }
}
