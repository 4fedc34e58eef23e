//! Backends as members of the cluster, known by who they are rather than where they listen.
//! A backend keeps a random token in its storage root ([`crate::be::identity`]); the FE records
//! it when the backend is added or at its first heartbeat. Then:
//!
//! - `ALTER SYSTEM ADD BACKEND` asks the address who is there first, and refuses a backend that
//!   already is a member (it moved: it reports its new address itself) or that belongs to
//!   another cluster.
//! - A backend that starts reports where it listens (`ReportBackend`); if that is a new address
//!   the FE journals the move, and the backend keeps its id, its tablets and its history.
//! - A heartbeat answered by another backend than the one asked for is a failure that says
//!   which backend answered; if the asked one was added while unreachable and never answered,
//!   and the one answering is a member that moved there, the two are merged (the stale id is
//!   dropped: it never held a tablet). The answer is as old as the round that asked: the member
//!   moves to that address only if its record is still the one the round asked with (a report
//!   that came meanwhile is newer, or may be: the member stays where it reported).

use crate::error::SqlError;
use crate::fe::catalog::membership::{BackendRecord, MAX_BACKENDS, Membership, MembershipEdit};
use crate::fe::{Fe, FeEdit, QueryOutput};
use crate::rpc::proto;
use crate::sql::ast::HostPort;

/// What a heartbeat learned that needs a journal record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Learned {
    /// The backend answered with its token, which the FE did not have yet (or had another:
    /// its storage root was replaced).
    Token { backend_id: i64, token: String },
    /// The address of `asked` (added while unreachable, never answered) is where member
    /// `answering` listened when the round asked, its record then being `answering_was`.
    Merge { asked: i64, answering: i64, answering_was: BackendRecord },
}

/// Judges one backend's heartbeat answer against its record and `members`, the membership the
/// round asked with: `Ok` with what to journal (if anything), or `Err` with the failure to show
/// (another backend answered).
pub(crate) fn judge_answer(
    record: &BackendRecord,
    answer: &proto::BackendHeartbeatResponse,
    members: &Membership,
    holds_replicas: impl Fn(i64) -> bool,
) -> Result<Option<Learned>, (String, Option<Learned>)> {
    let token = answer.token.clone();
    if answer.identity_backend_id == record.id || answer.identity_backend_id == 0 {
        let learn = !token.is_empty() && token != record.token;
        return Ok(learn.then_some(Learned::Token { backend_id: record.id, token }));
    }
    let other = answer.identity_backend_id;
    let shown = format!(
        "the backend at {} is backend {other} of this cluster, not backend {}; if backend {} moved, it reports its new \
         address when it starts",
        record.addr(),
        record.id,
        record.id
    );
    let learned = match members.backends.get(&other) {
        // Added while unreachable, never answered, holds nothing: the same backend as `other`.
        Some(moved) if record.token.is_empty() && moved.token == token && !holds_replicas(record.id) => {
            Some(Learned::Merge { asked: record.id, answering: other, answering_was: moved.clone() })
        }
        // `other` was dropped: this is it, added again; with its token the backend takes the id.
        None if record.token.is_empty() && members.backend_by_token(&token).is_none() => {
            Some(Learned::Token { backend_id: record.id, token })
        }
        _ => None,
    };
    Err((shown, learned))
}

/// The edits of a merge, checked against `members` (the membership now): `asked` goes (it was
/// `answering` all along: added at an address where `answering` answered, it never answered
/// itself and holds nothing), and `answering` moves to `asked`'s address only if its record is
/// still `answering_was`, the one the round asked with. A member whose record changed since (it
/// reported another address, which may be newer than the answer: the FE cannot tell) stays
/// where it is; a backend reports where it listens whenever it starts. `None`: nothing to do.
pub(crate) fn merge_edits(
    members: &Membership,
    asked: i64,
    answering: i64,
    answering_was: &BackendRecord,
    holds_replicas: impl Fn(i64) -> bool,
) -> Option<Vec<MembershipEdit>> {
    let (Some(stale), Some(moved)) = (members.backends.get(&asked), members.backends.get(&answering)) else {
        return None;
    };
    if holds_replicas(asked) || !stale.token.is_empty() {
        return None;
    }
    let mut edits = vec![MembershipEdit::DropBackend { id: asked }];
    if moved == answering_was {
        edits.push(MembershipEdit::MoveBackend {
            id: answering,
            host: stale.host.clone(),
            port: stale.port,
            token: moved.token.clone(),
            displaced: None,
        });
    }
    Some(edits)
}

impl Fe {
    /// Who the backend at `addr` is (standalone asks before registering its own backends).
    pub async fn identify_backend(&self, addr: &str) -> Result<proto::IdentifyResponse, String> {
        self.agent.identify(addr).await.map_err(|e| e.to_string())
    }

    /// `ALTER SYSTEM DROP[P] BACKEND`. Without `force`, refuses when a backend to drop holds the
    /// last up-to-date replica of a tablet: repair copies a dropped backend's replicas from the
    /// others, and there would be nothing to copy.
    pub(crate) async fn drop_backends(&self, addrs: Vec<HostPort>, force: bool) -> Result<QueryOutput, SqlError> {
        let mut durable = self.durable.lock().await;
        let membership = &durable.state.membership;
        let mut ids = Vec::new();
        for (i, addr) in addrs.iter().enumerate() {
            match membership.backend_by_addr(&addr.host, addr.port) {
                Some(backend) if !addrs[..i].contains(addr) => ids.push(backend.id),
                _ => return Err(SqlError::doris(format!("backend does not exists[{addr}]"))),
            }
        }
        if !force {
            let replicas = self.replicas();
            let last = last_copies(&durable.state, &replicas, &ids);
            if let Some(&(backend_id, tablet_id)) = last.first() {
                let holds = if last.iter().all(|&(b, t)| replicas.known(t, b)) {
                    "holds"
                } else {
                    "may hold (the FE has not heard from every replica since it started)"
                };
                return Err(SqlError::doris(format!(
                    "backend {backend_id} {holds} the last up-to-date replica of {} tablet(s) (tablet {tablet_id} \
                     first): dropping it would lose their data. Wait until the other replicas catch up (SHOW \
                     TABLETS), or drop it anyway with ALTER SYSTEM DROPP BACKEND",
                    last.len()
                )));
            }
        }
        let edits = ids.into_iter().map(|id| MembershipEdit::DropBackend { id }).collect();
        self.commit_locked(&mut durable, FeEdit::Membership { edits }).await?;
        Ok(QueryOutput::Ok { affected_rows: 0 })
    }

    /// `ALTER SYSTEM ADD BACKEND`: asks every address who is there, then journals the new
    /// members in one record.
    pub(crate) async fn add_backends(&self, addrs: Vec<HostPort>) -> Result<QueryOutput, SqlError> {
        let shown: Vec<String> = addrs.iter().map(ToString::to_string).collect();
        let probes = futures_util::future::join_all(shown.iter().map(|a| self.agent.identify(a))).await;
        let mut durable = self.durable.lock().await;
        let state = &durable.state;
        let membership = &state.membership;
        if membership.backends.len() + addrs.len() > MAX_BACKENDS {
            return Err(SqlError::doris(format!("a cluster holds at most {MAX_BACKENDS} backends; drop some first")));
        }
        let mut edits = Vec::new();
        let mut tokens: Vec<String> = Vec::new();
        for (id, (i, (addr, probe))) in (membership.next_backend_id..).zip(addrs.iter().zip(probes).enumerate()) {
            if membership.backend_by_addr(&addr.host, addr.port).is_some() || addrs[..i].contains(addr) {
                return Err(SqlError::doris(format!("Same backend already exists[{addr}]")));
            }
            // A backend that does not answer yet is added all the same (as Doris does); its
            // token comes with its first heartbeat.
            let token = match probe {
                Err(e) => {
                    tracing::info!(%addr, error = %e, "fe: adding a backend that does not answer yet");
                    String::new()
                }
                Ok(who) => {
                    if who.cluster_id != 0 && who.cluster_id != state.cluster_id {
                        return Err(SqlError::doris(format!(
                            "The backend at {addr} belongs to cluster {}, not to this one ({}): drop it there first, \
                             or start it on an empty storage root",
                            who.cluster_id, state.cluster_id
                        )));
                    }
                    let known = membership.backend_by_token(&who.token).or_else(|| {
                        (who.cluster_id == state.cluster_id).then(|| membership.backends.get(&who.backend_id)).flatten()
                    });
                    if let Some(known) = known {
                        return Err(SqlError::doris(format!(
                            "The backend at {addr} is already backend {} of this cluster (registered at {}): it moved, \
                             and reports its new address itself when it starts (SHOW BACKENDS shows it there); \
                             nothing to add",
                            known.id,
                            known.addr()
                        )));
                    }
                    if tokens.contains(&who.token) {
                        return Err(SqlError::doris(format!("Same backend already exists[{addr}]")));
                    }
                    tokens.push(who.token.clone());
                    who.token
                }
            };
            edits.push(MembershipEdit::AddBackend(BackendRecord {
                id,
                host: addr.host.clone(),
                port: addr.port,
                token,
            }));
        }
        self.commit_locked(&mut durable, FeEdit::Membership { edits }).await?;
        Ok(QueryOutput::Ok { affected_rows: 0 })
    }

    /// A backend says where it listens now (`peer_host`: the address its report came from).
    /// Returns what was done, for the backend's log.
    pub(crate) async fn report_backend(
        &self,
        report: proto::ReportBackendRequest,
        peer_host: Option<String>,
    ) -> Result<String, tonic::Status> {
        use tonic::Status;
        let host = if report.host.is_empty() {
            peer_host.ok_or_else(|| Status::invalid_argument("the report names no host and comes from no address"))?
        } else {
            report.host.clone()
        };
        let port = u16::try_from(report.port)
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| Status::invalid_argument(format!("port {} is not a port", report.port)))?;
        let alive = self.health_snapshot().backends.get(&report.backend_id).is_some_and(|h| h.alive);
        let mut durable = self.durable.lock().await;
        let state = &durable.state;
        if report.cluster_id != state.cluster_id {
            return Err(Status::failed_precondition(format!(
                "this FE runs cluster {}, not cluster {}",
                state.cluster_id, report.cluster_id
            )));
        }
        let Some(record) = state.membership.backends.get(&report.backend_id).cloned() else {
            return Err(Status::not_found(format!(
                "backend {} is not a member of this cluster (was it dropped?); add it again with ALTER SYSTEM ADD \
                 BACKEND",
                report.backend_id
            )));
        };
        // An FE that never learned the token (a backend added before tokens existed) takes it
        // from a report only while the backend's heartbeats fail: a live backend is where the
        // record says.
        let token_ok = if record.token.is_empty() { !alive } else { record.token == report.token };
        if !token_ok || report.token.is_empty() {
            return Err(Status::permission_denied(format!(
                "the report's token is not backend {}'s: this storage root is not that backend's",
                record.id
            )));
        }
        if record.host == host && record.port == port {
            if record.token.is_empty() {
                let edits = vec![MembershipEdit::SetBackendToken { id: record.id, token: report.token }];
                self.commit_locked(&mut durable, FeEdit::Membership { edits }).await.map_err(sql_status)?;
            }
            return Ok("unchanged".into());
        }
        let mut edits = Vec::new();
        let mut displaced = state.membership.backend_by_addr(&host, port).filter(|b| b.id != record.id).cloned();
        // A backend added at that address while this one was starting, that never answered and
        // holds nothing, was this one all along: it goes.
        if let Some(stale) = displaced
            .take_if(|b| b.token.is_empty() && !state.catalog.replicas().any(|(_, _, _, r)| r.backend_id == b.id))
        {
            edits.push(MembershipEdit::DropBackend { id: stale.id });
        }
        let displaced = displaced.map(|b| b.id);
        edits.push(MembershipEdit::MoveBackend {
            id: record.id,
            host: host.clone(),
            port,
            token: report.token,
            displaced,
        });
        self.commit_locked(&mut durable, FeEdit::Membership { edits }).await.map_err(sql_status)?;
        tracing::info!(backend_id = record.id, from = %record.addr(), to = %format!("{host}:{port}"), ?displaced, "fe: backend moved");
        Ok(format!("moved from {}", record.addr()))
    }

    /// Journals what heartbeats learned (tokens, merges); each is checked again under the lock,
    /// against the membership now (a round's answers are as old as the round).
    pub(crate) async fn apply_learned(&self, learned: Vec<Learned>) {
        for item in learned {
            let mut durable = self.durable.lock().await;
            let state = &durable.state;
            let members = &state.membership;
            let edits = match &item {
                Learned::Token { backend_id, token } => match members.backends.get(backend_id) {
                    // Another member holds that token now: the storage is that member's.
                    _ if members.backend_by_token(token).is_some_and(|b| b.id != *backend_id) => continue,
                    Some(b) if b.token != *token => {
                        if !b.token.is_empty() {
                            tracing::warn!(
                                backend_id,
                                "fe: backend answers with a new token: its storage root was replaced, its tablets are \
                                 gone and repair fills them again"
                            );
                        }
                        vec![MembershipEdit::SetBackendToken { id: *backend_id, token: token.clone() }]
                    }
                    _ => continue,
                },
                Learned::Merge { asked, answering, answering_was } => {
                    let holds = |id: i64| state.catalog.replicas().any(|(_, _, _, r)| r.backend_id == id);
                    let Some(edits) = merge_edits(members, *asked, *answering, answering_was, holds) else {
                        continue;
                    };
                    let addr = members.backends.get(asked).map(BackendRecord::addr).unwrap_or_default();
                    if edits.len() == 2 {
                        tracing::info!(
                            stale = asked,
                            backend_id = answering,
                            %addr,
                            "fe: a backend added at the address of a member that moved there is that member"
                        );
                    } else {
                        tracing::info!(
                            stale = asked,
                            backend_id = answering,
                            %addr,
                            now_at = %members.backends.get(answering).map(BackendRecord::addr).unwrap_or_default(),
                            "fe: a backend added at an address where a member answered was that member; the member \
                             reported another address since and stays there"
                        );
                    }
                    edits
                }
            };
            if let Err(e) = self.commit_locked(&mut durable, FeEdit::Membership { edits }).await {
                tracing::warn!(error = %e.message, ?item, "fe: cannot journal what a heartbeat learned; the next one retries");
            }
        }
    }
}

/// The members `on` names (every member without it), or the first address that is none.
fn members_on(
    members: &crate::fe::catalog::membership::Membership,
    on: Option<Vec<HostPort>>,
) -> Result<Vec<BackendRecord>, SqlError> {
    match on {
        None => Ok(members.backends.values().cloned().collect()),
        Some(addrs) => addrs
            .iter()
            .map(|a| {
                members
                    .backend_by_addr(&a.host, a.port)
                    .cloned()
                    .ok_or_else(|| SqlError::doris(format!("backend does not exists[{a}]")))
            })
            .collect(),
    }
}

impl Fe {
    /// `SHOW TRASH [ON "host:port"]`: what each backend's trash holds (dropped tablets kept
    /// until their expiry), as its last heartbeat said.
    pub(crate) async fn show_trash(&self, on: Option<Vec<HostPort>>) -> Result<QueryOutput, SqlError> {
        let state = self.state().await;
        let members = &state.membership;
        let health = self.health_snapshot();
        let rows = members_on(members, on)?
            .into_iter()
            .map(|b| {
                let bytes = health.backends.get(&b.id).map_or(0, |h| h.trash_bytes);
                vec![Some(b.id.to_string()), Some(b.addr()), Some(crate::fe::session::format_capacity(bytes))]
            })
            .collect();
        let columns = ["BackendId", "Backend", "TrashUsedCapacity"].iter().map(|c| c.to_string()).collect();
        Ok(QueryOutput::Rows { columns, rows })
    }

    /// `ADMIN CLEAN TRASH [ON (...)]`: deletes what the backends' trash holds, now.
    pub(crate) async fn clean_trash(&self, on: Option<Vec<HostPort>>) -> Result<QueryOutput, SqlError> {
        let state = self.state().await;
        let members = &state.membership;
        let backends = members_on(members, on)?;
        let calls = backends.iter().map(|b| async move { (b, self.agent.clean_trash(&b.addr()).await) });
        let mut failed = Vec::new();
        let mut removed = 0;
        for (b, outcome) in futures_util::future::join_all(calls).await {
            match outcome {
                Ok((tablets, bytes)) => {
                    tracing::info!(backend_id = b.id, tablets, bytes, "fe: trash cleaned");
                    removed += tablets;
                }
                Err(e) => failed.push(format!("backend {}: {e}", b.id)),
            }
        }
        if !failed.is_empty() {
            return Err(SqlError::doris(format!(
                "the trash of {} backend(s) was not cleaned ({}); the others were",
                failed.len(),
                failed.join("; ")
            )));
        }
        Ok(QueryOutput::Ok { affected_rows: removed })
    }
}

fn sql_status(e: SqlError) -> tonic::Status {
    tonic::Status::unavailable(e.message)
}

/// The (backend, tablet) pairs where a backend of `dropping` holds the newest copy of a tablet:
/// no replica on a backend that stays is known to be at its partition's visible version, and
/// the leaving replica is, or may be (the FE has not heard of it since it started), newer than
/// every staying one. A replica behind the visible version still counts: a load's version is
/// visible at its commit, before the replicas' publish answers say they hold it (seed 875: a
/// restored table's only replica, at version 1 by the FE's count while a load was publishing
/// version 2, was let go). One pass over the catalog.
fn last_copies(
    state: &crate::fe::FeState,
    replicas: &crate::fe::cluster::replicas::Replicas,
    dropping: &[i64],
) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    for db in state.catalog.databases.values() {
        for table in db.tables.values() {
            for p in &table.partitions {
                for t in &p.tablets {
                    let copies = t.replicas.iter().map(|r| Copy {
                        backend_id: r.backend_id,
                        leaving: dropping.contains(&r.backend_id),
                        member: state.membership.backends.contains_key(&r.backend_id),
                        heard: replicas.known(t.id, r.backend_id).then(|| replicas.get(t.id, r.backend_id)),
                    });
                    if let Some(backend_id) = newest_leaving(copies, p.visible_version) {
                        out.push((backend_id, t.id));
                    }
                }
            }
        }
    }
    out
}

/// One replica of a tablet, as [`newest_leaving`] weighs it.
struct Copy {
    backend_id: i64,
    /// Its backend is being dropped.
    leaving: bool,
    /// Its backend is a member of the cluster.
    member: bool,
    /// What the FE heard of it since it started; `None`: nothing yet.
    heard: Option<crate::fe::cluster::replicas::ReplicaState>,
}

/// The leaving replica whose drop would lose the tablet's newest data, if any.
fn newest_leaving(copies: impl Iterator<Item = Copy>, visible_version: u64) -> Option<i64> {
    let mut staying_version = 0;
    let mut leaving: Option<(u64, i64)> = None;
    for c in copies {
        if c.leaving {
            // Not heard of yet: it may hold anything.
            let version = c.heard.as_ref().map_or(u64::MAX, |s| s.version);
            if leaving.is_none_or(|(v, _)| version > v) {
                leaving = Some((version, c.backend_id));
            }
        } else if c.member
            && let Some(s) = &c.heard
        {
            if s.version >= visible_version && s.last_failed_version == 0 {
                return None;
            }
            staying_version = staying_version.max(s.version);
        }
    }
    leaving.filter(|&(version, _)| version > staying_version).map(|(_, backend_id)| backend_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: i64, port: u16, token: &str) -> BackendRecord {
        BackendRecord { id, host: "h".into(), port, token: token.into() }
    }

    fn members(records: &[BackendRecord]) -> Membership {
        let mut m = Membership::new();
        for r in records {
            m.apply(&MembershipEdit::AddBackend(r.clone()));
        }
        m
    }

    fn answer(backend_id: i64, token: &str) -> proto::BackendHeartbeatResponse {
        proto::BackendHeartbeatResponse { identity_backend_id: backend_id, token: token.into(), ..Default::default() }
    }

    fn copy(backend_id: i64, leaving: bool, version: Option<u64>, last_failed_version: u64) -> Copy {
        let heard = version.map(|version| {
            let mut s = crate::fe::cluster::replicas::ReplicaState::default();
            s.version = version;
            s.last_failed_version = last_failed_version;
            s
        });
        Copy { backend_id, leaving, member: true, heard }
    }

    #[test]
    fn a_leaving_replica_is_kept_while_it_is_the_newest_copy() {
        // Seed 875: the only replica, at version 1 by the FE's count while a load that made
        // version 2 visible was still publishing.
        assert_eq!(newest_leaving([copy(1, true, Some(1), 0)].into_iter(), 2), Some(1));
        // Ahead of every staying replica, though behind the visible version.
        let copies = [copy(1, true, Some(4), 0), copy(2, false, Some(3), 0), copy(3, false, Some(3), 4)];
        assert_eq!(newest_leaving(copies.into_iter(), 5), Some(1));
        // Not heard of since the FE started: it may be the newest.
        assert_eq!(newest_leaving([copy(1, true, None, 0), copy(2, false, Some(4), 5)].into_iter(), 5), Some(1));
        // A staying replica on a backend that is not a member holds nothing the cluster can use.
        let gone = Copy { member: false, ..copy(2, false, Some(5), 0) };
        assert_eq!(newest_leaving([copy(1, true, Some(5), 0), gone].into_iter(), 5), Some(1));
    }

    #[test]
    fn a_leaving_replica_goes_when_a_staying_one_is_as_new() {
        assert_eq!(newest_leaving([copy(1, true, None, 0), copy(2, false, Some(5), 0)].into_iter(), 5), None);
        assert_eq!(newest_leaving([copy(1, true, Some(4), 0), copy(2, false, Some(4), 5)].into_iter(), 5), None);
        assert_eq!(newest_leaving([copy(1, true, Some(0), 0), copy(2, false, None, 0)].into_iter(), 5), None);
    }

    #[test]
    fn the_right_backend_is_alive_and_teaches_its_token() {
        let m = members(&[member(10_001, 1, "")]);
        let r = &m.backends[&10_001];
        let learned = judge_answer(r, &answer(10_001, "t1"), &m, |_| false).expect("alive");
        assert_eq!(learned, Some(Learned::Token { backend_id: 10_001, token: "t1".into() }));
        let m = members(&[member(10_001, 1, "t1")]);
        assert_eq!(judge_answer(&m.backends[&10_001], &answer(10_001, "t1"), &m, |_| false), Ok(None));
    }

    #[test]
    fn another_backend_at_the_address_is_a_failure_that_names_it() {
        let m = members(&[member(10_001, 1, "t1"), member(10_002, 2, "t2")]);
        let (shown, learned) =
            judge_answer(&m.backends[&10_002], &answer(10_001, "t1"), &m, |_| false).expect_err("wrong backend");
        assert!(shown.contains("is backend 10001 of this cluster, not backend 10002"), "{shown}");
        assert_eq!(learned, None, "a verified backend is never merged away");
    }

    #[test]
    fn a_backend_added_while_down_at_a_moved_members_address_merges_into_it() {
        let m = members(&[member(10_001, 1, "t1"), member(10_005, 9, "")]);
        let (_, learned) = judge_answer(&m.backends[&10_005], &answer(10_001, "t1"), &m, |_| false).expect_err("other");
        let was = m.backends[&10_001].clone();
        assert_eq!(learned, Some(Learned::Merge { asked: 10_005, answering: 10_001, answering_was: was.clone() }));
        let (_, learned) = judge_answer(&m.backends[&10_005], &answer(10_001, "t1"), &m, |_| true).expect_err("other");
        assert_eq!(learned, None, "never when the new id holds replicas");
        let mut now = m.clone();
        for edit in merge_edits(&m, 10_005, 10_001, &was, |_| false).expect("merges") {
            now.apply(&edit);
        }
        assert!(!now.backends.contains_key(&10_005), "the stale id goes");
        assert_eq!(now.backends[&10_001].addr(), "h:9", "the member is where it answered");
        assert_eq!(merge_edits(&m, 10_005, 10_001, &was, |_| true), None, "never when the new id holds replicas");
    }

    /// Seed 1016: backend 10001 answers at port 8 (where 10005 was added while it was
    /// unreachable), then restarts on port 3 and reports it while the round still waits for a
    /// slow backend; the round's answer must not move it back to port 8, where nothing listens
    /// any more (it would stay dead: a backend reports its address only when it starts).
    #[test]
    fn an_answer_older_than_a_report_does_not_move_the_member_back() {
        let asked_with = members(&[member(10_001, 1, "t1"), member(10_005, 8, "")]);
        let (_, learned) = judge_answer(&asked_with.backends[&10_005], &answer(10_001, "t1"), &asked_with, |_| false)
            .expect_err("another backend answered");
        let Some(Learned::Merge { asked, answering, answering_was }) = learned else {
            panic!("a stale id answered for by a member with its token is a merge");
        };
        let mut now = asked_with.clone();
        now.apply(&MembershipEdit::MoveBackend {
            id: 10_001,
            host: "h".into(),
            port: 3,
            token: "t1".into(),
            displaced: None,
        });
        let edits = merge_edits(&now, asked, answering, &answering_was, |_| false).expect("the stale id still goes");
        for edit in &edits {
            now.apply(edit);
        }
        assert!(!now.backends.contains_key(&10_005), "10005 was 10001 all along");
        assert_eq!(now.backends[&10_001].addr(), "h:3", "10001 stays where it reported, not where it answered before");
    }

    #[test]
    fn a_dropped_backend_added_again_while_down_learns_its_token() {
        let m = members(&[member(10_005, 9, "")]);
        let (_, learned) = judge_answer(&m.backends[&10_005], &answer(10_001, "t1"), &m, |_| false).expect_err("other");
        assert_eq!(learned, Some(Learned::Token { backend_id: 10_005, token: "t1".into() }));
    }

    #[test]
    fn a_move_displaces_the_backend_recorded_at_the_new_address() {
        let mut m = members(&[member(10_001, 1, "t1"), member(10_002, 2, "t2")]);
        m.apply(&MembershipEdit::MoveBackend {
            id: 10_001,
            host: "h".into(),
            port: 2,
            token: "t1".into(),
            displaced: Some(10_002),
        });
        assert_eq!(m.backends[&10_001].addr(), "h:2");
        assert_eq!(m.backends[&10_002].port, 0, "its address is unknown until it reports");
    }
}
