//! duckstore's objects in the shapes Keboola's clients read (field names, id forms, dates).

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use duckstore_plugin_sdk::jobs::{Job, JobStatus};
use duckstore_plugin_sdk::model::{ApiKey, Bucket, Project, Scope, Table};
use duckstore_plugin_sdk::schema::ColumnType;

use crate::keboola::error::camel;

/// Keboola's timestamp form: `2017-02-13T12:01:05+0100`.
pub fn date(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%z").to_string()
}

fn opt_date(t: Option<DateTime<Utc>>) -> Value {
    t.map_or(Value::Null, |t| Value::String(date(t)))
}

/// A bucket; `tables` is its tables' URL in lists and the tables themselves in a detail.
pub fn bucket(base: &str, b: &Bucket, tables: &[Table], detail: bool) -> Value {
    let uri = format!("{base}/v2/storage/buckets/{}", b.id);
    let rows: u64 = tables.iter().map(|t| t.row_count).sum();
    let bytes: u64 = tables.iter().map(|t| t.size_bytes).sum();
    let changed = tables.iter().map(|t| t.updated_at).max();
    let mut v = json!({
        "uri": uri,
        "id": b.id.to_string(),
        "name": format!("c-{}", b.name),
        "displayName": b.name.to_string(),
        "stage": b.stage.as_str(),
        "description": b.description.clone().unwrap_or_default(),
        "tables": format!("{uri}/tables"),
        "created": date(b.created_at),
        "lastChangeDate": opt_date(changed),
        "updated": opt_date(changed),
        "isReadOnly": b.linked_from.is_some(),
        "dataSizeBytes": bytes,
        "rowsCount": rows,
        "isMaintenance": false,
        "backend": "duckdb",
        "sharing": if b.shared_with.is_empty() { Value::Null } else { json!("specific-projects") },
        "hasExternalSchema": false,
        "databaseName": "",
        "path": b.id.to_string(),
        "color": null,
        "owner": null,
        "attributes": [],
        "metadata": [],
        "linkedBy": [],
    });
    if let Some(link) = &b.linked_from {
        v["sourceBucket"] = json!({
            "id": link.bucket_id.to_string(),
            "project": {"id": link.project_id.to_string(), "name": link.project_id.to_string()},
        });
    }
    if detail {
        v["tables"] = Value::Array(tables.iter().map(|t| table(base, t, None)).collect());
    }
    v
}

/// Keboola's base type for a column type (what `definition.columns[].basetype` says).
pub fn basetype(t: &ColumnType) -> &'static str {
    use ColumnType::*;
    match t {
        Boolean => "BOOLEAN",
        TinyInt | SmallInt | Integer | BigInt | HugeInt | UTinyInt | USmallInt | UInteger | UBigInt => "INTEGER",
        Decimal(..) => "NUMERIC",
        Real | Double => "FLOAT",
        Date => "DATE",
        Timestamp | TimestampTz => "TIMESTAMP",
        _ => "STRING",
    }
}

/// A table; with its bucket when `bucket` is given (Keboola nests a short bucket object).
pub fn table(base: &str, t: &Table, bucket: Option<&Bucket>) -> Value {
    let columns: Vec<String> = t.columns.iter().map(|c| c.def.name.to_string()).collect();
    // Keboola's non-typed tables hold text only; anything else is a typed table.
    let typed = t.columns.iter().any(|c| c.def.data_type != ColumnType::Varchar);
    let mut v = json!({
        "uri": format!("{base}/v2/storage/tables/{}", t.id),
        "id": t.id,
        "name": t.name.to_string(),
        "displayName": t.name.to_string(),
        "transactional": false,
        "primaryKey": t.primary_key.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "indexType": null,
        "indexKey": [],
        "distributionType": null,
        "distributionKey": [],
        "syntheticPrimaryKeyEnabled": false,
        "created": date(t.created_at),
        "lastImportDate": date(t.updated_at),
        "lastChangeDate": date(t.updated_at),
        "rowsCount": t.row_count,
        "dataSizeBytes": t.size_bytes,
        "isAlias": false,
        "isAliasable": true,
        "isTyped": typed,
        "tableType": "table",
        "path": format!("/{}", t.id),
        "columns": columns,
        "attributes": [],
        "metadata": [],
        "columnMetadata": {},
    });
    if typed {
        v["definition"] = json!({
            "primaryKeysNames": v["primaryKey"].clone(),
            "columns": t.columns.iter().map(|c| json!({
                "name": c.def.name.to_string(),
                "definition": {"type": c.def.data_type.to_string(), "nullable": c.def.nullable},
                "basetype": basetype(&c.def.data_type),
            })).collect::<Vec<_>>(),
        });
    }
    if let Some(b) = bucket {
        v["bucket"] = json!({
            "uri": format!("{base}/v2/storage/buckets/{}", b.id),
            "id": b.id.to_string(),
            "name": format!("c-{}", b.name),
            "displayName": b.name.to_string(),
            "stage": b.stage.as_str(),
            "description": b.description.clone().unwrap_or_default(),
            "backend": "duckdb",
            "created": date(b.created_at),
        });
    }
    v
}

/// A job id as Keboola's integer (duckstore's job ids are hex numbers below 2^53).
pub fn job_number(id: &str) -> Value {
    u64::from_str_radix(id, 16).map_or_else(|_| Value::String(id.to_owned()), |n| json!(n))
}

/// Who made something, as Keboola names the token: duckstore's actor label (`key:<id>`,
/// `admin`) gives the id and the description.
pub fn creator_token(actor: &str) -> Value {
    json!({"id": actor.strip_prefix("key:").unwrap_or(actor), "description": actor})
}

pub fn job(base: &str, j: &Job) -> Value {
    let number = job_number(&j.id);
    // Keboola knows four statuses: a cancelled job ended in error.
    let status = match j.status {
        JobStatus::Cancelled => "error",
        other => other.as_str(),
    };
    let mut v = json!({
        "id": number,
        "status": status,
        "url": format!("{base}/v2/storage/jobs/{number}"),
        "tableId": j.table_id,
        "operationName": operation_name(&j.kind),
        "operationParams": {},
        "createdTime": date(j.created_at),
        "startTime": opt_date(j.started_at),
        "endTime": opt_date(j.finished_at),
        "runId": null,
        "results": results(&j.kind, j.result.clone()),
        "creatorToken": creator_token(&j.created_by),
        "metrics": {"inCompressed": false, "inBytes": j.progress.bytes, "inBytesUncompressed": 0,
                    "outCompressed": false, "outBytes": 0, "outBytesUncompressed": 0},
    });
    if let Some(e) = &j.error {
        v["error"] = json!({"code": e.code, "message": e.message, "exceptionId": format!("job-{}", j.id)});
    }
    v
}

/// A token: the key and its rights; with the project that owns it for verification.
pub fn token(base: &str, key: &ApiKey, project: Option<&Project>, buckets: &[Bucket]) -> Value {
    let manage = key.scope != Scope::BranchRead;
    let permission = if manage { "manage" } else { "read" };
    let permissions: serde_json::Map<String, Value> =
        buckets.iter().map(|b| (b.id.to_string(), json!(permission))).collect();
    let mut v = json!({
        "id": key.id,
        "created": date(key.created_at),
        "refreshed": date(key.created_at),
        "description": key.description,
        "uri": format!("{base}/v2/storage/tokens/{}", key.id),
        "isMasterToken": key.scope == Scope::ProjectAdmin,
        "canManageBuckets": manage,
        "canManageTokens": key.scope == Scope::ProjectAdmin,
        "canReadAllFileUploads": true,
        "canPurgeTrash": false,
        "canManageProtectedDefaultBranch": false,
        "canCreateJobs": false,
        "expires": opt_date(key.expires_at),
        "isExpired": key.expires_at.is_some_and(|t| t <= chrono::Utc::now()),
        "isDisabled": key.is_revoked,
        "isBYODB": false,
        "dailyCapacity": 0,
        "bucketPermissions": permissions,
        "componentAccess": [],
        "organization": {"id": "duckstore"},
    });
    if let Some(project) = project {
        v["owner"] = owner(project);
    }
    v
}

/// The project a token belongs to.
fn owner(project: &Project) -> Value {
    json!({
            "id": project.id.to_string(),
            "name": project.name,
            "type": "production",
            "region": "on-premise",
            "created": date(project.created_at),
            "expires": null,
            "features": [],
            "dataSizeBytes": project.stats.size_bytes,
            "hasMysql": false, "hasSynapse": false, "hasRedshift": false, "hasSnowflake": false,
            "hasExasol": false, "hasTeradata": false, "hasBigquery": false,
            // Clients that see `snowflake` switch to key-pair logins; `azure` is the file
            // transfer duckstore serves itself.
            "defaultBackend": "duckdb",
            "assignedBackends": ["duckdb"],
            "fileStorageProvider": "azure",
            "isDisabled": false,
            "dataRetentionTimeInDays": 7,
            "limits": {},
            "metrics": {},
    })
}

/// A job's result with the ids Keboola's clients read in its forms: `file.id` an integer.
/// Keboola's name for what a job does: duckstore's kind in camel case, but for the kinds
/// Keboola names after the table.
fn operation_name(kind: &str) -> String {
    match kind {
        "snapshot_create" => "tableSnapshotCreate".to_owned(),
        "snapshot_restore" => "tableCreate".to_owned(),
        other => camel(other),
    }
}

fn results(kind: &str, result: Option<Value>) -> Value {
    let mut result = result.unwrap_or(Value::Null);
    if kind == "snapshot_create"
        && let Some(id) = result.get("id").and_then(Value::as_str)
    {
        result["id"] = json!(crate::keboola::snapshots::snapshot_number(id));
    }
    if let Some(id) = result.pointer("/file/id").and_then(Value::as_str).map(job_number) {
        result["file"]["id"] = id;
    }
    result
}

/// A workspace id as Keboola's integer (duckstore's are `ws_` and 16 hex digits of a
/// number below 2^53), and back.
pub fn workspace_number(id: &str) -> Value {
    id.strip_prefix("ws_").map_or_else(|| Value::String(id.to_owned()), job_number)
}

pub fn workspace_id(number: &str) -> Option<String> {
    number.trim().parse::<u64>().ok().map(|n| format!("ws_{n:016x}"))
}

/// A workspace: duckstore's PostgreSQL-wire workspace, reached as `connection` says.
pub fn workspace(ws: &duckstore_plugin_sdk::workspaces::Workspace) -> Value {
    let mut v = json!({
        "id": workspace_number(&ws.id),
        "type": "table",
        "name": ws.name,
        "component": null,
        "configurationId": null,
        "created": date(ws.created_at),
        "expires": date(ws.expires_at),
        "readOnlyStorageAccess": true,
        "platformUsageType": "duckdb",
        "backendSize": null,
        "statementTimeoutSeconds": 0,
        "creatorToken": null,
    });
    if let Some(c) = &ws.connection {
        v["connection"] = json!({
            "backend": "duckdb",
            "host": c.host,
            "port": c.port,
            "database": c.database,
            "schema": "public",
            "warehouse": null,
            "user": c.username,
            "loginType": "default",
        });
        if let Some(password) = &c.password {
            v["connection"]["password"] = json!(password);
        }
    }
    v
}

/// A branch id as Keboola's integer: a stable number from duckstore's branch name.
pub fn branch_number(id: &str) -> u64 {
    id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)) & ((1 << 53) - 1)
}

pub fn branch(b: &duckstore_plugin_sdk::model::Branch) -> Value {
    json!({
        "id": branch_number(b.id.as_str()),
        "name": b.description.clone().filter(|d| !d.is_empty()).unwrap_or_else(|| b.name.clone()),
        "description": b.description.clone().unwrap_or_default(),
        "created": date(b.created_at),
        "isDefault": b.is_default,
        "creatorToken": b.created_by.as_ref().map_or(json!([]), |c| json!({"id": c, "name": c})),
    })
}

/// A file; a sliced one (an export) says so.
pub fn file(f: &duckstore_plugin_sdk::files::FileInfo) -> Value {
    json!({
        "id": job_number(&f.id),
        "created": date(f.created_at),
        "name": f.name,
        "sizeBytes": f.size_bytes,
        "tags": f.tags,
        "isSliced": f.tags.iter().any(|t| t == crate::keboola::abs::SLICED_TAG),
        "isPublic": false,
        "isEncrypted": true,
        "provider": "azure",
        "maxAgeDays": 15,
        "runId": null,
        "runIds": [],
    })
}
