//! Workspace logins: passwords are generated once and stored only as salted SCRAM-SHA-256
//! verifiers (PostgreSQL's own format); the wire server checks logins against them.

use std::fmt::Debug;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use pgwire::api::auth::sasl::scram::{ScramSecret, gen_salted_password};
use pgwire::api::auth::{AuthSource, LoginInfo, Password};
use pgwire::error::PgWireResult;
use rand::RngCore;
use rand::distr::{Alphanumeric, SampleString};

use crate::pg::error::fatal;
use crate::storage::Storage;

/// Iterations of PBKDF2 in new verifiers (PostgreSQL's default).
const ITERATIONS: usize = 4096;

pub fn new_password() -> String {
    Alphanumeric.sample_string(&mut rand::rng(), 32)
}

/// `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`, as PostgreSQL stores it.
pub fn verifier(password: &str) -> String {
    let mut salt = vec![0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salted = gen_salted_password(password, &salt, ITERATIONS);
    match ScramSecret::verifier_from_salted_password(salt, salted, ITERATIONS) {
        ScramSecret::Verifier { salt, iterations, stored_key, server_key } => format!(
            "SCRAM-SHA-256${iterations}:{}${}:{}",
            B64.encode(salt),
            B64.encode(stored_key),
            B64.encode(server_key)
        ),
        ScramSecret::SaltedPassword { .. } => unreachable!("verifier_from_salted_password returns a verifier"),
    }
}

fn parse_verifier(v: &str) -> Option<ScramSecret> {
    let rest = v.strip_prefix("SCRAM-SHA-256$")?;
    let (params, keys) = rest.split_once('$')?;
    let (iterations, salt) = params.split_once(':')?;
    let (stored, server) = keys.split_once(':')?;
    Some(ScramSecret::Verifier {
        salt: B64.decode(salt).ok()?,
        iterations: iterations.parse().ok()?,
        stored_key: B64.decode(stored).ok()?,
        server_key: B64.decode(server).ok()?,
    })
}

/// Looks up the verifier of the workspace named by the login's database.
#[derive(Clone)]
pub struct Verifiers(pub Storage);

impl Debug for Verifiers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Verifiers")
    }
}

#[async_trait]
impl AuthSource for Verifiers {
    async fn get_password(&self, _login: &LoginInfo) -> PgWireResult<Password> {
        Err(fatal("28000", "only SCRAM-SHA-256 authentication is supported"))
    }

    async fn get_scram_secret(&self, login: &LoginInfo) -> PgWireResult<(ScramSecret, Option<()>)> {
        let id = login.database().or(login.user()).unwrap_or_default().to_owned();
        let stored = self.0.run(move |s| s.find_workspace(&id)).await.map_err(|e| fatal("XX000", &e.to_string()))?;
        let secret = stored.and_then(|w| parse_verifier(&w.verifier));
        // Unknown logins were refused before authentication started; a damaged verifier
        // fails the login like a wrong password.
        Ok((
            secret.unwrap_or_else(|| ScramSecret::Verifier {
                salt: vec![0; 16],
                iterations: ITERATIONS,
                stored_key: vec![0; 32],
                server_key: vec![0; 32],
            }),
            None,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifiers_are_salted_and_check_only_their_password() {
        let (a, b) = (verifier("secret"), verifier("secret"));
        assert_ne!(a, b, "every verifier has its own salt");
        assert!(a.starts_with("SCRAM-SHA-256$4096:"));
        assert!(!a.contains("secret"));
        let Some(ScramSecret::Verifier { salt, stored_key, .. }) = parse_verifier(&a) else { panic!("parses") };
        let stored_for = |password: &str| match ScramSecret::verifier_from_salted_password(
            salt.clone(),
            gen_salted_password(password, &salt, ITERATIONS),
            ITERATIONS,
        ) {
            ScramSecret::Verifier { stored_key, .. } => stored_key,
            ScramSecret::SaltedPassword { .. } => unreachable!(),
        };
        assert_eq!(stored_for("secret"), stored_key);
        assert_ne!(stored_for("Secret"), stored_key);
    }
}
