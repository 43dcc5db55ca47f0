//! Every route × every kind of caller → the right status.
//!
//! The route list is checked against the server's OpenAPI document, so a new endpoint
//! fails this test until its access rules are written down here.

use std::collections::{BTreeSet, HashMap};

use serde_json::{Value, json};

use crate::harness::*;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Who {
    Nobody,
    WrongKey,
    OtherProject,
    BranchRead,
    ProjectAdmin,
    Admin,
}

const EVERYONE: [Who; 6] =
    [Who::Nobody, Who::WrongKey, Who::OtherProject, Who::BranchRead, Who::ProjectAdmin, Who::Admin];

/// Who may call a route.
#[derive(Clone, Copy, Debug)]
enum Rule {
    /// No key needed.
    Public,
    /// Any valid key (the answer is scoped to the caller).
    AnyKey,
    /// Keys of the project (any scope on the branch).
    Read,
    /// Keys of the project that may write on the branch.
    Write,
    /// project_admin keys of the project.
    Manage,
    /// Only the admin key.
    Admin,
}

/// What a route needs to exist before each call, created fresh per call.
#[derive(Clone, Copy)]
enum Fresh {
    Nothing,
    Project,
    Bucket,
    Table,
    Key,
    /// A prepared upload session (`{upload_key}`).
    Upload,
    /// An upload session with content, ready to register (`{upload_key}`).
    UploadWithContent,
    /// A registered file (`{file_id}`).
    File,
    /// An extra column `d{n}` on the fixture table.
    Column,
    /// A dev branch `{branch_id}`.
    Branch,
    /// A main table `{table_name}` that branch `dev` has its own copy of.
    DevCopy,
    /// A share of the fixture bucket with p2.
    Share,
    /// Bucket `{bucket_id}` of p1 linked to p2's shared bucket.
    Link,
    /// A snapshot of the fixture table (`{snapshot_id}`).
    Snapshot,
    /// A workspace (`{workspace_id}`).
    Workspace,
    /// A table `{object}` in the fixture workspace.
    WorkspaceTable,
}

struct Route {
    method: &'static str,
    template: &'static str,
    /// Path parameter values differing from the fixture defaults; `{n}` is unique per call.
    params: &'static [(&'static str, &'static str)],
    /// A query string appended to the path.
    query: &'static str,
    body: Option<Value>,
    rule: Rule,
    fresh: Fresh,
    ok: u16,
}

fn route(method: &'static str, template: &'static str, rule: Rule, ok: u16) -> Route {
    Route { method, template, params: &[], query: "", body: None, rule, fresh: Fresh::Nothing, ok }
}

impl Route {
    fn body(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }

    fn query(mut self, query: &'static str) -> Self {
        self.query = query;
        self
    }

    fn fresh(mut self, fresh: Fresh, params: &'static [(&'static str, &'static str)]) -> Self {
        self.fresh = fresh;
        self.params = params;
        self
    }
}

const P: &str = "/projects/{project_id}";
const BUCKETS: &str = "/projects/{project_id}/branches/{branch_id}/buckets";
const T: &str = "/projects/{project_id}/branches/{branch_id}/buckets/{bucket_id}/tables/{table_name}";
const FILES: &str = "/projects/{project_id}/files";

/// A route under the fixture table `T`.
fn table_route(method: &'static str, suffix: &str, rule: Rule, ok: u16) -> Route {
    route(method, Box::leak(format!("{T}{suffix}").into_boxed_str()), rule, ok)
}

fn routes() -> Vec<Route> {
    use Rule::*;
    let table_def = json!({"name": "t{n}", "columns": [{"name": "a", "type": "int"}]});
    vec![
        route("GET", "/", Public, 200),
        route("GET", "/health", Public, 200),
        route("GET", "/ready", Public, 200),
        route("GET", "/metrics", Public, 200),
        route("GET", "/openapi.json", Public, 200),
        route("GET", "/projects", AnyKey, 200),
        route("POST", "/projects", Admin, 201).body(json!({"id": "new{n}"})),
        route("GET", P, Read, 200),
        route("PUT", P, Manage, 200).body(json!({"name": "renamed"})),
        route("DELETE", P, Admin, 204).fresh(Fresh::Project, &[("project_id", "del{n}")]),
        route("GET", "/projects/{project_id}/stats", Read, 200),
        route("POST", "/projects/{project_id}/api-keys", Manage, 201).body(json!({"description": "k"})),
        route("GET", "/projects/{project_id}/api-keys", Manage, 200),
        route("GET", "/projects/{project_id}/api-keys/{key_id}", Manage, 200),
        route("DELETE", "/projects/{project_id}/api-keys/{key_id}", Manage, 204).fresh(Fresh::Key, &[]),
        route("POST", "/projects/{project_id}/api-keys/{key_id}/rotate", Manage, 201)
            .fresh(Fresh::Key, &[])
            .body(json!({})),
        route("GET", "/projects/{project_id}/branches", Read, 200),
        route("GET", "/projects/{project_id}/branches/{branch_id}", Read, 200),
        route("GET", BUCKETS, Read, 200),
        route("POST", BUCKETS, Write, 201).body(json!({"stage": "in", "name": "b{n}"})),
        route("GET", "/projects/{project_id}/branches/{branch_id}/buckets/{bucket_id}", Read, 200),
        route("DELETE", "/projects/{project_id}/branches/{branch_id}/buckets/{bucket_id}", Write, 204)
            .fresh(Fresh::Bucket, &[("bucket_id", "in.c-del{n}")]),
        route("GET", "/projects/{project_id}/branches/{branch_id}/buckets/{bucket_id}/tables", Read, 200),
        route("POST", "/projects/{project_id}/branches/{branch_id}/buckets/{bucket_id}/tables", Write, 201)
            .body(table_def),
        route("GET", "/projects/{project_id}/branches/{branch_id}/buckets/{bucket_id}/tables/{table_name}", Read, 200),
        route(
            "DELETE",
            "/projects/{project_id}/branches/{branch_id}/buckets/{bucket_id}/tables/{table_name}",
            Write,
            204,
        )
        .fresh(Fresh::Table, &[("table_name", "del{n}")]),
        route(
            "GET",
            "/projects/{project_id}/branches/{branch_id}/buckets/{bucket_id}/tables/{table_name}/preview",
            Read,
            200,
        ),
        route(
            "POST",
            "/projects/{project_id}/branches/{branch_id}/buckets/{bucket_id}/tables/{table_name}/preview",
            Read,
            200,
        )
        .body(json!({"limit": 5})),
        table_route("POST", "/columns", Write, 201).body(json!({"name": "c{n}", "type": "int"})),
        table_route("PUT", "/columns/{column_name}", Write, 200).body(json!({"nullable": true})),
        table_route("DELETE", "/columns/{column_name}", Write, 200).fresh(Fresh::Column, &[("column_name", "d{n}")]),
        table_route("POST", "/primary-key", Write, 200).body(json!({"columns": ["id"]})),
        table_route("DELETE", "/primary-key", Write, 200),
        table_route("POST", "/import", Write, 202).body(json!({"file_id": "{file_id}"})),
        table_route("POST", "/export", Read, 202).body(json!({})),
        table_route("POST", "/profile", Read, 202),
        table_route("GET", "/profile", Read, 200),
        table_route("DELETE", "/rows", Write, 200)
            .body(json!({"filters": [{"column": "id", "operator": "eq", "values": [-1]}]})),
        route("POST", "/projects/{project_id}/branches/{branch_id}/buckets/{bucket_id}/tables-from-file", Write, 202)
            .body(json!({"name": "ff{n}", "file_id": "{file_id}"})),
        route("GET", FILES, Read, 200),
        route("POST", FILES, Write, 201)
            .fresh(Fresh::UploadWithContent, &[])
            .body(json!({"upload_key": "{upload_key}"})),
        route("POST", "/projects/{project_id}/files/prepare", Write, 201).body(json!({"name": "x.csv"})),
        route("POST", "/projects/{project_id}/files/upload", Write, 201)
            .query("?name=direct.csv")
            .body(json!({"a": 1})),
        route("PUT", "/projects/{project_id}/files/upload/{upload_key}", Write, 200)
            .fresh(Fresh::Upload, &[])
            .body(json!({"a": 1})),
        route("POST", "/projects/{project_id}/files/upload/{upload_key}", Write, 200)
            .fresh(Fresh::Upload, &[])
            .body(json!({"a": 1})),
        route("GET", "/projects/{project_id}/files/{file_id}", Read, 200),
        route("DELETE", "/projects/{project_id}/files/{file_id}", Write, 204).fresh(Fresh::File, &[]),
        route("GET", "/projects/{project_id}/files/{file_id}/download", Read, 200),
        route("PUT", "/projects/{project_id}/files/{file_id}/tags", Write, 200).body(json!({"tags": ["t"]})),
        route("GET", "/projects/{project_id}/jobs", Read, 200),
        route("GET", "/projects/{project_id}/jobs/{job_id}", Read, 200),
        // The fixture's job has ended: authorized callers learn that, others are refused first.
        route("POST", "/projects/{project_id}/jobs/{job_id}/cancel", Write, 409),
        table_route("POST", "/truncate", Write, 200),
        route("POST", "/projects/{project_id}/branches", Manage, 201).body(json!({"name": "br{n}"})),
        route("DELETE", "/projects/{project_id}/branches/{branch_id}", Manage, 204)
            .fresh(Fresh::Branch, &[("branch_id", "del{n}")]),
        route("POST", "/projects/{project_id}/branches/{branch_id}/tables/{bucket_id}/{table_name}/pull", Write, 200)
            .fresh(Fresh::Nothing, &[("branch_id", "dev")]),
        route("POST", "/projects/{project_id}/branches/{branch_id}/tables/{bucket_id}/{table_name}/merge", Write, 200)
            .fresh(Fresh::DevCopy, &[("branch_id", "dev"), ("table_name", "mt{n}")]),
        route("POST", "/projects/{project_id}/branches/{branch_id}/buckets/{bucket_id}/share", Manage, 200)
            .body(json!({"target_project_id": "p2"})),
        route("DELETE", "/projects/{project_id}/branches/{branch_id}/buckets/{bucket_id}/share", Manage, 200)
            .fresh(Fresh::Share, &[]),
        route("POST", "/projects/{project_id}/branches/{branch_id}/buckets/{bucket_id}/link", Manage, 201)
            .fresh(Fresh::Nothing, &[("bucket_id", "in.c-link{n}")])
            .body(json!({"project_id": "p2", "bucket_id": "in.c-pub"})),
        route("DELETE", "/projects/{project_id}/branches/{branch_id}/buckets/{bucket_id}/link", Manage, 204)
            .fresh(Fresh::Link, &[("bucket_id", "in.c-ln{n}")]),
        route("POST", SNAPSHOTS, Write, 202).body(json!({"bucket_id": "in.c-main", "table_name": "t"})),
        route("GET", SNAPSHOTS, Read, 200),
        route("GET", "/projects/{project_id}/branches/{branch_id}/snapshots/{snapshot_id}", Read, 200),
        route("DELETE", "/projects/{project_id}/branches/{branch_id}/snapshots/{snapshot_id}", Write, 204)
            .fresh(Fresh::Snapshot, &[]),
        route("POST", "/projects/{project_id}/branches/{branch_id}/snapshots/{snapshot_id}/restore", Write, 202)
            .body(json!({"target_table_name": "rs{n}"})),
        route("GET", "/projects/{project_id}/settings/snapshots", Read, 200),
        route("PUT", "/projects/{project_id}/settings/snapshots", Manage, 200).body(json!({"enabled": true})),
        route("DELETE", "/projects/{project_id}/settings/snapshots", Manage, 204),
        route("GET", "/projects/{project_id}/branches/{branch_id}/buckets/{bucket_id}/settings/snapshots", Read, 200),
        route("PUT", "/projects/{project_id}/branches/{branch_id}/buckets/{bucket_id}/settings/snapshots", Manage, 200)
            .body(json!({"enabled": true})),
        route(
            "DELETE",
            "/projects/{project_id}/branches/{branch_id}/buckets/{bucket_id}/settings/snapshots",
            Manage,
            204,
        ),
        table_route("GET", "/settings/snapshots", Read, 200),
        table_route("PUT", "/settings/snapshots", Manage, 200).body(json!({"enabled": true})),
        table_route("DELETE", "/settings/snapshots", Manage, 204),
        route("POST", WORKSPACES, Write, 201).body(json!({"name": "w{n}"})),
        route("GET", WORKSPACES, Read, 200),
        route("GET", WORKSPACE, Read, 200),
        route("DELETE", WORKSPACE, Write, 204).fresh(Fresh::Workspace, &[]),
        route("POST", "/projects/{project_id}/branches/{branch_id}/workspaces/{workspace_id}/clear", Write, 200),
        route(
            "DELETE",
            "/projects/{project_id}/branches/{branch_id}/workspaces/{workspace_id}/objects/{object}",
            Write,
            204,
        )
        .fresh(Fresh::WorkspaceTable, &[("object", "o{n}")]),
        route(
            "POST",
            "/projects/{project_id}/branches/{branch_id}/workspaces/{workspace_id}/reset-password",
            Write,
            200,
        ),
        route("POST", "/projects/{project_id}/branches/{branch_id}/workspaces/{workspace_id}/load", Write, 200)
            .body(json!({"tables": [{"bucket_id": "in.c-main", "table_name": "t"}]})),
        route("GET", "/projects/{project_id}/events", Manage, 200),
        route("GET", "/events", Admin, 200),
        route("GET", "/plugins", Admin, 200),
        // A JSON body is not a plugin: refused after the admin check.
        route("POST", "/plugins", Admin, 400).body(json!({})),
        route("GET", "/plugins/{name}", Admin, 200),
        // Built-in plugins cannot be removed, only disabled.
        route("DELETE", "/plugins/{name}", Admin, 400),
        route("POST", "/plugins/{name}/disable", Admin, 200),
        route("POST", "/plugins/{name}/enable", Admin, 200),
        route("POST", "/plugins/{name}/reload", Admin, 200),
    ]
}

const SNAPSHOTS: &str = "/projects/{project_id}/branches/{branch_id}/snapshots";
const WORKSPACES: &str = "/projects/{project_id}/branches/{branch_id}/workspaces";
const WORKSPACE: &str = "/projects/{project_id}/branches/{branch_id}/workspaces/{workspace_id}";

fn expected(rule: Rule, who: Who, ok: u16) -> u16 {
    use Who::*;
    match (rule, who) {
        (Rule::Public, _) => ok,
        (_, Nobody | WrongKey) => 401,
        (Rule::AnyKey, _) | (_, Admin) => ok,
        (Rule::Admin, _) => 403,
        (_, ProjectAdmin) => ok,
        (_, OtherProject) => 403,
        (Rule::Read, BranchRead) => ok,
        (_, BranchRead) => 403,
    }
}

#[test]
fn every_route_answers_every_kind_of_caller_correctly() {
    let server = Server::start();
    let admin = server.admin();
    let p1 = server.project("p1");
    let p2 = server.project("p2");
    create_bucket(&p1, "p1", "main");
    create_table(&p1, "p1", "in.c-main", "t");
    let reader = p1
        .post("/projects/p1/api-keys", json!({"description": "r", "scope": "branch_read", "branch_id": "default"}))
        .expect(201);
    let existing_key = reader["id"].as_str().unwrap().to_owned();
    let existing_file = admin.upload("p1", "fixture.csv", "id,name\n1,a\n");
    admin.post("/projects/p1/branches", json!({"name": "dev"})).expect(201);
    create_bucket(&admin, "p2", "pub");
    admin.post(&format!("{}/share", bucket("p2", "in.c-pub")), json!({"target_project_id": "p1"})).expect(200);
    let snapshot_job = admin
        .post(&format!("{}/snapshots?wait=true", branch("p1")), json!({"bucket_id": "in.c-main", "table_name": "t"}));
    let existing_snapshot = snapshot_job.expect(200)["result"]["snapshot"]["id"].as_str().unwrap().to_owned();
    let existing_job =
        admin.import(&table("p1", "in.c-main", "t"), json!({"file_id": existing_file})).expect(200)["id"]
            .as_str()
            .unwrap()
            .to_owned();
    admin.post(&format!("{}/profile?wait=true", table("p1", "in.c-main", "t")), json!({})).expect(200);
    let existing_workspace =
        admin.post(&format!("{}/workspaces", branch("p1")), json!({"name": "fixture"})).expect(201)["id"]
            .as_str()
            .unwrap()
            .to_owned();
    let callers: HashMap<&str, Client> = [
        ("nobody", server.client(None)),
        ("wrong", server.client(Some("dsk_0000000000000000_ffff"))),
        ("other", p2.clone()),
        ("reader", p1.with_key(reader["api_key"].as_str().unwrap())),
        ("owner", p1.clone()),
        ("admin", admin.clone()),
    ]
    .into();
    let client = |who: Who| {
        &callers[match who {
            Who::Nobody => "nobody",
            Who::WrongKey => "wrong",
            Who::OtherProject => "other",
            Who::BranchRead => "reader",
            Who::ProjectAdmin => "owner",
            Who::Admin => "admin",
        }]
    };

    let routes = routes();
    let spec = admin.get("/openapi.json").expect(200);
    // Keboola's face authenticates in its own dialect (a project token picks the project;
    // the admin key and read-only keys are refused where they must be): tests/e2e/keboola.rs.
    let documented: BTreeSet<String> = spec["paths"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(path, _)| !path.starts_with("/v2/storage") && !path.starts_with("/abs/"))
        .flat_map(|(path, ops)| ops.as_object().unwrap().keys().map(move |m| format!("{} {path}", m.to_uppercase())))
        .collect();
    let covered: BTreeSet<String> = routes
        .iter()
        .filter(|r| r.template != "/openapi.json")
        .map(|r| format!("{} {}", r.method, r.template))
        .collect();
    assert_eq!(documented, covered, "the auth matrix must list exactly the documented routes");

    let mut n = 0;
    let mut failures = Vec::new();
    for r in &routes {
        for who in EVERYONE {
            n += 1;
            let unique = |s: &str| s.replace("{n}", &n.to_string());
            let mut values: HashMap<&str, String> = [
                ("project_id", "p1".to_owned()),
                ("branch_id", "default".to_owned()),
                ("bucket_id", "in.c-main".to_owned()),
                ("table_name", "t".to_owned()),
                ("column_name", "name".to_owned()),
                ("key_id", existing_key.clone()),
                ("file_id", existing_file.clone()),
                ("job_id", existing_job.clone()),
                ("snapshot_id", existing_snapshot.clone()),
                ("workspace_id", existing_workspace.clone()),
                ("name", "snapshot-policy-strict".to_owned()),
            ]
            .into();
            for (k, v) in r.params {
                values.insert(k, unique(v));
            }
            match r.fresh {
                Fresh::Nothing => {}
                Fresh::Project => {
                    admin.post("/projects", json!({"id": values["project_id"]})).expect(201);
                }
                Fresh::Bucket => {
                    let name = values["bucket_id"].trim_start_matches("in.c-").to_owned();
                    create_bucket(&admin, "p1", &name);
                }
                Fresh::Table => {
                    create_table(&admin, "p1", "in.c-main", &values["table_name"]);
                }
                Fresh::Key => {
                    let key = admin.post("/projects/p1/api-keys", json!({"description": "fresh"})).expect(201);
                    values.insert("key_id", key["id"].as_str().unwrap().to_owned());
                }
                Fresh::Upload | Fresh::UploadWithContent => {
                    let upload = admin.post("/projects/p1/files/prepare", json!({"name": "u.csv"})).expect(201);
                    if matches!(r.fresh, Fresh::UploadWithContent) {
                        admin
                            .send_bytes("PUT", upload["upload_url"].as_str().unwrap(), b"a\n1\n".to_vec(), &[])
                            .expect(200);
                    }
                    values.insert("upload_key", upload["upload_key"].as_str().unwrap().to_owned());
                }
                Fresh::File => {
                    values.insert("file_id", admin.upload("p1", "f.csv", "a\n1\n"));
                }
                Fresh::Column => {
                    let name = values["column_name"].clone();
                    admin
                        .post(
                            &format!("{}/columns", table("p1", "in.c-main", "t")),
                            json!({"name": name, "type": "int"}),
                        )
                        .expect(201);
                }
                Fresh::Branch => {
                    admin.post("/projects/p1/branches", json!({"name": values["branch_id"]})).expect(201);
                }
                Fresh::DevCopy => {
                    let name = values["table_name"].clone();
                    create_table(&admin, "p1", "in.c-main", &name);
                    let on_dev = format!("/projects/p1/branches/dev/buckets/in.c-main/tables/{name}/columns");
                    admin.post(&on_dev, json!({"name": "extra", "type": "int"})).expect(201);
                }
                Fresh::Share => {
                    admin
                        .post(&format!("{}/share", bucket("p1", "in.c-main")), json!({"target_project_id": "p2"}))
                        .expect(200);
                }
                Fresh::Link => {
                    let link = format!("{}/link", bucket("p1", &values["bucket_id"]));
                    admin.post(&link, json!({"project_id": "p2", "bucket_id": "in.c-pub"})).expect(201);
                }
                Fresh::Snapshot => {
                    let url = format!("{}/snapshots?wait=true", branch("p1"));
                    let job = admin.post(&url, json!({"bucket_id": "in.c-main", "table_name": "t"})).expect(200);
                    values.insert("snapshot_id", job["result"]["snapshot"]["id"].as_str().unwrap().to_owned());
                }
                Fresh::Workspace => {
                    let ws = admin.post(&format!("{}/workspaces", branch("p1")), json!({"name": "fresh"})).expect(201);
                    values.insert("workspace_id", ws["id"].as_str().unwrap().to_owned());
                }
                Fresh::WorkspaceTable => {
                    let load = format!("{}/workspaces/{existing_workspace}/load", branch("p1"));
                    let table = json!({"bucket_id": "in.c-main", "table_name": "t", "destination": values["object"]});
                    admin.post(&load, json!({"tables": [table]})).expect(200);
                }
            }
            let fill = |s: &str| values.iter().fold(unique(s), |s, (k, v)| s.replace(&format!("{{{k}}}"), v));
            let path = format!("{}{}", fill(r.template), r.query);
            let body = r.body.as_ref().map(|b| serde_json::from_str(&fill(&b.to_string())).unwrap());
            let got = client(who).send(r.method, &path, body);
            let want = expected(r.rule, who, r.ok);
            if got.status != want {
                failures.push(format!("{} {path} as {who:?}: got {} want {want}: {}", r.method, got.status, got.text));
            } else if (400..500).contains(&want) && got.body["error"]["code"].as_str().is_none() {
                failures.push(format!("{} {path} as {who:?}: {want} without an error code: {}", r.method, got.text));
            }
        }
    }
    assert!(failures.is_empty(), "{} of {n} calls answered wrongly:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn another_projects_data_is_never_visible() {
    let server = Server::start();
    let p1 = server.project("p1");
    let p2 = server.project("p2");
    create_bucket(&p1, "p1", "secret");
    create_table(&p1, "p1", "in.c-secret", "t");
    for path in [
        "/projects/p1".to_owned(),
        format!("{}/buckets", branch("p1")),
        bucket("p1", "in.c-secret"),
        format!("{}/preview", table("p1", "in.c-secret", "t")),
    ] {
        p2.get(&path).expect_error(403, "forbidden");
    }
    let own = p2.get("/projects").expect(200);
    assert!(!own.to_string().contains("p1"), "{own}");
    assert_eq!(p2.get(&format!("{}/buckets", branch("p2"))).expect(200)["total"], 0);
}
