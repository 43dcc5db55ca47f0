//! Snapshots: a table's rows as Parquet (zstd) plus `metadata.json` with its exact schema,
//! under `<data>/snapshots/<project>/<id>/`; a catalog row records kind, creator, expiry.
//!
//! Automatic snapshots are taken by [`DuckEngine::auto_snapshot`], the decision point every
//! destructive operation passes through while it holds the table's writer lock.

use duckdb::{OptionalExt, params};
use serde::{Deserialize, Serialize};
use serde_json::json;

use duckstore_plugin_sdk::jobs::JobProgress;
use duckstore_plugin_sdk::model::NewBucket;
use duckstore_plugin_sdk::names::{BranchRef, ColumnName, TableRef};
use duckstore_plugin_sdk::policy::{Decision, DestructiveOp, PolicyContext};
use duckstore_plugin_sdk::schema::Column;
use duckstore_plugin_sdk::snapshots::{
    NewSnapshot, RestoreRequest, RestoreResult, Snapshot, SnapshotDetail, SnapshotKind, SnapshotQuery,
};
use duckstore_plugin_sdk::{Resource, Result, StorageError};

use crate::DuckEngine;
use crate::catalog::{naive, parsed, ts};
use crate::error::db_err;
use crate::jobs::{JobNote, check_cancelled, interruptible, note_commit};
use crate::layout::db_file_size;
use crate::sql::{ident, literal};
use crate::table_files::TableFile;
use crate::tables::copy_rows;
use crate::views::{TableView, bucket_view, table_view, writable};

/// How a snapshot is being taken.
pub(crate) struct Taking {
    kind: SnapshotKind,
    trigger: Option<String>,
    description: Option<String>,
    retain_days: Option<u32>,
}

impl Taking {
    pub fn auto(trigger: &str) -> Self {
        Self { kind: SnapshotKind::Auto, trigger: Some(trigger.to_owned()), description: None, retain_days: None }
    }
}

/// The schema a snapshot restores, stored beside its data.
#[derive(Serialize, Deserialize)]
struct Metadata {
    format: u32,
    table_id: String,
    columns: Vec<Column>,
    primary_key: Vec<ColumnName>,
    row_count: u64,
}

const COLUMNS: &str = "id, project_id, branch_id, bucket_id, table_name, kind, trigger, description, row_count, \
                       size_bytes, created_by, created_at, expires_at";

fn map_snapshot(r: &duckdb::Row<'_>) -> duckdb::Result<Snapshot> {
    Ok(Snapshot {
        id: r.get(0)?,
        project_id: parsed(r, 1)?,
        branch_id: parsed(r, 2)?,
        bucket_id: parsed(r, 3)?,
        table_name: parsed(r, 4)?,
        kind: parsed(r, 5)?,
        trigger: r.get(6)?,
        description: r.get(7)?,
        row_count: r.get(8)?,
        size_bytes: r.get(9)?,
        created_by: r.get(10)?,
        created_at: ts(r, 11)?,
        expires_at: ts(r, 12)?,
    })
}

impl DuckEngine {
    /// Writes the rows of `view`'s table (`t`, read from `file`) as a snapshot.
    pub(crate) fn snapshot_view(
        &self,
        t: &TableRef,
        view: &TableView,
        file: &TableFile,
        taking: Taking,
        actor: &str,
    ) -> Result<Snapshot> {
        let settings = self.read(|c| self.effective_settings(c, t))?;
        let days = taking.retain_days.unwrap_or(match taking.kind {
            SnapshotKind::Manual => settings.retention.manual_days,
            SnapshotKind::Auto => settings.retention.auto_days,
        });
        let id = crate::jobs::new_numeric_id();
        let dir = self.layout.snapshot_dir(&t.project, &id);
        let written = (|| {
            std::fs::create_dir_all(&dir)?;
            let data = dir.join("data.parquet");
            let columns = view.meta.defs();
            let cols = columns
                .iter()
                .map(|c| ident(c.name.as_str()))
                .chain([ident(ColumnName::TIMESTAMP)])
                .collect::<Vec<_>>()
                .join(", ");
            let reading = file.read()?;
            let row_count = self.read(|c| {
                let copy = format!(
                    "COPY (SELECT {cols} FROM {}) TO {} (FORMAT parquet, COMPRESSION zstd)",
                    reading.data(),
                    literal(&data.to_string_lossy())
                );
                interruptible(c, || c.execute(&copy, []).map_err(db_err))
            })? as u64;
            let meta = Metadata {
                format: 1,
                table_id: t.table_id(),
                columns: view.meta.columns.clone(),
                primary_key: view.meta.primary_key.clone(),
                row_count,
            };
            std::fs::write(dir.join("metadata.json"), serde_json::to_vec_pretty(&meta).expect("metadata serializes"))?;
            let now = self.now();
            let snapshot = Snapshot {
                id: id.clone(),
                project_id: t.project.clone(),
                branch_id: t.branch.clone(),
                bucket_id: t.bucket.clone(),
                table_name: t.table.clone(),
                kind: taking.kind,
                trigger: taking.trigger,
                description: taking.description,
                row_count,
                size_bytes: db_file_size(&data),
                created_by: actor.to_owned(),
                created_at: now,
                expires_at: now + chrono::Duration::days(days.into()),
            };
            // A manual snapshot is its job's whole work: its catalog row is the job's commit.
            let note = (snapshot.kind == SnapshotKind::Manual)
                .then(|| {
                    let progress = JobProgress { rows: snapshot.row_count, bytes: snapshot.size_bytes };
                    JobNote::current(progress, json!({ "snapshot": snapshot }))
                })
                .flatten();
            check_cancelled()?;
            self.write(|c| {
                note_commit(c, note.as_ref(), naive(now))?;
                c.execute(
                    &format!("INSERT INTO meta.snapshots ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
                    params![
                        snapshot.id,
                        t.project.as_str(),
                        t.branch.as_str(),
                        t.bucket.to_string(),
                        t.table.as_str(),
                        snapshot.kind.as_str(),
                        snapshot.trigger,
                        snapshot.description,
                        snapshot.row_count,
                        snapshot.size_bytes,
                        snapshot.created_by,
                        naive(snapshot.created_at),
                        naive(snapshot.expires_at)
                    ],
                )
                .map_err(db_err)
            })?;
            Ok(snapshot)
        })();
        if written.is_err() {
            let _ = std::fs::remove_dir_all(&dir);
        }
        written
    }

    /// The decision point before a destructive operation on `view`'s table (the caller holds
    /// its writer lock): the policy decides; a failing policy counts as "snapshot" (fail
    /// safe); a failing snapshot aborts the operation.
    pub(crate) fn auto_snapshot(
        &self,
        view: &TableView,
        file: &TableFile,
        op: DestructiveOp,
        rows_affected: Option<u64>,
        actor: &str,
    ) -> Result<()> {
        let t = &view.home;
        let (settings, last) = self.read(|c| {
            let last: Option<chrono::NaiveDateTime> = c
                .query_row(
                    "SELECT max(created_at) FROM meta.snapshots WHERE project_id = ? AND branch_id = ? AND bucket_id = ? AND table_name = ?",
                    [t.project.as_str(), t.branch.as_str(), &t.bucket.to_string(), t.table.as_str()],
                    |r| r.get(0),
                )
                .map_err(db_err)?;
            Ok((self.effective_settings(c, t)?, last))
        })?;
        let context = PolicyContext {
            operation: op,
            project: t.project.to_string(),
            branch: t.branch.to_string(),
            bucket: t.bucket.to_string(),
            table: t.table.to_string(),
            rows_affected,
            table_rows: self.row_count(file)?,
            table_bytes: db_file_size(&self.layout.table_file(&t.bucket_ref(), &t.table)),
            principal: actor.to_owned(),
            seconds_since_last_snapshot: last.map(|l| (self.now() - l.and_utc()).num_seconds().max(0) as u64),
            settings,
        };
        let decision = self.policy.decide(&context).unwrap_or_else(|e| {
            tracing::warn!(error = %e, table = %t.table_id(), "the snapshot policy failed; taking the snapshot to be safe");
            Decision::Snapshot { label: None, retain_days: None }
        });
        let Decision::Snapshot { label, retain_days } = decision else { return Ok(()) };
        let taking =
            Taking { kind: SnapshotKind::Auto, trigger: Some(op.as_str().to_owned()), description: label, retain_days };
        self.snapshot_view(t, view, file, taking, actor).map(drop).map_err(|e| {
            StorageError::new(
                e.kind,
                "auto_snapshot_failed",
                format!("{} was not performed: the snapshot taken before it failed: {}", op.as_str(), e.message),
            )
        })
    }

    pub(crate) fn snapshot_create(&self, at: &BranchRef, new: &NewSnapshot, actor: &str) -> Result<Snapshot> {
        let t = at.bucket(new.bucket_id.clone()).table(new.table_name.clone());
        let (view, file) = self.read_table(&t)?;
        let taking = Taking {
            kind: SnapshotKind::Manual,
            trigger: None,
            description: new.description.clone(),
            retain_days: None,
        };
        self.snapshot_view(&t, &view, &file, taking, actor)
    }

    pub(crate) fn snapshot_list(&self, at: &BranchRef, q: &SnapshotQuery) -> Result<Vec<Snapshot>> {
        let now = self.now();
        self.read(|c| {
            crate::branches::require_branch(c, at)?;
            let all: Vec<Snapshot> = c
                .prepare(&format!("SELECT {COLUMNS} FROM meta.snapshots WHERE project_id = ? AND branch_id = ? ORDER BY created_at DESC, id"))
                .and_then(|mut s| s.query_map([at.project.as_str(), at.branch.as_str()], map_snapshot)?.collect())
                .map_err(db_err)?;
            Ok(all
                .into_iter()
                // Expiry takes effect at the deadline; the sweep only reclaims the space.
                .filter(|s| s.expires_at > now)
                .filter(|s| q.bucket_id.as_ref().is_none_or(|b| *b == s.bucket_id))
                .filter(|s| q.table_name.as_ref().is_none_or(|t| *t == s.table_name))
                .filter(|s| q.kind.is_none_or(|k| k == s.kind))
                .collect())
        })
    }

    fn snapshot_find(&self, at: &BranchRef, id: &str) -> Result<Snapshot> {
        let now = self.now();
        self.read(|c| {
            crate::branches::require_branch(c, at)?;
            c.query_row(
                &format!("SELECT {COLUMNS} FROM meta.snapshots WHERE project_id = ? AND branch_id = ? AND id = ?"),
                [at.project.as_str(), at.branch.as_str(), id],
                map_snapshot,
            )
            .optional()
            .map_err(db_err)?
            // Expired is gone, swept or not: no read, restore or delete of it.
            .filter(|s: &Snapshot| s.expires_at > now)
            .ok_or_else(|| StorageError::not_found(Resource::Snapshot, id))
        })
    }

    pub(crate) fn snapshot_get(&self, at: &BranchRef, id: &str) -> Result<SnapshotDetail> {
        let snapshot = self.snapshot_find(at, id)?;
        let meta = self.snapshot_metadata(&snapshot)?;
        Ok(SnapshotDetail { snapshot, columns: meta.columns, primary_key: meta.primary_key })
    }

    fn snapshot_metadata(&self, s: &Snapshot) -> Result<Metadata> {
        let path = self.layout.snapshot_dir(&s.project_id, &s.id).join("metadata.json");
        let text =
            std::fs::read(&path).map_err(|e| StorageError::internal(format!("snapshot {} metadata: {e}", s.id)))?;
        serde_json::from_slice(&text).map_err(|e| StorageError::internal(format!("snapshot {} metadata: {e}", s.id)))
    }

    pub(crate) fn snapshot_delete(&self, at: &BranchRef, id: &str) -> Result<()> {
        let snapshot = self.snapshot_find(at, id)?;
        self.forget_snapshots(&[snapshot])
    }

    fn forget_snapshots(&self, snapshots: &[Snapshot]) -> Result<()> {
        for s in snapshots {
            self.write(|c| c.execute("DELETE FROM meta.snapshots WHERE id = ?", [&s.id]).map_err(db_err))?;
            match std::fs::remove_dir_all(self.layout.snapshot_dir(&s.project_id, &s.id)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
                _ => {}
            }
        }
        Ok(())
    }

    /// Restores a snapshot into its own table (replaced atomically, schema and key exactly
    /// as snapshotted; recreated if it was dropped) or into a new table.
    pub(crate) fn snapshot_restore(
        &self,
        at: &BranchRef,
        id: &str,
        request: &RestoreRequest,
        actor: &str,
    ) -> Result<RestoreResult> {
        let snapshot = self.snapshot_find(at, id)?;
        let meta = self.snapshot_metadata(&snapshot)?;
        let original = at.bucket(snapshot.bucket_id.clone()).table(snapshot.table_name.clone());
        let target = at
            .bucket(request.target_bucket_id.clone().unwrap_or(snapshot.bucket_id.clone()))
            .table(request.target_table_name.clone().unwrap_or(snapshot.table_name.clone()));
        let columns: Vec<_> = meta.columns.iter().map(|c| c.def.clone()).collect();
        let parquet = literal(
            &self.layout.snapshot_dir(&snapshot.project_id, &snapshot.id).join("data.parquet").to_string_lossy(),
        );
        let fill = |c: &duckdb::Connection, data: &str| {
            c.execute(&copy_rows(&columns, data, &format!("read_parquet({parquet})")), []).map_err(db_err).map(drop)
        };
        let exists = self.read(|c| table_view(c, &target)).is_ok();
        if exists && target != original {
            return Err(StorageError::already_exists(Resource::Table, target.table_id()));
        }
        let note = |row_count: u64| {
            let restored = RestoreResult { table_id: target.table_id(), row_count };
            JobNote::current(JobProgress { rows: row_count, bytes: 0 }, json!(restored))
        };
        let row_count = if exists {
            self.with_writer(&target, |view, file| {
                self.auto_snapshot(view, file, DestructiveOp::ReplaceRows, None, actor)?;
                self.replace_filled(view, file, &columns, &meta.primary_key, fill, note)
            })?
        } else {
            let bucket = target.bucket_ref();
            match self.read(|c| bucket_view(c, &bucket)) {
                Ok(view) => writable(&view)?,
                // The snapshot outlived its bucket: bring the bucket back too.
                Err(e) if e.kind == duckstore_plugin_sdk::ErrorKind::NotFound && e.code == "bucket_not_found" => {
                    let new =
                        NewBucket { stage: bucket.bucket.stage, name: bucket.bucket.name.clone(), description: None };
                    self.bucket_create(&bucket.branch_ref(), &new)?;
                }
                Err(e) => return Err(e),
            }
            self.materialize(&target, &columns, &meta.primary_key, self.now(), fill, || note(meta.row_count))?;
            meta.row_count
        };
        Ok(RestoreResult { table_id: target.table_id(), row_count })
    }

    /// Deletes snapshots past their expiry, data and catalog rows.
    pub(crate) fn snapshots_sweep(&self) -> Result<u64> {
        let now = naive(self.now());
        let expired: Vec<Snapshot> = self.read(|c| {
            c.prepare(&format!("SELECT {COLUMNS} FROM meta.snapshots WHERE expires_at <= ?"))
                .and_then(|mut s| s.query_map([now], map_snapshot)?.collect())
                .map_err(db_err)
        })?;
        self.forget_snapshots(&expired)?;
        Ok(expired.len() as u64)
    }
}
