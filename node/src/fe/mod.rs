//! The frontend (FE): owns the cluster's metadata, journals every change before acknowledging
//! it, answers SQL, and tracks which backends and brokers are alive.
//!
//! Architecture invariant: the FE's in-memory state is a function of its journal. Every change
//! goes through [`Fe::commit`]: validate, append + fsync, then apply; replay at start applies the
//! same records with the same code.

pub mod catalog;
pub mod cluster;
pub mod front;
pub mod jobs;
pub mod session;
pub mod state;
pub mod statements;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::disk::Disk;
use crate::error::{NodeError, SqlError};
use crate::journal::{Journal, JournalError};
use crate::shutdown::Shutdown;
use crate::signal::Signal;
use catalog::auth::Auth;
use catalog::membership::{self, Membership};
use catalog::{Catalog, CatalogEdit};

use catalog::secrets;
pub use cluster::heartbeat::NodeHealth;
use cluster::{agent, heartbeat, replicas};
use jobs::restore::job as restore_job;
pub use session::{QueryOutput, Session};
pub use state::{FeEdit, FeState};
use state::{FeImage, FeImageRef, IMAGE_FORMAT_VERSION};

/// FE settings, from `fe.toml` and flags.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FeConfig {
    /// Address the gRPC server binds to.
    pub listen_host: String,
    /// Address other nodes use to reach this FE.
    pub advertise_host: String,
    pub grpc_port: u16,
    /// MySQL protocol port (Doris's query_port).
    pub query_port: u16,
    /// Directory of the journal (edit log and images).
    pub meta_dir: PathBuf,
    pub heartbeat_interval_ms: u64,
    /// Consecutive failed heartbeats after which a node is shown dead.
    pub heartbeat_max_failures: u32,
    /// Journal records between two image checkpoints, at least (or 256 MiB of them, whichever
    /// comes first); a checkpoint also waits until the records since the last image hold a
    /// quarter of its bytes, so a large catalog is not written out again every few small records.
    pub checkpoint_every_records: u64,
    /// How often the repair loop looks for replicas behind their partition's version.
    pub repair_interval_ms: u64,
    /// How often every repository's `__repo_info` is checked (SHOW REPOSITORIES' ErrMsg).
    pub repository_check_interval_ms: u64,
    /// The largest piece of a journal record one frame holds; a larger record is split into
    /// pieces (`journal.rs`). 8 MiB; the simulator makes it small, so its jobs' records are split
    /// and its crashes tear them.
    pub journal_piece_bytes: usize,
}

impl Default for FeConfig {
    fn default() -> Self {
        FeConfig {
            listen_host: "0.0.0.0".into(),
            advertise_host: "127.0.0.1".into(),
            grpc_port: 9020,
            query_port: 9030,
            meta_dir: PathBuf::from("fe-meta"),
            heartbeat_interval_ms: 1_000,
            heartbeat_max_failures: 3,
            checkpoint_every_records: 1_000,
            repair_interval_ms: 2_000,
            repository_check_interval_ms: 60_000,
            journal_piece_bytes: crate::journal::MAX_PIECE_BYTES,
        }
    }
}

impl FeConfig {
    pub fn validate(&self) -> Result<(), NodeError> {
        if self.grpc_port == 0 || self.query_port == 0 {
            return Err(NodeError::Config("fe grpc_port and query_port must be from 1 to 65535".into()));
        }
        if self.grpc_port == self.query_port {
            return Err(NodeError::Config("fe grpc_port and query_port must differ".into()));
        }
        if !(10..=600_000).contains(&self.heartbeat_interval_ms) {
            return Err(NodeError::Config("heartbeat_interval_ms must be from 10 to 600000".into()));
        }
        if !(1..=1_000).contains(&self.heartbeat_max_failures) {
            return Err(NodeError::Config("heartbeat_max_failures must be from 1 to 1000".into()));
        }
        if !(100..=86_400_000).contains(&self.repository_check_interval_ms) {
            return Err(NodeError::Config("repository_check_interval_ms must be from 100 to 86400000".into()));
        }
        if !(10..=600_000).contains(&self.repair_interval_ms) {
            return Err(NodeError::Config("repair_interval_ms must be from 10 to 600000".into()));
        }
        if self.checkpoint_every_records == 0 {
            return Err(NodeError::Config("checkpoint_every_records must be at least 1".into()));
        }
        if !(64..=crate::journal::MAX_PIECE_BYTES).contains(&self.journal_piece_bytes) {
            return Err(NodeError::Config(format!(
                "journal_piece_bytes must be from 64 to {}",
                crate::journal::MAX_PIECE_BYTES
            )));
        }
        Ok(())
    }

    pub fn advertise_addr(&self) -> String {
        format!("{}:{}", self.advertise_host, self.grpc_port)
    }
}

pub(crate) struct Durable {
    journal: Journal,
    /// Shared with readers as a snapshot: a commit copies it only while a reader still holds the
    /// snapshot it took (copy on write), so a read never copies the whole state.
    state: Arc<FeState>,
    last_lsn: u64,
    records_since_checkpoint: u64,
    /// Bytes of records journaled since the last checkpoint, and the size of that image: a
    /// checkpoint waits until the records since the last one are a share of the image
    /// ([`CHECKPOINT_LOG_SHARE`]), so writing images costs what the journal grows, not the
    /// state's size per few records.
    bytes_since_checkpoint: u64,
    last_image_bytes: u64,
}

/// A checkpoint is taken once the journal since the last one holds at least this share (1/N)
/// of the last image's bytes (and `checkpoint_every_records` records).
const CHECKPOINT_LOG_SHARE: u64 = 4;

/// Bytes of records after which a checkpoint is due even before `checkpoint_every_records`
/// records (a job of many tablets journals records of tens of MiB each).
const CHECKPOINT_LOG_BYTES: u64 = 256 * 1024 * 1024;

/// A running FE. Shared by its gRPC service, its heartbeat loop and (in standalone) the launcher.
pub struct Fe {
    config: FeConfig,
    start_time_ms: u64,
    durable: tokio::sync::Mutex<Durable>,
    health: Mutex<heartbeat::Health>,
    /// Serializes statements that change the catalog's shape (and take ids from it), so one can
    /// call backends between reading the catalog and committing without holding `durable`.
    ddl_lock: tokio::sync::Mutex<()>,
    agent: agent::Agent,
    replicas: Mutex<replicas::Replicas>,
    /// Versions committed by loads and still being published, per partition (see `statements/load.rs`).
    publishing: Mutex<std::collections::BTreeMap<i64, std::collections::BTreeSet<u64>>>,
    /// Txn ids: the next to hand out and the end of the journaled reservation.
    txn_ids: tokio::sync::Mutex<(i64, i64)>,
    /// Last connectivity error per repository id.
    repo_errors: Mutex<std::collections::BTreeMap<i64, String>>,
    /// What running backup jobs know that is not journaled (progress, unfinished tasks).
    job_runtime: Mutex<std::collections::BTreeMap<i64, jobs::runtime::JobRuntime>>,
    /// The driver task of each running backup job.
    job_drivers: Mutex<std::collections::BTreeMap<i64, tokio::task::JoinHandle<()>>>,
    /// Bumped when a backup or restore is submitted, so its driver starts at once.
    jobs_submitted: Signal<u64>,
    /// Held while a backup writes its `__info` and is journaled FINISHED, and by a cancel.
    backup_info_lock: tokio::sync::Mutex<()>,
    /// Set when the FE cannot go on (its journal failed and is poisoned): `serve` stops, so a
    /// restart replays the journal (fail-stop).
    fatal: Signal<Option<String>>,
    /// Repository credentials, kept apart from the journal.
    secrets: secrets::Secrets,
    /// This process's hold on the meta directory, for as long as the FE lives.
    _lock: Box<dyn crate::disk::DirLock>,
}

impl Fe {
    /// Opens the journal, replays it, and returns the FE ready to serve.
    pub async fn open(config: FeConfig, disk: Arc<dyn Disk>) -> Result<Arc<Fe>, NodeError> {
        config.validate()?;
        crate::disk::create_dir_all_durable(disk.as_ref(), &config.meta_dir)
            .await
            .map_err(|source| NodeError::Disk { context: format!("creating {}", config.meta_dir.display()), source })?;
        // Before the journal is read: a second FE on this directory would write over it.
        let lock = disk
            .lock_dir(&config.meta_dir)
            .await
            .map_err(|source| NodeError::Disk { context: "taking the meta directory".into(), source })?;
        let secrets = secrets::Secrets::open(disk.clone(), &config.meta_dir).await?;
        let journal_context = || format!("opening the journal in {}", config.meta_dir.display());
        let (mut journal, recovered) = Journal::open(disk, &config.meta_dir)
            .await
            .map_err(|source| NodeError::Journal { context: journal_context(), source })?;
        journal.set_piece_bytes(config.journal_piece_bytes);
        let mut state = FeState {
            cluster_id: 0,
            membership: Membership::new(),
            catalog: Catalog::default(),
            auth: Auth::default(),
            backup: jobs::backup::job::BackupJobs::default(),
            restore: restore_job::RestoreJobs::default(),
        };
        let mut last_lsn = 0;
        if let Some((lsn, payload)) = &recovered.image {
            let image: FeImage = serde_json::from_slice(payload).map_err(|e| NodeError::Journal {
                context: journal_context(),
                source: JournalError::Corrupt(format!("image {lsn} does not decode: {e}")),
            })?;
            if image.format_version != IMAGE_FORMAT_VERSION {
                return Err(NodeError::Config(format!(
                    "image format version {} is not supported (expected {IMAGE_FORMAT_VERSION})",
                    image.format_version
                )));
            }
            state = image.state;
            last_lsn = *lsn;
        }
        let replayed = recovered.records.len();
        let replayed_bytes: u64 = recovered.records.iter().map(|(_, payload)| payload.len() as u64).sum();
        let last_image_bytes = recovered.image.as_ref().map_or(0, |(_, payload)| payload.len() as u64);
        for (lsn, payload) in &recovered.records {
            let edit: FeEdit = serde_json::from_slice(payload).map_err(|e| NodeError::Journal {
                context: journal_context(),
                source: JournalError::Corrupt(format!("record {lsn} does not decode: {e}")),
            })?;
            state.apply(&edit);
            last_lsn = *lsn;
        }
        let txn_ids_end = state.catalog.txn_ids_reserved_end;
        tracing::info!(
            image_lsn = recovered.image.as_ref().map_or(0, |(lsn, _)| *lsn),
            replayed,
            cut_bytes = recovered.cut_bytes,
            backends = state.membership.backends.len(),
            brokers = state.membership.brokers.len(),
            "fe: journal replayed"
        );
        let fe = Arc::new(Fe {
            start_time_ms: crate::clock::now_ms(),
            durable: tokio::sync::Mutex::new(Durable {
                journal,
                state: Arc::new(state),
                last_lsn,
                records_since_checkpoint: replayed as u64,
                bytes_since_checkpoint: replayed_bytes,
                last_image_bytes,
            }),
            health: Mutex::new(heartbeat::Health::default()),
            ddl_lock: tokio::sync::Mutex::new(()),
            agent: agent::Agent::default(),
            replicas: Mutex::new(replicas::Replicas::default()),
            publishing: Mutex::new(std::collections::BTreeMap::new()),
            txn_ids: tokio::sync::Mutex::new((txn_ids_end.max(1), txn_ids_end.max(1))),
            repo_errors: Mutex::new(std::collections::BTreeMap::new()),
            job_runtime: Mutex::new(std::collections::BTreeMap::new()),
            job_drivers: Mutex::new(std::collections::BTreeMap::new()),
            jobs_submitted: Signal::new(0),
            backup_info_lock: tokio::sync::Mutex::new(()),
            fatal: Signal::new(None),
            secrets,
            _lock: lock,
            config,
        });
        if fe.durable.lock().await.state.cluster_id == 0 {
            let cluster_id = new_cluster_id(&fe.config);
            fe.commit(FeEdit::ClusterId { cluster_id })
                .await
                .map_err(|e| NodeError::Other(format!("cannot record the cluster id: {}", e.message)))?;
            tracing::info!(cluster_id, "fe: new cluster");
        }
        Ok(fe)
    }

    pub fn config(&self) -> &FeConfig {
        &self.config
    }

    /// A snapshot of the durable state (for SHOW, heartbeats and the simulator's checks): shared,
    /// not copied; it stays as it was while later commits go on.
    pub async fn state(&self) -> Arc<FeState> {
        self.durable.lock().await.state.clone()
    }

    /// Journals `edit` (append + fsync), then applies it. The one way FE state changes.
    async fn commit(&self, edit: FeEdit) -> Result<(), SqlError> {
        let mut durable = self.durable.lock().await;
        self.commit_locked(&mut durable, edit).await
    }

    async fn commit_locked(&self, durable: &mut Durable, edit: FeEdit) -> Result<(), SqlError> {
        let payload = encode_record(&edit)?;
        self.commit_encoded(durable, &edit, &payload).await
    }

    /// [`Fe::commit_locked`] of a record already encoded (`payload` is `edit` encoded).
    async fn commit_encoded(&self, durable: &mut Durable, edit: &FeEdit, payload: &[u8]) -> Result<(), SqlError> {
        let lsn = match durable.journal.append(payload).await {
            Ok(lsn) => lsn,
            Err(e) if durable.journal.is_poisoned() => {
                tracing::error!(error = %e, "fe: journal append failed and the journal is poisoned; stopping");
                self.fatal.set(Some(format!("the journal failed and cannot take more records ({e})")));
                return Err(SqlError::doris(format!(
                    "the change may or may not have been saved ({e}); restart the FE, then check before retrying"
                )));
            }
            Err(e) => {
                tracing::warn!(error = %e, "fe: journal append failed");
                return Err(SqlError::doris(format!("the change was not saved ({e}); it had no effect, retry it")));
            }
        };
        // A record split into pieces takes one LSN per piece; `lsn` is its last.
        assert!(lsn > durable.last_lsn, "journal lsn out of step with the FE");
        assert_eq!(lsn + 1, durable.journal.next_lsn(), "journal lsn out of step with the FE");
        // The simulator can make a checkpoint write the state from before this record.
        let before =
            palo_buggify::injected_bug(palo_buggify::Bug::CheckpointMissesLastRecord).then(|| durable.state.clone());
        Arc::make_mut(&mut durable.state).apply(edit);
        durable.last_lsn = lsn;
        durable.records_since_checkpoint += 1;
        durable.bytes_since_checkpoint += payload.len() as u64;
        let log_is_a_share =
            durable.bytes_since_checkpoint.saturating_mul(CHECKPOINT_LOG_SHARE) >= durable.last_image_bytes;
        let log_is_long = durable.records_since_checkpoint >= self.config.checkpoint_every_records
            || durable.bytes_since_checkpoint >= CHECKPOINT_LOG_BYTES;
        if log_is_long && log_is_a_share {
            let image =
                FeImageRef { format_version: IMAGE_FORMAT_VERSION, state: before.as_ref().unwrap_or(&durable.state) };
            // The state is plain data; failing to encode it is a bug (a map with non-string keys,
            // say), never an input problem, and it would silently stop every checkpoint.
            let bytes = serde_json::to_vec(&image).unwrap_or_else(|e| panic!("the FE state does not encode: {e}"));
            match durable.journal.checkpoint(lsn, &bytes).await {
                Ok(()) => {
                    durable.records_since_checkpoint = 0;
                    durable.bytes_since_checkpoint = 0;
                    durable.last_image_bytes = bytes.len() as u64;
                }
                // The record is durable in the edit log; a failed checkpoint only delays
                // compaction, so it is logged and retried after the next record.
                Err(e) => tracing::warn!(error = %e, "fe: checkpoint failed"),
            }
        }
        Ok(())
    }

    /// The replica states (locked briefly; never held across an await).
    pub fn replicas(&self) -> std::sync::MutexGuard<'_, replicas::Replicas> {
        match self.replicas.lock() {
            Ok(r) => r,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Loads still publishing, per partition (locked briefly; never held across an await).
    fn publishing_locked(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::BTreeMap<i64, std::collections::BTreeSet<u64>>> {
        match self.publishing.lock() {
            Ok(p) => p,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// A new txn id, never handed out before (even across restarts): ids come from a journaled
    /// reservation of [`TXN_ID_BLOCK`] at a time.
    async fn next_txn_id(&self) -> Result<i64, SqlError> {
        let mut ids = self.txn_ids.lock().await;
        if ids.0 >= ids.1 {
            let end = ids.0 + TXN_ID_BLOCK;
            self.commit(FeEdit::Catalog { edit: CatalogEdit::ReserveTxnIds { end } }).await?;
            ids.1 = end;
        }
        let id = ids.0;
        ids.0 += 1;
        Ok(id)
    }

    /// Backends alive by the last heartbeats, in id order.
    pub fn alive_backends(&self, membership: &Membership) -> Vec<membership::BackendRecord> {
        let health = self.health_snapshot();
        membership.backends.values().filter(|b| health.backends.get(&b.id).is_some_and(|h| h.alive)).cloned().collect()
    }

    /// Health of every member as last seen by heartbeats.
    pub fn health_snapshot(&self) -> heartbeat::Health {
        match self.health.lock() {
            Ok(h) => h.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

/// Txn ids reserved per journal record.
const TXN_ID_BLOCK: i64 = 1_000;

/// A cluster id from the moment and place of the first start (the simulator controls both).
/// A journal record's bytes.
pub(crate) fn encode_record(edit: &FeEdit) -> Result<Vec<u8>, SqlError> {
    serde_json::to_vec(edit).map_err(|e| SqlError::doris(format!("cannot encode journal record: {e}")))
}

fn new_cluster_id(config: &FeConfig) -> u64 {
    let mut id = crate::clock::now_ms() ^ 0x9e37_79b9_7f4a_7c15;
    for byte in config.advertise_addr().bytes() {
        id = (id ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    (id & 0x7fff_ffff) | 1
}

/// Runs an FE until `shutdown` fires: journal replay, the gRPC service and the heartbeat loop.
pub async fn run(config: FeConfig, disk: Arc<dyn Disk>, shutdown: Shutdown) -> Result<(), NodeError> {
    let fe = Fe::open(config, disk).await?;
    serve(fe, shutdown).await
}

/// Serves an opened FE until `shutdown` fires.
pub async fn serve(fe: Arc<Fe>, shutdown: Shutdown) -> Result<(), NodeError> {
    let addr: SocketAddr = format!("{}:{}", fe.config.listen_host, fe.config.grpc_port)
        .parse()
        .map_err(|e| NodeError::Config(format!("fe listen address: {e}")))?;
    let query_addr: SocketAddr = format!("{}:{}", fe.config.listen_host, fe.config.query_port)
        .parse()
        .map_err(|e| NodeError::Config(format!("fe query address: {e}")))?;
    let listener = front::mysql::bind(query_addr).await?;
    let mysql_front = tokio::spawn(front::mysql::serve(fe.clone(), listener, shutdown.clone()));
    let heartbeats = tokio::spawn(heartbeat::run(fe.clone(), shutdown.clone()));
    let repairs = tokio::spawn(cluster::repair::run(fe.clone(), shutdown.clone()));
    let repository_checks = tokio::spawn(cluster::repository::run_checks(fe.clone(), shutdown.clone()));
    let backups = tokio::spawn(jobs::scheduler::run(fe.clone(), shutdown.clone()));
    tracing::info!(%addr, %query_addr, advertise = %fe.config.advertise_addr(), "fe: serving");
    let mut stop = shutdown.clone();
    let fatal = fe.fatal.clone();
    let served = tonic::transport::Server::builder()
        .add_service(
            crate::rpc::proto::frontend_server::FrontendServer::new(front::service::FrontendService::new(fe.clone()))
                .max_decoding_message_size(crate::rpc::MAX_MESSAGE_BYTES)
                .max_encoding_message_size(crate::rpc::MAX_MESSAGE_BYTES),
        )
        .serve_with_shutdown(addr, async move {
            tokio::select! {
                biased;
                _ = stop.wait() => {}
                _ = fatal.wait_for(Option::is_some) => {}
            }
        })
        .await;
    heartbeats.abort();
    repairs.abort();
    repository_checks.abort();
    backups.abort();
    fe.stop_job_drivers();
    mysql_front.abort();
    served.map_err(|e| NodeError::Serve { addr: addr.to_string(), detail: e.to_string() })?;
    // Fail-stop: an FE whose journal cannot take records stops, and its restart replays it.
    if let Some(why) = fe.fatal.get() {
        return Err(NodeError::Other(format!("fe stopped: {why}; restart it to replay the journal")));
    }
    Ok(())
}
