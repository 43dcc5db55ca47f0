//! The plugins a server runs: first-party ones embedded in the binary, and `.wasm` files
//! in the plugins directory (dropped there or uploaded). Each has a state an operator can
//! change without a restart: enabled, disabled, or failing (it did not load, or it kept
//! crashing and the circuit breaker opened).
//!
//! A reload swaps the loaded version atomically; calls in flight (an import's parser)
//! finish on the version they started with.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Instant;

use parking_lot::{Mutex, RwLock};
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};
use serde::Serialize;

use super::PluginError;
use super::loader::{self, ConfigFor, Exports, Loaded};
use super::manifest::PluginKind;
use super::runtime::{Fault, Runtime};

/// Consecutive crashes or timeouts after which a plugin is taken out of service.
const BREAKER_THRESHOLD: u32 = 5;
/// Where the names of disabled plugins are kept, in the plugins directory.
const DISABLED_FILE: &str = "disabled.json";

/// Where a plugin's bytes come from.
enum Origin {
    Embedded(&'static [u8]),
    File(PathBuf),
}

struct Entry {
    origin: Origin,
    /// The version in service, if one ever loaded.
    loaded: RwLock<Option<Arc<Loaded>>>,
    /// Why the last load failed, if it did.
    load_error: Mutex<Option<String>>,
    enabled: AtomicBool,
    calls: AtomicU64,
    failures: AtomicU64,
    faults_in_a_row: AtomicU32,
}

impl Entry {
    fn new(origin: Origin, load: Result<Loaded, String>, enabled: bool) -> Self {
        let (loaded, load_error) = match load {
            Ok(loaded) => (Some(Arc::new(loaded)), None),
            Err(e) => (None, Some(e)),
        };
        Entry {
            origin,
            loaded: RwLock::new(loaded),
            load_error: Mutex::new(load_error),
            enabled: AtomicBool::new(enabled),
            calls: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            faults_in_a_row: AtomicU32::new(0),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PluginState {
    Enabled,
    Disabled,
    /// Did not load, or crashed too often in a row; see `error`. Enable or reload to retry.
    Failing,
}

/// A plugin as `GET /plugins` shows it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct PluginInfo {
    pub name: String,
    #[schema(value_type = Option<String>)]
    pub kind: Option<PluginKind>,
    pub version: Option<String>,
    /// The `duckstore:plugin` API version it was built against.
    pub api_version: Option<String>,
    pub state: PluginState,
    /// Why it is failing.
    pub error: Option<String>,
    /// `embedded` (first-party, in the binary) or `file`.
    pub origin: String,
    pub sha256: Option<String>,
    pub calls: u64,
    /// Calls that crashed, timed out, returned malformed data or an internal error.
    pub failures: u64,
    /// For import formats: the `format` name and file extensions; for auth providers: schemes.
    pub handles: Vec<String>,
}

struct PluginMetrics {
    calls: IntCounterVec,
    duration: HistogramVec,
}

pub struct Plugins {
    runtime: Arc<Runtime>,
    dir: PathBuf,
    config: Arc<ConfigFor>,
    entries: RwLock<BTreeMap<String, Arc<Entry>>>,
    /// Held while a plugin is enabled or disabled and the list on disk rewritten, so that
    /// concurrent calls write it one at a time and the last write holds every change.
    disabled_list: parking_lot::Mutex<()>,
    metrics: PluginMetrics,
    parse_threads: usize,
}

/// How a call ended, for the counters.
#[derive(Clone, Copy)]
pub enum CallOutcome {
    Ok,
    /// The plugin answered with an error about its input.
    Error,
    /// Crashed, timed out, exhausted memory, or broke the contract.
    Fault,
}

impl Plugins {
    /// `parse_threads`: how many instances of an import format may parse one file at once.
    pub fn new(
        runtime: Arc<Runtime>,
        dir: PathBuf,
        config: Arc<ConfigFor>,
        registry: &Registry,
        parse_threads: usize,
    ) -> Self {
        let calls = IntCounterVec::new(
            Opts::new("plugin_calls_total", "Calls into plugins by plugin, kind and outcome (ok, error, fault)"),
            &["plugin", "kind", "outcome"],
        )
        .expect("valid metric");
        let duration = HistogramVec::new(
            HistogramOpts::new("plugin_call_duration_seconds", "Duration of calls into plugins")
                .buckets(vec![0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.005, 0.025, 0.1, 0.5, 2.5, 10.0]),
            &["plugin", "kind"],
        )
        .expect("valid metric");
        registry.register(Box::new(calls.clone())).expect("metric names are unique");
        registry.register(Box::new(duration.clone())).expect("metric names are unique");
        let metrics = PluginMetrics { calls, duration };
        Self {
            runtime,
            dir,
            config,
            entries: RwLock::new(BTreeMap::new()),
            disabled_list: Default::default(),
            metrics,
            parse_threads,
        }
    }

    pub fn parse_threads(&self) -> usize {
        self.parse_threads
    }

    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// Loads the embedded plugins, then every `.wasm` in the plugins directory (a file
    /// plugin with an embedded one's name replaces it). Failures are logged and shown as
    /// failing plugins; they never stop the server.
    pub fn load_all(&self, embedded: &[&'static [u8]]) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let disabled = self.read_disabled();
        for wasm in embedded {
            self.install(None, Origin::Embedded(wasm), &disabled);
        }
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
            .collect();
        files.sort();
        for path in files {
            let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            self.install(Some(stem), Origin::File(path), &disabled);
        }
        Ok(())
    }

    /// Loads one plugin and registers it under its manifest's name (or `fallback`, the file
    /// name, when it has no readable manifest).
    fn install(&self, fallback: Option<String>, origin: Origin, disabled: &BTreeSet<String>) {
        let result = self.load_origin(&origin);
        let name = match (&result, fallback) {
            (Ok(loaded), _) => loaded.manifest.name.clone(),
            (Err(_), Some(name)) => name,
            (Err(e), None) => {
                tracing::error!(error = %e, "an embedded plugin does not load");
                return;
            }
        };
        match &result {
            Ok(loaded) => {
                tracing::info!(plugin = %name, kind = loaded.manifest.kind.as_str(), version = %loaded.manifest.version, "plugin loaded")
            }
            Err(e) => tracing::error!(plugin = %name, error = %e, "plugin refused"),
        }
        let entry = Entry::new(origin, result, !disabled.contains(&name));
        if let Some(old) = self.entries.write().insert(name.clone(), Arc::new(entry))
            && matches!(old.origin, Origin::Embedded(_))
        {
            tracing::info!(plugin = %name, "a plugin file replaces the embedded plugin of the same name");
        }
    }

    fn load_origin(&self, origin: &Origin) -> Result<Loaded, String> {
        match origin {
            Origin::Embedded(wasm) => loader::load(&self.runtime, wasm, None, &*self.config),
            Origin::File(path) => {
                let wasm = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                let beside = read_optional(&path.with_extension("toml"))?;
                loader::load(&self.runtime, &wasm, beside.as_deref(), &*self.config)
            }
        }
    }

    fn entry(&self, name: &str) -> Result<Arc<Entry>, PluginError> {
        self.entries.read().get(name).cloned().ok_or_else(|| PluginError::NotFound(name.to_owned()))
    }

    pub fn list(&self) -> Vec<PluginInfo> {
        self.entries.read().iter().map(|(name, entry)| info(name, entry)).collect()
    }

    pub fn get(&self, name: &str) -> Result<PluginInfo, PluginError> {
        Ok(info(name, &*self.entry(name)?))
    }

    /// The plugin's version in service, if it may be called and is of `kind`.
    pub fn checkout(&self, name: &str, kind: PluginKind) -> Result<Arc<Loaded>, PluginError> {
        let entry = self.entry(name)?;
        let unavailable = |reason: String| PluginError::Unavailable { name: name.to_owned(), reason };
        if !entry.enabled.load(Ordering::Relaxed) {
            return Err(unavailable("it is disabled".into()));
        }
        if entry.faults_in_a_row.load(Ordering::Relaxed) >= BREAKER_THRESHOLD {
            return Err(unavailable(format!("it failed {BREAKER_THRESHOLD} times in a row; enable or reload it")));
        }
        let loaded =
            entry.loaded.read().clone().ok_or_else(|| {
                unavailable(entry.load_error.lock().clone().unwrap_or_else(|| "it is not loaded".into()))
            })?;
        if loaded.manifest.kind != kind {
            return Err(unavailable(format!(
                "it is an {} plugin, not {}",
                loaded.manifest.kind.as_str(),
                kind.as_str()
            )));
        }
        Ok(loaded)
    }

    /// Every enabled, working plugin of `kind`.
    pub fn of_kind(&self, kind: PluginKind) -> Vec<Arc<Loaded>> {
        let names: Vec<String> = self.entries.read().keys().cloned().collect();
        names.iter().filter_map(|n| self.checkout(n, kind).ok()).collect()
    }

    /// Counts a call and its outcome; consecutive faults open the circuit breaker.
    pub fn record(&self, loaded: &Loaded, outcome: CallOutcome, started: Instant) {
        let name = loaded.manifest.name.as_str();
        let kind = loaded.manifest.kind.as_str();
        let label = match outcome {
            CallOutcome::Ok => "ok",
            CallOutcome::Error => "error",
            CallOutcome::Fault => "fault",
        };
        self.metrics.calls.with_label_values(&[name, kind, label]).inc();
        self.metrics.duration.with_label_values(&[name, kind]).observe(started.elapsed().as_secs_f64());
        let Ok(entry) = self.entry(name) else { return };
        entry.calls.fetch_add(1, Ordering::Relaxed);
        match outcome {
            CallOutcome::Fault => {
                entry.failures.fetch_add(1, Ordering::Relaxed);
                let in_a_row = entry.faults_in_a_row.fetch_add(1, Ordering::Relaxed) + 1;
                if in_a_row == BREAKER_THRESHOLD {
                    tracing::error!(plugin = name, "plugin taken out of service after {in_a_row} failures in a row");
                }
            }
            CallOutcome::Ok | CallOutcome::Error => entry.faults_in_a_row.store(0, Ordering::Relaxed),
        }
    }

    /// Records a fault of `loaded` and turns it into the caller's error.
    pub fn fault(&self, loaded: &Loaded, fault: Fault, started: Instant) -> PluginError {
        self.record(loaded, CallOutcome::Fault, started);
        tracing::warn!(plugin = %loaded.manifest.name, fault = %fault, "plugin call failed");
        PluginError::Fault { name: loaded.manifest.name.clone(), fault }
    }

    pub fn set_enabled(&self, name: &str, enabled: bool) -> Result<PluginInfo, PluginError> {
        let entry = self.entry(name)?;
        let _one_writer = self.disabled_list.lock();
        let was = entry.enabled.swap(enabled, Ordering::Relaxed);
        if let Err(e) = self.write_disabled() {
            entry.enabled.store(was, Ordering::Relaxed);
            return Err(e);
        }
        if enabled {
            entry.faults_in_a_row.store(0, Ordering::Relaxed);
        }
        Ok(info(name, &entry))
    }

    /// Loads the plugin's bytes again; on failure the version in service stays.
    pub fn reload(&self, name: &str) -> Result<PluginInfo, PluginError> {
        let entry = self.entry(name)?;
        match self.load_origin(&entry.origin) {
            Ok(loaded) if loaded.manifest.name != name => Err(PluginError::Refused(format!(
                "the file now holds plugin {:?}, not {name:?}; upload it under its own name",
                loaded.manifest.name
            ))),
            Ok(loaded) => {
                *entry.loaded.write() = Some(Arc::new(loaded));
                *entry.load_error.lock() = None;
                entry.faults_in_a_row.store(0, Ordering::Relaxed);
                Ok(info(name, &entry))
            }
            Err(e) => {
                *entry.load_error.lock() = Some(e.clone());
                Err(PluginError::Refused(e))
            }
        }
    }

    /// Checks an uploaded plugin completely, then stores it as `<name>.wasm` in the
    /// plugins directory and puts it in service (replacing a plugin of that name).
    pub fn upload(&self, wasm: &[u8]) -> Result<(PluginInfo, bool), PluginError> {
        let loaded = loader::load(&self.runtime, wasm, None, &*self.config).map_err(PluginError::Refused)?;
        let name = loaded.manifest.name.clone();
        let path = self.dir.join(format!("{name}.wasm"));
        let partial = self.dir.join(format!(".{name}.wasm.partial"));
        std::fs::write(&partial, wasm)
            .and_then(|()| std::fs::rename(&partial, &path))
            .map_err(|e| PluginError::Io(format!("cannot store the plugin: {e}")))?;
        let replaced = self.entries.read().contains_key(&name);
        let enabled = self.entries.read().get(&name).is_none_or(|e| e.enabled.load(Ordering::Relaxed));
        let entry = Arc::new(Entry::new(Origin::File(path), Ok(loaded), enabled));
        self.entries.write().insert(name.clone(), entry.clone());
        Ok((info(&name, &entry), !replaced))
    }

    /// Removes a plugin file (embedded plugins can only be disabled).
    pub fn remove(&self, name: &str) -> Result<(), PluginError> {
        let entry = self.entry(name)?;
        let Origin::File(path) = &entry.origin else {
            return Err(PluginError::Refused(format!("{name} is built into the server; disable it instead")));
        };
        std::fs::remove_file(path).map_err(|e| PluginError::Io(format!("cannot remove {}: {e}", path.display())))?;
        let _ = std::fs::remove_file(path.with_extension("toml"));
        self.entries.write().remove(name);
        Ok(())
    }

    fn read_disabled(&self) -> BTreeSet<String> {
        let path = self.dir.join(DISABLED_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::warn!(error = %e, path = %path.display(), "ignoring an unreadable list of disabled plugins");
                BTreeSet::new()
            }),
            Err(_) => BTreeSet::new(),
        }
    }

    fn write_disabled(&self) -> Result<(), PluginError> {
        let disabled: Vec<String> = self
            .entries
            .read()
            .iter()
            .filter(|(_, e)| !e.enabled.load(Ordering::Relaxed))
            .map(|(n, _)| n.clone())
            .collect();
        let json = serde_json::to_vec_pretty(&disabled).expect("names serialize");
        let path = self.dir.join(DISABLED_FILE);
        let partial = path.with_extension("json.partial");
        std::fs::write(&partial, json)
            .and_then(|()| std::fs::rename(&partial, &path))
            .map_err(|e| PluginError::Io(format!("cannot record the disabled plugins: {e}")))
    }
}

fn read_optional(path: &Path) -> Result<Option<String>, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

fn info(name: &str, entry: &Entry) -> PluginInfo {
    let loaded = entry.loaded.read().clone();
    let load_error = entry.load_error.lock().clone();
    let broken = entry.faults_in_a_row.load(Ordering::Relaxed) >= BREAKER_THRESHOLD;
    let (state, error) = if !entry.enabled.load(Ordering::Relaxed) {
        (PluginState::Disabled, load_error)
    } else if loaded.is_none() {
        (PluginState::Failing, load_error)
    } else if broken {
        (PluginState::Failing, Some(format!("taken out of service after {BREAKER_THRESHOLD} failures in a row")))
    } else {
        (PluginState::Enabled, load_error.map(|e| format!("the last reload failed (the previous version runs): {e}")))
    };
    let handles = match loaded.as_deref().map(|l| &l.exports) {
        Some(Exports::ImportFormat { info, .. }) => {
            std::iter::once(info.name.clone()).chain(info.extensions.iter().map(|x| format!(".{x}"))).collect()
        }
        Some(Exports::AuthProvider { schemes, .. }) => schemes.clone(),
        _ => vec![],
    };
    PluginInfo {
        name: name.to_owned(),
        kind: loaded.as_ref().map(|l| l.manifest.kind),
        version: loaded.as_ref().map(|l| l.manifest.version.to_string()),
        api_version: loaded.as_ref().map(|l| l.manifest.api.to_string()),
        state,
        error,
        origin: match entry.origin {
            Origin::Embedded(_) => "embedded".into(),
            Origin::File(_) => "file".into(),
        },
        sha256: loaded.as_ref().map(|l| l.sha256.clone()),
        calls: entry.calls.load(Ordering::Relaxed),
        failures: entry.failures.load(Ordering::Relaxed),
        handles,
    }
}
