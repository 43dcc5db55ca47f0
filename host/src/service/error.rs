//! The service layer's one error type, which each face maps once into its own dialect
//! (the REST API's `{"error": {code, message}}`, Keboola's flat body, a PG SQLSTATE …).

use duckstore_plugin_sdk::{ErrorKind, StorageError};

/// Why a service operation did not happen.
#[derive(Debug, Clone, PartialEq)]
pub enum ServiceError {
    /// The caller is not known: no credential, or one that is invalid, revoked or expired.
    Unauthenticated { code: String, message: String },
    /// Anything else, in the engine's kinds: refused (forbidden, invalid, not found, …) or
    /// failed on the server (internal).
    Failed(StorageError),
}

impl ServiceError {
    pub fn unauthenticated(code: &str, message: impl Into<String>) -> Self {
        ServiceError::Unauthenticated { code: code.to_owned(), message: message.into() }
    }

    /// The caller is known but may not do this.
    pub fn forbidden(message: impl Into<String>) -> Self {
        ServiceError::Failed(StorageError::new(ErrorKind::Forbidden, "forbidden", message.into()))
    }

    /// The error's stable machine-readable code (`bucket_not_found`, `forbidden`, …).
    pub fn code(&self) -> &str {
        match self {
            ServiceError::Unauthenticated { code, .. } => code,
            ServiceError::Failed(e) => e.code.as_ref(),
        }
    }

    pub fn message(&self) -> &str {
        match self {
            ServiceError::Unauthenticated { message, .. } => message,
            ServiceError::Failed(e) => &e.message,
        }
    }
}

impl From<StorageError> for ServiceError {
    fn from(e: StorageError) -> Self {
        ServiceError::Failed(e)
    }
}

impl std::fmt::Display for ServiceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code(), self.message())
    }
}

impl std::error::Error for ServiceError {}

pub type ServiceResult<T> = Result<T, ServiceError>;
