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
    /// The whole transfer state (UPLOADING, DOWNLOADING): totals fixed when it started here.
    pub totals: Option<TransferTotals>,
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

/// A transfer state's tablets and files, counted when its tasks were queued (when the state
/// started, or when a restarted FE resumed it), and what is done of them since.
#[derive(Debug, Clone, Copy)]
pub struct TransferTotals {
    pub started: tokio::time::Instant,
    pub tablets_total: u64,
    pub tablets_done: u64,
    pub files_total: u64,
    pub files_done: u64,
    pub bytes_done: u64,
}

impl TransferTotals {
    pub fn new(started: tokio::time::Instant, tablets_total: u64, files_total: u64) -> TransferTotals {
        TransferTotals { started, tablets_total, tablets_done: 0, files_total, files_done: 0, bytes_done: 0 }
    }

    /// A tablet of `files` files finished, having moved `bytes` (files already in place move none).
    pub fn finished(&mut self, files: u64, bytes: u64) {
        self.tablets_done += 1;
        self.files_done += files;
        self.bytes_done += bytes;
        debug_assert!(self.tablets_done <= self.tablets_total, "more tablets done than the state has");
    }

    /// `total: 120/2048 tablets, 240/4096 files, 1.2 MB in 3 s (80 files/s, 0.4 MB/s), about 48 s
    /// left`: the time left is the files left at the rate so far.
    pub fn text(&self, now: tokio::time::Instant) -> String {
        let elapsed_s = now.saturating_duration_since(self.started).as_secs_f64();
        let mb = self.bytes_done as f64 / 1e6;
        let mut text = format!(
            "total: {}/{} tablets, {}/{} files, {mb:.1} MB in {elapsed_s:.0} s",
            self.tablets_done, self.tablets_total, self.files_done, self.files_total
        );
        if elapsed_s >= 1.0 && self.files_done > 0 {
            let files_per_s = self.files_done as f64 / elapsed_s;
            let left_s = (self.files_total.saturating_sub(self.files_done)) as f64 / files_per_s;
            text += &format!(" ({files_per_s:.0} files/s, {:.1} MB/s), about {left_s:.0} s left", mb / elapsed_s);
        }
        text
    }
}

impl JobRuntime {
    pub fn unfinished_text(&self) -> String {
        self.unfinished.iter().take(MAX_SHOWN_TASKS).map(|(t, b)| format!("[{t}={b}]")).collect::<Vec<_>>().join(", ")
    }

    /// The whole state's progress first (when a transfer runs), then each backend's.
    pub fn progress_text(&self) -> String {
        let now = crate::clock::monotonic();
        self.totals
            .iter()
            .map(|t| format!("[{}]", t.text(now)))
            .chain(self.progress.iter().map(|(be, p)| {
                format!(
                    "[{be}: {}/{} tablets, {}/{} files]",
                    p.tablets_done, p.tablets_total, p.files_done, p.files_total
                )
            }))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Progress says what is done of totals fixed at the start, the rate, and the time left.
    #[test]
    fn progress_shows_totals_rate_and_time_left() {
        let start = crate::clock::monotonic();
        let mut totals = TransferTotals::new(start, 4, 100);
        assert_eq!(totals.text(start), "total: 0/4 tablets, 0/100 files, 0.0 MB in 0 s");
        totals.finished(25, 5_000_000);
        let later = start + Duration::from_secs(5);
        assert_eq!(
            totals.text(later),
            "total: 1/4 tablets, 25/100 files, 5.0 MB in 5 s (5 files/s, 1.0 MB/s), about 15 s left"
        );
        let mut runtime = JobRuntime { totals: Some(totals), ..JobRuntime::default() };
        runtime
            .progress
            .insert(10_001, BackendProgress { tablets_total: 2, tablets_done: 1, files_total: 0, files_done: 0 });
        let text = runtime.progress_text();
        assert!(text.starts_with("[total: 1/4 tablets, 25/100 files"), "{text}");
        assert!(text.ends_with("[10001: 1/2 tablets, 0/0 files]"), "{text}");
    }
}
