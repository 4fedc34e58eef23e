//! The transfer pump: moves one file set per tablet between backends and the repository (a
//! backup's uploads, a restore's downloads). A task is one tablet (or replica); tasks bound for
//! one backend travel in batches of at most [`MAX_BATCH_TABLETS`] tablets and about
//! [`MAX_BATCH_FILES`] files, at most [`MAX_BATCHES_PER_BACKEND`] batches per backend and
//! [`MAX_BATCHES_IN_FLIGHT`] per job, so a call, a connection to the repository and the backend's
//! bookkeeping are paid per batch, not per tablet. Each task of a batch ends on its own: a batch
//! half done (one item failed, or the call cut) retries only its unfinished tasks, and the backend
//! skips the files that already made it. A batch whose backend is shown dead is abandoned at
//! once (its call is cut). A failed task waits a backoff and is tried again, where the kind places
//! it (another replica for an upload, the same one for a download), at most [`MAX_TASK_ATTEMPTS`]
//! times when the failure counts. Every [`TRANSFER_TICK_MS`] the pump asks the busy backends for
//! their file counters (SHOW's Progress). What differs between the kinds is a [`Transfer`].
//!
//! Cost: each round reads only the job's repository and the backends (never a copy of the whole
//! FE state), and a scan stops once every alive backend has its batches, so a job's FE work grows
//! linearly with its tablets.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::future::Future;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;

use crate::fe::catalog::{RepositoryKind, RepositoryRecord};
use crate::fe::jobs::driver::{MAX_TASK_ATTEMPTS, StepError, backoff, fail};
use crate::fe::jobs::runtime::{JobRuntime, TransferTotals};
use crate::fe::{Fe, FeState};
use crate::signal::Signal;

/// Batches in flight per backend per job: one runs while the next waits there, so the backend's
/// slots never run dry between batches.
pub const MAX_BATCHES_PER_BACKEND: usize = 2;
/// Batches in flight per job.
pub const MAX_BATCHES_IN_FLIGHT: usize = 64;
/// Tablets per batch: enough that a batch's call and connection cost little per tablet, few
/// enough that batches spread over backends and a cut batch redoes little.
pub const MAX_BATCH_TABLETS: usize = 64;
/// Files per batch (a batch holds at least one tablet, whatever its files).
pub const MAX_BATCH_FILES: usize = 2_048;
/// How often the pump asks busy backends for their progress.
pub const TRANSFER_TICK_MS: u64 = 1_000;

const _: () = assert!(MAX_BATCH_TABLETS <= crate::be::MAX_TRANSFER_BATCH_ITEMS);
const _: () = assert!(MAX_BATCHES_PER_BACKEND <= MAX_BATCHES_IN_FLIGHT);

/// Why one task failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TaskFailure {
    pub message: String,
    /// Whether it counts against the task's attempts (an earlier attempt still running on the
    /// backend, or a download waiting for its backend, does not).
    pub counts: bool,
    /// The repository's bytes were bad (a wrong md5): the job fails with BAD_FILE.
    pub damaged: bool,
}

impl TaskFailure {
    /// A failure that counts, of bytes that were not damaged.
    pub fn counted(message: impl Into<String>) -> TaskFailure {
        TaskFailure { message: message.into(), counts: true, damaged: false }
    }
}

/// The cluster's backends as a job driver needs them.
pub(crate) struct ClusterView {
    /// Member backends' addresses, by id.
    pub members: BTreeMap<i64, String>,
    pub alive: BTreeSet<i64>,
}

impl ClusterView {
    /// The address of an alive member backend.
    pub fn alive_addr(&self, backend_id: i64) -> Option<&String> {
        self.members.get(&backend_id).filter(|_| self.alive.contains(&backend_id))
    }
}

/// How a job reaches its repository this round.
pub(crate) struct Route {
    pub repo: RepositoryRecord,
    /// Every property, secrets included.
    pub properties: BTreeMap<String, String>,
    /// The broker to go through (`Ok("")`: none), or why it cannot be reached now.
    pub broker_addr: Result<String, String>,
}

/// A task in the pump's queue.
pub(crate) struct Queued<T> {
    pub task: T,
    pub attempts: u32,
    /// Failures per backend, so a retry can prefer another one.
    pub failures: BTreeMap<i64, u32>,
    ready_at: tokio::time::Instant,
}

impl<T> Queued<T> {
    /// A task not tried yet, ready at `ready_at`.
    pub(crate) fn new(task: T, ready_at: tokio::time::Instant) -> Queued<T> {
        Queued { task, attempts: 0, failures: BTreeMap::new(), ready_at }
    }
}

/// One kind of transfer.
pub(crate) trait Transfer {
    type Task;
    /// One task's part of a batch request, built when it starts.
    type Item;
    /// The request of one batch.
    type Batch;
    /// What a finished task gives back.
    type Output;
    /// "upload" or "download", and how its messages name the backend ("from", "on").
    const VERB: &'static str;
    const PREPOSITION: &'static str;

    fn job_id(&self) -> i64;
    fn tablet_id(task: &Self::Task) -> i64;
    /// The files a task moves (how full it makes a batch).
    fn files(&self, task: &Self::Task) -> usize;
    /// The backend UnfinishedTasks names for a task waiting in the queue.
    fn shown_backend(task: &Self::Task) -> i64;
    /// Where a task can run now (`busy` says a backend has its batches; `load` counts the tasks
    /// it has in flight): `Ok(None)` leaves it queued this round; an error fails the job.
    fn place(
        &self,
        view: &ClusterView,
        queued: &Queued<Self::Task>,
        busy: &dyn Fn(i64) -> bool,
        load: &dyn Fn(i64) -> usize,
    ) -> Result<Option<(i64, String)>, StepError>;
    fn item(&self, task: &Self::Task, backend_id: i64) -> Self::Item;
    fn batch(&self, route: &Route, broker_addr: String, items: Vec<Self::Item>) -> Self::Batch;
    /// The call of one batch: one outcome per item, in order, or the failure of the whole call.
    fn call(
        fe: &Fe,
        addr: String,
        batch: Self::Batch,
    ) -> impl Future<Output = Result<Vec<Result<Self::Output, TaskFailure>>, TaskFailure>>;
    /// The failure of a task whose backend is shown dead.
    fn backend_dead(backend_id: i64) -> TaskFailure;
    /// Checks what a finished task gave back.
    fn check(&self, task: &Self::Task, backend_id: i64, output: Self::Output) -> Result<Self::Output, TaskFailure>;
    /// The bytes a finished task moved (SHOW's Progress).
    fn bytes(output: &Self::Output) -> u64;
    /// The progress each backend starts with.
    fn begin(&self, runtime: &mut JobRuntime, queue: &[Queued<Self::Task>]);
    /// Progress when a task starts on a backend, and when it fails there.
    fn started(&self, runtime: &mut JobRuntime, backend_id: i64);
    fn failed(&self, runtime: &mut JobRuntime, backend_id: i64);
    /// The job's failure once a task has used its attempts.
    fn give_up(&self, queued: &Queued<Self::Task>, message: &str, failure: &TaskFailure) -> StepError;
    /// A backend's counters of the job's running transfers.
    fn progress(fe: &Fe, addr: String, job_id: i64) -> impl Future<Output = Option<(u64, u64)>>;
}

/// A batch in flight: its tasks, its backend, and the call's outcome per task.
type Flight<T, O> = (Vec<Queued<T>>, i64, Vec<Result<O, TaskFailure>>);

/// A batch ready to go, with its backend.
type Ready<T> = (i64, Forming<T>);

/// A batch being filled for one backend during a scan.
struct Forming<T> {
    addr: String,
    tasks: Vec<Queued<T>>,
    files: usize,
}

impl<T> Forming<T> {
    fn full(&self) -> bool {
        self.tasks.len() >= MAX_BATCH_TABLETS || self.files >= MAX_BATCH_FILES
    }
}

impl Fe {
    /// Runs every task of `tasks` to its end; what each gave back, with its task and backend, in
    /// the order they finished. Fails the job when a task uses its attempts or `place` says so.
    pub(crate) async fn pump<K: Transfer>(
        &self,
        kind: &K,
        repo_id: i64,
        tasks: Vec<K::Task>,
    ) -> Result<Vec<(K::Task, i64, K::Output)>, StepError> {
        let job_id = kind.job_id();
        let start = crate::clock::monotonic();
        let mut queue: VecDeque<Queued<K::Task>> = tasks.into_iter().map(|task| Queued::new(task, start)).collect();
        let total = queue.len();
        let mut done = Vec::with_capacity(total);
        // Batches in flight (or being filled) per backend, and their tasks.
        let mut per_backend: BTreeMap<i64, (usize, usize)> = BTreeMap::new();
        let dead_backends = Signal::new(BTreeSet::<i64>::new());
        let mut in_flight = FuturesUnordered::new();
        // Every task is unfinished from now until it is done (a failed one keeps its entry).
        let files_total = queue.iter().map(|q| kind.files(&q.task) as u64).sum();
        self.with_runtime(job_id, |r| {
            r.totals = Some(TransferTotals::new(start, total as u64, files_total));
            kind.begin(r, queue.make_contiguous());
            for queued in &queue {
                r.unfinished.entry(K::tablet_id(&queued.task)).or_insert(K::shown_backend(&queued.task));
            }
        });
        let mut next_poll = crate::clock::monotonic() + Duration::from_millis(TRANSFER_TICK_MS);
        while done.len() < total {
            let (route, view) = self.transfer_view(repo_id).await?;
            dead_backends.set(per_backend.keys().filter(|b| !view.alive.contains(b)).copied().collect());
            let batches = self.fill_batches(kind, &route, &view, &mut queue, &mut per_backend, in_flight.len())?;
            for (backend_id, forming) in batches {
                let items = forming.tasks.iter().map(|q| kind.item(&q.task, backend_id)).collect();
                let broker_addr = route.broker_addr.clone().unwrap_or_default();
                let request = kind.batch(&route, broker_addr, items);
                self.with_runtime(job_id, |r| {
                    for queued in &forming.tasks {
                        r.unfinished.insert(K::tablet_id(&queued.task), backend_id);
                        kind.started(r, backend_id);
                    }
                });
                in_flight.push(self.fly::<K>(forming.tasks, backend_id, forming.addr, request, dead_backends.clone()));
            }
            let finished = tokio::select! {
                biased;
                Some(flight) = in_flight.next(), if !in_flight.is_empty() => Some(flight),
                _ = tokio::time::sleep_until(next_poll) => None,
            };
            // Progress is asked for on its own clock: batches finishing one after another must
            // not starve it.
            if crate::clock::monotonic() >= next_poll {
                self.poll_progress::<K>(job_id, &view, &per_backend).await;
                next_poll = crate::clock::monotonic() + Duration::from_millis(TRANSFER_TICK_MS);
            }
            let Some((batch, backend_id, outcomes)) = finished else {
                continue;
            };
            assert_eq!(batch.len(), outcomes.len(), "one outcome per task of a batch");
            if let Some((batches, tasks)) = per_backend.get_mut(&backend_id) {
                *batches -= 1;
                *tasks -= batch.len();
                if *batches == 0 {
                    per_backend.remove(&backend_id);
                }
            }
            let batch_len = batch.len();
            let failed = outcomes.iter().filter(|o| o.is_err()).count();
            if failed > 0 && failed < batch_len {
                palo_buggify::job_tasks(job_id, || {
                    format!("a batch of {batch_len} {}s on backend {backend_id} half done: {failed} to retry", K::VERB)
                });
            }
            for (mut queued, outcome) in batch.into_iter().zip(outcomes) {
                let tablet_id = K::tablet_id(&queued.task);
                match outcome.and_then(|output| kind.check(&queued.task, backend_id, output)) {
                    Ok(output) => {
                        let (files, bytes) = (kind.files(&queued.task) as u64, K::bytes(&output));
                        self.with_runtime(job_id, |r| {
                            r.unfinished.remove(&tablet_id);
                            r.progress.entry(backend_id).or_default().tablets_done += 1;
                            if let Some(totals) = &mut r.totals {
                                totals.finished(files, bytes);
                            }
                        });
                        done.push((queued.task, backend_id, output));
                    }
                    Err(failure) => {
                        let message = format!(
                            "{} of tablet {tablet_id} {} backend {backend_id}: {}",
                            K::VERB,
                            K::PREPOSITION,
                            failure.message
                        );
                        tracing::info!(job_id, "fe: {message}");
                        self.note_task_error(job_id, &message);
                        self.with_runtime(job_id, |r| kind.failed(r, backend_id));
                        if failure.counts {
                            queued.attempts += 1;
                            if queued.attempts >= MAX_TASK_ATTEMPTS {
                                return Err(kind.give_up(&queued, &message, &failure));
                            }
                        }
                        *queued.failures.entry(backend_id).or_default() += 1;
                        queued.ready_at = crate::clock::monotonic() + backoff(queued.attempts.max(1));
                        queue.push_back(queued);
                    }
                }
            }
        }
        palo_buggify::job_tasks(job_id, || {
            let backends: BTreeSet<i64> = done.iter().map(|d| d.1).collect();
            format!("{total} {}s done on {} backend(s)", K::VERB, backends.len())
        });
        Ok(done)
    }

    /// Takes the ready tasks that have somewhere to run off the queue, in batches per backend;
    /// `per_backend` counts the new batches and their tasks. The scan ends when every alive
    /// backend has its batches: it must not walk the whole queue after each finished batch (a
    /// job of 10^5 tablets would be quadratic). With none alive it walks it, so a task whose
    /// backends were all dropped fails the job (in `place`) instead of waiting for its timeout.
    fn fill_batches<K: Transfer>(
        &self,
        kind: &K,
        route: &Route,
        view: &ClusterView,
        queue: &mut VecDeque<Queued<K::Task>>,
        per_backend: &mut BTreeMap<i64, (usize, usize)>,
        batches_in_flight: usize,
    ) -> Result<Vec<Ready<K::Task>>, StepError> {
        let mut forming: BTreeMap<i64, Forming<K::Task>> = BTreeMap::new();
        let mut ready = Vec::new();
        if let (Err(e), false) = (&route.broker_addr, queue.is_empty()) {
            let message = format!("repository {}: {e}", route.repo.name);
            self.with_runtime(kind.job_id(), |r| r.note_error(message));
            return Ok(ready);
        }
        let now = crate::clock::monotonic();
        let mut i = 0;
        loop {
            // A backend takes more while its batch being filled has room (a full one is ready,
            // not forming) or it may start another.
            let job_full = batches_in_flight + ready.len() + forming.len() >= MAX_BATCHES_IN_FLIGHT;
            let busy = |b: i64| {
                let batches = per_backend.get(&b).map_or(0, |(n, _)| *n);
                !forming.contains_key(&b) && (job_full || batches >= MAX_BATCHES_PER_BACKEND)
            };
            if i >= queue.len() || !(view.alive.is_empty() || view.alive.iter().any(|b| !busy(*b))) {
                break;
            }
            let load = |b: i64| per_backend.get(&b).map_or(0, |(_, tasks)| *tasks);
            let placed = kind.place(view, &queue[i], &busy, &load)?;
            let (Some((backend_id, addr)), true) = (placed, queue[i].ready_at <= now) else {
                i += 1;
                continue;
            };
            assert!(!busy(backend_id), "a task placed on backend {backend_id}, which has no room");
            let batch = forming.entry(backend_id).or_insert_with(|| {
                per_backend.entry(backend_id).or_default().0 += 1;
                Forming { addr, tasks: Vec::new(), files: 0 }
            });
            let queued = queue.remove(i).expect("a task at a scanned index");
            per_backend.entry(backend_id).or_default().1 += 1;
            batch.files += kind.files(&queued.task);
            batch.tasks.push(queued);
            if batch.full() {
                let full = forming.remove(&backend_id).expect("the batch just filled");
                ready.push((backend_id, full));
            }
        }
        ready.extend(forming);
        Ok(ready)
    }

    /// One batch's call, cut when its backend is shown dead: one outcome per task.
    async fn fly<K: Transfer>(
        &self,
        batch: Vec<Queued<K::Task>>,
        backend_id: i64,
        addr: String,
        request: K::Batch,
        dead_backends: Signal<BTreeSet<i64>>,
    ) -> Flight<K::Task, K::Output> {
        let result = tokio::select! {
            biased;
            r = K::call(self, addr, request) => r,
            _ = dead_backends.wait_for(|dead| dead.contains(&backend_id)) => Err(K::backend_dead(backend_id)),
        };
        let outcomes = match result {
            Ok(outcomes) if outcomes.len() == batch.len() => outcomes,
            Ok(outcomes) => {
                let failure = TaskFailure::counted(format!(
                    "backend {backend_id} answered {} results for a batch of {}",
                    outcomes.len(),
                    batch.len()
                ));
                batch.iter().map(|_| Err(failure.clone())).collect()
            }
            Err(failure) => batch.iter().map(|_| Err(failure.clone())).collect(),
        };
        (batch, backend_id, outcomes)
    }

    /// Asks each backend with tasks in flight for its counters (shown as Progress).
    async fn poll_progress<K: Transfer>(
        &self,
        job_id: i64,
        view: &ClusterView,
        per_backend: &BTreeMap<i64, (usize, usize)>,
    ) {
        let calls = per_backend
            .keys()
            .filter_map(|be| view.alive_addr(*be).map(|addr| (*be, addr.clone())))
            .map(|(be, addr)| async move { (be, K::progress(self, addr, job_id).await) });
        for (be, counts) in futures_util::future::join_all(calls).await {
            if let Some((files_total, files_done)) = counts {
                self.with_runtime(job_id, |r| {
                    let p = r.progress.entry(be).or_default();
                    p.files_total = files_total;
                    p.files_done = files_done;
                });
            }
        }
    }

    /// The backends and which are alive, read without copying the whole state (the pump asks
    /// after every finished task).
    pub(crate) async fn cluster_view(&self) -> ClusterView {
        let members = member_addrs(&self.durable.lock().await.state);
        self.view_of(members)
    }

    /// Which of `members` heartbeats show alive.
    fn view_of(&self, members: BTreeMap<i64, String>) -> ClusterView {
        let health = self.health_snapshot();
        let alive = members.keys().filter(|id| health.backends.get(id).is_some_and(|h| h.alive)).copied().collect();
        ClusterView { members, alive }
    }

    /// How to reach the repository and the backends this round, read under one hold of the
    /// state's lock and without copying the state.
    async fn transfer_view(&self, repo_id: i64) -> Result<(Route, ClusterView), StepError> {
        let durable = self.durable.lock().await;
        let route = self.route_in(&durable.state, repo_id)?;
        let members = member_addrs(&durable.state);
        drop(durable);
        Ok((route, self.view_of(members)))
    }

    fn route_in(&self, state: &FeState, repo_id: i64) -> Result<Route, StepError> {
        let repo = repository_of(state, repo_id)?;
        let broker_addr = match &repo.kind {
            RepositoryKind::S3 => Ok(String::new()),
            RepositoryKind::Broker { broker } => self.broker_addr(state, broker),
        };
        let properties = self.repository_properties(&repo);
        Ok(Route { repo, properties, broker_addr })
    }
}

/// Every member backend's address, by id.
fn member_addrs(state: &FeState) -> BTreeMap<i64, String> {
    state.membership.backends.values().map(|b| (b.id, b.addr())).collect()
}

/// A job's repository; the job fails once it is gone (dropped while the job ran).
pub(crate) fn repository_of(state: &FeState, repo_id: i64) -> Result<RepositoryRecord, StepError> {
    state
        .catalog
        .repositories
        .values()
        .find(|r| r.id == repo_id)
        .cloned()
        .ok_or_else(|| fail(format!("failed to get repository: {repo_id}")))
}
