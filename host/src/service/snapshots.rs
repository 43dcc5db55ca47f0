//! Table snapshots: take one (a job), list, read, delete, restore (a job).

use serde_json::json;

use duckstore_plugin_sdk::jobs::{Job, JobProgress};
use duckstore_plugin_sdk::names::BranchRef;
use duckstore_plugin_sdk::snapshots::{NewSnapshot, RestoreRequest, Snapshot, SnapshotDetail, SnapshotQuery};

use crate::auth::{Access, Principal};
use crate::service::jobs::new_job;
use crate::service::{Service, ServiceResult, Wait};

impl Service {
    /// Snapshots a table: its rows plus its exact schema and key (`snapshot_create`); the
    /// job's result holds the snapshot and, as `id`, its id.
    pub async fn start_snapshot(
        &self,
        who: &Principal,
        at: BranchRef,
        new: NewSnapshot,
        wait: Wait,
    ) -> ServiceResult<Job> {
        who.authorize(&at.project, Some(&at.branch), Access::Write)?;
        let table = format!("{}.{}", new.bucket_id, new.table_name);
        let job = new_job(who, &at.project, Some(&at.branch), "snapshot_create", Some(table));
        let actor = who.label();
        self.start_job(job, wait, move |s| {
            let snapshot = s.create_snapshot(&at, &new, &actor)?;
            Ok((
                JobProgress { rows: snapshot.row_count, bytes: snapshot.size_bytes },
                json!({"id": snapshot.id, "snapshot": snapshot}),
            ))
        })
        .await
    }

    /// Snapshots taken on a branch, newest first.
    pub async fn list_snapshots(
        &self,
        who: &Principal,
        at: BranchRef,
        query: SnapshotQuery,
    ) -> ServiceResult<Vec<Snapshot>> {
        who.authorize(&at.project, Some(&at.branch), Access::Read)?;
        Ok(self.storage.run(move |s| s.list_snapshots(&at, &query)).await?)
    }

    pub async fn snapshot(&self, who: &Principal, at: BranchRef, id: String) -> ServiceResult<SnapshotDetail> {
        who.authorize(&at.project, Some(&at.branch), Access::Read)?;
        Ok(self.storage.run(move |s| s.get_snapshot(&at, &id)).await?)
    }

    pub async fn delete_snapshot(&self, who: &Principal, at: BranchRef, id: String) -> ServiceResult<()> {
        who.authorize(&at.project, Some(&at.branch), Access::Write)?;
        Ok(self.storage.run(move |s| s.delete_snapshot(&at, &id)).await?)
    }

    /// Restores a snapshot into its table (replaced atomically; recreated if dropped) or
    /// into a new table (`snapshot_restore`); the job's result names the table, also as `id`.
    pub async fn start_restore(
        &self,
        who: &Principal,
        at: BranchRef,
        id: String,
        request: RestoreRequest,
        wait: Wait,
    ) -> ServiceResult<Job> {
        who.authorize(&at.project, Some(&at.branch), Access::Write)?;
        let job = new_job(who, &at.project, Some(&at.branch), "snapshot_restore", Some(id.clone()));
        let actor = who.label();
        self.start_job(job, wait, move |s| {
            let restored = s.restore_snapshot(&at, &id, &request, &actor)?;
            let mut result = json!(restored);
            result["id"] = json!(restored.table_id);
            Ok((JobProgress { rows: restored.row_count, bytes: 0 }, result))
        })
        .await
    }
}
