//! Structured row selection: filters, ordering, limits.
//!
//! Users never send SQL to select rows (the earlier implementation took raw WHERE clauses
//! behind a blocklist). A filter names a column, an operator and literal values; the engine
//! binds the values as parameters cast to the column's type.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::StorageError;
use crate::names::ColumnName;

/// Comparison operators, following Keboola's `whereOperator` plus null checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FilterOp {
    /// Equal to one of `values` (SQL `IN` when several are given).
    Eq,
    /// Equal to none of `values`.
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    IsNull,
    IsNotNull,
}

/// One condition on one column; all filters of a query must hold (AND).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    #[schema(value_type = String)]
    pub column: ColumnName,
    pub operator: FilterOp,
    /// Literal values (strings, numbers or booleans), cast to the column's type.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub values: Vec<Value>,
}

impl Filter {
    /// Checks the value count for the operator and that values are scalars.
    pub fn validate(&self) -> Result<(), StorageError> {
        let col = self.column.as_str();
        let wants = match self.operator {
            FilterOp::Eq | FilterOp::Ne => (1, usize::MAX),
            FilterOp::Gt | FilterOp::Ge | FilterOp::Lt | FilterOp::Le => (1, 1),
            FilterOp::IsNull | FilterOp::IsNotNull => (0, 0),
        };
        let n = self.values.len();
        if n < wants.0 || n > wants.1 {
            let expected = match wants {
                (0, 0) => "no values".to_owned(),
                (1, 1) => "exactly one value".to_owned(),
                _ => "at least one value".to_owned(),
            };
            return Err(StorageError::invalid(
                "invalid_filter",
                format!("filter on {col:?} with operator {:?} takes {expected}, got {n}", self.operator),
            ));
        }
        if let Some(v) = self.values.iter().find(|v| !(v.is_string() || v.is_number() || v.is_boolean())) {
            return Err(StorageError::invalid(
                "invalid_filter",
                format!("filter on {col:?}: values must be strings, numbers or booleans, got {v}"),
            ));
        }
        Ok(())
    }
}

/// Renders a scalar filter value as the text DuckDB casts to the column type.
pub fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SortOrder {
    #[default]
    Asc,
    Desc,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderBy {
    #[schema(value_type = String)]
    pub column: ColumnName,
    #[serde(default)]
    pub order: SortOrder,
}

/// Which rows: all filters AND the change-time window.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RowSelection {
    #[serde(default)]
    pub filters: Vec<Filter>,
    /// Only rows imported at or after this time (`_timestamp >= changed_since`).
    #[serde(default)]
    pub changed_since: Option<DateTime<Utc>>,
    /// Only rows imported before this time (`_timestamp < changed_until`).
    #[serde(default)]
    pub changed_until: Option<DateTime<Utc>>,
}

impl RowSelection {
    pub fn is_everything(&self) -> bool {
        self.filters.is_empty() && self.changed_since.is_none() && self.changed_until.is_none()
    }
}

/// Which rows and columns, in which order, how many.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RowQuery {
    /// Columns to return, in this order; all columns when absent.
    #[serde(default)]
    #[schema(value_type = Option<Vec<String>>)]
    pub columns: Option<Vec<ColumnName>>,
    #[serde(default)]
    pub filters: Vec<Filter>,
    #[serde(default)]
    pub changed_since: Option<DateTime<Utc>>,
    #[serde(default)]
    pub changed_until: Option<DateTime<Utc>>,
    #[serde(default)]
    pub order_by: Vec<OrderBy>,
    #[serde(default)]
    pub limit: Option<u64>,
}

impl RowQuery {
    pub fn selection(&self) -> RowSelection {
        RowSelection {
            filters: self.filters.clone(),
            changed_since: self.changed_since,
            changed_until: self.changed_until,
        }
    }
}
