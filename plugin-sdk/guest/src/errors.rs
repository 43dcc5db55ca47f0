//! Shorthands for the contract's error record, shared by every kind's bindings.

macro_rules! error_helpers {
    ($types:path) => {
        use $types::{Error, ErrorCode};

        impl Error {
            pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
                Error { code, message: message.into(), location: None }
            }
            /// Malformed input, e.g. a bad row or a bad token.
            pub fn invalid_input(message: impl Into<String>) -> Self {
                Self::new(ErrorCode::InvalidInput, message)
            }
            /// Wrong options or configuration.
            pub fn invalid_options(message: impl Into<String>) -> Self {
                Self::new(ErrorCode::InvalidOptions, message)
            }
            pub fn unsupported(message: impl Into<String>) -> Self {
                Self::new(ErrorCode::Unsupported, message)
            }
            pub fn internal(message: impl Into<String>) -> Self {
                Self::new(ErrorCode::Internal, message)
            }
            /// Says where in the input the problem is, e.g. `"line 12"`.
            pub fn at(mut self, location: impl Into<String>) -> Self {
                self.location = Some(location.into());
                self
            }
        }
    };
}

#[cfg(feature = "import-format")]
error_helpers!(crate::import_format::bindings::duckstore::plugin::types);
#[cfg(feature = "auth-provider")]
error_helpers!(crate::auth_provider::bindings::duckstore::plugin::types);
#[cfg(feature = "snapshot-policy")]
error_helpers!(crate::snapshot_policy::bindings::duckstore::plugin::types);
