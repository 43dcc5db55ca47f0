//! `/projects/{p}/jobs`: the status of background operations, and running them.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use duckstore_plugin_sdk::jobs::Job;
use duckstore_plugin_sdk::model::Page;
use duckstore_plugin_sdk::names::ProjectId;

use crate::api::error::{ApiResult, ErrorBody};
use crate::api::extract::{ApiPath, ApiQuery, ProjectPath};
use crate::auth::{Access, Principal};
use crate::server::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list)).routes(routes!(get)).routes(routes!(cancel))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct JobPath {
    #[param(value_type = String)]
    pub project_id: ProjectId,
    pub job_id: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct JobList {
    pub jobs: Vec<Job>,
    pub total: u64,
}

/// `?wait=true` runs a job to its end within the request: 200 with the finished job, or
/// the job's error as the response. Without it the answer is 202 with the job to poll.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct WaitParams {
    #[serde(default)]
    pub wait: bool,
}

/// A job as REST answers a request that started it: 200 once it ended (`wait`), else 202;
/// `Location` names it either way.
pub fn job_response(job: Job, waited: bool) -> Response {
    let location = format!("/projects/{}/jobs/{}", job.project_id, job.id);
    let status = if waited { StatusCode::OK } else { StatusCode::ACCEPTED };
    (status, [(header::LOCATION, location)], Json(job)).into_response()
}

#[utoipa::path(get, path = "/projects/{project_id}/jobs", tag = "jobs", params(ProjectPath, Page),
    responses((status = 200, body = JobList), (status = "4XX", body = ErrorBody)))]
async fn list(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(path): ApiPath<ProjectPath>,
    ApiQuery(page): ApiQuery<Page>,
) -> ApiResult<Json<JobList>> {
    principal.authorize(&path.project_id, None, Access::Read)?;
    let page = page.checked()?;
    let (jobs, total) = state.storage.run(move |s| s.list_jobs(&path.project_id, page)).await?;
    Ok(Json(JobList { jobs, total }))
}

#[utoipa::path(get, path = "/projects/{project_id}/jobs/{job_id}", tag = "jobs", params(JobPath),
    responses((status = 200, body = Job), (status = "4XX", body = ErrorBody)))]
async fn get(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(path): ApiPath<JobPath>,
) -> ApiResult<Json<Job>> {
    principal.authorize(&path.project_id, None, Access::Read)?;
    let job = state.storage.run(move |s| s.get_job(&path.project_id, &path.job_id)).await?;
    principal.authorize(&job.project_id, job.branch_id.as_ref(), Access::Read)?;
    Ok(Json(job))
}

/// Ask a running job to stop. It stops before its commit, leaving everything as it was
/// (the job then reads `cancelled`), or, if it already committed, finishes as `success`.
/// 202 with the job's record; 409 `job_finished` for a job that already ended.
#[utoipa::path(post, path = "/projects/{project_id}/jobs/{job_id}/cancel", tag = "jobs", params(JobPath),
    responses((status = 202, body = Job), (status = "4XX", body = ErrorBody)))]
async fn cancel(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(path): ApiPath<JobPath>,
) -> ApiResult<Response> {
    principal.authorize(&path.project_id, None, Access::Read)?;
    let (project, id) = (path.project_id.clone(), path.job_id.clone());
    let job = state.storage.run(move |s| s.get_job(&project, &id)).await?;
    principal.authorize(&job.project_id, job.branch_id.as_ref(), Access::Write)?;
    if job.status.is_finished() || !state.jobs.cancel(&job.id) {
        return Err(crate::api::error::ApiError::new(
            StatusCode::CONFLICT,
            "job_finished",
            format!("job {} has already ended ({})", job.id, job.status.as_str()),
        ));
    }
    let job = state.storage.run(move |s| s.get_job(&path.project_id, &path.job_id)).await?;
    Ok((StatusCode::ACCEPTED, Json(job)).into_response())
}
