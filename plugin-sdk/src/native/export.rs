//! The engine side of the ABI: turns a [`StorageBackend`] into the function table the
//! host loads. Engine authors only write
//! `duckstore_plugin_sdk::export_storage_engine!(open);` with
//! `fn open(settings: EngineSettings, policy: Arc<dyn SnapshotPolicy>) -> Result<MyEngine>`.

use std::ffi::c_void;
use std::os::fd::IntoRawFd;
use std::sync::Arc;

use arrow_array::RecordBatchReader;
use arrow_array::ffi_stream::{ArrowArrayStreamReader, FFI_ArrowArrayStream};
use serde_json::{Value, json};

use super::abi::{self, Buffer, EngineV1, HostV1, Slice};
use super::ops::Arg;
use super::{decode, encode, reply, respond};
use crate::engine::EngineSettings;
use crate::names::{ProjectId, TableRef};
use crate::policy::{Decision, PolicyContext, SnapshotPolicy};
use crate::transfer::{ImportRequest, ParsedRows};
use crate::{Result, StorageBackend, StorageError};

/// Exports `$open` as the library's `duckstore_storage_engine_v1` entry point.
#[macro_export]
macro_rules! export_storage_engine {
    ($open:path) => {
        /// The duckstore engine ABI 1 entry point.
        ///
        /// # Safety
        /// Called by the duckstore host only, with its own function table.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn duckstore_storage_engine_v1(
            host: *const $crate::native::HostV1,
            settings: $crate::native::Slice,
            error: *mut $crate::native::Buffer,
        ) -> *const $crate::native::EngineV1 {
            unsafe { $crate::native::export::start(host, settings, error, $open) }
        }
    };
}

/// What the entry point does: checks the host's table, opens the engine, and leaks its
/// function table (the host never unloads an engine).
///
/// # Safety
/// `host` must be the host's table, valid for the life of the process; `error` writable.
pub unsafe fn start<B: StorageBackend>(
    host: *const HostV1,
    settings: Slice,
    error: *mut Buffer,
    open: fn(EngineSettings, Arc<dyn SnapshotPolicy>) -> Result<B>,
) -> *const EngineV1 {
    let mut table = std::ptr::null();
    // SAFETY: the caller passes a writable result slot.
    respond(unsafe { &mut *error }, || {
        // SAFETY: the host passes its table, valid for the life of the process.
        let host = unsafe { host.as_ref() }.ok_or_else(|| StorageError::internal("no host table given"))?;
        if host.abi_major != abi::ABI_MAJOR || host.struct_size < size_of::<HostV1>() {
            return Err(StorageError::internal(format!(
                "host speaks engine ABI {}.{}, this engine was built for {}.{}",
                host.abi_major,
                host.abi_minor,
                abi::ABI_MAJOR,
                abi::ABI_MINOR
            )));
        }
        let settings = decode(unsafe { settings.as_bytes() })?;
        let backend: Box<dyn StorageBackend> = Box::new(open(settings, Arc::new(HostPolicy(host)))?);
        table = Box::into_raw(Box::new(EngineV1 {
            abi_major: abi::ABI_MAJOR,
            abi_minor: abi::ABI_MINOR,
            struct_size: size_of::<EngineV1>(),
            engine: Box::into_raw(Box::new(backend)).cast(),
            call,
            import_rows,
            free_buffer: abi::free_buffer,
        }));
        Ok(())
    });
    table
}

/// # Safety
/// `engine` must be the pointer of a table made by [`start`].
unsafe fn backend<'a>(engine: *mut c_void) -> &'a dyn StorageBackend {
    unsafe { &**engine.cast::<Box<dyn StorageBackend>>() }
}

unsafe extern "C" fn call(engine: *mut c_void, op: Slice, request: Slice, out: *mut Buffer) -> i32 {
    // SAFETY: the caller passes a writable result slot.
    respond(unsafe { &mut *out }, || {
        let backend = unsafe { backend(engine) };
        let op = std::str::from_utf8(unsafe { op.as_bytes() })
            .map_err(|_| StorageError::invalid("invalid_request", "operation name is not UTF-8"))?;
        let request: Value = decode(unsafe { request.as_bytes() })?;
        dispatch(backend, op, request)
    })
}

unsafe extern "C" fn import_rows(
    engine: *mut c_void,
    request: Slice,
    rows: *mut FFI_ArrowArrayStream,
    out: *mut Buffer,
) -> i32 {
    // SAFETY: the caller passes a writable result slot.
    respond(unsafe { &mut *out }, || {
        // Take the stream first, so that it is released whatever happens next.
        let reader = unsafe { ArrowArrayStreamReader::from_raw(rows) }
            .map_err(|e| StorageError::internal(format!("unreadable row stream: {e}")))?;
        let backend = unsafe { backend(engine) };
        let (table, request, bytes, actor): (TableRef, ImportRequest, u64, String) =
            decode(unsafe { request.as_bytes() })?;
        let rows = ParsedRows {
            schema: reader.schema(),
            batches: Box::new(
                reader.map(|batch| batch.map_err(|e| StorageError::invalid("invalid_rows", e.to_string()))),
            ),
            bytes,
        };
        backend.import_rows(&table, &request, rows, &actor)
    })
}

/// Runs one JSON operation: those of [`storage_ops!`](crate::storage_ops), plus `info`
/// and the two that hand over an open file as its descriptor.
fn dispatch(backend: &dyn StorageBackend, op: &str, request: Value) -> Result<Value> {
    macro_rules! dispatcher {
        ($(fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)*) => {
            match op {
                $(stringify!($name) => {
                    #[allow(unused_mut, unused_variables)] // methods without arguments
                    let mut args = Args::new(op, request)?;
                    $(let $arg: <$ty as Arg<'_>>::Owned = args.next(stringify!($arg))?;)*
                    encode_value(&backend.$name($(<$ty as Arg<'_>>::lend(&$arg)),*)?)
                })*
                "info" => encode_value(&backend.info()),
                "open_upload" => {
                    let (project, upload_key): (ProjectId, String) = serde_json::from_value(request)
                        .map_err(|e| StorageError::invalid("invalid_request", format!("open_upload: {e}")))?;
                    let sink = backend.open_upload(&project, &upload_key)?;
                    Ok(json!({"upload": sink.upload, "max_bytes": sink.max_bytes, "fd": sink.file.into_raw_fd()}))
                }
                "open_file" => {
                    let (project, file_id): (ProjectId, String) = serde_json::from_value(request)
                        .map_err(|e| StorageError::invalid("invalid_request", format!("open_file: {e}")))?;
                    let (info, file) = backend.open_file(&project, &file_id)?;
                    Ok(json!({"file": info, "fd": file.into_raw_fd()}))
                }
                _ => Err(StorageError::unsupported(format!(
                    "engine operation {op} is not part of engine ABI {}.{}", abi::ABI_MAJOR, abi::ABI_MINOR
                ))),
            }
        };
    }
    crate::storage_ops!(dispatcher)
}

fn encode_value<T: serde::Serialize>(value: &T) -> Result<Value> {
    serde_json::to_value(value).map_err(|e| StorageError::internal(format!("unencodable engine ABI value: {e}")))
}

/// The positional arguments of one operation.
struct Args {
    op: String,
    values: std::vec::IntoIter<Value>,
}

impl Args {
    fn new(op: &str, request: Value) -> Result<Self> {
        match request {
            Value::Array(values) => Ok(Self { op: op.to_owned(), values: values.into_iter() }),
            // A method without arguments sends the empty tuple, `null`.
            Value::Null => Ok(Self { op: op.to_owned(), values: Vec::new().into_iter() }),
            _ => Err(StorageError::invalid("invalid_request", format!("{op}: arguments must be a JSON array"))),
        }
    }

    fn next<T: serde::de::DeserializeOwned>(&mut self, name: &str) -> Result<T> {
        let value = self.values.next().unwrap_or(Value::Null);
        serde_json::from_value(value)
            .map_err(|e| StorageError::invalid("invalid_request", format!("{}: argument {name}: {e}", self.op)))
    }
}

/// The host's snapshot policy, asked across the ABI.
struct HostPolicy(&'static HostV1);

// SAFETY: the host's table is immutable and its functions may be called from any thread.
unsafe impl Send for HostPolicy {}
unsafe impl Sync for HostPolicy {}

impl SnapshotPolicy for HostPolicy {
    fn decide(&self, context: &PolicyContext) -> Result<Decision> {
        let request = encode(context)?;
        let mut out = Buffer::EMPTY;
        let status = unsafe { (self.0.decide_snapshot)(self.0.host, Slice::of(&request), &mut out) };
        unsafe { reply(status, out, self.0.free_buffer) }
    }
}
