//! [`TabletStore`]: the tablets of one BE, each a directory `<storage_root>/tablets/<tablet_id>/`:
//!
//! ```text
//! meta.json        TabletMeta: schema, base version, the published rowsets (the source of truth)
//! rowsets/         published rowset files, named <start>_<end>_<origin>.rowset
//! pending/txn_<id> a load's rowset, written chunk by chunk, sealed, waiting for its publish
//! clone_tmp/       files being received by a clone (never referenced)
//! snapshot_<n>/    hard links to the rowsets a FetchTablet stream is sending (never referenced)
//! ```
//!
//! BACKUP's snapshots live apart, under `<storage_root>/snapshot/` (see [`snapshot`]), but are
//! the store's: they are hard links to its rowset files, taken under the tablet's read lock that
//! compaction, publish and clone respect, so they live in this room with those.
//! RESTORE creates tablets pending its rowsets ([`TabletMeta::restore_pending`]), installed later by
//! [`TabletStore::move_restored`] (see [`super::restore`]).
//!
//! Crash-safety argument. `meta.json` is only ever replaced whole (`write_file_atomic`: temporary
//! file, sync, rename, sync of the directory), and it only names rowset files that are sealed and
//! whose names are durable (synced file, synced `rowsets/`) before the meta is written. So after a
//! crash the meta is the old or the new one, and every file it names is complete. Every other file
//! is garbage that [`TabletStore::open`] removes: rowset files no meta names (a publish, compaction
//! or clone that crashed before its meta), pending files that are not sealed or whose txn is already
//! published, `clone_tmp/`, snapshots, and tablet directories without a meta (a create that crashed,
//! or a drop, which removes the meta first). Sealed pending files are kept: the FE may still publish
//! them. Old rowset files are removed only after the meta that stops naming them is durable.
//!
//! Concurrency. Each tablet's state sits behind a tokio `RwLock`: scans, fetches and compaction
//! reads share it; publish, compaction's install, clone's install and drop take it exclusively, so
//! they never race. Loads append to pending files under a per-(txn, tablet) lock and never touch the
//! meta. Creating, dropping and clone-creating tablets is serialized by one more lock. Lock order:
//! tablet set, then a tablet, then a pending rowset.

use std::cmp::Ordering as CmpOrdering;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, MutexGuard};

use serde::{Deserialize, Serialize};
use tokio::sync::{Mutex, RwLock, RwLockWriteGuard};

use super::rowset::{self, RowsetError, RowsetHeader, RowsetWriter};
use super::trash::{PutError, Trash};
use crate::disk::{self, Disk, DiskError};
use crate::row_codec;
use crate::rpc::proto;
use crate::schema::{self, Aggregation, ColumnType, KeysType, Row, Schema, Value};
use snapshot::SnapshotRegistry;

mod clone;
mod compaction;
mod merge;
mod meta;
pub mod snapshot;
mod write;

pub use clone::{ChunkSource, FetchSnapshot};
pub use compaction::{CompactionLimits, CompactionReport};
pub use merge::merge_rows;
pub(super) use meta::is_plain_file_name;
pub use meta::{RowsetMeta, TabletInfo, TabletMeta, validate_schema};

use write::{PendingEntry, PendingMap, PendingState};

/// The largest WriteRows chunk: the FE cuts chunks at about 1 MiB, plus one row of up to
/// [`schema::MAX_ROW_BYTES`].
pub const MAX_CHUNK_BYTES: usize = 16 << 20;
/// Loads writing at once (with a pending rowset not yet sealed on some tablet). A load counts
/// once however many tablets it writes: one load into 20 480 tablets is one load.
pub const MAX_OPEN_LOADS: usize = 1024;
/// Tablets one BE holds.
pub const MAX_TABLETS: usize = 100_000;
/// A load into a tablet with this many rowsets is refused until compaction catches up (Doris's
/// max_tablet_version_num).
pub const MAX_ROWSETS_PER_TABLET: usize = 2_000;
/// The largest FetchTablet chunk.
pub const FETCH_CHUNK_BYTES: u64 = 1 << 20;
/// Files one clone receives.
pub const MAX_CLONE_FILES: usize = 2 * MAX_ROWSETS_PER_TABLET;
/// Compaction writes its output in appends of about this size.
const MERGE_WRITE_CHUNK_BYTES: usize = 1 << 20;
/// Tablets one batch creates at once.
const CREATE_CONCURRENCY: usize = 32;
/// Tries at finding an unused rowset file name.
const FRESH_NAME_ATTEMPTS: u32 = 64;

const TABLETS_DIR: &str = "tablets";
const META_FILE: &str = "meta.json";
const ROWSETS_DIR: &str = "rowsets";
const PENDING_DIR: &str = "pending";
const CLONE_TMP_DIR: &str = "clone_tmp";
const SNAPSHOT_PREFIX: &str = "snapshot_";
const PENDING_PREFIX: &str = "txn_";
pub(super) const ROWSET_SUFFIX: &str = ".rowset";

/// What a tablet operation fails with; the BE maps each kind to a gRPC code.
#[derive(Debug, thiserror::Error)]
pub enum TabletError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    ResourceExhausted(String),
    /// A file on this BE's disk is not what it should be.
    #[error("{0}")]
    Damaged(String),
    /// Another BE (a clone's source) failed or misbehaved.
    #[error("{0}")]
    Unavailable(String),
    #[error("{context}: {source}")]
    Disk { context: String, source: DiskError },
}

impl From<RowsetError> for TabletError {
    fn from(e: RowsetError) -> Self {
        match e {
            RowsetError::Damaged { .. } => TabletError::Damaged(e.to_string()),
            RowsetError::Disk { source } => TabletError::Disk { context: "rowset file".into(), source },
        }
    }
}

pub(super) fn disk_error(context: impl Into<String>) -> impl FnOnce(DiskError) -> TabletError {
    let context = context.into();
    move |source| TabletError::Disk { context, source }
}

/// One tablet in memory.
pub(super) struct TabletHandle {
    pub(super) id: i64,
    pub(super) dir: PathBuf,
    pub(super) state: RwLock<TabletState>,
    /// Copies of the schema and info, so loads and heartbeats never wait behind a scan.
    cached: std::sync::Mutex<Cached>,
}

pub(super) struct TabletState {
    pub(super) meta: TabletMeta,
    /// Set once the tablet's meta is gone from disk; holders of an old handle then see it.
    dropped: bool,
}

#[derive(Clone)]
struct Cached {
    schema: Arc<Schema>,
    info: TabletInfo,
}

impl TabletHandle {
    fn new(dir: PathBuf, meta: TabletMeta) -> TabletHandle {
        let cached = Cached { schema: Arc::new(meta.schema.clone()), info: meta.info() };
        TabletHandle {
            id: meta.tablet_id,
            dir,
            state: RwLock::new(TabletState { meta, dropped: false }),
            cached: std::sync::Mutex::new(cached),
        }
    }

    fn cached(&self) -> Cached {
        locked(&self.cached).clone()
    }

    pub(super) fn rowsets_dir(&self) -> PathBuf {
        self.dir.join(ROWSETS_DIR)
    }

    pub(super) fn rowset_path(&self, name: &str) -> PathBuf {
        self.dir.join(ROWSETS_DIR).join(name)
    }

    pub(super) fn check_live(&self, state: &TabletState) -> Result<(), TabletError> {
        if state.dropped { Err(no_tablet(self.id)) } else { Ok(()) }
    }
}

fn no_tablet(tablet_id: i64) -> TabletError {
    TabletError::NotFound(format!("tablet {tablet_id} does not exist on this backend"))
}

fn locked<T>(mutex: &std::sync::Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// What one WriteRows chunk added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteSummary {
    pub rows_written: u64,
    pub bytes_written: u64,
}

/// A scan's result.
#[derive(Debug, Clone, PartialEq)]
pub struct Scanned {
    pub schema: Schema,
    pub rows: Vec<Row>,
}

pub struct TabletStore {
    pub(super) disk: Arc<dyn Disk>,
    /// `<storage_root>/tablets`.
    dir: PathBuf,
    tablets: std::sync::Mutex<BTreeMap<i64, Arc<TabletHandle>>>,
    /// Pending rowsets by (txn_id, tablet_id).
    pending: PendingMap,
    /// Open writers per load (txn id), for [`MAX_OPEN_LOADS`].
    open_loads: Arc<std::sync::Mutex<BTreeMap<i64, usize>>>,
    /// Serializes creating and dropping tablets (and a clone creating one).
    tablet_set: Mutex<()>,
    cloning: std::sync::Mutex<BTreeSet<i64>>,
    /// Suffix of the next compaction/clone file name or snapshot directory.
    next_name: AtomicU64,
    /// The last tablet compaction looked at: passes go round the tablets.
    compaction_cursor: AtomicI64,
    /// BACKUP's snapshots under `<storage_root>/snapshot/` (see [`snapshot`]).
    snapshots: SnapshotRegistry,
    /// Where dropped tablets wait for their expiry (see [`super::trash`]).
    pub(super) trash: Trash,
}

impl TabletStore {
    /// Loads every tablet under `<storage_root>/tablets` and removes the garbage a crash can leave
    /// (see the module doc). Fails if a meta is damaged: that needs an operator.
    pub async fn open(disk: Arc<dyn Disk>, storage_root: &Path) -> Result<TabletStore, TabletError> {
        let dir = storage_root.join(TABLETS_DIR);
        disk::create_dir_all_durable(disk.as_ref(), &dir)
            .await
            .map_err(disk_error(format!("creating {}", dir.display())))?;
        let trash = Trash::open(disk.clone(), storage_root).await.map_err(disk_error("opening the trash"))?;
        let store = TabletStore {
            disk,
            dir,
            tablets: std::sync::Mutex::new(BTreeMap::new()),
            pending: std::sync::Mutex::new(BTreeMap::new()),
            open_loads: Arc::new(std::sync::Mutex::new(BTreeMap::new())),
            tablet_set: Mutex::new(()),
            cloning: std::sync::Mutex::new(BTreeSet::new()),
            next_name: AtomicU64::new(0),
            compaction_cursor: AtomicI64::new(i64::MIN),
            snapshots: SnapshotRegistry::new(storage_root),
            trash,
        };
        let entries = store.disk.read_dir(&store.dir).await.map_err(disk_error("listing the tablets"))?;
        if entries.len() > MAX_TABLETS {
            return Err(TabletError::ResourceExhausted(format!(
                "{} holds {} entries, more than the {MAX_TABLETS} tablets a backend holds",
                store.dir.display(),
                entries.len()
            )));
        }
        let mut highest_suffix = 0;
        for entry in entries {
            let path = store.dir.join(&entry.name);
            let id = match entry.name.parse::<i64>() {
                Ok(id) if entry.is_dir && id.to_string() == entry.name => id,
                _ => {
                    tracing::warn!(path = %path.display(), "be: ignoring an unknown entry among the tablets");
                    continue;
                }
            };
            let Some(meta) = store.load_meta(id).await? else {
                tracing::info!(
                    tablet_id = id,
                    "be: a tablet directory without a meta (a create was cut) goes to the trash"
                );
                store
                    .trash
                    .put(&path, id, 0)
                    .await
                    .map_err(|e| disk_error("moving a stray tablet directory away")(e.into_disk_error()))?;
                continue;
            };
            store.clean_tablet_dir(&meta).await?;
            for r in &meta.rowsets {
                highest_suffix = highest_suffix.max(name_suffix(&r.file_name).unwrap_or(0));
            }
            locked(&store.tablets).insert(id, Arc::new(TabletHandle::new(path, meta)));
        }
        store.next_name.store(highest_suffix + 1, Ordering::Relaxed);
        store.open_snapshots().await?;
        let (tablets, pending) = (locked(&store.tablets).len(), locked(&store.pending).len());
        tracing::info!(tablets, pending, "be: tablets opened");
        Ok(store)
    }

    fn tablet_dir(&self, tablet_id: i64) -> PathBuf {
        self.dir.join(tablet_id.to_string())
    }

    pub(super) fn handle(&self, tablet_id: i64) -> Result<Arc<TabletHandle>, TabletError> {
        locked(&self.tablets).get(&tablet_id).cloned().ok_or_else(|| no_tablet(tablet_id))
    }

    async fn load_meta(&self, tablet_id: i64) -> Result<Option<TabletMeta>, TabletError> {
        let path = self.tablet_dir(tablet_id).join(META_FILE);
        let bytes = match self.disk.read_all(&path).await {
            Ok(bytes) => bytes,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(disk_error(format!("reading {}", path.display()))(e)),
        };
        let damaged = |detail: String| {
            TabletError::Damaged(format!(
                "tablet meta {} is damaged: {detail}; move the tablet's directory away to start without it (the FE \
                 repairs the replica from another backend)",
                path.display()
            ))
        };
        let meta: TabletMeta = serde_json::from_slice(&bytes).map_err(|e| damaged(e.to_string()))?;
        if meta.tablet_id != tablet_id {
            return Err(damaged(format!("it names tablet {}", meta.tablet_id)));
        }
        meta.validate().map_err(damaged)?;
        Ok(Some(meta))
    }

    /// Removes what a crash left in a tablet's directory and registers its sealed pending rowsets.
    async fn clean_tablet_dir(&self, meta: &TabletMeta) -> Result<(), TabletError> {
        let disk = self.disk.as_ref();
        let dir = self.tablet_dir(meta.tablet_id);
        let list = |path: PathBuf| async move {
            disk.read_dir(&path).await.map_err(disk_error(format!("listing {}", path.display())))
        };
        for entry in list(dir.clone()).await? {
            if ![META_FILE, ROWSETS_DIR, PENDING_DIR].contains(&entry.name.as_str()) {
                remove_if_exists(disk, &dir.join(&entry.name), entry.is_dir).await;
            }
        }
        // Opening thousands of tablets must not sync every ancestor of each: only a missing
        // directory is made, and only then is its parent synced.
        for sub in [ROWSETS_DIR, PENDING_DIR] {
            let path = dir.join(sub);
            if disk.metadata(&path).await.map_err(disk_error("opening a tablet directory"))?.is_none() {
                disk.create_dir_all(&path).await.map_err(disk_error("creating a tablet directory"))?;
                disk.sync_dir(&dir).await.map_err(disk_error("creating a tablet directory"))?;
            }
        }
        let rowsets_dir = dir.join(ROWSETS_DIR);
        let referenced: BTreeSet<&str> = meta.rowsets.iter().map(|r| r.file_name.as_str()).collect();
        let mut present = BTreeSet::new();
        for entry in list(rowsets_dir.clone()).await? {
            if referenced.contains(entry.name.as_str()) && !entry.is_dir {
                present.insert(entry.name);
            } else {
                tracing::info!(tablet_id = meta.tablet_id, file = %entry.name, "be: removing an unreferenced rowset file");
                remove_if_exists(disk, &rowsets_dir.join(&entry.name), entry.is_dir).await;
            }
        }
        for name in referenced.iter().filter(|name| !present.contains(**name)) {
            tracing::error!(tablet_id = meta.tablet_id, file = name, "be: a published rowset file is missing");
        }
        let published: BTreeSet<i64> = meta.rowsets.iter().filter_map(|r| r.txn_id).collect();
        let pending_dir = dir.join(PENDING_DIR);
        for entry in list(pending_dir.clone()).await? {
            let path = pending_dir.join(&entry.name);
            let txn_id = entry.name.strip_prefix(PENDING_PREFIX).and_then(|id| id.parse::<i64>().ok());
            let Some(txn_id) = txn_id.filter(|_| !entry.is_dir) else {
                remove_if_exists(disk, &path, entry.is_dir).await;
                continue;
            };
            if published.contains(&txn_id) {
                remove_if_exists(disk, &path, false).await;
                continue;
            }
            match rowset::verify_rowset(disk, &path, Some(&meta.schema)).await {
                Ok(summary) if summary.header == RowsetHeader { tablet_id: meta.tablet_id, txn_id } => {
                    let state = PendingState::Sealed {
                        last: None,
                        row_count: summary.row_count,
                        size_bytes: summary.size_bytes,
                        md5: summary.md5,
                    };
                    let entry = Arc::new(Mutex::new(PendingEntry { path, state }));
                    locked(&self.pending).insert((txn_id, meta.tablet_id), entry);
                }
                Ok(_) | Err(RowsetError::Damaged { .. }) => {
                    tracing::info!(tablet_id = meta.tablet_id, txn_id, "be: removing an unsealed pending rowset");
                    remove_if_exists(disk, &path, false).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    pub(super) async fn write_meta(&self, meta: &TabletMeta) -> Result<(), TabletError> {
        debug_assert!(meta.validate().is_ok(), "writing an invalid tablet meta: {meta:?}");
        // Compact, not pretty: the meta is written again at every publish.
        let bytes = serde_json::to_vec(meta).map_err(|e| {
            TabletError::InvalidArgument(format!("cannot encode the meta of tablet {}: {e}", meta.tablet_id))
        })?;
        let path = self.tablet_dir(meta.tablet_id).join(META_FILE);
        disk::write_file_atomic(self.disk.as_ref(), &path, &bytes)
            .await
            .map_err(disk_error(format!("publishing the meta of tablet {}", meta.tablet_id)))
    }

    /// Makes `meta` (already durable) the tablet's state in memory.
    pub(super) fn install(handle: &TabletHandle, state: &mut TabletState, meta: TabletMeta) {
        *locked(&handle.cached) = Cached { schema: Arc::new(meta.schema.clone()), info: meta.info() };
        state.meta = meta;
    }

    /// A rowset file name in the tablet's `rowsets/` that nothing uses.
    pub(super) async fn fresh_rowset_name(
        &self,
        dir: &Path,
        start: u64,
        end: u64,
        origin: char,
    ) -> Result<String, TabletError> {
        for _ in 0..FRESH_NAME_ATTEMPTS {
            let n = self.next_name.fetch_add(1, Ordering::Relaxed);
            let name = format!("{start}_{end}_{origin}{n}{ROWSET_SUFFIX}");
            let path = dir.join(ROWSETS_DIR).join(&name);
            if self.disk.metadata(&path).await.map_err(disk_error("naming a rowset file"))?.is_none() {
                return Ok(name);
            }
        }
        Err(TabletError::FailedPrecondition(format!("no free rowset file name in {}", dir.display())))
    }

    // ---------- tablets ----------

    /// Creates a tablet empty at `version`. Idempotent: an existing tablet with the same schema is fine.
    pub async fn create_tablet(&self, tablet_id: i64, schema: Schema, version: u64) -> Result<(), TabletError> {
        self.create_many(&[tablet_id], schema, version, None).await.pop().expect("one result per tablet")
    }

    /// Creates many tablets of one schema, each empty at `version`, as [`TabletStore::create_tablet`]
    /// does: one result per id, in order. The directory of all of them is synced once.
    pub async fn create_tablets(
        &self,
        tablet_ids: &[i64],
        schema: Schema,
        version: u64,
    ) -> Vec<Result<(), TabletError>> {
        self.create_many(tablet_ids, schema, version, None).await
    }

    /// Creates a tablet empty at `version` that waits for the rowsets up to `version` of restore
    /// job `job_id` ([`TabletMeta::restore_pending`]). Idempotent for the job: a tablet this job
    /// created, pending or already restored, is left as it is (a late or repeated create never
    /// undoes a restore).
    pub async fn create_restore_tablet(
        &self,
        tablet_id: i64,
        schema: Schema,
        version: u64,
        job_id: i64,
    ) -> Result<(), TabletError> {
        self.create_restore_tablets(&[tablet_id], schema, version, job_id).await.pop().expect("one result per tablet")
    }

    /// [`TabletStore::create_restore_tablet`] for many tablets of one schema: one result per id,
    /// in order; the directory of all of them is synced once.
    pub async fn create_restore_tablets(
        &self,
        tablet_ids: &[i64],
        schema: Schema,
        version: u64,
        job_id: i64,
    ) -> Vec<Result<(), TabletError>> {
        let mut results: Vec<Option<Result<(), TabletError>>> = Vec::with_capacity(tablet_ids.len());
        let (mut todo, mut todo_at) = (Vec::new(), Vec::new());
        for (i, &tablet_id) in tablet_ids.iter().enumerate() {
            results.push(None);
            // The FE journals a restore's tablet ids before it creates them, so a tablet of such
            // an id that another job (or no job) made is something a crash left under an id that
            // was never journaled (a CREATE TABLE cut before its record): garbage, replaced here.
            if let Ok(handle) = self.handle(tablet_id) {
                let owner = handle.state.read().await.meta.restore_job_id;
                if owner == Some(job_id) {
                    results[i] = Some(Ok(()));
                    continue;
                }
                tracing::warn!(
                    tablet_id,
                    job_id,
                    ?owner,
                    "be: replacing a stale tablet under the id of a restored one"
                );
                if let Err(e) = self.drop_tablet(tablet_id).await {
                    results[i] = Some(Err(e));
                    continue;
                }
            }
            todo.push(tablet_id);
            todo_at.push(i);
        }
        let made = self.create_many(&todo, schema, version, Some(job_id)).await;
        assert_eq!(made.len(), todo_at.len(), "one result per tablet created");
        for (i, outcome) in todo_at.into_iter().zip(made) {
            results[i] = Some(outcome);
        }
        results.into_iter().map(|r| r.expect("every tablet has a result")).collect()
    }

    async fn create_many(
        &self,
        tablet_ids: &[i64],
        schema: Schema,
        version: u64,
        restore_job_id: Option<i64>,
    ) -> Vec<Result<(), TabletError>> {
        use futures_util::StreamExt;
        if let Err(e) = validate_schema(&schema) {
            return tablet_ids
                .iter()
                .map(|id| Err(TabletError::InvalidArgument(format!("tablet {id}: {e}"))))
                .collect();
        }
        let _set = self.tablet_set.lock().await;
        let mut results: Vec<Option<Result<(), TabletError>>> = Vec::with_capacity(tablet_ids.len());
        let mut todo = Vec::new();
        let mut seen = BTreeSet::new();
        for (i, &tablet_id) in tablet_ids.iter().enumerate() {
            results.push(None);
            if !seen.insert(tablet_id) {
                results[i] = Some(Err(TabletError::InvalidArgument(format!("tablet {tablet_id} is asked for twice"))));
                continue;
            }
            match self.handle(tablet_id) {
                Ok(handle) => {
                    results[i] = Some(if handle.state.read().await.meta.schema == schema {
                        Ok(())
                    } else {
                        Err(TabletError::FailedPrecondition(format!(
                            "tablet {tablet_id} already exists with a different schema"
                        )))
                    });
                }
                Err(_) => todo.push((i, tablet_id)),
            }
        }
        let held = locked(&self.tablets).len();
        if held + todo.len() > MAX_TABLETS {
            for (i, _) in todo {
                results[i] = Some(Err(TabletError::ResourceExhausted(format!(
                    "this backend holds {held} tablets; the {} more asked for would pass the {MAX_TABLETS} it may hold",
                    tablet_ids.len()
                ))));
            }
            return results.into_iter().map(|r| r.expect("every tablet has a result")).collect();
        }
        let schema = &schema;
        let made: Vec<(usize, Result<Arc<TabletHandle>, TabletError>)> = futures_util::stream::iter(todo)
            .map(|(i, tablet_id)| async move {
                (i, self.create_dir_and_meta(tablet_id, schema.clone(), version, restore_job_id).await)
            })
            .buffer_unordered(CREATE_CONCURRENCY)
            .collect()
            .await;
        // One sync makes every new tablet directory's name durable.
        let synced = self.disk.sync_dir(&self.dir).await;
        for (i, outcome) in made {
            results[i] = Some(match (outcome, &synced) {
                (Ok(handle), Ok(())) => {
                    tracing::info!(
                        tablet_id = handle.id,
                        version,
                        restore_pending = restore_job_id.is_some(),
                        "be: tablet created"
                    );
                    locked(&self.tablets).insert(handle.id, handle);
                    Ok(())
                }
                (Ok(handle), Err(e)) => {
                    remove_if_exists(self.disk.as_ref(), &handle.dir, true).await;
                    Err(disk_error(format!("creating tablet {}", handle.id))(e.clone()))
                }
                (Err(e), _) => Err(e),
            });
        }
        results.into_iter().map(|r| r.expect("every tablet has a result")).collect()
    }

    /// One new tablet's directory and meta, durable but for its name in `tablets/` (the caller
    /// syncs that). The caller holds the tablet set. On failure nothing is left behind.
    async fn create_dir_and_meta(
        &self,
        tablet_id: i64,
        schema: Schema,
        version: u64,
        restore_job_id: Option<i64>,
    ) -> Result<Arc<TabletHandle>, TabletError> {
        let dir = self.tablet_dir(tablet_id);
        let disk = self.disk.as_ref();
        // Leftovers that are not a tablet (no meta in memory) go to the trash, never deleted.
        if disk.metadata(&dir).await.map_err(disk_error(format!("creating tablet {tablet_id}")))?.is_some() {
            self.trash
                .put(&dir, tablet_id, 0)
                .await
                .map_err(|e| disk_error(format!("creating tablet {tablet_id}"))(e.into_disk_error()))?;
        }
        let meta = TabletMeta {
            tablet_id,
            schema,
            base_version: version,
            rowsets: Vec::new(),
            restore_pending: restore_job_id.is_some(),
            restore_job_id,
        };
        let made = async {
            for sub in [ROWSETS_DIR, PENDING_DIR] {
                disk.create_dir_all(&dir.join(sub))
                    .await
                    .map_err(disk_error(format!("creating tablet {tablet_id}")))?;
            }
            // The meta's atomic write syncs the tablet's directory, so rowsets/ and pending/ are
            // durable with it.
            self.write_meta(&meta).await
        }
        .await;
        if let Err(e) = made {
            remove_if_exists(disk, &dir, true).await;
            return Err(e);
        }
        Ok(Arc::new(TabletHandle::new(dir, meta)))
    }

    /// Drops a tablet: its directory goes to the trash whole (see [`super::trash`]). Idempotent.
    pub async fn drop_tablet(&self, tablet_id: i64) -> Result<(), TabletError> {
        let _set = self.tablet_set.lock().await;
        let Ok(handle) = self.handle(tablet_id) else {
            return Ok(());
        };
        let mut state = handle.state.write().await;
        let size_bytes = state.meta.info().data_size_bytes;
        // One rename: after it the tablet is gone from tablets/, whatever a crash does next. So
        // once the rename happened the tablet is gone from memory too, even if a sync after it
        // failed (a crash may then bring the directory back: a tablet again, which the FE drops
        // again). A handle kept would name a directory that is not there: every later drop, and
        // every restore replacing the tablet, would fail on it with NotFound until a restart.
        let not_durable = match self.trash.put(&handle.dir, tablet_id, size_bytes).await {
            Ok(_) => None,
            Err(PutError::NotMoved(e)) => return Err(disk_error(format!("dropping tablet {tablet_id}"))(e)),
            Err(e) => Some(e),
        };
        state.dropped = true;
        locked(&self.tablets).remove(&tablet_id);
        // Its pending rowsets went with it: forget them (their files are in the trash).
        let keys: Vec<(i64, i64)> = locked(&self.pending).keys().filter(|(_, t)| *t == tablet_id).copied().collect();
        for (txn_id, _) in keys {
            self.forget_pending(txn_id, tablet_id).await?;
        }
        if let Some(e) = not_durable {
            tracing::warn!(tablet_id, error = %e, "be: tablet dropped, not durably yet (a crash may bring it back)");
            return Err(disk_error(format!("dropping tablet {tablet_id}"))(e.into_disk_error()));
        }
        tracing::info!(tablet_id, "be: tablet dropped");
        Ok(())
    }

    /// Moves to the trash every directory under `tablets/` that is not a tablet nor being cloned
    /// (a create cut half way leaves one without a meta). Returns how many.
    pub async fn sweep_stray_dirs(&self) -> usize {
        let _set = self.tablet_set.lock().await;
        let Ok(entries) = self.disk.read_dir(&self.dir).await else { return 0 };
        let mut moved = 0;
        for entry in entries {
            let Ok(id) = entry.name.parse::<i64>() else { continue };
            // A clone makes its tablet's directory before the tablet exists (it installs it
            // under the tablet set, which this holds, so a clone cannot finish meanwhile).
            let cloning = locked(&self.cloning).contains(&id);
            if !entry.is_dir || id.to_string() != entry.name || self.handle(id).is_ok() || cloning {
                continue;
            }
            let path = self.dir.join(&entry.name);
            match self.trash.put(&path, id, 0).await {
                Ok(_) => moved += 1,
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "be: cannot move a stray tablet directory")
                }
            }
        }
        moved
    }
    /// Every tablet's version and size, by tablet id.
    pub fn tablet_infos(&self) -> Vec<TabletInfo> {
        let handles: Vec<Arc<TabletHandle>> = locked(&self.tablets).values().cloned().collect();
        handles.iter().map(|h| h.cached().info).collect()
    }

    pub fn tablet_count(&self) -> usize {
        locked(&self.tablets).len()
    }

    /// The tablet's durable meta (a copy).
    pub async fn tablet_meta(&self, tablet_id: i64) -> Result<TabletMeta, TabletError> {
        let handle = self.handle(tablet_id)?;
        let state = handle.state.read().await;
        handle.check_live(&state)?;
        Ok(state.meta.clone())
    }

    // ---------- reads ----------

    /// The tablet's rows at `version`, merged as its keys type says, with the schema they follow.
    pub async fn scan(&self, tablet_id: i64, version: u64) -> Result<Scanned, TabletError> {
        let handle = self.handle(tablet_id)?;
        let (schema, files) = {
            let state = handle.state.read().await;
            handle.check_live(&state)?;
            check_not_restoring(&state.meta)?;
            let rowsets = state.meta.rowsets_at(version)?;
            (state.meta.schema.clone(), self.read_rowsets(&handle, &rowsets).await?)
        };
        let mut decoded = Vec::with_capacity(files.len());
        for file in files {
            decoded.push(file.rows(&schema)?);
        }
        let rows = merge_rows(&schema, decoded);
        Ok(Scanned { schema, rows })
    }

    /// Reads and checks the files of `rowsets` (the caller holds the tablet's lock).
    async fn read_rowsets(
        &self,
        handle: &TabletHandle,
        rowsets: &[RowsetMeta],
    ) -> Result<Vec<rowset::RowsetFile>, TabletError> {
        let mut files = Vec::with_capacity(rowsets.len());
        for r in rowsets {
            let file = rowset::read_rowset(self.disk.as_ref(), &handle.rowset_path(&r.file_name)).await?;
            if file.header.tablet_id != handle.id {
                return Err(TabletError::Damaged(format!(
                    "rowset file {} belongs to tablet {}, not {}",
                    file.path.display(),
                    file.header.tablet_id,
                    handle.id
                )));
            }
            files.push(file);
        }
        Ok(files)
    }
}

/// Origin letters of the rowset file names [`TabletStore::fresh_rowset_name`] makes: compaction,
/// clone, restore.
pub(super) const ORIGIN_COMPACTION: char = 'c';
pub(super) const ORIGIN_CLONE: char = 'k';
pub(super) const ORIGIN_RESTORE: char = 'r';

/// The number after the origin letter of a compaction, clone or restore file name (`2_9_c17.rowset`).
fn name_suffix(file_name: &str) -> Option<u64> {
    let stem = file_name.strip_suffix(ROWSET_SUFFIX)?;
    let last = stem.rsplit('_').next()?;
    let digits = [ORIGIN_COMPACTION, ORIGIN_CLONE, ORIGIN_RESTORE].iter().find_map(|o| last.strip_prefix(*o))?;
    digits.parse().ok()
}

/// Refuses reads of a tablet whose restored rowsets are not installed yet.
fn check_not_restoring(meta: &TabletMeta) -> Result<(), TabletError> {
    if meta.restore_pending {
        return Err(TabletError::FailedPrecondition(format!(
            "tablet {} is being restored and can be read once the restore commits",
            meta.tablet_id
        )));
    }
    Ok(())
}

fn out_of_order(txn_id: i64, tablet_id: i64, seq: u32, expected: Option<u32>) -> TabletError {
    let state = match expected {
        Some(next) => format!("chunk {next} was expected"),
        None => "this backend has no open writer for it".into(),
    };
    TabletError::FailedPrecondition(format!(
        "chunk {seq} of txn {txn_id} for tablet {tablet_id} arrived but {state}: load restarted or out of order; \
         the FE will retry or repair this replica"
    ))
}

fn remove_pending_entry(pending: &PendingMap, key: (i64, i64), entry: &Arc<Mutex<PendingEntry>>) {
    let mut map = locked(pending);
    if map.get(&key).is_some_and(|current| Arc::ptr_eq(current, entry)) {
        map.remove(&key);
    }
}

/// Removes a file or directory tree if it is there. Failures are logged, not returned: every
/// caller removes garbage that the next `open` removes anyway.
pub(super) async fn remove_if_exists(disk: &dyn Disk, path: &Path, is_dir: bool) {
    let result = if is_dir { disk.remove_dir_all(path).await } else { disk.remove_file(path).await };
    match result {
        Ok(()) => {}
        Err(e) if e.is_not_found() => {}
        Err(e) => tracing::warn!(path = %path.display(), error = %e, "be: cannot remove garbage"),
    }
}

#[cfg(test)]
mod tests;
