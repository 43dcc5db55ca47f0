//! End-to-end tests: each starts the real `duckstore` binary and uses it like a user.

mod harness;

mod api_keys;
mod audit;
mod auth_matrix;
mod bad_input;
mod branches;
mod crash;
mod dbt;
mod exports;
mod files;
mod hostile;
mod idempotency;
mod imports;
mod jdbc;
mod jobs;
mod keboola;
mod native_engine;
mod pg_fidelity;
mod pg_security;
mod plugins;
mod projects;
mod restart;
mod schema;
mod sharing;
mod snapshots;
mod tables;
mod workspaces;
