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
    /// Most table files an engine keeps open at once (idle ones beyond it are closed, least
    /// recently used first).
    #[serde(default = "default_max_attached_tables")]
    pub max_attached_tables: usize,
    pub files: FileLimits,
    /// The system level of the snapshot settings.
    pub snapshot_defaults: SnapshotSettings,
    pub workspaces: WorkspaceLimits,
    /// Bounds on what one import may read and spill.
    #[serde(default)]
    pub imports: ImportLimits,
}

fn default_max_attached_tables() -> usize {
    256
}

/// Bounds on one import: what makes an input hostile rather than large.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ImportLimits {
    /// Longest CSV record (a line, or several when quoted values hold line breaks).
    pub max_line_bytes: u64,
    /// Most bytes a compressed input may expand to.
    pub max_decompressed_bytes: u64,
    /// Once an input has expanded past 64 MiB, the most it may expand per compressed byte
    /// (gzip's own ceiling is ~1,032; real CSV rarely passes 20, repetitive logs 50).
    pub max_compression_ratio: u64,
    /// Most spill space (DuckDB's temp directory) the engine's own work may use at once.
    pub max_temp_bytes: u64,
}

impl Default for ImportLimits {
    fn default() -> Self {
        Self {
            max_line_bytes: 64 << 20,
            max_decompressed_bytes: 64 << 30,
            max_compression_ratio: 100,
            max_temp_bytes: 100 << 30,
        }
    }
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
