//! gRPC plumbing shared by every role: the generated protocol, and the one way to build a client
//! channel, which always has a connect timeout and a request timeout. In the simulator a stalled
//! stream never errors by itself, so a call without a deadline could hang a seed forever.

use std::time::Duration;

use tonic::transport::{Channel, Endpoint};

#[allow(clippy::all, clippy::pedantic)]
pub mod proto {
    tonic::include_proto!("palo");
}

/// The largest gRPC message any server or client of the tree sends or takes, set explicitly on
/// every one (tonic's defaults differ by direction: 4 MiB to decode, unbounded to encode).
/// Requests are cut far below it (a load's batch holds about 4 MiB); only a SELECT result over
/// the gRPC port can come near it, and is refused with a message saying so.
pub const MAX_MESSAGE_BYTES: usize = 64 << 20;

/// Bounds on one RPC. Every client in the tree is built with both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RpcTimeouts {
    pub connect_ms: u64,
    pub request_ms: u64,
}

impl RpcTimeouts {
    /// Heartbeats and other control calls: fail fast, the caller retries on its next tick.
    pub const CONTROL: RpcTimeouts = RpcTimeouts { connect_ms: 1_000, request_ms: 3_000 };
    /// Statements sent by an operator or the simulator's workload.
    pub const STATEMENT: RpcTimeouts = RpcTimeouts { connect_ms: 2_000, request_ms: 30_000 };
}

#[derive(Debug, thiserror::Error)]
#[error("bad address {addr:?}: {detail}")]
pub struct BadAddress {
    pub addr: String,
    pub detail: String,
}

/// A lazily connecting channel to `addr` (`host:port`), with both timeouts set.
pub fn channel(addr: &str, timeouts: RpcTimeouts) -> Result<Channel, BadAddress> {
    assert!(timeouts.connect_ms > 0 && timeouts.request_ms > 0, "RPC timeouts must be set");
    let endpoint = Endpoint::from_shared(format!("http://{addr}"))
        .map_err(|e| BadAddress { addr: addr.to_string(), detail: e.to_string() })?
        .connect_timeout(Duration::from_millis(timeouts.connect_ms))
        .timeout(Duration::from_millis(timeouts.request_ms));
    Ok(endpoint.connect_lazy())
}

/// A client of a backend on `channel`, with the tree's message limits.
pub fn backend_client(channel: Channel) -> proto::backend_client::BackendClient<Channel> {
    proto::backend_client::BackendClient::new(channel)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
}

/// A client of a broker on `channel`, with the tree's message limits.
pub fn broker_client(channel: Channel) -> proto::broker_client::BrokerClient<Channel> {
    proto::broker_client::BrokerClient::new(channel)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
}

/// A client of the FE on `channel`, with the tree's message limits.
pub fn frontend_client(channel: Channel) -> proto::frontend_client::FrontendClient<Channel> {
    proto::frontend_client::FrontendClient::new(channel)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
}

/// A server-streaming response fed by a bounded channel: the producer task sends chunks (and
/// blocks when the client is slow), the stream ends when the producer drops its sender.
pub struct ChannelStream<T> {
    receiver: tokio::sync::mpsc::Receiver<Result<T, tonic::Status>>,
}

/// Chunks in flight per stream before the producer waits for the client.
pub const STREAM_CHANNEL_CHUNKS: usize = 4;

impl<T> ChannelStream<T> {
    /// A stream and the sender its producer writes to.
    pub fn new() -> (tokio::sync::mpsc::Sender<Result<T, tonic::Status>>, Self) {
        let (sender, receiver) = tokio::sync::mpsc::channel(STREAM_CHANNEL_CHUNKS);
        (sender, ChannelStream { receiver })
    }
}

impl<T> futures_core::Stream for ChannelStream<T> {
    type Item = Result<T, tonic::Status>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.receiver.poll_recv(cx)
    }
}
