//! Start-up and shutdown: open the engine, settle the admin key, serve until a signal.

use std::sync::Arc;

use anyhow::Context;
use chrono::Utc;
use tokio::net::TcpListener;

use duckstore_engine_duckdb::{DuckEngine, EngineConfig};
use duckstore_plugin_sdk::model::KeyHash;
use duckstore_plugin_sdk::{BackendInfo, StorageBackend};

use crate::auth::{self, Authenticator};
use crate::config::Config;
use crate::idempotency::Idempotency;
use crate::metrics::Metrics;
use crate::native_engine::NativeEngine;
use crate::pg::{PgConfig, SessionLimits};
use crate::plugins::Plugins;
use crate::plugins::policy::PluginPolicy;
use crate::plugins::runtime::{Runtime, default_cache_dir};
use crate::service::Service;
use crate::storage::Storage;

/// What every request handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// Signs and checks the SAS tokens of Keboola's file transfer.
    pub abs: Arc<crate::keboola::abs::SasSigner>,
    /// Where blocks of Azure block uploads wait for their commit.
    pub abs_blocks: std::path::PathBuf,
    /// The operations every face calls (authorize, run, job); faces translate to them.
    pub service: Service,
    pub storage: Storage,
    pub metrics: Arc<Metrics>,
    pub idempotency: Arc<Idempotency>,
    pub backend_info: BackendInfo,
    pub plugins: Arc<Plugins>,
    pub jobs: Arc<crate::jobs::Jobs>,
}

/// Where PostgreSQL clients connect, as workspace responses tell them.
#[derive(Clone)]
pub struct PgEndpoint {
    pub host: String,
    pub port: u16,
}

impl PgEndpoint {
    fn of(addr: std::net::SocketAddr) -> Self {
        let host = if addr.ip().is_unspecified() { "localhost".to_owned() } else { addr.ip().to_string() };
        Self { host, port: addr.port() }
    }
}

pub async fn serve(config: Config) -> anyhow::Result<()> {
    let metrics = Arc::new(Metrics::new());
    let plugins = start_plugins(&config, &metrics).await?;
    let policy = Arc::new(PluginPolicy { plugins: plugins.clone(), name: config.snapshot_policy.clone() });
    let storage = open_engine(&config, policy).await?;
    let backend_info = storage.run(|s| Ok(s.info())).await?;
    let interrupted = storage.run(|s| s.recover_interrupted_jobs()).await?;
    if interrupted > 0 {
        tracing::warn!(jobs = interrupted, "marked jobs interrupted by the last shutdown as failed");
    }
    let admin_hash = settle_admin_key(&config, &storage).await?;
    let pg_config = PgConfig {
        addr: config.pg_addr,
        tls: config.pg_tls_cert.clone().zip(config.pg_tls_key.clone()),
        generated_tls_dir: config.data_dir.join("tls"),
        require_tls: config.pg_require_tls,
        session: SessionLimits {
            statement_timeout: (config.pg_statement_timeout_secs > 0)
                .then(|| std::time::Duration::from_secs(config.pg_statement_timeout_secs)),
            held_result_limit: config.pg_held_result_limit.as_u64(),
        },
        metrics: metrics.pg(),
    };
    let pg_listener = crate::pg::bind(&pg_config).await?;
    let pg_addr = pg_listener.local_addr()?;
    let auth = Arc::new(Authenticator::new(admin_hash, plugins.clone(), config.auth_providers.clone()));
    let jobs = Arc::new(crate::jobs::Jobs::new(metrics.jobs()));
    let abs = Arc::new(
        crate::keboola::abs::SasSigner::load_or_create(&config.data_dir.join("keys"))
            .context("the transfer signing key")?,
    );
    let state = AppState {
        abs,
        abs_blocks: config.data_dir.join("abs-blocks"),
        service: Service::new(storage.clone(), auth, jobs.clone(), plugins.clone(), PgEndpoint::of(pg_addr)),
        storage,
        metrics,
        idempotency: Arc::default(),
        backend_info,
        plugins,
        jobs,
    };

    let sweeper = crate::sweeper::spawn(
        state.storage.clone(),
        std::time::Duration::from_secs(config.sweep_interval_secs),
        chrono::Duration::days(config.audit_retention_days.into()),
        state.metrics.clone(),
    );
    let pg_server = tokio::spawn(crate::pg::serve(pg_listener, pg_config, state.storage.clone()));
    let listener = TcpListener::bind(config.http_addr)
        .await
        .with_context(|| format!("binding the REST API to {}", config.http_addr))?;
    let addr = listener.local_addr()?;
    let shutdown = shutdown_signal()?;
    tracing::info!(%addr, data_dir = %config.data_dir.display(), "duckstore started");
    // Tests and scripts read the bound address (port 0 picks one) from this line.
    println!("duckstore listening on http://{addr}");
    println!("duckstore listening on postgresql://{pg_addr}");
    axum::serve(listener, crate::api::router(state)).with_graceful_shutdown(shutdown).await?;
    sweeper.abort();
    pg_server.abort();
    tracing::info!("duckstore stopped");
    Ok(())
}

/// Opens the built-in DuckDB engine, or the configured native engine library.
async fn open_engine(config: &Config, policy: Arc<PluginPolicy>) -> anyhow::Result<Storage> {
    let settings = config.engine_settings();
    let library = config.engine_library.clone();
    let backend: Arc<dyn StorageBackend> = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let data_dir = settings.data_dir.clone();
        Ok(match library {
            Some(path) => {
                let engine = NativeEngine::load(&path, &settings, policy)?;
                tracing::info!(library = %path.display(), engine = %engine.info().name, "loaded a native storage engine");
                Arc::new(engine) as Arc<dyn StorageBackend>
            }
            None => Arc::new(
                DuckEngine::open(EngineConfig { settings, policy, clock: Arc::new(Utc::now) })
                    .with_context(|| format!("opening the data directory {}", data_dir.display()))?,
            ),
        })
    })
    .await??;
    Ok(Storage::new(backend))
}

/// Loads the embedded plugins and those of the plugins directory (compiling takes a moment
/// the first time; compiled code is cached).
async fn start_plugins(config: &Config, metrics: &Metrics) -> anyhow::Result<Arc<Plugins>> {
    let dir = config.plugins_dir();
    let cache = config.plugin_cache_dir.clone().unwrap_or_else(|| default_cache_dir(&dir));
    let runtime = Runtime::new(cache).context("starting the plugin runtime")?;
    let settings = config.clone();
    let plugins = Arc::new(Plugins::new(
        runtime,
        dir,
        Arc::new(move |name: &str| settings.plugin_settings(name)),
        metrics.registry(),
        config.threads,
    ));
    let loading = plugins.clone();
    tokio::task::spawn_blocking(move || loading.load_all(crate::plugins::embedded::FIRST_PARTY))
        .await?
        .context("loading plugins")?;
    for name in config.auth_providers.iter().chain([&config.snapshot_policy]) {
        if plugins.get(name).is_err() {
            tracing::warn!(plugin = %name, "the configuration names a plugin that is not installed");
        }
    }
    Ok(plugins)
}

/// The configured admin key wins; otherwise the stored one; otherwise a new one is
/// generated, its hash stored and the key printed once.
async fn settle_admin_key(config: &Config, storage: &Storage) -> anyhow::Result<KeyHash> {
    if let Some(key) = &config.admin_key {
        return Ok(auth::hash(key));
    }
    if let Some(hash) = storage.run(|s| s.admin_key_hash()).await? {
        return Ok(hash);
    }
    let key = auth::new_admin_key();
    let hash = auth::hash(&key);
    storage.run(move |s| s.set_admin_key_hash(&hash)).await?;
    println!("Generated the admin key. It is shown only this once; store it safely:\n\n    {key}\n");
    Ok(hash)
}

/// Resolves on SIGTERM or Ctrl-C. The handlers are installed before this returns, so a
/// signal arriving right after start-up is never lost (or fatal).
fn shutdown_signal() -> std::io::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! { _ = terminate.recv() => {}, _ = interrupt.recv() => {} }
        tracing::info!("shutting down");
    })
}
