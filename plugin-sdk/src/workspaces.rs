//! SQL workspaces: a private writable DuckDB database per workspace, reached over the
//! PostgreSQL wire protocol, that also shows the project's tables live and read-only.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::StorageError;
use crate::names::{BranchId, BucketId, ColumnName, ProjectId, TableName};
use crate::query::Filter;

/// Default and largest time to live, in hours.
pub const DEFAULT_TTL_HOURS: u32 = 24;
pub const MAX_TTL_HOURS: u32 = 24 * 30;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWorkspace {
    /// A label for people; the workspace's id is generated.
    pub name: String,
    /// Hours until the workspace expires (1 to 720, default 24).
    #[serde(default)]
    pub ttl_hours: Option<u32>,
    /// Largest size of the workspace's own data, in GB (default from the server config).
    #[serde(default)]
    pub size_limit_gb: Option<u32>,
}

impl NewWorkspace {
    pub fn validate(&self) -> Result<(), StorageError> {
        let n = self.name.chars().count();
        if n == 0 || n > 255 || self.name.chars().any(char::is_control) {
            return Err(StorageError::invalid("invalid_name", "workspace name must be 1 to 255 characters"));
        }
        if let Some(h) = self.ttl_hours
            && !(1..=MAX_TTL_HOURS).contains(&h)
        {
            return Err(StorageError::invalid("invalid_ttl", format!("ttl_hours must be 1 to {MAX_TTL_HOURS}")));
        }
        if let Some(g) = self.size_limit_gb
            && !(1..=10_000).contains(&g)
        {
            return Err(StorageError::invalid("invalid_size_limit", "size_limit_gb must be 1 to 10000"));
        }
        Ok(())
    }
}

/// How to connect with a PostgreSQL client; the password appears only when it is new.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Connection {
    pub host: String,
    pub port: u16,
    pub database: String,
    pub username: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Workspace {
    /// Also the database name and the user name to connect with.
    pub id: String,
    pub name: String,
    #[schema(value_type = String)]
    pub project_id: ProjectId,
    #[schema(value_type = String)]
    pub branch_id: BranchId,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub size_bytes: u64,
    pub size_limit_bytes: u64,
    pub active_sessions: u64,
    /// Filled in by the API layer, which knows the server's address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection: Option<Connection>,
}

/// A table or view the workspace holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WorkspaceObject {
    pub name: String,
    /// `table` or `view`.
    pub kind: String,
    pub rows: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WorkspaceDetail {
    #[serde(flatten)]
    pub workspace: Workspace,
    pub objects: Vec<WorkspaceObject>,
}

/// A workspace's record as stored, with the secret the PG server checks logins against.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredWorkspace {
    pub workspace: Workspace,
    /// A SCRAM-SHA-256 verifier in PostgreSQL's `SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>` form.
    pub verifier: String,
}

/// One table to copy into a workspace (Keboola's input mapping).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoadTable {
    #[schema(value_type = String)]
    pub bucket_id: BucketId,
    #[schema(value_type = String)]
    pub table_name: TableName,
    /// The workspace table to write; the source table's name by default.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub destination: Option<TableName>,
    #[serde(default)]
    #[schema(value_type = Option<Vec<String>>)]
    pub columns: Option<Vec<ColumnName>>,
    #[serde(default)]
    pub filters: Vec<Filter>,
    #[serde(default)]
    pub changed_since: Option<DateTime<Utc>>,
    #[serde(default)]
    pub changed_until: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoadRequest {
    pub tables: Vec<LoadTable>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LoadedTable {
    /// `<bucket id>.<table>`.
    pub source: String,
    pub destination: String,
    pub rows: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LoadResult {
    pub loaded: Vec<LoadedTable>,
    pub workspace_size_bytes: u64,
}
