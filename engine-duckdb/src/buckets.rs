//! Buckets, and sharing them between projects.
//!
//! A share lets another project (or every project, `*`) link the bucket; a link is a
//! bucket row in the linking project that points at the shared bucket and is read-only.
//! Unsharing is refused while a project that would lose access still links the bucket
//! (docs/adr/0005-branches-and-sharing.md).

use duckdb::{Connection, params};

use duckstore_plugin_sdk::model::{Bucket, BucketLink, NewBucket};
use duckstore_plugin_sdk::names::{BranchRef, BucketId, BucketRef, ProjectId};
use duckstore_plugin_sdk::policy::DestructiveOp;
use duckstore_plugin_sdk::{Resource, Result, StorageError};

use crate::DuckEngine;
use crate::catalog::naive;
use crate::error::db_err;
use crate::tables::uncatalog;
use crate::views::{BucketView, bucket_view, bucket_views, table_names, table_view, writable};

pub(crate) use crate::branches::require_branch;

fn main_only(at: &BucketRef, what: &str) -> Result<()> {
    if at.branch.is_main() {
        Ok(())
    } else {
        Err(StorageError::invalid("main_branch_only", format!("{what} works on the main branch (default) only")))
    }
}

/// Projects linking `bucket` (a main-branch bucket of its project), except those in `keep`.
fn linkers(c: &Connection, bucket: &BucketRef) -> Result<Vec<String>> {
    c.prepare(
        "SELECT project_id || ' (' || id || ')' FROM meta.buckets WHERE source_project_id = ? AND source_bucket_id = ? \
         ORDER BY 1",
    )
    .and_then(|mut s| s.query_map([bucket.project.as_str(), &bucket.bucket.to_string()], |r| r.get(0))?.collect())
    .map_err(db_err)
}

impl DuckEngine {
    pub(crate) fn bucket_create(&self, at: &BranchRef, new: &NewBucket) -> Result<Bucket> {
        let bucket = at.bucket(BucketId::new(new.stage, new.name.clone()));
        let now = naive(self.now());
        self.write(|c| {
            require_branch(c, at)?;
            if let Some(existing) = bucket_views(c, at)?
                .into_iter()
                .find(|v| v.bucket.id.to_string().eq_ignore_ascii_case(&bucket.bucket.to_string()))
            {
                return Err(StorageError::already_exists(Resource::Bucket, existing.bucket.id));
            }
            c.execute(
                "INSERT INTO meta.buckets (project_id, branch_id, id, stage, name, description, created_at) \
                 VALUES (?, ?, ?, ?, ?, ?, ?)",
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
        self.read(|c| Ok(bucket_views(c, at)?.into_iter().map(|v| v.bucket).collect()))
    }

    pub(crate) fn bucket_get(&self, bucket: &BucketRef) -> Result<Bucket> {
        self.read(|c| Ok(bucket_view(c, bucket)?.bucket))
    }

    /// Deletes a bucket as its branch sees it: its own rows and files go, and a bucket of
    /// main is hidden from the branch by a tombstone. A linked bucket is unlinked.
    pub(crate) fn bucket_delete(&self, at: &BucketRef, cascade: bool, actor: &str) -> Result<()> {
        let view = self.read(|c| bucket_view(c, at))?;
        if view.link.is_some() {
            return self.bucket_unlink(at);
        }
        if view.bucket.table_count > 0 && !cascade {
            return Err(StorageError::conflict(
                "bucket_not_empty",
                format!(
                    "bucket {} still has {} table(s); delete them or pass cascade=true",
                    at.bucket, view.bucket.table_count
                ),
            ));
        }
        // One catalog transaction removes the bucket with every table in it: a crash or a
        // refusal leaves all of it or none. Its own tables are held (writers in name order,
        // so two deletes cannot deadlock) and snapshotted as the policy asks, first.
        let mut own = Vec::new();
        let listed = self.read(|c| table_names(c, at, &view))?;
        for name in listed.iter().cloned() {
            let t = at.table(name);
            let table = self.read(|c| table_view(c, &t))?;
            if table.home == t {
                let file = self.file_of(&t)?;
                own.push((t, table, file));
            }
        }
        own.sort_by(|a, b| a.0.table.as_str().cmp(b.0.table.as_str()));
        let refuse_if_linked = |c: &Connection| {
            let linked = if at.branch.is_main() { linkers(c, at)? } else { Vec::new() };
            if linked.is_empty() {
                return Ok(());
            }
            Err(StorageError::conflict(
                "bucket_linked",
                format!("bucket {} is linked by {}; those links must go first", at.bucket, linked.join(", ")),
            ))
        };
        self.read(refuse_if_linked)?;
        let writers = own.iter().map(|(_, _, file)| self.wait_for_writer(file)).collect::<Result<Vec<_>>>()?;
        for (_, table, file) in &own {
            self.auto_snapshot(table, file, DestructiveOp::DropTable, None, actor)?;
        }
        self.write(|c| {
            refuse_if_linked(c)?;
            // A table created (or copied onto the branch) since the listing would be orphaned.
            let now = bucket_view(c, at).and_then(|v| table_names(c, at, &v))?;
            if now.iter().any(|n| !listed.contains(n)) {
                return Err(StorageError::conflict(
                    "bucket_changed",
                    format!("a table was added to bucket {} while it was being deleted; try again", at.bucket),
                ));
            }
            for (t, _, _) in &own {
                uncatalog(c, t)?;
            }
            if at.branch.is_main() {
                c.execute(
                    "DELETE FROM meta.shares WHERE project_id = ? AND bucket_id = ?",
                    [at.project.as_str(), &at.bucket.to_string()],
                )
                .map_err(db_err)?;
            }
            c.execute(
                "DELETE FROM meta.buckets WHERE project_id = ? AND branch_id = ? AND id = ?",
                [at.project.as_str(), at.branch.as_str(), &at.bucket.to_string()],
            )
            .map_err(db_err)?;
            if !at.branch.is_main() {
                c.execute(
                    "DELETE FROM meta.tombstones WHERE project_id = ? AND branch_id = ? AND bucket_id = ?",
                    [at.project.as_str(), at.branch.as_str(), &at.bucket.to_string()],
                )
                .map_err(db_err)?;
                c.execute(
                    "INSERT INTO meta.tombstones VALUES (?, ?, ?, NULL)",
                    [at.project.as_str(), at.branch.as_str(), &at.bucket.to_string()],
                )
                .map_err(db_err)?;
            }
            Ok(())
        })?;
        for (t, _, _) in &own {
            self.files.remove(&self.hub, &self.layout.table_file(&t.bucket_ref(), &t.table))?;
        }
        drop(writers);
        match std::fs::remove_dir(self.layout.bucket_dir(at)) {
            Err(e) if !matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::DirectoryNotEmpty) => {
                Err(e.into())
            }
            _ => Ok(()),
        }
    }

    pub(crate) fn bucket_share(&self, at: &BucketRef, target: &str) -> Result<Bucket> {
        main_only(at, "sharing")?;
        let now = naive(self.now());
        self.write(|c| {
            let view = bucket_view(c, at)?;
            writable(&view).map_err(|_| {
                StorageError::invalid("cannot_share_link", "a linked bucket cannot be shared on; share the original")
            })?;
            if target != "*" {
                let target = ProjectId::new(target)?;
                crate::projects::require(c, &target)?;
                if target == at.project {
                    return Err(StorageError::invalid("invalid_share", "a project cannot share a bucket with itself"));
                }
            }
            if !view.bucket.shared_with.iter().any(|t| t == target) {
                c.execute(
                    "INSERT INTO meta.shares VALUES (?, ?, ?, ?)",
                    params![at.project.as_str(), at.bucket.to_string(), target, now],
                )
                .map_err(db_err)?;
            }
            Ok(())
        })?;
        self.bucket_get(at)
    }

    /// Removes one share (or all with `None`); refused while a project losing access links the bucket.
    pub(crate) fn bucket_unshare(&self, at: &BucketRef, target: Option<&str>) -> Result<Bucket> {
        main_only(at, "sharing")?;
        self.write(|c| {
            let view = bucket_view(c, at)?;
            let removed: Vec<&String> =
                view.bucket.shared_with.iter().filter(|t| target.is_none_or(|x| x == *t)).collect();
            if removed.is_empty() {
                return Err(StorageError::not_found(
                    Resource::Bucket,
                    format!("share of {} with {}", at.bucket, target.unwrap_or("anyone")),
                ));
            }
            let remaining: Vec<&String> = view.bucket.shared_with.iter().filter(|t| !removed.contains(t)).collect();
            let still_allowed = |project: &str| remaining.iter().any(|t| *t == "*" || *t == project);
            let losing: Vec<String> = c
                .prepare("SELECT project_id, id FROM meta.buckets WHERE source_project_id = ? AND source_bucket_id = ?")
                .and_then(|mut s| {
                    s.query_map([at.project.as_str(), &at.bucket.to_string()], |r| {
                        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                    })?
                    .collect::<duckdb::Result<Vec<_>>>()
                })
                .map_err(db_err)?
                .into_iter()
                .filter(|(p, _)| !still_allowed(p))
                .map(|(p, b)| format!("{p} ({b})"))
                .collect();
            if !losing.is_empty() {
                return Err(StorageError::conflict(
                    "bucket_linked",
                    format!(
                        "{} still link bucket {}; they must unlink it before it is unshared",
                        losing.join(", "),
                        at.bucket
                    ),
                ));
            }
            for t in removed {
                c.execute(
                    "DELETE FROM meta.shares WHERE project_id = ? AND bucket_id = ? AND target_project_id = ?",
                    [at.project.as_str(), &at.bucket.to_string(), t.as_str()],
                )
                .map_err(db_err)?;
            }
            Ok(())
        })?;
        self.bucket_get(at)
    }

    /// Creates bucket `at` in its project as a read-only view of a bucket shared with it.
    pub(crate) fn bucket_link(&self, at: &BucketRef, source: &BucketLink) -> Result<Bucket> {
        main_only(at, "linking")?;
        let source_ref = BucketRef {
            project: source.project_id.clone(),
            branch: at.branch.clone(),
            bucket: source.bucket_id.clone(),
        };
        let now = naive(self.now());
        self.write(|c| {
            require_branch(c, &at.branch_ref())?;
            if source.project_id == at.project {
                return Err(StorageError::invalid("invalid_link", "a project cannot link its own bucket"));
            }
            let not_shared = || {
                StorageError::forbidden(
                    "bucket_not_shared",
                    format!(
                        "project {} has not shared bucket {} with project {}",
                        source.project_id, source.bucket_id, at.project
                    ),
                )
            };
            // A missing source and an unshared one look alike: no probing other projects.
            let view = bucket_view(c, &source_ref).map_err(|_| not_shared())?;
            if view.link.is_some() || !view.bucket.shared_with.iter().any(|t| t == "*" || t == at.project.as_str()) {
                return Err(not_shared());
            }
            if let Some(existing) = bucket_views(c, &at.branch_ref())?
                .into_iter()
                .find(|v| v.bucket.id.to_string().eq_ignore_ascii_case(&at.bucket.to_string()))
            {
                return Err(StorageError::already_exists(Resource::Bucket, existing.bucket.id));
            }
            c.execute(
                "INSERT INTO meta.buckets (project_id, branch_id, id, stage, name, description, created_at, \
                 source_project_id, source_bucket_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                params![
                    at.project.as_str(),
                    at.branch.as_str(),
                    at.bucket.to_string(),
                    at.bucket.stage.as_str(),
                    at.bucket.name.as_str(),
                    view.bucket.description,
                    now,
                    source.project_id.as_str(),
                    source.bucket_id.to_string()
                ],
            )
            .map_err(db_err)?;
            Ok(())
        })?;
        self.bucket_get(at)
    }

    pub(crate) fn bucket_unlink(&self, at: &BucketRef) -> Result<()> {
        self.write(|c| {
            let view: BucketView = bucket_view(c, at)?;
            if view.link.is_none() {
                return Err(StorageError::invalid(
                    "not_a_link",
                    format!("bucket {} is not a linked bucket", at.bucket),
                ));
            }
            c.execute(
                "DELETE FROM meta.buckets WHERE project_id = ? AND branch_id = ? AND id = ?",
                [at.project.as_str(), view.home.branch.as_str(), &at.bucket.to_string()],
            )
            .map_err(db_err)?;
            Ok(())
        })
    }
}
