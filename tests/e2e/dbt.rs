//! dbt (dbt-postgres, the adapter analysts point at a workspace) runs a small project
//! (`fixtures/dbt`: a view, a table, an incremental model and a snapshot over a bucket table,
//! a seed, dbt's generic tests) against a workspace over TLS: `debug`, `seed`, `run`, `test`
//! and `snapshot` succeed, re-running changes nothing, new source rows reach the incremental
//! model and the snapshot, and a broken expectation makes `dbt test` fail.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::json;

use crate::harness::*;

/// A dbt project copied where dbt may write its `target/` and `logs/`, and the workspace's
/// credentials for its profile.
struct Project {
    dir: tempfile::TempDir,
    env: Vec<(&'static str, String)>,
}

impl Project {
    fn dbt(&self, args: &[&str]) -> Output {
        Command::new(dbt_binary())
            .args(["--no-use-colors", "--no-version-check"])
            .args(args)
            .current_dir(self.dir.path())
            .env("DBT_PROFILES_DIR", self.dir.path())
            .env("DO_NOT_TRACK", "1")
            .envs(self.env.iter().map(|(k, v)| (*k, v.as_str())))
            .output()
            .expect("dbt (installed by scripts/setup)")
    }

    /// Runs dbt, which must succeed; returns its output.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.dbt(args);
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "dbt {args:?} failed:\n{text}\n{}", self.log());
        text
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("logs/dbt.log")).unwrap_or_default()
    }

    /// Rows of `sql` through psql, `|`-separated, in the workspace (over TLS).
    fn psql(&self, sql: &str) -> Vec<String> {
        let get = |k: &str| self.env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone()).expect("set");
        let conninfo = format!(
            "host=127.0.0.1 port={} dbname={} user={} password={} sslmode=require",
            get("DS_PORT"),
            get("DS_DBNAME"),
            get("DS_USER"),
            get("DS_PASSWORD")
        );
        let out =
            Command::new("psql").args([&conninfo, "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", sql]).output().expect("psql");
        assert!(out.status.success(), "psql: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).collect()
    }
}

/// dbt as `scripts/setup` installs it: in its own virtual environment in duckstore's cache.
fn dbt_binary() -> std::path::PathBuf {
    let cache = std::env::var_os("DUCKSTORE_CACHE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(&std::env::var_os("HOME").expect("HOME")).join(".cache/duckstore"));
    cache.join("venv-dbt/bin/dbt")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn import_orders(p: &Client, csv: &str, incremental: bool) {
    let file = p.upload("p1", "orders.csv", format!("id,region,amount,ordered_at\n{csv}"));
    p.import(&table("p1", "in.c-sales", "orders"), json!({"file_id": file, "incremental": incremental})).expect(200);
}

#[test]
fn a_dbt_project_builds_tests_and_increments_in_a_workspace() {
    let server = Server::start_with(&["--pg-require-tls", "true"]);
    let p = server.project("p1");
    create_bucket(&p, "p1", "sales");
    p.post(
        &format!("{}/tables", bucket("p1", "in.c-sales")),
        json!({"name": "orders", "primary_key": ["id"], "columns": [
            {"name": "id", "type": "INTEGER"}, {"name": "region", "type": "VARCHAR"},
            {"name": "amount", "type": "DECIMAL(12,2)"}, {"name": "ordered_at", "type": "TIMESTAMP"}]}),
    )
    .expect(201);
    import_orders(
        &p,
        "1,eu,10.50,2024-01-01 10:00:00\n2,us,20.00,2024-01-02 10:00:00\n3,eu,5.25,2024-01-03 10:00:00\n",
        false,
    );
    let ws = p.post(&format!("{}/workspaces", branch("p1")), json!({"name": "dbt"})).expect(201);
    let id = ws["id"].as_str().unwrap().to_owned();
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/e2e/fixtures/dbt"), dir.path());
    let project = Project {
        dir,
        env: vec![
            ("DS_PORT", server.pg_port.to_string()),
            ("DS_DBNAME", id.clone()),
            ("DS_USER", id),
            ("DS_PASSWORD", ws["connection"]["password"].as_str().unwrap().to_owned()),
        ],
    };

    assert!(project.ok(&["debug"]).contains("All checks passed"));
    project.ok(&["seed"]);
    project.ok(&["run"]);
    project.ok(&["test"]);
    project.ok(&["snapshot"]);
    let revenue = "select region || ':' || orders || ':' || revenue from revenue_by_region order by region";
    assert_eq!(project.psql(revenue), ["eu:2:15.75", "us:1:20.00"]);

    // Everything again: the same relations, nothing doubled.
    project.ok(&["seed"]);
    project.ok(&["run"]);
    project.ok(&["test"]);
    assert_eq!(project.psql(revenue), ["eu:2:15.75", "us:1:20.00"]);
    assert_eq!(project.psql("select count(*) from orders_incremental"), ["3"]);
    assert_eq!(project.psql("select count(*) from regions"), ["3"]);

    // New and changed source rows: the incremental model merges them by key, the table is
    // rebuilt, the snapshot closes the old version of order 2.
    import_orders(&p, "2,us,22.00,2024-01-05 10:00:00\n4,ap,7.00,2024-01-04 10:00:00\n", true);
    project.ok(&["run"]);
    project.ok(&["snapshot"]);
    project.ok(&["test"]);
    assert_eq!(
        project.psql("select id || ':' || amount || ':' || doubled from orders_incremental order by id"),
        ["1:10.50:21.00", "2:22.00:44.00", "3:5.25:10.50", "4:7.00:14.00"]
    );
    assert_eq!(project.psql(revenue), ["ap:1:7.00", "eu:2:15.75", "us:1:22.00"]);
    assert_eq!(
        project.psql(
            "select id || ':' || amount || ':' || (dbt_valid_to is null) from orders_snapshot \
             where id = 2 order by dbt_valid_from"
        ),
        ["2:20.00:false", "2:22.00:true"]
    );

    // A full refresh rebuilds the incremental model from the source alone.
    project.ok(&["run", "--full-refresh", "--select", "orders_incremental"]);
    assert_eq!(project.psql("select count(*), sum(amount) from orders_incremental"), ["4|44.75"]);

    // A region outside the accepted values: dbt test reports the failure (exit code 1).
    import_orders(&p, "5,xx,1.00,2024-01-07 10:00:00\n", true);
    let failed = project.dbt(&["test", "--select", "stg_orders"]);
    let text = String::from_utf8_lossy(&failed.stdout);
    assert_eq!(failed.status.code(), Some(1), "{text}");
    assert!(text.contains("accepted_values_stg_orders_region"), "{text}");
}
