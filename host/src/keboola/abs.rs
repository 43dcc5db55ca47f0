//! Keboola's file transfer: duckstore is its own Azure-Blob endpoint. `files/prepare`
//! answers `provider: "azure"` with a SAS connection string pointing here
//! (`BlobEndpoint=<base>/abs/duckstore`); Azure's SDK (which Keboola's clients use) then
//! sends Put Blob, or Put Block + Put Block List, under `/abs/duckstore/<project>/<blob>`.
//!
//! The SAS is duckstore's own: an HMAC-SHA-256, under a key kept in the data directory,
//! over the project, the key that asked, one blob, the permissions and the expiry. Clients
//! treat it as opaque. A request without a valid one is 403 with Azure's error body and
//! writes nothing; revoking the key that asked revokes its SAS.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use duckstore_plugin_sdk::names::ProjectId;

use crate::server::AppState;
use crate::service::ServiceError;

/// The account name in connection strings and paths.
pub const ACCOUNT: &str = "duckstore";
/// The Azure API version answers claim.
const VERSION: &str = "2021-08-06";

/// Signs and checks SAS tokens with a key made on first start and kept (mode 0600).
pub struct SasSigner {
    key: Vec<u8>,
}

/// What a SAS grants: one blob of one project's container, as the key that asked.
#[derive(Clone, Debug, PartialEq)]
pub struct Grant {
    pub project: ProjectId,
    pub key_id: String,
    pub blob: String,
    /// Azure's permission letters: `c`reate, `w`rite, `r`ead.
    pub permissions: String,
    pub expires: DateTime<Utc>,
}

impl SasSigner {
    pub fn load_or_create(dir: &Path) -> anyhow::Result<Self> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let path = dir.join("abs-sas.key");
        if let Ok(key) = std::fs::read(&path)
            && key.len() == 32
        {
            return Ok(Self { key });
        }
        std::fs::create_dir_all(dir)?;
        let key: [u8; 32] = rand::random();
        let partial = dir.join("abs-sas.key.partial");
        let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&partial)?;
        f.write_all(&key)?;
        f.sync_all()?;
        std::fs::rename(&partial, &path)?;
        Ok(Self { key: key.to_vec() })
    }

    fn mac(&self, grant: &Grant, expiry: &str) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        let text = format!(
            "duckstore-sas-1\n{}\n{}\n{}\n{}\n{expiry}",
            grant.project, grant.key_id, grant.blob, grant.permissions
        );
        mac.update(text.as_bytes());
        mac
    }

    /// The SAS query string for `grant`. Only parameter names Azure's SDKs know may appear
    /// (they drop a SAS holding others); the blob is not among them but is signed.
    pub fn sign(&self, grant: &Grant) -> String {
        let expiry = grant.expires.format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let sig = hex::encode(self.mac(grant, &expiry).finalize().into_bytes());
        let encode = |s: &str| percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string();
        format!(
            "sv={VERSION}&sr=b&sp={}&se={}&skoid={}&sig={sig}",
            grant.permissions,
            encode(&expiry),
            encode(&grant.key_id)
        )
    }

    /// The grant a request's SAS carries, if it is genuine, current, for this blob of this
    /// container and allows `permission`.
    pub fn verify(
        &self,
        query: &HashMap<String, String>,
        container: &str,
        blob: &str,
        permission: char,
    ) -> Result<Grant, AbsError> {
        let get = |k: &str| query.get(k).cloned().ok_or_else(|| AbsError::auth(format!("the signature lacks {k}")));
        let (expiry, sig) = (get("se")?, get("sig")?);
        let project = ProjectId::new(container).map_err(|_| AbsError::auth("no such container"))?;
        let grant = Grant {
            project,
            key_id: get("skoid")?,
            // The blob (or a file's folder) is the request's: a signature for another one
            // does not match.
            blob: scope(blob),
            permissions: get("sp")?,
            expires: DateTime::parse_from_rfc3339(&expiry)
                .map_err(|_| AbsError::auth("the signature's expiry is not a time"))?
                .with_timezone(&Utc),
        };
        let sig = hex::decode(sig).map_err(|_| AbsError::auth("the signature is malformed"))?;
        self.mac(&grant, &expiry).verify_slice(&sig).map_err(|_| AbsError::auth("the signature does not match"))?;
        if grant.expires <= Utc::now() {
            return Err(AbsError::auth("the signature has expired"));
        }
        if !grant.permissions.contains(permission) {
            return Err(AbsError::new(
                StatusCode::FORBIDDEN,
                "AuthorizationPermissionMismatch",
                "this signature does not allow the operation",
            ));
        }
        Ok(grant)
    }
}

/// An error in Azure's form: status, `x-ms-error-code`, and an XML body.
#[derive(Debug)]
pub struct AbsError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

#[derive(Serialize)]
#[serde(rename = "Error")]
struct ErrorXml<'a> {
    #[serde(rename = "Code")]
    code: &'a str,
    #[serde(rename = "Message")]
    message: &'a str,
}

impl AbsError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into() }
    }

    fn auth(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "AuthenticationFailed", message)
    }

    fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "InvalidInput", message)
    }
}

impl From<ServiceError> for AbsError {
    fn from(e: ServiceError) -> Self {
        use duckstore_plugin_sdk::ErrorKind;
        match e {
            ServiceError::Unauthenticated { message, .. } => Self::auth(message),
            ServiceError::Failed(e) => match e.kind {
                ErrorKind::Forbidden => Self::new(StatusCode::FORBIDDEN, "AuthorizationFailure", e.message),
                ErrorKind::NotFound | ErrorKind::Gone => Self::new(StatusCode::NOT_FOUND, "BlobNotFound", e.message),
                ErrorKind::TooLarge => Self::new(StatusCode::PAYLOAD_TOO_LARGE, "RequestBodyTooLarge", e.message),
                ErrorKind::Internal | ErrorKind::Unavailable => {
                    tracing::error!(code = %e.code, message = %e.message, "blob request failed");
                    Self::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "InternalError",
                        "the server could not complete the request",
                    )
                }
                _ => Self::new(StatusCode::BAD_REQUEST, "InvalidInput", e.message),
            },
        }
    }
}

impl IntoResponse for AbsError {
    fn into_response(self) -> Response {
        let body = quick_xml::se::to_string(&ErrorXml { code: self.code, message: &self.message }).unwrap_or_default();
        let body = format!("<?xml version=\"1.0\" encoding=\"utf-8\"?>{body}");
        (
            self.status,
            [("x-ms-error-code", self.code), ("x-ms-version", VERSION), ("content-type", "application/xml")],
            body,
        )
            .into_response()
    }
}

/// What a signature covers: one upload's blob, or all the blobs of one file (a sliced
/// file's manifest and slices, `files/<id>/…`).
pub fn scope(blob: &str) -> String {
    match blob.strip_prefix("files/").and_then(|rest| rest.split_once('/')) {
        Some((id, _)) => format!("files/{id}/"),
        None => blob.to_owned(),
    }
}

/// The folder of a file's blobs: `files/<id>/`, its content at `files/<id>/<name>` and,
/// for a sliced file, its manifest at `files/<id>/manifest`.
pub fn file_folder(file_id: &str) -> String {
    format!("files/{file_id}/")
}

/// The tag that marks a file as sliced (Keboola's exports): its content is the one slice.
pub const SLICED_TAG: &str = "sliced";

/// Blob names of uploads: `uploads/<upload key>/<file name>`.
pub fn upload_blob(upload_key: &str, name: &str) -> String {
    format!("uploads/{upload_key}/{name}")
}

fn upload_key_of(blob: &str) -> Result<&str, AbsError> {
    blob.strip_prefix("uploads/")
        .and_then(|rest| rest.split('/').next())
        .filter(|k| !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric()))
        .ok_or_else(|| AbsError::new(StatusCode::NOT_FOUND, "BlobNotFound", "no such blob"))
}

/// Where Put Block stages blocks until Put Block List commits them.
fn blocks_dir(state: &AppState, upload_key: &str) -> PathBuf {
    state.abs_blocks.join(upload_key)
}

#[derive(Deserialize)]
pub struct BlobPath {
    account: String,
    container: String,
    blob: String,
}

fn success(status: StatusCode, etag: &str) -> Response {
    let now = Utc::now().format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    let request_id = format!("{:032x}", rand::random::<u128>());
    (
        status,
        [
            (header::ETAG.as_str(), format!("\"0x{etag}\"")),
            (header::LAST_MODIFIED.as_str(), now),
            ("x-ms-request-id", request_id),
            ("x-ms-version", VERSION.to_owned()),
            ("x-ms-request-server-encrypted", "true".to_owned()),
        ],
    )
        .into_response()
}

/// `PUT /abs/{account}/{container}/{blob}`: Put Blob, Put Block (`comp=block`) or Put
/// Block List (`comp=blocklist`).
pub async fn put(
    State(state): State<AppState>,
    UrlPath(path): UrlPath<BlobPath>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, AbsError> {
    if path.account != ACCOUNT {
        return Err(AbsError::new(StatusCode::NOT_FOUND, "ResourceNotFound", "no such account"));
    }
    let grant = state.abs.verify(&query, &path.container, &path.blob, 'w')?;
    let key = upload_key_of(&path.blob)?.to_owned();
    let who = state.service.key_principal(&grant.project, &grant.key_id).await?;
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
    match query.get("comp").map(String::as_str) {
        None => {
            let upload = state
                .service
                .receive_upload(&who, grant.project.clone(), key.clone(), declared, body.into_data_stream())
                .await?;
            state.service.register_file(&who, grant.project, key).await?;
            Ok(success(StatusCode::CREATED, upload.sha256.as_deref().and_then(|h| h.get(..16)).unwrap_or_default()))
        }
        Some("block") => {
            // Azure's block ids are base64 of at most 64 bytes; they are staged as hex file
            // names, which must stay within a file system's name limit.
            let id = query
                .get("blockid")
                .filter(|b| !b.is_empty() && b.len() <= 100)
                .ok_or_else(|| AbsError::invalid("blockid is required: base64 of at most 64 bytes"))?;
            let room = state.service.upload_room(&who, grant.project, key.clone()).await?;
            let dir = blocks_dir(&state, &key);
            let staged = staged_bytes(&dir).await;
            if declared.is_some_and(|n: u64| staged + n > room) {
                return Err(AbsError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "RequestBodyTooLarge",
                    format!("the file would exceed {room} bytes"),
                ));
            }
            stage_block(&dir, id, body, room.saturating_sub(staged)).await?;
            Ok(success(StatusCode::CREATED, "0"))
        }
        Some("blocklist") => {
            let bytes = axum::body::to_bytes(body, 4 << 20).await.map_err(|e| AbsError::invalid(e.to_string()))?;
            let ids = block_list(&bytes)?;
            let dir = blocks_dir(&state, &key);
            let mut parts = Vec::with_capacity(ids.len());
            for id in &ids {
                let part = dir.join(hex::encode(id));
                if !part.exists() {
                    return Err(AbsError::new(
                        StatusCode::BAD_REQUEST,
                        "InvalidBlockList",
                        format!("block {id} was not uploaded"),
                    ));
                }
                parts.push(part);
            }
            let stream = futures_util::stream::iter(parts)
                .then(|part| async move { tokio::fs::File::open(part).await.map(tokio_util::io::ReaderStream::new) })
                .map(|opened| match opened {
                    Ok(s) => s.left_stream(),
                    Err(e) => futures_util::stream::once(async move { Err(e) }).right_stream(),
                })
                .flatten();
            let upload =
                state.service.receive_upload(&who, grant.project.clone(), key.clone(), None, Box::pin(stream)).await?;
            state.service.register_file(&who, grant.project, key).await?;
            let _ = tokio::fs::remove_dir_all(&dir).await;
            Ok(success(StatusCode::CREATED, upload.sha256.as_deref().and_then(|h| h.get(..16)).unwrap_or_default()))
        }
        Some(other) => {
            Err(AbsError::new(StatusCode::NOT_IMPLEMENTED, "NotImplemented", format!("comp={other} is not served")))
        }
    }
}

async fn staged_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    if let Ok(mut entries) = tokio::fs::read_dir(dir).await {
        while let Ok(Some(entry)) = entries.next_entry().await {
            total += entry.metadata().await.map(|m| m.len()).unwrap_or(0);
        }
    }
    total
}

/// Writes one block (replacing an earlier one of the same id), at most `room` bytes.
async fn stage_block(dir: &Path, id: &str, body: Body, room: u64) -> Result<(), AbsError> {
    use tokio::io::AsyncWriteExt;
    let internal = |e: std::io::Error| AbsError::from(ServiceError::from(duckstore_plugin_sdk::StorageError::from(e)));
    tokio::fs::create_dir_all(dir).await.map_err(internal)?;
    let (path, partial) = (dir.join(hex::encode(id)), dir.join(format!("{}.partial", hex::encode(id))));
    let mut file = tokio::fs::File::create(&partial).await.map_err(internal)?;
    let mut stream = body.into_data_stream();
    let mut written = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| AbsError::invalid(format!("the upload broke off: {e}")))?;
        written += chunk.len() as u64;
        if written > room {
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(AbsError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestBodyTooLarge",
                "the file would exceed its size limit",
            ));
        }
        file.write_all(&chunk).await.map_err(internal)?;
    }
    file.flush().await.map_err(internal)?;
    tokio::fs::rename(&partial, &path).await.map_err(internal)
}

/// The block ids of a Put Block List body, in order.
fn block_list(xml: &[u8]) -> Result<Vec<String>, AbsError> {
    #[derive(Deserialize)]
    struct BlockList {
        #[serde(rename = "$value", default)]
        blocks: Vec<Block>,
    }
    #[derive(Deserialize)]
    enum Block {
        Latest(String),
        Committed(String),
        Uncommitted(String),
    }
    let text = std::str::from_utf8(xml).map_err(|_| AbsError::invalid("the block list is not UTF-8"))?;
    let list: BlockList = quick_xml::de::from_str(text)
        .map_err(|e| AbsError::new(StatusCode::BAD_REQUEST, "InvalidXmlDocument", e.to_string()))?;
    Ok(list
        .blocks
        .into_iter()
        .map(|b| match b {
            Block::Latest(id) | Block::Committed(id) | Block::Uncommitted(id) => id,
        })
        .collect())
}

/// `GET`/`HEAD /abs/{account}/{container}/files/<id>/<name | manifest>`: Get Blob (with
/// `Range` or `x-ms-range`) and Get Blob Properties.
pub async fn get(
    State(state): State<AppState>,
    method: axum::http::Method,
    UrlPath(path): UrlPath<BlobPath>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, AbsError> {
    let not_found = || AbsError::new(StatusCode::NOT_FOUND, "BlobNotFound", "The specified blob does not exist.");
    if path.account != ACCOUNT {
        return Err(AbsError::new(StatusCode::NOT_FOUND, "ResourceNotFound", "no such account"));
    }
    let grant = state.abs.verify(&query, &path.container, &path.blob, 'r')?;
    let (id, rest) = path.blob.strip_prefix("files/").and_then(|r| r.split_once('/')).ok_or_else(not_found)?;
    let who = state.service.key_principal(&grant.project, &grant.key_id).await?;
    let (file, content) = state.service.open_file(&who, grant.project.clone(), id.to_owned()).await?;
    let etag = file.sha256.get(..16).unwrap_or_default().to_owned();
    let sliced = file.tags.iter().any(|t| t == SLICED_TAG);
    let body: Vec<u8>;
    let (len, source) = if rest == "manifest" && sliced {
        let url =
            format!("azure://{ACCOUNT}.blob.core.windows.net/{}/{}{}", path.container, file_folder(id), file.name);
        body =
            serde_json::to_vec(&serde_json::json!({"entries": [{"url": url, "mandatory": true}]})).unwrap_or_default();
        (body.len() as u64, None)
    } else if rest == file.name {
        body = Vec::new();
        (file.size_bytes, Some(content))
    } else {
        return Err(not_found());
    };
    let range = headers
        .get("x-ms-range")
        .or_else(|| headers.get(header::RANGE))
        .and_then(|v| v.to_str().ok())
        .map(|r| byte_range(r, len))
        .transpose()?;
    let (start, end) = range.unwrap_or((0, len.saturating_sub(1)));
    let count = if len == 0 { 0 } else { end - start + 1 };
    let mut response = success(if range.is_some() { StatusCode::PARTIAL_CONTENT } else { StatusCode::OK }, &etag);
    let h = response.headers_mut();
    h.insert("x-ms-blob-type", axum::http::HeaderValue::from_static("BlockBlob"));
    h.insert(header::CONTENT_LENGTH, count.into());
    h.insert(header::ACCEPT_RANGES, axum::http::HeaderValue::from_static("bytes"));
    if range.is_some()
        && let Ok(v) = axum::http::HeaderValue::from_str(&format!("bytes {start}-{end}/{len}"))
    {
        h.insert(header::CONTENT_RANGE, v);
    }
    if method == axum::http::Method::HEAD || count == 0 {
        return Ok(response);
    }
    let stream = match source {
        None => futures_util::stream::once(async move {
            Ok::<_, std::io::Error>(bytes::Bytes::from(body[start as usize..=end as usize].to_vec()))
        })
        .left_stream(),
        Some(file) => {
            use tokio::io::{AsyncReadExt, AsyncSeekExt};
            let mut file = tokio::fs::File::from_std(file);
            file.seek(std::io::SeekFrom::Start(start))
                .await
                .map_err(|e| AbsError::from(ServiceError::from(duckstore_plugin_sdk::StorageError::from(e))))?;
            tokio_util::io::ReaderStream::new(file.take(count)).right_stream()
        }
    };
    *response.body_mut() = Body::from_stream(stream);
    Ok(response)
}

/// `bytes=a-b`, `bytes=a-` or `bytes=-n` of a blob of `len` bytes, clipped to it as Azure
/// does; a range that starts past the end (or any range of an empty blob) is 416.
fn byte_range(header: &str, len: u64) -> Result<(u64, u64), AbsError> {
    let invalid = || {
        AbsError::new(
            StatusCode::RANGE_NOT_SATISFIABLE,
            "InvalidRange",
            "The range specified is invalid for the current size of the resource.",
        )
    };
    let spec = header.trim().strip_prefix("bytes=").ok_or_else(invalid)?;
    let (a, b) = spec.split_once('-').ok_or_else(invalid)?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", n) => {
            let n: u64 = n.parse().map_err(|_| invalid())?;
            (len.saturating_sub(n), len.saturating_sub(1))
        }
        (a, "") => (a.parse().map_err(|_| invalid())?, len.saturating_sub(1)),
        (a, b) => {
            (a.parse().map_err(|_| invalid())?, b.parse::<u64>().map_err(|_| invalid())?.min(len.saturating_sub(1)))
        }
    };
    if len == 0 || start >= len || start > end {
        return Err(invalid());
    }
    Ok((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> SasSigner {
        SasSigner { key: vec![7; 32] }
    }

    fn query(sas: &str) -> HashMap<String, String> {
        sas.split('&')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_owned(), percent_encoding::percent_decode_str(v).decode_utf8_lossy().into_owned()))
            .collect()
    }

    #[test]
    fn a_sas_opens_its_blob_only_with_its_permissions_until_it_expires() {
        let s = signer();
        let grant = Grant {
            project: ProjectId::new("p1").unwrap(),
            key_id: "k1".into(),
            blob: "uploads/abc/f.csv".into(),
            permissions: "cw".into(),
            expires: Utc::now() + chrono::Duration::hours(1),
        };
        let q = query(&s.sign(&grant));
        assert_eq!(s.verify(&q, "p1", "uploads/abc/f.csv", 'w').unwrap().key_id, "k1");
        assert!(s.verify(&q, "p2", "uploads/abc/f.csv", 'w').is_err(), "another project's container");
        assert!(s.verify(&q, "p1", "uploads/abd/f.csv", 'w').is_err(), "another blob");
        assert!(s.verify(&q, "p1", "uploads/abc/f.csv", 'r').is_err(), "a permission not granted");
        let mut forged = q.clone();
        forged.insert("sp".into(), "rcw".into());
        assert!(s.verify(&forged, "p1", "uploads/abc/f.csv", 'r').is_err(), "widened permissions");
        let other = SasSigner { key: vec![8; 32] };
        assert!(other.verify(&q, "p1", "uploads/abc/f.csv", 'w').is_err(), "another server's key");
        let expired = Grant { expires: Utc::now() - chrono::Duration::seconds(1), ..grant };
        assert!(s.verify(&query(&s.sign(&expired)), "p1", "uploads/abc/f.csv", 'w').is_err());
    }

    #[test]
    fn ranges_clip_to_the_blob_as_azure_does() {
        assert_eq!(byte_range("bytes=0-99", 10).unwrap(), (0, 9));
        assert_eq!(byte_range("bytes=5-", 10).unwrap(), (5, 9));
        assert_eq!(byte_range("bytes=-3", 10).unwrap(), (7, 9));
        assert!(byte_range("bytes=10-20", 10).is_err());
        assert!(byte_range("bytes=0-0", 0).is_err(), "an empty blob has no range");
        assert!(byte_range("lines=1-2", 10).is_err());
    }

    #[test]
    fn a_files_blobs_share_one_signature() {
        assert_eq!(scope("files/00ab/manifest"), "files/00ab/");
        assert_eq!(scope("files/00ab/t.csv"), "files/00ab/");
        assert_eq!(scope("uploads/k/x.csv"), "uploads/k/x.csv");
    }

    #[test]
    fn block_lists_keep_their_order() {
        let xml = br#"<?xml version="1.0" encoding="utf-8"?><BlockList><Latest>AAA=</Latest><Uncommitted>BBB=</Uncommitted><Latest>CCC=</Latest></BlockList>"#;
        assert_eq!(block_list(xml).unwrap(), ["AAA=", "BBB=", "CCC="]);
        assert!(block_list(b"<BlockList><Latest>").is_err());
    }
}
