//! Data profiling (apib 4317–4380) over duckstore's table profiles: `POST tables/{id}/profile`
//! is a `tableProfile` job, `GET tables/{id}/profile/latest` the latest in Keboola's shape.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::keboola::error::KbcResult;
use crate::keboola::extract::Caller;
use crate::keboola::routes::table_ref;
use crate::keboola::shapes;
use crate::server::AppState;
use crate::service::Wait;

/// Create profile (apib 4319): a job; its `results.profile` is duckstore's profile.
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(table): Path<String>,
) -> KbcResult<(StatusCode, Json<Value>)> {
    let at = table_ref(&caller, &table)?;
    let job = state.service.start_profile(&caller.principal, at, Wait::Settle).await?;
    Ok((StatusCode::ACCEPTED, Json(shapes::job(&caller.base, &job))))
}

/// Get profile (apib 4351): the table's latest profile — null, distinct and duplicate
/// counts per column (distinct counts are estimates; duckstore's own route says so).
pub async fn latest(
    State(state): State<AppState>,
    caller: Caller,
    Path(table): Path<String>,
) -> KbcResult<Json<Value>> {
    let at = table_ref(&caller, &table)?;
    let profile = state.service.profile(&caller.principal, at.clone()).await?;
    let size = state.service.table(&caller.principal, at.clone()).await?.size_bytes;
    // Keboola names a profile by a UUID; duckstore keeps one per table, named by its table
    // and time.
    let name = format!("{}@{}", profile.table_id, profile.created_at.timestamp_micros());
    let digest = <sha2::Sha256 as sha2::Digest>::digest(name.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    let uuid = uuid::Builder::from_custom_bytes(bytes).into_uuid();
    let columns: Vec<Value> = profile
        .columns
        .iter()
        .map(|c| {
            json!({"name": c.name, "profile": {
                "nullCount": c.nulls, "distinctCount": c.distinct,
                "duplicateCount": c.count.saturating_sub(c.distinct)}})
        })
        .collect();
    Ok(Json(json!({
        "uuid": uuid.to_string(),
        "bucketId": at.bucket.to_string(),
        "tableName": profile.table_id,
        "createdAt": profile.created_at.format("%Y-%m-%d %H:%M:%S").to_string(),
        "profile": {"dataSize": size, "rowCount": profile.row_count, "columnCount": profile.columns.len()},
        "columns": columns,
    })))
}
