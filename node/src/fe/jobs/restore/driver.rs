//! Runs RESTORE jobs: one driver task per job that has not ended (started by the scheduler in
//! `jobs/scheduler.rs`, so a restarted FE resumes every journaled job), one state at a time.
//!
//! What each state does (docs/jobs.md, "Restore states", with the commit of "Where Palo departs from Doris"):
//! - PENDING: reads and checks the snapshot's `__info` and `__meta`, plans the new tables,
//!   partitions and tablets (ids, replica placement) against the catalog as it is, and journals
//!   the plan: the move to SNAPSHOTING adds the new tables and partitions to the catalog.
//! - SNAPSHOTING: creates every new replica on its backend (empty, at the backed-up version,
//!   marked as waiting for a restore) and an empty snapshot of it tagged with the job: the
//!   landing directory its files are downloaded into. Both in batches per backend
//!   (CreateTablets per table and version, then MakeSnapshots; see `jobs/batches.rs`).
//! - DOWNLOAD: nothing left to prepare; moves on.
//! - DOWNLOADING: every replica downloads its backed-up tablet's files (in batches of tablets, by
//!   the transfer pump, `jobs/transfer.rs`); the backend checks each file's md5 and skips files
//!   it already holds verified, so a download redone after a crash or a retry sends only what is
//!   missing.
//! - COMMIT: nothing left to prepare; moves on.
//! - COMMITTING: every replica moves its downloaded files into its new tablet (idempotent), in
//!   batches per backend (MoveRestoredTablets).
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

use std::collections::BTreeMap;

use futures_util::StreamExt;

use crate::fe::catalog::TabletRecord;
use crate::fe::catalog::placement::current_load;
use crate::fe::cluster::agent::{AgentError, task_outcome};
use crate::fe::jobs::batches;
use crate::fe::jobs::driver::MAX_TASK_ATTEMPTS;
use crate::fe::jobs::driver::StepError;
use crate::fe::jobs::driver::backoff;
use crate::fe::jobs::driver::fail;
use crate::fe::jobs::restore::job::{Landing, RestoreJob, RestoreState, TablePlan};
use crate::fe::jobs::restore::plan::{self, PlanError, PlanRequest};
use crate::fe::jobs::restore::statement::{RestoreCancelError, read_snapshot};
use crate::fe::jobs::runtime::JobRuntime;
use crate::fe::jobs::state::JobState;
use crate::fe::jobs::status::JobStatus;
use crate::fe::jobs::status::StatusCode;
use crate::fe::jobs::transfer::{ClusterView, Queued, Route, TaskFailure, Transfer, repository_of};
use crate::fe::{Fe, FeEdit, FeState};
use crate::rpc::proto;
use crate::schema::Schema;

/// One replica's piece of work in SNAPSHOTING, DOWNLOADING or COMMITTING.
#[derive(Debug, Clone)]
struct ReplicaTask {
    tablet_id: i64,
    backend_id: i64,
    attempts: u32,
}

/// Where a replica's backend stands.
enum Reach {
    Alive(String),
    /// Down for now: its work waits.
    Down,
}

/// Where a replica's backend is; `Fail` once it is no longer a member of the cluster.
fn reach(view: &ClusterView, tablet_id: i64, backend_id: i64) -> Result<Reach, StepError> {
    let Some(addr) = view.members.get(&backend_id) else {
        return Err(fail(format!(
            "backend {backend_id}, which holds a replica of restored tablet {tablet_id}, was dropped from the \
             cluster during the restore; run the restore again"
        )));
    };
    Ok(if view.alive.contains(&backend_id) { Reach::Alive(addr.clone()) } else { Reach::Down })
}

/// One replica's download, into its landing snapshot on its own backend.
struct DownloadTask {
    tablet_id: i64,
    backend_id: i64,
}

/// A restore's downloads, as the transfer pump runs them.
struct Downloads<'a> {
    job_id: i64,
    tablets: BTreeMap<i64, TabletInfo<'a>>,
    landing_of: BTreeMap<(i64, i64), &'a Landing>,
}

impl Transfer for Downloads<'_> {
    type Task = DownloadTask;
    type Item = proto::DownloadItem;
    type Batch = proto::DownloadSnapshotsRequest;
    /// The bytes the download fetched.
    type Output = u64;
    const VERB: &'static str = "download";
    const PREPOSITION: &'static str = "on";

    fn job_id(&self) -> i64 {
        self.job_id
    }

    fn tablet_id(task: &DownloadTask) -> i64 {
        task.tablet_id
    }

    fn files(&self, task: &DownloadTask) -> usize {
        self.tablets.get(&task.tablet_id).map_or(1, |t| t.files.len())
    }

    fn shown_backend(task: &DownloadTask) -> i64 {
        task.backend_id
    }

    /// The replica's own backend, once it is alive and has room.
    fn place(
        &self,
        view: &ClusterView,
        queued: &Queued<DownloadTask>,
        busy: &dyn Fn(i64) -> bool,
        _load: &dyn Fn(i64) -> usize,
    ) -> Result<Option<(i64, String)>, StepError> {
        let task = &queued.task;
        Ok(match reach(view, task.tablet_id, task.backend_id)? {
            Reach::Alive(addr) if !busy(task.backend_id) => Some((task.backend_id, addr)),
            _ => None,
        })
    }

    fn item(&self, task: &DownloadTask, _backend_id: i64) -> proto::DownloadItem {
        let landing = self.landing_of[&(task.tablet_id, task.backend_id)];
        let info = &self.tablets[&task.tablet_id];
        proto::DownloadItem {
            snapshot_path: landing.path.clone(),
            tablet_id: task.tablet_id,
            source_tablet_id: info.source_tablet_id,
            remote_dir: info.remote_dir.to_string(),
            files: info.files.to_vec(),
        }
    }

    fn batch(&self, route: &Route, broker_addr: String, items: Vec<proto::DownloadItem>) -> Self::Batch {
        proto::DownloadSnapshotsRequest {
            job_id: self.job_id,
            location: route.repo.location.clone(),
            properties: route.properties.clone().into_iter().collect(),
            broker_addr,
            items,
        }
    }

    async fn call(fe: &Fe, addr: String, batch: Self::Batch) -> Result<Vec<Result<u64, TaskFailure>>, TaskFailure> {
        // A download of this replica still running there (an earlier attempt) is waited for, not
        // counted as a failure.
        let failure = |e: AgentError| TaskFailure {
            message: e.to_string(),
            counts: !e.is_already_running(),
            damaged: e.is_data_loss(),
        };
        let outcomes = fe.agent.download_snapshots(&addr, batch).await.map_err(failure)?;
        Ok(outcomes.into_iter().map(|o| o.map(|r| r.bytes_downloaded).map_err(failure)).collect())
    }

    fn backend_dead(backend_id: i64) -> TaskFailure {
        TaskFailure {
            message: format!("backend {backend_id} is shown dead; its download waits for it"),
            counts: false,
            damaged: false,
        }
    }

    fn check(&self, _task: &DownloadTask, _backend_id: i64, output: u64) -> Result<u64, TaskFailure> {
        Ok(output)
    }

    fn bytes(output: &u64) -> u64 {
        *output
    }

    /// Every replica downloads on its own backend: each backend's share is known from the start.
    fn begin(&self, runtime: &mut JobRuntime, queue: &[Queued<DownloadTask>]) {
        runtime.progress.clear();
        for queued in queue {
            runtime.progress.entry(queued.task.backend_id).or_default().tablets_total += 1;
        }
    }

    fn started(&self, _runtime: &mut JobRuntime, _backend_id: i64) {}

    fn failed(&self, _runtime: &mut JobRuntime, _backend_id: i64) {}

    /// BAD_FILE only when the data itself was damaged (a bad md5).
    fn give_up(&self, queued: &Queued<DownloadTask>, message: &str, failure: &TaskFailure) -> StepError {
        let code = if failure.damaged { StatusCode::BadFile } else { StatusCode::CommonError };
        StepError::Fail(JobStatus::error(code, format!("{message} (after {} attempts)", queued.attempts)))
    }

    async fn progress(fe: &Fe, addr: String, job_id: i64) -> Option<(u64, u64)> {
        fe.agent.download_progress(&addr, job_id).await.ok().map(|c| (c.files_total, c.files_done))
    }
}

/// The new tablet of a plan, with its partition's version, its source and the table's schema.
struct TabletInfo<'a> {
    table_id: i64,
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
                        table_id: t.table_id,
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
        self.durable.lock().await.state.restore.jobs.get(&job_id).map(|j| RestoreJob::clone(j))
    }

    async fn restore_step(&self, job: &RestoreJob) -> Result<(), StepError> {
        // Fault point (simulation only): the state's work fails, so the job stays in the state
        // for a backoff (scenarios hold a job in a state this way to cancel it or crash there).
        let fault = job.state.step_fault();
        if palo_buggify::fail_step(&fault) {
            return Err(StepError::Retry(format!("injected failure of {fault} (simulation)")));
        }
        match job.state {
            RestoreState::Pending => self.restore_pending(job).await,
            RestoreState::Snapshoting => self.restore_snapshoting(job).await,
            RestoreState::Download | RestoreState::Commit => self.move_to_next(job, |_, _| Ok(())).await,
            RestoreState::Downloading => self.restore_downloading(job).await,
            RestoreState::Committing => self.restore_committing(job).await,
            RestoreState::Finished | RestoreState::Cancelled => Err(StepError::Moved),
        }
    }

    async fn restore_pending(&self, job: &RestoreJob) -> Result<(), StepError> {
        let state = self.state().await;
        let repo = repository_of(&state, job.repo_id)?;
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
        self.move_to_next(job, |state, moved| {
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

    /// Runs `call` on every replica task whose backend is alive, in batches per backend
    /// ([`batches::MAX_TABLETS_PER_BATCH`] tasks, one backend each), round after round with
    /// backoff, until every task has succeeded; returns each task's answer. Tasks on a backend
    /// that is down wait for it; one that fails [`MAX_TASK_ATTEMPTS`] times fails the job with
    /// `what` and its last error.
    async fn replica_rounds<T, F, Fut>(
        &self,
        job: &RestoreJob,
        mut todo: Vec<ReplicaTask>,
        what: &str,
        call: F,
    ) -> Result<Vec<(ReplicaTask, T)>, StepError>
    where
        F: Fn(Vec<ReplicaTask>, String) -> Fut,
        Fut: std::future::Future<Output = Vec<(ReplicaTask, Result<T, String>)>>,
    {
        let mut done = Vec::with_capacity(todo.len());
        let mut round = 0u32;
        while !todo.is_empty() {
            self.with_runtime(job.id, |r| r.unfinished = todo.iter().map(|t| (t.tablet_id, t.backend_id)).collect());
            let view = self.cluster_view().await;
            let mut per_backend: BTreeMap<i64, Vec<ReplicaTask>> = BTreeMap::new();
            let mut addrs: BTreeMap<i64, String> = BTreeMap::new();
            let mut waiting = Vec::new();
            for task in todo.drain(..) {
                match reach(&view, task.tablet_id, task.backend_id)? {
                    Reach::Alive(addr) => {
                        addrs.insert(task.backend_id, addr);
                        per_backend.entry(task.backend_id).or_default().push(task);
                    }
                    Reach::Down => waiting.push(task),
                }
            }
            let calls = batches::interleaved(per_backend, batches::MAX_TABLETS_PER_BATCH)
                .into_iter()
                .map(|(backend_id, tasks)| call(tasks, addrs.get(&backend_id).cloned().unwrap_or_default()));
            let results: Vec<_> =
                futures_util::stream::iter(calls).buffer_unordered(batches::MAX_BATCHES_IN_FLIGHT).collect().await;
            for (mut task, result) in results.into_iter().flatten() {
                match result {
                    Ok(answer) => done.push((task, answer)),
                    Err(e) => {
                        let message =
                            format!("{what} of tablet {} on backend {}: {e}", task.tablet_id, task.backend_id);
                        self.note_task_error(job.id, &message);
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
        palo_buggify::job_tasks(job.id, || format!("{} replica task(s) done", done.len()));
        Ok(done)
    }

    async fn restore_snapshoting(&self, job: &RestoreJob) -> Result<(), StepError> {
        let tablets = tablets_of(&job.plan);
        let timeout_s = job.deadline_ms().saturating_sub(crate::clock::now_ms()).div_ceil(1_000).max(60);
        let todo: Vec<ReplicaTask> = job
            .plan
            .iter()
            .flat_map(|t| t.tablets())
            .flat_map(|(_, t)| t.tablet.replicas.iter().map(|r| (t.tablet.id, r.backend_id)))
            .map(|(tablet_id, backend_id)| ReplicaTask { tablet_id, backend_id, attempts: 0 })
            .collect();
        let tablets = &tablets;
        let made = self
            .replica_rounds(job, todo, "Failed to create replicas for restore: replica", |tasks, addr| async move {
                let (created, mut failed) = self.create_restore_replicas(job.id, tablets, tasks, &addr).await;
                let versions: Vec<(i64, u64)> =
                    created.iter().map(|t| (t.tablet_id, tablets[&t.tablet_id].version)).collect();
                let outcomes = match self.agent.make_snapshots(&addr, job.id, timeout_s, &versions).await {
                    Ok(outcomes) => outcomes.into_iter().map(|o| o.map_err(|e| e.to_string())).collect(),
                    Err(e) => created.iter().map(|_| Err(e.to_string())).collect::<Vec<_>>(),
                };
                for (task, outcome) in created.into_iter().zip(outcomes) {
                    failed.push((task, outcome.map_err(|e| format!("making its landing snapshot: {e}"))));
                }
                failed
            })
            .await?;
        let mut landings: Vec<Landing> = made
            .into_iter()
            .map(|(task, made)| Landing { tablet_id: task.tablet_id, backend_id: task.backend_id, path: made.path })
            .collect();
        landings.sort_by_key(|l| (l.tablet_id, l.backend_id));
        let now = crate::clock::now_ms();
        self.move_to_next(job, move |_, moved| {
            moved.landings = landings;
            moved.snapshot_finished_time_ms = Some(now);
            Ok(())
        })
        .await
    }

    /// Creates the new replicas `tasks` on the backend at `addr`, empty at their backed-up
    /// versions and waiting for the restore, one call per table and version: the ones created,
    /// and the others with why.
    async fn create_restore_replicas<T>(
        &self,
        job_id: i64,
        tablets: &BTreeMap<i64, TabletInfo<'_>>,
        tasks: Vec<ReplicaTask>,
        addr: &str,
    ) -> (Vec<ReplicaTask>, Vec<(ReplicaTask, Result<T, String>)>) {
        let mut groups: BTreeMap<(i64, u64), Vec<ReplicaTask>> = BTreeMap::new();
        for task in tasks {
            let info = &tablets[&task.tablet_id];
            groups.entry((info.table_id, info.version)).or_default().push(task);
        }
        let (mut created, mut failed) = (Vec::new(), Vec::new());
        for ((_, version), group) in groups {
            let schema = tablets[&group[0].tablet_id].schema;
            let ids = group.iter().map(|t| t.tablet_id).collect();
            match self.agent.create_tablets(addr, ids, schema, version, Some(job_id)).await {
                Ok(results) => {
                    for (task, result) in group.into_iter().zip(results) {
                        match task_outcome(addr, &result) {
                            Ok(_) => {
                                // At the backed-up version for loads (allow_load) from now on.
                                self.replicas().reached(task.tablet_id, task.backend_id, version);
                                created.push(task);
                            }
                            Err(e) => failed.push((task, Err(format!("creating it: {e}")))),
                        }
                    }
                }
                Err(e) => failed.extend(group.into_iter().map(|t| (t, Err(format!("creating it: {e}"))))),
            }
        }
        (created, failed)
    }

    async fn restore_downloading(&self, job: &RestoreJob) -> Result<(), StepError> {
        let downloads = Downloads {
            job_id: job.id,
            tablets: tablets_of(&job.plan),
            landing_of: job.landings.iter().map(|l| ((l.tablet_id, l.backend_id), l)).collect(),
        };
        let tasks =
            job.landings.iter().map(|l| DownloadTask { tablet_id: l.tablet_id, backend_id: l.backend_id }).collect();
        self.pump(&downloads, job.repo_id, tasks).await?;
        let now = crate::clock::now_ms();
        self.move_to_next(job, move |_, moved| {
            moved.download_finished_time_ms = Some(now);
            Ok(())
        })
        .await
    }

    async fn restore_committing(&self, job: &RestoreJob) -> Result<(), StepError> {
        let tablets = tablets_of(&job.plan);
        let landing_of: BTreeMap<(i64, i64), &Landing> =
            job.landings.iter().map(|l| ((l.tablet_id, l.backend_id), l)).collect();
        let todo: Vec<ReplicaTask> = job
            .landings
            .iter()
            .map(|l| ReplicaTask { tablet_id: l.tablet_id, backend_id: l.backend_id, attempts: 0 })
            .collect();
        let (tablets, landing_of) = (&tablets, &landing_of);
        let moved = self
            .replica_rounds(job, todo, "commit", |tasks, addr| async move {
                let items = tasks
                    .iter()
                    .map(|t| proto::MoveItem {
                        tablet_id: t.tablet_id,
                        snapshot_path: landing_of[&(t.tablet_id, t.backend_id)].path.clone(),
                        version: tablets[&t.tablet_id].version,
                    })
                    .collect();
                match self.agent.move_restored_tablets(&addr, job.id, items).await {
                    Ok(outcomes) => {
                        tasks.into_iter().zip(outcomes).map(|(t, o)| (t, o.map_err(|e| e.to_string()))).collect()
                    }
                    Err(e) => tasks.into_iter().map(|t| (t, Err(e.to_string()))).collect(),
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
        self.move_to_next(job, move |_, moved| {
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
        self.release_job_snapshots_on(state, job.id, job.backends()).await;
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
                ..RestoreJob::clone(&job)
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

    async fn cancel(fe: &Fe, job_id: i64, status: JobStatus) -> Result<(), crate::error::SqlError> {
        match fe.cancel_restore_job(job_id, |_| status).await {
            Err(RestoreCancelError::Journal(e)) => Err(e),
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
