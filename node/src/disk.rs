//! The disk seam. Every byte a node keeps goes through [`Disk`], so the same code runs on real
//! files ([`RealDisk`]) and on the simulator's disk with crash semantics (`palo_sim::SimDisk`).
//!
//! The contract is POSIX's, stated plainly so both implementations agree:
//! - Data written to a file is durable only after [`Disk::sync`] of that file.
//! - A new name (create, rename, hard link) or a removed name is durable only after
//!   [`Disk::sync_dir`] of the directory that holds the name. A directory itself is a name in its
//!   parent.
//! - After a crash, a file holds its last synced content; the last unsynced write may be torn.
//! - Hard links share content: a write through one name is seen through all of them.
//!
//! Paths are absolute or relative to the disk's root; implementations never follow `..` out of it.
//!
//! What a node keeps is its owner's alone: directories are created 0700 and files 0600 (the FE's
//! journal holds repository credentials), and each role locks its directory ([`Disk::lock_dir`]).

use std::path::{Path, PathBuf};

use async_trait::async_trait;

/// What a disk operation can fail with. The kinds are the ones a caller decides on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiskError {
    #[error("{path}: no such file or directory")]
    NotFound { path: PathBuf },
    #[error("{path}: already exists")]
    AlreadyExists { path: PathBuf },
    #[error("{path}: no space left on device")]
    NoSpace { path: PathBuf },
    #[error("{path}: input/output error: {detail}")]
    Io { path: PathBuf, detail: String },
    #[error("{path}: {detail}")]
    Invalid { path: PathBuf, detail: String },
    /// Another process holds the directory's lock (see [`Disk::lock_dir`]).
    #[error(
        "{path} is in use by {holder}; stop that process first (two processes on one directory destroy each other's data)"
    )]
    Locked { path: PathBuf, holder: String },
}

impl DiskError {
    pub fn path(&self) -> &Path {
        match self {
            DiskError::NotFound { path }
            | DiskError::AlreadyExists { path }
            | DiskError::NoSpace { path }
            | DiskError::Io { path, .. }
            | DiskError::Invalid { path, .. }
            | DiskError::Locked { path, .. } => path,
        }
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, DiskError::NotFound { .. })
    }
}

pub type DiskResult<T> = Result<T, DiskError>;

/// One entry of [`Disk::read_dir`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    pub name: String,
    pub is_dir: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metadata {
    pub len_bytes: u64,
    pub is_dir: bool,
}

/// A directory held by this process; dropping it (or the process dying) releases it.
pub trait DirLock: Send + Sync + std::fmt::Debug {}

/// The asynchronous file system a node sees. All methods are path based: an implementation may
/// keep handles open underneath, a caller never does.
#[async_trait]
pub trait Disk: Send + Sync + 'static {
    /// Creates `path` and every missing parent. The new directories are durable only after
    /// `sync_dir` of each parent (see [`create_dir_all_durable`]).
    async fn create_dir_all(&self, path: &Path) -> DiskResult<()>;
    /// Creates an empty file, failing with `AlreadyExists` if the name is taken.
    async fn create_new(&self, path: &Path) -> DiskResult<()>;
    /// Writes `data` at `offset`, creating the file if it does not exist and growing it as needed.
    async fn write_at(&self, path: &Path, offset_bytes: u64, data: &[u8]) -> DiskResult<()>;
    /// [`Disk::write_at`] of bytes the caller gives away: a disk that hands writes to another
    /// thread takes them as they are instead of copying them.
    async fn write_owned_at(&self, path: &Path, offset_bytes: u64, data: Vec<u8>) -> DiskResult<()> {
        self.write_at(path, offset_bytes, &data).await
    }
    /// Appends `data` to the end of the file (created if missing); returns the new length.
    async fn append(&self, path: &Path, data: &[u8]) -> DiskResult<u64>;
    /// Reads up to `len_bytes` from `offset_bytes`; a short result means end of file.
    async fn read_at(&self, path: &Path, offset_bytes: u64, len_bytes: u64) -> DiskResult<Vec<u8>>;
    /// Reads the whole file.
    async fn read_all(&self, path: &Path) -> DiskResult<Vec<u8>>;
    /// Cuts or extends the file to `len_bytes`.
    async fn truncate(&self, path: &Path, len_bytes: u64) -> DiskResult<()>;
    /// Makes the file's content durable (fsync).
    async fn sync(&self, path: &Path) -> DiskResult<()>;
    /// Makes the names in directory `dir` durable (fsync of the directory).
    async fn sync_dir(&self, dir: &Path) -> DiskResult<()>;
    /// Atomically replaces `to` with `from`.
    async fn rename(&self, from: &Path, to: &Path) -> DiskResult<()>;
    /// Makes `link` a second name for the file at `original`.
    async fn hard_link(&self, original: &Path, link: &Path) -> DiskResult<()>;
    async fn remove_file(&self, path: &Path) -> DiskResult<()>;
    /// Removes a directory and everything under it.
    async fn remove_dir_all(&self, path: &Path) -> DiskResult<()>;
    /// The entries of a directory, sorted by name (so callers never see an order that differs by
    /// run).
    async fn read_dir(&self, path: &Path) -> DiskResult<Vec<DirEntry>>;
    /// Replaces the file at `path` with `data` so that a crash leaves either the old or the new
    /// content, never a mix: write a temporary file, sync it, rename it over, sync the directory.
    /// A disk that hands calls to another thread does all of it in one call (a tablet's meta is
    /// replaced several times in a restore: five hand-offs each added up over 10^4 tablets).
    async fn write_file_atomic(&self, path: &Path, data: &[u8]) -> DiskResult<()> {
        write_file_atomic_in_steps(self, path, data).await
    }
    /// [`Disk::read_dir`] with each entry's metadata (an entry gone by the time it is looked at
    /// is an error, `NotFound` for it: a directory changing underneath is never read as whole):
    /// a disk that hands calls to another thread does it in one call, not one per entry.
    async fn read_dir_with_metadata(&self, path: &Path) -> DiskResult<Vec<(String, Metadata)>> {
        let mut out = Vec::new();
        for entry in self.read_dir(path).await? {
            let entry_path = path.join(&entry.name);
            match self.metadata(&entry_path).await? {
                Some(meta) => out.push((entry.name, meta)),
                None => return Err(DiskError::NotFound { path: entry_path }),
            }
        }
        Ok(out)
    }
    /// `Ok(None)` when nothing is at `path`.
    async fn metadata(&self, path: &Path) -> DiskResult<Option<Metadata>>;
    /// Bytes still free on the device that holds the disk's root.
    async fn available_bytes(&self) -> DiskResult<u64>;
    /// Total bytes of that device.
    async fn capacity_bytes(&self) -> DiskResult<u64>;
    /// Takes `dir` (which must exist) for this process alone, before anything in it is read: an
    /// exclusive lock on `dir/LOCK` that the operating system releases when the process dies,
    /// with this process's id written in it. Fails with [`DiskError::Locked`], naming the
    /// holder, if another process has it. Also makes `dir` private to its owner (mode 0700).
    async fn lock_dir(&self, dir: &Path) -> DiskResult<Box<dyn DirLock>>;
}

/// The name of the lock file [`Disk::lock_dir`] holds in a directory.
pub const LOCK_FILE: &str = "LOCK";

/// Creates `path` and makes every directory on the way durable (each parent synced).
pub async fn create_dir_all_durable(disk: &dyn Disk, path: &Path) -> DiskResult<()> {
    disk.create_dir_all(path).await?;
    let mut ancestors: Vec<&Path> = path.ancestors().collect();
    ancestors.reverse();
    for dir in ancestors {
        // The empty ancestor of a relative path is the directory it is relative to.
        let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
        disk.sync_dir(dir).await?;
    }
    Ok(())
}

/// [`Disk::write_file_atomic`].
pub async fn write_file_atomic(disk: &dyn Disk, path: &Path, data: &[u8]) -> DiskResult<()> {
    disk.write_file_atomic(path, data).await
}

/// The temporary file [`Disk::write_file_atomic`] writes before it renames it to `path`.
pub fn atomic_temp_path(path: &Path) -> PathBuf {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    PathBuf::from(tmp)
}

/// [`Disk::write_file_atomic`] as one call of the disk per step.
async fn write_file_atomic_in_steps<D: Disk + ?Sized>(disk: &D, path: &Path, data: &[u8]) -> DiskResult<()> {
    let dir = parent_of(path)?;
    let tmp = atomic_temp_path(path);
    match disk.remove_file(&tmp).await {
        Ok(()) => {}
        Err(e) if e.is_not_found() => {}
        Err(e) => return Err(e),
    }
    disk.write_at(&tmp, 0, data).await?;
    disk.sync(&tmp).await?;
    disk.rename(&tmp, path).await?;
    disk.sync_dir(dir).await
}

/// The directory that holds `path`.
pub fn parent_of(path: &Path) -> DiskResult<&Path> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => Ok(dir),
        _ => Err(DiskError::Invalid { path: path.to_path_buf(), detail: "path has no parent directory".into() }),
    }
}

pub use real::RealDisk;

mod real;
