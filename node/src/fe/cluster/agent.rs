//! The FE's calls to backends (Doris's "agent tasks"): create and drop tablets, write a load's
//! rows, publish a version, scan, clone, and BACKUP's and RESTORE's snapshot tasks. One cached channel per backend address; every call has
//! the deadlines of [`RpcTimeouts`], so a dead backend costs a timeout, never a hang.

use std::collections::BTreeMap;
use std::sync::Mutex;

use tonic::transport::Channel;

use crate::rpc::{self, RpcTimeouts, proto};
use crate::schema::{Row, Schema};

/// Why a call to a backend failed, in words an operator can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AgentError {
    #[error("backend {addr}: {message}")]
    Failed { addr: String, message: String, code: tonic::Code },
    #[error("backend {addr}: bad answer: {message}")]
    BadAnswer { addr: String, message: String },
}

impl AgentError {
    fn from_status(addr: &str, status: tonic::Status) -> Self {
        AgentError::Failed { addr: addr.to_string(), message: status.message().to_string(), code: status.code() }
    }

    /// The gRPC code of the backend's answer (`None`: no answer came).
    pub fn code(&self) -> Option<tonic::Code> {
        match self {
            AgentError::Failed { code, .. } => Some(*code),
            AgentError::BadAnswer { .. } => None,
        }
    }

    /// The backend is already doing exactly this (an earlier attempt still runs): wait, it is
    /// no failure.
    pub fn is_already_running(&self) -> bool {
        self.code() == Some(tonic::Code::AlreadyExists)
    }

    /// The backend found the data itself damaged (a bad md5, a damaged file), not a transport or
    /// availability problem.
    pub fn is_data_loss(&self) -> bool {
        self.code() == Some(tonic::Code::DataLoss)
    }

    /// The backend answered that what was asked for does not exist (e.g. no sealed rowset).
    pub fn is_not_found(&self) -> bool {
        self.code() == Some(tonic::Code::NotFound)
    }
}

/// Timeouts of data calls: a chunk of rows or a publish may wait on a disk.
pub const DATA_TIMEOUTS: RpcTimeouts = RpcTimeouts { connect_ms: 1_000, request_ms: 20_000 };
/// A clone copies a whole tablet.
pub const CLONE_TIMEOUTS: RpcTimeouts = RpcTimeouts { connect_ms: 1_000, request_ms: 120_000 };
/// An upload or a download moves a whole tablet snapshot between a backend and a repository. The
/// FE also gives up on it as soon as heartbeats show the backend dead, so this bound is only the
/// last resort.
pub const TRANSFER_TIMEOUTS: RpcTimeouts = RpcTimeouts { connect_ms: 1_000, request_ms: 3_600_000 };

/// A batch of many tablets' work (create, write, publish) on one backend.
pub const BATCH_TIMEOUTS: RpcTimeouts = RpcTimeouts { connect_ms: 1_000, request_ms: 120_000 };

/// A batch answer must hold one result per part asked for.
fn one_result_each(
    addr: &str,
    asked: usize,
    results: Vec<proto::TaskResult>,
) -> Result<Vec<proto::TaskResult>, AgentError> {
    if results.len() != asked {
        return Err(AgentError::BadAnswer {
            addr: addr.to_string(),
            message: format!("{} results for a batch of {asked}", results.len()),
        });
    }
    Ok(results)
}

/// One part of a batch answer as a call's outcome: the version it reports, or why it failed.
pub fn task_outcome(addr: &str, result: &proto::TaskResult) -> Result<u64, AgentError> {
    if result.code == 0 {
        return Ok(result.version);
    }
    Err(AgentError::Failed {
        addr: addr.to_string(),
        message: result.message.clone(),
        code: tonic::Code::from_i32(result.code),
    })
}

/// A transfer batch's answer as one outcome per item: the item's result, or why it failed. The
/// answer must hold one result, with its status, per item asked for.
fn item_outcomes<R>(
    addr: &str,
    asked: usize,
    results: Vec<R>,
    status: impl Fn(&R) -> Option<&proto::TaskResult>,
) -> Result<Vec<Result<R, AgentError>>, AgentError> {
    let bad = |message: String| AgentError::BadAnswer { addr: addr.to_string(), message };
    if results.len() != asked {
        return Err(bad(format!("{} results for a batch of {asked}", results.len())));
    }
    results
        .into_iter()
        .map(|r| match status(&r) {
            Some(s) => Ok(task_outcome(addr, s).map(|_| r)),
            None => Err(bad("an item's result without its status".to_string())),
        })
        .collect()
}

/// A request must fit in a gRPC message (the simulator does not check sizes; this does, in
/// both worlds).
fn check_size(addr: &str, request: &impl prost::Message) -> Result<(), AgentError> {
    let len = request.encoded_len();
    debug_assert!(len <= rpc::MAX_MESSAGE_BYTES, "a {len}-byte request to {addr}: batches are cut far below the limit");
    if len > rpc::MAX_MESSAGE_BYTES {
        return Err(AgentError::BadAnswer {
            addr: addr.to_string(),
            message: format!("a request of {len} bytes is more than the {} a message may hold", rpc::MAX_MESSAGE_BYTES),
        });
    }
    Ok(())
}

/// Cached channels, one per (address, timeouts).
#[derive(Default)]
pub struct Agent {
    channels: Mutex<BTreeMap<(String, u64), Channel>>,
}

impl Agent {
    fn channel(&self, addr: &str, timeouts: RpcTimeouts) -> Result<Channel, AgentError> {
        let key = (addr.to_string(), timeouts.request_ms);
        let mut channels = match self.channels.lock() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(channel) = channels.get(&key) {
            return Ok(channel.clone());
        }
        let channel = rpc::channel(addr, timeouts)
            .map_err(|e| AgentError::BadAnswer { addr: addr.to_string(), message: e.to_string() })?;
        channels.insert(key, channel.clone());
        Ok(channel)
    }

    fn client(
        &self,
        addr: &str,
        timeouts: RpcTimeouts,
    ) -> Result<proto::backend_client::BackendClient<Channel>, AgentError> {
        Ok(rpc::backend_client(self.channel(addr, timeouts)?))
    }

    /// One unary call to the backend at `addr`: `call` sends the request on a client with
    /// `timeouts`; a failed status becomes an [`AgentError`] that names `addr`.
    async fn unary<T, F, Fut>(&self, addr: &str, timeouts: RpcTimeouts, call: F) -> Result<T, AgentError>
    where
        F: FnOnce(proto::backend_client::BackendClient<Channel>) -> Fut,
        Fut: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let client = self.client(addr, timeouts)?;
        call(client).await.map(tonic::Response::into_inner).map_err(|s| AgentError::from_status(addr, s))
    }

    /// Who the backend at `addr` is (its cluster, backend id and token), without joining it.
    pub async fn identify(&self, addr: &str) -> Result<proto::IdentifyResponse, AgentError> {
        let answer = self
            .unary(addr, RpcTimeouts::CONTROL, |mut c| async move { c.identify(proto::IdentifyRequest {}).await })
            .await?;
        Ok(answer)
    }

    /// Creates `tablet_ids` empty at `version` in one call (with `restore_job`, waiting for that
    /// restore's rowsets up to `version`); one result per tablet, in order.
    pub async fn create_tablets(
        &self,
        addr: &str,
        tablet_ids: Vec<i64>,
        schema: &Schema,
        version: u64,
        restore_job: Option<i64>,
    ) -> Result<Vec<proto::TaskResult>, AgentError> {
        let schema_json = serde_json::to_vec(schema)
            .map_err(|e| AgentError::BadAnswer { addr: addr.to_string(), message: e.to_string() })?;
        let asked = tablet_ids.len();
        let request =
            proto::CreateTabletsRequest { tablet_ids, schema_json, version, restore_job_id: restore_job.unwrap_or(0) };
        let answer = self.unary(addr, BATCH_TIMEOUTS, |mut c| async move { c.create_tablets(request).await }).await?;
        one_result_each(addr, asked, answer.results)
    }

    /// One load's chunks for tablets of the backend at `addr`; one result per chunk, in order.
    pub async fn write_rows_batch(
        &self,
        addr: &str,
        request: proto::WriteRowsBatchRequest,
    ) -> Result<Vec<proto::TaskResult>, AgentError> {
        let asked = request.chunks.len();
        check_size(addr, &request)?;
        let answer = self.unary(addr, BATCH_TIMEOUTS, |mut c| async move { c.write_rows_batch(request).await }).await?;
        one_result_each(addr, asked, answer.results)
    }

    /// Publishes a txn on tablets of the backend at `addr`; one result per tablet, in order.
    pub async fn publish_batch(
        &self,
        addr: &str,
        request: proto::PublishBatchRequest,
    ) -> Result<Vec<proto::TaskResult>, AgentError> {
        let asked = request.tablets.len();
        let answer = self.unary(addr, BATCH_TIMEOUTS, |mut c| async move { c.publish_batch(request).await }).await?;
        one_result_each(addr, asked, answer.results)
    }

    /// Empties the trash of the backend at `addr`: (tablets, bytes) deleted.
    pub async fn clean_trash(&self, addr: &str) -> Result<(u64, u64), AgentError> {
        let answer = self
            .unary(addr, BATCH_TIMEOUTS, |mut c| async move { c.clean_trash(proto::CleanTrashRequest {}).await })
            .await?;
        Ok((answer.tablets_removed, answer.bytes_removed))
    }

    pub async fn drop_tablet(&self, addr: &str, tablet_id: i64) -> Result<(), AgentError> {
        self.unary(addr, RpcTimeouts::CONTROL, |mut c| async move {
            c.drop_tablet(proto::DropTabletRequest { tablet_id }).await
        })
        .await?;
        Ok(())
    }

    pub async fn write_rows(&self, addr: &str, request: proto::WriteRowsRequest) -> Result<(), AgentError> {
        self.unary(addr, DATA_TIMEOUTS, |mut c| async move { c.write_rows(request).await }).await?;
        Ok(())
    }

    /// Returns the tablet's version after the publish.
    pub async fn publish(&self, addr: &str, txn_id: i64, tablet_id: i64, version: u64) -> Result<u64, AgentError> {
        let response = self
            .unary(addr, DATA_TIMEOUTS, |mut c| async move {
                c.publish_version(proto::PublishVersionRequest { txn_id, tablet_id, version }).await
            })
            .await?;
        Ok(response.version)
    }

    /// [`Agent::write_rows`] with an owned address (for calls gathered in a list).
    pub async fn write_rows_owned(&self, addr: String, request: proto::WriteRowsRequest) -> Result<(), AgentError> {
        self.write_rows(&addr, request).await
    }

    /// [`Agent::publish`] with an owned address.
    pub async fn publish_owned(
        &self,
        addr: String,
        txn_id: i64,
        tablet_id: i64,
        version: u64,
    ) -> Result<u64, AgentError> {
        self.publish(&addr, txn_id, tablet_id, version).await
    }

    pub async fn abort_txn(&self, addr: &str, txn_id: i64) -> Result<(), AgentError> {
        self.unary(
            addr,
            RpcTimeouts::CONTROL,
            |mut c| async move { c.abort_txn(proto::AbortTxnRequest { txn_id }).await },
        )
        .await?;
        Ok(())
    }

    /// Reads a tablet at `version`, rows merged by the backend. At most `max_rows` rows are
    /// taken; more is an error (the caller's query limit).
    pub async fn scan(
        &self,
        addr: &str,
        tablet_id: i64,
        version: u64,
        schema: &Schema,
        max_rows: usize,
    ) -> Result<Vec<Row>, AgentError> {
        let mut stream = self
            .unary(addr, DATA_TIMEOUTS, |mut c| async move { c.scan(proto::ScanRequest { tablet_id, version }).await })
            .await?;
        let mut rows = Vec::new();
        loop {
            let chunk = match stream.message().await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break,
                Err(status) => return Err(AgentError::from_status(addr, status)),
            };
            let decoded = crate::row_codec::decode_rows(schema, &chunk.rows)
                .map_err(|e| AgentError::BadAnswer { addr: addr.to_string(), message: e.to_string() })?;
            if rows.len() + decoded.len() > max_rows {
                return Err(AgentError::Failed {
                    addr: addr.to_string(),
                    message: format!("the query reads more than {max_rows} rows; add a WHERE or a LIMIT"),
                    code: tonic::Code::Unknown,
                });
            }
            rows.extend(decoded);
        }
        Ok(rows)
    }

    /// Asks the backend at `addr` to copy the tablet at `version` from `src_addr`.
    pub async fn clone_tablet(
        &self,
        addr: &str,
        tablet_id: i64,
        schema: &Schema,
        src_addr: &str,
        version: u64,
    ) -> Result<u64, AgentError> {
        let schema_json = serde_json::to_vec(schema)
            .map_err(|e| AgentError::BadAnswer { addr: addr.to_string(), message: e.to_string() })?;
        let request = proto::CloneTabletRequest { tablet_id, schema_json, src_addr: src_addr.to_string(), version };
        let response = self.unary(addr, CLONE_TIMEOUTS, |mut c| async move { c.clone_tablet(request).await }).await?;
        Ok(response.version)
    }

    /// Snapshots of `tablets` (id, version) for `job_id`, kept `timeout_s` seconds at most; one
    /// outcome per tablet, in order.
    pub async fn make_snapshots(
        &self,
        addr: &str,
        job_id: i64,
        timeout_s: u64,
        tablets: &[(i64, u64)],
    ) -> Result<Vec<Result<proto::SnapshotItemResult, AgentError>>, AgentError> {
        let items =
            tablets.iter().map(|(tablet_id, version)| proto::SnapshotItem { tablet_id: *tablet_id, version: *version });
        let request = proto::MakeSnapshotsRequest { job_id, timeout_s, items: items.collect() };
        let response = self.unary(addr, BATCH_TIMEOUTS, |mut c| async move { c.make_snapshots(request).await }).await?;
        item_outcomes(addr, tablets.len(), response.results, |r| r.result.as_ref())
    }

    /// Releases every snapshot of `job_id` on the backend; how many there were.
    pub async fn release_job_snapshots(&self, addr: &str, job_id: i64) -> Result<u64, AgentError> {
        let request = proto::ReleaseSnapshotRequest { path: String::new(), job_id };
        let response =
            self.unary(addr, RpcTimeouts::CONTROL, |mut c| async move { c.release_snapshot(request).await }).await?;
        Ok(response.released)
    }

    /// Uploads a batch of tablets' snapshots to a repository; runs until every item ended. One
    /// result per item, in order: what it uploaded, or why it failed.
    pub async fn upload_snapshots(
        &self,
        addr: &str,
        request: proto::UploadSnapshotsRequest,
    ) -> Result<Vec<Result<proto::UploadItemResult, AgentError>>, AgentError> {
        let asked = request.items.len();
        check_size(addr, &request)?;
        let response =
            self.unary(addr, TRANSFER_TIMEOUTS, |mut c| async move { c.upload_snapshots(request).await }).await?;
        item_outcomes(addr, asked, response.results, |r| r.result.as_ref())
    }

    /// The counters of `job_id`'s uploads running on the backend.
    pub async fn upload_progress(
        &self,
        addr: &str,
        job_id: i64,
    ) -> Result<proto::GetTransferProgressResponse, AgentError> {
        let response = self
            .unary(addr, RpcTimeouts::CONTROL, |mut c| async move {
                c.get_upload_progress(proto::GetTransferProgressRequest { job_id }).await
            })
            .await?;
        Ok(response)
    }

    /// Downloads a batch of backed-up tablets from a repository into their landing snapshots;
    /// runs until every item ended. One result per item, in order.
    pub async fn download_snapshots(
        &self,
        addr: &str,
        request: proto::DownloadSnapshotsRequest,
    ) -> Result<Vec<Result<proto::DownloadItemResult, AgentError>>, AgentError> {
        let asked = request.items.len();
        check_size(addr, &request)?;
        let response =
            self.unary(addr, TRANSFER_TIMEOUTS, |mut c| async move { c.download_snapshots(request).await }).await?;
        item_outcomes(addr, asked, response.results, |r| r.result.as_ref())
    }

    /// The counters of `job_id`'s downloads running on the backend.
    pub async fn download_progress(
        &self,
        addr: &str,
        job_id: i64,
    ) -> Result<proto::GetTransferProgressResponse, AgentError> {
        let response = self
            .unary(addr, RpcTimeouts::CONTROL, |mut c| async move {
                c.get_download_progress(proto::GetTransferProgressRequest { job_id }).await
            })
            .await?;
        Ok(response)
    }

    /// Installs the downloaded rowsets of restore-pending tablets; one outcome per item, in
    /// order: the tablet's version after the move.
    pub async fn move_restored_tablets(
        &self,
        addr: &str,
        job_id: i64,
        items: Vec<proto::MoveItem>,
    ) -> Result<Vec<Result<u64, AgentError>>, AgentError> {
        let asked = items.len();
        let request = proto::MoveRestoredTabletsRequest { job_id, items };
        let response =
            self.unary(addr, BATCH_TIMEOUTS, |mut c| async move { c.move_restored_tablets(request).await }).await?;
        let results = one_result_each(addr, asked, response.results)?;
        Ok(results.iter().map(|r| task_outcome(addr, r)).collect())
    }
}
