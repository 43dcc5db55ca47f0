//! Schema changes and row deletes, each atomic.
//!
//! Both run on a copy of the table's file and are committed by swapping the copy in with
//! the catalog change ([`crate::commit`]): a DDL that fails (a value that does not cast, a
//! NULL where NOT NULL is wanted) leaves the table as it was, and queries go on reading the
//! old version until the swap. A change of the primary key alone touches only the catalog.

use duckdb::Connection;

use duckstore_plugin_sdk::model::Table;
use duckstore_plugin_sdk::names::{ColumnName, TableRef};
use duckstore_plugin_sdk::policy::DestructiveOp;
use duckstore_plugin_sdk::query::RowSelection;
use duckstore_plugin_sdk::schema::{ColumnChange, ColumnDef, check_column_count, validate_primary_key};
use duckstore_plugin_sdk::{Resource, Result, StorageError};

use crate::DuckEngine;
use crate::catalog::naive;
use crate::commit::Settle;
use crate::error::db_err;
use crate::sql::{Cast, check_casts, column_ddl, ident, literal, where_clause};
use crate::table_files::Start;
use crate::tables::{TableMeta, count_rows, set_schema};

/// What a schema change does: DDL on the table file (`{data}` stands for the table) and
/// the resulting columns and primary key.
struct Plan {
    ddl: Vec<String>,
    columns: Vec<ColumnDef>,
    primary_key: Vec<ColumnName>,
}

fn defs(meta: &TableMeta) -> Vec<ColumnDef> {
    meta.columns.iter().map(|c| c.def.clone()).collect()
}

fn position(meta: &TableMeta, name: &ColumnName) -> Result<usize> {
    meta.columns
        .iter()
        .position(|c| c.def.name.as_str().eq_ignore_ascii_case(name.as_str()))
        .ok_or_else(|| StorageError::not_found(Resource::Column, name))
}

fn default_cast(def: &ColumnDef) -> Vec<Cast> {
    def.default
        .iter()
        .map(|d| Cast {
            value: d.clone(),
            ty: def.data_type,
            what: format!("default of column {:?}", def.name.as_str()),
        })
        .collect()
}

fn ensure_free(meta: &TableMeta, name: &ColumnName) -> Result<()> {
    ColumnName::user(name.as_str())?;
    match meta.columns.iter().find(|c| c.def.name.as_str().eq_ignore_ascii_case(name.as_str())) {
        Some(c) => Err(StorageError::already_exists(Resource::Column, &c.def.name)),
        None => Ok(()),
    }
}

impl DuckEngine {
    /// Applies the plan `plan` makes (from the table's catalog entry, a connection and the
    /// table's SQL name) to the table atomically, and returns the changed table. A
    /// `destructive` change first passes the auto-snapshot decision point.
    fn change_schema(
        &self,
        table: &TableRef,
        destructive: Option<(DestructiveOp, &str)>,
        plan: impl FnOnce(&TableMeta, &Connection, &str) -> Result<Plan>,
    ) -> Result<Table> {
        self.with_writer(table, |view, file| {
            if let Some((op, actor)) = destructive {
                self.auto_snapshot(view, file, op, None, actor)?;
            }
            let meta = &view.meta;
            let plan = {
                let reading = file.read()?;
                self.read(|c| plan(meta, c, &reading.data()))?
            };
            if plan.ddl.is_empty() {
                let now = naive(self.now());
                return self.write(|c| set_schema(c, &meta.uid, &plan.columns, &plan.primary_key, now));
            }
            // DDL runs on a copy of the file, swapped in with the catalog change.
            let next = self.layout.loading_file(&table.bucket_ref(), &table.table);
            self.files.build(&self.hub, &next, Start::CopyOf(file), |c, data| {
                plan.ddl.iter().try_for_each(|stmt| c.execute_batch(&stmt.replace("{data}", data)).map_err(db_err))
            })?;
            // A schema change keeps the rows.
            let settle = Settle {
                schema: Some((plan.columns, plan.primary_key)),
                rows: meta.row_count,
                at: self.now(),
                job: None,
            };
            self.swap_in(view, file, &next, settle)
        })?;
        self.table_get(table)
    }

    pub(crate) fn column_add(&self, table: &TableRef, column: &ColumnDef) -> Result<Table> {
        self.change_schema(table, None, |meta, c, _| {
            ensure_free(meta, &column.name)?;
            check_column_count(meta.columns.len() + 1)?;
            check_casts(c, &default_cast(column))?;
            let mut columns = defs(meta);
            columns.push(column.clone());
            // DuckDB cannot add a column with a constraint: add it, then constrain it.
            let mut ddl = vec![format!(
                "ALTER TABLE {{data}} ADD COLUMN {}",
                column_ddl(&ColumnDef { nullable: true, ..column.clone() })
            )];
            if !column.nullable {
                ddl.push(format!("ALTER TABLE {{data}} ALTER COLUMN {} SET NOT NULL", ident(column.name.as_str())));
            }
            Ok(Plan { ddl, columns, primary_key: meta.primary_key.clone() })
        })
    }

    pub(crate) fn column_drop(&self, table: &TableRef, column: &ColumnName, actor: &str) -> Result<Table> {
        self.change_schema(table, Some((DestructiveOp::DropColumn, actor)), |meta, _, _| {
            let at = position(meta, column)?;
            let name = meta.columns[at].def.name.clone();
            if meta.primary_key.iter().any(|k| k.as_str().eq_ignore_ascii_case(name.as_str())) {
                return Err(StorageError::conflict(
                    "column_in_primary_key",
                    format!("column {name} is part of the primary key; change the key first"),
                ));
            }
            if meta.columns.len() == 1 {
                return Err(StorageError::conflict("last_column", "a table must keep at least one column"));
            }
            let mut columns = defs(meta);
            columns.remove(at);
            Ok(Plan {
                ddl: vec![format!("ALTER TABLE {{data}} DROP COLUMN {}", ident(name.as_str()))],
                columns,
                primary_key: meta.primary_key.clone(),
            })
        })
    }

    pub(crate) fn column_alter(&self, table: &TableRef, column: &ColumnName, change: &ColumnChange) -> Result<Table> {
        if *change == ColumnChange::default() {
            return Err(StorageError::invalid("empty_change", "give at least one of name, type, nullable, default"));
        }
        self.change_schema(table, None, |meta, c, _| {
            let at = position(meta, column)?;
            let old = meta.columns[at].def.clone();
            let mut new = old.clone();
            let col = ident(old.name.as_str());
            let mut ddl = Vec::new();
            if let Some(ty) = change.data_type.filter(|t| *t != old.data_type) {
                new.data_type = ty;
                ddl.push(format!("ALTER TABLE {{data}} ALTER COLUMN {col} SET DATA TYPE {}", ty.sql()));
            }
            if let Some(default) = &change.default {
                new.default = default.clone();
                ddl.push(match default {
                    Some(d) => format!(
                        "ALTER TABLE {{data}} ALTER COLUMN {col} SET DEFAULT CAST({} AS {})",
                        literal(d),
                        new.data_type.sql()
                    ),
                    None => format!("ALTER TABLE {{data}} ALTER COLUMN {col} DROP DEFAULT"),
                });
            }
            check_casts(c, &default_cast(&new))?;
            if let Some(nullable) = change.nullable.filter(|n| *n != old.nullable) {
                new.nullable = nullable;
                let action = if nullable { "DROP NOT NULL" } else { "SET NOT NULL" };
                ddl.push(format!("ALTER TABLE {{data}} ALTER COLUMN {col} {action}"));
            }
            let mut primary_key = meta.primary_key.clone();
            if let Some(name) = change.name.as_ref().filter(|n| n.as_str() != old.name.as_str()) {
                if !name.as_str().eq_ignore_ascii_case(old.name.as_str()) {
                    ensure_free(meta, name)?;
                }
                ColumnName::user(name.as_str())?;
                new.name = name.clone();
                ddl.push(format!("ALTER TABLE {{data}} RENAME COLUMN {col} TO {}", ident(name.as_str())));
                for k in primary_key.iter_mut().filter(|k| k.as_str().eq_ignore_ascii_case(old.name.as_str())) {
                    *k = name.clone();
                }
            }
            let mut columns = defs(meta);
            columns[at] = new;
            Ok(Plan { ddl, columns, primary_key })
        })
    }

    pub(crate) fn primary_key_set(&self, table: &TableRef, key: &[ColumnName]) -> Result<Table> {
        if key.is_empty() {
            return Err(StorageError::invalid("invalid_primary_key", "name at least one column (or delete the key)"));
        }
        self.change_schema(table, None, |meta, c, data| {
            let columns = defs(meta);
            validate_primary_key(&columns, key)?;
            // Use the columns' own spelling.
            let key: Vec<ColumnName> = key
                .iter()
                .map(|k| {
                    columns
                        .iter()
                        .find(|c| c.name.as_str().eq_ignore_ascii_case(k.as_str()))
                        .expect("validated")
                        .name
                        .clone()
                })
                .collect();
            let list = key.iter().map(|k| ident(k.as_str())).collect::<Vec<_>>().join(", ");
            let nulls = key.iter().map(|k| format!("{} IS NULL", ident(k.as_str()))).collect::<Vec<_>>().join(" OR ");
            let (null_rows, repeated): (u64, u64) = c
                .query_row(
                    &format!(
                        "SELECT (SELECT count(*) FROM {data} WHERE {nulls}), \
                         (SELECT count(*) FROM (SELECT 1 FROM {data} GROUP BY {list} HAVING count(*) > 1))"
                    ),
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .map_err(db_err)?;
            if null_rows > 0 || repeated > 0 {
                return Err(StorageError::conflict(
                    "primary_key_violation",
                    format!(
                        "existing rows do not fit the key ({list}): {null_rows} row(s) with NULL in it, \
                         {repeated} key value(s) used more than once"
                    ),
                ));
            }
            Ok(Plan { ddl: vec![], columns, primary_key: key })
        })
    }

    pub(crate) fn primary_key_drop(&self, table: &TableRef) -> Result<Table> {
        self.change_schema(table, None, |meta, _, _| Ok(Plan { ddl: vec![], columns: defs(meta), primary_key: vec![] }))
    }

    /// Deletes the selected rows; an empty selection deletes all of them (`truncate` says
    /// whether the caller asked for a truncate, which has its own snapshot trigger).
    pub(crate) fn rows_delete(
        &self,
        table: &TableRef,
        selection: &RowSelection,
        truncate: bool,
        actor: &str,
    ) -> Result<u64> {
        let deleted = self.with_writer(table, |view, file| {
            let meta = &view.meta;
            let filter = where_clause(selection, &meta.columns)?;
            if selection.is_everything() {
                let rows = self.row_count(file)?;
                let op = if truncate { DestructiveOp::TruncateTable } else { DestructiveOp::DeleteAllRows };
                self.auto_snapshot(view, file, op, Some(rows), actor)?;
                // Deleting everything: a fresh empty file also gives the disk space back.
                self.replace_filled(view, file, &meta.defs(), &meta.primary_key, |_, _| Ok(()), |_| None)?;
                return Ok(rows);
            }
            let matching: u64 = {
                let reading = file.read()?;
                let conn = self.hub.conn()?;
                check_casts(&conn, &filter.casts)?;
                conn.query_row(
                    &format!("SELECT count(*) FROM {}{}", reading.data(), filter.sql),
                    duckdb::params_from_iter(&filter.params),
                    |r| r.get(0),
                )
                .map_err(db_err)?
            };
            self.auto_snapshot(view, file, DestructiveOp::DeleteRows, Some(matching), actor)?;
            let next = self.layout.loading_file(&table.bucket_ref(), &table.table);
            let (deleted, left) = self.files.build(&self.hub, &next, Start::CopyOf(file), |c, data| {
                let deleted = c
                    .execute(&format!("DELETE FROM {data}{}", filter.sql), duckdb::params_from_iter(&filter.params))
                    .map_err(db_err)?;
                Ok((deleted, count_rows(c, data)?))
            })?;
            self.swap_in(view, file, &next, Settle::rows(self.now(), left, None))?;
            Ok(deleted as u64)
        })?;
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use duckstore_plugin_sdk::schema::Column;

    #[test]
    fn column_lookup_is_case_insensitive() {
        let meta = TableMeta {
            uid: "u".into(),
            columns: vec![Column {
                def: ColumnDef {
                    name: ColumnName::new("Amount").unwrap(),
                    data_type: duckstore_plugin_sdk::schema::ColumnType::Double,
                    nullable: true,
                    default: None,
                },
                ordinal_position: 1,
            }],
            primary_key: vec![],
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
            row_count: None,
        };
        assert_eq!(position(&meta, &ColumnName::new("amount").unwrap()).unwrap(), 0);
        assert_eq!(position(&meta, &ColumnName::new("x").unwrap()).unwrap_err().code, "column_not_found");
        assert_eq!(ensure_free(&meta, &ColumnName::new("AMOUNT").unwrap()).unwrap_err().code, "column_already_exists");
    }
}
