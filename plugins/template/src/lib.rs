//! A plugin to start from (docs/plugins.md walks through it): a snapshot policy that
//! snapshots any table with rows before data is destroyed, and says so in the label.

use duckstore_plugin_guest::snapshot_policy::*;

struct Template;

impl Guest for Template {
    fn decide(context: Context) -> Result<Decision, Error> {
        if context.table_rows == 0 {
            return Ok(Decision::Skip);
        }
        host::log(host::Level::Info, &format!("snapshotting {}.{} first", context.bucket, context.table));
        let label = format!("template: before {:?}", context.operation);
        Ok(Decision::Snapshot(SnapshotRequest { label: Some(label), retain_days: None }))
    }
}

duckstore_plugin_guest::snapshot_policy_plugin!(Template);
