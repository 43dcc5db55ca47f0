//! The operations that cross the C ABI as JSON, listed once.
//!
//! [`storage_ops!`] hands the list to a macro of the caller's: the host expands it into
//! its adapter's `StorageBackend` impl, the engine side into its dispatcher, so the two
//! cannot drift apart. Every [`StorageBackend`](crate::StorageBackend) method is here
//! except those that move something other than JSON: `info` (asked once at load),
//! `import_rows` (Arrow stream), `open_upload`/`open_file` (file descriptors) and
//! `open_sql_session` (not in ABI 1).

use serde::de::DeserializeOwned;

use crate::model::*;
use crate::names::*;
use crate::{audit, files, jobs, query, schema, settings, snapshots, transfer, workspaces};

/// Invokes `$callback! { fn name(arg: Type, …) -> Output; … }` with every JSON operation.
#[macro_export]
macro_rules! storage_ops {
    ($callback:ident) => {
        $callback! {
            fn health() -> ();
            fn admin_key_hash() -> Option<$crate::model::KeyHash>;
            fn set_admin_key_hash(hash: &$crate::model::KeyHash) -> ();
            fn create_project(new: &$crate::model::NewProject, admin_key: &$crate::model::StoredApiKey) -> $crate::model::Project;
            fn list_projects(page: $crate::model::Page) -> (Vec<$crate::model::Project>, u64);
            fn get_project(id: &$crate::names::ProjectId) -> $crate::model::Project;
            fn update_project(id: &$crate::names::ProjectId, update: &$crate::model::ProjectUpdate) -> $crate::model::Project;
            fn delete_project(id: &$crate::names::ProjectId) -> ();
            fn project_stats(id: &$crate::names::ProjectId) -> $crate::model::ProjectStats;
            fn create_api_key(key: &$crate::model::StoredApiKey) -> $crate::model::ApiKey;
            fn find_api_key(key_id: &str) -> Option<$crate::model::StoredApiKey>;
            fn list_api_keys(project: &$crate::names::ProjectId) -> Vec<$crate::model::ApiKey>;
            fn get_api_key(project: &$crate::names::ProjectId, key_id: &str) -> $crate::model::ApiKey;
            fn revoke_api_key(project: &$crate::names::ProjectId, key_id: &str) -> ();
            fn rotate_api_key(project: &$crate::names::ProjectId, key_id: &str, new_hash: &$crate::model::KeyHash) -> $crate::model::ApiKey;
            fn touch_api_key(key_id: &str) -> ();
            fn get_branch(at: &$crate::names::BranchRef) -> $crate::model::Branch;
            fn list_branches(project: &$crate::names::ProjectId) -> Vec<$crate::model::Branch>;
            fn create_branch(project: &$crate::names::ProjectId, new: &$crate::model::NewBranch, actor: &str) -> $crate::model::Branch;
            fn delete_branch(at: &$crate::names::BranchRef) -> ();
            fn pull_table(table: &$crate::names::TableRef) -> $crate::model::Table;
            fn merge_table(table: &$crate::names::TableRef, actor: &str) -> $crate::model::Table;
            fn create_bucket(at: &$crate::names::BranchRef, new: &$crate::model::NewBucket) -> $crate::model::Bucket;
            fn list_buckets(at: &$crate::names::BranchRef) -> Vec<$crate::model::Bucket>;
            fn get_bucket(bucket: &$crate::names::BucketRef) -> $crate::model::Bucket;
            fn delete_bucket(bucket: &$crate::names::BucketRef, cascade: bool, actor: &str) -> ();
            fn share_bucket(bucket: &$crate::names::BucketRef, target: &str) -> $crate::model::Bucket;
            fn unshare_bucket(bucket: &$crate::names::BucketRef, target: Option<&str>) -> $crate::model::Bucket;
            fn link_bucket(bucket: &$crate::names::BucketRef, source: &$crate::model::BucketLink) -> $crate::model::Bucket;
            fn unlink_bucket(bucket: &$crate::names::BucketRef) -> ();
            fn create_table(bucket: &$crate::names::BucketRef, new: &$crate::model::NewTable) -> $crate::model::Table;
            fn list_tables(bucket: &$crate::names::BucketRef) -> Vec<$crate::model::Table>;
            fn get_table(table: &$crate::names::TableRef) -> $crate::model::Table;
            fn delete_table(table: &$crate::names::TableRef, actor: &str) -> ();
            fn preview(table: &$crate::names::TableRef, query: &$crate::query::RowQuery) -> $crate::model::Preview;
            fn add_column(table: &$crate::names::TableRef, column: &$crate::schema::ColumnDef) -> $crate::model::Table;
            fn drop_column(table: &$crate::names::TableRef, column: &$crate::names::ColumnName, actor: &str) -> $crate::model::Table;
            fn alter_column(table: &$crate::names::TableRef, column: &$crate::names::ColumnName, change: &$crate::schema::ColumnChange) -> $crate::model::Table;
            fn set_primary_key(table: &$crate::names::TableRef, columns: &[$crate::names::ColumnName]) -> $crate::model::Table;
            fn drop_primary_key(table: &$crate::names::TableRef) -> $crate::model::Table;
            fn delete_rows(table: &$crate::names::TableRef, selection: &$crate::query::RowSelection, actor: &str) -> u64;
            fn truncate_table(table: &$crate::names::TableRef, actor: &str) -> u64;
            fn import_table(table: &$crate::names::TableRef, request: &$crate::transfer::ImportRequest, actor: &str) -> $crate::transfer::ImportResult;
            fn create_table_from_file(bucket: &$crate::names::BucketRef, request: &$crate::transfer::NewTableFromFile, actor: &str) -> ($crate::model::Table, $crate::transfer::ImportResult);
            fn export_table(table: &$crate::names::TableRef, request: &$crate::transfer::ExportRequest) -> $crate::files::FileInfo;
            fn create_snapshot(at: &$crate::names::BranchRef, new: &$crate::snapshots::NewSnapshot, actor: &str) -> $crate::snapshots::Snapshot;
            fn list_snapshots(at: &$crate::names::BranchRef, query: &$crate::snapshots::SnapshotQuery) -> Vec<$crate::snapshots::Snapshot>;
            fn get_snapshot(at: &$crate::names::BranchRef, snapshot_id: &str) -> $crate::snapshots::SnapshotDetail;
            fn delete_snapshot(at: &$crate::names::BranchRef, snapshot_id: &str) -> ();
            fn restore_snapshot(at: &$crate::names::BranchRef, snapshot_id: &str, request: &$crate::snapshots::RestoreRequest, actor: &str) -> $crate::snapshots::RestoreResult;
            fn sweep_expired_snapshots() -> u64;
            fn snapshot_settings(scope: &$crate::settings::SettingsScope) -> $crate::settings::SettingsView;
            fn update_snapshot_settings(scope: &$crate::settings::SettingsScope, patch: &$crate::settings::SnapshotSettingsPatch) -> $crate::settings::SettingsView;
            fn clear_snapshot_settings(scope: &$crate::settings::SettingsScope) -> $crate::settings::SettingsView;
            fn record_audit(event: &$crate::audit::AuditEvent) -> ();
            fn list_audit(query: &$crate::audit::AuditQuery) -> (Vec<$crate::audit::AuditEvent>, u64);
            fn sweep_audit(before: ::chrono::DateTime<::chrono::Utc>) -> u64;
            fn create_workspace(at: &$crate::names::BranchRef, new: &$crate::workspaces::NewWorkspace, verifier: &str, actor: &str) -> $crate::workspaces::Workspace;
            fn list_workspaces(at: &$crate::names::BranchRef) -> Vec<$crate::workspaces::Workspace>;
            fn get_workspace(at: &$crate::names::BranchRef, id: &str) -> $crate::workspaces::WorkspaceDetail;
            fn delete_workspace(at: &$crate::names::BranchRef, id: &str) -> ();
            fn clear_workspace(at: &$crate::names::BranchRef, id: &str) -> $crate::workspaces::WorkspaceDetail;
            fn drop_workspace_object(at: &$crate::names::BranchRef, id: &str, object: &str) -> ();
            fn set_workspace_verifier(at: &$crate::names::BranchRef, id: &str, verifier: &str) -> $crate::workspaces::Workspace;
            fn load_workspace(at: &$crate::names::BranchRef, id: &str, request: &$crate::workspaces::LoadRequest) -> $crate::workspaces::LoadResult;
            fn find_workspace(id: &str) -> Option<$crate::workspaces::StoredWorkspace>;
            fn sweep_expired_workspaces() -> u64;
            fn prepare_upload(project: &$crate::names::ProjectId, new: &$crate::files::NewUpload) -> $crate::files::Upload;
            fn abort_upload(project: &$crate::names::ProjectId, upload_key: &str) -> ();
            fn finish_upload(project: &$crate::names::ProjectId, upload_key: &str, size: u64, sha256: &str) -> $crate::files::Upload;
            fn register_file(project: &$crate::names::ProjectId, upload_key: &str) -> $crate::files::FileInfo;
            fn list_files(project: &$crate::names::ProjectId, query: &$crate::files::FileQuery) -> (Vec<$crate::files::FileInfo>, u64);
            fn get_file(project: &$crate::names::ProjectId, file_id: &str) -> $crate::files::FileInfo;
            fn set_file_tags(project: &$crate::names::ProjectId, file_id: &str, tags: &[String]) -> $crate::files::FileInfo;
            fn delete_file(project: &$crate::names::ProjectId, file_id: &str) -> ();
            fn sweep_expired_uploads() -> u64;
            fn create_job(new: &$crate::jobs::NewJob) -> $crate::jobs::Job;
            fn start_job(job_id: &str) -> ();
            fn finish_job(job_id: &str, outcome: ::std::result::Result<($crate::jobs::JobProgress, ::serde_json::Value), $crate::StorageError>) -> $crate::jobs::Job;
            fn get_job(project: &$crate::names::ProjectId, job_id: &str) -> $crate::jobs::Job;
            fn list_jobs(project: &$crate::names::ProjectId, page: $crate::model::Page) -> (Vec<$crate::jobs::Job>, u64);
            fn recover_interrupted_jobs() -> u64;
        }
    };
}

/// How an argument is rebuilt on the engine side: deserialized into `Owned`, then lent to
/// the method in the form its signature takes.
pub trait Arg<'a> {
    type Owned: DeserializeOwned;
    fn lend(owned: &'a Self::Owned) -> Self;
}

macro_rules! by_reference {
    ($($ty:ty),* $(,)?) => {$(
        impl<'a> Arg<'a> for &'a $ty {
            type Owned = $ty;
            fn lend(owned: &'a $ty) -> Self {
                owned
            }
        }
    )*};
}

macro_rules! by_value {
    ($($ty:ty),* $(,)?) => {$(
        impl<'a> Arg<'a> for $ty {
            type Owned = $ty;
            fn lend(owned: &'a $ty) -> Self {
                owned.clone()
            }
        }
    )*};
}

by_reference!(
    KeyHash,
    NewProject,
    StoredApiKey,
    ProjectId,
    ProjectUpdate,
    BranchRef,
    NewBranch,
    TableRef,
    BucketRef,
    NewBucket,
    BucketLink,
    NewTable,
    query::RowQuery,
    schema::ColumnDef,
    ColumnName,
    schema::ColumnChange,
    query::RowSelection,
    transfer::ImportRequest,
    transfer::NewTableFromFile,
    transfer::ExportRequest,
    snapshots::NewSnapshot,
    snapshots::SnapshotQuery,
    snapshots::RestoreRequest,
    settings::SettingsScope,
    settings::SnapshotSettingsPatch,
    audit::AuditEvent,
    audit::AuditQuery,
    workspaces::NewWorkspace,
    workspaces::LoadRequest,
    files::NewUpload,
    files::FileQuery,
    jobs::NewJob,
);

by_value!(
    Page,
    bool,
    u64,
    chrono::DateTime<chrono::Utc>,
    Result<(jobs::JobProgress, serde_json::Value), crate::StorageError>,
);

impl<'a> Arg<'a> for &'a str {
    type Owned = String;
    fn lend(owned: &'a String) -> Self {
        owned
    }
}

impl<'a> Arg<'a> for Option<&'a str> {
    type Owned = Option<String>;
    fn lend(owned: &'a Option<String>) -> Self {
        owned.as_deref()
    }
}

impl<'a, T: DeserializeOwned> Arg<'a> for &'a [T] {
    type Owned = Vec<T>;
    fn lend(owned: &'a Vec<T>) -> Self {
        owned
    }
}
