//! duckstore's default storage engine: one DuckDB file per table plus a central catalog.
//!
//! Code map:
//! - [`hub`]: the one DuckDB instance everything is attached to, and its connection pool;
//! - [`table_files`]: attaching table files exactly once, with per-table locks;
//! - [`catalog`]: `metadata.duckdb`, its migrations and row mapping;
//! - [`views`]: how buckets and tables look from a branch (copy-on-write, tombstones, links);
//! - [`projects`], [`api_keys`], [`branches`], [`buckets`], [`tables`], [`files`], [`jobs`],
//!   [`snapshots`], [`settings`], [`audit`], [`workspaces`]: the resources;
//! - [`bridge`], [`raw`], [`types`]: moving rows between the hub and workspace databases
//!   over DuckDB's C API, and type mapping;
//! - [`imports`], [`exports`], [`alter`]: loading data, writing it out, schema changes;
//! - [`commit`]: how a table's next version replaces the current one, crash-safe;
//! - [`backend`]: the `StorageBackend` implementation, delegating to the resource modules;
//! - [`sql`], [`layout`], [`error`]: SQL building, on-disk paths, error mapping.

mod alter;
mod api_keys;
mod audit;
mod backend;
mod branches;
mod bridge;
mod buckets;
mod catalog;
mod commit;
mod error;
mod exports;
mod files;
mod hub;
mod imports;
mod jobs;
mod layout;
mod leftovers;
mod memo;
mod profiles;
mod projects;
mod raw;
mod settings;
mod snapshots;
mod sql;
mod table_files;
mod tables;
mod types;
mod views;
mod workspaces;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use duckdb::Connection;
use parking_lot::Mutex;

use duckstore_plugin_sdk::Result;
use duckstore_plugin_sdk::policy::SnapshotPolicy;
use duckstore_plugin_sdk::settings::SnapshotSettings;

pub use duckstore_plugin_sdk::engine::{EngineSettings, FileLimits, ImportLimits, WorkspaceLimits};
pub use hub::Limits;

use crate::hub::{Hub, in_transaction};
use crate::layout::Layout;
use crate::table_files::TableFiles;

/// Source of "now"; injectable so tests can move time (TTLs, retention).
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

pub struct EngineConfig {
    pub settings: EngineSettings,
    /// Decides whether destructive operations snapshot first.
    pub policy: Arc<dyn SnapshotPolicy>,
    pub clock: Clock,
}

pub struct DuckEngine {
    layout: Layout,
    file_limits: FileLimits,
    import_limits: ImportLimits,
    snapshot_defaults: SnapshotSettings,
    policy: Arc<dyn SnapshotPolicy>,
    hub: Arc<Hub>,
    files: Arc<TableFiles>,
    /// Serializes catalog writes: uniqueness checks and their inserts must not interleave.
    catalog_write: Mutex<()>,
    /// One copy-on-write at a time, so two first writes cannot both copy a table.
    copy_on_write: Mutex<()>,
    workspaces: Arc<workspaces::Workspaces>,
    workspace_limits: WorkspaceLimits,
    /// Bumped by every catalog write; workspaces re-sync their bucket views when it moves,
    /// and the memos of frequent reads start over.
    catalog_epoch: Arc<AtomicU64>,
    memos: memo::Memos,
    clock: Clock,
    /// Writers waiting for a table's writer lock now, and the time all waits took.
    writer_waits: jobs::WriterWaits,
}

impl DuckEngine {
    /// Opens (creating if needed) the data directory, migrating the catalog.
    pub fn open(config: EngineConfig) -> Result<Self> {
        let EngineConfig { settings, policy, clock } = config;
        let layout = Layout::new(&settings.data_dir);
        std::fs::create_dir_all(layout.root())?;
        error::hide_root(layout.root());
        let hub = Arc::new(Hub::open(&Limits {
            threads: settings.threads,
            memory_limit: settings.memory_limit.clone(),
            temp_directory: layout.temp(),
            max_temp_bytes: settings.imports.max_temp_bytes,
        })?);
        hub.attach(&layout.metadata(), catalog::ALIAS)?;
        catalog::migrations::migrate(&mut *hub.conn()?)?;
        let completed = commit::recover(&mut *hub.conn()?, &layout)?;
        if completed > 0 {
            tracing::info!(completed, "completed table changes a crash interrupted after their commit");
        }
        let swept = leftovers::sweep(&*hub.conn()?, &layout)?;
        if swept > 0 {
            tracing::info!(swept, "removed what interrupted operations left on disk");
        }
        let files = Arc::new(TableFiles::new(settings.max_attached_tables));
        let catalog_epoch = Arc::new(AtomicU64::new(0));
        let workspaces = workspaces::Workspaces::new(
            hub.clone(),
            files.clone(),
            layout.clone(),
            settings.workspaces.clone(),
            catalog_epoch.clone(),
        );
        bridge::register_workspace_table(&*hub.conn()?, Arc::new(workspaces::Opener(Arc::downgrade(&workspaces))))?;
        Ok(Self {
            layout,
            file_limits: settings.files,
            import_limits: settings.imports,
            snapshot_defaults: settings.snapshot_defaults,
            policy,
            hub,
            files,
            catalog_write: Mutex::new(()),
            copy_on_write: Mutex::new(()),
            workspaces,
            workspace_limits: settings.workspaces,
            catalog_epoch,
            memos: memo::Memos::new(),
            clock,
            writer_waits: jobs::WriterWaits::default(),
        })
    }

    fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }

    /// Runs `f` on a pooled connection.
    fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        f(&*self.hub.conn()?)
    }

    /// Runs `f` in a catalog transaction, one writer at a time.
    fn write<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let _one_writer = self.catalog_write.lock();
        let mut conn = self.hub.conn()?;
        let out = in_transaction(&mut conn, |tx| f(tx))?;
        self.catalog_epoch.fetch_add(1, Ordering::Release);
        Ok(out)
    }
}

impl Drop for DuckEngine {
    /// Leaves no WAL behind on a clean shutdown.
    fn drop(&mut self) {
        if let Ok(conn) = self.hub.conn() {
            let _ = conn.execute_batch("CHECKPOINT meta");
        }
    }
}
