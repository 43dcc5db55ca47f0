use serde_json::json;

use crate::harness::*;

#[test]
fn projects_keys_and_tables_survive_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Server::start_in(&data, Some(ADMIN_KEY));
    let p = server.project("p1");
    create_bucket(&p, "p1", "b");
    create_table(&p, "p1", "in.c-b", "t");
    let reader = p
        .post("/projects/p1/api-keys", json!({"description": "r", "scope": "branch_read", "branch_id": "default"}))
        .expect(201)["api_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let table_before = p.get(&table("p1", "in.c-b", "t")).expect(200);
    server.stop();

    let server = Server::start_in(&data, Some(ADMIN_KEY));
    let p = server.client(None).with_key(&reader);
    let table_after = p.get(&table("p1", "in.c-b", "t")).expect(200);
    assert_eq!(table_after["columns"], table_before["columns"]);
    assert_eq!(table_after["primary_key"], table_before["primary_key"]);
    assert_eq!(table_after["created_at"], table_before["created_at"]);
    assert_eq!(server.admin().get("/projects").expect(200)["total"], 1);
}

#[test]
fn a_generated_admin_key_is_printed_once_and_keeps_working_after_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Server::start_in(&data, None);
    let key = server
        .banner
        .iter()
        .find_map(|l| l.trim().strip_prefix("dsa_").map(|rest| format!("dsa_{rest}")))
        .unwrap_or_else(|| panic!("no admin key in {:?}", server.banner));
    server.client(Some(&key)).post("/projects", json!({"id": "p1"})).expect(201);
    server.stop();

    let server = Server::start_in(&data, None);
    assert!(!server.banner.iter().any(|l| l.contains("dsa_")), "the admin key must be shown only once");
    server.client(Some(&key)).get("/projects/p1").expect(200);
    server.client(Some("dsa_wrong")).get("/projects/p1").expect_error(401, "invalid_token");
}

#[test]
fn a_catalog_from_a_newer_duckstore_is_refused_with_a_clear_message() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    Server::start_in(&data, Some(ADMIN_KEY)).stop();
    {
        let catalog = duckdb::Connection::open(data.join("metadata.duckdb")).unwrap();
        catalog.execute_batch("INSERT INTO schema_version VALUES (999)").unwrap();
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_duckstore"))
        .args(["serve", "--data-dir"])
        .arg(&data)
        .args(["--http-addr", "127.0.0.1:0"])
        .env("DUCKSTORE_ADMIN_KEY", ADMIN_KEY)
        .output()
        .unwrap();
    assert!(!out.status.success(), "a newer catalog must stop the server from starting");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("schema version 999") && stderr.contains("newer duckstore"), "{stderr}");
}
