//! Keboola's Storage API v2 face, driven by Keboola's own Python client (`kbcstorage`,
//! installed by `scripts/setup`) through `fixtures/keboola/client_workflow.py`.

use std::process::Command;

use serde_json::json;

use crate::harness::*;

#[test]
fn keboolas_python_client_works_unchanged() {
    let server = Server::start();
    let admin = server.admin();
    let created = admin.post("/projects", json!({"id": "kbc", "name": "Keboola client"})).expect(201);
    let token = created["api_key"].as_str().unwrap().to_owned();
    let p = server.client(Some(&token));
    let reader = p
        .post(
            "/projects/kbc/api-keys",
            json!({"scope": "branch_read", "branch_id": "default", "description": "reader"}),
        )
        .expect(201);
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/e2e/fixtures/keboola/client_workflow.py");
    let child = Command::new("python3")
        .arg(&script)
        .args([&server.url, &token, reader["api_key"].as_str().unwrap(), ADMIN_KEY])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    // The face is in the OpenAPI document like the rest, in both path forms.
    let openapi = server.client(None).get("/openapi.json").expect(200);
    for path in
        ["/v2/storage/buckets", "/v2/storage/branch/{branch}/tables/{id}/import-async", "/v2/storage/files/prepare"]
    {
        assert!(openapi["paths"][path].is_object(), "{path} is not in /openapi.json");
    }
    let out = child.wait_with_output().expect("python3");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && stdout.contains("keboola: ok"), "{stdout}\n{stderr}");
}
