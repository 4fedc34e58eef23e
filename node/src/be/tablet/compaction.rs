//! Compaction: the oldest consecutive rowsets of a tablet merged into one.

use super::*;

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

impl TabletStore {
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
}

/// The oldest run of consecutive rowsets worth merging: at least 2, at most `max_rowsets`, at
/// most `max_input_bytes`, never the newest rowset (so a read at the version just before the
/// latest publish stays possible).
pub(super) fn plan_compaction(rowsets: &[RowsetMeta], limits: CompactionLimits) -> Option<Vec<RowsetMeta>> {
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
