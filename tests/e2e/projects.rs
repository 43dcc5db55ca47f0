use serde_json::json;

use crate::harness::*;

#[test]
fn project_lifecycle_create_read_update_stats_delete() {
    let server = Server::start();
    let admin = server.admin();

    let created = admin.post("/projects", json!({"id": "acme", "name": "Acme Corp"})).expect(201);
    assert_eq!(created["id"], "acme");
    assert_eq!(created["name"], "Acme Corp");
    assert!(created["api_key"].as_str().unwrap().starts_with("dsk_"), "{created}");

    admin.post("/projects", json!({"id": "acme"})).expect_error(409, "project_already_exists");
    admin.post("/projects", json!({"id": "ACME"})).expect_error(409, "project_already_exists");

    let project = server.client(created["api_key"].as_str());
    create_bucket(&project, "acme", "sales");
    create_table(&project, "acme", "in.c-sales", "orders");

    let stats = project.get("/projects/acme/stats").expect(200);
    assert_eq!((stats["bucket_count"].as_u64(), stats["table_count"].as_u64()), (Some(1), Some(1)));
    assert!(stats["size_bytes"].as_u64().unwrap() > 0);

    let renamed = project.put("/projects/acme", json!({"name": "Acme Inc"})).expect(200);
    assert_eq!(renamed["name"], "Acme Inc");
    assert_eq!(admin.get("/projects/acme").expect(200)["name"], "Acme Inc");

    let listed = admin.get("/projects").expect(200);
    assert_eq!(listed["total"], 1);
    assert_eq!(listed["projects"][0]["id"], "acme");

    // A workspace, a file and a snapshot: the project has something in every directory.
    project.post("/projects/acme/branches/default/workspaces", json!({"name": "w"})).expect(201);
    project.upload("acme", "f.csv", "a\n1\n");
    project
        .post(
            "/projects/acme/branches/default/snapshots?wait=true",
            json!({"bucket_id": "in.c-sales", "table_name": "orders"}),
        )
        .expect(200);
    admin.delete("/projects/acme").expect(204);
    admin.get("/projects/acme").expect_error(404, "project_not_found");
    assert!(!server.data_dir().join("projects/acme").exists(), "project files must be removed");
    // Nothing named after the project is left anywhere in the data directory (issue 26: an
    // empty `workspaces/<project>/` was reported).
    let mut left = Vec::new();
    let mut dirs = vec![server.data_dir().to_owned()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            if entry.file_name() == "acme" {
                left.push(entry.path());
            } else if entry.file_type().unwrap().is_dir() {
                dirs.push(entry.path());
            }
        }
    }
    assert!(left.is_empty(), "left behind: {left:?}");
    // The deleted project's keys are gone with it.
    project.get("/projects/acme").expect_error(401, "invalid_token");
}

#[test]
fn project_listing_pages_and_keys_see_only_their_project() {
    let server = Server::start();
    let admin = server.admin();
    for id in ["p3", "p1", "p2"] {
        admin.post("/projects", json!({"id": id})).expect(201);
    }
    let page = admin.get("/projects?limit=2&offset=1").expect(200);
    assert_eq!(page["total"], 3);
    let ids: Vec<_> = page["projects"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["p2", "p3"]);
    admin.get("/projects?limit=0").expect_error(400, "invalid_limit");

    let p4 = server.project("p4");
    let own = p4.get("/projects").expect(200);
    assert_eq!(own["total"], 1);
    assert_eq!(own["projects"][0]["id"], "p4");
}

/// Liveness never depends on storage; readiness does: with the data directory gone,
/// `/ready` says unavailable while `/health` still answers, and both recover with it.
#[test]
fn readiness_follows_storage_while_liveness_stays() {
    let server = Server::start();
    let anon = server.client(None);
    assert_eq!(anon.get("/ready").expect(200)["status"], "ready");
    let service = anon.get("/").expect(200);
    assert_eq!((service["name"].as_str(), service["storage"]["version"].as_str()), (Some("duckstore"), Some("v1.5.5")));
    for (door, path) in service["endpoints"].as_object().unwrap() {
        let status = anon.get(path.as_str().unwrap()).status;
        assert!(status == 200 || status == 401, "{door} at {path}: {status}");
    }
    let data = server.data_dir().to_owned();
    let aside = data.with_extension("aside");
    std::fs::rename(&data, &aside).unwrap();
    let unavailable = anon.get("/ready");
    let live = anon.get("/health");
    std::fs::rename(&aside, &data).unwrap();
    assert_eq!(unavailable.status, 503, "{}", unavailable.text);
    assert_eq!(unavailable.body["status"], "unavailable");
    assert_eq!(live.status, 200, "{}", live.text);
    assert_eq!(anon.get("/ready").expect(200)["status"], "ready");
}

#[test]
fn health_metrics_and_openapi_are_served() {
    let server = Server::start();
    let anon = server.client(None);
    let health = anon.get("/health").expect(200);
    assert_eq!(health["status"], "ok");
    assert_eq!(health["storage"]["version"], "v1.5.5");
    assert_eq!(anon.get("/ready").expect(200)["status"], "ready");

    server.admin().get("/projects").expect(200);
    let metrics = anon.get("/metrics");
    assert_eq!(metrics.status, 200);
    assert!(
        metrics.text.contains(r#"duckstore_http_requests_total{method="GET",route="/projects",status="200"} 1"#),
        "{}",
        metrics.text
    );

    let spec = anon.get("/openapi.json").expect(200);
    let paths = spec["paths"].as_object().unwrap();
    for p in [
        "/projects",
        "/projects/{project_id}/api-keys/{key_id}/rotate",
        "/projects/{project_id}/branches/{branch_id}/buckets/{bucket_id}/tables/{table_name}/preview",
    ] {
        assert!(paths.contains_key(p), "{p} missing from the OpenAPI document");
    }
    // Every parameter is declared where the route takes it, as generated clients send them:
    // the path's are exactly its template's, the rest query parameters.
    let mut query = std::collections::BTreeSet::new();
    for (path, ops) in paths {
        let mut template: Vec<&str> = path.split('{').skip(1).filter_map(|s| s.split('}').next()).collect();
        template.sort_unstable();
        for (method, op) in ops.as_object().unwrap() {
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            let mut in_path: Vec<&str> =
                params.iter().filter(|p| p["in"] == "path").filter_map(|p| p["name"].as_str()).collect();
            in_path.sort_unstable();
            assert_eq!(in_path, template, "{method} {path}");
            for p in params.iter().filter(|p| p["in"] == "query") {
                // Optional ones are not required (only an upload's `name` is).
                assert_eq!(p["required"] == true, p["name"] == "name", "{method} {path}: {p}");
                query.insert(format!("{} {path} {}", method, p["name"].as_str().unwrap()));
            }
        }
    }
    let table = "/projects/{project_id}/branches/{branch_id}/buckets/{bucket_id}/tables/{table_name}";
    for expected in [
        format!("get {table}/preview limit"),
        format!("get {table}/preview filters"),
        format!("get {table}/preview order_by"),
        format!("post {table}/import wait"),
        "get /projects/{project_id}/files tags".to_owned(),
        "post /projects/{project_id}/files/upload name".to_owned(),
        "get /projects/{project_id}/jobs limit".to_owned(),
        "delete /projects/{project_id}/branches/{branch_id}/buckets/{bucket_id} cascade".to_owned(),
    ] {
        assert!(query.contains(&expected), "{expected} not declared: {query:#?}");
    }

    let unknown = anon.get("/no/such/thing");
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.body["error"]["code"], "not_found");
}
