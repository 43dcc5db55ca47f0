//! PostgreSQL compatibility for workspace sessions: the catalog emulation run on each
//! session connection (`pg_catalog.sql`) and a rewriter that turns the PostgreSQL-only
//! syntax real clients send (psql, pgjdbc, SQLAlchemy, dbt; see docs/pg-compatibility.md)
//! into DuckDB SQL.
//!
//! The rewriter never touches string literals, quoted identifiers or comments: they are
//! masked as `\x01<n>\x02` placeholders first, the rules run on what is left, and the
//! originals are put back.

use std::sync::LazyLock;

use regex::{Captures, Regex};

/// The catalog emulation, with `{DBNAME}` and `{USER}` to replace.
pub(crate) const CATALOG_SQL: &str = include_str!("pg_catalog.sql");

/// A masked token: its kind (`S` string, `E` escape string, `I` quoted identifier,
/// `C` comment, `D` dollar-quoted string) and its original text.
type Token = (char, String);

fn placeholder(i: usize) -> String {
    format!("\x01{i}\x02")
}

/// Replaces literals, quoted identifiers and comments by placeholders.
fn mask(sql: &str) -> (String, Vec<Token>) {
    let b = sql.as_bytes();
    let n = b.len();
    let (mut toks, mut out, mut i) = (Vec::<Token>::new(), String::with_capacity(n), 0usize);
    let push = |toks: &mut Vec<Token>, out: &mut String, kind: char, text: &str| {
        toks.push((kind, text.to_owned()));
        out.push_str(&placeholder(toks.len() - 1));
    };
    // Ends of a quoted run starting at `from` (just past the opening quote), honouring
    // doubled quotes and, for E-strings, backslash escapes.
    let quoted_end = |from: usize, quote: u8, backslash: bool| {
        let mut j = from;
        while j < n {
            if backslash && b[j] == b'\\' {
                j += 2;
                continue;
            }
            if b[j] == quote {
                if j + 1 < n && b[j + 1] == quote {
                    j += 2;
                    continue;
                }
                return j + 1;
            }
            j += 1;
        }
        n
    };
    while i < n {
        let c = b[i];
        let prev_word = i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_');
        let end = if (c == b'e' || c == b'E') && i + 1 < n && b[i + 1] == b'\'' && !prev_word {
            Some(('E', quoted_end(i + 2, b'\'', true)))
        } else if c == b'\'' {
            Some(('S', quoted_end(i + 1, b'\'', false)))
        } else if c == b'"' {
            Some(('I', quoted_end(i + 1, b'"', false)))
        } else if sql[i..].starts_with("--") {
            Some(('C', sql[i..].find('\n').map_or(n, |j| i + j)))
        } else if sql[i..].starts_with("/*") {
            Some(('C', sql[i + 2..].find("*/").map_or(n, |j| i + 2 + j + 2)))
        } else if c == b'$' {
            DOLLAR_TAG.find(&sql[i..]).map(|m| {
                let tag = m.as_str();
                ('D', sql[i + tag.len()..].find(tag).map_or(n, |j| i + tag.len() + j + tag.len()))
            })
        } else {
            None
        };
        match end {
            Some((kind, end)) => {
                let end = end.min(n);
                push(&mut toks, &mut out, kind, &sql[i..end]);
                i = end;
            }
            None => {
                let ch = sql[i..].chars().next().expect("in bounds");
                out.push(ch);
                i += ch.len_utf8();
            }
        }
    }
    (out, toks)
}

fn unmask(s: &str, toks: &[Token]) -> String {
    PLACEHOLDER.replace_all(s, |c: &Captures| toks[c[1].parse::<usize>().expect("digits")].1.clone()).into_owned()
}

fn token<'a>(toks: &'a [Token], ph: &str) -> Option<&'a Token> {
    PLACEHOLDER.captures(ph).filter(|c| c[0].len() == ph.len()).map(|c| &toks[c[1].parse::<usize>().expect("digits")])
}

/// The content of a string literal token, without its quotes.
fn content(t: &Token) -> &str {
    let skip = if t.0 == 'E' { 2 } else { 1 };
    &t.1[skip..t.1.len() - 1]
}

fn new_literal(toks: &mut Vec<Token>, kind: char, content: &str) -> String {
    toks.push((kind, format!("{}'{content}'", if kind == 'E' { "E" } else { "" })));
    placeholder(toks.len() - 1)
}

macro_rules! re {
    ($name:ident, $pattern:expr) => {
        static $name: LazyLock<Regex> = LazyLock::new(|| Regex::new(&$pattern).expect("valid regex"));
    };
}

const IDENT: &str = r"(?:\x01\d+\x02|[A-Za-z_][\w$]*)(?:\s*\.\s*(?:\x01\d+\x02|[A-Za-z_][\w$]*))*";
const TYPQ: &str = r"(?:pg_catalog\s*\.\s*)?";

re!(PLACEHOLDER, r"\x01(\d+)\x02");
re!(DOLLAR_TAG, r"^\$(?:[A-Za-z_]\w*)?\$");
re!(OPERATOR, format!(r"(?i)OPERATOR\s*\(\s*{TYPQ}([~!<>=*+\-/@#%^&|?]+)\s*\)"));
re!(COLLATE, format!(r"(?i)\s+COLLATE\s+{TYPQ}(?:default\b|\x01\d+\x02)"));
re!(REGEX_OP, r"(!?)~(\*?)\s*(\x01\d+\x02|\$\d+)");
re!(EXPANDARRAY, r"(?i)\binformation_schema\s*\.\s*(_pg_expandarray)\b");
// `[database.]information_schema.view`, each part a bare word or a masked quoted identifier
re!(
    INFORMATION_SCHEMA,
    concat!(
        r"(?i)(?:(\x01\d+\x02|\b[A-Za-z_][\w$]*)\s*\.\s*)?",
        r"(\x01\d+\x02|\binformation_schema)\s*\.\s*(\x01\d+\x02|[A-Za-z_]\w*)"
    )
);
re!(CAST_OPEN, r"(?i)\bCAST\s*\(");
re!(
    REG_CAST,
    format!(
        r"(?i)({IDENT}|\$\d+|CAST\(\$\d+ AS \w+\))\s*::\s*{TYPQ}(regclass|regtype|regproc|regnamespace)\b(\s*::\s*{TYPQ}(?:text|varchar)\b)?"
    )
);
re!(
    REG_CAST_REST,
    format!(r"(?i)::\s*{TYPQ}(?:regclass|regtype|regproc|regprocedure|regoper|regoperator|regnamespace|regrole)\b")
);
re!(CAST_QUALIFIED, r"(?i)::\s*pg_catalog\s*\.\s*");
re!(CAST_NAME, r"(?i)::\s*name\b");
// DuckDB's own `oid` is a BIGINT; PostgreSQL's is the unsigned 32-bit type the catalog uses.
re!(CAST_OID, r"(?i)::\s*oid\b");
re!(TEXT_ARRAY_CAST, r"(?i)\x01(\d+)\x02\s*::\s*(?:text|varchar|name)\s*\[\s*\]");
re!(PG_CATALOG, r"(?i)\bpg_catalog\s*\.\s*");
re!(XID_AGE, r"(?i)\bpg_catalog\s*\.\s*age\s*\(");
re!(ANY_COLUMN, r"(?i)\b([a-z_][\w.]*)\s*=\s*ANY\s*\(\s*([a-z_][\w.]*|\$\d+)\s*\)");
re!(PARAMETER, r"\$([0-9]+)\b");
// pg_type's function columns are regproc: an oid compared with 0 (ADBC's type query), shown as
// a name. The emulation holds the names; PostgreSQL shows oid 0 as '-'.
re!(
    REGPROC_ZERO,
    r"(?i)\b((?:\w+\s*\.\s*)?(?:typinput|typoutput|typreceive|typsend|typmodin|typmodout|typanalyze))\s*(!=|<>|=)\s*0\b"
);
re!(JSON_BUILD_OBJECT, r"(?i)\bjson_build_object\s*\(");
re!(ARRAY_LITERAL, r"(=\s*)\x01(\d+)\x02");
re!(INT_ARRAY, r"^(?:\{\s*-?\d+(?:\s*,\s*-?\d+)*\s*\}|\{\})$");
re!(PUBLIC_DOT, r"(?i)public\s*\.");
re!(QUOTED_DOT, r"\x01(\d+)\x02\s*\.");
re!(SRF, r"(?i)\b(generate_series|unnest|generate_subscripts)\s*\(");
re!(SRF_ALIAS, r"(?i)^(\s+(?:AS\s+)?)([A-Za-z_]\w*)\b");
re!(CLAUSE_KEYWORD, r"(?i)\b(SELECT|FROM|JOIN|WHERE|GROUP|ORDER|HAVING|ON|LIMIT)\b");
re!(ENDS_FROM_JOIN, r"(?i)\b(FROM|JOIN)$");

/// `re.replace_all` where `f` may decline a match (`None` keeps it), standing in for the
/// look-around assertions the regex crate does not have.
fn replace_some(re: &Regex, s: &str, mut f: impl FnMut(&Captures, &str) -> Option<String>) -> String {
    let (mut out, mut last) = (String::with_capacity(s.len()), 0);
    for caps in re.captures_iter(s) {
        let m = caps.get(0).expect("whole match");
        if let Some(rep) = f(&caps, s) {
            out.push_str(&s[last..m.start()]);
            out.push_str(&rep);
            last = m.end();
        }
    }
    out.push_str(&s[last..]);
    out
}

/// The index just past the parenthesis closing the one opened before `from`.
fn close_paren(s: &str, from: usize) -> usize {
    let mut depth = 1;
    for (j, c) in s[from..].char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return from + j + 1;
                }
            }
            _ => {}
        }
    }
    s.len()
}

/// `CAST(<expr> AS <type>)` with balanced parentheses, for types matching `types`, → `f(expr, type)`.
fn rewrite_casts(s: &str, types: &Regex, f: &dyn Fn(&str, &str) -> String) -> String {
    let (mut out, mut i) = (String::new(), 0);
    while let Some(m) = CAST_OPEN.find_at(s, i) {
        let j = close_paren(s, m.end());
        let inner = &s[m.end()..j.saturating_sub(1).max(m.end())];
        match types.captures(inner) {
            Some(c) => {
                out.push_str(&s[i..m.start()]);
                out.push_str(&f(&rewrite_casts(&c[1], types, f), &c[2]));
                i = j;
            }
            None => {
                out.push_str(&s[i..m.end()]);
                i = m.end();
            }
        }
    }
    out.push_str(&s[i..]);
    out
}

re!(CAST_TO_TEXT, r"(?is)^(.*)\s+AS\s+(TEXT|VARCHAR)\s*$");
re!(CAST_TO_REG, r"(?is)^(.*)\s+AS\s+(REGCLASS|OID|REGTYPE|REGPROC|REGNAMESPACE)\s*$");
re!(INNER_REGCLASS, r"(?is)^\s*CAST\s*\((.*)\s+AS\s+REGCLASS\s*\)\s*$");

/// The elements of a PostgreSQL text array literal (`{a,"b c"}`, as written inside a
/// plain string, quotes doubled); `None` for forms left to DuckDB (nesting, escapes,
/// NULL, quoted commas).
fn text_array(body: &str) -> Option<Vec<String>> {
    let inner = body.strip_prefix('{')?.strip_suffix('}')?;
    if inner.trim().is_empty() {
        return Some(Vec::new());
    }
    let element = |e: &str| {
        let e = e.trim().replace("''", "'");
        if e.contains(['{', '}', '\\']) || e.eq_ignore_ascii_case("null") {
            return None;
        }
        match e.strip_prefix('"') {
            Some(quoted) => quoted.strip_suffix('"').filter(|q| !q.contains('"')).map(str::to_owned),
            None => (!e.is_empty() && !e.contains('"')).then_some(e),
        }
    };
    inner.split(',').map(element).collect()
}

/// The views of PostgreSQL's information_schema that the catalog emulation answers, as
/// `__information_schema_<view>` (pg_catalog.sql): DuckDB's own information_schema, which no
/// schema of the emulation can shadow, answers in DuckDB's names (schema `main`, `INTEGER`).
const INFORMATION_SCHEMA_VIEWS: &[&str] = &["tables", "columns", "schemata", "views"];

/// The name a bare word or a masked quoted identifier stands for, as PostgreSQL reads it (a
/// bare word folded to lower case); `None` for a masked literal.
fn identifier(toks: &[Token], word: &str) -> Option<String> {
    match token(toks, word) {
        Some(('I', text)) => text.strip_prefix('"')?.strip_suffix('"').map(|name| name.replace("\"\"", "\"")),
        Some(_) => None,
        None => Some(word.to_ascii_lowercase()),
    }
}

/// Rewrites one statement of PostgreSQL SQL into DuckDB SQL.
pub(crate) fn rewrite(sql: &str) -> String {
    // SQL holding the placeholders' markers (no client's SQL does) is left as it is.
    if sql.contains(['\x01', '\x02']) {
        return sql.to_owned();
    }
    let (s, mut toks) = mask(sql);
    // OPERATOR(pg_catalog.~) → ~
    let s = OPERATOR.replace_all(&s, " $1 ").into_owned();
    // COLLATE pg_catalog.default / "C": DuckDB has no such collations
    let s = COLLATE.replace_all(&s, "").into_owned();
    // PostgreSQL's ~ finds a match anywhere; DuckDB's matches the whole string
    let s = replace_some(&REGEX_OP, &s, |c, s| {
        let start = c.get(0).expect("match").start();
        if s[..start].ends_with(['~', '!']) {
            return None;
        }
        let (neg, flags, rhs) = (&c[1], if c[2].is_empty() { "(?s)" } else { "(?si)" }, &c[3]);
        if rhs.starts_with('$') {
            return Some(format!("{neg}~ ('{flags}.*(?:' || {rhs} || ').*')"));
        }
        let t = token(&toks, rhs)?.clone();
        if !matches!(t.0, 'S' | 'E') {
            return None;
        }
        Some(format!("{neg}~ {}", new_literal(&mut toks, t.0, &format!("{flags}.*(?:{}).*", content(&t)))))
    });
    let s = EXPANDARRAY.replace_all(&s, "$1").into_owned();
    // information_schema.columns (dbt: "db".information_schema."columns") → the emulation's view
    let s = replace_some(&INFORMATION_SCHEMA, &s, |c, _| {
        let (schema, view) = (identifier(&toks, &c[2])?, identifier(&toks, &c[3])?);
        let database_named = c.get(1).is_none_or(|m| identifier(&toks, m.as_str()).is_some());
        let known = schema == "information_schema" && INFORMATION_SCHEMA_VIEWS.contains(&view.as_str());
        (database_named && known).then(|| format!("__information_schema_{view}"))
    });
    // reg* pseudo-types
    let s = rewrite_casts(&s, &CAST_TO_TEXT, &|e, t| match INNER_REGCLASS.captures(e) {
        Some(c) => format!("__regclass_name({})", &c[1]),
        None => format!("CAST({e} AS {t})"),
    });
    let s = rewrite_casts(&s, &CAST_TO_REG, &|e, t| {
        if t.eq_ignore_ascii_case("regclass") { format!("__regclass_oid({e})") } else { format!("CAST({e} AS BIGINT)") }
    });
    let s = replace_some(&REG_CAST, &s, |c, _| {
        let (operand, ty, to_text) = (&c[1], c[2].to_ascii_lowercase(), c.get(3).is_some());
        // A literal or a parameter is a name to look up (`'t'::regclass`, `$1::regclass`: ADBC
        // sends the table's name); anything else is an oid to name.
        let literal = token(&toks, operand).filter(|t| matches!(t.0, 'S' | 'E')).cloned();
        // (A parameter may come cast to its declared type: `CAST($1 AS VARCHAR)`.)
        if literal.is_some() || operand.starts_with('$') || operand.starts_with("CAST(") {
            return Some(match (ty.as_str(), to_text) {
                ("regproc", _) => match literal {
                    Some(t) => new_literal(&mut toks, t.0, &content(&t).replace("pg_catalog.", "")),
                    None => operand.to_owned(),
                },
                ("regclass", true) => format!("__regclass_name(__regclass_oid({operand}))"),
                ("regtype", true) => format!("__regtype_name(to_regtype({operand}))"),
                ("regnamespace", true) => format!("CAST({operand} AS VARCHAR)"),
                ("regclass", false) => format!("__regclass_oid({operand})"),
                ("regtype", false) => format!("to_regtype({operand})"),
                _ => format!("(SELECT oid FROM pg_namespace WHERE nspname = {operand})"),
            });
        }
        Some(match ty.as_str() {
            "regclass" => format!("__regclass_name({operand})"),
            "regtype" => format!("__regtype_name({operand})"),
            "regnamespace" => format!("__regnamespace_name({operand})"),
            _ => operand.to_owned(),
        })
    });
    let s = REG_CAST_REST.replace_all(&s, "::BIGINT");
    let s = CAST_QUALIFIED.replace_all(&s, "::");
    // '{a,b}'::text[] (pgjdbc's getSQLKeywords): DuckDB casts no array literal text
    let s = replace_some(&TEXT_ARRAY_CAST, &s, |c, _| {
        let t = toks.get(c[1].parse::<usize>().ok()?)?.clone();
        let elements = if t.0 == 'S' { text_array(content(&t))? } else { return None };
        let items: Vec<String> = elements.iter().map(|e| new_literal(&mut toks, 'S', &e.replace('\'', "''"))).collect();
        Some(format!("[{}]::VARCHAR[]", items.join(", ")))
    });
    let s = REGPROC_ZERO.replace_all(&s, "$1 $2 '-'");
    let s = CAST_NAME.replace_all(&s, "::VARCHAR");
    let s = CAST_OID.replace_all(&s, "::UINTEGER");
    // `x = ANY(array_column)` and `x = ANY($1)` (an array parameter, as psycopg and asyncpg
    // send a list): DuckDB reads ANY as a subquery, which a LEFT JOIN condition cannot hold
    // (DataGrip's index query) and a parameter cannot be
    let s = ANY_COLUMN.replace_all(&s, "list_contains($2, $1)").into_owned();
    // DataGrip's transaction ages; unqualified `age` stays DuckDB's age of a timestamp
    let s = XID_AGE.replace_all(&s, "__pg_xid_age(");
    // the catalog emulation shadows DuckDB's built-ins only when unqualified
    let s = PG_CATALOG.replace_all(&s, "");
    let s = JSON_BUILD_OBJECT.replace_all(&s, "json_object(").into_owned();
    // '{1,2}' compared with = is an integer array in PostgreSQL
    let s = replace_some(&ARRAY_LITERAL, &s, |c, _| {
        let t = &toks[c[2].parse::<usize>().ok()?];
        let body = content(t);
        (matches!(t.0, 'S' | 'E') && INT_ARRAY.is_match(body))
            .then(|| format!("{}[{}]", &c[1], &body[1..body.len() - 1]))
    });
    // PostgreSQL's default schema is public; DuckDB's is main
    let s = replace_some(&PUBLIC_DOT, &s, |c, s| {
        let m = c.get(0).expect("match");
        let before_ok =
            !s[..m.start()].ends_with(|ch: char| ch.is_alphanumeric() || ch == '_' || ch == '.' || ch == '$');
        let after = s[m.end()..].trim_start();
        let after_ok = after.starts_with(|ch: char| ch.is_alphanumeric() || ch == '_' || ch == '\x01');
        (before_ok && after_ok).then(|| "main.".to_owned())
    });
    let s = replace_some(&QUOTED_DOT, &s, |c, _| {
        (toks[c[1].parse::<usize>().ok()?].1 == "\"public\"").then(|| "main.".to_owned())
    });
    unmask(&alias_set_functions(&s), &toks)
}

/// `sql` with its parameters `$1`, `$2`, … (outside literals, identifiers and comments)
/// replaced by SQL literals, for describing a statement whose result type DuckDB can only
/// tell from the values. Never executed: the statement still runs with bound parameters.
pub(crate) fn with_parameter_literals(sql: &str, literals: &[String]) -> String {
    let (s, toks) = mask(sql);
    let s = PARAMETER.replace_all(&s, |c: &Captures| {
        let n: usize = c[1].parse().unwrap_or(0);
        literals.get(n.wrapping_sub(1)).cloned().unwrap_or_else(|| c[0].to_owned())
    });
    unmask(&s, &toks)
}

/// `FROM generate_series(1, 3) s`: PostgreSQL lets a bare alias name the single output
/// column; DuckDB needs `s(s)`.
fn alias_set_functions(s: &str) -> String {
    const KEYWORDS: &[&str] = &[
        "on",
        "where",
        "join",
        "left",
        "right",
        "inner",
        "cross",
        "full",
        "group",
        "order",
        "limit",
        "union",
        "as",
        "from",
        "and",
        "or",
        "natural",
        "using",
        "having",
        "window",
        "offset",
        "lateral",
        "with",
        "then",
        "else",
        "end",
        "when",
        "is",
        "in",
        "not",
        "desc",
        "asc",
        "except",
        "intersect",
    ];
    let (mut out, mut i) = (String::new(), 0);
    while let Some(m) = SRF.find_at(s, i) {
        let j = close_paren(s, m.end());
        out.push_str(&s[i..j]);
        i = j;
        let before = s[..m.start()].trim_end();
        let in_from = CLAUSE_KEYWORD
            .captures_iter(before)
            .last()
            .is_some_and(|c| matches!(c[1].to_ascii_uppercase().as_str(), "FROM" | "JOIN"))
            && (before.ends_with(',') || ENDS_FROM_JOIN.is_match(before));
        if let Some(a) = SRF_ALIAS.captures(&s[j..]) {
            let alias = &a[2];
            let called = s[j + a[0].len()..].trim_start().starts_with('(');
            if in_from && !called && !KEYWORDS.contains(&alias.to_ascii_lowercase().as_str()) {
                out.push_str(&format!("{}({alias})", &a[0]));
                i = j + a[0].len();
            }
        }
    }
    out.push_str(&s[i..]);
    out
}

#[cfg(test)]
mod tests {
    use super::{rewrite, with_parameter_literals};

    #[test]
    fn psql_describe_queries_become_duckdb_sql() {
        assert_eq!(
            rewrite(
                "SELECT c.oid FROM pg_catalog.pg_class c WHERE c.relname OPERATOR(pg_catalog.~) '^(orders)$' COLLATE pg_catalog.default"
            ),
            "SELECT c.oid FROM pg_class c WHERE c.relname  ~ '(?s).*(?:^(orders)$).*'"
        );
        assert_eq!(rewrite("SELECT 'pg_class'::regclass"), "SELECT __regclass_oid('pg_class')");
        assert_eq!(
            rewrite("SELECT 1 WHERE c.oid = $1::regclass::oid"),
            "SELECT 1 WHERE c.oid = __regclass_oid($1)::UINTEGER"
        );
        assert_eq!(
            rewrite("SELECT 1 WHERE pg_catalog.age(x.xmin) <= pg_catalog.age($1::varchar::xid) AND age(ts) > x"),
            "SELECT 1 WHERE __pg_xid_age(x.xmin) <= __pg_xid_age($1::varchar::xid) AND age(ts) > x"
        );
        assert_eq!(
            rewrite("SELECT 1 FROM a LEFT JOIN o ON o.oid = ANY(indclass) WHERE n = ANY(current_schemas(true))"),
            "SELECT 1 FROM a LEFT JOIN o ON list_contains(indclass, o.oid) WHERE n = ANY(current_schemas(true))"
        );
        assert_eq!(rewrite("SELECT x FROM t WHERE t.x = ANY ( $2 )"), "SELECT x FROM t WHERE list_contains($2, t.x)");
        assert_eq!(rewrite("SELECT a.attrelid::pg_catalog.regclass"), "SELECT __regclass_name(a.attrelid)");
        assert_eq!(rewrite("SELECT x::name FROM public.t"), "SELECT x::VARCHAR FROM main.t");
    }

    #[test]
    fn parameters_become_literals_only_outside_literals_and_identifiers() {
        let sql = r#"SELECT $1, '$1', "$2", $2 -- $1"#;
        let literals = ["'it''s'".to_owned(), "42".to_owned()];
        assert_eq!(with_parameter_literals(sql, &literals), r#"SELECT 'it''s', '$1', "$2", 42 -- $1"#);
    }

    #[test]
    fn literals_identifiers_and_comments_are_never_rewritten() {
        let sql = "SELECT 'pg_catalog.x ~ y', \"public\".\"pg_catalog.t\" -- public.x\nFROM t";
        assert_eq!(rewrite(sql), "SELECT 'pg_catalog.x ~ y', main.\"pg_catalog.t\" -- public.x\nFROM t");
        assert_eq!(rewrite("SELECT $$ public.x $$, E'it\\'s'"), "SELECT $$ public.x $$, E'it\\'s'");
    }

    #[test]
    fn set_returning_functions_get_a_column_alias() {
        assert_eq!(rewrite("SELECT s FROM generate_series(1, 3) s"), "SELECT s FROM generate_series(1, 3) s(s)");
        assert_eq!(
            rewrite("SELECT * FROM generate_series(1, 3) WHERE true"),
            "SELECT * FROM generate_series(1, 3) WHERE true"
        );
    }

    #[test]
    fn information_schema_views_become_the_emulations_views() {
        assert_eq!(
            rewrite("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"),
            "SELECT table_name FROM __information_schema_tables WHERE table_schema = 'public'"
        );
        assert_eq!(
            rewrite("select c.column_name from INFORMATION_SCHEMA.COLUMNS c"),
            "select c.column_name from __information_schema_columns c"
        );
        // dbt's get_columns_in_relation: the database in front, the view quoted
        assert_eq!(
            rewrite(r#"select data_type from "ws_1".information_schema."columns" where table_name = 't'"#),
            "select data_type from __information_schema_columns where table_name = 't'"
        );
        assert_eq!(
            rewrite(r#"SELECT 1 FROM "information_schema"."schemata", information_schema . views"#),
            "SELECT 1 FROM __information_schema_schemata, __information_schema_views"
        );
        let untouched = concat!(
            r#"SELECT 1 FROM information_schema.routines, "INFORMATION_SCHEMA".tables, "#,
            r#"information_schema."Tables", my_information_schema.tables WHERE x = 'information_schema.tables'"#
        );
        assert_eq!(rewrite(untouched), untouched, "other views, other names and literals stay");
        assert_eq!(
            rewrite("SELECT (information_schema._pg_expandarray(k)).n FROM information_schema.columns"),
            "SELECT (_pg_expandarray(k)).n FROM __information_schema_columns"
        );
    }

    #[test]
    fn integer_array_literals_compared_with_equals_become_lists() {
        assert_eq!(rewrite("SELECT 1 WHERE k = '{1,2}'"), "SELECT 1 WHERE k = [1,2]");
    }

    #[test]
    fn text_array_literals_become_lists_of_strings() {
        assert_eq!(
            rewrite("SELECT 1 WHERE w <> ALL ('{a,\"b c\",it''s}'::text[])"),
            "SELECT 1 WHERE w <> ALL (['a', 'b c', 'it''s']::VARCHAR[])"
        );
        assert_eq!(rewrite("SELECT '{}'::pg_catalog.text[]"), "SELECT []::VARCHAR[]");
        let nested = "SELECT '{{a}}'::text[]";
        assert_eq!(rewrite(nested), nested, "forms it cannot read are left to DuckDB");
    }
}
