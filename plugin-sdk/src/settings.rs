//! Hierarchical snapshot settings: system → project → bucket → table.
//!
//! Each level stores only the keys set on it ([`SnapshotSettingsPatch`]); the effective
//! settings overlay the levels, and every effective value records where it came from.
//! Unknown keys are rejected at every depth (the earlier implementation ignored them).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Triggers {
    pub drop_table: bool,
    pub truncate_table: bool,
    pub delete_all_rows: bool,
    pub drop_column: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Retention {
    pub manual_days: u32,
    pub auto_days: u32,
}

/// Effective snapshot settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SnapshotSettings {
    /// Master switch for automatic snapshots.
    pub enabled: bool,
    pub auto_snapshot_triggers: Triggers,
    pub retention: Retention,
}

impl Default for SnapshotSettings {
    /// The system level: snapshots on, only DROP TABLE triggers one, 90/7 days.
    fn default() -> Self {
        Self {
            enabled: true,
            auto_snapshot_triggers: Triggers {
                drop_table: true,
                truncate_table: false,
                delete_all_rows: false,
                drop_column: false,
            },
            retention: Retention { manual_days: 90, auto_days: 7 },
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TriggersPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drop_table: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncate_table: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_all_rows: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drop_column: Option<bool>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetentionPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manual_days: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_days: Option<u32>,
}

/// The keys set at one level.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SnapshotSettingsPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_snapshot_triggers: Option<TriggersPatch>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<RetentionPatch>,
}

/// The levels settings are inherited through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    System,
    Project,
    Bucket,
    Table,
}

impl SnapshotSettingsPatch {
    /// `self` with the keys of `newer` written over it.
    pub fn merged(self, newer: &SnapshotSettingsPatch) -> SnapshotSettingsPatch {
        let t = |old: Option<TriggersPatch>, new: Option<TriggersPatch>| match (old, new) {
            (Some(o), Some(n)) => Some(TriggersPatch {
                drop_table: n.drop_table.or(o.drop_table),
                truncate_table: n.truncate_table.or(o.truncate_table),
                delete_all_rows: n.delete_all_rows.or(o.delete_all_rows),
                drop_column: n.drop_column.or(o.drop_column),
            }),
            (o, n) => n.or(o),
        };
        let r = |old: Option<RetentionPatch>, new: Option<RetentionPatch>| match (old, new) {
            (Some(o), Some(n)) => Some(RetentionPatch {
                manual_days: n.manual_days.or(o.manual_days),
                auto_days: n.auto_days.or(o.auto_days),
            }),
            (o, n) => n.or(o),
        };
        SnapshotSettingsPatch {
            enabled: newer.enabled.or(self.enabled),
            auto_snapshot_triggers: t(self.auto_snapshot_triggers, newer.auto_snapshot_triggers),
            retention: r(self.retention, newer.retention),
        }
    }
}

/// The effective settings at one level, where each value came from, and the local keys.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SettingsView {
    pub effective: SnapshotSettings,
    /// Dotted key (`retention.auto_days`) → the level it was inherited from.
    pub inheritance: BTreeMap<String, Level>,
    /// The keys set at this level itself.
    pub local: SnapshotSettingsPatch,
}

/// Overlays `levels` (most general first) on the system settings.
pub fn resolve(system: SnapshotSettings, levels: &[(Level, SnapshotSettingsPatch)]) -> SettingsView {
    let mut eff = system;
    let mut from: BTreeMap<String, Level> = [
        "enabled",
        "auto_snapshot_triggers.drop_table",
        "auto_snapshot_triggers.truncate_table",
        "auto_snapshot_triggers.delete_all_rows",
        "auto_snapshot_triggers.drop_column",
        "retention.manual_days",
        "retention.auto_days",
    ]
    .into_iter()
    .map(|k| (k.to_owned(), Level::System))
    .collect();
    for (level, patch) in levels {
        let mut set = |key: &str| {
            from.insert(key.to_owned(), *level);
        };
        if let Some(v) = patch.enabled {
            eff.enabled = v;
            set("enabled");
        }
        if let Some(t) = patch.auto_snapshot_triggers {
            let trig = &mut eff.auto_snapshot_triggers;
            for (value, slot, key) in [
                (t.drop_table, &mut trig.drop_table, "auto_snapshot_triggers.drop_table"),
                (t.truncate_table, &mut trig.truncate_table, "auto_snapshot_triggers.truncate_table"),
                (t.delete_all_rows, &mut trig.delete_all_rows, "auto_snapshot_triggers.delete_all_rows"),
                (t.drop_column, &mut trig.drop_column, "auto_snapshot_triggers.drop_column"),
            ] {
                if let Some(v) = value {
                    *slot = v;
                    set(key);
                }
            }
        }
        if let Some(r) = patch.retention {
            if let Some(v) = r.manual_days {
                eff.retention.manual_days = v;
                set("retention.manual_days");
            }
            if let Some(v) = r.auto_days {
                eff.retention.auto_days = v;
                set("retention.auto_days");
            }
        }
    }
    let local = levels.last().map(|(_, p)| *p).unwrap_or_default();
    SettingsView { effective: eff, inheritance: from, local }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_override_in_order_and_record_their_origin() {
        let project = SnapshotSettingsPatch {
            retention: Some(RetentionPatch { auto_days: Some(30), ..Default::default() }),
            ..Default::default()
        };
        let table = SnapshotSettingsPatch {
            auto_snapshot_triggers: Some(TriggersPatch { truncate_table: Some(true), ..Default::default() }),
            ..Default::default()
        };
        let view = resolve(
            SnapshotSettings::default(),
            &[(Level::Project, project), (Level::Bucket, Default::default()), (Level::Table, table)],
        );
        assert_eq!(view.effective.retention.auto_days, 30);
        assert!(view.effective.auto_snapshot_triggers.truncate_table);
        assert!(view.effective.auto_snapshot_triggers.drop_table);
        assert_eq!(view.inheritance["retention.auto_days"], Level::Project);
        assert_eq!(view.inheritance["auto_snapshot_triggers.truncate_table"], Level::Table);
        assert_eq!(view.inheritance["retention.manual_days"], Level::System);
        assert_eq!(view.local, table);
    }

    #[test]
    fn unknown_keys_are_rejected_at_every_depth() {
        for bad in
            [r#"{"enabeld": true}"#, r#"{"retention": {"days": 3}}"#, r#"{"auto_snapshot_triggers": {"drop": true}}"#]
        {
            assert!(serde_json::from_str::<SnapshotSettingsPatch>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn merging_keeps_old_keys_and_takes_new_ones() {
        let old: SnapshotSettingsPatch =
            serde_json::from_str(r#"{"enabled": false, "retention": {"auto_days": 3}}"#).unwrap();
        let new: SnapshotSettingsPatch = serde_json::from_str(r#"{"retention": {"manual_days": 10}}"#).unwrap();
        let merged = old.merged(&new);
        assert_eq!(merged.enabled, Some(false));
        assert_eq!(merged.retention, Some(RetentionPatch { manual_days: Some(10), auto_days: Some(3) }));
    }
}

/// The level a settings request addresses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SettingsScope {
    Project(crate::names::ProjectId),
    Bucket(crate::names::BucketRef),
    Table(crate::names::TableRef),
}
