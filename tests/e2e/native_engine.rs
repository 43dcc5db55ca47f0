//! Native storage engines (`--engine-library`): the example engine library serves the
//! whole REST surface through the C ABI, and libraries that are not engines for this ABI
//! are refused at start-up with a message that says why.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::harness::*;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("host/ is in the workspace").to_owned()
}

/// The example engine (a cdylib of this workspace), built by `make test` before the tests
/// run (building it here would hit the test timeout on a cold cache).
fn example_engine() -> PathBuf {
    let exe = Path::new(env!("CARGO_BIN_EXE_duckstore"));
    let library = exe.parent().expect("<target>/<profile>").join(format!(
        "{}duckstore_engine_native_example{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ));
    assert!(
        library.exists(),
        "{} is missing: run the tests with `make test`, which builds it first \
         (or `cargo build -p duckstore-engine-native-example`)",
        library.display()
    );
    library
}

#[test]
fn the_example_native_engine_serves_tables_files_imports_and_snapshots() {
    let library = example_engine();
    let server = Server::start_with(&["--engine-library", library.to_str().unwrap()]);
    let health = server.client(None).get("/health").expect(200);
    assert_eq!(health["storage"]["name"], "duckdb", "{health}");
    assert_eq!(health["storage"]["library"], library.to_str().unwrap(), "{health}");

    // Catalog calls, a CSV import from an uploaded file (the upload and the read cross as
    // file descriptors), and a preview.
    let p = server.project("p1");
    create_bucket(&p, "p1", "b");
    create_table(&p, "p1", "in.c-b", "t");
    let t = table("p1", "in.c-b", "t");
    let csv = p.upload("p1", "rows.csv", "id,name\n1,one\n2,two\n");
    assert_eq!(p.import(&t, json!({"file_id": csv})).expect(200)["result"]["rows_imported"], 2);

    // Rows parsed by a WASM import plugin cross as an Arrow C stream; a bad line's error
    // keeps its code and location, and the table stays as it was.
    let jsonl = p.upload("p1", "more.jsonl", "{\"id\": 3, \"name\": \"three\"}\n");
    p.import(&t, json!({"file_id": jsonl, "incremental": true})).expect(200);
    let bad = p.upload("p1", "bad.jsonl", "{\"id\": 4}\n{\"id\": \"four\"}\n");
    let message = p.import(&t, json!({"file_id": bad, "incremental": true})).expect_error(422, "invalid_input");
    assert!(message.contains("line 2"), "{message}");
    let names: Vec<Value> = p.rows(&t, "id").iter().map(|r| r["name"].clone()).collect();
    assert_eq!(names, [json!("one"), json!("two"), json!("three")]);

    // Export and download: the engine writes the file, the host streams it.
    let (_, bytes) = p.export("p1", &t, json!({"format": "csv"}));
    let text = String::from_utf8(bytes).unwrap();
    assert!(text.contains("3,three"), "{text}");

    // Engine errors keep their HTTP mapping, and a patch keeps "absent" (leave as is)
    // apart from `null` (remove) across the JSON round trip.
    p.get(&table("p1", "in.c-b", "missing")).expect_error(404, "table_not_found");
    p.post(&format!("{t}/columns"), json!({"name": "note", "type": "VARCHAR", "default": "x"})).expect(201);
    let note = |table: &Value, name: &str| -> Value {
        table["columns"].as_array().unwrap().iter().find(|c| c["name"] == name).cloned().unwrap_or_default()
    };
    let renamed = p.put(&format!("{t}/columns/note"), json!({"name": "remark"})).expect(200);
    assert_eq!(note(&renamed, "remark")["default"], "x", "{renamed}");
    let cleared = p.put(&format!("{t}/columns/remark"), json!({"default": null})).expect(200);
    assert_eq!(note(&cleared, "remark")["default"], Value::Null, "{cleared}");

    // The engine asks the server's snapshot-policy plugin across the ABI: with settings
    // that snapshot before a drop, dropping the table leaves an auto snapshot.
    p.put(&format!("{}/settings/snapshots", "/projects/p1"), json!({"auto_snapshot_triggers": {"drop_table": true}}))
        .expect(200);
    p.delete(&t).expect(204);
    let auto = p.get(&format!("{}/snapshots?kind=auto", branch("p1"))).expect(200);
    assert_eq!(auto["snapshots"].as_array().unwrap().len(), 1, "{auto}");
}

/// Starts `duckstore serve` with `--engine-library library`, expecting it to refuse.
fn refused(library: &Path) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_duckstore"))
        .args(["serve", "--http-addr", "127.0.0.1:0", "--pg-addr", "127.0.0.1:0", "--data-dir"])
        .arg(tmp.path().join("data"))
        .arg("--plugin-cache-dir")
        .arg(Path::new(env!("CARGO_TARGET_TMPDIR")).join("plugin-cache"))
        .arg("--engine-library")
        .arg(library)
        .env("DUCKSTORE_ADMIN_KEY", ADMIN_KEY)
        .output()
        .expect("run duckstore");
    assert!(!output.status.success(), "duckstore started on {}", library.display());
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn libraries_that_are_not_engines_for_this_abi_are_refused_at_start() {
    let tmp = tempfile::tempdir().unwrap();
    let garbage = tmp.path().join("garbage.so");
    std::fs::write(&garbage, b"not an ELF file").unwrap();
    let message = refused(&garbage);
    assert!(message.contains("cannot load the engine library"), "{message}");

    // A real shared library without the entry point.
    let message = refused(&workspace_root().join(".duckdb/lib/libduckdb.so"));
    assert!(message.contains("does not export duckstore_storage_engine_v1"), "{message}");

    // An engine whose table says ABI 2.0.
    let wrong = tmp.path().join("libwrong_abi.so");
    let status = Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&wrong)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/e2e/fixtures/wrong_abi_engine.c"))
        .status()
        .expect("run cc");
    assert!(status.success());
    let message = refused(&wrong);
    assert!(message.contains("built for engine ABI 2.0") && message.contains("speaks 1.0"), "{message}");
}
