//! The coordinator's job store against a real etcd: a job that ended stays
//! ended, whoever writes a status afterwards.

use tessera_control::store::{JobMeta, JobStatus, Store};
use tessera_proto::coordinator::v1::JobState;
use tessera_tests::Etcd;

#[tokio::test]
async fn a_terminal_status_is_never_overwritten() -> anyhow::Result<()> {
    let etcd = Etcd::start().await?;
    let store =
        Store::connect(&tessera_runtime::etcd::EtcdAccess::plain([etcd.endpoint()]), "/tessera-store-test/")
            .await?;
    let meta = JobMeta { job_id: "sticky".into(), model: "mf".into(), created_ms: 0 };
    store.create_job(&meta, "spec").await?;

    // A scheduler tick that read the job while it was pending.
    let stale = store.load_job("sticky").await?;
    assert_eq!(stale.status.job_state(), JobState::Pending);

    // Meanwhile a worker reports an error and the job fails.
    let failed = JobStatus::failed("partition 1 on w-bad: boom");
    assert!(store.set_status("sticky", &failed).await?);

    // The tick now writes what it decided from its stale read: refused.
    assert!(!store.set_status("sticky", &JobStatus::new(JobState::Running, "training")).await?);
    assert!(!store.set_status("sticky", &JobStatus::new(JobState::Cancelled, "cancelled")).await?);
    let now = store.load_job("sticky").await?.status;
    assert_eq!(now.job_state(), JobState::Failed);
    assert_eq!(now.error, "partition 1 on w-bad: boom");

    // Non-terminal states still replace each other.
    let meta = JobMeta { job_id: "moving".into(), model: "mf".into(), created_ms: 0 };
    store.create_job(&meta, "spec").await?;
    assert!(store.set_status("moving", &JobStatus::new(JobState::Running, "training")).await?);
    assert!(store.set_status("moving", &JobStatus::new(JobState::Evaluating, "final evaluation")).await?);
    assert_eq!(store.load_job("moving").await?.status.job_state(), JobState::Evaluating);
    Ok(())
}
