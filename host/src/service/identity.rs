//! Who the caller is: their key, its project and the buckets it reaches.

use chrono::Utc;

use duckstore_plugin_sdk::model::{ApiKey, Bucket, Project};
use duckstore_plugin_sdk::names::{BranchRef, ProjectId};

use crate::auth::{Access, Principal};
use crate::service::{Service, ServiceError, ServiceResult};

/// A caller's key (or what an auth plugin granted, in a key's shape), its project, and the
/// buckets of the branch it works on.
pub struct Identity {
    pub key: ApiKey,
    pub project: Project,
    pub buckets: Vec<Bucket>,
}

impl Service {
    pub async fn identity(&self, who: &Principal, at: BranchRef) -> ServiceResult<Identity> {
        who.authorize(&at.project, Some(&at.branch), Access::Read)?;
        let key = match who {
            Principal::Key { id, project, .. } => {
                let (id, project) = (id.clone(), project.clone());
                self.storage.run(move |s| s.get_api_key(&project, &id)).await?
            }
            Principal::External { label, grants } => {
                let grant = grants
                    .iter()
                    .find(|g| g.project == at.project)
                    .ok_or_else(|| ServiceError::forbidden("you have no grant for this project"))?;
                ApiKey {
                    id: label.clone(),
                    project_id: grant.project.clone(),
                    branch_id: grant.branch.clone(),
                    scope: grant.scope,
                    description: label.clone(),
                    key_prefix: String::new(),
                    created_at: Utc::now(),
                    last_used_at: None,
                    expires_at: None,
                    is_revoked: false,
                }
            }
            Principal::Admin => return Err(ServiceError::forbidden("the admin key belongs to no project")),
        };
        let project_id = at.project.clone();
        let project = self.storage.run(move |s| s.get_project(&project_id)).await?;
        let buckets = self.storage.run(move |s| s.list_buckets(&at)).await?;
        Ok(Identity { key, project, buckets })
    }
}

impl Service {
    /// The principal behind key `key_id` of `project`, if the key is still live: what a
    /// signed transfer URL acts as (revoking the key revokes the URLs it signed).
    pub async fn key_principal(&self, project: &ProjectId, key_id: &str) -> ServiceResult<Principal> {
        let id = key_id.to_owned();
        let stored = self.storage.run(move |s| s.find_api_key(&id)).await?;
        let key = stored
            .map(|k| k.key)
            .filter(|k| &k.project_id == project && !k.is_revoked && k.expires_at.is_none_or(|t| t > Utc::now()));
        let key =
            key.ok_or_else(|| ServiceError::unauthenticated("invalid_token", "the key that signed this is gone"))?;
        Ok(Principal::Key { id: key.id, project: key.project_id, scope: key.scope, branch: key.branch_id })
    }
}
