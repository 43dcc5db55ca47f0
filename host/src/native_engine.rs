//! A storage engine from a native library (`--engine-library`), loaded through the C ABI
//! of `duckstore_plugin_sdk::native`, behind a plain [`StorageBackend`] so that the rest of
//! the host never sees FFI.
//!
//! Loading refuses, with a message that says why, a file that is not a shared library, a
//! library without the ABI-1 entry point (not an engine, or one built for another major),
//! and a table whose header names another major or is too short for this minor. Libraries
//! are never unloaded: engine threads may still run their code at shutdown.

use std::ffi::c_void;
use std::fs::File;
use std::os::fd::{FromRawFd, RawFd};
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, anyhow, bail};
use arrow_array::ffi_stream::FFI_ArrowArrayStream;
use arrow_array::{RecordBatch, RecordBatchReader};
use arrow_schema::{ArrowError, SchemaRef};
use parking_lot::Mutex;
use serde::Serialize;
use serde::de::DeserializeOwned;

use duckstore_plugin_sdk::engine::EngineSettings;
use duckstore_plugin_sdk::files::{FileInfo, Upload, UploadSink};
use duckstore_plugin_sdk::names::{ProjectId, TableRef};
use duckstore_plugin_sdk::native::abi::{
    self, ABI_MAJOR, ABI_MINOR, Buffer, ENTRY_SYMBOL, EngineV1, EntryV1, HostV1, Slice,
};
use duckstore_plugin_sdk::native::{decode, encode, reply, respond};
use duckstore_plugin_sdk::policy::{PolicyContext, SnapshotPolicy};
use duckstore_plugin_sdk::sql::SqlSession;
use duckstore_plugin_sdk::transfer::{ImportRequest, ImportResult, ParsedRows};
use duckstore_plugin_sdk::{BackendInfo, Result, StorageBackend, StorageError};

pub struct NativeEngine {
    table: &'static EngineV1,
    info: BackendInfo,
}

// SAFETY: engine ABI 1 requires an engine's table and functions to be usable from any
// thread at once (the SDK's export wraps a `StorageBackend`, which is Send + Sync).
unsafe impl Send for NativeEngine {}
unsafe impl Sync for NativeEngine {}

impl NativeEngine {
    pub fn load(path: &Path, settings: &EngineSettings, policy: Arc<dyn SnapshotPolicy>) -> anyhow::Result<Self> {
        let shown = path.display();
        // SAFETY: native engines are trusted code the operator installed; running their
        // initialisers is what loading one means.
        let library = unsafe { libloading::Library::new(path) }
            .with_context(|| format!("cannot load the engine library {shown}"))?;
        // SAFETY: the symbol's type is the one ABI 1 defines for it.
        let entry: EntryV1 = *unsafe { library.get::<EntryV1>(ENTRY_SYMBOL) }.map_err(|_| {
            anyhow!(
                "{shown} is not a duckstore engine for this server: it does not export \
                 duckstore_storage_engine_v1 (this duckstore speaks engine ABI {ABI_MAJOR}.{ABI_MINOR}; \
                 an engine built for another ABI major exports another entry point)"
            )
        })?;
        std::mem::forget(library);
        let host: &'static HostV1 = Box::leak(Box::new(HostV1 {
            abi_major: ABI_MAJOR,
            abi_minor: ABI_MINOR,
            struct_size: size_of::<HostV1>(),
            host: Box::into_raw(Box::new(policy)).cast(),
            decide_snapshot,
            free_buffer: abi::free_buffer,
        }));
        let settings = encode(settings)?;
        let mut error = Buffer::EMPTY;
        // SAFETY: `host` lives for the process; `error` is a writable slot.
        let table = unsafe { entry(host, Slice::of(&settings), &mut error) };
        if table.is_null() {
            // The library's free function is in the table it did not return: a start-up
            // error is read and left allocated.
            let error: StorageError = unsafe { decode(error.as_bytes()) }
                .unwrap_or_else(|_| StorageError::internal("the engine reported an unreadable error"));
            bail!("the engine library {shown} failed to open: {}", error.message);
        }
        // Only the header is read before the version is known to match.
        // SAFETY: every ABI version's table starts with this header.
        let (major, minor, size) = unsafe {
            (
                std::ptr::addr_of!((*table).abi_major).read(),
                std::ptr::addr_of!((*table).abi_minor).read(),
                std::ptr::addr_of!((*table).struct_size).read(),
            )
        };
        if major != ABI_MAJOR || size < size_of::<EngineV1>() {
            bail!(
                "the engine library {shown} was built for engine ABI {major}.{minor} ({size}-byte table); \
                 this duckstore speaks {ABI_MAJOR}.{ABI_MINOR}: rebuild the engine against a matching duckstore-plugin-sdk"
            );
        }
        // SAFETY: checked above: a full ABI-1 table, which the engine never frees.
        let table: &'static EngineV1 = unsafe { &*table };
        unsafe { (table.free_buffer)(error) };
        let mut engine =
            Self { table, info: BackendInfo { name: String::new(), version: String::new(), library: None } };
        let info: BackendInfo =
            engine.call("info", &()).with_context(|| format!("the engine library {shown} did not answer"))?;
        engine.info = BackendInfo { library: Some(path.display().to_string()), ..info };
        Ok(engine)
    }

    /// Runs one JSON operation; `args` is the tuple of the method's arguments.
    fn call<T: DeserializeOwned>(&self, op: &str, args: &impl Serialize) -> Result<T> {
        let request = encode(args)?;
        let mut out = Buffer::EMPTY;
        // SAFETY: the table is a checked ABI-1 table; the slices outlive the call.
        let status =
            unsafe { (self.table.call)(self.table.engine, Slice::of(op.as_bytes()), Slice::of(&request), &mut out) };
        // SAFETY: the engine filled `out` in this call.
        unsafe { reply(status, out, self.table.free_buffer) }
    }
}

/// The host side of [`HostV1::decide_snapshot`]: asks the server's snapshot policy.
unsafe extern "C" fn decide_snapshot(host: *mut c_void, context: Slice, out: *mut Buffer) -> i32 {
    // SAFETY: the caller passes a writable result slot.
    respond(unsafe { &mut *out }, || {
        // SAFETY: `host` is the boxed policy `NativeEngine::load` leaked for this table.
        let policy = unsafe { &*host.cast::<Arc<dyn SnapshotPolicy>>() };
        let context: PolicyContext = decode(unsafe { context.as_bytes() })?;
        policy.decide(&context)
    })
}

/// An open upload or file handed over as a descriptor the engine gave up.
#[derive(serde::Deserialize)]
struct UploadReply {
    upload: Upload,
    max_bytes: u64,
    fd: RawFd,
}

#[derive(serde::Deserialize)]
struct FileReply {
    file: FileInfo,
    fd: RawFd,
}

/// Takes ownership of a descriptor an engine passed over.
fn adopt(fd: RawFd) -> Result<File> {
    if fd < 0 {
        return Err(StorageError::internal(format!("the engine passed an invalid file descriptor {fd}")));
    }
    // SAFETY: the engine gave up this open descriptor (`into_raw_fd`) for us to own.
    Ok(unsafe { File::from_raw_fd(fd) })
}

macro_rules! forwarded {
    ($(fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)*) => {
        impl StorageBackend for NativeEngine {
            $(fn $name(&self, $($arg: $ty),*) -> Result<$ret> {
                self.call(stringify!($name), &($($arg,)*))
            })*

            fn info(&self) -> BackendInfo {
                self.info.clone()
            }

            fn import_rows(
                &self,
                table: &TableRef,
                request: &ImportRequest,
                rows: ParsedRows<'_>,
                actor: &str,
            ) -> Result<ImportResult> {
                import_rows(self.table, (table, request, rows.bytes, actor), rows.schema, rows.batches)
            }

            fn open_sql_session(&self, _id: &str) -> Result<Box<dyn SqlSession>> {
                Err(StorageError::unsupported(format!(
                    "the {} engine is native: SQL sessions need the built-in engine (engine ABI {ABI_MAJOR} does not carry them)",
                    self.info.name
                )))
            }

            fn open_upload(&self, project: &ProjectId, upload_key: &str) -> Result<UploadSink> {
                let reply: UploadReply = self.call("open_upload", &(project, upload_key))?;
                Ok(UploadSink { upload: reply.upload, file: adopt(reply.fd)?, max_bytes: reply.max_bytes })
            }

            fn open_file(&self, project: &ProjectId, file_id: &str) -> Result<(FileInfo, File)> {
                let reply: FileReply = self.call("open_file", &(project, file_id))?;
                Ok((reply.file, adopt(reply.fd)?))
            }
        }
    };
}

duckstore_plugin_sdk::storage_ops!(forwarded);

/// Streams parsed rows to the engine as an Arrow C stream. The rows are produced on a
/// scoped thread (`imports::on_thread`), so the stream the engine holds owns everything
/// it points to; the first parse error is kept whole (code, location)
/// instead of the text an Arrow error would carry across.
fn import_rows(
    table: &EngineV1,
    request: (&TableRef, &ImportRequest, u64, &str),
    schema: SchemaRef,
    batches: Box<dyn Iterator<Item = Result<RecordBatch>> + Send + '_>,
) -> Result<ImportResult> {
    let request = encode(&request)?;
    let failure = Arc::new(Mutex::new(None));
    let outcome = std::thread::scope(|scope| {
        let rows = Received { schema, receiver: crate::imports::on_thread(scope, batches), failure: failure.clone() };
        let mut stream = FFI_ArrowArrayStream::new(Box::new(rows));
        let mut out = Buffer::EMPTY;
        // SAFETY: a checked ABI-1 table; the engine takes the stream (releases it) and fills `out`.
        let status = unsafe { (table.import_rows)(table.engine, Slice::of(&request), &mut stream, &mut out) };
        unsafe { reply::<ImportResult>(status, out, table.free_buffer) }
    });
    outcome.map_err(|error| failure.lock().take().unwrap_or(error))
}

struct Received {
    schema: SchemaRef,
    receiver: std::sync::mpsc::Receiver<Result<RecordBatch>>,
    failure: Arc<Mutex<Option<StorageError>>>,
}

impl Iterator for Received {
    type Item = std::result::Result<RecordBatch, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.receiver.recv().ok()? {
            Ok(batch) => Some(Ok(batch)),
            Err(error) => {
                let message = error.message.clone();
                *self.failure.lock() = Some(error);
                Some(Err(ArrowError::ExternalError(message.into())))
            }
        }
    }
}

impl RecordBatchReader for Received {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}
