//! Unauthenticated operational endpoints: `/` (what this server is and where its doors
//! are), `/health` (liveness), `/ready` (readiness) and `/metrics`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use duckstore_plugin_sdk::BackendInfo;

use crate::server::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(index)).routes(routes!(health)).routes(routes!(ready)).routes(routes!(metrics))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Service {
    pub name: &'static str,
    pub version: &'static str,
    #[schema(value_type = Object)]
    pub storage: BackendInfo,
    /// Where each face and operational endpoint lives on this port.
    #[schema(value_type = Object)]
    pub endpoints: serde_json::Value,
}

/// What this server is and where its doors are: for an operator or a script finding its way.
#[utoipa::path(get, path = "/", tag = "system", security(()), responses((status = 200, body = Service)))]
async fn index(State(state): State<AppState>) -> Json<Service> {
    Json(Service {
        name: "duckstore",
        version: env!("CARGO_PKG_VERSION"),
        storage: state.backend_info.clone(),
        endpoints: serde_json::json!({
            "rest": "/projects",
            "keboola_storage_api": "/v2/storage",
            "openapi": "/openapi.json",
            "liveness": "/health",
            "readiness": "/ready",
            "metrics": "/metrics",
        }),
    })
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    /// Always `ok`: the process serves requests.
    pub status: &'static str,
    pub version: &'static str,
    #[schema(value_type = Object)]
    pub storage: BackendInfo,
}

/// Liveness: the process answers. Never touches storage, so it answers at once however
/// busy imports, exports and SQL keep the engine; `/ready` checks storage.
#[utoipa::path(get, path = "/health", tag = "system", security(()), responses((status = 200, body = Health)))]
async fn health(State(state): State<AppState>) -> Json<Health> {
    Json(Health { status: "ok", version: env!("CARGO_PKG_VERSION"), storage: state.backend_info.clone() })
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Ready {
    /// `ready`, or `unavailable` when the storage engine does not answer in time.
    pub status: &'static str,
}

/// How long readiness waits for storage before calling it unavailable.
const READY_WITHIN: std::time::Duration = std::time::Duration::from_secs(5);

/// Readiness: the storage engine answers (its catalog reads, its data directory exists);
/// 503 otherwise. For load balancers and start-up scripts.
#[utoipa::path(get, path = "/ready", tag = "system", security(()),
    responses((status = 200, body = Ready), (status = 503, body = Ready)))]
async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Ready>) {
    match tokio::time::timeout(READY_WITHIN, state.storage.run(|s| s.health())).await {
        Ok(Ok(())) => (StatusCode::OK, Json(Ready { status: "ready" })),
        outcome => {
            match outcome {
                Ok(Err(e)) => tracing::error!(error = %e, "readiness check failed"),
                _ => tracing::error!("readiness check timed out"),
            }
            (StatusCode::SERVICE_UNAVAILABLE, Json(Ready { status: "unavailable" }))
        }
    }
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(get, path = "/metrics", tag = "system", security(()),
    responses((status = 200, content_type = "text/plain", body = String)))]
async fn metrics(State(state): State<AppState>) -> ([(axum::http::HeaderName, &'static str); 1], String) {
    // The engine's statistics, if it answers in time: a busy engine leaves the last ones
    // (the scrape itself never waits for work).
    if let Ok(Ok(stats)) = tokio::time::timeout(STATS_WITHIN, state.storage.run(|s| s.stats())).await {
        state.metrics.storage(&stats);
    }
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render())
}

/// How long a scrape waits for the engine's statistics.
const STATS_WITHIN: std::time::Duration = std::time::Duration::from_millis(500);
