//! SQL sessions: what the PostgreSQL wire server asks of an engine for one client
//! connection to a workspace.
//!
//! The wire server owns the protocol (authentication, message flow, SET/SHOW, COPY
//! framing, type OIDs and encodings); the engine owns SQL: it executes one statement at
//! a time in PostgreSQL's dialect as far as it can emulate it, and hands rows over as
//! Arrow record batches, never materializing a whole result.

use std::sync::Arc;

use arrow_array::RecordBatch;

use crate::error::Result;

/// A column or parameter type, as PostgreSQL clients are told about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SqlType {
    Bool,
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
    Numeric {
        precision: u8,
        scale: u8,
    },
    Text,
    Bytea,
    Date,
    Time,
    Timestamp,
    TimestampTz,
    Interval,
    Uuid,
    Json,
    Array(Box<SqlType>),
    /// PostgreSQL's `int2vector` / `oidvector` (catalog columns such as `pg_index.indkey`):
    /// arrays in expressions, but space-separated in their text form, as clients parse them.
    Int2Vector,
    OidVector,
    /// PostgreSQL's `oid`, an unsigned 32-bit integer (DuckDB's UINTEGER, which the catalog
    /// emulation uses for object ids).
    Oid,
    /// A type the engine could not infer (an unused parameter); clients see `unknown`.
    Unknown,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SqlColumn {
    pub name: String,
    pub ty: SqlType,
}

/// What kind of statement, for command tags and transaction state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StatementKind {
    Query,
    Insert,
    Update,
    Delete,
    Begin,
    Commit,
    Rollback,
    /// Anything else, with the PostgreSQL command tag to report (`CREATE TABLE`, …).
    Other(String),
}

/// A statement prepared (and checked) without running it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Described {
    pub kind: StatementKind,
    pub params: Vec<SqlType>,
    /// `None` when the statement returns no rows.
    pub columns: Option<Vec<SqlColumn>>,
}

/// A bound parameter value.
#[derive(Clone, Debug, PartialEq)]
pub enum SqlParam {
    Null,
    /// A value in PostgreSQL's text form; the engine casts it to the parameter's type.
    Text(String),
    Bool(bool),
    Int(i64),
    Float(f64),
    Bytes(Vec<u8>),
}

/// How a statement ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Rows were returned (all of them, unless the sink stopped early).
    Rows(u64),
    /// Rows were inserted, updated or deleted.
    Changed(u64),
    Done,
}

/// Receives a statement's columns once, then its rows batch by batch; returning `false`
/// stops the statement (the client went away).
pub trait RowSink {
    fn columns(&mut self, columns: &[SqlColumn]) -> Result<()>;
    fn rows(&mut self, batch: RecordBatch) -> Result<bool>;
}

/// One client's session on a workspace. It is used by one thread at a time; only its
/// interrupter is shared. Errors it returns carry a SQLSTATE as their `code`.
pub trait SqlSession: Send {
    /// Prepares `sql` (one statement) without running it. With `values` (a bound portal),
    /// result types that depend on parameter values are resolved too.
    fn describe(&mut self, sql: &str, values: Option<&[SqlParam]>) -> Result<Described>;
    /// `sql` with casts for parameters whose type the client declared (PostgreSQL's Parse
    /// message) where the engine would infer none or a narrower one, and casts to text for
    /// undeclared ones it cannot infer, as PostgreSQL resolves them; the text to describe
    /// and run from then on. `sql` itself when nothing needs a cast.
    fn declare_parameters(&mut self, sql: &str, declared: &[Option<SqlType>]) -> Result<String>;
    /// Where unqualified names resolve, as PostgreSQL's `SET search_path` lists schemas
    /// (`public` is the session's own; `pg_catalog` and `"$user"` are implied). An empty
    /// list or one without a known schema means `public`.
    fn set_search_path(&mut self, schemas: &[String]) -> Result<()>;
    /// The session's time zone (an IANA name, validated by the wire layer): timestamps
    /// with a time zone written without an offset are read in it. `None`: UTC.
    fn set_time_zone(&mut self, _zone: Option<&str>) -> Result<()> {
        Ok(())
    }
    /// Runs one statement, streaming any rows into `sink`.
    fn execute(&mut self, sql: &str, params: &[SqlParam], sink: &mut dyn RowSink) -> Result<(StatementKind, Outcome)>;
    /// Cancels the running statement from another thread (it fails with 57014).
    fn interrupter(&self) -> Arc<dyn Fn() + Send + Sync>;
    /// Whether an explicit transaction is open.
    fn in_transaction(&self) -> bool;
    /// Appends rows of text fields (`None` = NULL) to the named columns of a workspace
    /// table, all or nothing; returns how many.
    fn copy_in(
        &mut self,
        schema: Option<&str>,
        table: &str,
        columns: &[String],
        rows: &mut dyn Iterator<Item = Result<Vec<Option<String>>>>,
    ) -> Result<u64>;
}

/// The elements of a one-dimensional PostgreSQL array literal (`{1,2,NULL,"a b"}`); `None`
/// for anything else (nested arrays are left to DuckDB).
pub fn pg_array_elements(text: &str) -> Option<Vec<Option<String>>> {
    let body = text.trim().strip_prefix('{')?.strip_suffix('}')?;
    if body.trim().is_empty() {
        return Some(vec![]);
    }
    let mut out = Vec::new();
    let mut chars = body.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let element = if chars.peek() == Some(&'"') {
            chars.next();
            let mut s = String::new();
            loop {
                match chars.next()? {
                    '\\' => s.push(chars.next()?),
                    '"' => break,
                    c => s.push(c),
                }
            }
            Some(s)
        } else {
            let mut s = String::new();
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                if c == '{' || c == '"' {
                    return None;
                }
                s.push(c);
                chars.next();
            }
            let s = s.trim().to_owned();
            if s.eq_ignore_ascii_case("null") { None } else { Some(s) }
        };
        out.push(element);
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        match chars.next() {
            None => return Some(out),
            Some(',') => {}
            Some(_) => return None,
        }
    }
}

/// `sql` from its first character that is neither blank nor in a comment. Blank is also
/// any non-ASCII character (DuckDB reads some invisible ones as spaces); `--` comments end
/// at `\n` or `\r`; block comments nest, as in PostgreSQL and DuckDB.
pub fn skip_blanks(mut sql: &str) -> &str {
    loop {
        sql = sql.trim_start_matches(|c: char| c.is_whitespace() || !c.is_ascii());
        if let Some(rest) = sql.strip_prefix("--") {
            sql = rest.find(['\n', '\r']).map_or("", |end| &rest[end..]);
        } else if sql.starts_with("/*") {
            let mut depth = 0;
            let mut rest = sql;
            loop {
                if let Some(inner) = rest.strip_prefix("/*") {
                    (depth, rest) = (depth + 1, inner);
                } else if let Some(outer) = rest.strip_prefix("*/") {
                    (depth, rest) = (depth - 1, outer);
                    if depth == 0 {
                        break;
                    }
                } else if let Some(c) = rest.chars().next() {
                    rest = &rest[c.len_utf8()..];
                } else {
                    break;
                }
            }
            sql = rest;
        } else {
            return sql;
        }
    }
}
