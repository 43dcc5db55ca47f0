//! The audit log: one record per mutation, kept in the catalog.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditEvent {
    pub at: DateTime<Utc>,
    pub request_id: Option<String>,
    /// `admin`, `key:<id>`, or `anonymous` for requests without a valid key.
    pub principal: String,
    pub project_id: Option<String>,
    /// Method and route template, e.g. `DELETE /projects/{project_id}/files/{file_id}`.
    pub operation: String,
    /// The concrete path.
    pub resource: String,
    /// HTTP status of the answer.
    pub status: u16,
    pub duration_ms: u64,
}

impl AuditEvent {
    pub fn succeeded(&self) -> bool {
        self.status < 400
    }
}

/// Filters for listing events, newest first.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Only this project (for the admin's cross-project list).
    pub project_id: Option<String>,
    /// Substring of the operation, e.g. `DELETE` or `/tables`.
    pub operation: Option<String>,
    pub principal: Option<String>,
    /// `success` or `failure`.
    pub outcome: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub limit: Option<u32>,
    pub offset: Option<u32>,
}
