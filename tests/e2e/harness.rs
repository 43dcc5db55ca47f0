//! Starting real `duckstore` servers and talking to them over HTTP.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

pub const ADMIN_KEY: &str = "test-admin-key-0123456789";

/// A running server on a free port with its own data directory.
pub struct Server {
    child: Child,
    pub url: String,
    /// The PostgreSQL wire server's port.
    pub pg_port: u16,
    /// Lines the server printed on stdout before it was ready.
    pub banner: Vec<String>,
    data: PathBuf,
    _tmp: Option<tempfile::TempDir>,
}

impl Server {
    /// A fresh server on a new temporary data directory.
    pub fn start() -> Self {
        let tmp = tempfile::tempdir().expect("temp dir");
        let mut s = Self::start_in(&tmp.path().join("data"), Some(ADMIN_KEY));
        s._tmp = Some(tmp);
        s
    }

    /// A fresh server with extra `serve` flags.
    pub fn start_with(args: &[&str]) -> Self {
        let tmp = tempfile::tempdir().expect("temp dir");
        let mut s = Self::launch(&tmp.path().join("data"), Some(ADMIN_KEY), args);
        s._tmp = Some(tmp);
        s
    }

    /// A server on `data` with the test admin key and extra `serve` flags.
    pub fn launch_in(data: &Path, args: &[&str]) -> Self {
        Self::launch(data, Some(ADMIN_KEY), args)
    }

    /// A server on `data`, with the admin key given (or none: the server generates one).
    pub fn start_in(data: &Path, admin_key: Option<&str>) -> Self {
        Self::launch(data, admin_key, &[])
    }

    fn launch(data: &Path, admin_key: Option<&str>, args: &[&str]) -> Self {
        std::fs::create_dir_all(data).expect("data dir");
        let log = std::fs::File::create(data.with_extension("log")).expect("log file");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_duckstore"));
        cmd.args(["serve", "--data-dir"])
            .arg(data)
            .args(["--http-addr", "127.0.0.1:0", "--pg-addr", "127.0.0.1:0", "--threads", "2", "--memory-limit", "1GB"])
            // Compiled plugins are cached by content hash: every test server shares one cache.
            .arg("--plugin-cache-dir")
            .arg(Path::new(env!("CARGO_TARGET_TMPDIR")).join("plugin-cache"))
            .args(args)
            .env_remove("DUCKSTORE_ADMIN_KEY")
            .env_remove("DUCKSTORE_PG_REQUIRE_TLS")
            // Two attached table files at most: every test also runs with idle table files
            // detached and attached again (a test's own flag overrides it).
            .env("DUCKSTORE_MAX_ATTACHED_TABLES", "2")
            // A host clock away from UTC: answers must not depend on where the server runs.
            .env("TZ", "America/New_York")
            .stdout(Stdio::piped())
            .stderr(log);
        if let Some(key) = admin_key {
            cmd.env("DUCKSTORE_ADMIN_KEY", key);
        }
        // Most tests talk plaintext to the wire server (tokio-postgres without a TLS stack);
        // tests of the TLS requirement pass --pg-require-tls themselves.
        if !args.iter().any(|a| a.starts_with("--pg-require-tls")) {
            cmd.env("DUCKSTORE_PG_REQUIRE_TLS", "false");
        }
        let mut child = cmd.spawn().expect("start duckstore");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut banner = Vec::new();
        let (mut url, mut pg_port) = (None, None);
        while url.is_none() || pg_port.is_none() {
            match rx.recv_timeout(Duration::from_secs(30)) {
                Ok(line) => match line.strip_prefix("duckstore listening on ") {
                    Some(pg) if pg.starts_with("postgresql://") => {
                        pg_port = pg.rsplit(':').next().and_then(|p| p.parse().ok());
                    }
                    Some(http) => url = Some(http.to_owned()),
                    None => banner.push(line),
                },
                Err(_) => {
                    let _ = child.kill();
                    panic!("duckstore did not start:\n{}", read_log(data));
                }
            }
        }
        let (url, pg_port) = (url.expect("set"), pg_port.expect("set"));
        Self { child, url, pg_port, banner, data: data.to_owned(), _tmp: None }
    }

    pub fn data_dir(&self) -> &Path {
        &self.data
    }

    /// Kills the server with SIGKILL, as a crash would.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stops the server with SIGTERM (a clean shutdown) and waits for it.
    pub fn stop(mut self) {
        // SAFETY: sending a signal to our own child process.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let status = self.child.wait().expect("wait for duckstore");
        assert!(status.success(), "duckstore exited with {status}:\n{}", read_log(&self.data));
    }

    pub fn admin(&self) -> Client {
        self.client(Some(ADMIN_KEY))
    }

    pub fn client(&self, key: Option<&str>) -> Client {
        Client { base: self.url.clone(), key: key.map(str::to_owned), http: reqwest::blocking::Client::new() }
    }

    /// Creates a project (as admin) and returns a client holding its project_admin key.
    pub fn project(&self, id: &str) -> Client {
        let created = self.admin().post("/projects", json!({"id": id})).expect(201);
        self.client(Some(created["api_key"].as_str().expect("api_key")))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- duckstore log ---\n{}", read_log(&self.data));
        }
    }
}

fn read_log(data: &Path) -> String {
    std::fs::read_to_string(data.with_extension("log")).unwrap_or_default()
}

/// An HTTP client bound to one server and (optionally) one API key.
#[derive(Clone)]
pub struct Client {
    base: String,
    key: Option<String>,
    http: reqwest::blocking::Client,
}

pub struct Response {
    pub status: u16,
    pub body: Value,
    pub text: String,
}

impl Response {
    /// Asserts the status and returns the JSON body.
    #[track_caller]
    pub fn expect(self, status: u16) -> Value {
        assert_eq!(self.status, status, "unexpected status; body: {}", self.text);
        self.body
    }

    /// Asserts the status and the error code; returns the message.
    #[track_caller]
    pub fn expect_error(self, status: u16, code: &str) -> String {
        assert_eq!(self.status, status, "unexpected status; body: {}", self.text);
        assert_eq!(self.body["error"]["code"], code, "unexpected error code; body: {}", self.text);
        self.body["error"]["message"].as_str().expect("error message").to_owned()
    }
}

impl Client {
    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    pub fn with_key(&self, key: &str) -> Client {
        Client { key: Some(key.to_owned()), ..self.clone() }
    }

    pub fn send(&self, method: &str, path: &str, body: Option<Value>) -> Response {
        self.try_send(method, path, body).expect("HTTP request")
    }

    /// Like [`Self::send`], but `None` when the connection fails (a server killed mid-request).
    pub fn try_send(&self, method: &str, path: &str, body: Option<Value>) -> Option<Response> {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(key) = &self.key {
            req = req.bearer_auth(key);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().ok()?;
        let status = resp.status().as_u16();
        let text = resp.text().ok()?;
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Some(Response { status, body, text })
    }

    pub fn get(&self, path: &str) -> Response {
        self.send("GET", path, None)
    }

    pub fn post(&self, path: &str, body: Value) -> Response {
        self.send("POST", path, Some(body))
    }

    pub fn put(&self, path: &str, body: Value) -> Response {
        self.send("PUT", path, Some(body))
    }

    pub fn delete(&self, path: &str) -> Response {
        self.send("DELETE", path, None)
    }

    /// Sends a raw body (an upload).
    pub fn send_bytes(&self, method: &str, path: &str, body: Vec<u8>, headers: &[(&str, &str)]) -> Response {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.http.request(method, format!("{}{path}", self.base)).body(body);
        if let Some(key) = &self.key {
            req = req.bearer_auth(key);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().expect("HTTP request");
        let status = resp.status().as_u16();
        let text = resp.text().expect("response body");
        Response { status, body: serde_json::from_str(&text).unwrap_or(Value::Null), text }
    }

    /// Raw GET, for downloads: status, headers and body bytes.
    pub fn get_raw(&self, path: &str, headers: &[(&str, &str)]) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
        let mut req = self.http.get(format!("{}{path}", self.base));
        if let Some(key) = &self.key {
            req = req.bearer_auth(key);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().expect("HTTP request");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        (status, headers, resp.bytes().expect("body").to_vec())
    }

    /// Uploads `content` as a registered file of `project`; returns its id.
    pub fn upload(&self, project: &str, name: &str, content: impl Into<Vec<u8>>) -> String {
        let path = format!("/projects/{project}/files/upload?name={name}");
        let file = self.send_bytes("POST", &path, content.into(), &[]).expect(201);
        file["id"].as_str().expect("file id").to_owned()
    }

    /// Imports into a table and waits; returns the response (the finished job, or the error).
    pub fn import(&self, table_path: &str, request: Value) -> Response {
        self.post(&format!("{table_path}/import?wait=true"), request)
    }

    /// All rows of a table via preview, ordered by `order`, as JSON objects.
    pub fn rows(&self, table_path: &str, order: &str) -> Vec<Value> {
        let preview = self.get(&format!("{table_path}/preview?limit=10000&order_by={order}")).expect(200);
        preview["rows"].as_array().expect("rows").clone()
    }

    /// Exports a table and downloads the file; returns the file record and its bytes.
    pub fn export(&self, project: &str, table_path: &str, request: Value) -> (Value, Vec<u8>) {
        let job = self.post(&format!("{table_path}/export?wait=true"), request).expect(200);
        let file = job["result"]["file"].clone();
        let (status, _, bytes) =
            self.get_raw(&format!("/projects/{project}/files/{}/download", file["id"].as_str().unwrap()), &[]);
        assert_eq!(status, 200);
        (file, bytes)
    }
}

/// Paths under a project's main branch.
pub fn branch(project: &str) -> String {
    format!("/projects/{project}/branches/default")
}

pub fn bucket(project: &str, bucket: &str) -> String {
    format!("{}/buckets/{bucket}", branch(project))
}

pub fn table(project: &str, bucket_id: &str, table: &str) -> String {
    format!("{}/tables/{table}", bucket(project, bucket_id))
}

/// Creates bucket `in.c-<name>` in `project`.
pub fn create_bucket(c: &Client, project: &str, name: &str) {
    c.post(&format!("{}/buckets", branch(project)), json!({"stage": "in", "name": name})).expect(201);
}

/// Creates a table with an integer `id` key and a `name` string column.
pub fn create_table(c: &Client, project: &str, bucket_id: &str, name: &str) -> Value {
    c.post(
        &format!("{}/tables", bucket(project, bucket_id)),
        json!({"name": name, "columns": [{"name": "id", "type": "INTEGER"}, {"name": "name", "type": "VARCHAR"}],
               "primary_key": ["id"]}),
    )
    .expect(201)
}

/// Every file under `dir` with its size: a cheap fingerprint of "nothing changed on disk".
pub fn disk_listing(dir: &Path) -> Vec<(PathBuf, u64)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_none_or(|x| x != "wal") {
                out.push((
                    p.strip_prefix(dir).expect("under dir").to_owned(),
                    e.metadata().map(|m| m.len()).unwrap_or(0),
                ));
            }
        }
    }
    out.sort();
    out
}

/// A private PostgreSQL 15 server in a temporary directory, for differential tests; stopped
/// when dropped. As root it runs as the `postgres` user (initdb refuses root).
pub struct Postgres {
    pub port: u16,
    dir: tempfile::TempDir,
    as_postgres: bool,
}

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

impl Postgres {
    pub fn start() -> Self {
        assert!(
            Path::new(PG_BIN).join("postgres").exists(),
            "PostgreSQL 15 is not installed: run scripts/setup (it installs the postgresql-15 package)"
        );
        let dir = tempfile::tempdir().expect("temp dir");
        // SAFETY: geteuid has no preconditions and cannot fail.
        let as_postgres = unsafe { libc::geteuid() } == 0;
        if as_postgres {
            let status = Command::new("chown").args(["-R", "postgres"]).arg(dir.path()).status().expect("chown");
            assert!(status.success(), "chown the PostgreSQL directory");
        }
        let port = free_port();
        let pg = Self { port, dir, as_postgres };
        let data = pg.dir.path().join("db");
        pg.run(
            &format!("{PG_BIN}/initdb"),
            &["-D", &data.to_string_lossy(), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C"],
        );
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c TimeZone=UTC",
            pg.dir.path().display()
        );
        let log = pg.dir.path().join("log");
        pg.run(
            &format!("{PG_BIN}/pg_ctl"),
            &["-D", &data.to_string_lossy(), "-o", &options, "-l", &log.to_string_lossy(), "-w", "start"],
        );
        pg
    }

    fn run(&self, program: &str, args: &[&str]) {
        let output = if self.as_postgres {
            Command::new("runuser").args(["-u", "postgres", "--", program]).args(args).output()
        } else {
            Command::new(program).args(args).output()
        }
        .expect("run a PostgreSQL program");
        assert!(
            output.status.success(),
            "{program} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// libpq connection string for the superuser's default database.
    pub fn conninfo(&self) -> String {
        format!("host=127.0.0.1 port={} user=postgres dbname=postgres sslmode=disable", self.port)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.dir.path().join("db");
        let stop = |program: &str, args: &[&str]| {
            if self.as_postgres {
                Command::new("runuser").args(["-u", "postgres", "--", program]).args(args).output()
            } else {
                Command::new(program).args(args).output()
            }
        };
        let _ = stop(&format!("{PG_BIN}/pg_ctl"), &["-D", &data.to_string_lossy(), "-m", "immediate", "stop"]);
    }
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}
