//! Repair: the loop that makes every replica hold its partition's visible version again.
//!
//! Each round looks at every replica on an alive backend that is behind:
//! - if the versions it misses were made by txns the partition still remembers, the FE sends
//!   those publishes again (an FE crash between commit and publish leaves exactly this);
//! - otherwise (its rowset never arrived, or it is a new replica) the backend clones the tablet
//!   from a healthy replica over the BE-to-BE path.
//!
//! A replica whose backend was dropped from the cluster is moved to another alive backend
//! (journaled), and the new replica is filled by a clone. Work per round is bounded.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use crate::fe::catalog::{CatalogEdit, ReplicaMove, ReplicaRecord, TableRef};
use crate::fe::{Fe, FeEdit, FeState};
use crate::shutdown::Shutdown;

/// Clones started per round.
const MAX_CLONES_PER_ROUND: usize = 8;
/// Publishes re-sent per round.
const MAX_PUBLISHES_PER_ROUND: usize = 256;
/// Replicas moved off dropped backends per round (one journal record of about 100 bytes each).
const MAX_MOVES_PER_ROUND: usize = 4_096;

/// One lagging replica and how to fix it.
struct Lagging {
    tablet_id: i64,
    backend_id: i64,
    addr: String,
    visible_version: u64,
    have_version: u64,
    /// Version → txn that made it, for the versions the replica misses (if all remembered).
    txns: Option<Vec<(u64, i64)>>,
    schema: crate::schema::Schema,
    /// Healthy replicas to copy from.
    sources: Vec<String>,
}

pub(crate) async fn run(fe: Arc<Fe>, mut shutdown: Shutdown) {
    let interval = Duration::from_millis(fe.config.repair_interval_ms);
    loop {
        tokio::select! {
            biased;
            _ = shutdown.wait() => return,
            _ = tokio::time::sleep(interval) => {}
        }
        fe.repair_round().await;
    }
}

impl Fe {
    /// One pass over every replica.
    async fn repair_round(&self) {
        self.move_replicas_off_dropped_backends().await;
        let state = self.state().await;
        let lagging = self.find_lagging(&state);
        let mut publishes = 0;
        let mut clones = 0;
        for lag in lagging {
            if let Some(txns) = &lag.txns
                && publishes < MAX_PUBLISHES_PER_ROUND
            {
                let mut ok = true;
                for (version, txn_id) in txns {
                    publishes += 1;
                    match self.agent.publish(&lag.addr, *txn_id, lag.tablet_id, *version).await {
                        Ok(v) => self.replicas().reached(lag.tablet_id, lag.backend_id, v),
                        Err(e) => {
                            tracing::info!(tablet = lag.tablet_id, backend = lag.backend_id, error = %e, "repair: publish failed");
                            ok = false;
                            break;
                        }
                    }
                }
                if ok {
                    continue;
                }
            }
            if clones >= MAX_CLONES_PER_ROUND || lag.sources.is_empty() {
                continue;
            }
            clones += 1;
            let now_ms = crate::clock::now_ms();
            self.replicas().failed(lag.tablet_id, lag.backend_id, lag.have_version + 1, now_ms);
            let mut cloned = false;
            for src in &lag.sources {
                match self.agent.clone_tablet(&lag.addr, lag.tablet_id, &lag.schema, src, lag.visible_version).await {
                    Ok(v) => {
                        tracing::info!(tablet = lag.tablet_id, backend = lag.backend_id, version = v, "repair: cloned");
                        self.replicas().reached(lag.tablet_id, lag.backend_id, v);
                        cloned = true;
                        break;
                    }
                    Err(e) => {
                        tracing::info!(tablet = lag.tablet_id, backend = lag.backend_id, %src, error = %e, "repair: clone failed");
                    }
                }
            }
            if !cloned {
                tracing::info!(tablet = lag.tablet_id, backend = lag.backend_id, "repair: will retry the clone");
            }
        }
        // Replica states of tablets nobody knows go; a running restore's new tablets stay.
        let mut live: BTreeSet<i64> = state.catalog.replicas().map(|(_, _, t, _)| t.id).collect();
        live.extend(state.restore.running_replicas().into_iter().map(|(tablet, _)| tablet));
        self.replicas().retain_tablets(|id| live.contains(&id));
    }

    fn find_lagging(&self, state: &FeState) -> Vec<Lagging> {
        let health = self.health_snapshot();
        let replicas = self.replicas();
        let alive = |backend_id: i64| health.backends.get(&backend_id).is_some_and(|h| h.alive);
        let mut out = Vec::new();
        for db in state.catalog.databases.values() {
            for table in db.tables.values() {
                // A restore fills the tables it holds; their replicas are its business until then.
                if state.restore.holding(db.id, table.id).is_some() {
                    continue;
                }
                for p in &table.partitions {
                    for t in &p.tablets {
                        let lags = |r: &&crate::fe::catalog::ReplicaRecord| {
                            alive(r.backend_id) && replicas.get(t.id, r.backend_id).version < p.visible_version
                        };
                        // Most tablets lag nowhere: their sources are not worth a string each.
                        if !t.replicas.iter().any(|r| lags(&r)) {
                            continue;
                        }
                        let sources: Vec<String> = t
                            .replicas
                            .iter()
                            .filter(|r| alive(r.backend_id))
                            .filter(|r| {
                                let s = replicas.get(t.id, r.backend_id);
                                s.version >= p.visible_version && s.last_failed_version == 0
                            })
                            .filter_map(|r| state.membership.backends.get(&r.backend_id).map(|b| b.addr()))
                            .collect();
                        for r in &t.replicas {
                            let s = replicas.get(t.id, r.backend_id);
                            if !alive(r.backend_id) || s.version >= p.visible_version {
                                continue;
                            }
                            let Some(backend) = state.membership.backends.get(&r.backend_id) else { continue };
                            let missing: Vec<(u64, i64)> = (s.version + 1..=p.visible_version)
                                .filter_map(|v| p.recent_txns.get(&v).map(|txn| (v, *txn)))
                                .collect();
                            let all_remembered =
                                s.version >= 1 && missing.len() as u64 == p.visible_version - s.version;
                            out.push(Lagging {
                                tablet_id: t.id,
                                backend_id: r.backend_id,
                                addr: backend.addr(),
                                visible_version: p.visible_version,
                                have_version: s.version,
                                // Publishing is idempotent and cheap, so it is tried first even for a
                                // replica marked failed: its sealed rowset may be there (the publish
                                // was lost, or its backend restarted). NotFound sends it to a clone.
                                txns: all_remembered.then_some(missing),
                                schema: table.schema.clone(),
                                sources: sources.clone(),
                            });
                        }
                    }
                }
            }
        }
        out
    }

    /// Replicas on backends no longer in the cluster move to alive backends that do not hold
    /// the tablet yet, least loaded first. Journaled; repair fills them by cloning.
    async fn move_replicas_off_dropped_backends(&self) {
        let _ddl = self.ddl_lock.lock().await;
        let state = self.state().await;
        let orphaned: Vec<(TableRef, i64, Vec<i64>, i64)> = state
            .catalog
            .replicas()
            .filter(|(_, _, _, r)| !state.membership.backends.contains_key(&r.backend_id))
            .filter(|(at, ..)| state.restore.holding(at.db_id, at.table_id).is_none())
            .map(|(at, _, t, r)| (at, t.id, t.replicas.iter().map(|x| x.backend_id).collect(), r.id))
            .take(MAX_MOVES_PER_ROUND)
            .collect();
        if orphaned.is_empty() {
            return;
        }
        let alive = self.alive_backends(&state.membership);
        let mut load = crate::fe::catalog::placement::current_load(&state);
        let mut next_id = state.catalog.next_id;
        let mut moves = Vec::new();
        for (at, tablet_id, holders, old_replica_id) in orphaned {
            let target = alive
                .iter()
                .filter(|b| !holders.contains(&b.id))
                .min_by_key(|b| (load.get(&b.id).copied().unwrap_or(0), b.id));
            let Some(target) = target else { continue };
            *load.entry(target.id).or_default() += 1;
            let new = ReplicaRecord { id: next_id, backend_id: target.id };
            next_id += 1;
            moves.push(ReplicaMove { at, tablet_id, old_replica_id, new });
        }
        if moves.is_empty() {
            return;
        }
        let count = moves.len();
        match self.commit(FeEdit::Catalog { edit: CatalogEdit::ReplaceReplicas { moves } }).await {
            Ok(()) => tracing::info!(count, "repair: replicas moved off dropped backends"),
            Err(e) => tracing::warn!(count, error = %e.message, "repair: could not journal replica moves"),
        }
    }
}
