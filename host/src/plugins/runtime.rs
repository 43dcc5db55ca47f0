//! The sandbox every plugin runs in: one wasmtime engine with a pooling allocator, epoch
//! deadlines, per-store memory caps, an empty WASI context and a compile cache.
//!
//! A [`Sandbox`] is one store: it lives for one auth or policy call, or for one import's
//! parser. After a trap the store is dropped with the sandbox (wasmtime refuses further
//! calls into a trapped instance anyway).

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, ResourceLimiter, Store, Trap};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::bindings::import_format::ImportFormatPlugin;
use super::manifest::Limits;

/// How often the epoch advances: the granularity of every deadline.
const TICK: Duration = Duration::from_millis(5);
/// The most any plugin store may use: the pool reserves slots of this size.
pub const MAX_MEMORY: u64 = 256 << 20;
/// What a plugin may write to stdout and stderr per store (panic messages end up here).
const OUTPUT_CAPACITY: usize = 64 << 10;

/// Which plugin a store belongs to, and the configuration it may read.
pub struct Identity {
    pub name: String,
    pub config: BTreeMap<String, String>,
}

/// A store's data: WASI's (empty) context, the memory cap and the plugin's identity.
pub struct PluginState {
    wasi: WasiCtx,
    table: ResourceTable,
    memory_cap: u64,
    hit_memory_cap: Arc<AtomicBool>,
    pub identity: Arc<Identity>,
}

impl WasiView for PluginState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl ResourceLimiter for PluginState {
    fn memory_growing(&mut self, _current: usize, desired: usize, _max: Option<usize>) -> wasmtime::Result<bool> {
        if desired as u64 > self.memory_cap {
            self.hit_memory_cap.store(true, Ordering::Relaxed);
            // An error (rather than `false`) traps at once: Rust guests abort on a failed
            // allocation anyway, with a less useful message.
            return Err(wasmtime::Error::msg("memory cap reached"));
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _max: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

/// Why a call into a plugin did not return normally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// It ran past its deadline.
    Timeout(Duration),
    /// It tried to use more than its memory cap.
    OutOfMemory(u64),
    /// It trapped (a panic, `unreachable`, a bad memory access); with what it printed.
    Trap(String),
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fault::Timeout(d) => write!(f, "it ran longer than its {} ms deadline and was stopped", d.as_millis()),
            Fault::OutOfMemory(cap) => write!(f, "it tried to use more than its {} MiB of memory", cap >> 20),
            Fault::Trap(message) => write!(f, "it crashed: {message}"),
        }
    }
}

/// The wasmtime engine, the linker all plugins are instantiated with, and the compile cache.
pub struct Runtime {
    pub engine: Engine,
    pub linker: Linker<PluginState>,
    cache_dir: PathBuf,
    stop_ticker: Arc<AtomicBool>,
}

impl Runtime {
    pub fn new(cache_dir: PathBuf) -> anyhow::Result<Arc<Self>> {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(256)
            .total_core_instances(1024)
            .total_memories(256)
            .total_tables(512)
            .max_memory_size(MAX_MEMORY as usize)
            .max_memories_per_component(4)
            .max_tables_per_component(16)
            .max_core_instances_per_component(32);
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .epoch_interruption(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config).map_err(anyhow::Error::from)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(anyhow::Error::from)?;
        // One call adds the shared `host` and `types` interfaces for every kind.
        ImportFormatPlugin::add_to_linker::<_, HasSelf<PluginState>>(&mut linker, |s| s)
            .map_err(anyhow::Error::from)?;
        std::fs::create_dir_all(&cache_dir)?;
        let runtime = Arc::new(Self { engine, linker, cache_dir, stop_ticker: Arc::new(AtomicBool::new(false)) });
        let (engine, stop) = (runtime.engine.clone(), runtime.stop_ticker.clone());
        std::thread::Builder::new().name("plugin-epoch".into()).spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(TICK);
                engine.increment_epoch();
            }
        })?;
        Ok(runtime)
    }

    /// Compiles `wasm`, or loads the machine code compiled for it before. The cache is
    /// keyed by the wasm's SHA-256 and the engine's settings; only this host writes it.
    pub fn compile(&self, wasm: &[u8], sha256: &str) -> anyhow::Result<Component> {
        let mut hasher = std::hash::DefaultHasher::new();
        self.engine.precompile_compatibility_hash().hash(&mut hasher);
        let path = self.cache_dir.join(format!("{sha256}-{:016x}.cwasm", hasher.finish()));
        if path.exists() {
            // SAFETY: the file was written by `precompile_component` of an engine with the
            // same compatibility hash, in a directory only this host writes to.
            match unsafe { Component::deserialize_file(&self.engine, &path) } {
                Ok(component) => return Ok(component),
                Err(e) => {
                    tracing::warn!(error = %e, path = %path.display(), "recompiling a plugin: unusable cache entry")
                }
            }
        }
        let compiled = self.engine.precompile_component(wasm).map_err(anyhow::Error::from)?;
        let partial = path.with_extension(format!("partial-{}", uuid::Uuid::new_v4()));
        if let Err(e) = std::fs::write(&partial, &compiled).and_then(|()| std::fs::rename(&partial, &path)) {
            let _ = std::fs::remove_file(&partial);
            tracing::warn!(error = %e, "could not cache a compiled plugin");
        }
        // SAFETY: `compiled` was produced just now by this engine.
        unsafe { Component::deserialize(&self.engine, &compiled) }.map_err(anyhow::Error::from)
    }

    /// A fresh store for one use of a plugin, with its deadline already set (instantiation
    /// itself runs guest code).
    pub fn sandbox(&self, identity: Arc<Identity>, limits: Limits) -> Sandbox {
        let output = MemoryOutputPipe::new(OUTPUT_CAPACITY);
        let wasi = WasiCtxBuilder::new().stdout(output.clone()).stderr(output.clone()).build();
        let hit_memory_cap = Arc::new(AtomicBool::new(false));
        let state = PluginState {
            wasi,
            table: ResourceTable::new(),
            memory_cap: limits.memory_bytes,
            hit_memory_cap: hit_memory_cap.clone(),
            identity,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| s);
        let mut sandbox = Sandbox { store, output, hit_memory_cap, limits };
        sandbox.arm();
        sandbox
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.stop_ticker.store(true, Ordering::Relaxed);
    }
}

pub struct Sandbox {
    pub store: Store<PluginState>,
    output: MemoryOutputPipe,
    hit_memory_cap: Arc<AtomicBool>,
    limits: Limits,
}

impl Sandbox {
    /// Restarts the deadline: call before every call into the plugin.
    pub fn arm(&mut self) {
        let ticks = (self.limits.deadline.as_millis() / TICK.as_millis()).max(1) as u64;
        self.store.set_epoch_deadline(ticks);
    }

    /// Classifies an error out of a call into the plugin.
    pub fn fault(&self, error: wasmtime::Error) -> Fault {
        if self.hit_memory_cap.load(Ordering::Relaxed) {
            return Fault::OutOfMemory(self.limits.memory_bytes);
        }
        if matches!(error.downcast_ref::<Trap>(), Some(Trap::Interrupt)) {
            return Fault::Timeout(self.limits.deadline);
        }
        let printed = String::from_utf8_lossy(&self.output.contents()).trim().to_owned();
        let printed: String = printed.chars().rev().take(1000).collect::<Vec<_>>().into_iter().rev().collect();
        let trap = error.downcast_ref::<Trap>().map_or_else(|| format!("{error:#}"), |t| t.to_string());
        Fault::Trap(if printed.is_empty() { trap } else { format!("{trap}; it printed: {printed}") })
    }
}

/// The SHA-256 of a plugin's bytes, hex-encoded.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The directory compiled plugins are cached in, beside the plugins directory by default.
pub fn default_cache_dir(plugins_dir: &Path) -> PathBuf {
    plugins_dir.join(".compiled")
}
