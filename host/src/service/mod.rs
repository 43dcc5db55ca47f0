//! The service layer: one call per user operation (create a bucket, delete it as a job,
//! who am I …), shared by every face — the REST API, Keboola's Storage API v2 and the faces
//! to come (`../shared/design/faces.md`). Each call authorizes the caller, runs the
//! operation through the [`StorageBackend`](duckstore_plugin_sdk::StorageBackend) (as a
//! job where it is long), and answers in domain types or a [`ServiceError`]; no HTTP or
//! protocol type appears here. A face only translates its dialect to these calls and back.

mod branches;
mod buckets;
mod error;
mod files;
mod identity;
mod jobs;
mod keys;
mod profiles;
mod snapshots;
mod tables;
mod transfer;
mod workspaces;

use std::sync::Arc;

pub use error::{ServiceError, ServiceResult};
pub use jobs::Wait;
pub use keys::NewKey;

use crate::auth::{Authenticator, Principal};
use crate::jobs::Jobs;
use crate::plugins::Plugins;
use crate::storage::Storage;

/// The operations, over the engine, the authenticator and the job runner.
#[derive(Clone)]
pub struct Service {
    storage: Storage,
    auth: Arc<Authenticator>,
    jobs: Arc<Jobs>,
    plugins: Arc<Plugins>,
    /// Where PostgreSQL clients reach workspaces.
    pg: crate::server::PgEndpoint,
}

impl Service {
    pub fn new(
        storage: Storage,
        auth: Arc<Authenticator>,
        jobs: Arc<Jobs>,
        plugins: Arc<Plugins>,
        pg: crate::server::PgEndpoint,
    ) -> Self {
        Self { storage, auth, jobs, plugins, pg }
    }

    /// Who presents `credential` (an API key, the admin key, or what an auth plugin accepts).
    pub async fn authenticate(&self, credential: &str) -> ServiceResult<Principal> {
        self.auth.authenticate(&self.storage, credential).await
    }
}
