//! [`RepoStore`] through a broker: every call is one gRPC call with deadlines, and every stream
//! message is awaited with a deadline too (a stalled stream never errors by itself).
//!
//! A streamed write ([`RepoStore::writer`]) is one `BrokerWrite` call that runs in its own task,
//! fed through a small bounded channel, so the writer holds at most a few wire chunks. The call's
//! own deadline only has to let the largest object through; what bounds a stalled stream is the
//! deadline on every message (see [`BROKER_WRITE_STREAM_TIMEOUTS`]).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tonic::transport::Channel;
use tonic::{Code, Status};

use super::{
    Location, MAX_GET_BYTES, MAX_LIST_ENTRIES, MAX_PUT_BYTES, MAX_PUT_IF_ABSENT_BYTES, MAX_RANGE_BYTES,
    MAX_STREAM_BYTES, RepoEntry, RepoError, RepoStore, RepoWriter, Shallow, WIRE_CHUNK_BYTES, check_path, check_prefix,
    check_stream_size,
};
use crate::rpc::{self, RpcTimeouts, proto};

/// Deadlines of broker calls (and of each stream message).
pub const BROKER_TIMEOUTS: RpcTimeouts = RpcTimeouts { connect_ms: 2_000, request_ms: 30_000 };

/// The slowest throughput a streamed write must still get through within its call deadline.
const WRITE_STREAM_FLOOR_BYTES_PER_S: u64 = 8 * 1024 * 1024;

/// Deadlines of a streamed write's call. The request deadline covers the whole stream, so it is a
/// backstop that lets [`MAX_STREAM_BYTES`] through at [`WRITE_STREAM_FLOOR_BYTES_PER_S`] (about
/// 2.8 hours). A stalled stream fails much sooner: each message must be taken within
/// [`BROKER_TIMEOUTS`]' request deadline (the channel to the call is small, so a stalled
/// transport fills it at once), the broker waits as long for each message, and the answer after
/// the last message is awaited as long too.
pub const BROKER_WRITE_STREAM_TIMEOUTS: RpcTimeouts = RpcTimeouts {
    connect_ms: BROKER_TIMEOUTS.connect_ms,
    request_ms: MAX_STREAM_BYTES / WRITE_STREAM_FLOOR_BYTES_PER_S * 1000,
};

/// Messages queued between a [`RepoWriter`] and its call: with at most [`WIRE_CHUNK_BYTES`] each,
/// what the writer holds beyond what the transport has taken.
const WRITE_STREAM_MESSAGES: usize = 2;

/// A repository reached through the broker at `addr`.
pub struct BrokerStore {
    addr: String,
    location: String,
    properties: HashMap<String, String>,
    /// The channel, or why `addr` is not usable (reported by every call).
    channel: Result<Channel, String>,
    /// The same for streamed writes, with [`BROKER_WRITE_STREAM_TIMEOUTS`].
    stream_channel: Result<Channel, String>,
}

impl std::fmt::Debug for BrokerStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the properties: they hold credentials.
        f.debug_struct("BrokerStore").field("addr", &self.addr).field("location", &self.location).finish()
    }
}

/// The gRPC status a broker answers for `e`.
pub fn repo_error_to_status(e: &RepoError) -> Status {
    let message = e.to_string();
    match e {
        RepoError::NotFound(_) => Status::not_found(message),
        RepoError::AlreadyExists(_) => Status::already_exists(message),
        RepoError::Denied(_) => Status::permission_denied(message),
        RepoError::Invalid(_) => Status::invalid_argument(message),
        RepoError::Unreachable(_) => Status::unavailable(message),
    }
}

impl BrokerStore {
    /// A store for `location` through the broker at `broker_addr` (`host:port`). Connects lazily;
    /// a bad address or location is reported by each call (the broker checks the location and
    /// properties itself).
    pub fn new(broker_addr: &str, location: &str, properties: &BTreeMap<String, String>) -> BrokerStore {
        let channel = rpc::channel(broker_addr, BROKER_TIMEOUTS).map_err(|e| e.to_string());
        let stream_channel = rpc::channel(broker_addr, BROKER_WRITE_STREAM_TIMEOUTS).map_err(|e| e.to_string());
        BrokerStore {
            addr: broker_addr.to_string(),
            location: location.to_string(),
            properties: properties.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            channel,
            stream_channel,
        }
    }

    fn client(&self) -> Result<proto::broker_client::BrokerClient<Channel>, RepoError> {
        self.client_on(&self.channel)
    }

    fn client_on(
        &self,
        channel: &Result<Channel, String>,
    ) -> Result<proto::broker_client::BrokerClient<Channel>, RepoError> {
        Location::parse(&self.location)?;
        let channel = channel.clone().map_err(RepoError::Invalid)?;
        Ok(crate::rpc::broker_client(channel))
    }

    /// Maps a broker's answer back to the error the broker mapped from.
    fn error(&self, status: Status, path: &str) -> RepoError {
        status_to_error(&self.addr, status, path)
    }

    /// The next message of a response stream, within the request deadline.
    async fn next<T>(&self, stream: &mut tonic::Streaming<T>, path: &str) -> Result<Option<T>, RepoError> {
        match tokio::time::timeout(Duration::from_millis(BROKER_TIMEOUTS.request_ms), stream.message()).await {
            Ok(Ok(message)) => Ok(message),
            Ok(Err(status)) => Err(self.error(status, path)),
            Err(_) => Err(RepoError::Unreachable(format!(
                "broker {}: no data for {path} within {} ms",
                self.addr, BROKER_TIMEOUTS.request_ms
            ))),
        }
    }

    /// Reads `[offset, offset + len)` (len 0: to the end), at most `limit` bytes.
    async fn read(&self, path: &str, offset: u64, len: u64, limit: u64) -> Result<Vec<u8>, RepoError> {
        check_path(path)?;
        let request = proto::BrokerReadRequest {
            location: self.location.clone(),
            properties: self.properties.clone(),
            path: path.to_string(),
            offset,
            len,
        };
        let mut stream = self.client()?.broker_read(request).await.map_err(|s| self.error(s, path))?.into_inner();
        // A read of one wire chunk takes it as it came; a longer one gathers its chunks into room
        // made once (growing as they come would copy them again at every doubling).
        let mut data = match len as usize > WIRE_CHUNK_BYTES {
            true => Vec::with_capacity(len.min(limit) as usize),
            false => Vec::new(),
        };
        while let Some(chunk) = self.next(&mut stream, path).await? {
            if chunk.offset != offset + data.len() as u64 {
                return Err(RepoError::Unreachable(format!(
                    "broker {}: {path}: chunk at offset {} where {} was expected",
                    self.addr,
                    chunk.offset,
                    offset + data.len() as u64
                )));
            }
            if data.len() as u64 + chunk.data.len() as u64 > limit {
                return Err(RepoError::Invalid(format!(
                    "{path} is more than the {limit} bytes one read allows; read it in ranges"
                )));
            }
            match data.capacity() == 0 {
                true => data = chunk.data,
                false => data.extend_from_slice(&chunk.data),
            }
        }
        Ok(data)
    }

    fn header(&self, path: &str, if_absent: bool) -> proto::BrokerWriteRequest {
        proto::BrokerWriteRequest {
            location: self.location.clone(),
            properties: self.properties.clone(),
            path: path.to_string(),
            if_absent,
            data: Vec::new(),
            last: false,
        }
    }

    /// A write of `data` held whole by the caller.
    async fn write(&self, path: &str, data: Vec<u8>, if_absent: bool) -> Result<bool, RepoError> {
        check_path(path)?;
        let limit_bytes = if if_absent { MAX_PUT_IF_ABSENT_BYTES } else { MAX_PUT_BYTES };
        if data.len() as u64 > limit_bytes {
            return Err(RepoError::Invalid(format!(
                "{path}: {} bytes is more than the {limit_bytes} bytes this write allows",
                data.len()
            )));
        }
        let data_len = data.len();
        // Most writes are small (headers, `__info`, the rowsets of small loads): one message.
        let (header, data) = match data.len() <= WIRE_CHUNK_BYTES {
            true => (proto::BrokerWriteRequest { data, last: true, ..self.header(path, if_absent) }, Vec::new()),
            false => (proto::BrokerWriteRequest { last: false, ..self.header(path, if_absent) }, data),
        };
        // The header, then the data in chunks cut one at a time as the stream is polled; the
        // final message says `last`.
        let chunks = futures_util::stream::unfold((Some(header), data, 0usize), |(header, data, at)| async move {
            if let Some(header) = header {
                return Some((header, (None, data, at)));
            }
            if at >= data.len() {
                return None;
            }
            let end = (at + WIRE_CHUNK_BYTES).min(data.len());
            let message = proto::BrokerWriteRequest {
                data: data[at..end].to_vec(),
                last: end == data.len(),
                ..Default::default()
            };
            Some((message, (None, data, end)))
        });
        let sent_bytes = data_len as u64;
        let response = self.client()?.broker_write(chunks).await.map_err(|s| self.error(s, path))?.into_inner();
        // A store can publish less than it was given (a multipart write that lost a part): what
        // the broker published must be what was sent, or the write failed (seed 2356).
        if response.created && response.size_bytes != sent_bytes {
            return Err(RepoError::Unreachable(format!(
                "broker {}: {path}: the broker wrote {} bytes, {sent_bytes} were sent",
                self.addr, response.size_bytes
            )));
        }
        Ok(response.created)
    }
}

impl BrokerStore {
    /// The broker's list of `prefix`, every entry as it sent it.
    async fn list_entries(&self, prefix: &str, shallow: bool) -> Result<Vec<proto::BrokerEntry>, RepoError> {
        check_prefix(prefix)?;
        let request = proto::BrokerListRequest {
            location: self.location.clone(),
            properties: self.properties.clone(),
            prefix: prefix.to_string(),
            shallow,
        };
        let mut stream = self.client()?.broker_list(request).await.map_err(|s| self.error(s, prefix))?.into_inner();
        let mut entries = Vec::new();
        while let Some(chunk) = self.next(&mut stream, prefix).await? {
            if entries.len() + chunk.entries.len() > MAX_LIST_ENTRIES {
                return Err(RepoError::Invalid(format!(
                    "more than {MAX_LIST_ENTRIES} files start with {prefix:?}; use a narrower prefix"
                )));
            }
            entries.extend(chunk.entries);
        }
        Ok(entries)
    }
}

#[async_trait]
impl RepoStore for BrokerStore {
    async fn put(&self, path: &str, data: Vec<u8>) -> Result<(), RepoError> {
        self.write(path, data, false).await.map(|_| ())
    }

    async fn put_if_absent(&self, path: &str, data: Vec<u8>) -> Result<bool, RepoError> {
        self.write(path, data, true).await
    }

    async fn get(&self, path: &str) -> Result<Vec<u8>, RepoError> {
        self.read(path, 0, 0, MAX_GET_BYTES).await
    }

    async fn get_range(&self, path: &str, offset: u64, len: u64) -> Result<Vec<u8>, RepoError> {
        if len > MAX_RANGE_BYTES {
            return Err(RepoError::Invalid(format!("a range read is at most {MAX_RANGE_BYTES} bytes, not {len}")));
        }
        if len == 0 {
            // Still report a missing file or an offset past the end.
            let size = self.size_bytes(path).await?;
            if offset > size {
                return Err(RepoError::Invalid(format!("offset {offset} is past the end of {path} ({size} bytes)")));
            }
            return Ok(Vec::new());
        }
        self.read(path, offset, len, len).await
    }

    async fn size_bytes(&self, path: &str) -> Result<u64, RepoError> {
        check_path(path)?;
        let request = proto::BrokerExistsRequest {
            location: self.location.clone(),
            properties: self.properties.clone(),
            path: path.to_string(),
        };
        let response = self.client()?.broker_exists(request).await.map_err(|s| self.error(s, path))?.into_inner();
        if response.exists { Ok(response.size_bytes) } else { Err(RepoError::NotFound(path.to_string())) }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<RepoEntry>, RepoError> {
        let entries = self.list_entries(prefix, false).await?;
        let mut files: Vec<RepoEntry> = entries
            .into_iter()
            .filter(|e| !e.is_dir)
            .map(|e| RepoEntry { path: e.path, size_bytes: e.size_bytes })
            .collect();
        files.sort();
        Ok(files)
    }

    async fn list_shallow(&self, prefix: &str) -> Result<Shallow, RepoError> {
        let entries = self.list_entries(prefix, true).await?;
        let (dirs, files): (Vec<proto::BrokerEntry>, Vec<proto::BrokerEntry>) =
            entries.into_iter().partition(|e| e.is_dir);
        // Cut to one level here too: a broker that ignores `shallow` lists everything.
        let mut shallow = Shallow::of(
            prefix,
            files.into_iter().map(|e| RepoEntry { path: e.path, size_bytes: e.size_bytes }).collect(),
        );
        shallow.dirs.extend(dirs.into_iter().map(|e| e.path).filter(|d| d.starts_with(prefix)));
        shallow.dirs.sort();
        shallow.dirs.dedup();
        Ok(shallow)
    }

    async fn delete(&self, path: &str) -> Result<(), RepoError> {
        check_path(path)?;
        let request = proto::BrokerDeleteRequest {
            location: self.location.clone(),
            properties: self.properties.clone(),
            path: path.to_string(),
        };
        self.client()?.broker_delete(request).await.map_err(|s| self.error(s, path))?;
        Ok(())
    }

    async fn put_files(&self, files: Vec<(String, Vec<u8>)>) -> Result<(), RepoError> {
        super::check_put_files(files.iter().map(|(path, data)| (path.as_str(), data.len())))?;
        let Some(first) = files.first().map(|(path, _)| path.clone()) else {
            return Ok(());
        };
        let sent: Vec<u64> = files.iter().map(|(_, data)| data.len() as u64).collect();
        let request = proto::BrokerPutFilesRequest {
            location: self.location.clone(),
            properties: self.properties.clone(),
            files: files.into_iter().map(|(path, data)| proto::BrokerFile { path, data }).collect(),
        };
        let response = self.client()?.broker_put_files(request).await.map_err(|s| self.error(s, &first))?.into_inner();
        if response.size_bytes != sent {
            return Err(RepoError::Unreachable(format!(
                "broker {}: a put of {} files from {first}: the broker wrote {:?} bytes, {sent:?} were sent",
                self.addr,
                sent.len(),
                response.size_bytes
            )));
        }
        Ok(())
    }

    fn checks_written_sizes(&self) -> bool {
        true
    }

    async fn rename(&self, from: &str, to: &str) -> Result<(), RepoError> {
        check_path(from)?;
        check_path(to)?;
        let request = proto::BrokerRenameRequest {
            location: self.location.clone(),
            properties: self.properties.clone(),
            from_path: from.to_string(),
            to_path: to.to_string(),
        };
        self.client()?.broker_rename(request).await.map_err(|s| self.error(s, from))?;
        Ok(())
    }

    async fn writer(&self, path: &str) -> Result<Box<dyn RepoWriter>, RepoError> {
        check_path(path)?;
        let mut client = self.client_on(&self.stream_channel)?;
        let (sender, mut receiver) = mpsc::channel(WRITE_STREAM_MESSAGES);
        sender
            .try_send(self.header(path, false))
            .map_err(|e| RepoError::Invalid(format!("{path}: queueing the write's first message: {e}")))?;
        let messages = futures_util::stream::poll_fn(move |cx| receiver.poll_recv(cx));
        let call = tokio::spawn(async move { client.broker_write(messages).await.map(tonic::Response::into_inner) });
        Ok(Box::new(BrokerWriter {
            addr: self.addr.clone(),
            path: path.to_string(),
            sender: Some(sender),
            call: Some(call),
            written_bytes: 0,
            failed: false,
        }))
    }
}

/// Maps a broker's answer back to the error the broker at `addr` mapped from.
fn status_to_error(addr: &str, status: Status, path: &str) -> RepoError {
    let detail = || format!("broker {addr}: {}", status.message());
    match status.code() {
        Code::NotFound => RepoError::NotFound(path.to_string()),
        Code::AlreadyExists => RepoError::AlreadyExists(path.to_string()),
        Code::PermissionDenied | Code::Unauthenticated => RepoError::Denied(detail()),
        Code::InvalidArgument => RepoError::Invalid(detail()),
        _ => RepoError::Unreachable(detail()),
    }
}

type WriteCall = JoinHandle<Result<proto::BrokerWriteResponse, Status>>;

/// A streamed write through the broker: each chunk goes out as it comes. The broker publishes the
/// file only after the message marked `last`, which only [`RepoWriter::finish`] sends, so an
/// aborted, failed or dropped writer leaves nothing (the broker sees a stream cut short).
struct BrokerWriter {
    addr: String,
    path: String,
    /// Feeds the call; dropped to end the stream.
    sender: Option<mpsc::Sender<proto::BrokerWriteRequest>>,
    call: Option<WriteCall>,
    written_bytes: u64,
    /// A send failed: nothing more may be written.
    failed: bool,
}

impl BrokerWriter {
    /// Queues one message for the call, within the per-message deadline.
    async fn send(&mut self, message: proto::BrokerWriteRequest) -> Result<(), RepoError> {
        let Some(sender) = &self.sender else {
            return Err(RepoError::Invalid(format!("{}: the write is already closed", self.path)));
        };
        let deadline = Duration::from_millis(BROKER_TIMEOUTS.request_ms);
        match tokio::time::timeout(deadline, sender.send(message)).await {
            Ok(Ok(())) => Ok(()),
            // The call ended before the stream did: its answer says why.
            Ok(Err(_closed)) => Err(match self.answer().await {
                Ok(_) => RepoError::Unreachable(format!(
                    "broker {}: {}: the broker answered before the write was finished",
                    self.addr, self.path
                )),
                Err(e) => e,
            }),
            Err(_) => Err(RepoError::Unreachable(format!(
                "broker {}: {}: the write made no progress within {} ms",
                self.addr, self.path, BROKER_TIMEOUTS.request_ms
            ))),
        }
    }

    /// The call's answer, within the request deadline.
    async fn answer(&mut self) -> Result<proto::BrokerWriteResponse, RepoError> {
        let Some(call) = self.call.as_mut() else {
            return Err(RepoError::Invalid(format!("{}: the write's answer was already taken", self.path)));
        };
        let outcome = tokio::time::timeout(Duration::from_millis(BROKER_TIMEOUTS.request_ms), call).await;
        let unreachable =
            |detail: String| RepoError::Unreachable(format!("broker {}: {}: {detail}", self.addr, self.path));
        let result = match outcome {
            Err(_) => Err(unreachable(format!("no answer within {} ms", BROKER_TIMEOUTS.request_ms))),
            Ok(Err(join)) => Err(unreachable(format!("the write's task failed: {join}"))),
            Ok(Ok(Err(status))) => Err(status_to_error(&self.addr, status, &self.path)),
            Ok(Ok(Ok(response))) => Ok(response),
        };
        // Answered or given up on: either way the call is over (abort is a no-op if it ended).
        if let Some(call) = self.call.take() {
            call.abort();
        }
        result
    }

    fn check_usable(&self) -> Result<(), RepoError> {
        if self.failed {
            return Err(RepoError::Invalid(format!("{}: an earlier write of this file failed", self.path)));
        }
        Ok(())
    }
}

#[async_trait]
impl RepoWriter for BrokerWriter {
    async fn write(&mut self, chunk: &[u8]) -> Result<(), RepoError> {
        self.check_usable()?;
        check_stream_size(&self.path, self.written_bytes, chunk.len())?;
        for piece in chunk.chunks(WIRE_CHUNK_BYTES) {
            let message = proto::BrokerWriteRequest { data: piece.to_vec(), ..Default::default() };
            if let Err(e) = self.send(message).await {
                self.failed = true;
                return Err(e);
            }
            self.written_bytes += piece.len() as u64;
        }
        Ok(())
    }

    async fn write_owned(&mut self, chunk: Vec<u8>) -> Result<(), RepoError> {
        if chunk.len() > WIRE_CHUNK_BYTES {
            return self.write(&chunk).await;
        }
        self.check_usable()?;
        check_stream_size(&self.path, self.written_bytes, chunk.len())?;
        let len_bytes = chunk.len() as u64;
        if let Err(e) = self.send(proto::BrokerWriteRequest { data: chunk, ..Default::default() }).await {
            self.failed = true;
            return Err(e);
        }
        self.written_bytes += len_bytes;
        Ok(())
    }

    async fn finish(mut self: Box<Self>) -> Result<u64, RepoError> {
        self.check_usable()?;
        self.send(proto::BrokerWriteRequest { last: true, ..Default::default() }).await?;
        // The stream ends right after `last`: the broker publishes and answers.
        self.sender = None;
        let response = self.answer().await?;
        if response.size_bytes != self.written_bytes {
            return Err(RepoError::Unreachable(format!(
                "broker {}: {}: the broker wrote {} bytes, {} were sent",
                self.addr, self.path, response.size_bytes, self.written_bytes
            )));
        }
        Ok(self.written_bytes)
    }

    async fn abort(self: Box<Self>) {
        // Nothing to wait for: cancelling the call and cutting the stream is what Drop does.
        drop(self);
    }
}

impl Drop for BrokerWriter {
    /// Cancels the call first, then ends the stream: a stream that ends without `last` publishes
    /// nothing, so even a broker that sees a clean end before the cancellation writes nothing.
    fn drop(&mut self) {
        if let Some(call) = self.call.take() {
            call.abort();
        }
        self.sender = None;
    }
}
