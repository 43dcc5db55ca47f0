//! Dev branches: O(1) creation, live reads until the first write, copy-on-write, isolation
//! in both directions for every operation, pull, merge, deletion, branch-scoped keys.

use std::path::PathBuf;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::harness::*;

const DEV: &str = "/projects/p1/branches/dev";

fn dev_table(name: &str) -> String {
    format!("{DEV}/buckets/in.c-b/tables/{name}")
}

fn file_hash(path: &PathBuf) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap_or_default()))
}

/// p1 with branch `dev` and main tables `in.c-b.<name>(id key, name)` holding 3 rows each.
fn setup(server: &Server, tables: &[&str]) -> Client {
    let p = server.project("p1");
    create_bucket(&p, "p1", "b");
    for t in tables {
        create_table(&p, "p1", "in.c-b", t);
        p.import(&table("p1", "in.c-b", t), json!({"file_id": p.upload("p1", "t.csv", "id,name\n1,a\n2,b\n3,c\n")}))
            .expect(200);
    }
    p.post("/projects/p1/branches", json!({"name": "dev", "description": "experiments"})).expect(201);
    p
}

fn main_file(server: &Server, name: &str) -> PathBuf {
    server.data_dir().join(format!("projects/p1/branches/default/in.c-b/{name}.duckdb"))
}

fn dev_file(server: &Server, name: &str) -> PathBuf {
    server.data_dir().join(format!("projects/p1/branches/dev/in.c-b/{name}.duckdb"))
}

#[test]
fn a_branch_reads_main_live_until_its_first_write_then_keeps_its_own_copy() {
    let server = Server::start();
    let p = setup(&server, &["t"]);
    let main_t = table("p1", "in.c-b", "t");
    let t = dev_table("t");
    assert_eq!(p.get(&t).expect(200)["source"], "main");
    assert!(!dev_file(&server, "t").exists(), "creating a branch copies nothing");

    p.import(&main_t, json!({"file_id": p.upload("p1", "more.csv", "id,name\n4,d\n"), "incremental": true}))
        .expect(200);
    assert_eq!(p.rows(&t, "id").len(), 4, "the branch sees main's current data");

    p.import(&t, json!({"file_id": p.upload("p1", "dev.csv", "id,name\n5,e\n"), "incremental": true})).expect(200);
    assert_eq!(p.get(&t).expect(200)["source"], "branch");
    assert!(dev_file(&server, "t").exists());
    assert_eq!(p.rows(&t, "id").len(), 5);
    assert_eq!(p.rows(&main_t, "id").len(), 4, "main is untouched");

    p.import(&main_t, json!({"file_id": p.upload("p1", "more.csv", "id,name\n6,f\n"), "incremental": true}))
        .expect(200);
    assert_eq!(p.rows(&t, "id").len(), 5, "after its first write the branch keeps its own version");

    let detail = p.get(DEV).expect(200);
    assert_eq!(detail["own_tables"], json!(["in.c-b.t"]));
    assert!(detail["size_bytes"].as_u64().unwrap() > 0);
}

/// Runs `op` on the branch and checks main's file and rows did not change.
fn branch_op_leaves_main_alone(server: &Server, p: &Client, name: &str, op: impl FnOnce(&Client, &str)) {
    let main_t = table("p1", "in.c-b", name);
    let (before_hash, before_rows, before_table) =
        (file_hash(&main_file(server, name)), p.rows(&main_t, "id"), p.get(&main_t).expect(200));
    op(p, &dev_table(name));
    assert_eq!(file_hash(&main_file(server, name)), before_hash, "{name}: main's table file changed");
    assert_eq!(p.rows(&main_t, "id"), before_rows, "{name}: main's rows changed");
    let after = p.get(&main_t).expect(200);
    assert_eq!(
        (&after["columns"], &after["primary_key"]),
        (&before_table["columns"], &before_table["primary_key"]),
        "{name}: main's schema changed"
    );
}

#[test]
fn every_operation_on_a_branch_leaves_main_identical() {
    let names = ["imp", "inc", "exp", "addc", "dropc", "alt", "pk", "del", "delall", "trunc", "drop", "snap"];
    let server = Server::start();
    let p = setup(&server, &names);
    let dev_rows = |p: &Client, name: &str| p.rows(&dev_table(name), "id").len();

    branch_op_leaves_main_alone(&server, &p, "imp", |p, t| {
        p.import(t, json!({"file_id": p.upload("p1", "x.csv", "id,name\n9,z\n")})).expect(200);
    });
    assert_eq!(dev_rows(&p, "imp"), 1);
    branch_op_leaves_main_alone(&server, &p, "inc", |p, t| {
        p.import(t, json!({"file_id": p.upload("p1", "x.csv", "id,name\n1,changed\n"), "incremental": true}))
            .expect(200);
    });
    assert_eq!(p.rows(&dev_table("inc"), "id")[0]["name"], "changed");
    branch_op_leaves_main_alone(&server, &p, "exp", |p, t| {
        let (_, csv) = p.export("p1", t, json!({}));
        assert_eq!(String::from_utf8(csv).unwrap().lines().count(), 4);
    });
    branch_op_leaves_main_alone(&server, &p, "addc", |p, t| {
        p.post(&format!("{t}/columns"), json!({"name": "extra", "type": "int"})).expect(201);
    });
    branch_op_leaves_main_alone(&server, &p, "dropc", |p, t| {
        p.delete(&format!("{t}/columns/name")).expect(200);
    });
    branch_op_leaves_main_alone(&server, &p, "alt", |p, t| {
        p.put(&format!("{t}/columns/name"), json!({"name": "label", "type": "VARCHAR", "default": "?"})).expect(200);
    });
    branch_op_leaves_main_alone(&server, &p, "pk", |p, t| {
        p.delete(&format!("{t}/primary-key")).expect(200);
        p.post(&format!("{t}/primary-key"), json!({"columns": ["name"]})).expect(200);
    });
    branch_op_leaves_main_alone(&server, &p, "del", |p, t| {
        p.send(
            "DELETE",
            &format!("{t}/rows"),
            Some(json!({"filters": [{"column": "id", "operator": "eq", "values": [2]}]})),
        )
        .expect(200);
    });
    assert_eq!(dev_rows(&p, "del"), 2);
    branch_op_leaves_main_alone(&server, &p, "delall", |p, t| {
        p.send("DELETE", &format!("{t}/rows"), Some(json!({}))).expect(200);
    });
    branch_op_leaves_main_alone(&server, &p, "trunc", |p, t| {
        p.post(&format!("{t}/truncate"), json!({})).expect(200);
    });
    branch_op_leaves_main_alone(&server, &p, "drop", |p, t| {
        p.delete(t).expect(204);
        p.get(t).expect_error(404, "table_not_found");
    });
    branch_op_leaves_main_alone(&server, &p, "snap", |p, t| {
        let job = p
            .post(&format!("{DEV}/snapshots?wait=true"), json!({"bucket_id": "in.c-b", "table_name": "snap"}))
            .expect(200);
        p.send("DELETE", &format!("{t}/rows"), Some(json!({}))).expect(200);
        let id = job["result"]["snapshot"]["id"].as_str().unwrap();
        p.post(&format!("{DEV}/snapshots/{id}/restore?wait=true"), json!({})).expect(200);
        assert_eq!(p.rows(t, "id").len(), 3);
    });
    assert!(
        p.get(&format!("{}/snapshots", branch("p1"))).expect(200)["snapshots"].as_array().unwrap().is_empty(),
        "branch snapshots stay on the branch"
    );

    // Tables and buckets made on the branch exist only there.
    p.post(&format!("{DEV}/buckets"), json!({"stage": "out", "name": "devonly"})).expect(201);
    p.post(
        &format!("{DEV}/buckets/out.c-devonly/tables"),
        json!({"name": "x", "columns": [{"name": "a", "type": "int"}]}),
    )
    .expect(201);
    p.post(&format!("{DEV}/buckets/in.c-b/tables"), json!({"name": "newt", "columns": [{"name": "a", "type": "int"}]}))
        .expect(201);
    assert_eq!(p.get(&dev_table("newt")).expect(200)["source"], "branch_only");
    p.get(&bucket("p1", "out.c-devonly")).expect_error(404, "bucket_not_found");
    p.get(&table("p1", "in.c-b", "newt")).expect_error(404, "table_not_found");
    let main_buckets = p.get(&format!("{}/buckets", branch("p1"))).expect(200);
    assert_eq!(main_buckets["total"], 1);
    assert_eq!(main_buckets["buckets"][0]["table_count"], names.len());
}

#[test]
fn main_operations_leave_a_branch_copy_identical() {
    let server = Server::start();
    let p = setup(&server, &["t"]);
    let main_t = table("p1", "in.c-b", "t");
    p.post(&format!("{}/columns", dev_table("t")), json!({"name": "extra", "type": "int"})).expect(201);
    let (hash, rows) = (file_hash(&dev_file(&server, "t")), p.rows(&dev_table("t"), "id"));

    p.import(&main_t, json!({"file_id": p.upload("p1", "x.csv", "id,name\n9,z\n")})).expect(200);
    p.post(&format!("{main_t}/columns"), json!({"name": "other", "type": "int"})).expect(201);
    p.send("DELETE", &format!("{main_t}/rows"), Some(json!({}))).expect(200);
    p.delete(&main_t).expect(204);

    assert_eq!(file_hash(&dev_file(&server, "t")), hash);
    assert_eq!(p.rows(&dev_table("t"), "id"), rows);
    assert_eq!(p.get(&dev_table("t")).expect(200)["source"], "branch_only", "main no longer has the table");
}

#[test]
fn pull_resets_to_main_and_merge_replaces_main_after_a_snapshot() {
    let server = Server::start();
    let p = setup(&server, &["t"]);
    let main_t = table("p1", "in.c-b", "t");
    let t = dev_table("t");
    p.post(&format!("{DEV}/tables/in.c-b/t/pull"), json!({})).expect(200);
    p.post(&format!("{DEV}/tables/in.c-b/t/merge"), json!({})).expect_error(409, "nothing_to_merge");

    p.import(&t, json!({"file_id": p.upload("p1", "x.csv", "id,name\n7,seven\n")})).expect(200);
    p.post(&format!("{t}/columns"), json!({"name": "flag", "type": "BOOLEAN", "default": "true"})).expect(201);
    let pulled = p.post(&format!("{DEV}/tables/in.c-b/t/pull"), json!({})).expect(200);
    assert_eq!(pulled["source"], "main");
    assert_eq!(p.rows(&t, "id").len(), 3);
    assert!(!dev_file(&server, "t").exists(), "pull drops the branch copy");

    p.import(&t, json!({"file_id": p.upload("p1", "x.csv", "id,name\n7,seven\n")})).expect(200);
    p.post(&format!("{t}/columns"), json!({"name": "flag", "type": "BOOLEAN", "default": "true"})).expect(201);
    let merged = p.post(&format!("{DEV}/tables/in.c-b/t/merge"), json!({})).expect(200);
    assert_eq!(merged["columns"].as_array().unwrap().len(), 3);
    assert_eq!(p.rows(&main_t, "id"), [json!({"id": 7, "name": "seven", "flag": true})]);
    let snaps = p.get(&format!("{}/snapshots?kind=auto", branch("p1"))).expect(200);
    assert_eq!(snaps["snapshots"][0]["trigger"], "merge");
    assert_eq!(snaps["snapshots"][0]["row_count"], 3, "main's previous version was kept");

    // A table new on the branch (in a bucket new on the branch) is created on main.
    p.post(&format!("{DEV}/buckets"), json!({"stage": "out", "name": "fresh"})).expect(201);
    p.post(
        &format!("{DEV}/buckets/out.c-fresh/tables"),
        json!({"name": "n", "columns": [{"name": "a", "type": "int"}]}),
    )
    .expect(201);
    p.post(&format!("{DEV}/tables/out.c-fresh/n/merge"), json!({})).expect(200);
    p.get(&table("p1", "out.c-fresh", "n")).expect(200);
    p.post(&format!("{DEV}/tables/out.c-fresh/n/pull"), json!({})).expect(200);
}

#[test]
fn deleting_a_branch_removes_its_data_and_keys_and_branch_keys_stay_in_their_branch() {
    let server = Server::start();
    let p = setup(&server, &["t"]);
    let key = |scope: &str, branch: &str| -> Value {
        p.post("/projects/p1/api-keys", json!({"description": "k", "scope": scope, "branch_id": branch})).expect(201)
    };
    let dev_admin = p.with_key(key("branch_admin", "dev")["api_key"].as_str().unwrap());
    let dev_reader = p.with_key(key("branch_read", "dev")["api_key"].as_str().unwrap());

    dev_admin.import(&dev_table("t"), json!({"file_id": p.upload("p1", "x.csv", "id,name\n8,h\n")})).expect(200);
    dev_admin
        .import(&table("p1", "in.c-b", "t"), json!({"file_id": p.upload("p1", "x.csv", "id,name\n8,h\n")}))
        .expect_error(403, "forbidden");
    dev_admin.get(&table("p1", "in.c-b", "t")).expect_error(403, "forbidden");
    dev_admin.post(&format!("{DEV}/tables/in.c-b/t/merge"), json!({})).expect_error(403, "forbidden");
    dev_reader.get(&dev_table("t")).expect(200);
    dev_reader
        .post(&format!("{}/columns", dev_table("t")), json!({"name": "c", "type": "int"}))
        .expect_error(403, "forbidden");
    dev_admin.delete(DEV).expect_error(403, "forbidden");

    assert!(dev_file(&server, "t").exists());
    p.delete(DEV).expect(204);
    p.get(DEV).expect_error(404, "branch_not_found");
    assert!(!server.data_dir().join("projects/p1/branches/dev").exists(), "the branch's files are gone");
    dev_admin.get(&dev_table("t")).expect_error(401, "invalid_token");
    assert_eq!(p.rows(&table("p1", "in.c-b", "t"), "id").len(), 3);
    p.delete(&branch("p1")).expect_error(400, "cannot_delete_main");
    p.post("/projects/p1/branches", json!({"name": "default"})).expect_error(409, "branch_already_exists");
    p.post("/projects/p1/branches", json!({"name": "../x"})).expect_error(400, "invalid_request");
}
