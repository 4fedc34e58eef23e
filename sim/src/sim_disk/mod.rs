//! [`SimDisk`]: the [`Disk`] contract in memory, with the crash semantics of a real file system,
//! for the deterministic simulator. The simulator keeps one `SimDisk` per node outside the node, so
//! what a node made durable survives its restarts and what it did not make durable is lost.
//!
//! The model is POSIX's, with inodes:
//! - A file inode holds `current` bytes (what reads see) and `durable` bytes (what a crash leaves).
//!   [`Disk::sync`] copies `current` to `durable`.
//! - A directory inode holds two maps from name to inode: `current` (what lookups see) and
//!   `durable`. [`Disk::sync_dir`] copies `current` to `durable`. A directory is a name in its
//!   parent, so it survives a crash only once its parent has been synced with it, and so on up to
//!   the root, which always exists.
//! - [`SimDisk::crash`] is a power loss: every inode's `current` becomes its `durable`, and what the
//!   root no longer reaches is gone. The last unsynced write of each file may be torn: with
//!   probability 1/2 a prefix of it (possibly empty, possibly all of it) reached the platter.
//!
//! Every random choice (torn writes, injected faults) comes from one PRNG seeded at construction,
//! and every map is a `BTreeMap`, so a seed and a sequence of calls give one outcome.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::path::{Component, Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;

use palo_node::disk::{DirEntry, Disk, DiskError, DiskResult, Metadata};

mod file;
mod state;

use file::FileInode;
use state::*;

/// Faults a [`SimDisk`] injects, each drawn from the disk's seeded PRNG.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimDiskFaults {
    /// Chance, per million, that a write, append, sync, sync_dir or read fails with
    /// [`DiskError::Io`] without doing anything.
    pub eio_per_million: u32,
    /// Chance, per million, that an operation first sleeps `slow_ms` (virtual time under madsim).
    pub slow_per_million: u32,
    pub slow_ms: u64,
    /// Every sync and sync_dir takes this long (virtual time under madsim), after the work
    /// queued before it: a real disk's flush latency, fault or no fault.
    pub sync_latency_us: u64,
    /// Every other change (create, write, append, truncate, rename, link, remove) takes this
    /// long, in the same queue.
    pub write_latency_us: u64,
    /// Writes that would make the live files' bytes exceed this fail with [`DiskError::NoSpace`].
    pub capacity_bytes: u64,
    /// A test-only bug: file syncs succeed but make nothing durable (a disk that lies about
    /// fsync). Used to show that the simulator catches lost acknowledged writes.
    pub fsync_lies: bool,
}

impl Default for SimDiskFaults {
    /// No faults, 1 TiB.
    fn default() -> Self {
        SimDiskFaults {
            eio_per_million: 0,
            slow_per_million: 0,
            slow_ms: 0,
            sync_latency_us: 0,
            write_latency_us: 0,
            capacity_bytes: 1 << 40,
            fsync_lies: false,
        }
    }
}

/// One node's disk: cheap to share (`Arc<SimDisk>`), survives the node.
pub struct SimDisk {
    state: Mutex<State>,
    /// Directories locked by the node's process, with the generation of each lock (a crash, the
    /// process's death, releases them all; a guard of a dead process never releases a newer one).
    locks: std::sync::Arc<Mutex<DirLocks>>,
}

#[derive(Debug, Default)]
struct DirLocks {
    held: BTreeMap<PathBuf, u64>,
    next_generation: u64,
}

/// A directory lock of a simulated process.
#[derive(Debug)]
struct SimDirLock {
    locks: std::sync::Arc<Mutex<DirLocks>>,
    dir: PathBuf,
    generation: u64,
}

impl palo_node::disk::DirLock for SimDirLock {}

impl Drop for SimDirLock {
    fn drop(&mut self) {
        let mut locks = self.locks.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if locks.held.get(&self.dir) == Some(&self.generation) {
            locks.held.remove(&self.dir);
        }
    }
}

impl fmt::Debug for SimDisk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        f.debug_struct("SimDisk")
            .field("files", &state.files.len())
            .field("dirs", &state.dirs.len())
            .field("used_bytes", &state.used_bytes)
            .field("faults", &state.faults)
            .field("crashed", &state.crashed)
            .finish()
    }
}

impl SimDisk {
    /// An empty disk (only `/`) without faults.
    pub fn new(seed: u64) -> Self {
        Self::with_faults(seed, SimDiskFaults::default())
    }

    pub fn with_faults(seed: u64, faults: SimDiskFaults) -> Self {
        SimDisk { state: Mutex::new(State::new(seed, faults)), locks: Default::default() }
    }

    pub fn set_faults(&self, faults: SimDiskFaults) {
        self.lock().faults = faults;
    }

    pub fn faults(&self) -> SimDiskFaults {
        self.lock().faults
    }

    /// Power loss / kill -9: the namespace and every file fall back to what was durable, except
    /// that each file's last unsynced write may survive as a prefix (probability 1/2). Pending
    /// state (unsynced writes, a [`SimDisk::crash_after_ops`] countdown) is cleared. It does not
    /// stop the disk: the restarted node uses it at once.
    pub fn crash(&self) {
        self.lock().crash_now();
        // The process died with the power: the OS drops its locks.
        self.locks.lock().unwrap_or_else(std::sync::PoisonError::into_inner).held.clear();
    }

    /// Crashes the disk by itself at the `n`-th mutating operation from now: that operation is not
    /// applied, [`SimDisk::crash`] runs, and it and every later operation fail with
    /// `DiskError::Io { detail: "node crashed" }` until [`SimDisk::revive`]. `n == 0` crashes now.
    /// Mutating operations: create_dir_all, create_new, write_at, append, truncate, sync,
    /// sync_dir, rename, hard_link, remove_file, remove_dir_all (each call counts once, even one
    /// that fails on a bad path).
    pub fn crash_after_ops(&self, n: u64) {
        let mut state = self.lock();
        if n == 0 {
            state.crash_now();
            state.crashed = true;
        } else {
            state.crash_countdown = Some(n);
        }
    }

    /// Lets operations run again after a crash triggered by [`SimDisk::crash_after_ops`].
    pub fn revive(&self) {
        self.lock().crashed = false;
    }

    /// Whether a [`SimDisk::crash_after_ops`] crash is refusing operations.
    pub fn is_crashed(&self) -> bool {
        self.lock().crashed
    }

    /// Mutating operations attempted so far (those refused because the disk is crashed excluded).
    pub fn mutating_ops(&self) -> u64 {
        self.lock().mutating_ops
    }

    /// Current bytes of all live files (each inode once, however many names it has).
    pub fn used_bytes(&self) -> u64 {
        self.lock().used_bytes
    }

    /// The names in directory `dir` now, sorted, with whether each is a directory; empty when
    /// `dir` is missing (a check's look from outside the node, not an operation of it).
    pub fn list_dir(&self, dir: &Path) -> Vec<(String, bool)> {
        let state = self.lock();
        let Ok(comps) = components(dir) else { return Vec::new() };
        match state.walk_dir(dir, &comps).and_then(|id| state.dir(id, dir)) {
            Ok(inode) => {
                inode.current.iter().map(|(name, entry)| (name.clone(), matches!(entry, Entry::Dir(_)))).collect()
            }
            Err(_) => Vec::new(),
        }
    }

    /// The durable bytes of file `path`, if a crash now would leave one there.
    pub fn durable_file(&self, path: &Path) -> Option<Vec<u8>> {
        let state = self.lock();
        let comps = components(path).ok()?;
        let (name, parents) = comps.split_last()?;
        let mut id = state::ROOT;
        for part in parents {
            match state.dirs.get(&id)?.durable.get(part)? {
                Entry::Dir(child) => id = *child,
                Entry::File(_) => return None,
            }
        }
        match state.dirs.get(&id)?.durable.get(name)? {
            Entry::File(file) => state.files.get(file).map(|f| f.durable_bytes().to_vec()),
            Entry::Dir(_) => None,
        }
    }

    /// Every path of the current namespace except `/`, sorted, with whether it is a directory.
    pub fn list_all(&self) -> Vec<(PathBuf, bool)> {
        let state = self.lock();
        state.walk(Side::Current).into_iter().map(|(path, entry)| (path, matches!(entry, Entry::Dir(_)))).collect()
    }

    /// The files a crash would leave, sorted by path, with their durable content (before any torn
    /// write is applied).
    pub fn durable_files(&self) -> Vec<(PathBuf, Vec<u8>)> {
        let state = self.lock();
        state
            .walk(Side::Durable)
            .into_iter()
            .filter_map(|(path, entry)| match entry {
                Entry::File(id) => state.files.get(&id).map(|file| (path, file.durable_bytes().to_vec())),
                Entry::Dir(_) => None,
            })
            .collect()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    /// Runs one operation: the crash check and the optional slow sleep (without the lock), then,
    /// under the lock, the crash trigger, the injected EIO and `apply`.
    async fn run<T, F>(&self, kind: OpKind, path: &Path, apply: F) -> DiskResult<T>
    where
        T: Send,
        F: FnOnce(&mut State) -> DiskResult<T> + Send,
    {
        let slow = self.lock().begin(kind, path)?;
        if let Some(delay) = slow {
            tokio::time::sleep(delay).await;
        }
        let mut state = self.lock();
        state.admit(kind, path)?;
        let result = apply(&mut state);
        state.after_op();
        result
    }
}

#[async_trait]
impl Disk for SimDisk {
    async fn create_dir_all(&self, path: &Path) -> DiskResult<()> {
        self.run(OpKind::CreateDir, path, |s| s.create_dir_all(path)).await
    }

    async fn create_new(&self, path: &Path) -> DiskResult<()> {
        self.run(OpKind::CreateNew, path, |s| s.create_new(path)).await
    }

    async fn write_at(&self, path: &Path, offset_bytes: u64, data: &[u8]) -> DiskResult<()> {
        self.run(OpKind::Write, path, |s| s.write(path, Some(offset_bytes), data).map(|_| ())).await
    }

    async fn append(&self, path: &Path, data: &[u8]) -> DiskResult<u64> {
        self.run(OpKind::Write, path, |s| s.write(path, None, data)).await
    }

    async fn read_at(&self, path: &Path, offset_bytes: u64, len_bytes: u64) -> DiskResult<Vec<u8>> {
        self.run(OpKind::Read, path, |s| {
            let data = &s.file_at(path)?.current;
            let start = usize::try_from(offset_bytes).unwrap_or(usize::MAX).min(data.len());
            let len = usize::try_from(len_bytes).unwrap_or(usize::MAX);
            let end = start.saturating_add(len).min(data.len());
            Ok(data[start..end].to_vec())
        })
        .await
    }

    async fn read_all(&self, path: &Path) -> DiskResult<Vec<u8>> {
        self.run(OpKind::Read, path, |s| Ok(s.file_at(path)?.current.clone())).await
    }

    async fn truncate(&self, path: &Path, len_bytes: u64) -> DiskResult<()> {
        self.run(OpKind::Truncate, path, |s| s.truncate(path, len_bytes)).await
    }

    async fn sync(&self, path: &Path) -> DiskResult<()> {
        self.run(OpKind::Sync, path, |s| if s.faults.fsync_lies { s.lie_about_sync(path) } else { s.sync(path) }).await
    }

    async fn sync_dir(&self, dir: &Path) -> DiskResult<()> {
        self.run(OpKind::Sync, dir, |s| s.sync_dir(dir)).await
    }

    async fn rename(&self, from: &Path, to: &Path) -> DiskResult<()> {
        self.run(OpKind::Namespace, from, |s| s.rename(from, to)).await
    }

    async fn hard_link(&self, original: &Path, link: &Path) -> DiskResult<()> {
        self.run(OpKind::Namespace, link, |s| s.hard_link(original, link)).await
    }

    async fn remove_file(&self, path: &Path) -> DiskResult<()> {
        self.run(OpKind::Namespace, path, |s| s.remove(path, false)).await
    }

    async fn remove_dir_all(&self, path: &Path) -> DiskResult<()> {
        self.run(OpKind::Namespace, path, |s| s.remove(path, true)).await
    }

    async fn read_dir(&self, path: &Path) -> DiskResult<Vec<DirEntry>> {
        self.run(OpKind::Lookup, path, |s| {
            let comps = components(path)?;
            match s.lookup(path, &comps)? {
                None => Err(not_found(path)),
                Some(Entry::File(_)) => Err(invalid(path, "not a directory")),
                Some(Entry::Dir(id)) => Ok(s
                    .dir(id, path)?
                    .current
                    .iter()
                    .map(|(name, entry)| DirEntry { name: name.clone(), is_dir: matches!(entry, Entry::Dir(_)) })
                    .collect()),
            }
        })
        .await
    }

    async fn metadata(&self, path: &Path) -> DiskResult<Option<Metadata>> {
        self.run(OpKind::Lookup, path, |s| {
            let comps = components(path)?;
            match s.lookup(path, &comps)? {
                None => Ok(None),
                Some(Entry::Dir(_)) => Ok(Some(Metadata { len_bytes: 0, is_dir: true })),
                Some(Entry::File(id)) => {
                    let len_bytes = s.file(id, path)?.current.len() as u64;
                    Ok(Some(Metadata { len_bytes, is_dir: false }))
                }
            }
        })
        .await
    }

    async fn available_bytes(&self) -> DiskResult<u64> {
        self.run(OpKind::Space, Path::new("/"), |s| Ok(s.faults.capacity_bytes.saturating_sub(s.used_bytes))).await
    }

    async fn capacity_bytes(&self) -> DiskResult<u64> {
        self.run(OpKind::Space, Path::new("/"), |s| Ok(s.faults.capacity_bytes)).await
    }

    async fn lock_dir(&self, dir: &Path) -> DiskResult<Box<dyn palo_node::disk::DirLock>> {
        match self.metadata(dir).await? {
            Some(m) if m.is_dir => {}
            _ => return Err(DiskError::NotFound { path: dir.to_path_buf() }),
        }
        let mut locks = self.locks.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if locks.held.contains_key(dir) {
            return Err(DiskError::Locked { path: dir.to_path_buf(), holder: "another simulated process".into() });
        }
        locks.next_generation += 1;
        let generation = locks.next_generation;
        locks.held.insert(dir.to_path_buf(), generation);
        Ok(Box::new(SimDirLock { locks: self.locks.clone(), dir: dir.to_path_buf(), generation }))
    }
}

#[cfg(test)]
mod tests;
