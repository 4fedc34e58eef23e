//! The backend (BE): holds tablet files on its disk and answers the FE: heartbeats (with every
//! tablet's version and size), tablet creation and removal, loads (WriteRows, PublishVersion,
//! AbortTxn), scans, replica repair (CloneTablet, which pulls another BE's FetchTablet stream),
//! BACKUP (MakeSnapshot, UploadSnapshots, ReleaseSnapshot) and RESTORE (CreateTablet pending a
//! restore, a landing MakeSnapshot, DownloadSnapshots, MoveRestoredTablet). The tablets themselves
//! live in [`tablet::TabletStore`]; this module opens them, runs background compaction and
//! remembers which cluster it joined; `service.rs` answers the RPCs (errors as gRPC codes,
//! streamed results).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tonic::{Request, Response, Status};

use crate::disk::{self, Disk};
use crate::error::NodeError;
use crate::repository::{self, BrokerStore, RepoStore, repo_error_to_status};
use crate::row_codec;
use crate::rpc::{self, RpcTimeouts, proto};
use crate::schema::Schema;
use crate::shutdown::Shutdown;

pub mod download;
pub mod identity;
pub mod restore;
pub mod rowset;
mod service;
pub mod tablet;
#[cfg(test)]
pub(crate) mod test_support;
pub mod transfer;
pub mod trash;
pub mod upload;

use download::{DownloadError, Retag};
use identity::{BackendIdentity, Identity, Verdict};
use service::{BackendService, download_status, status, upload_status};
use tablet::{ChunkSource, CompactionLimits, TabletError, TabletStore};
use transfer::{ProgressCounts, Transfers};
use upload::UploadError;

/// BE settings, from `be.toml` and flags.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BeConfig {
    pub listen_host: String,
    /// The one gRPC port: heartbeats and (later) agent tasks.
    pub port: u16,
    /// Root of this BE's storage (tablets, snapshots, its cluster identity).
    pub storage_root: PathBuf,
    /// Milliseconds between two background compaction passes.
    pub compaction_interval_ms: u64,
    /// The host the FE reaches this backend at, reported when it starts ("": the address the
    /// FE sees its reports come from).
    pub advertise_host: String,
    /// Seconds a dropped tablet stays in the trash before it is deleted (Doris's
    /// `trash_file_expire_time_sec`); a disk at [`TRASH_FULL_PERCENT`] empties it sooner.
    pub trash_expire_s: u64,
    /// Where the FE is, to report this backend's address to when it starts ("": the FE that
    /// sent the last heartbeat, kept in the storage root).
    pub fe_addr: String,
}

/// A disk at least this full deletes trash, oldest first, before its expiry.
pub const TRASH_FULL_PERCENT: u64 = 90;
/// Three days, as Doris.
pub const DEFAULT_TRASH_EXPIRE_S: u64 = 259_200;

impl Default for BeConfig {
    fn default() -> Self {
        BeConfig {
            listen_host: "0.0.0.0".into(),
            port: 9060,
            storage_root: PathBuf::from("be-storage"),
            compaction_interval_ms: 10_000,
            advertise_host: String::new(),
            trash_expire_s: DEFAULT_TRASH_EXPIRE_S,
            fe_addr: String::new(),
        }
    }
}

impl BeConfig {
    pub fn validate(&self) -> Result<(), NodeError> {
        if self.port == 0 {
            return Err(NodeError::Config("be port must be from 1 to 65535".into()));
        }
        if !(100..=3_600_000).contains(&self.compaction_interval_ms) {
            return Err(NodeError::Config("compaction_interval_ms must be from 100 to 3600000".into()));
        }
        if self.trash_expire_s > 365 * 86_400 {
            return Err(NodeError::Config("trash_expire_s must be from 0 to 31536000 (a year)".into()));
        }
        Ok(())
    }
}

/// Scans holding merged rows in memory at once; more wait.
const MAX_CONCURRENT_SCANS: usize = 16;
/// FetchTablet streams served at once; more are refused (the cloning BE retries).
const MAX_CONCURRENT_FETCHES: usize = 8;
/// Clones running at once; more are refused (the FE retries).
const MAX_CONCURRENT_CLONES: usize = 4;
/// Tablet uploads running at once; more wait for a slot (at most
/// [`transfer::MAX_TRACKED_TRANSFERS`] wait; more are refused and the FE retries).
pub const MAX_CONCURRENT_UPLOADS: usize = 4;
/// Tablet downloads running at once; more wait for a slot, as uploads do.
pub const MAX_CONCURRENT_DOWNLOADS: usize = 4;
/// Tablets one UploadSnapshots or DownloadSnapshots batch may name.
pub const MAX_TRANSFER_BATCH_ITEMS: usize = 512;
/// A scan's rows are sent in chunks of about this many encoded bytes.
const SCAN_CHUNK_BYTES: usize = 1 << 20;
/// Connecting to a clone's source and waiting for its stream to start.
const CLONE_TIMEOUTS: RpcTimeouts = RpcTimeouts { connect_ms: 2_000, request_ms: 30_000 };
/// The longest wait for the next chunk of a clone's stream.
const CLONE_CHUNK_IDLE_MS: u64 = 30_000;

pub struct Be {
    config: BeConfig,
    disk: Arc<dyn Disk>,
    start_time_ms: u64,
    identity: Arc<Identity>,
    /// This process's hold on the storage root, for as long as the backend lives.
    _lock: Box<dyn disk::DirLock>,
    tablets: TabletStore,
    scan_slots: Arc<tokio::sync::Semaphore>,
    fetch_slots: Arc<tokio::sync::Semaphore>,
    clone_slots: tokio::sync::Semaphore,
    /// Uploads running or waiting, by (job_id, tablet_id).
    uploads: Transfers,
    /// Downloads running or waiting, by (job_id, tablet_id).
    downloads: Transfers,
}

impl Be {
    pub async fn open(config: BeConfig, disk: Arc<dyn Disk>) -> Result<Arc<Be>, NodeError> {
        config.validate()?;
        let root = config.storage_root.clone();
        disk::create_dir_all_durable(disk.as_ref(), &root)
            .await
            .map_err(|source| NodeError::Disk { context: format!("creating {}", root.display()), source })?;
        // Before anything in it is read: a second process on this root would destroy its data.
        let lock = disk
            .lock_dir(&root)
            .await
            .map_err(|source| NodeError::Disk { context: "taking the storage root".into(), source })?;
        let identity = Arc::new(Identity::open(disk.clone(), &root).await?);
        let tablets = TabletStore::open(disk.clone(), &root)
            .await
            .map_err(|e| NodeError::Other(format!("cannot open the tablets under {}: {e}", root.display())))?;
        let me = identity.get().await;
        tracing::info!(
            root = %root.display(),
            cluster_id = me.cluster_id,
            backend_id = me.backend_id,
            tablets = tablets.tablet_count(),
            trash_bytes = tablets.trash.size_bytes(),
            "be: opened"
        );
        Ok(Arc::new(Be {
            config,
            disk,
            start_time_ms: crate::clock::now_ms(),
            identity,
            _lock: lock,
            tablets,
            scan_slots: Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT_SCANS)),
            fetch_slots: Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT_FETCHES)),
            clone_slots: tokio::sync::Semaphore::new(MAX_CONCURRENT_CLONES),
            uploads: Transfers::new("upload", MAX_CONCURRENT_UPLOADS),
            downloads: Transfers::new("download", MAX_CONCURRENT_DOWNLOADS),
        }))
    }

    /// This BE's tablets.
    pub fn tablets(&self) -> &TabletStore {
        &self.tablets
    }

    /// Replaces this BE's copy of a tablet with the one the BE at `src_addr` holds at `version`.
    pub async fn clone_tablet(
        &self,
        tablet_id: i64,
        schema: Schema,
        src_addr: &str,
        version: u64,
    ) -> Result<u64, TabletError> {
        let failed =
            |detail: String| TabletError::Unavailable(format!("clone of tablet {tablet_id} from {src_addr}: {detail}"));
        let channel =
            rpc::channel(src_addr, CLONE_TIMEOUTS).map_err(|e| TabletError::InvalidArgument(e.to_string()))?;
        let mut client = rpc::backend_client(channel);
        let stream = client
            .fetch_tablet(proto::FetchTabletRequest { tablet_id, version })
            .await
            .map_err(|s| failed(format!("{:?}: {}", s.code(), s.message())))?
            .into_inner();
        let mut source = RemoteChunks { stream, src_addr: src_addr.to_string(), tablet_id };
        self.tablets.clone_from(tablet_id, schema, version, &mut source).await
    }

    /// Uploads the files of `tablet_id` in the snapshot at `snapshot_path` to `remote_dir` of
    /// `store`, at most [`MAX_CONCURRENT_UPLOADS`] at once; its progress is visible through
    /// [`Be::upload_progress`] while it runs or waits.
    pub async fn upload_snapshot(
        &self,
        job_id: i64,
        tablet_id: i64,
        snapshot_path: &str,
        store: &dyn RepoStore,
        remote_dir: &str,
    ) -> Result<upload::UploadReport, Status> {
        let tracked = self.uploads.track(job_id, tablet_id)?;
        let local_dir = self.tablets.snapshot_tablet_dir(snapshot_path, tablet_id).await.map_err(status)?;
        let header = self.tablets.snapshot_header(snapshot_path, tablet_id).await.map_err(status)?;
        let known_md5: BTreeMap<String, String> =
            header.rowsets.into_iter().filter_map(|r| r.md5.map(|m| (r.file_name, m))).collect();
        let _permit = self.uploads.slot().await?;
        let report =
            upload::upload_snapshot(self.disk.as_ref(), &local_dir, &known_md5, store, remote_dir, tracked.progress())
                .await
                .map_err(upload_status)?;
        tracing::info!(
            job_id,
            tablet_id,
            files = report.files.len(),
            uploaded = report.files_uploaded,
            bytes = report.bytes_uploaded,
            "be: snapshot uploaded"
        );
        Ok(report)
    }

    /// The summed progress of `job_id`'s uploads running or waiting here, and how many there are.
    pub fn upload_progress(&self, job_id: i64) -> (u64, ProgressCounts) {
        self.uploads.progress(job_id)
    }

    /// Downloads the backed-up tablet `retag.source_tablet_id` (the `files` of `remote_dir` in
    /// `store`) into the landing snapshot at `snapshot_path` of the new tablet
    /// `retag.new_tablet_id`, at most [`MAX_CONCURRENT_DOWNLOADS`] at once; its progress is
    /// visible through [`Be::download_progress`] while it runs or waits.
    pub async fn download_snapshot(
        &self,
        job_id: i64,
        snapshot_path: &str,
        store: &dyn RepoStore,
        remote_dir: &str,
        files: &[String],
        retag: Retag,
    ) -> Result<download::DownloadReport, Status> {
        let tablet_id = retag.new_tablet_id;
        let tracked = self.downloads.track(job_id, tablet_id)?;
        let local_dir = self.tablets.snapshot_tablet_dir(snapshot_path, tablet_id).await.map_err(status)?;
        let _permit = self.downloads.slot().await?;
        let report = download::download_snapshot(
            self.disk.as_ref(),
            store,
            remote_dir,
            files,
            &local_dir,
            retag,
            tracked.progress(),
        )
        .await
        .map_err(download_status)?;
        tracing::info!(
            job_id,
            tablet_id,
            source_tablet_id = retag.source_tablet_id,
            files = report.files.len(),
            downloaded = report.files_downloaded,
            bytes = report.bytes_downloaded,
            removed = report.files_removed,
            "be: snapshot downloaded"
        );
        Ok(report)
    }

    /// The summed progress of `job_id`'s downloads running or waiting here, and how many there are.
    pub fn download_progress(&self, job_id: i64) -> (u64, ProgressCounts) {
        self.downloads.progress(job_id)
    }

    /// Who this backend is.
    pub async fn identity(&self) -> BackendIdentity {
        self.identity.get().await
    }
}

/// The repository a transfer request names: direct, or through its broker.
fn open_store(
    location: &str,
    properties: HashMap<String, String>,
    broker_addr: &str,
) -> Result<Arc<dyn RepoStore>, Status> {
    let properties: BTreeMap<String, String> = properties.into_iter().collect();
    if broker_addr.is_empty() {
        repository::open_direct(location, &properties).map_err(|e| repo_error_to_status(&e))
    } else {
        Ok(Arc::new(BrokerStore::new(broker_addr, location, &properties)))
    }
}

/// A clone's source: another BE's FetchTablet stream, each chunk awaited with a deadline (a stalled
/// stream never errors by itself).
struct RemoteChunks {
    stream: tonic::Streaming<proto::FetchTabletChunk>,
    src_addr: String,
    tablet_id: i64,
}

#[async_trait::async_trait]
impl ChunkSource for RemoteChunks {
    async fn next_chunk(&mut self) -> Result<Option<proto::FetchTabletChunk>, TabletError> {
        let failed = |detail: String| {
            TabletError::Unavailable(format!("clone of tablet {} from {}: {detail}", self.tablet_id, self.src_addr))
        };
        match tokio::time::timeout(Duration::from_millis(CLONE_CHUNK_IDLE_MS), self.stream.message()).await {
            Err(_) => Err(failed(format!("no data for {CLONE_CHUNK_IDLE_MS} ms"))),
            Ok(Err(s)) => Err(failed(format!("{:?}: {}", s.code(), s.message()))),
            Ok(Ok(chunk)) => Ok(chunk),
        }
    }
}

/// Background compaction until `shutdown`: one bounded pass every `compaction_interval_ms`.
async fn compaction_loop(be: Arc<Be>, mut shutdown: Shutdown) {
    let interval = Duration::from_millis(be.config.compaction_interval_ms);
    loop {
        tokio::select! {
            biased;
            _ = shutdown.wait() => return,
            _ = tokio::time::sleep(interval) => {}
        }
        let expired = be.tablets.sweep_expired_snapshots().await;
        if expired > 0 {
            tracing::info!(expired, "be: expired snapshots removed");
        }
        let strays = be.tablets.sweep_stray_dirs().await;
        if strays > 0 {
            tracing::info!(strays, "be: stray tablet directories moved to the trash");
        }
        let removed = be.tablets.trash.sweep(be.config.trash_expire_s.saturating_mul(1_000), TRASH_FULL_PERCENT).await;
        if removed.tablets > 0 {
            tracing::info!(tablets = removed.tablets, bytes = removed.bytes, "be: trash entries deleted");
        }
        let report = be.tablets.compact_once(CompactionLimits::default()).await;
        if report.tablets_compacted > 0 || !report.errors.is_empty() {
            tracing::debug!(
                tablets = report.tablets_compacted,
                rowsets = report.rowsets_merged,
                errors = report.errors.len(),
                "be: compaction pass"
            );
        }
    }
}

/// Runs a BE until `shutdown` fires.
pub async fn run(config: BeConfig, disk: Arc<dyn Disk>, shutdown: Shutdown) -> Result<(), NodeError> {
    let be = Be::open(config, disk).await?;
    serve(be, shutdown).await
}

pub async fn serve(be: Arc<Be>, mut shutdown: Shutdown) -> Result<(), NodeError> {
    let addr: SocketAddr = format!("{}:{}", be.config.listen_host, be.config.port)
        .parse()
        .map_err(|e| NodeError::Config(format!("be listen address: {e}")))?;
    tracing::info!(%addr, "be: serving");
    let compaction = tokio::spawn(compaction_loop(be.clone(), shutdown.clone()));
    let report = tokio::spawn(identity::report_until_heard(
        be.identity.clone(),
        be.config.fe_addr.clone(),
        be.config.advertise_host.clone(),
        be.config.port,
        shutdown.clone(),
    ));
    let served = tonic::transport::Server::builder()
        .add_service(
            proto::backend_server::BackendServer::new(BackendService { be })
                .max_decoding_message_size(rpc::MAX_MESSAGE_BYTES)
                .max_encoding_message_size(rpc::MAX_MESSAGE_BYTES),
        )
        .serve_with_shutdown(addr, async move { shutdown.wait().await })
        .await
        .map_err(|e| NodeError::Serve { addr: addr.to_string(), detail: e.to_string() });
    compaction.abort();
    report.abort();
    served
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::be::test_support::TempDisk;
    use crate::schema::{ColumnType, KeysType, Row, Value};
    use crate::shutdown::ShutdownTrigger;

    fn schema() -> Schema {
        let column = crate::be::test_support::column;
        Schema {
            columns: vec![column("k", ColumnType::Int, true), column("v", ColumnType::String, false)],
            keys_type: KeysType::Unique,
        }
    }

    fn free_port() -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds an ephemeral port");
        listener.local_addr().expect("has an address").port()
    }

    async fn start(temp: &TempDisk, name: &str) -> (String, ShutdownTrigger) {
        let config = BeConfig {
            listen_host: "127.0.0.1".into(),
            port: free_port(),
            storage_root: temp.path(name),
            compaction_interval_ms: 100,
            ..BeConfig::default()
        };
        let addr = format!("127.0.0.1:{}", config.port);
        let be = Be::open(config, temp.disk()).await.expect("opens");
        let (trigger, shutdown) = Shutdown::new();
        tokio::spawn(serve(be, shutdown));
        (addr, trigger)
    }

    async fn client(addr: &str) -> proto::backend_client::BackendClient<tonic::transport::Channel> {
        let channel = rpc::channel(addr, RpcTimeouts::STATEMENT).expect("address");
        let mut client = rpc::backend_client(channel);
        for _ in 0..100 {
            let beat = proto::BackendHeartbeatRequest {
                fe_addr: "fe".into(),
                backend_id: 1,
                cluster_id: 7,
                token: String::new(),
            };
            if client.heartbeat(beat).await.is_ok() {
                return client;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the BE at {addr} never answered");
    }

    /// One tablet's snapshot through MakeSnapshots: the item's result, or its code.
    async fn snapshot(
        be: &mut proto::backend_client::BackendClient<tonic::transport::Channel>,
        tablet_id: i64,
        version: u64,
        job_id: i64,
    ) -> Result<proto::SnapshotItemResult, tonic::Code> {
        let items = vec![proto::SnapshotItem { tablet_id, version }];
        let request = proto::MakeSnapshotsRequest { job_id, timeout_s: 0, items };
        let mut results = be.make_snapshots(request).await.map_err(|s| s.code())?.into_inner().results;
        assert_eq!(results.len(), 1, "one result per item");
        let made = results.remove(0);
        match made.result.as_ref().map(|r| r.code) {
            Some(0) => Ok(made),
            Some(code) => Err(tonic::Code::from_i32(code)),
            None => panic!("an item's result without its status"),
        }
    }

    /// One restored tablet moved through MoveRestoredTablets: its version, or the item's code.
    async fn move_restored(
        be: &mut proto::backend_client::BackendClient<tonic::transport::Channel>,
        item: proto::MoveItem,
    ) -> Result<u64, tonic::Code> {
        let request = proto::MoveRestoredTabletsRequest { job_id: 50, items: vec![item] };
        let results = be.move_restored_tablets(request).await.map_err(|s| s.code())?.into_inner().results;
        match results.as_slice() {
            [r] if r.code == 0 => Ok(r.version),
            [r] => Err(tonic::Code::from_i32(r.code)),
            other => panic!("{} results for one item", other.len()),
        }
    }

    async fn scan(
        client: &mut proto::backend_client::BackendClient<tonic::transport::Channel>,
        tablet_id: i64,
        version: u64,
    ) -> Result<Vec<Row>, Status> {
        let mut stream = client.scan(proto::ScanRequest { tablet_id, version }).await?.into_inner();
        let mut rows = Vec::new();
        while let Some(chunk) = stream.message().await? {
            let decoded = row_codec::decode_rows(&schema(), &chunk.rows).expect("decodes");
            assert_eq!(decoded.len() as u64, chunk.row_count);
            assert!(chunk.rows.len() <= SCAN_CHUNK_BYTES + 4096);
            rows.extend(decoded);
        }
        Ok(rows)
    }

    #[tokio::test]
    async fn the_rpcs_load_scan_and_clone_a_tablet() {
        let temp = TempDisk::new("be-rpc").await;
        let (addr1, stop1) = start(&temp, "be1").await;
        let (addr2, stop2) = start(&temp, "be2").await;
        let mut be1 = client(&addr1).await;
        let mut be2 = client(&addr2).await;
        let schema_json = serde_json::to_vec(&schema()).unwrap();
        let create = proto::CreateTabletRequest {
            tablet_id: 1,
            schema_json: schema_json.clone(),
            version: 1,
            restore_pending: false,
            restore_job_id: 0,
        };
        be1.create_tablet(create).await.unwrap();

        // Enough rows for several scan chunks.
        let rows: Vec<Row> = (0..30_000).map(|i| vec![Value::Int(i), Value::Str(format!("{i:>60}"))]).collect();
        let chunks: Vec<&[Row]> = rows.chunks(10_000).collect();
        for (seq, chunk) in chunks.iter().enumerate() {
            let mut bytes = Vec::new();
            row_codec::encode_rows(&schema(), chunk, &mut bytes).unwrap();
            let request = proto::WriteRowsRequest {
                txn_id: 5,
                tablet_id: 1,
                seq: seq as u32,
                rows: bytes,
                row_count: chunk.len() as u64,
                last: seq + 1 == chunks.len(),
            };
            let written = be1.write_rows(request).await.unwrap().into_inner();
            assert_eq!(written.rows_written, chunk.len() as u64);
        }
        let bad =
            proto::WriteRowsRequest { txn_id: 6, tablet_id: 1, seq: 0, rows: vec![1, 2, 3], row_count: 1, last: true };
        assert_eq!(be1.write_rows(bad).await.unwrap_err().code(), tonic::Code::InvalidArgument);
        let publish = proto::PublishVersionRequest { txn_id: 5, tablet_id: 1, version: 2 };
        assert_eq!(be1.publish_version(publish).await.unwrap().into_inner().version, 2);
        let missing = proto::PublishVersionRequest { txn_id: 6, tablet_id: 1, version: 3 };
        assert_eq!(be1.publish_version(missing).await.unwrap_err().code(), tonic::Code::NotFound);

        assert_eq!(scan(&mut be1, 1, 2).await.unwrap(), rows);
        assert_eq!(scan(&mut be1, 1, 3).await.unwrap_err().code(), tonic::Code::FailedPrecondition);
        assert_eq!(scan(&mut be1, 2, 1).await.unwrap_err().code(), tonic::Code::NotFound);

        let beat =
            proto::BackendHeartbeatRequest { fe_addr: "fe".into(), backend_id: 1, cluster_id: 7, token: String::new() };
        let beat = be1.heartbeat(beat).await.unwrap().into_inner();
        assert_eq!(beat.tablet_count, 1);
        assert_eq!((beat.tablets[0].tablet_id, beat.tablets[0].version, beat.tablets[0].row_count), (1, 2, 30_000));
        assert_eq!(beat.data_used_bytes, beat.tablets[0].data_size_bytes);

        // Repair: BE 2 copies the tablet from BE 1.
        let clone = proto::CloneTabletRequest { tablet_id: 1, schema_json, src_addr: addr1.clone(), version: 2 };
        assert_eq!(be2.clone_tablet(clone).await.unwrap().into_inner().version, 2);
        assert_eq!(scan(&mut be2, 1, 2).await.unwrap(), rows);

        be1.drop_tablet(proto::DropTabletRequest { tablet_id: 1 }).await.unwrap();
        be1.drop_tablet(proto::DropTabletRequest { tablet_id: 1 }).await.unwrap();
        assert_eq!(scan(&mut be1, 1, 2).await.unwrap_err().code(), tonic::Code::NotFound);
        stop1.trigger();
        stop2.trigger();
        temp.remove().await;
    }

    #[tokio::test]
    async fn the_rpcs_snapshot_upload_and_release_a_tablet() {
        let temp = TempDisk::new("be-backup-rpc").await;
        let (addr, stop) = start(&temp, "be").await;
        let mut be = client(&addr).await;
        let schema_json = serde_json::to_vec(&schema()).unwrap();
        let create = proto::CreateTabletRequest {
            tablet_id: 3,
            schema_json,
            version: 1,
            restore_pending: false,
            restore_job_id: 0,
        };
        be.create_tablet(create).await.unwrap();
        let rows: Vec<Row> = (0..10).map(|i| vec![Value::Int(i), Value::Str(format!("{i}"))]).collect();
        let mut bytes = Vec::new();
        row_codec::encode_rows(&schema(), &rows, &mut bytes).unwrap();
        let write = proto::WriteRowsRequest { txn_id: 9, tablet_id: 3, seq: 0, rows: bytes, row_count: 10, last: true };
        be.write_rows(write).await.unwrap();
        be.publish_version(proto::PublishVersionRequest { txn_id: 9, tablet_id: 3, version: 2 }).await.unwrap();

        assert_eq!(snapshot(&mut be, 3, 3, 0).await.unwrap_err(), tonic::Code::FailedPrecondition);
        let made = snapshot(&mut be, 3, 2, 41).await.unwrap();
        assert_eq!(made.files.len(), 2);
        let location = format!("mem://be-rpc-{}/repo", std::process::id());
        let item = proto::UploadItem {
            tablet_id: 3,
            snapshot_path: made.path.clone(),
            remote_dir: "__palo_repository_r/__ss_s/__ss_content/__3".into(),
        };
        let upload = |items: Vec<proto::UploadItem>| proto::UploadSnapshotsRequest {
            job_id: 1,
            location: location.clone(),
            properties: Default::default(),
            broker_addr: String::new(),
            items,
        };
        let code = |r: &proto::UploadItemResult| r.result.as_ref().map(|t| (t.tablet_id, t.code));
        // A batch whose second item names a tablet with no snapshot there: the first is uploaded
        // all the same, the second fails alone, with the code a call of its own would get.
        let missing = proto::UploadItem { tablet_id: 5, ..item.clone() };
        let results = be.upload_snapshots(upload(vec![item.clone(), missing])).await.unwrap().into_inner().results;
        assert_eq!(
            results.iter().map(code).collect::<Vec<_>>(),
            [Some((3, 0)), Some((5, tonic::Code::NotFound as i32))]
        );
        let uploaded = &results[0];
        assert_eq!((uploaded.files.len(), uploaded.files_uploaded), (2, 2));
        // Tried again, the batch resumes: the files already there are not sent again.
        let again = be.upload_snapshots(upload(vec![item.clone()])).await.unwrap().into_inner().results;
        assert_eq!((&again[0].files, again[0].files_uploaded), (&uploaded.files, 0));
        let progress = be.get_upload_progress(proto::GetTransferProgressRequest { job_id: 1 }).await.unwrap();
        assert_eq!(progress.into_inner().running, 0);
        let twice = be.upload_snapshots(upload(vec![item.clone(), item.clone()])).await.unwrap_err();
        assert_eq!(twice.code(), tonic::Code::InvalidArgument, "{twice:?}");
        let empty = be.upload_snapshots(upload(Vec::new())).await.unwrap_err();
        assert_eq!(empty.code(), tonic::Code::InvalidArgument, "{empty:?}");

        be.release_snapshot(proto::ReleaseSnapshotRequest { path: made.path.clone(), job_id: 0 }).await.unwrap();
        be.release_snapshot(proto::ReleaseSnapshotRequest { path: made.path, job_id: 0 }).await.unwrap();
        let released = be.upload_snapshots(upload(vec![item])).await.unwrap().into_inner().results;
        assert_eq!(code(&released[0]), Some((3, tonic::Code::NotFound as i32)));
        let outside = proto::ReleaseSnapshotRequest { path: "tablets/3".into(), job_id: 0 };
        assert_eq!(be.release_snapshot(outside).await.unwrap_err().code(), tonic::Code::InvalidArgument);

        // A job's snapshots: reported by heartbeats, released together, and refused afterwards.
        for version in [1, 2] {
            snapshot(&mut be, 3, version, 42).await.unwrap();
        }
        let beat = |be: &mut proto::backend_client::BackendClient<tonic::transport::Channel>| {
            let mut be = be.clone();
            async move {
                let request = proto::BackendHeartbeatRequest {
                    fe_addr: "fe".into(),
                    backend_id: 1,
                    cluster_id: 7,
                    token: String::new(),
                };
                be.heartbeat(request).await.unwrap().into_inner().snapshot_job_ids
            }
        };
        assert_eq!(beat(&mut be).await, vec![42]);
        let release = proto::ReleaseSnapshotRequest { path: String::new(), job_id: 42 };
        assert_eq!(be.release_snapshot(release.clone()).await.unwrap().into_inner().released, 2);
        assert_eq!(be.release_snapshot(release).await.unwrap().into_inner().released, 0);
        assert!(beat(&mut be).await.is_empty());
        assert_eq!(snapshot(&mut be, 3, 2, 42).await.unwrap_err(), tonic::Code::FailedPrecondition);
        stop.trigger();
        temp.remove().await;
    }

    #[tokio::test]
    async fn the_rpcs_restore_a_tablet_from_a_repository() {
        let temp = TempDisk::new("be-restore-rpc").await;
        let (addr, stop) = start(&temp, "be").await;
        let mut be = client(&addr).await;
        let schema_json = serde_json::to_vec(&schema()).unwrap();
        let create = |tablet_id: i64, restore_pending: bool| proto::CreateTabletRequest {
            tablet_id,
            schema_json: schema_json.clone(),
            version: if restore_pending { 2 } else { 1 },
            restore_pending,
            restore_job_id: if restore_pending { 77 } else { 0 },
        };
        // The backup: tablet 3 at version 2, uploaded.
        be.create_tablet(create(3, false)).await.unwrap();
        let rows: Vec<Row> = (0..10).map(|i| vec![Value::Int(i), Value::Str(format!("{i}"))]).collect();
        let mut bytes = Vec::new();
        row_codec::encode_rows(&schema(), &rows, &mut bytes).unwrap();
        let write = proto::WriteRowsRequest { txn_id: 9, tablet_id: 3, seq: 0, rows: bytes, row_count: 10, last: true };
        be.write_rows(write).await.unwrap();
        be.publish_version(proto::PublishVersionRequest { txn_id: 9, tablet_id: 3, version: 2 }).await.unwrap();
        let backup = snapshot(&mut be, 3, 2, 41).await.unwrap();
        let location = format!("mem://be-restore-rpc-{}/repo", std::process::id());
        let remote_dir = "__palo_repository_r/__ss_s/__ss_content/__3".to_string();
        let upload = proto::UploadSnapshotsRequest {
            job_id: 41,
            location: location.clone(),
            properties: Default::default(),
            broker_addr: String::new(),
            items: vec![proto::UploadItem { tablet_id: 3, snapshot_path: backup.path, remote_dir: remote_dir.clone() }],
        };
        let mut uploaded = be.upload_snapshots(upload).await.unwrap().into_inner().results;
        let files = uploaded.remove(0).files;

        // The restore: tablet 4, pending at version 2, with a landing snapshot for job 50.
        be.create_tablet(create(4, true)).await.unwrap();
        be.create_tablet(create(4, true)).await.expect("creating it again is fine");
        // A batch of them, as a restore's SNAPSHOTING makes them: pending for the job, each with
        // its result; one already made by the job is left as it is.
        let batch = |tablet_ids: Vec<i64>| proto::CreateTabletsRequest {
            tablet_ids,
            schema_json: schema_json.clone(),
            version: 2,
            restore_job_id: 77,
        };
        let created = be.create_tablets(batch(vec![5, 4])).await.unwrap().into_inner().results;
        assert_eq!(created.iter().map(|r| (r.tablet_id, r.code)).collect::<Vec<_>>(), [(5, 0), (4, 0)]);
        let twice = be.create_tablets(batch(vec![6, 6])).await.unwrap_err();
        assert_eq!(twice.code(), tonic::Code::InvalidArgument);
        assert_eq!(scan(&mut be, 4, 2).await.unwrap_err().code(), tonic::Code::FailedPrecondition);
        let beat =
            proto::BackendHeartbeatRequest { fe_addr: "fe".into(), backend_id: 1, cluster_id: 7, token: String::new() };
        let beat = be.heartbeat(beat).await.unwrap().into_inner();
        let pending: Vec<(i64, bool)> = beat.tablets.iter().map(|t| (t.tablet_id, t.restore_pending)).collect();
        assert_eq!(pending, [(3, false), (4, true), (5, true)]);
        let landing = snapshot(&mut be, 4, 2, 50).await.unwrap();
        assert_eq!(landing.files, ["4.hdr"]);
        let download = proto::DownloadSnapshotsRequest {
            job_id: 50,
            location,
            properties: Default::default(),
            broker_addr: String::new(),
            items: vec![proto::DownloadItem {
                snapshot_path: landing.path.clone(),
                tablet_id: 4,
                source_tablet_id: 3,
                remote_dir,
                files,
            }],
        };
        let outcome = |r: &proto::DownloadItemResult| (r.result.as_ref().map(|t| t.code), r.files_downloaded);
        let downloaded = be.download_snapshots(download.clone()).await.unwrap().into_inner().results;
        assert_eq!(downloaded.iter().map(outcome).collect::<Vec<_>>(), [(Some(0), 2)]);
        let again = be.download_snapshots(download.clone()).await.unwrap().into_inner().results;
        assert_eq!(again.iter().map(outcome).collect::<Vec<_>>(), [(Some(0), 0)], "resumed: nothing fetched again");
        let progress = be.get_download_progress(proto::GetTransferProgressRequest { job_id: 50 }).await.unwrap();
        assert_eq!(progress.into_inner().running, 0);

        let request = proto::MoveItem { tablet_id: 4, snapshot_path: landing.path, version: 2 };
        assert_eq!(move_restored(&mut be, request.clone()).await, Ok(2));
        assert_eq!(scan(&mut be, 4, 2).await.unwrap(), rows);
        assert_eq!(move_restored(&mut be, request).await, Ok(2), "moved already");

        let release = proto::ReleaseSnapshotRequest { path: String::new(), job_id: 50 };
        assert_eq!(be.release_snapshot(release).await.unwrap().into_inner().released, 1);
        let released = be.download_snapshots(download).await.unwrap().into_inner().results;
        assert_eq!(released.iter().map(outcome).collect::<Vec<_>>(), [(Some(tonic::Code::NotFound as i32), 0)]);
        assert_eq!(scan(&mut be, 4, 2).await.unwrap(), rows);
        stop.trigger();
        temp.remove().await;
    }
}
