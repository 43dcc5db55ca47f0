//! `/projects/{p}/branches/{b}/buckets`: create, list, read, delete.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use duckstore_plugin_sdk::model::{Bucket, NewBucket};

use crate::api::error::{ApiResult, ErrorBody};
use crate::api::extract::{ApiJson, ApiPath, ApiQuery, BranchPath, BucketPath};
use crate::auth::{Access, Principal};
use crate::server::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create, list)).routes(routes!(get, delete))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct BucketList {
    pub buckets: Vec<Bucket>,
    pub total: usize,
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct DeleteBucketParams {
    /// Also delete the bucket's tables; without it a non-empty bucket is not deleted (409).
    #[serde(default)]
    pub cascade: bool,
}

#[utoipa::path(post, path = "/projects/{project_id}/branches/{branch_id}/buckets", tag = "buckets",
    params(BranchPath), request_body = NewBucket,
    responses((status = 201, body = Bucket), (status = "4XX", body = ErrorBody)))]
async fn create(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(path): ApiPath<BranchPath>,
    ApiJson(new): ApiJson<NewBucket>,
) -> ApiResult<(StatusCode, Json<Bucket>)> {
    principal.authorize(&path.project_id, Some(&path.branch_id), Access::Write)?;
    let at = path.at();
    let bucket = state.storage.run(move |s| s.create_bucket(&at, &new)).await?;
    Ok((StatusCode::CREATED, Json(bucket)))
}

#[utoipa::path(get, path = "/projects/{project_id}/branches/{branch_id}/buckets", tag = "buckets",
    params(BranchPath), responses((status = 200, body = BucketList), (status = "4XX", body = ErrorBody)))]
async fn list(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(path): ApiPath<BranchPath>,
) -> ApiResult<Json<BucketList>> {
    principal.authorize(&path.project_id, Some(&path.branch_id), Access::Read)?;
    let at = path.at();
    let buckets = state.storage.run(move |s| s.list_buckets(&at)).await?;
    Ok(Json(BucketList { total: buckets.len(), buckets }))
}

#[utoipa::path(get, path = "/projects/{project_id}/branches/{branch_id}/buckets/{bucket_id}", tag = "buckets",
    params(BucketPath), responses((status = 200, body = Bucket), (status = "4XX", body = ErrorBody)))]
async fn get(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(path): ApiPath<BucketPath>,
) -> ApiResult<Json<Bucket>> {
    principal.authorize(&path.project_id, Some(&path.branch_id), Access::Read)?;
    let at = path.at();
    Ok(Json(state.storage.run(move |s| s.get_bucket(&at)).await?))
}

#[utoipa::path(delete, path = "/projects/{project_id}/branches/{branch_id}/buckets/{bucket_id}", tag = "buckets",
    params(BucketPath, DeleteBucketParams), responses((status = 204), (status = "4XX", body = ErrorBody)))]
async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(path): ApiPath<BucketPath>,
    ApiQuery(params): ApiQuery<DeleteBucketParams>,
) -> ApiResult<StatusCode> {
    principal.authorize(&path.project_id, Some(&path.branch_id), Access::Write)?;
    let at = path.at();
    state.storage.run(move |s| s.delete_bucket(&at, params.cascade)).await?;
    Ok(StatusCode::NO_CONTENT)
}
