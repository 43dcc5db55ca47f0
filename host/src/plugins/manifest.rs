//! A plugin's manifest: who it is, which kind, which contract version, what it asks for.
//!
//! It is read before any of the plugin's code runs: from the `duckstore:manifest` custom
//! section the SDK's macros embed, or from a `<file>.toml` beside a `.wasm` built without
//! the SDK. A plugin with both is refused (which one would be true?).

use std::time::Duration;

use semver::{Version, VersionReq};
use serde::{Deserialize, Serialize};

/// The `duckstore:plugin` WIT package version this host implements.
pub const API_VERSION: Version = Version::new(0, 1, 0);

const SECTION: &str = "duckstore:manifest";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PluginKind {
    ImportFormat,
    AuthProvider,
    SnapshotPolicy,
}

impl PluginKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PluginKind::ImportFormat => "import-format",
            PluginKind::AuthProvider => "auth-provider",
            PluginKind::SnapshotPolicy => "snapshot-policy",
        }
    }

    /// Defaults and ceilings per kind: an import parses megabytes per call; auth and policy
    /// decisions sit in a request's path and must be quick.
    pub fn limits(self) -> Limits {
        match self {
            PluginKind::ImportFormat => Limits { memory_bytes: 256 << 20, deadline: Duration::from_secs(10) },
            PluginKind::AuthProvider => Limits { memory_bytes: 32 << 20, deadline: Duration::from_millis(200) },
            PluginKind::SnapshotPolicy => Limits { memory_bytes: 16 << 20, deadline: Duration::from_millis(50) },
        }
    }
}

/// What one call of a plugin may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub memory_bytes: u64,
    /// Wall-clock time per call.
    pub deadline: Duration,
}

/// Limits a manifest asks for; the host grants at most the kind's defaults.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestedLimits {
    #[serde(default)]
    pub memory_mib: Option<u64>,
    #[serde(default)]
    pub deadline_ms: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub name: String,
    pub version: Version,
    pub kind: PluginKind,
    /// The `duckstore:plugin` version the plugin was built against.
    pub api: Version,
    #[serde(default)]
    pub limits: RequestedLimits,
    /// An import format whose records are lines: every newline ends one and each line
    /// parses on its own, so the host may split a file at newlines and parse the parts
    /// in parallel, in separate instances.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub line_records: bool,
}

impl Manifest {
    /// Reads the manifest of `wasm`, given the text of a `.toml` beside it if there is one.
    pub fn read(wasm: &[u8], beside: Option<&str>) -> Result<Manifest, String> {
        let embedded = embedded_section(wasm)?;
        let manifest: Manifest = match (embedded, beside) {
            (Some(_), Some(_)) => {
                return Err("the plugin embeds a manifest and also has a .toml beside it; remove the .toml".into());
            }
            (Some(json), None) => {
                serde_json::from_slice(json).map_err(|e| format!("the embedded manifest is malformed: {e}"))?
            }
            (None, Some(toml_text)) => {
                toml::from_str(toml_text).map_err(|e| format!("the manifest is malformed: {e}"))?
            }
            (None, None) => {
                return Err("the plugin has no manifest: build it with duckstore-plugin-guest's macros, or put a \
                            <file>.toml beside it"
                    .into());
            }
        };
        manifest.check()?;
        Ok(manifest)
    }

    fn check(&self) -> Result<(), String> {
        let valid_name = !self.name.is_empty()
            && self.name.len() <= 64
            && self.name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !valid_name {
            return Err(format!("plugin name {:?} must be 1-64 characters of a-z, 0-9 and -", self.name));
        }
        if self.line_records && self.kind != PluginKind::ImportFormat {
            return Err(format!("plugin {}: line_records is for import formats only", self.name));
        }
        if !api_compatible(&self.api) {
            return Err(format!(
                "plugin {} was built for duckstore:plugin@{}, and this server implements @{API_VERSION}; \
                 rebuild it against a compatible duckstore-plugin-guest",
                self.name, self.api
            ));
        }
        Ok(())
    }

    /// The kind's limits, lowered where the manifest asks for less.
    pub fn limits(&self) -> Limits {
        let ceiling = self.kind.limits();
        Limits {
            memory_bytes: self.limits.memory_mib.map_or(ceiling.memory_bytes, |m| (m << 20).min(ceiling.memory_bytes)),
            deadline: self
                .limits
                .deadline_ms
                .map_or(ceiling.deadline, |ms| Duration::from_millis(ms).min(ceiling.deadline)),
        }
    }
}

/// The rule wasmtime applies to WIT interface versions: same major, or for 0.x the same
/// minor, and not newer than the host.
pub fn api_compatible(api: &Version) -> bool {
    let caret = VersionReq::parse(&format!("^{api}")).expect("a version is a valid requirement");
    caret.matches(&API_VERSION) && *api <= API_VERSION
}

/// The payload of the manifest section, searched in the component and its core modules.
fn embedded_section(wasm: &[u8]) -> Result<Option<&[u8]>, String> {
    let mut found = None;
    for payload in wasmtime::wasmparser::Parser::new(0).parse_all(wasm) {
        let payload = payload.map_err(|e| format!("not a valid WebAssembly component: {e}"))?;
        if let wasmtime::wasmparser::Payload::CustomSection(section) = payload
            && section.name() == SECTION
        {
            if found.is_some() {
                return Err("the plugin embeds more than one manifest".into());
            }
            found = Some(section.data());
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_versions_follow_wit_semver_rules() {
        assert!(api_compatible(&Version::new(0, 1, 0)));
        assert!(!api_compatible(&Version::new(0, 2, 0)), "a newer minor of 0.x is another contract");
        assert!(!api_compatible(&Version::new(1, 0, 0)), "another major is another contract");
        assert!(!api_compatible(&Version::new(0, 1, 7)), "newer than the host: functions it may call are missing");
    }

    #[test]
    fn manifests_come_from_one_place_and_are_checked() {
        let toml_text = "name = \"probe\"\nversion = \"1.0.0\"\nkind = \"import-format\"\napi = \"0.1.0\"\n";
        let component = wat_free_component();
        let m = Manifest::read(&component, Some(toml_text)).expect("a toml manifest");
        assert_eq!((m.name.as_str(), m.kind), ("probe", PluginKind::ImportFormat));
        let err = Manifest::read(&component, None).unwrap_err();
        assert!(err.contains("no manifest"), "{err}");
        let err = Manifest::read(&component, Some(&toml_text.replace("0.1.0", "2.0.0"))).unwrap_err();
        assert!(err.contains("duckstore:plugin@2.0.0"), "{err}");
        let err = Manifest::read(&component, Some(&toml_text.replace("probe", "../x"))).unwrap_err();
        assert!(err.contains("must be 1-64 characters"), "{err}");
        let err = Manifest::read(b"not wasm", Some(toml_text)).unwrap_err();
        assert!(err.contains("not a valid WebAssembly"), "{err}");

        let lines = format!("{toml_text}line_records = true\n");
        assert!(Manifest::read(&component, Some(&lines)).expect("an import format").line_records);
        let err = Manifest::read(&component, Some(&lines.replace("import-format", "auth-provider"))).unwrap_err();
        assert!(err.contains("line_records is for import formats"), "{err}");
    }

    /// The smallest valid component: the preamble alone.
    fn wat_free_component() -> Vec<u8> {
        vec![0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00]
    }
}
