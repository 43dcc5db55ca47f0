//! WASM plugins: import formats, auth providers and snapshot policies, run sandboxed in
//! wasmtime (see docs/plugins.md and docs/adr/0007-plugins.md).
//!
//! - [`manifest`]: who a plugin is and which contract it implements;
//! - [`runtime`]: the engine, the sandbox a call runs in, the compile cache;
//! - [`loader`]: the checks a `.wasm` passes before it runs;
//! - [`registry`]: the plugins in service, their state, counters and hot reload;
//! - [`formats`], [`auth`], [`policy`]: each kind's calls, as the rest of the host uses them.

pub mod auth;
pub(crate) mod bindings;
pub mod embedded;
pub mod formats;
pub mod loader;
pub mod manifest;
pub mod policy;
pub mod registry;
pub mod runtime;

use duckstore_plugin_sdk::{ErrorKind, StorageError};

pub use registry::{PluginInfo, Plugins};
use runtime::Fault;

use bindings::{ErrorCode, WitError};

#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("no plugin is named {0:?}")]
    NotFound(String),
    #[error("plugin {name} cannot be used: {reason}")]
    Unavailable { name: String, reason: String },
    #[error("plugin {name} failed: {fault}")]
    Fault { name: String, fault: Fault },
    /// The plugin answered with an error of its own.
    #[error("{name}: {}", bindings::describe(error))]
    Returned { name: String, error: WitError },
    /// The plugin answered with something the contract does not allow.
    #[error("plugin {name} broke its contract: {message}")]
    Contract { name: String, message: String },
    #[error("the plugin was refused: {0}")]
    Refused(String),
    #[error("{0}")]
    Io(String),
}

impl From<PluginError> for StorageError {
    fn from(e: PluginError) -> Self {
        let (kind, code) = match &e {
            PluginError::NotFound(_) => (ErrorKind::NotFound, "plugin_not_found"),
            PluginError::Unavailable { .. } => (ErrorKind::Unavailable, "plugin_unavailable"),
            PluginError::Fault { .. } | PluginError::Contract { .. } => (ErrorKind::Unavailable, "plugin_failed"),
            PluginError::Returned { error, .. } => match error.code {
                ErrorCode::InvalidInput => (ErrorKind::Unprocessable, "invalid_input"),
                ErrorCode::InvalidOptions => (ErrorKind::Invalid, "invalid_options"),
                ErrorCode::Unsupported => (ErrorKind::Invalid, "unsupported"),
                ErrorCode::LimitExceeded => (ErrorKind::TooLarge, "limit_exceeded"),
                ErrorCode::Internal => (ErrorKind::Unavailable, "plugin_failed"),
            },
            PluginError::Refused(_) => (ErrorKind::Invalid, "plugin_refused"),
            PluginError::Io(_) => (ErrorKind::Internal, "io_error"),
        };
        StorageError::new(kind, code, e.to_string())
    }
}

impl PluginError {
    /// Whether the plugin itself misbehaved (as opposed to refusing bad input).
    pub fn is_fault(&self) -> bool {
        matches!(self, PluginError::Fault { .. } | PluginError::Contract { .. })
            || matches!(self, PluginError::Returned { error, .. } if error.code == ErrorCode::Internal)
    }
}
