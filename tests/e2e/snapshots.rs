//! Snapshots: manual and automatic, restore into the table or a new one, settings.

use serde_json::{Value, json};

use crate::harness::*;

/// p1 with `in.c-b.t(id INTEGER key, name VARCHAR NOT NULL DEFAULT 'x', score DECIMAL(5,1))` and 3 rows.
fn setup(server: &Server) -> (Client, String) {
    let p = server.project("p1");
    create_bucket(&p, "p1", "b");
    p.post(
        &format!("{}/tables", bucket("p1", "in.c-b")),
        json!({"name": "t", "primary_key": ["id"], "columns": [
            {"name": "id", "type": "INTEGER", "nullable": false},
            {"name": "name", "type": "VARCHAR", "nullable": false, "default": "x"},
            {"name": "score", "type": "DECIMAL(5,1)"}]}),
    )
    .expect(201);
    let t = table("p1", "in.c-b", "t");
    p.import(&t, json!({"file_id": p.upload("p1", "t.csv", "id,name,score\n1,a,1.5\n2,b,\n3,c,3.0\n")})).expect(200);
    (p, t)
}

fn snapshots(p: &Client, query: &str) -> Vec<Value> {
    p.get(&format!("{}/snapshots{query}", branch("p1"))).expect(200)["snapshots"].as_array().unwrap().clone()
}

fn take(p: &Client) -> Value {
    let job = p.post(
        &format!("{}/snapshots?wait=true", branch("p1")),
        json!({"bucket_id": "in.c-b", "table_name": "t", "description": "before cleanup"}),
    );
    job.expect(200)["result"]["snapshot"].clone()
}

#[test]
fn snapshot_drop_restore_gives_back_identical_rows_schema_and_key() {
    let server = Server::start();
    let (p, t) = setup(&server);
    let before = p.get(&t).expect(200);
    let rows = p.rows(&t, "id");

    let snap = take(&p);
    assert_eq!((snap["kind"].as_str(), snap["row_count"].as_u64()), (Some("manual"), Some(3)));
    let detail = p.get(&format!("{}/snapshots/{}", branch("p1"), snap["id"].as_str().unwrap())).expect(200);
    assert_eq!(detail["columns"], before["columns"]);
    assert_eq!(detail["primary_key"], json!(["id"]));

    p.delete(&t).expect(204);
    p.get(&t).expect_error(404, "table_not_found");
    let restore = format!("{}/snapshots/{}/restore?wait=true", branch("p1"), snap["id"].as_str().unwrap());
    let job = p.post(&restore, json!({})).expect(200);
    assert_eq!(job["result"]["row_count"], 3);
    let after = p.get(&t).expect(200);
    assert_eq!(after["columns"], before["columns"], "types, nullability and defaults come back exactly");
    assert_eq!(after["primary_key"], before["primary_key"]);
    assert_eq!(p.rows(&t, "id"), rows);

    // Restore over changed data replaces it; a new table must not exist yet.
    p.send(
        "DELETE",
        &format!("{t}/rows"),
        Some(json!({"filters": [{"column": "id", "operator": "eq", "values": [1]}]})),
    )
    .expect(200);
    p.put(&format!("{t}/columns/score"), json!({"type": "VARCHAR"})).expect(200);
    p.post(&restore, json!({})).expect(200);
    assert_eq!(p.get(&t).expect(200)["columns"], before["columns"]);
    assert_eq!(p.rows(&t, "id"), rows);
    p.post(&restore, json!({"target_table_name": "copy"})).expect(200);
    assert_eq!(p.rows(&table("p1", "in.c-b", "copy"), "id"), rows);
    p.post(&restore, json!({"target_table_name": "copy"})).expect_error(409, "table_already_exists");

    // A dropped bucket comes back with the table.
    p.delete(&format!("{}?cascade=true", bucket("p1", "in.c-b"))).expect(204);
    p.post(&restore, json!({})).expect(200);
    assert_eq!(p.rows(&t, "id"), rows);

    p.delete(&format!("{}/snapshots/{}", branch("p1"), snap["id"].as_str().unwrap())).expect(204);
    assert!(!server.data_dir().join(format!("snapshots/p1/{}", snap["id"].as_str().unwrap())).exists());
    p.post(&restore, json!({})).expect_error(404, "snapshot_not_found");
}

#[test]
fn dropping_a_table_takes_an_automatic_snapshot_by_default() {
    let server = Server::start();
    let (p, t) = setup(&server);
    p.delete(&t).expect(204);
    let auto = snapshots(&p, "?kind=auto");
    assert_eq!(auto.len(), 1);
    assert_eq!(auto[0]["trigger"], "drop_table");
    assert_eq!(auto[0]["row_count"], 3);
    let days = |s: &Value| {
        let at = |k: &str| chrono::DateTime::parse_from_rfc3339(s[k].as_str().unwrap()).unwrap();
        (at("expires_at") - at("created_at")).num_days()
    };
    assert_eq!(days(&auto[0]), 7, "automatic snapshots are kept 7 days by default");
    assert_eq!(days(&take_after_recreate(&p)), 90, "manual ones 90");
}

fn take_after_recreate(p: &Client) -> Value {
    let auto = snapshots(p, "?kind=auto");
    let restore = format!("{}/snapshots/{}/restore?wait=true", branch("p1"), auto[0]["id"].as_str().unwrap());
    p.post(&restore, json!({})).expect(200);
    take(p)
}

#[test]
fn truncate_snapshots_only_when_enabled_and_settings_inherit() {
    let server = Server::start();
    let (p, t) = setup(&server);
    p.post(&format!("{t}/truncate"), json!({})).expect(200);
    assert!(snapshots(&p, "?kind=auto").is_empty(), "truncate does not snapshot by default");

    p.import(&t, json!({"file_id": p.upload("p1", "t.csv", "id,name,score\n1,a,1\n")})).expect(200);
    let project = p.put("/projects/p1/settings/snapshots", json!({"retention": {"auto_days": 30}})).expect(200);
    assert_eq!(project["inheritance"]["retention.auto_days"], "project");
    let settings = format!("{t}/settings/snapshots");
    let local = p.put(&settings, json!({"auto_snapshot_triggers": {"truncate_table": true}})).expect(200);
    assert_eq!(local["effective"]["auto_snapshot_triggers"]["truncate_table"], true);
    assert_eq!(local["effective"]["auto_snapshot_triggers"]["drop_table"], true);
    assert_eq!(local["effective"]["retention"]["auto_days"], 30);
    assert_eq!(local["inheritance"]["auto_snapshot_triggers.truncate_table"], "table");
    assert_eq!(local["inheritance"]["retention.auto_days"], "project");
    assert_eq!(local["inheritance"]["retention.manual_days"], "system");
    assert_eq!(local["local"], json!({"auto_snapshot_triggers": {"truncate_table": true}}));

    p.post(&format!("{t}/truncate"), json!({})).expect(200);
    let auto = snapshots(&p, "?kind=auto");
    assert_eq!(auto.len(), 1);
    assert_eq!(auto[0]["trigger"], "truncate_table");
    assert_eq!(auto[0]["row_count"], 1);

    // PUT stores only the keys given; DELETE falls back to inheritance.
    let both = p.put(&settings, json!({"retention": {"manual_days": 5}})).expect(200);
    assert_eq!(both["local"]["auto_snapshot_triggers"]["truncate_table"], true);
    assert_eq!(both["local"]["retention"], json!({"manual_days": 5}));
    p.delete(&settings).expect(204);
    let cleared = p.get(&settings).expect(200);
    assert_eq!(cleared["local"], json!({}));
    assert_eq!(cleared["effective"]["auto_snapshot_triggers"]["truncate_table"], false);

    // A disabled bucket turns drop snapshots off for its tables.
    p.put(&format!("{}/settings/snapshots", bucket("p1", "in.c-b")), json!({"enabled": false})).expect(200);
    p.delete(&t).expect(204);
    assert_eq!(snapshots(&p, "?kind=auto").len(), 1, "no new snapshot");
}

#[test]
fn unknown_or_invalid_settings_are_rejected() {
    let server = Server::start();
    let (p, t) = setup(&server);
    let settings = format!("{t}/settings/snapshots");
    for bad in [
        json!({"enabeld": true}),
        json!({"retention": {"days": 3}}),
        json!({"auto_snapshot_triggers": {"drop": true}}),
        json!({"enabled": "yes"}),
    ] {
        p.put(&settings, bad).expect_error(400, "invalid_request");
    }
    p.put(&settings, json!({"retention": {"manual_days": 0}})).expect_error(400, "invalid_settings");
    assert_eq!(p.get(&settings).expect(200)["local"], json!({}), "rejected settings are not stored");
    p.get(&format!("{}/settings/snapshots", table("p1", "in.c-b", "nope"))).expect_error(404, "table_not_found");
}

#[test]
fn a_failing_automatic_snapshot_stops_the_drop() {
    let server = Server::start();
    let (p, t) = setup(&server);
    // The snapshot directory cannot be created: a file is in the way.
    std::fs::write(server.data_dir().join("snapshots"), b"not a directory").unwrap();
    p.delete(&t).expect_error(500, "auto_snapshot_failed");
    assert_eq!(p.rows(&t, "id").len(), 3, "the table is still there");
}
