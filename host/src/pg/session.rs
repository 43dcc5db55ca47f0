//! One client connection's state, and running its statements on the engine.
//!
//! The engine session is synchronous; each statement runs on tokio's blocking pool and
//! streams its rows back with a few batches of credit, so a slow client slows DuckDB
//! down instead of filling memory, and a client that went away stops the statement.
//!
//! A result the client pages through (a suspended portal) holds the engine until it is
//! read. When the connection needs the engine for anything else meanwhile (pgjdbc reads
//! a fetch-size result while running other statements), the suspended statement is
//! *detached*: its credit becomes unlimited, it runs to the end into memory and frees
//! the engine, and the portal goes on reading from memory.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use pgwire::messages::data::DataRow;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;

use duckstore_plugin_sdk::sql::{Described, Outcome, RowSink, SqlColumn, SqlParam, SqlSession, SqlType, StatementKind};
use duckstore_plugin_sdk::{ErrorKind, Result, StorageError};

use crate::pg::commands::CopyOptions;
use crate::pg::datetime::Zone;
use crate::pg::encode::{copy_field, data_rows};

/// Batches in flight between DuckDB and the socket (each up to one DuckDB chunk).
const IN_FLIGHT: usize = 4;

type Interrupt = Arc<dyn Fn() + Send + Sync>;

/// Running statements that a CancelRequest (pid and secret key) may interrupt.
#[derive(Default)]
pub struct CancelRegistry(parking_lot::Mutex<HashMap<(i32, Vec<u8>), Interrupt>>);

impl CancelRegistry {
    pub fn register(self: &Arc<Self>, pid: i32, key: Vec<u8>, interrupt: Interrupt) -> CancelGuard {
        self.0.lock().insert((pid, key.clone()), interrupt);
        CancelGuard { registry: self.clone(), id: (pid, key) }
    }

    pub fn cancel(&self, pid: i32, key: &[u8]) {
        let found = self.0.lock().get(&(pid, key.to_vec())).cloned();
        if let Some(interrupt) = found {
            interrupt();
        }
    }
}

/// Removes a connection from the cancel registry when it ends.
pub struct CancelGuard {
    registry: Arc<CancelRegistry>,
    id: (i32, Vec<u8>),
}

impl Drop for CancelGuard {
    fn drop(&mut self) {
        self.registry.0.lock().remove(&self.id);
    }
}

/// What a running statement sends back.
pub enum Event {
    Columns(Vec<SqlColumn>),
    Rows(Vec<DataRow>),
    /// COPY TO STDOUT's header line.
    CopyHeader(Bytes),
    /// Rows as DuckDB gave them, encoded by the connection's task (so that the engine's
    /// thread reads the next chunk meanwhile) in the form asked for later: COPY lines, or a
    /// cursor's rows in the formats of each FETCH.
    Batch(arrow_array::RecordBatch),
}

/// How rows are encoded on the way out.
#[derive(Clone)]
pub enum Encoding {
    /// DataRows, column `i` binary when `binary[i]` (missing = text).
    Rows(Arc<Vec<bool>>),
    /// Batches, after a COPY header line.
    Copy(CopyOptions),
    /// Batches.
    Batches,
}

struct ChannelSink {
    tx: mpsc::UnboundedSender<Event>,
    /// One permit per batch the reader is ready for; closed once the statement is
    /// detached or its reader is gone.
    credit: Arc<Semaphore>,
    runtime: tokio::runtime::Handle,
    encoding: Encoding,
    types: Vec<duckstore_plugin_sdk::sql::SqlType>,
    /// The session's time zone when the statement started.
    zone: Option<Zone>,
    /// What the statement holds once detached, and how much its session's may together.
    held: Arc<Held>,
    held_limit: u64,
}

/// The bytes of one statement's rows sent without a reader (it was detached), counted
/// against its session's total until the statement's rows are dropped: the budget holds
/// for all of a session's detached statements and cursors together.
struct Held {
    session: Arc<AtomicU64>,
    own: AtomicU64,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.session.fetch_sub(*self.own.get_mut(), Ordering::Relaxed);
    }
}

impl ChannelSink {
    /// Sends `event` (`bytes` of data) once there is credit for it; `false` when the reader
    /// is gone. A detached statement sends without credit until it holds too much.
    fn send(&mut self, event: Event, bytes: u64) -> Result<bool> {
        match self.runtime.block_on(self.credit.acquire()) {
            Ok(permit) => permit.forget(),
            Err(_) if self.tx.is_closed() => return Ok(false),
            Err(_) => {
                self.held.own.fetch_add(bytes, Ordering::Relaxed);
                if self.held.session.fetch_add(bytes, Ordering::Relaxed) + bytes > self.held_limit {
                    return Err(StorageError::new(
                        ErrorKind::TooLarge,
                        "54000",
                        format!(
                            "the unread rest of this session's results and cursors needs more than {} of memory \
                             while it runs other statements (pg_held_result_limit): read them to the end (or close \
                             them) first, or run the other statements on a second connection",
                            bytesize::ByteSize::b(self.held_limit)
                        ),
                    ));
                }
            }
        }
        Ok(self.tx.send(event).is_ok())
    }
}

impl RowSink for ChannelSink {
    fn columns(&mut self, columns: &[SqlColumn]) -> Result<()> {
        self.types = columns.iter().map(|c| c.ty.clone()).collect();
        // The columns first: they start the COPY, and the header is its first data.
        self.send(Event::Columns(columns.to_vec()), 0)?;
        if let Encoding::Copy(o) = &self.encoding
            && o.header
        {
            let mut line = bytes::BytesMut::new();
            for (i, c) in columns.iter().enumerate() {
                if i > 0 {
                    line.extend_from_slice(o.delimiter.to_string().as_bytes());
                }
                copy_field(&mut line, Some(&c.name), o);
            }
            line.extend_from_slice(b"\n");
            self.send(Event::CopyHeader(line.freeze()), 0)?;
        }
        Ok(())
    }

    fn rows(&mut self, batch: arrow_array::RecordBatch) -> Result<bool> {
        let bytes = batch.get_array_memory_size() as u64;
        let event = match &self.encoding {
            Encoding::Rows(binary) => {
                let mut rows = Vec::with_capacity(batch.num_rows());
                data_rows(&batch, &self.types, &|i| binary.get(i).copied().unwrap_or(false), self.zone, &mut rows);
                Event::Rows(rows)
            }
            Encoding::Copy(_) | Encoding::Batches => Event::Batch(batch),
        };
        // A closed channel means the client went away: stop the statement.
        self.send(event, bytes)
    }
}

/// A statement running on the engine.
pub struct Running {
    events: mpsc::UnboundedReceiver<Event>,
    credit: Arc<Semaphore>,
    done: JoinHandle<Result<(StatementKind, Outcome)>>,
    interrupt: Interrupt,
    deadline: Option<tokio::time::Instant>,
    timed_out: bool,
    /// Counts the unread rows against the session's budget while they exist.
    _held: Arc<Held>,
}

impl Running {
    /// The next event; `None` once the statement produced everything. Past the statement
    /// timeout the statement is interrupted.
    pub async fn next(&mut self) -> Option<Event> {
        let event = self.receive().await;
        self.credit.add_permits(1);
        event
    }

    async fn receive(&mut self) -> Option<Event> {
        match self.deadline {
            Some(deadline) if !self.timed_out => match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(event) => event,
                Err(_) => {
                    self.timed_out = true;
                    (self.interrupt)();
                    self.events.recv().await
                }
            },
            _ => self.events.recv().await,
        }
    }

    /// Starts the time limit again (`None`: none): each FETCH of a cursor is a statement of
    /// its own, so a cursor read slowly is not cut off by the time it has been open.
    pub fn restart_deadline(&mut self, timeout: Option<Duration>) {
        self.deadline = timeout.map(|t| tokio::time::Instant::now() + t);
    }

    /// Waits for the statement to end (dropping unread rows).
    pub async fn finish(mut self) -> Result<(StatementKind, Outcome)> {
        self.events.close();
        self.credit.close();
        while self.events.recv().await.is_some() {}
        let done = (&mut self.done).await;
        let result = done.map_err(|e| StorageError::internal(format!("statement failed: {e}")))?;
        match result {
            Err(e) if self.timed_out && e.code == "57014" => {
                Err(StorageError::new(e.kind, "57014", "canceling statement due to statement timeout"))
            }
            other => other,
        }
    }
}

impl Drop for Running {
    /// An unread result (a portal closed early) must not keep the statement waiting.
    fn drop(&mut self) {
        self.credit.close();
    }
}

type Engine = Arc<std::sync::Mutex<Box<dyn SqlSession>>>;

/// Runs `f`, turning a panic into the statement's error: a bug met by one value (a date
/// past a library's range) fails that statement, not the session.
fn contained<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|panic| {
        let what =
            panic.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| panic.downcast_ref::<String>().cloned());
        Err(StorageError::internal(format!("internal error: {}", what.unwrap_or_default())))
    })
}

/// The engine session, for one blocking call at a time.
pub fn lock(engine: &Engine) -> Result<std::sync::MutexGuard<'_, Box<dyn SqlSession>>> {
    engine.lock().map_err(|_| StorageError::internal("a previous statement of this session panicked"))
}

/// What one session may use.
#[derive(Clone)]
pub struct SessionLimits {
    pub statement_timeout: Option<Duration>,
    /// Bytes (of Arrow data) the session's detached statements may hold in memory together.
    pub held_result_limit: u64,
}

/// One client connection to a workspace.
pub struct PgSession {
    engine: Engine,
    pub interrupt: Interrupt,
    limits: SessionLimits,
    /// Session settings the client SET (names lower-case).
    pub settings: parking_lot::Mutex<BTreeMap<String, String>>,
    /// A COPY FROM STDIN in progress.
    pub copy_in: tokio::sync::Mutex<Option<crate::pg::copy::CopyInFlight>>,
    pub cancel: parking_lot::Mutex<Option<CancelGuard>>,
    /// The credit of the last statement started, to detach it if it is still running.
    last: parking_lot::Mutex<Option<Arc<Semaphore>>>,
    /// Statements (and COPYs) that succeeded, counted on the engine's thread.
    succeeded: Arc<AtomicU64>,
    /// Bytes the session's detached statements hold (see [`Held`]).
    held: Arc<AtomicU64>,
    /// Open savepoints, oldest first, each with `succeeded` as it was when set.
    savepoints: parking_lot::Mutex<Vec<(String, u64)>>,
    /// A ROLLBACK TO SAVEPOINT of the extended protocol ended the failed state.
    recovered: std::sync::atomic::AtomicBool,
    /// The session's own `statement_timeout` (SET), within the server's.
    statement_timeout: parking_lot::Mutex<Option<Duration>>,
    /// Open SQL cursors by name.
    pub cursors: tokio::sync::Mutex<HashMap<String, crate::pg::cursors::Cursor>>,
    /// The time zone timestamps with a time zone are shown in (SET TimeZone); `None` is UTC.
    pub zone: parking_lot::Mutex<Option<Zone>>,
    /// What the open transaction's SETs and RESETs changed, oldest first.
    pub setting_undo: parking_lot::Mutex<Vec<SettingUndo>>,
    /// Settings the client must be told of (ParameterStatus) that changed when a
    /// transaction ended, sent before its command tag.
    pub pending_status: parking_lot::Mutex<Vec<(String, String)>>,
}

/// A setting's value before a SET or RESET in a transaction: PostgreSQL restores it when the
/// transaction rolls back, and when it commits if the SET was LOCAL.
pub struct SettingUndo {
    pub name: String,
    /// `None`: the setting had its default.
    pub previous: Option<String>,
    pub local: bool,
}

impl PgSession {
    pub fn new(engine: Box<dyn SqlSession>, limits: SessionLimits) -> Self {
        let interrupt = engine.interrupter();
        Self {
            engine: Arc::new(std::sync::Mutex::new(engine)),
            interrupt,
            limits,
            settings: parking_lot::Mutex::default(),
            copy_in: tokio::sync::Mutex::new(None),
            cancel: parking_lot::Mutex::new(None),
            last: parking_lot::Mutex::new(None),
            succeeded: Arc::default(),
            held: Arc::default(),
            savepoints: parking_lot::Mutex::default(),
            recovered: Default::default(),
            cursors: Default::default(),
            zone: Default::default(),
            setting_undo: Default::default(),
            pending_status: Default::default(),
            statement_timeout: Default::default(),
        }
    }

    /// Lets a statement still holding the engine (a suspended portal) run to the end into
    /// memory, so that the engine is free for the next call.
    fn detach_last(&self) {
        if let Some(credit) = self.last.lock().take() {
            credit.close();
        }
    }

    /// Runs `f` on the engine session on the blocking pool.
    pub async fn with_engine<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut dyn SqlSession) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        self.detach_last();
        let engine = self.engine.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = lock(&engine)?;
            contained(|| f(guard.as_mut()))
        })
        .await
        .map_err(|e| StorageError::internal(format!("statement failed: {e}")))?
    }

    /// Describes `sql`; with `values` (a bound portal) also results typed by the values.
    pub async fn describe(&self, sql: String, values: Option<Vec<SqlParam>>) -> Result<Described> {
        self.with_engine(move |s| s.describe(&sql, values.as_deref())).await
    }

    /// Prepares `sql` with the parameter types the client declared (see
    /// `SqlSession::declare_parameters`); returns the text to run and its description.
    pub async fn prepare(&self, sql: String, declared: Vec<Option<SqlType>>) -> Result<(String, Described)> {
        self.with_engine(move |s| {
            // Without a `$` the statement has no parameters: one prepare is enough.
            let sql = if sql.contains('$') { s.declare_parameters(&sql, &declared)? } else { sql };
            let described = s.describe(&sql, None)?;
            Ok((sql, described))
        })
        .await
    }

    /// Applies `SET search_path`'s value (names separated by ", ", quotes removed).
    pub async fn set_search_path(&self, value: &str) -> Result<()> {
        let schemas: Vec<String> = value.split(", ").map(str::to_owned).collect();
        self.with_engine(move |s| s.set_search_path(&schemas)).await
    }

    pub async fn in_transaction(&self) -> Result<bool> {
        self.with_engine(|s| Ok(s.in_transaction())).await
    }

    /// Starts `sql`; its rows arrive as events.
    pub fn run(&self, sql: String, params: Vec<SqlParam>, encoding: Encoding) -> Running {
        self.detach_last();
        let (tx, events) = mpsc::unbounded_channel();
        let credit = Arc::new(Semaphore::new(IN_FLIGHT));
        *self.last.lock() = Some(credit.clone());
        let engine = self.engine.clone();
        let sink_credit = credit.clone();
        let runtime = tokio::runtime::Handle::current();
        let held_limit = self.limits.held_result_limit;
        let held = Arc::new(Held { session: self.held.clone(), own: AtomicU64::new(0) });
        let sink_held = held.clone();
        let succeeded = self.succeeded.clone();
        let zone = *self.zone.lock();
        let done = tokio::task::spawn_blocking(move || {
            let mut guard = lock(&engine)?;
            let mut sink = ChannelSink {
                tx,
                credit: sink_credit,
                runtime,
                encoding,
                types: Vec::new(),
                zone,
                held: sink_held,
                held_limit,
            };
            let result = contained(|| guard.execute(&sql, &params, &mut sink));
            count_success(&succeeded, &result);
            result
        });
        Running {
            events,
            credit,
            done,
            interrupt: self.interrupt.clone(),
            deadline: self.statement_timeout().map(|t| tokio::time::Instant::now() + t),
            timed_out: false,
            _held: held,
        }
    }

    /// Runs a statement without rows (BEGIN, COMMIT, …).
    pub async fn execute(&self, sql: &str) -> Result<(StatementKind, Outcome)> {
        self.run(sql.to_owned(), Vec::new(), Encoding::Rows(Arc::default())).finish().await
    }

    /// Sets the session's statement timeout (`None` or zero: none of its own). The server's
    /// (`pg_statement_timeout_secs`) still bounds it: an operator's cap, not a default.
    pub fn set_statement_timeout(&self, timeout: Option<Duration>) {
        *self.statement_timeout.lock() = timeout.filter(|t| !t.is_zero());
    }

    /// The most memory a held result (or a SCROLL cursor's rows) may take.
    pub fn held_result_limit(&self) -> u64 {
        self.limits.held_result_limit
    }

    pub fn statement_timeout(&self) -> Option<Duration> {
        match (*self.statement_timeout.lock(), self.limits.statement_timeout) {
            (Some(own), Some(server)) => Some(own.min(server)),
            (own, server) => own.or(server),
        }
    }

    pub fn engine(&self) -> Engine {
        self.engine.clone()
    }

    /// The counter of succeeded statements, for a COPY FROM STDIN to add itself to.
    pub fn succeeded(&self) -> Arc<AtomicU64> {
        self.succeeded.clone()
    }

    // ---- savepoints ------------------------------------------------------------------------
    // DuckDB keeps no savepoints. A savepoint is kept by name with the count of statements
    // that had succeeded, and ROLLBACK TO it is honoured when nothing succeeded since: it
    // then only has failed statements to undo, and those changed nothing. That is the case
    // of psql's ON_ERROR_ROLLBACK and pgjdbc's autosave, which set a savepoint before each
    // statement. Anything else is refused rather than half undone.

    pub fn savepoint(&self, name: String) {
        let at = self.succeeded.load(Ordering::SeqCst);
        self.savepoints.lock().push((name, at));
    }

    /// Index of the newest savepoint called `name`.
    fn find_savepoint(savepoints: &[(String, u64)], name: &str) -> Result<usize> {
        savepoints.iter().rposition(|(n, _)| n == name).ok_or_else(|| {
            StorageError::new(ErrorKind::NotFound, "3B001", format!("savepoint \"{name}\" does not exist"))
        })
    }

    /// Forgets `name` and every savepoint set after it.
    pub fn release(&self, name: &str) -> Result<()> {
        let mut savepoints = self.savepoints.lock();
        let i = Self::find_savepoint(&savepoints, name)?;
        savepoints.truncate(i);
        Ok(())
    }

    /// Returns the transaction to savepoint `name` (kept), if only failed statements ran since.
    pub async fn rollback_to(&self, name: &str) -> Result<()> {
        let at = {
            let savepoints = self.savepoints.lock();
            savepoints[Self::find_savepoint(&savepoints, name)?].1
        };
        // Waits for the engine, so every statement before this one has been counted; and
        // fails if the error aborted DuckDB's whole transaction (constraint violations do).
        let usable = self.with_engine(|s| s.execute("SELECT 1", &[], &mut Discard)).await.is_ok();
        if self.succeeded.load(Ordering::SeqCst) != at {
            return Err(StorageError::new(
                ErrorKind::Unsupported,
                "0A000",
                format!(
                    "ROLLBACK TO SAVEPOINT can only undo failed statements, and statements succeeded after savepoint \
                     \"{name}\" (DuckDB keeps no savepoints); roll back the whole transaction"
                ),
            ));
        }
        if !usable {
            return Err(StorageError::new(
                ErrorKind::Conflict,
                "25P02",
                "the failed statement aborted the whole transaction (DuckDB keeps no savepoints); roll it back",
            ));
        }
        let mut savepoints = self.savepoints.lock();
        let i = Self::find_savepoint(&savepoints, name)?;
        savepoints.truncate(i + 1);
        Ok(())
    }

    pub fn mark_recovered(&self) {
        self.recovered.store(true, Ordering::SeqCst);
    }

    pub fn take_recovered(&self) -> bool {
        self.recovered.swap(false, Ordering::SeqCst)
    }

    /// Savepoints end with their transaction.
    pub fn clear_savepoints(&self) {
        self.savepoints.lock().clear();
    }
}

/// A sink for a statement run only to see whether it can run.
struct Discard;

impl RowSink for Discard {
    fn columns(&mut self, _: &[SqlColumn]) -> Result<()> {
        Ok(())
    }

    fn rows(&mut self, _: arrow_array::RecordBatch) -> Result<bool> {
        Ok(true)
    }
}

/// Counts a statement that succeeded (see the savepoints of [`PgSession`]).
pub fn count_success<T>(succeeded: &AtomicU64, result: &Result<T>) {
    if result.is_ok() {
        succeeded.fetch_add(1, Ordering::SeqCst);
    }
}

impl PgSession {
    /// Sets the session's time zone (`SET TimeZone`): where timestamps with a time zone are
    /// shown, and read when written without an offset.
    pub async fn set_time_zone(&self, value: &str) -> std::result::Result<(), StorageError> {
        let zone = Zone::parse(value).map_err(|()| {
            StorageError::new(
                duckstore_plugin_sdk::ErrorKind::Invalid,
                "22023",
                format!("invalid value for parameter \"TimeZone\": \"{value}\""),
            )
        })?;
        self.with_engine(move |s| s.set_time_zone(zone.map(Zone::name))).await?;
        *self.zone.lock() = zone;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_in_a_statement_is_its_error() {
        let failed = contained::<()>(|| panic!("NaiveDate + TimeDelta overflowed"));
        let e = failed.unwrap_err();
        assert_eq!(
            (e.kind, e.message.as_str()),
            (ErrorKind::Internal, "internal error: NaiveDate + TimeDelta overflowed")
        );
        assert_eq!(contained(|| Ok(7)).unwrap(), 7);
    }
}
