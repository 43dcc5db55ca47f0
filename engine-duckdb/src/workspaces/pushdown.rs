//! Pushdown: a query that reads nothing but one project table runs in the hub, next to the
//! table's file, instead of in the workspace over rows streamed out of the hub.
//!
//! Why: DuckDB hands rows between instances as flat vectors, so an aggregate over a
//! dictionary-compressed column hashes every value in the workspace, where the hub hashes
//! each distinct value once per vector: a GROUP BY over 5 M rows takes 0.13 s bridged and
//! 0.03 s in the hub (docs/benchmarks.md, ADR 0009).
//!
//! The hub may read the host's files, so what runs there is checked first, on DuckDB's own
//! parse tree (`json_serialize_sql`, in the workspace): one SELECT over one bucket table
//! (directly or through subqueries in FROM), built only from columns, constants, parameters,
//! comparisons, boolean logic, CASE, casts to built-in types and a fixed list of functions
//! of their arguments alone, none of them redefined in the workspace. Anything else (a join,
//! CTE, other subquery, table function, window, another function) runs in the workspace as
//! before. The hub runs the same tree with the table reference replaced by the view's
//! columns of the table's file; the text it runs must parse back to exactly that tree, and
//! its result types must equal those the workspace prepared.

use std::sync::Arc;

use serde_json::{Value, json};

use duckstore_plugin_sdk::Result;
use duckstore_plugin_sdk::names::{BucketId, TableName};

use super::database::{WorkspaceDb, is_bucket_schema};
use super::names::syntax_tree;
use crate::bridge::{ScopedTable, StorageScope};
use crate::raw::{Bind, Prepared, QueryResult, RawConnection, TypeInfo};
use crate::sql::ident;
use crate::table_files::OwnedReading;

/// Functions that compute from their arguments alone (no files, settings or state), by
/// DuckDB's name for them (operators included: `+`, `~~` for LIKE).
const FUNCTIONS: &[&str] = &[
    // aggregates
    "count",
    "count_star",
    "sum",
    "avg",
    "mean",
    "min",
    "max",
    "any_value",
    "first",
    "last",
    "bool_and",
    "bool_or",
    "stddev",
    "stddev_samp",
    "stddev_pop",
    "variance",
    "var_samp",
    "var_pop",
    "median",
    "mode",
    "quantile_cont",
    "quantile_disc",
    "approx_count_distinct",
    "string_agg",
    "arg_min",
    "arg_max",
    "product",
    "fsum",
    "count_if",
    // arithmetic, text and dates
    "+",
    "-",
    "*",
    "/",
    "//",
    "%",
    // the divisor guard (workspaces::dialect), defined alike in the hub and in workspaces
    "ds_divisor",
    "abs",
    "round",
    "floor",
    "ceil",
    "ceiling",
    "sign",
    "sqrt",
    "power",
    "ln",
    "log",
    "greatest",
    "least",
    "nullif",
    "trunc",
    "mod",
    "exp",
    "log10",
    "log2",
    "lower",
    "upper",
    "length",
    "trim",
    "ltrim",
    "rtrim",
    "substring",
    "substr",
    "concat",
    "||",
    "replace",
    "left",
    "right",
    "position",
    "strpos",
    "instr",
    "lpad",
    "rpad",
    "split_part",
    "concat_ws",
    "reverse",
    "md5",
    // RE2: linear in the text, memory bounded per pattern
    "regexp_matches",
    "regexp_full_match",
    "regexp_replace",
    "regexp_extract",
    "starts_with",
    "prefix",
    "suffix",
    "contains",
    "~~",
    "!~~",
    "~~*",
    "!~~*",
    "date_trunc",
    "date_part",
    "date_diff",
    "datediff",
    "strftime",
    "epoch",
    "to_years",
    "to_months",
    "to_weeks",
    "to_days",
    "to_hours",
    "to_minutes",
    "to_seconds",
    "year",
    "month",
    "day",
    "hour",
    "minute",
    "second",
    "dayofweek",
    "week",
    "quarter",
    "dayofmonth",
    "dayofyear",
    "isodow",
];

/// Built-in types a value may be cast to (a workspace's own types are not in the hub).
const CAST_TYPES: &[&str] = &[
    "BOOLEAN",
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "FLOAT",
    "DOUBLE",
    "DECIMAL",
    "VARCHAR",
    "DATE",
    "TIME",
    "TIMESTAMP",
    "TIMESTAMP WITH TIME ZONE",
    "INTERVAL",
];

/// Expression kinds (`class`) allowed, besides functions and casts checked on their own.
/// (`*` expands to the view's columns in the hub too.)
const CLASSES: &[&str] =
    &["COLUMN_REF", "STAR", "CONSTANT", "PARAMETER", "COMPARISON", "CONJUNCTION", "BETWEEN", "CASE"];

/// Operators (`class` OPERATOR) allowed, by `type`.
const OPERATORS: &[&str] = &[
    "OPERATOR_NOT",
    "OPERATOR_IS_NULL",
    "OPERATOR_IS_NOT_NULL",
    "COMPARE_IN",
    "COMPARE_NOT_IN",
    "OPERATOR_COALESCE",
    "OPERATOR_NULLIF",
];

/// Names DuckDB 1.5 binds to a function when no column answers them (`SELECT user`): they
/// answer differently in the hub (`current_catalog` is its database), so a query naming
/// one, even as a column, stays in the workspace.
const FUNCTION_NAMES: &[&str] = &[
    "current_catalog",
    "current_schema",
    "current_user",
    "session_user",
    "user",
    "current_role",
    "current_date",
    "current_time",
    "current_timestamp",
    "localtime",
    "localtimestamp",
];

/// Window functions that compute from their partition's rows alone (besides the aggregates).
const WINDOW_FUNCTIONS: &[&str] = &[
    "row_number",
    "rank",
    "dense_rank",
    "percent_rank",
    "cume_dist",
    "ntile",
    "lag",
    "lead",
    "first_value",
    "last_value",
    "nth_value",
];

/// Joins whose answer does not depend on the order rows are stored in (a positional join
/// pairs rows by position, which differs between the hub's file and a streamed copy).
const JOINS: &[&str] = &["REGULAR", "CROSS", "NATURAL", "ASOF"];

/// A project table a query reads, as written there and as the workspace resolved it.
struct Target {
    /// The reference as written, lowercased (`schema`, `table`): how the query's references find it.
    written: (String, String),
    bucket: BucketId,
    table: TableName,
}

/// A query that may run in the hub: its parse tree and the project tables it reads.
pub(crate) struct Plan {
    tree: Value,
    targets: Vec<Target>,
}

/// The plan for a statement parsed as `tree` in the workspace `ws`, if it qualifies.
pub(crate) fn plan(
    conn: &mut RawConnection,
    ws: &WorkspaceDb,
    defined: impl FnOnce(&mut RawConnection) -> Option<Arc<[String]>>,
    tree: Value,
) -> Option<Plan> {
    let reads = reads(&tree)?;
    if !reads.functions.is_empty() {
        let defined = defined(conn)?;
        let guard = super::dialect::DIVISOR_MACRO;
        if reads.functions.iter().any(|f| f != guard && defined.contains(f)) {
            return None;
        }
    }
    // Were a name taken for a CTE not one in DuckDB's eyes, it would name a table or view of
    // the workspace there (or the query would not have prepared), and another in the hub.
    if !reads.ctes.is_empty() && conn.query_text(NAMES_TAKEN, &[&reads.ctes.join("\n")])? != "0" {
        return None;
    }
    let mut targets = Vec::with_capacity(reads.tables.len());
    for (schema, table) in reads.tables {
        let found = conn.query_text(RESOLVES, &[&ws.id, &schema, &table])?;
        let (bucket, name) = found.split_once('\n')?;
        targets.push(Target { written: (schema, table), bucket: bucket.parse().ok()?, table: name.parse().ok()? });
    }
    Some(Plan { tree, targets })
}

/// The bucket view the name resolves to in the workspace (`schema\ntable`, as stored), or
/// nothing when a table or view of that name exists anywhere else there. (Built-ins are
/// called by their full names here: users may define macros named like them.)
const RESOLVES: &str = "
    WITH bucket_view AS (
      SELECT system.main.concat(schema_name, system.main.chr(10), view_name) AS name FROM system.main.duckdb_views()
       WHERE database_name = $1 AND system.main.lower(schema_name) = system.main.lower($2)
         AND system.main.lower(view_name) = system.main.lower($3)),
    others AS (
      SELECT 1 FROM system.main.duckdb_tables()
       WHERE system.main.lower(schema_name) = system.main.lower($2)
         AND system.main.lower(table_name) = system.main.lower($3)
      UNION ALL SELECT 1 FROM system.main.duckdb_views()
       WHERE database_name <> $1 AND system.main.lower(schema_name) = system.main.lower($2)
         AND system.main.lower(view_name) = system.main.lower($3))
    SELECT CASE WHEN NOT EXISTS (FROM others) AND (SELECT system.main.count(*) FROM bucket_view) = 1
                THEN (SELECT name FROM bucket_view) ELSE '' END";

/// How many of the names (lowercased, one per line) a table or view of the workspace's
/// DuckDB (in any database or schema, the system's included) goes by.
const NAMES_TAKEN: &str = "
    SELECT system.main.count(*) FROM (
      SELECT system.main.lower(table_name) AS name FROM system.main.duckdb_tables()
      UNION ALL SELECT system.main.lower(view_name) FROM system.main.duckdb_views())
     WHERE name IN (SELECT system.main.unnest(system.main.string_split($1, system.main.chr(10))))";

/// The names of the functions defined in a workspace (its users' macros, the catalog
/// emulation's), which a pushed-down query must not call: the workspace would call them.
/// Listing them scans all of DuckDB's functions (~13 ms), so a list is kept until the
/// workspace's definitions change: one per workspace for sessions that see just its
/// committed definitions, one per session for a session that may see others (it ran DDL,
/// or its transaction began before the last change).
#[derive(Default)]
pub(crate) struct Defined {
    epoch: Option<u64>,
    names: Arc<[String]>,
}

impl Defined {
    /// The names as of the definitions `epoch`, listed on `conn` if this list is older.
    pub(crate) fn at(&mut self, conn: &mut RawConnection, epoch: u64) -> Option<Arc<[String]>> {
        if self.epoch != Some(epoch) {
            let sql = "SELECT coalesce(system.main.string_agg(DISTINCT system.main.lower(function_name), \
                       system.main.chr(10)), '') FROM system.main.duckdb_functions() WHERE NOT internal";
            self.names = conn.query_text(sql, &[])?.lines().map(str::to_owned).collect();
            self.epoch = Some(epoch);
        }
        Some(self.names.clone())
    }
}

/// What a qualifying parse tree reads: bucket views (as written, lowercased, each once), the
/// functions it calls and the names it reads as CTEs (lowercased, each once).
#[derive(Debug, PartialEq)]
struct Reads {
    tables: Vec<(String, String)>,
    functions: Vec<String>,
    ctes: Vec<String>,
}

fn reads(tree: &Value) -> Option<Reads> {
    if tree["error"] != false {
        return None;
    }
    let [statement] = tree["statements"].as_array()?.as_slice() else { return None };
    let mut check = Check::default();
    if !check.statement(statement) || check.tables.is_empty() {
        return None;
    }
    let Check { mut functions, mut tables, mut read_ctes, .. } = check;
    tables.sort();
    tables.dedup();
    for names in [&mut functions, &mut read_ctes] {
        names.sort();
        names.dedup();
    }
    Some(Reads { tables, functions, ctes: read_ctes })
}

/// A walk over a parse tree deciding whether it qualifies, collecting what it reads.
#[derive(Default)]
struct Check {
    functions: Vec<String>,
    tables: Vec<(String, String)>,
    /// The common table expressions in scope where the walk is (lowercased).
    ctes: Vec<String>,
    /// The names read as CTEs.
    read_ctes: Vec<String>,
}

impl Check {
    /// A statement (`{node, named_param_map}`): a query, at the top or nested.
    fn statement(&mut self, statement: &Value) -> bool {
        // `$1` is listed as "1"; named parameters (`$name`) are not bound by the wire protocol.
        let numbered = |m: &Vec<Value>| m.iter().all(|p| p["key"].as_str().is_some_and(|k| k.parse::<u32>().is_ok()));
        statement["named_param_map"].as_array().is_some_and(numbered) && self.node(&statement["node"])
    }

    /// A query node: a SELECT, or a set operation of two nodes; its CTEs are in scope in it.
    fn node(&mut self, node: &Value) -> bool {
        let Some(fields) = node.as_object() else { return false };
        let outer = self.ctes.len();
        let ok = self.common_tables(&node["cte_map"])
            && match fields.get("type").and_then(Value::as_str) {
                Some("SELECT_NODE") => {
                    // (FORCE_AGGREGATES: GROUP BY ALL; a sample draws other rows with the hub's threads)
                    ["STANDARD_HANDLING", "FORCE_AGGREGATES"]
                        .contains(&node["aggregate_handling"].as_str().unwrap_or(""))
                        && node["sample"].is_null()
                        && fields.iter().all(|(key, value)| match key.as_str() {
                            "cte_map" => true,
                            "from_table" => self.table_ref(value),
                            _ => self.expression(value),
                        })
                }
                Some("SET_OPERATION_NODE") => fields.iter().all(|(key, value)| match key.as_str() {
                    "cte_map" => true,
                    "left" | "right" => self.node(value),
                    _ => self.expression(value),
                }),
                _ => false,
            };
        self.ctes.truncate(outer);
        ok
    }

    /// A node's `WITH` list: each query sees the ones before it (not itself: a recursive CTE
    /// is its own node type, refused).
    fn common_tables(&mut self, cte_map: &Value) -> bool {
        let Some(entries) = cte_map["map"].as_array() else { return false };
        entries.iter().all(|entry| {
            let ok = entry["value"]["key_targets"].as_array().is_some_and(Vec::is_empty)
                && self.statement(&entry["value"]["query"]);
            if let Some(name) = entry["key"].as_str() {
                self.ctes.push(name.to_lowercase());
            }
            ok
        })
    }

    /// A FROM item: a bucket table, a CTE in scope, a subquery or a join of those.
    fn table_ref(&mut self, from: &Value) -> bool {
        if !from["sample"].is_null() {
            return false;
        }
        match from["type"].as_str() {
            Some("BASE_TABLE") => {
                let (Some(schema), Some(table)) = (from["schema_name"].as_str(), from["table_name"].as_str()) else {
                    return false;
                };
                let plain = from["catalog_name"] == ""
                    && from["at_clause"].is_null()
                    && from["column_name_alias"].as_array().is_some_and(Vec::is_empty);
                if plain && is_bucket_schema(schema) {
                    self.tables.push((schema.to_lowercase(), table.to_lowercase()));
                    true
                } else {
                    // A CTE shadows any table of its name, in the workspace as in the hub.
                    let cte = plain && schema.is_empty() && self.ctes.contains(&table.to_lowercase());
                    if cte {
                        self.read_ctes.push(table.to_lowercase());
                    }
                    cte
                }
            }
            Some("SUBQUERY") => self.statement(&from["subquery"]),
            Some("JOIN") => {
                JOINS.contains(&from["ref_type"].as_str().unwrap_or(""))
                    && from["duplicate_eliminated_columns"].as_array().is_some_and(Vec::is_empty)
                    && self.table_ref(&from["left"])
                    && self.table_ref(&from["right"])
                    && self.expression(&from["condition"])
            }
            Some("EMPTY") => true,
            _ => false,
        }
    }

    /// Whether every expression in `value` is allowed; collects the functions called.
    fn expression(&mut self, value: &Value) -> bool {
        match value {
            Value::Array(items) => items.iter().all(|v| self.expression(v)),
            Value::Object(fields) => {
                // Query nodes and table references only come with what is checked on its own.
                if fields.contains_key("from_table") || fields.contains_key("table_name") {
                    return false;
                }
                let is = |key: &str, names: &[&str]| {
                    fields.get(key).and_then(Value::as_str).is_some_and(|v| names.contains(&v))
                };
                let builtin = fields.get("catalog").is_some_and(|c| c == "");
                let ok = match fields.get("class").and_then(Value::as_str) {
                    None => true,
                    Some("FUNCTION") => {
                        let name = self.called(fields);
                        FUNCTIONS.contains(&name.as_str())
                            // `main`: how the parser writes SQL-syntax calls (TRIM(… FROM …), EXTRACT).
                            && fields.get("schema").is_some_and(|s| s == "" || s == "main")
                            && builtin
                            && fields.get("export_state").is_some_and(|e| e == false)
                    }
                    Some("WINDOW") => {
                        let name = self.called(fields);
                        (FUNCTIONS.contains(&name.as_str()) || WINDOW_FUNCTIONS.contains(&name.as_str()))
                            && fields.get("schema").is_some_and(|s| s == "")
                            && builtin
                    }
                    Some("SUBQUERY") => {
                        return fields.iter().all(|(key, v)| match key.as_str() {
                            "subquery" => self.statement(v),
                            _ => self.expression(v),
                        });
                    }
                    Some("CAST") => fields.get("cast_type").is_some_and(|t| {
                        CAST_TYPES.contains(&t["id"].as_str().unwrap_or_default())
                            && (t["type_info"].is_null() || t["type_info"]["type"] == "DECIMAL_TYPE_INFO")
                    }),
                    Some("OPERATOR") => is("type", OPERATORS),
                    // `x.*`: the deserializer prints the relation name unquoted, so only a plain
                    // word (the reparse check in `hub_sql` catches a keyword).
                    Some("STAR") => fields.get("relation_name").and_then(Value::as_str).is_some_and(|r| {
                        r.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                            && !r.starts_with(|c: char| c.is_ascii_digit())
                    }),
                    Some("COLUMN_REF") => {
                        match fields.get("column_names").and_then(Value::as_array).map(Vec::as_slice) {
                            Some([Value::String(name)]) => !FUNCTION_NAMES.iter().any(|f| f.eq_ignore_ascii_case(name)),
                            _ => true,
                        }
                    }
                    Some(_) => is("class", CLASSES),
                };
                ok && fields.iter().all(|(key, v)| key == "cast_type" || self.expression(v))
            }
            _ => true,
        }
    }

    /// The lowercased name of the function a call expression calls, noted as called.
    fn called(&mut self, fields: &serde_json::Map<String, Value>) -> String {
        let name = fields.get("function_name").and_then(Value::as_str).unwrap_or_default().to_lowercase();
        self.functions.push(name.clone());
        name
    }
}

/// Drops the parser's text positions, which differ between two texts of one query.
fn forget_locations(value: &mut Value) {
    match value {
        Value::Array(items) => items.iter_mut().for_each(forget_locations),
        Value::Object(fields) => {
            fields.remove("query_location");
            fields.values_mut().for_each(forget_locations);
        }
        _ => {}
    }
}

/// The name each bucket table reference goes by in the query (its alias, or the table's
/// name), by the reference as written (lowercased): a list of names when one table is read
/// under several.
fn reference_names(value: &Value, names: &mut Vec<((String, String), String)>) {
    match value {
        Value::Array(items) => items.iter().for_each(|v| reference_names(v, names)),
        Value::Object(fields) => {
            if let Some(key) = bucket_reference(value) {
                let name = match value["alias"].as_str() {
                    Some(alias) if !alias.is_empty() => alias.to_owned(),
                    _ => value["table_name"].as_str().unwrap_or_default().to_owned(),
                };
                if !names.contains(&(key.clone(), name.clone())) {
                    names.push((key, name));
                }
            }
            fields.values().for_each(|v| reference_names(v, names));
        }
        _ => {}
    }
}

/// A FROM item naming a bucket table: its (schema, table) as written, lowercased.
fn bucket_reference(from: &Value) -> Option<(String, String)> {
    let schema = from["schema_name"].as_str()?;
    (from["type"] == "BASE_TABLE" && is_bucket_schema(schema))
        .then(|| (schema.to_lowercase(), from["table_name"].as_str().unwrap_or_default().to_lowercase()))
}

/// Every name a FROM item or CTE of the query goes by (lowercased, once per item).
fn bound_names(value: &Value, names: &mut Vec<String>) {
    match value {
        Value::Array(items) => items.iter().for_each(|v| bound_names(v, names)),
        Value::Object(fields) => {
            let alias = fields.get("alias").and_then(Value::as_str).filter(|a| !a.is_empty());
            match fields.get("type").and_then(Value::as_str) {
                Some("BASE_TABLE") => {
                    let name = alias.or_else(|| fields.get("table_name").and_then(Value::as_str));
                    names.extend(name.map(str::to_lowercase));
                }
                Some("SUBQUERY" | "JOIN" | "EMPTY") if fields.contains_key("sample") => {
                    names.extend(alias.map(str::to_lowercase));
                }
                _ => {}
            }
            if let Some(Value::Array(ctes)) = fields.get("cte_map").map(|m| &m["map"]) {
                names.extend(ctes.iter().filter_map(|c| c["key"].as_str()).map(str::to_lowercase));
            }
            fields.values().for_each(|v| bound_names(v, names));
        }
        _ => {}
    }
}

/// Rewrites column references qualified by schema and table (`"in.c-b".t.id`, as Metabase
/// writes them) to `name.id`: in the hub each table is a subquery called by the name the
/// query uses for it. `None` — the workspace runs the query — unless that name is the
/// table's alone in the whole query: were it also another item's (`"in.c-b".t` and
/// `"out.c-x".t`, or `… AS t` in a subquery), `name.id` would mean the nearest one, which a
/// reference qualified by schema may not (found by the differential fuzzer).
fn requalify(value: &mut Value, names: &[((String, String), String)], bound: &[String]) -> Option<()> {
    match value {
        Value::Array(items) => items.iter_mut().try_for_each(|v| requalify(v, names, bound)),
        Value::Object(fields) => {
            if fields.get("class").is_some_and(|c| c == "COLUMN_REF")
                && let Some(Value::Array(parts)) = fields.get_mut("column_names")
                && let [Value::String(s), Value::String(t), column] = parts.as_slice()
            {
                let key = (s.to_lowercase(), t.to_lowercase());
                let mut matching = names.iter().filter(|(k, _)| *k == key);
                if let Some((_, name)) = matching.next() {
                    let lowered = name.to_lowercase();
                    if matching.next().is_some() || bound.iter().filter(|b| **b == lowered).count() != 1 {
                        return None;
                    }
                    *parts = vec![json!(name), column.clone()];
                }
            }
            fields.values_mut().try_for_each(|v| requalify(v, names, bound))
        }
        _ => Some(()),
    }
}

/// Replaces every bucket table reference by a subquery of its rows (`rows`, by the
/// reference as written), named as the query names the table.
fn replace_tables(value: &mut Value, rows: &[((String, String), Value)]) {
    if let Some(key) = bucket_reference(value)
        && let Some((_, subquery)) = rows.iter().find(|(k, _)| *k == key)
    {
        let name = match value["alias"].as_str() {
            Some(alias) if !alias.is_empty() => alias.to_owned(),
            _ => value["table_name"].as_str().unwrap_or_default().to_owned(),
        };
        *value = json!({
            "type": "SUBQUERY", "alias": name, "sample": null, "query_location": value["query_location"],
            "subquery": subquery, "column_name_alias": [],
        });
        return;
    }
    match value {
        Value::Array(items) => items.iter_mut().for_each(|v| replace_tables(v, rows)),
        Value::Object(fields) => fields.values_mut().for_each(|v| replace_tables(v, rows)),
        _ => {}
    }
}

/// A pushed-down query being streamed, with what keeps its tables readable.
pub(crate) struct Pushed {
    pub result: QueryResult,
    _readings: Vec<OwnedReading>,
    _conn: RawConnection,
}

impl Plan {
    /// Starts the query in the hub with `binds` (or its EXPLAIN, when `explain`), or `None`
    /// when the hub would not type its result as `expected` (the workspace then runs it).
    /// `running` receives the hub connection, so that a cancel reaches it.
    pub fn start(
        mut self,
        conn: &mut RawConnection,
        scope: &StorageScope,
        binds: &[Bind<'_>],
        expected: &[TypeInfo],
        explain: bool,
        running: impl FnOnce(&RawConnection),
    ) -> Result<Option<Pushed>> {
        let Some((hub, mut prepared, readings)) = self.prepare(conn, scope, binds, expected, explain) else {
            return Ok(None);
        };
        running(&hub);
        let result = prepared.execute()?;
        Ok(Some(Pushed { result, _readings: readings, _conn: hub }))
    }

    /// The statement prepared and bound in the hub, with its tables held readable; `None`
    /// when anything differs from the workspace (a table just went, a type, a name).
    fn prepare(
        &mut self,
        conn: &mut RawConnection,
        scope: &StorageScope,
        binds: &[Bind<'_>],
        expected: &[TypeInfo],
        explain: bool,
    ) -> Option<(RawConnection, Prepared, Vec<OwnedReading>)> {
        let mut readings = Vec::with_capacity(self.targets.len());
        let mut rows = Vec::with_capacity(self.targets.len());
        for target in &self.targets {
            let ScopedTable { view, file } = scope.table(target.bucket.clone(), target.table.clone()).ok()?;
            let reading = file.read_owned().ok()?;
            let columns: Vec<String> = view.meta.columns.iter().map(|c| ident(c.def.name.as_str())).collect();
            let parsed = syntax_tree(conn, &format!("SELECT {} FROM {}", columns.join(", "), reading.data()))?;
            rows.push((target.written.clone(), parsed["statements"][0].clone()));
            readings.push(reading);
        }
        let sql = self.hub_sql(conn, &rows)?;
        let mut hub = scope.hub.raw_connection().ok()?;
        let mut prepared = hub.prepare_sql(&sql).ok()?;
        if !prepared.columns().into_iter().map(|(_, t)| t).eq(expected.iter().cloned()) {
            return None;
        }
        if explain {
            prepared = hub.prepare_sql(&format!("EXPLAIN {sql}")).ok()?;
        }
        prepared.bind(binds).ok()?;
        Some((hub, prepared, readings))
    }

    /// The query's text for the hub: each table reference replaced by a query of the view's
    /// columns (`rows`) under the name the query uses for the table.
    fn hub_sql(&mut self, conn: &mut RawConnection, rows: &[((String, String), Value)]) -> Option<String> {
        let (mut names, mut bound) = (Vec::new(), Vec::new());
        reference_names(&self.tree, &mut names);
        bound_names(&self.tree, &mut bound);
        requalify(&mut self.tree, &names, &bound)?;
        replace_tables(&mut self.tree, rows);
        let sql =
            conn.query_text("SELECT system.main.json_deserialize_sql(CAST(? AS VARCHAR))", &[&self.tree.to_string()])?;
        // The text must mean exactly the checked tree: DuckDB prints some parts unquoted or
        // loosely (a DOUBLE constant as a DECIMAL one), and then the workspace runs it.
        let mut reparsed = syntax_tree(conn, &sql)?;
        let mut checked = self.tree.clone();
        for tree in [&mut reparsed, &mut checked] {
            forget_locations(tree);
        }
        (reparsed == checked).then_some(sql)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(sql: &str) -> Value {
        let db = crate::raw::Database::open(":memory:", &[]).unwrap();
        syntax_tree(&mut RawConnection::connect(&db).unwrap(), sql).unwrap()
    }

    fn tables(r: &Reads) -> Vec<(&str, &str)> {
        r.tables.iter().map(|(s, t)| (s.as_str(), t.as_str())).collect()
    }

    #[test]
    fn aggregates_over_one_bucket_table_qualify() {
        let r = reads(&tree(
            "SELECT category, count(*), sum(amount) FILTER (WHERE id > $1), avg(amount)::INT FROM \"in.c-b\".t AS x \
             WHERE active AND x.amount BETWEEN 1 AND 5 AND name LIKE 'a%' GROUP BY 1 HAVING count(*) > 1 \
             ORDER BY 2 DESC LIMIT 10",
        ))
        .expect("qualifies");
        assert_eq!(tables(&r), [("in.c-b", "t")]);
        assert_eq!(r.functions, ["avg", "count_star", "sum", "~~"]);
        // As Metabase writes them: columns qualified by schema and table, a nested query.
        let r = reads(&tree(
            "SELECT \"source\".\"c\", count(*) FROM (SELECT \"in.c-b\".\"t\".\"category\" AS \"c\" \
             FROM \"in.c-b\".\"T\" WHERE \"in.c-b\".\"t\".\"id\" > 5) AS \"source\" GROUP BY 1",
        ))
        .expect("qualifies");
        assert_eq!((tables(&r), r.functions.as_slice()), (vec![("in.c-b", "t")], &["count_star".to_owned()][..]));
        // SQL-syntax calls (schema `main`), GROUP BY ALL, INTERVAL arithmetic.
        let r = reads(&tree(
            "SELECT EXTRACT(year FROM created), trim(both 'x' FROM name), nullif(category, ''), \
             count(*) FROM \"in.c-b\".t WHERE created > $1 - INTERVAL 3 DAY GROUP BY ALL",
        ))
        .expect("qualifies");
        assert_eq!(r.functions, ["-", "count_star", "date_part", "nullif", "to_days", "trim", "trunc"]);
    }

    #[test]
    fn joins_ctes_subqueries_set_operations_and_windows_over_bucket_tables_qualify() {
        let r = reads(&tree(
            "WITH big AS (SELECT * FROM \"in.c-b\".fact WHERE amount > 10), \
                  r AS (SELECT region, count(*) AS n FROM big JOIN \"in.c-b\".dim d USING (dim_id) GROUP BY 1) \
             SELECT r.*, rank() OVER (ORDER BY n DESC) FROM r \
             WHERE region IN (SELECT region FROM \"out.c-x\".regions) AND EXISTS (SELECT 1) \
             UNION ALL SELECT 'total', count(*), 0 FROM \"in.c-b\".fact f LEFT JOIN \"in.c-b\".DIM AS d2 ON f.dim_id = d2.dim_id",
        ))
        .expect("qualifies");
        assert_eq!(tables(&r), [("in.c-b", "dim"), ("in.c-b", "fact"), ("out.c-x", "regions")]);
        assert_eq!(r.functions, ["count_star", "rank"]);
        assert_eq!(r.ctes, ["big", "r"]);
        for sql in [
            "SELECT f.id, d.name FROM \"in.c-b\".f, \"in.c-b\".d WHERE f.d = d.id ORDER BY f.id LIMIT 10",
            "SELECT * FROM \"in.c-b\".f NATURAL JOIN \"in.c-b\".d",
            "SELECT * FROM \"in.c-b\".f SEMI JOIN \"in.c-b\".d USING (id)",
            "SELECT * FROM \"in.c-b\".f f, LATERAL (SELECT f.id + 1 AS n) AS s",
            "SELECT (SELECT max(id) FROM \"in.c-b\".d) - id FROM \"in.c-b\".f",
            "SELECT id FROM \"in.c-b\".f INTERSECT SELECT id FROM \"in.c-b\".d",
            "WITH c AS (SELECT 1 AS id) SELECT * FROM \"in.c-b\".f JOIN c USING (id)",
        ] {
            assert!(reads(&tree(sql)).is_some(), "{sql}");
        }
    }

    #[test]
    fn anything_that_could_reach_beyond_the_tables_stays_in_the_workspace() {
        for sql in [
            "SELECT count(*) FROM read_csv('/etc/passwd')",
            "SELECT count(*) FROM \"in.c-b\".t WHERE id IN (SELECT 1 FROM read_csv('/etc/passwd'))",
            "SELECT count(*) FROM \"in.c-b\".t, read_csv('/etc/passwd')",
            "SELECT count(*) FROM \"in.c-b\".t JOIN main.x USING (id)",
            "SELECT count(*) FROM \"in.c-b\".t JOIN x USING (id)",
            "SELECT count(*) FROM \"in.c-b\".t WHERE id IN (SELECT id FROM x)",
            "WITH c AS (SELECT 1) SELECT count(*) FROM c",
            "WITH c AS (SELECT * FROM c) SELECT count(*) FROM \"in.c-b\".t, c",
            "WITH c AS (SELECT * FROM d), d AS (SELECT 1) SELECT count(*) FROM \"in.c-b\".t, c",
            "WITH RECURSIVE r AS (SELECT 1 AS a UNION ALL SELECT a + 1 FROM r WHERE a < 3) SELECT * FROM \"in.c-b\".t, r",
            "SELECT * FROM (WITH c AS (SELECT 1) SELECT * FROM \"in.c-b\".t) AS s, c",
            "SELECT getenv('HOME'), count(*) FROM \"in.c-b\".t",
            "SELECT sum(id) OVER () FROM \"in.c-b\".t JOIN \"in.c-b\".u USING (id) WHERE getenv('X') = ''",
            "SELECT count(*) FROM main.t",
            "SELECT count(*) FROM ws.\"in.c-b\".t",
            "SELECT id::jsonb FROM \"in.c-b\".t",
            "SELECT count(*) FROM \"in.c-b\".t UNION ALL SELECT count(*) FROM main.x",
            "SELECT ds_pg.main.version() FROM \"in.c-b\".t",
            "SELECT count(*) FROM \"in.c-b\".t; SELECT 1",
            "SELECT count(*) FROM (SELECT getenv('HOME') FROM \"in.c-b\".t) AS s",
            "SELECT count(*) FROM (SELECT * FROM read_csv('/etc/passwd')) AS s",
            "SELECT \"x y\".* FROM \"in.c-b\".t AS \"x y\"",
            "SELECT user, count(*) FROM \"in.c-b\".t GROUP BY 1",
            "SELECT y FROM (SELECT current_catalog AS y FROM \"in.c-b\".t) AS s",
            "SELECT id FROM \"in.c-b\".t USING SAMPLE 10% (bernoulli, 42)",
            "SELECT * FROM \"in.c-b\".t POSITIONAL JOIN \"in.c-b\".u",
            "SELECT * FROM \"in.c-b\".t AT (VERSION => 1)",
            "SELECT 1",
        ] {
            assert_eq!(reads(&tree(sql)), None, "{sql}");
        }
    }

    #[test]
    fn schema_qualified_columns_are_renamed_only_when_they_name_one_reference() {
        let requalified = |t: &mut Value| {
            let (mut names, mut bound) = (Vec::new(), Vec::new());
            reference_names(t, &mut names);
            bound_names(t, &mut bound);
            requalify(t, &names, &bound)
        };
        let mut t = tree("SELECT \"in.c-b\".t.id FROM \"in.c-b\".t JOIN \"in.c-b\".u AS x ON \"in.c-b\".u.id = t.id");
        requalified(&mut t).expect("unambiguous");
        let refs: Vec<&Value> = vec![
            &t["statements"][0]["node"]["select_list"][0]["column_names"],
            &t["statements"][0]["node"]["from_table"]["condition"]["left"]["column_names"],
        ];
        assert_eq!(refs, [&json!(["t", "id"]), &json!(["x", "id"])]);
        for sql in [
            "SELECT \"in.c-b\".t.id FROM \"in.c-b\".t AS a JOIN \"in.c-b\".t AS b USING (id)",
            // The name is another item's too: `t.k` would mean the nearest `t`.
            "SELECT count(*) FROM \"in.c-b\".t WHERE EXISTS (SELECT 1 FROM \"in.c-b\".u AS t WHERE t.k = \"in.c-b\".t.k)",
            "SELECT count(*) FROM \"in.c-b\".t WHERE EXISTS (SELECT 1 FROM \"out.c-x\".t WHERE \"out.c-x\".t.k = \"in.c-b\".t.k)",
            "SELECT count(*) FROM \"in.c-b\".t WHERE EXISTS (SELECT 1 FROM (SELECT 1 AS k) AS t WHERE t.k = \"in.c-b\".t.k)",
            "WITH t AS (SELECT 1 AS k) SELECT \"in.c-b\".t.k FROM \"in.c-b\".t",
        ] {
            assert_eq!(requalified(&mut tree(sql)), None, "{sql}");
        }
    }
}
