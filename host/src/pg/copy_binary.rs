//! PostgreSQL's binary COPY format, both ways (`COPY … (FORMAT binary)`): what ADBC's
//! PostgreSQL driver and asyncpg's `copy_records_to_table` speak.
//!
//! A stream is the signature `PGCOPY\n\xff\r\n\0`, a flags word and a header extension,
//! then one tuple per row (a 16-bit field count, then each field as a 32-bit length, −1
//! for NULL, and the value in its binary form), then a field count of −1.

use arrow_array::RecordBatch;
use bytes::{BufMut, Bytes, BytesMut};

use duckstore_plugin_sdk::sql::SqlType;

use crate::pg::encode::{binary_param, pg_type, write_binary_fields};

const SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";

/// The stream's start: signature, no flags, no header extension.
pub fn header() -> Bytes {
    let mut buf = BytesMut::with_capacity(19);
    buf.put_slice(SIGNATURE);
    buf.put_i32(0);
    buf.put_i32(0);
    buf.freeze()
}

/// The stream's end.
/// `data`, preceded by `header` if it has not been sent yet.
pub fn after(header: &mut Option<Bytes>, data: Bytes) -> Bytes {
    match header.take() {
        Some(h) => [h, data].concat().into(),
        None => data,
    }
}

pub fn trailer() -> Bytes {
    Bytes::from_static(&[0xff, 0xff])
}

/// Each row of `batch` as one binary tuple.
pub fn tuples(batch: &RecordBatch, types: &[SqlType]) -> Vec<Bytes> {
    (0..batch.num_rows())
        .map(|row| {
            let mut buf = BytesMut::with_capacity(2 + 12 * batch.num_columns());
            buf.put_i16(batch.num_columns() as i16);
            write_binary_fields(&mut buf, batch, row, types);
            buf.freeze()
        })
        .collect()
}

/// Reads a binary COPY stream into rows of text values (the forms the engine's appender
/// casts: a bytea as `\x` and hex), for a target of the given column types.
pub struct Reader {
    types: Vec<SqlType>,
    pending: Vec<u8>,
    header_read: bool,
    ended: bool,
}

impl Reader {
    pub fn new(types: Vec<SqlType>) -> Self {
        Self { types, pending: Vec::new(), header_read: false, ended: false }
    }

    /// Feeds bytes; returns the rows they complete.
    pub fn feed(&mut self, data: &[u8]) -> Result<Vec<Vec<Option<String>>>, String> {
        self.pending.extend_from_slice(data);
        let mut rows = Vec::new();
        let mut at = 0;
        if !self.header_read {
            let Some(end) = self.header_end()? else { return Ok(rows) };
            at = end;
            self.header_read = true;
        }
        while !self.ended {
            match self.tuple(at)? {
                Tuple::Incomplete => break,
                Tuple::End(next) => {
                    at = next;
                    self.ended = true;
                }
                Tuple::Row(row, next) => {
                    rows.push(row);
                    at = next;
                }
            }
        }
        self.pending.drain(..at);
        if self.ended && !self.pending.is_empty() {
            return Err("binary COPY data continues after its end marker".into());
        }
        Ok(rows)
    }

    /// Ends the input. As in PostgreSQL, the end marker may be left out (ADBC does) but the
    /// data must end between rows: a cut row fails the COPY.
    pub fn finish(&mut self) -> Result<Vec<Vec<Option<String>>>, String> {
        if !self.header_read {
            return Err("binary COPY data ended before its header".into());
        }
        if !self.ended && !self.pending.is_empty() {
            return Err("binary COPY data ended in the middle of a row".into());
        }
        Ok(Vec::new())
    }

    fn header_end(&self) -> Result<Option<usize>, String> {
        let p = &self.pending;
        if p.len() < SIGNATURE.len() + 8 {
            return if SIGNATURE.starts_with(&p[..p.len().min(SIGNATURE.len())]) {
                Ok(None)
            } else {
                Err("binary COPY data must start with the PGCOPY signature".into())
            };
        }
        if &p[..SIGNATURE.len()] != SIGNATURE {
            return Err("binary COPY data must start with the PGCOPY signature".into());
        }
        let flags = i32::from_be_bytes(p[11..15].try_into().expect("4 bytes"));
        if flags & (1 << 16) != 0 {
            return Err("binary COPY data with OIDs is not supported".into());
        }
        let extension = usize::try_from(i32::from_be_bytes(p[15..19].try_into().expect("4 bytes")))
            .map_err(|_| "binary COPY header extension length is negative".to_owned())?;
        Ok((p.len() >= 19 + extension).then_some(19 + extension))
    }

    fn tuple(&self, at: usize) -> Result<Tuple, String> {
        let p = &self.pending;
        let Some(count) = p.get(at..at + 2) else { return Ok(Tuple::Incomplete) };
        let count = i16::from_be_bytes([count[0], count[1]]);
        if count == -1 {
            return Ok(Tuple::End(at + 2));
        }
        if count as usize != self.types.len() {
            return Err(format!("a binary COPY row has {count} fields where the table takes {}", self.types.len()));
        }
        let mut next = at + 2;
        let mut row = Vec::with_capacity(self.types.len());
        for ty in &self.types {
            let Some(len) = p.get(next..next + 4) else { return Ok(Tuple::Incomplete) };
            let len = i32::from_be_bytes([len[0], len[1], len[2], len[3]]);
            next += 4;
            if len < 0 {
                row.push(None);
                continue;
            }
            let Some(value) = p.get(next..next + len as usize) else { return Ok(Tuple::Incomplete) };
            next += len as usize;
            row.push(Some(text_of(ty, value)?));
        }
        Ok(Tuple::Row(row, next))
    }
}

enum Tuple {
    Incomplete,
    End(usize),
    Row(Vec<Option<String>>, usize),
}

/// A binary value as the text the appender casts to the column's type.
fn text_of(ty: &SqlType, value: &[u8]) -> Result<String, String> {
    if *ty == SqlType::Bytea {
        return Ok(format!("\\x{}", hex::encode(value)));
    }
    let pg = pg_type(ty);
    binary_param(&pg, value).ok_or_else(|| format!("a binary COPY value of type {} is malformed", pg.name()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_read_across_any_split() {
        let mut stream = header().to_vec();
        stream.extend(2i16.to_be_bytes());
        stream.extend(4i32.to_be_bytes());
        stream.extend(7i32.to_be_bytes());
        stream.extend(3i32.to_be_bytes());
        stream.extend(b"abc");
        stream.extend(2i16.to_be_bytes());
        stream.extend((-1i32).to_be_bytes());
        stream.extend(0i32.to_be_bytes());
        stream.extend(trailer());
        let want = vec![vec![Some("7".to_owned()), Some("abc".to_owned())], vec![None, Some(String::new())]];
        for cut in 0..stream.len() {
            let mut reader = Reader::new(vec![SqlType::Int4, SqlType::Text]);
            let mut rows = reader.feed(&stream[..cut]).unwrap();
            rows.extend(reader.feed(&stream[cut..]).unwrap());
            rows.extend(reader.finish().unwrap());
            assert_eq!(rows, want, "split at {cut}");
        }
        let mut reader = Reader::new(vec![SqlType::Int4]);
        assert!(reader.feed(b"not a copy stream at all").is_err());

        // Without the end marker the rows count, as in PostgreSQL; a cut row or a missing
        // header fails the COPY.
        let unmarked = &stream[..stream.len() - 2];
        let mut reader = Reader::new(vec![SqlType::Int4, SqlType::Text]);
        assert_eq!(reader.feed(unmarked).unwrap(), want);
        assert!(reader.finish().is_ok());
        let mut reader = Reader::new(vec![SqlType::Int4, SqlType::Text]);
        assert_eq!(reader.feed(&stream[..stream.len() - 5]).unwrap().len(), 1);
        assert!(reader.finish().is_err(), "a row cut short");
        assert!(Reader::new(vec![SqlType::Int4]).finish().is_err(), "no header");
    }

    #[test]
    fn the_header_travels_with_the_first_message() {
        let mut header = Some(header());
        let first = after(&mut header, Bytes::from_static(b"row"));
        assert_eq!(&first[..11], SIGNATURE);
        assert!(first.ends_with(b"row"));
        assert_eq!(after(&mut header, Bytes::from_static(b"next")), Bytes::from_static(b"next"));
    }
}
