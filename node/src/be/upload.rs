//! Uploading a snapshot's files to a repository (Doris's BE upload, reference 5.4): every file
//! goes to `<remote_dir>/<name>.<md5 of its content>`.
//!
//! The algorithm: list the remote directory once; for each local file, if a remote file with the
//! same name, the same size and the same MD5 is there, skip it (an upload retried after a failure
//! resumes where it stopped); otherwise upload it. Finally remove the remote directory's other
//! direct entries (files of an earlier attempt whose content differs, or whose upload was cut),
//! so the directory holds exactly this snapshot, which is what a restore downloads.
//!
//! The MD5 is computed while reading the file through [`Disk`] in chunks of
//! [`UPLOAD_READ_CHUNK_BYTES`]. [`RepoStore::put`] takes the whole object, so a file that must be
//! uploaded is held in memory whole (at most [`MAX_UPLOAD_FILE_BYTES`], checked for every file
//! before anything is sent); a file that turns out to be skipped is only hashed, one chunk at a
//! time. Streaming puts are a later improvement.
//!
//! Files are put directly at their final name, with no `.part` and rename (which Doris's broker
//! path does): every [`RepoStore`] put is atomic (an object store's put, `file://`'s temporary
//! file and rename, the broker's assembled write), so a reader never sees half a file under the
//! final name, and the name carries the MD5 the restore checks anyway. A plain `put` rather than
//! `put_if_absent`: a same-named remote file whose size is wrong must be replaced.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use md5::{Digest, Md5};

use crate::disk::{Disk, DiskError};
use crate::repository::{self, RepoError, RepoStore};

/// Bytes read from the local disk at a time.
pub const UPLOAD_READ_CHUNK_BYTES: u64 = 1 << 20;
/// The largest file uploaded (it is put whole).
pub const MAX_UPLOAD_FILE_BYTES: u64 = repository::MAX_PUT_BYTES;
/// Files one snapshot directory may hold: every rowset of a tablet and the header.
pub const MAX_UPLOAD_FILES: usize = super::tablet::MAX_CLONE_FILES + 1;

#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("{context}: {source}")]
    Disk { context: String, source: DiskError },
    #[error("{context}: {source}")]
    Repo { context: String, source: RepoError },
    #[error("{0}")]
    Invalid(String),
}

/// Counters of a running upload, read by GetUploadProgress while it runs.
#[derive(Debug, Default)]
pub struct UploadProgress {
    files_total: AtomicU64,
    files_done: AtomicU64,
    bytes_total: AtomicU64,
    bytes_done: AtomicU64,
}

/// A copy of [`UploadProgress`]'s counters. Skipped files count as done.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ProgressCounts {
    pub files_total: u64,
    pub files_done: u64,
    pub bytes_total: u64,
    pub bytes_done: u64,
}

impl UploadProgress {
    pub fn counts(&self) -> ProgressCounts {
        ProgressCounts {
            files_total: self.files_total.load(Ordering::Relaxed),
            files_done: self.files_done.load(Ordering::Relaxed),
            bytes_total: self.bytes_total.load(Ordering::Relaxed),
            bytes_done: self.bytes_done.load(Ordering::Relaxed),
        }
    }
}

/// What an upload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadReport {
    /// Every local file as `name.<md5>`, in name order: what the remote directory now holds.
    pub files: Vec<String>,
    /// Files actually sent (the rest were already there).
    pub files_uploaded: u64,
    pub bytes_uploaded: u64,
    /// Stale remote files removed.
    pub files_removed: u64,
}

fn disk_err(context: String) -> impl FnOnce(DiskError) -> UploadError {
    move |source| UploadError::Disk { context, source }
}

fn repo_err(context: String) -> impl FnOnce(RepoError) -> UploadError {
    move |source| UploadError::Repo { context, source }
}

/// Uploads every file of `local_dir` to `remote_dir` (relative to the repository's root). See the
/// module doc.
pub async fn upload_snapshot(
    disk: &dyn Disk,
    local_dir: &Path,
    store: &dyn RepoStore,
    remote_dir: &str,
    progress: &UploadProgress,
) -> Result<UploadReport, UploadError> {
    let remote_dir = remote_dir.strip_suffix('/').unwrap_or(remote_dir);
    if remote_dir.is_empty() {
        return Err(UploadError::Invalid("the remote directory of an upload is empty".into()));
    }
    let prefix = format!("{remote_dir}/");
    let local = local_files(disk, local_dir).await?;
    progress.files_total.store(local.len() as u64, Ordering::Relaxed);
    progress.bytes_total.store(local.iter().map(|(_, size)| size).sum(), Ordering::Relaxed);

    // name -> (md5, size) of the remote files directly in the directory.
    let listed = store.list(&prefix).await.map_err(repo_err(format!("listing {prefix}")))?;
    let mut remote: BTreeMap<String, Vec<(String, u64)>> = BTreeMap::new();
    let mut remote_entries = Vec::new();
    for entry in listed {
        let Some(file) = entry.path.strip_prefix(&prefix).filter(|f| !f.contains('/')) else {
            continue;
        };
        if let Some((name, md5)) = repository::split_md5(file) {
            remote.entry(name.to_string()).or_default().push((md5.to_ascii_lowercase(), entry.size_bytes));
        }
        remote_entries.push(file.to_string());
    }

    let mut report = UploadReport { files: Vec::new(), files_uploaded: 0, bytes_uploaded: 0, files_removed: 0 };
    for (name, size) in &local {
        let path = local_dir.join(name);
        let candidates: Vec<&str> = remote
            .get(name)
            .map(|c| c.iter().filter(|(_, s)| s == size).map(|(md5, _)| md5.as_str()).collect())
            .unwrap_or_default();
        let (md5, data) = if candidates.is_empty() {
            let (md5, data) = read_file(disk, &path, *size, true).await?;
            (md5, Some(data))
        } else {
            let (md5, _) = read_file(disk, &path, *size, false).await?;
            (md5, None)
        };
        let remote_name = repository::with_md5(name, &md5);
        if !candidates.contains(&md5.as_str()) {
            let data = match data {
                Some(data) => data,
                None => read_file(disk, &path, *size, true).await?.1,
            };
            let target = format!("{prefix}{remote_name}");
            store.put(&target, data).await.map_err(repo_err(format!("uploading {}", path.display())))?;
            report.files_uploaded += 1;
            report.bytes_uploaded += size;
        }
        progress.files_done.fetch_add(1, Ordering::Relaxed);
        progress.bytes_done.fetch_add(*size, Ordering::Relaxed);
        report.files.push(remote_name);
    }

    let wanted: BTreeSet<&str> = report.files.iter().map(String::as_str).collect();
    for stale in remote_entries.iter().filter(|f| !wanted.contains(f.as_str())) {
        let target = format!("{prefix}{stale}");
        store.delete(&target).await.map_err(repo_err(format!("removing the stale remote file {target}")))?;
        report.files_removed += 1;
    }
    Ok(report)
}

/// The files of `dir` with their sizes, by name; refuses subdirectories, too many files and files
/// too big to upload.
async fn local_files(disk: &dyn Disk, dir: &Path) -> Result<Vec<(String, u64)>, UploadError> {
    let entries = disk.read_dir(dir).await.map_err(disk_err(format!("listing {}", dir.display())))?;
    if entries.len() > MAX_UPLOAD_FILES {
        return Err(UploadError::Invalid(format!(
            "{} holds {} entries, more than the {MAX_UPLOAD_FILES} files a snapshot uploads",
            dir.display(),
            entries.len()
        )));
    }
    let mut out = Vec::with_capacity(entries.len());
    for entry in entries {
        let path = dir.join(&entry.name);
        let meta = disk.metadata(&path).await.map_err(disk_err(format!("reading {}", path.display())))?;
        let size = match meta {
            Some(m) if !m.is_dir && !entry.is_dir => m.len_bytes,
            _ => return Err(UploadError::Invalid(format!("{} is not a file", path.display()))),
        };
        if size > MAX_UPLOAD_FILE_BYTES {
            return Err(UploadError::Invalid(format!(
                "{} is {size} bytes, above the {MAX_UPLOAD_FILE_BYTES} bytes one upload sends",
                path.display()
            )));
        }
        out.push((entry.name, size));
    }
    out.sort();
    Ok(out)
}

/// Reads `size` bytes of `path` in chunks: the MD5 as 32 lowercase hex digits, and the content if
/// `keep` (else empty).
async fn read_file(disk: &dyn Disk, path: &Path, size: u64, keep: bool) -> Result<(String, Vec<u8>), UploadError> {
    let mut hasher = Md5::new();
    let mut data = Vec::new();
    if keep {
        data.reserve(usize::try_from(size).unwrap_or(0));
    }
    let mut offset = 0;
    while offset < size {
        let want = UPLOAD_READ_CHUNK_BYTES.min(size - offset);
        let chunk = disk.read_at(path, offset, want).await.map_err(disk_err(format!("reading {}", path.display())))?;
        if chunk.len() as u64 != want {
            return Err(UploadError::Invalid(format!("{} shrank while being uploaded", path.display())));
        }
        hasher.update(&chunk);
        if keep {
            data.extend_from_slice(&chunk);
        }
        offset += want;
    }
    let md5 = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Ok((md5, data))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::be::snapshot::tests::{load_and_publish, store_at_v4};
    use crate::be::test_support::TempDisk;

    fn mem_store(bucket: &str) -> std::sync::Arc<dyn RepoStore> {
        repository::open_direct(&format!("mem://{bucket}/repo"), &BTreeMap::new()).expect("opens")
    }

    #[tokio::test]
    async fn upload_writes_checksummed_files_and_resumes() {
        let temp = TempDisk::new("upload").await;
        let store = store_at_v4(&temp).await;
        let info = store.make_snapshot(7, 4, 60).await.expect("snapshot");
        let local = store.snapshot_tablet_dir(&info.path, 7).await.expect("dir");
        let repo = mem_store(&format!("upload-{}", std::process::id()));
        let remote_dir = "__palo_repository_r/__ss_l/__ss_content/__db_1/__tbl_2/__part_3/__idx_4/__7";

        let progress = UploadProgress::default();
        let first = upload_snapshot(temp.disk().as_ref(), &local, repo.as_ref(), remote_dir, &progress).await.unwrap();
        assert_eq!(first.files.len(), info.files.len());
        assert_eq!(first.files_uploaded, info.files.len() as u64);
        let counts = progress.counts();
        assert_eq!((counts.files_done, counts.files_total), (4, 4));
        assert_eq!(counts.bytes_done, counts.bytes_total);
        assert_eq!(counts.bytes_total, first.bytes_uploaded);
        for remote_name in &first.files {
            let (name, md5) = repository::split_md5(remote_name).expect("name.md5");
            assert!(info.files.iter().any(|f| f == name), "{name}");
            let content = repo.get(&format!("{remote_dir}/{remote_name}")).await.expect("uploaded");
            assert_eq!(repository::md5_hex(&content), md5);
            assert_eq!(content, temp.disk().read_all(&local.join(name)).await.unwrap());
        }

        // Again: nothing to send.
        let again =
            upload_snapshot(temp.disk().as_ref(), &local, repo.as_ref(), remote_dir, &UploadProgress::default())
                .await
                .unwrap();
        assert_eq!(again.files, first.files);
        assert_eq!((again.files_uploaded, again.files_removed), (0, 0));

        // A remote file of the right name but the wrong size (a cut upload) is sent again; a stale
        // file of another attempt is removed.
        let victim = format!("{remote_dir}/{}", first.files[0]);
        repo.put(&victim, b"short".to_vec()).await.unwrap();
        repo.put(&format!("{remote_dir}/old.rowset.{}", repository::md5_hex(b"x")), b"x".to_vec()).await.unwrap();
        let repaired =
            upload_snapshot(temp.disk().as_ref(), &local, repo.as_ref(), remote_dir, &UploadProgress::default())
                .await
                .unwrap();
        assert_eq!((repaired.files_uploaded, repaired.files_removed), (1, 1));
        let content = repo.get(&victim).await.unwrap();
        assert_eq!(repository::md5_hex(&content), repository::split_md5(&first.files[0]).unwrap().1);
        let listed: Vec<String> = repo
            .list(&format!("{remote_dir}/"))
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.path.rsplit('/').next().unwrap_or_default().to_string())
            .collect();
        assert_eq!(listed, first.files);

        // The snapshot of a later version uploads only what differs (new rowset, new header).
        load_and_publish(&store, 300, 7, 5, 2).await;
        let next = store.make_snapshot(7, 5, 60).await.expect("snapshot");
        let next_local = store.snapshot_tablet_dir(&next.path, 7).await.unwrap();
        let later =
            upload_snapshot(temp.disk().as_ref(), &next_local, repo.as_ref(), remote_dir, &UploadProgress::default())
                .await
                .unwrap();
        assert_eq!((later.files_uploaded, later.files_removed), (2, 1));
        temp.remove().await;
    }
}
