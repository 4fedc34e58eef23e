//! The scheduler: a driver task for every journaled job that has not ended, so a restarted FE
//! resumes every job; all of them stopped at shutdown.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::fe::Fe;
use crate::fe::jobs::backup::job::BackupJob;
use crate::fe::jobs::driver;
use crate::fe::jobs::restore::job::RestoreJob;
use crate::fe::jobs::state::JobState;
use crate::shutdown::Shutdown;

/// How often the scheduler looks for jobs without a driver.
pub const SCHEDULER_INTERVAL_MS: u64 = 500;

impl Fe {
    fn job_drivers(&self) -> std::sync::MutexGuard<'_, BTreeMap<i64, tokio::task::JoinHandle<()>>> {
        self.job_drivers.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Starts a driver for every backup and restore job that has not ended and has none; stops them
/// all at shutdown.
pub(crate) async fn run(fe: Arc<Fe>, mut shutdown: Shutdown) {
    let mut seen = fe.jobs_submitted.version();
    // The simulator can make this FE forget the jobs it replayed (they are never driven again).
    let forgotten: Vec<i64> = if palo_buggify::injected_bug(palo_buggify::Bug::FeForgetsReplayedJobs) {
        let state = fe.state().await;
        state.backup.jobs.keys().chain(state.restore.jobs.keys()).copied().collect()
    } else {
        Vec::new()
    };
    loop {
        tokio::select! {
            biased;
            _ = shutdown.wait() => break,
            _ = fe.jobs_submitted.changed_since(seen) => {}
            _ = tokio::time::sleep(Duration::from_millis(SCHEDULER_INTERVAL_MS)) => {}
        }
        // Read before the jobs, so a job submitted while they are read wakes the next round.
        seen = fe.jobs_submitted.version();
        let (backups, restores): (Vec<i64>, Vec<i64>) = {
            let durable = fe.durable.lock().await;
            let state = &durable.state;
            (
                state.backup.jobs.values().filter(|j| !j.state.is_done()).map(|j| j.id).collect(),
                state.restore.jobs.values().filter(|j| !j.state.is_done()).map(|j| j.id).collect(),
            )
        };
        let (backups, restores): (Vec<i64>, Vec<i64>) = (
            backups.into_iter().filter(|id| !forgotten.contains(id)).collect(),
            restores.into_iter().filter(|id| !forgotten.contains(id)).collect(),
        );
        let mut drivers = fe.job_drivers();
        drivers.retain(|_, handle| !handle.is_finished());
        for job_id in backups {
            drivers.entry(job_id).or_insert_with(|| tokio::spawn(driver::drive::<BackupJob>(fe.clone(), job_id)));
        }
        // Restore jobs take ids from the same catalog counter, so one map holds both.
        for job_id in restores {
            drivers.entry(job_id).or_insert_with(|| tokio::spawn(driver::drive::<RestoreJob>(fe.clone(), job_id)));
        }
    }
    fe.stop_job_drivers();
}

impl Fe {
    /// Stops every job driver (at shutdown, or when the FE stops on a fatal error).
    pub(crate) fn stop_job_drivers(&self) {
        for (_, handle) in std::mem::take(&mut *self.job_drivers()) {
            handle.abort();
        }
    }
}
