//! End-to-end tests: each starts the real `duckstore` binary and uses it like a user.

mod harness;

mod api_keys;
mod auth_matrix;
mod bad_input;
mod projects;
mod restart;
mod tables;
