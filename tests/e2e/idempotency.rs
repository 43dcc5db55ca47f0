//! `X-Idempotency-Key`: retries replay the first response; keys are scoped to the caller.

use serde_json::json;

use crate::harness::*;

fn with_key(c: &Client, method: &str, path: &str, body: serde_json::Value, key: &str) -> Response {
    c.send_bytes(
        method,
        path,
        body.to_string().into_bytes(),
        &[("content-type", "application/json"), ("x-idempotency-key", key)],
    )
}

#[test]
fn a_retried_create_returns_the_first_response_and_creates_once() {
    let server = Server::start();
    let admin = server.admin();
    let first = with_key(&admin, "POST", "/projects", json!({"id": "p1"}), "k-1");
    let second = with_key(&admin, "POST", "/projects", json!({"id": "p1"}), "k-1");
    assert_eq!(first.status, 201);
    assert_eq!(second.status, 201, "a replay, not a 409: {}", second.text);
    assert_eq!(first.text, second.text);
    assert_eq!(admin.get("/projects").expect(200)["total"], 1);

    let other = with_key(&admin, "POST", "/projects", json!({"id": "p2"}), "k-1");
    assert_eq!(other.status, 422);
    assert_eq!(other.body["error"]["code"], "idempotency_key_reused");

    // Without the header, the same request is just a duplicate.
    admin.post("/projects", json!({"id": "p1"})).expect_error(409, "project_already_exists");
}

#[test]
fn idempotency_keys_are_scoped_to_the_calling_key() {
    let server = Server::start();
    let a = server.project("a");
    let b = server.project("b");
    let ra = with_key(&a, "POST", &format!("{}/buckets", branch("a")), json!({"stage": "in", "name": "x"}), "same");
    let rb = with_key(&b, "POST", &format!("{}/buckets", branch("b")), json!({"stage": "in", "name": "x"}), "same");
    assert_eq!((ra.status, rb.status), (201, 201), "{} / {}", ra.text, rb.text);
    assert_eq!(rb.body["id"], "in.c-x");
    assert_eq!(b.get(&format!("{}/buckets", branch("b"))).expect(200)["total"], 1);
}

#[test]
fn concurrent_duplicates_wait_for_the_first_and_run_once() {
    let server = Server::start();
    let p = server.project("p1");
    create_bucket(&p, "p1", "b");
    create_table(&p, "p1", "in.c-b", "t");
    let t = table("p1", "in.c-b", "t");
    let mut csv = String::from("id,name\n");
    for i in 0..200_000 {
        csv.push_str(&format!("{i},n{i}\n"));
    }
    let file_id = p.upload("p1", "a.csv", csv);
    let path = format!("{t}/import?wait=true");
    let body = json!({"file_id": file_id, "incremental": true, "dedup_mode": "insert_duplicates"});
    let responses: Vec<Response> = std::thread::scope(|s| {
        let handles: Vec<_> =
            (0..4).map(|_| s.spawn(|| with_key(&p, "POST", &path, body.clone(), "import-1"))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for r in &responses {
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["id"], responses[0].body["id"], "every caller sees the one job");
    }
    assert_eq!(p.get("/projects/p1/jobs").expect(200)["total"], 1);
    assert_eq!(p.get(&t).expect(200)["row_count"], 200_000, "the import ran once");
}
