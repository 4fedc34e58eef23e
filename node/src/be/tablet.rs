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
//! BACKUP's snapshots live apart, under `<storage_root>/snapshot/` (see [`super::snapshot`]).
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
use super::snapshot::SnapshotRegistry;
use super::trash::Trash;
use crate::disk::{self, Disk, DiskError};
use crate::row_codec;
use crate::rpc::proto;
use crate::schema::{self, Aggregation, ColumnType, KeysType, Row, Schema, Value};

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

/// A tablet's durable state: `meta.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TabletMeta {
    pub tablet_id: i64,
    pub schema: Schema,
    /// The version the tablet was created at, holding no rows ("empty at version 1").
    pub base_version: u64,
    /// Sorted by version, never overlapping, all above `base_version`; there may be gaps (a replica
    /// can publish v+2 before v+1).
    pub rowsets: Vec<RowsetMeta>,
    /// The rowsets up to `base_version` are still to come from a restore (RESTORE created the
    /// tablet empty at the backed-up version; [`TabletStore::move_restored`] installs them). Until
    /// then the tablet refuses scans and fetches; loads (above `base_version`) are taken.
    #[serde(default)]
    pub restore_pending: bool,
    /// The restore job that created the tablet (kept once its rowsets are in), so a late or
    /// repeated create of that job never replaces what the job already restored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_job_id: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowsetMeta {
    pub file_name: String,
    pub start_version: u64,
    pub end_version: u64,
    pub row_count: u64,
    pub size_bytes: u64,
    /// The load that wrote it (`None` for a compaction's output).
    #[serde(default)]
    pub txn_id: Option<i64>,
    /// The MD5 of the file, hashed as it was written (absent for files this BE did not write
    /// whole, e.g. a pending rowset recovered at open): a backup names the file by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub md5: Option<String>,
}

/// What the FE learns about a tablet at every heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TabletInfo {
    pub tablet_id: i64,
    pub version: u64,
    pub version_count: u64,
    pub row_count: u64,
    pub data_size_bytes: u64,
    /// Waiting for a restore's rowsets ([`TabletMeta::restore_pending`]).
    pub restore_pending: bool,
}

impl TabletMeta {
    /// The highest version v such that the rowsets cover base_version+1..=v without a gap.
    pub fn version(&self) -> u64 {
        let mut version = self.base_version;
        for r in &self.rowsets {
            if r.start_version > version + 1 {
                break;
            }
            version = version.max(r.end_version);
        }
        version
    }

    pub fn info(&self) -> TabletInfo {
        TabletInfo {
            tablet_id: self.tablet_id,
            version: self.version(),
            version_count: self.rowsets.len() as u64,
            row_count: self.rowsets.iter().map(|r| r.row_count).sum(),
            data_size_bytes: self.rowsets.iter().map(|r| r.size_bytes).sum(),
            restore_pending: self.restore_pending,
        }
    }

    fn covering(&self, version: u64) -> Option<&RowsetMeta> {
        self.rowsets.iter().find(|r| r.start_version <= version && version <= r.end_version)
    }

    fn insert_rowset(&mut self, rowset: RowsetMeta) {
        let at = self.rowsets.partition_point(|r| r.start_version < rowset.start_version);
        self.rowsets.insert(at, rowset);
    }

    /// The rowsets a read at `version` merges, oldest first.
    fn rowsets_at(&self, version: u64) -> Result<Vec<RowsetMeta>, TabletError> {
        let current = self.version();
        if version > current {
            return Err(TabletError::FailedPrecondition(format!(
                "tablet {} is at version {current}, behind the requested {version}",
                self.tablet_id
            )));
        }
        let mut out = Vec::new();
        for r in &self.rowsets {
            if r.end_version <= version {
                out.push(r.clone());
            } else if r.start_version <= version {
                return Err(TabletError::FailedPrecondition(format!(
                    "tablet {}: compaction merged versions {}..={} into one rowset, so version {version} can no \
                     longer be read; read at version {} or later",
                    self.tablet_id, r.start_version, r.end_version, r.end_version
                )));
            } else {
                break;
            }
        }
        Ok(out)
    }

    pub(super) fn validate(&self) -> Result<(), String> {
        validate_schema(&self.schema)?;
        let mut previous_end = self.base_version;
        let mut names = BTreeSet::new();
        for r in &self.rowsets {
            if r.start_version > r.end_version || r.start_version <= previous_end {
                return Err(format!(
                    "rowset {} covers versions {}..={}, which is empty, overlaps another rowset or is not above \
                     the base version {}",
                    r.file_name, r.start_version, r.end_version, self.base_version
                ));
            }
            if !is_plain_file_name(&r.file_name) || !names.insert(r.file_name.as_str()) {
                return Err(format!("rowset file name {:?} is not a plain, unique file name", r.file_name));
            }
            previous_end = r.end_version;
        }
        Ok(())
    }
}

/// A name that is one file in one directory: no separator, no `..`, not hidden, at most 255 bytes.
pub(super) fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && !name.starts_with('.')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// Checks that a schema is one the BE can store and merge.
pub fn validate_schema(schema: &Schema) -> Result<(), String> {
    if schema.columns.is_empty() || schema.columns.len() > schema::MAX_COLUMNS {
        return Err(format!("a tablet has from 1 to {} columns, not {}", schema::MAX_COLUMNS, schema.columns.len()));
    }
    let keys = schema.columns.iter().take_while(|c| c.is_key).count();
    if schema.columns[keys..].iter().any(|c| c.is_key) {
        return Err("key columns must come before value columns".into());
    }
    if keys == 0 && schema.keys_type != KeysType::Duplicate {
        return Err(format!("a {} KEY table needs at least one key column", schema.keys_type));
    }
    for c in &schema.columns {
        let bad_type = match c.ty {
            ColumnType::Char { len } => !(1..=schema::MAX_CHAR_LEN).contains(&len),
            ColumnType::Varchar { len } => !(1..=schema::MAX_VARCHAR_LEN).contains(&len),
            ColumnType::Decimal { precision, scale } => {
                precision == 0 || precision > schema::MAX_DECIMAL_PRECISION || scale > precision
            }
            _ => false,
        };
        if bad_type {
            return Err(format!("column {} has an invalid type {}", c.name, c.ty));
        }
        if schema.keys_type == KeysType::Aggregate
            && !c.is_key
            && c.aggregation == Some(Aggregation::Sum)
            && !c.ty.is_numeric()
        {
            return Err(format!("column {}: SUM needs a numeric type, not {}", c.name, c.ty));
        }
    }
    Ok(())
}

/// A key for merging: the key columns, ordered with [`Value::total_cmp`].
struct MergeKey(Vec<Value>);

impl Ord for MergeKey {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        for (a, b) in self.0.iter().zip(&other.0) {
            match a.total_cmp(b) {
                CmpOrdering::Equal => {}
                unequal => return unequal,
            }
        }
        self.0.len().cmp(&other.0.len())
    }
}

impl PartialOrd for MergeKey {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for MergeKey {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == CmpOrdering::Equal
    }
}

impl Eq for MergeKey {}

/// Merges the rows of consecutive rowsets (oldest first, each in file order) as the keys type says:
/// DUPLICATE keeps every row in that order; UNIQUE keeps the newest row per key; AGGREGATE combines
/// each value column with its aggregation (none means REPLACE). UNIQUE and AGGREGATE come out
/// sorted by key. `schema` must be valid ([`validate_schema`]) and the rows decoded with it.
pub fn merge_rows(schema: &Schema, rowsets: Vec<Vec<Row>>) -> Vec<Row> {
    if schema.keys_type == KeysType::Duplicate {
        return rowsets.into_iter().flatten().collect();
    }
    let keys = schema.key_count();
    let mut merged: BTreeMap<MergeKey, Row> = BTreeMap::new();
    for row in rowsets.into_iter().flatten() {
        debug_assert_eq!(row.len(), schema.columns.len());
        match merged.entry(MergeKey(row[..keys].to_vec())) {
            std::collections::btree_map::Entry::Vacant(slot) => {
                slot.insert(row);
            }
            std::collections::btree_map::Entry::Occupied(mut slot) => {
                let old = slot.get_mut();
                if schema.keys_type == KeysType::Unique {
                    *old = row;
                } else {
                    for (i, value) in row.into_iter().enumerate().skip(keys) {
                        let column = &schema.columns[i];
                        aggregate(column.aggregation.unwrap_or(Aggregation::Replace), column.ty, &mut old[i], value);
                    }
                }
            }
        }
    }
    merged.into_values().collect()
}

/// Folds `new` (the newer value) into `old`. SUM, MIN and MAX ignore NULL; REPLACE takes NULL too.
fn aggregate(aggregation: Aggregation, ty: ColumnType, old: &mut Value, new: Value) {
    if aggregation == Aggregation::Replace || old.is_null() {
        if aggregation == Aggregation::Replace || !new.is_null() {
            *old = new;
        }
        return;
    }
    if new.is_null() {
        return;
    }
    match aggregation {
        Aggregation::Sum => match (&mut *old, new) {
            (Value::Int(a), Value::Int(b)) => *a = wrap_to_type(a.wrapping_add(b), ty),
            (Value::Float(a), Value::Float(b)) => *a += b,
            (Value::Decimal(a, _), Value::Decimal(b, _)) => *a = a.wrapping_add(b),
            // One column holds one kind of value; anything else keeps the newer one.
            (old, new) => *old = new,
        },
        Aggregation::Min => {
            if new.total_cmp(old) == CmpOrdering::Less {
                *old = new;
            }
        }
        Aggregation::Max => {
            if new.total_cmp(old) == CmpOrdering::Greater {
                *old = new;
            }
        }
        Aggregation::Replace => *old = new,
    }
}

/// An integer sum wrapped into the column's width (two's complement), as a fixed-width engine does.
fn wrap_to_type(v: i128, ty: ColumnType) -> i128 {
    match ty {
        ColumnType::TinyInt => i128::from(v as i8),
        ColumnType::SmallInt => i128::from(v as i16),
        ColumnType::Int => i128::from(v as i32),
        ColumnType::BigInt => i128::from(v as i64),
        _ => v,
    }
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

/// Identifies one chunk, to recognise a retry of the chunk just written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ChunkMark {
    seq: u32,
    len_bytes: usize,
    crc: u32,
    row_count: u64,
}

/// One load's pending rowset on one tablet. The entry exists while its file may exist.
struct PendingEntry {
    path: PathBuf,
    state: PendingState,
}

enum PendingState {
    /// Chunks are being appended; holds one of the open-writer slots.
    Writing { writer: RowsetWriter, next_seq: u32, last: Option<ChunkMark>, _slot: WriterSlot },
    /// Sealed and synced, waiting for its publish.
    Sealed { last: Option<ChunkMark>, row_count: u64, size_bytes: u64, md5: Option<String> },
    /// A write failed or none started: whatever file there is is garbage until chunk 0 restarts it.
    Broken,
    /// Published, aborted or dropped; the entry is out of the map.
    Removed,
}

impl PendingState {
    fn last_mark(&self) -> Option<ChunkMark> {
        match self {
            PendingState::Writing { last, .. } | PendingState::Sealed { last, .. } => *last,
            _ => None,
        }
    }
}

/// Pending rowsets by (txn_id, tablet_id).
type PendingMap = std::sync::Mutex<BTreeMap<(i64, i64), Arc<Mutex<PendingEntry>>>>;

/// A held open-writer slot, released when dropped.
/// One open writer of a load: the load holds a place in [`MAX_OPEN_LOADS`] while it has one.
struct WriterSlot {
    loads: Arc<std::sync::Mutex<BTreeMap<i64, usize>>>,
    txn_id: i64,
}

impl Drop for WriterSlot {
    fn drop(&mut self) {
        let mut loads = locked(&self.loads);
        let writers = loads.get_mut(&self.txn_id).expect("a slot's load is counted");
        *writers -= 1;
        if *writers == 0 {
            loads.remove(&self.txn_id);
        }
    }
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

/// Bounds on one compaction pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompactionLimits {
    /// A tablet is compacted when it has more rowsets than this.
    pub min_rowsets: usize,
    /// Rowsets merged into one at most (at least 2).
    pub max_rowsets: usize,
    /// Input bytes of one merge at most.
    pub max_input_bytes: u64,
    /// Tablets compacted per pass at most.
    pub max_tablets: usize,
}

impl Default for CompactionLimits {
    fn default() -> Self {
        CompactionLimits { min_rowsets: 4, max_rowsets: 8, max_input_bytes: 256 << 20, max_tablets: 8 }
    }
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CompactionReport {
    pub tablets_compacted: usize,
    pub rowsets_merged: usize,
    pub errors: Vec<String>,
}

/// Where a clone gets its files: a FetchTablet stream from another BE, or (in tests) a
/// [`FetchSnapshot`] directly.
#[async_trait::async_trait]
pub trait ChunkSource: Send {
    /// The next chunk; `None` at the end of the stream.
    async fn next_chunk(&mut self) -> Result<Option<proto::FetchTabletChunk>, TabletError>;
}

/// The files a FetchTablet stream sends, pinned by hard links so compaction cannot remove them
/// mid-stream. Produces the chunks; removes its links at the end ([`FetchSnapshot::discard`] if
/// the stream stops early; `open` removes whatever a crash leaves).
pub struct FetchSnapshot {
    disk: Arc<dyn Disk>,
    dir: PathBuf,
    files: Vec<RowsetMeta>,
    index: usize,
    offset_bytes: u64,
    size_bytes: u64,
}

impl FetchSnapshot {
    pub fn files(&self) -> &[RowsetMeta] {
        &self.files
    }

    /// The next chunk of at most [`FETCH_CHUNK_BYTES`]; `None` (and the links removed) at the end.
    pub async fn next_chunk(&mut self) -> Result<Option<proto::FetchTabletChunk>, TabletError> {
        let Some(file) = self.files.get(self.index) else {
            remove_if_exists(self.disk.as_ref(), &self.dir, true).await;
            return Ok(None);
        };
        let path = self.dir.join(&file.file_name);
        let first = self.offset_bytes == 0;
        if first {
            self.size_bytes = match self.disk.metadata(&path).await.map_err(disk_error("fetching a tablet"))? {
                Some(m) => m.len_bytes,
                None => return Err(TabletError::Damaged(format!("rowset file {} is missing", path.display()))),
            };
        }
        let want = FETCH_CHUNK_BYTES.min(self.size_bytes - self.offset_bytes);
        let data = self.disk.read_at(&path, self.offset_bytes, want).await.map_err(disk_error("fetching a tablet"))?;
        if data.len() as u64 != want {
            return Err(TabletError::Damaged(format!("rowset file {} shrank while being sent", path.display())));
        }
        let mut chunk = proto::FetchTabletChunk { offset: self.offset_bytes, data, ..Default::default() };
        if first {
            chunk.file_name = file.file_name.clone();
            chunk.start_version = file.start_version;
            chunk.end_version = file.end_version;
        }
        self.offset_bytes += want;
        if self.offset_bytes == self.size_bytes {
            chunk.file_done = true;
            chunk.file_size = self.size_bytes;
            self.index += 1;
            self.offset_bytes = 0;
        }
        Ok(Some(chunk))
    }

    /// Stops early: removes the snapshot's links.
    pub async fn discard(self) {
        remove_if_exists(self.disk.as_ref(), &self.dir, true).await;
    }
}

#[async_trait::async_trait]
impl ChunkSource for FetchSnapshot {
    async fn next_chunk(&mut self) -> Result<Option<proto::FetchTabletChunk>, TabletError> {
        FetchSnapshot::next_chunk(self).await
    }
}

/// A file a clone received into `clone_tmp/`.
struct Received {
    path: PathBuf,
    source_name: String,
    start_version: u64,
    end_version: u64,
    size_bytes: u64,
    /// Of the bytes as they arrived (in order, so of the whole file once it is done).
    md5: md5::Md5,
}

/// Marks a tablet as being cloned for as long as it lives.
struct CloneGuard<'a> {
    cloning: &'a std::sync::Mutex<BTreeSet<i64>>,
    tablet_id: i64,
}

impl Drop for CloneGuard<'_> {
    fn drop(&mut self) {
        locked(self.cloning).remove(&self.tablet_id);
    }
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
    /// BACKUP's snapshots under `<storage_root>/snapshot/` (see [`super::snapshot`]).
    pub(super) snapshots: SnapshotRegistry,
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
                store.trash.put(&path, id, 0).await.map_err(disk_error("moving a stray tablet directory away"))?;
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
        let bytes = serde_json::to_vec_pretty(meta).map_err(|e| {
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
        // The FE journals a restore's tablet ids before it creates them, so a tablet of such an id
        // that another job (or no job) made is something a crash left under an id that was never
        // journaled (a CREATE TABLE cut before its record): garbage, replaced here.
        if let Ok(handle) = self.handle(tablet_id) {
            let owner = handle.state.read().await.meta.restore_job_id;
            if owner == Some(job_id) {
                return Ok(());
            }
            tracing::warn!(tablet_id, job_id, ?owner, "be: replacing a stale tablet under the id of a restored one");
            self.drop_tablet(tablet_id).await?;
        }
        self.create_many(&[tablet_id], schema, version, Some(job_id)).await.pop().expect("one result per tablet")
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
            self.trash.put(&dir, tablet_id, 0).await.map_err(disk_error(format!("creating tablet {tablet_id}")))?;
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
        // One rename: after it the tablet is gone from tablets/, whatever a crash does next.
        self.trash
            .put(&handle.dir, tablet_id, size_bytes)
            .await
            .map_err(disk_error(format!("dropping tablet {tablet_id}")))?;
        state.dropped = true;
        locked(&self.tablets).remove(&tablet_id);
        // Its pending rowsets went with it: forget them (their files are in the trash).
        let keys: Vec<(i64, i64)> = locked(&self.pending).keys().filter(|(_, t)| *t == tablet_id).copied().collect();
        for (txn_id, _) in keys {
            self.forget_pending(txn_id, tablet_id).await?;
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

    // ---------- loads ----------

    /// Appends one chunk of a load. Chunk 0 (re)starts the txn's pending rowset on the tablet;
    /// the others must follow in order; `last` seals the rowset (synced, waiting for publish). A
    /// retry of the chunk just written is acknowledged without writing it twice.
    pub async fn write_rows(
        &self,
        txn_id: i64,
        tablet_id: i64,
        seq: u32,
        rows: &[u8],
        row_count: u64,
        last: bool,
    ) -> Result<WriteSummary, TabletError> {
        let what = || format!("txn {txn_id}, tablet {tablet_id}, chunk {seq}");
        if txn_id <= 0 {
            return Err(TabletError::InvalidArgument(format!("{}: txn ids are positive", what())));
        }
        if rows.len() > MAX_CHUNK_BYTES {
            return Err(TabletError::InvalidArgument(format!(
                "{}: {} bytes is more than the {MAX_CHUNK_BYTES} bytes a chunk may hold",
                what(),
                rows.len()
            )));
        }
        let handle = self.handle(tablet_id)?;
        let cached = handle.cached();
        let counted = row_codec::count_rows(&cached.schema, rows).map_err(|e| {
            TabletError::InvalidArgument(format!("{}: the rows do not match the tablet's schema: {e}", what()))
        })?;
        if counted != row_count {
            return Err(TabletError::InvalidArgument(format!(
                "{}: the request says {row_count} rows but holds {counted}",
                what()
            )));
        }
        if seq == 0 && cached.info.version_count as usize >= MAX_ROWSETS_PER_TABLET {
            return Err(TabletError::ResourceExhausted(format!(
                "tablet {tablet_id} has {} versions, the most a tablet may have; wait for compaction and retry",
                cached.info.version_count
            )));
        }
        let mark = ChunkMark { seq, len_bytes: rows.len(), crc: crc32c::crc32c(rows), row_count };
        let done = WriteSummary { rows_written: row_count, bytes_written: rows.len() as u64 };
        let key = (txn_id, tablet_id);
        let entry = if seq == 0 {
            locked(&self.pending)
                .entry(key)
                .or_insert_with(|| {
                    let path = handle.dir.join(PENDING_DIR).join(format!("{PENDING_PREFIX}{txn_id}"));
                    Arc::new(Mutex::new(PendingEntry { path, state: PendingState::Broken }))
                })
                .clone()
        } else {
            let found = locked(&self.pending).get(&key).cloned();
            found.ok_or_else(|| out_of_order(txn_id, tablet_id, seq, None))?
        };
        let mut entry = entry.lock().await;
        let sealed = matches!(entry.state, PendingState::Sealed { .. });
        if entry.state.last_mark() == Some(mark) && sealed == last {
            return Ok(done);
        }
        if matches!(entry.state, PendingState::Removed) {
            return Err(TabletError::FailedPrecondition(format!(
                "{}: the txn was aborted or published meanwhile",
                what()
            )));
        }
        if seq == 0 {
            let slot = match std::mem::replace(&mut entry.state, PendingState::Broken) {
                PendingState::Writing { _slot: slot, .. } => slot,
                other => match self.reserve_writer_slot(txn_id) {
                    Ok(slot) => slot,
                    Err(e) => {
                        entry.state = other;
                        return Err(e);
                    }
                },
            };
            let writer =
                RowsetWriter::create(self.disk.clone(), entry.path.clone(), RowsetHeader { tablet_id, txn_id })
                    .await
                    .map_err(disk_error(format!("{}: starting the pending rowset", what())))?;
            entry.state = PendingState::Writing { writer, next_seq: 0, last: None, _slot: slot };
        }
        let PendingState::Writing { writer, next_seq, last: last_mark, .. } = &mut entry.state else {
            return Err(out_of_order(txn_id, tablet_id, seq, None));
        };
        if *next_seq != seq {
            return Err(out_of_order(txn_id, tablet_id, seq, Some(*next_seq)));
        }
        let Some(following) = next_seq.checked_add(1) else {
            return Err(TabletError::InvalidArgument(format!("{}: too many chunks", what())));
        };
        if let Err(e) = writer.append(rows, row_count).await {
            entry.state = PendingState::Broken;
            return Err(disk_error(format!("{}: appending", what()))(e));
        }
        *next_seq = following;
        *last_mark = Some(mark);
        if last {
            let PendingState::Writing { writer, .. } = std::mem::replace(&mut entry.state, PendingState::Broken) else {
                return Err(out_of_order(txn_id, tablet_id, seq, None));
            };
            let summary = writer.seal().await.map_err(disk_error(format!("{}: sealing", what())))?;
            entry.state = PendingState::Sealed {
                last: Some(mark),
                row_count: summary.row_count,
                size_bytes: summary.size_bytes,
                md5: summary.md5,
            };
        }
        Ok(done)
    }

    fn reserve_writer_slot(&self, txn_id: i64) -> Result<WriterSlot, TabletError> {
        let mut loads = locked(&self.open_loads);
        if !loads.contains_key(&txn_id) && loads.len() >= MAX_OPEN_LOADS {
            return Err(TabletError::ResourceExhausted(format!(
                "{MAX_OPEN_LOADS} loads are already writing on this backend; retry later"
            )));
        }
        *loads.entry(txn_id).or_default() += 1;
        Ok(WriterSlot { loads: self.open_loads.clone(), txn_id })
    }

    /// Makes txn's sealed pending rowset the tablet's version `version`; returns the tablet's
    /// version after it. Idempotent.
    pub async fn publish(&self, txn_id: i64, tablet_id: i64, version: u64) -> Result<u64, TabletError> {
        let handle = self.handle(tablet_id)?;
        let mut state = handle.state.write().await;
        handle.check_live(&state)?;
        if version <= state.meta.base_version {
            return Err(TabletError::InvalidArgument(format!(
                "tablet {tablet_id} starts at version {}; version {version} cannot be published",
                state.meta.base_version
            )));
        }
        if let Some(existing) = state.meta.covering(version) {
            return match existing.txn_id {
                Some(other) if other != txn_id => Err(TabletError::FailedPrecondition(format!(
                    "version {version} of tablet {tablet_id} is already published by txn {other}, not txn {txn_id}"
                ))),
                _ => {
                    // Published before (by this txn, or merged since): make sure nothing is left pending.
                    self.forget_pending(txn_id, tablet_id).await?;
                    Ok(state.meta.version())
                }
            };
        }
        let no_sealed =
            || TabletError::NotFound(format!("no sealed rowset of txn {txn_id} on tablet {tablet_id} on this backend"));
        let entry_arc = locked(&self.pending).get(&(txn_id, tablet_id)).cloned().ok_or_else(no_sealed)?;
        let mut entry = entry_arc.lock().await;
        let PendingState::Sealed { row_count, size_bytes, ref md5, .. } = entry.state else {
            return Err(no_sealed());
        };
        let md5 = md5.clone();
        let disk = self.disk.as_ref();
        let context = format!("publishing txn {txn_id} as version {version} of tablet {tablet_id}");
        let name = format!("{version}_{version}_t{txn_id}{ROWSET_SUFFIX}");
        let target = handle.rowset_path(&name);
        // A name left by an attempt whose meta never became durable: not referenced, replace it.
        remove_if_exists(disk, &target, false).await;
        disk.hard_link(&entry.path, &target).await.map_err(disk_error(context.clone()))?;
        disk.sync_dir(&handle.rowsets_dir()).await.map_err(disk_error(context.clone()))?;
        let mut meta = state.meta.clone();
        meta.insert_rowset(RowsetMeta {
            file_name: name,
            start_version: version,
            end_version: version,
            row_count,
            size_bytes,
            txn_id: Some(txn_id),
            md5,
        });
        self.write_meta(&meta).await?;
        Self::install(&handle, &mut state, meta);
        // The pending name is now a second name of the published file.
        remove_if_exists(disk, &entry.path, false).await;
        entry.state = PendingState::Removed;
        drop(entry);
        remove_pending_entry(&self.pending, (txn_id, tablet_id), &entry_arc);
        Ok(state.meta.version())
    }

    /// Forgets a txn's pending rowsets on every tablet.
    pub async fn abort_txn(&self, txn_id: i64) -> Result<(), TabletError> {
        let keys: Vec<(i64, i64)> =
            locked(&self.pending).range((txn_id, i64::MIN)..=(txn_id, i64::MAX)).map(|(k, _)| *k).collect();
        for (_, tablet_id) in keys {
            self.forget_pending(txn_id, tablet_id).await?;
        }
        Ok(())
    }

    /// Removes one pending rowset (file and entry), if there is one.
    async fn forget_pending(&self, txn_id: i64, tablet_id: i64) -> Result<(), TabletError> {
        let Some(entry_arc) = locked(&self.pending).get(&(txn_id, tablet_id)).cloned() else {
            return Ok(());
        };
        let mut entry = entry_arc.lock().await;
        if !matches!(entry.state, PendingState::Removed) {
            match self.disk.remove_file(&entry.path).await {
                Ok(()) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(disk_error(format!("removing the pending rowset of txn {txn_id}"))(e)),
            }
            entry.state = PendingState::Removed;
        }
        drop(entry);
        remove_pending_entry(&self.pending, (txn_id, tablet_id), &entry_arc);
        Ok(())
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

    // ---------- compaction ----------

    /// One pass: merges the oldest consecutive rowsets of up to `limits.max_tablets` tablets that
    /// have more than `limits.min_rowsets` rowsets. Per-tablet failures are reported, not fatal.
    pub async fn compact_once(&self, limits: CompactionLimits) -> CompactionReport {
        assert!(limits.max_rowsets >= 2 && limits.max_tablets >= 1, "compaction limits too small: {limits:?}");
        let cursor = self.compaction_cursor.load(Ordering::Relaxed);
        let candidates: Vec<Arc<TabletHandle>> = {
            let tablets = locked(&self.tablets);
            let after = tablets.range(cursor.saturating_add(1)..).chain(tablets.range(..=cursor));
            after
                .map(|(_, h)| h)
                .filter(|h| h.cached().info.version_count as usize > limits.min_rowsets)
                .cloned()
                .collect()
        };
        let mut report = CompactionReport::default();
        for handle in candidates {
            if report.tablets_compacted >= limits.max_tablets {
                break;
            }
            self.compaction_cursor.store(handle.id, Ordering::Relaxed);
            match self.compact_tablet(&handle, limits).await {
                Ok(Some(merged)) => {
                    report.tablets_compacted += 1;
                    report.rowsets_merged += merged;
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(tablet_id = handle.id, error = %e, "be: compaction failed");
                    report.errors.push(format!("tablet {}: {e}", handle.id));
                }
            }
        }
        report
    }

    /// Merges one run of rowsets of one tablet; the number merged, or `None` if there was nothing to do.
    async fn compact_tablet(
        &self,
        handle: &TabletHandle,
        limits: CompactionLimits,
    ) -> Result<Option<usize>, TabletError> {
        let (inputs, schema, files) = {
            let state = handle.state.read().await;
            if state.dropped {
                return Ok(None);
            }
            let Some(inputs) = plan_compaction(&state.meta.rowsets, limits) else {
                return Ok(None);
            };
            let files = self.read_rowsets(handle, &inputs).await?;
            (inputs, state.meta.schema.clone(), files)
        };
        let mut decoded = Vec::with_capacity(files.len());
        for file in files {
            decoded.push(file.rows(&schema)?);
        }
        let merged = merge_rows(&schema, decoded);
        let (start, end) = (inputs[0].start_version, inputs[inputs.len() - 1].end_version);
        let name = self.fresh_rowset_name(&handle.dir, start, end, ORIGIN_COMPACTION).await?;
        let path = handle.rowset_path(&name);
        let summary = match self.write_rowset_file(&path, handle.id, &schema, &merged).await {
            Ok(summary) => summary,
            Err(e) => {
                remove_if_exists(self.disk.as_ref(), &path, false).await;
                return Err(e);
            }
        };
        let mut state = handle.state.write().await;
        if state.dropped || !inputs.iter().all(|r| state.meta.rowsets.contains(r)) {
            // A clone replaced the rowsets meanwhile: this output is of no use.
            drop(state);
            remove_if_exists(self.disk.as_ref(), &path, false).await;
            return Ok(None);
        }
        let mut meta = state.meta.clone();
        meta.rowsets.retain(|r| !inputs.contains(r));
        meta.insert_rowset(RowsetMeta {
            file_name: name,
            start_version: start,
            end_version: end,
            row_count: summary.row_count,
            size_bytes: summary.size_bytes,
            txn_id: None,
            md5: summary.md5,
        });
        self.write_meta(&meta).await?;
        Self::install(handle, &mut state, meta);
        drop(state);
        for r in &inputs {
            remove_if_exists(self.disk.as_ref(), &handle.rowset_path(&r.file_name), false).await;
        }
        tracing::debug!(tablet_id = handle.id, start, end, rowsets = inputs.len(), "be: compacted");
        Ok(Some(inputs.len()))
    }

    async fn write_rowset_file(
        &self,
        path: &Path,
        tablet_id: i64,
        schema: &Schema,
        rows: &[Row],
    ) -> Result<rowset::RowsetSummary, TabletError> {
        let context = || format!("writing {}", path.display());
        let header = RowsetHeader { tablet_id, txn_id: 0 };
        let mut writer =
            RowsetWriter::create(self.disk.clone(), path.to_path_buf(), header).await.map_err(disk_error(context()))?;
        let mut buffer = Vec::with_capacity(MERGE_WRITE_CHUNK_BYTES + 4096);
        let mut buffered_rows = 0;
        for row in rows {
            row_codec::encode_row(schema, row, &mut buffer)
                .map_err(|e| TabletError::Damaged(format!("tablet {tablet_id}: a merged row does not encode: {e}")))?;
            buffered_rows += 1;
            if buffer.len() >= MERGE_WRITE_CHUNK_BYTES {
                writer.append(&buffer, buffered_rows).await.map_err(disk_error(context()))?;
                buffer.clear();
                buffered_rows = 0;
            }
        }
        writer.append(&buffer, buffered_rows).await.map_err(disk_error(context()))?;
        writer.seal().await.map_err(disk_error(context()))
    }

    // ---------- clone ----------

    /// Pins the published rowsets covering versions up to `version` for a FetchTablet stream.
    pub async fn fetch(&self, tablet_id: i64, version: u64) -> Result<FetchSnapshot, TabletError> {
        let handle = self.handle(tablet_id)?;
        let state = handle.state.read().await;
        handle.check_live(&state)?;
        check_not_restoring(&state.meta)?;
        let files = state.meta.rowsets_at(version)?;
        let n = self.next_name.fetch_add(1, Ordering::Relaxed);
        let dir = handle.dir.join(format!("{SNAPSHOT_PREFIX}{n}"));
        let disk = self.disk.as_ref();
        let context = format!("pinning the files of tablet {tablet_id} for a fetch");
        disk.create_dir_all(&dir).await.map_err(disk_error(context.clone()))?;
        for r in &files {
            if let Err(e) = disk.hard_link(&handle.rowset_path(&r.file_name), &dir.join(&r.file_name)).await {
                remove_if_exists(disk, &dir, true).await;
                if e.is_not_found() {
                    return Err(TabletError::Damaged(format!(
                        "rowset file {} of tablet {tablet_id} is missing",
                        r.file_name
                    )));
                }
                return Err(disk_error(context)(e));
            }
        }
        Ok(FetchSnapshot { disk: self.disk.clone(), dir, files, index: 0, offset_bytes: 0, size_bytes: 0 })
    }

    /// Replaces this BE's copy of the tablet with the rowsets `source` sends (another BE's, covering
    /// the versions up to `version`), creating the tablet if needed. Rowsets this BE published
    /// above `version` are kept. Every received file is checked before anything changes; a crash
    /// leaves the old tablet or the new one. Returns the tablet's version after the clone.
    pub async fn clone_from(
        &self,
        tablet_id: i64,
        schema: Schema,
        version: u64,
        source: &mut dyn ChunkSource,
    ) -> Result<u64, TabletError> {
        validate_schema(&schema).map_err(|e| TabletError::InvalidArgument(format!("tablet {tablet_id}: {e}")))?;
        if !locked(&self.cloning).insert(tablet_id) {
            return Err(TabletError::FailedPrecondition(format!("a clone of tablet {tablet_id} is already running")));
        }
        let _guard = CloneGuard { cloning: &self.cloning, tablet_id };
        let dir = self.tablet_dir(tablet_id);
        for sub in [ROWSETS_DIR, PENDING_DIR] {
            disk::create_dir_all_durable(self.disk.as_ref(), &dir.join(sub))
                .await
                .map_err(disk_error(format!("cloning tablet {tablet_id}")))?;
        }
        let tmp = dir.join(CLONE_TMP_DIR);
        remove_if_exists(self.disk.as_ref(), &tmp, true).await;
        self.disk.create_dir_all(&tmp).await.map_err(disk_error(format!("cloning tablet {tablet_id}")))?;
        let result = self.clone_into(tablet_id, schema, version, source, &tmp).await;
        remove_if_exists(self.disk.as_ref(), &tmp, true).await;
        match &result {
            Ok(v) => tracing::info!(tablet_id, version = v, "be: tablet cloned"),
            Err(e) => tracing::warn!(tablet_id, error = %e, "be: clone failed"),
        }
        result
    }

    async fn clone_into(
        &self,
        tablet_id: i64,
        schema: Schema,
        version: u64,
        source: &mut dyn ChunkSource,
        tmp: &Path,
    ) -> Result<u64, TabletError> {
        let disk = self.disk.as_ref();
        let dir = self.tablet_dir(tablet_id);
        let received = receive_files(disk, tmp, tablet_id, source).await?;
        let bad = |detail: String| TabletError::Unavailable(format!("clone of tablet {tablet_id}: {detail}"));
        let mut summaries = Vec::with_capacity(received.len());
        let mut previous_end = None;
        for file in &received {
            let summary = rowset::verify_rowset(disk, &file.path, Some(&schema))
                .await
                .map_err(|e| bad(format!("file {} from the source: {e}", file.source_name)))?;
            if summary.header.tablet_id != tablet_id {
                return Err(bad(format!("file {} belongs to tablet {}", file.source_name, summary.header.tablet_id)));
            }
            let contiguous = previous_end.is_none_or(|end: u64| end.checked_add(1) == Some(file.start_version));
            if file.start_version == 0 || file.start_version > file.end_version || !contiguous {
                return Err(bad(format!(
                    "file {} covers versions {}..={}, which does not follow the previous file",
                    file.source_name, file.start_version, file.end_version
                )));
            }
            previous_end = Some(file.end_version);
            summaries.push(summary);
        }
        if previous_end.is_some_and(|end| end != version) {
            return Err(bad(format!("the files end at version {previous_end:?}, not at the requested {version}")));
        }
        let base_version = received.first().map_or(version, |f| f.start_version - 1);

        let _set = self.tablet_set.lock().await;
        let existing = locked(&self.tablets).get(&tablet_id).cloned();
        if existing.is_none() && locked(&self.tablets).len() >= MAX_TABLETS {
            return Err(TabletError::ResourceExhausted(format!("this backend already holds {MAX_TABLETS} tablets")));
        }
        let mut state: Option<RwLockWriteGuard<'_, TabletState>> = match &existing {
            Some(handle) => Some(handle.state.write().await),
            None => None,
        };
        let old_rowsets = state.as_ref().map(|s| s.meta.rowsets.clone()).unwrap_or_default();
        let mut rowsets: Vec<RowsetMeta> = old_rowsets.iter().filter(|r| r.start_version > version).cloned().collect();
        let context = format!("installing the clone of tablet {tablet_id}");
        for (file, summary) in received.iter().zip(&summaries) {
            let name = self.fresh_rowset_name(&dir, file.start_version, file.end_version, ORIGIN_CLONE).await?;
            let target = dir.join(ROWSETS_DIR).join(&name);
            disk.rename(&file.path, &target).await.map_err(disk_error(context.clone()))?;
            rowsets.push(RowsetMeta {
                file_name: name,
                start_version: file.start_version,
                end_version: file.end_version,
                row_count: summary.row_count,
                size_bytes: summary.size_bytes,
                txn_id: (summary.header.txn_id != 0).then_some(summary.header.txn_id),
                md5: Some(rowset::hex(&md5::Digest::finalize(file.md5.clone()))),
            });
        }
        disk.sync_dir(&dir.join(ROWSETS_DIR)).await.map_err(disk_error(context.clone()))?;
        rowsets.sort_by_key(|r| r.start_version);
        let meta =
            TabletMeta { tablet_id, schema, base_version, rowsets, restore_pending: false, restore_job_id: None };
        meta.validate().map_err(|e| bad(format!("the cloned tablet would be invalid: {e}")))?;
        self.write_meta(&meta).await?;
        let new_version = meta.version();
        let referenced: BTreeSet<String> = meta.rowsets.iter().map(|r| r.file_name.clone()).collect();
        match (&existing, state.as_mut()) {
            (Some(handle), Some(state)) => Self::install(handle, state, meta),
            _ => {
                let handle = Arc::new(TabletHandle::new(dir.clone(), meta));
                locked(&self.tablets).insert(tablet_id, handle);
            }
        }
        drop(state);
        for r in old_rowsets.iter().filter(|r| !referenced.contains(&r.file_name)) {
            remove_if_exists(disk, &dir.join(ROWSETS_DIR).join(&r.file_name), false).await;
        }
        Ok(new_version)
    }
}

/// Receives a FetchTablet stream's files into `tmp` (named by arrival, never by the source's
/// names), each synced once complete.
async fn receive_files(
    disk: &dyn Disk,
    tmp: &Path,
    tablet_id: i64,
    source: &mut dyn ChunkSource,
) -> Result<Vec<Received>, TabletError> {
    let bad = |detail: String| TabletError::Unavailable(format!("clone of tablet {tablet_id}: the source {detail}"));
    let context = format!("receiving tablet {tablet_id}");
    let mut files = Vec::new();
    let mut current: Option<Received> = None;
    while let Some(chunk) = source.next_chunk().await? {
        if chunk.data.len() > MAX_CHUNK_BYTES {
            return Err(bad(format!("sent a chunk of {} bytes", chunk.data.len())));
        }
        if !chunk.file_name.is_empty() {
            if let Some(open) = &current {
                return Err(bad(format!("started file {} before finishing {}", chunk.file_name, open.source_name)));
            }
            if files.len() >= MAX_CLONE_FILES {
                return Err(bad(format!("sent more than {MAX_CLONE_FILES} files")));
            }
            current = Some(Received {
                path: tmp.join(format!("{:06}.part", files.len())),
                source_name: chunk.file_name.chars().take(256).collect(),
                start_version: chunk.start_version,
                end_version: chunk.end_version,
                size_bytes: 0,
                md5: <md5::Md5 as md5::Digest>::new(),
            });
        }
        let Some(file) = current.as_mut() else {
            return Err(bad("sent data outside any file".into()));
        };
        if chunk.offset != file.size_bytes {
            return Err(bad(format!(
                "sent offset {} of file {} where {} was expected",
                chunk.offset, file.source_name, file.size_bytes
            )));
        }
        disk.write_at(&file.path, file.size_bytes, &chunk.data).await.map_err(disk_error(context.clone()))?;
        file.size_bytes += chunk.data.len() as u64;
        md5::Digest::update(&mut file.md5, &chunk.data);
        if chunk.file_done {
            if chunk.file_size != file.size_bytes {
                return Err(bad(format!(
                    "said file {} has {} bytes but sent {}",
                    file.source_name, chunk.file_size, file.size_bytes
                )));
            }
            disk.sync(&file.path).await.map_err(disk_error(context.clone()))?;
            files.extend(current.take());
        }
    }
    if let Some(open) = current {
        return Err(bad(format!("ended the stream in the middle of file {}", open.source_name)));
    }
    Ok(files)
}

/// The oldest run of consecutive rowsets worth merging: at least 2, at most `max_rowsets`, at
/// most `max_input_bytes`, never the newest rowset (so a read at the version just before the
/// latest publish stays possible).
fn plan_compaction(rowsets: &[RowsetMeta], limits: CompactionLimits) -> Option<Vec<RowsetMeta>> {
    if rowsets.len() <= limits.min_rowsets {
        return None;
    }
    let candidates = &rowsets[..rowsets.len() - 1];
    for start in 0..candidates.len() {
        let mut bytes = candidates[start].size_bytes;
        let mut end = start + 1;
        while end < candidates.len()
            && end - start < limits.max_rowsets
            && candidates[end].start_version == candidates[end - 1].end_version + 1
            && bytes.saturating_add(candidates[end].size_bytes) <= limits.max_input_bytes
        {
            bytes += candidates[end].size_bytes;
            end += 1;
        }
        if end - start >= 2 {
            return Some(candidates[start..end].to_vec());
        }
    }
    None
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
mod tests {
    use super::*;
    use crate::be::test_support::TempDisk;
    use crate::schema::Column;

    fn col(name: &str, ty: ColumnType, is_key: bool, aggregation: Option<Aggregation>) -> Column {
        Column { name: name.into(), ty, nullable: !is_key, default: None, comment: String::new(), aggregation, is_key }
    }

    fn kv_schema(keys_type: KeysType) -> Schema {
        Schema {
            columns: vec![
                col("k", ColumnType::BigInt, true, None),
                col("v", ColumnType::Varchar { len: 32 }, false, None),
            ],
            keys_type,
        }
    }

    fn kv(k: i128, v: &str) -> Row {
        vec![Value::Int(k), Value::Str(v.into())]
    }

    fn agg_schema() -> Schema {
        Schema {
            columns: vec![
                col("k", ColumnType::Int, true, None),
                col("s", ColumnType::BigInt, false, Some(Aggregation::Sum)),
                col("lo", ColumnType::Int, false, Some(Aggregation::Min)),
                col("hi", ColumnType::Int, false, Some(Aggregation::Max)),
                col("r", ColumnType::Varchar { len: 8 }, false, Some(Aggregation::Replace)),
                col("d", ColumnType::Decimal { precision: 10, scale: 2 }, false, Some(Aggregation::Sum)),
            ],
            keys_type: KeysType::Aggregate,
        }
    }

    async fn open(temp: &TempDisk) -> TabletStore {
        TabletStore::open(temp.disk(), temp.root()).await.expect("opens")
    }

    /// Writes `rows` as txn `txn_id` in chunks of `per_chunk` rows, sealing with the last.
    async fn load(store: &TabletStore, txn_id: i64, tablet_id: i64, rows: &[Row], per_chunk: usize) {
        let schema = store.tablet_meta(tablet_id).await.expect("tablet").schema;
        let chunks: Vec<&[Row]> = if rows.is_empty() { vec![&[]] } else { rows.chunks(per_chunk).collect() };
        for (seq, chunk) in chunks.iter().enumerate() {
            let mut bytes = Vec::new();
            row_codec::encode_rows(&schema, chunk, &mut bytes).expect("encodes");
            let last = seq + 1 == chunks.len();
            store
                .write_rows(txn_id, tablet_id, seq as u32, &bytes, chunk.len() as u64, last)
                .await
                .expect("chunk written");
        }
    }

    async fn load_and_publish(store: &TabletStore, txn_id: i64, tablet_id: i64, version: u64, rows: &[Row]) {
        load(store, txn_id, tablet_id, rows, 2).await;
        store.publish(txn_id, tablet_id, version).await.expect("published");
    }

    async fn scan(store: &TabletStore, tablet_id: i64, version: u64) -> Vec<Row> {
        store.scan(tablet_id, version).await.expect("scans").rows
    }

    fn info(store: &TabletStore, tablet_id: i64) -> TabletInfo {
        store.tablet_infos().into_iter().find(|t| t.tablet_id == tablet_id).expect("tablet listed")
    }

    async fn exists(temp: &TempDisk, relative: &str) -> bool {
        temp.disk().metadata(&temp.path(relative)).await.expect("metadata").is_some()
    }

    #[tokio::test]
    async fn chunks_are_written_sealed_published_and_scanned() {
        let temp = TempDisk::new("tablet-basic").await;
        let store = open(&temp).await;
        store.create_tablet(10, kv_schema(KeysType::Duplicate), 1).await.unwrap();
        assert_eq!(info(&store, 10).version, 1);
        let rows: Vec<Row> = (0..7).map(|i| kv(i % 3, &format!("row {i}"))).collect();
        load(&store, 100, 10, &rows, 3).await;
        assert!(exists(&temp, "tablets/10/pending/txn_100").await);
        assert_eq!(store.publish(100, 10, 2).await.unwrap(), 2);
        assert!(!exists(&temp, "tablets/10/pending/txn_100").await);

        assert_eq!(scan(&store, 10, 2).await, rows, "duplicate keeps every row in load order");
        assert_eq!(scan(&store, 10, 1).await, Vec::<Row>::new());
        let err = store.scan(10, 3).await.unwrap_err().to_string();
        assert!(err.contains("tablet 10 is at version 2, behind the requested 3"), "{err}");
        let info = info(&store, 10);
        assert_eq!((info.version, info.version_count, info.row_count), (2, 1, 7));
        assert!(info.data_size_bytes > 0);
        assert!(matches!(store.scan(11, 1).await, Err(TabletError::NotFound(_))));
        temp.remove().await;
    }

    #[tokio::test]
    async fn unique_keeps_the_newest_row_per_key() {
        let temp = TempDisk::new("tablet-unique").await;
        let store = open(&temp).await;
        store.create_tablet(1, kv_schema(KeysType::Unique), 1).await.unwrap();
        load_and_publish(&store, 1, 1, 2, &[kv(3, "a"), kv(1, "b"), kv(3, "c")]).await;
        load_and_publish(&store, 2, 1, 3, &[kv(1, "d"), kv(2, "e")]).await;
        assert_eq!(scan(&store, 1, 2).await, vec![kv(1, "b"), kv(3, "c")]);
        assert_eq!(scan(&store, 1, 3).await, vec![kv(1, "d"), kv(2, "e"), kv(3, "c")]);
        temp.remove().await;
    }

    #[tokio::test]
    async fn aggregate_combines_value_columns() {
        let temp = TempDisk::new("tablet-aggregate").await;
        let store = open(&temp).await;
        store.create_tablet(1, agg_schema(), 1).await.unwrap();
        let row = |k: i128, s: Value, lo: i128, hi: i128, r: Value, d: i128| {
            vec![Value::Int(k), s, Value::Int(lo), Value::Int(hi), r, Value::Decimal(d, 2)]
        };
        let s = |v: &str| Value::Str(v.into());
        load_and_publish(
            &store,
            1,
            1,
            2,
            &[
                row(1, Value::Int(10), 5, 5, s("x"), 150),
                row(2, Value::Null, 1, 1, s("only"), 1),
                row(1, Value::Null, 7, 1, s("y"), 50),
            ],
        )
        .await;
        load_and_publish(&store, 2, 1, 3, &[row(1, Value::Int(5), 3, 9, Value::Null, 1)]).await;
        assert_eq!(
            scan(&store, 1, 2).await,
            vec![row(1, Value::Int(10), 5, 5, s("y"), 200), row(2, Value::Null, 1, 1, s("only"), 1)]
        );
        assert_eq!(
            scan(&store, 1, 3).await,
            vec![row(1, Value::Int(15), 3, 9, Value::Null, 201), row(2, Value::Null, 1, 1, s("only"), 1)]
        );
        temp.remove().await;
    }

    #[tokio::test]
    async fn publish_out_of_order_and_idempotent() {
        let temp = TempDisk::new("tablet-publish").await;
        let store = open(&temp).await;
        store.create_tablet(5, kv_schema(KeysType::Duplicate), 1).await.unwrap();
        load(&store, 1, 5, &[kv(1, "v2")], 1).await;
        load(&store, 2, 5, &[kv(2, "v3")], 1).await;
        load(&store, 3, 5, &[kv(3, "v5")], 1).await;
        assert_eq!(store.publish(2, 5, 3).await.unwrap(), 1, "v3 without v2 leaves the tablet at 1");
        assert_eq!(store.publish(3, 5, 5).await.unwrap(), 1);
        assert_eq!(info(&store, 5).version_count, 2);
        assert!(store.scan(5, 3).await.is_err());
        assert_eq!(store.publish(1, 5, 2).await.unwrap(), 3, "v2 fills the gap up to v3, not v5");
        assert_eq!(store.publish(1, 5, 2).await.unwrap(), 3, "publishing again is fine");
        assert_eq!(store.publish(3, 5, 5).await.unwrap(), 3);
        assert_eq!(scan(&store, 5, 3).await, vec![kv(1, "v2"), kv(2, "v3")]);

        let err = store.publish(9, 5, 2).await.unwrap_err();
        assert!(matches!(err, TabletError::FailedPrecondition(_)), "{err}");
        let err = store.publish(9, 5, 4).await.unwrap_err();
        assert!(matches!(err, TabletError::NotFound(_)), "{err}");
        assert!(err.to_string().contains("no sealed rowset of txn 9 on tablet 5"), "{err}");
        // An unsealed rowset is not publishable either.
        let mut bytes = Vec::new();
        row_codec::encode_rows(&kv_schema(KeysType::Duplicate), &[kv(4, "x")], &mut bytes).unwrap();
        store.write_rows(4, 5, 0, &bytes, 1, false).await.unwrap();
        assert!(matches!(store.publish(4, 5, 4).await, Err(TabletError::NotFound(_))));
        assert!(matches!(store.publish(4, 5, 1).await, Err(TabletError::InvalidArgument(_))));
        temp.remove().await;
    }

    #[tokio::test]
    async fn bad_chunks_are_rejected_and_retries_acknowledged() {
        let temp = TempDisk::new("tablet-chunks").await;
        let store = open(&temp).await;
        let schema = kv_schema(KeysType::Duplicate);
        store.create_tablet(1, schema.clone(), 1).await.unwrap();
        let encode = |rows: &[Row]| {
            let mut bytes = Vec::new();
            row_codec::encode_rows(&schema, rows, &mut bytes).unwrap();
            bytes
        };
        let chunk = encode(&[kv(1, "a"), kv(2, "b")]);
        // Garbage, a wrong row count, a chunk too large, an unknown tablet.
        let err = store.write_rows(1, 1, 0, &chunk[..chunk.len() - 1], 2, false).await.unwrap_err();
        assert!(matches!(err, TabletError::InvalidArgument(_)) && err.to_string().contains("schema"), "{err}");
        assert!(matches!(store.write_rows(1, 1, 0, &chunk, 3, false).await, Err(TabletError::InvalidArgument(_))));
        let huge = vec![0u8; MAX_CHUNK_BYTES + 1];
        assert!(matches!(store.write_rows(1, 1, 0, &huge, 0, false).await, Err(TabletError::InvalidArgument(_))));
        assert!(matches!(store.write_rows(1, 2, 0, &chunk, 2, false).await, Err(TabletError::NotFound(_))));
        // A chunk after a gap, or for a writer this process does not know.
        let err = store.write_rows(1, 1, 1, &chunk, 2, false).await.unwrap_err();
        assert!(err.to_string().contains("load restarted or out of order"), "{err}");
        store.write_rows(1, 1, 0, &chunk, 2, false).await.unwrap();
        store.write_rows(1, 1, 0, &chunk, 2, false).await.expect("a retry of chunk 0 is acknowledged");
        let err = store.write_rows(1, 1, 2, &chunk, 2, false).await.unwrap_err();
        assert!(err.to_string().contains("chunk 1 was expected"), "{err}");
        store.write_rows(1, 1, 1, &encode(&[kv(3, "c")]), 1, true).await.unwrap();
        store.write_rows(1, 1, 1, &encode(&[kv(3, "c")]), 1, true).await.expect("a retry of the last chunk too");
        store.publish(1, 1, 2).await.unwrap();
        assert_eq!(scan(&store, 1, 2).await, vec![kv(1, "a"), kv(2, "b"), kv(3, "c")]);

        // Abort removes the pending rowset; a later chunk of it is refused.
        store.write_rows(2, 1, 0, &chunk, 2, false).await.unwrap();
        store.abort_txn(2).await.unwrap();
        assert!(!exists(&temp, "tablets/1/pending/txn_2").await);
        assert!(store.write_rows(2, 1, 1, &chunk, 2, true).await.is_err());
        assert!(matches!(store.publish(2, 1, 3).await, Err(TabletError::NotFound(_))));
        assert!(locked(&store.open_loads).is_empty(), "no writer slot leaks");
        temp.remove().await;
    }

    #[tokio::test]
    async fn create_and_drop_are_idempotent() {
        let temp = TempDisk::new("tablet-create").await;
        let store = open(&temp).await;
        store.create_tablet(1, kv_schema(KeysType::Duplicate), 1).await.unwrap();
        store.create_tablet(1, kv_schema(KeysType::Duplicate), 1).await.expect("same schema again is fine");
        let err = store.create_tablet(1, kv_schema(KeysType::Unique), 1).await.unwrap_err();
        assert!(err.to_string().contains("different schema"), "{err}");
        let mut bad = kv_schema(KeysType::Duplicate);
        bad.columns.swap(0, 1);
        assert!(matches!(store.create_tablet(2, bad, 1).await, Err(TabletError::InvalidArgument(_))));
        load(&store, 7, 1, &[kv(1, "x")], 1).await;
        store.drop_tablet(1).await.unwrap();
        store.drop_tablet(1).await.unwrap();
        assert!(!exists(&temp, "tablets/1").await);
        assert!(store.tablet_infos().is_empty());
        assert!(locked(&store.pending).is_empty());
        temp.remove().await;
    }

    #[tokio::test]
    async fn reopen_keeps_published_data_and_sealed_loads_and_removes_garbage() {
        let temp = TempDisk::new("tablet-reopen").await;
        let store = open(&temp).await;
        store.create_tablet(3, kv_schema(KeysType::Unique), 1).await.unwrap();
        load_and_publish(&store, 1, 3, 2, &[kv(1, "a"), kv(2, "b")]).await;
        load(&store, 2, 3, &[kv(1, "sealed")], 1).await;
        let mut bytes = Vec::new();
        row_codec::encode_rows(&kv_schema(KeysType::Unique), &[kv(9, "unsealed")], &mut bytes).unwrap();
        store.write_rows(3, 3, 0, &bytes, 1, false).await.unwrap();
        drop(store);
        // Crash garbage: an unreferenced rowset, a stray temporary, a tablet directory without meta.
        let disk = temp.disk();
        disk.write_at(&temp.path("tablets/3/rowsets/7_7_t99.rowset"), 0, b"junk").await.unwrap();
        disk.write_at(&temp.path("tablets/3/meta.json.tmp"), 0, b"{").await.unwrap();
        disk.create_dir_all(&temp.path("tablets/4/rowsets")).await.unwrap();

        let store = open(&temp).await;
        assert_eq!(scan(&store, 3, 2).await, vec![kv(1, "a"), kv(2, "b")]);
        assert!(exists(&temp, "tablets/3/pending/txn_2").await, "a sealed load survives");
        assert!(!exists(&temp, "tablets/3/pending/txn_3").await, "an unsealed load does not");
        assert!(!exists(&temp, "tablets/3/rowsets/7_7_t99.rowset").await);
        assert!(!exists(&temp, "tablets/3/meta.json.tmp").await);
        assert!(!exists(&temp, "tablets/4").await);
        let err = store.write_rows(3, 3, 1, &bytes, 1, true).await.unwrap_err();
        assert!(err.to_string().contains("load restarted or out of order"), "{err}");
        assert_eq!(store.publish(2, 3, 3).await.unwrap(), 3, "the sealed load is published after the restart");
        assert_eq!(scan(&store, 3, 3).await, vec![kv(1, "sealed"), kv(2, "b")]);
        temp.remove().await;
    }

    #[tokio::test]
    async fn a_damaged_rowset_file_is_reported_by_name() {
        let temp = TempDisk::new("tablet-damaged").await;
        let store = open(&temp).await;
        store.create_tablet(8, kv_schema(KeysType::Duplicate), 1).await.unwrap();
        load_and_publish(&store, 4, 8, 2, &[kv(1, "hello"), kv(2, "world")]).await;
        let path = temp.path("tablets/8/rowsets/2_2_t4.rowset");
        let mut bytes = temp.disk().read_all(&path).await.unwrap();
        bytes[30] ^= 0x01;
        temp.disk().write_at(&path, 0, &bytes).await.unwrap();
        let err = store.scan(8, 2).await.unwrap_err();
        assert!(matches!(err, TabletError::Damaged(_)), "{err}");
        assert!(err.to_string().contains("2_2_t4.rowset is damaged"), "{err}");
        temp.remove().await;
    }

    #[tokio::test]
    async fn compaction_merges_rowsets_without_changing_results() {
        let temp = TempDisk::new("tablet-compaction").await;
        let store = open(&temp).await;
        store.create_tablet(1, kv_schema(KeysType::Unique), 1).await.unwrap();
        store.create_tablet(2, kv_schema(KeysType::Duplicate), 1).await.unwrap();
        store.create_tablet(3, agg_schema(), 1).await.unwrap();
        for v in 2..=8u64 {
            let i = v as i128;
            let txn = v as i64;
            load_and_publish(&store, txn, 1, v, &[kv(i % 3, &format!("v{v}")), kv(10 + i, "x")]).await;
            load_and_publish(&store, 100 + txn, 2, v, &[kv(i, "a"), kv(i, "b")]).await;
            let agg = vec![
                Value::Int(i % 2),
                Value::Int(i),
                Value::Int(-i),
                Value::Int(i),
                Value::Null,
                Value::Decimal(i, 2),
            ];
            load_and_publish(&store, 200 + txn, 3, v, &[agg]).await;
        }
        let mut before = Vec::new();
        for t in 1..=3 {
            before.push(scan(&store, t, 8).await);
        }
        let limits = CompactionLimits { min_rowsets: 4, max_rowsets: 4, max_input_bytes: 1 << 20, max_tablets: 10 };
        let report = store.compact_once(limits).await;
        assert_eq!(report.errors, Vec::<String>::new());
        assert_eq!((report.tablets_compacted, report.rowsets_merged), (3, 12));
        for t in 1..=3 {
            let info = info(&store, t);
            assert_eq!((info.version, info.version_count), (8, 4), "tablet {t}");
            assert_eq!(scan(&store, t, 8).await, before[t as usize - 1], "tablet {t}");
        }
        assert_eq!(info(&store, 2).row_count, 14);
        let err = store.scan(1, 3).await.unwrap_err().to_string();
        assert!(err.contains("compaction merged versions 2..=5"), "{err}");
        assert_eq!(scan(&store, 1, 5).await.len(), 7, "the merged range's end is still readable");
        // Again: the next run, never the newest rowset.
        let report = store.compact_once(limits).await;
        assert_eq!(report.tablets_compacted, 0, "4 rowsets left is not more than min_rowsets");
        let report = store.compact_once(CompactionLimits { min_rowsets: 1, ..limits }).await;
        assert_eq!(report.tablets_compacted, 3);
        assert_eq!(info(&store, 1).version_count, 2);
        // Old files are gone; a reopen reads the same.
        let files = temp.disk().read_dir(&temp.path("tablets/1/rowsets")).await.unwrap();
        assert_eq!(files.len(), 2, "{files:?}");
        drop(store);
        let store = open(&temp).await;
        for t in 1..=3 {
            assert_eq!(scan(&store, t, 8).await, before[t as usize - 1], "tablet {t} after reopen");
        }
        // New names never collide with the ones in use.
        load_and_publish(&store, 9, 1, 9, &[kv(1, "v9")]).await;
        load_and_publish(&store, 10, 1, 10, &[kv(2, "v10")]).await;
        let report = store.compact_once(CompactionLimits { min_rowsets: 1, ..limits }).await;
        assert_eq!(report.errors, Vec::<String>::new());
        assert_eq!(info(&store, 1).version, 10);
        temp.remove().await;
    }

    #[test]
    fn compaction_plans_the_oldest_consecutive_run() {
        let r = |start: u64, end: u64, size_bytes: u64| RowsetMeta {
            file_name: format!("{start}_{end}"),
            start_version: start,
            end_version: end,
            row_count: 1,
            size_bytes,
            txn_id: None,
            md5: None,
        };
        let limits = CompactionLimits { min_rowsets: 2, max_rowsets: 3, max_input_bytes: 100, max_tablets: 1 };
        let names =
            |plan: Option<Vec<RowsetMeta>>| plan.map(|p| p.into_iter().map(|r| r.file_name).collect::<Vec<_>>());
        // Too few rowsets.
        assert_eq!(names(plan_compaction(&[r(2, 2, 1), r(3, 3, 1)], limits)), None);
        // At most max_rowsets, never the newest.
        let rowsets = [r(2, 2, 1), r(3, 3, 1), r(4, 4, 1), r(5, 5, 1), r(6, 6, 1)];
        assert_eq!(names(plan_compaction(&rowsets, limits)), Some(vec!["2_2".into(), "3_3".into(), "4_4".into()]));
        // A big rowset is skipped, a gap ends a run.
        let rowsets = [r(2, 2, 200), r(3, 3, 1), r(5, 5, 1), r(6, 6, 1), r(7, 7, 1), r(8, 8, 1)];
        assert_eq!(names(plan_compaction(&rowsets, limits)), Some(vec!["5_5".into(), "6_6".into(), "7_7".into()]));
        let rowsets = [r(2, 2, 60), r(3, 3, 60), r(4, 4, 60), r(5, 5, 60)];
        assert_eq!(names(plan_compaction(&rowsets, limits)), None);
    }

    #[tokio::test]
    async fn a_clone_creating_its_tablet_is_not_a_stray_directory() {
        let source_temp = TempDisk::new("tablet-sweep-src").await;
        let target_temp = TempDisk::new("tablet-sweep-dst").await;
        let (source, target) = (open(&source_temp).await, open(&target_temp).await);
        let schema = kv_schema(KeysType::Duplicate);
        source.create_tablet(9, schema.clone(), 1).await.unwrap();
        load_and_publish(&source, 1, 9, 2, &[kv(1, "a"), kv(2, "b")]).await;
        // The backend's background pass sweeps stray tablet directories in the middle of a clone
        // that creates the tablet (its directory exists before the tablet does).
        struct SweptMidway<'a> {
            inner: FetchSnapshot,
            target: &'a TabletStore,
            swept: usize,
        }
        #[async_trait::async_trait]
        impl ChunkSource for SweptMidway<'_> {
            async fn next_chunk(&mut self) -> Result<Option<proto::FetchTabletChunk>, TabletError> {
                self.swept += self.target.sweep_stray_dirs().await;
                self.inner.next_chunk().await
            }
        }
        let inner = source.fetch(9, 2).await.unwrap();
        let mut swept = SweptMidway { inner, target: &target, swept: 0 };
        assert_eq!(target.clone_from(9, schema.clone(), 2, &mut swept).await.unwrap(), 2);
        assert_eq!(swept.swept, 0, "the clone's directory is not swept");
        assert_eq!(scan(&target, 9, 2).await, vec![kv(1, "a"), kv(2, "b")]);
        // A directory that is no tablet (a create cut half way) is swept, into the trash.
        target_temp.disk().create_dir_all(&target_temp.path("tablets/77/rowsets")).await.unwrap();
        assert_eq!(target.sweep_stray_dirs().await, 1);
        assert!(!exists(&target_temp, "tablets/77").await);
        assert_eq!(target.trash.tablets(), vec![77]);
    }

    #[tokio::test]
    async fn fetch_and_clone_copy_a_tablet_between_backends() {
        let source_temp = TempDisk::new("tablet-clone-src").await;
        let target_temp = TempDisk::new("tablet-clone-dst").await;
        let source = open(&source_temp).await;
        let target = open(&target_temp).await;
        let schema = kv_schema(KeysType::Unique);
        source.create_tablet(6, schema.clone(), 1).await.unwrap();
        // Enough data for several fetch chunks in one file.
        let big: Vec<Row> = (0..40_000).map(|i| kv(i, &format!("value number {i:>12}"))).collect();
        load_and_publish(&source, 1, 6, 2, &big).await;
        for v in 3..=7u64 {
            load_and_publish(&source, v as i64, 6, v, &[kv(v as i128, "newer")]).await;
        }
        let report = source.compact_once(CompactionLimits { min_rowsets: 3, ..CompactionLimits::default() }).await;
        assert_eq!(report.tablets_compacted, 1);
        let expected = scan(&source, 6, 7).await;

        // The target has a diverged copy: an old rowset of its own, and one published above the clone.
        target.create_tablet(6, schema.clone(), 1).await.unwrap();
        load_and_publish(&target, 50, 6, 2, &[kv(1, "diverged")]).await;
        load_and_publish(&target, 51, 6, 8, &[kv(2, "v8")]).await;

        // The source refuses versions it does not have.
        assert!(matches!(source.fetch(6, 8).await, Err(TabletError::FailedPrecondition(_))));

        let mut snapshot = source.fetch(6, 7).await.unwrap();
        assert_eq!(target.clone_from(6, schema.clone(), 7, &mut snapshot).await.unwrap(), 8);
        assert_eq!(scan(&target, 6, 7).await, expected);
        let mut with_v8 = expected.clone();
        with_v8[2] = kv(2, "v8");
        assert_eq!(scan(&target, 6, 8).await, with_v8);
        assert!(!exists(&target_temp, "tablets/6/rowsets/2_2_t50.rowset").await, "replaced files are removed");
        assert!(!exists(&target_temp, "tablets/6/clone_tmp").await);
        let listing = source_temp.disk().read_dir(&source_temp.path("tablets/6")).await.unwrap();
        assert!(listing.iter().all(|e| !e.name.starts_with(SNAPSHOT_PREFIX)), "snapshot removed: {listing:?}");

        // A clone creates a missing tablet, and survives a reopen.
        let mut snapshot = source.fetch(6, 7).await.unwrap();
        let fresh_temp = TempDisk::new("tablet-clone-new").await;
        let fresh = open(&fresh_temp).await;
        assert_eq!(fresh.clone_from(6, schema.clone(), 7, &mut snapshot).await.unwrap(), 7);
        drop(fresh);
        let fresh = open(&fresh_temp).await;
        assert_eq!(scan(&fresh, 6, 7).await, expected);
        assert_eq!(info(&fresh, 6).row_count, info(&source, 6).row_count);

        // A stream cut short or damaged in flight changes nothing.
        struct Tampered {
            inner: FetchSnapshot,
            chunks: usize,
            stop_after: usize,
            flip: bool,
        }
        #[async_trait::async_trait]
        impl ChunkSource for Tampered {
            async fn next_chunk(&mut self) -> Result<Option<proto::FetchTabletChunk>, TabletError> {
                if self.chunks == self.stop_after {
                    return Ok(None);
                }
                self.chunks += 1;
                let mut chunk = self.inner.next_chunk().await?;
                if let Some(c) = chunk.as_mut().filter(|_| self.flip) {
                    let middle = c.data.len() / 2;
                    c.data[middle] ^= 0x10;
                }
                Ok(chunk)
            }
        }
        for (stop_after, flip) in [(1, false), (usize::MAX, true)] {
            let inner = source.fetch(6, 7).await.unwrap();
            let mut tampered = Tampered { inner, chunks: 0, stop_after, flip };
            let err = target.clone_from(6, schema.clone(), 7, &mut tampered).await.unwrap_err();
            assert!(matches!(err, TabletError::Unavailable(_)), "{err}");
            tampered.inner.discard().await;
            assert_eq!(scan(&target, 6, 8).await, with_v8);
        }
        source_temp.remove().await;
        target_temp.remove().await;
        fresh_temp.remove().await;
    }
}
