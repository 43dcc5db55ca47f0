//! Imports as jobs: polling, write serialization per table, parallelism across tables,
//! and a crash in the middle of a load.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::*;

fn poll(p: &Client, project: &str, job_id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let job = p.get(&format!("/projects/{project}/jobs/{job_id}")).expect(200);
        if matches!(job["status"].as_str(), Some("success" | "error" | "cancelled")) {
            return job;
        }
        assert!(Instant::now() < deadline, "job did not finish: {job}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A CSV with `rows` rows of `id,name` starting at `first`.
fn csv(first: u64, rows: u64) -> String {
    let mut s = String::with_capacity(rows as usize * 24);
    s.push_str("id,name\n");
    for i in first..first + rows {
        s.push_str(&format!("{i},name number {i}\n"));
    }
    s
}

#[test]
fn imports_run_as_jobs_that_can_be_polled() {
    let server = Server::start();
    let p = server.project("p1");
    create_bucket(&p, "p1", "b");
    create_table(&p, "p1", "in.c-b", "t");
    let t = table("p1", "in.c-b", "t");
    let file_id = p.upload("p1", "a.csv", csv(1, 10));

    let accepted = p.post(&format!("{t}/import"), json!({"file_id": file_id}));
    assert_eq!(accepted.status, 202, "{}", accepted.text);
    assert_eq!(accepted.body["kind"], "table_import");
    assert_eq!(accepted.body["table_id"], "in.c-b.t");
    let job = poll(&p, "p1", accepted.body["id"].as_str().unwrap());
    assert_eq!(job["status"], "success");
    assert_eq!(job["progress"]["rows"], 10);
    assert!(job["finished_at"].is_string());

    let bad = p.upload("p1", "bad.csv", "id,name\nx,y\n");
    let failed = p.post(&format!("{t}/import"), json!({"file_id": bad})).expect(202);
    let job = poll(&p, "p1", failed["id"].as_str().unwrap());
    assert_eq!(job["status"], "error");
    assert_eq!(job["error"]["code"], "invalid_value");

    let listed = p.get("/projects/p1/jobs").expect(200);
    assert_eq!(listed["total"], 2);
    assert_eq!(listed["jobs"][0]["id"], failed["id"], "newest first");
    server
        .project("p2")
        .get(&format!("/projects/p2/jobs/{}", failed["id"].as_str().unwrap()))
        .expect_error(404, "job_not_found");
}

#[test]
fn concurrent_imports_into_one_table_are_serialized_and_lose_nothing() {
    let server = Server::start();
    let p = server.project("p1");
    create_bucket(&p, "p1", "b");
    create_table(&p, "p1", "in.c-b", "t");
    let t = table("p1", "in.c-b", "t");
    let files: Vec<String> = (0..8).map(|i| p.upload("p1", "part.csv", csv(i * 1000, 1000))).collect();

    std::thread::scope(|scope| {
        for file_id in &files {
            let (p, t) = (p.clone(), t.clone());
            scope.spawn(move || p.import(&t, json!({"file_id": file_id, "incremental": true})).expect(200));
        }
    });
    let table = p.get(&t).expect(200);
    assert_eq!(table["row_count"], 8000);
}

#[test]
fn imports_into_different_tables_run_in_parallel() {
    let server = Server::start();
    let p = server.project("p1");
    create_bucket(&p, "p1", "b");
    let file_id = p.upload("p1", "big.csv", csv(0, 400_000));
    let tables = ["t1", "t2"];
    for t in tables {
        create_table(&p, "p1", "in.c-b", t);
    }
    let jobs: Vec<Value> = std::thread::scope(|scope| {
        let handles: Vec<_> = tables
            .iter()
            .map(|t| {
                let (p, path, file_id) = (p.clone(), table("p1", "in.c-b", t), file_id.clone());
                scope.spawn(move || p.import(&path, json!({"file_id": file_id})).expect(200))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let span =
        |j: &Value| (j["started_at"].as_str().unwrap().to_owned(), j["finished_at"].as_str().unwrap().to_owned());
    let ((a0, a1), (b0, b1)) = (span(&jobs[0]), span(&jobs[1]));
    assert!(a0 < b1 && b0 < a1, "the two loads should overlap in time: {a0}..{a1} vs {b0}..{b1}");
    for t in tables {
        assert_eq!(p.get(&table("p1", "in.c-b", t)).expect(200)["row_count"], 400_000);
    }
}

#[test]
fn a_crash_during_a_full_load_leaves_the_table_fully_old_or_fully_new() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Server::start_in(&data, Some(ADMIN_KEY));
    let p = server.project("p1");
    create_bucket(&p, "p1", "b");
    create_table(&p, "p1", "in.c-b", "t");
    let t = table("p1", "in.c-b", "t");
    p.import(&t, json!({"file_id": p.upload("p1", "old.csv", csv(0, 10))})).expect(200);
    let big = p.upload("p1", "new.csv", csv(100, 3_000_000));

    let job = p.post(&format!("{t}/import"), json!({"file_id": big})).expect(202);
    // Wait until the load is under way, then pull the plug.
    let deadline = Instant::now() + Duration::from_secs(30);
    while p.get(&format!("/projects/p1/jobs/{}", job["id"].as_str().unwrap())).expect(200)["status"] == "waiting" {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(300));
    let key = p.key().unwrap().to_owned();
    server.kill();

    let server = Server::start_in(&data, Some(ADMIN_KEY));
    let p = server.client(Some(&key));
    let rows = p.get(&t).expect(200)["row_count"].as_u64().unwrap();
    let job = p.get(&format!("/projects/p1/jobs/{}", job["id"].as_str().unwrap())).expect(200);
    match rows {
        10 => assert_eq!(job["error"]["code"], "interrupted", "{job}"),
        3_000_000 => {}
        n => panic!("the table has {n} rows: neither the old 10 nor the new 3,000,000"),
    }
    let first = p.rows(&t, "id")[0]["id"].as_i64().unwrap();
    assert_eq!(first, if rows == 10 { 0 } else { 100 });
    let leftovers: Vec<_> =
        disk_listing(&data).into_iter().filter(|(f, _)| f.to_string_lossy().contains(".loading")).collect();
    assert!(leftovers.is_empty(), "partial files must be cleaned up at start: {leftovers:?}");
    // The table still takes writes.
    p.import(&t, json!({"file_id": p.upload("p1", "after.csv", csv(5, 1)), "incremental": true})).expect(200);
}

#[test]
fn a_running_import_can_be_cancelled_and_changes_nothing() {
    let server = Server::start();
    let p = server.project("p1");
    create_bucket(&p, "p1", "b");
    create_table(&p, "p1", "in.c-b", "t");
    let t = table("p1", "in.c-b", "t");
    p.import(&t, json!({"file_id": p.upload("p1", "old.csv", csv(0, 10))})).expect(200);
    let big = p.upload("p1", "big.csv", csv(100, 4_000_000));
    for incremental in [false, true] {
        let job = p.post(&format!("{t}/import"), json!({"file_id": big, "incremental": incremental})).expect(202);
        let id = job["id"].as_str().unwrap();
        std::thread::sleep(Duration::from_millis(300));
        let asked = p.post(&format!("/projects/p1/jobs/{id}/cancel"), json!({})).expect(202);
        assert_eq!(asked["id"], id);
        let job = poll(&p, "p1", id);
        assert_eq!(job["status"], "cancelled", "{job}");
        assert_eq!(job["error"]["code"], "cancelled");
        assert_eq!(p.get(&t).expect(200)["row_count"], 10, "a cancelled import changed the table");
        p.post(&format!("/projects/p1/jobs/{id}/cancel"), json!({})).expect_error(409, "job_finished");
    }
    let leftovers: Vec<_> = disk_listing(server.data_dir())
        .into_iter()
        .filter(|(f, _)| f.to_string_lossy().contains(".loading") || f.to_string_lossy().contains("import-"))
        .collect();
    assert!(leftovers.is_empty(), "a cancelled import left files behind: {leftovers:?}");
    // Another project cannot cancel (or see) the job.
    let job = p.post(&format!("{t}/import"), json!({"file_id": big})).expect(202);
    let other = server.project("p2");
    other
        .post(&format!("/projects/p1/jobs/{}/cancel", job["id"].as_str().unwrap()), json!({}))
        .expect_error(403, "forbidden");
    poll(&p, "p1", job["id"].as_str().unwrap());
}

#[test]
fn a_job_waiting_for_its_tables_writer_says_so_and_starts_its_clock_when_it_runs() {
    let server = Server::start();
    let p = server.project("p1");
    create_bucket(&p, "p1", "b");
    create_table(&p, "p1", "in.c-b", "t");
    let t = table("p1", "in.c-b", "t");
    let big = p.upload("p1", "big.csv", csv(0, 2_000_000));
    let first = p.post(&format!("{t}/import"), json!({"file_id": big})).expect(202);
    std::thread::sleep(Duration::from_millis(200));
    let second = p.post(&format!("{t}/import"), json!({"file_id": big, "incremental": true})).expect(202);
    let second_id = second["id"].as_str().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen_waiting = false;
    loop {
        let job = p.get(&format!("/projects/p1/jobs/{second_id}")).expect(200);
        if job["status"] == "waiting" {
            seen_waiting = true;
            assert!(job["started_at"].is_null(), "a waiting job has not started: {job}");
        }
        if matches!(job["status"].as_str(), Some("success" | "error")) || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(seen_waiting, "the second import never showed as waiting for the first");
    let first = poll(&p, "p1", first["id"].as_str().unwrap());
    let second = poll(&p, "p1", second_id);
    assert_eq!(second["status"], "success");
    assert!(
        second["started_at"].as_str().unwrap() >= first["finished_at"].as_str().unwrap(),
        "the second job's clock started before the first ended: {first} {second}"
    );
}
