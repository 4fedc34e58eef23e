//! The BE's gRPC service: each RPC of `proto::backend_server::Backend` checked, run on its own
//! task (so a caller that gives up never cuts it half way), and its errors mapped to gRPC codes.

use futures_util::StreamExt;

use super::*;

/// The gRPC status an upload error answers with.
pub(super) fn upload_status(e: UploadError) -> Status {
    match &e {
        UploadError::Disk { .. } => Status::unavailable(e.to_string()),
        UploadError::Repo { source, .. } => Status::new(repo_error_to_status(source).code(), e.to_string()),
        UploadError::Invalid(_) => Status::invalid_argument(e.to_string()),
    }
}

/// The gRPC status a download error answers with.
pub(super) fn download_status(e: DownloadError) -> Status {
    match &e {
        DownloadError::Disk { .. } => Status::unavailable(e.to_string()),
        DownloadError::Repo { source, .. } => Status::new(repo_error_to_status(source).code(), e.to_string()),
        DownloadError::Invalid(_) => Status::invalid_argument(e.to_string()),
        DownloadError::Missing(_) => Status::not_found(e.to_string()),
        DownloadError::Corrupt(_) => Status::data_loss(e.to_string()),
        DownloadError::NoSpace(_) => Status::resource_exhausted(e.to_string()),
    }
}

/// The gRPC status a tablet error answers with.
pub(super) fn status(e: TabletError) -> Status {
    match e {
        TabletError::NotFound(m) => Status::not_found(m),
        TabletError::FailedPrecondition(m) => Status::failed_precondition(m),
        TabletError::InvalidArgument(m) => Status::invalid_argument(m),
        TabletError::ResourceExhausted(m) => Status::resource_exhausted(m),
        TabletError::Damaged(m) => Status::data_loss(m),
        TabletError::Unavailable(m) => Status::unavailable(m),
        e @ TabletError::Disk { .. } => Status::unavailable(e.to_string()),
    }
}

fn parse_schema(json: &[u8]) -> Result<Schema, Status> {
    serde_json::from_slice(json).map_err(|e| Status::invalid_argument(format!("schema_json is not a schema: {e}")))
}

pub(super) struct BackendService {
    pub(super) be: Arc<Be>,
}

/// Runs a handler that changes the backend's state in a task of its own, to its end: a real
/// server drops a handler's future when its caller gives up (the simulator does so too, now
/// and then: `cut_by_caller`), and work cut half way (a tablet directory without its meta, a
/// chunk half appended) is what a caller's timeout must never leave. Only the answer is lost.
async fn handle<T: Send + 'static>(
    handler: impl std::future::Future<Output = Result<T, Status>> + Send + 'static,
) -> Result<T, Status> {
    let task = tokio::spawn(handler);
    match palo_buggify::cut_by_caller(task).await {
        Some(Ok(answer)) => answer,
        Some(Err(e)) => Err(Status::internal(format!("the backend's task failed: {e}"))),
        None => Err(Status::cancelled("the caller gave up before the backend answered")),
    }
}

/// Parts of one batch worked on at once.
const BATCH_CONCURRENCY: usize = 16;

/// Works on a batch's parts, `at_once` at a time; the results in the parts' order.
async fn in_order<T, R, F, Fut>(parts: Vec<T>, at_once: usize, work: F) -> Vec<R>
where
    F: Fn(T) -> Fut,
    Fut: std::future::Future<Output = R>,
{
    futures_util::stream::iter(parts).map(work).buffered(at_once).collect().await
}

/// Items of one transfer batch worked on at once: as many as the backend has slots for (each
/// item still waits for a slot, which other jobs' items share).
const TRANSFER_ITEMS_AT_ONCE: usize = MAX_CONCURRENT_UPLOADS;
const _: () = assert!(MAX_CONCURRENT_UPLOADS == MAX_CONCURRENT_DOWNLOADS);

/// One tablet's outcome in a batch answer.
fn task_result(tablet_id: i64, outcome: Result<u64, TabletError>) -> proto::TaskResult {
    match outcome {
        Ok(version) => proto::TaskResult { tablet_id, code: 0, message: String::new(), version },
        Err(e) => {
            let status = status(e);
            proto::TaskResult {
                tablet_id,
                code: status.code() as i32,
                message: status.message().to_string(),
                version: 0,
            }
        }
    }
}

/// One item's outcome in a batch answer, as a call of the item alone would have answered.
fn status_result(tablet_id: i64, outcome: Result<(), Status>) -> proto::TaskResult {
    match outcome {
        Ok(()) => proto::TaskResult { tablet_id, code: 0, message: String::new(), version: 0 },
        Err(status) => proto::TaskResult {
            tablet_id,
            code: status.code() as i32,
            message: status.message().to_string(),
            version: 0,
        },
    }
}

/// Refuses a transfer batch of no items, of more than [`MAX_TRANSFER_BATCH_ITEMS`], or one that
/// names a tablet twice.
fn check_transfer_batch(items: usize, tablet_ids: impl Iterator<Item = i64>) -> Result<(), Status> {
    if items == 0 || items > MAX_TRANSFER_BATCH_ITEMS {
        return Err(Status::invalid_argument(format!(
            "a transfer batch holds 1 to {MAX_TRANSFER_BATCH_ITEMS} tablets, not {items}"
        )));
    }
    check_distinct(tablet_ids)
}

/// One item of a MakeSnapshots batch.
async fn make_item_snapshot(
    be: &Be,
    item: proto::SnapshotItem,
    timeout_s: u64,
    job_id: i64,
) -> Result<tablet::snapshot::SnapshotInfo, Status> {
    if palo_buggify::fail_task(palo_buggify::Task::MakeSnapshot) {
        return Err(Status::unavailable("injected failure of make_snapshot (simulation)"));
    }
    be.tablets.make_job_snapshot(item.tablet_id, item.version, timeout_s, job_id).await.map_err(status)
}

/// Refuses a batch that names a tablet twice (its parts would race each other).
fn check_distinct(tablet_ids: impl Iterator<Item = i64>) -> Result<(), Status> {
    let mut seen = std::collections::BTreeSet::new();
    for id in tablet_ids {
        if !seen.insert(id) {
            return Err(Status::invalid_argument(format!("tablet {id} appears twice in one batch")));
        }
    }
    Ok(())
}

#[tonic::async_trait]
impl proto::backend_server::Backend for BackendService {
    async fn heartbeat(
        &self,
        request: Request<proto::BackendHeartbeatRequest>,
    ) -> Result<Response<proto::BackendHeartbeatResponse>, Status> {
        let request = request.into_inner();
        // Fault point (simulation only): a BE that answers slowly, sometimes past the FE's deadline.
        if palo_buggify::buggify_with_prob(0.05) {
            tokio::time::sleep(std::time::Duration::from_millis(4_000)).await;
        }
        let verdict = self.be.identity.on_heartbeat(&request).await?;
        let me = self.be.identity.get().await;
        if let Verdict::Other { backend_id } = verdict {
            // Another backend's heartbeat: say who this is, and nothing else (its tablets are
            // not the asked backend's).
            return Ok(Response::new(proto::BackendHeartbeatResponse {
                start_time_ms: self.be.start_time_ms,
                version: crate::VERSION.into(),
                identity_backend_id: backend_id,
                token: me.token,
                ..Default::default()
            }));
        }
        let disk = self.be.disk.as_ref();
        let available_bytes = disk.available_bytes().await.unwrap_or(0);
        let capacity_bytes = disk.capacity_bytes().await.unwrap_or(0);
        let infos = self.be.tablets.tablet_infos();
        let data_used_bytes = infos.iter().map(|t| t.data_size_bytes).sum();
        let tablets: Vec<proto::TabletInfo> = infos
            .iter()
            .map(|t| proto::TabletInfo {
                tablet_id: t.tablet_id,
                version: t.version,
                version_count: t.version_count,
                row_count: t.row_count,
                data_size_bytes: t.data_size_bytes,
                restore_pending: t.restore_pending,
            })
            .collect();
        Ok(Response::new(proto::BackendHeartbeatResponse {
            start_time_ms: self.be.start_time_ms,
            version: crate::VERSION.into(),
            be_port: u64::from(self.be.config.port),
            available_bytes,
            capacity_bytes,
            data_used_bytes,
            tablet_count: tablets.len() as u64,
            tablets,
            snapshot_job_ids: self.be.tablets.snapshot_job_ids(),
            identity_backend_id: me.backend_id,
            token: me.token,
            trash_bytes: self.be.tablets.trash.size_bytes(),
        }))
    }

    async fn create_tablet(
        &self,
        request: Request<proto::CreateTabletRequest>,
    ) -> Result<Response<proto::CreateTabletResponse>, Status> {
        let be = self.be.clone();
        handle(async move {
            if palo_buggify::fail_task(palo_buggify::Task::CreateTablet) {
                return Err(Status::unavailable("injected failure of create_tablet (simulation)"));
            }
            let request = request.into_inner();
            let schema = parse_schema(&request.schema_json)?;
            let tablets = &be.tablets;
            if request.restore_pending {
                if request.restore_job_id == 0 {
                    return Err(Status::invalid_argument("a tablet awaiting a restore needs the restore's job id"));
                }
                tablets
                    .create_restore_tablet(request.tablet_id, schema, request.version, request.restore_job_id)
                    .await
                    .map_err(status)?;
            } else {
                tablets.create_tablet(request.tablet_id, schema, request.version).await.map_err(status)?;
            }
            Ok(Response::new(proto::CreateTabletResponse {}))
        })
        .await
    }

    async fn identify(
        &self,
        _request: Request<proto::IdentifyRequest>,
    ) -> Result<Response<proto::IdentifyResponse>, Status> {
        let me = self.be.identity.get().await;
        Ok(Response::new(proto::IdentifyResponse {
            cluster_id: me.cluster_id,
            backend_id: me.backend_id,
            token: me.token,
        }))
    }

    async fn create_tablets(
        &self,
        request: Request<proto::CreateTabletsRequest>,
    ) -> Result<Response<proto::CreateTabletsResponse>, Status> {
        let be = self.be.clone();
        handle(async move {
            if palo_buggify::fail_task(palo_buggify::Task::CreateTablet) {
                return Err(Status::unavailable("injected failure of create_tablet (simulation)"));
            }
            let r = request.into_inner();
            let schema = parse_schema(&r.schema_json)?;
            let outcomes = if r.restore_job_id == 0 {
                be.tablets.create_tablets(&r.tablet_ids, schema, r.version).await
            } else {
                check_distinct(r.tablet_ids.iter().copied())?;
                be.tablets.create_restore_tablets(&r.tablet_ids, schema, r.version, r.restore_job_id).await
            };
            let results =
                r.tablet_ids.iter().zip(outcomes).map(|(id, o)| task_result(*id, o.map(|()| r.version))).collect();
            Ok(Response::new(proto::CreateTabletsResponse { results }))
        })
        .await
    }

    async fn write_rows_batch(
        &self,
        request: Request<proto::WriteRowsBatchRequest>,
    ) -> Result<Response<proto::WriteRowsBatchResponse>, Status> {
        let be = self.be.clone();
        handle(async move {
            if palo_buggify::fail_task(palo_buggify::Task::WriteRows) {
                return Err(Status::unavailable("injected failure of write_rows (simulation)"));
            }
            let r = request.into_inner();
            check_distinct(r.chunks.iter().map(|c| c.tablet_id))?;
            let txn_id = r.txn_id;
            let results = in_order(r.chunks, BATCH_CONCURRENCY, |c| {
                let be = be.clone();
                async move {
                    let outcome = be.tablets.write_rows(txn_id, c.tablet_id, c.seq, &c.rows, c.row_count, c.last).await;
                    task_result(c.tablet_id, outcome.map(|w| w.rows_written))
                }
            })
            .await;
            Ok(Response::new(proto::WriteRowsBatchResponse { results }))
        })
        .await
    }

    async fn publish_batch(
        &self,
        request: Request<proto::PublishBatchRequest>,
    ) -> Result<Response<proto::PublishBatchResponse>, Status> {
        let be = self.be.clone();
        handle(async move {
            if palo_buggify::fail_task(palo_buggify::Task::PublishVersion) {
                return Err(Status::unavailable("injected failure of publish_version (simulation)"));
            }
            let r = request.into_inner();
            check_distinct(r.tablets.iter().map(|t| t.tablet_id))?;
            let txn_id = r.txn_id;
            let results = in_order(r.tablets, BATCH_CONCURRENCY, |t| {
                let be = be.clone();
                async move { task_result(t.tablet_id, be.tablets.publish(txn_id, t.tablet_id, t.version).await) }
            })
            .await;
            Ok(Response::new(proto::PublishBatchResponse { results }))
        })
        .await
    }

    async fn clean_trash(
        &self,
        _request: Request<proto::CleanTrashRequest>,
    ) -> Result<Response<proto::CleanTrashResponse>, Status> {
        let be = self.be.clone();
        handle(async move {
            let removed = be.tablets.trash.clean().await;
            Ok(Response::new(proto::CleanTrashResponse {
                tablets_removed: removed.tablets,
                bytes_removed: removed.bytes,
            }))
        })
        .await
    }

    async fn drop_tablet(
        &self,
        request: Request<proto::DropTabletRequest>,
    ) -> Result<Response<proto::DropTabletResponse>, Status> {
        let be = self.be.clone();
        handle(async move {
            be.tablets.drop_tablet(request.into_inner().tablet_id).await.map_err(status)?;
            Ok(Response::new(proto::DropTabletResponse {}))
        })
        .await
    }

    async fn write_rows(
        &self,
        request: Request<proto::WriteRowsRequest>,
    ) -> Result<Response<proto::WriteRowsResponse>, Status> {
        let be = self.be.clone();
        handle(async move {
            if palo_buggify::fail_task(palo_buggify::Task::WriteRows) {
                return Err(Status::unavailable("injected failure of write_rows (simulation)"));
            }
            let r = request.into_inner();
            let written = be
                .tablets
                .write_rows(r.txn_id, r.tablet_id, r.seq, &r.rows, r.row_count, r.last)
                .await
                .map_err(status)?;
            Ok(Response::new(proto::WriteRowsResponse {
                rows_written: written.rows_written,
                bytes_written: written.bytes_written,
            }))
        })
        .await
    }

    async fn publish_version(
        &self,
        request: Request<proto::PublishVersionRequest>,
    ) -> Result<Response<proto::PublishVersionResponse>, Status> {
        let be = self.be.clone();
        handle(async move {
            if palo_buggify::fail_task(palo_buggify::Task::PublishVersion) {
                return Err(Status::unavailable("injected failure of publish_version (simulation)"));
            }
            let r = request.into_inner();
            let version = be.tablets.publish(r.txn_id, r.tablet_id, r.version).await.map_err(status)?;
            Ok(Response::new(proto::PublishVersionResponse { version }))
        })
        .await
    }

    async fn abort_txn(
        &self,
        request: Request<proto::AbortTxnRequest>,
    ) -> Result<Response<proto::AbortTxnResponse>, Status> {
        let be = self.be.clone();
        handle(async move {
            be.tablets.abort_txn(request.into_inner().txn_id).await.map_err(status)?;
            Ok(Response::new(proto::AbortTxnResponse {}))
        })
        .await
    }

    type ScanStream = crate::rpc::ChannelStream<proto::ScanChunk>;

    async fn scan(&self, request: Request<proto::ScanRequest>) -> Result<Response<Self::ScanStream>, Status> {
        let r = request.into_inner();
        let permit = self
            .be
            .scan_slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Status::unavailable("the backend is shutting down"))?;
        let scanned = self.be.tablets.scan(r.tablet_id, r.version).await.map_err(status)?;
        let (sender, stream) = crate::rpc::ChannelStream::new();
        tokio::spawn(async move {
            let _permit = permit;
            let mut buffer = Vec::with_capacity(SCAN_CHUNK_BYTES + 4096);
            let mut row_count = 0u64;
            for row in &scanned.rows {
                if let Err(e) = row_codec::encode_row(&scanned.schema, row, &mut buffer) {
                    let detail = format!("tablet {}: a stored row does not encode: {e}", r.tablet_id);
                    let _ = sender.send(Err(Status::data_loss(detail))).await;
                    return;
                }
                row_count += 1;
                if buffer.len() >= SCAN_CHUNK_BYTES {
                    let rows = std::mem::replace(&mut buffer, Vec::with_capacity(SCAN_CHUNK_BYTES + 4096));
                    if sender.send(Ok(proto::ScanChunk { rows, row_count })).await.is_err() {
                        return; // the client went away
                    }
                    row_count = 0;
                }
            }
            if row_count > 0 {
                let _ = sender.send(Ok(proto::ScanChunk { rows: buffer, row_count })).await;
            }
        });
        Ok(Response::new(stream))
    }

    async fn clone_tablet(
        &self,
        request: Request<proto::CloneTabletRequest>,
    ) -> Result<Response<proto::CloneTabletResponse>, Status> {
        if palo_buggify::fail_task(palo_buggify::Task::CloneTablet) {
            return Err(Status::unavailable("injected failure of clone_tablet (simulation)"));
        }
        let r = request.into_inner();
        let schema = parse_schema(&r.schema_json)?;
        let _permit = self.be.clone_slots.try_acquire().map_err(|_| {
            Status::unavailable(format!("{MAX_CONCURRENT_CLONES} clones are already running here; retry later"))
        })?;
        let version = self.be.clone_tablet(r.tablet_id, schema, &r.src_addr, r.version).await.map_err(status)?;
        Ok(Response::new(proto::CloneTabletResponse { version }))
    }

    type FetchTabletStream = crate::rpc::ChannelStream<proto::FetchTabletChunk>;

    async fn fetch_tablet(
        &self,
        request: Request<proto::FetchTabletRequest>,
    ) -> Result<Response<Self::FetchTabletStream>, Status> {
        let r = request.into_inner();
        let permit = self.be.fetch_slots.clone().try_acquire_owned().map_err(|_| {
            Status::unavailable(format!("{MAX_CONCURRENT_FETCHES} fetches are already running here; retry later"))
        })?;
        let mut snapshot = self.be.tablets.fetch(r.tablet_id, r.version).await.map_err(status)?;
        let (sender, stream) = crate::rpc::ChannelStream::new();
        tokio::spawn(async move {
            let _permit = permit;
            loop {
                match snapshot.next_chunk().await {
                    Ok(Some(chunk)) => {
                        if sender.send(Ok(chunk)).await.is_err() {
                            snapshot.discard().await; // the client went away
                            return;
                        }
                    }
                    Ok(None) => return,
                    Err(e) => {
                        let _ = sender.send(Err(status(e))).await;
                        snapshot.discard().await;
                        return;
                    }
                }
            }
        });
        Ok(Response::new(stream))
    }

    async fn make_snapshots(
        &self,
        request: Request<proto::MakeSnapshotsRequest>,
    ) -> Result<Response<proto::MakeSnapshotsResponse>, Status> {
        let be = self.be.clone();
        handle(async move {
            let r = request.into_inner();
            check_transfer_batch(r.items.len(), r.items.iter().map(|i| i.tablet_id))?;
            let (job_id, timeout_s) = (r.job_id, r.timeout_s);
            let results = in_order(r.items, BATCH_CONCURRENCY, |item| {
                let be = be.clone();
                async move {
                    let tablet_id = item.tablet_id;
                    match make_item_snapshot(&be, item, timeout_s, job_id).await {
                        Ok(info) => proto::SnapshotItemResult {
                            result: Some(status_result(tablet_id, Ok(()))),
                            path: info.path,
                            files: info.files,
                        },
                        Err(e) => proto::SnapshotItemResult {
                            result: Some(status_result(tablet_id, Err(e))),
                            ..Default::default()
                        },
                    }
                }
            })
            .await;
            Ok(Response::new(proto::MakeSnapshotsResponse { results }))
        })
        .await
    }

    async fn release_snapshot(
        &self,
        request: Request<proto::ReleaseSnapshotRequest>,
    ) -> Result<Response<proto::ReleaseSnapshotResponse>, Status> {
        let be = self.be.clone();
        handle(async move {
            let r = request.into_inner();
            let released = match (r.path.is_empty(), r.job_id) {
                (false, 0) => {
                    be.tablets.release_snapshot(&r.path).await.map_err(status)?;
                    1
                }
                (true, job_id) if job_id != 0 => be.tablets.release_job_snapshots(job_id).await.map_err(status)?,
                _ => return Err(Status::invalid_argument("give either a snapshot path or a job id, not both")),
            };
            Ok(Response::new(proto::ReleaseSnapshotResponse { released: released as u64 }))
        })
        .await
    }

    async fn upload_snapshots(
        &self,
        request: Request<proto::UploadSnapshotsRequest>,
    ) -> Result<Response<proto::UploadSnapshotsResponse>, Status> {
        let r = request.into_inner();
        check_transfer_batch(r.items.len(), r.items.iter().map(|i| i.tablet_id))?;
        let store = open_store(&r.location, r.properties, &r.broker_addr)?;
        let be = &self.be;
        let job_id = r.job_id;
        let results = in_order(r.items, TRANSFER_ITEMS_AT_ONCE, |item| {
            let store = store.clone();
            async move {
                let outcome = if palo_buggify::fail_task(palo_buggify::Task::UploadSnapshot) {
                    Err(Status::unavailable("injected failure of upload_snapshot (simulation)"))
                } else {
                    be.upload_snapshot(job_id, item.tablet_id, &item.snapshot_path, store.as_ref(), &item.remote_dir)
                        .await
                };
                match outcome {
                    Ok(report) => proto::UploadItemResult {
                        result: Some(status_result(item.tablet_id, Ok(()))),
                        files: report.files,
                        files_uploaded: report.files_uploaded,
                        bytes_uploaded: report.bytes_uploaded,
                    },
                    Err(e) => proto::UploadItemResult {
                        result: Some(status_result(item.tablet_id, Err(e))),
                        ..Default::default()
                    },
                }
            }
        })
        .await;
        Ok(Response::new(proto::UploadSnapshotsResponse { results }))
    }

    async fn get_upload_progress(
        &self,
        request: Request<proto::GetTransferProgressRequest>,
    ) -> Result<Response<proto::GetTransferProgressResponse>, Status> {
        let (running, counts) = self.be.upload_progress(request.into_inner().job_id);
        Ok(Response::new(progress_response(running, counts)))
    }

    async fn download_snapshots(
        &self,
        request: Request<proto::DownloadSnapshotsRequest>,
    ) -> Result<Response<proto::DownloadSnapshotsResponse>, Status> {
        let r = request.into_inner();
        check_transfer_batch(r.items.len(), r.items.iter().map(|i| i.tablet_id))?;
        let store = open_store(&r.location, r.properties, &r.broker_addr)?;
        let be = &self.be;
        let job_id = r.job_id;
        let results = in_order(r.items, TRANSFER_ITEMS_AT_ONCE, |item| {
            let store = store.clone();
            async move {
                let retag = Retag { source_tablet_id: item.source_tablet_id, new_tablet_id: item.tablet_id };
                let outcome = if palo_buggify::fail_task(palo_buggify::Task::DownloadSnapshot) {
                    Err(Status::unavailable("injected failure of download_snapshot (simulation)"))
                } else {
                    be.download_snapshot(
                        job_id,
                        &item.snapshot_path,
                        store.as_ref(),
                        &item.remote_dir,
                        &item.files,
                        retag,
                    )
                    .await
                };
                match outcome {
                    Ok(report) => proto::DownloadItemResult {
                        result: Some(status_result(item.tablet_id, Ok(()))),
                        files_downloaded: report.files_downloaded,
                        bytes_downloaded: report.bytes_downloaded,
                    },
                    Err(e) => proto::DownloadItemResult {
                        result: Some(status_result(item.tablet_id, Err(e))),
                        ..Default::default()
                    },
                }
            }
        })
        .await;
        Ok(Response::new(proto::DownloadSnapshotsResponse { results }))
    }

    async fn get_download_progress(
        &self,
        request: Request<proto::GetTransferProgressRequest>,
    ) -> Result<Response<proto::GetTransferProgressResponse>, Status> {
        let (running, counts) = self.be.download_progress(request.into_inner().job_id);
        Ok(Response::new(progress_response(running, counts)))
    }

    async fn move_restored_tablets(
        &self,
        request: Request<proto::MoveRestoredTabletsRequest>,
    ) -> Result<Response<proto::MoveRestoredTabletsResponse>, Status> {
        let be = self.be.clone();
        handle(async move {
            let r = request.into_inner();
            check_transfer_batch(r.items.len(), r.items.iter().map(|i| i.tablet_id))?;
            let job_id = r.job_id;
            let results = in_order(r.items, BATCH_CONCURRENCY, |item| {
                let be = be.clone();
                async move {
                    if palo_buggify::fail_task(palo_buggify::Task::MoveRestoredTablet) {
                        let injected =
                            TabletError::Unavailable("injected failure of move_restored_tablet (simulation)".into());
                        return task_result(item.tablet_id, Err(injected));
                    }
                    let outcome = be.tablets.move_restored(item.tablet_id, &item.snapshot_path, item.version).await;
                    if let Ok(version) = outcome {
                        tracing::info!(job_id, tablet_id = item.tablet_id, version, "be: restored tablet moved");
                    }
                    task_result(item.tablet_id, outcome)
                }
            })
            .await;
            Ok(Response::new(proto::MoveRestoredTabletsResponse { results }))
        })
        .await
    }
}

/// A job's transfers of one kind on this backend as GetUploadProgress/GetDownloadProgress answer.
fn progress_response(running: u64, counts: ProgressCounts) -> proto::GetTransferProgressResponse {
    proto::GetTransferProgressResponse {
        running,
        files_total: counts.files_total,
        files_done: counts.files_done,
        bytes_total: counts.bytes_total,
        bytes_done: counts.bytes_done,
    }
}
