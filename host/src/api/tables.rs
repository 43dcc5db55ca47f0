//! `/projects/{p}/branches/{b}/buckets/{bucket}/tables`: create, list, read, delete, preview.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use duckstore_plugin_sdk::model::{NewTable, Preview, Table};
use duckstore_plugin_sdk::names::ColumnName;
use duckstore_plugin_sdk::query::{Filter, OrderBy, RowQuery, SortOrder};

use crate::api::error::{ApiError, ApiResult, ErrorBody};
use crate::api::extract::{ApiJson, ApiPath, ApiQuery, BucketPath, TablePath};
use crate::auth::{Access, Principal};
use crate::server::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(get, delete))
        .routes(routes!(preview, preview_post))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TableList {
    pub tables: Vec<Table>,
    pub total: usize,
}

#[utoipa::path(post, path = "/projects/{project_id}/branches/{branch_id}/buckets/{bucket_id}/tables",
    tag = "tables", params(BucketPath), request_body = NewTable,
    responses((status = 201, body = Table), (status = "4XX", body = ErrorBody)))]
async fn create(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(path): ApiPath<BucketPath>,
    ApiJson(new): ApiJson<NewTable>,
) -> ApiResult<(StatusCode, Json<Table>)> {
    principal.authorize(&path.project_id, Some(&path.branch_id), Access::Write)?;
    let at = path.at();
    let table = state.storage.run(move |s| s.create_table(&at, &new)).await?;
    Ok((StatusCode::CREATED, Json(table)))
}

#[utoipa::path(get, path = "/projects/{project_id}/branches/{branch_id}/buckets/{bucket_id}/tables",
    tag = "tables", params(BucketPath), responses((status = 200, body = TableList), (status = "4XX", body = ErrorBody)))]
async fn list(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(path): ApiPath<BucketPath>,
) -> ApiResult<Json<TableList>> {
    principal.authorize(&path.project_id, Some(&path.branch_id), Access::Read)?;
    let at = path.at();
    let tables = state.storage.run(move |s| s.list_tables(&at)).await?;
    Ok(Json(TableList { total: tables.len(), tables }))
}

#[utoipa::path(get, path = "/projects/{project_id}/branches/{branch_id}/buckets/{bucket_id}/tables/{table_name}",
    tag = "tables", params(TablePath), responses((status = 200, body = Table), (status = "4XX", body = ErrorBody)))]
async fn get(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(path): ApiPath<TablePath>,
) -> ApiResult<Json<Table>> {
    principal.authorize(&path.project_id, Some(&path.branch_id), Access::Read)?;
    let at = path.at();
    Ok(Json(state.storage.run(move |s| s.get_table(&at)).await?))
}

#[utoipa::path(delete, path = "/projects/{project_id}/branches/{branch_id}/buckets/{bucket_id}/tables/{table_name}",
    tag = "tables", params(TablePath), responses((status = 204), (status = "4XX", body = ErrorBody)))]
async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(path): ApiPath<TablePath>,
) -> ApiResult<StatusCode> {
    principal.authorize(&path.project_id, Some(&path.branch_id), Access::Write)?;
    let at = path.at();
    let actor = principal.label();
    state.storage.run(move |s| s.delete_table(&at, &actor)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Preview parameters in query-string form; `POST …/preview` takes the same as JSON.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PreviewParams {
    /// Rows to return, 1 to 10000 (default 100).
    pub limit: Option<u64>,
    /// Comma-separated column names.
    pub columns: Option<String>,
    /// Comma-separated `column` or `column:desc` items.
    pub order_by: Option<String>,
    /// A JSON array of filters: `[{"column":"status","operator":"eq","values":["open"]}]`.
    pub filters: Option<String>,
    pub changed_since: Option<chrono::DateTime<chrono::Utc>>,
    pub changed_until: Option<chrono::DateTime<chrono::Utc>>,
}

impl PreviewParams {
    fn into_query(self) -> Result<RowQuery, ApiError> {
        let columns = self
            .columns
            .map(|list| list.split(',').map(|c| ColumnName::new(c.trim())).collect::<Result<Vec<_>, _>>())
            .transpose()?;
        let order_by = self
            .order_by
            .map(|list| {
                list.split(',')
                    .map(|item| {
                        let (col, dir) = item.trim().split_once(':').unwrap_or((item.trim(), "asc"));
                        let order = match dir.to_ascii_lowercase().as_str() {
                            "asc" => SortOrder::Asc,
                            "desc" => SortOrder::Desc,
                            other => {
                                return Err(ApiError::bad_request(
                                    "invalid_order",
                                    format!("sort order must be asc or desc, got {other:?}"),
                                ));
                            }
                        };
                        Ok(OrderBy { column: ColumnName::new(col)?, order })
                    })
                    .collect::<Result<Vec<_>, ApiError>>()
            })
            .transpose()?
            .unwrap_or_default();
        let filters: Vec<Filter> = match self.filters {
            None => Vec::new(),
            Some(json) => serde_json::from_str(&json).map_err(|e| {
                ApiError::bad_request("invalid_filter", format!("filters must be a JSON array of filters: {e}"))
            })?,
        };
        Ok(RowQuery {
            columns,
            filters,
            changed_since: self.changed_since,
            changed_until: self.changed_until,
            order_by,
            limit: self.limit,
        })
    }
}

/// Read some rows, with structured filters, ordering and a limit.
#[utoipa::path(get, path = "/projects/{project_id}/branches/{branch_id}/buckets/{bucket_id}/tables/{table_name}/preview",
    tag = "tables", params(TablePath, PreviewParams),
    responses((status = 200, body = Preview), (status = "4XX", body = ErrorBody)))]
async fn preview(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(path): ApiPath<TablePath>,
    ApiQuery(params): ApiQuery<PreviewParams>,
) -> ApiResult<Json<Preview>> {
    run_preview(state, principal, path, params.into_query()?).await
}

/// The same preview with the query as a JSON body, for filters too long for a URL.
#[utoipa::path(post, path = "/projects/{project_id}/branches/{branch_id}/buckets/{bucket_id}/tables/{table_name}/preview",
    tag = "tables", params(TablePath), request_body = RowQuery,
    responses((status = 200, body = Preview), (status = "4XX", body = ErrorBody)))]
async fn preview_post(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(path): ApiPath<TablePath>,
    ApiJson(query): ApiJson<RowQuery>,
) -> ApiResult<Json<Preview>> {
    run_preview(state, principal, path, query).await
}

async fn run_preview(
    state: AppState,
    principal: Principal,
    path: TablePath,
    query: RowQuery,
) -> ApiResult<Json<Preview>> {
    principal.authorize(&path.project_id, Some(&path.branch_id), Access::Read)?;
    let at = path.at();
    Ok(Json(state.storage.run(move |s| s.preview(&at, &query)).await?))
}
