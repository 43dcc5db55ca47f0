//! A SQL session on a workspace: one raw DuckDB connection with the PostgreSQL catalog
//! emulation, running one statement at a time and streaming results as Arrow batches.
//!
//! Errors carry a SQLSTATE as their code (the wire server passes it on).

use std::sync::Arc;

use parking_lot::Mutex;
use serde_json::Value;

use duckdb::arrow::array::{AsArray, RecordBatch, StringArray};
use duckdb::arrow::datatypes::{DataType, Field, Int64Type, Schema};

use duckstore_plugin_sdk::sql::{
    Described, Outcome, RowSink, SqlColumn, SqlParam, SqlSession, SqlType, StatementKind, skip_blanks,
};
use duckstore_plugin_sdk::{ErrorKind, Result, StorageError};

use super::compat::{rewrite, with_parameter_literals};
use super::database::{WorkspaceDb, is_bucket_schema, names_pg_catalog, search_path};
use super::dialect;
use super::names::{postgres_names, rename, syntax_tree};
use super::pushdown::{self, Defined, Pushed};
use crate::raw::{Bind, Interrupter, Prepared, RawConnection, ResultKind, StatementType, TypeInfo};
use crate::types::sql_type;

pub(crate) struct DuckSession {
    ws: Arc<WorkspaceDb>,
    conn: RawConnection,
    interrupter: Arc<StatementInterrupter>,
    /// The functions this session sees defined, for pushdown, when that may differ from
    /// the workspace's committed ones (see [`Defined`]).
    defined: Defined,
    /// Whether the session ran DDL: then it may see temporary or uncommitted definitions.
    has_defined: bool,
    key: u64,
    transaction: Option<Transaction>,
    /// The session's time zone (SET TimeZone); `None` is UTC, DuckDB's own.
    zone: Option<chrono_tz::Tz>,
    /// When the workspace expires: its sessions end then, not at the next sweep.
    expiry: Expiry,
}

/// A workspace's deadline and the engine's clock to hold it against.
pub(crate) struct Expiry {
    pub at: chrono::DateTime<chrono::Utc>,
    pub clock: crate::Clock,
}

/// A session's open transaction.
struct Transaction {
    /// The workspace's definitions epoch when it began.
    began: u64,
    /// Whether it ran DDL: its end changes what other sessions see defined.
    defines: bool,
}

/// Interrupts a session's running statement wherever it runs: on the session's connection
/// or, pushed down, on a hub connection.
pub(crate) struct StatementInterrupter {
    session: Interrupter,
    /// The hub connection of the statement running (if pushed down), and whether the
    /// statement was interrupted before it got there.
    hub: Mutex<(Option<Interrupter>, bool)>,
}

impl StatementInterrupter {
    pub fn interrupt(&self) {
        self.session.interrupt();
        let mut hub = self.hub.lock();
        hub.1 = true;
        if let Some(h) = &hub.0 {
            h.interrupt();
        }
    }

    /// A new statement starts: nothing interrupted it yet.
    fn starting(&self) {
        *self.hub.lock() = (None, false);
    }

    /// Whether the running statement was interrupted.
    fn interrupted(&self) -> bool {
        self.hub.lock().1
    }

    /// The statement goes on in the hub on `conn`; an interrupt that came first stops it there.
    fn moved_to(&self, conn: Interrupter) {
        let mut hub = self.hub.lock();
        if hub.1 {
            conn.interrupt();
        }
        hub.0 = Some(conn);
    }
}

impl DuckSession {
    pub fn open(ws: Arc<WorkspaceDb>, max_sessions: u64, expiry: Expiry) -> Result<Self> {
        let conn = ws.connect()?;
        let interrupter =
            Arc::new(StatementInterrupter { session: conn.interrupter(), hub: Mutex::new((None, false)) });
        let key = ws.add_session(interrupter.clone(), max_sessions)?;
        let mut session = Self {
            ws,
            conn,
            interrupter,
            defined: Defined::default(),
            has_defined: false,
            key,
            transaction: None,
            zone: None,
            expiry,
        };
        session.set_search_path(&[])?;
        Ok(session)
    }

    /// Rewrites and prepares one statement, refusing what sessions may not run.
    fn prepare(&mut self, sql: &str) -> Result<(Prepared, StatementType, String)> {
        self.ws.ensure_open()?;
        if self.ws.ended(self.key) {
            let message = format!("workspace {}'s password was reset; log in again with the new one", self.ws.id);
            return Err(StorageError::new(ErrorKind::Gone, "57P01", message));
        }
        if (self.expiry.clock)() >= self.expiry.at {
            // 57P01 ends the connection, as PostgreSQL's admin shutdown does.
            let message = format!("workspace {} expired at {}; its sessions have ended", self.ws.id, self.expiry.at);
            return Err(StorageError::new(ErrorKind::Gone, "57P01", message));
        }
        self.ws.sync_views().map_err(|e| sql_error(&e.message))?;
        let original = sql;
        let mut sql = dialect::to_duckdb(sql, self.zone);
        if let Some(read) = dialect::text_forms_written(&sql, &mut |schema, table| self.columns_of(schema, table)) {
            sql = read;
        }
        let mut sql = rewrite(&sql);
        if let Some((schema, name)) = dialect::renamed_relation(&sql)
            && self.is_view(schema.as_deref(), &name)
            && let Some(view) = as_alter_view(&sql)
        {
            sql = view;
        }
        // A syntax error points into the statement the client sent, when DuckDB read that.
        let unchanged = sql == original;
        let locate = |mut e: StorageError| {
            if unchanged {
                e.position = error_position(&e.message, original);
            }
            // The statement itself is the client's; its echo (rewritten or not) is not
            // repeated in the message.
            if let Some(at) = e.message.find("\n\nLINE ") {
                e.message.truncate(at);
            }
            e
        };
        let (prepared, ty) = self.prepare_one(&sql).map_err(locate)?;
        // PostgreSQL's limit; the protocol counts columns in 16 bits.
        if prepared.column_count() > MAX_COLUMNS {
            let message = format!("target lists can have at most {MAX_COLUMNS} entries");
            return Err(StorageError::new(ErrorKind::TooLarge, "54011", message));
        }
        Ok((prepared, ty, sql))
    }

    /// Whether `name` (in `schema`, else the workspace's own) is a view of the workspace.
    fn is_view(&mut self, schema: Option<&str>, name: &str) -> bool {
        let schema = match schema {
            None | Some("public") => "main",
            Some(s) => s,
        };
        let sql = "SELECT system.main.count(*)::VARCHAR FROM system.main.duckdb_views() WHERE NOT internal \
                   AND system.main.lower(schema_name) = system.main.lower($1) \
                   AND system.main.lower(view_name) = system.main.lower($2)";
        self.conn.query_text(sql, &[schema, name]).is_some_and(|n| n.trim() != "0")
    }

    /// A workspace table's columns in order, each with how PostgreSQL's text form reads.
    fn columns_of(&mut self, schema: Option<&str>, table: &str) -> Option<Vec<(String, dialect::TextForm)>> {
        let schema = match schema {
            None | Some("public") => "main",
            Some(s) => s,
        };
        let sql = "SELECT system.main.string_agg(column_name || chr(2) || data_type, chr(1) \
                   ORDER BY column_index) FROM system.main.duckdb_columns() \
                   WHERE schema_name = $1 AND table_name = $2 AND database_name = system.main.current_database()";
        let listed = self.conn.query_text(sql, &[schema, table])?;
        listed
            .split('\u{1}')
            .map(|c| {
                let (name, ty) = c.split_once('\u{2}')?;
                let form = match ty {
                    "BLOB" => dialect::TextForm::Bytea,
                    t if t.ends_with(']') => dialect::TextForm::Array,
                    _ => dialect::TextForm::Same,
                };
                Some((name.to_owned(), form))
            })
            .collect()
    }

    /// Prepares `sql` (DuckDB dialect), which must be exactly one statement.
    fn prepare_one(&mut self, sql: &str) -> Result<(Prepared, StatementType)> {
        // Checked on the text before DuckDB splits it: splitting runs pragmas' rewrites and
        // reads IMPORT DATABASE's files in place of the statement.
        if let Some(name) = engine_switch_called(sql) {
            let message = match name {
                "query" => "query() takes one plain string literal in a workspace: SQL built at run time \
                            could switch the server's logging on (a name 'query' followed by '(' reads as a call)"
                    .to_owned(),
                "import_database" => "workspaces cannot import databases".to_owned(),
                "checkpoint" | "force_checkpoint" => {
                    "CHECKPOINT is not available in a workspace (the word is refused anywhere in a statement): \
                     duckstore checkpoints workspaces itself"
                        .to_owned()
                }
                _ => format!("{name}() is not available in a workspace: it changes how the server runs"),
            };
            return Err(StorageError::new(ErrorKind::Forbidden, "42501", message));
        }
        let statements = self.conn.split(sql).map_err(|e| sql_error(&e.message))?;
        let [statement] = statements.as_slice() else {
            return Err(StorageError::new(ErrorKind::Invalid, "42601", "send one statement at a time"));
        };
        let prepared = self.conn.prepare(statement).map_err(|e| sql_error(&e.message))?;
        let ty = prepared.statement_type();
        if let Some(refusal) = refused(ty) {
            return Err(StorageError::new(ErrorKind::Forbidden, "42501", refusal));
        }
        // EXPLAIN ANALYZE runs its statement: that one is checked like any other, and only
        // a query may run so.
        if ty == StatementType::Explain {
            let explain = explain_of(sql).ok_or_else(|| {
                let message = "EXPLAIN takes options of plain words only, then one statement";
                StorageError::new(ErrorKind::Invalid, "42601", message)
            })?;
            let (_, explained) = self.prepare_one(explain.statement)?;
            if explain.runs && explained != StatementType::Select {
                let message = "EXPLAIN ANALYZE (or with options) runs only queries (SELECT) in a workspace";
                return Err(StorageError::new(ErrorKind::Forbidden, "42501", message));
            }
        }
        // The catalog emulation is shared by the workspace's sessions: nobody changes it.
        if !matches!(ty, StatementType::Select | StatementType::Explain) && names_pg_catalog(sql) {
            return Err(StorageError::new(
                ErrorKind::Forbidden,
                "42501",
                "ds_pg is duckstore's catalog emulation and is read-only",
            ));
        }
        Ok((prepared, ty))
    }

    /// The result columns of `sql` with `values` for its parameters. DuckDB cannot type
    /// some results before it sees the values (a function whose type depends on a
    /// parameter, such as `json_build_object($1, …)`): it is prepared again with the values
    /// written in as literals, only to read the types.
    fn columns_with_values(&mut self, sql: &str, values: &[SqlParam]) -> Result<Vec<SqlColumn>> {
        let literals: Vec<String> = values.iter().map(sql_literal).collect();
        let (prepared, _) = self.prepare_one(&with_parameter_literals(sql, &literals))?;
        Ok(columns_of(&prepared))
    }

    /// PostgreSQL's names for a query's unaliased expressions (see [`postgres_names`]).
    fn name_like_postgres(&mut self, ty: StatementType, sql: &str, columns: &mut [SqlColumn]) {
        if ty == StatementType::Select {
            postgres_names(&mut self.conn, sql, columns);
        }
    }

    /// Binds, checks and runs a prepared statement (`sql`, DuckDB's dialect).
    fn run(
        &mut self,
        mut prepared: Prepared,
        sql: &str,
        ty: StatementType,
        kind: &StatementKind,
        params: &[SqlParam],
        sink: &mut dyn RowSink,
    ) -> Result<Outcome> {
        self.interrupter.starting();
        let binds: Vec<Bind<'_>> = params
            .iter()
            .map(|p| match p {
                SqlParam::Null => Bind::Null,
                SqlParam::Text(s) => Bind::Text(s),
                SqlParam::Bool(b) => Bind::Bool(*b),
                SqlParam::Int(i) => Bind::Int(*i),
                SqlParam::Float(f) => Bind::Float(*f),
                SqlParam::Bytes(b) => Bind::Blob(b),
            })
            .collect();
        prepared.bind(&binds).map_err(|e| StorageError::new(ErrorKind::Invalid, "08P01", e.message))?;
        if grows(ty) {
            self.ws.ensure_room()?;
        }
        if changes_schema(ty) {
            let ws = self.ws.clone();
            return self.execute_guarded(|_| {
                let outcome = execute_ddl(&mut prepared)?;
                // CREATE TABLE AS: what it wrote must fit before it commits.
                if grows(ty) {
                    ws.ensure_room_for_pending()?;
                }
                Ok(outcome)
            });
        }
        if !grows(ty) {
            return self.run_query(prepared, sql, ty, kind, &binds, sink);
        }
        // A write commits only if the workspace stays within its size: in autocommit, the
        // statement runs in a transaction of its own, checked before COMMIT; in the client's
        // transaction, a write past the limit fails it as a whole (as execute_guarded does).
        let autocommit = self.transaction.is_none();
        if autocommit {
            self.conn.execute_batch("BEGIN").map_err(|e| sql_error(&e.message))?;
        }
        let outcome = self
            .run_query(prepared, sql, ty, kind, &binds, sink)
            .and_then(|o| self.ws.ensure_room_for_pending().map(|()| o));
        match outcome {
            Ok(o) if autocommit => self.conn.execute_batch("COMMIT").map_err(|e| sql_error(&e.message)).map(|()| o),
            Ok(o) => Ok(o),
            Err(e) => {
                if autocommit || e.kind == ErrorKind::TooLarge {
                    let _ = self.conn.execute_batch("ROLLBACK");
                    self.transaction = None;
                }
                Err(e)
            }
        }
    }

    /// Runs a bound statement that changes no schema and streams its result to `sink`.
    fn run_query(
        &mut self,
        mut prepared: Prepared,
        sql: &str,
        ty: StatementType,
        kind: &StatementKind,
        binds: &[Bind<'_>],
        sink: &mut dyn RowSink,
    ) -> Result<Outcome> {
        let mut columns = result_columns(&prepared, ty);
        let mut pushed = None;
        let query = match ty {
            StatementType::Select => Some(sql),
            StatementType::Explain => explain_of(sql).filter(|e| !e.runs && !e.options).map(|e| e.statement),
            _ => None,
        };
        if let Some(query) = query
            && let Some(tree) = syntax_tree(&mut self.conn, query)
        {
            let types = if ty == StatementType::Select {
                rename(&tree, &mut columns);
                types_of(&prepared)
            } else {
                self.prepare_one(query).map(|(p, _)| types_of(&p)).unwrap_or_default()
            };
            pushed = self.push_down(tree, binds, &types, ty == StatementType::Explain)?;
            // An interrupt may have ended a lookup of the pushdown instead of the statement.
            if pushed.is_none() && self.interrupter.interrupted() {
                return Err(sql_error("INTERRUPT Error: Interrupted!"));
            }
        }
        let rows = returns_rows(ty, &columns);
        let mut local;
        let result = match pushed.as_mut() {
            Some(p) => &mut p.result,
            None => {
                local = prepared.execute().map_err(|e| sql_error(&e.message))?;
                &mut local
            }
        };
        // Prepared with parameters DuckDB could not type, the result's types were unknown
        // until now; clients decode binary values by the types they are sent.
        if rows && columns.iter().any(|c| c.ty == SqlType::Unknown) {
            columns = result
                .columns()
                .into_iter()
                .map(|(name, t)| vector_column(SqlColumn { name, ty: sql_type(&t) }))
                .collect();
            self.name_like_postgres(ty, sql, &mut columns);
        }
        match kind {
            StatementKind::Begin => {
                self.transaction = Some(Transaction { began: self.ws.definitions_epoch(), defines: false })
            }
            StatementKind::Commit | StatementKind::Rollback => self.end_transaction(),
            _ => {}
        }
        if rows {
            sink.columns(&columns)?;
            let mut n = 0u64;
            while let Some(batch) = result.next_batch().map_err(|e| sql_error(&e.message))? {
                let batch = if ty == StatementType::Explain { plan_lines(batch)? } else { batch };
                n += batch.num_rows() as u64;
                if !sink.rows(batch)? {
                    break;
                }
            }
            return Ok(Outcome::Rows(n));
        }
        Ok(match result.kind() {
            ResultKind::Changed(n) if n > 0 => Outcome::Changed(n),
            ResultKind::Changed(_) | ResultKind::Rows
                if matches!(ty, StatementType::Insert | StatementType::Update | StatementType::Delete) =>
            {
                let mut n = 0u64;
                while let Some(batch) = result.next_batch().map_err(|e| sql_error(&e.message))? {
                    if let Some(counts) = batch.column(0).as_primitive_opt::<Int64Type>() {
                        n += counts.iter().flatten().sum::<i64>().max(0) as u64;
                    }
                }
                Outcome::Changed(n)
            }
            _ => Outcome::Done,
        })
    }

    /// Ends the open transaction; other sessions' lists of definitions lack what it
    /// defined until now.
    fn end_transaction(&mut self) {
        if self.transaction.take().is_some_and(|t| t.defines) {
            self.ws.definitions_changed();
        }
    }

    /// Starts a query in the hub if it reads nothing but one project table (see [`pushdown`]).
    /// `types` are the query's result types in the workspace; `explain`: its plan is wanted.
    fn push_down(
        &mut self,
        tree: Value,
        binds: &[Bind<'_>],
        types: &[TypeInfo],
        explain: bool,
    ) -> Result<Option<Pushed>> {
        let epoch = self.ws.definitions_epoch();
        let own = self.has_defined || self.transaction.as_ref().is_some_and(|t| t.began != epoch);
        let (ws, defined) = (&self.ws, &mut self.defined);
        let names = |conn: &mut RawConnection| {
            if own { defined.at(conn, epoch) } else { ws.defined.lock().at(conn, epoch) }
        };
        let Some(plan) = pushdown::plan(&mut self.conn, &self.ws, names, tree) else { return Ok(None) };
        let interrupter = &self.interrupter;
        let on_hub = |hub: &RawConnection| interrupter.moved_to(hub.interrupter());
        plan.start(&mut self.conn, self.ws.scope(), binds, types, explain, on_hub).map_err(|e| sql_error(&e.message))
    }

    /// Runs a statement that may change schemas, failing it (and its transaction) if it
    /// touched a bucket schema or the catalog emulation.
    fn execute_guarded(&mut self, run: impl FnOnce(&mut RawConnection) -> Result<Outcome>) -> Result<Outcome> {
        let ws = self.ws.clone();
        self.has_defined = true;
        if let Some(t) = &mut self.transaction {
            t.defines = true;
        }
        ws.guarding_views(|| {
            let autocommit = self.transaction.is_none();
            if autocommit {
                self.conn.execute_batch("BEGIN").map_err(|e| sql_error(&e.message))?;
            }
            let before = ws.protected_fingerprint(&mut self.conn);
            let outcome = run(&mut self.conn);
            let touched = match (&outcome, before) {
                (Ok(_), Ok(before)) => ws.protected_fingerprint(&mut self.conn).map(|after| after != before),
                (_, Err(e)) => Err(e),
                (Err(_), Ok(_)) => Ok(false),
            };
            let failed = outcome.is_err() || !matches!(touched, Ok(false));
            if failed {
                // The statement's transaction fails as a whole, as in PostgreSQL.
                let _ = self.conn.execute_batch("ROLLBACK");
                self.transaction = None;
            } else if autocommit {
                self.conn.execute_batch("COMMIT").map_err(|e| sql_error(&e.message))?;
            }
            // Once committed (or not): other sessions' lists of definitions may be stale.
            ws.definitions_changed();
            match touched {
                Ok(true) => Err(read_only()),
                Err(e) => Err(e),
                Ok(false) => outcome,
            }
        })
    }
}

/// PostgreSQL's refusal of a write in a `READ ONLY` transaction (DuckDB's own wording names
/// its database).
fn in_read_only(e: StorageError, kind: &StatementKind) -> StorageError {
    if !e.message.contains("launched in read-only mode") {
        return e;
    }
    let what = match kind {
        StatementKind::Insert => "INSERT",
        StatementKind::Update => "UPDATE",
        StatementKind::Delete => "DELETE",
        StatementKind::Other(tag) if tag == "SELECT" => "CREATE TABLE AS",
        StatementKind::Other(tag) => tag,
        _ => "this statement",
    };
    StorageError::new(ErrorKind::Forbidden, "25006", format!("cannot execute {what} in a read-only transaction"))
}

/// Runs a schema statement: CREATE TABLE … AS answers how many rows it wrote, other DDL
/// answers nothing.
fn execute_ddl(prepared: &mut Prepared) -> Result<Outcome> {
    let mut result = prepared.execute().map_err(|e| sql_error(&e.message))?;
    let mut n = None;
    while let Some(batch) = result.next_batch().map_err(|e| sql_error(&e.message))? {
        if let Some(counts) = batch.column(0).as_primitive_opt::<Int64Type>() {
            *n.get_or_insert(0) += counts.iter().flatten().sum::<i64>().max(0) as u64;
        }
    }
    Ok(n.map_or(Outcome::Done, Outcome::Changed))
}

fn read_only() -> StorageError {
    read_only_table(None)
}

/// PostgreSQL's refusal of a write without the privilege, naming the table when known.
fn read_only_table(table: Option<&str>) -> StorageError {
    let what = table.map_or_else(|| "permission denied".to_owned(), |t| format!("permission denied for table {t}"));
    StorageError::new(
        ErrorKind::Forbidden,
        "42501",
        format!(
            "{what}: project tables (and the PostgreSQL catalog emulation) are read-only in a workspace; write to \
             a workspace table, then import it through the API"
        ),
    )
}

/// The most columns a result may have, as in PostgreSQL.
const MAX_COLUMNS: u64 = 1664;

/// Statement types a session may not run, with why.
fn refused(ty: StatementType) -> Option<&'static str> {
    match ty {
        StatementType::Copy => Some("COPY is served by the wire protocol only as COPY … TO STDOUT / FROM STDIN"),
        StatementType::Other(t)
            if [
                duckdb::ffi::duckdb_statement_type_DUCKDB_STATEMENT_TYPE_ATTACH,
                duckdb::ffi::duckdb_statement_type_DUCKDB_STATEMENT_TYPE_DETACH,
                duckdb::ffi::duckdb_statement_type_DUCKDB_STATEMENT_TYPE_EXPORT,
                duckdb::ffi::duckdb_statement_type_DUCKDB_STATEMENT_TYPE_LOAD,
                duckdb::ffi::duckdb_statement_type_DUCKDB_STATEMENT_TYPE_EXTENSION,
                duckdb::ffi::duckdb_statement_type_DUCKDB_STATEMENT_TYPE_COPY_DATABASE,
            ]
            .contains(&t) =>
        {
            Some("workspaces cannot attach databases, export, or install and load extensions")
        }
        // SQL-level PREPARE … AS COPY would run a COPY unseen by the check above; clients
        // prepare through the protocol instead.
        StatementType::Other(
            duckdb::ffi::duckdb_statement_type_DUCKDB_STATEMENT_TYPE_PREPARE
            | duckdb::ffi::duckdb_statement_type_DUCKDB_STATEMENT_TYPE_EXECUTE,
        ) => Some("PREPARE and EXECUTE statements are not available: use the protocol's prepared statements"),
        // The wire protocol answers SET/RESET itself and keeps the search path to the
        // session's schemas; one reaching DuckDB (`USE ds_pg`, `SET/**/search_path = …`
        // with a computed value) would put the shared catalog emulation first for
        // unqualified DDL.
        StatementType::Set => Some("this SET is not available: write SET name = value (USE is not supported)"),
        // PRAGMA switches (profiling, progress bar, verification, optimizer) bypass
        // lock_configuration and print to the server's stdout. Pragmas that only read
        // (`PRAGMA table_info`, `show_tables`…) are SELECTs by the time they are prepared.
        StatementType::Other(duckdb::ffi::duckdb_statement_type_DUCKDB_STATEMENT_TYPE_PRAGMA) => {
            Some("PRAGMA switches of the engine are not available in a workspace")
        }
        _ => None,
    }
}

/// Table functions that change instance-wide state despite `lock_configuration` (the
/// logger can print every query to the server's stdout or keep them in memory without
/// bound), `json_execute_serialized_sql`, which runs SQL written as JSON (where names can
/// be escaped), `import_database`, which runs the SQL of files, and `checkpoint` (also the
/// CHECKPOINT statement's), which on the `system` catalog invalidates the whole workspace
/// instance. Refused wherever the name stands as a word of its own, even in a string or
/// comment: matching DuckDB's lexer by hand is how a filter gets bypassed.
const ENGINE_SWITCHES: [&str; 9] = [
    "enable_logging",
    "disable_logging",
    "truncate_duckdb_logs",
    "enable_profiling",
    "disable_profiling",
    "json_execute_serialized_sql",
    "import_database",
    "checkpoint",
    "force_checkpoint",
];

/// Keywords after which `query (` names a table, view or CTE being defined or written,
/// not a call.
const DEFINING: [&str; 6] = ["table", "into", "exists", "view", "on", "with"];

/// The engine switch `statement` calls, if any: a name of [`ENGINE_SWITCHES`], IMPORT
/// DATABASE, or a call of `query()` (which runs SQL built at run time, so could call them
/// unseen) with anything but one plain string literal, whose text is checked like the rest.
fn engine_switch_called(statement: &str) -> Option<&'static str> {
    let lower = statement.to_ascii_lowercase();
    if let Some(name) = ENGINE_SWITCHES.into_iter().find(|name| words(&lower, name).next().is_some()) {
        return Some(name);
    }
    let imports = words(&lower, "import").any(|at| {
        let rest = skip_blanks(&lower[at + "import".len()..]);
        rest.strip_prefix("database").is_some_and(|after| !after.starts_with(is_word_char))
    });
    if imports {
        return Some("import_database");
    }
    words(&lower, "query")
        .any(|at| {
            let Some(args) = skip_blanks(&lower[at + "query".len()..]).strip_prefix('(') else { return false };
            !is_one_literal(args) && !defines_name(&lower[..at])
        })
        .then_some("query")
}

/// Where `name` stands in `text` as a word of its own.
fn words<'a>(text: &'a str, name: &'a str) -> impl Iterator<Item = usize> + 'a {
    text.match_indices(name)
        .map(|(at, _)| at)
        .filter(move |&at| !text[..at].ends_with(is_word_char) && !text[at + name.len()..].starts_with(is_word_char))
}

/// Characters DuckDB reads as part of a name next to an ASCII one. (Anything else, even
/// an invisible U+200B that DuckDB reads as a space, ends a word here.)
fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '$'
}

/// Whether the text before a name ends with a [`DEFINING`] keyword (then quote and white
/// space), outside of a `--` comment on its line. Anything else — a comment, a schema
/// qualifier — does not count: refusing is the safe side.
fn defines_name(before: &str) -> bool {
    let before = before.strip_suffix('"').unwrap_or(before).trim_end_matches([' ', '\t', '\n', '\r']);
    DEFINING.iter().any(|keyword| {
        before.strip_suffix(keyword).is_some_and(|rest| {
            let line = &rest[rest.rfind(['\n', '\r']).map_or(0, |at| at + 1)..];
            !rest.ends_with(is_word_char) && !line.contains("--")
        })
    })
}

/// Whether call arguments `args` (after the `(`) are one plain string literal and nothing
/// else (not `E'…'`, `$$…$$`, nor literals that SQL joins across a line break).
fn is_one_literal(args: &str) -> bool {
    let Some(mut rest) = skip_blanks(args).strip_prefix('\'') else { return false };
    while let Some(end) = rest.find('\'') {
        match rest[end + 1..].strip_prefix('\'') {
            Some(after_quote) => rest = after_quote,
            None => return skip_blanks(&rest[end + 1..]).starts_with(')'),
        }
    }
    false
}

/// Whether the statement may change a schema (and so is checked against bucket schemas).
fn changes_schema(ty: StatementType) -> bool {
    !matches!(
        ty,
        StatementType::Select
            | StatementType::Insert
            | StatementType::Update
            | StatementType::Delete
            | StatementType::Explain
            | StatementType::Transaction
    )
}

/// Whether the statement adds data (refused over the size limit).
fn grows(ty: StatementType) -> bool {
    matches!(ty, StatementType::Insert | StatementType::Update | StatementType::Create)
}

fn first_words(sql: &str, n: usize) -> Vec<String> {
    sql.split(|c: char| c.is_whitespace() || c == '(' || c == ';')
        .filter(|w| !w.is_empty())
        .take(n)
        .map(str::to_ascii_uppercase)
        .collect()
}

/// `ALTER TABLE …` as `ALTER VIEW …`, if that is how the statement starts.
fn as_alter_view(sql: &str) -> Option<String> {
    let statement = skip_blanks(sql);
    let words = first_words(statement, 2);
    if words != ["ALTER", "TABLE"] {
        return None;
    }
    let table_at = statement.to_ascii_uppercase().find("TABLE")?;
    Some(format!("ALTER VIEW{}", &statement[table_at + "TABLE".len()..]))
}

/// The PostgreSQL command tag of a statement that returns no rows (`CREATE TABLE`, …).
fn command_tag(sql: &str) -> String {
    let words: Vec<String> = first_words(skip_blanks(sql), 6)
        .into_iter()
        .filter(|w| !matches!(w.as_str(), "OR" | "REPLACE" | "TEMP" | "TEMPORARY" | "UNIQUE" | "IF" | "MATERIALIZED"))
        .collect();
    match words.first().map(String::as_str) {
        Some("CREATE" | "DROP" | "ALTER") if words.len() > 1 => format!("{} {}", words[0], words[1]),
        Some(w) => w.to_owned(),
        None => "OK".to_owned(),
    }
}

/// What a statement is, read from the client's text (the tag names what the client wrote:
/// ALTER TABLE stays ALTER TABLE when a view is renamed through ALTER VIEW).
fn kind_of(ty: StatementType, sql: &str) -> StatementKind {
    if first_words(sql, 1).first().is_some_and(|w| w == "TRUNCATE") {
        return StatementKind::Other("TRUNCATE TABLE".into());
    }
    if ty == StatementType::Create && dialect::creates_table_as(sql) {
        // PostgreSQL counts the rows CREATE TABLE … AS wrote: `SELECT 5`.
        return StatementKind::Other("SELECT".into());
    }
    match ty {
        StatementType::Select => StatementKind::Query,
        StatementType::Insert => StatementKind::Insert,
        StatementType::Update => StatementKind::Update,
        StatementType::Delete => StatementKind::Delete,
        StatementType::Transaction => match first_words(sql, 1).first().map(String::as_str) {
            Some("BEGIN" | "START") => StatementKind::Begin,
            Some("COMMIT" | "END") => StatementKind::Commit,
            _ => StatementKind::Rollback,
        },
        _ => StatementKind::Other(command_tag(sql)),
    }
}

/// What an EXPLAIN statement explains, and how.
struct Explain<'a> {
    statement: &'a str,
    /// `ANALYZE` or any option list: DuckDB may run the statement.
    runs: bool,
    /// `(FORMAT json)` and the like: the plan is not shown as text lines.
    options: bool,
}

/// The parts of `sql` if it is an EXPLAIN (`EXPLAIN [ANALYZE] stmt`, `EXPLAIN (opts) stmt`).
/// An option list may hold only words, commas and spaces — a comment or quote there could
/// hide where it ends (found in review: `(FORMAT text /*) SELECT 1 --*/, ANALYZE)`) — and
/// counts as running the statement, whatever it says.
fn explain_of(sql: &str) -> Option<Explain<'_>> {
    let (word, rest) = skip_blanks(sql).split_at_checked(7)?;
    if !word.eq_ignore_ascii_case("explain") || rest.starts_with(is_word_char) {
        return None;
    }
    let rest = skip_blanks(rest);
    if let Some(inside) = rest.strip_prefix('(') {
        let end = inside.find(|c: char| !(is_word_char(c) || c == ',' || c.is_ascii_whitespace()))?;
        let after = inside[end..].strip_prefix(')')?;
        return Some(Explain { statement: skip_blanks(after), runs: true, options: true });
    }
    let first = rest.split(|c: char| !is_word_char(c)).next().unwrap_or_default();
    Some(match is_analyze(first) {
        true => Explain { statement: skip_blanks(&rest[first.len()..]), runs: true, options: false },
        false => Explain { statement: rest, runs: false, options: false },
    })
}

fn is_analyze(word: &str) -> bool {
    word.eq_ignore_ascii_case("analyze") || word.eq_ignore_ascii_case("analyse")
}

fn types_of(prepared: &Prepared) -> Vec<TypeInfo> {
    prepared.columns().into_iter().map(|(_, t)| t).collect()
}

/// DML without RETURNING reports one `Count` column; that is not a result set.
fn is_count_only(columns: &[SqlColumn]) -> bool {
    columns.len() == 1 && columns[0].name == "Count" && columns[0].ty == SqlType::Int8
}

/// A bound value as a DuckDB literal.
fn sql_literal(value: &SqlParam) -> String {
    match value {
        SqlParam::Null => "NULL".to_owned(),
        SqlParam::Text(s) => crate::sql::literal(s),
        SqlParam::Bool(b) => b.to_string(),
        SqlParam::Int(i) => i.to_string(),
        SqlParam::Float(f) if f.is_finite() => format!("{f:?}::DOUBLE"),
        SqlParam::Float(f) => format!("'{f}'::DOUBLE"),
        SqlParam::Bytes(b) => format!("from_hex('{}')", b.iter().map(|x| format!("{x:02x}")).collect::<String>()),
    }
}

/// The type a parameter is cast to, if any: the declared one where the engine infers
/// none or a narrower number (`id < $1` with a BIGINT value), text where neither knows.
fn parameter_cast(declared: Option<&SqlType>, inferred: &SqlType) -> Option<String> {
    use SqlType::*;
    match (declared, inferred) {
        (None | Some(Text | Unknown), Unknown) => Some("VARCHAR".to_owned()),
        (Some(d), Unknown) => duckdb_type(d),
        (Some(d @ (Int8 | Float4 | Float8 | Numeric { .. })), Int2 | Int4) => duckdb_type(d),
        (Some(d @ (Float4 | Float8 | Numeric { .. })), Int8) => duckdb_type(d),
        _ => None,
    }
}

/// A literal of parameter type `t`, to describe a statement with before its values come.
fn stand_in(t: &SqlType) -> String {
    match duckdb_type(t) {
        Some(name) if name != "VARCHAR" => format!("CAST(NULL AS {name})"),
        _ => "''".to_owned(),
    }
}

/// DuckDB's name for a client-declared type.
fn duckdb_type(t: &SqlType) -> Option<String> {
    use SqlType::*;
    let name = match t {
        Bool => "BOOLEAN",
        Int2 => "SMALLINT",
        Int4 => "INTEGER",
        Int8 => "BIGINT",
        Float4 => "REAL",
        Float8 => "DOUBLE",
        Numeric { precision, scale } => return Some(format!("DECIMAL({precision}, {scale})")),
        Text | Json => "VARCHAR",
        Bytea => "BLOB",
        Date => "DATE",
        Time => "TIME",
        Timestamp => "TIMESTAMP",
        TimestampTz => "TIMESTAMPTZ",
        Interval => "INTERVAL",
        Uuid => "UUID",
        Oid => "UINTEGER",
        Array(_) | Int2Vector | OidVector | Unknown => return None,
    };
    Some(name.to_owned())
}

/// The columns a client sees: PostgreSQL's one `QUERY PLAN` column for EXPLAIN.
fn result_columns(prepared: &Prepared, ty: StatementType) -> Vec<SqlColumn> {
    match ty {
        StatementType::Explain => vec![SqlColumn { name: "QUERY PLAN".to_owned(), ty: SqlType::Text }],
        _ => columns_of(prepared),
    }
}

/// A plan as PostgreSQL shows it, a row per line: DuckDB returns a key and a value column,
/// the value holding the whole drawn plan (psql would print it as one wrapped cell).
fn plan_lines(batch: RecordBatch) -> Result<RecordBatch> {
    let Some(plans) = batch.columns().last().and_then(|c| c.as_string_opt::<i32>()) else { return Ok(batch) };
    let lines: StringArray = plans.iter().flatten().flat_map(str::lines).map(Some).collect();
    let schema = Schema::new(vec![Field::new("QUERY PLAN", DataType::Utf8, false)]);
    RecordBatch::try_new(Arc::new(schema), vec![Arc::new(lines)]).map_err(|e| StorageError::internal(e.to_string()))
}

fn columns_of(prepared: &Prepared) -> Vec<SqlColumn> {
    prepared.columns().into_iter().map(|(name, info)| vector_column(SqlColumn { name, ty: sql_type(&info) })).collect()
}

/// The catalog's vector columns keep PostgreSQL's type when selected as they are: the
/// emulation holds them as lists (clients `unnest` them), and DuckDB keeps no type names a
/// result could carry, so the column's name tells. (SQLAlchemy splits `indkey` on spaces.)
fn vector_column(column: SqlColumn) -> SqlColumn {
    const INT2VECTOR: &[&str] = &["indkey", "indoption", "tgattr", "partattrs", "stxkeys"];
    const OIDVECTOR: &[&str] = &["indclass", "indcollation", "proargtypes", "partclass", "partcollation"];
    let integers =
        matches!(&column.ty, SqlType::Array(inner) if matches!(**inner, SqlType::Int2 | SqlType::Int4 | SqlType::Int8));
    let name = column.name.as_str();
    let ty = match () {
        _ if integers && INT2VECTOR.contains(&name) => SqlType::Int2Vector,
        _ if integers && OIDVECTOR.contains(&name) => SqlType::OidVector,
        _ => return column,
    };
    SqlColumn { ty, ..column }
}

fn returns_rows(ty: StatementType, columns: &[SqlColumn]) -> bool {
    match ty {
        StatementType::Insert | StatementType::Update | StatementType::Delete => !is_count_only(columns),
        StatementType::Create | StatementType::Drop | StatementType::Alter | StatementType::Transaction => false,
        _ => !columns.is_empty(),
    }
}

impl SqlSession for DuckSession {
    fn describe(&mut self, sql: &str, values: Option<&[SqlParam]>) -> Result<Described> {
        let (prepared, ty, rewritten) = self.prepare(sql)?;
        let kind = kind_of(ty, sql);
        let casts = dialect::parameter_types(sql);
        let sql = rewritten;
        let params: Vec<SqlType> = prepared
            .parameter_types()
            .iter()
            .enumerate()
            .map(|(i, t)| match sql_type(t) {
                // Typed by an explicit cast or a catalog function, as in PostgreSQL, or else
                // as text: PostgreSQL resolves a parameter nothing constrains as text.
                SqlType::Unknown => casts.iter().find(|(n, _)| *n == i + 1).map_or(SqlType::Text, |(_, t)| t.clone()),
                t => t,
            })
            .collect();
        let mut columns = result_columns(&prepared, ty);
        if columns.iter().any(|c| c.ty == SqlType::Unknown) {
            columns = match values {
                Some(values) => self.columns_with_values(&sql, values)?,
                // Described before any value is bound (asyncpg describes at Parse): values of
                // the parameters' types stand in; the columns stay unknown if even that fails.
                None => {
                    let stand_ins: Vec<String> = params.iter().map(stand_in).collect();
                    match self.prepare_one(&with_parameter_literals(&sql, &stand_ins)) {
                        Ok((prepared, _)) => columns_of(&prepared),
                        Err(_) => columns,
                    }
                }
            };
        }
        self.name_like_postgres(ty, &sql, &mut columns);
        let columns = returns_rows(ty, &columns).then_some(columns);
        Ok(Described { kind, params, columns })
    }

    fn declare_parameters(&mut self, sql: &str, declared: &[Option<SqlType>]) -> Result<String> {
        let (prepared, _, _) = self.prepare(sql)?;
        let inferred: Vec<SqlType> = prepared.parameter_types().iter().map(sql_type).collect();
        // Typed by the statement itself (a cast, a catalog function) where the client said
        // nothing: cast to that type (an untyped parameter leaves DuckDB unable to type the
        // result), which describe reads back.
        let typed = dialect::parameter_types(sql);
        let mut changed = false;
        let params: Vec<String> = inferred
            .iter()
            .enumerate()
            .map(|(i, inferred)| {
                let declared = declared
                    .get(i)
                    .cloned()
                    .flatten()
                    .or_else(|| typed.iter().find(|(n, _)| *n == i + 1).map(|(_, t)| t.clone()));
                match parameter_cast(declared.as_ref(), inferred) {
                    Some(to) => {
                        changed = true;
                        format!("CAST(${} AS {to})", i + 1)
                    }
                    None => format!("${}", i + 1),
                }
            })
            .collect();
        Ok(if changed { with_parameter_literals(sql, &params) } else { sql.to_owned() })
    }

    fn set_search_path(&mut self, schemas: &[String]) -> Result<()> {
        let known: Vec<String> = self.ws.schemas(&mut self.conn)?;
        let mut path: Vec<&str> = schemas
            .iter()
            .map(|s| if s.eq_ignore_ascii_case("public") { "main" } else { s.as_str() })
            .filter(|s| known.iter().any(|k| k == s))
            .collect();
        if path.is_empty() {
            path.push("main");
        }
        self.conn.execute_batch(&search_path(&path)).map_err(|e| sql_error(&e.message))
    }

    fn set_time_zone(&mut self, zone: Option<&str>) -> Result<()> {
        self.zone = match zone {
            None => None,
            Some(name) => Some(name.parse().map_err(|_| {
                StorageError::new(
                    ErrorKind::Invalid,
                    "22023",
                    format!("invalid value for parameter \"TimeZone\": \"{name}\""),
                )
            })?),
        };
        Ok(())
    }

    fn execute(&mut self, sql: &str, params: &[SqlParam], sink: &mut dyn RowSink) -> Result<(StatementKind, Outcome)> {
        let (prepared, ty, rewritten) = self.prepare(sql)?;
        let kind = kind_of(ty, sql);
        let outcome = match dialect::sequenced_table(sql).filter(|_| ty == StatementType::Create) {
            // The sequences of its serial columns first, in the same transaction.
            Some(statements) => self.execute_guarded(|conn| {
                conn.execute_batch(&statements.join(";\n")).map(|_| Outcome::Done).map_err(|e| sql_error(&e.message))
            }),
            None => self.run(prepared, &rewritten, ty, &kind, params, sink),
        }
        .map_err(|e| in_read_only(e, &kind))?;
        Ok((kind, outcome))
    }

    fn interrupter(&self) -> Arc<dyn Fn() + Send + Sync> {
        let interrupter = self.interrupter.clone();
        Arc::new(move || interrupter.interrupt())
    }

    fn in_transaction(&self) -> bool {
        self.transaction.is_some()
    }

    fn copy_in(
        &mut self,
        schema: Option<&str>,
        table: &str,
        columns: &[String],
        rows: &mut dyn Iterator<Item = Result<Vec<Option<String>>>>,
    ) -> Result<u64> {
        self.ws.ensure_open()?;
        // `public` is the workspace's own schema, DuckDB's `main`.
        let schema = match schema {
            None => "main",
            Some(s) if s.eq_ignore_ascii_case("public") => "main",
            Some(s) => s,
        };
        if is_bucket_schema(schema) {
            return Err(read_only());
        }
        self.ws.ensure_room()?;
        let autocommit = self.transaction.is_none();
        if autocommit {
            self.conn.execute_batch("BEGIN").map_err(|e| sql_error(&e.message))?;
        }
        let appended = (|| {
            let mut appender = self.conn.appender(schema, table, columns).map_err(|e| sql_error(&e.message))?;
            let mut n = 0u64;
            let expected = appender.column_count();
            for row in rows {
                let row = row?;
                if row.len() != expected {
                    let message = format!("a COPY row has {} fields where the table takes {expected}", row.len());
                    return Err(StorageError::new(ErrorKind::Invalid, "22P04", message));
                }
                appender.append_row(&row).map_err(|e| sql_error(&e.message))?;
                n += 1;
            }
            appender.flush().map_err(|e| sql_error(&e.message))?;
            self.ws.ensure_room_for_pending()?;
            Ok(n)
        })();
        match appended {
            Ok(n) => {
                if autocommit {
                    self.conn.execute_batch("COMMIT").map_err(|e| sql_error(&e.message))?;
                }
                Ok(n)
            }
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                self.transaction = None;
                Err(e)
            }
        }
    }
}

impl Drop for DuckSession {
    fn drop(&mut self) {
        self.ws.remove_session(self.key);
    }
}

fn writes_view(message: &str) -> bool {
    message.contains("is not an table")
        || message.contains("Can only update base table")
        || message.contains("Can only delete from base table")
}

/// Maps a DuckDB error message to the SQLSTATE PostgreSQL would report.
pub(crate) fn sql_error(message: &str) -> StorageError {
    if writes_view(message) {
        let table = message.split_once("Error: ").and_then(|(_, rest)| rest.strip_suffix(" is not an table"));
        return read_only_table(table);
    }
    if let Some(too_long) = dialect::too_long(message) {
        return StorageError::new(ErrorKind::Unprocessable, "22001", too_long);
    }
    let (class, rest) = message.split_once(" Error: ").unwrap_or(("", message));
    let lower = rest.to_ascii_lowercase();
    let (kind, code) = match class {
        "Parser" => (ErrorKind::Invalid, "42601"),
        "Catalog" if lower.contains("does not exist") || lower.contains("not found") => {
            if lower.contains("schema") {
                (ErrorKind::NotFound, "3F000")
            } else if lower.contains("function") || lower.contains("macro") {
                (ErrorKind::NotFound, "42883")
            } else {
                (ErrorKind::NotFound, "42P01")
            }
        }
        "Catalog" if lower.contains("already exists") => (ErrorKind::Conflict, "42P07"),
        "Catalog" => (ErrorKind::Invalid, "42P01"),
        "Binder" if lower.contains("column") && (lower.contains("not found") || lower.contains("does not have")) => {
            (ErrorKind::Invalid, "42703")
        }
        "Binder" if lower.contains("no function matches") || lower.contains("function") => {
            (ErrorKind::Invalid, "42883")
        }
        // A table or bucket `storage_table` cannot find, a reference to no table.
        "Binder" if lower.contains("not found") => (ErrorKind::NotFound, "42P01"),
        "Binder" => (ErrorKind::Invalid, "42804"),
        "Conversion" if lower.contains("date field value out of range") => (ErrorKind::Unprocessable, "22008"),
        "Conversion" if lower.contains("out of range") => (ErrorKind::Unprocessable, "22003"),
        "Conversion" => (ErrorKind::Unprocessable, "22P02"),
        // The appender's (COPY FROM STDIN) conversion errors come without a class.
        "" if lower.starts_with("could not convert string") => (ErrorKind::Unprocessable, "22P02"),
        "Out of Range" => (ErrorKind::Unprocessable, "22003"),
        "Constraint" if lower.contains("not null") => (ErrorKind::Unprocessable, "23502"),
        "Constraint" if lower.contains("foreign key") => (ErrorKind::Unprocessable, "23503"),
        "Constraint" if lower.contains("check") => (ErrorKind::Unprocessable, "23514"),
        "Constraint" => (ErrorKind::Conflict, "23505"),
        "Invalid Input" if lower.contains("division by zero") => (ErrorKind::Unprocessable, "22012"),
        "Invalid Input" => (ErrorKind::Unprocessable, "22023"),
        "Permission" => (ErrorKind::Forbidden, "42501"),
        "INTERRUPT" | "Interrupt" => (ErrorKind::Unavailable, "57014"),
        "TransactionContext" if lower.contains("conflict") => (ErrorKind::Conflict, "40001"),
        "TransactionContext" if lower.contains("aborted") => (ErrorKind::Conflict, "25P02"),
        "TransactionContext" => (ErrorKind::Conflict, "25000"),
        "Not implemented" => (ErrorKind::Unsupported, "0A000"),
        "Out of Memory" => (ErrorKind::Unavailable, "53200"),
        "Dependency" => (ErrorKind::Conflict, "2BP01"),
        _ => (ErrorKind::Internal, "XX000"),
    };
    StorageError::new(kind, code, message.to_owned())
}

/// Where DuckDB's parser error points, as PostgreSQL's 1-based character position in
/// `sql`: DuckDB prints the statement's line (`LINE n: …`) and a caret under the spot.
/// Lines it shortened (with `...`) give no position rather than a wrong one.
pub(crate) fn error_position(message: &str, sql: &str) -> Option<u32> {
    let mut lines = message.lines();
    let shown = lines.find(|l| l.starts_with("LINE "))?;
    let caret = lines.next()?;
    let (number, text) = shown.strip_prefix("LINE ")?.split_once(": ")?;
    let line: usize = number.parse().ok()?;
    if text.starts_with("...") || text.ends_with("...") {
        return None;
    }
    let prefix = shown.len() - text.len();
    let column = caret.find('^')?.checked_sub(prefix)?;
    let before: usize = sql.split('\n').take(line.checked_sub(1)?).map(|l| l.chars().count() + 1).sum();
    let in_line = sql.split('\n').nth(line - 1)?;
    // The caret counts bytes of the shown line; PostgreSQL counts characters.
    let chars = in_line.get(..column.min(in_line.len()))?.chars().count();
    u32::try_from(before + chars + 1).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parser_errors_point_where_postgres_would() {
        // DuckDB 1.5.5's own message for this statement; PostgreSQL answers position 14.
        let message = "Parser Error: syntax error at or near \"x\"\n\nLINE 1: select 1 frm x\n                     ^";
        assert_eq!(error_position(message, "select 1 frm x"), Some(14));
        let caret = format!("{}^", " ".repeat(16));
        let message = format!("Parser Error: syntax error at or near \"x\"\n\nLINE 2: where x x\n{caret}");
        assert_eq!(error_position(&message, "select 1\nwhere x x"), Some(18));
        assert_eq!(error_position("Binder Error: nope", "select"), None);
    }

    #[test]
    fn duckdb_errors_map_to_postgres_sqlstates() {
        assert_eq!(sql_error("Parser Error: syntax error at or near \"SELEC\"").code, "42601");
        assert_eq!(sql_error("Catalog Error: Table with name nope does not exist!").code, "42P01");
        assert_eq!(sql_error("Binder Error: Referenced column \"x\" not found in FROM clause!").code, "42703");
        assert_eq!(sql_error("Binder Error: bucket in.c-x not found").code, "42P01");
        assert_eq!(sql_error("Permission Error: Cannot access file \"/etc/passwd\"").code, "42501");
        assert_eq!(sql_error("INTERRUPT Error: Interrupted!").code, "57014");
        assert_eq!(sql_error("Conversion Error: Could not convert string 'x' to INT32").code, "22P02");
        assert_eq!(sql_error("Could not convert string 'x' to INT32").code, "22P02");
        let overflow =
            "Conversion Error: Casting value \"123456789.5\" to type DECIMAL(10,2) failed: value is out of range!";
        assert_eq!(sql_error(overflow).code, "22003");
        assert_eq!(sql_error("Conversion Error: date field value out of range: \"2024-02-30\"").code, "22008");
    }

    #[test]
    fn explains_are_read_for_their_statement_and_whether_they_run_it() {
        let read = |sql| explain_of(sql).map(|e| (e.statement, e.runs, e.options));
        assert_eq!(read("  explain\n SELECT 1"), Some(("SELECT 1", false, false)));
        assert_eq!(read("EXPLAIN ANALYZE COPY t TO 'x'"), Some(("COPY t TO 'x'", true, false)));
        assert_eq!(read("EXPLAIN/**/analyse\tSELECT 1"), Some(("SELECT 1", true, false)));
        assert_eq!(read("EXPLAIN (FORMAT json) SELECT 1"), Some(("SELECT 1", true, true)));
        assert_eq!(read("EXPLAIN (FORMAT json, ANALYZE) PRAGMA x"), Some(("PRAGMA x", true, true)));
        assert!(read("EXPLAIN (FORMAT text /*) SELECT 1 --*/, ANALYZE) COPY t TO 'x'").is_none());
        assert!(read("EXPLAIN (FORMAT 'json') SELECT 1").is_none());
        assert_eq!(read("EXPLAINSELECT 1"), None);
    }

    #[test]
    fn engine_switches_are_found_wherever_they_are_called() {
        for sql in [
            "SELECT * FROM enable_logging(storage := 'stdout')",
            "CALL ENABLE_LOGGING ()",
            r#"SELECT * FROM system.main."enable_profiling"()"#,
            "SELECT * FROM query('SELECT * FROM truncate_duckdb_logs()')",
            "SELECT * FROM query(getvariable('q'))",
            "SELECT * FROM query('SELECT * FROM enable_log' || 'ging()')",
            "SELECT * FROM query('SELECT * FROM enable_log'\n'ging()')",
            "CREATE MACRO m(q) AS TABLE SELECT * FROM query(q)",
            "SELECT * FROM query/* /* nested */ */ -- line\n(getvariable('q'))",
            // Found in review: a quote right after a keyword, invisible characters, a `--`
            // comment ended by \r, a keyword in a comment, a pragma that becomes a SELECT.
            r#"SELECT*FROM"enable_logging"(storage:='stdout')"#,
            "CALL enable_logging\u{200b}(storage := 'stdout')",
            "SELECT * FROM query --x\r(getvariable('q'))",
            "SELECT * FROM query\u{feff}(getvariable('q'))",
            "SELECT * FROM -- table\n query('SELECT 1' || '')",
            "SELECT * FROM /* into */ query('SELECT 1' || '')",
            r#"PRAGMA"json_execute_serialized_sql"('{}')"#,
            "PRAGMA import_database('/tmp/x')",
            "SELECT 1; import/**/DATABASE '/tmp/x'",
        ] {
            assert!(engine_switch_called(sql).is_some(), "{sql:?}");
        }
        for sql in [
            "SELECT * FROM query('SELECT 42')",
            "SELECT * FROM query( 'SELECT ''a''' )",
            "INSERT INTO query (id, text) VALUES (1, 'a query, see ticket 42')",
            r#"CREATE TABLE IF NOT EXISTS "query" (id INT)"#,
            "CREATE INDEX i ON query (id)",
            "WITH query(a) AS (SELECT 1) SELECT * FROM query",
            "SELECT query, my_query(1), enable_logging_at FROM logs",
        ] {
            assert_eq!(engine_switch_called(sql), None, "{sql}");
        }
    }

    #[test]
    fn command_tags_follow_postgres() {
        assert_eq!(command_tag("create or replace temp table t (a int)"), "CREATE TABLE");
        assert_eq!(command_tag("DROP VIEW IF EXISTS v"), "DROP VIEW");
        assert_eq!(command_tag("checkpoint"), "CHECKPOINT");
        assert_eq!(command_tag("/* dbt */ create table t (a int)"), "CREATE TABLE");
        assert_eq!(as_alter_view("/* x */ alter  table v rename to w").as_deref(), Some("ALTER VIEW v rename to w"));
        assert_eq!(as_alter_view("alter view v rename to w"), None);
        assert_eq!(command_tag("-- model\ncreate view v as select 1"), "CREATE VIEW");
    }
}
