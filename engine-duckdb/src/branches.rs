//! Dev branches: created in O(1) (a catalog row; no data is copied), merged table by table.

use duckdb::{Connection, OptionalExt, params};

use duckstore_plugin_sdk::model::{Branch, NewBranch, Table};
use duckstore_plugin_sdk::names::{BranchId, BranchRef, ProjectId, TableRef};
use duckstore_plugin_sdk::{Resource, Result, StorageError};

use crate::DuckEngine;
use crate::catalog::{naive, parsed, ts};
use crate::error::db_err;
use crate::layout::dir_size;
use crate::tables::{copy_rows, load_row};
use crate::views::{bucket_view, table_view};

const COLUMNS: &str = "project_id, id, name, description, is_default, created_at, created_by";

struct Row {
    branch: Branch,
}

fn map_branch(r: &duckdb::Row<'_>) -> duckdb::Result<Row> {
    Ok(Row {
        branch: Branch {
            project_id: parsed(r, 0)?,
            id: parsed(r, 1)?,
            name: r.get(2)?,
            description: r.get(3)?,
            is_default: r.get(4)?,
            created_at: ts(r, 5)?,
            created_by: r.get(6)?,
            own_tables: Vec::new(),
            size_bytes: 0,
        },
    })
}

fn find(c: &Connection, at: &BranchRef) -> Result<Option<Branch>> {
    c.query_row(
        &format!("SELECT {COLUMNS} FROM meta.branches WHERE project_id = ? AND id = ?"),
        [at.project.as_str(), at.branch.as_str()],
        map_branch,
    )
    .optional()
    .map(|r| r.map(|r| r.branch))
    .map_err(db_err)
}

/// The branch `at`; `project_not_found` or `branch_not_found` when either is missing.
pub(crate) fn require_branch(c: &Connection, at: &BranchRef) -> Result<Branch> {
    crate::projects::require(c, &at.project)?;
    find(c, at)?.ok_or_else(|| StorageError::not_found(Resource::Branch, &at.branch))
}

impl DuckEngine {
    /// Adds what the branch owns: its own tables and their bytes on disk.
    fn with_contents(&self, c: &Connection, mut branch: Branch) -> Result<Branch> {
        branch.own_tables = c
            .prepare(
                "SELECT bucket_id || '.' || name FROM meta.tables WHERE project_id = ? AND branch_id = ? ORDER BY 1",
            )
            .and_then(|mut s| s.query_map([branch.project_id.as_str(), branch.id.as_str()], |r| r.get(0))?.collect())
            .map_err(db_err)?;
        branch.size_bytes = dir_size(&self.layout.branch_dir(&branch.project_id, &branch.id));
        Ok(branch)
    }

    pub(crate) fn branch_get(&self, at: &BranchRef) -> Result<Branch> {
        self.read(|c| {
            let branch = require_branch(c, at)?;
            self.with_contents(c, branch)
        })
    }

    pub(crate) fn branch_list(&self, project: &ProjectId) -> Result<Vec<Branch>> {
        self.read(|c| {
            crate::projects::require(c, project)?;
            let rows: Vec<Row> = c
                .prepare(&format!(
                    "SELECT {COLUMNS} FROM meta.branches WHERE project_id = ? ORDER BY is_default DESC, id"
                ))
                .and_then(|mut s| s.query_map([project.as_str()], map_branch)?.collect())
                .map_err(db_err)?;
            rows.into_iter().map(|r| self.with_contents(c, r.branch)).collect()
        })
    }

    /// Creates a dev branch: one catalog row, whatever the project's size.
    pub(crate) fn branch_create(&self, project: &ProjectId, new: &NewBranch, actor: &str) -> Result<Branch> {
        if new.name.is_main() {
            return Err(StorageError::conflict("branch_already_exists", "default is the main branch"));
        }
        let now = naive(self.now());
        self.write(|c| {
            crate::projects::require(c, project)?;
            let taken: Option<String> = c
                .query_row(
                    "SELECT id FROM meta.branches WHERE project_id = ? AND lower(id) = lower(?)",
                    [project.as_str(), new.name.as_str()],
                    |r| r.get(0),
                )
                .optional()
                .map_err(db_err)?;
            if let Some(existing) = taken {
                return Err(StorageError::already_exists(Resource::Branch, existing));
            }
            c.execute(
                &format!("INSERT INTO meta.branches ({COLUMNS}) VALUES (?, ?, ?, ?, false, ?, ?)"),
                params![project.as_str(), new.name.as_str(), new.name.as_str(), new.description, now, actor],
            )
            .map_err(db_err)?;
            Ok(())
        })?;
        self.branch_get(&BranchRef { project: project.clone(), branch: new.name.clone() })
    }

    /// Deletes a dev branch with everything it owns: tables, buckets, snapshots, files.
    /// Keys limited to the branch are revoked.
    pub(crate) fn branch_delete(&self, at: &BranchRef) -> Result<()> {
        if at.branch.is_main() {
            return Err(StorageError::invalid(
                "cannot_delete_main",
                "the main branch is deleted only with its project",
            ));
        }
        let now = naive(self.now());
        self.read(|c| require_branch(c, at))?;
        self.workspaces_delete_under(&at.project, Some(at.branch.as_str()))?;
        let snapshots: Vec<String> = self.write(|c| {
            require_branch(c, at)?;
            let key = [at.project.as_str(), at.branch.as_str()];
            let snapshots = c
                .prepare("SELECT id FROM meta.snapshots WHERE project_id = ? AND branch_id = ?")
                .and_then(|mut s| s.query_map(key, |r| r.get(0))?.collect::<duckdb::Result<Vec<String>>>())
                .map_err(db_err)?;
            for sql in [
                "DELETE FROM meta.columns WHERE table_uid IN (SELECT uid FROM meta.tables WHERE project_id = $1 AND branch_id = $2)",
                "DELETE FROM meta.tables WHERE project_id = $1 AND branch_id = $2",
                "DELETE FROM meta.buckets WHERE project_id = $1 AND branch_id = $2",
                "DELETE FROM meta.tombstones WHERE project_id = $1 AND branch_id = $2",
                "DELETE FROM meta.snapshots WHERE project_id = $1 AND branch_id = $2",
                "DELETE FROM meta.branches WHERE project_id = $1 AND id = $2",
            ] {
                c.execute(sql, key).map_err(db_err)?;
            }
            c.execute(
                "UPDATE meta.api_keys SET revoked_at = ? WHERE project_id = ? AND branch_id = ? AND revoked_at IS NULL",
                params![now, at.project.as_str(), at.branch.as_str()],
            )
            .map_err(db_err)?;
            Ok(snapshots)
        })?;
        let dir = self.layout.branch_dir(&at.project, &at.branch);
        self.files.forget_under(&self.hub, &dir)?;
        for path in std::iter::once(dir).chain(snapshots.iter().map(|id| self.layout.snapshot_dir(&at.project, id))) {
            match std::fs::remove_dir_all(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
                _ => {}
            }
        }
        Ok(())
    }

    /// Replaces main's version of a table with the branch's (schema and rows), atomically,
    /// after snapshotting main's version; a table new on the branch is created on main.
    pub(crate) fn table_merge(&self, t: &TableRef, actor: &str) -> Result<Table> {
        if t.branch.is_main() {
            return Err(StorageError::invalid(
                "main_branch",
                "merge moves a dev branch's table into main; this is main",
            ));
        }
        let main = TableRef { branch: BranchId::main(), ..t.clone() };
        let view = self.read(|c| table_view(c, t))?;
        if view.home != *t {
            return Err(StorageError::conflict(
                "nothing_to_merge",
                format!("the branch has not changed {}; it shows main's version", t.table_id()),
            ));
        }
        let columns = view.meta.defs();
        let branch_file = self.file_of(t)?;
        let reading = branch_file.read()?;
        let fill = |c: &Connection, data: &str| {
            c.execute(&copy_rows(&columns, data, &reading.data()), []).map_err(db_err).map(drop)
        };
        let main_exists = self.read(|c| load_row(c, &main))?.is_some();
        if main_exists {
            self.with_writer(&main, |main_view, main_file| {
                self.snapshot_view(&main, main_view, main_file, crate::snapshots::Taking::auto("merge"), actor)?;
                self.replace_filled(main_view, main_file, &columns, &view.meta.primary_key, fill, |_| None)
            })?;
        } else {
            self.ensure_main_bucket(t)?;
            self.materialize(&main, &columns, &view.meta.primary_key, view.meta.created_at, fill, || None)?;
        }
        drop(reading);
        self.table_get(&main)
    }

    /// Gives main a bucket that so far exists only on the branch of `t`.
    fn ensure_main_bucket(&self, t: &TableRef) -> Result<()> {
        let main_bucket = TableRef { branch: BranchId::main(), ..t.clone() }.bucket_ref();
        if self.read(|c| bucket_view(c, &main_bucket)).is_ok() {
            return Ok(());
        }
        let bucket = self.read(|c| bucket_view(c, &t.bucket_ref()))?.bucket;
        let new = duckstore_plugin_sdk::model::NewBucket {
            stage: bucket.stage,
            name: bucket.name,
            description: bucket.description,
        };
        self.bucket_create(&main_bucket.branch_ref(), &new).map(drop)
    }
}
