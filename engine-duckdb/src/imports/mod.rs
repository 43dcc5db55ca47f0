//! Loading rows into tables from files (CSV, Parquet) and from other tables.
//!
//! Every source becomes one SQL `SELECT` yielding exactly the table's columns, typed and
//! in table order; the load strategies then differ only in where those rows go:
//! - a **full load** builds a complete new table file beside the old one and renames it
//!   over the old one, so a failure (or a crash) at any point leaves the old table intact,
//!   and the file never keeps the old rows' dead space;
//! - an **incremental load** stages the rows in a temporary table and, in one transaction,
//!   deletes the rows whose keys it carries and inserts it (about 5× faster than MERGE
//!   here, and without DuckDB's primary-key indexes, whose WAL replay is fragile).
//!
//! Columns are matched by name, never by position; the primary key is catalog metadata.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema};
use chrono::NaiveDateTime;
use duckdb::Connection;
use duckdb::arrow::array::{Int64Array, RecordBatch};
use serde_json::json;

use duckstore_plugin_sdk::jobs::JobProgress;
use duckstore_plugin_sdk::model::{NewTable, Table};
use duckstore_plugin_sdk::names::{BucketRef, ColumnName, TableRef};
use duckstore_plugin_sdk::policy::DestructiveOp;
use duckstore_plugin_sdk::schema::{Column, ColumnDef, ColumnType};
use duckstore_plugin_sdk::transfer::{
    CsvDialect, CsvOptions, DedupMode, ImportRequest, ImportResult, ImportSource, NewTableFromFile, ParsedRows,
    SourceTable,
};
use duckstore_plugin_sdk::{ErrorKind, Result, StorageError};

use crate::DuckEngine;
use crate::catalog::naive;
use crate::commit::Settle;
use crate::error::db_err;
use crate::jobs::{JobNote, check_cancelled, interruptible};
use crate::sql::{column_ddl, ident, literal};
use crate::table_files::{Start, TableFile};
use crate::tables::{TableMeta, count_rows};

mod scan;

use scan::{Plain, is_gzip};

/// The file formats the engine reads itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Csv,
    Parquet,
}

/// Picks the format: as requested, else by the file name, else by the content's magic bytes.
fn format_of(requested: Option<&str>, name: &str, path: &Path) -> Result<Format> {
    match requested.map(str::to_ascii_lowercase).as_deref() {
        Some("csv") => return Ok(Format::Csv),
        Some("parquet") => return Ok(Format::Parquet),
        Some(other) => {
            return Err(StorageError::invalid("unsupported_format", format!("unknown import format {other:?}")));
        }
        None => {}
    }
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".parquet") {
        return Ok(Format::Parquet);
    }
    let mut magic = [0u8; 4];
    let is_parquet = std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut magic)).is_ok() && &magic == b"PAR1";
    Ok(if is_parquet { Format::Parquet } else { Format::Csv })
}

/// Reads a CSV file's first record with the given dialect (decompressing gzip).
fn read_header(path: &Path, dialect: CsvDialect) -> Result<Vec<String>> {
    let file = std::fs::File::open(path)?;
    let input: Box<dyn Read> =
        if is_gzip(path) { Box::new(flate2::read::MultiGzDecoder::new(file)) } else { Box::new(file) };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(dialect.delimiter)
        .quoting(dialect.quote.is_some())
        .quote(dialect.quote.unwrap_or(b'"'))
        .double_quote(dialect.escape.is_none() || dialect.escape == dialect.quote)
        .escape(dialect.escape.filter(|e| Some(*e) != dialect.quote))
        .from_reader(input);
    let mut record = csv::StringRecord::new();
    let found = reader
        .read_record(&mut record)
        .map_err(|e| StorageError::unprocessable("invalid_csv", format!("cannot read the CSV header: {e}")))?;
    if !found {
        return Err(StorageError::unprocessable("invalid_csv", "the file is empty: expected a header line"));
    }
    Ok(record
        .iter()
        .enumerate()
        .map(|(i, h)| if i == 0 { h.trim_start_matches('\u{feff}') } else { h }.to_owned())
        .collect())
}

/// Matches source column names to the table's columns (case-insensitively, like SQL):
/// returns, for each source column in order, the table column it fills. Every table column
/// must be present exactly once, and no other column may be.
fn match_columns<'a>(source: &[String], table: &'a [Column]) -> Result<Vec<&'a Column>> {
    let mut matched = Vec::with_capacity(source.len());
    let mut unknown = Vec::new();
    for name in source {
        match table.iter().find(|c| c.def.name.as_str().eq_ignore_ascii_case(name)) {
            Some(col) if matched.iter().any(|m: &&Column| std::ptr::eq(*m, col)) => {
                return Err(StorageError::invalid(
                    "duplicate_column",
                    format!("the source names column {name:?} twice"),
                ));
            }
            Some(col) => matched.push(col),
            None => unknown.push(name.as_str()),
        }
    }
    if !unknown.is_empty() {
        return Err(StorageError::invalid(
            "unknown_columns",
            format!("the source has columns the table does not: {}", unknown.join(", ")),
        ));
    }
    let missing: Vec<&str> =
        table.iter().filter(|c| !matched.iter().any(|m| std::ptr::eq(*m, *c))).map(|c| c.def.name.as_str()).collect();
    if !missing.is_empty() {
        return Err(StorageError::invalid(
            "missing_columns",
            format!(
                "the source lacks table columns: {} (add them to the source, or drop them from the table)",
                missing.join(", ")
            ),
        ));
    }
    Ok(matched)
}

/// The table's entry with the source's columns it lacks appended (nullable text), and those
/// columns; `None` when the source brings no new column.
fn widen(meta: &TableMeta, source: &[String]) -> Result<Option<(TableMeta, Vec<ColumnDef>)>> {
    let mut added: Vec<ColumnDef> = Vec::new();
    for name in source {
        let known = |n: &str| n.eq_ignore_ascii_case(name);
        if meta.columns.iter().any(|c| known(c.def.name.as_str())) || added.iter().any(|d| known(d.name.as_str())) {
            continue;
        }
        let name = ColumnName::user(name).map_err(|e| {
            StorageError::invalid(
                "invalid_column_name",
                format!("the source's column {name:?} cannot be added: {}", e.message),
            )
        })?;
        added.push(ColumnDef { name, data_type: ColumnType::Varchar, nullable: true, default: None });
    }
    if added.is_empty() {
        return Ok(None);
    }
    duckstore_plugin_sdk::schema::check_column_count(meta.columns.len() + added.len())?;
    let mut defs = meta.defs();
    defs.extend(added.iter().cloned());
    let columns = TableMeta::new(&defs, &meta.primary_key, meta.created_at).columns;
    Ok(Some((TableMeta { columns, ..meta.clone() }, added)))
}

/// The table an import copies rows from: in the target's project, on the target's branch
/// unless the request names another.
fn source_table_ref(target: &TableRef, source: &SourceTable) -> TableRef {
    TableRef {
        project: target.project.clone(),
        branch: source.branch_id.clone().unwrap_or_else(|| target.branch.clone()),
        bucket: source.bucket_id.clone(),
        table: source.table_name.clone(),
    }
}

/// Turns DuckDB's report of bad input into a 4xx: a CSV error into one line naming the line
/// and column, a Parquet read failure into `invalid_parquet`.
fn csv_error(e: StorageError) -> StorageError {
    if e.kind == ErrorKind::Internal && e.message.contains("arquet") {
        return parquet_error(e);
    }
    let text = &e.message;
    let Some(at) = text.find("CSV Error on Line: ") else { return e };
    let line: String = text[at + 19..].chars().take_while(char::is_ascii_digit).collect();
    let causes = [
        "Error when converting column",
        "Expected Number of Columns",
        "Value with unterminated quote",
        "Invalid unicode",
        "Maximum line size",
    ];
    let cause = text
        .lines()
        .find(|l| causes.iter().any(|c| l.starts_with(c)))
        .map(|l| l.replace("Error when converting column", "column").replace(". Could not", ": could not"))
        .unwrap_or_else(|| "the line does not parse".to_owned());
    let code = if e.code == "invalid_value" { "invalid_value" } else { "invalid_csv" };
    StorageError::new(ErrorKind::Unprocessable, code, format!("CSV error on line {line}: {cause}"))
}

/// A file that is not readable Parquet is the input's fault, whatever DuckDB calls it.
fn parquet_error(e: StorageError) -> StorageError {
    if matches!(e.kind, ErrorKind::Internal | ErrorKind::Unprocessable) && e.code != "invalid_value" {
        StorageError::unprocessable("invalid_parquet", format!("the file is not readable Parquet: {}", e.message))
    } else {
        e
    }
}

/// Rows to load, as two SELECTs yielding the table's columns in table order: `plain`, in
/// whatever order DuckDB finds fastest, and `ordered`, which adds each row's position in
/// the input as [`SEQ`] so that "the last row with a key wins" can be decided.
struct Source {
    plain: String,
    ordered: String,
    /// A source table, held attached while its rows are read; the SELECTs name it
    /// [`TABLE_SOURCE`] until then.
    table: Option<Arc<TableFile>>,
    /// Size of a source file; 0 for a table.
    bytes: u64,
    /// How many records the source holds, counted apart from the reader that loads them:
    /// a load that reads a different number fails instead of committing.
    records: Option<u64>,
    /// A decompressed copy of the input, removed when the load ends.
    _plain: Option<Plain>,
}

const TABLE_SOURCE: &str = "{source table}";

/// A column name users cannot choose (names never contain a dot): a row's input position.
const SEQ: &str = "\"ds.seq\"";

impl Source {
    fn of(plain: String, ordered: String, bytes: u64, records: Option<u64>) -> Self {
        Source { plain, ordered, table: None, bytes, records, _plain: None }
    }

    /// Runs `f` with the final plain and ordered SELECTs while any source table is attached.
    fn with_selects<T>(&self, f: impl FnOnce(&str, &str) -> Result<T>) -> Result<T> {
        match &self.table {
            None => f(&self.plain, &self.ordered),
            Some(file) => {
                let reading = file.read()?;
                let data = reading.data();
                f(&self.plain.replace(TABLE_SOURCE, &data), &self.ordered.replace(TABLE_SOURCE, &data))
            }
        }
    }

    /// Fails unless the reader delivered every record the source holds.
    fn check_read(&self, read: u64) -> Result<()> {
        match self.records {
            Some(expected) if expected != read => {
                tracing::error!(expected, read, "an import read a different number of records than the input holds");
                Err(StorageError::unprocessable(
                    "incomplete_read",
                    format!("the input holds {expected} records, but {read} were read from it; nothing was imported"),
                ))
            }
            _ => Ok(()),
        }
    }
}

/// DuckDB's default longest CSV line; a longer one needs a larger reader buffer.
const DUCKDB_MAX_LINE: u64 = 2 << 20;

impl DuckEngine {
    /// Scans a CSV input (see [`scan`]) and builds the SELECTs that read it.
    fn csv_source(&self, path: &Path, size: u64, options: &CsvOptions, table: &[Column]) -> Result<Source> {
        let dialect = options.dialect()?;
        let names: Vec<String> = if options.header {
            read_header(path, dialect)?
        } else {
            match &options.columns {
                Some(cols) => cols.iter().map(|c| c.to_string()).collect(),
                None => table.iter().map(|c| c.def.name.to_string()).collect(),
            }
        };
        let scanned = scan::scan(
            path,
            dialect,
            options.header,
            names.len(),
            &self.import_limits,
            &self.layout.temp(),
            &check_cancelled,
        )?;
        let file = scanned.plain.path();
        let in_file_order = match_columns(&names, table)?;
        let columns = in_file_order
            .iter()
            .map(|c| format!("{}: {}", literal(c.def.name.as_str()), literal(&c.def.data_type.sql())))
            .collect::<Vec<_>>()
            .join(", ");
        let byte = |b: Option<u8>| literal(&b.map(|b| (b as char).to_string()).unwrap_or_default());
        let escape = dialect.escape.or(dialect.quote);
        // Long records need a reader buffer that holds two of them (measured: one is not
        // enough for the parallel reader when such a record sits mid-file).
        let line = if scanned.longest + 1024 > DUCKDB_MAX_LINE {
            let max = scanned.longest + 1024;
            format!(", max_line_size = {max}, buffer_size = {}", (2 * max + 4096).max(32 << 20))
        } else {
            String::new()
        };
        let reader = |extra: &str| {
            format!(
                "read_csv({}, header = {}, auto_detect = false, strict_mode = true, delim = {}, quote = {}, \
                 escape = {}, allow_quoted_nulls = false, compression = 'none', columns = {{{columns}}}{line}{extra})",
                literal(&file.to_string_lossy()),
                options.header,
                byte(Some(dialect.delimiter)),
                byte(dialect.quote),
                byte(escape),
            )
        };
        let cols = select_list(table);
        // A single-threaded scan hands rows over in file order.
        Ok(Source {
            plain: format!("SELECT {cols} FROM {}", reader("")),
            ordered: format!("SELECT {cols}, row_number() OVER () AS {SEQ} FROM {}", reader(", parallel = false")),
            table: None,
            bytes: size,
            records: Some(scanned.records),
            _plain: Some(scanned.plain),
        })
    }

    fn parquet_source(&self, c: &Connection, path: &Path, size: u64, table: &[Column]) -> Result<Source> {
        let file = literal(&path.to_string_lossy());
        let names = describe(c, &format!("read_parquet({file})"))
            .map_err(parquet_error)?
            .into_iter()
            .map(|(name, _)| name)
            .collect::<Vec<_>>();
        let casts = cast_list(&names, &match_columns(&names, table)?);
        let records: u64 = c
            .query_row(&format!("SELECT CAST(sum(num_rows) AS UBIGINT) FROM parquet_file_metadata({file})"), [], |r| {
                r.get(0)
            })
            .map_err(|e| parquet_error(db_err(e)))?;
        Ok(Source::of(
            format!("SELECT {casts} FROM read_parquet({file})"),
            format!("SELECT {casts}, file_row_number AS {SEQ} FROM read_parquet({file}, file_row_number = true)"),
            size,
            Some(records),
        ))
    }

    /// Resolves an import source into SQL over the table's columns.
    fn source(&self, target: &TableRef, meta: &TableMeta, request: &ImportRequest) -> Result<Source> {
        match request.source()? {
            ImportSource::File { file_id } => {
                let info = self.file_get(&target.project, &file_id)?;
                let path = self.layout.file(&target.project, &file_id);
                match format_of(request.format.as_deref(), &info.name, &path)? {
                    Format::Csv => self.csv_source(&path, info.size_bytes, &request.csv, &meta.columns),
                    Format::Parquet => self.read(|c| self.parquet_source(c, &path, info.size_bytes, &meta.columns)),
                }
            }
            ImportSource::Table(source) => self.table_source(target, meta, &source),
            ImportSource::Workspace(source) => {
                let relation =
                    self.workspace_source(&target.bucket_ref().branch_ref(), &source.workspace_id, &source.table)?;
                let names: Vec<String> =
                    self.read(|c| describe(c, &relation))?.into_iter().map(|(name, _)| name).collect();
                let casts = cast_list(&names, &match_columns(&names, &meta.columns)?);
                Ok(Source::of(
                    format!("SELECT {casts} FROM {relation}"),
                    format!("SELECT {casts}, row_number() OVER () AS {SEQ} FROM {relation}"),
                    0,
                    None,
                ))
            }
        }
    }

    fn table_source(&self, target: &TableRef, meta: &TableMeta, source: &SourceTable) -> Result<Source> {
        let (source_view, file) = self.read_table(&source_table_ref(target, source))?;
        let names: Vec<String> = source_view.meta.columns.iter().map(|c| c.def.name.to_string()).collect();
        let casts = cast_list(&names, &match_columns(&names, &meta.columns)?);
        Ok(Source {
            table: Some(file),
            ..Source::of(
                format!("SELECT {casts} FROM {TABLE_SOURCE}"),
                format!("SELECT {casts}, rowid AS {SEQ} FROM {TABLE_SOURCE}"),
                0,
                None,
            )
        })
    }

    pub(crate) fn table_import(&self, table: &TableRef, request: &ImportRequest, actor: &str) -> Result<ImportResult> {
        let names = if request.add_new_columns { Some(self.source_names(table, request)?) } else { None };
        self.load(table, request, names.as_deref(), actor, |meta| self.source(table, meta, request))
    }

    /// The names of a source's columns, in its order: what a load that adds new columns
    /// compares with the table's.
    fn source_names(&self, target: &TableRef, request: &ImportRequest) -> Result<Vec<String>> {
        let described = |relation: &str| -> Result<Vec<String>> {
            Ok(self.read(|c| describe(c, relation))?.into_iter().map(|(name, _)| name).collect())
        };
        match request.source()? {
            ImportSource::File { file_id } => {
                let info = self.file_get(&target.project, &file_id)?;
                let path = self.layout.file(&target.project, &file_id);
                match format_of(request.format.as_deref(), &info.name, &path)? {
                    Format::Csv if request.csv.header => read_header(&path, request.csv.dialect()?),
                    Format::Csv => Ok(request.csv.columns.iter().flatten().map(|c| c.to_string()).collect()),
                    Format::Parquet => {
                        described(&format!("read_parquet({})", literal(&path.to_string_lossy()))).map_err(parquet_error)
                    }
                }
            }
            ImportSource::Table(source) => {
                let at = source_table_ref(target, &source);
                Ok(self
                    .read(|c| crate::views::table_view(c, &at))?
                    .meta
                    .defs()
                    .into_iter()
                    .map(|d| d.name.to_string())
                    .collect())
            }
            ImportSource::Workspace(source) => described(&self.workspace_source(
                &target.bucket_ref().branch_ref(),
                &source.workspace_id,
                &source.table,
            )?),
        }
    }

    /// Loads rows parsed outside the engine: they are staged in a table of the hub's
    /// in-memory database (which spills to the temp directory) and loaded from there like
    /// any other source.
    pub(crate) fn table_import_rows(
        &self,
        table: &TableRef,
        request: &ImportRequest,
        rows: ParsedRows<'_>,
        actor: &str,
    ) -> Result<ImportResult> {
        let staged = Staged::new(self, rows)?;
        let names = request.add_new_columns.then(|| staged.names.clone());
        self.load(table, request, names.as_deref(), actor, |meta| {
            let relation = staged.relation();
            let casts = cast_list(&staged.names, &match_columns(&staged.names, &meta.columns)?);
            Ok(Source::of(
                format!("SELECT {casts} FROM {relation}"),
                format!("SELECT {casts}, {SEQ} FROM {relation}"),
                staged.bytes,
                Some(staged.rows),
            ))
        })
    }

    /// Loads `source`'s rows into the table: a full load into a new file, an incremental one
    /// into a copy of the current file; either is swapped in by the commit protocol
    /// ([`crate::commit`]), which also records the job's success. With `new_columns` (the
    /// source's column names), the source's columns the table lacks are added in the same
    /// commit.
    fn load(
        &self,
        table: &TableRef,
        request: &ImportRequest,
        new_columns: Option<&[String]>,
        actor: &str,
        source: impl FnOnce(&TableMeta) -> Result<Source>,
    ) -> Result<ImportResult> {
        self.with_writer(table, |view, file| {
            let widened = new_columns.map(|names| widen(&view.meta, names)).transpose()?.flatten();
            let meta = widened.as_ref().map_or(&view.meta, |(meta, _)| meta);
            let source = source(meta)?;
            let load = Load { meta, mode: request.dedup_mode, now: naive(self.now()) };
            let (next, rows_imported, rows_in_table) = if request.incremental {
                let next = self.layout.loading_file(&table.bucket_ref(), &table.table);
                let (rows, total) = self.files.build(&self.hub, &next, Start::CopyOf(file), |conn, data| {
                    for def in widened.iter().flat_map(|(_, added)| added) {
                        conn.execute_batch(&format!("ALTER TABLE {data} ADD COLUMN {}", column_ddl(def)))
                            .map_err(db_err)?;
                    }
                    let rows = source
                        .with_selects(|plain, ordered| load.incremental(conn, data, plain, ordered, &source))
                        .map_err(csv_error)?;
                    Ok((rows, count_rows(conn, data)?))
                })?;
                (next, rows, total)
            } else {
                self.auto_snapshot(view, file, DestructiveOp::ReplaceRows, None, actor)?;
                let (next, rows) = self.build_full(table, &load, &source)?;
                (next, rows, rows)
            };
            let result = ImportResult { rows_imported, rows_in_table, bytes_read: source.bytes };
            let note = JobNote::current(JobProgress { rows: rows_imported, bytes: source.bytes }, json!(result));
            let settle = Settle {
                schema: widened.as_ref().map(|(meta, _)| (meta.defs(), meta.primary_key.clone())),
                ..Settle::rows(self.now(), rows_in_table, note)
            };
            self.swap_in(view, file, &next, settle)?;
            Ok(result)
        })
    }

    /// Builds a complete table file holding `source`'s rows (the last row of each key when
    /// the input repeats keys and the mode asks so); returns it, detached, and its rows.
    fn build_full(&self, table: &TableRef, load: &Load<'_>, source: &Source) -> Result<(PathBuf, u64)> {
        let ddl: Vec<String> = load.meta.columns.iter().map(|c| column_ddl(&c.def)).collect();
        let build = |ordered: bool| -> Result<(PathBuf, Loaded)> {
            let next = self.layout.loading_file(&table.bucket_ref(), &table.table);
            let loaded = self.files.build(&self.hub, &next, Start::Empty(&ddl), |conn, data| {
                source
                    .with_selects(|plain, with_seq| {
                        load.full(conn, data, if ordered { with_seq } else { plain }, ordered, source)
                    })
                    .map_err(csv_error)
            })?;
            Ok((next, loaded))
        };
        // Loading in no particular order is much faster; only input that repeats keys
        // needs a second, ordered pass to keep the last row of each key.
        match build(false)? {
            (next, Loaded::Rows(rows)) => Ok((next, rows)),
            (discard, Loaded::RepeatsKeys) => {
                crate::layout::remove_db_file(&discard)?;
                match build(true)? {
                    (next, Loaded::Rows(rows)) => Ok((next, rows)),
                    (_, Loaded::RepeatsKeys) => unreachable!("an ordered load keeps one row per key"),
                }
            }
        }
    }

    /// Creates a table shaped like a file and loads the file into it, as one commit: the
    /// table appears with its rows, or not at all.
    pub(crate) fn table_create_from_file(
        &self,
        bucket: &BucketRef,
        request: &NewTableFromFile,
        _actor: &str,
    ) -> Result<(Table, ImportResult)> {
        let info = self.file_get(&bucket.project, &request.file_id)?;
        let path = self.layout.file(&bucket.project, &request.file_id);
        let format = format_of(request.format.as_deref(), &info.name, &path)?;
        let columns = match format {
            Format::Csv => self.csv_columns(&path, request)?,
            Format::Parquet => {
                let relation = format!("read_parquet({})", literal(&path.to_string_lossy()));
                self.read(|c| describe(c, &relation))
                    .map_err(parquet_error)?
                    .into_iter()
                    .map(|(name, ty)| column_from_file(&name, &ty, false))
                    .collect::<Result<_>>()?
            }
        };
        let new = NewTable { name: request.name.clone(), columns, primary_key: request.primary_key.clone() };
        self.check_new_table(bucket, &new)?;
        let t = bucket.table(request.name.clone());
        let meta = TableMeta::new(&new.columns, &new.primary_key, self.now());
        let source = match format {
            Format::Csv => self.csv_source(&path, info.size_bytes, &request.csv, &meta.columns)?,
            Format::Parquet => self.read(|c| self.parquet_source(c, &path, info.size_bytes, &meta.columns))?,
        };
        let load = Load { meta: &meta, mode: DedupMode::default(), now: naive(self.now()) };
        let (next, rows) = self.build_full(&t, &load, &source)?;
        let result = ImportResult { rows_imported: rows, rows_in_table: rows, bytes_read: source.bytes };
        let note = JobNote::current(
            JobProgress { rows, bytes: source.bytes },
            json!({"table_id": t.table_id(), "import": result}),
        );
        self.register(&t, &next, rows, &new.columns, &new.primary_key, self.now(), note.as_ref())?;
        Ok((self.table_get(&t)?, result))
    }

    /// Columns for a table made from a CSV file: header names, VARCHAR or detected types.
    fn csv_columns(&self, path: &Path, request: &NewTableFromFile) -> Result<Vec<ColumnDef>> {
        let dialect = request.csv.dialect()?;
        if !request.csv.header {
            return Err(StorageError::invalid(
                "invalid_csv_options",
                "a table can be created only from a CSV file with a header",
            ));
        }
        let names = read_header(path, dialect)?;
        if !request.infer_types {
            return names.iter().map(|n| column_from_file(n, "VARCHAR", true)).collect();
        }
        let byte = |b: Option<u8>| literal(&b.map(|b| (b as char).to_string()).unwrap_or_default());
        let relation = format!(
            "read_csv({}, header = true, delim = {}, quote = {}, escape = {}, compression = {}, sample_size = 20480)",
            literal(&path.to_string_lossy()),
            byte(Some(dialect.delimiter)),
            byte(dialect.quote),
            byte(dialect.escape.or(dialect.quote)),
            literal(if is_gzip(path) { "gzip" } else { "none" }),
        );
        let detected = self.read(|c| describe(c, &relation)).map_err(csv_error)?;
        names.iter().zip(detected).map(|(name, (_, ty))| column_from_file(name, &ty, true)).collect()
    }
}

/// A column for a table created from a file; names must already be valid column names.
fn column_from_file(name: &str, duckdb_type: &str, fallback_to_varchar: bool) -> Result<ColumnDef> {
    let name = ColumnName::user(name).map_err(|e| {
        StorageError::invalid(
            "invalid_name",
            format!("the file's column {name:?} is not a valid column name: {}", e.message),
        )
    })?;
    let data_type = match duckdb_type.parse::<ColumnType>() {
        Ok(t) => t,
        Err(_) if fallback_to_varchar => ColumnType::Varchar,
        Err(_) => {
            return Err(StorageError::unprocessable(
                "unsupported_type",
                format!("column {name} has type {duckdb_type}, which tables cannot hold"),
            ));
        }
    };
    Ok(ColumnDef { name, data_type, nullable: true, default: None })
}

/// Column names and DuckDB type names of a relation, without reading its rows.
fn describe(c: &Connection, relation: &str) -> Result<Vec<(String, String)>> {
    c.prepare(&format!("DESCRIBE SELECT * FROM {relation}"))
        .and_then(|mut s| s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
        .map_err(db_err)
}

/// The table's columns, in table order, for a SELECT from a source with the same names.
fn select_list(table: &[Column]) -> String {
    table.iter().map(|c| ident(c.def.name.as_str())).collect::<Vec<_>>().join(", ")
}

/// `CAST(source column AS table type) AS table column`, in table order.
fn cast_list(source_names: &[String], matched: &[&Column]) -> String {
    let mut pairs: Vec<(&Column, &String)> = matched.iter().copied().zip(source_names).collect();
    pairs.sort_by_key(|(c, _)| c.ordinal_position);
    pairs
        .iter()
        .map(|(col, src)| {
            format!("CAST({} AS {}) AS {}", ident(src), col.def.data_type.sql(), ident(col.def.name.as_str()))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The outcome of loading rows.
enum Loaded {
    Rows(u64),
    /// The input repeats keys and was loaded unordered: it must be loaded again, ordered.
    RepeatsKeys,
}

/// One load's parameters.
struct Load<'a> {
    meta: &'a TableMeta,
    mode: DedupMode,
    now: NaiveDateTime,
}

impl Load<'_> {
    fn columns(&self) -> String {
        format!("{}, {}", select_list(&self.meta.columns), ident(ColumnName::TIMESTAMP))
    }

    /// The source's rows plus `_timestamp`; from an ordered source, only the last row of each key.
    fn rows(&self, select: &str, ordered: bool) -> String {
        let cols = select_list(&self.meta.columns);
        let ts = format!("CAST(? AS TIMESTAMP) AS {}", ident(ColumnName::TIMESTAMP));
        if ordered {
            let key = key_list(self.meta);
            format!(
                "SELECT {cols}, {ts} FROM ({select}) QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY {SEQ} DESC) = 1"
            )
        } else {
            format!("SELECT {cols}, {ts} FROM ({select})")
        }
    }

    /// Checks the keys of the loaded `rows`: NULLs are refused; repeats are kept, refused,
    /// or reported for an ordered second pass, as the mode says.
    fn check(&self, c: &Connection, rows: &str, ordered: bool) -> Result<Option<Loaded>> {
        if self.meta.primary_key.is_empty() {
            return Ok(None);
        }
        let key = key_list(self.meta);
        let nulls = self
            .meta
            .primary_key
            .iter()
            .map(|k| format!("{} IS NULL", ident(k.as_str())))
            .collect::<Vec<_>>()
            .join(" OR ");
        let (null_rows, repeats): (u64, u64) = c
            .query_row(
                &format!("SELECT count(*) FILTER (WHERE {nulls}), count(*) - count(DISTINCT ({key})) FROM {rows}"),
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(db_err)?;
        if null_rows > 0 {
            return Err(StorageError::unprocessable(
                "null_in_primary_key",
                format!("{null_rows} row(s) have no value in the primary key ({})", key_names(self.meta)),
            ));
        }
        if repeats == 0 || ordered {
            return Ok(None);
        }
        match self.mode {
            DedupMode::InsertDuplicates => Ok(None),
            DedupMode::UpdateDuplicates => Ok(Some(Loaded::RepeatsKeys)),
            DedupMode::FailOnDuplicates => {
                let repeated = format!("SELECT {key} FROM {rows} GROUP BY {key} HAVING count(*) > 1 LIMIT 1");
                let example = first_key(c, &repeated, self.meta)?.unwrap_or_default();
                Err(StorageError::conflict(
                    "duplicate_key",
                    format!("the input repeats the key ({example}); nothing was imported"),
                ))
            }
        }
    }

    /// Fills the empty table `data` of a new file. An unordered pass reads every record of
    /// the source, so it also checks that none went missing.
    fn full(&self, c: &Connection, data: &str, select: &str, ordered: bool, source: &Source) -> Result<Loaded> {
        let started = std::time::Instant::now();
        let sql = format!("INSERT INTO {data} ({}) {}", self.columns(), self.rows(select, ordered));
        let inserted = interruptible(c, || c.execute(&sql, [self.now]).map_err(db_err))? as u64;
        if !ordered {
            source.check_read(inserted)?;
        }
        let loaded = started.elapsed();
        let checked = self.check(c, data, ordered)?;
        tracing::debug!(
            rows = inserted,
            ordered,
            load_ms = loaded.as_millis() as u64,
            check_ms = (started.elapsed() - loaded).as_millis() as u64,
            "loaded rows into a new table file"
        );
        Ok(checked.unwrap_or(Loaded::Rows(inserted)))
    }

    /// Adds the source's rows to `data` (a copy of the table's file); returns the rows written.
    fn incremental(&self, c: &Connection, data: &str, plain: &str, ordered: &str, source: &Source) -> Result<u64> {
        const DELTA: &str = "temp.main.ds_delta";
        let stage = |select: &str, ordered: bool| {
            let sql = format!("CREATE OR REPLACE TEMP TABLE ds_delta AS {}", self.rows(select, ordered));
            interruptible(c, || c.execute(&sql, [self.now]).map_err(db_err))?;
            count_rows(c, DELTA)
        };
        source.check_read(stage(plain, false)?)?;
        if let Some(Loaded::RepeatsKeys) = self.check(c, DELTA, false)? {
            stage(ordered, true)?;
        }
        let meta = self.meta;
        let keyed = !meta.primary_key.is_empty();
        if keyed && self.mode == DedupMode::FailOnDuplicates {
            let on = join_on(meta, "d", "t");
            let key =
                meta.primary_key.iter().map(|k| format!("d.{}", ident(k.as_str()))).collect::<Vec<_>>().join(", ");
            let clash = first_key(c, &format!("SELECT {key} FROM {DELTA} d JOIN {data} t ON {on} LIMIT 1"), meta)?;
            if let Some(key) = clash {
                return Err(StorageError::conflict(
                    "duplicate_key",
                    format!("the table already has the key ({key}); nothing was imported"),
                ));
            }
        }
        if keyed && self.mode == DedupMode::UpdateDuplicates {
            let delete = match meta.primary_key.as_slice() {
                [single] => {
                    let k = ident(single.as_str());
                    format!("DELETE FROM {data} WHERE {k} IN (SELECT {k} FROM {DELTA})")
                }
                _ => format!("DELETE FROM {data} AS t USING {DELTA} AS d WHERE {}", join_on(meta, "d", "t")),
            };
            interruptible(c, || c.execute(&delete, []).map_err(db_err))?;
        }
        let cols = self.columns();
        let insert = format!("INSERT INTO {data} ({cols}) SELECT {cols} FROM {DELTA}");
        let inserted = interruptible(c, || c.execute(&insert, []).map_err(db_err))?;
        c.execute_batch("DROP TABLE temp.main.ds_delta").map_err(db_err)?;
        Ok(inserted as u64)
    }
}

/// Parsed rows staged in the hub's in-memory database; dropped with the value.
struct Staged<'e> {
    engine: &'e DuckEngine,
    name: String,
    names: Vec<String>,
    bytes: u64,
    /// Rows the parser delivered.
    rows: u64,
}

impl<'e> Staged<'e> {
    fn new(engine: &'e DuckEngine, rows: ParsedRows<'_>) -> Result<Self> {
        let name = format!("ds_rows_{}", uuid::Uuid::new_v4().simple());
        let names: Vec<String> = rows.schema.fields().iter().map(|f| f.name().clone()).collect();
        let columns = rows
            .schema
            .fields()
            .iter()
            .map(|f| Ok(format!("{} {}", ident(f.name()), staged_type(f.data_type())?)))
            .collect::<Result<Vec<_>>>()?;
        let conn = engine.hub.conn()?;
        conn.execute_batch(&format!(
            "CREATE TABLE memory.main.{} ({}, {SEQ} BIGINT)",
            ident(&name),
            columns.join(", ")
        ))
        .map_err(db_err)?;
        let mut staged = Staged { engine, name, names, bytes: rows.bytes, rows: 0 };
        let mut appender = conn.appender_to_catalog_and_db(&staged.name, "memory", "main").map_err(db_err)?;
        let mut seq = 0;
        for batch in rows.batches {
            check_cancelled()?;
            let batch = with_seq(batch?, &mut seq)?;
            appender.append_record_batch(batch).map_err(db_err)?;
        }
        appender.flush().map_err(db_err)?;
        staged.rows = seq as u64;
        Ok(staged)
    }

    fn relation(&self) -> String {
        format!("memory.main.{}", ident(&self.name))
    }
}

/// `batch` with its rows' input positions, counted on from `seq`, as a last column. The
/// staged table's `rowid` is not that: the hub does not preserve insertion order, and
/// a large append can land out of order.
fn with_seq(batch: RecordBatch, seq: &mut i64) -> Result<RecordBatch> {
    let rows = batch.num_rows() as i64;
    let positions = Arc::new(Int64Array::from_iter_values(*seq..*seq + rows));
    *seq += rows;
    let (schema, mut columns, _) = batch.into_parts();
    columns.push(positions);
    let fields = schema.fields().iter().cloned().chain([Arc::new(Field::new("ds.seq", DataType::Int64, false))]);
    RecordBatch::try_new(Arc::new(Schema::new(fields.collect::<Vec<_>>())), columns)
        .map_err(|e| StorageError::internal(format!("staging parsed rows: {e}")))
}

impl Drop for Staged<'_> {
    fn drop(&mut self) {
        let dropped = self
            .engine
            .hub
            .conn()
            .and_then(|c| c.execute_batch(&format!("DROP TABLE IF EXISTS {}", self.relation())).map_err(db_err));
        if let Err(e) = dropped {
            tracing::warn!(error = %e, table = %self.name, "could not drop staged import rows");
        }
    }
}

/// The DuckDB type an Arrow column of parsed rows is staged as.
fn staged_type(t: &arrow_schema::DataType) -> Result<&'static str> {
    use arrow_schema::{DataType, TimeUnit};
    Ok(match t {
        DataType::Boolean => "BOOLEAN",
        DataType::Int64 => "BIGINT",
        DataType::Float64 => "DOUBLE",
        DataType::Utf8 => "VARCHAR",
        DataType::Date32 => "DATE",
        DataType::Timestamp(TimeUnit::Microsecond, None) => "TIMESTAMP",
        other => return Err(StorageError::internal(format!("parsed rows of type {other} cannot be staged"))),
    })
}

fn key_list(meta: &TableMeta) -> String {
    meta.primary_key.iter().map(|k| ident(k.as_str())).collect::<Vec<_>>().join(", ")
}

fn key_names(meta: &TableMeta) -> String {
    meta.primary_key.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ")
}

/// The first key a query returns, rendered as text.
fn first_key(c: &Connection, query: &str, meta: &TableMeta) -> Result<Option<String>> {
    let texts = meta
        .primary_key
        .iter()
        .map(|k| format!("CAST({} AS VARCHAR)", ident(k.as_str())))
        .collect::<Vec<_>>()
        .join(" || ', ' || ");
    let mut stmt = c.prepare(&format!("SELECT {texts} FROM ({query})")).map_err(db_err)?;
    let mut rows = stmt.query([]).map_err(db_err)?;
    Ok(match rows.next().map_err(db_err)? {
        Some(r) => Some(r.get::<_, Option<String>>(0).map_err(db_err)?.unwrap_or_default()),
        None => None,
    })
}

fn join_on(meta: &TableMeta, a: &str, b: &str) -> String {
    meta.primary_key.iter().map(|k| format!("{a}.{0} = {b}.{0}", ident(k.as_str()))).collect::<Vec<_>>().join(" AND ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::classify;

    fn col(name: &str, pos: u32) -> Column {
        Column {
            def: ColumnDef {
                name: ColumnName::new(name).unwrap(),
                data_type: ColumnType::Integer,
                nullable: true,
                default: None,
            },
            ordinal_position: pos,
        }
    }

    #[test]
    fn columns_match_by_name_in_any_order_and_case() {
        let table = [col("id", 1), col("Name", 2)];
        let matched = match_columns(&["name".into(), "ID".into()], &table).unwrap();
        assert_eq!(matched[0].def.name.as_str(), "Name");
        assert_eq!(matched[1].def.name.as_str(), "id");
    }

    #[test]
    fn unknown_missing_and_repeated_columns_are_named() {
        let table = [col("id", 1), col("name", 2)];
        let e = match_columns(&["id".into(), "nmae".into()], &table).unwrap_err();
        assert_eq!(e.code, "unknown_columns");
        assert!(e.message.contains("nmae"));
        assert_eq!(match_columns(&["id".into()], &table).unwrap_err().code, "missing_columns");
        assert_eq!(
            match_columns(&["id".into(), "id".into(), "name".into()], &table).unwrap_err().code,
            "duplicate_column"
        );
    }

    #[test]
    fn csv_errors_name_line_and_column() {
        let raw = classify(
            "Conversion Error: CSV Error on Line: 5\nOriginal Line: x,d\nError when converting column \"id\". \
             Could not convert string \"x\" to 'INTEGER'\n\nColumn id is being converted as type INTEGER",
        );
        let e = csv_error(raw);
        assert_eq!(e.code, "invalid_value");
        assert_eq!(e.message, "CSV error on line 5: column \"id\": could not convert string \"x\" to 'INTEGER'");
    }
}
