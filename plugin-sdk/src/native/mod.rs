//! Native storage engines: a [`StorageBackend`](crate::StorageBackend) in a shared library
//! the host loads at start-up (`--engine-library`), behind a versioned C ABI.
//!
//! The Rust ABI is not stable between separately built libraries, so nothing Rust-shaped
//! crosses: [`abi`] defines `repr(C)` function tables, requests and results travel as JSON
//! of this crate's types, rows as the Arrow C stream interface, files as descriptors.
//! An engine author implements `StorageBackend` as usual and exports it with
//! [`export_storage_engine!`](crate::export_storage_engine); the host's adapter turns the
//! table back into a `StorageBackend`, so the rest of the host never sees FFI.
//!
//! Native code is trusted: it runs unsandboxed in the server process (unlike WASM plugins).
//! A panic inside an engine call is caught at the boundary and becomes an internal error.

pub mod abi;
pub mod export;
pub mod ops;

pub use abi::{ABI_MAJOR, ABI_MINOR, Buffer, ENTRY_SYMBOL, EngineV1, EntryV1, HostV1, Slice};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Result, StorageError};

/// Runs `f` for a caller across the ABI: its result (or error, or panic) goes into `out`
/// as JSON, and the status says which.
pub fn respond<T: Serialize>(out: &mut Buffer, f: impl FnOnce() -> Result<T>) -> i32 {
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        Err(StorageError::internal(format!("panicked across the engine ABI: {message}")))
    });
    let (status, json) = match outcome.and_then(|value| encode(&value)) {
        Ok(json) => (abi::STATUS_OK, json),
        Err(error) => (abi::STATUS_ERROR, serde_json::to_vec(&error).unwrap_or_default()),
    };
    *out = Buffer::from_vec(json);
    status
}

/// Reads what the other side put into `out` for `status`, then hands the buffer back to
/// that side's `free`.
///
/// # Safety
/// `out` must be a buffer the other side filled in this call, and `free` that side's.
pub unsafe fn reply<T: DeserializeOwned>(status: i32, out: Buffer, free: abi::FreeBuffer) -> Result<T> {
    // SAFETY: per the contract above.
    let decoded = {
        let bytes = unsafe { out.as_bytes() };
        if status == abi::STATUS_OK {
            serde_json::from_slice(bytes)
                .map_err(|e| StorageError::internal(format!("undecodable engine ABI result: {e}")))
        } else {
            Err(serde_json::from_slice::<StorageError>(bytes).unwrap_or_else(|e| {
                StorageError::internal(format!("undecodable engine ABI error (status {status}): {e}"))
            }))
        }
    };
    unsafe { free(out) };
    decoded
}

pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| StorageError::internal(format!("unencodable engine ABI value: {e}")))
}

pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes)
        .map_err(|e| StorageError::invalid("invalid_request", format!("engine ABI request: {e}")))
}
