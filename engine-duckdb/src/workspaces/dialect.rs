//! Where PostgreSQL and DuckDB read the same SQL differently, and the answer would be
//! silently different: each statement is parsed once with sqlparser's PostgreSQL dialect
//! and the tree rewritten so that DuckDB computes what PostgreSQL would.
//!
//! - **Division** by zero raises 22012 in PostgreSQL for every numeric type; DuckDB answers
//!   Infinity or NULL. Every divisor (`/`, `%`, `div`, `mod`) is guarded by `ds_divisor`,
//!   a macro of the workspace that raises PostgreSQL's error (integer `/` truncating as in
//!   PostgreSQL is DuckDB's `integer_division` setting, set on every session).
//! - **Unconstrained `numeric`** keeps every digit in PostgreSQL; DuckDB reads it as
//!   DECIMAL(18,3) and rounds. A cast of a literal gets the literal's own scale, anything
//!   else (columns, parameters, other expressions) DECIMAL(38,10).
//! - **`bytea` literals** in PostgreSQL's hex (`\x626c6f62`) or escape form would be read
//!   by DuckDB as its own escape syntax (9 bytes where PostgreSQL stores 5): they become
//!   `unhex('…')`.
//! - **Timestamps without seconds** (`'2024-07-01 12:00+00'`) are refused by DuckDB's
//!   parser; the literal gets `:00`.
//! - **Array literals** (`'{1,2,3}'::int[]`) are PostgreSQL's text form; DuckDB casts no
//!   such text: they become list literals.
//!
//! A statement sqlparser cannot read (DuckDB's own syntax: `FROM t SELECT …`, lambdas,
//! `GROUP BY ALL`) is passed on untouched; a statement it reads but that needs none of the
//! rewrites is passed on as the client wrote it, never re-printed.

use std::ops::ControlFlow;

use chrono_tz::Tz;
use duckstore_plugin_sdk::sql::SqlType;
use sqlparser::ast::{
    AlterTableOperation, ArrayElemTypeDef, BinaryOperator, CastKind, CharacterLength, ColumnOption, DataType,
    ExactNumberInfo, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArgumentList, FunctionArguments,
    GroupByExpr, Ident, ObjectName, Select, SelectItem, SetExpr, Statement, TableAliasColumnDef, TableFactor,
    TimezoneInfo, Value, VisitMut, VisitorMut,
};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

/// The macro that guards a divisor: created with each workspace's catalog emulation and in
/// the hub, where queries of one project table run (ADR 0009), so both answer alike.
pub(crate) const DIVISOR_MACRO: &str = "ds_divisor";
pub(crate) const DIVISOR_MACRO_SQL: &str =
    "CREATE OR REPLACE MACRO ds_divisor(b) AS CASE WHEN b = 0 THEN error('division by zero') ELSE b END";

/// DuckDB settings that make it answer as PostgreSQL where a setting can: integer `/`
/// truncates (7 / 2 = 3), and NULL sorts as larger than any value (last when ascending, first
/// when descending; DuckDB puts it last both ways). Set globally in workspaces and the hub.
pub(crate) const POSTGRES_SETTINGS_SQL: &str =
    "SET GLOBAL integer_division = true; SET GLOBAL default_null_order = 'nulls_last_on_asc_first_on_desc'";

/// Scale of an unconstrained `numeric` that is not a literal.
const WIDE_SCALE: i64 = 10;

/// `sql` (one statement, PostgreSQL's dialect) as DuckDB must read it to answer alike;
/// `zone` is the session's time zone (`None`: UTC).
pub(crate) fn to_duckdb(sql: &str, zone: Option<Tz>) -> String {
    let sql = super::keywords::quote_reserved_names(sql);
    if !worth_parsing(&sql) {
        return sql.into_owned();
    }
    let Ok(mut statements) = Parser::parse_sql(&PostgreSqlDialect {}, &sql) else { return sql.into_owned() };
    let [statement] = statements.as_mut_slice() else { return sql.into_owned() };
    let mut rewriter = Rewriter { changed: false, zone };
    let _ = statement.visit(&mut rewriter);
    rewriter.column_types(statement);
    rewriter.top_level_values(statement);
    if rewriter.changed { statement.to_string() } else { sql.into_owned() }
}

/// The relation an `ALTER TABLE … RENAME TO …` renames, as (schema, name), unquoted. In
/// PostgreSQL that statement renames views too (dbt renames every model so); DuckDB wants
/// ALTER VIEW for a view, so the session checks what the name is.
pub(crate) fn renamed_relation(sql: &str) -> Option<(Option<String>, String)> {
    if !sql.to_ascii_lowercase().contains("rename") {
        return None;
    }
    let statements = Parser::parse_sql(&PostgreSqlDialect {}, sql).ok()?;
    let [Statement::AlterTable(alter)] = statements.as_slice() else { return None };
    let [AlterTableOperation::RenameTable { .. }] = alter.operations.as_slice() else { return None };
    let parts: Vec<String> = alter.name.0.iter().filter_map(|p| p.as_ident().map(|i| i.value.clone())).collect();
    match parts.as_slice() {
        [name] => Some((None, name.clone())),
        // dbt names the database too: `"ws_…"."public"."m__dbt_tmp"`.
        [schema, name] | [_, schema, name] => Some((Some(schema.clone()), name.clone())),
        _ => None,
    }
}

/// What a column holds, where PostgreSQL's text form of a value differs from DuckDB's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TextForm {
    /// `bytea` (BLOB): `'\xdeadbeef'` is 4 bytes in PostgreSQL, 7 in DuckDB's cast.
    Bytea,
    /// An array (LIST): `'{1,2,3}'`, which DuckDB's cast refuses.
    Array,
    /// Anything else: read alike.
    Same,
}

/// A table's columns in order, each with its [`TextForm`]; `None` if the table is unknown.
pub(crate) type ColumnsOf<'a> = &'a mut dyn FnMut(Option<&str>, &str) -> Option<Vec<(String, TextForm)>>;

/// `sql` with the string literals it writes (`INSERT … VALUES`, `UPDATE … SET`) to `bytea`
/// and array columns replaced by the values PostgreSQL reads from them, or `None` if there
/// are none. Without a cast, the literal's meaning depends on the column it goes to, so
/// `columns_of` is asked — only when such a literal is there (a backslash or a `{`).
pub(crate) fn text_forms_written(sql: &str, columns_of: ColumnsOf<'_>) -> Option<String> {
    if !sql.contains(['\\', '{']) {
        return None;
    }
    let mut statements = Parser::parse_sql(&PostgreSqlDialect {}, sql).ok()?;
    let [statement] = statements.as_mut_slice() else { return None };
    let mut changed = false;
    let mut read = |e: &mut Expr, form: TextForm| {
        let Some(text) = string_of(e) else { return };
        let value = match form {
            TextForm::Bytea if text.contains('\\') => {
                bytea_bytes(text).map(|bytes| call("unhex", vec![Expr::value(Value::SingleQuotedString(hex(&bytes)))]))
            }
            // A list of the elements' texts: the write casts them to the column's element type.
            TextForm::Array => duckstore_plugin_sdk::sql::pg_array_elements(text).map(|elements| {
                Expr::Array(sqlparser::ast::Array {
                    elem: elements
                        .into_iter()
                        .map(|e| e.map_or(Expr::value(Value::Null), |s| Expr::value(Value::SingleQuotedString(s))))
                        .collect(),
                    named: false,
                })
            }),
            _ => None,
        };
        if let Some(value) = value {
            *e = value;
            changed = true;
        }
    };
    match statement {
        Statement::Insert(insert) => {
            let sqlparser::ast::TableObject::TableName(name) = &insert.table else { return None };
            let (schema, table) = schema_and_name(name)?;
            let columns = columns_of(schema.as_deref(), &table)?;
            let targets: Vec<TextForm> = if insert.columns.is_empty() {
                columns.iter().map(|(_, form)| *form).collect()
            } else {
                let named = |c: &ObjectName| {
                    let name = c.0.last()?.as_ident()?.value.clone();
                    columns.iter().find(|(n, _)| *n == name).map(|(_, form)| *form)
                };
                insert.columns.iter().map(|c| named(c).unwrap_or(TextForm::Same)).collect()
            };
            let SetExpr::Values(values) = insert.source.as_mut()?.body.as_mut() else { return None };
            for row in &mut values.rows {
                for (value, form) in row.iter_mut().zip(&targets) {
                    read(value, *form);
                }
            }
        }
        Statement::Update(update) => {
            let TableFactor::Table { name, .. } = &update.table.relation else { return None };
            let (schema, table) = schema_and_name(name)?;
            let columns = columns_of(schema.as_deref(), &table)?;
            for assignment in &mut update.assignments {
                let sqlparser::ast::AssignmentTarget::ColumnName(column) = &assignment.target else { continue };
                let column = column.0.last().and_then(|p| p.as_ident()).map(|i| i.value.clone());
                if let Some((_, form)) = columns.iter().find(|(n, _)| Some(n) == column.as_ref()) {
                    read(&mut assignment.value, *form);
                }
            }
        }
        _ => return None,
    }
    changed.then(|| statement.to_string())
}

/// (schema, name) of a one- or two-part name, as written (quoted parts keep their case,
/// bare ones fold to lower case as in PostgreSQL).
fn schema_and_name(name: &ObjectName) -> Option<(Option<String>, String)> {
    let folded = |i: &Ident| if i.quote_style.is_some() { i.value.clone() } else { i.value.to_lowercase() };
    let parts: Vec<String> = name.0.iter().map(|p| p.as_ident().map(folded)).collect::<Option<_>>()?;
    match parts.as_slice() {
        [table] => Some((None, table.clone())),
        [schema, table] => Some((Some(schema.clone()), table.clone())),
        _ => None,
    }
}

/// `CREATE TABLE` with PostgreSQL's `serial` types or identity columns, which DuckDB lacks,
/// as the statements that make it: a sequence `{table}_{column}_seq` per such column (in the
/// table's schema, as PostgreSQL names it), then the table, whose column takes the integer
/// type, NOT NULL, and a default drawn from its sequence. `None` for any other statement.
pub(crate) fn sequenced_table(sql: &str) -> Option<Vec<String>> {
    let lower = sql.to_ascii_lowercase();
    if !lower.contains("serial") && !lower.contains("identity") {
        return None;
    }
    let sql = super::keywords::quote_reserved_names(sql);
    let mut statements = Parser::parse_sql(&PostgreSqlDialect {}, &sql).ok()?;
    let [Statement::CreateTable(create)] = statements.as_mut_slice() else { return None };
    let (schema, table) = schema_and_name(&create.name)?;
    let mut sequences = Vec::new();
    for column in &mut create.columns {
        if !make_integer(column) {
            continue;
        }
        let name = format!("{table}_{}_seq", column.name.value);
        let qualified = match &schema {
            Some(schema) => format!("{}.{}", quoted(schema), quoted(&name)),
            None => quoted(&name),
        };
        let replace = if create.if_not_exists { "CREATE SEQUENCE IF NOT EXISTS" } else { "CREATE OR REPLACE SEQUENCE" };
        sequences.push(format!("{replace} {qualified}"));
        let next = call("nextval", vec![Expr::value(Value::SingleQuotedString(qualified))]);
        column.options.push(sqlparser::ast::ColumnOptionDef { name: None, option: ColumnOption::Default(next) });
    }
    if sequences.is_empty() {
        return None;
    }
    for column in &mut create.columns {
        if let Some(wide) = wide_numeric(&column.data_type) {
            column.data_type = wide;
        }
    }
    sequences.push(create.to_string());
    Some(sequences)
}

/// `varchar(n)`: DuckDB keeps no length, PostgreSQL refuses a longer value (22001). The
/// column gets `CHECK (length(column) <= n)`, whose failure the session reports as
/// PostgreSQL does ([`too_long`]); whether it did.
fn check_length(column: &mut sqlparser::ast::ColumnDef) -> bool {
    let (DataType::Varchar(Some(CharacterLength::IntegerLength { length, .. }))
    | DataType::CharacterVarying(Some(CharacterLength::IntegerLength { length, .. }))) = column.data_type
    else {
        return false;
    };
    let within = Expr::BinaryOp {
        left: Box::new(call("length", vec![Expr::Identifier(column.name.clone())])),
        op: BinaryOperator::LtEq,
        right: Box::new(Expr::value(Value::Number(length.to_string(), false))),
    };
    let check =
        sqlparser::ast::CheckConstraint { name: None, expr: Box::new(within), no_inherit: false, enforced: None };
    column.options.push(sqlparser::ast::ColumnOptionDef { name: None, option: ColumnOption::Check(check) });
    true
}

/// PostgreSQL's error for a value longer than its `varchar(n)` column, from DuckDB's report
/// of the CHECK that [`check_length`] added; `None` for other errors.
pub(crate) fn too_long(message: &str) -> Option<String> {
    static LENGTH_CHECK: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(
            r#"CHECK constraint failed on table .* with expression CHECK\(\(length\([^()]*\) <= (\d+)\)\)$"#,
        )
        .expect("valid regex")
    });
    let n = LENGTH_CHECK.captures(message)?.get(1)?.as_str().to_owned();
    Some(format!("value too long for type character varying({n})"))
}

/// Turns a `serial` or identity column into its integer type, NOT NULL, without the
/// identity; whether it was one.
fn make_integer(column: &mut sqlparser::ast::ColumnDef) -> bool {
    let serial = match &column.data_type {
        DataType::Custom(name, _) => match name.to_string().to_ascii_lowercase().as_str() {
            "serial" | "serial4" => Some(DataType::Integer(None)),
            "bigserial" | "serial8" => Some(DataType::BigInt(None)),
            "smallserial" | "serial2" => Some(DataType::SmallInt(None)),
            _ => None,
        },
        _ => None,
    };
    let identity =
        column.options.iter().position(|o| matches!(o.option, ColumnOption::Generated { generation_expr: None, .. }));
    if serial.is_none() && identity.is_none() {
        return false;
    }
    if let Some(t) = serial {
        column.data_type = t;
    }
    if let Some(at) = identity {
        column.options.remove(at);
    }
    if !column.options.iter().any(|o| matches!(o.option, ColumnOption::NotNull)) {
        column.options.push(sqlparser::ast::ColumnOptionDef { name: None, option: ColumnOption::NotNull });
    }
    true
}

fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Catalog functions whose arguments clients bind parameters to, and the types PostgreSQL's
/// signatures give those arguments (the emulation's macros leave them untyped).
const SIGNATURES: [(&str, &[SqlType]); 9] = [
    ("pg_get_constraintdef", &[SqlType::Oid, SqlType::Bool]),
    ("pg_get_indexdef", &[SqlType::Oid, SqlType::Int4, SqlType::Bool]),
    ("pg_get_expr", &[SqlType::Text, SqlType::Oid, SqlType::Bool]),
    ("pg_get_viewdef", &[SqlType::Oid, SqlType::Bool]),
    ("format_type", &[SqlType::Oid, SqlType::Int4]),
    ("col_description", &[SqlType::Oid, SqlType::Int4]),
    ("generate_subscripts", &[SqlType::Unknown, SqlType::Int4]),
    ("array_length", &[SqlType::Unknown, SqlType::Int4]),
    ("set_config", &[SqlType::Text, SqlType::Text, SqlType::Bool]),
];

/// The types PostgreSQL gives parameters DuckDB cannot type, by parameter number: those cast
/// explicitly (`$1::int`, `CAST($2 AS date)`: DuckDB infers nothing from a cast, which accepts
/// any type) and those passed to catalog functions ([`SIGNATURES`]). Clients encode values by
/// these types (asyncpg refuses an int for a parameter described as text).
pub(crate) fn parameter_types(sql: &str) -> Vec<(usize, SqlType)> {
    if !sql.contains('$') {
        return Vec::new();
    }
    let Ok(statements) = Parser::parse_sql(&PostgreSqlDialect {}, sql) else { return Vec::new() };
    let number = |e: &Expr| match e {
        Expr::Value(v) => match &v.value {
            Value::Placeholder(p) => p.strip_prefix('$').and_then(|n| n.parse::<usize>().ok()),
            _ => None,
        },
        _ => None,
    };
    let mut types = Vec::new();
    let _ = sqlparser::ast::visit_expressions(&statements, |e| {
        match e {
            Expr::Cast { expr, data_type, .. } => {
                if let (Some(n), Some(t)) = (number(expr), sql_type_of(data_type)) {
                    types.push((n, t));
                }
            }
            Expr::Function(f) => {
                let name = f.name.0.last().and_then(|p| p.as_ident()).map(|i| i.value.to_ascii_lowercase());
                let signature = SIGNATURES.iter().find(|(n, _)| Some(*n) == name.as_deref()).map(|(_, s)| *s);
                if let (Some(signature), FunctionArguments::List(list)) = (signature, &f.args) {
                    for (arg, t) in list.args.iter().zip(signature) {
                        if let FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) = arg
                            && let Some(n) = number(e)
                            && *t != SqlType::Unknown
                        {
                            types.push((n, t.clone()));
                        }
                    }
                }
            }
            _ => {}
        }
        ControlFlow::<()>::Continue(())
    });
    types
}

/// The wire type of a PostgreSQL type name, for the types clients bind values to.
fn sql_type_of(t: &DataType) -> Option<SqlType> {
    Some(match t {
        DataType::Bool | DataType::Boolean => SqlType::Bool,
        DataType::SmallInt(_) | DataType::Int2(_) => SqlType::Int2,
        DataType::Int(_) | DataType::Integer(_) | DataType::Int4(_) => SqlType::Int4,
        DataType::BigInt(_) | DataType::Int8(_) => SqlType::Int8,
        DataType::Real | DataType::Float4 => SqlType::Float4,
        DataType::DoublePrecision | DataType::Float8 | DataType::Double(_) => SqlType::Float8,
        DataType::Numeric(_) | DataType::Decimal(_) => SqlType::Numeric { precision: 38, scale: 10 },
        DataType::Text
        | DataType::Varchar(_)
        | DataType::CharacterVarying(_)
        | DataType::Char(_)
        | DataType::Character(_)
        | DataType::String(_) => SqlType::Text,
        DataType::Bytea => SqlType::Bytea,
        DataType::Date => SqlType::Date,
        DataType::Time(_, _) => SqlType::Time,
        DataType::Timestamp(_, TimezoneInfo::WithTimeZone | TimezoneInfo::Tz) => SqlType::TimestampTz,
        DataType::Timestamp(_, _) => SqlType::Timestamp,
        DataType::Interval { .. } => SqlType::Interval,
        DataType::Uuid => SqlType::Uuid,
        DataType::JSON | DataType::JSONB => SqlType::Json,
        DataType::Array(ArrayElemTypeDef::SquareBracket(inner, _)) => SqlType::Array(Box::new(sql_type_of(inner)?)),
        // What the session casts an oid parameter to.
        t if t.to_string().eq_ignore_ascii_case("UINTEGER") => SqlType::Oid,
        _ => return None,
    })
}

/// Whether `sql` is `CREATE TABLE … AS query` (whose command tag counts the rows written).
pub(crate) fn creates_table_as(sql: &str) -> bool {
    let lower = sql.to_ascii_lowercase();
    if !lower.contains(" as") {
        return false;
    }
    match Parser::parse_sql(&PostgreSqlDialect {}, sql).as_deref() {
        Ok([Statement::CreateTable(create)]) => create.query.is_some(),
        _ => false,
    }
}

/// Whether the statement can hold anything [`to_duckdb`] rewrites: most catalog queries
/// and plain reads never get parsed.
fn worth_parsing(sql: &str) -> bool {
    let lower = sql.to_ascii_lowercase();
    sql.contains(['/', '%', '#'])
        || [
            "numeric",
            "decimal",
            "dec",
            "bytea",
            "timestamp",
            "[]",
            "mod(",
            "div(",
            "like",
            "serial",
            "identity",
            "char",
        ]
        .iter()
        .any(|w| lower.contains(w))
        || VALUES_LIST.is_match(&lower)
        || (lower.contains("group by") && lower.contains(" as "))
}

/// A VALUES list as a statement or in FROM, whose columns PostgreSQL names `column1`, ….
static VALUES_LIST: std::sync::LazyLock<regex::Regex> =
    std::sync::LazyLock::new(|| regex::Regex::new(r"(^|\()\s*values\b").expect("valid regex"));

struct Rewriter {
    changed: bool,
    zone: Option<Tz>,
}

impl VisitorMut for Rewriter {
    type Break = ();

    /// `(VALUES …) AS t` names the columns it does not alias column1, … as PostgreSQL does.
    fn post_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        if let TableFactor::Derived { subquery, alias: Some(alias), .. } = factor
            && let SetExpr::Values(values) = subquery.body.as_ref()
            && let Some(width) = values.rows.first().map(|r| r.len())
            && alias.columns.len() < width
        {
            let named = alias.columns.len();
            alias.columns.extend((named + 1..=width).map(|i| TableAliasColumnDef::from_name(format!("column{i}"))));
            self.changed = true;
        }
        ControlFlow::Continue(())
    }

    /// `GROUP BY name`, where `name` is an output column's alias and also a relation's
    /// alias, groups by the output column in PostgreSQL (a relation is no input column) and
    /// by the relation's whole row in DuckDB, which then refuses the select list. dbt's
    /// listing of view dependencies is written so. The item becomes the column's position.
    fn post_visit_select(&mut self, select: &mut Select) -> ControlFlow<()> {
        let GroupByExpr::Expressions(items, _) = &mut select.group_by else { return ControlFlow::Continue(()) };
        let relations: Vec<String> = select
            .from
            .iter()
            .flat_map(|t| std::iter::once(&t.relation).chain(t.joins.iter().map(|j| &j.relation)))
            .filter_map(|factor| match factor {
                TableFactor::Table { alias: Some(alias), .. } | TableFactor::Derived { alias: Some(alias), .. } => {
                    Some(folded(&alias.name))
                }
                _ => None,
            })
            .collect();
        for item in items {
            let Expr::Identifier(name) = item else { continue };
            let name = folded(name);
            if !relations.contains(&name) {
                continue;
            }
            let position = select
                .projection
                .iter()
                .position(|p| matches!(p, SelectItem::ExprWithAlias { alias, .. } if folded(alias) == name));
            if let Some(i) = position {
                *item = Expr::value(Value::Number((i + 1).to_string(), false));
                self.changed = true;
            }
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        match expr {
            Expr::BinaryOp { op: BinaryOperator::Divide | BinaryOperator::Modulo, right, .. }
                if !is_divisor_guard(right) =>
            {
                guard(right);
                self.changed = true;
            }
            Expr::Function(f) if is_named(f, &["div", "mod"]) => {
                if let FunctionArguments::List(list) = &mut f.args
                    && let Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(divisor))) = list.args.get_mut(1)
                    && !is_divisor_guard(divisor)
                {
                    let mut boxed = Box::new(std::mem::replace(divisor, Expr::value(Value::Null)));
                    guard(&mut boxed);
                    *divisor = *boxed;
                    self.changed = true;
                }
            }
            Expr::Cast { kind: CastKind::Cast | CastKind::DoubleColon, expr: operand, data_type, .. } => {
                if let Some(replacement) = literal_cast(operand, data_type, self.zone) {
                    *expr = replacement;
                    self.changed = true;
                } else if let Some(wide) = wide_numeric(data_type) {
                    *data_type = wide;
                    self.changed = true;
                }
            }
            // PostgreSQL's LIKE escapes with a backslash unless told otherwise; DuckDB's has no
            // escape character ('a\_b' matches 'a_b' only in PostgreSQL). A literal pattern
            // without a backslash means the same either way and keeps DuckDB's fast paths.
            Expr::Like { escape_char: escape @ None, any: false, pattern, .. }
            | Expr::ILike { escape_char: escape @ None, any: false, pattern, .. }
                if string_of(pattern).is_none_or(|p| p.contains('\\')) =>
            {
                *escape = Some(Box::new(Expr::value(Value::SingleQuotedString("\\".into()))));
                self.changed = true;
            }
            // `#` is PostgreSQL's bitwise XOR; DuckDB spells it xor().
            Expr::BinaryOp { op: BinaryOperator::PGBitwiseXor, left, right } => {
                let (l, r) = (
                    std::mem::replace(&mut **left, Expr::value(Value::Null)),
                    std::mem::replace(&mut **right, Expr::value(Value::Null)),
                );
                *expr = call("xor", vec![l, r]);
                self.changed = true;
            }
            Expr::TypedString(typed) => {
                let operand = Expr::Value(typed.value.clone());
                if let Some(replacement) = literal_cast(&operand, &typed.data_type, self.zone) {
                    *expr = replacement;
                    self.changed = true;
                }
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

impl Rewriter {
    /// A statement that is a VALUES list reads as `SELECT * FROM (VALUES …) AS
    /// "*VALUES*"(column1, …)`: PostgreSQL names its columns column1, …; DuckDB col0, ….
    fn top_level_values(&mut self, statement: &mut Statement) {
        let Statement::Query(query) = statement else { return };
        let SetExpr::Values(values) = query.body.as_ref() else { return };
        let Some(width) = values.rows.first().map(|r| r.len()) else { return };
        let columns: Vec<String> = (1..=width).map(|i| format!("column{i}")).collect();
        let wrapped = format!("SELECT * FROM ({values}) AS \"*VALUES*\"({})", columns.join(", "));
        let Ok(mut parsed) = Parser::parse_sql(&PostgreSqlDialect {}, &wrapped) else { return };
        let Some(Statement::Query(select)) = parsed.pop() else { return };
        query.body = select.body;
        self.changed = true;
    }

    /// Unconstrained `numeric` columns of CREATE TABLE and ALTER TABLE; serial and identity
    /// columns of CREATE TABLE are prepared (described) as the integer columns they will be
    /// (running the statement creates their sequences first: [`sequenced_table`]).
    fn column_types(&mut self, statement: &mut Statement) {
        let widen = |data_type: &mut DataType| {
            let wide = wide_numeric(data_type);
            wide.map(|wide| *data_type = wide).is_some()
        };
        let mut changed = false;
        match statement {
            Statement::CreateTable(create) => {
                for column in &mut create.columns {
                    changed |= widen(&mut column.data_type);
                    changed |= make_integer(column);
                    changed |= check_length(column);
                }
            }
            Statement::AlterTable(alter) => {
                for op in &mut alter.operations {
                    if let AlterTableOperation::AddColumn { column_def, .. } = op {
                        changed |= widen(&mut column_def.data_type);
                        changed |= check_length(column_def);
                    }
                }
            }
            _ => {}
        }
        self.changed |= changed;
    }
}

/// An identifier as PostgreSQL compares it: folded to lower case unless quoted.
fn folded(name: &Ident) -> String {
    if name.quote_style.is_some() { name.value.clone() } else { name.value.to_lowercase() }
}

fn is_named(f: &Function, names: &[&str]) -> bool {
    f.name.0.len() == 1 && names.iter().any(|n| f.name.to_string().eq_ignore_ascii_case(n))
}

fn is_divisor_guard(e: &Expr) -> bool {
    matches!(e, Expr::Function(f) if is_named(f, &[DIVISOR_MACRO]))
}

/// Replaces `divisor` by `ds_divisor(divisor)`.
fn guard(divisor: &mut Box<Expr>) {
    let inner = std::mem::replace(divisor.as_mut(), Expr::value(Value::Null));
    **divisor = call(DIVISOR_MACRO, vec![inner]);
}

fn call(name: &str, args: Vec<Expr>) -> Expr {
    Expr::Function(Function {
        name: ObjectName::from(vec![Ident::new(name)]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: args.into_iter().map(|a| FunctionArg::Unnamed(FunctionArgExpr::Expr(a))).collect(),
            clauses: vec![],
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: vec![],
    })
}

fn string_of(e: &Expr) -> Option<&str> {
    match e {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) | Value::EscapedStringLiteral(s) => Some(s),
            _ => None,
        },
        _ => None,
    }
}

fn is_unconstrained_numeric(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Numeric(ExactNumberInfo::None)
            | DataType::Decimal(ExactNumberInfo::None)
            | DataType::Dec(ExactNumberInfo::None)
    )
}

/// DECIMAL(38, 10) for an unconstrained `numeric`, else `None`.
fn wide_numeric(t: &DataType) -> Option<DataType> {
    if is_unconstrained_numeric(t) {
        return Some(DataType::Decimal(ExactNumberInfo::PrecisionAndScale(38, WIDE_SCALE)));
    }
    match t {
        DataType::Array(ArrayElemTypeDef::SquareBracket(inner, size)) => {
            wide_numeric(inner).map(|w| DataType::Array(ArrayElemTypeDef::SquareBracket(Box::new(w), *size)))
        }
        _ => None,
    }
}

/// The replacement of a literal cast DuckDB would read differently, if it is one.
fn literal_cast(operand: &Expr, t: &DataType, zone: Option<Tz>) -> Option<Expr> {
    if is_unconstrained_numeric(t) {
        let digits = match operand {
            Expr::Value(v) => match &v.value {
                Value::Number(n, _) => n.clone(),
                Value::SingleQuotedString(s) => s.trim().to_owned(),
                _ => return None,
            },
            Expr::UnaryOp { op: sqlparser::ast::UnaryOperator::Minus, expr } => match expr.as_ref() {
                Expr::Value(v) => match &v.value {
                    Value::Number(n, _) => n.clone(),
                    _ => return None,
                },
                _ => return None,
            },
            _ => return None,
        };
        let scale = decimal_scale(&digits)?;
        return Some(Expr::Cast {
            kind: CastKind::Cast,
            expr: Box::new(operand.clone()),
            data_type: DataType::Decimal(ExactNumberInfo::PrecisionAndScale(38, scale)),
            format: None,
        });
    }
    let text = string_of(operand)?;
    match t {
        DataType::Bytea => {
            let bytes = bytea_bytes(text)?;
            Some(call("unhex", vec![Expr::value(Value::SingleQuotedString(hex(&bytes)))]))
        }
        DataType::Timestamp(_, _) | DataType::TimestampNtz(_) => {
            let seconds = with_seconds(text);
            let zoned = match (t, zone) {
                (DataType::Timestamp(_, TimezoneInfo::WithTimeZone | TimezoneInfo::Tz), Some(zone)) => {
                    in_zone(seconds.as_deref().unwrap_or(text), zone)
                }
                _ => None,
            };
            let fixed = zoned.or(seconds)?;
            Some(Expr::Cast {
                kind: CastKind::Cast,
                expr: Box::new(Expr::value(Value::SingleQuotedString(fixed))),
                data_type: t.clone(),
                format: None,
            })
        }
        DataType::Array(ArrayElemTypeDef::SquareBracket(inner, _)) => {
            let elements = duckstore_plugin_sdk::sql::pg_array_elements(text)?;
            let list = Expr::Array(sqlparser::ast::Array {
                elem: elements
                    .into_iter()
                    .map(|e| e.map_or(Expr::value(Value::Null), |s| Expr::value(Value::SingleQuotedString(s))))
                    .collect(),
                named: false,
            });
            let element = wide_numeric(inner).unwrap_or_else(|| (**inner).clone());
            Some(Expr::Cast {
                kind: CastKind::Cast,
                expr: Box::new(list),
                data_type: DataType::Array(ArrayElemTypeDef::SquareBracket(Box::new(element), None)),
                format: None,
            })
        }
        _ => None,
    }
}

/// The scale of a decimal literal (`1.23456` → 5, `12e3` → none: left to DuckDB), if it
/// fits DECIMAL(38, s).
fn decimal_scale(text: &str) -> Option<i64> {
    let t = text.trim().trim_start_matches(['+', '-']);
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit() || b == b'.') || t.matches('.').count() > 1 {
        return None;
    }
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    let int_digits = int.trim_start_matches('0').len();
    (int_digits + frac.len() <= 38).then_some(frac.len() as i64)
}

/// The bytes of a `bytea` literal in PostgreSQL's hex (`\x…`) or escape form.
pub(crate) fn bytea_bytes(text: &str) -> Option<Vec<u8>> {
    if let Some(hex_digits) = text.strip_prefix("\\x").or_else(|| text.strip_prefix("\\X")) {
        let digits: Vec<u8> = hex_digits.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        if !digits.len().is_multiple_of(2) {
            return None;
        }
        return digits.chunks(2).map(|pair| u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()).collect();
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            out.push(bytes[i]);
            i += 1;
        } else if bytes.get(i + 1) == Some(&b'\\') {
            out.push(b'\\');
            i += 2;
        } else {
            let octal = bytes.get(i + 1..i + 4)?;
            if !octal.iter().all(|b| (b'0'..=b'7').contains(b)) {
                return None;
            }
            out.push(u8::from_str_radix(std::str::from_utf8(octal).ok()?, 8).ok()?);
            i += 4;
        }
    }
    Some(out)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A timestamp without an offset, read in the session's time zone as PostgreSQL reads it:
/// `2024-07-01 12:00:00` in Europe/Prague → `2024-07-01 12:00:00+02:00`. `None` when the
/// text has an offset or a zone of its own, or is no plain timestamp.
fn in_zone(text: &str, zone: Tz) -> Option<String> {
    use chrono::{NaiveDateTime, Offset, TimeZone};
    let t = text.trim();
    let local = NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S%.f")
        .or_else(|_| NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f"))
        .ok()?;
    // A wall-clock time a DST change skips or repeats: PostgreSQL takes the earlier offset.
    let offset = zone.offset_from_local_datetime(&local).earliest()?.fix().local_minus_utc();
    let sign = if offset < 0 { '-' } else { '+' };
    let minutes = offset.unsigned_abs() / 60;
    Some(format!("{t}{sign}{:02}:{:02}", minutes / 60, minutes % 60))
}

/// `2024-07-01 12:00+00` → `2024-07-01 12:00:00+00`; `None` when the text has seconds (or
/// is not such a timestamp).
fn with_seconds(text: &str) -> Option<String> {
    let t = text.trim();
    let b = t.as_bytes();
    // YYYY-MM-DD, a space or T, H[H]:MM, then the end or a zone.
    if b.len() < 15 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b' ' | b'T') {
        return None;
    }
    let clock = &t[11..];
    let hour_len = clock.find(':')?;
    if !(1..=2).contains(&hour_len) {
        return None;
    }
    let minutes = clock.get(hour_len + 1..hour_len + 3)?;
    if !minutes.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let cut = 11 + hour_len + 3;
    let rest = &t[cut..];
    if rest.starts_with(':') || rest.starts_with('.') {
        return None;
    }
    Some(format!("{}:00{rest}", &t[..cut]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn divisors_are_guarded_everywhere_once() {
        assert_eq!(to_duckdb("SELECT 1/0", None), "SELECT 1 / ds_divisor(0)");
        assert_eq!(
            to_duckdb("select a % b from t where c / 2 > 1", None),
            "SELECT a % ds_divisor(b) FROM t WHERE c / ds_divisor(2) > 1"
        );
        assert_eq!(to_duckdb("SELECT mod(7, x)", None), "SELECT mod(7, ds_divisor(x))");
        let once = to_duckdb("SELECT 1/0", None);
        assert_eq!(to_duckdb(&once, None), once);
    }

    #[test]
    fn unconstrained_numerics_keep_their_digits() {
        assert_eq!(to_duckdb("SELECT 1.23456::numeric", None), "SELECT CAST(1.23456 AS DECIMAL(38,5))");
        assert_eq!(
            to_duckdb("SELECT 1234567890123456789.5::numeric", None),
            "SELECT CAST(1234567890123456789.5 AS DECIMAL(38,1))"
        );
        assert_eq!(to_duckdb("SELECT $1::numeric", None), "SELECT $1::DECIMAL(38,10)");
        assert_eq!(to_duckdb("SELECT x::numeric(10,2) FROM t", None), "SELECT x::numeric(10,2) FROM t");
        assert_eq!(
            to_duckdb("create table t (a numeric, b numeric(5,1))", None),
            "CREATE TABLE t (a DECIMAL(38,10), b NUMERIC(5,1))"
        );
    }

    #[test]
    fn bytea_literals_in_either_form_become_their_bytes() {
        assert_eq!(to_duckdb(r"SELECT '\x626c6f6231'::bytea", None), "SELECT unhex('626c6f6231')");
        assert_eq!(to_duckdb(r"SELECT 'a\\b\001'::bytea", None), "SELECT unhex('615c6201')");
    }

    #[test]
    fn timestamps_without_seconds_and_array_literals_read_as_postgres_reads_them() {
        assert_eq!(
            to_duckdb("select '2024-07-01 12:00+00'::timestamptz", None),
            "SELECT CAST('2024-07-01 12:00:00+00' AS TIMESTAMPTZ)"
        );
        assert_eq!(
            to_duckdb("select '2024-07-01 12:00:30+00'::timestamptz", None),
            "select '2024-07-01 12:00:30+00'::timestamptz"
        );
        assert_eq!(to_duckdb("select '{1,2,NULL}'::int[]", None), "SELECT CAST(['1', '2', NULL] AS INT[])");
        assert_eq!(to_duckdb(r#"select '{"a b",c}'::text[]"#, None), "SELECT CAST(['a b', 'c'] AS TEXT[])");
    }

    #[test]
    fn timestamps_without_an_offset_are_read_in_the_session_zone() {
        let prague: Tz = "Europe/Prague".parse().unwrap();
        assert_eq!(
            to_duckdb("select '2024-07-01 12:00:00'::timestamptz", Some(prague)),
            "SELECT CAST('2024-07-01 12:00:00+02:00' AS TIMESTAMPTZ)"
        );
        assert_eq!(
            to_duckdb("select '2024-01-01 12:00'::timestamptz", Some(prague)),
            "SELECT CAST('2024-01-01 12:00:00+01:00' AS TIMESTAMPTZ)"
        );
        let with_offset = "select '2024-07-01 12:00:00+00'::timestamptz";
        assert_eq!(to_duckdb(with_offset, Some(prague)), with_offset);
        let plain = "select '2024-07-01 12:00:00'::timestamp";
        assert_eq!(to_duckdb(plain, Some(prague)), plain);
    }

    #[test]
    fn like_escapes_with_a_backslash_and_values_columns_are_named_as_in_postgres() {
        assert_eq!(to_duckdb("SELECT 'a_b' LIKE 'a\\_b'", None), "SELECT 'a_b' LIKE 'a\\_b' ESCAPE '\\'");
        assert_eq!(
            to_duckdb("SELECT x FROM t WHERE x NOT ILIKE y", None),
            "SELECT x FROM t WHERE x NOT ILIKE y ESCAPE '\\'"
        );
        // A literal pattern without a backslash reads the same either way.
        assert_eq!(to_duckdb("SELECT x FROM t WHERE x LIKE 'a%'", None), "SELECT x FROM t WHERE x LIKE 'a%'");
        assert_eq!(to_duckdb("SELECT 5 # 3", None), "SELECT xor(5, 3)");
        assert_eq!(
            to_duckdb("VALUES (1, 'a'), (2, 'b') ORDER BY 1", None),
            "SELECT * FROM (VALUES (1, 'a'), (2, 'b')) AS \"*VALUES*\" (column1, column2) ORDER BY 1"
        );
        assert_eq!(
            to_duckdb("SELECT * FROM (VALUES (1, 2)) AS t(a)", None),
            "SELECT * FROM (VALUES (1, 2)) AS t (a, column2)"
        );
        assert_eq!(to_duckdb("INSERT INTO t VALUES (1)", None), "INSERT INTO t VALUES (1)");
    }

    #[test]
    fn literals_written_to_bytea_and_array_columns_read_as_postgres_reads_them() {
        use TextForm::*;
        let mut columns = |_: Option<&str>, table: &str| {
            (table == "t").then(|| {
                vec![("id".to_owned(), Same), ("v".to_owned(), Bytea), ("s".to_owned(), Same), ("a".to_owned(), Array)]
            })
        };
        assert_eq!(
            text_forms_written(
                r"INSERT INTO t VALUES (1, '\xdeadbeef', '\x41', '{1,2}'), (2, 'a\000b', 'x', '{}')",
                &mut columns
            )
            .as_deref(),
            Some(r"INSERT INTO t VALUES (1, unhex('deadbeef'), '\x41', ['1', '2']), (2, unhex('610062'), 'x', [])")
        );
        assert_eq!(
            text_forms_written(r"INSERT INTO t (s, v) VALUES ('\x41', '\x41')", &mut columns).as_deref(),
            Some(r"INSERT INTO t (s, v) VALUES ('\x41', unhex('41'))")
        );
        assert_eq!(
            text_forms_written(
                r#"UPDATE t SET v = '\x00ff', s = '{x}', a = '{"a b",NULL}' WHERE id = 1"#,
                &mut columns
            )
            .as_deref(),
            Some(r"UPDATE t SET v = unhex('00ff'), s = '{x}', a = ['a b', NULL] WHERE id = 1")
        );
        assert_eq!(text_forms_written(r"INSERT INTO other VALUES ('\x41')", &mut columns), None);
        assert_eq!(text_forms_written("INSERT INTO t VALUES (1, 'plain', 'x', NULL)", &mut columns), None);
    }

    #[test]
    fn serial_and_identity_columns_draw_from_a_sequence_made_with_the_table() {
        assert_eq!(
            sequenced_table("CREATE TABLE s.t (id bigserial PRIMARY KEY, n text)"),
            Some(vec![
                r#"CREATE OR REPLACE SEQUENCE "s"."t_id_seq""#.to_owned(),
                r#"CREATE TABLE s.t (id BIGINT PRIMARY KEY NOT NULL DEFAULT nextval('"s"."t_id_seq"'), n TEXT)"#
                    .to_owned()
            ])
        );
        assert_eq!(
            sequenced_table("CREATE TABLE IF NOT EXISTS t (id int GENERATED ALWAYS AS IDENTITY, v text)"),
            Some(vec![
                r#"CREATE SEQUENCE IF NOT EXISTS "t_id_seq""#.to_owned(),
                r#"CREATE TABLE IF NOT EXISTS t (id INT NOT NULL DEFAULT nextval('"t_id_seq"'), v TEXT)"#.to_owned()
            ])
        );
        assert_eq!(sequenced_table("CREATE TABLE t (id int)"), None);
        assert_eq!(
            to_duckdb("CREATE TABLE t (c varchar(3), d character varying(10) NOT NULL, e varchar)", None),
            "CREATE TABLE t (c VARCHAR(3) CHECK (length(c) <= 3), d CHARACTER VARYING(10) NOT NULL CHECK (length(d) <= 10), e VARCHAR)"
        );
        let failed = "Constraint Error: CHECK constraint failed on table t with expression CHECK((length(c) <= 3))";
        assert_eq!(too_long(failed).as_deref(), Some("value too long for type character varying(3)"));
        assert_eq!(
            too_long("Constraint Error: CHECK constraint failed on table t with expression CHECK((x > 0))"),
            None
        );
        // Described as the table it makes.
        assert_eq!(
            to_duckdb("CREATE TABLE t (id serial, v text)", None),
            "CREATE TABLE t (id INTEGER NOT NULL, v TEXT)"
        );
    }

    #[test]
    fn parameters_take_the_type_of_their_cast_or_catalog_function() {
        assert_eq!(
            parameter_types("SELECT generate_subscripts(a, $1::INTEGER), $2, CAST($3 AS timestamptz), $4::text[]"),
            vec![(1, SqlType::Int4), (3, SqlType::TimestampTz), (4, SqlType::Array(Box::new(SqlType::Text)))]
        );
        assert_eq!(parameter_types("SELECT $1::regclass"), vec![]);
        assert_eq!(
            parameter_types("SELECT pg_catalog.pg_get_constraintdef(c.oid, $1), format_type($2, $3) FROM c"),
            vec![(1, SqlType::Bool), (2, SqlType::Oid), (3, SqlType::Int4)]
        );
    }

    #[test]
    fn group_by_an_output_alias_that_is_also_a_relation_groups_by_the_output_column() {
        let sql = "select s.name as s, count(*) from (select 'a' as name) as s group by s order by s";
        assert_eq!(
            to_duckdb(sql, None),
            "SELECT s.name AS s, count(*) FROM (SELECT 'a' AS name) AS s GROUP BY 1 ORDER BY s"
        );
        let plain = "select name as n, count(*) from t as x group by n";
        assert_eq!(to_duckdb(plain, None), plain, "an alias no relation shares is DuckDB's to resolve");
    }

    #[test]
    fn renames_are_read_with_or_without_schema_and_database() {
        let renamed = |sql| renamed_relation(sql).map(|(s, n)| (s.unwrap_or_default(), n));
        assert_eq!(renamed("alter table m rename to n"), Some((String::new(), "m".into())));
        assert_eq!(renamed(r#"ALTER TABLE "s"."m" RENAME TO "n""#), Some(("s".into(), "m".into())));
        assert_eq!(
            renamed(r#"alter table "ws_1"."public"."m__dbt_tmp" rename to "m""#),
            Some(("public".into(), "m__dbt_tmp".into()))
        );
        assert_eq!(renamed("alter table m add column x int"), None);
    }

    #[test]
    fn what_needs_no_rewrite_is_passed_on_as_written() {
        let sql = "select * from \"in.c-b\".t where id = $1 -- a comment";
        assert_eq!(to_duckdb(sql, None), sql);
        let duckdb_only = "FROM t SELECT a / b";
        assert_eq!(to_duckdb(duckdb_only, None), duckdb_only);
    }
}
