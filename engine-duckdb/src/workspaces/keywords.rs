//! Column and table names PostgreSQL accepts bare but DuckDB's parser reserves.
//!
//! `CREATE TABLE events (at timestamp, by text)` is valid PostgreSQL (`at` and `by` are
//! unreserved there); DuckDB answers "syntax error at or near at". Such words are quoted
//! where they stand for a name, so DuckDB reads what PostgreSQL reads. Where the same word is
//! DuckDB syntax (`GROUP BY`, `AT TIME ZONE`, `COLUMNS(*)`, `ASOF JOIN`, a statement starting
//! with SHOW) it is left alone. The list is DuckDB 1.5.5's reserved and type/function
//! keywords that PostgreSQL 15 allows as column names, minus DuckDB-only syntax words nobody
//! names a column after (`pivot`, `qualify`, `lambda`, …).

use std::borrow::Cow;

use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer};

/// Quoted (in lower case, as PostgreSQL folds a bare name) where they stand for a name.
const NAMES_DUCKDB_RESERVES: [&str; 14] = [
    "anti",
    "asof",
    "at",
    "by",
    "columns",
    "describe",
    "generated",
    "map",
    "positional",
    "semi",
    "show",
    "struct",
    "try_cast",
    "unpack",
];

/// `sql` with every bare name DuckDB reserves quoted; borrowed when there is none.
pub(crate) fn quote_reserved_names(sql: &str) -> Cow<'_, str> {
    if !may_hold_one(sql) {
        return Cow::Borrowed(sql);
    }
    let Ok(tokens) = Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize_with_location() else {
        return Cow::Borrowed(sql);
    };
    let significant: Vec<&TokenWithSpan> = tokens.iter().filter(|t| !matches!(t.token, Token::Whitespace(_))).collect();
    let lines = line_starts(sql);
    let mut edits = Vec::new();
    for (i, t) in significant.iter().enumerate() {
        let Token::Word(word) = &t.token else { continue };
        let lower = word.value.to_ascii_lowercase();
        if word.quote_style.is_some() || !NAMES_DUCKDB_RESERVES.contains(&lower.as_str()) {
            continue;
        }
        let prev = i.checked_sub(1).map(|j| &significant[j].token);
        let next = significant.get(i + 1).map(|t| &t.token);
        if is_syntax(&lower, prev, next) {
            continue;
        }
        let (Some(start), Some(end)) = (offset(sql, &lines, t.span.start), offset(sql, &lines, t.span.end)) else {
            return Cow::Borrowed(sql);
        };
        edits.push((start, end, format!("\"{lower}\"")));
    }
    if edits.is_empty() {
        return Cow::Borrowed(sql);
    }
    let mut out = String::with_capacity(sql.len() + 2 * edits.len());
    let mut at = 0;
    for (start, end, quoted) in edits {
        out.push_str(&sql[at..start]);
        out.push_str(&quoted);
        at = end;
    }
    out.push_str(&sql[at..]);
    Cow::Owned(out)
}

/// A cheap first look: a word of the list, other than `by` after GROUP, ORDER or PARTITION.
fn may_hold_one(sql: &str) -> bool {
    let mut prev = "";
    for word in sql.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).filter(|w| !w.is_empty()) {
        let listed = NAMES_DUCKDB_RESERVES.iter().any(|n| n.eq_ignore_ascii_case(word));
        let clause = word.eq_ignore_ascii_case("by")
            && ["group", "order", "partition"].iter().any(|c| c.eq_ignore_ascii_case(prev));
        if listed && !clause {
            return true;
        }
        prev = word;
    }
    false
}

/// Whether the word is DuckDB (or PostgreSQL) syntax here rather than a name.
fn is_syntax(word: &str, prev: Option<&Token>, next: Option<&Token>) -> bool {
    let is_word = |t: Option<&Token>, words: &[&str]| {
        matches!(t, Some(Token::Word(w)) if w.quote_style.is_none()
            && words.iter().any(|k| w.value.eq_ignore_ascii_case(k)))
    };
    // A call or a parameterised type: COLUMNS(*), STRUCT(a INT), try_cast(x AS int), AT (VERSION => 1).
    if matches!(next, Some(Token::LParen | Token::LBrace)) {
        return true;
    }
    match word {
        "by" => is_word(prev, &["group", "order", "partition"]),
        "at" => is_word(next, &["time", "local"]),
        "generated" => is_word(next, &["always", "by"]),
        "asof" | "anti" | "semi" | "positional" => is_word(next, &["join", "left", "right", "inner", "full", "outer"]),
        "show" | "describe" => matches!(prev, None | Some(Token::SemiColon)),
        _ => false,
    }
}

/// Byte offsets where each line of `sql` starts.
fn line_starts(sql: &str) -> Vec<usize> {
    std::iter::once(0).chain(sql.match_indices('\n').map(|(i, _)| i + 1)).collect()
}

/// The byte offset of a tokenizer location (1-based line, 1-based character column).
fn offset(sql: &str, lines: &[usize], at: sqlparser::tokenizer::Location) -> Option<usize> {
    let start = *lines.get(usize::try_from(at.line).ok()?.checked_sub(1)?)?;
    let column = usize::try_from(at.column).ok()?.checked_sub(1)?;
    let line = &sql[start..];
    Some(start + line.char_indices().nth(column).map_or(line.len(), |(i, _)| i))
}

#[cfg(test)]
mod tests {
    use super::quote_reserved_names as q;

    #[test]
    fn names_duckdb_reserves_are_quoted_where_they_are_names() {
        assert_eq!(
            q("CREATE TABLE e (id int, at timestamptz, By text, map jsonb)"),
            r#"CREATE TABLE e (id int, "at" timestamptz, "by" text, "map" jsonb)"#
        );
        assert_eq!(
            q("SELECT at, by FROM e WHERE by = 'é' ORDER BY at"),
            r#"SELECT "at", "by" FROM e WHERE "by" = 'é' ORDER BY "at""#
        );
        assert_eq!(q("SELECT 'ü'\n  , e.at\nFROM e GROUP BY by"), "SELECT 'ü'\n  , e.\"at\"\nFROM e GROUP BY \"by\"");
        assert_eq!(
            q("SELECT x AS columns FROM information_schema.columns"),
            r#"SELECT x AS "columns" FROM information_schema."columns""#
        );
    }

    #[test]
    fn the_same_words_as_syntax_are_left_alone() {
        for sql in [
            "SELECT a FROM t GROUP BY a ORDER BY a",
            "SELECT sum(a) OVER (PARTITION BY b ORDER BY c) FROM t",
            "SELECT ts AT TIME ZONE 'UTC' FROM t",
            "SELECT COLUMNS('a.*') FROM t",
            "SELECT try_cast(x AS int), struct_pack(a := 1), MAP {'k': 1} FROM t",
            "SELECT * FROM a ASOF JOIN b USING (ts)",
            "SELECT * FROM a ANTI JOIN b USING (id)",
            "SHOW TABLES",
            "DESCRIBE t",
            "CREATE TABLE t (id int GENERATED ALWAYS AS IDENTITY)",
            "SELECT 'at', \"by\" FROM t -- at by",
        ] {
            assert_eq!(q(sql), sql);
        }
    }
}
