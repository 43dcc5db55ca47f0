//! An example native storage engine: a shared library the server loads with
//! `--engine-library`, speaking the engine C ABI of `duckstore_plugin_sdk::native`.
//!
//! It exports the built-in DuckDB engine, which makes it a complete engine (the end-to-end
//! tests run REST flows on it) and a template: to ship your own engine, implement
//! `StorageBackend` for your type and export its constructor the same way.

use std::sync::Arc;

use duckstore_engine_duckdb::{DuckEngine, EngineConfig};
use duckstore_plugin_sdk::Result;
use duckstore_plugin_sdk::engine::EngineSettings;
use duckstore_plugin_sdk::policy::SnapshotPolicy;

/// Opens the engine with the server's settings; `policy` asks the server's snapshot policy.
fn open(settings: EngineSettings, policy: Arc<dyn SnapshotPolicy>) -> Result<DuckEngine> {
    DuckEngine::open(EngineConfig { settings, policy, clock: Arc::new(chrono::Utc::now) })
}

duckstore_plugin_sdk::export_storage_engine!(open);
