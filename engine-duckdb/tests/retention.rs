//! Retention: the sweeper deletes snapshots (data and catalog row) once their time is up,
//! driven by an injected clock.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use duckstore_plugin_sdk::StorageBackend;
use duckstore_plugin_sdk::settings::{SettingsScope, SnapshotSettingsPatch};
use duckstore_plugin_sdk::snapshots::{NewSnapshot, SnapshotQuery};

use common::{engine, project_with_table};

#[test]
fn expired_snapshots_are_swept_data_and_row() {
    let dir = tempfile::tempdir().unwrap();
    let days = Arc::new(AtomicI64::new(0));
    let e = engine(dir.path(), days.clone());
    let (main, table) = project_with_table(&e);
    let bucket_id = table.bucket.clone();
    // The table keeps manual snapshots for 10 days.
    let patch: SnapshotSettingsPatch = serde_json::from_str(r#"{"retention": {"manual_days": 10}}"#).unwrap();
    e.update_snapshot_settings(&SettingsScope::Table(table.clone()), &patch).unwrap();

    let new = NewSnapshot { bucket_id, table_name: table.table.clone(), description: None };
    let kept = e.create_snapshot(&main, &new, "test").unwrap();
    assert_eq!((kept.expires_at - kept.created_at).num_days(), 10);
    let snapshot_dir = dir.path().join("snapshots/p").join(&kept.id);
    assert!(snapshot_dir.join("data.parquet").exists());

    days.store(9, Ordering::SeqCst);
    assert_eq!(e.sweep_expired_snapshots().unwrap(), 0, "not expired yet");
    assert_eq!(e.list_snapshots(&main, &SnapshotQuery::default()).unwrap().len(), 1);
    days.store(11, Ordering::SeqCst);
    // Past its deadline a snapshot is gone at once; the sweep only reclaims its space.
    assert!(e.list_snapshots(&main, &SnapshotQuery::default()).unwrap().is_empty());
    let gone = e.get_snapshot(&main, &kept.id).unwrap_err();
    assert_eq!(gone.kind, duckstore_plugin_sdk::ErrorKind::NotFound, "{gone:?}");
    assert!(snapshot_dir.exists(), "not swept yet");
    assert_eq!(e.sweep_expired_snapshots().unwrap(), 1);
    assert!(!snapshot_dir.exists(), "the snapshot's files are deleted");
    assert!(e.list_snapshots(&main, &SnapshotQuery::default()).unwrap().is_empty(), "and its catalog row");

    // An automatic snapshot (dropping the table) uses the 7-day default.
    e.delete_table(&table, "test").unwrap();
    let auto = e.list_snapshots(&main, &SnapshotQuery::default()).unwrap();
    assert_eq!(auto.len(), 1);
    days.store(11 + 8, Ordering::SeqCst);
    assert_eq!(e.sweep_expired_snapshots().unwrap(), 1);
}
