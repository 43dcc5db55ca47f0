//! An engine on a temporary directory, with a clock tests can move, and a project with one
//! bucket and one table to work on.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{Duration, Utc};

use duckstore_engine_duckdb::{DuckEngine, EngineConfig, EngineSettings, FileLimits, WorkspaceLimits};
use duckstore_plugin_sdk::StorageBackend;
use duckstore_plugin_sdk::model::{ApiKey, NewBucket, NewProject, NewTable, Scope, StoredApiKey};
use duckstore_plugin_sdk::names::{BranchRef, BucketName, ColumnName, ProjectId, Stage, TableName, TableRef};
use duckstore_plugin_sdk::policy::{Decision, DestructiveOp, PolicyContext, SnapshotPolicy};
use duckstore_plugin_sdk::schema::{ColumnDef, ColumnType};
use duckstore_plugin_sdk::settings::SnapshotSettings;

/// An engine whose clock runs `offset` days ahead of the real one.
pub fn engine(dir: &std::path::Path, offset: Arc<AtomicI64>) -> DuckEngine {
    DuckEngine::open(EngineConfig {
        settings: EngineSettings {
            data_dir: dir.to_owned(),
            threads: 1,
            memory_limit: "256MB".into(),
            // Two: every test also runs with idle table files detached and attached again.
            max_attached_tables: 2,
            files: FileLimits {
                max_file_bytes: 1 << 30,
                max_files_per_project: 100,
                max_bytes_per_project: 1 << 30,
                upload_ttl_secs: 24 * 3600,
            },
            snapshot_defaults: SnapshotSettings::default(),
            workspaces: WorkspaceLimits {
                threads: 1,
                memory_limit: "128MB".into(),
                default_size_bytes: 1 << 30,
                max_sessions: 4,
            },
            imports: Default::default(),
        },
        policy: Arc::new(SettingsPolicy),
        clock: Arc::new(move || Utc::now() + Duration::days(offset.load(Ordering::SeqCst))),
    })
    .unwrap()
}

/// Project `p` with table `in.c-b.t (a INTEGER)` on its main branch.
pub fn project_with_table(e: &DuckEngine) -> (BranchRef, TableRef) {
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
    let table = main.bucket(bucket.id.clone()).table(TableName::new("t").unwrap());
    e.create_table(
        &table.bucket_ref(),
        &NewTable { name: table.table.clone(), columns: vec![integer("a")], primary_key: vec![] },
    )
    .unwrap();
    (main, table)
}

pub fn integer(name: &str) -> ColumnDef {
    ColumnDef { name: ColumnName::new(name).unwrap(), data_type: ColumnType::Integer, nullable: true, default: None }
}

/// What the server's default policy plugin decides, for engine tests without a plugin host.
pub struct SettingsPolicy;

impl SnapshotPolicy for SettingsPolicy {
    fn decide(&self, ctx: &PolicyContext) -> duckstore_plugin_sdk::Result<Decision> {
        let t = &ctx.settings.auto_snapshot_triggers;
        let wanted = ctx.settings.enabled
            && match ctx.operation {
                DestructiveOp::DropTable => t.drop_table,
                DestructiveOp::TruncateTable => t.truncate_table,
                DestructiveOp::DeleteAllRows => t.delete_all_rows,
                DestructiveOp::DropColumn => t.drop_column,
                DestructiveOp::DeleteRows | DestructiveOp::ReplaceRows => false,
            };
        Ok(if wanted { Decision::Snapshot { label: None, retain_days: None } } else { Decision::Skip })
    }
}
