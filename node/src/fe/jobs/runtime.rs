//! What a running job knows that is not journaled (lost on restart): SHOW's UnfinishedTasks,
//! Progress and fresh TaskErrMsg, per job id (both kinds take ids from one counter).

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use crate::fe::Fe;
use crate::fe::jobs::limits::MAX_SHOWN_TASKS;
use crate::fe::jobs::state::JobState;

/// How often a waiter looks whether a job has ended.
pub const JOB_POLL_MS: u64 = 500;

/// What a running job knows that is not journaled (lost on restart): SHOW BACKUP's
/// UnfinishedTasks, Progress and fresh TaskErrMsg.
#[derive(Debug, Clone, Default)]
pub struct JobRuntime {
    /// Tablet -> the backend its task is on (or would go to).
    pub unfinished: BTreeMap<i64, i64>,
    /// Per backend: uploads assigned and done, and the BE's counters of its running uploads.
    pub progress: BTreeMap<i64, BackendProgress>,
    /// `[what: message]`, newest last, at most [`MAX_SHOWN_TASKS`].
    pub task_errors: VecDeque<String>,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct BackendProgress {
    pub tablets_total: u64,
    pub tablets_done: u64,
    pub files_total: u64,
    pub files_done: u64,
}

impl JobRuntime {
    pub fn unfinished_text(&self) -> String {
        self.unfinished.iter().take(MAX_SHOWN_TASKS).map(|(t, b)| format!("[{t}={b}]")).collect::<Vec<_>>().join(", ")
    }

    pub fn progress_text(&self) -> String {
        self.progress
            .iter()
            .map(|(be, p)| {
                format!(
                    "[{be}: {}/{} tablets, {}/{} files]",
                    p.tablets_done, p.tablets_total, p.files_done, p.files_total
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// SHOW's TaskErrMsg: the journaled errors of a job and the fresh ones of its runtime (if it
    /// runs), newest last, at most [`MAX_SHOWN_TASKS`], each as `[what: message]`.
    pub(crate) fn task_errors_text(journaled: &[String], live: Option<&JobRuntime>) -> String {
        let mut errors: Vec<&String> = journaled.iter().collect();
        if let Some(r) = live {
            errors.extend(r.task_errors.iter().filter(|e| !journaled.contains(e)));
        }
        let skip = errors.len().saturating_sub(MAX_SHOWN_TASKS);
        errors.iter().skip(skip).map(|e| format!("[{e}]")).collect::<Vec<_>>().join(", ")
    }

    /// SHOW's UnfinishedTasks, Progress and TaskErrMsg cells of job `job_id` in `state`, with
    /// its journaled errors. What a driver still holds of a job that ended is not news.
    pub(crate) fn shown<S: JobState>(
        runtime: &BTreeMap<i64, JobRuntime>,
        job_id: i64,
        state: S,
        journaled: &[String],
    ) -> [Option<String>; 3] {
        let live = if state.is_done() { None } else { runtime.get(&job_id) };
        [
            Some(live.map(JobRuntime::unfinished_text).unwrap_or_default()),
            Some(live.map(JobRuntime::progress_text).unwrap_or_default()),
            Some(JobRuntime::task_errors_text(journaled, live)),
        ]
    }

    pub(crate) fn note_error(&mut self, error: String) {
        // The same failure again (a retry of a task that keeps failing) is shown once.
        if self.task_errors.back() == Some(&error) {
            return;
        }
        if self.task_errors.len() >= MAX_SHOWN_TASKS {
            self.task_errors.pop_front();
        }
        self.task_errors.push_back(error);
    }
}

impl Fe {
    pub(crate) fn job_runtime(&self) -> std::sync::MutexGuard<'_, BTreeMap<i64, JobRuntime>> {
        self.job_runtime.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A copy of every running job's runtime view.
    pub(crate) fn job_runtime_snapshot(&self) -> BTreeMap<i64, JobRuntime> {
        self.job_runtime().clone()
    }

    pub(crate) fn with_runtime(&self, job_id: i64, f: impl FnOnce(&mut JobRuntime)) {
        f(self.job_runtime().entry(job_id).or_default());
    }

    /// A task of job `job_id` failed: shown by SHOW BACKUP/RESTORE's TaskErrMsg, and in the
    /// simulator's trace.
    pub(crate) fn note_task_error(&self, job_id: i64, message: &str) {
        self.with_runtime(job_id, |r| r.note_error(message.to_string()));
        palo_buggify::job_tasks(job_id, || format!("failed: {message}"));
    }

    /// Returns once the backup or restore job `job_id` has ended (or is gone). Both kinds take
    /// ids from one counter, so an id names one job of one kind.
    pub(crate) async fn wait_job_done(&self, job_id: i64) {
        loop {
            tokio::time::sleep(Duration::from_millis(JOB_POLL_MS)).await;
            let durable = self.durable.lock().await;
            let state = &durable.state;
            let running = state.backup.jobs.get(&job_id).is_some_and(|j| !j.state.is_done())
                || state.restore.jobs.get(&job_id).is_some_and(|j| !j.state.is_done());
            if !running {
                return;
            }
        }
    }
}
