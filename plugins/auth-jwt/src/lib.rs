//! JSON Web Tokens (HS256 or RS256) as bearer credentials.
//!
//! Configuration (`[plugins.config.auth-jwt]` in the server config):
//! - `hs256_secret` and/or `rs256_public_key` (PEM): the keys tokens are verified with;
//! - `issuer`, `audience`: required values of `iss` and `aud`, if set;
//! - `leeway_seconds`: clock skew allowed for `exp` and `nbf` (default 30);
//! - `grants_claim`: the claim holding the grants (default `duckstore_grants`), a list of
//!   `{"project": "...", "branch": "..." (optional), "role": "project_admin" | "branch_admin" | "branch_read"}`.
//!
//! A bearer token that is not a JWT is not this plugin's (`not-applicable`); a JWT that
//! fails any check is denied with the reason.

use duckstore_plugin_guest::auth_provider::*;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde::Deserialize;

struct Jwt;

#[derive(Deserialize)]
struct Claims {
    sub: String,
    #[serde(default)]
    exp: Option<i64>,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(flatten)]
    rest: serde_json::Map<String, serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GrantClaim {
    project: String,
    #[serde(default)]
    branch: Option<String>,
    role: String,
}

fn config_number(key: &str, default: u64) -> Result<u64, Error> {
    match host::config_get(key) {
        None => Ok(default),
        Some(v) => v.parse().map_err(|_| Error::invalid_options(format!("{key} must be a number, not {v:?}"))),
    }
}

fn key_for(algorithm: Algorithm) -> Result<Option<DecodingKey>, Error> {
    let bad_key = |e: jsonwebtoken::errors::Error| Error::invalid_options(format!("the configured key: {e}"));
    match algorithm {
        Algorithm::HS256 => Ok(host::config_get("hs256_secret").map(|s| DecodingKey::from_secret(s.as_bytes()))),
        Algorithm::RS256 => {
            host::config_get("rs256_public_key").map(|pem| DecodingKey::from_rsa_pem(pem.as_bytes()).map_err(bad_key)).transpose()
        }
        _ => Ok(None),
    }
}

fn grant(claim: GrantClaim) -> Result<Grant, String> {
    let role = match claim.role.as_str() {
        "project_admin" => Role::ProjectAdmin,
        "branch_admin" => Role::BranchAdmin,
        "branch_read" => Role::BranchRead,
        other => return Err(format!("unknown role {other:?} in the token's grants")),
    };
    Ok(Grant { project: claim.project, branch: claim.branch, role })
}

impl Guest for Jwt {
    fn schemes() -> Vec<String> {
        vec!["bearer".to_owned()]
    }

    fn authenticate(credential: Credential) -> Result<Outcome, Error> {
        let token = credential.secret.as_str();
        if credential.scheme != "bearer" || token.split('.').count() != 3 {
            return Ok(Outcome::NotApplicable);
        }
        let Ok(header) = decode_header(token) else { return Ok(Outcome::NotApplicable) };
        let Some(key) = key_for(header.alg)? else {
            return Ok(Outcome::Denied(format!("tokens signed with {:?} are not accepted", header.alg)));
        };
        let mut validation = Validation::new(header.alg);
        validation.leeway = config_number("leeway_seconds", 30)?;
        validation.set_required_spec_claims(&["exp", "sub"]);
        match host::config_get("audience") {
            Some(aud) => validation.set_audience(&[aud]),
            None => validation.validate_aud = false,
        }
        if let Some(iss) = host::config_get("issuer") {
            validation.set_issuer(&[iss]);
        }
        let claims = match decode::<Claims>(token, &key, &validation) {
            Ok(data) => data.claims,
            Err(e) => return Ok(Outcome::Denied(format!("the token is not valid: {e}"))),
        };
        let claim_name = host::config_get("grants_claim").unwrap_or_else(|| "duckstore_grants".to_owned());
        let raw_grants = claims.rest.get(&claim_name).cloned().unwrap_or(serde_json::Value::Array(vec![]));
        let grants = match serde_json::from_value::<Vec<GrantClaim>>(raw_grants) {
            Ok(list) => list.into_iter().map(grant).collect::<Result<Vec<_>, _>>(),
            Err(e) => Err(format!("the token's {claim_name} claim is malformed: {e}")),
        };
        match grants {
            Ok(grants) => Ok(Outcome::Authenticated(Principal {
                subject: claims.sub,
                groups: claims.groups,
                grants,
                expires_at: claims.exp,
            })),
            Err(reason) => Ok(Outcome::Denied(reason)),
        }
    }
}

duckstore_plugin_guest::auth_provider_plugin!(Jwt);
