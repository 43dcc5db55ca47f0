//! Table profiles: each column's counts, approximate distinct values, range and mean in one
//! scan of the table's file (every column's aggregates in one query, on the hub's threads),
//! plus one small GROUP BY for each low-cardinality text or boolean column's most frequent
//! values. The latest profile is kept in `meta.table_profiles` by the table's uid (a table
//! dropped and created again starts without one) with the table's `updated_at` it saw, so a
//! reader knows whether it is still current.

use duckdb::{OptionalExt, params};

use duckstore_plugin_sdk::Result;
use duckstore_plugin_sdk::names::TableRef;
use duckstore_plugin_sdk::profiles::{ColumnProfile, TableProfile, TopValue};
use duckstore_plugin_sdk::schema::ColumnType;

use crate::DuckEngine;
use crate::catalog::{naive, ts};
use crate::error::db_err;
use crate::jobs::interruptible;
use crate::sql::ident;

/// Columns with at most this many distinct values get their most frequent values listed.
const FEW_DISTINCT: u64 = 50;
/// How many of the most frequent values are listed.
const TOP_VALUES: usize = 5;

/// The aggregates read per column, in this order after the leading `count(*)`.
const PER_COLUMN: usize = 5;

impl DuckEngine {
    /// Computes the table's profile and keeps it as the table's latest.
    pub(crate) fn profile_compute(&self, t: &TableRef) -> Result<TableProfile> {
        let (view, file) = self.read_table(t)?;
        let reading = file.read()?;
        let data = reading.data();
        let conn = self.hub.conn()?;
        let mut select = vec!["count(*)".to_owned()];
        for c in &view.meta.columns {
            let col = ident(c.def.name.as_str());
            let mean = if numeric(c.def.data_type) { format!("avg({col})::DOUBLE") } else { "NULL::DOUBLE".to_owned() };
            select.extend([
                format!("count({col})"),
                format!("approx_count_distinct({col})"),
                format!("min({col})::VARCHAR"),
                format!("max({col})::VARCHAR"),
                mean,
            ]);
        }
        let sql = format!("SELECT {} FROM {data}", select.join(", "));
        let (rows, mut columns) = interruptible(&conn, || {
            conn.query_row(&sql, [], |r| {
                let rows = r.get::<_, i64>(0)?.max(0) as u64;
                let columns = view
                    .meta
                    .columns
                    .iter()
                    .enumerate()
                    .map(|(i, c)| {
                        let at = 1 + i * PER_COLUMN;
                        let count = r.get::<_, i64>(at)?.max(0) as u64;
                        Ok(ColumnProfile {
                            name: c.def.name.to_string(),
                            data_type: c.def.data_type.to_string(),
                            count,
                            nulls: rows - count,
                            distinct: (r.get::<_, i64>(at + 1)?.max(0) as u64).min(count),
                            min: r.get(at + 2)?,
                            max: r.get(at + 3)?,
                            mean: r.get(at + 4)?,
                            top_values: Vec::new(),
                        })
                    })
                    .collect::<duckdb::Result<Vec<_>>>()?;
                Ok((rows, columns))
            })
            .map_err(db_err)
        })?;
        for (profile, c) in columns.iter_mut().zip(&view.meta.columns) {
            let listed = matches!(c.def.data_type, ColumnType::Varchar | ColumnType::Boolean);
            if !listed || profile.distinct > FEW_DISTINCT || profile.count == 0 {
                continue;
            }
            let col = ident(c.def.name.as_str());
            let sql = format!(
                "SELECT {col}::VARCHAR, count(*) FROM {data} WHERE {col} IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT {TOP_VALUES}"
            );
            profile.top_values = interruptible(&conn, || {
                let mut stmt = conn.prepare(&sql).map_err(db_err)?;
                stmt.query_map([], |r| Ok(TopValue { value: r.get(0)?, count: r.get::<_, i64>(1)?.max(0) as u64 }))
                    .and_then(Iterator::collect)
                    .map_err(db_err)
            })?;
        }
        drop(reading);
        let profile = TableProfile {
            table_id: t.table_id(),
            created_at: self.now(),
            row_count: rows,
            current: true,
            distinct_method: "approximate".to_owned(),
            columns,
        };
        let stored =
            serde_json::to_string(&profile).map_err(|e| duckstore_plugin_sdk::StorageError::internal(e.to_string()))?;
        let (uid, updated) = (view.meta.uid.clone(), naive(view.meta.updated_at));
        let project = t.project.to_string();
        let created = naive(profile.created_at);
        self.write(|c| {
            c.execute("DELETE FROM meta.table_profiles WHERE table_uid = ?", [&uid]).map_err(db_err)?;
            c.execute(
                "INSERT INTO meta.table_profiles (table_uid, project_id, table_updated_at, created_at, profile) VALUES (?, ?, ?, ?, ?)",
                params![uid, project, updated, created, stored],
            )
            .map_err(db_err)?;
            Ok(())
        })?;
        Ok(profile)
    }

    /// The table's latest profile, marked current while the table is unchanged since.
    pub(crate) fn profile_latest(&self, t: &TableRef) -> Result<Option<TableProfile>> {
        let (view, _) = self.read_table(t)?;
        let stored = self.read(|c| {
            c.query_row(
                "SELECT profile, table_updated_at FROM meta.table_profiles WHERE table_uid = ?",
                [&view.meta.uid],
                |r| Ok((r.get::<_, String>(0)?, ts(r, 1)?)),
            )
            .optional()
            .map_err(db_err)
        })?;
        let Some((json, updated)) = stored else { return Ok(None) };
        let mut profile: TableProfile =
            serde_json::from_str(&json).map_err(|e| duckstore_plugin_sdk::StorageError::internal(e.to_string()))?;
        profile.current = updated == view.meta.updated_at;
        profile.table_id = t.table_id();
        Ok(Some(profile))
    }
}

fn numeric(ty: ColumnType) -> bool {
    use ColumnType::*;
    matches!(
        ty,
        TinyInt
            | SmallInt
            | Integer
            | BigInt
            | HugeInt
            | UTinyInt
            | USmallInt
            | UInteger
            | UBigInt
            | Real
            | Double
            | Decimal(..)
    )
}
