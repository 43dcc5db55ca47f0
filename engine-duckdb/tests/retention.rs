//! Retention: the sweeper deletes snapshots (data and catalog row) once their time is up,
//! driven by an injected clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{Duration, Utc};

use duckstore_engine_duckdb::{DuckEngine, EngineConfig, FileLimits};
use duckstore_plugin_sdk::StorageBackend;
use duckstore_plugin_sdk::model::{ApiKey, NewBucket, NewProject, NewTable, Scope, StoredApiKey};
use duckstore_plugin_sdk::names::{BranchRef, BucketName, ColumnName, ProjectId, Stage, TableName};
use duckstore_plugin_sdk::policy::SettingsPolicy;
use duckstore_plugin_sdk::schema::{ColumnDef, ColumnType};
use duckstore_plugin_sdk::settings::{SettingsScope, SnapshotSettings, SnapshotSettingsPatch};
use duckstore_plugin_sdk::snapshots::{NewSnapshot, SnapshotQuery};

/// An engine whose clock runs `offset` days ahead of the real one.
fn engine(dir: &std::path::Path, offset: Arc<AtomicI64>) -> DuckEngine {
    DuckEngine::open(EngineConfig {
        data_dir: dir.to_owned(),
        threads: 1,
        memory_limit: "256MB".into(),
        files: FileLimits {
            max_file_bytes: 1 << 30,
            max_files_per_project: 100,
            max_bytes_per_project: 1 << 30,
            upload_ttl: Duration::hours(24),
        },
        snapshot_defaults: SnapshotSettings::default(),
        policy: Arc::new(SettingsPolicy),
        clock: Arc::new(move || Utc::now() + Duration::days(offset.load(Ordering::SeqCst))),
    })
    .unwrap()
}

#[test]
fn expired_snapshots_are_swept_data_and_row() {
    let dir = tempfile::tempdir().unwrap();
    let days = Arc::new(AtomicI64::new(0));
    let e = engine(dir.path(), days.clone());
    let project = ProjectId::new("p").unwrap();
    let key = StoredApiKey {
        key: ApiKey {
            id: "k".into(),
            project_id: project.clone(),
            branch_id: None,
            scope: Scope::ProjectAdmin,
            description: String::new(),
            key_prefix: "k".into(),
            created_at: Utc::now(),
            last_used_at: None,
            expires_at: None,
            is_revoked: false,
        },
        secret_hash: [0; 32],
    };
    e.create_project(&NewProject { id: project.clone(), name: None }, &key).unwrap();
    let main = BranchRef { project: project.clone(), branch: "default".parse().unwrap() };
    let bucket = e
        .create_bucket(&main, &NewBucket { stage: Stage::In, name: BucketName::new("b").unwrap(), description: None })
        .unwrap();
    let column = ColumnDef {
        name: ColumnName::new("a").unwrap(),
        data_type: ColumnType::Integer,
        nullable: true,
        default: None,
    };
    e.create_table(
        &main.bucket(bucket.id.clone()),
        &NewTable { name: TableName::new("t").unwrap(), columns: vec![column], primary_key: vec![] },
    )
    .unwrap();
    let table = main.bucket(bucket.id.clone()).table(TableName::new("t").unwrap());
    // The table keeps manual snapshots for 10 days.
    let patch: SnapshotSettingsPatch = serde_json::from_str(r#"{"retention": {"manual_days": 10}}"#).unwrap();
    e.update_snapshot_settings(&SettingsScope::Table(table.clone()), &patch).unwrap();

    let new = NewSnapshot { bucket_id: bucket.id.clone(), table_name: table.table.clone(), description: None };
    let kept = e.create_snapshot(&main, &new, "test").unwrap();
    assert_eq!((kept.expires_at - kept.created_at).num_days(), 10);
    let snapshot_dir = dir.path().join("snapshots/p").join(&kept.id);
    assert!(snapshot_dir.join("data.parquet").exists());

    days.store(9, Ordering::SeqCst);
    assert_eq!(e.sweep_expired_snapshots().unwrap(), 0, "not expired yet");
    days.store(11, Ordering::SeqCst);
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
