//! Table snapshots (apib 4633–4800) and tables restored from them (`tables-async` with
//! `snapshotId`, apib 2661), over duckstore's snapshots. Keboola shows snapshot ids as
//! decimal strings; duckstore's are 16 hex digits of a number below 2^53.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use duckstore_plugin_sdk::snapshots::{NewSnapshot, RestoreRequest, Snapshot, SnapshotDetail, SnapshotQuery};

use crate::keboola::error::{KbcError, KbcResult};
use crate::keboola::extract::{Caller, Params};
use crate::keboola::routes::{bucket_id, table_ref, valid_name};
use crate::keboola::shapes;
use crate::server::AppState;
use crate::service::Wait;

/// duckstore's snapshot id as Keboola shows it: its number, in decimal.
pub fn snapshot_number(id: &str) -> String {
    u64::from_str_radix(id, 16).map_or_else(|_| id.to_owned(), |n| n.to_string())
}

/// Keboola's snapshot id (a decimal number, as a string or not) as duckstore's.
fn snapshot_id(raw: &str) -> KbcResult<String> {
    let number: u64 = raw.trim().trim_matches('"').parse().map_err(|_| {
        KbcError::new(StatusCode::NOT_FOUND, "storage.tables.snapshotNotFound", format!("snapshot {raw} not found"))
    })?;
    Ok(format!("{number:016x}"))
}

fn snapshot(base: &str, s: &Snapshot) -> Value {
    let id = snapshot_number(&s.id);
    json!({
        "id": id,
        "description": s.description.clone().unwrap_or_default(),
        "createdTime": shapes::date(s.created_at),
        "type": "table",
        "creatorToken": shapes::creator_token(&s.created_by),
        "uri": format!("{base}/v2/storage/snapshots/{id}"),
        "dataFileId": null,
    })
}

#[derive(Deserialize)]
pub struct CreateSnapshot {
    description: Option<String>,
}

/// Create Table Snapshot (apib 4635): a job `tableSnapshotCreate` whose `results.id` is
/// the snapshot.
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(table): Path<String>,
    Params(p): Params<CreateSnapshot>,
) -> KbcResult<(StatusCode, Json<Value>)> {
    let at = table_ref(&caller, &table)?;
    let new = NewSnapshot { bucket_id: at.bucket.clone(), table_name: at.table.clone(), description: p.description };
    let job = state.service.start_snapshot(&caller.principal, caller.branch_ref(), new, Wait::Settle).await?;
    Ok((StatusCode::ACCEPTED, Json(shapes::job(&caller.base, &job))))
}

#[derive(Deserialize)]
pub struct ListSnapshots {
    limit: Option<String>,
    offset: Option<String>,
}

/// List Table Snapshots (apib 4695): newest first, `limit` (default 20) and `offset`.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(table): Path<String>,
    Params(p): Params<ListSnapshots>,
) -> KbcResult<Json<Value>> {
    let at = table_ref(&caller, &table)?;
    let number = |v: Option<String>, default: usize, name: &str| -> KbcResult<usize> {
        v.filter(|v| !v.is_empty()).map_or(Ok(default), |v| {
            v.parse().map_err(|_| KbcError::bad_request("storage.validation", format!("{name} must be a number")))
        })
    };
    let (limit, offset) = (number(p.limit, 20, "limit")?, number(p.offset, 0, "offset")?);
    let query = SnapshotQuery { bucket_id: Some(at.bucket.clone()), table_name: Some(at.table.clone()), kind: None };
    // A missing table is a 404, as Keboola answers, not an empty list.
    state.service.table(&caller.principal, at.clone()).await?;
    let all = state.service.list_snapshots(&caller.principal, caller.branch_ref(), query).await?;
    Ok(Json(all.iter().skip(offset).take(limit).map(|s| snapshot(&caller.base, s)).collect()))
}

/// Snapshot Detail (apib 4734): with the table's id, columns and primary key.
pub async fn detail(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> KbcResult<Json<Value>> {
    let SnapshotDetail { snapshot: s, columns, primary_key } =
        state.service.snapshot(&caller.principal, caller.branch_ref(), snapshot_id(&id)?).await?;
    let mut body = snapshot(&caller.base, &s);
    body["table"] = json!({
        "id": format!("{}.{}", s.bucket_id, s.table_name),
        "primaryKey": primary_key,
        "columns": columns.iter().map(|c| c.def.name.as_str()).collect::<Vec<_>>(),
    });
    Ok(Json(body))
}

/// Delete Table Snapshot (apib 4770): done at once (204) rather than as a job; clients
/// accept either.
pub async fn delete(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> KbcResult<StatusCode> {
    state.service.delete_snapshot(&caller.principal, caller.branch_ref(), snapshot_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Create new table from snapshot (apib 2661): job `tableCreate` whose `results.id` is the
/// new table.
pub async fn restore_as_table(
    state: &AppState,
    caller: &Caller,
    bucket: &str,
    name: String,
    snapshot: &str,
) -> KbcResult<(StatusCode, Json<Value>)> {
    let request = RestoreRequest {
        target_bucket_id: Some(bucket_id(bucket)?),
        target_table_name: Some(valid_name(name, "storage.tables.validation")?),
    };
    let job = state
        .service
        .start_restore(&caller.principal, caller.branch_ref(), snapshot_id(snapshot)?, request, Wait::Settle)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(shapes::job(&caller.base, &job))))
}
