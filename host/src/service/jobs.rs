//! Jobs: read one, list a project's.

use std::time::Duration;

use duckstore_plugin_sdk::StorageBackend;
use duckstore_plugin_sdk::jobs::{Job, NewJob};
use duckstore_plugin_sdk::model::Page;
use duckstore_plugin_sdk::names::{BranchId, ProjectId};

use crate::auth::{Access, Principal};
use crate::jobs::Outcome;
use crate::service::{Service, ServiceResult};

/// The record of a job `who` starts: `kind` on `project`, on `branch` and `table_id` when
/// it works on one.
pub(super) fn new_job(
    who: &Principal,
    project: &ProjectId,
    branch: Option<&BranchId>,
    kind: &str,
    table_id: Option<String>,
) -> NewJob {
    NewJob {
        project: project.clone(),
        branch: branch.cloned(),
        kind: kind.to_owned(),
        table_id,
        created_by: who.label(),
    }
}

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

    /// Starts `work` as a job; answers its record as `wait` says.
    pub(super) async fn start_job<F>(&self, new: NewJob, wait: Wait, work: F) -> ServiceResult<Job>
    where
        F: FnOnce(&dyn StorageBackend) -> Outcome + Send + 'static,
    {
        let started = self.jobs.start(&self.storage, new, work).await?;
        let (project, id) = (started.job.project_id.clone(), started.job.id.clone());
        let mut done = started.done;
        match wait {
            Wait::No => return Ok(started.job),
            Wait::Settle => {
                let _ = tokio::time::timeout(SETTLE, &mut done).await;
            }
            Wait::Done => {
                // A job that failed answers its error, as the request that started it.
                done.await
                    .map_err(|e| duckstore_plugin_sdk::StorageError::internal(format!("job task failed: {e}")))??;
            }
        }
        Ok(self.storage.run(move |s| s.get_job(&project, &id)).await?)
    }
}

/// How long starting a job waits before answering with the job's record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// Answer at once (the job is waiting or running).
    No,
    /// Up to a moment, so that a quick job is answered finished.
    Settle,
    /// Until the job ended; a job that failed answers its error instead of its record.
    Done,
}

impl Wait {
    /// A REST caller's `?wait=`: until done, or not at all.
    pub fn of(until_done: bool) -> Self {
        if until_done { Wait::Done } else { Wait::No }
    }
}
