//! Tables: catalog entries (columns, primary key) plus one DuckDB file each.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use duckdb::types::ValueRef;
use duckdb::{Connection, OptionalExt, params, params_from_iter};
use serde_json::{Map, Value};

use duckstore_plugin_sdk::model::{NewTable, Preview, Table, TableSource};
use duckstore_plugin_sdk::names::{BucketRef, ColumnName, TableName, TableRef};
use duckstore_plugin_sdk::query::RowQuery;
use duckstore_plugin_sdk::schema::{Column, ColumnDef, validate_columns};
use duckstore_plugin_sdk::{Resource, Result, StorageError};

use crate::DuckEngine;
use crate::buckets::require_bucket;
use crate::catalog::{naive, parsed, ts};
use crate::error::db_err;
use crate::layout::db_file_size;
use crate::sql::{Cast, check_casts, column_ddl, find_column, json_friendly, order_clause, where_clause};
use crate::table_files::TableFile;

/// Rows a preview may return at most.
pub const MAX_PREVIEW_ROWS: u64 = 10_000;
const DEFAULT_PREVIEW_ROWS: u64 = 100;

/// What the catalog knows about a table.
pub(crate) struct TableMeta {
    pub uid: String,
    pub columns: Vec<Column>,
    pub primary_key: Vec<ColumnName>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn columns_of(c: &Connection, uid: &str) -> Result<Vec<Column>> {
    c.prepare(
        "SELECT name, type, nullable, default_value, position FROM meta.columns WHERE table_uid = ? ORDER BY position",
    )
    .and_then(|mut s| {
        s.query_map([uid], |r| {
            Ok(Column {
                def: ColumnDef {
                    name: parsed(r, 0)?,
                    data_type: parsed(r, 1)?,
                    nullable: r.get(2)?,
                    default: r.get(3)?,
                },
                ordinal_position: r.get(4)?,
            })
        })?
        .collect()
    })
    .map_err(db_err)
}

/// The table's catalog entry, after checking project, branch and bucket exist.
pub(crate) fn load(c: &Connection, table: &TableRef) -> Result<TableMeta> {
    require_bucket(c, &table.bucket_ref())?;
    let found = c
        .query_row(
            "SELECT uid, primary_key, created_at, updated_at FROM meta.tables \
             WHERE project_id = ? AND branch_id = ? AND bucket_id = ? AND name = ?",
            [table.project.as_str(), table.branch.as_str(), &table.bucket.to_string(), table.table.as_str()],
            |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, ts(r, 2)?, ts(r, 3)?)),
        )
        .optional()
        .map_err(db_err)?;
    let (uid, pk, created_at, updated_at) =
        found.ok_or_else(|| StorageError::not_found(Resource::Table, table.table_id()))?;
    let primary_key =
        serde_json::from_str(&pk).map_err(|e| StorageError::internal(format!("corrupt primary key: {e}")))?;
    Ok(TableMeta { columns: columns_of(c, &uid)?, uid, primary_key, created_at, updated_at })
}

/// Names of the tables in a bucket.
pub(crate) fn names_in(c: &Connection, bucket: &BucketRef) -> Result<Vec<TableName>> {
    c.prepare("SELECT name FROM meta.tables WHERE project_id = ? AND branch_id = ? AND bucket_id = ? ORDER BY name")
        .and_then(|mut s| {
            s.query_map([bucket.project.as_str(), bucket.branch.as_str(), &bucket.bucket.to_string()], |r| {
                parsed(r, 0)
            })?
            .collect()
        })
        .map_err(db_err)
}

/// Removes a table's catalog entry (its file is removed separately, after commit).
pub(crate) fn uncatalog(c: &Connection, table: &TableRef) -> Result<()> {
    let key = [table.project.as_str(), table.branch.as_str(), &table.bucket.to_string(), table.table.as_str()];
    c.execute(
        "DELETE FROM meta.columns WHERE table_uid IN (SELECT uid FROM meta.tables \
         WHERE project_id = ? AND branch_id = ? AND bucket_id = ? AND name = ?)",
        key,
    )
    .map_err(db_err)?;
    c.execute("DELETE FROM meta.tables WHERE project_id = ? AND branch_id = ? AND bucket_id = ? AND name = ?", key)
        .map_err(db_err)?;
    Ok(())
}

pub(crate) fn insert_columns(c: &Connection, uid: &str, columns: &[ColumnDef]) -> Result<()> {
    for (i, col) in columns.iter().enumerate() {
        c.execute(
            "INSERT INTO meta.columns VALUES (?, ?, ?, ?, ?, ?)",
            params![uid, i as i32 + 1, col.name.as_str(), col.data_type.sql(), col.nullable, col.default],
        )
        .map_err(db_err)?;
    }
    Ok(())
}

/// Converts a value selected through [`json_friendly`] into JSON.
fn json_value(v: ValueRef<'_>) -> Value {
    let float = |f: f64| serde_json::Number::from_f64(f).map_or_else(|| Value::String(f.to_string()), Value::Number);
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Boolean(b) => b.into(),
        ValueRef::TinyInt(i) => i.into(),
        ValueRef::SmallInt(i) => i.into(),
        ValueRef::Int(i) => i.into(),
        ValueRef::BigInt(i) => i.into(),
        ValueRef::UTinyInt(i) => i.into(),
        ValueRef::USmallInt(i) => i.into(),
        ValueRef::UInt(i) => i.into(),
        ValueRef::UBigInt(i) => i.into(),
        ValueRef::Float(f) => float(f64::from(f)),
        ValueRef::Double(f) => float(f),
        ValueRef::Text(t) => Value::String(String::from_utf8_lossy(t).into_owned()),
        other => Value::String(format!("{other:?}")),
    }
}

impl DuckEngine {
    /// The table's catalog entry and its (attached) file.
    pub(crate) fn open_table(&self, table: &TableRef) -> Result<(TableMeta, Arc<TableFile>)> {
        let meta = self.read(|c| load(c, table))?;
        let file = self.files.open(&self.hub, &self.layout.table_file(&table.bucket_ref(), &table.table))?;
        Ok((meta, file))
    }

    pub(crate) fn row_count(&self, file: &TableFile) -> Result<u64> {
        let reading = file.read()?;
        self.read(|c| {
            c.query_row(&format!("SELECT count(*) FROM {}", reading.data()), [], |r| r.get(0)).map_err(db_err)
        })
    }

    /// Records that the table's data or schema changed now.
    pub(crate) fn touch_table(&self, table: &TableRef) -> Result<()> {
        let now = naive(self.now());
        self.write(|c| {
            c.execute(
                "UPDATE meta.tables SET updated_at = ? WHERE project_id = ? AND branch_id = ? AND bucket_id = ? AND name = ?",
                params![now, table.project.as_str(), table.branch.as_str(), table.bucket.to_string(), table.table.as_str()],
            )
            .map_err(db_err)?;
            Ok(())
        })
    }

    /// Adds what only the table file knows (rows, bytes) to the catalog entry.
    fn describe(&self, table: &TableRef, meta: TableMeta) -> Result<Table> {
        let path = self.layout.table_file(&table.bucket_ref(), &table.table);
        let row_count = self.row_count(&*self.files.open(&self.hub, &path)?)?;
        Ok(Table {
            id: table.table_id(),
            name: table.table.clone(),
            bucket: table.bucket.clone(),
            columns: meta.columns,
            primary_key: meta.primary_key,
            row_count,
            size_bytes: db_file_size(&path),
            created_at: meta.created_at,
            updated_at: meta.updated_at,
            source: TableSource::Main,
        })
    }

    pub(crate) fn table_create(&self, bucket: &BucketRef, new: &NewTable) -> Result<Table> {
        validate_columns(&new.columns, &new.primary_key)?;
        let table = bucket.table(new.name.clone());
        let path = self.layout.table_file(bucket, &new.name);
        let ddl: Vec<String> = new.columns.iter().map(column_ddl).collect();
        let now = naive(self.now());
        let mut made_file = false;
        let created = self.write(|c| {
            require_bucket(c, bucket)?;
            let defaults: Vec<Cast> = new
                .columns
                .iter()
                .filter_map(|col| {
                    col.default.as_ref().map(|d| Cast {
                        value: d.clone(),
                        ty: col.data_type,
                        what: format!("default of column {:?}", col.name.as_str()),
                    })
                })
                .collect();
            check_casts(c, &defaults)?;
            let taken: Option<String> = c
                .query_row(
                    "SELECT name FROM meta.tables WHERE project_id = ? AND branch_id = ? AND bucket_id = ? \
                     AND lower(name) = lower(?)",
                    [bucket.project.as_str(), bucket.branch.as_str(), &bucket.bucket.to_string(), new.name.as_str()],
                    |r| r.get(0),
                )
                .optional()
                .map_err(db_err)?;
            if let Some(existing) = taken {
                return Err(StorageError::already_exists(Resource::Table, format!("{}.{existing}", bucket.bucket)));
            }
            if path.exists() {
                tracing::warn!(path = %path.display(), "removing orphaned table file left by an interrupted operation");
                crate::layout::remove_db_file(&path)?;
            }
            self.files.create(&self.hub, &path, &ddl)?;
            made_file = true;
            let uid = uuid::Uuid::new_v4().to_string();
            let pk = serde_json::to_string(&new.primary_key).expect("names serialize");
            c.execute(
                "INSERT INTO meta.tables VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                params![
                    uid,
                    bucket.project.as_str(),
                    bucket.branch.as_str(),
                    bucket.bucket.to_string(),
                    new.name.as_str(),
                    pk,
                    now,
                    now
                ],
            )
            .map_err(db_err)?;
            insert_columns(c, &uid, &new.columns)
        });
        if let Err(e) = created {
            if made_file {
                let _ = self.files.remove(&self.hub, &path);
            }
            return Err(e);
        }
        self.table_get(&table)
    }

    pub(crate) fn table_list(&self, bucket: &BucketRef) -> Result<Vec<Table>> {
        let metas = self.read(|c| {
            require_bucket(c, bucket)?;
            names_in(c, bucket)?
                .into_iter()
                .map(|name| {
                    let table = bucket.table(name);
                    load(c, &table).map(|m| (table, m))
                })
                .collect::<Result<Vec<_>>>()
        })?;
        metas.into_iter().map(|(t, m)| self.describe(&t, m)).collect()
    }

    pub(crate) fn table_get(&self, table: &TableRef) -> Result<Table> {
        let meta = self.read(|c| load(c, table))?;
        self.describe(table, meta)
    }

    pub(crate) fn table_delete(&self, table: &TableRef) -> Result<()> {
        self.write(|c| {
            load(c, table)?;
            uncatalog(c, table)
        })?;
        self.files.remove(&self.hub, &self.layout.table_file(&table.bucket_ref(), &table.table))
    }

    pub(crate) fn table_preview(&self, table: &TableRef, q: &RowQuery) -> Result<Preview> {
        let limit = q.limit.unwrap_or(DEFAULT_PREVIEW_ROWS);
        if !(1..=MAX_PREVIEW_ROWS).contains(&limit) {
            return Err(StorageError::invalid(
                "invalid_limit",
                format!("preview limit must be between 1 and {MAX_PREVIEW_ROWS}, got {limit}"),
            ));
        }
        let meta = self.read(|c| load(c, table))?;
        let columns: Vec<Column> = match &q.columns {
            None => meta.columns.clone(),
            Some(names) if names.is_empty() => {
                return Err(StorageError::invalid(
                    "invalid_columns",
                    "columns, when given, must name at least one column",
                ));
            }
            Some(names) => names.iter().map(|n| find_column(&meta.columns, n).cloned()).collect::<Result<_>>()?,
        };
        let filter = where_clause(&q.selection(), &meta.columns)?;
        let order = order_clause(&q.order_by, &meta.columns)?;
        let select: Vec<String> = columns.iter().map(json_friendly).collect();
        let file = self.files.open(&self.hub, &self.layout.table_file(&table.bucket_ref(), &table.table))?;
        let reading = file.read()?;
        let (rows, total_row_count) = self.read(|c| {
            check_casts(c, &filter.casts)?;
            let sql =
                format!("SELECT {} FROM {}{}{} LIMIT {limit}", select.join(", "), reading.data(), filter.sql, order);
            let mut stmt = c.prepare(&sql).map_err(db_err)?;
            let mut result = stmt.query(params_from_iter(&filter.params)).map_err(db_err)?;
            let mut rows = Vec::new();
            while let Some(row) = result.next().map_err(db_err)? {
                let mut obj = Map::with_capacity(columns.len());
                for (i, col) in columns.iter().enumerate() {
                    obj.insert(col.def.name.to_string(), json_value(row.get_ref(i).map_err(db_err)?));
                }
                rows.push(obj);
            }
            let total: u64 =
                c.query_row(&format!("SELECT count(*) FROM {}", reading.data()), [], |r| r.get(0)).map_err(db_err)?;
            Ok((rows, total))
        })?;
        Ok(Preview { columns, preview_row_count: rows.len() as u64, rows, total_row_count })
    }
}
