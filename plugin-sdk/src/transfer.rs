//! Getting data into and out of tables: import and export requests and their results.

use serde::{Deserialize, Serialize};

use crate::error::StorageError;
use crate::names::{BranchId, BucketId, ColumnName, TableName};
use crate::query::RowQuery;

/// Keboola's CSV dialect options.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct CsvOptions {
    /// One character; default `,`.
    pub delimiter: String,
    /// Quote character, one character or empty for none; default `"`.
    pub enclosure: String,
    /// Escape character inside quoted values; empty (default) means quotes are doubled.
    pub escaped_by: String,
    /// Whether the first line names the columns (matched to table columns by name).
    pub header: bool,
    /// Column names in file order, for files without a header; defaults to the table's order.
    #[schema(value_type = Option<Vec<String>>)]
    pub columns: Option<Vec<ColumnName>>,
}

impl Default for CsvOptions {
    fn default() -> Self {
        Self { delimiter: ",".into(), enclosure: "\"".into(), escaped_by: String::new(), header: true, columns: None }
    }
}

fn one_char(what: &str, s: &str, may_be_empty: bool) -> Result<Option<char>, StorageError> {
    let mut chars = s.chars();
    match (chars.next(), chars.next()) {
        (None, _) if may_be_empty => Ok(None),
        (Some(c), None) if c.is_ascii() && c != '\n' && c != '\r' => Ok(Some(c)),
        _ => Err(StorageError::invalid(
            "invalid_csv_options",
            format!(
                "{what} must be a single ASCII character{}, got {s:?}",
                if may_be_empty { " or empty" } else { "" }
            ),
        )),
    }
}

/// Validated single-byte CSV dialect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CsvDialect {
    pub delimiter: u8,
    pub quote: Option<u8>,
    pub escape: Option<u8>,
}

impl CsvOptions {
    pub fn dialect(&self) -> Result<CsvDialect, StorageError> {
        let delimiter = one_char("delimiter", &self.delimiter, false)?.expect("required") as u8;
        let quote = one_char("enclosure", &self.enclosure, true)?.map(|c| c as u8);
        let escape = one_char("escaped_by", &self.escaped_by, true)?.map(|c| c as u8);
        if Some(delimiter) == quote {
            return Err(StorageError::invalid("invalid_csv_options", "delimiter and enclosure must differ"));
        }
        if self.header && self.columns.is_some() {
            return Err(StorageError::invalid(
                "invalid_csv_options",
                "columns names the columns of a file without a header; set header to false to use it",
            ));
        }
        Ok(CsvDialect { delimiter, quote, escape })
    }
}

/// How rows whose primary key is already present (or repeated in the input) are handled.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DedupMode {
    /// The last row with a key wins, replacing existing rows with that key.
    #[default]
    UpdateDuplicates,
    /// Keep every row, even with repeated keys.
    InsertDuplicates,
    /// Refuse the import (409) if the input repeats a key or, incrementally, hits an existing one.
    FailOnDuplicates,
}

/// A table of the same project to read from; a shared bucket is read through its link.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceTable {
    /// Defaults to the branch of the target table.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub branch_id: Option<BranchId>,
    #[schema(value_type = String)]
    pub bucket_id: BucketId,
    #[schema(value_type = String)]
    pub table_name: TableName,
}

/// Where imported rows come from.
#[derive(Clone, Debug, PartialEq)]
pub enum ImportSource {
    File { file_id: String },
    Table(SourceTable),
    Workspace(SourceWorkspaceTable),
}

/// A workspace table to import: how SQL results go back to storage.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceWorkspaceTable {
    /// A workspace of the target table's branch.
    pub workspace_id: String,
    /// A table in the workspace's default schema.
    pub table: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportRequest {
    /// A registered file to import. Exactly one of `file_id`, `source_table` and
    /// `source_workspace` is given.
    #[serde(default)]
    pub file_id: Option<String>,
    /// A table to copy rows from.
    #[serde(default)]
    pub source_table: Option<SourceTable>,
    /// A workspace table to copy rows from.
    #[serde(default)]
    pub source_workspace: Option<SourceWorkspaceTable>,
    /// `csv` or `parquet`; guessed from the file name when absent.
    #[serde(default)]
    pub format: Option<String>,
    #[serde(default)]
    pub csv: CsvOptions,
    /// Add to the table instead of replacing its contents.
    #[serde(default)]
    pub incremental: bool,
    #[serde(default)]
    pub dedup_mode: DedupMode,
    /// Add the source's columns the table lacks (as nullable text, after the table's own
    /// columns) in the same commit as the rows, instead of refusing the load. Keboola's
    /// loads work this way; a source still must hold every column the table has.
    #[serde(default)]
    pub add_new_columns: bool,
    /// Options for an import-format plugin (e.g. `{"sheet": "Q3"}` for xlsx), passed to it as is.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub options: Option<serde_json::Value>,
}

/// Rows read from a file by the host (an import-format plugin), handed to the engine batch
/// by batch. Their columns are matched to the table's by name and cast to its types, as
/// for CSV and Parquet.
pub struct ParsedRows<'a> {
    pub schema: arrow_schema::SchemaRef,
    pub batches: Box<dyn Iterator<Item = Result<arrow_array::RecordBatch, StorageError>> + Send + 'a>,
    /// Size of the file the rows were read from.
    pub bytes: u64,
}

impl ImportRequest {
    pub fn source(&self) -> Result<ImportSource, StorageError> {
        match (&self.file_id, &self.source_table, &self.source_workspace) {
            (Some(file_id), None, None) => Ok(ImportSource::File { file_id: file_id.clone() }),
            (None, Some(table), None) => Ok(ImportSource::Table(table.clone())),
            (None, None, Some(table)) => Ok(ImportSource::Workspace(table.clone())),
            _ => Err(StorageError::invalid(
                "invalid_source",
                "give exactly one of file_id, source_table and source_workspace",
            )),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ImportResult {
    /// Rows read from the source (after de-duplication).
    pub rows_imported: u64,
    /// Rows in the table after the import.
    pub rows_in_table: u64,
    /// Bytes of the source file (0 for a table source).
    pub bytes_read: u64,
}

/// Creating a table whose columns come from a file's header (CSV, all VARCHAR unless
/// `infer_types`) or schema (Parquet), then importing the file into it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTableFromFile {
    #[schema(value_type = String)]
    pub name: TableName,
    pub file_id: String,
    #[serde(default)]
    pub format: Option<String>,
    #[serde(default)]
    pub csv: CsvOptions,
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub primary_key: Vec<ColumnName>,
    /// Detect column types from the CSV content instead of using VARCHAR.
    #[serde(default)]
    pub infer_types: bool,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    #[default]
    Csv,
    Parquet,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    None,
    Gzip,
    Zstd,
    Snappy,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportRequest {
    #[serde(default)]
    pub format: ExportFormat,
    /// CSV: none (default) or gzip. Parquet: zstd (default), snappy, gzip or none.
    #[serde(default)]
    pub compression: Option<Compression>,
    /// Name of the exported file; `<table>.<ext>` by default.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Which rows and columns to export.
    #[serde(default)]
    pub query: RowQuery,
    /// How a CSV export is written. Left out of the request when it is the default, so
    /// that native engines built against an SDK without it still read the request.
    #[serde(default, skip_serializing_if = "CsvStyle::is_default")]
    pub csv_style: CsvStyle,
}

/// The shape of an exported CSV file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CsvStyle {
    /// A header row, values quoted where they must be.
    #[default]
    Header,
    /// No header row and every value quoted: Keboola's sliced exports, which its clients
    /// join and prepend the header to themselves.
    HeaderlessQuoted,
}

impl CsvStyle {
    pub fn is_default(&self) -> bool {
        *self == CsvStyle::Header
    }
}

impl ExportRequest {
    pub fn compression(&self) -> Result<Compression, StorageError> {
        match (self.format, self.compression) {
            (ExportFormat::Csv, None) => Ok(Compression::None),
            (ExportFormat::Parquet, None) => Ok(Compression::Zstd),
            (ExportFormat::Csv, Some(c @ (Compression::None | Compression::Gzip))) => Ok(c),
            (ExportFormat::Parquet, Some(c)) => Ok(c),
            (ExportFormat::Csv, Some(c)) => Err(StorageError::invalid(
                "invalid_compression",
                format!("CSV exports can be gzip-compressed or not, not {c:?}"),
            )),
        }
    }
}
