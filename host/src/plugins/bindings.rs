//! Host-side bindings of the `duckstore:plugin` WIT worlds (plugin-sdk/wit), and the
//! `host` interface every plugin imports.
//!
//! Each world gets its own module; the shared `types` and `host` interfaces are generated
//! once (with the import-format world) and reused by the others, so there is one `Host`
//! implementation and one linker for all kinds.

pub mod import_format {
    wasmtime::component::bindgen!({
        world: "import-format-plugin",
        path: "../plugin-sdk/wit",
    });
}

pub mod auth_provider {
    wasmtime::component::bindgen!({
        world: "auth-provider-plugin",
        path: "../plugin-sdk/wit",
        with: {
            "duckstore:plugin/types": super::import_format::duckstore::plugin::types,
            "duckstore:plugin/host": super::import_format::duckstore::plugin::host,
        },
    });
}

pub mod snapshot_policy {
    wasmtime::component::bindgen!({
        world: "snapshot-policy-plugin",
        path: "../plugin-sdk/wit",
        with: {
            "duckstore:plugin/types": super::import_format::duckstore::plugin::types,
            "duckstore:plugin/host": super::import_format::duckstore::plugin::host,
        },
    });
}

pub use import_format::duckstore::plugin::host::{Host, Level};
pub use import_format::duckstore::plugin::types::{Error as WitError, ErrorCode};

use super::runtime::PluginState;

impl import_format::duckstore::plugin::types::Host for PluginState {}

impl Host for PluginState {
    fn log(&mut self, level: Level, message: String) {
        let plugin = &*self.identity.name;
        let message: String = message.chars().take(4096).collect();
        match level {
            Level::Trace => tracing::trace!(plugin, "{message}"),
            Level::Debug => tracing::debug!(plugin, "{message}"),
            Level::Info => tracing::info!(plugin, "{message}"),
            Level::Warn => tracing::warn!(plugin, "{message}"),
            Level::Error => tracing::error!(plugin, "{message}"),
        }
    }

    fn config_get(&mut self, key: String) -> Option<String> {
        self.identity.config.get(&key).cloned()
    }

    fn now(&mut self) -> i64 {
        chrono::Utc::now().timestamp_millis()
    }
}

/// What a plugin's error says, for the user: its message and where in the input.
pub fn describe(error: &WitError) -> String {
    match &error.location {
        Some(at) if !error.message.contains(at.as_str()) => format!("{} (at {at})", error.message),
        _ => error.message.clone(),
    }
}
