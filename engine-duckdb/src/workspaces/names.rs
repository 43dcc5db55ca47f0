//! PostgreSQL's names for result columns. DuckDB names an unaliased expression by its
//! text (`count_star()`, `max(id)`, `(1 + 1)`); PostgreSQL by what it is (`count`, `max`,
//! `?column?`), and clients read columns by those names (`row["count"]`, pandas, BI tools).

use serde_json::Value;

use duckstore_plugin_sdk::sql::SqlColumn;

use crate::raw::RawConnection;

/// Renames the columns of SELECT `sql` (DuckDB's dialect) whose expressions have no alias.
/// Best effort: names stay DuckDB's when the statement cannot be read back.
pub(crate) fn postgres_names(conn: &mut RawConnection, sql: &str, columns: &mut [SqlColumn]) {
    // DuckDB names an expression by its text: `1`, `(x + 1)`; a name like a column's stays.
    let plain = |name: &str| {
        !name.starts_with(|c: char| c.is_ascii_digit()) && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    if columns.iter().all(|c| plain(&c.name)) {
        return;
    }
    if let Some(tree) = syntax_tree(conn, sql) {
        rename(&tree, columns);
    }
}

/// [`postgres_names`] from the statement's parse tree.
pub(crate) fn rename(tree: &Value, columns: &mut [SqlColumn]) {
    let Some(items) = tree["statements"][0]["node"]["select_list"].as_array() else { return };
    // A `*` among the items expands to several columns: positions no longer match.
    if items.len() != columns.len() || items.iter().any(|i| i["class"] == "STAR") {
        return;
    }
    for (item, column) in items.iter().zip(columns) {
        if item["alias"].as_str().is_none_or(str::is_empty) {
            column.name = figure(item).map_or_else(|| "?column?".to_owned(), |(name, _)| name);
        }
    }
}

/// DuckDB's parse of `sql`, as JSON (parsing runs nothing; the full name, as a user may
/// define a macro of the same name).
pub(crate) fn syntax_tree(conn: &mut RawConnection, sql: &str) -> Option<Value> {
    serde_json::from_str(&conn.query_text("SELECT system.main.json_serialize_sql(CAST(? AS VARCHAR))", &[sql])?).ok()
}

/// PostgreSQL's name for an expression and how strongly it holds (2: a column or
/// function, 1: a type); `None` for expressions that are `?column?`.
fn figure(item: &Value) -> Option<(String, u8)> {
    let named = |name: &str| Some((name.to_owned(), 2));
    match item["class"].as_str()? {
        "COLUMN_REF" => named(item["column_names"].as_array()?.last()?.as_str()?),
        "FUNCTION" => match item["function_name"].as_str()? {
            "count_star" => named("count"),
            f if f.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => named(f),
            _ => None, // an operator
        },
        "CAST" => match figure(&item["child"]) {
            Some(inner) if inner.1 == 2 => Some(inner),
            _ => Some((type_name(item["cast_type"]["id"].as_str()?), 1)),
        },
        "CASE" => named("case"),
        "OPERATOR" if item["type"] == "OPERATOR_COALESCE" => named("coalesce"),
        "OPERATOR" if item["type"] == "ARRAY_CONSTRUCTOR" => named("array"),
        "SUBQUERY" if item["subquery_type"] == "EXISTS" => named("exists"),
        _ => None,
    }
}

/// PostgreSQL's name for a type a value is cast to.
fn type_name(duckdb: &str) -> String {
    match duckdb {
        "BOOLEAN" => "bool",
        "SMALLINT" => "int2",
        "INTEGER" => "int4",
        "BIGINT" => "int8",
        "FLOAT" => "float4",
        "DOUBLE" => "float8",
        "DECIMAL" => "numeric",
        "VARCHAR" => "text",
        "BLOB" => "bytea",
        other => return other.to_lowercase(),
    }
    .to_owned()
}
