//! Projects: the tenant boundary. Everything else lives under one.

use duckdb::{Connection, OptionalExt, params};

use duckstore_plugin_sdk::model::{NewProject, Page, Project, ProjectStats, ProjectUpdate, StoredApiKey};
use duckstore_plugin_sdk::names::{BranchId, ProjectId};
use duckstore_plugin_sdk::{Resource, Result, StorageError};

use crate::DuckEngine;
use crate::catalog::{naive, parsed, ts};
use crate::error::db_err;
use crate::layout::dir_size;

const COLUMNS: &str = "id, name, created_at, updated_at";

struct Row {
    id: ProjectId,
    name: String,
    created_at: chrono::DateTime<chrono::Utc>,
    updated_at: chrono::DateTime<chrono::Utc>,
}

fn map_row(r: &duckdb::Row<'_>) -> duckdb::Result<Row> {
    Ok(Row { id: parsed(r, 0)?, name: r.get(1)?, created_at: ts(r, 2)?, updated_at: ts(r, 3)? })
}

fn find(c: &Connection, id: &ProjectId) -> Result<Row> {
    c.query_row(&format!("SELECT {COLUMNS} FROM meta.projects WHERE id = ?"), [id.as_str()], map_row)
        .optional()
        .map_err(db_err)?
        .ok_or_else(|| StorageError::not_found(Resource::Project, id))
}

/// Fails with `project_not_found` unless the project exists.
pub(crate) fn require(c: &Connection, id: &ProjectId) -> Result<()> {
    find(c, id).map(drop)
}

impl DuckEngine {
    fn with_stats(&self, c: &Connection, row: Row) -> Result<Project> {
        let stats = self.stats_of(c, &row.id)?;
        Ok(Project { id: row.id, name: row.name, created_at: row.created_at, updated_at: row.updated_at, stats })
    }

    /// Bucket and table counts of the main branch; bytes of every table file of the project.
    fn stats_of(&self, c: &Connection, id: &ProjectId) -> Result<ProjectStats> {
        let (bucket_count, table_count): (u64, u64) = c
            .query_row(
                "SELECT (SELECT count(*) FROM meta.buckets WHERE project_id = $1 AND branch_id = $2),
                        (SELECT count(*) FROM meta.tables WHERE project_id = $1 AND branch_id = $2)",
                [id.as_str(), BranchId::DEFAULT],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(db_err)?;
        Ok(ProjectStats { bucket_count, table_count, size_bytes: dir_size(&self.layout.project_dir(id)) })
    }

    pub(crate) fn project_create(&self, new: &NewProject, admin_key: &StoredApiKey) -> Result<Project> {
        if admin_key.key.project_id != new.id {
            return Err(StorageError::internal("a new project's first key must belong to it"));
        }
        let now = naive(self.now());
        let name = new.name.clone().unwrap_or_else(|| new.id.to_string());
        self.write(|c| {
            let taken: Option<String> = c
                .query_row("SELECT id FROM meta.projects WHERE lower(id) = lower(?)", [new.id.as_str()], |r| r.get(0))
                .optional()
                .map_err(db_err)?;
            if let Some(existing) = taken {
                return Err(StorageError::already_exists(Resource::Project, existing));
            }
            c.execute("INSERT INTO meta.projects VALUES (?, ?, ?, ?)", params![new.id.as_str(), name, now, now])
                .map_err(db_err)?;
            c.execute(
                "INSERT INTO meta.branches (project_id, id, name, is_default, created_at) VALUES (?, ?, 'Main', true, ?)",
                params![new.id.as_str(), BranchId::DEFAULT, now],
            )
            .map_err(db_err)?;
            crate::api_keys::insert(c, admin_key)
        })?;
        self.project_get(&new.id)
    }

    pub(crate) fn project_list(&self, page: Page) -> Result<(Vec<Project>, u64)> {
        self.read(|c| {
            let total: u64 = c.query_row("SELECT count(*) FROM meta.projects", [], |r| r.get(0)).map_err(db_err)?;
            let rows = c
                .prepare(&format!("SELECT {COLUMNS} FROM meta.projects ORDER BY id LIMIT ? OFFSET ?"))
                .and_then(|mut s| s.query_map([page.limit, page.offset], map_row)?.collect::<duckdb::Result<Vec<_>>>())
                .map_err(db_err)?;
            let projects = rows.into_iter().map(|r| self.with_stats(c, r)).collect::<Result<_>>()?;
            Ok((projects, total))
        })
    }

    pub(crate) fn project_get(&self, id: &ProjectId) -> Result<Project> {
        self.read(|c| {
            let row = find(c, id)?;
            self.with_stats(c, row)
        })
    }

    pub(crate) fn project_update(&self, id: &ProjectId, update: &ProjectUpdate) -> Result<Project> {
        let now = naive(self.now());
        self.write(|c| {
            require(c, id)?;
            if let Some(name) = &update.name {
                c.execute(
                    "UPDATE meta.projects SET name = ?, updated_at = ? WHERE id = ?",
                    params![name, now, id.as_str()],
                )
                .map_err(db_err)?;
            }
            Ok(())
        })?;
        self.project_get(id)
    }

    pub(crate) fn project_stats(&self, id: &ProjectId) -> Result<ProjectStats> {
        self.read(|c| {
            require(c, id)?;
            self.stats_of(c, id)
        })
    }

    /// Catalog rows go first, in one transaction: if removing files fails afterwards, what is
    /// left is unreachable garbage, never a catalog entry pointing at missing data.
    pub(crate) fn project_delete(&self, id: &ProjectId) -> Result<()> {
        self.read(|c| require(c, id))?;
        self.workspaces_delete_under(id, None)?;
        self.write(|c| {
            require(c, id)?;
            for sql in [
                "DELETE FROM meta.columns WHERE table_uid IN (SELECT uid FROM meta.tables WHERE project_id = $1)",
                "DELETE FROM meta.table_profiles WHERE project_id = $1",
                "DELETE FROM meta.tables WHERE project_id = $1",
                "DELETE FROM meta.buckets WHERE project_id = $1",
                "DELETE FROM meta.branches WHERE project_id = $1",
                "DELETE FROM meta.api_keys WHERE project_id = $1",
                "DELETE FROM meta.files WHERE project_id = $1",
                "DELETE FROM meta.uploads WHERE project_id = $1",
                "DELETE FROM meta.jobs WHERE project_id = $1",
                "DELETE FROM meta.snapshots WHERE project_id = $1",
                "DELETE FROM meta.settings WHERE project_id = $1",
                "DELETE FROM meta.tombstones WHERE project_id = $1",
                "DELETE FROM meta.shares WHERE project_id = $1 OR target_project_id = $1",
                // Links elsewhere to this project's buckets would dangle.
                "DELETE FROM meta.buckets WHERE source_project_id = $1",
                "DELETE FROM meta.projects WHERE id = $1",
            ] {
                c.execute(sql, [id.as_str()]).map_err(db_err)?;
            }
            Ok(())
        })?;
        let dir = self.layout.project_dir(id);
        self.files.forget_under(&self.hub, &dir)?;
        for dir in [
            dir,
            self.layout.files_dir(id),
            self.layout.staging_dir(id),
            self.layout.snapshots_dir(id),
            self.layout.workspaces_dir(id),
        ] {
            match std::fs::remove_dir_all(&dir) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
                _ => {}
            }
        }
        Ok(())
    }
}

impl DuckEngine {
    /// Catalog counts, the data directory's size and the hub's memory and spill use.
    pub(crate) fn storage_stats(&self) -> Result<duckstore_plugin_sdk::backend::StorageStats> {
        let count = |c: &duckdb::Connection, table: &str| -> Result<u64> {
            c.query_row(&format!("SELECT count(*) FROM meta.{table}"), [], |r| r.get::<_, i64>(0))
                .map(|n| n.max(0) as u64)
                .map_err(db_err)
        };
        let (projects, tables, files) =
            self.read(|c| Ok((count(c, "projects")?, count(c, "tables")?, count(c, "files")?)))?;
        let (memory_bytes, temp_bytes) = self
            .hub
            .conn()?
            .query_row(
                "SELECT (SELECT coalesce(sum(memory_usage_bytes), 0) FROM duckdb_memory())::BIGINT, \
                        (SELECT coalesce(sum(size), 0) FROM duckdb_temporary_files())::BIGINT",
                [],
                |r| Ok((r.get::<_, i64>(0)?.max(0) as u64, r.get::<_, i64>(1)?.max(0) as u64)),
            )
            .map_err(db_err)?;
        let (writers_waiting, writer_wait_seconds) = self.writer_waits.read();
        Ok(duckstore_plugin_sdk::backend::StorageStats {
            projects,
            tables,
            files,
            disk_bytes: dir_size(self.layout.root()),
            memory_bytes,
            temp_bytes,
            open_tables: self.files.attached() as u64,
            writers_waiting,
            writer_wait_seconds,
        })
    }
}
