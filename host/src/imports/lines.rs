//! Parsing a file of line records (an import format whose manifest says `line_records`)
//! on several cores: the file is cut at newlines into parts, each part is parsed by a
//! fresh parser on one of the workers (each with its own plugin instance), and the
//! batches come out in file order, so the load is the same as a serial parse, errors
//! included (the first one in the file wins).
//!
//! Part `i` goes to worker `i % n` and its batches are collected from worker `i % n`,
//! through channels of one slot each: at most about three parts per worker are in memory,
//! and dropping the returned iterator stops every thread of the pipeline.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::Scope;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;

use duckstore_plugin_sdk::Result;
use duckstore_plugin_sdk::schema::Column;

use crate::plugins::formats::FormatParser;
use crate::plugins::loader::Loaded;
use crate::plugins::{PluginError, Plugins};

use super::{Groups, OneByOne};

/// What every part is parsed with.
#[derive(Clone, Copy)]
pub struct Job<'a> {
    pub plugins: &'a Arc<Plugins>,
    pub loaded: &'a Arc<Loaded>,
    pub options: &'a str,
    pub columns: &'a [Column],
}

/// A run of whole lines of the file.
struct Part {
    bytes: Vec<u8>,
    /// Lines of the file before this part.
    lines_before: u64,
}

/// Starts the pipeline on `scope`; returns the columns of the rows (those of the first
/// batch, or the table's for a file without rows) and the batches in file order.
pub fn parse<'scope>(
    scope: &'scope Scope<'scope, '_>,
    job: Job<'scope>,
    file: std::fs::File,
    part_bytes: usize,
    workers: usize,
) -> Result<(SchemaRef, impl Iterator<Item = Result<RecordBatch>> + Send + 'scope)> {
    let mut inputs = Vec::with_capacity(workers);
    let mut outputs = Vec::with_capacity(workers);
    for _ in 0..workers {
        let (to_worker, parts) = sync_channel::<Result<Part>>(1);
        let (results, from_worker) = sync_channel(1);
        scope.spawn(move || {
            let mut parser = None;
            for part in parts {
                let parsed = part.and_then(|part| parse_part(job, &mut parser, &part));
                let stop = parsed.is_err();
                if results.send(parsed).is_err() || stop {
                    break;
                }
            }
        });
        inputs.push(to_worker);
        outputs.push(from_worker);
    }
    scope.spawn(move || deal(Parts { file, part_bytes, carry: Vec::new(), lines: 0, done: false }, &inputs));
    let mut ordered = OneByOne::new(InFileOrder { outputs, next: 0, schema: None, name: &job.loaded.manifest.name });
    ordered.fill()?;
    let schema = ordered.groups.schema.clone().unwrap_or_else(|| crate::plugins::formats::table_schema(job.columns));
    Ok((schema, ordered))
}

/// Hands part `i` to worker `i % n` until the file ends or a worker is gone.
fn deal(parts: Parts, workers: &[SyncSender<Result<Part>>]) {
    for (part, worker) in parts.zip(workers.iter().cycle()) {
        let stop = part.is_err();
        if worker.send(part).is_err() || stop {
            break;
        }
    }
}

/// Parses `part` with a fresh parser: the worker's first, or its previous one restarted
/// in the same instance.
fn parse_part(job: Job<'_>, parser: &mut Option<FormatParser>, part: &Part) -> Result<Vec<RecordBatch>> {
    let parsed = (|| {
        let parser = match parser {
            Some(parser) => {
                parser.restart()?;
                parser
            }
            None => parser.insert(job.plugins.open_parser(job.loaded.clone(), job.options, job.columns)?),
        };
        let mut batches = parser.feed(&part.bytes)?;
        batches.extend(parser.finish()?);
        Ok(batches)
    })();
    parsed.map_err(|e| renumber(e, part.lines_before).into())
}

/// Makes a location `line N` of a part the line of the file.
fn renumber(mut error: PluginError, lines_before: u64) -> PluginError {
    if let PluginError::Returned { error, .. } = &mut error
        && let Some(at) = &mut error.location
        && let Some(rest) = at.strip_prefix("line ")
    {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if let Ok(line) = rest[..digits].parse::<u64>() {
            *at = format!("line {}{}", line + lines_before, &rest[digits..]);
        }
    }
    error
}

/// The file cut into parts of about `part_bytes` that end at a newline; a line longer
/// than that makes a longer part.
struct Parts {
    file: std::fs::File,
    part_bytes: usize,
    /// The bytes read after the last newline.
    carry: Vec<u8>,
    lines: u64,
    done: bool,
}

impl Iterator for Parts {
    type Item = Result<Part>;

    fn next(&mut self) -> Option<Result<Part>> {
        if self.done {
            return None;
        }
        let mut bytes = std::mem::take(&mut self.carry);
        let cut = loop {
            let start = bytes.len();
            bytes.resize(start + self.part_bytes, 0);
            let read = match super::read_full(&mut self.file, &mut bytes[start..]) {
                Ok(read) => read,
                Err(e) => {
                    self.done = true;
                    return Some(Err(e.into()));
                }
            };
            bytes.truncate(start + read);
            if read == 0 {
                self.done = true;
                break bytes.len();
            }
            if let Some(newline) = bytes[start..].iter().rposition(|b| *b == b'\n') {
                break start + newline + 1;
            }
        };
        if bytes.is_empty() {
            return None;
        }
        self.carry = bytes.split_off(cut);
        let lines_before = self.lines;
        self.lines += bytes.iter().filter(|b| **b == b'\n').count() as u64;
        Some(Ok(Part { bytes, lines_before }))
    }
}

/// The workers' batches, part by part in file order.
struct InFileOrder<'a> {
    outputs: Vec<Receiver<Result<Vec<RecordBatch>>>>,
    /// The part whose batches come next.
    next: usize,
    schema: Option<SchemaRef>,
    name: &'a str,
}

impl Groups for InFileOrder<'_> {
    fn next_group(&mut self) -> Result<Option<Vec<RecordBatch>>> {
        let Some(output) = self.outputs.get(self.next % self.outputs.len().max(1)) else { return Ok(None) };
        let Ok(part) = output.recv() else {
            // Part `next` was never dealt: the file has no more.
            self.outputs.clear();
            return Ok(None);
        };
        self.next += 1;
        let batches = part?;
        for batch in &batches {
            match &self.schema {
                None => self.schema = Some(batch.schema()),
                Some(first) if first.fields() != batch.schema().fields() => {
                    return Err(PluginError::Contract {
                        name: self.name.to_owned(),
                        message: "parts of the file gave batches with different columns".into(),
                    }
                    .into());
                }
                Some(_) => {}
            }
        }
        Ok(Some(batches))
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::plugins::bindings::{ErrorCode, WitError};

    fn parts_of(text: &str, part_bytes: usize) -> Vec<(String, u64)> {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(text.as_bytes()).unwrap();
        std::io::Seek::rewind(&mut file).unwrap();
        Parts { file, part_bytes, carry: Vec::new(), lines: 0, done: false }
            .map(|p| p.map(|p| (String::from_utf8(p.bytes).unwrap(), p.lines_before)).unwrap())
            .collect()
    }

    #[test]
    fn parts_end_at_newlines_and_know_the_lines_before_them() {
        let parts = parts_of("a1\nb2\nc3\nd4", 5);
        // Each part is what was left over plus a read of 5 bytes, up to its last newline.
        assert_eq!(parts, [("a1\n".into(), 0), ("b2\nc3\n".into(), 1), ("d4".into(), 3)]);
        let long = parts_of("short\na line longer than a part\nz\n", 8);
        assert_eq!(long[1], ("a line longer than a part\n".into(), 1), "a long line makes a long part");
        assert_eq!(
            long.iter().map(|(text, _)| text.as_str()).collect::<String>(),
            "short\na line longer than a part\nz\n"
        );
        assert!(parts_of("", 8).is_empty());
    }

    #[test]
    fn part_locations_become_file_lines() {
        let returned = |at: &str| PluginError::Returned {
            name: "p".into(),
            error: WitError { code: ErrorCode::InvalidInput, message: "bad".into(), location: Some(at.into()) },
        };
        let at = |e: PluginError| match e {
            PluginError::Returned { error, .. } => error.location.unwrap(),
            other => panic!("{other}"),
        };
        assert_eq!(at(renumber(returned("line 3"), 100)), "line 103");
        assert_eq!(at(renumber(returned("line 3, field x"), 100)), "line 103, field x");
        assert_eq!(at(renumber(returned("row 3"), 100)), "row 3", "other locations are left alone");
    }
}
