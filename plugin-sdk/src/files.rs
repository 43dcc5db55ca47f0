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

/// The id a file registered from upload `key` gets: 16 hex digits of a number below 2^53
/// taken from the key. A face can so name a file before its content arrives (Keboola's
/// `files/prepare` answers the file's integer id at once), and the integer is exact in
/// every JSON reader. Engines must give registered files this id.
pub fn file_id_of_upload(key: &str) -> String {
    let hex: String = key.chars().filter(char::is_ascii_hexdigit).take(13).collect();
    let number = match u64::from_str_radix(&hex, 16) {
        Ok(n) if hex.len() == 13 => n,
        // Keys that are not hex: a stable number from their bytes (FNV-1a).
        _ => key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)),
    };
    format!("{:016x}", number & ((1 << 53) - 1))
}

#[cfg(test)]
mod upload_id_tests {
    use super::file_id_of_upload;

    #[test]
    fn a_files_id_follows_from_its_upload_and_fits_a_json_integer() {
        let key = "0123456789abcdef0123456789abcdef";
        assert_eq!(file_id_of_upload(key), "0000123456789abc");
        assert_eq!(file_id_of_upload(key), file_id_of_upload(key));
        assert!(u64::from_str_radix(&file_id_of_upload("not-hex-at-all"), 16).unwrap() < 1 << 53);
        assert_ne!(file_id_of_upload("a"), file_id_of_upload("b"));
    }
}
