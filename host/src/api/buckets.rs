//! `/projects/{p}/branches/{b}/buckets`: create, list, read, delete.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use duckstore_plugin_sdk::model::{Bucket, BucketLink, NewBucket, ShareTarget};

use crate::api::error::{ApiResult, ErrorBody};
use crate::api::extract::{ApiJson, ApiPath, ApiQuery, BranchPath, BucketPath};
use crate::auth::{Access, Principal};
use crate::server::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(get, delete))
        .routes(routes!(share, unshare))
        .routes(routes!(link, unlink))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct BucketList {
    pub buckets: Vec<Bucket>,
    pub total: usize,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
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
    let bucket = state.service.create_bucket(&principal, path.at(), new).await?;
    Ok((StatusCode::CREATED, Json(bucket)))
}

#[utoipa::path(get, path = "/projects/{project_id}/branches/{branch_id}/buckets", tag = "buckets",
    params(BranchPath), responses((status = 200, body = BucketList), (status = "4XX", body = ErrorBody)))]
async fn list(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(path): ApiPath<BranchPath>,
) -> ApiResult<Json<BucketList>> {
    let buckets = state.service.list_buckets(&principal, path.at()).await?;
    Ok(Json(BucketList { total: buckets.len(), buckets }))
}

#[utoipa::path(get, path = "/projects/{project_id}/branches/{branch_id}/buckets/{bucket_id}", tag = "buckets",
    params(BucketPath), responses((status = 200, body = Bucket), (status = "4XX", body = ErrorBody)))]
async fn get(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(path): ApiPath<BucketPath>,
) -> ApiResult<Json<Bucket>> {
    Ok(Json(state.service.bucket(&principal, path.at()).await?))
}

#[utoipa::path(delete, path = "/projects/{project_id}/branches/{branch_id}/buckets/{bucket_id}", tag = "buckets",
    params(BucketPath, DeleteBucketParams), responses((status = 204), (status = "4XX", body = ErrorBody)))]
async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(path): ApiPath<BucketPath>,
    ApiQuery(params): ApiQuery<DeleteBucketParams>,
) -> ApiResult<StatusCode> {
    state.service.delete_bucket(&principal, path.at(), params.cascade).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UnshareParams {
    /// The project to stop sharing with (`*` for the share with everyone); all shares when absent.
    pub target_project_id: Option<String>,
}

/// Share a main-branch bucket with a project, or with every project (`*`), so that it can
/// be linked there. Shares are read-only grants.
#[utoipa::path(post, path = "/projects/{project_id}/branches/{branch_id}/buckets/{bucket_id}/share", tag = "sharing",
    params(BucketPath), request_body = ShareTarget,
    responses((status = 200, body = Bucket), (status = "4XX", body = ErrorBody)))]
async fn share(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(path): ApiPath<BucketPath>,
    ApiJson(target): ApiJson<ShareTarget>,
) -> ApiResult<Json<Bucket>> {
    principal.authorize(&path.project_id, Some(&path.branch_id), Access::Manage)?;
    let at = path.at();
    Ok(Json(state.storage.run(move |s| s.share_bucket(&at, &target.target_project_id)).await?))
}

/// Stop sharing; refused (409) while a project that would lose access still links the bucket.
#[utoipa::path(delete, path = "/projects/{project_id}/branches/{branch_id}/buckets/{bucket_id}/share", tag = "sharing",
    params(BucketPath, UnshareParams), responses((status = 200, body = Bucket), (status = "4XX", body = ErrorBody)))]
async fn unshare(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(path): ApiPath<BucketPath>,
    ApiQuery(params): ApiQuery<UnshareParams>,
) -> ApiResult<Json<Bucket>> {
    principal.authorize(&path.project_id, Some(&path.branch_id), Access::Manage)?;
    let at = path.at();
    Ok(Json(state.storage.run(move |s| s.unshare_bucket(&at, params.target_project_id.as_deref())).await?))
}

/// Create this bucket as a read-only link to a bucket another project shared with this one.
#[utoipa::path(post, path = "/projects/{project_id}/branches/{branch_id}/buckets/{bucket_id}/link", tag = "sharing",
    params(BucketPath), request_body = BucketLink,
    responses((status = 201, body = Bucket), (status = "4XX", body = ErrorBody)))]
async fn link(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(path): ApiPath<BucketPath>,
    ApiJson(source): ApiJson<BucketLink>,
) -> ApiResult<(StatusCode, Json<Bucket>)> {
    principal.authorize(&path.project_id, Some(&path.branch_id), Access::Manage)?;
    let at = path.at();
    Ok((StatusCode::CREATED, Json(state.storage.run(move |s| s.link_bucket(&at, &source)).await?)))
}

#[utoipa::path(delete, path = "/projects/{project_id}/branches/{branch_id}/buckets/{bucket_id}/link", tag = "sharing",
    params(BucketPath), responses((status = 204), (status = "4XX", body = ErrorBody)))]
async fn unlink(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(path): ApiPath<BucketPath>,
) -> ApiResult<StatusCode> {
    principal.authorize(&path.project_id, Some(&path.branch_id), Access::Manage)?;
    let at = path.at();
    state.storage.run(move |s| s.unlink_bucket(&at)).await?;
    Ok(StatusCode::NO_CONTENT)
}
