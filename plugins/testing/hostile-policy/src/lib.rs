//! For tests only: a snapshot policy that misbehaves according to the table's name
//! (`panic…` panics, `loop…` never returns) and otherwise always skips the snapshot, so
//! that the suite can tell its decisions from the fail-safe default.

use duckstore_plugin_guest::snapshot_policy::*;

struct Hostile;

impl Guest for Hostile {
    fn decide(context: Context) -> Result<Decision, Error> {
        if context.table.starts_with("panic") {
            panic!("the hostile policy panics on purpose");
        }
        if context.table.starts_with("loop") {
            loop {
                std::hint::black_box(());
            }
        }
        Ok(Decision::Skip)
    }
}

duckstore_plugin_guest::snapshot_policy_plugin!(Hostile);
