//! PostgreSQL's representations of values: type OIDs for SQL types, Arrow batches encoded
//! as DataRow fields (text or binary), COPY text/CSV lines, and binary parameters decoded.

use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, IntervalUnit, TimeUnit};
use bytes::{BufMut, Bytes, BytesMut};
use pgwire::api::Type;
use pgwire::api::results::FieldFormat;
use pgwire::messages::data::DataRow;

use duckstore_plugin_sdk::sql::SqlType;

use crate::pg::commands::CopyOptions;
use crate::pg::datetime::{Moment, Zone, write_time};

/// The PostgreSQL type clients are told about.
pub fn pg_type(ty: &SqlType) -> Type {
    match ty {
        SqlType::Bool => Type::BOOL,
        SqlType::Int2 => Type::INT2,
        SqlType::Int4 => Type::INT4,
        SqlType::Int8 => Type::INT8,
        SqlType::Float4 => Type::FLOAT4,
        SqlType::Float8 => Type::FLOAT8,
        SqlType::Numeric { .. } => Type::NUMERIC,
        // DuckDB's VARCHAR is unbounded: PostgreSQL's text (and what its expressions yield).
        SqlType::Text => Type::TEXT,
        SqlType::Bytea => Type::BYTEA,
        SqlType::Date => Type::DATE,
        SqlType::Time => Type::TIME,
        SqlType::Timestamp => Type::TIMESTAMP,
        SqlType::TimestampTz => Type::TIMESTAMPTZ,
        SqlType::Interval => Type::INTERVAL,
        SqlType::Uuid => Type::UUID,
        SqlType::Json => Type::JSON,
        SqlType::Unknown => Type::UNKNOWN,
        SqlType::Oid => Type::OID,
        SqlType::Int2Vector => Type::INT2_VECTOR,
        SqlType::OidVector => Type::OID_VECTOR,
        SqlType::Array(inner) => match pg_type(inner) {
            Type::BOOL => Type::BOOL_ARRAY,
            Type::INT2 => Type::INT2_ARRAY,
            Type::INT4 => Type::INT4_ARRAY,
            Type::INT8 => Type::INT8_ARRAY,
            Type::FLOAT4 => Type::FLOAT4_ARRAY,
            Type::FLOAT8 => Type::FLOAT8_ARRAY,
            Type::NUMERIC => Type::NUMERIC_ARRAY,
            Type::DATE => Type::DATE_ARRAY,
            Type::TIMESTAMP => Type::TIMESTAMP_ARRAY,
            Type::TIMESTAMPTZ => Type::TIMESTAMPTZ_ARRAY,
            Type::UUID => Type::UUID_ARRAY,
            Type::OID => Type::OID_ARRAY,
            Type::TEXT => Type::TEXT_ARRAY,
            _ => Type::TEXT_ARRAY,
        },
    }
}

/// `atttypmod` of a type: numeric precision and scale, −1 otherwise.
pub fn type_modifier(ty: &SqlType) -> i32 {
    match ty {
        SqlType::Numeric { precision, scale } => ((i32::from(*precision) << 16) | i32::from(*scale)) + 4,
        _ => -1,
    }
}

/// Appends every row of `batch` as a DataRow, column `i` in binary when `binary(i)`.
pub fn data_rows(
    batch: &RecordBatch,
    types: &[SqlType],
    binary: &dyn Fn(usize) -> bool,
    zone: Option<Zone>,
    out: &mut Vec<DataRow>,
) {
    let columns = batch.columns();
    for row in 0..batch.num_rows() {
        let mut buf = BytesMut::with_capacity(16 * columns.len());
        write_fields(&mut buf, batch, row, types, binary, zone);
        out.push(DataRow::new(buf, columns.len() as i16));
    }
}

/// Every field of one row of `batch` in its binary form, each length-prefixed (−1: NULL),
/// as a binary COPY tuple holds them.
pub fn write_binary_fields(buf: &mut BytesMut, batch: &RecordBatch, row: usize, types: &[SqlType]) {
    write_fields(buf, batch, row, types, &|_| true, None);
}

/// The fields of one row, each length-prefixed (−1: NULL), column `i` binary when `binary(i)`.
fn write_fields(
    buf: &mut BytesMut,
    batch: &RecordBatch,
    row: usize,
    types: &[SqlType],
    binary: &dyn Fn(usize) -> bool,
    zone: Option<Zone>,
) {
    for (i, column) in batch.columns().iter().enumerate() {
        let ty = types.get(i).unwrap_or(&SqlType::Text);
        if column.is_null(row) {
            buf.put_i32(-1);
            continue;
        }
        let at = buf.len();
        buf.put_i32(0);
        if binary(i) {
            write_binary(buf, column, row, ty);
        } else if matches!(ty, SqlType::Int2Vector | SqlType::OidVector) {
            write_vector(buf, column, row);
        } else {
            write_value(buf, column, row, zone);
        }
        let len = (buf.len() - at - 4) as i32;
        buf[at..at + 4].copy_from_slice(&len.to_be_bytes());
    }
}

/// A batch as COPY … TO STDOUT lines, text or CSV, one per row: each goes in a CopyData
/// message of its own, as PostgreSQL sends them (psycopg's `Copy.rows()` reads one row per
/// message).
pub fn copy_lines(batch: &RecordBatch, o: &CopyOptions, zone: Option<Zone>) -> Vec<Bytes> {
    let mut out = BytesMut::with_capacity(batch.num_rows() * 12 * batch.num_columns());
    let mut value = BytesMut::new();
    let mut delimiter = [0; 4];
    let delimiter = o.delimiter.encode_utf8(&mut delimiter).as_bytes();
    // Numbers, dates and booleans never need escaping unless the delimiter or the NULL
    // marker could occur in them: those are written straight out.
    let plain_ok = !(o.delimiter.is_ascii_alphanumeric() || "-+.: ".contains(o.delimiter))
        && (o.null.is_empty() || o.null == "\\N");
    let plain: Vec<bool> = batch.columns().iter().map(|c| plain_ok && never_escaped(c.data_type())).collect();
    let mut ends = Vec::with_capacity(batch.num_rows());
    for row in 0..batch.num_rows() {
        for (i, column) in batch.columns().iter().enumerate() {
            if i > 0 {
                out.put_slice(delimiter);
            }
            if column.is_null(row) {
                out.put_slice(o.null.as_bytes());
            } else if plain[i] {
                write_value(&mut out, column, row, zone);
            } else if let Some(text) = str_value(column, row) {
                copy_field(&mut out, Some(text), o);
            } else {
                value.clear();
                write_value(&mut value, column, row, zone);
                copy_field(&mut out, Some(&String::from_utf8_lossy(&value)), o);
            }
        }
        out.put_u8(b'\n');
        ends.push(out.len());
    }
    let all = out.freeze();
    let starts = std::iter::once(0).chain(ends.iter().copied());
    starts.zip(ends.iter()).map(|(start, &end)| all.slice(start..end)).collect()
}

/// A text column's value, borrowed.
fn str_value(column: &ArrayRef, row: usize) -> Option<&str> {
    Some(match column.data_type() {
        DataType::Utf8 => column.as_string::<i32>().value(row),
        DataType::LargeUtf8 => column.as_string::<i64>().value(row),
        DataType::Utf8View => column.as_string_view().value(row),
        _ => return None,
    })
}

/// Whether the text form of a type is free of quotes, backslashes and line breaks.
fn never_escaped(ty: &DataType) -> bool {
    matches!(
        ty,
        DataType::Boolean
            | DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::UInt64
            | DataType::Float32
            | DataType::Float64
            | DataType::Decimal128(..)
            | DataType::Date32
            | DataType::Time64(_)
            | DataType::Timestamp(..)
    )
}

/// Escapes one value (or NULL) for a COPY text or CSV line.
pub fn copy_field(out: &mut BytesMut, value: Option<&str>, o: &CopyOptions) {
    let Some(v) = value else { return out.put_slice(o.null.as_bytes()) };
    if o.csv {
        // `\.` unquoted would read back as the end of the data.
        if v.is_empty() || v.contains([o.delimiter, '"', '\n', '\r']) || v == o.null || v == "\\." {
            out.put_u8(b'"');
            out.put_slice(v.replace('"', "\"\"").as_bytes());
            out.put_u8(b'"');
        } else {
            out.put_slice(v.as_bytes());
        }
        return;
    }
    if !v.contains(['\\', '\n', '\r', '\t', o.delimiter]) {
        return out.put_slice(v.as_bytes());
    }
    let mut utf8 = [0; 4];
    for c in v.chars() {
        match c {
            '\\' => out.put_slice(b"\\\\"),
            '\n' => out.put_slice(b"\\n"),
            '\r' => out.put_slice(b"\\r"),
            '\t' => out.put_slice(b"\\t"),
            c => {
                if c == o.delimiter {
                    out.put_u8(b'\\');
                }
                out.put_slice(c.encode_utf8(&mut utf8).as_bytes());
            }
        }
    }
}

fn write_display(buf: &mut BytesMut, value: impl std::fmt::Display) {
    // Writing into a BytesMut cannot fail.
    let _ = std::fmt::Write::write_fmt(buf, format_args!("{value}"));
}

fn write_float(buf: &mut BytesMut, v: f64) {
    if v.is_nan() {
        buf.put_slice(b"NaN");
    } else if v.is_infinite() {
        buf.put_slice(if v > 0.0 { b"Infinity" } else { b"-Infinity" });
    } else {
        write_display(buf, v);
    }
}

/// A DECIMAL's unscaled value `v` with `scale` digits after the point (`-0.05`, `12.30`).
fn write_decimal(buf: &mut BytesMut, v: i128, scale: usize) {
    if v < 0 {
        buf.put_u8(b'-');
    }
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(v.unsigned_abs()).as_bytes();
    let whole = digits.len().saturating_sub(scale);
    buf.put_slice(if whole == 0 { b"0" } else { &digits[..whole] });
    if scale > 0 {
        buf.put_u8(b'.');
        buf.put_bytes(b'0', scale.saturating_sub(digits.len()));
        buf.put_slice(&digits[whole..]);
    }
}

/// A timestamp value, whatever its unit.
fn moment(column: &ArrayRef, row: usize, unit: &TimeUnit) -> Moment {
    match unit {
        TimeUnit::Second => Moment::timestamp(column.as_primitive::<TimestampSecondType>().value(row), 1),
        TimeUnit::Millisecond => Moment::timestamp(column.as_primitive::<TimestampMillisecondType>().value(row), 1000),
        TimeUnit::Microsecond => {
            Moment::timestamp(column.as_primitive::<TimestampMicrosecondType>().value(row), 1_000_000)
        }
        TimeUnit::Nanosecond => {
            Moment::timestamp(column.as_primitive::<TimestampNanosecondType>().value(row), 1_000_000_000)
        }
    }
}

fn interval_text(months: i32, days: i32, nanos: i64) -> String {
    let mut parts = Vec::new();
    let (years, months) = (months / 12, months % 12);
    if years != 0 {
        parts.push(format!("{years} year{}", if years.abs() == 1 { "" } else { "s" }));
    }
    if months != 0 {
        parts.push(format!("{months} mon{}", if months.abs() == 1 { "" } else { "s" }));
    }
    if days != 0 {
        parts.push(format!("{days} day{}", if days.abs() == 1 { "" } else { "s" }));
    }
    if nanos != 0 || parts.is_empty() {
        let sign = if nanos < 0 { "-" } else { "" };
        let us = (nanos / 1000).unsigned_abs();
        let (h, m, s, f) = (us / 3_600_000_000, us / 60_000_000 % 60, us / 1_000_000 % 60, us % 1_000_000);
        let frac = if f == 0 { String::new() } else { format!(".{f:06}").trim_end_matches('0').to_owned() };
        parts.push(format!("{sign}{h:02}:{m:02}:{s:02}{frac}"));
    }
    parts.join(" ")
}

/// One value of a result column in PostgreSQL's text form, a timestamp with a time zone
/// in the session's `zone`.
fn write_value(buf: &mut BytesMut, column: &ArrayRef, row: usize, zone: Option<Zone>) {
    match column.data_type() {
        DataType::Timestamp(unit, Some(_)) if zone.is_some() => moment(column, row, unit).write_in_zone(buf, zone),
        _ => write_text(buf, column, row),
    }
}

/// One value in PostgreSQL's text form.
fn text(column: &ArrayRef, row: usize) -> String {
    let mut buf = BytesMut::new();
    write_text(&mut buf, column, row);
    String::from_utf8_lossy(&buf).into_owned()
}

/// Appends one value in PostgreSQL's text form. Scalars are written straight into `buf`:
/// this runs for every value of every result.
pub fn write_text(buf: &mut BytesMut, column: &ArrayRef, row: usize) {
    if let Some(v) = int_value(column, row) {
        return buf.put_slice(itoa::Buffer::new().format(v).as_bytes());
    }
    if let Some(text) = str_value(column, row) {
        return buf.put_slice(text.as_bytes());
    }
    let s: String = match column.data_type() {
        DataType::Boolean => return buf.put_slice(if column.as_boolean().value(row) { b"t" } else { b"f" }),
        DataType::UInt64 => {
            return buf
                .put_slice(itoa::Buffer::new().format(column.as_primitive::<UInt64Type>().value(row)).as_bytes());
        }
        DataType::Decimal128(_, scale @ 0..) => {
            return write_decimal(buf, column.as_primitive::<Decimal128Type>().value(row), *scale as usize);
        }
        DataType::Float32 => return write_float(buf, f64::from(column.as_primitive::<Float32Type>().value(row))),
        DataType::Float64 => return write_float(buf, column.as_primitive::<Float64Type>().value(row)),
        DataType::Binary => format!("\\x{}", hex::encode(column.as_binary::<i32>().value(row))),
        DataType::LargeBinary => format!("\\x{}", hex::encode(column.as_binary::<i64>().value(row))),
        DataType::Date32 => {
            return Moment::date(column.as_primitive::<Date32Type>().value(row)).write_text(buf, false, false);
        }
        DataType::Time64(TimeUnit::Microsecond) => {
            return write_time(buf, column.as_primitive::<Time64MicrosecondType>().value(row));
        }
        DataType::Timestamp(unit, tz) => return moment(column, row, unit).write_text(buf, true, tz.is_some()),
        DataType::Interval(IntervalUnit::MonthDayNano) => {
            let v = column.as_primitive::<IntervalMonthDayNanoType>().value(row);
            interval_text(v.months, v.days, v.nanoseconds)
        }
        DataType::List(_) | DataType::LargeList(_) => {
            let values = match column.data_type() {
                DataType::List(_) => column.as_list::<i32>().value(row),
                _ => column.as_list::<i64>().value(row),
            };
            let items: Vec<String> = (0..values.len())
                .map(|i| {
                    if values.is_null(i) {
                        return "NULL".to_owned();
                    }
                    let t = text(&values, i);
                    let plain = !t.is_empty()
                        && !t.eq_ignore_ascii_case("null")
                        && !t.contains([',', '{', '}', '"', '\\', ' ']);
                    if plain { t } else { format!("\"{}\"", t.replace('\\', "\\\\").replace('"', "\\\"")) }
                })
                .collect();
            format!("{{{}}}", items.join(","))
        }
        _ => arrow_cast::display::array_value_to_string(column, row).unwrap_or_default(),
    };
    buf.put_slice(s.as_bytes());
}

fn int_value(column: &ArrayRef, row: usize) -> Option<i64> {
    Some(match column.data_type() {
        DataType::Int8 => i64::from(column.as_primitive::<Int8Type>().value(row)),
        DataType::Int16 => i64::from(column.as_primitive::<Int16Type>().value(row)),
        DataType::Int32 => i64::from(column.as_primitive::<Int32Type>().value(row)),
        DataType::Int64 => column.as_primitive::<Int64Type>().value(row),
        DataType::UInt8 => i64::from(column.as_primitive::<UInt8Type>().value(row)),
        DataType::UInt16 => i64::from(column.as_primitive::<UInt16Type>().value(row)),
        DataType::UInt32 => i64::from(column.as_primitive::<UInt32Type>().value(row)),
        _ => return None,
    })
}

/// One value in PostgreSQL's binary form; types without one here travel as text bytes.
fn write_binary(buf: &mut BytesMut, column: &ArrayRef, row: usize, ty: &SqlType) {
    match ty {
        SqlType::Bool => buf.put_u8(u8::from(column.as_boolean().value(row))),
        SqlType::Int2 => buf.put_i16(int_value(column, row).unwrap_or_default() as i16),
        SqlType::Int4 => buf.put_i32(int_value(column, row).unwrap_or_default() as i32),
        SqlType::Int8 => buf.put_i64(int_value(column, row).unwrap_or_default()),
        SqlType::Oid => buf.put_u32(int_value(column, row).unwrap_or_default() as u32),
        SqlType::Float4 => buf.put_f32(column.as_primitive::<Float32Type>().value(row)),
        SqlType::Float8 => buf.put_f64(column.as_primitive::<Float64Type>().value(row)),
        SqlType::Bytea => match column.data_type() {
            DataType::LargeBinary => buf.put_slice(column.as_binary::<i64>().value(row)),
            _ => buf.put_slice(column.as_binary::<i32>().value(row)),
        },
        SqlType::Date => buf.put_i32(Moment::date(column.as_primitive::<Date32Type>().value(row)).binary_date()),
        SqlType::Time => buf.put_i64(column.as_primitive::<Time64MicrosecondType>().value(row)),
        SqlType::Timestamp | SqlType::TimestampTz => {
            let moment = match column.data_type() {
                DataType::Timestamp(unit, _) => moment(column, row, unit),
                _ => Moment::timestamp(0, 1),
            };
            buf.put_i64(moment.binary_timestamp());
        }
        SqlType::Interval => {
            let v = column.as_primitive::<IntervalMonthDayNanoType>().value(row);
            buf.put_i64(v.nanoseconds / 1000);
            buf.put_i32(v.days);
            buf.put_i32(v.months);
        }
        SqlType::Uuid => {
            let t = text(column, row);
            buf.put_slice(&uuid::Uuid::parse_str(&t).map(|u| *u.as_bytes()).unwrap_or_default());
        }
        SqlType::Numeric { .. } => write_numeric(buf, &text(column, row)),
        SqlType::Array(inner) => write_binary_array(buf, column, row, inner),
        SqlType::Int2Vector => write_binary_array(buf, column, row, &SqlType::Int2),
        SqlType::OidVector => write_binary_array(buf, column, row, &SqlType::Int4),
        _ => write_text(buf, column, row),
    }
}

/// An `int2vector` or `oidvector` in its text form: the numbers separated by spaces.
fn write_vector(buf: &mut BytesMut, column: &ArrayRef, row: usize) {
    let values = match column.data_type() {
        DataType::List(_) => column.as_list::<i32>().value(row),
        DataType::LargeList(_) => column.as_list::<i64>().value(row),
        _ => return write_text(buf, column, row),
    };
    for i in 0..values.len() {
        if i > 0 {
            buf.put_u8(b' ');
        }
        buf.put_slice(itoa::Buffer::new().format(int_value(&values, i).unwrap_or_default()).as_bytes());
    }
}

/// PostgreSQL's binary array: dimensions (one, or none when empty), whether any element
/// is NULL, the element type, the length and lower bound 1, then each element with its
/// length (−1: NULL). Elements of types sent as `varchar[]` travel as text.
fn write_binary_array(buf: &mut BytesMut, column: &ArrayRef, row: usize, inner: &SqlType) {
    let values = match column.data_type() {
        DataType::List(_) => column.as_list::<i32>().value(row),
        DataType::LargeList(_) => column.as_list::<i64>().value(row),
        _ => return write_text(buf, column, row),
    };
    let as_text = pg_type(&SqlType::Array(Box::new(inner.clone()))) == Type::TEXT_ARRAY;
    let element = if as_text { Type::TEXT } else { pg_type(inner) };
    buf.put_i32(i32::from(!values.is_empty()));
    buf.put_i32(i32::from(values.null_count() > 0));
    buf.put_u32(element.oid());
    if !values.is_empty() {
        buf.put_i32(values.len() as i32);
        buf.put_i32(1);
    }
    for i in 0..values.len() {
        if values.is_null(i) {
            buf.put_i32(-1);
            continue;
        }
        let at = buf.len();
        buf.put_i32(0);
        if as_text {
            write_text(buf, &values, i);
        } else {
            write_binary(buf, &values, i, inner);
        }
        let len = (buf.len() - at - 4) as i32;
        buf[at..at + 4].copy_from_slice(&len.to_be_bytes());
    }
}

/// PostgreSQL's binary numeric: base-10000 digits with a weight, sign and display scale.
fn write_numeric(buf: &mut BytesMut, text: &str) {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (int_part, frac_part) = digits.split_once('.').unwrap_or((digits, ""));
    let int_part = int_part.trim_start_matches('0');
    // Pad both parts to whole groups of four digits.
    let int_padded = format!("{}{int_part}", "0".repeat((4 - int_part.len() % 4) % 4));
    let frac_padded = format!("{frac_part}{}", "0".repeat((4 - frac_part.len() % 4) % 4));
    let mut groups: Vec<i16> = int_padded
        .as_bytes()
        .chunks(4)
        .chain(frac_padded.as_bytes().chunks(4))
        .map(|c| std::str::from_utf8(c).ok().and_then(|s| s.parse().ok()).unwrap_or(0))
        .collect();
    let mut weight = (int_padded.len() / 4) as i16 - 1;
    while groups.first() == Some(&0) {
        groups.remove(0);
        weight -= 1;
    }
    while groups.last() == Some(&0) {
        groups.pop();
    }
    if groups.is_empty() {
        weight = 0;
    }
    buf.put_i16(groups.len() as i16);
    buf.put_i16(weight);
    buf.put_u16(if negative && !groups.is_empty() { 0x4000 } else { 0 });
    buf.put_i16(frac_part.len() as i16);
    for g in groups {
        buf.put_i16(g);
    }
}

/// A binary parameter in the text form DuckDB casts from, by its declared type.
pub fn binary_param(ty: &Type, bytes: &[u8]) -> Option<String> {
    let be = |n: usize| -> Option<[u8; 8]> {
        (bytes.len() == n).then(|| {
            let mut b = [0u8; 8];
            b[8 - n..].copy_from_slice(bytes);
            b
        })
    };
    Some(match *ty {
        Type::INT2 => i16::from_be_bytes(bytes.try_into().ok()?).to_string(),
        Type::INT4 => i32::from_be_bytes(bytes.try_into().ok()?).to_string(),
        Type::OID => u32::from_be_bytes(bytes.try_into().ok()?).to_string(),
        Type::TIME => {
            let mut buf = BytesMut::new();
            write_time(&mut buf, i64::from_be_bytes(be(8)?));
            String::from_utf8(buf.to_vec()).ok()?
        }
        Type::INTERVAL => {
            let micros = i64::from_be_bytes(bytes.get(..8)?.try_into().ok()?);
            let days = i32::from_be_bytes(bytes.get(8..12)?.try_into().ok()?);
            let months = i32::from_be_bytes(bytes.get(12..16)?.try_into().ok()?);
            format!("{months} months {days} days {micros} microseconds")
        }
        Type::INT8 => i64::from_be_bytes(be(8)?).to_string(),
        Type::FLOAT4 => f32::from_be_bytes(bytes.try_into().ok()?).to_string(),
        Type::FLOAT8 => f64::from_be_bytes(be(8)?).to_string(),
        Type::BOOL => (bytes.first()? != &0).to_string(),
        Type::DATE => Moment::from_binary_date(i32::from_be_bytes(bytes.try_into().ok()?)).duckdb_text(false, false),
        Type::TIMESTAMP | Type::TIMESTAMPTZ => {
            Moment::from_binary_timestamp(i64::from_be_bytes(be(8)?)).duckdb_text(true, *ty == Type::TIMESTAMPTZ)
        }
        Type::UUID => uuid::Uuid::from_slice(bytes).ok()?.to_string(),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::JSON | Type::UNKNOWN => {
            String::from_utf8(bytes.to_vec()).ok()?
        }
        Type::JSONB => String::from_utf8(bytes.get(1..)?.to_vec()).ok()?,
        Type::NUMERIC => read_numeric(bytes)?,
        _ => return read_array(ty, bytes),
    })
}

/// A binary array parameter (one dimension, elements of a type [`binary_param`] reads) as
/// the list text DuckDB casts: `[1, 2, NULL]`, strings quoted.
fn read_array(ty: &Type, bytes: &[u8]) -> Option<String> {
    let element = match ty.kind() {
        postgres_types::Kind::Array(element) => element.clone(),
        _ => return None,
    };
    let int = |at: usize| bytes.get(at..at + 4).map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]));
    let dims = int(0)?;
    if dims == 0 {
        return Some("[]".to_owned());
    }
    if dims != 1 {
        return None;
    }
    let count = usize::try_from(int(12)?).ok()?;
    let mut at = 20;
    let mut items = Vec::with_capacity(count);
    for _ in 0..count {
        let len = int(at)?;
        at += 4;
        if len < 0 {
            items.push("NULL".to_owned());
            continue;
        }
        let value = bytes.get(at..at + len as usize)?;
        at += len as usize;
        let text = if element == Type::BYTEA { return None } else { binary_param(&element, value)? };
        items.push(list_item(&element, &text));
    }
    Some(format!("[{}]", items.join(", ")))
}

/// One element of DuckDB's list text: numbers and booleans as they are, others quoted.
fn list_item(element: &Type, text: &str) -> String {
    match *element {
        Type::INT2 | Type::INT4 | Type::INT8 | Type::OID | Type::FLOAT4 | Type::FLOAT8 | Type::NUMERIC | Type::BOOL => {
            text.to_owned()
        }
        _ => format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'")),
    }
}

/// A text array parameter in PostgreSQL's form (`{1,2,"a b",NULL}`) as DuckDB's list text;
/// `None` for anything else (nested arrays are passed on as they are).
pub fn text_array_param(ty: &Type, text: &str) -> Option<String> {
    let element = match ty.kind() {
        postgres_types::Kind::Array(element) => element.clone(),
        _ => return None,
    };
    let items: Vec<String> = duckstore_plugin_sdk::sql::pg_array_elements(text)?
        .into_iter()
        .map(|item| item.map_or_else(|| "NULL".to_owned(), |s| list_item(&element, &s)))
        .collect();
    Some(format!("[{}]", items.join(", ")))
}

/// PostgreSQL's binary NUMERIC (base-10000 digits, as [`write_numeric`] writes them) as
/// decimal text; `None` when malformed.
fn read_numeric(bytes: &[u8]) -> Option<String> {
    let word = |i: usize| bytes.get(i * 2..i * 2 + 2).map(|b| u16::from_be_bytes([b[0], b[1]]));
    let (ndigits, weight, sign, scale) = (word(0)? as usize, i32::from(word(1)? as i16), word(2)?, word(3)? as usize);
    if sign == 0xC000 {
        return Some("NaN".into());
    }
    let digits: Vec<u16> = (0..ndigits).map(|i| word(4 + i)).collect::<Option<_>>()?;
    if bytes.len() != 8 + 2 * ndigits || !matches!(sign, 0 | 0x4000) || digits.iter().any(|d| *d > 9999) {
        return None;
    }
    // Group `i` is worth 10000^(weight - i).
    let group = |i: i32| usize::try_from(i).ok().and_then(|i| digits.get(i)).copied().unwrap_or(0);
    let mut text = if sign == 0x4000 { "-".to_owned() } else { String::new() };
    let int: String = (0..=weight).map(|i| format!("{:04}", group(i))).collect();
    text.push_str(match int.trim_start_matches('0') {
        "" => "0",
        int => int,
    });
    if scale > 0 {
        let frac: String = (1..).map(|k| format!("{:04}", group(weight + k))).take(scale.div_ceil(4)).collect();
        text.push('.');
        text.push_str(&frac[..scale]);
    }
    Some(text)
}

/// The type a client declared for a parameter, where the engine can use it; `None` for
/// `unknown` (0) and types it has no use for. PostgreSQL's unconstrained NUMERIC becomes
/// DECIMAL(38, 10), DuckDB's widest with room for fractions.
pub fn declared_type(ty: &Type) -> Option<SqlType> {
    Some(match *ty {
        Type::BOOL => SqlType::Bool,
        Type::INT2 => SqlType::Int2,
        Type::INT4 => SqlType::Int4,
        Type::INT8 => SqlType::Int8,
        Type::FLOAT4 => SqlType::Float4,
        Type::FLOAT8 => SqlType::Float8,
        Type::NUMERIC => SqlType::Numeric { precision: 38, scale: 10 },
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => SqlType::Text,
        Type::BYTEA => SqlType::Bytea,
        Type::DATE => SqlType::Date,
        Type::TIME => SqlType::Time,
        Type::TIMESTAMP => SqlType::Timestamp,
        Type::TIMESTAMPTZ => SqlType::TimestampTz,
        Type::INTERVAL => SqlType::Interval,
        Type::UUID => SqlType::Uuid,
        Type::JSON | Type::JSONB => SqlType::Json,
        Type::OID => SqlType::Oid,
        _ => match ty.kind() {
            postgres_types::Kind::Array(element) => SqlType::Array(Box::new(declared_type(element)?)),
            _ => return None,
        },
    })
}

/// The format of column `i` when the client gave `codes` (none = all text, one = all).
pub fn format_of(codes: &[i16], i: usize) -> FieldFormat {
    let code = match codes.len() {
        0 => 0,
        1 => codes[0],
        _ => codes.get(i).copied().unwrap_or(0),
    };
    if code == 1 { FieldFormat::Binary } else { FieldFormat::Text }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric(text: &str) -> Vec<i16> {
        let mut buf = BytesMut::new();
        write_numeric(&mut buf, text);
        buf.chunks(2).map(|c| i16::from_be_bytes([c[0], c[1]])).collect()
    }

    #[test]
    fn numerics_encode_as_base_10000_groups() {
        // ndigits, weight, sign, dscale, digits…
        assert_eq!(numeric("12345.67"), vec![3, 1, 0, 2, 1, 2345, 6700]);
        assert_eq!(numeric("-0.5"), vec![1, -1, 0x4000, 1, 5000]);
        assert_eq!(numeric("0"), vec![0, 0, 0, 0]);
    }

    #[test]
    fn intervals_print_like_postgres() {
        assert_eq!(interval_text(14, 3, 3_723_000_000_000), "1 year 2 mons 3 days 01:02:03");
        assert_eq!(interval_text(0, 0, 0), "00:00:00");
    }

    #[test]
    fn copy_lines_escape_text_and_keep_numbers_unambiguous() {
        use std::sync::Arc;
        let batch = RecordBatch::try_from_iter([
            ("n", Arc::new(arrow_array::Int64Array::from(vec![Some(-1), None, Some(3)])) as ArrayRef),
            ("s", Arc::new(arrow_array::StringArray::from(vec![Some("a\tb\\c"), Some(""), Some("x,\"y\"\n")]))),
        ])
        .unwrap();
        let joined = |lines: Vec<Bytes>| String::from_utf8(lines.concat()).unwrap();
        let text = CopyOptions { binary: false, csv: false, header: false, delimiter: '\t', null: "\\N".into() };
        assert_eq!(joined(copy_lines(&batch, &text, None)), "-1\ta\\tb\\\\c\n\\N\t\n3\tx,\"y\"\\n\n");
        let csv = CopyOptions { binary: false, csv: true, header: false, delimiter: ',', null: String::new() };
        assert_eq!(copy_lines(&batch, &csv, None).len(), 3, "one line per row, a line break inside a value included");
        assert_eq!(joined(copy_lines(&batch, &csv, None)), "-1,a\tb\\c\n,\"\"\n3,\"x,\"\"y\"\"\n\"\n");
        let mut marker = BytesMut::new();
        copy_field(&mut marker, Some("\\."), &csv);
        assert_eq!(marker, "\"\\.\"");
        // A delimiter or NULL marker a number can contain: numbers are escaped/quoted too.
        let dash = CopyOptions { binary: false, csv: true, header: false, delimiter: '-', null: String::new() };
        assert!(joined(copy_lines(&batch, &dash, None)).starts_with("\"-1\"-"));
        let zero = CopyOptions { binary: false, csv: true, header: false, delimiter: ',', null: "3".into() };
        assert!(joined(copy_lines(&batch, &zero, None)).ends_with("\"3\",\"x,\"\"y\"\"\n\"\n"));
    }

    #[test]
    fn decimals_print_like_postgres() {
        let text = |f: &dyn Fn(&mut BytesMut)| {
            let mut buf = BytesMut::new();
            f(&mut buf);
            String::from_utf8(buf.to_vec()).unwrap()
        };
        assert_eq!(text(&|b| write_decimal(b, 1230, 2)), "12.30");
        assert_eq!(text(&|b| write_decimal(b, -5, 2)), "-0.05");
        assert_eq!(text(&|b| write_decimal(b, 0, 2)), "0.00");
        assert_eq!(text(&|b| write_decimal(b, -42, 0)), "-42");
        assert_eq!(text(&|b| write_decimal(b, 5, 3)), "0.005");
        assert_eq!(text(&|b| write_decimal(b, i128::MIN + 1, 38)), "-1.70141183460469231731687303715884105727");
    }

    #[test]
    fn binary_parameters_become_text_duckdb_casts() {
        assert_eq!(binary_param(&Type::INT4, &42i32.to_be_bytes()).unwrap(), "42");
        assert_eq!(binary_param(&Type::DATE, &0i32.to_be_bytes()).unwrap(), "2000-01-01");
        // PostgreSQL's infinities (found sending them: the date arithmetic panicked).
        assert_eq!(binary_param(&Type::DATE, &i32::MAX.to_be_bytes()).unwrap(), "infinity");
        assert_eq!(binary_param(&Type::TIMESTAMP, &i64::MIN.to_be_bytes()).unwrap(), "-infinity");
        assert!(binary_param(&Type::INT4, &[1, 2]).is_none());
        let mut interval = Vec::new();
        interval.extend(7_384_000_000i64.to_be_bytes());
        interval.extend(1i32.to_be_bytes());
        interval.extend(2i32.to_be_bytes());
        assert_eq!(binary_param(&Type::INTERVAL, &interval).unwrap(), "2 months 1 days 7384000000 microseconds");
        // One dimension, a NULL among them, int4 elements, 2 of them from 1: 7 and NULL.
        let mut array = Vec::new();
        for v in [1i32, 1, 23, 2, 1, 4, 7, -1] {
            array.extend(v.to_be_bytes());
        }
        assert_eq!(binary_param(&Type::INT4_ARRAY, &array).unwrap(), "[7, NULL]");
        assert_eq!(
            text_array_param(&Type::TEXT_ARRAY, r#"{a,"b c",NULL,"it's"}"#).unwrap(),
            r"['a', 'b c', NULL, 'it\'s']"
        );
        assert_eq!(text_array_param(&Type::INT4_ARRAY, "{1, 2}").unwrap(), "[1, 2]");
    }

    #[test]
    fn timestamps_print_like_postgres_and_travel_in_binary_from_2000() {
        let micros = [0, 1_500_000, 1_000_001, 946_684_800_000_000, -1];
        let column: ArrayRef = std::sync::Arc::new(arrow_array::TimestampMicrosecondArray::from(micros.to_vec()));
        let texts: Vec<String> = (0..micros.len()).map(|row| text(&column, row)).collect();
        assert_eq!(
            texts,
            [
                "1970-01-01 00:00:00",
                "1970-01-01 00:00:01.500",
                "1970-01-01 00:00:01.000001",
                "2000-01-01 00:00:00",
                "1969-12-31 23:59:59.999999"
            ]
        );
        let mut buf = BytesMut::new();
        write_binary(&mut buf, &column, 3, &SqlType::Timestamp);
        assert_eq!(&buf[..], &0i64.to_be_bytes());
    }

    #[test]
    fn binary_numerics_read_back_as_written() {
        for text in ["12345.67", "-0.5", "0", "0.0001", "0.00001", "100000000", "-9999.9999", "1.10"] {
            let mut buf = BytesMut::new();
            write_numeric(&mut buf, text);
            assert_eq!(binary_param(&Type::NUMERIC, &buf).as_deref(), Some(text));
        }
        assert!(binary_param(&Type::NUMERIC, &[0, 1, 0, 0, 0, 0, 0, 0]).is_none(), "a digit is missing");
    }
}
