//! Clone: a tablet's published rowsets streamed from another BE (FetchTablet) and installed.

use super::*;

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
pub(super) struct CloneGuard<'a> {
    cloning: &'a std::sync::Mutex<BTreeSet<i64>>,
    tablet_id: i64,
}

impl Drop for CloneGuard<'_> {
    fn drop(&mut self) {
        locked(self.cloning).remove(&self.tablet_id);
    }
}

impl TabletStore {
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
