//! Schema changes: columns and the primary key. Each is atomic.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use duckstore_plugin_sdk::model::Table;
use duckstore_plugin_sdk::names::{BranchId, BucketId, ColumnName, ProjectId, TableName, TableRef};
use duckstore_plugin_sdk::schema::{ColumnChange, ColumnDef};

use crate::api::error::{ApiResult, ErrorBody};
use crate::api::extract::{ApiJson, ApiPath, TablePath};
use crate::auth::{Access, Principal};
use crate::server::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(add))
        .routes(routes!(alter, drop))
        .routes(routes!(set_primary_key, drop_primary_key))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ColumnPath {
    #[param(value_type = String)]
    pub project_id: ProjectId,
    #[param(value_type = String)]
    pub branch_id: BranchId,
    #[param(value_type = String)]
    pub bucket_id: BucketId,
    #[param(value_type = String)]
    pub table_name: TableName,
    #[param(value_type = String)]
    pub column_name: ColumnName,
}

impl ColumnPath {
    fn at(self) -> (TableRef, ColumnName) {
        let table = TableRef {
            project: self.project_id,
            branch: self.branch_id,
            bucket: self.bucket_id,
            table: self.table_name,
        };
        (table, self.column_name)
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PrimaryKey {
    #[schema(value_type = Vec<String>)]
    pub columns: Vec<ColumnName>,
}

/// Add a column (at the end).
#[utoipa::path(post, path = "/projects/{project_id}/branches/{branch_id}/buckets/{bucket_id}/tables/{table_name}/columns",
    tag = "schema", params(TablePath), request_body = ColumnDef,
    responses((status = 201, body = Table), (status = "4XX", body = ErrorBody)))]
async fn add(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(path): ApiPath<TablePath>,
    ApiJson(column): ApiJson<ColumnDef>,
) -> ApiResult<(StatusCode, Json<Table>)> {
    principal.authorize(&path.project_id, Some(&path.branch_id), Access::Write)?;
    let table = path.at();
    Ok((StatusCode::CREATED, Json(state.storage.run(move |s| s.add_column(&table, &column)).await?)))
}

/// Rename, retype, or change a column's nullability or default.
#[utoipa::path(put, path = "/projects/{project_id}/branches/{branch_id}/buckets/{bucket_id}/tables/{table_name}/columns/{column_name}",
    tag = "schema", params(ColumnPath), request_body = ColumnChange,
    responses((status = 200, body = Table), (status = "4XX", body = ErrorBody)))]
async fn alter(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(path): ApiPath<ColumnPath>,
    ApiJson(change): ApiJson<ColumnChange>,
) -> ApiResult<Json<Table>> {
    principal.authorize(&path.project_id, Some(&path.branch_id), Access::Write)?;
    let (table, column) = path.at();
    Ok(Json(state.storage.run(move |s| s.alter_column(&table, &column, &change)).await?))
}

/// Drop a column; not the last one, nor one in the primary key.
#[utoipa::path(delete, path = "/projects/{project_id}/branches/{branch_id}/buckets/{bucket_id}/tables/{table_name}/columns/{column_name}",
    tag = "schema", params(ColumnPath), responses((status = 200, body = Table), (status = "4XX", body = ErrorBody)))]
async fn drop(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(path): ApiPath<ColumnPath>,
) -> ApiResult<Json<Table>> {
    principal.authorize(&path.project_id, Some(&path.branch_id), Access::Write)?;
    let (table, column) = path.at();
    let actor = principal.label();
    Ok(Json(state.storage.run(move |s| s.drop_column(&table, &column, &actor)).await?))
}

/// Set the primary key; refused (409) if existing rows repeat a key or have NULL in it.
#[utoipa::path(post, path = "/projects/{project_id}/branches/{branch_id}/buckets/{bucket_id}/tables/{table_name}/primary-key",
    tag = "schema", params(TablePath), request_body = PrimaryKey,
    responses((status = 200, body = Table), (status = "4XX", body = ErrorBody)))]
async fn set_primary_key(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(path): ApiPath<TablePath>,
    ApiJson(key): ApiJson<PrimaryKey>,
) -> ApiResult<Json<Table>> {
    principal.authorize(&path.project_id, Some(&path.branch_id), Access::Write)?;
    let table = path.at();
    Ok(Json(state.storage.run(move |s| s.set_primary_key(&table, &key.columns)).await?))
}

#[utoipa::path(delete, path = "/projects/{project_id}/branches/{branch_id}/buckets/{bucket_id}/tables/{table_name}/primary-key",
    tag = "schema", params(TablePath), responses((status = 200, body = Table), (status = "4XX", body = ErrorBody)))]
async fn drop_primary_key(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(path): ApiPath<TablePath>,
) -> ApiResult<Json<Table>> {
    principal.authorize(&path.project_id, Some(&path.branch_id), Access::Write)?;
    let table = path.at();
    Ok(Json(state.storage.run(move |s| s.drop_primary_key(&table)).await?))
}
