//! Jobs: read one, list a project's.

use std::time::Duration;

use duckstore_plugin_sdk::StorageBackend;
use duckstore_plugin_sdk::jobs::{Job, NewJob};
use duckstore_plugin_sdk::model::Page;
use duckstore_plugin_sdk::names::ProjectId;

use crate::auth::{Access, Principal};
use crate::jobs::Outcome;
use crate::service::{Service, ServiceResult};

/// How long starting a job waits for it to end before answering with it still running:
/// Keboola's clients sleep seconds whenever their first poll finds a job unfinished, so a
/// job that takes a moment is answered finished.
const SETTLE: Duration = Duration::from_secs(2);

impl Service {
    pub async fn job(&self, who: &Principal, project: ProjectId, id: String) -> ServiceResult<Job> {
        who.authorize(&project, None, Access::Read)?;
        Ok(self.storage.run(move |s| s.get_job(&project, &id)).await?)
    }

    /// A page of the project's jobs, newest first, and how many there are in all.
    pub async fn list_jobs(&self, who: &Principal, project: ProjectId, page: Page) -> ServiceResult<(Vec<Job>, u64)> {
        who.authorize(&project, None, Access::Read)?;
        Ok(self.storage.run(move |s| s.list_jobs(&project, page)).await?)
    }

    /// Starts `work` as a job and answers its record once it ended, or after [`SETTLE`] with
    /// it still running.
    pub(super) async fn start_job<F>(&self, new: NewJob, work: F) -> ServiceResult<Job>
    where
        F: FnOnce(&dyn StorageBackend) -> Outcome + Send + 'static,
    {
        let started = self.jobs.start(&self.storage, new, work).await?;
        let (project, id) = (started.job.project_id.clone(), started.job.id.clone());
        let mut done = started.done;
        let _ = tokio::time::timeout(SETTLE, &mut done).await;
        Ok(self.storage.run(move |s| s.get_job(&project, &id)).await?)
    }
}
