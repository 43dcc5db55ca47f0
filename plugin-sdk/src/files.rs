//! Files: the on-premise replacement for Keboola's S3 storage files.
//!
//! An upload is prepared (a session that survives restarts and expires), streamed to a
//! staging file, then registered as a file. Exports write files directly.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::StorageError;

/// Longest accepted file name, in characters.
pub const MAX_FILE_NAME: usize = 255;
/// Most tags on one file, and the longest tag.
pub const MAX_TAGS: usize = 50;
pub const MAX_TAG_LEN: usize = 128;

/// Checks a user-supplied file name: it is metadata only (files are stored under their id),
/// but it appears in `Content-Disposition` headers, so no control characters or slashes.
pub fn validate_file_name(name: &str) -> Result<(), StorageError> {
    let n = name.chars().count();
    if n == 0 || n > MAX_FILE_NAME {
        return Err(StorageError::invalid(
            "invalid_file_name",
            format!("file name must be 1 to {MAX_FILE_NAME} characters"),
        ));
    }
    if name.chars().any(|c| c.is_control() || c == '/' || c == '\\' || c == '"') {
        return Err(StorageError::invalid(
            "invalid_file_name",
            "file name must not contain control characters, quotes or slashes",
        ));
    }
    Ok(())
}

pub fn validate_tags(tags: &[String]) -> Result<(), StorageError> {
    if tags.len() > MAX_TAGS {
        return Err(StorageError::invalid("invalid_tags", format!("at most {MAX_TAGS} tags per file")));
    }
    if let Some(bad) =
        tags.iter().find(|t| t.is_empty() || t.chars().count() > MAX_TAG_LEN || t.chars().any(char::is_control))
    {
        return Err(StorageError::invalid(
            "invalid_tags",
            format!("tag {bad:?} must be 1 to {MAX_TAG_LEN} characters without control characters"),
        ));
    }
    Ok(())
}

/// What a client declares when preparing an upload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUpload {
    pub name: String,
    #[serde(default)]
    pub content_type: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
}

/// A prepared upload session.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Upload {
    /// Secret-ish handle of the session: send the content to `/files/upload/{upload_key}`.
    pub upload_key: String,
    pub name: String,
    pub content_type: Option<String>,
    pub tags: Vec<String>,
    /// Set once content was received.
    pub size_bytes: Option<u64>,
    pub sha256: Option<String>,
    pub created_at: DateTime<Utc>,
    /// Unregistered uploads are deleted after this time.
    pub expires_at: DateTime<Utc>,
}

/// A registered file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FileInfo {
    pub id: String,
    pub name: String,
    pub size_bytes: u64,
    pub content_type: Option<String>,
    /// Hex SHA-256 of the content.
    pub sha256: String,
    pub tags: Vec<String>,
    pub created_at: DateTime<Utc>,
}

/// Filters for listing files.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FileQuery {
    /// Only files carrying all of these tags.
    pub tags: Vec<String>,
    pub limit: u32,
    pub offset: u32,
}

/// Where received upload bytes go, and how many may arrive.
pub struct UploadSink {
    pub upload: Upload,
    pub file: std::fs::File,
    /// The most bytes this upload may hold: the per-file limit or what is left of the
    /// project's quota, whichever is smaller.
    pub max_bytes: u64,
}
