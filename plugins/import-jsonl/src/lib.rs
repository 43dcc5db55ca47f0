//! Newline-delimited JSON: one object per line, keys matched to the table's columns.
//!
//! Values are converted to each column's type as they are read (no intermediate JSON
//! tree); nested objects and arrays go into text columns as JSON. A key the table does
//! not have is an error unless the import's options say `"ignore_unknown_keys": true`;
//! a missing key is null. Blank lines are skipped. Options: `ignore_unknown_keys`,
//! `batch_rows` (rows per batch handed to the host, default 65536).

use std::borrow::Cow;
use std::cell::RefCell;

use duckstore_plugin_guest::import_format::*;
use serde::de::{Error as _, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
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
    columns: Columns,
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
            columns: Columns { names: columns.iter().map(|c| c.name.clone()).collect() },
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
        // One UTF-8 check for all lines, so that reading each value needs none.
        let text = std::str::from_utf8(text).map_err(|e| {
            let before = &text[..e.valid_up_to()];
            self.line += 1 + before.iter().filter(|b| **b == b'\n').count() as u64;
            self.refuse("the line is not UTF-8 text".to_owned())
        })?;
        for line in text.split('\n') {
            self.line += 1;
            if line.trim_ascii().is_empty() {
                continue;
            }
            self.read_object(line).map_err(|message| self.refuse(message))?;
            if self.builder.rows() >= self.options.batch_rows {
                batches.push(self.builder.finish());
            }
        }
        // `split` yields one empty piece after a final newline; it is not a line.
        if text.ends_with('\n') {
            self.line -= 1;
        }
        Ok(())
    }

    /// The error for the current line; the host shows the location with the message.
    fn refuse(&self, message: String) -> Error {
        Error::invalid_input(message).at(format!("line {}", self.line))
    }

    fn read_object(&mut self, line: &str) -> Result<(), String> {
        let mut failure = None;
        let mut de = serde_json::Deserializer::from_str(line);
        let row = Row { columns: &self.columns, builder: &mut self.builder, options: &self.options, failure: &mut failure };
        match de.deserialize_map(row).and_then(|()| de.end()) {
            Ok(()) => {
                self.builder.end_row();
                Ok(())
            }
            Err(e) => {
                self.builder.abandon_row();
                Err(failure.unwrap_or_else(|| format!("not a JSON object: {e}")))
            }
        }
    }
}

/// The table's columns, found by a line's keys.
struct Columns {
    names: Vec<String>,
}

impl Columns {
    /// The column named `key` (exactly, else ignoring ASCII case). Lines usually list
    /// their keys in one order, so the search starts where the previous key was found.
    fn find(&self, key: &str, from: usize) -> Option<usize> {
        let n = self.names.len();
        let exact = (0..n).map(|i| (from + i) % n).find(|&i| self.names[i] == key);
        exact.or_else(|| self.names.iter().position(|name| name.eq_ignore_ascii_case(key)))
    }
}

/// Reads one line's object straight into the batch: keys are matched as they are read,
/// nothing is collected per line.
struct Row<'a> {
    columns: &'a Columns,
    builder: &'a mut BatchBuilder,
    options: &'a Options,
    /// Why the row was refused, when it was refused for its content rather than its syntax
    /// (serde's own message would add a position inside the line).
    failure: &'a mut Option<String>,
}

impl<'de> Visitor<'de> for Row<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut refuse = |message: String| {
            *self.failure = Some(message);
            A::Error::custom("refused")
        };
        let mut next = 0;
        while let Some(Key(key)) = map.next_key()? {
            let Some(index) = self.columns.find(&key, next) else {
                if self.options.ignore_unknown_keys {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
                return Err(refuse(format!("key {key:?} is not a column of the table")));
            };
            let raw: &RawValue = map.next_value()?;
            let result = match scalar(raw) {
                Ok(value) => self.builder.set(index, value),
                Err(text) => self.builder.set(index, Value::Text(&text)),
            };
            result.map_err(&mut refuse)?;
            next = index + 1;
        }
        Ok(())
    }
}

/// An object key, borrowed from the line unless it has escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a key")
            }
            fn visit_borrowed_str<E>(self, key: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(key)))
            }
            fn visit_str<E>(self, key: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(key.to_owned())))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
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
        b'"' if !json.as_bytes().contains(&b'\\') => Ok(Value::Text(&json[1..json.len() - 1])),
        b'"' => Err(serde_json::from_str::<String>(json).unwrap_or_default()),
        b'{' | b'[' => Err(json.to_owned()),
        _ => Ok(match json.parse::<i64>() {
            Ok(i) => Value::Int(i),
            Err(_) => Value::Float(json.parse().map_err(|_| json.to_owned())?),
        }),
    }
}

duckstore_plugin_guest::import_format_plugin!(Jsonl, line_records);
