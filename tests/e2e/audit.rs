//! The audit log records every mutation, with who, what, outcome and duration.

use serde_json::json;

use crate::harness::*;

#[test]
fn mutations_are_recorded_and_listed_with_filters() {
    let server = Server::start();
    let p = server.project("p1");
    let q = server.project("p2");
    create_bucket(&p, "p1", "b");
    p.post(&format!("{}/buckets", branch("p1")), json!({"stage": "in", "name": "b"}))
        .expect_error(409, "bucket_already_exists");
    p.get(&format!("{}/buckets", branch("p1"))).expect(200);
    server
        .client(None)
        .post(&format!("{}/buckets", branch("p1")), json!({"stage": "in", "name": "c"}))
        .expect_error(401, "missing_token");

    let events = p.get("/projects/p1/events").expect(200);
    let list = events["events"].as_array().unwrap();
    assert_eq!(
        events["total"], 3,
        "two bucket creations and one unauthenticated attempt; reads are not mutations: {events}"
    );
    let anonymous = &list[0];
    assert_eq!((anonymous["principal"].as_str(), anonymous["status"].as_u64()), (Some("anonymous"), Some(401)));
    let conflict = &list[1];
    assert_eq!(conflict["status"], 409);
    assert_eq!(conflict["operation"], "POST /projects/{project_id}/branches/{branch_id}/buckets");
    assert_eq!(conflict["resource"], "/projects/p1/branches/default/buckets");
    assert!(conflict["principal"].as_str().unwrap().starts_with("key:"));
    assert!(conflict["request_id"].is_string());

    let failures = p.get("/projects/p1/events?outcome=failure").expect(200);
    assert_eq!(failures["total"], 2);
    assert_eq!(p.get("/projects/p1/events?operation=DELETE").expect(200)["total"], 0);
    p.get("/projects/p1/events?outcome=maybe").expect_error(400, "invalid_outcome");

    q.get("/projects/p1/events").expect_error(403, "forbidden");
    let all = server.admin().get("/events").expect(200);
    assert!(all["total"].as_u64().unwrap() >= 5, "the project creations count too: {all}");
    assert_eq!(server.admin().get("/events?project_id=p2").expect(200)["total"], 0);
    q.get("/events").expect_error(403, "forbidden");
}
