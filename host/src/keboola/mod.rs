//! Keboola's Storage API v2 (`/v2/storage/…`, and every route again under
//! `/v2/storage/branch/{branch}/…`), so that Keboola's own clients work against duckstore
//! unchanged. A face over the service layer: it reads Keboola's request shapes, calls one
//! [`crate::service::Service`] operation and answers in Keboola's shapes and error dialect.
//! Routes not served yet answer 501 in that dialect (never 404 or 500: Keboola's Python
//! client retries 5xx for minutes). docs/keboola-api.md lists what is served.

pub mod abs;
mod error;
mod extract;
mod routes;
pub(crate) mod shapes;

use axum::Router;
use axum::extract::OriginalUri;
use axum::http::Method;
use axum::routing::{get, post, put};

use crate::keboola::error::KbcError;
use crate::server::AppState;

pub fn router() -> Router<AppState> {
    let api = Router::new()
        .route("/", get(routes::index))
        .route("/tokens/verify", get(routes::verify))
        .route("/tokens", get(routes::tokens).post(routes::create_token))
        .route("/tokens/{id}", get(routes::token).delete(routes::delete_token))
        .route("/tokens/{id}/refresh", post(routes::refresh_token))
        .route("/buckets", get(routes::list_buckets).post(routes::create_bucket))
        .route("/buckets/{id}", get(routes::bucket).delete(routes::delete_bucket))
        .route("/buckets/{id}/tables", get(routes::bucket_tables))
        .route("/tables", get(routes::tables))
        .route("/tables/{id}", get(routes::table).delete(routes::delete_table))
        .route("/tables/{id}/data-preview", get(routes::data_preview))
        .route("/tables/{id}/data-preview/", get(routes::data_preview))
        .route("/workspaces", get(routes::workspaces).post(routes::create_workspace))
        .route("/workspaces/{id}", get(routes::workspace).delete(routes::delete_workspace))
        .route("/workspaces/{id}/password", post(routes::workspace_password))
        .route("/workspaces/{id}/load", post(routes::load_workspace))
        .route("/dev-branches", get(routes::dev_branches).post(routes::create_dev_branch))
        .route("/dev-branches/", get(routes::dev_branches).post(routes::create_dev_branch))
        .route("/dev-branches/{id}", get(routes::dev_branch).delete(routes::delete_dev_branch))
        .route("/jobs", get(routes::jobs))
        .route("/jobs/{id}", get(routes::job))
        .route("/files/prepare", post(routes::prepare_file))
        .route("/files/{id}", get(routes::file))
        .route("/buckets/{id}/tables-async", post(routes::create_table_async))
        .route("/tables/{id}/import-async", post(routes::import_async))
        .route("/tables/{id}/export-async", post(routes::export_async))
        .fallback(not_implemented)
        .method_not_allowed_fallback(not_implemented);
    Router::new()
        // The nested "/" serves /v2/storage; clients also ask with the trailing slash.
        .route("/v2/storage/", get(routes::index))
        .nest("/v2/storage/branch/{branch}", api.clone())
        .nest("/v2/storage", api)
        .route("/abs/{account}/{container}/{*blob}", put(abs::put).get(abs::get))
}

/// Any other route of Keboola's API: 501 in its dialect.
async fn not_implemented(method: Method, uri: OriginalUri) -> KbcError {
    KbcError::not_implemented(&format!("{method} {}", uri.0.path()))
}
