//! The broker: the process that moves files between the FE or BEs and remote repositories. It
//! answers the FE's pings and the file protocol (list, exists, delete, rename, read, write) on
//! any location [`repository::open_direct`] opens; the caller's side is
//! [`repository::BrokerStore`]. Writes stream into the store as they come (one part in memory per
//! write, see [`repository::RepoWriter`]), except small conditional creates, which are assembled.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tonic::{Request, Response, Status};

use crate::error::NodeError;
use crate::repository::{
    self, MAX_PUT_IF_ABSENT_BYTES, RepoError, RepoStore, RepoWriter, WIRE_CHUNK_BYTES, repo_error_to_status,
};
use crate::rpc::{ChannelStream, proto};
use crate::shutdown::Shutdown;

/// Opened stores kept per (location, properties).
const MAX_CACHED_STORES: usize = 64;
/// Entries per list message.
const LIST_CHUNK_ENTRIES: usize = 1_000;
/// How long a write waits for the client's next message.
const WRITE_MESSAGE_TIMEOUT_MS: u64 = 30_000;

/// Broker settings, from `broker.toml` and flags.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BrokerConfig {
    pub listen_host: String,
    pub port: u16,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig { listen_host: "0.0.0.0".into(), port: 8000 }
    }
}

type StoreKey = (String, BTreeMap<String, String>);

struct BrokerService {
    start_time_ms: u64,
    stores: tokio::sync::Mutex<BTreeMap<StoreKey, Arc<dyn RepoStore>>>,
}

impl BrokerService {
    fn new(start_time_ms: u64) -> BrokerService {
        BrokerService { start_time_ms, stores: tokio::sync::Mutex::new(BTreeMap::new()) }
    }

    /// The store for a request's location and properties, opened once and cached.
    async fn store(&self, location: &str, properties: HashMap<String, String>) -> Result<Arc<dyn RepoStore>, Status> {
        let key: StoreKey = (location.to_string(), properties.into_iter().collect());
        if let Some(store) = self.stores.lock().await.get(&key) {
            return Ok(Arc::clone(store));
        }
        let store = repository::open_direct(&key.0, &key.1).map_err(|e| status(&e))?;
        let mut stores = self.stores.lock().await;
        if stores.len() >= MAX_CACHED_STORES {
            stores.pop_first();
        }
        Ok(Arc::clone(stores.entry(key).or_insert(store)))
    }
}

fn status(e: &RepoError) -> Status {
    repo_error_to_status(e)
}

#[tonic::async_trait]
impl proto::broker_server::Broker for BrokerService {
    async fn ping(
        &self,
        _request: Request<proto::BrokerPingRequest>,
    ) -> Result<Response<proto::BrokerPingResponse>, Status> {
        Ok(Response::new(proto::BrokerPingResponse {
            start_time_ms: self.start_time_ms,
            version: crate::VERSION.into(),
        }))
    }

    type BrokerListStream = ChannelStream<proto::BrokerListChunk>;

    async fn broker_list(
        &self,
        request: Request<proto::BrokerListRequest>,
    ) -> Result<Response<Self::BrokerListStream>, Status> {
        let r = request.into_inner();
        let store = self.store(&r.location, r.properties).await?;
        let entries: Vec<proto::BrokerEntry> = if r.shallow {
            let shallow = store.list_shallow(&r.prefix).await.map_err(|e| status(&e))?;
            let dirs = shallow.dirs.into_iter().map(|path| proto::BrokerEntry { path, size_bytes: 0, is_dir: true });
            shallow.files.into_iter().map(file_entry).chain(dirs).collect()
        } else {
            store.list(&r.prefix).await.map_err(|e| status(&e))?.into_iter().map(file_entry).collect()
        };
        let (sender, stream) = ChannelStream::new();
        tokio::spawn(async move {
            for batch in entries.chunks(LIST_CHUNK_ENTRIES) {
                let entries = batch.to_vec();
                if sender.send(Ok(proto::BrokerListChunk { entries })).await.is_err() {
                    return; // the client went away
                }
            }
        });
        Ok(Response::new(stream))
    }

    async fn broker_exists(
        &self,
        request: Request<proto::BrokerExistsRequest>,
    ) -> Result<Response<proto::BrokerExistsResponse>, Status> {
        let r = request.into_inner();
        let store = self.store(&r.location, r.properties).await?;
        let response = match store.size_bytes(&r.path).await {
            Ok(size_bytes) => proto::BrokerExistsResponse { exists: true, size_bytes },
            Err(RepoError::NotFound(_)) => proto::BrokerExistsResponse { exists: false, size_bytes: 0 },
            Err(e) => return Err(status(&e)),
        };
        Ok(Response::new(response))
    }

    async fn broker_delete(
        &self,
        request: Request<proto::BrokerDeleteRequest>,
    ) -> Result<Response<proto::BrokerDeleteResponse>, Status> {
        let r = request.into_inner();
        let store = self.store(&r.location, r.properties).await?;
        store.delete(&r.path).await.map_err(|e| status(&e))?;
        Ok(Response::new(proto::BrokerDeleteResponse {}))
    }

    async fn broker_rename(
        &self,
        request: Request<proto::BrokerRenameRequest>,
    ) -> Result<Response<proto::BrokerRenameResponse>, Status> {
        let r = request.into_inner();
        let store = self.store(&r.location, r.properties).await?;
        store.rename(&r.from_path, &r.to_path).await.map_err(|e| status(&e))?;
        Ok(Response::new(proto::BrokerRenameResponse {}))
    }

    type BrokerReadStream = ChannelStream<proto::BrokerReadChunk>;

    async fn broker_read(
        &self,
        request: Request<proto::BrokerReadRequest>,
    ) -> Result<Response<Self::BrokerReadStream>, Status> {
        let r = request.into_inner();
        let store = self.store(&r.location, r.properties).await?;
        let size = store.size_bytes(&r.path).await.map_err(|e| status(&e))?;
        if r.offset > size {
            return Err(Status::invalid_argument(format!(
                "offset {} is past the end of {} ({size} bytes)",
                r.offset, r.path
            )));
        }
        let end = if r.len == 0 { size } else { r.offset.saturating_add(r.len).min(size) };
        let (sender, stream) = ChannelStream::new();
        tokio::spawn(async move {
            let mut at = r.offset;
            while at < end {
                let want = (end - at).min(WIRE_CHUNK_BYTES as u64);
                let data = match store.get_range(&r.path, at, want).await {
                    Ok(data) if data.is_empty() => {
                        let detail = format!("{} shrank to {at} bytes while being read", r.path);
                        let _ = sender.send(Err(Status::aborted(detail))).await;
                        return;
                    }
                    Ok(data) => data,
                    Err(e) => {
                        let _ = sender.send(Err(status(&e))).await;
                        return;
                    }
                };
                let len = data.len() as u64;
                if sender.send(Ok(proto::BrokerReadChunk { offset: at, data })).await.is_err() {
                    return; // the client went away
                }
                at += len;
            }
        });
        Ok(Response::new(stream))
    }

    async fn broker_put_files(
        &self,
        request: Request<proto::BrokerPutFilesRequest>,
    ) -> Result<Response<proto::BrokerPutFilesResponse>, Status> {
        let r = request.into_inner();
        crate::repository::check_put_files(r.files.iter().map(|f| (f.path.as_str(), f.data.len())))
            .map_err(|e| status(&e))?;
        let store = self.store(&r.location, r.properties).await?;
        let mut size_bytes = Vec::with_capacity(r.files.len());
        for file in r.files {
            size_bytes.push(file.data.len() as u64);
            store.put(&file.path, file.data).await.map_err(|e| status(&e))?;
        }
        Ok(Response::new(proto::BrokerPutFilesResponse { size_bytes }))
    }

    async fn broker_write(
        &self,
        request: Request<tonic::Streaming<proto::BrokerWriteRequest>>,
    ) -> Result<Response<proto::BrokerWriteResponse>, Status> {
        let mut stream = request.into_inner();
        let Some(first) = next_write_message(&mut stream).await? else {
            return Err(Status::invalid_argument("empty write: the first message must name the file"));
        };
        if first.path.is_empty() {
            return Err(Status::invalid_argument("the first write message must name the file (path is empty)"));
        }
        check_write_chunk(&first.data)?;
        let store = self.store(&first.location, first.properties).await?;
        let mut rest = WriteData { stream, after_last: first.last };
        let response = if first.if_absent {
            let data = assemble_write(&first.path, first.data, &mut rest).await?;
            let size_bytes = data.len() as u64;
            let created = store.put_if_absent(&first.path, data).await.map_err(|e| status(&e))?;
            proto::BrokerWriteResponse { created, size_bytes }
        } else {
            let mut writer = store.writer(&first.path).await.map_err(|e| status(&e))?;
            if let Err(e) = stream_write(writer.as_mut(), first.data, &mut rest).await {
                writer.abort().await;
                return Err(e);
            }
            let size_bytes = writer.finish().await.map_err(|e| status(&e))?;
            proto::BrokerWriteResponse { created: true, size_bytes }
        };
        Ok(Response::new(response))
    }
}

/// The data messages of a write stream after its first message.
struct WriteData {
    stream: tonic::Streaming<proto::BrokerWriteRequest>,
    /// The message marked `last` has come: only the end of the stream may follow.
    after_last: bool,
}

impl WriteData {
    /// The next message's data; None once the stream ended right after the message marked
    /// `last`. A stream that ends before it was cut short: an error, so nothing is published.
    async fn next(&mut self) -> Result<Option<Vec<u8>>, Status> {
        let message = next_write_message(&mut self.stream).await?;
        match (message, self.after_last) {
            (None, true) => Ok(None),
            (None, false) => {
                Err(Status::aborted("the write stream ended before its last message; nothing was written"))
            }
            (Some(_), true) => Err(Status::invalid_argument("a write message came after the one marked last")),
            (Some(message), false) => {
                check_write_chunk(&message.data)?;
                self.after_last = message.last;
                Ok(Some(message.data))
            }
        }
    }
}

/// Streams a write into `writer` as it comes (the caller aborts the writer on an error).
async fn stream_write(writer: &mut dyn RepoWriter, first: Vec<u8>, rest: &mut WriteData) -> Result<(), Status> {
    writer.write_owned(first).await.map_err(|e| status(&e))?;
    while let Some(data) = rest.next().await? {
        writer.write_owned(data).await.map_err(|e| status(&e))?;
    }
    Ok(())
}

/// A conditional create's data, assembled in memory: at most [`MAX_PUT_IF_ABSENT_BYTES`].
async fn assemble_write(path: &str, first: Vec<u8>, rest: &mut WriteData) -> Result<Vec<u8>, Status> {
    let mut data = first;
    while let Some(more) = rest.next().await? {
        if data.len() as u64 + more.len() as u64 > MAX_PUT_IF_ABSENT_BYTES {
            return Err(Status::invalid_argument(format!(
                "{path}: more than the {MAX_PUT_IF_ABSENT_BYTES} bytes a conditional create allows"
            )));
        }
        data.extend_from_slice(&more);
    }
    Ok(data)
}

/// The next message of a write stream, within a deadline (a stalled client must not hold the
/// buffered bytes, or an open upload, forever).
async fn next_write_message(
    stream: &mut tonic::Streaming<proto::BrokerWriteRequest>,
) -> Result<Option<proto::BrokerWriteRequest>, Status> {
    tokio::time::timeout(Duration::from_millis(WRITE_MESSAGE_TIMEOUT_MS), stream.message())
        .await
        .map_err(|_| Status::deadline_exceeded(format!("no write data within {WRITE_MESSAGE_TIMEOUT_MS} ms")))?
}

fn check_write_chunk(data: &[u8]) -> Result<(), Status> {
    if data.len() > WIRE_CHUNK_BYTES {
        return Err(Status::invalid_argument(format!(
            "a write message carries at most {WIRE_CHUNK_BYTES} bytes, not {}",
            data.len()
        )));
    }
    Ok(())
}

/// Runs a broker until `shutdown` fires.
pub async fn run(config: BrokerConfig, mut shutdown: Shutdown) -> Result<(), NodeError> {
    if config.port == 0 {
        return Err(NodeError::Config("broker port must be from 1 to 65535".into()));
    }
    let addr: SocketAddr = format!("{}:{}", config.listen_host, config.port)
        .parse()
        .map_err(|e| NodeError::Config(format!("broker listen address: {e}")))?;
    tracing::info!(%addr, "broker: serving");
    let service = BrokerService::new(crate::clock::now_ms());
    tonic::transport::Server::builder()
        .add_service(
            proto::broker_server::BrokerServer::new(service)
                .max_decoding_message_size(crate::rpc::MAX_MESSAGE_BYTES)
                .max_encoding_message_size(crate::rpc::MAX_MESSAGE_BYTES),
        )
        .serve_with_shutdown(addr, async move { shutdown.wait().await })
        .await
        .map_err(|e| NodeError::Serve { addr: addr.to_string(), detail: e.to_string() })
}

fn file_entry(e: crate::repository::RepoEntry) -> proto::BrokerEntry {
    proto::BrokerEntry { path: e.path, size_bytes: e.size_bytes, is_dir: false }
}
