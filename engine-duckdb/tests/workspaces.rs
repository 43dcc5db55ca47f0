//! Workspaces at the engine level: a SQL session sees project tables live and read-only,
//! cannot reach the host's files, and writes results back through an import.

mod common;

use std::sync::Arc;
use std::sync::atomic::AtomicI64;

use duckdb::arrow::array::RecordBatch;
use duckdb::arrow::util::display::array_value_to_string;

use duckstore_engine_duckdb::DuckEngine;
use duckstore_plugin_sdk::names::{BranchRef, TableRef};
use duckstore_plugin_sdk::sql::{Outcome, RowSink, SqlColumn, SqlSession};
use duckstore_plugin_sdk::transfer::{ImportRequest, SourceWorkspaceTable};
use duckstore_plugin_sdk::workspaces::{NewWorkspace, Workspace};
use duckstore_plugin_sdk::{Result, StorageBackend, StorageError};

use common::{engine, integer, project_with_table};

#[derive(Default)]
struct Rows(Vec<Vec<String>>);

impl RowSink for Rows {
    fn columns(&mut self, _: &[SqlColumn]) -> Result<()> {
        Ok(())
    }
    fn rows(&mut self, batch: RecordBatch) -> Result<bool> {
        for r in 0..batch.num_rows() {
            self.0.push(batch.columns().iter().map(|c| array_value_to_string(c, r).unwrap()).collect());
        }
        Ok(true)
    }
}

fn query(s: &mut dyn SqlSession, sql: &str) -> Result<Vec<Vec<String>>> {
    let mut rows = Rows::default();
    s.execute(sql, &[], &mut rows)?;
    Ok(rows.0)
}

fn scalar(s: &mut dyn SqlSession, sql: &str) -> String {
    query(s, sql).unwrap_or_else(|e| panic!("{sql}: {e}"))[0][0].clone()
}

fn sqlstate(r: Result<impl std::fmt::Debug>) -> String {
    let e: StorageError = r.expect_err("the statement must fail");
    e.code.into_owned()
}

/// An engine with a project table and a workspace on the table's branch.
fn with_workspace(dir: &std::path::Path) -> (DuckEngine, BranchRef, TableRef, Workspace) {
    let e = engine(dir, Arc::new(AtomicI64::new(0)));
    let (main, table) = project_with_table(&e);
    let new = NewWorkspace { name: "w".into(), ttl_hours: None, size_limit_gb: None };
    let ws = e.create_workspace(&main, &new, "v", "t").unwrap();
    (e, main, table, ws)
}

#[test]
fn sessions_read_project_tables_live_and_write_results_back() {
    let dir = tempfile::tempdir().unwrap();
    let (e, _, table, ws) = with_workspace(dir.path());
    let mut s = e.open_sql_session(&ws.id).unwrap();
    assert_eq!(scalar(&mut *s, r#"SELECT count(*) FROM "in.c-b".t"#), "0");

    let done = s.execute("CREATE TABLE results AS SELECT range::INTEGER AS a FROM range(5)", &[], &mut Rows::default());
    assert_eq!(done.unwrap().1, Outcome::Changed(5), "CREATE TABLE AS reports its rows as PostgreSQL's SELECT n tag");
    let import = ImportRequest {
        source_workspace: Some(SourceWorkspaceTable { workspace_id: ws.id.clone(), table: "results".into() }),
        ..serde_json::from_str("{}").unwrap()
    };
    assert_eq!(e.import_table(&table, &import, "t").unwrap().rows_in_table, 5);
    assert_eq!(scalar(&mut *s, r#"SELECT sum(a) FROM "in.c-b".t"#), "10", "the session sees the import at once");

    // A table created through the API appears without reconnecting.
    e.create_table(
        &table.bucket_ref(),
        &duckstore_plugin_sdk::model::NewTable {
            name: "u".parse().unwrap(),
            columns: vec![integer("x")],
            primary_key: vec![],
        },
    )
    .unwrap();
    assert_eq!(scalar(&mut *s, r#"SELECT count(*) FROM "in.c-b".u"#), "0");
}

#[test]
fn project_tables_are_read_only_and_host_files_out_of_reach() {
    let dir = tempfile::tempdir().unwrap();
    let (e, main, _, ws) = with_workspace(dir.path());
    let mut s = e.open_sql_session(&ws.id).unwrap();
    for write in [
        r#"INSERT INTO "in.c-b".t VALUES (1)"#,
        r#"UPDATE "in.c-b".t SET a = 2"#,
        r#"DELETE FROM "in.c-b".t"#,
        r#"DROP VIEW "in.c-b".t"#,
        r#"CREATE TABLE "in.c-b".x (a INT)"#,
        r#"CREATE OR REPLACE VIEW "in.c-b".t AS SELECT 42 AS a"#,
        r#"CREATE SCHEMA "out.c-mine""#,
        r#"DROP SCHEMA "in.c-b" CASCADE"#,
        // DuckDB's names are case-insensitive: this one would hold bucket in.c-future's views.
        r#"CREATE SCHEMA "IN.c-future""#,
        r#"COMMENT ON VIEW "in.c-b".t IS 'deprecated'"#,
        r#"COMMENT ON COLUMN "in.c-b".t.a IS 'pii'"#,
    ] {
        assert_eq!(sqlstate(query(&mut *s, write)), "42501", "{write}");
    }
    assert_eq!(scalar(&mut *s, r#"SELECT count(*) FROM "in.c-b".t"#), "0", "the table is still there");

    for escape in [
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_text('/etc/hostname')",
        "COPY (SELECT 1) TO '/tmp/out.csv'",
        "ATTACH '/tmp/other.duckdb'",
        "INSTALL httpfs",
        "LOAD httpfs",
        "SET enable_external_access = true",
    ] {
        assert!(query(&mut *s, escape).is_err(), "{escape} must fail");
    }
    assert_eq!(sqlstate(query(&mut *s, "SELECT * FROM read_csv('/etc/passwd')")), "42501");
    // Switches that bypass lock_configuration and would print to the server's stdout.
    for switch in [
        "PRAGMA enable_profiling",
        "PRAGMA enable_progress_bar",
        "CALL enable_logging(storage := 'stdout')",
        "SELECT * FROM enable_profiling()",
        "SELECT * FROM query('SELECT * FROM enable_log' || 'ging()')",
        r#"SELECT*FROM"enable_logging"(storage:='stdout')"#,
        "CALL enable_logging\u{200b}(storage := 'stdout')",
    ] {
        assert_eq!(sqlstate(query(&mut *s, switch)), "42501", "{switch}");
    }
    // Statements that run another one inside: that one is checked too (found in review:
    // files written to the workspace's temp directory, then run by IMPORT DATABASE).
    let temp = scalar(&mut *s, "SELECT current_setting('temp_directory')");
    for nested in [
        format!("EXPLAIN ANALYZE COPY (SELECT 1) TO '{temp}/schema.sql'"),
        format!("EXPLAIN (ANALYZE) COPY (SELECT 1) TO '{temp}/schema.sql'"),
        format!("PREPARE/**/w AS COPY (SELECT 1) TO '{temp}/schema.sql'"),
        format!("IMPORT DATABASE '{temp}'"),
        "EXPLAIN ANALYZE PRAGMA enable_progress_bar".to_owned(),
        r#"EXPLAIN (ANALYZE) DROP VIEW "in.c-b".t"#.to_owned(),
        // The catalog emulation is reached by unqualified DDL through the search path.
        "DROP VIEW pg_class".to_owned(),
        "COMMENT ON VIEW pg_tables IS 'x'".to_owned(),
        // CHECKPOINT of the system catalog invalidated the workspace's instance.
        "CHECKPOINT system".to_owned(),
        "SELECT * FROM checkpoint('system')".to_owned(),
        "ALTER VIEW pg_namespace RENAME TO zz".to_owned(),
    ] {
        assert_eq!(sqlstate(query(&mut *s, &nested)), "42501", "{nested}");
    }
    // A comment in EXPLAIN's options could hide where they end (and an ANALYZE).
    let hidden = format!("EXPLAIN (FORMAT text /*) SELECT 1 --*/, ANALYZE) COPY (SELECT 1) TO '{temp}/schema.sql'");
    assert_eq!(sqlstate(query(&mut *s, &hidden)), "42601");
    assert_eq!(scalar(&mut *s, "SELECT count(*) > 0 FROM pg_class WHERE relname = 't'"), "true");
    assert!(!std::path::Path::new(&temp).join("schema.sql").exists(), "nothing was written");
    assert!(query(&mut *s, "EXPLAIN ANALYZE SELECT 1").unwrap().len() > 1, "queries can still be analyzed");
    // Reading a NULL argument as text aborted the server (a C++ exception reaching Rust).
    assert!(query(&mut *s, "SELECT * FROM storage_table(NULL, 't')").is_err());
    assert!(query(&mut *s, "EXPLAIN SELECT * FROM storage_table('in.c-b', NULL::VARCHAR)").is_err());
    // The protocol counts columns in 16 bits: more than 32,767 once panicked COPY TO.
    let wide = format!("SELECT {}", vec!["1"; 1665].join(", "));
    assert_eq!(sqlstate(query(&mut *s, &wide)), "54011");
    // SQL holding the rewriter's own markers is an error, not a broken session.
    assert!(query(&mut *s, "SELECT '\x01999\x02'").is_ok());
    // (The settings share the functions' names, refused as words anywhere.)
    let switched = "SELECT coalesce(max(value) FILTER (name = 'enable_' || 'logging'), '-') || '/' || \
                    coalesce(max(value) FILTER (name = 'enable_' || 'profiling'), '-') FROM duckdb_settings()";
    assert_eq!(scalar(&mut *s, switched), "0/-", "logging and profiling stay off");

    // Names the engine's own SQL calls cannot be taken over by the workspace's objects,
    // which every session of the workspace would then run (found in review).
    for set in ["SET/**/search_path = 'ds'||'_pg.main'", "USE ds_pg", "SET VARIABLE v = 1"] {
        assert_eq!(sqlstate(query(&mut *s, set)), "42501", "{set}");
    }
    query(&mut *s, "CREATE MACRO storage_table(b, t, filter := NULL) AS TABLE SELECT 'spoofed' AS a").unwrap();
    let mut other = e.open_sql_session(&ws.id).unwrap();
    assert_eq!(query(&mut *other, r#"SELECT * FROM "in.c-b".t"#).unwrap(), Vec::<Vec<String>>::new());
    let load: duckstore_plugin_sdk::workspaces::LoadRequest =
        serde_json::from_str(r#"{"tables": [{"bucket_id": "in.c-b", "table_name": "t", "destination": "t_copy"}]}"#)
            .unwrap();
    assert_eq!(e.load_workspace(&main, &ws.id, &load).unwrap().loaded[0].rows, 0, "the load reads the table");

    // The workspace itself is writable.
    query(&mut *s, "CREATE TABLE mine AS SELECT 1 AS x").unwrap();
    assert_eq!(scalar(&mut *s, "SELECT count(*) FROM mine"), "1");
    assert_eq!(scalar(&mut *s, "PRAGMA table_info('mine')"), "0", "pragmas that only read still work");

    // Deleting the workspace ends its sessions.
    e.delete_workspace(&main, &ws.id).unwrap();
    assert_eq!(sqlstate(query(&mut *s, "SELECT 1")), "57P01");
}

#[test]
fn to_char_formats_dates_as_postgres_does() {
    let dir = tempfile::tempdir().unwrap();
    let (e, _, _, ws) = with_workspace(dir.path());
    let mut s = e.open_sql_session(&ws.id).unwrap();
    // Expected values are PostgreSQL 15's answers (TimeZone UTC).
    for (value, format, expected) in [
        ("TIMESTAMP '2024-03-05 14:07:09.123456'", "YYYY-MM-DD HH24:MI:SS", "2024-03-05 14:07:09"),
        (
            "TIMESTAMP '2024-03-05 14:07:09.123456'",
            "Day, DD Month YYYY HH12:MI AM",
            "Tuesday  , 05 March     2024 02:07 PM",
        ),
        (
            "TIMESTAMP '2024-03-05 04:07:09.123456'",
            r#"FMDay, FMDD FMMonth YYYY "at %" FMHH12 pm MS US"#,
            "Tuesday, 5 March 2024 at % 4 am 123 123456",
        ),
        ("DATE '2024-03-05'", r#"YYYY-"Q"Q IW WW D DDD Mon MON mon dy DY"#, "2024-Q1 10 10 3 065 Mar MAR mar tue TUE"),
        ("TIMESTAMPTZ '2024-03-05 14:07:09+02'", "yyyy-mm-dd hh24:mi", "2024-03-05 12:07"),
        ("DATE '2024-01-01'", "IW WW D Day month A.M. a.m.", "01 01 2 Monday    january   A.M. a.m."),
        ("DATE '2024-12-30'", "IW WW DDD FMDDD", "01 53 365 365"),
        ("TIMESTAMP '2024-03-05 00:07:09'", "HH HH12 FMHH am", "12 12 12 am"),
    ] {
        let sql = format!("SELECT to_char({value}, '{format}')");
        assert_eq!(scalar(&mut *s, &sql), expected, "{sql}");
    }
    let nulls = "SELECT to_char(DATE '2024-03-05', '') IS NULL AND to_char(NULL::DATE, 'YYYY') IS NULL";
    assert_eq!(scalar(&mut *s, nulls), "true");
    // Per row, over a column, in the fast (one strftime) and the field-by-field form.
    query(&mut *s, "CREATE TABLE d AS SELECT DATE '2024-01-31' + i::INT AS day FROM range(3) r(i)").unwrap();
    let months =
        "SELECT string_agg(to_char(day, 'Mon-DD') || '/' || to_char(day, 'FMMonth Q'), ' ' ORDER BY day) FROM d";
    assert_eq!(scalar(&mut *s, months), "Jan-31/January 1 Feb-01/February 1 Feb-02/February 1");
}

/// A client that reads the first rows of a query, then leaves it open until released.
struct Paused {
    started: std::sync::mpsc::Sender<()>,
    release: std::sync::mpsc::Receiver<()>,
}

impl RowSink for Paused {
    fn columns(&mut self, _: &[SqlColumn]) -> Result<()> {
        Ok(())
    }
    fn rows(&mut self, _: RecordBatch) -> Result<bool> {
        let _ = self.started.send(());
        let _ = self.release.recv();
        Ok(false)
    }
}

#[test]
fn a_query_left_open_holds_up_only_its_table() {
    use std::sync::mpsc::channel;
    use std::time::Duration;
    let dir = tempfile::tempdir().unwrap();
    let (e, main, table, ws) = with_workspace(dir.path());
    let e = Arc::new(e);
    let mut s = e.open_sql_session(&ws.id).unwrap();
    query(&mut *s, "CREATE TABLE results AS SELECT range::INTEGER AS a FROM range(5)").unwrap();
    let import = ImportRequest {
        source_workspace: Some(SourceWorkspaceTable { workspace_id: ws.id.clone(), table: "results".into() }),
        ..serde_json::from_str("{}").unwrap()
    };
    e.import_table(&table, &import, "t").unwrap();

    let ((started, started_rx), (release, release_rx)) = (channel(), channel());
    let reader = std::thread::spawn(move || {
        let mut paused = Paused { started, release: release_rx };
        s.execute(r#"SELECT * FROM "in.c-b".t"#, &[], &mut paused).map(|_| ())
    });
    started_rx.recv_timeout(Duration::from_secs(30)).expect("the query streams");
    // Truncating waits for the reader, as in PostgreSQL…
    let truncating = {
        let (e, table) = (e.clone(), table.clone());
        std::thread::spawn(move || e.truncate_table(&table, "t"))
    };
    std::thread::sleep(Duration::from_millis(300));
    // …but the catalog goes on taking writes meanwhile (it once waited with the truncate).
    let (done, done_rx) = channel();
    {
        let e = e.clone();
        let new = duckstore_plugin_sdk::model::NewBucket {
            stage: "out".parse().unwrap(),
            name: "other".parse().unwrap(),
            description: None,
        };
        std::thread::spawn(move || done.send(e.create_bucket(&main, &new).map(|_| ())));
    }
    done_rx.recv_timeout(Duration::from_secs(30)).expect("a catalog write waited for the open query").unwrap();
    release.send(()).unwrap();
    reader.join().unwrap().unwrap();
    assert_eq!(truncating.join().unwrap().unwrap(), 5, "the truncate went on once the query closed");
}

#[test]
fn an_expired_workspaces_open_sessions_end_at_its_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let days = Arc::new(AtomicI64::new(0));
    let e = engine(dir.path(), days.clone());
    let (main, _) = project_with_table(&e);
    let new = NewWorkspace { name: "w".into(), ttl_hours: Some(24), size_limit_gb: None };
    let ws = e.create_workspace(&main, &new, "v", "t").unwrap();
    let mut s = e.open_sql_session(&ws.id).unwrap();
    assert_eq!(scalar(&mut *s, "SELECT 1"), "1");
    // A day and more later the workspace has expired, swept or not: the open session ends.
    days.store(2, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(sqlstate(query(&mut *s, "SELECT 1")), "57P01");
    assert!(e.open_sql_session(&ws.id).is_err(), "and no new one opens");
}
