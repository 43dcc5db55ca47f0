//! Schema changes and row deletes: each atomic, refused cleanly when the data does not fit.

use serde_json::json;

use crate::harness::*;

fn setup(server: &Server) -> (Client, String) {
    let p = server.project("p1");
    create_bucket(&p, "p1", "b");
    create_table(&p, "p1", "in.c-b", "t");
    let t = table("p1", "in.c-b", "t");
    let file_id = p.upload("p1", "t.csv", "id,name\n1,one\n2,two\n3,\n");
    p.import(&t, json!({"file_id": file_id})).expect(200);
    (p, t)
}

fn column_names(table: &serde_json::Value) -> Vec<String> {
    table["columns"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn columns_can_be_added_renamed_retyped_and_dropped() {
    let server = Server::start();
    let (p, t) = setup(&server);
    let cols = format!("{t}/columns");

    let added = p.post(&cols, json!({"name": "score", "type": "INTEGER", "default": "7"})).expect(201);
    assert_eq!(column_names(&added), ["id", "name", "score"]);
    assert_eq!(p.rows(&t, "id")[0]["score"], 7);
    p.post(&cols, json!({"name": "SCORE", "type": "INTEGER"})).expect_error(409, "column_already_exists");
    p.post(&cols, json!({"name": "req", "type": "INTEGER", "nullable": false}))
        .expect_error(422, "constraint_violation");

    let retyped = p.put(&format!("{cols}/score"), json!({"type": "VARCHAR"})).expect(200);
    assert_eq!(retyped["columns"][2]["type"], "VARCHAR");
    assert_eq!(p.rows(&t, "id")[0]["score"], "7");

    let renamed = p.put(&format!("{cols}/id"), json!({"name": "key"})).expect(200);
    assert_eq!(column_names(&renamed), ["key", "name", "score"]);
    assert_eq!(renamed["primary_key"], json!(["key"]), "the key follows a renamed column");
    assert_eq!(p.rows(&t, "key")[1]["key"], 2);

    let dropped = p.delete(&format!("{cols}/score")).expect(200);
    assert_eq!(column_names(&dropped), ["key", "name"]);
    p.delete(&format!("{cols}/key")).expect_error(409, "column_in_primary_key");
    p.delete(&format!("{cols}/ghost")).expect_error(404, "column_not_found");
    p.put(&format!("{cols}/name"), json!({})).expect_error(400, "empty_change");
}

#[test]
fn failed_schema_changes_leave_schema_and_rows_as_they_were() {
    let server = Server::start();
    let (p, t) = setup(&server);
    let before = p.get(&t).expect(200);
    let rows = p.rows(&t, "id");

    p.put(&format!("{t}/columns/name"), json!({"type": "INTEGER"})).expect_error(422, "invalid_value");
    p.put(&format!("{t}/columns/name"), json!({"nullable": false})).expect_error(422, "constraint_violation");
    p.put(&format!("{t}/columns/name"), json!({"default": "x", "type": "DATE"})).expect_error(422, "invalid_value");

    let after = p.get(&t).expect(200);
    assert_eq!(after["columns"], before["columns"]);
    assert_eq!(p.rows(&t, "id"), rows);

    p.post(&format!("{t}/columns"), json!({"name": "only", "type": "int"})).expect(201);
    p.post(&format!("{t}/primary-key"), json!({"columns": ["only"]})).expect_error(409, "primary_key_violation");
    p.delete(&format!("{t}/primary-key")).expect(200);
    p.delete(&format!("{t}/columns/only")).expect(200);
    p.delete(&format!("{t}/columns/id")).expect(200);
    p.delete(&format!("{t}/columns/name")).expect_error(409, "last_column");
}

#[test]
fn primary_keys_are_checked_against_existing_rows() {
    let server = Server::start();
    let (p, t) = setup(&server);
    p.delete(&format!("{t}/primary-key")).expect(200);
    let file_id = p.upload("p1", "dup.csv", "id,name\n1,again\n");
    p.import(&t, json!({"file_id": file_id, "incremental": true})).expect(200);
    let msg =
        p.post(&format!("{t}/primary-key"), json!({"columns": ["id"]})).expect_error(409, "primary_key_violation");
    assert!(msg.contains("1 key value"), "{msg}");
    p.post(&format!("{t}/primary-key"), json!({"columns": ["name"]})).expect_error(409, "primary_key_violation");
    p.post(&format!("{t}/primary-key"), json!({"columns": ["nope"]})).expect_error(400, "unknown_column");

    p.send(
        "DELETE",
        &format!("{t}/rows"),
        Some(json!({"filters": [{"column": "name", "operator": "eq", "values": ["again"]}]})),
    )
    .expect(200);
    let keyed = p.post(&format!("{t}/primary-key"), json!({"columns": ["ID"]})).expect(200);
    assert_eq!(keyed["primary_key"], json!(["id"]));
}

#[test]
fn rows_are_deleted_by_structured_filter_or_all_at_once() {
    let server = Server::start();
    let (p, t) = setup(&server);
    let rows = format!("{t}/rows");
    let deleted = p
        .send("DELETE", &rows, Some(json!({"filters": [{"column": "id", "operator": "ge", "values": [2]}, {"column": "name", "operator": "is_not_null"}]})))
        .expect(200);
    assert_eq!(deleted["deleted_rows"], 1);
    assert_eq!(p.rows(&t, "id").iter().map(|r| r["id"].as_i64().unwrap()).collect::<Vec<_>>(), [1, 3]);

    p.send("DELETE", &rows, Some(json!({"filters": [{"column": "id", "operator": "eq", "values": ["x"]}]})))
        .expect_error(422, "invalid_value");
    p.send("DELETE", &rows, Some(json!({"where": "1=1"}))).expect_error(400, "invalid_request");

    let all = p.send("DELETE", &rows, Some(json!({}))).expect(200);
    assert_eq!(all["deleted_rows"], 2);
    assert_eq!(p.get(&t).expect(200)["row_count"], 0);
}
