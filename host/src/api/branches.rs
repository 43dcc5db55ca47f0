//! `/projects/{p}/branches`: dev branches (`default` is main), and moving tables between a
//! branch and main.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use duckstore_plugin_sdk::model::{Branch, NewBranch, Table};
use duckstore_plugin_sdk::names::{BranchId, BucketId, ProjectId, TableName, TableRef};

use crate::api::error::{ApiResult, ErrorBody};
use crate::api::extract::{ApiJson, ApiPath, BranchPath, ProjectPath};
use crate::auth::{Access, Principal};
use crate::server::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(get, delete))
        .routes(routes!(pull))
        .routes(routes!(merge))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct BranchList {
    pub branches: Vec<Branch>,
    pub total: usize,
}

/// A table addressed by branch, bucket and name, as the seed API did for pull.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct BranchTablePath {
    #[param(value_type = String)]
    pub project_id: ProjectId,
    #[param(value_type = String)]
    pub branch_id: BranchId,
    #[param(value_type = String)]
    pub bucket_id: BucketId,
    #[param(value_type = String)]
    pub table_name: TableName,
}

impl BranchTablePath {
    fn at(self) -> TableRef {
        TableRef { project: self.project_id, branch: self.branch_id, bucket: self.bucket_id, table: self.table_name }
    }
}

/// Create a dev branch. Nothing is copied: the branch reads main's tables live until it
/// writes to one, which then gets its own copy.
#[utoipa::path(post, path = "/projects/{project_id}/branches", tag = "branches", params(ProjectPath),
    request_body = NewBranch, responses((status = 201, body = Branch), (status = "4XX", body = ErrorBody)))]
async fn create(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(path): ApiPath<ProjectPath>,
    ApiJson(new): ApiJson<NewBranch>,
) -> ApiResult<(StatusCode, Json<Branch>)> {
    let branch = state.service.create_branch(&principal, path.project_id, new).await?;
    Ok((StatusCode::CREATED, Json(branch)))
}

#[utoipa::path(get, path = "/projects/{project_id}/branches", tag = "branches", params(ProjectPath),
    responses((status = 200, body = BranchList), (status = "4XX", body = ErrorBody)))]
async fn list(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(path): ApiPath<ProjectPath>,
) -> ApiResult<Json<BranchList>> {
    let branches = state.service.list_branches(&principal, path.project_id).await?;
    Ok(Json(BranchList { total: branches.len(), branches }))
}

#[utoipa::path(get, path = "/projects/{project_id}/branches/{branch_id}", tag = "branches", params(BranchPath),
    responses((status = 200, body = Branch), (status = "4XX", body = ErrorBody)))]
async fn get(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(path): ApiPath<BranchPath>,
) -> ApiResult<Json<Branch>> {
    Ok(Json(state.service.branch(&principal, path.at()).await?))
}

/// Delete a dev branch with its tables, buckets and snapshots; its keys are revoked.
#[utoipa::path(delete, path = "/projects/{project_id}/branches/{branch_id}", tag = "branches", params(BranchPath),
    responses((status = 204), (status = "4XX", body = ErrorBody)))]
async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(path): ApiPath<BranchPath>,
) -> ApiResult<StatusCode> {
    state.service.delete_branch(&principal, path.at()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Reset the branch's table to main's current version (its own copy is dropped).
#[utoipa::path(post, path = "/projects/{project_id}/branches/{branch_id}/tables/{bucket_id}/{table_name}/pull",
    tag = "branches", params(BranchTablePath), responses((status = 200, body = Table), (status = "4XX", body = ErrorBody)))]
async fn pull(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(path): ApiPath<BranchTablePath>,
) -> ApiResult<Json<Table>> {
    principal.authorize(&path.project_id, Some(&path.branch_id), Access::Write)?;
    let at = path.at();
    Ok(Json(state.storage.run(move |s| s.pull_table(&at)).await?))
}

/// Replace main's version of the table with the branch's (schema and rows), atomically,
/// after an automatic snapshot of main's version. Needs write access to main too.
#[utoipa::path(post, path = "/projects/{project_id}/branches/{branch_id}/tables/{bucket_id}/{table_name}/merge",
    tag = "branches", params(BranchTablePath), responses((status = 200, body = Table), (status = "4XX", body = ErrorBody)))]
async fn merge(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(path): ApiPath<BranchTablePath>,
) -> ApiResult<Json<Table>> {
    principal.authorize(&path.project_id, Some(&path.branch_id), Access::Write)?;
    principal.authorize(&path.project_id, Some(&BranchId::main()), Access::Write)?;
    let at = path.at();
    let actor = principal.label();
    Ok(Json(state.storage.run(move |s| s.merge_table(&at, &actor)).await?))
}
