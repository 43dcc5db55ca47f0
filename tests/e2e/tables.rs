use serde_json::json;

use crate::harness::*;

#[test]
fn buckets_and_typed_tables_can_be_created_listed_read_and_deleted() {
    let server = Server::start();
    let p = server.project("p1");

    let created = p
        .post(&format!("{}/buckets", branch("p1")), json!({"stage": "out", "name": "reports", "description": "KPIs"}))
        .expect(201);
    assert_eq!(created["id"], "out.c-reports");
    assert_eq!(created["description"], "KPIs");
    p.post(&format!("{}/buckets", branch("p1")), json!({"stage": "out", "name": "REPORTS"}))
        .expect_error(409, "bucket_already_exists");

    let table = p
        .post(
            &format!("{}/tables", bucket("p1", "out.c-reports")),
            json!({"name": "daily", "primary_key": ["day", "region"], "columns": [
                {"name": "day", "type": "date", "nullable": false},
                {"name": "region", "type": "string"},
                {"name": "revenue", "type": "numeric(12,2)", "default": "0"},
                {"name": "at", "type": "timestamp with time zone"},
            ]}),
        )
        .expect(201);
    assert_eq!(table["id"], "out.c-reports.daily");
    assert_eq!(table["source"], "main");
    assert_eq!(table["row_count"], 0);
    let types: Vec<_> = table["columns"].as_array().unwrap().iter().map(|c| c["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["DATE", "VARCHAR", "DECIMAL(12,2)", "TIMESTAMP WITH TIME ZONE"]);
    assert_eq!(table["columns"][0]["nullable"], false);
    assert_eq!(table["columns"][2]["default"], "0");
    assert_eq!(table["primary_key"], json!(["day", "region"]));
    assert!(server.data_dir().join("projects/p1/branches/default/out.c-reports/daily.duckdb").is_file());

    let tables = format!("{}/tables", bucket("p1", "out.c-reports"));
    p.post(&tables, json!({"name": "DAILY", "columns": [{"name": "a", "type": "int"}]}))
        .expect_error(409, "table_already_exists");

    let listed = p.get(&tables).expect(200);
    assert_eq!(listed["total"], 1);
    assert_eq!(p.get(&format!("{}/buckets", branch("p1"))).expect(200)["buckets"][0]["table_count"], 1);

    let preview = p.get(&format!("{}/preview", table_path())).expect(200);
    assert_eq!(preview["rows"], json!([]));
    assert_eq!(preview["total_row_count"], 0);
    assert_eq!(preview["columns"].as_array().unwrap().len(), 4);

    p.delete(&bucket("p1", "out.c-reports")).expect_error(409, "bucket_not_empty");
    p.delete(&table_path()).expect(204);
    p.get(&table_path()).expect_error(404, "table_not_found");
    assert!(!server.data_dir().join("projects/p1/branches/default/out.c-reports/daily.duckdb").exists());

    create_table(&p, "p1", "out.c-reports", "again");
    p.delete(&format!("{}?cascade=true", bucket("p1", "out.c-reports"))).expect(204);
    p.get(&bucket("p1", "out.c-reports")).expect_error(404, "bucket_not_found");
    assert!(!server.data_dir().join("projects/p1/branches/default/out.c-reports").exists());
}

fn table_path() -> String {
    table("p1", "out.c-reports", "daily")
}

#[test]
fn preview_validates_columns_filters_order_and_limit() {
    let server = Server::start();
    let p = server.project("p1");
    create_bucket(&p, "p1", "b");
    create_table(&p, "p1", "in.c-b", "t");
    let preview = format!("{}/preview", table("p1", "in.c-b", "t"));

    let selected = p.get(&format!("{preview}?columns=name&order_by=id:desc&limit=10")).expect(200);
    assert_eq!(selected["columns"].as_array().unwrap().len(), 1);
    assert_eq!(selected["columns"][0]["name"], "name");

    p.get(&format!("{preview}?columns=nope")).expect_error(400, "unknown_column");
    p.get(&format!("{preview}?order_by=id:sideways")).expect_error(400, "invalid_order");
    p.get(&format!("{preview}?limit=0")).expect_error(400, "invalid_limit");
    p.get(&format!("{preview}?limit=10001")).expect_error(400, "invalid_limit");
    p.get(&format!("{preview}?bogus=1")).expect_error(400, "invalid_request");
    p.get(&format!("{preview}?filters=notjson")).expect_error(400, "invalid_filter");

    let post = |body| p.post(&preview, body);
    post(json!({"filters": [{"column": "id", "operator": "eq", "values": [1, 2]}]})).expect(200);
    post(json!({"filters": [{"column": "ghost", "operator": "eq", "values": [1]}]}))
        .expect_error(400, "unknown_column");
    post(json!({"filters": [{"column": "id", "operator": "gt", "values": [1, 2]}]}))
        .expect_error(400, "invalid_filter");
    post(json!({"filters": [{"column": "id", "operator": "is_null", "values": [1]}]}))
        .expect_error(400, "invalid_filter");
    post(json!({"filters": [{"column": "id", "operator": "eq", "values": [{"a": 1}]}]}))
        .expect_error(400, "invalid_filter");
    post(json!({"filters": [{"column": "id", "operator": "like", "values": ["%"]}]}))
        .expect_error(400, "invalid_request");
    post(json!({"filters": [{"column": "id", "operator": "eq", "values": ["not a number"]}]}))
        .expect_error(422, "invalid_value");
    post(json!({"where": "1=1"})).expect_error(400, "invalid_request");
}

#[test]
fn unknown_branches_buckets_and_tables_are_404() {
    let server = Server::start();
    let p = server.project("p1");
    p.get("/projects/p1/branches/dev/buckets").expect_error(404, "branch_not_found");
    p.get("/projects/p1/branches/default").expect(200);
    p.get(&bucket("p1", "in.c-none")).expect_error(404, "bucket_not_found");
    create_bucket(&p, "p1", "b");
    p.get(&table("p1", "in.c-b", "none")).expect_error(404, "table_not_found");
    server.admin().get(&bucket("ghost", "in.c-b")).expect_error(404, "project_not_found");
}

#[test]
fn a_table_dropped_and_created_again_at_once_keeps_a_working_file() {
    let server = Server::start();
    let p = server.project("p1");
    create_bucket(&p, "p1", "b");
    let t = table("p1", "in.c-b", "t");
    let rows = p.upload("p1", "rows.csv", "id,name\n1,a\n2,b\n");
    create_table(&p, "p1", "in.c-b", "t");
    for round in 0..25 {
        p.import(&t, json!({"file_id": rows})).expect(200);
        let (deleted, created) = std::thread::scope(|scope| {
            let dropper = scope.spawn(|| p.delete(&t).status);
            let creator = scope.spawn(|| {
                let body = json!({"name": "t", "columns": [{"name": "id", "type": "INTEGER"}, {"name": "name", "type": "VARCHAR"}],
                                  "primary_key": ["id"]});
                p.post(&format!("{}/tables", bucket("p1", "in.c-b")), body).status
            });
            (dropper.join().unwrap(), creator.join().unwrap())
        });
        assert_eq!(deleted, 204, "round {round}");
        assert!(matches!(created, 201 | 409), "round {round}: create answered {created}");
        if created != 201 {
            create_table(&p, "p1", "in.c-b", "t");
        }
        // Whichever way the race went, the table there now is whole and usable.
        assert_eq!(p.get(&t).expect(200)["row_count"], 0, "round {round}");
        p.import(&t, json!({"file_id": rows, "incremental": true})).expect(200);
        assert_eq!(p.rows(&t, "id").len(), 2, "round {round}");
    }
}

/// A profile (a job) counts each column's values, NULLs and distinct values, its range, the
/// mean of numbers and the most frequent values of text with few distinct ones; the latest is
/// kept with the table and says when the table changed since.
#[test]
fn a_table_profile_describes_each_column_and_knows_when_it_is_stale() {
    let server = Server::start();
    let p = server.project("p1");
    create_bucket(&p, "p1", "b");
    let columns = json!([{"name": "id", "type": "INTEGER"}, {"name": "name", "type": "VARCHAR"},
                         {"name": "amount", "type": "DECIMAL(12,2)"}, {"name": "flag", "type": "BOOLEAN"}]);
    p.post(&format!("{}/tables", bucket("p1", "in.c-b")), json!({"name": "t", "columns": columns})).expect(201);
    let t = table("p1", "in.c-b", "t");
    p.get(&format!("{t}/profile")).expect_error(404, "profile_not_found");
    p.get(&format!("{}/profile", table("p1", "in.c-b", "nope"))).expect_error(404, "table_not_found");
    let csv = "id,name,amount,flag\n1,a,1.50,true\n2,b,2.50,false\n3,a,,true\n4,,4.00,\n";
    p.import(&t, json!({"file_id": p.upload("p1", "t.csv", csv)})).expect(200);

    let job = p.post(&format!("{t}/profile?wait=true"), json!({})).expect(200);
    assert_eq!((job["status"].as_str(), job["kind"].as_str()), (Some("success"), Some("table_profile")), "{job}");
    let profile = &job["result"]["profile"];
    assert_eq!((profile["row_count"].as_u64(), profile["current"].as_bool()), (Some(4), Some(true)));
    let column =
        |name: &str| profile["columns"].as_array().unwrap().iter().find(|c| c["name"] == name).unwrap().clone();
    let id = column("id");
    assert_eq!(
        (&id["count"], &id["nulls"], &id["distinct"], &id["min"], &id["max"], &id["mean"]),
        (&json!(4), &json!(0), &json!(4), &json!("1"), &json!("4"), &json!(2.5))
    );
    let name = column("name");
    assert_eq!(
        (&name["count"], &name["nulls"], &name["distinct"], &name["mean"]),
        (&json!(3), &json!(1), &json!(2), &json!(null))
    );
    assert_eq!(name["top_values"], json!([{"value": "a", "count": 2}, {"value": "b", "count": 1}]));
    let amount = column("amount");
    assert_eq!((&amount["min"], &amount["max"], &amount["nulls"]), (&json!("1.50"), &json!("4.00"), &json!(1)));
    assert!((amount["mean"].as_f64().unwrap() - 8.0 / 3.0).abs() < 1e-9, "{amount}");
    assert_eq!(column("flag")["top_values"], json!([{"value": "true", "count": 2}, {"value": "false", "count": 1}]));

    // Kept with the table; a change to the table makes it stale until profiled again.
    assert_eq!(p.get(&format!("{t}/profile")).expect(200), *profile);
    let more = p.upload("p1", "more.csv", "id,name,amount,flag\n5,c,5.00,false\n");
    p.import(&t, json!({"file_id": more, "incremental": true})).expect(200);
    let stale = p.get(&format!("{t}/profile")).expect(200);
    assert_eq!((stale["current"].as_bool(), stale["row_count"].as_u64()), (Some(false), Some(4)));
    let fresh = p.post(&format!("{t}/profile?wait=true"), json!({})).expect(200);
    assert_eq!(fresh["result"]["profile"]["row_count"], 5);
    assert_eq!(p.get(&format!("{t}/profile")).expect(200)["current"], true);

    // A table dropped and created again under its name starts without one.
    p.delete(&t).expect(204);
    p.post(&format!("{}/tables", bucket("p1", "in.c-b")), json!({"name": "t", "columns": columns})).expect(201);
    p.get(&format!("{t}/profile")).expect_error(404, "profile_not_found");
}
