//! The registry of table files attached to the hub.
//!
//! DuckDB does not stop one process from opening a file twice, and two handles on one file
//! corrupt it silently. This registry is the only place that attaches table files, keyed
//! by path, so each file is attached exactly once. Each entry carries a lock that readers
//! hold shared for the length of a query and that detaching takes exclusively, so a query
//! never sees its table vanish underneath it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::{Mutex, RwLock, RwLockReadGuard};

use duckstore_plugin_sdk::{Result, StorageError};

use crate::error::db_err;
use crate::hub::Hub;
use crate::layout::remove_db_file;
use crate::sql::{DATA_TABLE, ident};

pub struct TableFile {
    alias: String,
    access: RwLock<()>,
}

impl TableFile {
    fn new(alias: String) -> Arc<Self> {
        Arc::new(Self { alias, access: RwLock::new(()) })
    }

    /// The fully qualified name of the table's data, for SQL.
    pub fn data(&self) -> String {
        format!("{}.main.{}", ident(&self.alias), ident(DATA_TABLE))
    }

    /// Holds the file attached for the guard's lifetime.
    pub fn read(&self) -> RwLockReadGuard<'_, ()> {
        self.access.read()
    }
}

pub struct TableFiles {
    attached: Mutex<HashMap<PathBuf, Arc<TableFile>>>,
    next_alias: AtomicU64,
}

impl TableFiles {
    pub fn new() -> Self {
        Self { attached: Mutex::new(HashMap::new()), next_alias: AtomicU64::new(1) }
    }

    fn alias(&self) -> String {
        format!("t{}", self.next_alias.fetch_add(1, Ordering::Relaxed))
    }

    /// The attached table file at `path`, attaching it on first use.
    pub fn open(&self, hub: &Hub, path: &Path) -> Result<Arc<TableFile>> {
        let mut attached = self.attached.lock();
        if let Some(f) = attached.get(path) {
            return Ok(f.clone());
        }
        if !path.exists() {
            return Err(StorageError::internal(format!("table file {} is missing", path.display())));
        }
        let file = TableFile::new(self.alias());
        hub.attach(path, &file.alias)?;
        attached.insert(path.to_owned(), file.clone());
        Ok(file)
    }

    /// Creates a new table file holding an empty table with the given column DDL, plus
    /// the system `_timestamp` column. The file is complete and checkpointed on return.
    pub fn create(&self, hub: &Hub, path: &Path, column_ddl: &[String]) -> Result<Arc<TableFile>> {
        if path.exists() {
            return Err(StorageError::internal(format!("table file {} already exists", path.display())));
        }
        std::fs::create_dir_all(path.parent().expect("table files live in bucket directories"))?;
        let alias = self.alias();
        let mut attached = self.attached.lock();
        hub.attach(path, &alias)?;
        let ddl = format!(
            "CREATE TABLE {}.main.{} ({}, {} TIMESTAMP); CHECKPOINT {};",
            ident(&alias),
            ident(DATA_TABLE),
            column_ddl.join(", "),
            ident(duckstore_plugin_sdk::names::ColumnName::TIMESTAMP),
            ident(&alias),
        );
        if let Err(e) = hub.conn().and_then(|c| c.execute_batch(&ddl).map_err(db_err)) {
            let _ = hub.detach(&alias);
            let _ = remove_db_file(path);
            return Err(e);
        }
        let file = TableFile::new(alias);
        attached.insert(path.to_owned(), file.clone());
        Ok(file)
    }

    /// Detaches and deletes the table file at `path`, waiting for running readers.
    pub fn remove(&self, hub: &Hub, path: &Path) -> Result<()> {
        let file = self.attached.lock().remove(path);
        if let Some(file) = file {
            let _exclusive = file.access.write();
            hub.detach(&file.alias)?;
        }
        remove_db_file(path)?;
        Ok(())
    }

    /// Detaches every table file under `dir` (before the directory is deleted).
    pub fn forget_under(&self, hub: &Hub, dir: &Path) -> Result<()> {
        let files: Vec<_> = {
            let mut attached = self.attached.lock();
            let paths: Vec<_> = attached.keys().filter(|p| p.starts_with(dir)).cloned().collect();
            paths.into_iter().filter_map(|p| attached.remove(&p)).collect()
        };
        for file in files {
            let _exclusive = file.access.write();
            hub.detach(&file.alias)?;
        }
        Ok(())
    }
}
