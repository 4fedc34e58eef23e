//! Runs BACKUP jobs: one driver task per job that has not ended, started by a scheduler loop
//! (so a restarted FE resumes every journaled job), advancing the job one state at a time.
//!
//! What each state does (docs/jobs.md, "Backup states", with the changes of "Where Palo departs from Doris"):
//! - PENDING: claims the label in the repository (a conditional create of `__owner`), then copies
//!   the tables with each partition's visible version: the versions the backup holds.
//! - SNAPSHOTING: asks every alive replica of every tablet for a snapshot at its partition's
//!   version (hard links: O(files)), in batches per backend (MakeSnapshots). One snapshot per tablet is enough; the others are spares, so
//!   an upload whose backend dies moves to another replica at once, at the same version.
//! - UPLOAD_SNAPSHOT: nothing left to prepare; moves on.
//! - UPLOADING: one upload task per tablet, sent in batches (the transfer pump, `jobs/transfer.rs`);
//!   failed tasks are retried with backoff, preferring another replica, at most
//!   [`MAX_TASK_ATTEMPTS`] times; a backend shown dead has its uploads abandoned and moved. A
//!   tablet whose every snapshot is on a backend dropped from the cluster fails the job (as a
//!   restore's download onto a dropped backend does): nothing can upload it any more.
//! - SAVE_META: checks that `__meta` and `__info` render, then releases the snapshots.
//! - UPLOAD_INFO: checks the label is still ours and every file is in the repository, writes
//!   `__meta` then `__info_<ts>` (the snapshot exists for SHOW SNAPSHOT and RESTORE only once
//!   `__info` does); retried until the job times out, as in Doris.
//!
//! Every move is journaled before the next state's work starts. Work is idempotent, so a driver
//! that restarts (FE crash) redoes at most one state. A job ends CANCELLED by a user, by its
//! timeout, or by a failure whose status names the cause; its snapshots are released right away
//! on the backends that answer, and by heartbeats on the others (a backend reports the jobs it
//! holds snapshots for; those of ended jobs are released).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use futures_util::StreamExt;

use crate::fe::catalog::TableRecord;
use crate::fe::cluster::agent::AgentError;
use crate::fe::jobs::backup::job::{BackupJob, BackupState, ReplicaSnapshot};
use crate::fe::jobs::backup::layout::{self, BackupJobInfo, BackupMeta, LabelOwner};
use crate::fe::jobs::backup::statement::{CancelError, MAX_TABLETS_PER_JOB};
use crate::fe::jobs::batches;
use crate::fe::jobs::driver::{MAX_TASK_ATTEMPTS, StepError, backoff, fail};
use crate::fe::jobs::runtime::JobRuntime;
use crate::fe::jobs::state::JobState;
use crate::fe::jobs::status::JobStatus;
use crate::fe::jobs::status::StatusCode;
use crate::fe::jobs::transfer::{ClusterView, Queued, Route, TaskFailure, Transfer, repository_of};
use crate::fe::{Fe, FeState};
use crate::repository::{self, RepoStore};
use crate::rpc::proto;

/// Tries at removing the `__info` of a backup cancelled in UPLOAD_INFO.
pub const MAX_INFO_REMOVE_ATTEMPTS: u32 = 4;

/// One tablet's upload, from one of its snapshots.
struct UploadTask {
    tablet_id: i64,
    remote_dir: String,
    copies: Vec<ReplicaSnapshot>,
}

/// What an upload gave back: every file of the snapshot as `name.<md5>`, and the bytes it sent.
struct Uploaded {
    files: Vec<String>,
    bytes: u64,
}

/// A backup's uploads, as the transfer pump runs them.
struct Uploads {
    job_id: i64,
}

impl Transfer for Uploads {
    type Task = UploadTask;
    type Item = proto::UploadItem;
    type Batch = proto::UploadSnapshotsRequest;
    type Output = Uploaded;
    const VERB: &'static str = "upload";
    const PREPOSITION: &'static str = "from";

    fn job_id(&self) -> i64 {
        self.job_id
    }

    fn tablet_id(task: &UploadTask) -> i64 {
        task.tablet_id
    }

    fn files(&self, task: &UploadTask) -> usize {
        task.copies.first().map_or(1, |c| c.files.len())
    }

    fn shown_backend(task: &UploadTask) -> i64 {
        task.copies.first().map_or(0, |c| c.backend_id)
    }

    /// The snapshot on an alive backend with room, the one that failed least first, then the one
    /// on the least loaded backend. A tablet
    /// none of whose snapshots is on a member any more fails the job: a dropped backend never
    /// comes back (ids are not reused), so the task would wait until the job's timeout.
    fn place(
        &self,
        view: &ClusterView,
        queued: &Queued<UploadTask>,
        busy: &dyn Fn(i64) -> bool,
        load: &dyn Fn(i64) -> usize,
    ) -> Result<Option<(i64, String)>, StepError> {
        let copies = &queued.task.copies;
        if !copies.iter().any(|c| view.members.contains_key(&c.backend_id)) {
            let on: Vec<String> = copies.iter().map(|c| c.backend_id.to_string()).collect();
            return Err(fail(format!(
                "the snapshots of tablet {} were on backend(s) {}, dropped from the cluster during the backup; run \
                 the backup again",
                queued.task.tablet_id,
                on.join(", ")
            )));
        }
        let choice = queued
            .task
            .copies
            .iter()
            .filter(|c| view.alive_addr(c.backend_id).is_some() && !busy(c.backend_id))
            .min_by_key(|c| {
                (queued.failures.get(&c.backend_id).copied().unwrap_or(0), load(c.backend_id), c.backend_id)
            });
        Ok(choice.and_then(|c| view.alive_addr(c.backend_id).map(|addr| (c.backend_id, addr.clone()))))
    }

    fn item(&self, task: &UploadTask, backend_id: i64) -> proto::UploadItem {
        let copy = task.copies.iter().find(|c| c.backend_id == backend_id);
        proto::UploadItem {
            tablet_id: task.tablet_id,
            snapshot_path: copy.map(|c| c.path.clone()).unwrap_or_default(),
            remote_dir: task.remote_dir.clone(),
        }
    }

    fn batch(&self, route: &Route, broker_addr: String, items: Vec<proto::UploadItem>) -> Self::Batch {
        proto::UploadSnapshotsRequest {
            job_id: self.job_id,
            location: route.repo.location.clone(),
            properties: route.properties.clone().into_iter().collect(),
            broker_addr,
            items,
        }
    }

    async fn call(
        fe: &Fe,
        addr: String,
        batch: Self::Batch,
    ) -> Result<Vec<Result<Uploaded, TaskFailure>>, TaskFailure> {
        // An upload of this tablet still running there (an earlier attempt) is no failure of the
        // tablet: it counts against that backend only.
        let failure =
            |e: AgentError| TaskFailure { message: e.to_string(), counts: !e.is_already_running(), damaged: false };
        let outcomes = fe.agent.upload_snapshots(&addr, batch).await.map_err(failure)?;
        Ok(outcomes
            .into_iter()
            .map(|o| o.map(|r| Uploaded { files: r.files, bytes: r.bytes_uploaded }).map_err(failure))
            .collect())
    }

    fn backend_dead(backend_id: i64) -> TaskFailure {
        TaskFailure::counted(format!("backend {backend_id} is shown dead; the upload moves to another replica"))
    }

    fn check(&self, task: &UploadTask, backend_id: i64, output: Uploaded) -> Result<Uploaded, TaskFailure> {
        match task.copies.iter().find(|c| c.backend_id == backend_id) {
            Some(copy) => {
                let files = check_uploaded(copy, output.files).map_err(TaskFailure::counted)?;
                Ok(Uploaded { files, bytes: output.bytes })
            }
            None => Err(TaskFailure::counted(format!("backend {backend_id} holds no snapshot of the tablet"))),
        }
    }

    fn bytes(output: &Uploaded) -> u64 {
        output.bytes
    }

    fn begin(&self, runtime: &mut JobRuntime, _queue: &[Queued<UploadTask>]) {
        runtime.progress.clear();
    }

    fn started(&self, runtime: &mut JobRuntime, backend_id: i64) {
        runtime.progress.entry(backend_id).or_default().tablets_total += 1;
    }

    fn failed(&self, runtime: &mut JobRuntime, backend_id: i64) {
        let p = runtime.progress.entry(backend_id).or_default();
        p.tablets_total = p.tablets_total.saturating_sub(1);
    }

    fn give_up(&self, queued: &Queued<UploadTask>, _message: &str, failure: &TaskFailure) -> StepError {
        fail(format!(
            "failed to upload tablet {} in {} attempts: {}",
            queued.task.tablet_id, queued.attempts, failure.message
        ))
    }

    async fn progress(fe: &Fe, addr: String, job_id: i64) -> Option<(u64, u64)> {
        fe.agent.upload_progress(&addr, job_id).await.ok().map(|c| (c.files_total, c.files_done))
    }
}

impl Fe {
    async fn backup_job(&self, job_id: i64) -> Option<BackupJob> {
        self.durable.lock().await.state.backup.jobs.get(&job_id).map(|j| BackupJob::clone(j))
    }

    /// The task errors of `job_id`'s runtime to keep with the job when it moves (so SHOW shows
    /// them after a restart or the end): the newest, at most `MAX_TASK_ERRORS`, oldest first.
    pub(crate) fn task_errors_to_keep(&self, job_id: i64) -> Vec<String> {
        let errors: Vec<String> =
            self.job_runtime().get(&job_id).map(|r| r.task_errors.iter().cloned().collect()).unwrap_or_default();
        let skip = errors.len().saturating_sub(crate::fe::jobs::status::MAX_TASK_ERRORS);
        errors.into_iter().skip(skip).collect()
    }

    /// Releases the job's snapshots on every backend that may hold one and answers.
    pub(crate) async fn release_backup_snapshots(&self, job: &BackupJob) {
        if palo_buggify::injected_bug(palo_buggify::Bug::BackupLeaksSnapshots) {
            return;
        }
        let state = self.state().await;
        self.release_job_snapshots_on(&state, job.id, job.backends()).await;
    }

    /// Releases, on `backend_id`, the snapshots of jobs that ended (reported by its heartbeat).
    pub(crate) async fn release_ended_job_snapshots(&self, backend_id: i64, ended: Vec<i64>) {
        if palo_buggify::injected_bug(palo_buggify::Bug::BackupLeaksSnapshots) {
            return;
        }
        let addr = {
            let durable = self.durable.lock().await;
            match durable.state.membership.backends.get(&backend_id) {
                Some(b) => b.addr(),
                None => return,
            }
        };
        for job_id in ended {
            match self.agent.release_job_snapshots(&addr, job_id).await {
                Ok(n) => tracing::info!(job_id, backend_id, released = n, "fe: released snapshots of an ended job"),
                Err(e) => tracing::debug!(job_id, backend_id, error = %e, "fe: snapshot release failed"),
            }
        }
    }

    fn store_of(&self, state: &FeState, job: &BackupJob) -> Result<Arc<dyn RepoStore>, StepError> {
        let repo = repository_of(state, job.repo_id)?;
        self.repository_store(state, &repo).map_err(|e| StepError::Retry(format!("repository {}: {e}", repo.name)))
    }

    async fn backup_step(&self, job: &BackupJob) -> Result<(), StepError> {
        // Fault point (simulation only): the state's work fails, so the job stays in the state
        // for a backoff; how scenarios hold a job in a state to cancel it or crash the FE there.
        let fault = job.state.step_fault();
        if palo_buggify::fail_step(&fault) {
            return Err(StepError::Retry(format!("injected failure of {fault} (simulation)")));
        }
        match job.state {
            BackupState::Pending => self.backup_pending(job).await,
            BackupState::Snapshoting => self.backup_snapshoting(job).await,
            BackupState::UploadSnapshot => self.move_to_next(job, |_, _| Ok(())).await,
            BackupState::Uploading => self.backup_uploading(job).await,
            BackupState::SaveMeta => self.backup_save_meta(job).await,
            BackupState::UploadInfo => self.backup_upload_info(job).await,
            BackupState::Finished | BackupState::Cancelled => Err(StepError::Moved),
        }
    }

    fn owner_of(state: &FeState, job: &BackupJob) -> LabelOwner {
        LabelOwner { cluster_id: state.cluster_id, job_id: job.id, database: job.db_name.clone() }
    }

    /// Whether the label's `__owner` names this job; `Fail` if it names another.
    async fn check_owner(&self, store: &dyn RepoStore, state: &FeState, job: &BackupJob) -> Result<(), StepError> {
        // The simulator can make a job go on with a label another job claimed.
        if palo_buggify::injected_bug(palo_buggify::Bug::LabelOwnerIgnored) {
            return Ok(());
        }
        let path = layout::owner_path(&job.repo_name, &job.label);
        let bytes = store.get(&path).await.map_err(|e| StepError::Retry(format!("reading {path}: {e}")))?;
        // A read that does not decode is retried (a store can return damaged bytes); one that
        // names another job means the label is someone else's.
        let owner: LabelOwner =
            serde_json::from_slice(&bytes).map_err(|e| StepError::Retry(format!("{path} does not decode: {e}")))?;
        let ours = Self::owner_of(state, job);
        if owner.cluster_id == ours.cluster_id && owner.job_id == ours.job_id {
            Ok(())
        } else {
            Err(fail(format!("Snapshot with name '{}' already exist in repository", job.label)))
        }
    }

    async fn backup_pending(&self, job: &BackupJob) -> Result<(), StepError> {
        let state = self.state().await;
        let store = self.store_of(&state, job)?;
        let owner = serde_json::to_vec(&Self::owner_of(&state, job)).map_err(|e| fail(e.to_string()))?;
        let path = layout::owner_path(&job.repo_name, &job.label);
        let created =
            store.put_if_absent(&path, owner).await.map_err(|e| StepError::Retry(format!("writing {path}: {e}")))?;
        if !created {
            // Ours from before a restart, or another job's (of this cluster or another).
            self.check_owner(store.as_ref(), &state, job).await?;
        }
        self.move_to_next(job, |state, moved| {
            moved.tables = plan_tables(state, job)?;
            Ok(())
        })
        .await
    }

    async fn backup_snapshoting(&self, job: &BackupJob) -> Result<(), StepError> {
        // (tablet id, version, backends of its replicas)
        let tablets: Vec<(i64, u64, Vec<i64>)> = job
            .tables
            .iter()
            .flat_map(|t| t.partitions.iter())
            .flat_map(|p| {
                p.tablets
                    .iter()
                    .map(move |t| (t.id, p.visible_version, t.replicas.iter().map(|r| r.backend_id).collect()))
            })
            .collect();
        let timeout_s = job.deadline_ms().saturating_sub(crate::clock::now_ms()).div_ceil(1_000).max(60);
        let mut taken: BTreeMap<i64, Vec<ReplicaSnapshot>> = BTreeMap::new();
        let mut attempts: BTreeMap<i64, u32> = BTreeMap::new();
        let mut round = 0u32;
        loop {
            let state = self.state().await;
            // A snapshot on a backend dropped from the cluster since it was made (a round's calls
            // go to the backends alive when it starts) can never be uploaded: it does not count,
            // and its tablet is taken again from its other replicas.
            let members = &state.membership.backends;
            taken.retain(|_, copies| {
                copies.retain(|c| members.contains_key(&c.backend_id));
                !copies.is_empty()
            });
            let todo: Vec<&(i64, u64, Vec<i64>)> = tablets.iter().filter(|t| !taken.contains_key(&t.0)).collect();
            self.with_runtime(job.id, |r| {
                r.unfinished = todo.iter().map(|t| (t.0, t.2.first().copied().unwrap_or(0))).collect();
            });
            if todo.is_empty() {
                break;
            }
            // A tablet whose every replica the job planned on is on a dropped backend is never
            // called, so its attempts never count: without this the job waits for its timeout.
            if let Some((tablet, _, backends)) = todo.iter().find(|t| !t.2.iter().any(|b| members.contains_key(b))) {
                return Err(fail(format!(
                    "every replica of tablet {tablet} the backup planned on ({backends:?}) is on a backend dropped \
                     from the cluster since; run the backup again"
                )));
            }
            let alive: BTreeMap<i64, String> =
                self.alive_backends(&state.membership).into_iter().map(|b| (b.id, b.addr())).collect();
            let mut per_backend: BTreeMap<i64, Vec<(i64, u64)>> = BTreeMap::new();
            for (tablet, version, backends) in &todo {
                for b in backends.iter().filter(|b| alive.contains_key(b)) {
                    per_backend.entry(*b).or_default().push((*tablet, *version));
                }
            }
            let called: BTreeSet<i64> = per_backend.values().flatten().map(|c| c.0).collect();
            let calls =
                batches::interleaved(per_backend, batches::MAX_TABLETS_PER_BATCH).into_iter().map(|(be, items)| {
                    let addr = alive.get(&be).cloned().unwrap_or_default();
                    async move {
                        let result = self.agent.make_snapshots(&addr, job.id, timeout_s, &items).await;
                        (be, items, result)
                    }
                });
            let results: Vec<_> =
                futures_util::stream::iter(calls).buffer_unordered(batches::MAX_BATCHES_IN_FLIGHT).collect().await;
            let mut last_error: BTreeMap<i64, String> = BTreeMap::new();
            for (be, items, result) in results {
                let outcomes = match result {
                    Ok(outcomes) => outcomes,
                    Err(e) => {
                        let message = format!("snapshots of {} tablet(s) on backend {be}: {e}", items.len());
                        self.note_task_error(job.id, &message);
                        for (tablet, _) in &items {
                            last_error.insert(*tablet, message.clone());
                        }
                        continue;
                    }
                };
                for ((tablet, version), outcome) in items.into_iter().zip(outcomes) {
                    match outcome {
                        Ok(made) => {
                            taken.entry(tablet).or_default().push(ReplicaSnapshot {
                                backend_id: be,
                                path: made.path,
                                files: made.files,
                            });
                        }
                        Err(e) => {
                            let message =
                                format!("snapshot of tablet {tablet} at version {version} on backend {be}: {e}");
                            self.note_task_error(job.id, &message);
                            last_error.insert(tablet, message);
                        }
                    }
                }
            }
            for tablet in called.iter().filter(|t| !taken.contains_key(t)) {
                let n = attempts.entry(*tablet).or_default();
                *n += 1;
                if *n >= MAX_TASK_ATTEMPTS {
                    let why = last_error.get(tablet).cloned().unwrap_or_default();
                    return Err(fail(format!("failed to make a snapshot of tablet {tablet} in {n} attempts: {why}")));
                }
            }
            if tablets.iter().any(|t| !taken.contains_key(&t.0)) {
                round += 1;
                tokio::time::sleep(backoff(round)).await;
            }
        }
        for copies in taken.values_mut() {
            copies.sort_by_key(|c| c.backend_id);
        }
        palo_buggify::job_tasks(job.id, || {
            let replicas: usize = taken.values().map(Vec::len).sum();
            format!("snapshots of {} tablet(s) taken on {replicas} replica(s)", taken.len())
        });
        let now = crate::clock::now_ms();
        self.move_to_next(job, move |_, moved| {
            moved.snapshots = taken;
            moved.snapshot_finished_time_ms = Some(now);
            moved.check_record_weight(crate::journal::MAX_RECORD_BYTES).map_err(fail)
        })
        .await
    }

    async fn backup_uploading(&self, job: &BackupJob) -> Result<(), StepError> {
        let mut tasks: Vec<UploadTask> = Vec::new();
        for table in &job.tables {
            for p in &table.partitions {
                for t in &p.tablets {
                    let copies = job.snapshots.get(&t.id).cloned().unwrap_or_default();
                    assert!(
                        !copies.is_empty(),
                        "job {} reached UPLOADING without a snapshot of tablet {}",
                        job.id,
                        t.id
                    );
                    let remote_dir = layout::tablet_dir(&job.repo_name, &job.label, job.db_id, table.id, p.id, t.id);
                    tasks.push(UploadTask { tablet_id: t.id, remote_dir, copies });
                }
            }
        }
        let done = self.pump(&Uploads { job_id: job.id }, job.repo_id, tasks).await?;
        let uploaded: BTreeMap<i64, Vec<String>> =
            done.into_iter().map(|(task, _, uploaded)| (task.tablet_id, uploaded.files)).collect();
        let now = crate::clock::now_ms();
        self.move_to_next(job, move |_, moved| {
            moved.uploaded = uploaded;
            moved.upload_finished_time_ms = Some(now);
            Ok(())
        })
        .await
    }

    async fn backup_save_meta(&self, job: &BackupJob) -> Result<(), StepError> {
        render_meta(job)?;
        render_info(job)?;
        self.move_to_next(job, |_, _| Ok(())).await?;
        self.release_backup_snapshots(job).await;
        Ok(())
    }

    async fn backup_upload_info(&self, job: &BackupJob) -> Result<(), StepError> {
        let state = self.state().await;
        let store = self.store_of(&state, job)?;
        self.check_owner(store.as_ref(), &state, job).await?;
        // Every file the info will list must be there (a store that lost one is caught here,
        // not by the restore): a few partitions listed at once.
        let mut checks: Vec<futures_util::future::BoxFuture<'_, Result<(), StepError>>> = Vec::new();
        for table in &job.tables {
            for p in &table.partitions {
                let check = check_partition_uploaded(store.as_ref(), job, table.id, p, MAX_FILES_PER_PARTITION_LIST);
                checks.push(Box::pin(check));
            }
        }
        let mut checks = futures_util::stream::iter(checks).buffer_unordered(UPLOAD_INFO_LISTS_AT_ONCE);
        while let Some(checked) = checks.next().await {
            checked?;
        }
        drop(checks);
        let meta = render_meta(job)?;
        let info = render_info(job)?;
        // `__info` makes the snapshot exist: it is written, and the job finished, only while the
        // job is still in UPLOAD_INFO, and a cancel waits for both (see `cancel_backup_job`).
        let _info = self.backup_info_lock.lock().await;
        if self.backup_job(job.id).await.map(|j| j.state) != Some(BackupState::UploadInfo) {
            return Err(StepError::Moved);
        }
        for (path, bytes) in [
            (layout::meta_path(&job.repo_name, &job.label), meta),
            (layout::info_path(&job.repo_name, &job.label, job.create_time_ms), info),
        ] {
            let target = repository::with_md5(&path, &repository::md5_hex(&bytes));
            store.put(&target, bytes).await.map_err(|e| StepError::Retry(format!("writing {target}: {e}")))?;
        }
        let now = crate::clock::now_ms();
        self.move_to_next(job, move |_, moved| {
            moved.finished_time_ms = Some(now);
            Ok(())
        })
        .await
    }

    /// Removes the `__info` and `__meta` a job cancelled in UPLOAD_INFO may have written (an
    /// attempt cut by a timeout, or by an FE crash before the job was journaled FINISHED), so
    /// the snapshot does not exist. The label stays the job's. A few tries; what is left is
    /// still never shown OK by this cluster's SHOW SNAPSHOT (it knows the job was cancelled).
    pub(crate) async fn remove_backup_info(&self, job: &BackupJob) {
        let state = self.state().await;
        let Ok(store) = self.store_of(&state, job) else { return };
        let dir = layout::snapshot_dir(&job.repo_name, &job.label);
        for attempt in 1..=MAX_INFO_REMOVE_ATTEMPTS {
            let mut failed = None;
            for prefix in [format!("{dir}/__info_"), format!("{dir}/__meta.")] {
                match store.list_shallow(&prefix).await {
                    Ok(listed) => {
                        for entry in listed.files {
                            if let Err(e) = store.delete(&entry.path).await {
                                failed = Some(e.to_string());
                            }
                        }
                    }
                    Err(e) => failed = Some(e.to_string()),
                }
            }
            match failed {
                None => return,
                Some(e) => {
                    tracing::warn!(job_id = job.id, attempt, error = %e, "fe: cannot remove a cancelled backup's info");
                    tokio::time::sleep(backoff(attempt)).await;
                }
            }
        }
    }
}

/// Partitions whose files UPLOAD_INFO lists at once.
const UPLOAD_INFO_LISTS_AT_ONCE: usize = 4;

/// Files a partition may hold and still be listed in one call (a list is at most
/// [`repository::MAX_LIST_ENTRIES`]); one with more (1 024 tablets of many small versions) is
/// listed a tablet at a time.
const MAX_FILES_PER_PARTITION_LIST: usize = repository::MAX_LIST_ENTRIES / 2;

/// Whether every file job `job` uploaded for partition `p` of table `table_id` is in the
/// repository (listed whole, or a tablet at a time above `max_files_per_list` files): `BAD_FILE`
/// naming the first missing one.
async fn check_partition_uploaded(
    store: &dyn RepoStore,
    job: &BackupJob,
    table_id: i64,
    p: &crate::fe::catalog::PartitionRecord,
    max_files_per_list: usize,
) -> Result<(), StepError> {
    let tablet_dir = |tablet_id| layout::tablet_dir(&job.repo_name, &job.label, job.db_id, table_id, p.id, tablet_id);
    let expected: usize = p.tablets.iter().map(|t| job.uploaded.get(&t.id).map_or(0, Vec::len)).sum();
    let dirs: Vec<String> = if expected <= max_files_per_list {
        let content = layout::content_dir(&job.repo_name, &job.label);
        vec![format!("{content}/__db_{}/__tbl_{table_id}/__part_{}/", job.db_id, p.id)]
    } else {
        p.tablets.iter().map(|t| format!("{}/", tablet_dir(t.id))).collect()
    };
    let mut listed: BTreeSet<String> = BTreeSet::new();
    for dir in &dirs {
        let entries = store.list(dir).await.map_err(|e| StepError::Retry(format!("listing {dir}: {e}")))?;
        listed.extend(entries.into_iter().map(|e| e.path));
    }
    for t in &p.tablets {
        let dir = tablet_dir(t.id);
        for file in job.uploaded.get(&t.id).into_iter().flatten() {
            let path = format!("{dir}/{file}");
            if !listed.contains(&path) {
                return Err(StepError::Fail(JobStatus::error(
                    StatusCode::BadFile,
                    format!("{path} is missing from the repository"),
                )));
            }
        }
    }
    Ok(())
}

/// The uploaded files of a tablet, checked against the snapshot's: the same names, each with
/// an md5.
fn check_uploaded(copy: &ReplicaSnapshot, files: Vec<String>) -> Result<Vec<String>, String> {
    let names: BTreeSet<&str> = files.iter().filter_map(|f| repository::split_md5(f).map(|(n, _)| n)).collect();
    let expected: BTreeSet<&str> = copy.files.iter().map(String::as_str).collect();
    if names != expected || names.len() != files.len() {
        return Err(format!(
            "the backend reported {} uploaded files that do not match the {} of the snapshot",
            files.len(),
            copy.files.len()
        ));
    }
    Ok(files)
}

fn render_meta(job: &BackupJob) -> Result<Vec<u8>, StepError> {
    serde_json::to_vec(&BackupMeta::of(job)).map_err(|e| fail(format!("cannot encode __meta: {e}")))
}

fn render_info(job: &BackupJob) -> Result<Vec<u8>, StepError> {
    serde_json::to_vec_pretty(&BackupJobInfo::of(job)).map_err(|e| fail(format!("cannot encode __info: {e}")))
}

/// The tables of a job as they are now: only the partitions it backs up, each at its visible
/// version (the version its snapshots will hold).
fn plan_tables(state: &FeState, job: &BackupJob) -> Result<Vec<TableRecord>, StepError> {
    let not_found = |m: String| StepError::Fail(JobStatus::error(StatusCode::NotFound, m));
    let db = state
        .catalog
        .database_by_id(job.db_id)
        .ok_or_else(|| not_found(format!("database {} does not exist", job.db_id)))?;
    let mut tables = Vec::with_capacity(job.objects.len());
    let mut tablets = 0usize;
    for object in &job.objects {
        let table = db
            .tables
            .get(&object.table)
            .ok_or_else(|| not_found(format!("table {} has been dropped", object.table)))?;
        let mut copy = TableRecord::clone(table);
        if !object.partitions.is_empty() {
            for p in &object.partitions {
                if !table.partitions.iter().any(|tp| &tp.name == p) {
                    return Err(not_found(format!("partition {p} of table {} has been dropped", object.table)));
                }
            }
            copy.partitions.retain(|p| object.partitions.contains(&p.name));
        }
        for p in &mut copy.partitions {
            p.recent_txns.clear();
            tablets += p.tablets.len();
        }
        tables.push(copy);
    }
    if tablets > MAX_TABLETS_PER_JOB {
        return Err(fail(format!(
            "the num involved tablets {tablets} exceeds the limit {MAX_TABLETS_PER_JOB}, which might cause the FE OOM; \
             back up fewer tables or partitions per job"
        )));
    }
    Ok(tables)
}

impl crate::fe::jobs::driver::DrivenJob for BackupJob {
    const KIND: &'static str = "backup";

    async fn load(fe: &Fe, job_id: i64) -> Option<Self> {
        fe.backup_job(job_id).await
    }

    fn is_done(&self) -> bool {
        self.state.is_done()
    }

    fn deadline_ms(&self) -> u64 {
        BackupJob::deadline_ms(self)
    }

    fn state_name(&self) -> &'static str {
        self.state.name()
    }

    fn timeout_status(&self) -> JobStatus {
        JobStatus::error(StatusCode::Timeout, "")
    }

    /// UPLOAD_INFO is cheap and idempotent: retried until the timeout, as in Doris.
    fn retries_forever(&self) -> bool {
        self.state == BackupState::UploadInfo
    }

    async fn step(&self, fe: &Fe) -> Result<(), StepError> {
        fe.backup_step(self).await
    }

    async fn cancel(fe: &Fe, job_id: i64, status: JobStatus) -> Result<(), crate::error::SqlError> {
        match fe.cancel_backup_job(job_id, status).await {
            Err(CancelError::Journal(e)) => Err(e),
            Ok(()) | Err(CancelError::AlreadyDone(_)) => Ok(()),
        }
    }

    async fn after_end(fe: &Fe, job_id: i64) {
        if let Some(job) = fe.backup_job(job_id).await {
            fe.release_backup_snapshots(&job).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let ms: Vec<u128> = (1..=8).map(|a| backoff(a).as_millis()).collect();
        assert_eq!(ms, vec![1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000]);
    }

    /// UPLOAD_INFO finds every uploaded file, listing a partition whole or, when it holds more
    /// files than one list may return, a tablet at a time; a file the store lost fails the job.
    #[tokio::test]
    async fn upload_info_lists_a_large_partition_a_tablet_at_a_time() {
        use crate::fe::catalog::{PartitionRecord, TabletRecord};
        let store = repository::open_direct("mem://upload-info-check/r", &BTreeMap::new()).expect("mem store");
        let mut job = crate::fe::jobs::backup::job::tests::job(9, 7, BackupState::UploadInfo);
        let partition = PartitionRecord {
            id: 30,
            name: "p".into(),
            range: None,
            visible_version: 2,
            visible_version_time_ms: 0,
            tablets: vec![TabletRecord { id: 41, replicas: Vec::new() }, TabletRecord { id: 42, replicas: Vec::new() }],
            recent_txns: BTreeMap::new(),
        };
        for t in [41, 42] {
            let files = vec![format!("{t}.hdr.{}", "0".repeat(32)), format!("r_0.dat.{}", "1".repeat(32))];
            for f in &files {
                let dir = layout::tablet_dir(&job.repo_name, &job.label, job.db_id, 20, 30, t);
                store.put(&format!("{dir}/{f}"), b"x".to_vec()).await.expect("put");
            }
            job.uploaded.insert(t, files);
        }
        for max_files_per_list in [100, 1] {
            check_partition_uploaded(store.as_ref(), &job, 20, &partition, max_files_per_list)
                .await
                .expect("all there");
        }
        let lost =
            format!("{}/r_0.dat.{}", layout::tablet_dir(&job.repo_name, &job.label, 7, 20, 30, 42), "1".repeat(32));
        store.delete(&lost).await.expect("delete");
        for max_files_per_list in [100, 1] {
            match check_partition_uploaded(store.as_ref(), &job, 20, &partition, max_files_per_list).await {
                Err(StepError::Fail(status)) => assert!(status.message.contains("is missing"), "{}", status.message),
                _ => panic!("a lost file must fail the job"),
            }
        }
    }

    fn view(members: &[i64], alive: &[i64]) -> ClusterView {
        ClusterView {
            members: members.iter().map(|id| (*id, format!("10.0.1.{}:9060", id - 10_000))).collect(),
            alive: alive.iter().copied().collect(),
        }
    }

    fn upload_of(tablet_id: i64, on: &[i64]) -> Queued<UploadTask> {
        let copies = on
            .iter()
            .map(|b| ReplicaSnapshot { backend_id: *b, path: format!("snapshot/{b}"), files: vec!["7.hdr".into()] })
            .collect();
        Queued::new(UploadTask { tablet_id, remote_dir: String::new(), copies }, crate::clock::monotonic())
    }

    /// Seeds 10463, 10173 and 11671: a tablet's only snapshot was on the spare backend, dropped
    /// (ALTER SYSTEM DROP BACKEND) while the backup ran. `place` left the upload queued (`Ok(None)`)
    /// at every round, and the job sat in UPLOADING, calling nobody, until its 900 s timeout.
    #[test]
    fn an_upload_whose_snapshots_are_all_on_dropped_backends_fails_the_job() {
        let uploads = Uploads { job_id: 28_750 };
        let idle = |_: i64| false;
        let unloaded = |_: i64| 0;
        let all_up = view(&[10_001, 10_002, 10_003], &[10_001, 10_002, 10_003]);
        match uploads.place(&all_up, &upload_of(20_012, &[10_004]), &idle, &unloaded) {
            Err(StepError::Fail(status)) => {
                assert_eq!(status.code, StatusCode::CommonError);
                assert!(status.message.contains("tablet 20012") && status.message.contains("10004"), "{status}");
            }
            other => panic!("the job must fail, not wait for a dropped backend: {other:?}"),
        }
        // A member that is down may come back: the upload waits for it.
        let spread = upload_of(20_008, &[10_002, 10_004]);
        assert!(matches!(uploads.place(&view(&[10_001, 10_002], &[10_001]), &spread, &idle, &unloaded), Ok(None)));
        // A copy on an alive member is used, whatever became of the others.
        let placed =
            uploads.place(&view(&[10_001, 10_002], &[10_001, 10_002]), &spread, &idle, &unloaded).expect("placed");
        assert_eq!(placed, Some((10_002, "10.0.1.2:9060".to_string())));
    }

    /// Batches fill one backend at a time: the copy on the backend with the fewest tasks in
    /// flight is taken, so a table's uploads spread over its replicas' backends.
    #[test]
    fn an_upload_goes_to_its_least_loaded_backend() {
        let uploads = Uploads { job_id: 1 };
        let idle = |_: i64| false;
        let all_up = view(&[10_001, 10_002, 10_003], &[10_001, 10_002, 10_003]);
        let task = upload_of(20_001, &[10_001, 10_002, 10_003]);
        let loaded = |b: i64| if b == 10_002 { 3 } else { 64 };
        let placed = uploads.place(&all_up, &task, &idle, &loaded).expect("placed");
        assert_eq!(placed.map(|p| p.0), Some(10_002));
        // A copy that failed before still goes last, however idle its backend.
        let mut failed = upload_of(20_001, &[10_001, 10_002, 10_003]);
        failed.failures.insert(10_002, 1);
        let placed = uploads.place(&all_up, &failed, &idle, &loaded).expect("placed");
        assert_eq!(placed.map(|p| p.0), Some(10_001));
        let busy = |b: i64| b != 10_003;
        let placed = uploads.place(&all_up, &failed, &busy, &loaded).expect("placed");
        assert_eq!(placed.map(|p| p.0), Some(10_003));
    }

    #[test]
    fn uploaded_files_must_match_the_snapshot() {
        let copy =
            ReplicaSnapshot { backend_id: 1, path: "snapshot/1.0.60".into(), files: vec!["a".into(), "7.hdr".into()] };
        let md5 = "0123456789abcdef0123456789abcdef";
        assert!(check_uploaded(&copy, vec![format!("a.{md5}"), format!("7.hdr.{md5}")]).is_ok());
        assert!(check_uploaded(&copy, vec![format!("a.{md5}")]).is_err());
        assert!(check_uploaded(&copy, vec![format!("a.{md5}"), "7.hdr".into()]).is_err());
    }
}
