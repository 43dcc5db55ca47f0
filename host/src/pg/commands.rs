//! The SQL-level parts of the wire protocol that never reach the engine as typed: splitting
//! a simple query into statements, session commands PostgreSQL clients send (SET, SHOW,
//! SAVEPOINT, DISCARD, …) and COPY … TO STDOUT / FROM STDIN.

use duckstore_plugin_sdk::sql::skip_blanks;
use sqlparser::ast::{CopyLegacyCsvOption, CopyLegacyOption, CopyOption, CopySource, CopyTarget, Ident, Statement};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

/// DuckDB's own settings (DuckDB 1.5.5's `duckdb_settings()`, lower case, sorted), which a
/// PostgreSQL `SET` must not appear to change: the wire layer answers SET itself and never
/// passes it on, so `SET enable_external_access = true` would say SET while changing
/// nothing. PostgreSQL refuses what a role may not set; so does duckstore (42501).
pub const DUCKDB_SETTINGS: &[&str] = &[
    "__delta_only_variant_encoding_enabled",
    "access_mode",
    "allocator_background_threads",
    "allocator_bulk_deallocation_flush_threshold",
    "allocator_flush_threshold",
    "allow_community_extensions",
    "allow_extensions_metadata_mismatch",
    "allow_parser_override_extension",
    "allow_persistent_secrets",
    "allow_unredacted_secrets",
    "allow_unsigned_extensions",
    "allowed_configs",
    "allowed_directories",
    "allowed_paths",
    "arrow_large_buffer_size",
    "arrow_lossless_conversion",
    "arrow_output_list_view",
    "arrow_output_version",
    "asof_loop_join_threshold",
    "auto_checkpoint_skip_wal_threshold",
    "autoinstall_extension_repository",
    "autoinstall_known_extensions",
    "autoload_known_extensions",
    "binary_as_string",
    "block_allocator_memory",
    "calendar",
    "catalog_error_max_schemas",
    "checkpoint_threshold",
    "current_transaction_invalidation_policy",
    "custom_extension_repository",
    "custom_profiling_settings",
    "custom_user_agent",
    "debug_asof_iejoin",
    "debug_checkpoint_abort",
    "debug_checkpoint_sleep_ms",
    "debug_eviction_queue_sleep_micro_seconds",
    "debug_force_external",
    "debug_force_no_cross_product",
    "debug_physical_table_scan_execution_strategy",
    "debug_skip_checkpoint_on_commit",
    "debug_verify_blocks",
    "debug_verify_vector",
    "debug_window_mode",
    "default_block_size",
    "default_collation",
    "default_null_order",
    "default_order",
    "default_secret_storage",
    "deprecated_using_key_syntax",
    "disable_database_invalidation",
    "disable_parquet_prefetching",
    "disable_timestamptz_casts",
    "disabled_compression_methods",
    "disabled_filesystems",
    "disabled_log_types",
    "disabled_optimizers",
    "duckdb_api",
    "dynamic_or_filter_threshold",
    "enable_caching_operators",
    "enable_external_access",
    "enable_external_file_cache",
    "enable_fsst_vectors",
    "enable_geoparquet_conversion",
    "enable_http_logging",
    "enable_http_metadata_cache",
    "enable_logging",
    "enable_macro_dependencies",
    "enable_object_cache",
    "enable_profiling",
    "enable_progress_bar",
    "enable_progress_bar_print",
    "enable_view_dependencies",
    "enabled_log_types",
    "errors_as_json",
    "experimental_metadata_reuse",
    "explain_output",
    "extension_directories",
    "extension_directory",
    "external_threads",
    "file_search_path",
    "force_bitpacking_mode",
    "force_column_metadata_reuse",
    "force_compression",
    "force_mbedtls_unsafe",
    "force_variant_shredding",
    "geometry_minimum_shredding_size",
    "home_directory",
    "http_logging_output",
    "http_proxy",
    "http_proxy_password",
    "http_proxy_username",
    "ieee_floating_point_ops",
    "ignore_unknown_crs",
    "immediate_transaction_mode",
    "index_scan_max_count",
    "index_scan_percentage",
    "integer_division",
    "lambda_syntax",
    "late_materialization_max_rows",
    "lock_configuration",
    "log_query_path",
    "logging_level",
    "logging_mode",
    "logging_storage",
    "max_expression_depth",
    "max_memory",
    "max_temp_directory_size",
    "max_vacuum_tasks",
    "memory_limit",
    "merge_join_threshold",
    "nested_loop_join_threshold",
    "null_order",
    "old_implicit_casting",
    "order_by_non_integer_literal",
    "ordered_aggregate_threshold",
    "pandas_analyze_sample",
    "parquet_metadata_cache",
    "partitioned_write_flush_threshold",
    "partitioned_write_max_open_files",
    "password",
    "perfect_ht_threshold",
    "pin_threads",
    "pivot_filter_threshold",
    "pivot_limit",
    "prefer_range_joins",
    "prefetch_all_parquet_files",
    "preserve_identifier_case",
    "preserve_insertion_order",
    "produce_arrow_string_view",
    "profile_output",
    "profiling_coverage",
    "profiling_mode",
    "profiling_output",
    "progress_bar_time",
    "python_enable_replacements",
    "python_scan_all_frames",
    "scalar_subquery_error_on_multiple_rows",
    "scheduler_process_partial",
    "schema",
    "secret_directory",
    "storage_block_prefetch",
    "storage_compatibility_version",
    "streaming_buffer_size",
    "temp_directory",
    "temp_file_encryption",
    "threads",
    "user",
    "username",
    "vacuum_rebuild_indexes",
    "validate_external_file_cache",
    "variant_minimum_shredding_size",
    "wal_autocheckpoint",
    "wal_autocheckpoint_entries",
    "warnings_as_errors",
    "worker_threads",
    "write_buffer_row_group_count",
    "write_buffer_row_group_memory_limit",
    "zstd_min_string_length",
];

/// Splits `sql` at top-level semicolons, honouring quotes, dollar quotes and comments.
/// Empty statements are dropped.
pub fn split(sql: &str) -> Vec<&str> {
    let b = sql.as_bytes();
    let (mut out, mut start, mut i) = (Vec::new(), 0, 0);
    while i < b.len() {
        match b[i] {
            b'\'' | b'"' => {
                let q = b[i];
                let escapes = q == b'\'' && i > 0 && (b[i - 1] == b'e' || b[i - 1] == b'E');
                i += 1;
                while i < b.len() {
                    if escapes && b[i] == b'\\' {
                        i += 2;
                        continue;
                    }
                    if b[i] == q {
                        if i + 1 < b.len() && b[i + 1] == q {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += 1;
                }
                i += 1;
            }
            b'-' | b'/' if sql[i..].starts_with("--") || sql[i..].starts_with("/*") => {
                i = b.len() - skip_blanks(&sql[i..]).len();
            }
            b'$' => {
                let tag_len = sql[i + 1..].find(|c: char| !(c.is_alphanumeric() || c == '_')).map(|j| j + 2);
                match tag_len.filter(|&n| sql.as_bytes()[i..].get(n - 1) == Some(&b'$')) {
                    Some(n) => {
                        let tag = &sql[i..i + n];
                        i = sql[i + n..].find(tag).map_or(b.len(), |j| i + n + j + n);
                    }
                    None => i += 1,
                }
            }
            b';' => {
                out.push(&sql[start..i]);
                i += 1;
                start = i;
            }
            _ => i += 1,
        }
    }
    out.push(&sql[start..]);
    out.into_iter().filter(|s| !skip_blanks(s).is_empty()).collect()
}

/// Words of `sql` (up to `n`), upper-cased, with comments between them read as blanks
/// (`SET/**/search_path` is SET, as DuckDB reads it).
fn words(sql: &str, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = skip_blanks(sql);
    while out.len() < n && !rest.is_empty() {
        let end = word_end(rest);
        if end > 0 {
            out.push(rest[..end].to_ascii_uppercase());
        }
        rest = skip_blanks(&rest[end.max(1)..]);
    }
    out
}

/// Where the word `s` starts with ends: at a blank, `;`, `(`, `=` or a comment.
fn word_end(s: &str) -> usize {
    s.char_indices()
        .find(|&(i, c)| {
            c.is_whitespace() || matches!(c, ';' | '(' | '=') || s[i..].starts_with("/*") || s[i..].starts_with("--")
        })
        .map_or(s.len(), |(i, _)| i)
}

/// A statement the wire server answers itself, or passes to the engine in another form.
#[derive(Debug, PartialEq)]
pub enum Command {
    /// `SET [SESSION | LOCAL] name = value` (and `SET TIME ZONE …`); `local`: until the
    /// transaction ends.
    Set {
        name: String,
        value: String,
        local: bool,
    },
    Show(String),
    /// `SELECT set_config('name', 'value', is_local) [AS column]`, as clients send it: a SET
    /// that answers the value (the engine's set_config() only answers it).
    SetConfig {
        name: String,
        value: String,
        local: bool,
        column: String,
    },
    Reset(Option<String>),
    /// Acknowledged without effect, with this command tag.
    NoOp(&'static str),
    Begin(Begin),
    Commit,
    Rollback,
    /// `DECLARE name [[NO] SCROLL] CURSOR [WITH[OUT] HOLD] FOR query`.
    Declare {
        name: String,
        hold: bool,
        scroll: bool,
        query: String,
    },
    /// `FETCH` (or `MOVE`, which skips the rows) from a cursor.
    Fetch {
        name: String,
        direction: Direction,
        skip: bool,
    },
    /// `CLOSE name`; `None` for `CLOSE ALL`.
    Close(Option<String>),
    /// `SAVEPOINT name`, `RELEASE [SAVEPOINT] name`, `ROLLBACK TO [SAVEPOINT] name`.
    Savepoint(String),
    Release(String),
    RollbackTo(String),
    CopyOut(CopyOut),
    CopyIn(CopyIn),
    /// Refused with this message.
    Unsupported(String),
    /// Anything else: SQL for the engine.
    Sql,
}

/// `BEGIN [WORK | TRANSACTION] [modes]` or `START TRANSACTION [modes]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Begin {
    /// Written `START TRANSACTION`, which is also its command tag.
    pub start: bool,
    /// `READ ONLY` among the modes: writes fail with 25006 until the transaction ends.
    pub read_only: bool,
}

impl Begin {
    fn of(sql: &str) -> Self {
        let w = words(sql, 12);
        let read_only = w.windows(2).any(|p| p[0] == "READ" && p[1].trim_end_matches([',', ';']) == "ONLY");
        Self { start: w.first().is_some_and(|w| w == "START"), read_only }
    }

    /// The statement DuckDB runs (it knows read-only transactions).
    pub fn sql(&self) -> &'static str {
        if self.read_only { "BEGIN TRANSACTION READ ONLY" } else { "BEGIN TRANSACTION" }
    }

    /// PostgreSQL's command tag.
    pub fn tag(&self) -> &'static str {
        if self.start { "START TRANSACTION" } else { "BEGIN" }
    }
}

/// Where a FETCH or MOVE goes.
#[derive(Debug, PartialEq, Clone, Copy)]
pub enum Direction {
    /// The next `n` rows (`None`: all the rest).
    Forward(Option<u64>),
    /// The previous `n` rows, nearest first (`None`: all of them).
    Backward(Option<u64>),
    /// Row `n`; counted from the end when negative; 0 is before the first row.
    Absolute(i64),
    /// The row `n` rows away from the current one.
    Relative(i64),
}

#[derive(Debug, PartialEq, Clone)]
pub struct CopyOptions {
    /// PostgreSQL's binary COPY format (`FORMAT binary`): values in their binary forms.
    pub binary: bool,
    pub csv: bool,
    pub header: bool,
    pub delimiter: char,
    pub null: String,
}

#[derive(Debug, PartialEq)]
pub struct CopyOut {
    /// The query whose rows are copied.
    pub query: String,
    pub options: CopyOptions,
}

#[derive(Debug, PartialEq)]
pub struct CopyIn {
    pub schema: Option<String>,
    pub table: String,
    pub columns: Vec<String>,
    pub options: CopyOptions,
}

fn unquote(value: &str) -> String {
    let v = value.trim();
    if v.len() >= 2 && ((v.starts_with('\'') && v.ends_with('\'')) || (v.starts_with('"') && v.ends_with('"'))) {
        let q = &v[..1];
        v[1..v.len() - 1].replace(&format!("{q}{q}"), q)
    } else {
        v.to_owned()
    }
}

pub fn classify(sql: &str) -> Command {
    let w = words(sql, 4);
    let first = w.first().map(String::as_str).unwrap_or("");
    let second = w.get(1).map(String::as_str).unwrap_or("");
    match first {
        "SET" => parse_set(sql),
        "SHOW" => Command::Show(setting_name(&skip_blanks(sql).trim_end().trim_end_matches(';')[4..])),
        "RESET" if second == "ALL" => Command::Reset(None),
        "RESET" => Command::Reset(Some(second.to_ascii_lowercase())),
        "DISCARD" => Command::NoOp("DISCARD ALL"),
        "SAVEPOINT" => Command::Savepoint(savepoint_name(sql)),
        "RELEASE" => Command::Release(savepoint_name(sql)),
        "DEALLOCATE" => Command::NoOp("DEALLOCATE"),
        "LISTEN" => Command::NoOp("LISTEN"),
        "UNLISTEN" => Command::NoOp("UNLISTEN"),
        "BEGIN" | "START" => Command::Begin(Begin::of(sql)),
        "COMMIT" | "END" => Command::Commit,
        "ROLLBACK" | "ABORT" if second == "TO" || w.get(2).is_some_and(|w| w == "TO") => {
            Command::RollbackTo(savepoint_name(sql))
        }
        "ROLLBACK" | "ABORT" => Command::Rollback,
        "COPY" => parse_copy(sql),
        "DECLARE" => parse_declare(sql).unwrap_or_else(Command::Unsupported),
        "FETCH" | "MOVE" => parse_fetch(sql, first == "MOVE").unwrap_or_else(Command::Unsupported),
        "CLOSE" if second == "ALL" => Command::Close(None),
        "CLOSE" => match identifier(&skip_blanks(sql)[5..]) {
            Some((name, _)) => Command::Close(Some(name)),
            None => Command::Unsupported("CLOSE needs a cursor name".into()),
        },
        "SELECT" => parse_set_config(sql).unwrap_or(Command::Sql),
        "NOTIFY" | "PREPARE" | "EXECUTE" => {
            Command::Unsupported(format!("{first} is not supported; use the extended query protocol"))
        }
        _ => Command::Sql,
    }
}

/// The next word of `s` in upper case, and what follows it.
fn next_word(s: &str) -> Option<(String, &str)> {
    let s = s.trim_start();
    let end = s.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(s.len());
    (end > 0).then(|| (s[..end].to_ascii_uppercase(), &s[end..]))
}

fn parse_declare(sql: &str) -> Result<Command, String> {
    let body = skip_blanks(sql).trim_end().trim_end_matches(';');
    let (name, mut rest) = identifier(&body["DECLARE".len()..]).ok_or("DECLARE needs a cursor name")?;
    let (mut hold, mut scroll, mut no) = (false, false, false);
    loop {
        let (word, after) = next_word(rest).ok_or("DECLARE … CURSOR FOR needs a query")?;
        rest = after;
        match word.as_str() {
            "NO" => no = true,
            "SCROLL" => scroll = !no,
            "ASENSITIVE" | "INSENSITIVE" | "CURSOR" | "WITHOUT" => {}
            "WITH" => hold = true,
            "HOLD" => {}
            "BINARY" => return Err("binary cursors are not supported; fetch in text".into()),
            "FOR" => break,
            other => return Err(format!("DECLARE: unexpected {other}")),
        }
    }
    Ok(Command::Declare { name, hold, scroll, query: rest.trim().to_owned() })
}

/// A signed whole number at the start of `s`, and what follows it.
fn signed(s: &str) -> Option<(i64, &str)> {
    let s = s.trim_start();
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    let end = s.len() - digits.len() + digits.find(|c: char| !c.is_ascii_digit()).unwrap_or(digits.len());
    s[..end].parse().ok().map(|n| (n, &s[end..]))
}

/// `FETCH [direction] [FROM | IN] name`, with PostgreSQL's directions: NEXT, PRIOR, FIRST,
/// LAST, ABSOLUTE n, RELATIVE n, n, ALL, FORWARD [n | ALL], BACKWARD [n | ALL].
fn parse_fetch(sql: &str, skip: bool) -> Result<Command, String> {
    use Direction::*;
    let body = skip_blanks(sql).trim_end().trim_end_matches(';');
    let mut rest = &body[if skip { "MOVE".len() } else { "FETCH".len() }..];
    let mut direction = Forward(Some(1));
    // A count goes the way FORWARD or BACKWARD said; a negative one the other way.
    let counted = |backward: bool, n: i64| match (backward, n < 0) {
        (false, false) | (true, true) => Forward(Some(n.unsigned_abs())),
        _ => Backward(Some(n.unsigned_abs())),
    };
    loop {
        if let Some((n, after)) = signed(rest) {
            direction = match direction {
                Absolute(_) => Absolute(n),
                Relative(_) => Relative(n),
                d => counted(matches!(d, Backward(_)), n),
            };
            rest = after;
            continue;
        }
        let Some((word, after)) = next_word(rest) else { break };
        direction = match word.as_str() {
            "NEXT" | "FORWARD" => Forward(Some(1)),
            "PRIOR" | "BACKWARD" => Backward(Some(1)),
            "FIRST" => Absolute(1),
            "LAST" => Absolute(-1),
            "ABSOLUTE" => Absolute(0),
            "RELATIVE" => Relative(0),
            "ALL" if matches!(direction, Backward(_)) => Backward(None),
            "ALL" => Forward(None),
            "FROM" | "IN" => {
                rest = after;
                break;
            }
            _ => break, // the cursor's name
        };
        rest = after;
    }
    let (name, _) = identifier(rest).ok_or("FETCH needs a cursor name")?;
    Ok(Command::Fetch { name, direction, skip })
}

/// The savepoint a statement names (its last word): folded to lower case unless quoted.
fn savepoint_name(sql: &str) -> String {
    let s = sql.trim().trim_end_matches(';').trim_end();
    let name = match s.strip_suffix('"').and_then(|rest| rest.rfind('"')) {
        Some(open) => &s[open..],
        None => s.rsplit(char::is_whitespace).next().unwrap_or(""),
    };
    if name.starts_with('"') { unquote(name) } else { name.to_lowercase() }
}

/// A setting's canonical name: `SHOW TRANSACTION ISOLATION LEVEL` is `transaction_isolation`.
fn setting_name(raw: &str) -> String {
    let name = unquote(raw).split_whitespace().collect::<Vec<_>>().join("_").to_ascii_lowercase();
    match name.as_str() {
        "transaction_isolation_level" => "transaction_isolation".to_owned(),
        "time_zone" => "timezone".to_owned(),
        _ => name,
    }
}

/// A time setting as PostgreSQL reads it: a number of milliseconds, or a number with a
/// unit (`500ms`, `5s`, `2min`, `1h`, `1d`); `None` when it is not one.
pub fn milliseconds(value: &str) -> Option<u64> {
    let v = value.trim();
    let digits = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let n: u64 = v[..digits].parse().ok()?;
    let unit = match v[digits..].trim() {
        "" | "ms" => 1,
        "s" => 1000,
        "min" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    n.checked_mul(unit)
}

/// `s` after its first characters if they are `keyword`, in any case.
fn after_keyword<'a>(s: &'a str, keyword: &str) -> Option<&'a str> {
    s.get(..keyword.len()).filter(|head| head.eq_ignore_ascii_case(keyword)).map(|_| &s[keyword.len()..])
}

/// `SELECT [pg_catalog.]set_config('name', 'value', true|false) [[AS] column]`; anything
/// else (other arguments, more columns, a FROM) is SQL for the engine.
fn parse_set_config(sql: &str) -> Option<Command> {
    let body = skip_blanks(sql).trim_end().trim_end_matches(';').trim_end();
    let rest = after_keyword(body, "SELECT")?;
    if !rest.starts_with(|c: char| c.is_whitespace() || c == '/') {
        return None;
    }
    let rest = skip_blanks(rest);
    let rest = after_keyword(rest, "pg_catalog.").unwrap_or(rest);
    let rest = skip_blanks(after_keyword(rest, "set_config")?).strip_prefix('(')?;
    let (name, rest) = string_literal(skip_blanks(rest))?;
    let (value, rest) = string_literal(skip_blanks(skip_blanks(rest).strip_prefix(',')?))?;
    let rest = skip_blanks(skip_blanks(rest).strip_prefix(',')?);
    let (local, rest) = match after_keyword(rest, "true") {
        Some(rest) => (true, rest),
        None => (false, after_keyword(rest, "false")?),
    };
    let rest = skip_blanks(skip_blanks(rest).strip_prefix(')')?);
    let column = if rest.is_empty() {
        "set_config".to_owned()
    } else {
        let rest = after_keyword(rest, "AS ").map_or(rest, skip_blanks);
        let (alias, tail) = identifier(rest)?;
        if !skip_blanks(tail).is_empty() {
            return None;
        }
        alias
    };
    Some(Command::SetConfig { name: name.to_ascii_lowercase(), value, local, column })
}

/// A standard string literal (`'it''s'`) at the start of `s`: its text and what follows.
fn string_literal(s: &str) -> Option<(String, &str)> {
    let body = s.strip_prefix('\'')?;
    let mut text = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        if c != '\'' {
            text.push(c);
        } else if body[i + 1..].starts_with('\'') {
            text.push('\'');
            chars.next();
        } else {
            return Some((text, &body[i + 1..]));
        }
    }
    None
}

fn parse_set(sql: &str) -> Command {
    let body = skip_blanks(sql).trim_end().trim_end_matches(';').trim_end();
    let mut rest = skip_blanks(&body[3..]);
    let mut local = false;
    for modifier in ["SESSION ", "LOCAL "] {
        if let Some(after) = after_keyword(rest, modifier) {
            rest = skip_blanks(after);
            local = modifier == "LOCAL ";
        }
    }
    if let Some(zone) = after_keyword(rest, "TIME ZONE") {
        return Command::Set { name: "timezone".into(), value: unquote(zone), local };
    }
    if after_keyword(rest, "TRANSACTION").is_some() {
        return Command::NoOp("SET");
    }
    let (name, value) = rest.split_at(word_end(rest));
    let value = skip_blanks(value);
    let value = value.strip_prefix('=').or_else(|| after_keyword(value, "TO")).unwrap_or(value);
    let values: Vec<String> = value.split(',').map(unquote).collect();
    Command::Set { name: unquote(name).to_ascii_lowercase(), value: values.join(", "), local }
}

/// Splits off the first top-level parenthesised group of `s` (after whitespace).
fn paren_group(s: &str) -> Option<(&str, &str)> {
    let s = s.trim_start();
    if !s.starts_with('(') {
        return None;
    }
    let mut depth = 0;
    let mut quote: Option<char> = None;
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '(') => depth += 1,
            (None, ')') => {
                depth -= 1;
                if depth == 0 {
                    return Some((&s[1..i], &s[i + 1..]));
                }
            }
            _ => {}
        }
    }
    None
}

/// The next identifier part (`"quoted"` or bare) and what follows it.
fn identifier(s: &str) -> Option<(String, &str)> {
    let s = s.trim_start();
    if let Some(rest) = s.strip_prefix('"') {
        let mut i = 0;
        let b = rest.as_bytes();
        while i < b.len() {
            if b[i] == b'"' {
                if b.get(i + 1) == Some(&b'"') {
                    i += 2;
                    continue;
                }
                return Some((rest[..i].replace("\"\"", "\""), &rest[i + 1..]));
            }
            i += 1;
        }
        return None;
    }
    let end = s.find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$')).unwrap_or(s.len());
    (end > 0).then(|| (s[..end].to_ascii_lowercase(), &s[end..]))
}

/// What a COPY's options ask for; refuses what duckstore would read or write differently.
fn copy_options(options: &[CopyOption], legacy: &[CopyLegacyOption]) -> Result<CopyOptions, String> {
    let mut o = CopyOptions { binary: false, csv: false, header: false, delimiter: '\t', null: "\\N".into() };
    let (mut delimiter, mut null) = (None, None);
    // Only the default quote and escape: other characters would be read or written wrongly.
    let default_quote = |what: &str, c: char| {
        if c == '"' { Ok(()) } else { Err(format!("COPY {what} other than '\"' is not supported")) }
    };
    for option in options {
        match option {
            CopyOption::Format(name) => match name.value.to_ascii_lowercase().as_str() {
                "csv" => o.csv = true,
                "text" => o.csv = false,
                "binary" => o.binary = true,
                other => return Err(format!("COPY format {other} is not supported (use text, csv or binary)")),
            },
            CopyOption::Header(on) => o.header = *on,
            CopyOption::Delimiter(c) => delimiter = Some(*c),
            CopyOption::Null(s) => null = Some(s.clone()),
            CopyOption::Quote(c) => default_quote("QUOTE", *c)?,
            CopyOption::Escape(c) => default_quote("ESCAPE", *c)?,
            CopyOption::Encoding(e) => {
                let encoding = e.to_ascii_uppercase().replace(['-', '_'], "");
                if encoding != "UTF8" {
                    return Err(format!("COPY encoding {encoding} is not supported (data is UTF8)"));
                }
            }
            // Choices that leave the data the same: accepted, not applied.
            CopyOption::Freeze(_) | CopyOption::ForceQuote(_) => {}
            CopyOption::ForceNotNull(_) => return Err("COPY option FORCE_NOT_NULL is not supported".into()),
            CopyOption::ForceNull(_) => return Err("COPY option FORCE_NULL is not supported".into()),
        }
    }
    // The forms before PostgreSQL 9.0, which psql's \copy still writes (`… FROM STDIN csv`).
    for option in legacy {
        match option {
            CopyLegacyOption::Binary => o.binary = true,
            CopyLegacyOption::Delimiter(c) => delimiter = Some(*c),
            CopyLegacyOption::Null(s) => null = Some(s.clone()),
            CopyLegacyOption::Header => o.header = true,
            CopyLegacyOption::Csv(csv) => {
                o.csv = true;
                for option in csv {
                    match option {
                        CopyLegacyCsvOption::Header => o.header = true,
                        CopyLegacyCsvOption::Quote(c) => default_quote("QUOTE", *c)?,
                        CopyLegacyCsvOption::Escape(c) => default_quote("ESCAPE", *c)?,
                        CopyLegacyCsvOption::ForceQuote(_) => {}
                        CopyLegacyCsvOption::ForceNotNull(_) => {
                            return Err("COPY option FORCE NOT NULL is not supported".into());
                        }
                    }
                }
            }
            other => return Err(format!("COPY option {other} is not supported")),
        }
    }
    o.delimiter = delimiter.unwrap_or(if o.csv { ',' } else { '\t' });
    o.null = null.unwrap_or_else(|| if o.csv { String::new() } else { "\\N".into() });
    Ok(o)
}

/// A name part as PostgreSQL reads it: folded to lower case unless quoted.
fn folded(ident: &Ident) -> String {
    if ident.quote_style.is_some() { ident.value.clone() } else { ident.value.to_lowercase() }
}

/// `COPY … FROM STDIN` and `COPY … TO STDOUT`, read with sqlparser's PostgreSQL dialect.
fn parse_copy(sql: &str) -> Command {
    const ONLY: &str = "COPY is supported only as COPY … TO STDOUT and COPY … FROM STDIN";
    let unsupported = |m: &str| Command::Unsupported(m.to_owned());
    let Ok(statements) = Parser::parse_sql(&PostgreSqlDialect {}, sql) else { return unsupported(ONLY) };
    let [Statement::Copy { source, to, target, options, legacy_options, .. }] = statements.as_slice() else {
        return unsupported(ONLY);
    };
    let options = match copy_options(options, legacy_options) {
        Ok(o) => o,
        Err(e) => return Command::Unsupported(e),
    };
    match (source, to, target) {
        // The query runs as the client wrote it (its text, not sqlparser's rendering of it).
        (CopySource::Query(_), true, CopyTarget::Stdout) => match paren_group(&skip_blanks(sql)[4..]) {
            Some((query, _)) => Command::CopyOut(CopyOut { query: query.to_owned(), options }),
            None => unsupported(ONLY),
        },
        (CopySource::Query(_), ..) => unsupported("COPY (query) is supported only TO STDOUT"),
        (CopySource::Table { table_name, columns }, _, CopyTarget::Stdin | CopyTarget::Stdout) => {
            let parts: Vec<String> = table_name.0.iter().filter_map(|p| p.as_ident().map(folded)).collect();
            let (schema, table) = match parts.as_slice() {
                [table] => (None, table.clone()),
                [schema, table] => (Some(schema.clone()), table.clone()),
                _ => return unsupported("COPY needs a table name, optionally with its schema"),
            };
            let columns: Vec<String> = columns.iter().map(folded).collect();
            if !to {
                return Command::CopyIn(CopyIn { schema, table, columns, options });
            }
            let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
            let cols = if columns.is_empty() {
                "*".to_owned()
            } else {
                columns.iter().map(|c| quote(c)).collect::<Vec<_>>().join(", ")
            };
            let target = match &schema {
                Some(s) => format!("{}.{}", quote(s), quote(&table)),
                None => quote(&table),
            };
            Command::CopyOut(CopyOut { query: format!("SELECT {cols} FROM {target}"), options })
        }
        _ => unsupported(ONLY),
    }
}

/// The longest COPY line (a row) taken: input past it without a line end fails rather than
/// growing the server's memory without bound.
const MAX_COPY_LINE: usize = 64 << 20;

/// A text-format COPY field with its backslash escapes resolved.
fn unescape(raw: &str) -> String {
    let mut v = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            v.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => v.push('\n'),
            Some('r') => v.push('\r'),
            Some('t') => v.push('\t'),
            Some('b') => v.push('\u{8}'),
            Some('f') => v.push('\u{c}'),
            Some('v') => v.push('\u{b}'),
            Some(d @ '0'..='7') => v.push(byte_value(&mut chars, 8, 2, d.to_digit(8).unwrap_or(0))),
            Some('x') if chars.peek().is_some_and(char::is_ascii_hexdigit) => v.push(byte_value(&mut chars, 16, 2, 0)),
            Some(other) => v.push(other),
            None => v.push('\\'),
        }
    }
    v
}

/// A byte's value written as `first` and up to `more` further digits of `radix`.
fn byte_value(chars: &mut std::iter::Peekable<std::str::Chars<'_>>, radix: u32, more: usize, first: u32) -> char {
    let mut n = first;
    for _ in 0..more {
        let Some(d) = chars.peek().and_then(|d| d.to_digit(radix)) else { break };
        n = n * radix + d;
        chars.next();
    }
    char::from(n as u8)
}

/// Parses COPY FROM STDIN input line by line, keeping partial lines between chunks.
pub struct CopyParser {
    options: CopyOptions,
    pending: Vec<u8>,
    /// How far `pending` was searched for a line end, and whether a CSV quote is open
    /// there: each chunk is read once, however long the line.
    scanned: usize,
    quoted: bool,
    skip_header: bool,
    done: bool,
}

impl CopyParser {
    pub fn new(options: CopyOptions) -> Self {
        let skip_header = options.header;
        Self { options, pending: Vec::new(), scanned: 0, quoted: false, skip_header, done: false }
    }

    /// Feeds bytes; returns the complete rows they finish.
    pub fn feed(&mut self, data: &[u8]) -> Result<Vec<Vec<Option<String>>>, String> {
        self.pending.extend_from_slice(data);
        let mut rows = Vec::new();
        let mut start = 0;
        while let Some(end) = self.record_end() {
            let line = self.pending[start..end].to_vec();
            self.push_line(&line, &mut rows)?;
            start = end + 1;
        }
        self.pending.drain(..start);
        self.scanned -= start;
        if self.pending.len() > MAX_COPY_LINE {
            return Err(format!("a COPY line is longer than {} MB", MAX_COPY_LINE >> 20));
        }
        Ok(rows)
    }

    /// Ends the input: a last line without a newline is a row too.
    pub fn finish(&mut self) -> Result<Vec<Vec<Option<String>>>, String> {
        let line = std::mem::take(&mut self.pending);
        let mut rows = Vec::new();
        if !line.is_empty() {
            self.push_line(&line, &mut rows)?;
        }
        Ok(rows)
    }

    /// Where the record being read ends — a newline outside CSV quotes — searching on from
    /// where the last search stopped.
    fn record_end(&mut self) -> Option<usize> {
        for i in self.scanned..self.pending.len() {
            match self.pending[i] {
                b'"' if self.options.csv => self.quoted = !self.quoted,
                b'\n' if !self.quoted => {
                    self.scanned = i + 1;
                    return Some(i);
                }
                _ => {}
            }
        }
        self.scanned = self.pending.len();
        None
    }

    fn push_line(&mut self, line: &[u8], rows: &mut Vec<Vec<Option<String>>>) -> Result<(), String> {
        let line = std::str::from_utf8(line).map_err(|_| "COPY data is not valid UTF-8".to_owned())?;
        let line = line.strip_suffix('\r').unwrap_or(line);
        // `\.` alone on a line ends the data, in CSV too (where a quoted `"\."` is a value).
        if self.done || line == "\\." {
            self.done = true;
            return Ok(());
        }
        if std::mem::take(&mut self.skip_header) {
            return Ok(());
        }
        rows.push(if self.options.csv { self.csv_fields(line) } else { self.text_fields(line) });
        Ok(())
    }

    /// PostgreSQL's text format: fields split at delimiters not escaped by a backslash,
    /// then unescaped (`\n`, `\t`…, octal `\101`, hex `\x41`); the NULL marker as written.
    fn text_fields(&self, line: &str) -> Vec<Option<String>> {
        let mut raws = Vec::new();
        let (mut start, mut escaped) = (0, false);
        for (i, c) in line.char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                c if c == self.options.delimiter => {
                    raws.push(&line[start..i]);
                    start = i + c.len_utf8();
                }
                _ => {}
            }
        }
        raws.push(&line[start..]);
        raws.into_iter().map(|raw| (raw != self.options.null).then(|| unescape(raw))).collect()
    }

    fn csv_fields(&self, line: &str) -> Vec<Option<String>> {
        let (mut fields, mut cur, mut quoted, mut was_quoted) = (Vec::new(), String::new(), false, false);
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '"' if quoted && chars.peek() == Some(&'"') => {
                    cur.push('"');
                    chars.next();
                }
                '"' => {
                    quoted = !quoted;
                    was_quoted = true;
                }
                c if c == self.options.delimiter && !quoted => {
                    let v = std::mem::take(&mut cur);
                    fields.push(if !was_quoted && v == self.options.null { None } else { Some(v) });
                    was_quoted = false;
                }
                c => cur.push(c),
            }
        }
        fields.push(if !was_quoted && cur == self.options.null { None } else { Some(cur) });
        fields
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duckdb_settings_are_sorted_for_lookup() {
        assert!(DUCKDB_SETTINGS.windows(2).all(|w| w[0] < w[1]));
        assert!(DUCKDB_SETTINGS.binary_search(&"enable_external_access").is_ok());
        assert!(DUCKDB_SETTINGS.binary_search(&"timezone").is_err());
    }

    #[test]
    fn statements_split_at_top_level_semicolons_only() {
        assert_eq!(
            split("SELECT 1; SELECT ';'; -- x;\n SELECT $$a;b$$ ;"),
            vec!["SELECT 1", " SELECT ';'", " -- x;\n SELECT $$a;b$$ "]
        );
        assert_eq!(split(" ; -- only a comment"), Vec::<&str>::new());
        // Block comments nest and `--` ends at \r too, as DuckDB reads them.
        assert_eq!(
            split("/* /* ; */ ; */ SELECT 1; -- a;\rSELECT 2"),
            vec!["/* /* ; */ ; */ SELECT 1", " -- a;\rSELECT 2"]
        );
        // Commands after a leading comment read the same (a multi-byte character there
        // once made SHOW slice inside it).
        for command in ["SET search_path = x", "SHOW search_path", "COPY t FROM STDIN"] {
            assert_eq!(classify(&format!("/* /* */ */ -- é\n{command}")), classify(command), "{command}");
        }
        // …and so do comments between the words.
        assert_eq!(classify("SET/**/search_path--x\n= x"), classify("SET search_path = x"));
        assert_eq!(classify("RESET/* all */ALL"), Command::Reset(None));
        assert!(matches!(classify("COPY (SELECT 1) TO/* é */STDOUT"), Command::CopyOut(_)));
        // Multi-byte characters where a keyword may stand (they once split a character).
        assert_eq!(classify("SET TIME ZO€"), Command::Set { name: "time".into(), value: "ZO€".into(), local: false });
        assert_eq!(
            classify("SET abcde€x = 1"),
            Command::Set { name: "abcde€x".into(), value: "1".into(), local: false }
        );
        assert_eq!(classify("SET x T€"), Command::Set { name: "x".into(), value: "T€".into(), local: false });
    }

    #[test]
    fn session_commands_are_recognised() {
        assert_eq!(
            classify("SET extra_float_digits = 3"),
            Command::Set { name: "extra_float_digits".into(), value: "3".into(), local: false }
        );
        assert_eq!(
            classify("set application_name to 'psql'"),
            Command::Set { name: "application_name".into(), value: "psql".into(), local: false }
        );
        assert_eq!(
            classify("SET TIME ZONE 'UTC'"),
            Command::Set { name: "timezone".into(), value: "UTC".into(), local: false }
        );
        assert_eq!(
            classify("SET LOCAL search_path TO s"),
            Command::Set { name: "search_path".into(), value: "s".into(), local: true }
        );
        assert_eq!(classify("START TRANSACTION READ ONLY"), Command::Begin(Begin { start: true, read_only: true }));
        assert_eq!(
            classify("begin isolation level serializable"),
            Command::Begin(Begin { start: false, read_only: false })
        );
        let set_config = |name: &str, value: &str, local, column: &str| Command::SetConfig {
            name: name.into(),
            value: value.into(),
            local,
            column: column.into(),
        };
        assert_eq!(
            classify("select pg_catalog.set_config('search_path', '', false)"),
            set_config("search_path", "", false, "set_config")
        );
        assert_eq!(
            classify("SELECT set_config('application_name', 'it''s', true) AS s;"),
            set_config("application_name", "it's", true, "s")
        );
        assert_eq!(classify("SELECT set_config('a', 'b', false), 1"), Command::Sql);
        assert_eq!(classify("SELECT set_config(x, 'b', false) FROM t"), Command::Sql);
        assert_eq!(classify("SELECT 1"), Command::Sql);
        assert_eq!(classify("SHOW transaction_isolation"), Command::Show("transaction_isolation".into()));
        assert_eq!(classify("show transaction isolation level"), Command::Show("transaction_isolation".into()));
        assert_eq!(classify("SAVEPOINT sa_1"), Command::Savepoint("sa_1".into()));
        assert_eq!(
            (milliseconds("250"), milliseconds("5s"), milliseconds("2 min")),
            (Some(250), Some(5000), Some(120_000))
        );
        assert_eq!((milliseconds("0"), milliseconds("5 fortnights"), milliseconds("x")), (Some(0), None, None));
        let declare = |name: &str, hold, scroll, query: &str| Command::Declare {
            name: name.into(),
            hold,
            scroll,
            query: query.into(),
        };
        assert_eq!(classify(r#"DECLARE "Big" CURSOR FOR SELECT 1;"#), declare("Big", false, false, "SELECT 1"));
        assert_eq!(
            classify("declare c no scroll cursor with hold for select $1"),
            declare("c", true, false, "select $1")
        );
        assert_eq!(classify("DECLARE c SCROLL CURSOR FOR SELECT 1"), declare("c", false, true, "SELECT 1"));
        assert!(matches!(classify("DECLARE c BINARY CURSOR FOR SELECT 1"), Command::Unsupported(_)));
        use Direction::*;
        let fetch = |direction, skip| Command::Fetch { name: "c".into(), direction, skip };
        assert_eq!(classify(r#"FETCH FORWARD 1000 FROM "c""#), fetch(Forward(Some(1000)), false));
        assert_eq!(classify("fetch all in c"), fetch(Forward(None), false));
        assert_eq!(classify("FETCH c"), fetch(Forward(Some(1)), false));
        assert_eq!(classify("MOVE FORWARD 5 c"), fetch(Forward(Some(5)), true));
        assert_eq!(classify("FETCH PRIOR FROM c"), fetch(Backward(Some(1)), false));
        assert_eq!(classify("FETCH BACKWARD ALL c"), fetch(Backward(None), false));
        assert_eq!(classify("FETCH -2 FROM c"), fetch(Backward(Some(2)), false));
        assert_eq!(classify("MOVE ABSOLUTE -1 IN c"), fetch(Absolute(-1), true));
        assert_eq!(classify("FETCH LAST c"), fetch(Absolute(-1), false));
        assert_eq!(classify("FETCH RELATIVE 3 c"), fetch(Relative(3), false));
        assert_eq!(classify("CLOSE \"c\""), Command::Close(Some("c".into())));
        assert_eq!(classify("CLOSE ALL"), Command::Close(None));
        assert_eq!(classify("RELEASE SAVEPOINT PGJDBC_AUTOSAVE;"), Command::Release("pgjdbc_autosave".into()));
        assert_eq!(classify("release \"My Point\""), Command::Release("My Point".into()));
        assert_eq!(classify("ROLLBACK TO SAVEPOINT x"), Command::RollbackTo("x".into()));
        assert_eq!(classify("ROLLBACK TRANSACTION TO x"), Command::RollbackTo("x".into()));
        assert_eq!(classify("rollback to x"), Command::RollbackTo("x".into()));
        assert_eq!(classify("select 1"), Command::Sql);
    }

    #[test]
    fn copy_statements_are_parsed() {
        let Command::CopyIn(c) = classify("COPY \"My\".t (a, \"B\") FROM STDIN WITH (FORMAT csv, HEADER)") else {
            panic!()
        };
        assert_eq!(
            (c.schema.as_deref(), c.table.as_str(), c.columns.clone()),
            (Some("My"), "t", vec!["a".into(), "B".into()])
        );
        assert!(c.options.csv && c.options.header && c.options.delimiter == ',');
        let Command::CopyOut(c) = classify("COPY (SELECT 1) TO STDOUT") else { panic!() };
        assert_eq!(c.query, "SELECT 1");
        assert!(!c.options.csv);
        assert!(matches!(classify("COPY t TO '/etc/x'"), Command::Unsupported(_)));
        let Command::CopyIn(c) = classify("COPY t FROM STDIN (FORMAT binary)") else { panic!() };
        assert!(c.options.binary);
        let Command::CopyOut(c) = classify("COPY t TO STDOUT BINARY") else { panic!() };
        assert!(c.options.binary);
        assert!(matches!(classify("COPY t TO STDOUT (FORMAT parquet)"), Command::Unsupported(_)));
        assert!(matches!(
            classify(r#"COPY t FROM STDIN (FORMAT csv, QUOTE '"', ENCODING 'utf-8')"#),
            Command::CopyIn(_)
        ));
        assert!(matches!(classify("COPY t FROM STDIN (FORMAT csv, QUOTE '''')"), Command::Unsupported(_)));
        assert!(matches!(classify(r"COPY t TO STDOUT (FORMAT csv, ESCAPE '\')"), Command::Unsupported(_)));
        assert!(matches!(classify("COPY t TO STDOUT (ENCODING 'LATIN1')"), Command::Unsupported(_)));
        assert!(matches!(classify("COPY t FROM STDIN (FORMAT csv, FORCE_NOT_NULL (a))"), Command::Unsupported(_)));
        // ADBC's spelling, and psql's \copy (the options before PostgreSQL 9.0).
        let Command::CopyIn(c) = classify(r#"COPY "public" . "T" ("a") FROM STDIN WITH (FORMAT binary)"#) else {
            panic!()
        };
        assert_eq!(
            (c.schema.as_deref(), c.table.as_str(), c.columns.as_slice()),
            (Some("public"), "T", &["a".to_owned()][..])
        );
        let Command::CopyIn(c) = classify("COPY  Orders FROM STDIN csv header delimiter ';'") else { panic!() };
        assert_eq!(
            (c.table.as_str(), c.options.csv, c.options.header, c.options.delimiter),
            ("orders", true, true, ';')
        );
        assert_eq!(c.options.null, "", "CSV's NULL is the empty string");
    }

    #[test]
    fn copy_input_is_parsed_across_chunk_boundaries() {
        let mut p = CopyParser::new(CopyOptions {
            binary: false,
            csv: false,
            header: false,
            delimiter: '\t',
            null: "\\N".into(),
        });
        assert!(p.feed(b"1\ta\\tb\n2\t").unwrap().len() == 1);
        let rows = p.feed(b"\\N\n\\.\n").unwrap();
        assert_eq!(rows, vec![vec![Some("2".to_owned()), None]]);
        let mut p = CopyParser::new(CopyOptions {
            binary: false,
            csv: true,
            header: true,
            delimiter: ',',
            null: String::new(),
        });
        let rows = p.feed(b"a,b\n1,\"x\ny\"\n2,\n\"\\.\"\n\\.\n3,\n").unwrap();
        let value = |v: &str| Some(v.to_owned());
        assert_eq!(rows, vec![vec![value("1"), value("x\ny")], vec![value("2"), None], vec![value("\\.")]]);
        // A quoted line end across chunks: the quote state carries over (each chunk is read once).
        let mut p = CopyParser::new(CopyOptions {
            binary: false,
            csv: true,
            header: false,
            delimiter: ',',
            null: String::new(),
        });
        assert!(p.feed(b"1,\"a\n").unwrap().is_empty());
        assert!(p.feed(b"b\n").unwrap().is_empty());
        assert_eq!(p.feed(b"c\"\n").unwrap(), vec![vec![value("1"), value("a\nb\nc")]]);
    }

    #[test]
    fn copy_text_fields_read_what_copy_to_writes() {
        let bar = CopyParser::new(CopyOptions {
            binary: false,
            csv: false,
            header: false,
            delimiter: '|',
            null: "\\N".into(),
        });
        let value = |v: &str| Some(v.to_owned());
        // An escaped delimiter is data (the fields were once split before unescaping).
        assert_eq!(bar.text_fields("a\\|b|\\N|c\\\\|"), vec![value("a|b"), None, value("c\\"), value("")]);
        assert_eq!(bar.text_fields("\\101\\x42\\x4g\\0"), vec![value("AB\u{4}g\0")]);
    }

    #[test]
    fn a_copy_line_without_end_is_bounded() {
        let mut p = CopyParser::new(CopyOptions {
            binary: false,
            csv: false,
            header: false,
            delimiter: '\t',
            null: "\\N".into(),
        });
        let chunk = vec![b'x'; 1 << 20];
        let fed = (0..65).try_for_each(|_| p.feed(&chunk).map(drop));
        assert!(fed.unwrap_err().contains("longer than 64 MB"));
    }
}
