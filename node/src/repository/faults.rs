//! The simulator's object-store faults (`mem://` only, buggify only): calls that fail as an
//! unreachable store does, calls that take seconds, reads whose bytes come back with a bit
//! flipped, writes torn part way (the call fails and leaves a zero-byte or partial object under
//! the name), and streamed writes that lose a part and still publish. Readers must verify what
//! they read (md5 in file names, JSON that decodes) and writers must check what they published
//! and retry: this layer makes the simulator check that they do. Outside the simulator
//! every fault point is off and the layer is never built.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::{RepoEntry, RepoError, RepoStore, RepoWriter};

/// Chance that a call fails, is slow, or (a read) returns a flipped bit, when buggify is on.
const FAIL_PROBABILITY: f64 = 0.03;
const SLOW_PROBABILITY: f64 = 0.05;
const CORRUPT_PROBABILITY: f64 = 0.01;
/// Chance that a put is torn (fails, leaving nothing or its first half under the name).
const TORN_PROBABILITY: f64 = 0.01;
/// Chance that a part of a streamed write is lost (the write still publishes what arrived).
const LOST_PART_PROBABILITY: f64 = 0.005;
const SLOW_MS: u64 = 1_500;

pub(super) struct FaultyStore {
    pub(super) inner: Arc<dyn RepoStore>,
}

async fn before(op: &str, path: &str) -> Result<(), RepoError> {
    if palo_buggify::buggify_with_prob(SLOW_PROBABILITY) {
        palo_buggify::struck("object-store");
        tokio::time::sleep(Duration::from_millis(SLOW_MS)).await;
    }
    // A fault the simulator aimed at this moment first: checking it draws nothing from the seed.
    if palo_buggify::forced_fault("object-store") || palo_buggify::buggify_with_prob(FAIL_PROBABILITY) {
        palo_buggify::struck("object-store");
        return Err(RepoError::Unreachable(format!("injected fault of {op} {path} (simulation)")));
    }
    Ok(())
}

fn maybe_corrupt(mut bytes: Vec<u8>) -> Vec<u8> {
    if !bytes.is_empty() && palo_buggify::buggify_with_prob(CORRUPT_PROBABILITY) {
        palo_buggify::struck("object-store");
        let at = bytes.len() / 2;
        bytes[at] ^= 0x10;
    }
    bytes
}

#[async_trait]
impl RepoStore for FaultyStore {
    async fn put(&self, path: &str, data: Vec<u8>) -> Result<(), RepoError> {
        before("put", path).await?;
        if !data.is_empty() && palo_buggify::buggify_with_prob(TORN_PROBABILITY) {
            palo_buggify::struck("object-store");
            // The store failed part way and left what it had: nothing, or the first half.
            let kept = if palo_buggify::buggify_with_prob(0.5) { 0 } else { data.len() / 2 };
            let _ = self.inner.put(path, data[..kept].to_vec()).await;
            return Err(RepoError::Unreachable(format!(
                "injected fault: put of {path} torn after {kept} bytes (simulation)"
            )));
        }
        self.inner.put(path, data).await
    }

    async fn put_if_absent(&self, path: &str, data: Vec<u8>) -> Result<bool, RepoError> {
        before("put_if_absent", path).await?;
        self.inner.put_if_absent(path, data).await
    }

    async fn get(&self, path: &str) -> Result<Vec<u8>, RepoError> {
        before("get", path).await?;
        Ok(maybe_corrupt(self.inner.get(path).await?))
    }

    async fn get_range(&self, path: &str, offset: u64, len: u64) -> Result<Vec<u8>, RepoError> {
        before("get_range", path).await?;
        Ok(maybe_corrupt(self.inner.get_range(path, offset, len).await?))
    }

    async fn size_bytes(&self, path: &str) -> Result<u64, RepoError> {
        before("size", path).await?;
        self.inner.size_bytes(path).await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<RepoEntry>, RepoError> {
        before("list", prefix).await?;
        self.inner.list(prefix).await
    }

    async fn list_shallow(&self, prefix: &str) -> Result<super::Shallow, RepoError> {
        before("list", prefix).await?;
        self.inner.list_shallow(prefix).await
    }

    async fn delete(&self, path: &str) -> Result<(), RepoError> {
        before("delete", path).await?;
        self.inner.delete(path).await
    }

    async fn rename(&self, from: &str, to: &str) -> Result<(), RepoError> {
        before("rename", from).await?;
        self.inner.rename(from, to).await
    }

    async fn writer(&self, path: &str) -> Result<Box<dyn RepoWriter>, RepoError> {
        before("write", path).await?;
        Ok(Box::new(FaultyWriter { inner: self.inner.writer(path).await? }))
    }
}

/// A streamed write whose parts may be lost on the way: the write still publishes what arrived,
/// as a multipart upload completed without one of its parts would.
struct FaultyWriter {
    inner: Box<dyn RepoWriter>,
}

#[async_trait]
impl RepoWriter for FaultyWriter {
    async fn write(&mut self, chunk: &[u8]) -> Result<(), RepoError> {
        if !chunk.is_empty() && palo_buggify::buggify_with_prob(LOST_PART_PROBABILITY) {
            palo_buggify::struck("object-store");
            return Ok(());
        }
        self.inner.write(chunk).await
    }

    async fn finish(self: Box<Self>) -> Result<u64, RepoError> {
        self.inner.finish().await
    }

    async fn abort(self: Box<Self>) {
        self.inner.abort().await
    }
}
