//! Unauthenticated operational endpoints: `/health` and `/metrics`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use duckstore_plugin_sdk::BackendInfo;

use crate::server::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(health)).routes(routes!(metrics))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok`, or `unavailable` when the storage engine does not answer.
    pub status: &'static str,
    pub version: &'static str,
    #[schema(value_type = Object)]
    pub storage: BackendInfo,
    pub storage_available: bool,
}

/// Liveness and storage health; 503 when storage is unavailable.
#[utoipa::path(get, path = "/health", tag = "system", security(()),
    responses((status = 200, body = Health), (status = 503, body = Health)))]
async fn health(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let result = state.storage.run(|s| s.health()).await;
    let (status, storage_available) = match result {
        Ok(_) => (StatusCode::OK, true),
        Err(e) => {
            tracing::error!(error = %e, "health check failed");
            (StatusCode::SERVICE_UNAVAILABLE, false)
        }
    };
    let body = Health {
        status: if storage_available { "ok" } else { "unavailable" },
        version: env!("CARGO_PKG_VERSION"),
        storage: state.backend_info.clone(),
        storage_available,
    };
    (status, Json(body))
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(get, path = "/metrics", tag = "system", security(()),
    responses((status = 200, content_type = "text/plain", body = String)))]
async fn metrics(State(state): State<AppState>) -> ([(axum::http::HeaderName, &'static str); 1], String) {
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render())
}
