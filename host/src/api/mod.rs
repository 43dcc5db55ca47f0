//! The REST API: one module per resource, composed here with the cross-cutting layers
//! (request ids, tracing, metrics, panics → 500) and the OpenAPI document.
//!
//! Handlers only translate HTTP into a [`crate::storage::Storage`] call and back; no
//! storage logic lives here.

pub mod api_keys;
pub mod branches;
pub mod buckets;
pub mod columns;
pub mod error;
pub mod events;
pub mod extract;
pub mod files;
pub mod jobs;
pub mod plugins;
pub mod profiles;
pub mod projects;
pub mod settings;
pub mod snapshots;
pub mod system;
pub mod tables;
pub mod transfer;
pub mod workspaces;

use axum::Router;
use axum::http::{HeaderName, Request, StatusCode};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use crate::api::error::ApiError;
use crate::server::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "duckstore", description = "On-premise Keboola Storage on DuckDB. Send an API key as \
        `Authorization: Bearer <key>`; errors are `{\"error\": {\"code\", \"message\"}}`."),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The OpenAPI document and the router it describes, built from the same annotations.
pub fn openapi_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(system::routes())
        .merge(projects::routes())
        .merge(api_keys::routes())
        .merge(branches::routes())
        .merge(buckets::routes())
        .merge(tables::routes())
        .merge(profiles::routes())
        .merge(columns::routes())
        .merge(transfer::routes())
        .merge(files::routes())
        .merge(jobs::routes())
        .merge(snapshots::routes())
        .merge(settings::routes())
        .merge(events::routes())
        .merge(workspaces::routes())
        .merge(plugins::routes())
}

pub fn router(state: AppState) -> Router {
    let (routes, mut openapi) = openapi_router().split_for_parts();
    crate::keboola::document(&mut openapi);
    let openapi = std::sync::Arc::new(openapi);
    let request_id = HeaderName::from_static("x-request-id");
    routes
        .route("/openapi.json", axum::routing::get(move || async move { axum::Json((*openapi).clone()) }))
        .merge(crate::keboola::router())
        .route_layer(axum::middleware::from_fn_with_state(state.storage.clone(), crate::audit::record))
        .route_layer(axum::middleware::from_fn_with_state(state.metrics.clone(), crate::metrics::track))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this endpoint does not support this method",
            )
        })
        .with_state(state.clone())
        .layer(axum::middleware::from_fn_with_state(state.idempotency.clone(), crate::idempotency::layer))
        .layer(CatchPanicLayer::custom(|_| {
            axum::response::IntoResponse::into_response(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "the server hit a bug while handling this request",
            ))
        }))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
            let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("http", method = %req.method(), path = %req.uri().path(), request_id = %id)
        }))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}
