//! `StorageBackend` for [`DuckEngine`]: each method delegates to its resource module.

use serde_json::Value;

use duckstore_plugin_sdk::audit::{AuditEvent, AuditQuery};
use duckstore_plugin_sdk::files::{FileInfo, FileQuery, NewUpload, Upload, UploadSink};
use duckstore_plugin_sdk::jobs::{Job, JobOutcome, JobProgress, NewJob, RunningJob};
use duckstore_plugin_sdk::model::{
    ApiKey, Branch, Bucket, BucketLink, KeyHash, NewBranch, NewBucket, NewProject, NewTable, Page, Preview, Project,
    ProjectStats, ProjectUpdate, StoredApiKey, Table,
};
use duckstore_plugin_sdk::names::{BranchRef, BucketRef, ColumnName, ProjectId, TableRef};
use duckstore_plugin_sdk::profiles::TableProfile;
use duckstore_plugin_sdk::query::{RowQuery, RowSelection};
use duckstore_plugin_sdk::schema::{ColumnChange, ColumnDef};
use duckstore_plugin_sdk::settings::{SettingsScope, SettingsView, SnapshotSettingsPatch};
use duckstore_plugin_sdk::snapshots::{
    NewSnapshot, RestoreRequest, RestoreResult, Snapshot, SnapshotDetail, SnapshotQuery,
};
use duckstore_plugin_sdk::sql::SqlSession;
use duckstore_plugin_sdk::transfer::{ExportRequest, ImportRequest, ImportResult, NewTableFromFile, ParsedRows};
use duckstore_plugin_sdk::workspaces::{
    LoadRequest, LoadResult, NewWorkspace, StoredWorkspace, Workspace, WorkspaceDetail,
};
use duckstore_plugin_sdk::{BackendInfo, Result, StorageBackend, StorageError};

use crate::DuckEngine;
use crate::error::db_err;

impl StorageBackend for DuckEngine {
    fn info(&self) -> BackendInfo {
        BackendInfo { name: "duckdb".into(), version: duckdb_version(), library: None }
    }

    fn stats(&self) -> Result<duckstore_plugin_sdk::backend::StorageStats> {
        self.storage_stats()
    }

    fn health(&self) -> Result<()> {
        self.read(|c| c.execute_batch("SELECT count(*) FROM meta.projects").map_err(db_err))?;
        if !self.layout.root().is_dir() {
            return Err(StorageError::internal("the data directory is gone"));
        }
        Ok(())
    }

    fn admin_key_hash(&self) -> Result<Option<KeyHash>> {
        self.admin_hash()
    }

    fn set_admin_key_hash(&self, hash: &KeyHash) -> Result<()> {
        self.admin_hash_set(hash)
    }

    fn create_project(&self, new: &NewProject, admin_key: &StoredApiKey) -> Result<Project> {
        self.project_create(new, admin_key)
    }

    fn list_projects(&self, page: Page) -> Result<(Vec<Project>, u64)> {
        self.project_list(page)
    }

    fn get_project(&self, id: &ProjectId) -> Result<Project> {
        self.project_get(id)
    }

    fn update_project(&self, id: &ProjectId, update: &ProjectUpdate) -> Result<Project> {
        self.project_update(id, update)
    }

    fn delete_project(&self, id: &ProjectId) -> Result<()> {
        self.project_delete(id)
    }

    fn project_stats(&self, id: &ProjectId) -> Result<ProjectStats> {
        DuckEngine::project_stats(self, id)
    }

    fn create_api_key(&self, key: &StoredApiKey) -> Result<ApiKey> {
        self.api_key_create(key)
    }

    fn find_api_key(&self, key_id: &str) -> Result<Option<StoredApiKey>> {
        self.memos.api_keys.get(&self.catalog_epoch, &key_id.to_owned(), || self.api_key_find(key_id))
    }

    fn list_api_keys(&self, project: &ProjectId) -> Result<Vec<ApiKey>> {
        self.api_key_list(project)
    }

    fn get_api_key(&self, project: &ProjectId, key_id: &str) -> Result<ApiKey> {
        self.api_key_get(project, key_id)
    }

    fn revoke_api_key(&self, project: &ProjectId, key_id: &str) -> Result<()> {
        self.api_key_revoke(project, key_id)
    }

    fn rotate_api_key(&self, project: &ProjectId, key_id: &str, new_hash: &KeyHash) -> Result<ApiKey> {
        self.api_key_rotate(project, key_id, new_hash)
    }

    fn touch_api_key(&self, key_id: &str) -> Result<()> {
        self.api_key_touch(key_id)
    }

    fn get_branch(&self, at: &BranchRef) -> Result<Branch> {
        self.branch_get(at)
    }

    fn list_branches(&self, project: &ProjectId) -> Result<Vec<Branch>> {
        self.branch_list(project)
    }

    fn create_branch(&self, project: &ProjectId, new: &NewBranch, actor: &str) -> Result<Branch> {
        self.branch_create(project, new, actor)
    }

    fn delete_branch(&self, at: &BranchRef) -> Result<()> {
        self.branch_delete(at)
    }

    fn pull_table(&self, table: &TableRef) -> Result<Table> {
        self.table_pull(table)
    }

    fn merge_table(&self, table: &TableRef, actor: &str) -> Result<Table> {
        self.table_merge(table, actor)
    }

    fn create_bucket(&self, at: &BranchRef, new: &NewBucket) -> Result<Bucket> {
        self.bucket_create(at, new)
    }

    fn list_buckets(&self, at: &BranchRef) -> Result<Vec<Bucket>> {
        self.memos.buckets.get(&self.catalog_epoch, at, || self.bucket_list(at))
    }

    fn get_bucket(&self, bucket: &BucketRef) -> Result<Bucket> {
        self.memos.bucket.get(&self.catalog_epoch, bucket, || self.bucket_get(bucket))
    }

    fn delete_bucket(&self, bucket: &BucketRef, cascade: bool, actor: &str) -> Result<()> {
        self.bucket_delete(bucket, cascade, actor)
    }

    fn share_bucket(&self, bucket: &BucketRef, target: &str) -> Result<Bucket> {
        self.bucket_share(bucket, target)
    }

    fn unshare_bucket(&self, bucket: &BucketRef, target: Option<&str>) -> Result<Bucket> {
        self.bucket_unshare(bucket, target)
    }

    fn link_bucket(&self, bucket: &BucketRef, source: &BucketLink) -> Result<Bucket> {
        self.bucket_link(bucket, source)
    }

    fn unlink_bucket(&self, bucket: &BucketRef) -> Result<()> {
        self.bucket_unlink(bucket)
    }

    fn create_table(&self, bucket: &BucketRef, new: &NewTable) -> Result<Table> {
        self.table_create(bucket, new)
    }

    fn list_tables(&self, bucket: &BucketRef) -> Result<Vec<Table>> {
        self.memos.tables.get(&self.catalog_epoch, bucket, || self.table_list(bucket))
    }

    fn get_table(&self, table: &TableRef) -> Result<Table> {
        self.memos.table.get(&self.catalog_epoch, table, || self.table_get(table))
    }

    fn delete_table(&self, table: &TableRef, actor: &str) -> Result<()> {
        self.table_delete(table, actor)
    }

    fn preview(&self, table: &TableRef, query: &RowQuery) -> Result<Preview> {
        self.table_preview(table, query)
    }

    fn profile_table(&self, table: &TableRef) -> Result<TableProfile> {
        self.profile_compute(table)
    }

    fn table_profile(&self, table: &TableRef) -> Result<Option<TableProfile>> {
        self.profile_latest(table)
    }

    fn add_column(&self, table: &TableRef, column: &ColumnDef) -> Result<Table> {
        self.column_add(table, column)
    }

    fn drop_column(&self, table: &TableRef, column: &ColumnName, actor: &str) -> Result<Table> {
        self.column_drop(table, column, actor)
    }

    fn alter_column(&self, table: &TableRef, column: &ColumnName, change: &ColumnChange) -> Result<Table> {
        self.column_alter(table, column, change)
    }

    fn set_primary_key(&self, table: &TableRef, columns: &[ColumnName]) -> Result<Table> {
        self.primary_key_set(table, columns)
    }

    fn drop_primary_key(&self, table: &TableRef) -> Result<Table> {
        self.primary_key_drop(table)
    }

    fn delete_rows(&self, table: &TableRef, selection: &RowSelection, actor: &str) -> Result<u64> {
        self.rows_delete(table, selection, false, actor)
    }

    fn truncate_table(&self, table: &TableRef, actor: &str) -> Result<u64> {
        self.rows_delete(table, &RowSelection::default(), true, actor)
    }

    fn import_table(&self, table: &TableRef, request: &ImportRequest, actor: &str) -> Result<ImportResult> {
        self.table_import(table, request, actor)
    }

    fn import_rows(
        &self,
        table: &TableRef,
        request: &ImportRequest,
        rows: ParsedRows<'_>,
        actor: &str,
    ) -> Result<ImportResult> {
        self.table_import_rows(table, request, rows, actor)
    }

    fn create_table_from_file(
        &self,
        bucket: &BucketRef,
        request: &NewTableFromFile,
        actor: &str,
    ) -> Result<(Table, ImportResult)> {
        self.table_create_from_file(bucket, request, actor)
    }

    fn export_table(&self, table: &TableRef, request: &ExportRequest) -> Result<FileInfo> {
        self.table_export(table, request)
    }

    fn create_snapshot(&self, at: &BranchRef, new: &NewSnapshot, actor: &str) -> Result<Snapshot> {
        self.snapshot_create(at, new, actor)
    }

    fn list_snapshots(&self, at: &BranchRef, query: &SnapshotQuery) -> Result<Vec<Snapshot>> {
        self.snapshot_list(at, query)
    }

    fn get_snapshot(&self, at: &BranchRef, snapshot_id: &str) -> Result<SnapshotDetail> {
        self.snapshot_get(at, snapshot_id)
    }

    fn delete_snapshot(&self, at: &BranchRef, snapshot_id: &str) -> Result<()> {
        self.snapshot_delete(at, snapshot_id)
    }

    fn restore_snapshot(
        &self,
        at: &BranchRef,
        snapshot_id: &str,
        request: &RestoreRequest,
        actor: &str,
    ) -> Result<RestoreResult> {
        self.snapshot_restore(at, snapshot_id, request, actor)
    }

    fn sweep_expired_snapshots(&self) -> Result<u64> {
        self.snapshots_sweep()
    }

    fn snapshot_settings(&self, scope: &SettingsScope) -> Result<SettingsView> {
        self.settings_get(scope)
    }

    fn update_snapshot_settings(&self, scope: &SettingsScope, patch: &SnapshotSettingsPatch) -> Result<SettingsView> {
        self.settings_update(scope, patch)
    }

    fn clear_snapshot_settings(&self, scope: &SettingsScope) -> Result<SettingsView> {
        self.settings_clear(scope)
    }

    fn record_audit(&self, event: &AuditEvent) -> Result<()> {
        self.audit_record(event)
    }

    fn list_audit(&self, query: &AuditQuery) -> Result<(Vec<AuditEvent>, u64)> {
        self.audit_list(query)
    }

    fn sweep_audit(&self, before: chrono::DateTime<chrono::Utc>) -> Result<u64> {
        self.audit_sweep(before)
    }

    fn create_workspace(&self, at: &BranchRef, new: &NewWorkspace, verifier: &str, actor: &str) -> Result<Workspace> {
        self.workspace_create(at, new, verifier, actor)
    }

    fn list_workspaces(&self, at: &BranchRef) -> Result<Vec<Workspace>> {
        self.workspace_list(at)
    }

    fn get_workspace(&self, at: &BranchRef, id: &str) -> Result<WorkspaceDetail> {
        self.workspace_get(at, id)
    }

    fn delete_workspace(&self, at: &BranchRef, id: &str) -> Result<()> {
        self.workspace_delete(at, id)
    }

    fn clear_workspace(&self, at: &BranchRef, id: &str) -> Result<WorkspaceDetail> {
        self.workspace_clear(at, id)
    }

    fn drop_workspace_object(&self, at: &BranchRef, id: &str, object: &str) -> Result<()> {
        self.workspace_drop_object(at, id, object)
    }

    fn set_workspace_verifier(&self, at: &BranchRef, id: &str, verifier: &str) -> Result<Workspace> {
        self.workspace_set_verifier(at, id, verifier)
    }

    fn load_workspace(&self, at: &BranchRef, id: &str, request: &LoadRequest) -> Result<LoadResult> {
        self.workspace_load(at, id, request)
    }

    fn find_workspace(&self, id: &str) -> Result<Option<StoredWorkspace>> {
        self.workspace_find(id)
    }

    fn open_sql_session(&self, id: &str) -> Result<Box<dyn SqlSession>> {
        self.workspace_session(id)
    }

    fn sweep_expired_workspaces(&self) -> Result<u64> {
        self.workspaces_sweep()
    }

    fn prepare_upload(&self, project: &ProjectId, new: &NewUpload) -> Result<Upload> {
        self.upload_prepare(project, new)
    }

    fn open_upload(&self, project: &ProjectId, upload_key: &str) -> Result<UploadSink> {
        self.upload_open(project, upload_key)
    }

    fn abort_upload(&self, project: &ProjectId, upload_key: &str) -> Result<()> {
        self.upload_abort(project, upload_key)
    }

    fn finish_upload(&self, project: &ProjectId, upload_key: &str, size: u64, sha256: &str) -> Result<Upload> {
        self.upload_finish(project, upload_key, size, sha256)
    }

    fn register_file(&self, project: &ProjectId, upload_key: &str) -> Result<FileInfo> {
        self.file_register(project, upload_key)
    }

    fn list_files(&self, project: &ProjectId, query: &FileQuery) -> Result<(Vec<FileInfo>, u64)> {
        self.file_list(project, query)
    }

    fn get_file(&self, project: &ProjectId, file_id: &str) -> Result<FileInfo> {
        self.file_get(project, file_id)
    }

    fn open_file(&self, project: &ProjectId, file_id: &str) -> Result<(FileInfo, std::fs::File)> {
        self.file_open(project, file_id)
    }

    fn set_file_tags(&self, project: &ProjectId, file_id: &str, tags: &[String]) -> Result<FileInfo> {
        self.file_set_tags(project, file_id, tags)
    }

    fn delete_file(&self, project: &ProjectId, file_id: &str) -> Result<()> {
        self.file_delete(project, file_id)
    }

    fn sweep_expired_uploads(&self) -> Result<u64> {
        self.uploads_sweep()
    }

    fn create_job(&self, new: &NewJob) -> Result<Job> {
        self.job_create(new)
    }

    fn start_job(&self, job_id: &str) -> Result<()> {
        self.job_start(job_id)
    }

    fn run_job(&self, job: &RunningJob, work: &mut dyn FnMut() -> JobOutcome) -> JobOutcome {
        self.job_run(job, work)
    }

    fn finish_job(
        &self,
        job_id: &str,
        outcome: std::result::Result<(JobProgress, Value), StorageError>,
    ) -> Result<Job> {
        self.job_finish(job_id, outcome)
    }

    fn get_job(&self, project: &ProjectId, job_id: &str) -> Result<Job> {
        let key = (project.clone(), job_id.to_owned());
        self.memos.jobs.get(&self.catalog_epoch, &key, || self.job_get(project, job_id))
    }

    fn list_jobs(&self, project: &ProjectId, page: Page) -> Result<(Vec<Job>, u64)> {
        self.job_list(project, page)
    }

    fn recover_interrupted_jobs(&self) -> Result<u64> {
        self.jobs_recover()
    }
}

/// The linked DuckDB library's version, e.g. `v1.5.5`.
fn duckdb_version() -> String {
    // SAFETY: duckdb_library_version returns a static NUL-terminated string.
    unsafe { std::ffi::CStr::from_ptr(duckdb::ffi::duckdb_library_version()) }.to_string_lossy().into_owned()
}
