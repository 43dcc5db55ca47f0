//! Dev branches: list, read, create (as a job for faces that poll), delete.

use duckstore_plugin_sdk::jobs::Job;
use duckstore_plugin_sdk::model::{Branch, NewBranch};
use duckstore_plugin_sdk::names::{BranchRef, ProjectId};

use crate::auth::{Access, Principal};
use crate::service::jobs::new_job;
use crate::service::{Service, ServiceResult, Wait};

impl Service {
    pub async fn list_branches(&self, who: &Principal, project: ProjectId) -> ServiceResult<Vec<Branch>> {
        who.authorize(&project, None, Access::Read)?;
        Ok(self.storage.run(move |s| s.list_branches(&project)).await?)
    }

    pub async fn branch(&self, who: &Principal, at: BranchRef) -> ServiceResult<Branch> {
        who.authorize(&at.project, Some(&at.branch), Access::Read)?;
        Ok(self.storage.run(move |s| s.get_branch(&at)).await?)
    }

    pub async fn create_branch(&self, who: &Principal, project: ProjectId, new: NewBranch) -> ServiceResult<Branch> {
        who.authorize(&project, None, Access::Manage)?;
        let actor = who.label();
        Ok(self.storage.run(move |s| s.create_branch(&project, &new, &actor)).await?)
    }

    /// [`Self::create_branch`] as a job (`dev_branch_create`); its result is the branch.
    pub async fn start_branch_create(&self, who: &Principal, project: ProjectId, new: NewBranch) -> ServiceResult<Job> {
        who.authorize(&project, None, Access::Manage)?;
        let job = new_job(who, &project, None, "dev_branch_create", None);
        let actor = who.label();
        self.start_job(job, Wait::Settle, move |s| {
            let branch = s.create_branch(&project, &new, &actor)?;
            Ok((Default::default(), serde_json::json!(branch)))
        })
        .await
    }

    pub async fn delete_branch(&self, who: &Principal, at: BranchRef) -> ServiceResult<()> {
        who.authorize(&at.project, None, Access::Manage)?;
        Ok(self.storage.run(move |s| s.delete_branch(&at)).await?)
    }

    /// [`Self::delete_branch`] as a job (`dev_branch_delete`).
    pub async fn start_branch_delete(&self, who: &Principal, at: BranchRef) -> ServiceResult<Job> {
        who.authorize(&at.project, None, Access::Manage)?;
        let check = at.clone();
        self.storage.run(move |s| s.get_branch(&check)).await?;
        let job = new_job(who, &at.project, None, "dev_branch_delete", None);
        self.start_job(job, Wait::Settle, move |s| {
            s.delete_branch(&at)?;
            Ok(Default::default())
        })
        .await
    }
}
