//! Newline-delimited JSON: one object per line, keys matched to the table's columns.
//!
//! Values are converted to each column's type as they are read (no intermediate JSON
//! tree); nested objects and arrays go into text columns as JSON. A key the table does
//! not have is an error unless the import's options say `"ignore_unknown_keys": true`;
//! a missing key is null. Blank lines are skipped. Options: `ignore_unknown_keys`,
//! `batch_rows` (rows per batch handed to the host, default 65536).

use std::cell::RefCell;
use std::collections::HashMap;

use duckstore_plugin_guest::import_format::*;
use serde::Deserialize;
use serde_json::value::RawValue;

struct Jsonl;

impl Guest for Jsonl {
    type Parser = JsonlParser;

    fn info() -> FormatInfo {
        FormatInfo {
            name: "jsonl".to_owned(),
            extensions: vec!["jsonl".to_owned(), "ndjson".to_owned()],
            mime_types: vec!["application/x-ndjson".to_owned(), "application/jsonl".to_owned()],
        }
    }

    fn sniff(head: Vec<u8>) -> u8 {
        let first_line = head.split(|b| *b == b'\n').find(|l| !l.iter().all(u8::is_ascii_whitespace));
        match first_line {
            Some(line) if serde_json::from_slice::<&RawValue>(line).is_ok_and(|v| v.get().starts_with('{')) => 95,
            Some(line) if line.trim_ascii_start().starts_with(b"{") => 50,
            _ => 0,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Options {
    #[serde(default)]
    ignore_unknown_keys: bool,
    #[serde(default = "default_batch_rows")]
    batch_rows: u32,
}

fn default_batch_rows() -> u32 {
    65_536
}

struct JsonlParser(RefCell<State>);

struct State {
    columns: HashMap<String, usize>,
    builder: BatchBuilder,
    options: Options,
    /// Bytes after the last complete line.
    pending: Vec<u8>,
    /// Lines read so far.
    line: u64,
}

impl GuestParser for JsonlParser {
    fn open(options: String, columns: Vec<ColumnDef>) -> Result<Parser, Error> {
        let options: Options = serde_json::from_str(if options.trim().is_empty() { "{}" } else { &options })
            .map_err(|e| Error::invalid_options(format!("jsonl options: {e}")))?;
        let state = State {
            columns: columns.iter().enumerate().map(|(i, c)| (c.name.to_lowercase(), i)).collect(),
            builder: BatchBuilder::new(&columns),
            options,
            pending: Vec::new(),
            line: 0,
        };
        Ok(Parser::new(JsonlParser(RefCell::new(state))))
    }

    fn feed(&self, chunk: Vec<u8>) -> Result<Vec<Batch>, Error> {
        let state = &mut *self.0.borrow_mut();
        let Some(last_newline) = chunk.iter().rposition(|b| *b == b'\n') else {
            state.pending.extend_from_slice(&chunk);
            return Ok(vec![]);
        };
        let mut batches = Vec::new();
        let (complete, rest) = chunk.split_at(last_newline + 1);
        if state.pending.is_empty() {
            state.read_lines(complete, &mut batches)?;
        } else {
            let mut joined = std::mem::take(&mut state.pending);
            joined.extend_from_slice(complete);
            state.read_lines(&joined, &mut batches)?;
        }
        state.pending.extend_from_slice(rest);
        Ok(batches)
    }

    fn finish(&self) -> Result<Vec<Batch>, Error> {
        let state = &mut *self.0.borrow_mut();
        let mut batches = Vec::new();
        let rest = std::mem::take(&mut state.pending);
        state.read_lines(&rest, &mut batches)?;
        if state.builder.rows() > 0 {
            batches.push(state.builder.finish());
        }
        Ok(batches)
    }
}

impl State {
    fn read_lines(&mut self, text: &[u8], batches: &mut Vec<Batch>) -> Result<(), Error> {
        for line in text.split(|b| *b == b'\n') {
            self.line += 1;
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            if let Err(message) = self.read_object(line) {
                return Err(Error::invalid_input(format!("line {}: {message}", self.line))
                    .at(format!("line {}", self.line)));
            }
            if self.builder.rows() >= self.options.batch_rows {
                batches.push(self.builder.finish());
            }
        }
        // `split` yields one empty piece after a final newline; it is not a line.
        if text.ends_with(b"\n") {
            self.line -= 1;
        }
        Ok(())
    }

    fn read_object(&mut self, line: &[u8]) -> Result<(), String> {
        let object: HashMap<std::borrow::Cow<'_, str>, &RawValue> = match serde_json::from_slice(line) {
            Ok(object) => object,
            Err(e) => return Err(format!("not a JSON object: {e}")),
        };
        for (key, raw) in object {
            let Some(&index) = self.columns.get(&*key).or_else(|| self.columns.get(&key.to_lowercase())) else {
                if self.options.ignore_unknown_keys {
                    continue;
                }
                self.builder.abandon_row();
                return Err(format!("key {key:?} is not a column of the table"));
            };
            let result = match scalar(raw) {
                Ok(value) => self.builder.set(index, value),
                Err(text) => self.builder.set(index, Value::Text(&text)),
            };
            if let Err(message) = result {
                self.builder.abandon_row();
                return Err(message);
            }
        }
        self.builder.end_row();
        Ok(())
    }
}

/// A JSON value as a [`Value`]; strings with escapes, objects and arrays come back as
/// owned text in `Err`.
fn scalar(raw: &RawValue) -> Result<Value<'_>, String> {
    let json = raw.get();
    match json.as_bytes()[0] {
        b'n' => Ok(Value::Null),
        b't' => Ok(Value::Bool(true)),
        b'f' => Ok(Value::Bool(false)),
        b'"' if !json.contains('\\') => Ok(Value::Text(&json[1..json.len() - 1])),
        b'"' => Err(serde_json::from_str::<String>(json).unwrap_or_default()),
        b'{' | b'[' => Err(json.to_owned()),
        _ => Ok(match json.parse::<i64>() {
            Ok(i) => Value::Int(i),
            Err(_) => Value::Float(json.parse().map_err(|_| json.to_owned())?),
        }),
    }
}

duckstore_plugin_guest::import_format_plugin!(Jsonl);
