//! Query handling: the simple and extended protocols, session commands, COPY and cancel.
//! Both protocols run every statement through one executor, [`Handler::execute`], which
//! answers a [`Reply`]; they differ only in how they write it (messages, or pgwire's
//! `Response` for a portal).

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::{Sink, SinkExt, stream};
use pgwire::api::cancel::CancelHandler;
use pgwire::api::copy::CopyHandler;
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler, send_describe_response, send_ready_for_query};
use pgwire::api::results::{
    CopyResponse, DescribePortalResponse, DescribeStatementResponse, FieldFormat, FieldInfo, QueryResponse, Response,
    Tag,
};
use pgwire::api::stmt::QueryParser;
use pgwire::api::store::{Entry, PortalStore};
use pgwire::api::{ClientInfo, ClientPortalStore, DEFAULT_NAME, PgWireConnectionState, Type};
use pgwire::error::ErrorInfo;
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::cancel::CancelRequest;
use pgwire::messages::copy::{CopyData, CopyDone, CopyFail, CopyInResponse, CopyOutResponse};
use pgwire::messages::data::{DataRow, NoData, ParameterDescription, RowDescription};
use pgwire::messages::extendedquery::{Describe, Execute, TARGET_TYPE_BYTE_STATEMENT};
use pgwire::messages::response::{EmptyQueryResponse, NoticeResponse, TransactionStatus};
use pgwire::messages::simplequery::Query;
use pgwire::messages::startup::ParameterStatus;

use duckstore_plugin_sdk::sql::{Outcome, SqlColumn, SqlParam, SqlType, StatementKind, skip_blanks};
use duckstore_plugin_sdk::{ErrorKind, Result, StorageError};

use crate::pg::commands::{Command, CopyOut, DUCKDB_SETTINGS, Direction, classify, milliseconds, split};
use crate::pg::copy::CopyInFlight;
use crate::pg::copy_binary;
use crate::pg::cursors::{Cursor, not_found as cursor_not_found};
use crate::pg::encode::{binary_param, copy_lines, declared_type, format_of, pg_type, text_array_param, type_modifier};
use crate::pg::error::{error, fatal, from_storage};
use crate::pg::session::{CancelRegistry, Encoding, Event, PgSession, Running, SettingUndo};

/// Server settings SHOW reports unless the session SET them.
const SETTINGS: &[(&str, &str)] = &[
    ("server_version", crate::pg::SERVER_VERSION),
    ("server_version_num", "150006"),
    ("server_encoding", "UTF8"),
    ("client_encoding", "UTF8"),
    ("datestyle", "ISO, MDY"),
    ("intervalstyle", "postgres"),
    ("timezone", "UTC"),
    ("integer_datetimes", "on"),
    ("standard_conforming_strings", "on"),
    ("transaction_isolation", "read committed"),
    ("default_transaction_isolation", "read committed"),
    ("transaction_read_only", "off"),
    ("default_transaction_read_only", "off"),
    ("search_path", "\"$user\", public"),
    ("is_superuser", "off"),
    ("max_identifier_length", "63"),
    ("application_name", ""),
    ("lc_collate", "C.UTF-8"),
    ("lc_ctype", "C.UTF-8"),
    ("statement_timeout", "0"),
];

/// Settings clients are told about when they change (PostgreSQL's GUC_REPORT ones).
const REPORTED: &[&str] = &["application_name", "client_encoding", "datestyle", "intervalstyle", "timezone"];

/// A setting's name as PostgreSQL spells it in ParameterStatus and SHOW's column (clients
/// look them up case-sensitively: psycopg's `parameter_status('TimeZone')`).
fn canonical_name(name: &str) -> String {
    match name {
        "timezone" => "TimeZone".to_owned(),
        "datestyle" => "DateStyle".to_owned(),
        "intervalstyle" => "IntervalStyle".to_owned(),
        other => other.to_owned(),
    }
}

/// A prepared statement: the SQL and what describing it found.
#[derive(Debug)]
pub struct Stmt {
    sql: String,
    params: Vec<SqlType>,
    columns: Option<Vec<SqlColumn>>,
}

pub struct Handler {
    pub cancels: Arc<CancelRegistry>,
    parser: Arc<Parser>,
    metrics: crate::metrics::PgMetrics,
}

impl Handler {
    pub fn new(cancels: Arc<CancelRegistry>, metrics: crate::metrics::PgMetrics) -> Self {
        Self { cancels, parser: Arc::new(Parser), metrics }
    }

    /// Counts a statement's outcome by SQLSTATE class. (A result paged through by the
    /// client counts when its first page is answered.)
    fn count<T>(&self, done: &PgWireResult<T>) {
        match done {
            Ok(_) => self.metrics.statement("00000"),
            Err(PgWireError::UserError(info)) => self.metrics.statement(&info.code),
            Err(_) => self.metrics.statement("08000"),
        }
    }

    /// Runs a bound portal (the extended protocol's Execute).
    async fn query_portal<C>(
        &self,
        client: &mut C,
        portal: &Portal<Arc<Stmt>>,
        max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Arc<Stmt>>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let session = session(client)?;
        let stmt = &portal.statement.statement;
        let codes = format_codes(&portal.result_column_format);
        let binary: Vec<bool> = (0..stmt.columns.as_ref().map_or(0, Vec::len))
            .map(|i| format_of(&codes, i) == FieldFormat::Binary)
            .collect();
        let status = client.transaction_status();
        let statement = (stmt.sql.as_str(), classify(&stmt.sql));
        let reply = self.execute(
            client,
            &session,
            statement,
            status,
            parameters(portal)?,
            &codes,
            Encoding::Rows(Arc::new(binary)),
        );
        let mut running = match reply.await? {
            Reply::Done(tag, Transition::Same) => return Ok(Response::Execution(tag)),
            Reply::Done(tag, Transition::Began) => return Ok(Response::TransactionStart(tag)),
            Reply::Done(tag, Transition::Ended) => return Ok(Response::TransactionEnd(tag)),
            Reply::Done(tag, Transition::Recovered) => {
                session.mark_recovered();
                return Ok(Response::Execution(tag));
            }
            Reply::Row(_, value, tag) => {
                // Sent here: pgwire's query response would count the row into the tag
                // (`SHOW 1`), where PostgreSQL's is `SHOW`.
                client.feed(PgWireBackendMessage::DataRow(text_row(&value))).await?;
                return Ok(Response::Execution(tag));
            }
            Reply::Fetched(_, Some(rows), _) => {
                let fields = Arc::new(self.parser.get_result_schema(stmt, Some(&portal.result_column_format))?);
                let mut response = QueryResponse::new(fields, stream::iter(rows.into_iter().map(Ok)));
                response.set_command_tag("FETCH");
                return Ok(Response::Query(response));
            }
            Reply::Fetched(_, None, tag) => return Ok(Response::Execution(tag)),
            Reply::CopyIn(binary, n) => {
                return Ok(Response::CopyIn(CopyResponse::new(i8::from(binary), n, stream::empty())));
            }
            Reply::Running(running) => running,
        };
        if max_rows > 0 && stmt.columns.is_some() {
            // The client pages through the result: pgwire keeps the stream in the portal,
            // which ends with the statement's error if it fails on the way. The time limit
            // counts while rows are awaited, from each page on (the client may pause between
            // Executes, as between FETCHes of a cursor).
            let fields = Arc::new(self.parser.get_result_schema(stmt, Some(&portal.result_column_format))?);
            let timeout = session.statement_timeout();
            let rows = stream::unfold(Some(running), move |running| async move {
                let mut r = running?;
                r.restart_deadline(timeout);
                loop {
                    match r.next().await {
                        Some(Event::Rows(rows)) => return Some((rows.into_iter().map(Ok).collect(), Some(r))),
                        Some(_) => continue,
                        None => return r.finish().await.err().map(|e| (vec![Err(storage(e))], None)),
                    }
                }
            });
            let rows = futures_util::StreamExt::flat_map(rows, stream::iter::<Vec<PgWireResult<DataRow>>>);
            return Ok(Response::Query(QueryResponse::new(fields, rows)));
        }
        let mut returned = 0usize;
        while let Some(event) = running.next().await {
            if let Event::Rows(rows) = event {
                returned += rows.len();
                for row in rows {
                    client.feed(PgWireBackendMessage::DataRow(row)).await?;
                }
            }
        }
        let (kind, outcome) = running.finish().await.map_err(storage)?;
        Ok(match kind {
            StatementKind::Begin => Response::TransactionStart(tag(&kind, outcome)),
            StatementKind::Commit | StatementKind::Rollback => Response::TransactionEnd(tag(&kind, outcome)),
            _ if stmt.columns.is_some() => Response::Execution(tag(&kind, Outcome::Rows(returned as u64))),
            _ => Response::Execution(tag(&kind, outcome)),
        })
    }
}

pub fn session<C: ClientInfo + ?Sized>(client: &C) -> PgWireResult<Arc<PgSession>> {
    client.session_extensions().get::<PgSession>().ok_or_else(|| fatal("08P01", "not authenticated"))
}

fn fields(columns: &[SqlColumn], formats: &[i16]) -> Vec<FieldInfo> {
    columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            FieldInfo::new(c.name.clone(), None, None, pg_type(&c.ty), format_of(formats, i))
                .with_type_modifier(type_modifier(&c.ty))
        })
        .collect()
}

fn format_codes(format: &Format) -> Vec<i16> {
    match format {
        Format::UnifiedText => vec![],
        Format::UnifiedBinary => vec![1],
        Format::Individual(codes) => codes.clone(),
    }
}

fn tag(kind: &StatementKind, outcome: Outcome) -> Tag {
    let rows = match outcome {
        Outcome::Rows(n) | Outcome::Changed(n) => n as usize,
        Outcome::Done => 0,
    };
    match kind {
        StatementKind::Insert => Tag::new("INSERT").with_oid(0).with_rows(rows),
        StatementKind::Update => Tag::new("UPDATE").with_rows(rows),
        StatementKind::Delete => Tag::new("DELETE").with_rows(rows),
        StatementKind::Begin => Tag::new("BEGIN"),
        StatementKind::Commit => Tag::new("COMMIT"),
        StatementKind::Rollback => Tag::new("ROLLBACK"),
        StatementKind::Query => Tag::new("SELECT").with_rows(rows),
        // EXPLAIN's rows are its plan; PostgreSQL's tag counts none.
        StatementKind::Other(t) if t == "EXPLAIN" => Tag::new("EXPLAIN"),
        // Rows of SHOW-like statements, and CREATE TABLE … AS, whose tag is `SELECT n`.
        StatementKind::Other(t) if t == "SELECT" || matches!(outcome, Outcome::Rows(_)) => {
            Tag::new("SELECT").with_rows(rows)
        }
        StatementKind::Other(t) => Tag::new(t),
    }
}

fn storage(e: StorageError) -> PgWireError {
    from_storage(&e)
}

/// What one statement answers, before either protocol writes it: the simple and extended
/// protocols run every statement through [`Handler::execute`] and differ only in how they
/// send this.
enum Reply {
    /// Done: its command tag and what it did to the transaction.
    Done(Tag, Transition),
    /// One row of one text column (SHOW, set_config()): column name, value, command tag.
    Row(String, String, Tag),
    /// Rows a FETCH read from a cursor (`None` for MOVE), with the cursor's columns.
    Fetched(Vec<SqlColumn>, Option<Vec<DataRow>>, Tag),
    /// COPY FROM STDIN waits for the client's data: binary or text, number of columns.
    CopyIn(bool, usize),
    /// A statement running on the engine; its rows are to be streamed.
    Running(Running),
}

/// What a statement did to the transaction block.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Transition {
    Same,
    Began,
    Ended,
    /// ROLLBACK TO SAVEPOINT left the failed state.
    Recovered,
}

impl Reply {
    fn tag(t: Tag) -> Self {
        Reply::Done(t, Transition::Same)
    }
}

/// A one-column row holding `value` as text (SHOW's answer).
fn text_row(value: &str) -> DataRow {
    let mut buf = bytes::BytesMut::with_capacity(4 + value.len());
    bytes::BufMut::put_i32(&mut buf, value.len() as i32);
    bytes::BufMut::put_slice(&mut buf, value.as_bytes());
    DataRow::new(buf, 1)
}

fn show_value(session: &PgSession, name: &str) -> PgWireResult<String> {
    if let Some(v) = session.settings.lock().get(name) {
        return Ok(v.clone());
    }
    SETTINGS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| (*v).to_owned())
        .ok_or_else(|| error("ERROR", "42704", &format!("unrecognized configuration parameter \"{name}\"")))
}

/// Gives setting `name` its `value` (`None`: its default) with whatever the setting does
/// beyond being shown; returns the (name, value) to report if clients are told of it.
async fn apply_setting(session: &PgSession, name: &str, value: Option<&str>) -> Result<Option<(String, String)>> {
    match name {
        "search_path" => session.set_search_path(value.unwrap_or("public")).await?,
        "timezone" => session.set_time_zone(value.unwrap_or("UTC")).await?,
        "statement_timeout" => {
            let ms = match value {
                None => None,
                Some(v) => Some(milliseconds(v).ok_or_else(|| {
                    StorageError::new(
                        ErrorKind::Invalid,
                        "22023",
                        format!("invalid value for parameter \"statement_timeout\": \"{v}\""),
                    )
                })?),
            };
            session.set_statement_timeout(ms.map(Duration::from_millis));
        }
        _ => {}
    }
    match value {
        Some(v) => session.settings.lock().insert(name.to_owned(), v.to_owned()),
        None => session.settings.lock().remove(name),
    };
    Ok(REPORTED.contains(&name).then(|| (canonical_name(name), show_value(session, name).unwrap_or_default())))
}

/// Sends the ParameterStatus messages a transaction's end left for the client.
async fn flush_status<C>(client: &mut C, session: &PgSession) -> PgWireResult<()>
where
    C: Sink<PgWireBackendMessage> + Unpin + Send,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    let pending = std::mem::take(&mut *session.pending_status.lock());
    for (name, value) in pending {
        client.feed(PgWireBackendMessage::ParameterStatus(ParameterStatus::new(name, value))).await?;
    }
    Ok(())
}

/// Whether a statement may run in a failed transaction: the ones that end the failure.
fn ends_failure(command: &Command) -> bool {
    matches!(command, Command::Commit | Command::Rollback | Command::RollbackTo(_))
}

/// Transaction status after a statement of `kind` succeeded.
fn status_after(kind: &StatementKind, before: TransactionStatus) -> TransactionStatus {
    match kind {
        StatementKind::Begin => TransactionStatus::Transaction,
        StatementKind::Commit | StatementKind::Rollback => TransactionStatus::Idle,
        _ => before,
    }
}

impl Handler {
    /// Answers session commands that need no engine (SET, SHOW, SAVEPOINT, …).
    async fn local<C>(&self, client: &mut C, session: &PgSession, command: &Command) -> PgWireResult<Option<Reply>>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        Ok(Some(match command {
            Command::Set { name, value, local } => {
                if DUCKDB_SETTINGS.binary_search(&name.as_str()).is_ok() {
                    return Err(error("ERROR", "42501", &format!("permission denied to set parameter \"{name}\"")));
                }
                let in_transaction = session.in_transaction().await.map_err(storage)?;
                if *local && !in_transaction {
                    // PostgreSQL warns and changes nothing: the transaction it was for is over.
                    warn(client, "25P01", "SET LOCAL can only be used in transaction blocks").await?;
                    return Ok(Some(Reply::tag(Tag::new("SET"))));
                }
                self.change_setting(client, session, name, Some(value), in_transaction.then_some(*local)).await?;
                Reply::tag(Tag::new("SET"))
            }
            Command::Show(name) => Reply::Row(canonical_name(name), show_value(session, name)?, Tag::new("SHOW")),
            Command::SetConfig { name, value, local, column } => {
                if DUCKDB_SETTINGS.binary_search(&name.as_str()).is_ok() {
                    return Err(error("ERROR", "42501", &format!("permission denied to set parameter \"{name}\"")));
                }
                let in_transaction = session.in_transaction().await.map_err(storage)?;
                // Local outside a transaction: PostgreSQL's transaction ends with the call.
                if !*local || in_transaction {
                    self.change_setting(client, session, name, Some(value), in_transaction.then_some(*local)).await?;
                }
                Reply::Row(column.clone(), value.clone(), Tag::new("SELECT").with_rows(1))
            }
            Command::Reset(name) => {
                let in_transaction = session.in_transaction().await.map_err(storage)?;
                let names: Vec<String> = match name {
                    Some(n) => vec![n.clone()],
                    None => {
                        let mut all: Vec<String> = session.settings.lock().keys().cloned().collect();
                        all.extend(["search_path", "statement_timeout", "timezone"].map(String::from));
                        all.sort();
                        all.dedup();
                        all
                    }
                };
                for name in names {
                    self.change_setting(client, session, &name, None, in_transaction.then_some(false)).await?;
                }
                Reply::tag(Tag::new("RESET"))
            }
            Command::NoOp(t) => Reply::tag(Tag::new(t)),
            Command::Savepoint(name) => {
                if !session.in_transaction().await.map_err(storage)? {
                    return Err(error("ERROR", "25P01", "SAVEPOINT can only be used in transaction blocks"));
                }
                session.savepoint(name.clone());
                Reply::tag(Tag::new("SAVEPOINT"))
            }
            Command::Release(name) => {
                session.release(name).map_err(storage)?;
                Reply::tag(Tag::new("RELEASE"))
            }
            Command::Unsupported(m) => return Err(error("ERROR", "0A000", m)),
            _ => return Ok(None),
        }))
    }

    /// Opens cursor `name` on `query`: only in a transaction, unless it is held past it.
    async fn declare(
        &self,
        session: &PgSession,
        (name, hold, scroll, query): (String, bool, bool, String),
        params: Vec<SqlParam>,
    ) -> PgWireResult<Tag> {
        if !hold && !session.in_transaction().await.map_err(storage)? {
            return Err(error("ERROR", "25P01", "DECLARE CURSOR can only be used in transaction blocks"));
        }
        if session.cursors.lock().await.contains_key(&name) {
            return Err(error("ERROR", "42P03", &format!("cursor \"{name}\" already exists")));
        }
        let cursor = Cursor::open(session, query, params, hold, scroll).await.map_err(storage)?;
        session.cursors.lock().await.insert(name, cursor);
        Ok(Tag::new("DECLARE CURSOR"))
    }

    /// The rows cursor `name` passes moving in `direction`, column `i` binary when `codes`
    /// say so, with the cursor's columns.
    async fn fetch(
        &self,
        session: &PgSession,
        name: &str,
        direction: Direction,
        codes: &[i16],
    ) -> Result<(Vec<SqlColumn>, Vec<DataRow>)> {
        let mut cursors = session.cursors.lock().await;
        let cursor = cursors.get_mut(name).ok_or_else(|| cursor_not_found(name))?;
        let binary = |i| format_of(codes, i) == FieldFormat::Binary;
        let rows = cursor.fetch(direction, &binary, session.statement_timeout()).await?;
        Ok((cursor.columns.clone(), rows))
    }

    async fn close(&self, session: &PgSession, name: Option<String>) -> Result<Tag> {
        let mut cursors = session.cursors.lock().await;
        match name {
            Some(name) => drop(cursors.remove(&name).ok_or_else(|| cursor_not_found(&name))?),
            None => cursors.clear(),
        }
        Ok(Tag::new("CLOSE CURSOR"))
    }

    /// Gives setting `name` its `value` (`None`: its default), with whatever the setting
    /// does beyond being shown, and tells the client if it reports that setting. In a
    /// transaction (`undo` is `Some(local)`), the old value is kept to restore at its end.
    async fn change_setting<C>(
        &self,
        client: &mut C,
        session: &PgSession,
        name: &str,
        value: Option<&str>,
        undo: Option<bool>,
    ) -> PgWireResult<()>
    where
        C: Sink<PgWireBackendMessage> + Unpin + Send,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let previous = session.settings.lock().get(name).cloned();
        if let Some(reported) = apply_setting(session, name, value).await.map_err(storage)? {
            client.feed(PgWireBackendMessage::ParameterStatus(ParameterStatus::new(reported.0, reported.1))).await?;
        }
        if let Some(local) = undo {
            session.setting_undo.lock().push(SettingUndo { name: name.to_owned(), previous, local });
        }
        Ok(())
    }

    /// Ends a transaction: COMMIT of a failed one rolls back, as in PostgreSQL. Settings
    /// changed in it go back as PostgreSQL's do; what the client must be told of waits in
    /// `pending_status` (see [`flush_status`]).
    async fn end_transaction(&self, session: &PgSession, commit: bool, status: TransactionStatus) -> Result<Tag> {
        session.clear_savepoints();
        // Cursors end with their transaction unless declared WITH HOLD.
        session.cursors.lock().await.retain(|_, c| c.hold);
        let commits = commit && status != TransactionStatus::Error;
        let undo = std::mem::take(&mut *session.setting_undo.lock());
        for change in undo.into_iter().rev().filter(|c| !commits || c.local) {
            if let Some(reported) = apply_setting(session, &change.name, change.previous.as_deref()).await? {
                session.pending_status.lock().push(reported);
            }
        }
        if !session.in_transaction().await? {
            return Ok(Tag::new(if commits { "COMMIT" } else { "ROLLBACK" }));
        }
        let (kind, outcome) = session.execute(if commits { "COMMIT" } else { "ROLLBACK" }).await?;
        Ok(tag(&kind, outcome))
    }

    /// Streams a COPY … TO STDOUT; returns how many rows it copied.
    async fn copy_out<C>(&self, client: &mut C, session: &PgSession, copy: &CopyOut) -> PgWireResult<usize>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let mut running = session.run(copy.query.clone(), Vec::new(), Encoding::Copy(copy.options.clone()));
        let mut rows = 0u64;
        let mut started = false;
        let binary = copy.options.binary;
        let mut types = Vec::new();
        // The binary header travels in one message with the first tuple (or the trailer), as
        // PostgreSQL sends it: ADBC's reader expects a tuple right after the header.
        let mut header = None;
        while let Some(event) = running.next().await {
            match event {
                Event::Columns(columns) if !started => {
                    started = true;
                    let n = columns.len() as i16;
                    let format = i8::from(binary);
                    let formats = vec![i16::from(binary); n as usize];
                    client
                        .feed(PgWireBackendMessage::CopyOutResponse(CopyOutResponse::new(format, n, formats)))
                        .await?;
                    if binary {
                        header = Some(copy_binary::header());
                    }
                    types = columns.into_iter().map(|c| c.ty).collect();
                }
                Event::CopyHeader(line) => client.feed(PgWireBackendMessage::CopyData(CopyData::new(line))).await?,
                Event::Batch(batch) => {
                    rows += batch.num_rows() as u64;
                    let lines = if binary {
                        copy_binary::tuples(&batch, &types)
                    } else {
                        let zone = *session.zone.lock();
                        copy_lines(&batch, &copy.options, zone)
                    };
                    for line in lines {
                        client
                            .feed(PgWireBackendMessage::CopyData(CopyData::new(copy_binary::after(&mut header, line))))
                            .await?;
                    }
                }
                _ => {}
            }
        }
        running.finish().await.map_err(storage)?;
        if !started {
            return Err(error("ERROR", "0A000", "COPY needs a query that returns rows"));
        }
        if binary {
            client
                .feed(PgWireBackendMessage::CopyData(CopyData::new(copy_binary::after(
                    &mut header,
                    copy_binary::trailer(),
                ))))
                .await?;
        }
        client.feed(PgWireBackendMessage::CopyDone(CopyDone::new())).await?;
        Ok(rows as usize)
    }

    /// Starts a COPY FROM STDIN after checking its target; returns the number of columns
    /// the client is asked to send.
    async fn copy_in(&self, session: &PgSession, copy: crate::pg::commands::CopyIn) -> PgWireResult<usize> {
        let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
        let columns = if copy.columns.is_empty() {
            "*".to_owned()
        } else {
            copy.columns.iter().map(|c| quote(c)).collect::<Vec<_>>().join(", ")
        };
        let target = match &copy.schema {
            Some(s) => format!("{}.{}", quote(s), quote(&copy.table)),
            None => quote(&copy.table),
        };
        let described = session.describe(format!("SELECT {columns} FROM {target}"), None).await.map_err(storage)?;
        let types: Vec<SqlType> = described.columns.unwrap_or_default().into_iter().map(|c| c.ty).collect();
        let n = types.len();
        *session.copy_in.lock().await = Some(CopyInFlight::start(session, copy, types));
        Ok(n)
    }

    /// Runs one statement for either protocol: session commands here, SQL on the engine.
    /// `status` is the transaction block's before it; `params` and `codes` are the bound
    /// parameters and result formats (none in the simple protocol), `encoding` how the
    /// engine is to encode rows.
    #[allow(clippy::too_many_arguments)]
    async fn execute<C>(
        &self,
        client: &mut C,
        session: &PgSession,
        (sql, command): (&str, Command),
        status: TransactionStatus,
        params: Vec<SqlParam>,
        codes: &[i16],
        encoding: Encoding,
    ) -> PgWireResult<Reply>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if status == TransactionStatus::Error && !ends_failure(&command) {
            return Err(aborted());
        }
        if let Some(reply) = self.local(client, session, &command).await? {
            return Ok(reply);
        }
        Ok(match command {
            Command::Commit | Command::Rollback => {
                if status == TransactionStatus::Idle {
                    warn(client, "25P01", "there is no transaction in progress").await?;
                }
                // Open portals end with their transaction, as in PostgreSQL.
                client.portal_store().clear_portals();
                let t =
                    self.end_transaction(session, matches!(command, Command::Commit), status).await.map_err(storage)?;
                flush_status(client, session).await?;
                Reply::Done(t, Transition::Ended)
            }
            Command::Begin(begin) => {
                if status == TransactionStatus::Idle {
                    session.execute(begin.sql()).await.map_err(storage)?;
                } else {
                    warn(client, "25001", "there is already a transaction in progress").await?;
                }
                Reply::Done(Tag::new(begin.tag()), Transition::Began)
            }
            Command::RollbackTo(name) => {
                session.rollback_to(&name).await.map_err(storage)?;
                Reply::Done(Tag::new("ROLLBACK"), Transition::Recovered)
            }
            Command::Declare { name, hold, scroll, query } => {
                Reply::tag(self.declare(session, (name, hold, scroll, query), params).await?)
            }
            Command::Fetch { name, direction, skip } => {
                let (columns, rows) = self.fetch(session, &name, direction, codes).await.map_err(storage)?;
                let tag = Tag::new(if skip { "MOVE" } else { "FETCH" }).with_rows(rows.len());
                Reply::Fetched(columns, (!skip).then_some(rows), tag)
            }
            Command::Close(name) => Reply::tag(self.close(session, name).await.map_err(storage)?),
            Command::CopyOut(copy) => {
                let n = self.copy_out(client, session, &copy).await?;
                Reply::tag(Tag::new("COPY").with_rows(n))
            }
            Command::CopyIn(copy) => {
                let binary = copy.options.binary;
                Reply::CopyIn(binary, self.copy_in(session, copy).await?)
            }
            _ => Reply::Running(session.run(sql.to_owned(), params, encoding)),
        })
    }

    /// Runs one statement of a simple query, writing its messages; returns `false` when a
    /// COPY FROM STDIN now waits for data.
    async fn simple_statement<C>(
        &self,
        client: &mut C,
        session: &PgSession,
        sql: &str,
        status: &mut TransactionStatus,
    ) -> PgWireResult<bool>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let statement = (sql, classify(sql));
        let reply = self.execute(client, session, statement, *status, Vec::new(), &[], Encoding::Rows(Arc::default()));
        let tag = match reply.await? {
            Reply::Done(tag, transition) => {
                *status = match transition {
                    Transition::Same => *status,
                    Transition::Began | Transition::Recovered => TransactionStatus::Transaction,
                    Transition::Ended => TransactionStatus::Idle,
                };
                tag
            }
            Reply::Row(name, value, tag) => {
                row_description(client, &[SqlColumn { name, ty: SqlType::Text }]).await?;
                client.feed(PgWireBackendMessage::DataRow(text_row(&value))).await?;
                tag
            }
            Reply::Fetched(columns, rows, tag) => {
                if let Some(rows) = rows {
                    row_description(client, &columns).await?;
                    for row in rows {
                        client.feed(PgWireBackendMessage::DataRow(row)).await?;
                    }
                }
                tag
            }
            Reply::CopyIn(binary, n) => {
                let response = CopyInResponse::new(i8::from(binary), n as i16, vec![i16::from(binary); n]);
                client.send(PgWireBackendMessage::CopyInResponse(response)).await?;
                client.set_state(PgWireConnectionState::CopyInProgress(false));
                return Ok(false);
            }
            Reply::Running(mut running) => {
                while let Some(event) = running.next().await {
                    match event {
                        Event::Columns(columns) => row_description(client, &columns).await?,
                        Event::Rows(rows) => {
                            for row in rows {
                                client.feed(PgWireBackendMessage::DataRow(row)).await?;
                            }
                        }
                        Event::CopyHeader(_) | Event::Batch(_) => {}
                    }
                }
                let (kind, outcome) = running.finish().await.map_err(storage)?;
                *status = status_after(&kind, *status);
                tag(&kind, outcome)
            }
        };
        client.feed(PgWireBackendMessage::CommandComplete(tag.into())).await?;
        Ok(true)
    }
}

/// Sends the RowDescription of text-format `columns`.
async fn row_description<C>(client: &mut C, columns: &[SqlColumn]) -> PgWireResult<()>
where
    C: Sink<PgWireBackendMessage> + Unpin,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    let fields = fields(columns, &[]);
    let description = RowDescription::new(fields.iter().map(Into::into).collect());
    Ok(client.feed(PgWireBackendMessage::RowDescription(description)).await?)
}

/// Statements that begin or end a transaction block themselves.
fn controls_transaction(command: &Command) -> bool {
    matches!(command, Command::Begin(_) | Command::Commit | Command::Rollback | Command::RollbackTo(_))
}

/// Sends PostgreSQL's WARNING `code`: the statement goes on and succeeds.
async fn warn<C>(client: &mut C, code: &str, message: &str) -> PgWireResult<()>
where
    C: Sink<PgWireBackendMessage> + Unpin,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    let notice = NoticeResponse::from(ErrorInfo::new("WARNING".into(), code.into(), message.into()));
    Ok(client.feed(PgWireBackendMessage::NoticeResponse(notice)).await?)
}

/// An error as an ErrorResponse.
fn error_info(e: PgWireError) -> pgwire::messages::response::ErrorResponse {
    pgwire::error::ErrorInfo::from(e).into()
}

fn aborted() -> PgWireError {
    error("ERROR", "25P02", "current transaction is aborted, commands ignored until end of transaction block")
}

#[async_trait]
impl SimpleQueryHandler for Handler {
    async fn on_query<C>(&self, client: &mut C, query: Query) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let session = session(client)?;
        if !matches!(client.state(), PgWireConnectionState::ReadyForQuery) {
            return Err(PgWireError::NotReadyForQuery);
        }
        client.set_state(PgWireConnectionState::QueryInProgress);
        let mut status = client.transaction_status();
        let statements = split(&query.query);
        if statements.is_empty() {
            client.feed(PgWireBackendMessage::EmptyQueryResponse(EmptyQueryResponse::new())).await?;
        }
        // Several statements in one query string run as one transaction in PostgreSQL (an
        // implicit block): a failure undoes them all. Statements that manage transactions
        // themselves take over (BEGIN makes the block explicit; COMMIT ends it, and the next
        // statement starts another). COPY FROM STDIN waits for the client, so it runs alone.
        let implicit_blocks =
            statements.len() > 1 && !statements.iter().any(|s| matches!(classify(s), Command::CopyIn(_)));
        let mut implicit = false;
        for sql in statements {
            let command = classify(sql);
            if implicit_blocks && status == TransactionStatus::Idle && !controls_transaction(&command) {
                if let Err(e) = session.execute("BEGIN TRANSACTION").await {
                    client.feed(PgWireBackendMessage::ErrorResponse(error_info(from_storage(&e)))).await?;
                    break;
                }
                (implicit, status) = (true, TransactionStatus::Transaction);
            }
            if implicit && let Command::Begin(begin) = &command {
                implicit = false;
                client.feed(PgWireBackendMessage::CommandComplete(Tag::new(begin.tag()).into())).await?;
                continue;
            }
            let done = self.simple_statement(client, &session, sql, &mut status).await;
            self.count(&done);
            match done {
                Ok(true) => implicit &= status != TransactionStatus::Idle,
                Ok(false) => return Ok(()),
                Err(e) if e.is_fatal() => return Err(e),
                Err(PgWireError::UserError(info)) => {
                    client.feed(PgWireBackendMessage::ErrorResponse((*info).into())).await?;
                    if implicit {
                        self.end_transaction(&session, false, TransactionStatus::Error).await.map_err(storage)?;
                        (implicit, status) = (false, TransactionStatus::Idle);
                    } else if status != TransactionStatus::Idle {
                        status = TransactionStatus::Error;
                    }
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        if implicit {
            status = TransactionStatus::Idle;
            if let Err(e) = self.end_transaction(&session, true, TransactionStatus::Transaction).await {
                client.feed(PgWireBackendMessage::ErrorResponse(error_info(from_storage(&e)))).await?;
                let _ = self.end_transaction(&session, false, TransactionStatus::Error).await;
            }
        }
        client.set_state(PgWireConnectionState::ReadyForQuery);
        client.set_transaction_status(status);
        send_ready_for_query(client, status).await
    }

    async fn do_query<C>(&self, _client: &mut C, _query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        unreachable!("on_query handles simple queries itself")
    }
}

pub struct Parser;

#[async_trait]
impl QueryParser for Parser {
    type Statement = Arc<Stmt>;

    async fn parse_sql<C>(&self, client: &C, sql: &str, types: &[Option<Type>]) -> PgWireResult<Option<Arc<Stmt>>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let session = session(client)?;
        let local = |columns| Ok(Some(Arc::new(Stmt { sql: sql.to_owned(), params: vec![], columns })));
        match classify(sql) {
            _ if skip_blanks(sql).is_empty() => Ok(None),
            Command::Show(name) => local(Some(vec![SqlColumn { name: canonical_name(&name), ty: SqlType::Text }])),
            Command::SetConfig { column, .. } => local(Some(vec![SqlColumn { name: column, ty: SqlType::Text }])),
            Command::Sql => {
                let declared = types.iter().map(|t| t.as_ref().and_then(declared_type)).collect();
                let (sql, d) = session.prepare(sql.to_owned(), declared).await.map_err(storage)?;
                Ok(Some(Arc::new(Stmt { sql, params: d.params, columns: d.columns })))
            }
            // The cursor's query decides the parameters' types (clients encode values by them).
            Command::Declare { query, .. } => {
                let declared = types.iter().map(|t| t.as_ref().and_then(declared_type)).collect();
                let (_, d) = session.prepare(query, declared).await.map_err(storage)?;
                Ok(Some(Arc::new(Stmt { sql: sql.to_owned(), params: d.params, columns: None })))
            }
            Command::Fetch { name, skip: false, .. } => {
                let cursors = session.cursors.lock().await;
                let cursor = cursors.get(&name).ok_or_else(|| storage(cursor_not_found(&name)))?;
                local(Some(cursor.columns.clone()))
            }
            Command::Unsupported(m) => Err(error("ERROR", "0A000", &m)),
            _ => local(None),
        }
    }

    fn get_parameter_types(&self, stmt: &Arc<Stmt>) -> PgWireResult<Vec<Type>> {
        Ok(stmt.params.iter().map(pg_type).collect())
    }

    fn get_result_schema(&self, stmt: &Arc<Stmt>, format: Option<&Format>) -> PgWireResult<Vec<FieldInfo>> {
        let codes = format.map(format_codes).unwrap_or_default();
        Ok(stmt.columns.as_deref().map(|c| fields(c, &codes)).unwrap_or_default())
    }
}

/// Bound parameters in the forms the engine binds.
fn parameters(portal: &Portal<Arc<Stmt>>) -> PgWireResult<Vec<SqlParam>> {
    let stmt = &portal.statement;
    let codes = format_codes(&portal.parameter_format);
    portal
        .parameters
        .iter()
        .enumerate()
        .map(|(i, value)| {
            let Some(bytes) = value else { return Ok(SqlParam::Null) };
            let ty = stmt
                .parameter_types
                .get(i)
                .cloned()
                .flatten()
                .or_else(|| stmt.statement.params.get(i).map(pg_type))
                .unwrap_or(Type::TEXT);
            if format_of(&codes, i) == FieldFormat::Text {
                let text = String::from_utf8(bytes.to_vec())
                    .map_err(|_| error("ERROR", "22021", "parameter is not valid UTF-8"))?;
                // An array in PostgreSQL's text form, which DuckDB does not cast.
                return Ok(SqlParam::Text(text_array_param(&ty, &text).unwrap_or(text)));
            }
            if ty == Type::BYTEA {
                return Ok(SqlParam::Bytes(bytes.to_vec()));
            }
            binary_param(&ty, bytes).map(SqlParam::Text).ok_or_else(|| {
                error(
                    "ERROR",
                    "22P03",
                    &format!("binary format of parameter ${} (type {}) is not supported", i + 1, ty.name()),
                )
            })
        })
        .collect()
}

#[async_trait]
impl ExtendedQueryHandler for Handler {
    type Statement = Arc<Stmt>;
    type QueryParser = Parser;

    fn query_parser(&self) -> Arc<Parser> {
        self.parser.clone()
    }

    /// pgwire restores the transaction status it saw before the statement, so a successful
    /// ROLLBACK TO SAVEPOINT leaves the failed state here, after the statement.
    async fn on_execute<C>(&self, client: &mut C, message: Execute) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let result = self._on_execute(client, message).await;
        if session(client)?.take_recovered() {
            client.set_transaction_status(TransactionStatus::Transaction);
        }
        result
    }

    /// A statement whose result DuckDB could only type from the parameter values (see
    /// `SqlSession::describe`) is described again with the portal's values.
    async fn do_describe_portal<C>(
        &self,
        client: &mut C,
        portal: &Portal<Arc<Stmt>>,
    ) -> PgWireResult<DescribePortalResponse>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let stmt = &portal.statement.statement;
        let unresolved = stmt.columns.as_deref().is_some_and(|c| c.iter().any(|c| c.ty == SqlType::Unknown));
        let columns = if unresolved && !portal.parameters.is_empty() {
            let session = session(client)?;
            session.describe(stmt.sql.clone(), Some(parameters(portal)?)).await.map_err(storage)?.columns
        } else {
            stmt.columns.clone()
        };
        let codes = format_codes(&portal.result_column_format);
        Ok(DescribePortalResponse::new(columns.map(|c| fields(&c, &codes)).unwrap_or_default()))
    }

    async fn do_query<C>(&self, client: &mut C, portal: &Portal<Arc<Stmt>>, max_rows: usize) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let done = self.query_portal(client, portal, max_rows).await;
        self.count(&done);
        done
    }

    /// Describe of a statement with parameters but no result must answer NoData (pgwire
    /// would send an empty RowDescription, which pgjdbc reads as a result set).
    async fn on_describe<C>(&self, client: &mut C, message: Describe) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if message.target_type == TARGET_TYPE_BYTE_STATEMENT {
            let name = message.name.as_deref().unwrap_or(DEFAULT_NAME);
            if let Some(Entry::Value(stmt)) = client.portal_store().get_statement(name) {
                let described: DescribeStatementResponse = self.do_describe_statement(client, &stmt).await?;
                if described.fields.is_empty() {
                    let oids = described.parameters.iter().map(|t| t.oid()).collect();
                    client.feed(PgWireBackendMessage::ParameterDescription(ParameterDescription::new(oids))).await?;
                    client.feed(PgWireBackendMessage::NoData(NoData::new())).await?;
                    return Ok(());
                }
                return send_describe_response(client, &described).await;
            }
        } else if let Some(name) = message.name.as_deref()
            && client.portal_store().get_portal(name).is_none()
        {
            // PostgreSQL's cursors are portals too: psycopg describes a named cursor so.
            let columns = session(client)?.cursors.lock().await.get(name).map(|c| c.columns.clone());
            if let Some(columns) = columns {
                return send_describe_response(client, &DescribePortalResponse::new(fields(&columns, &[]))).await;
            }
        }
        self._on_describe(client, message).await
    }
}

#[async_trait]
impl CopyHandler for Handler {
    async fn on_copy_data<C>(&self, client: &mut C, data: CopyData) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let session = session(client)?;
        let mut copy = session.copy_in.lock().await;
        let Some(flight) = copy.as_mut() else { return Ok(()) };
        if let Err(e) = flight.data(&data.data).await {
            copy.take();
            return Err(storage(e));
        }
        Ok(())
    }

    async fn on_copy_done<C>(&self, client: &mut C, _done: CopyDone) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let session = session(client)?;
        let flight = session.copy_in.lock().await.take();
        let Some(flight) = flight else { return Err(error("ERROR", "08P01", "no COPY in progress")) };
        let n = flight.finish().await.map_err(storage)?;
        client.send(PgWireBackendMessage::CommandComplete(Tag::new("COPY").with_rows(n as usize).into())).await?;
        Ok(())
    }

    async fn on_copy_fail<C>(&self, client: &mut C, fail: CopyFail) -> PgWireError
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if let Ok(session) = session(client)
            && let Some(flight) = session.copy_in.lock().await.take()
        {
            flight.abort(fail.message.clone()).await;
        }
        error("ERROR", "57014", &format!("COPY from stdin failed: {}", fail.message))
    }
}

#[async_trait]
impl CancelHandler for Handler {
    async fn on_cancel_request(&self, request: CancelRequest) {
        self.cancels.cancel(request.pid, &request.secret_key.to_bytes());
    }
}
