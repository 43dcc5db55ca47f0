//! Hostile input: every case either loads every record (and says how many), or fails with
//! a 4xx that names the problem and leaves the table exactly as it was. Never a 5xx, never
//! a success that lost rows. Then a differential check: for well-formed input, what
//! duckstore stores equals what DuckDB's own reader reads with the same explicit options.

use std::io::Write;

use serde_json::{Value, json};

use crate::harness::*;

/// Table `in.c-b.t (id INTEGER key, v VARCHAR)` holding the rows 1, 2, 3.
fn setup(server: &Server) -> (Client, String) {
    let p = server.project("p1");
    create_bucket(&p, "p1", "b");
    p.post(
        &format!("{}/tables", bucket("p1", "in.c-b")),
        json!({"name": "t", "primary_key": ["id"], "columns": [
            {"name": "id", "type": "INTEGER"}, {"name": "v", "type": "VARCHAR"}]}),
    )
    .expect(201);
    let t = table("p1", "in.c-b", "t");
    p.import(&t, json!({"file_id": p.upload("p1", "seed.csv", "id,v\n1,a\n2,b\n3,c\n")})).expect(200);
    (p, t)
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

/// Imports `content` as a file named `name` (full load unless `extra` says otherwise).
fn import(p: &Client, t: &str, name: &str, content: Vec<u8>, extra: Value) -> Response {
    let file_id = p.upload("p1", name, content);
    let mut body = json!({"file_id": file_id});
    body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    p.import(t, body)
}

/// The ids and value lengths of the table's rows, in id order.
fn content(p: &Client, t: &str) -> Vec<(i64, usize)> {
    p.rows(t, "id").iter().map(|r| (r["id"].as_i64().unwrap(), r["v"].as_str().map_or(usize::MAX, str::len))).collect()
}

/// Asserts a refusal: the status is a 4xx with `code`, the message names `mentions`, holds no
/// server path, and the table is unchanged.
#[track_caller]
fn refused(p: &Client, t: &str, answer: Response, status: u16, code: &str, mentions: &[&str]) {
    let before = vec![(1, 1), (2, 1), (3, 1)];
    let message = answer.expect_error(status, code);
    for m in mentions {
        assert!(message.contains(m), "the message should mention {m:?}: {message}");
    }
    assert!(!message.contains("/tmp/") && !message.contains("/data/"), "a server path leaked: {message}");
    assert_eq!(content(p, t), before, "a refused import changed the table");
}

fn long_line(first: &[u8], bytes: usize, last: &[u8]) -> Vec<u8> {
    let mut v = first.to_vec();
    v.extend(std::iter::repeat_n(b'x', bytes));
    v.extend_from_slice(last);
    v
}

#[test]
fn long_lines_load_whole_wherever_they_are_or_fail_naming_the_limit() {
    let server = Server::start();
    let (p, t) = setup(&server);
    const MIB: usize = 1 << 20;
    // A 40 MiB last line (once dropped silently with a 200): with and without a final
    // newline, plain and gzipped.
    for (name, input) in [
        ("last.csv", long_line(b"id,v\n7,a\n8,b\n9,", 40 * MIB, b"\n")),
        ("last-unterminated.csv", long_line(b"id,v\n7,a\n8,b\n9,", 40 * MIB, b"")),
        ("last.csv.gz", gzip(&long_line(b"id,v\n7,a\n8,b\n9,", 40 * MIB, b"\n"))),
    ] {
        let job = import(&p, &t, name, input, json!({})).expect(200);
        assert_eq!(job["result"]["rows_imported"], 3, "{name}: {job}");
        assert_eq!(content(&p, &t), [(7, 1), (8, 1), (9, 40 * MIB)], "{name}");
    }
    // A 32 MiB line in the middle (once a 500 from the parallel reader).
    let mut middle = long_line(b"id,v\n1,a\n2,", 32 * MIB, b"\n");
    middle.extend_from_slice(b"3,c\n");
    let job = import(&p, &t, "middle.csv", middle, json!({})).expect(200);
    assert_eq!(job["result"]["rows_imported"], 3);
    assert_eq!(content(&p, &t), [(1, 1), (2, 32 * MIB), (3, 1)]);

    // Past the limit (64 MiB by default): refused, naming the line and the setting.
    p.import(&t, json!({"file_id": p.upload("p1", "seed.csv", "id,v\n1,a\n2,b\n3,c\n")})).expect(200);
    let huge = long_line(b"id,v\n5,", 100 * MIB, b"\n");
    refused(&p, &t, import(&p, &t, "huge.csv", huge, json!({})), 422, "line_too_long", &["line 2", "max_line_size"]);
}

#[test]
fn a_lower_line_limit_applies_to_compressed_input_as_it_streams() {
    let server = Server::start_with(&["--max-line-size", "1MiB"]);
    let (p, t) = setup(&server);
    // A gzip whose one line would be 1 GiB: refused as soon as the line passes the limit.
    let member = gzip(&long_line(b"id,v\n1,", 64 << 20, b""));
    let mut input = member.clone();
    for _ in 0..15 {
        input.extend(gzip(&vec![b'y'; 64 << 20]));
    }
    let answer = import(&p, &t, "one-line.csv.gz", input, json!({}));
    assert_eq!(answer.status, 422, "{}", answer.text);
    assert!(
        matches!(answer.body["error"]["code"].as_str(), Some("line_too_long" | "compression_bomb")),
        "{}",
        answer.text
    );
    assert_eq!(content(&p, &t), [(1, 1), (2, 1), (3, 1)]);
    refused(
        &p,
        &t,
        import(&p, &t, "two.csv", long_line(b"id,v\n4,a\n5,", 2 << 20, b"\n"), json!({})),
        422,
        "line_too_long",
        &["line 3", "1048576 bytes"],
    );
}

#[test]
fn damaged_compression_and_bombs_are_refused_and_change_nothing() {
    let server = Server::start();
    let (p, t) = setup(&server);
    let mut rows = String::from("id,v\n");
    for i in 0..200_000 {
        rows.push_str(&format!("{i},value number {i} of many\n"));
    }
    let whole = gzip(rows.as_bytes());
    // Truncated: once a 200 with about half the rows, the old table replaced.
    let truncated = whole[..whole.len() / 2].to_vec();
    refused(&p, &t, import(&p, &t, "cut.csv.gz", truncated, json!({})), 422, "corrupt_compression", &["truncated"]);
    // Corrupt: bytes flipped in the middle of the stream.
    let mut corrupt = whole.clone();
    let mid = corrupt.len() / 2;
    for b in &mut corrupt[mid..mid + 64] {
        *b ^= 0x5a;
    }
    refused(&p, &t, import(&p, &t, "bad.csv.gz", corrupt, json!({})), 422, "corrupt_compression", &[]);
    // A bomb: ~10 MB expanding to 10 GiB of rows (concatenated gzip members).
    let member = {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&b"1,x\n".repeat(16 << 20)).unwrap();
        gz.finish().unwrap()
    };
    let mut bomb = gzip(b"id,v\n");
    for _ in 0..160 {
        bomb.extend_from_slice(&member);
    }
    assert!(bomb.len() < 12 << 20, "the bomb should be ~10 MB: {}", bomb.len());
    refused(
        &p,
        &t,
        import(&p, &t, "bomb.csv.gz", bomb, json!({})),
        422,
        "compression_bomb",
        &["max_compression_ratio"],
    );
    // Past the configured expanded size, however modestly compressed.
    let small = Server::start_with(&["--max-decompressed-size", "64MiB"]);
    let (q, small_t) = setup(&small);
    let mut big = String::from("id,v\n");
    let mut x: u64 = 1;
    while big.len() < 80 << 20 {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        big.push_str(&format!("{},{:x}{:x}\n", big.len(), x, x.rotate_left(17)));
    }
    refused(
        &q,
        &small_t,
        import(&q, &small_t, "big.csv.gz", gzip(big.as_bytes()), json!({})),
        413,
        "decompressed_too_large",
        &["max_decompressed_bytes"],
    );
    // The intact file loads, every row counted.
    let job = import(&p, &t, "whole.csv.gz", whole, json!({})).expect(200);
    assert_eq!(job["result"]["rows_imported"], 200_000);
    assert_eq!(p.get(&t).expect(200)["row_count"], 200_000);
}

#[test]
fn malformed_text_is_refused_naming_its_line() {
    let server = Server::start();
    let (p, t) = setup(&server);
    let cases: [(&str, &[u8], &str, &[&str]); 8] = [
        ("utf8.csv", b"id,v\n4,ok\n5,caf\xe9\n", "invalid_utf8", &["line 3", "UTF-8"]),
        ("nul.csv", b"id,v\n4,a\x00b\n", "nul_byte", &["line 2", "NUL"]),
        ("quote.csv", b"id,v\n4,ok\n5,\"open\n6,x\n", "unterminated_quote", &["line 3"]),
        ("endings.csv", b"id,v\r\n4,a\r\n5,b\n", "mixed_line_endings", &["line 3"]),
        ("width.csv", b"id,v\n4,a,extra\n", "invalid_csv", &["line 2"]),
        ("type.csv", b"id,v\n4,a\nfive,b\n", "invalid_value", &["line 3", "\"id\""]),
        ("empty.csv", b"", "invalid_csv", &["empty"]),
        // A blank line where the header belongs: not read as the header.
        ("late-header.csv", b"\nid,v\n4,a\n", "invalid_csv", &["line 1", "header"]),
    ];
    for (name, input, code, mentions) in cases {
        refused(&p, &t, import(&p, &t, name, input.to_vec(), json!({})), 422, code, mentions);
        // The same input refused by an incremental load too.
        refused(&p, &t, import(&p, &t, name, input.to_vec(), json!({"incremental": true})), 422, code, mentions);
    }
    // Broken Parquet: a clean 4xx without the server's paths or SQL.
    let answer = import(&p, &t, "broken.parquet", b"PAR1 not really parquet PAR1".to_vec(), json!({}));
    assert_eq!(answer.status, 422, "{}", answer.text);
    let message = answer.body["error"]["message"].as_str().unwrap();
    assert!(!message.contains('/') && !message.contains("SELECT"), "{message}");
}

#[test]
fn well_formed_oddities_load_every_record() {
    let server = Server::start();
    let (p, t) = setup(&server);
    type Case = (&'static str, &'static [u8], Vec<(i64, usize)>);
    let cases: [Case; 6] = [
        ("bom.csv", b"\xef\xbb\xbfid,v\n4,a\n", vec![(4, 1)]),
        ("crlf.csv", b"id,v\r\n4,a\r\n5,\"b\r\nc\"\r\n", vec![(4, 1), (5, 4)]),
        ("cr.csv", b"id,v\r4,a\r5,bb\r", vec![(4, 1), (5, 2)]),
        ("blank-lines.csv", b"id,v\n\n4,a\n\n\n5,b\n\n", vec![(4, 1), (5, 1)]),
        ("header-only.csv", b"id,v\n", vec![]),
        ("quoted.csv", b"id,v\n4,\"a,\"\"b\"\"\nc\"\n", vec![(4, 7)]),
    ];
    for (name, input, expected) in cases {
        let job = import(&p, &t, name, input.to_vec(), json!({})).expect(200);
        assert_eq!(job["result"]["rows_imported"], expected.len(), "{name}: {job}");
        assert_eq!(content(&p, &t), expected, "{name}");
    }
    // One column: a blank line is a NULL value (as DuckDB reads it), counted as a record.
    p.post(
        &format!("{}/tables", bucket("p1", "in.c-b")),
        json!({"name": "one", "columns": [{"name": "v", "type": "VARCHAR"}]}),
    )
    .expect(201);
    let one = table("p1", "in.c-b", "one");
    let job = import(&p, &one, "one.csv", b"v\na\n\nb\n".to_vec(), json!({})).expect(200);
    assert_eq!(job["result"]["rows_imported"], 3, "{job}");
    let values: Vec<Value> = p.rows(&one, "v").iter().map(|r| r["v"].clone()).collect();
    assert_eq!(values.len(), 3);
    assert!(values.contains(&Value::Null), "{values:?}");

    // 2,000 columns (the most a table may have): a table is made from the header and every
    // value arrives; 10,000 are refused up front, not half-way through with an out-of-memory.
    let wide = |n: usize| {
        let header: Vec<String> = (0..n).map(|i| format!("c{i}")).collect();
        let row: Vec<String> = (0..n).map(|i| i.to_string()).collect();
        format!("{}\n{}\n{}\n", header.join(","), row.join(","), row.join(","))
    };
    let from_file = format!("{}/tables-from-file?wait=true", bucket("p1", "in.c-b"));
    let file = p.upload("p1", "wide.csv", wide(2_000));
    let job = p.post(&from_file, json!({"name": "wide", "file_id": file})).expect(200);
    assert_eq!(job["result"]["import"]["rows_imported"], 2, "{job}");
    let table_json = p.get(&table("p1", "in.c-b", "wide")).expect(200);
    assert_eq!(table_json["columns"].as_array().unwrap().len(), 2_000);
    assert_eq!(table_json["row_count"], 2);
    let file = p.upload("p1", "wider.csv", wide(10_000));
    let message = p.post(&from_file, json!({"name": "wider", "file_id": file})).expect_error(400, "too_many_columns");
    assert!(message.contains("2000"), "{message}");
    p.get(&table("p1", "in.c-b", "wider")).expect_error(404, "table_not_found");
}

/// What duckstore stores equals what DuckDB's own reader reads from the same file with the
/// same explicit options: compared as multisets of rows, through a Parquet export.
#[test]
fn stored_rows_equal_what_duckdb_reads_from_the_same_file() {
    let server = Server::start();
    let p = server.project("p1");
    create_bucket(&p, "p1", "b");
    let dir = tempfile::tempdir().unwrap();
    let mut x: u64 = 7;
    let mut next = move || {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        x >> 33
    };
    let pieces = ["plain", "with,comma", "with \"quotes\"", "two\nlines", "Příliš 🐴", "", " padded ", "tab\there"];
    let dialects = [(",", "\"", "", "\n"), (";", "\"", "", "\r\n"), ("\t", "\"", "", "\n"), ("|", "'", "\\", "\n")];
    for (n, (delimiter, quote, escape, newline)) in dialects.iter().enumerate() {
        let mut csv = format!("id{delimiter}a{delimiter}b{newline}");
        for id in 0..5_000 {
            let field = |next: &mut dyn FnMut() -> u64| {
                let piece = pieces[(next() % pieces.len() as u64) as usize];
                let doubled = if escape.is_empty() {
                    piece.replace(quote, &format!("{quote}{quote}"))
                } else {
                    piece.replace(escape, &format!("{escape}{escape}")).replace(quote, &format!("{escape}{quote}"))
                };
                format!("{quote}{doubled}{quote}")
            };
            let (a, b) = (field(&mut next), field(&mut next));
            csv.push_str(&format!("{id}{delimiter}{a}{delimiter}{b}{newline}"));
        }
        let name = format!("d{n}");
        p.post(
            &format!("{}/tables", bucket("p1", "in.c-b")),
            json!({"name": name, "columns": [
                {"name": "id", "type": "INTEGER"}, {"name": "a", "type": "VARCHAR"}, {"name": "b", "type": "VARCHAR"}]}),
        )
        .expect(201);
        let t = table("p1", "in.c-b", &name);
        let options = json!({"delimiter": delimiter, "enclosure": quote, "escaped_by": escape});
        let job = p.import(&t, json!({"file_id": p.upload("p1", "d.csv", csv.clone()), "csv": options})).expect(200);
        assert_eq!(job["result"]["rows_imported"], 5_000, "{name}");
        let (_, parquet) = p.export("p1", &t, json!({"format": "parquet"}));
        let (source, stored) = (dir.path().join(format!("{name}.csv")), dir.path().join(format!("{name}.parquet")));
        std::fs::write(&source, &csv).unwrap();
        std::fs::write(&stored, parquet).unwrap();
        let db = duckdb::Connection::open_in_memory().unwrap();
        let reader = format!(
            "read_csv('{}', header = true, auto_detect = false, delim = '{}', quote = '{}', escape = '{}', \
             strict_mode = true, allow_quoted_nulls = false, \
             columns = {{'id': 'INTEGER', 'a': 'VARCHAR', 'b': 'VARCHAR'}})",
            source.display(),
            delimiter.replace('\'', "''"),
            quote.replace('\'', "''"),
            if escape.is_empty() { quote.replace('\'', "''") } else { escape.to_string() },
        );
        let stored = format!("read_parquet('{}')", stored.display());
        let differ: i64 = db
            .query_row(
                &format!(
                    "SELECT (SELECT count(*) FROM (SELECT id, a, b FROM {reader} EXCEPT ALL SELECT id, a, b FROM {stored})) + \
                     (SELECT count(*) FROM (SELECT id, a, b FROM {stored} EXCEPT ALL SELECT id, a, b FROM {reader}))"
                ),
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(differ, 0, "dialect {n}: stored rows differ from what DuckDB reads");
    }
}
