//! Table profiles: computed by a job, the latest kept with the table.

use serde_json::json;

use duckstore_plugin_sdk::jobs::{Job, JobProgress};
use duckstore_plugin_sdk::names::TableRef;
use duckstore_plugin_sdk::profiles::TableProfile;
use duckstore_plugin_sdk::{ErrorKind, StorageError};

use crate::auth::{Access, Principal};
use crate::service::jobs::new_job;
use crate::service::{Service, ServiceResult, Wait};

impl Service {
    /// Profiles a table's columns (`table_profile`); the job's result holds the profile.
    pub async fn start_profile(&self, who: &Principal, table: TableRef, wait: Wait) -> ServiceResult<Job> {
        who.authorize(&table.project, Some(&table.branch), Access::Read)?;
        let job = new_job(who, &table.project, Some(&table.branch), "table_profile", Some(table.table_id()));
        self.start_job(job, wait, move |s| {
            let profile = s.profile_table(&table)?;
            Ok((JobProgress { rows: profile.row_count, bytes: 0 }, json!({"id": profile.table_id, "profile": profile})))
        })
        .await
    }

    /// The table's latest profile; not found until one was computed.
    pub async fn profile(&self, who: &Principal, table: TableRef) -> ServiceResult<TableProfile> {
        who.authorize(&table.project, Some(&table.branch), Access::Read)?;
        let id = table.table_id();
        let latest = self.storage.run(move |s| s.table_profile(&table)).await?;
        Ok(latest.ok_or_else(|| {
            StorageError::new(
                ErrorKind::NotFound,
                "profile_not_found",
                format!("table {id} has no profile yet: POST …/profile computes one"),
            )
        })?)
    }
}
