//! What the host tells a storage engine when it opens one: where the data lives and the
//! limits the operator configured. The same struct configures the built-in engine and
//! crosses the C ABI (as JSON) to a native one.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::settings::SnapshotSettings;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EngineSettings {
    pub data_dir: PathBuf,
    /// Threads of the engine's own query work.
    pub threads: usize,
    /// Memory cap of the engine's own query work, in DuckDB's notation (`4GB`).
    pub memory_limit: String,
    pub files: FileLimits,
    /// The system level of the snapshot settings.
    pub snapshot_defaults: SnapshotSettings,
    pub workspaces: WorkspaceLimits,
}

/// Limits on files and uploads, enforced by the engine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileLimits {
    /// Largest single file.
    pub max_file_bytes: u64,
    /// Most files (registered plus uploads in progress) per project.
    pub max_files_per_project: u64,
    /// Most bytes of files per project.
    pub max_bytes_per_project: u64,
    /// How long an upload may stay unregistered before it is swept.
    pub upload_ttl_secs: u64,
}

/// Resources of SQL workspaces.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkspaceLimits {
    /// Threads per SQL session.
    pub threads: usize,
    /// Memory cap per SQL session.
    pub memory_limit: String,
    /// Size limit of a workspace created without one.
    pub default_size_bytes: u64,
    /// Most concurrent SQL sessions per workspace.
    pub max_sessions: u64,
}
