//! Auth-provider plugins as the authenticator uses them: one fresh instance per request.

use std::time::Instant;

pub use super::bindings::auth_provider::exports::duckstore::plugin::auth_provider::{
    Credential, Outcome, Principal, Role,
};
use super::loader::Exports;
use super::manifest::PluginKind;
use super::registry::CallOutcome;
use super::{PluginError, Plugins};

impl Plugins {
    /// Asks the auth provider `name` about `credential`. Every failure is an error: the
    /// caller fails closed.
    pub fn authenticate(&self, name: &str, credential: &Credential) -> Result<Outcome, PluginError> {
        let loaded = self.checkout(name, PluginKind::AuthProvider)?;
        let Exports::AuthProvider { pre, schemes } = &loaded.exports else {
            unreachable!("checkout returned an auth provider")
        };
        if !schemes.contains(&credential.scheme) {
            return Ok(Outcome::NotApplicable);
        }
        let started = Instant::now();
        let mut sandbox = self.runtime().sandbox(loaded.identity.clone(), loaded.limits);
        let answer = pre.instantiate(&mut sandbox.store).and_then(|bindings| {
            sandbox.arm();
            bindings.duckstore_plugin_auth_provider().call_authenticate(&mut sandbox.store, credential)
        });
        match answer {
            Ok(Ok(outcome)) => {
                self.record(&loaded, CallOutcome::Ok, started);
                Ok(outcome)
            }
            Ok(Err(error)) => {
                self.record(&loaded, CallOutcome::Error, started);
                Err(PluginError::Returned { name: name.to_owned(), error })
            }
            Err(e) => Err(self.fault(&loaded, sandbox.fault(e), started)),
        }
    }
}
