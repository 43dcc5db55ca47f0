//! `/projects/{p}/branches`: the project's branches (`default` is main).

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use duckstore_plugin_sdk::model::Branch;

use crate::api::error::{ApiResult, ErrorBody};
use crate::api::extract::{ApiPath, BranchPath, ProjectPath};
use crate::auth::{Access, Principal};
use crate::server::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list)).routes(routes!(get))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct BranchList {
    pub branches: Vec<Branch>,
    pub total: usize,
}

#[utoipa::path(get, path = "/projects/{project_id}/branches", tag = "branches", params(ProjectPath),
    responses((status = 200, body = BranchList), (status = "4XX", body = ErrorBody)))]
async fn list(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(path): ApiPath<ProjectPath>,
) -> ApiResult<Json<BranchList>> {
    principal.authorize(&path.project_id, None, Access::Read)?;
    let branches = state.storage.run(move |s| s.list_branches(&path.project_id)).await?;
    Ok(Json(BranchList { total: branches.len(), branches }))
}

#[utoipa::path(get, path = "/projects/{project_id}/branches/{branch_id}", tag = "branches", params(BranchPath),
    responses((status = 200, body = Branch), (status = "4XX", body = ErrorBody)))]
async fn get(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(path): ApiPath<BranchPath>,
) -> ApiResult<Json<Branch>> {
    principal.authorize(&path.project_id, Some(&path.branch_id), Access::Read)?;
    let at = path.at();
    Ok(Json(state.storage.run(move |s| s.get_branch(&at)).await?))
}
