//! The broker: the process that moves files between BEs and remote repositories. In this
//! version it answers the FE's pings; the file protocol comes with the backup issue.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};
use tonic::{Request, Response, Status};

use crate::error::NodeError;
use crate::rpc::proto;
use crate::shutdown::Shutdown;

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

struct BrokerService {
    start_time_ms: u64,
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
    let service = BrokerService { start_time_ms: crate::clock::now_ms() };
    tonic::transport::Server::builder()
        .add_service(proto::broker_server::BrokerServer::new(service))
        .serve_with_shutdown(addr, async move { shutdown.wait().await })
        .await
        .map_err(|e| NodeError::Serve { addr: addr.to_string(), detail: e.to_string() })
}
