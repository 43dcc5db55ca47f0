//! The host's handle on the storage engine.
//!
//! Engine calls block on disk and DuckDB; [`Storage::run`] moves each onto tokio's blocking
//! pool so the async runtime never stalls. A panic inside an engine call becomes a 500 for
//! that request instead of taking the server down.

use std::sync::Arc;

use duckstore_plugin_sdk::{Result, StorageBackend, StorageError};

#[derive(Clone)]
pub struct Storage(Arc<dyn StorageBackend>);

impl Storage {
    pub fn new(backend: Arc<dyn StorageBackend>) -> Self {
        Self(backend)
    }

    pub async fn run<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&dyn StorageBackend) -> Result<T> + Send + 'static,
    {
        let backend = self.0.clone();
        tokio::task::spawn_blocking(move || f(&*backend))
            .await
            .map_err(|e| StorageError::internal(format!("storage call failed: {e}")))?
    }
}
