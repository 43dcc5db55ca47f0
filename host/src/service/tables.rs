//! Tables: list (in a bucket or in a whole branch) and read.

use duckstore_plugin_sdk::jobs::Job;
use duckstore_plugin_sdk::model::{Preview, Table};
use duckstore_plugin_sdk::names::{BranchRef, BucketRef, TableRef};
use duckstore_plugin_sdk::query::RowQuery;

use crate::auth::{Access, Principal};
use crate::service::jobs::new_job;
use crate::service::{Service, ServiceResult, Wait};

impl Service {
    pub async fn list_tables(&self, who: &Principal, at: BucketRef) -> ServiceResult<Vec<Table>> {
        who.authorize(&at.project, Some(&at.branch), Access::Read)?;
        Ok(self.storage.run(move |s| s.list_tables(&at)).await?)
    }

    /// Every table of every bucket of a branch, bucket by bucket.
    pub async fn list_branch_tables(&self, who: &Principal, at: BranchRef) -> ServiceResult<Vec<Table>> {
        who.authorize(&at.project, Some(&at.branch), Access::Read)?;
        Ok(self
            .storage
            .run(move |s| {
                let mut tables = Vec::new();
                for bucket in s.list_buckets(&at)? {
                    let bucket =
                        BucketRef { project: at.project.clone(), branch: at.branch.clone(), bucket: bucket.id };
                    tables.extend(s.list_tables(&bucket)?);
                }
                Ok(tables)
            })
            .await?)
    }

    pub async fn table(&self, who: &Principal, at: TableRef) -> ServiceResult<Table> {
        who.authorize(&at.project, Some(&at.branch), Access::Read)?;
        Ok(self.storage.run(move |s| s.get_table(&at)).await?)
    }
}

impl Service {
    /// Rows of a table as `query` selects them.
    pub async fn preview(&self, who: &Principal, at: TableRef, query: RowQuery) -> ServiceResult<Preview> {
        who.authorize(&at.project, Some(&at.branch), Access::Read)?;
        Ok(self.storage.run(move |s| s.preview(&at, &query)).await?)
    }

    pub async fn delete_table(&self, who: &Principal, at: TableRef) -> ServiceResult<()> {
        who.authorize(&at.project, Some(&at.branch), Access::Write)?;
        let actor = who.label();
        Ok(self.storage.run(move |s| s.delete_table(&at, &actor)).await?)
    }

    /// [`Self::delete_table`] as a job (`table_delete`); the table must exist when it starts.
    pub async fn start_table_delete(&self, who: &Principal, at: TableRef) -> ServiceResult<Job> {
        self.start_table_job(who, at, "table_delete", |s, at, actor| {
            s.delete_table(at, actor)?;
            Ok(Default::default())
        })
        .await
    }

    /// Runs `work` on an existing table as job `kind` (answered after up to a moment): the
    /// caller must be able to write it, and a table that does not exist is refused at once.
    async fn start_table_job<F>(&self, who: &Principal, at: TableRef, kind: &str, work: F) -> ServiceResult<Job>
    where
        F: FnOnce(&dyn duckstore_plugin_sdk::StorageBackend, &TableRef, &str) -> crate::jobs::Outcome + Send + 'static,
    {
        who.authorize(&at.project, Some(&at.branch), Access::Write)?;
        let check = at.clone();
        self.storage.run(move |s| s.get_table(&check)).await?;
        let new = new_job(who, &at.project, Some(&at.branch), kind, Some(at.table_id()));
        let actor = who.label();
        self.start_job(new, Wait::Settle, move |s| work(s, &at, &actor)).await
    }
}

/// What a schema change does to the table, given the engine, the table and the actor.
type TableChange = Box<
    dyn FnOnce(&dyn duckstore_plugin_sdk::StorageBackend, &TableRef, &str) -> duckstore_plugin_sdk::Result<Table>
        + Send,
>;

impl Service {
    /// Runs a schema change (add or drop a column, set or drop the primary key) as job
    /// `kind`; its result is the changed table.
    pub async fn start_table_change(
        &self,
        who: &Principal,
        at: TableRef,
        kind: &str,
        change: TableChange,
    ) -> ServiceResult<Job> {
        self.start_table_job(who, at, kind, move |s, at, actor| {
            let table = change(s, at, actor)?;
            Ok((Default::default(), serde_json::json!(table)))
        })
        .await
    }
}

impl Service {
    /// Creates an empty table from its definition, as a job (`table_definition_create`);
    /// its result holds the table and its `id`.
    pub async fn start_table_create(
        &self,
        who: &Principal,
        bucket: BucketRef,
        new: duckstore_plugin_sdk::model::NewTable,
    ) -> ServiceResult<Job> {
        who.authorize(&bucket.project, Some(&bucket.branch), Access::Write)?;
        let job = new_job(
            who,
            &bucket.project,
            Some(&bucket.branch),
            "table_definition_create",
            Some(format!("{}.{}", bucket.bucket, new.name)),
        );
        self.start_job(job, Wait::Settle, move |s| {
            let table = s.create_table(&bucket, &new)?;
            Ok((Default::default(), serde_json::json!({"id": table.id, "table": table})))
        })
        .await
    }
}

impl Service {
    /// Deletes the rows a selection names, as a job (`table_rows_delete`); its result says
    /// how many. An empty selection (every row) must be asked for with `all`.
    pub async fn start_rows_delete(
        &self,
        who: &Principal,
        at: TableRef,
        selection: duckstore_plugin_sdk::query::RowSelection,
        all: bool,
    ) -> ServiceResult<Job> {
        who.authorize(&at.project, Some(&at.branch), Access::Write)?;
        if selection.is_everything() && !all {
            return Err(duckstore_plugin_sdk::StorageError::invalid(
                "unfiltered_delete",
                "no filter selects the rows to delete; confirm deleting every row",
            )
            .into());
        }
        self.start_table_job(who, at, "table_rows_delete", move |s, at, actor| {
            let deleted = s.delete_rows(at, &selection, actor)?;
            Ok((
                duckstore_plugin_sdk::jobs::JobProgress { rows: deleted, bytes: 0 },
                serde_json::json!({"deletedRows": deleted}),
            ))
        })
        .await
    }
}
