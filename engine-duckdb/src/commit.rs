//! How a change to a table's rows or schema becomes durable: the one commit protocol every
//! writer of an existing table goes through.
//!
//! A writer never changes a table's file in place (DuckDB's WAL replay after a crash is its
//! least reliable part, and an in-place load half-replayed is neither the old table nor the
//! new one). It builds the table's next version as a complete, checkpointed file beside the
//! current one — a fresh file for a full load, or a copy of the current file changed in the
//! copy for an incremental load, a row delete or a schema change — and then:
//! 1. journals the swap in the catalog (`meta.swaps`): which file becomes the table's, and
//!    what the catalog must say once it has (the new schema, the job that made the change);
//! 2. renames the new file over the old one: **the commit point**;
//! 3. applies the journalled catalog change and deletes the journal row, in one transaction,
//!    while readers of the table are still held off.
//!
//! At start-up, before any table file is attached, [`recover`] settles every journal row a
//! crash left: a new file still there means step 2 never happened (it is deleted, the table
//! is its old version); a new file gone means it did (step 3 runs now). Whatever instant the
//! process dies, a table is its old version or its new one, its catalog entry matches its
//! file, and the job that made the change says "succeeded" exactly when the change is there.

use std::path::Path;

use chrono::{DateTime, Utc};
use duckdb::{Connection, params};
use serde::{Deserialize, Serialize};

use duckstore_plugin_sdk::names::ColumnName;
use duckstore_plugin_sdk::schema::ColumnDef;
use duckstore_plugin_sdk::{Result, StorageError};

use crate::DuckEngine;
use crate::catalog::naive;
use crate::error::db_err;
use crate::files::new_id;
use crate::jobs::{JobNote, check_cancelled, note_commit};
use crate::layout::{Layout, remove_db_file};
use crate::table_files::{Replaced, TableFile};
use crate::tables::set_schema;
use crate::views::TableView;

/// What the catalog says once a swap committed.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Settle {
    /// The table's new columns and primary key, when the change made a new schema.
    pub schema: Option<(Vec<ColumnDef>, Vec<ColumnName>)>,
    /// The table's rows now, when known (journal rows from before this field have none:
    /// the count is then taken from the file when next asked).
    #[serde(default)]
    pub rows: Option<u64>,
    /// When the table changed.
    pub at: DateTime<Utc>,
    /// The job whose work this is: it succeeded with this outcome.
    pub job: Option<JobNote>,
}

impl Settle {
    /// The catalog change for new rows (`rows` in all) under the same schema.
    pub fn rows(at: DateTime<Utc>, rows: u64, job: Option<JobNote>) -> Self {
        Self { schema: None, rows: Some(rows), at, job }
    }

    fn apply(&self, c: &Connection, table_uid: &str) -> Result<()> {
        let at = naive(self.at);
        match &self.schema {
            Some((columns, primary_key)) => set_schema(c, table_uid, columns, primary_key, at)?,
            None => {
                c.execute("UPDATE meta.tables SET updated_at = ? WHERE uid = ?", params![at, table_uid])
                    .map_err(db_err)?;
            }
        }
        c.execute("UPDATE meta.tables SET row_count = ? WHERE uid = ?", params![self.rows, table_uid])
            .map_err(db_err)?;
        note_commit(c, self.job.as_ref(), at)
    }
}

fn journal_delete(c: &Connection, id: &str) -> Result<()> {
    c.execute("DELETE FROM meta.swaps WHERE id = ?", [id]).map_err(db_err)?;
    Ok(())
}

/// `path` relative to the data directory, as journalled (the directory may move between runs).
fn relative<'p>(layout: &Layout, path: &'p Path) -> Result<&'p Path> {
    path.strip_prefix(layout.root())
        .map_err(|_| StorageError::internal(format!("{} is outside the data directory", path.display())))
}

impl DuckEngine {
    /// Makes the complete, detached file `next` the new version of `view`'s table, whose
    /// writer lock the caller holds (see the module doc for the steps). On error the table
    /// is unchanged, except when the rename happened and only attaching the new file failed:
    /// then the change is committed and the error says the table cannot be read right now.
    pub(crate) fn swap_in(&self, view: &TableView, file: &TableFile, next: &Path, settle: Settle) -> Result<()> {
        let id = new_id(8);
        let uid = &view.meta.uid;
        let journalled = check_cancelled().and_then(|()| relative(&self.layout, next)).and_then(|rel| {
            let text = serde_json::to_string(&settle).expect("a settle record serializes");
            self.write(|c| {
                c.execute(
                    "INSERT INTO meta.swaps VALUES (?, ?, ?, ?, ?)",
                    params![id, uid, rel.to_string_lossy(), text, naive(self.now())],
                )
                .map_err(db_err)
            })
        });
        if let Err(e) = journalled {
            let _ = remove_db_file(next);
            return Err(e);
        }
        // Readers finish first (a cancel ends the wait); until the rename, the change can
        // still be called off.
        let mut held = loop {
            if let Err(e) = check_cancelled() {
                return Err(self.discard(&id, next, e));
            }
            match file.exclusive_within(std::time::Duration::from_millis(50)) {
                Some(Ok(held)) => break held,
                Some(Err(e)) => return Err(self.discard(&id, next, e)),
                None => {}
            }
        };
        match self.files.replace(&self.hub, file, &mut held, next) {
            Replaced::Yes => self.settle(&id, uid, &settle),
            Replaced::No(e) => Err(self.discard(&id, next, e)),
            Replaced::AfterRename(e) => {
                self.settle(&id, uid, &settle)?;
                Err(StorageError::internal(format!(
                    "the change is committed, but the table's file cannot be opened: {e}"
                )))
            }
        }
    }

    /// Undoes a journalled swap that never renamed: the journal row goes first, then the
    /// file, so that a row whose file is gone always means "renamed" (a crash in between
    /// leaves only a stray file, swept at the next start).
    fn discard(&self, id: &str, next: &Path, error: StorageError) -> StorageError {
        match self.write(|c| journal_delete(c, id)) {
            Ok(()) => {
                let _ = remove_db_file(next);
            }
            // The row stays and so does the file: the next start discards both.
            Err(e) => tracing::error!(error = %e, "could not clear an abandoned table change from the journal"),
        }
        error
    }

    /// Completes a renamed swap's catalog change. The new file is the table's now, so the
    /// catalog must follow: a transient failure is retried, and if the catalog cannot be
    /// written at all the process stops, and start-up recovery completes the change before
    /// anything reads the table (serving it with a catalog that disagrees would be worse).
    fn settle(&self, id: &str, uid: &str, settle: &Settle) -> Result<()> {
        let mut attempt = 0;
        loop {
            match self.write(|c| {
                settle.apply(c, uid)?;
                journal_delete(c, id)
            }) {
                Ok(()) => return Ok(()),
                Err(e) if attempt < 3 => {
                    attempt += 1;
                    tracing::warn!(error = %e, attempt, "retrying the catalog change of a committed table change");
                    std::thread::sleep(std::time::Duration::from_millis(100 << attempt));
                }
                Err(e) => {
                    tracing::error!(error = %e, "the catalog cannot record a committed table change; stopping so that start-up recovery completes it");
                    std::process::abort();
                }
            }
        }
    }
}

/// Settles the swaps a crash interrupted (see the module doc); runs at start-up before any
/// table file is attached. Returns how many were rolled forward.
pub(crate) fn recover(c: &mut Connection, layout: &Layout) -> Result<u64> {
    let pending: Vec<(String, String, String, String)> = c
        .prepare("SELECT id, table_uid, next_file, settle FROM meta.swaps ORDER BY created_at")
        .and_then(|mut s| s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?.collect())
        .map_err(db_err)?;
    let mut forward = 0;
    for (id, uid, next, settle) in pending {
        let next = layout.root().join(next);
        if next.exists() {
            // Never renamed: forget the row, then the file (a crash in between leaves a
            // stray file the leftovers sweep removes).
            tracing::info!(file = %next.display(), "a table change was interrupted before its commit; discarding it");
            journal_delete(c, &id)?;
            remove_db_file(&next)?;
            continue;
        }
        let settle: Settle = serde_json::from_str(&settle)
            .map_err(|e| StorageError::internal(format!("journalled swap {id} is unreadable: {e}")))?;
        tracing::info!(table = uid, "a table change was committed before a crash; completing its catalog entry");
        let tx = c.transaction().map_err(db_err)?;
        settle.apply(&tx, &uid)?;
        journal_delete(&tx, &id)?;
        tx.commit().map_err(db_err)?;
        forward += 1;
    }
    Ok(forward)
}
