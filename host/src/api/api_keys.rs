//! `/projects/{p}/api-keys`: create, list, read, revoke, rotate (project_admin keys).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use duckstore_plugin_sdk::model::{ApiKey, Scope};
use duckstore_plugin_sdk::names::{BranchId, ProjectId};

use crate::api::error::{ApiError, ApiResult, ErrorBody};
use crate::api::extract::{ApiJson, ApiPath, ProjectPath};
use crate::auth::Principal;
use crate::server::AppState;
use crate::service::NewKey;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create, list)).routes(routes!(get, revoke)).routes(routes!(rotate))
}

fn default_scope() -> Scope {
    Scope::ProjectAdmin
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApiKeyRequest {
    pub description: String,
    #[serde(default = "default_scope")]
    pub scope: Scope,
    /// Required for branch_admin and branch_read keys.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub branch_id: Option<BranchId>,
    /// 1 to 365; the key never expires when absent.
    #[serde(default)]
    pub expires_in_days: Option<u32>,
}

/// A key record plus the plain key, which is shown only in this response.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ApiKeyCreated {
    #[serde(flatten)]
    pub key: ApiKey,
    pub api_key: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ApiKeyList {
    pub api_keys: Vec<ApiKey>,
    pub count: usize,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct KeyPath {
    #[param(value_type = String)]
    pub project_id: ProjectId,
    pub key_id: String,
}

#[utoipa::path(post, path = "/projects/{project_id}/api-keys", tag = "api-keys", params(ProjectPath),
    request_body = NewApiKeyRequest, responses((status = 201, body = ApiKeyCreated), (status = "4XX", body = ErrorBody)))]
async fn create(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(path): ApiPath<ProjectPath>,
    ApiJson(req): ApiJson<NewApiKeyRequest>,
) -> ApiResult<(StatusCode, Json<ApiKeyCreated>)> {
    let expires_at = match req.expires_in_days {
        None => None,
        Some(days @ 1..=365) => Some(Utc::now() + Duration::days(days.into())),
        Some(_) => return Err(ApiError::bad_request("invalid_expiry", "expires_in_days must be between 1 and 365")),
    };
    let new = NewKey { scope: req.scope, branch: req.branch_id, description: req.description, expires_at };
    let created = state.service.create_key(&principal, path.project_id, new).await?;
    Ok((StatusCode::CREATED, Json(ApiKeyCreated { key: created.key, api_key: created.plain })))
}

#[utoipa::path(get, path = "/projects/{project_id}/api-keys", tag = "api-keys", params(ProjectPath),
    responses((status = 200, body = ApiKeyList), (status = "4XX", body = ErrorBody)))]
async fn list(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(path): ApiPath<ProjectPath>,
) -> ApiResult<Json<ApiKeyList>> {
    let api_keys = state.service.list_keys(&principal, path.project_id).await?;
    Ok(Json(ApiKeyList { count: api_keys.len(), api_keys }))
}

#[utoipa::path(get, path = "/projects/{project_id}/api-keys/{key_id}", tag = "api-keys", params(KeyPath),
    responses((status = 200, body = ApiKey), (status = "4XX", body = ErrorBody)))]
async fn get(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(path): ApiPath<KeyPath>,
) -> ApiResult<Json<ApiKey>> {
    Ok(Json(state.service.key(&principal, path.project_id, path.key_id).await?))
}

/// Revoke a key. The project's last active project_admin key cannot be revoked (409).
#[utoipa::path(delete, path = "/projects/{project_id}/api-keys/{key_id}", tag = "api-keys", params(KeyPath),
    responses((status = 204), (status = "4XX", body = ErrorBody)))]
async fn revoke(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(path): ApiPath<KeyPath>,
) -> ApiResult<StatusCode> {
    state.service.revoke_key(&principal, path.project_id, path.key_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Give a key a new secret; the old one stops working immediately.
#[utoipa::path(post, path = "/projects/{project_id}/api-keys/{key_id}/rotate", tag = "api-keys", params(KeyPath),
    responses((status = 201, body = ApiKeyCreated), (status = "4XX", body = ErrorBody)))]
async fn rotate(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(path): ApiPath<KeyPath>,
) -> ApiResult<(StatusCode, Json<ApiKeyCreated>)> {
    let rotated = state.service.rotate_key(&principal, path.project_id, path.key_id).await?;
    Ok((StatusCode::CREATED, Json(ApiKeyCreated { key: rotated.key, api_key: rotated.plain })))
}
