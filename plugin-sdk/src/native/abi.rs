//! The C ABI, version 1: what a native engine library and the host exchange.
//!
//! The library exports one symbol, [`ENTRY_SYMBOL`] (the ABI major is in its name, so a
//! library built for another major is not even found). The host calls it with its own
//! function table ([`HostV1`]) and the engine settings as JSON; the library returns its
//! function table ([`EngineV1`]), which lives as long as the process.
//!
//! Both tables start with `{abi_major, abi_minor, struct_size}`: a minor version only
//! appends fields, and a reader checks `struct_size` before touching a field newer than
//! the table it was given. Requests, results and errors cross as JSON (the serde forms of
//! this crate's types); rows cross as the Arrow C stream interface. Whoever allocated a
//! [`Buffer`] frees it, through that side's `free_buffer`.

use std::ffi::c_void;

pub use arrow_array::ffi_stream::FFI_ArrowArrayStream;

pub const ABI_MAJOR: u32 = 1;
pub const ABI_MINOR: u32 = 0;
/// The NUL-terminated name of the entry point, `duckstore_storage_engine_v1`.
pub const ENTRY_SYMBOL: &[u8] = b"duckstore_storage_engine_v1\0";

/// A call succeeded: the output buffer holds the JSON result.
pub const STATUS_OK: i32 = 0;
/// A call failed: the output buffer holds a JSON [`StorageError`](crate::StorageError).
pub const STATUS_ERROR: i32 = 1;

/// Bytes lent for the duration of one call.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Slice {
    pub ptr: *const u8,
    pub len: usize,
}

impl Slice {
    pub fn of(bytes: &[u8]) -> Self {
        Self { ptr: bytes.as_ptr(), len: bytes.len() }
    }

    /// # Safety
    /// `ptr` must point to `len` readable bytes that outlive the returned slice.
    pub unsafe fn as_bytes<'a>(self) -> &'a [u8] {
        if self.len == 0 { &[] } else { unsafe { std::slice::from_raw_parts(self.ptr, self.len) } }
    }
}

/// Bytes handed to the other side, which returns them to the allocating side's `free_buffer`.
#[repr(C)]
pub struct Buffer {
    pub ptr: *mut u8,
    pub len: usize,
    pub capacity: usize,
}

impl Buffer {
    pub const EMPTY: Buffer = Buffer { ptr: std::ptr::null_mut(), len: 0, capacity: 0 };

    pub fn from_vec(bytes: Vec<u8>) -> Self {
        let mut bytes = std::mem::ManuallyDrop::new(bytes);
        Self { ptr: bytes.as_mut_ptr(), len: bytes.len(), capacity: bytes.capacity() }
    }

    /// # Safety
    /// The buffer must come from [`Buffer::from_vec`] of this side and not be used again.
    pub unsafe fn into_vec(self) -> Vec<u8> {
        if self.ptr.is_null() { Vec::new() } else { unsafe { Vec::from_raw_parts(self.ptr, self.len, self.capacity) } }
    }

    /// # Safety
    /// The buffer must be live (not yet freed).
    pub unsafe fn as_bytes(&self) -> &[u8] {
        unsafe { Slice { ptr: self.ptr, len: self.len }.as_bytes() }
    }
}

/// Frees a [`Buffer`] of the side that exports this function.
pub type FreeBuffer = unsafe extern "C" fn(buffer: Buffer);

/// Frees buffers this side allocated: every table's `free_buffer` points here.
///
/// # Safety
/// `buffer` must come from [`Buffer::from_vec`] in this library.
pub unsafe extern "C" fn free_buffer(buffer: Buffer) {
    drop(unsafe { buffer.into_vec() });
}

/// The engine's function table. Every function may be called from many threads at once.
#[repr(C)]
pub struct EngineV1 {
    pub abi_major: u32,
    pub abi_minor: u32,
    pub struct_size: usize,
    pub engine: *mut c_void,
    /// Runs one [`StorageBackend`](crate::StorageBackend) operation: `op` is the method's
    /// name, `request` a JSON array of its arguments, `out` receives the JSON result.
    pub call: unsafe extern "C" fn(engine: *mut c_void, op: Slice, request: Slice, out: *mut Buffer) -> i32,
    /// `import_rows`: `request` is `[table, import request, bytes, actor]`, the rows come
    /// from `rows`, which the engine consumes (releases).
    pub import_rows: unsafe extern "C" fn(
        engine: *mut c_void,
        request: Slice,
        rows: *mut FFI_ArrowArrayStream,
        out: *mut Buffer,
    ) -> i32,
    pub free_buffer: FreeBuffer,
}

/// The host's function table, given to the entry point; valid for the life of the process.
#[repr(C)]
pub struct HostV1 {
    pub abi_major: u32,
    pub abi_minor: u32,
    pub struct_size: usize,
    pub host: *mut c_void,
    /// Asks the configured snapshot policy: `context` is a JSON
    /// [`PolicyContext`](crate::policy::PolicyContext), `out` receives a JSON
    /// [`Decision`](crate::policy::Decision).
    pub decide_snapshot: unsafe extern "C" fn(host: *mut c_void, context: Slice, out: *mut Buffer) -> i32,
    pub free_buffer: FreeBuffer,
}

/// The entry point: returns the engine's table, or null with a JSON error in `error`.
pub type EntryV1 = unsafe extern "C" fn(host: *const HostV1, settings: Slice, error: *mut Buffer) -> *const EngineV1;
