//! What an interrupted operation leaves on disk, found and removed at start-up.
//!
//! Every operation writes its files first and commits its catalog row last, and deletes its
//! catalog row first and its files last (see [`crate::commit`] for table changes). So after
//! a crash the catalog is always right, and anything on disk it does not name is garbage:
//! a table file built but never registered or one whose table was dropped, a snapshot's
//! half-written Parquet, an export or a load under its temporary name, a file moved into
//! place by a registration that never committed, a dropped workspace's database. This
//! sweep runs once, before any of those could be opened, and makes disk and catalog agree.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use duckdb::Connection;

use duckstore_plugin_sdk::Result;
use duckstore_plugin_sdk::names::{BranchId, BucketId, ProjectId, TableName};

use crate::error::db_err;
use crate::layout::{EXPORTING_SUFFIX, LOADING_SUFFIX, Layout, find_with_suffix, remove_db_file};

/// Removes everything on disk the catalog does not name; returns how many entries went.
pub(crate) fn sweep(c: &Connection, layout: &Layout) -> Result<u64> {
    let mut removed = 0;
    let root = layout.root();
    for partial in [
        find_with_suffix(&root.join("projects"), LOADING_SUFFIX),
        find_with_suffix(&root.join("staging"), EXPORTING_SUFFIX),
    ]
    .iter()
    .flatten()
    {
        tracing::info!(path = %partial.display(), "removing a partial file of an interrupted operation");
        remove_db_file(partial)?;
        removed += 1;
    }
    for spill in read_dir(&layout.temp()) {
        if spill.file_name().is_some_and(|n| n.to_string_lossy().starts_with("import-")) {
            std::fs::remove_file(&spill)?;
            removed += 1;
        }
    }
    // A catalog row that does not parse stops the sweep: its file must not look unowned.
    let tables: HashSet<PathBuf> = strings(c, "SELECT project_id, branch_id, bucket_id, name FROM meta.tables", 4)?
        .into_iter()
        .map(|row| {
            let bucket = duckstore_plugin_sdk::names::BucketRef {
                project: row[0].parse::<ProjectId>()?,
                branch: row[1].parse::<BranchId>()?,
                bucket: row[2].parse::<BucketId>()?,
            };
            Ok(layout.table_file(&bucket, &row[3].parse::<TableName>()?))
        })
        .collect::<Result<_>>()?;
    for file in find_with_suffix(&root.join("projects"), ".duckdb") {
        if !tables.contains(&file) {
            tracing::info!(path = %file.display(), "removing a table file no table owns");
            remove_db_file(&file)?;
            removed += 1;
        }
    }
    for wal in find_with_suffix(&root.join("projects"), ".duckdb.wal") {
        if !wal.with_extension("").exists() {
            std::fs::remove_file(&wal)?;
            removed += 1;
        }
    }
    removed += sweep_entries(c, &root.join("snapshots"), "SELECT project_id, id FROM meta.snapshots", |dir, row| {
        dir.join(&row[0]).join(&row[1])
    })?;
    removed += sweep_entries(c, &root.join("files"), "SELECT project_id, id FROM meta.files", |dir, row| {
        dir.join(&row[0]).join(&row[1])
    })?;
    removed +=
        sweep_entries(c, &root.join("staging"), "SELECT project_id, upload_key FROM meta.uploads", |dir, row| {
            dir.join(&row[0]).join(&row[1])
        })?;
    removed += sweep_entries(c, &root.join("workspaces"), "SELECT project_id, id FROM meta.workspaces", |dir, row| {
        dir.join(&row[0]).join(format!("{}.duckdb", row[1]))
    })?;
    Ok(removed)
}

/// Removes the entries two levels under `dir` (`<dir>/<project>/<entry>`) that `known`
/// does not name (a workspace's WAL goes with its database), then empty project folders.
fn sweep_entries(
    c: &Connection,
    dir: &Path,
    known: &str,
    path_of: impl Fn(&Path, &[String]) -> PathBuf,
) -> Result<u64> {
    let keep: HashSet<PathBuf> = strings(c, known, 2)?.iter().map(|row| path_of(dir, row)).collect();
    let mut removed = 0;
    for project in read_dir(dir) {
        for entry in read_dir(&project) {
            let owner =
                entry.to_string_lossy().strip_suffix(".wal").map(PathBuf::from).unwrap_or_else(|| entry.clone());
            if keep.contains(&owner) {
                continue;
            }
            tracing::info!(path = %entry.display(), "removing what an interrupted operation left behind");
            let gone = if entry.is_dir() { std::fs::remove_dir_all(&entry) } else { std::fs::remove_file(&entry) };
            gone?;
            removed += 1;
        }
        if read_dir(&project).is_empty() {
            let _ = std::fs::remove_dir(&project);
        }
    }
    Ok(removed)
}

fn read_dir(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir).into_iter().flatten().flatten().map(|e| e.path()).collect()
}

/// The rows of a query of `columns` text columns.
fn strings(c: &Connection, sql: &str, columns: usize) -> Result<Vec<Vec<String>>> {
    c.prepare(sql)
        .and_then(|mut s| s.query_map([], |r| (0..columns).map(|i| r.get::<_, String>(i)).collect())?.collect())
        .map_err(db_err)
}
