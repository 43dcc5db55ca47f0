//! Getting data out: CSV, gzip, Parquet, with column selection and structured filters.

use std::io::Read;

use serde_json::json;

use crate::harness::*;

fn setup(server: &Server) -> (Client, String) {
    let p = server.project("p1");
    create_bucket(&p, "p1", "b");
    p.post(
        &format!("{}/tables", bucket("p1", "in.c-b")),
        json!({"name": "t", "primary_key": ["id"], "columns": [
            {"name": "id", "type": "INTEGER"}, {"name": "status", "type": "VARCHAR"}, {"name": "amount", "type": "DOUBLE"}]}),
    )
    .expect(201);
    let t = table("p1", "in.c-b", "t");
    let csv = "id,status,amount\n1,open,10\n2,closed,20\n3,open,30\n4,,40\n";
    let file_id = p.upload("p1", "t.csv", csv);
    p.import(&t, json!({"file_id": file_id})).expect(200);
    (p, t)
}

#[test]
fn exports_select_columns_filter_order_and_limit() {
    let server = Server::start();
    let (p, t) = setup(&server);
    let (_, csv) = p.export(
        "p1",
        &t,
        json!({"query": {"columns": ["amount", "id"], "filters": [{"column": "status", "operator": "eq", "values": ["open"]}],
                         "order_by": [{"column": "id", "order": "desc"}]}}),
    );
    assert_eq!(String::from_utf8(csv).unwrap(), "amount,id\n30.0,3\n10.0,1\n");

    let (_, csv) = p.export("p1", &t, json!({"query": {"filters": [{"column": "status", "operator": "is_null"}]}}));
    assert_eq!(String::from_utf8(csv).unwrap(), "id,status,amount\n4,,40.0\n");

    let (_, csv) = p.export(
        "p1",
        &t,
        json!({"query": {"columns": ["id"], "order_by": [{"column": "amount"}], "limit": 2,
        "filters": [{"column": "amount", "operator": "ge", "values": ["15"]}]}}),
    );
    assert_eq!(String::from_utf8(csv).unwrap(), "id\n2\n3\n");

    p.post(&format!("{t}/export?wait=true"), json!({"query": {"columns": ["nope"]}}))
        .expect_error(400, "unknown_column");
    p.post(&format!("{t}/export?wait=true"), json!({"format": "csv", "compression": "zstd"}))
        .expect_error(400, "invalid_compression");
    p.post(&format!("{t}/export?wait=true"), json!({"format": "xlsx"})).expect_error(400, "invalid_request");
}

#[test]
fn changed_since_selects_rows_by_their_import_time() {
    let server = Server::start();
    let (p, t) = setup(&server);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let cut = chrono::Utc::now().to_rfc3339();
    let file_id = p.upload("p1", "more.csv", "id,status,amount\n5,new,50\n");
    p.import(&t, json!({"file_id": file_id, "incremental": true})).expect(200);
    let (_, csv) = p.export("p1", &t, json!({"query": {"columns": ["id"], "changed_since": cut}}));
    assert_eq!(String::from_utf8(csv).unwrap(), "id\n5\n");
    let (_, csv) =
        p.export("p1", &t, json!({"query": {"columns": ["id"], "changed_until": cut, "order_by": [{"column": "id"}]}}));
    assert_eq!(String::from_utf8(csv).unwrap(), "id\n1\n2\n3\n4\n");
}

#[test]
fn gzip_and_parquet_exports_read_back() {
    let server = Server::start();
    let (p, t) = setup(&server);
    let (file, gz) = p.export(
        "p1",
        &t,
        json!({"compression": "gzip", "query": {"columns": ["id"], "order_by": [{"column": "id"}]}}),
    );
    assert_eq!(file["name"], "t.csv.gz");
    let mut text = String::new();
    flate2::read::GzDecoder::new(&gz[..]).read_to_string(&mut text).unwrap();
    assert_eq!(text, "id\n1\n2\n3\n4\n");

    for codec in ["zstd", "snappy"] {
        let (file, bytes) =
            p.export("p1", &t, json!({"format": "parquet", "compression": codec, "name": "out.parquet"}));
        assert_eq!(file["content_type"], "application/vnd.apache.parquet");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.parquet");
        std::fs::write(&path, bytes).unwrap();
        let db = duckdb::Connection::open_in_memory().unwrap();
        let (n, sum, codec_used): (i64, f64, String) = db
            .query_row(
                &format!(
                    "SELECT count(*), sum(amount), (SELECT any_value(compression) FROM parquet_metadata('{0}')) FROM read_parquet('{0}')",
                    path.display()
                ),
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!((n, sum), (4, 100.0));
        assert_eq!(codec_used.to_lowercase(), codec);
    }
}
