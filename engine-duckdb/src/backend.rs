//! `StorageBackend` for [`DuckEngine`]: each method delegates to its resource module.

use duckstore_plugin_sdk::model::{
    ApiKey, Branch, Bucket, KeyHash, NewBucket, NewProject, NewTable, Page, Preview, Project, ProjectStats,
    ProjectUpdate, StoredApiKey, Table,
};
use duckstore_plugin_sdk::names::{BranchRef, BucketRef, ProjectId, TableRef};
use duckstore_plugin_sdk::query::RowQuery;
use duckstore_plugin_sdk::{BackendInfo, Result, StorageBackend, StorageError};

use crate::DuckEngine;
use crate::error::db_err;

impl StorageBackend for DuckEngine {
    fn info(&self) -> BackendInfo {
        BackendInfo { name: "duckdb".into(), version: duckdb_version() }
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
        self.api_key_find(key_id)
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

    fn create_bucket(&self, at: &BranchRef, new: &NewBucket) -> Result<Bucket> {
        self.bucket_create(at, new)
    }

    fn list_buckets(&self, at: &BranchRef) -> Result<Vec<Bucket>> {
        self.bucket_list(at)
    }

    fn get_bucket(&self, bucket: &BucketRef) -> Result<Bucket> {
        self.bucket_get(bucket)
    }

    fn delete_bucket(&self, bucket: &BucketRef, cascade: bool) -> Result<()> {
        self.bucket_delete(bucket, cascade)
    }

    fn create_table(&self, bucket: &BucketRef, new: &NewTable) -> Result<Table> {
        self.table_create(bucket, new)
    }

    fn list_tables(&self, bucket: &BucketRef) -> Result<Vec<Table>> {
        self.table_list(bucket)
    }

    fn get_table(&self, table: &TableRef) -> Result<Table> {
        self.table_get(table)
    }

    fn delete_table(&self, table: &TableRef) -> Result<()> {
        self.table_delete(table)
    }

    fn preview(&self, table: &TableRef, query: &RowQuery) -> Result<Preview> {
        self.table_preview(table, query)
    }
}

/// The linked DuckDB library's version, e.g. `v1.5.5`.
fn duckdb_version() -> String {
    // SAFETY: duckdb_library_version returns a static NUL-terminated string.
    unsafe { std::ffi::CStr::from_ptr(duckdb::ffi::duckdb_library_version()) }.to_string_lossy().into_owned()
}
