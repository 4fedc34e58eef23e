//! The backend (BE): holds tablet files on its disk and answers the FE. In this version it
//! answers heartbeats and remembers which cluster it joined; tablets come with the tables issue.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tonic::{Request, Response, Status};

use crate::disk::{self, Disk};
use crate::error::NodeError;
use crate::rpc::proto;
use crate::shutdown::Shutdown;

/// BE settings, from `be.toml` and flags.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BeConfig {
    pub listen_host: String,
    /// The one gRPC port: heartbeats and (later) agent tasks.
    pub port: u16,
    /// Root of this BE's storage (tablets, snapshots, its cluster identity).
    pub storage_root: PathBuf,
}

impl Default for BeConfig {
    fn default() -> Self {
        BeConfig { listen_host: "0.0.0.0".into(), port: 9060, storage_root: PathBuf::from("be-storage") }
    }
}

/// Which cluster this BE belongs to: written at the first heartbeat, checked at every other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterIdentity {
    pub cluster_id: u64,
    pub backend_id: i64,
}

const IDENTITY_FILE: &str = "cluster_identity.json";

pub struct Be {
    config: BeConfig,
    disk: Arc<dyn Disk>,
    start_time_ms: u64,
    identity: tokio::sync::Mutex<Option<ClusterIdentity>>,
}

impl Be {
    pub async fn open(config: BeConfig, disk: Arc<dyn Disk>) -> Result<Arc<Be>, NodeError> {
        if config.port == 0 {
            return Err(NodeError::Config("be port must be from 1 to 65535".into()));
        }
        let root = config.storage_root.clone();
        disk::create_dir_all_durable(disk.as_ref(), &root)
            .await
            .map_err(|source| NodeError::Disk { context: format!("creating {}", root.display()), source })?;
        let identity_path = root.join(IDENTITY_FILE);
        let identity = match disk.read_all(&identity_path).await {
            Ok(bytes) => Some(serde_json::from_slice::<ClusterIdentity>(&bytes).map_err(|e| {
                NodeError::Other(format!(
                    "{} is damaged ({e}); restore it or remove it to rejoin",
                    identity_path.display()
                ))
            })?),
            Err(e) if e.is_not_found() => None,
            Err(source) => return Err(NodeError::Disk { context: "reading the cluster identity".into(), source }),
        };
        tracing::info!(root = %root.display(), ?identity, "be: opened");
        Ok(Arc::new(Be {
            config,
            disk,
            start_time_ms: crate::clock::now_ms(),
            identity: tokio::sync::Mutex::new(identity),
        }))
    }

    /// The identity this BE has joined, if any.
    pub async fn identity(&self) -> Option<ClusterIdentity> {
        *self.identity.lock().await
    }

    async fn check_identity(&self, cluster_id: u64, backend_id: i64) -> Result<(), Status> {
        let mut identity = self.identity.lock().await;
        match *identity {
            Some(known) if known.cluster_id != cluster_id => Err(Status::failed_precondition(format!(
                "this backend belongs to cluster {} and refuses cluster {cluster_id}; drop it there first \
                 or give it an empty storage_root",
                known.cluster_id
            ))),
            Some(known) if known.backend_id == backend_id => Ok(()),
            _ => {
                // First contact, or re-added under a new id by the same cluster: remember it.
                let new = ClusterIdentity { cluster_id, backend_id };
                let bytes = serde_json::to_vec(&new).map_err(|e| Status::internal(e.to_string()))?;
                disk::write_file_atomic(self.disk.as_ref(), &self.config.storage_root.join(IDENTITY_FILE), &bytes)
                    .await
                    .map_err(|e| Status::unavailable(format!("cannot save the cluster identity: {e}")))?;
                *identity = Some(new);
                Ok(())
            }
        }
    }
}

struct BackendService {
    be: Arc<Be>,
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
        self.be.check_identity(request.cluster_id, request.backend_id).await?;
        let disk = self.be.disk.as_ref();
        let available_bytes = disk.available_bytes().await.unwrap_or(0);
        let capacity_bytes = disk.capacity_bytes().await.unwrap_or(0);
        Ok(Response::new(proto::BackendHeartbeatResponse {
            start_time_ms: self.be.start_time_ms,
            version: crate::VERSION.into(),
            be_port: u64::from(self.be.config.port),
            available_bytes,
            capacity_bytes,
            data_used_bytes: 0,
            tablet_count: 0,
            tablets: Vec::new(),
        }))
    }

    async fn create_tablet(
        &self,
        _request: Request<proto::CreateTabletRequest>,
    ) -> Result<Response<proto::CreateTabletResponse>, Status> {
        Err(Status::unimplemented("tablets are not supported yet"))
    }

    async fn drop_tablet(
        &self,
        _request: Request<proto::DropTabletRequest>,
    ) -> Result<Response<proto::DropTabletResponse>, Status> {
        Err(Status::unimplemented("tablets are not supported yet"))
    }

    async fn write_rows(
        &self,
        _request: Request<proto::WriteRowsRequest>,
    ) -> Result<Response<proto::WriteRowsResponse>, Status> {
        Err(Status::unimplemented("tablets are not supported yet"))
    }

    async fn publish_version(
        &self,
        _request: Request<proto::PublishVersionRequest>,
    ) -> Result<Response<proto::PublishVersionResponse>, Status> {
        Err(Status::unimplemented("tablets are not supported yet"))
    }

    async fn abort_txn(
        &self,
        _request: Request<proto::AbortTxnRequest>,
    ) -> Result<Response<proto::AbortTxnResponse>, Status> {
        Err(Status::unimplemented("tablets are not supported yet"))
    }

    type ScanStream = crate::rpc::ChannelStream<proto::ScanChunk>;

    async fn scan(&self, _request: Request<proto::ScanRequest>) -> Result<Response<Self::ScanStream>, Status> {
        Err(Status::unimplemented("tablets are not supported yet"))
    }

    async fn clone_tablet(
        &self,
        _request: Request<proto::CloneTabletRequest>,
    ) -> Result<Response<proto::CloneTabletResponse>, Status> {
        Err(Status::unimplemented("tablets are not supported yet"))
    }

    type FetchTabletStream = crate::rpc::ChannelStream<proto::FetchTabletChunk>;

    async fn fetch_tablet(
        &self,
        _request: Request<proto::FetchTabletRequest>,
    ) -> Result<Response<Self::FetchTabletStream>, Status> {
        Err(Status::unimplemented("tablets are not supported yet"))
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
    tonic::transport::Server::builder()
        .add_service(proto::backend_server::BackendServer::new(BackendService { be }))
        .serve_with_shutdown(addr, async move { shutdown.wait().await })
        .await
        .map_err(|e| NodeError::Serve { addr: addr.to_string(), detail: e.to_string() })
}
