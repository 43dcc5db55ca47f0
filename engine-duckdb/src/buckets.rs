//! Branches (lookup only, for now) and buckets.

use duckdb::{Connection, OptionalExt, params};

use duckstore_plugin_sdk::model::{Branch, Bucket, NewBucket};
use duckstore_plugin_sdk::names::{BranchRef, BucketRef, ProjectId};
use duckstore_plugin_sdk::{Resource, Result, StorageError};

use crate::DuckEngine;
use crate::catalog::{naive, parsed, ts};
use crate::error::db_err;

fn map_branch(r: &duckdb::Row<'_>) -> duckdb::Result<Branch> {
    Ok(Branch {
        project_id: parsed(r, 0)?,
        id: parsed(r, 1)?,
        name: r.get(2)?,
        description: r.get(3)?,
        is_default: r.get(4)?,
        created_at: ts(r, 5)?,
    })
}

const BRANCH_COLUMNS: &str = "project_id, id, name, description, is_default, created_at";

/// The branch `at`; `project_not_found` or `branch_not_found` when either is missing.
pub(crate) fn require_branch(c: &Connection, at: &BranchRef) -> Result<Branch> {
    crate::projects::require(c, &at.project)?;
    c.query_row(
        &format!("SELECT {BRANCH_COLUMNS} FROM meta.branches WHERE project_id = ? AND id = ?"),
        [at.project.as_str(), at.branch.as_str()],
        map_branch,
    )
    .optional()
    .map_err(db_err)?
    .ok_or_else(|| StorageError::not_found(Resource::Branch, &at.branch))
}

const BUCKET_SELECT: &str = "SELECT b.id, b.stage, b.name, b.description, b.created_at, \
     (SELECT count(*) FROM meta.tables t WHERE t.project_id = b.project_id AND t.branch_id = b.branch_id \
      AND t.bucket_id = b.id) FROM meta.buckets b";

fn map_bucket(r: &duckdb::Row<'_>) -> duckdb::Result<Bucket> {
    Ok(Bucket {
        id: parsed(r, 0)?,
        stage: parsed(r, 1)?,
        name: parsed(r, 2)?,
        description: r.get(3)?,
        created_at: ts(r, 4)?,
        table_count: r.get(5)?,
    })
}

/// The bucket, after checking its project and branch exist.
pub(crate) fn require_bucket(c: &Connection, bucket: &BucketRef) -> Result<Bucket> {
    require_branch(c, &bucket.branch_ref())?;
    c.query_row(
        &format!("{BUCKET_SELECT} WHERE b.project_id = ? AND b.branch_id = ? AND b.id = ?"),
        [bucket.project.as_str(), bucket.branch.as_str(), &bucket.bucket.to_string()],
        map_bucket,
    )
    .optional()
    .map_err(db_err)?
    .ok_or_else(|| StorageError::not_found(Resource::Bucket, &bucket.bucket))
}

impl DuckEngine {
    pub(crate) fn branch_get(&self, at: &BranchRef) -> Result<Branch> {
        self.read(|c| require_branch(c, at))
    }

    pub(crate) fn branch_list(&self, project: &ProjectId) -> Result<Vec<Branch>> {
        self.read(|c| {
            crate::projects::require(c, project)?;
            c.prepare(&format!(
                "SELECT {BRANCH_COLUMNS} FROM meta.branches WHERE project_id = ? ORDER BY is_default DESC, id"
            ))
            .and_then(|mut s| s.query_map([project.as_str()], map_branch)?.collect())
            .map_err(db_err)
        })
    }

    pub(crate) fn bucket_create(&self, at: &BranchRef, new: &NewBucket) -> Result<Bucket> {
        let bucket = at.bucket(duckstore_plugin_sdk::names::BucketId::new(new.stage, new.name.clone()));
        let now = naive(self.now());
        self.write(|c| {
            require_branch(c, at)?;
            let taken: Option<String> = c
                .query_row(
                    "SELECT id FROM meta.buckets WHERE project_id = ? AND branch_id = ? AND lower(id) = lower(?)",
                    [at.project.as_str(), at.branch.as_str(), &bucket.bucket.to_string()],
                    |r| r.get(0),
                )
                .optional()
                .map_err(db_err)?;
            if let Some(existing) = taken {
                return Err(StorageError::already_exists(Resource::Bucket, existing));
            }
            c.execute(
                "INSERT INTO meta.buckets VALUES (?, ?, ?, ?, ?, ?, ?)",
                params![
                    at.project.as_str(),
                    at.branch.as_str(),
                    bucket.bucket.to_string(),
                    new.stage.as_str(),
                    new.name.as_str(),
                    new.description,
                    now
                ],
            )
            .map_err(db_err)?;
            Ok(())
        })?;
        self.bucket_get(&bucket)
    }

    pub(crate) fn bucket_list(&self, at: &BranchRef) -> Result<Vec<Bucket>> {
        self.read(|c| {
            require_branch(c, at)?;
            c.prepare(&format!("{BUCKET_SELECT} WHERE b.project_id = ? AND b.branch_id = ? ORDER BY b.id"))
                .and_then(|mut s| s.query_map([at.project.as_str(), at.branch.as_str()], map_bucket)?.collect())
                .map_err(db_err)
        })
    }

    pub(crate) fn bucket_get(&self, bucket: &BucketRef) -> Result<Bucket> {
        self.read(|c| require_bucket(c, bucket))
    }

    pub(crate) fn bucket_delete(&self, bucket: &BucketRef, cascade: bool) -> Result<()> {
        let tables = self.write(|c| {
            let found = require_bucket(c, bucket)?;
            if found.table_count > 0 && !cascade {
                return Err(StorageError::conflict(
                    "bucket_not_empty",
                    format!(
                        "bucket {} still has {} table(s); delete them or pass cascade=true",
                        bucket.bucket, found.table_count
                    ),
                ));
            }
            let tables = crate::tables::names_in(c, bucket)?;
            for t in &tables {
                crate::tables::uncatalog(c, &bucket.table(t.clone()))?;
            }
            c.execute(
                "DELETE FROM meta.buckets WHERE project_id = ? AND branch_id = ? AND id = ?",
                [bucket.project.as_str(), bucket.branch.as_str(), &bucket.bucket.to_string()],
            )
            .map_err(db_err)?;
            Ok(tables)
        })?;
        for t in tables {
            self.files.remove(&self.hub, &self.layout.table_file(bucket, &t))?;
        }
        match std::fs::remove_dir(self.layout.bucket_dir(bucket)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }
}
