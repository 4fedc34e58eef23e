//! Uploading a snapshot's files to a repository (Doris's BE upload; docs/jobs.md, "Backend side"): every file
//! goes to `<remote_dir>/<name>.<md5 of its content>`.
//!
//! The algorithm: list the remote directory once; for each local file, if a remote file with the
//! same name, the same size and the same MD5 is there, skip it (an upload retried after a failure
//! resumes where it stopped); otherwise upload it (a file cut short is replaced). Other files in
//! the directory are left alone: the upload of another replica of the same tablet (a task given
//! to another backend while the first still ran, or resumed after a restart) may be the one the
//! job records, and a restore downloads exactly the files the job recorded. Removing "stale"
//! files here deleted that upload's header or rowsets from FINISHED backups (seeds 2603, 9216).
//!
//! A file of at most [`UPLOAD_READ_CHUNK_BYTES`] (a header; the rowsets of small loads) is read
//! once, in one read that asks for one byte more (a file that grew is refused), checked and sent
//! from memory in one write. No larger file is ever held in memory whole: it is read through
//! [`Disk`] in chunks of [`UPLOAD_READ_CHUNK_BYTES`] into [`RepoStore::writer`], which holds at
//! most one part.
//!
//! The remote name needs a file's MD5 before anything is sent. A rowset's MD5 was recorded when
//! it was written (the snapshot's header carries it), so a rowset is read once, as it is sent,
//! and checked against its own footer (lengths and the crc32c of header and data, which runs in
//! hardware: hashing 2 GB again cost a third of a backup's CPU). Any other file is hashed first
//! and hashed again as it is sent. Either way a file whose content changed is refused: the write
//! is aborted rather than published under a name whose MD5 is wrong. After it is published, the
//! remote size is checked against the local one, so a store that lost data is caught here, not
//! at restore: by asking the store, unless its write already did (the broker answers each write
//! with the bytes it published: one round trip per file fewer).
//!
//! Files are at most [`MAX_UPLOAD_FILE_BYTES`] (checked for every file before anything is sent).
//!
//! Files are written directly at their final name, with no `.part` and rename (which Doris's
//! broker path does): a [`RepoWriter`](crate::repository::RepoWriter) publishes atomically when
//! it finishes (a plain or multipart object store upload, `file://`'s staging file and rename,
//! the broker's stream that publishes only after its last message), so a reader never sees half
//! a file under the final name, and the name carries the MD5 the restore checks anyway. A write
//! that replaces, not a conditional create: a same-named remote file whose size is wrong must be
//! replaced.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use md5::{Digest, Md5};

use super::rowset::RowsetStreamCheck;
use super::transfer::TransferProgress;
use crate::disk::{Disk, DiskError};
use crate::repository::{self, RepoError, RepoStore, RepoWriter};

/// Bytes read from the local disk at a time.
pub const UPLOAD_READ_CHUNK_BYTES: u64 = 1 << 20;
/// The largest file uploaded: the largest streamed write (78 GiB, S3's part count times the part
/// size). Memory does not grow with it.
pub const MAX_UPLOAD_FILE_BYTES: u64 = repository::MAX_STREAM_BYTES;
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

/// What an upload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadReport {
    /// Every local file as `name.<md5>`, in name order: what the remote directory now holds.
    pub files: Vec<String>,
    /// Files actually sent (the rest were already there).
    pub files_uploaded: u64,
    pub bytes_uploaded: u64,
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
    known_md5: &BTreeMap<String, String>,
    store: &dyn RepoStore,
    remote_dir: &str,
    progress: &TransferProgress,
) -> Result<UploadReport, UploadError> {
    let remote_dir = remote_dir.strip_suffix('/').unwrap_or(remote_dir);
    if remote_dir.is_empty() {
        return Err(UploadError::Invalid("the remote directory of an upload is empty".into()));
    }
    let prefix = format!("{remote_dir}/");
    let local = local_files(disk, local_dir).await?;
    progress.set_totals(local.len() as u64, local.iter().map(|(_, size)| size).sum());

    // name -> (md5, size) of the remote files directly in the directory.
    let listed = store.list(&prefix).await.map_err(repo_err(format!("listing {prefix}")))?;
    let mut remote: BTreeMap<String, Vec<(String, u64)>> = BTreeMap::new();
    for entry in listed {
        let Some(file) = entry.path.strip_prefix(&prefix).filter(|f| !f.contains('/')) else {
            continue;
        };
        if let Some((name, md5)) = repository::split_md5(file) {
            remote.entry(name.to_string()).or_default().push((md5.to_ascii_lowercase(), entry.size_bytes));
        }
    }

    let mut report = UploadReport { files: Vec::new(), files_uploaded: 0, bytes_uploaded: 0 };
    let mut batch = SmallFiles::default();
    for (name, size) in &local {
        let path = local_dir.join(name);
        let candidates: Vec<&str> = remote
            .get(name)
            .map(|c| c.iter().filter(|(_, s)| s == size).map(|(md5, _)| md5.as_str()).collect())
            .unwrap_or_default();
        // A small file (a header, most rowsets of a table of many small loads) is read once,
        // checked and sent from memory. Rowset files are hashed as they are written (their MD5
        // is in the snapshot's header): a large one is read once, when it is sent, and checked
        // against its own crc32c there to catch a change since.
        let known = known_md5.get(name).filter(|m| is_md5(m)).map(|m| m.to_ascii_lowercase());
        let small = match *size <= UPLOAD_READ_CHUNK_BYTES {
            true => Some(read_small(disk, &path, *size, known.as_deref()).await?),
            false => None,
        };
        let md5 = match (known, &small) {
            (Some(md5), _) => md5,
            (None, Some(bytes)) => hex(&Md5::digest(bytes)),
            (None, None) => file_md5(disk, &path, *size).await?,
        };
        let remote_name = repository::with_md5(name, &md5);
        let sent = !candidates.contains(&md5.as_str());
        report.files.push(remote_name.clone());
        if !sent {
            progress.file_done(*size);
            continue;
        }
        let target = format!("{prefix}{remote_name}");
        report.files_uploaded += 1;
        report.bytes_uploaded += size;
        match small {
            Some(bytes) => batch.add(path, target, bytes, store, progress).await?,
            None => {
                let check = Check::new(&path, *size, &md5, known_md5.contains_key(name))?;
                send_file(disk, &path, *size, check, store, &target).await?;
                progress.file_done(*size);
            }
        }
    }
    batch.flush(store, progress).await?;
    Ok(report)
}

fn is_md5(text: &str) -> bool {
    text.len() == 32 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The files of `dir` with their sizes, by name; refuses subdirectories, too many files and files
/// too big to upload.
async fn local_files(disk: &dyn Disk, dir: &Path) -> Result<Vec<(String, u64)>, UploadError> {
    let entries = disk.read_dir_with_metadata(dir).await.map_err(disk_err(format!("listing {}", dir.display())))?;
    if entries.len() > MAX_UPLOAD_FILES {
        return Err(UploadError::Invalid(format!(
            "{} holds {} entries, more than the {MAX_UPLOAD_FILES} files a snapshot uploads",
            dir.display(),
            entries.len()
        )));
    }
    let mut out = Vec::with_capacity(entries.len());
    for (name, meta) in entries {
        if meta.is_dir {
            return Err(UploadError::Invalid(format!("{} is not a file", dir.join(&name).display())));
        }
        let size = meta.len_bytes;
        if size > MAX_UPLOAD_FILE_BYTES {
            return Err(UploadError::Invalid(format!(
                "{} is {size} bytes, above the {MAX_UPLOAD_FILE_BYTES} bytes one upload sends",
                dir.join(&name).display()
            )));
        }
        out.push((name, size));
    }
    out.sort();
    Ok(out)
}

/// The chunks of the first `size` bytes of a file, read one at a time.
struct FileChunks<'a> {
    disk: &'a dyn Disk,
    path: &'a Path,
    size: u64,
    offset: u64,
}

impl<'a> FileChunks<'a> {
    fn new(disk: &'a dyn Disk, path: &'a Path, size: u64) -> Self {
        FileChunks { disk, path, size, offset: 0 }
    }

    /// The next chunk; None after `size` bytes. A file that ends early is an error.
    async fn next(&mut self) -> Result<Option<Vec<u8>>, UploadError> {
        if self.offset >= self.size {
            return Ok(None);
        }
        let want = UPLOAD_READ_CHUNK_BYTES.min(self.size - self.offset);
        let chunk = self.read(want).await?;
        if chunk.len() as u64 != want {
            return Err(UploadError::Invalid(format!("{} shrank while being uploaded", self.path.display())));
        }
        self.offset += want;
        Ok(Some(chunk))
    }

    /// Whether the file holds more than `size` bytes (it grew after it was measured).
    async fn grew(&self) -> Result<bool, UploadError> {
        Ok(!self.read(1).await?.is_empty())
    }

    async fn read(&self, len: u64) -> Result<Vec<u8>, UploadError> {
        self.disk
            .read_at(self.path, self.offset, len)
            .await
            .map_err(disk_err(format!("reading {}", self.path.display())))
    }
}

pub(super) fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The MD5 of the first `size` bytes of `path`, as 32 lowercase hex digits.
async fn file_md5(disk: &dyn Disk, path: &Path, size: u64) -> Result<String, UploadError> {
    let mut chunks = FileChunks::new(disk, path, size);
    let mut hasher = Md5::new();
    while let Some(chunk) = chunks.next().await? {
        hasher.update(&chunk);
    }
    Ok(hex(&hasher.finalize()))
}

/// The `size` bytes of a small file, in one read (one more byte asked for, to catch a file that
/// grew since it was measured); checked against its `known` MD5, if any.
async fn read_small(disk: &dyn Disk, path: &Path, size: u64, known: Option<&str>) -> Result<Vec<u8>, UploadError> {
    let bytes = disk.read_at(path, 0, size + 1).await.map_err(disk_err(format!("reading {}", path.display())))?;
    let read = bytes.len() as u64;
    if read != size {
        let how = if read > size { "grew" } else { "shrank" };
        return Err(UploadError::Invalid(format!("{} {how} while being uploaded", path.display())));
    }
    if let Some(md5) = known {
        let mut check = Check::new(path, size, md5, true)?;
        check.feed(&bytes)?;
        check.finish()?;
    }
    Ok(bytes)
}

/// Small files read and waiting to be sent together, in one [`RepoStore::put_files`]: a tablet
/// of many small rowsets pays one round trip for them all, not one each.
#[derive(Default)]
struct SmallFiles {
    /// (local path, target, local size) of each, and the bytes to send.
    files: Vec<(PathBuf, String, u64)>,
    bytes: Vec<Vec<u8>>,
    total_bytes: u64,
}

impl SmallFiles {
    /// Adds a file of at most [`UPLOAD_READ_CHUNK_BYTES`]; sends the waiting ones first if it
    /// would not fit with them.
    async fn add(
        &mut self,
        path: PathBuf,
        target: String,
        mut bytes: Vec<u8>,
        store: &dyn RepoStore,
        progress: &TransferProgress,
    ) -> Result<(), UploadError> {
        debug_assert!(bytes.len() as u64 <= UPLOAD_READ_CHUNK_BYTES);
        let size = bytes.len() as u64;
        let full =
            self.files.len() == repository::MAX_PUT_FILES || self.total_bytes + size > repository::MAX_PUT_FILES_BYTES;
        if full {
            self.flush(store, progress).await?;
        }
        if palo_buggify::injected_bug(palo_buggify::Bug::UploadDropsLastByte) {
            bytes.pop();
        }
        self.files.push((path, target, size));
        self.bytes.push(bytes);
        self.total_bytes += size;
        Ok(())
    }

    /// Sends the waiting files, then checks their remote sizes.
    async fn flush(&mut self, store: &dyn RepoStore, progress: &TransferProgress) -> Result<(), UploadError> {
        let files = std::mem::take(&mut self.files);
        let bytes = std::mem::take(&mut self.bytes);
        self.total_bytes = 0;
        let Some((first, _, _)) = files.first() else {
            return Ok(());
        };
        let context = match files.len() {
            1 => format!("uploading {} to {}", first.display(), files[0].1),
            n => format!("uploading {n} files ({} and after) to {}", first.display(), files[0].1),
        };
        let puts = files.iter().zip(bytes).map(|((_, target, _), bytes)| (target.clone(), bytes)).collect();
        store.put_files(puts).await.map_err(repo_err(context))?;
        for (path, target, size) in &files {
            check_remote_size(path, *size, store, target).await?;
            progress.file_done(*size);
        }
        Ok(())
    }
}

/// Streams `path` (`size` bytes, checked by `check` as they are read) to `target`, then checks
/// the remote size.
async fn send_file(
    disk: &dyn Disk,
    path: &Path,
    size: u64,
    check: Check,
    store: &dyn RepoStore,
    target: &str,
) -> Result<(), UploadError> {
    let context = || format!("uploading {} to {target}", path.display());
    let mut writer = store.writer(target).await.map_err(repo_err(context()))?;
    if let Err(e) = stream_file(disk, path, size, check, writer.as_mut()).await {
        writer.abort().await;
        return Err(e);
    }
    writer.finish().await.map_err(repo_err(context()))?;
    check_remote_size(path, size, store, target).await
}

/// Checks that `target`, just written from `path`, holds `size` bytes.
async fn check_remote_size(path: &Path, size: u64, store: &dyn RepoStore, target: &str) -> Result<(), UploadError> {
    if store.checks_written_sizes() {
        return Ok(()); // the write itself failed unless the store published every byte
    }
    let remote = store.size_bytes(target).await.map_err(repo_err(format!("checking {target} after uploading it")))?;
    if remote != size && !palo_buggify::injected_bug(palo_buggify::Bug::UploadDropsLastByte) {
        // Not left under a name that promises this content (a retry sends it again anyway, as
        // the size differs, but a restore must not find it meanwhile). Best effort: the error
        // below is what matters.
        let _ = store.delete(target).await;
        return Err(UploadError::Invalid(format!(
            "{} is {size} bytes but {target} holds {remote} bytes after the upload",
            path.display()
        )));
    }
    Ok(())
}

/// Reads `path` again into `writer`, checking it still has the size and the content it was
/// named by.
async fn stream_file(
    disk: &dyn Disk,
    path: &Path,
    size: u64,
    mut check: Check,
    writer: &mut dyn RepoWriter,
) -> Result<(), UploadError> {
    let mut chunks = FileChunks::new(disk, path, size);
    let mut sent = 0u64;
    while let Some(mut chunk) = chunks.next().await? {
        check.feed(&chunk)?;
        sent += chunk.len() as u64;
        if palo_buggify::injected_bug(palo_buggify::Bug::UploadDropsLastByte) && sent == size {
            chunk.pop();
        }
        writer.write_owned(chunk).await.map_err(repo_err(format!("uploading {}", path.display())))?;
    }
    check.finish()?;
    if chunks.grew().await? {
        return Err(UploadError::Invalid(format!("{} grew past {size} bytes while being uploaded", path.display())));
    }
    Ok(())
}

/// How a file read to be sent is checked against the MD5 that names it remotely.
enum Check {
    /// A rowset whose MD5 was recorded when it was written: by its own footer (lengths and the
    /// crc32c of header and data), which any change since breaks. Hashing it again would cost
    /// an order of magnitude more CPU than the crc32c, which runs in hardware.
    Rowset { md5: String, rowset: RowsetStreamCheck },
    /// Any other file, hashed before it was named: by hashing it again.
    Md5 { md5: String, path: PathBuf, hasher: Md5 },
}

impl Check {
    /// For `path` of `size` bytes named by `md5`, `known` since it was written or just hashed.
    fn new(path: &Path, size: u64, md5: &str, known: bool) -> Result<Check, UploadError> {
        if !known {
            return Ok(Check::Md5 { md5: md5.to_string(), path: path.to_path_buf(), hasher: Md5::new() });
        }
        let rowset = RowsetStreamCheck::new(path, size).map_err(|e| changed(md5, &e.to_string()))?;
        Ok(Check::Rowset { md5: md5.to_string(), rowset })
    }

    fn feed(&mut self, chunk: &[u8]) -> Result<(), UploadError> {
        match self {
            Check::Rowset { md5, rowset } => rowset.feed(chunk).map_err(|e| changed(md5, &e.to_string())),
            Check::Md5 { hasher, .. } => {
                hasher.update(chunk);
                Ok(())
            }
        }
    }

    fn finish(self) -> Result<(), UploadError> {
        match self {
            Check::Rowset { md5, rowset } => rowset.finish().map_err(|e| changed(&md5, &e.to_string())),
            Check::Md5 { md5, path, hasher } => {
                let again = hex(&hasher.finalize());
                match again == md5 {
                    true => Ok(()),
                    false => Err(UploadError::Invalid(format!(
                        "{} changed while being uploaded: its MD5 was {md5} when hashed, {again} when sent",
                        path.display()
                    ))),
                }
            }
        }
    }
}

/// A rowset whose content no longer matches the MD5 recorded when it was written.
fn changed(md5: &str, why: &str) -> UploadError {
    UploadError::Invalid(format!(
        "{why}: it changed since it was written (its MD5 was then {md5}), so it is not uploaded under that name"
    ))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::be::rowset;
    use crate::be::tablet::snapshot::tests::{load_and_publish, store_at_v4};
    use crate::be::test_support::TempDisk;

    fn mem_store(bucket: &str) -> std::sync::Arc<dyn RepoStore> {
        repository::open_direct(&format!("mem://{bucket}/repo"), &BTreeMap::new()).expect("opens")
    }

    /// The names of the files directly in `dir` of `repo`, in name order.
    async fn remote_names(repo: &dyn RepoStore, dir: &str) -> Vec<String> {
        let listed = repo.list(&format!("{dir}/")).await.unwrap();
        listed.into_iter().map(|e| e.path.rsplit('/').next().unwrap_or_default().to_string()).collect()
    }

    #[tokio::test]
    async fn upload_writes_checksummed_files_and_resumes() {
        let temp = TempDisk::new("upload").await;
        let store = store_at_v4(&temp).await;
        let info = store.make_snapshot(7, 4, 60).await.expect("snapshot");
        let local = store.snapshot_tablet_dir(&info.path, 7).await.expect("dir");
        let repo = mem_store(&format!("upload-{}", std::process::id()));
        let remote_dir = "__palo_repository_r/__ss_l/__ss_content/__db_1/__tbl_2/__part_3/__idx_4/__7";

        let progress = TransferProgress::default();
        let first =
            upload_snapshot(temp.disk().as_ref(), &local, &BTreeMap::new(), repo.as_ref(), remote_dir, &progress)
                .await
                .unwrap();
        assert_eq!((first.files.len(), first.files_uploaded), (info.files.len(), info.files.len() as u64));
        let c = progress.counts();
        let all_bytes = first.bytes_uploaded;
        assert_eq!((c.files_done, c.files_total, c.bytes_done, c.bytes_total), (4, 4, all_bytes, all_bytes));
        for remote_name in &first.files {
            let (name, md5) = repository::split_md5(remote_name).expect("name.md5");
            assert!(info.files.iter().any(|f| f == name), "{name}");
            let content = repo.get(&format!("{remote_dir}/{remote_name}")).await.expect("uploaded");
            assert_eq!(repository::md5_hex(&content), md5);
            assert_eq!(content, temp.disk().read_all(&local.join(name)).await.unwrap());
        }

        // The header carries each rowset's MD5, hashed when it was written: the same names.
        let header = store.snapshot_header(&info.path, 7).await.expect("header");
        let known: BTreeMap<String, String> =
            header.rowsets.iter().filter_map(|r| r.md5.clone().map(|m| (r.file_name.clone(), m))).collect();
        assert_eq!(known.len(), 3, "every published rowset of the tablet has its MD5: {header:?}");
        for (name, md5) in &known {
            assert!(first.files.contains(&repository::with_md5(name, md5)), "{name}.{md5} in {:?}", first.files);
        }
        // A rowset that changed since it was written (a byte of its data flipped on disk): its
        // own checksum no longer matches, so it is refused, not sent under a name that lies.
        let victim_name = known.keys().next().expect("a rowset").clone();
        let victim = local.join(&victim_name);
        let original = temp.disk().read_all(&victim).await.unwrap();
        let mut flipped = original.clone();
        flipped[rowset::HEADER_BYTES as usize] ^= 0x01;
        crate::disk::write_file_atomic(temp.disk().as_ref(), &victim, &flipped).await.unwrap();
        let fresh = mem_store(&format!("upload-changed-rowset-{}", std::process::id()));
        let err = upload_snapshot(
            temp.disk().as_ref(),
            &local,
            &known,
            fresh.as_ref(),
            remote_dir,
            &TransferProgress::default(),
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(err.contains(&victim_name) && err.contains("checksum mismatch"), "{err}");
        assert!(err.contains(&format!("changed since it was written (its MD5 was then {})", known[&victim_name])));
        let sent = fresh.list(&format!("{remote_dir}/")).await.unwrap();
        assert!(!sent.iter().any(|e| e.path.contains(&victim_name)), "the changed rowset was sent: {sent:?}");
        crate::disk::write_file_atomic(temp.disk().as_ref(), &victim, &original).await.unwrap();

        // Again: nothing to send.
        let again = upload_snapshot(
            temp.disk().as_ref(),
            &local,
            &BTreeMap::new(),
            repo.as_ref(),
            remote_dir,
            &TransferProgress::default(),
        )
        .await
        .unwrap();
        assert_eq!(again.files, first.files);
        assert_eq!(again.files_uploaded, 0);

        // A remote file of the right name but the wrong size (a cut upload) is sent again; another
        // file is left alone.
        let victim = format!("{remote_dir}/{}", first.files[0]);
        repo.put(&victim, b"short".to_vec()).await.unwrap();
        repo.put(&format!("{remote_dir}/old.rowset.{}", repository::md5_hex(b"x")), b"x".to_vec()).await.unwrap();
        let repaired = upload_snapshot(
            temp.disk().as_ref(),
            &local,
            &BTreeMap::new(),
            repo.as_ref(),
            remote_dir,
            &TransferProgress::default(),
        )
        .await
        .unwrap();
        assert_eq!(repaired.files_uploaded, 1);
        let content = repo.get(&victim).await.unwrap();
        assert_eq!(repository::md5_hex(&content), repository::split_md5(&first.files[0]).unwrap().1);
        let listed = remote_names(repo.as_ref(), remote_dir).await;
        let other = format!("old.rowset.{}", repository::md5_hex(b"x"));
        assert_eq!(listed, [first.files.clone(), vec![other]].concat());

        // The snapshot of a later version uploads only what differs (new rowset, new header).
        load_and_publish(&store, 300, 7, 5, 2).await;
        let next = store.make_snapshot(7, 5, 60).await.expect("snapshot");
        let next_local = store.snapshot_tablet_dir(&next.path, 7).await.unwrap();
        let later = upload_snapshot(
            temp.disk().as_ref(),
            &next_local,
            &BTreeMap::new(),
            repo.as_ref(),
            remote_dir,
            &TransferProgress::default(),
        )
        .await
        .unwrap();
        assert_eq!(later.files_uploaded, 2);
        // The earlier snapshot's files all stay: another replica's upload of the same tablet (a
        // task given to another backend while the first still ran) may be the one its job
        // records. Removing the files of "other attempts" deleted that one's header or rowsets
        // from FINISHED backups (simulator seeds 2603 and 9216).
        let listed: BTreeSet<String> = remote_names(repo.as_ref(), remote_dir).await.into_iter().collect();
        for file in first.files.iter().chain(&later.files) {
            assert!(listed.contains(file), "{file} is gone from {listed:?}");
        }
        temp.remove().await;
    }

    /// A directory `snap` under `temp` holding a file bigger than a streamed part and a small one.
    async fn big_snapshot(temp: &TempDisk) -> (std::path::PathBuf, Vec<u8>) {
        let dir = temp.path("snap");
        temp.disk().create_dir_all(&dir).await.unwrap();
        let big: Vec<u8> = (0..repository::STREAM_PART_BYTES + 3 * (1 << 20) + 5)
            .map(|i| ((i % 251) ^ (i / 4093 % 256)) as u8)
            .collect();
        crate::disk::write_file_atomic(temp.disk().as_ref(), &dir.join("10001_0.dat"), &big).await.unwrap();
        crate::disk::write_file_atomic(temp.disk().as_ref(), &dir.join("7.hdr"), b"header").await.unwrap();
        (dir, big)
    }

    #[tokio::test]
    async fn upload_streams_a_file_bigger_than_a_part() {
        let temp = TempDisk::new("upload-big").await;
        let (local, big) = big_snapshot(&temp).await;
        let repo = mem_store(&format!("upload-big-{}", std::process::id()));
        let report = upload_snapshot(
            temp.disk().as_ref(),
            &local,
            &BTreeMap::new(),
            repo.as_ref(),
            "dir",
            &TransferProgress::default(),
        )
        .await
        .unwrap();
        let big_name = repository::with_md5("10001_0.dat", &repository::md5_hex(&big));
        let header_name = repository::with_md5("7.hdr", &repository::md5_hex(b"header"));
        assert_eq!(report.files, vec![big_name.clone(), header_name.clone()]);
        assert_eq!(report.bytes_uploaded, big.len() as u64 + 6);
        assert!(repo.get(&format!("dir/{big_name}")).await.unwrap() == big, "the uploaded content differs");
        assert_eq!(repo.get(&format!("dir/{header_name}")).await.unwrap(), b"header");
        temp.remove().await;
    }

    /// How [`FaultyStore`] misbehaves.
    enum Fault {
        /// Rewrites the local file (same size, other bytes) when its upload starts, i.e. between
        /// the hashing read and the sending read.
        ChangeFile { disk: std::sync::Arc<dyn Disk>, path: std::path::PathBuf },
        /// Its writers drop the last byte of every write.
        LoseBytes,
    }

    /// A mem:// store with a [`Fault`] in its writers.
    struct FaultyStore {
        inner: std::sync::Arc<dyn RepoStore>,
        fault: Fault,
    }

    struct LossyWriter(Box<dyn RepoWriter>);

    #[async_trait::async_trait]
    impl RepoWriter for LossyWriter {
        async fn write(&mut self, chunk: &[u8]) -> Result<(), RepoError> {
            self.0.write(&chunk[..chunk.len().saturating_sub(1)]).await
        }
        async fn finish(self: Box<Self>) -> Result<u64, RepoError> {
            self.0.finish().await
        }
        async fn abort(self: Box<Self>) {
            self.0.abort().await
        }
    }

    #[async_trait::async_trait]
    impl RepoStore for FaultyStore {
        async fn put(&self, path: &str, data: Vec<u8>) -> Result<(), RepoError> {
            self.inner.put(path, data).await
        }
        async fn put_if_absent(&self, path: &str, data: Vec<u8>) -> Result<bool, RepoError> {
            self.inner.put_if_absent(path, data).await
        }
        async fn get(&self, path: &str) -> Result<Vec<u8>, RepoError> {
            self.inner.get(path).await
        }
        async fn get_range(&self, path: &str, offset: u64, len: u64) -> Result<Vec<u8>, RepoError> {
            self.inner.get_range(path, offset, len).await
        }
        async fn size_bytes(&self, path: &str) -> Result<u64, RepoError> {
            self.inner.size_bytes(path).await
        }
        async fn list(&self, prefix: &str) -> Result<Vec<repository::RepoEntry>, RepoError> {
            self.inner.list(prefix).await
        }
        async fn delete(&self, path: &str) -> Result<(), RepoError> {
            self.inner.delete(path).await
        }
        async fn rename(&self, from: &str, to: &str) -> Result<(), RepoError> {
            self.inner.rename(from, to).await
        }
        async fn writer(&self, path: &str) -> Result<Box<dyn RepoWriter>, RepoError> {
            match &self.fault {
                Fault::ChangeFile { disk, path: local } => {
                    let mut content = disk.read_all(local).await.expect("reads the local file");
                    content[0] ^= 0xff;
                    crate::disk::write_file_atomic(disk.as_ref(), local, &content).await.expect("rewrites it");
                    self.inner.writer(path).await
                }
                Fault::LoseBytes => Ok(Box::new(LossyWriter(self.inner.writer(path).await?))),
            }
        }
    }

    #[tokio::test]
    async fn upload_refuses_a_file_that_changed_between_the_reads() {
        let temp = TempDisk::new("upload-changed").await;
        let (local, _) = big_snapshot(&temp).await;
        let inner = mem_store(&format!("upload-changed-{}", std::process::id()));
        let fault = Fault::ChangeFile { disk: temp.disk(), path: local.join("10001_0.dat") };
        let repo = FaultyStore { inner: inner.clone(), fault };
        let err =
            upload_snapshot(temp.disk().as_ref(), &local, &BTreeMap::new(), &repo, "dir", &TransferProgress::default())
                .await
                .unwrap_err();
        assert!(err.to_string().contains("10001_0.dat changed while being uploaded"), "{err}");
        assert!(inner.list("dir/").await.unwrap().is_empty(), "an aborted upload left a file");
        temp.remove().await;
    }

    #[tokio::test]
    async fn upload_checks_a_big_rowset_by_its_own_checksum_as_it_sends_it() {
        let temp = TempDisk::new("upload-rowset").await;
        let dir = temp.path("snap");
        temp.disk().create_dir_all(&dir).await.unwrap();
        let data: Vec<u8> = (0..2 * UPLOAD_READ_CHUNK_BYTES + 7).map(|i| (i % 253) as u8).collect();
        let bytes = rowset::sealed_rowset_bytes(7, &data);
        let name = "7_2_1.rowset";
        crate::disk::write_file_atomic(temp.disk().as_ref(), &dir.join(name), &bytes).await.unwrap();
        let known = BTreeMap::from([(name.to_string(), repository::md5_hex(&bytes))]);

        // Intact: sent once, under the MD5 it was written with, which its content has.
        let repo = mem_store(&format!("upload-rowset-{}", std::process::id()));
        let report =
            upload_snapshot(temp.disk().as_ref(), &dir, &known, repo.as_ref(), "d", &TransferProgress::default())
                .await
                .unwrap();
        assert_eq!(report.files, [repository::with_md5(name, &known[name])]);
        assert_eq!(repo.get(&format!("d/{}", report.files[0])).await.unwrap(), bytes);

        // Changed between the listing and the send: its checksum no longer matches; aborted.
        let inner = mem_store(&format!("upload-rowset-changed-{}", std::process::id()));
        let fault = Fault::ChangeFile { disk: temp.disk(), path: dir.join(name) };
        let repo = FaultyStore { inner: inner.clone(), fault };
        let err = upload_snapshot(temp.disk().as_ref(), &dir, &known, &repo, "d", &TransferProgress::default())
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains(name) && err.contains("checksum mismatch"), "{err}");
        assert!(err.contains("changed since it was written"), "{err}");
        assert!(inner.list("d/").await.unwrap().is_empty(), "an aborted upload left a file");
        temp.remove().await;
    }

    #[tokio::test]
    async fn upload_catches_a_store_that_lost_bytes() {
        let temp = TempDisk::new("upload-lossy").await;
        let (local, big) = big_snapshot(&temp).await;
        let inner = mem_store(&format!("upload-lossy-{}", std::process::id()));
        let repo = FaultyStore { inner: inner.clone(), fault: Fault::LoseBytes };
        let err =
            upload_snapshot(temp.disk().as_ref(), &local, &BTreeMap::new(), &repo, "dir", &TransferProgress::default())
                .await
                .unwrap_err()
                .to_string();
        let chunks = big.len().div_ceil(UPLOAD_READ_CHUNK_BYTES as usize);
        let sizes = format!("is {} bytes but dir/10001_0.dat.", big.len());
        assert!(err.contains("10001_0.dat") && err.contains(&sizes), "{err}");
        assert!(err.contains(&format!("holds {} bytes", big.len() - chunks)), "{err}");
        assert!(inner.list("dir/").await.unwrap().is_empty(), "the short file was left under its name");
        temp.remove().await;
    }
}
