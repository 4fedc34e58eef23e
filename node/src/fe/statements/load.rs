//! Loads (INSERT) as transactions. The FE routes each row to its tablet (range partition, then
//! hash bucket), encodes it into that tablet's buffer, streams each tablet's rows to each of its
//! healthy replicas as chunks of a pending rowset, and commits when every tablet has a majority
//! of replicas holding a sealed rowset:
//!
//! 1. write: a tablet's buffer goes out as a chunk once it holds [`CHUNK_BYTES`] (so a chunk is
//!    never bigger by more than one row), and every buffer once all of them hold
//!    [`MAX_BUFFERED_BYTES`]; the chunks for one backend travel
//!    together in `WriteRowsBatch` calls of at most [`BATCH_BYTES`] and [`BATCH_CHUNKS`], far
//!    below the gRPC message limit whatever the rows' width or the tablets' number. The last
//!    chunk seals (the BE syncs it). Every tablet of a written partition gets a rowset, empty if
//!    no row went to it. A replica that fails is dropped from this load; if a tablet falls below
//!    a majority the load aborts.
//! 2. commit: one journal record gives each written partition its next version. This is the
//!    point of no return: after it the load is acknowledged even if publishing is slow.
//! 3. publish: each sealed replica makes the rowset its new version (`PublishBatch` per
//!    backend). Replicas that miss it are marked failed and caught up by repair (`repair.rs`).
//!
//! A load that fails before the commit changes nothing a query can see: its pending rowsets are
//! aborted, or never published if the abort does not reach a backend.
//!
//! Concurrent loads into one table each take a partition's next version at their commit; a
//! replica is healthy for a load if it is alive, missed no version, and holds the partition's
//! visible version, or every version before the oldest one still being published (a replica
//! can publish v+2 before v+1).

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::error::SqlError;
use crate::fe::catalog::keys::value_key;
use crate::fe::catalog::lookup::{database_of, find_table};
use crate::fe::catalog::{CatalogEdit, PartitionVersion, ReplicaRecord, TableRecord, TableRef};
use crate::fe::cluster::agent::{self, AgentError};
use crate::fe::session::{QueryOutput, Session};
use crate::fe::{Fe, FeEdit};
use crate::query::{self, InputColumn};
use crate::rpc::proto;
use crate::schema::{ColumnType, MAX_ROW_BYTES, Row, Value};
use crate::sql::ast::{Expr, FromClause, Insert, InsertSource};

/// A tablet's buffered rows go out as one chunk once they hold this many encoded bytes.
pub const CHUNK_BYTES: usize = 1 << 20;
/// Encoded rows buffered across all tablets that send every buffer.
const MAX_BUFFERED_BYTES: usize = 64 << 20;
/// The most row bytes one WriteRowsBatch call holds (a single chunk may be bigger by one row).
pub const BATCH_BYTES: usize = 4 << 20;
/// The most tablets one WriteRowsBatch or PublishBatch call names.
pub const BATCH_CHUNKS: usize = 2_048;
/// Batch calls in flight to one backend.
const BATCHES_IN_FLIGHT_PER_BACKEND: usize = 2;
/// `numbers("number" = N)` yields at most this many rows.
pub const MAX_NUMBERS_ROWS: u64 = 10_000_000_000;

/// One replica a load writes to.
#[derive(Debug, Clone)]
struct ReplicaTarget {
    backend_id: i64,
    addr: String,
    /// Still in the load (every chunk so far succeeded).
    ok: bool,
    error: String,
}

/// One tablet a load writes to.
#[derive(Debug)]
struct TabletLoad {
    partition_id: i64,
    /// Encoded rows not sent yet.
    buffer: Vec<u8>,
    buffered_rows: u64,
    /// Chunks sent so far.
    seq: u32,
    replicas: Vec<ReplicaTarget>,
}

/// A chunk on its way to the replicas of its tablet.
struct Outgoing {
    chunk: Arc<proto::TabletChunk>,
    /// Index of the replica in its tablet's list.
    replica: usize,
}

/// A load in progress.
struct LoadTxn<'a> {
    fe: &'a Fe,
    txn_id: i64,
    at: TableRef,
    table: TableRecord,
    majority: usize,
    tablets: BTreeMap<i64, TabletLoad>,
    /// Round-robin position per partition for RANDOM distribution.
    random_next: BTreeMap<i64, usize>,
    partition_column: Option<usize>,
    hash_columns: Vec<usize>,
    /// Bytes in every tablet's buffer.
    buffered_bytes: usize,
    rows_total: u64,
    /// Backend addresses, as journaled when the load began.
    addrs: BTreeMap<i64, String>,
}

/// Of the backends a load wrote a tablet to, those that still count at its commit: they still
/// hold a replica of the tablet (`now`: its replicas in the catalog now) and `counts` (a member
/// missing no version).
fn still_held(written: &[i64], now: Option<&[ReplicaRecord]>, counts: impl Fn(i64) -> bool) -> Vec<i64> {
    let now = now.unwrap_or_default();
    written.iter().copied().filter(|b| counts(*b) && now.iter().any(|r| r.backend_id == *b)).collect()
}

/// Every tablet of `table` with its replicas, by tablet id.
fn tablet_replicas(table: Option<&TableRecord>) -> BTreeMap<i64, &[ReplicaRecord]> {
    table.iter().flat_map(|t| &t.partitions).flat_map(|p| &p.tablets).map(|t| (t.id, t.replicas.as_slice())).collect()
}

/// A stable bucket hash of a row's distribution columns: the same key always lands in the same
/// bucket (UNIQUE and AGGREGATE merges depend on it).
fn bucket_hash(row: &Row, columns: &[usize]) -> u32 {
    let mut crc = 0u32;
    for &i in columns {
        crc = match &row[i] {
            Value::Null => crc32c::crc32c_append(crc, &[0xff]),
            Value::Bool(b) => crc32c::crc32c_append(crc, &[u8::from(*b)]),
            Value::Int(v) => crc32c::crc32c_append(crc, &v.to_le_bytes()),
            Value::Float(f) => crc32c::crc32c_append(crc, &f.to_bits().to_le_bytes()),
            Value::Decimal(v, s) => crc32c::crc32c_append(crc32c::crc32c_append(crc, &v.to_le_bytes()), &[*s]),
            Value::Date(d) => crc32c::crc32c_append(crc, &d.to_le_bytes()),
            Value::DateTime(d) => crc32c::crc32c_append(crc, &d.to_le_bytes()),
            Value::Str(s) => crc32c::crc32c_append(crc, s.as_bytes()),
        };
    }
    crc
}

/// Groups items by backend, then cuts each backend's list into batches no bigger than
/// `max_bytes` (by `bytes_of`, one item always fits) and `max_items`.
fn cut_batches<T>(
    by_backend: BTreeMap<i64, Vec<T>>,
    bytes_of: impl Fn(&T) -> usize,
    max_bytes: usize,
    max_items: usize,
) -> BTreeMap<i64, Vec<Vec<T>>> {
    assert!(max_items > 0, "a batch holds at least one item");
    by_backend
        .into_iter()
        .map(|(backend, items)| {
            let mut batches: Vec<Vec<T>> = Vec::new();
            let mut bytes = 0usize;
            for item in items {
                let size = bytes_of(&item);
                let full =
                    batches.last().is_none_or(|b| b.len() >= max_items || (!b.is_empty() && bytes + size > max_bytes));
                if full {
                    batches.push(Vec::new());
                    bytes = 0;
                }
                bytes += size;
                batches.last_mut().expect("pushed above").push(item);
            }
            (backend, batches)
        })
        .collect()
}

/// One call per batch (`call` sends it to the backend's address and gives the batch back with
/// the answer), at most [`BATCHES_IN_FLIGHT_PER_BACKEND`] at a time for one backend and every
/// backend at once. Returns every part with its backend and its own outcome.
async fn call_batches<T, F, Fut>(
    addrs: &BTreeMap<i64, String>,
    batches: BTreeMap<i64, Vec<Vec<T>>>,
    call: F,
) -> Vec<(i64, T, Result<u64, AgentError>)>
where
    F: Fn(String, Vec<T>) -> Fut,
    Fut: std::future::Future<Output = (Vec<T>, Result<Vec<proto::TaskResult>, AgentError>)>,
{
    use futures_util::StreamExt;
    let call = &call;
    let per_backend = batches.into_iter().map(|(backend, batches)| {
        let addr = addrs.get(&backend).cloned().unwrap_or_default();
        async move {
            let answers: Vec<_> = futures_util::stream::iter(batches)
                .map(|batch| call(addr.clone(), batch))
                .buffered(BATCHES_IN_FLIGHT_PER_BACKEND)
                .collect()
                .await;
            let mut parts = Vec::new();
            for (batch, answer) in answers {
                for (i, part) in batch.into_iter().enumerate() {
                    let outcome = match &answer {
                        Err(e) => Err(e.clone()),
                        Ok(results) => agent::task_outcome(&addr, &results[i]),
                    };
                    parts.push((backend, part, outcome));
                }
            }
            parts
        }
    });
    futures_util::future::join_all(per_backend).await.into_iter().flatten().collect()
}

impl<'a> LoadTxn<'a> {
    fn new(fe: &'a Fe, txn_id: i64, at: TableRef, table: TableRecord, addrs: BTreeMap<i64, String>) -> Self {
        let partition_column = table.partition_column.as_ref().and_then(|c| table.schema.column_index(c));
        let hash_columns =
            table.distribution.hash_columns.iter().filter_map(|c| table.schema.column_index(c)).collect();
        let majority = usize::from(table.replication_num) / 2 + 1;
        LoadTxn {
            fe,
            txn_id,
            at,
            table,
            majority,
            tablets: BTreeMap::new(),
            random_next: BTreeMap::new(),
            partition_column,
            hash_columns,
            buffered_bytes: 0,
            rows_total: 0,
            addrs,
        }
    }

    /// The partition and tablet a row goes to.
    fn route(&mut self, row: &Row) -> Result<(usize, usize), SqlError> {
        let partition = match self.partition_column {
            None => 0,
            Some(column) => {
                let key = value_key(&row[column]);
                let found = self.table.partitions.iter().position(|p| match (p.range, key) {
                    (Some(range), Some(k)) => range.contains(k),
                    // NULL goes to the partition that starts at MIN, as in Doris.
                    (Some(range), None) => range.lower.is_none(),
                    (None, _) => true,
                });
                found.ok_or_else(|| {
                    SqlError::doris(format!(
                        "Insert has filtered data: no partition of table {} holds {} = {}; add one with ALTER TABLE \
                         {} ADD PARTITION",
                        self.table.name, self.table.schema.columns[column].name, row[column], self.table.name
                    ))
                })?
            }
        };
        let p = &self.table.partitions[partition];
        let buckets = p.tablets.len();
        assert!(buckets > 0, "a partition has at least one tablet");
        let bucket = if self.hash_columns.is_empty() {
            let next = self.random_next.entry(p.id).or_default();
            *next = (*next + 1) % buckets;
            *next
        } else {
            bucket_hash(row, &self.hash_columns) as usize % buckets
        };
        Ok((partition, bucket))
    }

    /// The replicas of a tablet this load writes: alive, missing no version, and at the
    /// partition's visible version but for versions still being published.
    fn open_tablet(&mut self, partition: usize, bucket: usize) -> Result<i64, SqlError> {
        let p = &self.table.partitions[partition];
        let tablet = &p.tablets[bucket];
        if self.tablets.contains_key(&tablet.id) {
            return Ok(tablet.id);
        }
        let health = self.fe.health_snapshot();
        let publishing = self.fe.loads_publishing(p.id);
        let replicas = self.fe.replicas();
        let mut targets = Vec::new();
        let mut why_not = Vec::new();
        for r in &tablet.replicas {
            let alive = health.backends.get(&r.backend_id).is_some_and(|h| h.alive);
            let state = replicas.get(tablet.id, r.backend_id);
            let addr = self.addrs.get(&r.backend_id);
            let reason = if !alive || addr.is_none() {
                Some(format!("backend {} is not alive", r.backend_id))
            } else if state.last_failed_version != 0 {
                Some(format!(
                    "the replica on backend {} missed version {} (repair is catching it up)",
                    r.backend_id, state.last_failed_version
                ))
            } else if state.version < p.visible_version && publishing.is_none_or(|oldest| state.version + 1 < oldest) {
                Some(format!(
                    "the replica on backend {} is at version {} of {} (repair is catching it up)",
                    r.backend_id, state.version, p.visible_version
                ))
            } else {
                None
            };
            match (reason, addr) {
                (None, Some(addr)) => targets.push(ReplicaTarget {
                    backend_id: r.backend_id,
                    addr: addr.clone(),
                    ok: true,
                    error: String::new(),
                }),
                (reason, _) => why_not.push(reason.unwrap_or_default()),
            }
        }
        drop(replicas);
        if targets.len() < self.majority {
            return Err(SqlError::doris(format!(
                "tablet {} of partition {} has {} of {} replicas able to take a load, and a load needs {}: {}. Retry \
                 when they are back (SHOW BACKENDS, SHOW TABLETS)",
                tablet.id,
                p.name,
                targets.len(),
                self.table.replication_num,
                self.majority,
                why_not.join("; ")
            )));
        }
        self.tablets.insert(
            tablet.id,
            TabletLoad { partition_id: p.id, buffer: Vec::new(), buffered_rows: 0, seq: 0, replicas: targets },
        );
        Ok(tablet.id)
    }

    /// Adds row `row_number` (from 1) of the statement.
    async fn add(&mut self, row: Row, row_number: u64) -> Result<(), SqlError> {
        let (partition, bucket) = self.route(&row)?;
        let tablet_id = self.open_tablet(partition, bucket)?;
        let load = self.tablets.get_mut(&tablet_id).expect("opened above");
        let before = load.buffer.len();
        // Rows were coerced to the schema, so encoding cannot fail; if it does, that is a bug
        // in coercion, reported as an error rather than a crash.
        crate::row_codec::encode_row(&self.table.schema, &row, &mut load.buffer)
            .map_err(|e| SqlError::doris(format!("internal error encoding row {row_number}: {e}")))?;
        let row_bytes = load.buffer.len() - before;
        if row_bytes > MAX_ROW_BYTES {
            load.buffer.truncate(before);
            return Err(SqlError::doris(format!(
                "row {row_number} is {row_bytes} bytes, more than the {MAX_ROW_BYTES} bytes a row may hold; nothing \
                 was loaded"
            )));
        }
        load.buffered_rows += 1;
        self.rows_total += 1;
        self.buffered_bytes += row_bytes;
        let full = load.buffer.len() >= CHUNK_BYTES;
        if self.buffered_bytes >= MAX_BUFFERED_BYTES {
            let all: Vec<i64> = self.tablets.iter().filter(|(_, t)| t.buffered_rows > 0).map(|(id, _)| *id).collect();
            self.flush(all, false).await?;
        } else if full {
            self.flush(vec![tablet_id], false).await?;
        }
        Ok(())
    }

    /// Sends the buffered rows of `tablet_ids` as one chunk each (with `last`, the chunk that
    /// seals the tablet's rowset), in batches per backend.
    async fn flush(&mut self, tablet_ids: Vec<i64>, last: bool) -> Result<(), SqlError> {
        let mut by_backend: BTreeMap<i64, Vec<Outgoing>> = BTreeMap::new();
        for tablet_id in &tablet_ids {
            let load = self.tablets.get_mut(tablet_id).expect("a tablet of this load");
            let rows = std::mem::take(&mut load.buffer);
            self.buffered_bytes -= rows.len();
            debug_assert!(rows.len() < CHUNK_BYTES + MAX_ROW_BYTES, "a chunk holds at most one row past a chunk");
            let chunk = Arc::new(proto::TabletChunk {
                tablet_id: *tablet_id,
                seq: load.seq,
                rows,
                row_count: std::mem::take(&mut load.buffered_rows),
                last,
            });
            load.seq += 1;
            for (replica, target) in load.replicas.iter().enumerate().filter(|(_, r)| r.ok) {
                by_backend.entry(target.backend_id).or_default().push(Outgoing { chunk: chunk.clone(), replica });
            }
        }
        let batches = cut_batches(by_backend, |o| o.chunk.rows.len(), BATCH_BYTES, BATCH_CHUNKS);
        let (fe, txn_id) = (self.fe, self.txn_id);
        let parts = call_batches(&self.addrs, batches, |addr, batch| async move {
            let request =
                proto::WriteRowsBatchRequest { txn_id, chunks: batch.iter().map(|o| (*o.chunk).clone()).collect() };
            let outcome = fe.agent.write_rows_batch(&addr, request).await;
            (batch, outcome)
        })
        .await;
        for (_, item, outcome) in parts {
            if let Err(e) = outcome {
                let load = self.tablets.get_mut(&item.chunk.tablet_id).expect("sent above");
                load.replicas[item.replica].ok = false;
                load.replicas[item.replica].error = e.to_string();
            }
        }
        for tablet_id in &tablet_ids {
            let load = &self.tablets[tablet_id];
            let ok = load.replicas.iter().filter(|r| r.ok).count();
            if ok < self.majority {
                let errors: Vec<&str> = load.replicas.iter().filter(|r| !r.ok).map(|r| r.error.as_str()).collect();
                return Err(SqlError::doris(format!(
                    "load failed: tablet {tablet_id} has {ok} of {} replicas written, fewer than the {} needed ({}); \
                     nothing was loaded, retry",
                    self.table.replication_num,
                    self.majority,
                    errors.join("; ")
                )));
            }
        }
        Ok(())
    }

    /// Forgets the txn on every backend it wrote to (best effort; unpublished rowsets are never
    /// read either way).
    async fn abort(&self) {
        let mut addrs: Vec<&str> =
            self.tablets.values().flat_map(|t| t.replicas.iter().map(|r| r.addr.as_str())).collect();
        addrs.sort_unstable();
        addrs.dedup();
        for addr in addrs {
            if let Err(e) = self.fe.agent.abort_txn(addr, self.txn_id).await {
                tracing::info!(txn = self.txn_id, error = %e, "fe: abort did not reach a backend");
            }
        }
    }

    /// Seals, commits and publishes. Returns the rows loaded.
    async fn finish(mut self) -> Result<u64, SqlError> {
        if self.rows_total == 0 {
            return Ok(0);
        }
        // Every tablet of a partition the load wrote gets the new version, so the tablets
        // without rows of this load get an empty rowset.
        let mut touched: Vec<i64> = self.tablets.values().map(|t| t.partition_id).collect();
        touched.sort_unstable();
        touched.dedup();
        // The simulator can switch this off to show its checks catch the bug (replicas of tablets
        // without rows would never reach the partition's version).
        if palo_buggify::injected_bug(palo_buggify::Bug::LoadSkipsEmptyRowsets) {
            touched.clear();
        }
        for partition_id in touched {
            let index = self.table.partitions.iter().position(|p| p.id == partition_id).expect("a routed partition");
            for bucket in 0..self.table.partitions[index].tablets.len() {
                if let Err(e) = self.open_tablet(index, bucket) {
                    self.abort().await;
                    return Err(e);
                }
            }
        }
        let all: Vec<i64> = self.tablets.keys().copied().collect();
        if let Err(e) = self.flush(all, true).await {
            self.abort().await;
            if palo_buggify::injected_bug(palo_buggify::Bug::LoadAcksFailedWrites) {
                return Ok(self.rows_total);
            }
            return Err(e);
        }
        // Commit: the touched partitions get their next versions, in one journal record.
        let (versions, _publishing) = {
            let mut durable = self.fe.durable.lock().await;
            let current = durable.state.catalog.table(self.at).filter(|t| t.id == self.table.id).cloned();
            let mut versions = Vec::new();
            let mut touched: Vec<i64> = self.tablets.values().map(|t| t.partition_id).collect();
            touched.sort_unstable();
            touched.dedup();
            // A restore that began meanwhile holds the table; one that finished meanwhile may
            // have switched a partition to new tablets: either way this load's rowsets are not
            // the partition's next version.
            if let Err(e) = crate::fe::jobs::holds::check_load_allowed(&durable.state, self.at, &self.table.name) {
                drop(durable);
                self.abort().await;
                return Err(e);
            }
            for partition_id in &touched {
                let now = current.as_ref().and_then(|t| t.partitions.iter().find(|p| p.id == *partition_id));
                let written = self.table.partitions.iter().find(|p| p.id == *partition_id);
                let same_tablets = |p: &&crate::fe::catalog::PartitionRecord| {
                    written.is_some_and(|w| w.tablets.iter().map(|t| t.id).eq(p.tablets.iter().map(|t| t.id)))
                };
                let Some(p) = now.filter(same_tablets) else {
                    drop(durable);
                    self.abort().await;
                    return Err(SqlError::doris(format!(
                        "table {} changed during the load (a partition was dropped, truncated or restored); \
                         nothing was loaded, retry",
                        self.table.name
                    )));
                };
                versions.push(PartitionVersion { partition_id: *partition_id, version: p.visible_version + 1 });
            }
            // The majority must still hold at the commit: a replica written while its backend was a
            // member does not count once the backend was dropped or the replica moved elsewhere
            // (repair would fill the new replica from the others, and none may hold this version).
            let now = tablet_replicas(current.as_ref());
            if let Err(e) = self.check_majority_at_commit(&durable.state, &now) {
                drop(durable);
                self.abort().await;
                return Err(e);
            }
            let edit = CatalogEdit::CommitTxn {
                at: self.at,
                txn_id: self.txn_id,
                versions: versions.clone(),
                time_ms: crate::clock::now_ms(),
            };
            if let Err(e) = self.fe.commit_locked(&mut durable, FeEdit::Catalog { edit }).await {
                drop(durable);
                self.abort().await;
                return Err(e);
            }
            // Marked and counted before the lock goes, so no load sees the new versions without
            // knowing which replicas miss them and which are still publishing them.
            let version_of: BTreeMap<i64, u64> = versions.iter().map(|v| (v.partition_id, v.version)).collect();
            self.mark_missed_at_commit(&now, &version_of);
            let publishing = self.fe.publishing(&versions);
            (versions, publishing)
        };
        let version_of: BTreeMap<i64, u64> = versions.iter().map(|v| (v.partition_id, v.version)).collect();
        self.publish(&version_of).await;
        Ok(self.rows_total)
    }

    /// Every tablet keeps a majority of written replicas that can reach the new version: on
    /// member backends, still replicas of the tablet, and missing no earlier version (a replica
    /// that a concurrent load's commit marked as missing its version cannot publish this one).
    /// Called under the journal lock, just before the commit.
    fn check_majority_at_commit(
        &self,
        state: &crate::fe::FeState,
        now: &BTreeMap<i64, &[ReplicaRecord]>,
    ) -> Result<(), SqlError> {
        let replicas = self.fe.replicas();
        for (tablet_id, load) in &self.tablets {
            let counts = |backend_id: i64| {
                state.membership.backends.contains_key(&backend_id)
                    && replicas.get(*tablet_id, backend_id).last_failed_version == 0
            };
            let written: Vec<i64> = load.replicas.iter().filter(|r| r.ok).map(|r| r.backend_id).collect();
            let held = still_held(&written, now.get(tablet_id).copied(), counts);
            if held.len() < self.majority {
                let gone: Vec<String> = written.iter().filter(|b| !held.contains(b)).map(|b| b.to_string()).collect();
                return Err(SqlError::doris(format!(
                    "load failed: tablet {tablet_id} has {} written replicas left of the {} needed: backend(s) {} \
                     left the cluster, gave up the replica or missed an earlier version during the load; nothing \
                     was loaded, retry",
                    held.len(),
                    self.majority,
                    gone.join(", ")
                )));
            }
        }
        Ok(())
    }

    /// At the commit, under the journal lock: every replica of a written tablet that did not seal
    /// this load's rowset misses the new version from now on, so no later load counts it as able
    /// to reach the versions after it.
    fn mark_missed_at_commit(&self, now: &BTreeMap<i64, &[ReplicaRecord]>, version_of: &BTreeMap<i64, u64>) {
        let now_ms = crate::clock::now_ms();
        let mut replicas = self.fe.replicas();
        for (tablet_id, load) in &self.tablets {
            let version = version_of[&load.partition_id];
            for r in now.get(tablet_id).copied().unwrap_or_default() {
                if !load.replicas.iter().any(|w| w.ok && w.backend_id == r.backend_id) {
                    replicas.failed(*tablet_id, r.backend_id, version, now_ms);
                }
            }
        }
    }

    /// Publish: every replica that sealed its rowset, in batches per backend.
    async fn publish(&self, version_of: &BTreeMap<i64, u64>) {
        let now_ms = crate::clock::now_ms();
        let mut by_backend: BTreeMap<i64, Vec<(i64, u64)>> = BTreeMap::new();
        for (tablet_id, load) in &self.tablets {
            let version = version_of[&load.partition_id];
            for r in &load.replicas {
                // The others were marked as missing it at the commit.
                if r.ok {
                    by_backend.entry(r.backend_id).or_default().push((*tablet_id, version));
                }
            }
        }
        let batches = cut_batches(by_backend, |_| 0, usize::MAX, BATCH_CHUNKS);
        let (fe, txn_id) = (self.fe, self.txn_id);
        let parts = call_batches(&self.addrs, batches, |addr, batch: Vec<(i64, u64)>| async move {
            let tablets =
                batch.iter().map(|&(tablet_id, version)| proto::TabletVersion { tablet_id, version }).collect();
            let outcome = fe.agent.publish_batch(&addr, proto::PublishBatchRequest { txn_id, tablets }).await;
            (batch, outcome)
        })
        .await;
        let mut replicas = self.fe.replicas();
        for (backend_id, (tablet_id, version), outcome) in parts {
            match outcome {
                Ok(v) => replicas.reached(tablet_id, backend_id, v),
                Err(e) => {
                    tracing::info!(txn = self.txn_id, tablet_id, backend_id, error = %e, "fe: publish failed; repair will retry");
                    replicas.failed(tablet_id, backend_id, version, now_ms);
                }
            }
        }
    }
}

/// While alive, counts a committed load's versions as still being published.
pub(crate) struct Publishing<'a> {
    fe: &'a Fe,
    versions: Vec<PartitionVersion>,
}

impl Drop for Publishing<'_> {
    fn drop(&mut self) {
        let mut publishing = self.fe.publishing_locked();
        for v in &self.versions {
            let versions = publishing.get_mut(&v.partition_id).expect("a publishing partition is counted");
            assert!(versions.remove(&v.version), "version {} of partition {} counted once", v.version, v.partition_id);
            if versions.is_empty() {
                publishing.remove(&v.partition_id);
            }
        }
    }
}

impl Fe {
    /// Counts the versions a load just committed as being published until the guard goes.
    fn publishing(&self, versions: &[PartitionVersion]) -> Publishing<'_> {
        let mut publishing = self.publishing_locked();
        for v in versions {
            assert!(publishing.entry(v.partition_id).or_default().insert(v.version), "a version committed twice");
        }
        Publishing { fe: self, versions: versions.to_vec() }
    }

    /// The oldest version of `partition_id` committed and still being published.
    fn loads_publishing(&self, partition_id: i64) -> Option<u64> {
        self.publishing_locked().get(&partition_id).and_then(|v| v.first().copied())
    }
}

impl Fe {
    pub(crate) async fn insert(&self, session: &Session, insert: Insert) -> Result<QueryOutput, SqlError> {
        let db = database_of(session, &insert.table)?;
        // The table and the backends only: a copy of the whole state would cost O(tablets).
        let (at, table, addrs) = {
            let durable = self.durable.lock().await;
            let state = &durable.state;
            let (at, table) = find_table(state, &db, &insert.table.table)?;
            crate::fe::jobs::holds::check_load_allowed(state, at, &table.name)?;
            let addrs: BTreeMap<i64, String> = state.membership.backends.values().map(|b| (b.id, b.addr())).collect();
            (at, table.clone(), addrs)
        };
        let schema = &table.schema;
        let targets = insert_targets(&table, insert.columns.as_deref())?;
        let template = row_template(schema, &targets)?;
        let build = |values: Vec<Value>, row_number: u64| -> Result<Row, SqlError> {
            if values.len() != targets.len() {
                return Err(SqlError::new(
                    1136,
                    "21S01",
                    format!(
                        "Column count doesn't match value count at row {row_number}: {} columns, {} values",
                        targets.len(),
                        values.len()
                    ),
                ));
            }
            let mut row = template.clone();
            for (value, &i) in values.into_iter().zip(&targets) {
                row[i] = query::coerce(value, &schema.columns[i])
                    .map_err(|e| SqlError::doris(format!("row {row_number}: {e}")))?;
            }
            Ok(row)
        };

        let txn_id = self.next_txn_id().await?;
        let mut load = LoadTxn::new(self, txn_id, at, table.clone(), addrs);
        let fed: Result<(), SqlError> = async {
            match &insert.source {
                InsertSource::Values(rows) => {
                    for (n, exprs) in rows.iter().enumerate() {
                        let mut values = Vec::with_capacity(exprs.len());
                        for (i, expr) in exprs.iter().enumerate() {
                            values.push(match (expr, targets.get(i)) {
                                // `DEFAULT` as a value: the column's default.
                                (Expr::Default, Some(&column)) => {
                                    query::default_value(&schema.columns[column]).map_err(SqlError::doris)?
                                }
                                _ => query::eval_constant(expr)?,
                            });
                        }
                        load.add(build(values, n as u64 + 1)?, n as u64 + 1).await?;
                    }
                }
                InsertSource::Select(select) => match &select.from {
                    Some(FromClause::Numbers { count, .. }) => {
                        if *count > MAX_NUMBERS_ROWS {
                            return Err(SqlError::doris(format!("numbers() yields at most {MAX_NUMBERS_ROWS} rows")));
                        }
                        let input = [InputColumn { name: "number".into(), ty: ColumnType::BigInt }];
                        let plan = query::plan(select, &input)?;
                        if !plan.is_row_by_row() {
                            let rows = plan.execute((0..*count).map(|n| vec![Value::Int(i128::from(n))]))?;
                            for (n, values) in rows.into_iter().enumerate() {
                                load.add(build(values, n as u64 + 1)?, n as u64 + 1).await?;
                            }
                            return Ok(());
                        }
                        let skip = plan.offset();
                        let take = plan.limit().unwrap_or(u64::MAX);
                        let mut produced = 0u64;
                        let mut input_row = vec![Value::Null];
                        for n in 0..*count {
                            if produced >= skip.saturating_add(take) {
                                break;
                            }
                            input_row[0] = Value::Int(i128::from(n));
                            if let Some(values) = plan.filter_project(&input_row)? {
                                produced += 1;
                                if produced > skip {
                                    load.add(build(values, produced - skip)?, produced - skip).await?;
                                }
                            }
                        }
                    }
                    _ => {
                        let (_, rows) = self.run_select(session, select).await?;
                        for (n, values) in rows.into_iter().enumerate() {
                            load.add(build(values, n as u64 + 1)?, n as u64 + 1).await?;
                        }
                    }
                },
            }
            Ok(())
        }
        .await;
        if let Err(e) = fed {
            load.abort().await;
            return Err(e);
        }
        let rows = load.finish().await?;
        Ok(QueryOutput::Ok { affected_rows: rows })
    }
}

/// Which table column each inserted value fills: the listed columns, or all in order.
fn insert_targets(table: &TableRecord, columns: Option<&[String]>) -> Result<Vec<usize>, SqlError> {
    let schema = &table.schema;
    let Some(names) = columns else {
        return Ok((0..schema.columns.len()).collect());
    };
    let mut targets = Vec::with_capacity(names.len());
    for name in names {
        let i = schema.column_index(name).ok_or_else(|| {
            SqlError::new(1054, "42S22", format!("Unknown column '{name}' in 'table {}'", table.name))
        })?;
        if targets.contains(&i) {
            return Err(SqlError::new(1110, "42000", format!("Column '{name}' specified twice")));
        }
        targets.push(i);
    }
    Ok(targets)
}

/// A row with every column not listed at its default (checked before anything is sent).
fn row_template(schema: &crate::schema::Schema, targets: &[usize]) -> Result<Row, SqlError> {
    let mut template: Row = Vec::with_capacity(schema.columns.len());
    for (i, column) in schema.columns.iter().enumerate() {
        if targets.contains(&i) {
            template.push(Value::Null);
        } else {
            template.push(query::default_value(column).map_err(SqlError::doris)?);
        }
    }
    Ok(template)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replica(backend_id: i64) -> ReplicaRecord {
        ReplicaRecord { id: backend_id + 1, backend_id }
    }

    #[test]
    fn a_replica_whose_backend_left_during_the_load_does_not_count_at_the_commit() {
        let now = [replica(10_004), replica(10_001), replica(10_002)];
        let members = |b: i64| b != 10_004;
        // Seed 73: the load wrote 10004 and 10001; 10004 was dropped before the commit.
        assert_eq!(still_held(&[10_004, 10_001], Some(&now), members), vec![10_001]);
        assert_eq!(still_held(&[10_001, 10_002], Some(&now), members), vec![10_001, 10_002]);
        // Repair moved the replica off 10002 meanwhile: the write there is not the tablet's any more.
        let moved = [replica(10_003), replica(10_001), replica(10_005)];
        assert_eq!(still_held(&[10_001, 10_002], Some(&moved), |_| true), vec![10_001]);
        // The tablet is gone from the catalog: nothing counts.
        assert!(still_held(&[10_001], None, |_| true).is_empty());
    }

    #[test]
    fn equal_keys_hash_alike_across_types_of_int() {
        let a = vec![Value::Int(42), Value::Str("x".into())];
        let b = vec![Value::Int(42), Value::Str("y".into())];
        assert_eq!(bucket_hash(&a, &[0]), bucket_hash(&b, &[0]));
        assert_ne!(bucket_hash(&a, &[0, 1]), bucket_hash(&b, &[0, 1]));
    }
}
