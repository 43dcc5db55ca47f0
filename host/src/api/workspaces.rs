//! `/projects/{p}/branches/{b}/workspaces`: SQL workspaces reached over the PostgreSQL
//! wire protocol. Passwords are generated here, shown once and stored as SCRAM verifiers.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use duckstore_plugin_sdk::names::{BranchId, BranchRef, ProjectId};
use duckstore_plugin_sdk::workspaces::{LoadRequest, LoadResult, NewWorkspace, Workspace, WorkspaceDetail};

use crate::api::error::{ApiResult, ErrorBody};
use crate::api::extract::{ApiJson, ApiPath, BranchPath};
use crate::auth::{Access, Principal};
use crate::server::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(get, delete))
        .routes(routes!(clear))
        .routes(routes!(drop_object))
        .routes(routes!(reset_password))
        .routes(routes!(load))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct WorkspacePath {
    #[param(value_type = String)]
    pub project_id: ProjectId,
    #[param(value_type = String)]
    pub branch_id: BranchId,
    pub workspace_id: String,
}

impl WorkspacePath {
    fn at(&self) -> BranchRef {
        BranchRef { project: self.project_id.clone(), branch: self.branch_id.clone() }
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ObjectPath {
    #[param(value_type = String)]
    pub project_id: ProjectId,
    #[param(value_type = String)]
    pub branch_id: BranchId,
    pub workspace_id: String,
    /// `table` or `schema.table`.
    pub object: String,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct WorkspaceList {
    pub workspaces: Vec<Workspace>,
}

/// Create a workspace; the response holds its password, shown only this once.
#[utoipa::path(post, path = "/projects/{project_id}/branches/{branch_id}/workspaces", tag = "workspaces",
    params(BranchPath), request_body = NewWorkspace,
    responses((status = 201, body = Workspace), (status = "4XX", body = ErrorBody)))]
async fn create(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(path): ApiPath<BranchPath>,
    ApiJson(new): ApiJson<NewWorkspace>,
) -> ApiResult<(StatusCode, Json<Workspace>)> {
    let ws = state.service.create_workspace(&principal, path.at(), new).await?;
    Ok((StatusCode::CREATED, Json(ws)))
}

/// The branch's workspaces that have not expired.
#[utoipa::path(get, path = "/projects/{project_id}/branches/{branch_id}/workspaces", tag = "workspaces",
    params(BranchPath), responses((status = 200, body = WorkspaceList), (status = "4XX", body = ErrorBody)))]
async fn list(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(path): ApiPath<BranchPath>,
) -> ApiResult<Json<WorkspaceList>> {
    Ok(Json(WorkspaceList { workspaces: state.service.list_workspaces(&principal, path.at()).await? }))
}

/// A workspace with its objects, size and active sessions (410 once expired).
#[utoipa::path(get, path = "/projects/{project_id}/branches/{branch_id}/workspaces/{workspace_id}", tag = "workspaces",
    params(WorkspacePath), responses((status = 200, body = WorkspaceDetail), (status = "4XX", body = ErrorBody)))]
async fn get(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(path): ApiPath<WorkspacePath>,
) -> ApiResult<Json<WorkspaceDetail>> {
    Ok(Json(state.service.workspace(&principal, path.at(), path.workspace_id).await?))
}

/// Delete a workspace: its sessions are closed and its data removed.
#[utoipa::path(delete, path = "/projects/{project_id}/branches/{branch_id}/workspaces/{workspace_id}", tag = "workspaces",
    params(WorkspacePath), responses((status = 204), (status = "4XX", body = ErrorBody)))]
async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(path): ApiPath<WorkspacePath>,
) -> ApiResult<StatusCode> {
    state.service.delete_workspace(&principal, path.at(), path.workspace_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Drop every table and view in the workspace.
#[utoipa::path(post, path = "/projects/{project_id}/branches/{branch_id}/workspaces/{workspace_id}/clear", tag = "workspaces",
    params(WorkspacePath), responses((status = 200, body = WorkspaceDetail), (status = "4XX", body = ErrorBody)))]
async fn clear(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(path): ApiPath<WorkspacePath>,
) -> ApiResult<Json<WorkspaceDetail>> {
    Ok(Json(state.service.clear_workspace(&principal, path.at(), path.workspace_id).await?))
}

/// Drop one table or view of the workspace.
#[utoipa::path(delete, path = "/projects/{project_id}/branches/{branch_id}/workspaces/{workspace_id}/objects/{object}",
    tag = "workspaces", params(ObjectPath), responses((status = 204), (status = "4XX", body = ErrorBody)))]
async fn drop_object(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(path): ApiPath<ObjectPath>,
) -> ApiResult<StatusCode> {
    principal.authorize(&path.project_id, Some(&path.branch_id), Access::Write)?;
    let at = BranchRef { project: path.project_id.clone(), branch: path.branch_id.clone() };
    state.storage.run(move |s| s.drop_workspace_object(&at, &path.workspace_id, &path.object)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Replace the workspace's password; the new one is in the response, shown only this once.
#[utoipa::path(post, path = "/projects/{project_id}/branches/{branch_id}/workspaces/{workspace_id}/reset-password",
    tag = "workspaces", params(WorkspacePath), responses((status = 200, body = Workspace), (status = "4XX", body = ErrorBody)))]
async fn reset_password(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(path): ApiPath<WorkspacePath>,
) -> ApiResult<Json<Workspace>> {
    Ok(Json(state.service.reset_workspace_password(&principal, path.at(), path.workspace_id).await?))
}

/// Copy project tables into the workspace (columns, filters, changedSince: Keboola's input
/// mapping); each destination table is replaced.
#[utoipa::path(post, path = "/projects/{project_id}/branches/{branch_id}/workspaces/{workspace_id}/load", tag = "workspaces",
    params(WorkspacePath), request_body = LoadRequest,
    responses((status = 200, body = LoadResult), (status = "4XX", body = ErrorBody)))]
async fn load(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(path): ApiPath<WorkspacePath>,
    ApiJson(request): ApiJson<LoadRequest>,
) -> ApiResult<Json<LoadResult>> {
    principal.authorize(&path.project_id, Some(&path.branch_id), Access::Write)?;
    Ok(Json(state.storage.run(move |s| s.load_workspace(&path.at(), &path.workspace_id, &request)).await?))
}
