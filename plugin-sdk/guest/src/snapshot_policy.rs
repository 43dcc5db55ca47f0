//! Snapshot-policy plugins: decide whether a table is snapshotted before an operation
//! destroys data.
//!
//! Implement [`Guest`] and export with [`snapshot_policy_plugin!`](crate::snapshot_policy_plugin).
//! The host fails safe: if the policy errs or traps, the snapshot is taken.

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "snapshot-policy-plugin",
        path: "../wit",
        pub_export_macro: true,
        export_macro_name: "__export_snapshot_policy",
        default_bindings_module: "duckstore_plugin_guest::snapshot_policy::bindings",
    });
}

pub use bindings::duckstore::plugin::host;
pub use bindings::duckstore::plugin::types::{Error, ErrorCode};
pub use bindings::exports::duckstore::plugin::snapshot_policy::{
    Context, Decision, Guest, Operation, Settings, SnapshotRequest,
};

/// What the settings alone ask for: the operation's trigger, if snapshots are enabled.
/// Filtered deletes and full loads have no trigger of their own.
pub fn settings_want_snapshot(context: &Context) -> bool {
    let s = &context.settings;
    s.enabled
        && match context.operation {
            Operation::DropTable => s.on_drop_table,
            Operation::TruncateTable => s.on_truncate_table,
            Operation::DeleteAllRows => s.on_delete_all_rows,
            Operation::DropColumn => s.on_drop_column,
            Operation::DeleteRows | Operation::ReplaceRows => false,
        }
}

/// Exports `$ty` (which implements [`Guest`]) as this crate's snapshot-policy plugin.
#[macro_export]
macro_rules! snapshot_policy_plugin {
    ($ty:ident) => {
        $crate::__manifest!("snapshot-policy");
        $crate::snapshot_policy::bindings::__export_snapshot_policy!($ty with_types_in $crate::snapshot_policy::bindings);
    };
}
