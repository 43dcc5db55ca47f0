//! Turning a `.wasm` into a plugin ready to run, refusing anything that is not exactly
//! what its manifest says: size cap, SHA-256, manifest, API version, compile (cached),
//! exports and imports, pre-instantiation, then a smoke call under the plugin's limits.

use std::sync::Arc;

use wasmtime::component::{Component, types::ComponentItem};

use super::bindings::auth_provider::AuthProviderPluginPre;
use super::bindings::import_format::ImportFormatPluginPre;
use super::bindings::import_format::exports::duckstore::plugin::import_format::FormatInfo;
use super::bindings::snapshot_policy::SnapshotPolicyPluginPre;
use super::manifest::{Limits, Manifest, PluginKind, api_compatible};
use super::runtime::{Identity, PluginState, Runtime, sha256_hex};

/// The largest `.wasm` accepted.
pub const MAX_WASM_BYTES: usize = 64 << 20;

/// Interfaces a plugin may import: the contract itself and WASI's inert parts (the WASI
/// context is empty: no preopened directories, no environment, no network).
const ALLOWED_IMPORTS: &[&str] =
    &["duckstore:plugin/", "wasi:io/", "wasi:cli/", "wasi:clocks/", "wasi:random/", "wasi:filesystem/"];

/// A plugin ready to be instantiated.
pub struct Loaded {
    pub manifest: Manifest,
    pub sha256: String,
    pub limits: Limits,
    pub identity: Arc<Identity>,
    pub exports: Exports,
}

/// The kind's pre-instantiated component and what its smoke call told.
pub enum Exports {
    ImportFormat { pre: ImportFormatPluginPre<PluginState>, info: FormatInfo },
    AuthProvider { pre: AuthProviderPluginPre<PluginState>, schemes: Vec<String> },
    SnapshotPolicy { pre: SnapshotPolicyPluginPre<PluginState> },
}

pub fn load(runtime: &Runtime, wasm: &[u8], beside: Option<&str>, config: &ConfigFor) -> Result<Loaded, String> {
    if wasm.len() > MAX_WASM_BYTES {
        return Err(format!("the plugin is {} bytes; at most {MAX_WASM_BYTES} are accepted", wasm.len()));
    }
    let sha256 = sha256_hex(wasm);
    let manifest = Manifest::read(wasm, beside)?;
    let component = runtime.compile(wasm, &sha256).map_err(|e| format!("not a loadable component: {e:#}"))?;
    check_exports(&component, runtime, manifest.kind)?;
    check_imports(&component, runtime)?;
    let pre = runtime.linker.instantiate_pre(&component).map_err(|e| format!("cannot be linked: {e:#}"))?;
    let limits = manifest.limits();
    let identity = Arc::new(Identity { name: manifest.name.clone(), config: config(&manifest.name) });
    let smoke = |e: String| format!("its first call failed: {e}");
    let exports = match manifest.kind {
        PluginKind::ImportFormat => {
            let pre = ImportFormatPluginPre::new(pre).map_err(|e| format!("{e:#}"))?;
            let mut sandbox = runtime.sandbox(identity.clone(), limits);
            let bindings = pre.instantiate(&mut sandbox.store).map_err(|e| smoke(sandbox.fault(e).to_string()))?;
            sandbox.arm();
            let info = bindings
                .duckstore_plugin_import_format()
                .call_info(&mut sandbox.store)
                .map_err(|e| smoke(sandbox.fault(e).to_string()))?;
            if info.name.is_empty()
                || info.name.eq_ignore_ascii_case("csv")
                || info.name.eq_ignore_ascii_case("parquet")
            {
                return Err(format!("format name {:?} is empty or one the server reads itself", info.name));
            }
            Exports::ImportFormat { pre, info }
        }
        PluginKind::AuthProvider => {
            let pre = AuthProviderPluginPre::new(pre).map_err(|e| format!("{e:#}"))?;
            let mut sandbox = runtime.sandbox(identity.clone(), limits);
            let bindings = pre.instantiate(&mut sandbox.store).map_err(|e| smoke(sandbox.fault(e).to_string()))?;
            sandbox.arm();
            let schemes = bindings
                .duckstore_plugin_auth_provider()
                .call_schemes(&mut sandbox.store)
                .map_err(|e| smoke(sandbox.fault(e).to_string()))?;
            Exports::AuthProvider { pre, schemes: schemes.into_iter().map(|s| s.to_ascii_lowercase()).collect() }
        }
        PluginKind::SnapshotPolicy => {
            let pre = SnapshotPolicyPluginPre::new(pre).map_err(|e| format!("{e:#}"))?;
            let mut sandbox = runtime.sandbox(identity.clone(), limits);
            pre.instantiate(&mut sandbox.store).map_err(|e| smoke(sandbox.fault(e).to_string()))?;
            Exports::SnapshotPolicy { pre }
        }
    };
    Ok(Loaded { manifest, sha256, limits, identity, exports })
}

/// Looks up a plugin's `[plugins.<name>]` settings.
pub type ConfigFor = dyn Fn(&str) -> std::collections::BTreeMap<String, String> + Send + Sync;

/// `duckstore:plugin/import-format@0.1.2` → (`duckstore:plugin/import-format`, `0.1.2`).
fn split_version(name: &str) -> (&str, Option<&str>) {
    match name.split_once('@') {
        Some((interface, version)) => (interface, Some(version)),
        None => (name, None),
    }
}

fn check_exports(component: &Component, runtime: &Runtime, kind: PluginKind) -> Result<(), String> {
    let wanted = format!("duckstore:plugin/{}", kind.as_str());
    let exports: Vec<String> =
        component.component_type().exports(&runtime.engine).map(|(name, _)| name.to_owned()).collect();
    let found = exports.iter().find(|name| split_version(name).0 == wanted);
    match found.map(|name| split_version(name).1) {
        None => Err(format!(
            "its manifest says {} but it does not export {wanted} (it exports {})",
            kind.as_str(),
            if exports.is_empty() { "nothing".to_owned() } else { exports.join(", ") }
        )),
        Some(version) => {
            let compatible = version.and_then(|v| semver::Version::parse(v).ok()).is_some_and(|v| api_compatible(&v));
            if compatible {
                Ok(())
            } else {
                Err(format!("it exports {wanted}@{}, a version this server does not implement", version.unwrap_or("?")))
            }
        }
    }
}

fn check_imports(component: &Component, runtime: &Runtime) -> Result<(), String> {
    let refused: Vec<String> = component
        .component_type()
        .imports(&runtime.engine)
        .filter(|(name, item)| {
            !matches!(item.ty, ComponentItem::ComponentInstance(_) | ComponentItem::Type(_))
                || !ALLOWED_IMPORTS.iter().any(|allowed| name.starts_with(allowed))
        })
        .map(|(name, _)| name.to_owned())
        .collect();
    if refused.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "it imports {}, which plugins may not use (no network, no host access beyond duckstore:plugin and inert WASI)",
            refused.join(", ")
        ))
    }
}
