//! The auto-snapshot decision point: before a destructive operation the engine asks a
//! [`SnapshotPolicy`] whether to snapshot the table first.
//!
//! The server answers it with a snapshot-policy WASM plugin (by default the first-party
//! `snapshot-policy-default`, which follows the hierarchical settings). A policy that fails is treated as "snapshot" (fail safe), and a snapshot
//! that fails aborts the operation: nothing is destroyed without the snapshot asked for.

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::settings::SnapshotSettings;

/// Operations that destroy data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DestructiveOp {
    DropTable,
    TruncateTable,
    /// DELETE without a filter.
    DeleteAllRows,
    /// DELETE with a filter.
    DeleteRows,
    DropColumn,
    /// A full import replacing every row.
    ReplaceRows,
}

impl DestructiveOp {
    pub fn as_str(self) -> &'static str {
        match self {
            DestructiveOp::DropTable => "drop_table",
            DestructiveOp::TruncateTable => "truncate_table",
            DestructiveOp::DeleteAllRows => "delete_all_rows",
            DestructiveOp::DeleteRows => "delete_rows",
            DestructiveOp::DropColumn => "drop_column",
            DestructiveOp::ReplaceRows => "replace_rows",
        }
    }
}

/// What a policy knows when it decides.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PolicyContext {
    pub operation: DestructiveOp,
    pub project: String,
    pub branch: String,
    pub bucket: String,
    pub table: String,
    /// Rows the operation removes, when known.
    pub rows_affected: Option<u64>,
    pub table_rows: u64,
    pub table_bytes: u64,
    /// `admin` or `key:<id>`.
    pub principal: String,
    /// Seconds since the table's newest snapshot, if it has one.
    pub seconds_since_last_snapshot: Option<u64>,
    /// The effective settings for the table.
    pub settings: SnapshotSettings,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Decision {
    Skip,
    /// Snapshot first; optionally with a label and a retention other than the settings'.
    Snapshot {
        label: Option<String>,
        retain_days: Option<u32>,
    },
}

pub trait SnapshotPolicy: Send + Sync {
    fn decide(&self, context: &PolicyContext) -> Result<Decision>;
}
