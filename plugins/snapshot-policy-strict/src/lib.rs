//! A stricter snapshot policy, as an example of a policy with opinions of its own:
//! - everything the settings ask for, plus deletes touching more than `max_rows` rows
//!   (config key, default 1000) and full loads replacing a non-empty table;
//! - at most one automatic snapshot per table every 5 minutes, except before a table is
//!   dropped, which cannot be undone any other way.

use duckstore_plugin_guest::snapshot_policy::*;

const MIN_SECONDS_BETWEEN: u64 = 300;

struct StrictPolicy;

impl Guest for StrictPolicy {
    fn decide(context: Context) -> Result<Decision, Error> {
        let max_rows = match host::config_get("max_rows") {
            None => 1000,
            Some(v) => v.parse().map_err(|_| Error::invalid_options(format!("max_rows must be a number, not {v:?}")))?,
        };
        let large = context.rows_affected.is_some_and(|rows| rows > max_rows);
        let wanted = settings_want_snapshot(&context)
            || (context.operation == Operation::DeleteRows && large)
            || (context.operation == Operation::ReplaceRows && context.table_rows > 0);
        let recent = context.seconds_since_last_snapshot.is_some_and(|s| s < MIN_SECONDS_BETWEEN);
        if !wanted || (recent && context.operation != Operation::DropTable) {
            return Ok(Decision::Skip);
        }
        let label = format!("strict policy: before {:?}", context.operation);
        Ok(Decision::Snapshot(SnapshotRequest { label: Some(label), retain_days: None }))
    }
}

duckstore_plugin_guest::snapshot_policy_plugin!(StrictPolicy);
