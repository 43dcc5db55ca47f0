//! Job records in the catalog; the host runs the work and reports its outcome here.

use duckdb::{Connection, OptionalExt, params};
use serde_json::Value;

use duckstore_plugin_sdk::jobs::{Job, JobError, JobProgress, JobStatus, NewJob};
use duckstore_plugin_sdk::model::Page;
use duckstore_plugin_sdk::names::ProjectId;
use duckstore_plugin_sdk::{Resource, Result, StorageError};

use crate::DuckEngine;
use crate::catalog::{naive, parsed, ts, ts_opt};
use crate::error::db_err;
use crate::files::new_id;
use crate::layout::{EXPORTING_SUFFIX, LOADING_SUFFIX, find_with_suffix};

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

fn find(c: &Connection, job_id: &str) -> Result<Job> {
    c.query_row(&format!("SELECT {COLUMNS} FROM meta.jobs WHERE id = ?"), [job_id], map_job)
        .optional()
        .map_err(db_err)?
        .ok_or_else(|| StorageError::not_found(Resource::Job, job_id))
}

impl DuckEngine {
    pub(crate) fn job_create(&self, new: &NewJob) -> Result<Job> {
        let id = new_id(8);
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

    pub(crate) fn job_finish(
        &self,
        job_id: &str,
        outcome: std::result::Result<(JobProgress, Value), StorageError>,
    ) -> Result<Job> {
        let now = naive(self.now());
        self.write(|c| {
            match &outcome {
                Ok((progress, result)) => c.execute(
                    "UPDATE meta.jobs SET status = ?, rows = ?, bytes = ?, result = ?, finished_at = ? WHERE id = ?",
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

    /// Fails jobs left unfinished by a crash and deletes the partial files of interrupted
    /// loads and exports (the tables they targeted were never touched).
    pub(crate) fn jobs_recover(&self) -> Result<u64> {
        let now = naive(self.now());
        let failed = self.write(|c| {
            c.execute(
                "UPDATE meta.jobs SET status = 'error', error_code = 'interrupted', \
                 error_message = 'the server stopped while this job ran; nothing was changed', finished_at = ? \
                 WHERE status IN ('waiting', 'processing')",
                [now],
            )
            .map_err(db_err)
        })?;
        let root = self.layout.root();
        let partial = [
            find_with_suffix(&root.join("projects"), LOADING_SUFFIX),
            find_with_suffix(&root.join("staging"), EXPORTING_SUFFIX),
        ];
        for path in partial.iter().flatten() {
            tracing::info!(path = %path.display(), "removing a partial file of an interrupted job");
            crate::layout::remove_db_file(path)?;
        }
        Ok(failed as u64)
    }
}
