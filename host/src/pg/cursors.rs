//! SQL cursors (`DECLARE … CURSOR FOR`, `FETCH`, `MOVE`, `CLOSE`), as psycopg's named
//! cursors and SQLAlchemy's `stream_results` use them to read large results in pieces.
//! A cursor's query runs like any statement: it streams on credit, so rows are produced
//! as they are fetched; a later statement on the connection detaches it into memory
//! (bounded by `pg_held_result_limit`, see [`crate::pg::session`]). Rows are kept as
//! Arrow batches and encoded per FETCH, in the text or binary formats it asks for.

use std::collections::VecDeque;

use arrow_array::RecordBatch;
use pgwire::messages::data::DataRow;

use duckstore_plugin_sdk::sql::{SqlColumn, SqlParam, SqlType};
use duckstore_plugin_sdk::{ErrorKind, Result, StorageError};

use crate::pg::encode::data_rows;
use crate::pg::session::{Encoding, Event, PgSession, Running};

pub struct Cursor {
    pub columns: Vec<SqlColumn>,
    types: Vec<SqlType>,
    /// Kept past the end of its transaction (`WITH HOLD`).
    pub hold: bool,
    /// The running query; `None` once it ended.
    running: Option<Running>,
    /// Rows received and not fetched yet.
    pending: VecDeque<RecordBatch>,
    pending_rows: usize,
}

pub fn not_found(name: &str) -> StorageError {
    StorageError::new(ErrorKind::NotFound, "34000", format!("cursor \"{name}\" does not exist"))
}

impl Cursor {
    /// Starts `query` and waits for its columns.
    pub async fn open(session: &PgSession, query: String, params: Vec<SqlParam>, hold: bool) -> Result<Self> {
        let no_rows = || StorageError::new(ErrorKind::Invalid, "42P11", "a cursor's query must return rows");
        // Checked before it runs: a statement without rows (an UPDATE) must change nothing.
        if session.describe(query.clone(), None).await?.columns.is_none() {
            return Err(no_rows());
        }
        let mut running = session.run(query, params, Encoding::Batches);
        let columns = loop {
            match running.next().await {
                Some(Event::Columns(columns)) => break columns,
                Some(_) => {}
                None => {
                    running.finish().await?;
                    return Err(no_rows());
                }
            }
        };
        let types = columns.iter().map(|c| c.ty.clone()).collect();
        Ok(Self { columns, types, hold, running: Some(running), pending: VecDeque::new(), pending_rows: 0 })
    }

    /// Up to `count` more rows (all of them for `None`), column `i` binary when `binary(i)`,
    /// within `timeout`; the query's error if it fails.
    pub async fn fetch(
        &mut self,
        count: Option<u64>,
        binary: &(dyn Fn(usize) -> bool + Sync),
        timeout: Option<std::time::Duration>,
    ) -> Result<Vec<DataRow>> {
        if let Some(running) = self.running.as_mut() {
            running.restart_deadline(timeout);
        }
        let wanted = count.map_or(usize::MAX, |n| n as usize);
        while self.pending_rows < wanted {
            let Some(running) = self.running.as_mut() else { break };
            match running.next().await {
                Some(Event::Batch(batch)) => {
                    self.pending_rows += batch.num_rows();
                    self.pending.push_back(batch);
                }
                Some(_) => {}
                None => self.running.take().expect("checked above").finish().await.map(drop)?,
            }
        }
        let mut left = wanted.min(self.pending_rows);
        self.pending_rows -= left;
        let mut rows = Vec::with_capacity(left);
        while left > 0 {
            let batch = self.pending.pop_front().expect("pending_rows counts these rows");
            let n = batch.num_rows().min(left);
            if n < batch.num_rows() {
                self.pending.push_front(batch.slice(n, batch.num_rows() - n));
            }
            data_rows(&batch.slice(0, n), &self.types, binary, &mut rows);
            left -= n;
        }
        Ok(rows)
    }
}
