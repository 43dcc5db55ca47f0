//! Invalid names and values are refused with a 4xx and a code, and change nothing.

use serde_json::json;

use crate::harness::*;

fn snapshot(server: &Server, p: &Client) -> (serde_json::Value, Vec<(std::path::PathBuf, u64)>) {
    let buckets = p.get(&format!("{}/buckets", branch("p1"))).expect(200);
    (buckets, disk_listing(&server.data_dir().join("projects")))
}

#[test]
fn invalid_names_are_rejected_without_side_effects() {
    let server = Server::start();
    let p = server.project("p1");
    create_bucket(&p, "p1", "b");
    create_table(&p, "p1", "in.c-b", "t");
    let before = snapshot(&server, &p);

    let long = "x".repeat(300);
    let bad_names = ["../x", "a;drop", long.as_str(), "tabulka\u{e9}", "a b", "", "a/b", "a\"b"];
    for name in bad_names {
        p.post(&format!("{}/buckets", branch("p1")), json!({"stage": "in", "name": name}))
            .expect_error(400, "invalid_request");
        p.post(
            &format!("{}/tables", bucket("p1", "in.c-b")),
            json!({"name": name, "columns": [{"name": "a", "type": "int"}]}),
        )
        .expect_error(400, "invalid_request");
        p.post(
            &format!("{}/tables", bucket("p1", "in.c-b")),
            json!({"name": "ok", "columns": [{"name": name, "type": "int"}]}),
        )
        .expect_error(400, "invalid_request");
        server.admin().post("/projects", json!({"id": name})).expect_error(400, "invalid_request");
    }
    // Names in paths, percent-encoded so no client normalizes them away.
    for encoded in ["..%2Fx", "a%3Bdrop", "%C3%A9", "a%20b"] {
        p.get(&table("p1", "in.c-b", encoded)).expect_error(400, "invalid_name");
        p.delete(&table("p1", "in.c-b", encoded)).expect_error(400, "invalid_name");
        p.get(&format!("/projects/p1/branches/{encoded}/buckets")).expect_error(400, "invalid_name");
    }
    p.get(&bucket("p1", "sys.c-b")).expect_error(400, "invalid_name");
    p.post(&format!("{}/buckets", branch("p1")), json!({"stage": "sys", "name": "x"}))
        .expect_error(400, "invalid_request");

    assert_eq!(snapshot(&server, &p), before, "a rejected request changed state");
}

#[test]
fn invalid_table_definitions_are_rejected_without_side_effects() {
    let server = Server::start();
    let p = server.project("p1");
    create_bucket(&p, "p1", "b");
    let before = snapshot(&server, &p);
    let tables = format!("{}/tables", bucket("p1", "in.c-b"));
    let col = |name: &str, ty: &str| json!({"name": name, "type": ty});

    let cases = [
        (json!({"name": "t", "columns": []}), "no_columns"),
        (json!({"name": "t", "columns": [col("a", "int"), col("A", "int")]}), "duplicate_column"),
        (json!({"name": "t", "columns": [col("a", "GEOMETRY")]}), "invalid_request"),
        (json!({"name": "t", "columns": [col("a", "int); DROP TABLE x; --")]}), "invalid_request"),
        (json!({"name": "t", "columns": [col("a", "int")], "primary_key": ["b"]}), "unknown_column"),
        (json!({"name": "t", "columns": [col("_timestamp", "int")]}), "reserved_column_name"),
        (json!({"name": "t", "columns": [col("a", "int")], "extra": true}), "invalid_request"),
    ];
    for (body, code) in cases {
        p.post(&tables, body).expect_error(400, code);
    }
    let bad_default = json!({"name": "t", "columns": [{"name": "a", "type": "int", "default": "abc"}]});
    p.post(&tables, bad_default).expect_error(422, "invalid_value");
    let not_json = p.send("POST", &tables, None);
    assert_eq!(not_json.status, 415, "{}", not_json.text);

    assert_eq!(snapshot(&server, &p), before, "a rejected request changed state");
}
