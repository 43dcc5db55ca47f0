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

use crate::audit::{AuditEvent, AuditQuery};
use crate::error::{Result, StorageError};
use crate::files::{FileInfo, FileQuery, NewUpload, Upload, UploadSink};
use crate::jobs::{Job, JobOutcome, JobProgress, NewJob, RunningJob};
use crate::model::{
    ApiKey, Branch, Bucket, BucketLink, KeyHash, NewBranch, NewBucket, NewProject, NewTable, Page, Preview, Project,
    ProjectStats, ProjectUpdate, StoredApiKey, Table,
};
use crate::names::{BranchRef, BucketRef, ColumnName, ProjectId, TableRef};
use crate::profiles::TableProfile;
use crate::query::{RowQuery, RowSelection};
use crate::schema::{ColumnChange, ColumnDef};
use crate::settings::{SettingsScope, SettingsView, SnapshotSettingsPatch};
use crate::snapshots::{NewSnapshot, RestoreRequest, RestoreResult, Snapshot, SnapshotDetail, SnapshotQuery};
use crate::sql::SqlSession;
use crate::transfer::{ExportRequest, ImportRequest, ImportResult, NewTableFromFile, ParsedRows};
use crate::workspaces::{LoadRequest, LoadResult, NewWorkspace, StoredWorkspace, Workspace, WorkspaceDetail};

/// Name and version of an engine, for `/health` and logs.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BackendInfo {
    pub name: String,
    pub version: String,
    /// The shared library a native engine was loaded from; the built-in engine has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub library: Option<String>,
}

/// What an engine holds and uses, for operators' metrics.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StorageStats {
    pub projects: u64,
    pub tables: u64,
    pub files: u64,
    /// Bytes of everything in the data directory.
    pub disk_bytes: u64,
    /// The engine's own query memory in use, and its spill files.
    pub memory_bytes: u64,
    pub temp_bytes: u64,
    /// Table files open right now.
    pub open_tables: u64,
    /// Writers waiting for a table's writer lock right now, and the seconds all such waits
    /// took since start.
    pub writers_waiting: u64,
    pub writer_wait_seconds: f64,
}

/// Methods that change data take `actor` (`admin` or `key:<id>`): it is recorded on the
/// snapshots and jobs they cause.
pub trait StorageBackend: Send + Sync + 'static {
    fn info(&self) -> BackendInfo;

    /// Cheap liveness check of the catalog and data directory.
    fn health(&self) -> Result<()>;
    /// Sizes and usage for `/metrics`; engines that keep none answer unsupported.
    fn stats(&self) -> Result<StorageStats> {
        Err(StorageError::unsupported("this storage engine reports no statistics"))
    }

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
    /// Creates a dev branch in O(1): nothing is copied until the branch writes a table.
    fn create_branch(&self, project: &ProjectId, new: &NewBranch, actor: &str) -> Result<Branch>;
    /// Deletes a dev branch and everything it owns; keys limited to it are revoked.
    fn delete_branch(&self, at: &BranchRef) -> Result<()>;
    /// Resets a dev branch's table to main's current version.
    fn pull_table(&self, table: &TableRef) -> Result<Table>;
    /// Replaces main's version of a table with the branch's, after snapshotting main's.
    fn merge_table(&self, table: &TableRef, actor: &str) -> Result<Table>;

    // --- buckets -----------------------------------------------------------------------

    fn create_bucket(&self, at: &BranchRef, new: &NewBucket) -> Result<Bucket>;
    fn list_buckets(&self, at: &BranchRef) -> Result<Vec<Bucket>>;
    fn get_bucket(&self, bucket: &BucketRef) -> Result<Bucket>;
    /// Deletes a bucket; with `cascade` its tables too, otherwise a non-empty bucket is a conflict.
    fn delete_bucket(&self, bucket: &BucketRef, cascade: bool, actor: &str) -> Result<()>;
    /// Shares a main-branch bucket with a project, or with every project (`*`).
    fn share_bucket(&self, bucket: &BucketRef, target: &str) -> Result<Bucket>;
    /// Removes a share (all with `None`); refused while a project losing access links it.
    fn unshare_bucket(&self, bucket: &BucketRef, target: Option<&str>) -> Result<Bucket>;
    /// Creates `bucket` as a read-only link to a bucket shared with its project.
    fn link_bucket(&self, bucket: &BucketRef, source: &BucketLink) -> Result<Bucket>;
    fn unlink_bucket(&self, bucket: &BucketRef) -> Result<()>;

    // --- tables ------------------------------------------------------------------------

    fn create_table(&self, bucket: &BucketRef, new: &NewTable) -> Result<Table>;
    fn list_tables(&self, bucket: &BucketRef) -> Result<Vec<Table>>;
    fn get_table(&self, table: &TableRef) -> Result<Table>;
    fn delete_table(&self, table: &TableRef, actor: &str) -> Result<()>;
    /// Reads at most `query.limit` rows (the engine caps it) as JSON values.
    fn preview(&self, table: &TableRef, query: &RowQuery) -> Result<Preview>;

    // --- schema changes (each atomic) --------------------------------------------------

    fn add_column(&self, table: &TableRef, column: &ColumnDef) -> Result<Table>;
    /// Refuses to drop the last column or a primary-key column.
    fn drop_column(&self, table: &TableRef, column: &ColumnName, actor: &str) -> Result<Table>;
    /// Renames, retypes or changes nullability/default; nothing changes if any row does not fit.
    fn alter_column(&self, table: &TableRef, column: &ColumnName, change: &ColumnChange) -> Result<Table>;
    /// Refuses (conflict) when existing rows repeat a key or have a NULL in it.
    fn set_primary_key(&self, table: &TableRef, columns: &[ColumnName]) -> Result<Table>;
    fn drop_primary_key(&self, table: &TableRef) -> Result<Table>;
    /// Deletes the selected rows (all rows for an empty selection); returns how many.
    fn delete_rows(&self, table: &TableRef, selection: &RowSelection, actor: &str) -> Result<u64>;
    /// Deletes every row; returns how many.
    fn truncate_table(&self, table: &TableRef, actor: &str) -> Result<u64>;

    // --- data in and out ---------------------------------------------------------------

    /// Imports rows; a full load replaces the table atomically, a failed one leaves it intact.
    fn import_table(&self, table: &TableRef, request: &ImportRequest, actor: &str) -> Result<ImportResult>;
    /// Loads rows parsed by the host (an import-format plugin) from `request`'s file, with
    /// `request`'s load options: the same atomicity and de-duplication as `import_table`.
    fn import_rows(
        &self,
        table: &TableRef,
        request: &ImportRequest,
        rows: ParsedRows<'_>,
        actor: &str,
    ) -> Result<ImportResult>;
    /// Creates a table shaped like a file and imports the file into it.
    fn create_table_from_file(
        &self,
        bucket: &BucketRef,
        request: &NewTableFromFile,
        actor: &str,
    ) -> Result<(Table, ImportResult)>;
    /// Writes the selected rows to a new registered file of the table's project.
    fn export_table(&self, table: &TableRef, request: &ExportRequest) -> Result<FileInfo>;

    // --- table profiles ------------------------------------------------------------------

    /// Computes the table's column statistics and keeps them as its latest profile.
    fn profile_table(&self, table: &TableRef) -> Result<TableProfile> {
        let _ = table;
        Err(StorageError::unsupported("this storage engine does not profile tables"))
    }
    /// The table's latest profile; `None` when none was computed.
    fn table_profile(&self, table: &TableRef) -> Result<Option<TableProfile>> {
        let _ = table;
        Err(StorageError::unsupported("this storage engine does not profile tables"))
    }

    // --- snapshots and their settings ----------------------------------------------------

    fn create_snapshot(&self, at: &BranchRef, new: &NewSnapshot, actor: &str) -> Result<Snapshot>;
    /// Snapshots of the branch, newest first.
    fn list_snapshots(&self, at: &BranchRef, query: &SnapshotQuery) -> Result<Vec<Snapshot>>;
    fn get_snapshot(&self, at: &BranchRef, snapshot_id: &str) -> Result<SnapshotDetail>;
    fn delete_snapshot(&self, at: &BranchRef, snapshot_id: &str) -> Result<()>;
    fn restore_snapshot(
        &self,
        at: &BranchRef,
        snapshot_id: &str,
        request: &RestoreRequest,
        actor: &str,
    ) -> Result<RestoreResult>;
    /// Deletes snapshots past their expiry; returns how many.
    fn sweep_expired_snapshots(&self) -> Result<u64>;
    fn snapshot_settings(&self, scope: &SettingsScope) -> Result<SettingsView>;
    /// Stores the given keys at the scope's level (other keys there stay).
    fn update_snapshot_settings(&self, scope: &SettingsScope, patch: &SnapshotSettingsPatch) -> Result<SettingsView>;
    fn clear_snapshot_settings(&self, scope: &SettingsScope) -> Result<SettingsView>;

    // --- audit log -------------------------------------------------------------------------

    fn record_audit(&self, event: &AuditEvent) -> Result<()>;
    /// Events newest first, with the total before paging.
    fn list_audit(&self, query: &AuditQuery) -> Result<(Vec<AuditEvent>, u64)>;
    /// Deletes events older than `before`; returns how many.
    fn sweep_audit(&self, before: chrono::DateTime<chrono::Utc>) -> Result<u64>;

    // --- workspaces ----------------------------------------------------------------------

    /// Creates a workspace of the branch; `verifier` is the SCRAM verifier of its password.
    fn create_workspace(&self, at: &BranchRef, new: &NewWorkspace, verifier: &str, actor: &str) -> Result<Workspace>;
    fn list_workspaces(&self, at: &BranchRef) -> Result<Vec<Workspace>>;
    /// An expired workspace is `Gone` here and in every other workspace call.
    fn get_workspace(&self, at: &BranchRef, id: &str) -> Result<WorkspaceDetail>;
    /// Closes its sessions and removes its data.
    fn delete_workspace(&self, at: &BranchRef, id: &str) -> Result<()>;
    /// Drops every table and view its users created.
    fn clear_workspace(&self, at: &BranchRef, id: &str) -> Result<WorkspaceDetail>;
    fn drop_workspace_object(&self, at: &BranchRef, id: &str, object: &str) -> Result<()>;
    fn set_workspace_verifier(&self, at: &BranchRef, id: &str, verifier: &str) -> Result<Workspace>;
    /// Copies project tables (selected columns and rows) into workspace tables.
    fn load_workspace(&self, at: &BranchRef, id: &str, request: &LoadRequest) -> Result<LoadResult>;
    /// Looks a workspace up by id for a login; `None` when unknown.
    fn find_workspace(&self, id: &str) -> Result<Option<StoredWorkspace>>;
    /// Opens a SQL session; refused when the workspace expired or has its most sessions.
    fn open_sql_session(&self, id: &str) -> Result<Box<dyn SqlSession>>;
    /// Deletes expired workspaces; returns how many.
    fn sweep_expired_workspaces(&self) -> Result<u64>;

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
    /// Runs a job's `work` on the calling thread: marks the job started, and lets the work's
    /// commit record the job's success in the same transaction as its data, so that the
    /// record matches the data whatever instant the process dies. `job.cancel` stops the
    /// work before its commit. An engine without such a commit (the default) only marks the
    /// job started; its record then says "interrupted" after a crash that followed a commit.
    fn run_job(&self, job: &RunningJob, work: &mut dyn FnMut() -> JobOutcome) -> JobOutcome {
        self.start_job(&job.id)?;
        job.cancel.check()?;
        work()
    }
    fn finish_job(&self, job_id: &str, outcome: std::result::Result<(JobProgress, Value), StorageError>)
    -> Result<Job>;
    fn get_job(&self, project: &ProjectId, job_id: &str) -> Result<Job>;
    /// Jobs newest first, with the total count before paging.
    fn list_jobs(&self, project: &ProjectId, page: Page) -> Result<(Vec<Job>, u64)>;
    /// At start-up: marks jobs a crash interrupted as failed and removes their partial files.
    fn recover_interrupted_jobs(&self) -> Result<u64>;
}
