//! Table profiles over REST: `POST …/tables/{t}/profile` starts one, `GET` reads the latest.

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use duckstore_plugin_sdk::jobs::Job;
use duckstore_plugin_sdk::profiles::TableProfile;

use crate::api::error::{ApiResult, ErrorBody};
use crate::api::extract::{ApiPath, ApiQuery, TablePath};
use crate::api::jobs::{WaitParams, job_response};
use crate::auth::Principal;
use crate::server::AppState;
use crate::service::Wait;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(start, latest))
}

/// Profile the table's columns (a job): counts, NULLs, approximate distinct values, min, max,
/// mean for numbers, most frequent values of text with few distinct ones.
#[utoipa::path(post, path = "/projects/{project_id}/branches/{branch_id}/buckets/{bucket_id}/tables/{table_name}/profile",
    tag = "tables", params(TablePath, WaitParams),
    responses((status = 202, body = Job), (status = 200, body = Job), (status = "4XX", body = ErrorBody)))]
async fn start(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(path): ApiPath<TablePath>,
    ApiQuery(params): ApiQuery<WaitParams>,
) -> ApiResult<Response> {
    let job = state.service.start_profile(&principal, path.at(), Wait::of(params.wait)).await?;
    Ok(job_response(job, params.wait))
}

/// The table's latest profile, with whether the table is unchanged since (`current`).
#[utoipa::path(get, path = "/projects/{project_id}/branches/{branch_id}/buckets/{bucket_id}/tables/{table_name}/profile",
    tag = "tables", params(TablePath),
    responses((status = 200, body = TableProfile), (status = "4XX", body = ErrorBody)))]
async fn latest(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(path): ApiPath<TablePath>,
) -> ApiResult<Json<TableProfile>> {
    Ok(Json(state.service.profile(&principal, path.at()).await?))
}
