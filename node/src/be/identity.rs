//! Who a backend is, kept in its storage root (`cluster_identity.json`): a random token made at
//! its first start, and once an FE's first heartbeat arrives, the cluster and backend id it
//! joined as, with the FE's address. The address a backend listens on is not part of it: a
//! backend restarted on another port (or another machine, its disk moved) is still the same
//! backend, tells the FE where it is now ([`report_until_heard`]), and the FE updates the address
//! instead of adding a new backend (whose heartbeats would find its tablets orphaned).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tonic::Status;

use crate::disk::{self, Disk};
use crate::error::NodeError;
use crate::rpc::{self, RpcTimeouts, proto};
use crate::shutdown::Shutdown;

pub const IDENTITY_FILE: &str = "cluster_identity.json";
/// The longest pause between two reports to the FE.
const MAX_REPORT_BACKOFF_MS: u64 = 10_000;

/// The durable identity. Files written before tokens existed read with an empty token and get
/// one at the next start.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BackendIdentity {
    /// 0: not joined to a cluster yet.
    pub cluster_id: u64,
    pub backend_id: i64,
    /// Random, made at the first start, never changed: tells this backend from any other.
    pub token: String,
    /// The FE that sent the last heartbeat ("" before the first).
    pub fe_addr: String,
}

/// 128 random bits as hex.
pub fn new_token() -> String {
    format!("{:016x}{:016x}", palo_buggify::random_u64(), palo_buggify::random_u64())
}

/// What a heartbeat's identity check decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The request is for this backend (now, if it just joined or was added again).
    Same,
    /// This backend is another backend of the cluster than the request's: the FE must not
    /// treat it as the one it asked for.
    Other { backend_id: i64 },
}

/// The identity, loaded or made, and its file.
pub struct Identity {
    disk: Arc<dyn Disk>,
    path: PathBuf,
    current: tokio::sync::Mutex<BackendIdentity>,
    /// A heartbeat reached this process (the FE knows where it is): reports stop.
    heard: AtomicBool,
}

impl Identity {
    /// Reads `root/cluster_identity.json`, making a token if it has none (or there is no file).
    pub async fn open(disk: Arc<dyn Disk>, root: &Path) -> Result<Identity, NodeError> {
        let path = root.join(IDENTITY_FILE);
        let mut current = match disk.read_all(&path).await {
            Ok(bytes) => serde_json::from_slice::<BackendIdentity>(&bytes).map_err(|e| {
                NodeError::Other(format!(
                    "{} is damaged ({e}); restore it from a copy, or remove it to join a cluster as a new backend \
                     (its tablets are then orphans the FE drops)",
                    path.display()
                ))
            })?,
            Err(e) if e.is_not_found() => BackendIdentity::default(),
            Err(source) => return Err(NodeError::Disk { context: "reading the cluster identity".into(), source }),
        };
        let identity = if current.token.is_empty() {
            current.token = new_token();
            let identity = Identity {
                disk,
                path,
                current: tokio::sync::Mutex::new(current.clone()),
                heard: AtomicBool::new(false),
            };
            identity
                .save(&current)
                .await
                .map_err(|e| NodeError::Other(format!("cannot save the backend identity: {e}")))?;
            identity
        } else {
            Identity { disk, path, current: tokio::sync::Mutex::new(current), heard: AtomicBool::new(false) }
        };
        Ok(identity)
    }

    pub async fn get(&self) -> BackendIdentity {
        self.current.lock().await.clone()
    }

    async fn save(&self, identity: &BackendIdentity) -> Result<(), String> {
        let bytes = serde_json::to_vec_pretty(identity).map_err(|e| e.to_string())?;
        disk::write_file_atomic(self.disk.as_ref(), &self.path, &bytes).await.map_err(|e| e.to_string())
    }

    /// Checks a heartbeat against the identity, joining the cluster at the first one. A backend
    /// of another cluster refuses; one that is another backend of this cluster says which, and
    /// takes the asked id only if the FE showed its token (the FE added it again after dropping
    /// its old id).
    pub async fn on_heartbeat(&self, request: &proto::BackendHeartbeatRequest) -> Result<Verdict, Status> {
        let mut current = self.current.lock().await;
        if current.cluster_id != 0 && current.cluster_id != request.cluster_id {
            return Err(Status::failed_precondition(format!(
                "this backend belongs to cluster {} and refuses cluster {}; drop it there first or give it an empty \
                 storage_root",
                current.cluster_id, request.cluster_id
            )));
        }
        let mut next = current.clone();
        let joins = current.cluster_id == 0;
        let readded =
            current.backend_id != request.backend_id && !request.token.is_empty() && request.token == current.token;
        if !joins && !readded && current.backend_id != request.backend_id {
            return Ok(Verdict::Other { backend_id: current.backend_id });
        }
        next.cluster_id = request.cluster_id;
        next.backend_id = request.backend_id;
        next.fe_addr = request.fe_addr.clone();
        if next != *current {
            self.save(&next)
                .await
                .map_err(|e| Status::unavailable(format!("cannot save the cluster identity: {e}")))?;
            if readded {
                tracing::info!(
                    from = current.backend_id,
                    to = next.backend_id,
                    "be: added to the cluster again under a new id"
                );
            }
            *current = next;
        }
        self.heard.store(true, Ordering::Relaxed);
        Ok(Verdict::Same)
    }
}

/// Until a heartbeat arrives (or `shutdown`), tells the FE (at `fe_addr`, or the one this
/// backend last heard from) where it listens now: `host` ("" lets the FE use the address the
/// report comes from) and `port`. A backend that never joined a cluster has nothing to report.
pub async fn report_until_heard(
    identity: Arc<Identity>,
    fe_addr: String,
    host: String,
    port: u16,
    mut shutdown: Shutdown,
) {
    let mut me = identity.get().await;
    if !fe_addr.is_empty() {
        me.fe_addr = fe_addr;
    }
    if me.cluster_id == 0 || me.fe_addr.is_empty() {
        return;
    }
    let mut pause_ms = 500;
    let mut told = false;
    while !identity.heard.load(Ordering::Relaxed) {
        let outcome = report_once(&me, &host, port).await;
        match outcome {
            Ok(outcome) => {
                tracing::info!(fe = %me.fe_addr, backend_id = me.backend_id, %outcome, "be: reported where it listens");
                return;
            }
            Err(e) if !told => {
                tracing::warn!(fe = %me.fe_addr, error = %e, "be: cannot report to the FE yet; retrying until it hears");
                told = true;
            }
            Err(e) => tracing::debug!(fe = %me.fe_addr, error = %e, "be: report failed"),
        }
        tokio::select! {
            biased;
            _ = shutdown.wait() => return,
            _ = tokio::time::sleep(Duration::from_millis(pause_ms)) => {}
        }
        pause_ms = (pause_ms * 2).min(MAX_REPORT_BACKOFF_MS);
    }
}

async fn report_once(me: &BackendIdentity, host: &str, port: u16) -> Result<String, String> {
    let channel = rpc::channel(&me.fe_addr, RpcTimeouts::CONTROL).map_err(|e| e.to_string())?;
    let request = proto::ReportBackendRequest {
        cluster_id: me.cluster_id,
        backend_id: me.backend_id,
        token: me.token.clone(),
        host: host.to_string(),
        port: u32::from(port),
    };
    let answer = rpc::frontend_client(channel).report_backend(request).await.map_err(|s| s.message().to_string())?;
    Ok(answer.into_inner().outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::be::test_support::TempDisk;

    fn beat(cluster_id: u64, backend_id: i64, token: &str) -> proto::BackendHeartbeatRequest {
        proto::BackendHeartbeatRequest { fe_addr: "fe:9020".into(), backend_id, cluster_id, token: token.into() }
    }

    #[tokio::test]
    async fn joins_once_keeps_its_token_and_says_when_it_is_another_backend() {
        let temp = TempDisk::new("identity").await;
        let identity = Identity::open(temp.disk(), temp.root()).await.expect("open");
        let token = identity.get().await.token;
        assert_eq!(token.len(), 32);
        assert_eq!(identity.on_heartbeat(&beat(7, 10001, "")).await.expect("joins"), Verdict::Same);
        let again = Identity::open(temp.disk(), temp.root()).await.expect("reopen");
        let kept = again.get().await;
        assert_eq!((kept.cluster_id, kept.backend_id, kept.token.as_str()), (7, 10001, token.as_str()));
        assert_eq!(kept.fe_addr, "fe:9020");
        assert_eq!(
            again.on_heartbeat(&beat(7, 10004, "")).await.expect("answers"),
            Verdict::Other { backend_id: 10001 }
        );
        assert_eq!(
            again.on_heartbeat(&beat(7, 10004, "not mine")).await.expect("answers"),
            Verdict::Other { backend_id: 10001 }
        );
        let e = again.on_heartbeat(&beat(8, 10001, "")).await.expect_err("another cluster");
        assert!(e.message().contains("belongs to cluster 7"), "{}", e.message());
        assert_eq!(again.on_heartbeat(&beat(7, 10004, &token)).await.expect("re-added"), Verdict::Same);
        assert_eq!(again.get().await.backend_id, 10004);
    }

    #[tokio::test]
    async fn an_identity_without_a_token_gets_one() {
        let temp = TempDisk::new("identity-old").await;
        let disk = temp.disk();
        let path = temp.root().join(IDENTITY_FILE);
        disk.write_at(&path, 0, br#"{"cluster_id": 7, "backend_id": 10002}"#).await.expect("old file");
        let identity = Identity::open(disk, temp.root()).await.expect("open");
        let got = identity.get().await;
        assert_eq!((got.cluster_id, got.backend_id), (7, 10002));
        assert_eq!(got.token.len(), 32, "a token is made for an old identity");
    }
}
