//! The audit log: `/projects/{p}/events` for a project's admins, `/events` across projects
//! for the admin key.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use duckstore_plugin_sdk::audit::{AuditEvent, AuditQuery};

use crate::api::error::{ApiResult, ErrorBody};
use crate::api::extract::{ApiPath, ApiQuery, ProjectPath};
use crate::auth::{Access, Principal};
use crate::server::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(project_events)).routes(routes!(all_events))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct EventList {
    pub events: Vec<AuditEvent>,
    pub total: u64,
}

/// A project's audit events, newest first (`project_id` in the query is ignored here).
#[utoipa::path(get, path = "/projects/{project_id}/events", tag = "audit", params(ProjectPath, AuditQuery),
    responses((status = 200, body = EventList), (status = "4XX", body = ErrorBody)))]
async fn project_events(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(path): ApiPath<ProjectPath>,
    ApiQuery(mut query): ApiQuery<AuditQuery>,
) -> ApiResult<Json<EventList>> {
    principal.authorize(&path.project_id, None, Access::Manage)?;
    let project = path.project_id.clone();
    state.storage.run(move |s| s.get_project(&project)).await?;
    query.project_id = Some(path.project_id.to_string());
    let (events, total) = state.storage.run(move |s| s.list_audit(&query)).await?;
    Ok(Json(EventList { events, total }))
}

/// Audit events of the whole installation (admin key only).
#[utoipa::path(get, path = "/events", tag = "audit", params(AuditQuery),
    responses((status = 200, body = EventList), (status = "4XX", body = ErrorBody)))]
async fn all_events(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> ApiResult<Json<EventList>> {
    principal.require_admin()?;
    let (events, total) = state.storage.run(move |s| s.list_audit(&query)).await?;
    Ok(Json(EventList { events, total }))
}
