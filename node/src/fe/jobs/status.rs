//! What both job kinds report and keep: a status as SHOW shows it, and the bound on ended jobs.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Jobs kept per database (running or not); the oldest finished ones go first (Doris's
/// `max_backup_restore_job_num_per_db`).
pub const MAX_JOBS_PER_DATABASE: usize = 10;

/// Task error messages a job keeps.
pub const MAX_TASK_ERRORS: usize = 3;

/// Doris's status codes that a backup job's status uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StatusCode {
    Ok,
    NotFound,
    Timeout,
    CommonError,
    BadFile,
}

impl StatusCode {
    fn name(self) -> &'static str {
        match self {
            StatusCode::Ok => "OK",
            StatusCode::NotFound => "NOT_FOUND",
            StatusCode::Timeout => "TIMEOUT",
            StatusCode::CommonError => "COMMON_ERROR",
            StatusCode::BadFile => "BAD_FILE",
        }
    }
}

/// A job's status: `[OK]` or `[CODE, msg: text]` when shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobStatus {
    pub code: StatusCode,
    pub message: String,
}

impl JobStatus {
    pub fn ok() -> JobStatus {
        JobStatus { code: StatusCode::Ok, message: String::new() }
    }

    pub fn error(code: StatusCode, message: impl Into<String>) -> JobStatus {
        JobStatus { code, message: message.into() }
    }

    pub fn is_ok(&self) -> bool {
        self.code == StatusCode::Ok
    }
}

impl std::fmt::Display for JobStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_ok() { write!(f, "[OK]") } else { write!(f, "[{}, msg: {}]", self.code.name(), self.message) }
    }
}

/// Drops the oldest ended jobs of database `db_id` past [`MAX_JOBS_PER_DATABASE`] (a running job
/// always stays). Jobs are keyed by id, so oldest first.
pub fn drop_oldest_ended<J>(
    jobs: &mut BTreeMap<i64, J>,
    db_id: i64,
    db_of: impl Fn(&J) -> i64,
    ended: impl Fn(&J) -> bool,
) {
    let of_db: Vec<i64> = jobs.iter().filter(|(_, j)| db_of(j) == db_id).map(|(id, _)| *id).collect();
    let mut excess = of_db.len().saturating_sub(MAX_JOBS_PER_DATABASE);
    for id in of_db {
        if excess == 0 {
            break;
        }
        if jobs.get(&id).is_some_and(&ended) {
            jobs.remove(&id);
            excess -= 1;
        }
    }
}
