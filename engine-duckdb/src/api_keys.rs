//! API key records. The host generates secrets and hashes them; only hashes are stored.

use duckdb::{Connection, OptionalExt, params};

use duckstore_plugin_sdk::model::{ApiKey, KeyHash, Scope, StoredApiKey};
use duckstore_plugin_sdk::names::{BranchRef, ProjectId};
use duckstore_plugin_sdk::{Resource, Result, StorageError};

use crate::DuckEngine;
use crate::catalog::{naive, parsed, ts, ts_opt};
use crate::error::db_err;

const COLUMNS: &str = "id, project_id, branch_id, scope, description, key_prefix, secret_sha256, \
                       created_at, last_used_at, expires_at, revoked_at";

fn map_row(r: &duckdb::Row<'_>) -> duckdb::Result<StoredApiKey> {
    let scope: String = r.get(3)?;
    let hash: String = r.get(6)?;
    let bad = |idx, what: &str| {
        duckdb::Error::FromSqlConversionFailure(idx, duckdb::types::Type::Text, format!("bad {what} in catalog").into())
    };
    let mut secret_hash = KeyHash::default();
    hex::decode_to_slice(&hash, &mut secret_hash).map_err(|_| bad(6, "key hash"))?;
    Ok(StoredApiKey {
        key: ApiKey {
            id: r.get(0)?,
            project_id: parsed(r, 1)?,
            branch_id: r.get::<_, Option<String>>(2)?.map(|b| b.parse()).transpose().map_err(|_| bad(2, "branch"))?,
            scope: Scope::parse(&scope).ok_or_else(|| bad(3, "scope"))?,
            description: r.get(4)?,
            key_prefix: r.get(5)?,
            created_at: ts(r, 7)?,
            last_used_at: ts_opt(r, 8)?,
            expires_at: ts_opt(r, 9)?,
            is_revoked: r.get::<_, Option<duckdb::types::Value>>(10)?.is_some(),
        },
        secret_hash,
    })
}

pub(crate) fn insert(c: &Connection, k: &StoredApiKey) -> Result<()> {
    let key = &k.key;
    c.execute(
        &format!("INSERT INTO meta.api_keys ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, NULL)"),
        params![
            key.id,
            key.project_id.as_str(),
            key.branch_id.as_ref().map(|b| b.as_str()),
            key.scope.as_str(),
            key.description,
            key.key_prefix,
            hex::encode(k.secret_hash),
            naive(key.created_at),
            key.expires_at.map(naive),
        ],
    )
    .map_err(db_err)?;
    Ok(())
}

fn find(c: &Connection, key_id: &str) -> Result<Option<StoredApiKey>> {
    c.query_row(&format!("SELECT {COLUMNS} FROM meta.api_keys WHERE id = ?"), [key_id], map_row)
        .optional()
        .map_err(db_err)
}

/// The key `key_id` of `project`; keys of other projects are reported as missing.
fn find_in(c: &Connection, project: &ProjectId, key_id: &str) -> Result<StoredApiKey> {
    find(c, key_id)?
        .filter(|k| &k.key.project_id == project)
        .ok_or_else(|| StorageError::not_found(Resource::ApiKey, key_id))
}

impl DuckEngine {
    pub(crate) fn api_key_create(&self, k: &StoredApiKey) -> Result<ApiKey> {
        let key = &k.key;
        match (key.scope, &key.branch_id) {
            (Scope::ProjectAdmin, Some(_)) => {
                return Err(StorageError::invalid(
                    "invalid_scope",
                    "a project_admin key cannot be limited to a branch",
                ));
            }
            (Scope::BranchAdmin | Scope::BranchRead, None) => {
                return Err(StorageError::invalid(
                    "invalid_scope",
                    format!("a {} key needs a branch_id", key.scope.as_str()),
                ));
            }
            _ => {}
        }
        self.write(|c| {
            crate::projects::require(c, &key.project_id)?;
            if let Some(branch) = &key.branch_id {
                crate::buckets::require_branch(
                    c,
                    &BranchRef { project: key.project_id.clone(), branch: branch.clone() },
                )?;
            }
            if find(c, &key.id)?.is_some() {
                return Err(StorageError::internal("API key id collision; retry"));
            }
            insert(c, k)
        })?;
        Ok(key.clone())
    }

    pub(crate) fn api_key_find(&self, key_id: &str) -> Result<Option<StoredApiKey>> {
        self.read(|c| find(c, key_id))
    }

    pub(crate) fn api_key_list(&self, project: &ProjectId) -> Result<Vec<ApiKey>> {
        self.read(|c| {
            crate::projects::require(c, project)?;
            let keys = c
                .prepare(&format!("SELECT {COLUMNS} FROM meta.api_keys WHERE project_id = ? ORDER BY created_at, id"))
                .and_then(|mut s| s.query_map([project.as_str()], map_row)?.collect::<duckdb::Result<Vec<_>>>())
                .map_err(db_err)?;
            Ok(keys.into_iter().map(|k| k.key).collect())
        })
    }

    pub(crate) fn api_key_get(&self, project: &ProjectId, key_id: &str) -> Result<ApiKey> {
        self.read(|c| {
            crate::projects::require(c, project)?;
            Ok(find_in(c, project, key_id)?.key)
        })
    }

    pub(crate) fn api_key_revoke(&self, project: &ProjectId, key_id: &str) -> Result<()> {
        let now = self.now();
        self.write(|c| {
            crate::projects::require(c, project)?;
            let key = find_in(c, project, key_id)?.key;
            if key.is_revoked {
                return Ok(());
            }
            if key.scope == Scope::ProjectAdmin {
                let others: u64 = c
                    .query_row(
                        "SELECT count(*) FROM meta.api_keys WHERE project_id = ? AND id <> ? AND scope = ? \
                         AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)",
                        params![project.as_str(), key_id, Scope::ProjectAdmin.as_str(), naive(now)],
                        |r| r.get(0),
                    )
                    .map_err(db_err)?;
                if others == 0 {
                    return Err(StorageError::conflict(
                        "last_admin_key",
                        "this is the project's last active project_admin key; create another one before revoking it",
                    ));
                }
            }
            c.execute("UPDATE meta.api_keys SET revoked_at = ? WHERE id = ?", params![naive(now), key_id])
                .map_err(db_err)?;
            Ok(())
        })
    }

    pub(crate) fn api_key_rotate(&self, project: &ProjectId, key_id: &str, new_hash: &KeyHash) -> Result<ApiKey> {
        self.write(|c| {
            crate::projects::require(c, project)?;
            let key = find_in(c, project, key_id)?.key;
            if key.is_revoked {
                return Err(StorageError::conflict("api_key_revoked", format!("API key {key_id} is revoked")));
            }
            c.execute(
                "UPDATE meta.api_keys SET secret_sha256 = ? WHERE id = ?",
                params![hex::encode(new_hash), key_id],
            )
            .map_err(db_err)?;
            Ok(key)
        })
    }

    pub(crate) fn api_key_touch(&self, key_id: &str) -> Result<()> {
        let now = naive(self.now());
        self.write(|c| {
            c.execute("UPDATE meta.api_keys SET last_used_at = ? WHERE id = ?", params![now, key_id])
                .map_err(db_err)?;
            Ok(())
        })
    }

    pub(crate) fn admin_hash(&self) -> Result<Option<KeyHash>> {
        let hex_hash: Option<String> = self.read(|c| {
            c.query_row("SELECT value FROM meta.system WHERE key = 'admin_key_sha256'", [], |r| r.get(0))
                .optional()
                .map_err(db_err)
        })?;
        hex_hash
            .map(|h| {
                let mut out = KeyHash::default();
                hex::decode_to_slice(h, &mut out).map_err(|_| StorageError::internal("corrupt admin key hash"))?;
                Ok(out)
            })
            .transpose()
    }

    pub(crate) fn admin_hash_set(&self, hash: &KeyHash) -> Result<()> {
        self.write(|c| {
            c.execute("DELETE FROM meta.system WHERE key = 'admin_key_sha256'", []).map_err(db_err)?;
            c.execute("INSERT INTO meta.system VALUES ('admin_key_sha256', ?)", [hex::encode(hash)]).map_err(db_err)?;
            Ok(())
        })
    }
}
