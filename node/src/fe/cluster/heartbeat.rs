//! Heartbeats: every interval the FE calls each backend and broker it knows. A success marks the
//! node alive at once; `heartbeat_max_failures` consecutive failures mark it dead. Liveness is
//! not journaled: after an FE restart every node is unknown (not alive) until it answers.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tonic::transport::Channel;

use crate::fe::Fe;
use crate::fe::catalog::membership::{BackendRecord, BrokerRecord};
use crate::rpc::{self, RpcTimeouts, proto};
use crate::shutdown::Shutdown;

/// What the FE last learned about one node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeHealth {
    pub alive: bool,
    /// When the node's process started (from its answer), ms since the epoch.
    pub last_start_time_ms: Option<u64>,
    /// When the node last answered, ms since the epoch.
    pub last_heartbeat_ms: Option<u64>,
    pub failure_count: u32,
    pub err_msg: String,
    pub version: String,
    pub available_bytes: u64,
    pub capacity_bytes: u64,
    pub data_used_bytes: u64,
    pub tablet_count: u64,
    /// Bytes in the backend's trash (dropped tablets until their expiry).
    pub trash_bytes: u64,
}

#[derive(Debug, Clone, Default)]
pub struct Health {
    pub backends: BTreeMap<i64, NodeHealth>,
    pub brokers: BTreeMap<BrokerRecord, NodeHealth>,
}

/// The answer of one heartbeat call.
enum Beat {
    Ok(NodeHealth),
    /// A backend's answer with its tablet report and the jobs it holds snapshots for.
    OkWithTablets(NodeHealth, Vec<proto::TabletInfo>, Vec<i64>),
    Failed(String),
    /// Another backend answered at this one's address: dead at once (nothing it says is this
    /// backend's), with why.
    Other(String),
}

fn record(entry: &mut NodeHealth, beat: Beat, now_ms: u64, max_failures: u32) {
    match beat {
        Beat::Ok(seen) | Beat::OkWithTablets(seen, _, _) => {
            *entry = NodeHealth { alive: true, last_heartbeat_ms: Some(now_ms), failure_count: 0, ..seen };
        }
        Beat::Failed(message) => {
            entry.failure_count = entry.failure_count.saturating_add(1);
            entry.err_msg = message;
            if entry.failure_count >= max_failures {
                entry.alive = false;
            }
        }
        Beat::Other(message) => {
            entry.failure_count = entry.failure_count.saturating_add(1);
            entry.err_msg = message;
            entry.alive = false;
        }
    }
}

/// Channels are kept per address so real mode reuses connections.
#[derive(Default)]
struct Channels {
    by_addr: BTreeMap<String, Channel>,
}

impl Channels {
    fn get(&mut self, addr: &str) -> Result<Channel, String> {
        if let Some(channel) = self.by_addr.get(addr) {
            return Ok(channel.clone());
        }
        let channel = rpc::channel(addr, RpcTimeouts::CONTROL).map_err(|e| e.to_string())?;
        self.by_addr.insert(addr.to_string(), channel.clone());
        Ok(channel)
    }
}

async fn beat_backend(
    channel: Result<Channel, String>,
    request: proto::BackendHeartbeatRequest,
) -> Result<proto::BackendHeartbeatResponse, String> {
    let mut client = rpc::backend_client(channel?);
    match client.heartbeat(request).await {
        Ok(response) => Ok(response.into_inner()),
        Err(status) => Err(format!("heartbeat failed: {}", status.message())),
    }
}

/// A backend's answer, judged against its record: alive with its report, or a failure.
fn backend_beat(
    record: &crate::fe::catalog::membership::BackendRecord,
    answer: Result<proto::BackendHeartbeatResponse, String>,
    members: &crate::fe::catalog::membership::Membership,
    holds_replicas: impl Fn(i64) -> bool,
    learned: &mut Vec<crate::fe::cluster::backends::Learned>,
) -> Beat {
    let r = match answer {
        Ok(r) => r,
        Err(e) => return Beat::Failed(e),
    };
    match crate::fe::cluster::backends::judge_answer(record, &r, members, holds_replicas) {
        Err((shown, learn)) => {
            learned.extend(learn);
            Beat::Other(shown)
        }
        Ok(learn) => {
            learned.extend(learn);
            let health = NodeHealth {
                last_start_time_ms: Some(r.start_time_ms),
                version: r.version,
                available_bytes: r.available_bytes,
                capacity_bytes: r.capacity_bytes,
                data_used_bytes: r.data_used_bytes,
                tablet_count: r.tablet_count,
                trash_bytes: r.trash_bytes,
                ..NodeHealth::default()
            };
            Beat::OkWithTablets(health, r.tablets, r.snapshot_job_ids)
        }
    }
}

async fn beat_broker(channel: Result<Channel, String>, request: proto::BrokerPingRequest) -> Beat {
    let channel = match channel {
        Ok(c) => c,
        Err(e) => return Beat::Failed(e),
    };
    let mut client = rpc::broker_client(channel);
    match client.ping(request).await {
        Ok(response) => {
            let r = response.into_inner();
            Beat::Ok(NodeHealth {
                last_start_time_ms: Some(r.start_time_ms),
                version: r.version,
                ..NodeHealth::default()
            })
        }
        Err(status) => Beat::Failed(format!("ping failed: {}", status.message())),
    }
}

/// The heartbeat loop. One round calls every member concurrently and waits for all answers
/// (each bounded by the control RPC timeouts), then sleeps until the next interval.
pub(crate) async fn run(fe: Arc<Fe>, mut shutdown: Shutdown) {
    let interval = Duration::from_millis(fe.config.heartbeat_interval_ms);
    let mut channels = Channels::default();
    loop {
        round(&fe, &mut channels).await;
        tokio::select! {
            biased;
            _ = shutdown.wait() => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}

/// What one round's heartbeats brought back: every member called at once, each answer awaited
/// (each call bounded by the control RPC timeouts).
type BackendAnswers = Vec<(BackendRecord, Result<proto::BackendHeartbeatResponse, String>)>;

async fn call_members(
    state: &crate::fe::FeState,
    fe_addr: &str,
    channels: &mut Channels,
) -> (BackendAnswers, Vec<(BrokerRecord, Beat)>) {
    let fe_addr = fe_addr.to_string();
    let backend_calls: Vec<_> = state
        .membership
        .backends
        .values()
        .map(|backend| {
            let request = proto::BackendHeartbeatRequest {
                fe_addr: fe_addr.clone(),
                backend_id: backend.id,
                cluster_id: state.cluster_id,
                token: backend.token.clone(),
            };
            let call = beat_backend(channels.get(&backend.addr()), request);
            (backend.clone(), tokio::spawn(call))
        })
        .collect();
    let broker_calls: Vec<_> = state
        .membership
        .brokers
        .iter()
        .map(|broker| {
            let request = proto::BrokerPingRequest { fe_addr: fe_addr.clone(), cluster_id: state.cluster_id };
            let call = beat_broker(channels.get(&broker.addr()), request);
            (broker.clone(), tokio::spawn(call))
        })
        .collect();

    let mut backend_answers = Vec::with_capacity(backend_calls.len());
    for (record, call) in backend_calls {
        let answer = call.await.unwrap_or_else(|e| Err(format!("heartbeat task failed: {e}")));
        backend_answers.push((record, answer));
    }
    let mut broker_beats = Vec::with_capacity(broker_calls.len());
    for (broker, call) in broker_calls {
        let beat = call.await.unwrap_or_else(|e| Beat::Failed(format!("ping task failed: {e}")));
        broker_beats.push((broker, beat));
    }
    (backend_answers, broker_beats)
}

async fn round(fe: &Arc<Fe>, channels: &mut Channels) {
    let state = fe.state().await;
    let asked_epoch = fe.replicas().epoch();
    let fe_addr = fe.config.advertise_addr();
    let (backend_answers, broker_beats) = call_members(&state, &fe_addr, channels).await;

    // Members dropped while the round ran are forgotten, and their answers ignored.
    let after = fe.state().await;
    let members = &after.membership;
    let now_ms = crate::clock::now_ms();
    let max_failures = fe.config.heartbeat_max_failures;
    let mut health = match fe.health.lock() {
        Ok(h) => h,
        Err(poisoned) => poisoned.into_inner(),
    };
    health.backends.retain(|id, _| members.backends.contains_key(id));
    health.brokers.retain(|b, _| members.has_broker(b));
    let mut reports = Vec::new();
    let mut snapshot_reports = Vec::new();
    let mut learned = Vec::new();
    let placed: std::collections::BTreeSet<i64> = after.catalog.replicas().map(|(_, _, _, r)| r.backend_id).collect();
    for (asked, answer) in backend_answers {
        let id = asked.id;
        // A backend moved or changed meanwhile is judged at the next round. An answer is judged
        // against the membership the round asked with: it is as old as the question, and a
        // member that reported another address while the round waited (for a backend that does
        // not answer, up to the control timeout) must not be moved back by it (`merge_edits`).
        if members.backends.get(&id) == Some(&asked) {
            let mut beat = backend_beat(&asked, answer, &state.membership, |b| placed.contains(&b), &mut learned);
            if let Beat::OkWithTablets(_, tablets, jobs) = &mut beat {
                reports.push((id, std::mem::take(tablets)));
                let ended = crate::fe::state::ended_jobs(&after, jobs);
                if !ended.is_empty() {
                    snapshot_reports.push((id, ended));
                }
            }
            record(health.backends.entry(id).or_default(), beat, now_ms, max_failures);
        }
    }
    for (broker, beat) in broker_beats {
        if members.has_broker(&broker) {
            record(health.brokers.entry(broker).or_default(), beat, now_ms, max_failures);
        }
    }
    drop(health);
    if !learned.is_empty() {
        let fe = fe.clone();
        tokio::spawn(async move { fe.apply_learned(learned).await });
    }
    let restoring = after.restore.running_replicas();
    let orphans = orphan_tablets(&after, &restoring, &reports);
    // A replica still waiting for a restore that no running job holds (its job ended while its
    // backend was away) has no data up to its version: treated as holding nothing, so repair
    // fills it from a complete replica.
    for (id, tablets) in &mut reports {
        for t in tablets.iter_mut().filter(|t| t.restore_pending && !restoring.contains(&(t.tablet_id, *id))) {
            t.version = 0;
        }
    }
    let mut replicas = fe.replicas();
    for (id, tablets) in reports {
        replicas.report(id, &tablets, asked_epoch);
    }
    drop(replicas);
    for (id, tablets) in orphans {
        let Some(addr) = members.backends.get(&id).map(|b| b.addr()) else { continue };
        let fe = fe.clone();
        tokio::spawn(async move {
            for tablet_id in tablets {
                match fe.agent.drop_tablet(&addr, tablet_id).await {
                    Ok(()) => {
                        tracing::info!(tablet_id, backend_id = id, "fe: dropped a tablet the catalog does not have")
                    }
                    Err(e) => tracing::debug!(tablet_id, backend_id = id, error = %e, "fe: orphan drop failed"),
                }
            }
        });
    }
    // Snapshots of jobs that ended (the release at the end missed this backend): release them.
    // Jobs are read after the reports came back, and a job is journaled before it asks for any
    // snapshot, so a job reported here is never one the FE does not know yet.
    for (id, jobs) in snapshot_reports {
        let fe = fe.clone();
        tokio::spawn(async move { fe.release_ended_job_snapshots(id, jobs).await });
    }
}

/// Tablets dropped from one backend per heartbeat round.
const MAX_ORPHAN_DROPS_PER_ROUND: usize = 256;

/// The reported tablets no one has any more, per backend: tablets of ids the catalog handed out
/// (below its next id) that no catalog replica and no running restore places on that backend (a
/// dropped table or partition whose backend was down, the tablets a restore replaced or made
/// before it was cancelled, a stale copy left where a replica no longer is). Ids at or above the
/// next id may belong to a CREATE TABLE between creating its tablets and journaling them, and are
/// left alone; ids are never handed out twice, so a tablet below it that nothing places there is
/// garbage for good.
fn orphan_tablets(
    state: &crate::fe::FeState,
    restoring: &std::collections::BTreeSet<(i64, i64)>,
    reports: &[(i64, Vec<proto::TabletInfo>)],
) -> Vec<(i64, Vec<i64>)> {
    let placed: std::collections::BTreeSet<(i64, i64)> =
        state.catalog.replicas().map(|(_, _, t, r)| (t.id, r.backend_id)).collect();
    reports
        .iter()
        .filter_map(|(backend_id, tablets)| {
            let orphans: Vec<i64> = tablets
                .iter()
                .map(|t| t.tablet_id)
                .filter(|id| {
                    let here = (*id, *backend_id);
                    *id < state.catalog.next_id && !placed.contains(&here) && !restoring.contains(&here)
                })
                .take(MAX_ORPHAN_DROPS_PER_ROUND)
                .collect();
            (!orphans.is_empty()).then_some((*backend_id, orphans))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alive_at_once_dead_after_max_failures() {
        let mut h = NodeHealth::default();
        record(&mut h, Beat::Ok(NodeHealth { last_start_time_ms: Some(5), ..NodeHealth::default() }), 100, 3);
        assert!(h.alive);
        assert_eq!(h.last_heartbeat_ms, Some(100));
        record(&mut h, Beat::Failed("x".into()), 200, 3);
        record(&mut h, Beat::Failed("y".into()), 300, 3);
        assert!(h.alive, "two failures of three allowed");
        record(&mut h, Beat::Failed("z".into()), 400, 3);
        assert!(!h.alive);
        assert_eq!(h.err_msg, "z");
        assert_eq!(h.last_heartbeat_ms, Some(100), "last heartbeat is the last success");
        record(&mut h, Beat::Ok(NodeHealth::default()), 500, 3);
        assert!(h.alive);
        assert_eq!(h.failure_count, 0);
        assert_eq!(h.err_msg, "");
    }
}
