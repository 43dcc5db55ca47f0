//! The resources a StorageBackend manages, as both engines and API adapters see them.
//!
//! These types are also the REST API's JSON bodies (snake_case, following the earlier
//! implementation's field names), so REST and PG wire never grow parallel copies of them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::names::{BranchId, BucketId, BucketName, ColumnName, ProjectId, Stage, TableName};
use crate::schema::{Column, ColumnDef};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProject {
    #[schema(value_type = String)]
    pub id: ProjectId,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectUpdate {
    pub name: Option<String>,
}

/// Counters shown with a project and at `/projects/{p}/stats`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProjectStats {
    pub bucket_count: u64,
    pub table_count: u64,
    /// Bytes of table files on disk, over all branches.
    pub size_bytes: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Project {
    #[schema(value_type = String)]
    pub id: ProjectId,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(flatten)]
    pub stats: ProjectStats,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Branch {
    #[schema(value_type = String)]
    pub id: BranchId,
    #[schema(value_type = String)]
    pub project_id: ProjectId,
    pub name: String,
    pub description: Option<String>,
    pub is_default: bool,
    pub created_at: DateTime<Utc>,
    pub created_by: Option<String>,
    /// Tables the branch holds its own copy of (written on the branch, or created there).
    pub own_tables: Vec<String>,
    /// Bytes of the branch's own table files.
    pub size_bytes: u64,
}

/// A dev branch to create; its id is its name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewBranch {
    #[schema(value_type = String)]
    pub name: BranchId,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewBucket {
    pub stage: Stage,
    #[schema(value_type = String)]
    pub name: BucketName,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Bucket {
    /// `in.c-<name>` or `out.c-<name>`: what paths use.
    #[schema(value_type = String, example = "in.c-sales")]
    pub id: BucketId,
    pub stage: Stage,
    #[schema(value_type = String)]
    pub name: BucketName,
    pub description: Option<String>,
    pub table_count: u64,
    pub created_at: DateTime<Utc>,
    /// For a linked bucket: the shared bucket it shows (read-only, always current).
    pub linked_from: Option<BucketLink>,
    /// Projects this bucket is shared with (`*`: every project).
    pub shared_with: Vec<String>,
}

/// The source of a linked bucket.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BucketLink {
    #[schema(value_type = String)]
    pub project_id: ProjectId,
    #[schema(value_type = String)]
    pub bucket_id: BucketId,
}

/// Who a bucket is shared with: a project id, or `*` for every project.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShareTarget {
    pub target_project_id: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTable {
    #[schema(value_type = String)]
    pub name: TableName,
    pub columns: Vec<ColumnDef>,
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub primary_key: Vec<ColumnName>,
}

/// Where a table's data comes from, seen from the branch it is read on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TableSource {
    /// A main-branch table, or a branch reading main's version (not written on the branch yet).
    Main,
    /// A main table the branch has written to, so it owns a copy.
    Branch,
    /// A table created on the branch; main has no such table.
    BranchOnly,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Table {
    /// Keboola's table id, `<bucket id>.<table name>`.
    #[schema(example = "in.c-sales.orders")]
    pub id: String,
    #[schema(value_type = String)]
    pub name: TableName,
    #[schema(value_type = String)]
    pub bucket: BucketId,
    pub columns: Vec<Column>,
    #[schema(value_type = Vec<String>)]
    pub primary_key: Vec<ColumnName>,
    pub row_count: u64,
    pub size_bytes: u64,
    pub created_at: DateTime<Utc>,
    /// Last time the table's data or schema changed.
    pub updated_at: DateTime<Utc>,
    pub source: TableSource,
}

/// Rows returned by a preview, as JSON objects keyed by column name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Preview {
    pub columns: Vec<Column>,
    pub rows: Vec<Map<String, Value>>,
    /// Rows in the table, before filters.
    pub total_row_count: u64,
    pub preview_row_count: u64,
}

/// What a project API key may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Everything in the project, including its keys.
    ProjectAdmin,
    /// Read and write within one branch.
    BranchAdmin,
    /// Read within one branch.
    BranchRead,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::ProjectAdmin => "project_admin",
            Scope::BranchAdmin => "branch_admin",
            Scope::BranchRead => "branch_read",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "project_admin" => Some(Scope::ProjectAdmin),
            "branch_admin" => Some(Scope::BranchAdmin),
            "branch_read" => Some(Scope::BranchRead),
            _ => None,
        }
    }
}

/// A project API key's public record; the secret itself is never stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ApiKey {
    pub id: String,
    #[schema(value_type = String)]
    pub project_id: ProjectId,
    #[schema(value_type = Option<String>)]
    pub branch_id: Option<BranchId>,
    pub scope: Scope,
    pub description: String,
    /// The non-secret start of the key, to recognise it in lists.
    pub key_prefix: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub is_revoked: bool,
}

/// SHA-256 of a key's secret.
pub type KeyHash = [u8; 32];

/// A key as the host asks the backend to store it: the record plus the secret's hash.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredApiKey {
    pub key: ApiKey,
    pub secret_hash: KeyHash,
}

/// Offset paging for list endpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Page {
    #[serde(default = "Page::default_limit")]
    pub limit: u32,
    #[serde(default)]
    pub offset: u32,
}

impl Page {
    pub const MAX_LIMIT: u32 = 1000;

    fn default_limit() -> u32 {
        100
    }

    /// A page from optional query values, checking the limit's range.
    pub fn new(limit: Option<u32>, offset: Option<u32>) -> Result<Self, crate::StorageError> {
        Self { limit: limit.unwrap_or_else(Self::default_limit), offset: offset.unwrap_or(0) }.checked()
    }

    /// Checks the limit is 1..=[`Self::MAX_LIMIT`].
    pub fn checked(self) -> Result<Self, crate::StorageError> {
        if self.limit == 0 || self.limit > Self::MAX_LIMIT {
            return Err(crate::StorageError::invalid(
                "invalid_limit",
                format!("limit must be between 1 and {}, got {}", Self::MAX_LIMIT, self.limit),
            ));
        }
        Ok(self)
    }
}

impl Default for Page {
    fn default() -> Self {
        Self { limit: Self::default_limit(), offset: 0 }
    }
}
