//! Bucket sharing: shares, links, read-only access, unsharing, cleanup.

use serde_json::json;

use crate::harness::*;

/// p1 with `in.c-sales.orders` (2 rows), and p2.
fn setup(server: &Server) -> (Client, Client) {
    let p1 = server.project("p1");
    let p2 = server.project("p2");
    create_bucket(&p1, "p1", "sales");
    create_table(&p1, "p1", "in.c-sales", "orders");
    let t = table("p1", "in.c-sales", "orders");
    p1.import(&t, json!({"file_id": p1.upload("p1", "o.csv", "id,name\n1,a\n2,b\n")})).expect(200);
    (p1, p2)
}

fn link(p2: &Client, as_bucket: &str) -> Response {
    p2.post(&format!("{}/link", bucket("p2", as_bucket)), json!({"project_id": "p1", "bucket_id": "in.c-sales"}))
}

#[test]
fn linking_requires_a_share_and_a_link_reads_the_source_live_and_read_only() {
    let server = Server::start();
    let (p1, p2) = setup(&server);
    link(&p2, "in.c-shared").expect_error(403, "bucket_not_shared");
    p2.post(&format!("{}/link", bucket("p2", "in.c-x")), json!({"project_id": "p1", "bucket_id": "in.c-nothere"}))
        .expect_error(403, "bucket_not_shared");

    let shared =
        p1.post(&format!("{}/share", bucket("p1", "in.c-sales")), json!({"target_project_id": "p2"})).expect(200);
    assert_eq!(shared["shared_with"], json!(["p2"]));
    let linked = link(&p2, "in.c-shared").expect(201);
    assert_eq!(linked["linked_from"], json!({"project_id": "p1", "bucket_id": "in.c-sales"}));

    let listed = p2.get(&format!("{}/buckets", branch("p2"))).expect(200);
    assert_eq!(listed["buckets"][0]["id"], "in.c-shared");
    let via = table("p2", "in.c-shared", "orders");
    assert_eq!(p2.get(&format!("{}/tables", bucket("p2", "in.c-shared"))).expect(200)["total"], 1);
    assert_eq!(p2.rows(&via, "id").len(), 2);
    let (_, csv) = p2.export("p2", &via, json!({"query": {"order_by": [{"column": "id"}]}}));
    assert_eq!(String::from_utf8(csv).unwrap(), "id,name\n1,a\n2,b\n");

    // Always current: a new import in p1 shows through at once.
    let src = table("p1", "in.c-sales", "orders");
    p1.import(&src, json!({"file_id": p1.upload("p1", "o.csv", "id,name\n3,c\n"), "incremental": true})).expect(200);
    assert_eq!(p2.rows(&via, "id").len(), 3);

    // Read-only for p2, and usable as an import source.
    p2.import(&via, json!({"file_id": p2.upload("p2", "x.csv", "id,name\n9,z\n")}))
        .expect_error(403, "bucket_read_only");
    p2.send("DELETE", &format!("{via}/rows"), Some(json!({}))).expect_error(403, "bucket_read_only");
    p2.post(&format!("{via}/columns"), json!({"name": "c", "type": "int"})).expect_error(403, "bucket_read_only");
    p2.delete(&via).expect_error(403, "bucket_read_only");
    p2.post(
        &format!("{}/tables", bucket("p2", "in.c-shared")),
        json!({"name": "n", "columns": [{"name": "a", "type": "int"}]}),
    )
    .expect_error(403, "bucket_read_only");
    create_bucket(&p2, "p2", "own");
    create_table(&p2, "p2", "in.c-own", "copy");
    p2.import(
        &table("p2", "in.c-own", "copy"),
        json!({"source_table": {"bucket_id": "in.c-shared", "table_name": "orders"}}),
    )
    .expect(200);
    assert_eq!(p2.rows(&table("p2", "in.c-own", "copy"), "id").len(), 3);

    // p2 still cannot reach p1 directly.
    p2.get(&src).expect_error(403, "forbidden");
}

#[test]
fn unsharing_is_refused_while_linked_and_cuts_access_after_unlinking() {
    let server = Server::start();
    let (p1, p2) = setup(&server);
    let share = format!("{}/share", bucket("p1", "in.c-sales"));
    p1.post(&share, json!({"target_project_id": "*"})).expect(200);
    link(&p2, "in.c-shared").expect(201);

    let msg = p1.delete(&share).expect_error(409, "bucket_linked");
    assert!(msg.contains("p2"), "{msg}");
    p1.delete(&bucket("p1", "in.c-sales")).expect_error(409, "bucket_not_empty");
    p1.delete(&format!("{}?cascade=true", bucket("p1", "in.c-sales"))).expect_error(409, "bucket_linked");

    p2.delete(&format!("{}/link", bucket("p2", "in.c-shared"))).expect(204);
    p2.get(&bucket("p2", "in.c-shared")).expect_error(404, "bucket_not_found");
    assert_eq!(p1.delete(&share).expect(200)["shared_with"], json!([]));
    link(&p2, "in.c-again").expect_error(403, "bucket_not_shared");
}

#[test]
fn deleting_a_project_removes_its_shares_and_the_links_to_it() {
    let server = Server::start();
    let (p1, p2) = setup(&server);
    p1.post(&format!("{}/share", bucket("p1", "in.c-sales")), json!({"target_project_id": "p2"})).expect(200);
    link(&p2, "in.c-shared").expect(201);
    server.admin().delete("/projects/p1").expect(204);
    p2.get(&bucket("p2", "in.c-shared")).expect_error(404, "bucket_not_found");
    assert_eq!(p2.get(&format!("{}/buckets", branch("p2"))).expect(200)["total"], 0);
}

#[test]
fn sharing_rules_are_enforced() {
    let server = Server::start();
    let (p1, p2) = setup(&server);
    let share = format!("{}/share", bucket("p1", "in.c-sales"));
    p1.post(&share, json!({"target_project_id": "p1"})).expect_error(400, "invalid_share");
    p1.post(&share, json!({"target_project_id": "ghost"})).expect_error(404, "project_not_found");
    p1.post(&share, json!({"target_project_id": "../x"})).expect_error(400, "invalid_name");
    p1.post("/projects/p1/branches", json!({"name": "dev"})).expect(201);
    p1.post("/projects/p1/branches/dev/buckets/in.c-sales/share", json!({"target_project_id": "p2"}))
        .expect_error(400, "main_branch_only");
    p2.post(&share, json!({"target_project_id": "p2"})).expect_error(403, "forbidden");
    p2.post(&format!("{}/link", bucket("p2", "in.c-x")), json!({"project_id": "p2", "bucket_id": "in.c-x"}))
        .expect_error(400, "invalid_link");
}
