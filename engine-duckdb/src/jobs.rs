//! Job records in the catalog, and the job whose work runs on the current thread.
//!
//! The host runs a job's work through [`DuckEngine::job_run`], which makes the job the
//! thread's *current job* for the work's length. The work's commit (the catalog
//! transaction that makes its data visible) calls [`note_commit`], which records the job's
//! success in that same transaction: after a crash at any instant, a job reads either
//! "interrupted, nothing changed" or "succeeded" with its data in place. Long steps run
//! [`interruptible`], so a cancelled job stops mid-statement, and lock waits go through
//! [`DuckEngine::wait_for_writer`], which shows the job as waiting and gives up on cancel.

use std::cell::RefCell;
use std::time::Duration;

use duckdb::{Connection, OptionalExt, params};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use duckstore_plugin_sdk::jobs::{Job, JobError, JobOutcome, JobProgress, JobStatus, NewJob, RunningJob};
use duckstore_plugin_sdk::model::Page;
use duckstore_plugin_sdk::names::ProjectId;
use duckstore_plugin_sdk::{Resource, Result, StorageError};

use crate::DuckEngine;
use crate::catalog::{naive, parsed, ts, ts_opt};
use crate::error::db_err;

const COLUMNS: &str = "id, project_id, branch_id, kind, status, table_id, rows, bytes, result, error_code, \
                       error_message, created_by, created_at, started_at, finished_at";

fn map_job(r: &duckdb::Row<'_>) -> duckdb::Result<Job> {
    let result: Option<String> = r.get(8)?;
    let error_code: Option<String> = r.get(9)?;
    Ok(Job {
        id: r.get(0)?,
        project_id: parsed(r, 1)?,
        branch_id: r
            .get::<_, Option<String>>(2)?
            .map(|b| b.parse())
            .transpose()
            .map_err(|e| duckdb::Error::FromSqlConversionFailure(2, duckdb::types::Type::Text, Box::new(e)))?,
        kind: r.get(3)?,
        status: parsed(r, 4)?,
        table_id: r.get(5)?,
        progress: JobProgress { rows: r.get(6)?, bytes: r.get(7)? },
        result: result.and_then(|t| serde_json::from_str(&t).ok()),
        error: error_code.map(|code| JobError { code, message: r.get(10).unwrap_or_default() }),
        created_by: r.get(11)?,
        created_at: ts(r, 12)?,
        started_at: ts_opt(r, 13)?,
        finished_at: ts_opt(r, 14)?,
    })
}

thread_local! {
    /// The job whose work runs on this thread, if any.
    static CURRENT: RefCell<Option<RunningJob>> = const { RefCell::new(None) };
}

/// Makes a job the thread's current one until dropped.
struct Current;

impl Current {
    fn enter(job: &RunningJob) -> Self {
        CURRENT.with_borrow_mut(|c| *c = Some(job.clone()));
        Current
    }
}

impl Drop for Current {
    fn drop(&mut self) {
        CURRENT.with_borrow_mut(|c| *c = None);
    }
}

pub(crate) fn current() -> Option<RunningJob> {
    CURRENT.with_borrow(|c| c.clone())
}

/// `Err(cancelled)` once the current job (if any) was asked to stop.
pub(crate) fn check_cancelled() -> Result<()> {
    current().map_or(Ok(()), |job| job.cancel.check())
}

/// Runs `f` (statements on `conn`) so that cancelling the current job interrupts them; a
/// step cut short that way reports the cancellation, not DuckDB's interrupt error.
pub(crate) fn interruptible<T>(conn: &Connection, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let Some(job) = current() else { return f() };
    job.cancel.check()?;
    let handle = conn.interrupt_handle();
    let _hook = job.cancel.on_cancel(move || handle.interrupt());
    let out = f();
    job.cancel.check()?;
    out
}

/// What a commit records about the job that made it: the job succeeded with this outcome.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct JobNote {
    pub id: String,
    pub progress: JobProgress,
    pub result: Value,
}

impl JobNote {
    /// A note for the current job, if the calling thread runs one.
    pub fn current(progress: JobProgress, result: Value) -> Option<Self> {
        current().map(|job| JobNote { id: job.id, progress, result })
    }
}

/// Inside the catalog transaction that commits a job's data: the job succeeded. Its
/// runner records the final outcome later; should the process die first, this stands.
pub(crate) fn note_commit(c: &Connection, note: Option<&JobNote>, now: chrono::NaiveDateTime) -> Result<()> {
    let Some(note) = note else { return Ok(()) };
    c.execute(
        "UPDATE meta.jobs SET status = 'success', rows = ?, bytes = ?, result = ?, finished_at = ?, \
         error_code = NULL, error_message = NULL WHERE id = ? AND status IN ('waiting', 'processing')",
        params![note.progress.rows, note.progress.bytes, note.result.to_string(), now, note.id],
    )
    .map_err(db_err)?;
    Ok(())
}

fn find(c: &Connection, job_id: &str) -> Result<Job> {
    c.query_row(&format!("SELECT {COLUMNS} FROM meta.jobs WHERE id = ?"), [job_id], map_job)
        .optional()
        .map_err(db_err)?
        .ok_or_else(|| StorageError::not_found(Resource::Job, job_id))
}

impl DuckEngine {
    pub(crate) fn job_create(&self, new: &NewJob) -> Result<Job> {
        let id = new_numeric_id();
        let now = naive(self.now());
        self.write(|c| {
            crate::projects::require(c, &new.project)?;
            c.execute(
                &format!("INSERT INTO meta.jobs ({COLUMNS}) VALUES (?, ?, ?, ?, 'waiting', ?, 0, 0, NULL, NULL, NULL, ?, ?, NULL, NULL)"),
                params![
                    id,
                    new.project.as_str(),
                    new.branch.as_ref().map(|b| b.as_str()),
                    new.kind,
                    new.table_id,
                    new.created_by,
                    now
                ],
            )
            .map_err(db_err)?;
            find(c, &id)
        })
    }

    pub(crate) fn job_start(&self, job_id: &str) -> Result<()> {
        let now = naive(self.now());
        self.write(|c| {
            c.execute("UPDATE meta.jobs SET status = 'processing', started_at = ? WHERE id = ?", params![now, job_id])
                .map_err(db_err)?;
            Ok(())
        })
    }

    /// Runs a job's work with the job as the thread's current one (see the module doc).
    pub(crate) fn job_run(&self, job: &RunningJob, work: &mut dyn FnMut() -> JobOutcome) -> JobOutcome {
        self.job_start(&job.id)?;
        let _current = Current::enter(job);
        job.cancel.check()?;
        work()
    }

    /// Takes a table's writer lock for the current job: while another writer holds it, the
    /// job shows as `waiting` (its start time cleared), and a cancel ends the wait.
    pub(crate) fn wait_for_writer<'f>(
        &self,
        file: &'f crate::table_files::TableFile,
    ) -> Result<parking_lot::MutexGuard<'f, ()>> {
        if let Some(guard) = file.try_lock_writer() {
            return Ok(guard);
        }
        let _waiting = self.writer_waits.waiting();
        let job = current();
        if let Some(job) = &job {
            self.job_status(&job.id, JobStatus::Waiting)?;
        }
        loop {
            check_cancelled()?;
            if let Some(guard) = file.lock_writer_for(Duration::from_millis(50)) {
                if let Some(job) = &job {
                    self.job_status(&job.id, JobStatus::Processing)?;
                }
                return Ok(guard);
            }
        }
    }

    /// Moves a running job between `waiting` and `processing` (which restarts its clock).
    fn job_status(&self, job_id: &str, status: JobStatus) -> Result<()> {
        let now = naive(self.now());
        let started = (status == JobStatus::Processing).then_some(now);
        self.write(|c| {
            c.execute(
                "UPDATE meta.jobs SET status = ?, started_at = ? WHERE id = ? AND status IN ('waiting', 'processing')",
                params![status.as_str(), started, job_id],
            )
            .map_err(db_err)?;
            Ok(())
        })
    }

    /// Records a job's final outcome. A job whose commit already recorded success keeps
    /// it (its data is in place whatever failed after); a cancelled one reads `cancelled`.
    pub(crate) fn job_finish(&self, job_id: &str, outcome: JobOutcome) -> Result<Job> {
        let now = naive(self.now());
        self.write(|c| {
            let committed = find(c, job_id)?.status == JobStatus::Success;
            match &outcome {
                Err(e) if committed => {
                    tracing::warn!(job = job_id, error = %e, "a step after a job's commit failed; the job stays succeeded");
                    Ok(0)
                }
                Err(e) if e.code == "cancelled" => c.execute(
                    "UPDATE meta.jobs SET status = ?, error_code = ?, error_message = ?, finished_at = ? WHERE id = ?",
                    params![JobStatus::Cancelled.as_str(), e.code.as_ref(), e.message, now, job_id],
                ),
                Ok((progress, result)) => c.execute(
                    "UPDATE meta.jobs SET status = ?, rows = ?, bytes = ?, result = ?, \
                     finished_at = coalesce(finished_at, ?) WHERE id = ?",
                    params![
                        JobStatus::Success.as_str(),
                        progress.rows,
                        progress.bytes,
                        result.to_string(),
                        now,
                        job_id
                    ],
                ),
                Err(e) => c.execute(
                    "UPDATE meta.jobs SET status = ?, error_code = ?, error_message = ?, finished_at = ? WHERE id = ?",
                    params![JobStatus::Error.as_str(), e.code.as_ref(), e.message, now, job_id],
                ),
            }
            .map_err(db_err)?;
            find(c, job_id)
        })
    }

    pub(crate) fn job_get(&self, project: &ProjectId, job_id: &str) -> Result<Job> {
        self.read(|c| {
            crate::projects::require(c, project)?;
            find(c, job_id)
                .ok()
                .filter(|j| &j.project_id == project)
                .ok_or_else(|| StorageError::not_found(Resource::Job, job_id))
        })
    }

    pub(crate) fn job_list(&self, project: &ProjectId, page: Page) -> Result<(Vec<Job>, u64)> {
        self.read(|c| {
            crate::projects::require(c, project)?;
            let total: u64 = c
                .query_row("SELECT count(*) FROM meta.jobs WHERE project_id = ?", [project.as_str()], |r| r.get(0))
                .map_err(db_err)?;
            let jobs = c
                .prepare(&format!(
                    "SELECT {COLUMNS} FROM meta.jobs WHERE project_id = ? ORDER BY created_at DESC, id LIMIT ? OFFSET ?"
                ))
                .and_then(|mut s| s.query_map(params![project.as_str(), page.limit, page.offset], map_job)?.collect())
                .map_err(db_err)?;
            Ok((jobs, total))
        })
    }

    /// Fails jobs left unfinished by a crash (their commit never happened: a job whose
    /// commit did happen was marked succeeded by it). Their partial files were swept when
    /// the engine opened.
    pub(crate) fn jobs_recover(&self) -> Result<u64> {
        let now = naive(self.now());
        self.write(|c| {
            c.execute(
                "UPDATE meta.jobs SET status = 'error', error_code = 'interrupted', \
                 error_message = 'the server stopped while this job ran; nothing was changed', finished_at = ? \
                 WHERE status IN ('waiting', 'processing')",
                [now],
            )
            .map_err(db_err)
            .map(|n| n as u64)
        })
    }
}

/// A job or snapshot id: 16 hex digits of a random number below 2^53, so that faces that
/// show such ids as integers (Keboola's Storage API: `"id": 22077337`) can, exactly, in
/// every JSON reader (JavaScript's and PHP's included), and read them back.
pub(crate) fn new_numeric_id() -> String {
    format!("{:016x}", rand::random::<u64>() & ((1 << 53) - 1))
}

/// How writers wait for tables' writer locks, for operators' metrics.
#[derive(Default)]
pub(crate) struct WriterWaits {
    now: std::sync::atomic::AtomicU64,
    micros: std::sync::atomic::AtomicU64,
}

impl WriterWaits {
    /// Counts a wait until the guard drops.
    fn waiting(&self) -> WaitGuard<'_> {
        self.now.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        WaitGuard { waits: self, since: std::time::Instant::now() }
    }

    /// Writers waiting now, and the seconds all waits took so far.
    pub(crate) fn read(&self) -> (u64, f64) {
        use std::sync::atomic::Ordering::Relaxed;
        (self.now.load(Relaxed), self.micros.load(Relaxed) as f64 / 1e6)
    }
}

struct WaitGuard<'w> {
    waits: &'w WriterWaits,
    since: std::time::Instant,
}

impl Drop for WaitGuard<'_> {
    fn drop(&mut self) {
        use std::sync::atomic::Ordering::Relaxed;
        self.waits.micros.fetch_add(self.since.elapsed().as_micros() as u64, Relaxed);
        self.waits.now.fetch_sub(1, Relaxed);
    }
}
