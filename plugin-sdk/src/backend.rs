//! The StorageBackend trait: everything the host asks of a storage engine.
//!
//! Methods are synchronous and may block on disk I/O; the host calls them from blocking
//! worker threads, never from the async runtime. Keeping the trait synchronous lets an
//! engine be a plain library (including a native one behind a C ABI) without an executor.
//!
//! The backend validates everything that concerns stored state (existence, uniqueness,
//! types, quotas, the last admin key) and is the only thing that touches data files. The
//! host owns everything about callers: authentication, authorization, HTTP and PG framing.

use serde_json::Value;

use crate::error::{Result, StorageError};
use crate::files::{FileInfo, FileQuery, NewUpload, Upload, UploadSink};
use crate::jobs::{Job, JobProgress, NewJob};
use crate::model::{
    ApiKey, Branch, Bucket, KeyHash, NewBucket, NewProject, NewTable, Page, Preview, Project, ProjectStats,
    ProjectUpdate, StoredApiKey, Table,
};
use crate::names::{BranchRef, BucketRef, ColumnName, ProjectId, TableRef};
use crate::query::{RowQuery, RowSelection};
use crate::schema::{ColumnChange, ColumnDef};
use crate::transfer::{ExportRequest, ImportRequest, ImportResult, NewTableFromFile};

/// Name and version of an engine, for `/health` and logs.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct BackendInfo {
    pub name: String,
    pub version: String,
}

pub trait StorageBackend: Send + Sync + 'static {
    fn info(&self) -> BackendInfo;

    /// Cheap liveness check of the catalog and data directory.
    fn health(&self) -> Result<()>;

    // --- the installation's admin key -------------------------------------------------

    /// Hash of the admin key generated on first start, if one was.
    fn admin_key_hash(&self) -> Result<Option<KeyHash>>;
    fn set_admin_key_hash(&self, hash: &KeyHash) -> Result<()>;

    // --- projects ----------------------------------------------------------------------

    /// Creates the project, its main branch and its first project_admin key atomically.
    fn create_project(&self, new: &NewProject, admin_key: &StoredApiKey) -> Result<Project>;
    /// Projects ordered by id, with the total count before paging.
    fn list_projects(&self, page: Page) -> Result<(Vec<Project>, u64)>;
    fn get_project(&self, id: &ProjectId) -> Result<Project>;
    fn update_project(&self, id: &ProjectId, update: &ProjectUpdate) -> Result<Project>;
    /// Removes the project's catalog entries and every file it owns.
    fn delete_project(&self, id: &ProjectId) -> Result<()>;
    fn project_stats(&self, id: &ProjectId) -> Result<ProjectStats>;

    // --- API keys ----------------------------------------------------------------------

    fn create_api_key(&self, key: &StoredApiKey) -> Result<ApiKey>;
    /// Looks a key up by its public id, for authentication; `None` when unknown.
    fn find_api_key(&self, key_id: &str) -> Result<Option<StoredApiKey>>;
    fn list_api_keys(&self, project: &ProjectId) -> Result<Vec<ApiKey>>;
    fn get_api_key(&self, project: &ProjectId, key_id: &str) -> Result<ApiKey>;
    /// Revokes a key; refuses (conflict) to revoke the project's last active project_admin key.
    fn revoke_api_key(&self, project: &ProjectId, key_id: &str) -> Result<()>;
    /// Replaces a key's secret: the old secret stops working at once.
    fn rotate_api_key(&self, project: &ProjectId, key_id: &str, new_hash: &KeyHash) -> Result<ApiKey>;
    /// Records that a key was used (callers throttle this).
    fn touch_api_key(&self, key_id: &str) -> Result<()>;

    // --- branches ----------------------------------------------------------------------

    fn get_branch(&self, at: &BranchRef) -> Result<Branch>;
    fn list_branches(&self, project: &ProjectId) -> Result<Vec<Branch>>;

    // --- buckets -----------------------------------------------------------------------

    fn create_bucket(&self, at: &BranchRef, new: &NewBucket) -> Result<Bucket>;
    fn list_buckets(&self, at: &BranchRef) -> Result<Vec<Bucket>>;
    fn get_bucket(&self, bucket: &BucketRef) -> Result<Bucket>;
    /// Deletes a bucket; with `cascade` its tables too, otherwise a non-empty bucket is a conflict.
    fn delete_bucket(&self, bucket: &BucketRef, cascade: bool) -> Result<()>;

    // --- tables ------------------------------------------------------------------------

    fn create_table(&self, bucket: &BucketRef, new: &NewTable) -> Result<Table>;
    fn list_tables(&self, bucket: &BucketRef) -> Result<Vec<Table>>;
    fn get_table(&self, table: &TableRef) -> Result<Table>;
    fn delete_table(&self, table: &TableRef) -> Result<()>;
    /// Reads at most `query.limit` rows (the engine caps it) as JSON values.
    fn preview(&self, table: &TableRef, query: &RowQuery) -> Result<Preview>;

    // --- schema changes (each atomic) --------------------------------------------------

    fn add_column(&self, table: &TableRef, column: &ColumnDef) -> Result<Table>;
    /// Refuses to drop the last column or a primary-key column.
    fn drop_column(&self, table: &TableRef, column: &ColumnName) -> Result<Table>;
    /// Renames, retypes or changes nullability/default; nothing changes if any row does not fit.
    fn alter_column(&self, table: &TableRef, column: &ColumnName, change: &ColumnChange) -> Result<Table>;
    /// Refuses (conflict) when existing rows repeat a key or have a NULL in it.
    fn set_primary_key(&self, table: &TableRef, columns: &[ColumnName]) -> Result<Table>;
    fn drop_primary_key(&self, table: &TableRef) -> Result<Table>;
    /// Deletes the selected rows (all rows for an empty selection); returns how many.
    fn delete_rows(&self, table: &TableRef, selection: &RowSelection) -> Result<u64>;

    // --- data in and out ---------------------------------------------------------------

    /// Imports rows; a full load replaces the table atomically, a failed one leaves it intact.
    fn import_table(&self, table: &TableRef, request: &ImportRequest) -> Result<ImportResult>;
    /// Creates a table shaped like a file and imports the file into it.
    fn create_table_from_file(&self, bucket: &BucketRef, request: &NewTableFromFile) -> Result<(Table, ImportResult)>;
    /// Writes the selected rows to a new registered file of the table's project.
    fn export_table(&self, table: &TableRef, request: &ExportRequest) -> Result<FileInfo>;

    // --- files -------------------------------------------------------------------------

    /// Starts an upload session; refuses when the project's file-count quota is used up.
    fn prepare_upload(&self, project: &ProjectId, new: &NewUpload) -> Result<Upload>;
    /// The staging file for an upload's content (truncated), and how many bytes it may take.
    fn open_upload(&self, project: &ProjectId, upload_key: &str) -> Result<UploadSink>;
    /// Ends an upload session without a file: its record and any content are deleted.
    fn abort_upload(&self, project: &ProjectId, upload_key: &str) -> Result<()>;
    /// Records the received content's size and hash.
    fn finish_upload(&self, project: &ProjectId, upload_key: &str, size: u64, sha256: &str) -> Result<Upload>;
    /// Turns an uploaded session into a file.
    fn register_file(&self, project: &ProjectId, upload_key: &str) -> Result<FileInfo>;
    /// Files newest first, with the total count before paging.
    fn list_files(&self, project: &ProjectId, query: &FileQuery) -> Result<(Vec<FileInfo>, u64)>;
    fn get_file(&self, project: &ProjectId, file_id: &str) -> Result<FileInfo>;
    /// The file's record and its content, for streaming out.
    fn open_file(&self, project: &ProjectId, file_id: &str) -> Result<(FileInfo, std::fs::File)>;
    fn set_file_tags(&self, project: &ProjectId, file_id: &str, tags: &[String]) -> Result<FileInfo>;
    fn delete_file(&self, project: &ProjectId, file_id: &str) -> Result<()>;
    /// Deletes expired, unregistered uploads and their content; returns how many.
    fn sweep_expired_uploads(&self) -> Result<u64>;

    // --- jobs ----------------------------------------------------------------------------

    fn create_job(&self, new: &NewJob) -> Result<Job>;
    fn start_job(&self, job_id: &str) -> Result<()>;
    fn finish_job(&self, job_id: &str, outcome: std::result::Result<(JobProgress, Value), StorageError>)
    -> Result<Job>;
    fn get_job(&self, project: &ProjectId, job_id: &str) -> Result<Job>;
    /// Jobs newest first, with the total count before paging.
    fn list_jobs(&self, project: &ProjectId, page: Page) -> Result<(Vec<Job>, u64)>;
    /// At start-up: marks jobs a crash interrupted as failed and removes their partial files.
    fn recover_interrupted_jobs(&self) -> Result<u64>;
}
