//! Plugin administration (admin key only): list, inspect, enable, disable, reload,
//! upload and remove WASM plugins without a restart.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use duckstore_plugin_sdk::StorageError;

use crate::api::error::{ApiError, ApiResult, ErrorBody};
use crate::api::extract::ApiPath;
use crate::auth::Principal;
use crate::plugins::loader::MAX_WASM_BYTES;
use crate::plugins::{PluginError, PluginInfo, Plugins};
use crate::server::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, upload))
        .routes(routes!(get, remove))
        .routes(routes!(enable))
        .routes(routes!(disable))
        .routes(routes!(reload))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PluginList {
    pub plugins: Vec<PluginInfo>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct PluginPath {
    pub name: String,
}

/// Runs a registry operation off the async runtime (loading compiles code).
async fn blocking<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&Plugins) -> Result<T, PluginError> + Send + 'static,
) -> ApiResult<T> {
    let plugins = state.plugins.clone();
    tokio::task::spawn_blocking(move || f(&plugins))
        .await
        .map_err(|e| ApiError::from(StorageError::internal(format!("the plugin task failed: {e}"))))?
        .map_err(|e| ApiError::from(StorageError::from(e)))
}

/// Every plugin with its kind, version, API version, state and call counters.
#[utoipa::path(get, path = "/plugins", tag = "plugins",
    responses((status = 200, body = PluginList), (status = "4XX", body = ErrorBody)))]
async fn list(State(state): State<AppState>, principal: Principal) -> ApiResult<Json<PluginList>> {
    principal.require_admin()?;
    Ok(Json(PluginList { plugins: state.plugins.list() }))
}

#[utoipa::path(get, path = "/plugins/{name}", tag = "plugins", params(PluginPath),
    responses((status = 200, body = PluginInfo), (status = "4XX", body = ErrorBody)))]
async fn get(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(path): ApiPath<PluginPath>,
) -> ApiResult<Json<PluginInfo>> {
    principal.require_admin()?;
    Ok(Json(state.plugins.get(&path.name).map_err(StorageError::from)?))
}

/// Install a plugin: the body is the `.wasm` (with an embedded manifest). It is checked
/// completely before it is stored; a plugin of the same name is replaced.
#[utoipa::path(post, path = "/plugins", tag = "plugins", request_body(content = Vec<u8>, content_type = "application/wasm"),
    responses((status = 201, body = PluginInfo), (status = 200, body = PluginInfo), (status = "4XX", body = ErrorBody)))]
async fn upload(
    State(state): State<AppState>,
    principal: Principal,
    body: Body,
) -> ApiResult<(StatusCode, Json<PluginInfo>)> {
    principal.require_admin()?;
    let wasm = axum::body::to_bytes(body, MAX_WASM_BYTES).await.map_err(|_| {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", format!("a plugin is at most {MAX_WASM_BYTES} bytes"))
    })?;
    let (info, created) = blocking(&state, move |p| p.upload(&wasm)).await?;
    Ok((if created { StatusCode::CREATED } else { StatusCode::OK }, Json(info)))
}

/// Remove an uploaded plugin (built-in ones can only be disabled).
#[utoipa::path(delete, path = "/plugins/{name}", tag = "plugins", params(PluginPath),
    responses((status = 204), (status = "4XX", body = ErrorBody)))]
async fn remove(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(path): ApiPath<PluginPath>,
) -> ApiResult<StatusCode> {
    principal.require_admin()?;
    blocking(&state, move |p| p.remove(&path.name)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Put a plugin (back) in service; also closes its circuit breaker.
#[utoipa::path(post, path = "/plugins/{name}/enable", tag = "plugins", params(PluginPath),
    responses((status = 200, body = PluginInfo), (status = "4XX", body = ErrorBody)))]
async fn enable(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(path): ApiPath<PluginPath>,
) -> ApiResult<Json<PluginInfo>> {
    principal.require_admin()?;
    Ok(Json(blocking(&state, move |p| p.set_enabled(&path.name, true)).await?))
}

/// Take a plugin out of service: its calls are refused (auth providers are skipped).
#[utoipa::path(post, path = "/plugins/{name}/disable", tag = "plugins", params(PluginPath),
    responses((status = 200, body = PluginInfo), (status = "4XX", body = ErrorBody)))]
async fn disable(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(path): ApiPath<PluginPath>,
) -> ApiResult<Json<PluginInfo>> {
    principal.require_admin()?;
    Ok(Json(blocking(&state, move |p| p.set_enabled(&path.name, false)).await?))
}

/// Load the plugin's file again; calls in flight finish on the old version, and if the
/// new one is refused the old one stays in service.
#[utoipa::path(post, path = "/plugins/{name}/reload", tag = "plugins", params(PluginPath),
    responses((status = 200, body = PluginInfo), (status = "4XX", body = ErrorBody)))]
async fn reload(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(path): ApiPath<PluginPath>,
) -> ApiResult<Json<PluginInfo>> {
    principal.require_admin()?;
    Ok(Json(blocking(&state, move |p| p.reload(&path.name)).await?))
}
