//! `/projects/{p}/files`: uploads (streamed to disk, never buffered whole), registered
//! files, downloads with HTTP Range support, tags.
//!
//! Two ways in: the S3-like three steps (`prepare` → `upload/{key}` → register), whose
//! sessions survive a restart, or one `POST …/files/upload?name=` that does all three.

use std::io::SeekFrom;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use duckstore_plugin_sdk::files::{FileInfo, FileQuery, NewUpload, Upload};
use duckstore_plugin_sdk::model::Page;
use duckstore_plugin_sdk::names::ProjectId;

use crate::api::error::{ApiError, ApiResult, ErrorBody};
use crate::api::extract::{ApiJson, ApiPath, ApiQuery, ProjectPath};
use crate::auth::Principal;
use crate::server::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register, list))
        .routes(routes!(prepare))
        .routes(routes!(upload_in_one_step))
        .routes(routes!(upload_content))
        .routes(routes!(get, delete))
        .routes(routes!(download))
        .routes(routes!(set_tags))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct FilePath {
    #[param(value_type = String)]
    pub project_id: ProjectId,
    pub file_id: String,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct UploadPath {
    #[param(value_type = String)]
    pub project_id: ProjectId,
    pub upload_key: String,
}

/// A prepared upload and where to send its content.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PreparedUpload {
    #[serde(flatten)]
    pub upload: Upload,
    /// `PUT` (or `POST`) the raw content here.
    pub upload_url: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterFile {
    pub upload_key: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct FileList {
    pub files: Vec<FileInfo>,
    pub total: u64,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// Comma-separated tags; only files carrying all of them are listed.
    pub tags: Option<String>,
    /// 1 to 1000 (default 100).
    pub limit: Option<u32>,
    pub offset: Option<u32>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DirectUpload {
    /// The file's name, e.g. `orders.csv`.
    pub name: String,
    /// Comma-separated tags.
    pub tags: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Tags {
    pub tags: Vec<String>,
}

fn split_tags(tags: Option<String>) -> Vec<String> {
    tags.map(|t| t.split(',').map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()).collect()).unwrap_or_default()
}

/// Start an upload session; it expires (and its content is deleted) unless registered in time.
#[utoipa::path(post, path = "/projects/{project_id}/files/prepare", tag = "files", params(ProjectPath),
    request_body = NewUpload, responses((status = 201, body = PreparedUpload), (status = "4XX", body = ErrorBody)))]
async fn prepare(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(path): ApiPath<ProjectPath>,
    ApiJson(new): ApiJson<NewUpload>,
) -> ApiResult<(StatusCode, Json<PreparedUpload>)> {
    let upload = state.service.prepare_upload(&principal, path.project_id.clone(), new).await?;
    let upload_url = format!("/projects/{}/files/upload/{}", path.project_id, upload.upload_key);
    Ok((StatusCode::CREATED, Json(PreparedUpload { upload, upload_url })))
}

/// Send (or resend) an upload's raw content as the request body.
#[utoipa::path(method(put, post), path = "/projects/{project_id}/files/upload/{upload_key}", tag = "files", params(UploadPath),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 200, body = Upload), (status = "4XX", body = ErrorBody)))]
async fn upload_content(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(path): ApiPath<UploadPath>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Upload>> {
    refuse_forms(&headers)?;
    let upload = state
        .service
        .receive_upload(
            &principal,
            path.project_id,
            path.upload_key,
            declared_length(&headers),
            body.into_data_stream(),
        )
        .await?;
    Ok(Json(upload))
}

/// Register an uploaded session as a file.
#[utoipa::path(post, path = "/projects/{project_id}/files", tag = "files", params(ProjectPath),
    request_body = RegisterFile, responses((status = 201, body = FileInfo), (status = "4XX", body = ErrorBody)))]
async fn register(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(path): ApiPath<ProjectPath>,
    ApiJson(req): ApiJson<RegisterFile>,
) -> ApiResult<(StatusCode, Json<FileInfo>)> {
    let file = state.service.register_file(&principal, path.project_id, req.upload_key).await?;
    Ok((StatusCode::CREATED, Json(file)))
}

/// Upload and register a file in one request: the body is the raw content.
#[utoipa::path(post, path = "/projects/{project_id}/files/upload", tag = "files", params(ProjectPath, DirectUpload),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, body = FileInfo), (status = "4XX", body = ErrorBody)))]
async fn upload_in_one_step(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(path): ApiPath<ProjectPath>,
    ApiQuery(params): ApiQuery<DirectUpload>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<FileInfo>)> {
    refuse_forms(&headers)?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .filter(|t| *t != "application/x-www-form-urlencoded")
        .map(str::to_owned);
    let new = NewUpload { name: params.name, content_type, tags: split_tags(params.tags) };
    let declared = declared_length(&headers);
    let file = state.service.upload_file(&principal, path.project_id, new, declared, body.into_data_stream()).await?;
    Ok((StatusCode::CREATED, Json(file)))
}

/// A multipart form (`curl -F`) would be stored envelope and all, and fail only at import:
/// uploads take the file's bytes as the body, and say so.
fn refuse_forms(headers: &HeaderMap) -> ApiResult<()> {
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.trim_start().to_ascii_lowercase().starts_with("multipart/"));
    if form {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "multipart_not_accepted",
            "send the file's bytes as the request body (curl --data-binary @file), not as a multipart form (curl -F)",
        ));
    }
    Ok(())
}

/// The body's length, when the client declared it.
fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok())
}

#[utoipa::path(get, path = "/projects/{project_id}/files", tag = "files", params(ProjectPath, ListParams),
    responses((status = 200, body = FileList), (status = "4XX", body = ErrorBody)))]
async fn list(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(path): ApiPath<ProjectPath>,
    ApiQuery(params): ApiQuery<ListParams>,
) -> ApiResult<Json<FileList>> {
    let page = Page::new(params.limit, params.offset)?;
    let query = FileQuery { tags: split_tags(params.tags), limit: page.limit, offset: page.offset };
    let (files, total) = state.service.list_files(&principal, path.project_id, query).await?;
    Ok(Json(FileList { files, total }))
}

#[utoipa::path(get, path = "/projects/{project_id}/files/{file_id}", tag = "files", params(FilePath),
    responses((status = 200, body = FileInfo), (status = "4XX", body = ErrorBody)))]
async fn get(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(path): ApiPath<FilePath>,
) -> ApiResult<Json<FileInfo>> {
    Ok(Json(state.service.file(&principal, path.project_id, path.file_id).await?))
}

#[utoipa::path(delete, path = "/projects/{project_id}/files/{file_id}", tag = "files", params(FilePath),
    responses((status = 204), (status = "4XX", body = ErrorBody)))]
async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(path): ApiPath<FilePath>,
) -> ApiResult<StatusCode> {
    state.service.delete_file(&principal, path.project_id, path.file_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Replace a file's tags.
#[utoipa::path(put, path = "/projects/{project_id}/files/{file_id}/tags", tag = "files", params(FilePath),
    request_body = Tags, responses((status = 200, body = FileInfo), (status = "4XX", body = ErrorBody)))]
async fn set_tags(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(path): ApiPath<FilePath>,
    ApiJson(tags): ApiJson<Tags>,
) -> ApiResult<Json<FileInfo>> {
    Ok(Json(state.service.set_file_tags(&principal, path.project_id, path.file_id, tags.tags).await?))
}

/// Stream a file's content; a single `Range: bytes=…` is honoured with 206.
#[utoipa::path(get, path = "/projects/{project_id}/files/{file_id}/download", tag = "files", params(FilePath),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>),
              (status = 206, description = "the requested range"), (status = "4XX", body = ErrorBody)))]
async fn download(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(path): ApiPath<FilePath>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let (info, file) = state.service.open_file(&principal, path.project_id, path.file_id).await?;
    let len = info.size_bytes;
    let range = match headers.get(header::RANGE).map(|v| v.to_str().unwrap_or("")) {
        None => None,
        Some(spec) => match http_range_header::parse_range_header(spec).and_then(|r| r.validate(len)) {
            // An empty file has no byte a range could name (RFC 9110 §14.1.2).
            Ok(ranges) if ranges.len() == 1 && len > 0 => Some(ranges[0].clone()),
            Ok(ranges) if ranges.len() > 1 && len > 0 => None, // several ranges: send the whole file
            _ => {
                let mut resp = ApiError::new(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    "range_not_satisfiable",
                    format!("the file has {len} bytes; the requested range does not fit"),
                )
                .into_response();
                resp.headers_mut().insert(header::CONTENT_RANGE, header_value(&format!("bytes */{len}")));
                return Ok(resp);
            }
        },
    };
    let (status, start, count) = match &range {
        Some(r) => (StatusCode::PARTIAL_CONTENT, *r.start(), r.end() - r.start() + 1),
        None => (StatusCode::OK, 0, len),
    };
    let mut file = tokio::fs::File::from_std(file);
    if start > 0 {
        file.seek(SeekFrom::Start(start)).await.map_err(duckstore_plugin_sdk::StorageError::from)?;
    }
    let body = Body::from_stream(tokio_util::io::ReaderStream::with_capacity(file.take(count), 256 * 1024));
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_LENGTH, header_value(&count.to_string()));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::ETAG, header_value(&format!("\"{}\"", info.sha256)));
    h.insert(
        header::CONTENT_TYPE,
        info.content_type
            .as_deref()
            .and_then(|t| HeaderValue::from_str(t).ok())
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    h.insert(header::CONTENT_DISPOSITION, header_value(&content_disposition(&info.name)));
    if let Some(r) = range {
        h.insert(header::CONTENT_RANGE, header_value(&format!("bytes {}-{}/{len}", r.start(), r.end())));
    }
    Ok(resp)
}

fn header_value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).expect("built from ASCII")
}

/// `attachment` with an ASCII fallback name and the exact UTF-8 name (RFC 6266 / 5987).
fn content_disposition(name: &str) -> String {
    let ascii: String = name.chars().map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '_' }).collect();
    let encoded: String = name
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn content_disposition_keeps_unicode_names_exact_and_safe() {
        assert_eq!(
            super::content_disposition("tržby 2024.csv"),
            "attachment; filename=\"tr_by 2024.csv\"; filename*=UTF-8''tr%C5%BEby%202024.csv"
        );
    }
}
