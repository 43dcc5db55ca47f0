//! Validated identifiers.
//!
//! Every name that reaches a path on disk or an SQL identifier is one of these types, and
//! the only way to build one is through validation: `[A-Za-z0-9_-]`, 1..=64 characters.
//! That rules out path traversal (`..`, `/`), quoting tricks and unicode look-alikes in one
//! place, so the rest of the code never has to re-check a string.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::StorageError;

/// Longest accepted name, in bytes (all accepted characters are ASCII).
pub const MAX_NAME_LEN: usize = 64;

fn check(kind: &'static str, s: &str) -> Result<(), StorageError> {
    if s.is_empty() || s.len() > MAX_NAME_LEN {
        return Err(StorageError::invalid(
            "invalid_name",
            format!("{kind} name must be 1 to {MAX_NAME_LEN} characters long, got {}", s.chars().count()),
        ));
    }
    if let Some(bad) = s.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-')) {
        return Err(StorageError::invalid(
            "invalid_name",
            format!("{kind} name {s:?} contains {bad:?}; only letters, digits, '_' and '-' are allowed"),
        ));
    }
    Ok(())
}

macro_rules! name_type {
    ($(#[$doc:meta])* $ty:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $ty(String);

        impl $ty {
            /// Validates `s` as a name of this kind.
            pub fn new(s: impl Into<String>) -> Result<Self, StorageError> {
                let s = s.into();
                check($kind, &s)?;
                Ok(Self(s))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $ty {
            type Err = StorageError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::new(s)
            }
        }

        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::new(s).map_err(serde::de::Error::custom)
            }
        }
    };
}

name_type!(
    /// A project id, chosen by whoever creates the project.
    ProjectId, "project"
);
name_type!(
    /// A branch id; `default` is the project's main branch.
    BranchId, "branch"
);
name_type!(
    /// The name part of a bucket (`sales` in `in.c-sales`).
    BucketName, "bucket"
);
name_type!(
    /// A table name, unique (case-insensitively) within its bucket.
    TableName, "table"
);
name_type!(
    /// A column name, unique (case-insensitively) within its table.
    ColumnName, "column"
);

impl BranchId {
    /// The id of every project's main branch.
    pub const DEFAULT: &'static str = "default";

    pub fn main() -> Self {
        Self(Self::DEFAULT.to_owned())
    }

    pub fn is_main(&self) -> bool {
        self.0 == Self::DEFAULT
    }
}

impl ColumnName {
    /// System column holding the time each row was last written by an import.
    pub const TIMESTAMP: &'static str = "_timestamp";

    /// Validates a column name a user wants to define: system names are reserved.
    pub fn user(s: impl Into<String>) -> Result<Self, StorageError> {
        let name = Self::new(s)?;
        if name.0.eq_ignore_ascii_case(Self::TIMESTAMP) {
            return Err(StorageError::invalid(
                "reserved_column_name",
                format!("column name {:?} is reserved for the system", name.0),
            ));
        }
        Ok(name)
    }
}

/// Keboola's bucket stages: `in` for source data, `out` for results.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    In,
    Out,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::In => "in",
            Stage::Out => "out",
        }
    }
}

impl std::str::FromStr for Stage {
    type Err = StorageError;

    fn from_str(s: &str) -> Result<Self, StorageError> {
        match s {
            "in" => Ok(Stage::In),
            "out" => Ok(Stage::Out),
            _ => Err(StorageError::invalid("invalid_stage", format!("stage must be \"in\" or \"out\", got {s:?}"))),
        }
    }
}

/// A bucket id in Keboola's form `<stage>.c-<name>`, e.g. `in.c-sales`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BucketId {
    pub stage: Stage,
    pub name: BucketName,
}

impl BucketId {
    pub fn new(stage: Stage, name: BucketName) -> Self {
        Self { stage, name }
    }
}

impl fmt::Display for BucketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.c-{}", self.stage.as_str(), self.name)
    }
}

impl std::str::FromStr for BucketId {
    type Err = StorageError;

    fn from_str(s: &str) -> Result<Self, StorageError> {
        let bad = || {
            StorageError::invalid(
                "invalid_bucket_id",
                format!("bucket id {s:?} must look like in.c-<name> or out.c-<name>"),
            )
        };
        let (stage, name) = s.split_once(".c-").ok_or_else(bad)?;
        let stage = stage.parse().map_err(|_| bad())?;
        Ok(Self { stage, name: BucketName::new(name)? })
    }
}

impl Serialize for BucketId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for BucketId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

/// Where a bucket lives: a project's branch.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BranchRef {
    pub project: ProjectId,
    pub branch: BranchId,
}

/// Addresses one bucket on one branch.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BucketRef {
    pub project: ProjectId,
    pub branch: BranchId,
    pub bucket: BucketId,
}

/// Addresses one table on one branch.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TableRef {
    pub project: ProjectId,
    pub branch: BranchId,
    pub bucket: BucketId,
    pub table: TableName,
}

impl BranchRef {
    pub fn bucket(&self, bucket: BucketId) -> BucketRef {
        BucketRef { project: self.project.clone(), branch: self.branch.clone(), bucket }
    }
}

impl BucketRef {
    pub fn branch_ref(&self) -> BranchRef {
        BranchRef { project: self.project.clone(), branch: self.branch.clone() }
    }

    pub fn table(&self, table: TableName) -> TableRef {
        TableRef { project: self.project.clone(), branch: self.branch.clone(), bucket: self.bucket.clone(), table }
    }
}

impl TableRef {
    pub fn bucket_ref(&self) -> BucketRef {
        BucketRef { project: self.project.clone(), branch: self.branch.clone(), bucket: self.bucket.clone() }
    }

    /// Keboola's table id, `<bucket id>.<table>`.
    pub fn table_id(&self) -> String {
        format!("{}.{}", self.bucket, self.table)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_traversal_punctuation_unicode_and_length() {
        for bad in ["", "../x", "a/b", "a;drop", "a b", "tab\u{e9}", "a.b", &"x".repeat(65)] {
            assert!(TableName::new(bad).is_err(), "{bad:?} must be rejected");
        }
        assert!(TableName::new("Orders_2024-q1").is_ok());
        assert!(TableName::new("x".repeat(64)).is_ok());
    }

    #[test]
    fn bucket_ids_round_trip_keboola_form() {
        let id: BucketId = "in.c-sales".parse().unwrap();
        assert_eq!(id.stage, Stage::In);
        assert_eq!(id.to_string(), "in.c-sales");
        for bad in ["sales", "sys.c-x", "in.c-", "in.c-../x", "in-c.sales"] {
            assert!(bad.parse::<BucketId>().is_err(), "{bad:?} must be rejected");
        }
    }

    #[test]
    fn timestamp_column_is_reserved_for_users() {
        assert!(ColumnName::user("_TIMESTAMP").is_err());
        assert!(ColumnName::new("_timestamp").is_ok());
    }
}
