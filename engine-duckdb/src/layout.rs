//! Where things live under the data directory.
//!
//! ```text
//! <data>/metadata.duckdb                                         the catalog
//! <data>/projects/<project>/branches/<branch>/<bucket>/<table>.duckdb   one file per table
//! <data>/files/<project>/<file id>                              registered files
//! <data>/staging/<project>/<upload key>                          uploads in progress, exports being written
//! <data>/snapshots/<project>/<snapshot id>/{data.parquet,metadata.json}
//! <data>/workspaces/<project>/<workspace id>.duckdb               a workspace's own database
//! <data>/tmp/                                                    DuckDB spill space
//! ```
//! Every path component comes from a validated name type, so no input can escape `<data>`.

use std::path::{Path, PathBuf};

use duckstore_plugin_sdk::names::{BranchId, BucketRef, ProjectId, TableName};

#[derive(Clone, Debug)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn metadata(&self) -> PathBuf {
        self.root.join("metadata.duckdb")
    }

    pub fn temp(&self) -> PathBuf {
        self.root.join("tmp")
    }

    pub fn project_dir(&self, project: &ProjectId) -> PathBuf {
        self.root.join("projects").join(project.as_str())
    }

    pub fn branch_dir(&self, project: &ProjectId, branch: &BranchId) -> PathBuf {
        self.project_dir(project).join("branches").join(branch.as_str())
    }

    pub fn bucket_dir(&self, bucket: &BucketRef) -> PathBuf {
        self.branch_dir(&bucket.project, &bucket.branch).join(bucket.bucket.to_string())
    }

    pub fn table_file(&self, bucket: &BucketRef, table: &TableName) -> PathBuf {
        self.bucket_dir(bucket).join(format!("{table}.duckdb"))
    }

    /// Where a full load builds a table's next file, beside the current one. Such files are
    /// swept at start-up: one found then belongs to a load a crash interrupted.
    pub fn loading_file(&self, bucket: &BucketRef, table: &TableName) -> PathBuf {
        self.bucket_dir(bucket).join(format!(".{table}.{}{LOADING_SUFFIX}", uuid::Uuid::new_v4().simple()))
    }

    pub fn files_dir(&self, project: &ProjectId) -> PathBuf {
        self.root.join("files").join(project.as_str())
    }

    /// Content of a registered file; ids are generated hex strings, never user input.
    pub fn file(&self, project: &ProjectId, file_id: &str) -> PathBuf {
        self.files_dir(project).join(file_id)
    }

    pub fn snapshots_dir(&self, project: &ProjectId) -> PathBuf {
        self.root.join("snapshots").join(project.as_str())
    }

    /// A snapshot's directory; ids are generated hex strings, never user input.
    pub fn snapshot_dir(&self, project: &ProjectId, snapshot_id: &str) -> PathBuf {
        self.snapshots_dir(project).join(snapshot_id)
    }

    pub fn workspaces_dir(&self, project: &ProjectId) -> PathBuf {
        self.root.join("workspaces").join(project.as_str())
    }

    /// A workspace's database; ids are generated, never user input.
    pub fn workspace(&self, project: &ProjectId, workspace_id: &str) -> PathBuf {
        self.workspaces_dir(project).join(format!("{workspace_id}.duckdb"))
    }

    /// Spill space of a workspace's DuckDB instance.
    pub fn workspace_temp(&self, workspace_id: &str) -> PathBuf {
        self.temp().join("workspaces").join(workspace_id)
    }

    pub fn staging_dir(&self, project: &ProjectId) -> PathBuf {
        self.root.join("staging").join(project.as_str())
    }

    /// Content of an upload in progress; keys are generated hex strings, never user input.
    pub fn upload(&self, project: &ProjectId, upload_key: &str) -> PathBuf {
        self.staging_dir(project).join(upload_key)
    }

    /// A file an export is writing; swept at start-up like loading files.
    pub fn export_file(&self, project: &ProjectId) -> PathBuf {
        self.staging_dir(project).join(format!("export-{}{EXPORTING_SUFFIX}", uuid::Uuid::new_v4().simple()))
    }
}

pub const LOADING_SUFFIX: &str = ".loading.duckdb";
pub const EXPORTING_SUFFIX: &str = ".exporting";

/// Files under `dir` (recursively) whose name ends with `suffix`.
pub fn find_with_suffix(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(path);
            } else if path.file_name().is_some_and(|n| n.to_string_lossy().ends_with(suffix)) {
                found.push(path);
            }
        }
    }
    found
}

/// Removes a DuckDB file and its write-ahead log, ignoring files that do not exist.
pub fn remove_db_file(path: &Path) -> std::io::Result<()> {
    for p in [path.to_path_buf(), wal_path(path)] {
        match std::fs::remove_file(&p) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    Ok(())
}

pub fn wal_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".wal");
    PathBuf::from(s)
}

/// Size of a DuckDB file plus its WAL, 0 if absent.
pub fn db_file_size(path: &Path) -> u64 {
    [path.to_path_buf(), wal_path(path)].iter().filter_map(|p| std::fs::metadata(p).ok()).map(|m| m.len()).sum()
}

/// Total size of the files under `dir`, 0 if it does not exist.
pub fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .filter_map(|e| e.ok())
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            Ok(_) => e.metadata().map(|m| m.len()).unwrap_or(0),
            Err(_) => 0,
        })
        .sum()
}
