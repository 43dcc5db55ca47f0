//! Moving rows: import into a table, create a table from a file, export, delete rows.

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use duckstore_plugin_sdk::jobs::Job;
use duckstore_plugin_sdk::query::RowSelection;
use duckstore_plugin_sdk::transfer::{ExportRequest, ImportRequest, NewTableFromFile};

use crate::api::error::{ApiResult, ErrorBody};
use crate::api::extract::{ApiJson, ApiPath, ApiQuery, BucketPath, TablePath};
use crate::api::jobs::{WaitParams, job_response};
use crate::auth::{Access, Principal};
use crate::server::AppState;
use crate::service::Wait;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(import))
        .routes(routes!(create_from_file))
        .routes(routes!(export))
        .routes(routes!(delete_rows))
        .routes(routes!(truncate))
}

/// Load a file or another table's rows into the table: a full load replaces its rows
/// atomically; `incremental` adds them, replacing rows with the same primary key.
#[utoipa::path(post, path = "/projects/{project_id}/branches/{branch_id}/buckets/{bucket_id}/tables/{table_name}/import",
    tag = "data", params(TablePath, WaitParams), request_body = ImportRequest,
    responses((status = 202, body = Job), (status = 200, body = Job), (status = "4XX", body = ErrorBody)))]
async fn import(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(path): ApiPath<TablePath>,
    ApiQuery(params): ApiQuery<WaitParams>,
    ApiJson(request): ApiJson<ImportRequest>,
) -> ApiResult<Response> {
    let wait = Wait::of(params.wait);
    let job = state.service.start_import(&principal, path.at(), request, wait).await?;
    Ok(job_response(job, params.wait))
}

/// Create a table shaped like a file (CSV header or Parquet schema) and load the file into it.
#[utoipa::path(post, path = "/projects/{project_id}/branches/{branch_id}/buckets/{bucket_id}/tables-from-file",
    tag = "data", params(BucketPath, WaitParams), request_body = NewTableFromFile,
    responses((status = 202, body = Job), (status = 200, body = Job), (status = "4XX", body = ErrorBody)))]
async fn create_from_file(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(path): ApiPath<BucketPath>,
    ApiQuery(params): ApiQuery<WaitParams>,
    ApiJson(request): ApiJson<NewTableFromFile>,
) -> ApiResult<Response> {
    let wait = Wait::of(params.wait);
    let job = state.service.start_table_from_file(&principal, path.at(), request, wait).await?;
    Ok(job_response(job, params.wait))
}

/// Write rows (optionally filtered, ordered, limited, some columns) to a new file.
#[utoipa::path(post, path = "/projects/{project_id}/branches/{branch_id}/buckets/{bucket_id}/tables/{table_name}/export",
    tag = "data", params(TablePath, WaitParams), request_body = ExportRequest,
    responses((status = 202, body = Job), (status = 200, body = Job), (status = "4XX", body = ErrorBody)))]
async fn export(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(path): ApiPath<TablePath>,
    ApiQuery(params): ApiQuery<WaitParams>,
    ApiJson(request): ApiJson<ExportRequest>,
) -> ApiResult<Response> {
    let wait = Wait::of(params.wait);
    let job = state.service.start_export(&principal, path.at(), request, wait).await?;
    Ok(job_response(job, params.wait))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct DeletedRows {
    pub deleted_rows: u64,
}

/// Delete the rows matching the filters; an empty selection deletes every row.
#[utoipa::path(delete, path = "/projects/{project_id}/branches/{branch_id}/buckets/{bucket_id}/tables/{table_name}/rows",
    tag = "data", params(TablePath), request_body = RowSelection,
    responses((status = 200, body = DeletedRows), (status = "4XX", body = ErrorBody)))]
async fn delete_rows(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(path): ApiPath<TablePath>,
    ApiJson(selection): ApiJson<RowSelection>,
) -> ApiResult<Json<DeletedRows>> {
    principal.authorize(&path.project_id, Some(&path.branch_id), Access::Write)?;
    let table = path.at();
    let actor = principal.label();
    let deleted_rows = state.storage.run(move |s| s.delete_rows(&table, &selection, &actor)).await?;
    Ok(Json(DeletedRows { deleted_rows }))
}

/// Delete every row (the `truncate_table` snapshot trigger applies).
#[utoipa::path(post, path = "/projects/{project_id}/branches/{branch_id}/buckets/{bucket_id}/tables/{table_name}/truncate",
    tag = "data", params(TablePath), responses((status = 200, body = DeletedRows), (status = "4XX", body = ErrorBody)))]
async fn truncate(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(path): ApiPath<TablePath>,
) -> ApiResult<Json<DeletedRows>> {
    principal.authorize(&path.project_id, Some(&path.branch_id), Access::Write)?;
    let table = path.at();
    let actor = principal.label();
    let deleted_rows = state.storage.run(move |s| s.truncate_table(&table, &actor)).await?;
    Ok(Json(DeletedRows { deleted_rows }))
}
