//! The loop that runs one backup or restore job until it ends: one state's work at a time,
//! retried with backoff up to [`MAX_TASK_ATTEMPTS`], the job cancelled on a failure, after too
//! many attempts, or at its deadline. What a kind of job does in each state is its own
//! (`backup/driver.rs`, `restore/driver.rs`); this loop is shared.

use std::sync::Arc;
use std::time::Duration;

use crate::error::SqlError;
use crate::fe::Fe;
use crate::fe::jobs::status::JobStatus;
use crate::fe::jobs::status::StatusCode;

/// A kind of job the loop drives.
pub(crate) trait DrivenJob: Sized {
    /// "backup" or "restore", for logs.
    const KIND: &'static str;

    /// The job as journaled now, `None` if it is gone.
    async fn load(fe: &Fe, job_id: i64) -> Option<Self>;
    fn is_done(&self) -> bool;
    fn deadline_ms(&self) -> u64;
    fn state_name(&self) -> &'static str;
    /// The status the job ends with when its deadline passes.
    fn timeout_status(&self) -> JobStatus;
    /// Whether a failure of this state's work is retried until the deadline, however often.
    fn retries_forever(&self) -> bool {
        false
    }
    /// This state's work, ending with the move to the next state.
    async fn step(&self, fe: &Fe) -> Result<(), StepError>;
    /// Ends the job with `status`. An error only when the journal could not record it (the job
    /// ended already is no error: the loop sees it end).
    async fn cancel(fe: &Fe, job_id: i64, status: JobStatus) -> Result<(), SqlError>;
    /// Once the job has ended (or is gone): release what it holds on the backends.
    async fn after_end(fe: &Fe, job_id: i64);
}

/// Runs job `job_id` until it ends (or the FE stops the task).
pub(crate) async fn drive<J: DrivenJob>(fe: Arc<Fe>, job_id: i64) {
    let mut failures = 0u32;
    loop {
        let Some(job) = J::load(&fe, job_id).await else {
            break;
        };
        if job.is_done() {
            break;
        }
        let now_ms = crate::clock::now_ms();
        if now_ms >= job.deadline_ms() {
            if let Err(e) = J::cancel(&fe, job_id, job.timeout_status()).await {
                tracing::warn!(job_id, error = %e, "fe: cannot record a {}'s timeout; retrying", J::KIND);
                tokio::time::sleep(backoff(1)).await;
            }
            continue;
        }
        let remaining = Duration::from_millis(job.deadline_ms() - now_ms);
        let outcome = tokio::select! {
            biased;
            _ = fe.wait_job_done(job_id) => Err(StepError::Moved),
            _ = tokio::time::sleep(remaining) => continue,
            r = job.step(&fe) => r,
        };
        match outcome {
            Ok(()) => failures = 0,
            Err(StepError::Moved) => {}
            Err(StepError::Fail(status)) => {
                if let Err(e) = J::cancel(&fe, job_id, status).await {
                    tracing::warn!(job_id, error = %e, "fe: cannot record a {}'s failure; retrying", J::KIND);
                    tokio::time::sleep(backoff(1)).await;
                }
            }
            Err(StepError::Retry(message)) => {
                failures += 1;
                let what = format!("{}: {message}", job.state_name());
                tracing::info!(job_id, attempt = failures, "fe: {} step failed: {what}", J::KIND);
                fe.with_runtime(job_id, |r| r.note_error(what.clone()));
                palo_buggify::job_tasks(job_id, || format!("step failed (attempt {failures}): {message}"));
                if !job.retries_forever() && failures >= MAX_TASK_ATTEMPTS {
                    let status =
                        JobStatus::error(StatusCode::CommonError, format!("{what} (after {failures} attempts)"));
                    let _ = J::cancel(&fe, job_id, status).await;
                    continue;
                }
                tokio::time::sleep(backoff(failures)).await;
            }
        }
    }
    J::after_end(&fe, job_id).await;
    fe.job_runtime().remove(&job_id);
}

/// Attempts of one task (a tablet's snapshot or upload, a state's step) before the job fails.
pub const MAX_TASK_ATTEMPTS: u32 = 8;

/// Backoff between attempts: doubling from the base, capped.
pub const BASE_RETRY_MS: u64 = 1_000;

pub const MAX_RETRY_MS: u64 = 30_000;

pub(crate) fn backoff(attempt: u32) -> Duration {
    let ms = BASE_RETRY_MS.saturating_mul(1u64 << attempt.saturating_sub(1).min(16));
    Duration::from_millis(ms.min(MAX_RETRY_MS))
}

/// Why a state's work did not finish.
#[derive(Debug)]
pub(crate) enum StepError {
    /// The job fails with this status.
    Fail(JobStatus),
    /// Something transient: the state's work is tried again after a backoff.
    Retry(String),
    /// The job left this state meanwhile (cancelled): nothing to do.
    Moved,
}

pub(crate) fn fail(message: impl Into<String>) -> StepError {
    StepError::Fail(JobStatus::error(StatusCode::CommonError, message))
}
