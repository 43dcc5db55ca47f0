//! Import-format plugins as the import pipeline uses them: find the plugin for a format
//! name, a file extension or a file's first bytes; parse a file into Arrow batches.
//!
//! Everything a plugin hands back is checked before it becomes an Arrow array: a plugin
//! that returns ragged columns, bad offsets or invalid UTF-8 breaks its contract and the
//! import fails, naming it.

use std::sync::Arc;
use std::time::Instant;

use arrow_array::types::{Date32Type, Float64Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{ArrayRef, BooleanArray, PrimitiveArray, RecordBatch, StringArray};
use arrow_buffer::{BooleanBuffer, Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use wasmtime::component::ResourceAny;

use duckstore_plugin_sdk::schema::{Column as TableColumn, ColumnType as TableType};

use super::bindings::import_format::ImportFormatPlugin;
use super::bindings::import_format::duckstore::plugin::types::{Batch, Column, ColumnData, ColumnDef, ColumnType};
use super::loader::{Exports, Loaded};
use super::manifest::PluginKind;
use super::registry::CallOutcome;
use super::runtime::Sandbox;
use super::{PluginError, Plugins};

/// The least confidence (of 100) for sniffing to pick a plugin.
const SNIFF_THRESHOLD: u8 = 50;

impl Plugins {
    /// The enabled import-format plugin whose format is `name` (case-insensitive).
    pub fn format_named(&self, name: &str) -> Option<Arc<Loaded>> {
        self.of_kind(PluginKind::ImportFormat)
            .into_iter()
            .find(|l| matches!(&l.exports, Exports::ImportFormat { info, .. } if info.name.eq_ignore_ascii_case(name)))
    }

    /// The `format` names of the enabled import-format plugins.
    pub fn format_names(&self) -> Vec<String> {
        self.of_kind(PluginKind::ImportFormat)
            .iter()
            .filter_map(|l| match &l.exports {
                Exports::ImportFormat { info, .. } => Some(info.name.clone()),
                _ => None,
            })
            .collect()
    }

    /// The enabled import-format plugin claiming the extension of `file_name`.
    pub fn format_for_file(&self, file_name: &str) -> Option<Arc<Loaded>> {
        let lower = file_name.to_ascii_lowercase();
        let (_, extension) = lower.rsplit_once('.')?;
        self.of_kind(PluginKind::ImportFormat).into_iter().find(|l| {
            matches!(&l.exports, Exports::ImportFormat { info, .. } if info.extensions.iter().any(|x| x.eq_ignore_ascii_case(extension)))
        })
    }

    /// Asks every enabled import-format plugin how sure it is that `head` is its format.
    pub fn sniff(&self, head: &[u8]) -> Option<Arc<Loaded>> {
        let mut best: Option<(u8, Arc<Loaded>)> = None;
        for loaded in self.of_kind(PluginKind::ImportFormat) {
            let Exports::ImportFormat { pre, .. } = &loaded.exports else { continue };
            let started = Instant::now();
            let mut sandbox = self.runtime().sandbox(loaded.identity.clone(), loaded.limits);
            let answer = pre.instantiate(&mut sandbox.store).and_then(|b| {
                sandbox.arm();
                b.duckstore_plugin_import_format().call_sniff(&mut sandbox.store, head)
            });
            match answer {
                Ok(confidence) => {
                    self.record(&loaded, CallOutcome::Ok, started);
                    if confidence >= SNIFF_THRESHOLD && best.as_ref().is_none_or(|(c, _)| confidence > *c) {
                        best = Some((confidence.min(100), loaded.clone()));
                    }
                }
                Err(e) => drop(self.fault(&loaded, sandbox.fault(e), started)),
            }
        }
        best.map(|(_, loaded)| loaded)
    }

    /// Starts parsing one file with `loaded`, for a table with `columns`.
    pub fn open_parser(
        self: &Arc<Self>,
        loaded: Arc<Loaded>,
        options: &str,
        columns: &[TableColumn],
    ) -> Result<FormatParser, PluginError> {
        let Exports::ImportFormat { pre, .. } = &loaded.exports else {
            return Err(PluginError::Unavailable {
                name: loaded.manifest.name.clone(),
                reason: "it is not an import format".into(),
            });
        };
        let defs: Vec<ColumnDef> = columns
            .iter()
            .map(|c| ColumnDef { name: c.def.name.to_string(), type_: plugin_type(&c.def.data_type) })
            .collect();
        let started = Instant::now();
        let mut sandbox = self.runtime().sandbox(loaded.identity.clone(), loaded.limits);
        let opened = pre.instantiate(&mut sandbox.store).and_then(|bindings| {
            sandbox.arm();
            let parser =
                bindings.duckstore_plugin_import_format().parser().call_open(&mut sandbox.store, options, &defs)?;
            Ok((bindings, parser))
        });
        let (bindings, parser) = match opened {
            Ok((bindings, Ok(parser))) => (bindings, parser),
            Ok((_, Err(error))) => {
                self.record(&loaded, CallOutcome::Error, started);
                return Err(PluginError::Returned { name: loaded.manifest.name.clone(), error });
            }
            Err(e) => return Err(self.fault(&loaded, sandbox.fault(e), started)),
        };
        self.record(&loaded, CallOutcome::Ok, started);
        let fallback = table_schema(columns);
        let options = options.to_owned();
        Ok(FormatParser {
            plugins: self.clone(),
            loaded,
            sandbox,
            bindings,
            parser,
            options,
            defs,
            schema: None,
            fallback,
        })
    }
}

/// What a plugin produces for a table column: the host casts it to the column's own type.
fn plugin_type(t: &TableType) -> ColumnType {
    match t {
        TableType::Boolean => ColumnType::Boolean,
        TableType::TinyInt | TableType::SmallInt | TableType::Integer | TableType::BigInt => ColumnType::Int64,
        TableType::UTinyInt | TableType::USmallInt | TableType::UInteger => ColumnType::Int64,
        TableType::Real | TableType::Double => ColumnType::Float64,
        TableType::Date => ColumnType::Date,
        TableType::Timestamp | TableType::TimestampTz => ColumnType::Timestamp,
        // Exact or textual types travel as text and are cast by DuckDB.
        _ => ColumnType::Text,
    }
}

/// The columns a plugin is asked for, as the Arrow schema of rows it would return.
pub fn table_schema(columns: &[TableColumn]) -> SchemaRef {
    let fields: Vec<_> = columns
        .iter()
        .map(|c| Field::new(c.def.name.to_string(), arrow_type(plugin_type(&c.def.data_type)), true))
        .collect();
    Arc::new(Schema::new(fields))
}

fn arrow_type(t: ColumnType) -> DataType {
    match t {
        ColumnType::Boolean => DataType::Boolean,
        ColumnType::Int64 => DataType::Int64,
        ColumnType::Float64 => DataType::Float64,
        ColumnType::Text => DataType::Utf8,
        ColumnType::Date => DataType::Date32,
        ColumnType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
    }
}

/// One file being parsed by a plugin; dropping it discards the instance.
pub struct FormatParser {
    plugins: Arc<Plugins>,
    loaded: Arc<Loaded>,
    sandbox: Sandbox,
    bindings: ImportFormatPlugin,
    parser: ResourceAny,
    /// What the parser was opened with, to open the next one alike.
    options: String,
    defs: Vec<ColumnDef>,
    /// The columns of the first batch; every later batch must have the same.
    schema: Option<SchemaRef>,
    /// The columns announced to the plugin, for a file without rows.
    fallback: SchemaRef,
}

impl FormatParser {
    /// The columns of the batches returned so far, or the table's if there were none.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone().unwrap_or_else(|| self.fallback.clone())
    }

    pub fn feed(&mut self, chunk: &[u8]) -> Result<Vec<RecordBatch>, PluginError> {
        self.call(
            |b, store, parser| b.duckstore_plugin_import_format().parser().call_feed(store, parser, chunk),
            Self::convert_all,
        )
    }

    pub fn finish(&mut self) -> Result<Vec<RecordBatch>, PluginError> {
        self.call(
            |b, store, parser| b.duckstore_plugin_import_format().parser().call_finish(store, parser),
            Self::convert_all,
        )
    }

    /// Drops the parser and opens a new one, with the same options and columns, in the
    /// same instance: the next input is parsed from scratch, in memory already grown.
    pub fn restart(&mut self) -> Result<(), PluginError> {
        let (options, defs) = (self.options.clone(), self.defs.clone());
        self.call(
            |b, store, parser| {
                parser.resource_drop(&mut *store)?;
                b.duckstore_plugin_import_format().parser().call_open(store, &options, &defs)
            },
            |this, parser| {
                this.parser = parser;
                Ok(())
            },
        )
    }

    /// Calls into the plugin with its deadline armed; `accept` checks what it returned.
    fn call<T, R>(
        &mut self,
        f: impl FnOnce(
            &ImportFormatPlugin,
            &mut wasmtime::Store<super::runtime::PluginState>,
            ResourceAny,
        ) -> wasmtime::Result<Result<T, super::bindings::WitError>>,
        accept: impl FnOnce(&mut Self, T) -> Result<R, String>,
    ) -> Result<R, PluginError> {
        let started = Instant::now();
        let name = self.loaded.manifest.name.clone();
        self.sandbox.arm();
        match f(&self.bindings, &mut self.sandbox.store, self.parser) {
            Err(e) => Err(self.plugins.fault(&self.loaded, self.sandbox.fault(e), started)),
            Ok(Err(error)) => {
                self.plugins.record(&self.loaded, CallOutcome::Error, started);
                Err(PluginError::Returned { name, error })
            }
            Ok(Ok(value)) => match accept(self, value) {
                Ok(accepted) => {
                    self.plugins.record(&self.loaded, CallOutcome::Ok, started);
                    Ok(accepted)
                }
                Err(message) => {
                    self.plugins.record(&self.loaded, CallOutcome::Fault, started);
                    Err(PluginError::Contract { name, message })
                }
            },
        }
    }

    fn convert_all(&mut self, batches: Vec<Batch>) -> Result<Vec<RecordBatch>, String> {
        batches.into_iter().map(|b| self.convert(b)).collect()
    }

    fn convert(&mut self, batch: Batch) -> Result<RecordBatch, String> {
        let rows = batch.rows as usize;
        let mut fields = Vec::with_capacity(batch.columns.len());
        let mut arrays = Vec::with_capacity(batch.columns.len());
        for column in batch.columns {
            let name = column.name.clone();
            let array = to_array(column, rows).map_err(|e| format!("column {name:?}: {e}"))?;
            fields.push(Field::new(name, array.data_type().clone(), true));
            arrays.push(array);
        }
        let schema = Arc::new(Schema::new(fields));
        match &self.schema {
            Some(first) if first.fields() != schema.fields() => {
                return Err("a batch has other columns than the first one".into());
            }
            Some(_) => {}
            None => {
                let mut names: Vec<_> = schema.fields().iter().map(|f| f.name().to_lowercase()).collect();
                names.sort();
                if names.windows(2).any(|w| w[0] == w[1]) || names.iter().any(|n| n.is_empty()) {
                    return Err("column names must be non-empty and unique".into());
                }
                self.schema = Some(schema.clone());
            }
        }
        RecordBatch::try_new_with_options(
            schema,
            arrays,
            &arrow_array::RecordBatchOptions::new().with_row_count(Some(rows)),
        )
        .map_err(|e| e.to_string())
    }
}

fn bitmap(bits: Vec<u8>, rows: usize, what: &str) -> Result<BooleanBuffer, String> {
    if bits.len() < rows.div_ceil(8) {
        return Err(format!("the {what} has {} bytes for {rows} rows", bits.len()));
    }
    Ok(BooleanBuffer::new(Buffer::from_vec(bits), 0, rows))
}

fn fixed<T: arrow_array::ArrowPrimitiveType>(
    values: Vec<T::Native>,
    rows: usize,
    nulls: Option<NullBuffer>,
) -> Result<ArrayRef, String> {
    if values.len() != rows {
        return Err(format!("{} values for {rows} rows", values.len()));
    }
    Ok(Arc::new(PrimitiveArray::<T>::try_new(ScalarBuffer::from(values), nulls).map_err(|e| e.to_string())?))
}

fn to_array(column: Column, rows: usize) -> Result<ArrayRef, String> {
    let nulls = column.validity.map(|v| bitmap(v, rows, "validity bitmap").map(NullBuffer::new)).transpose()?;
    match column.data {
        ColumnData::Boolean(bits) => Ok(Arc::new(BooleanArray::new(bitmap(bits, rows, "boolean bitmap")?, nulls))),
        ColumnData::Int64(v) => fixed::<Int64Type>(v, rows, nulls),
        ColumnData::Float64(v) => fixed::<Float64Type>(v, rows, nulls),
        ColumnData::Date(v) => fixed::<Date32Type>(v, rows, nulls),
        ColumnData::Timestamp(v) => fixed::<TimestampMicrosecondType>(v, rows, nulls),
        ColumnData::Text(text) => {
            let offsets = text.offsets;
            let well_formed = offsets.len() == rows + 1
                && offsets[0] == 0
                && offsets.windows(2).all(|w| w[0] <= w[1])
                && offsets[rows] as usize == text.bytes.len();
            if !well_formed {
                return Err(format!("text offsets do not describe {rows} values in {} bytes", text.bytes.len()));
            }
            let offsets = OffsetBuffer::new(ScalarBuffer::from(offsets));
            Ok(Arc::new(StringArray::try_new(offsets, Buffer::from_vec(text.bytes), nulls).map_err(|e| e.to_string())?))
        }
    }
}
