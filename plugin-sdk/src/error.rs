//! The one error type that crosses the StorageBackend boundary.
//!
//! An error carries a stable machine-readable `code` (`table_not_found`, `invalid_name`, …)
//! and a human message. Its [`ErrorKind`] decides how each API edge reports it: the REST
//! adapter maps it to an HTTP status, the PG-wire adapter to an SQLSTATE. It is a plain
//! struct (not a rich enum) because it also has to cross the C ABI and the WASM boundary.

use std::borrow::Cow;
use std::fmt;

/// What went wrong, coarsely: decides the HTTP status and SQLSTATE.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The request itself is malformed or names something invalid (400).
    Invalid,
    /// The request is well-formed but the data it carries cannot be used (422).
    Unprocessable,
    /// The caller may not do this (403).
    Forbidden,
    /// The addressed resource does not exist (404).
    NotFound,
    /// The resource existed but has expired (410).
    Gone,
    /// The request conflicts with current state: duplicates, last key, busy (409).
    Conflict,
    /// A size limit or quota was exceeded (413).
    TooLarge,
    /// The backend does not implement this operation (501).
    Unsupported,
    /// The backend is temporarily unable to serve (503).
    Unavailable,
    /// A bug or an I/O failure on the server side (500).
    Internal,
}

/// Resources named in `*_not_found` / `*_already_exists` codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resource {
    Project,
    Branch,
    Bucket,
    Table,
    Column,
    ApiKey,
    File,
    Upload,
    Job,
    Snapshot,
    Workspace,
    Plugin,
}

impl Resource {
    pub fn as_str(self) -> &'static str {
        match self {
            Resource::Project => "project",
            Resource::Branch => "branch",
            Resource::Bucket => "bucket",
            Resource::Table => "table",
            Resource::Column => "column",
            Resource::ApiKey => "api_key",
            Resource::File => "file",
            Resource::Upload => "upload",
            Resource::Job => "job",
            Resource::Snapshot => "snapshot",
            Resource::Workspace => "workspace",
            Resource::Plugin => "plugin",
        }
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[error("{message}")]
pub struct StorageError {
    pub kind: ErrorKind,
    pub code: Cow<'static, str>,
    pub message: String,
    /// Where in the statement a SQL error is (1-based, in characters), as PostgreSQL
    /// reports it to clients that point at it (psql's caret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<u32>,
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;

impl StorageError {
    pub fn new(kind: ErrorKind, code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self { kind, code: code.into(), message: message.into(), position: None }
    }

    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Invalid, code, message)
    }

    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unprocessable, code, message)
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, code, message)
    }

    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Forbidden, code, message)
    }

    pub fn too_large(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::TooLarge, code, message)
    }

    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unsupported, "unsupported", message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, "internal_error", message)
    }

    pub fn not_found(what: Resource, id: impl fmt::Display) -> Self {
        Self::new(ErrorKind::NotFound, format!("{what}_not_found"), format!("{what} {id} not found"))
    }

    pub fn already_exists(what: Resource, id: impl fmt::Display) -> Self {
        Self::new(ErrorKind::Conflict, format!("{what}_already_exists"), format!("{what} {id} already exists"))
    }

    pub fn gone(what: Resource, id: impl fmt::Display) -> Self {
        Self::new(ErrorKind::Gone, format!("{what}_expired"), format!("{what} {id} has expired"))
    }
}

impl From<std::io::Error> for StorageError {
    fn from(e: std::io::Error) -> Self {
        Self::internal(format!("I/O error: {e}"))
    }
}
