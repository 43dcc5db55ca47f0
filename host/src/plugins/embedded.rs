//! The first-party plugins built into the binary (built for wasm32-wasip2 by host/build.rs
//! from the `plugins/` workspace), so that a bare `duckstore serve` has them.

pub const FIRST_PARTY: &[&[u8]] = &[
    include_bytes!(concat!(env!("DUCKSTORE_PLUGINS_OUT"), "/import_jsonl.wasm")),
    include_bytes!(concat!(env!("DUCKSTORE_PLUGINS_OUT"), "/import_xlsx.wasm")),
    include_bytes!(concat!(env!("DUCKSTORE_PLUGINS_OUT"), "/auth_jwt.wasm")),
    include_bytes!(concat!(env!("DUCKSTORE_PLUGINS_OUT"), "/snapshot_policy_default.wasm")),
    include_bytes!(concat!(env!("DUCKSTORE_PLUGINS_OUT"), "/snapshot_policy_strict.wasm")),
];

/// The snapshot policy used unless the configuration names another.
pub const DEFAULT_SNAPSHOT_POLICY: &str = "snapshot-policy-default";
