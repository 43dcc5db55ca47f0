//! Column types and definitions.
//!
//! Types are a closed set parsed from the names users write (DuckDB's, PostgreSQL's and
//! Keboola's base types), so a type string can never smuggle SQL into a DDL statement and
//! every API edge (REST, PG wire, plugins) agrees on what a type means.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::StorageError;
use crate::names::ColumnName;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ColumnType {
    Boolean,
    TinyInt,
    SmallInt,
    Integer,
    BigInt,
    HugeInt,
    UTinyInt,
    USmallInt,
    UInteger,
    UBigInt,
    Real,
    Double,
    /// DECIMAL(width, scale); width 1..=38, scale <= width.
    Decimal(u8, u8),
    Varchar,
    Date,
    Time,
    Timestamp,
    TimestampTz,
    Interval,
    Blob,
    Uuid,
    Json,
}

impl ColumnType {
    /// The canonical DuckDB spelling, safe to splice into DDL.
    pub fn sql(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for ColumnType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ColumnType::*;
        let s = match self {
            Boolean => "BOOLEAN",
            TinyInt => "TINYINT",
            SmallInt => "SMALLINT",
            Integer => "INTEGER",
            BigInt => "BIGINT",
            HugeInt => "HUGEINT",
            UTinyInt => "UTINYINT",
            USmallInt => "USMALLINT",
            UInteger => "UINTEGER",
            UBigInt => "UBIGINT",
            Real => "FLOAT",
            Double => "DOUBLE",
            Decimal(w, s) => return write!(f, "DECIMAL({w},{s})"),
            Varchar => "VARCHAR",
            Date => "DATE",
            Time => "TIME",
            Timestamp => "TIMESTAMP",
            TimestampTz => "TIMESTAMP WITH TIME ZONE",
            Interval => "INTERVAL",
            Blob => "BLOB",
            Uuid => "UUID",
            Json => "JSON",
        };
        f.write_str(s)
    }
}

impl FromStr for ColumnType {
    type Err = StorageError;

    fn from_str(input: &str) -> Result<Self, StorageError> {
        use ColumnType::*;
        let bad =
            |why: &str| StorageError::invalid("invalid_column_type", format!("unsupported column type {input:?}{why}"));
        let norm = input.trim().to_ascii_uppercase();
        let norm = norm.split_whitespace().collect::<Vec<_>>().join(" ");
        let (base, args) = match norm.find('(') {
            Some(open) if norm.ends_with(')') => (norm[..open].trim_end(), Some(&norm[open + 1..norm.len() - 1])),
            Some(_) => return Err(bad("")),
            None => (norm.as_str(), None),
        };
        let parse_args = |args: &str| -> Result<Vec<u8>, StorageError> {
            args.split(',').map(|a| a.trim().parse::<u8>().map_err(|_| bad(": bad type parameters"))).collect()
        };
        let ty = match base {
            "BOOLEAN" | "BOOL" | "LOGICAL" => Boolean,
            "TINYINT" | "INT1" => TinyInt,
            "SMALLINT" | "INT2" | "SHORT" => SmallInt,
            "INTEGER" | "INT" | "INT4" | "SIGNED" => Integer,
            "BIGINT" | "INT8" | "LONG" => BigInt,
            "HUGEINT" | "INT128" => HugeInt,
            "UTINYINT" => UTinyInt,
            "USMALLINT" => USmallInt,
            "UINTEGER" => UInteger,
            "UBIGINT" => UBigInt,
            "FLOAT" | "REAL" | "FLOAT4" => Real,
            "DOUBLE" | "FLOAT8" | "DOUBLE PRECISION" => Double,
            "DECIMAL" | "NUMERIC" => match args.map(parse_args).transpose()?.as_deref() {
                None => Decimal(18, 3),
                Some([w]) => Decimal(*w, 0),
                Some([w, s]) => Decimal(*w, *s),
                Some(_) => return Err(bad(": DECIMAL takes (width, scale)")),
            },
            "VARCHAR" | "STRING" | "TEXT" | "CHAR" | "BPCHAR" | "CHARACTER VARYING" | "CHARACTER" => {
                // Lengths are accepted for compatibility and, as in DuckDB, not enforced.
                if let Some(args) = args {
                    parse_args(args).ok().filter(|a| a.len() == 1).ok_or_else(|| bad(""))?;
                }
                Varchar
            }
            "DATE" => Date,
            "TIME" => Time,
            "TIMESTAMP" | "DATETIME" | "TIMESTAMP WITHOUT TIME ZONE" => Timestamp,
            "TIMESTAMPTZ" | "TIMESTAMP WITH TIME ZONE" => TimestampTz,
            "INTERVAL" => Interval,
            "BLOB" | "BYTEA" | "BINARY" | "VARBINARY" => Blob,
            "UUID" => Uuid,
            "JSON" => Json,
            _ => return Err(bad("")),
        };
        if args.is_some() && !matches!(ty, Decimal(..) | Varchar) {
            return Err(bad(": this type takes no parameters"));
        }
        if let Decimal(w, s) = ty
            && (w == 0 || w > 38 || s > w)
        {
            return Err(bad(": DECIMAL width must be 1..=38 and scale at most the width"));
        }
        Ok(ty)
    }
}

impl Serialize for ColumnType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ColumnType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

impl utoipa::PartialSchema for ColumnType {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some(
                "A DuckDB type name: BOOLEAN, INTEGER, BIGINT, DOUBLE, DECIMAL(w,s), VARCHAR, DATE, TIMESTAMP, \
                 TIMESTAMPTZ, BLOB, UUID, JSON, …; Keboola's STRING/NUMERIC/FLOAT and PostgreSQL aliases are accepted",
            ))
            .examples(["VARCHAR"])
            .into()
    }
}

impl utoipa::ToSchema for ColumnType {}

fn default_true() -> bool {
    true
}

/// A column as a user defines it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ColumnDef {
    #[schema(value_type = String)]
    pub name: ColumnName,
    #[serde(rename = "type")]
    pub data_type: ColumnType,
    #[serde(default = "default_true")]
    pub nullable: bool,
    /// A literal default value, cast to the column type (never an SQL expression).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
}

/// A column as stored: its definition plus its position.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Column {
    #[serde(flatten)]
    pub def: ColumnDef,
    /// 1-based position in the table.
    pub ordinal_position: u32,
}

/// A change to one column; absent fields stay as they are.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ColumnChange {
    /// A new name.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub name: Option<ColumnName>,
    /// A new type; every existing value must cast to it, or nothing changes.
    #[serde(default, rename = "type")]
    pub data_type: Option<ColumnType>,
    #[serde(default)]
    pub nullable: Option<bool>,
    /// A new literal default; `null` removes the default.
    #[serde(default, with = "double_option", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub default: Option<Option<String>>,
}

/// Tells "absent" (keep) from `null` (remove) for [`ColumnChange::default`].
mod double_option {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<Option<String>>, s: S) -> Result<S::Ok, S::Error> {
        v.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
        Option::<String>::deserialize(d).map(Some)
    }
}

/// Checks a column list for a new table: non-empty, user names, no duplicates
/// (case-insensitively, as SQL treats them), primary key columns present.
pub fn validate_columns(columns: &[ColumnDef], primary_key: &[ColumnName]) -> Result<(), StorageError> {
    if columns.is_empty() {
        return Err(StorageError::invalid("no_columns", "a table needs at least one column"));
    }
    check_column_count(columns.len())?;
    let mut seen = std::collections::HashSet::new();
    for c in columns {
        ColumnName::user(c.name.as_str())?;
        if !seen.insert(c.name.as_str().to_ascii_lowercase()) {
            return Err(StorageError::invalid(
                "duplicate_column",
                format!("column {:?} is defined twice", c.name.as_str()),
            ));
        }
    }
    validate_primary_key(columns, primary_key)
}

/// Most columns a table may have. A load buffers every column at once (measured: about
/// 120 KiB each), so much wider tables would exhaust the default memory limit mid-load.
pub const MAX_COLUMNS: usize = 2_000;

/// Refuses a table wider than [`MAX_COLUMNS`].
pub fn check_column_count(count: usize) -> Result<(), StorageError> {
    if count > MAX_COLUMNS {
        return Err(StorageError::invalid(
            "too_many_columns",
            format!("a table may have at most {MAX_COLUMNS} columns; this one would have {count}"),
        ));
    }
    Ok(())
}

/// A primary key must name existing, distinct columns.
pub fn validate_primary_key(columns: &[ColumnDef], primary_key: &[ColumnName]) -> Result<(), StorageError> {
    let mut seen = std::collections::HashSet::new();
    for k in primary_key {
        if !columns.iter().any(|c| c.name.as_str().eq_ignore_ascii_case(k.as_str())) {
            return Err(StorageError::invalid(
                "unknown_column",
                format!("primary key column {:?} is not a column of the table", k.as_str()),
            ));
        }
        if !seen.insert(k.as_str().to_ascii_lowercase()) {
            return Err(StorageError::invalid("duplicate_column", format!("primary key names {:?} twice", k.as_str())));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_aliases_to_canonical_duckdb_types() {
        let cases = [
            ("string", "VARCHAR"),
            ("varchar(255)", "VARCHAR"),
            ("int", "INTEGER"),
            ("Numeric(12, 2)", "DECIMAL(12,2)"),
            ("numeric", "DECIMAL(18,3)"),
            ("timestamp  with time zone", "TIMESTAMP WITH TIME ZONE"),
            ("double precision", "DOUBLE"),
            ("bool", "BOOLEAN"),
        ];
        for (input, want) in cases {
            assert_eq!(input.parse::<ColumnType>().unwrap().to_string(), want, "{input}");
        }
    }

    #[test]
    fn rejects_unknown_types_and_injection() {
        for bad in
            ["VARCHAR); DROP TABLE x; --", "GEOMETRY", "DECIMAL(50,2)", "DECIMAL(5,6)", "INTEGER(3)", "VARCHAR(", ""]
        {
            assert!(bad.parse::<ColumnType>().is_err(), "{bad:?} must be rejected");
        }
    }

    #[test]
    fn column_lists_reject_case_insensitive_duplicates_and_unknown_keys() {
        let col = |n: &str| ColumnDef {
            name: ColumnName::new(n).unwrap(),
            data_type: ColumnType::Integer,
            nullable: true,
            default: None,
        };
        assert!(validate_columns(&[col("id"), col("ID")], &[]).is_err());
        assert!(validate_columns(&[col("id")], &[ColumnName::new("other").unwrap()]).is_err());
        assert!(validate_columns(&[col("id")], &[ColumnName::new("id").unwrap()]).is_ok());
        assert!(validate_columns(&[], &[]).is_err());
    }
}
