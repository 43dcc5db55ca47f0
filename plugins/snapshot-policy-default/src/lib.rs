//! The default snapshot policy: snapshot exactly when the table's effective snapshot
//! settings enable snapshots and the operation's trigger.

use duckstore_plugin_guest::snapshot_policy::*;

struct SettingsPolicy;

impl Guest for SettingsPolicy {
    fn decide(context: Context) -> Result<Decision, Error> {
        Ok(if settings_want_snapshot(&context) {
            Decision::Snapshot(SnapshotRequest { label: None, retain_days: None })
        } else {
            Decision::Skip
        })
    }
}

duckstore_plugin_guest::snapshot_policy_plugin!(SettingsPolicy);
