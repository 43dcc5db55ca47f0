//! Mapping DuckDB's errors onto the StorageBackend error type.
//!
//! DuckDB reports the class of an error as a message prefix ("Conversion Error: …");
//! errors caused by the data a user sent become 4xx, everything else stays a 500.

use duckstore_plugin_sdk::{ErrorKind, StorageError};

pub fn db_err(e: duckdb::Error) -> StorageError {
    classify(&e.to_string())
}

/// Classifies a DuckDB error message.
pub fn classify(message: &str) -> StorageError {
    let (kind, code) = if message.starts_with("Conversion Error") {
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
    };
    StorageError::new(kind, code, message.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_errors_are_client_errors() {
        assert_eq!(classify("Conversion Error: Could not convert string 'x' to INT32").kind, ErrorKind::Unprocessable);
        assert_eq!(classify("IO Error: disk full").kind, ErrorKind::Internal);
    }
}
