//! Links libduckdb (see build/link-duckdb.rs) and builds the first-party WASM plugins of
//! `plugins/` for wasm32-wasip2, so that the binary can embed them (`plugins::embedded`)
//! and the tests can load the test-only ones. They build in their own target directory
//! beside this one's, by a nested cargo, which is incremental like any other build.

use std::path::PathBuf;
use std::process::Command;

#[path = "../build/link-duckdb.rs"]
mod link_duckdb;

/// Packages of `plugins/`, grouped by the guest-SDK feature they enable: one cargo run
/// per group, because cargo would unify the features of packages built together.
const GROUPS: &[&[&str]] = &[
    &["import-jsonl", "import-xlsx", "net-probe"],
    &["auth-jwt", "hostile-auth"],
    &["snapshot-policy-default", "snapshot-policy-strict", "template", "hostile-policy"],
];

fn main() {
    link_duckdb::main();
    for watched in ["../plugins", "../plugin-sdk/wit", "../plugin-sdk/guest"] {
        println!("cargo:rerun-if-changed={watched}");
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    // OUT_DIR is <target>/<profile>/build/<package>-<hash>/out.
    let target = out.ancestors().nth(4).expect("OUT_DIR lies inside the target directory").join("wasm-plugins");
    let plugins = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it")).join("../plugins");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    for group in GROUPS {
        let mut command = Command::new(&cargo);
        command
            .current_dir(&plugins)
            .args(["build", "--release", "--locked", "--target", "wasm32-wasip2", "--target-dir"])
            .arg(&target)
            .args(group.iter().flat_map(|p| ["-p", p]));
        for inherited in
            ["RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS", "RUSTC_WRAPPER", "RUSTC_WORKSPACE_WRAPPER", "CARGO_TARGET_DIR"]
        {
            command.env_remove(inherited);
        }
        let status = command.status().expect("cargo runs");
        if !status.success() {
            panic!(
                "building the WASM plugins ({}) failed; if the wasm32-wasip2 target is missing, run scripts/setup",
                group.join(", ")
            );
        }
    }
    println!("cargo:rustc-env=DUCKSTORE_PLUGINS_OUT={}", target.join("wasm32-wasip2/release").display());
}
