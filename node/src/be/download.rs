//! Downloading a backed-up tablet from a repository into a restore's landing snapshot (Doris's BE
//! download; docs/jobs.md, "Backend side"), the mirror of [`super::upload`].
//!
//! The FE gives the remote directory of the backed-up tablet and the files the backup's `__info`
//! lists for it (`name.<md5>`), and the local landing directory: the directory of the new tablet
//! in an empty snapshot made for the restore, which holds that snapshot's header
//! `<new_tablet_id>.hdr` (tagged with the job, so releasing the job's snapshots removes it).
//!
//! The algorithm: list the remote directory once; every expected file must be in it, directly.
//! Remove the `.part` files an earlier attempt left. Then, for each expected file, skip it if it
//! is already at its final local name: a file gets that name only by a rename after it was
//! verified and synced, so an attempt retried after a failure resumes where it stopped.
//! Otherwise read it with ranged reads of [`DOWNLOAD_CHUNK_BYTES`] into `<local name>.part`,
//! checking it as it comes: a rowset against its own header and footer (lengths and the crc32c
//! of header and data), any other file against the MD5 its name carries (Doris's `invalid md5
//! of downloaded file` otherwise), and the size against the listing's; sync the file, rename it
//! to its final name, sync the directory. Finally remove the local files that are neither expected
//! nor the landing header (files of an earlier, different attempt).
//!
//! Local names. A rowset file keeps its name; its bytes go through a [`RowsetRetagger`] on the
//! way, so the installed file carries the new tablet's id (reads check it) and a checksum over
//! that; the retagger checks the original's checksum over the repository's bytes. The backup's tablet header
//! `<source_tablet_id>.hdr` is stored as [`RESTORE_SOURCE_HEADER`], never under its own name: the
//! landing header `<new_tablet_id>.hdr` must stay, and the two ids can be equal (two clusters).
//! Names come from a repository and are not trusted: only plain file names with an MD5 suffix are
//! accepted, no other header, nothing named like a part file.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use md5::{Digest, Md5};

use super::rowset::RowsetRetagger;
use super::tablet::snapshot::header_file_name;
use super::tablet::{ROWSET_SUFFIX, is_plain_file_name, remove_if_exists};
use super::transfer::TransferProgress;
use super::upload::{MAX_UPLOAD_FILE_BYTES, MAX_UPLOAD_FILES, hex};
use crate::disk::{Disk, DiskError};
use crate::repository::{self, RepoError, RepoStore};

/// The local name of the backed-up tablet's header in a landing directory.
pub const RESTORE_SOURCE_HEADER: &str = "source.hdr";
/// The largest backed-up tablet header accepted (a restore reads it whole).
pub const MAX_SOURCE_HEADER_BYTES: u64 = 16 << 20;
/// Bytes read from the repository at a time.
pub const DOWNLOAD_CHUNK_BYTES: u64 = 8 << 20;
/// A file being downloaded is `<local name>.part` until it is verified.
const PART_SUFFIX: &str = ".part";
const HEADER_SUFFIX: &str = ".hdr";

#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    #[error("{context}: {source}")]
    Disk { context: String, source: DiskError },
    #[error("{context}: {source}")]
    Repo { context: String, source: RepoError },
    /// The request, or a name the repository gave, is not one this BE downloads.
    #[error("{0}")]
    Invalid(String),
    /// An expected file is not in the remote directory.
    #[error("{0}")]
    Missing(String),
    /// A remote file's bytes are not what its name, its listing or its format promise.
    #[error("{0}")]
    Corrupt(String),
    /// The local disk has no room for the files.
    #[error("{0}")]
    NoSpace(String),
}

fn disk_err(context: String) -> impl FnOnce(DiskError) -> DownloadError {
    move |source| DownloadError::Disk { context, source }
}

fn repo_err(context: String) -> impl FnOnce(RepoError) -> DownloadError {
    move |source| DownloadError::Repo { context, source }
}

/// Whose files are downloaded, and for which tablet: rowset files are retagged from the one to
/// the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retag {
    pub source_tablet_id: i64,
    pub new_tablet_id: i64,
}

/// What a download did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadReport {
    /// The local name of every expected file, in name order: what the landing directory now holds
    /// besides its own header.
    pub files: Vec<String>,
    /// Files actually read from the repository (the rest were already here).
    pub files_downloaded: u64,
    pub bytes_downloaded: u64,
    /// Stale local files removed.
    pub files_removed: u64,
}

/// How a file's bytes are written locally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Through a [`RowsetRetagger`].
    Rowset,
    /// As they are (the source header, and any other file).
    AsIs,
}

/// One expected file.
#[derive(Debug)]
struct Planned {
    remote_name: String,
    local_name: String,
    md5: String,
    kind: Kind,
    size: u64,
}

/// Downloads the `expected` files (`name.<md5>`) of `remote_dir` (relative to the repository's
/// root) into `local_dir`, retagging rowset files as `retag` says. See the module doc.
pub async fn download_snapshot(
    disk: &dyn Disk,
    store: &dyn RepoStore,
    remote_dir: &str,
    expected: &[String],
    local_dir: &Path,
    retag: Retag,
    progress: &TransferProgress,
) -> Result<DownloadReport, DownloadError> {
    let remote_dir = remote_dir.strip_suffix('/').unwrap_or(remote_dir);
    if remote_dir.is_empty() {
        return Err(DownloadError::Invalid("the remote directory of a download is empty".into()));
    }
    let prefix = format!("{remote_dir}/");
    if expected.is_empty() {
        return Err(DownloadError::Invalid(format!(
            "get nothing from remote path: {prefix} (the backup lists no file for it)"
        )));
    }
    let mut planned = plan(expected, retag)?;

    let listed = store.list(&prefix).await.map_err(repo_err(format!("listing {prefix}")))?;
    if listed.is_empty() {
        return Err(DownloadError::Missing(format!("get nothing from remote path: {prefix}")));
    }
    let remote: BTreeMap<&str, u64> = listed
        .iter()
        .filter_map(|e| e.path.strip_prefix(&prefix).filter(|f| !f.contains('/')).map(|f| (f, e.size_bytes)))
        .collect();
    for file in &mut planned {
        let path = format!("{prefix}{}", file.remote_name);
        let Some(&size) = remote.get(file.remote_name.as_str()) else {
            return Err(DownloadError::Missing(format!("remote file {path} of the backup is missing")));
        };
        let limit =
            if file.local_name == RESTORE_SOURCE_HEADER { MAX_SOURCE_HEADER_BYTES } else { MAX_UPLOAD_FILE_BYTES };
        if size > limit {
            return Err(DownloadError::Invalid(format!(
                "remote file {path} is {size} bytes, above the {limit} bytes one download takes"
            )));
        }
        file.size = size;
    }
    progress.set_totals(planned.len() as u64, planned.iter().map(|f| f.size).sum());

    // What an earlier attempt left: part files go now, finished files are kept.
    let entries = disk.read_dir(local_dir).await.map_err(disk_err(format!("listing {}", local_dir.display())))?;
    let mut present = BTreeSet::new();
    for entry in &entries {
        if entry.name.ends_with(PART_SUFFIX) {
            remove_if_exists(disk, &local_dir.join(&entry.name), entry.is_dir).await;
        } else if !entry.is_dir {
            present.insert(entry.name.as_str());
        }
    }
    let missing_bytes: u64 = planned.iter().filter(|f| !present.contains(f.local_name.as_str())).map(|f| f.size).sum();
    let available = disk.available_bytes().await.map_err(disk_err("measuring the free space".into()))?;
    if missing_bytes > available {
        return Err(DownloadError::NoSpace(format!(
            "downloading {prefix} needs {missing_bytes} bytes but the disk has {available} free"
        )));
    }

    let mut report = DownloadReport { files: Vec::new(), files_downloaded: 0, bytes_downloaded: 0, files_removed: 0 };
    for file in &planned {
        if !present.contains(file.local_name.as_str()) {
            download_file(disk, store, &format!("{prefix}{}", file.remote_name), file, local_dir, retag).await?;
            report.files_downloaded += 1;
            report.bytes_downloaded += file.size;
        }
        progress.file_done(file.size);
        report.files.push(file.local_name.clone());
    }

    let landing_header = header_file_name(retag.new_tablet_id);
    let keep: BTreeSet<&str> = planned.iter().map(|f| f.local_name.as_str()).chain([landing_header.as_str()]).collect();
    for entry in entries.iter().filter(|e| !e.name.ends_with(PART_SUFFIX) && !keep.contains(e.name.as_str())) {
        remove_if_exists(disk, &local_dir.join(&entry.name), entry.is_dir).await;
        report.files_removed += 1;
    }
    // One sync makes every name renamed or removed above durable: a file is synced before its
    // rename, so a crash before this sync loses at most whole files, which a retry fetches again.
    if report.files_removed > 0 || report.files_downloaded > 0 {
        disk.sync_dir(local_dir).await.map_err(disk_err(format!("syncing {}", local_dir.display())))?;
    }
    Ok(report)
}

/// Checks the expected names and maps each to its local name and kind, in name order.
fn plan(expected: &[String], retag: Retag) -> Result<Vec<Planned>, DownloadError> {
    if expected.len() > MAX_UPLOAD_FILES {
        return Err(DownloadError::Invalid(format!(
            "{} files expected, more than the {MAX_UPLOAD_FILES} of one tablet snapshot",
            expected.len()
        )));
    }
    let source_header = header_file_name(retag.source_tablet_id);
    let mut planned = Vec::with_capacity(expected.len());
    let mut names = BTreeSet::new();
    for remote_name in expected {
        let bad = |why: &str| DownloadError::Invalid(format!("remote file name {remote_name:?} {why}"));
        let Some((name, md5)) = repository::split_md5(remote_name) else {
            return Err(bad("carries no md5"));
        };
        if !is_plain_file_name(remote_name) || name.ends_with(PART_SUFFIX) {
            return Err(bad("is not a plain file name"));
        }
        let (local_name, kind) = if name == source_header {
            (RESTORE_SOURCE_HEADER.to_string(), Kind::AsIs)
        } else if name.ends_with(HEADER_SUFFIX) {
            return Err(bad(&format!(
                "is a header, but not the one of the backed-up tablet {}",
                retag.source_tablet_id
            )));
        } else if name.ends_with(ROWSET_SUFFIX) {
            (name.to_string(), Kind::Rowset)
        } else {
            (name.to_string(), Kind::AsIs)
        };
        if !names.insert(local_name.clone()) {
            return Err(bad("is listed twice"));
        }
        planned.push(Planned {
            remote_name: remote_name.clone(),
            local_name,
            md5: md5.to_ascii_lowercase(),
            kind,
            size: 0,
        });
    }
    if !names.contains(RESTORE_SOURCE_HEADER) {
        return Err(DownloadError::Invalid(format!(
            "the backup lists no header {source_header} of the backed-up tablet among its files"
        )));
    }
    planned.sort_by(|a, b| a.local_name.cmp(&b.local_name));
    Ok(planned)
}

/// Downloads one file to its final name through `<name>.part` (removed if anything fails); the
/// caller syncs the directory once its files are all in (the `.part` files of an earlier attempt
/// are gone by then).
async fn download_file(
    disk: &dyn Disk,
    store: &dyn RepoStore,
    remote: &str,
    file: &Planned,
    local_dir: &Path,
    retag: Retag,
) -> Result<(), DownloadError> {
    let part = local_dir.join(format!("{}{PART_SUFFIX}", file.local_name));
    let target = local_dir.join(&file.local_name);
    let context = || format!("downloading {remote} to {}", target.display());
    disk.create_new(&part).await.map_err(disk_err(context()))?;
    if let Err(e) = fetch_into(disk, store, remote, file, &part, retag).await {
        remove_if_exists(disk, &part, false).await;
        return Err(e);
    }
    disk.sync(&part).await.map_err(disk_err(context()))?;
    disk.rename(&part, &target).await.map_err(disk_err(context()))
}

/// Streams `remote` into `part`, checking its size and content: a rowset against its own footer
/// (see [`Check`]), any other file against the MD5 its name carries.
async fn fetch_into(
    disk: &dyn Disk,
    store: &dyn RepoStore,
    remote: &str,
    file: &Planned,
    part: &Path,
    retag: Retag,
) -> Result<(), DownloadError> {
    let mut check = Check::new(remote, file, retag)?;
    let mut offset = 0;
    let mut written = 0;
    while offset < file.size {
        let want = DOWNLOAD_CHUNK_BYTES.min(file.size - offset);
        // The last read asks for one byte more: a file longer than it was listed with is caught
        // without a read of its own.
        let last = offset + want == file.size;
        let ask = if last { want + 1 } else { want };
        let chunk = store.get_range(remote, offset, ask).await.map_err(repo_err(format!("reading {remote}")))?;
        if last && chunk.len() as u64 > want {
            return Err(longer_than_listed(remote, file));
        }
        if chunk.len() as u64 != want {
            return Err(DownloadError::Corrupt(format!(
                "remote file {remote} ends at {} bytes, before the {} bytes it was listed with",
                offset + chunk.len() as u64,
                file.size
            )));
        }
        offset += want;
        let mut out = check.feed(chunk)?;
        // The simulator's deliberate bug: the last chunk counts as written but never reaches the disk.
        let lost = palo_buggify::injected_bug(palo_buggify::Bug::DownloadDropsLastChunk) && offset >= file.size;
        let len_bytes = out.len() as u64;
        if lost {
            out.clear();
        }
        disk.write_owned_at(part, written, out).await.map_err(disk_err(format!("writing {}", part.display())))?;
        written += len_bytes;
    }
    let empty = file.size == 0;
    if empty && !store.get_range(remote, 0, 1).await.map_err(repo_err(format!("reading {remote}")))?.is_empty() {
        return Err(longer_than_listed(remote, file));
    }
    if let Some(footer) = check.finish(remote, file)? {
        disk.write_at(part, written, &footer).await.map_err(disk_err(format!("writing {}", part.display())))?;
        written += footer.len() as u64;
    }
    debug_assert_eq!(written, file.size, "a download writes as many bytes as it reads");
    Ok(())
}

fn longer_than_listed(remote: &str, file: &Planned) -> DownloadError {
    DownloadError::Corrupt(format!("remote file {remote} is longer than the {} bytes it was listed with", file.size))
}

/// How a downloaded file is checked as it streams in.
enum Check {
    /// A rowset: retagged for the new tablet as it comes, and checked by the retagger against
    /// its own header (the backed-up tablet's id) and footer (lengths and the crc32c of header
    /// and data, which any damage breaks). Its MD5 is not computed again: the crc32c catches a
    /// damaged or cut file at a tenth of the CPU (hashing every byte was a third of a restore's
    /// CPU), and the upload checked the same crc32c before naming the file by the MD5 recorded
    /// when it was written.
    Rowset(RowsetRetagger),
    /// Any other file (the tablet's header): hashed, and checked against the MD5 in its name
    /// (Doris's `invalid md5 of downloaded file`).
    Md5(Md5),
}

impl Check {
    fn new(remote: &str, file: &Planned, retag: Retag) -> Result<Check, DownloadError> {
        match file.kind {
            Kind::Rowset => {
                RowsetRetagger::new(Path::new(remote), file.size, retag.source_tablet_id, retag.new_tablet_id)
                    .map(Check::Rowset)
                    .map_err(|e| DownloadError::Corrupt(e.to_string()))
            }
            Kind::AsIs => Ok(Check::Md5(Md5::new())),
        }
    }

    /// Takes the next chunk; the bytes to write.
    fn feed(&mut self, chunk: Vec<u8>) -> Result<Vec<u8>, DownloadError> {
        match self {
            Check::Rowset(retagger) => retagger.feed(chunk).map_err(|e| DownloadError::Corrupt(e.to_string())),
            Check::Md5(hasher) => {
                hasher.update(&chunk);
                Ok(chunk)
            }
        }
    }

    /// After the whole file: checks it; the rowset's new footer, still to be written.
    fn finish(self, remote: &str, file: &Planned) -> Result<Option<Vec<u8>>, DownloadError> {
        match self {
            Check::Rowset(retagger) => {
                retagger.finish().map(|footer| Some(footer.to_vec())).map_err(|e| DownloadError::Corrupt(e.to_string()))
            }
            Check::Md5(hasher) => {
                let actual = hex(&hasher.finalize());
                match actual == file.md5 {
                    true => Ok(None),
                    false => Err(DownloadError::Corrupt(format!(
                        "invalid md5 of downloaded file: {remote}, expected: {}, get: {actual}",
                        file.md5
                    ))),
                }
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use super::*;
    use crate::be::rowset;
    use crate::be::tablet::TabletStore;
    use crate::be::tablet::snapshot::tests::{schema, store_at_v4};
    use crate::be::test_support::TempDisk;
    use crate::be::upload::upload_snapshot;

    pub(crate) const REMOTE_DIR: &str = "__palo_repository_r/__ss_l/__ss_content/__db_1/__tbl_2/__part_3/__idx_4/__7";

    /// A fresh mem:// repository.
    pub(crate) fn mem_store(label: &str) -> Arc<dyn RepoStore> {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let bucket = format!("{label}-{}-{n}", std::process::id());
        repository::open_direct(&format!("mem://{bucket}/repo"), &BTreeMap::new()).expect("opens")
    }

    /// Backs up tablet 7 of `store` at version 4 to [`REMOTE_DIR`] of `repo`; the uploaded files.
    pub(crate) async fn back_up_tablet_7(temp: &TempDisk, store: &TabletStore, repo: &dyn RepoStore) -> Vec<String> {
        let info = store.make_snapshot(7, 4, 60).await.expect("snapshot");
        let local = store.snapshot_tablet_dir(&info.path, 7).await.expect("dir");
        let report = upload_snapshot(
            temp.disk().as_ref(),
            &local,
            &std::collections::BTreeMap::new(),
            repo,
            REMOTE_DIR,
            &TransferProgress::default(),
        )
        .await
        .expect("uploaded");
        store.release_snapshot(&info.path).await.expect("released");
        report.files
    }

    /// Creates `tablet_id` pending a restore of version 4 and its landing snapshot for job 77; the
    /// snapshot's path and the landing directory.
    pub(crate) async fn landing(store: &TabletStore, tablet_id: i64) -> (String, std::path::PathBuf) {
        store.create_restore_tablet(tablet_id, schema(), 4, 77).await.expect("created");
        let info = store.make_job_snapshot(tablet_id, 4, 60, 77).await.expect("landing snapshot");
        assert_eq!(info.files, [header_file_name(tablet_id)], "an empty landing snapshot");
        let dir = store.snapshot_tablet_dir(&info.path, tablet_id).await.expect("dir");
        (info.path, dir)
    }

    async fn listing(disk: &dyn Disk, dir: &Path) -> Vec<String> {
        disk.read_dir(dir).await.expect("lists").into_iter().map(|e| e.name).collect()
    }

    fn retag_7_to_9() -> Retag {
        Retag { source_tablet_id: 7, new_tablet_id: 9 }
    }

    #[tokio::test]
    async fn download_verifies_retags_and_resumes() {
        let temp = TempDisk::new("download").await;
        let disk = temp.disk();
        let store = store_at_v4(&temp).await;
        let repo = mem_store("download");
        let files = back_up_tablet_7(&temp, &store, repo.as_ref()).await;
        assert_eq!(files.len(), 4, "three rowsets and the header: {files:?}");
        let (_, dir) = landing(&store, 9).await;
        let landing_header = disk.read_all(&dir.join("9.hdr")).await.unwrap();

        let progress = TransferProgress::default();
        let report =
            download_snapshot(disk.as_ref(), repo.as_ref(), REMOTE_DIR, &files, &dir, retag_7_to_9(), &progress)
                .await
                .unwrap();
        assert_eq!((report.files_downloaded, report.files_removed), (4, 0));
        let counts = progress.counts();
        assert_eq!((counts.files_done, counts.files_total), (4, 4));
        assert_eq!((counts.bytes_done, counts.bytes_total), (report.bytes_downloaded, report.bytes_downloaded));
        let mut expected: Vec<String> =
            files.iter().map(|f| repository::split_md5(f).unwrap().0.to_string()).filter(|n| n != "7.hdr").collect();
        expected.push(RESTORE_SOURCE_HEADER.into());
        expected.sort();
        assert_eq!(report.files, expected);
        expected.push("9.hdr".into());
        expected.sort();
        assert_eq!(listing(disk.as_ref(), &dir).await, expected);
        assert_eq!(disk.read_all(&dir.join("9.hdr")).await.unwrap(), landing_header, "the landing header stays");
        for remote_name in &files {
            let (name, _) = repository::split_md5(remote_name).unwrap();
            let original = repo.get(&format!("{REMOTE_DIR}/{remote_name}")).await.unwrap();
            if name == "7.hdr" {
                assert_eq!(disk.read_all(&dir.join(RESTORE_SOURCE_HEADER)).await.unwrap(), original);
                continue;
            }
            let summary = rowset::verify_rowset(disk.as_ref(), &dir.join(name), Some(&schema())).await.unwrap();
            assert_eq!((summary.header.tablet_id, summary.row_count), (9, 3), "{name}");
            assert_eq!(summary.size_bytes, original.len() as u64);
        }

        // Again: nothing to fetch, the files count as done.
        let progress = TransferProgress::default();
        let again =
            download_snapshot(disk.as_ref(), repo.as_ref(), REMOTE_DIR, &files, &dir, retag_7_to_9(), &progress)
                .await
                .unwrap();
        assert_eq!((again.files_downloaded, again.bytes_downloaded, again.files_removed), (0, 0, 0));
        assert_eq!(progress.counts().files_done, 4);

        // A stale file and a part file of an earlier attempt go; a file missing locally comes back.
        disk.write_at(&dir.join("old.rowset"), 0, b"stale").await.unwrap();
        disk.write_at(&dir.join("2_2_t102.rowset.part"), 0, b"half").await.unwrap();
        disk.remove_file(&dir.join(RESTORE_SOURCE_HEADER)).await.unwrap();
        let repaired =
            download_snapshot(disk.as_ref(), repo.as_ref(), REMOTE_DIR, &files, &dir, retag_7_to_9(), &progress)
                .await
                .unwrap();
        assert_eq!((repaired.files_downloaded, repaired.files_removed), (1, 1));
        assert_eq!(listing(disk.as_ref(), &dir).await, expected);
        temp.remove().await;
    }

    #[tokio::test]
    async fn download_refuses_replaced_missing_and_badly_named_files() {
        let temp = TempDisk::new("download-bad").await;
        let disk = temp.disk();
        let store = store_at_v4(&temp).await;
        let repo = mem_store("download-bad");
        let files = back_up_tablet_7(&temp, &store, repo.as_ref()).await;
        let (_, dir) = landing(&store, 9).await;
        let download = |files: Vec<String>| {
            let (disk, repo, dir) = (disk.clone(), repo.clone(), dir.clone());
            async move {
                let progress = TransferProgress::default();
                download_snapshot(disk.as_ref(), repo.as_ref(), REMOTE_DIR, &files, &dir, retag_7_to_9(), &progress)
                    .await
            }
        };

        // A rowset whose bytes were replaced under the same name: its own checksum tells.
        let victim = files.iter().find(|f| f.contains(".rowset.")).unwrap().clone();
        let (name, _) = repository::split_md5(&victim).unwrap();
        let remote = format!("{REMOTE_DIR}/{victim}");
        let original = repo.get(&remote).await.unwrap();
        let mut bytes = original.clone();
        bytes[30] ^= 0x01;
        repo.put(&remote, bytes).await.unwrap();
        let err = download(files.clone()).await.unwrap_err();
        assert!(matches!(err, DownloadError::Corrupt(_)), "{err}");
        let text = err.to_string();
        assert!(text.contains(&format!("rowset file {remote} is damaged: checksum mismatch")), "{text}");
        let left = listing(disk.as_ref(), &dir).await;
        assert!(left.iter().all(|f| !f.ends_with(PART_SUFFIX) && f != name), "{left:?}");

        repo.put(&remote, original).await.unwrap();

        // A header whose bytes were replaced under the same name: its MD5 tells.
        let header = files.iter().find(|f| f.starts_with("7.hdr.")).unwrap().clone();
        let (_, md5) = repository::split_md5(&header).unwrap();
        let header_remote = format!("{REMOTE_DIR}/{header}");
        let original = repo.get(&header_remote).await.unwrap();
        let mut bytes = original.clone();
        bytes[3] ^= 0x01;
        let actual = repository::md5_hex(&bytes);
        repo.put(&header_remote, bytes).await.unwrap();
        let err = download(files.clone()).await.unwrap_err();
        assert!(matches!(err, DownloadError::Corrupt(_)), "{err}");
        let text = format!("invalid md5 of downloaded file: {header_remote}, expected: {md5}, get: {actual}");
        assert_eq!(err.to_string(), text);
        repo.put(&header_remote, original).await.unwrap();

        // A file the backup lists but the repository lost.
        repo.delete(&remote).await.unwrap();
        let err = download(files.clone()).await.unwrap_err();
        assert!(matches!(err, DownloadError::Missing(_)), "{err}");
        assert!(err.to_string().contains(&format!("remote file {remote} of the backup is missing")), "{err}");

        // Names a repository must not make a BE write.
        let md5 = repository::md5_hex(b"x");
        for bad in [
            vec![],
            vec![format!("../7.hdr.{md5}")],
            vec!["7.hdr".to_string()],
            vec![format!("7.hdr.{md5}"), format!("9.hdr.{md5}")],
            vec![format!("7.hdr.{md5}"), format!("a.rowset.part.{md5}")],
            vec![format!("2_2_t1.rowset.{md5}")],
            vec![format!("7.hdr.{md5}"), format!("7.hdr.{md5}")],
        ] {
            let err = download(bad.clone()).await.unwrap_err();
            assert!(matches!(err, DownloadError::Invalid(_)), "{bad:?}: {err}");
        }
        let err = download(vec![]).await.unwrap_err().to_string();
        assert!(err.contains("get nothing from remote path"), "{err}");
        assert!(listing(disk.as_ref(), &dir).await.contains(&"9.hdr".to_string()));
        temp.remove().await;
    }
}
