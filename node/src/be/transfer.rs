//! Snapshot transfers between a BE and a repository (uploads for BACKUP, downloads for RESTORE):
//! their progress counters, and [`Transfers`], the per-BE bound on how many run at once.
//!
//! A transfer is tracked by (job id, tablet id) from the moment it is asked for until it ends,
//! however it ends, so GetUploadProgress/GetDownloadProgress show the ones waiting for a slot too,
//! and a second request for the same tablet of the same job is refused while one runs.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tonic::Status;

/// Counters of a running transfer, read by the progress RPCs while it runs.
#[derive(Debug, Default)]
pub struct TransferProgress {
    files_total: AtomicU64,
    files_done: AtomicU64,
    bytes_total: AtomicU64,
    bytes_done: AtomicU64,
}

/// A copy of [`TransferProgress`]'s counters. Skipped files (already there) count as done.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ProgressCounts {
    pub files_total: u64,
    pub files_done: u64,
    pub bytes_total: u64,
    pub bytes_done: u64,
}

impl TransferProgress {
    pub fn counts(&self) -> ProgressCounts {
        ProgressCounts {
            files_total: self.files_total.load(Ordering::Relaxed),
            files_done: self.files_done.load(Ordering::Relaxed),
            bytes_total: self.bytes_total.load(Ordering::Relaxed),
            bytes_done: self.bytes_done.load(Ordering::Relaxed),
        }
    }

    /// What the whole transfer moves.
    pub(super) fn set_totals(&self, files: u64, bytes: u64) {
        self.files_total.store(files, Ordering::Relaxed);
        self.bytes_total.store(bytes, Ordering::Relaxed);
    }

    /// One more file of `bytes` bytes is done.
    pub(super) fn file_done(&self, bytes: u64) {
        self.files_done.fetch_add(1, Ordering::Relaxed);
        self.bytes_done.fetch_add(bytes, Ordering::Relaxed);
    }
}

/// One kind of transfer on one BE: at most `concurrency` run at once (more wait for a slot), at
/// most [`MAX_TRACKED_TRANSFERS`] run or wait (more are refused: the FE retries).
pub(super) struct Transfers {
    /// "upload" or "download", in messages.
    what: &'static str,
    slots: tokio::sync::Semaphore,
    running: std::sync::Mutex<BTreeMap<(i64, i64), Arc<TransferProgress>>>,
}

/// Transfers of one kind running or waiting at once; more are refused.
pub(super) const MAX_TRACKED_TRANSFERS: usize = 4_096;

impl Transfers {
    pub(super) fn new(what: &'static str, concurrency: usize) -> Transfers {
        assert!(concurrency >= 1, "{what}s need at least one slot");
        Transfers {
            what,
            slots: tokio::sync::Semaphore::new(concurrency),
            running: std::sync::Mutex::new(BTreeMap::new()),
        }
    }

    fn running(&self) -> std::sync::MutexGuard<'_, BTreeMap<(i64, i64), Arc<TransferProgress>>> {
        self.running.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Registers the transfer of `tablet_id` for `job_id`; it is tracked until the result drops.
    pub(super) fn track(&self, job_id: i64, tablet_id: i64) -> Result<Tracked<'_>, Status> {
        let what = self.what;
        let progress = Arc::new(TransferProgress::default());
        let mut running = self.running();
        if running.contains_key(&(job_id, tablet_id)) {
            // AlreadyExists, so the FE waits for the running one instead of counting a failure.
            return Err(Status::already_exists(format!(
                "tablet {tablet_id} of job {job_id} is already being {what}ed here"
            )));
        }
        if running.len() >= MAX_TRACKED_TRANSFERS {
            return Err(Status::resource_exhausted(format!(
                "{MAX_TRACKED_TRANSFERS} {what}s are already running or waiting here; retry later"
            )));
        }
        running.insert((job_id, tablet_id), progress.clone());
        Ok(Tracked { transfers: self, key: (job_id, tablet_id), progress })
    }

    /// Waits for a free slot; the transfer runs while the permit lives.
    pub(super) async fn slot(&self) -> Result<tokio::sync::SemaphorePermit<'_>, Status> {
        self.slots.acquire().await.map_err(|_| Status::unavailable("the backend is shutting down"))
    }

    /// The summed progress of `job_id`'s transfers running or waiting here, and how many there are.
    pub(super) fn progress(&self, job_id: i64) -> (u64, ProgressCounts) {
        let running = self.running();
        let mut sum = ProgressCounts::default();
        let mut count = 0;
        for progress in running.range((job_id, i64::MIN)..=(job_id, i64::MAX)).map(|(_, p)| p.counts()) {
            count += 1;
            sum.files_total += progress.files_total;
            sum.files_done += progress.files_done;
            sum.bytes_total += progress.bytes_total;
            sum.bytes_done += progress.bytes_done;
        }
        (count, sum)
    }
}

/// A tracked transfer; dropping it ends the tracking.
pub(super) struct Tracked<'a> {
    transfers: &'a Transfers,
    key: (i64, i64),
    progress: Arc<TransferProgress>,
}

impl Tracked<'_> {
    pub(super) fn progress(&self) -> &TransferProgress {
        &self.progress
    }
}

impl Drop for Tracked<'_> {
    fn drop(&mut self) {
        self.transfers.running().remove(&self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transfers_are_tracked_once_and_summed_per_job() {
        let transfers = Transfers::new("download", 1);
        let a = transfers.track(1, 10).unwrap();
        let b = transfers.track(1, 11).unwrap();
        let _other_job = transfers.track(2, 10).unwrap();
        assert_eq!(transfers.track(1, 10).err().map(|s| s.code()), Some(tonic::Code::AlreadyExists));
        a.progress().set_totals(2, 100);
        a.progress().file_done(40);
        b.progress().set_totals(1, 5);
        let (count, sum) = transfers.progress(1);
        assert_eq!(count, 2);
        assert_eq!(sum, ProgressCounts { files_total: 3, files_done: 1, bytes_total: 105, bytes_done: 40 });
        drop(a);
        assert_eq!(transfers.progress(1).0, 1);
        assert!(transfers.track(1, 10).is_ok(), "tracked again once the first ended");
    }
}
