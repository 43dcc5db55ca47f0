//! Buckets: list, read, create, delete (at once or as a job).

use duckstore_plugin_sdk::jobs::Job;
use duckstore_plugin_sdk::model::{Bucket, NewBucket};
use duckstore_plugin_sdk::names::{BranchRef, BucketRef};

use crate::auth::{Access, Principal};
use crate::service::jobs::new_job;
use crate::service::{Service, ServiceResult, Wait};

impl Service {
    pub async fn list_buckets(&self, who: &Principal, at: BranchRef) -> ServiceResult<Vec<Bucket>> {
        who.authorize(&at.project, Some(&at.branch), Access::Read)?;
        Ok(self.storage.run(move |s| s.list_buckets(&at)).await?)
    }

    pub async fn bucket(&self, who: &Principal, at: BucketRef) -> ServiceResult<Bucket> {
        who.authorize(&at.project, Some(&at.branch), Access::Read)?;
        Ok(self.storage.run(move |s| s.get_bucket(&at)).await?)
    }

    pub async fn create_bucket(&self, who: &Principal, at: BranchRef, new: NewBucket) -> ServiceResult<Bucket> {
        who.authorize(&at.project, Some(&at.branch), Access::Write)?;
        Ok(self.storage.run(move |s| s.create_bucket(&at, &new)).await?)
    }

    /// Deletes a bucket; with `cascade` also its tables (else a bucket with tables is refused).
    pub async fn delete_bucket(&self, who: &Principal, at: BucketRef, cascade: bool) -> ServiceResult<()> {
        who.authorize(&at.project, Some(&at.branch), Access::Write)?;
        let actor = who.label();
        Ok(self.storage.run(move |s| s.delete_bucket(&at, cascade, &actor)).await?)
    }

    /// [`Self::delete_bucket`] as a job (`bucket_delete`), for faces whose clients poll; its
    /// record as it stands after a moment. The bucket must exist when the job is created, so
    /// a wrong id is refused at once.
    pub async fn start_bucket_delete(&self, who: &Principal, at: BucketRef, cascade: bool) -> ServiceResult<Job> {
        who.authorize(&at.project, Some(&at.branch), Access::Write)?;
        let check = at.clone();
        self.storage.run(move |s| s.get_bucket(&check)).await?;
        let new = new_job(who, &at.project, Some(&at.branch), "bucket_delete", None);
        let actor = who.label();
        let work = move |s: &dyn duckstore_plugin_sdk::StorageBackend| {
            s.delete_bucket(&at, cascade, &actor)?;
            Ok(Default::default())
        };
        self.start_job(new, Wait::Settle, work).await
    }
}
