//! What Keboola's clients send: the token (`X-StorageApi-Token`), the branch (in the path,
//! `/v2/storage/branch/{id}/…`), and parameters as a query string, a form body with PHP
//! bracket arrays, or JSON — read the same way, rejections in Keboola's dialect.

use axum::extract::{FromRequest, FromRequestParts, OriginalUri, Request};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use duckstore_plugin_sdk::names::{BranchId, BranchRef, ProjectId};

use crate::auth::Principal;
use crate::keboola::error::KbcError;
use crate::server::AppState;

/// The caller, the project its token belongs to and the branch the path names.
pub struct Caller {
    pub principal: Principal,
    pub project: ProjectId,
    pub branch: BranchId,
    /// The address clients reached us at, for the `uri` fields of answers.
    pub base: String,
}

impl Caller {
    pub fn branch_ref(&self) -> BranchRef {
        BranchRef { project: self.project.clone(), branch: self.branch.clone() }
    }
}

/// The branch of `/v2/storage/branch/{id}/…` (`default`: the main branch), else main.
fn branch_of(path: &str) -> Result<BranchId, KbcError> {
    let Some(rest) = path.strip_prefix("/v2/storage/branch/") else { return Ok(BranchId::main()) };
    let id = rest.split('/').next().unwrap_or_default();
    let id = percent_decode(id);
    if id == "default" {
        return Ok(BranchId::main());
    }
    BranchId::new(&id).map_err(|e| KbcError::bad_request("storage.devBranches.invalidId", e.message))
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// `http://<Host>`: where the client reached us.
pub fn base_url(parts: &Parts) -> String {
    let host = parts.headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    format!("http://{host}")
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = KbcError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, KbcError> {
        let token = parts
            .headers
            .get("x-storageapi-token")
            .and_then(|v| v.to_str().ok())
            .or_else(|| {
                parts.headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                KbcError::new(
                    axum::http::StatusCode::UNAUTHORIZED,
                    "storage.tokenMissing",
                    "send a storage token as the X-StorageApi-Token header",
                )
            })?;
        let principal = state.service.authenticate(token).await?;
        if let Some(caller) = parts.extensions.get::<crate::audit::Caller>() {
            caller.set(principal.label());
        }
        // Keboola's token picks the project.
        let project = match &principal {
            Principal::Key { project, .. } => project.clone(),
            Principal::External { grants, .. } if grants.iter().all(|g| g.project == grants[0].project) => {
                grants.first().map(|g| g.project.clone()).ok_or_else(no_project)?
            }
            _ => return Err(no_project()),
        };
        let path = parts.extensions.get::<OriginalUri>().map_or_else(|| parts.uri.path(), |u| u.0.path()).to_owned();
        let mut branch = branch_of(&path)?;
        // Keboola's branch ids are integers: find the duckstore branch that number stands for.
        if let Ok(number) = branch.as_str().parse::<u64>() {
            let branches = state.service.list_branches(&principal, project.clone()).await?;
            branch = branches
                .into_iter()
                .find(|b| crate::keboola::shapes::branch_number(b.id.as_str()) == number)
                .map(|b| b.id)
                .ok_or_else(|| {
                    KbcError::new(
                        axum::http::StatusCode::NOT_FOUND,
                        "storage.devBranches.notFound",
                        format!("branch {number} not found"),
                    )
                })?;
        }
        Ok(Caller { principal, project, branch, base: base_url(parts) })
    }
}

fn no_project() -> KbcError {
    KbcError::new(
        axum::http::StatusCode::FORBIDDEN,
        "storage.tokenNotProject",
        "Keboola's API works within one project: use a project's API key, not the admin key",
    )
}

/// Request parameters, from the query string and (for POST/PUT/DELETE) the body, whichever
/// of form, JSON or nothing it is; body fields win over query ones of the same name.
pub struct Params<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for Params<T> {
    type Rejection = KbcError;

    async fn from_request(req: Request, _: &AppState) -> Result<Self, KbcError> {
        let query = req.uri().query().unwrap_or_default().to_owned();
        let json = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("application/json"));
        let body = axum::body::to_bytes(req.into_body(), 16 << 20).await.map_err(|e| {
            KbcError::bad_request("storage.validation", format!("the request body could not be read: {e}"))
        })?;
        let invalid = |e: String| KbcError::bad_request("storage.validation", e);
        if json && !body.is_empty() {
            let mut value: serde_json::Value = serde_json::from_slice(&body).map_err(|e| invalid(e.to_string()))?;
            if let (Some(fields), false) = (value.as_object_mut(), query.is_empty()) {
                let from_query: serde_json::Map<String, serde_json::Value> = form(query.as_bytes())?;
                for (k, v) in from_query {
                    fields.entry(k).or_insert(v);
                }
            }
            return serde_json::from_value(value).map(Params).map_err(|e| invalid(e.to_string()));
        }
        let joined = match (query.is_empty(), body.is_empty()) {
            (_, true) => query.into_bytes(),
            (true, false) => body.to_vec(),
            (false, false) => [&body[..], b"&", query.as_bytes()].concat(),
        };
        // Every value of a form is text: structure it first, then read the fields.
        let fields: serde_json::Map<String, serde_json::Value> = form(&joined)?;
        serde_json::from_value(serde_json::Value::Object(fields)).map(Params).map_err(|e| invalid(e.to_string()))
    }
}

/// A form body or query string, PHP bracket arrays included (`a[]=1&a[]=2`, `m[k]=v`).
fn form<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, KbcError> {
    serde_qs::Config::new(5, false)
        .deserialize_bytes(bytes)
        .map_err(|e| KbcError::bad_request("storage.validation", format!("the parameters could not be read: {e}")))
}

/// A boolean as Keboola's clients send it: `1`/`0`, `true`/`false` in any case (the Python
/// client sends `True`), or absent.
pub fn flag(value: Option<&str>, name: &str) -> Result<bool, KbcError> {
    match value.map(str::to_ascii_lowercase).as_deref() {
        None | Some("") | Some("0") | Some("false") => Ok(false),
        Some("1") | Some("true") => Ok(true),
        Some(other) => Err(KbcError::bad_request(
            "storage.validation",
            format!("{name} must be true or false (1 or 0), not {other:?}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_read_every_spelling_clients_use() {
        for yes in ["1", "true", "True", "TRUE"] {
            assert!(flag(Some(yes), "force").unwrap());
        }
        for no in [None, Some(""), Some("0"), Some("False")] {
            assert!(!flag(no, "force").unwrap());
        }
        assert!(flag(Some("yes please"), "force").is_err());
    }

    #[test]
    fn forms_read_php_bracket_arrays() {
        let v: serde_json::Map<String, serde_json::Value> =
            form(b"tags%5B%5D=a&tags%5B%5D=b&input[0][source]=in.c-b.t&name=x").unwrap();
        assert_eq!(v["tags"], serde_json::json!(["a", "b"]));
        assert_eq!(v["input"][0]["source"], "in.c-b.t");
        assert_eq!(v["name"], "x");
    }

    #[test]
    fn branches_come_from_the_path() {
        assert_eq!(branch_of("/v2/storage/buckets").unwrap(), BranchId::main());
        assert_eq!(branch_of("/v2/storage/branch/default/buckets").unwrap(), BranchId::main());
        assert_eq!(branch_of("/v2/storage/branch/dev/buckets").unwrap().as_str(), "dev");
    }
}
