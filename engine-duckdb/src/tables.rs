//! Tables: catalog entries (columns, primary key) plus one DuckDB file each.
//!
//! Readers resolve a table through [`crate::views`]; writers go through
//! [`DuckEngine::with_writer`], which copies a main table onto a dev branch on its first
//! write there (copy-on-write), refuses tables of linked buckets, and serializes writers.
//! New table files are always built completely under a temporary name first and only
//! then registered ([`DuckEngine::materialize`]) or swapped in ([`DuckEngine::replace_filled`]).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use duckdb::types::ValueRef;
use duckdb::{Connection, OptionalExt, params, params_from_iter};
use serde_json::{Map, Value};

use duckstore_plugin_sdk::model::{NewTable, Preview, Table};
use duckstore_plugin_sdk::names::{BranchId, BucketRef, ColumnName, TableName, TableRef};
use duckstore_plugin_sdk::policy::DestructiveOp;
use duckstore_plugin_sdk::query::RowQuery;
use duckstore_plugin_sdk::schema::{Column, ColumnDef, validate_columns};
use duckstore_plugin_sdk::{Resource, Result, StorageError};

use crate::DuckEngine;
use crate::catalog::{naive, parsed, ts};
use crate::commit::Settle;
use crate::error::db_err;
use crate::jobs::{JobNote, check_cancelled, note_commit};
use crate::layout::{db_file_size, remove_db_file};
use crate::sql::{Cast, check_casts, column_ddl, find_column, ident, json_friendly, order_clause, where_clause};
use crate::table_files::{Start, TableFile};
use crate::views::{TableView, bucket_view, table_names, table_view, writable};

/// Rows a preview may return at most.
pub const MAX_PREVIEW_ROWS: u64 = 10_000;
const DEFAULT_PREVIEW_ROWS: u64 = 100;

/// What the catalog knows about a table.
#[derive(Clone)]
pub(crate) struct TableMeta {
    pub uid: String,
    pub columns: Vec<Column>,
    pub primary_key: Vec<ColumnName>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Rows in the table's file, as its last commit recorded; `None` when not known.
    pub row_count: Option<u64>,
}

impl TableMeta {
    /// The entry a table about to be created will have.
    pub fn new(columns: &[ColumnDef], primary_key: &[ColumnName], now: DateTime<Utc>) -> Self {
        Self {
            uid: String::new(),
            columns: columns
                .iter()
                .enumerate()
                .map(|(i, def)| Column { def: def.clone(), ordinal_position: i as u32 + 1 })
                .collect(),
            primary_key: primary_key.to_vec(),
            created_at: now,
            updated_at: now,
            row_count: None,
        }
    }

    pub fn defs(&self) -> Vec<ColumnDef> {
        self.columns.iter().map(|c| c.def.clone()).collect()
    }
}

const COLUMN_FIELDS: &str = "name, type, nullable, default_value, position";

fn map_column(r: &duckdb::Row<'_>, at: usize) -> duckdb::Result<Column> {
    Ok(Column {
        def: ColumnDef {
            name: parsed(r, at)?,
            data_type: parsed(r, at + 1)?,
            nullable: r.get(at + 2)?,
            default: r.get(at + 3)?,
        },
        ordinal_position: r.get(at + 4)?,
    })
}

fn columns_of(c: &Connection, uid: &str) -> Result<Vec<Column>> {
    c.prepare(&format!("SELECT {COLUMN_FIELDS} FROM meta.columns WHERE table_uid = ? ORDER BY position"))
        .and_then(|mut s| s.query_map([uid], |r| map_column(r, 0))?.collect())
        .map_err(db_err)
}

const TABLE_FIELDS: &str = "uid, primary_key, created_at, updated_at, row_count";

/// A `meta.tables` row as [`TABLE_FIELDS`] lists them: uid, primary key (JSON), created,
/// updated, row count.
type TableRow = (String, String, DateTime<Utc>, DateTime<Utc>, Option<u64>);

/// A catalog row of `meta.tables` read as [`TABLE_FIELDS`] from column `at` on, without its columns.
fn map_table(r: &duckdb::Row<'_>, at: usize) -> duckdb::Result<TableRow> {
    Ok((r.get(at)?, r.get(at + 1)?, ts(r, at + 2)?, ts(r, at + 3)?, r.get(at + 4)?))
}

fn table_meta((uid, pk, created_at, updated_at, row_count): TableRow, columns: Vec<Column>) -> Result<TableMeta> {
    let primary_key =
        serde_json::from_str(&pk).map_err(|e| StorageError::internal(format!("corrupt primary key: {e}")))?;
    Ok(TableMeta { uid, columns, primary_key, created_at, updated_at, row_count })
}

/// Every catalog row of one bucket on one branch (exactly that branch), with its columns,
/// in two queries: what listing a bucket's tables reads instead of one row per table.
pub(crate) fn load_rows(c: &Connection, b: &BucketRef) -> Result<HashMap<TableName, TableMeta>> {
    let at = [b.project.to_string(), b.branch.to_string(), b.bucket.to_string()];
    let filter = "project_id = ? AND branch_id = ? AND bucket_id = ?";
    let mut columns: HashMap<String, Vec<Column>> = HashMap::new();
    c.prepare(&format!(
        "SELECT table_uid, {COLUMN_FIELDS} FROM meta.columns \
         WHERE table_uid IN (SELECT uid FROM meta.tables WHERE {filter}) ORDER BY table_uid, position"
    ))
    .and_then(|mut s| {
        s.query_map(duckdb::params_from_iter(&at), |r| Ok((r.get::<_, String>(0)?, map_column(r, 1)?)))?.try_for_each(
            |row| {
                let (uid, column) = row?;
                columns.entry(uid).or_default().push(column);
                Ok(())
            },
        )
    })
    .map_err(db_err)?;
    let rows: Vec<(TableName, _)> = c
        .prepare(&format!("SELECT name, {TABLE_FIELDS} FROM meta.tables WHERE {filter}"))
        .and_then(|mut s| {
            s.query_map(duckdb::params_from_iter(&at), |r| Ok((parsed(r, 0)?, map_table(r, 1)?)))?.collect()
        })
        .map_err(db_err)?;
    rows.into_iter()
        .map(|(name, row)| {
            let cols = columns.remove(&row.0).unwrap_or_default();
            Ok((name, table_meta(row, cols)?))
        })
        .collect()
}

fn key(t: &TableRef) -> [String; 4] {
    [t.project.to_string(), t.branch.to_string(), t.bucket.to_string(), t.table.to_string()]
}

/// The catalog row of exactly this (project, branch, bucket, table), if there is one.
pub(crate) fn load_row(c: &Connection, t: &TableRef) -> Result<Option<TableMeta>> {
    let found = c
        .query_row(
            &format!(
                "SELECT {TABLE_FIELDS} FROM meta.tables \
                 WHERE project_id = ? AND branch_id = ? AND bucket_id = ? AND name = ?"
            ),
            key(t),
            |r| map_table(r, 0),
        )
        .optional()
        .map_err(db_err)?;
    let Some(row) = found else { return Ok(None) };
    let columns = columns_of(c, &row.0)?;
    Ok(Some(table_meta(row, columns)?))
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

/// Replaces a table's columns and primary key in the catalog.
pub(crate) fn set_schema(
    c: &Connection,
    uid: &str,
    columns: &[ColumnDef],
    primary_key: &[ColumnName],
    now: chrono::NaiveDateTime,
) -> Result<()> {
    c.execute("DELETE FROM meta.columns WHERE table_uid = ?", [uid]).map_err(db_err)?;
    insert_columns(c, uid, columns)?;
    let pk = serde_json::to_string(primary_key).expect("names serialize");
    c.execute("UPDATE meta.tables SET primary_key = ?, updated_at = ? WHERE uid = ?", params![pk, now, uid])
        .map_err(db_err)?;
    Ok(())
}

/// Removes a table's catalog entry (its file is removed separately, after commit).
pub(crate) fn uncatalog(c: &Connection, t: &TableRef) -> Result<()> {
    c.execute(
        "DELETE FROM meta.columns WHERE table_uid IN (SELECT uid FROM meta.tables \
         WHERE project_id = ? AND branch_id = ? AND bucket_id = ? AND name = ?)",
        key(t),
    )
    .map_err(db_err)?;
    c.execute("DELETE FROM meta.tables WHERE project_id = ? AND branch_id = ? AND bucket_id = ? AND name = ?", key(t))
        .map_err(db_err)?;
    Ok(())
}

/// Hides main's version of a table from a dev branch.
pub(crate) fn tombstone(c: &Connection, t: &TableRef) -> Result<()> {
    untombstone(c, t)?;
    c.execute("INSERT INTO meta.tombstones VALUES (?, ?, ?, ?)", key(t)).map_err(db_err)?;
    Ok(())
}

pub(crate) fn untombstone(c: &Connection, t: &TableRef) -> Result<()> {
    c.execute(
        "DELETE FROM meta.tombstones WHERE project_id = ? AND branch_id = ? AND bucket_id = ? AND table_name = ?",
        key(t),
    )
    .map_err(db_err)?;
    Ok(())
}

/// The SQL insert of a table's own rows from `source` (same columns), `_timestamp` included.
pub(crate) fn copy_rows(columns: &[ColumnDef], data: &str, source: &str) -> String {
    let cols = columns
        .iter()
        .map(|c| ident(c.name.as_str()))
        .chain([ident(ColumnName::TIMESTAMP)])
        .collect::<Vec<_>>()
        .join(", ");
    format!("INSERT INTO {data} ({cols}) SELECT {cols} FROM {source}")
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

fn default_casts(columns: &[ColumnDef]) -> Vec<Cast> {
    columns
        .iter()
        .filter_map(|col| {
            col.default.as_ref().map(|d| Cast {
                value: d.clone(),
                ty: col.data_type,
                what: format!("default of column {:?}", col.name.as_str()),
            })
        })
        .collect()
}

impl DuckEngine {
    /// The attached file of a table's home.
    pub(crate) fn file_of(&self, home: &TableRef) -> Result<Arc<TableFile>> {
        self.files.open(&self.hub, &self.layout.table_file(&home.bucket_ref(), &home.table))
    }

    /// The table as its branch sees it, with the file holding its rows.
    pub(crate) fn read_table(&self, t: &TableRef) -> Result<(TableView, Arc<TableFile>)> {
        let view = self.memos.views.get(&self.catalog_epoch, t, || self.read(|c| table_view(c, t)))?;
        let file = self.file_of(&view.home)?;
        Ok((view, file))
    }

    /// Runs `f` as the table's only writer, on the branch's own copy of it (made on the
    /// first write to a main table from a dev branch), with its current catalog entry.
    pub(crate) fn with_writer<T>(
        &self,
        t: &TableRef,
        f: impl FnOnce(&TableView, &TableFile) -> Result<T>,
    ) -> Result<T> {
        let view = self.read(|c| {
            writable(&bucket_view(c, &t.bucket_ref())?)?;
            table_view(c, t)
        })?;
        if view.home != *t {
            self.copy_on_write(t)?;
        }
        let file = self.file_of(t)?;
        let _only_writer = self.wait_for_writer(&file)?;
        let view = self.read(|c| table_view(c, t))?;
        f(&view, &file)
    }

    /// Gives a dev branch its own copy of a main table, a consistent snapshot of main's rows.
    fn copy_on_write(&self, t: &TableRef) -> Result<()> {
        let _one_copy = self.copy_on_write.lock();
        let view = self.read(|c| table_view(c, t))?;
        if view.home == *t {
            return Ok(()); // another writer copied it meanwhile
        }
        let main = self.file_of(&view.home)?;
        let reading = main.read()?;
        let columns = view.meta.defs();
        self.materialize(
            t,
            &columns,
            &view.meta.primary_key,
            view.meta.created_at,
            |c, data| c.execute(&copy_rows(&columns, data, &reading.data()), []).map_err(db_err).map(drop),
            || None,
        )?;
        tracing::info!(table = %t.table_id(), branch = %t.branch, "copied a main table onto a branch on its first write");
        Ok(())
    }

    /// Builds table `t`'s complete file under a temporary name (`fill` writes its rows,
    /// given a connection and the new table's SQL name), then moves it into place and
    /// registers it. Either everything is there afterwards or nothing is.
    pub(crate) fn materialize(
        &self,
        t: &TableRef,
        columns: &[ColumnDef],
        primary_key: &[ColumnName],
        created_at: DateTime<Utc>,
        fill: impl FnOnce(&Connection, &str) -> Result<()>,
        job: impl FnOnce() -> Option<JobNote>,
    ) -> Result<()> {
        let staged = self.layout.loading_file(&t.bucket_ref(), &t.table);
        let ddl: Vec<String> = columns.iter().map(column_ddl).collect();
        let rows = self.files.build(&self.hub, &staged, Start::Empty(&ddl), |c, data| {
            fill(c, data)?;
            count_rows(c, data)
        })?;
        self.register(t, &staged, rows, columns, primary_key, created_at, job().as_ref())
    }

    /// Moves the complete file `staged` (holding `rows` rows) into place as new table `t`
    /// and registers it, in one catalog transaction that also records `job`'s success. A
    /// crash between the rename and the commit leaves an unregistered file, swept at the
    /// next start.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn register(
        &self,
        t: &TableRef,
        staged: &Path,
        rows: u64,
        columns: &[ColumnDef],
        primary_key: &[ColumnName],
        created_at: DateTime<Utc>,
        job: Option<&JobNote>,
    ) -> Result<()> {
        let path = self.layout.table_file(&t.bucket_ref(), &t.table);
        let now = naive(self.now());
        let registered = check_cancelled().and_then(|()| {
            self.write(|c| {
                if load_row(c, t)?.is_some() {
                    return Err(StorageError::already_exists(Resource::Table, t.table_id()));
                }
                if self.files.is_open(&path) {
                    return Err(StorageError::conflict(
                        "table_busy",
                        format!("table {} is still being removed; try again", t.table_id()),
                    ));
                }
                if path.exists() {
                    tracing::warn!(path = %path.display(), "removing an orphaned table file left by an interrupted operation");
                    remove_db_file(&path)?;
                }
                std::fs::rename(staged, &path)?;
                let uid = uuid::Uuid::new_v4().to_string();
                let pk = serde_json::to_string(primary_key).expect("names serialize");
                c.execute(
                    "INSERT INTO meta.tables VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    params![uid, t.project.as_str(), t.branch.as_str(), t.bucket.to_string(), t.table.as_str(), pk, naive(created_at), now, rows],
                )
                .map_err(db_err)?;
                insert_columns(c, &uid, columns)?;
                untombstone(c, t)?;
                note_commit(c, job, now)
            })
        });
        if registered.is_err() {
            let _ = remove_db_file(staged);
            if !self.read(|c| load_row(c, t)).is_ok_and(|r| r.is_some()) {
                let _ = remove_db_file(&path);
            }
        }
        registered
    }

    /// Atomically replaces the schema and rows of `view`'s table (whose writer lock the
    /// caller holds): the new file is built completely, then committed ([`crate::commit`]),
    /// recording `job`'s success with the new row count.
    pub(crate) fn replace_filled(
        &self,
        view: &TableView,
        file: &TableFile,
        columns: &[ColumnDef],
        primary_key: &[ColumnName],
        fill: impl FnOnce(&Connection, &str) -> Result<()>,
        job: impl FnOnce(u64) -> Option<JobNote>,
    ) -> Result<u64> {
        let next = self.layout.loading_file(&view.home.bucket_ref(), &view.home.table);
        let ddl: Vec<String> = columns.iter().map(column_ddl).collect();
        let rows = self.files.build(&self.hub, &next, Start::Empty(&ddl), |c, data| {
            fill(c, data)?;
            count_rows(c, data)
        })?;
        let settle = Settle {
            schema: Some((columns.to_vec(), primary_key.to_vec())),
            rows: Some(rows),
            at: self.now(),
            job: job(rows),
        };
        self.swap_in(view, file, &next, settle)?;
        Ok(rows)
    }

    /// Checks that `new` can be created in `bucket`: writable, a free name, valid columns.
    pub(crate) fn check_new_table(&self, bucket: &BucketRef, new: &NewTable) -> Result<()> {
        validate_columns(&new.columns, &new.primary_key)?;
        self.read(|c| {
            let view = bucket_view(c, bucket)?;
            writable(&view)?;
            if let Some(existing) =
                table_names(c, bucket, &view)?.into_iter().find(|n| n.as_str().eq_ignore_ascii_case(new.name.as_str()))
            {
                return Err(StorageError::already_exists(Resource::Table, format!("{}.{existing}", bucket.bucket)));
            }
            check_casts(c, &default_casts(&new.columns))
        })
    }
}

/// Rows of the table `data`, on the connection that may have changed it.
pub(crate) fn count_rows(c: &Connection, data: &str) -> Result<u64> {
    c.query_row(&format!("SELECT count(*) FROM {data}"), [], |r| r.get(0)).map_err(db_err)
}

impl DuckEngine {
    pub(crate) fn row_count(&self, file: &TableFile) -> Result<u64> {
        let reading = file.read()?;
        self.read(|c| {
            c.query_row(&format!("SELECT count(*) FROM {}", reading.data()), [], |r| r.get(0)).map_err(db_err)
        })
    }

    /// The API view of a table: its catalog entry and its file's size. The file is opened
    /// only for a table whose row count the catalog does not know yet.
    fn describe(&self, t: &TableRef, view: TableView) -> Result<Table> {
        let row_count = match view.meta.row_count {
            Some(rows) => rows,
            None => self.row_count(&*self.file_of(&view.home)?)?,
        };
        Ok(Table {
            id: t.table_id(),
            name: t.table.clone(),
            bucket: t.bucket.clone(),
            row_count,
            size_bytes: db_file_size(&self.layout.table_file(&view.home.bucket_ref(), &view.home.table)),
            columns: view.meta.columns,
            primary_key: view.meta.primary_key,
            created_at: view.meta.created_at,
            updated_at: view.meta.updated_at,
            source: view.source,
        })
    }

    pub(crate) fn table_create(&self, bucket: &BucketRef, new: &NewTable) -> Result<Table> {
        self.check_new_table(bucket, new)?;
        let t = bucket.table(new.name.clone());
        self.materialize(&t, &new.columns, &new.primary_key, self.now(), |_, _| Ok(()), || None)?;
        self.table_get(&t)
    }

    pub(crate) fn table_list(&self, bucket: &BucketRef) -> Result<Vec<Table>> {
        let views = self.read(|c| crate::views::table_views(c, bucket))?;
        views.into_iter().map(|(t, v)| self.describe(&t, v)).collect()
    }

    pub(crate) fn table_get(&self, t: &TableRef) -> Result<Table> {
        let view = self.read(|c| table_view(c, t))?;
        self.describe(t, view)
    }

    /// Drops a table as its branch sees it: its own data goes (after the snapshot the
    /// policy asks for); main's version is only hidden from a dev branch.
    pub(crate) fn table_delete(&self, t: &TableRef, actor: &str) -> Result<()> {
        let view = self.read(|c| {
            writable(&bucket_view(c, &t.bucket_ref())?)?;
            table_view(c, t)
        })?;
        if view.home != *t {
            return self.write(|c| tombstone(c, t));
        }
        let file = self.file_of(t)?;
        {
            let _only_writer = self.wait_for_writer(&file)?;
            self.auto_snapshot(&view, &file, DestructiveOp::DropTable, None, actor)?;
            self.write(|c| {
                uncatalog(c, t)?;
                if !t.branch.is_main() && load_row(c, &TableRef { branch: BranchId::main(), ..t.clone() })?.is_some() {
                    tombstone(c, t)?;
                }
                Ok(())
            })?;
            // Still the table's only writer: a table created under the same name meanwhile
            // could otherwise have its new file removed here.
            self.files.remove(&self.hub, &self.layout.table_file(&t.bucket_ref(), &t.table))
        }
    }

    /// Resets a dev branch's table to main's current version: the branch's copy goes.
    pub(crate) fn table_pull(&self, t: &TableRef) -> Result<Table> {
        if t.branch.is_main() {
            return Err(StorageError::invalid("main_branch", "pull resets a dev branch's table to main; this is main"));
        }
        let main = TableRef { branch: BranchId::main(), ..t.clone() };
        // The branch's own copy is dropped as its only writer (a write in flight finishes first).
        let file = match self.read(|c| load_row(c, t))? {
            Some(_) => Some(self.file_of(t)?),
            None => None,
        };
        let _only_writer = file.as_ref().map(|f| self.wait_for_writer(f)).transpose()?;
        let own = self.write(|c| {
            if load_row(c, &main)?.is_none() {
                return Err(StorageError::conflict(
                    "nothing_to_pull",
                    format!("main has no table {}; it exists only on this branch", t.table_id()),
                ));
            }
            untombstone(c, t)?;
            let own = load_row(c, t)?.is_some();
            if own {
                uncatalog(c, t)?;
            }
            Ok(own)
        })?;
        if own {
            self.files.remove(&self.hub, &self.layout.table_file(&t.bucket_ref(), &t.table))?;
        }
        self.table_get(t)
    }

    pub(crate) fn table_preview(&self, t: &TableRef, q: &RowQuery) -> Result<Preview> {
        let limit = q.limit.unwrap_or(DEFAULT_PREVIEW_ROWS);
        if !(1..=MAX_PREVIEW_ROWS).contains(&limit) {
            return Err(StorageError::invalid(
                "invalid_limit",
                format!("preview limit must be between 1 and {MAX_PREVIEW_ROWS}, got {limit}"),
            ));
        }
        let (view, file) = self.read_table(t)?;
        let reading = file.read()?;
        let meta = view.meta;
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
            let total = match meta.row_count {
                Some(rows) => rows,
                None => count_rows(c, &reading.data())?,
            };
            Ok((rows, total))
        })?;
        Ok(Preview { columns, preview_row_count: rows.len() as u64, rows, total_row_count })
    }
}
