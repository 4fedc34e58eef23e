//! BACKUP's tablet snapshots (Doris's snapshot manager): a directory of hard links to the rowset
//! files that make up one version of one tablet, plus a header describing them, kept until the FE
//! releases it or it expires.
//!
//! ```text
//! <storage_root>/snapshot/<created_ms>.<seq>.<timeout_s>/   one snapshot (the path MakeSnapshot returns)
//!     <tablet_id>/<rowset files>                             hard links to the tablet's rowset files
//!     <tablet_id>/<tablet_id>.hdr                            SnapshotHeader, JSON, written last
//! ```
//!
//! Why the snapshot holds exactly the requested version. [`TabletStore::make_snapshot`] selects
//! the rowsets covering `base_version+1..=version` and hard-links every one of them while holding
//! the tablet's read lock. Compaction publishes (replaces rowsets in the meta, then removes the
//! input files) only under the write lock, and a publish or clone likewise; so between selecting
//! and linking no rowset can be merged away or its file removed. Once linked, the bytes belong to
//! the snapshot's names as much as to the tablet's: a later compaction removing the tablet's names
//! leaves the snapshot's intact, and rowset files are immutable once sealed, so nothing that
//! happens to the tablet afterwards changes the snapshot. No version pin is needed.
//!
//! A RESTORE lands its downloads in a snapshot too: one made of the new, restore-pending tablet at
//! the backed-up version, which is empty but for the header (see [`crate::be::download`]). A pending
//! tablet refuses any other snapshot, which would hold its loads without the restored rows.
//!
//! Crash safety. The directory is made durable before the links; the header is written, synced,
//! and then the tablet directory is synced, so a snapshot whose header is present has all its
//! names durable. A snapshot without a header (a make cut by a crash) was never returned to the
//! FE and [`TabletStore::open`] removes it, together with expired snapshots and unknown entries.
//! The name carries the creation time and timeout, so expiry needs no other state; `seq` (one
//! more than the highest found at open) keeps names unique even if the clock steps back.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use super::{RowsetMeta, TabletError, TabletHandle, TabletMeta, TabletStore, disk_error, remove_if_exists};
use crate::disk;
use crate::schema::Schema;

/// The directory under the storage root that holds every snapshot.
pub const SNAPSHOT_DIR: &str = "snapshot";
/// A snapshot's lifetime when the request gives none (Doris's snapshot_expire_time_sec).
pub const DEFAULT_SNAPSHOT_TIMEOUT_S: u64 = 172_800;
/// The longest lifetime a request may ask for.
pub const MAX_SNAPSHOT_TIMEOUT_S: u64 = 30 * 86_400;
/// Snapshots one BE keeps at once; more are refused until some are released or expire. One per
/// replica a job holds: a backup and a restore of every tablet of a full backend fit.
pub const MAX_SNAPSHOTS: usize = 2 * super::MAX_TABLETS;
/// Released jobs remembered, so a snapshot request of a job that already ended (delayed on the
/// network) is refused instead of leaving a snapshot nobody releases.
pub const MAX_RELEASED_JOBS: usize = 4_096;
/// Entries of a snapshot directory looked at when checking it at open.
const MAX_TABLET_DIRS_PER_SNAPSHOT: usize = 16;
const HEADER_SUFFIX: &str = ".hdr";

/// What [`TabletStore::make_snapshot`] made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotInfo {
    /// Relative to the storage root: `snapshot/<created_ms>.<seq>.<timeout_s>`. The files are in
    /// its subdirectory `<tablet_id>/`.
    pub path: String,
    /// The file names in `<path>/<tablet_id>/`: the rowset files, then the header.
    pub files: Vec<String>,
}

/// `<tablet_id>.hdr`: the tablet as the snapshot holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotHeader {
    pub tablet_id: i64,
    pub schema: Schema,
    pub base_version: u64,
    /// The version the snapshot is of: the rowsets cover `base_version+1..=version`.
    pub version: u64,
    /// Oldest first: file name, version range, row count, size.
    pub rowsets: Vec<RowsetMeta>,
    /// The FE job the snapshot was made for (0: none); `ReleaseSnapshot` of a job removes all of
    /// its snapshots.
    #[serde(default)]
    pub job_id: i64,
}

/// The header's file name for a tablet.
pub fn header_file_name(tablet_id: i64) -> String {
    format!("{tablet_id}{HEADER_SUFFIX}")
}

/// A snapshot directory's name: `<created_ms>.<seq>.<timeout_s>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SnapshotName {
    created_ms: u64,
    seq: u64,
    timeout_s: u64,
}

impl SnapshotName {
    fn parse(name: &str) -> Option<SnapshotName> {
        let mut parts = name.split('.');
        let parsed = SnapshotName {
            created_ms: parts.next()?.parse().ok()?,
            seq: parts.next()?.parse().ok()?,
            timeout_s: parts.next()?.parse().ok()?,
        };
        (parts.next().is_none() && parsed.to_string() == name).then_some(parsed)
    }

    fn expired(&self, now_ms: u64) -> bool {
        self.created_ms.saturating_add(self.timeout_s.saturating_mul(1000)) <= now_ms
    }
}

impl std::fmt::Display for SnapshotName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.created_ms, self.seq, self.timeout_s)
    }
}

/// The snapshots of one BE: their directory, the next sequence number, the names that exist
/// (with the job each was made for) and the jobs released lately.
pub(super) struct SnapshotRegistry {
    /// `<storage_root>/snapshot`.
    root: PathBuf,
    next_seq: AtomicU64,
    live: std::sync::Mutex<Live>,
}

/// What a snapshot is of: the job it was made for (0: none), its tablet and version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Owner {
    job_id: i64,
    tablet_id: i64,
    version: u64,
}

/// Snapshots a job's release removes between two syncs of the snapshot directory.
const RELEASE_CHUNK_SNAPSHOTS: usize = 1_024;

#[derive(Default)]
pub(super) struct Live {
    /// Snapshot name -> what it is of.
    names: BTreeMap<String, Owner>,
    /// The other way, for snapshots of a job: what -> name (one lookup, not a scan of all).
    by_owner: BTreeMap<(i64, i64, u64), String>,
    /// Jobs whose snapshots were released, newest last, at most [`MAX_RELEASED_JOBS`].
    released_jobs: VecDeque<i64>,
    /// Jobs whose snapshots a call is removing now: a second call for one (a heartbeat's, while
    /// the job's end removes 10^5 snapshots) returns at once instead of removing them again.
    releasing: BTreeSet<i64>,
}

impl Live {
    fn insert(&mut self, name: String, owner: Owner) {
        if owner.job_id != 0 {
            self.by_owner.insert((owner.job_id, owner.tablet_id, owner.version), name.clone());
        }
        self.names.insert(name, owner);
    }

    fn remove(&mut self, name: &str) {
        if let Some(owner) = self.names.remove(name) {
            let key = (owner.job_id, owner.tablet_id, owner.version);
            if self.by_owner.get(&key).is_some_and(|n| n == name) {
                self.by_owner.remove(&key);
            }
        }
    }

    fn find(&self, owner: Owner) -> Option<String> {
        self.by_owner.get(&(owner.job_id, owner.tablet_id, owner.version)).cloned()
    }
}

impl SnapshotRegistry {
    pub(super) fn new(storage_root: &Path) -> SnapshotRegistry {
        SnapshotRegistry {
            root: storage_root.join(SNAPSHOT_DIR),
            next_seq: AtomicU64::new(0),
            live: std::sync::Mutex::new(Live::default()),
        }
    }

    fn live(&self) -> std::sync::MutexGuard<'_, Live> {
        self.live.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The snapshot directory name in a path relative to the storage root, if the path is exactly
/// `snapshot/<name>` (a trailing `/` allowed).
fn parse_snapshot_path(path: &str) -> Result<SnapshotName, TabletError> {
    let trimmed = path.strip_suffix('/').unwrap_or(path);
    trimmed.strip_prefix(SNAPSHOT_DIR).and_then(|rest| rest.strip_prefix('/')).and_then(SnapshotName::parse).ok_or_else(
        || {
            TabletError::InvalidArgument(format!(
                "{path:?} is not a snapshot path: expected {SNAPSHOT_DIR}/<created_ms>.<seq>.<timeout_s>, relative to \
                 the storage root"
            ))
        },
    )
}

/// The rowsets covering exactly `base_version+1..=version`, oldest first.
fn snapshot_rowsets(meta: &TabletMeta, version: u64) -> Result<Vec<RowsetMeta>, TabletError> {
    let unavailable = |why: String| {
        TabletError::FailedPrecondition(format!(
            "version {version} of tablet {} is not available ({why})",
            meta.tablet_id
        ))
    };
    let current = meta.version();
    if version < meta.base_version {
        return Err(unavailable(format!("the tablet starts at version {}", meta.base_version)));
    }
    if version > current {
        return Err(unavailable(format!("the tablet is at {current}")));
    }
    let mut out = Vec::new();
    for r in &meta.rowsets {
        if r.end_version <= version {
            out.push(r.clone());
        } else if r.start_version <= version {
            return Err(unavailable(format!(
                "it was compacted: versions {}..={} are one rowset now",
                r.start_version, r.end_version
            )));
        } else {
            break;
        }
    }
    Ok(out)
}

impl TabletStore {
    /// Makes a snapshot of `tablet_id` at `version` that lives `timeout_s` seconds (0: the
    /// default) unless released first. See the module doc for why it holds exactly that version.
    pub async fn make_snapshot(
        &self,
        tablet_id: i64,
        version: u64,
        timeout_s: u64,
    ) -> Result<SnapshotInfo, TabletError> {
        self.make_job_snapshot(tablet_id, version, timeout_s, 0).await
    }

    /// [`TabletStore::make_snapshot`] for a job (`job_id` not 0): the snapshot is released with
    /// the job's others, and refused once the job's snapshots were released.
    pub async fn make_job_snapshot(
        &self,
        tablet_id: i64,
        version: u64,
        timeout_s: u64,
        job_id: i64,
    ) -> Result<SnapshotInfo, TabletError> {
        let timeout_s = if timeout_s == 0 { DEFAULT_SNAPSHOT_TIMEOUT_S } else { timeout_s };
        if timeout_s > MAX_SNAPSHOT_TIMEOUT_S {
            return Err(TabletError::InvalidArgument(format!(
                "snapshot timeout {timeout_s} s is above the {MAX_SNAPSHOT_TIMEOUT_S} s allowed"
            )));
        }
        let handle = self.handle(tablet_id)?;
        let owner = Owner { job_id, tablet_id, version };
        // A job asking again (its FE restarted in the middle of taking them) gets the snapshot it
        // has: the same version of the same tablet, and one directory, not two.
        let existing = (job_id != 0).then(|| self.snapshots.live().find(owner)).flatten();
        if let Some(name) = existing {
            let path = format!("{SNAPSHOT_DIR}/{name}");
            if let Ok(header) = self.snapshot_header(&path, tablet_id).await {
                let mut files: Vec<String> = header.rowsets.into_iter().map(|r| r.file_name).collect();
                files.push(header_file_name(tablet_id));
                tracing::info!(tablet_id, version, job_id, snapshot = %name, "be: snapshot made before, given again");
                return Ok(SnapshotInfo { path, files });
            }
        }
        let seq = self.snapshots.next_seq.fetch_add(1, Ordering::Relaxed);
        let name = SnapshotName { created_ms: crate::clock::now_ms(), seq, timeout_s };
        let name_str = name.to_string();
        {
            let mut live = self.snapshots.live();
            if job_id != 0 && live.released_jobs.contains(&job_id) {
                return Err(TabletError::FailedPrecondition(format!(
                    "job {job_id} has ended and its snapshots were released"
                )));
            }
            if live.names.len() >= MAX_SNAPSHOTS {
                return Err(TabletError::ResourceExhausted(format!(
                    "this backend already keeps {MAX_SNAPSHOTS} snapshots; they go when their jobs end (or expire)"
                )));
            }
            live.insert(name_str.clone(), owner);
        }
        let dir = self.snapshots.root.join(&name_str);
        let filled = self.fill_snapshot(&handle, version, &dir, job_id).await;
        // Released while it was being made (the job ended meanwhile): what the release removed
        // may have been made again by the fill, so it goes now, and the FE hears no snapshot.
        let released = {
            let live = self.snapshots.live();
            !live.names.contains_key(&name_str) || (job_id != 0 && live.released_jobs.contains(&job_id))
        };
        let filled = match filled {
            Ok(_) if released => Err(TabletError::FailedPrecondition(format!(
                "job {job_id} ended while its snapshot of tablet {tablet_id} was being made"
            ))),
            other => other,
        };
        match filled {
            Ok(files) => {
                tracing::info!(tablet_id, version, snapshot = %name_str, files = files.len(), "be: snapshot made");
                Ok(SnapshotInfo { path: format!("{SNAPSHOT_DIR}/{name_str}"), files })
            }
            Err(e) => {
                remove_if_exists(self.disk.as_ref(), &dir, true).await;
                self.snapshots.live().remove(&name_str);
                Err(e)
            }
        }
    }

    async fn fill_snapshot(
        &self,
        handle: &TabletHandle,
        version: u64,
        dir: &Path,
        job_id: i64,
    ) -> Result<Vec<String>, TabletError> {
        let tablet_id = handle.id;
        let disk = self.disk.as_ref();
        let context = format!("making a snapshot of tablet {tablet_id}");
        let tablet_dir = dir.join(tablet_id.to_string());
        // Two new names to make durable: the snapshot's in the snapshot root (durable since the
        // store opened) and the tablet's in the snapshot. Not every ancestor up to `/`: that was
        // six directory syncs per snapshot, the most of a snapshot's cost.
        disk.create_dir_all(&tablet_dir).await.map_err(disk_error(context.clone()))?;
        disk.sync_dir(dir).await.map_err(disk_error(context.clone()))?;
        disk.sync_dir(&self.snapshots.root).await.map_err(disk_error(context.clone()))?;
        let header = {
            // Held across selection and linking: see the module doc.
            let state = handle.state.read().await;
            handle.check_live(&state)?;
            if state.meta.restore_pending && version != state.meta.base_version {
                // Above its base it would hold only the loads, not the rows still to be restored.
                return Err(TabletError::FailedPrecondition(format!(
                    "tablet {tablet_id} is being restored: only a snapshot at version {} (a restore's landing \
                     snapshot) can be made until the restore commits",
                    state.meta.base_version
                )));
            }
            let mut rowsets = snapshot_rowsets(&state.meta, version)?;
            if palo_buggify::injected_bug(palo_buggify::Bug::SnapshotMissesNewestRowset) && rowsets.len() > 1 {
                rowsets.pop();
            }
            for r in &rowsets {
                if let Err(e) = disk.hard_link(&handle.rowset_path(&r.file_name), &tablet_dir.join(&r.file_name)).await
                {
                    if e.is_not_found() {
                        return Err(TabletError::Damaged(format!(
                            "rowset file {} of tablet {tablet_id} is missing",
                            r.file_name
                        )));
                    }
                    return Err(disk_error(context)(e));
                }
            }
            SnapshotHeader {
                tablet_id,
                schema: state.meta.schema.clone(),
                base_version: state.meta.base_version,
                version,
                rowsets,
                job_id,
            }
        };
        let bytes = serde_json::to_vec_pretty(&header).map_err(|e| {
            TabletError::InvalidArgument(format!("cannot encode the snapshot header of tablet {tablet_id}: {e}"))
        })?;
        let header_name = header_file_name(tablet_id);
        let header_path = tablet_dir.join(&header_name);
        disk.write_at(&header_path, 0, &bytes).await.map_err(disk_error(context.clone()))?;
        disk.sync(&header_path).await.map_err(disk_error(context.clone()))?;
        disk.sync_dir(&tablet_dir).await.map_err(disk_error(context))?;
        let mut files: Vec<String> = header.rowsets.into_iter().map(|r| r.file_name).collect();
        files.push(header_name);
        Ok(files)
    }

    /// Removes a snapshot. `path` must be one MakeSnapshot returned (`snapshot/<name>`); a
    /// snapshot already gone is fine.
    pub async fn release_snapshot(&self, path: &str) -> Result<(), TabletError> {
        let name = parse_snapshot_path(path)?.to_string();
        let dir = self.snapshots.root.join(&name);
        let context = format!("releasing snapshot {path}");
        match self.disk.remove_dir_all(&dir).await {
            Ok(()) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(disk_error(context)(e)),
        }
        self.disk.sync_dir(&self.snapshots.root).await.map_err(disk_error(context))?;
        self.snapshots.live().remove(&name);
        tracing::info!(snapshot = %name, "be: snapshot released");
        Ok(())
    }

    /// Removes every snapshot made for `job_id` and refuses new ones for it; how many went (0
    /// when another call is removing them now). The snapshot directory is synced once per
    /// [`RELEASE_CHUNK_SNAPSHOTS`] snapshots, not once per snapshot.
    pub async fn release_job_snapshots(&self, job_id: i64) -> Result<usize, TabletError> {
        if job_id == 0 {
            return Err(TabletError::InvalidArgument("job id 0 names no job".into()));
        }
        let names: Vec<String> = {
            let mut live = self.snapshots.live();
            if !live.released_jobs.contains(&job_id) {
                if live.released_jobs.len() >= MAX_RELEASED_JOBS {
                    live.released_jobs.pop_front();
                }
                live.released_jobs.push_back(job_id);
            }
            if !live.releasing.insert(job_id) {
                return Ok(0);
            }
            live.names.iter().filter(|(_, o)| o.job_id == job_id).map(|(n, _)| n.clone()).collect()
        };
        let removed = self.remove_snapshots(&names).await;
        self.snapshots.live().releasing.remove(&job_id);
        removed?;
        if !names.is_empty() {
            tracing::info!(job_id, snapshots = names.len(), "be: job's snapshots released");
        }
        Ok(names.len())
    }

    /// Removes the snapshots `names` (one already gone is fine), a chunk at a time: their
    /// directories, one sync of the snapshot directory, then the registry's entries.
    async fn remove_snapshots(&self, names: &[String]) -> Result<(), TabletError> {
        for chunk in names.chunks(RELEASE_CHUNK_SNAPSHOTS) {
            for name in chunk {
                match self.disk.remove_dir_all(&self.snapshots.root.join(name)).await {
                    Ok(()) => {}
                    Err(e) if e.is_not_found() => {}
                    Err(e) => return Err(disk_error(format!("releasing snapshot {SNAPSHOT_DIR}/{name}"))(e)),
                }
            }
            let context = || format!("releasing {} snapshots", chunk.len());
            self.disk.sync_dir(&self.snapshots.root).await.map_err(disk_error(context()))?;
            let mut live = self.snapshots.live();
            for name in chunk {
                live.remove(name);
            }
        }
        Ok(())
    }

    /// The jobs that have snapshots on this BE, each once, in id order.
    pub fn snapshot_job_ids(&self) -> Vec<i64> {
        let ids: BTreeSet<i64> = self.snapshots.live().names.values().map(|o| o.job_id).filter(|j| *j != 0).collect();
        ids.into_iter().collect()
    }

    /// Where the files of `tablet_id` are in the snapshot at `path` (a MakeSnapshot path); the
    /// snapshot must exist.
    pub async fn snapshot_tablet_dir(&self, path: &str, tablet_id: i64) -> Result<PathBuf, TabletError> {
        let name = parse_snapshot_path(path)?.to_string();
        let dir = self.snapshots.root.join(&name).join(tablet_id.to_string());
        let header = dir.join(header_file_name(tablet_id));
        match self.disk.metadata(&header).await.map_err(disk_error(format!("reading snapshot {path}")))? {
            Some(m) if !m.is_dir => Ok(dir),
            _ => Err(TabletError::NotFound(format!(
                "snapshot {path} of tablet {tablet_id} does not exist on this backend (released, expired, or never made)"
            ))),
        }
    }

    /// The header of `tablet_id` in the snapshot at `path` (a MakeSnapshot path).
    pub async fn snapshot_header(&self, path: &str, tablet_id: i64) -> Result<SnapshotHeader, TabletError> {
        let header = self.snapshot_tablet_dir(path, tablet_id).await?.join(header_file_name(tablet_id));
        let bytes = self.disk.read_all(&header).await.map_err(disk_error(format!("reading {}", header.display())))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| TabletError::Damaged(format!("snapshot header {} does not decode: {e}", header.display())))
    }

    /// Removes the snapshots whose timeout has passed; how many.
    pub async fn sweep_expired_snapshots(&self) -> usize {
        let now_ms = crate::clock::now_ms();
        let expired: Vec<String> = self
            .snapshots
            .live()
            .names
            .keys()
            .filter(|name| SnapshotName::parse(name).is_some_and(|n| n.expired(now_ms)))
            .cloned()
            .collect();
        for name in &expired {
            tracing::info!(snapshot = %name, "be: removing an expired snapshot");
            remove_if_exists(self.disk.as_ref(), &self.snapshots.root.join(name), true).await;
            self.snapshots.live().remove(name);
        }
        if !expired.is_empty() {
            let _ = self.disk.sync_dir(&self.snapshots.root).await;
        }
        expired.len()
    }

    /// At open: creates `snapshot/`, removes expired, incomplete and unknown entries (and any past
    /// [`MAX_SNAPSHOTS`]), registers the rest, and starts `seq` above every name found.
    pub(super) async fn open_snapshots(&self) -> Result<(), TabletError> {
        let disk = self.disk.as_ref();
        let root = &self.snapshots.root;
        disk::create_dir_all_durable(disk, root).await.map_err(disk_error(format!("creating {}", root.display())))?;
        let entries = disk.read_dir(root).await.map_err(disk_error(format!("listing {}", root.display())))?;
        let now_ms = crate::clock::now_ms();
        let mut highest_seq = None;
        let mut removed = 0usize;
        for entry in entries {
            let path = root.join(&entry.name);
            let name = SnapshotName::parse(&entry.name).filter(|_| entry.is_dir);
            if let Some(name) = name {
                highest_seq = highest_seq.max(Some(name.seq));
            }
            let keep = match name {
                Some(name) if !name.expired(now_ms) && self.snapshots.live().names.len() < MAX_SNAPSHOTS => {
                    self.snapshot_owner(&path).await?
                }
                _ => None,
            };
            if let Some(owner) = keep {
                self.snapshots.live().insert(entry.name, owner);
            } else {
                tracing::info!(path = %path.display(), "be: removing an expired, incomplete or unknown snapshot");
                remove_if_exists(disk, &path, entry.is_dir).await;
                removed += 1;
            }
        }
        if removed > 0 {
            let _ = disk.sync_dir(root).await;
        }
        self.snapshots.next_seq.store(highest_seq.map_or(0, |s| s.saturating_add(1)), Ordering::Relaxed);
        Ok(())
    }

    /// What a snapshot is of, if every tablet directory of it has its header (written last) and
    /// the headers decode; `None` for a snapshot to remove.
    async fn snapshot_owner(&self, dir: &Path) -> Result<Option<Owner>, TabletError> {
        let disk = self.disk.as_ref();
        let entries = disk.read_dir(dir).await.map_err(disk_error(format!("listing {}", dir.display())))?;
        if entries.is_empty() || entries.len() > MAX_TABLET_DIRS_PER_SNAPSHOT {
            return Ok(None);
        }
        let mut owner = None;
        for entry in entries {
            let Ok(tablet_id) = entry.name.parse::<i64>() else {
                return Ok(None);
            };
            let header = dir.join(&entry.name).join(header_file_name(tablet_id));
            let present = disk.metadata(&header).await.map_err(disk_error(format!("checking {}", header.display())))?;
            if !entry.is_dir || present.is_none_or(|m| m.is_dir) {
                return Ok(None);
            }
            let bytes = disk.read_all(&header).await.map_err(disk_error(format!("reading {}", header.display())))?;
            let Ok(decoded) = serde_json::from_slice::<SnapshotHeader>(&bytes) else {
                return Ok(None);
            };
            owner = Some(Owner { job_id: decoded.job_id, tablet_id, version: decoded.version });
        }
        Ok(owner)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::be::tablet::CompactionLimits;
    use crate::be::test_support::TempDisk;
    use crate::row_codec;
    use crate::schema::{ColumnType, KeysType, Row, Value};

    pub(crate) fn schema() -> Schema {
        let col = crate::be::test_support::column;
        Schema {
            columns: vec![col("k", ColumnType::BigInt, true), col("v", ColumnType::Varchar { len: 32 }, false)],
            keys_type: KeysType::Duplicate,
        }
    }

    pub(crate) async fn load_and_publish(store: &TabletStore, txn_id: i64, tablet_id: i64, version: u64, n: i128) {
        let rows: Vec<Row> = (0..n).map(|i| vec![Value::Int(i), Value::Str(format!("v{version} {i}"))]).collect();
        let mut bytes = Vec::new();
        row_codec::encode_rows(&schema(), &rows, &mut bytes).expect("encodes");
        store.write_rows(txn_id, tablet_id, 0, &bytes, rows.len() as u64, true).await.expect("written");
        store.publish(txn_id, tablet_id, version).await.expect("published");
    }

    /// A store with tablet 7 at version 4 (rowsets 2, 3, 4).
    pub(crate) async fn store_at_v4(temp: &TempDisk) -> TabletStore {
        let store = TabletStore::open(temp.disk(), temp.root()).await.expect("opens");
        store.create_tablet(7, schema(), 1).await.expect("created");
        for v in 2..=4 {
            load_and_publish(&store, 100 + v as i64, 7, v, 3).await;
        }
        store
    }

    async fn listing(temp: &TempDisk, relative: &str) -> Vec<String> {
        let mut names: Vec<String> =
            temp.disk().read_dir(&temp.path(relative)).await.expect("lists").into_iter().map(|e| e.name).collect();
        names.sort();
        names
    }

    async fn header(temp: &TempDisk, info: &SnapshotInfo, tablet_id: i64) -> SnapshotHeader {
        let path = temp.path(&format!("{}/{tablet_id}/{}", info.path, header_file_name(tablet_id)));
        serde_json::from_slice(&temp.disk().read_all(&path).await.expect("header")).expect("decodes")
    }

    #[tokio::test]
    async fn a_snapshot_holds_exactly_the_versions_asked_for_and_outlives_compaction() {
        let temp = TempDisk::new("snapshot-basic").await;
        let store = store_at_v4(&temp).await;
        let info = store.make_snapshot(7, 3, 60).await.expect("snapshot");
        assert!(info.path.starts_with("snapshot/"), "{}", info.path);
        let h = header(&temp, &info, 7).await;
        assert_eq!((h.tablet_id, h.version, h.base_version), (7, 3, 1));
        assert_eq!(h.rowsets.iter().map(|r| (r.start_version, r.end_version)).collect::<Vec<_>>(), [(2, 2), (3, 3)]);
        assert_eq!(h.rowsets.iter().map(|r| r.row_count).sum::<u64>(), 6);
        let mut expected: Vec<String> = h.rowsets.iter().map(|r| r.file_name.clone()).collect();
        expected.push("7.hdr".into());
        assert_eq!(info.files, expected);
        let mut sorted = expected.clone();
        sorted.sort();
        let dir = format!("{}/7", info.path);
        assert_eq!(listing(&temp, &dir).await, sorted);
        let before: Vec<Vec<u8>> = {
            let mut all = Vec::new();
            for f in &info.files {
                all.push(temp.disk().read_all(&temp.path(&format!("{dir}/{f}"))).await.unwrap());
            }
            all
        };

        // A later publish and a compaction merging everything leave the snapshot alone.
        load_and_publish(&store, 200, 7, 5, 3).await;
        let limits = CompactionLimits { min_rowsets: 1, max_rowsets: 8, max_input_bytes: 1 << 30, max_tablets: 8 };
        assert_eq!(store.compact_once(limits).await.tablets_compacted, 1);
        let merged = store.tablet_meta(7).await.unwrap().rowsets;
        assert_eq!(merged.iter().map(|r| (r.start_version, r.end_version)).collect::<Vec<_>>(), [(2, 4), (5, 5)]);
        assert_eq!(listing(&temp, &dir).await, sorted);
        for (f, bytes) in info.files.iter().zip(&before) {
            assert_eq!(&temp.disk().read_all(&temp.path(&format!("{dir}/{f}"))).await.unwrap(), bytes);
        }

        // Now version 3 is merged away.
        let err = store.make_snapshot(7, 3, 60).await.unwrap_err();
        assert!(err.to_string().contains("version 3 of tablet 7 is not available (it was compacted"), "{err}");
        // The whole tablet at 5 still works.
        let all = store.make_snapshot(7, 5, 60).await.expect("snapshot at 5");
        assert_ne!(all.path, info.path);
        temp.remove().await;
    }

    /// A job asking again for the snapshot it has (its FE restarted while taking them) gets the
    /// same one: one directory per (job, tablet, version), not one per ask.
    #[tokio::test]
    async fn a_job_asking_again_gets_the_snapshot_it_has() {
        let temp = TempDisk::new("snapshot-again").await;
        let store = store_at_v4(&temp).await;
        let first = store.make_job_snapshot(7, 3, 60, 5).await.expect("snapshot");
        let again = store.make_job_snapshot(7, 3, 60, 5).await.expect("again");
        assert_eq!(again, first);
        assert_eq!(listing(&temp, SNAPSHOT_DIR).await.len(), 1);
        let other_version = store.make_job_snapshot(7, 4, 60, 5).await.expect("another version");
        let other_job = store.make_job_snapshot(7, 3, 60, 6).await.expect("another job");
        assert_ne!(other_version.path, first.path);
        assert_ne!(other_job.path, first.path);
        // Also across a restart of the backend.
        drop(store);
        let store = TabletStore::open(temp.disk(), temp.root()).await.expect("reopens");
        assert_eq!(store.make_job_snapshot(7, 3, 60, 5).await.expect("after a restart"), first);
        assert_eq!(store.release_job_snapshots(5).await.unwrap(), 2);
        assert_eq!(listing(&temp, SNAPSHOT_DIR).await.len(), 1);
        temp.remove().await;
    }

    /// Bench scale, 102 400 tablets: at a backup's end the FE and every heartbeat asked for its
    /// snapshots' release while the first call still removed them (34 000 per backend, each
    /// with a sync of the snapshot directory); every call removed all of them again, each
    /// snapshot 430 times, and the restore after it ran at 77 files/s. Two calls at once now
    /// remove each snapshot once.
    #[tokio::test]
    async fn a_job_released_twice_at_once_removes_its_snapshots_once() {
        let temp = TempDisk::new("snapshot-release-twice").await;
        let store = store_at_v4(&temp).await;
        store.make_job_snapshot(7, 3, 60, 5).await.expect("snapshot");
        store.make_job_snapshot(7, 4, 60, 5).await.expect("snapshot");
        let (first, second) = tokio::join!(store.release_job_snapshots(5), store.release_job_snapshots(5));
        assert_eq!(first.unwrap() + second.unwrap(), 2, "each snapshot removed by one call");
        assert!(listing(&temp, SNAPSHOT_DIR).await.is_empty());
        assert_eq!(store.release_job_snapshots(5).await.unwrap(), 0);
        temp.remove().await;
    }

    #[tokio::test]
    async fn a_bad_version_leaves_no_directory_and_release_is_idempotent_and_confined() {
        let temp = TempDisk::new("snapshot-release").await;
        let store = store_at_v4(&temp).await;
        let err = store.make_snapshot(7, 9, 60).await.unwrap_err();
        assert!(err.to_string().contains("version 9 of tablet 7 is not available (the tablet is at 4)"), "{err}");
        assert!(matches!(store.make_snapshot(8, 2, 60).await, Err(TabletError::NotFound(_))));
        assert!(listing(&temp, SNAPSHOT_DIR).await.is_empty());

        let info = store.make_snapshot(7, 4, 60).await.expect("snapshot");
        assert!(store.snapshot_tablet_dir(&info.path, 7).await.is_ok());
        store.release_snapshot(&info.path).await.expect("released");
        assert!(listing(&temp, SNAPSHOT_DIR).await.is_empty());
        store.release_snapshot(&info.path).await.expect("released again");
        assert!(matches!(store.snapshot_tablet_dir(&info.path, 7).await, Err(TabletError::NotFound(_))));

        for bad in ["tablets/7", "snapshot", "snapshot/../tablets", "/snapshot/1.2.3", "snapshot/1.2.3/7", "x/1.2.3"] {
            assert!(matches!(store.release_snapshot(bad).await, Err(TabletError::InvalidArgument(_))), "{bad} refused");
        }
        assert!(!listing(&temp, "tablets/7/rowsets").await.is_empty());
        temp.remove().await;
    }

    #[tokio::test]
    async fn open_removes_expired_and_incomplete_snapshots_and_keeps_names_unique() {
        let temp = TempDisk::new("snapshot-open").await;
        let store = store_at_v4(&temp).await;
        let kept = store.make_snapshot(7, 4, 3600).await.expect("snapshot");
        // An expired one and one cut before its header.
        let disk = temp.disk();
        let old = temp.path(&format!("{SNAPSHOT_DIR}/1000.77.1/7"));
        disk.create_dir_all(&old).await.unwrap();
        disk.write_at(&old.join("7.hdr"), 0, b"{}").await.unwrap();
        let cut = temp.path(&format!("{SNAPSHOT_DIR}/{}.78.3600/7", crate::clock::now_ms()));
        disk.create_dir_all(&cut).await.unwrap();
        disk.create_dir_all(&temp.path(&format!("{SNAPSHOT_DIR}/junk"))).await.unwrap();
        drop(store);

        let store = TabletStore::open(temp.disk(), temp.root()).await.expect("reopens");
        let kept_name = kept.path.strip_prefix("snapshot/").unwrap().to_string();
        assert_eq!(listing(&temp, SNAPSHOT_DIR).await, [kept_name]);
        let next = store.make_snapshot(7, 4, 60).await.expect("snapshot");
        let seq = |path: &str| SnapshotName::parse(path.strip_prefix("snapshot/").unwrap()).unwrap().seq;
        assert!(seq(&next.path) > 78, "{}", next.path);
        assert_eq!(store.sweep_expired_snapshots().await, 0);
        temp.remove().await;
    }
}
