//! `/projects`: create, list, read, update, delete, stats.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use duckstore_plugin_sdk::model::{NewProject, Page, Project, ProjectStats, ProjectUpdate, Scope};
use duckstore_plugin_sdk::names::ProjectId;

use crate::api::error::{ApiResult, ErrorBody};
use crate::api::extract::{ApiJson, ApiPath, ApiQuery, ProjectPath};
use crate::auth::{Access, Principal, new_project_key};
use crate::server::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create, list)).routes(routes!(get, update, delete)).routes(routes!(stats))
}

/// A new project with its first project_admin key, shown only in this response.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ProjectCreated {
    #[serde(flatten)]
    pub project: Project,
    pub api_key: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ProjectList {
    pub projects: Vec<Project>,
    pub total: u64,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ProjectStatsResponse {
    #[schema(value_type = String)]
    pub id: ProjectId,
    #[serde(flatten)]
    pub stats: ProjectStats,
}

/// Create a project (admin key only). The response holds the project's first
/// project_admin key; it is not stored anywhere in plain form and cannot be shown again.
#[utoipa::path(post, path = "/projects", tag = "projects", request_body = NewProject,
    responses((status = 201, body = ProjectCreated), (status = "4XX", body = ErrorBody)))]
async fn create(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(new): ApiJson<NewProject>,
) -> ApiResult<(StatusCode, Json<ProjectCreated>)> {
    principal.require_admin()?;
    let key = new_project_key(new.id.clone(), None, Scope::ProjectAdmin, "project admin key".into(), Utc::now(), None);
    let stored = key.stored;
    let project = state.storage.run(move |s| s.create_project(&new, &stored)).await?;
    Ok((StatusCode::CREATED, Json(ProjectCreated { project, api_key: key.plain })))
}

/// List projects: all of them for the admin key, the key's own project otherwise.
#[utoipa::path(get, path = "/projects", tag = "projects", params(Page),
    responses((status = 200, body = ProjectList), (status = "4XX", body = ErrorBody)))]
async fn list(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(page): ApiQuery<Page>,
) -> ApiResult<Json<ProjectList>> {
    let page = page.checked()?;
    let (projects, total) = match principal.projects() {
        None => state.storage.run(move |s| s.list_projects(page)).await?,
        Some(own) => {
            let visible = state
                .storage
                .run(move |s| Ok(own.iter().filter_map(|p| s.get_project(p).ok()).collect::<Vec<_>>()))
                .await?;
            let total = visible.len() as u64;
            (visible.into_iter().skip(page.offset as usize).take(page.limit as usize).collect(), total)
        }
    };
    Ok(Json(ProjectList { projects, total }))
}

#[utoipa::path(get, path = "/projects/{project_id}", tag = "projects", params(ProjectPath),
    responses((status = 200, body = Project), (status = "4XX", body = ErrorBody)))]
async fn get(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(path): ApiPath<ProjectPath>,
) -> ApiResult<Json<Project>> {
    principal.authorize(&path.project_id, None, Access::Read)?;
    Ok(Json(state.storage.run(move |s| s.get_project(&path.project_id)).await?))
}

#[utoipa::path(put, path = "/projects/{project_id}", tag = "projects", params(ProjectPath),
    request_body = ProjectUpdate, responses((status = 200, body = Project), (status = "4XX", body = ErrorBody)))]
async fn update(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(path): ApiPath<ProjectPath>,
    ApiJson(update): ApiJson<ProjectUpdate>,
) -> ApiResult<Json<Project>> {
    principal.authorize(&path.project_id, None, Access::Manage)?;
    Ok(Json(state.storage.run(move |s| s.update_project(&path.project_id, &update)).await?))
}

/// Delete a project and all its data (admin key only).
#[utoipa::path(delete, path = "/projects/{project_id}", tag = "projects", params(ProjectPath),
    responses((status = 204), (status = "4XX", body = ErrorBody)))]
async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(path): ApiPath<ProjectPath>,
) -> ApiResult<StatusCode> {
    principal.require_admin()?;
    state.storage.run(move |s| s.delete_project(&path.project_id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/projects/{project_id}/stats", tag = "projects", params(ProjectPath),
    responses((status = 200, body = ProjectStatsResponse), (status = "4XX", body = ErrorBody)))]
async fn stats(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(path): ApiPath<ProjectPath>,
) -> ApiResult<Json<ProjectStatsResponse>> {
    principal.authorize(&path.project_id, None, Access::Read)?;
    let id = path.project_id.clone();
    let stats = state.storage.run(move |s| s.project_stats(&id)).await?;
    Ok(Json(ProjectStatsResponse { id: path.project_id, stats }))
}
