//! The catalog: `metadata.duckdb`, attached to the hub as `meta`.
//!
//! It is the registry of everything that is not table data: projects, branches, buckets,
//! tables with their columns and primary keys, API keys. Table files hold only rows.

pub mod migrations;

use chrono::{DateTime, NaiveDateTime, Utc};
use duckdb::Row;

/// The alias the catalog is attached under.
pub const ALIAS: &str = "meta";

/// Reads a `TIMESTAMP` column holding UTC.
pub fn ts(row: &Row<'_>, idx: usize) -> duckdb::Result<DateTime<Utc>> {
    Ok(row.get::<_, NaiveDateTime>(idx)?.and_utc())
}

/// Reads a nullable `TIMESTAMP` column holding UTC.
pub fn ts_opt(row: &Row<'_>, idx: usize) -> duckdb::Result<Option<DateTime<Utc>>> {
    Ok(row.get::<_, Option<NaiveDateTime>>(idx)?.map(|t| t.and_utc()))
}

/// The form timestamps are bound in.
pub fn naive(t: DateTime<Utc>) -> NaiveDateTime {
    t.naive_utc()
}

/// Reads a text column holding a validated value (a name, an id, a type).
pub fn parsed<T>(row: &Row<'_>, idx: usize) -> duckdb::Result<T>
where
    T: std::str::FromStr,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    let text: String = row.get(idx)?;
    text.parse().map_err(|e| duckdb::Error::FromSqlConversionFailure(idx, duckdb::types::Type::Text, Box::new(e)))
}
