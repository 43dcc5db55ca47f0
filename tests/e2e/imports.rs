//! Loading data: CSV dialects, column matching by name, full and incremental loads, dedup.

use serde_json::{Value, json};

use crate::harness::*;

/// A project with bucket `in.c-b` and a table `t(id INTEGER, name VARCHAR, amount DECIMAL(10,2))`
/// with key `id`; returns the client and the table's path.
fn setup(server: &Server) -> (Client, String) {
    let p = server.project("p1");
    create_bucket(&p, "p1", "b");
    p.post(
        &format!("{}/tables", bucket("p1", "in.c-b")),
        json!({"name": "t", "primary_key": ["id"], "columns": [
            {"name": "id", "type": "INTEGER"}, {"name": "name", "type": "VARCHAR"}, {"name": "amount", "type": "DECIMAL(10,2)"}]}),
    )
    .expect(201);
    (p, table("p1", "in.c-b", "t"))
}

fn file_import(p: &Client, t: &str, name: &str, content: &str, extra: Value) -> Response {
    let file_id = p.upload("p1", name, content);
    let mut body = json!({"file_id": file_id});
    body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    p.import(t, body)
}

fn ids_names(rows: &[Value]) -> Vec<(i64, Value)> {
    rows.iter().map(|r| (r["id"].as_i64().unwrap(), r["name"].clone())).collect()
}

#[test]
fn csv_round_trip_keeps_nulls_empty_strings_quotes_newlines_and_unicode() {
    let server = Server::start();
    let (p, t) = setup(&server);
    let csv = "id,name,amount\n1,,1.50\n2,\"\",2\n3,\"say \"\"hi\"\"\",\n4,\"two\nlines, and a comma\",-4.25\n5,Příliš žluťoučký 🐴,5\n";
    let job = file_import(&p, &t, "in.csv", csv, json!({})).expect(200);
    assert_eq!(job["status"], "success");
    assert_eq!(job["result"]["rows_imported"], 5);
    assert_eq!(job["progress"]["rows"], 5);

    let rows = p.rows(&t, "id");
    let names: Vec<_> = rows.iter().map(|r| r["name"].clone()).collect();
    assert_eq!(
        names,
        [Value::Null, json!(""), json!("say \"hi\""), json!("two\nlines, and a comma"), json!("Příliš žluťoučký 🐴")]
    );
    let amounts: Vec<_> = rows.iter().map(|r| r["amount"].clone()).collect();
    assert_eq!(amounts, [json!("1.50"), json!("2.00"), Value::Null, json!("-4.25"), json!("5.00")]);

    // Export and re-import: the same rows come back.
    let (file, bytes) = p.export("p1", &t, json!({}));
    assert_eq!(file["name"], "t.csv");
    let exported = String::from_utf8(bytes).unwrap();
    assert!(exported.starts_with("id,name,amount\n"), "{exported}");
    p.post(&format!("{}/tables", bucket("p1", "in.c-b")), json!({"name": "copy", "primary_key": ["id"], "columns": [
        {"name": "id", "type": "INTEGER"}, {"name": "name", "type": "VARCHAR"}, {"name": "amount", "type": "DECIMAL(10,2)"}]}))
        .expect(201);
    let copy = table("p1", "in.c-b", "copy");
    p.import(&copy, json!({"file_id": file["id"]})).expect(200);
    assert_eq!(p.rows(&copy, "id"), rows);
}

#[test]
fn columns_are_matched_by_header_name_not_position() {
    let server = Server::start();
    let (p, t) = setup(&server);
    file_import(&p, &t, "in.csv", "amount,NAME,id\n9.99,nine,9\n", json!({})).expect(200);
    let rows = p.rows(&t, "id");
    assert_eq!(rows, [json!({"id": 9, "name": "nine", "amount": "9.99"})]);

    let unknown =
        file_import(&p, &t, "x.csv", "id,name,amount,extra\n1,a,1,x\n", json!({})).expect_error(400, "unknown_columns");
    assert!(unknown.contains("extra"), "{unknown}");
    let missing = file_import(&p, &t, "x.csv", "id,name\n1,a\n", json!({})).expect_error(400, "missing_columns");
    assert!(missing.contains("amount"), "{missing}");
    assert_eq!(p.rows(&t, "id").len(), 1, "rejected imports change nothing");
}

/// `add_new_columns`: the source's extra columns join the table in the load's own commit,
/// full or incremental; a name that cannot be a column, or a load that fails, leaves both
/// the schema and the rows as they were.
#[test]
fn loads_can_add_the_sources_new_columns_atomically() {
    let server = Server::start();
    let (p, t) = setup(&server);
    let add = json!({"add_new_columns": true});
    file_import(&p, &t, "a.csv", "id,name,amount,Region\n1,a,1,eu\n", add.clone()).expect(200);
    let detail = p.get(&t).expect(200);
    let columns: Vec<_> =
        detail["columns"].as_array().unwrap().iter().map(|c| (c["name"].clone(), c["type"].clone())).collect();
    assert_eq!(columns.last().unwrap(), &(json!("Region"), json!("VARCHAR")), "{detail}");
    assert_eq!(detail["row_count"], 1);

    // Incremental: the new column is added to the existing rows as NULL.
    file_import(
        &p,
        &t,
        "b.csv",
        "id,note,name,amount,region\n2,n,b,2,us\n",
        json!({"add_new_columns": true, "incremental": true}),
    )
    .expect(200);
    let rows = p.rows(&t, "id");
    assert_eq!(rows[0]["note"], Value::Null);
    assert_eq!((rows[1]["note"].clone(), rows[1]["Region"].clone()), (json!("n"), json!("us")));
    let width = |p: &Client| p.get(&t).expect(200)["columns"].as_array().unwrap().len();
    assert_eq!(width(&p), 5);

    // Refused, nothing changed: a reserved name, a value that does not fit, a missing column.
    file_import(&p, &t, "c.csv", "id,name,amount,_timestamp\n3,c,3,x\n", add.clone())
        .expect_error(400, "invalid_column_name");
    file_import(&p, &t, "d.csv", "id,name,amount,region,note,extra\nx,c,3,r,n,e\n", add.clone())
        .expect_error(422, "invalid_value");
    file_import(&p, &t, "e.csv", "id,amount,other\n3,3,o\n", add).expect_error(400, "missing_columns");
    assert_eq!(width(&p), 5, "a refused load adds no column");
    assert_eq!(p.rows(&t, "id").len(), 2, "a refused load changes no row");
}

#[test]
fn keboola_dialects_gzip_and_headerless_files_load() {
    let server = Server::start();
    let (p, t) = setup(&server);
    file_import(
        &p,
        &t,
        "semi.csv",
        "id;name;amount\n1;'a;b';1\n",
        json!({"csv": {"delimiter": ";", "enclosure": "'"}}),
    )
    .expect(200);
    assert_eq!(p.rows(&t, "id")[0]["name"], "a;b");

    file_import(
        &p,
        &t,
        "tab.tsv",
        "2\tb\\\"x\t2\n",
        json!({"csv": {"delimiter": "\t", "header": false, "escaped_by": "\\", "enclosure": ""}}),
    )
    .expect(200);
    assert_eq!(p.rows(&t, "id")[0]["name"], "b\\\"x");

    file_import(
        &p,
        &t,
        "cols.csv",
        "x,3,3.5\n",
        json!({"csv": {"header": false, "columns": ["name", "id", "amount"]}}),
    )
    .expect(200);
    assert_eq!(ids_names(&p.rows(&t, "id")), [(3, json!("x"))]);

    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, b"id,name,amount\n4,zipped,4\n").unwrap();
    let file_id = p.upload("p1", "in.csv.gz", gz.finish().unwrap());
    p.import(&t, json!({"file_id": file_id})).expect(200);
    assert_eq!(ids_names(&p.rows(&t, "id")), [(4, json!("zipped"))]);

    file_import(&p, &t, "x.csv", "1,a,1\n", json!({"csv": {"delimiter": ";;"}}))
        .expect_error(400, "invalid_csv_options");
    file_import(&p, &t, "x.csv", "1,a,1\n", json!({"csv": {"columns": ["id"]}}))
        .expect_error(400, "invalid_csv_options");
}

#[test]
fn incremental_loads_upsert_by_key_and_the_last_duplicate_in_a_file_wins() {
    let server = Server::start();
    let (p, t) = setup(&server);
    file_import(&p, &t, "a.csv", "id,name,amount\n1,one,1\n2,two,2\n", json!({})).expect(200);
    let job = file_import(
        &p,
        &t,
        "b.csv",
        "id,name,amount\n2,TWO,20\n3,three,3\n2,TWO again,22\n",
        json!({"incremental": true}),
    )
    .expect(200);
    assert_eq!(job["result"]["rows_imported"], 2, "the delta is de-duplicated before loading");
    assert_eq!(job["result"]["rows_in_table"], 3);
    assert_eq!(ids_names(&p.rows(&t, "id")), [(1, json!("one")), (2, json!("TWO again")), (3, json!("three"))]);

    // A full load replaces everything, also de-duplicating (last wins).
    file_import(&p, &t, "c.csv", "id,name,amount\n7,x,1\n7,y,1\n", json!({})).expect(200);
    assert_eq!(ids_names(&p.rows(&t, "id")), [(7, json!("y"))]);
}

#[test]
fn dedup_modes_insert_duplicates_and_fail_on_duplicates() {
    let server = Server::start();
    let (p, t) = setup(&server);
    file_import(&p, &t, "a.csv", "id,name,amount\n1,one,1\n", json!({})).expect(200);

    file_import(
        &p,
        &t,
        "b.csv",
        "id,name,amount\n1,again,1\n1,and again,1\n",
        json!({"incremental": true, "dedup_mode": "insert_duplicates"}),
    )
    .expect(200);
    assert_eq!(p.rows(&t, "id").len(), 3);

    let before = p.rows(&t, "name");
    let msg = file_import(
        &p,
        &t,
        "c.csv",
        "id,name,amount\n5,x,1\n5,y,1\n",
        json!({"incremental": true, "dedup_mode": "fail_on_duplicates"}),
    )
    .expect_error(409, "duplicate_key");
    assert!(msg.contains('5'), "{msg}");
    file_import(
        &p,
        &t,
        "d.csv",
        "id,name,amount\n1,clash,1\n",
        json!({"incremental": true, "dedup_mode": "fail_on_duplicates"}),
    )
    .expect_error(409, "duplicate_key");
    file_import(&p, &t, "e.csv", "id,name,amount\n8,x,1\n8,y,1\n", json!({"dedup_mode": "fail_on_duplicates"}))
        .expect_error(409, "duplicate_key");
    assert_eq!(p.rows(&t, "name"), before, "refused imports change nothing");

    file_import(
        &p,
        &t,
        "f.csv",
        "id,name,amount\n9,new,1\n",
        json!({"incremental": true, "dedup_mode": "fail_on_duplicates"}),
    )
    .expect(200);
    assert_eq!(p.rows(&t, "id").len(), 4);
}

#[test]
fn tables_without_a_key_append_on_incremental_loads() {
    let server = Server::start();
    let p = server.project("p1");
    create_bucket(&p, "p1", "b");
    p.post(
        &format!("{}/tables", bucket("p1", "in.c-b")),
        json!({"name": "log", "columns": [{"name": "msg", "type": "string"}]}),
    )
    .expect(201);
    let t = table("p1", "in.c-b", "log");
    for _ in 0..2 {
        file_import(&p, &t, "a.csv", "msg\nsame\nsame\n", json!({"incremental": true})).expect(200);
    }
    assert_eq!(p.rows(&t, "msg").len(), 4);
}

#[test]
fn bad_data_is_refused_with_line_and_column_and_the_table_is_untouched() {
    let server = Server::start();
    let (p, t) = setup(&server);
    file_import(&p, &t, "good.csv", "id,name,amount\n1,one,1\n2,two,2\n", json!({})).expect(200);
    let path = server.data_dir().join("projects/p1/branches/default/in.c-b/t.duckdb");
    let file_before = std::fs::read(&path).unwrap();
    let rows_before = p.rows(&t, "id");

    let cast = file_import(&p, &t, "bad.csv", "id,name,amount\n3,ok,1\nfour,bad,1\n", json!({}))
        .expect_error(422, "invalid_value");
    assert!(cast.contains("line 3") && cast.contains("\"id\""), "{cast}");
    let width =
        file_import(&p, &t, "bad.csv", "id,name,amount\n3,ok,1,extra\n", json!({})).expect_error(422, "invalid_csv");
    assert!(width.contains("line 2"), "{width}");
    let quote = file_import(&p, &t, "bad.csv", "id,name,amount\n3,\"open,1\n", json!({}))
        .expect_error(422, "unterminated_quote");
    assert!(quote.contains("line 2"), "{quote}");
    file_import(&p, &t, "bad.csv", "id,name,amount\n,no key,1\n", json!({})).expect_error(422, "null_in_primary_key");
    file_import(&p, &t, "bad.csv", "four,bad,1\n", json!({"incremental": true, "csv": {"header": false}}))
        .expect_error(422, "invalid_value");
    file_import(&p, &t, "empty.csv", "", json!({})).expect_error(422, "invalid_csv");
    p.import(&t, json!({"file_id": "0000000000000000"})).expect_error(404, "file_not_found");
    p.import(&t, json!({})).expect_error(400, "invalid_source");

    assert_eq!(p.rows(&t, "id"), rows_before);
    assert_eq!(std::fs::read(&path).unwrap(), file_before, "a failed import must not touch the table file");
    let leftovers: Vec<_> =
        disk_listing(server.data_dir()).into_iter().filter(|(f, _)| f.to_string_lossy().contains(".loading")).collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn parquet_files_import_by_column_name_and_tables_import_from_tables() {
    let server = Server::start();
    let (p, t) = setup(&server);
    let dir = tempfile::tempdir().unwrap();
    let parquet = dir.path().join("in.parquet");
    duckdb::Connection::open_in_memory()
        .unwrap()
        .execute_batch(&format!(
            "COPY (SELECT 'p' || i AS name, i AS id, i * 1.5 AS amount FROM range(1, 4) t(i)) TO '{}' (FORMAT parquet)",
            parquet.display()
        ))
        .unwrap();
    let file_id = p.upload("p1", "in.parquet", std::fs::read(&parquet).unwrap());
    p.import(&t, json!({"file_id": file_id})).expect(200);
    assert_eq!(p.rows(&t, "id")[2], json!({"id": 3, "name": "p3", "amount": "4.50"}));

    // Another table as the source, matched by name.
    p.post(
        &format!("{}/tables", bucket("p1", "in.c-b")),
        json!({"name": "dst", "columns": [
        {"name": "amount", "type": "DOUBLE"}, {"name": "id", "type": "BIGINT"}, {"name": "name", "type": "VARCHAR"}]}),
    )
    .expect(201);
    let dst = table("p1", "in.c-b", "dst");
    p.import(&dst, json!({"source_table": {"bucket_id": "in.c-b", "table_name": "t"}})).expect(200);
    assert_eq!(p.rows(&dst, "id")[0], json!({"amount": 1.5, "id": 1, "name": "p1"}));
    p.import(&dst, json!({"source_table": {"bucket_id": "in.c-b", "table_name": "nope"}}))
        .expect_error(404, "table_not_found");
    p.import(&dst, json!({"source_table": {"project_id": "p2", "bucket_id": "in.c-b", "table_name": "t"}}))
        .expect_error(400, "invalid_request");
}

#[test]
fn a_table_can_be_created_from_a_file() {
    let server = Server::start();
    let p = server.project("p1");
    create_bucket(&p, "p1", "b");
    let file_id = p.upload("p1", "people.csv", "id,name,born\n1,Ada,1815-12-10\n2,Alan,1912-06-23\n");
    let url = format!("{}/tables-from-file?wait=true", bucket("p1", "in.c-b"));
    let job = p.post(&url, json!({"name": "people", "file_id": file_id, "primary_key": ["id"]})).expect(200);
    let table = &job["result"]["table"];
    assert_eq!(table["row_count"], 2);
    let types: Vec<_> = table["columns"].as_array().unwrap().iter().map(|c| c["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["VARCHAR", "VARCHAR", "VARCHAR"]);

    let typed = p.post(&url, json!({"name": "typed", "file_id": file_id, "infer_types": true})).expect(200);
    let types: Vec<_> = typed["result"]["table"]["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(types, ["BIGINT", "VARCHAR", "DATE"]);

    let bad = p.upload("p1", "bad.csv", "id,Full Name\n1,x\n");
    p.post(&url, json!({"name": "bad", "file_id": bad})).expect_error(400, "invalid_name");
    p.post(&url, json!({"name": "people", "file_id": file_id})).expect_error(409, "table_already_exists");
    let broken = p.upload("p1", "broken.csv", "id,name\n1,\"unterminated\n");
    p.post(&url, json!({"name": "broken", "file_id": broken})).expect_error(422, "unterminated_quote");
    p.get(&crate::harness::table("p1", "in.c-b", "broken")).expect_error(404, "table_not_found");
}
