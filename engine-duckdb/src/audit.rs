//! The audit log, in the catalog: one row per mutation, listed newest first, swept by age.

use chrono::{DateTime, Utc};
use duckdb::params_from_iter;

use duckstore_plugin_sdk::audit::{AuditEvent, AuditQuery};
use duckstore_plugin_sdk::model::Page;
use duckstore_plugin_sdk::{Result, StorageError};

use crate::DuckEngine;
use crate::catalog::{naive, ts};
use crate::error::db_err;

const COLUMNS: &str = "occurred_at, request_id, principal, project_id, operation, resource, status, duration_ms";

impl DuckEngine {
    pub(crate) fn audit_record(&self, e: &AuditEvent) -> Result<()> {
        self.write(|c| {
            c.execute(
                &format!("INSERT INTO meta.audit_log ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"),
                duckdb::params![
                    naive(e.at),
                    e.request_id,
                    e.principal,
                    e.project_id,
                    e.operation,
                    e.resource,
                    e.status,
                    e.duration_ms
                ],
            )
            .map_err(db_err)
            .map(drop)
        })
    }

    pub(crate) fn audit_list(&self, q: &AuditQuery) -> Result<(Vec<AuditEvent>, u64)> {
        let page = Page::new(q.limit, q.offset)?;
        let mut conds = vec!["true".to_owned()];
        match q.outcome.as_deref() {
            None => {}
            Some("success") => conds.push("status < 400".into()),
            Some("failure") => conds.push("status >= 400".into()),
            Some(other) => {
                return Err(StorageError::invalid(
                    "invalid_outcome",
                    format!("outcome must be success or failure, got {other:?}"),
                ));
            }
        }
        let mut args: Vec<String> = Vec::new();
        let mut add = |cond: &str, value: String| {
            conds.push(cond.to_owned());
            args.push(value);
        };
        if let Some(p) = &q.project_id {
            add("project_id = ?", p.clone());
        }
        if let Some(op) = &q.operation {
            add("contains(operation, ?)", op.clone());
        }
        if let Some(p) = &q.principal {
            add("principal = ?", p.clone());
        }
        if let Some(since) = q.since {
            add("occurred_at >= CAST(? AS TIMESTAMP)", since.naive_utc().to_string());
        }
        if let Some(until) = q.until {
            add("occurred_at < CAST(? AS TIMESTAMP)", until.naive_utc().to_string());
        }
        let filter = conds.join(" AND ");
        self.read(|c| {
            let total: u64 = c
                .query_row(
                    &format!("SELECT count(*) FROM meta.audit_log WHERE {filter}"),
                    params_from_iter(&args),
                    |r| r.get(0),
                )
                .map_err(db_err)?;
            let events = c
                .prepare(&format!(
                    "SELECT {COLUMNS} FROM meta.audit_log WHERE {filter} ORDER BY occurred_at DESC LIMIT {} OFFSET {}",
                    page.limit, page.offset
                ))
                .and_then(|mut s| {
                    s.query_map(params_from_iter(&args), |r| {
                        Ok(AuditEvent {
                            at: ts(r, 0)?,
                            request_id: r.get(1)?,
                            principal: r.get(2)?,
                            project_id: r.get(3)?,
                            operation: r.get(4)?,
                            resource: r.get(5)?,
                            status: r.get(6)?,
                            duration_ms: r.get(7)?,
                        })
                    })?
                    .collect()
                })
                .map_err(db_err)?;
            Ok((events, total))
        })
    }

    pub(crate) fn audit_sweep(&self, before: DateTime<Utc>) -> Result<u64> {
        self.write(|c| {
            c.execute("DELETE FROM meta.audit_log WHERE occurred_at < ?", [naive(before)])
                .map(|n| n as u64)
                .map_err(db_err)
        })
    }
}
