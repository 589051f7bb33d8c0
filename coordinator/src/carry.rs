//! Lost-update counts carried across a partition's holders. A worker
//! reports the acknowledged PS updates that shard restarts took from it,
//! counted by its own PS client since it took up the partition. When the
//! partition moves (its worker died or was fenced) or its worker's client
//! starts again (a restarted process), the new holder counts from 0, so the
//! coordinator adds what the earlier holders reported: a stored report's
//! counts are the holder's own plus the carried ones.

use tessera_proto::coordinator::v1::ProgressReport;

/// Sets `report`'s carried counts from `previous`, the partition's stored
/// report, and adds them to its counts.
pub fn carry_lost_counts(previous: &ProgressReport, report: &mut ProgressReport) {
    let own = |total: u64, carried: u64| total.saturating_sub(carried);
    let previous_own = [
        own(previous.updates_lost, previous.carried_updates_lost),
        own(previous.rows_lost, previous.carried_rows_lost),
        own(previous.ps_restarts, previous.carried_ps_restarts),
    ];
    let incoming = [report.updates_lost, report.rows_lost, report.ps_restarts];
    // The same client goes on counting: its counts never go down.
    let same_client = previous.worker_id == report.worker_id
        && previous.fencing_token == report.fencing_token
        && incoming.iter().zip(previous_own).all(|(now, before)| *now >= before);
    let carried = if same_client {
        [previous.carried_updates_lost, previous.carried_rows_lost, previous.carried_ps_restarts]
    } else {
        [previous.updates_lost, previous.rows_lost, previous.ps_restarts]
    };
    report.carried_updates_lost = carried[0];
    report.carried_rows_lost = carried[1];
    report.carried_ps_restarts = carried[2];
    report.updates_lost += carried[0];
    report.rows_lost += carried[1];
    report.ps_restarts += carried[2];
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(worker: &str, fencing: u64, lost: u64) -> ProgressReport {
        ProgressReport {
            worker_id: worker.into(),
            fencing_token: fencing,
            updates_lost: lost,
            rows_lost: 10 * lost,
            ps_restarts: u64::from(lost > 0),
            ..ProgressReport::default()
        }
    }

    /// Stores `incoming` after `stored`, as the coordinator does.
    fn store(stored: Option<&ProgressReport>, mut incoming: ProgressReport) -> ProgressReport {
        if let Some(previous) = stored {
            carry_lost_counts(previous, &mut incoming);
        }
        incoming
    }

    #[test]
    fn the_same_client_keeps_its_own_count() {
        let first = store(None, report("w0", 1, 2));
        let second = store(Some(&first), report("w0", 1, 3));
        assert_eq!((second.updates_lost, second.rows_lost, second.carried_updates_lost), (3, 30, 0));
    }

    #[test]
    fn a_new_holder_or_a_new_process_adds_to_what_earlier_holders_lost() {
        let dead = store(None, report("w1", 1, 4));
        // The partition moves to w0 with a new token: w0 counts from 0.
        let moved = store(Some(&dead), report("w0", 2, 0));
        assert_eq!((moved.updates_lost, moved.rows_lost, moved.ps_restarts), (4, 40, 1));
        let later = store(Some(&moved), report("w0", 2, 1));
        assert_eq!((later.updates_lost, later.carried_updates_lost), (5, 4));
        // w0's process restarts and keeps the assignment: its count starts at 0 again.
        let restarted = store(Some(&later), report("w0", 2, 0));
        assert_eq!((restarted.updates_lost, restarted.carried_updates_lost), (5, 5));
        let again = store(Some(&restarted), report("w0", 2, 2));
        assert_eq!(again.updates_lost, 7);
    }
}
