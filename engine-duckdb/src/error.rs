//! Mapping DuckDB's errors onto the StorageBackend error type.
//!
//! DuckDB reports the class of an error as a message prefix ("Conversion Error: …");
//! errors caused by the data a user sent become 4xx, everything else stays a 500.
//! DuckDB's messages name files by their server path and quote the engine's own SQL: a
//! user sees neither (a path becomes its last component, which for uploaded files is the
//! file id they know; the SQL context goes); the full text goes to the server log.

use std::sync::LazyLock;

use regex::Regex;

use duckstore_plugin_sdk::{ErrorKind, StorageError};

/// An absolute path of two or more components, where a message quotes or names one.
static PATH: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"(^|[\s'"(=])(?:/[^/\s'"(),:]+)+/([^/\s'"(),:]+)"#).expect("valid regex"));

/// Data directories of the engines in this process, as text: a path under one loses them
/// first, so that even a directory with characters [`PATH`] stops at (spaces) never shows.
static ROOTS: std::sync::RwLock<Vec<String>> = std::sync::RwLock::new(Vec::new());

/// Registers a data directory whose paths messages must not show.
pub fn hide_root(root: &std::path::Path) {
    let mut roots = ROOTS.write().unwrap_or_else(|e| e.into_inner());
    for form in [Some(root.to_path_buf()), root.canonicalize().ok()].into_iter().flatten() {
        let text = format!("{}/", form.to_string_lossy().trim_end_matches('/'));
        if !roots.contains(&text) {
            roots.push(text);
        }
    }
}

/// What a user may see of a DuckDB message: no server paths, no engine SQL.
pub fn user_text(message: &str) -> String {
    let cut = message.find("\nLINE ").map_or(message, |at| &message[..at]);
    without_paths(cut.trim_end())
}

/// A message without server paths (a path becomes its last component).
fn without_paths(message: &str) -> String {
    let mut text = message.to_owned();
    for root in ROOTS.read().unwrap_or_else(|e| e.into_inner()).iter() {
        text = text.replace(root.as_str(), "/");
    }
    PATH.replace_all(&text, "$1$2").into_owned()
}

/// Classifies the error of a statement a SQL session ran: the statement is the user's own,
/// so DuckDB's pointer into it (`LINE 1: …` and a caret) stays, for the wire layer to turn
/// into PostgreSQL's error position; server paths still go.
pub fn classify_sql(message: &str) -> StorageError {
    let (kind, code) = kind_of(message);
    StorageError::new(kind, code, without_paths(message))
}

pub fn db_err(e: duckdb::Error) -> StorageError {
    classify(&e.to_string())
}

/// Classifies a DuckDB error message.
pub fn classify(message: &str) -> StorageError {
    let (kind, code) = kind_of(message);
    let shown = user_text(message);
    if shown != message {
        tracing::info!(error = message, "database error (shown to the caller without paths and SQL)");
    }
    StorageError::new(kind, code, shown)
}

/// The kind and code of a DuckDB error, from the class it names first.
fn kind_of(message: &str) -> (ErrorKind, &'static str) {
    if message.starts_with("Conversion Error") {
        (ErrorKind::Unprocessable, "invalid_value")
    } else if message.starts_with("Constraint Error") {
        (ErrorKind::Unprocessable, "constraint_violation")
    } else if message.starts_with("Invalid Input Error") {
        (ErrorKind::Unprocessable, "invalid_input")
    } else if message.starts_with("Out of Memory Error") {
        (ErrorKind::Unavailable, "out_of_memory")
    } else if message.starts_with("INTERRUPT Error") || message.starts_with("Interrupt Error") {
        (ErrorKind::Unavailable, "interrupted")
    } else if message.starts_with("TransactionContext Error") && message.contains("onflict") {
        (ErrorKind::Conflict, "write_conflict")
    } else {
        (ErrorKind::Internal, "database_error")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_errors_are_client_errors() {
        assert_eq!(classify("Conversion Error: Could not convert string 'x' to INT32").kind, ErrorKind::Unprocessable);
        assert_eq!(classify("IO Error: disk full").kind, ErrorKind::Internal);
    }

    #[test]
    fn users_see_no_server_paths_or_engine_sql() {
        let raw = "Invalid Input Error: File '/srv/ds/data/files/p1/0a1b2c' too small to be a Parquet file\n\
                   LINE 1: DESCRIBE SELECT * FROM read_parquet('/srv/ds/data/files/p1/0a1b2c')";
        assert_eq!(user_text(raw), "Invalid Input Error: File '0a1b2c' too small to be a Parquet file");
        assert_eq!(user_text("IO Error: cannot open file=/a/b/c.csv"), "IO Error: cannot open file=c.csv");
        assert_eq!(user_text("Conversion Error: 1/0 and a/b stay"), "Conversion Error: 1/0 and a/b stay");
        hide_root(std::path::Path::new("/srv/my data"));
        assert_eq!(user_text("IO Error: '/srv/my data/files/p1/ab' gone"), "IO Error: 'ab' gone");
    }
}
