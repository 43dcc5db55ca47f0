//! PostgreSQL fidelity: the differential corpus (`fixtures/pgdiff`) runs every case against a
//! private PostgreSQL 15 and a duckstore workspace through psycopg 3 (text and binary),
//! psycopg2, asyncpg and SQLAlchemy, and compares names, types, values, status tags,
//! SQLSTATEs and transaction effects. Differences must be listed, with a reason, in
//! `fixtures/pgdiff/accepted.toml`; one that disappears must be removed from it.

use std::path::Path;
use std::process::Command;

use serde_json::json;

use crate::harness::*;

#[test]
fn answers_match_a_real_postgresql_15_through_every_driver() {
    let pg = Postgres::start();
    let server = Server::start();
    let p = server.project("p1");
    let ws = p.post(&format!("{}/workspaces", branch("p1")), json!({"name": "pgdiff"})).expect(201);
    let id = ws["id"].as_str().unwrap();
    let ds = format!(
        "host=127.0.0.1 port={} dbname={id} user={id} password={} sslmode=disable",
        server.pg_port,
        ws["connection"]["password"].as_str().unwrap()
    );
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/e2e/fixtures/pgdiff");
    let out = Command::new("python3")
        .arg(fixtures.join("run.py"))
        .args(["--pg", &pg.conninfo(), "--ds", &ds, "--timeout", "900"])
        .output()
        .expect("python3");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let summary = stdout.lines().rev().find(|l| l.starts_with("pgdiff:")).unwrap_or("no summary");
    eprintln!("{summary}");
    assert!(out.status.success(), "differences from PostgreSQL 15:\n{stdout}\n{stderr}");
}
