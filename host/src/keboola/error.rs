//! Keboola's error dialect: `{"error": message, "code": "storage.<area>.<reason>",
//! "status": "error", "exceptionId": …}`. Expected failures are never 5xx here: Keboola's
//! Python client retries every 5xx but 501 for about 17 minutes.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use duckstore_plugin_sdk::{ErrorKind, StorageError};

use crate::service::ServiceError;

#[derive(Debug)]
pub struct KbcError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
}

pub type KbcResult<T> = Result<T, KbcError>;

impl KbcError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self { status, code: code.to_owned(), message: message.into() }
    }

    pub fn bad_request(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// A route of Keboola's API that duckstore does not serve.
    pub fn not_implemented(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_IMPLEMENTED,
            "storage.notImplemented",
            format!("{what} is not implemented by duckstore (see docs/keboola-api.md)"),
        )
    }
}

/// Keboola's code for one of duckstore's: `bucket_not_found` → `storage.buckets.notFound`.
fn keboola_code(code: &str) -> String {
    fn area(resource: &str) -> &str {
        match resource {
            "bucket" => "buckets",
            "table" => "tables",
            "job" => "jobs",
            "file" => "files",
            "workspace" => "workspaces",
            "snapshot" => "snapshots",
            "branch" => "devBranches",
            "api_key" => "tokens",
            "column" => "tables.columns",
            other => other,
        }
    }
    if let Some(resource) = code.strip_suffix("_not_found") {
        return format!("storage.{}.notFound", area(resource));
    }
    if let Some(resource) = code.strip_suffix("_already_exists") {
        return format!("storage.{}.alreadyExists", area(resource));
    }
    match code {
        "forbidden" => "accessDenied".to_owned(),
        "invalid_token" | "missing_token" => "storage.tokenInvalid".to_owned(),
        other => format!("storage.{}", camel(other)),
    }
}

/// `snake_case` → `camelCase`.
pub fn camel(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut upper = false;
    for c in s.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

impl From<StorageError> for KbcError {
    fn from(e: StorageError) -> Self {
        let status = match e.kind {
            // Keboola answers 400 for every refused request body, duplicates included.
            ErrorKind::Invalid | ErrorKind::Unprocessable | ErrorKind::Conflict => StatusCode::BAD_REQUEST,
            ErrorKind::Forbidden => StatusCode::FORBIDDEN,
            ErrorKind::NotFound | ErrorKind::Gone => StatusCode::NOT_FOUND,
            ErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::Unsupported => StatusCode::NOT_IMPLEMENTED,
            ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self { status, code: keboola_code(&e.code), message: e.message }
    }
}

impl From<ServiceError> for KbcError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Unauthenticated { code, message } => {
                Self { status: StatusCode::UNAUTHORIZED, code: keboola_code(&code), message }
            }
            ServiceError::Failed(e) => e.into(),
        }
    }
}

impl IntoResponse for KbcError {
    fn into_response(self) -> Response {
        let exception = format!("exception-{:016x}", rand::random::<u64>());
        let message = if self.status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(code = %self.code, message = %self.message, exception = %exception, "Keboola API request failed");
            format!("the server could not complete the request; its log has the details under {exception}")
        } else {
            self.message
        };
        let body = json!({"error": message, "code": self.code, "status": "error", "exceptionId": exception});
        (self.status, Json(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_read_as_keboolas() {
        assert_eq!(keboola_code("bucket_not_found"), "storage.buckets.notFound");
        assert_eq!(keboola_code("table_already_exists"), "storage.tables.alreadyExists");
        assert_eq!(keboola_code("forbidden"), "accessDenied");
        assert_eq!(keboola_code("line_too_long"), "storage.lineTooLong");
    }
}
