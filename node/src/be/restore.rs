//! RESTORE's last BE step (Doris's DirMoveTask; docs/jobs.md, "Backend side"): installing the rowsets a download
//! put in a landing snapshot (see [`super::download`]) into the new tablet, which was created
//! waiting for them ([`TabletMeta::restore_pending`]).
//!
//! Unlike Doris, nothing is wiped or reloaded: the tablet was created empty at the backed-up
//! version `V`, so its own rowsets (loads taken meanwhile) are all above `V`, and the restored
//! ones cover `base+1..=V`; the new meta is the union, with the backup's base version.
//!
//! Crash safety, as in [`super::tablet`]: every landing file is hard-linked into `rowsets/` under a
//! fresh name and verified there (format, schema, row count, and that the download retagged it for
//! this tablet), and `rowsets/` is synced before the meta that names the links is written. A crash
//! (or a failed check) before the meta leaves unreferenced files, removed at once or by
//! [`TabletStore::open`], and the tablet still pending with its landing files (the FE moves again);
//! after it, the tablet is complete and a second move answers at once.

use std::collections::BTreeSet;
use std::path::Path;

use super::download::{MAX_SOURCE_HEADER_BYTES, RESTORE_SOURCE_HEADER};
use super::rowset::{self, RowsetError};
use super::tablet::snapshot::SnapshotHeader;
use super::tablet::{
    MAX_CLONE_FILES, ORIGIN_RESTORE, RowsetMeta, TabletError, TabletHandle, TabletMeta, TabletStore, disk_error,
    is_plain_file_name, remove_if_exists,
};
use crate::disk::Disk;
use crate::schema::Schema;

impl TabletStore {
    /// Installs the restored rowsets of `tablet_id` found in its directory of the landing snapshot
    /// at `snapshot_path`, the backup of the tablet at `version`; returns the tablet's version
    /// after it. Idempotent: a tablet no longer pending was moved already.
    ///
    /// The files are linked into `rowsets/` and verified there (pinned: nothing can replace them
    /// underneath) before the tablet's write lock is taken, so loads are not held up by the reads;
    /// under the lock the tablet is checked again and the meta written.
    pub async fn move_restored(&self, tablet_id: i64, snapshot_path: &str, version: u64) -> Result<u64, TabletError> {
        let handle = self.handle(tablet_id)?;
        let schema = {
            let state = handle.state.read().await;
            handle.check_live(&state)?;
            if let Some(answer) = moved_already(&state.meta, version) {
                return answer;
            }
            check_awaits(&state.meta, version)?;
            state.meta.schema.clone()
        };
        let landing = self.snapshot_tablet_dir(snapshot_path, tablet_id).await?;
        let header = self.read_source_header(&landing, tablet_id).await?;
        let restored = check_source_header(tablet_id, &schema, &header, version)?;
        let mut linked = Vec::with_capacity(restored.len());
        let result = self.link_and_install(&handle, &landing, &header, &restored, version, &mut linked).await;
        if !matches!(result, Ok((_, true))) {
            // Named by no meta: garbage (that the next open would remove anyway).
            for r in &linked {
                remove_if_exists(self.disk.as_ref(), &handle.rowset_path(&r.file_name), false).await;
            }
        }
        let (new_version, installed) = result?;
        if installed {
            tracing::info!(tablet_id, version, new_version, rowsets = linked.len(), "be: restored rowsets installed");
        }
        Ok(new_version)
    }

    /// Links and verifies the `restored` rowsets (recording each link in `linked`), then installs
    /// them; the tablet's version after it, and whether this call installed them.
    async fn link_and_install(
        &self,
        handle: &TabletHandle,
        landing: &Path,
        header: &SnapshotHeader,
        restored: &[RowsetMeta],
        version: u64,
        linked: &mut Vec<RowsetMeta>,
    ) -> Result<(u64, bool), TabletError> {
        let tablet_id = handle.id;
        let disk = self.disk.as_ref();
        let context = format!("installing the restored rowsets of tablet {tablet_id}");
        for r in restored {
            let name = self.fresh_rowset_name(&handle.dir, r.start_version, r.end_version, ORIGIN_RESTORE).await?;
            let source = landing.join(&r.file_name);
            let target = handle.rowset_path(&name);
            match disk.hard_link(&source, &target).await {
                Ok(()) => {}
                Err(e) if e.is_not_found() => {
                    return Err(TabletError::FailedPrecondition(format!(
                        "the restore of tablet {tablet_id} has no downloaded file {}; download the snapshot first",
                        source.display()
                    )));
                }
                Err(e) => return Err(disk_error(context)(e)),
            }
            // A restored rowset is no load of this cluster: no txn id, so no publish can claim it.
            // Its MD5 is not the backed-up file's: the header was rewritten.
            linked.push(RowsetMeta { file_name: name, txn_id: None, md5: None, ..r.clone() });
            verify_landed(disk, tablet_id, &source, &target, r).await?;
        }
        if !linked.is_empty() {
            disk.sync_dir(&handle.rowsets_dir()).await.map_err(disk_error(context))?;
        }

        let mut state = handle.state.write().await;
        handle.check_live(&state)?;
        if let Some(answer) = moved_already(&state.meta, version) {
            return answer.map(|v| (v, false));
        }
        check_awaits(&state.meta, version)?;
        let own = &state.meta.rowsets;
        assert!(own.iter().all(|r| r.start_version > version), "a pending tablet's own rowsets are above its base");
        let mut rowsets = linked.clone();
        rowsets.extend(own.iter().cloned());
        let meta = TabletMeta {
            tablet_id,
            schema: state.meta.schema.clone(),
            base_version: header.base_version,
            rowsets,
            restore_pending: false,
            restore_job_id: state.meta.restore_job_id,
        };
        meta.validate().map_err(|e| {
            TabletError::Damaged(format!("tablet {tablet_id}: the restored tablet would be invalid: {e}"))
        })?;
        self.write_meta(&meta).await?;
        let new_version = meta.version();
        assert!(new_version >= version, "a restored tablet covers the restored version");
        Self::install(handle, &mut state, meta);
        Ok((new_version, true))
    }

    /// The backed-up tablet's header in a landing directory.
    async fn read_source_header(&self, landing: &Path, tablet_id: i64) -> Result<SnapshotHeader, TabletError> {
        let path = landing.join(RESTORE_SOURCE_HEADER);
        let context = format!("reading {}", path.display());
        let missing = || {
            TabletError::FailedPrecondition(format!(
                "the restore of tablet {tablet_id} has no downloaded header {}; download the snapshot first",
                path.display()
            ))
        };
        match self.disk.metadata(&path).await.map_err(disk_error(context.clone()))? {
            Some(m) if !m.is_dir && m.len_bytes <= MAX_SOURCE_HEADER_BYTES => {}
            Some(m) if !m.is_dir => {
                return Err(TabletError::Damaged(format!(
                    "{} is {} bytes, above the {MAX_SOURCE_HEADER_BYTES} bytes of a tablet header",
                    path.display(),
                    m.len_bytes
                )));
            }
            _ => return Err(missing()),
        }
        let bytes = match self.disk.read_all(&path).await {
            Ok(bytes) => bytes,
            Err(e) if e.is_not_found() => return Err(missing()),
            Err(e) => return Err(disk_error(context)(e)),
        };
        serde_json::from_slice(&bytes)
            .map_err(|e| TabletError::Damaged(format!("{} is not a tablet snapshot header: {e}", path.display())))
    }
}

/// The answer to a move of a tablet that is no longer pending: it was moved (or cloned) already.
fn moved_already(meta: &TabletMeta, version: u64) -> Option<Result<u64, TabletError>> {
    if meta.restore_pending {
        return None;
    }
    let current = meta.version();
    if meta.base_version <= version && version <= current {
        return Some(Ok(current));
    }
    Some(Err(TabletError::FailedPrecondition(format!(
        "tablet {} is not waiting for a restore and does not hold version {version} (it holds {}..={current})",
        meta.tablet_id, meta.base_version
    ))))
}

/// Checks that a pending tablet waits for the restore of `version`.
fn check_awaits(meta: &TabletMeta, version: u64) -> Result<(), TabletError> {
    debug_assert!(meta.restore_pending);
    if meta.base_version != version {
        return Err(TabletError::FailedPrecondition(format!(
            "tablet {} was created for a restore of version {}, not {version}",
            meta.tablet_id, meta.base_version
        )));
    }
    Ok(())
}

/// Checks one restored rowset file, linked at `linked` from `landed`: its frame, that it was
/// retagged for this tablet, and that it holds the rows the backup's header says.
async fn verify_landed(
    disk: &dyn Disk,
    tablet_id: i64,
    landed: &Path,
    linked: &Path,
    r: &RowsetMeta,
) -> Result<(), TabletError> {
    let damaged = |detail: String| TabletError::Damaged(format!("restored rowset file {}: {detail}", landed.display()));
    // The download checked every byte (md5 of the repository's content, the original checksum,
    // a new one for the retagged file) moments ago; here the frame, the owner and the row count
    // are checked, and every read checks the checksum again.
    let summary = match rowset::check_frame(disk, linked).await {
        Ok(summary) => summary,
        Err(RowsetError::Damaged { detail, .. }) => return Err(damaged(detail)),
        Err(e) => return Err(e.into()),
    };
    if summary.header.tablet_id != tablet_id {
        return Err(damaged(format!(
            "it belongs to tablet {}, not {tablet_id} (it was not retagged by the download)",
            summary.header.tablet_id
        )));
    }
    if summary.row_count != r.row_count {
        return Err(damaged(format!(
            "it holds {} rows but the backup's header says {}",
            summary.row_count, r.row_count
        )));
    }
    Ok(())
}

/// Checks that `header` (the backup's) is the tablet `tablet_id` of `schema` waits for at `version`; its rowsets,
/// which must cover `header.base_version+1..=version` exactly.
fn check_source_header(
    tablet_id: i64,
    schema: &Schema,
    header: &SnapshotHeader,
    version: u64,
) -> Result<Vec<RowsetMeta>, TabletError> {
    let bad = |detail: String| TabletError::InvalidArgument(format!("the restore of tablet {tablet_id}: {detail}"));
    if header.version != version {
        return Err(bad(format!("the backup holds version {}, not the restored {version}", header.version)));
    }
    if !header.schema.same_storage(schema) {
        return Err(bad(format!(
            "the schema of the backed-up tablet {} differs from the schema of tablet {tablet_id}",
            header.tablet_id
        )));
    }
    if header.rowsets.len() > MAX_CLONE_FILES {
        return Err(bad(format!("the backup holds {} rowsets, more than {MAX_CLONE_FILES}", header.rowsets.len())));
    }
    let mut previous_end = header.base_version;
    let mut names = BTreeSet::new();
    for r in &header.rowsets {
        if !is_plain_file_name(&r.file_name) || r.file_name == RESTORE_SOURCE_HEADER || !names.insert(&r.file_name) {
            return Err(bad(format!("rowset file name {:?} is not a plain, unique file name", r.file_name)));
        }
        if r.start_version != previous_end.saturating_add(1) || r.end_version < r.start_version {
            return Err(bad(format!(
                "rowset {} covers versions {}..={}, which does not follow version {previous_end}",
                r.file_name, r.start_version, r.end_version
            )));
        }
        previous_end = r.end_version;
    }
    if previous_end != version {
        return Err(bad(format!("the backup's rowsets end at version {previous_end}, not at {version}")));
    }
    Ok(header.rowsets.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::be::download::tests::{REMOTE_DIR, back_up_tablet_7, landing, mem_store};
    use crate::be::download::{Retag, download_snapshot};
    use crate::be::tablet::CompactionLimits;
    use crate::be::tablet::snapshot::header_file_name;
    use crate::be::tablet::snapshot::tests::{load_and_publish, schema, store_at_v4};
    use crate::be::test_support::TempDisk;
    use crate::be::transfer::TransferProgress;
    use crate::repository::RepoStore;
    use crate::schema::{ColumnType, Row, Value};

    /// Tablet 7 of `store` backed up at version 4, and `tablet_id` (already created pending, or
    /// created here) downloaded into its landing snapshot; the snapshot's path.
    async fn downloaded(temp: &TempDisk, store: &TabletStore, repo: &dyn RepoStore, tablet_id: i64) -> String {
        let files = back_up_tablet_7(temp, store, repo).await;
        let (path, dir) = landing(store, tablet_id).await;
        let retag = Retag { source_tablet_id: 7, new_tablet_id: tablet_id };
        let progress = TransferProgress::default();
        download_snapshot(temp.disk().as_ref(), repo, REMOTE_DIR, &files, &dir, retag, &progress)
            .await
            .expect("downloaded");
        path
    }

    async fn scan(store: &TabletStore, tablet_id: i64, version: u64) -> Vec<Row> {
        store.scan(tablet_id, version).await.expect("scans").rows
    }

    fn pending(store: &TabletStore, tablet_id: i64) -> bool {
        store.tablet_infos().iter().find(|t| t.tablet_id == tablet_id).expect("listed").restore_pending
    }

    #[tokio::test]
    async fn move_installs_the_downloaded_rowsets_once() {
        let temp = TempDisk::new("restore-move").await;
        let store = store_at_v4(&temp).await;
        let repo = mem_store("restore-move");
        let path = downloaded(&temp, &store, repo.as_ref(), 9).await;
        let source_rows = scan(&store, 7, 4).await;
        assert_eq!(source_rows.len(), 9);

        assert!(pending(&store, 9));
        let err = store.scan(9, 4).await.unwrap_err();
        assert!(matches!(err, TabletError::FailedPrecondition(_)), "{err}");
        assert!(err.to_string().contains("tablet 9 is being restored and can be read once the restore commits"));
        assert!(matches!(store.fetch(9, 4).await, Err(TabletError::FailedPrecondition(_))));

        assert_eq!(store.move_restored(9, &path, 4).await.unwrap(), 4);
        assert!(!pending(&store, 9));
        assert_eq!(scan(&store, 9, 4).await, source_rows);
        let meta = store.tablet_meta(9).await.unwrap();
        assert_eq!((meta.base_version, meta.rowsets.len()), (1, 3));
        assert!(meta.rowsets.iter().all(|r| r.file_name.contains("_r") && r.txn_id.is_none()), "{meta:?}");

        // Moved already: the same answer, even once the landing snapshot is released.
        assert_eq!(store.move_restored(9, &path, 4).await.unwrap(), 4);
        assert_eq!(store.release_job_snapshots(77).await.unwrap(), 1);
        assert_eq!(store.move_restored(9, &path, 4).await.unwrap(), 4);
        assert!(matches!(store.move_restored(9, &path, 6).await, Err(TabletError::FailedPrecondition(_))));
        assert_eq!(scan(&store, 9, 4).await, source_rows, "the tablet's files do not depend on the snapshot");
        // A late create of the same job (delayed on the network) leaves the restored tablet alone.
        store.create_restore_tablet(9, schema(), 4, 77).await.expect("a late create");
        assert_eq!(scan(&store, 9, 4).await, source_rows, "a late create undid nothing");

        // Durable: a reopened store reads the same, and names new files apart from the restored.
        drop(store);
        let store = TabletStore::open(temp.disk(), temp.root()).await.unwrap();
        assert_eq!(scan(&store, 9, 4).await, source_rows);
        load_and_publish(&store, 900, 9, 5, 2).await;
        assert_eq!(scan(&store, 9, 5).await.len(), 11);
        temp.remove().await;
    }

    #[tokio::test]
    async fn a_load_taken_while_pending_stays_above_the_restored_rows() {
        let temp = TempDisk::new("restore-load").await;
        let store = store_at_v4(&temp).await;
        let repo = mem_store("restore-load");
        store.create_restore_tablet(9, schema(), 4, 77).await.unwrap();
        for v in 5..=8 {
            load_and_publish(&store, 500 + v as i64, 9, v, 2).await;
        }
        assert!(store.publish(501, 9, 4).await.is_err(), "nothing is published at the restored versions");
        // Compaction merges the loads (never the newest).
        let limits = CompactionLimits { min_rowsets: 1, max_rowsets: 8, max_input_bytes: 1 << 30, max_tablets: 8 };
        assert_eq!(store.compact_once(limits).await.errors, Vec::<String>::new());
        let merged = store.tablet_meta(9).await.unwrap().rowsets;
        assert_eq!(merged.iter().map(|r| (r.start_version, r.end_version)).collect::<Vec<_>>(), [(5, 7), (8, 8)]);
        let path = downloaded(&temp, &store, repo.as_ref(), 9).await;
        assert!(matches!(store.scan(9, 8).await, Err(TabletError::FailedPrecondition(_))));
        let err = store.make_snapshot(9, 8, 60).await.unwrap_err();
        assert!(err.to_string().contains("tablet 9 is being restored: only a snapshot at version 4"), "{err}");

        assert_eq!(store.move_restored(9, &path, 4).await.unwrap(), 8);
        let mut expected = scan(&store, 7, 4).await;
        for v in 5..=8 {
            expected.extend((0..2).map(|i| vec![Value::Int(i), Value::Str(format!("v{v} {i}"))]));
        }
        assert_eq!(scan(&store, 9, 8).await, expected);
        assert_eq!(scan(&store, 9, 4).await, scan(&store, 7, 4).await);
        temp.remove().await;
    }

    #[tokio::test]
    async fn a_restart_before_the_move_keeps_the_tablet_pending_with_its_landing_files() {
        let temp = TempDisk::new("restore-reopen").await;
        let store = store_at_v4(&temp).await;
        let repo = mem_store("restore-reopen");
        let path = downloaded(&temp, &store, repo.as_ref(), 9).await;
        let source_rows = scan(&store, 7, 4).await;
        // A move cut after its links but before its meta: the links are unreferenced garbage.
        let garbage = temp.path("tablets/9/rowsets/2_2_r5.rowset");
        temp.disk().write_at(&garbage, 0, b"cut").await.unwrap();
        drop(store);

        let store = TabletStore::open(temp.disk(), temp.root()).await.unwrap();
        assert!(pending(&store, 9));
        assert!(temp.disk().metadata(&garbage).await.unwrap().is_none());
        assert!(matches!(store.scan(9, 4).await, Err(TabletError::FailedPrecondition(_))));
        assert_eq!(store.move_restored(9, &path, 4).await.unwrap(), 4);
        assert_eq!(scan(&store, 9, 4).await, source_rows);
        temp.remove().await;
    }

    #[tokio::test]
    async fn move_refuses_what_is_not_the_awaited_backup() {
        let temp = TempDisk::new("restore-refused").await;
        let store = store_at_v4(&temp).await;
        let repo = mem_store("restore-refused");
        let path = downloaded(&temp, &store, repo.as_ref(), 9).await;
        let rowsets_dir = temp.path("tablets/9/rowsets");

        // Another version than the tablet was created for.
        let err = store.move_restored(9, &path, 3).await.unwrap_err();
        assert!(matches!(err, TabletError::FailedPrecondition(_)), "{err}");
        // A rowset file that was not retagged (the backed-up tablet's own file).
        let source = store.make_snapshot(7, 4, 60).await.unwrap();
        let source_dir = store.snapshot_tablet_dir(&source.path, 7).await.unwrap();
        let landing_dir = store.snapshot_tablet_dir(&path, 9).await.unwrap();
        let victim = &source.files[0];
        let original = temp.disk().read_all(&source_dir.join(victim)).await.unwrap();
        let retagged = temp.disk().read_all(&landing_dir.join(victim)).await.unwrap();
        crate::disk::write_file_atomic(temp.disk().as_ref(), &landing_dir.join(victim), &original).await.unwrap();
        let err = store.move_restored(9, &path, 4).await.unwrap_err();
        assert!(matches!(err, TabletError::Damaged(_)), "{err}");
        assert!(err.to_string().contains("belongs to tablet 7, not 9"), "{err}");
        // A missing one.
        temp.disk().remove_file(&landing_dir.join(victim)).await.unwrap();
        let err = store.move_restored(9, &path, 4).await.unwrap_err();
        assert!(err.to_string().contains("no downloaded file"), "{err}");
        crate::disk::write_file_atomic(temp.disk().as_ref(), &landing_dir.join(victim), &retagged).await.unwrap();
        assert!(pending(&store, 9));
        assert!(temp.disk().read_dir(&rowsets_dir).await.unwrap().is_empty(), "nothing linked");

        // A tablet of another schema.
        let mut other = schema();
        other.columns[1].ty = ColumnType::Varchar { len: 64 };
        store.create_restore_tablet(10, other, 4, 77).await.unwrap();
        let (other_path, other_dir) = {
            let info = store.make_job_snapshot(10, 4, 60, 77).await.unwrap();
            let dir = store.snapshot_tablet_dir(&info.path, 10).await.unwrap();
            (info.path, dir)
        };
        let disk = temp.disk();
        for name in disk.read_dir(&landing_dir).await.unwrap().into_iter().map(|e| e.name) {
            if name != header_file_name(9) {
                disk.hard_link(&landing_dir.join(&name), &other_dir.join(&name)).await.unwrap();
            }
        }
        let err = store.move_restored(10, &other_path, 4).await.unwrap_err();
        assert!(matches!(err, TabletError::InvalidArgument(_)), "{err}");
        assert!(err.to_string().contains("schema of the backed-up tablet 7 differs"), "{err}");
        // No download at all.
        store.create_restore_tablet(11, schema(), 4, 77).await.unwrap();
        let empty = store.make_job_snapshot(11, 4, 60, 77).await.unwrap();
        let err = store.move_restored(11, &empty.path, 4).await.unwrap_err();
        assert!(err.to_string().contains("no downloaded header"), "{err}");

        // The right one still moves.
        assert_eq!(store.move_restored(9, &path, 4).await.unwrap(), 4);
        assert_eq!(scan(&store, 9, 4).await, scan(&store, 7, 4).await);
        temp.remove().await;
    }

    #[tokio::test]
    async fn a_tablet_restored_under_the_same_id_on_another_backend() {
        let source_temp = TempDisk::new("restore-same-id-src").await;
        let target_temp = TempDisk::new("restore-same-id-dst").await;
        let source = store_at_v4(&source_temp).await;
        let target = TabletStore::open(target_temp.disk(), target_temp.root()).await.unwrap();
        let repo = mem_store("restore-same-id");
        let files = back_up_tablet_7(&source_temp, &source, repo.as_ref()).await;
        let (path, dir) = landing(&target, 7).await;
        let retag = Retag { source_tablet_id: 7, new_tablet_id: 7 };
        let progress = TransferProgress::default();
        download_snapshot(target_temp.disk().as_ref(), repo.as_ref(), REMOTE_DIR, &files, &dir, retag, &progress)
            .await
            .unwrap();
        let landing_header: crate::be::tablet::snapshot::SnapshotHeader =
            serde_json::from_slice(&target_temp.disk().read_all(&dir.join("7.hdr")).await.unwrap()).unwrap();
        assert_eq!((landing_header.job_id, landing_header.rowsets.len()), (77, 0), "the landing header stays");
        assert_eq!(target.move_restored(7, &path, 4).await.unwrap(), 4);
        assert_eq!(scan(&target, 7, 4).await, scan(&source, 7, 4).await);
        source_temp.remove().await;
        target_temp.remove().await;
    }

    #[tokio::test]
    async fn a_pending_tablet_is_created_idempotently_and_a_clone_completes_it() {
        let temp = TempDisk::new("restore-create").await;
        let store = store_at_v4(&temp).await;
        store.create_restore_tablet(9, schema(), 4, 77).await.unwrap();
        store.create_restore_tablet(9, schema(), 4, 77).await.expect("again");
        store.create_tablet(9, schema(), 4).await.expect("the same schema, whatever the state");
        assert!(pending(&store, 9), "still pending");
        // A tablet of the id that another job made, or no job (a crash's leftover under an id
        // the FE never journaled), is replaced by an empty pending one.
        let mut other = schema();
        other.columns[1].ty = ColumnType::Varchar { len: 64 };
        store.create_restore_tablet(9, other.clone(), 4, 78).await.expect("replaces another job's");
        assert_eq!(store.tablet_meta(9).await.unwrap().schema, other);
        assert_eq!(store.tablet_meta(9).await.unwrap().restore_job_id, Some(78));
        store.create_tablet(12, schema(), 1).await.unwrap();
        store.create_restore_tablet(12, schema(), 4, 77).await.expect("replaces a live one");
        let meta = store.tablet_meta(12).await.unwrap();
        assert!(meta.restore_pending && meta.base_version == 4 && meta.rowsets.is_empty(), "{meta:?}");

        // A meta written before the flag existed loads as not pending.
        let mut meta = serde_json::to_value(store.tablet_meta(7).await.unwrap()).unwrap();
        meta.as_object_mut().unwrap().remove("restore_pending");
        let old: TabletMeta = serde_json::from_value(meta).unwrap();
        assert!(!old.restore_pending);

        // A clone replaces the pending copy with a complete one.
        let other_temp = TempDisk::new("restore-create-clone").await;
        let target = TabletStore::open(other_temp.disk(), other_temp.root()).await.unwrap();
        target.create_restore_tablet(7, schema(), 4, 77).await.unwrap();
        let mut fetched = store.fetch(7, 4).await.unwrap();
        assert_eq!(target.clone_from(7, schema(), 4, &mut fetched).await.unwrap(), 4);
        assert!(!pending(&target, 7));
        assert_eq!(scan(&target, 7, 4).await, scan(&store, 7, 4).await);
        temp.remove().await;
        other_temp.remove().await;
    }
}
