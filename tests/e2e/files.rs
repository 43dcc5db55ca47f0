//! The Files API: streamed uploads, registration, listing, downloads with ranges, limits.

use serde_json::json;
use sha2::{Digest, Sha256};

use crate::harness::*;

#[test]
fn three_step_upload_then_detail_list_download_ranges_and_delete() {
    let server = Server::start();
    let p = server.project("p1");
    let content = b"0123456789abcdef".repeat(1000);

    let prepared =
        p.post("/projects/p1/files/prepare", json!({"name": "data.bin", "tags": ["raw", "2024"]})).expect(201);
    let url = prepared["upload_url"].as_str().unwrap().to_owned();
    let uploaded = p.send_bytes("PUT", &url, content.clone(), &[]).expect(200);
    let sha = hex::encode(Sha256::digest(&content));
    assert_eq!(uploaded["size_bytes"], content.len());
    assert_eq!(uploaded["sha256"], sha);
    let file = p.post("/projects/p1/files", json!({"upload_key": prepared["upload_key"]})).expect(201);
    let id = file["id"].as_str().unwrap().to_owned();
    assert_eq!((file["name"].as_str(), file["sha256"].as_str()), (Some("data.bin"), Some(sha.as_str())));
    p.post("/projects/p1/files", json!({"upload_key": prepared["upload_key"]})).expect_error(404, "upload_not_found");

    let other = p.upload("p1", "other.csv", "a\n1\n");
    let all = p.get("/projects/p1/files").expect(200);
    assert_eq!(all["total"], 2);
    assert_eq!(all["files"][0]["id"], other, "newest first");
    let tagged = p.get("/projects/p1/files?tags=raw,2024").expect(200);
    assert_eq!((tagged["total"].as_u64(), tagged["files"][0]["id"].as_str()), (Some(1), Some(id.as_str())));
    assert_eq!(p.get("/projects/p1/files?tags=raw,nope").expect(200)["total"], 0);
    assert_eq!(p.get("/projects/p1/files?limit=1&offset=1").expect(200)["files"][0]["id"], id);
    p.get("/projects/p1/files?limit=0").expect_error(400, "invalid_limit");

    let download = format!("/projects/p1/files/{id}/download");
    let (status, headers, body) = p.get_raw(&download, &[]);
    assert_eq!((status, body.len()), (200, content.len()));
    assert_eq!(body, content);
    assert_eq!(headers["accept-ranges"], "bytes");
    assert!(headers["content-disposition"].to_str().unwrap().contains("data.bin"));
    let (status, headers, body) = p.get_raw(&download, &[("range", "bytes=2-5")]);
    assert_eq!((status, &body[..]), (206, &b"2345"[..]));
    assert_eq!(headers["content-range"], format!("bytes 2-5/{}", content.len()));
    let (status, _, body) = p.get_raw(&download, &[("range", "bytes=-3")]);
    assert_eq!((status, &body[..]), (206, &b"def"[..]));
    let (status, headers, _) = p.get_raw(&download, &[("range", "bytes=999999-")]);
    assert_eq!(status, 416);
    assert_eq!(headers["content-range"], format!("bytes */{}", content.len()));
    // An empty file: no range can be satisfied; without a range it downloads as empty.
    let empty = p.upload("p1", "empty.bin", Vec::new());
    let empty_download = format!("/projects/p1/files/{empty}/download");
    for range in ["bytes=0-10", "bytes=0-0", "bytes=-5"] {
        let (status, headers, body) = p.get_raw(&empty_download, &[("range", range)]);
        assert_eq!(status, 416, "{range}");
        assert_eq!(headers["content-range"], "bytes */0");
        assert!(
            serde_json::from_slice::<serde_json::Value>(&body).unwrap()["error"]["code"] == "range_not_satisfiable"
        );
    }
    let (status, _, body) = p.get_raw(&empty_download, &[]);
    assert_eq!((status, body.len()), (200, 0));

    let retagged = p.put(&format!("/projects/p1/files/{id}/tags"), json!({"tags": ["final"]})).expect(200);
    assert_eq!(retagged["tags"], json!(["final"]));

    p.delete(&format!("/projects/p1/files/{id}")).expect(204);
    p.get(&format!("/projects/p1/files/{id}")).expect_error(404, "file_not_found");
    assert!(!server.data_dir().join(format!("files/p1/{id}")).exists());
}

#[test]
fn uploads_over_the_size_limit_are_refused_and_leave_nothing() {
    let server = Server::start_with(&["--max-file-size", "1KiB"]);
    let p = server.project("p1");
    p.send_bytes("POST", "/projects/p1/files/upload?name=big.bin", vec![7u8; 2048], &[])
        .expect_error(413, "file_too_large");
    let prepared = p.post("/projects/p1/files/prepare", json!({"name": "big.bin"})).expect(201);
    let url = prepared["upload_url"].as_str().unwrap();
    p.send_bytes("PUT", url, vec![7u8; 4096], &[]).expect_error(413, "file_too_large");
    p.post("/projects/p1/files", json!({"upload_key": prepared["upload_key"]})).expect_error(409, "upload_incomplete");
    let staged: u64 = disk_listing(&server.data_dir().join("staging")).iter().map(|(_, n)| n).sum();
    assert_eq!(staged, 0, "a refused upload must not keep its bytes");
    // Retrying within the limit works.
    p.send_bytes("PUT", url, vec![7u8; 1024], &[]).expect(200);
    p.post("/projects/p1/files", json!({"upload_key": prepared["upload_key"]})).expect(201);
}

#[test]
fn project_quotas_are_enforced() {
    let server = Server::start_with(&["--project-max-files", "2", "--project-max-file-bytes", "100"]);
    let p = server.project("p1");
    p.upload("p1", "a", vec![1u8; 60]);
    p.send_bytes("POST", "/projects/p1/files/upload?name=b", vec![1u8; 60], &[]).expect_error(413, "file_too_large");
    p.upload("p1", "b", vec![1u8; 40]);
    p.post("/projects/p1/files/prepare", json!({"name": "c"})).expect_error(409, "quota_exceeded");
    // Another project has its own quota.
    let q = server.project("p2");
    q.upload("p2", "a", vec![1u8; 60]);
}

#[test]
fn expired_uploads_are_swept_from_disk() {
    let server = Server::start_with(&["--upload-ttl-secs", "1", "--sweep-interval-secs", "1"]);
    let p = server.project("p1");
    let prepared = p.post("/projects/p1/files/prepare", json!({"name": "x"})).expect(201);
    p.send_bytes("PUT", prepared["upload_url"].as_str().unwrap(), vec![1u8; 100], &[]).expect(200);
    let staged = server.data_dir().join(format!("staging/p1/{}", prepared["upload_key"].as_str().unwrap()));
    assert!(staged.exists());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while staged.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(!staged.exists(), "the sweeper must delete an expired upload's content");
    p.post("/projects/p1/files", json!({"upload_key": prepared["upload_key"]})).expect_error(404, "upload_not_found");
}

#[test]
fn upload_sessions_survive_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Server::start_in(&data, Some(ADMIN_KEY));
    let p = server.project("p1");
    let prepared = p.post("/projects/p1/files/prepare", json!({"name": "later.csv"})).expect(201);
    let key = p.key().unwrap().to_owned();
    server.stop();

    let server = Server::start_in(&data, Some(ADMIN_KEY));
    let p = server.client(Some(&key));
    p.send_bytes("PUT", prepared["upload_url"].as_str().unwrap(), b"a\n1\n".to_vec(), &[]).expect(200);
    let file = p.post("/projects/p1/files", json!({"upload_key": prepared["upload_key"]})).expect(201);
    assert_eq!(file["size_bytes"], 4);
}

#[test]
fn file_names_and_tags_are_validated_and_projects_isolated() {
    let server = Server::start();
    let p = server.project("p1");
    let q = server.project("p2");
    p.post("/projects/p1/files/prepare", json!({"name": "a/b"})).expect_error(400, "invalid_file_name");
    p.post("/projects/p1/files/prepare", json!({"name": "a\"b"})).expect_error(400, "invalid_file_name");
    p.post("/projects/p1/files/prepare", json!({"name": ""})).expect_error(400, "invalid_file_name");
    p.post("/projects/p1/files/prepare", json!({"name": "ok", "tags": [""]})).expect_error(400, "invalid_tags");
    let id = p.upload("p1", "secret.csv", "x\n1\n");
    q.get(&format!("/projects/p1/files/{id}")).expect_error(403, "forbidden");
    q.get(&format!("/projects/p2/files/{id}")).expect_error(404, "file_not_found");
    let (status, _, _) = q.get_raw(&format!("/projects/p2/files/{id}/download"), &[]);
    assert_eq!(status, 404);
}

/// A multipart form (`curl -F file=@x.csv`) is refused with 415 on both upload routes rather
/// than stored envelope and all; nothing is registered and the session stays usable.
#[test]
fn a_multipart_form_is_refused_not_stored() {
    let server = Server::start();
    let p = server.project("p1");
    let form = b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"t.csv\"\r\n\
                 Content-Type: text/csv\r\n\r\nid,name\n1,a\n\r\n--XyZ--\r\n"
        .to_vec();
    let headers = [("Content-Type", "multipart/form-data; boundary=XyZ")];
    p.send_bytes("POST", "/projects/p1/files/upload?name=t.csv", form.clone(), &headers)
        .expect_error(415, "multipart_not_accepted");
    let prepared = p.post("/projects/p1/files/prepare", json!({"name": "t.csv"})).expect(201);
    let url = prepared["upload_url"].as_str().unwrap().to_owned();
    p.send_bytes("PUT", &url, form, &[("Content-Type", "Multipart/Form-Data; boundary=XyZ")])
        .expect_error(415, "multipart_not_accepted");
    assert_eq!(p.get("/projects/p1/files").expect(200)["total"], 0);
    let uploaded = p.send_bytes("PUT", &url, b"id,name\n1,a\n".to_vec(), &[("Content-Type", "text/csv")]).expect(200);
    assert_eq!(uploaded["size_bytes"], 12);
}
