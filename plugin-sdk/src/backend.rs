//! The StorageBackend trait: everything the host asks of a storage engine.
//!
//! Methods are synchronous and may block on disk I/O; the host calls them from blocking
//! worker threads, never from the async runtime. Keeping the trait synchronous lets an
//! engine be a plain library (including a native one behind a C ABI) without an executor.
//!
//! The backend validates everything that concerns stored state (existence, uniqueness,
//! types, the last admin key) and is the only thing that touches data files. The host owns
//! everything about callers: authentication, authorization, HTTP and PG-wire framing.

use crate::error::Result;
use crate::model::{
    ApiKey, Branch, Bucket, KeyHash, NewBucket, NewProject, NewTable, Page, Preview, Project, ProjectStats,
    ProjectUpdate, StoredApiKey, Table,
};
use crate::names::{BranchRef, BucketRef, ProjectId, TableRef};
use crate::query::RowQuery;

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
}
