//! Authentication (who is calling) and authorization (what they may touch).
//!
//! Project keys look like `dsk_<id>_<secret>`: the id finds the stored record, and the
//! SHA-256 of the whole key is compared with the stored hash in constant time. Secrets are
//! 256 random bits, so a fast hash is enough; the plain key is shown once and never stored.
//! The admin key is any string configured by the operator (or generated on first start).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use duckstore_plugin_sdk::model::{ApiKey, KeyHash, Scope, StoredApiKey};
use duckstore_plugin_sdk::names::{BranchId, ProjectId};

use std::sync::Arc;

use duckstore_plugin_sdk::StorageError;

use crate::plugins::auth::{self as auth_plugin, Credential, Outcome, Role};
use crate::plugins::{PluginError, Plugins};
use crate::service::ServiceError;
use crate::storage::Storage;

const PROJECT_KEY_PREFIX: &str = "dsk_";
const ADMIN_KEY_PREFIX: &str = "dsa_";

pub fn hash(secret: &str) -> KeyHash {
    Sha256::digest(secret.as_bytes()).into()
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    hex::encode(buf)
}

/// A freshly generated project key: the record to store and the plain key to show once.
pub struct NewKey {
    pub stored: StoredApiKey,
    pub plain: String,
}

/// Generates a key for `project`.
pub fn new_project_key(
    project: ProjectId,
    branch: Option<BranchId>,
    scope: Scope,
    description: String,
    now: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
) -> NewKey {
    let id = random_hex(8);
    let plain = format!("{PROJECT_KEY_PREFIX}{id}_{}", random_hex(32));
    let key = ApiKey {
        key_prefix: format!("{PROJECT_KEY_PREFIX}{id}"),
        id,
        project_id: project,
        branch_id: branch,
        scope,
        description,
        created_at: now,
        last_used_at: None,
        expires_at,
        is_revoked: false,
    };
    NewKey { stored: StoredApiKey { key, secret_hash: hash(&plain) }, plain }
}

/// A new secret for an existing key id; returns the plain key and its hash.
pub fn rotated_secret(key_id: &str) -> (String, KeyHash) {
    let plain = format!("{PROJECT_KEY_PREFIX}{key_id}_{}", random_hex(32));
    let h = hash(&plain);
    (plain, h)
}

pub fn new_admin_key() -> String {
    format!("{ADMIN_KEY_PREFIX}{}", random_hex(32))
}

/// Who is calling.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    /// The installation's admin: every project.
    Admin,
    /// A project key.
    Key { id: String, project: ProjectId, scope: Scope, branch: Option<BranchId> },
    /// Someone an auth-provider plugin vouched for, with the grants it gave.
    External { label: String, grants: Vec<Grant> },
}

/// Access to one project (optionally one branch of it) with a key scope's rights.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    pub project: ProjectId,
    pub branch: Option<BranchId>,
    pub scope: Scope,
}

/// What a request wants to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Read data or metadata.
    Read,
    /// Change data or metadata on a branch.
    Write,
    /// Manage the project itself: its keys and settings.
    Manage,
}

/// Whether a scope limited to `allowed` (a branch, or every branch) permits `access` to `wanted`.
fn scope_allows(
    scope: Scope,
    allowed: Option<&BranchId>,
    wanted: Option<&BranchId>,
    access: Access,
) -> Result<(), ServiceError> {
    match (scope, access) {
        (Scope::ProjectAdmin, _) => return Ok(()),
        (_, Access::Manage) => return Err(ServiceError::forbidden("this needs a project_admin key")),
        (Scope::BranchRead, Access::Write) => return Err(ServiceError::forbidden("this API key can only read")),
        _ => {}
    }
    match (wanted, allowed) {
        (Some(wanted), Some(allowed)) if wanted != allowed => {
            Err(ServiceError::forbidden(format!("this API key is limited to branch {allowed}")))
        }
        _ => Ok(()),
    }
}

impl Principal {
    /// Allows or refuses an action on `project`, optionally on one of its branches.
    pub fn authorize(
        &self,
        project: &ProjectId,
        branch: Option<&BranchId>,
        access: Access,
    ) -> Result<(), ServiceError> {
        match self {
            Principal::Admin => Ok(()),
            Principal::Key { project: own, scope, branch: key_branch, .. } => {
                if own != project {
                    return Err(ServiceError::forbidden("this API key belongs to another project"));
                }
                scope_allows(*scope, key_branch.as_ref(), branch, access)
            }
            Principal::External { grants, .. } => {
                let mut refusal = ServiceError::forbidden("you have no grant for this project");
                for grant in grants.iter().filter(|g| &g.project == project) {
                    match scope_allows(grant.scope, grant.branch.as_ref(), branch, access) {
                        Ok(()) => return Ok(()),
                        Err(e) => refusal = e,
                    }
                }
                Err(refusal)
            }
        }
    }

    pub fn require_admin(&self) -> Result<(), ServiceError> {
        match self {
            Principal::Admin => Ok(()),
            _ => Err(ServiceError::forbidden("this needs the admin key")),
        }
    }

    /// A short label for job and audit records; never contains a secret.
    pub fn label(&self) -> String {
        match self {
            Principal::Admin => "admin".to_owned(),
            Principal::Key { id, .. } => format!("key:{id}"),
            Principal::External { label, .. } => label.clone(),
        }
    }

    /// The projects the caller may see; `None` for the admin (all of them).
    pub fn projects(&self) -> Option<Vec<ProjectId>> {
        match self {
            Principal::Admin => None,
            Principal::Key { project, .. } => Some(vec![project.clone()]),
            Principal::External { grants, .. } => {
                let mut projects: Vec<ProjectId> = grants.iter().map(|g| g.project.clone()).collect();
                projects.sort();
                projects.dedup();
                Some(projects)
            }
        }
    }
}

fn invalid_key() -> ServiceError {
    ServiceError::unauthenticated("invalid_token", "the API key is invalid, revoked or expired")
}

/// Turns a provider's principal into ours, refusing grants that name no valid project or
/// branch and principals already expired.
fn external(provider: &str, principal: auth_plugin::Principal) -> Result<Principal, ServiceError> {
    let lie = |what: String| {
        ServiceError::unauthenticated("authentication_failed", format!("the auth provider {provider} answered {what}"))
    };
    if principal.expires_at.is_some_and(|t| t <= Utc::now().timestamp()) {
        return Err(ServiceError::unauthenticated("invalid_token", format!("{provider}: the credential has expired")));
    }
    let grants = principal
        .grants
        .into_iter()
        .map(|g| {
            Ok(Grant {
                project: ProjectId::new(&g.project).map_err(|e| lie(format!("an invalid project: {}", e.message)))?,
                branch: g
                    .branch
                    .map(|b| BranchId::new(&b).map_err(|e| lie(format!("an invalid branch: {}", e.message))))
                    .transpose()?,
                scope: match g.role {
                    Role::ProjectAdmin => Scope::ProjectAdmin,
                    Role::BranchAdmin => Scope::BranchAdmin,
                    Role::BranchRead => Scope::BranchRead,
                },
            })
        })
        .collect::<Result<Vec<_>, ServiceError>>()?;
    Ok(Principal::External { label: format!("{provider}:{}", principal.subject), grants })
}

/// How often a key's `last_used_at` is written at most.
const TOUCH_INTERVAL: Duration = Duration::from_secs(60);

/// Verifies presented keys against the admin hash and the stored project keys.
/// Credentials that are not duckstore keys go to the auth-provider plugins, in order.
pub struct Authenticator {
    admin_hash: KeyHash,
    last_touch: Mutex<HashMap<String, Instant>>,
    plugins: Arc<Plugins>,
    providers: Vec<String>,
}

impl Authenticator {
    pub fn new(admin_hash: KeyHash, plugins: Arc<Plugins>, providers: Vec<String>) -> Self {
        Self { admin_hash, last_touch: Mutex::new(HashMap::new()), plugins, providers }
    }

    pub async fn authenticate(&self, storage: &Storage, presented: &str) -> Result<Principal, ServiceError> {
        let presented_hash = hash(presented);
        if bool::from(presented_hash.ct_eq(&self.admin_hash)) {
            return Ok(Principal::Admin);
        }
        let invalid = invalid_key;
        let Some(id) = presented.strip_prefix(PROJECT_KEY_PREFIX).and_then(|rest| rest.split_once('_')).map(|p| p.0)
        else {
            return self.ask_providers(presented).await;
        };
        let id = id.to_owned();
        let stored = storage.run(move |s| s.find_api_key(&id)).await?.ok_or_else(invalid)?;
        let key = stored.key;
        let live = !key.is_revoked && key.expires_at.is_none_or(|t| t > Utc::now());
        if !bool::from(presented_hash.ct_eq(&stored.secret_hash)) || !live {
            return Err(invalid());
        }
        self.touch(storage, &key.id);
        Ok(Principal::Key { id: key.id, project: key.project_id, scope: key.scope, branch: key.branch_id })
    }

    /// Runs the auth-provider chain: `not-applicable` (or a provider out of service) passes
    /// to the next; a denial, a crash or a malformed answer refuses the request (fail closed).
    async fn ask_providers(&self, secret: &str) -> Result<Principal, ServiceError> {
        if self.providers.is_empty() {
            return Err(invalid_key());
        }
        let (plugins, providers) = (self.plugins.clone(), self.providers.clone());
        let credential = Credential {
            scheme: "bearer".into(),
            username: None,
            secret: secret.to_owned(),
            headers: vec![],
            peer: None,
        };
        tokio::task::spawn_blocking(move || {
            for name in &providers {
                match plugins.authenticate(name, &credential) {
                    Ok(Outcome::NotApplicable) => continue,
                    Ok(Outcome::Denied(reason)) => {
                        return Err(ServiceError::unauthenticated("invalid_token", format!("{name}: {reason}")));
                    }
                    Ok(Outcome::Authenticated(principal)) => return external(name, principal),
                    Err(PluginError::Unavailable { reason, .. }) => {
                        tracing::warn!(plugin = %name, %reason, "skipping an auth provider that is out of service");
                    }
                    Err(e) => {
                        return Err(ServiceError::unauthenticated(
                            "authentication_failed",
                            format!("the auth provider {name} failed, so the request is refused: {e}"),
                        ));
                    }
                }
            }
            Err(invalid_key())
        })
        .await
        .map_err(|e| ServiceError::from(StorageError::internal(format!("the auth task failed: {e}"))))?
    }

    /// Records use of a key at most once per [`TOUCH_INTERVAL`], in the background.
    fn touch(&self, storage: &Storage, key_id: &str) {
        let now = Instant::now();
        {
            let mut last = self.last_touch.lock();
            if last.get(key_id).is_some_and(|t| now.duration_since(*t) < TOUCH_INTERVAL) {
                return;
            }
            last.insert(key_id.to_owned(), now);
        }
        let storage = storage.clone();
        let id = key_id.to_owned();
        tokio::spawn(async move {
            if let Err(e) = storage.run(move |s| s.touch_api_key(&id)).await {
                tracing::warn!(error = %e, "could not record API key use");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(scope: Scope, branch: Option<&str>) -> Principal {
        Principal::Key {
            id: "k".into(),
            project: ProjectId::new("p1").unwrap(),
            scope,
            branch: branch.map(|b| BranchId::new(b).unwrap()),
        }
    }

    #[test]
    fn scopes_limit_project_branch_and_access() {
        let p1 = ProjectId::new("p1").unwrap();
        let p2 = ProjectId::new("p2").unwrap();
        let main = BranchId::main();
        let dev = BranchId::new("dev").unwrap();
        let admin = key(Scope::ProjectAdmin, None);
        assert!(admin.authorize(&p1, Some(&dev), Access::Manage).is_ok());
        assert!(admin.authorize(&p2, None, Access::Read).is_err());

        let reader = key(Scope::BranchRead, Some("default"));
        assert!(reader.authorize(&p1, Some(&main), Access::Read).is_ok());
        assert!(reader.authorize(&p1, Some(&main), Access::Write).is_err());
        assert!(reader.authorize(&p1, Some(&dev), Access::Read).is_err());
        assert!(reader.authorize(&p1, None, Access::Manage).is_err());

        let writer = key(Scope::BranchAdmin, Some("dev"));
        assert!(writer.authorize(&p1, Some(&dev), Access::Write).is_ok());
        assert!(writer.authorize(&p1, Some(&main), Access::Write).is_err());
    }

    #[test]
    fn generated_keys_hash_to_their_stored_hash_and_differ() {
        let a =
            new_project_key(ProjectId::new("p").unwrap(), None, Scope::ProjectAdmin, String::new(), Utc::now(), None);
        let b =
            new_project_key(ProjectId::new("p").unwrap(), None, Scope::ProjectAdmin, String::new(), Utc::now(), None);
        assert_eq!(hash(&a.plain), a.stored.secret_hash);
        assert_ne!(a.plain, b.plain);
        assert!(a.plain.starts_with(&a.stored.key.key_prefix));
    }
}
