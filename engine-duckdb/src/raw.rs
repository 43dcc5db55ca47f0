//! Thin safe wrappers over the DuckDB C API, for what the `duckdb` crate does not expose:
//! owning a database handle (to lock it down and make raw connections), splitting SQL
//! into statements, preparing without executing (parameter and result types), statement
//! types, interrupting a connection from another thread, and streaming results whose
//! chunks DuckDB itself converts to Arrow.
//!
//! Ownership rules (from duckdb.h): every handle here is destroyed exactly once by its
//! wrapper's Drop; a connection is used by one thread at a time; only its interrupt
//! handle crosses threads, and only while the connection is alive.

use std::ffi::{CStr, CString, c_char};
use std::ptr;
use std::sync::Arc;

use duckdb::arrow::array::{RecordBatch, StructArray};
use duckdb::arrow::ffi::{FFI_ArrowArray, FFI_ArrowSchema, from_ffi};
use duckdb::ffi;
use parking_lot::Mutex;

use duckstore_plugin_sdk::{Result, StorageError};

use crate::error::classify_sql as classify;

fn message(p: *const c_char) -> String {
    if p.is_null() {
        "unknown DuckDB error".to_owned()
    } else {
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }
}

fn cstring(s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| StorageError::invalid("invalid_sql", "SQL text must not contain NUL bytes"))
}

/// An open database; closed when the last clone drops (after every connection).
pub struct Database {
    handle: ffi::duckdb_database,
}

// SAFETY: a duckdb_database may be used from any thread.
unsafe impl Send for Database {}
unsafe impl Sync for Database {}

impl Database {
    /// Opens `path` with the given configuration options, applied in order.
    pub fn open(path: &str, options: &[(&str, String)]) -> Result<Arc<Self>> {
        unsafe {
            let mut config: ffi::duckdb_config = ptr::null_mut();
            if ffi::duckdb_create_config(&mut config) != ffi::DuckDBSuccess {
                return Err(StorageError::internal("could not create a DuckDB configuration"));
            }
            for (key, value) in options {
                let (k, v) = (cstring(key)?, cstring(value)?);
                if ffi::duckdb_set_config(config, k.as_ptr(), v.as_ptr()) != ffi::DuckDBSuccess {
                    ffi::duckdb_destroy_config(&mut config);
                    return Err(StorageError::internal(format!("DuckDB rejected option {key}={value}")));
                }
            }
            let path = cstring(path)?;
            let (mut db, mut err) = (ptr::null_mut(), ptr::null_mut::<c_char>());
            let rc = ffi::duckdb_open_ext(path.as_ptr(), &mut db, config, &mut err);
            ffi::duckdb_destroy_config(&mut config);
            if rc != ffi::DuckDBSuccess {
                let m = message(err);
                if !err.is_null() {
                    ffi::duckdb_free(err.cast());
                }
                return Err(classify(&m));
            }
            Ok(Arc::new(Self { handle: db }))
        }
    }

    /// A safe-API connection on this database (for internal work and table functions).
    pub fn safe_connection(&self) -> Result<duckdb::Connection> {
        // SAFETY: the handle is open; the safe connection does not close the database.
        unsafe { duckdb::Connection::open_from_raw(self.handle) }.map_err(crate::error::db_err)
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        unsafe { ffi::duckdb_close(&mut self.handle) }
    }
}

/// A raw connection. It keeps its database alive.
pub struct RawConnection {
    handle: Arc<Mutex<ffi::duckdb_connection>>,
    _db: Arc<Database>,
}

// SAFETY: used by one thread at a time (not Sync); moving it between threads is allowed.
unsafe impl Send for RawConnection {}

/// Interrupts whatever the connection is running; harmless after the connection closed.
#[derive(Clone)]
pub struct Interrupter(Arc<Mutex<ffi::duckdb_connection>>);

// SAFETY: duckdb_interrupt is thread-safe; the mutex orders it against disconnect.
unsafe impl Send for Interrupter {}
unsafe impl Sync for Interrupter {}

impl Interrupter {
    pub fn interrupt(&self) {
        let conn = self.0.lock();
        if !conn.is_null() {
            unsafe { ffi::duckdb_interrupt(*conn) }
        }
    }
}

impl RawConnection {
    // The handle is shared only with `Interrupter`, whose Send/Sync impls are justified there.
    #[allow(clippy::arc_with_non_send_sync)]
    pub fn connect(db: &Arc<Database>) -> Result<Self> {
        let mut conn = ptr::null_mut();
        if unsafe { ffi::duckdb_connect(db.handle, &mut conn) } != ffi::DuckDBSuccess {
            return Err(StorageError::internal("could not connect to a DuckDB database"));
        }
        Ok(Self { handle: Arc::new(Mutex::new(conn)), _db: db.clone() })
    }

    fn raw(&self) -> ffi::duckdb_connection {
        *self.handle.lock()
    }

    pub fn interrupter(&self) -> Interrupter {
        Interrupter(self.handle.clone())
    }

    /// Splits `sql` into the text of its statements (empty for an empty or comment-only query).
    pub fn split(&mut self, sql: &str) -> Result<Vec<Extracted>> {
        let text = cstring(sql)?;
        let mut ex: ffi::duckdb_extracted_statements = ptr::null_mut();
        let n = unsafe { ffi::duckdb_extract_statements(self.raw(), text.as_ptr(), &mut ex) };
        let guard = ExtractedGuard(ex);
        if n == 0 {
            let err = unsafe { ffi::duckdb_extract_statements_error(guard.0) };
            return if err.is_null() {
                Ok(Vec::new())
            } else {
                let text = message(err);
                Err(classify(&if text.starts_with("Parser Error") { text } else { format!("Parser Error: {text}") }))
            };
        }
        let guard = Arc::new(guard);
        Ok((0..n).map(|index| Extracted { set: guard.clone(), index }).collect())
    }

    /// Prepares one statement (already split) without running it.
    pub fn prepare(&mut self, statement: &Extracted) -> Result<Prepared> {
        let mut st: ffi::duckdb_prepared_statement = ptr::null_mut();
        let rc =
            unsafe { ffi::duckdb_prepare_extracted_statement(self.raw(), statement.set.0, statement.index, &mut st) };
        let prepared = Prepared(st);
        if rc != ffi::DuckDBSuccess {
            return Err(classify(&message(unsafe { ffi::duckdb_prepare_error(prepared.0) })));
        }
        Ok(prepared)
    }

    /// Prepares a single-statement SQL string.
    pub fn prepare_sql(&mut self, sql: &str) -> Result<Prepared> {
        let text = cstring(sql)?;
        let mut st: ffi::duckdb_prepared_statement = ptr::null_mut();
        let rc = unsafe { ffi::duckdb_prepare(self.raw(), text.as_ptr(), &mut st) };
        let prepared = Prepared(st);
        if rc != ffi::DuckDBSuccess {
            return Err(classify(&message(unsafe { ffi::duckdb_prepare_error(prepared.0) })));
        }
        Ok(prepared)
    }
}

impl RawConnection {
    /// The one value `sql` returns for the text parameters `args`, as text; `None` on any
    /// error, NULL, or other than one row (for the engine's own lookups, which fall back).
    pub fn query_text(&mut self, sql: &str, args: &[&str]) -> Option<String> {
        let mut prepared = self.prepare_sql(sql).ok()?;
        prepared.bind(&args.iter().map(|a| Bind::Text(a)).collect::<Vec<_>>()).ok()?;
        let batch = prepared.execute().ok()?.next_batch().ok()??;
        let column = batch.column(0);
        if batch.num_rows() != 1 || column.is_null(0) {
            return None;
        }
        duckdb::arrow::util::display::array_value_to_string(column, 0).ok()
    }

    /// Runs every statement of `sql`, discarding results.
    pub fn execute_batch(&mut self, sql: &str) -> Result<()> {
        for statement in self.split(sql)? {
            self.prepare(&statement)?.execute()?;
        }
        Ok(())
    }

    /// An appender on `schema.table` filling `columns` (the others get their defaults).
    pub fn appender(&mut self, schema: &str, table: &str, columns: &[String]) -> Result<Appender> {
        let (schema, table) = (cstring(schema)?, cstring(table)?);
        let mut handle: ffi::duckdb_appender = ptr::null_mut();
        let rc = unsafe {
            ffi::duckdb_appender_create_ext(self.raw(), ptr::null(), schema.as_ptr(), table.as_ptr(), &mut handle)
        };
        let appender = Appender(handle, Vec::new());
        if rc != ffi::DuckDBSuccess {
            return Err(appender.error());
        }
        let mut appender = appender;
        for column in columns {
            let name = cstring(column)?;
            if unsafe { ffi::duckdb_appender_add_column(appender.0, name.as_ptr()) } != ffi::DuckDBSuccess {
                return Err(appender.error());
            }
        }
        appender.1 = (0..appender.column_count())
            .map(|i| {
                // SAFETY: `i` is below the appender's column count; the type is destroyed here.
                unsafe {
                    let mut ty = ffi::duckdb_appender_column_type(appender.0, i as u64);
                    let blob = ffi::duckdb_get_type_id(ty) == ffi::DUCKDB_TYPE_DUCKDB_TYPE_BLOB;
                    ffi::duckdb_destroy_logical_type(&mut ty);
                    blob
                }
            })
            .collect();
        Ok(appender)
    }
}

/// Appends rows to one table; rows are cast from text by DuckDB. Destroyed (without
/// flushing what was not flushed) on drop.
pub struct Appender(
    ffi::duckdb_appender,
    /// Which columns are BLOB: their text values are PostgreSQL's bytea text (`\x…` hex or
    /// escapes), which DuckDB's own cast from text would read differently.
    Vec<bool>,
);

impl Appender {
    fn error(&self) -> StorageError {
        classify(&message(unsafe { ffi::duckdb_appender_error(self.0) }))
    }

    fn check(&self, rc: ffi::duckdb_state) -> Result<()> {
        if rc == ffi::DuckDBSuccess { Ok(()) } else { Err(self.error()) }
    }

    /// How many values a row takes.
    pub fn column_count(&self) -> usize {
        unsafe { ffi::duckdb_appender_column_count(self.0) as usize }
    }

    /// Appends one row of text values (`None` is NULL).
    pub fn append_row(&mut self, values: &[Option<String>]) -> Result<()> {
        for (i, v) in values.iter().enumerate() {
            let rc = match v {
                None => unsafe { ffi::duckdb_append_null(self.0) },
                Some(s) if self.1.get(i) == Some(&true) => {
                    let bytes = crate::workspaces::dialect::bytea_bytes(s).ok_or_else(|| {
                        StorageError::new(
                            duckstore_plugin_sdk::ErrorKind::Unprocessable,
                            "22P02",
                            format!("invalid input syntax for type bytea: {s:?}"),
                        )
                    })?;
                    // SAFETY: the appender is open; `bytes` outlives the call, which copies it.
                    unsafe { ffi::duckdb_append_blob(self.0, bytes.as_ptr().cast(), bytes.len() as u64) }
                }
                Some(s) => unsafe { ffi::duckdb_append_varchar_length(self.0, s.as_ptr().cast(), s.len() as u64) },
            };
            self.check(rc)?;
        }
        self.check(unsafe { ffi::duckdb_appender_end_row(self.0) })
    }

    /// Writes the appended rows into the table (inside the connection's transaction).
    pub fn flush(&mut self) -> Result<()> {
        self.check(unsafe { ffi::duckdb_appender_flush(self.0) })
    }
}

impl Drop for Appender {
    fn drop(&mut self) {
        unsafe {
            ffi::duckdb_appender_clear(self.0);
            ffi::duckdb_appender_destroy(&mut self.0);
        }
    }
}

impl Drop for RawConnection {
    fn drop(&mut self) {
        let mut conn = self.handle.lock();
        unsafe { ffi::duckdb_disconnect(&mut *conn) };
        *conn = ptr::null_mut();
    }
}

struct ExtractedGuard(ffi::duckdb_extracted_statements);

// SAFETY: only used from the thread of the connection that created it.
unsafe impl Send for ExtractedGuard {}
unsafe impl Sync for ExtractedGuard {}

impl Drop for ExtractedGuard {
    fn drop(&mut self) {
        unsafe { ffi::duckdb_destroy_extracted(&mut self.0) }
    }
}

/// One statement of a split query; it can be prepared once.
pub struct Extracted {
    set: Arc<ExtractedGuard>,
    index: u64,
}

/// What kind of statement a prepared statement is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatementType {
    Select,
    Insert,
    Update,
    Delete,
    Create,
    Drop,
    Alter,
    Transaction,
    Copy,
    Explain,
    Set,
    Other(u32),
}

impl StatementType {
    fn of(raw: ffi::duckdb_statement_type) -> Self {
        use StatementType::*;
        match raw {
            ffi::duckdb_statement_type_DUCKDB_STATEMENT_TYPE_SELECT => Select,
            ffi::duckdb_statement_type_DUCKDB_STATEMENT_TYPE_INSERT => Insert,
            ffi::duckdb_statement_type_DUCKDB_STATEMENT_TYPE_UPDATE => Update,
            ffi::duckdb_statement_type_DUCKDB_STATEMENT_TYPE_DELETE => Delete,
            ffi::duckdb_statement_type_DUCKDB_STATEMENT_TYPE_CREATE => Create,
            ffi::duckdb_statement_type_DUCKDB_STATEMENT_TYPE_DROP => Drop,
            ffi::duckdb_statement_type_DUCKDB_STATEMENT_TYPE_ALTER => Alter,
            ffi::duckdb_statement_type_DUCKDB_STATEMENT_TYPE_TRANSACTION => Transaction,
            ffi::duckdb_statement_type_DUCKDB_STATEMENT_TYPE_COPY => Copy,
            ffi::duckdb_statement_type_DUCKDB_STATEMENT_TYPE_EXPLAIN => Explain,
            ffi::duckdb_statement_type_DUCKDB_STATEMENT_TYPE_SET
            | ffi::duckdb_statement_type_DUCKDB_STATEMENT_TYPE_VARIABLE_SET => Set,
            other => Other(other),
        }
    }
}

/// A logical type, destroyed on drop.
pub struct LogicalType(ffi::duckdb_logical_type);

impl Drop for LogicalType {
    fn drop(&mut self) {
        unsafe { ffi::duckdb_destroy_logical_type(&mut self.0) }
    }
}

/// The parts of a DuckDB logical type the SQL layer maps to PostgreSQL types.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TypeInfo {
    Known(u32),
    Decimal {
        width: u8,
        scale: u8,
    },
    /// A type with an alias, like JSON (a VARCHAR alias).
    Alias(String, u32),
    List(Box<TypeInfo>),
    Unknown,
}

impl LogicalType {
    fn info(&self) -> TypeInfo {
        if self.0.is_null() {
            return TypeInfo::Unknown;
        }
        unsafe {
            let id = ffi::duckdb_get_type_id(self.0);
            let alias = ffi::duckdb_logical_type_get_alias(self.0);
            if !alias.is_null() {
                let name = message(alias);
                ffi::duckdb_free(alias.cast());
                return TypeInfo::Alias(name, id);
            }
            match id {
                ffi::DUCKDB_TYPE_DUCKDB_TYPE_DECIMAL => TypeInfo::Decimal {
                    width: ffi::duckdb_decimal_width(self.0),
                    scale: ffi::duckdb_decimal_scale(self.0),
                },
                ffi::DUCKDB_TYPE_DUCKDB_TYPE_LIST => {
                    TypeInfo::List(Box::new(LogicalType(ffi::duckdb_list_type_child_type(self.0)).info()))
                }
                ffi::DUCKDB_TYPE_DUCKDB_TYPE_INVALID => TypeInfo::Unknown,
                other => TypeInfo::Known(other),
            }
        }
    }
}

/// A prepared statement, destroyed on drop.
pub struct Prepared(ffi::duckdb_prepared_statement);

// SAFETY: used by the thread owning its connection.
unsafe impl Send for Prepared {}

impl Drop for Prepared {
    fn drop(&mut self) {
        unsafe { ffi::duckdb_destroy_prepare(&mut self.0) }
    }
}

/// Ways of binding one parameter.
pub enum Bind<'a> {
    Null,
    /// A string DuckDB casts to whatever the statement needs, like an untyped literal.
    Text(&'a str),
    Bool(bool),
    Int(i64),
    Float(f64),
    Blob(&'a [u8]),
}

impl Prepared {
    pub fn statement_type(&self) -> StatementType {
        StatementType::of(unsafe { ffi::duckdb_prepared_statement_type(self.0) })
    }

    pub fn parameter_types(&self) -> Vec<TypeInfo> {
        let n = unsafe { ffi::duckdb_nparams(self.0) };
        (1..=n).map(|i| LogicalType(unsafe { ffi::duckdb_param_logical_type(self.0, i) }).info()).collect()
    }

    /// How many columns the result has.
    pub fn column_count(&self) -> u64 {
        unsafe { ffi::duckdb_prepared_statement_column_count(self.0) }
    }

    /// Result column names and types, known without executing.
    pub fn columns(&self) -> Vec<(String, TypeInfo)> {
        let n = unsafe { ffi::duckdb_prepared_statement_column_count(self.0) };
        (0..n)
            .map(|i| unsafe {
                let name_ptr = ffi::duckdb_prepared_statement_column_name(self.0, i);
                let name = message(name_ptr);
                if !name_ptr.is_null() {
                    ffi::duckdb_free(name_ptr as *mut _);
                }
                (name, LogicalType(ffi::duckdb_prepared_statement_column_logical_type(self.0, i)).info())
            })
            .collect()
    }

    pub fn bind(&mut self, params: &[Bind<'_>]) -> Result<()> {
        unsafe {
            ffi::duckdb_clear_bindings(self.0);
            let expected = ffi::duckdb_nparams(self.0) as usize;
            if params.len() != expected {
                return Err(StorageError::invalid(
                    "invalid_parameters",
                    format!("the statement takes {expected} parameter(s), {} were given", params.len()),
                ));
            }
            for (i, p) in params.iter().enumerate() {
                let idx = i as u64 + 1;
                let rc = match p {
                    Bind::Null => ffi::duckdb_bind_null(self.0, idx),
                    Bind::Text(s) => ffi::duckdb_bind_varchar_length(self.0, idx, s.as_ptr().cast(), s.len() as u64),
                    Bind::Bool(b) => ffi::duckdb_bind_boolean(self.0, idx, *b),
                    Bind::Int(v) => ffi::duckdb_bind_int64(self.0, idx, *v),
                    Bind::Float(v) => ffi::duckdb_bind_double(self.0, idx, *v),
                    Bind::Blob(b) => ffi::duckdb_bind_blob(self.0, idx, b.as_ptr().cast(), b.len() as u64),
                };
                if rc != ffi::DuckDBSuccess {
                    return Err(StorageError::invalid(
                        "invalid_parameters",
                        format!("could not bind parameter ${idx}"),
                    ));
                }
            }
            Ok(())
        }
    }

    /// Runs the statement, streaming its result.
    pub fn execute(&mut self) -> Result<QueryResult> {
        unsafe {
            let mut res: ffi::duckdb_result = std::mem::zeroed();
            let rc = ffi::duckdb_execute_prepared_streaming(self.0, &mut res);
            let result = QueryResult { res, arrow: None };
            if rc != ffi::DuckDBSuccess {
                return Err(result.error());
            }
            Ok(result)
        }
    }
}

/// What executing a statement produced.
pub enum ResultKind {
    Rows,
    Changed(u64),
    Nothing,
}

/// An executed statement's result; rows are fetched chunk by chunk as Arrow batches.
pub struct QueryResult {
    res: ffi::duckdb_result,
    arrow: Option<(ffi::duckdb_arrow_options, FFI_ArrowSchema)>,
}

// SAFETY: a result is used by one thread at a time, like its connection.
unsafe impl Send for QueryResult {}

impl QueryResult {
    fn error(&self) -> StorageError {
        let mut res = self.res;
        let text = message(unsafe { ffi::duckdb_result_error(&mut res) });
        classify(&text)
    }

    /// Result column names and types as executed: a statement prepared with parameters
    /// DuckDB could not type knows its result types only now.
    pub fn columns(&mut self) -> Vec<(String, TypeInfo)> {
        // SAFETY: the result is alive; the names it returns belong to it and are copied.
        unsafe {
            let n = ffi::duckdb_column_count(&mut self.res);
            (0..n)
                .map(|i| {
                    let name = message(ffi::duckdb_column_name(&mut self.res, i));
                    (name, LogicalType(ffi::duckdb_column_logical_type(&mut self.res, i)).info())
                })
                .collect()
        }
    }

    pub fn kind(&mut self) -> ResultKind {
        unsafe {
            match ffi::duckdb_result_return_type(self.res) {
                ffi::duckdb_result_type_DUCKDB_RESULT_TYPE_CHANGED_ROWS => {
                    ResultKind::Changed(ffi::duckdb_rows_changed(&mut self.res))
                }
                ffi::duckdb_result_type_DUCKDB_RESULT_TYPE_QUERY_RESULT => ResultKind::Rows,
                _ => ResultKind::Nothing,
            }
        }
    }

    fn arrow_schema(&mut self) -> Result<()> {
        if self.arrow.is_some() {
            return Ok(());
        }
        unsafe {
            let options = ffi::duckdb_result_get_arrow_options(&mut self.res);
            let n = ffi::duckdb_column_count(&mut self.res);
            let mut types: Vec<ffi::duckdb_logical_type> =
                (0..n).map(|i| ffi::duckdb_column_logical_type(&mut self.res, i)).collect();
            let mut names: Vec<*const c_char> = (0..n).map(|i| ffi::duckdb_column_name(&mut self.res, i)).collect();
            let mut schema = FFI_ArrowSchema::empty();
            let err = ffi::duckdb_to_arrow_schema(
                options,
                types.as_mut_ptr(),
                names.as_mut_ptr(),
                n,
                &mut schema as *mut _ as *mut ffi::ArrowSchema,
            );
            for t in &mut types {
                ffi::duckdb_destroy_logical_type(t);
            }
            check_error_data(err)?;
            self.arrow = Some((options, schema));
            Ok(())
        }
    }

    /// The next chunk of rows as DuckDB produced it; `None` at the end.
    pub fn next_chunk(&mut self) -> Result<Option<Chunk>> {
        unsafe {
            let mut chunk = ffi::duckdb_fetch_chunk(self.res);
            if chunk.is_null() {
                let mut res = self.res;
                return if ffi::duckdb_result_error(&mut res).is_null() { Ok(None) } else { Err(self.error()) };
            }
            if ffi::duckdb_data_chunk_get_size(chunk) == 0 {
                ffi::duckdb_destroy_data_chunk(&mut chunk);
                return Ok(None);
            }
            Ok(Some(Chunk(chunk)))
        }
    }

    /// The next chunk of rows as an Arrow batch; `None` at the end.
    pub fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        self.arrow_schema()?;
        let Some(chunk) = self.next_chunk()? else { return Ok(None) };
        let (options, schema) = self.arrow.as_ref().expect("set by arrow_schema");
        let mut array = FFI_ArrowArray::empty();
        // SAFETY: the chunk is alive until the end of this scope; DuckDB copies it into `array`.
        let err =
            unsafe { ffi::duckdb_data_chunk_to_arrow(*options, chunk.0, &mut array as *mut _ as *mut ffi::ArrowArray) };
        drop(chunk);
        check_error_data(err)?;
        // SAFETY: `array` was filled by DuckDB against `schema`.
        let data = unsafe { from_ffi(array, schema) }
            .map_err(|e| StorageError::internal(format!("importing a DuckDB chunk: {e}")))?;
        Ok(Some(RecordBatch::from(StructArray::from(data))))
    }
}

impl Drop for QueryResult {
    fn drop(&mut self) {
        unsafe {
            if let Some((mut options, _)) = self.arrow.take() {
                ffi::duckdb_destroy_arrow_options(&mut options);
            }
            ffi::duckdb_destroy_result(&mut self.res);
        }
    }
}

/// A chunk of rows, destroyed on drop.
pub struct Chunk(ffi::duckdb_data_chunk);

// SAFETY: a chunk is plain memory owned by this wrapper.
unsafe impl Send for Chunk {}

impl Chunk {
    /// Makes `out` (a table function's output chunk with the same column types) share this
    /// chunk's vectors: no row is copied, and the data outlives this chunk.
    pub fn reference_into(&self, out: ffi::duckdb_data_chunk) -> Result<()> {
        unsafe {
            let n = ffi::duckdb_data_chunk_get_column_count(self.0);
            if ffi::duckdb_data_chunk_get_column_count(out) != n {
                return Err(StorageError::internal("a bridged chunk has the wrong number of columns"));
            }
            for i in 0..n {
                ffi::duckdb_vector_reference_vector(
                    ffi::duckdb_data_chunk_get_vector(out, i),
                    ffi::duckdb_data_chunk_get_vector(self.0, i),
                );
            }
            ffi::duckdb_data_chunk_set_size(out, ffi::duckdb_data_chunk_get_size(self.0));
            Ok(())
        }
    }
}

impl Drop for Chunk {
    fn drop(&mut self) {
        unsafe { ffi::duckdb_destroy_data_chunk(&mut self.0) }
    }
}

fn check_error_data(mut err: ffi::duckdb_error_data) -> Result<()> {
    unsafe {
        if err.is_null() {
            return Ok(());
        }
        let failed = ffi::duckdb_error_data_has_error(err);
        let text = message(ffi::duckdb_error_data_message(err));
        ffi::duckdb_destroy_error_data(&mut err);
        if failed { Err(classify(&text)) } else { Ok(()) }
    }
}
