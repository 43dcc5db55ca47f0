//! The engine's auto-snapshot decision point, answered by a snapshot-policy plugin.

use std::sync::Arc;
use std::time::Instant;

use duckstore_plugin_sdk::policy::{Decision, DestructiveOp, PolicyContext, SnapshotPolicy};
use duckstore_plugin_sdk::{Result, StorageError};

use super::bindings::snapshot_policy::exports::duckstore::plugin::snapshot_policy as wit;
use super::loader::Exports;
use super::manifest::PluginKind;
use super::registry::CallOutcome;
use super::{PluginError, Plugins};

/// Routes every decision to the configured policy plugin. An error here makes the engine
/// take the snapshot (fail safe); so does a missing or disabled plugin.
pub struct PluginPolicy {
    pub plugins: Arc<Plugins>,
    pub name: String,
}

impl SnapshotPolicy for PluginPolicy {
    fn decide(&self, context: &PolicyContext) -> Result<Decision> {
        let loaded = self.plugins.checkout(&self.name, PluginKind::SnapshotPolicy)?;
        let Exports::SnapshotPolicy { pre } = &loaded.exports else { unreachable!("checkout returned a policy") };
        let started = Instant::now();
        let mut sandbox = self.plugins.runtime().sandbox(loaded.identity.clone(), loaded.limits);
        let answer = pre.instantiate(&mut sandbox.store).and_then(|bindings| {
            sandbox.arm();
            bindings.duckstore_plugin_snapshot_policy().call_decide(&mut sandbox.store, &wit_context(context))
        });
        match answer {
            Ok(Ok(decision)) => {
                self.plugins.record(&loaded, CallOutcome::Ok, started);
                Ok(match decision {
                    wit::Decision::Skip => Decision::Skip,
                    wit::Decision::Snapshot(r) => Decision::Snapshot { label: r.label, retain_days: r.retain_days },
                })
            }
            Ok(Err(error)) => {
                self.plugins.record(&loaded, CallOutcome::Fault, started);
                Err(PluginError::Returned { name: self.name.clone(), error }.into())
            }
            Err(e) => Err(StorageError::from(self.plugins.fault(&loaded, sandbox.fault(e), started))),
        }
    }
}

fn wit_context(c: &PolicyContext) -> wit::Context {
    let s = &c.settings;
    wit::Context {
        operation: match c.operation {
            DestructiveOp::DropTable => wit::Operation::DropTable,
            DestructiveOp::TruncateTable => wit::Operation::TruncateTable,
            DestructiveOp::DeleteAllRows => wit::Operation::DeleteAllRows,
            DestructiveOp::DeleteRows => wit::Operation::DeleteRows,
            DestructiveOp::DropColumn => wit::Operation::DropColumn,
            DestructiveOp::ReplaceRows => wit::Operation::ReplaceRows,
        },
        project: c.project.clone(),
        branch: c.branch.clone(),
        bucket: c.bucket.clone(),
        table: c.table.clone(),
        rows_affected: c.rows_affected,
        table_rows: c.table_rows,
        table_bytes: c.table_bytes,
        principal: c.principal.clone(),
        seconds_since_last_snapshot: c.seconds_since_last_snapshot,
        settings: wit::Settings {
            enabled: s.enabled,
            on_drop_table: s.auto_snapshot_triggers.drop_table,
            on_truncate_table: s.auto_snapshot_triggers.truncate_table,
            on_delete_all_rows: s.auto_snapshot_triggers.delete_all_rows,
            on_drop_column: s.auto_snapshot_triggers.drop_column,
            manual_retention_days: s.retention.manual_days,
            auto_retention_days: s.retention.auto_days,
        },
    }
}
