//! Server configuration: defaults, then a TOML file, then `DUCKSTORE_*` variables, then flags.
//!
//! Every key of [`Config`] is also a `--flag` and a `DUCKSTORE_<KEY>` variable (clap reads
//! both); the admin key is the exception: it is read only from the file or the
//! environment, because command lines are visible to every user of the machine.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use bytesize::ByteSize;
use duckstore_plugin_sdk::engine::{EngineSettings, FileLimits, ImportLimits, WorkspaceLimits};
use duckstore_plugin_sdk::settings::{Retention, SnapshotSettings};
use serde::{Deserialize, Serialize};

/// Flags (and their environment variables) that override the config file.
#[derive(clap::Args, Debug, Default, Serialize)]
pub struct ConfigArgs {
    /// TOML configuration file; flags and environment variables override its values.
    #[arg(long, env = "DUCKSTORE_CONFIG")]
    #[serde(skip)]
    pub config: Option<PathBuf>,

    /// Directory holding the catalog, table files, files and snapshots [default: ./data].
    #[arg(long, env = "DUCKSTORE_DATA_DIR")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,

    /// Address of the REST API; port 0 picks a free port [default: 127.0.0.1:8080].
    #[arg(long, env = "DUCKSTORE_HTTP_ADDR")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_addr: Option<SocketAddr>,

    /// Address of the PostgreSQL wire server for workspaces [default: 127.0.0.1:5433].
    #[arg(long, env = "DUCKSTORE_PG_ADDR")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pg_addr: Option<SocketAddr>,

    /// DuckDB worker threads, and plugin instances parsing one file at once [default: number of CPUs].
    #[arg(long, env = "DUCKSTORE_THREADS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threads: Option<usize>,

    /// DuckDB memory limit for the whole process, e.g. 2GB; larger work spills to <data>/tmp
    /// (peak RSS is about this plus 250MB) [default: 512MB].
    #[arg(long, env = "DUCKSTORE_MEMORY_LIMIT")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_limit: Option<String>,

    /// Log format: text or json [default: text].
    #[arg(long, env = "DUCKSTORE_LOG_FORMAT")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<LogFormat>,

    /// Largest accepted file upload, e.g. 10GB [default: 10GB].
    #[arg(long, env = "DUCKSTORE_MAX_FILE_SIZE")]
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "exact_bytes_opt")]
    pub max_file_size: Option<ByteSize>,

    /// Longest CSV record an import accepts; a longer one fails naming its line [default: 64MiB].
    #[arg(long, env = "DUCKSTORE_MAX_LINE_SIZE")]
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "exact_bytes_opt")]
    pub max_line_size: Option<ByteSize>,

    /// Most bytes a compressed import may expand to [default: 64GiB].
    #[arg(long, env = "DUCKSTORE_MAX_DECOMPRESSED_SIZE")]
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "exact_bytes_opt")]
    pub max_decompressed_size: Option<ByteSize>,

    /// Most a compressed import may expand per compressed byte once past 64MiB: higher is
    /// treated as a decompression bomb [default: 100].
    #[arg(long, env = "DUCKSTORE_MAX_COMPRESSION_RATIO")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_compression_ratio: Option<u64>,

    /// Most spill space (<data>/tmp) imports, exports and queries may use at once [default: 100GiB].
    #[arg(long, env = "DUCKSTORE_MAX_TEMP_SIZE")]
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "exact_bytes_opt")]
    pub max_temp_size: Option<ByteSize>,

    /// Most files per project, uploads in progress included [default: 10000].
    #[arg(long, env = "DUCKSTORE_PROJECT_MAX_FILES")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project_max_files: Option<u64>,

    /// Most bytes of files per project, e.g. 1TB [default: 1TB].
    #[arg(long, env = "DUCKSTORE_PROJECT_MAX_FILE_BYTES")]
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "exact_bytes_opt")]
    pub project_max_file_bytes: Option<ByteSize>,

    /// Seconds an upload may stay unregistered before it is deleted [default: 86400].
    #[arg(long, env = "DUCKSTORE_UPLOAD_TTL_SECS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upload_ttl_secs: Option<u64>,

    /// Days a manual snapshot is kept, unless settings say otherwise [default: 90].
    #[arg(long, env = "DUCKSTORE_SNAPSHOT_MANUAL_DAYS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot_manual_days: Option<u32>,

    /// Days an automatic snapshot is kept, unless settings say otherwise [default: 7].
    #[arg(long, env = "DUCKSTORE_SNAPSHOT_AUTO_DAYS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot_auto_days: Option<u32>,

    /// Days audit events are kept [default: 365].
    #[arg(long, env = "DUCKSTORE_AUDIT_RETENTION_DAYS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audit_retention_days: Option<u32>,

    /// Seconds between runs of the background sweeper (expired uploads, …) [default: 60].
    #[arg(long, env = "DUCKSTORE_SWEEP_INTERVAL_SECS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sweep_interval_secs: Option<u64>,

    /// Most table files kept attached at once; idle ones beyond it are detached, least recently
    /// used first, so memory follows the tables in use [default: 256].
    #[arg(long, env = "DUCKSTORE_MAX_ATTACHED_TABLES")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_attached_tables: Option<usize>,

    /// DuckDB threads of each workspace [default: 2].
    #[arg(long, env = "DUCKSTORE_WORKSPACE_THREADS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workspace_threads: Option<usize>,

    /// DuckDB memory limit of each workspace [default: 512MB].
    #[arg(long, env = "DUCKSTORE_WORKSPACE_MEMORY_LIMIT")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workspace_memory_limit: Option<String>,

    /// Size limit of a workspace created without one [default: 10GB].
    #[arg(long, env = "DUCKSTORE_WORKSPACE_SIZE_LIMIT")]
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "exact_bytes_opt")]
    pub workspace_size_limit: Option<ByteSize>,

    /// Most concurrent PostgreSQL sessions per workspace [default: 20].
    #[arg(long, env = "DUCKSTORE_WORKSPACE_MAX_SESSIONS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workspace_max_sessions: Option<u64>,

    /// Refuse PostgreSQL logins that do not use TLS (passwords would cross in the clear)
    /// [default: true].
    #[arg(long, env = "DUCKSTORE_PG_REQUIRE_TLS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pg_require_tls: Option<bool>,

    /// PEM certificate for PostgreSQL TLS (with pg_tls_key); when unset, a self-signed one is
    /// generated once into <data>/tls/ (clients verify it with sslrootcert=<data>/tls/pg.crt).
    #[arg(long, env = "DUCKSTORE_PG_TLS_CERT")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pg_tls_cert: Option<PathBuf>,

    /// PEM private key for PostgreSQL TLS.
    #[arg(long, env = "DUCKSTORE_PG_TLS_KEY")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pg_tls_key: Option<PathBuf>,

    /// Longest a PostgreSQL statement may run, in seconds; 0 = no limit [default: 0].
    #[arg(long, env = "DUCKSTORE_PG_STATEMENT_TIMEOUT_SECS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pg_statement_timeout_secs: Option<u64>,

    /// Most memory the unread rest of a paged result (a portal read with a row limit, as
    /// pgjdbc's fetch size does) may take while its session runs other statements
    /// [default: 256MB].
    #[arg(long, env = "DUCKSTORE_PG_HELD_RESULT_LIMIT")]
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "exact_bytes_opt")]
    pub pg_held_result_limit: Option<ByteSize>,

    /// Directory of plugin `.wasm` files (and uploads) [default: <data_dir>/plugins].
    #[arg(long, env = "DUCKSTORE_PLUGINS_DIR")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plugins_dir: Option<PathBuf>,

    /// Where compiled plugins are cached [default: <plugins_dir>/.compiled].
    #[arg(long, env = "DUCKSTORE_PLUGIN_CACHE_DIR")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plugin_cache_dir: Option<PathBuf>,

    /// Auth-provider plugins asked, in order, about credentials that are not API keys.
    #[arg(long, env = "DUCKSTORE_AUTH_PROVIDERS", value_delimiter = ',')]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_providers: Option<Vec<String>>,

    /// The snapshot-policy plugin deciding auto-snapshots [default: snapshot-policy-default].
    #[arg(long, env = "DUCKSTORE_SNAPSHOT_POLICY")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot_policy: Option<String>,

    /// A native storage engine library (`.so`) to use instead of the built-in DuckDB engine.
    #[arg(long, env = "DUCKSTORE_ENGINE_LIBRARY")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine_library: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// The effective configuration. Unknown keys in the file are an error, not a silent no-op.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub data_dir: PathBuf,
    pub http_addr: SocketAddr,
    pub pg_addr: SocketAddr,
    pub threads: usize,
    pub memory_limit: String,
    pub log_format: LogFormat,
    #[serde(serialize_with = "exact_bytes")]
    pub max_file_size: ByteSize,
    #[serde(serialize_with = "exact_bytes")]
    pub max_line_size: ByteSize,
    #[serde(serialize_with = "exact_bytes")]
    pub max_decompressed_size: ByteSize,
    pub max_compression_ratio: u64,
    #[serde(serialize_with = "exact_bytes")]
    pub max_temp_size: ByteSize,
    pub project_max_files: u64,
    #[serde(serialize_with = "exact_bytes")]
    pub project_max_file_bytes: ByteSize,
    pub upload_ttl_secs: u64,
    pub snapshot_manual_days: u32,
    pub snapshot_auto_days: u32,
    pub audit_retention_days: u32,
    pub sweep_interval_secs: u64,
    pub max_attached_tables: usize,
    pub workspace_threads: usize,
    pub workspace_memory_limit: String,
    #[serde(serialize_with = "exact_bytes")]
    pub workspace_size_limit: ByteSize,
    pub workspace_max_sessions: u64,
    pub pg_require_tls: bool,
    pub pg_tls_cert: Option<PathBuf>,
    pub pg_tls_key: Option<PathBuf>,
    pub pg_statement_timeout_secs: u64,
    #[serde(serialize_with = "exact_bytes")]
    pub pg_held_result_limit: ByteSize,
    pub plugins_dir: Option<PathBuf>,
    pub plugin_cache_dir: Option<PathBuf>,
    pub auth_providers: Vec<String>,
    pub snapshot_policy: String,
    pub engine_library: Option<PathBuf>,
    /// Settings each plugin can read (`[plugins.<name>]` tables); may hold secrets.
    #[serde(skip_serializing)]
    pub plugins: std::collections::BTreeMap<String, toml::Table>,
    /// The admin key (`DUCKSTORE_ADMIN_KEY`); when unset, one is generated on first start.
    #[serde(skip_serializing)]
    pub admin_key: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./data"),
            http_addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            pg_addr: SocketAddr::from(([127, 0, 0, 1], 5433)),
            threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
            memory_limit: "512MB".to_owned(),
            log_format: LogFormat::Text,
            max_file_size: ByteSize::gb(10),
            max_line_size: ByteSize::mib(64),
            max_decompressed_size: ByteSize::gib(64),
            max_compression_ratio: 100,
            max_temp_size: ByteSize::gib(100),
            project_max_files: 10_000,
            project_max_file_bytes: ByteSize::tb(1),
            upload_ttl_secs: 24 * 3600,
            snapshot_manual_days: 90,
            snapshot_auto_days: 7,
            audit_retention_days: 365,
            sweep_interval_secs: 60,
            max_attached_tables: 256,
            workspace_threads: 2,
            workspace_memory_limit: "512MB".to_owned(),
            workspace_size_limit: ByteSize::gb(10),
            workspace_max_sessions: 20,
            pg_require_tls: true,
            pg_tls_cert: None,
            pg_tls_key: None,
            pg_statement_timeout_secs: 0,
            pg_held_result_limit: ByteSize::mb(256),
            plugins_dir: None,
            plugin_cache_dir: None,
            auth_providers: Vec::new(),
            snapshot_policy: crate::plugins::embedded::DEFAULT_SNAPSHOT_POLICY.to_owned(),
            engine_library: None,
            plugins: Default::default(),
            admin_key: None,
        }
    }
}

/// Sizes are written as exact byte counts: bytesize's own text form rounds ("1.2 MB").
fn exact_bytes<S: serde::Serializer>(size: &ByteSize, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(size.as_u64())
}

fn exact_bytes_opt<S: serde::Serializer>(size: &Option<ByteSize>, s: S) -> Result<S::Ok, S::Error> {
    match size {
        Some(size) => exact_bytes(size, s),
        None => s.serialize_none(),
    }
}

/// Shortest accepted admin key: it guards every project.
const MIN_ADMIN_KEY_LEN: usize = 16;

impl Config {
    pub fn plugins_dir(&self) -> PathBuf {
        self.plugins_dir.clone().unwrap_or_else(|| self.data_dir.join("plugins"))
    }

    /// What the storage engine is told when it opens.
    pub fn engine_settings(&self) -> EngineSettings {
        EngineSettings {
            data_dir: self.data_dir.clone(),
            threads: self.threads,
            memory_limit: self.memory_limit.clone(),
            max_attached_tables: self.max_attached_tables,
            files: FileLimits {
                max_file_bytes: self.max_file_size.as_u64(),
                max_files_per_project: self.project_max_files,
                max_bytes_per_project: self.project_max_file_bytes.as_u64(),
                upload_ttl_secs: self.upload_ttl_secs,
            },
            snapshot_defaults: SnapshotSettings {
                retention: Retention { manual_days: self.snapshot_manual_days, auto_days: self.snapshot_auto_days },
                ..SnapshotSettings::default()
            },
            workspaces: WorkspaceLimits {
                threads: self.workspace_threads,
                memory_limit: self.workspace_memory_limit.clone(),
                default_size_bytes: self.workspace_size_limit.as_u64(),
                max_sessions: self.workspace_max_sessions,
            },
            imports: ImportLimits {
                max_line_bytes: self.max_line_size.as_u64(),
                max_decompressed_bytes: self.max_decompressed_size.as_u64(),
                max_compression_ratio: self.max_compression_ratio,
                max_temp_bytes: self.max_temp_size.as_u64(),
            },
        }
    }

    /// A plugin's settings as text, whatever their TOML type.
    pub fn plugin_settings(&self, plugin: &str) -> std::collections::BTreeMap<String, String> {
        let table = self.plugins.get(plugin).cloned().unwrap_or_default();
        table
            .into_iter()
            .map(|(k, v)| match v {
                toml::Value::String(s) => (k, s),
                other => (k, other.to_string()),
            })
            .collect()
    }

    pub fn load(args: &ConfigArgs) -> anyhow::Result<Self> {
        let mut merged = match &args.config {
            Some(path) => read_file(path)?,
            None => toml::Table::new(),
        };
        merged.extend(toml::Table::try_from(args).context("collecting command-line settings")?);
        if let Ok(key) = std::env::var("DUCKSTORE_ADMIN_KEY") {
            merged.insert("admin_key".into(), key.into());
        }
        let config: Config = merged.try_into().context("invalid configuration")?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> anyhow::Result<()> {
        if let Some(key) = &self.admin_key
            && key.len() < MIN_ADMIN_KEY_LEN
        {
            anyhow::bail!("the admin key must be at least {MIN_ADMIN_KEY_LEN} characters long");
        }
        if self.threads == 0 {
            anyhow::bail!("threads must be at least 1");
        }
        if self.workspace_threads == 0 || self.workspace_max_sessions == 0 {
            anyhow::bail!("workspace_threads and workspace_max_sessions must be at least 1");
        }
        if self.pg_tls_cert.is_some() != self.pg_tls_key.is_some() {
            anyhow::bail!("pg_tls_cert and pg_tls_key are given together or not at all");
        }
        if self.max_attached_tables == 0 {
            anyhow::bail!("max_attached_tables must be at least 1");
        }
        if self.sweep_interval_secs == 0 {
            anyhow::bail!("sweep_interval_secs must be at least 1");
        }
        if self.snapshot_manual_days == 0 || self.snapshot_auto_days == 0 || self.audit_retention_days == 0 {
            anyhow::bail!("retention periods must be at least 1 day");
        }
        Ok(())
    }
}

fn read_file(path: &Path) -> anyhow::Result<toml::Table> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("parsing config file {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_the_file_and_unknown_keys_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("duckstore.toml");
        std::fs::write(&file, "data_dir = \"/srv/ds\"\nmemory_limit = \"8GB\"\nmax_file_size = \"2 GiB\"\n").unwrap();
        let args = ConfigArgs { config: Some(file.clone()), memory_limit: Some("1GB".into()), ..Default::default() };
        let config = Config::load(&args).unwrap();
        assert_eq!(config.data_dir, PathBuf::from("/srv/ds"));
        assert_eq!(config.memory_limit, "1GB");
        assert_eq!(config.max_file_size, ByteSize::gib(2));

        std::fs::write(&file, "data_dri = \"/srv/ds\"\n").unwrap();
        let err = Config::load(&ConfigArgs { config: Some(file), ..Default::default() }).unwrap_err();
        assert!(format!("{err:#}").contains("data_dri"), "{err:#}");
    }
}
