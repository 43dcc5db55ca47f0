//! `X-Idempotency-Key`: a retried write returns the first attempt's response instead of
//! running twice.
//!
//! Entries are scoped to the caller's presented key (its SHA-256), so two tenants using
//! the same idempotency key never see each other's responses. A request arriving while
//! the first one with its key is still running waits for it. Reusing a key for a different
//! request (method, path, query or body) is refused with 422. Responses are kept for ten
//! minutes in memory; 5xx responses are not kept, so a failed attempt can be retried.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use parking_lot::Mutex;
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use crate::api::error::ApiError;

pub const HEADER: &str = "x-idempotency-key";
const REPLAYED: &str = "idempotent-replayed";
const TTL: Duration = Duration::from_secs(600);
/// Largest request body an idempotent request may carry (it is buffered to fingerprint it).
const MAX_BODY: usize = 16 * 1024 * 1024;
const MAX_KEY_LEN: usize = 255;

#[derive(Clone)]
struct Stored {
    fingerprint: [u8; 32],
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
    at: Instant,
}

enum Slot {
    Running(watch::Receiver<Option<Stored>>),
    Done(Stored),
}

#[derive(Default)]
pub struct Idempotency {
    slots: Mutex<HashMap<([u8; 32], String), Slot>>,
}

/// Removes a running slot if its request ends without storing a response (a panic, a
/// client that went away, a 5xx), so the requests waiting on it run themselves.
struct RunningGuard<'a> {
    idem: &'a Idempotency,
    key: Option<([u8; 32], String)>,
}

impl Drop for RunningGuard<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.idem.slots.lock().remove(&key);
        }
    }
}

fn replay(stored: &Stored) -> Response {
    let mut resp = Response::new(Body::from(stored.body.clone()));
    *resp.status_mut() = stored.status;
    *resp.headers_mut() = stored.headers.clone();
    resp.headers_mut().insert(HeaderName::from_static(REPLAYED), HeaderValue::from_static("true"));
    resp
}

fn reused() -> Response {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency_key_reused",
        "this idempotency key was used for a different request; use a new key for a new request",
    )
    .into_response()
}

fn credential(headers: &HeaderMap) -> Option<[u8; 32]> {
    let value = headers.get(header::AUTHORIZATION).or_else(|| headers.get("x-storageapi-token"))?;
    Some(Sha256::digest(value.as_bytes()).into())
}

pub async fn layer(State(idem): State<Arc<Idempotency>>, req: Request, next: Next) -> Response {
    let writes = matches!(*req.method(), Method::POST | Method::PUT | Method::PATCH | Method::DELETE);
    let Some(key) = req.headers().get(HEADER).filter(|_| writes) else {
        return next.run(req).await;
    };
    let Some(key) = key.to_str().ok().filter(|k| !k.is_empty() && k.len() <= MAX_KEY_LEN).map(str::to_owned) else {
        return ApiError::bad_request(
            "invalid_idempotency_key",
            format!("{HEADER} must be 1 to {MAX_KEY_LEN} visible characters"),
        )
        .into_response();
    };
    let Some(caller) = credential(req.headers()) else {
        return next.run(req).await; // unauthenticated: the handler answers 401
    };

    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            return ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request_too_large",
                format!("requests with {HEADER} may carry at most {MAX_BODY} bytes"),
            )
            .into_response();
        }
    };
    let mut hasher = Sha256::new();
    hasher.update(parts.method.as_str());
    hasher.update(b" ");
    hasher.update(parts.uri.to_string());
    hasher.update(b"\n");
    hasher.update(&body);
    let fingerprint: [u8; 32] = hasher.finalize().into();
    let slot_key = (caller, key);

    let tx = loop {
        let waiting = {
            let mut slots = idem.slots.lock();
            slots.retain(|_, s| !matches!(s, Slot::Done(d) if d.at.elapsed() > TTL));
            match slots.get(&slot_key) {
                Some(Slot::Done(stored)) if stored.fingerprint != fingerprint => return reused(),
                Some(Slot::Done(stored)) => return replay(stored),
                Some(Slot::Running(rx)) => rx.clone(),
                None => {
                    let (tx, rx) = watch::channel(None);
                    slots.insert(slot_key.clone(), Slot::Running(rx));
                    break tx;
                }
            }
        };
        let mut waiting = waiting;
        // Wait for the running request; if it ends without a stored response, try again.
        if let Ok(stored) = waiting.wait_for(Option::is_some).await {
            let stored = stored.clone().expect("waited for Some");
            return if stored.fingerprint == fingerprint { replay(&stored) } else { reused() };
        }
    };

    let mut guard = RunningGuard { idem: &idem, key: Some(slot_key.clone()) };
    let resp = next.run(Request::from_parts(parts, Body::from(body))).await;
    if resp.status().is_server_error() {
        return resp; // the guard frees the key for a retry
    }
    let (parts, body) = resp.into_parts();
    let body = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(e) => return ApiError::from(duckstore_plugin_sdk::StorageError::internal(e.to_string())).into_response(),
    };
    let stored = Stored {
        fingerprint,
        status: parts.status,
        headers: parts.headers.clone(),
        body: body.clone(),
        at: Instant::now(),
    };
    idem.slots.lock().insert(slot_key, Slot::Done(stored.clone()));
    guard.key = None;
    let _ = tx.send(Some(stored));
    Response::from_parts(parts, Body::from(body))
}
