//! Hierarchical snapshot settings, stored per level in `meta.settings` (project rows have
//! an empty bucket and table, bucket rows an empty table). Keys are branch-independent.

use duckdb::{Connection, OptionalExt, params};

use duckstore_plugin_sdk::names::{ProjectId, TableRef};
use duckstore_plugin_sdk::settings::{
    Level, SettingsScope, SettingsView, SnapshotSettings, SnapshotSettingsPatch, resolve,
};
use duckstore_plugin_sdk::{Result, StorageError};

use crate::DuckEngine;
use crate::error::db_err;
use crate::views::{bucket_view, table_view};

/// The (project, bucket, table) key of a level; empty strings for the levels above.
fn key(scope: &SettingsScope) -> (ProjectId, String, String) {
    match scope {
        SettingsScope::Project(p) => (p.clone(), String::new(), String::new()),
        SettingsScope::Bucket(b) => (b.project.clone(), b.bucket.to_string(), String::new()),
        SettingsScope::Table(t) => (t.project.clone(), t.bucket.to_string(), t.table.to_string()),
    }
}

fn stored(c: &Connection, (project, bucket, table): &(ProjectId, String, String)) -> Result<SnapshotSettingsPatch> {
    let text: Option<String> = c
        .query_row(
            "SELECT snapshots FROM meta.settings WHERE project_id = ? AND bucket_id = ? AND table_name = ?",
            [project.as_str(), bucket, table],
            |r| r.get(0),
        )
        .optional()
        .map_err(db_err)?;
    text.map(|t| serde_json::from_str(&t).map_err(|e| StorageError::internal(format!("corrupt settings: {e}"))))
        .transpose()
        .map(Option::unwrap_or_default)
}

/// The levels from the project down to `scope`, most general first.
fn levels(c: &Connection, scope: &SettingsScope) -> Result<Vec<(Level, SnapshotSettingsPatch)>> {
    let (project, bucket, table) = key(scope);
    let mut levels = vec![(Level::Project, stored(c, &(project.clone(), String::new(), String::new()))?)];
    if !bucket.is_empty() {
        levels.push((Level::Bucket, stored(c, &(project.clone(), bucket.clone(), String::new()))?));
    }
    if !table.is_empty() {
        levels.push((Level::Table, stored(c, &(project, bucket, table))?));
    }
    Ok(levels)
}

fn check(patch: &SnapshotSettingsPatch) -> Result<()> {
    let days = patch.retention.iter().flat_map(|r| [r.manual_days, r.auto_days]).flatten();
    if let Some(bad) = days.into_iter().find(|d| !(1..=36_500).contains(d)) {
        return Err(StorageError::invalid("invalid_settings", format!("retention days must be 1 to 36500, got {bad}")));
    }
    Ok(())
}

impl DuckEngine {
    fn require_scope(&self, c: &Connection, scope: &SettingsScope) -> Result<()> {
        match scope {
            SettingsScope::Project(p) => crate::projects::require(c, p),
            SettingsScope::Bucket(b) => bucket_view(c, b).map(drop),
            SettingsScope::Table(t) => table_view(c, t).map(drop),
        }
    }

    /// The effective settings for a table.
    pub(crate) fn effective_settings(&self, c: &Connection, t: &TableRef) -> Result<SnapshotSettings> {
        Ok(resolve(self.snapshot_defaults, &levels(c, &SettingsScope::Table(t.clone()))?).effective)
    }

    fn settings_view(&self, c: &Connection, scope: &SettingsScope) -> Result<SettingsView> {
        Ok(resolve(self.snapshot_defaults, &levels(c, scope)?))
    }

    pub(crate) fn settings_get(&self, scope: &SettingsScope) -> Result<SettingsView> {
        self.read(|c| {
            self.require_scope(c, scope)?;
            self.settings_view(c, scope)
        })
    }

    /// Stores the given keys at the scope's level, keeping the level's other keys.
    pub(crate) fn settings_update(&self, scope: &SettingsScope, patch: &SnapshotSettingsPatch) -> Result<SettingsView> {
        check(patch)?;
        self.write(|c| {
            self.require_scope(c, scope)?;
            let k = key(scope);
            let merged = stored(c, &k)?.merged(patch);
            c.execute(
                "DELETE FROM meta.settings WHERE project_id = ? AND bucket_id = ? AND table_name = ?",
                [k.0.as_str(), &k.1, &k.2],
            )
            .map_err(db_err)?;
            c.execute(
                "INSERT INTO meta.settings VALUES (?, ?, ?, ?)",
                params![k.0.as_str(), k.1, k.2, serde_json::to_string(&merged).expect("settings serialize")],
            )
            .map_err(db_err)?;
            self.settings_view(c, scope)
        })
    }

    /// Removes the scope's own keys: everything is inherited again.
    pub(crate) fn settings_clear(&self, scope: &SettingsScope) -> Result<SettingsView> {
        self.write(|c| {
            self.require_scope(c, scope)?;
            let k = key(scope);
            c.execute(
                "DELETE FROM meta.settings WHERE project_id = ? AND bucket_id = ? AND table_name = ?",
                [k.0.as_str(), &k.1, &k.2],
            )
            .map_err(db_err)?;
            self.settings_view(c, scope)
        })
    }
}
