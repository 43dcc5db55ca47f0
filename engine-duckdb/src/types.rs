//! Mapping DuckDB types to the engine's interfaces: table column types (what storage can
//! hold) and SQL types (what PostgreSQL clients are told).

use duckdb::core::{LogicalTypeHandle, LogicalTypeId};
use duckdb::ffi;

use duckstore_plugin_sdk::schema::ColumnType;
use duckstore_plugin_sdk::sql::SqlType;

use crate::raw::TypeInfo;

/// The DuckDB type a table column is stored as.
pub(crate) fn logical_type(ty: ColumnType) -> LogicalTypeHandle {
    use ColumnType::*;
    let id = match ty {
        Decimal(w, s) => return LogicalTypeHandle::decimal(w, s),
        Json => {
            let mut t = LogicalTypeHandle::from(LogicalTypeId::Varchar);
            t.set_alias("JSON");
            return t;
        }
        Boolean => LogicalTypeId::Boolean,
        TinyInt => LogicalTypeId::Tinyint,
        SmallInt => LogicalTypeId::Smallint,
        Integer => LogicalTypeId::Integer,
        BigInt => LogicalTypeId::Bigint,
        HugeInt => LogicalTypeId::Hugeint,
        UTinyInt => LogicalTypeId::UTinyint,
        USmallInt => LogicalTypeId::USmallint,
        UInteger => LogicalTypeId::UInteger,
        UBigInt => LogicalTypeId::UBigint,
        Real => LogicalTypeId::Float,
        Double => LogicalTypeId::Double,
        Varchar => LogicalTypeId::Varchar,
        Date => LogicalTypeId::Date,
        Time => LogicalTypeId::Time,
        Timestamp => LogicalTypeId::Timestamp,
        TimestampTz => LogicalTypeId::TimestampTZ,
        Interval => LogicalTypeId::Interval,
        Blob => LogicalTypeId::Blob,
        Uuid => LogicalTypeId::Uuid,
    };
    LogicalTypeHandle::from(id)
}

/// The table column type a DuckDB type is, if tables can hold it.
pub(crate) fn column_type(info: &TypeInfo) -> Option<ColumnType> {
    use ColumnType::*;
    Some(match info {
        TypeInfo::Decimal { width, scale } => Decimal(*width, *scale),
        TypeInfo::Alias(name, ffi::DUCKDB_TYPE_DUCKDB_TYPE_VARCHAR) if name.eq_ignore_ascii_case("json") => Json,
        TypeInfo::Known(id) | TypeInfo::Alias(_, id) => match *id {
            ffi::DUCKDB_TYPE_DUCKDB_TYPE_BOOLEAN => Boolean,
            ffi::DUCKDB_TYPE_DUCKDB_TYPE_TINYINT => TinyInt,
            ffi::DUCKDB_TYPE_DUCKDB_TYPE_SMALLINT => SmallInt,
            ffi::DUCKDB_TYPE_DUCKDB_TYPE_INTEGER => Integer,
            ffi::DUCKDB_TYPE_DUCKDB_TYPE_BIGINT => BigInt,
            ffi::DUCKDB_TYPE_DUCKDB_TYPE_HUGEINT => HugeInt,
            ffi::DUCKDB_TYPE_DUCKDB_TYPE_UTINYINT => UTinyInt,
            ffi::DUCKDB_TYPE_DUCKDB_TYPE_USMALLINT => USmallInt,
            ffi::DUCKDB_TYPE_DUCKDB_TYPE_UINTEGER => UInteger,
            ffi::DUCKDB_TYPE_DUCKDB_TYPE_UBIGINT => UBigInt,
            ffi::DUCKDB_TYPE_DUCKDB_TYPE_FLOAT => Real,
            ffi::DUCKDB_TYPE_DUCKDB_TYPE_DOUBLE => Double,
            ffi::DUCKDB_TYPE_DUCKDB_TYPE_VARCHAR => Varchar,
            ffi::DUCKDB_TYPE_DUCKDB_TYPE_DATE => Date,
            ffi::DUCKDB_TYPE_DUCKDB_TYPE_TIME => Time,
            ffi::DUCKDB_TYPE_DUCKDB_TYPE_TIMESTAMP => Timestamp,
            ffi::DUCKDB_TYPE_DUCKDB_TYPE_TIMESTAMP_TZ => TimestampTz,
            ffi::DUCKDB_TYPE_DUCKDB_TYPE_INTERVAL => Interval,
            ffi::DUCKDB_TYPE_DUCKDB_TYPE_BLOB => Blob,
            ffi::DUCKDB_TYPE_DUCKDB_TYPE_UUID => Uuid,
            _ => return None,
        },
        TypeInfo::List(_) | TypeInfo::Unknown => return None,
    })
}

/// A readable name of a DuckDB type, for messages.
pub(crate) fn type_name(info: &TypeInfo) -> String {
    match info {
        TypeInfo::Decimal { width, scale } => format!("DECIMAL({width},{scale})"),
        TypeInfo::Alias(name, _) => name.to_uppercase(),
        TypeInfo::List(child) => format!("{}[]", type_name(child)),
        TypeInfo::Unknown => "unknown".to_owned(),
        TypeInfo::Known(id) => match column_type(info) {
            Some(t) => t.to_string(),
            None => format!("a DuckDB type (id {id})"),
        },
    }
}

/// What PostgreSQL clients are told a DuckDB type is; types PostgreSQL lacks travel as text.
pub(crate) fn sql_type(info: &TypeInfo) -> SqlType {
    match info {
        TypeInfo::Unknown => SqlType::Unknown,
        TypeInfo::List(child) => SqlType::Array(Box::new(sql_type(child))),
        TypeInfo::Decimal { width, scale } => SqlType::Numeric { precision: *width, scale: *scale },
        TypeInfo::Alias(name, _) if name.eq_ignore_ascii_case("json") => SqlType::Json,
        TypeInfo::Known(id) | TypeInfo::Alias(_, id) => match *id {
            ffi::DUCKDB_TYPE_DUCKDB_TYPE_BOOLEAN => SqlType::Bool,
            ffi::DUCKDB_TYPE_DUCKDB_TYPE_TINYINT
            | ffi::DUCKDB_TYPE_DUCKDB_TYPE_SMALLINT
            | ffi::DUCKDB_TYPE_DUCKDB_TYPE_UTINYINT => SqlType::Int2,
            ffi::DUCKDB_TYPE_DUCKDB_TYPE_INTEGER | ffi::DUCKDB_TYPE_DUCKDB_TYPE_USMALLINT => SqlType::Int4,
            ffi::DUCKDB_TYPE_DUCKDB_TYPE_BIGINT => SqlType::Int8,
            ffi::DUCKDB_TYPE_DUCKDB_TYPE_UINTEGER => SqlType::Oid,
            ffi::DUCKDB_TYPE_DUCKDB_TYPE_UBIGINT
            | ffi::DUCKDB_TYPE_DUCKDB_TYPE_HUGEINT
            | ffi::DUCKDB_TYPE_DUCKDB_TYPE_UHUGEINT => SqlType::Numeric { precision: 38, scale: 0 },
            ffi::DUCKDB_TYPE_DUCKDB_TYPE_FLOAT => SqlType::Float4,
            ffi::DUCKDB_TYPE_DUCKDB_TYPE_DOUBLE => SqlType::Float8,
            ffi::DUCKDB_TYPE_DUCKDB_TYPE_BLOB => SqlType::Bytea,
            ffi::DUCKDB_TYPE_DUCKDB_TYPE_DATE => SqlType::Date,
            ffi::DUCKDB_TYPE_DUCKDB_TYPE_TIME => SqlType::Time,
            ffi::DUCKDB_TYPE_DUCKDB_TYPE_TIMESTAMP
            | ffi::DUCKDB_TYPE_DUCKDB_TYPE_TIMESTAMP_S
            | ffi::DUCKDB_TYPE_DUCKDB_TYPE_TIMESTAMP_MS
            | ffi::DUCKDB_TYPE_DUCKDB_TYPE_TIMESTAMP_NS => SqlType::Timestamp,
            ffi::DUCKDB_TYPE_DUCKDB_TYPE_TIMESTAMP_TZ => SqlType::TimestampTz,
            ffi::DUCKDB_TYPE_DUCKDB_TYPE_INTERVAL => SqlType::Interval,
            ffi::DUCKDB_TYPE_DUCKDB_TYPE_UUID => SqlType::Uuid,
            _ => SqlType::Text,
        },
    }
}
