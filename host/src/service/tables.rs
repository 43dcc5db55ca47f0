//! Tables: list (in a bucket or in a whole branch) and read.

use duckstore_plugin_sdk::model::Table;
use duckstore_plugin_sdk::names::{BranchRef, BucketRef, TableRef};

use crate::auth::{Access, Principal};
use crate::service::{Service, ServiceResult};

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
