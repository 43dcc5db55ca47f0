//! Recording every mutation in the audit log.
//!
//! A route layer (so the route template is known) wraps each POST/PUT/PATCH/DELETE; the
//! [`crate::auth::Principal`] extractor reports who called through a [`Caller`] slot in
//! the request. The record is written before the response leaves, so an acknowledged
//! mutation always has its audit row.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use parking_lot::Mutex;

use duckstore_plugin_sdk::audit::AuditEvent;
use duckstore_plugin_sdk::names::ProjectId;

use crate::storage::Storage;

/// Where the authenticated caller of a request is noted for its audit record.
#[derive(Clone, Default)]
pub struct Caller(Arc<Mutex<Option<String>>>);

impl Caller {
    pub fn set(&self, label: String) {
        *self.0.lock() = Some(label);
    }
}

/// The project a path addresses (`/projects/{p}/…`), if any.
fn project_of(path: &str) -> Option<String> {
    let mut parts = path.trim_start_matches('/').split('/');
    match (parts.next(), parts.next()) {
        (Some("projects"), Some(p)) => ProjectId::new(p).ok().map(|p| p.to_string()),
        _ => None,
    }
}

pub async fn record(State(storage): State<Storage>, mut req: Request, next: Next) -> Response {
    if !matches!(*req.method(), Method::POST | Method::PUT | Method::PATCH | Method::DELETE) {
        return next.run(req).await;
    }
    let caller = Caller::default();
    req.extensions_mut().insert(caller.clone());
    let route = req.extensions().get::<MatchedPath>().map_or("unmatched", |p| p.as_str()).to_owned();
    let operation = format!("{} {route}", req.method());
    let resource = req.uri().path().to_owned();
    let request_id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let started = Instant::now();
    let response = next.run(req).await;
    let event = AuditEvent {
        at: chrono::Utc::now(),
        request_id,
        principal: caller.0.lock().clone().unwrap_or_else(|| "anonymous".to_owned()),
        project_id: project_of(&resource),
        operation,
        resource,
        status: response.status().as_u16(),
        duration_ms: started.elapsed().as_millis() as u64,
    };
    if let Err(e) = storage.run(move |s| s.record_audit(&event)).await {
        tracing::error!(error = %e, "could not write an audit record");
    }
    response
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_project_comes_from_the_path() {
        assert_eq!(super::project_of("/projects/acme/branches/default/buckets").as_deref(), Some("acme"));
        assert_eq!(super::project_of("/projects"), None);
        assert_eq!(super::project_of("/events"), None);
        assert_eq!(super::project_of("/projects/..%2F"), None);
    }
}
