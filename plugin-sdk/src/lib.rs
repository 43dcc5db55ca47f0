//! The duckstore plugin contract.
//!
//! - [`names`], [`schema`], [`query`], [`model`]: the domain types every engine, API adapter
//!   and plugin shares: validated names, column types, structured row selection, resources;
//! - [`files`], [`jobs`], [`transfer`]: uploads and files, background jobs, import/export;
//! - [`snapshots`], [`settings`], [`policy`], [`audit`]: snapshots, their hierarchical
//!   settings, the auto-snapshot decision point, the audit log;
//! - [`workspaces`], [`sql`]: SQL workspaces and the sessions the PostgreSQL wire server runs.
//! - [`error`]: the single error type crossing the engine boundary.
//! - [`backend`]: the [`StorageBackend`] trait that storage engines implement, [`engine`] the
//!   settings they are opened with, and `native` the C ABI that carries a `StorageBackend`
//!   out of a shared library (Unix).

pub mod audit;
pub mod backend;
pub mod engine;
pub mod error;
pub mod files;
pub mod jobs;
pub mod model;
pub mod names;
#[cfg(unix)]
pub mod native;
pub mod policy;
pub mod profiles;
pub mod query;
pub mod schema;
pub mod settings;
pub mod snapshots;
pub mod sql;
pub mod transfer;
pub mod workspaces;

pub use backend::{BackendInfo, StorageBackend};
pub use error::{ErrorKind, Resource, Result, StorageError};
