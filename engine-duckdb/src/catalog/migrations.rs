//! Versioned schema of the catalog (`metadata.duckdb`).
//!
//! Each migration runs once, in order, inside a transaction that also records its version.
//! A catalog written by a newer duckstore is refused rather than guessed at. Tables carry
//! no PRIMARY KEY / UNIQUE constraints: DuckDB's ART indexes are its most frequent source of
//! WAL-replay bugs, and uniqueness is enforced under the catalog write lock instead.

use duckdb::Connection;

use duckstore_plugin_sdk::{ErrorKind, Result, StorageError};

use crate::error::db_err;

/// `(version, SQL)`; table names are qualified with the catalog's alias, `meta`. Lists
/// (tags, primary keys) are stored as JSON text: the duckdb crate cannot bind list values.
const MIGRATIONS: &[(i32, &str)] = &[
    (
        1,
        "
    CREATE TABLE meta.system (key VARCHAR NOT NULL, value VARCHAR NOT NULL);
    CREATE TABLE meta.projects (
        id VARCHAR NOT NULL, name VARCHAR NOT NULL,
        created_at TIMESTAMP NOT NULL, updated_at TIMESTAMP NOT NULL);
    CREATE TABLE meta.branches (
        project_id VARCHAR NOT NULL, id VARCHAR NOT NULL, name VARCHAR NOT NULL,
        description VARCHAR, is_default BOOLEAN NOT NULL, created_at TIMESTAMP NOT NULL);
    CREATE TABLE meta.buckets (
        project_id VARCHAR NOT NULL, branch_id VARCHAR NOT NULL, id VARCHAR NOT NULL,
        stage VARCHAR NOT NULL, name VARCHAR NOT NULL, description VARCHAR,
        created_at TIMESTAMP NOT NULL);
    CREATE TABLE meta.tables (
        uid VARCHAR NOT NULL, project_id VARCHAR NOT NULL, branch_id VARCHAR NOT NULL,
        bucket_id VARCHAR NOT NULL, name VARCHAR NOT NULL, primary_key VARCHAR NOT NULL,
        created_at TIMESTAMP NOT NULL, updated_at TIMESTAMP NOT NULL);
    CREATE TABLE meta.columns (
        table_uid VARCHAR NOT NULL, position INTEGER NOT NULL, name VARCHAR NOT NULL,
        type VARCHAR NOT NULL, nullable BOOLEAN NOT NULL, default_value VARCHAR);
    CREATE TABLE meta.api_keys (
        id VARCHAR NOT NULL, project_id VARCHAR NOT NULL, branch_id VARCHAR, scope VARCHAR NOT NULL,
        description VARCHAR NOT NULL, key_prefix VARCHAR NOT NULL, secret_sha256 VARCHAR NOT NULL,
        created_at TIMESTAMP NOT NULL, last_used_at TIMESTAMP, expires_at TIMESTAMP,
        revoked_at TIMESTAMP);
    ",
    ),
    (
        2,
        "
    CREATE TABLE meta.files (
        id VARCHAR NOT NULL, project_id VARCHAR NOT NULL, name VARCHAR NOT NULL,
        size_bytes UBIGINT NOT NULL, content_type VARCHAR, sha256 VARCHAR NOT NULL,
        tags VARCHAR NOT NULL, created_at TIMESTAMP NOT NULL);
    CREATE TABLE meta.uploads (
        upload_key VARCHAR NOT NULL, project_id VARCHAR NOT NULL, name VARCHAR NOT NULL,
        content_type VARCHAR, tags VARCHAR NOT NULL, size_bytes UBIGINT, sha256 VARCHAR,
        created_at TIMESTAMP NOT NULL, expires_at TIMESTAMP NOT NULL);
    CREATE TABLE meta.jobs (
        id VARCHAR NOT NULL, project_id VARCHAR NOT NULL, branch_id VARCHAR, kind VARCHAR NOT NULL,
        status VARCHAR NOT NULL, table_id VARCHAR, rows UBIGINT NOT NULL, bytes UBIGINT NOT NULL,
        result VARCHAR, error_code VARCHAR, error_message VARCHAR, created_by VARCHAR NOT NULL,
        created_at TIMESTAMP NOT NULL, started_at TIMESTAMP, finished_at TIMESTAMP);
    ",
    ),
    (
        3,
        "
    ALTER TABLE meta.branches ADD COLUMN created_by VARCHAR;
    ALTER TABLE meta.buckets ADD COLUMN source_project_id VARCHAR;
    ALTER TABLE meta.buckets ADD COLUMN source_bucket_id VARCHAR;
    CREATE TABLE meta.tombstones (
        project_id VARCHAR NOT NULL, branch_id VARCHAR NOT NULL, bucket_id VARCHAR NOT NULL,
        table_name VARCHAR);
    CREATE TABLE meta.shares (
        project_id VARCHAR NOT NULL, bucket_id VARCHAR NOT NULL, target_project_id VARCHAR NOT NULL,
        created_at TIMESTAMP NOT NULL);
    CREATE TABLE meta.snapshots (
        id VARCHAR NOT NULL, project_id VARCHAR NOT NULL, branch_id VARCHAR NOT NULL,
        bucket_id VARCHAR NOT NULL, table_name VARCHAR NOT NULL, kind VARCHAR NOT NULL,
        trigger VARCHAR, description VARCHAR, row_count UBIGINT NOT NULL, size_bytes UBIGINT NOT NULL,
        created_by VARCHAR NOT NULL, created_at TIMESTAMP NOT NULL, expires_at TIMESTAMP NOT NULL);
    CREATE TABLE meta.settings (
        project_id VARCHAR NOT NULL, bucket_id VARCHAR NOT NULL, table_name VARCHAR NOT NULL,
        snapshots VARCHAR NOT NULL);
    CREATE TABLE meta.audit_log (
        occurred_at TIMESTAMP NOT NULL, request_id VARCHAR, principal VARCHAR NOT NULL, project_id VARCHAR,
        operation VARCHAR NOT NULL, resource VARCHAR NOT NULL, status USMALLINT NOT NULL,
        duration_ms UBIGINT NOT NULL);
    ",
    ),
    (
        4,
        "
    CREATE TABLE meta.workspaces (
        id VARCHAR NOT NULL, project_id VARCHAR NOT NULL, branch_id VARCHAR NOT NULL, name VARCHAR NOT NULL,
        verifier VARCHAR NOT NULL, size_limit_bytes UBIGINT NOT NULL,
        created_at TIMESTAMP NOT NULL, expires_at TIMESTAMP NOT NULL);
    ",
    ),
    (
        5,
        "
    CREATE TABLE meta.swaps (
        id VARCHAR NOT NULL, table_uid VARCHAR NOT NULL, next_file VARCHAR NOT NULL, settle VARCHAR NOT NULL,
        created_at TIMESTAMP NOT NULL);
    ",
    ),
    (
        6,
        // A table's row count, kept by the commit that changes its rows, so that reading a
        // table never opens its file. NULL: not known yet (tables from before this column),
        // counted from the file until the next change.
        "
    ALTER TABLE meta.tables ADD COLUMN row_count UBIGINT;
    ",
    ),
    (
        7,
        // The latest profile of each table (engine-duckdb/src/profiles.rs), by table uid.
        "
    CREATE TABLE meta.table_profiles (
        table_uid VARCHAR NOT NULL, project_id VARCHAR NOT NULL, table_updated_at TIMESTAMP NOT NULL,
        created_at TIMESTAMP NOT NULL, profile VARCHAR NOT NULL);
    ",
    ),
];

/// The newest catalog version this build understands.
pub fn latest() -> i32 {
    MIGRATIONS.last().map_or(0, |m| m.0)
}

/// Brings the catalog attached as `meta` up to [`latest`].
pub fn migrate(conn: &mut Connection) -> Result<()> {
    conn.execute_batch("CREATE TABLE IF NOT EXISTS meta.schema_version (version INTEGER NOT NULL)").map_err(db_err)?;
    let current: i32 = conn
        .query_row("SELECT coalesce(max(version), 0) FROM meta.schema_version", [], |r| r.get(0))
        .map_err(db_err)?;
    if current > latest() {
        return Err(StorageError::new(
            ErrorKind::Internal,
            "catalog_too_new",
            format!(
                "the catalog (metadata.duckdb) has schema version {current}, but this duckstore understands \
                 versions up to {}: it was written by a newer duckstore. Run that version, or restore a backup.",
                latest()
            ),
        ));
    }
    for (version, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
        let tx = conn.transaction().map_err(db_err)?;
        tx.execute_batch(sql).map_err(db_err)?;
        tx.execute("INSERT INTO meta.schema_version VALUES (?)", [version]).map_err(db_err)?;
        tx.commit().map_err(db_err)?;
        tracing::info!(version, "catalog migrated");
    }
    conn.execute_batch("CHECKPOINT meta").map_err(db_err)?;
    Ok(())
}
