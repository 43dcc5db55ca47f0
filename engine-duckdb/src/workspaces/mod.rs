//! SQL workspaces: a catalog row per workspace (`meta.workspaces`), its own DuckDB file
//! under `<data>/workspaces/<project>/<id>.duckdb`, opened once and shared by all of its
//! SQL sessions, the engine's loads and imports back to storage.
//!
//! - [`database`]: one workspace's locked-down DuckDB instance and its bucket views;
//! - [`session`]: a SQL session on it;
//! - [`compat`]: the PostgreSQL catalog emulation and SQL rewriting.

mod compat;
mod database;
pub(crate) mod dialect;
mod keywords;
mod names;
mod pushdown;
mod session;

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Weak};

use chrono::{DateTime, Duration, Utc};
use duckdb::{OptionalExt, params};
use parking_lot::Mutex;

use duckstore_plugin_sdk::names::{BranchRef, ProjectId};
use duckstore_plugin_sdk::sql::SqlSession;
use duckstore_plugin_sdk::workspaces::{
    DEFAULT_TTL_HOURS, LoadRequest, LoadResult, LoadedTable, NewWorkspace, StoredWorkspace, Workspace, WorkspaceDetail,
};
use duckstore_plugin_sdk::{Resource, Result, StorageError};

pub use duckstore_plugin_sdk::engine::WorkspaceLimits;

use crate::DuckEngine;
use crate::bridge::{StorageScope, WorkspaceOpener};
use crate::catalog::{naive, parsed, ts};
use crate::error::db_err;
use crate::hub::Hub;
use crate::layout::Layout;
use crate::raw::RawConnection;
use crate::sql::{ident, literal};
use crate::table_files::TableFiles;
use crate::views::table_view;
use database::WorkspaceDb;
use session::DuckSession;

const GB: u64 = 1 << 30;

const COLUMNS: &str = "id, project_id, branch_id, name, created_at, expires_at, size_limit_bytes, verifier";

fn map_workspace(r: &duckdb::Row<'_>) -> duckdb::Result<StoredWorkspace> {
    Ok(StoredWorkspace {
        workspace: Workspace {
            id: r.get(0)?,
            project_id: parsed(r, 1)?,
            branch_id: parsed(r, 2)?,
            name: r.get(3)?,
            created_at: ts(r, 4)?,
            expires_at: ts(r, 5)?,
            size_limit_bytes: r.get(6)?,
            size_bytes: 0,
            active_sessions: 0,
            connection: None,
        },
        verifier: r.get(7)?,
    })
}

/// The open workspace databases, by id.
pub(crate) struct Workspaces {
    hub: Arc<Hub>,
    files: Arc<TableFiles>,
    layout: Layout,
    limits: WorkspaceLimits,
    catalog_epoch: Arc<AtomicU64>,
    open: Mutex<HashMap<String, Arc<WorkspaceDb>>>,
}

impl Workspaces {
    pub fn new(
        hub: Arc<Hub>,
        files: Arc<TableFiles>,
        layout: Layout,
        limits: WorkspaceLimits,
        catalog_epoch: Arc<AtomicU64>,
    ) -> Arc<Self> {
        Arc::new(Self { hub, files, layout, limits, catalog_epoch, open: Mutex::new(HashMap::new()) })
    }

    fn record(&self, id: &str) -> Result<Option<StoredWorkspace>> {
        self.hub
            .conn()?
            .query_row(&format!("SELECT {COLUMNS} FROM meta.workspaces WHERE id = ?"), [id], map_workspace)
            .optional()
            .map_err(db_err)
    }

    /// The workspace's database, opened on first use.
    fn database(&self, stored: &StoredWorkspace) -> Result<Arc<WorkspaceDb>> {
        let ws = &stored.workspace;
        let mut open = self.open.lock();
        if let Some(db) = open.get(&ws.id) {
            return Ok(db.clone());
        }
        let at = BranchRef { project: ws.project_id.clone(), branch: ws.branch_id.clone() };
        let scope = StorageScope {
            hub: self.hub.clone(),
            files: self.files.clone(),
            layout: self.layout.clone(),
            project: at.project.clone(),
            branch: at.branch.clone(),
            threads: self.limits.threads as u64,
            catalog_epoch: self.catalog_epoch.clone(),
            views: Mutex::default(),
        };
        let db = WorkspaceDb::open(
            &ws.id,
            &at,
            ws.size_limit_bytes,
            self.layout.workspace(&at.project, &ws.id),
            self.layout.workspace_temp(&ws.id),
            &self.limits,
            scope,
            self.catalog_epoch.clone(),
        )?;
        open.insert(ws.id.clone(), db.clone());
        Ok(db)
    }

    /// The workspace's database if this process has it open.
    fn opened(&self, id: &str) -> Option<Arc<WorkspaceDb>> {
        self.open.lock().get(id).cloned()
    }

    /// Closes a workspace's sessions and forgets its database (its file can then go).
    fn close(&self, id: &str) {
        if let Some(db) = self.open.lock().remove(id) {
            db.close();
        }
    }

    fn live(&self, id: &str, now: DateTime<Utc>) -> Result<(StoredWorkspace, Arc<WorkspaceDb>)> {
        let stored = self.record(id)?.ok_or_else(|| StorageError::not_found(Resource::Workspace, id))?;
        if stored.workspace.expires_at <= now {
            return Err(StorageError::gone(Resource::Workspace, id));
        }
        let db = self.database(&stored)?;
        Ok((stored, db))
    }
}

/// Lets `workspace_table` (registered in the hub) reach workspace databases without the
/// hub keeping the registry alive.
pub(crate) struct Opener(pub Weak<Workspaces>);

impl WorkspaceOpener for Opener {
    fn connect(&self, workspace_id: &str) -> Result<RawConnection> {
        let workspaces = self.0.upgrade().ok_or_else(|| StorageError::internal("the engine is shutting down"))?;
        let stored = workspaces
            .record(workspace_id)?
            .ok_or_else(|| StorageError::not_found(Resource::Workspace, workspace_id))?;
        workspaces.database(&stored)?.connect()
    }
}

impl DuckEngine {
    fn workspace_in(&self, at: &BranchRef, id: &str) -> Result<(StoredWorkspace, Arc<WorkspaceDb>)> {
        let (stored, db) = self.workspaces.live(id, self.now())?;
        let ws = &stored.workspace;
        if ws.project_id != at.project || ws.branch_id != at.branch {
            return Err(StorageError::not_found(Resource::Workspace, id));
        }
        Ok((stored, db))
    }

    fn described(&self, mut ws: Workspace, db: &WorkspaceDb) -> Result<Workspace> {
        ws.size_bytes = db.size_bytes()?;
        ws.active_sessions = db.active_sessions();
        Ok(ws)
    }

    pub(crate) fn workspace_create(
        &self,
        at: &BranchRef,
        new: &NewWorkspace,
        verifier: &str,
        _actor: &str,
    ) -> Result<Workspace> {
        new.validate()?;
        let now = self.now();
        // 16 hex digits of a number below 2^53: faces that show ids as integers (Keboola's
        // workspace ids) can, exactly.
        let id = format!("ws_{:016x}", rand::random::<u64>() & ((1 << 53) - 1));
        let expires = now + Duration::hours(i64::from(new.ttl_hours.unwrap_or(DEFAULT_TTL_HOURS)));
        let limit = new.size_limit_gb.map_or(self.workspace_limits.default_size_bytes, |g| u64::from(g) * GB);
        self.write(|c| {
            crate::branches::require_branch(c, at)?;
            c.execute(
                &format!("INSERT INTO meta.workspaces ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"),
                params![
                    id,
                    at.project.as_str(),
                    at.branch.as_str(),
                    new.name,
                    naive(now),
                    naive(expires),
                    limit,
                    verifier
                ],
            )
            .map_err(db_err)?;
            Ok(())
        })?;
        let (stored, db) = self.workspace_in(at, &id)?;
        self.described(stored.workspace, &db)
    }

    pub(crate) fn workspace_list(&self, at: &BranchRef) -> Result<Vec<Workspace>> {
        let now = self.now();
        let stored: Vec<StoredWorkspace> = self.read(|c| {
            crate::branches::require_branch(c, at)?;
            c.prepare(&format!(
                "SELECT {COLUMNS} FROM meta.workspaces WHERE project_id = ? AND branch_id = ? AND expires_at > ? ORDER BY created_at, id"
            ))
            .and_then(|mut s| {
                s.query_map(params![at.project.as_str(), at.branch.as_str(), naive(now)], map_workspace)?.collect()
            })
            .map_err(db_err)
        })?;
        // Listing does not open workspaces: one not open has no sessions, and its size is its
        // files'. One whose instance fails (DuckDB invalidates an instance after an internal
        // error) is listed so too rather than failing the whole list.
        Ok(stored
            .into_iter()
            .map(|s| match self.workspaces.opened(&s.workspace.id) {
                Some(db) => self.described(s.workspace.clone(), &db).unwrap_or_else(|_| self.on_disk(s.workspace)),
                None => self.on_disk(s.workspace),
            })
            .collect())
    }

    /// `ws` as its files show it: no sessions, its files' size.
    fn on_disk(&self, mut ws: Workspace) -> Workspace {
        let path = self.layout.workspace(&ws.project_id, &ws.id);
        ws.size_bytes = [path.clone(), path.with_extension("duckdb.wal")]
            .iter()
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum();
        ws
    }

    pub(crate) fn workspace_get(&self, at: &BranchRef, id: &str) -> Result<WorkspaceDetail> {
        let (stored, db) = self.workspace_in(at, id)?;
        Ok(WorkspaceDetail { workspace: self.described(stored.workspace, &db)?, objects: db.objects()? })
    }

    /// Removes workspaces' catalog rows, then closes them and deletes their files.
    fn workspaces_remove(&self, project: &ProjectId, ids: &[String]) -> Result<()> {
        for id in ids {
            self.workspaces.close(id);
            let path = self.layout.workspace(project, id);
            for p in [path.clone(), path.with_extension("duckdb.wal")] {
                match std::fs::remove_file(&p) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
                    _ => {}
                }
            }
            let _ = std::fs::remove_dir_all(self.layout.workspace_temp(id));
        }
        Ok(())
    }

    pub(crate) fn workspace_delete(&self, at: &BranchRef, id: &str) -> Result<()> {
        self.write(|c| {
            let n = c
                .execute(
                    "DELETE FROM meta.workspaces WHERE id = ? AND project_id = ? AND branch_id = ?",
                    params![id, at.project.as_str(), at.branch.as_str()],
                )
                .map_err(db_err)?;
            if n == 0 { Err(StorageError::not_found(Resource::Workspace, id)) } else { Ok(()) }
        })?;
        self.workspaces_remove(&at.project, &[id.to_owned()])
    }

    /// Deletes the workspaces of a project, or of one of its branches, with the project or branch.
    pub(crate) fn workspaces_delete_under(&self, project: &ProjectId, branch: Option<&str>) -> Result<()> {
        let ids: Vec<String> = self.write(|c| {
            let filter = "project_id = ? AND (? IS NULL OR branch_id = ?)";
            let ids = c
                .prepare(&format!("SELECT id FROM meta.workspaces WHERE {filter}"))
                .and_then(|mut s| s.query_map(params![project.as_str(), branch, branch], |r| r.get(0))?.collect())
                .map_err(db_err)?;
            c.execute(
                &format!("DELETE FROM meta.workspaces WHERE {filter}"),
                params![project.as_str(), branch, branch],
            )
            .map_err(db_err)?;
            Ok(ids)
        })?;
        self.workspaces_remove(project, &ids)
    }

    pub(crate) fn workspace_clear(&self, at: &BranchRef, id: &str) -> Result<WorkspaceDetail> {
        self.workspace_in(at, id)?.1.clear()?;
        self.workspace_get(at, id)
    }

    pub(crate) fn workspace_drop_object(&self, at: &BranchRef, id: &str, object: &str) -> Result<()> {
        self.workspace_in(at, id)?.1.drop_object(object)
    }

    pub(crate) fn workspace_set_verifier(&self, at: &BranchRef, id: &str, verifier: &str) -> Result<Workspace> {
        let (stored, db) = self.workspace_in(at, id)?;
        self.write(|c| {
            c.execute("UPDATE meta.workspaces SET verifier = ? WHERE id = ?", params![verifier, id]).map_err(db_err)
        })?;
        db.end_sessions();
        self.described(stored.workspace, &db)
    }

    pub(crate) fn workspace_load(&self, at: &BranchRef, id: &str, request: &LoadRequest) -> Result<LoadResult> {
        let (_, db) = self.workspace_in(at, id)?;
        if request.tables.is_empty() {
            return Err(StorageError::invalid("no_tables", "give at least one table to load"));
        }
        // Every table is checked before anything is written, then all are created in one
        // transaction: a load happens whole or not at all.
        let mut statements = Vec::with_capacity(request.tables.len());
        let mut loaded = Vec::with_capacity(request.tables.len());
        for t in &request.tables {
            let source = at.bucket(t.bucket_id.clone()).table(t.table_name.clone());
            let view = self.read(|c| table_view(c, &source))?;
            let columns = match &t.columns {
                Some(cols) if !cols.is_empty() => cols
                    .iter()
                    .map(|c| crate::sql::find_column(&view.meta.columns, c).map(|c| ident(c.def.name.as_str())))
                    .collect::<Result<Vec<_>>>()?
                    .join(", "),
                _ => "*".to_owned(),
            };
            let selection = duckstore_plugin_sdk::query::RowSelection {
                filters: t.filters.clone(),
                changed_since: t.changed_since,
                changed_until: t.changed_until,
            };
            // Validated here, so a bad filter is a 4xx rather than a failure inside DuckDB.
            crate::sql::where_clause(&selection, &view.meta.columns)?;
            let filter = serde_json::to_string(&selection).map_err(|e| StorageError::internal(e.to_string()))?;
            let destination = t.destination.clone().unwrap_or_else(|| t.table_name.clone());
            statements.push(format!(
                "CREATE OR REPLACE TABLE {} AS SELECT {columns} FROM system.main.storage_table({}, {}, filter := {})",
                ident(destination.as_str()),
                literal(&t.bucket_id.to_string()),
                literal(t.table_name.as_str()),
                literal(&filter),
            ));
            loaded.push(LoadedTable { source: source.table_id(), destination: destination.to_string(), rows: 0 });
        }
        if let Some(twice) = loaded
            .iter()
            .enumerate()
            .find(|(i, l)| loaded[..*i].iter().any(|o| o.destination.eq_ignore_ascii_case(&l.destination)))
        {
            let message = format!("table {:?} is loaded twice in one request", twice.1.destination);
            return Err(StorageError::invalid("duplicate_destination", message));
        }
        let objects = db.objects()?;
        for table in &loaded {
            if let Some(view) =
                objects.iter().find(|o| o.kind == "view" && o.name.eq_ignore_ascii_case(&table.destination))
            {
                let message = format!("{:?} is a view of the workspace; load into another name or drop it", view.name);
                return Err(StorageError::conflict("destination_is_a_view", message));
            }
        }
        db.ensure_room()?;
        for (table, rows) in loaded.iter_mut().zip(db.admin_create_all(&statements)?) {
            table.rows = rows;
        }
        Ok(LoadResult { loaded, workspace_size_bytes: db.size_bytes()? })
    }

    pub(crate) fn workspace_find(&self, id: &str) -> Result<Option<StoredWorkspace>> {
        self.workspaces.record(id)
    }

    pub(crate) fn workspace_session(&self, id: &str) -> Result<Box<dyn SqlSession>> {
        let (stored, db) = self.workspaces.live(id, self.now())?;
        let expiry = session::Expiry { at: stored.workspace.expires_at, clock: self.clock.clone() };
        Ok(Box::new(DuckSession::open(db, self.workspace_limits.max_sessions, expiry)?))
    }

    pub(crate) fn workspaces_sweep(&self) -> Result<u64> {
        let now = naive(self.now());
        let expired: Vec<(String, String)> = self.write(|c| {
            let rows = c
                .prepare("SELECT id, project_id FROM meta.workspaces WHERE expires_at <= ?")
                .and_then(|mut s| s.query_map([now], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
                .map_err(db_err)?;
            c.execute("DELETE FROM meta.workspaces WHERE expires_at <= ?", [now]).map_err(db_err)?;
            Ok(rows)
        })?;
        for (id, project) in &expired {
            self.workspaces_remove(&project.parse()?, std::slice::from_ref(id))?;
        }
        Ok(expired.len() as u64)
    }

    /// The SELECT an import reads a workspace table with (see [`crate::bridge`]).
    pub(crate) fn workspace_source(&self, at: &BranchRef, id: &str, table: &str) -> Result<String> {
        self.workspace_in(at, id)?;
        Ok(format!("workspace_table({}, {})", literal(id), literal(table)))
    }
}
