//! Loads: chunks appended to a txn's pending rowset, sealed, published as the next version, or aborted.

use super::*;

/// Identifies one chunk, to recognise a retry of the chunk just written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ChunkMark {
    seq: u32,
    len_bytes: usize,
    crc: u32,
    row_count: u64,
}

/// One load's pending rowset on one tablet. The entry exists while its file may exist.
pub(super) struct PendingEntry {
    pub(super) path: PathBuf,
    pub(super) state: PendingState,
}

pub(super) enum PendingState {
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
pub(super) type PendingMap = std::sync::Mutex<BTreeMap<(i64, i64), Arc<Mutex<PendingEntry>>>>;

/// A held open-writer slot, released when dropped.
/// One open writer of a load: the load holds a place in [`MAX_OPEN_LOADS`] while it has one.
pub(super) struct WriterSlot {
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

impl TabletStore {
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
    pub(super) async fn forget_pending(&self, txn_id: i64, tablet_id: i64) -> Result<(), TabletError> {
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
}
