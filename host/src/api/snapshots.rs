//! `/projects/{p}/branches/{b}/snapshots`: take, list, read, delete and restore snapshots.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use duckstore_plugin_sdk::jobs::{Job, JobProgress};
use duckstore_plugin_sdk::names::{BranchId, BranchRef, ProjectId};
use duckstore_plugin_sdk::snapshots::{NewSnapshot, RestoreRequest, Snapshot, SnapshotDetail, SnapshotQuery};

use crate::api::error::{ApiResult, ErrorBody};
use crate::api::extract::{ApiJson, ApiPath, ApiQuery, BranchPath};
use crate::api::jobs::{WaitParams, new_job, run};
use crate::auth::{Access, Principal};
use crate::server::AppState;

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
    principal.authorize(&path.project_id, Some(&path.branch_id), Access::Write)?;
    let at = path.at();
    let job = new_job(
        &principal,
        &at.project,
        &at.branch,
        "snapshot_create",
        format!("{}.{}", new.bucket_id, new.table_name),
    );
    let actor = principal.label();
    run(&state, job, params.wait, move |s| {
        let snapshot = s.create_snapshot(&at, &new, &actor)?;
        Ok((JobProgress { rows: snapshot.row_count, bytes: snapshot.size_bytes }, json!({"snapshot": snapshot})))
    })
    .await
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
    principal.authorize(&path.project_id, Some(&path.branch_id), Access::Read)?;
    let at = path.at();
    let snapshots = state.storage.run(move |s| s.list_snapshots(&at, &query)).await?;
    Ok(Json(SnapshotList { total: snapshots.len(), snapshots }))
}

#[utoipa::path(get, path = "/projects/{project_id}/branches/{branch_id}/snapshots/{snapshot_id}", tag = "snapshots",
    params(SnapshotPath), responses((status = 200, body = SnapshotDetail), (status = "4XX", body = ErrorBody)))]
async fn get(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(path): ApiPath<SnapshotPath>,
) -> ApiResult<Json<SnapshotDetail>> {
    principal.authorize(&path.project_id, Some(&path.branch_id), Access::Read)?;
    Ok(Json(state.storage.run(move |s| s.get_snapshot(&path.at(), &path.snapshot_id)).await?))
}

#[utoipa::path(delete, path = "/projects/{project_id}/branches/{branch_id}/snapshots/{snapshot_id}", tag = "snapshots",
    params(SnapshotPath), responses((status = 204), (status = "4XX", body = ErrorBody)))]
async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(path): ApiPath<SnapshotPath>,
) -> ApiResult<StatusCode> {
    principal.authorize(&path.project_id, Some(&path.branch_id), Access::Write)?;
    state.storage.run(move |s| s.delete_snapshot(&path.at(), &path.snapshot_id)).await?;
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
    principal.authorize(&path.project_id, Some(&path.branch_id), Access::Write)?;
    let at = path.at();
    let job = new_job(&principal, &at.project, &at.branch, "snapshot_restore", path.snapshot_id.clone());
    let actor = principal.label();
    run(&state, job, params.wait, move |s| {
        let restored = s.restore_snapshot(&at, &path.snapshot_id, &request, &actor)?;
        Ok((JobProgress { rows: restored.row_count, bytes: 0 }, json!(restored)))
    })
    .await
}
