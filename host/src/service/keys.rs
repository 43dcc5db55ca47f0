//! A project's API keys (Keboola's tokens): create, list, read, revoke, rotate.

use chrono::{DateTime, Utc};

use duckstore_plugin_sdk::model::{ApiKey, Scope};
use duckstore_plugin_sdk::names::{BranchId, ProjectId};

use crate::auth::{Access, Principal, new_project_key, rotated_secret};
use crate::service::{Service, ServiceResult};

/// A key as created: its record and the plain key, shown this once.
pub struct CreatedKey {
    pub key: ApiKey,
    pub plain: String,
}

/// What a new key may do.
pub struct NewKey {
    pub scope: Scope,
    pub branch: Option<BranchId>,
    pub description: String,
    pub expires_at: Option<DateTime<Utc>>,
}

impl Service {
    pub async fn create_key(&self, who: &Principal, project: ProjectId, new: NewKey) -> ServiceResult<CreatedKey> {
        who.authorize(&project, None, Access::Manage)?;
        let key = new_project_key(project, new.branch, new.scope, new.description, Utc::now(), new.expires_at);
        let stored = key.stored;
        let created = self.storage.run(move |s| s.create_api_key(&stored)).await?;
        Ok(CreatedKey { key: created, plain: key.plain })
    }

    pub async fn list_keys(&self, who: &Principal, project: ProjectId) -> ServiceResult<Vec<ApiKey>> {
        who.authorize(&project, None, Access::Manage)?;
        Ok(self.storage.run(move |s| s.list_api_keys(&project)).await?)
    }

    pub async fn key(&self, who: &Principal, project: ProjectId, id: String) -> ServiceResult<ApiKey> {
        who.authorize(&project, None, Access::Manage)?;
        Ok(self.storage.run(move |s| s.get_api_key(&project, &id)).await?)
    }

    /// Revokes a key; the project's last active project_admin key cannot be revoked.
    pub async fn revoke_key(&self, who: &Principal, project: ProjectId, id: String) -> ServiceResult<()> {
        who.authorize(&project, None, Access::Manage)?;
        Ok(self.storage.run(move |s| s.revoke_api_key(&project, &id)).await?)
    }

    /// Gives a key a new secret; the old one stops working at once.
    pub async fn rotate_key(&self, who: &Principal, project: ProjectId, id: String) -> ServiceResult<CreatedKey> {
        who.authorize(&project, None, Access::Manage)?;
        let (plain, hash) = rotated_secret(&id);
        let key = self.storage.run(move |s| s.rotate_api_key(&project, &id, &hash)).await?;
        Ok(CreatedKey { key, plain })
    }
}
