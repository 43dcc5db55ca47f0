//! Building batches row by row, converting values to each column's type.

use super::{Batch, Column, ColumnData, ColumnDef, ColumnType, TextData};

/// A value read from the input, before it is converted to its column's type.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(&'a str),
}

enum Values {
    Boolean(Vec<u8>),
    Int64(Vec<i64>),
    Float64(Vec<f64>),
    Text { offsets: Vec<i32>, bytes: Vec<u8> },
    Date(Vec<i32>),
    Timestamp(Vec<i64>),
}

struct ColumnBuilder {
    def: ColumnDef,
    values: Values,
    validity: Vec<u8>,
    len: usize,
    nulls: usize,
}

/// Collects rows for a fixed list of columns and hands them over as a [`Batch`].
///
/// Each row is written with [`set`](Self::set) for the columns it has (the others are
/// null) and closed with [`end_row`](Self::end_row).
pub struct BatchBuilder {
    columns: Vec<ColumnBuilder>,
    filled: Vec<bool>,
    rows: u32,
}

impl BatchBuilder {
    pub fn new(columns: &[ColumnDef]) -> Self {
        let mut builder = BatchBuilder { columns: Vec::new(), filled: vec![false; columns.len()], rows: 0 };
        builder.columns = columns.iter().map(|def| ColumnBuilder::new(def.clone())).collect();
        builder
    }

    pub fn rows(&self) -> u32 {
        self.rows
    }

    /// Sets column `index` of the current row, converting `value` to the column's type.
    /// The error says which value did not fit; it is meant for the user.
    pub fn set(&mut self, index: usize, value: Value<'_>) -> Result<(), String> {
        if std::mem::replace(&mut self.filled[index], true) {
            return Err(format!("column {:?} is given twice", self.columns[index].def.name));
        }
        self.columns[index].push(value)
    }

    /// Closes the current row: columns not set are null.
    pub fn end_row(&mut self) {
        for (column, filled) in self.columns.iter_mut().zip(self.filled.iter_mut()) {
            if !std::mem::replace(filled, false) {
                column.push_null();
            }
        }
        self.rows += 1;
    }

    /// Drops the values set for a row that will not be ended.
    pub fn abandon_row(&mut self) {
        for (column, filled) in self.columns.iter_mut().zip(self.filled.iter_mut()) {
            if std::mem::replace(filled, false) {
                column.pop();
            }
        }
    }

    /// The rows so far as a batch; the builder starts over, empty.
    pub fn finish(&mut self) -> Batch {
        let rows = std::mem::take(&mut self.rows);
        Batch { rows, columns: self.columns.iter_mut().map(ColumnBuilder::finish).collect() }
    }
}

fn set_bit(bits: &mut Vec<u8>, index: usize, on: bool) {
    if index / 8 >= bits.len() {
        bits.push(0);
    }
    if on {
        bits[index / 8] |= 1 << (index % 8);
    } else {
        bits[index / 8] &= !(1 << (index % 8));
    }
}

impl ColumnBuilder {
    fn new(def: ColumnDef) -> Self {
        let values = match def.type_ {
            ColumnType::Boolean => Values::Boolean(Vec::new()),
            ColumnType::Int64 => Values::Int64(Vec::new()),
            ColumnType::Float64 => Values::Float64(Vec::new()),
            ColumnType::Text => Values::Text { offsets: vec![0], bytes: Vec::new() },
            ColumnType::Date => Values::Date(Vec::new()),
            ColumnType::Timestamp => Values::Timestamp(Vec::new()),
        };
        ColumnBuilder { def, values, validity: Vec::new(), len: 0, nulls: 0 }
    }

    fn push(&mut self, value: Value<'_>) -> Result<(), String> {
        let wrong = || format!("{value:?} does not fit column {:?} of type {:?}", self.def.name, self.def.type_);
        let index = self.len;
        match (&mut self.values, value) {
            (_, Value::Null) => {
                self.push_null();
                return Ok(());
            }
            (Values::Boolean(bits), v) => {
                let b = match v {
                    Value::Bool(b) => b,
                    Value::Text(t) if t.eq_ignore_ascii_case("true") => true,
                    Value::Text(t) if t.eq_ignore_ascii_case("false") => false,
                    Value::Int(0) => false,
                    Value::Int(1) => true,
                    _ => return Err(wrong()),
                };
                set_bit(bits, index, b);
            }
            (Values::Int64(v), x) => v.push(match x {
                Value::Int(i) => i,
                Value::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => f as i64,
                Value::Text(t) => t.trim().parse().map_err(|_| wrong())?,
                _ => return Err(wrong()),
            }),
            (Values::Float64(v), x) => v.push(match x {
                Value::Int(i) => i as f64,
                Value::Float(f) => f,
                Value::Text(t) => t.trim().parse().map_err(|_| wrong())?,
                _ => return Err(wrong()),
            }),
            (Values::Text { offsets, bytes }, x) => {
                match x {
                    Value::Text(t) => bytes.extend_from_slice(t.as_bytes()),
                    Value::Bool(b) => bytes.extend_from_slice(if b { b"true" } else { b"false" }),
                    Value::Int(i) => bytes.extend_from_slice(i.to_string().as_bytes()),
                    Value::Float(f) => bytes.extend_from_slice(f.to_string().as_bytes()),
                    Value::Null => unreachable!("nulls are pushed above"),
                }
                offsets.push(i32::try_from(bytes.len()).map_err(|_| "a batch holds at most 2 GiB of text".to_owned())?);
            }
            (Values::Date(v), x) => v.push(match x {
                Value::Text(t) => parse_date(t.trim()).ok_or_else(wrong)?,
                Value::Int(days) => i32::try_from(days).map_err(|_| wrong())?,
                _ => return Err(wrong()),
            }),
            (Values::Timestamp(v), x) => v.push(match x {
                Value::Text(t) => parse_timestamp(t.trim()).ok_or_else(wrong)?,
                Value::Int(micros) => micros,
                _ => return Err(wrong()),
            }),
        }
        set_bit(&mut self.validity, index, true);
        self.len += 1;
        Ok(())
    }

    fn push_null(&mut self) {
        let index = self.len;
        match &mut self.values {
            Values::Boolean(bits) => set_bit(bits, index, false),
            Values::Int64(v) | Values::Timestamp(v) => v.push(0),
            Values::Float64(v) => v.push(0.0),
            Values::Text { offsets, .. } => offsets.push(*offsets.last().expect("offsets start with 0")),
            Values::Date(v) => v.push(0),
        }
        set_bit(&mut self.validity, index, false);
        self.len += 1;
        self.nulls += 1;
    }

    /// Removes the last value (of a row that is abandoned).
    fn pop(&mut self) {
        self.len -= 1;
        match &mut self.values {
            Values::Boolean(_) => {}
            Values::Int64(v) | Values::Timestamp(v) => drop(v.pop()),
            Values::Float64(v) => drop(v.pop()),
            Values::Text { offsets, bytes } => {
                offsets.pop();
                bytes.truncate(*offsets.last().expect("offsets start with 0") as usize);
            }
            Values::Date(v) => drop(v.pop()),
        }
        if self.validity.get(self.len / 8).is_some_and(|b| b & (1 << (self.len % 8)) == 0) {
            self.nulls -= 1;
        }
    }

    fn finish(&mut self) -> Column {
        let data = match &mut self.values {
            Values::Boolean(bits) => ColumnData::Boolean(std::mem::take(bits)),
            Values::Int64(v) => ColumnData::Int64(std::mem::take(v)),
            Values::Float64(v) => ColumnData::Float64(std::mem::take(v)),
            Values::Text { offsets, bytes } => ColumnData::Text(TextData {
                offsets: std::mem::replace(offsets, vec![0]),
                bytes: std::mem::take(bytes),
            }),
            Values::Date(v) => ColumnData::Date(std::mem::take(v)),
            Values::Timestamp(v) => ColumnData::Timestamp(std::mem::take(v)),
        };
        let validity = std::mem::take(&mut self.validity);
        let validity = (std::mem::take(&mut self.nulls) > 0).then_some(validity);
        self.len = 0;
        Column { name: self.def.name.clone(), data, validity }
    }
}

/// `YYYY-MM-DD` as days since 1970-01-01.
fn parse_date(text: &str) -> Option<i32> {
    let b = text.as_bytes();
    let (year, month, day) = if b.len() == 10 && b[4] == b'-' && b[7] == b'-' {
        // The usual layout, read in place: this runs once per value of a large import.
        (digits(&b[..4])? as i32, digits(&b[5..7])?, digits(&b[8..])?)
    } else {
        let mut parts = text.splitn(3, '-');
        (parts.next()?.parse().ok()?, parts.next()?.parse().ok()?, parts.next()?.parse().ok()?)
    };
    let days_in_month = [31, if is_leap(year) { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month[month as usize - 1] {
        return None;
    }
    Some(days_from_civil(year, month, day))
}

/// The number written by ASCII digits only (no sign, no spaces).
fn digits(text: &[u8]) -> Option<u32> {
    let digit = |b: u8| b.is_ascii_digit().then(|| (b - b'0') as u32);
    text.iter().try_fold(0u32, |n, &b| n.checked_mul(10)?.checked_add(digit(b)?))
}

fn is_leap(year: i32) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

/// Howard Hinnant's days-from-civil algorithm.
fn days_from_civil(year: i32, month: u32, day: u32) -> i32 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = month as i32;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i32 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM-DD[ T]HH:MM[:SS[.ffffff]][Z|±HH:MM]` as microseconds since the epoch (UTC).
fn parse_timestamp(text: &str) -> Option<i64> {
    if text.len() == 10 {
        return parse_date(text).map(|d| d as i64 * 86_400_000_000);
    }
    let (date, rest) = (text.get(..10)?, text.get(11..)?);
    if !matches!(text.as_bytes()[10], b'T' | b't' | b' ') {
        return None;
    }
    let days = parse_date(date)? as i64;
    let (clock, offset_secs) = match rest.bytes().position(|b| matches!(b, b'Z' | b'z' | b'+' | b'-')) {
        None => (rest, 0),
        Some(at) => {
            let zone = &rest[at..];
            let offset = if zone.eq_ignore_ascii_case("z") {
                0
            } else {
                let sign = if zone.starts_with('-') { -1 } else { 1 };
                let digits = zone[1..].replace(':', "");
                if digits.len() != 4 {
                    return None;
                }
                let h: i64 = digits[..2].parse().ok()?;
                let m: i64 = digits[2..].parse().ok()?;
                sign * (h * 3600 + m * 60)
            };
            (&rest[..at], offset)
        }
    };
    let c = clock.as_bytes();
    let (h, m, seconds) = if c.len() >= 8 && c[2] == b':' && c[5] == b':' {
        (digits(&c[..2])? as i64, digits(&c[3..5])? as i64, Some(&clock[6..]))
    } else {
        let mut fields = clock.splitn(3, ':');
        (fields.next()?.parse().ok()?, fields.next()?.parse().ok()?, fields.next())
    };
    let (s, micros) = match seconds {
        None => (0, 0),
        Some(sec) => match sec.split_once('.') {
            None => (digits(sec.as_bytes())? as i64, 0),
            Some((whole, frac)) if !frac.is_empty() && frac.len() <= 9 && frac.bytes().all(|b| b.is_ascii_digit()) => {
                let padded = format!("{frac:0<6}");
                (digits(whole.as_bytes())? as i64, padded[..6].parse::<i64>().ok()?)
            }
            Some(_) => return None,
        },
    };
    if h > 23 || m > 59 || s > 60 {
        return None;
    }
    Some((days * 86_400 + h * 3600 + m * 60 + s - offset_secs) * 1_000_000 + micros)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_timestamps_parse_to_arrow_units() {
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("2000-03-01"), Some(11_017));
        assert_eq!(parse_date("2023-02-29"), None);
        assert_eq!(parse_timestamp("1970-01-01T00:00:01Z"), Some(1_000_000));
        assert_eq!(parse_timestamp("1970-01-01 01:00:00+01:00"), Some(0));
        assert_eq!(parse_timestamp("1970-01-01T00:00:00.5"), Some(500_000));
        assert_eq!(parse_timestamp("1970-01-01X00:00:00"), None);
        assert_eq!(parse_date("2024-3-1"), parse_date("2024-03-01"), "unpadded fields still parse");
        assert_eq!(parse_timestamp("1970-01-01 1:02"), Some(3_720_000_000));
        assert_eq!(parse_timestamp("1970-01-01 00:00:-5"), None, "no signs inside the clock");
        assert_eq!(parse_timestamp("1970-01-01 00:00:99999999999"), None, "overflow is not a value");
    }
}
