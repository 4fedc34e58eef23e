use super::compaction::plan_compaction;
use super::*;
use crate::be::test_support::TempDisk;
use crate::schema::Column;

fn col(name: &str, ty: ColumnType, is_key: bool, aggregation: Option<Aggregation>) -> Column {
    Column { name: name.into(), ty, nullable: !is_key, default: None, comment: String::new(), aggregation, is_key }
}

fn kv_schema(keys_type: KeysType) -> Schema {
    Schema {
        columns: vec![col("k", ColumnType::BigInt, true, None), col("v", ColumnType::Varchar { len: 32 }, false, None)],
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
        store.write_rows(txn_id, tablet_id, seq as u32, &bytes, chunk.len() as u64, last).await.expect("chunk written");
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

/// A disk whose fsyncs of one directory fail while it is armed, as a failing disk's do (the
/// simulator's disks inject EIO into syncs, reads and writes, never into renames).
struct FailingDirSync {
    inner: Arc<dyn Disk>,
    dir: PathBuf,
    armed: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl Disk for FailingDirSync {
    async fn create_dir_all(&self, path: &Path) -> disk::DiskResult<()> {
        self.inner.create_dir_all(path).await
    }
    async fn create_new(&self, path: &Path) -> disk::DiskResult<()> {
        self.inner.create_new(path).await
    }
    async fn write_at(&self, path: &Path, offset_bytes: u64, data: &[u8]) -> disk::DiskResult<()> {
        self.inner.write_at(path, offset_bytes, data).await
    }
    async fn append(&self, path: &Path, data: &[u8]) -> disk::DiskResult<u64> {
        self.inner.append(path, data).await
    }
    async fn read_at(&self, path: &Path, offset_bytes: u64, len_bytes: u64) -> disk::DiskResult<Vec<u8>> {
        self.inner.read_at(path, offset_bytes, len_bytes).await
    }
    async fn read_all(&self, path: &Path) -> disk::DiskResult<Vec<u8>> {
        self.inner.read_all(path).await
    }
    async fn truncate(&self, path: &Path, len_bytes: u64) -> disk::DiskResult<()> {
        self.inner.truncate(path, len_bytes).await
    }
    async fn sync(&self, path: &Path) -> disk::DiskResult<()> {
        self.inner.sync(path).await
    }
    async fn sync_dir(&self, dir: &Path) -> disk::DiskResult<()> {
        if dir == self.dir.as_path() && self.armed.load(Ordering::Relaxed) {
            return Err(DiskError::Io { path: dir.to_path_buf(), detail: "injected".into() });
        }
        self.inner.sync_dir(dir).await
    }
    async fn rename(&self, from: &Path, to: &Path) -> disk::DiskResult<()> {
        self.inner.rename(from, to).await
    }
    async fn hard_link(&self, original: &Path, link: &Path) -> disk::DiskResult<()> {
        self.inner.hard_link(original, link).await
    }
    async fn remove_file(&self, path: &Path) -> disk::DiskResult<()> {
        self.inner.remove_file(path).await
    }
    async fn remove_dir_all(&self, path: &Path) -> disk::DiskResult<()> {
        self.inner.remove_dir_all(path).await
    }
    async fn read_dir(&self, path: &Path) -> disk::DiskResult<Vec<disk::DirEntry>> {
        self.inner.read_dir(path).await
    }
    async fn metadata(&self, path: &Path) -> disk::DiskResult<Option<disk::Metadata>> {
        self.inner.metadata(path).await
    }
    async fn available_bytes(&self) -> disk::DiskResult<u64> {
        self.inner.available_bytes().await
    }
    async fn capacity_bytes(&self) -> disk::DiskResult<u64> {
        self.inner.capacity_bytes().await
    }
    async fn lock_dir(&self, dir: &Path) -> disk::DiskResult<Box<dyn disk::DirLock>> {
        self.inner.lock_dir(dir).await
    }
}

#[tokio::test]
async fn a_drop_whose_sync_fails_after_its_rename_still_forgets_the_tablet() {
    // Seeds 6466 and 9062: a drop renamed the tablet into the trash, a sync after the rename
    // failed, and the tablet stayed in memory with no directory; every later drop, and the
    // restore that replaced the stale tablet, failed with NotFound until a restart.
    let temp = TempDisk::new("tablet-drop-unsynced").await;
    let failing = Arc::new(FailingDirSync {
        inner: temp.disk(),
        dir: temp.path("trash"),
        armed: std::sync::atomic::AtomicBool::new(false),
    });
    let store = TabletStore::open(failing.clone(), temp.root()).await.expect("opens");
    let schema = kv_schema(KeysType::Duplicate);
    store.create_tablet(20, schema.clone(), 1).await.unwrap();
    load(&store, 7, 20, &[kv(1, "x")], 1).await;

    failing.armed.store(true, Ordering::Relaxed);
    let err = store.drop_tablet(20).await.expect_err("the trash's sync failed");
    failing.armed.store(false, Ordering::Relaxed);
    assert!(matches!(err, TabletError::Disk { .. }), "{err}");
    // The rename happened: the directory is in the trash, and counted there ...
    assert!(!exists(&temp, "tablets/20").await);
    assert_eq!(store.trash.tablets(), vec![20]);
    // ... and memory agrees: no tablet, no pending load, and a second drop has nothing to do.
    assert!(matches!(store.tablet_meta(20).await, Err(TabletError::NotFound(_))));
    assert!(store.tablet_infos().is_empty());
    assert!(locked(&store.pending).is_empty());
    store.drop_tablet(20).await.expect("nothing left to drop");
    // A restore given the id again creates its tablet afresh.
    store.create_restore_tablet(20, schema, 5, 77).await.expect("the restore creates its tablet");
    let meta = store.tablet_meta(20).await.unwrap();
    assert_eq!((meta.restore_job_id, meta.base_version, meta.restore_pending), (Some(77), 5, true));
    assert!(exists(&temp, "tablets/20/meta.json").await);
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
        let agg =
            vec![Value::Int(i % 2), Value::Int(i), Value::Int(-i), Value::Int(i), Value::Null, Value::Decimal(i, 2)];
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
    let names = |plan: Option<Vec<RowsetMeta>>| plan.map(|p| p.into_iter().map(|r| r.file_name).collect::<Vec<_>>());
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
