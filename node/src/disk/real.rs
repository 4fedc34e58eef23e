//! [`RealDisk`]: the [`Disk`] contract on the operating system's files. The only module of node
//! code allowed to touch `std::fs`; every call runs on tokio's blocking pool.

use std::fs::{self, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use async_trait::async_trait;

use super::{DirEntry, DirLock, Disk, DiskError, DiskResult, LOCK_FILE, Metadata};

/// Directories a node creates: its owner's only.
const DIR_MODE: u32 = 0o700;
/// Files a node creates: its owner's only.
const FILE_MODE: u32 = 0o600;
/// The most a read reserves before it reads: its callers read at most a few MiB at a time.
const READ_RESERVE_MAX_BYTES: u64 = 8 << 20;

/// Options that open (creating if missing) a file of the node's.
fn create_options() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.create(true).mode(FILE_MODE);
    options
}

/// `dir/LOCK`, opened and locked while this lives (the OS drops the lock with the process).
#[derive(Debug)]
struct FileLock {
    _file: fs::File,
}

impl DirLock for FileLock {}

/// OS files under `root`. Relative paths given to it are resolved against `root`.
#[derive(Debug, Clone)]
pub struct RealDisk {
    root: PathBuf,
}

impl RealDisk {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        RealDisk { root: root.into() }
    }

    fn resolve(&self, path: &Path) -> PathBuf {
        if path.is_absolute() { path.to_path_buf() } else { self.root.join(path) }
    }

    async fn blocking<T, F>(&self, path: &Path, op: F) -> DiskResult<T>
    where
        T: Send + 'static,
        F: FnOnce(PathBuf) -> io::Result<T> + Send + 'static,
    {
        let full = self.resolve(path);
        let shown = path.to_path_buf();
        // RealDisk never runs inside the simulator (SimDisk does), where madsim marks
        // spawn_blocking deprecated.
        #[allow(deprecated)]
        let joined = tokio::task::spawn_blocking(move || op(full)).await;
        match joined {
            Ok(result) => result.map_err(|e| map_io_error(shown, e)),
            Err(e) => Err(DiskError::Io { path: shown, detail: format!("blocking task failed: {e}") }),
        }
    }
}

fn map_io_error(path: PathBuf, e: io::Error) -> DiskError {
    match e.kind() {
        io::ErrorKind::NotFound => DiskError::NotFound { path },
        io::ErrorKind::AlreadyExists => DiskError::AlreadyExists { path },
        io::ErrorKind::StorageFull => DiskError::NoSpace { path },
        _ => DiskError::Io { path, detail: e.to_string() },
    }
}

/// (available, total) bytes of the file system holding `path`.
fn statvfs_bytes(path: &Path) -> io::Result<(u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let mut stat = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c_path` is a valid NUL-terminated string and `stat` points to writable memory
    // of the right type; statvfs fills it completely when it returns 0.
    let rc = unsafe { libc::statvfs(c_path.as_ptr(), stat.as_mut_ptr()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: statvfs returned 0, so the struct is initialised.
    let stat = unsafe { stat.assume_init() };
    let fragment = stat.f_frsize;
    Ok((stat.f_bavail * fragment, stat.f_blocks * fragment))
}

#[async_trait]
impl Disk for RealDisk {
    async fn create_dir_all(&self, path: &Path) -> DiskResult<()> {
        self.blocking(path, |p| fs::DirBuilder::new().recursive(true).mode(DIR_MODE).create(p)).await
    }

    async fn create_new(&self, path: &Path) -> DiskResult<()> {
        self.blocking(path, |p| OpenOptions::new().write(true).create_new(true).mode(FILE_MODE).open(p).map(|_| ()))
            .await
    }

    async fn write_at(&self, path: &Path, offset_bytes: u64, data: &[u8]) -> DiskResult<()> {
        self.write_owned_at(path, offset_bytes, data.to_vec()).await
    }

    async fn write_owned_at(&self, path: &Path, offset_bytes: u64, data: Vec<u8>) -> DiskResult<()> {
        self.blocking(path, move |p| {
            let mut f = create_options().write(true).truncate(false).open(p)?;
            f.seek(SeekFrom::Start(offset_bytes))?;
            f.write_all(&data)
        })
        .await
    }

    async fn append(&self, path: &Path, data: &[u8]) -> DiskResult<u64> {
        let data = data.to_vec();
        self.blocking(path, move |p| {
            let mut f = create_options().append(true).open(p)?;
            f.write_all(&data)?;
            Ok(f.metadata()?.len())
        })
        .await
    }

    async fn read_at(&self, path: &Path, offset_bytes: u64, len_bytes: u64) -> DiskResult<Vec<u8>> {
        self.blocking(path, move |p| {
            let mut f = fs::File::open(p)?;
            f.seek(SeekFrom::Start(offset_bytes))?;
            // Room for the whole read up front (up to a bound): growing the buffer as it fills
            // would copy it again at every doubling.
            let mut out = Vec::with_capacity(len_bytes.min(READ_RESERVE_MAX_BYTES) as usize);
            f.take(len_bytes).read_to_end(&mut out)?;
            Ok(out)
        })
        .await
    }

    async fn read_all(&self, path: &Path) -> DiskResult<Vec<u8>> {
        self.blocking(path, fs::read).await
    }

    async fn truncate(&self, path: &Path, len_bytes: u64) -> DiskResult<()> {
        self.blocking(path, move |p| OpenOptions::new().write(true).open(p)?.set_len(len_bytes)).await
    }

    async fn sync(&self, path: &Path) -> DiskResult<()> {
        self.blocking(path, |p| OpenOptions::new().read(true).open(p)?.sync_all()).await
    }

    async fn sync_dir(&self, dir: &Path) -> DiskResult<()> {
        self.blocking(dir, |p| fs::File::open(p)?.sync_all()).await
    }

    async fn rename(&self, from: &Path, to: &Path) -> DiskResult<()> {
        let to = self.resolve(to);
        self.blocking(from, move |p| fs::rename(p, to)).await
    }

    async fn hard_link(&self, original: &Path, link: &Path) -> DiskResult<()> {
        let link = self.resolve(link);
        self.blocking(original, move |p| fs::hard_link(p, link)).await
    }

    async fn remove_file(&self, path: &Path) -> DiskResult<()> {
        self.blocking(path, fs::remove_file).await
    }

    async fn remove_dir_all(&self, path: &Path) -> DiskResult<()> {
        self.blocking(path, fs::remove_dir_all).await
    }

    async fn read_dir(&self, path: &Path) -> DiskResult<Vec<DirEntry>> {
        self.blocking(path, |p| {
            let mut entries = Vec::new();
            for entry in fs::read_dir(p)? {
                let entry = entry?;
                entries.push(DirEntry {
                    name: entry.file_name().to_string_lossy().into_owned(),
                    is_dir: entry.file_type()?.is_dir(),
                });
            }
            entries.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(entries)
        })
        .await
    }

    async fn write_file_atomic(&self, path: &Path, data: &[u8]) -> DiskResult<()> {
        let dir = self.resolve(super::parent_of(path)?);
        let tmp = self.resolve(&super::atomic_temp_path(path));
        let data = data.to_vec();
        self.blocking(path, move |p| {
            match fs::remove_file(&tmp) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
            let mut file = create_options().write(true).truncate(true).open(&tmp)?;
            file.write_all(&data)?;
            file.sync_all()?;
            drop(file);
            fs::rename(&tmp, p)?;
            fs::File::open(&dir)?.sync_all()
        })
        .await
    }

    async fn read_dir_with_metadata(&self, path: &Path) -> DiskResult<Vec<(String, Metadata)>> {
        self.blocking(path, |p| {
            let mut entries = Vec::new();
            for entry in fs::read_dir(p)? {
                let entry = entry?;
                // Follows links, as `metadata` does; an entry gone meanwhile is an error.
                let m = fs::metadata(entry.path())?;
                let meta = Metadata { len_bytes: m.len(), is_dir: m.is_dir() };
                entries.push((entry.file_name().to_string_lossy().into_owned(), meta));
            }
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Ok(entries)
        })
        .await
    }

    async fn metadata(&self, path: &Path) -> DiskResult<Option<Metadata>> {
        self.blocking(path, |p| match fs::metadata(p) {
            Ok(m) => Ok(Some(Metadata { len_bytes: m.len(), is_dir: m.is_dir() })),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        })
        .await
    }

    async fn available_bytes(&self) -> DiskResult<u64> {
        let root = self.root.clone();
        self.blocking(&root, |p| statvfs_bytes(&p).map(|(free, _)| free)).await
    }

    async fn capacity_bytes(&self) -> DiskResult<u64> {
        let root = self.root.clone();
        self.blocking(&root, |p| statvfs_bytes(&p).map(|(_, total)| total)).await
    }

    async fn lock_dir(&self, dir: &Path) -> DiskResult<Box<dyn DirLock>> {
        let shown = dir.to_path_buf();
        let full = self.resolve(dir);
        #[allow(deprecated)]
        let joined = tokio::task::spawn_blocking(move || lock_dir_blocking(&full)).await;
        match joined {
            Ok(Ok(lock)) => Ok(Box::new(lock)),
            Ok(Err(LockFailure::Held(holder))) => Err(DiskError::Locked { path: shown, holder }),
            Ok(Err(LockFailure::Io(e))) => Err(map_io_error(shown.join(LOCK_FILE), e)),
            Err(e) => Err(DiskError::Io { path: shown, detail: format!("blocking task failed: {e}") }),
        }
    }
}

enum LockFailure {
    /// Another process holds the lock: who, as its lock file says.
    Held(String),
    Io(io::Error),
}

fn lock_dir_blocking(dir: &Path) -> Result<FileLock, LockFailure> {
    fs::set_permissions(dir, fs::Permissions::from_mode(DIR_MODE)).map_err(LockFailure::Io)?;
    let path = dir.join(LOCK_FILE);
    let mut file = create_options().read(true).write(true).truncate(false).open(&path).map_err(LockFailure::Io)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            let holder = match text.trim().parse::<u32>() {
                Ok(pid) => format!("another process (PID {pid})"),
                Err(_) => "another process".to_string(),
            };
            return Err(LockFailure::Held(holder));
        }
        Err(fs::TryLockError::Error(e)) => return Err(LockFailure::Io(e)),
    }
    file.set_len(0).map_err(LockFailure::Io)?;
    file.seek(SeekFrom::Start(0)).map_err(LockFailure::Io)?;
    writeln!(file, "{}", std::process::id()).map_err(LockFailure::Io)?;
    file.sync_all().map_err(LockFailure::Io)?;
    Ok(FileLock { _file: file })
}

#[cfg(test)]
mod tests {
    use crate::be::test_support::TempDisk;
    use crate::disk;

    /// The one-call atomic replace does what the steps do: the new content in place, a stale
    /// temporary file of a crashed earlier write replaced, none left; a missing directory fails.
    #[tokio::test]
    async fn an_atomic_write_in_one_call_replaces_the_file_and_leaves_no_temporary() {
        let temp = TempDisk::new("real-atomic").await;
        let disk = temp.disk();
        let path = temp.path("meta.json");
        disk.write_file_atomic(&path, b"first, and longer").await.unwrap();
        disk.write_at(&disk::atomic_temp_path(&path), 0, b"a torn earlier write").await.unwrap();
        disk.write_file_atomic(&path, b"second").await.unwrap();
        assert_eq!(disk.read_all(&path).await.unwrap(), b"second");
        let names: Vec<String> = disk.read_dir(temp.root()).await.unwrap().into_iter().map(|e| e.name).collect();
        assert_eq!(names, ["meta.json"]);
        let missing = temp.path("no-such-dir/meta.json");
        let err = disk.write_file_atomic(&missing, b"x").await.unwrap_err();
        assert!(err.is_not_found(), "{err}");
        temp.remove().await;
    }
}
