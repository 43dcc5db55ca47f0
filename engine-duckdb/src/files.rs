//! Upload sessions and registered files.
//!
//! Content lives under `<data>/staging/<project>/<upload key>` while uploading and under
//! `<data>/files/<project>/<file id>` once registered; names and tags are catalog metadata.
//! Both ids are random hex, so no user input ever becomes a path.

use duckdb::{Connection, OptionalExt, params};
use rand::RngCore;

use duckstore_plugin_sdk::files::{
    FileInfo, FileQuery, NewUpload, Upload, UploadSink, validate_file_name, validate_tags,
};
use duckstore_plugin_sdk::names::ProjectId;
use duckstore_plugin_sdk::{ErrorKind, Resource, Result, StorageError};

use crate::DuckEngine;
use crate::catalog::{naive, ts};
use crate::error::db_err;

/// A random hex id of `bytes` bytes.
pub(crate) fn new_id(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    hex::encode(buf)
}

fn tags_json(tags: &[String]) -> String {
    serde_json::to_string(tags).expect("strings serialize")
}

fn tags_of(r: &duckdb::Row<'_>, idx: usize) -> duckdb::Result<Vec<String>> {
    let text: String = r.get(idx)?;
    serde_json::from_str(&text)
        .map_err(|e| duckdb::Error::FromSqlConversionFailure(idx, duckdb::types::Type::Text, Box::new(e)))
}

const FILE_COLUMNS: &str = "id, name, size_bytes, content_type, sha256, tags, created_at";

fn map_file(r: &duckdb::Row<'_>) -> duckdb::Result<FileInfo> {
    Ok(FileInfo {
        id: r.get(0)?,
        name: r.get(1)?,
        size_bytes: r.get(2)?,
        content_type: r.get(3)?,
        sha256: r.get(4)?,
        tags: tags_of(r, 5)?,
        created_at: ts(r, 6)?,
    })
}

const UPLOAD_COLUMNS: &str = "upload_key, name, content_type, tags, size_bytes, sha256, created_at, expires_at";

fn map_upload(r: &duckdb::Row<'_>) -> duckdb::Result<Upload> {
    Ok(Upload {
        upload_key: r.get(0)?,
        name: r.get(1)?,
        content_type: r.get(2)?,
        tags: tags_of(r, 3)?,
        size_bytes: r.get(4)?,
        sha256: r.get(5)?,
        created_at: ts(r, 6)?,
        expires_at: ts(r, 7)?,
    })
}

pub(crate) fn find_file(c: &Connection, project: &ProjectId, file_id: &str) -> Result<FileInfo> {
    c.query_row(
        &format!("SELECT {FILE_COLUMNS} FROM meta.files WHERE project_id = ? AND id = ?"),
        [project.as_str(), file_id],
        map_file,
    )
    .optional()
    .map_err(db_err)?
    .ok_or_else(|| StorageError::not_found(Resource::File, file_id))
}

/// Files and bytes a project holds, counting uploads in progress.
fn usage(c: &Connection, project: &ProjectId) -> Result<(u64, u64)> {
    c.query_row(
        "SELECT (SELECT count(*) FROM meta.files WHERE project_id = $1) + \
                (SELECT count(*) FROM meta.uploads WHERE project_id = $1),
                (SELECT coalesce(sum(size_bytes), 0) FROM meta.files WHERE project_id = $1) + \
                (SELECT coalesce(sum(size_bytes), 0) FROM meta.uploads WHERE project_id = $1)",
        [project.as_str()],
        |r| Ok((r.get::<_, u64>(0)?, r.get::<_, u64>(1)?)),
    )
    .map_err(db_err)
}

pub(crate) fn insert_file(c: &Connection, project: &ProjectId, f: &FileInfo) -> Result<()> {
    c.execute(
        "INSERT INTO meta.files VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        params![
            f.id,
            project.as_str(),
            f.name,
            f.size_bytes,
            f.content_type,
            f.sha256,
            tags_json(&f.tags),
            naive(f.created_at)
        ],
    )
    .map_err(db_err)?;
    Ok(())
}

fn remove_if_exists(path: &std::path::Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
        _ => Ok(()),
    }
}

fn quota_exceeded(what: String) -> StorageError {
    StorageError::conflict("quota_exceeded", what)
}

impl DuckEngine {
    fn find_upload(&self, c: &Connection, project: &ProjectId, key: &str) -> Result<Upload> {
        let upload = c
            .query_row(
                &format!("SELECT {UPLOAD_COLUMNS} FROM meta.uploads WHERE project_id = ? AND upload_key = ?"),
                [project.as_str(), key],
                map_upload,
            )
            .optional()
            .map_err(db_err)?
            .ok_or_else(|| StorageError::not_found(Resource::Upload, key))?;
        if upload.expires_at <= self.now() {
            return Err(StorageError::gone(Resource::Upload, key));
        }
        Ok(upload)
    }

    /// Checks that `extra_files` more files with `extra_bytes` more bytes fit the project's quota.
    pub(crate) fn check_quota(
        &self,
        c: &Connection,
        project: &ProjectId,
        extra_files: u64,
        extra_bytes: u64,
    ) -> Result<()> {
        let limits = &self.file_limits;
        let (files, bytes) = usage(c, project)?;
        if files + extra_files > limits.max_files_per_project {
            return Err(quota_exceeded(format!(
                "project {project} already holds {files} files (uploads included); the limit is {}",
                limits.max_files_per_project
            )));
        }
        if bytes + extra_bytes > limits.max_bytes_per_project {
            return Err(quota_exceeded(format!(
                "project {project} would hold {} bytes of files; the limit is {}",
                bytes + extra_bytes,
                limits.max_bytes_per_project
            )));
        }
        Ok(())
    }

    pub(crate) fn upload_prepare(&self, project: &ProjectId, new: &NewUpload) -> Result<Upload> {
        validate_file_name(&new.name)?;
        validate_tags(&new.tags)?;
        let now = self.now();
        let upload = Upload {
            upload_key: new_id(16),
            name: new.name.clone(),
            content_type: new.content_type.clone(),
            tags: new.tags.clone(),
            size_bytes: None,
            sha256: None,
            created_at: now,
            expires_at: now
                + chrono::Duration::seconds(self.file_limits.upload_ttl_secs.try_into().unwrap_or(i64::MAX)),
        };
        self.write(|c| {
            crate::projects::require(c, project)?;
            self.check_quota(c, project, 1, 0)?;
            c.execute(
                &format!(
                    "INSERT INTO meta.uploads ({UPLOAD_COLUMNS}, project_id) VALUES (?, ?, ?, ?, NULL, NULL, ?, ?, ?)"
                ),
                params![
                    upload.upload_key,
                    upload.name,
                    upload.content_type,
                    tags_json(&upload.tags),
                    naive(upload.created_at),
                    naive(upload.expires_at),
                    project.as_str()
                ],
            )
            .map_err(db_err)?;
            Ok(())
        })?;
        Ok(upload)
    }

    pub(crate) fn upload_open(&self, project: &ProjectId, key: &str) -> Result<UploadSink> {
        let (upload, (_, used)) = self.read(|c| Ok((self.find_upload(c, project, key)?, usage(c, project)?)))?;
        // This upload's earlier content (a retried upload) does not count against itself.
        let used = used - upload.size_bytes.unwrap_or(0);
        let max_bytes =
            self.file_limits.max_file_bytes.min(self.file_limits.max_bytes_per_project.saturating_sub(used));
        let path = self.layout.upload(project, key);
        std::fs::create_dir_all(self.layout.staging_dir(project))?;
        let file = std::fs::File::create(&path)?;
        Ok(UploadSink { upload, file, max_bytes })
    }

    pub(crate) fn upload_abort(&self, project: &ProjectId, key: &str) -> Result<()> {
        self.write(|c| {
            c.execute("DELETE FROM meta.uploads WHERE project_id = ? AND upload_key = ?", [project.as_str(), key])
                .map_err(db_err)?;
            Ok(())
        })?;
        remove_if_exists(&self.layout.upload(project, key))
    }

    /// Re-checks the byte quota: concurrent uploads were each allowed what was left at their start.
    pub(crate) fn upload_finish(&self, project: &ProjectId, key: &str, size: u64, sha256: &str) -> Result<Upload> {
        self.write(|c| {
            self.find_upload(c, project, key)?;
            c.execute(
                "UPDATE meta.uploads SET size_bytes = ?, sha256 = ? WHERE project_id = ? AND upload_key = ?",
                params![size, sha256, project.as_str(), key],
            )
            .map_err(db_err)?;
            self.check_quota(c, project, 0, 0)?;
            self.find_upload(c, project, key)
        })
    }

    pub(crate) fn file_register(&self, project: &ProjectId, key: &str) -> Result<FileInfo> {
        let staged = self.layout.upload(project, key);
        let file = self.write(|c| {
            let upload = self.find_upload(c, project, key)?;
            let (Some(size_bytes), Some(sha256)) = (upload.size_bytes, upload.sha256) else {
                return Err(StorageError::conflict("upload_incomplete", format!("upload {key} has no content yet")));
            };
            let file = FileInfo {
                id: duckstore_plugin_sdk::files::file_id_of_upload(key),
                name: upload.name,
                size_bytes,
                content_type: upload.content_type,
                sha256,
                tags: upload.tags,
                created_at: self.now(),
            };
            c.execute("DELETE FROM meta.uploads WHERE project_id = ? AND upload_key = ?", [project.as_str(), key])
                .map_err(db_err)?;
            insert_file(c, project, &file)?;
            // Linked, not moved, until the catalog commits: a crash before the commit leaves
            // the upload whole (and the link unowned, swept at the next start).
            std::fs::create_dir_all(self.layout.files_dir(project))?;
            std::fs::hard_link(&staged, self.layout.file(project, &file.id))?;
            Ok(file)
        })?;
        if let Err(e) = std::fs::remove_file(&staged) {
            tracing::warn!(error = %e, upload = key, "could not remove a registered upload's staging copy");
        }
        Ok(file)
    }

    pub(crate) fn file_list(&self, project: &ProjectId, q: &FileQuery) -> Result<(Vec<FileInfo>, u64)> {
        self.read(|c| {
            crate::projects::require(c, project)?;
            let cond =
                "project_id = ? AND list_has_all(from_json(tags, '[\"VARCHAR\"]'), from_json(?, '[\"VARCHAR\"]'))";
            let tags = tags_json(&q.tags);
            let total: u64 = c
                .query_row(&format!("SELECT count(*) FROM meta.files WHERE {cond}"), [project.as_str(), &tags], |r| {
                    r.get(0)
                })
                .map_err(db_err)?;
            let files = c
                .prepare(&format!(
                    "SELECT {FILE_COLUMNS} FROM meta.files WHERE {cond} ORDER BY created_at DESC, id LIMIT ? OFFSET ?"
                ))
                .and_then(|mut s| {
                    s.query_map(params![project.as_str(), tags, q.limit, q.offset], map_file)?
                        .collect::<duckdb::Result<_>>()
                })
                .map_err(db_err)?;
            Ok((files, total))
        })
    }

    pub(crate) fn file_get(&self, project: &ProjectId, file_id: &str) -> Result<FileInfo> {
        self.read(|c| find_file(c, project, file_id))
    }

    pub(crate) fn file_open(&self, project: &ProjectId, file_id: &str) -> Result<(FileInfo, std::fs::File)> {
        let info = self.file_get(project, file_id)?;
        let file = std::fs::File::open(self.layout.file(project, file_id)).map_err(|e| {
            StorageError::new(ErrorKind::Internal, "file_content_missing", format!("content of file {file_id}: {e}"))
        })?;
        Ok((info, file))
    }

    pub(crate) fn file_set_tags(&self, project: &ProjectId, file_id: &str, tags: &[String]) -> Result<FileInfo> {
        validate_tags(tags)?;
        self.write(|c| {
            find_file(c, project, file_id)?;
            c.execute(
                "UPDATE meta.files SET tags = ? WHERE project_id = ? AND id = ?",
                params![tags_json(tags), project.as_str(), file_id],
            )
            .map_err(db_err)?;
            find_file(c, project, file_id)
        })
    }

    pub(crate) fn file_delete(&self, project: &ProjectId, file_id: &str) -> Result<()> {
        self.write(|c| {
            find_file(c, project, file_id)?;
            c.execute("DELETE FROM meta.files WHERE project_id = ? AND id = ?", [project.as_str(), file_id])
                .map_err(db_err)?;
            Ok(())
        })?;
        remove_if_exists(&self.layout.file(project, file_id))
    }

    pub(crate) fn uploads_sweep(&self) -> Result<u64> {
        let now = naive(self.now());
        let expired: Vec<(String, String)> = self.write(|c| {
            let expired = c
                .prepare("SELECT project_id, upload_key FROM meta.uploads WHERE expires_at <= ?")
                .and_then(|mut s| {
                    s.query_map([now], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<duckdb::Result<Vec<_>>>()
                })
                .map_err(db_err)?;
            c.execute("DELETE FROM meta.uploads WHERE expires_at <= ?", [now]).map_err(db_err)?;
            Ok(expired)
        })?;
        for (project, key) in &expired {
            let project = ProjectId::new(project.as_str())?;
            if let Err(e) = remove_if_exists(&self.layout.upload(&project, key)) {
                tracing::warn!(error = %e, upload = %key, "could not delete an expired upload");
            }
        }
        Ok(expired.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_random_hex() {
        let (a, b) = (super::new_id(8), super::new_id(8));
        assert_eq!(a.len(), 16);
        assert_ne!(a, b);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
    }
}
