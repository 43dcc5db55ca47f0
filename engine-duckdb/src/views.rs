//! How buckets and tables look from a branch: the one place that resolves branches and links.
//!
//! - A dev branch sees main's buckets and tables live until it writes to them: a table's
//!   *home* (the branch whose file holds its rows) is main until the branch's first write
//!   copies it (copy-on-write, in `tables`), and the branch's own from then on.
//! - Buckets and tables created on a branch exist only there; deleting a main table or
//!   bucket on a branch leaves a tombstone that hides main's version from the branch.
//! - A linked bucket shows the shared bucket of another project (its main branch), read-only.
//!
//! Everything that reads or writes a table asks here first; nothing else builds a table's
//! home from a path.

use std::collections::HashMap;

use duckdb::{Connection, OptionalExt};

use duckstore_plugin_sdk::model::{Bucket, BucketLink, TableSource};
use duckstore_plugin_sdk::names::{BranchId, BranchRef, BucketId, BucketRef, TableName, TableRef};
use duckstore_plugin_sdk::{Resource, Result, StorageError};

use crate::buckets::require_branch;
use crate::catalog::{parsed, ts};
use crate::error::db_err;
use crate::tables::{TableMeta, load_row, load_rows};

/// A bucket as a branch sees it.
pub(crate) struct BucketView {
    pub bucket: Bucket,
    /// Where the bucket's catalog row lives: this branch, or main for a bucket seen through.
    pub home: BucketRef,
    /// For a linked bucket: the shared bucket (on its project's main branch).
    pub link: Option<BucketRef>,
}

/// A table as a branch sees it.
#[derive(Clone)]
pub(crate) struct TableView {
    pub meta: TableMeta,
    /// The table whose file holds the rows: on this branch, on main, or in a linked project.
    pub home: TableRef,
    pub source: TableSource,
}

fn main_of(r: &BucketRef) -> BucketRef {
    BucketRef { branch: BranchId::main(), ..r.clone() }
}

const BUCKET_COLUMNS: &str =
    "id, stage, name, description, created_at, source_project_id, source_bucket_id, project_id, branch_id";

struct BucketRow {
    bucket: Bucket,
    home: BucketRef,
    link: Option<BucketRef>,
}

fn map_bucket(r: &duckdb::Row<'_>) -> duckdb::Result<BucketRow> {
    let id: BucketId = parsed(r, 0)?;
    let link = match (r.get::<_, Option<String>>(5)?, r.get::<_, Option<String>>(6)?) {
        (Some(p), Some(b)) => {
            let bad =
                |e: StorageError| duckdb::Error::FromSqlConversionFailure(5, duckdb::types::Type::Text, Box::new(e));
            Some(BucketRef {
                project: p.parse().map_err(bad)?,
                branch: BranchId::main(),
                bucket: b.parse().map_err(bad)?,
            })
        }
        _ => None,
    };
    let home = BucketRef { project: parsed(r, 7)?, branch: parsed(r, 8)?, bucket: id.clone() };
    Ok(BucketRow {
        bucket: Bucket {
            stage: parsed(r, 1)?,
            name: parsed(r, 2)?,
            description: r.get(3)?,
            created_at: ts(r, 4)?,
            linked_from: link
                .as_ref()
                .map(|l| BucketLink { project_id: l.project.clone(), bucket_id: l.bucket.clone() }),
            shared_with: Vec::new(),
            table_count: 0,
            id,
        },
        home,
        link,
    })
}

fn bucket_row(c: &Connection, at: &BucketRef) -> Result<Option<BucketRow>> {
    c.query_row(
        &format!("SELECT {BUCKET_COLUMNS} FROM meta.buckets WHERE project_id = ? AND branch_id = ? AND id = ?"),
        [at.project.as_str(), at.branch.as_str(), &at.bucket.to_string()],
        map_bucket,
    )
    .optional()
    .map_err(db_err)
}

/// Whether a branch hid main's bucket (`table: None`) or table.
fn tombstoned(c: &Connection, at: &BucketRef, table: Option<&TableName>) -> Result<bool> {
    let key = [at.project.as_str(), at.branch.as_str(), &at.bucket.to_string()];
    let found = match table {
        None => c.query_row(
            "SELECT count(*) > 0 FROM meta.tombstones \
             WHERE project_id = ? AND branch_id = ? AND bucket_id = ? AND table_name IS NULL",
            key,
            |r| r.get(0),
        ),
        Some(t) => c.query_row(
            "SELECT count(*) > 0 FROM meta.tombstones \
             WHERE project_id = ? AND branch_id = ? AND bucket_id = ? AND table_name = ?",
            [key[0], key[1], key[2], t.as_str()],
            |r| r.get(0),
        ),
    };
    found.map_err(db_err)
}

fn shared_with(c: &Connection, home: &BucketRef) -> Result<Vec<String>> {
    c.prepare("SELECT target_project_id FROM meta.shares WHERE project_id = ? AND bucket_id = ? ORDER BY 1")
        .and_then(|mut s| s.query_map([home.project.as_str(), &home.bucket.to_string()], |r| r.get(0))?.collect())
        .map_err(db_err)
}

fn finish(c: &Connection, row: BucketRow) -> Result<BucketView> {
    let mut view = BucketView { bucket: row.bucket, home: row.home, link: row.link };
    if view.link.is_none() && view.home.branch.is_main() {
        view.bucket.shared_with = shared_with(c, &view.home)?;
    }
    Ok(view)
}

/// The bucket as `at`'s branch sees it, without its table count.
fn resolve_bucket(c: &Connection, at: &BucketRef) -> Result<Option<BucketView>> {
    if let Some(own) = bucket_row(c, at)? {
        return finish(c, own).map(Some);
    }
    if at.branch.is_main() || tombstoned(c, at, None)? {
        return Ok(None);
    }
    bucket_row(c, &main_of(at))?.map(|row| finish(c, row)).transpose()
}

/// The bucket `at`, as its branch sees it; `*_not_found` for a missing project, branch or bucket.
pub(crate) fn bucket_view(c: &Connection, at: &BucketRef) -> Result<BucketView> {
    require_branch(c, &at.branch_ref())?;
    let mut view = resolve_bucket(c, at)?.ok_or_else(|| StorageError::not_found(Resource::Bucket, &at.bucket))?;
    view.bucket.table_count = table_names(c, at, &view)?.len() as u64;
    Ok(view)
}

/// Every bucket a branch sees, ordered by id.
pub(crate) fn bucket_views(c: &Connection, branch: &BranchRef) -> Result<Vec<BucketView>> {
    require_branch(c, branch)?;
    let mut ids: Vec<BucketId> = Vec::new();
    for b in [branch.branch.clone(), BranchId::main()] {
        let found: Vec<String> = c
            .prepare("SELECT id FROM meta.buckets WHERE project_id = ? AND branch_id = ?")
            .and_then(|mut s| s.query_map([branch.project.as_str(), b.as_str()], |r| r.get(0))?.collect())
            .map_err(db_err)?;
        for id in found {
            let id: BucketId = id.parse()?;
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    ids.sort_by_key(|id| id.to_string());
    let mut views = Vec::new();
    for id in ids {
        let at = branch.bucket(id);
        if let Some(mut view) = resolve_bucket(c, &at)? {
            view.bucket.table_count = table_names(c, &at, &view)?.len() as u64;
            views.push(view);
        }
    }
    Ok(views)
}

/// Names of the tables a branch sees in a bucket, sorted.
pub(crate) fn table_names(c: &Connection, at: &BucketRef, view: &BucketView) -> Result<Vec<TableName>> {
    let rows_of = |b: &BucketRef| -> Result<Vec<TableName>> {
        c.prepare("SELECT name FROM meta.tables WHERE project_id = ? AND branch_id = ? AND bucket_id = ?")
            .and_then(|mut s| {
                s.query_map([b.project.as_str(), b.branch.as_str(), &b.bucket.to_string()], |r| parsed(r, 0))?.collect()
            })
            .map_err(db_err)
    };
    let mut names = match &view.link {
        Some(source) => rows_of(source)?,
        None => {
            let mut names = rows_of(at)?;
            if !at.branch.is_main() {
                for name in rows_of(&main_of(at))? {
                    if !names.contains(&name) && !tombstoned(c, at, Some(&name))? {
                        names.push(name);
                    }
                }
            }
            names
        }
    };
    names.sort();
    Ok(names)
}

/// The table `t` as its branch sees it.
pub(crate) fn table_view(c: &Connection, t: &TableRef) -> Result<TableView> {
    let bucket = bucket_view(c, &t.bucket_ref())?;
    resolve_table(t, &bucket, &mut |r| load_row(c, r), &mut || tombstoned(c, &t.bucket_ref(), Some(&t.table)))
}

/// Every table a branch sees in a bucket, sorted by name, from a few catalog queries
/// whatever the number of tables (each table's rows are read per bucket, not per table).
pub(crate) fn table_views(c: &Connection, at: &BucketRef) -> Result<Vec<(TableRef, TableView)>> {
    let bucket = bucket_view(c, at)?;
    let names = table_names(c, at, &bucket)?;
    // The catalog rows the resolution may ask for: the linked bucket's, or this branch's
    // and main's.
    let mut rows: HashMap<TableRef, TableMeta> = HashMap::new();
    let homes = match &bucket.link {
        Some(source) => vec![source.clone()],
        None if at.branch.is_main() => vec![at.clone()],
        None => vec![at.clone(), main_of(at)],
    };
    for home in homes {
        rows.extend(load_rows(c, &home)?.into_iter().map(|(name, meta)| (home.table(name), meta)));
    }
    names
        .into_iter()
        .map(|name| {
            let t = at.table(name);
            // `table_names` lists only what the branch sees: no listed name is tombstoned.
            let view = resolve_table(&t, &bucket, &mut |r| Ok(rows.remove(r)), &mut || Ok(false))?;
            Ok((t, view))
        })
        .collect()
}

/// Where `t` lives as its branch sees it, given how to read a catalog row and whether the
/// branch dropped main's table.
fn resolve_table(
    t: &TableRef,
    bucket: &BucketView,
    row: &mut dyn FnMut(&TableRef) -> Result<Option<TableMeta>>,
    tombstoned: &mut dyn FnMut() -> Result<bool>,
) -> Result<TableView> {
    let missing = || StorageError::not_found(Resource::Table, t.table_id());
    if let Some(source) = &bucket.link {
        let home = source.table(t.table.clone());
        let meta = row(&home)?.ok_or_else(missing)?;
        return Ok(TableView { meta, home, source: TableSource::Main });
    }
    let main = TableRef { branch: BranchId::main(), ..t.clone() };
    if let Some(meta) = row(t)? {
        let source = if t.branch.is_main() {
            TableSource::Main
        } else if row(&main)?.is_some() {
            TableSource::Branch
        } else {
            TableSource::BranchOnly
        };
        return Ok(TableView { meta, home: t.clone(), source });
    }
    if t.branch.is_main() || tombstoned()? {
        return Err(missing());
    }
    let meta = row(&main)?.ok_or_else(missing)?;
    Ok(TableView { meta, home: main, source: TableSource::Main })
}

/// Refuses writes to a linked (read-only) bucket.
pub(crate) fn writable(view: &BucketView) -> Result<()> {
    match &view.bucket.linked_from {
        Some(link) => Err(StorageError::forbidden(
            "bucket_read_only",
            format!(
                "bucket {} is linked from project {} ({}); linked buckets are read-only",
                view.bucket.id, link.project_id, link.bucket_id
            ),
        )),
        None => Ok(()),
    }
}
