//! Auth-provider plugins: decide who presented a credential that is not a duckstore key.
//!
//! Implement [`Guest`] and export with [`auth_provider_plugin!`](crate::auth_provider_plugin).
//! Answer `Outcome::NotApplicable` for credentials that are not yours, so that the next
//! provider is asked; the host fails closed on every error.

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "auth-provider-plugin",
        path: "../wit",
        pub_export_macro: true,
        export_macro_name: "__export_auth_provider",
        default_bindings_module: "duckstore_plugin_guest::auth_provider::bindings",
    });
}

pub use bindings::duckstore::plugin::host;
pub use bindings::duckstore::plugin::types::{Error, ErrorCode};
pub use bindings::exports::duckstore::plugin::auth_provider::{Credential, Grant, Guest, Outcome, Principal, Role};

/// Exports `$ty` (which implements [`Guest`]) as this crate's auth-provider plugin.
#[macro_export]
macro_rules! auth_provider_plugin {
    ($ty:ident) => {
        $crate::__manifest!("auth-provider");
        $crate::auth_provider::bindings::__export_auth_provider!($ty with_types_in $crate::auth_provider::bindings);
    };
}
