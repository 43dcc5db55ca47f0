//! Moving rows as jobs: import into a table, create a table from a file.

use serde_json::json;

use duckstore_plugin_sdk::jobs::{Job, JobProgress};
use duckstore_plugin_sdk::names::{BucketRef, TableRef};
use duckstore_plugin_sdk::transfer::{ImportRequest, NewTableFromFile};

use crate::auth::{Access, Principal};
use crate::service::jobs::new_job;
use crate::service::{Service, ServiceResult, Wait};

impl Service {
    /// Loads a file or another table's rows into a table (`table_import`): a full load
    /// replaces its rows atomically, an incremental one upserts by primary key.
    pub async fn start_import(
        &self,
        who: &Principal,
        table: TableRef,
        request: ImportRequest,
        wait: Wait,
    ) -> ServiceResult<Job> {
        who.authorize(&table.project, Some(&table.branch), Access::Write)?;
        if let Some(source) = &request.source_table {
            who.authorize(&table.project, Some(source.branch_id.as_ref().unwrap_or(&table.branch)), Access::Read)?;
        }
        let new = new_job(who, &table.project, Some(&table.branch), "table_import", Some(table.table_id()));
        let actor = who.label();
        let plugins = self.plugins.clone();
        self.start_job(new, wait, move |s| {
            let result = crate::imports::import(&plugins, s, &table, &request, &actor)?;
            Ok((JobProgress { rows: result.rows_imported, bytes: result.bytes_read }, json!(result)))
        })
        .await
    }

    /// Creates a table shaped like a file and loads the file into it (`table_create`).
    pub async fn start_table_from_file(
        &self,
        who: &Principal,
        bucket: BucketRef,
        request: NewTableFromFile,
        wait: Wait,
    ) -> ServiceResult<Job> {
        who.authorize(&bucket.project, Some(&bucket.branch), Access::Write)?;
        let table_id = format!("{}.{}", bucket.bucket, request.name);
        let new = new_job(who, &bucket.project, Some(&bucket.branch), "table_create", Some(table_id));
        let actor = who.label();
        self.start_job(new, wait, move |s| {
            let (table, result) = s.create_table_from_file(&bucket, &request, &actor)?;
            Ok((
                JobProgress { rows: result.rows_imported, bytes: result.bytes_read },
                json!({"id": table.id, "table": table, "import": result}),
            ))
        })
        .await
    }
}

impl Service {
    /// Writes the selected rows of a table to a new registered file (`table_export`).
    pub async fn start_export(
        &self,
        who: &Principal,
        table: TableRef,
        request: duckstore_plugin_sdk::transfer::ExportRequest,
        wait: Wait,
    ) -> ServiceResult<Job> {
        who.authorize(&table.project, Some(&table.branch), Access::Read)?;
        let new = new_job(who, &table.project, Some(&table.branch), "table_export", Some(table.table_id()));
        self.start_job(new, wait, move |s| {
            let file = s.export_table(&table, &request)?;
            Ok((JobProgress { rows: 0, bytes: file.size_bytes }, json!({"file": file})))
        })
        .await
    }
}
