//! Errors on the wire: every failure becomes an ErrorResponse with a SQLSTATE.

use pgwire::error::{ErrorInfo, PgWireError};

use duckstore_plugin_sdk::{ErrorKind, StorageError};

pub fn error(severity: &str, code: &str, message: &str) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(severity.to_owned(), code.to_owned(), message.to_owned())))
}

/// An error that ends the connection.
pub fn fatal(code: &str, message: &str) -> PgWireError {
    error("FATAL", code, message)
}

/// The SQLSTATE of an engine error: SQL sessions put one in `code`; other errors are
/// mapped by kind.
pub fn sqlstate(e: &StorageError) -> &str {
    let code = e.code.as_ref();
    if code.len() == 5 && code.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()) {
        return code;
    }
    match e.kind {
        ErrorKind::Invalid => "22023",
        ErrorKind::Unprocessable => "22000",
        ErrorKind::Forbidden => "42501",
        ErrorKind::NotFound => "42704",
        ErrorKind::Gone => "3D000",
        ErrorKind::Conflict => "55000",
        ErrorKind::TooLarge => "53100",
        ErrorKind::Unsupported => "0A000",
        ErrorKind::Unavailable => "53000",
        ErrorKind::Internal => "XX000",
    }
}

/// An engine error as sent to the client; a deleted workspace ends the session.
pub fn from_storage(e: &StorageError) -> PgWireError {
    let code = sqlstate(e);
    let severity = if code == "57P01" { "FATAL" } else { "ERROR" };
    let mut info = ErrorInfo::new(severity.to_owned(), code.to_owned(), e.message.clone());
    info.position = e.position.map(|p| p.to_string());
    PgWireError::UserError(Box::new(info))
}
