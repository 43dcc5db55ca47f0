//! Running long operations as jobs.
//!
//! The job record is created before the work starts, so a client always gets an id to poll;
//! the work runs on the blocking pool through the engine's `run_job`, whose commit records
//! the job's success with its data (so the record never disagrees with the data after a
//! crash), and its outcome (or a panic, as an internal error) is recorded when it ends.
//! Running jobs can be cancelled: [`Jobs`] keeps each one's [`CancelToken`] while it runs.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::task::JoinHandle;

use duckstore_plugin_sdk::jobs::{CancelToken, Job, JobOutcome, NewJob, RunningJob};
use duckstore_plugin_sdk::{Result, StorageBackend, StorageError};

use crate::metrics::JobMetrics;
use crate::storage::Storage;

/// What a job's work returns: progress figures and a JSON result.
pub type Outcome = JobOutcome;

/// A started job: its initial record and a handle to wait for its outcome.
pub struct Started {
    pub job: Job,
    pub done: JoinHandle<Outcome>,
}

/// The jobs running in this process, by id, with the means to cancel each.
pub struct Jobs {
    running: Mutex<HashMap<String, CancelToken>>,
    metrics: JobMetrics,
}

impl Jobs {
    pub fn new(metrics: JobMetrics) -> Self {
        Self { running: Mutex::new(HashMap::new()), metrics }
    }

    pub async fn start<F>(self: &Arc<Self>, storage: &Storage, new: NewJob, work: F) -> Result<Started>
    where
        F: FnOnce(&dyn StorageBackend) -> Outcome + Send + 'static,
    {
        let job = storage.run(move |s| s.create_job(&new)).await?;
        let running = RunningJob { id: job.id.clone(), cancel: CancelToken::new() };
        self.running.lock().insert(job.id.clone(), running.cancel.clone());
        let storage = storage.clone();
        let jobs = self.clone();
        let kind = job.kind.clone();
        self.metrics.started(&kind);
        let done = tokio::spawn(async move {
            let id = running.id.clone();
            let began = std::time::Instant::now();
            let outcome = storage
                .run(move |s| {
                    let mut work = Some(work);
                    s.run_job(&running, &mut || match work.take() {
                        Some(work) => work(s),
                        None => Err(StorageError::internal("a job's work ran twice")),
                    })
                })
                .await;
            jobs.running.lock().remove(&id);
            jobs.metrics.ended(&kind, began.elapsed().as_secs_f64(), &outcome);
            let recorded = outcome.clone().map_err(|e| {
                if e.kind != duckstore_plugin_sdk::ErrorKind::Internal {
                    return e;
                }
                // The record is read by API callers: the details go to the log only.
                tracing::error!(job = %id, code = %e.code, message = %e.message, "a job failed");
                StorageError::new(
                    e.kind,
                    e.code,
                    format!("the job failed on the server; its log has the details under job {id}"),
                )
            });
            let finish_id = id.clone();
            if let Err(e) = storage.run(move |s| s.finish_job(&finish_id, recorded)).await {
                tracing::error!(job = %id, error = %e, "could not record a job's outcome");
            }
            outcome
        });
        Ok(Started { job, done })
    }

    /// Asks a running job to stop; false if it is not running (here).
    pub fn cancel(&self, job_id: &str) -> bool {
        let token = self.running.lock().get(job_id).cloned();
        token.inspect(CancelToken::cancel).is_some()
    }
}
