//! [`RepoStore`] through a broker: every call is one gRPC call with deadlines, and every stream
//! message is awaited with a deadline too (a stalled stream never errors by itself).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use async_trait::async_trait;
use tonic::transport::Channel;
use tonic::{Code, Status};

use super::{
    Location, MAX_GET_BYTES, MAX_LIST_ENTRIES, MAX_PUT_BYTES, MAX_RANGE_BYTES, RepoEntry, RepoError, RepoStore,
    WIRE_CHUNK_BYTES, check_path, check_prefix,
};
use crate::rpc::{self, RpcTimeouts, proto};

/// Deadlines of broker calls (and of each stream message).
pub const BROKER_TIMEOUTS: RpcTimeouts = RpcTimeouts { connect_ms: 2_000, request_ms: 30_000 };

/// A repository reached through the broker at `addr`.
pub struct BrokerStore {
    addr: String,
    location: String,
    properties: HashMap<String, String>,
    /// The channel, or why `addr` is not usable (reported by every call).
    channel: Result<Channel, String>,
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
        BrokerStore {
            addr: broker_addr.to_string(),
            location: location.to_string(),
            properties: properties.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            channel,
        }
    }

    fn client(&self) -> Result<proto::broker_client::BrokerClient<Channel>, RepoError> {
        Location::parse(&self.location)?;
        let channel = self.channel.clone().map_err(RepoError::Invalid)?;
        Ok(proto::broker_client::BrokerClient::new(channel))
    }

    /// Maps a broker's answer back to the error the broker mapped from.
    fn error(&self, status: Status, path: &str) -> RepoError {
        let detail = || format!("broker {}: {}", self.addr, status.message());
        match status.code() {
            Code::NotFound => RepoError::NotFound(path.to_string()),
            Code::AlreadyExists => RepoError::AlreadyExists(path.to_string()),
            Code::PermissionDenied | Code::Unauthenticated => RepoError::Denied(detail()),
            Code::InvalidArgument => RepoError::Invalid(detail()),
            _ => RepoError::Unreachable(detail()),
        }
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
        let mut data = Vec::new();
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
            data.extend_from_slice(&chunk.data);
        }
        Ok(data)
    }

    async fn write(&self, path: &str, data: Vec<u8>, if_absent: bool) -> Result<bool, RepoError> {
        check_path(path)?;
        if data.len() as u64 > MAX_PUT_BYTES {
            return Err(RepoError::Invalid(format!(
                "{path}: {} bytes is more than the {MAX_PUT_BYTES} bytes one write allows",
                data.len()
            )));
        }
        let header = proto::BrokerWriteRequest {
            location: self.location.clone(),
            properties: self.properties.clone(),
            path: path.to_string(),
            if_absent,
            data: Vec::new(),
        };
        // The header, then the data in chunks cut one at a time as the stream is polled.
        let chunks = futures_util::stream::unfold((Some(header), data, 0usize), |(header, data, at)| async move {
            if let Some(header) = header {
                return Some((header, (None, data, at)));
            }
            if at >= data.len() {
                return None;
            }
            let end = (at + WIRE_CHUNK_BYTES).min(data.len());
            let message = proto::BrokerWriteRequest { data: data[at..end].to_vec(), ..Default::default() };
            Some((message, (None, data, end)))
        });
        let response = self.client()?.broker_write(chunks).await.map_err(|s| self.error(s, path))?.into_inner();
        Ok(response.created)
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
        check_prefix(prefix)?;
        let request = proto::BrokerListRequest {
            location: self.location.clone(),
            properties: self.properties.clone(),
            prefix: prefix.to_string(),
        };
        let mut stream = self.client()?.broker_list(request).await.map_err(|s| self.error(s, prefix))?.into_inner();
        let mut entries = Vec::new();
        while let Some(chunk) = self.next(&mut stream, prefix).await? {
            if entries.len() + chunk.entries.len() > MAX_LIST_ENTRIES {
                return Err(RepoError::Invalid(format!(
                    "more than {MAX_LIST_ENTRIES} files start with {prefix:?}; use a narrower prefix"
                )));
            }
            entries.extend(chunk.entries.into_iter().map(|e| RepoEntry { path: e.path, size_bytes: e.size_bytes }));
        }
        entries.sort();
        Ok(entries)
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
}
