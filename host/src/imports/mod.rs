//! Which reader an import uses: DuckDB's own for CSV and Parquet, or an import-format
//! plugin, chosen by the request's `format`, else the file's extension, else by asking
//! the plugins about the file's first bytes. Both paths load through the engine with the
//! same atomicity: a plugin that fails leaves the table as it was. Large files of a format
//! with line records are parsed on several cores ([`lines`]).

mod lines;

use std::io::Read;
use std::sync::Arc;
use std::sync::mpsc::Receiver;

use arrow_array::RecordBatch;

use duckstore_plugin_sdk::names::TableRef;
use duckstore_plugin_sdk::transfer::{ImportRequest, ImportResult, ParsedRows};
use duckstore_plugin_sdk::{Result, StorageBackend, StorageError};

use crate::plugins::Plugins;
use crate::plugins::formats::FormatParser;
use crate::plugins::loader::Loaded;

/// Formats DuckDB reads itself.
const NATIVE: &[&str] = &["csv", "parquet"];
/// File extensions of the native formats (and their usual compressed forms).
const NATIVE_EXTENSIONS: &[&str] = &["csv", "tsv", "txt", "gz", "parquet"];
/// How much of a file sniffing looks at.
const SNIFF_BYTES: usize = 64 << 10;
/// How much of a file one call into a plugin gets (and one part of a parallel parse).
const CHUNK_BYTES: usize = 4 << 20;

pub fn import(
    plugins: &Arc<Plugins>,
    storage: &dyn StorageBackend,
    table: &TableRef,
    request: &ImportRequest,
    actor: &str,
) -> Result<ImportResult> {
    let Some(file_id) = &request.file_id else { return storage.import_table(table, request, actor) };
    let Some(plugin) = plugin_for(plugins, storage, table, file_id, request.format.as_deref())? else {
        if request.options.is_some() {
            return Err(StorageError::invalid(
                "invalid_options",
                "options are for plugin formats; CSV is configured with `csv` and Parquet needs none",
            ));
        }
        return storage.import_table(table, request, actor);
    };
    let columns = storage.get_table(table)?.columns;
    let (info, mut file) = storage.open_file(&table.project, file_id)?;
    let options = request.options.as_ref().map_or_else(String::new, |o| o.to_string());
    let workers = plugins.parse_threads();
    if plugin.manifest.line_records && workers > 1 && info.size_bytes > CHUNK_BYTES as u64 {
        let job = lines::Job { plugins, loaded: &plugin, options: &options, columns: &columns };
        return std::thread::scope(|scope| {
            let (schema, batches) = lines::parse(scope, job, file, CHUNK_BYTES, workers)?;
            let rows = ParsedRows { schema, batches: Box::new(batches), bytes: info.size_bytes };
            storage.import_rows(table, request, rows, actor)
        });
    }
    let mut parser = plugins.open_parser(plugin, &options, &columns)?;
    // The engine needs the columns before the rows: parse until the first batch.
    let chunks = FileChunks { parser: &mut parser, file: &mut file, chunk: vec![0; CHUNK_BYTES], ended: false };
    let mut reader = OneByOne::new(chunks);
    reader.fill()?;
    let schema = reader.groups.parser.schema();
    std::thread::scope(|scope| {
        let batches = on_thread(scope, reader).into_iter();
        storage.import_rows(
            table,
            request,
            ParsedRows { schema, batches: Box::new(batches), bytes: info.size_bytes },
            actor,
        )
    })
}

/// Runs `batches` on a thread of `scope` and hands them over through a small channel, so
/// that parsing (one core) overlaps with loading (DuckDB's threads). Producing stops at the
/// first error, or when the receiver is dropped.
pub fn on_thread<'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    batches: impl Iterator<Item = Result<RecordBatch>> + Send + 'scope,
) -> Receiver<Result<RecordBatch>> {
    let (sender, receiver) = std::sync::mpsc::sync_channel(2);
    scope.spawn(move || {
        for batch in batches {
            let stop = batch.is_err();
            if sender.send(batch).is_err() || stop {
                break;
            }
        }
    });
    receiver
}

/// The plugin to read the file with, or `None` for DuckDB's own readers.
fn plugin_for(
    plugins: &Plugins,
    storage: &dyn StorageBackend,
    table: &TableRef,
    file_id: &str,
    format: Option<&str>,
) -> Result<Option<Arc<Loaded>>> {
    if let Some(format) = format {
        if NATIVE.iter().any(|n| n.eq_ignore_ascii_case(format)) {
            return Ok(None);
        }
        return plugins.format_named(format).map(Some).ok_or_else(|| {
            let mut known: Vec<String> = NATIVE.iter().map(|n| n.to_string()).collect();
            known.extend(plugins.format_names());
            StorageError::invalid(
                "unsupported_format",
                format!("no import format is named {format:?}; available: {}", known.join(", ")),
            )
        });
    }
    let name = storage.get_file(&table.project, file_id)?.name;
    let lower = name.to_ascii_lowercase();
    if NATIVE_EXTENSIONS.iter().any(|x| lower.ends_with(&format!(".{x}"))) {
        return Ok(None);
    }
    if let Some(plugin) = plugins.format_for_file(&name) {
        return Ok(Some(plugin));
    }
    let (_, mut file) = storage.open_file(&table.project, file_id)?;
    let mut head = Vec::with_capacity(SNIFF_BYTES);
    file.by_ref().take(SNIFF_BYTES as u64).read_to_end(&mut head)?;
    if head.starts_with(b"PAR1") {
        return Ok(None);
    }
    Ok(plugins.sniff(&head))
}

/// Where batches come from in groups: a chunk of a file, a part of it.
trait Groups {
    /// The next group; `None` once there are no more.
    fn next_group(&mut self) -> Result<Option<Vec<RecordBatch>>>;
}

/// The batches of some [`Groups`] one at a time, taken as the engine asks for them; the
/// first error ends them.
struct OneByOne<G> {
    groups: G,
    /// Batches of the current group, last first.
    pending: Vec<RecordBatch>,
    done: bool,
}

impl<G: Groups> OneByOne<G> {
    fn new(groups: G) -> Self {
        Self { groups, pending: Vec::new(), done: false }
    }

    /// Takes groups until one has batches or there are no more.
    fn fill(&mut self) -> Result<()> {
        while self.pending.is_empty() && !self.done {
            match self.groups.next_group()? {
                Some(mut group) => {
                    group.reverse();
                    self.pending = group;
                }
                None => self.done = true,
            }
        }
        Ok(())
    }
}

impl<G: Groups> Iterator for OneByOne<G> {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Err(e) = self.fill() {
            self.done = true;
            self.pending.clear();
            return Some(Err(e));
        }
        self.pending.pop().map(Ok)
    }
}

/// A file fed to a parser one chunk at a time.
struct FileChunks<'a> {
    parser: &'a mut FormatParser,
    file: &'a mut std::fs::File,
    /// The read buffer, reused for every chunk.
    chunk: Vec<u8>,
    ended: bool,
}

impl Groups for FileChunks<'_> {
    fn next_group(&mut self) -> Result<Option<Vec<RecordBatch>>> {
        if self.ended {
            return Ok(None);
        }
        let n = read_full(self.file, &mut self.chunk)?;
        if n == 0 {
            self.ended = true;
            return Ok(Some(self.parser.finish()?));
        }
        Ok(Some(self.parser.feed(&self.chunk[..n])?))
    }
}

/// Reads until `buf` is full or the file ends.
pub(super) fn read_full(file: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}
