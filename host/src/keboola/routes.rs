//! The routes served so far, each citing its section of Keboola's API Blueprint
//! (`../shared/reference/keboola-storage-api.apib`, line numbers). Each handler reads the
//! request, makes one service call and renders the answer; nothing else.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::Deserialize;
use serde_json::{Value, json};

use duckstore_plugin_sdk::model::{NewBucket, Page};
use duckstore_plugin_sdk::names::{BucketId, BucketName, BucketRef, Stage, TableRef};

use crate::keboola::error::{KbcError, KbcResult};
use crate::keboola::extract::{Caller, Params, base_url, flag};
use crate::keboola::shapes;
use crate::server::AppState;

/// API index (apib 902): public, as Keboola's is.
pub async fn index(parts: Parts) -> Json<Value> {
    let base = base_url(&parts);
    Json(json!({
        "api": "storage",
        "version": "v2",
        "documentation": format!("{base}/openapi.json"),
        "components": [],
        "services": [{"id": "storage", "url": base}],
        "features": [],
        "urlTemplates": {},
    }))
}

/// Token verification (apib 529, 680 for a branch).
pub async fn verify(State(state): State<AppState>, caller: Caller) -> KbcResult<Json<Value>> {
    let who = state.service.identity(&caller.principal, caller.branch_ref()).await?;
    Ok(Json(shapes::token(&caller.base, &who.key, Some(&who.project), &who.buckets)))
}

/// A name Keboola's client sent (a table, column or branch), validated as duckstore names
/// are; a bad one is a 400 with `code`.
pub(super) fn valid_name<T: std::str::FromStr<Err = duckstore_plugin_sdk::StorageError>>(
    text: impl AsRef<str>,
    code: &str,
) -> KbcResult<T> {
    text.as_ref().trim().parse().map_err(|e: duckstore_plugin_sdk::StorageError| KbcError::bad_request(code, e.message))
}

/// A bucket id from a path: raw (`in.c-b`) or percent-encoded, as clients send it.
pub(super) fn bucket_id(raw: &str) -> KbcResult<BucketId> {
    raw.parse()
        .map_err(|e: duckstore_plugin_sdk::StorageError| KbcError::bad_request("storage.buckets.invalidId", e.message))
}

/// `in.c-b.t` → the bucket and the table.
pub(super) fn table_ref(caller: &Caller, raw: &str) -> KbcResult<TableRef> {
    let invalid =
        || KbcError::bad_request("storage.tables.invalidId", format!("{raw:?} is not a table id (in.c-bucket.table)"));
    let (bucket, table) = raw.rsplit_once('.').ok_or_else(invalid)?;
    Ok(TableRef {
        project: caller.project.clone(),
        branch: caller.branch.clone(),
        bucket: bucket_id(bucket)?,
        table: table.parse().map_err(|_| invalid())?,
    })
}

fn bucket_ref(caller: &Caller, id: BucketId) -> BucketRef {
    BucketRef { project: caller.project.clone(), branch: caller.branch.clone(), bucket: id }
}

/// List buckets (apib 966).
pub async fn list_buckets(State(state): State<AppState>, caller: Caller) -> KbcResult<Json<Value>> {
    let buckets = state.service.list_buckets(&caller.principal, caller.branch_ref()).await?;
    let tables = state.service.list_branch_tables(&caller.principal, caller.branch_ref()).await?;
    Ok(Json(Value::Array(
        buckets
            .iter()
            .map(|b| {
                let own: Vec<_> = tables.iter().filter(|t| t.bucket == b.id).cloned().collect();
                shapes::bucket(&caller.base, b, &own, false)
            })
            .collect(),
    )))
}

#[derive(Deserialize)]
pub struct CreateBucket {
    name: Option<String>,
    stage: Option<String>,
    description: Option<String>,
    #[serde(rename = "displayName")]
    display_name: Option<String>,
    backend: Option<String>,
}

/// Create bucket (apib 1063). Keboola's `name` is what duckstore calls the bucket's name; a
/// leading `c-` (Keboola's own prefix, which clients sometimes repeat) is dropped.
pub async fn create_bucket(
    State(state): State<AppState>,
    caller: Caller,
    Params(p): Params<CreateBucket>,
) -> KbcResult<(StatusCode, Json<Value>)> {
    let name =
        p.name.or(p.display_name).ok_or_else(|| KbcError::bad_request("storage.validation", "name is required"))?;
    let name = name.strip_prefix("c-").unwrap_or(&name);
    let name = BucketName::new(name).map_err(|e| KbcError::bad_request("storage.buckets.validation", e.message))?;
    let stage = match p.stage.as_deref().unwrap_or("in") {
        "in" => Stage::In,
        "out" => Stage::Out,
        other => {
            return Err(KbcError::bad_request(
                "storage.buckets.validation",
                format!("stage must be in or out, not {other:?}"),
            ));
        }
    };
    if let Some(backend) = p.backend.filter(|b| !b.is_empty() && b != "duckdb") {
        return Err(KbcError::bad_request(
            "storage.buckets.validation",
            format!("backend {backend:?} is not available here; duckstore's backend is duckdb"),
        ));
    }
    let new = NewBucket { stage, name, description: p.description.filter(|d| !d.is_empty()) };
    let bucket = state.service.create_bucket(&caller.principal, caller.branch_ref(), new).await?;
    Ok((StatusCode::CREATED, Json(shapes::bucket(&caller.base, &bucket, &[], true))))
}

/// Bucket detail (apib 1317): `tables` is the array of the bucket's tables here.
pub async fn bucket(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> KbcResult<Json<Value>> {
    let at = bucket_ref(&caller, bucket_id(&id)?);
    let bucket = state.service.bucket(&caller.principal, at.clone()).await?;
    let tables = state.service.list_tables(&caller.principal, at).await?;
    Ok(Json(shapes::bucket(&caller.base, &bucket, &tables, true)))
}

#[derive(Deserialize)]
pub struct DeleteBucket {
    force: Option<String>,
    #[serde(rename = "async")]
    asynchronous: Option<String>,
}

/// Drop bucket (apib 1317): `force` also drops its tables; `async` answers 202 with a
/// `bucketDelete` job, else 204 once done.
pub async fn delete_bucket(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Params(p): Params<DeleteBucket>,
) -> KbcResult<axum::response::Response> {
    use axum::response::IntoResponse;
    let at = bucket_ref(&caller, bucket_id(&id)?);
    let force = flag(p.force.as_deref(), "force")?;
    if flag(p.asynchronous.as_deref(), "async")? {
        let job = state.service.start_bucket_delete(&caller.principal, at, force).await?;
        return Ok((StatusCode::ACCEPTED, Json(shapes::job(&caller.base, &job))).into_response());
    }
    state.service.delete_bucket(&caller.principal, at, force).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Tables in a bucket (apib 2134).
pub async fn bucket_tables(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> KbcResult<Json<Value>> {
    let at = bucket_ref(&caller, bucket_id(&id)?);
    let bucket = state.service.bucket(&caller.principal, at.clone()).await?;
    let tables = state.service.list_tables(&caller.principal, at).await?;
    Ok(Json(Value::Array(tables.iter().map(|t| shapes::table(&caller.base, t, Some(&bucket))).collect())))
}

/// All tables of the branch (apib 3869).
pub async fn tables(State(state): State<AppState>, caller: Caller) -> KbcResult<Json<Value>> {
    let buckets = state.service.list_buckets(&caller.principal, caller.branch_ref()).await?;
    let tables = state.service.list_branch_tables(&caller.principal, caller.branch_ref()).await?;
    Ok(Json(Value::Array(
        tables.iter().map(|t| shapes::table(&caller.base, t, buckets.iter().find(|b| b.id == t.bucket))).collect(),
    )))
}

/// Table detail (apib 3456).
pub async fn table(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> KbcResult<Json<Value>> {
    let at = table_ref(&caller, &id)?;
    let bucket_at = BucketRef { project: at.project.clone(), branch: at.branch.clone(), bucket: at.bucket.clone() };
    let table = state.service.table(&caller.principal, at).await?;
    let bucket = state.service.bucket(&caller.principal, bucket_at).await?;
    Ok(Json(shapes::table(&caller.base, &table, Some(&bucket))))
}

/// Job detail (apib 6939); the id is Keboola's integer form of duckstore's.
pub async fn job(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> KbcResult<Json<Value>> {
    let number: u64 = id
        .parse()
        .map_err(|_| KbcError::new(StatusCode::NOT_FOUND, "storage.jobs.notFound", format!("job {id} not found")))?;
    let job = state.service.job(&caller.principal, caller.project.clone(), format!("{number:016x}")).await?;
    Ok(Json(shapes::job(&caller.base, &job)))
}

#[derive(Deserialize)]
pub struct ListJobs {
    limit: Option<String>,
    offset: Option<String>,
}

/// Jobs list (apib 6873), newest first.
pub async fn jobs(
    State(state): State<AppState>,
    caller: Caller,
    Params(p): Params<ListJobs>,
) -> KbcResult<Json<Value>> {
    let number = |v: Option<String>, default: u32, name: &str| -> KbcResult<u32> {
        v.map_or(Ok(default), |v| {
            v.parse().map_err(|_| KbcError::bad_request("storage.validation", format!("{name} must be a number")))
        })
    };
    let page = Page { limit: number(p.limit, 100, "limit")?.min(1000), offset: number(p.offset, 0, "offset")? };
    let (jobs, _) = state.service.list_jobs(&caller.principal, caller.project.clone(), page).await?;
    Ok(Json(Value::Array(jobs.iter().map(|j| shapes::job(&caller.base, j)).collect())))
}

/// A Keboola file id (an integer) as duckstore's (16 hex digits).
fn file_id(raw: &str) -> KbcResult<String> {
    let number: u64 = raw
        .trim()
        .parse()
        .map_err(|_| KbcError::new(StatusCode::NOT_FOUND, "storage.files.notFound", format!("file {raw} not found")))?;
    Ok(format!("{number:016x}"))
}

#[derive(Deserialize)]
pub struct PrepareFile {
    name: Option<String>,
    #[serde(rename = "contentType")]
    content_type: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(rename = "isSliced")]
    is_sliced: Option<String>,
}

/// Create file resource (apib 7031): an upload session, answered as an Azure upload whose
/// endpoint is duckstore itself (`abs.rs`). The file's id is known at once.
pub async fn prepare_file(
    State(state): State<AppState>,
    caller: Caller,
    Params(p): Params<PrepareFile>,
) -> KbcResult<(StatusCode, Json<Value>)> {
    use duckstore_plugin_sdk::files::{NewUpload, file_id_of_upload};
    if flag(p.is_sliced.as_deref(), "isSliced")? {
        return Err(KbcError::not_implemented("isSliced uploads"));
    }
    let name = p
        .name
        .filter(|n| !n.is_empty())
        .ok_or_else(|| KbcError::bad_request("storage.validation", "name is required"))?;
    let new = NewUpload { name, content_type: p.content_type, tags: p.tags };
    let upload = state.service.prepare_upload(&caller.principal, caller.project.clone(), new).await?;
    let key_id = match &caller.principal {
        crate::auth::Principal::Key { id, .. } => id.clone(),
        _ => return Err(KbcError::not_implemented("file transfer for callers without an API key")),
    };
    let blob = crate::keboola::abs::upload_blob(&upload.upload_key, &upload.name);
    let grant = crate::keboola::abs::Grant {
        project: caller.project.clone(),
        key_id,
        blob: blob.clone(),
        permissions: "cw".into(),
        expires: upload.expires_at,
    };
    let sas = state.abs.sign(&grant);
    let endpoint = format!("{}/abs/{}", caller.base, crate::keboola::abs::ACCOUNT);
    let id = shapes::job_number(&file_id_of_upload(&upload.upload_key));
    let body = json!({
        "id": id,
        "created": shapes::date(upload.created_at),
        "isPublic": false,
        "isSliced": false,
        "isEncrypted": true,
        "name": upload.name,
        "url": format!("{endpoint}/{}/{blob}?{sas}", caller.project),
        "provider": "azure",
        "region": "local",
        "sizeBytes": null,
        "tags": upload.tags,
        "maxAgeDays": 15,
        "runId": null,
        "runIds": [],
        "creatorToken": {"id": caller.principal.label(), "description": caller.principal.label()},
        "absUploadParams": {
            "blobName": blob,
            "accountName": crate::keboola::abs::ACCOUNT,
            "container": caller.project.to_string(),
            "absCredentials": {
                "SASConnectionString": format!("BlobEndpoint={endpoint};SharedAccessSignature={sas}"),
                "expiration": shapes::date(upload.expires_at),
            },
        },
    });
    Ok((StatusCode::CREATED, Json(body)))
}

#[derive(Deserialize)]
pub struct FileDetail {
    #[serde(rename = "federationToken")]
    federation_token: Option<String>,
}

/// File detail (apib 7297): download credentials only with `federationToken`. A sliced file
/// (an export) is its manifest plus one slice under `absPath.name`.
pub async fn file(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Params(p): Params<FileDetail>,
) -> KbcResult<Json<Value>> {
    use crate::keboola::abs;
    let file = state.service.file(&caller.principal, caller.project.clone(), file_id(&id)?).await?;
    let sliced = file.tags.iter().any(|t| t == abs::SLICED_TAG);
    let folder = abs::file_folder(&file.id);
    let mut body = shapes::file(&file);
    if flag(p.federation_token.as_deref(), "federationToken")? {
        let crate::auth::Principal::Key { id: key_id, .. } = &caller.principal else {
            return Err(KbcError::not_implemented("file transfer for callers without an API key"));
        };
        let expires = chrono::Utc::now() + chrono::Duration::hours(1);
        let grant = abs::Grant {
            project: caller.project.clone(),
            key_id: key_id.clone(),
            blob: folder.clone(),
            permissions: "r".into(),
            expires,
        };
        let sas = state.abs.sign(&grant);
        let endpoint = format!("{}/abs/{}", caller.base, abs::ACCOUNT);
        let name = if sliced { folder.clone() } else { format!("{folder}{}", file.name) };
        body["url"] =
            json!(format!("{endpoint}/{}/{name}{}?{sas}", caller.project, if sliced { "manifest" } else { "" }));
        body["absPath"] = json!({"container": caller.project.to_string(), "name": name});
        body["absCredentials"] = json!({
            "SASConnectionString": format!("BlobEndpoint={endpoint};SharedAccessSignature={sas}"),
            "expiration": shapes::date(expires),
        });
    }
    Ok(Json(body))
}

/// CSV settings as Keboola names them; an empty delimiter or enclosure means the default.
#[derive(Deserialize)]
pub struct CsvParams {
    delimiter: Option<String>,
    enclosure: Option<String>,
    #[serde(rename = "escapedBy")]
    escaped_by: Option<String>,
}

impl CsvParams {
    fn options(self) -> duckstore_plugin_sdk::transfer::CsvOptions {
        let mut csv = duckstore_plugin_sdk::transfer::CsvOptions::default();
        if let Some(d) = self.delimiter.filter(|d| !d.is_empty()) {
            csv.delimiter = if d == "\\t" { "\t".into() } else { d };
        }
        if let Some(e) = self.enclosure {
            csv.enclosure = e;
        }
        csv.escaped_by = self.escaped_by.unwrap_or_default();
        csv
    }
}

#[derive(Deserialize)]
pub struct CreateTableAsync {
    name: Option<String>,
    #[serde(rename = "dataFileId")]
    data_file_id: Option<String>,
    #[serde(rename = "snapshotId")]
    snapshot_id: Option<String>,
    #[serde(rename = "primaryKey")]
    primary_key: Option<String>,
    #[serde(flatten)]
    csv: CsvParams,
}

/// Create table asynchronously (apib 2598) from a file: a non-typed table (every column
/// text, in the header's order), job `tableCreate` whose `results.id` is the new table; or
/// from a snapshot (`snapshotId`, apib 2661).
pub async fn create_table_async(
    State(state): State<AppState>,
    caller: Caller,
    Path(bucket): Path<String>,
    Params(p): Params<CreateTableAsync>,
) -> KbcResult<(StatusCode, Json<Value>)> {
    use duckstore_plugin_sdk::transfer::NewTableFromFile;
    let at = bucket_ref(&caller, bucket_id(&bucket)?);
    let name = p.name.ok_or_else(|| KbcError::bad_request("storage.validation", "name is required"))?;
    let name: duckstore_plugin_sdk::names::TableName = valid_name(name, "storage.tables.validation")?;
    if let Some(snapshot) = p.snapshot_id {
        return crate::keboola::snapshots::restore_as_table(&state, &caller, &bucket, name.to_string(), &snapshot)
            .await;
    }
    let Some(file) = p.data_file_id else {
        return Err(KbcError::not_implemented("tables-async from a source other than dataFileId or snapshotId"));
    };
    let primary_key = p
        .primary_key
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(|c| valid_name(c, "storage.tables.validation"))
        .collect::<KbcResult<Vec<_>>>()?;
    let request = NewTableFromFile {
        name,
        file_id: file_id(&file)?,
        format: None,
        csv: p.csv.options(),
        primary_key,
        infer_types: false,
    };
    let job = state.service.start_table_from_file(&caller.principal, at, request, crate::service::Wait::Settle).await?;
    Ok((StatusCode::ACCEPTED, Json(shapes::job(&caller.base, &job))))
}

#[derive(Deserialize)]
pub struct ImportAsync {
    #[serde(rename = "dataFileId")]
    data_file_id: Option<String>,
    #[serde(rename = "dataWorkspaceId")]
    data_workspace_id: Option<String>,
    #[serde(rename = "dataTableName")]
    data_table_name: Option<String>,
    #[serde(rename = "dataObject")]
    data_object: Option<String>,
    incremental: Option<String>,
    #[serde(rename = "withoutHeaders")]
    without_headers: Option<String>,
    #[serde(default)]
    columns: Vec<String>,
    #[serde(flatten)]
    csv: CsvParams,
}

/// Load data asynchronously (apib 2900): a full load replaces the rows, an incremental one
/// upserts by primary key (appends without one); the source's columns the table lacks are
/// added to it (as text) in the same commit, missing ones refuse the load; job `tableImport`.
pub async fn import_async(
    State(state): State<AppState>,
    caller: Caller,
    Path(table): Path<String>,
    Params(p): Params<ImportAsync>,
) -> KbcResult<(StatusCode, Json<Value>)> {
    use duckstore_plugin_sdk::transfer::ImportRequest;
    let at = table_ref(&caller, &table)?;
    let incremental = flag(p.incremental.as_deref(), "incremental")?;
    // A workspace's table, as a transformation writes its results back.
    if let Some(ws) = p.data_workspace_id {
        let name = p.data_table_name.or(p.data_object).ok_or_else(|| {
            KbcError::bad_request("storage.validation", "dataTableName names the workspace's table to load")
        })?;
        let request: ImportRequest = serde_json::from_value(json!({
            "source_workspace": {"workspace_id": workspace_id(&ws)?, "table": name},
            "incremental": incremental,
            "add_new_columns": true,
        }))
        .map_err(|e| KbcError::bad_request("storage.validation", e.to_string()))?;
        let job = state.service.start_import(&caller.principal, at, request, crate::service::Wait::Settle).await?;
        return Ok((StatusCode::ACCEPTED, Json(shapes::job(&caller.base, &job))));
    }
    let Some(file) = p.data_file_id else {
        return Err(KbcError::bad_request("storage.validation", "dataFileId or dataWorkspaceId names what to load"));
    };
    let mut csv = p.csv.options();
    csv.header = !flag(p.without_headers.as_deref(), "withoutHeaders")?;
    if !p.columns.is_empty() {
        let columns =
            p.columns.iter().map(|c| valid_name(c, "storage.tables.validation")).collect::<KbcResult<Vec<_>>>()?;
        csv.columns = Some(columns);
    }
    let request: ImportRequest = serde_json::from_value(json!({
        "file_id": file_id(&file)?,
        "incremental": incremental,
        "csv": csv,
        "add_new_columns": true,
    }))
    .map_err(|e| KbcError::bad_request("storage.validation", e.to_string()))?;
    let job = state.service.start_import(&caller.principal, at, request, crate::service::Wait::Settle).await?;
    Ok((StatusCode::ACCEPTED, Json(shapes::job(&caller.base, &job))))
}

#[derive(Deserialize)]
pub struct ExportAsync {
    #[serde(default)]
    columns: Vec<String>,
    #[serde(flatten)]
    rows: RowFilters,
    limit: Option<String>,
    gzip: Option<String>,
    #[serde(rename = "fileType")]
    file_type: Option<String>,
    #[serde(rename = "orderBy", default)]
    order_by: Vec<OrderBy>,
}

/// Unload data asynchronously (apib 3189): always sliced and headerless (a manifest plus
/// one slice of CSV with every value quoted; `gzip=1` gzips it) or Parquet; job
/// `tableExport` whose `results.file.id` is the file.
pub async fn export_async(
    State(state): State<AppState>,
    caller: Caller,
    Path(table): Path<String>,
    Params(p): Params<ExportAsync>,
) -> KbcResult<(StatusCode, Json<Value>)> {
    use duckstore_plugin_sdk::transfer::{Compression, CsvStyle, ExportFormat, ExportRequest};
    let at = table_ref(&caller, &table)?;
    let invalid = |e: duckstore_plugin_sdk::StorageError| KbcError::bad_request("storage.tables.validation", e.message);
    let mut request = ExportRequest {
        format: ExportFormat::Csv,
        compression: flag(p.gzip.as_deref(), "gzip")?.then_some(Compression::Gzip),
        name: Some(format!("{}.csv", at.table)),
        tags: vec![crate::keboola::abs::SLICED_TAG.to_owned(), "table-export".to_owned()],
        query: Default::default(),
        csv_style: CsvStyle::HeaderlessQuoted,
    };
    match p.file_type.as_deref() {
        None | Some("") | Some("csv") => {}
        Some("parquet") => {
            request.format = ExportFormat::Parquet;
            request.compression = None;
            request.name = Some(format!("{}.parquet", at.table));
        }
        Some(other) => {
            return Err(KbcError::bad_request(
                "storage.tables.validation",
                format!("fileType {other:?} is not csv or parquet"),
            ));
        }
    }
    if !p.columns.is_empty() {
        request.query.columns =
            Some(p.columns.iter().map(|c| c.parse().map_err(invalid)).collect::<KbcResult<Vec<_>>>()?);
    }
    let selection = p.rows.selection()?;
    (request.query.filters, request.query.changed_since, request.query.changed_until) =
        (selection.filters, selection.changed_since, selection.changed_until);
    request.query.order_by = order(p.order_by)?;
    if let Some(limit) = p.limit.filter(|l| !l.is_empty()) {
        request.query.limit =
            Some(limit.parse().map_err(|_| KbcError::bad_request("storage.validation", "limit must be a number"))?);
    }
    let job = state.service.start_export(&caller.principal, at, request, crate::service::Wait::Settle).await?;
    Ok((StatusCode::ACCEPTED, Json(shapes::job(&caller.base, &job))))
}

#[derive(Deserialize)]
pub struct DeleteTable {
    #[serde(rename = "async")]
    asynchronous: Option<String>,
}

/// Drop table (apib 3456): 204 once done, or 202 with a `tableDelete` job with `async`.
pub async fn delete_table(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Params(p): Params<DeleteTable>,
) -> KbcResult<axum::response::Response> {
    use axum::response::IntoResponse;
    let at = table_ref(&caller, &id)?;
    if flag(p.asynchronous.as_deref(), "async")? {
        let job = state.service.start_table_delete(&caller.principal, at).await?;
        return Ok((StatusCode::ACCEPTED, Json(shapes::job(&caller.base, &job))).into_response());
    }
    state.service.delete_table(&caller.principal, at).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
pub struct DataPreview {
    limit: Option<String>,
    columns: Option<String>,
    #[serde(flatten)]
    rows: RowFilters,
    format: Option<String>,
    #[serde(rename = "orderBy", default)]
    order_by: Vec<OrderBy>,
}

/// One of `orderBy[]`: a column, `ASC` (default) or `DESC`.
#[derive(Deserialize)]
pub struct OrderBy {
    column: String,
    order: Option<String>,
}

/// Keboola's `orderBy[]` as a query's order.
fn order(list: Vec<OrderBy>) -> KbcResult<Vec<duckstore_plugin_sdk::query::OrderBy>> {
    use duckstore_plugin_sdk::query::SortOrder;
    list.into_iter()
        .map(|o| {
            let order = match o.order.as_deref().map(str::to_ascii_uppercase).as_deref() {
                None | Some("") | Some("ASC") => SortOrder::Asc,
                Some("DESC") => SortOrder::Desc,
                Some(other) => {
                    return Err(KbcError::bad_request(
                        "storage.validation",
                        format!("orderBy order must be ASC or DESC, not {other:?}"),
                    ));
                }
            };
            Ok(duckstore_plugin_sdk::query::OrderBy { column: valid_name(&o.column, "storage.validation")?, order })
        })
        .collect()
}

/// One of `whereFilters[]`.
#[derive(Deserialize)]
pub struct WhereFilter {
    column: String,
    operator: Option<String>,
    #[serde(default)]
    values: Vec<Value>,
}

/// Which rows a request selects, in Keboola's parameters: `whereFilters[]` (`column`,
/// `operator` eq/ne/lt/le/gt/ge, `values[]`), the older `whereColumn` / `whereValues[]` /
/// `whereOperator`, and `changedSince` / `changedUntil`.
#[derive(Deserialize)]
pub struct RowFilters {
    #[serde(rename = "whereColumn")]
    where_column: Option<String>,
    #[serde(rename = "whereValues", default)]
    where_values: Vec<String>,
    #[serde(rename = "whereOperator")]
    where_operator: Option<String>,
    #[serde(rename = "whereFilters", default)]
    where_filters: Vec<WhereFilter>,
    #[serde(rename = "changedSince")]
    changed_since: Option<String>,
    #[serde(rename = "changedUntil")]
    changed_until: Option<String>,
}

impl RowFilters {
    fn selection(self) -> KbcResult<duckstore_plugin_sdk::query::RowSelection> {
        use duckstore_plugin_sdk::query::{Filter, FilterOp, RowSelection};
        let invalid = |m: String| KbcError::bad_request("storage.validation", m);
        let operator = |o: Option<&str>| match o.unwrap_or("eq") {
            "eq" | "" => Ok(FilterOp::Eq),
            "ne" => Ok(FilterOp::Ne),
            "lt" => Ok(FilterOp::Lt),
            "le" => Ok(FilterOp::Le),
            "gt" => Ok(FilterOp::Gt),
            "ge" => Ok(FilterOp::Ge),
            other => Err(invalid(format!("operator must be eq, ne, lt, le, gt or ge, not {other:?}"))),
        };
        let column = |c: &str| valid_name(c, "storage.validation");
        let mut filters = Vec::new();
        if let Some(c) = self.where_column.filter(|c| !c.is_empty()) {
            let values = self.where_values.into_iter().map(Value::String).collect();
            filters.push(Filter { column: column(&c)?, operator: operator(self.where_operator.as_deref())?, values });
        }
        for f in self.where_filters {
            // Form bodies carry every value as text; JSON ones may hold numbers.
            let values =
                f.values.into_iter().map(|v| if v.is_string() { v } else { Value::String(v.to_string()) }).collect();
            filters.push(Filter { column: column(&f.column)?, operator: operator(f.operator.as_deref())?, values });
        }
        for f in &filters {
            f.validate().map_err(|e| invalid(e.message))?;
        }
        Ok(RowSelection {
            filters,
            changed_since: self.changed_since.as_deref().map(moment).transpose()?,
            changed_until: self.changed_until.as_deref().map(moment).transpose()?,
        })
    }
}

/// Data preview (apib 3085): at most 1000 rows (default 100) as CSV with a header and every
/// value quoted, or `format=json`; `columns`, `whereColumn`/`whereValues[]`/`whereOperator`,
/// `changedSince`/`changedUntil` (unix time, ISO 8601, or relative: `-2 days`), `orderBy[]`.
pub async fn data_preview(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Params(p): Params<DataPreview>,
) -> KbcResult<axum::response::Response> {
    use axum::response::IntoResponse;
    use duckstore_plugin_sdk::query::RowQuery;
    let at = table_ref(&caller, &id)?;
    let invalid = |m: String| KbcError::bad_request("storage.validation", m);
    let column = |c: &str| valid_name(c, "storage.validation");
    let limit: u64 = match p.limit.filter(|l| !l.is_empty()) {
        None => 100,
        Some(l) => l.parse().map_err(|_| invalid(format!("limit must be a number, not {l:?}")))?,
    };
    if limit > 1000 {
        return Err(invalid("limit may be at most 1000".into()));
    }
    let mut query = RowQuery { limit: Some(limit), ..Default::default() };
    if let Some(columns) = p.columns.filter(|c| !c.is_empty()) {
        query.columns = Some(columns.split(',').map(column).collect::<KbcResult<Vec<_>>>()?);
    }
    let selection = p.rows.selection()?;
    (query.filters, query.changed_since, query.changed_until) =
        (selection.filters, selection.changed_since, selection.changed_until);
    query.order_by = order(p.order_by)?;
    let preview = state.service.preview(&caller.principal, at, query).await?;
    let names: Vec<String> = preview.columns.iter().map(|c| c.def.name.to_string()).collect();
    let text = |v: Option<&serde_json::Value>| match v {
        None | Some(serde_json::Value::Null) => String::new(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    if p.format.as_deref() == Some("json") {
        let rows: Vec<Value> = preview
            .rows
            .iter()
            .map(|r| {
                Value::Array(
                    names
                        .iter()
                        .map(|n| json!({"columnName": n, "value": text(r.get(n)), "isTruncated": false}))
                        .collect(),
                )
            })
            .collect();
        return Ok(Json(json!({"columns": names, "rows": rows})).into_response());
    }
    let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    let mut csv = names.iter().map(|n| quote(n)).collect::<Vec<_>>().join(",");
    csv.push('\n');
    for row in &preview.rows {
        csv.push_str(&names.iter().map(|n| quote(&text(row.get(n)))).collect::<Vec<_>>().join(","));
        csv.push('\n');
    }
    Ok(([(axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8")], csv).into_response())
}

/// A point in time as Keboola's API takes it: unix seconds, ISO 8601 / RFC 3339, a date, or
/// a relative `-2 days` / `-3 hours` / `-15 minutes` from now.
fn moment(text: &str) -> KbcResult<chrono::DateTime<chrono::Utc>> {
    use chrono::{DateTime, NaiveDate, Utc};
    let text = text.trim();
    let invalid = || {
        KbcError::bad_request(
            "storage.validation",
            format!("{text:?} is not a time (unix seconds, ISO 8601 or like -2 days)"),
        )
    };
    if let Ok(secs) = text.parse::<i64>() {
        return DateTime::from_timestamp(secs, 0).ok_or_else(invalid);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(t) = DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%z") {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).ok_or_else(invalid)?.and_utc());
    }
    let mut words = text.split_whitespace();
    let (Some(n), Some(unit), None) = (words.next(), words.next(), words.next()) else { return Err(invalid()) };
    let n: i64 = n.parse().map_err(|_| invalid())?;
    let seconds = match unit.trim_end_matches('s') {
        "second" | "sec" => 1,
        "minute" | "min" => 60,
        "hour" => 3600,
        "day" => 86400,
        "week" => 7 * 86400,
        _ => return Err(invalid()),
    };
    Ok(Utc::now() + chrono::Duration::seconds(n.checked_mul(seconds).ok_or_else(invalid)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moments_read_as_keboolas_api_reads_them() {
        assert_eq!(moment("1360138863").unwrap().timestamp(), 1360138863);
        assert_eq!(moment("2013-02-12T15:19:21+00:00").unwrap().timestamp(), 1360682361);
        assert_eq!(moment("2013-02-12").unwrap().timestamp(), 1360627200);
        let two_days = chrono::Utc::now() - moment("-2 days").unwrap();
        assert!((two_days.num_seconds() - 2 * 86400).abs() < 5);
        assert!(moment("yesterday-ish").is_err());
    }
}

/// List tokens (apib 150): the project's API keys.
pub async fn tokens(State(state): State<AppState>, caller: Caller) -> KbcResult<Json<Value>> {
    let keys = state.service.list_keys(&caller.principal, caller.project.clone()).await?;
    let buckets = state.service.list_buckets(&caller.principal, caller.branch_ref()).await?;
    Ok(Json(Value::Array(keys.iter().map(|k| shapes::token(&caller.base, k, None, &buckets)).collect())))
}

/// Token detail (apib 371).
pub async fn token(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> KbcResult<Json<Value>> {
    let key = state.service.key(&caller.principal, caller.project.clone(), id).await?;
    let buckets = state.service.list_buckets(&caller.principal, caller.branch_ref()).await?;
    Ok(Json(shapes::token(&caller.base, &key, None, &buckets)))
}

#[derive(Deserialize)]
pub struct CreateToken {
    description: Option<String>,
    #[serde(rename = "canManageBuckets")]
    can_manage_buckets: Option<String>,
    #[serde(rename = "bucketPermissions", default)]
    bucket_permissions: std::collections::BTreeMap<String, String>,
    #[serde(rename = "expiresIn")]
    expires_in: Option<String>,
}

/// Create token (apib 204). duckstore keys reach every bucket of a branch, so a token is
/// `canManageBuckets` (read and write, a branch_admin key on the token's branch); a token
/// limited to some buckets is refused rather than made broader than asked.
pub async fn create_token(
    State(state): State<AppState>,
    caller: Caller,
    Params(p): Params<CreateToken>,
) -> KbcResult<(StatusCode, Json<Value>)> {
    use duckstore_plugin_sdk::model::Scope;
    if !flag(p.can_manage_buckets.as_deref(), "canManageBuckets")? {
        return Err(KbcError::not_implemented(if p.bucket_permissions.is_empty() {
            "a token without bucket access (duckstore keys always reach the buckets of their branch)"
        } else {
            "per-bucket permissions (duckstore keys reach every bucket of their branch: create the token with canManageBuckets)"
        }));
    }
    let expires_at = match p.expires_in.filter(|e| !e.is_empty()) {
        None => None,
        Some(seconds) => {
            let seconds: i64 = seconds.parse().ok().filter(|s| *s > 0).ok_or_else(|| {
                KbcError::bad_request("storage.tokens.validation", "expiresIn must be a positive number of seconds")
            })?;
            Some(chrono::Utc::now() + chrono::Duration::seconds(seconds))
        }
    };
    let new = crate::service::NewKey {
        scope: Scope::BranchAdmin,
        branch: Some(caller.branch.clone()),
        description: p.description.unwrap_or_default(),
        expires_at,
    };
    let created = state.service.create_key(&caller.principal, caller.project.clone(), new).await?;
    let buckets = state.service.list_buckets(&caller.principal, caller.branch_ref()).await?;
    let mut body = shapes::token(&caller.base, &created.key, None, &buckets);
    body["token"] = json!(created.plain);
    Ok((StatusCode::CREATED, Json(body)))
}

/// Delete token (apib 371): revoked at once.
pub async fn delete_token(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> KbcResult<StatusCode> {
    state.service.revoke_key(&caller.principal, caller.project.clone(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Refresh token (apib 859): a new secret, the old one stops working.
pub async fn refresh_token(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> KbcResult<Json<Value>> {
    let rotated = state.service.rotate_key(&caller.principal, caller.project.clone(), id).await?;
    let buckets = state.service.list_buckets(&caller.principal, caller.branch_ref()).await?;
    let mut body = shapes::token(&caller.base, &rotated.key, None, &buckets);
    body["token"] = json!(rotated.plain);
    Ok(Json(body))
}

fn workspace_id(raw: &str) -> KbcResult<String> {
    shapes::workspace_id(raw).ok_or_else(|| {
        KbcError::new(StatusCode::NOT_FOUND, "storage.workspaces.notFound", format!("workspace {raw} not found"))
    })
}

#[derive(Deserialize)]
pub struct CreateWorkspace {
    backend: Option<String>,
    #[serde(rename = "async")]
    asynchronous: Option<String>,
}

/// Create workspace (apib 4815): a duckstore SQL workspace over the PostgreSQL wire
/// protocol; `connection.password` is shown this once. `async` is answered synchronously.
pub async fn create_workspace(
    State(state): State<AppState>,
    caller: Caller,
    Params(p): Params<CreateWorkspace>,
) -> KbcResult<(StatusCode, Json<Value>)> {
    use duckstore_plugin_sdk::workspaces::NewWorkspace;
    if let Some(backend) = p.backend.filter(|b| !b.is_empty() && b != "duckdb") {
        return Err(KbcError::bad_request(
            "storage.workspaces.validation",
            format!("backend {backend:?} is not available here; duckstore's workspaces are duckdb"),
        ));
    }
    let _ = p.asynchronous;
    let name = format!("keboola-{}", chrono::Utc::now().format("%Y%m%d%H%M%S"));
    let new = NewWorkspace { name, ttl_hours: None, size_limit_gb: None };
    let ws = state.service.create_workspace(&caller.principal, caller.branch_ref(), new).await?;
    Ok((StatusCode::CREATED, Json(shapes::workspace(&ws))))
}

/// Workspaces list (apib 4815).
pub async fn workspaces(State(state): State<AppState>, caller: Caller) -> KbcResult<Json<Value>> {
    let list = state.service.list_workspaces(&caller.principal, caller.branch_ref()).await?;
    Ok(Json(Value::Array(list.iter().map(shapes::workspace).collect())))
}

/// Workspace detail (apib 5009).
pub async fn workspace(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> KbcResult<Json<Value>> {
    let detail = state.service.workspace(&caller.principal, caller.branch_ref(), workspace_id(&id)?).await?;
    Ok(Json(shapes::workspace(&detail.workspace)))
}

/// Delete workspace (apib 5009).
pub async fn delete_workspace(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> KbcResult<StatusCode> {
    state.service.delete_workspace(&caller.principal, caller.branch_ref(), workspace_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Password reset (apib 5535): the new password, shown this once.
pub async fn workspace_password(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> KbcResult<Json<Value>> {
    let ws = state.service.reset_workspace_password(&caller.principal, caller.branch_ref(), workspace_id(&id)?).await?;
    let password = ws.connection.and_then(|c| c.password).unwrap_or_default();
    Ok(Json(json!({"password": password})))
}

#[derive(Deserialize)]
pub struct LoadInput {
    source: String,
    destination: Option<String>,
    #[serde(default)]
    columns: Vec<Value>,
    #[serde(rename = "changedSince")]
    changed_since: Option<String>,
}

#[derive(Deserialize)]
pub struct LoadWorkspace {
    #[serde(default)]
    input: Vec<LoadInput>,
    preserve: Option<Value>,
}

/// Load data (apib 5071): `input[i][source|destination|columns|changedSince]`, `preserve`
/// (else the workspace is emptied first); job `workspaceLoad`.
pub async fn load_workspace(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Params(p): Params<LoadWorkspace>,
) -> KbcResult<(StatusCode, Json<Value>)> {
    use duckstore_plugin_sdk::workspaces::{LoadRequest, LoadTable};
    let invalid =
        |e: duckstore_plugin_sdk::StorageError| KbcError::bad_request("storage.workspaces.validation", e.message);
    let mut tables = Vec::new();
    for input in p.input {
        let source = table_ref(&caller, &input.source)?;
        let columns = input
            .columns
            .iter()
            .map(|c| match c {
                Value::String(name) => name.parse().map_err(invalid),
                other => other.get("source").and_then(Value::as_str).unwrap_or_default().parse().map_err(invalid),
            })
            .collect::<KbcResult<Vec<_>>>()?;
        tables.push(LoadTable {
            bucket_id: source.bucket,
            table_name: source.table,
            destination: input.destination.filter(|d| !d.is_empty()).map(|d| d.parse().map_err(invalid)).transpose()?,
            columns: (!columns.is_empty()).then_some(columns),
            filters: Vec::new(),
            changed_since: input.changed_since.as_deref().map(moment).transpose()?,
            changed_until: None,
        });
    }
    let preserve = match &p.preserve {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_u64() == Some(1),
        Some(Value::String(s)) => flag(Some(s), "preserve")?,
        Some(_) => return Err(KbcError::bad_request("storage.validation", "preserve must be true or false")),
    };
    let job = state
        .service
        .start_workspace_load(
            &caller.principal,
            caller.branch_ref(),
            workspace_id(&id)?,
            LoadRequest { tables },
            preserve,
            crate::service::Wait::Settle,
        )
        .await?;
    Ok((StatusCode::ACCEPTED, Json(shapes::job(&caller.base, &job))))
}

/// duckstore's branch for Keboola's branch id (its integer, or the name itself).
async fn branch_of(state: &AppState, caller: &Caller, raw: &str) -> KbcResult<duckstore_plugin_sdk::names::BranchRef> {
    let not_found =
        || KbcError::new(StatusCode::NOT_FOUND, "storage.devBranches.notFound", format!("branch {raw} not found"));
    let branches = state.service.list_branches(&caller.principal, caller.project.clone()).await?;
    let found = match raw.parse::<u64>() {
        Ok(n) => branches.into_iter().find(|b| shapes::branch_number(b.id.as_str()) == n),
        Err(_) => branches.into_iter().find(|b| b.id.as_str() == raw || (raw == "default" && b.is_default)),
    };
    let b = found.ok_or_else(not_found)?;
    Ok(duckstore_plugin_sdk::names::BranchRef { project: caller.project.clone(), branch: b.id })
}

/// List dev branches (apib 9585): the default branch listed with `isDefault: true`.
pub async fn dev_branches(State(state): State<AppState>, caller: Caller) -> KbcResult<Json<Value>> {
    let branches = state.service.list_branches(&caller.principal, caller.project.clone()).await?;
    Ok(Json(Value::Array(branches.iter().map(shapes::branch).collect())))
}

#[derive(Deserialize)]
pub struct CreateBranch {
    name: Option<String>,
    description: Option<String>,
}

/// Create dev branch (apib 9585): job `devBranchCreate`. Keboola's name is free text; the
/// duckstore branch is named after it (lower case, other characters as `-`) and keeps the
/// text as its description.
pub async fn create_dev_branch(
    State(state): State<AppState>,
    caller: Caller,
    Params(p): Params<CreateBranch>,
) -> KbcResult<(StatusCode, Json<Value>)> {
    use duckstore_plugin_sdk::model::NewBranch;
    let text = p
        .name
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| KbcError::bad_request("storage.validation", "name is required"))?;
    let slug: String = text
        .trim()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c.to_ascii_lowercase() } else { '-' })
        .take(64)
        .collect();
    let name = valid_name(slug, "storage.devBranches.validation")?;
    let description = Some(p.description.filter(|d| !d.is_empty()).unwrap_or(text));
    let job = state
        .service
        .start_branch_create(&caller.principal, caller.project.clone(), NewBranch { name, description })
        .await?;
    let mut body = shapes::job(&caller.base, &job);
    if let Some(branch) =
        job.result.as_ref().and_then(|r| serde_json::from_value::<duckstore_plugin_sdk::model::Branch>(r.clone()).ok())
    {
        body["results"] = shapes::branch(&branch);
    }
    Ok((StatusCode::ACCEPTED, Json(body)))
}

/// Dev branch detail (apib 9585).
pub async fn dev_branch(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> KbcResult<Json<Value>> {
    let at = branch_of(&state, &caller, &id).await?;
    Ok(Json(shapes::branch(&state.service.branch(&caller.principal, at).await?)))
}

/// Delete dev branch (apib 9585); the default branch cannot be deleted.
pub async fn delete_dev_branch(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> KbcResult<(StatusCode, Json<Value>)> {
    let at = branch_of(&state, &caller, &id).await?;
    let job = state.service.start_branch_delete(&caller.principal, at).await?;
    Ok((StatusCode::ACCEPTED, Json(shapes::job(&caller.base, &job))))
}

#[derive(Deserialize)]
pub struct ListFiles {
    limit: Option<String>,
    offset: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
}

/// List files (apib 7244), newest first: `limit` (≤ 1000), `offset`, `tags[]` (all of them).
pub async fn files(
    State(state): State<AppState>,
    caller: Caller,
    Params(p): Params<ListFiles>,
) -> KbcResult<Json<Value>> {
    let number = |v: Option<String>, default: u32, name: &str| -> KbcResult<u32> {
        v.filter(|v| !v.is_empty()).map_or(Ok(default), |v| {
            v.parse().map_err(|_| KbcError::bad_request("storage.validation", format!("{name} must be a number")))
        })
    };
    let query = duckstore_plugin_sdk::files::FileQuery {
        tags: p.tags,
        limit: number(p.limit, 100, "limit")?.min(1000),
        offset: number(p.offset, 0, "offset")?,
    };
    let (files, _) = state.service.list_files(&caller.principal, caller.project.clone(), query).await?;
    Ok(Json(Value::Array(files.iter().map(shapes::file).collect())))
}

/// Delete file (apib 7297).
pub async fn delete_file(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> KbcResult<StatusCode> {
    state.service.delete_file(&caller.principal, caller.project.clone(), file_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub struct AddTag {
    tag: Option<String>,
}

/// Add a tag to a file (apib 7393).
pub async fn add_file_tag(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Params(p): Params<AddTag>,
) -> KbcResult<StatusCode> {
    let tag = p
        .tag
        .filter(|t| !t.is_empty())
        .ok_or_else(|| KbcError::bad_request("storage.validation", "tag is required"))?;
    let id = file_id(&id)?;
    let file = state.service.file(&caller.principal, caller.project.clone(), id.clone()).await?;
    let mut tags = file.tags;
    if !tags.contains(&tag) {
        tags.push(tag);
    }
    state.service.set_file_tags(&caller.principal, caller.project.clone(), id, tags).await?;
    Ok(StatusCode::CREATED)
}

/// Remove a tag from a file (apib 7416).
pub async fn remove_file_tag(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, tag)): Path<(String, String)>,
) -> KbcResult<StatusCode> {
    let id = file_id(&id)?;
    let file = state.service.file(&caller.principal, caller.project.clone(), id.clone()).await?;
    let tags = file.tags.into_iter().filter(|t| *t != tag).collect();
    state.service.set_file_tags(&caller.principal, caller.project.clone(), id, tags).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub struct AddColumn {
    name: Option<String>,
    basetype: Option<String>,
}

/// Add column (apib 4021): job `tableColumnAdd`. The column is text, or of `basetype`'s
/// type (STRING, INTEGER, NUMERIC, FLOAT, BOOLEAN, DATE, TIMESTAMP).
pub async fn add_column(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Params(p): Params<AddColumn>,
) -> KbcResult<(StatusCode, Json<Value>)> {
    use duckstore_plugin_sdk::schema::ColumnDef;
    let at = table_ref(&caller, &id)?;
    let invalid = |m: String| KbcError::bad_request("storage.tables.validation", m);
    let name = p.name.ok_or_else(|| invalid("name is required".into()))?;
    let name = valid_name(name, "storage.tables.validation")?;
    let data_type = column_type(p.basetype.as_deref())?;
    let column = ColumnDef { name, data_type, nullable: true, default: None };
    let change =
        Box::new(move |s: &dyn duckstore_plugin_sdk::StorageBackend, t: &TableRef, _: &str| s.add_column(t, &column));
    let job = state.service.start_table_change(&caller.principal, at, "table_column_add", change).await?;
    Ok((StatusCode::ACCEPTED, Json(shapes::job(&caller.base, &job))))
}

/// Delete column (apib 4082): job `tableColumnDelete`.
pub async fn drop_column(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, column)): Path<(String, String)>,
) -> KbcResult<(StatusCode, Json<Value>)> {
    let at = table_ref(&caller, &id)?;
    let column: duckstore_plugin_sdk::names::ColumnName = valid_name(column, "storage.tables.validation")?;
    let change = Box::new(move |s: &dyn duckstore_plugin_sdk::StorageBackend, t: &TableRef, actor: &str| {
        s.drop_column(t, &column, actor)
    });
    let job = state.service.start_table_change(&caller.principal, at, "table_column_delete", change).await?;
    Ok((StatusCode::ACCEPTED, Json(shapes::job(&caller.base, &job))))
}

#[derive(Deserialize)]
pub struct PrimaryKey {
    #[serde(default)]
    columns: Vec<String>,
}

/// Create primary key (apib 4122): job `tablePrimaryKeyAdd`.
pub async fn set_primary_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Params(p): Params<PrimaryKey>,
) -> KbcResult<(StatusCode, Json<Value>)> {
    let at = table_ref(&caller, &id)?;
    if p.columns.is_empty() {
        return Err(KbcError::bad_request("storage.tables.validation", "columns[] names the key's columns"));
    }
    let columns =
        p.columns.iter().map(|c| valid_name(c, "storage.tables.validation")).collect::<KbcResult<Vec<_>>>()?;
    let change = Box::new(move |s: &dyn duckstore_plugin_sdk::StorageBackend, t: &TableRef, _: &str| {
        s.set_primary_key(t, &columns)
    });
    let job = state.service.start_table_change(&caller.principal, at, "table_primary_key_add", change).await?;
    Ok((StatusCode::ACCEPTED, Json(shapes::job(&caller.base, &job))))
}

/// Remove primary key (apib 4122): job `tablePrimaryKeyDelete`.
pub async fn drop_primary_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> KbcResult<(StatusCode, Json<Value>)> {
    let at = table_ref(&caller, &id)?;
    let change = Box::new(|s: &dyn duckstore_plugin_sdk::StorageBackend, t: &TableRef, _: &str| s.drop_primary_key(t));
    let job = state.service.start_table_change(&caller.principal, at, "table_primary_key_delete", change).await?;
    Ok((StatusCode::ACCEPTED, Json(shapes::job(&caller.base, &job))))
}

/// duckstore's column type for Keboola's base type.
fn column_type(basetype: Option<&str>) -> KbcResult<duckstore_plugin_sdk::schema::ColumnType> {
    use duckstore_plugin_sdk::schema::ColumnType;
    Ok(match basetype.map(str::to_ascii_uppercase).as_deref() {
        None | Some("") | Some("STRING") => ColumnType::Varchar,
        Some("INTEGER") => ColumnType::BigInt,
        Some("NUMERIC") => ColumnType::Decimal(38, 9),
        Some("FLOAT") => ColumnType::Double,
        Some("BOOLEAN") => ColumnType::Boolean,
        Some("DATE") => ColumnType::Date,
        Some("TIMESTAMP") => ColumnType::Timestamp,
        Some(other) => {
            return Err(KbcError::bad_request(
                "storage.tables.validation",
                format!("basetype {other:?} is not one of STRING, INTEGER, NUMERIC, FLOAT, BOOLEAN, DATE, TIMESTAMP"),
            ));
        }
    })
}

#[derive(Deserialize)]
pub struct DefinitionColumn {
    name: String,
    #[serde(default)]
    definition: Option<Value>,
    basetype: Option<String>,
}

#[derive(Deserialize)]
pub struct TableDefinition {
    name: Option<String>,
    #[serde(rename = "primaryKeysNames", default)]
    primary_keys_names: Vec<String>,
    #[serde(default)]
    columns: Vec<DefinitionColumn>,
}

/// Create table definition (apib 2307): a typed, empty table; job `tableDefinitionCreate`.
/// A column's `definition.type` is read as a DuckDB type when it is one, else its
/// `basetype` decides; `definition.nullable` (key columns default to not null).
pub async fn create_table_definition(
    State(state): State<AppState>,
    caller: Caller,
    Path(bucket): Path<String>,
    Params(p): Params<TableDefinition>,
) -> KbcResult<(StatusCode, Json<Value>)> {
    use duckstore_plugin_sdk::model::NewTable;
    use duckstore_plugin_sdk::schema::ColumnDef;
    let at = bucket_ref(&caller, bucket_id(&bucket)?);
    let invalid = |e: duckstore_plugin_sdk::StorageError| KbcError::bad_request("storage.tables.validation", e.message);
    let name = p.name.ok_or_else(|| KbcError::bad_request("storage.tables.validation", "name is required"))?;
    if p.columns.is_empty() {
        return Err(KbcError::bad_request("storage.tables.validation", "columns[] defines the table's columns"));
    }
    let mut columns = Vec::with_capacity(p.columns.len());
    for c in p.columns {
        let declared =
            c.definition.as_ref().and_then(|d| d.get("type")).and_then(Value::as_str).and_then(|t| t.parse().ok());
        let data_type = match declared {
            Some(t) => t,
            None => column_type(c.basetype.as_deref())?,
        };
        let in_key = p.primary_keys_names.contains(&c.name);
        let nullable =
            c.definition.as_ref().and_then(|d| d.get("nullable")).and_then(Value::as_bool).unwrap_or(!in_key);
        columns.push(ColumnDef { name: c.name.parse().map_err(invalid)?, data_type, nullable, default: None });
    }
    let primary_key = p.primary_keys_names.iter().map(|c| c.parse().map_err(invalid)).collect::<KbcResult<Vec<_>>>()?;
    let new = NewTable { name: name.parse().map_err(invalid)?, columns, primary_key };
    let job = state.service.start_table_create(&caller.principal, at, new).await?;
    Ok((StatusCode::ACCEPTED, Json(shapes::job(&caller.base, &job))))
}

#[derive(Deserialize)]
pub struct DeleteRows {
    #[serde(flatten)]
    rows: RowFilters,
    #[serde(rename = "allowTruncate")]
    allow_truncate: Option<String>,
}

/// Delete table rows (apib 4203): `whereColumn`/`whereValues[]`/`whereOperator`,
/// `changedSince`/`changedUntil`; every row only with `allowTruncate`. Job
/// `tableRowsDelete`, `results.deletedRows`.
pub async fn delete_rows(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Params(p): Params<DeleteRows>,
) -> KbcResult<(StatusCode, Json<Value>)> {
    let at = table_ref(&caller, &id)?;
    let selection = p.rows.selection()?;
    let all = flag(p.allow_truncate.as_deref(), "allowTruncate")?;
    let job = state.service.start_rows_delete(&caller.principal, at, selection, all).await?;
    Ok((StatusCode::ACCEPTED, Json(shapes::job(&caller.base, &job))))
}
