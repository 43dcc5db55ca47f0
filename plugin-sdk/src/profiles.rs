//! Table profiles: what each column of a table holds, computed on request (a job) and kept as
//! the table's latest.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One computation of a table's column statistics.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TableProfile {
    /// `<bucket id>.<table>`.
    pub table_id: String,
    pub created_at: DateTime<Utc>,
    /// Rows when it was computed.
    pub row_count: u64,
    /// Whether the table is unchanged since (no import, delete or schema change after it).
    pub current: bool,
    /// How `distinct` is counted: `approximate` (HyperLogLog, within a few percent).
    pub distinct_method: String,
    pub columns: Vec<ColumnProfile>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ColumnProfile {
    pub name: String,
    /// The column's type, as the table declares it.
    pub data_type: String,
    /// Non-NULL values.
    pub count: u64,
    pub nulls: u64,
    /// Distinct non-NULL values (approximate).
    pub distinct: u64,
    /// Smallest and largest values as text (`None` for an empty or all-NULL column).
    pub min: Option<String>,
    pub max: Option<String>,
    /// Mean of a numeric column.
    pub mean: Option<f64>,
    /// The most frequent values of a text or boolean column with few distinct values (at
    /// most 50): up to 5, most frequent first.
    pub top_values: Vec<TopValue>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TopValue {
    pub value: Option<String>,
    pub count: u64,
}
