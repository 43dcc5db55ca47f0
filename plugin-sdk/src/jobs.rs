//! Jobs: long operations (imports, exports, snapshots) run in the background and are
//! polled by id. Their records live in the catalog, so they outlive a restart.
//!
//! A job's record and its effect never disagree: an engine that commits a job's data
//! marks the job succeeded in the same catalog transaction ([`crate::StorageBackend::run_job`]),
//! so a crash at any instant leaves either "interrupted, nothing changed" or "succeeded,
//! data committed". A running job can be asked to stop ([`CancelToken`]); it stops before
//! its commit or not at all.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::names::{BranchId, ProjectId};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// Created; not yet running, or waiting for another writer of its table.
    Waiting,
    Processing,
    Success,
    Error,
    /// Stopped on request before it changed anything.
    Cancelled,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Waiting => "waiting",
            JobStatus::Processing => "processing",
            JobStatus::Success => "success",
            JobStatus::Error => "error",
            JobStatus::Cancelled => "cancelled",
        }
    }

    pub fn is_finished(self) -> bool {
        matches!(self, JobStatus::Success | JobStatus::Error | JobStatus::Cancelled)
    }
}

impl std::str::FromStr for JobStatus {
    type Err = crate::StorageError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "waiting" => JobStatus::Waiting,
            "processing" => JobStatus::Processing,
            "success" => JobStatus::Success,
            "error" => JobStatus::Error,
            "cancelled" => JobStatus::Cancelled,
            _ => return Err(crate::StorageError::internal(format!("unknown job status {s:?}"))),
        })
    }
}

/// How far a job got: rows written and bytes read or written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JobProgress {
    pub rows: u64,
    pub bytes: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JobError {
    pub code: String,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Job {
    pub id: String,
    #[schema(value_type = String)]
    pub project_id: ProjectId,
    #[schema(value_type = Option<String>)]
    pub branch_id: Option<BranchId>,
    /// `table_import`, `table_export`, …
    pub kind: String,
    pub status: JobStatus,
    /// The table the job works on, as `<bucket id>.<table>`.
    pub table_id: Option<String>,
    pub progress: JobProgress,
    /// The operation's result once it succeeded (e.g. the import summary, the exported file).
    #[schema(value_type = Option<Object>)]
    pub result: Option<Value>,
    pub error: Option<JobError>,
    /// Who started it (`admin` or `key:<id>`).
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// What the host records when it starts a job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewJob {
    pub project: ProjectId,
    pub branch: Option<BranchId>,
    pub kind: String,
    pub table_id: Option<String>,
    pub created_by: String,
}

/// What a job's work returns: progress figures and a JSON result.
pub type JobOutcome = std::result::Result<(JobProgress, serde_json::Value), crate::StorageError>;

/// The error a job's work returns once it noticed it was cancelled.
pub fn cancelled() -> crate::StorageError {
    crate::StorageError::new(crate::ErrorKind::Conflict, "cancelled", "the job was cancelled; nothing was changed")
}

type Hook = Box<dyn Fn() + Send + Sync>;

#[derive(Default)]
struct CancelState {
    requested: AtomicBool,
    next_hook: AtomicU64,
    /// What to call when cancellation is requested (e.g. a database connection's interrupt).
    hooks: Mutex<Vec<(u64, Hook)>>,
}

/// A request to stop a running job, shared by whoever may ask (the API) and the work
/// itself, which checks it between steps and registers hooks that abort a step in flight.
#[derive(Clone, Default)]
pub struct CancelToken(Arc<CancelState>);

impl CancelToken {
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the job to stop and runs the registered hooks.
    pub fn cancel(&self) {
        self.0.requested.store(true, Ordering::SeqCst);
        let hooks = self.0.hooks.lock().unwrap_or_else(|e| e.into_inner());
        for (_, hook) in hooks.iter() {
            hook();
        }
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.requested.load(Ordering::SeqCst)
    }

    /// `Err(cancelled())` once cancellation was requested.
    pub fn check(&self) -> crate::Result<()> {
        if self.is_cancelled() { Err(cancelled()) } else { Ok(()) }
    }

    /// Calls `hook` if cancellation is requested while the returned guard lives (at once if
    /// it already was).
    pub fn on_cancel(&self, hook: impl Fn() + Send + Sync + 'static) -> CancelHook {
        let id = self.0.next_hook.fetch_add(1, Ordering::Relaxed);
        self.0.hooks.lock().unwrap_or_else(|e| e.into_inner()).push((id, Box::new(hook)));
        if self.is_cancelled() {
            self.cancel();
        }
        CancelHook { token: self.clone(), id }
    }
}

/// Unregisters a cancel hook when dropped.
pub struct CancelHook {
    token: CancelToken,
    id: u64,
}

impl Drop for CancelHook {
    fn drop(&mut self) {
        self.token.0.hooks.lock().unwrap_or_else(|e| e.into_inner()).retain(|(id, _)| *id != self.id);
    }
}

/// A job as its work sees it: the record's id and the cancellation request.
#[derive(Clone)]
pub struct RunningJob {
    pub id: String,
    pub cancel: CancelToken,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hooks_run_on_cancel_and_not_after_their_guard_drops() {
        let token = CancelToken::new();
        let hits = Arc::new(AtomicU64::new(0));
        let h = hits.clone();
        let guard = token.on_cancel(move || {
            h.fetch_add(1, Ordering::SeqCst);
        });
        drop(guard);
        let h = hits.clone();
        let _kept = token.on_cancel(move || {
            h.fetch_add(10, Ordering::SeqCst);
        });
        assert!(token.check().is_ok());
        token.cancel();
        assert_eq!(hits.load(Ordering::SeqCst), 10);
        assert_eq!(token.check().unwrap_err().code, "cancelled");
    }

    #[test]
    fn a_hook_registered_after_cancel_runs_at_once() {
        let token = CancelToken::new();
        token.cancel();
        let hits = Arc::new(AtomicU64::new(0));
        let h = hits.clone();
        let _g = token.on_cancel(move || {
            h.fetch_add(1, Ordering::SeqCst);
        });
        assert!(hits.load(Ordering::SeqCst) >= 1);
    }
}
