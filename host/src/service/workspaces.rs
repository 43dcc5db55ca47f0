//! SQL workspaces: create (with a password shown once), list, read, delete, reset the
//! password, and load project tables into one as a job.

use duckstore_plugin_sdk::jobs::{Job, JobProgress};
use duckstore_plugin_sdk::names::BranchRef;
use duckstore_plugin_sdk::workspaces::{Connection, LoadRequest, NewWorkspace, Workspace, WorkspaceDetail};

use crate::auth::{Access, Principal};
use crate::pg::auth::{new_password, verifier};
use crate::service::jobs::new_job;
use crate::service::{Service, ServiceResult, Wait};

impl Service {
    /// Adds how to connect; `password` only when it was just set.
    fn with_connection(&self, mut ws: Workspace, password: Option<String>) -> Workspace {
        ws.connection = Some(Connection {
            host: self.pg.host.clone(),
            port: self.pg.port,
            database: ws.id.clone(),
            username: ws.id.clone(),
            password,
        });
        ws
    }

    /// Creates a workspace; the answer holds its password, shown only this once (only its
    /// SCRAM verifier is stored).
    pub async fn create_workspace(
        &self,
        who: &Principal,
        at: BranchRef,
        new: NewWorkspace,
    ) -> ServiceResult<Workspace> {
        who.authorize(&at.project, Some(&at.branch), Access::Write)?;
        let password = new_password();
        let verifier = verifier(&password);
        let actor = who.label();
        let ws = self.storage.run(move |s| s.create_workspace(&at, &new, &verifier, &actor)).await?;
        Ok(self.with_connection(ws, Some(password)))
    }

    pub async fn list_workspaces(&self, who: &Principal, at: BranchRef) -> ServiceResult<Vec<Workspace>> {
        who.authorize(&at.project, Some(&at.branch), Access::Read)?;
        let list = self.storage.run(move |s| s.list_workspaces(&at)).await?;
        Ok(list.into_iter().map(|w| self.with_connection(w, None)).collect())
    }

    pub async fn workspace(&self, who: &Principal, at: BranchRef, id: String) -> ServiceResult<WorkspaceDetail> {
        who.authorize(&at.project, Some(&at.branch), Access::Read)?;
        let mut detail = self.storage.run(move |s| s.get_workspace(&at, &id)).await?;
        detail.workspace = self.with_connection(detail.workspace, None);
        Ok(detail)
    }

    /// Drops every table and view in the workspace.
    pub async fn clear_workspace(&self, who: &Principal, at: BranchRef, id: String) -> ServiceResult<WorkspaceDetail> {
        who.authorize(&at.project, Some(&at.branch), Access::Write)?;
        let mut detail = self.storage.run(move |s| s.clear_workspace(&at, &id)).await?;
        detail.workspace = self.with_connection(detail.workspace, None);
        Ok(detail)
    }

    pub async fn delete_workspace(&self, who: &Principal, at: BranchRef, id: String) -> ServiceResult<()> {
        who.authorize(&at.project, Some(&at.branch), Access::Write)?;
        Ok(self.storage.run(move |s| s.delete_workspace(&at, &id)).await?)
    }

    /// Replaces the workspace's password; the new one is in the answer, shown this once.
    pub async fn reset_workspace_password(
        &self,
        who: &Principal,
        at: BranchRef,
        id: String,
    ) -> ServiceResult<Workspace> {
        who.authorize(&at.project, Some(&at.branch), Access::Write)?;
        let password = new_password();
        let verifier = verifier(&password);
        let ws = self.storage.run(move |s| s.set_workspace_verifier(&at, &id, &verifier)).await?;
        Ok(self.with_connection(ws, Some(password)))
    }

    /// Copies project tables into a workspace as a job (`workspace_load`); without
    /// `preserve` the workspace is emptied first.
    pub async fn start_workspace_load(
        &self,
        who: &Principal,
        at: BranchRef,
        id: String,
        request: LoadRequest,
        preserve: bool,
        wait: Wait,
    ) -> ServiceResult<Job> {
        who.authorize(&at.project, Some(&at.branch), Access::Write)?;
        let check = (at.clone(), id.clone());
        self.storage.run(move |s| s.get_workspace(&check.0, &check.1)).await?;
        let new = new_job(who, &at.project, Some(&at.branch), "workspace_load", None);
        self.start_job(new, wait, move |s| {
            if !preserve {
                s.clear_workspace(&at, &id)?;
            }
            let result = s.load_workspace(&at, &id, &request)?;
            let rows = result.loaded.iter().map(|t| t.rows).sum();
            Ok((JobProgress { rows, bytes: 0 }, serde_json::json!(result)))
        })
        .await
    }
}
