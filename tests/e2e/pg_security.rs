//! The wire server's security defaults, with real clients: TLS is required unless the
//! operator turns it off, the generated certificate verifies for the addresses clients use,
//! failed logins end as PostgreSQL ends them, and sessions cannot flip engine settings.

use std::process::Command;

use serde_json::{Value, json};

use crate::harness::*;

fn workspace(server: &Server) -> (Client, Value) {
    let p = server.project("p1");
    let ws = p.post(&format!("{}/workspaces", branch("p1")), json!({"name": "sec"})).expect(201);
    (p, ws)
}

/// Runs psql with `conninfo` and `sql`; returns (success, stdout, stderr).
fn psql(conninfo: &str, sql: &str) -> (bool, String, String) {
    let out = Command::new("psql")
        .args([conninfo, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .env_remove("PGSSLMODE")
        .output()
        .expect("psql");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn conninfo(server: &Server, ws: &Value, password: &str, extra: &str) -> String {
    let id = ws["id"].as_str().unwrap();
    format!("host=127.0.0.1 port={} dbname={id} user={id} password={password} {extra}", server.pg_port)
}

#[test]
fn logins_without_tls_are_refused_and_the_generated_certificate_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Server::launch_in(&data, &["--pg-require-tls", "true"]);
    let (_, ws) = workspace(&server);
    let password = ws["connection"]["password"].as_str().unwrap();

    let (ok, _, err) = psql(&conninfo(&server, &ws, password, "sslmode=disable"), "select 1");
    assert!(!ok, "a plaintext login was accepted");
    assert!(err.contains("TLS") && err.contains("sslmode=require"), "{err}");

    let (ok, out, err) = psql(&conninfo(&server, &ws, password, "sslmode=require"), "select 41 + 1");
    assert!(ok, "{err}");
    assert_eq!(out, "42");

    // The certificate is kept in the data directory and names the addresses clients use.
    let cert = server.data_dir().join("tls/pg.crt");
    assert!(cert.exists(), "the generated certificate is kept for clients to pin");
    for host in ["127.0.0.1", "localhost"] {
        let id = ws["id"].as_str().unwrap();
        let info = format!(
            "host={host} port={} dbname={id} user={id} password={password} sslmode=verify-full sslrootcert={}",
            server.pg_port,
            cert.display()
        );
        let (ok, out, err) = psql(&info, "select 'verified'");
        assert!(ok, "verify-full to {host}: {err}");
        assert_eq!(out, "verified");
    }
    // The same certificate after a restart: a pinned client keeps working.
    let pem = std::fs::read(&cert).unwrap();
    server.stop();
    let server = Server::launch_in(&data, &["--pg-require-tls", "true"]);
    assert_eq!(std::fs::read(&cert).unwrap(), pem, "the certificate changed across a restart");
    let (ok, _, err) = psql(&conninfo(&server, &ws, password, "sslmode=require"), "select 1");
    assert!(ok, "{err}");
}

#[test]
fn a_wrong_password_ends_the_login_as_postgres_does() {
    let server = Server::start();
    let (_, ws) = workspace(&server);
    let id = ws["id"].as_str().unwrap();
    let (ok, _, err) = psql(&conninfo(&server, &ws, "wrong", "sslmode=disable"), "select 1");
    assert!(!ok);
    assert!(err.contains(&format!("password authentication failed for user \"{id}\"")), "{err}");

    // asyncpg reads anything after the FATAL error (pgwire used to send ReadyForQuery) as a
    // protocol violation and says so.
    let script = r#"
import asyncio, sys, asyncpg
async def main():
    try:
        await asyncpg.connect(sys.argv[1], ssl=False)
    except asyncpg.exceptions.InvalidPasswordError as e:
        print("refused:", e.sqlstate)
asyncio.run(main())
"#;
    let info = format!("postgresql://{id}:wrong@127.0.0.1:{}/{id}", server.pg_port);
    let out = Command::new("python3").args(["-c", script, &info]).output().expect("python3");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("refused: 28P01"), "stdout: {stdout}\nstderr: {stderr}");
    assert!(!stderr.contains("unexpected state"), "{stderr}");
}

#[test]
fn sessions_cannot_set_the_engines_own_settings() {
    let server = Server::start();
    let (_, ws) = workspace(&server);
    let password = ws["connection"]["password"].as_str().unwrap();
    let info = conninfo(&server, &ws, password, "sslmode=disable");
    for setting in ["enable_external_access", "allow_unsigned_extensions", "lock_configuration", "memory_limit"] {
        let (ok, _, err) = psql(&info, &format!("SET {setting} = true"));
        assert!(!ok, "SET {setting} was accepted");
        assert!(err.contains(&format!("permission denied to set parameter \"{setting}\"")), "{err}");
    }
    // What sessions may set still works, and external access stays off.
    let (ok, out, err) = psql(&info, "SET application_name = 'x'; SHOW application_name");
    assert!(ok, "{err}");
    assert_eq!(out, "x");
    let (ok, _, err) = psql(&info, "SELECT * FROM read_csv('/etc/passwd')");
    assert!(!ok, "a session read a host file");
    assert!(err.contains("42501") || err.contains("denied") || err.contains("disabled"), "{err}");
}
