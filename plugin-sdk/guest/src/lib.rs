//! Write duckstore plugins in Rust.
//!
//! A plugin is a `cdylib` crate built with `cargo build --release --target wasm32-wasip2`.
//! Enable exactly one feature — the plugin's kind — and call that kind's macro once:
//!
//! ```ignore
//! use duckstore_plugin_guest::snapshot_policy::*;
//!
//! struct KeepEverything;
//! impl Guest for KeepEverything {
//!     fn decide(_: Context) -> Result<Decision, Error> {
//!         Ok(Decision::Snapshot(SnapshotRequest { label: None, retain_days: None }))
//!     }
//! }
//! duckstore_plugin_guest::snapshot_policy_plugin!(KeepEverything);
//! ```
//!
//! The macro exports the kind's WIT interface and embeds the plugin's manifest (name and
//! version from Cargo.toml, kind, API version) as the `duckstore:manifest` custom section,
//! which the host reads before it runs any of the plugin's code.

#[cfg(any(
    all(feature = "import-format", feature = "auth-provider"),
    all(feature = "import-format", feature = "snapshot-policy"),
    all(feature = "auth-provider", feature = "snapshot-policy"),
))]
compile_error!("a plugin has exactly one kind: enable one of the features import-format, auth-provider, snapshot-policy");

/// The version of the `duckstore:plugin` WIT package these bindings implement.
pub const API_VERSION: &str = "0.1.0";

#[cfg(feature = "import-format")]
pub mod import_format;

#[cfg(feature = "auth-provider")]
pub mod auth_provider;

#[cfg(feature = "snapshot-policy")]
pub mod snapshot_policy;

#[cfg(any(feature = "import-format", feature = "auth-provider", feature = "snapshot-policy"))]
mod errors;

/// Embeds the manifest for a plugin of `kind`; the kind macros call it.
#[doc(hidden)]
#[macro_export]
macro_rules! __manifest {
    ($kind:literal) => {
        $crate::__manifest!($kind, "");
    };
    ($kind:literal, $extra:literal) => {
        const _: () = {
            const MANIFEST: &str = concat!(
                r#"{"name":""#,
                env!("CARGO_PKG_NAME"),
                r#"","version":""#,
                env!("CARGO_PKG_VERSION"),
                r#"","kind":""#,
                $kind,
                r#"","api":"0.1.0""#,
                $extra,
                "}"
            );
            #[unsafe(link_section = "duckstore:manifest")]
            #[used]
            static EMBEDDED: [u8; MANIFEST.len()] = {
                let bytes = MANIFEST.as_bytes();
                let mut out = [0u8; MANIFEST.len()];
                let mut i = 0;
                while i < out.len() {
                    out[i] = bytes[i];
                    i += 1;
                }
                out
            };
        };
    };
}
