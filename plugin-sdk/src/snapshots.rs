//! Snapshots: one table's rows as Parquet plus its full schema, restorable exactly.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::names::{BranchId, BucketId, ColumnName, ProjectId, TableName};
use crate::schema::Column;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SnapshotKind {
    /// Taken on request; kept `retention.manual_days`.
    Manual,
    /// Taken before a destructive operation; kept `retention.auto_days`.
    Auto,
}

impl SnapshotKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SnapshotKind::Manual => "manual",
            SnapshotKind::Auto => "auto",
        }
    }
}

impl std::str::FromStr for SnapshotKind {
    type Err = crate::StorageError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "manual" => Ok(SnapshotKind::Manual),
            "auto" => Ok(SnapshotKind::Auto),
            _ => Err(crate::StorageError::invalid("invalid_snapshot_kind", format!("unknown snapshot kind {s:?}"))),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSnapshot {
    #[schema(value_type = String)]
    pub bucket_id: BucketId,
    #[schema(value_type = String)]
    pub table_name: TableName,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Snapshot {
    pub id: String,
    #[schema(value_type = String)]
    pub project_id: ProjectId,
    #[schema(value_type = String)]
    pub branch_id: BranchId,
    #[schema(value_type = String)]
    pub bucket_id: BucketId,
    #[schema(value_type = String)]
    pub table_name: TableName,
    pub kind: SnapshotKind,
    /// For automatic snapshots: the operation that caused it (`drop_table`, …).
    pub trigger: Option<String>,
    pub description: Option<String>,
    pub row_count: u64,
    /// Bytes of the Parquet data.
    pub size_bytes: u64,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    /// The retention sweeper deletes the snapshot after this time.
    pub expires_at: DateTime<Utc>,
}

/// A snapshot with the schema it restores.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SnapshotDetail {
    #[serde(flatten)]
    pub snapshot: Snapshot,
    pub columns: Vec<Column>,
    #[schema(value_type = Vec<String>)]
    pub primary_key: Vec<ColumnName>,
}

/// Filters for listing snapshots.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SnapshotQuery {
    #[param(value_type = Option<String>)]
    pub bucket_id: Option<BucketId>,
    #[param(value_type = Option<String>)]
    pub table_name: Option<TableName>,
    pub kind: Option<SnapshotKind>,
}

/// Where to restore a snapshot: its own table by default (replaced atomically), or a new
/// table (which must not exist).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RestoreRequest {
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub target_bucket_id: Option<BucketId>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub target_table_name: Option<TableName>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RestoreResult {
    /// The restored table's id.
    pub table_id: String,
    pub row_count: u64,
}
