//! The engine's single DuckDB instance and its connection pool.
//!
//! The catalog and every table file are ATTACHed to one in-memory DuckDB instance (see
//! docs/adr/0002-one-duckdb-instance.md). That gives one handle per file in the process,
//! one buffer pool under one memory limit, one worker-thread pool, and cross-table SQL
//! (import from table, branch copies, snapshots) without ever opening a file twice.

use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use duckdb::Connection;
use parking_lot::Mutex;

use duckstore_plugin_sdk::Result;

use crate::error::db_err;
use crate::raw::{Database, RawConnection};

/// Resource limits of the DuckDB instance; DuckDB's defaults (80% of RAM, all cores) are
/// wrong for a server sharing a machine.
#[derive(Clone, Debug)]
pub struct Limits {
    pub threads: usize,
    /// DuckDB memory size, e.g. `"2GB"`.
    pub memory_limit: String,
    /// Spill directory for operations larger than memory.
    pub temp_directory: PathBuf,
    /// Most bytes the spill directory may hold; work that needs more fails.
    pub max_temp_bytes: u64,
}

/// Connections kept idle for reuse; more may exist while busy.
const MAX_IDLE: usize = 16;

pub struct Hub {
    db: Arc<Database>,
    idle: Mutex<Vec<Connection>>,
}

impl Hub {
    pub fn open(limits: &Limits) -> Result<Self> {
        std::fs::create_dir_all(&limits.temp_directory)?;
        let db = Database::open(
            ":memory:",
            &[
                ("threads", limits.threads.to_string()),
                ("memory_limit", limits.memory_limit.clone()),
                ("temp_directory", limits.temp_directory.to_string_lossy().into_owned()),
                ("max_temp_directory_size", format!("{}B", limits.max_temp_bytes)),
                // Nothing depends on the order of unordered results, and loads run ~35% faster
                // without it (imports that need input order ask for it explicitly).
                ("preserve_insertion_order", "false".into()),
                // Never reach for the network to fetch an extension.
                ("autoinstall_known_extensions", "false".into()),
                ("autoload_known_extensions", "false".into()),
            ],
        )?;
        let hub = Self { db, idle: Mutex::new(Vec::new()) };
        // Timestamps are UTC everywhere; a build without ICU has no time zones to set.
        let _ = hub.conn()?.execute_batch("SET GLOBAL TimeZone = 'UTC'");
        // Workspace queries pushed down here must answer as in the workspace: PostgreSQL's
        // truncating integer `/`, NULL order and division-by-zero error (workspaces::dialect).
        hub.conn()?
            .execute_batch(&format!(
                "{}; {}",
                crate::workspaces::dialect::POSTGRES_SETTINGS_SQL,
                crate::workspaces::dialect::DIVISOR_MACRO_SQL
            ))
            .map_err(db_err)?;
        Ok(hub)
    }

    /// A connection for one unit of work; it returns to the pool when dropped.
    pub fn conn(&self) -> Result<Conn<'_>> {
        let conn = match self.idle.lock().pop() {
            Some(c) => c,
            None => self.db.safe_connection()?,
        };
        Ok(Conn { hub: self, conn: Some(conn) })
    }

    /// A raw connection, for streaming chunks to another DuckDB instance.
    pub fn raw_connection(&self) -> Result<RawConnection> {
        RawConnection::connect(&self.db)
    }

    /// ATTACHes a database file under `alias`, creating it if absent.
    pub fn attach(&self, path: &Path, alias: &str) -> Result<()> {
        let sql = format!("ATTACH {} AS {}", crate::sql::literal(&path.to_string_lossy()), crate::sql::ident(alias));
        self.conn()?.execute_batch(&sql).map_err(db_err)
    }

    pub fn detach(&self, alias: &str) -> Result<()> {
        self.conn()?.execute_batch(&format!("DETACH {}", crate::sql::ident(alias))).map_err(db_err)
    }
}

/// A pooled connection.
pub struct Conn<'a> {
    hub: &'a Hub,
    conn: Option<Connection>,
}

impl Deref for Conn<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn.as_ref().expect("present until drop")
    }
}

impl DerefMut for Conn<'_> {
    fn deref_mut(&mut self) -> &mut Connection {
        self.conn.as_mut().expect("present until drop")
    }
}

impl Drop for Conn<'_> {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else { return };
        // A connection left inside a transaction (a panic mid-way) is not reused.
        if conn.is_autocommit() {
            let mut idle = self.hub.idle.lock();
            if idle.len() < MAX_IDLE {
                idle.push(conn);
            }
        }
    }
}

/// Runs `f` inside a transaction on `conn`, committing on success and rolling back on error.
pub fn in_transaction<T>(conn: &mut Connection, f: impl FnOnce(&duckdb::Transaction<'_>) -> Result<T>) -> Result<T> {
    let tx = conn.transaction().map_err(db_err)?;
    let out = f(&tx)?;
    tx.commit().map_err(db_err)?;
    Ok(out)
}
