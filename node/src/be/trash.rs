//! The trash: where a backend puts the tablets it drops, so that nothing is deleted at once. A
//! dropped tablet's directory is renamed (whole: meta, rowsets, pending) to
//! `<storage_root>/trash/<drop time ms>.<tablet id>.<n>/`; it is deleted after its expiry
//! ([`BeConfig::trash_expire_s`](super::BeConfig), Doris's `trash_file_expire_time_sec`), when
//! the disk runs short of space (oldest first), or by `ADMIN CLEAN TRASH`.
//!
//! Restoring by hand: stop the backend, move the directory back to
//! `<storage_root>/tablets/<tablet id>/`, start it again. The backend opens it as the tablet it
//! was; the FE keeps it if its catalog still has that replica there (a drop by mistake) and
//! drops it again (back into the trash) otherwise.
//!
//! Crash safety: a drop is one rename followed by syncs of both parents, the trash's first, so
//! after a crash the tablet is in `tablets/` (still a tablet; the FE drops it again) or in the
//! trash, never in between and never in neither. The rename is the move: once it happened the
//! directory is the trash's, in memory too, even if a sync after it fails ([`PutError`]). An
//! entry half deleted by a crash is deleted again at the next sweep.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::disk::{self, Disk, DiskError};

const TRASH_DIR: &str = "trash";
/// Entries deleted per sweep (a sweep runs every compaction interval), so one sweep stays short.
const MAX_REMOVALS_PER_SWEEP: usize = 1_024;
/// Files counted per entry when its size is measured at open (bigger entries count as that much).
const MAX_FILES_MEASURED: usize = 10_000;

/// One tablet in the trash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    dropped_at_ms: u64,
    tablet_id: i64,
    size_bytes: u64,
}

/// What [`Trash::put`] failed at. Whether the rename happened decides what the caller's memory
/// must say: a directory renamed away is not where it was, whatever the syncs after it did.
#[derive(Debug, thiserror::Error)]
pub enum PutError {
    /// The rename failed: the directory is where it was.
    #[error("{0}")]
    NotMoved(DiskError),
    /// The rename happened (the directory is in the trash, and counted there) but a sync after it
    /// failed: a crash may still bring the directory back where it was.
    #[error("moved to {} but not durably: {source}", to.display())]
    NotDurable { to: PathBuf, source: DiskError },
}

impl PutError {
    pub fn into_disk_error(self) -> DiskError {
        match self {
            PutError::NotMoved(e) | PutError::NotDurable { source: e, .. } => e,
        }
    }
}

/// What a sweep or a clean removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Removed {
    pub tablets: u64,
    pub bytes: u64,
}

pub struct Trash {
    disk: Arc<dyn Disk>,
    dir: PathBuf,
    /// By directory name, which sorts by drop time.
    entries: std::sync::Mutex<BTreeMap<String, Entry>>,
    next_suffix: AtomicU64,
}

fn locked<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `<ms>.<tablet id>.<n>` back into its parts.
fn parse_name(name: &str) -> Option<(u64, i64)> {
    let mut parts = name.split('.');
    let ms = parts.next()?.parse().ok()?;
    let tablet_id = parts.next()?.parse().ok()?;
    parts.next()?.parse::<u64>().ok()?;
    parts.next().is_none().then_some((ms, tablet_id))
}

impl Trash {
    /// Opens (creating) `<storage_root>/trash` and learns what it holds.
    pub async fn open(disk: Arc<dyn Disk>, storage_root: &Path) -> Result<Trash, DiskError> {
        let dir = storage_root.join(TRASH_DIR);
        disk::create_dir_all_durable(disk.as_ref(), &dir).await?;
        let mut entries = BTreeMap::new();
        for entry in disk.read_dir(&dir).await? {
            let path = dir.join(&entry.name);
            match parse_name(&entry.name) {
                Some((dropped_at_ms, tablet_id)) if entry.is_dir => {
                    let size_bytes = tree_size(disk.as_ref(), &path).await;
                    entries.insert(entry.name, Entry { dropped_at_ms, tablet_id, size_bytes });
                }
                // Not ours (an operator's file, say): left alone, never counted.
                _ => tracing::warn!(path = %path.display(), "be: ignoring an unknown entry in the trash"),
            }
        }
        Ok(Trash { disk, dir, entries: std::sync::Mutex::new(entries), next_suffix: AtomicU64::new(0) })
    }

    /// Moves the directory `from` (a tablet's, whose parent is `tablets/`) into the trash, durably.
    /// Once the rename happened the entry is counted here, even if a sync after it fails
    /// ([`PutError::NotDurable`]).
    pub async fn put(&self, from: &Path, tablet_id: i64, size_bytes: u64) -> Result<PathBuf, PutError> {
        let parent = disk::parent_of(from).map_err(PutError::NotMoved)?;
        let now_ms = crate::clock::now_ms();
        let name = format!("{now_ms}.{tablet_id}.{}", self.next_suffix.fetch_add(1, Ordering::Relaxed));
        let to = self.dir.join(&name);
        self.disk.rename(from, &to).await.map_err(PutError::NotMoved)?;
        locked(&self.entries).insert(name, Entry { dropped_at_ms: now_ms, tablet_id, size_bytes });
        // The new name first: a crash between the two syncs leaves the directory named twice (fsck
        // keeps one), never unnamed, as syncing `tablets/` first would.
        let synced = match self.disk.sync_dir(&self.dir).await {
            Ok(()) => self.disk.sync_dir(parent).await,
            Err(e) => Err(e),
        };
        if let Err(source) = synced {
            return Err(PutError::NotDurable { to, source });
        }
        tracing::info!(tablet_id, trash = %to.display(), "be: tablet moved to the trash");
        Ok(to)
    }

    /// Bytes the trash holds.
    pub fn size_bytes(&self) -> u64 {
        locked(&self.entries).values().map(|e| e.size_bytes).sum()
    }

    /// Tablets the trash holds (an id once per drop).
    pub fn tablets(&self) -> Vec<i64> {
        locked(&self.entries).values().map(|e| e.tablet_id).collect()
    }

    /// Deletes the entries older than `expire_ms`, and then, while the disk is at least
    /// `full_percent` full, the oldest others.
    pub async fn sweep(&self, expire_ms: u64, full_percent: u64) -> Removed {
        let now_ms = crate::clock::now_ms();
        let expired: Vec<String> = locked(&self.entries)
            .iter()
            .filter(|(_, e)| e.dropped_at_ms.saturating_add(expire_ms) <= now_ms)
            .map(|(name, _)| name.clone())
            .take(MAX_REMOVALS_PER_SWEEP)
            .collect();
        let mut removed = self.remove(&expired, "expired").await;
        while (removed.tablets as usize) < MAX_REMOVALS_PER_SWEEP && self.disk_full(full_percent).await {
            let Some(oldest) = locked(&self.entries).keys().next().cloned() else { break };
            let more = self.remove(&[oldest], "the disk is full").await;
            if more.tablets == 0 {
                break;
            }
            removed.tablets += more.tablets;
            removed.bytes += more.bytes;
        }
        removed
    }

    /// Deletes everything in the trash (ADMIN CLEAN TRASH).
    pub async fn clean(&self) -> Removed {
        let names: Vec<String> = locked(&self.entries).keys().cloned().collect();
        self.remove(&names, "ADMIN CLEAN TRASH").await
    }

    async fn disk_full(&self, full_percent: u64) -> bool {
        match (self.disk.available_bytes().await, self.disk.capacity_bytes().await) {
            (Ok(free), Ok(total)) if total > 0 => (total - free.min(total)) * 100 >= full_percent * total,
            _ => false,
        }
    }

    async fn remove(&self, names: &[String], why: &str) -> Removed {
        let mut removed = Removed::default();
        for name in names {
            match self.disk.remove_dir_all(&self.dir.join(name)).await {
                Ok(()) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => {
                    tracing::warn!(entry = %name, error = %e, "be: cannot delete a trash entry; the next sweep retries");
                    continue;
                }
            }
            if let Some(entry) = locked(&self.entries).remove(name) {
                removed.tablets += 1;
                removed.bytes += entry.size_bytes;
                tracing::info!(tablet_id = entry.tablet_id, entry = %name, why, "be: trash entry deleted");
            }
        }
        if removed.tablets > 0 {
            let _ = self.disk.sync_dir(&self.dir).await;
        }
        removed
    }
}

/// Bytes of the files under `dir` (at most [`MAX_FILES_MEASURED`] files; errors count as 0).
async fn tree_size(disk: &dyn Disk, dir: &Path) -> u64 {
    let mut total = 0;
    let mut files = 0;
    let mut todo = vec![dir.to_path_buf()];
    while let Some(next) = todo.pop() {
        let Ok(entries) = disk.read_dir(&next).await else { continue };
        for entry in entries {
            let path = next.join(&entry.name);
            if entry.is_dir {
                todo.push(path);
            } else if files < MAX_FILES_MEASURED {
                files += 1;
                total += disk.metadata(&path).await.ok().flatten().map_or(0, |m| m.len_bytes);
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::be::test_support::TempDisk;

    #[test]
    fn names_round_trip() {
        assert_eq!(parse_name("1700000000000.20004.3"), Some((1_700_000_000_000, 20_004)));
        assert_eq!(parse_name("20004"), None);
        assert_eq!(parse_name("1.2.3.4"), None);
    }

    #[tokio::test]
    async fn a_dropped_directory_waits_in_the_trash_until_its_expiry_or_a_clean() {
        let temp = TempDisk::new("trash").await;
        let disk = temp.disk();
        let root = temp.root().to_path_buf();
        let tablet = root.join("tablets").join("7");
        disk::create_dir_all_durable(disk.as_ref(), &tablet).await.expect("tablet dir");
        disk.write_at(&tablet.join("meta.json"), 0, b"{}").await.expect("meta");
        let trash = Trash::open(disk.clone(), &root).await.expect("trash");
        let to = trash.put(&tablet, 7, 2).await.expect("put");
        assert!(disk.metadata(&tablet).await.expect("stat").is_none(), "gone from tablets/");
        assert_eq!(disk.read_all(&to.join("meta.json")).await.expect("kept"), b"{}");
        assert_eq!((trash.size_bytes(), trash.tablets()), (2, vec![7]));

        assert_eq!(trash.sweep(3_600_000, 101).await, Removed::default(), "not expired, disk not full");
        let reopened = Trash::open(disk.clone(), &root).await.expect("reopen");
        assert_eq!(reopened.tablets(), vec![7], "the trash survives a restart");
        assert_eq!(reopened.size_bytes(), 2);
        assert_eq!(reopened.sweep(0, 101).await, Removed { tablets: 1, bytes: 2 }, "expired");
        assert!(disk.metadata(&to).await.expect("stat").is_none());

        drop(trash);
        let trash = reopened;
        disk::create_dir_all_durable(disk.as_ref(), &tablet).await.expect("tablet dir");
        trash.put(&tablet, 7, 0).await.expect("put");
        assert_eq!(trash.sweep(3_600_000, 0).await.tablets, 1, "a full disk empties the trash, oldest first");
        disk::create_dir_all_durable(disk.as_ref(), &tablet).await.expect("tablet dir");
        trash.put(&tablet, 7, 0).await.expect("put");
        assert_eq!(trash.clean().await.tablets, 1);
        assert!(trash.tablets().is_empty());
    }
}
