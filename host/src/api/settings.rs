//! Snapshot settings at the project, bucket and table levels: GET shows the effective
//! settings with where each value came from; PUT stores only the keys given (unknown keys
//! are 400); DELETE removes the level's own keys.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use duckstore_plugin_sdk::settings::{SettingsScope, SettingsView, SnapshotSettingsPatch};

use crate::api::error::{ApiResult, ErrorBody};
use crate::api::extract::{ApiJson, ApiPath, BucketPath, ProjectPath, TablePath};
use crate::auth::{Access, Principal};
use crate::server::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(project_get, project_put, project_delete))
        .routes(routes!(bucket_get, bucket_put, bucket_delete))
        .routes(routes!(table_get, table_put, table_delete))
}

/// What a settings request does at its scope.
enum Change {
    Read,
    Update(SnapshotSettingsPatch),
    Clear,
}

async fn handle(
    state: AppState,
    principal: Principal,
    scope: SettingsScope,
    change: Change,
) -> ApiResult<Json<SettingsView>> {
    let (project, branch) = match &scope {
        SettingsScope::Project(p) => (p.clone(), None),
        SettingsScope::Bucket(b) => (b.project.clone(), Some(b.branch.clone())),
        SettingsScope::Table(t) => (t.project.clone(), Some(t.branch.clone())),
    };
    let access = if matches!(change, Change::Read) { Access::Read } else { Access::Manage };
    principal.authorize(&project, branch.as_ref(), access)?;
    let view = state
        .storage
        .run(move |s| match change {
            Change::Read => s.snapshot_settings(&scope),
            Change::Update(patch) => s.update_snapshot_settings(&scope, &patch),
            Change::Clear => s.clear_snapshot_settings(&scope),
        })
        .await?;
    Ok(Json(view))
}

const TAG: &str = "settings";

#[utoipa::path(get, path = "/projects/{project_id}/settings/snapshots", tag = TAG, params(ProjectPath),
    responses((status = 200, body = SettingsView), (status = "4XX", body = ErrorBody)))]
async fn project_get(
    State(s): State<AppState>,
    p: Principal,
    ApiPath(path): ApiPath<ProjectPath>,
) -> ApiResult<Json<SettingsView>> {
    handle(s, p, SettingsScope::Project(path.project_id), Change::Read).await
}

#[utoipa::path(put, path = "/projects/{project_id}/settings/snapshots", tag = TAG, params(ProjectPath),
    request_body = SnapshotSettingsPatch, responses((status = 200, body = SettingsView), (status = "4XX", body = ErrorBody)))]
async fn project_put(
    State(s): State<AppState>,
    p: Principal,
    ApiPath(path): ApiPath<ProjectPath>,
    ApiJson(patch): ApiJson<SnapshotSettingsPatch>,
) -> ApiResult<Json<SettingsView>> {
    handle(s, p, SettingsScope::Project(path.project_id), Change::Update(patch)).await
}

#[utoipa::path(delete, path = "/projects/{project_id}/settings/snapshots", tag = TAG, params(ProjectPath),
    responses((status = 204, description = "The level's settings are removed; the levels above apply"), (status = "4XX", body = ErrorBody)))]
async fn project_delete(
    State(s): State<AppState>,
    p: Principal,
    ApiPath(path): ApiPath<ProjectPath>,
) -> ApiResult<StatusCode> {
    // The level is gone: nothing to show of it (GET shows what applies now).
    handle(s, p, SettingsScope::Project(path.project_id), Change::Clear).await.map(|_| StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/projects/{project_id}/branches/{branch_id}/buckets/{bucket_id}/settings/snapshots", tag = TAG,
    params(BucketPath), responses((status = 200, body = SettingsView), (status = "4XX", body = ErrorBody)))]
async fn bucket_get(
    State(s): State<AppState>,
    p: Principal,
    ApiPath(path): ApiPath<BucketPath>,
) -> ApiResult<Json<SettingsView>> {
    handle(s, p, SettingsScope::Bucket(path.at()), Change::Read).await
}

#[utoipa::path(put, path = "/projects/{project_id}/branches/{branch_id}/buckets/{bucket_id}/settings/snapshots", tag = TAG,
    params(BucketPath), request_body = SnapshotSettingsPatch,
    responses((status = 200, body = SettingsView), (status = "4XX", body = ErrorBody)))]
async fn bucket_put(
    State(s): State<AppState>,
    p: Principal,
    ApiPath(path): ApiPath<BucketPath>,
    ApiJson(patch): ApiJson<SnapshotSettingsPatch>,
) -> ApiResult<Json<SettingsView>> {
    handle(s, p, SettingsScope::Bucket(path.at()), Change::Update(patch)).await
}

#[utoipa::path(delete, path = "/projects/{project_id}/branches/{branch_id}/buckets/{bucket_id}/settings/snapshots", tag = TAG,
    params(BucketPath), responses((status = 204, description = "The level's settings are removed; the levels above apply"), (status = "4XX", body = ErrorBody)))]
async fn bucket_delete(
    State(s): State<AppState>,
    p: Principal,
    ApiPath(path): ApiPath<BucketPath>,
) -> ApiResult<StatusCode> {
    // The level is gone: nothing to show of it (GET shows what applies now).
    handle(s, p, SettingsScope::Bucket(path.at()), Change::Clear).await.map(|_| StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/projects/{project_id}/branches/{branch_id}/buckets/{bucket_id}/tables/{table_name}/settings/snapshots",
    tag = TAG, params(TablePath), responses((status = 200, body = SettingsView), (status = "4XX", body = ErrorBody)))]
async fn table_get(
    State(s): State<AppState>,
    p: Principal,
    ApiPath(path): ApiPath<TablePath>,
) -> ApiResult<Json<SettingsView>> {
    handle(s, p, SettingsScope::Table(path.at()), Change::Read).await
}

#[utoipa::path(put, path = "/projects/{project_id}/branches/{branch_id}/buckets/{bucket_id}/tables/{table_name}/settings/snapshots",
    tag = TAG, params(TablePath), request_body = SnapshotSettingsPatch,
    responses((status = 200, body = SettingsView), (status = "4XX", body = ErrorBody)))]
async fn table_put(
    State(s): State<AppState>,
    p: Principal,
    ApiPath(path): ApiPath<TablePath>,
    ApiJson(patch): ApiJson<SnapshotSettingsPatch>,
) -> ApiResult<Json<SettingsView>> {
    handle(s, p, SettingsScope::Table(path.at()), Change::Update(patch)).await
}

#[utoipa::path(delete, path = "/projects/{project_id}/branches/{branch_id}/buckets/{bucket_id}/tables/{table_name}/settings/snapshots",
    tag = TAG, params(TablePath), responses((status = 204, description = "The level's settings are removed; the levels above apply"), (status = "4XX", body = ErrorBody)))]
async fn table_delete(
    State(s): State<AppState>,
    p: Principal,
    ApiPath(path): ApiPath<TablePath>,
) -> ApiResult<StatusCode> {
    // The level is gone: nothing to show of it (GET shows what applies now).
    handle(s, p, SettingsScope::Table(path.at()), Change::Clear).await.map(|_| StatusCode::NO_CONTENT)
}
