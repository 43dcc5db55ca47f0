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

use crate::pg::commands::Direction;
use crate::pg::encode::data_rows;
use crate::pg::session::{Encoding, Event, PgSession, Running};

pub struct Cursor {
    pub columns: Vec<SqlColumn>,
    types: Vec<SqlType>,
    /// The session's time zone when the cursor was opened.
    zone: Option<crate::pg::datetime::Zone>,
    /// Kept past the end of its transaction (`WITH HOLD`).
    pub hold: bool,
    /// May move backward (`SCROLL`): keeps every row it read.
    scroll: bool,
    /// The running query; `None` once it ended.
    running: Option<Running>,
    /// Rows received, the first of them being row `first` (1-based). A cursor that only moves
    /// forward drops the rows it passed.
    kept: VecDeque<RecordBatch>,
    first: usize,
    /// Rows received in all.
    received: usize,
    /// 0 before the first row, `k` on row `k`, `received + 1` after the last.
    position: usize,
    /// Memory the kept rows take, and the most they may (`pg_held_result_limit`).
    kept_bytes: usize,
    kept_limit: usize,
}

pub fn not_found(name: &str) -> StorageError {
    StorageError::new(ErrorKind::NotFound, "34000", format!("cursor \"{name}\" does not exist"))
}

fn forward_only() -> StorageError {
    StorageError::new(
        ErrorKind::Invalid,
        "55000",
        "cursor can only scan forward: declare it with SCROLL to move backward",
    )
}

impl Cursor {
    /// Starts `query` and waits for its columns.
    pub async fn open(
        session: &PgSession,
        query: String,
        params: Vec<SqlParam>,
        hold: bool,
        scroll: bool,
    ) -> Result<Self> {
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
        Ok(Self {
            zone: *session.zone.lock(),
            columns,
            types,
            hold,
            scroll,
            running: Some(running),
            kept: VecDeque::new(),
            first: 1,
            received: 0,
            position: 0,
            kept_bytes: 0,
            kept_limit: session.held_result_limit() as usize,
        })
    }

    /// Receives rows until row `upto` is here (all of them for `None`).
    async fn receive(&mut self, upto: Option<usize>) -> Result<()> {
        while upto.is_none_or(|n| self.received < n) {
            let Some(running) = self.running.as_mut() else { break };
            match running.next().await {
                Some(Event::Batch(batch)) => {
                    self.received += batch.num_rows();
                    self.kept_bytes += batch.get_array_memory_size();
                    self.kept.push_back(batch);
                    // A SCROLL cursor keeps what it read; any cursor keeps what one FETCH
                    // returns (FETCH ALL: everything), encoded at once.
                    if self.kept_bytes > self.kept_limit {
                        let advice = if self.scroll {
                            "a SCROLL cursor keeps the rows it read: read it forward only, without SCROLL"
                        } else {
                            "FETCH fewer rows at a time"
                        };
                        return Err(StorageError::new(
                            ErrorKind::TooLarge,
                            "54000",
                            format!(
                                "the cursor's rows in memory are over {} bytes (pg_held_result_limit): {advice}",
                                self.kept_limit
                            ),
                        ));
                    }
                }
                Some(_) => {}
                None => self.running.take().expect("checked above").finish().await.map(drop)?,
            }
        }
        Ok(())
    }

    /// Rows `from..=to` (1-based, kept), encoded; nearest first when `backward`.
    fn rows(&self, from: usize, to: usize, backward: bool, binary: &(dyn Fn(usize) -> bool + Sync)) -> Vec<DataRow> {
        let mut rows = Vec::with_capacity((to + 1).saturating_sub(from));
        let mut start = self.first;
        for batch in &self.kept {
            let end = start + batch.num_rows(); // one past this batch's last row
            let (a, b) = (from.max(start), (to + 1).min(end));
            if a < b {
                data_rows(&batch.slice(a - start, b - a), &self.types, binary, self.zone, &mut rows);
            }
            start = end;
        }
        if backward {
            rows.reverse();
        }
        rows
    }

    /// Moves as `direction` says and returns the rows passed on the way (FETCH; MOVE counts
    /// them), column `i` binary when `binary(i)`, waiting for rows at most `timeout`.
    pub async fn fetch(
        &mut self,
        direction: Direction,
        binary: &(dyn Fn(usize) -> bool + Sync),
        timeout: Option<std::time::Duration>,
    ) -> Result<Vec<DataRow>> {
        if let Some(running) = self.running.as_mut() {
            running.restart_deadline(timeout);
        }
        let at = self.position;
        let rows = match direction {
            Direction::Forward(n) => {
                let target = n.map(|n| at.saturating_add(n as usize));
                self.receive(target).await?;
                let last = target.map_or(self.received, |t| t.min(self.received));
                self.position = if target.is_some_and(|t| t <= self.received) { last } else { self.received + 1 };
                self.rows(at + 1, last, false, binary)
            }
            Direction::Backward(Some(0)) => Vec::new(),
            Direction::Backward(n) => {
                if !self.scroll {
                    return Err(forward_only());
                }
                let from = n.map_or(1, |n| at.saturating_sub(n as usize).max(1));
                self.position = n.map_or(0, |n| at.saturating_sub(n as usize));
                self.rows(from, at.saturating_sub(1), true, binary)
            }
            Direction::Absolute(k) | Direction::Relative(k) => {
                let target = match direction {
                    Direction::Absolute(k) if k < 0 => {
                        self.receive(None).await?;
                        self.received as i64 + 1 + k
                    }
                    Direction::Absolute(_) => k,
                    _ => at as i64 + k,
                };
                if !self.scroll && (target < at as i64 || (target == at as i64 && at > 0)) {
                    return Err(forward_only());
                }
                let target = target.max(0) as usize;
                self.receive(Some(target)).await?;
                self.position = target.min(self.received + 1);
                if (1..=self.received).contains(&target) {
                    self.rows(target, target, false, binary)
                } else {
                    Vec::new()
                }
            }
        };
        if !self.scroll {
            // Rows behind the cursor can never be read again.
            while let Some(batch) = self.kept.front()
                && self.first + batch.num_rows() <= self.position
            {
                self.first += batch.num_rows();
                self.kept_bytes -= batch.get_array_memory_size();
                self.kept.pop_front();
            }
        }
        Ok(rows)
    }
}
