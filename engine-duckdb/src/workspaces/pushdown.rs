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

/// A query that may run in the hub: its parse tree and the table it reads.
pub(crate) struct Plan {
    tree: Value,
    bucket: BucketId,
    table: TableName,
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
    let found = conn.query_text(RESOLVES, &[&ws.id, &reads.schema, &reads.table])?;
    let (bucket, table) = found.split_once('\n')?;
    Some(Plan { tree, bucket: bucket.parse().ok()?, table: table.parse().ok()? })
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

/// What a qualifying parse tree reads: a bucket view (as written) and the functions it calls.
#[derive(Debug, PartialEq)]
struct Reads {
    schema: String,
    table: String,
    functions: Vec<String>,
}

fn reads(tree: &Value) -> Option<Reads> {
    if tree["error"] != false {
        return None;
    }
    let [statement] = tree["statements"].as_array()?.as_slice() else { return None };
    let mut functions = Vec::new();
    let from = base_table(statement, &mut functions)?;
    let schema = from["schema_name"].as_str()?;
    if !is_bucket_schema(schema) {
        return None;
    }
    functions.sort();
    functions.dedup();
    Some(Reads { schema: schema.to_owned(), table: from["table_name"].as_str()?.to_owned(), functions })
}

/// The table a qualifying statement (`{node, named_param_map}`) reads: in its FROM, or in
/// that of the subquery there (BI tools nest queries so: `FROM (SELECT …) AS source`).
fn base_table<'a>(statement: &'a Value, functions: &mut Vec<String>) -> Option<&'a Value> {
    let node = statement["node"].as_object()?;
    let simple = node.get("type")? == "SELECT_NODE"
        // `$1` is listed as "1"; named parameters (`$name`) are not bound by the wire protocol.
        && statement["named_param_map"]
            .as_array()
            .is_some_and(|m| m.iter().all(|p| p["key"].as_str().is_some_and(|k| k.parse::<u32>().is_ok())))
        && node.get("cte_map")?["map"].as_array().is_some_and(Vec::is_empty)
        // (FORCE_AGGREGATES: GROUP BY ALL)
        && ["STANDARD_HANDLING", "FORCE_AGGREGATES"].contains(&node.get("aggregate_handling")?.as_str()?)
        && node.iter().all(|(key, value)| key == "from_table" || allowed(value, functions));
    let from = node.get("from_table")?;
    // A sample draws other rows with the hub's threads.
    if !simple || !from["sample"].is_null() || !node.get("sample").is_some_and(Value::is_null) {
        return None;
    }
    match from["type"].as_str()? {
        "BASE_TABLE" => (from["catalog_name"] == ""
            && from["at_clause"].is_null()
            && from["column_name_alias"].as_array().is_some_and(Vec::is_empty))
        .then_some(from),
        "SUBQUERY" => base_table(&from["subquery"], functions),
        _ => None,
    }
}

/// The query node whose FROM is the table [`base_table`] found, to replace it there.
fn base_table_node(statement: &mut Value) -> Option<&mut Value> {
    match statement["node"]["from_table"]["type"].as_str()? {
        "SUBQUERY" => base_table_node(&mut statement["node"]["from_table"]["subquery"]),
        _ => Some(&mut statement["node"]),
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

/// Rewrites column references qualified by schema and table (`"in.c-b".t.id`, as Metabase
/// writes them) to `name.id`: in the hub the table is a subquery called `name`.
fn requalify(value: &mut Value, schema: &str, table: &str, name: &str) {
    match value {
        Value::Array(items) => items.iter_mut().for_each(|v| requalify(v, schema, table, name)),
        Value::Object(fields) => {
            if fields.get("class").is_some_and(|c| c == "COLUMN_REF")
                && let Some(Value::Array(names)) = fields.get_mut("column_names")
                && let [s, t, column] = names.as_slice()
                && s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(schema))
                && t.as_str().is_some_and(|t| t.eq_ignore_ascii_case(table))
            {
                *names = vec![json!(name), column.clone()];
            }
            fields.values_mut().for_each(|v| requalify(v, schema, table, name));
        }
        _ => {}
    }
}

/// Whether every expression in `value` is allowed; collects the functions called.
fn allowed(value: &Value, functions: &mut Vec<String>) -> bool {
    match value {
        Value::Array(items) => items.iter().all(|v| allowed(v, functions)),
        Value::Object(fields) => {
            // Query nodes and table references only come with what is refused anyway.
            if fields.contains_key("from_table") || fields.contains_key("table_name") {
                return false;
            }
            let is =
                |key: &str, names: &[&str]| fields.get(key).and_then(Value::as_str).is_some_and(|v| names.contains(&v));
            let ok = match fields.get("class").and_then(Value::as_str) {
                None => true,
                Some("FUNCTION") => {
                    let name = fields.get("function_name").and_then(Value::as_str).unwrap_or_default().to_lowercase();
                    let known = FUNCTIONS.contains(&name.as_str())
                        // `main`: how the parser writes SQL-syntax calls (TRIM(… FROM …), EXTRACT).
                        && fields.get("schema").is_some_and(|s| s == "" || s == "main")
                        && fields.get("catalog").is_some_and(|c| c == "")
                        && fields.get("export_state").is_some_and(|e| e == false);
                    functions.push(name);
                    known
                }
                Some("CAST") => fields.get("cast_type").is_some_and(|t| {
                    CAST_TYPES.contains(&t["id"].as_str().unwrap_or_default())
                        && (t["type_info"].is_null() || t["type_info"]["type"] == "DECIMAL_TYPE_INFO")
                }),
                Some("OPERATOR") => is("type", OPERATORS),
                // `x.*`: the deserializer prints the relation name unquoted.
                Some("STAR") => fields.get("relation_name").is_some_and(|r| r == ""),
                Some("COLUMN_REF") => match fields.get("column_names").and_then(Value::as_array).map(Vec::as_slice) {
                    Some([Value::String(name)]) => !FUNCTION_NAMES.iter().any(|f| f.eq_ignore_ascii_case(name)),
                    _ => true,
                },
                Some(_) => is("class", CLASSES),
            };
            ok && fields.iter().all(|(key, v)| key == "cast_type" || allowed(v, functions))
        }
        _ => true,
    }
}

/// A pushed-down query being streamed, with what keeps its table readable.
pub(crate) struct Pushed {
    pub result: QueryResult,
    _reading: OwnedReading,
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
        let Some((hub, mut prepared, reading)) = self.prepare(conn, scope, binds, expected, explain) else {
            return Ok(None);
        };
        running(&hub);
        let result = prepared.execute()?;
        Ok(Some(Pushed { result, _reading: reading, _conn: hub }))
    }

    /// The statement prepared and bound in the hub, with the table held readable; `None`
    /// when anything differs from the workspace (the table just went, a type, a name).
    fn prepare(
        &mut self,
        conn: &mut RawConnection,
        scope: &StorageScope,
        binds: &[Bind<'_>],
        expected: &[TypeInfo],
        explain: bool,
    ) -> Option<(RawConnection, Prepared, OwnedReading)> {
        let ScopedTable { view, file } = scope.table(self.bucket.clone(), self.table.clone()).ok()?;
        let reading = file.read_owned().ok()?;
        let columns: Vec<String> = view.meta.columns.iter().map(|c| ident(c.def.name.as_str())).collect();
        let sql = self.hub_sql(conn, &format!("SELECT {} FROM {}", columns.join(", "), reading.data()))?;
        let mut hub = scope.hub.raw_connection().ok()?;
        let mut prepared = hub.prepare_sql(&sql).ok()?;
        if !prepared.columns().into_iter().map(|(_, t)| t).eq(expected.iter().cloned()) {
            return None;
        }
        if explain {
            prepared = hub.prepare_sql(&format!("EXPLAIN {sql}")).ok()?;
        }
        prepared.bind(binds).ok()?;
        Some((hub, prepared, reading))
    }

    /// The query's text for the hub: its table reference replaced by `rows`, a query of the
    /// view's columns under the name the query uses for the table.
    fn hub_sql(&mut self, conn: &mut RawConnection, rows: &str) -> Option<String> {
        let parsed = syntax_tree(conn, rows)?;
        let node = base_table_node(&mut self.tree["statements"][0])?;
        let from = &node["from_table"];
        let (schema, table) = (from["schema_name"].as_str()?.to_owned(), from["table_name"].as_str()?.to_owned());
        let location = from["query_location"].clone();
        let name = match from["alias"].as_str() {
            Some(alias) if !alias.is_empty() => alias.to_owned(),
            _ => table.clone(),
        };
        // Only this node's own references can mean the table (outer ones mean the subquery).
        requalify(node, &schema, &table, &name);
        node["from_table"] = json!({
            "type": "SUBQUERY", "alias": name, "sample": null, "query_location": location,
            "subquery": parsed["statements"][0].clone(), "column_name_alias": [],
        });
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

    #[test]
    fn aggregates_over_one_bucket_table_qualify() {
        let r = reads(&tree(
            "SELECT category, count(*), sum(amount) FILTER (WHERE id > $1), avg(amount)::INT FROM \"in.c-b\".t AS x \
             WHERE active AND x.amount BETWEEN 1 AND 5 AND name LIKE 'a%' GROUP BY 1 HAVING count(*) > 1 \
             ORDER BY 2 DESC LIMIT 10",
        ))
        .expect("qualifies");
        assert_eq!((r.schema.as_str(), r.table.as_str()), ("in.c-b", "t"));
        assert_eq!(r.functions, ["avg", "count_star", "sum", "~~"]);
        // As Metabase writes them: columns qualified by schema and table, a nested query.
        let r = reads(&tree(
            "SELECT \"source\".\"c\", count(*) FROM (SELECT \"in.c-b\".\"t\".\"category\" AS \"c\" \
             FROM \"in.c-b\".\"t\" WHERE \"in.c-b\".\"t\".\"id\" > 5) AS \"source\" GROUP BY 1",
        ))
        .expect("qualifies");
        assert_eq!(
            (r.schema.as_str(), r.table.as_str(), r.functions.as_slice()),
            ("in.c-b", "t", &["count_star".to_owned()][..])
        );
        // SQL-syntax calls (schema `main`), GROUP BY ALL, INTERVAL arithmetic.
        let r = reads(&tree(
            "SELECT EXTRACT(year FROM created), trim(both 'x' FROM name), nullif(category, ''), \
             count(*) FROM \"in.c-b\".t WHERE created > $1 - INTERVAL 3 DAY GROUP BY ALL",
        ))
        .expect("qualifies");
        assert_eq!(r.functions, ["-", "count_star", "date_part", "nullif", "to_days", "trim", "trunc"]);
    }

    #[test]
    fn anything_that_could_reach_beyond_the_table_stays_in_the_workspace() {
        for sql in [
            "SELECT count(*) FROM read_csv('/etc/passwd')",
            "SELECT count(*) FROM \"in.c-b\".t WHERE id IN (SELECT 1 FROM read_csv('/etc/passwd'))",
            "SELECT count(*) FROM \"in.c-b\".t, \"in.c-b\".u",
            "SELECT count(*) FROM \"in.c-b\".t JOIN main.x USING (id)",
            "WITH c AS (SELECT 1) SELECT count(*) FROM \"in.c-b\".t",
            "SELECT getenv('HOME'), count(*) FROM \"in.c-b\".t",
            "SELECT sum(id) OVER () FROM \"in.c-b\".t",
            "SELECT count(*) FROM main.t",
            "SELECT count(*) FROM ws.\"in.c-b\".t",
            "SELECT id::jsonb FROM \"in.c-b\".t",
            "SELECT count(*) FROM \"in.c-b\".t UNION ALL SELECT 1",
            "SELECT ds_pg.main.version() FROM \"in.c-b\".t",
            "SELECT count(*) FROM \"in.c-b\".t; SELECT 1",
            "SELECT count(*) FROM (SELECT getenv('HOME') FROM \"in.c-b\".t) AS s",
            "SELECT count(*) FROM (SELECT 1 FROM \"in.c-b\".t JOIN \"in.c-b\".u USING (id)) AS s",
            "SELECT count(*) FROM (SELECT * FROM read_csv('/etc/passwd')) AS s",
            "SELECT count(*) FROM (WITH c AS (SELECT 1) SELECT * FROM \"in.c-b\".t) AS s",
            "SELECT x.* FROM \"in.c-b\".t AS x",
            "SELECT user, count(*) FROM \"in.c-b\".t GROUP BY 1",
            "SELECT y FROM (SELECT current_catalog AS y FROM \"in.c-b\".t) AS s",
            "SELECT id FROM \"in.c-b\".t USING SAMPLE 10% (bernoulli, 42)",
        ] {
            assert_eq!(reads(&tree(sql)), None, "{sql}");
        }
    }
}
