//! Running long operations as jobs.
//!
//! The job record is created before the work starts, so a client always gets an id to poll;
//! the work runs on the blocking pool and its outcome (or a panic, as an internal error) is
//! recorded when it ends. Records live in the catalog, so jobs a crash interrupts are
//! marked failed at the next start.

use serde_json::Value;
use tokio::task::JoinHandle;

use duckstore_plugin_sdk::jobs::{Job, JobProgress, NewJob};
use duckstore_plugin_sdk::{Result, StorageBackend, StorageError};

use crate::storage::Storage;

/// What a job's work returns: progress figures and a JSON result.
pub type Outcome = Result<(JobProgress, Value)>;

/// A started job: its initial record and a handle to wait for its outcome.
pub struct Started {
    pub job: Job,
    pub done: JoinHandle<Outcome>,
}

pub async fn start<F>(storage: &Storage, new: NewJob, work: F) -> Result<Started>
where
    F: FnOnce(&dyn StorageBackend) -> Outcome + Send + 'static,
{
    let job = storage.run(move |s| s.create_job(&new)).await?;
    let id = job.id.clone();
    let storage = storage.clone();
    let done = tokio::spawn(async move {
        let start_id = id.clone();
        let outcome = storage
            .run(move |s| {
                s.start_job(&start_id)?;
                work(s)
            })
            .await;
        let recorded = outcome.clone();
        let finish_id = id.clone();
        if let Err(e) = storage.run(move |s| s.finish_job(&finish_id, recorded)).await {
            tracing::error!(job = %id, error = %e, "could not record a job's outcome");
        }
        outcome
    });
    Ok(Started { job, done })
}

/// Waits for a started job; a job task that vanished (runtime shutdown) is an internal error.
pub async fn wait(started: Started) -> Outcome {
    started.done.await.map_err(|e| StorageError::internal(format!("job task failed: {e}")))?
}
