//! Jobs: long operations (imports, exports, snapshots) run in the background and are
//! polled by id. Their records live in the catalog, so they outlive a restart.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::names::{BranchId, ProjectId};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Waiting,
    Processing,
    Success,
    Error,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Waiting => "waiting",
            JobStatus::Processing => "processing",
            JobStatus::Success => "success",
            JobStatus::Error => "error",
        }
    }

    pub fn is_finished(self) -> bool {
        matches!(self, JobStatus::Success | JobStatus::Error)
    }
}

impl std::str::FromStr for JobStatus {
    type Err = crate::StorageError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "waiting" => JobStatus::Waiting,
            "processing" => JobStatus::Processing,
            "success" => JobStatus::Success,
            "error" => JobStatus::Error,
            _ => return Err(crate::StorageError::internal(format!("unknown job status {s:?}"))),
        })
    }
}

/// How far a job got: rows written and bytes read or written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JobProgress {
    pub rows: u64,
    pub bytes: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JobError {
    pub code: String,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Job {
    pub id: String,
    #[schema(value_type = String)]
    pub project_id: ProjectId,
    #[schema(value_type = Option<String>)]
    pub branch_id: Option<BranchId>,
    /// `table_import`, `table_export`, …
    pub kind: String,
    pub status: JobStatus,
    /// The table the job works on, as `<bucket id>.<table>`.
    pub table_id: Option<String>,
    pub progress: JobProgress,
    /// The operation's result once it succeeded (e.g. the import summary, the exported file).
    #[schema(value_type = Option<Object>)]
    pub result: Option<Value>,
    pub error: Option<JobError>,
    /// Who started it (`admin` or `key:<id>`).
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// What the host records when it starts a job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewJob {
    pub project: ProjectId,
    pub branch: Option<BranchId>,
    pub kind: String,
    pub table_id: Option<String>,
    pub created_by: String,
}
