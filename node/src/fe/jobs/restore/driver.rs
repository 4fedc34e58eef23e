//! Runs RESTORE jobs: one driver task per job that has not ended (started by the scheduler in
//! `backup_driver.rs`, so a restarted FE resumes every journaled job), one state at a time.
//!
//! What each state does (reference 4, with the commit DESIGN.md section 5 asks for):
//! - PENDING: reads and checks the snapshot's `__info` and `__meta`, plans the new tables,
//!   partitions and tablets (ids, replica placement) against the catalog as it is, and journals
//!   the plan: the move to SNAPSHOTING adds the new tables and partitions to the catalog.
//! - SNAPSHOTING: creates every new replica on its backend (empty, at the backed-up version,
//!   marked as waiting for a restore) and an empty snapshot of it tagged with the job: the
//!   landing directory its files are downloaded into.
//! - DOWNLOAD: nothing left to prepare; moves on.
//! - DOWNLOADING: every replica downloads its backed-up tablet's files (at most
//!   [`MAX_DOWNLOADS_PER_BACKEND`] per backend); the backend checks each file's md5 and skips
//!   files it already holds verified, so a download redone after a crash or a retry sends only
//!   what is missing.
//! - COMMIT: nothing left to prepare; moves on.
//! - COMMITTING: every replica moves its downloaded files into its new tablet (idempotent).
//!   Then one journal record, the move to FINISHED, switches overwritten partitions to the new
//!   tablets at the backed-up versions: the commit point.
//!
//! Replicas on a backend that is down are waited for (the job's timeout bounds the wait); a
//! backend dropped from the cluster fails the job. A task that keeps failing fails the job after
//! [`MAX_TASK_ATTEMPTS`] attempts, with backoff between them. A job that fails, times out or is
//! cancelled before the commit ends CANCELLED: the tables and partitions it created leave the
//! catalog in that one record, and its tablets and snapshots are then dropped from the backends
//! (by heartbeats for a backend that was down). Existing data is never touched before the
//! commit, so it stays exactly as it was.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use futures_util::StreamExt;

use crate::fe::catalog::placement::current_load;
use crate::fe::catalog::{RepositoryKind, RepositoryRecord, TabletRecord};
use crate::fe::jobs::driver::MAX_TASK_ATTEMPTS;
use crate::fe::jobs::driver::StepError;
use crate::fe::jobs::driver::backoff;
use crate::fe::jobs::driver::fail;
use crate::fe::jobs::restore::job::{Landing, RestoreJob, RestoreState, TablePlan};
use crate::fe::jobs::restore::plan::{self, PlanError, PlanRequest};
use crate::fe::jobs::restore::statement::{RestoreCancelError, read_snapshot};
use crate::fe::jobs::status::JobStatus;
use crate::fe::jobs::status::StatusCode;
use crate::fe::{Fe, FeEdit, FeState};
use crate::rpc::proto;
use crate::schema::Schema;
use crate::signal::Signal;

/// Downloads in flight per backend per job (the BE runs 2 at once) and per job.
pub const MAX_DOWNLOADS_PER_BACKEND: usize = 2;
pub const MAX_DOWNLOADS_IN_FLIGHT: usize = 64;
/// CreateTablet + MakeSnapshot, or MoveRestoredTablet, calls in flight per job.
pub const MAX_REPLICA_CALLS_IN_FLIGHT: usize = 64;
/// How often the downloading loop looks for dead backends and progress.
pub const DOWNLOAD_TICK_MS: u64 = 1_000;

/// One replica's piece of work in SNAPSHOTING, DOWNLOADING or COMMITTING.
#[derive(Debug, Clone)]
struct ReplicaTask {
    tablet_id: i64,
    backend_id: i64,
    attempts: u32,
    ready_at: tokio::time::Instant,
}

/// The cluster's backends as a driver needs them.
struct ClusterView {
    /// Member backends' addresses, by id.
    members: BTreeMap<i64, String>,
    alive: BTreeSet<i64>,
}

/// Where a replica's backend stands.
enum Reach {
    Alive(String),
    /// Down for now: its work waits.
    Down,
}

/// The new tablet of a plan, with its partition's version, its source and the table's schema.
struct TabletInfo<'a> {
    version: u64,
    schema: &'a Schema,
    source_tablet_id: i64,
    remote_dir: &'a str,
    files: &'a [String],
}

fn tablets_of(plan: &[TablePlan]) -> BTreeMap<i64, TabletInfo<'_>> {
    plan.iter()
        .flat_map(|t| {
            t.tablets().map(move |(p, tablet)| {
                (
                    tablet.tablet.id,
                    TabletInfo {
                        version: p.version,
                        schema: &t.definition.schema,
                        source_tablet_id: tablet.source_tablet_id,
                        remote_dir: &tablet.remote_dir,
                        files: &tablet.files,
                    },
                )
            })
        })
        .collect()
}

impl Fe {
    async fn restore_job(&self, job_id: i64) -> Option<RestoreJob> {
        self.durable.lock().await.state.restore.jobs.get(&job_id).cloned()
    }

    /// Moves `job` to its next state with `update` applied under the journal lock; `Moved` if the
    /// job left the state `job` was read in.
    async fn move_restore(
        &self,
        job: &RestoreJob,
        update: impl FnOnce(&FeState, &mut RestoreJob) -> Result<(), StepError>,
    ) -> Result<(), StepError> {
        let next = job.state.next().ok_or(StepError::Moved)?;
        let mut durable = self.durable.lock().await;
        let current = durable.state.restore.jobs.get(&job.id).ok_or(StepError::Moved)?;
        if current.state != job.state {
            return Err(StepError::Moved);
        }
        let mut moved = current.clone();
        moved.state = next;
        for error in self.task_errors_to_keep(job.id) {
            if !moved.task_errors.contains(&error) {
                moved.note_task_error(error);
            }
        }
        update(&durable.state, &mut moved)?;
        tracing::info!(job_id = job.id, label = %job.label, state = next.name(), "fe: restore moved");
        let edit = FeEdit::RestoreJob { job: Box::new(moved) };
        self.commit_locked(&mut durable, edit).await.map_err(|e| StepError::Retry(e.message))
    }

    fn restore_repository(state: &FeState, job: &RestoreJob) -> Result<RepositoryRecord, StepError> {
        state
            .catalog
            .repositories
            .values()
            .find(|r| r.id == job.repo_id)
            .cloned()
            .ok_or_else(|| fail(format!("failed to get repository: {}", job.repo_id)))
    }

    /// Where a replica's backend is; `Fail` once it is no longer a member of the cluster.
    fn reach(&self, view: &ClusterView, tablet_id: i64, backend_id: i64) -> Result<Reach, StepError> {
        let Some(addr) = view.members.get(&backend_id) else {
            return Err(fail(format!(
                "backend {backend_id}, which holds a replica of restored tablet {tablet_id}, was dropped from the \
                 cluster during the restore; run the restore again"
            )));
        };
        Ok(if view.alive.contains(&backend_id) { Reach::Alive(addr.clone()) } else { Reach::Down })
    }

    /// The backends and which are alive, read without copying the whole state (the downloading
    /// loop asks after every finished download).
    async fn cluster_view(&self) -> ClusterView {
        let members: BTreeMap<i64, String> = {
            let durable = self.durable.lock().await;
            durable.state.membership.backends.values().map(|b| (b.id, b.addr())).collect()
        };
        let health = self.health_snapshot();
        let alive = members.keys().filter(|id| health.backends.get(id).is_some_and(|h| h.alive)).copied().collect();
        ClusterView { members, alive }
    }

    /// Where the job's repository is, and the broker to go through (`Ok("")`: none), or why the
    /// broker cannot be reached now.
    async fn repository_route(
        &self,
        job: &RestoreJob,
    ) -> Result<(RepositoryRecord, Result<String, String>), StepError> {
        let durable = self.durable.lock().await;
        let repo = Self::restore_repository(&durable.state, job)?;
        let broker = match &repo.kind {
            RepositoryKind::S3 => Ok(String::new()),
            RepositoryKind::Broker { broker } => self.broker_addr(&durable.state, broker),
        };
        Ok((repo, broker))
    }

    async fn restore_step(&self, job: &RestoreJob) -> Result<(), StepError> {
        // Fault point (simulation only): the state's work fails, so the job stays in the state
        // for a backoff (scenarios hold a job in a state this way to cancel it or crash there).
        let fault = format!("restore_{}", job.state.name().to_ascii_lowercase());
        if palo_buggify::fail_task(&fault) {
            return Err(StepError::Retry(format!("injected failure of {fault} (simulation)")));
        }
        match job.state {
            RestoreState::Pending => self.restore_pending(job).await,
            RestoreState::Snapshoting => self.restore_snapshoting(job).await,
            RestoreState::Download | RestoreState::Commit => self.move_restore(job, |_, _| Ok(())).await,
            RestoreState::Downloading => self.restore_downloading(job).await,
            RestoreState::Committing => self.restore_committing(job).await,
            RestoreState::Finished | RestoreState::Cancelled => Err(StepError::Moved),
        }
    }

    async fn restore_pending(&self, job: &RestoreJob) -> Result<(), StepError> {
        let state = self.state().await;
        let repo = Self::restore_repository(&state, job)?;
        let store = self
            .repository_store(&state, &repo)
            .map_err(|e| StepError::Retry(format!("repository {}: {e}", repo.name)))?;
        let (info, meta) =
            read_snapshot(store.as_ref(), &repo.name, &job.label, &job.backup_timestamp, job.meta_version)
                .await
                .map_err(StepError::Retry)?;
        // Ids come from the catalog: wait for table DDL between choosing ids and committing.
        let _ddl = self.ddl_lock.lock().await;
        let now = crate::clock::now_ms();
        self.move_restore(job, |state, moved| {
            let db = state.catalog.database_by_id(job.db_id).ok_or_else(|| {
                StepError::Fail(JobStatus::error(
                    StatusCode::NotFound,
                    format!("database {} does not exist", job.db_id),
                ))
            })?;
            let request = PlanRequest {
                label: &job.label,
                repo_name: &job.repo_name,
                objects: &job.objects,
                replication_num: job.replication_num,
                reserve_replica: job.reserve_replica,
            };
            let alive = self.alive_backends(&state.membership);
            let mut next_id = state.catalog.next_id;
            let plan = plan::plan(&request, &info, &meta, db, &alive, &mut current_load(state), &mut next_id).map_err(
                |e| match e {
                    PlanError::Refused(status) => StepError::Fail(status),
                    // Too few backends alive (an FE that just started has seen none yet): wait.
                    PlanError::NoBackends(message) => StepError::Retry(message),
                },
            )?;
            moved.plan = plan;
            moved.meta_prepared_time_ms = Some(now);
            Ok(())
        })
        .await
    }

    /// Runs `call` on every replica task whose backend is alive, round after round with backoff,
    /// until every task has succeeded; returns each task's answer. Tasks on a backend that is down
    /// wait for it; one that fails [`MAX_TASK_ATTEMPTS`] times fails the job with `what` and its
    /// last error.
    async fn replica_rounds<T, F, Fut>(
        &self,
        job: &RestoreJob,
        mut todo: Vec<ReplicaTask>,
        what: &str,
        call: F,
    ) -> Result<Vec<(ReplicaTask, T)>, StepError>
    where
        F: Fn(ReplicaTask, String) -> Fut,
        Fut: std::future::Future<Output = (ReplicaTask, Result<T, String>)>,
    {
        let mut done = Vec::with_capacity(todo.len());
        let mut round = 0u32;
        while !todo.is_empty() {
            self.with_runtime(job.id, |r| r.unfinished = todo.iter().map(|t| (t.tablet_id, t.backend_id)).collect());
            let view = self.cluster_view().await;
            let mut calls = Vec::new();
            let mut waiting = Vec::new();
            for task in todo.drain(..) {
                match self.reach(&view, task.tablet_id, task.backend_id)? {
                    Reach::Alive(addr) => calls.push((task, addr)),
                    Reach::Down => waiting.push(task),
                }
            }
            let results: Vec<_> = futures_util::stream::iter(calls.into_iter().map(|(task, addr)| call(task, addr)))
                .buffer_unordered(MAX_REPLICA_CALLS_IN_FLIGHT)
                .collect()
                .await;
            for (mut task, result) in results {
                match result {
                    Ok(answer) => done.push((task, answer)),
                    Err(e) => {
                        let message =
                            format!("{what} of tablet {} on backend {}: {e}", task.tablet_id, task.backend_id);
                        self.with_runtime(job.id, |r| r.note_error(message.clone()));
                        task.attempts += 1;
                        if task.attempts >= MAX_TASK_ATTEMPTS {
                            return Err(fail(format!("{message} (after {} attempts)", task.attempts)));
                        }
                        waiting.push(task);
                    }
                }
            }
            todo = waiting;
            if !todo.is_empty() {
                round += 1;
                tokio::time::sleep(backoff(round)).await;
            }
        }
        self.with_runtime(job.id, |r| r.unfinished.clear());
        Ok(done)
    }

    async fn restore_snapshoting(&self, job: &RestoreJob) -> Result<(), StepError> {
        let tablets = tablets_of(&job.plan);
        let timeout_s = job.deadline_ms().saturating_sub(crate::clock::now_ms()).div_ceil(1_000).max(60);
        let now = crate::clock::monotonic();
        let todo: Vec<ReplicaTask> = job
            .plan
            .iter()
            .flat_map(|t| t.tablets())
            .flat_map(|(_, t)| t.tablet.replicas.iter().map(|r| (t.tablet.id, r.backend_id)))
            .map(|(tablet_id, backend_id)| ReplicaTask { tablet_id, backend_id, attempts: 0, ready_at: now })
            .collect();
        let made = self
            .replica_rounds(job, todo, "Failed to create replicas for restore: replica", |task, addr| {
                let info = &tablets[&task.tablet_id];
                async move {
                    let result = async {
                        self.agent
                            .create_tablet(&addr, task.tablet_id, info.schema, info.version, Some(job.id))
                            .await
                            .map_err(|e| format!("creating it: {e}"))?;
                        // It is at the backed-up version for loads (allow_load) from now on.
                        self.replicas().reached(task.tablet_id, task.backend_id, info.version);
                        self.agent
                            .make_snapshot(&addr, task.tablet_id, info.version, timeout_s, job.id)
                            .await
                            .map_err(|e| format!("making its landing snapshot: {e}"))
                    }
                    .await;
                    (task, result)
                }
            })
            .await?;
        let mut landings: Vec<Landing> = made
            .into_iter()
            .map(|(task, made)| Landing { tablet_id: task.tablet_id, backend_id: task.backend_id, path: made.path })
            .collect();
        landings.sort_by_key(|l| (l.tablet_id, l.backend_id));
        let now = crate::clock::now_ms();
        self.move_restore(job, move |_, moved| {
            moved.landings = landings;
            moved.snapshot_finished_time_ms = Some(now);
            Ok(())
        })
        .await
    }

    async fn restore_downloading(&self, job: &RestoreJob) -> Result<(), StepError> {
        let tablets = tablets_of(&job.plan);
        let start = crate::clock::monotonic();
        let landing_of: BTreeMap<(i64, i64), &Landing> =
            job.landings.iter().map(|l| ((l.tablet_id, l.backend_id), l)).collect();
        let mut queue: Vec<ReplicaTask> = job
            .landings
            .iter()
            .map(|l| ReplicaTask { tablet_id: l.tablet_id, backend_id: l.backend_id, attempts: 0, ready_at: start })
            .collect();
        let total = queue.len();
        let mut done = 0usize;
        let mut per_backend: BTreeMap<i64, usize> = BTreeMap::new();
        let dead_backends = Signal::new(BTreeSet::<i64>::new());
        let mut in_flight = futures_util::stream::FuturesUnordered::new();
        // Every replica downloads on its own backend: each backend's share is known from the start.
        self.with_runtime(job.id, |r| {
            r.progress.clear();
            for task in &queue {
                r.progress.entry(task.backend_id).or_default().tablets_total += 1;
            }
        });
        let mut next_poll = crate::clock::monotonic() + Duration::from_millis(DOWNLOAD_TICK_MS);
        while done < total {
            let (repo, broker_addr) = self.repository_route(job).await?;
            let (location, properties) = (repo.location.clone(), self.repository_properties(&repo));
            let view = self.cluster_view().await;
            let dead: BTreeSet<i64> = per_backend.keys().filter(|b| !view.alive.contains(b)).copied().collect();
            dead_backends.set(dead);
            let now = crate::clock::monotonic();
            let mut i = 0;
            while i < queue.len() && in_flight.len() < MAX_DOWNLOADS_IN_FLIGHT {
                let broker_addr = match &broker_addr {
                    Ok(addr) => addr.clone(),
                    Err(e) => {
                        self.with_runtime(job.id, |r| r.note_error(format!("repository {}: {e}", repo.name)));
                        break;
                    }
                };
                let task = &queue[i];
                let busy = per_backend.get(&task.backend_id).copied().unwrap_or(0) >= MAX_DOWNLOADS_PER_BACKEND;
                let addr = match self.reach(&view, task.tablet_id, task.backend_id)? {
                    Reach::Alive(addr) if !busy && task.ready_at <= now => addr,
                    _ => {
                        i += 1;
                        continue;
                    }
                };
                let task = queue.remove(i);
                let landing = landing_of[&(task.tablet_id, task.backend_id)];
                let info = &tablets[&task.tablet_id];
                let request = proto::DownloadSnapshotRequest {
                    job_id: job.id,
                    snapshot_path: landing.path.clone(),
                    tablet_id: task.tablet_id,
                    source_tablet_id: info.source_tablet_id,
                    location: location.clone(),
                    properties: properties.clone().into_iter().collect(),
                    broker_addr,
                    remote_dir: info.remote_dir.to_string(),
                    files: info.files.to_vec(),
                };
                *per_backend.entry(task.backend_id).or_default() += 1;
                self.with_runtime(job.id, |r| {
                    r.unfinished.insert(task.tablet_id, task.backend_id);
                });
                let dead_backends = dead_backends.clone();
                let backend_id = task.backend_id;
                in_flight.push(async move {
                    let result = tokio::select! {
                        biased;
                        // A download of this replica still running there (an earlier attempt)
                        // is waited for, not counted as a failure.
                        r = self.agent.download_snapshot(&addr, request) => {
                            r.map(|_| ()).map_err(|e| (e.to_string(), !e.is_already_running(), e.is_data_loss()))
                        }
                        _ = dead_backends.wait_for(|dead| dead.contains(&backend_id)) => {
                            Err((format!("backend {backend_id} is shown dead; its download waits for it"), false, false))
                        }
                    };
                    (task, result)
                });
            }
            for task in &queue {
                self.with_runtime(job.id, |r| {
                    r.unfinished.entry(task.tablet_id).or_insert(task.backend_id);
                });
            }
            let finished = tokio::select! {
                biased;
                Some(done) = in_flight.next(), if !in_flight.is_empty() => Some(done),
                _ = tokio::time::sleep_until(next_poll) => None,
            };
            // Progress is asked for on its own clock: downloads finishing one after another must
            // not starve it.
            if crate::clock::monotonic() >= next_poll {
                self.poll_download_progress(job.id, &view, &per_backend).await;
                next_poll = crate::clock::monotonic() + Duration::from_millis(DOWNLOAD_TICK_MS);
            }
            let Some((mut task, result)) = finished else {
                continue;
            };
            if let Some(n) = per_backend.get_mut(&task.backend_id) {
                *n -= 1;
                if *n == 0 {
                    per_backend.remove(&task.backend_id);
                }
            }
            match result {
                Ok(()) => {
                    done += 1;
                    self.with_runtime(job.id, |r| {
                        r.unfinished.remove(&task.tablet_id);
                        r.progress.entry(task.backend_id).or_default().tablets_done += 1;
                    });
                }
                Err((e, counts, damaged)) => {
                    let message = format!("download of tablet {} on backend {}: {e}", task.tablet_id, task.backend_id);
                    tracing::info!(job_id = job.id, "fe: {message}");
                    self.with_runtime(job.id, |r| r.note_error(message.clone()));
                    if counts {
                        task.attempts += 1;
                        if task.attempts >= MAX_TASK_ATTEMPTS {
                            // BAD_FILE only when the data itself was damaged (a bad md5).
                            let code = if damaged { StatusCode::BadFile } else { StatusCode::CommonError };
                            return Err(StepError::Fail(JobStatus::error(
                                code,
                                format!("{message} (after {} attempts)", task.attempts),
                            )));
                        }
                    }
                    task.ready_at = crate::clock::monotonic() + backoff(task.attempts.max(1));
                    queue.push(task);
                }
            }
        }
        let now = crate::clock::now_ms();
        self.move_restore(job, move |_, moved| {
            moved.download_finished_time_ms = Some(now);
            Ok(())
        })
        .await
    }

    /// Asks each backend with downloads in flight for its counters (shown as Progress).
    async fn poll_download_progress(&self, job_id: i64, view: &ClusterView, per_backend: &BTreeMap<i64, usize>) {
        let calls = per_backend
            .keys()
            .filter(|be| view.alive.contains(be))
            .filter_map(|be| view.members.get(be).map(|addr| (*be, addr.clone())))
            .map(|(be, addr)| async move { (be, self.agent.download_progress(&addr, job_id).await) });
        for (be, result) in futures_util::future::join_all(calls).await {
            if let Ok(counts) = result {
                self.with_runtime(job_id, |r| {
                    let p = r.progress.entry(be).or_default();
                    p.files_total = counts.files_total;
                    p.files_done = counts.files_done;
                });
            }
        }
    }

    async fn restore_committing(&self, job: &RestoreJob) -> Result<(), StepError> {
        let tablets = tablets_of(&job.plan);
        let landing_of: BTreeMap<(i64, i64), &Landing> =
            job.landings.iter().map(|l| ((l.tablet_id, l.backend_id), l)).collect();
        let now = crate::clock::monotonic();
        let todo: Vec<ReplicaTask> = job
            .landings
            .iter()
            .map(|l| ReplicaTask { tablet_id: l.tablet_id, backend_id: l.backend_id, attempts: 0, ready_at: now })
            .collect();
        let moved = self
            .replica_rounds(job, todo, "commit", |task, addr| {
                let landing = landing_of[&(task.tablet_id, task.backend_id)];
                let version = tablets[&task.tablet_id].version;
                async move {
                    let result = self
                        .agent
                        .move_restored_tablet(&addr, job.id, task.tablet_id, &landing.path, version)
                        .await
                        .map_err(|e| e.to_string());
                    (task, result)
                }
            })
            .await?;
        for (task, version) in moved {
            self.replicas().reached(task.tablet_id, task.backend_id, version);
        }
        // The commit point: one record switches the overwritten partitions to the new tablets.
        let now = crate::clock::now_ms();
        let state = self.state().await;
        let replaced = job.overwritten_tablets(&state.catalog);
        self.move_restore(job, move |_, moved| {
            moved.finished_time_ms = Some(now);
            Ok(())
        })
        .await?;
        self.release_restore_snapshots(&state, job).await;
        self.drop_restore_tablets(&state, &replaced).await;
        Ok(())
    }

    /// Drops tablets on their backends (best effort: heartbeats find the ones left).
    async fn drop_restore_tablets(&self, state: &FeState, tablets: &[TabletRecord]) {
        let calls = tablets.iter().flat_map(|t| {
            t.replicas.iter().filter_map(move |r| {
                state.membership.backends.get(&r.backend_id).map(|b| {
                    let addr = b.addr();
                    async move {
                        if let Err(e) = self.agent.drop_tablet(&addr, t.id).await {
                            tracing::debug!(tablet_id = t.id, %addr, error = %e, "fe: drop failed; heartbeats retry");
                        }
                    }
                })
            })
        });
        futures_util::future::join_all(calls).await;
    }

    /// Releases the job's landing snapshots on every backend that answers.
    async fn release_restore_snapshots(&self, state: &FeState, job: &RestoreJob) {
        let calls = job.backends().into_iter().filter_map(|id| state.membership.backends.get(&id)).map(|b| {
            let addr = b.addr();
            async move {
                if let Err(e) = self.agent.release_job_snapshots(&addr, job.id).await {
                    tracing::debug!(job_id = job.id, %addr, error = %e, "fe: snapshot release failed; heartbeats retry");
                }
            }
        });
        futures_util::future::join_all(calls).await;
    }

    /// Ends a job as CANCELLED with the status `why` gives for the state it is in (one journal
    /// record, which also removes what it created from the catalog), then drops its tablets and
    /// snapshots on every backend that answers.
    pub(crate) async fn cancel_restore_job(
        &self,
        job_id: i64,
        why: impl FnOnce(RestoreState) -> JobStatus,
    ) -> Result<(), RestoreCancelError> {
        let (job, state) = {
            let mut durable = self.durable.lock().await;
            let Some(job) = durable.state.restore.jobs.get(&job_id) else {
                return Err(RestoreCancelError::AlreadyDone(RestoreState::Cancelled));
            };
            if job.state.is_done() {
                return Err(RestoreCancelError::AlreadyDone(job.state));
            }
            let job = job.clone();
            let status = why(job.state);
            assert!(!status.is_ok(), "a cancel needs a reason");
            tracing::info!(job_id, label = %job.label, from = job.state.name(), %status, "fe: restore cancelled");
            let ended = RestoreJob {
                state: RestoreState::Cancelled,
                status,
                finished_time_ms: Some(crate::clock::now_ms()),
                ..job.clone()
            };
            self.commit_locked(&mut durable, FeEdit::RestoreJob { job: Box::new(ended) })
                .await
                .map_err(RestoreCancelError::Journal)?;
            (job, durable.state.clone())
        };
        // `job` is as it was before the cancel: its plan names what it made.
        let new_tablets: Vec<TabletRecord> =
            job.plan.iter().flat_map(|t| t.tablets()).map(|(_, t)| t.tablet.clone()).collect();
        self.release_restore_snapshots(&state, &job).await;
        self.drop_restore_tablets(&state, &new_tablets).await;
        Ok(())
    }
}

impl crate::fe::jobs::driver::DrivenJob for RestoreJob {
    const KIND: &'static str = "restore";

    async fn load(fe: &Fe, job_id: i64) -> Option<Self> {
        fe.restore_job(job_id).await
    }

    fn is_done(&self) -> bool {
        self.state.is_done()
    }

    fn deadline_ms(&self) -> u64 {
        RestoreJob::deadline_ms(self)
    }

    fn state_name(&self) -> &'static str {
        self.state.name()
    }

    fn timeout_status(&self) -> JobStatus {
        JobStatus::error(StatusCode::Timeout, format!("restore job with label: {}  timeout.", self.label))
    }

    async fn step(&self, fe: &Fe) -> Result<(), StepError> {
        fe.restore_step(self).await
    }

    async fn cancel(fe: &Fe, job_id: i64, status: JobStatus) -> Result<(), String> {
        match fe.cancel_restore_job(job_id, |_| status).await {
            Err(RestoreCancelError::Journal(e)) => Err(e.message),
            Ok(()) | Err(RestoreCancelError::AlreadyDone(_)) => Ok(()),
        }
    }

    async fn after_end(fe: &Fe, job_id: i64) {
        // The job ended (here or elsewhere: a cancel, a timeout): its landing snapshots go from
        // every backend that answers; heartbeats release them on the others.
        let state = fe.state().await;
        if state.restore.jobs.get(&job_id).is_some_and(|j| j.state.is_done()) {
            let calls = state.membership.backends.values().map(|b| {
                let addr = b.addr();
                async move {
                    let _ = fe.agent.release_job_snapshots(&addr, job_id).await;
                }
            });
            futures_util::future::join_all(calls).await;
        }
    }
}
