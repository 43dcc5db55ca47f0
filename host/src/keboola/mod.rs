//! Keboola's Storage API v2 (`/v2/storage/…`, and every route again under
//! `/v2/storage/branch/{branch}/…`), so that Keboola's own clients work against duckstore
//! unchanged. A face over the service layer: it reads Keboola's request shapes, calls one
//! [`crate::service::Service`] operation and answers in Keboola's shapes and error dialect.
//! Routes not served yet answer 501 in that dialect (never 404 or 500: Keboola's Python
//! client retries 5xx for minutes). docs/keboola-api.md lists what is served.

pub mod abs;
mod error;
mod extract;
mod profiles;
mod routes;
pub(crate) mod shapes;
mod snapshots;

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
        .route("/tables/{id}/rows", axum::routing::delete(routes::delete_rows))
        .route("/tables/{id}/columns", post(routes::add_column))
        .route("/tables/{id}/columns/", post(routes::add_column))
        .route("/tables/{id}/columns/{column}", axum::routing::delete(routes::drop_column))
        .route("/tables/{id}/primary-key", post(routes::set_primary_key).delete(routes::drop_primary_key))
        .route("/tables/{id}/primary-key/", post(routes::set_primary_key).delete(routes::drop_primary_key))
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
        .route("/files", get(routes::files))
        .route("/files/{id}", get(routes::file).delete(routes::delete_file))
        .route("/files/{id}/tags", post(routes::add_file_tag))
        .route("/files/{id}/tags/{tag}", axum::routing::delete(routes::remove_file_tag))
        .route("/buckets/{id}/tables-async", post(routes::create_table_async))
        .route("/buckets/{id}/tables-definition", post(routes::create_table_definition))
        .route("/tables/{id}/import-async", post(routes::import_async))
        .route("/tables/{id}/export-async", post(routes::export_async))
        .route("/tables/{id}/snapshots", get(snapshots::list).post(snapshots::create))
        .route("/tables/{id}/profile", post(profiles::create))
        .route("/tables/{id}/profile/latest", get(profiles::latest))
        .route("/snapshots/{id}", get(snapshots::detail).delete(snapshots::delete))
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

/// The routes served, for the OpenAPI document: method, path (under `/v2/storage`, and again
/// under `/v2/storage/branch/{branch}`), what it does and its line in Keboola's blueprint.
const DOCUMENTED: &[(&str, &str, &str)] = &[
    ("get", "/v2/storage", "API index (apib 902)"),
    ("get", "/v2/storage/tokens/verify", "Token verification (apib 529)"),
    ("get", "/v2/storage/tokens", "List tokens (apib 150)"),
    ("post", "/v2/storage/tokens", "Create a token with canManageBuckets (apib 204)"),
    ("get", "/v2/storage/tokens/{id}", "Token detail (apib 371)"),
    ("delete", "/v2/storage/tokens/{id}", "Revoke a token (apib 371)"),
    ("post", "/v2/storage/tokens/{id}/refresh", "Refresh a token (apib 859)"),
    ("get", "/v2/storage/buckets", "List buckets (apib 966)"),
    ("post", "/v2/storage/buckets", "Create a bucket (apib 1063)"),
    ("get", "/v2/storage/buckets/{id}", "Bucket detail (apib 1317)"),
    ("delete", "/v2/storage/buckets/{id}", "Drop a bucket, `force`, `async` (apib 1317)"),
    ("get", "/v2/storage/buckets/{id}/tables", "Tables in a bucket (apib 2134)"),
    ("post", "/v2/storage/buckets/{id}/tables-async", "Create a table from a file (apib 2598)"),
    ("post", "/v2/storage/buckets/{id}/tables-definition", "Create a typed table (apib 2307)"),
    ("get", "/v2/storage/tables", "List tables (apib 3869)"),
    ("get", "/v2/storage/tables/{id}", "Table detail (apib 3456)"),
    ("delete", "/v2/storage/tables/{id}", "Drop a table (apib 3456)"),
    ("get", "/v2/storage/tables/{id}/data-preview", "Data preview (apib 3085)"),
    ("delete", "/v2/storage/tables/{id}/rows", "Delete rows (apib 4203)"),
    ("post", "/v2/storage/tables/{id}/columns", "Add a column (apib 4021)"),
    ("delete", "/v2/storage/tables/{id}/columns/{column}", "Drop a column (apib 4082)"),
    ("post", "/v2/storage/tables/{id}/primary-key", "Set the primary key (apib 4122)"),
    ("delete", "/v2/storage/tables/{id}/primary-key", "Drop the primary key (apib 4122)"),
    ("post", "/v2/storage/tables/{id}/import-async", "Load data (apib 2900)"),
    ("post", "/v2/storage/tables/{id}/export-async", "Unload data, sliced (apib 3189)"),
    ("post", "/v2/storage/tables/{id}/snapshots", "Create a table snapshot (apib 4635)"),
    ("get", "/v2/storage/tables/{id}/snapshots", "List a table's snapshots (apib 4695)"),
    ("get", "/v2/storage/snapshots/{id}", "Snapshot detail (apib 4734)"),
    ("delete", "/v2/storage/snapshots/{id}", "Delete a snapshot (apib 4770)"),
    ("post", "/v2/storage/files/prepare", "Create a file resource, Azure upload (apib 7031)"),
    ("get", "/v2/storage/files", "List files (apib 7244)"),
    ("get", "/v2/storage/files/{id}", "File detail (apib 7297)"),
    ("delete", "/v2/storage/files/{id}", "Delete a file (apib 7297)"),
    ("post", "/v2/storage/files/{id}/tags", "Add a tag (apib 7393)"),
    ("delete", "/v2/storage/files/{id}/tags/{tag}", "Remove a tag (apib 7416)"),
    ("get", "/v2/storage/jobs", "List jobs (apib 6873)"),
    ("get", "/v2/storage/jobs/{id}", "Job detail (apib 6939)"),
    ("get", "/v2/storage/workspaces", "List workspaces (apib 4815)"),
    ("post", "/v2/storage/workspaces", "Create a workspace (apib 4815)"),
    ("get", "/v2/storage/workspaces/{id}", "Workspace detail (apib 5009)"),
    ("delete", "/v2/storage/workspaces/{id}", "Drop a workspace (apib 5009)"),
    ("post", "/v2/storage/workspaces/{id}/load", "Load tables into a workspace (apib 5071)"),
    ("post", "/v2/storage/workspaces/{id}/password", "Reset a workspace's password (apib 5535)"),
    ("get", "/v2/storage/dev-branches", "List dev branches (apib 9585)"),
    ("post", "/v2/storage/dev-branches", "Create a dev branch (apib 9585)"),
    ("get", "/v2/storage/dev-branches/{id}", "Dev branch detail (apib 9585)"),
    ("delete", "/v2/storage/dev-branches/{id}", "Drop a dev branch (apib 9585)"),
    ("post", "/v2/storage/tables/{id}/profile", "Create a data profile: a job (apib 4319)"),
    ("get", "/v2/storage/tables/{id}/profile/latest", "The latest data profile (apib 4351)"),
    ("put", "/abs/{account}/{container}/{blob}", "Azure Put Blob, Put Block, Put Block List (SAS)"),
    ("get", "/abs/{account}/{container}/{blob}", "Azure Get Blob with Range (SAS)"),
];

/// Adds the Keboola face's routes to the OpenAPI document (tag `keboola`), each described
/// in Keboola's terms; docs/keboola-api.md has the details.
pub fn document(openapi: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::HttpMethod;
    use utoipa::openapi::path::OperationBuilder;
    use utoipa::openapi::response::ResponseBuilder;
    for (method, path, summary) in DOCUMENTED {
        let method = match *method {
            "get" => HttpMethod::Get,
            "post" => HttpMethod::Post,
            "put" => HttpMethod::Put,
            _ => HttpMethod::Delete,
        };
        let operation = |path: &str| {
            OperationBuilder::new()
                .tag("keboola")
                .summary(Some(*summary))
                .description(Some("Keboola Storage API v2; see docs/keboola-api.md. Errors: Keboola's flat body."))
                .parameters(Some(path_parameters(path)))
                .response("200", ResponseBuilder::new().description("Keboola's shape").build())
                .build()
        };
        openapi.paths.add_path_operation(*path, vec![method.clone()], operation(path));
        if let Some(rest) = path.strip_prefix("/v2/storage/") {
            let branched = format!("/v2/storage/branch/{{branch}}/{rest}");
            let operation = operation(&branched);
            openapi.paths.add_path_operation(branched, vec![method], operation);
        }
    }
}

/// The `{name}` parts of a route, as required string path parameters.
fn path_parameters(path: &str) -> Vec<utoipa::openapi::path::Parameter> {
    use utoipa::openapi::Required;
    use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    path.split('{')
        .skip(1)
        .filter_map(|part| part.split_once('}').map(|(name, _)| name))
        .map(|name| {
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                .build()
        })
        .collect()
}
