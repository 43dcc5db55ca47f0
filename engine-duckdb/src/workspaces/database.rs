//! One workspace's DuckDB database: a separate instance, locked down for user SQL, that
//! shows the project's tables as views over `storage_table` in one schema per bucket.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::{Mutex, RwLock};

use duckstore_plugin_sdk::engine::WorkspaceLimits;
use duckstore_plugin_sdk::names::{BranchId, BranchRef, ProjectId};
use duckstore_plugin_sdk::workspaces::WorkspaceObject;
use duckstore_plugin_sdk::{ErrorKind, Result, StorageError};

use super::compat::CATALOG_SQL;
use super::pushdown::Defined;
use super::session::StatementInterrupter;
use crate::bridge::{StorageScope, register_storage_table};
use crate::error::db_err;
use crate::raw::{Database, RawConnection};
use crate::sql::{ident, literal};
use crate::views::{bucket_views, table_names, table_view};

/// A schema name that belongs to storage: the id of a bucket, present or future, in any
/// case (DuckDB's names are case-insensitive: a user's `"IN.c-x"` would be the bucket's).
pub(crate) fn is_bucket_schema(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name.strip_prefix("in.c-").or_else(|| name.strip_prefix("out.c-")).is_some_and(|rest| !rest.is_empty())
}

/// The in-memory database holding the PostgreSQL catalog emulation.
const PG_CATALOG_DB: &str = "ds_pg";
/// Whether `sql` names the catalog emulation's database, as a word of its own in any case
/// (`builds_pg` does not).
pub(crate) fn names_pg_catalog(sql: &str) -> bool {
    let lower = sql.to_ascii_lowercase();
    let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$');
    lower
        .match_indices(PG_CATALOG_DB)
        .any(|(at, m)| !word(lower[..at].chars().next_back()) && !word(lower[at + m.len()..].chars().next()))
}

/// A session's search path for `schemas` (DuckDB names): the first is where unqualified
/// CREATE goes, then the catalog emulation, before DuckDB's built-ins.
pub(crate) fn search_path(schemas: &[&str]) -> String {
    let quoted: Vec<String> = schemas.iter().map(|s| format!("\"{}\"", s.replace('"', "\"\""))).collect();
    let path = format!("{},{PG_CATALOG_DB}.main", quoted.join(","));
    format!("SET search_path = {}", literal(&path))
}

/// (Built-ins are called by their full names in the engine's queries on workspace
/// connections: users may define macros named like them.)
const BUCKET_SCHEMA_SQL: &str = r"system.main.regexp_full_match(system.main.lower(schema_name), '(in|out)\.c-.+')";

/// The views storage wants: bucket id → table name → column signature.
type ViewSet = BTreeMap<String, BTreeMap<String, String>>;

struct Views {
    /// The catalog epoch `set` was computed at.
    epoch: u64,
    set: ViewSet,
    /// The project tables' primary keys: (bucket, table, key columns).
    keys: Vec<(String, String, Vec<String>)>,
}

pub(crate) struct WorkspaceDb {
    pub id: String,
    pub project: ProjectId,
    pub branch: BranchId,
    pub size_limit_bytes: u64,
    path: PathBuf,
    db: Arc<Database>,
    /// What its sessions read of storage, and where.
    scope: Arc<StorageScope>,
    /// For the engine's own work on the workspace (view sync, loads, clearing).
    admin: Mutex<duckdb::Connection>,
    /// Held shared by statements that may change schemas, exclusively by a view sync, so
    /// a session's check that bucket schemas are untouched never sees a sync.
    views: RwLock<Views>,
    catalog_epoch: Arc<AtomicU64>,
    /// Counts statements that may have changed what users defined in the workspace.
    definitions: AtomicU64,
    /// The functions defined in the workspace as committed, for pushdown.
    pub defined: Mutex<Defined>,
    closed: AtomicBool,
    sessions: Mutex<HashMap<u64, Arc<StatementInterrupter>>>,
    next_session: AtomicU64,
    /// Sessions numbered below it were ended (the password was reset): they may not go on.
    ended_below: AtomicU64,
}

impl WorkspaceDb {
    #[allow(clippy::too_many_arguments)]
    pub fn open(
        id: &str,
        at: &BranchRef,
        size_limit_bytes: u64,
        path: PathBuf,
        temp: PathBuf,
        limits: &WorkspaceLimits,
        scope: StorageScope,
        catalog_epoch: Arc<AtomicU64>,
    ) -> Result<Arc<Self>> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::create_dir_all(&temp)?;
        let db = Database::open(
            &path.to_string_lossy(),
            &[
                ("threads", limits.threads.to_string()),
                ("memory_limit", limits.memory_limit.clone()),
                ("temp_directory", temp.to_string_lossy().into_owned()),
                ("autoinstall_known_extensions", "false".into()),
                ("autoload_known_extensions", "false".into()),
                ("allow_community_extensions", "false".into()),
                // User SQL must never reach the host's files: no read_csv of paths, no
                // COPY TO, ATTACH, INSTALL or LOAD.
                ("enable_external_access", "false".into()),
            ],
        )?;
        let admin = db.safe_connection()?;
        // UTC as in the hub and as the wire protocol reports it (a query answers the same in
        // the workspace and pushed down into the hub); then nobody changes any setting. (The
        // time zone belongs to ICU, which loads after the options given at open.)
        // Integer `/` truncates and NULLs sort as the largest value (last ascending, first
        // descending), as in PostgreSQL.
        admin
            .execute_batch(&format!(
                "SET GLOBAL TimeZone = 'UTC'; {}; SET GLOBAL lock_configuration = true;",
                crate::workspaces::dialect::POSTGRES_SETTINGS_SQL
            ))
            .map_err(db_err)?;
        let scope = Arc::new(scope);
        register_storage_table(&admin, scope.clone())?;
        create_pg_catalog(&db, id)?;
        let ws = Arc::new(Self {
            id: id.to_owned(),
            project: at.project.clone(),
            branch: at.branch.clone(),
            size_limit_bytes,
            path,
            db,
            scope,
            admin: Mutex::new(admin),
            views: RwLock::new(Views { epoch: u64::MAX, set: ViewSet::new(), keys: Vec::new() }),
            catalog_epoch,
            definitions: AtomicU64::new(0),
            defined: Mutex::new(Defined::default()),
            closed: AtomicBool::new(false),
            sessions: Mutex::new(HashMap::new()),
            next_session: AtomicU64::new(0),
            ended_below: AtomicU64::new(0),
        });
        // Views left by an earlier run are rebuilt from the catalog.
        {
            let admin = ws.admin.lock();
            admin.execute_batch(&drop_bucket_schemas(&admin)?).map_err(db_err)?;
        }
        Ok(ws)
    }

    pub fn scope(&self) -> &StorageScope {
        &self.scope
    }

    pub fn connect(&self) -> Result<RawConnection> {
        self.ensure_open()?;
        RawConnection::connect(&self.db)
    }

    pub fn ensure_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(StorageError::new(ErrorKind::Gone, "57P01", format!("workspace {} was deleted", self.id)));
        }
        Ok(())
    }

    /// Closes every session (their running statements are interrupted) and refuses new ones.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        for interrupter in self.sessions.lock().values() {
            interrupter.interrupt();
        }
    }

    /// Ends the open sessions (their running statements are interrupted; their next
    /// statement fails with 57P01) while new ones may log in: after a password reset, no
    /// session opened with the old password goes on.
    pub fn end_sessions(&self) {
        let sessions = self.sessions.lock();
        self.ended_below.store(self.next_session.load(Ordering::Acquire), Ordering::Release);
        for interrupter in sessions.values() {
            interrupter.interrupt();
        }
    }

    /// Whether the session `key` was ended by [`Self::end_sessions`].
    pub fn ended(&self, key: u64) -> bool {
        key < self.ended_below.load(Ordering::Acquire)
    }

    /// Registers a session; refused beyond `max` concurrent ones.
    pub fn add_session(&self, interrupter: Arc<StatementInterrupter>, max: u64) -> Result<u64> {
        let mut sessions = self.sessions.lock();
        if sessions.len() as u64 >= max {
            return Err(StorageError::new(
                ErrorKind::Unavailable,
                "53300",
                format!("workspace {} already has {max} sessions, its limit", self.id),
            ));
        }
        let key = self.next_session.fetch_add(1, Ordering::Relaxed);
        sessions.insert(key, interrupter);
        Ok(key)
    }

    pub fn remove_session(&self, key: u64) {
        self.sessions.lock().remove(&key);
    }

    pub fn active_sessions(&self) -> u64 {
        self.sessions.lock().len() as u64
    }

    /// A statement may have changed (or committed) definitions: a macro, a table, a schema.
    pub fn definitions_changed(&self) {
        self.definitions.fetch_add(1, Ordering::AcqRel);
    }

    /// Changes when the workspace's definitions may have changed.
    pub fn definitions_epoch(&self) -> u64 {
        self.definitions.load(Ordering::Acquire)
    }

    /// Brings the bucket views up to date with the catalog, if it changed since the last sync.
    pub fn sync_views(&self) -> Result<()> {
        let epoch = self.catalog_epoch.load(Ordering::Acquire);
        if self.views.read().epoch == epoch {
            return Ok(());
        }
        let mut views = self.views.write();
        if views.epoch == epoch {
            return Ok(());
        }
        let (wanted, keys) = self.wanted_views()?;
        let sql = sync_sql(&views.set, &wanted);
        let admin = self.admin.lock();
        if !sql.is_empty() {
            admin.execute_batch(&format!("BEGIN; {sql} COMMIT;")).map_err(|e| {
                let _ = admin.execute_batch("ROLLBACK");
                db_err(e)
            })?;
        }
        // The catalog emulation shows the tables' keys (a separate database: its own
        // transaction, DuckDB writes one database per transaction).
        if keys != views.keys {
            let rows: Vec<String> = keys
                .iter()
                .map(|(bucket, table, columns)| {
                    let columns: Vec<String> = columns.iter().map(|c| literal(c)).collect();
                    format!("({}, {}, [{}]::VARCHAR[])", literal(bucket), literal(table), columns.join(", "))
                })
                .collect();
            let insert = if rows.is_empty() {
                String::new()
            } else {
                format!("INSERT INTO {PG_CATALOG_DB}.main.__bucket_keys VALUES {};", rows.join(", "))
            };
            admin
                .execute_batch(&format!("BEGIN; DELETE FROM {PG_CATALOG_DB}.main.__bucket_keys; {insert} COMMIT;"))
                .map_err(|e| {
                    let _ = admin.execute_batch("ROLLBACK");
                    db_err(e)
                })?;
        }
        *views = Views { epoch, set: wanted, keys };
        Ok(())
    }

    /// The bucket views the workspace's branch should show, and the tables' primary keys.
    #[allow(clippy::type_complexity)]
    fn wanted_views(&self) -> Result<(ViewSet, Vec<(String, String, Vec<String>)>)> {
        let c = self.scope.hub.conn()?;
        let branch = BranchRef { project: self.project.clone(), branch: self.branch.clone() };
        let mut set = ViewSet::new();
        let mut keys = Vec::new();
        for bucket in bucket_views(&c, &branch)? {
            let at = branch.bucket(bucket.bucket.id.clone());
            let tables = set.entry(bucket.bucket.id.to_string()).or_default();
            for name in table_names(&c, &at, &bucket)? {
                let view = table_view(&c, &at.table(name.clone()))?;
                let signature =
                    view.meta.columns.iter().map(|c| format!("{}:{}", c.def.name, c.def.data_type)).collect::<Vec<_>>();
                tables.insert(name.to_string(), signature.join(","));
                if !view.meta.primary_key.is_empty() {
                    let key = view.meta.primary_key.iter().map(|k| k.to_string()).collect();
                    keys.push((bucket.bucket.id.to_string(), name.to_string(), key));
                }
            }
        }
        Ok((set, keys))
    }

    /// Runs `f` while no view sync can run, for statements that must leave bucket schemas alone.
    pub fn guarding_views<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        let _shared = self.views.read();
        f()
    }

    /// Bytes the workspace's data takes (used blocks plus write-ahead log).
    pub fn size_bytes(&self) -> Result<u64> {
        self.size_on(&self.admin.lock(), false)
    }

    /// The bytes the workspace holds on disk (its file's used blocks and its WAL), plus, when
    /// `pending`, the rows written but not yet committed (held uncompressed in memory, so
    /// the sum errs on the large side).
    fn size_on(&self, conn: &duckdb::Connection, pending: bool) -> Result<u64> {
        let used: i64 = conn
            .query_row(
                "SELECT (total_blocks - free_blocks) * block_size FROM system.main.pragma_database_size() WHERE database_name = ?",
                [&self.id],
                |r| r.get(0),
            )
            .map_err(db_err)?;
        let uncommitted: i64 = if pending {
            let sql = "SELECT coalesce(system.main.sum(memory_usage_bytes), 0)::BIGINT FROM system.main.duckdb_memory() \
                       WHERE tag = 'IN_MEMORY_TABLE'";
            conn.query_row(sql, [], |r| r.get(0)).map_err(db_err)?
        } else {
            0
        };
        let wal = std::fs::metadata(self.path.with_extension("duckdb.wal")).map(|m| m.len()).unwrap_or(0);
        Ok(used.max(0) as u64 + uncommitted.max(0) as u64 + wal)
    }

    /// Refuses writes once the workspace holds more than its limit.
    pub fn ensure_room(&self) -> Result<()> {
        self.refuse_over(self.size_bytes()?)
    }

    /// Refuses to commit what a statement wrote once the workspace would hold more than its
    /// limit, counting what it wrote uncommitted (on `conn`, or the admin connection).
    pub fn ensure_room_for_pending(&self) -> Result<()> {
        self.refuse_over(self.size_on(&self.admin.lock(), true)?)
    }

    fn refuse_over(&self, size: u64) -> Result<()> {
        if size > self.size_limit_bytes {
            return Err(StorageError::new(
                ErrorKind::TooLarge,
                // SQL sessions answer SQLSTATE 53100 for the kind (pg::error).
                "workspace_size_exceeded",
                format!(
                    "workspace {} would hold {size} bytes, over its limit of {} bytes; nothing was written \
                     (drop tables to make room)",
                    self.id, self.size_limit_bytes
                ),
            ));
        }
        Ok(())
    }

    /// The workspace's own tables and views (not the bucket views).
    pub fn objects(&self) -> Result<Vec<WorkspaceObject>> {
        let admin = self.admin.lock();
        let sql = format!(
            "SELECT system.main.concat(CASE WHEN schema_name = 'main' THEN '' ELSE system.main.concat(schema_name, '.') END, table_name), 'table', estimated_size \
               FROM system.main.duckdb_tables() WHERE database_name = $1 AND NOT {BUCKET_SCHEMA_SQL} \
             UNION ALL \
             SELECT system.main.concat(CASE WHEN schema_name = 'main' THEN '' ELSE system.main.concat(schema_name, '.') END, view_name), 'view', NULL \
               FROM system.main.duckdb_views() WHERE database_name = $1 AND NOT internal AND NOT {BUCKET_SCHEMA_SQL} \
             ORDER BY 1"
        );
        let mut stmt = admin.prepare(&sql).map_err(db_err)?;
        let rows = stmt
            .query_map([&self.id], |r| {
                Ok(WorkspaceObject {
                    name: r.get(0)?,
                    kind: r.get(1)?,
                    rows: r.get::<_, Option<i64>>(2)?.map(|n| n as u64),
                })
            })
            .and_then(|rows| rows.collect::<duckdb::Result<Vec<_>>>())
            .map_err(db_err)?;
        Ok(rows)
    }

    /// Drops every object the workspace's users created, in one transaction.
    pub fn clear(&self) -> Result<()> {
        let admin = self.admin.lock();
        let sql = format!(
            "SELECT schema_name FROM system.main.duckdb_schemas() WHERE database_name = $1 AND NOT internal AND schema_name <> 'main' \
               AND NOT {BUCKET_SCHEMA_SQL}"
        );
        let schemas: Vec<String> =
            admin.prepare(&sql).and_then(|mut s| s.query_map([&self.id], |r| r.get(0))?.collect()).map_err(db_err)?;
        let in_main = |sql: &str| -> Result<Vec<String>> {
            admin.prepare(sql).and_then(|mut s| s.query_map([&self.id], |r| r.get(0))?.collect()).map_err(db_err)
        };
        let mut batch = String::from("BEGIN;");
        for v in in_main(
            "SELECT view_name FROM system.main.duckdb_views() WHERE database_name = $1 AND schema_name = 'main' AND NOT internal",
        )? {
            batch.push_str(&format!("DROP VIEW IF EXISTS main.{} CASCADE;", ident(&v)));
        }
        for t in in_main(
            "SELECT table_name FROM system.main.duckdb_tables() WHERE database_name = $1 AND schema_name = 'main'",
        )? {
            batch.push_str(&format!("DROP TABLE IF EXISTS main.{} CASCADE;", ident(&t)));
        }
        for q in in_main(
            "SELECT sequence_name FROM system.main.duckdb_sequences() WHERE database_name = $1 AND schema_name = 'main'",
        )? {
            batch.push_str(&format!("DROP SEQUENCE IF EXISTS main.{} CASCADE;", ident(&q)));
        }
        for s in schemas {
            batch.push_str(&format!("DROP SCHEMA {} CASCADE;", ident(&s)));
        }
        batch.push_str("COMMIT; CHECKPOINT;");
        admin.execute_batch(&batch).map_err(|e| {
            let _ = admin.execute_batch("ROLLBACK");
            db_err(e)
        })
    }

    /// Drops one table or view (`name` or `schema.name`) the workspace's users created.
    pub fn drop_object(&self, name: &str) -> Result<()> {
        let objects = self.objects()?;
        let object = objects.iter().find(|o| o.name == name).ok_or_else(|| {
            StorageError::new(
                ErrorKind::NotFound,
                "object_not_found",
                format!("workspace has no table or view {name:?}"),
            )
        })?;
        let qualified = match name.split_once('.') {
            Some((schema, table)) => format!("{}.{}", ident(schema), ident(table)),
            None => ident(name),
        };
        let kind = if object.kind == "view" { "VIEW" } else { "TABLE" };
        self.admin.lock().execute_batch(&format!("DROP {kind} {qualified}; CHECKPOINT;")).map_err(db_err)
    }

    /// Runs `sql` on the admin connection (view-synced first, so bucket views resolve).
    /// Runs `CREATE TABLE … AS` statements in one transaction: all of them or none. Each
    /// one's row count, as the statement reports it.
    pub fn admin_create_all(&self, statements: &[String]) -> Result<Vec<u64>> {
        self.sync_views()?;
        let mut admin = self.admin.lock();
        let tx = admin.transaction().map_err(db_err)?;
        let rows = statements
            .iter()
            .map(|sql| tx.query_row(sql, [], |r| r.get::<_, i64>(0)).map(|n| n.max(0) as u64).map_err(db_err))
            .collect::<Result<Vec<_>>>()?;
        self.refuse_over(self.size_on(&tx, true)?)?;
        // Dropped uncommitted on error: nothing of the load stays.
        tx.commit().map_err(db_err)?;
        Ok(rows)
    }

    /// Everything in bucket schemas and in the catalog emulation (which unqualified DDL
    /// reaches through the search path: `DROP VIEW pg_class`), as a string that changes
    /// when anything there does — definitions and comments included, as `CREATE OR REPLACE`
    /// and `COMMENT ON` keep names.
    pub fn protected_fingerprint(&self, conn: &mut RawConnection) -> Result<String> {
        let guarded = format!(
            "((database_name = {} AND {BUCKET_SCHEMA_SQL}) OR database_name = '{PG_CATALOG_DB}')",
            literal(&self.id)
        );
        let sql = format!(
            "SELECT coalesce(system.main.string_agg(k, '|' ORDER BY k), '') FROM ( \
               SELECT system.main.concat('s:', database_name, '.', schema_name, ':', comment) AS k FROM system.main.duckdb_schemas() \
                 WHERE {guarded} \
               UNION ALL SELECT system.main.concat('v:', database_name, '.', schema_name, '.', view_name, ':', sql, ':', comment) \
                 FROM system.main.duckdb_views() WHERE {guarded} \
               UNION ALL SELECT system.main.concat('t:', database_name, '.', schema_name, '.', table_name, ':', comment) \
                 FROM system.main.duckdb_tables() WHERE {guarded} \
               UNION ALL SELECT system.main.concat('c:', database_name, '.', schema_name, '.', table_name, '.', column_name, ':', comment) \
                 FROM system.main.duckdb_columns() WHERE comment IS NOT NULL AND {guarded} \
               UNION ALL SELECT system.main.concat('f:', database_name, '.', schema_name, '.', function_name, ':', \
                   system.main.to_json(parameters), ':', macro_definition, ':', comment) FROM system.main.duckdb_functions() \
                 WHERE NOT internal AND {guarded} \
               UNION ALL SELECT system.main.concat('q:', database_name, '.', schema_name, '.', sequence_name, ':', comment) \
                 FROM system.main.duckdb_sequences() WHERE {guarded} \
               UNION ALL SELECT system.main.concat('y:', database_name, '.', schema_name, '.', type_name, ':', logical_type, ':', \
                   system.main.to_json(labels), ':', comment) FROM system.main.duckdb_types() \
                 WHERE NOT internal AND {guarded})"
        );
        let mut result = conn.prepare_sql(&sql)?.execute()?;
        let batch = result.next_batch()?.ok_or_else(|| StorageError::internal("fingerprint query returned nothing"))?;
        let column = batch.column(0);
        Ok(duckdb::arrow::util::display::array_value_to_string(column, 0).unwrap_or_default())
    }

    /// The schemas of the workspace database (its own `main` and the buckets').
    pub fn schemas(&self, conn: &mut RawConnection) -> Result<Vec<String>> {
        let sql = format!(
            "SELECT system.main.string_agg(schema_name, system.main.chr(10)) FROM system.main.duckdb_schemas() WHERE database_name = {}",
            literal(&self.id)
        );
        let mut result = conn.prepare_sql(&sql)?.execute()?;
        let batch = result.next_batch()?.ok_or_else(|| StorageError::internal("schema query returned nothing"))?;
        let names = duckdb::arrow::util::display::array_value_to_string(batch.column(0), 0).unwrap_or_default();
        Ok(names.lines().map(str::to_owned).collect())
    }
}

/// Creates the PostgreSQL catalog emulation once for all sessions of the workspace (creating
/// it per connection took ~0.2 s of every connect); sessions find it through their search
/// path ([`PG_CATALOG_SEARCH_PATH`]).
fn create_pg_catalog(db: &Database, id: &str) -> Result<()> {
    let conn = db.safe_connection()?;
    conn.execute_batch(&format!("ATTACH ':memory:' AS {PG_CATALOG_DB}; USE {PG_CATALOG_DB};")).map_err(db_err)?;
    conn.execute_batch(&CATALOG_SQL.replace("{DBNAME}", id).replace("{USER}", id)).map_err(db_err)?;
    conn.execute_batch(super::dialect::DIVISOR_MACRO_SQL).map_err(db_err)
}

fn drop_bucket_schemas(admin: &duckdb::Connection) -> Result<String> {
    let sql =
        format!("SELECT schema_name FROM system.main.duckdb_schemas() WHERE NOT internal AND {BUCKET_SCHEMA_SQL}");
    let schemas: Vec<String> =
        admin.prepare(&sql).and_then(|mut s| s.query_map([], |r| r.get(0))?.collect()).map_err(db_err)?;
    Ok(schemas.iter().map(|s| format!("DROP SCHEMA IF EXISTS {} CASCADE;", ident(s))).collect())
}

/// The DDL that turns the views `have` into `want`.
fn sync_sql(have: &ViewSet, want: &ViewSet) -> String {
    let mut sql = String::new();
    for (bucket, tables) in have {
        match want.get(bucket) {
            None => sql.push_str(&format!("DROP SCHEMA IF EXISTS {} CASCADE;", ident(bucket))),
            Some(wanted) => {
                for table in tables.keys().filter(|t| !wanted.contains_key(*t)) {
                    sql.push_str(&format!("DROP VIEW IF EXISTS {}.{};", ident(bucket), ident(table)));
                }
            }
        }
    }
    for (bucket, tables) in want {
        let had = have.get(bucket);
        if had.is_none() {
            sql.push_str(&format!("CREATE SCHEMA IF NOT EXISTS {};", ident(bucket)));
        }
        for (table, signature) in tables {
            if had.and_then(|h| h.get(table)) != Some(signature) {
                sql.push_str(&format!(
                    "CREATE OR REPLACE VIEW {}.{} AS SELECT * FROM system.main.storage_table({}, {});",
                    ident(bucket),
                    ident(table),
                    literal(bucket),
                    literal(table)
                ));
            }
        }
    }
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalog_database_is_recognised_only_as_a_whole_name() {
        assert!(names_pg_catalog("USE ds_pg"));
        assert!(names_pg_catalog(r#"CREATE MACRO "DS_PG".main.version() AS 1"#));
        assert!(!names_pg_catalog("CREATE TABLE builds_pg (a INT)"));
        assert!(!names_pg_catalog("CREATE TABLE ds_pgx (a INT)"));
    }

    #[test]
    fn bucket_schema_names_are_reserved() {
        assert!(is_bucket_schema("in.c-sales"));
        assert!(is_bucket_schema("out.c-x"));
        assert!(!is_bucket_schema("in.c-"));
        assert!(is_bucket_schema("IN.c-x"), "DuckDB reads it as in.c-x");
        assert!(!is_bucket_schema("main"));
    }

    #[test]
    fn view_sync_touches_only_what_changed() {
        let mut have = ViewSet::new();
        have.entry("in.c-a".into()).or_default().insert("t".into(), "id:INTEGER".into());
        have.entry("in.c-gone".into()).or_default().insert("t".into(), "id:INTEGER".into());
        let mut want = ViewSet::new();
        want.entry("in.c-a".into()).or_default().insert("t".into(), "id:INTEGER".into());
        want.entry("in.c-a".into()).or_default().insert("u".into(), "x:VARCHAR".into());
        let sql = sync_sql(&have, &want);
        assert!(sql.contains("DROP SCHEMA IF EXISTS \"in.c-gone\" CASCADE;"));
        assert!(sql.contains("CREATE OR REPLACE VIEW \"in.c-a\".\"u\""));
        assert!(!sql.contains("VIEW \"in.c-a\".\"t\""));
    }
}
