//! Build script shared by every package whose binaries link libduckdb.
//!
//! The prebuilt libduckdb is a shared library outside the system search path, so each
//! binary carries an rpath to it: first the binary's own directory (an installed
//! `duckstore` ships with `libduckdb.so` beside it), then the directory it was linked from.
pub fn main() {
    println!("cargo:rerun-if-env-changed=DUCKDB_LIB_DIR");
    println!("cargo:rustc-link-arg=-Wl,-rpath,$ORIGIN");
    if let Ok(dir) = std::env::var("DUCKDB_LIB_DIR") {
        let dir = std::fs::canonicalize(&dir).unwrap_or_else(|_| dir.into());
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.display());
    }
}
