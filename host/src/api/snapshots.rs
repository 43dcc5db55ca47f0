//! `/projects/{p}/branches/{b}/snapshots`: take, list, read, delete and restore snapshots.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use duckstore_plugin_sdk::jobs::Job;
use duckstore_plugin_sdk::names::{BranchId, BranchRef, ProjectId};
use duckstore_plugin_sdk::snapshots::{NewSnapshot, RestoreRequest, Snapshot, SnapshotDetail, SnapshotQuery};

use crate::api::error::{ApiResult, ErrorBody};
use crate::api::extract::{ApiJson, ApiPath, ApiQuery, BranchPath};
use crate::api::jobs::{WaitParams, job_response};
use crate::auth::Principal;
use crate::server::AppState;
use crate::service::Wait;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create, list)).routes(routes!(get, delete)).routes(routes!(restore))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct SnapshotPath {
    #[param(value_type = String)]
    pub project_id: ProjectId,
    #[param(value_type = String)]
    pub branch_id: BranchId,
    pub snapshot_id: String,
}

impl SnapshotPath {
    fn at(&self) -> BranchRef {
        BranchRef { project: self.project_id.clone(), branch: self.branch_id.clone() }
    }
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct SnapshotList {
    pub snapshots: Vec<Snapshot>,
    pub total: usize,
}

/// Snapshot a table: its rows as Parquet plus its exact schema and key (a job).
#[utoipa::path(post, path = "/projects/{project_id}/branches/{branch_id}/snapshots", tag = "snapshots",
    params(BranchPath, WaitParams), request_body = NewSnapshot,
    responses((status = 202, body = Job), (status = 200, body = Job), (status = "4XX", body = ErrorBody)))]
async fn create(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(path): ApiPath<BranchPath>,
    ApiQuery(params): ApiQuery<WaitParams>,
    ApiJson(new): ApiJson<NewSnapshot>,
) -> ApiResult<Response> {
    let at = BranchRef { project: path.project_id, branch: path.branch_id };
    let job = state.service.start_snapshot(&principal, at, new, Wait::of(params.wait)).await?;
    Ok(job_response(job, params.wait))
}

/// Snapshots taken on this branch, newest first; filter by bucket, table or kind.
#[utoipa::path(get, path = "/projects/{project_id}/branches/{branch_id}/snapshots", tag = "snapshots",
    params(BranchPath, SnapshotQuery), responses((status = 200, body = SnapshotList), (status = "4XX", body = ErrorBody)))]
async fn list(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(path): ApiPath<BranchPath>,
    ApiQuery(query): ApiQuery<SnapshotQuery>,
) -> ApiResult<Json<SnapshotList>> {
    let at = BranchRef { project: path.project_id, branch: path.branch_id };
    let snapshots = state.service.list_snapshots(&principal, at, query).await?;
    Ok(Json(SnapshotList { total: snapshots.len(), snapshots }))
}

#[utoipa::path(get, path = "/projects/{project_id}/branches/{branch_id}/snapshots/{snapshot_id}", tag = "snapshots",
    params(SnapshotPath), responses((status = 200, body = SnapshotDetail), (status = "4XX", body = ErrorBody)))]
async fn get(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(path): ApiPath<SnapshotPath>,
) -> ApiResult<Json<SnapshotDetail>> {
    Ok(Json(state.service.snapshot(&principal, path.at(), path.snapshot_id).await?))
}

#[utoipa::path(delete, path = "/projects/{project_id}/branches/{branch_id}/snapshots/{snapshot_id}", tag = "snapshots",
    params(SnapshotPath), responses((status = 204), (status = "4XX", body = ErrorBody)))]
async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(path): ApiPath<SnapshotPath>,
) -> ApiResult<StatusCode> {
    state.service.delete_snapshot(&principal, path.at(), path.snapshot_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Restore a snapshot into its table (replaced atomically; recreated if dropped) or, with a
/// target, into a new table (409 if it exists). A job.
#[utoipa::path(post, path = "/projects/{project_id}/branches/{branch_id}/snapshots/{snapshot_id}/restore", tag = "snapshots",
    params(SnapshotPath, WaitParams), request_body = RestoreRequest,
    responses((status = 202, body = Job), (status = 200, body = Job), (status = "4XX", body = ErrorBody)))]
async fn restore(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(path): ApiPath<SnapshotPath>,
    ApiQuery(params): ApiQuery<WaitParams>,
    ApiJson(request): ApiJson<RestoreRequest>,
) -> ApiResult<Response> {
    let at = path.at();
    let job = state.service.start_restore(&principal, at, path.snapshot_id, request, Wait::of(params.wait)).await?;
    Ok(job_response(job, params.wait))
}
