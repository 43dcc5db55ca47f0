//! The registry of table files attached to the hub.
//!
//! DuckDB does not stop one process from opening a file twice, and two handles on one file
//! corrupt it silently. This registry is the only place that attaches table files, keyed
//! by path, so each file is attached exactly once. One [`TableFile`] per path lives as long
//! as the table does, across atomic replacements of its file, and carries two locks:
//! - `writer` serializes writers of the table (imports, schema changes, row deletes) while
//!   readers continue under DuckDB's MVCC;
//! - `attachment` is held shared by every query for its whole length; replacing or
//!   detaching the file takes it exclusively, so a query never loses its table mid-way
//!   (DuckDB itself would let DETACH pull a database from under a reader).
//!
//! An attached file costs memory (~0.3 MB of DuckDB's metadata and buffers each), so at most
//! `limit` stay attached: past it, files nobody holds are detached, least recently opened
//! first, and attached again on their next use. A file is idle when the registry holds its
//! only [`TableFile`] (nobody can take its writer lock or start a query on it without one)
//! and no query still reads it (its attachment lock is free).

use std::collections::HashMap;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use duckdb::Connection;
use parking_lot::lock_api::ArcRwLockReadGuard;
use parking_lot::{Mutex, MutexGuard, RawRwLock, RwLock, RwLockReadGuard, RwLockWriteGuard};

use duckstore_plugin_sdk::names::ColumnName;
use duckstore_plugin_sdk::{Result, StorageError};

use crate::error::db_err;
use crate::hub::Hub;
use crate::layout::{remove_db_file, wal_path};
use crate::sql::{DATA_TABLE, ident};

pub struct TableFile {
    path: PathBuf,
    writer: Mutex<()>,
    /// The alias the file is attached under; `None` once the table is removed.
    attachment: Arc<RwLock<Option<String>>>,
    /// When it was last opened, on the registry's clock.
    used: AtomicU64,
}

/// A table file held attached: shared by queries ([`Reading`]) or exclusively by a schema
/// change ([`Exclusive`]).
pub struct Held<G> {
    alias: G,
}

pub type Reading<'a> = Held<RwLockReadGuard<'a, Option<String>>>;
/// Where a new table file starts.
pub enum Start<'a> {
    /// An empty table with these column definitions (plus `_timestamp`).
    Empty(&'a [String]),
    /// A copy of this table's file (checkpointed first), to be changed. The caller holds
    /// the table's writer lock, so no commit lands between the copy and the swap.
    CopyOf(&'a TableFile),
}

/// The outcome of [`TableFiles::replace`].
#[must_use]
pub enum Replaced {
    Yes,
    /// Nothing changed: the old file is still the table's, the new one still in its place
    /// (the caller removes it once nothing refers to it any more).
    No(StorageError),
    /// The new file is the table's, but could not be attached.
    AfterRename(StorageError),
}
pub type Exclusive<'a> = Held<RwLockWriteGuard<'a, Option<String>>>;
/// A [`Reading`] that owns its lock, for scans that outlive the call that started them.
pub type OwnedReading = Held<ArcRwLockReadGuard<RawRwLock, Option<String>>>;

impl<G: Deref<Target = Option<String>>> Held<G> {
    fn new(alias: G) -> Result<Self> {
        match *alias {
            Some(_) => Ok(Self { alias }),
            None => Err(StorageError::conflict("table_removed", "the table was removed while this request ran")),
        }
    }

    /// The fully qualified name of the table's rows, for SQL.
    pub fn data(&self) -> String {
        qualified(self.alias())
    }

    pub fn alias(&self) -> &str {
        self.alias.as_deref().expect("checked when the guard was taken")
    }
}

/// Copies a table file to `to` after checkpointing it, so the copy holds every commit.
/// Readers go on meanwhile; they never write the file.
fn copy_checkpointed(hub: &Hub, file: &TableFile, to: &Path) -> Result<()> {
    let reading = file.read()?;
    hub.conn()?.execute_batch(&format!("CHECKPOINT {}", ident(reading.alias()))).map_err(db_err)?;
    // On filesystems with reflinks (XFS, btrfs) the kernel shares the blocks instead of copying.
    std::fs::copy(&file.path, to)?;
    Ok(())
}

/// Makes a rename in `path`'s directory durable (best effort: a failure only weakens the
/// guarantee against power loss, not against a crash of the process).
fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent()
        && let Ok(d) = std::fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
}

fn qualified(alias: &str) -> String {
    format!("{}.main.{}", ident(alias), ident(DATA_TABLE))
}

impl TableFile {
    /// Holds the file attached for the guard's lifetime.
    pub fn read(&self) -> Result<Reading<'_>> {
        Held::new(self.attachment.read())
    }

    /// A hold for a scan of a workspace query, which may scan the same table again before
    /// it ends (a self-join, a UNION): such holds go ahead of a queued exclusive one, which
    /// would otherwise wait for the first scan while the second waited for it.
    pub fn read_owned(&self) -> Result<OwnedReading> {
        Held::new(self.attachment.read_arc_recursive())
    }

    /// Holds the file attached with no query running until the guard drops, if the running
    /// queries end within `wait`.
    pub fn exclusive_within(&self, wait: std::time::Duration) -> Option<Result<Exclusive<'_>>> {
        self.attachment.try_write_for(wait).map(Held::new)
    }

    /// The writer lock if it comes free within `wait`.
    pub fn lock_writer_for(&self, wait: std::time::Duration) -> Option<MutexGuard<'_, ()>> {
        self.writer.try_lock_for(wait)
    }

    /// The writer lock if nobody writes the table right now.
    pub fn try_lock_writer(&self) -> Option<MutexGuard<'_, ()>> {
        self.writer.try_lock()
    }
}

pub struct TableFiles {
    files: Mutex<HashMap<PathBuf, Arc<TableFile>>>,
    next_alias: AtomicU64,
    /// Most files kept attached while idle.
    limit: usize,
    /// Ticks once per open: the order files were last used in.
    clock: AtomicU64,
}

impl TableFiles {
    pub fn new(limit: usize) -> Self {
        Self {
            files: Mutex::new(HashMap::new()),
            next_alias: AtomicU64::new(1),
            limit: limit.max(1),
            clock: AtomicU64::new(0),
        }
    }

    fn new_alias(&self) -> String {
        format!("t{}", self.next_alias.fetch_add(1, Ordering::Relaxed))
    }

    /// The table file at `path`, attaching it on first use (or first since it was idle).
    pub fn open(&self, hub: &Hub, path: &Path) -> Result<Arc<TableFile>> {
        let now = self.clock.fetch_add(1, Ordering::Relaxed);
        let (file, idle) = {
            let mut files = self.files.lock();
            if let Some(f) = files.get(path) {
                f.used.store(now, Ordering::Relaxed);
                return Ok(f.clone());
            }
            if !path.exists() {
                return Err(StorageError::internal(format!("table file {} is missing", path.display())));
            }
            let alias = self.new_alias();
            // A file detached while idle may be released by DuckDB a moment later.
            attach_when_released(hub, path, &alias)?;
            let file = Arc::new(TableFile {
                path: path.to_owned(),
                writer: Mutex::new(()),
                attachment: Arc::new(RwLock::new(Some(alias))),
                used: AtomicU64::new(now),
            });
            files.insert(path.to_owned(), file.clone());
            (file, self.take_idle(&mut files))
        };
        // Detached outside the registry's lock: a detach may checkpoint the file first.
        for alias in idle {
            if let Err(e) = hub.detach(&alias) {
                tracing::warn!(error = %e.message, "could not detach an idle table file");
            }
        }
        Ok(file)
    }

    /// Takes idle files out of the registry, least recently used first, until at most
    /// `limit` remain (or no idle one does): their aliases, to detach.
    fn take_idle(&self, files: &mut HashMap<PathBuf, Arc<TableFile>>) -> Vec<String> {
        let excess = files.len().saturating_sub(self.limit);
        if excess == 0 {
            return Vec::new();
        }
        let mut idle: Vec<(u64, PathBuf)> = files
            .iter()
            .filter(|(_, f)| Arc::strong_count(f) == 1)
            .map(|(p, f)| (f.used.load(Ordering::Relaxed), p.clone()))
            .collect();
        idle.sort_unstable();
        let mut aliases = Vec::new();
        for (_, path) in idle {
            if aliases.len() == excess {
                break;
            }
            // Nobody else holds the file (checked under the registry's lock, the only way to
            // a new holder); a query may still be reading it through its attachment.
            let Some(mut attachment) = files[&path].attachment.try_write() else { continue };
            if let Some(alias) = attachment.take() {
                aliases.push(alias);
            }
            drop(attachment);
            files.remove(&path);
        }
        aliases
    }

    /// How many table files are attached (and registered) right now.
    pub fn attached(&self) -> usize {
        self.files.lock().len()
    }

    /// Writes a complete, checkpointed table file at `path` (which must not exist), starting
    /// from `start` and changed by `fill(conn, data)`, where `data` is the new table's
    /// qualified name. The file is detached when this returns: nothing but a rename remains
    /// to make it a table's version. On error (or a crash) the file is garbage: removed here,
    /// or swept at the next start.
    pub fn build<T>(
        &self,
        hub: &Hub,
        path: &Path,
        start: Start<'_>,
        fill: impl FnOnce(&Connection, &str) -> Result<T>,
    ) -> Result<T> {
        std::fs::create_dir_all(path.parent().expect("table files live in bucket directories"))?;
        let alias = self.new_alias();
        let attached = match start {
            Start::Empty(_) => Ok(()),
            Start::CopyOf(file) => copy_checkpointed(hub, file, path),
        }
        .and_then(|()| hub.attach(path, &alias));
        if let Err(e) = attached {
            let _ = remove_db_file(path);
            return Err(e);
        }
        let data = qualified(&alias);
        let result = (|| {
            let conn = hub.conn()?;
            if let Start::Empty(column_ddl) = start {
                let ddl = format!(
                    "CREATE TABLE {data} ({}, {} TIMESTAMP)",
                    column_ddl.join(", "),
                    ident(ColumnName::TIMESTAMP)
                );
                conn.execute_batch(&ddl).map_err(db_err)?;
            }
            let out = fill(&conn, &data)?;
            conn.execute_batch(&format!("CHECKPOINT {}", ident(&alias))).map_err(db_err)?;
            Ok(out)
        })();
        let detached = hub.detach(&alias);
        match (result, detached) {
            (Ok(out), Ok(())) => Ok(out),
            (Err(e), _) | (Ok(_), Err(e)) => {
                let _ = remove_db_file(path);
                Err(e)
            }
        }
    }

    /// Atomically replaces `file` by the complete file at `new_path` (built with
    /// [`Self::build`] next to it): renames the new file over the old one and attaches it.
    /// The rename is the commit point: a crash before it leaves the old file, after it the
    /// new one. The caller holds the table's writer lock and `held`, taken before any
    /// catalog lock: waiting for readers (a workspace cursor may hold one as long as its
    /// client likes) must hold up only this table. On error, [`Replaced`] tells whether the
    /// rename happened.
    pub fn replace(&self, hub: &Hub, file: &TableFile, held: &mut Exclusive<'_>, new_path: &Path) -> Replaced {
        let attachment = &mut held.alias;
        let Some(old) = attachment.clone() else {
            return Replaced::No(StorageError::conflict("table_removed", "the table was removed"));
        };
        // Flush the old file's WAL first: a WAL left beside the new file would be replayed
        // into it. Until the detach succeeds the old file stays attached under its alias.
        let flushed = hub
            .conn()
            .and_then(|c| c.execute_batch(&format!("CHECKPOINT {}", ident(&old))).map_err(db_err))
            .and_then(|()| hub.detach(&old));
        if let Err(e) = flushed {
            return Replaced::No(e);
        }
        **attachment = None;
        let _ = std::fs::remove_file(wal_path(&file.path));
        if let Err(e) = std::fs::rename(new_path, &file.path) {
            // Keep serving the old file, which is still in place.
            let alias = self.new_alias();
            if hub.attach(&file.path, &alias).is_ok() {
                **attachment = Some(alias);
            }
            return Replaced::No(e.into());
        }
        sync_dir(&file.path);
        let alias = self.new_alias();
        match attach_when_released(hub, &file.path, &alias) {
            Ok(()) => {
                **attachment = Some(alias);
                Replaced::Yes
            }
            Err(e) => Replaced::AfterRename(e),
        }
    }

    /// Whether `path` is attached as a table's file right now.
    pub fn is_open(&self, path: &Path) -> bool {
        self.files.lock().contains_key(path)
    }

    /// Detaches and deletes the table file at `path`, waiting for running readers.
    pub fn remove(&self, hub: &Hub, path: &Path) -> Result<()> {
        let file = self.files.lock().remove(path);
        if let Some(file) = file
            && let Some(alias) = file.attachment.write().take()
        {
            hub.detach(&alias)?;
        }
        remove_db_file(path)?;
        Ok(())
    }

    /// Detaches every table file under `dir` (before the directory is deleted).
    pub fn forget_under(&self, hub: &Hub, dir: &Path) -> Result<()> {
        let removed: Vec<_> = {
            let mut files = self.files.lock();
            let paths: Vec<_> = files.keys().filter(|p| p.starts_with(dir)).cloned().collect();
            paths.into_iter().filter_map(|p| files.remove(&p)).collect()
        };
        for file in removed {
            if let Some(alias) = file.attachment.write().take() {
                hub.detach(&alias)?;
            }
        }
        Ok(())
    }
}

/// Attaches `path`, waiting a moment for a detached predecessor to let go of it: DuckDB
/// keeps a detached database's file handle until the last connection that used it ends its
/// statement (a workspace session finishing a query on the old file), and refuses to attach
/// the same path meanwhile ("Unique file handle conflict"). Measured: milliseconds.
fn attach_when_released(hub: &Hub, path: &Path, alias: &str) -> Result<()> {
    let mut waited = 0;
    loop {
        match hub.attach(path, alias) {
            Err(e) if e.message.contains("file handle conflict") && waited < 100 => {
                waited += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            done => return done,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::Limits;

    fn count(hub: &Hub, file: &TableFile) -> i64 {
        let reading = file.read().unwrap();
        hub.conn().unwrap().query_row(&format!("SELECT count(*) FROM {}", reading.data()), [], |r| r.get(0)).unwrap()
    }

    #[test]
    fn idle_files_beyond_the_limit_are_detached_and_held_ones_stay() {
        let dir = tempfile::tempdir().unwrap();
        let limits = Limits {
            threads: 1,
            memory_limit: "256MB".into(),
            temp_directory: dir.path().join("tmp"),
            max_temp_bytes: 1 << 30,
        };
        let hub = Hub::open(&limits).unwrap();
        let files = TableFiles::new(2);
        let paths: Vec<PathBuf> = (0..5).map(|i| dir.path().join("b").join(format!("t{i}.duckdb"))).collect();
        for (i, path) in paths.iter().enumerate() {
            let fill = |c: &Connection, data: &str| {
                c.execute_batch(&format!("INSERT INTO {data} SELECT range, NULL FROM range({i})")).map_err(db_err)
            };
            files.build(&hub, path, Start::Empty(&["id BIGINT".to_owned()]), fill).unwrap();
        }
        // One file held by a caller, one read by a running query: neither may go.
        let held = files.open(&hub, &paths[0]).unwrap();
        let reading = files.open(&hub, &paths[1]).unwrap().read_owned().unwrap();
        for path in &paths[2..] {
            let file = files.open(&hub, path).unwrap();
            drop(file);
            assert!(files.attached() <= 3, "{}", files.attached());
        }
        assert!(files.is_open(&paths[0]) && files.is_open(&paths[1]));
        assert_eq!(count(&hub, &held), 0);
        let rows: i64 = hub
            .conn()
            .unwrap()
            .query_row(&format!("SELECT count(*) FROM {}", reading.data()), [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 1);
        drop((held, reading));
        // Every file answers again after being detached, each with its own rows; the files
        // let go above are detached when the next one is attached.
        for (i, path) in paths.iter().enumerate() {
            assert_eq!(count(&hub, &files.open(&hub, path).unwrap()), i as i64);
            assert!(files.attached() <= 3, "{}", files.attached());
        }
        assert_eq!(files.attached(), 2);
    }
}
