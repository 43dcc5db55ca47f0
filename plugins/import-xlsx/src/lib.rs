//! Spreadsheets: one sheet of an xlsx/xlsm/xlsb/xls/ods workbook, its first row the header.
//!
//! A workbook can only be read whole (a zip's directory is at its end), so the parser
//! keeps the chunks and reads the sheet in `finish`. Options: `sheet`, a name or a
//! 0-based index (default: the first sheet). Header cells name the columns (the host
//! matches them to the table's, as for CSV); cells are converted to the matching table
//! column's type, dates and times from Excel's serial numbers.

use std::cell::RefCell;
use std::io::Cursor;

use calamine::{Data, Reader, open_workbook_auto_from_rs};
use duckstore_plugin_guest::import_format::*;
use serde::Deserialize;

struct Xlsx;

impl Guest for Xlsx {
    type Parser = XlsxParser;

    fn info() -> FormatInfo {
        FormatInfo {
            name: "xlsx".to_owned(),
            extensions: ["xlsx", "xlsm", "xlsb", "xls", "ods"].map(str::to_owned).to_vec(),
            mime_types: vec![
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet".to_owned(),
                "application/vnd.ms-excel".to_owned(),
                "application/vnd.oasis.opendocument.spreadsheet".to_owned(),
            ],
        }
    }

    fn sniff(head: Vec<u8>) -> u8 {
        const OLE: &[u8] = &[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
        let contains = |needle: &[u8]| head.windows(needle.len()).any(|w| w == needle);
        if head.starts_with(b"PK\x03\x04") && (contains(b"[Content_Types].xml") || contains(b"xl/")) {
            90
        } else if head.starts_with(OLE) {
            60
        } else {
            0
        }
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Sheet {
    Index(usize),
    Name(String),
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Options {
    #[serde(default)]
    sheet: Option<Sheet>,
}

struct XlsxParser {
    options: Options,
    columns: Vec<ColumnDef>,
    bytes: RefCell<Vec<u8>>,
}

impl GuestParser for XlsxParser {
    fn open(options: String, columns: Vec<ColumnDef>) -> Result<Parser, Error> {
        let options = if options.trim().is_empty() {
            Options::default()
        } else {
            serde_json::from_str(&options).map_err(|e| Error::invalid_options(format!("xlsx options: {e}")))?
        };
        Ok(Parser::new(XlsxParser { options, columns, bytes: RefCell::new(Vec::new()) }))
    }

    fn feed(&self, chunk: Vec<u8>) -> Result<Vec<Batch>, Error> {
        self.bytes.borrow_mut().extend_from_slice(&chunk);
        Ok(vec![])
    }

    fn finish(&self) -> Result<Vec<Batch>, Error> {
        let bytes = std::mem::take(&mut *self.bytes.borrow_mut());
        let mut workbook = open_workbook_auto_from_rs(Cursor::new(bytes))
            .map_err(|e| Error::invalid_input(format!("not a readable workbook: {e}")))?;
        let names = workbook.sheet_names();
        let name = match &self.options.sheet {
            None => names.first().cloned().ok_or_else(|| Error::invalid_input("the workbook has no sheets"))?,
            Some(Sheet::Name(name)) => names.iter().find(|n| *n == name).cloned().ok_or_else(|| {
                Error::invalid_options(format!("no sheet named {name:?}; the workbook has {names:?}"))
            })?,
            Some(Sheet::Index(i)) => names.get(*i).cloned().ok_or_else(|| {
                Error::invalid_options(format!("no sheet {i}: the workbook has {} sheet(s)", names.len()))
            })?,
        };
        let range = workbook
            .worksheet_range(&name)
            .map_err(|e| Error::invalid_input(format!("sheet {name:?}: {e}")))?;
        let mut rows = range.rows();
        let Some(header) = rows.next() else { return Ok(vec![]) };
        let defs = header
            .iter()
            .enumerate()
            .map(|(i, cell)| {
                let name = cell.to_string();
                if name.trim().is_empty() {
                    return Err(Error::invalid_input(format!("header cell {} is empty", i + 1)).at("row 1"));
                }
                let type_ = self
                    .columns
                    .iter()
                    .find(|c| c.name.eq_ignore_ascii_case(&name))
                    .map_or(ColumnType::Text, |c| c.type_);
                Ok(ColumnDef { name, type_ })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut builder = BatchBuilder::new(&defs);
        let mut batches = Vec::new();
        for (r, row) in rows.enumerate() {
            for (c, cell) in row.iter().enumerate().take(defs.len()) {
                let text;
                let value = match cell {
                    Data::Empty | Data::Error(_) => Value::Null,
                    Data::Int(i) => Value::Int(*i),
                    Data::Float(f) => Value::Float(*f),
                    Data::Bool(b) => Value::Bool(*b),
                    Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => Value::Text(s),
                    Data::DateTime(dt) => serial_value(dt.as_f64(), defs[c].type_),
                };
                let value = match value {
                    Value::Float(f) if defs[c].type_ == ColumnType::Text && f.fract() == 0.0 => {
                        text = format!("{f:.0}");
                        Value::Text(&text)
                    }
                    v => v,
                };
                builder.set(c, value).map_err(|message| {
                    let at = format!("row {}, column {}", r + 2, c + 1);
                    Error::invalid_input(format!("{at}: {message}")).at(at)
                })?;
            }
            builder.end_row();
            if builder.rows() >= 65_536 {
                batches.push(builder.finish());
            }
        }
        if builder.rows() > 0 {
            batches.push(builder.finish());
        }
        Ok(batches)
    }
}

/// An Excel date-time serial number (days since 1899-12-30) for a column of `type_`.
fn serial_value(serial: f64, type_: ColumnType) -> Value<'static> {
    const UNIX_EPOCH_SERIAL: f64 = 25_569.0;
    match type_ {
        ColumnType::Date => Value::Int((serial - UNIX_EPOCH_SERIAL).floor() as i64),
        ColumnType::Timestamp => Value::Int(((serial - UNIX_EPOCH_SERIAL) * 86_400_000_000.0).round() as i64),
        _ => Value::Float(serial),
    }
}

duckstore_plugin_guest::import_format_plugin!(Xlsx);
