//! One pass over a CSV input before DuckDB reads it: the checks DuckDB's reader does not make.
//!
//! Measured with DuckDB 1.5.5, its CSV reader (even in strict mode) drops a last line longer
//! than its buffer without an error, reads a truncated gzip stream as a shorter file, accepts
//! invalid UTF-8 (and then fails, or trips an internal assertion, when the value is read),
//! and its parallel reader refuses lines longer than ~32 MiB in the middle of a file. An
//! import that reports success while rows went missing is the worst failure a storage
//! product has, so every CSV input is scanned first, streaming, and the import refused with
//! the line at fault unless:
//! - a compressed input decompresses completely (checksum and length verified) within the
//!   size and ratio bounds, so a bomb stops at once;
//! - every byte is UTF-8 and none is NUL (text columns cannot hold either);
//! - every quoted value is closed, and one kind of line ending is used throughout;
//! - no record is longer than `max_line_bytes`.
//!
//! The scan counts the data records as DuckDB reads them (RFC 4180 quoting, blank lines
//! skipped), so the load can check that every record arrived. A compressed input is written
//! out decompressed on the way, so DuckDB reads a plain file with all its threads.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use duckstore_plugin_sdk::engine::ImportLimits;
use duckstore_plugin_sdk::transfer::CsvDialect;
use duckstore_plugin_sdk::{Result, StorageError};

/// How much is read (and decompressed) at a time.
const BUFFER: usize = 1 << 20;
/// Below this much output, the compression ratio is not judged (small files compress well).
const RATIO_GRACE_BYTES: u64 = 64 << 20;

/// What the scan found.
#[derive(Debug)]
pub(crate) struct Scanned {
    /// Data records: after the header, blank lines not counted (DuckDB skips them).
    pub records: u64,
    /// The longest record, in bytes.
    pub longest: u64,
    /// The file to read: the input itself, or its decompressed copy.
    pub plain: Plain,
}

/// A plain-text CSV file for DuckDB; a decompressed copy is removed when this drops.
#[derive(Debug)]
pub(crate) struct Plain {
    path: PathBuf,
    temporary: bool,
}

impl Plain {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Plain {
    fn drop(&mut self) {
        if self.temporary {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

pub(crate) fn is_gzip(path: &Path) -> bool {
    let mut magic = [0u8; 2];
    File::open(path).and_then(|mut f| f.read_exact(&mut magic)).is_ok() && magic == [0x1f, 0x8b]
}

/// Scans the CSV file at `path` (gzip or plain); a gzip input is decompressed into a new
/// file under `temp_dir`. `check` runs between buffers (cancellation).
pub(crate) fn scan(
    path: &Path,
    dialect: CsvDialect,
    header: bool,
    columns: usize,
    limits: &ImportLimits,
    temp_dir: &Path,
    check: &dyn Fn() -> Result<()>,
) -> Result<Scanned> {
    let mut records = Records::new(dialect, header, columns, limits.max_line_bytes);
    if !is_gzip(path) {
        let mut input = File::open(path)?;
        let mut buf = vec![0u8; BUFFER];
        loop {
            check()?;
            let n = read_full(&mut input, &mut buf)?;
            if n == 0 {
                break;
            }
            records.feed(&buf[..n])?;
        }
        let (count, longest) = records.finish()?;
        return Ok(Scanned { records: count, longest, plain: Plain { path: path.to_owned(), temporary: false } });
    }
    std::fs::create_dir_all(temp_dir)?;
    let plain = Plain { path: temp_dir.join(format!("import-{}.csv", uuid::Uuid::new_v4().simple())), temporary: true };
    let compressed = Counting { inner: File::open(path)?, read: 0 };
    let mut decoder = flate2::read::MultiGzDecoder::new(compressed);
    let mut out = BufWriter::with_capacity(BUFFER, File::create(plain.path())?);
    let mut buf = vec![0u8; BUFFER];
    let mut expanded: u64 = 0;
    loop {
        check()?;
        let n = read_full(&mut decoder, &mut buf).map_err(|e| damaged(&e, expanded))?;
        if n == 0 {
            break;
        }
        expanded += n as u64;
        let consumed = decoder.get_ref().read.max(1);
        if expanded > limits.max_decompressed_bytes {
            return Err(StorageError::too_large(
                "decompressed_too_large",
                format!(
                    "the compressed file expands to more than {} bytes (the max_decompressed_bytes setting); \
                     nothing was imported",
                    limits.max_decompressed_bytes
                ),
            ));
        }
        if expanded > RATIO_GRACE_BYTES && expanded / consumed > limits.max_compression_ratio {
            return Err(StorageError::unprocessable(
                "compression_bomb",
                format!(
                    "the compressed file expands more than {}-fold (the max_compression_ratio setting): \
                     {consumed} bytes became {expanded} so far; nothing was imported",
                    limits.max_compression_ratio
                ),
            ));
        }
        records.feed(&buf[..n])?;
        out.write_all(&buf[..n])?;
    }
    out.flush()?;
    let (count, longest) = records.finish()?;
    Ok(Scanned { records: count, longest, plain })
}

/// Reads until `buf` is full or the input ends, so that buffers stay large.
fn read_full(input: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

fn damaged(e: &std::io::Error, expanded: u64) -> StorageError {
    let what = match e.kind() {
        std::io::ErrorKind::UnexpectedEof => "it ends too early (the file is truncated)".to_owned(),
        _ => format!("it is damaged ({e})"),
    };
    StorageError::unprocessable(
        "corrupt_compression",
        format!(
            "the gzip stream cannot be read to its end: {what}, after {expanded} bytes of content; nothing was imported"
        ),
    )
}

/// Counts the bytes read through it.
struct Counting {
    inner: File,
    read: u64,
}

impl Read for Counting {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

/// Which line endings a file used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ending {
    Lf,
    CrLf,
    Cr,
}

impl Ending {
    fn name(self) -> &'static str {
        match self {
            Ending::Lf => "\\n",
            Ending::CrLf => "\\r\\n",
            Ending::Cr => "\\r",
        }
    }
}

/// The record counter: a streaming RFC 4180 state machine over the input's bytes.
struct Records {
    /// The file has one column: DuckDB reads a blank line as a NULL value, not as nothing.
    one_column: bool,
    quote: Option<u8>,
    /// An escape character other than the quote (a doubled quote needs no state of its own).
    escape: Option<u8>,
    header: bool,
    max_record: u64,
    /// Physical line the scan is on (1-based).
    line: u64,
    in_quotes: bool,
    escaped: bool,
    /// The previous byte was a `\r` outside quotes (a `\n` next makes it `\r\n`).
    after_cr: bool,
    /// A `\r` inside quotes, whose line break is counted when the next byte shows its kind.
    cr_in_quotes: bool,
    record_bytes: u64,
    record_line: u64,
    /// Line where the quoted value now open began.
    quote_line: u64,
    ending: Option<(Ending, u64)>,
    records: u64,
    longest: u64,
    header_seen: bool,
    /// Nothing was scanned yet: a byte-order mark may come.
    at_start: bool,
    /// An incomplete UTF-8 sequence carried to the next buffer.
    carry: Vec<u8>,
}

impl Records {
    fn new(dialect: CsvDialect, header: bool, columns: usize, max_record: u64) -> Self {
        Self {
            one_column: columns == 1,
            quote: dialect.quote,
            escape: dialect.escape.filter(|e| Some(*e) != dialect.quote),
            header,
            max_record,
            line: 1,
            in_quotes: false,
            escaped: false,
            after_cr: false,
            cr_in_quotes: false,
            record_bytes: 0,
            record_line: 1,
            quote_line: 1,
            ending: None,
            records: 0,
            longest: 0,
            header_seen: false,
            at_start: true,
            carry: Vec::new(),
        }
    }

    /// Scans the next piece of input.
    fn feed(&mut self, input: &[u8]) -> Result<()> {
        let joined;
        let mut data = input;
        if !self.carry.is_empty() {
            let mut j = std::mem::take(&mut self.carry);
            j.extend_from_slice(input);
            joined = j;
            data = &joined;
        }
        if self.at_start {
            const BOM: &[u8] = b"\xef\xbb\xbf";
            if data.len() < BOM.len() && BOM.starts_with(data) {
                self.carry = data.to_vec();
                return Ok(());
            }
            self.at_start = false;
            data = data.strip_prefix(BOM).unwrap_or(data);
        }
        // Text is checked before it is scanned, so an error names the line it is on.
        let valid = match simdutf8::compat::from_utf8(data) {
            Ok(_) => data.len(),
            Err(e) if e.error_len().is_none() => e.valid_up_to(),
            Err(e) => {
                self.bytes(&data[..e.valid_up_to()])?;
                return Err(self.bad_input("invalid_utf8", "is not valid UTF-8 text"));
            }
        };
        let text = &data[..valid];
        if let Some(nul) = memchr::memchr(0, text) {
            self.bytes(&text[..nul])?;
            return Err(self.bad_input("nul_byte", "holds a NUL byte, which text values cannot hold"));
        }
        self.bytes(text)?;
        self.carry = data[valid..].to_vec();
        Ok(())
    }

    fn bad_input(&self, code: &'static str, what: &str) -> StorageError {
        StorageError::unprocessable(
            code,
            format!("CSV error on line {}: the line {what}; nothing was imported", self.line),
        )
    }

    fn bytes(&mut self, data: &[u8]) -> Result<()> {
        let mut i = 0;
        while i < data.len() {
            let b = data[i];
            if self.in_quotes {
                if self.cr_in_quotes {
                    self.cr_in_quotes = false;
                    if b != b'\n' {
                        self.line += 1;
                    }
                }
                if self.escaped {
                    self.escaped = false;
                } else if Some(b) == self.escape {
                    self.escaped = true;
                } else if Some(b) == self.quote {
                    self.in_quotes = false;
                } else if b == b'\n' {
                    self.line += 1;
                } else if b == b'\r' {
                    self.cr_in_quotes = true;
                }
                self.grow(1)?;
                i += 1;
                continue;
            }
            if self.after_cr {
                self.after_cr = false;
                if b == b'\n' {
                    self.ended_by(Ending::CrLf)?;
                    i += 1;
                    continue;
                }
                self.ended_by(Ending::Cr)?;
            }
            // Outside quotes only a quote or a line break changes the state.
            let run = match self.quote {
                Some(q) => memchr::memchr3(q, b'\n', b'\r', &data[i..]),
                None => memchr::memchr2(b'\n', b'\r', &data[i..]),
            };
            let Some(run) = run else {
                self.grow((data.len() - i) as u64)?;
                break;
            };
            self.grow(run as u64)?;
            i += run;
            match data[i] {
                b'\n' => {
                    self.end_record()?;
                    self.ended_by(Ending::Lf)?;
                }
                b'\r' => {
                    self.end_record()?;
                    self.after_cr = true;
                }
                _ => {
                    self.in_quotes = true;
                    self.quote_line = self.line;
                    self.grow(1)?;
                }
            }
            i += 1;
        }
        Ok(())
    }

    fn grow(&mut self, n: u64) -> Result<()> {
        if self.record_bytes == 0 && n > 0 {
            self.record_line = self.line;
        }
        self.record_bytes += n;
        if self.record_bytes > self.max_record {
            return Err(StorageError::unprocessable(
                "line_too_long",
                format!(
                    "CSV error on line {}: the record is longer than {} bytes (the max_line_size setting); \
                     nothing was imported",
                    self.record_line, self.max_record
                ),
            ));
        }
        Ok(())
    }

    /// A line break outside quotes of kind `ending`; the line count moves on.
    fn ended_by(&mut self, ending: Ending) -> Result<()> {
        match self.ending {
            None => self.ending = Some((ending, self.line)),
            Some((first, line)) if first != ending => {
                return Err(StorageError::unprocessable(
                    "mixed_line_endings",
                    format!(
                        "CSV error on line {}: the line ends with {} but line {line} ended with {}; use one kind \
                         of line ending throughout; nothing was imported",
                        self.line,
                        ending.name(),
                        first.name()
                    ),
                ));
            }
            Some(_) => {}
        }
        self.line += 1;
        Ok(())
    }

    /// A line break outside quotes ends a record; a blank line is no record, except in a
    /// one-column file, where it is a NULL value (as DuckDB reads it).
    fn end_record(&mut self) -> Result<()> {
        let blank = self.record_bytes == 0;
        self.longest = self.longest.max(self.record_bytes);
        self.record_bytes = 0;
        if self.header && !self.header_seen {
            if blank {
                return Err(StorageError::unprocessable(
                    "invalid_csv",
                    format!(
                        "CSV error on line {}: the line is blank, but the header was expected; nothing was imported",
                        self.line
                    ),
                ));
            }
            self.header_seen = true;
        } else if !blank || self.one_column {
            self.records += 1;
        }
        Ok(())
    }

    /// Ends the input: returns the data records and the longest record.
    fn finish(mut self) -> Result<(u64, u64)> {
        if !self.carry.is_empty() {
            return Err(self.bad_input("invalid_utf8", "ends inside a UTF-8 character"));
        }
        if self.in_quotes {
            return Err(StorageError::unprocessable(
                "unterminated_quote",
                format!(
                    "CSV error on line {}: a quoted value opens there and never closes; nothing was imported",
                    self.quote_line
                ),
            ));
        }
        if self.after_cr {
            self.ended_by(Ending::Cr)?;
        }
        // The last record, when the input does not end with a line break.
        if self.record_bytes > 0 {
            self.end_record()?;
        }
        Ok((self.records, self.longest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(input: &[u8]) -> Result<(u64, u64)> {
        count_with(input, CsvDialect { delimiter: b',', quote: Some(b'"'), escape: None }, 1 << 20)
    }

    fn count_with(input: &[u8], dialect: CsvDialect, max: u64) -> Result<(u64, u64)> {
        count_columns(input, dialect, 2, max)
    }

    fn count_columns(input: &[u8], dialect: CsvDialect, columns: usize, max: u64) -> Result<(u64, u64)> {
        // Every split point: the state must carry across buffers.
        let whole = {
            let mut r = Records::new(dialect, true, columns, max);
            r.feed(input)?;
            r.finish()?
        };
        for cut in 0..input.len() {
            let mut r = Records::new(dialect, true, columns, max);
            let split = r.feed(&input[..cut]).and_then(|()| r.feed(&input[cut..])).and_then(|()| r.finish());
            assert_eq!(split.as_ref().ok(), Some(&whole), "split at {cut} of {:?}", String::from_utf8_lossy(input));
        }
        Ok(whole)
    }

    #[test]
    fn records_are_counted_as_duckdb_reads_them() {
        assert_eq!(count(b"id,v\n1,a\n2,b\n").unwrap().0, 2);
        assert_eq!(count(b"id,v\n1,a\n2,b").unwrap().0, 2, "no trailing newline");
        assert_eq!(count(b"id,v\n1,a\n\n2,b\n\n\n").unwrap().0, 2, "blank lines are skipped");
        assert_eq!(count(b"id,v\r\n1,a\r\n2,b\r\n").unwrap().0, 2);
        assert_eq!(count(b"id,v\r1,a\r2,b\r").unwrap().0, 2);
        assert_eq!(count(b"\xef\xbb\xbfid,v\n1,a\n").unwrap().0, 1);
        assert_eq!(count(b"id,v\n1,\"a\nb\"\n2,\"x\"\"\ny\"\n").unwrap().0, 2, "quoted line breaks");
        assert_eq!(count(b"id,v\r\n1,\"a\r\nb\"\r\n").unwrap().0, 1);
        assert_eq!(count(b"id,v\n").unwrap().0, 0);
        assert_eq!(count(b"").unwrap().0, 0);
    }

    #[test]
    fn in_a_one_column_file_a_blank_line_is_a_null_value() {
        let dialect = CsvDialect { delimiter: b',', quote: Some(b'"'), escape: None };
        assert_eq!(count_columns(b"v\na\n\nb\n", dialect, 1, 1 << 20).unwrap().0, 3);
        assert_eq!(count_columns(b"v\na\n\nb\n\n", dialect, 1, 1 << 20).unwrap().0, 4);
        assert_eq!(count_columns(b"v\r\na\r\n\r\nb\r\n", dialect, 1, 1 << 20).unwrap().0, 3);
        assert_eq!(count_columns(b"v\na\nb", dialect, 1, 1 << 20).unwrap().0, 2);
    }

    #[test]
    fn a_blank_first_line_where_the_header_belongs_is_refused() {
        let dialect = CsvDialect { delimiter: b',', quote: Some(b'"'), escape: None };
        for columns in [1, 2] {
            let e = count_columns(b"\nid,v\n1,a\n", dialect, columns, 1 << 20).unwrap_err();
            assert!(e.message.contains("line 1") && e.message.contains("header"), "{}", e.message);
        }
    }

    #[test]
    fn backslash_escapes_keep_quotes_open() {
        let dialect = CsvDialect { delimiter: b',', quote: Some(b'"'), escape: Some(b'\\') };
        assert_eq!(count_with(b"id,v\n1,\"a\\\"\nb\"\n", dialect, 1 << 20).unwrap().0, 1);
    }

    #[test]
    fn hostile_input_names_its_line() {
        let e = count(b"id,v\n1,a\n2,\"b\n3,c\n").unwrap_err();
        assert_eq!(e.code, "unterminated_quote");
        assert!(e.message.contains("line 3"), "{}", e.message);
        let e = count(b"id,v\n1,a\n2,b\xff\n").unwrap_err();
        assert_eq!(e.code, "invalid_utf8");
        assert!(e.message.contains("line 3"), "{}", e.message);
        let e = count(b"id,v\n1,a\x00\n").unwrap_err();
        assert_eq!(e.code, "nul_byte");
        assert!(e.message.contains("line 2"), "{}", e.message);
        let e = count(b"id,v\n1,a\n2,b\r\n").unwrap_err();
        assert_eq!(e.code, "mixed_line_endings");
        assert!(e.message.contains("line 3"), "{}", e.message);
        let e = count(b"id,v\n1,\xc3").unwrap_err();
        assert_eq!(e.code, "invalid_utf8");
    }

    #[test]
    fn a_record_past_the_limit_is_refused_with_its_line() {
        let dialect = CsvDialect { delimiter: b',', quote: Some(b'"'), escape: None };
        let mut input = b"id,v\n7,a\n9,".to_vec();
        input.extend(std::iter::repeat_n(b'x', 100));
        input.extend(b"\n8,b\n");
        let e = count_with(&input, dialect, 50).unwrap_err();
        assert_eq!(e.code, "line_too_long");
        assert!(e.message.contains("line 3") && e.message.contains("50 bytes"), "{}", e.message);
        assert_eq!(count_with(&input, dialect, 200).unwrap(), (3, 102));
    }
}
