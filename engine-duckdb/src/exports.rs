//! Writing table rows to files: CSV (optionally gzip) or Parquet, via DuckDB's COPY.
//!
//! The file is written under a temporary name in the project's staging area, hashed, then
//! registered and renamed into place, so a failed or interrupted export leaves no file.

use std::io::Read;

use duckdb::params_from_iter;
use serde_json::json;
use sha2::{Digest, Sha256};

use duckstore_plugin_sdk::files::{FileInfo, validate_file_name, validate_tags};
use duckstore_plugin_sdk::jobs::JobProgress;
use duckstore_plugin_sdk::names::TableRef;
use duckstore_plugin_sdk::schema::Column;
use duckstore_plugin_sdk::transfer::{Compression, CsvStyle, ExportFormat, ExportRequest};
use duckstore_plugin_sdk::{Result, StorageError};

use crate::DuckEngine;
use crate::catalog::naive;
use crate::error::db_err;
use crate::files::{insert_file, new_id};
use crate::jobs::{JobNote, check_cancelled, interruptible, note_commit};
use crate::sql::{check_casts, find_column, ident, literal, order_clause, where_clause};
use crate::views::table_view;

/// Size and hex SHA-256 of a file.
pub(crate) fn size_and_sha256(path: &std::path::Path) -> Result<(u64, String)> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((size, hex::encode(hasher.finalize())))
}

fn copy_options(
    format: ExportFormat,
    compression: Compression,
    style: CsvStyle,
) -> (&'static str, String, &'static str) {
    let csv = match style {
        CsvStyle::Header => "FORMAT csv, HEADER true",
        CsvStyle::HeaderlessQuoted => "FORMAT csv, HEADER false, FORCE_QUOTE *",
    };
    match format {
        ExportFormat::Csv if compression == Compression::Gzip => {
            ("csv.gz", format!("{csv}, COMPRESSION gzip"), "application/gzip")
        }
        ExportFormat::Csv => ("csv", csv.into(), "text/csv"),
        ExportFormat::Parquet => {
            let codec = match compression {
                Compression::None => "uncompressed",
                Compression::Gzip => "gzip",
                Compression::Zstd => "zstd",
                Compression::Snappy => "snappy",
            };
            ("parquet", format!("FORMAT parquet, COMPRESSION {codec}"), "application/vnd.apache.parquet")
        }
    }
}

impl DuckEngine {
    pub(crate) fn table_export(&self, table: &TableRef, request: &ExportRequest) -> Result<FileInfo> {
        let compression = request.compression()?;
        let (extension, options, content_type) = copy_options(request.format, compression, request.csv_style);
        let name = request.name.clone().unwrap_or_else(|| format!("{}.{extension}", table.table));
        validate_file_name(&name)?;
        validate_tags(&request.tags)?;
        let q = &request.query;
        if q.limit == Some(0) {
            return Err(StorageError::invalid("invalid_limit", "limit must be at least 1"));
        }

        let (_, file) = self.read_table(table)?;
        let reading = file.read()?;
        let meta = self.read(|c| table_view(c, table))?.meta;
        let columns: Vec<&Column> = match &q.columns {
            None => meta.columns.iter().collect(),
            Some(names) if names.is_empty() => {
                return Err(StorageError::invalid(
                    "invalid_columns",
                    "columns, when given, must name at least one column",
                ));
            }
            Some(names) => names.iter().map(|n| find_column(&meta.columns, n)).collect::<Result<_>>()?,
        };
        let select = columns.iter().map(|c| ident(c.def.name.as_str())).collect::<Vec<_>>().join(", ");
        let filter = where_clause(&q.selection(), &meta.columns)?;
        let order = order_clause(&q.order_by, &meta.columns)?;
        let limit = q.limit.map(|n| format!(" LIMIT {n}")).unwrap_or_default();

        let staged = self.layout.export_file(&table.project);
        std::fs::create_dir_all(self.layout.staging_dir(&table.project))?;
        let sql = format!(
            "COPY (SELECT {select} FROM {}{}{order}{limit}) TO {} ({options})",
            reading.data(),
            filter.sql,
            literal(&staged.to_string_lossy()),
        );
        let written = self.read(|c| {
            check_casts(c, &filter.casts)?;
            interruptible(c, || c.execute(&sql, params_from_iter(&filter.params)).map_err(db_err))
        });
        drop(reading);
        let registered = written.and_then(|_| {
            let (size_bytes, sha256) = size_and_sha256(&staged)?;
            let info = FileInfo {
                id: new_id(8),
                name,
                size_bytes,
                content_type: Some(content_type.to_owned()),
                sha256,
                tags: request.tags.clone(),
                created_at: self.now(),
            };
            let note = JobNote::current(JobProgress { rows: 0, bytes: size_bytes }, json!({ "file": info }));
            check_cancelled()?;
            self.write(|c| {
                self.check_quota(c, &table.project, 1, size_bytes)?;
                insert_file(c, &table.project, &info)?;
                note_commit(c, note.as_ref(), naive(info.created_at))?;
                std::fs::create_dir_all(self.layout.files_dir(&table.project))?;
                std::fs::rename(&staged, self.layout.file(&table.project, &info.id))?;
                Ok(info)
            })
        });
        if registered.is_err() {
            let _ = std::fs::remove_file(&staged);
        }
        registered
    }
}
