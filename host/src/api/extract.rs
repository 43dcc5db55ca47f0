//! Request extractors: JSON bodies, query strings and paths whose rejections use our error
//! format, and the caller's [`Principal`].

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use serde::Deserialize;

use duckstore_plugin_sdk::names::{BranchId, BranchRef, BucketId, BucketRef, ProjectId, TableName, TableRef};

use crate::api::error::ApiError;
use crate::auth::Principal;
use crate::server::AppState;

/// A JSON body; malformed JSON, unknown fields and bad values are 400 `invalid_request`.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

/// A query string, with the same error handling as [`ApiJson`].
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

/// Path parameters; every path parameter is a validated name, so failures are `invalid_name`.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        let status = r.status();
        let code = if status == axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE {
            "unsupported_media_type"
        } else {
            "invalid_request"
        };
        ApiError::new(status_4xx(status), code, r.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::bad_request("invalid_request", r.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        ApiError::bad_request("invalid_name", r.body_text())
    }
}

/// axum reports unparsable bodies as 422; we keep 422 for data a valid request carried.
fn status_4xx(status: axum::http::StatusCode) -> axum::http::StatusCode {
    if status == axum::http::StatusCode::UNPROCESSABLE_ENTITY { axum::http::StatusCode::BAD_REQUEST } else { status }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ProjectPath {
    #[param(value_type = String)]
    pub project_id: ProjectId,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct BranchPath {
    #[param(value_type = String)]
    pub project_id: ProjectId,
    /// `default` for the main branch.
    #[param(value_type = String)]
    pub branch_id: BranchId,
}

impl BranchPath {
    pub fn at(self) -> BranchRef {
        BranchRef { project: self.project_id, branch: self.branch_id }
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct BucketPath {
    #[param(value_type = String)]
    pub project_id: ProjectId,
    #[param(value_type = String)]
    pub branch_id: BranchId,
    /// `in.c-<name>` or `out.c-<name>`.
    #[param(value_type = String)]
    pub bucket_id: BucketId,
}

impl BucketPath {
    pub fn at(self) -> BucketRef {
        BucketRef { project: self.project_id, branch: self.branch_id, bucket: self.bucket_id }
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TablePath {
    #[param(value_type = String)]
    pub project_id: ProjectId,
    #[param(value_type = String)]
    pub branch_id: BranchId,
    #[param(value_type = String)]
    pub bucket_id: BucketId,
    #[param(value_type = String)]
    pub table_name: TableName,
}

impl TablePath {
    pub fn at(self) -> TableRef {
        TableRef { project: self.project_id, branch: self.branch_id, bucket: self.bucket_id, table: self.table_name }
    }
}

/// The presented key: `Authorization: Bearer <key>`, or Keboola's `X-StorageApi-Token`.
fn presented_key(parts: &Parts) -> Option<&str> {
    if let Some(v) = parts.headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        return v.strip_prefix("Bearer ").map(str::trim);
    }
    parts.headers.get("x-storageapi-token").and_then(|v| v.to_str().ok()).map(str::trim)
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let key = presented_key(parts).filter(|k| !k.is_empty()).ok_or_else(|| {
            ApiError::unauthorized("missing_token", "send an API key as 'Authorization: Bearer <key>'")
        })?;
        let principal = state.service.authenticate(key).await?;
        if let Some(caller) = parts.extensions.get::<crate::audit::Caller>() {
            caller.set(principal.label());
        }
        Ok(principal)
    }
}
