//! WASM plugins in real use: import formats, the auth-provider chain, snapshot policies,
//! operators' controls, and hostile plugins that must be contained.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::harness::*;

/// A plugin built by host/build.rs (first-party and test-only ones).
fn built(file: &str) -> PathBuf {
    Path::new(env!("DUCKSTORE_PLUGINS_OUT")).join(file)
}

fn plugin<'a>(list: &'a Value, name: &str) -> &'a Value {
    list["plugins"].as_array().unwrap().iter().find(|p| p["name"] == name).unwrap_or_else(|| panic!("{name}: {list}"))
}

/// Project p1 with `in.c-b.t(id INTEGER key, name VARCHAR, amount DOUBLE, day DATE, ok BOOLEAN)`.
fn setup(server: &Server) -> (Client, String) {
    let p = server.project("p1");
    create_bucket(&p, "p1", "b");
    p.post(
        &format!("{}/tables", bucket("p1", "in.c-b")),
        json!({"name": "t", "primary_key": ["id"], "columns": [
            {"name": "id", "type": "INTEGER"}, {"name": "name", "type": "VARCHAR"}, {"name": "amount", "type": "DOUBLE"},
            {"name": "day", "type": "DATE"}, {"name": "ok", "type": "BOOLEAN"}]}),
    )
    .expect(201);
    (p, table("p1", "in.c-b", "t"))
}

#[test]
fn first_party_plugins_are_listed_for_the_admin_only() {
    let server = Server::start();
    let list = server.admin().get("/plugins").expect(200);
    for (name, kind) in [
        ("import-jsonl", "import-format"),
        ("import-xlsx", "import-format"),
        ("auth-jwt", "auth-provider"),
        ("snapshot-policy-default", "snapshot-policy"),
        ("snapshot-policy-strict", "snapshot-policy"),
    ] {
        let p = plugin(&list, name);
        assert_eq!((p["kind"].as_str(), p["state"].as_str()), (Some(kind), Some("enabled")), "{p}");
        assert_eq!(p["api_version"], "0.1.0");
        assert_eq!(p["origin"], "embedded");
    }
    let (p, _) = setup(&server);
    p.get("/plugins").expect_error(403, "forbidden");
}

#[test]
fn jsonl_imports_into_typed_columns_and_bad_lines_change_nothing() {
    let server = Server::start();
    let (p, t) = setup(&server);
    let jsonl = concat!(
        "{\"id\": 1, \"name\": \"one\", \"amount\": 1.5, \"day\": \"2024-02-29\", \"ok\": true}\n",
        "\n",
        "{\"id\": 2, \"name\": \"tw\\\"o\", \"amount\": 2, \"ok\": false}\n",
        "{\"ID\": 3, \"name\": {\"nested\": [1]}, \"amount\": null}\n",
    );
    let file = p.upload("p1", "rows.jsonl", jsonl);
    let job = p.import(&t, json!({"file_id": file})).expect(200);
    assert_eq!(job["result"]["rows_imported"], 3, "{job}");
    let rows = p.rows(&t, "id");
    assert_eq!(rows[0], json!({"id": 1, "name": "one", "amount": 1.5, "day": "2024-02-29", "ok": true}));
    assert_eq!(rows[1]["name"], "tw\"o");
    assert_eq!(rows[1]["day"], Value::Null, "a missing key is null");
    assert_eq!(rows[2]["name"], "{\"nested\": [1]}", "nested JSON lands in text columns as JSON");

    // A value that does not fit its column: the line is named and the table unchanged.
    let bad = p.upload("p1", "bad.jsonl", "{\"id\": 4}\n{\"id\": \"four\"}\n");
    let message = p.import(&t, json!({"file_id": bad})).expect_error(422, "invalid_input");
    assert!(message.contains("import-jsonl") && message.contains("line 2"), "{message}");
    let unknown = p.upload("p1", "unknown.jsonl", "{\"id\": 5, \"colour\": \"red\"}\n");
    let message = p.import(&t, json!({"file_id": unknown})).expect_error(422, "invalid_input");
    assert!(message.contains("colour"), "{message}");
    assert_eq!(p.rows(&t, "id").len(), 3, "failed imports leave the table as it was");

    // Options reach the plugin; an explicit format and sniffing work without the extension.
    p.import(&t, json!({"file_id": unknown, "options": {"ignore_unknown_keys": true}, "incremental": true}))
        .expect(200);
    let sniffed = p.upload("p1", "export-2024", "{\"id\": 6, \"name\": \"six\"}\n");
    p.import(&t, json!({"file_id": sniffed, "incremental": true})).expect(200);
    let named = p.upload("p1", "rows.data", "{\"id\": 7}\n");
    p.import(&t, json!({"file_id": named, "format": "JSONL", "incremental": true})).expect(200);
    assert_eq!(p.rows(&t, "id").len(), 6);
    p.import(&t, json!({"file_id": named, "format": "yaml"})).expect_error(400, "unsupported_format");
    let csv = p.upload("p1", "rows.csv", "id\n8\n");
    p.import(&t, json!({"file_id": csv, "options": {"sheet": 1}})).expect_error(400, "invalid_options");

    let listed = server.admin().get("/plugins/import-jsonl").expect(200);
    assert!(listed["calls"].as_u64().unwrap() >= 6, "{listed}");
    let metrics = server.admin().get_raw("/metrics", &[]).2;
    let metrics = String::from_utf8(metrics).unwrap();
    assert!(
        metrics.contains("duckstore_plugin_calls_total{kind=\"import-format\",outcome=\"ok\",plugin=\"import-jsonl\"}")
    );
}

#[test]
fn a_large_jsonl_file_parsed_in_parallel_parts_loads_in_file_order() {
    let server = Server::start();
    let (p, t) = setup(&server);
    // ~11 MB: three 4 MiB parts, which the host parses at once on its 2 threads.
    // Keys repeat across parts; a full load keeps the last row of each key in file order.
    let lines = |bad_line: Option<usize>| -> String {
        (1..=150_000)
            .map(|line| match bad_line {
                Some(bad) if bad == line => "{\"id\": \"not a number\"}\n".to_owned(),
                _ => format!(
                    "{{\"id\": {}, \"name\": \"row {line}\", \"amount\": {line}, \"day\": \"2024-02-29\"}}\n",
                    line % 1000
                ),
            })
            .collect()
    };
    let file = p.upload("p1", "big.jsonl", lines(None));
    p.import(&t, json!({"file_id": file})).expect(200);
    let rows = p.rows(&t, "id");
    assert_eq!(rows.len(), 1000);
    for row in &rows {
        let last = match row["id"].as_u64().unwrap() {
            0 => 150_000,
            id => 149_000 + id,
        };
        assert_eq!(row["name"], format!("row {last}"), "the last line of each key wins: {row}");
    }

    // A bad line in a later part is reported by its line in the file; nothing changes.
    let bad = p.upload("p1", "bad.jsonl", lines(Some(140_001)));
    let message = p.import(&t, json!({"file_id": bad})).expect_error(422, "invalid_input");
    assert!(message.contains("line 140001"), "{message}");
    assert_eq!(p.rows(&t, "id"), rows);
}

#[test]
fn excel_sheets_import_by_name_or_index_with_typed_cells() {
    let server = Server::start();
    let (p, t) = setup(&server);
    // Written by openpyxl (fixtures/make_orders_xlsx.py): sheet "Summary", then "Orders".
    let workbook = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/e2e/fixtures/orders.xlsx"))
        .expect("fixture");
    let file = p.upload("p1", "orders.xlsx", workbook);

    // The first sheet is the default; its header matches no column of the table.
    let message = p.import(&t, json!({"file_id": file})).expect_error(400, "unknown_columns");
    assert!(message.contains("note"), "{message}");
    let message =
        p.import(&t, json!({"file_id": file, "options": {"sheet": "Nope"}})).expect_error(400, "invalid_options");
    assert!(message.contains("Orders"), "the error lists the sheets: {message}");
    assert!(p.rows(&t, "id").is_empty(), "refused imports change nothing");

    let job = p.import(&t, json!({"file_id": file, "options": {"sheet": "Orders"}})).expect(200);
    assert_eq!(job["result"]["rows_imported"], 4, "{job}");
    let rows = p.rows(&t, "id");
    assert_eq!(rows[0], json!({"id": 1, "name": "Widget", "amount": 9.5, "day": "2024-02-29", "ok": true}));
    assert_eq!(rows[1], json!({"id": 2, "name": "Gadget, large", "amount": 12.0, "day": "2024-03-01", "ok": false}));
    assert_eq!(
        rows[2],
        json!({"id": 3, "name": null, "amount": null, "day": null, "ok": null}),
        "empty cells are null"
    );
    assert_eq!((&rows[3]["name"], &rows[3]["day"]), (&json!("Ünïcode ✓"), &json!("1999-12-31")));

    // By 0-based index, as an incremental load: the same rows, upserted by key.
    p.import(&t, json!({"file_id": file, "options": {"sheet": 1}, "incremental": true})).expect(200);
    assert_eq!(p.rows(&t, "id"), rows);
}

#[test]
fn a_file_that_is_not_a_workbook_is_refused_by_the_xlsx_plugin() {
    let server = Server::start();
    let (p, t) = setup(&server);
    let file = p.upload("p1", "sheet.xlsx", "id,name\n1,a\n");
    let message = p.import(&t, json!({"file_id": file})).expect_error(422, "invalid_input");
    assert!(message.contains("import-xlsx") && message.contains("workbook"), "{message}");
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut block = [0u8; 64];
    block[..key.len()].copy_from_slice(key);
    let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new().chain_update(pad(0x36)).chain_update(message).finalize();
    Sha256::new().chain_update(pad(0x5c)).chain_update(inner).finalize().to_vec()
}

/// An HS256 JWT signed with `secret`.
fn jwt(secret: &str, claims: Value) -> String {
    let encode = |v: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap());
    let signing_input = format!("{}.{}", encode(&json!({"alg": "HS256", "typ": "JWT"})), encode(&claims));
    let signature = URL_SAFE_NO_PAD.encode(hmac_sha256(secret.as_bytes(), signing_input.as_bytes()));
    format!("{signing_input}.{signature}")
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// A server whose auth chain is the hostile test plugin, then auth-jwt.
fn auth_server() -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::copy(built("hostile_auth.wasm"), plugins.join("hostile-auth.wasm")).unwrap();
    let config = dir.path().join("duckstore.toml");
    std::fs::write(
        &config,
        "auth_providers = [\"hostile-auth\", \"auth-jwt\"]\n\
         [plugins.auth-jwt]\nhs256_secret = \"jwt-test-secret\"\naudience = \"duckstore\"\nleeway_seconds = 0\n",
    )
    .unwrap();
    let server =
        Server::start_with(&["--config", config.to_str().unwrap(), "--plugins-dir", plugins.to_str().unwrap()]);
    (server, dir)
}

#[test]
fn the_auth_chain_accepts_keys_and_valid_jwts_and_fails_closed() {
    let (server, _dir) = auth_server();
    let (p, t) = setup(&server);
    let reader = |claims: Value| server.client(Some(&jwt("jwt-test-secret", claims)));
    let grants = json!([{"project": "p1", "branch": "default", "role": "branch_read"}]);
    let valid = json!({"sub": "ana", "aud": "duckstore", "exp": now() + 600, "duckstore_grants": grants});

    // API keys are checked first and still work.
    p.get(&t).expect(200);
    // A valid token reads what its grant allows, and nothing more.
    let ana = reader(valid.clone());
    ana.get(&t).expect(200);
    ana.delete(&t).expect_error(403, "forbidden");
    ana.get("/projects/p2").expect_error(403, "forbidden");
    assert_eq!(ana.get("/projects").expect(200)["total"], 1);

    let expired = reader(json!({"sub": "ana", "aud": "duckstore", "exp": now() - 60, "duckstore_grants": grants}));
    assert!(expired.get(&t).expect_error(401, "invalid_token").contains("auth-jwt"));
    let wrong_audience = reader(json!({"sub": "ana", "aud": "elsewhere", "exp": now() + 600}));
    wrong_audience.get(&t).expect_error(401, "invalid_token");
    let forged = server.client(Some(&jwt("another-secret", valid)));
    forged.get(&t).expect_error(401, "invalid_token");
    server.client(Some("neither-a-key-nor-a-jwt")).get(&t).expect_error(401, "invalid_token");

    // A provider that crashes, loops or exhausts its memory refuses the request, and the
    // server goes on answering everyone else.
    for secret in ["hostile-panic", "hostile-loop", "hostile-bomb"] {
        let message = server.client(Some(secret)).get(&t).expect_error(401, "authentication_failed");
        assert!(message.contains("hostile-auth"), "{secret}: {message}");
        ana.get(&t).expect(200);
    }
    let listed = server.admin().get("/plugins/hostile-auth").expect(200);
    assert_eq!(listed["failures"], 3, "{listed}");
    // A principal without grants gets nowhere.
    server.client(Some("hostile-nobody")).get(&t).expect_error(403, "forbidden");
}

#[test]
fn a_plugin_that_keeps_crashing_is_taken_out_of_service_until_enabled() {
    let (server, _dir) = auth_server();
    let (_, t) = setup(&server);
    for _ in 0..5 {
        server.client(Some("hostile-panic")).get(&t).expect_error(401, "authentication_failed");
    }
    let listed = server.admin().get("/plugins/hostile-auth").expect(200);
    assert_eq!(listed["state"], "failing", "{listed}");
    // Out of service, it is skipped: the credential then matches no provider.
    server.client(Some("hostile-panic")).get(&t).expect_error(401, "invalid_token");
    let enabled = server.admin().post("/plugins/hostile-auth/enable", json!({})).expect(200);
    assert_eq!(enabled["state"], "enabled");
    server.client(Some("hostile-panic")).get(&t).expect_error(401, "authentication_failed");
}

#[test]
fn operators_upload_disable_enable_reload_and_remove_plugins() {
    let server = Server::start();
    let admin = server.admin();
    let corrupt = admin.send_bytes("POST", "/plugins", b"\0asm garbage".to_vec(), &[]);
    assert!(corrupt.expect_error(400, "plugin_refused").contains("WebAssembly"));
    let no_manifest = admin.send_bytes("POST", "/plugins", std::fs::read(built("net_probe.wasm")).unwrap(), &[]);
    assert!(no_manifest.expect_error(400, "plugin_refused").contains("no manifest"));

    let template = std::fs::read(built("template.wasm")).unwrap();
    let uploaded = admin.send_bytes("POST", "/plugins", template.clone(), &[]).expect(201);
    assert_eq!((uploaded["name"].as_str(), uploaded["kind"].as_str()), (Some("template"), Some("snapshot-policy")));
    assert!(server.data_dir().join("plugins/template.wasm").exists());
    admin.send_bytes("POST", "/plugins", template, &[]).expect(200);

    assert_eq!(admin.post("/plugins/template/disable", json!({})).expect(200)["state"], "disabled");
    assert_eq!(admin.post("/plugins/template/reload", json!({})).expect(200)["state"], "disabled");
    assert_eq!(admin.post("/plugins/template/enable", json!({})).expect(200)["state"], "enabled");
    admin.delete("/plugins/import-jsonl").expect_error(400, "plugin_refused");
    admin.delete("/plugins/template").expect(204);
    admin.get("/plugins/template").expect_error(404, "plugin_not_found");
}

#[test]
fn concurrent_enables_and_disables_all_succeed_and_the_last_survives_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Server::start_in(&data, Some(ADMIN_KEY));
    let admin = server.admin();
    let names = ["import-jsonl", "import-xlsx", "snapshot-policy-strict"];
    std::thread::scope(|scope| {
        for worker in 0..8 {
            let admin = admin.clone();
            scope.spawn(move || {
                for i in 0..40 {
                    let name = names[(worker + i) % names.len()];
                    let action = if (worker + i) % 2 == 0 { "disable" } else { "enable" };
                    admin.post(&format!("/plugins/{name}/{action}"), json!({})).expect(200);
                }
            });
        }
    });
    // Settle each plugin with one last call, then check the list on disk kept exactly that.
    admin.post("/plugins/import-jsonl/disable", json!({})).expect(200);
    admin.post("/plugins/import-xlsx/enable", json!({})).expect(200);
    admin.post("/plugins/snapshot-policy-strict/disable", json!({})).expect(200);
    server.stop();
    let server = Server::start_in(&data, Some(ADMIN_KEY));
    let list = server.admin().get("/plugins").expect(200);
    assert_eq!(plugin(&list, "import-jsonl")["state"], "disabled");
    assert_eq!(plugin(&list, "import-xlsx")["state"], "enabled");
    assert_eq!(plugin(&list, "snapshot-policy-strict")["state"], "disabled");
}

#[test]
fn plugins_that_are_not_what_they_claim_are_refused_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    let manifest = |name: &str, kind: &str, api: &str| {
        format!("name = \"{name}\"\nversion = \"1.0.0\"\nkind = \"{kind}\"\napi = \"{api}\"\n")
    };
    for (name, kind, api) in [
        ("sockets", "import-format", "0.1.0"),
        ("future-api", "import-format", "2.0.0"),
        ("wrong-kind", "auth-provider", "0.1.0"),
    ] {
        std::fs::copy(built("net_probe.wasm"), plugins.join(format!("{name}.wasm"))).unwrap();
        std::fs::write(plugins.join(format!("{name}.toml")), manifest(name, kind, api)).unwrap();
    }
    std::fs::write(plugins.join("corrupt.wasm"), b"not wasm at all").unwrap();
    let server = Server::start_with(&["--plugins-dir", plugins.to_str().unwrap()]);
    let list = server.admin().get("/plugins").expect(200);
    let error = |name: &str| {
        let p = plugin(&list, name);
        assert_eq!(p["state"], "failing", "{p}");
        p["error"].as_str().unwrap().to_owned()
    };
    assert!(error("sockets").contains("wasi:sockets"), "{}", error("sockets"));
    assert!(error("future-api").contains("duckstore:plugin@2.0.0"), "{}", error("future-api"));
    assert!(error("wrong-kind").contains("does not export duckstore:plugin/auth-provider"), "{}", error("wrong-kind"));
    assert!(error("corrupt").contains("WebAssembly"), "{}", error("corrupt"));
    assert_eq!(plugin(&list, "import-jsonl")["state"], "enabled", "the good plugins still load");
}

fn auto_snapshots(p: &Client) -> Vec<Value> {
    p.get(&format!("{}/snapshots?kind=auto", branch("p1"))).expect(200)["snapshots"].as_array().unwrap().clone()
}

#[test]
fn the_configured_policy_plugin_decides_and_a_broken_one_fails_safe() {
    let replace = |server: &Server| {
        let (p, t) = setup(server);
        let file = p.upload("p1", "a.jsonl", "{\"id\": 1}\n");
        p.import(&t, json!({"file_id": file})).expect(200);
        p.import(&t, json!({"file_id": file})).expect(200);
        p
    };
    // The default policy follows the settings: full loads are not snapshotted.
    let server = Server::start();
    let p = replace(&server);
    assert!(auto_snapshots(&p).is_empty());
    // The strict policy snapshots before a full load replaces rows.
    let server = Server::start_with(&["--snapshot-policy", "snapshot-policy-strict"]);
    let p = replace(&server);
    let auto = auto_snapshots(&p);
    assert_eq!(auto.len(), 1, "{auto:?}");
    assert!(auto[0]["description"].as_str().unwrap_or_default().contains("strict policy"), "{auto:?}");
    // A policy that cannot answer (here: not a policy at all) means: snapshot.
    let server = Server::start_with(&["--snapshot-policy", "auth-jwt"]);
    let p = replace(&server);
    assert_eq!(auto_snapshots(&p).len(), 2, "both full loads were snapshotted to be safe");
}

#[test]
fn a_policy_plugin_that_traps_or_hangs_still_gets_the_snapshot_taken() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(built("hostile_policy.wasm"), dir.path().join("hostile-policy.wasm")).unwrap();
    let server =
        Server::start_with(&["--plugins-dir", dir.path().to_str().unwrap(), "--snapshot-policy", "hostile-policy"]);
    let p = server.project("p1");
    create_bucket(&p, "p1", "b");
    for name in ["calm", "panicky", "looping"] {
        create_table(&p, "p1", "in.c-b", name);
    }
    // The settings would snapshot every drop; this policy says skip, and is obeyed.
    p.delete(&table("p1", "in.c-b", "calm")).expect(204);
    assert!(auto_snapshots(&p).is_empty());
    // Trapping (a panic) and missing its 50 ms deadline (a loop) both mean: snapshot.
    p.delete(&table("p1", "in.c-b", "panicky")).expect(204);
    p.delete(&table("p1", "in.c-b", "looping")).expect(204);
    let mut saved: Vec<String> =
        auto_snapshots(&p).iter().map(|s| s["table_name"].as_str().unwrap_or_default().to_owned()).collect();
    saved.sort();
    assert_eq!(saved, ["looping", "panicky"]);
    let listed = server.admin().get("/plugins/hostile-policy").expect(200);
    assert_eq!(listed["failures"], 2, "{listed}");
}

#[test]
fn a_reload_during_an_import_lets_the_import_finish_on_the_old_version() {
    let server = Server::start();
    let (p, t) = setup(&server);
    let lines: String =
        (0..200_000).map(|i| format!("{{\"id\": {i}, \"name\": \"row {i}\", \"amount\": {i}.5}}\n")).collect();
    let file = p.upload("p1", "big.jsonl", lines);
    let job = p.post(&format!("{t}/import"), json!({"file_id": file})).expect(202);
    let reloaded = server.admin().post("/plugins/import-jsonl/reload", json!({})).expect(200);
    assert_eq!(reloaded["state"], "enabled");
    let id = job["id"].as_str().unwrap();
    let finished = loop {
        let job = p.get(&format!("/projects/p1/jobs/{id}")).expect(200);
        if job["status"] != "waiting" && job["status"] != "processing" {
            break job;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(finished["status"], "success", "{finished}");
    assert_eq!(finished["result"]["rows_imported"], 200_000);
}
