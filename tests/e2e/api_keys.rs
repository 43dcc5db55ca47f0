use serde_json::json;

use crate::harness::*;

#[test]
fn keys_are_shown_once_stored_hashed_and_rotate_and_revoke_take_effect_at_once() {
    let server = Server::start();
    let owner = server.project("p1");

    let created = owner.post("/projects/p1/api-keys", json!({"description": "etl"})).expect(201);
    let plain = created["api_key"].as_str().unwrap().to_owned();
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["scope"], "project_admin");
    assert!(plain.starts_with(created["key_prefix"].as_str().unwrap()));

    // Listing and reading never reveal the secret.
    let listed = owner.get("/projects/p1/api-keys").expect(200);
    assert_eq!(listed["count"], 2);
    assert!(!listed.to_string().contains(&plain));
    let one = owner.get(&format!("/projects/p1/api-keys/{id}")).expect(200);
    assert!(one.get("api_key").is_none());

    // The plain key is nowhere on disk.
    let key_bytes = plain.as_bytes();
    for (file, _) in disk_listing(server.data_dir()) {
        let content = std::fs::read(server.data_dir().join(&file)).unwrap();
        assert!(!content.windows(key_bytes.len()).any(|w| w == key_bytes), "plain key found in {file:?}");
    }

    let etl = owner.with_key(&plain);
    etl.get("/projects/p1").expect(200);

    let rotated = owner.post(&format!("/projects/p1/api-keys/{id}/rotate"), json!({})).expect(201);
    let new_plain = rotated["api_key"].as_str().unwrap();
    assert_ne!(new_plain, plain);
    etl.get("/projects/p1").expect_error(401, "invalid_token");
    owner.with_key(new_plain).get("/projects/p1").expect(200);

    owner.delete(&format!("/projects/p1/api-keys/{id}")).expect(204);
    owner.with_key(new_plain).get("/projects/p1").expect_error(401, "invalid_token");
    assert_eq!(owner.get(&format!("/projects/p1/api-keys/{id}")).expect(200)["is_revoked"], true);
}

#[test]
fn the_last_project_admin_key_cannot_be_revoked() {
    let server = Server::start();
    let owner = server.project("p1");
    let keys = owner.get("/projects/p1/api-keys").expect(200);
    let only = keys["api_keys"][0]["id"].as_str().unwrap().to_owned();
    let reader = owner
        .post("/projects/p1/api-keys", json!({"description": "r", "scope": "branch_read", "branch_id": "default"}))
        .expect(201);

    // A branch_read key does not count as an admin key.
    owner.delete(&format!("/projects/p1/api-keys/{only}")).expect_error(409, "last_admin_key");
    owner.get("/projects/p1").expect(200);

    let second = owner.post("/projects/p1/api-keys", json!({"description": "second admin"})).expect(201);
    owner.delete(&format!("/projects/p1/api-keys/{only}")).expect(204);
    let second = owner.with_key(second["api_key"].as_str().unwrap());
    let second_id = second.get("/projects/p1/api-keys").expect(200)["api_keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["scope"] == "project_admin" && k["is_revoked"] == false)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    second.delete(&format!("/projects/p1/api-keys/{second_id}")).expect_error(409, "last_admin_key");
    assert_eq!(reader["branch_id"], "default");
}

#[test]
fn key_scopes_are_validated() {
    let server = Server::start();
    let owner = server.project("p1");
    let path = "/projects/p1/api-keys";
    owner.post(path, json!({"description": "x", "scope": "branch_read"})).expect_error(400, "invalid_scope");
    owner
        .post(path, json!({"description": "x", "scope": "project_admin", "branch_id": "default"}))
        .expect_error(400, "invalid_scope");
    owner
        .post(path, json!({"description": "x", "scope": "branch_admin", "branch_id": "nope"}))
        .expect_error(404, "branch_not_found");
    owner.post(path, json!({"description": "x", "scope": "root"})).expect_error(400, "invalid_request");
    owner.post(path, json!({"description": "x", "expires_in_days": 0})).expect_error(400, "invalid_expiry");
    let expiring = owner.post(path, json!({"description": "x", "expires_in_days": 30})).expect(201);
    assert!(expiring["expires_at"].is_string());
}
