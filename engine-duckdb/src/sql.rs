//! Building SQL from validated inputs.
//!
//! Identifiers are always quoted and literals always escaped, even though names were
//! validated already: validation keeps paths safe, quoting keeps SQL safe, and neither
//! relies on the other. User values never appear in SQL text; they are bound parameters.

use duckstore_plugin_sdk::names::ColumnName;
use duckstore_plugin_sdk::query::{FilterOp, OrderBy, RowSelection, SortOrder, value_text};
use duckstore_plugin_sdk::schema::{Column, ColumnType};
use duckstore_plugin_sdk::{Result, StorageError};

/// The one table inside each table file.
pub const DATA_TABLE: &str = "data";

/// Quotes an SQL identifier.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Quotes a string literal.
pub fn literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// Finds a column by name, case-insensitively as SQL does.
pub fn find_column<'a>(columns: &'a [Column], name: &ColumnName) -> Result<&'a Column> {
    columns.iter().find(|c| c.def.name.as_str().eq_ignore_ascii_case(name.as_str())).ok_or_else(|| {
        StorageError::invalid("unknown_column", format!("column {:?} does not exist in this table", name.as_str()))
    })
}

/// A WHERE clause (empty, or starting with ` WHERE `) and its bound parameters.
pub struct Where {
    pub sql: String,
    pub params: Vec<String>,
    /// The typed literals among `params`, to check with [`check_casts`] before running.
    pub casts: Vec<Cast>,
}

/// A literal that must cast to a type, and what it is (for the error message).
pub struct Cast {
    pub value: String,
    pub ty: ColumnType,
    pub what: String,
}

/// Checks that every literal casts to its type, so a bad value fails the same clear way
/// whether or not the table has rows for DuckDB to evaluate it on.
pub fn check_casts(c: &duckdb::Connection, casts: &[Cast]) -> Result<()> {
    if casts.is_empty() {
        return Ok(());
    }
    let one = |cast: &Cast| c.query_row(&format!("SELECT CAST(? AS {})", cast.ty.sql()), [&cast.value], |_| Ok(()));
    let all = casts.iter().map(|k| format!("CAST(? AS {})", k.ty.sql())).collect::<Vec<_>>().join(", ");
    if c.query_row(&format!("SELECT {all}"), duckdb::params_from_iter(casts.iter().map(|k| &k.value)), |_| Ok(()))
        .is_ok()
    {
        return Ok(());
    }
    for cast in casts {
        if let Err(e) = one(cast) {
            return Err(StorageError::unprocessable(
                "invalid_value",
                format!("{} {:?} is not a valid {}: {e}", cast.what, cast.value, cast.ty),
            ));
        }
    }
    Ok(())
}

pub fn where_clause(selection: &RowSelection, columns: &[Column]) -> Result<Where> {
    let mut conds = Vec::new();
    let mut params = Vec::new();
    let mut casts = Vec::new();
    for f in &selection.filters {
        f.validate()?;
        let col = find_column(columns, &f.column)?;
        let name = ident(col.def.name.as_str());
        let ty = col.def.data_type;
        let mut placeholders = |params: &mut Vec<String>| {
            f.values
                .iter()
                .map(|v| {
                    params.push(value_text(v));
                    casts.push(Cast {
                        value: value_text(v),
                        ty,
                        what: format!("filter value for column {:?}", col.def.name.as_str()),
                    });
                    format!("CAST(? AS {ty})")
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let cond = match f.operator {
            FilterOp::IsNull => format!("{name} IS NULL"),
            FilterOp::IsNotNull => format!("{name} IS NOT NULL"),
            FilterOp::Eq => format!("{name} IN ({})", placeholders(&mut params)),
            FilterOp::Ne => format!("({name} NOT IN ({}) OR {name} IS NULL)", placeholders(&mut params)),
            op => {
                let sym = match op {
                    FilterOp::Gt => ">",
                    FilterOp::Ge => ">=",
                    FilterOp::Lt => "<",
                    _ => "<=",
                };
                format!("{name} {sym} {}", placeholders(&mut params))
            }
        };
        conds.push(cond);
    }
    let ts = ident(ColumnName::TIMESTAMP);
    if let Some(since) = selection.changed_since {
        conds.push(format!("{ts} >= CAST(? AS TIMESTAMP)"));
        params.push(since.naive_utc().to_string());
    }
    if let Some(until) = selection.changed_until {
        conds.push(format!("{ts} < CAST(? AS TIMESTAMP)"));
        params.push(until.naive_utc().to_string());
    }
    let sql = if conds.is_empty() { String::new() } else { format!(" WHERE {}", conds.join(" AND ")) };
    Ok(Where { sql, params, casts })
}

/// An ORDER BY clause (empty, or starting with ` ORDER BY `).
pub fn order_clause(order_by: &[OrderBy], columns: &[Column]) -> Result<String> {
    let parts = order_by
        .iter()
        .map(|o| {
            let col = find_column(columns, &o.column)?;
            let dir = match o.order {
                SortOrder::Asc => "ASC",
                SortOrder::Desc => "DESC",
            };
            Ok(format!("{} {dir}", ident(col.def.name.as_str())))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(if parts.is_empty() { String::new() } else { format!(" ORDER BY {}", parts.join(", ")) })
}

/// A select-list expression that yields a JSON-friendly value: numbers and booleans stay
/// native, everything else is cast to DuckDB's canonical text (exact decimals, ISO dates).
pub fn json_friendly(col: &Column) -> String {
    use ColumnType::*;
    let name = ident(col.def.name.as_str());
    match col.def.data_type {
        Boolean | TinyInt | SmallInt | Integer | BigInt | UTinyInt | USmallInt | UInteger | UBigInt | Real | Double => {
            name
        }
        _ => format!("CAST({name} AS VARCHAR) AS {name}"),
    }
}

/// Column DDL for `CREATE TABLE` / `ADD COLUMN`.
pub fn column_ddl(def: &duckstore_plugin_sdk::schema::ColumnDef) -> String {
    let mut s = format!("{} {}", ident(def.name.as_str()), def.data_type.sql());
    if let Some(d) = &def.default {
        s.push_str(&format!(" DEFAULT CAST({} AS {})", literal(d), def.data_type.sql()));
    }
    if !def.nullable {
        s.push_str(" NOT NULL");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use duckstore_plugin_sdk::query::Filter;
    use duckstore_plugin_sdk::schema::ColumnDef;

    fn cols() -> Vec<Column> {
        vec![Column {
            def: ColumnDef {
                name: ColumnName::new("Amount").unwrap(),
                data_type: ColumnType::Decimal(10, 2),
                nullable: true,
                default: None,
            },
            ordinal_position: 1,
        }]
    }

    #[test]
    fn quoting_neutralises_embedded_quotes() {
        assert_eq!(ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(literal("it's"), "'it''s'");
    }

    #[test]
    fn filters_bind_values_as_parameters_cast_to_the_column_type() {
        let sel = RowSelection {
            filters: vec![Filter {
                column: ColumnName::new("amount").unwrap(),
                operator: FilterOp::Eq,
                values: vec!["1'; DROP TABLE x; --".into(), 2.5.into()],
            }],
            ..Default::default()
        };
        let w = where_clause(&sel, &cols()).unwrap();
        assert_eq!(w.sql, " WHERE \"Amount\" IN (CAST(? AS DECIMAL(10,2)), CAST(? AS DECIMAL(10,2)))");
        assert_eq!(w.params, vec!["1'; DROP TABLE x; --".to_owned(), "2.5".to_owned()]);
    }

    #[test]
    fn unknown_filter_columns_are_rejected() {
        let sel = RowSelection {
            filters: vec![Filter {
                column: ColumnName::new("nope").unwrap(),
                operator: FilterOp::IsNull,
                values: vec![],
            }],
            ..Default::default()
        };
        let err = where_clause(&sel, &cols()).err().unwrap();
        assert_eq!(err.code, "unknown_column");
    }
}
