//! SQL workspaces over the PostgreSQL wire protocol, used with real clients: tokio-postgres
//! (simple and extended protocol, COPY, cancel), psql and Python (psycopg, SQLAlchemy).

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client as Pg, NoTls};

use crate::harness::{Client, Server, branch, create_bucket, create_table, table};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// A project `p1` with table `in.c-main.t (id, name)` holding two rows, and a workspace.
fn setup(server: &Server) -> (Client, Value) {
    let p1 = server.project("p1");
    create_bucket(&p1, "p1", "main");
    create_table(&p1, "p1", "in.c-main", "t");
    let file = p1.upload("p1", "t.csv", "id,name\n1,a\n2,b\n");
    p1.import(&table("p1", "in.c-main", "t"), json!({"file_id": file})).expect(200);
    let ws = p1.post(&format!("{}/workspaces", branch("p1")), json!({"name": "analysis"})).expect(201);
    (p1, ws)
}

fn conninfo(server: &Server, ws: &Value, password: &str) -> String {
    let id = ws["id"].as_str().unwrap();
    format!("host=127.0.0.1 port={} dbname={id} user={id} password={password}", server.pg_port)
}

fn password(ws: &Value) -> &str {
    ws["connection"]["password"].as_str().unwrap()
}

async fn connect(info: &str) -> Result<Pg, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(info, NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

fn code(e: &tokio_postgres::Error) -> SqlState {
    e.code().cloned().unwrap_or_else(|| panic!("expected a SQL error, got {e}"))
}

#[test]
fn analysts_query_project_tables_live_and_write_results_back() {
    let server = Server::start();
    let (p1, ws) = setup(&server);
    assert_eq!(ws["connection"]["port"], server.pg_port);
    let info = conninfo(&server, &ws, password(&ws));
    let t = table("p1", "in.c-main", "t");
    let rt = runtime();
    let pg = rt.block_on(connect(&info)).unwrap();
    // Extended protocol with a parameter, against the project table.
    let rows = rt.block_on(pg.query(r#"SELECT name FROM "in.c-main".t WHERE id = $1"#, &[&2i32])).unwrap();
    assert_eq!(rows[0].get::<_, String>(0), "b");

    // An import through the API is visible at once, on the same connection.
    let file = p1.upload("p1", "more.csv", "id,name\n3,c\n");
    p1.import(&t, json!({"file_id": file, "incremental": true})).expect(200);
    let n: i64 = rt.block_on(pg.query_one(r#"SELECT count(*) FROM "in.c-main".t"#, &[])).unwrap().get(0);
    assert_eq!(n, 3);

    rt.block_on(async {
        // The workspace is writable; the project table is not.
        pg.batch_execute(r#"CREATE TABLE result AS SELECT id, upper(name) AS name FROM "in.c-main".t"#).await.unwrap();
        let changed = pg.execute("INSERT INTO result VALUES ($1, $2)", &[&10i32, &"z"]).await.unwrap();
        assert_eq!(changed, 1);
        for write in [r#"INSERT INTO "in.c-main".t VALUES (9, 'x')"#, r#"DROP VIEW "in.c-main".t"#] {
            let e = pg.batch_execute(write).await.unwrap_err();
            assert_eq!(code(&e), SqlState::INSUFFICIENT_PRIVILEGE, "{write}");
        }
        // Nor through macros named like the built-ins duckstore's own checks call.
        for shadow in [r#"CREATE MACRO "||"(a, b) AS 'same'"#, "CREATE MACRO duckdb_views() AS TABLE SELECT 1 AS x"] {
            pg.batch_execute(shadow).await.unwrap();
        }
        let e = pg.batch_execute(r#"CREATE OR REPLACE VIEW "in.c-main".t AS SELECT 1 AS id, 'fake' AS name"#).await;
        assert_eq!(code(&e.unwrap_err()), SqlState::INSUFFICIENT_PRIVILEGE);
        // (The catalog emulation reads DuckDB's catalog by full names too.)
        let listed = "SELECT count(*) FROM pg_class WHERE relname = 't' AND relkind = 'r'";
        assert_eq!(pg.query_one(listed, &[]).await.unwrap().get::<_, i64>(0), 1);
        pg.batch_execute(r#"DROP MACRO "||""#).await.unwrap();
        pg.batch_execute("DROP MACRO TABLE duckdb_views").await.unwrap();
        let e = pg.batch_execute("SELECT * FROM read_csv('/etc/passwd')").await.unwrap_err();
        assert_eq!(code(&e), SqlState::INSUFFICIENT_PRIVILEGE);
        // The catalog emulation is shared by the workspace's sessions and cannot be changed.
        for tamper in
            ["CREATE OR REPLACE MACRO ds_pg.main.version() AS 'x'", "USE ds_pg", "DROP VIEW ds_pg.main.pg_class"]
        {
            let e = pg.batch_execute(tamper).await.unwrap_err();
            assert_eq!(code(&e), SqlState::INSUFFICIENT_PRIVILEGE, "{tamper}");
        }
        let version: String = pg.query_one("SELECT version()", &[]).await.unwrap().get(0);
        assert!(version.starts_with("PostgreSQL 15"), "{version}");

        // search_path reaches bucket schemas (pgjdbc's setSchema, DBeaver's active schema).
        assert!(pg.batch_execute("SELECT count(*) FROM t").await.is_err(), "t is only in the bucket schema");
        pg.batch_execute(r#"SET search_path TO "in.c-main", public"#).await.unwrap();
        let row = pg.query_one(r#"SELECT count(*), current_schema() FROM t JOIN "in.c-main".t q USING (id)"#, &[]);
        let row = row.await.unwrap();
        assert_eq!((row.get::<_, i64>(0), row.get::<_, String>(1)), (3, "in.c-main".to_owned()));
        pg.batch_execute("RESET search_path").await.unwrap();
        assert!(pg.batch_execute("SELECT count(*) FROM t").await.is_err());
        let schema: String = pg.query_one("SELECT current_schema()", &[]).await.unwrap().get(0);
        assert_eq!(schema, "public");

        // COPY both ways, served by duckstore itself.
        let sink = pg.copy_in("COPY result (id, name) FROM STDIN WITH (FORMAT csv)").await.unwrap();
        futures_util::pin_mut!(sink);
        use futures_util::SinkExt;
        sink.send(bytes::Bytes::from_static(b"20,\"with, comma\"\n21,\n")).await.unwrap();
        assert_eq!(sink.finish().await.unwrap(), 2);
        let out = pg.copy_out("COPY (SELECT id, name FROM result WHERE id >= 20 ORDER BY id) TO STDOUT").await.unwrap();
        use futures_util::TryStreamExt;
        let data: Vec<bytes::Bytes> = out.try_collect().await.unwrap();
        assert_eq!(data.concat(), b"20\twith, comma\n21\t\\N\n");
        let sql = "COPY (SELECT id, name FROM result WHERE id >= 20 ORDER BY id) TO STDOUT WITH (FORMAT csv, HEADER)";
        let data: Vec<bytes::Bytes> = pg.copy_out(sql).await.unwrap().try_collect().await.unwrap();
        assert_eq!(data.concat(), b"id,name\n20,\"with, comma\"\n21,\n");
        // A row with a field too many is PostgreSQL's 22P04, and nothing of the COPY stays.
        let sink = pg.copy_in("COPY result (id, name) FROM STDIN").await.unwrap();
        futures_util::pin_mut!(sink);
        sink.send(bytes::Bytes::from_static(b"22\tok\n23\ta\tb\n")).await.unwrap();
        assert_eq!(code(&sink.finish().await.unwrap_err()), SqlState::BAD_COPY_FILE_FORMAT);
        let n: i64 = pg.query_one("SELECT count(*) FROM result WHERE id >= 22", &[]).await.unwrap().get(0);
        assert_eq!(n, 0);
    });

    // Results go back to storage through an import from the workspace table.
    let source = json!({"workspace_id": ws["id"], "table": "result"});
    p1.import(&t, json!({"source_workspace": source})).expect(200);
    let rows = p1.rows(&t, "id");
    assert_eq!(rows.len(), 6);
    assert_eq!(rows[0]["name"], "A");
}

#[test]
fn transactions_roll_back_and_failed_ones_must_be_ended() {
    let server = Server::start();
    let (_, ws) = setup(&server);
    let info = conninfo(&server, &ws, password(&ws));
    runtime().block_on(async {
        let mut pg = connect(&info).await.unwrap();
        pg.batch_execute("CREATE TABLE k (a INT)").await.unwrap();
        let tx = pg.transaction().await.unwrap();
        tx.execute("INSERT INTO k VALUES (1)", &[]).await.unwrap();
        tx.rollback().await.unwrap();
        let n: i64 = pg.query_one("SELECT count(*) FROM k", &[]).await.unwrap().get(0);
        assert_eq!(n, 0);

        pg.batch_execute("BEGIN").await.unwrap();
        assert!(pg.batch_execute("SELECT * FROM nope").await.is_err());
        let e = pg.batch_execute("SELECT 1").await.unwrap_err();
        assert_eq!(code(&e), SqlState::IN_FAILED_SQL_TRANSACTION);
        pg.batch_execute("ROLLBACK").await.unwrap();
        pg.batch_execute("SELECT 1").await.unwrap();
    });
}

#[test]
fn rollback_to_savepoint_undoes_failed_statements_and_refuses_what_it_cannot_undo() {
    let server = Server::start();
    let (_, ws) = setup(&server);
    let info = conninfo(&server, &ws, password(&ws));
    runtime().block_on(async {
        let pg = connect(&info).await.unwrap();
        let e = pg.batch_execute("SAVEPOINT a").await.unwrap_err();
        assert_eq!(code(&e), SqlState::NO_ACTIVE_SQL_TRANSACTION);
        pg.batch_execute("CREATE TABLE k (a INT PRIMARY KEY)").await.unwrap();
        let count = || async { pg.query_one("SELECT count(*) FROM k", &[]).await.unwrap().get::<_, i64>(0) };

        // psql's ON_ERROR_ROLLBACK / pgjdbc's autosave: a savepoint before each statement,
        // rolled back to when the statement fails; the transaction goes on (both protocols).
        pg.batch_execute("BEGIN; INSERT INTO k VALUES (1); SAVEPOINT s").await.unwrap();
        assert!(pg.batch_execute("SELECT * FROM nope").await.is_err());
        assert_eq!(code(&pg.batch_execute("SELECT 1").await.unwrap_err()), SqlState::IN_FAILED_SQL_TRANSACTION);
        pg.batch_execute("ROLLBACK TO SAVEPOINT s").await.unwrap();
        pg.execute("SAVEPOINT s", &[]).await.unwrap();
        assert!(pg.execute("SELECT no_such_column FROM k", &[]).await.is_err());
        pg.execute("ROLLBACK TO s", &[]).await.unwrap();
        pg.execute("RELEASE s", &[]).await.unwrap();
        pg.execute("INSERT INTO k VALUES ($1)", &[&2i32]).await.unwrap();
        pg.batch_execute("COMMIT").await.unwrap();
        assert_eq!(count().await, 2);

        // A statement that succeeded after the savepoint cannot be undone: refused, not half done.
        pg.batch_execute("BEGIN; SAVEPOINT s; INSERT INTO k VALUES (3)").await.unwrap();
        let e = pg.batch_execute("ROLLBACK TO SAVEPOINT s").await.unwrap_err();
        assert_eq!(code(&e), SqlState::FEATURE_NOT_SUPPORTED, "{e:?}");
        pg.batch_execute("ROLLBACK").await.unwrap();
        pg.batch_execute("BEGIN").await.unwrap();
        let e = pg.batch_execute("RELEASE nope").await.unwrap_err();
        assert_eq!(code(&e), SqlState::S_E_INVALID_SPECIFICATION);
        pg.batch_execute("ROLLBACK").await.unwrap();
        assert_eq!(count().await, 2);

        // A failure that aborted DuckDB's whole transaction (a constraint) leaves it failed.
        pg.batch_execute("BEGIN; SAVEPOINT s").await.unwrap();
        assert!(pg.batch_execute("INSERT INTO k VALUES (1)").await.is_err());
        let e = pg.batch_execute("ROLLBACK TO SAVEPOINT s").await.unwrap_err();
        assert_eq!(code(&e), SqlState::IN_FAILED_SQL_TRANSACTION);
        assert_eq!(code(&pg.batch_execute("SELECT 1").await.unwrap_err()), SqlState::IN_FAILED_SQL_TRANSACTION);
        pg.batch_execute("ROLLBACK").await.unwrap();
        assert_eq!(count().await, 2);
    });
}

#[test]
fn large_tables_are_read_in_parallel_parts_with_every_row_once() {
    let server = Server::start();
    let p1 = server.project("p1");
    create_bucket(&p1, "p1", "main");
    create_table(&p1, "p1", "in.c-main", "t");
    let rows = 1_000_000;
    let csv: String =
        std::iter::once("id,name\n".to_owned()).chain((0..rows).map(|i| format!("{i},c{}\n", i % 17))).collect();
    let t = table("p1", "in.c-main", "t");
    p1.import(&t, json!({"file_id": p1.upload("p1", "big.csv", csv)})).expect(200);
    // Parts are ranges of row ids, which deleting rows leaves with gaps until DuckDB compacts them.
    let first_tenth = json!({"filters": [{"column": "id", "operator": "lt", "values": [rows / 10]}]});
    p1.send("DELETE", &format!("{t}/rows"), Some(first_tenth)).expect(200);
    let ws = p1.post(&format!("{}/workspaces", branch("p1")), json!({"name": "big"})).expect(201);
    let info = conninfo(&server, &ws, password(&ws));
    let kept = (rows / 10)..rows;
    runtime().block_on(async {
        let pg = connect(&info).await.unwrap();
        // An aggregate consumes the parts on several threads: each row counted exactly once.
        // (Joined with a workspace table, so that the aggregate runs in the workspace, not
        // pushed down.)
        pg.batch_execute("CREATE TABLE one AS SELECT 1 AS k").await.unwrap();
        let sql = r#"WITH t AS (SELECT * FROM "in.c-main".t, one)
                     SELECT count(*), count(DISTINCT id), sum(id)::BIGINT, min(id), max(id) FROM t"#;
        let row = pg.query_one(sql, &[]).await.unwrap();
        let n = kept.len() as i64;
        let sum: i64 = kept.clone().map(i64::from).sum();
        let got = (row.get::<_, i64>(0), row.get::<_, i64>(1), row.get::<_, i64>(2), row.get(3), row.get(4));
        assert_eq!(got, (n, n, sum, rows / 10, rows - 1));
        let sql = r#"WITH t AS (SELECT * FROM "in.c-main".t, one) SELECT name, count(*) FROM t GROUP BY name"#;
        let groups = pg.query(sql, &[]).await.unwrap();
        assert_eq!(groups.len(), 17);
        assert_eq!(groups.iter().map(|g| g.get::<_, i64>(1)).sum::<i64>(), n);
        // Rows streamed to the client: each once (in no particular order, as in PostgreSQL).
        let sql = r#"WITH t AS (SELECT * FROM "in.c-main".t, one) SELECT id FROM t"#;
        let mut ids: Vec<i32> = pg.query(sql, &[]).await.unwrap().iter().map(|r| r.get(0)).collect();
        ids.sort_unstable();
        assert!(ids.iter().copied().eq(kept), "rows missing or repeated");
    });
}

/// Every row of a simple-protocol result, as text.
fn text_rows(messages: Vec<tokio_postgres::SimpleQueryMessage>) -> Vec<Vec<Option<String>>> {
    messages
        .into_iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => {
                Some((0..r.len()).map(|i| r.get(i).map(str::to_owned)).collect())
            }
            _ => None,
        })
        .collect()
}

#[test]
fn queries_of_project_tables_answer_alike_when_run_next_to_their_files() {
    let server = Server::start();
    let p1 = server.project("p1");
    create_bucket(&p1, "p1", "main");
    create_table(&p1, "p1", "in.c-main", "t");
    let csv: String = std::iter::once("id,name\n".to_owned())
        .chain((1..=3000).map(|i| if i % 11 == 0 { format!("{i},\n") } else { format!("{i},n{}\n", i % 13) }))
        .collect();
    p1.import(&table("p1", "in.c-main", "t"), json!({"file_id": p1.upload("p1", "t.csv", csv)})).expect(200);
    // A dimension naming some of t's names, some twice (n7–n12 have none).
    create_table(&p1, "p1", "in.c-main", "d");
    let dims: String =
        std::iter::once("id,name\n".to_owned()).chain((0..10).map(|i| format!("{i},n{}\n", i % 7))).collect();
    p1.import(&table("p1", "in.c-main", "d"), json!({"file_id": p1.upload("p1", "d.csv", dims)})).expect(200);
    let ws = p1.post(&format!("{}/workspaces", branch("p1")), json!({"name": "w"})).expect(201);
    // Each query is asked of the project tables (run in the hub where it qualifies) and of
    // copies in the workspace (always run there): the answers must match.
    let queries = [
        "SELECT name, count(*), sum(id), avg(id), min(id), max(id) FROM {t} GROUP BY name ORDER BY name NULLS FIRST",
        "SELECT count(*) FROM {t} WHERE name LIKE 'n1%' AND id BETWEEN 100 AND 2000 OR name IS NULL",
        "SELECT x.name AS n, count(*) FILTER (WHERE x.id % 2 = 0) AS even FROM {t} AS x GROUP BY n HAVING count(*) > 200 \
         ORDER BY even DESC, n LIMIT 3 OFFSET 1",
        "SELECT DISTINCT upper(coalesce(name, '-')) FROM {t} WHERE id IN (1, 2, 3, 11, 12) ORDER BY 1",
        "SELECT CASE WHEN id < 10 THEN 'small' ELSE 'big' END AS size, sum(id)::DECIMAL(20, 2), string_agg(name, ',' ORDER BY id) \
         FROM {t} WHERE id < 20 GROUP BY ALL ORDER BY 1",
        "SELECT CAST(TIMESTAMPTZ '2024-02-01 02:00:00+00' AS DATE) AS d, date_part('hour', TIMESTAMPTZ '2024-02-01 02:00:00+00'), \
         count(*) FROM {t} GROUP BY d",
        "SELECT * FROM {t} WHERE id > 2990 ORDER BY id",
        "SELECT * EXCLUDE (name), name || '!' FROM {t} WHERE id < 5 ORDER BY id",
        "SELECT lower(name), count(*) FROM {t} GROUP BY 1 ORDER BY 1 LIMIT 2",
        "SELECT id, nullif(name, 'n1'), trim(both 'n' FROM name), substring(name FROM 2 FOR 1), lpad(name, 4, '*'), \
         strpos(name, '1'), split_part(name, '1', 2), regexp_replace(name, '[0-9]', '#', 'g'), name ~ '^n1' \
         FROM {t} WHERE id < 30 ORDER BY id",
        "SELECT EXTRACT(day FROM DATE '2024-01-30' + INTERVAL 3 DAY + id * INTERVAL '1 hour') AS d, count(*), \
         strftime(max(TIMESTAMP '2024-01-01' + to_minutes(id)), '%Y-%m-%d %H:%M') FROM {t} GROUP BY ALL ORDER BY 1",
        // As Metabase writes them: columns qualified by schema and table, nested queries.
        r#"SELECT {s}.{n}."name" AS "name", count(*) AS "count" FROM {s}.{n} GROUP BY {s}.{n}."name"
           ORDER BY {s}.{n}."name" ASC NULLS FIRST"#,
        r#"SELECT "source"."n", count(*) AS "count" FROM (SELECT {s}.{n}."name" AS "n" FROM {s}.{n}
           WHERE {s}.{n}."id" > 100) AS "source" GROUP BY "source"."n" ORDER BY "count" DESC, 1 NULLS FIRST LIMIT 5"#,
        // What DuckDB prints back loosely or unquoted must not change the answer (or reach
        // the host: an alias ending the query early and reading a file in the hub).
        "SELECT 0.1e0 + 0.2e0 = 0.3, CAST(0.1e0 + 0.2e0 AS VARCHAR), CAST(5. // 2 AS VARCHAR) FROM {t} LIMIT 1",
        "SELECT current_catalog, user, count(*) FROM {t} GROUP BY ALL",
        r#"SELECT {s}.{n}.name FROM (SELECT x AS {n}, CASE WHEN false THEN x END AS x FROM {t} AS x) AS {s}
           ORDER BY 1 NULLS FIRST LIMIT 3"#,
        r#"SELECT "s.* FROM (SELECT 0 AS id, content AS name FROM read_text('/etc/passwd')) s --".*
           FROM {t} AS "s.* FROM (SELECT 0 AS id, content AS name FROM read_text('/etc/passwd')) s --"
           ORDER BY id LIMIT 2"#,
        // Joins, CTEs, subqueries, set operations and windows over several project tables.
        "SELECT d.id AS region, count(*), sum(t.id) FROM {t} AS t JOIN {d} AS d USING (name) GROUP BY 1 ORDER BY 1",
        "SELECT t.id, t.name, d.id FROM {t} AS t LEFT JOIN {d} AS d ON t.name = d.name WHERE t.id < 40 ORDER BY t.id",
        "SELECT count(*), count(t.id), count(d.id) FROM {t} AS t FULL JOIN {d} AS d ON t.name = d.name",
        "WITH r AS (SELECT d.id AS region, count(*) AS n FROM {t} JOIN {d} AS d USING (name) GROUP BY 1) \
         SELECT region, n, rank() OVER (ORDER BY n DESC, region) FROM r ORDER BY 3",
        "SELECT name FROM {t} WHERE id < 50 EXCEPT SELECT name FROM {d} ORDER BY 1 NULLS FIRST",
        "SELECT name FROM {d} UNION SELECT name FROM {t} WHERE id < 5 ORDER BY 1",
        "SELECT id FROM {t} WHERE name IN (SELECT name FROM {d} WHERE id = 1) AND id < 100 ORDER BY id",
        "SELECT x.id, (SELECT max({d}.id) FROM {d} WHERE {d}.name = x.name) FROM {t} AS x WHERE x.id BETWEEN 10 AND 30 ORDER BY 1",
        "SELECT a.id, b.id FROM {t} AS a JOIN {t} AS b ON b.id = a.id + 1 WHERE a.id < 5 ORDER BY 1",
        "SELECT * FROM {t} NATURAL JOIN (SELECT name, id AS region FROM {d}) AS r ORDER BY id LIMIT 5",
        "SELECT name, count(*) FROM {t} SEMI JOIN {d} USING (name) GROUP BY 1 ORDER BY 1",
        "SELECT name, count(*) FROM {t} ANTI JOIN {d} USING (name) GROUP BY 1 ORDER BY 1 NULLS FIRST",
        "SELECT x.*, d.id AS region FROM {t} AS x JOIN {d} AS d USING (name) ORDER BY x.id LIMIT 3",
        "SELECT id, sum(id) OVER (PARTITION BY name ORDER BY id ROWS BETWEEN 2 PRECEDING AND CURRENT ROW), \
         lag(id) OVER (ORDER BY id), row_number() OVER (PARTITION BY name ORDER BY id DESC) FROM {t} WHERE id < 30 ORDER BY id",
        "SELECT count(DISTINCT name), count(DISTINCT d.id) FROM {t} JOIN {d} AS d USING (name)",
        "SELECT * FROM {t} ORDER BY name DESC NULLS LAST, id LIMIT 10",
        "SELECT count(*) FROM {t} AS t, {d} AS d WHERE t.id < 10 AND EXISTS (SELECT 1 FROM {d} AS e WHERE e.id = d.id + 1)",
        // A column qualified by schema and table while an inner item goes by the table's name.
        "SELECT count(*) FROM {t} WHERE EXISTS (SELECT 1 FROM {d} AS t WHERE t.name = {s}.{n}.name)",
    ];
    runtime().block_on(async {
        let pg = connect(&conninfo(&server, &ws, password(&ws))).await.unwrap();
        pg.batch_execute(r#"CREATE TABLE copy AS SELECT * FROM "in.c-main".t"#).await.unwrap();
        pg.batch_execute(r#"CREATE TABLE dcopy AS SELECT * FROM "in.c-main".d"#).await.unwrap();
        let both = |sql: &str| {
            let sql = sql.replace("{t}", "{s}.{n}");
            (
                sql.replace("{s}", r#""in.c-main""#).replace("{n}", "t").replace("{d}", r#""in.c-main".d"#),
                sql.replace("{s}", "main").replace("{n}", "copy").replace("{d}", "main.dcopy"),
            )
        };
        let mut bridged = Vec::new();
        for sql in queries {
            let (pushed, local) = both(sql);
            let expected = text_rows(pg.simple_query(&local).await.unwrap());
            assert!(!expected.is_empty(), "{local}");
            assert_eq!(text_rows(pg.simple_query(&pushed).await.unwrap()), expected, "{sql}");
            let plan = text_rows(pg.simple_query(&format!("EXPLAIN {pushed}")).await.unwrap());
            if format!("{plan:?}").to_lowercase().contains("storage_table") {
                bridged.push(sql);
            }
        }
        // CREATE TABLE AS of a join of project tables: the same rows, names and types as of
        // the copies; a failing statement leaves the table as it was.
        let (pushed, local) = both(
            "SELECT t.id, t.name AS n, d.id * 1.5 AS region, count(*) OVER (PARTITION BY d.id) AS c \
             FROM {t} AS t JOIN {d} AS d USING (name) WHERE t.id % 7 = 0",
        );
        pg.batch_execute(&format!("CREATE TABLE j_pushed AS {pushed}")).await.unwrap();
        pg.batch_execute(&format!("CREATE TABLE j_local AS\n{local}")).await.unwrap();
        let shape = |t: &str| {
            format!("SELECT column_name, data_type FROM information_schema.columns WHERE table_name = '{t}' ORDER BY ordinal_position")
        };
        let pushed_shape = text_rows(pg.simple_query(&shape("j_pushed")).await.unwrap());
        assert_eq!(pushed_shape.len(), 4);
        assert_eq!(pushed_shape, text_rows(pg.simple_query(&shape("j_local")).await.unwrap()));
        let all = |t: &str| format!("SELECT * FROM {t} ORDER BY id, region");
        let rows = text_rows(pg.simple_query(&all("j_pushed")).await.unwrap());
        assert!(rows.len() > 100, "{}", rows.len());
        assert_eq!(rows, text_rows(pg.simple_query(&all("j_local")).await.unwrap()));
        let e = pg.batch_execute(&format!("CREATE TABLE j_pushed AS {pushed}")).await.unwrap_err();
        assert_eq!(code(&e), SqlState::DUPLICATE_TABLE);
        pg.batch_execute(&format!("CREATE OR REPLACE TABLE j_pushed AS {pushed} AND t.id < 100")).await.unwrap();
        let n = text_rows(pg.simple_query("SELECT count(*) FROM j_pushed").await.unwrap());
        let expected = text_rows(pg.simple_query(&format!("SELECT count(*) FROM ({local} AND t.id < 100) AS s")).await.unwrap());
        assert_eq!(n, expected);
        // A CTE named like a workspace table is the CTE, wherever the query runs.
        let sql =
            r#"WITH copy AS (SELECT * FROM "in.c-main".d) SELECT count(*) FROM copy JOIN "in.c-main".t USING (id)"#;
        assert_eq!(text_rows(pg.simple_query(sql).await.unwrap()), [[Some("9".to_owned())]]);
        // All ran there but those that would answer differently there or whose text DuckDB
        // prints back loosely.
        let expected = ["0.1e0", "current_catalog", "read_text", "AS t WHERE"];
        assert_eq!(bridged.len(), expected.len(), "{bridged:#?}");
        assert!(bridged.iter().zip(expected).all(|(q, e)| q.contains(e)), "{bridged:#?}");
        // Parameters of the extended protocol are bound in the hub alike.
        let (pushed, local) =
            both("SELECT name, count(*) FROM {t} WHERE id > $1 AND name <> $2 GROUP BY name ORDER BY name");
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&1500i32, &"n3"];
        let rows =
            |r: Vec<tokio_postgres::Row>| -> Vec<(String, i64)> { r.iter().map(|r| (r.get(0), r.get(1))).collect() };
        assert_eq!(rows(pg.query(&pushed, &params).await.unwrap()), rows(pg.query(&local, &params).await.unwrap()));
        // A function the workspace defines under a built-in's name is the one that runs, also
        // when another session defined it — for a session that defined things itself and for
        // one that never did (which shares the workspace's list of definitions).
        let (pushed, local) = both("SELECT lower(name), count(*) FROM {t} GROUP BY 1");
        let reader = connect(&conninfo(&server, &ws, password(&ws))).await.unwrap();
        let before = text_rows(reader.simple_query(&pushed).await.unwrap());
        assert!(before.len() > 1, "the built-in lower, pushed down: {before:?}");
        let other = connect(&conninfo(&server, &ws, password(&ws))).await.unwrap();
        other.batch_execute("CREATE MACRO lower(x) AS 'mine'").await.unwrap();
        let expected = text_rows(pg.simple_query(&local).await.unwrap());
        assert_eq!(expected, [[Some("mine".to_owned()), Some("3000".to_owned())]]);
        assert_eq!(text_rows(pg.simple_query(&pushed).await.unwrap()), expected);
        assert_eq!(text_rows(reader.simple_query(&pushed).await.unwrap()), expected);
        // Errors read the same wherever the query ran.
        let e = pg.batch_execute(r#"SELECT sum(id) / 0 FROM "in.c-main".t"#).await;
        let local = pg.batch_execute("SELECT sum(id) / 0 FROM copy").await;
        assert_eq!(e.map_err(|e| code(&e)), local.map_err(|e| code(&e)));
    });
}

#[test]
fn a_workspace_reads_its_branch_and_linked_buckets_and_nothing_else() {
    let server = Server::start();
    let (p1, main_ws) = setup(&server);
    let p2 = server.project("p2");
    // Branch `dev` writes its own copy of the table: 3 rows there, 2 on main.
    p1.post("/projects/p1/branches", json!({"name": "dev"})).expect(201);
    let dev_t = "/projects/p1/branches/dev/buckets/in.c-main/tables/t";
    p1.import(dev_t, json!({"file_id": p1.upload("p1", "d.csv", "id,name\n3,c\n"), "incremental": true})).expect(200);
    let dev_ws = p1.post("/projects/p1/branches/dev/workspaces", json!({"name": "dev"})).expect(201);
    // p2 links p1's bucket once p1 shares it.
    p1.post(&format!("{}/share", crate::harness::bucket("p1", "in.c-main")), json!({"target_project_id": "p2"}))
        .expect(200);
    p2.post(
        &format!("{}/link", crate::harness::bucket("p2", "in.c-linked")),
        json!({"project_id": "p1", "bucket_id": "in.c-main"}),
    )
    .expect(201);
    let p2_ws = p2.post(&format!("{}/workspaces", branch("p2")), json!({"name": "p2"})).expect(201);
    runtime().block_on(async {
        // Each count runs next to the table (pushed down, also as a self-join) and in the
        // workspace (joined with a workspace table).
        for (ws, table, rows) in
            [(&main_ws, r#""in.c-main".t"#, 2), (&dev_ws, r#""in.c-main".t"#, 3), (&p2_ws, r#""in.c-linked".t"#, 2)]
        {
            let pg = connect(&conninfo(&server, ws, password(ws))).await.unwrap();
            pg.batch_execute("CREATE TABLE one AS SELECT 1 AS k").await.unwrap();
            for sql in [
                format!("SELECT count(*) FROM {table}"),
                format!("WITH x AS (SELECT * FROM {table}) SELECT count(*) FROM x JOIN {table} AS y USING (id)"),
                format!("WITH x AS (SELECT * FROM {table}) SELECT count(*) FROM x, one"),
            ] {
                let n: i64 = pg.query_one(&sql, &[]).await.unwrap().get(0);
                assert_eq!(n, rows, "{sql} in {}", ws["name"]);
            }
        }
        // p2 sees p1's bucket only through its link.
        let pg = connect(&conninfo(&server, &p2_ws, password(&p2_ws))).await.unwrap();
        for sql in [r#"SELECT count(*) FROM "in.c-main".t"#, r#"SELECT * FROM storage_table('in.c-main', 't')"#] {
            let e = pg.batch_execute(sql).await.unwrap_err();
            assert!(matches!(code(&e), SqlState::UNDEFINED_TABLE | SqlState::INVALID_SCHEMA_NAME), "{sql}: {e:?}");
        }
    });
}

#[test]
fn cancel_and_timeouts_reach_queries_run_next_to_the_table() {
    let server = Server::start();
    let (p1, ws) = setup(&server);
    let info = conninfo(&server, &ws, password(&ws));
    // Five million rows go to storage from the workspace.
    let t = format!("{}/tables", crate::harness::bucket("p1", "in.c-main"));
    p1.post(
        &t,
        json!({"name": "big", "columns": [{"name": "id", "type": "BIGINT"}, {"name": "name", "type": "VARCHAR"}]}),
    )
    .expect(201);
    runtime().block_on(async {
        let pg = connect(&info).await.unwrap();
        let sql = "CREATE TABLE big AS SELECT range AS id, 'n' || (range % 1000) AS name FROM range(5000000)";
        pg.batch_execute(sql).await.unwrap();
    });
    let source = json!({"workspace_id": ws["id"], "table": "big"});
    p1.import(&table("p1", "in.c-main", "big"), json!({"source_workspace": source})).expect(200);
    // Counting five million distinct strings takes seconds; each limit stops it in the hub.
    let heavy = r#"SELECT count(DISTINCT id::VARCHAR || name) FROM "in.c-main".big"#;
    runtime().block_on(async {
        let pg = connect(&info).await.unwrap();
        pg.batch_execute("SET statement_timeout = '200ms'").await.unwrap();
        let started = Instant::now();
        let e = pg.batch_execute(heavy).await.unwrap_err();
        assert_eq!(code(&e), SqlState::QUERY_CANCELED);
        assert!(started.elapsed() < Duration::from_secs(1), "stopped at the timeout: {:?}", started.elapsed());
        pg.batch_execute("SET statement_timeout = 0").await.unwrap();
        let token = pg.cancel_token();
        let canceller = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            token.cancel_query(NoTls).await.unwrap();
        });
        assert_eq!(code(&pg.batch_execute(heavy).await.unwrap_err()), SqlState::QUERY_CANCELED);
        canceller.await.unwrap();
        let n: i64 = pg.query_one(r#"SELECT count(*) FROM "in.c-main".big"#, &[]).await.unwrap().get(0);
        assert_eq!(n, 5_000_000, "the session goes on");
    });
}

#[test]
fn a_paged_result_held_while_other_statements_run_is_capped() {
    let server = Server::start_with(&["--pg-held-result-limit", "1MB"]);
    let (_, ws) = setup(&server);
    let info = conninfo(&server, &ws, password(&ws));
    runtime().block_on(async {
        let mut pg = connect(&info).await.unwrap();
        let tx = pg.transaction().await.unwrap();
        // A result paged through (pgjdbc's fetch size) while other statements run is kept.
        let small = tx.prepare("SELECT range AS n FROM range(5000)").await.unwrap();
        let portal = tx.bind(&small, &[]).await.unwrap();
        assert_eq!(tx.query_portal(&portal, 10).await.unwrap().len(), 10);
        tx.query_one("SELECT 1", &[]).await.unwrap();
        assert_eq!(tx.query_portal(&portal, 0).await.unwrap().len(), 4990);
        // One too large to keep fails clearly instead of filling the server's memory.
        let big = tx.prepare("SELECT range AS n, repeat('x', 200) AS pad FROM range(100000)").await.unwrap();
        let portal = tx.bind(&big, &[]).await.unwrap();
        assert_eq!(tx.query_portal(&portal, 10).await.unwrap().len(), 10);
        tx.query_one("SELECT 1", &[]).await.unwrap();
        let e = tx.query_portal(&portal, 0).await.unwrap_err();
        assert_eq!(code(&e), SqlState::PROGRAM_LIMIT_EXCEEDED, "{e}");
        assert!(format!("{e:?}").contains("pg_held_result_limit"), "{e:?}");
    });
    // The limit holds for a session's held results together, not for each one.
    runtime().block_on(async {
        let mut pg = connect(&info).await.unwrap();
        let tx = pg.transaction().await.unwrap();
        // (Rows past the first few batches in flight are held: ~0.7 MB of 30,000.)
        let half = tx.prepare("SELECT range AS n, repeat('x', 20) AS pad FROM range(30000)").await.unwrap();
        let first = tx.bind(&half, &[]).await.unwrap();
        assert_eq!(tx.query_portal(&first, 10).await.unwrap().len(), 10);
        tx.query_one("SELECT 1", &[]).await.unwrap();
        let second = tx.bind(&half, &[]).await.unwrap();
        assert_eq!(tx.query_portal(&second, 10).await.unwrap().len(), 10);
        tx.query_one("SELECT 1", &[]).await.unwrap();
        let e = tx.query_portal(&second, 0).await.map(|rows| rows.len()).unwrap_err();
        assert_eq!(code(&e), SqlState::PROGRAM_LIMIT_EXCEEDED, "{e}");
        assert_eq!(tx.query_portal(&first, 0).await.unwrap().len(), 29_990, "one alone fits");
    });
    // A cursor holds what one FETCH returns: FETCH ALL of a large result is refused, while
    // fetching it piece by piece works.
    runtime().block_on(async {
        let pg = connect(&info).await.unwrap();
        pg.batch_execute("BEGIN; DECLARE c CURSOR FOR SELECT range AS n, repeat('x', 20) AS pad FROM range(100000)")
            .await
            .unwrap();
        assert_eq!(text_rows(pg.simple_query("FETCH 1000 FROM c").await.unwrap()).len(), 1000);
        let e = pg.simple_query("FETCH ALL FROM c").await.unwrap_err();
        assert_eq!(code(&e), SqlState::PROGRAM_LIMIT_EXCEEDED, "{e}");
    });
}

/// A value's bytes as the server sent them.
struct RawValue(Vec<u8>);

impl<'a> tokio_postgres::types::FromSql<'a> for RawValue {
    fn from_sql(
        _: &tokio_postgres::types::Type,
        raw: &'a [u8],
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Self(raw.to_vec()))
    }
    fn accepts(_: &tokio_postgres::types::Type) -> bool {
        true
    }
}

#[test]
fn edge_dates_and_arrays_read_as_postgres_writes_them() {
    let server = Server::start();
    let (_, ws) = setup(&server);
    let info = conninfo(&server, &ws, password(&ws));
    runtime().block_on(async {
        let pg = connect(&info).await.unwrap();
        // Each of these once panicked in the encoder and left the session unusable.
        let sql = "SELECT 'infinity'::DATE, '-infinity'::TIMESTAMP, '0044-03-15 (BC)'::DATE, '12345-01-02'::DATE, \
                   '24:00:00'::TIME, 'infinity'::TIMESTAMP_S, '0001-01-01 (BC) 10:00:00+00'::TIMESTAMPTZ";
        let row = text_rows(pg.simple_query(sql).await.unwrap()).remove(0);
        let expected = [
            "infinity",
            "-infinity",
            "0044-03-15 BC",
            "12345-01-02",
            "24:00:00",
            "infinity",
            "0001-01-01 10:00:00+00 BC",
        ];
        assert_eq!(row, expected.map(|v| Some(v.to_owned())));
        // Arrays in binary (they once went as text under a binary format code).
        let row = pg
            .query_one(
                "SELECT [1, NULL, 3]::INTEGER[], ['a', 'b c']::VARCHAR[], []::DOUBLE[], [1.5, -2]::DOUBLE[]",
                &[],
            )
            .await
            .unwrap();
        assert_eq!(row.get::<_, Vec<Option<i32>>>(0), [Some(1), None, Some(3)]);
        assert_eq!(row.get::<_, Vec<String>>(1), ["a", "b c"]);
        assert_eq!(row.get::<_, Vec<f64>>(2), Vec::<f64>::new());
        assert_eq!(row.get::<_, Vec<f64>>(3), [1.5, -2.0]);
        // In binary, PostgreSQL's infinities are the extreme values of the type.
        let row = pg.query_one("SELECT 'infinity'::DATE, '-infinity'::TIMESTAMP", &[]).await.unwrap();
        assert_eq!(row.get::<_, RawValue>(0).0, i32::MAX.to_be_bytes());
        assert_eq!(row.get::<_, RawValue>(1).0, i64::MIN.to_be_bytes());
        let n: i64 = pg.query_one("SELECT count(*) FROM range(3)", &[]).await.unwrap().get(0);
        assert_eq!(n, 3, "the session goes on");
    });
}

#[test]
fn syntax_errors_read_cleanly_and_plans_show_where_queries_run() {
    let server = Server::start();
    let (_, ws) = setup(&server);
    let info = conninfo(&server, &ws, password(&ws));
    runtime().block_on(async {
        let pg = connect(&info).await.unwrap();
        let e = pg.batch_execute("SELECT * FROM").await.unwrap_err();
        let e = e.as_db_error().unwrap();
        assert_eq!((e.code(), e.message()), (&SqlState::SYNTAX_ERROR, "Parser Error: syntax error at end of input"));
        let plan = |sql: &str| {
            let pg = &pg;
            let sql = format!("EXPLAIN {sql}");
            async move {
                let messages = pg.simple_query(&sql).await.unwrap();
                // As PostgreSQL shows a plan: one `QUERY PLAN` column, a row per line.
                let Some(tokio_postgres::SimpleQueryMessage::RowDescription(columns)) = messages.first() else {
                    panic!("{sql}: no row description")
                };
                assert_eq!(columns.iter().map(|c| c.name()).collect::<Vec<_>>(), ["QUERY PLAN"]);
                let lines: Vec<String> = text_rows(messages).into_iter().flatten().flatten().collect();
                assert!(lines.len() > 3 && lines.iter().all(|l| !l.contains('\n')), "{lines:?}");
                lines.join("\n").to_lowercase()
            }
        };
        // The planner is told a project table's size (2 rows): joins hash the smaller side.
        pg.batch_execute("CREATE TABLE one AS SELECT 1 AS id").await.unwrap();
        let bridged = plan(r#"SELECT * FROM "in.c-main".t JOIN one USING (id)"#).await;
        assert!(bridged.contains("storage_table") && bridged.contains("~2 rows"), "{bridged}");
        // A query of one project table runs next to its file: its plan shows the scan there.
        for sql in [
            r#"SELECT name, count(*) FROM "in.c-main".t WHERE id > 0 GROUP BY name"#,
            // SQL-syntax calls (EXTRACT, TRIM … FROM) and GROUP BY ALL, as BI tools write them.
            r#"SELECT trim(both 'x' FROM name), EXTRACT(year FROM DATE '2024-01-01' + id * INTERVAL 1 DAY), count(*)
               FROM "in.c-main".t WHERE nullif(name, '') IS NOT NULL GROUP BY ALL"#,
            // Joins, CTEs and set operations of project tables run there too.
            r#"WITH x AS (SELECT * FROM "in.c-main".t) SELECT a.name, count(*) FROM x AS a
               JOIN "in.c-main".t AS b USING (id) GROUP BY 1 UNION ALL SELECT 'all', count(*) FROM "in.c-main".t"#,
        ] {
            let pushed = plan(sql).await;
            assert!(!pushed.contains("storage_table") && pushed.contains("seq_scan"), "{sql}: {pushed}");
        }
    });
}

#[test]
fn cursors_page_through_results_as_psycopg_and_sqlalchemy_use_them() {
    let server = Server::start();
    let (_, ws) = setup(&server);
    let info = conninfo(&server, &ws, password(&ws));
    runtime().block_on(async {
        let pg = connect(&info).await.unwrap();
        pg.batch_execute("CREATE TABLE big AS SELECT range AS id FROM range(100000)").await.unwrap();
        let e = pg.batch_execute("DECLARE c CURSOR FOR SELECT 1").await.unwrap_err();
        assert_eq!(code(&e), SqlState::NO_ACTIVE_SQL_TRANSACTION);
        let ids = |messages: Vec<tokio_postgres::SimpleQueryMessage>| -> Vec<i64> {
            messages
                .iter()
                .filter_map(|m| match m {
                    tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(|v| v.parse().unwrap()),
                    _ => None,
                })
                .collect()
        };
        pg.batch_execute("BEGIN").await.unwrap();
        let e = pg.batch_execute("DECLARE d CURSOR FOR DELETE FROM big").await.unwrap_err();
        assert_eq!(code(&e), SqlState::INVALID_CURSOR_DEFINITION);
        pg.batch_execute("ROLLBACK; BEGIN; DECLARE c CURSOR FOR SELECT id FROM big ORDER BY id").await.unwrap();
        let n: i64 = pg.query_one("SELECT count(*) FROM big", &[]).await.unwrap().get(0);
        assert_eq!(n, 100000, "the refused cursor's DELETE never ran");
        assert_eq!(ids(pg.simple_query("FETCH 2 FROM c").await.unwrap()), [0, 1]);
        pg.batch_execute("MOVE FORWARD 3 IN c").await.unwrap();
        // Extended protocol, as psycopg sends it.
        let rows = pg.query("FETCH FORWARD 1000 FROM c", &[]).await.unwrap();
        assert_eq!((rows.len(), rows[0].get::<_, i64>(0)), (1000, 5));
        assert_eq!(ids(pg.simple_query("FETCH ALL FROM c").await.unwrap()).len(), 100000 - 1005);
        assert!(ids(pg.simple_query("FETCH c").await.unwrap()).is_empty());
        pg.batch_execute("DECLARE h CURSOR WITH HOLD FOR SELECT 42; COMMIT").await.unwrap();
        // A cursor ends with its transaction, unless it is held.
        assert_eq!(code(&pg.batch_execute("FETCH c").await.unwrap_err()), SqlState::INVALID_CURSOR_NAME);
        assert_eq!(ids(pg.simple_query("FETCH h").await.unwrap()), [42]);
        pg.batch_execute("CLOSE h").await.unwrap();
        assert_eq!(code(&pg.batch_execute("CLOSE h").await.unwrap_err()), SqlState::INVALID_CURSOR_NAME);
        // A cursor's parameters are typed by its query: the client encodes a BIGINT.
        let declare = pg.prepare("DECLARE p CURSOR WITH HOLD FOR SELECT id FROM big WHERE id < $1").await.unwrap();
        assert_eq!(declare.params(), [tokio_postgres::types::Type::INT8]);
        pg.execute(&declare, &[&3i64]).await.unwrap();
        assert_eq!(ids(pg.simple_query("FETCH ALL FROM p").await.unwrap()).len(), 3);
        // A SCROLL cursor moves both ways; one without SCROLL only forward (55000).
        let fetch = |sql: &'static str| {
            let pg = &pg;
            async move { ids(pg.simple_query(sql).await.unwrap()) }
        };
        pg.batch_execute("BEGIN; DECLARE s SCROLL CURSOR FOR SELECT id FROM big WHERE id < 10 ORDER BY id")
            .await
            .unwrap();
        assert_eq!(fetch("FETCH 3 FROM s").await, [0, 1, 2]);
        assert_eq!(fetch("FETCH PRIOR FROM s").await, [1]);
        assert_eq!(fetch("FETCH BACKWARD 5 FROM s").await, [0]);
        assert_eq!(fetch("FETCH LAST FROM s").await, [9]);
        assert_eq!(fetch("FETCH ABSOLUTE 4 FROM s").await, [3]);
        assert_eq!(fetch("FETCH RELATIVE -2 FROM s").await, [1]);
        pg.batch_execute("MOVE ABSOLUTE -3 IN s").await.unwrap();
        assert_eq!(fetch("FETCH NEXT FROM s").await, [8]);
        assert_eq!(fetch("FETCH ALL FROM s").await, [9]);
        assert_eq!(fetch("FETCH BACKWARD ALL FROM s").await, [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
        pg.batch_execute("DECLARE f CURSOR FOR SELECT id FROM big ORDER BY id; FETCH 2 FROM f").await.unwrap();
        let e = pg.batch_execute("FETCH PRIOR FROM f").await.unwrap_err();
        assert_eq!(code(&e), SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE);
        pg.batch_execute("ROLLBACK").await.unwrap();
    });
    let script = r#"
import sys, psycopg, sqlalchemy
info = sys.argv[1]
with psycopg.connect(info) as conn:
    with conn.cursor(name="big") as cur:
        cur.itersize = 1000
        cur.execute("SELECT id FROM big WHERE id < %s", (50000,))
        ids = [r[0] for r in cur]
        assert sorted(ids) == list(range(50000)), len(ids)
    with conn.cursor(name="back", scrollable=True) as cur:
        cur.execute("SELECT id FROM big WHERE id < 100 ORDER BY id")
        cur.scroll(40, mode="absolute")
        assert cur.fetchone() == (40,)
        cur.scroll(-11)
        assert cur.fetchone() == (30,)
engine = sqlalchemy.create_engine("postgresql+psycopg://", creator=lambda: psycopg.connect(info))
with engine.connect() as c:
    result = c.execution_options(stream_results=True, yield_per=500).execute(sqlalchemy.text("SELECT id FROM big"))
    assert sum(len(p) for p in result.partitions()) == 100000
print("ok")
"#;
    let out = Command::new("python3").args(["-c", script, &info]).output().expect("python3");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn unaliased_expressions_are_named_as_postgres_names_them() {
    let server = Server::start();
    let (_, ws) = setup(&server);
    let info = conninfo(&server, &ws, password(&ws));
    runtime().block_on(async {
        let pg = connect(&info).await.unwrap();
        let names = |rows: &[tokio_postgres::SimpleQueryMessage]| -> Vec<String> {
            match rows.first() {
                Some(tokio_postgres::SimpleQueryMessage::RowDescription(columns)) => {
                    columns.iter().map(|c| c.name().to_owned()).collect()
                }
                other => panic!("no row description: {other:?}"),
            }
        };
        let sql = r#"SELECT count(*), max(id), 1 + 1, 1::int, count(*) AS n FROM "in.c-main".t"#;
        // Extended protocol (described before running) and simple protocol alike.
        let described = pg.prepare(sql).await.unwrap();
        let extended: Vec<&str> = described.columns().iter().map(|c| c.name()).collect();
        assert_eq!(extended, ["count", "max", "?column?", "int4", "n"]);
        assert_eq!(names(&pg.simple_query(sql).await.unwrap()), extended);
        let sql = r#"SELECT t.id::text, coalesce(name, 'x'), CASE WHEN id > 1 THEN 1 END, lower(name), name
                     FROM "in.c-main".t t"#;
        assert_eq!(names(&pg.simple_query(sql).await.unwrap()), ["id", "coalesce", "case", "lower", "name"]);
    });
}

#[test]
fn logins_are_checked_and_sessions_limited() {
    let server = Server::start_with(&["--workspace-max-sessions", "1"]);
    let (p1, ws) = setup(&server);
    let id = ws["id"].as_str().unwrap();
    let rt = runtime();
    let e = rt.block_on(connect(&conninfo(&server, &ws, "wrong"))).unwrap_err();
    assert_eq!(code(&e), SqlState::INVALID_PASSWORD);
    let unknown = json!({"id": "ws_0000000000000000"});
    let e = rt.block_on(connect(&conninfo(&server, &unknown, "x"))).unwrap_err();
    assert_eq!(code(&e), SqlState::INVALID_CATALOG_NAME);

    let first = rt.block_on(connect(&conninfo(&server, &ws, password(&ws)))).unwrap();
    let e = rt.block_on(connect(&conninfo(&server, &ws, password(&ws)))).unwrap_err();
    assert_eq!(code(&e), SqlState::TOO_MANY_CONNECTIONS);
    let detail = p1.get(&format!("{}/workspaces/{id}", branch("p1"))).expect(200);
    assert_eq!(detail["active_sessions"], 1);

    // A new password replaces the old one and ends the sessions opened with the old one;
    // deleting the workspace ends its session.
    let reset = p1.post(&format!("{}/workspaces/{id}/reset-password", branch("p1")), json!({})).expect(200);
    let e = rt.block_on(first.batch_execute("SELECT 1")).unwrap_err();
    assert_eq!(code(&e), SqlState::ADMIN_SHUTDOWN, "{e:?}");
    drop(first);
    std::thread::sleep(Duration::from_millis(300));
    let e = rt.block_on(connect(&conninfo(&server, &ws, password(&ws)))).unwrap_err();
    assert_eq!(code(&e), SqlState::INVALID_PASSWORD, "the old password stopped working");
    let again = rt.block_on(connect(&conninfo(&server, &ws, password(&reset)))).unwrap();
    p1.delete(&format!("{}/workspaces/{id}", branch("p1"))).expect(204);
    assert!(rt.block_on(again.batch_execute("SELECT 1")).is_err(), "the session ended with its workspace");
    let e = rt.block_on(connect(&conninfo(&server, &ws, password(&reset)))).unwrap_err();
    assert_eq!(code(&e), SqlState::INVALID_CATALOG_NAME);
    p1.get(&format!("{}/workspaces/{id}", branch("p1"))).expect_error(404, "workspace_not_found");
}

#[test]
fn cancel_and_statement_timeout_stop_running_queries() {
    let server = Server::start_with(&["--pg-statement-timeout-secs", "2"]);
    let (_, ws) = setup(&server);
    let info = conninfo(&server, &ws, password(&ws));
    let endless = "SELECT count(*) FROM range(1000000000000) a WHERE a.range % 7 = 3";
    runtime().block_on(async {
        let mut pg = connect(&info).await.unwrap();
        let token = pg.cancel_token();
        let started = Instant::now();
        let canceller = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            token.cancel_query(NoTls).await.unwrap();
        });
        let e = pg.batch_execute(endless).await.unwrap_err();
        canceller.await.unwrap();
        assert_eq!(code(&e), SqlState::QUERY_CANCELED);
        assert!(started.elapsed() < Duration::from_secs(2), "cancelled, not timed out");

        let e = pg.batch_execute(endless).await.unwrap_err();
        assert_eq!(code(&e), SqlState::QUERY_CANCELED);
        let message = e.as_db_error().map(|d| d.message().to_owned()).unwrap_or_default();
        assert!(message.contains("statement timeout"), "{message}");
        pg.batch_execute("SELECT 1").await.unwrap();

        // A session sets its own timeout (psql, BI tools), within the server's.
        pg.batch_execute("SET statement_timeout = '300ms'").await.unwrap();
        let started = Instant::now();
        assert_eq!(code(&pg.batch_execute(endless).await.unwrap_err()), SqlState::QUERY_CANCELED);
        assert!(started.elapsed() < Duration::from_millis(1500), "the session's 300 ms, not the server's 2 s");
        let e = pg.batch_execute("SET statement_timeout = 'soon'").await.unwrap_err();
        assert_eq!(code(&e), SqlState::INVALID_PARAMETER_VALUE);
        // The limit is per statement: a cursor read slowly is not cut off.
        pg.batch_execute("BEGIN; DECLARE c CURSOR FOR SELECT range FROM range(100000)").await.unwrap();
        pg.batch_execute("FETCH 1 FROM c").await.unwrap();
        tokio::time::sleep(Duration::from_millis(600)).await;
        pg.batch_execute("FETCH ALL FROM c; COMMIT").await.unwrap();
        // So is a result paged through a portal (pgjdbc's fetch size).
        let tx = pg.transaction().await.unwrap();
        let portal = tx.bind("SELECT range FROM range(100000)", &[]).await.unwrap();
        assert_eq!(tx.query_portal(&portal, 10).await.unwrap().len(), 10);
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(tx.query_portal(&portal, 0).await.unwrap().len(), 100000 - 10);
        tx.commit().await.unwrap();
        pg.batch_execute("SET statement_timeout = 0").await.unwrap();
        let started = Instant::now();
        assert_eq!(code(&pg.batch_execute(endless).await.unwrap_err()), SqlState::QUERY_CANCELED);
        assert!(started.elapsed() >= Duration::from_secs(2), "0 leaves the server's limit");
    });
}

#[test]
fn psql_and_python_clients_see_the_catalog() {
    let server = Server::start();
    let (_, ws) = setup(&server);
    let info = conninfo(&server, &ws, password(&ws));
    let psql = |command: &str| {
        let out = Command::new("psql")
            .args([&format!("{info} sslmode=require"), "-X", "-A", "-t", "-c", command])
            .output()
            .expect("psql");
        assert!(out.status.success(), "psql {command}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    assert!(psql(r"\dn").contains("in.c-main"));
    assert!(psql(r#"\d "in.c-main".t"#).contains("name|text"));
    assert!(psql(r"\l").contains(ws["id"].as_str().unwrap()));
    assert!(psql(r"\du").contains(ws["id"].as_str().unwrap()));
    assert_eq!(psql(r#"SELECT count(*) FROM "in.c-main".t"#).trim(), "2");
    // A psql script with COPY data inline, ended by `\.` (CSV and text alike).
    let script = "CREATE TABLE c (id INT, note TEXT);\n\
                  COPY c FROM STDIN WITH (FORMAT csv, HEADER);\nid,note\n1,\"a, b\"\n2,\"\\.\"\n\\.\n\
                  COPY c FROM STDIN;\n3\tc\n\\.\n\
                  SELECT string_agg(id || ':' || note, ' ' ORDER BY id) FROM c;\n";
    let out = Command::new("psql")
        .args([&format!("{info} sslmode=require"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(script.as_bytes())?;
            child.wait_with_output()
        })
        .expect("psql");
    assert!(out.status.success(), "psql script: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1:a, b 2:\\. 3:c");

    let script = r#"
import sys, psycopg, sqlalchemy
info = sys.argv[1]
with psycopg.connect(info) as conn:
    for _ in range(8):  # psycopg prepares statements after 5 executions
        row = conn.execute('SELECT name FROM "in.c-main".t WHERE id = %s', (1,)).fetchone()
    assert row == ('a',), row
kv = dict(p.split('=', 1) for p in info.split())
url = f"postgresql+psycopg://{kv['user']}:{kv['password']}@{kv['host']}:{kv['port']}/{kv['dbname']}"
engine = sqlalchemy.create_engine(url)
with engine.connect() as c:
    c.execute(sqlalchemy.text("CREATE TABLE py_t (a INTEGER PRIMARY KEY, b TEXT NOT NULL DEFAULT 'x', c NUMERIC(10,2))"))
    c.commit()
inspector = sqlalchemy.inspect(engine)
assert 'py_t' in inspector.get_table_names(), inspector.get_table_names()
# get_columns sends a query DuckDB can only type once it sees the parameter values.
columns = [(c['name'], str(c['type']), c['nullable'], c['default']) for c in inspector.get_columns('py_t')]
assert columns == [('a', 'INTEGER', False, None), ('b', 'TEXT', False, "'x'"), ('c', 'NUMERIC(10, 2)', True, None)], columns
assert inspector.get_pk_constraint('py_t')['constrained_columns'] == ['a']
with psycopg.connect(info) as conn:
    row = conn.execute('SELECT 1 AS x, json_build_object(%s::VARCHAR, 2) AS j', ('k',)).fetchone()
    assert row == (1, {'k': 2}), row
    assert conn.execute("SELECT %s::jsonb", ('{"a": 1}',)).fetchone() == ({'a': 1},)
    # psycopg's COPY rows: written with write_row, read back row by row.
    conn.execute("CREATE TABLE cp (id INT, t TEXT)")
    with conn.cursor().copy("COPY cp FROM STDIN") as copy:
        copy.write_row((1, "tab\there"))
        copy.write_row((2, None))
    with conn.cursor().copy("COPY (SELECT id, t FROM cp ORDER BY id) TO STDOUT") as copy:
        copy.set_types(["int4", "text"])
        rows = list(copy.rows())
    assert rows == [(1, "tab\there"), (2, None)], rows
assert 't' in inspector.get_table_names(schema='in.c-main')
assert 'in.c-main' in inspector.get_schema_names(), inspector.get_schema_names()
# A project table's declared key, as PostgreSQL reports a primary key (Alembic, ORMs).
assert inspector.get_pk_constraint('t', schema='in.c-main')['constrained_columns'] == ['id']
key = [c for c in inspector.get_columns('t', schema='in.c-main') if c['name'] == 'id']
assert key and key[0]['nullable'] is False, key
# Indexed workspace tables reflect (indkey is an int2vector: 'a b' as text).
with engine.connect() as c:
    c.execute(sqlalchemy.text("CREATE INDEX py_t_bc ON py_t (b, c)"))
    c.commit()
indexes = sqlalchemy.inspect(engine).get_indexes('py_t')
assert [(i['name'], i['column_names']) for i in indexes] == [('py_t_bc', ['b', 'c'])], indexes
print('ok')
"#;
    let out = Command::new("python3").args(["-c", script, &info]).output().expect("python3");
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "ok",
        "python clients failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A load answers the rows each table got (what psql then counts), and happens whole or not
/// at all: a missing table, a destination named twice or a failing table leaves the
/// workspace as it was, the valid tables of the request included.
#[test]
fn a_load_reports_its_rows_and_happens_whole_or_not_at_all() {
    let server = Server::start();
    let (p1, ws) = setup(&server);
    create_table(&p1, "p1", "in.c-main", "u");
    let csv = "id,name\n1,a\n2,b\n3,c\n4,d\n5,e\n";
    p1.import(&table("p1", "in.c-main", "u"), json!({"file_id": p1.upload("p1", "u.csv", csv)})).expect(200);
    let load = format!("{}/workspaces/{}/load", branch("p1"), ws["id"].as_str().unwrap());
    let answer = p1
        .post(
            &load,
            json!({"tables": [
                {"bucket_id": "in.c-main", "table_name": "t"},
                {"bucket_id": "in.c-main", "table_name": "u", "destination": "few",
                 "filters": [{"column": "id", "operator": "gt", "values": ["2"]}]},
            ]}),
        )
        .expect(200);
    let rows: Vec<(&str, u64)> = answer["loaded"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["destination"].as_str().unwrap(), l["rows"].as_u64().unwrap()))
        .collect();
    assert_eq!(rows, [("t", 2), ("few", 3)]);
    let info = conninfo(&server, &ws, password(&ws));
    let tables = || {
        let info = info.clone();
        runtime().block_on(async move {
            let pg = connect(&info).await.unwrap();
            let sql = "SELECT table_name, (SELECT count(*) FROM main.few) FROM information_schema.tables \
                       WHERE table_schema IN ('main', 'public') ORDER BY 1";
            text_rows(pg.simple_query(sql).await.unwrap())
        })
    };
    runtime().block_on(async {
        let pg = connect(&info).await.unwrap();
        pg.batch_execute("CREATE VIEW v AS SELECT 1 AS x").await.unwrap();
    });
    let before = tables();
    let row = |name: &str| [Some(name.to_owned()), Some("3".to_owned())];
    assert_eq!(before, [row("few"), row("t"), row("v")]);
    for (body, status) in [
        // A valid table first, then a missing one.
        (
            json!([{"bucket_id": "in.c-main", "table_name": "u", "destination": "few"},
                {"bucket_id": "in.c-main", "table_name": "t", "destination": "fresh"},
                {"bucket_id": "in.c-main", "table_name": "missing"}]),
            404,
        ),
        // Fails while loading: a view holds the second destination's name.
        (
            json!([{"bucket_id": "in.c-main", "table_name": "u", "destination": "few"},
                {"bucket_id": "in.c-main", "table_name": "t", "destination": "v"}]),
            409,
        ),
        (
            json!([{"bucket_id": "in.c-main", "table_name": "u", "destination": "few"},
                {"bucket_id": "in.c-main", "table_name": "t", "destination": "FEW"}]),
            400,
        ),
        (
            json!([{"bucket_id": "in.c-main", "table_name": "u", "destination": "few"},
                {"bucket_id": "in.c-main", "table_name": "u", "columns": ["nope"]}]),
            400,
        ),
    ] {
        let response = p1.post(&load, json!({ "tables": body }));
        assert_eq!(response.status, status, "{body}: {:?}", response.body);
        assert_eq!(tables(), before, "{body}");
    }
}

/// The workspace size limit holds for what a statement or a load writes, checked before it
/// commits: past it the statement fails with 53100 (REST: 413 `workspace_size_exceeded`)
/// and nothing of it stays; writes that fit go through.
#[test]
fn writes_past_the_workspace_size_limit_fail_whole() {
    let server = Server::start_with(&["--workspace-size-limit", "1MB"]);
    let (p1, ws) = setup(&server);
    create_table(&p1, "p1", "in.c-main", "big");
    let csv: String = std::iter::once("id,name\n".to_owned())
        .chain((0..200_000).map(|i| format!("{i},a rather long name number {i}\n")))
        .collect();
    p1.import(&table("p1", "in.c-main", "big"), json!({"file_id": p1.upload("p1", "big.csv", csv)})).expect(200);
    let info = conninfo(&server, &ws, password(&ws));
    runtime().block_on(async {
        let pg = connect(&info).await.unwrap();
        let big = "SELECT range AS id, 'name ' || range AS name FROM range(200000)";
        let e = pg.batch_execute(&format!("CREATE TABLE huge AS {big}")).await.unwrap_err();
        assert_eq!(code(&e), SqlState::DISK_FULL, "{e:?}");
        pg.batch_execute("CREATE TABLE small AS SELECT range AS id FROM range(1000)").await.unwrap();
        let e = pg.batch_execute(&format!("INSERT INTO small SELECT id FROM ({big})")).await.unwrap_err();
        assert_eq!(code(&e), SqlState::DISK_FULL, "{e:?}");
        let in_transaction = format!("BEGIN; INSERT INTO small VALUES (-1); INSERT INTO small SELECT id FROM ({big})");
        assert_eq!(code(&pg.batch_execute(&in_transaction).await.unwrap_err()), SqlState::DISK_FULL);
        pg.batch_execute("ROLLBACK").await.unwrap();
        let n = text_rows(pg.simple_query("SELECT count(*), min(id) FROM small").await.unwrap());
        assert_eq!(n, [[Some("1000".to_owned()), Some("0".to_owned())]], "nothing of the failed writes stayed");
        let tables = text_rows(
            pg.simple_query(
                "SELECT table_name FROM information_schema.tables WHERE table_schema IN ('main', 'public')",
            )
            .await
            .unwrap(),
        );
        assert_eq!(tables, [[Some("small".to_owned())]]);
        pg.batch_execute("INSERT INTO small VALUES (1000)").await.unwrap();
    });
    let load = format!("{}/workspaces/{}/load", branch("p1"), ws["id"].as_str().unwrap());
    let tables = json!({"tables": [{"bucket_id": "in.c-main", "table_name": "t"},
                                  {"bucket_id": "in.c-main", "table_name": "big"}]});
    p1.post(&load, tables).expect_error(413, "workspace_size_exceeded");
    let detail = p1.get(&format!("{}/workspaces/{}", branch("p1"), ws["id"].as_str().unwrap())).expect(200);
    let names: Vec<&str> = detail["objects"].as_array().unwrap().iter().map(|o| o["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["small"], "{detail}");
}

/// `/metrics` counts jobs by kind and outcome (with the rows they moved) and PostgreSQL
/// connections and statements by SQLSTATE class.
#[test]
fn metrics_count_jobs_and_sql_statements() {
    let server = Server::start();
    let (p1, ws) = setup(&server);
    let t = table("p1", "in.c-main", "t");
    let bad = p1.upload("p1", "bad.csv", "id,name\nnot a number,a\n");
    assert_eq!(p1.import(&t, json!({"file_id": bad})).status, 422);
    let metrics = || server.client(None).get("/metrics").text;
    let value = |text: &str, series: &str| -> Option<f64> {
        text.lines().find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
    };
    let text = metrics();
    for (series, expected) in [
        (r#"duckstore_jobs_total{kind="table_import",outcome="success"}"#, 1.0),
        (r#"duckstore_jobs_total{kind="table_import",outcome="error"}"#, 1.0),
        (r#"duckstore_job_rows_total{kind="table_import"}"#, 2.0),
        (r#"duckstore_jobs_running{kind="table_import"}"#, 0.0),
        (r#"duckstore_job_duration_seconds_count{kind="table_import"}"#, 2.0),
    ] {
        assert_eq!(value(&text, series), Some(expected), "{series}\n{text}");
    }
    let rt = runtime();
    let _pg = rt.block_on(async {
        let pg = connect(&conninfo(&server, &ws, password(&ws))).await.unwrap();
        pg.batch_execute(r#"SELECT count(*) FROM "in.c-main".t"#).await.unwrap();
        pg.batch_execute("SELECT * FROM nowhere").await.unwrap_err();
        pg
    });
    {
        let text = metrics();
        assert_eq!(value(&text, "duckstore_pg_connections_open"), Some(1.0), "{text}");
        assert!(value(&text, r#"duckstore_pg_statements_total{sqlstate_class="00"}"#) >= Some(1.0), "{text}");
        assert_eq!(value(&text, r#"duckstore_pg_statements_total{sqlstate_class="42"}"#), Some(1.0), "{text}");
        assert_eq!(value(&text, r#"duckstore_storage{measure="projects"}"#), Some(1.0), "{text}");
        assert_eq!(value(&text, r#"duckstore_storage{measure="tables"}"#), Some(1.0), "{text}");
        assert!(value(&text, r#"duckstore_storage{measure="files"}"#) >= Some(2.0), "{text}");
        assert!(value(&text, r#"duckstore_storage{measure="disk_bytes"}"#) > Some(100_000.0), "{text}");
        assert!(value(&text, r#"duckstore_storage{measure="open_tables"}"#) <= Some(2.0), "{text}");
        // Every family docs/operations.md lists is served (plugin calls need a plugin call).
        let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/operations.md")).unwrap();
        let documented: Vec<&str> = docs
            .lines()
            .filter(|l| l.starts_with("| `duckstore_"))
            .flat_map(|l| l.split('|').nth(1).unwrap().split('`').filter(|w| w.starts_with("duckstore_")))
            .collect();
        assert!(documented.len() >= 10, "{documented:?}");
        for family in documented.iter().filter(|f| !f.starts_with("duckstore_plugin_")) {
            assert!(text.contains(&format!("# TYPE {family} ")), "{family} is documented but not served:\n{text}");
        }
        // The Grafana dashboard queries documented families only.
        let dashboard: Value = serde_json::from_str(
            &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/grafana-dashboard.json")).unwrap(),
        )
        .unwrap();
        for target in dashboard["panels"].as_array().unwrap().iter().flat_map(|p| p["targets"].as_array().unwrap()) {
            let expr = target["expr"].as_str().unwrap();
            for word in
                expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).filter(|w| w.starts_with("duckstore_"))
            {
                let family = word.trim_end_matches("_bucket");
                assert!(documented.contains(&family), "the dashboard queries {word}, which is not documented");
            }
        }
    }
}
